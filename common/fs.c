#include "common/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

int rs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, const char *path, size_t max_size, char **ret, size_t *ret_len,
                    struct rs_err *err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, alloc = 0;

    for (;;) {
        if (alloc - len < 4096) {
            alloc = alloc ? alloc * 2 : 8192;
            if (alloc > max_size + 4096)
                alloc = max_size + 4096;
            buf = xrealloc(buf, alloc + 1);
        }
        ssize_t n = read(fd, buf + len, alloc - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return rs_err_set(err, -errno, "cannot read '%s'", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_size)
            return rs_err_msg(err, -EFBIG, "'%s' is larger than %zu bytes", path, max_size);
    }
    if (!buf)
        buf = xmalloc(1);
    buf[len] = '\0';
    *ret = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int rs_read_file_at(int dirfd, const char *path, size_t max_size, char **ret, size_t *ret_len,
                    struct rs_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    return read_all(fd, path, max_size, ret, ret_len, err);
}

int rs_read_regular_file_at(int dirfd, const char *path, size_t max_size, char **ret,
                            size_t *ret_len, struct rs_err *err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;

    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    if (fstat(fd, &st) < 0)
        return rs_err_set(err, -errno, "cannot read '%s'", path);
    if (!S_ISREG(st.st_mode))
        return rs_err_msg(err, -EINVAL, "'%s' is not a regular file", path);
    return read_all(fd, path, max_size, ret, ret_len, err);
}

int rs_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            int durable, struct rs_err *err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    for (int attempt = 0; attempt < 100; attempt++) {
        free(tmp);
        tmp = xasprintf("%s.tmp.%d.%d", path, (int)getpid(), attempt);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot create '%s'", tmp);
    r = rs_write_all(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r == 0 && durable && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(dirfd, tmp, dirfd, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(dirfd, tmp, 0);
        return rs_err_set(err, r, "cannot write '%s'", path);
    }
    return 0;
}

static int rm_rf_children(int dfd, dev_t dev, int depth)
{
    _cleanup_closedir_ DIR *d = NULL;
    int r = 0;

    if (depth > 4096)
        return -ELOOP;
    d = fdopendir(dfd);
    if (!d) {
        safe_close(dfd);
        return -errno;
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                r = -errno;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT && r == 0)
                r = -errno;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) {
                if (r == 0)
                    r = -EXDEV;
                continue;
            }
            int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                if (errno != ENOENT && r == 0)
                    r = -errno;
                continue;
            }
            int q = rm_rf_children(cfd, dev, depth + 1);
            if (q < 0 && r == 0)
                r = q;
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0) {
            r = -errno;
        }
    }
    return r;
}

int rs_rm_rf_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int r = rm_rf_children(fd, st.st_dev, 0);
    if (r < 0)
        return r;
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

int rs_mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
