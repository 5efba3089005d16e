/* cmd_pool.c: `hugepage pool SIZE COUNT [--node N] [--overcommit N]`: sets the
 * hugetlb pool of one page size, reads back what the kernel granted and explains
 * a shortfall.
 *
 * Policy: everything is validated, and every file to be written is opened for
 * writing, before the first write, so that bad input or a missing permission
 * changes nothing. The kernel allocates pool pages one by one and stops quietly
 * when it finds no free contiguous memory; the write still succeeds, so the
 * only way to know what was granted is to read nr_hugepages back. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "sysinfo.h"

static int open_for_write(const char *path, const char *retry, int *fd)
{
    *fd = open(path, O_WRONLY | O_CLOEXEC);
    if (*fd >= 0)
        return 0;
    if (errno == EACCES || errno == EPERM || errno == EROFS)
        return cmd_error(CMD_FAIL, "cannot write %s: %s; run as root: sudo %s", path, strerror(errno),
                         retry);
    return cmd_error(CMD_FAIL, "cannot write %s: %s", path, strerror(errno));
}

static int write_count(int fd, const char *path, unsigned long n)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%lu\n", n);
    ssize_t w = write(fd, text, (size_t)len);
    if (w != len)
        return cmd_error(CMD_FAIL, "writing %lu to %s failed: %s", n, path,
                         w < 0 ? strerror(errno) : "short write");
    return 0;
}

/* The command line again, for the "run as root" hint. */
static void join_args(int argc, char **argv, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "hugepage");
    for (int i = 0; i < argc && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, " %s", argv[i]);
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {"--node=", "--overcommit=", NULL};
    const char *vals[2], *pos[2];
    int npos;
    if (cmd_getopt(&cmd_pool, argc, argv, opts, vals, pos, 2, &npos, NULL))
        return CMD_USAGE;
    if (npos != 2)
        return cmd_error(CMD_USAGE, "pool: needs SIZE and COUNT, e.g. hugepage pool 2M 512");
    size_t ps;
    unsigned long count, node = 0, overcommit = 0;
    if (cmd_parse_page_size(pos[0], "page size", &ps) ||
        cmd_parse_count(pos[1], "page count", LONG_MAX, &count) ||
        (vals[0] && cmd_parse_count(vals[0], "NUMA node", HPI_MAX_NODES - 1, &node)) ||
        (vals[1] && cmd_parse_count(vals[1], "overcommit page count", LONG_MAX, &overcommit)))
        return CMD_USAGE;

    struct hp_pool before;
    int err = hpi_sysinfo_pool(ps, vals[0] ? (int)node : -1, &before);
    if (err == ENOENT)
        return cmd_error(CMD_USAGE, "pool: NUMA node %lu has no huge page pool (see hugepage status)", node);
    if (err)
        return cmd_error(CMD_FAIL, "cannot read the pool: %s", strerror(err));

    char kb[32], count_path[HPI_PATH_MAX], over_path[HPI_PATH_MAX], retry[512];
    cmd_sysfs_size(ps, kb, sizeof kb);
    if (vals[0])
        snprintf(count_path, sizeof count_path,
                 "/sys/devices/system/node/node%lu/hugepages/hugepages-%s/nr_hugepages", node, kb);
    else
        snprintf(count_path, sizeof count_path, "/sys/kernel/mm/hugepages/hugepages-%s/nr_hugepages", kb);
    snprintf(over_path, sizeof over_path, "/sys/kernel/mm/hugepages/hugepages-%s/nr_overcommit_hugepages",
             kb);
    join_args(argc, argv, retry, sizeof retry);

    int count_fd, over_fd = -1;
    if (open_for_write(count_path, retry, &count_fd))
        return CMD_FAIL;
    if (vals[1] && open_for_write(over_path, retry, &over_fd)) {
        close(count_fd);
        return CMD_FAIL;
    }
    int rc = write_count(count_fd, count_path, count);
    if (rc == 0 && over_fd >= 0)
        rc = write_count(over_fd, over_path, overcommit);
    close(count_fd);
    if (over_fd >= 0)
        close(over_fd);
    if (rc)
        return rc;

    struct hp_pool after, global;
    if ((err = hpi_sysinfo_pool(ps, vals[0] ? (int)node : -1, &after)) ||
        (err = hpi_sysinfo_pool(ps, -1, &global)))
        return cmd_error(CMD_FAIL, "cannot read the pool back: %s", strerror(err));
    char a[32], b[32], where[32] = "";
    if (vals[0])
        snprintf(where, sizeof where, " on node %lu", node);
    printf("%s pool%s: %lu pages (%s), %lu free; was %lu pages; overcommit limit %lu\n",
           cmd_fmt_size(ps, a, sizeof a), where, after.total, cmd_fmt_size(after.total * ps, b, sizeof b),
           after.free, before.total, global.overcommit);
    if (after.total < count) {
        cmd_fmt_size(ps, a, sizeof a);
        return cmd_error(CMD_FAIL,
                         "the kernel granted only %lu of the %lu %s pages asked for%s: free memory is "
                         "too fragmented. Compact it and retry: echo 1 > /proc/sys/vm/compact_memory; "
                         "%s; or reserve at boot with the kernel parameters hugepagesz=%s hugepages=%lu",
                         after.total, count, a, where, retry, pos[0], count);
    }
    return CMD_OK;
}

const struct cmd cmd_pool = {
    "pool", run, "set the hugetlb pool of one page size",
    "usage: hugepage pool SIZE COUNT [--node N] [--overcommit N]\n\n"
    "Sets the persistent hugetlb pool of SIZE pages (2M, 1G, ...) to COUNT pages\n"
    "(system-wide, or on NUMA node N), then reads back what the kernel granted. When it\n"
    "granted fewer (memory too fragmented), says so, hints at compaction and the boot\n"
    "parameters, and exits 1. Needs root.\n\n"
    "  --node N         set the pool of NUMA node N only\n"
    "  --overcommit N   also allow N surplus pages beyond the pool, allocated on demand\n"
    "                   (nr_overcommit_hugepages, system-wide)\n\n"
    "example: hugepage pool 2M 512    (1 GiB in 2 MiB pages)\n"};
