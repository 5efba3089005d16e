/* inspect_target.c: a process with known huge-page memory for the tests of
 * `hugepage inspect` (tests/cmd/test_inspect.sh).
 *
 * Maps 8 MiB of hugetlb memory (2 MiB pages, strict: raw MAP_HUGETLB, no
 * fallback) and 8 MiB of 2 MiB-aligned anonymous memory advised with
 * MADV_HUGEPAGE, touches both, prints
 *     ready hugetlb=0x... thp=0x...
 * and sleeps until stdin closes. Exits 3 when the hugetlb pool cannot give the
 * 8 MiB (the test then skips), 1 on other failures. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26) /* MAP_HUGE_SHIFT 26, log2(2 MiB) */
#endif

#define LEN ((size_t)8 << 20)
#define ALIGN ((size_t)2 << 20)

static void touch(char *p, size_t len)
{
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
}

int main(void)
{
    char *h = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
                   -1, 0);
    if (h == MAP_FAILED) {
        fprintf(stderr, "inspect_target: hugetlb mmap of 8 MiB failed: %s\n", strerror(errno));
        return 3;
    }
    touch(h, LEN);

    /* THP needs 2 MiB-aligned memory: over-map by one huge page, trim both ends. */
    char *raw = mmap(NULL, LEN + ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        fprintf(stderr, "inspect_target: mmap failed: %s\n", strerror(errno));
        return 1;
    }
    char *t = (char *)(((uintptr_t)raw + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
    if (t > raw)
        munmap(raw, (size_t)(t - raw));
    munmap(t + LEN, (size_t)(raw + ALIGN - t));
    if (madvise(t, LEN, MADV_HUGEPAGE) != 0) {
        fprintf(stderr, "inspect_target: madvise(MADV_HUGEPAGE) failed: %s\n", strerror(errno));
        return 1;
    }
    touch(t, LEN);

    printf("ready hugetlb=%p thp=%p\n", (void *)h, (void *)t);
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0)
        ;
    return 0;
}
