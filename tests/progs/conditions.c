/* conditions.c: the heap under real machine conditions, driven by the shell
 * tests in tests/reliability/. One program, one mode per condition:
 *
 *   conditions fill MIB [--exhaust-pool]
 *       MIB of small objects plus large ones, every object filled with a
 *       pattern and verified; prints from /proc/self/smaps what backs the heap
 *       ("heap hugetlb_kb=.. thp_kb=.. base_kb=.. rss_kb=..") and the heap's
 *       own counters ("stats mapped_hugetlb=.. mapped_thp=.. mapped_base=..").
 *       --exhaust-pool first holds every free 2 MiB hugetlb page (hp_map
 *       HP_STRICT), so the heap finds the pool empty.
 *   conditions shrink MIB SECONDS [--fork-read | --fork-write]
 *       allocates MIB, prints "ready ..." and waits for a line on stdin (the
 *       test shrinks the pool meanwhile), then for SECONDS allocates, frees,
 *       reallocs and verifies; every 0.5 s it forks a child which verifies
 *       every object it inherited and, with --fork-write, rewrites them all
 *       (copy-on-write of the heap's pages), allocates, frees, and leaves
 *       through exit(), whose atexit handler frees more; then the parent
 *       rewrites its objects.
 *   conditions oom [--libc] [MIB]
 *       sets RLIMIT_AS to the current size + MIB (default 256), allocates until
 *       the heap says no, checks each function's failure (NULL, errno ENOMEM,
 *       realloc's block untouched), frees half and allocates again. --libc
 *       does it through malloc & co (for LD_PRELOAD of libhugepage.so) and
 *       says which library answers malloc.
 *   conditions forkthread SECONDS
 *       worker threads allocate and free while one of them (not main) forks;
 *       the child allocates and frees in a thread of its own and in its only
 *       thread, then exit()s, running an atexit handler that frees the
 *       parent's objects it inherited; the parent checks every child.
 *   conditions forkstop ROUNDS
 *       a victim thread allocates and frees in bursts (its thread cache fills
 *       and flushes, slabs change lists); each round stops it with a signal
 *       wherever it is, often halfway through a malloc or free, and forks.
 *       The child allocates bursts of every cached class in a new thread and
 *       in its main thread, each object filled and verified, and checks both
 *       heaps: a heap left half-updated by the victim must not be reused.
 *
 * Every broken check prints one line "conditions: FAILED: ..." and exits 1; a
 * mode that cannot run here prints "SKIP: ..." and exits 77. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hugepage.h"
#include "internal.h"
#include "sysinfo.h"

#include "heap_vma.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define MAXOBJ (1u << 20)

static const char *prog_mode = "";

static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "conditions: %s: FAILED: ", prog_mode);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(1);
}

/* ---- objects with a pattern ------------------------------------------------- */

/* The allocator under test: hp_* by default, the malloc family with --libc. */
struct api {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*aligned)(size_t, size_t);
    void (*free)(void *);
    size_t (*usable)(void *);
};
static size_t hp_usable(void *p) { return hp_usable_size(p); }
static const struct api hp_api = {hp_malloc, hp_calloc, hp_realloc, hp_aligned_alloc,
                                  hp_free, hp_usable};
static const struct api libc_api = {malloc, calloc, realloc, aligned_alloc, free,
                                    malloc_usable_size};
static const struct api *A = &hp_api;

struct obj {
    unsigned char *p;
    size_t size;
    uint64_t key;
};
static struct obj objs[MAXOBJ];
static size_t nobj;

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The pattern: 64-bit words key + i * odd constant, the tail a prefix of the
 * next word. The key changes when an object is rewritten. */
static uint64_t word_at(uint64_t key, size_t i)
{
    return key + i * 0x9E3779B97F4A7C15ull;
}

static void fill(struct obj *o, uint64_t key)
{
    o->key = key;
    size_t i = 0;
    for (; i + 8 <= o->size; i += 8) {
        uint64_t w = word_at(key, i / 8);
        memcpy(o->p + i, &w, 8);
    }
    uint64_t w = word_at(key, i / 8);
    memcpy(o->p + i, &w, o->size - i);
}

static void verify(const struct obj *o, const char *when)
{
    size_t i = 0;
    for (; i + 8 <= o->size; i += 8) {
        uint64_t w = word_at(o->key, i / 8);
        if (memcmp(o->p + i, &w, 8) != 0)
            fail("%s: object %p of %zu bytes corrupt at offset %zu", when, (void *)o->p,
                 o->size, i);
    }
    uint64_t w = word_at(o->key, i / 8);
    if (memcmp(o->p + i, &w, o->size - i) != 0)
        fail("%s: object %p of %zu bytes corrupt in its tail", when, (void *)o->p, o->size);
}

static void verify_all(const char *when)
{
    for (size_t i = 0; i < nobj; i++)
        if (objs[i].p)
            verify(&objs[i], when);
}

/* Allocates and fills one object; false (errno set) when the heap said no. */
static bool obj_add(size_t size, uint64_t key)
{
    if (nobj == MAXOBJ)
        fail("more than %u objects", MAXOBJ);
    unsigned char *p = A->malloc(size);
    if (!p)
        return false;
    objs[nobj] = (struct obj){p, size, 0};
    fill(&objs[nobj++], key);
    return true;
}

static void obj_drop(struct obj *o)
{
    verify(o, "before free");
    A->free(o->p);
    o->p = NULL;
}

static void free_all(void)
{
    for (size_t i = 0; i < nobj; i++)
        if (objs[i].p)
            obj_drop(&objs[i]);
    nobj = 0;
}

/* Mostly small (16 B .. 1 KiB), one in 64 between 64 KiB and 1.5 MiB, one in
 * 512 a large object of 4 MiB .. 12 MiB. */
static size_t pick_size(uint64_t *rng)
{
    uint64_t x = next(rng);
    if (x % 512 == 0)
        return (4 << 20) + (size_t)(x >> 16) % (8 << 20);
    if (x % 64 == 1)
        return (64 << 10) + (size_t)(x >> 16) % (1472 << 10);
    return 16 + (size_t)(x >> 16) % 1009;
}

/* Allocates objects (only small ones, or of pick_size's mix) until mib MiB
 * are live; fails if the heap says no. */
static void fill_heap(size_t mib, bool small, uint64_t *rng)
{
    size_t total = 0;
    while (total < mib << 20) {
        size_t n = small ? 16 + (size_t)next(rng) % 1009 : pick_size(rng);
        if (!obj_add(n, next(rng)))
            fail("allocating %zu bytes after %zu MiB: %s", n, total >> 20, strerror(errno));
        total += n;
    }
}

/* ---- what backs the heap, from smaps ---------------------------------------- */

struct backing {
    size_t hugetlb, thp, base, rss; /* bytes resident */
    size_t private_hugetlb;         /* of hugetlb: pages this process maps alone */
};

/* Adds what backs a VMA of the heap (hp_heap_vma) to the totals. */
static int add_heap_vma(const struct hpi_vma *v, void *arg)
{
    struct backing *b = arg;
    if (!hp_heap_vma(v))
        return 0;
    size_t hugetlb = v->private_hugetlb + v->shared_hugetlb;
    b->hugetlb += hugetlb;
    b->private_hugetlb += v->private_hugetlb;
    b->thp += v->anon_huge;
    b->base += v->rss - (v->anon_huge < v->rss ? v->anon_huge : v->rss);
    b->rss += v->rss + hugetlb;
    return 0;
}

static struct backing heap_backing(void)
{
    struct backing b = {0};
    int err = hpi_sysinfo_each_vma(0, add_heap_vma, &b);
    if (err)
        fail("reading /proc/self/smaps: %s", strerror(err));
    return b;
}

static void print_backing(const char *label)
{
    struct backing b = heap_backing();
    struct hp_stats st;
    hp_stats(&st);
    printf("%s hugetlb_kb=%zu thp_kb=%zu base_kb=%zu rss_kb=%zu\n", label, b.hugetlb >> 10,
           b.thp >> 10, b.base >> 10, b.rss >> 10);
    printf("stats mapped_hugetlb=%zu mapped_thp=%zu mapped_base=%zu fallback_thp=%zu "
           "fallback_base=%zu\n",
           st.mapped_hugetlb, st.mapped_thp, st.mapped_base, st.fallback_thp, st.fallback_base);
    fflush(stdout);
}

/* ---- fill -------------------------------------------------------------------- */

static int mode_fill(size_t mib, bool exhaust)
{
    int held = 0;
    if (exhaust) {
        while (hp_map(HPI_2MB, HP_2MB | HP_STRICT))
            held++;
        printf("holding %d hugetlb pages: the pool is empty for the heap\n", held);
    }
    uint64_t rng = 0x1234567887654321ull;
    fill_heap(mib, true, &rng);
    /* A few large objects of each kind: a run of blocks, and one mapped directly. */
    for (size_t n = 3 << 20; n <= (96u << 20); n *= 4)
        if (!obj_add(n, next(&rng)))
            fail("allocating a large object of %zu bytes: %s", n, strerror(errno));
    verify_all("after filling");
    printf("objects=%zu\n", nobj);
    print_backing("heap");
    free_all();
    hp_trim();
    return 0;
}

/* ---- shrink ---------------------------------------------------------------- */

static void *atexit_obj;

/* The child leaves through exit(): this runs then, on the child's heap. */
static void child_atexit(void)
{
    for (size_t i = 0; i < nobj; i += 2)
        if (objs[i].p)
            obj_drop(&objs[i]);
    A->free(atexit_obj);
    void *p = A->malloc(100);
    if (!p)
        fail("child: malloc in an atexit handler: %s", strerror(errno));
    A->free(p);
}

static bool in_child;

static void child_fault(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    struct hpi_vma vma;
    char line[400];
    int err = hpi_sysinfo_vma_at(0, (uintptr_t)si->si_addr, &vma);
    int n = snprintf(line, sizeof line,
                     "conditions: %s: signal %d at %p (%s, page size %zu KiB)\n",
                     in_child ? "child" : "parent", sig, si->si_addr, err ? "no VMA" : vma.name,
                     err ? 0 : vma.kernel_page_size >> 10);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(128 + sig);
}

static void catch_faults(void)
{
    struct sigaction sa = {.sa_sigaction = child_fault, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
}

/* One step of churn: replace a random object, verify one, realloc one. */
static void churn(uint64_t *rng)
{
    struct obj *o = &objs[next(rng) % nobj];
    if (o->p)
        obj_drop(o);
    size_t n = pick_size(rng);
    o->p = A->malloc(n);
    if (!o->p)
        fail("allocating %zu bytes: %s", n, strerror(errno));
    o->size = n;
    fill(o, next(rng));
    verify(&objs[next(rng) % nobj], "churn");
    struct obj *r = &objs[next(rng) % nobj];
    if (r->p) {
        size_t m = pick_size(rng), kept = m < r->size ? m : r->size;
        unsigned char *q = A->realloc(r->p, m);
        if (!q)
            fail("realloc to %zu bytes: %s", m, strerror(errno));
        struct obj check = {q, kept, r->key};
        verify(&check, "after realloc");
        r->p = q;
        r->size = m;
        fill(r, next(rng));
    }
}

static void wait_child(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("%s %s %d", what, WIFEXITED(status) ? "exited with" : "was killed by signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static bool readonly_child;
static size_t readonly_private;

/* A read-only child, after the library's own work at exit (a destructor with
 * a priority runs after those without): none of its inherited hugetlb pages
 * may have been copied for it, which only a write does. */
__attribute__((destructor(101))) static void readonly_child_exit(void)
{
    if (!readonly_child)
        return;
    size_t now = heap_backing().private_hugetlb;
    if (now > readonly_private) {
        fprintf(stderr, "conditions: read-only child: %zu KiB of hugetlb heap copied at exit\n",
                (now - readonly_private) >> 10);
        _exit(3);
    }
}

static _Noreturn void shrink_child(uint64_t seed, bool write)
{
    in_child = true;
    uint64_t rng = seed | 1;
    if (!write) {
        verify_all("child, inherited, read only");
        readonly_private = heap_backing().private_hugetlb;
        readonly_child = true;
        exit(0);
    }
    /* Rewrite everything inherited: each page written is copied for the child. */
    for (size_t i = 0; i < nobj; i++)
        if (objs[i].p) {
            verify(&objs[i], "child, inherited");
            fill(&objs[i], next(&rng));
        }
    for (int i = 0; i < 2000; i++)
        churn(&rng);
    verify_all("child, at the end");
    atexit_obj = A->malloc(1 << 20);
    atexit(child_atexit);
    exit(0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Small objects allocated before the pool shrinks (so on its pages), freed
 * right before each fork and allocated again after it: every child starts
 * with them in its thread cache. A child that only reads must not write them,
 * not even at exit (a copied hugetlb page needs a free pool page). */
#define SHRINK_CACHED 48
static void *shrink_cached[SHRINK_CACHED];

static int mode_shrink(size_t mib, double seconds, int forks)
{
    catch_faults();
    uint64_t rng = 0x9999888877776666ull;
    fill_heap(mib, false, &rng);
    for (int i = 0; i < SHRINK_CACHED; i++)
        if (!(shrink_cached[i] = A->malloc(64)))
            fail("allocating 64 bytes: %s", strerror(errno));
    struct backing b = heap_backing();
    printf("ready objects=%zu hugetlb_kb=%zu thp_kb=%zu\n", nobj, b.hugetlb >> 10, b.thp >> 10);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        fail("stdin closed before the go-ahead");
    verify_all("after the pool shrank");
    long steps = 0, nforks = 0;
    double t0 = now(), last_fork = t0;
    while (now() - t0 < seconds) {
        for (int i = 0; i < 200; i++, steps++)
            churn(&rng);
        if (forks && now() - last_fork >= 0.5) {
            last_fork = now();
            fflush(stdout);
            for (int i = 0; i < SHRINK_CACHED; i++)
                A->free(shrink_cached[i]);
            pid_t pid = fork();
            if (pid < 0)
                fail("fork: %s", strerror(errno));
            if (pid == 0)
                shrink_child(next(&rng), forks == 2);
            wait_child(pid, "the child");
            nforks++;
            for (int i = 0; i < SHRINK_CACHED; i++)
                if (!(shrink_cached[i] = A->malloc(64)))
                    fail("allocating 64 bytes: %s", strerror(errno));
            /* The parent writes its (formerly shared) pages after the child. */
            for (size_t i = 0; i < nobj; i++)
                if (objs[i].p)
                    fill(&objs[i], next(&rng));
        }
    }
    verify_all("at the end");
    b = heap_backing();
    printf("done steps=%ld forks=%ld hugetlb_kb=%zu thp_kb=%zu base_kb=%zu\n", steps, nforks,
           b.hugetlb >> 10, b.thp >> 10, b.base >> 10);
    free_all();
    for (int i = 0; i < SHRINK_CACHED; i++)
        A->free(shrink_cached[i]);
    return 0;
}

/* ---- oom ------------------------------------------------------------------- */

/* Expects a failed call: NULL (or -1) with errno ENOMEM. */
static void expect_enomem(const void *p, const char *what)
{
    int e = errno;
    if (p)
        fail("%s succeeded at the address-space limit", what);
    if (e != ENOMEM)
        fail("%s failed with errno %d (%s), want ENOMEM", what, e, strerror(e));
}

static size_t vm_size(void)
{
    char buf[4096];
    size_t len;
    if (hpi_os_read_file("/proc/self/status", buf, sizeof buf, &len) != 0)
        fail("cannot read /proc/self/status");
    const char *v = strstr(buf, "VmSize:");
    if (!v)
        fail("no VmSize in /proc/self/status");
    return strtoull(v + 7, NULL, 10) << 10;
}

/* Fails unless every large kind of allocation fails cleanly now. */
static void expect_full(bool libc, struct obj *victim)
{
    const size_t big = 64u << 20;
    errno = 0;
    void *p = A->malloc(big);
    expect_enomem(p, "malloc(64 MiB)");
    errno = 0;
    p = A->calloc(1, big);
    expect_enomem(p, "calloc(1, 64 MiB)");
    errno = 0;
    p = A->aligned(2 << 20, big);
    expect_enomem(p, "aligned_alloc(2 MiB, 64 MiB)");
    errno = 0;
    p = A->calloc(SIZE_MAX / 2, 4);
    expect_enomem(p, "calloc overflowing size_t");

    /* realloc's failure leaves the block where it was, whole and usable. */
    size_t usable = A->usable(victim->p);
    errno = 0;
    p = A->realloc(victim->p, big);
    expect_enomem(p, "realloc to 64 MiB");
    verify(victim, "after a failed realloc");
    if (A->usable(victim->p) != usable)
        fail("a failed realloc changed the block's usable size");
    fill(victim, victim->key + 1);

    if (!libc) {
        errno = 0;
        p = hp_map(big, 0);
        expect_enomem(p, "hp_map(64 MiB)");
        errno = 0;
        p = hp_map(big, HP_STRICT);
        expect_enomem(p, "hp_map(64 MiB, HP_STRICT)");
        /* hp_memfd maps nothing: it still works, and mapping it is what fails. */
        int fd = hp_memfd("conditions", 0, HP_MEMFD_CLOEXEC);
        if (fd >= 0) {
            if (ftruncate(fd, (off_t)big) == 0) {
                p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (p != MAP_FAILED)
                    fail("mmap of a 64 MiB hp_memfd succeeded at the limit");
            }
            close(fd);
        } else if (errno != ENOSYS && errno != ENOMEM) {
            fail("hp_memfd failed with errno %d (%s)", errno, strerror(errno));
        }
    }
}

static int mode_oom(bool libc, size_t mib)
{
    if (UNDER_ASAN) {
        printf("SKIP: AddressSanitizer reserves terabytes of address space and allocates "
               "beside the heap: an RLIMIT_AS test cannot run under it\n");
        return 77;
    }
    if (libc) {
        A = &libc_api;
        Dl_info info;
        void *sym = dlsym(RTLD_DEFAULT, "malloc");
        printf("malloc from %s\n", sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?");
    }
    /* Whatever stdio and the loader allocate lazily, allocate it before the limit. */
    printf("oom: limit at the current size + %zu MiB\n", mib);
    fflush(stdout);
    struct rlimit rl = {vm_size() + (mib << 20), RLIM_INFINITY};
    rl.rlim_max = rl.rlim_cur;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        fail("setrlimit(RLIMIT_AS): %s", strerror(errno));

    /* 1. Small objects (16 B .. 4 KiB) until the heap says no. */
    uint64_t rng = 0x5555aaaa5555aaaaull;
    size_t bytes = 0;
    for (;;) {
        size_t n = 16 + (size_t)next(&rng) % 4081;
        errno = 0;
        if (!obj_add(n, next(&rng))) {
            expect_enomem(NULL, "small malloc");
            break;
        }
        bytes += n;
    }
    size_t full = nobj;
    printf("oom: %zu small objects (%zu MiB) before the first NULL\n", full, bytes >> 20);
    /* Other sizes too, until each one fails. */
    for (size_t n = 16; n <= 4096; n *= 2) {
        errno = 0;
        while (obj_add(n, next(&rng)))
            ;
        expect_enomem(NULL, "small malloc after the first NULL");
    }
    expect_full(libc, &objs[full / 2]);
    verify_all("at the limit");

    /* 2. Free the older half: its blocks empty and go back; then the heap
     *    serves every kind of request again. */
    for (size_t i = 0; i < nobj / 2; i++)
        obj_drop(&objs[i]);
    if (!libc)
        hp_trim();
    else
        malloc_trim(0);
    void *big = A->malloc(32u << 20), *zero = A->calloc(1, 8u << 20),
         *al = A->aligned(2u << 20, 4u << 20);
    if (!big || !zero || !al)
        fail("after freeing half: malloc %p calloc %p aligned_alloc %p (%s)", big, zero, al,
             strerror(errno));
    for (size_t i = 0; i < (8u << 20); i += 4096)
        if (((unsigned char *)zero)[i])
            fail("calloc memory not zero after the limit was hit");
    if ((uintptr_t)al % (2u << 20))
        fail("aligned_alloc(2 MiB) returned %p", al);
    memset(big, 1, 32u << 20);
    struct obj *r = &objs[nobj - 1];
    unsigned char *q = A->realloc(r->p, 16u << 20);
    if (!q)
        fail("realloc to 16 MiB after freeing half: %s", strerror(errno));
    struct obj kept = {q, r->size, r->key};
    verify(&kept, "realloc after freeing half");
    r->p = q;
    r->size = 16u << 20;
    fill(r, next(&rng));
    size_t again = 0;
    for (; again < full / 4; again++)
        if (!obj_add(16 + (size_t)next(&rng) % 4081, next(&rng)))
            fail("small malloc %zu after freeing half: %s", again, strerror(errno));
    verify_all("after allocating again");
    printf("oom: freed %zu, then 32 MiB + 8 MiB + 4 MiB + a 16 MiB realloc + %zu small "
           "objects succeeded\n",
           full / 2, again);
    A->free(big);
    A->free(zero);
    A->free(al);
    free_all();
    printf("oom: OK\n");
    return 0;
}

/* ---- forkthread ---------------------------------------------------------------- */

#define NWORKERS 6
#define SLOTS 256

static _Atomic(struct obj *) slots[SLOTS];
static atomic_bool stop;
static atomic_int nforks_done;
static double fork_until;

static struct obj *fresh(uint64_t *rng)
{
    struct obj *o = A->malloc(sizeof *o);
    if (!o)
        fail("malloc: %s", strerror(errno));
    o->size = (size_t)next(rng) % 8 == 0 ? pick_size(rng) : 1 + (size_t)next(rng) % 512;
    o->p = A->malloc(o->size);
    if (!o->p)
        fail("malloc(%zu): %s", o->size, strerror(errno));
    fill(o, next(rng));
    return o;
}

static void drop(struct obj *o)
{
    if (!o)
        return;
    verify(o, "before a cross-thread free");
    A->free(o->p);
    A->free(o);
}

/* Swaps objects through the shared slots for ops steps (0: until stop). */
static void swap_loop(uint64_t *rng, long ops)
{
    for (long i = 0; ops == 0 || i < ops; i++) {
        if (ops == 0 && atomic_load_explicit(&stop, memory_order_relaxed))
            break;
        drop(atomic_exchange(&slots[next(rng) % SLOTS], fresh(rng)));
    }
}

static void *child_thread(void *arg)
{
    swap_loop(arg, 3000);
    return NULL;
}

/* The child frees what the parent's threads left in the slots, on exit. */
static void child_drain(void)
{
    for (size_t i = 0; i < SLOTS; i++)
        drop(atomic_exchange(&slots[i], NULL));
    if (hpi_heap_check() != 0)
        fail("child: heap check failed in an atexit handler");
}

static _Noreturn void forkthread_child(uint64_t seed)
{
    in_child = true;
    uint64_t rng = seed | 1, rng2 = seed * 3 | 1;
    /* Not under ASan: its own allocator, which pthread_create calls, can be
     * left locked by the parent's other threads and hang the child
     * (llvm/llvm-project#63224). Our heap is exercised all the same. */
    pthread_t t;
    if (!UNDER_ASAN && pthread_create(&t, NULL, child_thread, &rng2) != 0)
        fail("child: pthread_create");
    swap_loop(&rng, 3000);
    if (!UNDER_ASAN)
        pthread_join(t, NULL);
    atexit(child_drain);
    exit(0);
}

static void *worker(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t rng = 0xabcdef12345ull * (id + 1) | 1;
    if (id != 0) {
        swap_loop(&rng, 0);
        return NULL;
    }
    /* Worker 0 forks (a thread other than main) while the others allocate. */
    while (now() < fork_until) {
        swap_loop(&rng, 500);
        pid_t pid = fork();
        if (pid < 0)
            fail("fork: %s", strerror(errno));
        if (pid == 0)
            forkthread_child(next(&rng));
        wait_child(pid, "the child forked from a worker thread");
        atomic_fetch_add(&nforks_done, 1);
    }
    return NULL;
}

static int mode_forkthread(double seconds)
{
    catch_faults();
    fork_until = now() + seconds;
    pthread_t t[NWORKERS];
    for (uintptr_t i = 0; i < NWORKERS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            fail("pthread_create");
    pthread_join(t[0], NULL);
    atomic_store(&stop, true);
    for (int i = 1; i < NWORKERS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < SLOTS; i++)
        drop(atomic_exchange(&slots[i], NULL));
    if (hpi_heap_check() != 0)
        fail("heap check failed at the end");
    struct backing b = heap_backing();
    printf("forkthread: %d forks from a worker thread, all children exited 0; heap "
           "hugetlb_kb=%zu thp_kb=%zu\n",
           atomic_load(&nforks_done), b.hugetlb >> 10, b.thp >> 10);
    return 0;
}

/* ---- forkstop ---------------------------------------------------------------- */

#define BURST 200

static atomic_bool victim_parked, victim_stop, watchdog_stop;
static atomic_bool release_due; /* the victim is parked and owed one release */
static _Atomic double fork_started; /* now() when fork was called; 0: not in fork */
static int release_pipe[2];

/* Parks the victim wherever the signal found it, until the round is over (a
 * byte on the pipe). Only atomics and read(): async-signal-safe. */
static void park(int sig)
{
    (void)sig;
    char byte;
    atomic_store(&victim_parked, true);
    while (read(release_pipe[0], &byte, 1) < 0 && errno == EINTR)
        ;
    atomic_store(&victim_parked, false);
}

/* Bursts of one class at a time: BURST objects out, then all back, so the
 * thread cache overflows and flushes and slabs fill and empty. */
static void *victim(void *arg)
{
    uint64_t rng = (uintptr_t)arg | 1;
    void *held[BURST];
    while (!atomic_load_explicit(&victim_stop, memory_order_relaxed)) {
        size_t size = 1 + (size_t)next(&rng) % 1024;
        for (int i = 0; i < BURST; i++)
            if (!(held[i] = A->malloc(size)))
                fail("victim: malloc(%zu): %s", size, strerror(errno));
        for (int i = 0; i < BURST; i++)
            A->free(held[i]);
    }
    return NULL;
}

/* BURST objects of each size class up to 1 KiB, filled, then verified (two
 * objects handed out twice would overwrite each other's pattern), then freed;
 * then the calling thread's heap is checked. */
static void child_bursts(uint64_t seed)
{
    uint64_t rng = seed | 1;
    struct obj mine[BURST];
    for (size_t size = 16; size <= 1024; size += 16) {
        for (int i = 0; i < BURST; i++) {
            mine[i].size = size;
            if (!(mine[i].p = A->malloc(size)))
                fail("child: malloc(%zu): %s", size, strerror(errno));
            fill(&mine[i], next(&rng));
        }
        for (int i = 0; i < BURST; i++) {
            verify(&mine[i], "in a forked child");
            A->free(mine[i].p);
        }
    }
    if (hpi_heap_check() != 0)
        fail("child: heap check failed");
}

static void *child_burst_thread(void *arg)
{
    child_bursts((uintptr_t)arg);
    return NULL;
}

/* Releases the victim exactly once per stop. */
static void release_victim(void)
{
    if (atomic_exchange(&release_due, false) && write(release_pipe[1], "", 1) != 1)
        fail("write: %s", strerror(errno));
}

/* The signal may stop the victim while it holds one of the heap's locks, which
 * fork's handlers then wait for: when fork has not returned after 50 ms, the
 * victim is let go so that it releases the lock and fork completes (that round
 * then forks with the victim running). */
static void *watchdog(void *arg)
{
    (void)arg;
    while (!atomic_load(&watchdog_stop)) {
        double t = atomic_load(&fork_started);
        if (t != 0 && now() - t > 0.05)
            release_victim();
        usleep(5000);
    }
    return NULL;
}

static int mode_forkstop(size_t rounds)
{
    catch_faults();
    if (pipe(release_pipe) != 0)
        fail("pipe: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = park};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t v, w;
    if (pthread_create(&v, NULL, victim, (void *)(uintptr_t)0x5eed) != 0 ||
        pthread_create(&w, NULL, watchdog, NULL) != 0)
        fail("pthread_create");
    size_t stopped = 0;
    for (size_t r = 0; r < rounds; r++) {
        usleep(200 + (useconds_t)(r % 7) * 150);
        pthread_kill(v, SIGUSR1);
        while (!atomic_load(&victim_parked))
            ;
        atomic_store(&release_due, true);
        atomic_store(&fork_started, now());
        pid_t pid = fork();
        if (pid < 0)
            fail("fork: %s", strerror(errno));
        if (pid == 0) {
            in_child = true;
            pthread_t t;
            /* Not under ASan: pthread_create in the child can hang on the
             * sanitizer's own allocator lock (see forkthread_child). */
            if (!UNDER_ASAN) {
                if (pthread_create(&t, NULL, child_burst_thread, (void *)(uintptr_t)(r + 1)) != 0)
                    fail("child: pthread_create");
                pthread_join(t, NULL);
            }
            child_bursts(r + 1000);
            _exit(0);
        }
        atomic_store(&fork_started, 0.0);
        if (atomic_load(&release_due))
            stopped++; /* fork returned with the victim still stopped */
        wait_child(pid, "a child forked while the victim was stopped");
        release_victim();
        while (atomic_load(&victim_parked))
            ;
    }
    atomic_store(&victim_stop, true);
    atomic_store(&watchdog_stop, true);
    pthread_join(v, NULL);
    pthread_join(w, NULL);
    printf("forkstop: %zu forks, %zu of them with the victim thread stopped by a signal; "
           "all children exited 0\n", rounds, stopped);
    if (stopped < rounds / 2)
        fail("only %zu of %zu forks happened with the victim stopped", stopped, rounds);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

static size_t num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "conditions: not a number: %s\n", s);
        exit(2);
    }
    return (size_t)v;
}

static bool has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        goto usage;
    prog_mode = argv[1];
    if (strcmp(argv[1], "fill") == 0 && argc >= 3)
        return mode_fill(num(argv[2]), has_flag(argc, argv, "--exhaust-pool"));
    if (strcmp(argv[1], "shrink") == 0 && argc >= 4)
        return mode_shrink(num(argv[2]), (double)num(argv[3]),
                           has_flag(argc, argv, "--fork-write")  ? 2
                           : has_flag(argc, argv, "--fork-read") ? 1
                                                                 : 0);
    if (strcmp(argv[1], "oom") == 0) {
        size_t mib = 256;
        for (int i = 2; i < argc; i++)
            if (argv[i][0] != '-')
                mib = num(argv[i]);
        return mode_oom(has_flag(argc, argv, "--libc"), mib);
    }
    if (strcmp(argv[1], "forkthread") == 0 && argc >= 3)
        return mode_forkthread((double)num(argv[2]));
    if (strcmp(argv[1], "forkstop") == 0 && argc >= 3)
        return mode_forkstop(num(argv[2]));
usage:
    fprintf(stderr, "usage: conditions fill MIB [--exhaust-pool] | shrink MIB SECONDS "
                    "[--fork-read|--fork-write] "
                    "| oom [--libc] [MIB] | forkthread SECONDS | forkstop ROUNDS\n");
    return 2;
}
