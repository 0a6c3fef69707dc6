/* Archives into the store: OCI / docker / flat tarballs become layers (keyed by diffID, so a
 * layer the store already has is never unpacked twice) and an image record; the whole archive
 * is keyed by content, so importing the same file again is a lookup. */
#include "cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/oci.h"

/* The build key under which a layer with this diffID (hex) is recorded. */
static void layer_key(const char *diff_id, char key[RS_SHA256_HEX_LEN + 1])
{
    _cleanup_free_ char *text = xasprintf("rootstock oci layer\nsha256:%s", diff_id);
    rs_sha256_buf(text, strlen(text), key);
}

static void image_key(const char *archive_key, char key[RS_SHA256_HEX_LEN + 1])
{
    _cleanup_free_ char *text = xasprintf("rootstock oci image\n%s", archive_key);
    rs_sha256_buf(text, strlen(text), key);
}

/* A layer already in the store with this diffID, or false. */
static bool find_layer(struct cache *c, const char *diff_id, char ret_id[RS_SHA256_HEX_LEN + 1])
{
    char key[RS_SHA256_HEX_LEN + 1];
    layer_key(diff_id, key);
    return cache_recipe_get(c, key, ret_id) == 0;
}

/* An anonymous file in the store's tmp/ (same filesystem, gone on close or crash). */
static int store_tmpfile(struct cache *c, struct rs_err *err)
{
    int fd = openat(cache_dir_fd(c), "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot create a temporary file in '%s/tmp'", cache_root(c));
    return fd;
}

static int open_input(struct cache *c, const char *path, struct rs_err *err)
{
    if (strcmp(path, "-") != 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return rs_err_set(err, -errno, "cannot open '%s'", path);
        return fd;
    }
    /* Two passes need a seekable file: spool stdin into the store's tmp/. */
    _cleanup_close_ int fd = store_tmpfile(c, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = xmalloc(1 << 20);
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rs_err_set(err, -errno, "cannot read the archive from stdin");
        if (n == 0)
            break;
        int r = rs_write_all(fd, buf, (size_t)n);
        if (r < 0)
            return rs_err_set(err, r, "cannot spool stdin into '%s/tmp'", cache_root(c));
    }
    return TAKE_FD(fd);
}

static int extract_options(const struct cache_import_options *io, struct oci_extract_options *o,
                           struct rs_err *err)
{
    const char *max = getenv("ROOTSTOCK_IMPORT_MAX_SIZE");
    *o = (struct oci_extract_options){ .flags = OCI_EXTRACT_LAYER_FLAGS };
    if (geteuid() != 0)
        o->flags |= OCI_EXTRACT_NO_CHOWN | OCI_EXTRACT_USER_XATTR;
    if (io && io->max_size > 0) {
        o->max_bytes = io->max_size;
    } else if (max && *max) {
        int r = rs_parse_size(max, &o->max_bytes, err);
        if (r < 0)
            return rs_err_wrap(err, "ROOTSTOCK_IMPORT_MAX_SIZE");
        if (o->max_bytes == 0)
            o->max_bytes = 1;
    }
    return 0;
}

/* The name the image gets: the caller's, the archive's own, or one made from the content. */
static int pick_name(const char *name, const struct oci_archive_info *info, char **ret,
                     struct rs_err *err)
{
    if (name)
        return image_name_normalize(name, ret, err);
    if (info->img->name) {
        *ret = xstrdup(info->img->name);
        return 0;
    }
    _cleanup_free_ char *derived = xasprintf("archive-%.12s", info->key);
    return image_name_normalize(derived, ret, err);
}

/* The image is there already under this name with exactly these layers: nothing to do. */
static bool already_imported(struct cache *c, const char *name, const char *ikey)
{
    char top[RS_SHA256_HEX_LEN + 1];
    _cleanup_(image_freep) struct image *img = NULL;
    struct rs_err err = RS_ERR_INIT;
    if (cache_recipe_get(c, ikey, top) < 0)
        return false;
    if (cache_image_get(c, name, &img, &err) < 0) {
        rs_err_release(&err);
        return false;
    }
    size_t n = strv_length(img->layers);
    return n > 0 && strcmp(img->layers[n - 1], top) == 0;
}

struct import {
    struct cache *c;
    struct oci_archive_info *info;
    struct cache_layer_stage **stages;
    int *root_fds;
    char (*ids)[RS_SHA256_HEX_LEN + 1];
    const char *source;
};

static void import_release(struct import *im)
{
    for (size_t i = 0; im->stages && i < im->info->n_layers; i++)
        cache_layer_stage_abort(im->stages[i]);
    free(im->stages);
    free(im->root_fds);
    free(im->ids);
}

/* Stage every layer whose diffID the store does not have (once per diffID). */
static int plan_layers(struct import *im, size_t *ret_n_new, struct rs_err *err)
{
    size_t n = im->info->n_layers, n_new = 0;
    for (size_t i = 0; i < n; i++) {
        const char *d = im->info->layers[i].diff_id;
        bool dup = false;
        im->root_fds[i] = -1;
        for (size_t j = 0; d && j < i && !dup; j++)
            dup = strcmp(im->info->layers[j].diff_id, d) == 0;
        if (dup || (d && find_layer(im->c, d, im->ids[i])))
            continue;
        int r = cache_layer_stage_new(im->c, &im->stages[i], err);
        if (r < 0)
            return r;
        im->root_fds[i] = cache_layer_stage_root_fd(im->stages[i]);
        n_new++;
    }
    *ret_n_new = n_new;
    return 0;
}

/* Publish staged layers bottom-up (a layer's parent must exist first). */
static int publish_layers(struct import *im, struct rs_err *err)
{
    const char *parent = NULL;
    for (size_t i = 0; i < im->info->n_layers; i++) {
        struct oci_archive_layer *l = &im->info->layers[i];
        char key[RS_SHA256_HEX_LEN + 1];
        if (!im->stages[i]) {
            if (!find_layer(im->c, l->diff_id, im->ids[i]))
                for (size_t j = 0; j < i; j++) /* a repeat of an earlier layer */
                    if (strcmp(im->info->layers[j].diff_id, l->diff_id) == 0)
                        memcpy(im->ids[i], im->ids[j], sizeof(im->ids[i]));
            parent = im->ids[i];
            continue;
        }
        if (find_layer(im->c, l->diff_id, im->ids[i])) {
            /* A flat archive's content turned out to be known after all. */
            im->stages[i] = cache_layer_stage_abort(im->stages[i]);
            parent = im->ids[i];
            continue;
        }
        _cleanup_free_ char *diff = xasprintf("sha256:%s", l->diff_id);
        _cleanup_free_ char *by =
            xasprintf("import %s (%s)", im->source, l->member ? l->member : "root tarball");
        struct layer_meta meta = {
            .parent = (char *)parent,
            .diff_id = diff,
            .created = im->info->img->created,
            .created_by = by,
        };
        layer_key(l->diff_id, key);
        struct cache_layer_stage *s = im->stages[i];
        im->stages[i] = NULL;
        int r = cache_layer_stage_publish(s, &meta, key, im->ids[i], err);
        if (r < 0)
            return r;
        r = cache_recipe_put(im->c, key, im->ids[i], err);
        if (r < 0)
            return r;
        parent = im->ids[i];
    }
    return 0;
}

int cache_import_archive(struct cache *c, const char *path, const char *name, char **ret_name,
                         struct rs_err *err)
{
    return cache_import_archive_ex(c, path, name, NULL, ret_name, err);
}

int cache_import_archive_ex(struct cache *c, const char *path, const char *name,
                            const struct cache_import_options *io, char **ret_name,
                            struct rs_err *err)
{
    _cleanup_(oci_archive_info_freep) struct oci_archive_info *info = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *normal = NULL;
    _cleanup_close_ int fd = -1;
    struct oci_extract_options opts;
    char ikey[RS_SHA256_HEX_LEN + 1];
    size_t n_new = 0;
    int r;

    r = extract_options(io, &opts, err);
    if (r < 0)
        return r;
    fd = open_input(c, path, err);
    if (fd < 0)
        return fd;
    r = oci_archive_scan(fd, &info, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot import '%s'", path);
    r = pick_name(name, info, &normal, err);
    if (r < 0)
        return r;
    image_key(info->key, ikey);
    if (already_imported(c, normal, ikey)) {
        log_debug("'%s' is already in the store as '%s'", path, normal);
        *ret_name = TAKE_PTR(normal);
        return 0;
    }

    struct import im = {
        .c = c,
        .info = info,
        .stages = xcalloc(info->n_layers + 1, sizeof(*im.stages)),
        .root_fds = xcalloc(info->n_layers + 1, sizeof(int)),
        .ids = xcalloc(info->n_layers + 1, sizeof(*im.ids)),
        .source = strcmp(path, "-") == 0 ? "stdin" : path,
    };
    r = plan_layers(&im, &n_new, err);
    if (r < 0)
        goto out;
    log_info("importing '%s' as '%s': %zu layers, %zu new", im.source, normal, info->n_layers,
             n_new);
    r = oci_archive_unpack(fd, info, im.root_fds, &opts, err);
    if (r < 0) {
        rs_err_wrap(err, "cannot import '%s'", im.source);
        goto out;
    }
    r = publish_layers(&im, err);
    if (r < 0)
        goto out;

    img = image_dup(info->img);
    free(img->name);
    img->name = xstrdup(normal);
    free(img->source);
    img->source = xasprintf("import %s", im.source);
    strv_free(img->layers);
    img->layers = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < info->n_layers; i++)
        strv_push(&img->layers, im.ids[i]);
    r = cache_image_put(c, img, err);
    if (r < 0)
        goto out;
    if (info->n_layers > 0) {
        r = cache_recipe_put(c, ikey, im.ids[info->n_layers - 1], err);
        if (r < 0)
            goto out;
    }
    *ret_name = TAKE_PTR(normal);
    r = 0;
out:
    import_release(&im);
    return r;
}

/* ---- export ---- */

/* "localhost/NAME:TAG" unless the name already starts with a registry host. */
static char *ref_name_for(const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash &&
        (memchr(name, '.', (size_t)(slash - name)) || strncmp(name, "localhost/", 10) == 0))
        return xstrdup(name);
    return xasprintf("localhost/%s", name);
}

/* Write every layer of img to an anonymous file in tmp/, and remember its diffID. */
static int write_layers(struct cache *c, const struct image *img, enum oci_compression comp,
                        int64_t clamp, struct oci_export_layer *layers, struct rs_err *err)
{
    for (size_t i = 0; img->layers && img->layers[i]; i++) {
        const char *id = img->layers[i];
        _cleanup_free_ char *root = cache_layer_root_path(c, id);
        _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct oci_layer_write_options o = { .compression = comp, .clamp_mtime = clamp };
        struct layer_meta meta = { 0 };
        char key[RS_SHA256_HEX_LEN + 1];
        int r;

        if (dfd < 0)
            return rs_err_set(err, -errno, "cannot open layer '%s'", id);
        layers[i].blob_fd = store_tmpfile(c, err);
        if (layers[i].blob_fd < 0)
            return layers[i].blob_fd;
        layers[i].compression = comp;
        log_debug("writing layer %zu (%s)", i, id);
        r = oci_layer_write(dfd, layers[i].blob_fd, &o, &layers[i].blob, err);
        if (r < 0)
            return rs_err_wrap(err, "layer '%s'", id);
        if (cache_layer_meta(c, id, &meta, err) < 0) {
            rs_err_release(err);
            continue;
        }
        _cleanup_free_ char *diff = xasprintf("sha256:%s", layers[i].blob.diff_id);
        if (!meta.diff_id || strcmp(meta.diff_id, diff) != 0)
            (void)cache_layer_set_diff_id(c, id, diff, NULL);
        layer_meta_release(&meta);
        /* Only when new: a build key is a synced file, and exports repeat. */
        char known[RS_SHA256_HEX_LEN + 1];
        layer_key(layers[i].blob.diff_id, key);
        if (cache_recipe_get(c, key, known) < 0 || strcmp(known, id) != 0)
            (void)cache_recipe_put(c, key, id, NULL);
    }
    return 0;
}

int cache_export_image(struct cache *c, const char *name, int out_fd,
                       enum oci_compression compression, int64_t clamp_mtime, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *ref = NULL;
    struct oci_export_layer *layers = NULL;
    size_t n = 0;
    int r;

    r = cache_image_get(c, name, &img, err);
    if (r < 0)
        return r;
    ref = ref_name_for(img->name);
    while (img->layers && img->layers[n])
        n++;
    layers = xcalloc(n + 1, sizeof(*layers));
    for (size_t i = 0; i < n; i++)
        layers[i].blob_fd = -1;
    r = write_layers(c, img, compression, clamp_mtime, layers, err);
    if (r < 0)
        goto out;
    r = oci_archive_write(out_fd, ref, img, layers, n, clamp_mtime, NULL, err);
    if (r < 0)
        goto out;
    log_debug("exported '%s' as '%s' (%zu layers)", img->name, ref, n);
    r = 0;
out:
    for (size_t i = 0; i < n; i++)
        safe_close(layers[i].blob_fd);
    free(layers);
    return r;
}
