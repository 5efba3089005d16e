/* cmd_status.c: `hugepage status [--json]`: page sizes, pools (system-wide and
 * per NUMA node), THP settings, hugetlbfs mounts and the caller's hugetlb cgroup
 * limits, all read live through sysinfo.h (so the figures are the kernel's, as
 * in /proc/meminfo and /sys/kernel/mm/hugepages). Also owns cmd_cgroup_limits,
 * which doctor shares. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "sysinfo.h"

/* ---- hugetlb cgroup limits ---------------------------------------------------------- */

/* The mount point of a cgroup hierarchy from /proc/self/mountinfo: type
 * cgroup2 (v2) or type cgroup with `hugetlb` among its super options (v1). */
static int cgroup_mount(bool v2, char *dir, size_t cap)
{
    static char text[65536];
    if (cmd_read_text("/proc/self/mountinfo", text, sizeof text) != 0)
        return ENOENT;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char mnt[512], fstype[64], opts[512];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1 ||
            sscanf(sep + 3, "%63s %*s %511s", fstype, opts) != 2)
            continue;
        bool match = v2 ? strcmp(fstype, "cgroup2") == 0
                        : strcmp(fstype, "cgroup") == 0 && strstr(opts, "hugetlb") != NULL;
        if (match) {
            snprintf(dir, cap, "%s", mnt);
            return 0;
        }
    }
    return ENOENT;
}

/* The caller's cgroup path in the v2 hierarchy ("0::/path") or in the v1
 * hierarchy holding the hugetlb controller ("7:hugetlb:/path"). */
static int cgroup_path(bool v2, char *path, size_t cap)
{
    char text[4096];
    if (cmd_read_text("/proc/self/cgroup", text, sizeof text) != 0)
        return ENOENT;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        bool match = v2 ? strcmp(line, "0:") == 0 && c1[1] == '\0' : strstr(c1 + 1, "hugetlb") != NULL;
        if (match) {
            snprintf(path, cap, "%s", c2 + 1);
            return 0;
        }
    }
    return ENOENT;
}

/* cgroup v1 writes "no limit" as the largest page-aligned long. */
#define V1_UNLIMITED ((size_t)1 << 62)

static int read_bytes(const char *path, size_t *out)
{
    char text[64];
    if (cmd_read_text(path, text, sizeof text) != 0)
        return ENOENT;
    return hpi_sysinfo_parse_limit(text, out);
}

int cmd_cgroup_limits(struct cmd_cglimit *out, int max)
{
    size_t sizes[HPI_MAX_PAGE_SIZES];
    int nsizes = hpi_sysinfo_page_sizes(sizes, HPI_MAX_PAGE_SIZES);
    if (nsizes > HPI_MAX_PAGE_SIZES)
        nsizes = HPI_MAX_PAGE_SIZES;
    int n = 0;
    for (int v2 = 1; v2 >= 0; v2--) {
        char mnt[512], cg[1024];
        if (cgroup_mount(v2, mnt, sizeof mnt) != 0 || cgroup_path(v2, cg, sizeof cg) != 0)
            continue;
        for (int i = 0; i < nsizes && n < max; i++) {
            struct cmd_cglimit *l = &out[n];
            char sz[32], usage_path[sizeof l->path];
            const char *sub = strcmp(cg, "/") ? cg : "";
            cmd_cgroup_size(sizes[i], sz, sizeof sz);
            int w1 = snprintf(l->path, sizeof l->path, "%s%s/hugetlb.%s.%s", mnt, sub, sz,
                              v2 ? "max" : "limit_in_bytes");
            int w2 = snprintf(usage_path, sizeof usage_path, "%s%s/hugetlb.%s.%s", mnt, sub, sz,
                              v2 ? "current" : "usage_in_bytes");
            if (w1 >= (int)sizeof l->path || w2 >= (int)sizeof usage_path)
                continue;
            if (read_bytes(l->path, &l->limit) != 0)
                continue;
            if (l->limit >= V1_UNLIMITED)
                l->limit = SIZE_MAX;
            if (read_bytes(usage_path, &l->usage) != 0)
                l->usage = 0;
            l->page_size = sizes[i];
            n++;
        }
    }
    return n;
}

/* ---- status ---------------------------------------------------------------------------- */

static const char *user_name(unsigned uid, char *buf, size_t cap)
{
    struct passwd *pw = getpwuid(uid);
    if (pw)
        return pw->pw_name;
    snprintf(buf, cap, "%u", uid);
    return buf;
}

static const char *group_name(unsigned gid, char *buf, size_t cap)
{
    struct group *gr = getgrgid(gid);
    if (gr)
        return gr->gr_name;
    snprintf(buf, cap, "%u", gid);
    return buf;
}

/* Everything status shows, gathered before printing either format. */
struct facts {
    size_t default_size;
    size_t sizes[HPI_MAX_PAGE_SIZES];
    struct hp_pool pools[HPI_MAX_PAGE_SIZES];
    int nsizes;
    int nodes[HPI_MAX_NODES];
    int nnodes;
    struct hp_pool node_pools[HPI_MAX_PAGE_SIZES][HPI_MAX_NODES];
    bool has_thp;
    enum hpi_thp_mode thp_enabled, thp_defrag;
    struct hpi_mount mounts[32];
    int nmounts;
    struct cmd_cglimit limits[2 * HPI_MAX_PAGE_SIZES];
    int nlimits;
};

static int gather(struct facts *f)
{
    f->default_size = hpi_sysinfo_default_page_size();
    f->nsizes = hpi_sysinfo_page_sizes(f->sizes, HPI_MAX_PAGE_SIZES);
    if (f->nsizes > HPI_MAX_PAGE_SIZES)
        f->nsizes = HPI_MAX_PAGE_SIZES;
    f->nnodes = hpi_sysinfo_nodes(f->nodes, HPI_MAX_NODES);
    if (f->nnodes > HPI_MAX_NODES)
        f->nnodes = HPI_MAX_NODES;
    for (int i = 0; i < f->nsizes; i++) {
        int err = hpi_sysinfo_pool(f->sizes[i], -1, &f->pools[i]);
        if (err)
            return cmd_error(CMD_FAIL, "cannot read the pool of %zu kB pages: %s", f->sizes[i] >> 10,
                             strerror(err));
        for (int k = 0; k < f->nnodes; k++)
            if (hpi_sysinfo_pool(f->sizes[i], f->nodes[k], &f->node_pools[i][k]) != 0)
                memset(&f->node_pools[i][k], 0, sizeof f->node_pools[i][k]);
    }
    f->has_thp = hpi_sysinfo_thp(&f->thp_enabled, &f->thp_defrag) == 0;
    int err = hpi_sysinfo_mounts(f->mounts, 32, &f->nmounts);
    if (err && err != ENOSPC)
        return cmd_error(CMD_FAIL, "cannot read the mounts (/proc/self/mountinfo): %s", strerror(err));
    if (f->nmounts > 32)
        f->nmounts = 32;
    f->nlimits = cmd_cgroup_limits(f->limits, 2 * HPI_MAX_PAGE_SIZES);
    return 0;
}

static void print_text(const struct facts *f)
{
    char a[32], b[32], c[32];
    if (f->nsizes == 0)
        printf("huge pages: not supported by this kernel (no /sys/kernel/mm/hugepages)\n");
    for (int i = 0; i < f->nsizes; i++) {
        const struct hp_pool *p = &f->pools[i];
        size_t ps = f->sizes[i];
        printf("%s pages%s:\n", cmd_fmt_size(ps, a, sizeof a), ps == f->default_size ? " (default)" : "");
        printf("  total      %8lu  %s\n", p->total, cmd_fmt_size(p->total * ps, a, sizeof a));
        printf("  free       %8lu  %s\n", p->free, cmd_fmt_size(p->free * ps, a, sizeof a));
        printf("  reserved   %8lu  %s\n", p->reserved, cmd_fmt_size(p->reserved * ps, a, sizeof a));
        printf("  surplus    %8lu  %s\n", p->surplus, cmd_fmt_size(p->surplus * ps, a, sizeof a));
        printf("  overcommit %8lu  %s\n", p->overcommit, cmd_fmt_size(p->overcommit * ps, a, sizeof a));
        for (int k = 0; k < f->nnodes; k++) {
            const struct hp_pool *np = &f->node_pools[i][k];
            printf("  node %-3d   total %lu (%s), free %lu (%s), surplus %lu (%s)\n", f->nodes[k],
                   np->total, cmd_fmt_size(np->total * ps, a, sizeof a), np->free,
                   cmd_fmt_size(np->free * ps, b, sizeof b), np->surplus,
                   cmd_fmt_size(np->surplus * ps, c, sizeof c));
        }
    }
    if (f->has_thp)
        printf("transparent huge pages: enabled %s, defrag %s\n", hpi_sysinfo_thp_name(f->thp_enabled),
               hpi_sysinfo_thp_name(f->thp_defrag));
    else
        printf("transparent huge pages: not supported by this kernel\n");
    printf("hugetlbfs mounts:%s\n", f->nmounts ? "" : " none");
    for (int i = 0; i < f->nmounts; i++) {
        const struct hpi_mount *m = &f->mounts[i];
        printf("  %s  %s pages, owner %s:%s, mode %04o", m->path, cmd_fmt_size(m->page_size, a, sizeof a),
               user_name(m->uid, b, sizeof b), group_name(m->gid, c, sizeof c), m->mode);
        if (m->size_limit)
            printf(", size limit %s", cmd_fmt_size((size_t)m->size_limit, a, sizeof a));
        printf("\n");
    }
    printf("hugetlb cgroup limits:%s\n", f->nlimits ? "" : " none");
    for (int i = 0; i < f->nlimits; i++) {
        const struct cmd_cglimit *l = &f->limits[i];
        printf("  %s pages: limit %s, used %s (%s)\n", cmd_fmt_size(l->page_size, a, sizeof a),
               l->limit == SIZE_MAX ? "none" : cmd_fmt_size(l->limit, b, sizeof b),
               cmd_fmt_size(l->usage, c, sizeof c), l->path);
    }
}

/* "total" and "total_bytes" and so on for the fields a pool object carries. */
static void json_pages(struct json *j, const char *key, unsigned long pages, size_t page_size)
{
    char bytes_key[48];
    json_u64(j, key, pages);
    snprintf(bytes_key, sizeof bytes_key, "%s_bytes", key);
    json_u64(j, bytes_key, (uint64_t)pages * page_size);
}

static void print_json(const struct facts *f)
{
    struct json j = {.out = stdout};
    char b[32], c[32], mode[8];
    json_open(&j, NULL, '{');
    json_str(&j, "version", HP_VERSION_STRING);
    json_u64(&j, "default_page_size", f->default_size);
    json_open(&j, "page_sizes", '[');
    for (int i = 0; i < f->nsizes; i++)
        json_u64(&j, NULL, f->sizes[i]);
    json_close(&j, ']');
    json_open(&j, "pools", '[');
    for (int i = 0; i < f->nsizes; i++) {
        const struct hp_pool *p = &f->pools[i];
        size_t ps = f->sizes[i];
        json_open(&j, NULL, '{');
        json_u64(&j, "page_size", ps);
        json_bool(&j, "default", ps == f->default_size);
        json_pages(&j, "total", p->total, ps);
        json_pages(&j, "free", p->free, ps);
        json_pages(&j, "reserved", p->reserved, ps);
        json_pages(&j, "surplus", p->surplus, ps);
        json_pages(&j, "overcommit", p->overcommit, ps);
        json_open(&j, "nodes", '[');
        for (int k = 0; k < f->nnodes; k++) {
            const struct hp_pool *np = &f->node_pools[i][k];
            json_open(&j, NULL, '{');
            json_i64(&j, "node", f->nodes[k]);
            json_pages(&j, "total", np->total, ps);
            json_pages(&j, "free", np->free, ps);
            json_pages(&j, "surplus", np->surplus, ps);
            json_close(&j, '}');
        }
        json_close(&j, ']');
        json_close(&j, '}');
    }
    json_close(&j, ']');
    json_open(&j, "thp", '{');
    json_str(&j, "enabled", f->has_thp ? hpi_sysinfo_thp_name(f->thp_enabled) : NULL);
    json_str(&j, "defrag", f->has_thp ? hpi_sysinfo_thp_name(f->thp_defrag) : NULL);
    json_close(&j, '}');
    json_open(&j, "mounts", '[');
    for (int i = 0; i < f->nmounts; i++) {
        const struct hpi_mount *m = &f->mounts[i];
        json_open(&j, NULL, '{');
        json_str(&j, "path", m->path);
        json_u64(&j, "page_size", m->page_size);
        json_u64(&j, "uid", m->uid);
        json_u64(&j, "gid", m->gid);
        json_str(&j, "owner", user_name(m->uid, b, sizeof b));
        json_str(&j, "group", group_name(m->gid, c, sizeof c));
        snprintf(mode, sizeof mode, "%04o", m->mode & 07777);
        json_str(&j, "mode", mode);
        json_u64(&j, "size_limit", m->size_limit);
        json_close(&j, '}');
    }
    json_close(&j, ']');
    json_open(&j, "cgroup_limits", '[');
    for (int i = 0; i < f->nlimits; i++) {
        const struct cmd_cglimit *l = &f->limits[i];
        json_open(&j, NULL, '{');
        json_u64(&j, "page_size", l->page_size);
        if (l->limit == SIZE_MAX)
            json_str(&j, "limit", NULL);
        else
            json_u64(&j, "limit", l->limit);
        json_u64(&j, "usage", l->usage);
        json_str(&j, "file", l->path);
        json_close(&j, '}');
    }
    json_close(&j, ']');
    json_close(&j, '}');
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {"--json", NULL};
    const char *vals[1], *pos[1];
    int npos;
    if (cmd_getopt(&cmd_status, argc, argv, opts, vals, pos, 0, &npos, NULL))
        return CMD_USAGE;
    static struct facts f; /* large (per-node pools): not on the stack */
    if (gather(&f))
        return CMD_FAIL;
    if (vals[0])
        print_json(&f);
    else
        print_text(&f);
    return CMD_OK;
}

const struct cmd cmd_status = {
    "status", run, "page sizes, pools, THP mode, hugetlbfs mounts, cgroup limits",
    "usage: hugepage status [--json]\n\n"
    "Shows the huge page sizes of this kernel; for each size the pool's total, free,\n"
    "reserved and surplus pages and its overcommit limit, in pages and bytes, system-wide\n"
    "and per NUMA node; the transparent huge page mode and defrag setting; hugetlbfs\n"
    "mounts with page size, owner and mode; and the hugetlb cgroup limits of the caller.\n\n"
    "  --json   one JSON object instead of text\n"};
