/* mem_release: is memory given back? The program allocates -s bytes (2 GiB
 * in the full run) as objects of mixed sizes (256 B-256 KiB), touches them,
 * frees all but one in 16, and keeps running for -t seconds doing small
 * allocations and frees, as a long-lived server would after a burst. It
 * reports the resident memory left at the end (Rss + hugetlb): low means the
 * allocator returned the freed memory to the kernel; close to the peak means
 * it kept it. The peak is printed on the coverage line. */
#include "common.h"

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .size = 2 * BENCH_GIB, .secs = 2.0 });
    size_t cap = (size_t)(o.size / 256) + 1, n = 0;
    char **obj = malloc(cap * sizeof *obj);
    if (!obj)
        die("malloc");
    struct rng r = { 11 };
    uint64_t total = 0;
    while (total < o.size && n < cap) {
        /* log-uniform between 2^8 and 2^18 bytes */
        size_t size = (size_t)256 << rng_below(&r, 11);
        size += rng_below(&r, size);
        if (size > 256 * 1024)
            size = 256 * 1024;
        if (!(obj[n] = malloc(size)))
            die("malloc");
        memset(obj[n], 1, size);
        total += size;
        n++;
    }
    struct coverage peak = print_coverage();

    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0)
            obj[kept++] = obj[i];
        else
            free(obj[i]);
    }
    uint64_t after_free_kb = resident_kb();

    /* Keep running: small churn, which is when lazy allocators (decay timers,
     * purge on the next call) give memory back. */
    enum { LIVE = 1024 };
    static char *live[LIVE];
    double end = now_s() + o.secs;
    uint64_t ops = 0;
    while (now_s() < end) {
        for (int i = 0; i < 1000; i++, ops++) {
            size_t k = rng_below(&r, LIVE);
            free(live[k]);
            if (!(live[k] = malloc(16 + rng_below(&r, 1009))))
                die("malloc");
            live[k][0] = 1;
        }
        struct timespec nap = { 0, 1000000 }; /* 1 ms: mostly idle, like a server */
        nanosleep(&nap, NULL);
    }
    uint64_t end_kb = resident_kb();

    print_info("objects=%zu kept=%zu allocated_kb=%llu peak_kb=%llu after_free_kb=%llu "
               "after_%.0fs_kb=%llu churn_ops=%llu",
               n, kept, (unsigned long long)(total / 1024),
               (unsigned long long)(peak.hwm_kb + peak.hugetlb_kb),
               (unsigned long long)after_free_kb, o.secs, (unsigned long long)end_kb,
               (unsigned long long)ops);
    print_result("retained_kb", "kB", "lower", (double)end_kb);
    for (size_t i = 0; i < LIVE; i++)
        free(live[i]);
    for (size_t i = 0; i < kept; i++)
        free(obj[i]);
    free(obj);
    return 0;
}
