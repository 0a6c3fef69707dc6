/* Container directories: containers/<id>/{lock,layers,upper,work,merged} (layers only when
 * the image has layers, merged unless CACHE_CONTAINER_NO_MERGED). The creating
 * process holds an exclusive flock on lock for the container's life; gc reads the layer ids
 * of every locked container and keeps them. A container dir whose lock is free is a leftover.
 *
 * containers/spare is one such directory kept between runs (CACHE_CONTAINER_REUSE). On a disk
 * each directory removed frees a block (with online discard, a synchronous discard request:
 * 0.3-0.7 ms per directory on this project's test machine) and each one made allocates one;
 * a short run's container made and removed container/, upper/, work/ and overlayfs's
 * work/work/{incompat,volatile}, about 2 ms of a 8 ms run. A run that leaves upper/ as it
 * found it (most runs without --commit: writes go to upper/, so a run that wrote anything is
 * removed as before) hands the directory to the next one instead. Renames are atomic, so of
 * two runs only one takes the spare and only one gives theirs back; gc, which needs the store
 * lock exclusively, never sees one being taken. */

#include "cache/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

struct cache_container {
    char id[RS_SHA256_HEX_LEN + 1];
    char *path;        /* owned, absolute */
    int containers_fd; /* O_DIRECTORY of the store's containers/, so we outlive the cache */
    int dir_fd;        /* O_DIRECTORY of containers/<id> */
    int lock_fd;
    bool has_layers_file;
    bool reusable; /* may become the spare when removed */
};

static struct cache_container *container_free(struct cache_container *ct)
{
    safe_close(ct->lock_fd);
    safe_close(ct->dir_fd);
    safe_close(ct->containers_fd);
    free(ct->path);
    free(ct);
    return NULL;
}

/* Written in place over a spare's file (not truncated first): freeing its block and taking
 * another would cost what the spare saves. */
static int write_layers_file(int dfd, const struct image *img)
{
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(1024 * 1024);
    _cleanup_close_ int fd = -1;

    STRV_FOREACH(l, img->layers)
        if (strbuf_addf(&sb, "%s\n", *l) < 0)
            return -E2BIG;
    fd = openat(dfd, "layers", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int r = rs_write_all(fd, sb.buf ? sb.buf : "", sb.len);
    if (r >= 0 && ftruncate(fd, (off_t)sb.len) < 0)
        r = -errno;
    return r;
}

static int set_layers_file(struct cache_container *ct, const struct image *img)
{
    if (img->layers && img->layers[0]) {
        int r = write_layers_file(ct->dir_fd, img);
        if (r < 0)
            return r;
        ct->has_layers_file = true;
    }
    return 0;
}

/* Every entry is a journaled metadata operation on the store's filesystem (1-4 ms each when the
 * disk is busy), so the directory is made in place, with only what is used: no staging under
 * tmp/ and rename (gc and verify --repair need the store lock exclusively, and we hold it shared
 * from before the mkdir until after the removal, so they never see a half-made directory; a
 * crash leaves an unlocked leftover that gc removes), and no "layers" file for an image without
 * layers (gc reads a missing file as no layers). */
static int make_container_dir(struct cache_container *ct, const struct image *img, unsigned flags)
{
    static const char *const subdirs[] = { "upper", "work", "merged" };
    size_t n_subdirs = (flags & CACHE_CONTAINER_NO_MERGED) ? 2 : 3;
    int r;

    for (int attempt = 0;; attempt++) {
        cache_random_hex(ct->id, 32);
        if (mkdirat(ct->containers_fd, ct->id, 0755) == 0)
            break;
        if (errno != EEXIST || attempt == 3)
            return -errno;
    }
    ct->dir_fd = openat(ct->containers_fd, ct->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ct->dir_fd < 0)
        return -errno;
    ct->lock_fd = openat(ct->dir_fd, "lock", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (ct->lock_fd < 0 || flock(ct->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return -errno;
    r = set_layers_file(ct, img);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n_subdirs; i++)
        if (mkdirat(ct->dir_fd, subdirs[i], i == 0 ? 0755 : 0700) < 0)
            return -errno;
    /* upper/ is the container's "/": its mode must not depend on the caller's umask. */
    if (fchmodat(ct->dir_fd, "upper", 0755, 0) < 0)
        return -errno;
    return 0;
}

/* Take containers/spare as containers/<new id>, locked; false if there is none (or it is not
 * usable: then it is removed and a new directory is made as usual). */
static bool take_spare(struct cache_container *ct, const struct image *img)
{
    cache_random_hex(ct->id, 32);
    if (renameat2(ct->containers_fd, CACHE_CONTAINER_SPARE, ct->containers_fd, ct->id,
                  RENAME_NOREPLACE) < 0)
        return false;
    ct->dir_fd = openat(ct->containers_fd, ct->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ct->dir_fd >= 0)
        ct->lock_fd = openat(ct->dir_fd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (ct->lock_fd >= 0 && flock(ct->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        if (set_layers_file(ct, img) >= 0 &&
            (ct->has_layers_file || unlinkat(ct->dir_fd, "layers", 0) == 0 || errno == ENOENT))
            return true;
    }
    log_debug("cannot reuse the spare container directory: %m");
    (void)rs_rm_rf_at(ct->containers_fd, ct->id);
    ct->lock_fd = safe_close(ct->lock_fd);
    ct->dir_fd = safe_close(ct->dir_fd);
    ct->has_layers_file = false;
    return false;
}

/* upper/ as make_container_dir left it: nothing in it, and none of its own attributes changed
 * by the container (a `chmod 700 /` inside changes upper/ itself, and the next container's "/"
 * would have it). security.* xattrs are the host's labelling, set on creation; overlayfs
 * records its own uuid on the upper at the first mount, and reads it back at the next. */
static bool upper_untouched(int dir_fd)
{
    _cleanup_close_ int fd =
        openat(dir_fd, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char names[256], buf[512];
    struct stat st;
    ssize_t n;

    if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0755 || st.st_uid != geteuid() ||
        st.st_gid != getegid() || st.st_nlink != 2)
        return false;
    n = flistxattr(fd, names, sizeof(names));
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1)
        if (strncmp(names + i, "security.", 9) != 0 &&
            strcmp(names + i, "trusted.overlay.uuid") != 0)
            return false;
    if (n < 0 && errno != ENOTSUP)
        return false;
    /* two entries: "." and ".." */
    n = getdents64(fd, buf, sizeof(buf));
    for (ssize_t off = 0; off < n;) {
        const struct dirent64 *d = (const struct dirent64 *)(buf + off);
        if (strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0)
            return false;
        off += d->d_reclen;
    }
    return n >= 0 && getdents64(fd, buf, sizeof(buf)) == 0;
}

/* Give the directory back as containers/spare, if it can be one and there is none. A mount
 * refuses a work dir with overlayfs's volatile marker in it (run_container removes it while the
 * command runs). */
static bool keep_as_spare(struct cache_container *ct)
{
    struct stat st;

    if (!ct->reusable || !upper_untouched(ct->dir_fd) ||
        fstatat(ct->dir_fd, "work/work/incompat", &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return false;
    /* The next mount would remove overlayfs's work/work and make it again; removing it here
     * is cheaper than the kernel's cleanup of it, and leaves work/ as a new one. */
    if (unlinkat(ct->dir_fd, "work/work", AT_REMOVEDIR) < 0 && errno != ENOENT)
        return false;
    return renameat2(ct->containers_fd, ct->id, ct->containers_fd, CACHE_CONTAINER_SPARE,
                     RENAME_NOREPLACE) == 0;
}

int cache_container_new_ex(struct cache *c, const struct image *img, unsigned flags,
                           struct cache_container **ret, struct rs_err *err)
{
    struct cache_container *ct;
    int r;

    STRV_FOREACH(l, img->layers)
        if (!cache_layer_has(c, *l))
            return rs_err_msg(err, -ENOENT, "image '%s': layer '%.80s' is not in the store",
                              img->name ? img->name : "?", *l);
    ct = xcalloc(1, sizeof(*ct));
    ct->dir_fd = ct->lock_fd = -1;
    ct->containers_fd = openat(c->dir_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ct->containers_fd < 0) {
        r = cache_err_write(c, -errno, err, "open", "containers");
        container_free(ct);
        return r;
    }
    ct->reusable = (flags & CACHE_CONTAINER_REUSE) && (flags & CACHE_CONTAINER_NO_MERGED);
    r = ct->reusable && take_spare(ct, img) ? 0 : make_container_dir(ct, img, flags);
    if (r < 0) {
        _cleanup_free_ char *rel = xasprintf("containers/%s", ct->id);
        cache_err_write(c, r, err, "create", rel);
        if (ct->dir_fd >= 0)
            (void)rs_rm_rf_at(ct->containers_fd, ct->id);
        container_free(ct);
        return r;
    }
    ct->path = xasprintf("%s/containers/%s", c->root, ct->id);
    *ret = ct;
    return 0;
}

int cache_container_new(struct cache *c, const struct image *img, struct cache_container **ret,
                        struct rs_err *err)
{
    return cache_container_new_ex(c, img, 0, ret, err);
}

const char *cache_container_id(const struct cache_container *ct)
{
    return ct->id;
}

const char *cache_container_path(const struct cache_container *ct)
{
    return ct->path;
}

/* rmdir dir/name, or the whole tree under it if it is not empty; a missing one is fine. */
static int remove_subdir(int dfd, const char *name)
{
    if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
        return 0;
    if (errno != ENOTEMPTY && errno != EEXIST)
        return -errno;
    return rs_rm_rf_at(dfd, name);
}

/* The layout is known, so it is removed with one unlink or rmdir per entry, deepest first,
 * instead of listing and stat'ing every directory: overlayfs leaves work/work (and, when
 * volatile, work/work/incompat/volatile/dirty); upper/ is usually empty after a short run. Anything
 * unexpected falls back to the generic tree removal. */
static int remove_container_dir(struct cache_container *ct)
{
    static const char *const files[] = { "lock", "layers", "work/work/incompat/volatile/dirty" };
    static const char *const dirs[] = {
        "upper", "work/work/incompat/volatile", "work/work/incompat", "work/work", "work", "merged",
    };
    int r = 0;

    for (size_t i = 0; i < ELEMENTSOF(files) && r >= 0; i++)
        if ((i != 1 || ct->has_layers_file) && unlinkat(ct->dir_fd, files[i], 0) < 0 &&
            errno != ENOENT)
            r = -errno;
    for (size_t i = 0; i < ELEMENTSOF(dirs) && r >= 0; i++)
        r = remove_subdir(ct->dir_fd, dirs[i]);
    if (r >= 0 && unlinkat(ct->containers_fd, ct->id, AT_REMOVEDIR) == 0)
        return 0;
    /* rs_rm_rf_at never crosses into a mount, so a still-mounted merged/ stays (and gc
     * retries once its lock is free). */
    return rs_rm_rf_at(ct->containers_fd, ct->id);
}

struct cache_container *cache_container_remove(struct cache_container *ct)
{
    if (!ct)
        return NULL;
    if (keep_as_spare(ct))
        return container_free(ct);
    int r = remove_container_dir(ct);
    if (r < 0)
        log_debug("cannot remove '%s': %s", ct->path, strerror(-r));
    return container_free(ct);
}

struct cache_container *cache_container_forget(struct cache_container *ct)
{
    if (!ct)
        return NULL;
    return container_free(ct);
}
