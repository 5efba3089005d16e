/* hugepage.c: the hugepage command's entry point: dispatch to subcommands,
 * --help and --version, and the helpers every subcommand shares (errors, option
 * walking, number parsing and formatting, a JSON writer). See cmd.h for the
 * layout and the exit-code contract. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "hugepage.h"
#include "internal.h"
#include "sysinfo.h"

/* The subcommands, one line each, in the order --help lists them. */
static const struct cmd *const commands[] = {
    &cmd_status,
    &cmd_pool,
    &cmd_mount,
    &cmd_inspect,
    &cmd_doctor,
    &cmd_run,
};
#define NCOMMANDS ((int)(sizeof commands / sizeof commands[0]))

static void print_help(FILE *out)
{
    fprintf(out, "usage: hugepage [--help | --version] COMMAND [ARGS...]\n\n"
                 "Show and set up the machine's huge pages (see hugepage(1)).\n\n"
                 "commands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n`hugepage COMMAND --help` describes one command.\n");
}

/* --help anywhere among a subcommand's options (not after "--"). */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return CMD_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return CMD_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("hugepage %s\n", HP_VERSION_STRING);
        return CMD_OK;
    }
    for (int i = 0; i < NCOMMANDS; i++) {
        if (strcmp(name, commands[i]->name) != 0)
            continue;
        if (wants_help(argc - 1, argv + 1)) {
            fputs(commands[i]->usage, stdout);
            return CMD_OK;
        }
        int rc = commands[i]->run(argc - 1, argv + 1);
        if (fflush(stdout) != 0 && rc == CMD_OK)
            rc = cmd_error(CMD_FAIL, "cannot write the output: %s", strerror(errno));
        return rc;
    }
    if (name[0] == '-')
        return cmd_error(CMD_USAGE, "unknown option '%s' (try: hugepage --help)", name);
    return cmd_error(CMD_USAGE, "unknown command '%s' (try: hugepage --help)", name);
}

/* ---- errors and options --------------------------------------------------------- */

int cmd_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hugepage: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

/* "-5" is a (bad) number, not an option: let the argument's parser say so. */
static bool is_option(const char *a)
{
    return a[0] == '-' && a[1] != '\0' && !(a[1] >= '0' && a[1] <= '9');
}

int cmd_getopt(const struct cmd *c, int argc, char **argv, const char *const *opts,
               const char **vals, const char **pos, int maxpos, int *npos, int *dashdash)
{
    *npos = 0;
    if (dashdash)
        *dashdash = -1;
    for (int k = 0; opts[k]; k++)
        vals[k] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            if (!dashdash)
                return cmd_error(CMD_USAGE, "%s: unexpected '--'", c->name);
            *dashdash = i;
            return 0;
        }
        if (!is_option(a)) {
            if (*npos >= maxpos)
                return cmd_error(CMD_USAGE, "%s: unexpected argument '%s' (try: hugepage %s --help)",
                                 c->name, a, c->name);
            pos[(*npos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t alen = eq ? (size_t)(eq - a) : strlen(a);
        int k = 0;
        for (; opts[k]; k++)
            if (strncmp(opts[k], a, alen) == 0 && (opts[k][alen] == '\0' || opts[k][alen] == '='))
                break;
        if (!opts[k])
            return cmd_error(CMD_USAGE, "%s: unknown option '%.*s' (try: hugepage %s --help)", c->name,
                             (int)alen, a, c->name);
        bool takes_value = opts[k][alen] == '=';
        if (!takes_value) {
            if (eq)
                return cmd_error(CMD_USAGE, "%s: option %.*s takes no value", c->name, (int)alen, a);
            vals[k] = "";
        } else if (eq) {
            vals[k] = eq + 1;
        } else if (i + 1 < argc) {
            vals[k] = argv[++i];
        } else {
            return cmd_error(CMD_USAGE, "%s: option %s needs a value", c->name, a);
        }
    }
    return 0;
}

/* ---- numbers ----------------------------------------------------------------------- */

int cmd_parse_page_size(const char *s, const char *what, size_t *out)
{
    size_t v;
    int err = hpi_options_parse_size(s, &v);
    if (err == ERANGE)
        return cmd_error(CMD_USAGE, "%s '%s' is too large", what, s);
    if (err)
        return cmd_error(CMD_USAGE, "%s '%s' is not a size (examples: 2M, 1G)", what, s);
    if (!hpi_sysinfo_page_size_supported(v)) {
        size_t sizes[HPI_MAX_PAGE_SIZES];
        int n = hpi_sysinfo_page_sizes(sizes, HPI_MAX_PAGE_SIZES);
        char list[160] = "", one[32];
        size_t used = 0;
        for (int i = 0; i < n && i < HPI_MAX_PAGE_SIZES; i++) {
            cmd_fmt_size(sizes[i], one, sizeof one);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", one);
            if (used >= sizeof list)
                break;
        }
        return cmd_error(CMD_USAGE, "%s '%s' is not a huge page size of this kernel (it has: %s)", what,
                         s, n > 0 ? list : "none");
    }
    *out = v;
    return 0;
}

int cmd_parse_count(const char *s, const char *what, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return cmd_error(CMD_USAGE, "%s '%s' is not a non-negative whole number", what, s);
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned long d = (unsigned long)(*p - '0');
        if (v > (max - d) / 10)
            return cmd_error(CMD_USAGE, "%s '%s' is too large (at most %lu)", what, s, max);
        v = v * 10 + d;
    }
    if (*p != '\0')
        return cmd_error(CMD_USAGE, "%s '%s' is not a non-negative whole number", what, s);
    *out = v;
    return 0;
}

const char *cmd_fmt_size(size_t bytes, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    size_t whole = bytes;
    while (whole >= 1024 && u < 6) {
        whole /= 1024;
        u++;
    }
    size_t unit = (size_t)1 << (10 * u);
    if (u == 0 || bytes % unit == 0)
        snprintf(buf, cap, "%zu %s", whole, units[u]);
    else
        snprintf(buf, cap, "%.1f %s", (double)bytes / (double)unit, units[u]);
    return buf;
}

void cmd_sysfs_size(size_t page_size, char *buf, size_t cap)
{
    snprintf(buf, cap, "%zukB", page_size >> 10);
}

void cmd_cgroup_size(size_t page_size, char *buf, size_t cap)
{
    if (page_size >= HPI_GiB && page_size % HPI_GiB == 0)
        snprintf(buf, cap, "%zuGB", page_size >> 30);
    else if (page_size >= HPI_MiB && page_size % HPI_MiB == 0)
        snprintf(buf, cap, "%zuMB", page_size >> 20);
    else
        snprintf(buf, cap, "%zuKB", page_size >> 10);
}

int cmd_read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return errno;
    size_t n = fread(buf, 1, cap - 1, f);
    int err = ferror(f) ? EIO : 0;
    fclose(f);
    buf[n] = '\0';
    return err;
}

/* ---- JSON ---------------------------------------------------------------------------- */

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out); /* UTF-8 bytes pass through */
        }
    }
    fputc('"', out);
}

/* The comma and key before any value. */
static void json_key(struct json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->out);
    j->need_comma[j->depth] = true;
    if (key) {
        json_string(j->out, key);
        fputc(':', j->out);
    }
}

void json_open(struct json *j, const char *key, char bracket)
{
    json_key(j, key);
    fputc(bracket, j->out);
    if (j->depth < 15)
        j->need_comma[++j->depth] = false;
}

void json_close(struct json *j, char bracket)
{
    fputc(bracket, j->out);
    if (j->depth > 0)
        j->depth--;
    if (j->depth == 0)
        fputc('\n', j->out);
}

void json_str(struct json *j, const char *key, const char *value)
{
    json_key(j, key);
    if (value)
        json_string(j->out, value);
    else
        fputs("null", j->out);
}

void json_u64(struct json *j, const char *key, uint64_t value)
{
    json_key(j, key);
    fprintf(j->out, "%llu", (unsigned long long)value);
}

void json_i64(struct json *j, const char *key, int64_t value)
{
    json_key(j, key);
    fprintf(j->out, "%lld", (long long)value);
}

void json_bool(struct json *j, const char *key, bool value)
{
    json_key(j, key);
    fputs(value ? "true" : "false", j->out);
}
