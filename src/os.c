/* os.c: the only file that asks the kernel for memory or files (layer 0).
 * Calls libc system call wrappers only; never malloc, never stdio, never errno
 * as an interface: every function returns 0 or a positive errno value, and
 * restores errno to what it was (so a successful free leaves errno alone).
 *
 * EINTR retries live here, in one place. Test builds (and all builds: the cost
 * is one relaxed load per call) can make the nth call of an operation fail, to
 * drive the fallback chain hugetlb -> THP -> base and the ENOMEM paths. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

/* Fault injection state: fail_at[op] is the call number that fails (0 = off). */
static atomic_long calls[HPI_OS_NOPS];
static atomic_long fail_at[HPI_OS_NOPS];
static atomic_int fail_err[HPI_OS_NOPS];

void hpi_os_fail_nth(enum hpi_os_op op, long nth, int err)
{
    long now = atomic_load_explicit(&calls[op], memory_order_relaxed);
    atomic_store_explicit(&fail_err[op], err, memory_order_relaxed);
    atomic_store_explicit(&fail_at[op], nth > 0 ? now + nth : 0, memory_order_relaxed);
}

long hpi_os_calls(enum hpi_os_op op)
{
    return atomic_load_explicit(&calls[op], memory_order_relaxed);
}

/* Counts the call; returns the injected error for this call, or 0. */
static int injected(enum hpi_os_op op)
{
    long n = atomic_fetch_add_explicit(&calls[op], 1, memory_order_relaxed) + 1;
    long at = atomic_load_explicit(&fail_at[op], memory_order_relaxed);
    if (HPI_UNLIKELY(at != 0 && n == at)) {
        atomic_store_explicit(&fail_at[op], 0, memory_order_relaxed);
        return atomic_load_explicit(&fail_err[op], memory_order_relaxed);
    }
    return 0;
}

int hpi_os_mmap(void *hint, size_t len, int prot, int flags, int fd, off_t off, void **out)
{
    int err = injected(HPI_OS_MMAP);
    if (err)
        return err;
    int saved = errno;
    void *p = mmap(hint, len, prot, flags, fd, off);
    err = p == MAP_FAILED ? errno : 0;
    errno = saved;
    if (!err)
        *out = p;
    return err;
}

int hpi_os_munmap(void *p, size_t len)
{
    int err = injected(HPI_OS_MUNMAP);
    if (err)
        return err;
    int saved = errno;
    err = munmap(p, len) != 0 ? errno : 0;
    errno = saved;
    return err;
}

int hpi_os_madvise(void *p, size_t len, int advice)
{
    int err = injected(HPI_OS_MADVISE);
    if (err)
        return err;
    int saved = errno;
    do
        err = madvise(p, len, advice) != 0 ? errno : 0;
    while (err == EINTR || err == EAGAIN);
    errno = saved;
    return err;
}

int hpi_os_mprotect(void *p, size_t len, int prot)
{
    int err = injected(HPI_OS_MPROTECT);
    if (err)
        return err;
    int saved = errno;
    err = mprotect(p, len, prot) != 0 ? errno : 0;
    errno = saved;
    return err;
}

int hpi_os_memfd(const char *name, unsigned mfd_flags, int *fd)
{
    int err = injected(HPI_OS_MEMFD);
    if (err)
        return err;
    int saved = errno;
    /* The raw syscall, so that an old libc without the wrapper still works. */
    long r = syscall(SYS_memfd_create, name, mfd_flags);
    err = r < 0 ? errno : 0;
    errno = saved;
    if (!err)
        *fd = (int)r;
    return err;
}

int hpi_os_open(const char *path, int flags, int mode, int *fd)
{
    int err = injected(HPI_OS_OPEN);
    if (err)
        return err;
    int saved = errno, r;
    do
        r = open(path, flags | O_CLOEXEC, mode);
    while (r < 0 && errno == EINTR);
    err = r < 0 ? errno : 0;
    errno = saved;
    if (!err)
        *fd = r;
    return err;
}

int hpi_os_close(int fd)
{
    int saved = errno;
    /* Linux closes the descriptor even when close reports EINTR: no retry. */
    int err = close(fd) != 0 ? errno : 0;
    errno = saved;
    return err == EINTR ? 0 : err;
}

int hpi_os_read_fd(int fd, char *buf, size_t cap, size_t *len)
{
    if (cap == 0)
        return EINVAL;
    int saved = errno, err = 0;
    size_t n = 0;
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *len = n;
    errno = saved;
    return err;
}

int hpi_os_read_file(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd, err = hpi_os_open(path, O_RDONLY, 0, &fd);
    if (err)
        return err;
    err = hpi_os_read_fd(fd, buf, cap, len);
    if (!err && *len == cap - 1) {
        /* Full buffer: is there more? */
        char extra;
        int saved = errno;
        ssize_t r;
        do
            r = read(fd, &extra, 1);
        while (r < 0 && errno == EINTR);
        errno = saved;
        if (r > 0)
            err = ERANGE;
    }
    hpi_os_close(fd);
    return err;
}

int hpi_os_write_all(int fd, const char *buf, size_t len)
{
    int saved = errno, err = 0;
    while (len > 0) {
        ssize_t r = write(fd, buf, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : EIO;
            break;
        }
        buf += r;
        len -= (size_t)r;
    }
    errno = saved;
    return err;
}

int hpi_os_name_mapping(void *p, size_t len, const char *name)
{
    int saved = errno;
    int err = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, len,
                    (unsigned long)name) != 0 ? errno : 0;
    errno = saved;
    return err;
}

uint64_t hpi_os_now_ms(void)
{
    struct timespec ts;
    int saved = errno;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    errno = saved;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
