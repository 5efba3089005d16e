/* size_class.h: the heap's size classes (part of layer 4, with heap.c).
 *
 * Every object is at least 16 bytes and 16-byte aligned (glibc's guarantee on
 * x86-64, which programs rely on for SSE and long double).
 *   classes 0..7:    16, 32, ..., 128            (step 16)
 *   classes 8..111:  for each k in 7..19, the range (2^k, 2^(k+1)] in 8 steps
 *                    of 2^(k-3): 144, 160, ..., 256, 288, ..., 1 MiB.
 * Internal waste is below 1/9 (11.1%) of the class size for every request above
 * 128 bytes; between 64 and 128 bytes the 16-byte step keeps it at most 15 bytes
 * (18.75% for a 65-byte request), the price of 16-byte alignment.
 * Requests above HPI_SMALL_MAX bytes are large objects: runs of whole blocks. */
#ifndef HPI_SIZE_CLASS_H
#define HPI_SIZE_CLASS_H

#include <stddef.h>
#include <stdint.h>

#define HPI_NCLASSES 112
#define HPI_SMALL_MAX ((size_t)1 << 20)

/* The class of a request of n bytes, 0 < n <= HPI_SMALL_MAX (n = 0 is class 0). */
static inline unsigned hpi_size_class(size_t n)
{
    if (n <= 128)
        return n <= 16 ? 0 : (unsigned)((n - 1) >> 4);
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^k < n <= 2^(k+1) */
    unsigned idx = (unsigned)((n - 1 - ((size_t)1 << k)) >> (k - 3));
    return 8u + (k - 7u) * 8u + idx;
}

/* The object size of class c. */
static inline size_t hpi_class_size(unsigned c)
{
    if (c < 8)
        return (size_t)(c + 1) << 4;
    unsigned k = 7u + (c - 8u) / 8u, idx = (c - 8u) % 8u;
    return ((size_t)1 << k) + ((size_t)(idx + 1) << (k - 3));
}

#endif /* HPI_SIZE_CLASS_H */
