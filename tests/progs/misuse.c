/* misuse: commits one heap misuse, named on the command line, so that
 * tests/heap/test_misuse.sh can check what the library does about it, with and
 * without HUGEPAGE_SECURE=1 (the mode is read from the environment at start).
 *
 *   misuse CASE
 *
 * A case that the library catches never returns: the process aborts with a
 * message naming the address (or faults, for the guard block). A case that
 * returns prints "survived" and exits 0; the cases that check a guarantee of
 * the default mode print what they saw instead. Exit 2 for an unknown case. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "hugepage.h"

static void *victim;

static void *free_victim(void *arg)
{
    (void)arg;
    hp_free(victim);
    return NULL;
}

static void free_on_other_thread(void)
{
    pthread_t t;
    pthread_create(&t, NULL, free_victim, NULL);
    pthread_join(t, NULL);
}

static void double_free(void)
{
    void *p = hp_malloc(32);
    hp_free(p);
    hp_free(p);
}

/* The freed object is no longer at the head of its free list. */
static void double_free_behind_others(void)
{
    void *a = hp_malloc(64), *b = hp_malloc(64), *c = hp_malloc(64);
    hp_free(a);
    hp_free(b);
    hp_free(c);
    hp_free(a);
}

/* Freed by the owner, then again by another thread. */
static void double_free_cross_thread(void)
{
    victim = hp_malloc(48);
    hp_free(victim);
    free_on_other_thread();
}

/* Freed twice by a thread that does not own it. */
static void double_free_foreign_twice(void)
{
    victim = hp_malloc(48);
    free_on_other_thread();
    free_on_other_thread();
}

/* Freed again after its thread cache (63 objects per class) sent it back to
 * its slab's free list; then many mallocs of its class. Prints an address that
 * two of them returned, if the allocator did that. */
static void double_free_after_flush(void)
{
    enum { N = 200 };
    static void *p[N], *q[2 * N];
    for (int i = 0; i < N; i++)
        p[i] = hp_malloc(48);
    for (int i = 0; i < N; i++)
        hp_free(p[i]);
    hp_free(p[0]);
    for (int i = 0; i < 2 * N; i++) {
        q[i] = hp_malloc(48);
        for (int j = 0; j < i; j++)
            if (q[j] == q[i]) {
                printf("handed out twice: %p\n", q[i]);
                return;
            }
    }
}

static void free_inner_pointer(void)
{
    char *p = hp_malloc(64);
    hp_free(p + 16);
}

static void free_stack_pointer(void)
{
    int local = 0;
    hp_free(&local);
}

static void free_large_inner_pointer(void)
{
    char *p = hp_malloc(8u << 20);
    hp_free(p + 4096);
}

/* A use-after-free write over the free-list link, then the mallocs that follow it. */
static void write_after_free(void)
{
    void **p = hp_malloc(64);
    void *q = hp_malloc(64);
    hp_free(q);
    hp_free(p);
    p[0] = q; /* a link to an object that looks plausible */
    p[1] = NULL;
    for (int i = 0; i < 4; i++)
        victim = hp_malloc(64);
}

static void realloc_after_free(void)
{
    void *p = hp_malloc(100);
    hp_free(p);
    hp_realloc(p, 50);
}

/* Writes one byte past the end of a large object. */
static void large_overflow(void)
{
    size_t n = (4u << 20) + 48;
    volatile char *p = hp_malloc(n); /* volatile: the stores must happen */
    p[n - 1] = 1;
    p[n] = 1;
}

/* Writes below a large object, over its header. */
static void large_underflow(void)
{
    char *p = hp_malloc(3u << 20);
    char *run = (char *)((uintptr_t)p & ~(uintptr_t)((2u << 20) - 1));
    memset(run, 0x41, 64);
    hp_free(p);
}

/* The default mode's promise: a single-threaded double free never gives one
 * address to two live objects (it aborts first). Prints the two addresses if
 * the allocator did hand it out twice. */
static void double_free_then_two_mallocs(void)
{
    void *p = hp_malloc(40);
    hp_free(p);
    hp_free(p);
    void *a = hp_malloc(40), *b = hp_malloc(40);
    printf("two mallocs after a double free: %p %p%s\n", a, b, a == b ? " (the same)" : "");
}

static const struct {
    const char *name;
    void (*run)(void);
} cases[] = {
    {"double_free", double_free},
    {"double_free_behind_others", double_free_behind_others},
    {"double_free_cross_thread", double_free_cross_thread},
    {"double_free_foreign_twice", double_free_foreign_twice},
    {"double_free_after_flush", double_free_after_flush},
    {"free_inner_pointer", free_inner_pointer},
    {"free_stack_pointer", free_stack_pointer},
    {"free_large_inner_pointer", free_large_inner_pointer},
    {"write_after_free", write_after_free},
    {"realloc_after_free", realloc_after_free},
    {"large_overflow", large_overflow},
    {"large_underflow", large_underflow},
    {"double_free_then_two_mallocs", double_free_then_two_mallocs},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc == 2 && i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].run();
            printf("survived\n");
            return 0;
        }
    }
    fprintf(stderr, "usage: misuse CASE (see tests/progs/misuse.c)\n");
    return 2;
}
