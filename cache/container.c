/* Container directories: containers/<id>/{lock,layers,upper,work,merged} (layers only when
 * the image has layers, merged unless CACHE_CONTAINER_NO_MERGED). The creating
 * process holds an exclusive flock on lock for the container's life; gc reads the layer ids
 * of every locked container and keeps them. A container dir whose lock is free is a leftover. */

#include "cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

static int write_layers_file(int dfd, const struct image *img)
{
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(1024 * 1024);
    _cleanup_close_ int fd = -1;

    STRV_FOREACH(l, img->layers)
        if (strbuf_addf(&sb, "%s\n", *l) < 0)
            return -E2BIG;
    fd = openat(dfd, "layers", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    return rs_write_all(fd, sb.buf ? sb.buf : "", sb.len);
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
    if (img->layers && img->layers[0]) {
        r = write_layers_file(ct->dir_fd, img);
        if (r < 0)
            return r;
        ct->has_layers_file = true;
    }
    for (size_t i = 0; i < n_subdirs; i++)
        if (mkdirat(ct->dir_fd, subdirs[i], i == 0 ? 0755 : 0700) < 0)
            return -errno;
    return 0;
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
    r = make_container_dir(ct, img, flags);
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
