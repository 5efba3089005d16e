/* cmd_mount.c: `hugepage mount [DIR] [--pagesize S] [--uid U] [--gid G]
 * [--mode M]` mounts hugetlbfs on DIR (creating it and missing parents), and
 * `hugepage mount --list` lists the hugetlbfs mounts.
 *
 * Policy: all options are validated, and DIR checked, before anything is
 * created; directories this command created are removed again when the mount
 * fails, so a failure leaves the system as it was. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "sysinfo.h"

/* A user or group: a name known to the system, or a number. */
static int parse_id(const char *s, bool group, unsigned *out)
{
    unsigned long v;
    if (s[0] >= '0' && s[0] <= '9') {
        if (cmd_parse_count(s, group ? "gid" : "uid", UINT_MAX - 1, &v))
            return CMD_USAGE;
        *out = (unsigned)v;
        return 0;
    }
    if (group) {
        struct group *gr = getgrnam(s);
        if (gr) {
            *out = gr->gr_gid;
            return 0;
        }
    } else {
        struct passwd *pw = getpwnam(s);
        if (pw) {
            *out = pw->pw_uid;
            return 0;
        }
    }
    return cmd_error(CMD_USAGE, "mount: no %s named '%s'", group ? "group" : "user", s);
}

static int parse_mode(const char *s, unsigned *out)
{
    unsigned v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '7' && v <= 07777; p++)
        v = v * 8 + (unsigned)(*p - '0');
    if (p == s || *p != '\0' || v > 07777)
        return cmd_error(CMD_USAGE, "mount: mode '%s' is not an octal mode such as 1770 or 0755", s);
    *out = v;
    return 0;
}

static int list_mounts(void)
{
    struct hpi_mount m[32];
    int n;
    int err = hpi_sysinfo_mounts(m, 32, &n);
    if (err && err != ENOSPC)
        return cmd_error(CMD_FAIL, "cannot read the mounts (/proc/self/mountinfo): %s", strerror(err));
    if (n > 32)
        n = 32;
    for (int i = 0; i < n; i++) {
        char a[32], b[32];
        printf("%s\tpagesize=%s uid=%u gid=%u mode=%04o", m[i].path, cmd_fmt_size(m[i].page_size, a, sizeof a),
               m[i].uid, m[i].gid, m[i].mode);
        if (m[i].size_limit)
            printf(" size=%s", cmd_fmt_size((size_t)m[i].size_limit, b, sizeof b));
        printf("\n");
    }
    if (n == 0)
        fprintf(stderr, "no hugetlbfs mounts (mount one with: hugepage mount /dev/hugepages)\n");
    return CMD_OK;
}

/* mkdir -p, recording in *created the shallowest directory it made ("" when it
 * made none), so that a failed mount can take them away again. */
static int make_dirs(const char *dir, char *created, size_t cap)
{
    char path[HPI_PATH_MAX];
    created[0] = '\0';
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(path, 0755) == 0) {
            if (!created[0])
                snprintf(created, cap, "%s", path);
        } else if (errno != EEXIST) {
            return errno;
        }
        if (last)
            return 0;
        *p = '/';
    }
}

/* Removes the directories make_dirs created: dir, then its parents up to and
 * including `created`. */
static void remove_dirs(const char *dir, const char *created)
{
    char path[HPI_PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    size_t stop = strlen(created);
    while (strlen(path) >= stop && rmdir(path) == 0) {
        char *slash = strrchr(path, '/');
        if (!slash || slash == path)
            break;
        *slash = '\0';
    }
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {"--list", "--pagesize=", "--uid=", "--gid=", "--mode=", NULL};
    const char *vals[5], *pos[1];
    int npos;
    if (cmd_getopt(&cmd_mount, argc, argv, opts, vals, pos, 1, &npos, NULL))
        return CMD_USAGE;
    if (vals[0]) {
        if (npos || vals[1] || vals[2] || vals[3] || vals[4])
            return cmd_error(CMD_USAGE, "mount: --list takes no other argument");
        return list_mounts();
    }

    size_t ps = hpi_sysinfo_default_page_size();
    unsigned uid = 0, gid = 0, mode = 0755;
    if ((vals[1] && cmd_parse_page_size(vals[1], "page size", &ps)) || (vals[2] && parse_id(vals[2], false, &uid)) ||
        (vals[3] && parse_id(vals[3], true, &gid)) || (vals[4] && parse_mode(vals[4], &mode)))
        return CMD_USAGE;
    if (ps == 0)
        return cmd_error(CMD_FAIL, "mount: this kernel has no huge pages (no Hugepagesize in /proc/meminfo)");

    /* Default: systemd's /dev/hugepages for the default size, else one per size. */
    char dir[HPI_PATH_MAX], a[32];
    if (npos)
        snprintf(dir, sizeof dir, "%s", pos[0]);
    else if (ps == hpi_sysinfo_default_page_size())
        snprintf(dir, sizeof dir, "/dev/hugepages");
    else
        snprintf(dir, sizeof dir, "/dev/hugepages-%zuM", ps >> 20);
    if (dir[0] == '\0' || strlen(dir) >= HPI_PATH_MAX - 1)
        return cmd_error(CMD_USAGE, "mount: bad directory '%s'", dir);

    struct stat st;
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return cmd_error(CMD_FAIL, "mount: %s exists and is not a directory", dir);
    /* Mounting again what is there already is not an error; over it, differently, is. */
    struct hpi_mount m[32];
    int n = 0;
    char real[PATH_MAX];
    hpi_sysinfo_mounts(m, 32, &n);
    for (int i = 0; i < n && i < 32 && realpath(dir, real); i++) {
        if (strcmp(real, m[i].path) != 0)
            continue;
        if (m[i].page_size == ps && (!vals[2] || m[i].uid == uid) && (!vals[3] || m[i].gid == gid) &&
            (!vals[4] || m[i].mode == mode)) {
            printf("%s is already a hugetlbfs mount of %s pages\n", dir, cmd_fmt_size(ps, a, sizeof a));
            return CMD_OK;
        }
        return cmd_error(CMD_FAIL, "mount: %s is already a hugetlbfs mount, with other options; unmount it first: umount %s",
                         dir, dir);
    }

    char created[HPI_PATH_MAX];
    int err = make_dirs(dir, created, sizeof created);
    if (err)
        return cmd_error(CMD_FAIL, "mount: cannot create %s: %s", dir, strerror(err));
    char data[128];
    snprintf(data, sizeof data, "pagesize=%zu,uid=%u,gid=%u,mode=%04o", ps, uid, gid, mode);
    if (mount("hugetlbfs", dir, "hugetlbfs", MS_NOSUID | MS_NODEV, data) != 0) {
        err = errno;
        if (created[0])
            remove_dirs(dir, created);
        if (err == EPERM)
            return cmd_error(CMD_FAIL, "mount: cannot mount hugetlbfs on %s: %s; run as root: sudo hugepage mount %s",
                             dir, strerror(err), dir);
        return cmd_error(CMD_FAIL, "mount: cannot mount hugetlbfs on %s: %s", dir, strerror(err));
    }
    printf("mounted hugetlbfs on %s: %s pages, uid %u, gid %u, mode %04o\n", dir,
           cmd_fmt_size(ps, a, sizeof a), uid, gid, mode);
    return CMD_OK;
}

const struct cmd cmd_mount = {
    "mount", run, "mount hugetlbfs, or list hugetlbfs mounts",
    "usage: hugepage mount [DIR] [--pagesize SIZE] [--uid U] [--gid G] [--mode M]\n"
    "       hugepage mount --list\n\n"
    "Mounts hugetlbfs on DIR, creating it (and missing parents) first. DIR defaults to\n"
    "/dev/hugepages for the default page size, /dev/hugepages-<N>M for another. Needs root.\n\n"
    "  --pagesize SIZE   page size of the mount (2M, 1G); default: the kernel's default\n"
    "  --uid U, --gid G  owner of the mount's root (name or number); default root\n"
    "  --mode M          octal permissions of the mount's root; default 0755\n"
    "  --list            list the hugetlbfs mounts instead\n"};
