/* override.c: the malloc family, answered by the hugepage heap (layer 5).
 * Built only into libhugepage.so (CMakeLists.txt decides; no #ifdef here), so a
 * program that preloads or links it gets its whole heap on huge pages, while
 * libhugepage-api.so and libhugepage.a leave the system malloc alone.
 * Calls the public hp_* functions only.
 *
 * Every function is defined here, not reached through dlsym: dlsym may itself
 * allocate, and the first malloc of a process can come before the dynamic
 * loader is done. glibc's own internal allocations (strdup, fopen, getpwnam,
 * ...) and libstdc++'s operator new go through these symbols, so no pointer of
 * one allocator is ever freed by the other.
 *
 * errno: malloc-family failures set ENOMEM (EINVAL for bad alignments), as
 * glibc does; posix_memalign returns the error and leaves errno alone. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define OVERRIDE __attribute__((visibility("default")))

OVERRIDE void *malloc(size_t n)
{
    return hp_malloc(n);
}

OVERRIDE void free(void *p)
{
    hp_free(p);
}

OVERRIDE void *calloc(size_t n, size_t size)
{
    return hp_calloc(n, size);
}

OVERRIDE void *realloc(void *p, size_t n)
{
    return hp_realloc(p, n);
}

OVERRIDE void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hp_realloc(p, total);
}

OVERRIDE int posix_memalign(void **out, size_t align, size_t n)
{
    /* POSIX: a power of two and a multiple of sizeof(void *). */
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int saved = errno;
    void *p = hp_aligned_alloc(align, n);
    if (!p) {
        errno = saved;
        return ENOMEM;
    }
    *out = p;
    return 0;
}

OVERRIDE void *aligned_alloc(size_t align, size_t n)
{
    return hp_aligned_alloc(align, n);
}

/* glibc's memalign rounds an alignment that is not a power of two up to one. */
OVERRIDE void *memalign(size_t align, size_t n)
{
    if (align & (align - 1)) {
        if (align > ((size_t)1 << 62)) {
            errno = EINVAL;
            return NULL;
        }
        size_t p2 = 1;
        while (p2 < align)
            p2 <<= 1;
        align = p2;
    }
    return hp_aligned_alloc(align ? align : 1, n);
}

OVERRIDE void *valloc(size_t n)
{
    return hp_aligned_alloc(HPI_BASE_PAGE, n);
}

OVERRIDE void *pvalloc(size_t n)
{
    if (n > SIZE_MAX - HPI_BASE_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = (n + HPI_BASE_PAGE - 1) & ~(HPI_BASE_PAGE - 1);
    return hp_aligned_alloc(HPI_BASE_PAGE, rounded ? rounded : HPI_BASE_PAGE);
}

OVERRIDE size_t malloc_usable_size(void *p)
{
    return hp_usable_size(p);
}

/* Returns cached empty huge pages to the kernel: 1 when some went back. */
OVERRIDE int malloc_trim(size_t pad)
{
    (void)pad;
    return hp_trim() > 0;
}

/* The heap has no tunables of glibc's kind: known parameters are accepted and
 * ignored (success, 1), unknown ones refused (0), as glibc answers. */
OVERRIDE int mallopt(int param, int value)
{
    (void)value;
    switch (param) {
    case M_MXFAST: case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD:
    case M_MMAP_MAX: case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST:
    case M_ARENA_MAX:
        return 1;
    default:
        return 0;
    }
}

/* glibc's fields, filled with what the heap knows: arena = bytes mapped for the
 * heap, uordblks = bytes in use, fordblks = mapped but free, keepcost = cached. */
OVERRIDE struct mallinfo2 mallinfo2(void)
{
    struct hp_stats st;
    hp_stats(&st);
    size_t mapped = st.mapped_hugetlb + st.mapped_thp + st.mapped_base;
    struct mallinfo2 mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = mapped;
    mi.uordblks = st.in_use;
    mi.fordblks = mapped > st.in_use ? mapped - st.in_use : 0;
    mi.keepcost = st.blocks_cached * HPI_BLOCK_SIZE;
    return mi;
}

static int clamp_int(size_t v)
{
    return v > (size_t)__INT_MAX__ ? __INT_MAX__ : (int)v;
}

OVERRIDE struct mallinfo mallinfo(void)
{
    struct mallinfo2 m2 = mallinfo2();
    struct mallinfo mi;
    memset(&mi, 0, sizeof mi);
    mi.arena = clamp_int(m2.arena);
    mi.uordblks = clamp_int(m2.uordblks);
    mi.fordblks = clamp_int(m2.fordblks);
    mi.keepcost = clamp_int(m2.keepcost);
    return mi;
}

OVERRIDE void malloc_stats(void)
{
    hp_stats_print(stderr, 0);
}

OVERRIDE int malloc_info(int options, FILE *out)
{
    if (options != 0 || !out) {
        errno = EINVAL;
        return -1;
    }
    struct hp_stats st;
    hp_stats(&st);
    fprintf(out,
            "<malloc version=\"hugepage-1\">\n"
            "<total type=\"hugetlb\" size=\"%zu\"/>\n<total type=\"thp\" size=\"%zu\"/>\n"
            "<total type=\"base\" size=\"%zu\"/>\n<system type=\"current\" size=\"%zu\"/>\n"
            "<aspace type=\"in_use\" size=\"%zu\"/>\n</malloc>\n",
            st.mapped_hugetlb, st.mapped_thp, st.mapped_base,
            st.mapped_hugetlb + st.mapped_thp + st.mapped_base, st.in_use);
    return ferror(out) ? -1 : 0;
}
