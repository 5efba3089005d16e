/* churn2: two threads, each allocating small objects (16-256 bytes); each
 * frees half of its objects itself and passes the other half to the other
 * thread, which frees them (producer/consumer in both directions). The
 * cross-thread frees are what separates allocators here: a lock, an atomic
 * remote list, or a trip through a central cache.
 *
 * The hand-over is a lock-free single-producer single-consumer ring per
 * direction. Each side caches the other side's index and publishes its own
 * only once per batch, so the ring costs a few plain stores per object and
 * one shared cache line per batch: it must not dominate the cost.
 *
 * Reports total operations per second over both threads, where one operation
 * is one object's malloc and its free. */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

#define RING 4096 /* slots, power of two */
#define BATCH 32  /* objects published per release store */
#define KEEP 64   /* own objects kept alive a little before being freed */

struct ring {
    _Alignas(64) _Atomic size_t head; /* written by the producer */
    _Alignas(64) _Atomic size_t tail; /* written by the consumer */
    _Alignas(64) void *slot[RING];
};

struct side {
    struct ring *out, *in;
    uint64_t count;         /* objects this thread allocates */
    _Atomic int *done;      /* threads that finished producing */
    uint64_t seed;
    /* producer-private and consumer-private state, on separate cache lines */
    _Alignas(64) size_t out_head, out_tail_seen;
    size_t in_tail;
};

/* Publish pending objects; wait for room while freeing what comes in, so the
 * two threads can never both block on full rings. */
static size_t drain(struct side *s);

static void push(struct side *s, void *p)
{
    while (s->out_head - s->out_tail_seen >= RING) {
        s->out_tail_seen = atomic_load_explicit(&s->out->tail, memory_order_acquire);
        if (s->out_head - s->out_tail_seen >= RING) {
            atomic_store_explicit(&s->out->head, s->out_head, memory_order_release);
            drain(s);
        }
    }
    s->out->slot[s->out_head & (RING - 1)] = p;
    if (++s->out_head % BATCH == 0)
        atomic_store_explicit(&s->out->head, s->out_head, memory_order_release);
}

static size_t drain(struct side *s)
{
    size_t head = atomic_load_explicit(&s->in->head, memory_order_acquire);
    size_t n = head - s->in_tail;
    for (; s->in_tail != head; s->in_tail++)
        free(s->in->slot[s->in_tail & (RING - 1)]);
    if (n)
        atomic_store_explicit(&s->in->tail, s->in_tail, memory_order_release);
    return n;
}

static void *run(void *arg)
{
    struct side *s = arg;
    struct rng r = { s->seed };
    char *keep[KEEP] = { 0 };
    for (uint64_t i = 0; i < s->count; i++) {
        uint64_t x = rng_next(&r);
        size_t size = 16 + x % 241;
        char *p = malloc(size);
        if (!p)
            die("malloc");
        p[0] = (char)x;
        p[size - 1] = (char)x;
        if (i & 1) {
            push(s, p);
        } else {
            size_t k = (i >> 1) % KEEP;
            free(keep[k]);
            keep[k] = p;
        }
        if (i % BATCH == 0)
            drain(s);
    }
    atomic_store_explicit(&s->out->head, s->out_head, memory_order_release);
    for (size_t k = 0; k < KEEP; k++)
        free(keep[k]);
    atomic_fetch_add(s->done, 1);
    /* Keep freeing what the other thread sends until it has finished too. */
    while (atomic_load(s->done) < 2 || drain(s))
        drain(s);
    drain(s);
    return NULL;
}

int main(int argc, char **argv)
{
    struct opts o = parse_opts(argc, argv, (struct opts){ .count = 20000000 });
    static struct ring rings[2];
    static struct side sides[2];
    _Atomic int done = 0;
    for (int i = 0; i < 2; i++)
        sides[i] = (struct side){ .out = &rings[i], .in = &rings[1 - i], .count = o.count / 2,
                                  .done = &done, .seed = 0x9e3779b9ull * (uint64_t)(i + 1) };

    pthread_t t[2];
    double t0 = now_s();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, run, &sides[i]))
            die("pthread_create");
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    double secs = now_s() - t0;
    print_coverage();

    uint64_t ops = sides[0].count + sides[1].count;
    print_info("ops=%llu seconds=%.3f", (unsigned long long)ops, secs);
    print_result("xthread_ops", "ops/s", "higher", (double)ops / secs);
    return 0;
}
