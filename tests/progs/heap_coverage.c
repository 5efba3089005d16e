/* heap_coverage: allocates a large heap of small objects with hp_malloc and
 * reports, from /proc/self/smaps (not from the library's counters), how much of
 * the heap's resident memory is on huge pages, by kind.
 *
 *   heap_coverage MIB [--exhaust-pool]
 *
 * --exhaust-pool first takes every free 2 MiB hugetlb page with hp_map strict
 * and holds it, so the heap finds the pool empty and must fall back to THP.
 * Output: one line "coverage heap_kb=N hugetlb_kb=N thp_kb=N base_kb=N
 * huge_pct=P"; exit 0, or 1 on a usage or allocation error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hugepage.h"
#include "internal.h"
#include "sysinfo.h"

#include "heap_vma.h"

struct totals {
    size_t heap, hugetlb, thp;
};

/* Adds what backs a VMA of the heap (hp_heap_vma) to the totals. */
static int add_heap_vma(const struct hpi_vma *v, void *arg)
{
    struct totals *t = arg;
    if (!hp_heap_vma(v))
        return 0;
    size_t hugetlb = v->private_hugetlb + v->shared_hugetlb;
    t->heap += v->rss + hugetlb;
    t->hugetlb += hugetlb;
    t->thp += v->anon_huge;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: heap_coverage MIB [--exhaust-pool]\n");
        return 2;
    }
    size_t target = strtoull(argv[1], NULL, 10) << 20;
    int held = 0;
    if (argc > 2 && strcmp(argv[2], "--exhaust-pool") == 0) {
        while (hp_map(HPI_2MB, HP_2MB | HP_STRICT))
            held++;
        fprintf(stderr, "holding %d hugetlb pages so the heap finds the pool empty\n", held);
    }
    /* Small objects of mixed sizes, 16..512 bytes, kept in chunks of pointers. */
    size_t total = 0, n = 0, cap = 1 << 20;
    void **objs = hp_malloc(cap * sizeof(void *));
    uint64_t x = 88172645463325252ull;
    while (total < target) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t size = 16 + (size_t)(x % 497);
        if (n == cap) {
            cap *= 2;
            objs = hp_realloc(objs, cap * sizeof(void *));
        }
        void *p = hp_malloc(size);
        if (!p || !objs) {
            fprintf(stderr, "heap_coverage: out of memory after %zu bytes\n", total);
            return 1;
        }
        memset(p, (int)n, size);
        objs[n++] = p;
        total += size;
    }
    struct totals t = {0, 0, 0};
    if (hpi_sysinfo_each_vma(0, add_heap_vma, &t) != 0) {
        fprintf(stderr, "heap_coverage: cannot read /proc/self/smaps\n");
        return 1;
    }
    size_t huge = t.hugetlb + t.thp;
    printf("coverage objects=%zu requested_kb=%zu heap_kb=%zu hugetlb_kb=%zu thp_kb=%zu "
           "base_kb=%zu huge_pct=%.2f\n",
           n, total >> 10, t.heap >> 10, t.hugetlb >> 10, t.thp >> 10,
           (t.heap - (huge < t.heap ? huge : t.heap)) >> 10,
           t.heap ? 100.0 * (double)huge / (double)t.heap : 0.0);
    for (size_t i = 0; i < n; i++)
        hp_free(objs[i]);
    hp_free(objs);
    return 0;
}
