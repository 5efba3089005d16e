/* test_hostile.c: every public function with hostile arguments (zero,
 * SIZE_MAX, SIZE_MAX/2+1, non-powers of two, NULL, pointers that are not ours,
 * unknown flags) and the option parsers with hostile strings. Each test checks
 * the documented outcome, return value and errno, and that the library still
 * works afterwards (still_works). The rows are listed in docs/hostile-input.md;
 * rows already covered by test_region.c, test_shm.c and test_heap.c are named
 * there and not repeated here. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>

#include "internal.h"
#include "testutil.h"

#define MB2 ((size_t)2 << 20)
#define HALF_PLUS_ONE (SIZE_MAX / 2 + 1) /* 2^63: a power of two, and absurd */

/* The library is intact: small and large objects and a region still work, and
 * the heap's invariants hold. */
static void still_works(void)
{
    char *small = hp_malloc(100), *large = hp_malloc((size_t)3 << 20);
    assert_non_null(small);
    assert_non_null(large);
    memset(small, 1, 100);
    memset(large, 2, (size_t)3 << 20);
    hp_free(small);
    hp_free(large);
    char *r = hp_map(4096, 0);
    assert_non_null(r);
    r[0] = 1;
    assert_int_equal(hp_unmap(r, 4096), 0);
    assert_int_equal(hpi_heap_check(), 0);
}

#define expect_null_errno(call, err)                                                    \
    do {                                                                                \
        errno = 0;                                                                      \
        void *p_ = (call);                                                              \
        int e_ = errno;                                                                 \
        if (p_ || e_ != (err))                                                          \
            fail_msg("%s: got %p errno %d, want NULL errno %d", #call, p_, e_, (err));  \
    } while (0)

#define expect_minus1_errno(call, err)                                                  \
    do {                                                                                \
        errno = 0;                                                                      \
        long r_ = (long)(call);                                                         \
        int e_ = errno;                                                                 \
        if (r_ != -1 || e_ != (err))                                                    \
            fail_msg("%s: got %ld errno %d, want -1 errno %d", #call, r_, e_, (err));   \
    } while (0)

/* ---- discovery --------------------------------------------------------------- */

static void hp_page_sizes_rejects_a_negative_max_or_a_null_array_with_einval(void **state)
{
    (void)state;
    size_t sizes[8];
    expect_minus1_errno(hp_page_sizes(NULL, -1), EINVAL);
    expect_minus1_errno(hp_page_sizes(sizes, -1), EINVAL);
    expect_minus1_errno(hp_page_sizes(sizes, INT_MIN), EINVAL);
    expect_minus1_errno(hp_page_sizes(NULL, 1), EINVAL);
    expect_minus1_errno(hp_page_sizes(NULL, INT_MAX), EINVAL);
    /* max 0 with NULL is the way to ask how many there are. */
    int n = hp_page_sizes(NULL, 0);
    assert_true(n >= 0);
    assert_int_equal(hp_page_sizes(sizes, 8), n);
    still_works();
}

static void hp_pool_rejects_null_and_sizes_the_kernel_lacks_with_einval(void **state)
{
    (void)state;
    const size_t bad[] = {1, 3, 4096, (size_t)3 << 20, (size_t)4 << 20, HALF_PLUS_ONE, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hp_pool pool;
        memset(&pool, 0xa5, sizeof pool);
        expect_minus1_errno(hp_pool(bad[i], &pool), EINVAL);
        assert_int_equal(pool.total, (unsigned long)0xa5a5a5a5a5a5a5a5ul); /* untouched */
    }
    expect_minus1_errno(hp_pool(0, NULL), EINVAL);
    expect_minus1_errno(hp_pool(MB2, NULL), EINVAL);
    still_works();
}

/* ---- regions ------------------------------------------------------------------ */

static void hp_map_rejects_every_unknown_flag_bit_and_conflicting_sizes(void **state)
{
    (void)state;
    for (unsigned bit = 0x40u; bit; bit <<= 1)
        expect_null_errno(hp_map(4096, bit), EINVAL);
    expect_null_errno(hp_map(4096, 0xffffffffu), EINVAL);
    expect_null_errno(hp_map(4096, HP_2MB | HP_1GB | HP_STRICT), EINVAL);
    expect_null_errno(hp_map(0, HP_COLOR), EINVAL);
    still_works();
}

static void hp_map_of_absurd_lengths_is_enomem_with_every_flag(void **state)
{
    (void)state;
    const size_t lens[] = {HALF_PLUS_ONE, SIZE_MAX / 2, SIZE_MAX - MB2 + 2, (size_t)1 << 47};
    const unsigned flags[] = {0, HP_2MB, HP_1GB, HP_STRICT, HP_SHARED, HP_POPULATE, HP_COLOR,
                              HP_2MB | HP_SHARED | HP_POPULATE | HP_COLOR};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t j = 0; j < sizeof flags / sizeof flags[0]; j++)
            expect_null_errno(hp_map(lens[i], flags[j]), ENOMEM);
    still_works();
}

static void hp_map_of_one_byte_rounds_up_to_a_whole_page(void **state)
{
    (void)state;
    char *p = hp_map(1, HP_2MB);
    assert_non_null(p);
    memset(p, 3, MB2); /* the whole rounded page is ours */
    assert_int_equal(hp_test_smaps(p).end - (uintptr_t)p >= MB2, 1);
    assert_int_equal(hp_unmap(p, 1), 0);
    still_works();
}

static void hp_unmap_refuses_absurd_lengths_and_heap_pointers_and_keeps_them(void **state)
{
    (void)state;
    char *p = hp_map(MB2, 0);
    char *obj = hp_malloc(64);
    assert_non_null(p);
    assert_non_null(obj);
    expect_minus1_errno(hp_unmap(p, SIZE_MAX), EINVAL);
    expect_minus1_errno(hp_unmap(p, HALF_PLUS_ONE), EINVAL);
    expect_minus1_errno(hp_unmap(obj, 64), EINVAL);
    expect_minus1_errno(hp_unmap((void *)UINTPTR_MAX, 4096), EINVAL);
    expect_minus1_errno(hp_unmap((void *)(UINTPTR_MAX & ~(uintptr_t)4095), 4096), EINVAL);
    memset(p, 1, MB2); /* still mapped */
    memset(obj, 2, 64); /* still allocated */
    assert_int_equal(hp_usable_size(obj) >= 64, 1);
    hp_free(obj);
    assert_int_equal(hp_unmap(p, MB2), 0);
    still_works();
}

static void hp_backing_of_wild_pointers_is_unknown_and_keeps_errno(void **state)
{
    (void)state;
    const void *wild[] = {NULL, (void *)1, (void *)4095, (void *)UINTPTR_MAX,
                          (void *)((uintptr_t)1 << 62)};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        errno = 4321;
        assert_int_equal(hp_backing(wild[i]), HP_BACKING_UNKNOWN);
        assert_int_equal(errno, 4321);
    }
    assert_string_equal(hp_backing_name((enum hp_backing)-1), "unknown");
    assert_string_equal(hp_backing_name((enum hp_backing)INT_MAX), "unknown");
    still_works();
}

static void hp_memfd_rejects_absurd_page_sizes_and_flags_with_einval(void **state)
{
    (void)state;
    if (hp_page_size() == 0)
        hp_test_skip("no hugetlb support in this kernel");
    const size_t bad[] = {1, 3, HALF_PLUS_ONE, SIZE_MAX, SIZE_MAX / 2, (size_t)1 << 40};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_minus1_errno(hp_memfd("x", bad[i], 0), EINVAL);
    expect_minus1_errno(hp_memfd("x", 0, 0xffffffffu), EINVAL);
    expect_minus1_errno(hp_memfd("x", 0, ~HP_MEMFD_CLOEXEC), EINVAL);
    still_works();
}

static void hp_memfd_takes_null_and_empty_names_and_names_up_to_the_kernel_limit(void **state)
{
    (void)state;
    if (hp_page_size() == 0)
        hp_test_skip("no hugetlb support in this kernel");
    char name[251];
    memset(name, 'n', sizeof name - 1);
    name[249] = '\0'; /* 249 bytes: memfd_create's limit */
    const char *names[] = {NULL, "", name};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int fd = hp_memfd(names[i], 0, HP_MEMFD_CLOEXEC);
        assert_true(fd >= 0);
        close(fd);
    }
    name[249] = 'n';
    name[250] = '\0';
    expect_minus1_errno(hp_memfd(name, 0, 0), EINVAL);
    still_works();
}

/* ---- heap ------------------------------------------------------------------------ */

static void hp_malloc_of_absurd_sizes_is_enomem(void **state)
{
    (void)state;
    /* Around every overflow check: rounding to blocks, the large header, the
     * owner table's reach (2^47), and sizes far beyond it. */
    const size_t sizes[] = {HALF_PLUS_ONE, SIZE_MAX - 1, SIZE_MAX - 64, SIZE_MAX - MB2,
                            SIZE_MAX - MB2 - 64, SIZE_MAX - 2 * MB2, (size_t)PTRDIFF_MAX,
                            (size_t)1 << 47, ((size_t)1 << 47) + 1, (size_t)1 << 60};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        expect_null_errno(hp_malloc(sizes[i]), ENOMEM);
    still_works();
}

static void hp_malloc_of_zero_gives_distinct_freeable_pointers(void **state)
{
    (void)state;
    void *a = hp_malloc(0), *b = hp_malloc(0);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    hp_free(a);
    hp_free(b);
    still_works();
}

static void hp_calloc_whose_product_overflows_is_enomem(void **state)
{
    (void)state;
    struct big {
        char bytes[64];
    };
    const size_t pairs[][2] = {{SIZE_MAX, 2},        {2, SIZE_MAX},           {HALF_PLUS_ONE, 2},
                               {(size_t)1 << 32, (size_t)1 << 32}, {SIZE_MAX, SIZE_MAX},
                               {SIZE_MAX / 3 + 1, 3}, {3, SIZE_MAX / 3 + 1}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        expect_null_errno(hp_calloc(pairs[i][0], pairs[i][1]), ENOMEM);
    /* Products that fit but are absurd. */
    expect_null_errno(hp_calloc(SIZE_MAX / 2, 1), ENOMEM);
    expect_null_errno(hp_new_array(struct big, SIZE_MAX / 32), ENOMEM);
    expect_null_errno(hp_new_array(struct big, SIZE_MAX / 64), ENOMEM);
    still_works();
}

static void hp_calloc_with_a_zero_count_or_size_gives_a_freeable_pointer(void **state)
{
    (void)state;
    void *a = hp_calloc(0, SIZE_MAX), *b = hp_calloc(SIZE_MAX, 0), *c = hp_calloc(0, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    hp_free(a);
    hp_free(b);
    hp_free(c);
    still_works();
}

static void hp_realloc_to_an_absurd_size_is_enomem_and_keeps_the_object(void **state)
{
    (void)state;
    const size_t olds[] = {24, 5000, (size_t)3 << 20}; /* small, medium, large */
    const size_t news[] = {SIZE_MAX, HALF_PLUS_ONE, SIZE_MAX - MB2, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
        unsigned char *p = hp_malloc(olds[i]);
        assert_non_null(p);
        memset(p, 0x3c, olds[i]);
        for (size_t j = 0; j < sizeof news / sizeof news[0]; j++)
            expect_null_errno(hp_realloc(p, news[j]), ENOMEM);
        for (size_t k = 0; k < olds[i]; k++)
            if (p[k] != 0x3c)
                fail_msg("byte %zu of a %zu-byte object changed by a failed realloc", k, olds[i]);
        hp_free(p);
    }
    expect_null_errno(hp_realloc(NULL, SIZE_MAX), ENOMEM);
    still_works();
}

static void hp_realloc_of_null_to_zero_mallocs_and_to_zero_frees_without_error(void **state)
{
    (void)state;
    void *p = hp_realloc(NULL, 0); /* malloc(0): a unique pointer */
    assert_non_null(p);
    errno = 4321;
    assert_null(hp_realloc(p, 0)); /* glibc: frees p, NULL, errno untouched */
    assert_int_equal(errno, 4321);
    still_works();
}

static void hp_aligned_alloc_rejects_every_non_power_of_two_with_einval(void **state)
{
    (void)state;
    const size_t aligns[] = {0, 3, 6, 24, 48, 100, 4097, (size_t)3 << 20, SIZE_MAX,
                             SIZE_MAX - 1, HALF_PLUS_ONE + 1, HALF_PLUS_ONE | 1};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        expect_null_errno(hp_aligned_alloc(aligns[i], 0), EINVAL);
        expect_null_errno(hp_aligned_alloc(aligns[i], 100), EINVAL);
        expect_null_errno(hp_aligned_alloc(aligns[i], SIZE_MAX), EINVAL);
    }
    still_works();
}

static void hp_aligned_alloc_with_an_absurd_power_of_two_or_size_is_enomem(void **state)
{
    (void)state;
    const size_t aligns[] = {HALF_PLUS_ONE, (size_t)1 << 62, (size_t)1 << 48, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        expect_null_errno(hp_aligned_alloc(aligns[i], 1), ENOMEM);
        expect_null_errno(hp_aligned_alloc(aligns[i], 0), ENOMEM);
    }
    const size_t sizes[] = {SIZE_MAX, HALF_PLUS_ONE, SIZE_MAX - MB2, (size_t)1 << 47};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        expect_null_errno(hp_aligned_alloc(16, sizes[i]), ENOMEM);
        expect_null_errno(hp_aligned_alloc(4096, sizes[i]), ENOMEM);
        expect_null_errno(hp_aligned_alloc(MB2, sizes[i]), ENOMEM);
    }
    still_works();
}

static void hp_aligned_alloc_with_alignments_one_and_two_acts_as_malloc(void **state)
{
    (void)state;
    for (size_t align = 1; align <= 8; align <<= 1) {
        void *p = hp_aligned_alloc(align, 10);
        assert_non_null(p);
        assert_true(hp_usable_size(p) >= 10);
        hp_free(p);
    }
    still_works();
}

static void hp_usable_size_of_pointers_not_from_the_heap_is_zero(void **state)
{
    (void)state;
    char *r = hp_map(MB2, 0);
    char *large = hp_malloc((size_t)3 << 20);
    assert_non_null(r);
    assert_non_null(large);
    const void *wild[] = {(void *)1, (void *)4096, (void *)UINTPTR_MAX,
                          (void *)((uintptr_t)1 << 47), r, r + 100, large + 1, large + MB2};
    for (size_t i = 0; i < sizeof wild / sizeof wild[0]; i++) {
        errno = 4321;
        assert_int_equal(hp_usable_size(wild[i]), 0);
        assert_int_equal(errno, 4321);
    }
    hp_free(large);
    assert_int_equal(hp_unmap(r, MB2), 0);
    still_works();
}

static void hp_trim_with_nothing_cached_returns_zero_and_keeps_errno(void **state)
{
    (void)state;
    hp_trim();
    errno = 4321;
    assert_int_equal(hp_trim(), 0);
    assert_int_equal(errno, 4321);
    still_works();
}

/* ---- statistics ---------------------------------------------------------------- */

static void hp_stats_of_null_does_nothing(void **state)
{
    (void)state;
    errno = 4321;
    hp_stats(NULL);
    assert_int_equal(errno, 4321);
    still_works();
}

static void hp_stats_print_to_null_is_einval_and_to_a_failing_stream_eio(void **state)
{
    (void)state;
    expect_minus1_errno(hp_stats_print(NULL, 0), EINVAL);
    expect_minus1_errno(hp_stats_print(NULL, 1), EINVAL);
    FILE *full = fopen("/dev/full", "w");
    assert_non_null(full);
    expect_minus1_errno(hp_stats_print(full, 0), EIO);
    expect_minus1_errno(hp_stats_print(full, 1), EIO);
    fclose(full);
    FILE *ro = fopen("/dev/null", "r"); /* not open for writing */
    assert_non_null(ro);
    expect_minus1_errno(hp_stats_print(ro, 0), EIO);
    fclose(ro);
    still_works();
}

static void hp_stats_print_takes_any_nonzero_json_as_json(void **state)
{
    (void)state;
    const int jsons[] = {-1, INT_MIN, INT_MAX, 2};
    for (size_t i = 0; i < sizeof jsons / sizeof jsons[0]; i++) {
        char buf[4096] = {0};
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        assert_non_null(f);
        assert_int_equal(hp_stats_print(f, jsons[i]), 0);
        fclose(f);
        assert_int_equal(buf[0], '{');
        assert_non_null(strstr(buf, "}\n"));
    }
}

/* ---- option parsers ---------------------------------------------------------------- */

static void size_parser_rejects_garbage_and_negative_numbers_with_einval(void **state)
{
    (void)state;
    const char *bad[] = {"",    "0x",  "0x10", "-1",  "-0",  "+5",   " 5",  "5 ",   "1 G", "1e6",
                         "1P",  "16E", "1Gi",  "1GBB", "1iB", "garbage", "M", "1.5G", "1G\n",
                         "2M\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t v = 12345;
        if (hpi_options_parse_size(bad[i], &v) != EINVAL)
            fail_msg("\"%s\" was not rejected with EINVAL", bad[i]);
        assert_int_equal(v, 12345); /* untouched */
    }
    size_t v = 12345;
    assert_int_equal(hpi_options_parse_size(NULL, &v), EINVAL);
}

static void size_parser_rejects_overflow_with_erange_and_takes_the_largest_value(void **state)
{
    (void)state;
    const char *big[] = {"18446744073709551616", "99999999999999999999", "17179869184G",
                         "16777216T", "18014398509481984K", "999999999999999999999999999999"};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        size_t v = 12345;
        if (hpi_options_parse_size(big[i], &v) != ERANGE)
            fail_msg("\"%s\" was not rejected with ERANGE", big[i]);
        assert_int_equal(v, 12345);
    }
    size_t v;
    assert_int_equal(hpi_options_parse_size("18446744073709551615", &v), 0);
    assert_true(v == SIZE_MAX);
    assert_int_equal(hpi_options_parse_size("16777215T", &v), 0);
    assert_true(v == (size_t)16777215 << 40);
    assert_int_equal(hpi_options_parse_size("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(hpi_options_parse_size("000000000000000000000000001G", &v), 0);
    assert_int_equal(v, HPI_1GB);
}

static void bool_parser_takes_only_the_eight_words_in_any_case(void **state)
{
    (void)state;
    const char *bad[] = {"", "2", "-1", "yes ", " 1", "0x1", "y", "n", "tru", "onn", "1G", "garbage"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool b = true;
        if (hpi_options_parse_bool(bad[i], &b) != EINVAL)
            fail_msg("\"%s\" was not rejected with EINVAL", bad[i]);
        assert_true(b); /* untouched */
    }
    const char *yes[] = {"1", "YES", "On", "tRuE"}, *no[] = {"0", "NO", "oFF", "False"};
    for (size_t i = 0; i < 4; i++) {
        bool b = false;
        assert_int_equal(hpi_options_parse_bool(yes[i], &b), 0);
        assert_true(b);
        assert_int_equal(hpi_options_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
}

/* Reloads the options with name=value while stderr goes to a pipe; returns
 * what was written. */
static void reload_capturing(const char *name, const char *value, char *out, size_t cap)
{
    int fds[2], saved = dup(2);
    assert_int_equal(pipe(fds), 0);
    dup2(fds[1], 2);
    setenv(name, value, 1);
    hpi_options_reload();
    unsetenv(name);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    hp_test_read_all(fds[0], out, cap);
    close(fds[0]);
    hpi_options_reload();
}

static void a_bad_option_value_gives_one_line_naming_the_variable_and_the_default(void **state)
{
    (void)state;
    static char value[100000];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    value[10] = '\n'; /* an embedded newline must not split or forge a line */
    for (int i = 0; i < hpi_option_ndocs; i++) {
        char out[2048];
        reload_capturing(hpi_option_docs[i].name, value, out, sizeof out);
        char *nl = strchr(out, '\n');
        assert_non_null(nl);
        assert_int_equal(nl[1], '\0'); /* exactly one line */
        *nl = '\0';
        char want[256];
        snprintf(want, sizeof want, "hugepage: %s=", hpi_option_docs[i].name);
        assert_int_equal(strncmp(out, want, strlen(want)), 0);
        snprintf(want, sizeof want, "using the default, %s", hpi_option_docs[i].fallback);
        size_t len = strlen(out), wlen = strlen(want);
        assert_true(len >= wlen);
        assert_string_equal(out + len - wlen, want);
    }
    /* The defaults are what is in force. */
    const struct hpi_options *o = hpi_options_get();
    assert_int_equal(o->mode, HPI_MODE_AUTO);
    assert_int_equal(o->reserve, 0);
    assert_false(o->verbose);
    assert_false(o->secure);
    still_works();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(hp_page_sizes_rejects_a_negative_max_or_a_null_array_with_einval),
    cmocka_unit_test(hp_pool_rejects_null_and_sizes_the_kernel_lacks_with_einval),
    cmocka_unit_test(hp_map_rejects_every_unknown_flag_bit_and_conflicting_sizes),
    cmocka_unit_test(hp_map_of_absurd_lengths_is_enomem_with_every_flag),
    cmocka_unit_test(hp_map_of_one_byte_rounds_up_to_a_whole_page),
    cmocka_unit_test(hp_unmap_refuses_absurd_lengths_and_heap_pointers_and_keeps_them),
    cmocka_unit_test(hp_backing_of_wild_pointers_is_unknown_and_keeps_errno),
    cmocka_unit_test(hp_memfd_rejects_absurd_page_sizes_and_flags_with_einval),
    cmocka_unit_test(hp_memfd_takes_null_and_empty_names_and_names_up_to_the_kernel_limit),
    cmocka_unit_test(hp_malloc_of_absurd_sizes_is_enomem),
    cmocka_unit_test(hp_malloc_of_zero_gives_distinct_freeable_pointers),
    cmocka_unit_test(hp_calloc_whose_product_overflows_is_enomem),
    cmocka_unit_test(hp_calloc_with_a_zero_count_or_size_gives_a_freeable_pointer),
    cmocka_unit_test(hp_realloc_to_an_absurd_size_is_enomem_and_keeps_the_object),
    cmocka_unit_test(hp_realloc_of_null_to_zero_mallocs_and_to_zero_frees_without_error),
    cmocka_unit_test(hp_aligned_alloc_rejects_every_non_power_of_two_with_einval),
    cmocka_unit_test(hp_aligned_alloc_with_an_absurd_power_of_two_or_size_is_enomem),
    cmocka_unit_test(hp_aligned_alloc_with_alignments_one_and_two_acts_as_malloc),
    cmocka_unit_test(hp_usable_size_of_pointers_not_from_the_heap_is_zero),
    cmocka_unit_test(hp_trim_with_nothing_cached_returns_zero_and_keeps_errno),
    cmocka_unit_test(hp_stats_of_null_does_nothing),
    cmocka_unit_test(hp_stats_print_to_null_is_einval_and_to_a_failing_stream_eio),
    cmocka_unit_test(hp_stats_print_takes_any_nonzero_json_as_json),
    cmocka_unit_test(size_parser_rejects_garbage_and_negative_numbers_with_einval),
    cmocka_unit_test(size_parser_rejects_overflow_with_erange_and_takes_the_largest_value),
    cmocka_unit_test(bool_parser_takes_only_the_eight_words_in_any_case),
    cmocka_unit_test(a_bad_option_value_gives_one_line_naming_the_variable_and_the_default),
};

HP_TEST_MAIN(tests)
