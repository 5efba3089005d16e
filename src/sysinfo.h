/* sysinfo.h: discovery of the machine's huge page support (layer 1).
 *
 * Two halves:
 *  - parsers: take text (never a path), write into caller-provided structs,
 *    never allocate, never crash on malformed, truncated or hostile input, and
 *    return an error (a positive errno value: EINVAL malformed, ERANGE number
 *    overflow, ENOENT field missing, ENOSPC output array too small) rather than
 *    misparse silently;
 *  - live readers: read /proc and /sys through os.c into stack buffers and run
 *    the parsers. They never call malloc (they may run inside malloc).
 *
 * Used by region.c, block.c, heap.c (live readers) and by the hugepage command
 * and the tests (both halves). Names are hpi_sysinfo_*. */
#ifndef HPI_SYSINFO_H
#define HPI_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hugepage.h"

#define HPI_MAX_PAGE_SIZES 8  /* x86-64 has 2: 2 MiB and 1 GiB */
#define HPI_MAX_NODES 64
#define HPI_PATH_MAX 512

/* ---- parsers --------------------------------------------------------------- */

/* The huge-page lines of /proc/meminfo. Sizes in bytes, counts in pages. A
 * field absent from the text is left 0 and its bit cleared in `have`. */
struct hpi_meminfo {
    size_t hugepagesize;          /* Hugepagesize (bytes); 0 = no hugetlb support */
    unsigned long hp_total;       /* HugePages_Total */
    unsigned long hp_free;        /* HugePages_Free */
    unsigned long hp_rsvd;        /* HugePages_Rsvd */
    unsigned long hp_surp;        /* HugePages_Surp */
    size_t hugetlb;               /* Hugetlb (bytes) */
    size_t anon_huge;             /* AnonHugePages (bytes) */
    size_t mem_total, mem_free, mem_available; /* bytes */
    unsigned have;                /* HPI_MEMINFO_HAVE_* bits of the fields found */
};
#define HPI_MEMINFO_HAVE_HUGEPAGESIZE 0x01u
#define HPI_MEMINFO_HAVE_POOL 0x02u /* all four HugePages_* lines */
#define HPI_MEMINFO_HAVE_HUGETLB 0x04u
#define HPI_MEMINFO_HAVE_ANONHUGE 0x08u
#define HPI_MEMINFO_HAVE_MEM 0x10u

/* Parses /proc/meminfo text. Unknown lines are ignored; a known line with a bad
 * number or unit ("kB" expected where the kernel writes it) is EINVAL/ERANGE. */
int hpi_sysinfo_parse_meminfo(const char *text, struct hpi_meminfo *out);

/* One unsigned decimal number followed by optional whitespace/newline, as in a
 * sysfs file ("512\n"). EINVAL for anything else, ERANGE on overflow. */
int hpi_sysinfo_parse_ulong(const char *text, unsigned long *out);

/* "hugepages-2048kB" -> 2097152. EINVAL when the name is not of that form. */
int hpi_sysinfo_parse_pool_dirname(const char *name, size_t *page_size);

/* THP settings files: "always [madvise] never" -> the bracketed word. */
enum hpi_thp_mode {
    HPI_THP_UNKNOWN = 0, HPI_THP_ALWAYS, HPI_THP_MADVISE, HPI_THP_NEVER,
    HPI_THP_DEFER, HPI_THP_DEFER_MADVISE, HPI_THP_INHERIT, HPI_THP_WITHIN_SIZE,
    HPI_THP_ADVISE
};
int hpi_sysinfo_parse_thp(const char *text, enum hpi_thp_mode *out);
const char *hpi_sysinfo_thp_name(enum hpi_thp_mode m);

/* A hugetlbfs mount from /proc/self/mountinfo, octal escapes (\040) decoded. */
struct hpi_mount {
    char path[HPI_PATH_MAX];
    size_t page_size;          /* from pagesize=, else the default passed in */
    unsigned uid, gid, mode;   /* from uid=, gid=, mode= (mode octal); defaults 0,0,0755 */
    bool has_uid, has_gid, has_mode;
    unsigned long long size_limit; /* size= in bytes (0 = none); percentages -> 0 */
};
/* Fills up to max mounts of type hugetlbfs; *count = number found (may exceed
 * max: then ENOSPC is returned with the first max filled). Lines of other fs
 * types are skipped; a malformed line is EINVAL. */
int hpi_sysinfo_parse_mountinfo(const char *text, size_t default_page_size,
                                struct hpi_mount *out, int max, int *count);

/* One VMA of /proc/PID/smaps. Sizes in bytes. */
struct hpi_vma {
    uintptr_t start, end;
    char perms[5];
    char name[HPI_PATH_MAX];     /* pathname or [heap], [anon:hugepage], ""; truncated */
    size_t size, rss, pss;
    size_t kernel_page_size;     /* KernelPageSize */
    size_t anon_huge;            /* AnonHugePages */
    size_t shmem_huge;           /* ShmemPmdMapped */
    size_t file_huge;            /* FilePmdMapped */
    size_t private_hugetlb, shared_hugetlb;
    size_t anonymous;            /* Anonymous */
    int thp_eligible;            /* THPeligible: 0/1, -1 when absent */
    bool hugetlb;                /* 'ht' in VmFlags (without VmFlags, kernels < 3.8:
                                    kernel_page_size > 4096) */
    bool thp_advised;            /* 'hg' in VmFlags */
};

/* Parses one VMA record at the start of text[0..len): the header line
 * ("start-end perms offset dev inode name") and its field lines up to the next
 * header. Returns 0 with *used = bytes consumed when a whole record was parsed
 * (a record is whole when the next header line follows it, or at_eof is true
 * and the text ends); EAGAIN when more text is needed to finish it; EINVAL when
 * the text at the start is not a record. Lets callers stream a large smaps file
 * through a small buffer. */
int hpi_sysinfo_parse_smaps_vma(const char *text, size_t len, bool at_eof,
                                struct hpi_vma *vma, size_t *used);

/* A kernel node list ("0-3,5\n", /sys/devices/system/node/online): up to max
 * ids into nodes, *count = how many the list names (ENOSPC when > max). Empty
 * text is an empty list; ids >= 1024 (MAX_NUMNODES) are ERANGE. */
int hpi_sysinfo_parse_nodelist(const char *text, int *nodes, int max, int *count);

/* Hugetlb cgroup limits (cgroup v2 hugetlb.<size>.max contents: "max" or a
 * number). *limit = SIZE_MAX for "max". */
int hpi_sysinfo_parse_limit(const char *text, size_t *limit);

/* ---- live readers ------------------------------------------------------------ */

/* Kernel default huge page size (/proc/meminfo Hugepagesize), 0 when none. */
size_t hpi_sysinfo_default_page_size(void);
/* Supported sizes from /sys/kernel/mm/hugepages, ascending. Returns the count
 * found (possibly > max; only max stored); 0 when the directory is missing.
 * At most HPI_MAX_PAGE_SIZES sizes are tracked. Cached after the first read. */
int hpi_sysinfo_page_sizes(size_t *sizes, int max);
bool hpi_sysinfo_page_size_supported(size_t page_size);
/* Pool counters for page_size; node -1 for the system-wide pool, else the NUMA
 * node's (/sys/devices/system/node/nodeN/hugepages; overcommit not per node).
 * 0, EINVAL (size unsupported) or ENOENT (node missing). */
int hpi_sysinfo_pool(size_t page_size, int node, struct hp_pool *out);
/* NUMA nodes that have a hugepages directory: ids into nodes[], count returned. */
int hpi_sysinfo_nodes(int *nodes, int max);
/* THP enabled and defrag settings. 0 or ENOENT (no THP support). */
int hpi_sysinfo_thp(enum hpi_thp_mode *enabled, enum hpi_thp_mode *defrag);
/* hugetlbfs mounts of this process (/proc/self/mountinfo streamed through an
 * 8 KiB buffer; a longer line is skipped when it is not hugetlbfs, else
 * ENAMETOOLONG). *count and ENOSPC as for hpi_sysinfo_parse_mountinfo. */
int hpi_sysinfo_mounts(struct hpi_mount *out, int max, int *count);
/* The VMA of pid (0 = self) containing addr, streamed from smaps through a
 * stack buffer. 0, ENOENT (no VMA there), or an open/read error. */
int hpi_sysinfo_vma_at(int pid, uintptr_t addr, struct hpi_vma *vma);
/* Calls fn for every VMA of pid (0 = self) in address order; stops early and
 * returns fn's value when it returns non-zero. */
int hpi_sysinfo_each_vma(int pid, int (*fn)(const struct hpi_vma *, void *), void *arg);

#endif /* HPI_SYSINFO_H */
