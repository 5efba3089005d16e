/* test_os.c: os.c's wrappers and its fault injection, and what the layers
 * above do when the kernel says no: hp_map falls back hugetlb -> THP -> base,
 * and with HP_STRICT fails with ENOMEM leaving no mapping behind (counted in
 * /proc/self/smaps). The first test must run first: it needs the hp_map
 * registry not to exist yet. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "region_helpers.h"

/* In base mode the first hp_map makes one mmap for the region and one for the
 * registry's table: failing the second must give the region back. */
static void hp_map_unmaps_the_region_when_its_registry_cannot_grow(void **state)
{
    (void)state;
    set_mode("base");
    int before = vma_count();
    hpi_os_fail_nth(HPI_OS_MMAP, 2, ENOMEM);
    errno = 0;
    void *p = hp_map(MB2, 0);
    int err = errno;
    hpi_os_fail_nth(HPI_OS_MMAP, 0, 0);
    set_mode(NULL);
    assert_null(p);
    assert_int_equal(err, ENOMEM);
    assert_int_equal(vma_count(), before);
}

static void the_nth_call_fails_once_with_the_given_error(void **state)
{
    (void)state;
    long calls = hpi_os_calls(HPI_OS_OPEN);
    int fd;
    hpi_os_fail_nth(HPI_OS_OPEN, 2, EACCES);
    assert_int_equal(hpi_os_open("/proc/self/status", O_RDONLY, 0, &fd), 0);
    hpi_os_close(fd);
    assert_int_equal(hpi_os_open("/proc/self/status", O_RDONLY, 0, &fd), EACCES);
    assert_int_equal(hpi_os_open("/proc/self/status", O_RDONLY, 0, &fd), 0);
    hpi_os_close(fd);
    assert_int_equal(hpi_os_calls(HPI_OS_OPEN), calls + 3);
}

static void os_wrappers_leave_errno_alone_and_return_the_error(void **state)
{
    (void)state;
    char buf[64];
    size_t len;
    errno = 1234;
    assert_int_equal(hpi_os_read_file("/nonexistent/hugepage", buf, sizeof buf, &len), ENOENT);
    assert_int_equal(hpi_os_munmap((void *)1, 4096), EINVAL);
    assert_int_equal(errno, 1234);
    /* A file bigger than the buffer: ERANGE, first cap-1 bytes kept. */
    assert_int_equal(hpi_os_read_file("/proc/self/maps", buf, 8, &len), ERANGE);
    assert_int_equal(len, 7);
    assert_int_equal(strlen(buf), 7);
}

static void failed_hugetlb_mmap_makes_hp_map_fall_back_to_thp(void **state)
{
    (void)state;
    if (!thp_available())
        hp_test_skip("THP is disabled on this machine");
    const size_t len = 2 * MB2;
    size_t fallbacks = atomic_load(&hpi_counters.fallback_thp);
    hpi_os_fail_nth(HPI_OS_MMAP, 1, ENOMEM); /* the hugetlb attempt */
    char *p = hp_map(len, HP_2MB);
    hpi_os_fail_nth(HPI_OS_MMAP, 0, 0);
    assert_non_null(p);
    hp_test_touch(p, len);
    struct hpi_vma vma = hp_test_smaps(p);
    assert_false(vma.hugetlb);
    assert_int_equal(vma.kernel_page_size, 4096);
    assert_true(vma.thp_advised);
    assert_true(vma.anon_huge > 0);
    assert_int_equal(hp_backing(p), HP_BACKING_THP);
    assert_int_equal(atomic_load(&hpi_counters.fallback_thp), fallbacks + 1);
    assert_int_equal(hp_unmap(p, len), 0);
}

static void failed_hugetlb_mmap_and_thp_advice_make_hp_map_fall_back_to_base(void **state)
{
    (void)state;
    const size_t len = 2 * MB2;
    size_t fallbacks = atomic_load(&hpi_counters.fallback_base);
    hpi_os_fail_nth(HPI_OS_MMAP, 1, ENOMEM);
    hpi_os_fail_nth(HPI_OS_MADVISE, 1, EINVAL); /* MADV_HUGEPAGE */
    char *p = hp_map(len, HP_2MB);
    hpi_os_fail_nth(HPI_OS_MMAP, 0, 0);
    hpi_os_fail_nth(HPI_OS_MADVISE, 0, 0);
    assert_non_null(p);
    hp_test_touch(p, len);
    struct hpi_vma vma = hp_test_smaps(p);
    assert_false(vma.hugetlb);
    assert_false(vma.thp_advised);
    assert_int_equal(vma.anon_huge, 0);
    assert_int_equal(hp_backing(p), HP_BACKING_BASE);
    assert_int_equal(atomic_load(&hpi_counters.fallback_base), fallbacks + 1);
    assert_int_equal(hp_unmap(p, len), 0);
}

static void strict_hp_map_fails_with_enomem_and_leaks_nothing_when_mmap_fails(void **state)
{
    (void)state;
    const unsigned flag_sets[] = {HP_2MB | HP_STRICT, HP_1GB | HP_STRICT,
                                  HP_2MB | HP_STRICT | HP_SHARED | HP_POPULATE};
    for (size_t i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
        int before = vma_count();
        long mmaps = hpi_os_calls(HPI_OS_MMAP);
        hpi_os_fail_nth(HPI_OS_MMAP, 1, ENOMEM);
        errno = 0;
        void *p = hp_map(4096, flag_sets[i]);
        int err = errno;
        hpi_os_fail_nth(HPI_OS_MMAP, 0, 0);
        assert_null(p);
        assert_int_equal(err, ENOMEM);
        assert_int_equal(hpi_os_calls(HPI_OS_MMAP), mmaps + 1); /* no fallback attempted */
        assert_int_equal(vma_count(), before);
    }
}

static void a_failed_trim_of_the_thp_over_mapping_leaks_nothing(void **state)
{
    (void)state;
    set_mode("thp");
    int before = vma_count();
    hpi_os_fail_nth(HPI_OS_MUNMAP, 1, ENOMEM);
    errno = 0;
    void *p = hp_map(MB2, 0);
    int err = errno;
    hpi_os_fail_nth(HPI_OS_MUNMAP, 0, 0);
    set_mode(NULL);
    assert_null(p);
    assert_int_equal(err, ENOMEM);
    assert_int_equal(vma_count(), before);
}

static void a_failed_munmap_keeps_the_region_so_hp_unmap_can_be_retried(void **state)
{
    (void)state;
    char *p = hp_map(MB2, 0);
    assert_non_null(p);
    hpi_os_fail_nth(HPI_OS_MUNMAP, 1, ENOMEM);
    errno = 0;
    assert_int_equal(hp_unmap(p, MB2), -1);
    assert_int_equal(errno, ENOMEM);
    p[0] = 1; /* still mapped */
    assert_int_equal(hp_unmap(p, MB2), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(hp_map_unmaps_the_region_when_its_registry_cannot_grow),
    cmocka_unit_test(the_nth_call_fails_once_with_the_given_error),
    cmocka_unit_test(os_wrappers_leave_errno_alone_and_return_the_error),
    cmocka_unit_test(failed_hugetlb_mmap_makes_hp_map_fall_back_to_thp),
    cmocka_unit_test(failed_hugetlb_mmap_and_thp_advice_make_hp_map_fall_back_to_base),
    cmocka_unit_test(strict_hp_map_fails_with_enomem_and_leaks_nothing_when_mmap_fails),
    cmocka_unit_test(a_failed_trim_of_the_thp_over_mapping_leaks_nothing),
    cmocka_unit_test(a_failed_munmap_keeps_the_region_so_hp_unmap_can_be_retried),
};

HP_TEST_MAIN(tests)
