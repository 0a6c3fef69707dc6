/* Behaviour of build/'s second half that needs no archive: what mkroot records in dpkg's
 * database for a package whose files it unpacked itself (build/dpkgdb.c), the records it
 * reads from a .deb on the way (build/unpack.c), and their failure contract.
 *
 * The judge is dpkg: two .debs are made here (dpkg-deb for one; tar and ar for the other, so
 * that its data.tar is not in name order), unpacked by us and by `dpkg --root=DIR --unpack`
 * into two temp dirs, and the databases compared: info files byte for byte with their modes,
 * triggers/File and triggers/<name> byte for byte, status entries field by field (dpkg writes
 * its own field order; the configure step's dpkg rewrites ours the same way), the conffiles'
 * .dpkg-new copies. Without dpkg-deb, tar or ar the tests skip; without dpkg only the
 * comparison does. No root needed: dpkg runs with --force-not-root. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "build/root-internal.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* ---- making .debs ---- */

static bool have_cmd(const char *name)
{
    const char *path = getenv("PATH");
    _cleanup_strv_free_ char **dirs = strv_split(path ? path : "/usr/bin:/bin", ":");
    STRV_FOREACH(d, dirs) {
        _cleanup_free_ char *p = xasprintf("%s/%s", *d, name);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

/* Run argv in cwd with stdout and stderr appended to log; returns its exit status. */
static int run_in(const char *cwd, const char *log, const char *const argv[])
{
    int status;
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || (cwd && chdir(cwd) < 0))
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) < 0)
        return -errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void put(const char *dir, const char *rel, const char *text, mode_t mode)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
    _cleanup_free_ char *parent = xstrdup(path);
    struct rs_err err = RS_ERR_INIT;

    *strrchr(parent, '/') = '\0';
    assert_int_equal(rs_mkdir_p(parent, 0755), 0);
    assert_int_equal(rs_write_file_atomic_at(AT_FDCWD, path, text, strlen(text), mode, 0, &err), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static const char demo_control[] = "Package: demo\n"
                                   "Version: 1.0-1\n"
                                   "Architecture: amd64\n"
                                   "Maintainer: rootstock tests <tests@invalid>\n"
                                   "Multi-Arch: same\n"
                                   "Priority: optional\n"
                                   "Section: misc\n"
                                   "Depends: libc6 (>= 2.36)\n"
                                   "Description: fixture package with everything\n"
                                   " a conffile, maintainer scripts and triggers.\n";
static const char demo_triggers[] = "# comments are not directives\n"
                                    "interest /usr/share/demo-hook\n"
                                    "interest-noawait demo-trig\n"
                                    "activate-noawait ldconfig\n"
                                    "activate /usr/share/other-hook\n";
static const char tool_control[] = "Package: tool\n"
                                   "Version: 2:0.5\n"
                                   "Architecture: all\n"
                                   "Maintainer: rootstock tests <tests@invalid>\n"
                                   "Priority: optional\n"
                                   "Description: fixture package built by hand\n";
static const char tool_triggers[] = "interest-await /usr/lib/tool-hooks\n"
                                    "interest-noawait tool-trig\n"
                                    "interest demo-trig\n"
                                    "activate-await demo-trig\n";

/* demo: dpkg-deb's own build, Multi-Arch: same, conffile, preinst and postinst, md5sums. */
static int make_demo(const char *dir, const char *log)
{
    _cleanup_free_ char *tree = xasprintf("%s/demo", dir), *deb = xasprintf("%s/demo.deb", dir);
    _cleanup_free_ char *link = xasprintf("%s/usr/share/demo/link", tree);

    put(tree, "DEBIAN/control", demo_control, 0644);
    put(tree, "DEBIAN/conffiles", "/etc/demo/demo.conf\n", 0644);
    put(tree, "DEBIAN/triggers", demo_triggers, 0644);
    put(tree, "DEBIAN/preinst", "#!/bin/sh\nexit 0\n", 0755);
    put(tree, "DEBIAN/postinst", "#!/bin/sh\nset -e\nexit 0\n", 0755);
    put(tree, "DEBIAN/md5sums",
        "4a2b1ad0fd8d5a8e9d5d0b0f1a2b3c4d  usr/bin/demo\n"
        "0d599f0ec05c3bda8c3b8a68c32a1b47  usr/share/demo/data\n",
        0644);
    put(tree, "etc/demo/demo.conf", "# demo's configuration\nkey = value\n", 0640);
    put(tree, "usr/bin/demo", "#!/bin/sh\necho demo\n", 0755);
    put(tree, "usr/share/demo/data", "data\n", 0644);
    assert_int_equal(symlink("data", link), 0);
    const char *const argv[] = { "dpkg-deb", "-Zgzip", "--build", tree, deb, NULL };
    return run_in(NULL, log, argv);
}

/* tool: tar and ar by hand, so that its data.tar is in an order of our choosing (dpkg-deb
 * sorts): "zz" before "aa", a symlink among files, a hard link; and no md5sums. */
static int make_tool(const char *dir, const char *log)
{
    _cleanup_free_ char *tree = xasprintf("%s/tool", dir), *deb = xasprintf("%s/tool.deb", dir);
    _cleanup_free_ char *ctl = xasprintf("%s/ctl", tree), *data = xasprintf("%s/data", tree);
    int r;

    put(tree, "debian-binary", "2.0\n", 0644);
    put(ctl, "control", tool_control, 0644);
    put(ctl, "triggers", tool_triggers, 0644);
    put(data, "usr/share/tool/zz", "zz\n", 0644);
    put(data, "usr/share/tool/aa", "aa\n", 0600);
    put(data, "usr/share/tool/sub/f", "f\n", 0644);
    put(data, "etc/tool/not-a-conffile", "x\n", 0644);
    _cleanup_free_ char *zz = xasprintf("%s/usr/share/tool/zz", data);
    _cleanup_free_ char *hard = xasprintf("%s/usr/share/tool/hard", data);
    _cleanup_free_ char *sym = xasprintf("%s/usr/share/tool/sym", data);
    assert_int_equal(link(zz, hard), 0);
    assert_int_equal(symlink("sub/f", sym), 0);
    const char *const tar_ctl[] = {
        "tar",       "--no-recursion", "-czf", "control.tar.gz", "-C", "ctl", "./",
        "./control", "./triggers",     NULL
    };
    const char *const tar_data[] = { "tar",
                                     "--no-recursion",
                                     "-czf",
                                     "data.tar.gz",
                                     "-C",
                                     "data",
                                     "./",
                                     "./usr/",
                                     "./usr/share/",
                                     "./usr/share/tool/",
                                     "./usr/share/tool/zz",
                                     "./usr/share/tool/sym",
                                     "./usr/share/tool/aa",
                                     "./usr/share/tool/hard",
                                     "./usr/share/tool/sub/",
                                     "./usr/share/tool/sub/f",
                                     "./etc/",
                                     "./etc/tool/",
                                     "./etc/tool/not-a-conffile",
                                     NULL };
    const char *const ar[] = { "ar",          "rc", deb, "debian-binary", "control.tar.gz",
                               "data.tar.gz", NULL };
    r = run_in(tree, log, tar_ctl);
    if (r == 0)
        r = run_in(tree, log, tar_data);
    if (r == 0)
        r = run_in(tree, log, ar);
    return r;
}

/* ---- the fixture: both packages unpacked and staged by us ---- */

struct fx {
    char *dir; /* NULL: the tools to make .debs are missing, skip */
    char *log;
    int root_fd, work_fd;
    struct build_pkg pkgs[2];
    struct build_pkg_list l;
    struct build_deb_meta metas[2];
};

static char *path_in(const struct fx *f, const char *rel)
{
    return xasprintf("%s/%s", f->dir, rel);
}

static void fail_with_log(const struct fx *f, const char *what)
{
    _cleanup_free_ char *text = NULL;
    struct rs_err err = RS_ERR_INIT;
    (void)rs_read_file_at(AT_FDCWD, f->log, 1 << 20, &text, NULL, &err);
    rs_err_release(&err);
    fail_msg("%s:\n%s", what, text ? text : "");
}

static void append_file(const char *src, const char *dst)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(rs_read_file_at(AT_FDCWD, src, 1 << 20, &text, &len, &err), 0);
    _cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(rs_write_all(fd, text, len), 0);
}

/* What the configure script's `new` does with a package's stage (build/dpkg.c): its info files
 * into info/, its trigger lines appended to triggers/, its stanza appended to status. */
static void move_stage_into_db(const struct fx *f, const char *name)
{
    _cleanup_free_ char *stage = xasprintf("%s/ours/work/pkgs/%s", f->dir, name);
    _cleanup_free_ char *info = xasprintf("%s/info", stage), *trig = xasprintf("%s/trig", stage);
    _cleanup_free_ char *stanza = xasprintf("%s/stanza", stage);
    _cleanup_free_ char *db = path_in(f, "ours/db"), *status = path_in(f, "ours/db/status");
    _cleanup_closedir_ DIR *d = opendir(info);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *from = xasprintf("%s/%s", info, de->d_name);
        _cleanup_free_ char *to = xasprintf("%s/info/%s", db, de->d_name);
        assert_int_equal(rename(from, to), 0);
    }
    _cleanup_closedir_ DIR *t = opendir(trig);
    while (t && (de = readdir(t))) {
        if (de->d_name[0] == '.')
            continue;
        _cleanup_free_ char *from = xasprintf("%s/%s", trig, de->d_name);
        _cleanup_free_ char *to = xasprintf("%s/triggers/%s", db, de->d_name);
        append_file(from, to);
    }
    append_file(stanza, status);
}

static int fx_setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    char tmpl[] = "/tmp/rs-test-build-root-XXXXXX";
    struct rs_err err = RS_ERR_INIT;

    f->root_fd = f->work_fd = -1;
    *state = f;
    if (!have_cmd("dpkg-deb") || !have_cmd("tar") || !have_cmd("ar"))
        return 0;
    assert_non_null(mkdtemp(tmpl));
    f->dir = xstrdup(tmpl);
    f->log = path_in(f, "commands.log");
    if (make_demo(f->dir, f->log) != 0 || make_tool(f->dir, f->log) != 0)
        fail_with_log(f, "cannot make the test packages");
    static const char *const dirs[] = { "ours/root", "ours/work", "ours/db/info",
                                        "ours/db/triggers", "dpkg/root/var/lib/dpkg" };
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
        _cleanup_free_ char *p = path_in(f, dirs[i]);
        assert_int_equal(rs_mkdir_p(p, 0755), 0);
    }
    _cleanup_free_ char *root = path_in(f, "ours/root"), *work = path_in(f, "ours/work");
    f->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    f->work_fd = open(work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->root_fd >= 0 && f->work_fd >= 0);

    f->pkgs[0] = (struct build_pkg){ .name = (char *)"demo",
                                     .version = (char *)"1.0-1",
                                     .arch = (char *)"amd64" };
    f->pkgs[1] = (struct build_pkg){ .name = (char *)"tool",
                                     .version = (char *)"2:0.5",
                                     .arch = (char *)"all" };
    f->l = (struct build_pkg_list){ .pkgs = f->pkgs, .n_pkgs = 2 };
    for (size_t i = 0; i < 2; i++) {
        _cleanup_free_ char *deb = xasprintf("%s/%s.deb", f->dir, f->pkgs[i].name);
        _cleanup_close_ int fd = open(deb, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        if (build_deb_extract_data(fd, f->root_fd, f->pkgs[i].name, &f->metas[i], &err) < 0)
            fail_msg("cannot unpack '%s': %s", deb, err.msg);
    }
    if (build_dpkg_stage(f->root_fd, f->work_fd, &f->l, f->metas, &err) < 0)
        fail_msg("cannot stage: %s", err.msg);
    for (size_t i = 0; i < 2; i++)
        move_stage_into_db(f, f->pkgs[i].name);
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;

    for (size_t i = 0; i < 2; i++)
        build_deb_meta_release(&f->metas[i]);
    safe_close(f->root_fd);
    safe_close(f->work_fd);
    if (f->dir)
        (void)rs_rm_rf_at(AT_FDCWD, f->dir);
    free(f->dir);
    free(f->log);
    free(f);
    return 0;
}

static char *read_in(const struct fx *f, const char *rel)
{
    _cleanup_free_ char *p = path_in(f, rel);
    char *text = NULL;
    struct rs_err err = RS_ERR_INIT;
    if (rs_read_file_at(AT_FDCWD, p, 1 << 20, &text, NULL, &err) < 0)
        fail_msg("cannot read '%s': %s", rel, err.msg);
    return text;
}

static mode_t mode_of(const struct fx *f, const char *rel)
{
    _cleanup_free_ char *p = path_in(f, rel);
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    return st.st_mode;
}

static bool exists_in(const struct fx *f, const char *rel)
{
    _cleanup_free_ char *p = path_in(f, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(char *const *l, const char *sep)
{
    struct strbuf sb = STRBUF_INIT(1 << 20);
    STRV_FOREACH(s, (char **)l)
        (void)strbuf_addf(&sb, "%s%s", s == l ? "" : sep, *s);
    return strbuf_detach(&sb, NULL);
}

/* The sorted names in a directory, but those in `ignore`. */
static char **dir_names(const char *dir, char *const *ignore)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    char **names = NULL;
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
            !strv_contains(ignore, de->d_name))
            strv_push(&names, de->d_name);
    if (names)
        qsort(names, strv_length(names), sizeof(char *), cmp_str);
    return names;
}

/* ---- the records, as dpkg 1.21/1.22 writes them (spelled out, no dpkg needed) ---- */

static void dpkgdb__records_are_what_dpkg_unpack_writes(void **state)
{
    struct fx *f = *state;
    if (!f->dir)
        skip();
    _cleanup_free_ char *info = path_in(f, "ours/db/info");
    _cleanup_strv_free_ char **names = dir_names(info, NULL);
    _cleanup_free_ char *joined = join(names, " ");

    /* "control" is not an info file; Multi-Arch: same names carry the architecture. */
    assert_string_equal(joined, "demo:amd64.conffiles demo:amd64.list demo:amd64.md5sums "
                                "demo:amd64.postinst demo:amd64.preinst demo:amd64.triggers "
                                "tool.list tool.md5sums tool.triggers");
    assert_int_equal(mode_of(f, "ours/db/info/demo:amd64.preinst") & 07777, 0755);
    assert_int_equal(mode_of(f, "ours/db/info/demo:amd64.conffiles") & 07777, 0644);

    _cleanup_free_ char *demo_list = read_in(f, "ours/db/info/demo:amd64.list");
    assert_string_equal(demo_list, "/.\n/etc\n/etc/demo\n/etc/demo/demo.conf\n/usr\n/usr/bin\n"
                                   "/usr/bin/demo\n/usr/share\n/usr/share/demo\n"
                                   "/usr/share/demo/data\n/usr/share/demo/link\n");
    /* The archive's order, not the names', but symlinks last. */
    _cleanup_free_ char *tool_list = read_in(f, "ours/db/info/tool.list");
    assert_string_equal(tool_list, "/.\n/usr\n/usr/share\n/usr/share/tool\n/usr/share/tool/zz\n"
                                   "/usr/share/tool/aa\n/usr/share/tool/hard\n"
                                   "/usr/share/tool/sub\n/usr/share/tool/sub/f\n/etc\n/etc/tool\n"
                                   "/etc/tool/not-a-conffile\n/usr/share/tool/sym\n");
    /* No md5sums in the .deb: made from the regular files, a hard link as its target. */
    _cleanup_free_ char *sums = read_in(f, "ours/db/info/tool.md5sums");
    assert_string_equal(sums, "83770f8fa25a50c6e3e11b313dadc1bb  usr/share/tool/zz\n"
                              "d404401c8c6495b206fc35c95e55a6d5  usr/share/tool/aa\n"
                              "83770f8fa25a50c6e3e11b313dadc1bb  usr/share/tool/hard\n"
                              "9a8ad92c50cae39aa2c5604fd0ab6d8c  usr/share/tool/sub/f\n"
                              "401b30e3b8b5d629635a5c613cdb7919  etc/tool/not-a-conffile\n");
    assert_int_equal(mode_of(f, "ours/db/info/tool.md5sums") & 07777, 0644);
    _cleanup_free_ char *triggers = read_in(f, "ours/db/info/demo:amd64.triggers");
    assert_string_equal(triggers, demo_triggers);

    /* Interests only: activations wait for --configure. Paths go to File with the package's
     * name, names to their own file; -noawait is spelled /noawait, -await is the default. */
    _cleanup_free_ char *file = read_in(f, "ours/db/triggers/File");
    assert_string_equal(file, "/usr/share/demo-hook demo:amd64\n/usr/lib/tool-hooks tool\n");
    _cleanup_free_ char *demo_trig = read_in(f, "ours/db/triggers/demo-trig");
    assert_string_equal(demo_trig, "demo:amd64/noawait\ntool\n");
    _cleanup_free_ char *tool_trig = read_in(f, "ours/db/triggers/tool-trig");
    assert_string_equal(tool_trig, "tool/noawait\n");
    _cleanup_free_ char *trig_dir = path_in(f, "ours/db/triggers");
    _cleanup_strv_free_ char **trig_names = dir_names(trig_dir, NULL);
    _cleanup_free_ char *trig_joined = join(trig_names, " ");
    assert_string_equal(trig_joined, "File demo-trig tool-trig");

    /* The control file's fields, the unpacked state after Package, the conffiles at the end. */
    _cleanup_free_ char *status = read_in(f, "ours/db/status");
    assert_string_equal(status, "Package: demo\n"
                                "Status: install ok unpacked\n"
                                "Version: 1.0-1\n"
                                "Architecture: amd64\n"
                                "Maintainer: rootstock tests <tests@invalid>\n"
                                "Multi-Arch: same\n"
                                "Priority: optional\n"
                                "Section: misc\n"
                                "Depends: libc6 (>= 2.36)\n"
                                "Description: fixture package with everything\n"
                                " a conffile, maintainer scripts and triggers.\n"
                                "Conffiles:\n"
                                " /etc/demo/demo.conf newconffile\n"
                                "\n"
                                "Package: tool\n"
                                "Status: install ok unpacked\n"
                                "Version: 2:0.5\n"
                                "Architecture: all\n"
                                "Maintainer: rootstock tests <tests@invalid>\n"
                                "Priority: optional\n"
                                "Description: fixture package built by hand\n"
                                "\n");

    /* The shipped conffile waits next to itself for --configure, with its mode. */
    _cleanup_free_ char *conf = read_in(f, "ours/root/etc/demo/demo.conf");
    _cleanup_free_ char *conf_new = read_in(f, "ours/root/etc/demo/demo.conf.dpkg-new");
    assert_string_equal(conf, conf_new);
    assert_int_equal(mode_of(f, "ours/root/etc/demo/demo.conf.dpkg-new") & 07777, 0640);
    assert_false(exists_in(f, "ours/root/etc/tool/not-a-conffile.dpkg-new"));

    /* dpkg runs a preinst from the control area (tmp.ci): staged only for packages with one. */
    _cleanup_free_ char *ci = read_in(f, "ours/work/pkgs/demo/ci/control");
    assert_string_equal(ci, demo_control);
    assert_int_equal(mode_of(f, "ours/work/pkgs/demo/ci/preinst") & 07777, 0755);
    assert_false(exists_in(f, "ours/work/pkgs/tool/ci"));
}

/* ---- the judge: dpkg --unpack of the same .debs ---- */

static void dpkg_unpack(const struct fx *f, const char *name)
{
    _cleanup_free_ char *root = path_in(f, "dpkg/root");
    _cleanup_free_ char *deb = xasprintf("%s/%s.deb", f->dir, name);
    _cleanup_free_ char *root_arg = xasprintf("--root=%s", root);
    _cleanup_free_ char *log_arg = xasprintf("--log=%s/dpkg.log", f->dir);
    /* --force-all for the missing dependency; scripts run on the host (only `exit 0`), as
     * there is no shell inside the root to chroot into. */
    const char *const argv[] = { "dpkg",
                                 root_arg,
                                 log_arg,
                                 "--force-all",
                                 "--force-not-root",
                                 "--force-script-chrootless",
                                 "--unpack",
                                 deb,
                                 NULL };
    if (run_in(NULL, f->log, argv) != 0)
        fail_with_log(f, "dpkg --unpack failed");
}

/* Every regular file in dir a equals (bytes, mode) the one in dir b, and they have the same
 * names but those in ignore. */
static void assert_same_files(const char *a, const char *b, char *const *ignore)
{
    _cleanup_strv_free_ char **na = dir_names(a, ignore), **nb = dir_names(b, ignore);
    _cleanup_free_ char *ja = join(na, " "), *jb = join(nb, " ");
    struct rs_err err = RS_ERR_INIT;

    assert_string_equal(ja, jb);
    STRV_FOREACH(n, na) {
        _cleanup_free_ char *pa = xasprintf("%s/%s", a, *n), *pb = xasprintf("%s/%s", b, *n);
        _cleanup_free_ char *ta = NULL, *tb = NULL;
        size_t la = 0, lb = 0;
        struct stat sa, sb;
        assert_int_equal(lstat(pa, &sa), 0);
        assert_int_equal(lstat(pb, &sb), 0);
        if ((sa.st_mode & 07777) != (sb.st_mode & 07777))
            fail_msg("'%s': mode %o, dpkg's is %o", *n, sa.st_mode & 07777, sb.st_mode & 07777);
        assert_int_equal(rs_read_file_at(AT_FDCWD, pa, 1 << 20, &ta, &la, &err), 0);
        assert_int_equal(rs_read_file_at(AT_FDCWD, pb, 1 << 20, &tb, &lb, &err), 0);
        if (la != lb || memcmp(ta, tb, la) != 0)
            fail_msg("'%s' differs:\n--- ours\n%s--- dpkg's\n%s", *n, ta, tb);
    }
}

/* A status file as a list of "paragraph-number field" strings (a field with its continuation
 * lines), sorted: the same entries in any field order compare equal. */
static char **status_fields(const char *text)
{
    char **fields = NULL;
    int para = 0;
    _cleanup_free_ char *cur = NULL;

    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n");
        if (len == 0) {
            para++;
        } else if (*l == ' ' || *l == '\t') {
            assert_non_null(cur);
            char *more = xasprintf("%s\n%.*s", cur, (int)len, l);
            free(cur);
            cur = more;
        } else {
            if (cur)
                strv_push(&fields, cur);
            free(cur);
            cur = xasprintf("%03d %.*s", para, (int)len, l);
        }
        l += len + (l[len] == '\n');
        if (len == 0 && cur) {
            strv_push(&fields, cur);
            free(cur);
            cur = NULL;
        }
    }
    if (cur)
        strv_push(&fields, cur);
    if (fields)
        qsort(fields, strv_length(fields), sizeof(char *), cmp_str);
    return fields;
}

static void dpkgdb__records_equal_dpkgs_own(void **state)
{
    struct fx *f = *state;
    if (!f->dir || !have_cmd("dpkg"))
        skip();
    _cleanup_free_ char *status = path_in(f, "dpkg/root/var/lib/dpkg/status");
    _cleanup_close_ int fd = open(status, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    for (size_t i = 0; i < 2; i++)
        dpkg_unpack(f, f->pkgs[i].name);

    /* info/format is dpkg's database layout, written by whichever dpkg runs first. */
    char *info_ignore[] = { (char *)"format", NULL };
    _cleanup_free_ char *ours_info = path_in(f, "ours/db/info");
    _cleanup_free_ char *dpkg_info = path_in(f, "dpkg/root/var/lib/dpkg/info");
    assert_same_files(ours_info, dpkg_info, info_ignore);

    /* Lock and Unincorp are dpkg's own; nothing was activated by an unpack. */
    _cleanup_free_ char *unincorp = read_in(f, "dpkg/root/var/lib/dpkg/triggers/Unincorp");
    assert_string_equal(unincorp, "");
    char *trig_ignore[] = { (char *)"Lock", (char *)"Unincorp", NULL };
    _cleanup_free_ char *ours_trig = path_in(f, "ours/db/triggers");
    _cleanup_free_ char *dpkg_trig = path_in(f, "dpkg/root/var/lib/dpkg/triggers");
    assert_same_files(ours_trig, dpkg_trig, trig_ignore);

    _cleanup_free_ char *ours_status = read_in(f, "ours/db/status");
    _cleanup_free_ char *dpkg_status = read_in(f, "dpkg/root/var/lib/dpkg/status");
    _cleanup_strv_free_ char **ours_fields = status_fields(ours_status);
    _cleanup_strv_free_ char **dpkg_fields = status_fields(dpkg_status);
    _cleanup_free_ char *ours_joined = join(ours_fields, "\n");
    _cleanup_free_ char *dpkg_joined = join(dpkg_fields, "\n");
    assert_string_equal(ours_joined, dpkg_joined);

    /* dpkg leaves only the .dpkg-new (we have the conffile too: --configure moves it over). */
    assert_false(exists_in(f, "dpkg/root/etc/demo/demo.conf"));
    _cleanup_free_ char *ours_etc = path_in(f, "ours/root/etc/demo");
    _cleanup_free_ char *dpkg_etc = path_in(f, "dpkg/root/etc/demo");
    char *etc_ignore[] = { (char *)"demo.conf", NULL };
    assert_same_files(ours_etc, dpkg_etc, etc_ignore);
    /* And the same file list as the files on disk. */
    _cleanup_free_ char *ours_tool = path_in(f, "ours/root/usr/share/tool");
    _cleanup_free_ char *dpkg_tool = path_in(f, "dpkg/root/usr/share/tool");
    char *tool_ignore[] = { (char *)"sub", NULL };
    assert_same_files(ours_tool, dpkg_tool, tool_ignore);
}

/* ---- names and the failure contract ---- */

static struct build_deb_meta meta_of(const char *control, const char *conffiles,
                                     const char *triggers)
{
    struct build_deb_meta m = { .members = xcalloc(3, sizeof(struct build_deb_member)) };
    const char *names[] = { "control", "conffiles", "triggers" };
    const char *texts[] = { control, conffiles, triggers };

    for (size_t i = 0; i < 3; i++)
        if (texts[i])
            m.members[m.n_members++] = (struct build_deb_member){
                .name = xstrdup(names[i]),
                .mode = 0644,
                .data = xstrdup(texts[i]),
                .size = strlen(texts[i]),
            };
    m.list = xstrdup("/.\n");
    m.list_len = 3;
    return m;
}

/* The link at dir/rel, or "" if it is not one. */
static const char *link_at(const char *dir, const char *rel, char buf[static 256])
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
    ssize_t n = readlink(path, buf, 255);

    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static bool exists_at(const char *dir, const char *rel)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, rel);
    struct stat st;

    return lstat(path, &st) == 0;
}

static void merge_usr__merges_directories_both_have_as_debootstrap(void **state)
{
    (void)state;
    char dir[] = "/tmp/rs-usrmerge-XXXXXX", buf[256];
    struct rs_err err = RS_ERR_INIT;
    _cleanup_close_ int fd = -1;

    assert_non_null(mkdtemp(dir));
    put(dir, "lib/udev/rules.d/a.rules", "a", 0644);
    put(dir, "usr/lib/udev/rules.d/b.rules", "b", 0644);
    put(dir, "lib/only/x", "x", 0644);
    put(dir, "bin/sh", "sh", 0755);
    put(dir, "usr/bin/bash", "bash", 0755);
    put(dir, "usr/share/doc/f", "f", 0644);
    _cleanup_free_ char *link = xasprintf("%s/lib/udev/up", dir);
    assert_int_equal(symlink("../only/x", link), 0); /* stays in /lib: fine */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(build_merge_usr(fd, "bookworm", BUILD_VARIANT_MINBASE, &err), 0);
    assert_string_equal(link_at(dir, "lib", buf), "usr/lib");
    assert_string_equal(link_at(dir, "bin", buf), "usr/bin");
    static const char *const there[] = { "usr/lib/udev/rules.d/a.rules",
                                         "usr/lib/udev/rules.d/b.rules", "usr/lib/only/x",
                                         "usr/bin/sh", "usr/bin/bash" };
    for (size_t i = 0; i < ELEMENTSOF(there); i++)
        if (!exists_at(dir, there[i]))
            fail_msg("'%s' is missing after the merge", there[i]);
    assert_string_equal(link_at(dir, "usr/lib/udev/up", buf), "../only/x");
    assert_false(exists_at(dir, "etc/unsupported-skip-usrmerge-conversion"));
    /* Merged already: nothing more to do. */
    assert_int_equal(build_merge_usr(fd, "bookworm", BUILD_VARIANT_MINBASE, &err), 0);
    fd = safe_close(fd);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, dir), 0);
}

static void merge_usr__refuses_what_cannot_merge_and_keeps_old_buildd_roots(void **state)
{
    (void)state;
    struct rs_err err = RS_ERR_INIT;
    static const struct {
        const char *file, *want;
    } cases[] = {
        { "lib/udev/same", "cannot merge '/lib/udev/same' into /usr: '/usr/lib/udev/same' exists" },
        { NULL, "cannot merge '/lib/bad' into /usr: its relative link '../usr/share/doc' would "
                "point elsewhere" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        char dir[] = "/tmp/rs-usrmerge-XXXXXX";
        assert_non_null(mkdtemp(dir));
        put(dir, "usr/lib/udev/same", "usr", 0644);
        put(dir, "lib/udev/keep", "k", 0644);
        if (cases[i].file) {
            put(dir, cases[i].file, "lib", 0644);
        } else {
            _cleanup_free_ char *link = xasprintf("%s/lib/bad", dir);
            assert_int_equal(symlink("../usr/share/doc", link), 0);
        }
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(build_merge_usr(fd, "trixie", BUILD_VARIANT_MINBASE, &err) < 0);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("got '%s', want '%s'", err.msg, cases[i].want);
        rs_err_release(&err);
        close(fd);
        assert_int_equal(rs_rm_rf_at(AT_FDCWD, dir), 0);
    }

    char dir[] = "/tmp/rs-usrmerge-XXXXXX", buf[256];
    assert_non_null(mkdtemp(dir));
    put(dir, "bin/sh", "sh", 0755);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(build_merge_usr(fd, "bookworm", BUILD_VARIANT_BUILDD, &err), 0);
    close(fd);
    assert_string_equal(link_at(dir, "bin", buf), "");
    assert_true(exists_at(dir, "bin/sh"));
    assert_true(exists_at(dir, "etc/unsupported-skip-usrmerge-conversion"));
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, dir), 0);
}

static void dpkgdb__info_name_has_the_arch_only_for_multi_arch_same(void **state)
{
    (void)state;
    struct build_pkg p = { .name = (char *)"libz1" };
    struct build_deb_meta same =
        meta_of("Package: libz1\nArchitecture: arm64\nMulti-Arch: same\n", NULL, NULL);
    struct build_deb_meta foreign =
        meta_of("Package: libz1\nArchitecture: arm64\nMulti-Arch: foreign\n", NULL, NULL);
    struct build_deb_meta none = meta_of("Package: libz1\nArchitecture: all\n", NULL, NULL);
    _cleanup_free_ char *a = build_dpkg_info_name(&p, &same);
    _cleanup_free_ char *b = build_dpkg_info_name(&p, &foreign);
    _cleanup_free_ char *c = build_dpkg_info_name(&p, &none);

    assert_string_equal(a, "libz1:arm64");
    assert_string_equal(b, "libz1");
    assert_string_equal(c, "libz1");
    build_deb_meta_release(&same);
    build_deb_meta_release(&foreign);
    build_deb_meta_release(&none);
}

/* Stage one hand-made package into a fresh root; returns build_dpkg_stage's result. */
static int stage_alone(struct build_deb_meta *m, struct rs_err *err)
{
    char tmpl[] = "/tmp/rs-test-build-root-XXXXXX";
    struct build_pkg p = { .name = (char *)"ghost", .version = (char *)"1" };
    struct build_pkg_list l = { .pkgs = &p, .n_pkgs = 1 };
    int r;

    assert_non_null(mkdtemp(tmpl));
    _cleanup_close_ int fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    r = build_dpkg_stage(fd, fd, &l, m, err);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, tmpl), 0);
    return r;
}

static void dpkgdb__bad_records_fail_naming_the_package(void **state)
{
    (void)state;
    struct rs_err err = RS_ERR_INIT;
    struct build_deb_meta m = { 0 };

    /* No control area. */
    assert_int_equal(stage_alone(&m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'ghost'"));
    rs_err_release(&err);

    /* A conffile the data.tar did not have. */
    m = meta_of("Package: ghost\nVersion: 1\n", "/etc/ghost.conf\n", NULL);
    assert_true(stage_alone(&m, &err) < 0);
    assert_non_null(strstr(err.msg, "'/etc/ghost.conf'"));
    assert_non_null(strstr(err.msg, "'ghost'"));
    rs_err_release(&err);
    build_deb_meta_release(&m);

    /* A trigger name that is neither a path nor a plain name. */
    m = meta_of("Package: ghost\nVersion: 1\n", NULL, "interest-noawait not/a/path\n");
    assert_int_equal(stage_alone(&m, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "not/a/path"));
    rs_err_release(&err);
    build_deb_meta_release(&m);
}

static void unpack__a_file_that_is_no_deb_is_refused(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/rs-test-build-root-XXXXXX";
    struct rs_err err = RS_ERR_INIT;
    struct build_deb_meta meta = { .list_len = 42 };
    int fds[2];

    assert_non_null(mkdtemp(tmpl));
    _cleanup_close_ int root_fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    assert_int_equal(write(fds[1], "!<arch>\nnot really\n", 19), 19);
    close(fds[1]);
    assert_int_equal(build_deb_extract_data(fds[0], root_fd, "junk", &meta, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "bad package 'junk'"));
    assert_int_equal(meta.list_len, 42);
    assert_null(meta.members);
    close(fds[0]);
    rs_err_release(&err);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, tmpl), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(dpkgdb__records_are_what_dpkg_unpack_writes, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(dpkgdb__records_equal_dpkgs_own, fx_setup, fx_teardown),
        cmocka_unit_test(dpkgdb__info_name_has_the_arch_only_for_multi_arch_same),
        cmocka_unit_test(merge_usr__merges_directories_both_have_as_debootstrap),
        cmocka_unit_test(merge_usr__refuses_what_cannot_merge_and_keeps_old_buildd_roots),
        cmocka_unit_test(dpkgdb__bad_records_fail_naming_the_package),
        cmocka_unit_test(unpack__a_file_that_is_no_deb_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
