/* region.c: whole-page mappings for users, hp_map/hp_unmap/hp_backing, and the
 * fallback chain hugetlb -> THP -> base that the block layer shares (layer 2).
 * Calls os.c, sysinfo.c, options.c, report.c and the counters of stats.c.
 *
 * The fallback chain (hpi_region_map_chain) asks the kernel, in order, for:
 *  1. hugetlb pages from the reserved pool: mmap(MAP_HUGETLB | MAP_HUGE_<size>).
 *     Never MAP_NORESERVE: without it the kernel reserves every page of the
 *     mapping at mmap time (Documentation/admin-guide/mm/hugetlbpage.rst), so an
 *     empty pool shows up here as a failed mmap (ENOMEM), which we can fall back
 *     from, instead of as a SIGBUS on first touch, which nobody can.
 *  2. transparent huge pages: anonymous memory with MADV_HUGEPAGE. The kernel can
 *     only put a THP on a 2 MiB-aligned 2 MiB frame that lies wholly inside the
 *     VMA, so we over-map by `align` and trim both ends: every frame of the
 *     result is then eligible. In the kernel's "madvise" THP mode (the common
 *     default) the advice is what makes the memory eligible at all. Shared
 *     anonymous memory (HP_SHARED) is shmem, whose THPs follow
 *     transparent_hugepage/shmem_enabled instead; either way we report THP for
 *     memory we advised, and hp_backing tells what the kernel then did.
 *  3. base pages, aligned the same way and advised MADV_NOHUGEPAGE, so that
 *     "base" means base even where THP is "always".
 *
 * The registry of live hp_map regions lets hp_unmap refuse a pointer hp_map did
 * not return (EINVAL instead of unmapping someone else's memory) and release
 * exactly the rounded length that was mapped. It is an open-addressing hash
 * table keyed by the address handed to the user, in memory from hpi_os_mmap
 * (never malloc: we may run inside malloc), grown by doubling at half load,
 * with backward-shift deletion (no tombstones).
 *
 * HP_COLOR (cache colouring): consecutive coloured maps start at offsets
 * k * 64 bytes into their mapping, k = 0, 1, ..., 63, 0, ... (a process-wide
 * rotating counter). 64 steps of one cache line span 4 KiB, so the first lines
 * of 64 equal-sized buffers fall on 64 different L1 sets (an L1 way is 4 KiB on
 * x86-64) and spread over 64 set groups of L2/L3, instead of all starting at a
 * page boundary and competing for the same sets. The offset lives in the
 * rounding slack when len leaves at least 4032 bytes of it; otherwise the
 * mapping grows by one page of the chosen size (so colour lengths a little
 * below a page multiple, especially with HP_1GB).
 *
 * Lock: reg_lock (a pthread mutex) guards the table. The only system calls made
 * while holding it are the table's own growth (mmap of the new table, munmap of
 * the old one); region mappings are made before and released after. No other
 * library lock is taken while holding it, and it is taken under none. */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "internal.h"
#include "sysinfo.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define COLOR_STEP 64u   /* bytes: one cache line */
#define COLOR_STEPS 64u  /* offsets 0 .. 63 * 64 */
#define KNOWN_FLAGS (HP_2MB | HP_1GB | HP_STRICT | HP_SHARED | HP_POPULATE | HP_COLOR)

/* ---- small helpers ------------------------------------------------------- */

static bool is_pow2(size_t x)
{
    return x && !(x & (x - 1));
}

static unsigned log2_of(size_t x)
{
    return (unsigned)__builtin_ctzll((unsigned long long)x);
}

/* Rounds len up to a multiple of unit (a power of two); false on overflow. */
static bool round_up(size_t len, size_t unit, size_t *out)
{
    if (len > SIZE_MAX - (unit - 1))
        return false;
    *out = (len + unit - 1) & ~(unit - 1);
    return true;
}

/* Page sizes the kernel supports and its THP setting, read once: both come
 * from sysfs and change only when an administrator reconfigures the machine,
 * and the block layer calls the chain far too often to read sysfs each time. */
static struct {
    size_t default_size;
    size_t sizes[HPI_MAX_PAGE_SIZES];
    int nsizes;
    bool thp_never; /* THP enabled = never: the THP leg cannot give huge pages */
} kern;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static void kern_read(void)
{
    int n = hpi_sysinfo_page_sizes(kern.sizes, HPI_MAX_PAGE_SIZES);
    kern.nsizes = n < 0 ? 0 : n > HPI_MAX_PAGE_SIZES ? HPI_MAX_PAGE_SIZES : n;
    enum hpi_thp_mode enabled = HPI_THP_UNKNOWN, defrag;
    kern.thp_never = hpi_sysinfo_thp(&enabled, &defrag) != 0 || enabled == HPI_THP_NEVER;
    kern.default_size = hpi_sysinfo_default_page_size();
}

static void kern_load(void)
{
    pthread_once(&kern_once, kern_read);
}

static bool size_supported(size_t page_size)
{
    kern_load();
    for (int i = 0; i < kern.nsizes; i++)
        if (kern.sizes[i] == page_size)
            return true;
    return false;
}

/* ---- the fallback chain ---------------------------------------------------- */

/* Unmaps [p, p+len) when len > 0. */
static int unmap_part(uintptr_t p, size_t len)
{
    return len ? hpi_os_munmap((void *)p, len) : 0;
}

/* Maps len bytes aligned to align by over-mapping len + align - 4 KiB bytes
 * (mmap already gives base-page alignment) and trimming both ends. For hugetlb,
 * where over-mapping would take pool pages, map_hugetlb aligns a PROT_NONE
 * reservation this way instead and maps the pages over it. */
static int map_aligned(size_t len, size_t align, int prot, int flags, void **out)
{
    size_t span = len + align - HPI_BASE_PAGE;
    void *raw;
    int err = hpi_os_mmap(NULL, span, prot, flags, -1, 0, &raw);
    if (err)
        return err;
    uintptr_t start = (uintptr_t)raw, aligned = (start + align - 1) & ~(uintptr_t)(align - 1);
    err = unmap_part(start, aligned - start);
    if (!err)
        err = unmap_part(aligned + len, start + span - (aligned + len));
    if (err) {
        /* A trim can only fail when the kernel cannot split the VMA (map count
         * limit); give the whole thing back rather than leak a piece. */
        hpi_os_munmap(raw, span);
        return err;
    }
    *out = (void *)aligned;
    return 0;
}

static int map_hugetlb(size_t len, size_t align, size_t page_size, int share, bool populate,
                       void **out)
{
    int flags = share | MAP_ANONYMOUS | MAP_HUGETLB | (int)(log2_of(page_size) << MAP_HUGE_SHIFT);
    if (populate)
        flags |= MAP_POPULATE;
    if (align <= page_size) /* the kernel aligns hugetlb mappings to page_size */
        return hpi_os_mmap(NULL, len, PROT_READ | PROT_WRITE, flags, -1, 0, out);

    /* A larger alignment: reserve address space without memory (PROT_NONE,
     * MAP_NORESERVE on base pages costs nothing), then place the hugetlb
     * mapping over its aligned part with MAP_FIXED, so that only len bytes of
     * the pool are ever reserved. */
    void *resv;
    int err = map_aligned(len, align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, &resv);
    if (err)
        return err;
    err = hpi_os_mmap(resv, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0, out);
    if (err)
        hpi_os_munmap(resv, len);
    return err;
}

/* Faults every page of [p, p+len) in. MADV_POPULATE_WRITE (Linux 5.14) does it
 * in one call; older kernels answer EINVAL, and then we write a zero into each
 * base page ourselves (the memory is fresh and zeroed, and nobody else has the
 * address yet). */
static void populate_pages(void *p, size_t len)
{
    if (hpi_os_madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return;
    volatile char *c = p;
    for (size_t i = 0; i < len; i += HPI_BASE_PAGE)
        c[i] = 0;
}

static const char *mode_name(enum hpi_mode mode)
{
    static const char *const names[] = {"auto", "hugetlb", "thp", "base"};
    return (unsigned)mode < 4 ? names[mode] : "?";
}

int hpi_region_map_chain(size_t len, size_t align, size_t page_size, enum hpi_mode mode,
                         bool strict, bool shared, bool populate, const char *name,
                         void **out, enum hp_backing *got)
{
    if (len == 0 || len % HPI_BASE_PAGE || !is_pow2(align) || align < HPI_2MB ||
        (unsigned)mode > HPI_MODE_BASE || len > SIZE_MAX - align)
        return EINVAL;
    if (strict)
        mode = HPI_MODE_HUGETLB;
    if (page_size == 0) {
        kern_load();
        page_size = kern.default_size;
    }
    int share = shared ? MAP_SHARED : MAP_PRIVATE;
    int err = 0;
    void *p = NULL;

    /* 1. hugetlb */
    bool usable = page_size && size_supported(page_size) && len % page_size == 0;
    if (strict && !usable)
        return EINVAL;
    if (mode == HPI_MODE_AUTO || mode == HPI_MODE_HUGETLB) {
        err = usable ? map_hugetlb(len, align, page_size, share, populate, &p) : EINVAL;
        if (!err) {
            *out = p;
            *got = HP_BACKING_HUGETLB;
            return 0;
        }
        hpi_report_warn("no hugetlb mapping of %zu bytes in %zu KiB pages: %s (errno %d)%s", len,
                        page_size / HPI_KiB,
                        !usable ? "size unsupported or len not a multiple of it"
                        : err == ENOMEM ? "pool empty" : "mmap failed",
                        err, mode == HPI_MODE_AUTO ? "; falling back" : "");
        if (mode == HPI_MODE_HUGETLB)
            return ENOMEM;
    }

    /* 2. THP, 3. base: one anonymous mapping, advised one way or the other. */
    err = map_aligned(len, align, PROT_READ | PROT_WRITE, share | MAP_ANONYMOUS, &p);
    if (err) {
        hpi_report_warn("anonymous mapping of %zu bytes failed (errno %d), mode %s", len, err,
                        mode_name(mode));
        return ENOMEM;
    }
    enum hp_backing kind = HP_BACKING_BASE;
    if (mode != HPI_MODE_BASE) {
        kern_load();
        if (kern.thp_never)
            hpi_report_warn("THP is disabled (transparent_hugepage/enabled = never): base pages");
        else if ((err = hpi_os_madvise(p, len, MADV_HUGEPAGE)) != 0)
            hpi_report_warn("madvise(MADV_HUGEPAGE) of %zu bytes failed (errno %d): base pages",
                            len, err);
        else
            kind = HP_BACKING_THP;
    }
    if (kind == HP_BACKING_BASE)
        hpi_os_madvise(p, len, MADV_NOHUGEPAGE); /* advisory; failure changes nothing we promise */
    if (name)
        hpi_os_name_mapping(p, len, name); /* cosmetic: kernels without it just say no */
    if (populate)
        populate_pages(p, len);

    if (kind == HP_BACKING_THP && mode == HPI_MODE_AUTO)
        HPI_COUNT_ADD(fallback_thp, 1);
    else if (kind == HP_BACKING_BASE && mode != HPI_MODE_BASE)
        HPI_COUNT_ADD(fallback_base, 1);
    *out = p;
    *got = kind;
    return 0;
}

int hpi_region_unmap_chain(void *p, size_t len)
{
    if (!p || len == 0)
        return EINVAL;
    return hpi_os_munmap(p, len);
}

/* ---- the registry of live hp_map regions ----------------------------------- */

struct region {
    uintptr_t addr;    /* what hp_map returned; 0 = empty slot */
    uintptr_t base;    /* start of the mapping (addr minus the colour offset) */
    size_t maplen;     /* bytes mapped: what hp_unmap releases */
    size_t unit;       /* the page size len was rounded to */
    enum hp_backing backing;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct region *reg_table; /* guarded by reg_lock */
static size_t reg_cap;           /* slots, a power of two; guarded by reg_lock */
static size_t reg_used;          /* live entries; guarded by reg_lock */

static size_t slot_of(uintptr_t addr, size_t cap)
{
    /* Addresses are at least 64-byte aligned and mostly page aligned: mix the
     * high bits down (Fibonacci hashing) so they spread over the table. */
    return (size_t)(((uint64_t)addr * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static void put(struct region *table, size_t cap, const struct region *r)
{
    size_t i = slot_of(r->addr, cap);
    while (table[i].addr)
        i = (i + 1) & (cap - 1);
    table[i] = *r;
}

/* Doubles the table (or makes the first one). Called with reg_lock held: the
 * one system call allowed under it. */
static int grow(void)
{
    size_t cap = reg_cap ? reg_cap * 2 : 64;
    struct region *table;
    int err = hpi_os_mmap(NULL, cap * sizeof *table, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, (void **)&table);
    if (err)
        return err;
    for (size_t i = 0; i < reg_cap; i++)
        if (reg_table[i].addr)
            put(table, cap, &reg_table[i]);
    if (reg_table)
        hpi_os_munmap(reg_table, reg_cap * sizeof *reg_table);
    reg_table = table;
    reg_cap = cap;
    return 0;
}

static int reg_insert(const struct region *r)
{
    pthread_mutex_lock(&reg_lock);
    int err = 0;
    if ((reg_used + 1) * 2 > reg_cap)
        err = grow();
    if (!err) {
        put(reg_table, reg_cap, r);
        reg_used++;
    }
    pthread_mutex_unlock(&reg_lock);
    return err;
}

/* Removes the entry for addr when len matches it (see hp_unmap); EINVAL when
 * there is none or len does not match. */
static int reg_remove(uintptr_t addr, size_t len, struct region *out)
{
    int err = EINVAL;
    pthread_mutex_lock(&reg_lock);
    size_t i = reg_cap ? slot_of(addr, reg_cap) : 0;
    while (reg_cap && reg_table[i].addr && reg_table[i].addr != addr)
        i = (i + 1) & (reg_cap - 1);
    if (reg_cap && reg_table[i].addr == addr) {
        struct region *r = &reg_table[i];
        size_t offset = r->addr - r->base, again;
        /* Any len that hp_map would have rounded to this mapping is accepted,
         * as munmap accepts any length within the last page. */
        if (len <= r->maplen - offset && round_up(len + offset, r->unit, &again) &&
            again == r->maplen) {
            *out = *r;
            /* Backward-shift deletion: pull later members of the probe run
             * into the hole so that lookups never stop at it early. */
            size_t hole = i, j = i;
            for (;;) {
                j = (j + 1) & (reg_cap - 1);
                if (!reg_table[j].addr)
                    break;
                size_t home = slot_of(reg_table[j].addr, reg_cap);
                bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
                if (!stays) {
                    reg_table[hole] = reg_table[j];
                    hole = j;
                }
            }
            reg_table[hole].addr = 0;
            reg_used--;
            err = 0;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return err;
}

/* ---- public API -------------------------------------------------------------- */

/* The page size hp_map rounds to and asks hugetlb for: HP_2MB, HP_1GB, else
 * HUGEPAGE_PAGESIZE, else the kernel's default, else (no hugetlb at all) the
 * THP size. */
static size_t choose_page_size(unsigned flags)
{
    if (flags & HP_2MB)
        return HPI_2MB;
    if (flags & HP_1GB)
        return HPI_1GB;
    size_t size = hpi_options_get()->page_size;
    if (size)
        return size;
    kern_load();
    return kern.default_size ? kern.default_size : HPI_2MB;
}

static int map_region(size_t len, unsigned flags, void **out)
{
    static atomic_uint next_color;

    if (len == 0 || (flags & ~KNOWN_FLAGS) || (flags & (HP_2MB | HP_1GB)) == (HP_2MB | HP_1GB))
        return EINVAL;
    size_t unit = choose_page_size(flags);
    bool strict = flags & HP_STRICT;
    size_t offset = 0, maplen;
    if (flags & HP_COLOR)
        offset = (atomic_fetch_add_explicit(&next_color, 1, memory_order_relaxed) % COLOR_STEPS) *
                 COLOR_STEP;
    if (len > SIZE_MAX - offset || !round_up(len + offset, unit, &maplen) ||
        maplen > SIZE_MAX / 2)
        return ENOMEM;

    enum hpi_mode mode = strict ? HPI_MODE_HUGETLB : hpi_options_get()->mode;
    void *base;
    enum hp_backing got;
    int err = hpi_region_map_chain(maplen, HPI_2MB, unit, mode, strict, flags & HP_SHARED,
                                   flags & HP_POPULATE, "hp_map", &base, &got);
    if (err)
        return err;
    struct region r = {.addr = (uintptr_t)base + offset, .base = (uintptr_t)base,
                       .maplen = maplen, .unit = unit, .backing = got};
    err = reg_insert(&r);
    if (err) {
        hpi_region_unmap_chain(base, maplen);
        return ENOMEM;
    }
    HPI_COUNT_ADD(region[got], maplen);
    *out = (void *)r.addr;
    return 0;
}

void *hp_map(size_t len, unsigned flags)
{
    void *p;
    int err = map_region(len, flags, &p);
    if (err) {
        errno = err;
        return NULL;
    }
    return p;
}

int hp_unmap(void *p, size_t len)
{
    struct region r;
    int err = p ? reg_remove((uintptr_t)p, len, &r) : EINVAL;
    if (!err) {
        err = hpi_region_unmap_chain((void *)r.base, r.maplen);
        if (err) {
            /* Still mapped, so still ours: put it back (the table has room,
             * the entry was just removed) and let the caller retry. */
            reg_insert(&r);
        } else {
            HPI_COUNT_SUB(region[r.backing], r.maplen);
        }
    }
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* What smaps can tell about one address: it reports per VMA, not per page.
 * KernelPageSize (or the 'ht' VmFlag) says the whole VMA is hugetlb, touched or
 * not. AnonHugePages (ShmemPmdMapped, FilePmdMapped for shared and file
 * memory) says how many bytes of the VMA are mapped by huge PMDs, but not
 * where. So THP here means: the VMA holds some PMD-mapped huge pages and p's
 * 2 MiB frame lies wholly inside the VMA, so it can be one of them. When every
 * whole frame of the VMA is huge, that is exact; when only some are, the answer
 * for a particular frame may be wrong (telling which would need PAGEMAP_SCAN or
 * /proc/kpageflags). */
enum hp_backing hp_backing(const void *p)
{
    int saved = errno;
    struct hpi_vma vma;
    enum hp_backing b = HP_BACKING_UNKNOWN;
    if (hpi_sysinfo_vma_at(0, (uintptr_t)p, &vma) == 0) {
        uintptr_t frame = (uintptr_t)p & ~(uintptr_t)(HPI_2MB - 1);
        bool frame_inside = frame >= vma.start && frame + HPI_2MB <= vma.end;
        if (vma.hugetlb)
            b = HP_BACKING_HUGETLB;
        else if (frame_inside && vma.anon_huge + vma.shmem_huge + vma.file_huge > 0)
            b = HP_BACKING_THP;
        else
            b = HP_BACKING_BASE;
    }
    errno = saved;
    return b;
}

const char *hp_backing_name(enum hp_backing b)
{
    switch (b) {
    case HP_BACKING_HUGETLB:
        return "hugetlb";
    case HP_BACKING_THP:
        return "thp";
    case HP_BACKING_BASE:
        return "base";
    default:
        return "unknown";
    }
}
