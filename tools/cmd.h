/* cmd.h: what the subcommands of the hugepage command share.
 *
 * Layout: tools/hugepage.c parses the command line, dispatches through a table
 * with one line per subcommand, and owns the shared helpers below (errors,
 * number parsing, size formatting, a tiny JSON writer). Each subcommand lives in
 * tools/cmd_<name>.c and exports one `const struct cmd cmd_<name>`. To add one:
 * write tools/cmd_<name>.c, declare it here, add its line to the table in
 * hugepage.c; --help lists it from then on.
 *
 * The command uses the public header, the parsers and live readers of
 * src/sysinfo.h and hpi_options_parse_size (so sizes mean the same here and in
 * HUGEPAGE_*); never heap internals. Unlike the library it may use stdio and
 * malloc.
 *
 * Exit codes: 0 success, 1 a failed operation, 2 bad usage. Every error is one
 * line on stderr starting "hugepage: ". Subcommands validate all their input
 * before changing anything on the system. */
#ifndef HP_CMD_H
#define HP_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CMD_OK 0
#define CMD_FAIL 1
#define CMD_USAGE 2

struct cmd {
    const char *name;    /* "status" */
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name; returns an exit code */
    const char *summary; /* one line for `hugepage --help` */
    const char *usage;   /* full text for `hugepage NAME --help`, starting "usage: hugepage NAME" */
};

extern const struct cmd cmd_status, cmd_pool, cmd_mount, cmd_inspect, cmd_doctor;
extern const struct cmd cmd_run;

/* ---- errors (hugepage.c) -------------------------------------------------------- */

/* Prints "hugepage: <message>\n" on stderr and returns code, so that callers can
 * write `return cmd_error(CMD_USAGE, "...")`. */
int cmd_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Shared option handling of a subcommand: walks argv[1..argc) and for each
 * option (argument starting with '-', up to a "--") looks it up in opts, a
 * NULL-terminated list of names such as "--json" or "--node=" (a trailing '='
 * means the option takes a value, given as "--node N" or "--node=N").
 * Option values are stored in vals[i] ("" for flags given, NULL when absent);
 * the remaining arguments are stored in order in pos[0..*npos), at most maxpos.
 * A "--" stops option parsing; its index is stored in *dashdash (or -1), and
 * the arguments after it are not collected. Returns 0, or CMD_USAGE after
 * printing what was wrong (unknown option, missing value, too many arguments). */
int cmd_getopt(const struct cmd *c, int argc, char **argv, const char *const *opts,
               const char **vals, const char **pos, int maxpos, int *npos, int *dashdash);

/* ---- numbers (hugepage.c) ------------------------------------------------------- */

/* A huge page size argument ("2M", "1G", "2048K"): the shared size grammar,
 * then the kernel must support it. what names the argument in messages.
 * Returns 0 or CMD_USAGE after printing one line. */
int cmd_parse_page_size(const char *s, const char *what, size_t *out);
/* A plain unsigned decimal count ("512"); no sign, no suffix, no overflow.
 * Returns 0 or CMD_USAGE after printing one line naming what. */
int cmd_parse_count(const char *s, const char *what, unsigned long max, unsigned long *out);

/* "2 MiB", "1 GiB", "512 KiB", "1.5 GiB", "300 B" into buf (at least 32 bytes). */
const char *cmd_fmt_size(size_t bytes, char *buf, size_t cap);
/* The kernel's spelling of a page size in file names: "2048kB" (sysfs) or
 * "2MB"/"1GB" (hugetlb cgroup files). */
void cmd_sysfs_size(size_t page_size, char *buf, size_t cap);
void cmd_cgroup_size(size_t page_size, char *buf, size_t cap);

/* Reads a whole small text file into buf (NUL-terminated). Returns 0 or errno. */
int cmd_read_text(const char *path, char *buf, size_t cap);

/* ---- JSON output (hugepage.c) ------------------------------------------------- */

/* A minimal streaming JSON writer: values are separated with commas and strings
 * escaped; nesting up to 16 levels. key is NULL inside arrays. */
struct json {
    FILE *out;
    int depth;
    bool need_comma[16];
};
void json_open(struct json *j, const char *key, char bracket);  /* '{' or '[' */
void json_close(struct json *j, char bracket);                   /* '}' or ']' */
void json_str(struct json *j, const char *key, const char *value); /* NULL -> null */
void json_u64(struct json *j, const char *key, uint64_t value);
void json_i64(struct json *j, const char *key, int64_t value);
void json_bool(struct json *j, const char *key, bool value);

/* ---- shared machine facts ------------------------------------------------------ */

/* Hugetlb cgroup limits that apply to the calling process (cmd_status.c): for
 * cgroup v2, hugetlb.<size>.max and .current of its cgroup; for v1, the hugetlb
 * hierarchy's limit_in_bytes and usage_in_bytes. Only files that exist are
 * reported (the root cgroup has none). limit is SIZE_MAX for no limit. */
struct cmd_cglimit {
    size_t page_size;
    size_t limit, usage;   /* bytes */
    char path[2048];       /* the .max / .limit_in_bytes file */
};
int cmd_cgroup_limits(struct cmd_cglimit *out, int max);

#endif /* HP_CMD_H */
