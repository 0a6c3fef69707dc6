/* Behaviour of cache/: blobs, layers, images, build keys, containers, gc and verify, each in a
 * fresh store under a mkdtemp dir. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/cache-internal.h"
#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strv.h"
#include "common/xalloc.h"

struct fixture {
    char dir[64];
    char *root;
    struct cache *c;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    struct rs_err err = RS_ERR_INIT;

    snprintf(f->dir, sizeof(f->dir), "/tmp/rs-test-cache.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->root = xasprintf("%s/store", f->dir);
    assert_int_equal(cache_open(f->root, 0, &f->c, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cache_close(f->c);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, f->dir), 0);
    free(f->root);
    free(f);
    return 0;
}

/* Reopen the store, exclusively or not. */
static void reopen(struct fixture *f, unsigned flags)
{
    struct rs_err err = RS_ERR_INIT;
    f->c = cache_close(f->c);
    assert_int_equal(cache_open(f->root, flags, &f->c, &err), 0);
}

static size_t count_entries(struct fixture *f, const char *rel)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", f->root, rel);
    _cleanup_closedir_ DIR *d = opendir(path);
    size_t n = 0;
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d));)
        if (de->d_name[0] != '.')
            n++;
    return n;
}

static void write_file(const char *dir, const char *name, const char *content)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(
        rs_write_file_atomic_at(AT_FDCWD, path, content, strlen(content), 0644, 0, &err), 0);
}

/* A published layer holding one file; returns its id in id. */
static void make_layer(struct fixture *f, const char *key, const char *content,
                       char id[RS_SHA256_HEX_LEN + 1])
{
    struct cache_layer_stage *s = NULL;
    struct layer_meta meta = { .created_by = (char *)"test" };
    struct rs_err err = RS_ERR_INIT;

    assert_int_equal(cache_layer_stage_new(f->c, &s, &err), 0);
    write_file(cache_layer_stage_root_path(s), "file", content);
    assert_int_equal(cache_layer_stage_publish(s, &meta, key, id, &err), 0);
}

static void make_image(struct fixture *f, const char *name, const char *layer_id)
{
    _cleanup_(image_freep) struct image *img = image_new();
    struct rs_err err = RS_ERR_INIT;
    img->name = xstrdup(name);
    strv_push(&img->layers, layer_id);
    assert_int_equal(cache_image_put(f->c, img, &err), 0);
}

/* ---- open ---- */

static void cache_open__creates_layout_and_cleans_tmp_leftovers(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *leftover = xasprintf("%s/tmp/layer-dead", f->root);

    assert_int_equal(mkdir(leftover, 0755), 0);
    write_file(leftover, "half-written", "x");
    reopen(f, 0);
    assert_int_equal(count_entries(f, "tmp"), 0);
    assert_int_equal(access(leftover, F_OK), -1);
}

static void cache_open__keeps_tmp_while_another_process_uses_the_store(void **state)
{
    struct fixture *f = *state;
    struct cache *other = NULL;
    struct rs_err err = RS_ERR_INIT;
    _cleanup_free_ char *staging = xasprintf("%s/tmp/layer-busy", f->root);

    assert_int_equal(mkdir(staging, 0755), 0);
    /* f->c holds the store shared: a second opener must not touch tmp/. */
    assert_int_equal(cache_open(f->root, 0, &other, &err), 0);
    assert_int_equal(access(staging, F_OK), 0);
    cache_close(other);
}

static void cache_open__no_create_refuses_a_missing_store(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *missing = xasprintf("%s/nope", f->dir);
    struct cache *c = (struct cache *)0x1;
    struct rs_err err = RS_ERR_INIT;

    assert_true(cache_open(missing, CACHE_NO_CREATE, &c, &err) < 0);
    assert_ptr_equal(c, (struct cache *)0x1);
    assert_non_null(err.msg);
    rs_err_release(&err);
    assert_int_equal(access(missing, F_OK), -1);
}

/* ---- blobs ---- */

static void blob_writer__commit_names_blob_by_digest(void **state)
{
    struct fixture *f = *state;
    struct cache_blob_writer *w = NULL;
    struct rs_err err = RS_ERR_INIT;
    char hex[RS_SHA256_HEX_LEN + 1], want[RS_SHA256_HEX_LEN + 1];
    _cleanup_close_ int fd = -1;
    char buf[16] = { 0 };

    rs_sha256_buf("hello world", 11, want);
    assert_int_equal(cache_blob_writer_new(f->c, &w, &err), 0);
    assert_int_equal(cache_blob_writer_write(w, "hello ", 6, &err), 0);
    assert_int_equal(cache_blob_writer_write(w, "world", 5, &err), 0);
    assert_int_equal(cache_blob_writer_size(w), 11);
    assert_int_equal(cache_blob_writer_commit(w, want, hex, &err), 0);
    assert_string_equal(hex, want);
    assert_true(cache_blob_has(f->c, hex));
    assert_int_equal(cache_blob_open(f->c, hex, &fd, &err), 0);
    assert_int_equal(read(fd, buf, sizeof(buf)), 11);
    assert_string_equal(buf, "hello world");
    assert_int_equal(count_entries(f, "tmp"), 0);
    /* The same content again is fine. */
    assert_int_equal(cache_blob_put(f->c, "hello world", 11, hex, &err), 0);
    assert_string_equal(hex, want);
}

static void blob_writer__mismatch_discards_file(void **state)
{
    struct fixture *f = *state;
    struct cache_blob_writer *w = NULL;
    struct rs_err err = RS_ERR_INIT;
    char hex[RS_SHA256_HEX_LEN + 1] = "untouched";
    char other[RS_SHA256_HEX_LEN + 1];

    rs_sha256_buf("something else", 14, other);
    assert_int_equal(cache_blob_writer_new(f->c, &w, &err), 0);
    assert_int_equal(cache_blob_writer_write(w, "data", 4, &err), 0);
    assert_int_equal(cache_blob_writer_commit(w, other, hex, &err), -EBADMSG);
    assert_string_equal(hex, "untouched");
    assert_non_null(strstr(err.msg, other));
    rs_err_release(&err);
    assert_false(cache_blob_has(f->c, other));
    assert_int_equal(count_entries(f, "blobs/sha256"), 0);
    assert_int_equal(count_entries(f, "tmp"), 0);
}

static void blob_writer__raw_fd_writes_are_hashed_at_commit(void **state)
{
    struct fixture *f = *state;
    struct cache_blob_writer *w = NULL;
    struct rs_err err = RS_ERR_INIT;
    char hex[RS_SHA256_HEX_LEN + 1], want[RS_SHA256_HEX_LEN + 1];

    rs_sha256_buf("resumed", 7, want);
    assert_int_equal(cache_blob_writer_new(f->c, &w, &err), 0);
    assert_int_equal(rs_write_all(cache_blob_writer_fd(w), "resumed", 7), 0);
    assert_int_equal(cache_blob_writer_commit(w, NULL, hex, &err), 0);
    assert_string_equal(hex, want);
}

static void blob_open__refuses_a_corrupt_blob(void **state)
{
    struct fixture *f = *state;
    struct rs_err err = RS_ERR_INIT;
    char hex[RS_SHA256_HEX_LEN + 1];
    int fd = -7;

    assert_int_equal(cache_blob_put(f->c, "good", 4, hex, &err), 0);
    _cleanup_free_ char *path = cache_blob_path(f->c, hex);
    assert_int_equal(chmod(path, 0644), 0);
    write_file(f->root, "x", "");
    assert_int_equal(truncate(path, 2), 0);
    assert_int_equal(cache_blob_open(f->c, hex, &fd, &err), -EBADMSG);
    assert_int_equal(fd, -7);
    assert_non_null(strstr(err.msg, "corrupt"));
    assert_non_null(strstr(err.msg, hex));
    rs_err_release(&err);
    assert_int_equal(cache_blob_open(f->c, "zz", &fd, &err), -EINVAL);
    rs_err_release(&err);
}

/* ---- layers ---- */

static void layer_stage__same_key_gives_same_layer_once(void **state)
{
    struct fixture *f = *state;
    char a[RS_SHA256_HEX_LEN + 1], b[RS_SHA256_HEX_LEN + 1], c[RS_SHA256_HEX_LEN + 1];
    struct layer_meta m;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, "key1", "one", a);
    make_layer(f, "key1", "two", b);
    make_layer(f, NULL, "one", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(count_entries(f, "layers"), 2);
    assert_int_equal(count_entries(f, "tmp"), 0);
    /* The first publication wins; a published tree never changes. */
    _cleanup_free_ char *root = cache_layer_root_path(f->c, a);
    _cleanup_free_ char *file = xasprintf("%s/file", root), *text = NULL;
    assert_int_equal(rs_read_file_at(AT_FDCWD, file, 100, &text, NULL, &err), 0);
    assert_string_equal(text, "one");
    assert_int_equal(cache_layer_meta(f->c, a, &m, &err), 0);
    assert_string_equal(m.id, a);
    assert_int_equal(m.size, 3);
    assert_string_equal(m.created_by, "test");
    assert_true(m.created > 0);
    layer_meta_release(&m);
}

static void layer_stage__abort_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    struct cache_layer_stage *s = NULL;
    struct rs_err err = RS_ERR_INIT;

    assert_int_equal(cache_layer_stage_new(f->c, &s, &err), 0);
    write_file(cache_layer_stage_root_path(s), "file", "x");
    assert_null(cache_layer_stage_abort(s));
    assert_int_equal(count_entries(f, "tmp"), 0);
    assert_int_equal(count_entries(f, "layers"), 0);
}

static void layer_stage__missing_parent_is_refused(void **state)
{
    struct fixture *f = *state;
    struct cache_layer_stage *s = NULL;
    struct layer_meta meta = {
        .parent = (char *)"1111111111111111111111111111111111111111111111111111111111111111"
    };
    struct rs_err err = RS_ERR_INIT;
    char id[RS_SHA256_HEX_LEN + 1] = "untouched";

    assert_int_equal(cache_layer_stage_new(f->c, &s, &err), 0);
    assert_int_equal(cache_layer_stage_publish(s, &meta, NULL, id, &err), -ENOENT);
    assert_string_equal(id, "untouched");
    assert_non_null(strstr(err.msg, "parent"));
    rs_err_release(&err);
    assert_int_equal(count_entries(f, "tmp"), 0);
    assert_int_equal(count_entries(f, "layers"), 0);
}

static void layer_publish_dir__moves_the_directory_in(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *dir = xasprintf("%s/upper", f->dir);
    struct layer_meta meta = { 0 };
    struct rs_err err = RS_ERR_INIT;
    char id[RS_SHA256_HEX_LEN + 1];

    assert_int_equal(mkdir(dir, 0755), 0);
    write_file(dir, "new", "12345");
    assert_int_equal(cache_layer_publish_dir(f->c, dir, &meta, "k", id, &err), 0);
    assert_true(cache_layer_has(f->c, id));
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(
        cache_layer_set_diff_id(f->c, id,
                                "sha256:"
                                "2222222222222222222222222222222222222222222222222222222222222222",
                                &err),
        0);
    struct layer_meta m;
    assert_int_equal(cache_layer_meta(f->c, id, &m, &err), 0);
    assert_int_equal(m.size, 5);
    assert_non_null(m.diff_id);
    layer_meta_release(&m);
    assert_int_equal(cache_layer_set_diff_id(f->c, id, "nope", &err), -EINVAL);
    rs_err_release(&err);
}

/* ---- images ---- */

static void image_put__refuses_missing_layers(void **state)
{
    struct fixture *f = *state;
    _cleanup_(image_freep) struct image *img = image_new();
    struct rs_err err = RS_ERR_INIT;

    img->name = xstrdup("x");
    strv_push(&img->layers, "3333333333333333333333333333333333333333333333333333333333333333");
    assert_int_equal(cache_image_put(f->c, img, &err), -ENOENT);
    assert_null(img->id);
    rs_err_release(&err);
    assert_int_equal(count_entries(f, "images"), 0);
}

static void image_get__unknown_name_suggests_closest(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1];
    struct image *img = (struct image *)0x1;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "x", id);
    make_image(f, "stable-minbase", id);
    make_image(f, "unrelated-thing:v2", id);
    assert_int_equal(cache_image_get(f->c, "stable-minbse", &img, &err), -ENOENT);
    assert_ptr_equal(img, (struct image *)0x1);
    assert_string_equal(err.msg, "image 'stable-minbse' not found");
    assert_non_null(err.hint);
    assert_non_null(strstr(err.hint, "'stable-minbase'"));
    assert_null(strstr(err.hint, "unrelated"));
    rs_err_release(&err);
    assert_int_equal(cache_image_get(f->c, "bad name", &img, &err), -EINVAL);
    rs_err_release(&err);
}

static void image_get__by_name_tag_and_id_prefix(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1];
    _cleanup_(image_freep) struct image *a = NULL;
    _cleanup_(image_freep) struct image *b = NULL;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "x", id);
    make_image(f, "debian/trixie:v1", id);
    assert_int_equal(cache_image_get(f->c, "debian/trixie:v1", &a, &err), 0);
    assert_string_equal(a->name, "debian/trixie:v1");
    assert_string_equal(a->layers[0], id);
    char prefix[13];
    memcpy(prefix, a->id, 12);
    prefix[12] = '\0';
    assert_int_equal(cache_image_get(f->c, prefix, &b, &err), 0);
    assert_string_equal(b->id, a->id);
}

static void image_put__replaces_atomically_and_list_is_sorted(void **state)
{
    struct fixture *f = *state;
    char one[RS_SHA256_HEX_LEN + 1], two[RS_SHA256_HEX_LEN + 1];
    struct image **list = NULL;
    size_t n = 0;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "1", one);
    make_layer(f, NULL, "2", two);
    make_image(f, "b", one);
    make_image(f, "a", one);
    make_image(f, "b", two);
    assert_int_equal(cache_image_list(f->c, &list, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0]->name, "a:latest");
    assert_string_equal(list[1]->name, "b:latest");
    assert_string_equal(list[1]->layers[0], two);
    cache_image_list_free(list, n);
    assert_int_equal(count_entries(f, "tmp"), 0);
}

static void image_remove__missing_name_fails(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1];
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "x", id);
    make_image(f, "there", id);
    assert_int_equal(cache_image_remove(f->c, "there", &err), 0);
    assert_int_equal(cache_image_remove(f->c, "there", &err), -ENOENT);
    assert_non_null(strstr(err.msg, "not found"));
    rs_err_release(&err);
}

static void import_dir__keeps_modes_times_links_symlinks_xattrs(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *src = xasprintf("%s/src", f->dir);
    _cleanup_free_ char *sub = xasprintf("%s/sub", src);
    _cleanup_free_ char *file = xasprintf("%s/sub/file", src);
    _cleanup_free_ char *hard = xasprintf("%s/hard", src);
    _cleanup_free_ char *sym = xasprintf("%s/sym", src);
    _cleanup_free_ char *fifo = xasprintf("%s/fifo", src);
    _cleanup_(image_freep) struct image *img = NULL;
    struct image_config cfg = { .working_dir = (char *)"/sub" };
    struct rs_err err = RS_ERR_INIT;
    struct timespec ts[2] = { { .tv_sec = 1000000, .tv_nsec = 5 },
                              { .tv_sec = 2000000, .tv_nsec = 7 } };
    struct stat st_a, st_b;

    assert_int_equal(mkdir(src, 0755), 0);
    assert_int_equal(mkdir(sub, 0710), 0);
    write_file(sub, "file", "content!");
    assert_int_equal(chmod(file, 04751), 0);
    assert_int_equal(link(file, hard), 0);
    assert_int_equal(symlink("sub/file", sym), 0);
    assert_int_equal(mkfifo(fifo, 0640), 0);
    bool xattrs = setxattr(file, "user.test", "v", 1, 0) == 0;
    (void)setxattr(sub, "trusted.overlay.opaque", "y", 1, 0); /* only as root */
    assert_int_equal(utimensat(AT_FDCWD, file, ts, 0), 0);
    assert_int_equal(utimensat(AT_FDCWD, sub, ts, 0), 0);

    assert_int_equal(cache_image_import_dir(f->c, src, "imported", &cfg, NULL, &img, &err), 0);
    assert_string_equal(img->name, "imported:latest");
    assert_string_equal(img->config.working_dir, "/sub");
    _cleanup_free_ char *root = cache_layer_root_path(f->c, img->layers[0]);
    _cleanup_free_ char *cfile = xasprintf("%s/sub/file", root);
    _cleanup_free_ char *chard = xasprintf("%s/hard", root);
    _cleanup_free_ char *csym = xasprintf("%s/sym", root);
    _cleanup_free_ char *csub = xasprintf("%s/sub", root);
    _cleanup_free_ char *cfifo = xasprintf("%s/fifo", root);
    assert_int_equal(stat(cfile, &st_a), 0);
    assert_int_equal(stat(chard, &st_b), 0);
    assert_int_equal(st_a.st_ino, st_b.st_ino);
    assert_int_equal(st_a.st_mode & 07777, 04751);
    assert_int_equal(st_a.st_mtim.tv_sec, 2000000);
    assert_int_equal(st_a.st_mtim.tv_nsec, 7);
    assert_int_equal(stat(csub, &st_b), 0);
    assert_int_equal(st_b.st_mode & 07777, 0710);
    assert_int_equal(st_b.st_mtim.tv_sec, 2000000);
    assert_int_equal(lstat(cfifo, &st_b), 0);
    assert_true(S_ISFIFO(st_b.st_mode));
    char target[64] = { 0 };
    assert_int_equal(readlink(csym, target, sizeof(target)), 8);
    assert_string_equal(target, "sub/file");
    if (xattrs) {
        char v[8] = { 0 };
        assert_int_equal(getxattr(cfile, "user.test", v, sizeof(v)), 1);
        assert_string_equal(v, "v");
    }
    assert_true(getxattr(csub, "trusted.overlay.opaque", NULL, 0) < 0);
    struct layer_meta m;
    assert_int_equal(cache_layer_meta(f->c, img->layers[0], &m, &err), 0);
    assert_int_equal(m.size, 8); /* the hard link counts once */
    layer_meta_release(&m);
    assert_int_equal(cache_verify(f->c, false, &err), 0);
}

static void import_dir__failure_leaves_no_image_and_no_staging(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *missing = xasprintf("%s/missing", f->dir);
    struct image *img = (struct image *)0x1;
    struct rs_err err = RS_ERR_INIT;

    assert_true(cache_image_import_dir(f->c, missing, "x", NULL, NULL, &img, &err) < 0);
    assert_ptr_equal(img, (struct image *)0x1);
    rs_err_release(&err);
    /* The store itself is never copied into itself. */
    assert_true(cache_image_import_dir(f->c, f->root, "x", NULL, NULL, &img, &err) < 0);
    assert_non_null(strstr(err.msg, "store itself"));
    rs_err_release(&err);
    assert_int_equal(count_entries(f, "tmp"), 0);
    assert_int_equal(count_entries(f, "images"), 0);
    assert_int_equal(cache_image_import_dir(f->c, f->dir, "bad name", NULL, NULL, &img, &err),
                     -EINVAL);
    rs_err_release(&err);
}

/* ---- build keys ---- */

static void recipe__maps_key_to_layer_while_the_layer_exists(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1], got[RS_SHA256_HEX_LEN + 1] = "";
    struct rs_err err = RS_ERR_INIT;
    const char *key = "4444444444444444444444444444444444444444444444444444444444444444";

    assert_int_equal(cache_recipe_get(f->c, key, got), -ENOENT);
    make_layer(f, key, "x", id);
    assert_int_equal(cache_recipe_put(f->c, key, id, &err), 0);
    assert_int_equal(cache_recipe_get(f->c, key, got), 0);
    assert_string_equal(got, id);
    assert_int_equal(cache_recipe_put(f->c, "../escape", id, &err), -EINVAL);
    rs_err_release(&err);
    /* Unused: gc removes the layer and the key with it. */
    reopen(f, CACHE_EXCLUSIVE);
    assert_int_equal(cache_gc(f->c, NULL, NULL, &err), 0);
    assert_int_equal(cache_recipe_get(f->c, key, got), -ENOENT);
    assert_int_equal(count_entries(f, "recipes"), 0);
}

static void lock_key__second_builder_waits_for_the_first(void **state)
{
    struct fixture *f = *state;
    struct rs_err err = RS_ERR_INIT;
    int fd = cache_lock_key(f->c, "samekey", &err);
    int pipefd[2];
    char c = 0;

    assert_true(fd >= 0);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rs_err e = RS_ERR_INIT;
        /* The inherited fd shares our lock; a real second builder has its own. */
        close(fd);
        alarm(10);
        int k = cache_lock_key(f->c, "samekey", &e);
        _exit(k >= 0 && write(pipefd[1], "L", 1) == 1 ? 0 : 1);
    }
    close(pipefd[1]);
    /* The child is blocked as long as we hold the key. */
    struct timespec delay = { 0, 200 * 1000 * 1000 };
    nanosleep(&delay, NULL);
    assert_int_equal(fcntl(pipefd[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(read(pipefd[0], &c, 1), -1);
    assert_int_equal(fcntl(pipefd[0], F_SETFL, 0), 0);
    close(fd);
    assert_int_equal(read(pipefd[0], &c, 1), 1);
    assert_int_equal(c, 'L');
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(pipefd[0]);
}

/* ---- containers and gc ---- */

static void gc__keeps_what_images_and_live_containers_use(void **state)
{
    struct fixture *f = *state;
    char used[RS_SHA256_HEX_LEN + 1], running[RS_SHA256_HEX_LEN + 1], unused[RS_SHA256_HEX_LEN + 1];
    _cleanup_(image_freep) struct image *img = image_new();
    struct cache_container *ct = NULL;
    struct rs_err err = RS_ERR_INIT;
    uint64_t freed = 0;
    size_t n = 0;

    make_layer(f, NULL, "used", used);
    make_layer(f, NULL, "running", running);
    make_layer(f, NULL, "unused!", unused);
    make_image(f, "keep", used);
    img->name = xstrdup("gone");
    strv_push(&img->layers, running);
    assert_int_equal(cache_container_new(f->c, img, &ct, &err), 0);
    assert_int_equal(strlen(cache_container_id(ct)), 64);
    _cleanup_free_ char *upper = xasprintf("%s/upper", cache_container_path(ct));
    assert_int_equal(access(upper, F_OK), 0);

    /* gc needs the store to itself. */
    assert_int_equal(cache_gc(f->c, &freed, &n, &err), -EPERM);
    rs_err_release(&err);
    reopen(f, CACHE_EXCLUSIVE);
    assert_int_equal(cache_gc(f->c, &freed, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(freed, 7);
    assert_true(cache_layer_has(f->c, used));
    assert_true(cache_layer_has(f->c, running));
    assert_false(cache_layer_has(f->c, unused));

    /* Once the container is gone (here: forgotten, as after a crash) its layer goes too. */
    _cleanup_free_ char *ct_path = xstrdup(cache_container_path(ct));
    cache_container_forget(ct);
    assert_int_equal(cache_gc(f->c, &freed, &n, &err), 0);
    assert_int_equal(n, 2); /* the leftover container and its layer */
    assert_false(cache_layer_has(f->c, running));
    assert_int_equal(access(ct_path, F_OK), -1);
    assert_int_equal(count_entries(f, "tmp"), 0);
}

static void container_remove__deletes_its_directory(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1];
    _cleanup_(image_freep) struct image *img = image_new();
    struct cache_container *ct = NULL;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "x", id);
    strv_push(&img->layers, id);
    assert_int_equal(cache_container_new(f->c, img, &ct, &err), 0);
    _cleanup_free_ char *path = xstrdup(cache_container_path(ct));
    assert_null(cache_container_remove(ct));
    assert_int_equal(access(path, F_OK), -1);
}

static void gc__blobs_only_with_the_flag_and_only_unreferenced(void **state)
{
    struct fixture *f = *state;
    char deb[RS_SHA256_HEX_LEN + 1], diff[RS_SHA256_HEX_LEN + 1], id[RS_SHA256_HEX_LEN + 1];
    struct rs_err err = RS_ERR_INIT;

    assert_int_equal(cache_blob_put(f->c, "a .deb", 6, deb, &err), 0);
    assert_int_equal(cache_blob_put(f->c, "a layer tar", 11, diff, &err), 0);
    make_layer(f, NULL, "x", id);
    _cleanup_free_ char *diff_id = xasprintf("sha256:%s", diff);
    assert_int_equal(cache_layer_set_diff_id(f->c, id, diff_id, &err), 0);
    make_image(f, "img", id);
    reopen(f, CACHE_EXCLUSIVE);
    assert_int_equal(cache_gc(f->c, NULL, NULL, &err), 0);
    assert_true(cache_blob_has(f->c, deb));
    assert_int_equal(cache_gc_ex(f->c, CACHE_GC_BLOBS, NULL, NULL, &err), 0);
    assert_false(cache_blob_has(f->c, deb));
    assert_true(cache_blob_has(f->c, diff));
}

/* ---- verify ---- */

static void verify__reports_and_repairs_corruption(void **state)
{
    struct fixture *f = *state;
    char good[RS_SHA256_HEX_LEN + 1], bad[RS_SHA256_HEX_LEN + 1], blob[RS_SHA256_HEX_LEN + 1];
    struct rs_err err = RS_ERR_INIT;
    _cleanup_(image_freep) struct image *img = NULL;

    make_layer(f, NULL, "fine", good);
    make_layer(f, NULL, "will break", bad);
    make_image(f, "ok", good);
    make_image(f, "broken", bad);
    assert_int_equal(cache_blob_put(f->c, "blob", 4, blob, &err), 0);
    assert_int_equal(cache_verify(f->c, false, &err), 0);

    _cleanup_free_ char *root = cache_layer_root_path(f->c, bad);
    _cleanup_free_ char *file = xasprintf("%s/file", root);
    assert_int_equal(truncate(file, 1), 0);
    _cleanup_free_ char *bpath = cache_blob_path(f->c, blob);
    assert_int_equal(chmod(bpath, 0644), 0);
    assert_int_equal(truncate(bpath, 1), 0);

    log_set_level(LOG_ERROR); /* the problems are printed; keep the test output short */
    assert_int_equal(cache_verify(f->c, false, &err), 3); /* blob, layer, image */
    assert_int_equal(cache_verify(f->c, true, &err), -EPERM);
    rs_err_release(&err);
    reopen(f, CACHE_EXCLUSIVE);
    assert_int_equal(cache_verify(f->c, true, &err), 3);
    assert_int_equal(cache_verify(f->c, false, &err), 0);
    log_set_level(LOG_INFO);
    assert_false(cache_blob_has(f->c, blob));
    assert_false(cache_layer_has(f->c, bad));
    assert_true(cache_layer_has(f->c, good));
    assert_int_equal(cache_image_get(f->c, "broken", &img, &err), -ENOENT);
    rs_err_release(&err);
    assert_int_equal(cache_image_get(f->c, "ok", &img, &err), 0);
}

static void usage__counts_what_the_store_holds(void **state)
{
    struct fixture *f = *state;
    char id[RS_SHA256_HEX_LEN + 1], hex[RS_SHA256_HEX_LEN + 1];
    struct cache_usage u;
    struct rs_err err = RS_ERR_INIT;

    make_layer(f, NULL, "12345", id);
    make_image(f, "a", id);
    make_image(f, "b", id);
    assert_int_equal(cache_blob_put(f->c, "xyz", 3, hex, &err), 0);
    assert_int_equal(cache_usage(f->c, &u, &err), 0);
    assert_int_equal(u.n_layers, 1);
    assert_int_equal(u.layers_size, 5);
    assert_int_equal(u.n_images, 2);
    assert_int_equal(u.n_blobs, 1);
    assert_int_equal(u.blobs_size, 3);
    assert_int_equal(u.n_containers, 0);
}

static void edit_distance__counts_single_edits(void **state)
{
    (void)state;
    assert_int_equal(cache_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(cache_edit_distance("", "abc"), 3);
    assert_int_equal(cache_edit_distance("same", "same"), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(cache_open__creates_layout_and_cleans_tmp_leftovers),
        T(cache_open__keeps_tmp_while_another_process_uses_the_store),
        T(cache_open__no_create_refuses_a_missing_store),
        T(blob_writer__commit_names_blob_by_digest),
        T(blob_writer__mismatch_discards_file),
        T(blob_writer__raw_fd_writes_are_hashed_at_commit),
        T(blob_open__refuses_a_corrupt_blob),
        T(layer_stage__same_key_gives_same_layer_once),
        T(layer_stage__abort_leaves_nothing),
        T(layer_stage__missing_parent_is_refused),
        T(layer_publish_dir__moves_the_directory_in),
        T(image_put__refuses_missing_layers),
        T(image_get__unknown_name_suggests_closest),
        T(image_get__by_name_tag_and_id_prefix),
        T(image_put__replaces_atomically_and_list_is_sorted),
        T(image_remove__missing_name_fails),
        T(import_dir__keeps_modes_times_links_symlinks_xattrs),
        T(import_dir__failure_leaves_no_image_and_no_staging),
        T(recipe__maps_key_to_layer_while_the_layer_exists),
        T(lock_key__second_builder_waits_for_the_first),
        T(gc__keeps_what_images_and_live_containers_use),
        T(container_remove__deletes_its_directory),
        T(gc__blobs_only_with_the_flag_and_only_unreferenced),
        T(verify__reports_and_repairs_corruption),
        T(usage__counts_what_the_store_holds),
        cmocka_unit_test(edit_distance__counts_single_edits),
    };
    log_init("test_cache");
    log_set_level(LOG_WARNING);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
