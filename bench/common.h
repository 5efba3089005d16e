/* common.h: what every benchmark workload shares -- argument parsing, a clock,
 * a fast random number generator, the 1 GiB-page reference buffer, and the two
 * machine-readable lines the runner (scripts/bench.sh) parses:
 *
 *   coverage rss_kb=N anon_huge_kb=N hugetlb_kb=N total_kb=N huge_pct=P hwm_kb=N peak_kb=N
 *   result metric=NAME unit=s|ops/s|kB better=lower|higher value=V
 *
 * Workloads use plain malloc/free only (never an allocator's own API), so the
 * same binary runs under every LD_PRELOADed allocator. This header is included
 * by exactly one .c file per program, so its functions are static.
 *
 * Measuring huge pages: hugetlb memory is NOT part of Rss in /proc/self/smaps;
 * it is reported per mapping as Private_Hugetlb/Shared_Hugetlb. THP memory is
 * part of Rss and reported as AnonHugePages. So a process's resident memory is
 * Rss + hugetlb, and the part on huge pages is AnonHugePages + hugetlb.
 * smaps is read with open/read into a static buffer: the measurement itself
 * must not call the allocator under test. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

#define BENCH_GIB (1024ull * 1024 * 1024)
/* Exit status telling the runner "this configuration cannot run here" (e.g. no
 * 1 GiB page could be had), as opposed to a failure (1). */
#define BENCH_EXIT_UNAVAILABLE 3

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* xorshift64*: a few instructions per number, so the generator never shows up
 * in the profile next to the memory access it chooses. */
struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) without a division: the high half of a 64x64 multiply. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Parses "512M", "4G", "64k", "1000000" (binary suffixes); exits on garbage. */
static inline uint64_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        goto bad;
    switch (*end) {
    case 'k': case 'K': v *= 1024.0; end++; break;
    case 'm': case 'M': v *= 1024.0 * 1024; end++; break;
    case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end += (end[0] == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end == '\0')
        return (uint64_t)v;
bad:
    fprintf(stderr, "bad size '%s' (e.g. 256M, 4G, 100000)\n", s);
    exit(2);
}

/* Options shared by every workload; each takes the ones it needs:
 *   -s SIZE   memory the workload spreads over (big buffers, heap total)
 *   -n COUNT  operations in the timed phase
 *   -t SEC    how long to keep running (mem_release)
 *   -1        take the big buffer from one explicit 1 GiB-page mapping */
struct opts {
    uint64_t size;
    uint64_t count;
    double secs;
    int use_1g;
};

static inline struct opts parse_opts(int argc, char **argv, struct opts defaults)
{
    struct opts o = defaults;
    int c;
    while ((c = getopt(argc, argv, "s:n:t:1")) != -1) {
        switch (c) {
        case 's': o.size = parse_size(optarg); break;
        case 'n': o.count = parse_size(optarg); break;
        case 't': o.secs = atof(optarg); break;
        case '1': o.use_1g = 1; break;
        default:
            fprintf(stderr, "usage: %s [-s SIZE] [-n COUNT] [-t SECONDS] [-1]\n", argv[0]);
            exit(2);
        }
    }
    return o;
}

/* The big buffer: malloc, or (with -1) one MAP_HUGETLB|MAP_HUGE_1GB mapping,
 * the practical lower bound of address-translation cost. Without MAP_NORESERVE
 * the kernel reserves the pages at mmap time, so a short pool shows up here as
 * a failed mmap and never as SIGBUS later. */
static inline size_t round_1g(size_t len)
{
    return (len + BENCH_GIB - 1) & ~(size_t)(BENCH_GIB - 1);
}

static inline void *big_alloc(size_t len, int use_1g)
{
    if (!use_1g) {
        void *p = malloc(len);
        if (!p)
            die("malloc (big buffer)");
        return p;
    }
    void *p = mmap(NULL, round_1g(len), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_1GB, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "1 GiB pages not available: mmap(MAP_HUGE_1GB, %zu): %s\n",
                round_1g(len), strerror(errno));
        exit(BENCH_EXIT_UNAVAILABLE);
    }
    return p;
}

static inline void big_free(void *p, size_t len, int use_1g)
{
    if (use_1g)
        munmap(p, round_1g(len));
    else
        free(p);
}

/* ---- /proc/self/smaps --------------------------------------------------- */

struct coverage {
    uint64_t rss_kb;       /* Rss: base pages and THP, not hugetlb */
    uint64_t anon_huge_kb; /* AnonHugePages: the THP part of Rss */
    uint64_t hugetlb_kb;   /* Private_Hugetlb + Shared_Hugetlb */
    uint64_t hwm_kb;       /* VmHWM: peak Rss (without hugetlb) */
};

/* smaps can be megabytes for a fragmented heap; read it in chunks and carry a
 * partial line over, so the buffer stays static and small. */
static char smaps_buf[1 << 16];

static inline void add_field(struct coverage *c, const char *line)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        { "Rss:", offsetof(struct coverage, rss_kb) },
        { "AnonHugePages:", offsetof(struct coverage, anon_huge_kb) },
        { "Private_Hugetlb:", offsetof(struct coverage, hugetlb_kb) },
        { "Shared_Hugetlb:", offsetof(struct coverage, hugetlb_kb) },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t n = strlen(fields[i].name);
        if (strncmp(line, fields[i].name, n) == 0) {
            *(uint64_t *)((char *)c + fields[i].off) += strtoull(line + n, NULL, 10);
            return;
        }
    }
}

static inline uint64_t status_kb(const char *field)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strstr(buf, field);
    return p ? strtoull(p + strlen(field), NULL, 10) : 0;
}

static inline struct coverage read_coverage(void)
{
    struct coverage c = { 0 };
    int fd = open("/proc/self/smaps", O_RDONLY);
    if (fd < 0)
        die("open /proc/self/smaps");
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, smaps_buf + have, sizeof smaps_buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        smaps_buf[have] = '\0';
        char *line = smaps_buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
            add_field(&c, line);
            line = nl + 1;
        }
        have = (size_t)(smaps_buf + have - line);
        memmove(smaps_buf, line, have);
    }
    close(fd);
    c.hwm_kb = status_kb("VmHWM:");
    return c;
}

/* Resident memory now, huge or not: Rss + hugetlb. */
static inline uint64_t resident_kb(void)
{
    struct coverage c = read_coverage();
    return c.rss_kb + c.hugetlb_kb;
}

/* Prints the coverage line; call it at the workload's peak, before freeing.
 * peak_kb = VmHWM + hugetlb at this moment (VmHWM does not count hugetlb). */
static inline struct coverage print_coverage(void)
{
    struct coverage c = read_coverage();
    uint64_t total = c.rss_kb + c.hugetlb_kb;
    double pct = total ? 100.0 * (double)(c.anon_huge_kb + c.hugetlb_kb) / (double)total : 0.0;
    printf("coverage rss_kb=%llu anon_huge_kb=%llu hugetlb_kb=%llu total_kb=%llu huge_pct=%.1f "
           "hwm_kb=%llu peak_kb=%llu\n",
           (unsigned long long)c.rss_kb, (unsigned long long)c.anon_huge_kb,
           (unsigned long long)c.hugetlb_kb, (unsigned long long)total, pct,
           (unsigned long long)c.hwm_kb, (unsigned long long)(c.hwm_kb + c.hugetlb_kb));
    fflush(stdout);
    return c;
}

/* The figure of merit. better: "lower" for seconds and kB, "higher" for ops/s. */
static inline void print_result(const char *metric, const char *unit, const char *better, double value)
{
    printf("result metric=%s unit=%s better=%s value=%.6g\n", metric, unit, better, value);
    fflush(stdout);
}

/* Extra facts worth keeping in the raw log (not compared by the runner). */
#define print_info(...)                                                                    \
    do {                                                                                   \
        printf("info " __VA_ARGS__);                                                       \
        putchar('\n');                                                                     \
        fflush(stdout);                                                                    \
    } while (0)

/* Keeps the compiler from deleting a computation whose result is unused. */
static inline void consume(uint64_t v)
{
    __asm__ volatile("" : : "r"(v) : "memory");
}

#endif
