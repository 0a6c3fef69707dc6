#include "common/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

enum { MAX_SYMLINKS = 40, MAX_DEPTH = 256 };

static bool force_fallback;

void rs_path_force_fallback(bool on)
{
    force_fallback = on;
}

/* The walk keeps a stack of directory fds from root down, so ".." pops instead of reopening
 * by name (a renamed directory cannot take us outside), and every component is opened with
 * O_NOFOLLOW relative to its parent's fd. */
struct walk {
    int fds[MAX_DEPTH];
    int depth; /* fds[0] is a dup of root */
};

static void walk_release(struct walk *w)
{
    for (int i = 0; i < w->depth; i++)
        safe_close(w->fds[i]);
    w->depth = 0;
}

static void walk_reset_to_root(struct walk *w)
{
    for (int i = 1; i < w->depth; i++)
        safe_close(w->fds[i]);
    w->depth = 1;
}

/* Replace the unread part of the path with TARGET + "/" + rest. */
static int splice_link(struct strbuf *rest, size_t pos, const char *target)
{
    struct strbuf nb = STRBUF_INIT(PATH_MAX * 4);
    if (strbuf_addstr(&nb, target) < 0 || strbuf_addch(&nb, '/') < 0 ||
        strbuf_addstr(&nb, strbuf_str(rest) + pos) < 0) {
        strbuf_release(&nb);
        return -ENAMETOOLONG;
    }
    strbuf_release(rest);
    *rest = nb;
    return 0;
}

static int walk(int root_fd, const char *path, int flags, mode_t mode, bool mkdirs)
{
    struct walk w = { .depth = 0 };
    _cleanup_strbuf_ struct strbuf rest = STRBUF_INIT(PATH_MAX * 4);
    int n_links = 0, r;
    size_t pos = 0;

    if (strbuf_addstr(&rest, path) < 0)
        return -ENAMETOOLONG;
    w.fds[0] = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    if (w.fds[0] < 0)
        return -errno;
    w.depth = 1;

    for (;;) {
        const char *s = strbuf_str(&rest);
        while (s[pos] == '/')
            pos++;
        if (s[pos] == '\0') {
            /* Path ended on a directory (or was empty): reopen it with the caller's flags. */
            if (mkdirs)
                r = openat(w.fds[w.depth - 1], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            else
                r = openat(w.fds[w.depth - 1], ".",
                           (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
            r = r < 0 ? -errno : r;
            goto out;
        }
        size_t len = strcspn(s + pos, "/");
        char name[NAME_MAX + 1];
        if (len > NAME_MAX) {
            r = -ENAMETOOLONG;
            goto out;
        }
        memcpy(name, s + pos, len);
        name[len] = '\0';
        pos += len;
        bool last = s[pos + strspn(s + pos, "/")] == '\0';
        bool trailing_slash = s[pos] == '/';

        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            if (w.depth > 1) {
                w.depth--;
                safe_close(w.fds[w.depth]);
            }
            continue;
        }

        int parent = w.fds[w.depth - 1];
        struct stat st;
        _cleanup_close_ int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && (mkdirs || (last && (flags & O_CREAT)))) {
            if (mkdirs || trailing_slash) {
                if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
                    r = -errno;
                    goto out;
                }
                fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
            } else {
                r = openat(parent, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                r = r < 0 ? -errno : r;
                goto out;
            }
        }
        if (fd < 0) {
            r = -errno;
            goto out;
        }
        if (fstat(fd, &st) < 0) {
            r = -errno;
            goto out;
        }
        if (S_ISLNK(st.st_mode) && !(last && !trailing_slash && (flags & O_NOFOLLOW) && !mkdirs)) {
            char target[PATH_MAX];
            if (++n_links > MAX_SYMLINKS) {
                r = -ELOOP;
                goto out;
            }
            ssize_t tl = readlinkat(fd, "", target, sizeof(target) - 1);
            if (tl < 0) {
                r = -errno;
                goto out;
            }
            target[tl] = '\0';
            if (target[0] == '/')
                walk_reset_to_root(&w);
            if (trailing_slash && tl + 1 < (ssize_t)sizeof(target)) {
                target[tl++] = '/';
                target[tl] = '\0';
            }
            r = splice_link(&rest, pos, target);
            if (r < 0)
                goto out;
            pos = 0;
            continue;
        }
        if (last && !mkdirs) {
            if (S_ISLNK(st.st_mode) && !(flags & O_PATH)) {
                r = -ELOOP;
                goto out;
            }
            if ((flags & O_CREAT) && (flags & O_EXCL)) {
                r = -EEXIST;
                goto out;
            }
            /* Reopen through /proc-free means: openat on the parent with O_NOFOLLOW. */
            r = openat(parent, name, (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC);
            r = r < 0 ? -errno : r;
            goto out;
        }
        if (!S_ISDIR(st.st_mode)) {
            r = -ENOTDIR;
            goto out;
        }
        if (w.depth >= MAX_DEPTH) {
            r = -ENAMETOOLONG;
            goto out;
        }
        w.fds[w.depth++] = TAKE_FD(fd);
    }
out:
    walk_release(&w);
    return r;
}

int rs_open_in_root(int root_fd, const char *path, int flags, mode_t mode)
{
    if (!force_fallback) {
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        /* ENOSYS: old kernel; EPERM: a seccomp filter that blocks openat2. Anything else is
         * the real answer. */
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
    }
    return walk(root_fd, path, flags, mode, false);
}

/* The common cases of rs_mkdir_in_root in a few calls instead of the walk's three per
 * component: the directory exists (a mount point of the image), or only its last component is
 * missing (a mount point in a fresh tmpfs). -ENOENT when neither: the walk then makes them. */
static int mkdir_fast(int root_fd, const char *path, mode_t mode)
{
    const char *name = strrchr(path, '/');
    _cleanup_free_ char *parent = NULL;
    _cleanup_close_ int parent_fd = -1;
    int fd;

    fd = rs_open_in_root(root_fd, path, O_RDONLY | O_DIRECTORY, 0);
    if (fd != -ENOENT)
        return fd;
    name = name ? name + 1 : path;
    /* Never "." or ".." on their own: only the walk keeps those inside the root. */
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return -ENOENT;
    parent = xstrndup(path, (size_t)(name - path));
    parent_fd = rs_open_in_root(root_fd, *parent ? parent : ".", O_PATH | O_DIRECTORY, 0);
    if (parent_fd < 0)
        return -ENOENT;
    if (mkdirat(parent_fd, name, mode) < 0 && errno != EEXIST)
        return -errno;
    fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd >= 0 ? fd : -ENOENT;
}

int rs_mkdir_in_root(int root_fd, const char *path, mode_t mode)
{
    if (!force_fallback) {
        int fd = mkdir_fast(root_fd, path, mode);
        if (fd != -ENOENT)
            return fd;
    }
    return walk(root_fd, path, O_RDONLY | O_DIRECTORY, mode, true);
}

int rs_path_normalize_relative(const char *name, char **ret)
{
    struct strbuf out = STRBUF_INIT(PATH_MAX);
    const char *p = name;

    while (*p) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len == 1 && p[0] == '.') {
            p += len;
            continue;
        }
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            strbuf_release(&out);
            return -EINVAL;
        }
        if ((out.len && strbuf_addch(&out, '/') < 0) || strbuf_add(&out, p, len) < 0) {
            strbuf_release(&out);
            return -EINVAL;
        }
        p += len;
    }
    *ret = strbuf_detach(&out, NULL);
    return 0;
}
