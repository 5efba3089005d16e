/* cmd_inspect.c: `hugepage inspect PID|--self [--json]`: how much of a running
 * process's resident memory is on hugetlb pages, on transparent huge pages and
 * on base pages, in total and per mapping, from /proc/PID/smaps; the largest
 * mappings still on base pages; and whether libhugepage is preloaded (mapped
 * in the process, and named by LD_PRELOAD in /proc/PID/environ).
 *
 * Accounting per mapping: a hugetlb mapping's memory is Private_Hugetlb +
 * Shared_Hugetlb (its Rss is 0); elsewhere THP is AnonHugePages +
 * ShmemPmdMapped + FilePmdMapped, and base pages are the rest of Rss. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "sysinfo.h"

struct mapping {
    uintptr_t start, end;
    char perms[5];
    char *name;
    size_t page_size;
    size_t hugetlb, thp, base; /* resident bytes */
    bool thp_advised;
};

struct usage {
    struct mapping *maps;
    size_t n, cap;
    size_t hugetlb, thp, base;
    char lib[HPI_PATH_MAX]; /* a mapped libhugepage.so, "" if none */
};

static bool is_libhugepage(const char *name)
{
    const char *base = strrchr(name, '/');
    return strncmp(base ? base + 1 : name, "libhugepage.so", 14) == 0;
}

static int collect(const struct hpi_vma *v, void *arg)
{
    struct usage *u = arg;
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 256;
        struct mapping *m = realloc(u->maps, cap * sizeof *m);
        if (!m)
            return ENOMEM;
        u->maps = m;
        u->cap = cap;
    }
    struct mapping *m = &u->maps[u->n];
    memset(m, 0, sizeof *m);
    m->start = v->start;
    m->end = v->end;
    memcpy(m->perms, v->perms, sizeof m->perms);
    m->page_size = v->kernel_page_size;
    m->thp_advised = v->thp_advised;
    if (v->hugetlb) {
        m->hugetlb = v->private_hugetlb + v->shared_hugetlb;
    } else {
        m->thp = v->anon_huge + v->shmem_huge + v->file_huge;
        m->base = v->rss > m->thp ? v->rss - m->thp : 0;
    }
    if (!(m->name = strdup(v->name)))
        return ENOMEM;
    if (!u->lib[0] && is_libhugepage(v->name))
        snprintf(u->lib, sizeof u->lib, "%s", v->name);
    u->hugetlb += m->hugetlb;
    u->thp += m->thp;
    u->base += m->base;
    u->n++;
    return 0;
}

/* LD_PRELOAD from /proc/PID/environ (NUL-separated). Returns 0 (value copied,
 * "" when unset) or an errno value when environ cannot be read. */
static int read_ld_preload(const char *proc, char *value, size_t cap)
{
    static char env[1 << 17];
    char path[64];
    snprintf(path, sizeof path, "%s/environ", proc);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno;
    size_t n = fread(env, 1, sizeof env - 1, f);
    int err = ferror(f) ? EIO : 0;
    fclose(f);
    if (err)
        return err;
    env[n] = '\0';
    value[0] = '\0';
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (strncmp(env + i, "LD_PRELOAD=", 11) == 0)
            snprintf(value, cap, "%s", env + i + 11);
    return 0;
}

static int by_base_desc(const void *a, const void *b)
{
    const struct mapping *x = *(const struct mapping *const *)a, *y = *(const struct mapping *const *)b;
    return x->base < y->base ? 1 : x->base > y->base ? -1 : 0;
}

#define NLARGEST 5
#define SHOWN_MIN ((size_t)1 << 20) /* text output lists mappings of at least this much */

static const char *map_name(const struct mapping *m)
{
    return m->name[0] ? m->name : "[anon]";
}

struct report {
    int pid;
    char comm[64];
    struct usage *u;
    const struct mapping *largest[NLARGEST];
    int nlargest;
    char preload[HPI_PATH_MAX];
    bool environ_ok;
    bool preloaded;
};

static double pct(size_t part, size_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_text(const struct report *r)
{
    const struct usage *u = r->u;
    size_t total = u->hugetlb + u->thp + u->base;
    char a[32], b[32], c[32], d[32], e[32];
    printf("process %d (%s): %s resident\n", r->pid, r->comm, cmd_fmt_size(total, a, sizeof a));
    printf("  hugetlb pages %10s  %5.1f%%\n", cmd_fmt_size(u->hugetlb, a, sizeof a), pct(u->hugetlb, total));
    printf("  THP           %10s  %5.1f%%\n", cmd_fmt_size(u->thp, a, sizeof a), pct(u->thp, total));
    printf("  base pages    %10s  %5.1f%%\n", cmd_fmt_size(u->base, a, sizeof a), pct(u->base, total));
    if (r->preloaded)
        printf("libhugepage: preloaded (%s)\n", u->lib);
    else if (u->lib[0])
        printf("libhugepage: mapped from %s, not through LD_PRELOAD%s\n", u->lib,
               r->environ_ok ? "" : " (environ not readable)");
    else if (strstr(r->preload, "libhugepage"))
        printf("libhugepage: LD_PRELOAD names it (%s) but it is not mapped: it failed to load\n", r->preload);
    else
        printf("libhugepage: not loaded%s\n", r->environ_ok ? "" : " (environ not readable)");

    printf("\nmappings with huge pages or at least 1 MiB resident:\n");
    printf("  %-27s %10s %10s %10s %10s %8s %-4s %s\n", "address", "size", "hugetlb", "thp", "base", "page",
           "perm", "name");
    size_t others = 0, others_base = 0;
    for (size_t i = 0; i < u->n; i++) {
        const struct mapping *m = &u->maps[i];
        if (m->hugetlb == 0 && m->thp == 0 && m->base < SHOWN_MIN) {
            others++;
            others_base += m->base;
            continue;
        }
        char range[40];
        snprintf(range, sizeof range, "%012lx-%012lx", (unsigned long)m->start, (unsigned long)m->end);
        printf("  %-27s %10s %10s %10s %10s %8s %-4s %s%s\n", range,
               cmd_fmt_size(m->end - m->start, a, sizeof a), cmd_fmt_size(m->hugetlb, b, sizeof b),
               cmd_fmt_size(m->thp, c, sizeof c), cmd_fmt_size(m->base, d, sizeof d),
               cmd_fmt_size(m->page_size, e, sizeof e), m->perms, map_name(m),
               m->thp_advised ? " (THP advised)" : "");
    }
    printf("  ... and %zu smaller mappings with %s on base pages\n", others,
           cmd_fmt_size(others_base, a, sizeof a));
    if (r->nlargest) {
        printf("\nlargest mappings on base pages:\n");
        for (int i = 0; i < r->nlargest; i++)
            printf("  %10s  %012lx  %s\n", cmd_fmt_size(r->largest[i]->base, a, sizeof a),
                   (unsigned long)r->largest[i]->start, map_name(r->largest[i]));
    }
}

static void json_mapping(struct json *j, const struct mapping *m)
{
    char addr[24];
    json_open(j, NULL, '{');
    snprintf(addr, sizeof addr, "0x%lx", (unsigned long)m->start);
    json_str(j, "start", addr);
    snprintf(addr, sizeof addr, "0x%lx", (unsigned long)m->end);
    json_str(j, "end", addr);
    json_u64(j, "size", m->end - m->start);
    json_str(j, "perms", m->perms);
    json_str(j, "name", m->name);
    json_u64(j, "kernel_page_size", m->page_size);
    json_bool(j, "thp_advised", m->thp_advised);
    json_u64(j, "hugetlb_bytes", m->hugetlb);
    json_u64(j, "thp_bytes", m->thp);
    json_u64(j, "base_bytes", m->base);
    json_close(j, '}');
}

static void print_json(const struct report *r)
{
    const struct usage *u = r->u;
    struct json j = {.out = stdout};
    json_open(&j, NULL, '{');
    json_i64(&j, "pid", r->pid);
    json_str(&j, "comm", r->comm);
    json_open(&j, "total", '{');
    json_u64(&j, "resident_bytes", u->hugetlb + u->thp + u->base);
    json_u64(&j, "hugetlb_bytes", u->hugetlb);
    json_u64(&j, "thp_bytes", u->thp);
    json_u64(&j, "base_bytes", u->base);
    json_close(&j, '}');
    json_open(&j, "libhugepage", '{');
    json_bool(&j, "preloaded", r->preloaded);
    json_str(&j, "mapped", u->lib[0] ? u->lib : NULL);
    json_str(&j, "ld_preload", r->environ_ok && r->preload[0] ? r->preload : NULL);
    json_bool(&j, "environ_readable", r->environ_ok);
    json_close(&j, '}');
    json_open(&j, "mappings", '[');
    for (size_t i = 0; i < u->n; i++)
        json_mapping(&j, &u->maps[i]);
    json_close(&j, ']');
    json_open(&j, "largest_base", '[');
    for (int i = 0; i < r->nlargest; i++)
        json_mapping(&j, r->largest[i]);
    json_close(&j, ']');
    json_close(&j, '}');
}

/* The NLARGEST mappings with the most memory on base pages. */
static int find_largest(struct report *r)
{
    struct usage *u = r->u;
    const struct mapping **order = malloc((u->n ? u->n : 1) * sizeof *order);
    if (!order)
        return ENOMEM;
    for (size_t i = 0; i < u->n; i++)
        order[i] = &u->maps[i];
    qsort(order, u->n, sizeof *order, by_base_desc);
    r->nlargest = 0;
    for (size_t i = 0; i < u->n && r->nlargest < NLARGEST && order[i]->base > 0; i++)
        r->largest[r->nlargest++] = order[i];
    free(order);
    return 0;
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {"--self", "--json", NULL};
    const char *vals[2], *pos[1];
    int npos;
    if (cmd_getopt(&cmd_inspect, argc, argv, opts, vals, pos, 1, &npos, NULL))
        return CMD_USAGE;
    if ((npos == 1) == (vals[0] != NULL))
        return cmd_error(CMD_USAGE, "inspect: give either a PID or --self");
    unsigned long pid;
    if (vals[0])
        pid = (unsigned long)getpid();
    else if (cmd_parse_count(pos[0], "inspect: PID", INT_MAX, &pid))
        return CMD_USAGE;
    if (pid == 0)
        return cmd_error(CMD_USAGE, "inspect: PID 0 is not a process");

    char proc[40], path[64];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%lu", pid);
    if (stat(proc, &st) != 0)
        return cmd_error(CMD_FAIL, "inspect: no process with PID %lu", pid);

    struct report r = {.pid = (int)pid};
    struct usage u = {0};
    r.u = &u;
    snprintf(path, sizeof path, "%s/comm", proc);
    if (cmd_read_text(path, r.comm, sizeof r.comm) == 0)
        r.comm[strcspn(r.comm, "\n")] = '\0';
    int err = hpi_sysinfo_each_vma(vals[0] ? 0 : (int)pid, collect, &u);
    int rc = CMD_OK;
    if (err) {
        rc = cmd_error(CMD_FAIL, "inspect: cannot read %s/smaps: %s%s", proc, strerror(err),
                       err == EACCES || err == EPERM ? " (run as root or as the process's owner)" : "");
        goto out;
    }
    if (u.n == 0 && stat(proc, &st) != 0) {
        rc = cmd_error(CMD_FAIL, "inspect: process %lu exited while being read", pid);
        goto out;
    }
    r.environ_ok = read_ld_preload(proc, r.preload, sizeof r.preload) == 0;
    r.preloaded = u.lib[0] && (!r.environ_ok || strstr(r.preload, "libhugepage"));
    if (find_largest(&r)) {
        rc = cmd_error(CMD_FAIL, "inspect: out of memory");
        goto out;
    }
    if (vals[1])
        print_json(&r);
    else
        print_text(&r);
out:
    for (size_t i = 0; i < u.n; i++)
        free(u.maps[i].name);
    free(u.maps);
    return rc;
}

const struct cmd cmd_inspect = {
    "inspect", run, "where a running process's memory is: hugetlb, THP, base pages",
    "usage: hugepage inspect PID|--self [--json]\n\n"
    "Reads /proc/PID/smaps and shows how much of the process's resident memory is on\n"
    "hugetlb pages, on transparent huge pages and on base pages, in total and per\n"
    "mapping; the largest mappings still on base pages; and whether libhugepage is\n"
    "preloaded (mapped in the process and named by LD_PRELOAD).\n\n"
    "  --self   inspect this hugepage process itself\n"
    "  --json   one JSON object instead of text (sizes in bytes)\n"};
