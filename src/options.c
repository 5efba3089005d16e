/* options.c: the HUGEPAGE_* environment options (side layer; calls os.c and
 * report.c only). One table documents every variable; the parser, `hugepage
 * doctor`, the man page's ENVIRONMENT section and the tests all use it.
 *
 * Options are read once, before the first mapping, with secure_getenv (so a
 * setuid program ignores them), into a static struct: no malloc. The first
 * caller parses; concurrent first callers spin briefly until it is done. A bad
 * value is reported once, naming the variable and the accepted values, and the
 * default is used. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* Indices into hpi_option_docs, so that warnings quote the table. */
enum { OPT_MODE, OPT_PAGESIZE, OPT_RESERVE, OPT_STATS, OPT_VERBOSE, OPT_SECURE };

const struct hpi_option_doc hpi_option_docs[] = {
    [OPT_MODE] = {"HUGEPAGE_MODE", "auto|hugetlb|thp|base", "auto",
     "where memory comes from: the whole fallback chain, or only one kind"},
    [OPT_PAGESIZE] = {"HUGEPAGE_PAGESIZE", "2M|1G", "kernel default",
     "huge page size for the heap and for hp_map without a size flag"},
    [OPT_RESERVE] = {"HUGEPAGE_RESERVE", "size, e.g. 512M", "0",
     "take that many bytes of huge pages for the heap at start"},
    [OPT_STATS] = {"HUGEPAGE_STATS", "0|1|json", "0", "print statistics to stderr at exit"},
    [OPT_VERBOSE] = {"HUGEPAGE_VERBOSE", "0|1", "0", "log fallbacks and their reasons to stderr"},
    [OPT_SECURE] = {"HUGEPAGE_SECURE", "0|1", "0",
     "hardening: checked free lists, every double or bad free aborts, guard blocks"},
};
const int hpi_option_ndocs = (int)(sizeof hpi_option_docs / sizeof hpi_option_docs[0]);

static struct hpi_options opts;
/* 0 = not read, 1 = being read, 2 = ready. */
static atomic_int state;

int hpi_options_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "yes", "on", "true"};
    static const char *const no[] = {"0", "no", "off", "false"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return EINVAL;
}

int hpi_options_parse_size(const char *s, size_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return EINVAL; /* rejects "", "-5", "+5", " 5" */
    size_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        size_t d = (size_t)(*s - '0');
        if (v > (SIZE_MAX - d) / 10)
            return ERANGE;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*s) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    case 't': case 'T': shift = 40; break;
    case '\0': break;
    default: return EINVAL;
    }
    if (shift) {
        s++;
        if (*s == 'i' && s[1] == 'B')
            s += 2; /* "512MiB" */
        else if (*s == 'B' || *s == 'b')
            s++; /* "512MB", "512kb": still binary units */
    }
    if (*s != '\0')
        return EINVAL;
    if (shift && v > (SIZE_MAX >> shift))
        return ERANGE;
    *out = v << shift;
    return 0;
}

/* How much of a bad value a warning repeats: enough to recognise it, little
 * enough that the line (report.c cuts at 512 bytes) always ends with the
 * default that is used instead. */
#define ECHO_MAX 64

/* Warns about a bad value of option opt: its name, the value (at most
 * ECHO_MAX bytes, non-printable bytes shown as '?' so that an embedded newline
 * cannot split or forge the line), the accepted values and the default used
 * instead. All text but the value comes from hpi_option_docs. */
static void bad_value(int opt, const char *value)
{
    const struct hpi_option_doc *doc = &hpi_option_docs[opt];
    char echo[ECHO_MAX + 4];
    size_t n = 0;
    for (; value[n] && n < ECHO_MAX; n++)
        echo[n] = value[n] >= 0x20 && value[n] < 0x7f ? value[n] : '?';
    if (value[n])
        echo[n++] = '.', echo[n++] = '.', echo[n++] = '.';
    echo[n] = '\0';
    hpi_report_always("%s=\"%s\" is not valid (accepted: %s); using the default, %s", doc->name,
                      echo, doc->values, doc->fallback);
}

static void read_env(void)
{
    struct hpi_options o = {.mode = HPI_MODE_AUTO};
    const char *v;

    if ((v = secure_getenv("HUGEPAGE_MODE")) && *v) {
        static const char *const names[] = {"auto", "hugetlb", "thp", "base"};
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcasecmp(v, names[i]) == 0)
                found = i;
        if (found < 0)
            bad_value(OPT_MODE, v);
        else
            o.mode = (enum hpi_mode)found;
    }
    if ((v = secure_getenv("HUGEPAGE_PAGESIZE")) && *v) {
        size_t sz;
        if (hpi_options_parse_size(v, &sz) != 0 || (sz != HPI_2MB && sz != HPI_1GB))
            bad_value(OPT_PAGESIZE, v);
        else
            o.page_size = sz;
    }
    if ((v = secure_getenv("HUGEPAGE_RESERVE")) && *v) {
        size_t sz;
        if (hpi_options_parse_size(v, &sz) != 0)
            bad_value(OPT_RESERVE, v);
        else
            o.reserve = sz;
    }
    if ((v = secure_getenv("HUGEPAGE_STATS")) && *v) {
        bool b;
        if (strcasecmp(v, "json") == 0)
            o.stats = HPI_STATS_JSON;
        else if (hpi_options_parse_bool(v, &b) == 0)
            o.stats = b ? HPI_STATS_TEXT : HPI_STATS_OFF;
        else
            bad_value(OPT_STATS, v);
    }
    if ((v = secure_getenv("HUGEPAGE_VERBOSE")) && *v) {
        if (hpi_options_parse_bool(v, &o.verbose) != 0)
            bad_value(OPT_VERBOSE, v);
    }
    if ((v = secure_getenv("HUGEPAGE_SECURE")) && *v) {
        if (hpi_options_parse_bool(v, &o.secure) != 0)
            bad_value(OPT_SECURE, v);
    }
    opts = o;
}

const struct hpi_options *hpi_options_get(void)
{
    if (HPI_LIKELY(atomic_load_explicit(&state, memory_order_acquire) == 2))
        return &opts;
    int expected = 0;
    if (atomic_compare_exchange_strong(&state, &expected, 1)) {
        read_env();
        atomic_store_explicit(&state, 2, memory_order_release);
    } else {
        while (atomic_load_explicit(&state, memory_order_acquire) != 2)
            __builtin_ia32_pause();
    }
    return &opts;
}

void hpi_options_reload(void)
{
    read_env();
    atomic_store_explicit(&state, 2, memory_order_release);
}
