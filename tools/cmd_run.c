/* cmd_run.c: `hugepage run [OPTIONS] -- CMD [ARGS...]`: runs an unmodified
 * program with libhugepage.so preloaded, so that its whole malloc heap lands on
 * huge pages.
 *
 * The options become HUGEPAGE_* variables (the library's own grammar, checked
 * here first so that a typo is a usage error rather than a warning at run
 * time), LD_PRELOAD gets the library prepended, and the command execs the
 * program: its PID, signals, terminal and exit status are the program's own
 * (a signal death shows to the calling shell as 128+sig, as for any program),
 * and its children inherit the environment, so they run on the library too.
 *
 * --stats is the library's HUGEPAGE_STATS: each process that exits normally
 * prints what its heap mapped on hugetlb, THP and base pages to stderr (the
 * destructor in heap.c). That is the library's bookkeeping; the kernel's figure
 * for a running process is `hugepage inspect PID`. We exec rather than fork and
 * wait, because a parent that wanted the kernel's figures at exit would have to
 * stop the program just before it exits (ptrace), which changes how signals,
 * job control and debuggers see it.
 *
 * The library is searched: $HUGEPAGE_LIBRARY; next to the command (the build
 * tree has both in one directory); ../lib from the command (an installed prefix,
 * wherever it was moved); HP_LIBDIR (the configured install libdir).
 *
 * Exit status: the program's; 2 for bad usage; 1 when the library cannot be
 * found; 127 when CMD does not exist and 126 when it cannot be executed, as a
 * shell says. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd.h"
#include "internal.h"

#define STR_(x) #x
#define STR(x) STR_(x)
/* The development symlink, then the SONAME (a runtime-only install has just that). */
static const char *const lib_names[] = {"libhugepage.so", "libhugepage.so." STR(HP_VERSION_MAJOR)};

/* Fills path with dir/name for the first library name that exists in dir. */
static bool lib_in(const char *dir, char *path, size_t cap)
{
    for (size_t i = 0; i < sizeof lib_names / sizeof lib_names[0]; i++) {
        int n = snprintf(path, cap, "%s/%s", dir, lib_names[i]);
        if (n > 0 && (size_t)n < cap && access(path, R_OK) == 0)
            return true;
    }
    return false;
}

/* The absolute path of libhugepage.so into out (PATH_MAX bytes), or CMD_FAIL
 * after saying where it looked. */
static int find_library(char *out)
{
    char path[PATH_MAX + 64];
    const char *env = getenv("HUGEPAGE_LIBRARY");
    if (env && *env) {
        if (!realpath(env, out))
            return cmd_error(CMD_FAIL, "run: HUGEPAGE_LIBRARY=%s: %s", env, strerror(errno));
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char up[PATH_MAX + 8];
            snprintf(up, sizeof up, "%s/../lib", exe);
            if ((lib_in(exe, path, sizeof path) || lib_in(up, path, sizeof path)) && realpath(path, out))
                return 0;
        }
    }
    if (lib_in(HP_LIBDIR, path, sizeof path) && realpath(path, out))
        return 0;
    return cmd_error(CMD_FAIL,
                     "run: cannot find libhugepage.so next to this command, in its ../lib or in %s "
                     "(set HUGEPAGE_LIBRARY=PATH)",
                     HP_LIBDIR);
}

/* --stats and --stats=json: cmd_getopt's options either always or never take a
 * value, so this one is taken out of argv first. Returns the value for
 * HUGEPAGE_STATS (NULL when not given) through *stats, or CMD_USAGE. */
static int take_stats(int *argc, char **argv, const char **stats)
{
    int out = 1;
    *stats = NULL;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            memmove(argv + out, argv + i, (size_t)(*argc - i) * sizeof *argv);
            out += *argc - i;
            break;
        }
        if (strcmp(argv[i], "--stats") == 0) {
            *stats = "1";
        } else if (strncmp(argv[i], "--stats=", 8) == 0) {
            const char *v = argv[i] + 8;
            if (strcmp(v, "json") != 0)
                return cmd_error(CMD_USAGE, "run: --stats takes no value or =json, not '%s'", v);
            *stats = "json";
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    return 0;
}

/* Checks the options and puts them into the environment. */
static int set_options(const char *mode, const char *pagesize, const char *reserve, const char *stats)
{
    if (mode) {
        static const char *const modes[] = {"auto", "hugetlb", "thp", "base"};
        bool known = false;
        for (int i = 0; i < 4; i++)
            known |= strcasecmp(mode, modes[i]) == 0;
        if (!known)
            return cmd_error(CMD_USAGE, "run: mode '%s' is not one of auto, hugetlb, thp, base", mode);
    }
    if (pagesize) {
        size_t ps;
        if (cmd_parse_page_size(pagesize, "page size", &ps) != 0)
            return CMD_USAGE;
        if (ps != HPI_2MB && ps != HPI_1GB)
            return cmd_error(CMD_USAGE, "run: page size '%s': the heap uses 2M or 1G pages", pagesize);
        pagesize = ps == HPI_1GB ? "1G" : "2M";
    }
    if (reserve) {
        size_t bytes;
        int err = hpi_options_parse_size(reserve, &bytes);
        if (err)
            return cmd_error(CMD_USAGE, "run: reserve '%s' is %s", reserve,
                             err == ERANGE ? "too large" : "not a size (examples: 512M, 1G)");
    }
    const char *const vars[][2] = {
        {"HUGEPAGE_MODE", mode}, {"HUGEPAGE_PAGESIZE", pagesize},
        {"HUGEPAGE_RESERVE", reserve}, {"HUGEPAGE_STATS", stats},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (vars[i][1] && setenv(vars[i][0], vars[i][1], 1) != 0)
            return cmd_error(CMD_FAIL, "run: setenv %s: %s", vars[i][0], strerror(errno));
    return 0;
}

/* LD_PRELOAD=lib, ahead of what was there (ld.so takes spaces or colons). */
static int set_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    size_t len = strlen(lib) + (old ? strlen(old) + 1 : 0) + 1;
    char *v = malloc(len);
    if (!v)
        return cmd_error(CMD_FAIL, "run: out of memory");
    snprintf(v, len, old && *old ? "%s:%s" : "%s", lib, old);
    int rc = setenv("LD_PRELOAD", v, 1) == 0 ? 0 : cmd_error(CMD_FAIL, "run: setenv LD_PRELOAD: %s", strerror(errno));
    free(v);
    return rc;
}

static int run(int argc, char **argv)
{
    static const char *const opts[] = {"--mode=", "--pagesize=", "--reserve=", NULL};
    const char *vals[3], *stats;
    int npos, dashdash;
    if (take_stats(&argc, argv, &stats) != 0 ||
        cmd_getopt(&cmd_run, argc, argv, opts, vals, NULL, 0, &npos, &dashdash) != 0)
        return CMD_USAGE;
    if (dashdash < 0 || dashdash + 1 >= argc)
        return cmd_error(CMD_USAGE, "run: missing '-- CMD' (usage: hugepage run [OPTIONS] -- CMD [ARGS...])");
    int rc = set_options(vals[0], vals[1], vals[2], stats);
    if (rc != 0)
        return rc;
    char lib[PATH_MAX];
    if ((rc = find_library(lib)) != 0 || (rc = set_preload(lib)) != 0)
        return rc;

    char **cmd = argv + dashdash + 1;
    fflush(NULL);
    execvp(cmd[0], cmd);
    if (errno == ENOENT)
        return cmd_error(127, "run: %s: command not found", cmd[0]);
    return cmd_error(126, "run: cannot execute %s: %s", cmd[0], strerror(errno));
}

const struct cmd cmd_run = {
    "run", run, "run a program with its heap on huge pages (libhugepage.so preloaded)",
    "usage: hugepage run [--mode auto|hugetlb|thp|base] [--pagesize 2M|1G] [--reserve SIZE]\n"
    "                    [--stats[=json]] -- CMD [ARGS...]\n\n"
    "Runs CMD with libhugepage.so in LD_PRELOAD (ahead of what is there) and the options\n"
    "as HUGEPAGE_MODE, HUGEPAGE_PAGESIZE, HUGEPAGE_RESERVE and HUGEPAGE_STATS, which its\n"
    "children inherit. CMD replaces this command (exec): the exit status is CMD's.\n"
    "--stats: each process prints what its heap mapped on hugetlb, THP and base pages to\n"
    "stderr when it exits (the library's count; `hugepage inspect PID` shows the kernel's).\n"
    "The library is $HUGEPAGE_LIBRARY, or libhugepage.so next to this command, in its\n"
    "../lib, or in the install libdir.\n"};
