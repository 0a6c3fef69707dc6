/* Behaviour of common/: sizes, durations, bounded buffers, in-root resolution, errors, hashing. */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/parse.h"
#include "common/path.h"
#include "common/sha256.h"
#include "common/strbuf.h"
#include "common/strv.h"

static void parse_size__accepts_units_fractions_and_plain_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t bytes;
    } cases[] = {
        { "100M", 104857600 },
        { "100m", 104857600 },
        { "100MiB", 104857600 },
        { "100MB", 104857600 },
        { "1.5G", 1610612736 },
        { "512k", 524288 },
        { "104857600", 104857600 },
        { "0", 0 },
        { "1b", 1 },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        uint64_t v = 1234;
        struct rs_err err = RS_ERR_INIT;
        int r = rs_parse_size(cases[i].text, &v, &err);
        if (r != 0)
            fail_msg("'%s': %s", cases[i].text, err.msg);
        assert_int_equal(v, cases[i].bytes);
        assert_null(err.msg);
    }
}

static void parse_size__rejects_bad_text_naming_it(void **state)
{
    (void)state;
    static const char *const bad[] = { "100X", "-1M", "1e400G",   "99999999999999999999G",
                                       "",     "M",   "1.M",      " 1M",
                                       "1M ",  "+5",  "0x10",     "1.5",
                                       "inf",  "nan", "16777216T" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        uint64_t v = 4242;
        struct rs_err err = RS_ERR_INIT;
        int r = rs_parse_size(bad[i], &v, &err);
        if (r >= 0)
            fail_msg("'%s' was accepted as %llu", bad[i], (unsigned long long)v);
        assert_non_null(err.msg);
        char quoted[64];
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i]);
        if (!strstr(err.msg, quoted))
            fail_msg("message for '%s' does not name it: %s", bad[i], err.msg);
        assert_int_equal(v, 4242); /* ret_* untouched on failure */
        rs_err_release(&err);
    }
}

static void parse_size__overflow_is_erange(void **state)
{
    (void)state;
    uint64_t v;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(rs_parse_size("18446744073709551616", &v, &err), -ERANGE);
    rs_err_release(&err);
    assert_int_equal(rs_parse_size("18446744073709551615", &v, NULL), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(rs_parse_size("16777216T", &v, NULL), -ERANGE);
}

static void parse_duration__units(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t ms;
    } cases[] = { { "30", 30000 },  { "1.5s", 1500 },  { "250ms", 250 },
                  { "2m", 120000 }, { "1h", 3600000 }, { "1d", 86400000 } };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        uint64_t v = 0;
        assert_int_equal(rs_parse_duration(cases[i].text, &v, NULL), 0);
        assert_int_equal(v, cases[i].ms);
    }
    static const char *const bad[] = { "10x", "-1s", "1e3s", "", "s", "99999999999999999999d" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        uint64_t v = 7;
        struct rs_err err = RS_ERR_INIT;
        assert_true(rs_parse_duration(bad[i], &v, &err) < 0);
        assert_non_null(strstr(err.msg, bad[i]));
        assert_int_equal(v, 7);
        rs_err_release(&err);
    }
}

static void parse_uint__bounds(void **state)
{
    (void)state;
    uint64_t v = 9;
    assert_int_equal(rs_parse_uint("42", 100, &v, NULL), 0);
    assert_int_equal(v, 42);
    assert_int_equal(rs_parse_uint("101", 100, &v, NULL), -ERANGE);
    assert_int_equal(rs_parse_uint("4x", 100, &v, NULL), -EINVAL);
    assert_int_equal(rs_parse_uint("", 100, &v, NULL), -EINVAL);
    assert_int_equal(v, 42);
}

static void format_size__people_units(void **state)
{
    (void)state;
    char buf[16];
    assert_string_equal(rs_format_size(512, buf, sizeof(buf)), "512B");
    assert_string_equal(rs_format_size(1536, buf, sizeof(buf)), "1.5K");
    assert_string_equal(rs_format_size(104857600, buf, sizeof(buf)), "100M");
}

static void strbuf__grows_and_refuses_past_max(void **state)
{
    (void)state;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(10);
    assert_string_equal(strbuf_str(&sb), "");
    assert_int_equal(strbuf_addstr(&sb, "hello"), 0);
    assert_int_equal(strbuf_addf(&sb, "%d", 1234), 0);
    assert_string_equal(strbuf_str(&sb), "hello1234");
    assert_int_equal(strbuf_addstr(&sb, "xy"), -E2BIG);
    assert_string_equal(strbuf_str(&sb), "hello1234"); /* unchanged */
    assert_int_equal(strbuf_addch(&sb, '!'), 0);
    assert_int_equal(sb.len, 10);
    assert_int_equal(strbuf_addf(&sb, "%s", "z"), -E2BIG);
    size_t len;
    char *s = strbuf_detach(&sb, &len);
    assert_int_equal(len, 10);
    assert_string_equal(s, "hello1234!");
    free(s);
    assert_int_equal(sb.len, 0);
}

static void strv__split_and_contains(void **state)
{
    (void)state;
    _cleanup_strv_free_ char **l = strv_split(",a,,bc,d,", ",");
    assert_int_equal(strv_length(l), 3);
    assert_true(strv_contains(l, "bc"));
    assert_false(strv_contains(l, "b"));
    strv_push(&l, "e");
    assert_string_equal(l[3], "e");
    assert_null(l[4]);
}

static void err__set_wrap_context_hint_print(void **state)
{
    (void)state;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(rs_err_set(&err, -ENOENT, "cannot open '%s'", "x"), -ENOENT);
    assert_int_equal(rs_err_wrap(&err, "layer '%s'", "abc"), -ENOENT);
    rs_err_context(&err, "first");
    rs_err_context(&err, "second");
    rs_err_hint(&err, "try %s", "again");
    char *out = NULL;
    size_t out_len = 0;
    FILE *f = open_memstream(&out, &out_len);
    rs_err_print_to(f, "prog", &err);
    fclose(f);
    assert_string_equal(out,
                        "prog: error: layer 'abc': cannot open 'x': No such file or directory\n"
                        "  first\n  second\n  hint: try again\n");
    free(out);
    rs_err_release(&err);
    assert_null(err.msg);

    /* rs_err_msg does not append strerror; a non-negative ret becomes -EIO. */
    assert_int_equal(rs_err_msg(&err, 0, "plain"), -EIO);
    f = open_memstream(&out, &out_len);
    rs_err_print_to(f, "p", &err);
    fclose(f);
    assert_string_equal(out, "p: error: plain\n");
    free(out);
    rs_err_release(&err);
    /* NULL err is allowed and the code still travels. */
    assert_int_equal(rs_err_set(NULL, -EPERM, "x"), -EPERM);
}

static void sha256__known_vectors_buffer_and_file(void **state)
{
    (void)state;
    char hex[RS_SHA256_HEX_LEN + 1];
    rs_sha256_buf("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rs_sha256_buf("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(rs_sha256_hex_valid(hex));
    assert_false(rs_sha256_hex_valid("BA7816bf"));

    char tmpl[] = "/tmp/rs-test-sha-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    assert_int_equal(rs_write_all(fd, "abc", 3), 0);
    close(fd);
    uint64_t size = 0;
    char hex2[RS_SHA256_HEX_LEN + 1];
    assert_int_equal(rs_sha256_file_at(AT_FDCWD, tmpl, hex2, &size, NULL), 0);
    assert_string_equal(hex2, hex);
    assert_int_equal(size, 3);
    unlink(tmpl);
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(rs_sha256_file_at(AT_FDCWD, tmpl, hex2, &size, &err), -ENOENT);
    assert_non_null(strstr(err.msg, tmpl));
    rs_err_release(&err);
}

/* A root with a file, an absolute symlink to /etc, a relative one climbing out, and a loop. */
struct root_fixture {
    char dir[64];
    char outside[64];
    int root_fd;
};

static int root_setup(void **state)
{
    struct root_fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/rs-test-root-XXXXXX");
    snprintf(f->outside, sizeof(f->outside), "/tmp/rs-test-out-XXXXXX");
    if (!mkdtemp(f->dir) || !mkdtemp(f->outside))
        return -1;
    f->root_fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    mkdirat(f->root_fd, "etc", 0755);
    int fd = openat(f->root_fd, "etc/passwd", O_WRONLY | O_CREAT, 0644);
    (void)!write(fd, "inside\n", 7);
    close(fd);
    char target[128];
    snprintf(target, sizeof(target), "%s/secret", f->outside);
    fd = open(target, O_WRONLY | O_CREAT, 0644);
    (void)!write(fd, "outside\n", 8);
    close(fd);
    (void)!symlinkat("/etc", f->root_fd, "abs");                 /* absolute: must mean root/etc */
    (void)!symlinkat("../../../../../../etc", f->root_fd, "up"); /* climbs: clamps at root */
    (void)!symlinkat(target, f->root_fd, "host");                /* absolute host path */
    (void)!symlinkat("loop2", f->root_fd, "loop1");
    (void)!symlinkat("loop1", f->root_fd, "loop2");
    mkdirat(f->root_fd, "d", 0755);
    (void)!symlinkat("/abs/passwd", f->root_fd, "d/deep");
    *state = f;
    return 0;
}

static int root_teardown(void **state)
{
    struct root_fixture *f = *state;
    close(f->root_fd);
    rs_rm_rf_at(AT_FDCWD, f->dir);
    rs_rm_rf_at(AT_FDCWD, f->outside);
    free(f);
    rs_path_force_fallback(false);
    return 0;
}

static void read_fd_text(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);
    assert_true(n >= 0);
    buf[n] = '\0';
}

static void check_stays_inside(struct root_fixture *f)
{
    static const char *const inside[] = { "../../etc/passwd",
                                          "/etc/passwd",
                                          "abs/passwd",
                                          "up/passwd",
                                          "/../../abs/../etc/passwd",
                                          "d/deep",
                                          "etc/../../../etc/passwd" };
    for (size_t i = 0; i < ELEMENTSOF(inside); i++) {
        int fd = rs_open_in_root(f->root_fd, inside[i], O_RDONLY, 0);
        if (fd < 0)
            fail_msg("'%s': %s", inside[i], strerror(-fd));
        char buf[32];
        read_fd_text(fd, buf, sizeof(buf));
        close(fd);
        if (strcmp(buf, "inside\n") != 0)
            fail_msg("'%s' resolved outside the root", inside[i]);
    }
    char via_host[128];
    snprintf(via_host, sizeof(via_host), "host");
    int fd = rs_open_in_root(f->root_fd, via_host, O_RDONLY, 0);
    assert_int_equal(fd, -ENOENT); /* /tmp/rs-test-out-…/secret does not exist inside */
    assert_int_equal(rs_open_in_root(f->root_fd, "loop1", O_RDONLY, 0), -ELOOP);
    assert_int_equal(rs_open_in_root(f->root_fd, "etc/passwd/x", O_RDONLY, 0), -ENOTDIR);

    /* Creating through an absolute symlink lands inside. */
    fd = rs_open_in_root(f->root_fd, "abs/created", O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct stat st;
    assert_int_equal(fstatat(f->root_fd, "etc/created", &st, 0), 0);
    unlinkat(f->root_fd, "etc/created", 0);

    /* mkdir -p through symlinks stays inside too. */
    fd = rs_mkdir_in_root(f->root_fd, "/up/new/sub", 0755);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fstatat(f->root_fd, "etc/new/sub", &st, 0), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rs_mkdir_in_root(f->root_fd, "etc/passwd/sub", 0755), -ENOTDIR);

    /* Only the last component missing, behind symlinks; "..", which must stop at the root;
     * and a host path, made inside. */
    struct stat root_st, got;
    assert_int_equal(fstat(f->root_fd, &root_st), 0);
    static const char *const made[] = { "abs/fast", "up/fast2" };
    for (size_t i = 0; i < ELEMENTSOF(made); i++) {
        fd = rs_mkdir_in_root(f->root_fd, made[i], 0755);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(fstatat(f->root_fd, "etc/fast", &st, 0), 0);
    assert_int_equal(fstatat(f->root_fd, "etc/fast2", &st, 0), 0);
    static const char *const at_root[] = { "etc/..", "nodir/../..", "etc/../..", ".." };
    for (size_t i = 0; i < ELEMENTSOF(at_root); i++) {
        fd = rs_mkdir_in_root(f->root_fd, at_root[i], 0755);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &got), 0);
        close(fd);
        if (got.st_ino != root_st.st_ino || got.st_dev != root_st.st_dev)
            fail_msg("'%s' made or opened a directory outside the root", at_root[i]);
    }
    fd = rs_mkdir_in_root(f->root_fd, "host/made", 0755);
    assert_true(fd >= 0);
    close(fd);
    char secret[128];
    snprintf(secret, sizeof(secret), "%s/secret", f->outside);
    assert_int_equal(stat(secret, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void open_in_root__stays_inside_with_openat2(void **state)
{
    rs_path_force_fallback(false);
    check_stays_inside(*state);
}

static void open_in_root__stays_inside_with_fallback_walk(void **state)
{
    rs_path_force_fallback(true);
    check_stays_inside(*state);
}

static void path_normalize__cleans_and_refuses_dotdot(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } ok[] = { { "./usr/bin/", "usr/bin" },
               { "/etc//passwd", "etc/passwd" },
               { ".", "" },
               { "a/./b", "a/b" },
               { "..foo/bar..", "..foo/bar.." } };
    for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
        char *p = NULL;
        assert_int_equal(rs_path_normalize_relative(ok[i].in, &p), 0);
        assert_string_equal(p, ok[i].out);
        free(p);
    }
    static const char *const bad[] = { "../etc", "a/../../b", "./..", "a/.." };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        char *p = (char *)"untouched";
        assert_int_equal(rs_path_normalize_relative(bad[i], &p), -EINVAL);
        assert_string_equal(p, "untouched");
    }
}

static void fs__atomic_write_read_and_rm_rf(void **state)
{
    (void)state;
    char dir[] = "/tmp/rs-test-fs-XXXXXX";
    assert_non_null(mkdtemp(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(rs_write_file_atomic_at(dfd, "f", "one", 3, 0644, 1, NULL), 0);
    assert_int_equal(rs_write_file_atomic_at(dfd, "f", "two!", 4, 0600, 0, NULL), 0);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(rs_read_file_at(dfd, "f", 100, &buf, &len, NULL), 0);
    assert_string_equal(buf, "two!");
    free(buf);
    struct stat st;
    assert_int_equal(fstatat(dfd, "f", &st, 0), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    struct rs_err err = RS_ERR_INIT;
    buf = (char *)"untouched";
    assert_int_equal(rs_read_file_at(dfd, "f", 3, &buf, &len, &err), -EFBIG);
    assert_string_equal(buf, "untouched");
    rs_err_release(&err);
    /* A failed atomic write leaves the old file and no temporary behind. */
    assert_true(rs_write_file_atomic_at(dfd, "missing-dir/f", "x", 1, 0644, 0, &err) < 0);
    rs_err_release(&err);

    mkdirat(dfd, "tree", 0755);
    mkdirat(dfd, "tree/a", 0755);
    mkdirat(dfd, "tree/a/b", 0700);
    close(openat(dfd, "tree/a/b/file", O_WRONLY | O_CREAT, 0));
    (void)!symlinkat("/etc", dfd, "tree/a/link-to-etc");
    assert_int_equal(rs_rm_rf_at(dfd, "tree"), 0);
    assert_int_equal(fstatat(dfd, "tree", &st, AT_SYMLINK_NOFOLLOW), -1);
    assert_int_equal(stat("/etc/passwd", &st), 0); /* the symlink was not followed */
    assert_int_equal(rs_rm_rf_at(dfd, "tree"), 0); /* missing is fine */
    close(dfd);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, dir), 0);

    char deep[128];
    snprintf(deep, sizeof(deep), "%s/x/y/z", dir);
    assert_int_equal(rs_mkdir_p(deep, 0755), 0);
    assert_int_equal(stat(deep, &st), 0);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_size__accepts_units_fractions_and_plain_bytes),
        cmocka_unit_test(parse_size__rejects_bad_text_naming_it),
        cmocka_unit_test(parse_size__overflow_is_erange),
        cmocka_unit_test(parse_duration__units),
        cmocka_unit_test(parse_uint__bounds),
        cmocka_unit_test(format_size__people_units),
        cmocka_unit_test(strbuf__grows_and_refuses_past_max),
        cmocka_unit_test(strv__split_and_contains),
        cmocka_unit_test(err__set_wrap_context_hint_print),
        cmocka_unit_test(sha256__known_vectors_buffer_and_file),
        cmocka_unit_test_setup_teardown(open_in_root__stays_inside_with_openat2, root_setup,
                                        root_teardown),
        cmocka_unit_test_setup_teardown(open_in_root__stays_inside_with_fallback_walk, root_setup,
                                        root_teardown),
        cmocka_unit_test(path_normalize__cleans_and_refuses_dotdot),
        cmocka_unit_test(fs__atomic_write_read_and_rm_rf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
