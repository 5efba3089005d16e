/* hugepage_demo: the same memory-heavy workload on base pages and on huge pages.
 *
 * The workload (run_workload) takes a buffer and does two things a TLB hates:
 *  1. a dependent pointer chase: one node in every 4 KiB of the buffer, linked
 *     in one random cycle, each hop a load whose address is the previous
 *     load's value (so nothing overlaps: every TLB miss is paid in full);
 *  2. random read-modify-writes of 8-byte words over the whole buffer.
 * It runs once per backing: base pages (mmap + MADV_NOHUGEPAGE), 2 MiB pages
 * via hp_map(HP_2MB), and 1 GiB pages via hp_map(HP_1GB | HP_STRICT) when the
 * 1 GiB pool has room. For each it prints the times, how much of the buffer
 * really sits on huge pages according to /proc/self/smaps (Private_Hugetlb +
 * Shared_Hugetlb + AnonHugePages of the buffer's mappings), and the speedup
 * over base pages. The checksum must be equal on every line: same work.
 *
 * Usage: hugepage_demo [--size MiB] [--hops M] [--ops M] [--seed N] [--no-1g]
 *   --size  buffer size in MiB (default 2048)
 *   --hops  pointer-chase hops, in millions (default 20)
 *   --ops   random read-modify-writes, in millions (default 20) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MADV_NOHUGEPAGE, getopt_long */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <hugepage.h>

#define NODE_STRIDE 4096u /* one chase node per base page */
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

struct params {
    size_t len;      /* buffer bytes */
    uint64_t hops;   /* pointer-chase hops */
    uint64_t ops;    /* random read-modify-writes */
    uint64_t seed;
};

struct result {
    double setup_s, chase_s, rmw_s;
    uint64_t checksum;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A uniform index below n from 64 random bits (multiply-high, no modulo bias
 * worth mentioning, no division). */
static uint64_t below(uint64_t x, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)x * n) >> 64);
}

/* Where node i lives (byte offset): in base page i, at a cache line that
 * varies with i, so the nodes do not all compete for the same cache sets. A
 * node holds the offset of the next one, so the checksum does not depend on
 * where the buffer was mapped. */
static uint64_t node(uint64_t i)
{
    return i * NODE_STRIDE + (((i * 0x9E3779B97F4A7C15ull) >> 58) % (NODE_STRIDE / 64)) * 64;
}

/* The workload: works on any buffer of p->len bytes (zeroed or not). */
static int run_workload(void *mem, const struct params *p, struct result *r)
{
    char *buf = mem;
    uint64_t nodes = p->len / NODE_STRIDE, words = p->len / sizeof(uint64_t);
    uint64_t seed = p->seed;
    uint32_t *perm = malloc(nodes * sizeof *perm);
    if (!perm)
        return -1;

    /* Setup: touch every page (this is where page faults are paid), then
     * link the nodes in one random cycle (Sattolo's shuffle). */
    double t0 = now();
    memset(buf, 0, p->len);
    for (uint64_t i = 0; i < nodes; i++)
        perm[i] = (uint32_t)i;
    for (uint64_t i = nodes - 1; i > 0; i--) {
        uint64_t j = below(splitmix(&seed), i);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (uint64_t i = 0; i < nodes; i++)
        *(uint64_t *)(buf + node(i)) = node(perm[i]);
    free(perm);
    double t1 = now();

    /* 1. Dependent pointer chase. */
    uint64_t at = node(0);
    for (uint64_t h = 0; h < p->hops; h++)
        at = *(const uint64_t *)(buf + at);
    uint64_t sum = at;
    double t2 = now();

    /* 2. Random read-modify-write over every word of the buffer. */
    uint64_t *w = mem;
    for (uint64_t i = 0; i < p->ops; i++) {
        uint64_t x = splitmix(&seed), k = below(x, words);
        sum ^= w[k];
        w[k] = w[k] * 31 + x;
    }
    double t3 = now();

    r->setup_s = t1 - t0;
    r->chase_s = t2 - t1;
    r->rmw_s = t3 - t2;
    r->checksum = sum;
    return 0;
}

/* Bytes of [p, p+len) on huge pages per /proc/self/smaps: hugetlb pages faulted
 * in plus anonymous THPs, over every mapping that overlaps the buffer (a VMA
 * lying partly outside is counted in proportion, which is exact for hugetlb
 * and close enough for THP). */
static size_t huge_bytes(const void *p, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    uintptr_t lo = (uintptr_t)p, hi = lo + len, start = 0, end = 0;
    char line[512];
    double total = 0;
    while (fgets(line, sizeof line, f)) {
        uintptr_t a, b;
        unsigned long kb;
        char key[64];
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &a, &b) == 2) { /* a VMA header */
            start = a, end = b;
            continue;
        }
        if (end <= lo || start >= hi)
            continue;
        if (sscanf(line, "%63[^:]: %lu kB", key, &kb) != 2)
            continue;
        if (strcmp(key, "Private_Hugetlb") && strcmp(key, "Shared_Hugetlb") &&
            strcmp(key, "AnonHugePages"))
            continue;
        uintptr_t s = start > lo ? start : lo, e = end < hi ? end : hi;
        total += (double)kb * 1024.0 * (double)(e - s) / (double)(end - start);
    }
    fclose(f);
    return (size_t)total;
}

struct backing {
    const char *name;
    void *(*get)(size_t len, size_t *maplen, const char **why);
    void (*put)(void *p, size_t maplen);
};

static void *get_base(size_t len, size_t *maplen, const char **why)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        *why = strerror(errno);
        return NULL;
    }
    madvise(p, len, MADV_NOHUGEPAGE); /* base pages even where THP is "always" */
    *maplen = len;
    return p;
}

static void put_base(void *p, size_t maplen)
{
    munmap(p, maplen);
}

static void *get_2mb(size_t len, size_t *maplen, const char **why)
{
    void *p = hp_map(len, HP_2MB);
    if (!p)
        *why = strerror(errno);
    *maplen = len;
    return p;
}

/* 1 GiB pages only when the pool can hold the whole buffer: a partial run
 * would measure something else. */
static void *get_1gb(size_t len, size_t *maplen, const char **why)
{
    static char msg[128];
    struct hp_pool pool;
    size_t need = (len + GiB - 1) / GiB;
    if (hp_pool(GiB, &pool) != 0) {
        *why = "this kernel has no 1 GiB pages";
        return NULL;
    }
    unsigned long avail = pool.free > pool.reserved ? pool.free - pool.reserved : 0;
    if (avail < need) {
        snprintf(msg, sizeof msg, "needs %zu free 1 GiB pages, the pool has %lu", need, avail);
        *why = msg;
        return NULL;
    }
    void *p = hp_map(len, HP_1GB | HP_STRICT);
    if (!p)
        *why = strerror(errno);
    *maplen = len;
    return p;
}

static void put_hp(void *p, size_t maplen)
{
    hp_unmap(p, maplen);
}

/* The heap: what a program gets from plain malloc under `hugepage run`. */
static void *get_heap(size_t len, size_t *maplen, const char **why)
{
    void *p = hp_malloc(len);
    if (!p)
        *why = strerror(errno);
    *maplen = len;
    return p;
}

static void put_heap(void *p, size_t maplen)
{
    (void)maplen;
    hp_free(p);
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--size MiB] [--hops M] [--ops M] [--seed N] [--no-1g]\n", argv0);
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t size_mib = 2048, hops_m = 20, ops_m = 20, seed = 42;
    int no_1g = 0;
    static const struct option opts[] = {
        {"size", required_argument, NULL, 's'}, {"hops", required_argument, NULL, 'c'},
        {"ops", required_argument, NULL, 'o'},  {"seed", required_argument, NULL, 'r'},
        {"no-1g", no_argument, NULL, 'n'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 's': bad = parse_u64(optarg, &size_mib) || size_mib < 4 || size_mib > (1u << 20); break;
        case 'c': bad = parse_u64(optarg, &hops_m); break;
        case 'o': bad = parse_u64(optarg, &ops_m); break;
        case 'r': bad = parse_u64(optarg, &seed); break;
        case 'n': no_1g = 1; break;
        case 'h': usage(argv[0]); return 0;
        default: usage(argv[0]); return 2;
        }
        if (bad) {
            fprintf(stderr, "%s: bad value '%s' for --%s\n", argv[0], optarg,
                    c == 's' ? "size (4 .. 1048576 MiB)" : c == 'c' ? "hops" : c == 'o' ? "ops" : "seed");
            return 2;
        }
    }
    if (optind != argc) {
        usage(argv[0]);
        return 2;
    }
    struct params p = {.len = (size_t)size_mib * MiB, .hops = hops_m * 1000000u,
                       .ops = ops_m * 1000000u, .seed = seed};

    struct backing backings[] = {
        {"base pages (4 KiB)", get_base, put_base},
        {"heap (hp_malloc)", get_heap, put_heap},
        {"2 MiB pages (hp_map)", get_2mb, put_hp},
        {"1 GiB pages (hp_map)", get_1gb, put_hp},
    };
    int nbackings = no_1g ? 3 : 4;

    printf("hugepage demo: %" PRIu64 " MiB buffer, %" PRIu64 "M dependent hops, %" PRIu64
           "M random read-modify-writes, seed %" PRIu64 "\n",
           size_mib, hops_m, ops_m, seed);
    printf("%-22s %8s %8s %8s %8s %10s %8s  %s\n", "backing", "setup", "chase", "rmw", "total",
           "on huge", "speedup", "checksum");

    double base_total = 0;
    uint64_t base_sum = 0;
    int status = 0;
    for (int i = 0; i < nbackings; i++) {
        const struct backing *b = &backings[i];
        const char *why = "unknown error";
        size_t maplen = 0;
        void *buf = b->get(p.len, &maplen, &why);
        if (!buf) {
            printf("%-22s skipped: %s\n", b->name, why);
            if (i == 0)
                return 1;
            continue;
        }
        struct result r;
        if (run_workload(buf, &p, &r) != 0) {
            fprintf(stderr, "out of memory for the workload's index\n");
            return 1;
        }
        size_t huge = huge_bytes(buf, p.len);
        b->put(buf, maplen);

        double total = r.chase_s + r.rmw_s;
        if (i == 0) {
            base_total = total;
            base_sum = r.checksum;
        } else if (r.checksum != base_sum) {
            status = 1; /* not the same work: a bug, say so */
        }
        printf("%-22s %7.2fs %7.2fs %7.2fs %7.2fs %9.1f%% %7.2fx  %016" PRIx64 "%s\n", b->name,
               r.setup_s, r.chase_s, r.rmw_s, total, 100.0 * (double)huge / (double)p.len,
               total > 0 ? base_total / total : 0.0, r.checksum,
               r.checksum != base_sum ? "  MISMATCH" : "");
        fflush(stdout);
    }
    printf("(setup = faulting the buffer in and linking the chase; speedup = base total / total;\n"
           " 'on huge' = Private_Hugetlb + Shared_Hugetlb + AnonHugePages of the buffer in "
           "/proc/self/smaps)\n");
    return status;
}
