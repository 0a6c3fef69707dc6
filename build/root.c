/* mkroot's second half: from a resolved package set to a published, tagged image.
 *
 *   key      SHA-256 of a canonical text (format, codename, arch, variant, options, every
 *            resolved name/version/sha256, SOURCE_DATE_EPOCH): a recipe in the store maps it
 *            to a layer, so asking again is a lookup
 *   assemble a stage under tmp/: every data.tar in parallel (as the .debs download), merged-/usr,
 *            debootstrap's own files (fstab, hostname, resolv.conf, dpkg's admin dir)
 *   configure dpkg inside the stage through run/ (private network), debootstrap's order
 *   publish  remove what differs between runs, clamp mtimes, syncfs, rename into layers/
 *
 * A layer on top (--include) is unpacked and configured in an overlay upper over the base
 * layer and that upper is published as is (whiteouts stay char 0/0 devices). */

#include "build/root-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build/build-internal.h"
#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/path.h"
#include "common/sha256.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "run/run.h"

#define KEY_FORMAT "rootstock-mkroot-key-1"
#define WORK_DIR   ".rootstock-build" /* inside the root while configuring; removed after */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One build: the store, the archive, what was asked. */
struct ctx {
    struct cache *c;
    struct build_archive *a;
    const struct build_image_opts *o;
    const char *mirror, *codename, *arch;
    char *const *components;
};

/* ---- build keys ---- */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_sorted_list(struct strbuf *sb, const char *what, char *const *list)
{
    _cleanup_strv_free_ char **l = strv_copy(list);
    size_t n = strv_length(l);

    qsort(l, n, sizeof(char *), cmp_str_ptr);
    (void)strbuf_addf(sb, "%s", what);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(l[i], l[i - 1]) != 0)
            (void)strbuf_addf(sb, " %s", l[i]);
    (void)strbuf_addch(sb, '\n');
}

char *build_key_text(const char *codename, const char *arch, enum build_variant variant,
                     char *const *components, char *const *include, char *const *exclude,
                     const struct build_pkg_list *l, const char *parent_key, int64_t sde)
{
    struct strbuf sb = STRBUF_INIT(256u << 20);

    (void)strbuf_addf(&sb, "%s\ncodename %s\narch %s\nvariant %s\n", KEY_FORMAT, codename, arch,
                      build_variant_to_string(variant));
    add_sorted_list(&sb, "components", components);
    add_sorted_list(&sb, "include", include);
    add_sorted_list(&sb, "exclude", exclude);
    if (parent_key)
        (void)strbuf_addf(&sb, "parent %s\n", parent_key);
    if (sde >= 0)
        (void)strbuf_addf(&sb, "source-date-epoch %lld\n", (long long)sde);
    for (size_t i = 0; i < l->n_pkgs; i++)
        (void)strbuf_addf(&sb, "pkg %s %s %s %s\n", l->pkgs[i].name, l->pkgs[i].version,
                          l->pkgs[i].arch ? l->pkgs[i].arch : arch, l->pkgs[i].sha256);
    return strbuf_detach(&sb, NULL);
}

/* ---- tree walks ---- */

static int walk_clamp(int dfd, int64_t sde, int depth)
{
    _cleanup_closedir_ DIR *d = NULL;
    struct dirent *de;
    int fd, r;

    if (depth > 256)
        return -ELOOP;
    fd = dup(dfd);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        safe_close(fd);
        return -errno;
    }
    while ((de = readdir(d))) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISDIR(st.st_mode)) {
            _cleanup_close_ int sub =
                openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return -errno;
            r = walk_clamp(sub, sde, depth + 1);
            if (r < 0)
                return r;
        }
        if (st.st_mtim.tv_sec >= sde) {
            struct timespec ts[2] = { { .tv_sec = sde }, { .tv_sec = sde } };
            if (utimensat(dfd, de->d_name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        }
    }
    return 0;
}

int build_clamp_mtimes(int dir_fd, int64_t sde, struct rs_err *err)
{
    struct timespec ts[2] = { { .tv_sec = sde }, { .tv_sec = sde } };
    int r;

    /* Without SOURCE_DATE_EPOCH the walk would change nothing: the store's publish walks the
     * tree anyway. */
    if (sde < 0)
        return 0;
    r = walk_clamp(dir_fd, sde, 0);
    if (r < 0)
        return rs_err_set(err, r, "cannot clamp modification times");
    if (futimens(dir_fd, ts) < 0)
        return rs_err_set(err, -errno, "cannot clamp modification times");
    return 0;
}

/* ---- assembling ---- */

static int write_in_root(int root_fd, const char *path, const void *data, size_t len, mode_t mode,
                         bool only_if_absent, struct rs_err *err);

/* debootstrap's can_usrmerge_symlink: whether a link at path (under one of /bin, /lib…,
 * "lib/x/y") still means the same once moved one level down into /usr. Absolute targets do; a
 * relative one must not climb out of its top-level directory (Debian Policy 10.5). */
static bool usrmerge_symlink_ok(const char *path, const char *target)
{
    size_t depth = 1; /* components of "/" + path */

    for (const char *c = path; *c; c++)
        depth += *c == '/';
    if (target[0] == '/')
        return true;
    for (;;) {
        if (target[0] == '/')
            target++;
        else if (strncmp(target, "./", 2) == 0)
            target += 2;
        else if (strcmp(target, "..") == 0)
            return depth >= 3;
        else if (strncmp(target, "../", 3) == 0) {
            if (depth <= 2)
                return false;
            depth--;
            target += 3;
        } else
            return !strstr(target, "/../");
    }
}

/* debootstrap's merge_usr_entry: move name (in src, at path "lib/udev") to the same name in dst
 * (its /usr counterpart); a directory both have is merged entry by entry, anything else that
 * both have is an error. Directories are opened from their parent's fd without following
 * links, so nothing the packages made can lead outside the root. */
static int merge_usr_entry(int src, int dst, const char *name, const char *path, struct rs_err *err)
{
    struct stat src_st, dst_st;
    _cleanup_close_ int sub_src = -1, sub_dst = -1;
    _cleanup_closedir_ DIR *d = NULL;
    struct dirent *de;
    int r;

    if (fstatat(dst, name, &dst_st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT || renameat2(src, name, dst, name, RENAME_NOREPLACE) < 0)
            return rs_err_set(err, -errno, "cannot move '/%s' into /usr", path);
        return 0;
    }
    if (fstatat(src, name, &src_st, AT_SYMLINK_NOFOLLOW) < 0)
        return rs_err_set(err, -errno, "cannot merge '/%s' into /usr", path);
    if (!S_ISDIR(src_st.st_mode) || !S_ISDIR(dst_st.st_mode))
        return rs_err_msg(
            err, -EEXIST, "cannot merge '/%s' into /usr: '/usr/%s' exists and is not %s", path,
            path, S_ISLNK(dst_st.st_mode) ? "a directory but a symlink" : "the same kind");
    sub_src = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    sub_dst = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub_src < 0 || sub_dst < 0 || !(d = fdopendir(dup(sub_src))))
        return rs_err_set(err, -errno, "cannot merge '/%s' into /usr", path);
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        _cleanup_free_ char *child = xasprintf("%s/%s", path, de->d_name);
        char target[PATH_MAX];
        ssize_t n = readlinkat(sub_src, de->d_name, target, sizeof(target) - 1);
        if (n >= 0) {
            target[n] = '\0';
            if (!usrmerge_symlink_ok(child, target))
                return rs_err_msg(err, -EXDEV,
                                  "cannot merge '/%s' into /usr: its relative link '%s' would "
                                  "point elsewhere",
                                  child, target);
        }
        r = merge_usr_entry(sub_src, sub_dst, de->d_name, child, err);
        if (r < 0)
            return r;
    }
    if (unlinkat(src, name, AT_REMOVEDIR) < 0)
        return rs_err_set(err, -errno, "cannot remove '/%s' after merging it into /usr", path);
    return 0;
}

/* Before trixie, base-files did not ship the /bin, /lib… links, so the packages made real
 * directories; trixie's base-files ships them, and then there is nothing to do. */
int build_merge_usr(int root_fd, const char *codename, enum build_variant variant,
                    struct rs_err *err)
{
    static const char *const dirs[] = {
        "bin", "lib", "lib32", "lib64", "libo32", "libx32", "sbin",
    };
    static const char *const unmerged_buildd[] = { "buster", "bullseye", "bookworm" };
    _cleanup_close_ int usr = -1;

    for (size_t i = 0; variant == BUILD_VARIANT_BUILDD && i < ELEMENTSOF(unmerged_buildd); i++)
        if (strcmp(codename, unmerged_buildd[i]) == 0) {
            static const char text[] = "this system will not be supported in the future\n";
            return write_in_root(root_fd, "etc/unsupported-skip-usrmerge-conversion", text,
                                 sizeof(text) - 1, 0644, false, err);
        }
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        struct stat st;
        if (fstatat(root_fd, dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode))
            continue;
        if (usr < 0 && (usr = rs_mkdir_in_root(root_fd, "usr", 0755)) < 0)
            return rs_err_set(err, usr, "cannot create '/usr'");
        int r = merge_usr_entry(root_fd, usr, dirs[i], dirs[i], err);
        if (r < 0)
            return r;
        _cleanup_free_ char *link = xasprintf("usr/%s", dirs[i]);
        if (symlinkat(link, root_fd, dirs[i]) < 0)
            return rs_err_set(err, -errno, "cannot link '/%s' to '%s'", dirs[i], link);
    }
    return 0;
}

static int write_in_root(int root_fd, const char *path, const void *data, size_t len, mode_t mode,
                         bool only_if_absent, struct rs_err *err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    _cleanup_close_ int dfd = -1, fd = -1;
    const char *name = path;

    if (slash) {
        *slash = '\0';
        name = slash + 1;
        dfd = rs_mkdir_in_root(root_fd, dir, 0755);
        if (dfd < 0)
            return rs_err_set(err, dfd, "cannot create '/%s' in the new root", dir);
    }
    int at = slash ? dfd : root_fd;
    if (only_if_absent && faccessat(at, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    (void)unlinkat(at, name, 0);
    fd = openat(at, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot write '/%s' in the new root", path);
    int r = rs_write_all(fd, data, len);
    if (r >= 0 && (fchown(fd, 0, 0) < 0 || fchmod(fd, mode) < 0))
        r = -errno;
    if (r < 0)
        return rs_err_set(err, r, "cannot write '/%s' in the new root", path);
    return 0;
}

/* debootstrap's conditional_cp: the host's file content, mode as `cp` makes it (umask 022). */
static int copy_host_file(int root_fd, const char *host_path, const char *path, struct rs_err *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct stat st;
    struct rs_err ignored = RS_ERR_INIT;

    if (stat(host_path, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (rs_read_file_at(AT_FDCWD, host_path, 1 << 20, &data, &len, &ignored) < 0) {
        log_warning("cannot read '%s', not copying it into the new root: %s", host_path,
                    ignored.msg ? ignored.msg : "error");
        rs_err_release(&ignored);
        return 0;
    }
    return write_in_root(root_fd, path, data, len, st.st_mode & 0755, true, err);
}

static int write_debootstrap_files(int root_fd, const struct ctx *x, struct rs_err *err)
{
    static const char fstab[] = "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n";
    int r;

    r = write_in_root(root_fd, "var/lib/dpkg/status", "", 0, 0644, false, err);
    if (r >= 0)
        r = write_in_root(root_fd, "var/lib/dpkg/available", "", 0, 0644, false, err);
    if (r >= 0)
        r = copy_host_file(root_fd, "/etc/resolv.conf", "etc/resolv.conf", err);
    if (r >= 0)
        r = copy_host_file(root_fd, "/etc/hostname", "etc/hostname", err);
    if (r >= 0)
        r = write_in_root(root_fd, "etc/fstab", fstab, strlen(fstab), 0644, true, err);
    if (r < 0)
        return r;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(1 << 16);
    (void)strbuf_addf(&sb, "deb %s %s", x->mirror, x->codename);
    if (x->components && x->components[0])
        for (size_t i = 0; x->components[i]; i++)
            (void)strbuf_addf(&sb, " %s", x->components[i]);
    else
        (void)strbuf_addstr(&sb, " main");
    (void)strbuf_addch(&sb, '\n');
    return write_in_root(root_fd, "etc/apt/sources.list", sb.buf, sb.len, 0644, false, err);
}

/* ---- configuring ---- */

static void tail_of_log(int fd, struct rs_err *err)
{
    char buf[4096];
    off_t end = lseek(fd, 0, SEEK_END);
    off_t start = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, start);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p = buf;
    if (start > 0 && (p = strchr(buf, '\n')))
        p++;
    else
        p = buf;
    _cleanup_strv_free_ char **lines = strv_split(p, "\n");
    size_t nl = strv_length(lines);
    for (size_t i = nl > 15 ? nl - 15 : 0; i < nl; i++)
        (void)rs_err_context(err, "%s", lines[i]);
}

static void dump_log(int fd)
{
    char buf[8192];
    ssize_t n;
    off_t off = 0;
    if (!log_enabled(LOG_DEBUG))
        return;
    while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
        fwrite(buf, 1, (size_t)n, stderr);
        off += n;
    }
}

/* The source package's name from a stanza ("Source: NAME [(VERSION)]"), else the package's. */
static size_t source_name(const struct build_pkg *p, const char **ret)
{
    const char *s = p->stanza, *end = p->stanza + p->stanza_len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            nl = end;
        if ((size_t)(nl - s) > 8 && strncmp(s, "Source: ", 8) == 0) {
            const char *v = s + 8, *e = v;
            while (e < nl && *e != ' ')
                e++;
            *ret = v;
            return (size_t)(e - v);
        }
        s = nl + 1;
    }
    *ret = p->name;
    return strlen(p->name);
}

static int cmp_index_order(const void *a, const void *b)
{
    const struct build_pkg *p = *(const struct build_pkg *const *)a;
    const struct build_pkg *q = *(const struct build_pkg *const *)b;
    const char *ps, *qs;
    size_t pn = source_name(p, &ps), qn = source_name(q, &qs);
    int c = memcmp(ps, qs, pn < qn ? pn : qn);
    if (c == 0 && pn != qn)
        c = pn < qn ? -1 : 1;
    return c ? c : strcmp(p->name, q->name);
}

/* Write the package list's side files into work_fd (WORK_DIR of the root being configured):
 * debs/ (the mount point of the store's blobs), available and selections. */
static int write_work_files(int work_fd, const struct build_pkg_list *l, struct rs_err *err)
{
    _cleanup_strbuf_ struct strbuf avail = STRBUF_INIT(256u << 20);
    _cleanup_strbuf_ struct strbuf sel = STRBUF_INIT(16u << 20);

    _cleanup_free_ const struct build_pkg **order = xcalloc(l->n_pkgs + 1, sizeof(*order));

    if (mkdirat(work_fd, "debs", 0700) < 0)
        return rs_err_set(err, -errno, "cannot create '%s/debs'", WORK_DIR);
    /* debootstrap copies the stanzas in the index's order, which is by source package, then
     * by binary name. */
    for (size_t i = 0; i < l->n_pkgs; i++)
        order[i] = &l->pkgs[i];
    qsort(order, l->n_pkgs, sizeof(*order), cmp_index_order);
    for (size_t i = 0; i < l->n_pkgs; i++) {
        (void)strbuf_add(&avail, order[i]->stanza, order[i]->stanza_len);
        (void)strbuf_addstr(&avail, "\n\n");
        (void)strbuf_addf(&sel, "%s install\n", l->pkgs[i].name);
    }
    int r = rs_write_file_atomic_at(work_fd, "available", avail.buf ? avail.buf : "", avail.len,
                                    0644, 0, err);
    if (r >= 0)
        r = rs_write_file_atomic_at(work_fd, "selections", sel.buf ? sel.buf : "", sel.len, 0644, 0,
                                    err);
    return r;
}

/* Run the configure script in the root (root_dir, or the overlay lower/upper/work/merged). */
static int run_configure(struct ctx *x, const struct build_pkg_list *l,
                         const struct build_deb_meta *metas, const char *root_dir,
                         char *const *lower, const char *upper, const char *work,
                         const char *merged, struct rs_err *err)
{
    _cleanup_free_ char *script =
        build_configure_script(l, metas, "/" WORK_DIR "/debs", "/" WORK_DIR "/pkgs", lower != NULL);
    _cleanup_free_ char *blobs =
        cache_blob_path(x->c, "0000000000000000000000000000000000000000000000000000000000000000");
    _cleanup_free_ char *sde = NULL;
    _cleanup_close_ int log_fd = -1, null_fd = -1;
    struct run_result res;
    struct run_options ro;
    int r;

    *strrchr(blobs, '/') = '\0';
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", script, NULL };
    char *env[] = {
        (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        (char *)"HOME=/root",
        (char *)"LC_ALL=C",
        (char *)"DEBIAN_FRONTEND=noninteractive",
        (char *)"DEBCONF_NONINTERACTIVE_SEEN=true",
        (char *)"AVAILABLE=/" WORK_DIR "/available",
        (char *)"SELECTIONS=/" WORK_DIR "/selections",
        NULL,
        NULL,
    };
    if (x->o->source_date_epoch >= 0) {
        sde = xasprintf("SOURCE_DATE_EPOCH=%lld", (long long)x->o->source_date_epoch);
        env[7] = sde;
    }
    struct run_bind bind = {
        .source = blobs,
        .dest = "/" WORK_DIR "/debs",
        .read_only = true,
    };
    log_fd = memfd_create("mkroot-configure", MFD_CLOEXEC);
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0)
        return rs_err_set(err, -errno, "cannot create the configure log");
    run_options_init(&ro);
    ro.root_dir = root_dir;
    ro.lower_dirs = lower;
    ro.upper_dir = upper;
    ro.work_dir = work;
    ro.merged_dir = merged;
    ro.argv = argv;
    ro.env = env;
    ro.hostname = "localhost";
    /* A reaper as PID 1, so that a forwarded SIGINT/SIGTERM reaches the shell (PID 1 of a
     * namespace ignores signals it has no handler for) and everything dies with it. */
    ro.init = true;
    ro.net = RUN_NET_PRIVATE;
    ro.stdio[0] = null_fd;
    ro.stdio[1] = log_fd;
    ro.stdio[2] = log_fd;
    ro.binds = &bind;
    ro.n_binds = 1;
    /* dpkg syncs its database ~10 times per package, whatever unsafe-io says; the layer is
     * synced as a whole when it is published, and a build cut short is thrown away. */
    ro.no_sync = true;
    r = run_container(&ro, &res, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot configure the new root");
    dump_log(log_fd);
    /* run_container takes the signal and forwards it: the shell dies of it (or reports
     * 128+N through the reaper). */
    int sig = res.signal ? res.signal : res.exit_code > 128 ? res.exit_code - 128 : 0;
    if (sig == SIGINT || sig == SIGTERM || build_interrupted) {
        if (!build_interrupted)
            build_interrupted = sig;
        return rs_err_msg(err, -EINTR, "interrupted while configuring packages");
    }
    if (res.exit_code != 0) {
        r = rs_err_msg(err, -EPROTO,
                       "configuring packages failed (dpkg inside the new root, exit status %d)",
                       res.exit_code);
        tail_of_log(log_fd, err);
        return r;
    }
    return 0;
}

/* What differs from run to run and serves nobody in an image (mmdebstrap's cleanup): logs,
 * apt's lists and downloaded archives, ldconfig's aux cache. With `lower` (an overlay upper),
 * only what the lower layers do not have: deleting those would need whiteouts. */
static void cleanup_tree(int root_fd, const char *lower)
{
    static const char *const files[] = {
        "var/log/dpkg.log",
        "var/log/alternatives.log",
        "var/log/bootstrap.log",
        "var/log/apt/history.log",
        "var/log/apt/term.log",
        "var/log/apt/eipp.log.xz",
        "var/cache/ldconfig/aux-cache",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
    };
    _cleanup_close_ int lower_fd = -1;

    if (lower)
        lower_fd = open(lower, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        if (lower_fd >= 0 && faccessat(lower_fd, files[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        if (unlinkat(root_fd, files[i], 0) < 0 && errno != ENOENT)
            log_debug("cannot remove '/%s': %m", files[i]);
    }
    (void)rs_rm_rf_at(root_fd, WORK_DIR);
}

/* ---- layers ---- */

/* While a layer is being built a signal only sets build_interrupted, so that the stage is
 * discarded and the container dir removed; elsewhere (resolving, downloading: nothing to
 * undo, the store never shows partial files) it keeps its default action. */
static volatile sig_atomic_t building;

static void on_signal(int sig)
{
    if (!building) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    build_interrupted = sig;
}

static int finish_tree(struct ctx *x, int root_fd, const char *lower, struct rs_err *err)
{
    cleanup_tree(root_fd, lower);
    int r = build_clamp_mtimes(root_fd, x->o->source_date_epoch, err);
    if (r < 0)
        return r;
    /* dpkg ran with unsafe-io: make the layer durable once, before it becomes visible. */
    if (syncfs(root_fd) < 0)
        return rs_err_set(err, -errno, "cannot sync the new layer");
    return 0;
}

static void feed_ready(void *data, size_t i)
{
    build_unpacker_ready(data, i);
}

static bool feed_cancelled(void *data)
{
    return build_interrupted || build_unpacker_failed(data);
}

/* A cold build: each .deb is unpacked as soon as its download is verified and in the store,
 * while the others still download (first ones first, and alone). A failed download is
 * reported as build_download() reports it; a failed unpack or a signal cancels the
 * downloads left. Every thread (workers, the index's) is joined on return. */
static int download_and_unpack(struct ctx *x, const struct build_pkg_list *l, char *const *first,
                               int root_fd, struct build_deb_meta *metas, int pkgs_fd,
                               struct rs_err *err)
{
    struct build_unpacker *u = NULL;
    struct rs_err derr = RS_ERR_INIT;
    size_t n_fetched = 0;
    double t0 = now_ms();
    int r, rd;

    r = build_unpacker_new(x->c, l, first, root_fd, 0, metas, pkgs_fd, &u, err);
    if (r < 0)
        return r;
    struct build_download_hooks h = {
        .first = first,
        .ready = feed_ready,
        .cancelled = feed_cancelled,
        .data = u,
    };
    rd = build_download_hooked(x->a, l, 0, &h, &n_fetched, &derr);
    if (rd >= 0)
        log_info("%zu packages in the store, %zu downloaded in %.1f s", l->n_pkgs, n_fetched,
                 (now_ms() - t0) / 1e3);
    r = build_unpacker_finish(u, rd >= 0, err);
    if (rd < 0 && (r >= 0 || r == -ECANCELED)) {
        /* The unpack stopped for the download: its error is the one to tell. */
        if (r < 0)
            rs_err_release(err);
        rs_err_move(err, &derr);
        r = rd;
    }
    rs_err_release(&derr);
    return r;
}

/* The base layer. With fetch, some .debs are not in the store yet: they are downloaded
 * while the others unpack. */
static int build_base_layer(struct ctx *x, const struct build_pkg_list *l, const char *key,
                            bool fetch, char ret_id[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    struct cache_layer_stage *s = NULL;
    char *first[] = { (char *)"base-files", NULL };
    _cleanup_free_ char *created_by = NULL;
    _cleanup_free_ struct build_deb_meta *metas = NULL;
    _cleanup_close_ int work_fd = -1, pkgs_fd = -1;
    double t0 = now_ms(), t1, t2;
    int r = 0, root_fd;

    r = cache_layer_stage_new(x->c, &s, err);
    if (r < 0)
        return r;
    root_fd = cache_layer_stage_root_fd(s);
    metas = xcalloc(l->n_pkgs + 1, sizeof(*metas));
    if (!x->o->no_configure) {
        work_fd = rs_mkdir_in_root(root_fd, WORK_DIR, 0700);
        r = work_fd < 0 ? rs_err_set(err, work_fd, "cannot create '/%s'", WORK_DIR)
                        : (pkgs_fd = build_dpkg_stage_dir(work_fd, err));
    }
    if (r >= 0 && fetch)
        r = download_and_unpack(x, l, first, root_fd, x->o->no_configure ? NULL : metas, pkgs_fd,
                                err);
    else if (r >= 0)
        r = build_unpack_all(x->c, l, first, root_fd, 0, x->o->no_configure ? NULL : metas, pkgs_fd,
                             err);
    if (r >= 0)
        r = build_merge_usr(root_fd, x->codename, x->o->variant, err);
    if (r >= 0)
        r = write_debootstrap_files(root_fd, x, err);
    t1 = now_ms();
    log_info("unpacked %zu packages in %.1f s", l->n_pkgs, (t1 - t0) / 1e3);
    if (r >= 0 && !x->o->no_configure) {
        r = write_work_files(work_fd, l, err);
        if (r >= 0)
            r = build_dpkg_stage_conffiles(root_fd, l, metas, err);
        if (r >= 0)
            r = run_configure(x, l, metas, cache_layer_stage_root_path(s), NULL, NULL, NULL, NULL,
                              err);
        log_info("configured in %.1f s", (now_ms() - t1) / 1e3);
    }
    for (size_t i = 0; i < l->n_pkgs; i++)
        build_deb_meta_release(&metas[i]);
    free(metas);
    metas = NULL;
    t2 = now_ms();
    if (r >= 0)
        r = finish_tree(x, root_fd, NULL, err);
    if (r >= 0 && build_interrupted)
        r = rs_err_msg(err, -EINTR, "interrupted");
    if (r < 0) {
        cache_layer_stage_abort(s);
        return r;
    }
    created_by = xasprintf("mkroot %s %s", x->codename, build_variant_to_string(x->o->variant));
    struct layer_meta meta = {
        .created = x->o->source_date_epoch >= 0 ? x->o->source_date_epoch : (int64_t)time(NULL),
        .created_by = created_by,
    };
    r = cache_layer_stage_publish(s, &meta, key, ret_id, err);
    if (r >= 0)
        log_info("published layer %.12s in %.1f s", ret_id, (now_ms() - t2) / 1e3);
    return r;
}

static int build_top_layer(struct ctx *x, const struct build_pkg_list *l, const char *key,
                           const char *parent, char ret_id[RS_SHA256_HEX_LEN + 1],
                           struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = image_new();
    _cleanup_free_ char *lower = cache_layer_root_path(x->c, parent);
    _cleanup_free_ char *upper = NULL, *work = NULL, *merged = NULL, *created_by = NULL;
    _cleanup_close_ int upper_fd = -1, work_fd = -1;
    struct cache_container *ct = NULL;
    double t0 = now_ms();
    int r;

    strv_push(&img->layers, parent);
    r = cache_container_new(x->c, img, &ct, err);
    if (r < 0)
        return r;
    upper = xasprintf("%s/upper", cache_container_path(ct));
    work = xasprintf("%s/work", cache_container_path(ct));
    merged = xasprintf("%s/merged", cache_container_path(ct));
    upper_fd = open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (upper_fd < 0) {
        r = rs_err_set(err, -errno, "cannot open '%s'", upper);
        goto out;
    }
    work_fd = rs_mkdir_in_root(upper_fd, WORK_DIR, 0700);
    r = work_fd < 0 ? rs_err_set(err, work_fd, "cannot create '/%s'", WORK_DIR)
                    : write_work_files(work_fd, l, err);
    if (r < 0)
        goto out;
    char *lowers[] = { lower, NULL };
    if (x->o->no_configure)
        r = build_unpack_all(x->c, l, NULL, upper_fd, 0, NULL, -1, err);
    else
        r = run_configure(x, l, NULL, NULL, lowers, upper, work, merged, err);
    if (r < 0)
        goto out;
    log_info("unpacked and configured %zu packages in %.1f s", l->n_pkgs, (now_ms() - t0) / 1e3);
    r = finish_tree(x, upper_fd, lower, err);
    if (r >= 0 && build_interrupted)
        r = rs_err_msg(err, -EINTR, "interrupted");
    if (r < 0)
        goto out;
    created_by = xasprintf("mkroot --include (%zu packages)", l->n_pkgs);
    struct layer_meta meta = {
        .parent = (char *)parent,
        .created = x->o->source_date_epoch >= 0 ? x->o->source_date_epoch : (int64_t)time(NULL),
        .created_by = created_by,
    };
    r = cache_layer_publish_dir(x->c, upper, &meta, key, ret_id, err);
out:
    cache_container_remove(ct);
    return r;
}

/* Is some package of l not in the store (or not valid: the download says why)? */
static bool missing_debs(struct cache *c, const struct build_pkg_list *l)
{
    for (size_t i = 0; i < l->n_pkgs; i++) {
        const char *h = l->pkgs[i].sha256;
        if (!h || !rs_sha256_hex_valid(h) || !cache_blob_has(c, h))
            return true;
    }
    return false;
}

/* The layer for key: from its recipe, or built under the key's lock (a second builder of the
 * same key waits, then finds the recipe). */
static int ensure_layer(struct ctx *x, const struct build_pkg_list *l, const char *key,
                        const char *parent, char ret_id[RS_SHA256_HEX_LEN + 1], bool *built,
                        struct rs_err *err)
{
    _cleanup_close_ int lock_fd = -1;
    size_t n_fetched = 0;
    double t0;
    bool fetch;
    int r;

    if (cache_recipe_get(x->c, key, ret_id) == 0)
        return 0;
    /* A base layer whose .debs are not all in the store downloads them into its stage while
     * it unpacks; that needs the key's lock first, so a second builder of the key waits
     * without downloading anything, then finds the recipe. A layer on top is installed by
     * dpkg inside the new root, which needs every .deb at once. */
    fetch = !parent && !x->o->offline && missing_debs(x->c, l);
    if (!fetch) {
        t0 = now_ms();
        r = build_download(x->a, l, x->o->offline ? BUILD_DOWNLOAD_OFFLINE : 0, &n_fetched, err);
        if (r < 0)
            return r;
        log_info("%zu packages in the store, %zu downloaded in %.1f s", l->n_pkgs, n_fetched,
                 (now_ms() - t0) / 1e3);
    }
    lock_fd = cache_lock_key(x->c, key, err);
    if (lock_fd < 0)
        return lock_fd;
    if (cache_recipe_get(x->c, key, ret_id) == 0)
        return 0;
    building = 1;
    r = parent ? build_top_layer(x, l, key, parent, ret_id, err)
               : build_base_layer(x, l, key, fetch, ret_id, err);
    building = 0;
    if (r < 0)
        return r;
    *built = true;
    return cache_recipe_put(x->c, key, ret_id, err);
}

/* ---- images ---- */

static char *key_for(struct ctx *x, char *const *include, const struct build_pkg_list *l,
                     const char *parent_key)
{
    _cleanup_free_ char *text =
        build_key_text(x->codename, x->arch, x->o->variant, x->components, include, x->o->exclude,
                       l, parent_key, x->o->source_date_epoch);
    char hex[RS_SHA256_HEX_LEN + 1];

    if (x->o->no_configure) {
        char *t = xasprintf("%sno-configure\n", text);
        free(text);
        text = t;
    }
    log_debug("build key text:\n%s", text);
    rs_sha256_buf(text, strlen(text), hex);
    return xstrdup(hex);
}

/* The packages of full that base does not have. A package whose version differs from the
 * base's cannot go into a layer on top of it: that is an error. */
static int list_minus(const struct build_pkg_list *full, const struct build_pkg_list *base,
                      struct build_pkg_list *ret, struct rs_err *err)
{
    struct build_pkg_list out = { .pkgs = xcalloc(full->n_pkgs + 1, sizeof(struct build_pkg)) };

    for (size_t i = 0, j = 0; i < full->n_pkgs; i++) {
        const struct build_pkg *p = &full->pkgs[i];
        while (j < base->n_pkgs && strcmp(base->pkgs[j].name, p->name) < 0)
            j++;
        if (j < base->n_pkgs && strcmp(base->pkgs[j].name, p->name) == 0) {
            if (strcmp(base->pkgs[j].sha256, p->sha256) != 0) {
                free(out.pkgs);
                return rs_err_msg(err, -EINVAL,
                                  "'%s' would be %s in the base layer but %s with --include",
                                  p->name, base->pkgs[j].version, p->version);
            }
            continue;
        }
        /* Shallow copy: the strings stay owned by full. */
        out.pkgs[out.n_pkgs++] = *p;
    }
    *ret = out;
    return 0;
}

static char *default_name(const struct build_image_opts *o)
{
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(4096);
    (void)strbuf_addf(&sb, "%s-%s", o->suite, build_variant_to_string(o->variant));
    if (o->include && o->include[0]) {
        _cleanup_strv_free_ char **inc = strv_copy(o->include);
        qsort(inc, strv_length(inc), sizeof(char *), cmp_str_ptr);
        STRV_FOREACH(i, inc)
            (void)strbuf_addf(&sb, "-%s", *i);
    }
    for (char *p = sb.buf; *p; p++)
        if (*p == '+')
            *p = '.';
    if (sb.len > 120)
        sb.buf[120] = '\0';
    return strbuf_detach(&sb, NULL);
}

static int record_image(struct ctx *x, char *const *layers, struct image **ret, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = image_new();
    _cleanup_free_ char *name = x->o->name ? xstrdup(x->o->name) : default_name(x->o);
    int r;

    r = image_name_normalize(name, &img->name, err);
    if (r < 0)
        return r;
    img->layers = strv_copy(layers);
    img->architecture = xstrdup(x->arch);
    img->created = x->o->source_date_epoch >= 0 ? x->o->source_date_epoch : (int64_t)time(NULL);
    strv_push(&img->config.env,
              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    strv_push(&img->config.cmd, "bash");
    img->source = xasprintf("mkroot %s %s%s", x->codename, build_variant_to_string(x->o->variant),
                            x->o->include && x->o->include[0] ? " --include …" : "");
    r = cache_image_put(x->c, img, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot record image '%s'", img->name);
    *ret = TAKE_PTR(img);
    return 0;
}

static int build_image_locked(struct ctx *x, struct image **ret, struct rs_err *err)
{
    struct build_pkg_list base = { 0 }, full = { 0 }, top = { 0 };
    _cleanup_free_ char *base_key = NULL, *top_key = NULL;
    _cleanup_strv_free_ char **layers = NULL;
    char base_id[RS_SHA256_HEX_LEN + 1], top_id[RS_SHA256_HEX_LEN + 1];
    bool have_include = x->o->include && x->o->include[0], built = false;
    double t0 = now_ms();
    int r;

    r = build_resolve(x->a, x->o->variant, NULL, x->o->exclude, &base, err);
    if (r < 0)
        return r;
    log_info("%s %s: %zu packages (resolved in %.0f ms)", x->codename,
             build_variant_to_string(x->o->variant), base.n_pkgs, now_ms() - t0);
    base_key = key_for(x, NULL, &base, NULL);
    r = ensure_layer(x, &base, base_key, NULL, base_id, &built, err);
    if (r < 0)
        goto out;
    strv_push(&layers, base_id);
    if (have_include) {
        r = build_resolve(x->a, x->o->variant, x->o->include, x->o->exclude, &full, err);
        if (r >= 0)
            r = list_minus(&full, &base, &top, err);
        if (r < 0)
            goto out;
        if (top.n_pkgs > 0) {
            top_key = key_for(x, x->o->include, &full, base_key);
            r = ensure_layer(x, &top, top_key, base_id, top_id, &built, err);
            if (r < 0)
                goto out;
            strv_push(&layers, top_id);
        }
    }
    if (!built)
        log_info("cached: layer %.12s", layers[strv_length(layers) - 1]);
    r = record_image(x, layers, ret, err);
out:
    free(top.pkgs);
    build_pkg_list_release(&full);
    build_pkg_list_release(&base);
    return r;
}

int build_image(struct cache *c, struct build_archive *a, const struct build_image_opts *o,
                struct image **ret, struct rs_err *err)
{
    const struct build_release *rel = build_archive_release(a);
    struct ctx x = {
        .c = c,
        .a = a,
        .o = o,
        .mirror = build_archive_mirror(a),
        .codename = rel->codename ? rel->codename : o->suite,
        .arch = build_archive_arch(a),
        .components = build_archive_components(a),
    };
    struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
    int r;

    build_interrupted = 0;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    r = build_image_locked(&x, ret, err);
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    if (r < 0 && build_interrupted)
        r = -EINTR;
    return r;
}

int build_interrupt_signal(void)
{
    return build_interrupted;
}
