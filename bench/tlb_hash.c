/* tlb_hash: a chained hash table of millions of small nodes (-s bytes in all,
 * 4 GiB in the full run), then -n random lookups. Each node is its own malloc,
 * so a lookup lands on a random page: the timed phase is dominated by TLB
 * misses and cache misses, and shows what the allocator's page size buys.
 * With -1, the buckets and nodes are carved from one 1 GiB-page mapping
 * instead (the reference: the least translation cost this machine offers). */
#include "common.h"

struct node {
    uint64_t key;
    struct node *next;
    uint64_t val[2];
};

/* Multiplicative hashing: keys are dense integers, the top bits of the
 * product spread them over the buckets. */
static uint64_t bucket_of(uint64_t key, int bits)
{
    return (key * 0x9E3779B97F4A7C15ull) >> (64 - bits);
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .size = BENCH_GIB, .count = 10000000 });

    /* Budget per node: 32 bytes asked, ~48 with a typical malloc header and
     * rounding, plus ~8 bytes of bucket array. */
    uint64_t nnodes = o.size / 56;
    int bits = 1;
    while ((2ull << bits) <= nnodes)
        bits++;
    size_t nbuckets = (size_t)1 << bits;
    size_t bucket_len = nbuckets * sizeof(struct node *);

    char *arena = NULL, *bump = NULL;
    struct node **buckets;
    if (o.use_1g) {
        arena = big_alloc(bucket_len + nnodes * sizeof(struct node), 1);
        buckets = (struct node **)arena;
        bump = arena + bucket_len;
    } else {
        buckets = big_alloc(bucket_len, 0);
    }
    memset(buckets, 0, bucket_len);

    double t0 = now_s();
    for (uint64_t k = 0; k < nnodes; k++) {
        struct node *n;
        if (o.use_1g) {
            n = (struct node *)bump;
            bump += sizeof *n;
        } else if (!(n = malloc(sizeof *n))) {
            die("malloc (node)");
        }
        uint64_t b = bucket_of(k, bits);
        n->key = k;
        n->val[0] = k;
        n->val[1] = 0;
        n->next = buckets[b];
        buckets[b] = n;
    }
    double build_s = now_s() - t0;
    print_coverage();

    struct rng r = { 0x1234567 };
    uint64_t sum = 0, misses = 0;
    t0 = now_s();
    for (uint64_t i = 0; i < o.count; i++) {
        uint64_t k = rng_below(&r, nnodes);
        struct node *n = buckets[bucket_of(k, bits)];
        while (n && n->key != k)
            n = n->next;
        if (n)
            sum += n->val[0];
        else
            misses++;
    }
    double lookup_s = now_s() - t0;
    consume(sum);
    if (misses)
        fprintf(stderr, "tlb_hash: %llu keys not found\n", (unsigned long long)misses);

    print_info("nodes=%llu buckets=%zu build_s=%.3f lookups=%llu", (unsigned long long)nnodes,
               nbuckets, build_s, (unsigned long long)o.count);
    print_result("lookup_s", "s", "lower", lookup_s);
    /* The process exits without freeing: tearing down millions of nodes is
     * not what this workload measures, and the kernel reclaims it all. */
    return misses ? 1 : 0;
}
