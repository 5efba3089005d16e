/* region_helpers.h: what test_region.c and test_os.c share on top of
 * testutil.h: counting this process's VMAs (to prove nothing leaked), setting
 * HUGEPAGE_MODE for the next maps, and whether THP can give huge pages here. */
#ifndef HP_REGION_HELPERS_H
#define HP_REGION_HELPERS_H

#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"
#include "testutil.h"

#define MB2 ((size_t)2 << 20)

static inline int count_one(const struct hpi_vma *vma, void *arg)
{
    (void)vma;
    ++*(int *)arg;
    return 0;
}

/* VMAs in /proc/self/smaps now. */
static inline int vma_count(void)
{
    int n = 0;
    assert_int_equal(hpi_sysinfo_each_vma(0, count_one, &n), 0);
    return n;
}

/* HUGEPAGE_MODE for the maps that follow; NULL restores the default. */
static inline void set_mode(const char *mode)
{
    if (mode)
        setenv("HUGEPAGE_MODE", mode, 1);
    else
        unsetenv("HUGEPAGE_MODE");
    hpi_options_reload();
}

static inline bool thp_available(void)
{
    enum hpi_thp_mode enabled, defrag;
    return hpi_sysinfo_thp(&enabled, &defrag) == 0 && enabled != HPI_THP_NEVER;
}

#endif /* HP_REGION_HELPERS_H */
