/* Writing OCI image layouts as one tar: oci-layout, index.json, a docker manifest.json, and
 * blobs/sha256/ (config, manifest, layers), every byte a function of the image. */
#include "image/oci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/oci-internal.h"

#define COPY_BUF_SIZE (1 << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

static const struct {
    const char *debian, *oci, *variant;
} arch_map[] = {
    { "amd64", "amd64", NULL },       { "arm64", "arm64", "v8" },
    { "armhf", "arm", "v7" },         { "armel", "arm", "v5" },
    { "i386", "386", NULL },          { "ppc64el", "ppc64le", NULL },
    { "s390x", "s390x", NULL },       { "riscv64", "riscv64", NULL },
    { "mips64el", "mips64le", NULL }, { "loong64", "loong64", NULL },
};

const char *oci_arch_from_debian(const char *debian)
{
    for (size_t i = 0; debian && i < ELEMENTSOF(arch_map); i++)
        if (strcmp(arch_map[i].debian, debian) == 0)
            return arch_map[i].oci;
    return debian ? debian : "amd64";
}

const char *oci_arch_to_debian(const char *oci, const char *variant)
{
    for (size_t i = 0; oci && i < ELEMENTSOF(arch_map); i++)
        if (strcmp(arch_map[i].oci, oci) == 0 &&
            (!variant || !arch_map[i].variant || strcmp(variant, arch_map[i].variant) == 0))
            return arch_map[i].debian;
    return oci;
}

void oci_format_time(int64_t t, char buf[32])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, 32, "1970-01-01T00:00:00Z");
}

static json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

static json_object *jstrv(char *const *l)
{
    json_object *a = json_object_new_array();
    STRV_FOREACH(s, (char **)l)
        json_object_array_add(a, jstr(*s));
    return a;
}

static json_object *descriptor(const char *media_type, const char *hex, uint64_t size)
{
    json_object *d = json_object_new_object();
    _cleanup_free_ char *digest = xasprintf("sha256:%s", hex);
    json_object_object_add(d, "mediaType", jstr(media_type));
    json_object_object_add(d, "digest", jstr(digest));
    json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
    return d;
}

static char *json_dump(json_object *o)
{
    return xstrdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static char *config_json(const struct image *img, const struct oci_export_layer *layers,
                         size_t n_layers, const char *created)
{
    _cleanup_(json_object_putp) json_object *root = json_object_new_object();
    json_object *cfg = json_object_new_object(), *rootfs = json_object_new_object();
    json_object *diff_ids = json_object_new_array(), *history = json_object_new_array();

    json_object_object_add(root, "created", jstr(created));
    json_object_object_add(root, "architecture", jstr(oci_arch_from_debian(img->architecture)));
    json_object_object_add(root, "os", jstr("linux"));
    if (img->config.env)
        json_object_object_add(cfg, "Env", jstrv(img->config.env));
    if (img->config.entrypoint)
        json_object_object_add(cfg, "Entrypoint", jstrv(img->config.entrypoint));
    if (img->config.cmd)
        json_object_object_add(cfg, "Cmd", jstrv(img->config.cmd));
    if (img->config.working_dir)
        json_object_object_add(cfg, "WorkingDir", jstr(img->config.working_dir));
    if (img->config.user)
        json_object_object_add(cfg, "User", jstr(img->config.user));
    if (img->config.hostname)
        json_object_object_add(cfg, "Hostname", jstr(img->config.hostname));
    json_object_object_add(root, "config", cfg);
    json_object_object_add(rootfs, "type", jstr("layers"));
    for (size_t i = 0; i < n_layers; i++) {
        _cleanup_free_ char *d = xasprintf("sha256:%s", layers[i].blob.diff_id);
        json_object_array_add(diff_ids, jstr(d));
        json_object *h = json_object_new_object();
        json_object_object_add(h, "created", jstr(created));
        json_object_object_add(h, "created_by",
                               jstr(layers[i].created_by ? layers[i].created_by : "rootstock"));
        json_object_array_add(history, h);
    }
    json_object_object_add(rootfs, "diff_ids", diff_ids);
    json_object_object_add(root, "rootfs", rootfs);
    json_object_object_add(root, "history", history);
    return json_dump(root);
}

static char *manifest_json(const char *config_hex, size_t config_size,
                           const struct oci_export_layer *layers, size_t n_layers)
{
    _cleanup_(json_object_putp) json_object *root = json_object_new_object();
    json_object *ls = json_object_new_array();
    json_object_object_add(root, "schemaVersion", json_object_new_int(2));
    json_object_object_add(root, "mediaType", jstr("application/vnd.oci.image.manifest.v1+json"));
    json_object_object_add(
        root, "config",
        descriptor("application/vnd.oci.image.config.v1+json", config_hex, config_size));
    for (size_t i = 0; i < n_layers; i++)
        json_object_array_add(ls, descriptor(oci_layer_media_type(layers[i].compression),
                                             layers[i].blob.digest, layers[i].blob.size));
    json_object_object_add(root, "layers", ls);
    return json_dump(root);
}

static char *index_json(const char *manifest_hex, size_t manifest_size, const char *ref_name,
                        const struct image *img)
{
    _cleanup_(json_object_putp) json_object *root = json_object_new_object();
    json_object *ms = json_object_new_array(), *ann = json_object_new_object();
    json_object *d =
        descriptor("application/vnd.oci.image.manifest.v1+json", manifest_hex, manifest_size);
    json_object *plat = json_object_new_object();
    json_object_object_add(plat, "architecture", jstr(oci_arch_from_debian(img->architecture)));
    json_object_object_add(plat, "os", jstr("linux"));
    json_object_object_add(d, "platform", plat);
    json_object_object_add(ann, "io.containerd.image.name", jstr(ref_name));
    json_object_object_add(ann, "org.opencontainers.image.ref.name", jstr(ref_name));
    json_object_object_add(d, "annotations", ann);
    json_object_array_add(ms, d);
    json_object_object_add(root, "schemaVersion", json_object_new_int(2));
    json_object_object_add(root, "mediaType", jstr("application/vnd.oci.image.index.v1+json"));
    json_object_object_add(root, "manifests", ms);
    return json_dump(root);
}

static char *docker_manifest_json(const char *config_hex, const char *ref_name,
                                  const struct oci_export_layer *layers, size_t n_layers)
{
    _cleanup_(json_object_putp) json_object *root = json_object_new_array();
    json_object *m = json_object_new_object(), *tags = json_object_new_array();
    json_object *ls = json_object_new_array();
    _cleanup_free_ char *cfg = xasprintf("blobs/sha256/%s", config_hex);
    json_object_object_add(m, "Config", jstr(cfg));
    json_object_array_add(tags, jstr(ref_name));
    json_object_object_add(m, "RepoTags", tags);
    for (size_t i = 0; i < n_layers; i++) {
        _cleanup_free_ char *p = xasprintf("blobs/sha256/%s", layers[i].blob.digest);
        json_object_array_add(ls, jstr(p));
    }
    json_object_object_add(m, "Layers", ls);
    json_object_array_add(root, m);
    return json_dump(root);
}

struct awriter {
    struct archive *a;
    int64_t mtime;
    char *buf;
};

static int add_member(struct awriter *w, const char *name, bool dir, const void *data, size_t size,
                      int fd, struct rs_err *err)
{
    _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_mtime(e, w->mtime, 0);
    if (!dir)
        archive_entry_set_size(e, (int64_t)size);
    if (archive_write_header(w->a, e) != ARCHIVE_OK)
        return rs_err_msg(err, -EIO, "cannot write '%s' to the archive: %s", name,
                          archive_error_string(w->a));
    if (data && archive_write_data(w->a, data, size) != (la_ssize_t)size)
        return rs_err_msg(err, -EIO, "cannot write '%s' to the archive: %s", name,
                          archive_error_string(w->a));
    for (uint64_t off = 0; fd >= 0 && off < size;) {
        size_t want = size - off < COPY_BUF_SIZE ? (size_t)(size - off) : COPY_BUF_SIZE;
        ssize_t n = pread(fd, w->buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return rs_err_set(err, n < 0 ? -errno : -EIO, "cannot read the blob of '%s'", name);
        if (archive_write_data(w->a, w->buf, (size_t)n) != n)
            return rs_err_msg(err, -EIO, "cannot write '%s' to the archive: %s", name,
                              archive_error_string(w->a));
        off += (uint64_t)n;
    }
    return 0;
}

struct blob_ref {
    const char *hex;
    const void *data;
    size_t size;
    int fd;
};

static int blob_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct blob_ref *)a)->hex, ((const struct blob_ref *)b)->hex);
}

int oci_archive_write(int out_fd, const char *ref_name, const struct image *img,
                      const struct oci_export_layer *layers, size_t n_layers, int64_t clamp_mtime,
                      char ret_manifest_digest[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    int64_t t = img->created;
    char created[32], config_hex[RS_SHA256_HEX_LEN + 1], manifest_hex[RS_SHA256_HEX_LEN + 1];
    if (clamp_mtime >= 0 && t > clamp_mtime)
        t = clamp_mtime;
    oci_format_time(t, created);

    _cleanup_free_ char *config = config_json(img, layers, n_layers, created);
    rs_sha256_buf(config, strlen(config), config_hex);
    _cleanup_free_ char *manifest = manifest_json(config_hex, strlen(config), layers, n_layers);
    rs_sha256_buf(manifest, strlen(manifest), manifest_hex);
    _cleanup_free_ char *index = index_json(manifest_hex, strlen(manifest), ref_name, img);
    _cleanup_free_ char *docker = docker_manifest_json(config_hex, ref_name, layers, n_layers);
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";

    struct blob_ref *blobs = xcalloc(n_layers + 2, sizeof(*blobs));
    size_t n_blobs = 0;
    blobs[n_blobs++] = (struct blob_ref){ config_hex, config, strlen(config), -1 };
    blobs[n_blobs++] = (struct blob_ref){ manifest_hex, manifest, strlen(manifest), -1 };
    for (size_t i = 0; i < n_layers; i++)
        blobs[n_blobs++] = (struct blob_ref){ layers[i].blob.digest, NULL, layers[i].blob.size,
                                              layers[i].blob_fd };
    qsort(blobs, n_blobs, sizeof(*blobs), blob_ref_cmp);

    struct awriter w = { .a = archive_write_new(), .mtime = t, .buf = xmalloc(COPY_BUF_SIZE) };
    int r;
    if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w.a, 64 * 1024) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
        archive_write_open_fd(w.a, out_fd) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EIO, "cannot start the archive: %s", archive_error_string(w.a));
        goto out;
    }
    if ((r = add_member(&w, "oci-layout", false, layout, strlen(layout), -1, err)) < 0 ||
        (r = add_member(&w, "index.json", false, index, strlen(index), -1, err)) < 0 ||
        (r = add_member(&w, "manifest.json", false, docker, strlen(docker), -1, err)) < 0 ||
        (r = add_member(&w, "blobs/", true, NULL, 0, -1, err)) < 0 ||
        (r = add_member(&w, "blobs/sha256/", true, NULL, 0, -1, err)) < 0)
        goto out;
    for (size_t i = 0; i < n_blobs; i++) {
        if (i > 0 && strcmp(blobs[i].hex, blobs[i - 1].hex) == 0)
            continue; /* the same layer twice is one blob */
        _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", blobs[i].hex);
        r = add_member(&w, name, false, blobs[i].data, blobs[i].size, blobs[i].fd, err);
        if (r < 0)
            goto out;
    }
    if (archive_write_close(w.a) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EIO, "cannot finish the archive: %s", archive_error_string(w.a));
        goto out;
    }
    if (ret_manifest_digest)
        memcpy(ret_manifest_digest, manifest_hex, sizeof(manifest_hex));
    r = 0;
out:
    archive_write_free(w.a);
    free(w.buf);
    free(blobs);
    return r;
}
