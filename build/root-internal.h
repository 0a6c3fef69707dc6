#pragma once
/* Internals of mkroot's second half (assemble, configure, publish) shared between its files
 * and its unit tests. Not a public API. */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "build/build.h"
#include "common/err.h"
#include "common/sha256.h"

struct cache;

/* Set by the SIGINT/SIGTERM handler while a root is being built: the signal number. Long
 * loops (extraction) stop at the next package when it is non-zero. */
extern volatile sig_atomic_t build_interrupted;

/* ---- unpack.c ---- */

/* One regular file of a .deb's control.tar (name without "./"). */
struct build_deb_member {
    char *name; /* owned */
    mode_t mode;
    char *data; /* owned, NUL-terminated */
    size_t size;
    bool made; /* not in the .deb: made the way dpkg makes it ("md5sums") */
};

/* What `dpkg --unpack` would take from a .deb besides its files: the control area and the
 * data.tar's entries as dpkg's <pkg>.list spells them ("/.", "/usr", …), in dpkg's order:
 * the archive's, but symlinks after everything else (dpkg's tar extractor defers them). A
 * package that ships no md5sums gets one made from its regular files, as dpkg does. */
struct build_deb_meta {
    struct build_deb_member *members; /* owned */
    size_t n_members;
    char *list; /* owned, one path a line */
    size_t list_len;
};
void build_deb_meta_release(struct build_deb_meta *m);

/* The control member called name ("control", "conffiles", …) or NULL. */
const struct build_deb_member *build_deb_meta_member(const struct build_deb_meta *m,
                                                     const char *name);

/* Extract the data.tar member of the .deb at fd (an ar archive: data.tar, .gz, .xz, .zst)
 * into root_fd, keeping directory symlinks (/bin -> usr/bin) and following symlinks in parent
 * paths inside the root; whiteout names are ordinary files. name is for messages. With
 * ret_meta (may be NULL), also read the control area and the entry list into it (filled only
 * on success; release it with build_deb_meta_release()). */
int build_deb_extract_data(int deb_fd, int root_fd, const char *name,
                           struct build_deb_meta *ret_meta, struct rs_err *err);

/* Extract every package of l (blobs in the store) into root_fd with n_threads workers
 * (0: one per CPU). Packages named in `first` (NULL-terminated, may be NULL) are extracted
 * one after another before the others, in that order (base-files brings the merged-/usr
 * links); the rest largest .deb first. Stops at the first error, or when build_interrupted
 * is set (-EINTR). With metas (an array of l->n_pkgs, may be NULL), metas[i] receives
 * package i's control area and entry list; on failure some may be filled and the caller
 * releases them all. With metas and stage_fd >= 0 (from build_dpkg_stage_dir()), each
 * worker also stages the package's records (build_dpkg_stage_records()) right after
 * extracting it; the conffiles are left to build_dpkg_stage_conffiles(). */
int build_unpack_all(struct cache *c, const struct build_pkg_list *l, char *const *first,
                     int root_fd, unsigned n_threads, struct build_deb_meta *metas, int stage_fd,
                     struct rs_err *err);

/* build_unpack_all() while the packages are still arriving (mkroot downloads and unpacks at
 * once). build_unpacker_new() starts the workers (SIGINT and SIGTERM blocked in them, so that
 * they reach the calling thread); they extract, in build_unpack_all()'s order, each package
 * once build_unpacker_ready() said it is a verified blob in the store, and wait otherwise
 * (the `first` ones wait for each other too). Any thread may call build_unpacker_ready();
 * build_unpacker_failed() is true once a worker failed or saw build_interrupted, so that the
 * feeder can stop. build_unpacker_finish() says that nothing more will come: with fed_ok,
 * every package of l is in the store now; without, the workers stop after the package in
 * hand and the result is -ECANCELED unless a worker failed first. It joins every worker,
 * frees u, and returns 0 or the first error (-EINTR when interrupted). The progress is shown
 * from build_unpacker_finish() on. */
struct build_unpacker;
int build_unpacker_new(struct cache *c, const struct build_pkg_list *l, char *const *first,
                       int root_fd, unsigned n_threads, struct build_deb_meta *metas, int stage_fd,
                       struct build_unpacker **ret, struct rs_err *err);
void build_unpacker_ready(struct build_unpacker *u, size_t i);
bool build_unpacker_failed(struct build_unpacker *u);
int build_unpacker_finish(struct build_unpacker *u, bool fed_ok, struct rs_err *err);

/* ---- dpkgdb.c ---- */

/* Stage, for the configure script, what `dpkg --unpack` would record for every package of l
 * whose files are already in root_fd: under work_fd (WORK_DIR inside the root)
 * "pkgs/<name>/info/" holds dpkg's info files (<pkg>[:<arch>].list, .md5sums, scripts, …),
 * "pkgs/<name>/ci/" the control area when the package has a preinst (dpkg runs it from
 * tmp.ci), "pkgs/<name>/stanza" its status entry ("install ok unpacked", Conffiles
 * "newconffile"). Every conffile is copied next to itself as "<path>.dpkg-new", where dpkg's
 * unpack leaves it for --configure. metas[i] belongs to l->pkgs[i]. */
int build_dpkg_stage(int root_fd, int work_fd, const struct build_pkg_list *l,
                     const struct build_deb_meta *metas, struct rs_err *err);

/* build_dpkg_stage() in three steps, so that the per-package one can run in the unpack
 * workers: build_dpkg_stage_dir() makes "pkgs" under work_fd and returns an fd on it (the
 * caller closes it); build_dpkg_stage_records() stages p's info files, ci/, trig/ and stanza
 * under it (needs only m, touches nothing outside "pkgs/<name>"); build_dpkg_stage_conffiles()
 * then makes every "<conffile>.dpkg-new" in root_fd, serially and once every package is in
 * place, so that what it copies does not depend on which packages happen to be extracted. */
int build_dpkg_stage_dir(int work_fd, struct rs_err *err);
int build_dpkg_stage_records(int pkgs_fd, const struct build_pkg *p, const struct build_deb_meta *m,
                             struct rs_err *err);
int build_dpkg_stage_conffiles(int root_fd, const struct build_pkg_list *l,
                               const struct build_deb_meta *metas, struct rs_err *err);

/* The name dpkg gives package p's info files: "name", or "name:arch" for Multi-Arch: same.
 * Owned string. */
char *build_dpkg_info_name(const struct build_pkg *p, const struct build_deb_meta *m);

/* ---- dpkg.c ---- */

/* The shell script run inside the new root to configure it the way debootstrap does (§6 step
 * 7 of the notes). Owned string.
 * layered (on top of configured lower layers): `dpkg --install` of l's packages, package i
 * being "<debs_dir>/<sha256>".
 * Otherwise every file is in place and build_dpkg_stage() staged dpkg's records under
 * stage_dir (inside the root): the script replays debootstrap's second stage (core packages
 * installed one by one, then every package unpacked in name order, then configured) running
 * the maintainer scripts and dpkg --configure, but moving the staged records into dpkg's
 * database where debootstrap runs `dpkg --unpack`. metas[i] belongs to l->pkgs[i]. */
char *build_configure_script(const struct build_pkg_list *l, const struct build_deb_meta *metas,
                             const char *debs_dir, const char *stage_dir, bool layered);

/* ---- root.c ---- */

/* The canonical text a build key hashes (owned); exposed for tests. parent_key may be NULL. */
char *build_key_text(const char *codename, const char *arch, enum build_variant variant,
                     char *const *components, char *const *include, char *const *exclude,
                     const struct build_pkg_list *l, const char *parent_key, int64_t sde);

/* debootstrap's merge_usr on the unpacked root: every real /bin, /lib, /sbin… is merged into
 * its /usr counterpart (entry by entry where both have a directory) and replaced by a link; a
 * file both have, or a relative link that would point elsewhere once moved, is an error. A
 * buildd root of bookworm or older stays unmerged and gets
 * /etc/unsupported-skip-usrmerge-conversion, as debootstrap does. */
int build_merge_usr(int root_fd, const char *codename, enum build_variant variant,
                    struct rs_err *err);

/* Clamp every mtime under dir_fd (not following symlinks) to sde; nothing when sde < 0. */
int build_clamp_mtimes(int dir_fd, int64_t sde, struct rs_err *err);
