/* stress.c: multithreaded stress of the hp_malloc family, driven by
 * tests/stress/test_stress.sh (mimalloc's test-stress.c in spirit: not a
 * benchmark; the ops/s it prints is only a sign of life).
 *
 *   stress [threads [seconds [max_size [seed]]]]     (0 or absent: the default)
 *   defaults: 4 x cores threads (at least 8), 20 s, 4 MiB, seed 42
 *   HP_STRESS_FORK=0 in the environment: no forks (see test_stress.sh)
 *
 * Every object carries a pattern derived from its address and size, checked
 * before it is freed and, for the preserved prefix, after each realloc. Objects
 * travel between threads through a shared array of slots (atomic exchange), so
 * most frees come from a thread other than the allocating one. The run has three
 * phases sharing the time: steady workers while the main thread forks now and
 * then (the child allocates, frees and frees the parent's objects it inherited),
 * then thread churn (short-lived workers exit while others hold their objects),
 * then the end: everything freed, hp_trim(), and resident memory (smaps Rss +
 * Private_Hugetlb) must be back within 64 MiB of the start and the heap's
 * counters at zero. Any broken check prints one line and exits 1. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hugepage.h"
#include "internal.h"
#include "sysinfo.h"

#define NLOCAL 128         /* objects each worker keeps to itself */
#define NSHARED 512        /* slots every worker swaps objects through */
#define CHURN_OPS 2000     /* operations of a short-lived worker (on average) */
#define CHILD_OPS 5000     /* operations of a forked child */
#define RESIDENT_SLACK (64 * HPI_MiB)

/* An object and what it was asked to be. The descriptor is itself allocated
 * with hp_malloc, so it travels and is freed cross-thread like the object. */
struct obj {
    unsigned char *p;
    size_t size;  /* bytes requested */
    size_t align; /* requested alignment; 0 for malloc/calloc */
};

struct worker {
    pthread_t tid;
    uint64_t rng;
    long max_ops; /* 0: until stop */
    long ops;
    struct obj *local[NLOCAL];
};

static _Atomic(struct obj *) shared[NSHARED];
static atomic_bool stop;
static atomic_long total_ops;
static size_t max_size = 4 * HPI_MiB;

static _Noreturn __attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "stress: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    _exit(1);
}

/* xorshift64*: fast, and good enough to pick sizes and slots. */
static uint64_t next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* splitmix64's finaliser: the pattern key of an object at address a of size n. */
static uint64_t key_of(const void *a, size_t n)
{
    uint64_t z = (uint64_t)(uintptr_t)a ^ ((uint64_t)n << 40) ^ 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The pattern is a sequence of 64-bit words key + i * odd constant; a tail
 * shorter than a word holds the first bytes of the next word. */
static uint64_t word_at(uint64_t key, size_t i)
{
    return key + i * 0x9E3779B97F4A7C15ull;
}

static void fill(unsigned char *p, size_t n, uint64_t key)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = word_at(key, i / 8);
        memcpy(p + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = word_at(key, i / 8);
        memcpy(p + i, &w, n - i);
    }
}

/* Offset of the first byte of p[0..n) that differs from the pattern, or n. */
static size_t first_bad(const unsigned char *p, size_t n, uint64_t key)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = word_at(key, i / 8);
        if (memcmp(p + i, &w, 8) != 0)
            break;
    }
    if (i < n) {
        uint64_t w = word_at(key, i / 8);
        unsigned char b[8];
        memcpy(b, &w, 8);
        for (; i < n; i++)
            if (p[i] != b[i % 8])
                return i;
    }
    return n;
}

static void verify(const struct obj *o, size_t n, const char *when)
{
    size_t bad = first_bad(o->p, n, key_of(o->p, o->size));
    if (bad < n)
        fail("%s: object %p of %zu bytes corrupt at offset %zu", when, (void *)o->p, o->size, bad);
}

/* Mostly under 1 KiB (geometric-ish, so tiny sizes are common), some up to
 * 64 KiB, a few up to 1 MiB and past the small/large boundary, rarely max. */
static size_t pick_size(uint64_t *rng)
{
    uint64_t r = next(rng) % 1000, x = next(rng);
    size_t n;
    if (r < 850)
        n = 1 + x % ((size_t)1 << (x >> 32) % 11);
    else if (r < 980)
        n = 1 + x % (64 * HPI_KiB);
    else if (r < 997)
        n = 1 + x % HPI_MiB;
    else
        n = 1 + x % max_size;
    return n < max_size ? n : max_size;
}

/* Alignment for hp_aligned_alloc: usually up to 4 KiB, now and then up to 1 MiB. */
static size_t pick_align(uint64_t *rng)
{
    uint64_t x = next(rng);
    unsigned shift = (x & 7) ? (x >> 8) % 13 : (x >> 8) % 21;
    return (size_t)1 << shift;
}

static void check_fresh(const struct obj *o, bool zeroed)
{
    size_t usable = hp_usable_size(o->p);
    if (usable < o->size)
        fail("usable size %zu < requested %zu (align %zu) at %p", usable, o->size, o->align,
             (void *)o->p);
    /* malloc's promise: aligned for any type that fits. */
    size_t want = o->align ? o->align : o->size >= 16 ? 16 : o->size >= 8 ? 8 : 1;
    if ((uintptr_t)o->p % want)
        fail("%p (%zu bytes) not aligned to %zu", (void *)o->p, o->size, want);
    if (zeroed)
        for (size_t i = 0; i < o->size; i++)
            if (o->p[i])
                fail("calloc memory %p of %zu bytes not zero at offset %zu", (void *)o->p,
                     o->size, i);
}

static struct obj *obj_new(uint64_t *rng)
{
    struct obj *o = hp_malloc(sizeof *o);
    if (!o)
        fail("hp_malloc(%zu) failed: %s", sizeof *o, strerror(errno));
    o->size = pick_size(rng);
    o->align = 0;
    uint64_t kind = next(rng) % 10;
    if (kind < 7) {
        o->p = hp_malloc(o->size);
    } else if (kind < 8) {
        o->p = hp_calloc(1, o->size);
    } else {
        o->align = pick_align(rng);
        o->p = hp_aligned_alloc(o->align, o->size);
    }
    if (!o->p)
        fail("allocating %zu bytes (align %zu) failed: %s", o->size, o->align, strerror(errno));
    check_fresh(o, kind == 7);
    fill(o->p, o->size, key_of(o->p, o->size));
    return o;
}

static void obj_free(struct obj *o)
{
    if (!o)
        return;
    verify(o, o->size, "before free");
    hp_free(o->p);
    hp_free(o);
}

/* A realloc chain: each step keeps the prefix, checked, then refills. */
static void obj_realloc_chain(struct obj *o, uint64_t *rng)
{
    unsigned steps = 1 + next(rng) % 4;
    for (unsigned i = 0; i < steps; i++) {
        size_t old = o->size, n = pick_size(rng);
        uint64_t key = key_of(o->p, old);
        unsigned char *q = hp_realloc(o->p, n);
        if (!q)
            fail("hp_realloc(%p, %zu) failed: %s", (void *)o->p, n, strerror(errno));
        size_t kept = old < n ? old : n, bad = first_bad(q, kept, key);
        if (bad < kept)
            fail("realloc %zu -> %zu lost the contents at offset %zu", old, n, bad);
        o->p = q;
        o->size = n;
        o->align = 0;
        check_fresh(o, false);
        fill(o->p, o->size, key_of(o->p, o->size));
    }
}

/* Put o in a random shared slot and free what was there (most likely an
 * object of another thread, possibly one that has exited). */
static void swap_shared(struct obj *o, uint64_t *rng)
{
    size_t j = next(rng) % NSHARED;
    obj_free(atomic_exchange_explicit(&shared[j], o, memory_order_acq_rel));
}

static void *work(void *arg)
{
    struct worker *w = arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed) &&
           (w->max_ops == 0 || w->ops < w->max_ops)) {
        uint64_t r = next(&w->rng) % 100;
        struct obj **slot = &w->local[next(&w->rng) % NLOCAL];
        if (r < 50) {
            if (*slot) {
                obj_free(*slot);
                *slot = NULL;
            } else {
                *slot = obj_new(&w->rng);
            }
        } else if (r < 65) {
            if (!*slot)
                *slot = obj_new(&w->rng);
            obj_realloc_chain(*slot, &w->rng);
        } else {
            swap_shared(obj_new(&w->rng), &w->rng);
        }
        w->ops++;
    }
    /* Leave: local objects go to the shared slots, so threads still running
     * (or the final drain) free them after this thread is gone. */
    for (size_t i = 0; i < NLOCAL; i++)
        if (w->local[i])
            swap_shared(w->local[i], &w->rng);
    atomic_fetch_add(&total_ops, w->ops);
    return NULL;
}

static void start(struct worker *w, uint64_t seed, long max_ops)
{
    memset(w, 0, sizeof *w);
    w->rng = seed | 1;
    w->max_ops = max_ops;
    int err = pthread_create(&w->tid, NULL, work, w);
    if (err)
        fail("pthread_create: %s", strerror(err));
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) == EINTR) {
    }
}

/* A fault in the child: say where, and what the kernel maps there, so a
 * failure report names the page (e.g. a hugetlb copy-on-write that failed). */
static void child_fault(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    struct hpi_vma vma;
    char line[512];
    int err = hpi_sysinfo_vma_at(0, (uintptr_t)si->si_addr, &vma);
    struct hp_pool pool = {0};
    hpi_sysinfo_pool(0, -1, &pool);
    int n = snprintf(line, sizeof line,
                     "stress: child: signal %d (code %d) at %p: %s, page size %zu KiB, %s; "
                     "default pool: %lu free, %lu reserved\n",
                     sig, si->si_code, si->si_addr, err ? "no VMA" : vma.name,
                     err ? 0 : vma.kernel_page_size >> 10, err ? "" : vma.perms, pool.free,
                     pool.reserved);
    if (n > 0)
        (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    _exit(128 + sig);
}

/* The child of a fork taken while other threads allocate: its heap must work,
 * including frees of objects the parent's threads allocated. */
static _Noreturn void child_main(uint64_t seed)
{
    static struct worker w;
    struct sigaction sa = {.sa_sigaction = child_fault, .sa_flags = SA_SIGINFO};
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    w.rng = seed | 1;
    w.max_ops = CHILD_OPS;
    work(&w);
    for (size_t j = 0; j < NSHARED; j++)
        obj_free(atomic_exchange(&shared[j], NULL));
    if (hpi_heap_check() != 0)
        fail("child: heap check failed after fork");
    _exit(0);
}

static void fork_once(uint64_t seed)
{
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0)
        child_main(seed);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("forked child %s %d", WIFEXITED(status) ? "exited with" : "killed by signal",
             WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static int add_resident(const struct hpi_vma *v, void *arg)
{
    *(size_t *)arg += v->rss + v->private_hugetlb;
    return 0;
}

static size_t resident(void)
{
    size_t total = 0;
    int err = hpi_sysinfo_each_vma(0, add_resident, &total);
    if (err)
        fail("reading /proc/self/smaps: %s", strerror(err));
    return total;
}

static size_t held(const struct hp_stats *st)
{
    return st->mapped_hugetlb + st->mapped_thp + st->mapped_base;
}

static size_t arg_size(char **argv, int argc, int i, size_t dflt)
{
    if (i >= argc)
        return dflt;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(argv[i], &end, 0);
    if (errno || *end || end == argv[i]) {
        fprintf(stderr, "usage: stress [threads [seconds [max_size [seed]]]]\n");
        exit(2);
    }
    return v ? (size_t)v : dflt;
}

int main(int argc, char **argv)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nthreads = arg_size(argv, argc, 1, cores * 4 > 8 ? (size_t)cores * 4 : 8);
    double seconds = (double)arg_size(argv, argc, 2, 20);
    max_size = arg_size(argv, argc, 3, 4 * HPI_MiB);
    uint64_t seed = arg_size(argv, argc, 4, 42);
    printf("stress: %zu threads, %.0f s, sizes 1..%zu, seed %" PRIu64 "\n", nthreads, seconds,
           max_size, seed);
    fflush(stdout);

    size_t res_start = resident();
    struct worker *ws = calloc(nthreads, sizeof *ws);
    if (!ws)
        fail("calloc");
    double t0 = now();

    /* Phase 1 (60% of the time): steady workers; the main thread forks. */
    for (size_t i = 0; i < nthreads; i++)
        start(&ws[i], key_of(NULL, seed * 1000 + i), 0);
    const char *fork_env = getenv("HP_STRESS_FORK");
    bool forks = !fork_env || strcmp(fork_env, "0") != 0;
    int nforks = 0;
    struct hp_stats st, peak = {0};
    for (double end = t0 + seconds * 0.6; now() < end;) {
        nap(seconds * 0.1);
        /* How much the heap holds for how much is in use, for the report. */
        hp_stats(&st);
        if (held(&st) > held(&peak))
            peak = st;
        if (forks)
            fork_once(key_of(NULL, seed + 7777 + (uint64_t)nforks++));
    }
    atomic_store(&stop, true);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(ws[i].tid, NULL);
    atomic_store(&stop, false);

    /* Phase 2: thread churn. Each round's short-lived workers exit at
     * different moments while the others, and the next rounds, free the
     * objects they left in the shared slots. */
    int rounds = 0;
    for (double end = t0 + seconds; now() < end; rounds++) {
        for (size_t i = 0; i < nthreads; i++)
            start(&ws[i], key_of(NULL, seed * 1000 + 500 + (uint64_t)rounds * nthreads + i),
                  CHURN_OPS / 2 + (long)(i * CHURN_OPS / nthreads));
        for (size_t i = 0; i < nthreads; i++)
            pthread_join(ws[i].tid, NULL);
    }
    double elapsed = now() - t0;

    /* The end: free everything, give memory back, compare with the start. */
    for (size_t j = 0; j < NSHARED; j++)
        obj_free(atomic_exchange(&shared[j], NULL));
    if (hpi_heap_check() != 0)
        fail("heap check failed after everything was freed");
    free(ws);
    hp_trim();
    size_t res_end = resident();
    hp_stats(&st);
    long ops = atomic_load(&total_ops);
    printf("stress: %ld ops in %.1f s: %.0f ops/s; %d forks, %d churn rounds\n", ops, elapsed,
           (double)ops / elapsed, nforks, rounds);
    printf("hp_stats: requested=%zu in_use=%zu blocks_held=%zu blocks_cached=%zu "
           "mapped_hugetlb=%zu mapped_thp=%zu mapped_base=%zu fallback_thp=%zu "
           "fallback_base=%zu released=%zu\n",
           st.requested, st.in_use, st.blocks_held, st.blocks_cached, st.mapped_hugetlb,
           st.mapped_thp, st.mapped_base, st.fallback_thp, st.fallback_base, st.released);
    printf("resident: start %zu MiB, end %zu MiB; the heap held at most %zu MiB (%zu MiB "
           "in use then)\n",
           res_start >> 20, res_end >> 20, held(&peak) >> 20, peak.in_use >> 20);
    if (st.requested != 0 || st.in_use != 0)
        fail("the heap still counts live bytes after everything was freed");
    if (res_end > res_start + RESIDENT_SLACK)
        fail("resident memory %zu MiB did not come back near the start (%zu MiB)",
             res_end >> 20, res_start >> 20);
    printf("stress: OK\n");
    return 0;
}
