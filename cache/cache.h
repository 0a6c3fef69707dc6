#pragma once
/* The store: one directory (default /var/lib/rootstock) that holds everything, content-
 * addressed where it can be, published by rename so that a crash at any moment leaves either
 * the old state or the new one.
 *
 *   blobs/sha256/<hex>      immutable files named by their SHA-256 (.debs, indexes, layer tars)
 *   layers/<id>/root        an unpacked layer tree; never modified once published
 *   layers/<id>/layer.json  struct layer_meta
 *   images/<name>.json      struct image, one file per "name:tag" ('/' and ':' escaped)
 *   recipes/<key>           build key -> layer id
 *   containers/<id>/        upper, work, merged and lock of a running container
 *   locks/<key>             per-build-key locks
 *   tmp/                    staging; leftovers are removed at open when nobody else holds
 *                           the store
 *   lock                    flock: shared for every command, exclusive for gc
 *
 * Everything returns >= 0 or -errno with *err filled (common/err.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/sha256.h"
#include "image/image.h"
#include "image/oci.h"

struct cache;

enum cache_open_flags {
    CACHE_EXCLUSIVE = 1 << 0, /* gc, verify --repair: wait until no other process uses the store */
    CACHE_NO_CREATE = 1 << 1, /* do not create a missing store (-ENOENT) */
};

/* Open (creating it, unless CACHE_NO_CREATE) the store at root and take the store lock:
 * shared, or exclusive with CACHE_EXCLUSIVE. A read-only or full filesystem is a clear error
 * and leaves the store as it was. */
int cache_open(const char *root, unsigned flags, struct cache **ret, struct rs_err *err);
/* Release the lock and free; NULL is fine; returns NULL. */
struct cache *cache_close(struct cache *c);
static inline void cache_closep(struct cache **c)
{
    cache_close(*c);
}
/* O_DIRECTORY fd of the store root, owned by c. */
int cache_dir_fd(const struct cache *c);
/* The store's root path, owned by c. */
const char *cache_root(const struct cache *c);

/* ---- blobs ---- */

/* True if blobs/sha256/<hex> exists (not verified). */
bool cache_blob_has(struct cache *c, const char *hex);
/* Absolute path of a blob (whether or not it exists); owned by the caller. */
char *cache_blob_path(struct cache *c, const char *hex);
/* Open a blob for reading. Small blobs (< 1 MiB) are verified against their name first and
 * a mismatch is -EBADMSG "blob '<hex>' is corrupt". */
int cache_blob_open(struct cache *c, const char *hex, int *ret_fd, struct rs_err *err);

/* A blob being written: a file under tmp/ that is hashed as it is written and becomes
 * blobs/sha256/<hex> on commit, or disappears on abort (or on crash, at the next open). */
struct cache_blob_writer;
int cache_blob_writer_new(struct cache *c, struct cache_blob_writer **ret, struct rs_err *err);
/* Append data (hashed as it goes). */
int cache_blob_writer_write(struct cache_blob_writer *w, const void *data, size_t len,
                            struct rs_err *err);
/* The temporary file's fd, for writers that need to seek or resume (a partial download):
 * bytes written through it directly are hashed at commit by rereading the file. */
int cache_blob_writer_fd(struct cache_blob_writer *w);
/* Bytes written so far. */
uint64_t cache_blob_writer_size(struct cache_blob_writer *w);
/* Finish: if expected_hex is not NULL the content must hash to it (else -EBADMSG, the file is
 * discarded). Renames into place (an existing identical blob is fine) and writes the digest
 * to ret_hex (may be NULL). Frees w whatever the result. */
int cache_blob_writer_commit(struct cache_blob_writer *w, const char *expected_hex,
                             char ret_hex[RS_SHA256_HEX_LEN + 1], struct rs_err *err);
/* Discard; NULL is fine; returns NULL. */
struct cache_blob_writer *cache_blob_writer_abort(struct cache_blob_writer *w);
/* Whole buffer in one call. */
int cache_blob_put(struct cache *c, const void *data, size_t len,
                   char ret_hex[RS_SHA256_HEX_LEN + 1], struct rs_err *err);

/* ---- layers ---- */

/* A layer under construction: tmp/<random>/root, which the caller fills. */
struct cache_layer_stage;
int cache_layer_stage_new(struct cache *c, struct cache_layer_stage **ret, struct rs_err *err);
/* The staging root: an O_DIRECTORY fd and its absolute path, both owned by the stage. */
int cache_layer_stage_root_fd(const struct cache_layer_stage *s);
const char *cache_layer_stage_root_path(const struct cache_layer_stage *s);
/* Publish the staged tree as layers/<id> with meta (meta->id is ignored; the id is
 * SHA-256(parent "\n" key) when key is not NULL — so the same build gives the same id — and
 * random otherwise). If that id is already published, the staged tree is discarded and the
 * existing layer is kept. Writes the id to ret_id. Frees s whatever the result. */
int cache_layer_stage_publish(struct cache_layer_stage *s, const struct layer_meta *meta,
                              const char *key, char ret_id[RS_SHA256_HEX_LEN + 1],
                              struct rs_err *err);
/* Discard a stage; NULL is fine; returns NULL. */
struct cache_layer_stage *cache_layer_stage_abort(struct cache_layer_stage *s);

/* Publish an existing directory (on the store's filesystem, e.g. a container's upper) as a
 * layer by renaming it into place. Same id rules as cache_layer_stage_publish. */
int cache_layer_publish_dir(struct cache *c, const char *dir_path, const struct layer_meta *meta,
                            const char *key, char ret_id[RS_SHA256_HEX_LEN + 1],
                            struct rs_err *err);
bool cache_layer_has(struct cache *c, const char *id);
/* Absolute path of layers/<id>/root; owned by the caller. */
char *cache_layer_root_path(struct cache *c, const char *id);
int cache_layer_meta(struct cache *c, const char *id, struct layer_meta *ret, struct rs_err *err);
/* Record a computed diffID in layer.json (atomically). */
int cache_layer_set_diff_id(struct cache *c, const char *id, const char *diff_id,
                            struct rs_err *err);

/* ---- images ---- */

/* Look up an image by user-given name ("x" = "x:latest") or by id or unique id prefix (>= 12
 * hex). -ENOENT "image 'x' not found" with the closest names as a hint. */
int cache_image_get(struct cache *c, const char *name, struct image **ret, struct rs_err *err);
/* Create or replace (atomically) the image img->name; every layer must exist. Sets img->id. */
int cache_image_put(struct cache *c, struct image *img, struct rs_err *err);
int cache_image_remove(struct cache *c, const char *name, struct rs_err *err);
/* All images, sorted by name; *ret is an owned array of owned images. */
int cache_image_list(struct cache *c, struct image ***ret, size_t *ret_n, struct rs_err *err);
void cache_image_list_free(struct image **list, size_t n);

/* Make an image from a plain directory tree: copy dir into a new layer (owners, modes, times,
 * xattrs, hard links, symlinks and special files kept; trusted.overlay.* xattrs dropped), then
 * record it as image `name` with config cfg (may be NULL) and source text (may be NULL: "import-dir
 * DIR"). The copy happens under tmp/ and becomes visible only when complete. *ret (optional)
 * gets the stored image. */
int cache_image_import_dir(struct cache *c, const char *dir, const char *name,
                           const struct image_config *cfg, const char *source, struct image **ret,
                           struct rs_err *err);

/* ---- build keys ---- */

/* A build key is 64 hex (the SHA-256 of everything that determines a build). get: 0 and the
 * layer id if the recipe exists and its layer is present, -ENOENT otherwise. */
int cache_recipe_get(struct cache *c, const char *key, char ret_layer_id[RS_SHA256_HEX_LEN + 1]);
int cache_recipe_put(struct cache *c, const char *key, const char *layer_id, struct rs_err *err);
/* Take the exclusive lock of one build key, waiting for another builder of the same key.
 * Returns the lock fd (close it to release). */
int cache_lock_key(struct cache *c, const char *key, struct rs_err *err);

/* ---- containers ---- */

/* A running container's directory: containers/<id>/{upper,work,merged}, locked by this
 * process until removed, so gc never takes the layers it uses. */
struct cache_container;
int cache_container_new(struct cache *c, const struct image *img, struct cache_container **ret,
                        struct rs_err *err);
enum cache_container_flags {
    CACHE_CONTAINER_NO_MERGED = 1 << 0, /* no merged/: the caller mounts on the container's
                                           own directory (runroot) */
    /* With NO_MERGED: take the store's spare container directory (containers/spare) when
     * there is one, and let cache_container_remove() keep this one as the spare when it is
     * still as new: upper/ empty and untouched (mode 0755, our owner, no xattrs), and no
     * overlayfs "volatile" marker under work/. Saves the directory's creation and removal,
     * the largest part of a short run's cost on a disk (see container.c). */
    CACHE_CONTAINER_REUSE = 1 << 1,
};
/* The name of the spare under containers/: not a container; gc removes it quietly. */
#define CACHE_CONTAINER_SPARE "spare"
/* cache_container_new with flags; cache_container_new(c, …) is cache_container_new_ex(c, 0, …). */
int cache_container_new_ex(struct cache *c, const struct image *img, unsigned flags,
                           struct cache_container **ret, struct rs_err *err);
const char *cache_container_id(const struct cache_container *ct);   /* 64 hex */
const char *cache_container_path(const struct cache_container *ct); /* absolute dir */
/* Remove the container's directory (after its mounts are gone) and free; NULL is fine. */
struct cache_container *cache_container_remove(struct cache_container *ct);
/* Free without removing (the child of a fork); NULL is fine. */
struct cache_container *cache_container_forget(struct cache_container *ct);

/* ---- upkeep ---- */

struct cache_usage {
    uint64_t blobs_size, layers_size, tmp_size;
    size_t n_blobs, n_layers, n_images, n_containers;
};
int cache_usage(struct cache *c, struct cache_usage *ret, struct rs_err *err);
/* Remove what no image or live container references (needs CACHE_EXCLUSIVE): unused layers
 * (a build key pointing at one goes with it, so `image rm` + gc really frees space), leftover
 * containers, stale key locks. Blobs are kept (see cache_gc_ex). Reports each removed item
 * through log_info and the totals in ret_freed/ret_n. */
int cache_gc(struct cache *c, uint64_t *ret_freed, size_t *ret_n, struct rs_err *err);
enum cache_gc_flags {
    CACHE_GC_BLOBS = 1 << 0, /* also remove blobs that no kept layer or image record names (any
                                64-hex string in layers/<id>/layer.json or images/<x>.json
                                counts as a reference); without it blobs (.debs, indexes,
                                archives) are kept */
};
/* cache_gc with flags; cache_gc(c, …) is cache_gc_ex(c, 0, …). Layers are kept when an image
 * or a live container uses them (or a kept layer names them as parent); a build key whose
 * layer is removed is removed with it. Leftover containers (lock free) are removed unless
 * something is still mounted in them. */
int cache_gc_ex(struct cache *c, unsigned flags, uint64_t *ret_freed, size_t *ret_n,
                struct rs_err *err);
/* Recheck every blob digest and every layer and image record; print each problem (path and
 * cause) to stderr. With repair, remove what is corrupt and the images that depended on it,
 * saying so. Returns the number of problems found (0 = clean), or -errno. */
int cache_verify(struct cache *c, bool repair, struct rs_err *err);

/* ---- OCI and docker archives (oci_store.c) ---- */

/* Import an OCI archive, a docker-save archive or a flat root tarball (path, or "-" for
 * stdin) into the store, keyed by content so a second import of the same file is a lookup.
 * name may be NULL: the archive's own ref name, else one derived from the content. Writes
 * the image's normalised name to *ret_name (owned). */
int cache_import_archive(struct cache *c, const char *path, const char *name, char **ret_name,
                         struct rs_err *err);
/* Options of cache_import_archive_ex(). */
struct cache_import_options {
    /* Bound on one layer's uncompressed size, in bytes (its tar stream and its logical file
     * content); 0: ROOTSTOCK_IMPORT_MAX_SIZE when set, else OCI_DEFAULT_MAX_BYTES (64 GiB). */
    uint64_t max_size;
};
/* cache_import_archive with options (opts may be NULL: all defaults). A layer over the bound
 * is -EFBIG and the store is left unchanged. */
int cache_import_archive_ex(struct cache *c, const char *path, const char *name,
                            const struct cache_import_options *opts, char **ret_name,
                            struct rs_err *err);
/* Write the image `name` to out_fd as one OCI archive (oci_archive_write(): OCI layout plus
 * docker manifest.json), each layer written reproducibly from its directory with `compression`
 * (oci_layer_write()); timestamps later than clamp_mtime are clamped when it is >= 0
 * (SOURCE_DATE_EPOCH). The same image and arguments give the same bytes. Layer blobs are staged
 * in the store's tmp/ and gone afterwards; each layer's diffID is recorded so that importing
 * the archive again finds the layers. out_fd is written from its current position and not
 * closed or synced. */
int cache_export_image(struct cache *c, const char *name, int out_fd,
                       enum oci_compression compression, int64_t clamp_mtime, struct rs_err *err);

/* ---- verbs (cmd.c, cmd_oci.c) ---- */

/* `rootstock image export NAME -o FILE` and `rootstock image import FILE [NAME]`; argv[0] is
 * the sub-verb. Return the exit code. */
int cmd_image_export(int argc, char *argv[]);
int cmd_image_import(int argc, char *argv[]);

/* `rootstock image VERB …`: the store's image verbs. Returns the exit code. */
int cmd_image(int argc, char *argv[]);
/* `rootstock cache VERB …`: du, gc, verify. Returns the exit code. */
int cmd_cache(int argc, char *argv[]);
