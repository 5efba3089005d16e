/* server: mixed sizes from 8 bytes to 64 KiB, shaped like a server handling
 * requests. Each request allocates 4-32 objects whose sizes are log-uniform
 * over 8 B-64 KiB (most small, a few large buffers), writes their first
 * bytes, and frees them when the request ends; one object in 16 outlives its
 * request in a session cache, replacing an older one. Reports allocations per
 * second (each one later freed). */
#include "common.h"

#define MAX_PER_REQ 32
#define SESSIONS 4096

static size_t request_size(struct rng *r)
{
    uint64_t x = rng_next(r);
    unsigned shift = 3 + (unsigned)(x % 14); /* 2^3 .. 2^16 */
    size_t size = ((size_t)1 << shift) + (size_t)((x >> 8) & (((size_t)1 << shift) - 1));
    return size > 65536 ? 65536 : size;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .count = 20000000 });
    static char *session[SESSIONS];
    struct rng r = { 7 };
    uint64_t allocs = 0, requests = 0;
    char *req[MAX_PER_REQ];

    double t0 = now_s();
    while (allocs < o.count) {
        int n = 4 + (int)rng_below(&r, MAX_PER_REQ - 3);
        for (int i = 0; i < n; i++) {
            size_t size = request_size(&r);
            if (!(req[i] = malloc(size)))
                die("malloc");
            memset(req[i], (int)i, size < 128 ? size : 128);
        }
        allocs += (uint64_t)n;
        requests++;
        for (int i = 0; i < n; i++) {
            if (rng_below(&r, 16) == 0) {
                size_t k = rng_below(&r, SESSIONS);
                free(session[k]);
                session[k] = req[i];
            } else {
                free(req[i]);
            }
        }
    }
    double secs = now_s() - t0;
    print_coverage();
    for (size_t k = 0; k < SESSIONS; k++)
        free(session[k]);
    print_info("allocs=%llu requests=%llu seconds=%.3f", (unsigned long long)allocs,
               (unsigned long long)requests, secs);
    print_result("server_allocs", "ops/s", "higher", (double)allocs / secs);
    return 0;
}
