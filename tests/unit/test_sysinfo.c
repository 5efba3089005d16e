/* test_sysinfo.c: the discovery layer. Parsers on captured and broken
 * fixtures (tests/fixtures), live readers against what this test reads from
 * /proc and /sys itself with stdio, and the fuzz corpus replayed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "internal.h"
#include "testutil.h"

#include "fuzz/fuzz_sysinfo.c"

#define FIXTURE_CAP (1u << 20)
static char fixture_buf[FIXTURE_CAP];

static const char *fixture(const char *name)
{
    hp_test_fixture(name, fixture_buf, sizeof fixture_buf);
    return fixture_buf;
}

/* A value from a file read with stdio: the independent witness for live tests. */
static bool read_ul(const char *path, unsigned long *out)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%lu", out) == 1;
    fclose(f);
    return ok;
}

static size_t meminfo_kb(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t kb = 0, n = strlen(key);
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':')
            kb = strtoul(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- meminfo -------------------------------------------------------------------------- */

static void meminfo_from_this_machine_gives_the_pool_and_page_size(void **state)
{
    (void)state;
    struct hpi_meminfo mi;
    assert_int_equal(hpi_sysinfo_parse_meminfo(fixture("meminfo"), &mi), 0);
    /* Captured with a 600-page 2 MiB pool and one 1 GiB page reserved. */
    assert_int_equal(mi.hugepagesize, 2u << 20);
    assert_int_equal(mi.hp_total, 600);
    assert_true(mi.hp_free <= mi.hp_total);
    assert_int_equal(mi.hugetlb, 600 * (2u << 20) + (1u << 30));
    assert_true(mi.mem_total > mi.mem_free && mi.mem_total >= mi.mem_available);
    unsigned all = HPI_MEMINFO_HAVE_HUGEPAGESIZE | HPI_MEMINFO_HAVE_POOL |
                   HPI_MEMINFO_HAVE_HUGETLB | HPI_MEMINFO_HAVE_ANONHUGE | HPI_MEMINFO_HAVE_MEM;
    assert_int_equal(mi.have, all);
}

static void meminfo_of_a_kernel_without_hugetlb_reports_no_page_size(void **state)
{
    (void)state;
    struct hpi_meminfo mi;
    assert_int_equal(hpi_sysinfo_parse_meminfo(fixture("meminfo.no_hugetlb"), &mi), 0);
    assert_int_equal(mi.hugepagesize, 0);
    assert_int_equal(mi.have & (HPI_MEMINFO_HAVE_HUGEPAGESIZE | HPI_MEMINFO_HAVE_POOL), 0);
    assert_true(mi.have & HPI_MEMINFO_HAVE_MEM);
}

static void meminfo_ignores_a_very_long_unknown_line(void **state)
{
    (void)state;
    struct hpi_meminfo mi;
    assert_int_equal(hpi_sysinfo_parse_meminfo(fixture("meminfo.long_unknown_line"), &mi), 0);
    assert_int_equal(mi.hugepagesize, 2u << 20);
}

static void meminfo_rejects_broken_text_with_the_right_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int err;
    } cases[] = {
        {"meminfo.mb_unit", EINVAL},          {"meminfo.no_unit", EINVAL},
        {"meminfo.missing_pool_line", ENOENT}, {"meminfo.count_overflow", ERANGE},
        {"meminfo.kb_overflow", ERANGE},      {"meminfo.no_newline_at_eof", EINVAL},
        {"meminfo.truncated", EINVAL},        {"meminfo.empty", ENOENT},
        {"meminfo.duplicate", EINVAL},        {"meminfo.zero_hugepagesize", EINVAL},
        {"meminfo.negative", EINVAL},         {"meminfo.long_garbage_line", EINVAL},
        {"garbage.bin", EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hpi_meminfo mi;
        int err = hpi_sysinfo_parse_meminfo(fixture(cases[i].name), &mi);
        if (err != cases[i].err)
            fail_msg("%s: got %d, want %d", cases[i].name, err, cases[i].err);
    }
}

/* ---- single values ----------------------------------------------------------------------- */

static void sysfs_numbers_parse_exactly_and_reject_everything_else(void **state)
{
    (void)state;
    unsigned long v = 7;
    assert_int_equal(hpi_sysinfo_parse_ulong("512\n", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(hpi_sysinfo_parse_ulong("0", &v), 0); /* no newline at EOF */
    assert_int_equal(v, 0);
    assert_int_equal(hpi_sysinfo_parse_ulong("18446744073709551615\n", &v), 0);
    assert_true(v == ULONG_MAX);
    assert_int_equal(hpi_sysinfo_parse_ulong("18446744073709551616\n", &v), ERANGE);
    const char *bad[] = {"", "\n", "-1", " 5", "5 kB", "5x", "0x10", "1.5", "12\n34"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hpi_sysinfo_parse_ulong(bad[i], &v) != EINVAL)
            fail_msg("parse_ulong accepted \"%s\"", bad[i]);
}

static void cgroup_limits_read_max_and_numbers(void **state)
{
    (void)state;
    size_t limit = 0;
    assert_int_equal(hpi_sysinfo_parse_limit("max\n", &limit), 0);
    assert_true(limit == SIZE_MAX);
    assert_int_equal(hpi_sysinfo_parse_limit("1073741824\n", &limit), 0);
    assert_int_equal(limit, 1u << 30);
    assert_int_equal(hpi_sysinfo_parse_limit("maximum\n", &limit), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_limit("", &limit), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_limit("99999999999999999999999\n", &limit), ERANGE);
}

static void pool_directory_names_give_page_sizes_in_bytes(void **state)
{
    (void)state;
    size_t size = 0;
    assert_int_equal(hpi_sysinfo_parse_pool_dirname("hugepages-2048kB", &size), 0);
    assert_int_equal(size, 2u << 20);
    assert_int_equal(hpi_sysinfo_parse_pool_dirname("hugepages-1048576kB", &size), 0);
    assert_int_equal(size, 1u << 30);
    const char *bad[] = {"", "hugepages-", "hugepages-2048", "hugepages-2048MB", "hugepages-0kB",
                         "hugepages-2048kB/", "xhugepages-2048kB", "hugepages--2048kB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hpi_sysinfo_parse_pool_dirname(bad[i], &size) != EINVAL)
            fail_msg("parse_pool_dirname accepted \"%s\"", bad[i]);
    assert_int_equal(hpi_sysinfo_parse_pool_dirname("hugepages-18014398509481984kB", &size),
                     ERANGE);
}

static void node_lists_expand_ranges(void **state)
{
    (void)state;
    int nodes[8], count;
    assert_int_equal(hpi_sysinfo_parse_nodelist("0\n", nodes, 8, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(nodes[0], 0);
    assert_int_equal(hpi_sysinfo_parse_nodelist("0-2,5,7-8\n", nodes, 8, &count), 0);
    int want[] = {0, 1, 2, 5, 7, 8};
    assert_int_equal(count, 6);
    assert_memory_equal(nodes, want, sizeof want);
    assert_int_equal(hpi_sysinfo_parse_nodelist("\n", nodes, 8, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(hpi_sysinfo_parse_nodelist("0-9\n", nodes, 8, &count), ENOSPC);
    assert_int_equal(count, 10);
    assert_int_equal(hpi_sysinfo_parse_nodelist("3-1\n", nodes, 8, &count), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_nodelist("0,\n", nodes, 8, &count), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_nodelist("0-\n", nodes, 8, &count), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_nodelist("a\n", nodes, 8, &count), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_nodelist("0-99999\n", nodes, 8, &count), ERANGE);
}

/* ---- THP ------------------------------------------------------------------------------------ */

static void thp_files_give_the_bracketed_mode(void **state)
{
    (void)state;
    enum hpi_thp_mode m;
    assert_int_equal(hpi_sysinfo_parse_thp(fixture("thp_enabled"), &m), 0);
    assert_int_equal(m, HPI_THP_MADVISE); /* captured on a madvise-mode machine */
    assert_int_equal(hpi_sysinfo_parse_thp(fixture("thp_defrag"), &m), 0);
    assert_int_equal(m, HPI_THP_MADVISE);
    assert_int_equal(hpi_sysinfo_parse_thp(fixture("thp.shmem"), &m), 0);
    assert_int_equal(m, HPI_THP_NEVER);
    assert_int_equal(hpi_sysinfo_parse_thp("always defer [defer+madvise] madvise never", &m), 0);
    assert_int_equal(m, HPI_THP_DEFER_MADVISE);
    assert_string_equal(hpi_sysinfo_thp_name(m), "defer+madvise");
    assert_string_equal(hpi_sysinfo_thp_name((enum hpi_thp_mode)99), "unknown");
    const char *bad[] = {"thp.no_brackets", "thp.two_selected", "thp.unknown_mode", "thp.empty",
                         "garbage.bin"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hpi_sysinfo_parse_thp(fixture(bad[i]), &m) != EINVAL)
            fail_msg("parse_thp accepted %s", bad[i]);
    assert_int_equal(hpi_sysinfo_parse_thp("[]", &m), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_thp("always [madvise never", &m), EINVAL);
}

/* ---- mountinfo ---------------------------------------------------------------------------- */

static void mountinfo_finds_hugetlbfs_mounts_with_escaped_paths(void **state)
{
    (void)state;
    struct hpi_mount m[4];
    int count;
    assert_int_equal(hpi_sysinfo_parse_mountinfo(fixture("mountinfo"), 2u << 20, m, 4, &count), 0);
    assert_int_equal(count, 2);
    /* Mounted for the capture in a temp dir with a space and a tab in its name. */
    assert_string_equal(m[0].path, "/tmp/hp fixture.T524/two mb");
    assert_int_equal(m[0].page_size, 2u << 20);
    assert_true(m[0].has_uid && m[0].uid == 1000 && m[0].has_gid && m[0].gid == 100);
    assert_true(m[0].has_mode && m[0].mode == 01770);
    assert_int_equal(m[0].size_limit, 64u << 20);
    assert_string_equal(m[1].path, "/tmp/hp fixture.T524/one\tgb");
    assert_int_equal(m[1].page_size, 1u << 30); /* the kernel writes "pagesize=1024M" */
    assert_false(m[1].has_uid || m[1].has_gid || m[1].has_mode);
    assert_int_equal(m[1].mode, 0755);
}

static void mountinfo_reads_every_pagesize_spelling_and_the_default(void **state)
{
    (void)state;
    struct hpi_mount m[8];
    int count;
    size_t def = 4u << 20; /* a default no pagesize= above spells: it must be used */
    assert_int_equal(hpi_sysinfo_parse_mountinfo(fixture("mountinfo.units"), def, m, 8, &count), 0);
    assert_int_equal(count, 4);
    assert_string_equal(m[0].path, "/mnt/k");
    assert_int_equal(m[0].page_size, 2u << 20); /* 2048k */
    assert_int_equal(m[1].page_size, 1u << 30); /* 1G */
    assert_int_equal(m[1].size_limit, 0);       /* 50% is not a byte count */
    assert_string_equal(m[2].path, "/mnt/default");
    assert_int_equal(m[2].page_size, def);
    assert_string_equal(m[3].path, "/mnt/back\\slash\nnl");
    assert_int_equal(m[3].mode, 0700);
    assert_int_equal(m[3].size_limit, (size_t)4 << 30);
    /* Too small an array: the first ones filled, the true count, ENOSPC. */
    assert_int_equal(hpi_sysinfo_parse_mountinfo(fixture("mountinfo.units"), def, m, 1, &count),
                     ENOSPC);
    assert_int_equal(count, 4);
    assert_string_equal(m[0].path, "/mnt/k");
}

static void mountinfo_skips_a_very_long_line_of_another_fs(void **state)
{
    (void)state;
    struct hpi_mount m[4];
    int count;
    assert_int_equal(
        hpi_sysinfo_parse_mountinfo(fixture("mountinfo.long_line_other_fs"), 0, m, 4, &count), 0);
    assert_int_equal(count, 3);
    assert_string_equal(m[2].path, "/mnt/k");
}

static void mountinfo_rejects_broken_text_with_the_right_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int err;
    } cases[] = {
        {"mountinfo.bad_escape", EINVAL},         {"mountinfo.no_separator", EINVAL},
        {"mountinfo.extra_field", EINVAL},        {"mountinfo.bad_pagesize_unit", EINVAL},
        {"mountinfo.pagesize_overflow", ERANGE},  {"mountinfo.pagesize_shift_overflow", ERANGE},
        {"mountinfo.bad_mode", EINVAL},           {"mountinfo.bad_id", EINVAL},
        {"mountinfo.no_newline_at_eof", EINVAL},  {"mountinfo.truncated", EINVAL},
        {"mountinfo.long_path", ENAMETOOLONG},    {"mountinfo.empty", EINVAL},
        {"garbage.bin", EINVAL},                  {"meminfo", EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hpi_mount m[4];
        int count;
        int err = hpi_sysinfo_parse_mountinfo(fixture(cases[i].name), 2u << 20, m, 4, &count);
        if (err != cases[i].err)
            fail_msg("%s: got %d, want %d", cases[i].name, err, cases[i].err);
    }
}

/* ---- smaps -------------------------------------------------------------------------------- */

/* Header lines counted with sscanf: the witness for the record walk. */
static int count_smaps_headers(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        unsigned long a, b;
        char dash;
        if (sscanf(p, "%lx%c%lx", &a, &dash, &b) == 3 && dash == '-')
            n++;
    }
    return n;
}

static void smaps_of_this_machine_shows_hugetlb_thp_and_base_records(void **state)
{
    (void)state;
    const char *text = fixture("smaps");
    size_t len = strlen(text), pos = 0, used;
    int records = 0, hugetlb = 0, thp = 0;
    uintptr_t last_end = 0;
    struct hpi_vma v;
    while (pos < len) {
        int err = hpi_sysinfo_parse_smaps_vma(text + pos, len - pos, true, &v, &used);
        if (err)
            fail_msg("record %d at offset %zu: error %d", records, pos, err);
        assert_true(v.start >= last_end && v.size == v.end - v.start);
        last_end = v.end;
        if (v.hugetlb) {
            /* The capture's MAP_HUGETLB mapping: one touched 2 MiB page. */
            hugetlb++;
            assert_int_equal(v.kernel_page_size, 2u << 20);
            assert_int_equal(v.private_hugetlb, 2u << 20);
            assert_int_equal(v.size, 2u << 20);
        } else if (v.anon_huge) {
            /* The capture's MADV_HUGEPAGE mapping, faulted as one THP. */
            thp++;
            assert_int_equal(v.anon_huge, 2u << 20);
            assert_true(v.thp_advised);
            assert_int_equal(v.kernel_page_size, 4096);
            assert_int_equal(v.thp_eligible, 1);
        } else {
            assert_int_equal(v.kernel_page_size, 4096);
        }
        pos += used;
        records++;
    }
    assert_int_equal(records, count_smaps_headers(text));
    assert_int_equal(hugetlb, 1);
    assert_int_equal(thp, 1);
}

static void smaps_streamed_through_a_small_buffer_gives_the_same_records(void **state)
{
    (void)state;
    static char copy[FIXTURE_CAP];
    const char *text = fixture("smaps");
    size_t len = strlen(text);
    memcpy(copy, text, len);
    /* Reference: the whole text at once. */
    static struct hpi_vma whole[512];
    size_t pos = 0, used, n = 0;
    while (pos < len && n < 512) {
        assert_int_equal(hpi_sysinfo_parse_smaps_vma(copy + pos, len - pos, true, &whole[n], &used), 0);
        pos += used;
        n++;
    }
    /* Streamed: a 2 KiB window that slides as records complete, as
     * hpi_sysinfo_each_vma does with its buffer. */
    size_t start = 0, have = 0, k = 0;
    const size_t window = 2048;
    while (start < len) {
        bool eof = start + have == len;
        struct hpi_vma v;
        int err = hpi_sysinfo_parse_smaps_vma(copy + start, have, eof, &v, &used);
        if (err == EAGAIN) {
            assert_true(have < window); /* every record fits the window */
            have = len - start < window ? len - start : window;
            continue;
        }
        assert_int_equal(err, 0);
        assert_true(k < n);
        assert_true(v.start == whole[k].start && v.end == whole[k].end);
        assert_int_equal(v.rss, whole[k].rss);
        assert_string_equal(v.name, whole[k].name);
        k++;
        start += used;
        have -= used;
    }
    assert_int_equal(k, n);
}

static void smaps_reads_a_named_anonymous_mapping(void **state)
{
    (void)state;
    const char *text = fixture("smaps.anon_name");
    struct hpi_vma v;
    size_t used;
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, strlen(text), true, &v, &used), 0);
    assert_string_equal(v.name, "[anon:hugepage]");
    assert_string_equal(v.perms, "rw-p");
    assert_int_equal(used, strlen(text));
}

static void smaps_truncates_a_very_long_name(void **state)
{
    (void)state;
    const char *text = fixture("smaps.long_name");
    struct hpi_vma v;
    size_t used;
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, strlen(text), true, &v, &used), 0);
    assert_int_equal(strlen(v.name), HPI_PATH_MAX - 1);
    assert_int_equal(v.name[0], '/');
}

static void smaps_waits_for_more_text_until_a_record_is_whole(void **state)
{
    (void)state;
    const char *text = fixture("smaps.truncated");
    struct hpi_vma v;
    size_t used;
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, strlen(text), false, &v, &used), EAGAIN);
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, strlen(text), true, &v, &used), EINVAL);
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, 0, false, &v, &used), EAGAIN);
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, 0, true, &v, &used), EINVAL);
    /* A whole record followed by nothing yet: only EOF says it is complete. */
    text = fixture("smaps.anon_name");
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(text, strlen(text), false, &v, &used), EAGAIN);
}

static void smaps_rejects_broken_records_with_the_right_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int err;
    } cases[] = {
        {"smaps.mb_unit", EINVAL},         {"smaps.missing_kernelpagesize", ENOENT},
        {"smaps.size_mismatch", EINVAL},   {"smaps.address_overflow", ERANGE},
        {"smaps.reversed_range", EINVAL},  {"smaps.bad_perms", EINVAL},
        {"smaps.garbage_line", EINVAL},    {"smaps.kb_overflow", ERANGE},
        {"garbage.bin", EINVAL},           {"meminfo", EINVAL},
        {"mountinfo", EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = fixture(cases[i].name);
        struct hpi_vma v;
        size_t used;
        int err = hpi_sysinfo_parse_smaps_vma(text, strlen(text), true, &v, &used);
        if (err != cases[i].err)
            fail_msg("%s: got %d, want %d", cases[i].name, err, cases[i].err);
    }
    /* Binary garbage with NUL bytes inside the length. */
    static const char nul[] = "1000-2000 rw-p 00000000 00:00 0 a\0b\nSize: 4 kB\n";
    struct hpi_vma v;
    size_t used;
    assert_int_equal(hpi_sysinfo_parse_smaps_vma(nul, sizeof nul - 1, true, &v, &used), EINVAL);
}

/* ---- live readers ---------------------------------------------------------------------------- */

static void the_default_page_size_is_what_meminfo_says(void **state)
{
    (void)state;
    assert_int_equal(hp_page_size(), meminfo_kb("Hugepagesize") * 1024);
    assert_int_equal(hpi_sysinfo_default_page_size(), hp_page_size()); /* cached, same */
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static void the_page_sizes_are_the_hugepages_directory_listing(void **state)
{
    (void)state;
    size_t want[16];
    int nwant = 0;
    DIR *d = opendir("/sys/kernel/mm/hugepages");
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        unsigned long kb;
        char tail[8];
        if (sscanf(e->d_name, "hugepages-%lu%7s", &kb, tail) == 2 && strcmp(tail, "kB") == 0)
            want[nwant++] = kb * 1024;
    }
    if (d)
        closedir(d);
    qsort(want, (size_t)nwant, sizeof want[0], cmp_size);
    assert_int_equal(hp_page_sizes(NULL, 0), nwant);
    size_t got[16];
    assert_int_equal(hp_page_sizes(got, 16), nwant);
    assert_memory_equal(got, want, (size_t)nwant * sizeof want[0]);
    for (int i = 0; i < nwant; i++)
        assert_true(hpi_sysinfo_page_size_supported(want[i]));
    assert_false(hpi_sysinfo_page_size_supported(3u << 20));
    if (nwant > 1) { /* a short array gets the smallest sizes and the full count */
        size_t one = 0;
        assert_int_equal(hp_page_sizes(&one, 1), nwant);
        assert_int_equal(one, want[0]);
    }
}

static void hp_page_sizes_and_hp_pool_reject_bad_arguments(void **state)
{
    (void)state;
    struct hp_pool p;
    errno = 0;
    assert_int_equal(hp_page_sizes(NULL, 1), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    size_t s;
    assert_int_equal(hp_page_sizes(&s, -1), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(hp_pool(3u << 20, &p), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(hp_pool(0, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

/* Reads one pool counter of the sysfs pool directory with stdio. */
static unsigned long sys_pool(const char *dir, size_t page_size, const char *file)
{
    char path[256];
    unsigned long v = ~0ul;
    snprintf(path, sizeof path, "%s/hugepages-%zukB/%s", dir, page_size / 1024, file);
    if (!read_ul(path, &v))
        fail_msg("cannot read %s", path);
    return v;
}

/* Other tests share the pool: compare only when the witness read the same
 * values before and after hp_pool. */
static void hp_pool_of_2mb_equals_what_sys_says(void **state)
{
    (void)state;
    if (!hpi_sysinfo_page_size_supported(2u << 20))
        hp_test_skip("the kernel has no 2 MiB huge pages");
    const char *dir = "/sys/kernel/mm/hugepages";
    for (int attempt = 0; attempt < 20; attempt++) {
        unsigned long before[5], after[5];
        const char *files[5] = {"nr_hugepages", "free_hugepages", "resv_hugepages",
                                "surplus_hugepages", "nr_overcommit_hugepages"};
        struct hp_pool p, p0;
        for (int i = 0; i < 5; i++)
            before[i] = sys_pool(dir, 2u << 20, files[i]);
        assert_int_equal(hp_pool(2u << 20, &p), 0);
        assert_int_equal(hp_pool(0, &p0), 0); /* 0 = the default size */
        for (int i = 0; i < 5; i++)
            after[i] = sys_pool(dir, 2u << 20, files[i]);
        if (memcmp(before, after, sizeof before) != 0)
            continue;
        assert_int_equal(p.page_size, 2u << 20);
        assert_int_equal(p.total, before[0]);
        assert_int_equal(p.free, before[1]);
        assert_int_equal(p.reserved, before[2]);
        assert_int_equal(p.surplus, before[3]);
        assert_int_equal(p.overcommit, before[4]);
        if (hp_page_size() == (2u << 20))
            assert_memory_equal(&p, &p0, sizeof p);
        return;
    }
    fail_msg("the 2 MiB pool kept changing while being read");
}

static void node_pools_equal_the_node_directories(void **state)
{
    (void)state;
    int nodes[HPI_MAX_NODES];
    int n = hpi_sysinfo_nodes(nodes, HPI_MAX_NODES);
    int want = 0;
    for (int id = 0; id < 1024; id++) {
        char path[128];
        struct stat st;
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d/hugepages", id);
        if (stat(path, &st) == 0) {
            assert_true(want < n);
            assert_int_equal(nodes[want], id);
            want++;
        }
    }
    assert_int_equal(n, want);
    if (n == 0)
        hp_test_skip("no NUMA node directories");
    size_t size = hp_page_size();
    char dir[128];
    snprintf(dir, sizeof dir, "/sys/devices/system/node/node%d/hugepages", nodes[0]);
    struct hp_pool p;
    assert_int_equal(hpi_sysinfo_pool(size, nodes[0], &p), 0);
    assert_int_equal(p.total, sys_pool(dir, size, "nr_hugepages"));
    assert_int_equal(p.reserved, 0);
    assert_int_equal(hpi_sysinfo_pool(size, 1000, &p), ENOENT);
    assert_int_equal(hpi_sysinfo_pool(3u << 20, nodes[0], &p), EINVAL);
}

static void thp_settings_are_the_bracketed_words_of_sys(void **state)
{
    (void)state;
    enum hpi_thp_mode enabled, defrag;
    assert_int_equal(hpi_sysinfo_thp(&enabled, &defrag), 0);
    const char *paths[2] = {"/sys/kernel/mm/transparent_hugepage/enabled",
                            "/sys/kernel/mm/transparent_hugepage/defrag"};
    enum hpi_thp_mode got[2] = {enabled, defrag};
    for (int i = 0; i < 2; i++) {
        char line[256], *open, *close;
        FILE *f = fopen(paths[i], "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof line, f));
        fclose(f);
        open = strchr(line, '[');
        close = strchr(line, ']');
        assert_true(open && close);
        *close = '\0';
        assert_string_equal(hpi_sysinfo_thp_name(got[i]), open + 1);
    }
}

static char mount_top[64], mount_dir[256], deep_dir[4096];

/* Unmounts and removes what the mount test made, also when it failed. */
static int unmount_test_dir(void **state)
{
    (void)state;
    if (mount_dir[0])
        umount2(mount_dir, MNT_DETACH), rmdir(mount_dir);
    if (deep_dir[0]) {
        umount2(deep_dir, MNT_DETACH);
        for (char *slash; strcmp(deep_dir, mount_top) != 0 && (slash = strrchr(deep_dir, '/'));
             *slash = '\0')
            rmdir(deep_dir);
    }
    if (mount_top[0])
        rmdir(mount_top);
    mount_top[0] = mount_dir[0] = deep_dir[0] = '\0';
    return 0;
}

/* A tmpfs at a path of 14 levels of 200 spaces: its mountinfo line, every
 * space written as \040, is over 11 KiB, longer than the reader's buffer. */
static void mount_deep_tmpfs(void)
{
    size_t n = strlen(mount_top);
    memcpy(deep_dir, mount_top, n + 1);
    for (int level = 0; level < 14; level++) {
        deep_dir[n++] = '/';
        memset(deep_dir + n, ' ', 200);
        n += 200;
        deep_dir[n] = '\0';
        assert_int_equal(mkdir(deep_dir, 0700), 0);
    }
    if (mount("none", deep_dir, "tmpfs", 0, "size=1M") != 0)
        fail_msg("mount tmpfs: %s", strerror(errno));
}

static void a_hugetlbfs_mounted_at_a_path_with_a_space_is_listed_past_a_long_line(void **state)
{
    (void)state;
    hp_test_need_root();
    size_t sizes[HPI_MAX_PAGE_SIZES];
    int n = hp_page_sizes(sizes, HPI_MAX_PAGE_SIZES);
    if (n == 0)
        hp_test_skip("no hugetlb support");
    size_t size = sizes[n - 1]; /* the largest: 1 GiB here, not the default */
    char opts[64];
    strcpy(mount_top, "/tmp/hp sysinfo.XXXXXX");
    assert_non_null(mkdtemp(mount_top));
    mount_deep_tmpfs();
    snprintf(mount_dir, sizeof mount_dir, "%s/huge pages", mount_top);
    assert_int_equal(mkdir(mount_dir, 0700), 0);
    snprintf(opts, sizeof opts, "pagesize=%zuK,mode=1770", size / 1024);
    if (mount("none", mount_dir, "hugetlbfs", 0, opts) != 0)
        fail_msg("mount hugetlbfs on %s: %s", mount_dir, strerror(errno));
    struct hpi_mount m[16];
    int count;
    assert_int_equal(hpi_sysinfo_mounts(m, 16, &count), 0);
    bool found = false;
    for (int i = 0; i < count && i < 16; i++) {
        if (strcmp(m[i].path, mount_dir) == 0) {
            found = true;
            assert_int_equal(m[i].page_size, size);
            assert_int_equal(m[i].mode, 01770);
        }
    }
    assert_true(found);
    /* Count only: max 0 and no array. */
    int count0;
    assert_int_equal(hpi_sysinfo_mounts(NULL, 0, &count0), count > 0 ? ENOSPC : 0);
    assert_int_equal(count0, count);
}

static void vma_at_reports_a_hugetlb_mapping_as_2mb_pages(void **state)
{
    (void)state;
    hp_test_need_pool(1, 2u << 20);
    size_t len = 2u << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1, 0);
    if (p == MAP_FAILED)
        hp_test_skip("MAP_HUGETLB failed: someone took the free pages");
    assert_int_equal((uintptr_t)p % len, 0);
    p[0] = 1;
    struct hpi_vma v;
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)p + len - 1, &v), 0);
    munmap(p, len);
    assert_true(v.hugetlb);
    assert_int_equal(v.start, (uintptr_t)p);
    assert_int_equal(v.end, (uintptr_t)p + len);
    assert_int_equal(v.kernel_page_size, 2u << 20);
    assert_int_equal(v.private_hugetlb, 2u << 20);
}

static void vma_at_reports_the_stack_as_base_pages(void **state)
{
    (void)state;
    volatile int local = 1;
    struct hpi_vma v;
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)&local, &v), 0);
    assert_false(v.hugetlb);
    assert_int_equal(v.kernel_page_size, 4096);
    assert_string_equal(v.name, "[stack]");
    assert_true(v.start <= (uintptr_t)&local && (uintptr_t)&local < v.end);
    /* Our own pid by number reads the same file. */
    struct hpi_vma w;
    assert_int_equal(hpi_sysinfo_vma_at(getpid(), (uintptr_t)&local, &w), 0);
    assert_int_equal(w.start, v.start);
}

static void vma_at_an_unmapped_address_is_enoent(void **state)
{
    (void)state;
    size_t len = 1u << 20;
    char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    munmap(p + 4096, len - 4096); /* keeps the first page, so the hole is not reused */
    struct hpi_vma v;
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)p + len / 2, &v), ENOENT);
    assert_int_equal(hpi_sysinfo_vma_at(0, 0, &v), ENOENT);
    assert_int_equal(hpi_sysinfo_vma_at(0, UINTPTR_MAX, &v), ENOENT);
    munmap(p, 4096);
}

struct walk {
    uintptr_t last_end;
    int count, stop_after;
    bool ordered;
};

static int walk_vma(const struct hpi_vma *v, void *arg)
{
    struct walk *w = arg;
    if (v->start < w->last_end || v->start >= v->end)
        w->ordered = false;
    w->last_end = v->end;
    w->count++;
    return w->count == w->stop_after ? 42 : 0;
}

static int count_maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    assert_non_null(f);
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void each_vma_visits_every_vma_in_ascending_order(void **state)
{
    (void)state;
    for (int attempt = 0; attempt < 10; attempt++) {
        struct walk w = {0, 0, 0, true};
        int before = count_maps_lines();
        assert_int_equal(hpi_sysinfo_each_vma(0, walk_vma, &w), 0);
        int after = count_maps_lines();
        assert_true(w.ordered);
        if (before != after)
            continue; /* stdio's buffers moved the map; read again */
        assert_int_equal(w.count, before);
        assert_true(w.count > 5);
        struct walk stop = {0, 0, 3, true};
        assert_int_equal(hpi_sysinfo_each_vma(0, walk_vma, &stop), 42);
        assert_int_equal(stop.count, 3);
        return;
    }
    fail_msg("/proc/self/maps kept changing");
}

static void live_readers_pass_on_open_failures(void **state)
{
    (void)state;
    struct hpi_vma v;
    int x = 0;
    hpi_os_fail_nth(HPI_OS_OPEN, 1, EMFILE);
    assert_int_equal(hpi_sysinfo_vma_at(0, (uintptr_t)&x, &v), EMFILE);
    struct hpi_mount m[1];
    int count;
    hpi_os_fail_nth(HPI_OS_OPEN, 1, EACCES);
    assert_int_equal(hpi_sysinfo_mounts(m, 1, &count), EACCES);
    assert_int_equal(hpi_sysinfo_each_vma(-5, walk_vma, NULL), EINVAL);
}

/* ---- fuzz regressions --------------------------------------------------------------------- */

static void every_fuzz_corpus_file_goes_through_the_parsers(void **state)
{
    (void)state;
    const char *src = getenv("HP_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_sysinfo", src ? src : ".");
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t n = fread(fixture_buf, 1, sizeof fixture_buf, f);
        fclose(f);
        LLVMFuzzerTestOneInput((const uint8_t *)fixture_buf, n);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(meminfo_from_this_machine_gives_the_pool_and_page_size),
    cmocka_unit_test(meminfo_of_a_kernel_without_hugetlb_reports_no_page_size),
    cmocka_unit_test(meminfo_ignores_a_very_long_unknown_line),
    cmocka_unit_test(meminfo_rejects_broken_text_with_the_right_error),
    cmocka_unit_test(sysfs_numbers_parse_exactly_and_reject_everything_else),
    cmocka_unit_test(cgroup_limits_read_max_and_numbers),
    cmocka_unit_test(pool_directory_names_give_page_sizes_in_bytes),
    cmocka_unit_test(node_lists_expand_ranges),
    cmocka_unit_test(thp_files_give_the_bracketed_mode),
    cmocka_unit_test(mountinfo_finds_hugetlbfs_mounts_with_escaped_paths),
    cmocka_unit_test(mountinfo_reads_every_pagesize_spelling_and_the_default),
    cmocka_unit_test(mountinfo_skips_a_very_long_line_of_another_fs),
    cmocka_unit_test(mountinfo_rejects_broken_text_with_the_right_error),
    cmocka_unit_test(smaps_of_this_machine_shows_hugetlb_thp_and_base_records),
    cmocka_unit_test(smaps_streamed_through_a_small_buffer_gives_the_same_records),
    cmocka_unit_test(smaps_reads_a_named_anonymous_mapping),
    cmocka_unit_test(smaps_truncates_a_very_long_name),
    cmocka_unit_test(smaps_waits_for_more_text_until_a_record_is_whole),
    cmocka_unit_test(smaps_rejects_broken_records_with_the_right_error),
    cmocka_unit_test(the_default_page_size_is_what_meminfo_says),
    cmocka_unit_test(the_page_sizes_are_the_hugepages_directory_listing),
    cmocka_unit_test(hp_page_sizes_and_hp_pool_reject_bad_arguments),
    cmocka_unit_test(hp_pool_of_2mb_equals_what_sys_says),
    cmocka_unit_test(node_pools_equal_the_node_directories),
    cmocka_unit_test(thp_settings_are_the_bracketed_words_of_sys),
    cmocka_unit_test_teardown(a_hugetlbfs_mounted_at_a_path_with_a_space_is_listed_past_a_long_line,
                              unmount_test_dir),
    cmocka_unit_test(vma_at_reports_a_hugetlb_mapping_as_2mb_pages),
    cmocka_unit_test(vma_at_reports_the_stack_as_base_pages),
    cmocka_unit_test(vma_at_an_unmapped_address_is_enoent),
    cmocka_unit_test(each_vma_visits_every_vma_in_ascending_order),
    cmocka_unit_test(live_readers_pass_on_open_failures),
    cmocka_unit_test(every_fuzz_corpus_file_goes_through_the_parsers),
};

HP_TEST_MAIN(tests)
