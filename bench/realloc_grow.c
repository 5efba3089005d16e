/* realloc_grow: many buffers growing by realloc, as string builders and
 * vectors do. 4096 buffers are extended in turn by 16-256 bytes at a time,
 * each up to a random final length of 1-16 KiB and then freed and restarted,
 * so growth in place, moves, and the size classes in between all get
 * exercised. Reports realloc calls per second. */
#include "common.h"

#define NBUF 4096

struct buf {
    char *p;
    size_t len, goal;
};

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .count = 20000000 });
    static struct buf b[NBUF];
    struct rng r = { 99 };
    for (size_t i = 0; i < NBUF; i++)
        b[i].goal = 1024 + rng_below(&r, 15 * 1024);

    double t0 = now_s();
    for (uint64_t i = 0; i < o.count; i++) {
        struct buf *x = &b[i % NBUF];
        size_t add = 16 + rng_below(&r, 241);
        char *p = realloc(x->p, x->len + add);
        if (!p)
            die("realloc");
        memset(p + x->len, (int)i, add < 16 ? add : 16);
        x->p = p;
        x->len += add;
        if (x->len >= x->goal) {
            free(x->p);
            *x = (struct buf){ .goal = 1024 + rng_below(&r, 15 * 1024) };
        }
    }
    double secs = now_s() - t0;
    print_coverage();
    for (size_t i = 0; i < NBUF; i++)
        free(b[i].p);
    print_info("reallocs=%llu seconds=%.3f", (unsigned long long)o.count, secs);
    print_result("realloc_ops", "ops/s", "higher", (double)o.count / secs);
    return 0;
}
