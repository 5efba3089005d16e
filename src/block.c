/* block.c: 2 MiB huge blocks (layer 3). Calls region.c (the fallback chain),
 * sysinfo.c, options.c, stats.c and os.c only.
 *
 * The heap gets its memory here, as runs of whole 2 MiB-aligned blocks. Each
 * run has one backing for life: hugetlb (2 MiB or 1 GiB pages), THP (2 MiB
 * aligned, MADV_HUGEPAGE) or base pages.
 *
 * Invariants:
 *  - memory goes back to the kernel only as whole huge pages: whole 2 MiB
 *    blocks, or for 1 GiB pages whole aligned GiBs. Never a partial
 *    MADV_DONTNEED, which would split a transparent huge page;
 *  - a cached run is empty and its blocks map to NULL in the owner table;
 *  - the cache array holds disjoint runs; adjacent runs of one backing merge
 *    when freed (a reservation's pieces and runs whose unmap failed do not);
 *  - the cache stores nothing inside the cached memory: writing a link into an
 *    untouched THP block would fault in a whole huge page.
 *
 * Release policy: dirty (once used) cached blocks are unmapped when they stayed
 * empty for DECAY_MS, or at once, oldest first, when more than DIRTY_LIMIT of
 * them are cached. Clean blocks (the unused rest of a fresh mapping, which cost
 * no memory until touched) stay until hp_trim. Runs over CACHE_RUN_MAX blocks
 * are unmapped when freed (very large objects are mapped directly).
 *
 * Lock: block_lock guards the cache array and the chunk-size state. It is a
 * leaf lock (see heap.c for the order) and is never held across a system call:
 * decisions are made under it, the mmap/munmap happen after unlocking. The
 * owner table is lock-free: leaves are installed with a CAS, entries are
 * written only by the thread that holds the run. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "sysinfo.h"

#define CACHE_MAX 256          /* cache entries (disjoint runs) */
#define DIRTY_LIMIT 16         /* dirty blocks kept (32 MiB) */
#define DECAY_MS 1000          /* dirty blocks older than this are released */
#define CACHE_RUN_MAX 32       /* bigger freed runs are unmapped at once */
#define CHUNK_MAX 32           /* blocks mapped at once for the slab path (64 MiB) */
#define HUGETLB_RETRY_MS 500   /* after the pool ran dry, skip hugetlb this long */

/* Backing of a run, finer than enum hp_backing: 1 GiB pages release differently. */
enum kind { KIND_BASE, KIND_THP, KIND_HUGETLB_2M, KIND_HUGETLB_1G };

/* ---- the owner table (hpi_block_map, internal.h) ------------------------------ */

typedef hpi_map_entry map_entry;
#define KIND_MASK HPI_MAP_KIND_MASK
#define LEAF_BITS HPI_MAP_LEAF_BITS
#define LEAF_LEN HPI_MAP_LEAF
#define VA_BITS HPI_VA_BITS
hpi_map_slot hpi_block_map[HPI_MAP_TOP];

/* The leaf for block index idx, created on first use. ENOMEM if it cannot be. */
static int map_leaf(size_t idx, map_entry **out)
{
    hpi_map_slot *slot = &hpi_block_map[idx >> LEAF_BITS];
    map_entry *leaf = atomic_load_explicit(slot, memory_order_acquire);
    if (!leaf) {
        void *mem;
        int err = hpi_os_mmap(NULL, LEAF_LEN * sizeof(map_entry), PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &mem);
        if (err)
            return err;
        map_entry *expected = NULL;
        if (atomic_compare_exchange_strong_explicit(slot, &expected, (map_entry *)mem,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            leaf = mem;
        } else {
            hpi_os_munmap(mem, LEAF_LEN * sizeof(map_entry));
            leaf = expected;
        }
    }
    *out = leaf;
    return 0;
}

/* Points every block of [start, start + n blocks) at value (a run start or 0). */
static int map_set(uintptr_t start, size_t n, uintptr_t value)
{
    for (size_t i = 0; i < n; i++) {
        size_t idx = (start >> HPI_BLOCK_SHIFT) + i;
        map_entry *leaf;
        int err = map_leaf(idx, &leaf);
        if (err)
            return err;
        atomic_store_explicit(&leaf[idx & (LEAF_LEN - 1)], value, memory_order_relaxed);
    }
    return 0;
}

/* ---- the cache ----------------------------------------------------------------- */


struct run {
    uintptr_t start;   /* 2 MiB aligned */
    size_t nblocks;
    enum kind kind;
    bool dirty;        /* once used: holds memory; clean runs were never touched */
    uint64_t since_ms; /* when it became empty (dirty runs) */
};

static pthread_mutex_t block_lock = PTHREAD_MUTEX_INITIALIZER;
static struct run cache[CACHE_MAX]; /* guarded by block_lock */
static int ncache;                   /* guarded by block_lock */
static size_t ndirty;                /* dirty blocks in the cache; guarded by block_lock */
static size_t chunk = 4;             /* next slab-path mapping, blocks; guarded by block_lock */
static uint64_t hugetlb_retry_at;    /* ms; guarded by block_lock */

static enum hp_backing backing_of(enum kind k)
{
    return k == KIND_BASE ? HP_BACKING_BASE : k == KIND_THP ? HP_BACKING_THP : HP_BACKING_HUGETLB;
}

static void account_cached(const struct run *r, long sign)
{
    size_t n = r->nblocks;
    if (sign > 0) {
        HPI_COUNT_ADD(blocks_cached, n);
        if (r->dirty)
            ndirty += n;
    } else {
        HPI_COUNT_SUB(blocks_cached, n);
        if (r->dirty)
            ndirty -= n;
    }
}

static void cache_remove(int i)
{
    account_cached(&cache[i], -1);
    cache[i] = cache[--ncache];
}

/* Runs waiting to be unmapped once block_lock is released. */
struct unmap_list {
    struct run runs[CACHE_MAX + 2];
    int n;
};

/* Moves what can be released of cache entry i into out. A 1 GiB-page run can
 * only go back as whole aligned GiBs: the rest stays cached. */
static void release_entry(int i, struct unmap_list *out)
{
    struct run r = cache[i];
    if (r.kind != KIND_HUGETLB_1G) {
        cache_remove(i);
        out->runs[out->n++] = r;
        return;
    }
    uintptr_t end = r.start + r.nblocks * HPI_BLOCK_SIZE;
    uintptr_t g0 = (r.start + HPI_1GB - 1) & ~(uintptr_t)(HPI_1GB - 1);
    uintptr_t g1 = end & ~(uintptr_t)(HPI_1GB - 1);
    if (g0 >= g1)
        return;
    cache_remove(i);
    struct run whole = r;
    whole.start = g0;
    whole.nblocks = (g1 - g0) >> HPI_BLOCK_SHIFT;
    out->runs[out->n++] = whole;
    struct run pieces[2] = {r, r};
    pieces[0].nblocks = (g0 - r.start) >> HPI_BLOCK_SHIFT;
    pieces[1].start = g1;
    pieces[1].nblocks = (end - g1) >> HPI_BLOCK_SHIFT;
    for (int k = 0; k < 2; k++) {
        if (pieces[k].nblocks && ncache < CACHE_MAX) {
            cache[ncache++] = pieces[k];
            account_cached(&pieces[k], +1);
        }
    }
}

/* Picks dirty runs to release: too old, or too many. Under block_lock. */
static void choose_releases(uint64_t now, struct unmap_list *out)
{
    for (int i = ncache - 1; i >= 0; i--)
        if (cache[i].dirty && now - cache[i].since_ms >= DECAY_MS)
            release_entry(i, out);
    while (ndirty > DIRTY_LIMIT) {
        int oldest = -1;
        for (int i = 0; i < ncache; i++)
            if (cache[i].dirty && cache[i].kind != KIND_HUGETLB_1G &&
                (oldest < 0 || cache[i].since_ms < cache[oldest].since_ms))
                oldest = i;
        if (oldest < 0)
            break;
        release_entry(oldest, out);
    }
}

/* Unmaps the runs of list (block_lock not held); returns the bytes given back.
 * A run the kernel would not unmap (munmap fails with ENOMEM when it must split
 * a mapping and is out of memory) is still ours and still mapped: it goes back
 * into the cache, dirty, and is tried again when it decays. Only when the cache
 * array is full is it lost to reuse (it stays counted as held). */
static size_t unmap_runs(const struct unmap_list *list)
{
    size_t released = 0;
    for (int i = 0; i < list->n; i++) {
        struct run r = list->runs[i];
        size_t len = r.nblocks * HPI_BLOCK_SIZE;
        if (hpi_region_unmap_chain((void *)r.start, len) == 0) {
            HPI_COUNT_SUB(mapped[backing_of(r.kind)], len);
            HPI_COUNT_SUB(blocks_held, r.nblocks);
            HPI_COUNT_ADD(released, len);
            released += len;
            continue;
        }
        r.dirty = true;
        r.since_ms = hpi_os_now_ms();
        pthread_mutex_lock(&block_lock);
        if (ncache < CACHE_MAX) {
            cache[ncache++] = r;
            account_cached(&r, +1);
        }
        pthread_mutex_unlock(&block_lock);
    }
    return released;
}

/* Adds a run to the cache, merging with neighbours of the same kind. Under
 * block_lock. When the array is full the run goes to out, to be unmapped. */
static void cache_insert(struct run r, struct unmap_list *out)
{
    for (int i = 0; i < ncache; i++) {
        struct run *c = &cache[i];
        if (c->kind != r.kind)
            continue;
        uintptr_t c_end = c->start + c->nblocks * HPI_BLOCK_SIZE;
        uintptr_t r_end = r.start + r.nblocks * HPI_BLOCK_SIZE;
        if (c_end == r.start || r_end == c->start) {
            struct run merged = *c;
            merged.start = c->start < r.start ? c->start : r.start;
            merged.nblocks = c->nblocks + r.nblocks;
            merged.dirty = c->dirty || r.dirty;
            merged.since_ms = r.dirty ? r.since_ms : c->since_ms;
            cache_remove(i);
            cache_insert(merged, out); /* it may touch another neighbour too */
            return;
        }
    }
    if (ncache == CACHE_MAX || (r.kind != KIND_HUGETLB_1G && r.nblocks > CACHE_RUN_MAX)) {
        out->runs[out->n++] = r;
        return;
    }
    cache[ncache++] = r;
    account_cached(&r, +1);
}

/* Takes nblocks from the cache: the smallest run that fits, split at its start.
 * Prefers dirty runs (already faulted in) for single blocks. Under block_lock. */
static bool cache_take(size_t nblocks, struct run *got)
{
    int best = -1;
    for (int i = 0; i < ncache; i++) {
        if (cache[i].nblocks < nblocks)
            continue;
        if (best < 0 || cache[i].dirty > cache[best].dirty ||
            (cache[i].dirty == cache[best].dirty && cache[i].nblocks < cache[best].nblocks))
            best = i;
    }
    if (best < 0)
        return false;
    struct run *c = &cache[best];
    account_cached(c, -1);
    *got = *c;
    got->nblocks = nblocks;
    c->start += nblocks * HPI_BLOCK_SIZE;
    c->nblocks -= nblocks;
    if (c->nblocks == 0)
        cache[best] = cache[--ncache];
    else
        account_cached(c, +1);
    return true;
}

/* ---- mapping new memory ------------------------------------------------------------ */

/* Fork and hugetlb. After fork, the heap's MAP_PRIVATE hugetlb pages are shared
 * copy-on-write with the child, and a copy needs a page from the pool that no
 * mapping reserved: with the pool empty the kernel kills the child with SIGBUS
 * on its first write (or, when the parent writes first, unmaps the page from
 * the child, which dies later). See the kernel's hugetlbpage documentation and
 * mm/hugetlb.c, unmap_ref_private. So the heap never takes the last pages of
 * the 2 MiB pool: it leaves HEADROOM (1/32 of the pool, at most 32 pages) free
 * for copies, and falls back to THP beyond that. 1 GiB pages are too few to
 * keep one back; a child that writes a 1 GiB-page heap needs a free page. */
#define HEADROOM_MAX 32

static bool pool_has_room(size_t npages)
{
    struct hp_pool pool;
    if (hpi_sysinfo_pool(HPI_2MB, -1, &pool) != 0)
        return true; /* cannot tell: let mmap decide */
    unsigned long avail = pool.free > pool.reserved ? pool.free - pool.reserved : 0;
    unsigned long headroom = pool.total / 32 < HEADROOM_MAX ? pool.total / 32 : HEADROOM_MAX;
    return avail >= npages + headroom;
}

/* Maps at least nblocks (want blocks if that much can be had) following the
 * chain. 1 GiB heap pages come in whole GiBs; then 2 MiB hugetlb pages; then
 * THP; then base pages. Returns 0 with *r filled (clean), or ENOMEM. */
static int map_fresh(size_t nblocks, size_t want, bool try_hugetlb, struct run *r)
{
    const struct hpi_options *o = hpi_options_get();
    size_t page = o->page_size ? o->page_size : hpi_sysinfo_default_page_size();
    void *p;
    enum hp_backing got;
    bool hugetlb_ok = try_hugetlb && o->mode != HPI_MODE_THP && o->mode != HPI_MODE_BASE;

    if (hugetlb_ok && page == HPI_1GB && hpi_sysinfo_page_size_supported(HPI_1GB)) {
        size_t len = (nblocks * HPI_BLOCK_SIZE + HPI_1GB - 1) & ~(HPI_1GB - 1);
        if (hpi_region_map_chain(len, HPI_1GB, HPI_1GB, HPI_MODE_HUGETLB, true, false, false,
                                 "hugepage-heap", &p, &got) == 0) {
            *r = (struct run){(uintptr_t)p, len >> HPI_BLOCK_SHIFT, KIND_HUGETLB_1G, false, 0};
            return 0;
        }
    }
    if (hugetlb_ok && hpi_sysinfo_page_size_supported(HPI_2MB)) {
        size_t tries[2] = {want, nblocks};
        for (int i = 0; i < 2; i++) {
            if (i == 1 && want == nblocks)
                break;
            size_t len = tries[i] * HPI_BLOCK_SIZE;
            if (!pool_has_room(tries[i]))
                continue;
            if (hpi_region_map_chain(len, HPI_BLOCK_SIZE, HPI_2MB, HPI_MODE_HUGETLB, true, false,
                                     false, "hugepage-heap", &p, &got) == 0) {
                *r = (struct run){(uintptr_t)p, tries[i], KIND_HUGETLB_2M, false, 0};
                return 0;
            }
        }
    }
    if (o->mode == HPI_MODE_HUGETLB)
        return ENOMEM;
    enum hpi_mode rest = o->mode == HPI_MODE_BASE ? HPI_MODE_BASE : HPI_MODE_THP;
    size_t len = want * HPI_BLOCK_SIZE;
    int err = hpi_region_map_chain(len, HPI_BLOCK_SIZE, HPI_2MB, rest, false, false, false,
                                   "hugepage-heap", &p, &got);
    if (err && want != nblocks) {
        len = nblocks * HPI_BLOCK_SIZE;
        err = hpi_region_map_chain(len, HPI_BLOCK_SIZE, HPI_2MB, rest, false, false, false,
                                   "hugepage-heap", &p, &got);
    }
    if (err)
        return err;
    if (try_hugetlb && o->mode == HPI_MODE_AUTO)
        HPI_COUNT_ADD(fallback_thp, got == HP_BACKING_THP ? 1 : 0);
    if (got == HP_BACKING_BASE && o->mode != HPI_MODE_BASE)
        HPI_COUNT_ADD(fallback_base, 1);
    *r = (struct run){(uintptr_t)p, len >> HPI_BLOCK_SHIFT, got == HP_BACKING_THP ? KIND_THP : KIND_BASE,
                      false, 0};
    return 0;
}

int hpi_block_alloc(size_t nblocks, void **run, enum hp_backing *backing, bool *zeroed)
{
    if (nblocks == 0 || nblocks > ((size_t)1 << (VA_BITS - HPI_BLOCK_SHIFT)))
        return EINVAL;
    struct run r;
    struct unmap_list spill;
    spill.n = 0;

    pthread_mutex_lock(&block_lock);
    bool hit = cache_take(nblocks, &r);
    size_t want = nblocks;
    bool try_hugetlb = true;
    if (!hit) {
        uint64_t now = hpi_os_now_ms();
        try_hugetlb = now >= hugetlb_retry_at;
        if (nblocks == 1) {
            want = chunk;
            if (chunk < CHUNK_MAX)
                chunk *= 2;
        }
    }
    pthread_mutex_unlock(&block_lock);

    if (!hit) {
        int err = map_fresh(nblocks, want, try_hugetlb, &r);
        if (err)
            return err;
        size_t len = r.nblocks * HPI_BLOCK_SIZE;
        HPI_COUNT_ADD(mapped[backing_of(r.kind)], len);
        HPI_COUNT_ADD(blocks_held, r.nblocks);
        pthread_mutex_lock(&block_lock);
        if (try_hugetlb && r.kind != KIND_HUGETLB_1G && r.kind != KIND_HUGETLB_2M)
            hugetlb_retry_at = hpi_os_now_ms() + HUGETLB_RETRY_MS;
        if (r.nblocks > nblocks) {
            struct run rest = r;
            rest.start += nblocks * HPI_BLOCK_SIZE;
            rest.nblocks -= nblocks;
            cache_insert(rest, &spill);
            r.nblocks = nblocks;
        }
        pthread_mutex_unlock(&block_lock);
        unmap_runs(&spill);
    }
    if (map_set(r.start, nblocks, r.start | (uintptr_t)r.kind) != 0) {
        /* No memory for the owner table: put the run back untouched. */
        map_set(r.start, nblocks, 0);
        spill.n = 0;
        pthread_mutex_lock(&block_lock);
        cache_insert(r, &spill);
        pthread_mutex_unlock(&block_lock);
        unmap_runs(&spill);
        return ENOMEM;
    }
    *run = (void *)r.start;
    *backing = backing_of(r.kind);
    *zeroed = !r.dirty;
    return 0;
}

/* The kind of a live run, kept in the low bits of its owner-table entries. */
static enum kind kind_of(uintptr_t start)
{
    size_t idx = start >> HPI_BLOCK_SHIFT;
    map_entry *leaf = atomic_load_explicit(&hpi_block_map[idx >> LEAF_BITS], memory_order_acquire);
    return (enum kind)(atomic_load_explicit(&leaf[idx & (LEAF_LEN - 1)], memory_order_relaxed) & KIND_MASK);
}

void hpi_block_free(void *run, size_t nblocks)
{
    uintptr_t start = (uintptr_t)run;
    enum kind k = kind_of(start);
    map_set(start, nblocks, 0);
    struct run r = {start, nblocks, k, true, hpi_os_now_ms()};
    struct unmap_list out;
    out.n = 0;
    pthread_mutex_lock(&block_lock);
    cache_insert(r, &out);
    choose_releases(r.since_ms, &out);
    pthread_mutex_unlock(&block_lock);
    unmap_runs(&out);
}

size_t hpi_block_trim(void)
{
    struct unmap_list out;
    out.n = 0;
    pthread_mutex_lock(&block_lock);
    for (int i = ncache - 1; i >= 0; i--)
        release_entry(i, &out);
    pthread_mutex_unlock(&block_lock);
    return unmap_runs(&out);
}

void hpi_block_reserve(size_t bytes)
{
    size_t nblocks = (bytes + HPI_BLOCK_SIZE - 1) >> HPI_BLOCK_SHIFT;
    if (nblocks == 0)
        return;
    struct run r;
    if (map_fresh(nblocks, nblocks, true, &r) != 0) {
        hpi_report_warn("HUGEPAGE_RESERVE: could not map %zu bytes", bytes);
        return;
    }
    HPI_COUNT_ADD(mapped[backing_of(r.kind)], r.nblocks * HPI_BLOCK_SIZE);
    HPI_COUNT_ADD(blocks_held, r.nblocks);
    struct unmap_list out;
    out.n = 0;
    pthread_mutex_lock(&block_lock);
    if (r.kind == KIND_HUGETLB_1G || r.nblocks <= CACHE_RUN_MAX) {
        cache_insert(r, &out);
    } else {
        /* Split a big reservation so that cache_insert keeps it. */
        for (size_t off = 0; off < r.nblocks; off += CACHE_RUN_MAX) {
            struct run piece = r;
            piece.start += off * HPI_BLOCK_SIZE;
            piece.nblocks = r.nblocks - off < CACHE_RUN_MAX ? r.nblocks - off : CACHE_RUN_MAX;
            if (ncache < CACHE_MAX)
                cache[ncache++] = piece, account_cached(&piece, +1);
            else
                out.runs[out.n++] = piece;
        }
    }
    pthread_mutex_unlock(&block_lock);
    unmap_runs(&out);
}

void hpi_block_fork_prepare(void)
{
    pthread_mutex_lock(&block_lock);
}

void hpi_block_fork_parent(void)
{
    pthread_mutex_unlock(&block_lock);
}

void hpi_block_fork_child(void)
{
    pthread_mutex_init(&block_lock, NULL);
}

int hpi_block_check(void)
{
    int bad = 0;
    size_t dirty = 0;
    pthread_mutex_lock(&block_lock);
    for (int i = 0; i < ncache; i++) {
        const struct run *a = &cache[i];
        if (a->nblocks == 0 || (a->start & (HPI_BLOCK_SIZE - 1)))
            bad = 1;
        if (hpi_block_owner((void *)a->start))
            bad = 1; /* a cached run must not look live */
        if (a->dirty)
            dirty += a->nblocks;
        for (int j = i + 1; j < ncache; j++) {
            const struct run *b = &cache[j];
            uintptr_t a_end = a->start + a->nblocks * HPI_BLOCK_SIZE;
            uintptr_t b_end = b->start + b->nblocks * HPI_BLOCK_SIZE;
            if (a->start < b_end && b->start < a_end)
                bad = 1; /* overlap */
        }
    }
    if (dirty != ndirty)
        bad = 1;
    pthread_mutex_unlock(&block_lock);
    return bad ? EINVAL : 0;
}
