/* env_probe.c: a small user of the library for tests/reliability/test_env_hostile.sh.
 *
 *   env_probe            allocate, use and free memory through every heap entry
 *                        point and one hp_map region; print nothing and exit 0
 *                        when all of it worked, else one line naming what failed
 *                        on stderr and exit 1. Run under hostile HUGEPAGE_*
 *                        values, it shows the library still works.
 *   env_probe --options  print the options table (hpi_option_docs), one
 *                        "NAME<TAB>DEFAULT" line each, so the script covers
 *                        every variable the library reads, including new ones. */
#include <stdio.h>
#include <string.h>

#include "hugepage.h"
#include "internal.h"

static int failed(const char *what)
{
    fprintf(stderr, "env_probe: %s failed\n", what);
    return 1;
}

/* Fills n bytes with a pattern derived from seed and checks it back. */
static int fill_and_check(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 31 + seed);
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 31 + seed))
            return 1;
    return 0;
}

static int probe(void)
{
    static const size_t sizes[] = {0, 1, 24, 4096, 100000, (size_t)4 << 20};
    void *objs[sizeof sizes / sizeof sizes[0]];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        objs[i] = hp_malloc(sizes[i]);
        if (!objs[i] || fill_and_check(objs[i], sizes[i], (unsigned)i))
            return failed("hp_malloc");
    }
    unsigned char *z = hp_calloc(1000, 3);
    if (!z)
        return failed("hp_calloc");
    for (size_t i = 0; i < 3000; i++)
        if (z[i])
            return failed("hp_calloc zeroing");
    z = hp_realloc(z, 1 << 20);
    if (!z || fill_and_check(z, 1 << 20, 7))
        return failed("hp_realloc");
    void *a = hp_aligned_alloc(4096, 5000);
    if (!a || (uintptr_t)a % 4096)
        return failed("hp_aligned_alloc");
    size_t len = (size_t)2 << 20;
    unsigned char *r = hp_map(len, 0);
    if (!r || fill_and_check(r, len, 3) || hp_unmap(r, len) != 0)
        return failed("hp_map");
    hp_free(a);
    hp_free(z);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        hp_free(objs[i]);
    hp_trim();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--options") == 0) {
        for (int i = 0; i < hpi_option_ndocs; i++)
            printf("%s\t%s\n", hpi_option_docs[i].name, hpi_option_docs[i].fallback);
        return 0;
    }
    return probe();
}
