/* Behaviour of image/oci: safe extraction, reproducible layer tars, archive checks. Malicious
 * tars are built here with libarchive's writer. */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "image/oci-internal.h"
#include "image/oci.h"

/* ---- fixtures ---- */

struct tmp {
    char path[64];
    int fd;
};

static void tmp_new(struct tmp *t)
{
    snprintf(t->path, sizeof(t->path), "/tmp/rs-test-oci.XXXXXX");
    assert_non_null(mkdtemp(t->path));
    t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(t->fd >= 0);
}

static void tmp_free(struct tmp *t)
{
    safe_close(t->fd);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, t->path), 0);
}

static bool is_root(void)
{
    return geteuid() == 0;
}

/* Flags that work unprivileged too: no chown, opaque marker as a user xattr. */
static unsigned base_flags(void)
{
    return is_root() ? 0 : (OCI_EXTRACT_NO_CHOWN | OCI_EXTRACT_USER_XATTR);
}

struct spec {
    char type; /* f file, d dir, l symlink, h hardlink, c/b device, p fifo */
    const char *path;
    const char *arg; /* file content, link target */
    unsigned mode;
    int64_t size; /* when > 0: declared size for files (content repeats arg) */
};

struct membuf {
    char *buf;
    size_t len, alloc;
};

static la_ssize_t mem_write(struct archive *a, void *ud, const void *buf, size_t len)
{
    struct membuf *m = ud;
    (void)a;
    if (m->len + len > m->alloc) {
        m->alloc = (m->len + len) * 2;
        m->buf = xrealloc(m->buf, m->alloc);
    }
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return (la_ssize_t)len;
}

static void build_tar(const struct spec *specs, size_t n, struct membuf *out)
{
    struct archive *a = archive_write_new();
    *out = (struct membuf){ 0 };
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
    assert_int_equal(archive_write_open(a, out, NULL, mem_write, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const struct spec *s = &specs[i];
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, s->path);
        archive_entry_set_mtime(e, 1000000 + (int64_t)i, 0);
        archive_entry_set_uid(e, is_root() ? 1234 : geteuid());
        archive_entry_set_gid(e, is_root() ? 5678 : getegid());
        unsigned mode = s->mode ? s->mode : 0644;
        switch (s->type) {
        case 'f':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_size(e, s->size > 0 ? s->size : (int64_t)strlen(s->arg));
            break;
        case 'd':
            archive_entry_set_filetype(e, AE_IFDIR);
            mode = s->mode ? s->mode : 0755;
            break;
        case 'l':
            archive_entry_set_filetype(e, AE_IFLNK);
            archive_entry_set_symlink(e, s->arg);
            mode = 0777;
            break;
        case 'h':
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, s->arg);
            break;
        case 'c':
        case 'b':
            archive_entry_set_filetype(e, s->type == 'c' ? AE_IFCHR : AE_IFBLK);
            archive_entry_set_rdevmajor(e, 1);
            archive_entry_set_rdevminor(e, 3);
            break;
        case 'p':
            archive_entry_set_filetype(e, AE_IFIFO);
            break;
        default:
            fail();
        }
        archive_entry_set_perm(e, mode);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (s->type == 'f') {
            int64_t left = s->size > 0 ? s->size : (int64_t)strlen(s->arg);
            size_t al = strlen(s->arg);
            while (left > 0) {
                size_t k = (size_t)left < al ? (size_t)left : al;
                assert_true(archive_write_data(a, s->arg, k) == (la_ssize_t)k);
                left -= (int64_t)k;
            }
        }
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* Extract a memory tar into root with flags; returns the result, err filled on failure. */
static int extract_mem(const void *buf, size_t len, int root_fd,
                       const struct oci_extract_options *o, struct rs_err *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
    int r = oci_tar_extract(a, root_fd, o, NULL, err);
    archive_read_free(a);
    return r;
}

static int extract_specs(const struct spec *specs, size_t n, int root_fd, unsigned flags,
                         struct rs_err *err)
{
    struct membuf m;
    struct oci_extract_options o = { .flags = flags | base_flags() };
    build_tar(specs, n, &m);
    int r = extract_mem(m.buf, m.len, root_fd, &o, err);
    free(m.buf);
    return r;
}

static bool dir_is_empty(const char *path)
{
    _cleanup_closedir_ DIR *d = opendir(path);
    struct dirent *de;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return false;
    return true;
}

static void assert_refused(int r, struct rs_err *err, int code, const char *needle)
{
    if (r >= 0)
        fail_msg("accepted; expected -%d mentioning '%s'", code, needle);
    assert_non_null(err->msg);
    if (r != -code || !strstr(err->msg, needle))
        fail_msg("got %d '%s'; expected -%d mentioning '%s'", r, err->msg, code, needle);
    rs_err_release(err);
}

/* ---- extractor: refusals ---- */

static void extract__dotdot_is_refused_and_nothing_escapes(void **state)
{
    (void)state;
    struct tmp t, outside;
    tmp_new(&t);
    tmp_new(&outside);
    struct rs_err err = RS_ERR_INIT;
    _cleanup_free_ char *evil = xasprintf("../%s/pwned", strrchr(outside.path, '/') + 1);
    struct spec s[] = { { 'f', "ok", "x", 0, 0 }, { 'f', evil, "boom", 0, 0 } };
    assert_refused(extract_specs(s, 2, t.fd, 0, &err), &err, EINVAL, "'..'");
    assert_true(dir_is_empty(outside.path));
    tmp_free(&outside);
    tmp_free(&t);
}

static void extract__absolute_path_is_refused(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'f', "/etc/rs-test-absolute", "boom", 0, 0 } };
    assert_refused(extract_specs(s, 1, t.fd, 0, &err), &err, EINVAL, "absolute");
    assert_int_equal(access("/etc/rs-test-absolute", F_OK), -1);
    assert_true(dir_is_empty(t.path));
    tmp_free(&t);
}

static void extract__write_through_a_symlink_is_refused(void **state)
{
    (void)state;
    struct tmp t, outside;
    tmp_new(&t);
    tmp_new(&outside);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'l', "evil", outside.path, 0, 0 }, { 'f', "evil/pwned", "boom", 0, 0 } };
    assert_refused(extract_specs(s, 2, t.fd, 0, &err), &err, ELOOP, "symlink 'evil'");
    assert_true(dir_is_empty(outside.path));

    /* Following symlinks resolves inside the root: the host directory is never reached. */
    struct tmp t2;
    tmp_new(&t2);
    int r = extract_specs(s, 2, t2.fd, OCI_EXTRACT_FOLLOW_SYMLINKS, &err);
    assert_true(r < 0);
    rs_err_release(&err);
    assert_true(dir_is_empty(outside.path));

    struct spec rel[] = { { 'l', "up", "../../../../..", 0, 0 }, { 'f', "up/tmp/f", "x", 0, 0 } };
    struct tmp t3;
    tmp_new(&t3);
    assert_true(mkdirat(t3.fd, "tmp", 0755) == 0);
    assert_int_equal(extract_specs(rel, 2, t3.fd, OCI_EXTRACT_FOLLOW_SYMLINKS, &err), 0);
    assert_int_equal(faccessat(t3.fd, "tmp/f", F_OK, 0), 0); /* landed in the root's /tmp */
    tmp_free(&t3);
    tmp_free(&t2);
    tmp_free(&outside);
    tmp_free(&t);
}

static void extract__hard_links_must_stay_inside(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec up[] = { { 'h', "passwd", "../../etc/passwd", 0, 0 } };
    assert_refused(extract_specs(up, 1, t.fd, 0, &err), &err, EINVAL, "leaves the root");
    struct spec abs[] = { { 'h', "passwd", "/etc/passwd", 0, 0 } };
    assert_refused(extract_specs(abs, 1, t.fd, 0, &err), &err, ENOENT, "does not exist");
    struct spec via[] = { { 'l', "etc", "/etc", 0, 0 }, { 'h', "passwd", "etc/passwd", 0, 0 } };
    assert_refused(extract_specs(via, 2, t.fd, 0, &err), &err, ELOOP, "symlink 'etc'");
    assert_int_equal(faccessat(t.fd, "passwd", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    tmp_free(&t);

    tmp_new(&t);
    struct spec good[] = { { 'f', "a", "data", 0, 0 }, { 'h', "b", "a", 0, 0 } };
    assert_int_equal(extract_specs(good, 2, t.fd, 0, &err), 0);
    struct stat sa, sb;
    assert_int_equal(fstatat(t.fd, "a", &sa, 0), 0);
    assert_int_equal(fstatat(t.fd, "b", &sb, 0), 0);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_int_equal(sa.st_nlink, 2);
    tmp_free(&t);
}

static void extract__duplicates_are_refused_on_request(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'f', "a", "one", 0, 0 }, { 'f', "./a", "two", 0, 0 } };
    assert_refused(extract_specs(s, 2, t.fd, OCI_EXTRACT_REFUSE_DUPLICATES, &err), &err, EEXIST,
                   "twice");
    tmp_free(&t);
    tmp_new(&t);
    assert_int_equal(extract_specs(s, 2, t.fd, 0, &err), 0); /* later entry wins, like tar */
    char *data = NULL;
    size_t len;
    assert_int_equal(rs_read_file_at(t.fd, "a", 100, &data, &len, &err), 0);
    assert_string_equal(data, "two");
    free(data);
    assert_refused(extract_specs(s, 2, t.fd, OCI_EXTRACT_NO_OVERWRITE, &err), &err, EEXIST,
                   "already exists");
    tmp_free(&t);
}

static void extract__devices_need_permission(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec c[] = { { 'c', "dev/null", NULL, 0666, 0 } };
    struct spec b[] = { { 'b', "sda", NULL, 0660, 0 } };
    assert_refused(extract_specs(c, 1, t.fd, 0, &err), &err, EPERM, "device");
    assert_refused(extract_specs(b, 1, t.fd, 0, &err), &err, EPERM, "device");
    struct spec p[] = { { 'p', "fifo", NULL, 0600, 0 } };
    assert_int_equal(extract_specs(p, 1, t.fd, 0, &err), 0);
    if (is_root()) {
        assert_int_equal(extract_specs(c, 1, t.fd, OCI_EXTRACT_ALLOW_DEVICES, &err), 0);
        struct stat st;
        assert_int_equal(fstatat(t.fd, "dev/null", &st, AT_SYMLINK_NOFOLLOW), 0);
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(1, 3));
        assert_int_equal(st.st_mode & 07777, 0666);
    }
    tmp_free(&t);
}

static void extract__bomb_limits_bytes_entries_and_path_length(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct membuf m;
    struct spec big[] = { { 'f', "a", "0123456789abcdef", 0, 1 << 20 },
                          { 'f', "b", "0123456789abcdef", 0, 1 << 20 } };
    build_tar(big, 2, &m);
    struct oci_extract_options o = { .flags = base_flags(), .max_bytes = (1 << 20) + 100 };
    assert_refused(extract_mem(m.buf, m.len, t.fd, &o, &err), &err, EFBIG, "limit");
    free(m.buf);

    struct spec many[] = { { 'f', "1", "x", 0, 0 },
                           { 'f', "2", "x", 0, 0 },
                           { 'f', "3", "x", 0, 0 } };
    build_tar(many, 3, &m);
    o = (struct oci_extract_options){ .flags = base_flags(), .max_entries = 2 };
    assert_refused(extract_mem(m.buf, m.len, t.fd, &o, &err), &err, EFBIG, "more than 2 entries");
    free(m.buf);

    struct spec deep[] = { { 'f', "aaaaaaaaaa/bbbbbbbbbb/cccccccccc/dddddddddd", "x", 0, 0 } };
    build_tar(deep, 1, &m);
    o = (struct oci_extract_options){ .flags = base_flags(), .max_path_len = 20 };
    assert_refused(extract_mem(m.buf, m.len, t.fd, &o, &err), &err, ENAMETOOLONG, "longer than");
    free(m.buf);
    tmp_free(&t);
}

static void extract__truncated_archive_is_refused(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct membuf m;
    struct spec s[] = { { 'f', "a", "0123456789abcdef", 0, 100000 } };
    build_tar(s, 1, &m);
    struct oci_extract_options o = { .flags = base_flags() };
    assert_refused(extract_mem(m.buf, 50000, t.fd, &o, &err), &err, EBADMSG, "runcated");
    free(m.buf);
    tmp_free(&t);
}

static void extract__directory_entry_keeps_a_dir_symlink_on_request(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec base[] = { { 'd', "usr", NULL, 0, 0 },
                           { 'd', "usr/bin", NULL, 0, 0 },
                           { 'l', "bin", "usr/bin", 0, 0 } };
    assert_int_equal(extract_specs(base, 3, t.fd, 0, &err), 0);
    struct spec later[] = { { 'd', "./bin/", NULL, 0, 0 }, { 'f', "./bin/sh", "#!", 0755, 0 } };
    assert_int_equal(extract_specs(later, 2, t.fd,
                                   OCI_EXTRACT_KEEP_DIR_SYMLINKS | OCI_EXTRACT_FOLLOW_SYMLINKS |
                                       OCI_EXTRACT_NO_OVERWRITE,
                                   &err),
                     0);
    struct stat st;
    assert_int_equal(fstatat(t.fd, "bin", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(fstatat(t.fd, "usr/bin/sh", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISREG(st.st_mode));
    /* Without the option a .deb-style unpack (no overwrite) refuses instead. */
    assert_refused(extract_specs(later, 2, t.fd, OCI_EXTRACT_NO_OVERWRITE, &err), &err, EEXIST,
                   "symlink");
    tmp_free(&t);
}

static void extract__keeps_modes_mtimes_and_owner(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'd', "d", NULL, 0750, 0 },
                        { 'f', "d/suid", "x", 04755, 0 },
                        { 'f', "d/other", "y", 0600, 0 } };
    assert_int_equal(extract_specs(s, 3, t.fd, 0, &err), 0);
    struct stat st;
    assert_int_equal(fstatat(t.fd, "d", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(st.st_mtim.tv_sec, 1000000); /* not bumped by its children */
    assert_int_equal(fstatat(t.fd, "d/suid", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_mtim.tv_sec, 1000001);
    if (is_root()) {
        assert_int_equal(st.st_uid, 1234);
        assert_int_equal(st.st_gid, 5678);
    }
    tmp_free(&t);
}

static void extract__existing_directory_merges_and_takes_the_entry_metadata(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(mkdirat(t.fd, "d", 0700), 0);
    assert_int_equal(mkdirat(t.fd, "d/sub", 0700), 0);
    struct spec s[] = { { 'd', "./d/", NULL, 0755, 0 },
                        { 'd', "./d/sub/", NULL, 0750, 0 },
                        { 'f', "./d/sub/new", "x", 0644, 0 } };
    assert_int_equal(extract_specs(s, 3, t.fd, OCI_EXTRACT_NO_OVERWRITE | base_flags(), &err), 0);
    assert_null(err.msg);
    struct stat st;
    assert_int_equal(fstatat(t.fd, "d", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(fstatat(t.fd, "d/sub", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_mode & 07777, 0750);
    assert_int_equal(fstatat(t.fd, "d/sub/new", &st, AT_SYMLINK_NOFOLLOW), 0);
    tmp_free(&t);
}

struct racer {
    const struct membuf *tar;
    int root_fd;
    int r;
};

static void *racer_main(void *data)
{
    struct racer *rc = data;
    struct rs_err err = RS_ERR_INIT;
    struct oci_extract_options o = { .flags = base_flags() };
    rc->r = extract_mem(rc->tar->buf, rc->tar->len, rc->root_fd, &o, &err);
    rs_err_release(&err);
    return NULL;
}

/* Two extractors creating the same directories at once (mkroot's parallel unpack): the
 * loser of a mkdir race merges instead of failing with EEXIST. */
static void extract__concurrent_extractors_share_directories(void **state)
{
    (void)state;
    struct spec s[64];
    char names[64][32];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        snprintf(names[n], sizeof(names[n]), "share/l%02d/", i);
        s[n] = (struct spec){ 'd', names[n], NULL, 0755, 0 };
        n++;
        snprintf(names[n], sizeof(names[n]), "share/l%02d/LC/", i);
        s[n] = (struct spec){ 'd', names[n], NULL, 0755, 0 };
        n++;
    }
    struct membuf a = { 0 }, b = { 0 };
    build_tar(s, n, &a);
    build_tar(s, n, &b);
    for (int round = 0; round < 50; round++) {
        struct tmp t;
        tmp_new(&t);
        struct racer ra = { .tar = &a, .root_fd = t.fd }, rb = { .tar = &b, .root_fd = t.fd };
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, racer_main, &ra), 0);
        racer_main(&rb);
        pthread_join(th, NULL);
        assert_int_equal(ra.r, 0);
        assert_int_equal(rb.r, 0);
        tmp_free(&t);
    }
    free(a.buf);
    free(b.buf);
}

/* ---- writer ---- */

static void make_tree(int fd)
{
    assert_int_equal(mkdirat(fd, "etc", 0755), 0);
    assert_int_equal(mkdirat(fd, "usr", 0755), 0);
    assert_int_equal(mkdirat(fd, "usr/bin", 0755), 0);
    assert_int_equal(rs_write_file_atomic_at(fd, "etc/hostname", "box\n", 4, 0644, 0, NULL), 0);
    assert_int_equal(rs_write_file_atomic_at(fd, "usr/bin/ping", "ELF", 3, 04755, 0, NULL), 0);
    assert_int_equal(fchmodat(fd, "usr/bin/ping", 04755, 0), 0);
    assert_int_equal(linkat(fd, "usr/bin/ping", fd, "usr/bin/ping6", 0), 0);
    assert_int_equal(symlinkat("usr/bin", fd, "bin"), 0);
    char big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7 % 251);
    assert_int_equal(rs_write_file_atomic_at(fd, "usr/big", big, sizeof(big), 0644, 0, NULL), 0);
    int f = openat(fd, "usr/bin/ping", O_RDONLY | O_CLOEXEC);
    assert_true(f >= 0);
    if (is_root()) {
        /* v2 capability cap_net_raw+ep */
        static const unsigned char cap[20] = { 0x01, 0, 0, 0x02, 0x00, 0x20, 0, 0, 0, 0,
                                               0,    0, 0, 0,    0,    0,    0, 0, 0, 0 };
        assert_int_equal(fsetxattr(f, "security.capability", cap, sizeof(cap), 0), 0);
    }
    (void)fsetxattr(f, "user.rs.test", "v", 1, 0);
    close(f);
    /* a whiteout and an opaque directory, as overlay leaves them in an upper dir */
    assert_int_equal(mknodat(fd, "etc/motd", S_IFCHR | 0, makedev(0, 0)), 0);
    assert_int_equal(mkdirat(fd, "opt", 0755), 0);
    f = openat(fd, "opt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(
        fsetxattr(f, is_root() ? "trusted.overlay.opaque" : "user.overlay.opaque", "y", 1, 0), 0);
    close(f);
    assert_int_equal(rs_write_file_atomic_at(fd, "opt/new", "n", 1, 0644, 0, NULL), 0);
}

static void write_layer_file(int tree_fd, const char *out, enum oci_compression c,
                             struct oci_layer_result *res)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    struct oci_layer_write_options o = { .compression = c, .clamp_mtime = 1700000000 };
    struct rs_err err = RS_ERR_INIT;
    int r = oci_layer_write(tree_fd, fd, &o, res, &err);
    if (r < 0)
        fail_msg("oci_layer_write: %s", err.msg);
    close(fd);
}

static void writer__same_tree_gives_identical_bytes_and_true_hashes(void **state)
{
    (void)state;
    struct tmp a, b, out;
    tmp_new(&a);
    tmp_new(&b);
    tmp_new(&out);
    make_tree(a.fd);
    make_tree(b.fd); /* another directory, other inodes, other times */
    struct oci_layer_result ra, rb;
    _cleanup_free_ char *fa = xasprintf("%s/a.tar.zst", out.path);
    _cleanup_free_ char *fb = xasprintf("%s/b.tar.zst", out.path);
    write_layer_file(a.fd, fa, OCI_COMPRESS_ZSTD, &ra);
    write_layer_file(b.fd, fb, OCI_COMPRESS_ZSTD, &rb);
    assert_string_equal(ra.digest, rb.digest);
    assert_string_equal(ra.diff_id, rb.diff_id);
    assert_int_equal(ra.size, rb.size);

    char *da = NULL, *db = NULL;
    size_t la, lb;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(rs_read_file_at(AT_FDCWD, fa, 1 << 24, &da, &la, &err), 0);
    assert_int_equal(rs_read_file_at(AT_FDCWD, fb, 1 << 24, &db, &lb, &err), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    char hex[RS_SHA256_HEX_LEN + 1];
    rs_sha256_buf(da, la, hex);
    assert_string_equal(hex, ra.digest);
    assert_int_equal(la, ra.size);
    unsigned long long raw = ZSTD_getFrameContentSize(da, la);
    size_t cap = raw == ZSTD_CONTENTSIZE_UNKNOWN ? (size_t)ra.tar_size : (size_t)raw;
    char *tar = xmalloc(cap);
    size_t tl = ZSTD_decompress(tar, cap, da, la);
    assert_false(ZSTD_isError(tl));
    assert_int_equal(tl, ra.tar_size);
    rs_sha256_buf(tar, tl, hex);
    assert_string_equal(hex, ra.diff_id);
    /* The stream ends with exactly the two zero blocks: no padding to a record size. */
    assert_true(tl % 512 == 0);

    /* The same tree read with libarchive: sorted, numeric, whiteouts, hard link, xattrs. */
    struct archive *rd = archive_read_new();
    archive_read_support_format_tar(rd);
    assert_int_equal(archive_read_open_memory(rd, tar, tl), ARCHIVE_OK);
    static const char *const want[] = { "bin",          "etc/",         "etc/.wh.motd",
                                        "etc/hostname", "opt/",         "opt/.wh..wh..opq",
                                        "opt/new",      "usr/",         "usr/big",
                                        "usr/bin/",     "usr/bin/ping", "usr/bin/ping6" };
    struct archive_entry *e;
    size_t i = 0;
    while (archive_read_next_header(rd, &e) == ARCHIVE_OK) {
        assert_true(i < ELEMENTSOF(want));
        const char *p = archive_entry_pathname(e);
        if (strcmp(p, want[i]) != 0 &&
            !(strncmp(p, want[i], strlen(p)) == 0 && strlen(want[i]) == strlen(p) + 1))
            fail_msg("entry %zu is '%s', want '%s'", i, p, want[i]);
        assert_true(archive_entry_mtime(e) <= 1700000000);
        assert_true(!archive_entry_uname(e) || !*archive_entry_uname(e));
        if (strcmp(p, "usr/bin/ping6") == 0)
            assert_string_equal(archive_entry_hardlink(e), "usr/bin/ping");
        if (strcmp(p, "usr/bin/ping") == 0) {
            assert_int_equal(archive_entry_perm(e), 04755);
            if (is_root()) {
                const char *name;
                const void *v;
                size_t vs;
                bool has_cap = false;
                archive_entry_xattr_reset(e);
                while (archive_entry_xattr_next(e, &name, &v, &vs) == ARCHIVE_OK)
                    has_cap |= strcmp(name, "security.capability") == 0 && vs == 20;
                assert_true(has_cap);
            }
        }
        i++;
    }
    assert_int_equal(i, ELEMENTSOF(want));
    archive_read_free(rd);
    /* No LIBARCHIVE.xattr records (GNU tar warns about them). */
    assert_null(memmem(tar, tl, "LIBARCHIVE.", 11));
    free(tar);
    free(da);
    free(db);
    tmp_free(&out);
    tmp_free(&b);
    tmp_free(&a);
}

static void writer__whiteouts_round_trip_through_the_extractor(void **state)
{
    (void)state;
    struct tmp a, b, out;
    tmp_new(&a);
    tmp_new(&b);
    tmp_new(&out);
    make_tree(a.fd);
    struct oci_layer_result r1, r2;
    _cleanup_free_ char *f1 = xasprintf("%s/1.tar.gz", out.path);
    _cleanup_free_ char *f2 = xasprintf("%s/2.tar.gz", out.path);
    write_layer_file(a.fd, f1, OCI_COMPRESS_GZIP, &r1);

    struct archive *rd = archive_read_new();
    archive_read_support_filter_all(rd);
    archive_read_support_format_tar(rd);
    assert_int_equal(archive_read_open_filename(rd, f1, 65536), ARCHIVE_OK);
    struct rs_err err = RS_ERR_INIT;
    struct oci_extract_options o = { .flags = OCI_EXTRACT_LAYER_FLAGS | base_flags() };
    int r = oci_tar_extract(rd, b.fd, &o, NULL, &err);
    if (r < 0)
        fail_msg("extract: %s", err.msg);
    archive_read_free(rd);

    struct stat st;
    assert_int_equal(fstatat(b.fd, "etc/motd", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    char v[4];
    int fd = openat(b.fd, "opt", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(
        fgetxattr(fd, is_root() ? "trusted.overlay.opaque" : "user.overlay.opaque", v, sizeof(v)),
        1);
    close(fd);
    assert_int_equal(fstatat(b.fd, "usr/bin/ping6", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(st.st_nlink, 2);
    /* Written back, the extracted tree gives the same layer. */
    write_layer_file(b.fd, f2, OCI_COMPRESS_GZIP, &r2);
    assert_string_equal(r1.diff_id, r2.diff_id);
    assert_string_equal(r1.digest, r2.digest);
    tmp_free(&out);
    tmp_free(&b);
    tmp_free(&a);
}

static void extract__overlay_xattrs_from_the_archive_are_dropped(void **state)
{
    (void)state;
    struct membuf m = { 0 };
    struct archive *a = archive_write_new();
    archive_write_set_format_pax(a);
    archive_write_open(a, &m, NULL, mem_write, NULL);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "d");
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    archive_entry_xattr_add_entry(e, "trusted.overlay.redirect", "/etc", 4);
    archive_entry_xattr_add_entry(e, "user.overlay.opaque", "y", 1);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct oci_extract_options o = { .flags = base_flags() };
    assert_int_equal(extract_mem(m.buf, m.len, t.fd, &o, &err), 0);
    int fd = openat(t.fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char v[8];
    assert_true(fgetxattr(fd, "user.overlay.opaque", v, sizeof(v)) < 0);
    assert_true(fgetxattr(fd, "trusted.overlay.redirect", v, sizeof(v)) < 0);
    close(fd);
    free(m.buf);
    tmp_free(&t);
}

/* ---- extractor: the cached parent directories ---- */

/* The extractor keeps the parent's path components open between entries: a symlink the archive
 * itself creates next to a cached directory must still stop the entries below it. */
static void extract__cached_parents_never_lead_through_a_new_symlink(void **state)
{
    (void)state;
    struct tmp t, outside;
    tmp_new(&t);
    tmp_new(&outside);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'd', "a/", NULL, 0755, 0 },         { 'd', "a/b/", NULL, 0755, 0 },
                        { 'f', "a/b/x", "x", 0644, 0 },       { 'l', "a/b/l", outside.path, 0, 0 },
                        { 'l', "a/c", outside.path, 0, 0 },   { 'f', "a/b/y", "y", 0644, 0 },
                        { 'f', "a/c/pwned", "boom", 0644, 0 } };
    assert_refused(extract_specs(s, ELEMENTSOF(s), t.fd, 0, &err), &err, ELOOP, "symlink 'a/c'");
    struct spec s2[] = { { 'd', "a/", NULL, 0755, 0 },
                         { 'd', "a/b/", NULL, 0755, 0 },
                         { 'l', "a/b/l", outside.path, 0, 0 },
                         { 'f', "a/b/l/pwned", "boom", 0644, 0 } };
    struct tmp t2;
    tmp_new(&t2);
    assert_refused(extract_specs(s2, ELEMENTSOF(s2), t2.fd, 0, &err), &err, ELOOP,
                   "symlink 'a/b/l'");
    assert_true(dir_is_empty(outside.path));
    tmp_free(&t2);
    tmp_free(&outside);
    tmp_free(&t);
}

/* With symlinks followed, a cached parent reached through a symlink is dropped when the archive
 * replaces that symlink by a directory: later entries land in the new directory. */
static void extract__replaced_symlink_is_not_followed_from_the_cache(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    struct spec s[] = { { 'd', "real/", NULL, 0755, 0 },
                        { 'l', "l", "real", 0, 0 },
                        { 'f', "l/f", "1", 0644, 0 },
                        { 'd', "l/", NULL, 0755, 0 },
                        { 'f', "l/g", "2", 0644, 0 } };
    assert_int_equal(extract_specs(s, ELEMENTSOF(s), t.fd, OCI_EXTRACT_FOLLOW_SYMLINKS, &err), 0);
    struct stat st;
    assert_int_equal(fstatat(t.fd, "l", &st, AT_SYMLINK_NOFOLLOW), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(faccessat(t.fd, "real/f", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(faccessat(t.fd, "l/g", F_OK, AT_SYMLINK_NOFOLLOW), 0);
    assert_int_equal(faccessat(t.fd, "real/g", F_OK, AT_SYMLINK_NOFOLLOW), -1);
    tmp_free(&t);
}

/* Paths deeper than the extractor keeps open, and moves between them and shallow ones. */
static void extract__deep_paths_and_back(void **state)
{
    (void)state;
    struct tmp t;
    tmp_new(&t);
    struct rs_err err = RS_ERR_INIT;
    char deep[400] = "", deep2[420], shallow[] = "d/s";
    size_t len = 0;
    for (int i = 0; i < 90; i++)
        len += (size_t)snprintf(deep + len, sizeof(deep) - len, "%sd", i ? "/" : "");
    snprintf(deep2, sizeof(deep2), "%s/f", deep);
    _cleanup_free_ char *sib = xasprintf("%.*s/e/f", (int)(len - 4), deep);
    struct spec s[] = { { 'f', deep2, "1", 0644, 0 },
                        { 'f', sib, "2", 0644, 0 },
                        { 'f', shallow, "3", 0644, 0 },
                        { 'f', "top", "4", 0644, 0 },
                        { 'f', deep2 + 2, "5", 0644, 0 } };
    assert_int_equal(extract_specs(s, ELEMENTSOF(s), t.fd, 0, &err), 0);
    for (size_t i = 0; i < ELEMENTSOF(s); i++)
        if (faccessat(t.fd, s[i].path, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
            fail_msg("'%s' is missing", s[i].path);
    tmp_free(&t);
}

/* The compressing sink runs on a thread behind a ring of 1 MiB slots: a layer larger than the
 * ring gives the same bytes every time, and its hashes are those of the bytes. */
static void writer__layer_larger_than_the_ring_is_stable(void **state)
{
    (void)state;
    struct tmp a, out;
    tmp_new(&a);
    tmp_new(&out);
    size_t n = (size_t)OCI_SINK_SLOTS * OCI_SINK_SLOT_SIZE + 12345;
    char *big = xmalloc(n);
    uint32_t x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (char)((x >> 16) % 17);
    }
    assert_int_equal(rs_write_file_atomic_at(a.fd, "big", big, n, 0644, 0, NULL), 0);
    free(big);
    for (enum oci_compression c = OCI_COMPRESS_NONE; c < _OCI_COMPRESS_MAX; c++) {
        struct oci_layer_result r1, r2;
        _cleanup_free_ char *f1 = xasprintf("%s/1", out.path), *f2 = xasprintf("%s/2", out.path);
        write_layer_file(a.fd, f1, c, &r1);
        write_layer_file(a.fd, f2, c, &r2);
        assert_string_equal(r1.digest, r2.digest);
        assert_string_equal(r1.diff_id, r2.diff_id);
        assert_true(r1.tar_size > n);
        char *d = NULL;
        size_t dl;
        struct rs_err err = RS_ERR_INIT;
        char hex[RS_SHA256_HEX_LEN + 1];
        assert_int_equal(rs_read_file_at(AT_FDCWD, f1, 1 << 26, &d, &dl, &err), 0);
        assert_int_equal(dl, r1.size);
        rs_sha256_buf(d, dl, hex);
        assert_string_equal(hex, r1.digest);
        if (c == OCI_COMPRESS_NONE) {
            assert_string_equal(r1.diff_id, r1.digest);
            assert_int_equal(r1.tar_size, r1.size);
        }
        free(d);
    }
    tmp_free(&out);
    tmp_free(&a);
}

/* The sink thread's failures reach the caller, and a walk that fails stops the thread: no hang,
 * no leak, nothing half-reported. */
static void writer__failures_stop_the_sink_thread(void **state)
{
    (void)state;
    struct tmp a, out;
    tmp_new(&a);
    tmp_new(&out);
    char *big = xcalloc(3 * OCI_SINK_SLOT_SIZE, 1);
    assert_int_equal(
        rs_write_file_atomic_at(a.fd, "big", big, 3 * OCI_SINK_SLOT_SIZE, 0644, 0, NULL), 0);
    free(big);
    _cleanup_free_ char *f = xasprintf("%s/l", out.path);
    int ro = open(f, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(ro >= 0);
    for (enum oci_compression c = OCI_COMPRESS_NONE; c < _OCI_COMPRESS_MAX; c++) {
        struct oci_layer_write_options o = { .compression = c, .clamp_mtime = -1 };
        struct oci_layer_result res = { .size = 4242 };
        struct rs_err err = RS_ERR_INIT;
        assert_int_equal(oci_layer_write(a.fd, ro, &o, &res, &err), -EBADF);
        assert_non_null(err.msg);
        assert_int_equal(res.size, 4242);
        rs_err_release(&err);
    }
    close(ro);

    /* A redirect xattr deep in the walk: -ENOTSUP after data went to the thread. */
    assert_int_equal(mkdirat(a.fd, "z", 0755), 0);
    int d = openat(a.fd, "z", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(d >= 0);
    int x =
        fsetxattr(d, is_root() ? "trusted.overlay.redirect" : "user.overlay.redirect", "y", 1, 0);
    close(d);
    if (x == 0) {
        int w = open(f, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(w >= 0);
        struct oci_layer_result res;
        struct rs_err err = RS_ERR_INIT;
        assert_refused(oci_layer_write(a.fd, w, NULL, &res, &err), &err, ENOTSUP, "redirect");
        close(w);
    }
    tmp_free(&out);
    tmp_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extract__dotdot_is_refused_and_nothing_escapes),
        cmocka_unit_test(extract__absolute_path_is_refused),
        cmocka_unit_test(extract__write_through_a_symlink_is_refused),
        cmocka_unit_test(extract__hard_links_must_stay_inside),
        cmocka_unit_test(extract__duplicates_are_refused_on_request),
        cmocka_unit_test(extract__devices_need_permission),
        cmocka_unit_test(extract__bomb_limits_bytes_entries_and_path_length),
        cmocka_unit_test(extract__truncated_archive_is_refused),
        cmocka_unit_test(extract__directory_entry_keeps_a_dir_symlink_on_request),
        cmocka_unit_test(extract__keeps_modes_mtimes_and_owner),
        cmocka_unit_test(extract__existing_directory_merges_and_takes_the_entry_metadata),
        cmocka_unit_test(extract__concurrent_extractors_share_directories),
        cmocka_unit_test(extract__overlay_xattrs_from_the_archive_are_dropped),
        cmocka_unit_test(writer__same_tree_gives_identical_bytes_and_true_hashes),
        cmocka_unit_test(writer__whiteouts_round_trip_through_the_extractor),
        cmocka_unit_test(extract__cached_parents_never_lead_through_a_new_symlink),
        cmocka_unit_test(extract__replaced_symlink_is_not_followed_from_the_cache),
        cmocka_unit_test(extract__deep_paths_and_back),
        cmocka_unit_test(writer__layer_larger_than_the_ring_is_stable),
        cmocka_unit_test(writer__failures_stop_the_sink_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
