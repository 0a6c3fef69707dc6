/* Copying a plain directory tree into a layer (image import-dir) and measuring one. The copy
 * keeps what `cp -a` keeps: owners, modes, times, xattrs (security.capability too), hard links,
 * symlinks and special files; data moves with FICLONE or copy_file_range where the
 * filesystems allow, so it never passes through user space. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#define MAX_DEPTH       4096
#define XATTR_LIST_MAX_ (64 * 1024)
#define XATTR_SIZE_MAX_ (64 * 1024)

/* ---- (dev, ino) -> path, for hard links ---- */

struct inode_entry {
    dev_t dev;
    ino_t ino;
    char *path; /* owned; NULL in a plain set */
    bool used;
};

struct inode_map {
    struct inode_entry *slots;
    size_t n, alloc; /* alloc is a power of two */
};

static size_t inode_hash(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ULL ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4fULL;
    return (size_t)(h ^ (h >> 29));
}

static struct inode_entry *inode_map_find(struct inode_map *m, dev_t dev, ino_t ino)
{
    if (!m->alloc)
        return NULL;
    for (size_t i = inode_hash(dev, ino) & (m->alloc - 1);; i = (i + 1) & (m->alloc - 1)) {
        struct inode_entry *e = &m->slots[i];
        if (!e->used)
            return NULL;
        if (e->dev == dev && e->ino == ino)
            return e;
    }
}

static void inode_map_insert(struct inode_map *m, dev_t dev, ino_t ino, char *path)
{
    if ((m->n + 1) * 2 > m->alloc) {
        struct inode_map bigger = { .alloc = m->alloc ? m->alloc * 2 : 256 };
        bigger.slots = xcalloc(bigger.alloc, sizeof(*bigger.slots));
        for (size_t i = 0; i < m->alloc; i++)
            if (m->slots[i].used)
                inode_map_insert(&bigger, m->slots[i].dev, m->slots[i].ino, m->slots[i].path);
        free(m->slots);
        *m = bigger;
    }
    size_t i = inode_hash(dev, ino) & (m->alloc - 1);
    while (m->slots[i].used)
        i = (i + 1) & (m->alloc - 1);
    m->slots[i] = (struct inode_entry){ .dev = dev, .ino = ino, .path = path, .used = true };
    m->n++;
}

static void inode_map_release(struct inode_map *m)
{
    for (size_t i = 0; i < m->alloc; i++)
        free(m->slots[i].path);
    free(m->slots);
    *m = (struct inode_map){ 0 };
}

/* ---- size ---- */

static int tree_size(int dfd, dev_t dev, struct inode_map *seen, uint64_t *size, int depth)
{
    _cleanup_closedir_ DIR *d = NULL;

    if (depth > MAX_DEPTH)
        return -ELOOP;
    d = fdopendir(dfd);
    if (!d) {
        safe_close(dfd);
        return -errno;
    }
    for (struct dirent *de; (de = readdir(d));) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISREG(st.st_mode)) {
            if (st.st_nlink > 1) {
                if (inode_map_find(seen, st.st_dev, st.st_ino))
                    continue;
                inode_map_insert(seen, st.st_dev, st.st_ino, NULL);
            }
            *size += (uint64_t)st.st_size;
        } else if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
            int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                return -errno;
            int r = tree_size(cfd, dev, seen, size, depth + 1);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int cache_tree_size(int dirfd, uint64_t *ret_size)
{
    struct inode_map seen = { 0 };
    struct stat st;
    uint64_t size = 0;
    int fd, r;

    if (fstat(dirfd, &st) < 0)
        return -errno;
    fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    r = tree_size(fd, st.st_dev, &seen, &size, 0);
    inode_map_release(&seen);
    if (r < 0)
        return r;
    *ret_size = size;
    return 0;
}

/* ---- copy ---- */

struct copy_ctx {
    struct cache *cache;
    const char *src_root;
    int dst_root_fd;
    struct strbuf rel; /* path of the current entry relative to the roots */
    struct inode_map links;
    uint64_t size;
    bool try_clone, try_cfr, try_noatime;
    char *buf; /* owned, for the read/write fallback */
};

static int copy_fail(struct copy_ctx *x, int r, const char *what, struct rs_err *err)
{
    return rs_err_set(err, r, "cannot %s '%s%s%s'", what, x->src_root, x->rel.len ? "/" : "",
                      strbuf_str(&x->rel));
}

static int copy_data(struct copy_ctx *x, int src, int dst, uint64_t size)
{
    uint64_t done = 0;

    if (x->try_clone && size > 0) {
        if (ioctl(dst, FICLONE, src) == 0)
            return 0;
        if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV && errno != EINVAL &&
            errno != ENOSYS)
            return -errno;
        x->try_clone = false;
    }
    while (x->try_cfr) {
        ssize_t n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0) {
            done += (uint64_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (done > 0 || (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP &&
                         errno != EINVAL && errno != EBADF))
            return -errno;
        x->try_cfr = false;
    }
    if (!x->buf)
        x->buf = xmalloc(256 * 1024);
    for (;;) {
        ssize_t n = read(src, x->buf, 256 * 1024);
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        int r = rs_write_all(dst, x->buf, (size_t)n);
        if (r < 0)
            return r;
    }
}

/* Copy the xattrs of src (an fd, or a path when fd < 0) to dst the same way. */
static int copy_xattrs(int src_fd, const char *src_path, int dst_fd, const char *dst_path)
{
    char list[XATTR_LIST_MAX_];
    char value[XATTR_SIZE_MAX_];
    ssize_t n_list;

    n_list = src_fd >= 0 ? flistxattr(src_fd, list, sizeof(list))
                         : llistxattr(src_path, list, sizeof(list));
    if (n_list < 0)
        return errno == ENOTSUP ? 0 : -errno;
    for (char *name = list; name < list + n_list; name += strlen(name) + 1) {
        /* Overlay's own xattrs would make overlayfs treat the copy as opaque dirs, redirects
         * or metacopies: a plain tree cannot mean that. */
        if (strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0)
            continue;
        ssize_t n = src_fd >= 0 ? fgetxattr(src_fd, name, value, sizeof(value))
                                : lgetxattr(src_path, name, value, sizeof(value));
        if (n < 0) {
            if (errno == ENODATA)
                continue;
            return -errno;
        }
        int r = dst_fd >= 0 ? fsetxattr(dst_fd, name, value, (size_t)n, 0)
                            : lsetxattr(dst_path, name, value, (size_t)n, 0);
        if (r < 0)
            return -errno;
    }
    return 0;
}

/* Owner, mode, xattrs and times, in the order that keeps them: chown clears setuid bits and
 * security.capability, so it goes first; times go last. */
static int apply_meta_fd(int dst, int src, const struct stat *st)
{
    struct timespec ts[2] = { st->st_atim, st->st_mtim };
    if (fchown(dst, st->st_uid, st->st_gid) < 0)
        return -errno;
    if (fchmod(dst, st->st_mode & 07777) < 0)
        return -errno;
    int r = copy_xattrs(src, NULL, dst, NULL);
    if (r < 0)
        return r;
    if (futimens(dst, ts) < 0)
        return -errno;
    return 0;
}

static int apply_meta_at(int src_dfd, int dst_dfd, const char *name, const struct stat *st)
{
    struct timespec ts[2] = { st->st_atim, st->st_mtim };
    char src_path[64 + NAME_MAX], dst_path[64 + NAME_MAX];

    if (fchownat(dst_dfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    if (!S_ISLNK(st->st_mode) && fchmodat(dst_dfd, name, st->st_mode & 07777, 0) < 0)
        return -errno;
    snprintf(src_path, sizeof(src_path), "/proc/self/fd/%d/%s", src_dfd, name);
    snprintf(dst_path, sizeof(dst_path), "/proc/self/fd/%d/%s", dst_dfd, name);
    int r = copy_xattrs(-1, src_path, -1, dst_path);
    if (r < 0 && !(r == -EPERM && S_ISLNK(st->st_mode)))
        return r;
    if (utimensat(dst_dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return 0;
}

static int copy_file(struct copy_ctx *x, int src_dfd, int dst_dfd, const char *name,
                     const struct stat *st, struct rs_err *err)
{
    _cleanup_close_ int src = -1, dst = -1;
    int r;

    if (x->try_noatime) {
        src = openat(src_dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
        if (src < 0 && errno == EPERM)
            x->try_noatime = false;
    }
    if (src < 0)
        src = openat(src_dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
        return copy_fail(x, -errno, "open", err);
    dst = openat(dst_dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0)
        return copy_fail(x, -errno, "create the copy of", err);
    r = copy_data(x, src, dst, (uint64_t)st->st_size);
    if (r < 0)
        return copy_fail(x, r, "copy", err);
    r = apply_meta_fd(dst, src, st);
    if (r < 0)
        return copy_fail(x, r, "copy the owner, mode, xattrs or times of", err);
    x->size += (uint64_t)st->st_size;
    return 0;
}

static int copy_symlink(struct copy_ctx *x, int src_dfd, int dst_dfd, const char *name,
                        const struct stat *st, struct rs_err *err)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(src_dfd, name, target, sizeof(target));

    if (n < 0)
        return copy_fail(x, -errno, "read the symlink", err);
    if ((size_t)n >= sizeof(target))
        return copy_fail(x, -ENAMETOOLONG, "read the symlink", err);
    target[n] = '\0';
    if (symlinkat(target, dst_dfd, name) < 0)
        return copy_fail(x, -errno, "create the copy of", err);
    int r = apply_meta_at(src_dfd, dst_dfd, name, st);
    if (r < 0)
        return copy_fail(x, r, "copy the owner, xattrs or times of", err);
    return 0;
}

static int copy_special(struct copy_ctx *x, int src_dfd, int dst_dfd, const char *name,
                        const struct stat *st, struct rs_err *err)
{
    if (mknodat(dst_dfd, name, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0)
        return copy_fail(x, -errno, "create the copy of", err);
    int r = apply_meta_at(src_dfd, dst_dfd, name, st);
    if (r < 0)
        return copy_fail(x, r, "copy the owner, mode, xattrs or times of", err);
    return 0;
}

static int copy_dir(struct copy_ctx *x, int src_fd, int dst_fd, int depth, struct rs_err *err);

static int copy_subdir(struct copy_ctx *x, int src_dfd, int dst_dfd, const char *name,
                       const struct stat *st, int depth, struct rs_err *err)
{
    _cleanup_close_ int src = -1, dst = -1;
    int r;

    if (st->st_dev == x->cache->dev && st->st_ino == x->cache->ino)
        return rs_err_msg(err, -EINVAL,
                          "'%s/%s' is the store itself; refusing to copy it into itself",
                          x->src_root, strbuf_str(&x->rel));
    src = openat(src_dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
        return copy_fail(x, -errno, "open", err);
    if (mkdirat(dst_dfd, name, 0700) < 0)
        return copy_fail(x, -errno, "create the copy of", err);
    dst = openat(dst_dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dst < 0)
        return copy_fail(x, -errno, "open the copy of", err);
    r = copy_dir(x, src, dst, depth + 1, err);
    if (r < 0)
        return r;
    r = apply_meta_fd(dst, src, st);
    if (r < 0)
        return copy_fail(x, r, "copy the owner, mode, xattrs or times of", err);
    return 0;
}

/* A second name of an inode we have already copied becomes a hard link to the copy. */
static int copy_entry(struct copy_ctx *x, int src_dfd, int dst_dfd, const char *name,
                      const struct stat *st, int depth, struct rs_err *err)
{
    bool linkable = !S_ISDIR(st->st_mode) && st->st_nlink > 1;
    int r;

    if (linkable) {
        struct inode_entry *e = inode_map_find(&x->links, st->st_dev, st->st_ino);
        if (e) {
            if (linkat(x->dst_root_fd, e->path, dst_dfd, name, 0) < 0)
                return copy_fail(x, -errno, "hard-link the copy of", err);
            return 0;
        }
    }
    switch (st->st_mode & S_IFMT) {
    case S_IFREG:
        r = copy_file(x, src_dfd, dst_dfd, name, st, err);
        break;
    case S_IFDIR:
        r = copy_subdir(x, src_dfd, dst_dfd, name, st, depth, err);
        break;
    case S_IFLNK:
        r = copy_symlink(x, src_dfd, dst_dfd, name, st, err);
        break;
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
        r = copy_special(x, src_dfd, dst_dfd, name, st, err);
        break;
    default:
        return copy_fail(x, -EINVAL, "copy (unknown file type)", err);
    }
    if (r >= 0 && linkable)
        inode_map_insert(&x->links, st->st_dev, st->st_ino, xstrdup(strbuf_str(&x->rel)));
    return r;
}

static int copy_dir(struct copy_ctx *x, int src_fd, int dst_fd, int depth, struct rs_err *err)
{
    _cleanup_closedir_ DIR *d = NULL;
    int fd;

    if (depth > MAX_DEPTH)
        return copy_fail(x, -ELOOP, "copy (too deep)", err);
    fd = openat(src_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || !(d = fdopendir(fd))) {
        safe_close(fd);
        return copy_fail(x, -errno, "read the directory", err);
    }
    size_t base_len = x->rel.len;
    for (;;) {
        struct stat st;
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                return copy_fail(x, -errno, "read the directory", err);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        x->rel.len = base_len;
        if (x->rel.buf)
            x->rel.buf[base_len] = '\0';
        if ((base_len && strbuf_addch(&x->rel, '/') < 0) || strbuf_addstr(&x->rel, de->d_name) < 0)
            return copy_fail(x, -ENAMETOOLONG, "copy", err);
        if (fstatat(src_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return copy_fail(x, -errno, "stat", err);
        int r = copy_entry(x, src_fd, dst_fd, de->d_name, &st, depth, err);
        if (r < 0)
            return r;
    }
    x->rel.len = base_len;
    if (x->rel.buf)
        x->rel.buf[base_len] = '\0';
    return 0;
}

int cache_copy_tree(struct cache *c, const char *src_path, int dst_fd, uint64_t *ret_size,
                    struct rs_err *err)
{
    struct copy_ctx x = {
        .cache = c,
        .src_root = src_path,
        .dst_root_fd = dst_fd,
        .rel = STRBUF_INIT(PATH_MAX),
        .try_clone = true,
        .try_cfr = true,
        .try_noatime = true,
    };
    _cleanup_close_ int src = -1;
    struct stat st;
    int r;

    src = open(src_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0)
        return rs_err_set(err, -errno, "cannot open the directory '%s'", src_path);
    if (fstat(src, &st) < 0)
        return rs_err_set(err, -errno, "cannot stat '%s'", src_path);
    if (st.st_dev == c->dev && st.st_ino == c->ino)
        return rs_err_msg(err, -EINVAL, "'%s' is the store itself; refusing to copy it into itself",
                          src_path);
    r = copy_dir(&x, src, dst_fd, 0, err);
    if (r >= 0) {
        r = apply_meta_fd(dst_fd, src, &st);
        if (r < 0)
            r = rs_err_set(err, r, "cannot copy the owner, mode, xattrs or times of '%s'",
                           src_path);
    }
    strbuf_release(&x.rel);
    inode_map_release(&x.links);
    free(x.buf);
    if (r < 0)
        return r;
    *ret_size = x.size;
    return 0;
}
