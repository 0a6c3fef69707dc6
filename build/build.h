#pragma once
/* mkroot: build a Debian root from the archive.
 *
 * The archive half (this header): open a signed archive, resolve a variant to the exact set
 * of packages debootstrap would install, download them verified into the store.
 *
 *     struct build_archive *a;
 *     struct build_pkg_list l = { 0 };
 *     build_archive_open(store, &opts, &a, err);       fetch + verify InRelease, load indexes
 *     build_resolve(a, BUILD_VARIANT_MINBASE, NULL, NULL, &l, err);
 *     build_download(a, &l, 0, err);                    every .deb is now blobs/sha256/<sha256>
 *     ... assemble from l.pkgs[i].sha256 and l.pkgs[i].stanza ...
 *     build_pkg_list_release(&l);
 *     build_archive_free(a);
 *
 * Everything returns >= 0 or -errno with *err filled (common/err.h). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

struct cache;

/* How to reach and trust the archive. All strings are borrowed for the call. */
struct build_archive_opts {
    const char *mirror;      /* base URL ("http://host/debian"); NULL: the host's apt sources */
    const char *suite;       /* "stable", "trixie", "sid", …; required */
    const char *arch;        /* dpkg architecture; NULL: the host's */
    char *const *components; /* NULL-terminated; NULL: { "main" } */
    const char *keyring;     /* OpenPGP keyring for gpgv; NULL: the Debian archive keyring */
    bool no_verify;          /* skip signature checks (the caller warns) */
    /* Take a signed Release past its Valid-Until (a snapshot mirror, a frozen one; apt's
     * Acquire::Check-Valid-Until=false); the signature is still checked. */
    bool no_check_valid_until;
    bool offline; /* no network: use only what the store holds */
};

/* What the archive's signed Release file says about itself. Strings owned, may be NULL when
 * the field is absent. */
struct build_release {
    char *origin, *label, *suite, *codename, *version, *date, *valid_until;
    time_t date_time;        /* 0 if absent */
    time_t valid_until_time; /* 0 if absent */
    bool verified;           /* signature checked (false only with no_verify) */
    bool expired;            /* past its Valid-Until, taken anyway (no_verify,
                              * no_check_valid_until) */
    char *signed_by;         /* fingerprint of the key whose good signature was accepted */
    char *release_sha256;    /* digest of the (In)Release file as fetched, for build keys */
};

struct build_archive;

/* Open the archive: choose the mirror, fetch dists/SUITE/InRelease (conditional GET against
 * what the store remembers; Release + Release.gpg when there is no InRelease), verify it with
 * gpgv unless opts->no_verify, honour Valid-Until, switch to the codename the archive reports
 * (dists/stable may lag behind dists/CODENAME) and check that each component has a Packages
 * index. A gpgv verdict is kept in the store for the same bytes and keyring (a day at most).
 * The indexes themselves (xz, by-hash when offered; checked against the signed SHA256 list,
 * kept in the store) are fetched and parsed by the first build_resolve the store cannot answer.
 * Errors name what failed: the URL and HTTP status, "bad signature", "expired signature", "no
 * public key", "Release expired on DATE", a checksum mismatch. */
int build_archive_open(struct cache *c, const struct build_archive_opts *opts,
                       struct build_archive **ret, struct rs_err *err);
/* NULL is fine; returns NULL. */
struct build_archive *build_archive_free(struct build_archive *a);
static inline void build_archive_freep(struct build_archive **a)
{
    build_archive_free(*a);
}

/* Borrowed views, valid until build_archive_free. */
const struct build_release *build_archive_release(const struct build_archive *a);
const char *build_archive_mirror(const struct build_archive *a); /* no trailing '/' */
const char *build_archive_arch(const struct build_archive *a);
char *const *build_archive_components(const struct build_archive *a);

/* The mirror the host's apt uses: the first `deb` URI of /etc/apt/sources.list.d/ *.sources
 * (deb822) or /etc/apt/sources.list that serves the Debian archive (not a -security suite).
 * root is "/" normally (tests point it elsewhere). Writes an owned URL without trailing '/'. */
int build_host_mirror(const char *root, char **ret, struct rs_err *err);

/* The host's dpkg architecture name (amd64, arm64, …), from the running kernel's machine. */
const char *build_host_arch(void);

enum build_variant {
    BUILD_VARIANT_ESSENTIAL, /* Essential: yes, closed over dependencies */
    BUILD_VARIANT_MINBASE,   /* Priority: required + apt: what debootstrap --variant=minbase does */
    BUILD_VARIANT_BUILDD,    /* minbase + build-essential */
    _BUILD_VARIANT_MAX,
    _BUILD_VARIANT_INVALID = -1,
};
enum build_variant build_variant_from_string(const char *s);
const char *build_variant_to_string(enum build_variant v);

/* One package to install. All strings owned. */
struct build_pkg {
    char *name, *version, *arch;
    char *filename; /* relative to the mirror: pool/main/… */
    char *sha256;   /* of the .deb; also its blob name in the store */
    uint64_t size;
    char *stanza; /* the raw Packages paragraph (no trailing blank line), for dpkg's available */
    size_t stanza_len;
    bool essential;
    char *priority; /* may be NULL */
};
struct build_pkg_list {
    struct build_pkg *pkgs; /* owned, sorted by name (byte order) */
    size_t n_pkgs;
};
void build_pkg_list_release(struct build_pkg_list *l);

/* Resolve a variant plus include (names to add) minus exclude (names never chosen; a
 * dependency whose every alternative is excluded is dropped) over the archive's indexes:
 * Pre-Depends and Depends with version constraints, alternatives (the first satisfiable one,
 * as debootstrap), Provides (versioned too), architecture qualifiers. include and exclude are
 * NULL-terminated or NULL. *ret is filled only on success. An unknown or unsatisfiable
 * package is -ENOENT naming the chain of dependencies that led to it. The answer is kept in
 * the store, keyed by the signed Release's digest and the question: asking again about an
 * unchanged archive parses no index (a corrupt entry is ignored and rewritten). */
int build_resolve(struct build_archive *a, enum build_variant variant, char *const *include,
                  char *const *exclude, struct build_pkg_list *ret, struct rs_err *err);

enum build_download_flags {
    BUILD_DOWNLOAD_OFFLINE = 1 << 0, /* fetch nothing; fail listing what the store lacks */
};
/* Make every package of l a verified blob in the store (blobs/sha256/<pkg->sha256>): those
 * already there cost nothing; the rest are fetched in parallel over one curl multi handle with
 * connection reuse, retries with backoff on 5xx/resets/stalls and resume of partial bodies. A
 * checksum mismatch discards the file and retries once, then fails naming the package. Shows
 * progress on stderr (common/progress.h). ret_n_fetched (may be NULL) gets the number of
 * packages actually downloaded. Nothing partial ever appears in the store. */
int build_download(struct build_archive *a, const struct build_pkg_list *l, unsigned flags,
                   size_t *ret_n_fetched, struct rs_err *err);

/* ---- the root: assemble, configure, publish (root.c, output.c) ---- */

struct image;

/* What to build from an open archive. Strings and lists are borrowed for the call. */
struct build_image_opts {
    enum build_variant variant;
    char *const *include;      /* NULL-terminated or NULL: a second layer on the variant's */
    char *const *exclude;      /* NULL-terminated or NULL */
    const char *suite;         /* as the user gave it, for the default name SUITE-VARIANT */
    const char *name;          /* the image's name; NULL: the default */
    int64_t source_date_epoch; /* >= 0: clamp mtimes, date the layer and image; < 0: unset */
    bool offline;              /* download nothing (the .debs must be in the store) */
    bool no_configure;         /* tests: assemble and publish without running dpkg */
};

/* Build (or find in the store) the image for o and record it under its name: resolve the
 * variant, compute the build key over everything that determines the result; when a recipe
 * maps it to a layer, that is the answer. Otherwise, under the key's lock: download, unpack
 * every package in parallel into a stage (a base layer unpacks each .deb once it is verified
 * in the store, while the others download), write debootstrap's own files, configure with dpkg
 * inside it through run/ (no network), clean up, clamp mtimes, publish the layer and its
 * recipe. With include, the variant's layer is built or found first, and the extra packages
 * go into a layer on top of it (an overlay upper, whiteouts as char 0/0). A SIGINT or SIGTERM
 * while a layer is built discards it (-EINTR; build_interrupt_signal() tells which); nothing
 * half-built is ever visible. *ret (owned) is the recorded image. */
int build_image(struct cache *c, struct build_archive *a, const struct build_image_opts *o,
                struct image **ret, struct rs_err *err);
/* The signal that interrupted the last build_image(), or 0. */
int build_interrupt_signal(void);

/* Write img's root outside the store: path ending in .tar or .tar.zst is a flat, reproducible
 * root tarball (mtimes clamped to sde when sde >= 0); anything else a directory (created, or
 * existing and empty) with the tree as it is in the store plus debootstrap's /dev nodes (null,
 * zero, full, random, urandom, tty, console, ptmx; pts/, shm/; fd and std* links), so that
 * `chroot DIR` works. Several layers are merged as an overlay shows them. */
int build_write_output(struct cache *c, const struct image *img, const char *path, int64_t sde,
                       struct rs_err *err);

/* `rootstock build` / `mkroot`: argv[0] is the verb or program name. Returns the exit code:
 * 0 ok, 1 error, 2 usage. */
int cmd_build(int argc, char *argv[]);
