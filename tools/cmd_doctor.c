/* cmd_doctor.c: `hugepage doctor [-- CMD [ARGS...]]`: what stands between this
 * machine (or one program) and huge pages, each finding with the exact command
 * that fixes it; then the HUGEPAGE_* variables (from hpi_option_docs) and their
 * current values.
 *
 * With a program: it is run once as it is (no libhugepage, environment
 * unchanged, so on base pages or whatever THP gives it), waited for with wait4,
 * and its peak resident set (ru_maxrss) taken as the memory it is expected to
 * use. That counts its text and stacks too, so the page count suggested is an
 * upper bound for its heap. The figure is compared with the free pool, the
 * memlock limit and the hugetlb cgroup limits.
 *
 * Exit status: 0 when the checks ran (whatever they found), 1 when the program
 * could not be started, 2 for bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"
#include "sysinfo.h"

#define DEFAULT_SUGGESTION 512 /* pages suggested for a pool when no program says more */

static int nfindings;

static void finding(const char *problem, const char *fix)
{
    nfindings++;
    printf("problem: %s\n    fix: %s\n", problem, fix);
}

static void fine(const char *what)
{
    printf("ok:      %s\n", what);
}

/* Runs argv, returns its peak RSS in *peak. A CLOEXEC pipe carries the
 * child's exec errno back, so "could not start" is told from "exited 127". */
static int measure(char **argv, size_t *peak)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return cmd_error(CMD_FAIL, "doctor: pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cmd_error(CMD_FAIL, "doctor: fork: %s", strerror(errno));
    if (pid == 0) {
        close(pfd[0]);
        execvp(argv[0], argv);
        int err = errno;
        if (write(pfd[1], &err, sizeof err) != (ssize_t)sizeof err)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    int exec_err = 0;
    ssize_t got = read(pfd[0], &exec_err, sizeof exec_err);
    close(pfd[0]);
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR)
            return cmd_error(CMD_FAIL, "doctor: wait4: %s", strerror(errno));
    if (got == (ssize_t)sizeof exec_err)
        return cmd_error(CMD_FAIL, "doctor: cannot run %s: %s", argv[0], strerror(exec_err));
    *peak = (size_t)ru.ru_maxrss * 1024;
    char a[32];
    if (WIFEXITED(status))
        printf("program: %s exited with status %d, peak memory %s\n", argv[0], WEXITSTATUS(status),
               cmd_fmt_size(*peak, a, sizeof a));
    else
        printf("program: %s was killed by signal %d, peak memory %s\n", argv[0], WTERMSIG(status),
               cmd_fmt_size(*peak, a, sizeof a));
    return 0;
}

static void check_pool(size_t ps, size_t need_bytes, const char *prog)
{
    struct hp_pool p;
    char msg[512], fix[512], a[32], b[32], c[32];
    cmd_fmt_size(ps, a, sizeof a);
    if (hpi_sysinfo_pool(ps, -1, &p) != 0) {
        snprintf(msg, sizeof msg, "the %s pool cannot be read", a);
        finding(msg, "check that /sys/kernel/mm/hugepages is readable (is sysfs mounted?)");
        return;
    }
    unsigned long avail = (p.free > p.reserved ? p.free - p.reserved : 0) +
                          (p.overcommit > p.surplus ? p.overcommit - p.surplus : 0);
    unsigned long need = (unsigned long)((need_bytes + ps - 1) / ps);
    if (prog && avail < need) {
        snprintf(msg, sizeof msg,
                 "%s may use up to %s (%lu pages of %s), but the %s pool has only %lu pages available",
                 prog, cmd_fmt_size(need_bytes, b, sizeof b), need, a, a, avail);
        snprintf(fix, sizeof fix, "hugepage pool %zuM %lu", ps >> 20, p.total + (need - avail));
        finding(msg, fix);
    } else if (p.total == 0 && p.overcommit == 0) {
        snprintf(msg, sizeof msg,
                 "no hugetlb pool of %s pages: hugetlb mappings fall back to THP or base pages", a);
        snprintf(fix, sizeof fix,
                 "hugepage pool %zuM %d  (at every boot: echo vm.nr_hugepages=%d > "
                 "/etc/sysctl.d/hugepages.conf)",
                 ps >> 20, DEFAULT_SUGGESTION, DEFAULT_SUGGESTION);
        finding(msg, fix);
    } else if (avail == 0) {
        snprintf(msg, sizeof msg, "the %s pool is used up: all %lu pages are in use or reserved", a, p.total);
        snprintf(fix, sizeof fix, "hugepage pool %zuM %lu", ps >> 20, p.total + DEFAULT_SUGGESTION);
        finding(msg, fix);
    } else {
        snprintf(msg, sizeof msg, "%s pool: %lu pages (%s), %lu available (%s)", a, p.total,
                 cmd_fmt_size(p.total * ps, b, sizeof b), avail, cmd_fmt_size(avail * ps, c, sizeof c));
        fine(msg);
    }
}

static void check_thp(void)
{
    enum hpi_thp_mode enabled, defrag;
    if (hpi_sysinfo_thp(&enabled, &defrag) != 0) {
        finding("this kernel has no transparent huge pages (no /sys/kernel/mm/transparent_hugepage)",
                "use a kernel built with CONFIG_TRANSPARENT_HUGEPAGE=y");
        return;
    }
    if (enabled == HPI_THP_NEVER)
        finding("transparent huge pages are disabled (enabled: never): the fallback after hugetlb gets base pages",
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
    else
        printf("ok:      transparent huge pages: enabled %s\n", hpi_sysinfo_thp_name(enabled));
    if (defrag == HPI_THP_NEVER)
        finding("THP defrag is never: THP comes only from already free 2 MiB frames, never from compaction",
                "echo madvise > /sys/kernel/mm/transparent_hugepage/defrag");
}

static void check_mounts(size_t ps)
{
    struct hpi_mount m[32];
    int n = 0;
    int err = hpi_sysinfo_mounts(m, 32, &n);
    if ((err == 0 || err == ENOSPC) && n > 0) {
        char msg[HPI_PATH_MAX + 64];
        snprintf(msg, sizeof msg, "hugetlbfs mounted on %s%s", m[0].path, n > 1 ? " and elsewhere" : "");
        fine(msg);
        return;
    }
    char fix[96];
    snprintf(fix, sizeof fix, "hugepage mount /dev/hugepages --pagesize %zuM", ps >> 20);
    finding("no hugetlbfs mount: programs written for libhugetlbfs, and hp_memfd on kernels without "
            "memfd_create(MFD_HUGETLB), need one",
            fix);
}

static void check_memlock(size_t need_bytes, const char *what)
{
    struct rlimit rl;
    char msg[256], a[32], b[32];
    if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need_bytes) {
        fine("memlock limit: large enough");
        return;
    }
    snprintf(msg, sizeof msg,
             "the memlock limit (ulimit -l) is %s, below %s (%s): SHM_HUGETLB shared memory and mlock of "
             "huge pages beyond it fail for users without CAP_IPC_LOCK",
             cmd_fmt_size((size_t)rl.rlim_cur, a, sizeof a), cmd_fmt_size(need_bytes, b, sizeof b), what);
    finding(msg, "ulimit -l unlimited  (for every login: add '* - memlock unlimited' to "
                 "/etc/security/limits.conf)");
}

static void check_cgroups(size_t need_bytes)
{
    struct cmd_cglimit l[2 * HPI_MAX_PAGE_SIZES];
    int n = cmd_cgroup_limits(l, 2 * HPI_MAX_PAGE_SIZES);
    int limited = 0;
    for (int i = 0; i < n; i++) {
        if (l[i].limit == SIZE_MAX)
            continue;
        size_t room = l[i].limit > l[i].usage ? l[i].limit - l[i].usage : 0;
        if (room >= need_bytes && room >= l[i].page_size)
            continue;
        char msg[800], fix[700], a[32], b[32];
        snprintf(msg, sizeof msg, "the hugetlb cgroup limit for %s pages leaves %s (%s)",
                 cmd_fmt_size(l[i].page_size, a, sizeof a), cmd_fmt_size(room, b, sizeof b), l[i].path);
        snprintf(fix, sizeof fix, "echo %s > %s", strstr(l[i].path, ".max") ? "max" : "-1", l[i].path);
        finding(msg, fix);
        limited++;
    }
    if (!limited)
        fine(n ? "hugetlb cgroup limits: large enough" : "hugetlb cgroup limits: none");
}

static void list_options(void)
{
    printf("\nenvironment (libhugepage reads these at start):\n");
    for (int i = 0; i < hpi_option_ndocs; i++) {
        const struct hpi_option_doc *d = &hpi_option_docs[i];
        const char *v = getenv(d->name);
        if (v)
            printf("  %s=%s\n", d->name, v);
        else
            printf("  %s unset (default: %s)\n", d->name, d->fallback);
        printf("      %s; values: %s\n", d->doc, d->values);
    }
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {NULL};
    const char *vals[1], *pos[1];
    int npos, dashdash;
    if (cmd_getopt(&cmd_doctor, argc, argv, opts, vals, pos, 0, &npos, &dashdash))
        return CMD_USAGE;
    char **prog = dashdash >= 0 ? argv + dashdash + 1 : NULL;
    if (prog && !prog[0])
        return cmd_error(CMD_USAGE, "doctor: no program after '--'");

    size_t peak = 0;
    if (prog && measure(prog, &peak))
        return CMD_FAIL;
    size_t ps = hpi_sysinfo_default_page_size();
    if (ps == 0) {
        finding("this kernel has no hugetlb pages (no Hugepagesize in /proc/meminfo)",
                "use a kernel built with CONFIG_HUGETLBFS=y");
    } else {
        check_pool(ps, peak, prog ? prog[0] : NULL);
        check_mounts(ps);
    }
    check_thp();
    struct hp_pool p = {0};
    if (ps)
        hpi_sysinfo_pool(ps, -1, &p);
    size_t pool_bytes = p.total * ps;
    check_memlock(prog ? peak : pool_bytes, prog ? "the program's peak" : "the hugetlb pool");
    check_cgroups(prog ? peak : 0);
    printf("%d finding%s\n", nfindings, nfindings == 1 ? "" : "s");
    list_options();
    return CMD_OK;
}

const struct cmd cmd_doctor = {
    "doctor", run, "what stands between this machine (or a program) and huge pages",
    "usage: hugepage doctor [-- CMD [ARGS...]]\n\n"
    "Checks the hugetlb pool, transparent huge pages, hugetlbfs mounts, the memlock limit\n"
    "and hugetlb cgroup limits, and prints each problem with the command that fixes it;\n"
    "then lists the HUGEPAGE_* variables with their current values.\n\n"
    "With -- CMD, runs CMD once as it is (without libhugepage), measures its peak memory\n"
    "(wait4 rusage, ru_maxrss) and checks that the pool and the limits have room for it.\n"};
