#pragma once
/* Layer tarballs and OCI image archives: the ecosystem's formats, written reproducibly and read
 * defensively. Nothing here knows where the store is (cache/oci_store.c is the glue).
 *
 *   oci_tar_extract()    any libarchive tar reader -> a directory, safely (also .deb data.tar)
 *   oci_layer_write()    a layer directory -> reproducible tar -> zstd/gzip/none, hashed in one
 * pass oci_archive_write()  image + layer blobs -> one OCI layout tar (+ docker manifest.json)
 *   oci_archive_scan()   an OCI / docker-save / flat root tar -> what it holds, checked
 *   oci_archive_unpack() its layers -> directories, every size, digest and diffID checked
 *
 * Everything returns >= 0 or -errno with *err filled (common/err.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/sha256.h"
#include "image/image.h"

struct archive;

/* ---- safe extraction ---- */

/* Default bounds of one extraction (a layer or a data.tar): the decompression-bomb limit.
 * Logical file bytes (sparse holes count), entries, and the length of an entry's path, symlink
 * target or hard link target. Reaching one is -EFBIG "… exceeds the limit of …". */
#define OCI_DEFAULT_MAX_BYTES    (64ULL << 30) /* 64 GiB */
#define OCI_DEFAULT_MAX_ENTRIES  (1ULL << 22)  /* 4 Mi entries */
#define OCI_DEFAULT_MAX_PATH_LEN 4096

enum oci_extract_flags {
    /* OCI layers: ".wh.NAME" becomes an overlay whiteout (char 0/0 NAME) and ".wh..wh..opq"
     * the opaque xattr on its directory. Off: such names are ordinary files (.debs). */
    OCI_EXTRACT_WHITEOUTS = 1 << 0,
    /* Block and character device entries are created; otherwise they are refused (-EPERM).
     * FIFOs are always allowed; sockets are skipped. */
    OCI_EXTRACT_ALLOW_DEVICES = 1 << 1,
    /* A path that appears twice (or a whiteout of a path the archive also ships) is -EEXIST. */
    OCI_EXTRACT_REFUSE_DUPLICATES = 1 << 2,
    /* A directory entry whose path is an existing symlink to a directory keeps the symlink
     * (tar --keep-directory-symlink; mkroot keeps /bin -> usr/bin when a later package ships
     * ./bin/). Without it the symlink is replaced (or refused, with OCI_EXTRACT_NO_OVERWRITE). */
    OCI_EXTRACT_KEEP_DIR_SYMLINKS = 1 << 3,
    /* A symlink in an entry's parent path is followed, resolved inside root_fd as the container
     * will see it (an absolute target or ".." never leaves root_fd). Without it such an entry
     * is refused (-ELOOP "… goes through the symlink …"), as for OCI layers. */
    OCI_EXTRACT_FOLLOW_SYMLINKS = 1 << 4,
    /* An existing non-directory at an entry's path is an error (-EEXIST), like `tar -k`;
     * without it the old file is replaced. Directories always merge. */
    OCI_EXTRACT_NO_OVERWRITE = 1 << 5,
    /* Do not chown (an unprivileged extraction); files belong to the caller. */
    OCI_EXTRACT_NO_CHOWN = 1 << 6,
    /* Opaque directories get user.overlay.opaque instead of trusted.overlay.opaque (a cache for
     * rootless overlay mounts with `userxattr`). */
    OCI_EXTRACT_USER_XATTR = 1 << 7,
};

/* The defaults for OCI layers (a fresh, empty layer directory). */
#define OCI_EXTRACT_LAYER_FLAGS \
 (OCI_EXTRACT_WHITEOUTS | OCI_EXTRACT_ALLOW_DEVICES | OCI_EXTRACT_REFUSE_DUPLICATES)

struct oci_extract_options {
    unsigned flags;       /* enum oci_extract_flags */
    uint64_t max_bytes;   /* 0: OCI_DEFAULT_MAX_BYTES */
    uint64_t max_entries; /* 0: OCI_DEFAULT_MAX_ENTRIES */
    size_t max_path_len;  /* 0: OCI_DEFAULT_MAX_PATH_LEN */
};

struct oci_extract_stats {
    uint64_t n_entries; /* entries read (including skipped sockets and kept dir symlinks) */
    uint64_t n_bytes;   /* logical bytes of regular file content written */
};

/* Extract every entry of `in` (a libarchive reader opened by the caller, positioned before its
 * first header; any format and filter) into the directory root_fd.
 *
 * Every entry name is normalised (leading "/" and "./" dropped; ".." refused with -EINVAL)
 * and created relative to a directory fd reached from root_fd one component at a time with
 * O_NOFOLLOW, so nothing is ever written outside root_fd: a parent that is a symlink is
 * refused, or with OCI_EXTRACT_FOLLOW_SYMLINKS resolved inside root_fd. Missing parents are
 * created 0755. Hard links must name an existing path inside root_fd (reached the same way).
 * Owners (numeric), modes (including setuid), mtimes (directories' at the end) and xattrs
 * (security.capability among them) are restored; trusted.overlay.* and user.overlay.* xattrs
 * from the archive are dropped, since they would change what an overlay mount shows.
 * File data is written as libarchive decodes it (no extra copy); holes stay holes.
 *
 * On failure the error names the entry ("entry 'a/b': …", or the libarchive message for a
 * corrupt or truncated archive, -EBADMSG) and what was already extracted stays: callers
 * extract into a staging directory and discard it. opts may be NULL (all defaults, no flags);
 * ret_stats may be NULL and is written only on success. */
int oci_tar_extract(struct archive *in, int root_fd, const struct oci_extract_options *opts,
                    struct oci_extract_stats *ret_stats, struct rs_err *err);

/* ---- layer writer ---- */

enum oci_compression {
    OCI_COMPRESS_NONE,
    OCI_COMPRESS_GZIP,
    OCI_COMPRESS_ZSTD,
    _OCI_COMPRESS_MAX,
};

/* The OCI layer media type for a compression ("application/vnd.oci.image.layer.v1.tar+zstd"). */
const char *oci_layer_media_type(enum oci_compression c);

struct oci_layer_write_options {
    enum oci_compression compression;
    int level;           /* 0: the library default (zstd 3, gzip 6) */
    int64_t clamp_mtime; /* >= 0: mtimes later than this are written as this (SOURCE_DATE_EPOCH);
                          * < 0: kept */
    unsigned n_threads;  /* zstd workers; 0: one per CPU. The output does not depend on it. */
};

/* What oci_layer_write() produced. */
struct oci_layer_result {
    char diff_id[RS_SHA256_HEX_LEN + 1]; /* hex SHA-256 of the uncompressed tar */
    char digest[RS_SHA256_HEX_LEN + 1];  /* hex SHA-256 of the bytes written to out_fd */
    uint64_t size;                       /* bytes written to out_fd */
    uint64_t tar_size;                   /* bytes of the uncompressed tar */
};

/* Write the tree under layer_fd (a directory; the root itself is not an entry) to out_fd as a
 * reproducible tar: entries sorted bytewise per directory (whiteouts first), each directory
 * before its contents; paths relative without "./"; pax_restricted headers (ustar unless a pax
 * record is needed); numeric uid/gid and no user names; mtimes clamped, no atime/ctime; xattrs
 * sorted as SCHILY.xattr.* records; hard links (by inode) to the first path in that order;
 * overlay whiteouts (char 0/0) as empty ".wh.NAME" files and opaque directories
 * ({trusted,user}.overlay.opaque=y) as "DIR/.wh..wh..opq"; sockets skipped. A redirect or
 * metacopy overlay xattr is -ENOTSUP (the directory is not a self-contained diff).
 * The tar is hashed (diffID), compressed, and hashed again (digest) as it streams: one pass.
 * opts may be NULL (zstd, no clamp). ret is written only on success. */
int oci_layer_write(int layer_fd, int out_fd, const struct oci_layer_write_options *opts,
                    struct oci_layer_result *ret, struct rs_err *err);

/* ---- archives ---- */

/* A layer blob to put in an archive: an fd positioned anywhere (read with pread from 0). */
struct oci_export_layer {
    int blob_fd;
    struct oci_layer_result blob;
    enum oci_compression compression;
    const char *created_by; /* history entry; may be NULL */
};

/* Write img as one OCI image layout in an uncompressed tar to out_fd: oci-layout, index.json
 * (one manifest, org.opencontainers.image.ref.name and io.containerd.image.name = ref_name),
 * a docker manifest.json, then blobs/sha256/ (config, manifest, layers) in digest order. The
 * config carries architecture, os, created, config.{Env,Cmd,WorkingDir,User}, rootfs.diff_ids
 * and history. Every timestamp in it and in the tar is img->created, clamped to clamp_mtime
 * when that is >= 0, so the same input gives the same bytes. ret_manifest_digest (may be NULL)
 * gets the manifest's hex digest. */
int oci_archive_write(int out_fd, const char *ref_name, const struct image *img,
                      const struct oci_export_layer *layers, size_t n_layers, int64_t clamp_mtime,
                      char ret_manifest_digest[RS_SHA256_HEX_LEN + 1], struct rs_err *err);

/* The hex digest of the manifest that index.json of the archive at fd (seekable; read from
 * offset 0) names, as oci_archive_write() returned it. -EBADMSG when the archive has no
 * index.json naming exactly one manifest. */
int oci_archive_manifest_digest(int fd, char ret[RS_SHA256_HEX_LEN + 1], struct rs_err *err);

enum oci_archive_kind {
    OCI_ARCHIVE_OCI,    /* index.json + blobs/ (ours, skopeo's, podman's, docker >= 25) */
    OCI_ARCHIVE_DOCKER, /* docker save: manifest.json (+ <id>/layer.tar) */
    OCI_ARCHIVE_FLAT,   /* neither: a root filesystem tarball, one layer */
    _OCI_ARCHIVE_KIND_MAX,
};

struct oci_archive_layer {
    char *member;     /* owned: the tar member holding the blob ("blobs/sha256/<hex>") */
    char *media_type; /* owned; NULL for docker's legacy layer.tar and flat archives */
    char *digest;     /* owned hex of the blob, NULL when the format has none (docker legacy) */
    uint64_t size;    /* blob size from the member header (checked against the descriptor) */
    char *diff_id;    /* owned hex; for a flat archive set by oci_archive_unpack() */
};

/* What oci_archive_scan() found. img has architecture, created and config filled; its name is
 * the archive's own (normalised ref name or RepoTag) or NULL, its layers empty (store ids are
 * the caller's business). */
struct oci_archive_info {
    enum oci_archive_kind kind;
    char key[RS_SHA256_HEX_LEN + 1];  /* content key: same image content, same key */
    struct image *img;                /* owned */
    struct oci_archive_layer *layers; /* owned array, bottom to top */
    size_t n_layers;
};

struct oci_archive_info *oci_archive_info_free(struct oci_archive_info *info);
static inline void oci_archive_info_freep(struct oci_archive_info **p)
{
    oci_archive_info_free(*p);
}

/* Read the archive at fd (seekable; an outer gzip/zstd compression is accepted) once: member
 * names (no "..", no absolute paths, no duplicates), index.json or manifest.json, the manifest
 * and config blobs (size and digest checked), that every layer the config names is a member
 * of the right size, and that the diffID count matches. Layer contents are not read (the key
 * of an OCI archive is its manifest digest, of a docker one the hash of its manifest.json and
 * config, of a flat one the hash of the whole file). Malformed input is -EBADMSG naming the
 * member. */
int oci_archive_scan(int fd, struct oci_archive_info **ret, struct rs_err *err);

/* Unpack the layers of a scanned archive: layer i goes into root_fds[i] when root_fds[i] >= 0
 * (others are not read). Each blob's digest and size, and each layer's diffID (the SHA-256 of
 * the decompressed stream, trailing bytes included), are checked as the data streams; a
 * mismatch is -EBADMSG and the caller must discard the directories. The uncompressed stream of
 * one layer is bounded by opts->max_bytes (its logical content too) and by a ratio: beyond
 * 1 GiB it may not exceed 200 times the compressed size. layers are extracted with opts (NULL:
 * OCI_EXTRACT_LAYER_FLAGS; a flat archive never translates whiteouts). */
int oci_archive_unpack(int fd, struct oci_archive_info *info, const int *root_fds,
                       const struct oci_extract_options *opts, struct rs_err *err);
