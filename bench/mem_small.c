/* mem_small: the peak memory of a small program. It builds a few MB of
 * objects (40000 of 16-512 bytes and 200 of 4-16 KiB, about 12 MB asked),
 * churns a little, and reports its peak resident memory: VmHWM plus the
 * hugetlb pages it holds at that peak (VmHWM does not count hugetlb). An
 * allocator that rounds every heap up to huge pages pays for it here. */
#include "common.h"

#define NSMALL 40000
#define NLARGE 200

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .count = 200000 });
    static char *small[NSMALL], *large[NLARGE];
    struct rng r = { 3 };
    size_t asked = 0;
    for (size_t i = 0; i < NSMALL; i++) {
        size_t size = 16 + rng_below(&r, 497);
        if (!(small[i] = malloc(size)))
            die("malloc");
        memset(small[i], 1, size);
        asked += size;
    }
    for (size_t i = 0; i < NLARGE; i++) {
        size_t size = 4096 + rng_below(&r, 12 * 1024 + 1);
        if (!(large[i] = malloc(size)))
            die("malloc");
        memset(large[i], 2, size);
        asked += size;
    }
    for (uint64_t i = 0; i < o.count; i++) {
        size_t k = rng_below(&r, NSMALL), size = 16 + rng_below(&r, 497);
        free(small[k]);
        if (!(small[k] = malloc(size)))
            die("malloc");
        memset(small[k], 3, size);
    }
    struct coverage c = print_coverage();
    print_info("asked_kb=%zu", asked / 1024);
    print_result("peak_kb", "kB", "lower", (double)(c.hwm_kb + c.hugetlb_kb));
    for (size_t i = 0; i < NSMALL; i++)
        free(small[i]);
    for (size_t i = 0; i < NLARGE; i++)
        free(large[i]);
    return 0;
}
