/* report.c: the one place the library writes to stderr (side layer; calls os.c
 * and options.c). Messages are formatted into a stack buffer by a small
 * formatter of our own, because stdio may allocate and we can be inside malloc.
 * Warnings appear only under HUGEPAGE_VERBOSE and at most WARN_LIMIT times
 * (a program that misbehaves in a loop must not flood its stderr); fatal
 * reports always appear and end in abort(), as glibc does for heap corruption. */
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define WARN_LIMIT 16
#define LINE_MAX_LEN 512

static atomic_int nwarned;

static size_t put_str(char *buf, size_t cap, size_t n, const char *s)
{
    for (; s && *s; s++, n++)
        if (n + 1 < cap)
            buf[n] = *s;
    return n;
}

static size_t put_uint(char *buf, size_t cap, size_t n, unsigned long long v, unsigned base)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i > 0) {
        if (n + 1 < cap)
            buf[n] = tmp[i - 1];
        n++, i--;
    }
    return n;
}

int hpi_report_format(char *buf, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (n + 1 < cap)
                buf[n] = *f;
            n++;
            continue;
        }
        f++;
        int longs = 0, size_t_arg = 0;
        while (*f == 'l')
            longs++, f++;
        if (*f == 'z')
            size_t_arg = 1, f++;
        switch (*f) {
        case 's':
            n = put_str(buf, cap, n, va_arg(ap, const char *));
            break;
        case 'c':
            if (n + 1 < cap)
                buf[n] = (char)va_arg(ap, int);
            n++;
            break;
        case 'd': {
            long long v = size_t_arg ? (long long)va_arg(ap, ssize_t)
                          : longs    ? va_arg(ap, long)
                                     : va_arg(ap, int);
            unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            if (v < 0)
                n = put_str(buf, cap, n, "-");
            n = put_uint(buf, cap, n, mag, 10);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = size_t_arg ? va_arg(ap, size_t)
                                   : longs    ? va_arg(ap, unsigned long)
                                              : va_arg(ap, unsigned);
            n = put_uint(buf, cap, n, v, *f == 'x' ? 16 : 10);
            break;
        }
        case 'p':
            n = put_str(buf, cap, n, "0x");
            n = put_uint(buf, cap, n, (uintptr_t)va_arg(ap, void *), 16);
            break;
        case '%':
            if (n + 1 < cap)
                buf[n] = '%';
            n++;
            break;
        default: /* unknown conversion: print it literally, never read an arg */
            n = put_str(buf, cap, n, "%?");
            if (!*f)
                f--;
            break;
        }
    }
    if (cap > 0)
        buf[n < cap ? n : cap - 1] = '\0';
    return (int)n;
}

static void emit(const char *prefix, const char *fmt, va_list ap)
{
    char line[LINE_MAX_LEN];
    size_t n = 0;
    for (const char *p = prefix; *p && n < sizeof line - 2; p++)
        line[n++] = *p;
    n += (size_t)hpi_report_format(line + n, sizeof line - 1 - n, fmt, ap);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    hpi_os_write_all(STDERR_FILENO, line, n);
}

void hpi_report_warn(const char *fmt, ...)
{
    if (!hpi_options_get()->verbose)
        return;
    if (atomic_fetch_add_explicit(&nwarned, 1, memory_order_relaxed) >= WARN_LIMIT)
        return;
    va_list ap;
    va_start(ap, fmt);
    emit("hugepage: ", fmt, ap);
    va_end(ap);
}

void hpi_report_always(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("hugepage: ", fmt, ap);
    va_end(ap);
}

_Noreturn void hpi_report_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit("hugepage: fatal: ", fmt, ap);
    va_end(ap);
    abort();
}
