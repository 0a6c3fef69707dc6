/* Safe tar extraction into a directory fd: the one place where archive paths meet the
 * filesystem. Every parent is reached from root_fd one component at a time with O_NOFOLLOW
 * (crun's safe_openat), so no entry, symlink or hard link can write outside the root. */
#include "image/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/path.h"
#include "common/xalloc.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META   ".wh..wh."

#define DIR_STACK_MAX 64

/* A set of paths, for duplicate detection: open addressing, FNV-1a. */
struct pathset {
    char **slots;
    size_t n, cap;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Insert s (copied); returns false if it was already there. */
static bool pathset_add(struct pathset *ps, const char *s)
{
    if ((ps->n + 1) * 2 > ps->cap) {
        size_t ncap = ps->cap ? ps->cap * 2 : 1024;
        char **nslots = xcalloc(ncap, sizeof(char *));
        for (size_t i = 0; i < ps->cap; i++) {
            if (!ps->slots[i])
                continue;
            size_t j = fnv1a(ps->slots[i]) & (ncap - 1);
            while (nslots[j])
                j = (j + 1) & (ncap - 1);
            nslots[j] = ps->slots[i];
        }
        free(ps->slots);
        ps->slots = nslots;
        ps->cap = ncap;
    }
    size_t j = fnv1a(s) & (ps->cap - 1);
    while (ps->slots[j]) {
        if (strcmp(ps->slots[j], s) == 0)
            return false;
        j = (j + 1) & (ps->cap - 1);
    }
    ps->slots[j] = xstrdup(s);
    ps->n++;
    return true;
}

static void pathset_release(struct pathset *ps)
{
    for (size_t i = 0; i < ps->cap; i++)
        free(ps->slots[i]);
    free(ps->slots);
    *ps = (struct pathset){ 0 };
}

struct dirtime {
    char *path;
    struct timespec mtime;
};

struct xstate {
    struct archive *in;
    int root_fd;
    unsigned flags;
    uint64_t max_bytes, max_entries;
    size_t max_path_len;
    struct pathset seen;
    uint64_t n_entries, n_bytes;
    /* The parent directory of the previous entry, as one O_PATH fd per path component
     * (dir_fds[i] is the first i+1 components of dir_path): consecutive entries mostly share
     * the parent, and a sorted archive moves to a sibling or a child, which costs one openat
     * instead of a walk from the root. Components past DIR_STACK_MAX are not kept; deep_fd is
     * then the parent itself. */
    char *dir_path;
    int dir_fds[DIR_STACK_MAX];
    size_t n_dir_fds;
    int deep_fd;
    bool dir_stale;
    struct dirtime *dirs;
    size_t n_dirs, alloc_dirs;
};

static void xstate_release(struct xstate *x)
{
    pathset_release(&x->seen);
    free(x->dir_path);
    for (size_t i = 0; i < x->n_dir_fds; i++)
        safe_close(x->dir_fds[i]);
    safe_close(x->deep_fd);
    for (size_t i = 0; i < x->n_dirs; i++)
        free(x->dirs[i].path);
    free(x->dirs);
}

/* Open (creating when `create`) the component comp of rel, which ends at comp_end, below the
 * directory cur, as an O_PATH fd. A symlink there is refused or, with
 * OCI_EXTRACT_FOLLOW_SYMLINKS, resolved inside root. Returns the fd or -errno with err filled
 * naming `entry`. */
static int open_component(struct xstate *x, int cur, const char *comp, const char *rel,
                          size_t comp_end, bool create, const char *entry, struct rs_err *err)
{
    int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
            return rs_err_set(err, -errno, "entry '%s': cannot create directory '%s'", entry, comp);
        fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0 && (errno == ENOTDIR || errno == ELOOP)) {
        struct stat st;
        _cleanup_free_ char *prefix = xstrndup(rel, comp_end);
        if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
            if (!(x->flags & OCI_EXTRACT_FOLLOW_SYMLINKS))
                return rs_err_msg(err, -ELOOP, "entry '%s' goes through the symlink '%s'", entry,
                                  prefix);
            /* Resolved as the container sees it: absolute targets and ".." stay in root. */
            fd = rs_open_in_root(x->root_fd, prefix, O_PATH | O_DIRECTORY, 0);
            if (fd < 0)
                return rs_err_set(err, fd, "entry '%s': cannot follow the symlink '%s'", entry,
                                  prefix);
            return fd;
        }
        return rs_err_msg(err, -ENOTDIR, "entry '%s': '%s' is not a directory", entry, prefix);
    }
    if (fd < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot open directory '%s'", entry, comp);
    return fd;
}

/* Open (creating when `create`) the directory rel under root as an O_PATH fd, from the root
 * one component at a time. Returns the fd or -errno with err filled naming `entry`. */
static int open_dir_in_root(struct xstate *x, const char *rel, bool create, const char *entry,
                            struct rs_err *err)
{
    _cleanup_close_ int cur = fcntl(x->root_fd, F_DUPFD_CLOEXEC, 3);
    _cleanup_free_ char *copy = xstrdup(rel);
    char *save = NULL;

    if (cur < 0)
        return rs_err_set(err, -errno, "cannot duplicate the root fd");
    for (char *comp = strtok_r(copy, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int fd = open_component(x, cur, comp, rel, (size_t)(comp - copy) + strlen(comp), create,
                                entry, err);
        if (fd < 0)
            return fd;
        safe_close(cur);
        cur = fd;
    }
    return TAKE_FD(cur);
}

static void dir_cache_drop(struct xstate *x, size_t keep)
{
    while (x->n_dir_fds > keep) {
        x->n_dir_fds--;
        x->dir_fds[x->n_dir_fds] = safe_close(x->dir_fds[x->n_dir_fds]);
    }
    x->deep_fd = safe_close(x->deep_fd);
    if (keep == 0) {
        free(x->dir_path);
        x->dir_path = NULL;
    }
}

/* The length of the longest common prefix of a and b that ends at a component boundary of
 * both, and how many components it has. */
static size_t common_components(const char *a, const char *b, size_t *ret_n)
{
    size_t len = 0, n = 0, i = 0;
    for (;; i++) {
        bool ea = a[i] == '\0' || a[i] == '/', eb = b[i] == '\0' || b[i] == '/';
        if (ea && eb && i > 0) {
            len = i;
            n++;
        }
        if (a[i] != b[i] || a[i] == '\0')
            break;
    }
    *ret_n = n;
    return len;
}

/* The parent directory of an entry (borrowed fd), reusing the cached components it shares
 * with the previous entry's parent.
 *
 * Why the cache is safe: every cached fd is a directory reached component by component with
 * O_NOFOLLOW (or a symlink resolved inside root, with OCI_EXTRACT_FOLLOW_SYMLINKS). The
 * extractor never removes or renames a directory, so a cached directory stays what its path
 * names; whenever it unlinks anything (which could be a symlink that was followed) the cache is
 * dropped (parent_forget). A symlink the archive creates is a new child of the parent, never a
 * cached component: a later entry below it opens it with O_NOFOLLOW like any other. */
static int parent_dir(struct xstate *x, const char *parent, const char *entry, struct rs_err *err)
{
    if (x->dir_stale) {
        dir_cache_drop(x, 0);
        x->dir_stale = false;
    }
    if (x->dir_path && strcmp(x->dir_path, parent) == 0)
        return x->deep_fd >= 0 ? x->deep_fd
                               : (x->n_dir_fds ? x->dir_fds[x->n_dir_fds - 1] : x->root_fd);
    size_t n_common = 0;
    size_t len = x->dir_path ? common_components(x->dir_path, parent, &n_common) : 0;
    if (n_common > x->n_dir_fds) { /* beyond DIR_STACK_MAX: walk from the deepest kept fd */
        n_common = x->n_dir_fds;
        len = 0;
        for (size_t i = 0; i < n_common; i++)
            len += strcspn(parent + len + (i ? 1 : 0), "/") + (i ? 1 : 0);
    }
    dir_cache_drop(x, n_common);
    free(x->dir_path);
    x->dir_path = NULL;

    _cleanup_free_ char *copy = xstrdup(parent);
    char *save = NULL;
    int cur = n_common ? x->dir_fds[n_common - 1] : x->root_fd;
    for (char *comp = strtok_r(copy + len, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
        int fd = open_component(x, cur, comp, parent, (size_t)(comp - copy) + strlen(comp), true,
                                entry, err);
        if (fd < 0) {
            dir_cache_drop(x, 0);
            return fd;
        }
        if (x->n_dir_fds < DIR_STACK_MAX && x->deep_fd < 0) {
            x->dir_fds[x->n_dir_fds++] = fd;
        } else {
            safe_close(x->deep_fd);
            x->deep_fd = fd;
        }
        cur = fd;
    }
    x->dir_path = xstrdup(parent);
    return cur;
}

/* Forget the cached parent before the next entry (its fd stays valid for the current one): a
 * path was replaced or a symlink created, so the cached resolution may no longer hold. */
static void parent_forget(struct xstate *x)
{
    x->dir_stale = true;
}

static bool xattr_is_overlay(const char *name)
{
    return strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0;
}

static int apply_xattrs(struct archive_entry *e, int fd, const char *entry, struct rs_err *err)
{
    const char *name;
    const void *value;
    size_t size;

    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (xattr_is_overlay(name)) {
            log_debug("entry '%s': dropping xattr '%s'", entry, name);
            continue;
        }
        if (fsetxattr(fd, name, value, size, 0) < 0) {
            /* A filesystem without user xattrs should not fail the import of a layer whose
             * producer happened to set one; a lost capability would change behaviour. */
            if ((errno == ENOTSUP || errno == EPERM) && strncmp(name, "security.", 9) != 0) {
                log_debug("entry '%s': cannot set xattr '%s', ignoring", entry, name);
                continue;
            }
            return rs_err_set(err, -errno, "entry '%s': cannot set xattr '%s'", entry, name);
        }
    }
    return 0;
}

/* Owner, mode, xattrs and (unless a directory) mtime of a just-created fd. chown comes first:
 * it clears setuid bits that the chmod must set. */
static int apply_meta_fd(struct xstate *x, struct archive_entry *e, int fd, const char *entry,
                         bool is_dir, struct rs_err *err)
{
    if (!(x->flags & OCI_EXTRACT_NO_CHOWN) &&
        fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot change the owner", entry);
    if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot change the mode", entry);
    int r = apply_xattrs(e, fd, entry, err);
    if (r < 0)
        return r;
    struct timespec ts[2] = {
        { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
        { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
    };
    if (is_dir) {
        /* Children created later would bump it again: set at the end, deepest first. */
        if (x->n_dirs == x->alloc_dirs) {
            x->alloc_dirs = x->alloc_dirs ? x->alloc_dirs * 2 : 64;
            x->dirs = xreallocarray(x->dirs, x->alloc_dirs, sizeof(*x->dirs));
        }
        x->dirs[x->n_dirs++] = (struct dirtime){ .path = xstrdup(entry), .mtime = ts[1] };
        return 0;
    }
    if (futimens(fd, ts) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot set the mtime", entry);
    return 0;
}

/* The same for things that cannot be opened for writing (symlinks, devices, fifos). */
static int apply_meta_at(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                         const char *entry, bool is_link, struct rs_err *err)
{
    if (!(x->flags & OCI_EXTRACT_NO_CHOWN) &&
        fchownat(dfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot change the owner", entry);
    if (!is_link && fchmodat(dfd, name, archive_entry_perm(e) & 07777, 0) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot change the mode", entry);
    struct timespec ts[2] = {
        { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
        { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
    };
    if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot set the mtime", entry);
    return 0;
}

static int archive_failed(struct archive *a, int r, const char *entry, struct rs_err *err)
{
    const char *msg = archive_error_string(a);
    int code = archive_errno(a);
    (void)r;
    /* libarchive reports format problems with assorted errnos; only real I/O errors keep theirs. */
    if (code != EIO && code != ENOMEM && code != ENOSPC && code != EFBIG)
        code = EBADMSG;
    if (entry)
        return rs_err_msg(err, -code, "entry '%s': %s (libarchive)", entry,
                          msg ? msg : "read error");
    return rs_err_msg(err, -code, "bad tar archive: %s (libarchive)", msg ? msg : "read error");
}

static int write_data(struct xstate *x, struct archive_entry *e, int fd, const char *entry,
                      struct rs_err *err)
{
    int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    int64_t pos = 0;

    for (;;) {
        const void *buf;
        size_t size;
        int64_t offset;
        int r = archive_read_data_block(x->in, &buf, &size, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return archive_failed(x->in, r, entry, err);
        if (offset < 0 || (uint64_t)offset + size > x->max_bytes ||
            x->n_bytes + (uint64_t)(offset - pos) + size > x->max_bytes)
            return rs_err_msg(err, -EFBIG,
                              "entry '%s': content exceeds the limit of %" PRIu64 " bytes", entry,
                              x->max_bytes);
        x->n_bytes += (uint64_t)(offset > pos ? offset - pos : 0) + size;
        const char *p = buf;
        size_t left = size;
        while (left > 0) {
            ssize_t n = pwrite(fd, p, left, offset);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return rs_err_set(err, -errno, "entry '%s': cannot write", entry);
            p += n;
            left -= (size_t)n;
            offset += n;
        }
        pos = offset;
    }
    if (pos < declared) {
        /* A trailing hole of a sparse file. */
        x->n_bytes += (uint64_t)(declared - pos);
        if (ftruncate(fd, declared) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot set the size", entry);
    }
    return 0;
}

/* What is at name in dfd now; 0 when nothing, else st_mode's type bits. */
static mode_t existing_type(int dfd, const char *name, struct stat *st)
{
    if (fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    return st->st_mode & S_IFMT;
}

/* Make room for a non-directory entry at name: refuse or remove what is there. */
static int clear_path(struct xstate *x, int dfd, const char *name, const char *entry,
                      struct rs_err *err)
{
    struct stat st;
    mode_t t = existing_type(dfd, name, &st);
    if (t == 0)
        return 0;
    if (t == S_IFDIR)
        return rs_err_msg(err, -EISDIR, "entry '%s' would replace a directory", entry);
    if (x->flags & OCI_EXTRACT_NO_OVERWRITE)
        return rs_err_msg(err, -EEXIST, "entry '%s' already exists", entry);
    if (unlinkat(dfd, name, 0) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot replace the existing file", entry);
    parent_forget(x);
    return 0;
}

static int extract_dir(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                       const char *entry, struct rs_err *err)
{
    struct stat st;
    mode_t t = 0;

    /* Create first and look only when something is in the way: a fresh layer has nothing. */
    if (mkdirat(dfd, name, 0700) == 0)
        t = S_IFDIR;
    else if (errno != EEXIST)
        return rs_err_set(err, -errno, "entry '%s': cannot create directory", entry);
    else
        t = existing_type(dfd, name, &st);

    if (t == S_IFLNK) {
        if (x->flags & OCI_EXTRACT_KEEP_DIR_SYMLINKS) {
            _cleanup_close_ int fd = rs_open_in_root(x->root_fd, entry, O_PATH | O_DIRECTORY, 0);
            if (fd >= 0) {
                log_debug("entry '%s': keeping the existing symlink to a directory", entry);
                return 0;
            }
        }
        if (x->flags & OCI_EXTRACT_NO_OVERWRITE)
            return rs_err_msg(err, -EEXIST, "entry '%s' would replace a symlink", entry);
        if (unlinkat(dfd, name, 0) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot replace the symlink", entry);
        parent_forget(x);
        t = 0;
    } else if (t != 0 && t != S_IFDIR) {
        if (x->flags & OCI_EXTRACT_NO_OVERWRITE)
            return rs_err_msg(err, -EEXIST, "entry '%s' would replace a file", entry);
        if (unlinkat(dfd, name, 0) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot replace the file", entry);
        t = 0;
    }
    /* Another extractor working in the same tree (mkroot unpacks packages in parallel) may
     * create the directory between our look and our mkdir: then it merges like one that was
     * already there. Anything else in its place is still an error. */
    if (t == 0 && mkdirat(dfd, name, 0700) < 0) {
        int r = -errno;
        if (r != -EEXIST || existing_type(dfd, name, &st) != S_IFDIR)
            return rs_err_set(err, r, "entry '%s': cannot create directory", entry);
        log_debug("entry '%s': created concurrently, merging", entry);
    }
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot open directory", entry);
    return apply_meta_fd(x, e, fd, entry, true, err);
}

static int extract_file(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                        const char *entry, struct rs_err *err)
{
    int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (size < 0 || (uint64_t)size > x->max_bytes - x->n_bytes)
        return rs_err_msg(err, -EFBIG, "entry '%s': content exceeds the limit of %" PRIu64 " bytes",
                          entry, x->max_bytes);
    /* Create first and look only when something is in the way: a fresh layer has nothing. */
    _cleanup_close_ int fd =
        openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        int r = clear_path(x, dfd, name, entry, err);
        if (r < 0)
            return r;
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    if (fd < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot create file", entry);
    int r = write_data(x, e, fd, entry, err);
    if (r < 0)
        return r;
    return apply_meta_fd(x, e, fd, entry, false, err);
}

static int extract_hardlink(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                            const char *entry, struct rs_err *err)
{
    _cleanup_free_ char *target = NULL;
    const char *raw = archive_entry_hardlink(e);

    if (rs_path_normalize_relative(raw, &target) < 0 || target[0] == '\0')
        return rs_err_msg(err, -EINVAL, "entry '%s': hard link to '%s' leaves the root", entry,
                          raw);
    if (strlen(target) > x->max_path_len)
        return rs_err_msg(err, -ENAMETOOLONG, "entry '%s': hard link target is too long", entry);
    char *slash = strrchr(target, '/');
    const char *tname = slash ? slash + 1 : target;
    _cleanup_free_ char *tparent = slash ? xstrndup(target, (size_t)(slash - target)) : xstrdup("");
    _cleanup_close_ int tdfd = open_dir_in_root(x, tparent, false, entry, err);
    if (tdfd == -ENOENT) {
        if (err)
            rs_err_release(err);
        return rs_err_msg(err, -ENOENT, "entry '%s': hard link target '%s' does not exist", entry,
                          target);
    }
    if (tdfd < 0)
        return tdfd;
    struct stat st;
    mode_t t = existing_type(tdfd, tname, &st);
    if (t == 0)
        return rs_err_msg(err, -ENOENT, "entry '%s': hard link target '%s' does not exist", entry,
                          target);
    if (t == S_IFDIR)
        return rs_err_msg(err, -EPERM, "entry '%s': hard link to the directory '%s'", entry,
                          target);
    if (t == S_IFCHR || t == S_IFBLK) {
        if (!(x->flags & OCI_EXTRACT_ALLOW_DEVICES))
            return rs_err_msg(err, -EPERM, "entry '%s': hard link to the device '%s'", entry,
                              target);
    }
    int r = clear_path(x, dfd, name, entry, err);
    if (r < 0)
        return r;
    if (linkat(tdfd, tname, dfd, name, 0) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot link to '%s'", entry, target);
    return 0;
}

static int extract_symlink(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                           const char *entry, struct rs_err *err)
{
    const char *target = archive_entry_symlink(e);
    if (!target || !*target)
        return rs_err_msg(err, -EBADMSG, "entry '%s': symlink without a target", entry);
    if (strlen(target) > x->max_path_len)
        return rs_err_msg(err, -ENAMETOOLONG, "entry '%s': symlink target is too long", entry);
    /* No parent_forget(): a new symlink is a child of the parent, never a cached component. */
    if (symlinkat(target, dfd, name) < 0) {
        if (errno != EEXIST)
            return rs_err_set(err, -errno, "entry '%s': cannot create symlink", entry);
        int r = clear_path(x, dfd, name, entry, err);
        if (r < 0)
            return r;
        if (symlinkat(target, dfd, name) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot create symlink", entry);
    }
    return apply_meta_at(x, e, dfd, name, entry, true, err);
}

static int extract_node(struct xstate *x, struct archive_entry *e, int dfd, const char *name,
                        const char *entry, mode_t type, struct rs_err *err)
{
    dev_t dev = 0;
    if (type == S_IFCHR || type == S_IFBLK) {
        if (!(x->flags & OCI_EXTRACT_ALLOW_DEVICES))
            return rs_err_msg(err, -EPERM, "entry '%s': device nodes are not allowed here", entry);
        dev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
    }
    if (mknodat(dfd, name, type | 0600, dev) < 0) {
        if (errno != EEXIST)
            return rs_err_set(err, -errno, "entry '%s': cannot create the node", entry);
        int r = clear_path(x, dfd, name, entry, err);
        if (r < 0)
            return r;
        if (mknodat(dfd, name, type | 0600, dev) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot create the node", entry);
    }
    return apply_meta_at(x, e, dfd, name, entry, false, err);
}

static int extract_whiteout(struct xstate *x, struct archive_entry *e, int dfd, const char *parent,
                            const char *name, const char *entry, struct rs_err *err)
{
    if (strcmp(name, WH_OPAQUE) == 0) {
        const char *xname =
            (x->flags & OCI_EXTRACT_USER_XATTR) ? "user.overlay.opaque" : "trusted.overlay.opaque";
        _cleanup_close_ int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsetxattr(fd, xname, "y", 1, 0) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot mark '%s' opaque", entry,
                              *parent ? parent : "/");
        return 0;
    }
    if (strncmp(name, WH_META, strlen(WH_META)) == 0)
        return rs_err_msg(err, -ENOTSUP, "entry '%s': unsupported whiteout kind", entry);
    const char *victim = name + strlen(WH_PREFIX);
    if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
        return rs_err_msg(err, -EINVAL, "entry '%s': bad whiteout name", entry);
    if (x->flags & OCI_EXTRACT_REFUSE_DUPLICATES) {
        _cleanup_free_ char *vpath = *parent ? xasprintf("%s/%s", parent, victim) : xstrdup(victim);
        if (!pathset_add(&x->seen, vpath))
            return rs_err_msg(err, -EEXIST,
                              "entry '%s': whiteout of '%s', which the layer also ships", entry,
                              vpath);
    }
    int r = clear_path(x, dfd, victim, entry, err);
    if (r < 0)
        return r;
    if (mknodat(dfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot create the whiteout", entry);
    if (!(x->flags & OCI_EXTRACT_NO_CHOWN) &&
        fchownat(dfd, victim, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return rs_err_set(err, -errno, "entry '%s': cannot change the owner", entry);
    return 0;
}

/* The archive's root entry ("./"): only a directory, whose metadata goes to root_fd. */
static int extract_root(struct xstate *x, struct archive_entry *e, struct rs_err *err)
{
    if (archive_entry_filetype(e) != AE_IFDIR || archive_entry_hardlink(e))
        return rs_err_msg(err, -EINVAL, "entry '%s': the root must be a directory",
                          archive_entry_pathname(e));
    _cleanup_close_ int fd = openat(x->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open the extraction root");
    return apply_meta_fd(x, e, fd, ".", true, err);
}

static int extract_entry(struct xstate *x, struct archive_entry *e, struct rs_err *err)
{
    const char *raw = archive_entry_pathname(e);
    _cleanup_free_ char *rel = NULL;

    if (!raw)
        return rs_err_msg(err, -EBADMSG, "entry without a path");
    if (strlen(raw) > x->max_path_len)
        return rs_err_msg(err, -ENAMETOOLONG, "entry '%.64s…': path longer than %zu bytes", raw,
                          x->max_path_len);
    if (rs_path_normalize_relative(raw, &rel) < 0)
        return rs_err_msg(err, -EINVAL, "entry '%s': path leaves the root ('..')", raw);
    if (raw[0] == '/')
        return rs_err_msg(err, -EINVAL, "entry '%s': absolute path", raw);
    if (rel[0] == '\0')
        return extract_root(x, e, err);

    char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    _cleanup_free_ char *parent = slash ? xstrndup(rel, (size_t)(slash - rel)) : xstrdup("");
    bool whiteout = (x->flags & OCI_EXTRACT_WHITEOUTS) && strncmp(name, WH_PREFIX, 4) == 0;

    if ((x->flags & OCI_EXTRACT_REFUSE_DUPLICATES) && !pathset_add(&x->seen, rel))
        return rs_err_msg(err, -EEXIST, "entry '%s' appears twice in the archive", rel);
    int dfd = parent_dir(x, parent, rel, err);
    if (dfd < 0)
        return dfd;
    if (whiteout)
        return extract_whiteout(x, e, dfd, parent, name, rel, err);
    if (archive_entry_hardlink(e))
        return extract_hardlink(x, e, dfd, name, rel, err);

    mode_t type = archive_entry_filetype(e);
    switch (type) {
    case AE_IFDIR:
        return extract_dir(x, e, dfd, name, rel, err);
    case AE_IFREG:
        return extract_file(x, e, dfd, name, rel, err);
    case AE_IFLNK:
        return extract_symlink(x, e, dfd, name, rel, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return extract_node(x, e, dfd, name, rel, type, err);
    case AE_IFSOCK:
        log_debug("entry '%s': skipping a socket", rel);
        return 0;
    default:
        return rs_err_msg(err, -EBADMSG, "entry '%s': unknown file type 0%o", rel, type);
    }
}

static int fix_dir_times(struct xstate *x, struct rs_err *err)
{
    for (size_t i = x->n_dirs; i-- > 0;) {
        _cleanup_close_ int fd =
            rs_open_in_root(x->root_fd, x->dirs[i].path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        struct timespec ts[2] = { x->dirs[i].mtime, x->dirs[i].mtime };
        if (fd < 0)
            continue; /* replaced by a later entry of a lax archive */
        if (futimens(fd, ts) < 0)
            return rs_err_set(err, -errno, "entry '%s': cannot set the mtime", x->dirs[i].path);
    }
    return 0;
}

int oci_tar_extract(struct archive *in, int root_fd, const struct oci_extract_options *opts,
                    struct oci_extract_stats *ret_stats, struct rs_err *err)
{
    struct xstate x = {
        .in = in,
        .root_fd = root_fd,
        .flags = opts ? opts->flags : 0,
        .max_bytes = opts && opts->max_bytes ? opts->max_bytes : OCI_DEFAULT_MAX_BYTES,
        .max_entries = opts && opts->max_entries ? opts->max_entries : OCI_DEFAULT_MAX_ENTRIES,
        .max_path_len = opts && opts->max_path_len ? opts->max_path_len : OCI_DEFAULT_MAX_PATH_LEN,
        .deep_fd = -1,
    };
    int r = 0;

    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(in, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            r = archive_failed(in, ar, NULL, err);
            goto out;
        }
        if (++x.n_entries > x.max_entries) {
            r = rs_err_msg(err, -EFBIG, "archive has more than %" PRIu64 " entries", x.max_entries);
            goto out;
        }
        r = extract_entry(&x, e, err);
        if (r < 0)
            goto out;
    }
    r = fix_dir_times(&x, err);
    if (r < 0)
        goto out;
    if (ret_stats)
        *ret_stats = (struct oci_extract_stats){ .n_entries = x.n_entries, .n_bytes = x.n_bytes };
    r = 0;
out:
    xstate_release(&x);
    return r;
}
