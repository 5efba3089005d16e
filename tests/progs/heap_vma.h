/* heap_vma.h: which /proc/self/smaps VMAs are the heap's, for the test
 * programs that measure where the heap really lives (heap_coverage.c,
 * conditions.c). A VMA is the heap's when one of its whole 2 MiB blocks is a
 * live heap run in the owner table. */
#ifndef HP_HEAP_VMA_H
#define HP_HEAP_VMA_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"
#include "sysinfo.h"

static inline bool hp_heap_vma(const struct hpi_vma *v)
{
    uintptr_t first = (v->start + HPI_BLOCK_SIZE - 1) & ~(uintptr_t)(HPI_BLOCK_SIZE - 1);
    for (uintptr_t a = first; a + HPI_BLOCK_SIZE <= v->end; a += HPI_BLOCK_SIZE)
        if (hpi_block_owner((void *)a) != NULL)
            return true;
    return false;
}

#endif /* HP_HEAP_VMA_H */
