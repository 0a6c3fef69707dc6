#pragma once
/* Inside the store: shared between the cache/ sources and their unit tests. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/cache.h"
#include "common/err.h"

struct cache {
    char *root;     /* owned, absolute */
    int dir_fd;     /* O_DIRECTORY of root */
    int lock_fd;    /* the store lock */
    bool exclusive; /* lock held exclusively */
    bool read_only; /* the filesystem is read-only: only lookups work */
    dev_t dev;      /* st_dev of the root, to stay on one filesystem */
    ino_t ino;      /* st_ino of the root, so an import never copies the store into itself */
};

/* Fill buf (2*n+1 bytes) with n random bytes as hex. */
void cache_random_hex(char *buf, size_t n_bytes);

/* Write data to dir/name (relative to the store root) atomically: a file under tmp/ that is
 * fsync'd and renamed over the target, so a crash leaves the old file or the new one and
 * any leftover is in tmp/. */
int cache_write_atomic(struct cache *c, const char *dir, const char *name, const void *data,
                       size_t len, struct rs_err *err);

/* Make a fresh directory tmp/<prefix>-<random>; writes its name relative to the store root
 * ("tmp/…", owned) to *ret_rel. */
int cache_mkdtemp(struct cache *c, const char *prefix, char **ret_rel, struct rs_err *err);

/* Move rel (relative to the root) into tmp/ under a fresh name, then remove it: the removal
 * is invisible under the old name from the first step on, and a crash during the removal
 * leaves only a tmp/ leftover. */
int cache_remove_tree(struct cache *c, const char *rel, struct rs_err *err);

/* Add a hint for errors that mean "the store's filesystem is read-only / full / not ours". */
void cache_err_add_hint(struct rs_err *err);

/* Turn an image name into the file name under images/ and back. */
char *cache_image_file_name(const char *normalized_name);

/* The error for a full or read-only store, with a hint; returns ret. */
int cache_err_write(struct cache *c, int ret, struct rs_err *err, const char *what,
                    const char *path);

/* Bytes of regular-file content under dirfd (hard links counted once), staying on one
 * filesystem. */
int cache_tree_size(int dirfd, uint64_t *ret_size);

/* Copy the directory tree src_path into the existing empty directory dst_fd, keeping owners,
 * modes, times, xattrs, hard links and special files. trusted.overlay.* xattrs of the source
 * are dropped (they would change what overlayfs shows). Writes the content size to
 * *ret_size. Refuses to copy the store into itself. */
int cache_copy_tree(struct cache *c, const char *src_path, int dst_fd, uint64_t *ret_size,
                    struct rs_err *err);

/* Edit distance, for "did you mean" hints. */
size_t cache_edit_distance(const char *a, const char *b);

/* True if s is a valid file name for a key or id: [A-Za-z0-9._-], 1..128, not starting with
 * '.'. */
bool cache_key_valid(const char *s);
