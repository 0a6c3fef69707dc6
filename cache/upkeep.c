/* Upkeep: disk usage, garbage collection and verification. */

#include "cache/cache.h"

#include <dirent.h>
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
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* ---- a sorted set of ids ---- */

struct idset {
    char **ids; /* owned strings */
    size_t n, alloc;
    bool sorted;
};

static void idset_add(struct idset *s, const char *id)
{
    if (s->n == s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 64;
        s->ids = xreallocarray(s->ids, s->alloc, sizeof(char *));
    }
    s->ids[s->n++] = xstrdup(id);
    s->sorted = false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool idset_has(struct idset *s, const char *id)
{
    if (!s->sorted) {
        if (s->n > 1)
            qsort(s->ids, s->n, sizeof(char *), cmp_str);
        s->sorted = true;
    }
    return s->n && bsearch(&id, s->ids, s->n, sizeof(char *), cmp_str);
}

static void idset_release(struct idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    *s = (struct idset){ 0 };
}

/* The entries of a store directory (not "." or ".."), sorted. */
static int list_dir(struct cache *c, const char *rel, char ***ret, struct rs_err *err)
{
    _cleanup_closedir_ DIR *d = NULL;
    _cleanup_strv_free_ char **l = xcalloc(1, sizeof(char *));
    int fd = openat(c->dir_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s/%s'", c->root, rel);
    d = fdopendir(fd);
    if (!d) {
        safe_close(fd);
        return rs_err_set(err, -errno, "cannot read '%s/%s'", c->root, rel);
    }
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            strv_push(&l, de->d_name);
    size_t n = strv_length(l);
    if (n > 1)
        qsort(l, n, sizeof(char *), cmp_str);
    *ret = TAKE_PTR(l);
    return 0;
}

static uint64_t file_size_at(int dfd, const char *rel)
{
    struct stat st;
    return fstatat(dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)st.st_size : 0;
}

int cache_usage(struct cache *c, struct cache_usage *ret, struct rs_err *err)
{
    _cleanup_strv_free_ char **blobs = NULL, **layers = NULL, **images = NULL, **containers = NULL;
    _cleanup_close_ int blobs_fd = -1, tmp_fd = -1;
    struct cache_usage u = { 0 };
    int r;

    r = list_dir(c, "blobs/sha256", &blobs, err);
    if (r >= 0)
        r = list_dir(c, "layers", &layers, err);
    if (r >= 0)
        r = list_dir(c, "images", &images, err);
    if (r >= 0)
        r = list_dir(c, "containers", &containers, err);
    if (r < 0)
        return r;
    blobs_fd = openat(c->dir_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    STRV_FOREACH(b, blobs) {
        u.blobs_size += file_size_at(blobs_fd, *b);
        u.n_blobs++;
    }
    STRV_FOREACH(l, layers) {
        struct layer_meta m;
        if (cache_layer_meta(c, *l, &m, NULL) < 0)
            continue;
        u.layers_size += m.size;
        u.n_layers++;
        layer_meta_release(&m);
    }
    STRV_FOREACH(i, images)
        if (strlen(*i) > 5 && strcmp(*i + strlen(*i) - 5, ".json") == 0)
            u.n_images++;
    STRV_FOREACH(n, containers)
        if (strcmp(*n, CACHE_CONTAINER_SPARE) != 0)
            u.n_containers++;
    tmp_fd = openat(c->dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tmp_fd >= 0)
        (void)cache_tree_size(tmp_fd, &u.tmp_size);
    *ret = u;
    return 0;
}

/* ---- gc ---- */

/* Add the layer ids listed one per line in containers/<name>/layers. */
static void mark_container_layers(struct cache *c, const char *name, struct idset *keep)
{
    _cleanup_free_ char *rel = xasprintf("containers/%s/layers", name), *text = NULL;
    _cleanup_strv_free_ char **ids = NULL;

    if (rs_read_file_at(c->dir_fd, rel, 1024 * 1024, &text, NULL, NULL) < 0)
        return;
    ids = strv_split(text, "\n");
    STRV_FOREACH(id, ids)
        if (rs_sha256_hex_valid(*id))
            idset_add(keep, *id);
}

/* True if containers/<name> is in use: its lock is held by a live process. */
static bool container_live(struct cache *c, const char *name)
{
    _cleanup_free_ char *rel = xasprintf("containers/%s/lock", name);
    _cleanup_close_ int fd = openat(c->dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    return flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int gc_containers(struct cache *c, struct idset *keep, size_t *n_removed, struct rs_err *err)
{
    _cleanup_strv_free_ char **names = NULL;
    _cleanup_close_ int cfd = -1;
    int r = list_dir(c, "containers", &names, err);

    if (r < 0)
        return r;
    cfd = openat(c->dir_fd, "containers", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cfd < 0)
        return rs_err_set(err, -errno, "cannot open '%s/containers'", c->root);
    STRV_FOREACH(name, names) {
        /* Not a container: removed without a word, the next run makes a new one. */
        if (strcmp(*name, CACHE_CONTAINER_SPARE) == 0) {
            (void)rs_rm_rf_at(cfd, *name);
            continue;
        }
        if (container_live(c, *name)) {
            mark_container_layers(c, *name, keep);
            continue;
        }
        r = rs_rm_rf_at(cfd, *name);
        if (r < 0) {
            /* Most likely its overlay is still mounted: keep what it uses. */
            log_warning("cannot remove the leftover container '%s/containers/%s': %s, keeping it",
                        c->root, *name, strerror(-r));
            mark_container_layers(c, *name, keep);
            continue;
        }
        log_info("removed leftover container %s", *name);
        (*n_removed)++;
    }
    return 0;
}

static void mark_layer_chain(struct cache *c, const char *id, struct idset *keep)
{
    _cleanup_free_ char *cur = xstrdup(id);

    /* Parents are normally in the image's list too; following them costs little and keeps
     * a layer that a recorded child builds on. Bounded like the layer count. */
    for (int depth = 0; cur && depth < 500; depth++) {
        struct layer_meta m;
        if (idset_has(keep, cur))
            break;
        idset_add(keep, cur);
        if (cache_layer_meta(c, cur, &m, NULL) < 0)
            break;
        free(cur);
        cur = TAKE_PTR(m.parent);
        layer_meta_release(&m);
    }
}

static int gc_remove_layer(struct cache *c, const char *id, uint64_t *freed, size_t *n,
                           struct rs_err *err)
{
    _cleanup_free_ char *rel = xasprintf("layers/%s", id);
    struct layer_meta m;
    uint64_t size = 0;
    char buf[16];

    if (cache_layer_meta(c, id, &m, NULL) >= 0) {
        size = m.size;
        layer_meta_release(&m);
    }
    int r = cache_remove_tree(c, rel, err);
    if (r < 0)
        return r;
    log_info("removed layer %s (%s)", id, rs_format_size(size, buf, sizeof(buf)));
    *freed += size;
    (*n)++;
    return 0;
}

/* Blobs named anywhere in a kept record (a layer's diffID, or whatever an importer wrote
 * there) are kept. */
static void mark_hex_tokens(const char *text, struct idset *blobs)
{
    for (const char *p = text; *p; p++) {
        size_t n = strspn(p, "0123456789abcdef");
        if (n == RS_SHA256_HEX_LEN) {
            char hex[RS_SHA256_HEX_LEN + 1];
            memcpy(hex, p, n);
            hex[n] = '\0';
            idset_add(blobs, hex);
        }
        if (n)
            p += n - 1;
    }
}

static void mark_file_tokens(struct cache *c, const char *rel, struct idset *blobs)
{
    _cleanup_free_ char *text = NULL;
    if (rs_read_file_at(c->dir_fd, rel, 4 * 1024 * 1024, &text, NULL, NULL) == 0)
        mark_hex_tokens(text, blobs);
}

static int gc_blobs(struct cache *c, struct idset *keep_layers, uint64_t *freed, size_t *n,
                    struct rs_err *err)
{
    _cleanup_strv_free_ char **blobs = NULL, **images = NULL;
    struct idset keep = { 0 };
    char buf[16];
    int r;

    r = list_dir(c, "images", &images, err);
    if (r >= 0)
        r = list_dir(c, "blobs/sha256", &blobs, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < keep_layers->n; i++) {
        _cleanup_free_ char *rel = xasprintf("layers/%s/layer.json", keep_layers->ids[i]);
        mark_file_tokens(c, rel, &keep);
    }
    STRV_FOREACH(img, images) {
        _cleanup_free_ char *rel = xasprintf("images/%s", *img);
        mark_file_tokens(c, rel, &keep);
    }
    STRV_FOREACH(b, blobs) {
        if (idset_has(&keep, *b))
            continue;
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", *b);
        uint64_t size = file_size_at(c->dir_fd, rel);
        if (unlinkat(c->dir_fd, rel, 0) < 0) {
            r = cache_err_write(c, -errno, err, "remove", rel);
            break;
        }
        log_info("removed blob %s (%s)", *b, rs_format_size(size, buf, sizeof(buf)));
        *freed += size;
        (*n)++;
    }
    idset_release(&keep);
    return r < 0 ? r : 0;
}

static int gc_recipes_and_locks(struct cache *c, size_t *n, struct rs_err *err)
{
    _cleanup_strv_free_ char **recipes = NULL, **locks = NULL;
    int r = list_dir(c, "recipes", &recipes, err);

    if (r >= 0)
        r = list_dir(c, "locks", &locks, err);
    if (r < 0)
        return r;
    STRV_FOREACH(key, recipes) {
        char id[RS_SHA256_HEX_LEN + 1];
        if (cache_recipe_get(c, *key, id) == 0)
            continue;
        _cleanup_free_ char *rel = xasprintf("recipes/%s", *key);
        if (unlinkat(c->dir_fd, rel, 0) < 0 && errno != ENOENT)
            return cache_err_write(c, -errno, err, "remove", rel);
        log_info("removed build key %s (its layer is gone)", *key);
        (*n)++;
    }
    /* Builders hold the store lock shared while they hold a key lock, so with the store
     * locked exclusively no key lock is in use. */
    STRV_FOREACH(key, locks) {
        _cleanup_free_ char *rel = xasprintf("locks/%s", *key);
        (void)unlinkat(c->dir_fd, rel, 0);
    }
    return 0;
}

int cache_gc_ex(struct cache *c, unsigned flags, uint64_t *ret_freed, size_t *ret_n,
                struct rs_err *err)
{
    _cleanup_strv_free_ char **layers = NULL;
    struct image **images = NULL;
    size_t n_images = 0, n = 0;
    struct idset keep = { 0 };
    uint64_t freed = 0;
    int r;

    if (!c->exclusive)
        return rs_err_msg(err, -EPERM, "gc needs the store '%s' locked exclusively", c->root);
    r = gc_containers(c, &keep, &n, err);
    if (r >= 0)
        r = cache_image_list(c, &images, &n_images, err);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < n_images; i++)
        STRV_FOREACH(l, images[i]->layers)
            mark_layer_chain(c, *l, &keep);
    /* Marks from containers are not followed to parents yet. */
    for (size_t i = 0, end = keep.n; i < end; i++) {
        _cleanup_free_ char *id = xstrdup(keep.ids[i]);
        struct layer_meta m;
        if (cache_layer_meta(c, id, &m, NULL) >= 0) {
            if (m.parent)
                mark_layer_chain(c, m.parent, &keep);
            layer_meta_release(&m);
        }
    }
    r = list_dir(c, "layers", &layers, err);
    if (r < 0)
        goto out;
    STRV_FOREACH(id, layers) {
        if (!rs_sha256_hex_valid(*id) || idset_has(&keep, *id))
            continue; /* a stray name is verify's business */
        r = gc_remove_layer(c, *id, &freed, &n, err);
        if (r < 0)
            goto out;
    }
    r = gc_recipes_and_locks(c, &n, err);
    if (r >= 0 && (flags & CACHE_GC_BLOBS))
        r = gc_blobs(c, &keep, &freed, &n, err);
out:
    cache_image_list_free(images, n_images);
    idset_release(&keep);
    if (r < 0)
        return r;
    if (ret_freed)
        *ret_freed = freed;
    if (ret_n)
        *ret_n = n;
    return 0;
}

int cache_gc(struct cache *c, uint64_t *ret_freed, size_t *ret_n, struct rs_err *err)
{
    return cache_gc_ex(c, 0, ret_freed, ret_n, err);
}

/* ---- verify ---- */

struct verify {
    struct cache *c;
    bool repair;
    int n_problems;
    struct idset bad_layers;
};

__attribute__((format(printf, 3, 4))) static void problem(struct verify *v, const char *rel,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *why = xvasprintf(fmt, ap);
    va_end(ap);
    log_error("'%s/%s': %s", v->c->root, rel, why);
    v->n_problems++;
}

static void repair_remove(struct verify *v, const char *rel, const char *what)
{
    struct rs_err e = RS_ERR_INIT;
    if (!v->repair)
        return;
    if (cache_remove_tree(v->c, rel, &e) < 0) {
        rs_err_print(&e);
        rs_err_release(&e);
        return;
    }
    log_info("removed %s '%s/%s'", what, v->c->root, rel);
}

static void verify_blobs(struct verify *v, char **blobs)
{
    STRV_FOREACH(b, blobs) {
        _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", *b);
        struct rs_err e = RS_ERR_INIT;
        char hex[RS_SHA256_HEX_LEN + 1];
        struct stat st;

        if (!rs_sha256_hex_valid(*b)) {
            problem(v, rel, "not a blob name (64 lowercase hex digits)");
        } else if (fstatat(v->c->dir_fd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                   !S_ISREG(st.st_mode)) {
            problem(v, rel, "blob sha256:%s is not a regular file", *b);
        } else if (rs_sha256_file_at(v->c->dir_fd, rel, hex, NULL, &e) < 0) {
            problem(v, rel, "blob sha256:%s cannot be read: %s", *b, e.msg);
            rs_err_release(&e);
            continue; /* an I/O error is not proof of corruption: keep it */
        } else if (strcmp(hex, *b) != 0) {
            problem(v, rel, "blob sha256:%s is corrupt: its content hashes to sha256:%s", *b, hex);
        } else {
            continue;
        }
        repair_remove(v, rel, "corrupt blob");
    }
}

static bool layer_ok(struct verify *v, const char *id, const char *rel)
{
    _cleanup_free_ char *root_rel = xasprintf("%s/root", rel);
    _cleanup_close_ int root_fd = -1;
    struct rs_err e = RS_ERR_INIT;
    struct layer_meta m;
    uint64_t size = 0;
    bool ok = true;

    if (!rs_sha256_hex_valid(id)) {
        problem(v, rel, "not a layer id (64 lowercase hex digits)");
        return false;
    }
    if (cache_layer_meta(v->c, id, &m, &e) < 0) {
        problem(v, rel, "bad layer record: %s", e.msg);
        rs_err_release(&e);
        return false;
    }
    root_fd = openat(v->c->dir_fd, root_rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fd < 0) {
        problem(v, root_rel, "layer %s has no tree: %s", id, strerror(errno));
        ok = false;
    } else if (cache_tree_size(root_fd, &size) < 0 || size != m.size) {
        problem(v, root_rel, "layer %s holds %llu bytes of file content, its record says %llu", id,
                (unsigned long long)size, (unsigned long long)m.size);
        ok = false;
    }
    if (ok && m.parent && !cache_layer_has(v->c, m.parent)) {
        problem(v, rel, "layer %s: its parent layer %s is missing", id, m.parent);
        ok = false;
    }
    layer_meta_release(&m);
    return ok;
}

static void verify_layers(struct verify *v, char **layers)
{
    STRV_FOREACH(id, layers) {
        _cleanup_free_ char *rel = xasprintf("layers/%s", *id);
        if (layer_ok(v, *id, rel))
            continue;
        idset_add(&v->bad_layers, *id);
        repair_remove(v, rel, "corrupt layer");
    }
}

/* One image record; returns the reason it is unusable, or NULL. */
static char *image_problem(struct verify *v, const char *file)
{
    _cleanup_free_ char *rel = xasprintf("images/%s", file), *json = NULL, *want = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    struct rs_err e = RS_ERR_INIT;
    size_t len;

    if (rs_read_file_at(v->c->dir_fd, rel, 4 * 1024 * 1024, &json, &len, &e) < 0 ||
        image_from_json(json, len, &img, &e) < 0) {
        char *why = xasprintf("bad image record: %s", e.msg);
        rs_err_release(&e);
        return why;
    }
    want = cache_image_file_name(img->name);
    if (strcmp(want, file) != 0)
        return xasprintf("the record names image '%s', which belongs in 'images/%s'", img->name,
                         want);
    _cleanup_free_ char *id = xstrdup(img->id);
    image_compute_id(img);
    if (strcmp(id, img->id) != 0)
        return xasprintf("image '%s': recorded id %s does not match its content (%s)", img->name,
                         id, img->id);
    STRV_FOREACH(l, img->layers) {
        if (idset_has(&v->bad_layers, *l))
            return xasprintf("image '%s' needs the corrupt layer %s", img->name, *l);
        if (!cache_layer_has(v->c, *l))
            return xasprintf("image '%s' needs layer %s, which is missing", img->name, *l);
    }
    return NULL;
}

static void verify_images(struct verify *v, char **images)
{
    STRV_FOREACH(file, images) {
        _cleanup_free_ char *rel = xasprintf("images/%s", *file);
        _cleanup_free_ char *why = NULL;
        if ((*file)[0] == '.' || strlen(*file) < 6 ||
            strcmp(*file + strlen(*file) - 5, ".json") != 0)
            why = xstrdup("not an image record (a stray file)");
        else
            why = image_problem(v, *file);
        if (!why)
            continue;
        problem(v, rel, "%s", why);
        repair_remove(v, rel, "image record");
    }
}

static void verify_recipes(struct verify *v, char **recipes)
{
    STRV_FOREACH(key, recipes) {
        _cleanup_free_ char *rel = xasprintf("recipes/%s", *key), *text = NULL;
        size_t len = 0;
        if (rs_read_file_at(v->c->dir_fd, rel, 4096, &text, &len, NULL) < 0 || len != 65 ||
            text[64] != '\n') {
            problem(v, rel, "bad build key record");
        } else {
            text[64] = '\0';
            if (!rs_sha256_hex_valid(text))
                problem(v, rel, "bad build key record");
            else if (idset_has(&v->bad_layers, text))
                problem(v, rel, "build key points at the corrupt layer %s", text);
            else
                continue; /* a key whose layer was collected is stale, not corrupt */
        }
        repair_remove(v, rel, "build key");
    }
}

int cache_verify(struct cache *c, bool repair, struct rs_err *err)
{
    _cleanup_strv_free_ char **blobs = NULL, **layers = NULL, **images = NULL, **recipes = NULL;
    struct verify v = { .c = c, .repair = repair };
    int r;

    if (repair && !c->exclusive)
        return rs_err_msg(err, -EPERM, "verify --repair needs the store '%s' locked exclusively",
                          c->root);
    r = list_dir(c, "blobs/sha256", &blobs, err);
    if (r >= 0)
        r = list_dir(c, "layers", &layers, err);
    if (r >= 0)
        r = list_dir(c, "images", &images, err);
    if (r >= 0)
        r = list_dir(c, "recipes", &recipes, err);
    if (r < 0)
        return r;
    verify_blobs(&v, blobs);
    verify_layers(&v, layers);
    verify_images(&v, images);
    verify_recipes(&v, recipes);
    idset_release(&v.bad_layers);
    return v.n_problems;
}
