/* churn1: small-object churn in one thread. A table of live objects (16-256
 * bytes) is kept; each operation frees a random one and allocates a new one
 * of a random size in its place, writing to it as a program would. Reports
 * operations (one free + one malloc) per second: the allocator's fast path. */
#include "common.h"

#define LIVE 16384 /* objects alive at once: a few MB, cache-sized */

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .count = 20000000 });
    static char *live[LIVE];
    struct rng r = { 42 };
    for (size_t i = 0; i < LIVE; i++)
        if (!(live[i] = malloc(16 + rng_below(&r, 241))))
            die("malloc");

    double t0 = now_s();
    for (uint64_t i = 0; i < o.count; i++) {
        uint64_t x = rng_next(&r);
        size_t slot = x % LIVE;
        size_t size = 16 + (x >> 32) % 241;
        free(live[slot]);
        char *p = malloc(size);
        if (!p)
            die("malloc");
        p[0] = (char)i;
        p[size - 1] = (char)i;
        live[slot] = p;
    }
    double secs = now_s() - t0;
    print_coverage();
    for (size_t i = 0; i < LIVE; i++)
        free(live[i]);
    print_info("ops=%llu live=%d seconds=%.3f", (unsigned long long)o.count, LIVE, secs);
    print_result("churn_ops", "ops/s", "higher", (double)o.count / secs);
    return 0;
}
