/* dpkg's records of a package whose files mkroot has already extracted: what `dpkg --unpack`
 * would leave in /var/lib/dpkg, staged in the root's work dir for the configure script to move
 * into place at the moment debootstrap's `dpkg --unpack` would write them.
 *
 * Observed from dpkg 1.22 unpacking the same .debs (the contract here):
 *   info/<pkg>.<member>  every control.tar member but "control", its mode kept; md5sums made
 *                        from the regular files when the package ships none
 *   info/<pkg>.list      the data.tar's entries in archive order, symlinks last: "/.", "/usr"
 *   status               the control fields, "Status: install ok unpacked", and each conffile
 *                        as " <path> newconffile" (the hash is taken at --configure)
 *   <conffile>.dpkg-new  the shipped conffile, which --configure moves over <conffile>
 *   triggers/            the package's interests (File for paths, <name> for the others);
 *                        explicit activations happen at --configure
 * <pkg> is "name:arch" for Multi-Arch: same packages. */

#include "build/root-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/path.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#define MAX_CONFFILE_SIZE (64u << 20)

/* The value of field `name` in a control paragraph (first line only), or NULL. Owned. */
static char *control_field(const char *control, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = control; s && *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (len > n && strncasecmp(s, name, n) == 0 && s[n] == ':') {
            const char *v = s + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(s + len - v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r'))
                vl--;
            return xstrndup(v, vl);
        }
        s = nl ? nl + 1 : NULL;
    }
    return NULL;
}

char *build_dpkg_info_name(const struct build_pkg *p, const struct build_deb_meta *m)
{
    const struct build_deb_member *c = build_deb_meta_member(m, "control");
    _cleanup_free_ char *ma = c ? control_field(c->data, "Multi-Arch") : NULL;
    _cleanup_free_ char *arch = c ? control_field(c->data, "Architecture") : NULL;

    if (ma && arch && strcmp(ma, "same") == 0)
        return xasprintf("%s:%s", p->name, arch);
    return xstrdup(p->name);
}

static int write_at(int dir_fd, const char *name, const void *data, size_t len, mode_t mode,
                    struct rs_err *err)
{
    _cleanup_close_ int fd =
        openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot write '%s'", name);
    int r = rs_write_all(fd, data, len);
    if (r >= 0 && fchmod(fd, mode) < 0)
        r = -errno;
    if (r < 0)
        return rs_err_set(err, r, "cannot write '%s'", name);
    return 0;
}

/* Copy the conffile `path` (absolute, inside root_fd) to "<path>.dpkg-new" with its owner
 * and mode, as dpkg's unpack would leave the shipped version. */
static int copy_conffile(int root_fd, const char *path, struct rs_err *err)
{
    const char *rel = path + strspn(path, "/");
    _cleanup_free_ char *dir = xstrdup(rel), *data = NULL, *target = NULL;
    char *slash = strrchr(dir, '/');
    const char *name = slash ? slash + 1 : dir;
    _cleanup_close_ int dfd = -1, src = -1, dst = -1;
    _cleanup_free_ char *new_name = NULL;
    struct stat st;
    size_t len = 0;
    int r;

    if (slash)
        *slash = '\0';
    dfd = slash ? rs_open_in_root(root_fd, dir, O_RDONLY | O_DIRECTORY, 0)
                : fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
    if (dfd < 0)
        return rs_err_set(err, dfd < 0 && slash ? dfd : -errno, "conffile '%s' is missing", path);
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return rs_err_set(err, -errno, "conffile '%s' is missing", path);
    new_name = xasprintf("%s.dpkg-new", name);
    (void)unlinkat(dfd, new_name, 0);
    if (S_ISLNK(st.st_mode)) {
        target = xmalloc(PATH_MAX);
        ssize_t n = readlinkat(dfd, name, target, PATH_MAX - 1);
        if (n < 0)
            return rs_err_set(err, -errno, "cannot read conffile '%s'", path);
        target[n] = '\0';
        if (symlinkat(target, dfd, new_name) < 0 ||
            fchownat(dfd, new_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
            return rs_err_set(err, -errno, "cannot copy conffile '%s'", path);
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return rs_err_msg(err, -EINVAL, "conffile '%s' is not a file", path);
    r = rs_read_file_at(dfd, name, MAX_CONFFILE_SIZE, &data, &len, err);
    if (r < 0)
        return r;
    dst = openat(dfd, new_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (dst < 0)
        return rs_err_set(err, -errno, "cannot copy conffile '%s'", path);
    r = rs_write_all(dst, data, len);
    if (r >= 0 && (fchown(dst, st.st_uid, st.st_gid) < 0 || fchmod(dst, st.st_mode & 07777) < 0))
        r = -errno;
    if (r >= 0) {
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        if (futimens(dst, ts) < 0)
            r = -errno;
    }
    if (r < 0)
        return rs_err_set(err, r, "cannot copy conffile '%s'", path);
    return 0;
}

/* The status entry: the control paragraph with dpkg's unpacked state and the conffiles. */
static char *status_stanza(const struct build_pkg *p, const struct build_deb_meta *m)
{
    const struct build_deb_member *c = build_deb_meta_member(m, "control");
    const struct build_deb_member *cf = build_deb_meta_member(m, "conffiles");
    struct strbuf sb = STRBUF_INIT(64u << 20);
    const char *s = c->data;
    size_t len = c->size;

    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    (void)strbuf_addf(&sb, "Package: %s\nStatus: install ok unpacked\n", p->name);
    /* debootstrap records dpkg as installed before dpkg installs itself: dpkg's unpack over
     * that entry keeps its version as the configured one. */
    if (strcmp(p->name, "dpkg") == 0)
        (void)strbuf_addf(&sb, "Config-Version: %s\n", p->version);
    for (const char *l = s; l < s + len;) {
        const char *nl = memchr(l, '\n', (size_t)(s + len - l));
        const char *end = nl ? nl : s + len;
        if (!(end - l >= 8 && strncasecmp(l, "Package:", 8) == 0)) {
            (void)strbuf_add(&sb, l, (size_t)(end - l));
            (void)strbuf_addch(&sb, '\n');
        }
        l = end + 1;
    }
    if (cf && cf->size > 0) {
        bool any = false;
        _cleanup_free_ char *copy = xstrdup(cf->data);
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *path = strchr(line, '/');
            if (!path)
                continue;
            size_t pl = strcspn(path, " \t\r");
            if (!any)
                (void)strbuf_addstr(&sb, "Conffiles:\n");
            any = true;
            (void)strbuf_addf(&sb, " %.*s newconffile%s\n", (int)pl, path,
                              strstr(line, "remove-on-upgrade") ? " remove-on-upgrade" : "");
        }
    }
    (void)strbuf_addch(&sb, '\n');
    return strbuf_detach(&sb, NULL);
}

/* The trigger interests dpkg records when it unpacks the package: for the directive
 * "interest[-await|-noawait] NAME", the line "<pkg>[/noawait]" appended to triggers/NAME, or,
 * when NAME is a path, "NAME <pkg>[/noawait]" appended to triggers/File. Staged under
 * "trig/" as the lines to append, one file per trigger. */
static int stage_interests(int dir_fd, const char *info, const struct build_deb_meta *m,
                           struct rs_err *err)
{
    const struct build_deb_member *t = build_deb_meta_member(m, "triggers");
    _cleanup_close_ int trig_fd = -1;

    if (!t)
        return 0;
    _cleanup_free_ char *copy = xstrdup(t->data);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *kw = line + strspn(line, " \t");
        size_t kl = strcspn(kw, " \t");
        if (*kw == '#' || kl < 8 || strncmp(kw, "interest", 8) != 0)
            continue;
        bool noawait = kl == 16 && strncmp(kw, "interest-noawait", 16) == 0;
        if (!noawait && !(kl == 8 || (kl == 14 && strncmp(kw, "interest-await", 14) == 0)))
            continue;
        char *name = kw + kl + strspn(kw + kl, " \t");
        name[strcspn(name, " \t\r")] = '\0';
        if (!*name || (name[0] != '/' && strchr(name, '/')) || strcmp(name, "File") == 0)
            return rs_err_msg(err, -EBADMSG, "bad trigger interest '%s' of '%s'", name, info);
        if (trig_fd < 0) {
            if (mkdirat(dir_fd, "trig", 0755) < 0 ||
                (trig_fd = openat(dir_fd, "trig", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return rs_err_set(err, -errno, "cannot stage the triggers of '%s'", info);
        }
        const char *file = name[0] == '/' ? "File" : name;
        _cleanup_free_ char *text =
            name[0] == '/' ? xasprintf("%s %s%s\n", name, info, noawait ? "/noawait" : "")
                           : xasprintf("%s%s\n", info, noawait ? "/noawait" : "");
        _cleanup_close_ int fd =
            openat(trig_fd, file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
        int r = fd < 0 ? -errno : rs_write_all(fd, text, strlen(text));
        if (r < 0)
            return rs_err_set(err, r, "cannot stage the triggers of '%s'", info);
    }
    return 0;
}

int build_dpkg_stage_records(int pkgs_fd, const struct build_pkg *p, const struct build_deb_meta *m,
                             struct rs_err *err)
{
    _cleanup_free_ char *info = NULL, *stanza = NULL, *list_name = NULL;
    _cleanup_close_ int dir_fd = -1, info_fd = -1, ci_fd = -1;
    int r;

    if (!build_deb_meta_member(m, "control"))
        return rs_err_msg(err, -EINVAL, "package '%s' has no control area", p->name);
    info = build_dpkg_info_name(p, m);
    if (mkdirat(pkgs_fd, p->name, 0700) < 0)
        return rs_err_set(err, -errno, "cannot create the stage of '%s'", p->name);
    dir_fd = openat(pkgs_fd, p->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0 || mkdirat(dir_fd, "info", 0755) < 0 ||
        (info_fd = openat(dir_fd, "info", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return rs_err_set(err, -errno, "cannot create the stage of '%s'", p->name);
    if (build_deb_meta_member(m, "preinst")) {
        if (mkdirat(dir_fd, "ci", 0755) < 0 ||
            (ci_fd = openat(dir_fd, "ci", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            return rs_err_set(err, -errno, "cannot create the stage of '%s'", p->name);
    }
    for (size_t i = 0; i < m->n_members; i++) {
        const struct build_deb_member *mb = &m->members[i];
        if (ci_fd >= 0 && !mb->made) {
            r = write_at(ci_fd, mb->name, mb->data, mb->size, mb->mode, err);
            if (r < 0)
                return r;
        }
        if (strcmp(mb->name, "control") == 0)
            continue;
        _cleanup_free_ char *fn = xasprintf("%s.%s", info, mb->name);
        r = write_at(info_fd, fn, mb->data, mb->size, mb->mode, err);
        if (r < 0)
            return r;
    }
    list_name = xasprintf("%s.list", info);
    r = write_at(info_fd, list_name, m->list ? m->list : "", m->list_len, 0644, err);
    if (r < 0)
        return r;
    r = stage_interests(dir_fd, info, m, err);
    if (r < 0)
        return r;
    stanza = status_stanza(p, m);
    return write_at(dir_fd, "stanza", stanza, strlen(stanza), 0644, err);
}

/* The .dpkg-new copy of every conffile p ships. */
static int stage_conffiles(int root_fd, const struct build_pkg *p, const struct build_deb_meta *m,
                           struct rs_err *err)
{
    const struct build_deb_member *cf = build_deb_meta_member(m, "conffiles");
    _cleanup_free_ char *copy = NULL;
    char *save = NULL;

    if (!cf)
        return 0;
    copy = xstrdup(cf->data);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *path = strchr(line, '/');
        if (!path)
            continue;
        path[strcspn(path, " \t\r")] = '\0';
        /* remove-on-upgrade conffiles are not shipped */
        if (strstr(line, "remove-on-upgrade"))
            continue;
        int r = copy_conffile(root_fd, path, err);
        if (r < 0)
            return rs_err_wrap(err, "package '%s'", p->name);
    }
    return 0;
}

int build_dpkg_stage_dir(int work_fd, struct rs_err *err)
{
    int fd;

    if (mkdirat(work_fd, "pkgs", 0700) < 0 ||
        (fd = openat(work_fd, "pkgs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return rs_err_set(err, -errno, "cannot create the package stage");
    return fd;
}

int build_dpkg_stage_conffiles(int root_fd, const struct build_pkg_list *l,
                               const struct build_deb_meta *metas, struct rs_err *err)
{
    for (size_t i = 0; i < l->n_pkgs; i++) {
        int r = stage_conffiles(root_fd, &l->pkgs[i], &metas[i], err);
        if (r < 0)
            return r;
    }
    log_debug("staged dpkg's records of %zu packages", l->n_pkgs);
    return 0;
}

int build_dpkg_stage(int root_fd, int work_fd, const struct build_pkg_list *l,
                     const struct build_deb_meta *metas, struct rs_err *err)
{
    _cleanup_close_ int pkgs_fd = build_dpkg_stage_dir(work_fd, err);

    if (pkgs_fd < 0)
        return pkgs_fd;
    for (size_t i = 0; i < l->n_pkgs; i++) {
        int r = build_dpkg_stage_records(pkgs_fd, &l->pkgs[i], &metas[i], err);
        if (r < 0)
            return r;
    }
    return build_dpkg_stage_conffiles(root_fd, l, metas, err);
}
