/* internal.h: cross-file prototypes of libhugepage, grouped by the file that
 * defines them, lowest layer first. Every name here is hpi_<file>_<verb> and
 * hidden (the library is built with -fvisibility=hidden).
 *
 * Layers (each calls only the ones below it):
 *   override.c            malloc family -> hp_*        (layer 5)
 *   heap.c size_class.h   thread heaps, slabs          (layer 4)
 *   block.c               2 MiB blocks                 (layer 3)
 *   region.c shm.c        hp_map, hp_memfd             (layer 2)
 *   sysinfo.c             page sizes, pools, parsers   (layer 1)
 *   os.c                  the only kernel caller       (layer 0)
 *   options.c stats.c report.c   side: call only os.c
 *
 * Errors inside the library: 0 or a positive errno value; errno itself is set
 * once, by the public function at the boundary. */
#ifndef HPI_INTERNAL_H
#define HPI_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hugepage.h"

#define HPI_LIKELY(x) __builtin_expect(!!(x), 1)
#define HPI_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* Makes GCC treat pointer x as opaque, so that it keeps x in a register rather
 * than folding it into other addresses: on the heap's fast paths it otherwise
 * re-derives a thread cache's fields from the heap and the class index, three
 * more instructions per call. Emits no instruction. */
#define HPI_OPAQUE(x) __asm__("" : "+r"(x))
/* Keeps the compiler from looking into a function at its calls (GCC's noipa;
 * clang, which has no such attribute, gets noinline). */
#if defined(__clang__)
#define HPI_NOIPA __attribute__((noinline))
#else
#define HPI_NOIPA __attribute__((noipa))
#endif
#define HPI_KiB ((size_t)1 << 10)
#define HPI_MiB ((size_t)1 << 20)
#define HPI_GiB ((size_t)1 << 30)
#define HPI_BASE_PAGE ((size_t)4096)
#define HPI_2MB ((size_t)2 << 20)
#define HPI_1GB ((size_t)1 << 30)

/* HP_ASSERT is cheap and on in debug builds; HP_ASSERT_SLOW only with
 * -DHUGEPAGE_DEBUG=full. A failed assertion is heap corruption: report, abort. */
#ifndef HUGEPAGE_DEBUG_LEVEL
#define HUGEPAGE_DEBUG_LEVEL 0
#endif
static const bool hpi_config_debug = HUGEPAGE_DEBUG_LEVEL >= 1;
static const bool hpi_config_debug_full = HUGEPAGE_DEBUG_LEVEL >= 2;
#define HP_ASSERT(c)                                                                     \
    do {                                                                                 \
        if (hpi_config_debug && HPI_UNLIKELY(!(c)))                                      \
            hpi_report_fatal("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__);    \
    } while (0)
#define HP_ASSERT_SLOW(c)                                                                \
    do {                                                                                 \
        if (hpi_config_debug_full && HPI_UNLIKELY(!(c)))                                 \
            hpi_report_fatal("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__);    \
    } while (0)

/* HUGEPAGE_MODE: the whole fallback chain, or one kind only (options.c). */
enum hpi_mode { HPI_MODE_AUTO, HPI_MODE_HUGETLB, HPI_MODE_THP, HPI_MODE_BASE };

/* ---- os.c: the only caller of mmap/munmap/mprotect/madvise/memfd_create/open/read ---- */

/* Kernel operations that tests can make fail (fault injection). */
enum hpi_os_op {
    HPI_OS_MMAP,
    HPI_OS_MUNMAP,
    HPI_OS_MADVISE,
    HPI_OS_MEMFD,
    HPI_OS_OPEN,
    HPI_OS_MPROTECT,
    HPI_OS_NOPS
};

/* mmap; *out receives the address. Returns 0 or an errno value. */
int hpi_os_mmap(void *hint, size_t len, int prot, int flags, int fd, off_t off, void **out);
int hpi_os_munmap(void *p, size_t len);
int hpi_os_madvise(void *p, size_t len, int advice);
/* mprotect (HUGEPAGE_SECURE's guard blocks). */
int hpi_os_mprotect(void *p, size_t len, int prot);
/* memfd_create; *fd receives the descriptor. ENOSYS/EINVAL when unsupported. */
int hpi_os_memfd(const char *name, unsigned mfd_flags, int *fd);
/* open(2) with O_CLOEXEC added, retried on EINTR. */
int hpi_os_open(const char *path, int flags, int mode, int *fd);
int hpi_os_close(int fd);
/* Reads up to cap-1 bytes from fd into buf, NUL-terminates, *len = bytes read.
 * Retries EINTR and short reads until EOF or a full buffer. */
int hpi_os_read_fd(int fd, char *buf, size_t cap, size_t *len);
/* Reads a whole small file (sysfs, procfs) into buf, NUL-terminated. ERANGE when
 * it did not fit (buf then holds the first cap-1 bytes). */
int hpi_os_read_file(const char *path, char *buf, size_t cap, size_t *len);
/* Writes all of buf to fd (stderr reporting); errors ignored by callers. */
int hpi_os_write_all(int fd, const char *buf, size_t len);
/* Names an anonymous mapping (PR_SET_VMA_ANON_NAME); ENOTSUP-like errors are
 * expected on kernels without CONFIG_ANON_VMA_NAME. */
int hpi_os_name_mapping(void *p, size_t len, const char *name);
/* Monotonic coarse clock in milliseconds (vDSO, no syscall usually). */
uint64_t hpi_os_now_ms(void);

/* Test-only fault injection: make the nth (1-based, counted from this call)
 * call of op fail with err; nth 0 disarms. Process-wide, relaxed atomics. */
void hpi_os_fail_nth(enum hpi_os_op op, long nth, int err);
/* How many calls of op were made since the process started (for tests). */
long hpi_os_calls(enum hpi_os_op op);

/* ---- region.c: the fallback chain and hp_map ------------------------------- */

/* Maps len bytes following the fallback chain, which is the heart of where huge
 * pages come from, shared by hp_map and the block layer:
 *   1. hugetlb pages of page_size (MAP_HUGETLB | MAP_HUGE_<size>), unless mode is
 *      THP or BASE, or len is not a multiple of page_size;
 *   2. THP: anonymous memory aligned to `align` (a power of two >= 2 MiB: map
 *      len + align, trim both ends) with MADV_HUGEPAGE, unless mode is HUGETLB
 *      or BASE or `strict`;
 *   3. base pages, aligned the same way, unless mode is HUGETLB or `strict`.
 * `align` also applies to the hugetlb attempt (the kernel aligns hugetlb
 * mappings to page_size; a larger align is obtained by over-mapping).
 * shared: MAP_SHARED instead of MAP_PRIVATE; populate: MAP_POPULATE (hugetlb) or
 * touch via MADV_POPULATE_WRITE (others). The mapping is named `name` when not
 * NULL (PR_SET_VMA_ANON_NAME; failures ignored). Fallbacks are counted in
 * hpi_counters (fallback_thp, fallback_base) and logged under HUGEPAGE_VERBOSE.
 * Returns 0 with *out and *got (HP_BACKING_HUGETLB / THP / BASE) set, or ENOMEM
 * (nothing could be mapped; with strict: the pool had no pages) or EINVAL. */
int hpi_region_map_chain(size_t len, size_t align, size_t page_size, enum hpi_mode mode,
                         bool strict, bool shared, bool populate, const char *name,
                         void **out, enum hp_backing *got);
/* Unmaps [p, p+len) obtained from hpi_region_map_chain (or a whole-page piece of
 * it: for hugetlb, p and len must be multiples of its page size). */
int hpi_region_unmap_chain(void *p, size_t len);

/* ---- block.c: 2 MiB huge blocks ---------------------------------------------- */

#define HPI_BLOCK_SHIFT 21
#define HPI_BLOCK_SIZE ((size_t)1 << HPI_BLOCK_SHIFT)

/* A run of nblocks contiguous, 2 MiB-aligned blocks, all of one backing,
 * from the cache of empty blocks or freshly mapped (hugetlb, else THP, else
 * base pages, as HUGEPAGE_MODE allows). *backing tells which; *zeroed whether
 * the memory is known to be zero (fresh from the kernel). Until freed, every
 * address in the run maps to its start through hpi_block_owner.
 * Returns 0 or ENOMEM (EINVAL for nblocks 0 or too large). Takes block_lock;
 * makes system calls only without it. */
int hpi_block_alloc(size_t nblocks, void **run, enum hp_backing *backing, bool *zeroed);
/* Gives a run back: cached for reuse, or unmapped (whole huge pages only) when
 * the cache is over its limit, the run is very large, or blocks stayed empty
 * for a while. run/nblocks as returned by hpi_block_alloc, or a whole-block
 * piece of such a run. */
void hpi_block_free(void *run, size_t nblocks);
/* The owner table: for every 2 MiB of address space, the start of the live run
 * holding it (its low bits carry block.c's kind of the run), or 0. Two levels:
 * HPI_MAP_TOP leaves of HPI_MAP_LEAF entries, created on demand by block.c. */
#define HPI_VA_BITS 47
#define HPI_MAP_LEAF_BITS 13
#define HPI_MAP_LEAF ((size_t)1 << HPI_MAP_LEAF_BITS)
#define HPI_MAP_TOP ((size_t)1 << (HPI_VA_BITS - HPI_BLOCK_SHIFT - HPI_MAP_LEAF_BITS))
#define HPI_MAP_KIND_MASK ((uintptr_t)3)
typedef _Atomic(uintptr_t) hpi_map_entry;
typedef hpi_map_entry *_Atomic hpi_map_slot;
extern hpi_map_slot hpi_block_map[HPI_MAP_TOP];

/* The start of the live run containing p, or NULL when p is not in one: the
 * O(1) "is this pointer ours" test (two loads; no lock). Inline: it is on
 * every free. */
static inline void *hpi_block_owner(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (HPI_UNLIKELY(a >> HPI_VA_BITS))
        return NULL;
    size_t idx = a >> HPI_BLOCK_SHIFT;
    hpi_map_entry *leaf = atomic_load_explicit(&hpi_block_map[idx >> HPI_MAP_LEAF_BITS], memory_order_acquire);
    if (HPI_UNLIKELY(!leaf))
        return NULL;
    uintptr_t e = atomic_load_explicit(&leaf[idx & (HPI_MAP_LEAF - 1)], memory_order_relaxed);
    return (void *)(e & ~HPI_MAP_KIND_MASK);
}
/* Unmaps every cached block now; returns the bytes given back. */
size_t hpi_block_trim(void);
/* Maps HUGEPAGE_RESERVE bytes into the cache (called once at heap start). */
void hpi_block_reserve(size_t bytes);
/* fork handlers: prepare takes block_lock, parent/child release it. */
void hpi_block_fork_prepare(void);
void hpi_block_fork_parent(void);
void hpi_block_fork_child(void);
/* Checks the cache's invariants (tests, HP_ASSERT_SLOW); 0 when sound. */
int hpi_block_check(void);

/* ---- heap.c: thread heaps and slabs ------------------------------------------ */

/* Checks the calling thread's heap and the block cache (tests, debug builds):
 * 0 when sound, EINVAL when an invariant is broken. */
int hpi_heap_check(void);

/* ---- report.c: the one place the library writes to stderr ---------------- */

/* Warning, printed only when HUGEPAGE_VERBOSE is on, at most 16 times. */
void hpi_report_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Printed once regardless of HUGEPAGE_VERBOSE (bad HUGEPAGE_* values). */
void hpi_report_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Certain heap corruption: one line naming it, then abort(). */
_Noreturn void hpi_report_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* snprintf without stdio and without malloc: %s %d %u %ld %lu %zu %zx %p %c %%. */
int hpi_report_format(char *buf, size_t cap, const char *fmt, __builtin_va_list ap);

/* ---- options.c: HUGEPAGE_* read once --------------------------------------- */

enum hpi_stats_mode { HPI_STATS_OFF, HPI_STATS_TEXT, HPI_STATS_JSON };

struct hpi_options {
    enum hpi_mode mode;        /* HUGEPAGE_MODE */
    size_t page_size;          /* HUGEPAGE_PAGESIZE in bytes; 0 = kernel default */
    size_t reserve;            /* HUGEPAGE_RESERVE in bytes */
    enum hpi_stats_mode stats; /* HUGEPAGE_STATS */
    bool verbose;              /* HUGEPAGE_VERBOSE */
    bool secure;               /* HUGEPAGE_SECURE (hardening mode) */
};

/* The options, read from the environment on first use (thread-safe, no malloc).
 * A bad value is warned about once, naming the variable, and the default used. */
const struct hpi_options *hpi_options_get(void);
/* Re-reads the environment (tests only; not thread-safe against users). */
void hpi_options_reload(void);

/* One table entry per HUGEPAGE_* variable, for doctor, docs and tests. */
struct hpi_option_doc {
    const char *name;    /* "HUGEPAGE_MODE" */
    const char *values;  /* "auto|hugetlb|thp|base" */
    const char *fallback;/* the default, as text */
    const char *doc;     /* one line */
};
extern const struct hpi_option_doc hpi_option_docs[];
extern const int hpi_option_ndocs;

/* Shared grammar: sizes "512M", "1G", "4096", "2m" (binary units K M G T);
 * returns 0 or EINVAL (garbage, trailing text, negative) / ERANGE (overflow). */
int hpi_options_parse_size(const char *s, size_t *out);
/* 1/0/yes/no/on/off/true/false; 0 or EINVAL. */
int hpi_options_parse_bool(const char *s, bool *out);

/* ---- stats.c: counters ------------------------------------------------------ */

/* Global counters of the layers below the heap, updated with relaxed atomics
 * (never on the malloc fast path: these change only when memory is mapped). */
struct hpi_counters {
    atomic_size_t mapped[4]; /* heap bytes per enum hp_backing */
    atomic_size_t blocks_held, blocks_cached;
    atomic_size_t fallback_thp, fallback_base;
    atomic_size_t collapse_ok, collapse_failed;
    atomic_size_t released;
    atomic_size_t region[4]; /* hp_map bytes per enum hp_backing */
};
extern struct hpi_counters hpi_counters;
#define HPI_COUNT_ADD(field, n) atomic_fetch_add_explicit(&hpi_counters.field, (n), memory_order_relaxed)
#define HPI_COUNT_SUB(field, n) atomic_fetch_sub_explicit(&hpi_counters.field, (n), memory_order_relaxed)

/* The heap fills the figures it owns (requested, in_use) through this hook,
 * registered when the heap initialises: stats.c must not call up into heap.c. */
void hpi_stats_set_heap_hook(void (*fill)(struct hp_stats *));

#endif /* HPI_INTERNAL_H */
