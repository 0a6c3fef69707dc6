#pragma once
/* Internals of mkroot's second half (assemble, configure, publish) shared between its files
 * and its unit tests. Not a public API. */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "build/build.h"
#include "common/err.h"
#include "common/sha256.h"

struct cache;

/* Set by the SIGINT/SIGTERM handler while a root is being built: the signal number. Long
 * loops (extraction) stop at the next package when it is non-zero. */
extern volatile sig_atomic_t build_interrupted;

/* ---- unpack.c ---- */

/* Extract the data.tar member of the .deb at fd (an ar archive: data.tar, .gz, .xz, .zst)
 * into root_fd, keeping directory symlinks (/bin -> usr/bin) and following symlinks in parent
 * paths inside the root; whiteout names are ordinary files. name is for messages. */
int build_deb_extract_data(int deb_fd, int root_fd, const char *name, struct rs_err *err);

/* Extract every package of l (blobs in the store) into root_fd with n_threads workers
 * (0: one per CPU). Packages named in `first` (NULL-terminated, may be NULL) are extracted
 * one after another before the others, in that order (base-files brings the merged-/usr
 * links). Stops at the first error, or when build_interrupted is set (-EINTR). */
int build_unpack_all(struct cache *c, const struct build_pkg_list *l, char *const *first,
                     int root_fd, unsigned n_threads, struct rs_err *err);

/* ---- dpkg.c ---- */

/* The shell script run inside the new root to configure it the way debootstrap does (§6 step
 * 7 of the notes). debs_dir is the directory (inside the root) where package i is
 * "<debs_dir>/<sha256>". Owned string. base_pkgs are the packages already installed in lower
 * layers (NULL for a base layer): then only l's packages are unpacked and configured. */
char *build_configure_script(const struct build_pkg_list *l, const char *debs_dir, bool layered);

/* ---- root.c ---- */

/* The canonical text a build key hashes (owned); exposed for tests. parent_key may be NULL. */
char *build_key_text(const char *codename, const char *arch, enum build_variant variant,
                     char *const *components, char *const *include, char *const *exclude,
                     const struct build_pkg_list *l, const char *parent_key, int64_t sde);

/* Clamp every mtime under dir_fd (not following symlinks) to sde. */
int build_clamp_mtimes(int dir_fd, int64_t sde, struct rs_err *err);
