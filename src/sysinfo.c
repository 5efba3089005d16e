/* sysinfo.c: what the machine offers in huge pages (layer 1): page sizes, pool
 * counters (system-wide and per NUMA node), THP settings, hugetlbfs mounts and
 * smaps records. Calls os.c only (and libc string functions).
 *
 * Two halves, as sysinfo.h says. The parsers work on bounded text [p, end)
 * through the small scanners below, so one grammar serves NUL-terminated
 * files and the length-delimited smaps stream. Their rule for lines: the
 * kernel ends every line of /proc/meminfo, mountinfo and smaps with '\n', so
 * an unterminated last line is taken as truncated text and rejected (EINVAL);
 * single-value sysfs files ("512\n", "max") may omit the newline.
 *
 * The live readers run inside malloc's slow path: no malloc, no stdio, stack
 * buffers of at most 8 KiB, files read through hpi_os_read_file/hpi_os_read_fd.
 * Mutable static state is limited to two caches filled once with atomics:
 * the default page size and the list of supported sizes. Neither can change
 * while the system runs (hstates are fixed at boot), so a racing first fill
 * by two threads stores identical values. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "sysinfo.h"

/* ---- scanners over bounded text ------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decimal digits at *p (at least one); advances *p past them. */
static int scan_dec(const char **p, const char *end, unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    if (s == end || !is_digit(*s))
        return EINVAL;
    for (; s < end && is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return ERANGE;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

/* Hexadecimal digits at *p (at least one), as in smaps addresses. */
static int scan_hex(const char **p, const char *end, unsigned long long *out)
{
    const char *s = *p;
    unsigned long long v = 0;
    if (s == end || hex_value(*s) < 0)
        return EINVAL;
    for (; s < end && hex_value(*s) >= 0; s++) {
        if (v > (ULLONG_MAX >> 4))
            return ERANGE;
        v = v << 4 | (unsigned)hex_value(*s);
    }
    *p = s;
    *out = v;
    return 0;
}

static void skip_blanks(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static bool only_space(const char *p, const char *end)
{
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n')
            return false;
    return true;
}

/* Does [p, end) start with the literal s? Advances *p past it when it does. */
static bool eat(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool token_is(const char *ts, const char *te, const char *s)
{
    return (size_t)(te - ts) == strlen(s) && memcmp(ts, s, (size_t)(te - ts)) == 0;
}

/* "<digits> kB" up to the end of a line (the line has no '\n'), in bytes. The
 * unit is checked, not assumed: "MB" or a missing unit is EINVAL. */
static int scan_kb_line(const char *p, const char *end, size_t *bytes)
{
    unsigned long long v;
    skip_blanks(&p, end);
    int err = scan_dec(&p, end, &v);
    if (err)
        return err;
    const char *q = p;
    skip_blanks(&p, end);
    if (p == q || !eat(&p, end, "kB"))
        return EINVAL;
    skip_blanks(&p, end);
    if (p != end)
        return EINVAL;
    if (v > SIZE_MAX / 1024)
        return ERANGE;
    *bytes = (size_t)v * 1024;
    return 0;
}

/* A unitless count up to the end of a line. */
static int scan_count_line(const char *p, const char *end, unsigned long *count)
{
    unsigned long long v;
    skip_blanks(&p, end);
    int err = scan_dec(&p, end, &v);
    if (err)
        return err;
    skip_blanks(&p, end);
    if (p != end)
        return EINVAL;
    if (v > ULONG_MAX)
        return ERANGE;
    *count = (unsigned long)v;
    return 0;
}

/* A size as the kernel's memparse() reads it: digits and an optional binary
 * suffix k/m/g/t/p/e in either case ("2M", "1G", "2048k", "4096"). */
static int scan_memparse(const char *p, const char *end, unsigned long long *out)
{
    unsigned long long v;
    int err = scan_dec(&p, end, &v);
    if (err)
        return err;
    unsigned shift = 0;
    if (p < end) {
        switch (*p) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        case 'p': case 'P': shift = 50; break;
        case 'e': case 'E': shift = 60; break;
        default: return EINVAL;
        }
        p++;
    }
    if (p != end)
        return EINVAL;
    if (v > (ULLONG_MAX >> shift))
        return ERANGE;
    *out = v << shift;
    return 0;
}

/* Splits off the next line of [*p, end): [*ls, *le) without the '\n'.
 * Returns false at the end of the text; *terminated tells whether a '\n'
 * ended the line (false only for the last line). */
static bool next_line(const char **p, const char *end, const char **ls, const char **le,
                      bool *terminated)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    *ls = *p;
    *le = nl ? nl : end;
    *terminated = nl != NULL;
    *p = nl ? nl + 1 : end;
    return true;
}

/* Space-separated tokens of [p, end), split on single spaces as the kernel
 * writes them: an empty token between two spaces is returned as empty. */
struct tokens {
    const char *p, *end;
    bool done;
};

static bool next_token(struct tokens *t, const char **ts, const char **te)
{
    if (t->done)
        return false;
    const char *sp = memchr(t->p, ' ', (size_t)(t->end - t->p));
    *ts = t->p;
    *te = sp ? sp : t->end;
    if (sp)
        t->p = sp + 1;
    else
        t->done = true;
    return true;
}

/* ---- /proc/meminfo --------------------------------------------------------------- */

enum { KIND_KB, KIND_COUNT };

struct meminfo_field {
    const char *key;
    unsigned char kind;
    size_t off; /* offset of the size_t (KIND_KB) or unsigned long (KIND_COUNT) */
};

static const struct meminfo_field meminfo_fields[] = {
    {"MemTotal", KIND_KB, offsetof(struct hpi_meminfo, mem_total)},
    {"MemFree", KIND_KB, offsetof(struct hpi_meminfo, mem_free)},
    {"MemAvailable", KIND_KB, offsetof(struct hpi_meminfo, mem_available)},
    {"AnonHugePages", KIND_KB, offsetof(struct hpi_meminfo, anon_huge)},
    {"HugePages_Total", KIND_COUNT, offsetof(struct hpi_meminfo, hp_total)},
    {"HugePages_Free", KIND_COUNT, offsetof(struct hpi_meminfo, hp_free)},
    {"HugePages_Rsvd", KIND_COUNT, offsetof(struct hpi_meminfo, hp_rsvd)},
    {"HugePages_Surp", KIND_COUNT, offsetof(struct hpi_meminfo, hp_surp)},
    {"Hugepagesize", KIND_KB, offsetof(struct hpi_meminfo, hugepagesize)},
    {"Hugetlb", KIND_KB, offsetof(struct hpi_meminfo, hugetlb)},
};
#define SEEN(i) (1u << (i))
#define SEEN_MEM (SEEN(0) | SEEN(1) | SEEN(2))
#define SEEN_ANONHUGE SEEN(3)
#define SEEN_POOL (SEEN(4) | SEEN(5) | SEEN(6) | SEEN(7))
#define SEEN_HUGEPAGESIZE SEEN(8)
#define SEEN_HUGETLB SEEN(9)

/* Meminfo keys are letters, digits, '_' and parentheses ("Active(anon)"). */
static bool meminfo_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
           c == '(' || c == ')';
}

int hpi_sysinfo_parse_meminfo(const char *text, struct hpi_meminfo *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text, *end = text + strlen(text), *ls, *le;
    bool terminated;
    unsigned seen = 0;
    while (next_line(&p, end, &ls, &le, &terminated)) {
        if (!terminated)
            return EINVAL; /* truncated: "HugePages_Total: 60" may have been 600 */
        const char *k = ls;
        while (k < le && meminfo_key_char(*k))
            k++;
        if (k == ls || k == le || *k != ':')
            return EINVAL;
        for (size_t i = 0; i < sizeof meminfo_fields / sizeof meminfo_fields[0]; i++) {
            const struct meminfo_field *f = &meminfo_fields[i];
            if (!token_is(ls, k, f->key))
                continue;
            if (seen & SEEN(i))
                return EINVAL; /* a duplicate: which one would be right? */
            char *slot = (char *)out + f->off;
            int err = f->kind == KIND_KB ? scan_kb_line(k + 1, le, (size_t *)(void *)slot)
                                         : scan_count_line(k + 1, le, (unsigned long *)(void *)slot);
            if (err)
                return err;
            seen |= SEEN(i);
            break;
        }
    }
    /* Every kernel writes MemTotal; without it this is not meminfo. Some but
     * not all of the four pool lines means truncated or foreign text. */
    if (!(seen & SEEN(0)))
        return ENOENT;
    if ((seen & SEEN_POOL) && (seen & SEEN_POOL) != SEEN_POOL)
        return ENOENT;
    if ((seen & SEEN_HUGEPAGESIZE) && out->hugepagesize == 0)
        return EINVAL;
    out->have = ((seen & SEEN_HUGEPAGESIZE) ? HPI_MEMINFO_HAVE_HUGEPAGESIZE : 0) |
                ((seen & SEEN_POOL) ? HPI_MEMINFO_HAVE_POOL : 0) |
                ((seen & SEEN_HUGETLB) ? HPI_MEMINFO_HAVE_HUGETLB : 0) |
                ((seen & SEEN_ANONHUGE) ? HPI_MEMINFO_HAVE_ANONHUGE : 0) |
                ((seen & SEEN_MEM) == SEEN_MEM ? HPI_MEMINFO_HAVE_MEM : 0);
    return 0;
}

/* ---- single-value sysfs files ------------------------------------------------------ */

int hpi_sysinfo_parse_ulong(const char *text, unsigned long *out)
{
    const char *p = text, *end = text + strlen(text);
    unsigned long long v;
    int err = scan_dec(&p, end, &v);
    if (err)
        return err;
    if (!only_space(p, end))
        return EINVAL;
    if (v > ULONG_MAX)
        return ERANGE;
    *out = (unsigned long)v;
    return 0;
}

int hpi_sysinfo_parse_limit(const char *text, size_t *limit)
{
    const char *p = text, *end = text + strlen(text);
    if (eat(&p, end, "max")) {
        if (!only_space(p, end))
            return EINVAL;
        *limit = SIZE_MAX;
        return 0;
    }
    unsigned long long v;
    int err = scan_dec(&p, end, &v);
    if (err)
        return err;
    if (!only_space(p, end))
        return EINVAL;
    if (v >= SIZE_MAX) /* SIZE_MAX itself means "max" */
        return ERANGE;
    *limit = (size_t)v;
    return 0;
}

int hpi_sysinfo_parse_pool_dirname(const char *name, size_t *page_size)
{
    const char *p = name, *end = name + strlen(name);
    unsigned long long kb;
    if (!eat(&p, end, "hugepages-"))
        return EINVAL;
    int err = scan_dec(&p, end, &kb);
    if (err)
        return err;
    if (!eat(&p, end, "kB") || p != end || kb == 0)
        return EINVAL;
    if (kb > SIZE_MAX / 1024)
        return ERANGE;
    *page_size = (size_t)kb * 1024;
    return 0;
}

/* Indexed by enum hpi_thp_mode; the spellings of the kernel's THP files
 * (Documentation/admin-guide/mm/transhuge.rst). */
static const char *const thp_names[] = {
    [HPI_THP_UNKNOWN] = "unknown",         [HPI_THP_ALWAYS] = "always",
    [HPI_THP_MADVISE] = "madvise",         [HPI_THP_NEVER] = "never",
    [HPI_THP_DEFER] = "defer",             [HPI_THP_DEFER_MADVISE] = "defer+madvise",
    [HPI_THP_INHERIT] = "inherit",         [HPI_THP_WITHIN_SIZE] = "within_size",
    [HPI_THP_ADVISE] = "advise",
};
#define THP_NMODES ((int)(sizeof thp_names / sizeof thp_names[0]))

const char *hpi_sysinfo_thp_name(enum hpi_thp_mode m)
{
    return (int)m >= 0 && (int)m < THP_NMODES ? thp_names[m] : "unknown";
}

/* "always [madvise] never\n": words of [a-z_+] separated by single spaces,
 * exactly one of them bracketed, and that one a mode we know. */
int hpi_sysinfo_parse_thp(const char *text, enum hpi_thp_mode *out)
{
    const char *p = text, *end = text + strlen(text);
    if (end > p && end[-1] == '\n')
        end--;
    const char *sel = NULL, *sel_end = NULL, *ts, *te;
    if (p == end)
        return EINVAL;
    struct tokens t = {p, end, false};
    while (next_token(&t, &ts, &te)) {
        bool open = te > ts && *ts == '[';
        bool close = te > ts && te[-1] == ']';
        if (open != close || (open && te - ts < 3))
            return EINVAL;
        if (open) {
            if (sel)
                return EINVAL; /* two selected modes */
            ts++, te--;
            sel = ts, sel_end = te;
        }
        if (ts == te)
            return EINVAL;
        for (const char *c = ts; c < te; c++)
            if (!((*c >= 'a' && *c <= 'z') || *c == '_' || *c == '+'))
                return EINVAL;
    }
    if (!sel)
        return EINVAL;
    for (int m = HPI_THP_ALWAYS; m < THP_NMODES; m++) {
        if (token_is(sel, sel_end, thp_names[m])) {
            *out = (enum hpi_thp_mode)m;
            return 0;
        }
    }
    return EINVAL;
}

/* ---- node lists ("0-3,5\n", /sys/devices/system/node/online) ----------------------- */

int hpi_sysinfo_parse_nodelist(const char *text, int *nodes, int max, int *count)
{
    const char *p = text, *end = text + strlen(text);
    int n = 0;
    *count = 0;
    if (max < 0)
        return EINVAL;
    if (end > p && end[-1] == '\n')
        end--;
    while (p < end) {
        unsigned long long lo, hi;
        int err = scan_dec(&p, end, &lo);
        if (err)
            return err;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if ((err = scan_dec(&p, end, &hi)))
                return err;
        }
        /* The kernel's MAX_NUMNODES is at most 1024. */
        if (hi < lo || hi >= 1024)
            return hi < lo ? EINVAL : ERANGE;
        for (unsigned long long id = lo; id <= hi; id++, n++)
            if (n < max)
                nodes[n] = (int)id;
        if (p < end && !(*p == ',' && p + 1 < end))
            return EINVAL;
        if (p < end)
            p++;
    }
    *count = n;
    return n > max ? ENOSPC : 0;
}

/* ---- /proc/self/mountinfo ------------------------------------------------------------ */

/* Decodes the kernel's octal escapes (\040 for space, \011, \012, \134) of a
 * mountinfo path into dst. A backslash not followed by three octal digits, or
 * an escaped NUL, cannot come from the kernel: EINVAL. */
static int decode_path(const char *ts, const char *te, char *dst, size_t cap)
{
    size_t n = 0;
    for (const char *c = ts; c < te; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == '\\') {
            if (te - c < 4)
                return EINVAL;
            unsigned v = 0;
            for (int i = 1; i <= 3; i++) {
                if (c[i] < '0' || c[i] > '7')
                    return EINVAL;
                v = v * 8 + (unsigned)(c[i] - '0');
            }
            if (v == 0 || v > 0xff)
                return EINVAL;
            ch = (unsigned char)v;
            c += 3;
        } else if (ch == '\0') {
            return EINVAL;
        }
        if (n + 1 >= cap)
            return ENAMETOOLONG;
        dst[n++] = (char)ch;
    }
    if (n == 0)
        return EINVAL;
    dst[n] = '\0';
    return 0;
}

/* Reads hugetlbfs super options ("rw,relatime,pagesize=2M,uid=1000,mode=1770,
 * size=1073741824") into m. Options the library has no use for are skipped. */
static int parse_hugetlbfs_options(const char *p, const char *end, struct hpi_mount *m)
{
    while (p < end) {
        const char *oe = memchr(p, ',', (size_t)(end - p));
        if (!oe)
            oe = end;
        const char *v = p;
        unsigned long long n;
        int err = 0;
        if (eat(&v, oe, "pagesize=")) {
            err = scan_memparse(v, oe, &n);
            if (!err && (n == 0 || n > SIZE_MAX))
                err = n == 0 ? EINVAL : ERANGE;
            if (!err)
                m->page_size = (size_t)n;
        } else if (eat(&v, oe, "size=")) {
            /* A percentage of the pool ("size=50%") is not a byte count. */
            bool percent = oe > v && oe[-1] == '%';
            err = scan_memparse(v, percent ? oe - 1 : oe, &n);
            if (!err)
                m->size_limit = percent ? 0 : n;
        } else if (eat(&v, oe, "uid=") || eat(&v, oe, "gid=")) {
            bool uid = p[0] == 'u';
            err = scan_dec(&v, oe, &n);
            if (!err && v != oe)
                err = EINVAL;
            if (!err && n > UINT_MAX)
                err = ERANGE;
            if (!err && uid)
                m->uid = (unsigned)n, m->has_uid = true;
            else if (!err)
                m->gid = (unsigned)n, m->has_gid = true;
        } else if (eat(&v, oe, "mode=")) {
            unsigned mode = 0;
            if (v == oe)
                err = EINVAL;
            for (; !err && v < oe; v++) {
                if (*v < '0' || *v > '7' || mode > 07777 / 8)
                    err = EINVAL;
                else
                    mode = mode * 8 + (unsigned)(*v - '0');
            }
            if (!err)
                m->mode = mode, m->has_mode = true;
        }
        if (err)
            return err;
        p = oe < end ? oe + 1 : end;
    }
    return 0;
}

/* One mountinfo line (no '\n'):
 *   36 35 98:0 /root /mnt\040point rw,noatime master:1 - hugetlbfs none rw,pagesize=2M
 * id, parent id, major:minor, root, mount point, mount options, optional
 * fields, "-", fs type, source, super options (proc(5)). Checks the structure
 * of every line; fills *m and sets *is_hugetlbfs only for hugetlbfs. */
static int parse_mount_line(const char *p, const char *end, size_t default_page_size,
                            struct hpi_mount *m, bool *is_hugetlbfs)
{
    const char *t[6][2], *ts, *te;
    unsigned long long num;
    struct tokens tok = {p, end, false};
    *is_hugetlbfs = false;
    for (int i = 0; i < 6; i++) {
        if (!next_token(&tok, &t[i][0], &t[i][1]) || t[i][0] == t[i][1])
            return EINVAL;
    }
    for (int i = 0; i < 2; i++) {
        const char *c = t[i][0];
        int err = scan_dec(&c, t[i][1], &num);
        if (err || c != t[i][1])
            return err ? err : EINVAL;
    }
    const char *c = t[2][0];
    int err = scan_dec(&c, t[2][1], &num);
    if (!err && !eat(&c, t[2][1], ":"))
        err = EINVAL;
    if (!err)
        err = scan_dec(&c, t[2][1], &num);
    if (err || c != t[2][1])
        return err ? err : EINVAL;
    /* Optional fields ("shared:1", "master:2") up to the "-" separator. */
    for (;;) {
        if (!next_token(&tok, &ts, &te) || ts == te)
            return EINVAL;
        if (token_is(ts, te, "-"))
            break;
    }
    const char *fs[3][2];
    for (int i = 0; i < 3; i++)
        if (!next_token(&tok, &fs[i][0], &fs[i][1]))
            return EINVAL;
    if (!tok.done || fs[0][0] == fs[0][1])
        return EINVAL; /* more fields than the format has, or no fs type */
    if (!token_is(fs[0][0], fs[0][1], "hugetlbfs"))
        return 0;
    memset(m, 0, sizeof *m);
    m->mode = 0755;
    m->page_size = default_page_size;
    if ((err = decode_path(t[4][0], t[4][1], m->path, sizeof m->path)))
        return err;
    if ((err = parse_hugetlbfs_options(fs[2][0], fs[2][1], m)))
        return err;
    *is_hugetlbfs = true;
    return 0;
}

int hpi_sysinfo_parse_mountinfo(const char *text, size_t default_page_size,
                                struct hpi_mount *out, int max, int *count)
{
    const char *p = text, *end = text + strlen(text), *ls, *le;
    bool terminated;
    int n = 0;
    *count = 0;
    /* Every mount namespace has a root mount: empty text is not mountinfo. */
    if (max < 0 || p == end)
        return EINVAL;
    while (next_line(&p, end, &ls, &le, &terminated)) {
        if (!terminated)
            return EINVAL;
        struct hpi_mount m;
        bool hugetlbfs;
        int err = parse_mount_line(ls, le, default_page_size, &m, &hugetlbfs);
        if (err)
            return err;
        if (hugetlbfs) {
            if (n < max)
                out[n] = m;
            n++;
        }
    }
    *count = n;
    return n > max ? ENOSPC : 0;
}

/* ---- /proc/PID/smaps ---------------------------------------------------------------- */

/* A header line starts with the hex start address and a '-'; no field line
 * does ("Anonymous:" has a hex 'A' followed by 'n'). */
static bool is_smaps_header(const char *p, const char *end)
{
    const char *s = p;
    while (s < end && hex_value(*s) >= 0)
        s++;
    return s > p && s < end && *s == '-';
}

/* "7f2a3c000000-7f2a3c200000 rw-p 00000000 00:00 0     [anon:hugepage]" */
static int parse_smaps_header(const char *p, const char *end, struct hpi_vma *vma)
{
    unsigned long long start, stop, v;
    int err = scan_hex(&p, end, &start);
    if (!err && !eat(&p, end, "-"))
        err = EINVAL;
    if (!err)
        err = scan_hex(&p, end, &stop);
    if (err)
        return err;
    if (start >= stop || stop > UINTPTR_MAX)
        return start >= stop ? EINVAL : ERANGE;
    if (end - p < 6 || p[0] != ' ' || p[5] != ' ')
        return EINVAL;
    static const char perm_ok[4][2] = {{'r', '-'}, {'w', '-'}, {'x', '-'}, {'p', 's'}};
    for (int i = 0; i < 4; i++) {
        if (p[1 + i] != perm_ok[i][0] && p[1 + i] != perm_ok[i][1])
            return EINVAL;
        vma->perms[i] = p[1 + i];
    }
    vma->perms[4] = '\0';
    p += 6;
    /* offset, device major:minor (hex), inode (decimal) */
    err = scan_hex(&p, end, &v);
    if (!err && !eat(&p, end, " "))
        err = EINVAL;
    if (!err)
        err = scan_hex(&p, end, &v);
    if (!err && !eat(&p, end, ":"))
        err = EINVAL;
    if (!err)
        err = scan_hex(&p, end, &v);
    if (!err && !eat(&p, end, " "))
        err = EINVAL;
    if (!err)
        err = scan_dec(&p, end, &v);
    if (err)
        return err;
    if (p < end && *p != ' ')
        return EINVAL;
    skip_blanks(&p, end);
    /* The name runs to the end of the line and may hold spaces; a name longer
     * than the field is truncated (the contract says so). */
    size_t n = (size_t)(end - p);
    if (n >= sizeof vma->name)
        n = sizeof vma->name - 1;
    if (memchr(p, '\0', n))
        return EINVAL;
    memcpy(vma->name, p, n);
    vma->name[n] = '\0';
    vma->start = (uintptr_t)start;
    vma->end = (uintptr_t)stop;
    return 0;
}

enum { SM_KB, SM_THP_ELIGIBLE, SM_VMFLAGS };

struct smaps_field {
    const char *key;
    unsigned char kind;
    size_t off; /* of a size_t in struct hpi_vma, for SM_KB */
};

static const struct smaps_field smaps_fields[] = {
    {"Size", SM_KB, offsetof(struct hpi_vma, size)},
    {"Rss", SM_KB, offsetof(struct hpi_vma, rss)},
    {"KernelPageSize", SM_KB, offsetof(struct hpi_vma, kernel_page_size)},
    {"Pss", SM_KB, offsetof(struct hpi_vma, pss)},
    {"AnonHugePages", SM_KB, offsetof(struct hpi_vma, anon_huge)},
    {"ShmemPmdMapped", SM_KB, offsetof(struct hpi_vma, shmem_huge)},
    {"FilePmdMapped", SM_KB, offsetof(struct hpi_vma, file_huge)},
    {"Private_Hugetlb", SM_KB, offsetof(struct hpi_vma, private_hugetlb)},
    {"Shared_Hugetlb", SM_KB, offsetof(struct hpi_vma, shared_hugetlb)},
    {"Anonymous", SM_KB, offsetof(struct hpi_vma, anonymous)},
    {"THPeligible", SM_THP_ELIGIBLE, 0},
    {"VmFlags", SM_VMFLAGS, 0},
};
#define SMAPS_REQUIRED (SEEN(0) | SEEN(1) | SEEN(2)) /* Size, Rss, KernelPageSize */
#define SMAPS_VMFLAGS SEEN(11)

/* "VmFlags: rd wr mr mw me ac sd ht " -> the two flags the library cares for. */
static int parse_vmflags(const char *p, const char *end, struct hpi_vma *vma)
{
    const char *ts, *te;
    skip_blanks(&p, end);
    struct tokens t = {p, end, false};
    while (next_token(&t, &ts, &te)) {
        if (ts == te)
            continue;
        if (te - ts != 2 || ts[0] <= ' ' || ts[1] <= ' ')
            return EINVAL;
        if (token_is(ts, te, "ht"))
            vma->hugetlb = true;
        if (token_is(ts, te, "hg"))
            vma->thp_advised = true;
    }
    return 0;
}

static int parse_smaps_field(const char *p, const char *end, struct hpi_vma *vma, unsigned *seen)
{
    const char *k = p;
    while (k < end && (meminfo_key_char(*k) && *k != '(' && *k != ')'))
        k++;
    if (k == p || k == end || *k != ':')
        return EINVAL;
    for (size_t i = 0; i < sizeof smaps_fields / sizeof smaps_fields[0]; i++) {
        const struct smaps_field *f = &smaps_fields[i];
        if (!token_is(p, k, f->key))
            continue;
        if (*seen & SEEN(i))
            return EINVAL;
        *seen |= SEEN(i);
        unsigned long n;
        int err;
        switch (f->kind) {
        case SM_KB:
            return scan_kb_line(k + 1, end, (size_t *)(void *)((char *)vma + f->off));
        case SM_THP_ELIGIBLE:
            err = scan_count_line(k + 1, end, &n);
            if (!err && n > 1)
                err = EINVAL;
            if (!err)
                vma->thp_eligible = (int)n;
            return err;
        default:
            return parse_vmflags(k + 1, end, vma);
        }
    }
    return 0; /* a field this library does not use */
}

int hpi_sysinfo_parse_smaps_vma(const char *text, size_t len, bool at_eof,
                                struct hpi_vma *vma, size_t *used)
{
    const char *p = text, *end = text + len, *ls, *le;
    bool terminated;
    memset(vma, 0, sizeof *vma);
    vma->thp_eligible = -1;
    if (len == 0)
        return at_eof ? EINVAL : EAGAIN;
    if (hex_value(*p) < 0)
        return EINVAL;
    next_line(&p, end, &ls, &le, &terminated);
    if (!terminated)
        return at_eof ? EINVAL : EAGAIN;
    if (!is_smaps_header(ls, le))
        return EINVAL;
    int err = parse_smaps_header(ls, le, vma);
    if (err)
        return err;
    unsigned seen = 0;
    for (;;) {
        const char *line = p;
        if (!next_line(&p, end, &ls, &le, &terminated)) {
            if (!at_eof)
                return EAGAIN; /* the next header decides where this record ends */
            break;
        }
        if (!terminated)
            return at_eof ? EINVAL : EAGAIN;
        if (is_smaps_header(ls, le)) {
            p = line;
            break;
        }
        if ((err = parse_smaps_field(ls, le, vma, &seen)))
            return err;
    }
    if ((seen & SMAPS_REQUIRED) != SMAPS_REQUIRED)
        return ENOENT;
    /* Size is the VMA's length by definition; anything else is not smaps. */
    if (vma->size != vma->end - vma->start)
        return EINVAL;
    /* VmFlags' "ht" is the authority; only kernels without VmFlags (< 3.8)
     * fall back to the page size, which on 64 KiB-page kernels would lie. */
    if (!(seen & SMAPS_VMFLAGS))
        vma->hugetlb = vma->kernel_page_size > HPI_BASE_PAGE;
    *used = (size_t)(p - text);
    return 0;
}

/* ---- live readers: helpers ---------------------------------------------------------- */

/* A path built on the stack from pieces, without snprintf (no stdio here). */
struct path {
    char buf[128];
    size_t n;
    bool overflow;
};

static void path_add(struct path *pa, const char *s)
{
    size_t k = strlen(s);
    if (pa->n + k >= sizeof pa->buf) {
        pa->overflow = true;
        return;
    }
    memcpy(pa->buf + pa->n, s, k + 1);
    pa->n += k;
}

static void path_add_dec(struct path *pa, unsigned long long v)
{
    char digits[24];
    int i = (int)sizeof digits - 1;
    digits[i] = '\0';
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    path_add(pa, digits + i);
}

/* "<prefix>hugepages-<kB>kB/<file>" */
static void path_pool(struct path *pa, const char *prefix, size_t page_size, const char *file)
{
    pa->n = 0;
    pa->overflow = false;
    pa->buf[0] = '\0';
    path_add(pa, prefix);
    path_add(pa, "hugepages-");
    path_add_dec(pa, page_size / 1024);
    path_add(pa, "kB/");
    path_add(pa, file);
}

static int read_ulong_file(const char *path, unsigned long *out)
{
    char buf[32];
    size_t len;
    int err = hpi_os_read_file(path, buf, sizeof buf, &len);
    if (err)
        return err == ERANGE ? EINVAL : err; /* a sysfs count never fills 32 bytes */
    return hpi_sysinfo_parse_ulong(buf, out);
}

static bool dir_exists(const char *path)
{
    int fd;
    if (hpi_os_open(path, O_RDONLY | O_DIRECTORY, 0, &fd) != 0)
        return false;
    hpi_os_close(fd);
    return true;
}

#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages/"
#define NODE_DIR "/sys/devices/system/node/node"

/* ---- live readers: sizes -------------------------------------------------------------- */

/* 0 = not read yet, DEFAULT_NONE = read, the kernel has no hugetlb. */
#define DEFAULT_NONE ((size_t)1)
static atomic_size_t default_size_cache;

size_t hpi_sysinfo_default_page_size(void)
{
    size_t v = atomic_load_explicit(&default_size_cache, memory_order_acquire);
    if (v)
        return v == DEFAULT_NONE ? 0 : v;
    char buf[8192];
    size_t len;
    struct hpi_meminfo mi;
    if (hpi_os_read_file("/proc/meminfo", buf, sizeof buf, &len) != 0 ||
        hpi_sysinfo_parse_meminfo(buf, &mi) != 0)
        return 0; /* not cached: a transient failure should not stick */
    v = (mi.have & HPI_MEMINFO_HAVE_HUGEPAGESIZE) ? mi.hugepagesize : 0;
    atomic_store_explicit(&default_size_cache, v ? v : DEFAULT_NONE, memory_order_release);
    return v;
}

/* The supported sizes: -1 = not read yet, else how many sizes_cache holds. */
static atomic_int nsizes_cache = -1;
static atomic_size_t sizes_cache[HPI_MAX_PAGE_SIZES];

/* Huge page sizes are PAGE_SIZE << order (the kernel's hstates), so they are
 * powers of two: instead of listing /sys/kernel/mm/hugepages (getdents has no
 * os.c wrapper, and opendir allocates), probe each power of two from 8 KiB to
 * 4 TiB, which covers every architecture's sizes (riscv's 512 GiB included).
 * About 30 failed opens, once per process. */
#define PROBE_MIN_SHIFT 13
#define PROBE_MAX_SHIFT 42

static int probe_sizes(void)
{
    if (!dir_exists(HUGEPAGES_DIR))
        return 0;
    int n = 0;
    bool certain = true;
    for (int shift = PROBE_MIN_SHIFT; shift <= PROBE_MAX_SHIFT && n < HPI_MAX_PAGE_SIZES; shift++) {
        struct path pa;
        size_t size = (size_t)1 << shift;
        path_pool(&pa, HUGEPAGES_DIR, size, "");
        int fd, err = hpi_os_open(pa.buf, O_RDONLY | O_DIRECTORY, 0, &fd);
        if (!err) {
            hpi_os_close(fd);
            atomic_store_explicit(&sizes_cache[n++], size, memory_order_relaxed);
        } else if (err != ENOENT) {
            certain = false; /* EMFILE, an injected failure: do not cache */
        }
    }
    if (certain)
        atomic_store_explicit(&nsizes_cache, n, memory_order_release);
    return n;
}

int hpi_sysinfo_page_sizes(size_t *sizes, int max)
{
    int n = atomic_load_explicit(&nsizes_cache, memory_order_acquire);
    if (n < 0)
        n = probe_sizes();
    for (int i = 0; i < n && i < max; i++)
        sizes[i] = atomic_load_explicit(&sizes_cache[i], memory_order_relaxed);
    return n;
}

bool hpi_sysinfo_page_size_supported(size_t page_size)
{
    size_t sizes[HPI_MAX_PAGE_SIZES];
    int n = hpi_sysinfo_page_sizes(sizes, HPI_MAX_PAGE_SIZES);
    for (int i = 0; i < n; i++)
        if (sizes[i] == page_size)
            return true;
    return false;
}

/* ---- live readers: pools, nodes, THP, mounts ------------------------------------------ */

int hpi_sysinfo_pool(size_t page_size, int node, struct hp_pool *out)
{
    static const char *const files[] = {"nr_hugepages", "free_hugepages", "surplus_hugepages",
                                        "resv_hugepages", "nr_overcommit_hugepages"};
    if (!out || !hpi_sysinfo_page_size_supported(page_size))
        return EINVAL;
    struct hp_pool pool = {.page_size = page_size};
    unsigned long *dst[] = {&pool.total, &pool.free, &pool.surplus, &pool.reserved,
                            &pool.overcommit};
    struct path prefix = {.n = 0};
    int nfiles = 5;
    if (node < 0) {
        path_add(&prefix, HUGEPAGES_DIR);
    } else {
        /* Reserved and overcommit are not kept per node. */
        nfiles = 3;
        path_add(&prefix, NODE_DIR);
        path_add_dec(&prefix, (unsigned long long)node);
        path_add(&prefix, "/hugepages/");
    }
    for (int i = 0; i < nfiles; i++) {
        struct path pa;
        path_pool(&pa, prefix.buf, page_size, files[i]);
        if (pa.overflow)
            return ENAMETOOLONG;
        int err = read_ulong_file(pa.buf, dst[i]);
        if (err == ENOENT && node < 0)
            return EINVAL; /* the size vanished: it is not supported */
        if (err)
            return err;
    }
    *out = pool;
    return 0;
}

int hpi_sysinfo_nodes(int *nodes, int max)
{
    char buf[512];
    size_t len;
    int online[HPI_MAX_NODES], count, n = 0;
    if (hpi_os_read_file("/sys/devices/system/node/online", buf, sizeof buf, &len) != 0)
        return 0; /* a kernel without NUMA support has no node directory */
    int err = hpi_sysinfo_parse_nodelist(buf, online, HPI_MAX_NODES, &count);
    if (err && err != ENOSPC)
        return 0;
    if (count > HPI_MAX_NODES)
        count = HPI_MAX_NODES;
    for (int i = 0; i < count; i++) {
        struct path pa = {.n = 0};
        path_add(&pa, NODE_DIR);
        path_add_dec(&pa, (unsigned long long)online[i]);
        path_add(&pa, "/hugepages");
        if (!dir_exists(pa.buf))
            continue;
        if (n < max)
            nodes[n] = online[i];
        n++;
    }
    return n;
}

int hpi_sysinfo_thp(enum hpi_thp_mode *enabled, enum hpi_thp_mode *defrag)
{
    static const char *const paths[2] = {"/sys/kernel/mm/transparent_hugepage/enabled",
                                         "/sys/kernel/mm/transparent_hugepage/defrag"};
    enum hpi_thp_mode *dst[2] = {enabled, defrag};
    for (int i = 0; i < 2; i++) {
        char buf[256];
        size_t len;
        int err = hpi_os_read_file(paths[i], buf, sizeof buf, &len);
        if (!err)
            err = hpi_sysinfo_parse_thp(buf, dst[i]);
        if (err)
            return err;
    }
    return 0;
}

/* The fs type of a mountinfo line too long for the reader's buffer, found
 * while the line streams past: it is the token after the first " - ", since
 * no earlier field holds a raw space (the kernel escapes them as \040). */
struct fstype_scan {
    int matched; /* characters of " - " seen; 3 = reading the fs type */
    bool done;   /* the fs type is complete */
    size_t n;
    char fstype[16];
};

static void fstype_feed(struct fstype_scan *sc, const char *p, size_t len)
{
    for (; len > 0 && !sc->done; p++, len--) {
        if (sc->matched < 3) {
            sc->matched = *p == " - "[sc->matched] ? sc->matched + 1 : *p == ' ';
        } else if (*p == ' ') {
            sc->done = true;
        } else if (sc->n < sizeof sc->fstype) {
            sc->fstype[sc->n++] = *p;
        }
    }
}

/* A long hugetlbfs line is an error (its path cannot fit HPI_PATH_MAX anyway);
 * a long line of another fs (overlayfs options, deep paths) is skipped. */
static bool fstype_skippable(const struct fstype_scan *sc)
{
    return sc->done && !token_is(sc->fstype, sc->fstype + sc->n, "hugetlbfs");
}

struct mounts_acc {
    struct hpi_mount *out;
    int max, count;
    size_t default_page_size;
};

/* Parses whole lines [p, end), each with its '\n' (end[0] is writable). */
static int mounts_batch(struct mounts_acc *acc, char *p, char *end)
{
    int room = acc->max > acc->count ? acc->max - acc->count : 0, n;
    char keep = *end;
    *end = '\0';
    int err = hpi_sysinfo_parse_mountinfo(p, acc->default_page_size,
                                          room ? acc->out + acc->count : NULL, room, &n);
    *end = keep;
    acc->count += n;
    return err == ENOSPC ? 0 : err;
}

/* Streams mountinfo through buf, whole lines at a time. */
static int mounts_stream(int fd, char *buf, size_t cap, struct mounts_acc *acc)
{
    size_t have = 0;
    bool eof = false, in_long = false;
    struct fstype_scan sc;
    while (!eof) {
        size_t got, start = 0;
        int err = hpi_os_read_fd(fd, buf + have, cap - have, &got);
        if (err)
            return err;
        eof = got < cap - 1 - have;
        have += got;
        if (in_long) {
            char *nl = memchr(buf, '\n', have);
            fstype_feed(&sc, buf, nl ? (size_t)(nl - buf) : have);
            if (!nl) {
                have = 0;
                continue;
            }
            if (!fstype_skippable(&sc))
                return sc.done ? ENAMETOOLONG : EINVAL;
            in_long = false;
            start = (size_t)(nl + 1 - buf);
        }
        char *last = NULL;
        for (char *c = buf + have; c > buf + start; c--) {
            if (c[-1] == '\n') {
                last = c - 1;
                break;
            }
        }
        if (last) {
            if ((err = mounts_batch(acc, buf + start, last + 1)) != 0)
                return err;
            start = (size_t)(last + 1 - buf);
        }
        have -= start;
        memmove(buf, buf + start, have);
        if (have == cap - 1) {
            /* One line fills the buffer: find its fs type as it streams. */
            memset(&sc, 0, sizeof sc);
            fstype_feed(&sc, buf, have);
            in_long = true;
            have = 0;
        }
    }
    return have || in_long ? EINVAL : 0; /* an unterminated last line */
}

int hpi_sysinfo_mounts(struct hpi_mount *out, int max, int *count)
{
    char buf[8192];
    int fd;
    *count = 0;
    if (max < 0)
        return EINVAL;
    int err = hpi_os_open("/proc/self/mountinfo", O_RDONLY, 0, &fd);
    if (err)
        return err;
    struct mounts_acc acc = {out, max, 0, hpi_sysinfo_default_page_size()};
    err = mounts_stream(fd, buf, sizeof buf, &acc);
    hpi_os_close(fd);
    *count = acc.count;
    if (!err && acc.count > max)
        err = ENOSPC;
    return err;
}

/* ---- live readers: smaps --------------------------------------------------------------- */

/* smaps of a large process is megabytes: it is streamed through this buffer,
 * record by record. A record is about 1.5 KiB, plus a name of up to PATH_MAX. */
#define SMAPS_BUF 8192

int hpi_sysinfo_each_vma(int pid, int (*fn)(const struct hpi_vma *, void *), void *arg)
{
    struct path pa = {.n = 0};
    path_add(&pa, "/proc/");
    if (pid == 0)
        path_add(&pa, "self");
    else if (pid > 0)
        path_add_dec(&pa, (unsigned long long)pid);
    else
        return EINVAL;
    path_add(&pa, "/smaps");
    int fd, err = hpi_os_open(pa.buf, O_RDONLY, 0, &fd);
    if (err)
        return err;
    char buf[SMAPS_BUF];
    size_t have = 0, pos = 0;
    bool eof = false;
    for (;;) {
        while (pos < have) {
            struct hpi_vma vma;
            size_t used;
            err = hpi_sysinfo_parse_smaps_vma(buf + pos, have - pos, eof, &vma, &used);
            if (err == EAGAIN)
                break;
            if (err || (err = fn(&vma, arg)) != 0)
                goto out;
            pos += used;
        }
        if (eof)
            break;
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        pos = 0;
        if (have == sizeof buf - 1) {
            err = ENAMETOOLONG; /* one record larger than the buffer */
            goto out;
        }
        size_t got;
        if ((err = hpi_os_read_fd(fd, buf + have, sizeof buf - have, &got)) != 0)
            goto out;
        eof = got < sizeof buf - 1 - have;
        have += got;
    }
out:
    hpi_os_close(fd);
    return err;
}

/* vma_at's walk: stops at the first VMA that ends above addr. */
struct vma_find {
    uintptr_t addr;
    struct hpi_vma *vma;
    bool found;
};
#define FIND_STOP (-1) /* not an errno value: tells each_vma's caller it stopped */

static int find_vma(const struct hpi_vma *v, void *arg)
{
    struct vma_find *f = arg;
    if (v->end <= f->addr)
        return 0;
    if (v->start <= f->addr) {
        *f->vma = *v;
        f->found = true;
    }
    return FIND_STOP;
}

int hpi_sysinfo_vma_at(int pid, uintptr_t addr, struct hpi_vma *vma)
{
    struct vma_find f = {addr, vma, false};
    int err = hpi_sysinfo_each_vma(pid, find_vma, &f);
    if (err && err != FIND_STOP)
        return err;
    return f.found ? 0 : ENOENT;
}

/* ---- public discovery API: errno set here, once ---------------------------------------- */

HP_EXPORT size_t hp_page_size(void)
{
    return hpi_sysinfo_default_page_size();
}

HP_EXPORT int hp_page_sizes(size_t *sizes, int max)
{
    if (max < 0 || (!sizes && max > 0)) {
        errno = EINVAL;
        return -1;
    }
    return hpi_sysinfo_page_sizes(sizes, max);
}

HP_EXPORT int hp_pool(size_t page_size, struct hp_pool *pool)
{
    if (page_size == 0)
        page_size = hpi_sysinfo_default_page_size();
    int err = page_size ? hpi_sysinfo_pool(page_size, -1, pool) : EINVAL;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
