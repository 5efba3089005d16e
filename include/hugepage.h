/* hugepage.h: the public interface of libhugepage.
 *
 * libhugepage puts a program's memory on Linux huge pages (2 MiB, 1 GiB). Every
 * name here starts with hp_ / HP_; nothing else is exported from the library
 * (the override build also exports the malloc family).
 *
 * Errors: functions return NULL or -1 and set errno (EINVAL for bad arguments,
 * ENOMEM when memory cannot be had). Nothing here prints unless HUGEPAGE_VERBOSE
 * asks for it. All functions are thread-safe. */
#ifndef HUGEPAGE_H
#define HUGEPAGE_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HP_EXPORT __attribute__((visibility("default")))
#define HP_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define HP_EXPORT
#define HP_MALLOC_ATTR
#endif

#define HP_VERSION_MAJOR 0
#define HP_VERSION_MINOR 1
#define HP_VERSION_PATCH 0
#define HP_VERSION_STRING "0.1.0"

/* ---- discovery ---------------------------------------------------------- */

/* The kernel's default huge page size in bytes (/proc/meminfo Hugepagesize),
 * or 0 when the kernel has no hugetlb support. */
HP_EXPORT size_t hp_page_size(void);

/* Stores up to max supported huge page sizes in ascending order into sizes and
 * returns how many the kernel supports (which may exceed max); 0 when none.
 * -1/EINVAL when sizes is NULL and max > 0, or max < 0. */
HP_EXPORT int hp_page_sizes(size_t *sizes, int max);

/* The hugetlb pool of one page size, as the kernel reports it
 * (/sys/kernel/mm/hugepages/hugepages-<N>kB). Counts are in pages. */
struct hp_pool {
    size_t page_size;          /* bytes */
    unsigned long total;       /* nr_hugepages: persistent pool size */
    unsigned long free;        /* free_hugepages: not faulted in by anyone */
    unsigned long reserved;    /* resv_hugepages: promised to mappings, not yet faulted */
    unsigned long surplus;     /* surplus_hugepages: allocated above total via overcommit */
    unsigned long overcommit;  /* nr_overcommit_hugepages: limit of surplus pages */
};

/* Fills *pool for page_size (0 = the default size). Returns 0, or -1 with
 * errno EINVAL (pool NULL or size not supported by the kernel). The pages a new
 * hugetlb mapping can still take are free - reserved (+ overcommit - surplus). */
HP_EXPORT int hp_pool(size_t page_size, struct hp_pool *pool);

/* ---- regions: whole huge pages, like mmap ------------------------------- */

/* Flags for hp_map. Without HP_2MB/HP_1GB the default huge page size is used
 * (HUGEPAGE_PAGESIZE, else the kernel's default). */
#define HP_2MB      0x01u /* 2 MiB pages */
#define HP_1GB      0x02u /* 1 GiB pages */
#define HP_STRICT   0x04u /* hugetlb pages or fail with ENOMEM: no fallback */
#define HP_SHARED   0x08u /* MAP_SHARED: shared with children after fork */
#define HP_POPULATE 0x10u /* fault every page in now (MAP_POPULATE) */
#define HP_COLOR    0x20u /* cache colouring: offset the start by a rotating
                             multiple of 64 bytes so equal-sized buffers do not
                             all begin on the same cache sets; hp_unmap takes the
                             returned pointer and the same len */

/* Maps len bytes (rounded up to whole pages of the chosen size) of zeroed,
 * read-write memory. The kernel is asked in order for hugetlb pages from the
 * reserved pool, then transparent huge pages (2 MiB-aligned, MADV_HUGEPAGE),
 * then base pages; HP_STRICT stops after the first. HUGEPAGE_MODE narrows the
 * chain for calls without HP_STRICT. Returns the address, or NULL with errno
 * EINVAL (len 0, unknown flag, HP_2MB|HP_1GB, a size the kernel lacks with
 * HP_STRICT) or ENOMEM (no memory, len overflows when rounded). */
HP_EXPORT void *hp_map(size_t len, unsigned flags);

/* Unmaps what hp_map(len, ...) returned at p: exactly the rounded length that
 * was mapped. Returns 0, or -1 with errno EINVAL when p was not returned by
 * hp_map or len does not match. */
HP_EXPORT int hp_unmap(void *p, size_t len);

enum hp_backing {
    HP_BACKING_UNKNOWN = 0, /* not mapped, or cannot tell */
    HP_BACKING_BASE = 1,    /* base (4 KiB) pages */
    HP_BACKING_THP = 2,     /* a transparent huge page */
    HP_BACKING_HUGETLB = 3, /* a hugetlb page from the reserved pool */
};

/* What backs the page containing p right now, read from /proc/self/smaps:
 * HUGETLB when the mapping's KernelPageSize is a huge page size, THP when the
 * mapping holds AnonHugePages covering p's 2 MiB frame, BASE otherwise.
 * Memory not yet touched is reported as what it will be once touched for
 * hugetlb mappings, and as BASE for THP-eligible memory not yet huge. */
HP_EXPORT enum hp_backing hp_backing(const void *p);

/* A short name for a backing kind: "hugetlb", "thp", "base", "unknown". */
HP_EXPORT const char *hp_backing_name(enum hp_backing b);

/* Flags for hp_memfd. */
#define HP_MEMFD_CLOEXEC 0x01u /* close-on-exec, like MFD_CLOEXEC */

/* A file descriptor on hugetlb memory of page_size (0 = default), for mmap by
 * this process, a forked child or another process the fd is passed to. Made
 * with memfd_create(MFD_HUGETLB), else as an unlinked file on a hugetlbfs
 * mount of that page size. Size it with ftruncate to a multiple of page_size.
 * Returns the fd, or -1 with errno EINVAL (bad flags or size) or ENOSYS (no
 * hugetlb memfd and no hugetlbfs mount of that size). */
HP_EXPORT int hp_memfd(const char *name, size_t page_size, unsigned flags);

/* ---- heap ---------------------------------------------------------------- */

/* malloc-compatible, with memory on huge pages. hp_malloc(0) returns a unique
 * pointer. NULL with ENOMEM when memory cannot be had. */
HP_EXPORT HP_MALLOC_ATTR void *hp_malloc(size_t size);
HP_EXPORT HP_MALLOC_ATTR void *hp_calloc(size_t n, size_t size);
/* realloc(NULL, n) is hp_malloc(n); realloc(p, 0) frees p and returns NULL,
 * as glibc does. On failure p is untouched and NULL is returned (ENOMEM). */
HP_EXPORT void *hp_realloc(void *p, size_t size);
/* align: any power of two (up to 1 GiB at least); size: any (not only multiples
 * of align). NULL with EINVAL for an align that is not a power of two. */
HP_EXPORT HP_MALLOC_ATTR void *hp_aligned_alloc(size_t align, size_t size);
/* hp_free(NULL) does nothing. A double free or a free of a pointer that is
 * certainly not from this heap is reported on stderr and aborts: a pointer not
 * ours at once; a double free at once, or for objects up to 1 KiB possibly
 * later, but always before the address could be handed out twice (see
 * libhugepage(3), HUGEPAGE_SECURE). */
HP_EXPORT void hp_free(void *p);
/* Bytes usable at p (>= what was asked); 0 for NULL or a pointer not ours. */
HP_EXPORT size_t hp_usable_size(const void *p);
/* Returns cached empty huge pages to the kernel now; the number of bytes freed. */
HP_EXPORT size_t hp_trim(void);

/* Typed, zeroed allocation of one T. */
#define hp_new(T) ((T *)hp_calloc(1, sizeof(T)))
/* Typed, zeroed allocation of n T's (NULL with ENOMEM on overflow). */
#define hp_new_array(T, n) ((T *)hp_calloc((n), sizeof(T)))

/* ---- statistics ---------------------------------------------------------- */

struct hp_stats {
    size_t requested;        /* bytes asked for by live heap objects: exact for large
                                objects (> 1 MiB); small objects count at their size
                                class, which is at most 12.5% (or 15 bytes) more */
    size_t in_use;           /* bytes of live heap objects (usable sizes); objects
                                freed by another thread and kept in its cache for
                                reuse still count */
    size_t mapped_hugetlb;   /* bytes the heap holds on hugetlb pages */
    size_t mapped_thp;       /* bytes the heap holds on THP-advised memory */
    size_t mapped_base;      /* bytes the heap holds on base pages */
    size_t blocks_held;      /* 2 MiB blocks held by the heap (in use or cached) */
    size_t blocks_cached;    /* of those, empty and cached for reuse */
    size_t fallback_thp;     /* mappings that wanted hugetlb and got THP */
    size_t fallback_base;    /* mappings that wanted huge pages and got base pages */
    size_t collapse_ok;      /* MADV_COLLAPSE attempts that succeeded */
    size_t collapse_failed;  /* ... and that failed */
    size_t released;         /* bytes given back to the kernel */
    size_t region_hugetlb;   /* bytes live in hp_map regions on hugetlb pages */
    size_t region_thp;       /* ... on THP-advised memory */
    size_t region_base;      /* ... on base pages */
};

/* Fills *st with a snapshot (counters are updated with relaxed atomics, so a
 * snapshot taken while other threads allocate is approximate). */
HP_EXPORT void hp_stats(struct hp_stats *st);
/* Prints the statistics to out, as text or (json != 0) one JSON object.
 * Returns 0, or -1 with errno EINVAL for a NULL out or EIO on a write error. */
HP_EXPORT int hp_stats_print(FILE *out, int json);

#ifdef __cplusplus
}
#endif
#endif /* HUGEPAGE_H */
