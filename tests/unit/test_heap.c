/* test_heap.c: the hp_malloc family, as a user of malloc would check it.
 * Run once per fallback leg (HUGEPAGE_MODE=auto, thp, base: tests/CMakeLists.txt). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "internal.h"
#include "testutil.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 131);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 131))
            return 0;
    return 1;
}

static void malloc_gives_aligned_usable_disjoint_memory_for_every_size(void **state)
{
    (void)state;
    enum { N = 3000 };
    static unsigned char *ptrs[N];
    static size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = i < 2100 ? (size_t)i : (size_t)(i - 2099) * 1237; /* 0..2099, then up to 1.1 MiB */
        ptrs[i] = hp_malloc(sizes[i]);
        assert_non_null(ptrs[i]);
        assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
        assert_true(hp_usable_size(ptrs[i]) >= sizes[i]);
        fill(ptrs[i], sizes[i], (unsigned)i);
    }
    for (int i = 0; i < N; i++)
        assert_true(intact(ptrs[i], sizes[i], (unsigned)i));
    assert_int_equal(hpi_heap_check(), 0);
    for (int i = 0; i < N; i += 2)
        hp_free(ptrs[i]);
    for (int i = 1; i < N; i += 2)
        assert_true(intact(ptrs[i], sizes[i], (unsigned)i));
    for (int i = 1; i < N; i += 2)
        hp_free(ptrs[i]);
    assert_int_equal(hpi_heap_check(), 0);
}

static void freed_memory_is_reused(void **state)
{
    (void)state;
    void *a = hp_malloc(48);
    hp_free(a);
    void *b = hp_malloc(48);
    assert_ptr_equal(a, b); /* LIFO per thread: the most recently freed object */
    hp_free(b);
}

static void free_of_null_does_nothing_and_keeps_errno(void **state)
{
    (void)state;
    errno = 1234;
    hp_free(NULL);
    void *p = hp_malloc(10);
    hp_free(p);
    assert_int_equal(errno, 1234);
}

static void impossible_sizes_fail_with_enomem(void **state)
{
    (void)state;
    errno = 0;
    assert_null(hp_malloc(SIZE_MAX));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hp_malloc(SIZE_MAX / 2));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hp_calloc(SIZE_MAX / 2, 3)); /* overflows */
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hp_calloc((size_t)1 << 33, (size_t)1 << 33));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hp_aligned_alloc(64, SIZE_MAX - 10));
    assert_int_equal(errno, ENOMEM);
}

static void calloc_memory_is_zero_even_when_reused(void **state)
{
    (void)state;
    size_t sizes[] = {1, 16, 100, 4000, 70000, 3 << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        unsigned char *p = hp_malloc(sizes[k]);
        memset(p, 0xff, sizes[k]);
        hp_free(p);
        unsigned char *q = hp_calloc(1, sizes[k]);
        assert_non_null(q);
        for (size_t i = 0; i < sizes[k]; i++)
            assert_int_equal(q[i], 0);
        hp_free(q);
    }
    struct point { double x, y; int tag; };
    struct point *pt = hp_new(struct point);
    assert_non_null(pt);
    assert_true(pt->x == 0 && pt->y == 0 && pt->tag == 0);
    hp_free(pt);
}

static void realloc_behaves_like_glibc_and_keeps_contents(void **state)
{
    (void)state;
    unsigned char *p = hp_realloc(NULL, 10); /* realloc(NULL, n) is malloc(n) */
    assert_non_null(p);
    fill(p, 10, 7);
    size_t steps[] = {20, 100, 5000, 100000, 2 << 20, 9 << 20, 50, 3};
    size_t have = 10;
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        p = hp_realloc(p, steps[k]);
        assert_non_null(p);
        size_t keep = have < steps[k] ? have : steps[k];
        assert_true(intact(p, keep, 7));
        fill(p, steps[k], 7);
        have = steps[k];
    }
    errno = 0;
    assert_null(hp_realloc(p, SIZE_MAX - 100)); /* fails: p untouched */
    assert_int_equal(errno, ENOMEM);
    assert_true(intact(p, have, 7));
    assert_null(hp_realloc(p, 0)); /* glibc: frees p, returns NULL */
}

/* A buffer grown 16 bytes at a time from 16 bytes to 4 MiB (262144 reallocs)
 * moves only O(log n) times (each move takes a quarter more room), and keeps
 * every byte it held. Without the headroom it would move once per size class
 * crossed, and far more often above 1 MiB. */
static void a_buffer_grown_a_little_at_a_time_moves_rarely(void **state)
{
    (void)state;
    unsigned char *p = NULL;
    size_t len = 0, moves = 0;
    while (len < ((size_t)4 << 20)) {
        unsigned char *q = hp_realloc(p, len + 16);
        assert_non_null(q);
        moves += q != p;
        memset(q + len, (int)(len / 16), 16);
        p = q;
        len += 16;
    }
    for (size_t i = 0; i < len; i += 16)
        assert_int_equal(p[i], (unsigned char)(i / 16));
    assert_in_range(moves, 1, 80);
    hp_free(p);
}

static void aligned_alloc_honours_every_power_of_two_with_any_size(void **state)
{
    (void)state;
    for (size_t align = 16; align <= HPI_1GB; align <<= 1) {
        size_t sizes[] = {0, 1, 17, align - 1, align + 3};
        for (size_t k = 0; k < 5; k++) {
            if (align >= (256u << 20) && k >= 3)
                continue; /* keep the test's memory modest */
            void *p = hp_aligned_alloc(align, sizes[k]);
            assert_non_null(p);
            assert_int_equal((uintptr_t)p % align, 0);
            assert_true(hp_usable_size(p) >= sizes[k]);
            memset(p, 0x5a, sizes[k]);
            hp_free(p);
        }
    }
    errno = 0;
    assert_null(hp_aligned_alloc(24, 100));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(hp_aligned_alloc(0, 100));
    assert_int_equal(errno, EINVAL);
}

static void usable_size_is_zero_for_null_and_foreign_pointers(void **state)
{
    (void)state;
    int local;
    assert_int_equal(hp_usable_size(NULL), 0);
    assert_int_equal(hp_usable_size(&local), 0);
    char *glibc = malloc(100); /* this test program keeps glibc's malloc */
    assert_int_equal(hp_usable_size(glibc), 0);
    free(glibc);
}

/* Runs fn in a child and returns its stderr and termination signal. */
static int run_child(void (*fn)(void), char *err, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        fn();
        _exit(0);
    }
    close(fds[1]);
    hp_test_read_all(fds[0], err, cap);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static void *victim;

static void double_free(void)
{
    victim = hp_malloc(32);
    hp_free(victim);
    hp_free(victim);
}

static void double_free_after_reuse_of_neighbours(void)
{
    void *a = hp_malloc(64), *b = hp_malloc(64);
    victim = a;
    hp_free(a);
    hp_free(b);
    hp_free(a); /* a is no longer the newest free object of its class */
    /* Caught when a would be handed out a second time at the latest (the
     * child ends with _exit, which skips the check at exit). */
    for (int i = 0; i < 3; i++)
        victim = hp_malloc(64);
    victim = a;
}

static void free_of_stack_pointer(void)
{
    int local;
    victim = &local;
    hp_free(&local);
}

static void double_free_is_caught_and_names_the_address(void **state)
{
    (void)state;
    void (*cases[])(void) = {double_free, double_free_after_reuse_of_neighbours, free_of_stack_pointer};
    const char *words[] = {"double free", "double free", "invalid pointer"};
    for (int k = 0; k < 3; k++) {
        char err[512];
        victim = NULL;
        int sig = run_child(cases[k], err, sizeof err);
        assert_int_equal(sig, SIGABRT);
        assert_non_null(strstr(err, words[k]));
        assert_non_null(strstr(err, "0x"));
    }
}

/* ---- threads ------------------------------------------------------------------ */

enum { XN = 100000 };
static void **xobjs;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < XN; i++) {
        size_t n = 16 + (size_t)(i % 300);
        xobjs[i] = hp_malloc(n);
        fill(xobjs[i], n, (unsigned)i);
    }
    return NULL;
}

static void objects_freed_by_another_thread_come_back(void **state)
{
    (void)state;
    xobjs = hp_calloc(XN, sizeof(void *));
    for (int round = 0; round < 3; round++) {
        pthread_t t;
        struct hp_stats before, after;
        pthread_create(&t, NULL, producer, NULL);
        pthread_join(t, NULL);
        /* The producer exited: its heap is abandoned; we free its objects. */
        for (int i = 0; i < XN; i++) {
            assert_true(intact(xobjs[i], 16 + (size_t)(i % 300), (unsigned)i));
            hp_free(xobjs[i]);
        }
        hp_stats(&before);
        hp_trim();
        hp_stats(&after);
        /* Everything the producer used is back: held blocks do not grow round
         * after round (the next producer adopts the heap or blocks went back). */
        assert_true(after.blocks_held <= 8);
    }
    hp_free(xobjs);
}

static void *forker_noise(void *arg)
{
    volatile int *stop = arg;
    while (!*stop) {
        void *p = hp_malloc(64);
        hp_free(p);
    }
    return NULL;
}

static void heap_works_in_the_child_after_fork_with_threads(void **state)
{
    (void)state;
    volatile int stop = 0;
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, forker_noise, (void *)&stop);
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *v[1000];
            for (int i = 0; i < 1000; i++)
                v[i] = hp_malloc((size_t)i * 7 + 1);
            for (int i = 0; i < 1000; i++)
                hp_free(v[i]);
            _exit(hpi_heap_check() == 0 ? 0 : 3);
        }
        int status;
        waitpid(pid, &status, 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

/* ---- memory comes back --------------------------------------------------------- */

/* Bytes of memory this process holds: Rss plus hugetlb pages (not in Rss). */
static int add_resident(const struct hpi_vma *v, void *arg)
{
    *(size_t *)arg += v->rss + v->private_hugetlb + v->shared_hugetlb;
    return 0;
}

static size_t resident_bytes(void)
{
    size_t total = 0;
    assert_int_equal(hpi_sysinfo_each_vma(0, add_resident, &total), 0);
    return total;
}

static void freeing_everything_returns_to_the_starting_footprint(void **state)
{
    (void)state;
    hp_trim();
    size_t start = resident_bytes();
    enum { NOBJ = 4 << 20 };
    void **v = hp_malloc(NOBJ * sizeof(void *));
    for (size_t i = 0; i < NOBJ; i++) {
        v[i] = hp_malloc(64);
        memset(v[i], 1, 64);
    }
    size_t peak = resident_bytes();
    assert_true(peak > start + (200u << 20)); /* 256 MiB of objects */
    for (size_t i = 0; i < NOBJ; i++)
        hp_free(v[i]);
    hp_free(v);
    size_t end = resident_bytes();
    /* Without hp_trim: at most the dirty-cache limit (32 MiB) and a few blocks. */
    print_message("resident: start %zu MiB, peak %zu MiB, after free %zu MiB\n", start >> 20,
                  peak >> 20, end >> 20);
    assert_true(end <= start + (40u << 20));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malloc_gives_aligned_usable_disjoint_memory_for_every_size),
        cmocka_unit_test(freed_memory_is_reused),
        cmocka_unit_test(free_of_null_does_nothing_and_keeps_errno),
        cmocka_unit_test(impossible_sizes_fail_with_enomem),
        cmocka_unit_test(calloc_memory_is_zero_even_when_reused),
        cmocka_unit_test(realloc_behaves_like_glibc_and_keeps_contents),
        cmocka_unit_test(a_buffer_grown_a_little_at_a_time_moves_rarely),
        cmocka_unit_test(aligned_alloc_honours_every_power_of_two_with_any_size),
        cmocka_unit_test(usable_size_is_zero_for_null_and_foreign_pointers),
        cmocka_unit_test(double_free_is_caught_and_names_the_address),
        cmocka_unit_test(objects_freed_by_another_thread_come_back),
        cmocka_unit_test(heap_works_in_the_child_after_fork_with_threads),
        cmocka_unit_test(freeing_everything_returns_to_the_starting_footprint),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed ? 1 : hp_test_skipped ? 77 : 0;
}
