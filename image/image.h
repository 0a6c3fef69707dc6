#pragma once
/* Images as ordered layer stacks with a config, and their on-disk formats. Pure data and
 * files: nothing here knows where the store is.
 *
 * An image record (the store's images/<name>.json, also `rootstock image inspect`):
 *   { "name": "stable-minbase:latest", "id": "<hex>", "created": 1700000000,
 *     "architecture": "amd64", "layers": ["<layer id>", …],          bottom to top
 *     "config": { "Env": […], "Cmd": […], "WorkingDir": "/", "Hostname": "", "User": "" },
 *     "source": "mkroot trixie minbase" }
 * The id is the SHA-256 of the canonical JSON of layers+config, so the same content has the
 * same id whatever its name. */

#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

struct image_config {
    char **env;        /* owned strv of "K=V"; may be NULL */
    char **entrypoint; /* owned strv; NULL means none: the command runs as it is */
    char **cmd;        /* owned strv; NULL means the runtime's default (the arguments of
                        * the entrypoint, when there is one) */
    char *working_dir; /* owned; NULL means "/" */
    char *hostname;    /* owned; NULL means the runtime's default */
    char *user;        /* owned; NULL means root */
};

struct image {
    char *name;         /* owned, normalised "name:tag" */
    char *id;           /* owned, 64 hex; computed by image_compute_id() */
    int64_t created;    /* seconds since the epoch */
    char *architecture; /* owned, Debian name ("amd64"); may be NULL */
    char **layers;      /* owned strv of layer ids, bottom to top */
    struct image_config config;
    char *source; /* owned, what made it ("mkroot trixie minbase"); may be NULL */
};

struct image *image_new(void);
/* Frees everything; NULL is fine; returns NULL. */
struct image *image_free(struct image *img);
static inline void image_freep(struct image **p)
{
    image_free(*p);
}
/* Deep copy. */
struct image *image_dup(const struct image *img);
void image_config_release(struct image_config *cfg);
void image_config_copy(struct image_config *dst, const struct image_config *src);

/* Normalise a user-given image name: "NAME" or "NAME:TAG" → "NAME:TAG" (tag "latest"). NAME is
 * [a-z0-9] then [a-z0-9._-] (and "/" between such parts, never "..", "//" or a leading "/"),
 * at most 128 characters; TAG is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}. Anything else (spaces,
 * control characters, upper case in NAME, "..") is -EINVAL with a message naming the text. */
int image_name_normalize(const char *text, char **ret, struct rs_err *err);

/* Set img->id from layers + config. */
void image_compute_id(struct image *img);

/* Serialise to / parse from the JSON record above. Parsing bounds every field and rejects
 * malformed records with -EBADMSG naming what is wrong. */
char *image_to_json(const struct image *img);
int image_from_json(const char *json, size_t len, struct image **ret, struct rs_err *err);

/* Layer metadata (the store's layers/<id>/layer.json). */
struct layer_meta {
    char *id;         /* owned, 64 hex */
    char *parent;     /* owned layer id, NULL for a base layer */
    char *diff_id;    /* owned "sha256:<hex>" of the uncompressed layer tar, NULL until computed */
    uint64_t size;    /* bytes of file content in the tree */
    int64_t created;  /* seconds since the epoch */
    char *created_by; /* owned, what made it; may be NULL */
};

void layer_meta_release(struct layer_meta *m);
char *layer_meta_to_json(const struct layer_meta *m);
int layer_meta_from_json(const char *json, size_t len, struct layer_meta *ret, struct rs_err *err);
