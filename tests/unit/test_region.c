/* test_region.c: hp_map, hp_unmap, hp_backing and the fallback chain, checked
 * against the kernel's own account (/proc/self/smaps, /proc/meminfo).
 *
 * Tests that need the 2 MiB pool empty hold every free page themselves (strict
 * maps until ENOMEM) and release them before returning, so the pool's size is
 * never changed; other processes sharing the pool may make a count-based check
 * race, which is why those checks retry a few times. */
#include <errno.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "region_helpers.h"

/* ---- helpers -------------------------------------------------------------- */

static struct hpi_meminfo meminfo(void)
{
    static char text[16384];
    FILE *f = fopen("/proc/meminfo", "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    struct hpi_meminfo mi;
    assert_int_equal(hpi_sysinfo_parse_meminfo(text, &mi), 0);
    return mi;
}

/* Hugetlb bytes faulted in for p's VMA. The kernel splits them into
 * Private_Hugetlb and Shared_Hugetlb by a mapcount heuristic that can call a
 * page only this process maps "shared" (seen with 1 GiB pages on 6.18), so
 * tests add the two. */
static size_t hugetlb_bytes(const void *p)
{
    struct hpi_vma vma = hp_test_smaps(p);
    return vma.private_hugetlb + vma.shared_hugetlb;
}

/* Every free 2 MiB pool page, held by strict maps until the pool says ENOMEM. */
struct hold {
    void *big;
    size_t big_len;
    void *one[64];
    int n;
};

static void hold_pool(struct hold *h)
{
    memset(h, 0, sizeof *h);
    unsigned long avail = hp_test_pool_available(MB2);
    if (avail > 0) {
        h->big_len = avail * MB2;
        h->big = hp_map(h->big_len, HP_2MB | HP_STRICT);
        if (!h->big)
            h->big_len = 0;
    }
    /* Pages others freed meanwhile (or a big map that lost a race). */
    while (h->n < 64) {
        void *p = hp_map(MB2, HP_2MB | HP_STRICT);
        if (!p) {
            assert_int_equal(errno, ENOMEM);
            return;
        }
        h->one[h->n++] = p;
    }
    fail_msg("the 2 MiB pool keeps growing while we try to empty it");
}

static void release_pool(struct hold *h)
{
    if (h->big)
        assert_int_equal(hp_unmap(h->big, h->big_len), 0);
    for (int i = 0; i < h->n; i++)
        assert_int_equal(hp_unmap(h->one[i], MB2), 0);
}

/* ---- hugetlb ---------------------------------------------------------------- */

static void strict_2mb_map_is_hugetlb_in_smaps_and_pool_pages_come_back(void **state)
{
    (void)state;
    hp_test_need_pool(2, MB2);
    const size_t len = 2 * MB2;
    bool counts_ok = false;
    for (int attempt = 0; attempt < 5 && !counts_ok; attempt++) {
        unsigned long free_before = meminfo().hp_free;
        char *p = hp_map(len, HP_2MB | HP_STRICT);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % MB2, 0);
        hp_test_touch(p, len);
        struct hpi_vma vma = hp_test_smaps(p);
        assert_true(vma.hugetlb);
        assert_int_equal(vma.kernel_page_size, MB2);
        assert_int_equal(hugetlb_bytes(p), len);
        assert_int_equal(hp_backing(p), HP_BACKING_HUGETLB);
        assert_int_equal(hp_backing(p + len - 1), HP_BACKING_HUGETLB);
        unsigned long free_during = meminfo().hp_free;
        assert_int_equal(hp_unmap(p, len), 0);
        unsigned long free_after = meminfo().hp_free;
        /* Others share the pool: believe the counts only when they tell one story. */
        counts_ok = free_during + 2 == free_before && free_after == free_before;
    }
    assert_true(counts_ok);
}

static void strict_1gb_map_is_backed_by_a_1gb_page(void **state)
{
    (void)state;
    hp_test_need_pool(1, HPI_1GB);
    char *p = hp_map(HPI_1GB, HP_1GB | HP_STRICT);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % HPI_1GB, 0);
    p[0] = 1;
    p[HPI_1GB - 1] = 2;
    struct hpi_vma vma = hp_test_smaps(p);
    assert_int_equal(vma.kernel_page_size, HPI_1GB);
    assert_int_equal(hugetlb_bytes(p), HPI_1GB);
    assert_int_equal(hp_backing(p + 12345), HP_BACKING_HUGETLB);
    assert_int_equal(hp_unmap(p, HPI_1GB), 0);
}

static void strict_map_rounds_len_up_to_whole_pages_and_unmap_releases_them(void **state)
{
    (void)state;
    hp_test_need_pool(2, MB2);
    char *p = hp_map(MB2 + 1, HP_2MB | HP_STRICT);
    assert_non_null(p);
    hp_test_touch(p, 2 * MB2); /* the whole rounded length is ours */
    assert_int_equal(hugetlb_bytes(p), 2 * MB2);
    assert_int_equal(hp_unmap(p, MB2 + 1), 0);
    struct hpi_vma vma;
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)p, &vma), ENOENT);
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)p + MB2, &vma), ENOENT);
}

static void populate_faults_every_hugetlb_page_in_at_once(void **state)
{
    (void)state;
    hp_test_need_pool(3, MB2);
    const size_t len = 3 * MB2;
    char *p = hp_map(len, HP_2MB | HP_STRICT | HP_POPULATE);
    assert_non_null(p);
    assert_int_equal(hugetlb_bytes(p), len);
    assert_int_equal(hp_unmap(p, len), 0);
}

static void populate_faults_every_thp_page_in_at_once(void **state)
{
    (void)state;
    if (!thp_available())
        hp_test_skip("THP is disabled on this machine");
    set_mode("thp");
    const size_t len = 4 * MB2;
    char *p = hp_map(len, HP_POPULATE);
    set_mode(NULL);
    assert_non_null(p);
    struct hpi_vma vma = hp_test_smaps(p);
    assert_int_equal(vma.rss, len);
    assert_int_equal(vma.kernel_page_size, 4096);
    assert_int_equal(hp_unmap(p, len), 0);
}

/* ---- the fallback chain with the pool emptied -------------------------------- */

static void default_map_falls_back_to_thp_when_the_pool_is_empty(void **state)
{
    (void)state;
    if (!thp_available())
        hp_test_skip("THP is disabled on this machine");
    if (hp_page_size() != MB2)
        hp_test_skip("the default huge page size is not 2 MiB");
    struct hold h;
    hold_pool(&h);
    const size_t len = 4 * MB2;
    size_t thp_before = atomic_load(&hpi_counters.fallback_thp);
    char *p = hp_map(len, 0);
    if (p)
        hp_test_touch(p, len);
    struct hpi_vma vma = {0};
    if (p)
        vma = hp_test_smaps(p);
    release_pool(&h);

    assert_non_null(p);
    assert_int_equal((uintptr_t)p % MB2, 0);
    assert_false(vma.hugetlb);
    assert_int_equal(vma.thp_eligible, 1);
    assert_true(vma.anon_huge > 0);
    assert_int_equal(hp_backing(p), HP_BACKING_THP);
    assert_true(atomic_load(&hpi_counters.fallback_thp) > thp_before);
    assert_int_equal(hp_unmap(p, len), 0);
}

/* The child's verdict: 0 when the map landed on base pages per smaps. */
static int child_maps_base_pages(void)
{
    const size_t len = 4 * MB2;
    char *p = hp_map(len, 0);
    if (!p)
        return 1;
    hp_test_touch(p, len);
    struct hpi_vma vma;
    if (hpi_sysinfo_vma_at(0, (uintptr_t)p, &vma) != 0)
        return 2;
    if (vma.hugetlb || vma.anon_huge != 0 || vma.kernel_page_size != 4096)
        return 3;
    if (hp_backing(p) != HP_BACKING_BASE)
        return 4;
    return hp_unmap(p, len) == 0 ? 0 : 5;
}

static void default_map_falls_back_to_base_pages_when_thp_is_off_for_the_process(void **state)
{
    (void)state;
    struct hold h;
    hold_pool(&h);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0)
            _exit(10);
        _exit(child_maps_base_pages());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    release_pool(&h);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void mode_base_gives_base_pages_even_with_a_pool(void **state)
{
    (void)state;
    set_mode("base");
    int verdict = child_maps_base_pages();
    set_mode(NULL);
    assert_int_equal(verdict, 0);
}

static void strict_map_fails_with_enomem_on_an_empty_pool_and_leaks_nothing(void **state)
{
    (void)state;
    struct hold h;
    hold_pool(&h);
    int before = vma_count();
    size_t region_before = atomic_load(&hpi_counters.region[HP_BACKING_HUGETLB]);
    errno = 0;
    void *p = hp_map(MB2, HP_2MB | HP_STRICT);
    int err = errno;
    int after = vma_count();
    size_t region_after = atomic_load(&hpi_counters.region[HP_BACKING_HUGETLB]);
    release_pool(&h);
    assert_null(p);
    assert_int_equal(err, ENOMEM);
    assert_int_equal(after, before);
    assert_int_equal(region_after, region_before);
}

/* ---- flags -------------------------------------------------------------------- */

static int child_writes(char *p, size_t len)
{
    memset(p, 0x5a, len);
    return 0;
}

static void check_shared_with_child(unsigned flags)
{
    const size_t len = MB2;
    unsigned char *p = hp_map(len, flags | HP_SHARED);
    assert_non_null(p);
    p[0] = 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_writes((char *)p, len));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(p[0], 0x5a);
    assert_int_equal(p[len - 1], 0x5a);
    assert_int_equal(hp_unmap(p, len), 0);
}

static void shared_map_is_visible_to_a_forked_child(void **state)
{
    (void)state;
    check_shared_with_child(0);
}

static void shared_strict_hugetlb_map_is_visible_to_a_forked_child(void **state)
{
    (void)state;
    hp_test_need_pool(1, MB2);
    check_shared_with_child(HP_2MB | HP_STRICT);
}

static void color_gives_consecutive_maps_different_offsets_and_they_unmap(void **state)
{
    (void)state;
    enum { N = 8 };
    const size_t len = 1u << 20;
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = hp_map(len, HP_COLOR);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 64, 0);
        memset(p[i], i, len); /* all len bytes are usable after the offset */
    }
    for (int i = 1; i < N; i++)
        assert_int_not_equal((uintptr_t)p[i] % 4096, (uintptr_t)p[i - 1] % 4096);
    for (int i = 0; i < N; i++)
        assert_int_equal(hp_unmap(p[i], len), 0);
    struct hpi_vma vma;
    for (int i = 0; i < N; i++)
        assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)p[i], &vma), ENOENT);
}

static void color_on_an_exact_page_multiple_still_fits_len(void **state)
{
    (void)state;
    char *a = hp_map(MB2, HP_COLOR), *b = hp_map(MB2, HP_COLOR);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_not_equal((uintptr_t)a % 4096, (uintptr_t)b % 4096);
    memset(a, 1, MB2);
    memset(b, 2, MB2);
    assert_int_equal(hp_unmap(a, MB2), 0);
    assert_int_equal(hp_unmap(b, MB2), 0);
}

/* ---- bad input ---------------------------------------------------------------- */

static void expect_map_error(size_t len, unsigned flags, int err)
{
    errno = 0;
    assert_null(hp_map(len, flags));
    assert_int_equal(errno, err);
}

static void hp_map_rejects_bad_arguments_with_einval_or_enomem(void **state)
{
    (void)state;
    expect_map_error(0, 0, EINVAL);
    expect_map_error(0, HP_2MB | HP_STRICT, EINVAL);
    expect_map_error(4096, 0x4000u, EINVAL);
    expect_map_error(4096, HP_2MB | HP_1GB, EINVAL);
    expect_map_error(SIZE_MAX, 0, ENOMEM);
    expect_map_error(SIZE_MAX - 4096, HP_2MB, ENOMEM);
    expect_map_error(SIZE_MAX - (1u << 20), HP_1GB | HP_COLOR, ENOMEM);
    expect_map_error((size_t)1 << 62, HP_2MB, ENOMEM); /* representable, far too big */
}

static void the_chain_rejects_a_page_size_the_kernel_lacks_when_strict(void **state)
{
    (void)state;
    void *p;
    enum hp_backing got;
    size_t odd = (size_t)4 << 20; /* no x86-64 kernel has 4 MiB pages */
    assert_int_equal(hpi_region_map_chain(odd, MB2, odd, HPI_MODE_AUTO, true, false, false, NULL,
                                          &p, &got),
                     EINVAL);
    assert_int_equal(hpi_region_map_chain(0, MB2, MB2, HPI_MODE_AUTO, false, false, false, NULL,
                                          &p, &got),
                     EINVAL);
    assert_int_equal(hpi_region_map_chain(MB2, 4096, MB2, HPI_MODE_AUTO, false, false, false,
                                          NULL, &p, &got),
                     EINVAL);
    /* Without strict, an unknown size just skips hugetlb. */
    assert_int_equal(hpi_region_map_chain(odd, MB2, odd, HPI_MODE_AUTO, false, false, false, NULL,
                                          &p, &got),
                     0);
    assert_int_not_equal(got, HP_BACKING_HUGETLB);
    assert_int_equal(hpi_region_unmap_chain(p, odd), 0);
}

static void hp_unmap_refuses_what_hp_map_did_not_return(void **state)
{
    (void)state;
    int local;
    char *heap = malloc(64);
    char *p = hp_map(MB2, 0);
    assert_non_null(p);
    void *bad[] = {NULL, &local, heap, p + 4096, p + 64, (void *)(uintptr_t)4096};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_int_equal(hp_unmap(bad[i], MB2), -1);
        assert_int_equal(errno, EINVAL);
    }
    /* A length that is not what was mapped. */
    errno = 0;
    assert_int_equal(hp_unmap(p, 3 * MB2), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(hp_unmap(p, 0), -1);
    /* Nothing was unmapped by the refusals. */
    memset(p, 7, MB2);
    assert_int_equal(hp_unmap(p, 100), 0); /* any len that rounds to the same mapping */
    errno = 0;
    assert_int_equal(hp_unmap(p, MB2), -1); /* twice */
    assert_int_equal(errno, EINVAL);
    free(heap);
}

static void hp_backing_says_unknown_for_unmapped_memory_and_base_for_the_stack(void **state)
{
    (void)state;
    int local = 0;
    assert_int_equal(hp_backing(NULL), HP_BACKING_UNKNOWN);
    char *p = hp_map(MB2, 0);
    assert_non_null(p);
    assert_int_equal(hp_unmap(p, MB2), 0);
    assert_int_equal(hp_backing(p), HP_BACKING_UNKNOWN);
    assert_int_equal(hp_backing(&local), HP_BACKING_BASE);
    assert_string_equal(hp_backing_name(HP_BACKING_HUGETLB), "hugetlb");
    assert_string_equal(hp_backing_name(HP_BACKING_THP), "thp");
    assert_string_equal(hp_backing_name(HP_BACKING_BASE), "base");
    assert_string_equal(hp_backing_name(HP_BACKING_UNKNOWN), "unknown");
    assert_string_equal(hp_backing_name((enum hp_backing)42), "unknown");
}

/* ---- the registry and the chain's contract ------------------------------------ */

static void hundreds_of_live_maps_unmap_in_any_order(void **state)
{
    (void)state;
    enum { N = 600 };
    static char *p[N];
    set_mode("base"); /* address space only: nothing is touched */
    for (int i = 0; i < N; i++) {
        p[i] = hp_map(4096, 0);
        assert_non_null(p[i]);
    }
    set_mode(NULL);
    /* A fixed permutation: stride 7 over N (coprime), so probe runs get holes. */
    for (int k = 0, i = 0; k < N; k++, i = (i + 7) % N)
        assert_int_equal(hp_unmap(p[i], 4096), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(hp_unmap(p[i], 4096), -1);
}

static void region_counters_follow_live_maps_by_backing(void **state)
{
    (void)state;
    set_mode("base");
    size_t before = atomic_load(&hpi_counters.region[HP_BACKING_BASE]);
    void *p = hp_map(3 * MB2, 0);
    set_mode(NULL);
    assert_non_null(p);
    assert_int_equal(atomic_load(&hpi_counters.region[HP_BACKING_BASE]), before + 3 * MB2);
    assert_int_equal(hp_unmap(p, 3 * MB2), 0);
    assert_int_equal(atomic_load(&hpi_counters.region[HP_BACKING_BASE]), before);
}

static void the_chain_aligns_every_kind_to_the_requested_alignment(void **state)
{
    (void)state;
    const size_t align = 8 * MB2;
    static const enum hpi_mode modes[] = {HPI_MODE_AUTO, HPI_MODE_THP, HPI_MODE_BASE};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        void *p;
        enum hp_backing got;
        assert_int_equal(hpi_region_map_chain(2 * MB2, align, MB2, modes[i], false, false, false,
                                              "hp_test", &p, &got),
                         0);
        assert_int_equal((uintptr_t)p % align, 0);
        hp_test_touch(p, 2 * MB2);
        struct hpi_vma vma = hp_test_smaps(p);
        assert_int_equal(vma.hugetlb, got == HP_BACKING_HUGETLB);
        if (modes[i] == HPI_MODE_BASE)
            assert_int_equal(got, HP_BACKING_BASE);
        if (got == HP_BACKING_BASE)
            assert_int_equal(vma.anon_huge, 0);
        assert_int_equal(hpi_region_unmap_chain(p, 2 * MB2), 0);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(strict_2mb_map_is_hugetlb_in_smaps_and_pool_pages_come_back),
    cmocka_unit_test(strict_1gb_map_is_backed_by_a_1gb_page),
    cmocka_unit_test(strict_map_rounds_len_up_to_whole_pages_and_unmap_releases_them),
    cmocka_unit_test(populate_faults_every_hugetlb_page_in_at_once),
    cmocka_unit_test(populate_faults_every_thp_page_in_at_once),
    cmocka_unit_test(default_map_falls_back_to_thp_when_the_pool_is_empty),
    cmocka_unit_test(default_map_falls_back_to_base_pages_when_thp_is_off_for_the_process),
    cmocka_unit_test(mode_base_gives_base_pages_even_with_a_pool),
    cmocka_unit_test(strict_map_fails_with_enomem_on_an_empty_pool_and_leaks_nothing),
    cmocka_unit_test(shared_map_is_visible_to_a_forked_child),
    cmocka_unit_test(shared_strict_hugetlb_map_is_visible_to_a_forked_child),
    cmocka_unit_test(color_gives_consecutive_maps_different_offsets_and_they_unmap),
    cmocka_unit_test(color_on_an_exact_page_multiple_still_fits_len),
    cmocka_unit_test(hp_map_rejects_bad_arguments_with_einval_or_enomem),
    cmocka_unit_test(the_chain_rejects_a_page_size_the_kernel_lacks_when_strict),
    cmocka_unit_test(hp_unmap_refuses_what_hp_map_did_not_return),
    cmocka_unit_test(hp_backing_says_unknown_for_unmapped_memory_and_base_for_the_stack),
    cmocka_unit_test(hundreds_of_live_maps_unmap_in_any_order),
    cmocka_unit_test(region_counters_follow_live_maps_by_backing),
    cmocka_unit_test(the_chain_aligns_every_kind_to_the_requested_alignment),
};

HP_TEST_MAIN(tests)
