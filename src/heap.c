/* heap.c: thread heaps, slabs and free lists: the hp_malloc family (layer 4).
 * Calls block.c, options.c, stats.c, report.c and os.c only.
 *
 * Shape (DESIGN.md, The heap):
 *  - A slab block is one 2 MiB block from block.c, cut into 32 pages of 64 KiB.
 *    Its header (struct sblock, the first SBLOCK_HDR bytes, on the huge page
 *    itself) holds one slab descriptor per page and page -> slab and page ->
 *    class tables, so pointer -> slab is: owner table (block.c), then one
 *    index (and a cached object's class is on the header's first line).
 *  - A slab is 1..31 contiguous pages holding objects of one size class.
 *    Single-page slabs may use page 0 (minus the header); bigger ones never do,
 *    so their start is 64 KiB aligned.
 *  - Each thread has a heap: per class a current slab and a list of partial
 *    slabs. malloc pops the current slab's free list: no lock, no atomic. A free
 *    by the owning thread pushes onto the same list.
 *  - Classes up to TCACHE_MAX_SIZE bytes have a thread cache in front of that
 *    (jemalloc's tcache): per class an array of freed objects' addresses. free
 *    pushes one, whoever owns the object, without reading the object (it only
 *    stores the cached mark, see below): one that another core wrote last
 *    costs no stall in free. malloc pops the cache first, then
 *    the current slab as before; the cache holds only freed objects, never
 *    refilled from the slabs, so a program that only allocates does not pay
 *    for it. A full cache sends its older half back (own objects onto their
 *    slabs' free lists, other heaps' objects home to their remote lists).
 *  - Each thread cache also holds a fresh range: the never-used rest of the
 *    class's current slab when that memory is known to be zero (a clean
 *    slab: its block came zeroed from block.c and its pages never held a
 *    slab since). malloc bumps through it without touching the slab and
 *    without clearing the object's words, which are zero already: the
 *    shortest path to fresh memory, for programs that build big structures.
 *  - Objects of other heaps go home (from a full thread cache, at thread
 *    exit, or at once in bigger classes and in the hardening mode, which has
 *    no thread cache) onto their slab's atomic `remote` list, one CAS per run
 *    of objects of one slab; the first push onto an empty remote list also
 *    pushes the slab onto its heap's atomic `remote_slabs` stack, which the
 *    owner takes whole when it runs out of memory in a class.
 *  - New slabs come from the fullest block that has room, so that empty blocks
 *    appear and go back to block.c whole.
 *  - Large objects (> HPI_SMALL_MAX) are runs of whole blocks with a struct
 *    lhdr at the run's start.
 *  - fork: the child keeps its own thread's heap and the abandoned ones; the
 *    heaps of the parent's other threads, which fork may have frozen halfway
 *    through an update, are never used again (see fork_child).
 *
 * Invariants:
 *  - s->used counts objects handed out and not yet back on s->free: objects on
 *    s->remote or in some thread's cache are still counted, so a slab never
 *    goes back to its block while another thread holds its objects.
 *  - A slab is on its heap's remote_slabs stack at most once: only the thread
 *    whose push turned s->remote from empty to non-empty pushes it, and only the
 *    owner, after popping it from the stack, exchanges s->remote back to empty.
 *    Nobody else ever takes s->remote.
 *  - s->remote packs the list head with the number of objects on the list, and
 *    s->remote_tail is the list's last object while it is non-empty (written by
 *    the thread that made it non-empty, before it pushed the slab): the owner
 *    takes the whole list back without walking it, which would be one cache
 *    miss after another on objects that other cores wrote last.
 *  - Free marks (objects are at least 16 bytes). A cached object (in a thread
 *    cache) has the cached mark, cache_key, as its first word. A listed object
 *    (on a slab's free list or remote list) has its link as
 *    its first word and the listed mark, free_key (secure mode: bound to the
 *    address), as its second. malloc clears both words. free only stores the
 *    cached mark; the checks come as objects leave: a cache pop wants the
 *    cached mark, a flush the cached mark and not the listed one, a slab pop
 *    the listed mark and a link that is not the cached mark. So a double free
 *    aborts before one address goes to two live objects: at once when the
 *    object is the top of its cache, else when it leaves the cache (reuse, a
 *    flush, thread exit) or at exit() (caches are checked, not emptied), or,
 *    when the first free had sent it to a slab, at the latest when the slab
 *    hands it out again. In classes without a cache the owner's free checks
 *    the listed mark (confirmed on the slab's free list).
 *  - current[c] is never NULL: an empty sentinel slab stands in.
 *  - A non-empty fresh range [t->bump, t->end) of class c is the top of
 *    current[c]'s never-used objects: t->end == current[c]->bump, and its
 *    objects are counted in s->used (so the slab cannot go back while the
 *    range points into it) and in range_bytes (so statistics do not count
 *    them as in use). It goes back to the slab (range_return) before the
 *    slab could be found empty: when the cache is flushed, when remote frees
 *    leave only the range used, and at thread exit and hp_trim. class_pop,
 *    which replaces current[c], runs only after malloc found the range empty.
 *
 * Hardening (HUGEPAGE_SECURE=1, fixed at init): every malloc and free leaves
 * the fast paths for the checked ones below (the fast paths see the empty
 * heap, tl_heap; the slow paths use the thread's own, tl_own). Free-list
 * links are stored encoded (next ^ key ^ own address) and checked when
 * followed; the free mark is bound to the object's address, so every double
 * free is caught, also across threads; a free of anything but the start of a
 * live object aborts; large objects end against a PROT_NONE guard block and
 * their headers carry a check value. Without it: links are plain, the marks
 * are two random words, and every double free by one thread is caught before
 * it hands one address to two live objects (see the free marks above); many
 * across threads are caught too, not all.
 *
 * Locks, in the only order they may be taken (never the reverse):
 *     heaps_lock -> slab_lock -> block_lock (block.c)
 *   heaps_lock: the abandoned list and the carving space for new heaps.
 *   slab_lock:  slab blocks' page masks and the fullness buckets.
 * No system call is made under heaps_lock or slab_lock. fork takes all three
 * in that order (pthread_atfork) so the child inherits them unlocked. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "internal.h"
#include "size_class.h"

#define PAGE_SHIFT 16
#define SLAB_PAGE ((size_t)1 << PAGE_SHIFT)
#define NPAGES (HPI_BLOCK_SIZE / SLAB_PAGE) /* 32 */
#define SBLOCK_HDR ((size_t)8192)
#define LARGE_HDR ((size_t)64)
/* An empty current slab stays this many slow-path calls before it goes back to
 * its block (mimalloc's retire): a thread that frees and mallocs one object in a
 * loop must not give its slab back and take a new one each time, but a thread
 * that freed everything must not pin one block per size class. */
#define RETIRE_TTL 16
/* Thread caches: classes up to TCACHE_MAX_SIZE bytes (the first TCACHE_CLASSES
 * classes), TCACHE_CAP objects each (at most 60 KiB per class). Measured:
 * caches up to 32 KiB made the server workload 13% faster but doubled
 * realloc_grow's footprint (55 -> 110 MiB of huge pages), as freed mid-size
 * objects waited in caches while slabs handed out fresh memory. */
#define TCACHE_MAX_SIZE 1024
#define TCACHE_CLASSES 32
#define TCACHE_CAP 60 /* a cache is then 512 bytes: indexing it is a shift */

/* s->remote: the list head in the low 48 bits (user-space addresses fit), the
 * count of objects on the list above (a slab holds at most 4096 objects). */
#define REMOTE_SHIFT 48
#define REMOTE_HEAD(x) ((void **)((x) & (((uintptr_t)1 << REMOTE_SHIFT) - 1)))
#define REMOTE_COUNT(x) ((uint32_t)((x) >> REMOTE_SHIFT))

#define MAGIC_SLABS 0x68705342u /* "hpSB" */
#define MAGIC_LARGE 0x68704c47u /* "hpLG" */
#define MAGIC_META 0x68704d54u  /* "hpMT" */

enum slab_state { SLAB_FREE, SLAB_CURRENT, SLAB_PARTIAL, SLAB_FULL };

struct heap;

/* A slab descriptor is three cache lines, grouped by who writes them, so that
 * frees from other threads (which read `heap` and `size`) do not steal the
 * line the owner writes on every malloc and free:
 *   line 1, fixed while the slab lives: read by every thread;
 *   line 2, the owner's: written on every malloc and free by the owner;
 *   line 3, the remote list: written by other threads when objects go home. */
struct slab {
    /* line 1 */
    _Alignas(64) struct heap *heap; /* owner; changes only under slab_lock while the slab is free */
    char *start;          /* first object */
    char *end;            /* end of the last whole object */
    uint32_t size;        /* object size, bytes */
    uint8_t cls;          /* size class */
    uint8_t npages;       /* pages spanned */
    uint8_t page;         /* first page index in the block */
    bool clean;           /* never-used objects are zero: see pages_take */
    /* line 2 */
    _Alignas(64) void **free; /* owner's free list */
    uint32_t used;        /* objects out, see invariants */
    uint8_t state;        /* enum slab_state; owner-only */
    uint8_t retire;       /* empty current slab: slow-path calls left before release */
    char *bump;           /* first never-used object */
    struct slab *next, *prev; /* heap's partial list of this class */
    /* line 3 */
    _Alignas(64) _Atomic(uintptr_t) remote; /* objects other threads freed: head, count */
    void **remote_tail;       /* last object of the remote list, see invariants */
    struct slab *next_remote; /* link in heap->remote_slabs */
};

struct sblock {
    uint32_t magic;               /* MAGIC_SLABS */
    uint8_t backing;              /* enum hp_backing */
    /* page -> class of its slab, PAGE_NO_CLASS when free: on the magic's
     * line, so that hp_free finds a cached class without first loading the
     * slab descriptor (one dependent load fewer). Read by all. */
    uint8_t page_cls[NPAGES];
    struct slab *page_slab[NPAGES]; /* page -> slab, NULL when free; read by all */
    /* guarded by slab_lock, on a line of their own */
    _Alignas(64) uint8_t nfree;   /* free pages */
    uint32_t free_mask;           /* bit i: page i free */
    uint32_t dirty_mask;          /* bit i: page i may hold non-zero bytes */
    struct sblock *next, *prev;   /* bucket list by nfree */
    struct sblock *all_next, *all_prev; /* every slab block, for statistics */
    struct slab slabs[NPAGES];    /* descriptor of the slab starting at page i */
};
_Static_assert(sizeof(struct sblock) <= SBLOCK_HDR, "slab block header too big");
_Static_assert(offsetof(struct sblock, page_slab) <= 64, "magic and page_cls share a line");
#define PAGE_NO_CLASS 0xff /* >= TCACHE_CLASSES: hp_free takes the other branch */

struct lhdr {
    uint32_t magic;   /* MAGIC_LARGE, cleared when freed */
    uint8_t backing;
    size_t nblocks;   /* run length */
    size_t offset;    /* object start - run start */
    size_t requested; /* bytes asked for */
    uintptr_t check;  /* secure mode: header_check(hdr); else 0 */
    bool guarded;     /* secure mode: a PROT_NONE block follows the nblocks */
};
_Static_assert(sizeof(struct lhdr) <= LARGE_HDR, "large header too big");
_Static_assert(TCACHE_CLASSES == 32 && TCACHE_MAX_SIZE == 1024,
               "classes 0..31 are the sizes up to 1 KiB (size_class.h)");

/* A thread cache: slot[1..n] are free objects of one class, newest on top
 * (slot[n]); slot[0] stays NULL, so that free's test "is it the top?" needs
 * no case for an empty cache. cap is TCACHE_CAP, or 0 in the shared empty
 * heap and in the hardening mode: then a free finds the cache full and a
 * malloc finds it empty, and both take their slow paths (a thread without a
 * heap must not push into the shared one; the hardening mode checks every
 * call). [bump, end) is the fresh range (see the invariants), empty (both
 * NULL) when cap is 0; size is the class's object size. All that malloc
 * reads is on the first line. */
struct tcache {
    uint16_t n, cap;
    uint32_t size;
    char *bump, *end;
    void **slot[1 + TCACHE_CAP];
};

_Static_assert(sizeof(struct tcache) == 512, "thread cache size");

struct heap {
    struct tcache tcache[TCACHE_CLASSES];
    struct slab *current[HPI_NCLASSES];
    struct slab *partial[HPI_NCLASSES];
    _Atomic(struct slab *) remote_slabs; /* slabs with new remote frees */
    /* Classes whose current slab may be empty and retiring: [retire_lo, retire_hi]. */
    unsigned retire_lo, retire_hi;
    struct heap *next_abandoned; /* guarded by heaps_lock */
    atomic_bool abandoned;       /* written under heaps_lock; read by remote freers */
};

/* ---- global state ------------------------------------------------------------- */

static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t slab_lock = PTHREAD_MUTEX_INITIALIZER;
static struct heap *abandoned_heaps; /* guarded by heaps_lock */
static char *meta_cur, *meta_end;    /* carving space for heaps; guarded by heaps_lock */
/* One bit per 2 MiB block of the address space, set while the block is a
 * slab block (from sblock_new until slab_release gives it back), so that
 * hp_free finds a small object's block header with one load instead of the
 * owner table's two. The owner table stays the truth: a clear bit only sends
 * a free the long way. 8 MiB of zero-filled address space; a page of it is
 * touched per 64 GiB of address space holding slab blocks. */
static _Atomic uint64_t slab_block_bits[((size_t)1 << (HPI_VA_BITS - HPI_BLOCK_SHIFT)) / 64];

static inline bool is_slab_block(uintptr_t a)
{
    if (HPI_UNLIKELY(a >> HPI_VA_BITS))
        return false;
    size_t idx = a >> HPI_BLOCK_SHIFT;
    return atomic_load_explicit(&slab_block_bits[idx / 64], memory_order_relaxed) >> (idx % 64) & 1;
}

static void slab_block_mark(const struct sblock *b, bool on)
{
    size_t idx = (uintptr_t)b >> HPI_BLOCK_SHIFT;
    uint64_t bit = (uint64_t)1 << (idx % 64);
    if (on)
        atomic_fetch_or_explicit(&slab_block_bits[idx / 64], bit, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&slab_block_bits[idx / 64], ~bit, memory_order_relaxed);
}

/* buckets[n]: slab blocks with n free pages (1..NPAGES); full blocks are in no list. */
static struct sblock *buckets[NPAGES + 1]; /* guarded by slab_lock */
static struct sblock *all_sblocks;         /* guarded by slab_lock */
/* Large objects, counted when they come and go (rare): no cost on small paths. */
static atomic_size_t large_in_use, large_requested;
/* Bytes in all threads' fresh ranges: counted as used by their slabs, not in use. */
static atomic_size_t range_bytes;

static uintptr_t free_key;           /* random, set once at init: the listed mark */
static uintptr_t cache_key;          /* random, set once at init: the cached mark */
/* HUGEPAGE_SECURE, set once at init before any heap exists. Atomic (relaxed:
 * a plain load) because a new thread's first malloc may read it while another
 * thread runs the init; false until then is right, as such a thread has no
 * heap yet and takes the slow path, which waits for the init. */
static atomic_bool secure_flag;

static inline bool hardened(void)
{
    return atomic_load_explicit(&secure_flag, memory_order_relaxed);
}
static pthread_key_t heap_key;       /* runs heap_done at thread exit */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
/* Set when a thread freed into a slab of an abandoned heap: the next slow path
 * collects abandoned heaps' remote frees so their empty blocks go back. */
static atomic_bool reclaim_wanted;
static bool init_ok;

/* The sentinel every empty current[] slot points at: never has a free object. */
static struct slab empty_slab = {.state = SLAB_FULL};

/* Class of requests up to SMALL_TABLE_MAX bytes, by (n + 15) / 16: one load on
 * the fast path instead of the arithmetic of hpi_size_class. Filled at init,
 * before any thread has a heap. A thread without one may read it while
 * another thread's first malloc fills it: whatever it reads sends it into
 * the empty heap's slow path, which runs after the init (pthread_once).
 * Hence relaxed atomics, which on x86 are the plain byte load and store. */
#define SMALL_TABLE_MAX TCACHE_MAX_SIZE /* hp_malloc relies on it */
static _Atomic uint8_t small_class[SMALL_TABLE_MAX / 16 + 1];

static inline unsigned small_class_of(size_t n)
{
    return atomic_load_explicit(&small_class[(n + 15) >> 4], memory_order_relaxed);
}

static inline unsigned class_of(size_t n)
{
    return n <= SMALL_TABLE_MAX ? small_class_of(n) : hpi_size_class(n);
}

/* What the fast paths see for a thread that has no heap yet (or has exited),
 * and for every thread in the hardening mode: every class's current slab is
 * the empty sentinel and every cache has capacity 0, so the fast paths need no
 * NULL test and fall through to the slow paths. It owns no slab. */
static struct heap empty_heap = {.current = {[0 ... HPI_NCLASSES - 1] = &empty_slab}};

/* tl_own is the calling thread's heap (NULL until its first slow path);
 * tl_heap is what the fast paths see: tl_own, or the empty heap in the
 * hardening mode, so that every call there takes the checked slow path
 * without the fast paths testing the mode. Slow paths use tl_own. */
static __thread struct heap *tl_heap __attribute__((tls_model("initial-exec"))) = &empty_heap;
static __thread struct heap *tl_own __attribute__((tls_model("initial-exec")));

/* The index of the page of slab block b that holds p. */
static inline size_t page_of(const struct sblock *b, const void *p)
{
    return ((uintptr_t)p - (uintptr_t)b) >> PAGE_SHIFT;
}

/* The slab holding p, a pointer into the slab block run (NULL for a free page). */
static inline struct slab *slab_of(void *run, const void *p)
{
    struct sblock *b = run;
    return b->page_slab[page_of(b, p)];
}

/* ---- free-list links and free marks ------------------------------------------------ */

/* The next object after slot on a free list: plain, or in secure mode decoded
 * (stored as next ^ free_key ^ slot, so an overwritten link decodes to garbage
 * that the checked pop rejects instead of a pointer an attacker chose). */
static inline void **link_get(void **slot)
{
    if (!hardened())
        return slot[0];
    return (void **)((uintptr_t)slot[0] ^ free_key ^ (uintptr_t)slot);
}

static inline void link_set(void **slot, void **next)
{
    slot[0] = hardened() ? (void *)((uintptr_t)next ^ free_key ^ (uintptr_t)slot) : (void *)next;
}

/* What a free object carries in its second word; secure mode binds it to the
 * address, so one free object's mark cannot be copied to fake another's. */
static inline void *free_mark(void **p)
{
    return (void *)(hardened() ? free_key ^ (uintptr_t)p : free_key);
}

/* The two reports below never return. They are declared to return a pointer,
 * and HPI_NOIPA keeps GCC from finding out that they do not, so that hp_malloc
 * can end in a tail call to them and needs no stack frame (GCC calls a
 * function it knows to be noreturn, and then must align the stack for it). */

/* A listed object (on a slab's free list) lost its mark or its link became
 * the cached mark. Secure mode has no caches: a write after free. Otherwise
 * most likely a double free whose first free sent the object to its slab: a
 * cache handed it out (clearing its mark) or holds it. */
static HPI_NOIPA __attribute__((cold)) void *listed_corrupt(const void *p)
{
    if (hardened())
        hpi_report_fatal("heap corruption: free object %p was written after free", p);
    hpi_report_fatal("double free detected at %p (found on a free list; or it was written after "
                     "free)", p);
}

/* A cached object lost its mark (a duplicate of it was handed out, or it was
 * written after free) or carries the listed mark too (it was freed while on a
 * free list): in practice a double free, found when the object is reused. */
static HPI_NOIPA __attribute__((cold)) void *cached_corrupt(const void *p)
{
    hpi_report_fatal("double free detected at %p (found in a thread cache; or it was written "
                     "after free)", p);
}

/* Secure mode: q is the start of an object of class c in a live slab. */
static bool object_ok(const void *q, unsigned c)
{
    void *run = hpi_block_owner(q);
    if (!run || ((struct sblock *)run)->magic != MAGIC_SLABS)
        return false;
    const struct slab *s = slab_of(run, q);
    return s && s->cls == c && (const char *)q >= s->start && (const char *)q < s->end &&
           (size_t)((const char *)q - s->start) % s->size == 0;
}

/* The object after q on a free list of class c; in secure mode a link that
 * does not lead to an object of that class is heap corruption. */
static void **link_next(void **q, unsigned c)
{
    void **next = link_get(q);
    if (hardened() && next && !object_ok(next, c))
        hpi_report_fatal("heap corruption: free object %p links to %p", (void *)q, (void *)next);
    return next;
}

/* ---- size class geometry ---------------------------------------------------------- */

/* Pages for a slab of class c: one for objects up to 8 KiB, else enough for
 * 8 objects, at most 31 pages, trimmed to what the objects fill. */
static unsigned slab_pages(unsigned c)
{
    size_t size = hpi_class_size(c);
    if (size <= 8 * HPI_KiB)
        return 1;
    size_t max = (NPAGES - 1) * SLAB_PAGE;
    size_t count = max / size < 8 ? max / size : 8;
    return (unsigned)((count * size + SLAB_PAGE - 1) / SLAB_PAGE);
}

/* ---- slab blocks (under slab_lock) ------------------------------------------------ */

static void bucket_remove(struct sblock *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else if (buckets[b->nfree] == b)
        buckets[b->nfree] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->next = b->prev = NULL;
}

static void bucket_insert(struct sblock *b)
{
    if (b->nfree == 0)
        return; /* full blocks are in no list */
    b->prev = NULL;
    b->next = buckets[b->nfree];
    if (b->next)
        b->next->prev = b;
    buckets[b->nfree] = b;
}

/* Lowest page index of npages free pages in mask (page 0 only for one page), or -1. */
static int find_pages(uint32_t mask, unsigned npages)
{
    if (npages == 1)
        return mask ? __builtin_ctz(mask) : -1;
    uint32_t run = mask & ~1u;
    for (unsigned i = 1; i < npages; i++)
        run &= mask >> i;
    run &= (npages < 32) ? ((1u << (32 - npages + 1)) - 1) : 1u;
    return run ? __builtin_ctz(run) : -1;
}

/* The mask bits of pages i..i+n-1. */
static inline uint32_t page_bits(unsigned i, unsigned n)
{
    return (n == 32 ? ~0u : ((1u << n) - 1)) << i;
}

/* Takes npages in the fullest block with room, for a slab of class c. Under
 * slab_lock. The slab is clean when none of its pages held a slab since the
 * block came zeroed from block.c: then its memory is all zero. */
static struct slab *pages_take(unsigned npages, unsigned c)
{
    for (unsigned nf = npages; nf <= NPAGES; nf++) {
        int scanned = 0;
        for (struct sblock *b = buckets[nf]; b && scanned < 8; b = b->next, scanned++) {
            int i = find_pages(b->free_mask, npages);
            if (i < 0)
                continue;
            bucket_remove(b);
            uint32_t bits = page_bits((unsigned)i, npages);
            b->free_mask &= ~bits;
            b->nfree = (uint8_t)(b->nfree - npages);
            bucket_insert(b);
            struct slab *s = &b->slabs[i];
            s->clean = (b->dirty_mask & bits) == 0;
            for (unsigned k = 0; k < npages; k++) {
                b->page_slab[i + k] = s;
                b->page_cls[i + k] = (uint8_t)c;
            }
            s->page = (uint8_t)i;
            s->npages = (uint8_t)npages;
            return s;
        }
    }
    return NULL;
}

/* A fresh slab block from block.c, its header written. NULL when no memory. */
static struct sblock *sblock_new(void)
{
    void *run;
    enum hp_backing backing;
    bool zeroed;
    if (hpi_block_alloc(1, &run, &backing, &zeroed) != 0)
        return NULL;
    struct sblock *b = run;
    memset(b, 0, offsetof(struct sblock, slabs));
    b->magic = MAGIC_SLABS;
    b->backing = (uint8_t)backing;
    memset(b->page_cls, PAGE_NO_CLASS, sizeof b->page_cls);
    b->nfree = NPAGES;
    b->free_mask = ~0u;
    b->dirty_mask = zeroed ? 0 : ~0u;
    /* Before any object of b exists: a thread that frees one got it through
     * the malloc that followed, so it sees the bit. */
    slab_block_mark(b, true);
    if (backing == HP_BACKING_THP && zeroed) {
        /* The header write above faulted the block in. In madvise mode with
         * defrag the fault normally gets a huge page; if memory was too
         * fragmented it got a base page, and MADV_COLLAPSE asks the kernel to
         * build the huge page now (on an already huge block it is a cheap
         * no-op). Tried once per fresh block; the outcome is counted. */
        if (hpi_os_madvise(b, HPI_BLOCK_SIZE, 25 /* MADV_COLLAPSE */) == 0)
            HPI_COUNT_ADD(collapse_ok, 1);
        else
            HPI_COUNT_ADD(collapse_failed, 1);
    }
    return b;
}

/* ---- slabs --------------------------------------------------------------------- */

static struct slab *slab_new(struct heap *h, unsigned c)
{
    unsigned npages = slab_pages(c);
    pthread_mutex_lock(&slab_lock);
    struct slab *s = pages_take(npages, c);
    pthread_mutex_unlock(&slab_lock);
    while (!s) {
        /* Other threads may take the new block's pages before we do: retry. */
        struct sblock *fresh = sblock_new();
        if (!fresh)
            return NULL;
        pthread_mutex_lock(&slab_lock);
        fresh->all_next = all_sblocks;
        if (all_sblocks)
            all_sblocks->all_prev = fresh;
        all_sblocks = fresh;
        bucket_insert(fresh);
        s = pages_take(npages, c);
        pthread_mutex_unlock(&slab_lock);
    }
    struct sblock *b = (struct sblock *)((uintptr_t)s & ~(uintptr_t)(HPI_BLOCK_SIZE - 1));
    size_t size = hpi_class_size(c);
    char *span = (char *)b + (size_t)s->page * SLAB_PAGE;
    char *start = s->page == 0 ? (char *)b + SBLOCK_HDR : span;
    size_t capacity = (size_t)(span + npages * SLAB_PAGE - start) / size;
    s->free = NULL;
    s->used = 0;
    s->size = (uint32_t)size;
    s->cls = (uint8_t)c;
    s->state = SLAB_CURRENT;
    s->start = start;
    s->bump = start;
    s->end = start + capacity * size;
    s->heap = h;
    s->next = s->prev = NULL;
    atomic_store_explicit(&s->remote, 0, memory_order_relaxed);
    s->remote_tail = NULL;
    s->next_remote = NULL;
    return s;
}

/* Returns an empty slab's pages to its block, and the block to block.c when it
 * became empty. The slab is on no list. */
static void slab_release(struct slab *s)
{
    struct sblock *b = (struct sblock *)((uintptr_t)s & ~(uintptr_t)(HPI_BLOCK_SIZE - 1));
    bool empty;
    pthread_mutex_lock(&slab_lock);
    s->state = SLAB_FREE;
    s->heap = NULL;
    bucket_remove(b);
    unsigned i = s->page, n = s->npages;
    for (unsigned k = 0; k < n; k++) {
        b->page_slab[i + k] = NULL;
        b->page_cls[i + k] = PAGE_NO_CLASS;
    }
    uint32_t bits = page_bits(i, n);
    b->free_mask |= bits;
    b->dirty_mask |= bits;
    b->nfree = (uint8_t)(b->nfree + n);
    empty = b->nfree == NPAGES;
    if (!empty) {
        bucket_insert(b);
    } else {
        b->magic = 0;
        if (b->all_prev)
            b->all_prev->all_next = b->all_next;
        else
            all_sblocks = b->all_next;
        if (b->all_next)
            b->all_next->all_prev = b->all_prev;
    }
    pthread_mutex_unlock(&slab_lock);
    if (empty) {
        slab_block_mark(b, false);
        hpi_block_free(b, 1);
    }
}

static void partial_push(struct heap *h, struct slab *s)
{
    s->state = SLAB_PARTIAL;
    s->prev = NULL;
    s->next = h->partial[s->cls];
    if (s->next)
        s->next->prev = s;
    h->partial[s->cls] = s;
}

static void partial_remove(struct heap *h, struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        h->partial[s->cls] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* After objects came back to s (owner thread): a full slab becomes partial, an
 * empty slab that is not current goes back to its block. */
static __attribute__((noinline)) void slab_after_free(struct heap *h, struct slab *s)
{
    if (s->used == 0 && s->state == SLAB_CURRENT) {
        s->retire = RETIRE_TTL;
        if (h->retire_lo > s->cls)
            h->retire_lo = s->cls;
        if (h->retire_hi < s->cls)
            h->retire_hi = s->cls;
    } else if (s->used == 0) {
        if (s->state == SLAB_PARTIAL)
            partial_remove(h, s);
        slab_release(s);
    } else if (s->state == SLAB_FULL) {
        partial_push(h, s);
    }
}

/* The next never-used object of s, counted as used; NULL when there is none
 * (always for the sentinel: bump = end = NULL). Its first two words are
 * cleared like any popped object's: reused memory may hold stale marks. */
static inline void **slab_bump(struct slab *s)
{
    char *b = s->bump;
    if (HPI_UNLIKELY(b >= s->end))
        return NULL;
    s->bump = b + s->size;
    s->used++;
    void **p = (void **)b;
    p[0] = NULL;
    p[1] = NULL;
    return p;
}

/* ---- fresh ranges ----------------------------------------------------------------- */

/* Objects left in the fresh range of cache t. */
static inline uint32_t range_count(const struct tcache *t)
{
    return (uint32_t)((size_t)(t->end - t->bump) / t->size);
}

/* Slow path: the never-used rest of class c's current slab becomes the cache's
 * fresh range, if the class has a cache, the cache has no range and that
 * memory is known to be zero. */
static void range_take(struct heap *h, unsigned c)
{
    if (c >= TCACHE_CLASSES)
        return;
    struct tcache *t = &h->tcache[c];
    struct slab *s = h->current[c];
    if (t->cap == 0 || t->bump != t->end || !s->clean || s->bump >= s->end)
        return;
    t->bump = s->bump;
    t->end = s->end;
    s->used += range_count(t);
    s->bump = s->end;
    atomic_fetch_add_explicit(&range_bytes, (size_t)(t->end - t->bump), memory_order_relaxed);
}

/* Gives class c's fresh range back to its slab, which is current[c] (see the
 * invariants). */
static void range_return(struct heap *h, unsigned c)
{
    struct tcache *t = &h->tcache[c];
    if (t->bump == t->end)
        return;
    struct slab *s = h->current[c];
    s->used -= range_count(t);
    s->bump = t->bump;
    atomic_fetch_sub_explicit(&range_bytes, (size_t)(t->end - t->bump), memory_order_relaxed);
    t->bump = t->end = NULL;
}

/* ---- remote frees ---------------------------------------------------------------- */

/* Sends the n objects head..tail (linked, all of slab s) home. */
static void remote_push(struct slab *s, void **head, void **tail, uint32_t n)
{
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed), new;
    do {
        link_set(tail, REMOTE_HEAD(old));
        new = (uintptr_t)head | (uintptr_t)(REMOTE_COUNT(old) + n) << REMOTE_SHIFT;
    }
    /* acq_rel: when old is empty we synchronize with the owner's exchange that
     * emptied the list, after which it no longer reads s->next_remote or
     * s->remote_tail. */
    while (!atomic_compare_exchange_weak_explicit(&s->remote, &old, new, memory_order_acq_rel,
                                                  memory_order_relaxed));
    if (old == 0) {
        /* We made the list non-empty: our tail is its last object for as long
         * as it stays non-empty; tell the owner (see invariants). */
        s->remote_tail = tail;
        struct heap *owner = s->heap;
        struct slab *top = atomic_load_explicit(&owner->remote_slabs, memory_order_relaxed);
        do
            s->next_remote = top;
        while (!atomic_compare_exchange_weak_explicit(&owner->remote_slabs, &top, s,
                                                      memory_order_release, memory_order_relaxed));
        if (atomic_load_explicit(&owner->abandoned, memory_order_relaxed))
            atomic_store_explicit(&reclaim_wanted, true, memory_order_relaxed);
    }
}

/* ---- thread caches ------------------------------------------------------------------ */

/* A cached object as it must be (see the free marks): the cached mark, and
 * not the listed one. Otherwise it was handed out since (a duplicate in a
 * cache), freed while listed, or written after free. */
static inline bool cached_intact(void *const *o)
{
    return o[0] == (void *)cache_key && o[1] != (void *)free_key;
}

/* Sends the oldest count objects of h's cache of class c back: our own onto
 * their slabs' free lists, other heaps' home, one CAS per run of objects of
 * one slab. Each is checked as it leaves (the free marks, see the invariants)
 * and leaves listed. */
static void tcache_flush(struct heap *h, unsigned c, uint32_t count)
{
    struct tcache *t = &h->tcache[c];
    /* Frees are outrunning mallocs: the slab may be about to empty. */
    range_return(h, c);
    void **head = NULL, **tail = NULL;
    struct slab *run_slab = NULL;
    uint32_t run_n = 0;
    for (uint32_t i = 1; i <= count; i++) {
        void **o = t->slot[i];
        if (!cached_intact(o))
            cached_corrupt(o);
        o[1] = (void *)free_key; /* listed from here on */
        struct slab *s = slab_of(hpi_block_owner(o), o);
        if (s->heap == h) {
            link_set(o, s->free);
            s->free = o;
            s->used--;
            slab_after_free(h, s);
            continue;
        }
        if (s != run_slab) {
            if (run_slab)
                remote_push(run_slab, head, tail, run_n);
            run_slab = s;
            head = tail = o;
            run_n = 1;
        } else {
            link_set(tail, o);
            tail = o;
            run_n++;
        }
    }
    if (run_slab)
        remote_push(run_slab, head, tail, run_n);
    t->n -= count;
    memmove(&t->slot[1], &t->slot[1 + count], t->n * sizeof t->slot[0]);
}

/* The first object in cache t that is there twice, lost its cached mark or
 * carries the listed one (see the free marks), or NULL. Reads only. */
static void **cache_suspect(const struct tcache *t)
{
    for (uint32_t i = 1; i <= t->n; i++) {
        void **o = t->slot[i];
        if (!cached_intact(o))
            return o;
        for (uint32_t j = 1; j < i; j++)
            if (t->slot[j] == o)
                return o;
    }
    return NULL;
}

/* Empties every cache and gives back every fresh range. */
static void tcache_flush_all(struct heap *h)
{
    for (unsigned c = 0; c < TCACHE_CLASSES; c++) {
        range_return(h, c);
        if (h->tcache[c].n)
            tcache_flush(h, c, h->tcache[c].n);
    }
}

/* Owner: takes back every object other threads freed into our slabs. */
static void collect_remote(struct heap *h)
{
    struct slab *s = atomic_exchange_explicit(&h->remote_slabs, NULL, memory_order_acquire);
    while (s) {
        /* Read before s->remote can be re-armed (see invariants). */
        struct slab *next = s->next_remote;
        void **tail = s->remote_tail;
        uintptr_t taken = atomic_exchange_explicit(&s->remote, 0, memory_order_acq_rel);
        void **chain = REMOTE_HEAD(taken);
        uint32_t n = REMOTE_COUNT(taken);
        if (hpi_config_debug_full) {
            uint32_t len = 1;
            void **last = chain;
            for (void **q; (q = link_next(last, s->cls)); len++)
                last = q;
            HP_ASSERT_SLOW(len == n && last == tail);
        }
        link_set(tail, s->free);
        s->free = chain;
        s->used -= n;
        /* Only the fresh range left in use: back to the slab, so that the
         * slab can retire like any empty current slab. */
        if (s->cls < TCACHE_CLASSES && h->current[s->cls] == s &&
            s->used == range_count(&h->tcache[s->cls]))
            range_return(h, s->cls);
        slab_after_free(h, s);
        s = next;
    }
}

/* Releases empty current slabs whose time is up (all of them when force). */
static void collect_retired(struct heap *h, bool force)
{
    unsigned lo = h->retire_lo, hi = h->retire_hi;
    h->retire_lo = HPI_NCLASSES; /* empty range: lo > hi */
    h->retire_hi = 0;
    for (unsigned c = lo; c <= hi; c++) {
        struct slab *s = h->current[c];
        if (s == &empty_slab || s->retire == 0)
            continue;
        if (s->used != 0) {
            s->retire = 0; /* in use again */
        } else if (force || --s->retire == 0) {
            h->current[c] = &empty_slab;
            slab_release(s);
        } else {
            if (h->retire_lo > c)
                h->retire_lo = c;
            if (h->retire_hi < c)
                h->retire_hi = c;
        }
    }
}

/* Takes back what other threads freed into the slabs of exited threads' heaps,
 * acting as their owner while they are off the abandoned list, so that empty
 * slabs and blocks return instead of waiting for a new thread to adopt them. */
static void reclaim_abandoned(void)
{
    atomic_store_explicit(&reclaim_wanted, false, memory_order_relaxed);
    pthread_mutex_lock(&heaps_lock);
    struct heap *list = abandoned_heaps;
    abandoned_heaps = NULL;
    pthread_mutex_unlock(&heaps_lock);
    struct heap *last = NULL;
    for (struct heap *h = list; h; h = h->next_abandoned) {
        if (atomic_load_explicit(&h->remote_slabs, memory_order_acquire))
            collect_remote(h);
        collect_retired(h, true);
        last = h;
    }
    if (!last)
        return;
    pthread_mutex_lock(&heaps_lock);
    last->next_abandoned = abandoned_heaps;
    abandoned_heaps = list;
    pthread_mutex_unlock(&heaps_lock);
}

/* ---- heaps ------------------------------------------------------------------------ */

static void heap_reset(struct heap *h)
{
    h->retire_lo = HPI_NCLASSES; /* empty range: lo > hi */
    h->retire_hi = 0;
    for (unsigned c = 0; c < TCACHE_CLASSES; c++)
        h->tcache[c] = (struct tcache){.cap = hardened() ? 0 : TCACHE_CAP,
                                       .size = (uint32_t)hpi_class_size(c)};
    for (unsigned c = 0; c < HPI_NCLASSES; c++) {
        h->current[c] = &empty_slab;
        h->partial[c] = NULL;
    }
}

/* in_use: every slab's used objects at their class size, plus large objects;
 * requested: the same, with large objects at the size asked for (small objects
 * are not tracked per request, which would cost the fast path). Slab counters
 * are read without their owners' cooperation: a snapshot, approximate while
 * other threads run. */
/* The slab counters belong to their owners and are read here without their
 * cooperation, by design (a snapshot; synchronizing would cost the fast path):
 * aligned 4-byte loads cannot tear on the targets we build for, and a stale
 * value is acceptable. Hence no ThreadSanitizer instrumentation here. */
__attribute__((no_sanitize("thread"))) static void fill_stats(struct hp_stats *st)
{
    size_t small = 0;
    pthread_mutex_lock(&slab_lock);
    for (struct sblock *b = all_sblocks; b; b = b->all_next)
        for (unsigned i = 0; i < NPAGES; i++)
            if (b->page_slab[i] == &b->slabs[i])
                small += (size_t)b->slabs[i].used * b->slabs[i].size;
    pthread_mutex_unlock(&slab_lock);
    size_t fresh = atomic_load_explicit(&range_bytes, memory_order_relaxed);
    small = small > fresh ? small - fresh : 0;
    st->in_use = small + atomic_load_explicit(&large_in_use, memory_order_relaxed);
    st->requested = small + atomic_load_explicit(&large_requested, memory_order_relaxed);
}

/* At exit the calling thread's caches are checked, so that a double free
 * still waiting in one is reported before the process ends. Only read: a
 * forked child must not write pages it shares with its parent (copy on
 * write of hugetlb pages needs free pool pages, or the child dies of SIGBUS). */
static __attribute__((destructor)) void heap_exit(void)
{
    struct heap *h = tl_own;
    for (unsigned c = 0; h && c < TCACHE_CLASSES; c++) {
        void **o = cache_suspect(&h->tcache[c]);
        if (o)
            cached_corrupt(o);
    }
}

/* Thread exit: the heap is left for the next new thread to adopt, with its
 * slabs; frees by other threads keep arriving on its remote lists meanwhile. */
static void heap_done(void *arg)
{
    struct heap *h = arg;
    tcache_flush_all(h);
    if (atomic_load_explicit(&h->remote_slabs, memory_order_relaxed))
        collect_remote(h);
    collect_retired(h, true);
    tl_heap = &empty_heap;
    tl_own = NULL;
    pthread_mutex_lock(&heaps_lock);
    atomic_store_explicit(&h->abandoned, true, memory_order_relaxed);
    h->next_abandoned = abandoned_heaps;
    abandoned_heaps = h;
    pthread_mutex_unlock(&heaps_lock);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&heaps_lock);
    pthread_mutex_lock(&slab_lock);
    hpi_block_fork_prepare();
}

static void fork_parent(void)
{
    hpi_block_fork_parent();
    pthread_mutex_unlock(&slab_lock);
    pthread_mutex_unlock(&heaps_lock);
}

/* In the child only this thread exists. The heaps of the parent's other live
 * threads are left as they are and never adopted: fork froze their owners at
 * any instruction, perhaps halfway through a thread-cache flush or a free-list
 * pop, and a thread that took such a heap over could hand one object out
 * twice. Frees of their objects go home onto their slabs' remote lists like
 * any cross-thread free, where nobody collects them: the child leaks their
 * free space (at most what those threads held) and stays correct. Heaps on the
 * abandoned list are whole (heap_done finished before it listed them) and stay
 * adoptable; the locks were held across fork, so the lists are consistent. */
static void fork_child(void)
{
    hpi_block_fork_child();
    pthread_mutex_init(&slab_lock, NULL);
    pthread_mutex_init(&heaps_lock, NULL);
}

static void heap_init(void)
{
    const struct hpi_options *o = hpi_options_get();
    /* AT_RANDOM: 16 random bytes the kernel gives every process; no syscall.
     * They need not be 8-byte aligned: copy them. */
    const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
    uint64_t bits = 0x9e3779b97f4a7c15u;
    if (rnd)
        memcpy(&bits, rnd + 8, sizeof bits);
    free_key = bits ^ (uintptr_t)&free_key;
    free_key |= 1; /* never a plausible pointer or 0 */
    cache_key = (free_key * 0x9e3779b97f4a7c15u) ^ (free_key >> 29);
    cache_key |= 1; /* odd: never a free-list link */
    if (cache_key == free_key)
        cache_key ^= 2;
    atomic_store_explicit(&secure_flag, o->secure, memory_order_relaxed);
    for (size_t i = 0; i <= SMALL_TABLE_MAX / 16; i++)
        atomic_store_explicit(&small_class[i], (uint8_t)hpi_size_class(i * 16), memory_order_relaxed);
    if (pthread_key_create(&heap_key, heap_done) != 0)
        return;
    hpi_stats_set_heap_hook(fill_stats);
    hpi_block_reserve(o->reserve);
    init_ok = true;
}

/* fork handlers are registered from a constructor, not from inside malloc:
 * pthread_atfork may itself allocate. */
__attribute__((constructor)) static void heap_ctor(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

__attribute__((destructor)) static void heap_dtor(void)
{
    const struct hpi_options *o = hpi_options_get();
    if (o->stats != HPI_STATS_OFF)
        hp_stats_print(stderr, o->stats == HPI_STATS_JSON);
}

/* The calling thread's heap: adopted from an exited thread, or new. */
static struct heap *heap_get(void)
{
    pthread_once(&init_once, heap_init);
    if (!init_ok)
        return NULL;
    struct heap *h = NULL;
    for (;;) {
        pthread_mutex_lock(&heaps_lock);
        if (abandoned_heaps) {
            h = abandoned_heaps;
            abandoned_heaps = h->next_abandoned;
            atomic_store_explicit(&h->abandoned, false, memory_order_relaxed);
        } else if (meta_end - meta_cur >= (ptrdiff_t)sizeof(struct heap)) {
            h = (struct heap *)meta_cur;
            meta_cur += (sizeof(struct heap) + 63) & ~(size_t)63;
            /* The block may be a reused one: nothing in it can be trusted. */
            memset(h, 0, sizeof *h);
            heap_reset(h);
        }
        pthread_mutex_unlock(&heaps_lock);
        if (h)
            break;
        /* Heaps live on a huge block of their own, marked so no pointer into
         * it is ever taken for a heap object. */
        void *run;
        enum hp_backing backing;
        bool zeroed;
        if (hpi_block_alloc(1, &run, &backing, &zeroed) != 0)
            return NULL;
        memset(run, 0, 64);
        *(uint32_t *)run = MAGIC_META;
        pthread_mutex_lock(&heaps_lock);
        if (meta_end - meta_cur < (ptrdiff_t)sizeof(struct heap)) {
            meta_cur = (char *)run + 64;
            meta_end = (char *)run + HPI_BLOCK_SIZE;
            run = NULL;
        }
        pthread_mutex_unlock(&heaps_lock);
        if (run)
            hpi_block_free(run, 1);
    }
    tl_own = h;
    tl_heap = hardened() ? &empty_heap : h;
    pthread_setspecific(heap_key, h);
    return h;
}

/* ---- large objects --------------------------------------------------------------- */

static size_t large_usable(const struct lhdr *hdr)
{
    return hdr->nblocks * HPI_BLOCK_SIZE - hdr->offset;
}

/* Secure mode: a check value over the header's fields and address, so that a
 * header overwritten by an underflow (or forged) is caught at free. */
static uintptr_t header_check(const struct lhdr *hdr)
{
    uintptr_t mix = hdr->nblocks * 0x9e3779b97f4a7c15u ^ hdr->offset ^ hdr->requested << 7 ^
                    (uintptr_t)hdr->guarded;
    return mix ^ free_key ^ (uintptr_t)hdr;
}

/* The header of the large object at p in run, or NULL when p is not one. */
static struct lhdr *large_header(void *run, const void *p)
{
    struct lhdr *hdr = run;
    /* A live run that holds neither slabs nor heaps holds a large object. */
    if (hardened() && hdr->magic != MAGIC_META &&
        (hdr->magic != MAGIC_LARGE || hdr->check != header_check(hdr)))
        hpi_report_fatal("heap corruption: header of the large-object run at %p overwritten "
                         "(looking up %p)", run, p);
    if (hdr->magic != MAGIC_LARGE || (uintptr_t)p != (uintptr_t)run + hdr->offset)
        return NULL;
    return hdr;
}

static void *large_alloc(size_t n, size_t align, bool zero)
{
    size_t lead = align > LARGE_HDR ? align : LARGE_HDR;
    if (n > SIZE_MAX - lead - 2 * HPI_BLOCK_SIZE)
        return NULL;
    /* The object may start as far as lead into the run; even a 0-byte object
     * needs its first byte inside the run, for free to find it. */
    size_t span = (n + 15) & ~(size_t)15;
    span = span ? span : 16;
    size_t nblocks = (lead + span + HPI_BLOCK_SIZE - 1) >> HPI_BLOCK_SHIFT;
    void *run;
    enum hp_backing backing;
    bool zeroed;
    /* Secure mode takes one more block, the guard, made PROT_NONE. */
    if (hpi_block_alloc(nblocks + hardened(), &run, &backing, &zeroed) != 0)
        return NULL;
    uintptr_t end = (uintptr_t)run + (nblocks << HPI_BLOCK_SHIFT);
    uintptr_t obj;
    struct lhdr *hdr = run;
    hdr->guarded = false;
    if (hardened()) {
        /* The object ends against the guard (to its 16-byte rounding), so an
         * overflow faults at once; obj - run >= lead, see nblocks. */
        obj = (end - span) & ~(uintptr_t)(align - 1);
        hdr->guarded = hpi_os_mprotect((void *)end, HPI_BLOCK_SIZE, PROT_NONE) == 0;
    } else {
        obj = ((uintptr_t)run + LARGE_HDR + align - 1) & ~(uintptr_t)(align - 1);
    }
    hdr->magic = MAGIC_LARGE;
    hdr->backing = (uint8_t)backing;
    hdr->nblocks = nblocks;
    hdr->offset = obj - (uintptr_t)run;
    if (zero && !zeroed)
        memset((void *)obj, 0, n);
    hdr->requested = n;
    hdr->check = hardened() ? header_check(hdr) : 0;
    atomic_fetch_add_explicit(&large_in_use, large_usable(hdr), memory_order_relaxed);
    atomic_fetch_add_explicit(&large_requested, n, memory_order_relaxed);
    return (void *)obj;
}

/* ---- malloc ----------------------------------------------------------------------- */

/* One object of class c from the heap's slabs (current, partial or a new
 * one), counted as used; NULL when no memory. */
static void **class_pop(struct heap *h, unsigned c)
{
    for (;;) {
        struct slab *s = h->current[c];
        void **p = s->free;
        if (p) {
            if (p[1] != free_mark(p) || p[0] == (void *)cache_key)
                listed_corrupt(p);
            s->free = link_next(p, c);
            p[1] = NULL;
            s->used++;
            return p;
        }
        if ((p = slab_bump(s)))
            return p;
        if (atomic_load_explicit(&h->remote_slabs, memory_order_relaxed)) {
            collect_remote(h);
            if (h->current[c]->free)
                continue;
        }
        /* The current slab is exhausted: it becomes full, and a partial slab
         * or a new one takes over. */
        if (s != &empty_slab)
            s->state = SLAB_FULL;
        struct slab *next = h->partial[c];
        if (next) {
            partial_remove(h, next);
        } else {
            /* Before taking a new slab, let exited threads' heaps give back
             * what was freed into them. (No `continue` here: s is marked full
             * but still current, and must not be looked at again as current.) */
            if (atomic_load_explicit(&reclaim_wanted, memory_order_relaxed))
                reclaim_abandoned();
            next = slab_new(h, c);
        }
        if (!next) {
            h->current[c] = &empty_slab;
            return NULL;
        }
        next->state = SLAB_CURRENT;
        h->current[c] = next;
    }
}

static __attribute__((noinline)) void *malloc_slow(size_t n, bool zero)
{
    struct heap *h = tl_own;
    if (!h && !(h = heap_get()))
        return NULL;
    if (n > HPI_SMALL_MAX)
        return large_alloc(n, 1, zero);
    unsigned c = class_of(n);
    if (h->retire_lo <= h->retire_hi)
        collect_retired(h, false);
    void **p = class_pop(h, c);
    if (!p)
        return NULL;
    range_take(h, c);
    if (zero)
        memset(p, 0, n);
    return p;
}

/* malloc_slow, with errno for a failure: a separate function, so that the
 * fast path of hp_malloc ends in a tail call and needs no stack frame. */
static __attribute__((noinline)) void *malloc_slow_or_enomem(size_t n)
{
    void *p = malloc_slow(n, false);
    if (HPI_UNLIKELY(!p))
        errno = ENOMEM;
    return p;
}

HP_EXPORT void *hp_malloc(size_t n)
{
    struct heap *h = tl_heap;
    unsigned c;
    if (HPI_LIKELY(n <= TCACHE_MAX_SIZE)) {
        /* A cached class: freed objects first (the caches stay empty when
         * hardened), then the fresh range, then the current slab's free
         * list. No refill from the slabs, so a program that only allocates
         * pays nothing for the caches. */
        c = small_class_of(n);
        struct tcache *t = &h->tcache[c];
        HPI_OPAQUE(t);
        size_t k = t->n; /* size_t: an index needs no widening */
        if (HPI_LIKELY(k != 0)) {
            void **p = t->slot[k];
            t->n = (uint16_t)(k - 1);
            if (HPI_UNLIKELY(p[0] != (void *)cache_key))
                return cached_corrupt(p);
            p[0] = NULL;
            p[1] = NULL;
            return p;
        }
        /* Then the fresh range: zero memory, nothing to clear or count. */
        char *b = t->bump;
        if (HPI_LIKELY(b < t->end)) {
            t->bump = b + t->size;
            return b;
        }
    } else if (HPI_LIKELY(n <= HPI_SMALL_MAX)) {
        c = hpi_size_class(n);
    } else {
        return malloc_slow_or_enomem(n);
    }
    struct slab *s = h->current[c];
    void **p = s->free;
    if (HPI_LIKELY(p != NULL)) {
        void **next = p[0];
        if (HPI_UNLIKELY(p[1] != (void *)free_key || next == (void **)cache_key))
            return listed_corrupt(p);
        s->free = next;
        p[1] = NULL;
        s->used++;
        return p;
    }
    /* Never-used memory: handed out in address order without being carved
     * onto the free list first, which would write every object twice. */
    if (HPI_LIKELY((p = slab_bump(s)) != NULL))
        return p;
    return malloc_slow_or_enomem(n);
}

HP_EXPORT void *hp_calloc(size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p;
    if (n > HPI_SMALL_MAX) {
        p = malloc_slow(n, true);
    } else {
        p = hp_malloc(n);
        if (p)
            memset(p, 0, n);
    }
    if (HPI_UNLIKELY(!p))
        errno = ENOMEM;
    return p;
}

HP_EXPORT void *hp_aligned_alloc(size_t align, size_t size)
{
    if (align == 0 || (align & (align - 1))) {
        errno = EINVAL;
        return NULL;
    }
    if (align <= 16)
        return hp_malloc(size);
    /* A slab object is aligned when its class size is a multiple of align: slabs
     * start 4 KiB aligned (page 0) or 64 KiB aligned (others, and every slab of
     * a class above 8 KiB). */
    if (align <= 64 * HPI_KiB && size <= HPI_SMALL_MAX) {
        size_t n = size < align ? align : (size + align - 1) & ~(align - 1);
        if (align > 4 * HPI_KiB && n <= 8 * HPI_KiB)
            n = 16 * HPI_KiB;
        if (n <= HPI_SMALL_MAX) {
            unsigned c = hpi_size_class(n);
            while (hpi_class_size(c) % align)
                c++;
            return hp_malloc(hpi_class_size(c));
        }
    }
    void *p = large_alloc(size, align, false);
    if (!p)
        errno = ENOMEM;
    return p;
}

/* ---- free ----------------------------------------------------------------------------- */


/* Confirms a suspected double free (p carries the listed mark) by finding p on
 * its slab's free list. Owner only. */
static bool on_slab_list(struct heap *h, struct slab *s, void **p)
{
    if (atomic_load_explicit(&h->remote_slabs, memory_order_relaxed))
        collect_remote(h);
    size_t limit = (size_t)(s->end - s->start) / s->size;
    for (void **q = s->free; q && limit; q = link_get(q), limit--)
        if (q == p)
            return true;
    return false;
}

static _Noreturn void invalid_pointer(const void *p)
{
    hpi_report_fatal("free(): invalid pointer %p (not an object hugepage allocated)", p);
}

static _Noreturn void double_free(const void *p)
{
    hpi_report_fatal("free(): double free detected at %p", p);
}

static void free_large(void *run, void *p)
{
    struct lhdr *hdr = large_header(run, p);
    if (!hdr)
        invalid_pointer(p);
    hdr->magic = 0;
    atomic_fetch_sub_explicit(&large_in_use, large_usable(hdr), memory_order_relaxed);
    atomic_fetch_sub_explicit(&large_requested, hdr->requested, memory_order_relaxed);
    size_t nblocks = hdr->nblocks;
    if (hardened()) {
        void *guard = (char *)run + (nblocks << HPI_BLOCK_SHIFT);
        /* A guard that cannot be made writable again (the kernel out of
         * memory for the split mapping) stays out of the cache: it is lost. */
        if (!hdr->guarded || hpi_os_mprotect(guard, HPI_BLOCK_SIZE, PROT_READ | PROT_WRITE) == 0)
            nblocks++;
    }
    hpi_block_free(run, nblocks);
}

/* Everything the fast path of hp_free does not take: NULL, pointers that are
 * not ours, large objects, suspected double frees and frees of other threads'
 * objects. Kept out of line so the fast path needs no stack frame. */
static __attribute__((noinline)) void free_slow(void *p)
{
    if (!p)
        return;
    void *run = hpi_block_owner(p);
    if (!run)
        invalid_pointer(p);
    if (((struct sblock *)run)->magic != MAGIC_SLABS) {
        free_large(run, p);
        return;
    }
    /* s->start and s->end are fixed while the slab lives (s->bump is the
     * owner's, and may be moving under another thread). */
    struct slab *s = slab_of(run, p);
    if (!s || (char *)p < s->start || (char *)p >= s->end ||
        (hardened() && (size_t)((char *)p - s->start) % s->size))
        invalid_pointer(p);
    struct heap *h = tl_own;
    void **o = p;
    /* Secure mode: the address-bound mark is proof enough, on any thread. */
    if (hardened() && o[1] == free_mark(o))
        double_free(o);
    if (s->heap == h && o[1] == (void *)free_key && on_slab_list(h, s, o))
        double_free(o);
    if (s->cls < TCACHE_CLASSES && !hardened() && h) {
        /* Here from the fast path because the cache is full or o is its top:
         * o must not be in the cache already. */
        struct tcache *t = &h->tcache[s->cls];
        for (uint32_t i = 1; i <= t->n; i++)
            if (t->slot[i] == o)
                double_free(o);
        if (t->n == t->cap)
            tcache_flush(h, s->cls, (t->cap + 1) / 2);
        o[0] = (void *)cache_key;
        t->slot[++t->n] = o;
        return;
    }
    if (s->heap != h) {
        /* Another heap's object that no thread cache takes (a class above
         * TCACHE_MAX_SIZE, the hardening mode, a thread without a heap): home
         * at once. Outside the hardening mode, no double-free check: it would
         * read the object, which another core may have written last, and
         * stall on that miss; glibc does not catch a cross-thread double free
         * either (its tcache check finds only the freeing thread's entries). */
        o[1] = free_mark(o);
        remote_push(s, o, o, 1);
        return;
    }
    link_set(o, s->free);
    o[1] = free_mark(o);
    s->free = o;
    s->used--;
    slab_after_free(h, s);
}

HP_EXPORT void hp_free(void *p)
{
    /* p == NULL: the first 2 MiB is never a slab block. */
    if (HPI_LIKELY(is_slab_block((uintptr_t)p))) {
        struct sblock *b = (struct sblock *)((uintptr_t)p & ~(uintptr_t)(HPI_BLOCK_SIZE - 1));
        size_t page = page_of(b, p);
        unsigned c = b->page_cls[page];
        void **o = p;
        struct heap *h = tl_heap;
        if (HPI_LIKELY(c < TCACHE_CLASSES)) {
            /* No read of the object (another core may have written it
             * last): a store of the cached mark. Freeing the cache's top
             * again is caught here; any other double free when the object
             * leaves the cache (see invariants). */
            struct tcache *t = &h->tcache[c];
            HPI_OPAQUE(t);
            size_t n = t->n;
            if (HPI_LIKELY(n < t->cap && t->slot[n] != o)) {
                o[0] = (void *)cache_key;
                t->slot[n + 1] = o;
                t->n = (uint16_t)(n + 1);
                return;
            }
            free_slow(p);
            return;
        }
        struct slab *s = b->page_slab[page];
        if (HPI_LIKELY(s && s->heap == h && o[1] != (void *)free_key)) {
            o[0] = (void *)s->free;
            o[1] = (void *)free_key;
            s->free = o;
            if (HPI_LIKELY(--s->used != 0 && s->state != SLAB_FULL))
                return;
            slab_after_free(s->heap, s);
            return;
        }
    }
    free_slow(p);
}

HP_EXPORT size_t hp_usable_size(const void *p)
{
    if (!p)
        return 0;
    void *run = hpi_block_owner(p);
    if (!run)
        return 0;
    if (((struct sblock *)run)->magic == MAGIC_SLABS) {
        struct slab *s = slab_of(run, p);
        if (!s)
            return 0;
        /* Secure mode: 0 (not a live object) for an inner or a freed pointer. */
        if (hardened() && (!object_ok(p, s->cls) || ((void *const *)p)[1] == free_mark((void **)p)))
            return 0;
        return s->size;
    }
    const struct lhdr *hdr = large_header(run, p);
    return hdr ? large_usable(hdr) : 0;
}

HP_EXPORT void *hp_realloc(void *p, size_t n)
{
    if (!p)
        return hp_malloc(n);
    if (n == 0) {
        hp_free(p); /* glibc: realloc(p, 0) frees p and returns NULL */
        return NULL;
    }
    size_t usable = hp_usable_size(p); /* 0: not a live object of ours */
    if (usable == 0)
        invalid_pointer(p);
    /* In place when it fits and would not waste more than half; a large object
     * (usable > HPI_SMALL_MAX, which no slab object is) also when it shrinks
     * but stays large. */
    if (n <= usable && (n >= usable / 2 || usable <= 16 || n > HPI_SMALL_MAX))
        return p;
    /* Growing out of place: take at least a quarter more than before (as
     * tcmalloc does), so that a buffer grown a little at a time is copied
     * O(log n) times, not once per size class. Exactly n if that fails. */
    size_t roomy = usable + usable / 4;
    int saved = errno;
    void *q = n > usable && n < roomy ? hp_malloc(roomy) : NULL;
    if (!q) {
        errno = saved;
        q = hp_malloc(n);
    }
    if (!q)
        return NULL;
    memcpy(q, p, n < usable ? n : usable);
    hp_free(p);
    return q;
}

HP_EXPORT size_t hp_trim(void)
{
    struct heap *h = tl_own;
    if (h) {
        tcache_flush_all(h);
        if (atomic_load_explicit(&h->remote_slabs, memory_order_relaxed))
            collect_remote(h);
        collect_retired(h, true);
    }
    reclaim_abandoned();
    return hpi_block_trim();
}

/* ---- invariant checks (tests, debug builds) ------------------------------------------- */

static int slab_check(const struct slab *s)
{
    size_t cap = (size_t)(s->end - s->start) / s->size, nfree = 0;
    if (s->bump < s->start || s->bump > s->end || !is_slab_block((uintptr_t)s->start))
        return EINVAL;
    for (void **q = s->free; q; q = link_get(q)) {
        if ((char *)q < s->start || (char *)q >= s->bump ||
            (size_t)((char *)q - s->start) % s->size || ++nfree > cap)
            return EINVAL;
    }
    size_t ever = (size_t)(s->bump - s->start) / s->size; /* handed out at least once */
    return nfree + s->used == ever ? 0 : EINVAL;
}

/* Checks the calling thread's heap: every slab's block is marked a slab block,
 * its free list lies inside the slab on object boundaries, and free + used =
 * objects below bump (valid when no other thread holds frees of ours in
 * flight). */
int hpi_heap_check(void)
{
    struct heap *h = tl_own;
    if (!h)
        return 0;
    for (unsigned c = 0; c < TCACHE_CLASSES; c++) {
        const struct tcache *t = &h->tcache[c];
        if (t->n > t->cap || t->slot[0] || cache_suspect(t))
            return EINVAL;
        for (uint32_t i = 1; i <= t->n; i++) {
            void *run = hpi_block_owner(t->slot[i]);
            const struct slab *s = run ? slab_of(run, t->slot[i]) : NULL;
            if (!s || s->cls != c || s->state == SLAB_FREE)
                return EINVAL;
        }
        if (t->bump != t->end) {
            const struct slab *cur = h->current[c];
            if (t->cap == 0 || !cur->clean || t->size != cur->size || t->end != cur->bump ||
                t->bump < cur->start || t->bump > t->end ||
                (size_t)(t->bump - cur->start) % cur->size)
                return EINVAL;
            for (char *q = t->bump; q < t->end; q += t->size)
                if (((void **)q)[0] || ((void **)q)[1])
                    return EINVAL; /* fresh memory that is not zero */
        }
    }
    for (unsigned c = 0; c < HPI_NCLASSES; c++) {
        struct slab *cur = h->current[c];
        if (cur != &empty_slab && cur->state != SLAB_CURRENT)
            return EINVAL; /* a current slab that a free could release */
        if (cur != &empty_slab && slab_check(cur))
            return EINVAL;
        for (struct slab *s = h->partial[c]; s; s = s->next)
            if (s->state != SLAB_PARTIAL || slab_check(s))
                return EINVAL;
    }
    return hpi_block_check();
}
