/* Container directories: containers/<id>/{lock,layers,upper,work,merged}. The creating
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
    int lock_fd;
};

static struct cache_container *container_free(struct cache_container *ct)
{
    safe_close(ct->lock_fd);
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

int cache_container_new(struct cache *c, const struct image *img, struct cache_container **ret,
                        struct rs_err *err)
{
    static const char *const subdirs[] = { "upper", "work", "merged" };
    _cleanup_free_ char *tmp = NULL, *target = NULL;
    _cleanup_close_ int dfd = -1, lock_fd = -1, cfd = -1;
    char id[RS_SHA256_HEX_LEN + 1];
    int r;

    STRV_FOREACH(l, img->layers)
        if (!cache_layer_has(c, *l))
            return rs_err_msg(err, -ENOENT, "image '%s': layer '%.80s' is not in the store",
                              img->name ? img->name : "?", *l);
    r = cache_mkdtemp(c, "container", &tmp, err);
    if (r < 0)
        return r;
    dfd = openat(c->dir_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = cache_err_write(c, -errno, err, "open", tmp);
        goto fail;
    }
    /* The lock is taken before the directory becomes visible under containers/, so gc never
     * sees it unlocked. */
    lock_fd = openat(dfd, "lock", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
        r = cache_err_write(c, -errno, err, "lock", tmp);
        goto fail;
    }
    r = write_layers_file(dfd, img);
    for (size_t i = 0; r >= 0 && i < ELEMENTSOF(subdirs); i++)
        if (mkdirat(dfd, subdirs[i], i == 0 ? 0755 : 0700) < 0)
            r = -errno;
    if (r < 0) {
        cache_err_write(c, r, err, "create", tmp);
        goto fail;
    }
    cfd = openat(c->dir_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0) {
        r = cache_err_write(c, -errno, err, "open", "containers");
        goto fail;
    }
    cache_random_hex(id, 32);
    target = xasprintf("containers/%s", id);
    if (renameat2(c->dir_fd, tmp, c->dir_fd, target, RENAME_NOREPLACE) < 0) {
        r = cache_err_write(c, -errno, err, "create", target);
        goto fail;
    }
    struct cache_container *ct = xcalloc(1, sizeof(*ct));
    memcpy(ct->id, id, sizeof(id));
    ct->path = xasprintf("%s/%s", c->root, target);
    ct->containers_fd = TAKE_FD(cfd);
    ct->lock_fd = TAKE_FD(lock_fd);
    *ret = ct;
    return 0;
fail:
    (void)rs_rm_rf_at(c->dir_fd, tmp);
    return r;
}

const char *cache_container_id(const struct cache_container *ct)
{
    return ct->id;
}

const char *cache_container_path(const struct cache_container *ct)
{
    return ct->path;
}

struct cache_container *cache_container_remove(struct cache_container *ct)
{
    if (!ct)
        return NULL;
    /* rs_rm_rf_at never crosses into a mount, so a still-mounted merged/ stays (and gc
     * retries once its lock is free). */
    int r = rs_rm_rf_at(ct->containers_fd, ct->id);
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
