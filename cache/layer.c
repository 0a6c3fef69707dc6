/* Layers (staged under tmp/, published by rename), build keys and their locks. */

#include "cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"

#define MAX_META_SIZE (1024 * 1024)

struct cache_layer_stage {
    struct cache *cache;
    char *dir;       /* owned, "tmp/layer-…" relative to the store root */
    char *root_path; /* owned, absolute path of dir/root */
    int root_fd;
};

int cache_layer_stage_new(struct cache *c, struct cache_layer_stage **ret, struct rs_err *err)
{
    _cleanup_free_ char *dir = NULL, *root_rel = NULL;
    struct cache_layer_stage *s;
    int r, fd;

    r = cache_mkdtemp(c, "layer", &dir, err);
    if (r < 0)
        return r;
    root_rel = xasprintf("%s/root", dir);
    if (mkdirat(c->dir_fd, root_rel, 0755) < 0 ||
        (fd = openat(c->dir_fd, root_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        r = cache_err_write(c, -errno, err, "create", root_rel);
        (void)rs_rm_rf_at(c->dir_fd, dir);
        return r;
    }
    s = xcalloc(1, sizeof(*s));
    s->cache = c;
    s->dir = TAKE_PTR(dir);
    s->root_path = xasprintf("%s/%s", c->root, root_rel);
    s->root_fd = fd;
    *ret = s;
    return 0;
}

int cache_layer_stage_root_fd(const struct cache_layer_stage *s)
{
    return s->root_fd;
}

const char *cache_layer_stage_root_path(const struct cache_layer_stage *s)
{
    return s->root_path;
}

struct cache_layer_stage *cache_layer_stage_abort(struct cache_layer_stage *s)
{
    if (!s)
        return NULL;
    safe_close(s->root_fd);
    if (s->dir) {
        int r = rs_rm_rf_at(s->cache->dir_fd, s->dir);
        if (r < 0)
            log_debug("cannot remove '%s/%s': %s", s->cache->root, s->dir, strerror(-r));
    }
    free(s->dir);
    free(s->root_path);
    free(s);
    return NULL;
}

static void layer_id_for(const struct layer_meta *meta, const char *key,
                         char id[RS_SHA256_HEX_LEN + 1])
{
    if (!key) {
        cache_random_hex(id, 32);
        return;
    }
    _cleanup_free_ char *text = xasprintf("%s\n%s", meta->parent ? meta->parent : "", key);
    rs_sha256_buf(text, strlen(text), id);
}

/* Write layer.json into the staging dir and rename the dir to layers/<id>. Returns 1 if a
 * layer with this id was already there (the stage is then left for the caller to remove). */
static int publish_staged_dir(struct cache *c, const char *dir, int root_fd,
                              const struct layer_meta *meta, const char *id, struct rs_err *err)
{
    struct layer_meta m = *meta;
    _cleanup_free_ char *json = NULL, *meta_rel = NULL, *target = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    if (meta->parent && !cache_layer_has(c, meta->parent))
        return rs_err_msg(err, -ENOENT, "parent layer '%s' is not in the store", meta->parent);
    m.id = (char *)id;
    if (m.created == 0)
        m.created = (int64_t)time(NULL);
    if (m.size == 0) {
        r = cache_tree_size(root_fd, &m.size);
        if (r < 0)
            return rs_err_set(err, r, "cannot measure the layer in '%s/%s'", c->root, dir);
    }
    json = layer_meta_to_json(&m);
    meta_rel = xasprintf("%s/layer.json", dir);
    fd = openat(c->dir_fd, meta_rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cache_err_write(c, -errno, err, "write", meta_rel);
    r = rs_write_all(fd, json, strlen(json));
    if (r < 0)
        return cache_err_write(c, r, err, "write", meta_rel);
    target = xasprintf("layers/%s", id);
    if (renameat2(c->dir_fd, dir, c->dir_fd, target, RENAME_NOREPLACE) < 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            return 1;
        return cache_err_write(c, -errno, err, "publish", target);
    }
    log_debug("published layer %s", id);
    return 0;
}

int cache_layer_stage_publish(struct cache_layer_stage *s, const struct layer_meta *meta,
                              const char *key, char ret_id[RS_SHA256_HEX_LEN + 1],
                              struct rs_err *err)
{
    char id[RS_SHA256_HEX_LEN + 1];
    int r;

    layer_id_for(meta, key, id);
    if (cache_layer_has(s->cache, id)) {
        r = 1;
    } else {
        r = publish_staged_dir(s->cache, s->dir, s->root_fd, meta, id, err);
        if (r == 0) {
            free(s->dir); /* renamed into place: nothing left to remove */
            s->dir = NULL;
        }
    }
    cache_layer_stage_abort(s);
    if (r < 0)
        return r;
    memcpy(ret_id, id, sizeof(id));
    return 0;
}

int cache_layer_publish_dir(struct cache *c, const char *dir_path, const struct layer_meta *meta,
                            const char *key, char ret_id[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    char id[RS_SHA256_HEX_LEN + 1];
    _cleanup_free_ char *dir = NULL, *root_rel = NULL;
    _cleanup_close_ int root_fd = -1;
    int r;

    layer_id_for(meta, key, id);
    if (cache_layer_has(c, id)) {
        memcpy(ret_id, id, sizeof(id));
        return 0;
    }
    r = cache_mkdtemp(c, "layer", &dir, err);
    if (r < 0)
        return r;
    root_rel = xasprintf("%s/root", dir);
    if (renameat(AT_FDCWD, dir_path, c->dir_fd, root_rel) < 0) {
        r = -errno;
        (void)rs_rm_rf_at(c->dir_fd, dir);
        rs_err_set(err, r, "cannot move '%s' into the store '%s'", dir_path, c->root);
        if (r == -EXDEV)
            rs_err_hint(err, "the directory must be on the store's filesystem");
        return r;
    }
    root_fd = openat(c->dir_fd, root_rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (root_fd < 0)
        r = rs_err_set(err, -errno, "cannot open '%s/%s'", c->root, root_rel);
    else
        r = publish_staged_dir(c, dir, root_fd, meta, id, err);
    if (r != 0) {
        /* Not published: leave the caller's directory where it was if we can. */
        if (renameat(c->dir_fd, root_rel, AT_FDCWD, dir_path) < 0)
            log_debug("cannot move '%s/%s' back to '%s': %m", c->root, root_rel, dir_path);
        (void)rs_rm_rf_at(c->dir_fd, dir);
        if (r < 0)
            return r;
    }
    memcpy(ret_id, id, sizeof(id));
    return 0;
}

bool cache_layer_has(struct cache *c, const char *id)
{
    if (!rs_sha256_hex_valid(id))
        return false;
    _cleanup_free_ char *rel = xasprintf("layers/%s/layer.json", id);
    return faccessat(c->dir_fd, rel, F_OK, 0) == 0;
}

char *cache_layer_root_path(struct cache *c, const char *id)
{
    return xasprintf("%s/layers/%s/root", c->root, id);
}

int cache_layer_meta(struct cache *c, const char *id, struct layer_meta *ret, struct rs_err *err)
{
    _cleanup_free_ char *rel = NULL, *json = NULL;
    size_t len;
    struct layer_meta m;
    int r;

    if (!rs_sha256_hex_valid(id))
        return rs_err_msg(err, -EINVAL, "invalid layer id '%.80s'", id);
    rel = xasprintf("layers/%s/layer.json", id);
    r = rs_read_file_at(c->dir_fd, rel, MAX_META_SIZE, &json, &len, err);
    if (r == -ENOENT)
        return rs_err_msg(err, -ENOENT, "layer '%s' is not in the store", id);
    if (r < 0)
        return rs_err_wrap(err, "layer '%s'", id);
    r = layer_meta_from_json(json, len, &m, err);
    if (r < 0)
        return rs_err_wrap(err, "'%s/%s'", c->root, rel);
    if (strcmp(m.id, id) != 0) {
        layer_meta_release(&m);
        return rs_err_msg(err, -EBADMSG, "'%s/%s' names another layer", c->root, rel);
    }
    *ret = m;
    return 0;
}

int cache_layer_set_diff_id(struct cache *c, const char *id, const char *diff_id,
                            struct rs_err *err)
{
    struct layer_meta m;
    _cleanup_free_ char *json = NULL, *dir = NULL;
    int r;

    if (strncmp(diff_id, "sha256:", 7) != 0 || !rs_sha256_hex_valid(diff_id + 7))
        return rs_err_msg(err, -EINVAL, "invalid diffID '%.80s'", diff_id);
    r = cache_layer_meta(c, id, &m, err);
    if (r < 0)
        return r;
    free(m.diff_id);
    m.diff_id = xstrdup(diff_id);
    json = layer_meta_to_json(&m);
    layer_meta_release(&m);
    dir = xasprintf("layers/%s", id);
    return cache_write_atomic(c, dir, "layer.json", json, strlen(json), err);
}

/* ---- build keys ---- */

int cache_recipe_get(struct cache *c, const char *key, char ret_layer_id[RS_SHA256_HEX_LEN + 1])
{
    _cleanup_free_ char *rel = NULL, *text = NULL;
    size_t len;

    if (!cache_key_valid(key))
        return -EINVAL;
    rel = xasprintf("recipes/%s", key);
    if (rs_read_file_at(c->dir_fd, rel, 4096, &text, &len, NULL) < 0)
        return -ENOENT;
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (!rs_sha256_hex_valid(text) || !cache_layer_has(c, text))
        return -ENOENT;
    memcpy(ret_layer_id, text, RS_SHA256_HEX_LEN + 1);
    return 0;
}

int cache_recipe_put(struct cache *c, const char *key, const char *layer_id, struct rs_err *err)
{
    _cleanup_free_ char *text = NULL;

    if (!cache_key_valid(key))
        return rs_err_msg(err, -EINVAL, "invalid build key '%.80s'", key);
    if (!cache_layer_has(c, layer_id))
        return rs_err_msg(err, -ENOENT, "layer '%.80s' is not in the store", layer_id);
    text = xasprintf("%s\n", layer_id);
    return cache_write_atomic(c, "recipes", key, text, strlen(text), err);
}

int cache_lock_key(struct cache *c, const char *key, struct rs_err *err)
{
    _cleanup_free_ char *rel = NULL;
    _cleanup_close_ int fd = -1;

    if (!cache_key_valid(key))
        return rs_err_msg(err, -EINVAL, "invalid build key '%.80s'", key);
    rel = xasprintf("locks/%s", key);
    fd = openat(c->dir_fd, rel, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cache_err_write(c, -errno, err, "create", rel);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        log_debug("waiting for another process building '%s'", key);
        while (flock(fd, LOCK_EX) < 0)
            if (errno != EINTR)
                return rs_err_set(err, -errno, "cannot lock '%s/%s'", c->root, rel);
    }
    return TAKE_FD(fd);
}
