/* shm.c: hp_memfd, shareable file descriptors on hugetlb memory (layer 2).
 * Calls os.c and sysinfo.c; holds no lock and no state.
 *
 * The memory behind the fd comes from the hugetlb pool of the chosen page size
 * and is reserved when someone maps it (no MAP_NORESERVE is involved: the
 * caller mmaps the fd, and the kernel reserves pool pages for shared hugetlb
 * file mappings at mmap time, so an empty pool is a failed mmap, not SIGBUS).
 *
 * Two ways to get such an fd, tried in order:
 *  1. memfd_create(MFD_HUGETLB | size << MFD_HUGE_SHIFT) (Linux 4.14);
 *  2. an unnamed file on a hugetlbfs mount of that page size, found in
 *     /proc/self/mountinfo, opened with O_TMPFILE (hugetlbfs supports it since
 *     Linux 5.1) so there is never a name to unlink or leak.
 * The second serves kernels whose memfd lacks hugetlb and sandboxes that filter
 * memfd_create. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "sysinfo.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26 /* <linux/memfd.h>; that header clashes with <sys/mman.h> */
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

#define MEMFD_NAME_MAX 249 /* memfd_create(2): longer names are EINVAL */
#define MAX_MOUNTS 8

/* An O_TMPFILE on the first writable hugetlbfs mount of page_size. */
static int open_on_mount(size_t page_size, int *fd)
{
    struct hpi_mount mounts[MAX_MOUNTS];
    int count = 0;
    int err = hpi_sysinfo_mounts(mounts, MAX_MOUNTS, &count);
    if (err && err != ENOSPC)
        return ENOSYS;
    if (count > MAX_MOUNTS)
        count = MAX_MOUNTS;
    for (int i = 0; i < count; i++) {
        if (mounts[i].page_size != page_size)
            continue;
        if (hpi_os_open(mounts[i].path, O_TMPFILE | O_RDWR, 0600, fd) == 0)
            return 0;
    }
    return ENOSYS;
}

static int make_memfd(const char *name, size_t page_size, unsigned flags, int *fd)
{
    if (flags & ~HP_MEMFD_CLOEXEC)
        return EINVAL;
    if (!name)
        name = "hugepage";
    if (strlen(name) > MEMFD_NAME_MAX)
        return EINVAL;
    if (page_size == 0)
        page_size = hpi_sysinfo_default_page_size();
    if (page_size == 0)
        return ENOSYS; /* no hugetlb in this kernel */
    if ((page_size & (page_size - 1)) || !hpi_sysinfo_page_size_supported(page_size))
        return EINVAL;

    unsigned shift = (unsigned)__builtin_ctzll((unsigned long long)page_size);
    unsigned mfd = MFD_HUGETLB | (shift << MFD_HUGE_SHIFT);
    if (flags & HP_MEMFD_CLOEXEC)
        mfd |= MFD_CLOEXEC;
    int err = hpi_os_memfd(name, mfd, fd);
    if (err == EMFILE || err == ENFILE || err == ENOMEM)
        return err; /* a hugetlbfs file would fail the same way */
    if (!err)
        return 0;
    hpi_report_warn("memfd_create(MFD_HUGETLB, %zu KiB) failed (errno %d); trying hugetlbfs",
                    page_size / HPI_KiB, err);
    err = open_on_mount(page_size, fd);
    if (err) {
        hpi_report_warn("no writable hugetlbfs mount of %zu KiB pages", page_size / HPI_KiB);
        return err;
    }
    /* hpi_os_open always sets close-on-exec (the library's own files must not
     * leak into exec'd children); this fd is the caller's, so honour flags. */
    if (!(flags & HP_MEMFD_CLOEXEC) && fcntl(*fd, F_SETFD, 0) != 0) {
        err = errno;
        hpi_os_close(*fd);
        return err;
    }
    return 0;
}

int hp_memfd(const char *name, size_t page_size, unsigned flags)
{
    int fd;
    int err = make_memfd(name, page_size, flags, &fd);
    if (err) {
        errno = err;
        return -1;
    }
    return fd;
}
