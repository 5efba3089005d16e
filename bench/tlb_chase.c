/* tlb_chase: a dependent pointer chase over one -s byte buffer (4 GiB in the
 * full run), one 64-byte cache line per element, following a single random
 * cycle. Each load's address comes from the previous load, so nothing
 * overlaps: every step pays a full TLB miss + page walk + cache miss on base
 * pages, and the time per step is the latency that huge pages shorten. With -1
 * the buffer is one 1 GiB-page mapping (the reference). */
#include "common.h"

struct slot {
    uint64_t next; /* index of the following slot in the cycle */
    uint64_t pad[7];
};

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .size = BENCH_GIB, .count = 20000000 });
    size_t nslots = o.size / sizeof(struct slot);
    if (nslots < 2) {
        fprintf(stderr, "tlb_chase: -s too small\n");
        return 2;
    }
    struct slot *s = big_alloc(nslots * sizeof *s, o.use_1g);

    /* Sattolo's shuffle of the identity gives one cycle through all slots, so
     * the chase never settles into a short, cache-resident loop. */
    for (size_t i = 0; i < nslots; i++)
        s[i].next = i;
    struct rng r = { 0x5eed };
    for (size_t i = nslots - 1; i > 0; i--) {
        size_t j = rng_below(&r, i);
        uint64_t t = s[i].next;
        s[i].next = s[j].next;
        s[j].next = t;
    }
    print_coverage();

    uint64_t at = 0;
    double t0 = now_s();
    for (uint64_t i = 0; i < o.count; i++)
        at = s[at].next;
    double secs = now_s() - t0;
    consume(at);

    print_info("slots=%zu steps=%llu ns_per_step=%.1f", nslots, (unsigned long long)o.count,
               secs * 1e9 / (double)o.count);
    print_result("chase_s", "s", "lower", secs);
    big_free(s, nslots * sizeof *s, o.use_1g);
    return 0;
}
