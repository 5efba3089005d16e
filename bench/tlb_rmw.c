/* tlb_rmw: random read-modify-write of 8-byte words over one -s byte buffer
 * (4 GiB in the full run). Accesses are independent, so the CPU overlaps many
 * misses; what remains is page-walk bandwidth, which huge pages cut. With -1
 * the buffer is one 1 GiB-page mapping (the reference). */
#include "common.h"

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .size = BENCH_GIB, .count = 50000000 });
    size_t nwords = o.size / sizeof(uint64_t);
    uint64_t *buf = big_alloc(nwords * sizeof *buf, o.use_1g);

    /* Fault everything in first, outside the timed phase (tlb_fault times that). */
    for (size_t i = 0; i < nwords; i++)
        buf[i] = i;
    print_coverage();

    struct rng r = { 0xabcdef12345 };
    double t0 = now_s();
    for (uint64_t i = 0; i < o.count; i++)
        buf[rng_below(&r, nwords)] += i;
    double secs = now_s() - t0;
    consume(buf[rng_below(&r, nwords)]);

    print_info("words=%zu updates=%llu", nwords, (unsigned long long)o.count);
    print_result("rmw_s", "s", "lower", secs);
    big_free(buf, nwords * sizeof *buf, o.use_1g);
    return 0;
}
