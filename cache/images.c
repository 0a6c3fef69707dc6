/* Image records: images/<name>.json, one file per "name:tag", replaced by rename. */

#include "cache/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define MAX_IMAGE_RECORD (4 * 1024 * 1024)

/* '/' and ':' cannot be in a file name; '+' and '@' cannot be in an image name, so the
 * mapping is one to one. */
char *cache_image_file_name(const char *normalized_name)
{
    char *s = xasprintf("%s.json", normalized_name);
    for (char *p = s; *p; p++) {
        if (*p == '/')
            *p = '+';
        else if (*p == ':')
            *p = '@';
    }
    return s;
}

static int read_image_file(struct cache *c, int images_fd, const char *file, struct image **ret,
                           struct rs_err *err)
{
    _cleanup_free_ char *json = NULL;
    size_t len;
    int r;

    r = rs_read_file_at(images_fd, file, MAX_IMAGE_RECORD, &json, &len, err);
    if (r < 0)
        return r;
    r = image_from_json(json, len, ret, err);
    if (r < 0)
        return rs_err_wrap(err, "'%s/images/%s'", c->root, file);
    return 0;
}

static int images_dir(struct cache *c, struct rs_err *err)
{
    int fd = openat(c->dir_fd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s/images'", c->root);
    return fd;
}

static int cmp_image_names(const void *a, const void *b)
{
    const struct image *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

int cache_image_list(struct cache *c, struct image ***ret, size_t *ret_n, struct rs_err *err)
{
    _cleanup_closedir_ DIR *d = NULL;
    struct image **list = NULL;
    size_t n = 0, alloc = 0;
    int fd;

    fd = images_dir(c, err);
    if (fd < 0)
        return fd;
    d = fdopendir(fd);
    if (!d) {
        safe_close(fd);
        return rs_err_set(err, -errno, "cannot read '%s/images'", c->root);
    }
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        struct rs_err e = RS_ERR_INIT;
        struct image *img = NULL;

        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (read_image_file(c, dirfd(d), de->d_name, &img, &e) < 0) {
            /* A broken record hides one image, not the whole list; verify reports it. */
            log_debug("skipping '%s/images/%s': %s", c->root, de->d_name, e.msg);
            rs_err_release(&e);
            continue;
        }
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            list = xreallocarray(list, alloc, sizeof(*list));
        }
        list[n++] = img;
    }
    if (n > 1)
        qsort(list, n, sizeof(*list), cmp_image_names);
    *ret = list;
    *ret_n = n;
    return 0;
}

void cache_image_list_free(struct image **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        image_free(list[i]);
    free(list);
}

static bool is_hex_prefix(const char *s)
{
    size_t len = strlen(s);
    if (len < 12 || len > RS_SHA256_HEX_LEN)
        return false;
    return strspn(s, "0123456789abcdef") == len;
}

/* The name without a ":latest" tag, for messages. */
static char *short_name(const char *name)
{
    size_t len = strlen(name);
    if (len > 7 && strcmp(name + len - 7, ":latest") == 0)
        return xstrndup(name, len - 7);
    return xstrdup(name);
}

struct candidate {
    size_t distance;
    const char *name;
};

static int cmp_candidates(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->distance != y->distance)
        return x->distance < y->distance ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* "image 'x' not found" and, as a hint, up to three close names. */
static int not_found(struct image **list, size_t n, const char *text, struct rs_err *err)
{
    _cleanup_free_ struct candidate *cands = xcalloc(n ? n : 1, sizeof(*cands));
    _cleanup_strbuf_ struct strbuf hint = STRBUF_INIT(4096);
    size_t n_cands = 0, text_len = strlen(text);
    size_t limit = text_len / 3 > 2 ? text_len / 3 : 2;

    rs_err_msg(err, -ENOENT, "image '%s' not found", text);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *s = short_name(list[i]->name);
        size_t d = cache_edit_distance(text, s);
        size_t d2 = cache_edit_distance(text, list[i]->name);
        if (d2 < d)
            d = d2;
        if (d > limit && !strstr(list[i]->name, text) && !strstr(text, s))
            continue;
        cands[n_cands].distance = d;
        cands[n_cands++].name = list[i]->name;
    }
    if (n_cands == 0) {
        if (n == 0)
            return rs_err_hint(err, "the store has no images; 'rootstock image import-dir' or "
                                    "'mkroot' makes one");
        return rs_err_hint(err, "'rootstock image ls' lists the %zu images in the store", n);
    }
    qsort(cands, n_cands, sizeof(*cands), cmp_candidates);
    (void)strbuf_addstr(&hint, "did you mean ");
    for (size_t i = 0; i < n_cands && i < 3; i++) {
        _cleanup_free_ char *s = short_name(cands[i].name);
        (void)strbuf_addf(&hint, "%s'%s'",
                          i == 0                       ? ""
                          : i + 1 == n_cands || i == 2 ? " or "
                                                       : ", ",
                          s);
    }
    (void)strbuf_addch(&hint, '?');
    return rs_err_hint(err, "%s", strbuf_str(&hint));
}

static int get_by_id(struct cache *c, struct image **list, size_t n, const char *prefix,
                     struct image **ret, struct rs_err *err)
{
    struct image *found = NULL;
    size_t len = strlen(prefix);

    for (size_t i = 0; i < n; i++) {
        if (strncmp(list[i]->id, prefix, len) != 0)
            continue;
        /* Several names for the same content are one image. */
        if (found && strcmp(found->id, list[i]->id) != 0)
            return rs_err_msg(err, -EINVAL, "image id '%s' is ambiguous in '%s'", prefix, c->root);
        if (!found)
            found = list[i];
    }
    if (!found)
        return -ENOENT;
    *ret = image_dup(found);
    return 0;
}

int cache_image_get(struct cache *c, const char *name, struct image **ret, struct rs_err *err)
{
    _cleanup_free_ char *normal = NULL, *file = NULL;
    _cleanup_close_ int fd = -1;
    struct image **list = NULL;
    size_t n = 0;
    int r;

    r = image_name_normalize(name, &normal, NULL);
    if (r == 0) {
        fd = images_dir(c, err);
        if (fd < 0)
            return fd;
        file = cache_image_file_name(normal);
        struct rs_err e = RS_ERR_INIT;
        r = read_image_file(c, fd, file, ret, &e);
        if (r == 0)
            return 0;
        if (r != -ENOENT) {
            rs_err_move(err, &e);
            return r;
        }
        rs_err_release(&e);
    } else if (!is_hex_prefix(name)) {
        return image_name_normalize(name, &normal, err);
    }
    r = cache_image_list(c, &list, &n, err);
    if (r < 0)
        return r;
    r = is_hex_prefix(name) ? get_by_id(c, list, n, name, ret, err) : -ENOENT;
    if (r == -ENOENT)
        r = not_found(list, n, name, err);
    cache_image_list_free(list, n);
    return r;
}

int cache_image_put(struct cache *c, struct image *img, struct rs_err *err)
{
    _cleanup_free_ char *normal = NULL, *file = NULL, *json = NULL;
    int r;

    if (!img->name)
        return rs_err_msg(err, -EINVAL, "image has no name");
    r = image_name_normalize(img->name, &normal, err);
    if (r < 0)
        return r;
    if (!img->layers || !img->layers[0])
        return rs_err_msg(err, -EINVAL, "image '%s' has no layers", normal);
    STRV_FOREACH(l, img->layers)
        if (!cache_layer_has(c, *l))
            return rs_err_msg(err, -ENOENT, "image '%s': layer '%.80s' is not in the store", normal,
                              *l);
    free(img->name);
    img->name = TAKE_PTR(normal);
    if (img->created == 0)
        img->created = (int64_t)time(NULL);
    image_compute_id(img);
    json = image_to_json(img);
    file = cache_image_file_name(img->name);
    return cache_write_atomic(c, "images", file, json, strlen(json), err);
}

int cache_image_remove(struct cache *c, const char *name, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *file = NULL, *rel = NULL;
    int r;

    /* Resolve first, so that ids work and a missing name gets the usual hint. */
    r = cache_image_get(c, name, &img, err);
    if (r < 0)
        return r;
    file = cache_image_file_name(img->name);
    rel = xasprintf("images/%s", file);
    if (unlinkat(c->dir_fd, rel, 0) < 0) {
        if (errno == ENOENT)
            return rs_err_msg(err, -ENOENT, "image '%s' not found", name);
        return cache_err_write(c, -errno, err, "remove", rel);
    }
    return 0;
}

size_t cache_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 256 || lb > 256)
        return la > lb ? la : lb;
    size_t row[257];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

int cache_image_import_dir(struct cache *c, const char *dir, const char *name,
                           const struct image_config *cfg, const char *source, struct image **ret,
                           struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = image_new();
    _cleanup_free_ char *abs = NULL;
    struct cache_layer_stage *stage = NULL;
    struct layer_meta meta = { 0 };
    char id[RS_SHA256_HEX_LEN + 1];
    int r;

    r = image_name_normalize(name, &img->name, err);
    if (r < 0)
        return r;
    abs = realpath(dir, NULL); /* the host's own path, for the record only */
    if (!abs)
        return rs_err_set(err, -errno, "cannot import '%s'", dir);
    r = cache_layer_stage_new(c, &stage, err);
    if (r < 0)
        return r;
    r = cache_copy_tree(c, abs, cache_layer_stage_root_fd(stage), &meta.size, err);
    if (r < 0) {
        /* Permission errors here are about the source tree, not the store. */
        if (err->code == ENOSPC || err->code == EDQUOT || err->code == EROFS)
            cache_err_add_hint(err);
        cache_layer_stage_abort(stage);
        return r;
    }
    _cleanup_free_ char *made_by = xasprintf("import-dir %s", abs);
    meta.created_by = made_by;
    r = cache_layer_stage_publish(stage, &meta, NULL, id, err);
    if (r < 0)
        return r;
    strv_push(&img->layers, id);
    if (cfg)
        image_config_copy(&img->config, cfg);
    img->source = xstrdup(source ? source : made_by);
    r = cache_image_put(c, img, err);
    if (r < 0)
        return r;
    if (ret)
        *ret = TAKE_PTR(img);
    return 0;
}
