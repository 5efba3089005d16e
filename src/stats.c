/* stats.c: counters and their printing (side layer; calls nothing below it:
 * it reads atomics and formats). The heap's own figures (bytes
 * requested and in use) are summed per thread by heap.c, which registers a hook
 * here, so that counting never puts an atomic on the malloc fast path.
 * hp_stats_print is the one function of the library that uses stdio: it is
 * called by the user (or at exit under HUGEPAGE_STATS), never inside malloc. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

struct hpi_counters hpi_counters;

static void (*_Atomic heap_hook)(struct hp_stats *);

void hpi_stats_set_heap_hook(void (*fill)(struct hp_stats *))
{
    atomic_store_explicit(&heap_hook, fill, memory_order_release);
}

static size_t load(atomic_size_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

HP_EXPORT void hp_stats(struct hp_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof *st);
    st->mapped_hugetlb = load(&hpi_counters.mapped[HP_BACKING_HUGETLB]);
    st->mapped_thp = load(&hpi_counters.mapped[HP_BACKING_THP]);
    st->mapped_base = load(&hpi_counters.mapped[HP_BACKING_BASE]);
    st->blocks_held = load(&hpi_counters.blocks_held);
    st->blocks_cached = load(&hpi_counters.blocks_cached);
    st->fallback_thp = load(&hpi_counters.fallback_thp);
    st->fallback_base = load(&hpi_counters.fallback_base);
    st->collapse_ok = load(&hpi_counters.collapse_ok);
    st->collapse_failed = load(&hpi_counters.collapse_failed);
    st->released = load(&hpi_counters.released);
    st->region_hugetlb = load(&hpi_counters.region[HP_BACKING_HUGETLB]);
    st->region_thp = load(&hpi_counters.region[HP_BACKING_THP]);
    st->region_base = load(&hpi_counters.region[HP_BACKING_BASE]);
    void (*fill)(struct hp_stats *) = atomic_load_explicit(&heap_hook, memory_order_acquire);
    if (fill)
        fill(st);
}

/* One row of the table: name, value, and whether it is a byte count. */
struct row {
    const char *name;
    size_t value;
    int bytes;
};

HP_EXPORT int hp_stats_print(FILE *out, int json)
{
    if (!out) {
        errno = EINVAL;
        return -1;
    }
    struct hp_stats st;
    hp_stats(&st);
    const struct row rows[] = {
        {"requested", st.requested, 1},         {"in_use", st.in_use, 1},
        {"mapped_hugetlb", st.mapped_hugetlb, 1}, {"mapped_thp", st.mapped_thp, 1},
        {"mapped_base", st.mapped_base, 1},     {"blocks_held", st.blocks_held, 0},
        {"blocks_cached", st.blocks_cached, 0}, {"fallback_thp", st.fallback_thp, 0},
        {"fallback_base", st.fallback_base, 0}, {"collapse_ok", st.collapse_ok, 0},
        {"collapse_failed", st.collapse_failed, 0}, {"released", st.released, 1},
        {"region_hugetlb", st.region_hugetlb, 1}, {"region_thp", st.region_thp, 1},
        {"region_base", st.region_base, 1},
    };
    const int n = (int)(sizeof rows / sizeof rows[0]);
    int err = 0;
    if (json) {
        err |= fputs("{", out) < 0;
        for (int i = 0; i < n; i++)
            err |= fprintf(out, "%s\"%s\": %zu", i ? ", " : "", rows[i].name, rows[i].value) < 0;
        err |= fputs("}\n", out) < 0;
    } else {
        size_t mapped = st.mapped_hugetlb + st.mapped_thp + st.mapped_base;
        double huge = mapped ? 100.0 * (double)(st.mapped_hugetlb + st.mapped_thp) / (double)mapped : 0;
        err |= fprintf(out, "hugepage statistics (heap on huge pages: %.1f%% of %zu MiB mapped)\n",
                       huge, mapped >> 20) < 0;
        for (int i = 0; i < n; i++) {
            if (rows[i].bytes)
                err |= fprintf(out, "  %-16s %14zu bytes (%.1f MiB)\n", rows[i].name, rows[i].value,
                               (double)rows[i].value / (1 << 20)) < 0;
            else
                err |= fprintf(out, "  %-16s %14zu\n", rows[i].name, rows[i].value) < 0;
        }
    }
    if (fflush(out) != 0 || err) {
        errno = EIO;
        return -1;
    }
    return 0;
}
