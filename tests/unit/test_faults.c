/* test_faults.c: every kernel call every public entry point makes, made to fail
 * in turn (os.c's hpi_os_fail_nth). For each entry point the test first counts
 * the calls of each operation (mmap, munmap, madvise, mprotect, memfd_create,
 * open) in a clean run; then, for n = 1 .. that count and for each error the
 * kernel really returns there (ENOMEM; EAGAIN for mmap; EINVAL for madvise), it
 * fails the nth call and checks the documented outcome:
 *   - success on a fallback, with the memory where the library says it is:
 *     the kind it recorded (hp_map's region counters, the heap's owner table)
 *     matches /proc/self/smaps (hugetlb VMA, MADV_HUGEPAGE advice, or neither);
 *   - or NULL / -1 with errno ENOMEM (or the documented errno);
 *   - never a crash, and nothing leaked (see struct footprint).
 * test_os.c already covers hp_map's first hugetlb mmap and MADV_HUGEPAGE, the
 * registry growth and the trim of the THP over-mapping; test_shm.c the memfd ->
 * hugetlbfs fallback. This file sweeps every call of every entry point.
 *
 * Leak check. The footprint is this process's mapped address space (sum of
 * VMA sizes in /proc/self/smaps, without [stack] and glibc's [heap], which the
 * library never uses), its hugetlb VMA bytes, and its open descriptors, taken
 * after hp_trim() (the heap caches empty blocks, which hp_trim gives back).
 * Each entry point runs once before measuring, so one-time structures exist
 * (hp_map's registry, the first heap). The one structure that can still
 * appear is an owner-table leaf of block.c (64 KiB, created for each new 16 GiB
 * of address space and kept for life); the test counts leaves and subtracts
 * them. So the comparison is exact: every failed mapping of the library is at
 * least one 4 KiB page, and would show. Hugetlb is measured in our own smaps,
 * not in /proc/meminfo's HugePages_Free: the pool is shared with tests of
 * other build trees running at the same time, which move the global figures. */
#include <dirent.h>
#include <errno.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "testutil.h"

#define MB ((size_t)1 << 20)
#define MB2 ((size_t)2 << 20)

/* ---- footprint ------------------------------------------------------------------ */

struct footprint {
    size_t mapped;  /* bytes in VMAs, without [stack], [heap] and owner-table leaves */
    size_t hugetlb; /* bytes in hugetlb VMAs */
    int fds;        /* open descriptors */
};

static int add_vma(const struct hpi_vma *vma, void *arg)
{
    struct footprint *f = arg;
    if (strcmp(vma->name, "[stack]") == 0 || strcmp(vma->name, "[heap]") == 0)
        return 0;
    f->mapped += vma->end - vma->start;
    if (vma->hugetlb)
        f->hugetlb += vma->end - vma->start;
    return 0;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static struct footprint footprint_now(void)
{
    hp_trim();
    struct footprint f = {0, 0, 0};
    assert_int_equal(hpi_sysinfo_each_vma(0, add_vma, &f), 0);
    for (size_t i = 0; i < HPI_MAP_TOP; i++)
        if (atomic_load(&hpi_block_map[i]))
            f.mapped -= HPI_MAP_LEAF * sizeof(hpi_map_entry);
    f.fds = count_fds();
    return f;
}

/* ---- where the memory is -------------------------------------------------------- */

enum kind { K_BASE, K_THP, K_HUGETLB };
static const char *const kind_names[] = {"base", "thp", "hugetlb"};

static enum kind smaps_kind(const void *p)
{
    struct hpi_vma vma = hp_test_smaps(p);
    return vma.hugetlb ? K_HUGETLB : vma.thp_advised ? K_THP : K_BASE;
}

/* The kind block.c recorded for the run holding heap object p (low bits of
 * its owner-table entry: base, THP, hugetlb 2 MiB, hugetlb 1 GiB). */
static enum kind heap_kind(const void *p)
{
    size_t idx = (uintptr_t)p >> HPI_BLOCK_SHIFT;
    hpi_map_entry *leaf = atomic_load(&hpi_block_map[idx >> HPI_MAP_LEAF_BITS]);
    assert_non_null(leaf);
    uintptr_t k = atomic_load(&leaf[idx & (HPI_MAP_LEAF - 1)]) & HPI_MAP_KIND_MASK;
    return k >= 2 ? K_HUGETLB : k == 1 ? K_THP : K_BASE;
}

/* ---- entry points ---------------------------------------------------------------- */

/* One public entry point: setup (outside the measured calls), the call itself,
 * then check/undo of what it returned. run returns NULL (errno set) on failure. */
struct entry {
    const char *name;
    void (*setup)(void);
    void *(*run)(void);
    void (*check)(void *); /* the result is usable and where the library says */
    void (*undo)(void *);
    int err_ok[3];         /* errnos allowed on failure (0-terminated) */
    bool heap;             /* the block layer may skip hugetlb for a while after a failure */
};

static void nothing(void) {}

static size_t obj_len;
static void check_heap(void *p)
{
    char *c = p;
    c[0] = 1;
    c[obj_len - 1] = 2;
    if (heap_kind(p) != smaps_kind(p))
        fail_msg("heap object %p recorded as %s, smaps says %s", p, kind_names[heap_kind(p)],
                 kind_names[smaps_kind(p)]);
}
static void free_heap(void *p) { hp_free(p); }

static void *malloc_small(void) { return hp_malloc(obj_len = 64); }
static void *malloc_large(void) { return hp_malloc(obj_len = 3 * MB); }
static void *malloc_very_large(void) { return hp_malloc(obj_len = 80 * MB); }
static void *calloc_large(void) { return hp_calloc(1, obj_len = 5 * MB); }
static void *aligned_16m(void)
{
    void *p = hp_aligned_alloc(16 * MB, obj_len = 100);
    if (p && (uintptr_t)p % (16 * MB))
        fail_msg("hp_aligned_alloc(16 MiB) gave %p", p);
    return p;
}

/* hp_realloc of a large object to a larger one: on failure the old object is
 * untouched (checked) and freed by undo_realloc. */
static unsigned char *realloc_old;
static void setup_realloc(void)
{
    realloc_old = hp_malloc(3 * MB);
    assert_non_null(realloc_old);
    memset(realloc_old, 0x5a, 3 * MB);
}
static void *realloc_large(void)
{
    void *q = hp_realloc(realloc_old, obj_len = 12 * MB);
    if (q)
        realloc_old = NULL;
    return q;
}
static void check_realloc(void *p)
{
    unsigned char *c = p;
    if (c[0] != 0x5a || c[3 * MB - 1] != 0x5a)
        fail_msg("hp_realloc lost the contents");
    check_heap(p);
}
static void undo_realloc(void *p)
{
    if (realloc_old) {
        for (size_t i = 0; i < 3 * MB; i += 4096)
            if (realloc_old[i] != 0x5a)
                fail_msg("a failed hp_realloc changed the old object at %zu", i);
        hp_free(realloc_old);
        realloc_old = NULL;
    }
    if (p)
        hp_free(p);
}

/* hp_map with one set of flags; the region counters say what the library
 * recorded, smaps what the kernel did. */
static unsigned map_flags;
static size_t map_len;
static struct hp_stats map_before;
static void *map_run(void)
{
    hp_stats(&map_before);
    return hp_map(map_len = MB2, map_flags);
}
static void check_map(void *p)
{
    struct hp_stats st;
    hp_stats(&st);
    enum kind said = st.region_hugetlb > map_before.region_hugetlb ? K_HUGETLB
                     : st.region_thp > map_before.region_thp      ? K_THP
                                                                  : K_BASE;
    char *c = p;
    c[0] = 1;
    c[map_len - 1] = 2;
    if (said != smaps_kind(p))
        fail_msg("hp_map(flags %#x) recorded %s, smaps says %s", map_flags, kind_names[said],
                 kind_names[smaps_kind(p)]);
    if ((map_flags & HP_STRICT) && said != K_HUGETLB)
        fail_msg("HP_STRICT map that is not hugetlb");
}
static void undo_map(void *p)
{
    if (p)
        assert_int_equal(hp_unmap(p, map_len), 0);
}

/* hp_memfd: an fd (stored as fd + 1 in a pointer, NULL = -1). */
static void *memfd_run(void)
{
    int fd = hp_memfd("faults", 0, HP_MEMFD_CLOEXEC);
    return fd < 0 ? NULL : (void *)(intptr_t)(fd + 1);
}
static void check_memfd(void *p)
{
    int fd = (int)(intptr_t)p - 1;
    assert_int_equal(ftruncate(fd, (off_t)hp_page_size()), 0);
}
static void undo_memfd(void *p)
{
    if (p)
        close((int)(intptr_t)p - 1);
}

/* hp_trim with a cached run to give back; "succeeds" always (returns bytes). */
static size_t trimmed;
static void setup_trim(void)
{
    hp_free(hp_malloc(3 * MB)); /* leaves two blocks cached */
}
static void *trim_run(void)
{
    trimmed = hp_trim();
    return (void *)1;
}
static void check_nothing(void *p) { (void)p; }
static void undo_nothing(void *p) { (void)p; }

/* hp_free of a very large object, unmapped at once (not cached). */
static void *vl_obj;
static void setup_free_very_large(void)
{
    vl_obj = hp_malloc(80 * MB);
    assert_non_null(vl_obj);
}
static void *free_very_large_run(void)
{
    hp_free(vl_obj);
    return (void *)1;
}

static void *stats_run(void)
{
    struct hp_stats st;
    hp_stats(&st);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    int r = f ? hp_stats_print(f, 1) : -1;
    if (f)
        fclose(f);
    return r == 0 ? (void *)1 : NULL;
}

/* ---- the sweep ---------------------------------------------------------------- */

static const char *const op_names[] = {"mmap", "munmap", "madvise", "memfd", "open", "mprotect"};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool err_allowed(const struct entry *e, int err)
{
    for (int i = 0; i < 3 && e->err_ok[i]; i++)
        if (e->err_ok[i] == err)
            return true;
    return false;
}

/* Runs e once with the nth call of op failing with err; checks the outcome and
 * that nothing leaked. Returns whether the injection fired. */
static bool run_failing(const struct entry *e, enum hpi_os_op op, long n, int err)
{
    struct footprint before = footprint_now();
    e->setup();
    long calls = hpi_os_calls(op);
    hpi_os_fail_nth(op, n, err);
    errno = 0;
    void *r = e->run();
    int got = errno;
    hpi_os_fail_nth(op, 0, 0);
    bool fired = hpi_os_calls(op) - calls >= n;
    if (r)
        e->check(r);
    else if (!err_allowed(e, got))
        fail_msg("%s with %s call %ld failing (errno %d): NULL/-1 with errno %d", e->name,
                 op_names[op], n, err, got);
    e->undo(r);
    struct footprint after = footprint_now();
    bool leaked = after.mapped != before.mapped || after.hugetlb != before.hugetlb ||
                  after.fds != before.fds;
    if (leaked) {
        char what[256];
        snprintf(what, sizeof what,
                 "%s with %s call %ld failing (errno %d, %s): mapped %+ld bytes, hugetlb %+ld, "
                 "fds %+d",
                 e->name, op_names[op], n, err, r ? "succeeded" : "failed",
                 (long)(after.mapped - before.mapped), (long)(after.hugetlb - before.hugetlb),
                 after.fds - before.fds);
        fail_msg("leak: %s", what);
    }
    return fired;
}

/* block.c skips hugetlb for 500 ms after the pool failed it: waiting that out
 * keeps every later call sequence the same as the clean run's. */
#define HEAP_RETRY_MS 520

/* HUGEPAGE_MODE for what follows (NULL: the default chain). */
static void set_mode(const char *mode)
{
    if (mode)
        setenv("HUGEPAGE_MODE", mode, 1);
    else
        unsetenv("HUGEPAGE_MODE");
    hpi_options_reload();
}

static void sweep_in_mode(const struct entry *e, const char *mode)
{
    /* Once for one-time structures, then a clean run counts the calls. */
    e->setup();
    void *r = e->run();
    assert_non_null(r);
    e->undo(r);
    hp_trim();
    if (e->heap && !mode)
        sleep_ms(HEAP_RETRY_MS);
    long counts[HPI_OS_NOPS];
    e->setup();
    for (int op = 0; op < HPI_OS_NOPS; op++)
        counts[op] = hpi_os_calls((enum hpi_os_op)op);
    r = e->run();
    for (int op = 0; op < HPI_OS_NOPS; op++)
        counts[op] = hpi_os_calls((enum hpi_os_op)op) - counts[op];
    if (!r)
        fail_msg("%s failed in a clean run (errno %d)", e->name, errno);
    e->check(r);
    e->undo(r);
    hp_trim();

    char line[256];
    int len = snprintf(line, sizeof line, "%s, mode %s: clean run calls", e->name,
                       mode ? mode : "auto");
    for (int op = 0; op < HPI_OS_NOPS; op++)
        len += snprintf(line + len, sizeof line - (size_t)len, " %s %ld", op_names[op], counts[op]);
    printf("%s\n", line);

    for (int op = 0; op < HPI_OS_NOPS; op++) {
        int errs[2] = {ENOMEM, op == HPI_OS_MMAP ? EAGAIN : op == HPI_OS_MADVISE ? EINVAL : 0};
        for (long n = 1; n <= counts[op]; n++)
            for (int k = 0; k < 2 && errs[k]; k++)
                if (run_failing(e, (enum hpi_os_op)op, n, errs[k]) && e->heap && !mode &&
                    op == HPI_OS_MMAP)
                    sleep_ms(HEAP_RETRY_MS); /* let block.c try hugetlb again */
    }
}

/* Every leg of the chain: the default (hugetlb first; with a pool its clean
 * run never reaches the THP leg's calls), THP, and base pages. */
static void sweep(const struct entry *e)
{
    static const char *const modes[] = {NULL, "thp", "base"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        set_mode(modes[i]);
        sweep_in_mode(e, modes[i]);
    }
    set_mode(NULL);
}

/* ---- tests ------------------------------------------------------------------------ */

#define HEAP_ENTRY(fn, label)                                                              \
    {label, nothing, fn, check_heap, free_heap, {ENOMEM}, true}

static void small_malloc_needing_a_new_block_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = HEAP_ENTRY(malloc_small, "hp_malloc(64) on a new block");
    sweep(&e);
}

static void large_malloc_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = HEAP_ENTRY(malloc_large, "hp_malloc(3 MiB)");
    sweep(&e);
}

static void very_large_malloc_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = HEAP_ENTRY(malloc_very_large, "hp_malloc(80 MiB)");
    sweep(&e);
}

static void large_calloc_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = HEAP_ENTRY(calloc_large, "hp_calloc(1, 5 MiB)");
    sweep(&e);
}

static void aligned_alloc_with_a_16m_alignment_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = HEAP_ENTRY(aligned_16m, "hp_aligned_alloc(16 MiB, 100)");
    sweep(&e);
}

static void realloc_of_a_large_object_survives_every_failed_call_and_keeps_it(void **state)
{
    (void)state;
    const struct entry e = {"hp_realloc(3 MiB -> 12 MiB)", setup_realloc, realloc_large,
                            check_realloc, undo_realloc, {ENOMEM}, true};
    sweep(&e);
}

static void hp_map_with_every_flag_combination_survives_every_failed_call(void **state)
{
    (void)state;
    static const unsigned sets[] = {0,
                                    HP_2MB,
                                    HP_1GB,
                                    HP_STRICT,
                                    HP_STRICT | HP_2MB,
                                    HP_STRICT | HP_1GB,
                                    HP_POPULATE,
                                    HP_STRICT | HP_POPULATE,
                                    HP_SHARED,
                                    HP_SHARED | HP_POPULATE,
                                    HP_STRICT | HP_SHARED | HP_POPULATE,
                                    HP_COLOR,
                                    HP_2MB | HP_SHARED | HP_POPULATE | HP_COLOR};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        map_flags = sets[i];
        char name[64];
        snprintf(name, sizeof name, "hp_map(2 MiB, %#x)", sets[i]);
        /* A strict map needs a free page of its size (1 GiB: the one page). */
        if (sets[i] & HP_STRICT) {
            size_t page = sets[i] & HP_1GB ? HPI_1GB : hp_page_size();
            if (hp_test_pool_available(page) < 1) {
                printf("%s: skipped, no free %zu KiB page\n", name, page >> 10);
                continue;
            }
        }
        const struct entry e = {name, nothing, map_run, check_map, undo_map, {ENOMEM}, false};
        sweep(&e);
    }
}

static void hp_memfd_survives_every_failed_call_and_leaks_no_descriptor(void **state)
{
    (void)state;
    if (hp_page_size() == 0)
        hp_test_skip("no hugetlb support in this kernel");
    /* ENOMEM passes through; other memfd errors fall back to a hugetlbfs
     * mount, and without one the answer is ENOSYS. */
    const struct entry e = {"hp_memfd", nothing, memfd_run, check_memfd, undo_memfd,
                            {ENOMEM, ENOSYS}, false};
    sweep(&e);
}

static void hp_trim_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = {"hp_trim", setup_trim, trim_run, check_nothing, undo_nothing,
                            {0}, true};
    sweep(&e);
}

static void hp_free_of_a_very_large_object_survives_every_failed_call(void **state)
{
    (void)state;
    const struct entry e = {"hp_free(80 MiB)", setup_free_very_large, free_very_large_run,
                            check_nothing, undo_nothing, {0}, true};
    sweep(&e);
}

static void hp_stats_and_hp_stats_print_make_no_kernel_call(void **state)
{
    (void)state;
    long before[HPI_OS_NOPS];
    for (int op = 0; op < HPI_OS_NOPS; op++)
        before[op] = hpi_os_calls((enum hpi_os_op)op);
    assert_non_null(stats_run());
    for (int op = 0; op < HPI_OS_NOPS; op++)
        if (hpi_os_calls((enum hpi_os_op)op) != before[op])
            fail_msg("hp_stats made a %s call", op_names[op]);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(small_malloc_needing_a_new_block_survives_every_failed_call),
    cmocka_unit_test(large_malloc_survives_every_failed_call),
    cmocka_unit_test(very_large_malloc_survives_every_failed_call),
    cmocka_unit_test(large_calloc_survives_every_failed_call),
    cmocka_unit_test(aligned_alloc_with_a_16m_alignment_survives_every_failed_call),
    cmocka_unit_test(realloc_of_a_large_object_survives_every_failed_call_and_keeps_it),
    cmocka_unit_test(hp_map_with_every_flag_combination_survives_every_failed_call),
    cmocka_unit_test(hp_memfd_survives_every_failed_call_and_leaks_no_descriptor),
    cmocka_unit_test(hp_trim_survives_every_failed_call),
    cmocka_unit_test(hp_free_of_a_very_large_object_survives_every_failed_call),
    cmocka_unit_test(hp_stats_and_hp_stats_print_make_no_kernel_call),
};

HP_TEST_MAIN(tests)
