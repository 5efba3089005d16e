/* fault: allocate -s bytes (4 GiB in the full run) in one malloc and write one
 * byte in every 4 KiB page, once. The time is the page-fault path: one fault
 * per 4 KiB on base pages, one per 2 MiB on THP (plus zeroing 2 MiB at once),
 * none for hugetlb pages that an allocator prefaulted at mmap time (then the
 * cost moved into malloc, which is timed too). */
#include "common.h"

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .size = BENCH_GIB });
    double t0 = now_s();
    char *buf = malloc(o.size);
    if (!buf)
        die("malloc");
    for (size_t i = 0; i < o.size; i += 4096)
        buf[i] = 1;
    double secs = now_s() - t0;
    print_coverage();
    print_info("bytes=%llu pages_4k=%llu", (unsigned long long)o.size,
               (unsigned long long)(o.size / 4096));
    print_result("fault_s", "s", "lower", secs);
    free(buf);
    return 0;
}
