/* Reading OCI archives (ours, skopeo's, podman's, docker >= 25), docker-save archives and flat
 * root tarballs. Two passes over a seekable file: scan (names, JSON, sizes, the content key),
 * then unpack, where each wanted layer streams member -> sha256 (digest) -> decompression ->
 * sha256 (diffID) -> the extractor without touching the disk in between. */
#include "image/oci.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/path.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/oci-internal.h"

#define MAX_MEMBERS    100000
#define MAX_JSON_SIZE  (4 << 20)  /* one JSON member or blob kept in memory */
#define MAX_JSON_TOTAL (64 << 20) /* all of them */
#define READ_BLOCK     (1 << 20)
#define RATIO_FREE     (1ULL << 30) /* below this, any compression ratio is fine */
#define RATIO_MAX      200

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

struct member {
    char *name;
    char *link; /* a symlink member (old docker save dedups layer.tar so): its target */
    uint64_t size;
    char *data; /* JSON-ish members, NUL-terminated */
};

struct scan {
    struct member *m;
    size_t n, alloc;
    uint64_t json_total;
    /* The first odd member (bad name, link out, duplicate, special file): fatal for an image
     * archive; a flat root tarball's entries are the extractor's to judge. */
    char *bad_msg;
};

static void scan_release(struct scan *s)
{
    free(s->bad_msg);
    for (size_t i = 0; i < s->n; i++) {
        free(s->m[i].name);
        free(s->m[i].link);
        free(s->m[i].data);
    }
    free(s->m);
}

static const struct member *scan_find(const struct scan *s, const char *name)
{
    for (int hops = 0; hops < 4; hops++) {
        const struct member *found = NULL;
        for (size_t i = 0; i < s->n && !found; i++)
            if (strcmp(s->m[i].name, name) == 0)
                found = &s->m[i];
        if (!found || !found->link)
            return found;
        name = found->link;
    }
    return NULL;
}

static bool keep_in_memory(const char *name, uint64_t size)
{
    if (size > MAX_JSON_SIZE)
        return false;
    if (strncmp(name, "blobs/sha256/", 13) == 0 && !strchr(name + 13, '/'))
        return true;
    if (strchr(name, '/'))
        return strcmp(strchr(name, '/'), "/json") == 0;
    return true; /* top level: index.json, manifest.json, <id>.json, oci-layout, repositories */
}

static void scan_odd(struct scan *s, char *msg)
{
    if (s->bad_msg)
        free(msg);
    else
        s->bad_msg = msg;
}

static int archive_open_fd(int fd, struct archive **ret, bool raw, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
    if (lseek(fd, 0, SEEK_SET) < 0)
        return rs_err_set(err, -errno, "cannot rewind the archive");
    archive_read_support_filter_all(a);
    if (raw)
        archive_read_support_format_raw(a);
    else
        archive_read_support_format_tar(a);
    if (archive_read_open_fd(a, fd, READ_BLOCK) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "cannot read the archive: %s (libarchive)",
                          archive_error_string(a));
    *ret = TAKE_PTR(a);
    return 0;
}

static int read_member_data(struct archive *a, struct member *m, struct rs_err *err)
{
    m->data = xmalloc(m->size + 1);
    uint64_t got = 0;
    while (got < m->size) {
        la_ssize_t n = archive_read_data(a, m->data + got, m->size - got);
        if (n < 0)
            return rs_err_msg(err, -EBADMSG, "member '%s': %s (libarchive)", m->name,
                              archive_error_string(a));
        if (n == 0)
            return rs_err_msg(err, -EBADMSG, "member '%s' is truncated", m->name);
        got += (uint64_t)n;
    }
    m->data[m->size] = '\0';
    return 0;
}

/* The member a link points at: a hard link names it, a symlink is relative to its own
 * directory (docker save writes "<id>/layer.tar -> ../<other>/layer.tar"). ".." may not climb
 * above the archive's top. */
static int link_target(const char *name, const char *target, bool relative, char **ret)
{
    const char *slash = strrchr(name, '/');
    _cleanup_free_ char *joined = relative && slash
                                      ? xasprintf("%.*s/%s", (int)(slash - name), name, target)
                                      : xstrdup(target);
    _cleanup_free_ char *norm = xmalloc(strlen(joined) + 1);
    size_t len = 0;
    char *save = NULL;

    for (char *p = strtok_r(joined, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0)
            continue;
        if (strcmp(p, "..") == 0) {
            if (len == 0)
                return -EINVAL;
            char *cut = memrchr(norm, '/', len);
            len = cut ? (size_t)(cut - norm) : 0;
            continue;
        }
        if (len > 0)
            norm[len++] = '/';
        memcpy(norm + len, p, strlen(p));
        len += strlen(p);
    }
    if (len == 0)
        return -EINVAL;
    norm[len] = '\0';
    *ret = TAKE_PTR(norm);
    return 0;
}

static int scan_members(int fd, struct scan *s, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *a = NULL;
    int r = archive_open_fd(fd, &a, false, err);
    if (r < 0)
        return r;
    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            return 0;
        if (ar < ARCHIVE_WARN)
            return rs_err_msg(err, -EBADMSG, "bad archive: %s (libarchive)",
                              archive_error_string(a));
        const char *raw = archive_entry_pathname(e);
        _cleanup_free_ char *name = NULL;
        if (!raw || rs_path_normalize_relative(raw, &name) < 0 || raw[0] == '/') {
            scan_odd(s, xasprintf("bad member name '%s' in the archive", raw ? raw : ""));
            continue;
        }
        if (archive_entry_filetype(e) == AE_IFDIR || !*name)
            continue;
        if (s->n >= MAX_MEMBERS)
            return rs_err_msg(err, -EBADMSG, "the archive has more than %d members", MAX_MEMBERS);
        if (scan_find(s, name)) {
            scan_odd(s, xasprintf("member '%s' appears twice in the archive", name));
            continue;
        }
        if (s->n == s->alloc) {
            s->alloc = s->alloc ? s->alloc * 2 : 64;
            s->m = xreallocarray(s->m, s->alloc, sizeof(*s->m));
        }
        struct member *m = &s->m[s->n++];
        *m = (struct member){ .name = TAKE_PTR(name), .size = (uint64_t)archive_entry_size(e) };
        if (archive_entry_filetype(e) == AE_IFLNK || archive_entry_hardlink(e)) {
            const char *t =
                archive_entry_hardlink(e) ? archive_entry_hardlink(e) : archive_entry_symlink(e);
            if (!t || t[0] == '/' ||
                link_target(m->name, t, !archive_entry_hardlink(e), &m->link) < 0)
                scan_odd(s, xasprintf("member '%s' links outside the archive", m->name));
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG) {
            scan_odd(s, xasprintf("member '%s' is not a regular file", m->name));
            continue;
        }
        if (keep_in_memory(m->name, m->size) && s->json_total + m->size <= MAX_JSON_TOTAL) {
            s->json_total += m->size;
            r = read_member_data(a, m, err);
            if (r < 0)
                return r;
        }
    }
}

/* ---- JSON helpers ---- */

static const char *jget_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static json_object *jget(json_object *o, const char *key, json_type type)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

static int parse_json(const struct member *m, json_object **ret, struct rs_err *err)
{
    if (!m->data)
        return rs_err_msg(err, -EBADMSG, "member '%s' is too large for JSON", m->name);
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *o = json_tokener_parse_ex(tok, m->data, (int)m->size);
    bool ok = o && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return rs_err_msg(err, -EBADMSG, "member '%s' is not valid JSON", m->name);
    }
    *ret = o;
    return 0;
}

/* "sha256:<hex>" -> hex (borrowed), or NULL. */
static const char *digest_hex(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !rs_sha256_hex_valid(digest + 7))
        return NULL;
    return digest + 7;
}

/* The blob member of a descriptor, checked for size, and for content when in memory. */
static int descriptor_blob(const struct scan *s, json_object *d, const char *what,
                           const struct member **ret, const char **ret_hex, struct rs_err *err)
{
    const char *hex = digest_hex(jget_str(d, "digest"));
    json_object *size = jget(d, "size", json_type_int);
    if (!hex || !size || json_object_get_int64(size) < 0)
        return rs_err_msg(err, -EBADMSG, "%s descriptor without a valid sha256 digest and size",
                          what);
    _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", hex);
    const struct member *m = scan_find(s, name);
    if (!m)
        return rs_err_msg(err, -EBADMSG, "%s blob 'sha256:%.12s…' is missing from the archive",
                          what, hex);
    if (m->size != (uint64_t)json_object_get_int64(size))
        return rs_err_msg(err, -EBADMSG,
                          "%s blob 'sha256:%.12s…' has %" PRIu64
                          " bytes, its descriptor says %" PRId64,
                          what, hex, m->size, json_object_get_int64(size));
    if (m->data) {
        char got[RS_SHA256_HEX_LEN + 1];
        rs_sha256_buf(m->data, m->size, got);
        if (strcmp(got, hex) != 0)
            return rs_err_msg(err, -EBADMSG, "%s blob 'sha256:%.12s…' does not match its digest",
                              what, hex);
    }
    *ret = m;
    *ret_hex = hex;
    return 0;
}

static char **json_strv(json_object *a)
{
    char **l = NULL;
    size_t n = a ? json_object_array_length(a) : 0;
    if (!a)
        return NULL;
    l = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        if (json_object_is_type(v, json_type_string))
            strv_push(&l, json_object_get_string(v));
    }
    return l;
}

static int64_t parse_time(const char *s)
{
    struct tm tm = { 0 };
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm);
}

/* The image config: architecture, os, config.*, rootfs.diff_ids (must be n_layers). */
static int parse_config(const struct member *m, struct oci_archive_info *info, struct rs_err *err)
{
    _cleanup_(json_object_putp) json_object *o = NULL;
    int r = parse_json(m, &o, err);
    if (r < 0)
        return r;
    const char *os = jget_str(o, "os");
    if (os && strcmp(os, "linux") != 0)
        return rs_err_msg(err, -EBADMSG, "the image is for '%s', not linux", os);
    struct image *img = info->img;
    const char *arch = jget_str(o, "architecture");
    if (arch)
        img->architecture = xstrdup(oci_arch_to_debian(arch, jget_str(o, "variant")));
    img->created = parse_time(jget_str(o, "created"));
    json_object *c = jget(o, "config", json_type_object);
    if (!c)
        c = jget(o, "container_config", json_type_object);
    if (c) {
        img->config.env = json_strv(jget(c, "Env", json_type_array));
        img->config.entrypoint = json_strv(jget(c, "Entrypoint", json_type_array));
        if (img->config.entrypoint && !img->config.entrypoint[0])
            img->config.entrypoint = strv_free(img->config.entrypoint);
        img->config.cmd = json_strv(jget(c, "Cmd", json_type_array));
        const char *wd = jget_str(c, "WorkingDir"), *user = jget_str(c, "User");
        const char *host = jget_str(c, "Hostname");
        img->config.working_dir = wd && *wd ? xstrdup(wd) : NULL;
        img->config.user = user && *user ? xstrdup(user) : NULL;
        img->config.hostname = host && *host ? xstrdup(host) : NULL;
    }
    json_object *ids = jget(jget(o, "rootfs", json_type_object), "diff_ids", json_type_array);
    size_t n = ids ? json_object_array_length(ids) : 0;
    if (n != info->n_layers)
        return rs_err_msg(err, -EBADMSG,
                          "the config names %zu layers (rootfs.diff_ids), the manifest %zu", n,
                          info->n_layers);
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(ids, i);
        const char *hex =
            json_object_is_type(v, json_type_string) ? digest_hex(json_object_get_string(v)) : NULL;
        if (!hex)
            return rs_err_msg(err, -EBADMSG, "the config's diff_id %zu is not a sha256 digest", i);
        info->layers[i].diff_id = xstrdup(hex);
    }
    return 0;
}

static bool layer_type_ok(const char *t)
{
    static const char *const ok[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.zstd",
    };
    for (size_t i = 0; t && i < ELEMENTSOF(ok); i++)
        if (strcmp(t, ok[i]) == 0)
            return true;
    return false;
}

/* The archive's own name for the image, normalised for the store, or NULL. */
static char *store_name(const char *ref)
{
    char *out = NULL;
    if (!ref || (!strchr(ref, '/') && !strchr(ref, ':')))
        return NULL; /* a bare tag ("latest"): podman would invent localhost/latest */
    if (strncmp(ref, "localhost/", 10) == 0)
        ref += 10;
    if (image_name_normalize(ref, &out, NULL) < 0)
        return NULL;
    return out;
}

static int scan_oci(const struct scan *s, const struct member *index, struct oci_archive_info *info,
                    struct rs_err *err)
{
    _cleanup_(json_object_putp) json_object *o = NULL, *mo = NULL;
    const struct member *mm, *cm;
    const char *mhex, *chex;
    int r = parse_json(index, &o, err);
    if (r < 0)
        return r;
    json_object *ms = jget(o, "manifests", json_type_array);
    if (!ms || json_object_array_length(ms) == 0)
        return rs_err_msg(err, -EBADMSG, "index.json lists no image");
    if (json_object_array_length(ms) > 1)
        return rs_err_msg(err, -EBADMSG, "index.json lists %zu images; one is supported",
                          json_object_array_length(ms));
    json_object *d = json_object_array_get_idx(ms, 0);
    const char *mt = jget_str(d, "mediaType");
    if (mt && strstr(mt, "index"))
        return rs_err_msg(err, -EBADMSG, "index.json points at another index (multi-platform)");
    r = descriptor_blob(s, d, "manifest", &mm, &mhex, err);
    if (r < 0)
        return r;
    json_object *ann = jget(d, "annotations", json_type_object);
    const char *ref = jget_str(ann, "org.opencontainers.image.ref.name");
    info->img->name = store_name(ref ? ref : jget_str(ann, "io.containerd.image.name"));

    r = parse_json(mm, &mo, err);
    if (r < 0)
        return r;
    r = descriptor_blob(s, jget(mo, "config", json_type_object), "config", &cm, &chex, err);
    if (r < 0)
        return r;
    json_object *ls = jget(mo, "layers", json_type_array);
    info->n_layers = ls ? json_object_array_length(ls) : 0;
    info->layers = xcalloc(info->n_layers + 1, sizeof(*info->layers));
    for (size_t i = 0; i < info->n_layers; i++) {
        json_object *ld = json_object_array_get_idx(ls, i);
        const struct member *lm;
        const char *lhex;
        _cleanup_free_ char *what = xasprintf("layer %zu", i);
        r = descriptor_blob(s, ld, what, &lm, &lhex, err);
        if (r < 0)
            return r;
        if (!layer_type_ok(jget_str(ld, "mediaType")))
            return rs_err_msg(err, -EBADMSG, "layer %zu has the unsupported media type '%s'", i,
                              jget_str(ld, "mediaType") ? jget_str(ld, "mediaType") : "");
        info->layers[i] = (struct oci_archive_layer){
            .member = xstrdup(lm->name),
            .media_type = xstrdup(jget_str(ld, "mediaType")),
            .digest = xstrdup(lhex),
            .size = lm->size,
        };
    }
    r = parse_config(cm, info, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *k = xasprintf("oci\n%s", mhex);
    rs_sha256_buf(k, strlen(k), info->key);
    return 0;
}

static int scan_docker(const struct scan *s, const struct member *manifest,
                       struct oci_archive_info *info, struct rs_err *err)
{
    _cleanup_(json_object_putp) json_object *o = NULL;
    int r = parse_json(manifest, &o, err);
    if (r < 0)
        return r;
    if (!json_object_is_type(o, json_type_array) || json_object_array_length(o) != 1)
        return rs_err_msg(err, -EBADMSG, "manifest.json must list exactly one image");
    json_object *m = json_object_array_get_idx(o, 0);
    const char *cfg = jget_str(m, "Config");
    json_object *ls = jget(m, "Layers", json_type_array),
                *tags = jget(m, "RepoTags", json_type_array);
    _cleanup_free_ char *cfgname = NULL;
    if (!cfg || !ls || rs_path_normalize_relative(cfg, &cfgname) < 0)
        return rs_err_msg(err, -EBADMSG, "manifest.json has no valid Config and Layers");
    const struct member *cm = scan_find(s, cfgname);
    if (!cm || !cm->data)
        return rs_err_msg(err, -EBADMSG, "the config '%s' is missing from the archive", cfg);
    char hex[RS_SHA256_HEX_LEN + 1];
    rs_sha256_buf(cm->data, cm->size, hex);
    const char *named = strncmp(cm->name, "blobs/sha256/", 13) == 0 ? cm->name + 13 : NULL;
    if (named && strcmp(named, hex) != 0)
        return rs_err_msg(err, -EBADMSG, "config blob '%s' does not match its digest", cm->name);
    if (tags && json_object_array_length(tags) > 0)
        info->img->name = store_name(json_object_get_string(json_object_array_get_idx(tags, 0)));
    info->n_layers = json_object_array_length(ls);
    info->layers = xcalloc(info->n_layers + 1, sizeof(*info->layers));
    for (size_t i = 0; i < info->n_layers; i++) {
        json_object *v = json_object_array_get_idx(ls, i);
        _cleanup_free_ char *name = NULL;
        if (!json_object_is_type(v, json_type_string) ||
            rs_path_normalize_relative(json_object_get_string(v), &name) < 0)
            return rs_err_msg(err, -EBADMSG, "manifest.json: layer %zu has a bad path", i);
        const struct member *lm = scan_find(s, name);
        if (!lm)
            return rs_err_msg(err, -EBADMSG, "layer '%s' is missing from the archive", name);
        const char *lhex = strncmp(lm->name, "blobs/sha256/", 13) == 0 ? lm->name + 13 : NULL;
        info->layers[i] = (struct oci_archive_layer){
            .member = xstrdup(lm->name),
            .digest = lhex && rs_sha256_hex_valid(lhex) ? xstrdup(lhex) : NULL,
            .size = lm->size,
        };
    }
    r = parse_config(cm, info, err);
    if (r < 0)
        return r;
    char mhex[RS_SHA256_HEX_LEN + 1];
    rs_sha256_buf(manifest->data, manifest->size, mhex);
    _cleanup_free_ char *k = xasprintf("docker\n%s\n%s", mhex, hex);
    rs_sha256_buf(k, strlen(k), info->key);
    return 0;
}

struct oci_archive_info *oci_archive_info_free(struct oci_archive_info *info)
{
    if (!info)
        return NULL;
    for (size_t i = 0; i < info->n_layers; i++) {
        free(info->layers[i].member);
        free(info->layers[i].media_type);
        free(info->layers[i].digest);
        free(info->layers[i].diff_id);
    }
    free(info->layers);
    image_free(info->img);
    free(info);
    return NULL;
}

int oci_archive_scan(int fd, struct oci_archive_info **ret, struct rs_err *err)
{
    struct scan s = { 0 };
    struct oci_archive_info *info = xcalloc(1, sizeof(*info));
    const struct member *index, *manifest;
    int r;

    info->img = image_new();
    r = scan_members(fd, &s, err);
    if (r < 0)
        goto out;
    index = scan_find(&s, "index.json");
    manifest = scan_find(&s, "manifest.json");
    if ((index || manifest) && s.bad_msg) {
        r = rs_err_msg(err, -EBADMSG, "%s", s.bad_msg);
        goto out;
    }
    if (index) {
        info->kind = OCI_ARCHIVE_OCI;
        r = scan_oci(&s, index, info, err);
    } else if (manifest) {
        info->kind = OCI_ARCHIVE_DOCKER;
        r = scan_docker(&s, manifest, info, err);
    } else {
        char hex[RS_SHA256_HEX_LEN + 1];
        uint64_t size;
        info->kind = OCI_ARCHIVE_FLAT;
        if (s.n == 0) {
            r = rs_err_msg(err, -EBADMSG, "the archive is empty");
            goto out;
        }
        r = lseek(fd, 0, SEEK_SET) < 0 ? -errno : 0;
        if (r < 0 || (r = rs_sha256_fd(fd, hex, &size, err)) < 0) {
            if (r < 0 && !err->msg)
                rs_err_set(err, r, "cannot rewind the archive");
            goto out;
        }
        _cleanup_free_ char *k = xasprintf("flat\n%s", hex);
        rs_sha256_buf(k, strlen(k), info->key);
        info->n_layers = 1;
        info->layers = xcalloc(1, sizeof(*info->layers));
        info->layers[0] = (struct oci_archive_layer){ .size = size };
        info->img->created = 0;
    }
    if (r < 0)
        goto out;
    *ret = TAKE_PTR(info);
out:
    scan_release(&s);
    oci_archive_info_free(info);
    return r;
}

int oci_archive_manifest_digest(int fd, char ret[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    _cleanup_(json_object_putp) json_object *o = NULL;
    struct scan s = { 0 };
    int r = scan_members(fd, &s, err);
    if (r < 0)
        goto out;
    const struct member *index = scan_find(&s, "index.json");
    if (!index) {
        r = rs_err_msg(err, -EBADMSG, "the archive has no index.json");
        goto out;
    }
    r = parse_json(index, &o, err);
    if (r < 0)
        goto out;
    json_object *ms = jget(o, "manifests", json_type_array);
    const char *hex = ms && json_object_array_length(ms) == 1
                          ? digest_hex(jget_str(json_object_array_get_idx(ms, 0), "digest"))
                          : NULL;
    if (!hex) {
        r = rs_err_msg(err, -EBADMSG, "index.json does not name exactly one manifest");
        goto out;
    }
    memcpy(ret, hex, RS_SHA256_HEX_LEN + 1);
    r = 0;
out:
    scan_release(&s);
    return r;
}

/* ---- unpack ---- */

/* A layer streams through two threads: the reader (blob member -> sha256 digest -> decompress
 * -> sha256 diffID, the CPU-bound half) fills a ring of buffers that the extractor (tar parse
 * and the file system calls) drains, so the two halves overlap on two CPUs. The ring hands
 * over whole buffers: no copy, and the bytes (hence both hashes) are the same as read in one
 * thread. */
#define RING_SLOTS 4

struct ring_slot {
    char *data;
    size_t len;
};

struct stream {
    struct archive *outer; /* member data comes from here (NULL: raw reads the fd itself) */
    struct archive *raw;   /* decompressor; the reader thread's once started */
    struct rs_sha256 digest, diff;
    uint64_t blob_bytes, tar_bytes, max_bytes;
    char *blob_buf;
    int limit; /* -EFBIG once a bound was hit */

    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct ring_slot slots[RING_SLOTS];
    uint64_t produced, consumed, released; /* slot counters; slot i is slots[i % RING_SLOTS] */
    bool eof, cancel;
    int error;       /* the reader's failure: -errno */
    char *error_msg; /* owned */
};

static la_ssize_t blob_read_cb(struct archive *a, void *ud, const void **buf)
{
    struct stream *st = ud;
    (void)a;
    la_ssize_t n = archive_read_data(st->outer, st->blob_buf, READ_BLOCK);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", archive_error_string(st->outer));
        return -1;
    }
    rs_sha256_update(&st->digest, st->blob_buf, (size_t)n);
    st->blob_bytes += (uint64_t)n;
    *buf = st->blob_buf;
    return n;
}

/* Reader thread: fill slots until the decompressed stream ends, then read the rest of the blob
 * member so that the digest covers all of it. */
static void *reader_main(void *ud)
{
    struct stream *st = ud;
    int error = 0;
    char *msg = NULL;

    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (!st->cancel && st->produced >= st->released + RING_SLOTS)
            pthread_cond_wait(&st->cond, &st->mu);
        bool cancel = st->cancel;
        pthread_mutex_unlock(&st->mu);
        if (cancel)
            return NULL;
        struct ring_slot *slot = &st->slots[st->produced % RING_SLOTS];
        la_ssize_t n = archive_read_data(st->raw, slot->data, READ_BLOCK);
        if (n < 0) {
            error = -EBADMSG;
            msg = xstrdup(archive_error_string(st->raw) ? archive_error_string(st->raw)
                                                        : "decompression failed");
            break;
        }
        if (n == 0)
            break;
        rs_sha256_update(&st->diff, slot->data, (size_t)n);
        st->tar_bytes += (uint64_t)n;
        if (st->tar_bytes > st->max_bytes || (st->outer && st->tar_bytes > RATIO_FREE &&
                                              st->tar_bytes / RATIO_MAX > st->blob_bytes)) {
            error = st->limit = -EFBIG;
            msg = xstrdup("decompression limit reached");
            break;
        }
        slot->len = (size_t)n;
        pthread_mutex_lock(&st->mu);
        st->produced++;
        pthread_cond_broadcast(&st->cond);
        pthread_mutex_unlock(&st->mu);
    }
    while (!error && st->outer) {
        const void *buf;
        la_ssize_t n = blob_read_cb(st->raw, st, &buf);
        if (n < 0) {
            error = -EBADMSG;
            msg = xstrdup(archive_error_string(st->outer) ? archive_error_string(st->outer)
                                                          : "read error");
        }
        if (n <= 0)
            break;
    }
    pthread_mutex_lock(&st->mu);
    st->eof = true;
    st->error = error;
    st->error_msg = msg;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* The next filled slot (the previous one is given back), 0 at the end, -errno on failure. */
static la_ssize_t ring_take(struct stream *st, const void **buf)
{
    pthread_mutex_lock(&st->mu);
    st->released = st->consumed;
    pthread_cond_broadcast(&st->cond);
    while (st->consumed == st->produced && !st->eof)
        pthread_cond_wait(&st->cond, &st->mu);
    la_ssize_t n = 0;
    if (st->consumed < st->produced) {
        struct ring_slot *slot = &st->slots[st->consumed % RING_SLOTS];
        *buf = slot->data;
        n = (la_ssize_t)slot->len;
        st->consumed++;
    } else if (st->error) {
        n = st->error;
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

static la_ssize_t tar_read_cb(struct archive *a, void *ud, const void **buf)
{
    struct stream *st = ud;
    la_ssize_t n = ring_take(st, buf);
    if (n < 0) {
        archive_set_error(a, n == -EFBIG ? EFBIG : EBADMSG, "%s", st->error_msg);
        return -1;
    }
    return n;
}

static void reader_stop(struct stream *st, pthread_t thread)
{
    pthread_mutex_lock(&st->mu);
    st->cancel = true;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->mu);
    pthread_join(thread, NULL);
}

static int unpack_one(int fd, struct archive *outer, struct oci_archive_layer *l, size_t index,
                      int root_fd, const struct oci_extract_options *opts, struct rs_err *err)
{
    struct stream st = {
        .outer = outer,
        .max_bytes = opts->max_bytes ? opts->max_bytes : OCI_DEFAULT_MAX_BYTES,
        .blob_buf = xmalloc(READ_BLOCK),
    };
    struct archive *tar = NULL;
    char got[RS_SHA256_HEX_LEN + 1];
    pthread_t thread;
    bool running = false;
    int r;

    pthread_mutex_init(&st.mu, NULL);
    pthread_cond_init(&st.cond, NULL);
    for (size_t i = 0; i < RING_SLOTS; i++)
        st.slots[i].data = xmalloc(READ_BLOCK);
    rs_sha256_init(&st.digest);
    rs_sha256_init(&st.diff);
    if (outer) {
        st.raw = archive_read_new();
        archive_read_support_filter_all(st.raw);
        archive_read_support_format_raw(st.raw);
        r = archive_read_open(st.raw, &st, NULL, blob_read_cb, NULL) == ARCHIVE_OK ? 0 : -EBADMSG;
    } else {
        r = archive_open_fd(fd, &st.raw, true, err);
    }
    struct archive_entry *e;
    if (r == -EBADMSG || (r == 0 && archive_read_next_header(st.raw, &e) != ARCHIVE_OK)) {
        r = rs_err_msg(err, -EBADMSG, "layer %zu: cannot decompress: %s (libarchive)", index,
                       archive_error_string(st.raw));
        goto out;
    }
    if (r < 0)
        goto out;
    r = -pthread_create(&thread, NULL, reader_main, &st);
    if (r < 0) {
        r = rs_err_set(err, r, "layer %zu: cannot start the reader thread", index);
        goto out;
    }
    running = true;
    tar = archive_read_new();
    archive_read_support_format_tar(tar);
    if (archive_read_open(tar, &st, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EBADMSG, "layer %zu: not a tar archive: %s (libarchive)", index,
                       archive_error_string(tar));
        goto out;
    }
    r = oci_tar_extract(tar, root_fd, opts, NULL, err);
    if (r < 0) {
        if (st.limit) {
            rs_err_release(err);
            r = rs_err_msg(err, st.limit,
                           "layer %zu: decompressed stream exceeds the limit (%" PRIu64
                           " bytes, or %d times its compressed size beyond 1 GiB)",
                           index, st.max_bytes, RATIO_MAX);
        } else {
            rs_err_wrap(err, "layer %zu", index);
        }
        goto out;
    }
    /* The diffID covers every decompressed byte, padding after the end-of-archive included,
     * and the digest every byte of the member: let the reader finish. */
    for (;;) {
        const void *buf;
        la_ssize_t n = ring_take(&st, &buf);
        if (n < 0) {
            r = rs_err_msg(err, (int)n, "layer %zu: %s", index, st.error_msg);
            goto out;
        }
        if (n == 0)
            break;
    }
    pthread_join(thread, NULL);
    running = false;
    if (outer) {
        rs_sha256_final(&st.digest, got);
        if (st.blob_bytes != l->size) {
            r = rs_err_msg(err, -EBADMSG, "layer %zu: the blob has %" PRIu64 " bytes, not %" PRIu64,
                           index, st.blob_bytes, l->size);
            goto out;
        }
        if (l->digest && strcmp(got, l->digest) != 0) {
            r = rs_err_msg(err, -EBADMSG,
                           "layer %zu: digest mismatch: the archive says sha256:%s, the content is "
                           "sha256:%s",
                           index, l->digest, got);
            goto out;
        }
    }
    rs_sha256_final(&st.diff, got);
    if (!l->diff_id) {
        l->diff_id = xstrdup(got);
    } else if (strcmp(got, l->diff_id) != 0) {
        r = rs_err_msg(err, -EBADMSG,
                       "layer %zu: diffID mismatch: the config says sha256:%s, the content is "
                       "sha256:%s",
                       index, l->diff_id, got);
        goto out;
    }
    r = 0;
out:
    if (running)
        reader_stop(&st, thread);
    if (tar)
        archive_read_free(tar);
    if (st.raw)
        archive_read_free(st.raw);
    rs_sha256_release(&st.digest);
    rs_sha256_release(&st.diff);
    free(st.blob_buf);
    for (size_t i = 0; i < RING_SLOTS; i++)
        free(st.slots[i].data);
    free(st.error_msg);
    pthread_cond_destroy(&st.cond);
    pthread_mutex_destroy(&st.mu);
    return r;
}

int oci_archive_unpack(int fd, struct oci_archive_info *info, const int *root_fds,
                       const struct oci_extract_options *opts, struct rs_err *err)
{
    struct oci_extract_options o = opts ? *opts
                                        : (struct oci_extract_options){
                                              .flags = OCI_EXTRACT_LAYER_FLAGS,
                                          };
    _cleanup_(archive_read_freep) struct archive *a = NULL;
    _cleanup_free_ bool *done = xcalloc(info->n_layers + 1, sizeof(bool));
    int r;

    if (info->kind == OCI_ARCHIVE_FLAT) {
        o.flags &= ~(unsigned)OCI_EXTRACT_WHITEOUTS;
        if (root_fds[0] < 0)
            return 0;
        return unpack_one(fd, NULL, &info->layers[0], 0, root_fds[0], &o, err);
    }
    r = archive_open_fd(fd, &a, false, err);
    if (r < 0)
        return r;
    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN)
            return rs_err_msg(err, -EBADMSG, "bad archive: %s (libarchive)",
                              archive_error_string(a));
        _cleanup_free_ char *name = NULL;
        if (rs_path_normalize_relative(archive_entry_pathname(e), &name) < 0)
            continue;
        for (size_t i = 0; i < info->n_layers; i++) {
            if (root_fds[i] < 0 || done[i] || strcmp(info->layers[i].member, name) != 0)
                continue;
            log_debug("unpacking layer %zu from '%s'", i, name);
            r = unpack_one(fd, a, &info->layers[i], i, root_fds[i], &o, err);
            if (r < 0)
                return r;
            done[i] = true;
            break; /* the member's data is consumed; another layer with it needs its own fd */
        }
    }
    for (size_t i = 0; i < info->n_layers; i++)
        if (root_fds[i] >= 0 && !done[i])
            return rs_err_msg(err, -EBADMSG, "layer %zu ('%s') was not found in the archive", i,
                              info->layers[i].member);
    return 0;
}
