/* testutil.h: what every unit test shares, on top of cmocka.
 *
 *  - hp_test_fixture(name, buf, cap): read tests/fixtures/<name> into buf.
 *  - hp_test_need_pool(npages, page_size): skip this test (cmocka skip, and
 *    the process exits 77 at the end) when the pool has fewer free pages, or
 *    fail outright when HUGEPAGE_TEST_REQUIRE_POOL=1 (CI reserved a pool, so
 *    a skip there would hide a broken hugetlb path).
 *  - hp_test_smaps(p, vma): the VMA of /proc/self/smaps holding p: the one
 *    place tests check huge-page claims, against the kernel, not our counters.
 *  - hp_test_read_all(fd, buf, cap): everything fd gives until EOF (at most
 *    cap - 1 bytes), NUL-terminated: a child's or a redirected stderr.
 *  - HP_TEST_MAIN(tests): runs the group and maps skips to exit code 77. */
#ifndef HP_TESTUTIL_H
#define HP_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hugepage.h"
#include "sysinfo.h"

static int hp_test_skipped;

static inline void hp_test_skip(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    hp_test_skipped = 1;
    skip();
}

static inline int hp_test_pool_required(void)
{
    const char *v = getenv("HUGEPAGE_TEST_REQUIRE_POOL");
    return v && strcmp(v, "1") == 0;
}

/* Free pages a new mapping of page_size could still reserve. */
static inline unsigned long hp_test_pool_available(size_t page_size)
{
    struct hp_pool pool;
    if (hp_pool(page_size, &pool) != 0)
        return 0;
    return pool.free > pool.reserved ? pool.free - pool.reserved : 0;
}

/* Skip (or fail under CI) unless npages of page_size are free in the pool. */
#define hp_test_need_pool(npages, page_size)                                            \
    do {                                                                                \
        unsigned long avail_ = hp_test_pool_available(page_size);                       \
        if (avail_ < (unsigned long)(npages)) {                                         \
            char why_[160];                                                             \
            snprintf(why_, sizeof why_,                                                 \
                     "needs %lu free hugetlb pages of %zu KiB, pool has %lu "           \
                     "(reserve with: echo N > /proc/sys/vm/nr_hugepages)",              \
                     (unsigned long)(npages), (size_t)(page_size) / 1024, avail_);      \
            if (hp_test_pool_required())                                                \
                fail_msg("HUGEPAGE_TEST_REQUIRE_POOL=1 but %s", why_);                  \
            hp_test_skip(why_);                                                         \
        }                                                                               \
    } while (0)

#define hp_test_need_root()                                                             \
    do {                                                                                \
        if (geteuid() != 0) {                                                           \
            if (hp_test_pool_required())                                                \
                fail_msg("HUGEPAGE_TEST_REQUIRE_POOL=1 but not running as root");       \
            hp_test_skip("needs root");                                                 \
        }                                                                               \
    } while (0)

static inline size_t hp_test_fixture(const char *name, char *buf, size_t cap)
{
    const char *dir = getenv("HP_FIXTURES");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* The smaps record of the VMA holding p; fails the test when there is none. */
static inline size_t hp_test_read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

static inline struct hpi_vma hp_test_smaps(const void *p)
{
    struct hpi_vma vma;
    int err = hpi_sysinfo_vma_at(0, (uintptr_t)p, &vma);
    if (err)
        fail_msg("no VMA in /proc/self/smaps holds %p (error %d)", p, err);
    return vma;
}

/* Touch every base page of [p, p+len) so the kernel backs it. */
static inline void hp_test_touch(void *p, size_t len)
{
    volatile char *c = p;
    for (size_t i = 0; i < len; i += 4096)
        c[i] = 1;
}

#define HP_TEST_MAIN(tests)                                                             \
    int main(void)                                                                      \
    {                                                                                   \
        int failed_ = cmocka_run_group_tests(tests, NULL, NULL);                        \
        if (failed_)                                                                    \
            return 1;                                                                   \
        return hp_test_skipped ? 77 : 0;                                                \
    }

#endif /* HP_TESTUTIL_H */
