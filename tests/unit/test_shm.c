/* test_shm.c: hp_memfd. Two processes see each other's writes through the fd
 * (a forked child, and a separately exec'd process that receives the fd over a
 * unix socket with SCM_RIGHTS), and the mapping is hugetlb per smaps. The
 * hugetlbfs fallback runs with memfd_create made to fail, on a hugetlbfs mount
 * made for the test when the machine has none (root only; unmounted after).
 *
 * This binary is also the receiving process: run as `test_shm --receive FD`. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#include "internal.h"
#include "testutil.h"

#define MB2 ((size_t)2 << 20)
#define HUGETLBFS_MAGIC_ 0x958458f6

/* Maps the fd's first len bytes shared; fails the test when it cannot. */
static unsigned char *map_fd(int fd, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    assert_true(p != MAP_FAILED);
    return p;
}

static int new_sized_memfd(size_t page_size, size_t len, unsigned flags)
{
    int fd = hp_memfd("hp_test", page_size, flags);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)len), 0);
    return fd;
}

static void assert_hugetlb_mapping(const void *p, size_t page_size, size_t len)
{
    struct hpi_vma vma = hp_test_smaps(p);
    assert_true(vma.hugetlb);
    assert_int_equal(vma.kernel_page_size, page_size);
    assert_int_equal(vma.private_hugetlb + vma.shared_hugetlb, len);
    assert_int_equal(hp_backing(p), HP_BACKING_HUGETLB);
}

static void memfd_of_the_default_size_maps_as_hugetlb_in_smaps(void **state)
{
    (void)state;
    hp_test_need_pool(1, MB2);
    int fd = new_sized_memfd(0, MB2, 0);
    unsigned char *p = map_fd(fd, MB2);
    memset(p, 1, MB2);
    assert_hugetlb_mapping(p, hp_page_size(), MB2);
    struct statfs fs;
    assert_int_equal(fstatfs(fd, &fs), 0);
    assert_int_equal((unsigned long)fs.f_type, HUGETLBFS_MAGIC_);
    munmap(p, MB2);
    close(fd);
}

static void memfd_of_1gb_pages_maps_a_1gb_page(void **state)
{
    (void)state;
    hp_test_need_pool(1, HPI_1GB);
    int fd = new_sized_memfd(HPI_1GB, HPI_1GB, 0);
    unsigned char *p = map_fd(fd, HPI_1GB);
    p[0] = 1;
    assert_hugetlb_mapping(p, HPI_1GB, HPI_1GB);
    munmap(p, HPI_1GB);
    close(fd);
}

static void a_forked_child_and_its_parent_see_each_others_writes(void **state)
{
    (void)state;
    hp_test_need_pool(1, MB2);
    int fd = new_sized_memfd(MB2, MB2, 0);
    unsigned char *p = map_fd(fd, MB2);
    p[100] = 0xab;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child maps the fd afresh: the pages are the file's, not a copy. */
        unsigned char *q = mmap(NULL, MB2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (q == MAP_FAILED || q[100] != 0xab)
            _exit(1);
        q[MB2 - 1] = 0xcd;
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(p[MB2 - 1], 0xcd);
    assert_hugetlb_mapping(p, MB2, MB2);
    munmap(p, MB2);
    close(fd);
}

static int send_fd(int sock, int fd)
{
    char byte = 'f';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf};
    if (recvmsg(sock, &msg, 0) != 1)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* The exec'd side: receive the fd, check the parent's bytes and that the
 * mapping is hugetlb in our own smaps, answer with a write of our own. */
static int receive(int sock)
{
    int fd = recv_fd(sock);
    if (fd < 0)
        return 10;
    unsigned char *q = mmap(NULL, MB2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (q == MAP_FAILED)
        return 11;
    if (q[0] != 0x11 || q[MB2 / 2] != 0x22)
        return 12;
    struct hpi_vma vma;
    if (hpi_sysinfo_vma_at(0, (uintptr_t)q, &vma) != 0 || !vma.hugetlb ||
        vma.kernel_page_size != MB2)
        return 13;
    q[MB2 - 1] = 0x33;
    char done = 'd';
    return write(sock, &done, 1) == 1 ? 0 : 14;
}

static void an_exec_d_process_given_the_fd_over_a_socket_sees_our_writes(void **state)
{
    (void)state;
    hp_test_need_pool(1, MB2);
    int fd = new_sized_memfd(MB2, MB2, HP_MEMFD_CLOEXEC);
    unsigned char *p = map_fd(fd, MB2);
    p[0] = 0x11;
    p[MB2 / 2] = 0x22;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char arg[16];
        snprintf(arg, sizeof arg, "%d", sv[1]);
        execl("/proc/self/exe", "test_shm", "--receive", arg, (char *)NULL);
        _exit(127);
    }
    close(sv[1]);
    assert_int_equal(send_fd(sv[0], fd), 0);
    char done = 0;
    assert_int_equal(read(sv[0], &done, 1), 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(done, 'd');
    assert_int_equal(p[MB2 - 1], 0x33);
    close(sv[0]);
    munmap(p, MB2);
    close(fd);
}

static void cloexec_is_set_only_when_asked_for(void **state)
{
    (void)state;
    if (hp_page_size() == 0)
        hp_test_skip("no hugetlb support in this kernel");
    int a = hp_memfd("a", 0, 0), b = hp_memfd("b", 0, HP_MEMFD_CLOEXEC);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(fcntl(a, F_GETFD) & FD_CLOEXEC, 0);
    assert_int_equal(fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    close(a);
    close(b);
}

static void bad_flags_sizes_and_names_are_einval(void **state)
{
    (void)state;
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct {
        const char *name;
        size_t page_size;
        unsigned flags;
    } bad[] = {{"x", 0, 0x80u}, {"x", 4096, 0}, {"x", 3 * MB2 / 2, 0}, {"x", (size_t)4 << 20, 0},
               {longname, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_int_equal(hp_memfd(bad[i].name, bad[i].page_size, bad[i].flags), -1);
        assert_int_equal(errno, EINVAL);
    }
}

/* A hugetlbfs mount of 2 MiB pages: an existing one, or one made in a
 * temporary directory (*made set; the caller unmounts). NULL: none possible. */
static const char *hugetlbfs_2mb(char *dir, size_t cap, bool *made)
{
    struct hpi_mount mounts[8];
    int n = 0;
    *made = false;
    int err = hpi_sysinfo_mounts(mounts, 8, &n);
    if (err && err != ENOSPC)
        return NULL;
    for (int i = 0; i < n && i < 8; i++)
        if (mounts[i].page_size == MB2) {
            snprintf(dir, cap, "%s", mounts[i].path);
            return dir;
        }
    snprintf(dir, cap, "/tmp/hp_test_hugetlbfs.XXXXXX");
    if (!mkdtemp(dir))
        return NULL;
    if (mount("hp_test", dir, "hugetlbfs", 0, "pagesize=2M") != 0) {
        rmdir(dir);
        return NULL;
    }
    *made = true;
    return dir;
}

static void without_memfd_create_an_fd_comes_from_a_hugetlbfs_mount(void **state)
{
    (void)state;
    hp_test_need_root();
    hp_test_need_pool(1, MB2);
    char dir[256];
    bool made;
    if (!hugetlbfs_2mb(dir, sizeof dir, &made))
        hp_test_skip("cannot mount hugetlbfs");
    long memfds = hpi_os_calls(HPI_OS_MEMFD);
    hpi_os_fail_nth(HPI_OS_MEMFD, 1, ENOSYS);
    int fd = hp_memfd("fallback", MB2, 0);
    hpi_os_fail_nth(HPI_OS_MEMFD, 0, 0);
    int ok = fd >= 0 && ftruncate(fd, (off_t)MB2) == 0;
    unsigned char *p = ok ? mmap(NULL, MB2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    struct hpi_vma vma = {0};
    struct stat st = {0};
    if (p != MAP_FAILED) {
        memset(p, 9, MB2);
        vma = hp_test_smaps(p);
        fstat(fd, &st);
        munmap(p, MB2);
    }
    int cloexec = fd >= 0 ? fcntl(fd, F_GETFD) & FD_CLOEXEC : -1;
    if (fd >= 0)
        close(fd);
    if (made) {
        umount2(dir, MNT_DETACH);
        rmdir(dir);
    }
    assert_int_equal(hpi_os_calls(HPI_OS_MEMFD), memfds + 1);
    assert_true(fd >= 0);
    assert_true(p != MAP_FAILED);
    assert_true(vma.hugetlb);
    assert_int_equal(vma.kernel_page_size, MB2);
    assert_int_equal(vma.private_hugetlb + vma.shared_hugetlb, MB2);
    assert_int_equal(st.st_nlink, 0); /* unnamed: nothing to clean up */
    assert_int_equal(cloexec, 0);
}

static void without_memfd_create_or_a_mount_the_answer_is_enosys(void **state)
{
    (void)state;
    struct hpi_mount mounts[8];
    int n = 0;
    hpi_sysinfo_mounts(mounts, 8, &n);
    for (int i = 0; i < n && i < 8; i++)
        if (mounts[i].page_size == HPI_1GB)
            hp_test_skip("a 1 GiB hugetlbfs mount exists");
    if (!hpi_sysinfo_page_size_supported(HPI_1GB))
        hp_test_skip("no 1 GiB pages");
    hpi_os_fail_nth(HPI_OS_MEMFD, 1, ENOSYS);
    errno = 0;
    int fd = hp_memfd("none", HPI_1GB, 0);
    int err = errno;
    hpi_os_fail_nth(HPI_OS_MEMFD, 0, 0);
    assert_int_equal(fd, -1);
    assert_int_equal(err, ENOSYS);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(memfd_of_the_default_size_maps_as_hugetlb_in_smaps),
    cmocka_unit_test(memfd_of_1gb_pages_maps_a_1gb_page),
    cmocka_unit_test(a_forked_child_and_its_parent_see_each_others_writes),
    cmocka_unit_test(an_exec_d_process_given_the_fd_over_a_socket_sees_our_writes),
    cmocka_unit_test(cloexec_is_set_only_when_asked_for),
    cmocka_unit_test(bad_flags_sizes_and_names_are_einval),
    cmocka_unit_test(without_memfd_create_an_fd_comes_from_a_hugetlbfs_mount),
    cmocka_unit_test(without_memfd_create_or_a_mount_the_answer_is_enosys),
};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--receive") == 0)
        return receive(atoi(argv[2]));
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed)
        return 1;
    return hp_test_skipped ? 77 : 0;
}
