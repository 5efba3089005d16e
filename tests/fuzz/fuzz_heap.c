/* fuzz_heap.c: libFuzzer harness turning bytes into a sequence of heap calls
 * (hp_malloc, hp_calloc, hp_realloc, hp_aligned_alloc, hp_free) on 64 slots,
 * checked against a shadow model of what each slot should hold.
 *
 * Input: 5-byte records [op][slot][size lo][size hi][extra]; a short tail is
 * ignored. op & 7 picks the call, op >> 5 scales the 16-bit size: 0-4 use
 * its low 12 bits (small objects, the common case, stay fast to fuzz), 5 all
 * 16, 6 and 7 shift it by 4 and 6 (up to 4 MiB, past the small/large
 * boundary); extra is the
 * alignment's log2 (hp_aligned_alloc; bit 7: add 1, a non-power of two that
 * must fail with EINVAL) or the element count (hp_calloc; 0xff: an overflowing
 * count that must fail with ENOMEM).
 *
 * Checked after every call: live objects never overlap (usable ranges), each
 * is aligned as asked (16 bytes for malloc of 16 or more), usable size >=
 * requested, calloc memory is zero, and every object still holds the byte of
 * its slot, written over its whole usable size: realloc keeps the prefix both
 * sizes share. A broken check prints the record and traps.
 *
 * Built two ways: as a libFuzzer target (tests/CMakeLists.txt, HUGEPAGE_FUZZ)
 * and, with HP_FUZZ_REPLAY defined, as a plain program that replays files and
 * directories (tests/fuzz/corpus_heap in every normal test pass). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hugepage.h"
#include "internal.h"

#define NSLOTS 64
#define RECORD 5

enum op { OP_MALLOC, OP_CALLOC, OP_REALLOC, OP_ALIGNED, OP_FREE, OP_CHECK, OP_NOPS };

struct slot {
    unsigned char *p;
    size_t size;   /* requested */
    size_t usable; /* hp_usable_size when allocated */
    size_t align;  /* asked for; 16 or less for malloc-like calls */
};

static struct slot slots[NSLOTS];
static size_t record_no; /* for failure messages */

#define FUZZ_CHECK(c)                                                                    \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            fprintf(stderr, "fuzz_heap: record %zu: check failed: %s (%s:%d)\n",        \
                    record_no, #c, __FILE__, __LINE__);                                  \
            __builtin_trap();                                                            \
        }                                                                                \
    } while (0)

/* Distinct for every slot, never 0 (so calloc's zero is not mistaken). */
static unsigned char slot_byte(size_t i)
{
    return (unsigned char)(0x40 + i);
}

/* Compared in chunks with memcmp: a byte loop here, instrumented for
 * coverage, was most of the fuzzer's time. */
static void check_bytes(const unsigned char *p, size_t n, unsigned char b)
{
    static unsigned char ref[4096];
    memset(ref, b, sizeof ref);
    for (size_t i = 0; i < n; i += sizeof ref) {
        size_t len = n - i < sizeof ref ? n - i : sizeof ref;
        FUZZ_CHECK(memcmp(p + i, ref, len) == 0);
    }
}

static void check_alive(size_t i)
{
    if (slots[i].p)
        check_bytes(slots[i].p, slots[i].usable, slot_byte(i));
}

/* A new object in slot i: the contract checks, then the slot's byte written
 * over all of the usable size (which the caller may use). */
static void adopt(size_t i, unsigned char *p, size_t size, size_t align, bool zeroed)
{
    FUZZ_CHECK(p != NULL);
    size_t usable = hp_usable_size(p);
    FUZZ_CHECK(usable >= size);
    size_t want = align > 16 ? align : size >= 16 ? 16 : 1;
    FUZZ_CHECK((uintptr_t)p % want == 0);
    if (zeroed)
        check_bytes(p, size, 0);
    for (size_t j = 0; j < NSLOTS; j++) {
        const struct slot *o = &slots[j];
        if (j == i || !o->p)
            continue;
        FUZZ_CHECK(p + usable <= o->p || o->p + o->usable <= p);
    }
    slots[i] = (struct slot){p, size, usable, align};
    memset(p, slot_byte(i), usable);
}

static void release(size_t i)
{
    check_alive(i);
    hp_free(slots[i].p);
    slots[i] = (struct slot){0};
}

static void run(enum op op, size_t i, size_t size, unsigned extra)
{
    switch (op) {
    case OP_MALLOC:
        release(i);
        adopt(i, hp_malloc(size), size, 0, false);
        break;
    case OP_CALLOC:
        release(i);
        if (extra == 0xff) {
            errno = 0;
            FUZZ_CHECK(hp_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
        } else {
            size_t n = 1 + extra % 16;
            adopt(i, hp_calloc(n, size / n), size / n * n, 0, true);
        }
        break;
    case OP_REALLOC: {
        struct slot old = slots[i];
        check_alive(i);
        unsigned char *q = hp_realloc(old.p, size);
        if (old.p && size == 0) {
            /* glibc's realloc(p, 0): p is freed, NULL returned. */
            FUZZ_CHECK(q == NULL);
            slots[i] = (struct slot){0};
            break;
        }
        FUZZ_CHECK(q != NULL);
        check_bytes(q, old.size < size ? old.size : size, slot_byte(i));
        slots[i] = (struct slot){0};
        adopt(i, q, size, 0, false);
        break;
    }
    case OP_ALIGNED: {
        release(i);
        size_t align = (size_t)1 << ((extra & 0x7f) % 22);
        if (extra & 0x80 && align > 1) {
            errno = 0;
            FUZZ_CHECK(hp_aligned_alloc(align + 1, size) == NULL && errno == EINVAL);
        } else {
            adopt(i, hp_aligned_alloc(align, size), size, align, false);
        }
        break;
    }
    case OP_FREE:
        release(i);
        break;
    case OP_CHECK:
        for (size_t j = 0; j < NSLOTS; j++)
            check_alive(j);
        FUZZ_CHECK(hp_usable_size(NULL) == 0);
        FUZZ_CHECK(hpi_heap_check() == 0);
        break;
    case OP_NOPS:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (record_no = 0; (record_no + 1) * RECORD <= size; record_no++) {
        const uint8_t *r = data + record_no * RECORD;
        size_t n = (size_t)(r[2] | r[3] << 8), scale = r[0] >> 5;
        n = scale < 5 ? n & 0xfff : scale == 5 ? n : n << (scale == 6 ? 4 : 6);
        run((enum op)((r[0] & 7) % OP_NOPS), r[1] % NSLOTS, n, r[4]);
    }
    for (size_t i = 0; i < NSLOTS; i++)
        release(i);
    FUZZ_CHECK(hpi_heap_check() == 0);
    return 0;
}

#ifdef HP_FUZZ_REPLAY
#include <dirent.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_heap: cannot open %s\n", path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    /* libFuzzer hands the harness an exact-size buffer; so do we. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return 1;
    memcpy(copy, buf, n);
    fprintf(stderr, "fuzz_heap: replaying %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every file named, and every regular file in every directory named. */
int main(int argc, char **argv)
{
    int failed = 0, count = 0;
    for (int a = 1; a < argc; a++) {
        struct dirent **names;
        int n = scandir(argv[a], &names, NULL, by_name);
        if (n < 0) {
            failed |= replay_file(argv[a]);
            count++;
            continue;
        }
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[a], names[k]->d_name);
                failed |= replay_file(path);
                count++;
            }
            free(names[k]);
        }
        free(names);
    }
    if (count == 0) {
        fprintf(stderr, "fuzz_heap: no input to replay\n");
        return 1;
    }
    printf("fuzz_heap: replayed %d inputs\n", count);
    return failed;
}
#endif
