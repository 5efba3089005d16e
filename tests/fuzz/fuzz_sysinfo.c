/* fuzz_sysinfo.c: libFuzzer harness for every sysinfo parser.
 *
 * Each input goes, as NUL-terminated text, to every parser that takes a
 * string, and as raw bytes of exact length to the smaps parser (so ASan sees
 * any read past len). Besides "no crash", it checks the contracts a caller
 * relies on and traps when one breaks. tests/unit/test_sysinfo.c includes this
 * file and replays tests/fuzz/corpus_sysinfo/ through LLVMFuzzerTestOneInput. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sysinfo.h"

#define FUZZ_CHECK(c)                                                                    \
    do {                                                                                 \
        if (!(c))                                                                        \
            __builtin_trap();                                                            \
    } while (0)

static void fuzz_smaps(const char *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        struct hpi_vma vma, again;
        size_t used = 0, used_again = 0;
        int err = hpi_sysinfo_parse_smaps_vma(data + pos, size - pos, true, &vma, &used);
        FUZZ_CHECK(err != EAGAIN); /* at EOF there is no more text to wait for */
        if (err)
            break;
        FUZZ_CHECK(used > 0 && used <= size - pos);
        FUZZ_CHECK(vma.start < vma.end && vma.size == vma.end - vma.start);
        FUZZ_CHECK(memchr(vma.name, '\0', sizeof vma.name) != NULL);
        FUZZ_CHECK(vma.thp_eligible >= -1 && vma.thp_eligible <= 1);
        /* Streaming must agree: without EOF, the same text gives the same
         * record, or EAGAIN when nothing follows it yet. */
        err = hpi_sysinfo_parse_smaps_vma(data + pos, size - pos, false, &again, &used_again);
        FUZZ_CHECK(err == EAGAIN || (err == 0 && used_again == used &&
                                     again.start == vma.start && again.rss == vma.rss));
        pos += used;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    struct hpi_meminfo mi;
    if (hpi_sysinfo_parse_meminfo(text, &mi) == 0)
        FUZZ_CHECK(!(mi.have & HPI_MEMINFO_HAVE_HUGEPAGESIZE) || mi.hugepagesize > 0);

    unsigned long ul;
    size_t sz;
    enum hpi_thp_mode mode;
    hpi_sysinfo_parse_ulong(text, &ul);
    hpi_sysinfo_parse_limit(text, &sz);
    if (hpi_sysinfo_parse_pool_dirname(text, &sz) == 0)
        FUZZ_CHECK(sz >= 1024 && sz % 1024 == 0);
    if (hpi_sysinfo_parse_thp(text, &mode) == 0)
        FUZZ_CHECK(strcmp(hpi_sysinfo_thp_name(mode), "unknown") != 0);

    int nodes[4], count = -1;
    int err = hpi_sysinfo_parse_nodelist(text, nodes, 4, &count);
    FUZZ_CHECK(count >= 0 && (err != 0 || count <= 4) && (err != ENOSPC || count > 4));
    for (int i = 0; !err && i < count; i++)
        FUZZ_CHECK(nodes[i] >= 0 && nodes[i] < 1024);

    struct hpi_mount mounts[2];
    err = hpi_sysinfo_parse_mountinfo(text, 2u << 20, mounts, 2, &count);
    if (err == 0 || err == ENOSPC) {
        for (int i = 0; i < count && i < 2; i++) {
            FUZZ_CHECK(mounts[i].path[0] != '\0');
            FUZZ_CHECK(memchr(mounts[i].path, '\0', sizeof mounts[i].path) != NULL);
            FUZZ_CHECK(mounts[i].page_size > 0);
        }
    }
    int count0 = -1;
    int err0 = hpi_sysinfo_parse_mountinfo(text, 0, NULL, 0, &count0);
    FUZZ_CHECK(err == 0 || err == ENOSPC ? (err0 == 0 || err0 == ENOSPC) && count0 == count
                                         : err0 != 0);

    fuzz_smaps((const char *)data, size);
    free(text);
    return 0;
}
