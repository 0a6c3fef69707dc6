/* Reproducible layer tars: a directory walked in sorted order, written by libarchive's pax
 * writer, hashed (diffID), compressed and hashed again (digest) as it streams. */
#include "image/oci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "image/oci-internal.h"

#define READ_BUF_SIZE (1 << 20)
#define ZSTD_OUT_SIZE (1 << 20)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free)

const char *oci_layer_media_type(enum oci_compression c)
{
    switch (c) {
    case OCI_COMPRESS_NONE:
        return "application/vnd.oci.image.layer.v1.tar";
    case OCI_COMPRESS_GZIP:
        return "application/vnd.oci.image.layer.v1.tar+gzip";
    case OCI_COMPRESS_ZSTD:
        return "application/vnd.oci.image.layer.v1.tar+zstd";
    case _OCI_COMPRESS_MAX:
        break;
    }
    return NULL;
}

/* ---- the compressing, hashing sink ---- */

static int sink_error(struct oci_sink *s)
{
    return __atomic_load_n(&s->error, __ATOMIC_ACQUIRE);
}

static void sink_fail(struct oci_sink *s, int r)
{
    int expected = 0;
    (void)__atomic_compare_exchange_n(&s->error, &expected, r, false, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE);
}

static int sink_emit(struct oci_sink *s, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    rs_sha256_update(&s->digest, buf, len);
    s->size += len;
    int r = rs_write_all(s->out_fd, buf, len);
    if (r < 0)
        sink_fail(s, r);
    return r;
}

static la_ssize_t gz_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
    (void)a;
    return sink_emit(ud, buf, len) < 0 ? -1 : (la_ssize_t)len;
}

static int zstd_pump(struct oci_sink *s, const void *buf, size_t len, ZSTD_EndDirective mode)
{
    ZSTD_inBuffer in = { buf, len, 0 };
    for (;;) {
        ZSTD_outBuffer out = { s->zbuf, ZSTD_OUT_SIZE, 0 };
        size_t left = ZSTD_compressStream2(s->zstd, &out, &in, mode);
        if (ZSTD_isError(left)) {
            log_debug("zstd: %s", ZSTD_getErrorName(left));
            sink_fail(s, -EIO);
            return -EIO;
        }
        if (sink_emit(s, s->zbuf, out.pos) < 0)
            return sink_error(s);
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

/* The sink thread's work on one piece of the tar stream. */
static int sink_process(struct oci_sink *s, const void *buf, size_t len)
{
    rs_sha256_update(&s->diff, buf, len);
    s->tar_size += len;
    switch (s->comp) {
    case OCI_COMPRESS_NONE:
        return sink_emit(s, buf, len);
    case OCI_COMPRESS_ZSTD:
        return zstd_pump(s, buf, len, ZSTD_e_continue);
    case OCI_COMPRESS_GZIP:
        if (archive_write_data(s->gz, buf, len) < 0)
            sink_fail(s, -EIO);
        return sink_error(s);
    case _OCI_COMPRESS_MAX:
        break;
    }
    return -EINVAL;
}

static void sink_end(struct oci_sink *s)
{
    if (!sink_error(s) && s->comp == OCI_COMPRESS_ZSTD)
        (void)zstd_pump(s, NULL, 0, ZSTD_e_end);
    if (!sink_error(s) && s->comp == OCI_COMPRESS_GZIP && archive_write_close(s->gz) != ARCHIVE_OK)
        sink_fail(s, -EIO);
}

/* Take filled slots until closing (then finish the stream) or an error (then only drain). */
static void *sink_main(void *ud)
{
    struct oci_sink *s = ud;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->consumed == s->produced && !s->closing)
            pthread_cond_wait(&s->cond, &s->mu);
        if (s->consumed == s->produced)
            break;
        size_t i = s->consumed % OCI_SINK_SLOTS;
        pthread_mutex_unlock(&s->mu);
        if (!sink_error(s))
            (void)sink_process(s, s->slots[i], s->slot_len[i]);
        pthread_mutex_lock(&s->mu);
        s->consumed++;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    sink_end(s);
    return NULL;
}

/* Hand the slot being filled to the sink thread; waits while every slot is in flight. */
static void sink_publish(struct oci_sink *s)
{
    pthread_mutex_lock(&s->mu);
    s->slot_len[s->produced % OCI_SINK_SLOTS] = s->fill;
    s->produced++;
    s->fill = 0;
    pthread_cond_broadcast(&s->cond);
    while (s->produced - s->consumed >= OCI_SINK_SLOTS)
        pthread_cond_wait(&s->cond, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

/* Stop the thread after what was handed over (and the partial slot when `flush`). */
static void sink_stop(struct oci_sink *s, bool flush)
{
    if (!s->running)
        return;
    pthread_mutex_lock(&s->mu);
    if (flush && s->fill > 0) {
        s->slot_len[s->produced % OCI_SINK_SLOTS] = s->fill;
        s->produced++;
        s->fill = 0;
    }
    s->closing = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->running = false;
}

int oci_sink_init(struct oci_sink *s, int out_fd, enum oci_compression comp, int level,
                  unsigned n_threads, struct rs_err *err)
{
    *s = (struct oci_sink){ .out_fd = out_fd, .comp = comp };
    rs_sha256_init(&s->diff);
    rs_sha256_init(&s->digest);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->sync_ready = true;
    switch (comp) {
    case OCI_COMPRESS_NONE:
        break;
    case OCI_COMPRESS_ZSTD: {
        if (n_threads == 0) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            n_threads = n > 0 ? (unsigned)n : 1;
        }
        s->zstd = ZSTD_createCCtx();
        if (!s->zstd)
            goto oom;
        /* nbWorkers >= 1 always: zstd's multithreaded output is the same for any worker
         * count, but differs from single-threaded mode, and must not depend on the CPU. */
        ZSTD_CCtx_setParameter(s->zstd, ZSTD_c_compressionLevel, level ? level : 3);
        ZSTD_CCtx_setParameter(s->zstd, ZSTD_c_checksumFlag, 1);
        if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zstd, ZSTD_c_nbWorkers, (int)n_threads)))
            log_debug("libzstd without threads; compressing on one CPU");
        s->zbuf = xmalloc(ZSTD_OUT_SIZE);
        break;
    }
    case OCI_COMPRESS_GZIP: {
        /* zlib is not linked directly; libarchive's raw writer is its gzip (`gzip -n`). */
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        s->gz = archive_write_new();
        if (!s->gz || !e)
            goto oom;
        char lvl[16];
        snprintf(lvl, sizeof(lvl), "%d", level ? level : 6);
        if (archive_write_add_filter_gzip(s->gz) != ARCHIVE_OK ||
            archive_write_set_format_raw(s->gz) != ARCHIVE_OK ||
            archive_write_set_filter_option(s->gz, "gzip", "timestamp", NULL) < ARCHIVE_OK ||
            archive_write_set_filter_option(s->gz, "gzip", "compression-level", lvl) < ARCHIVE_OK ||
            archive_write_set_bytes_per_block(s->gz, 0) != ARCHIVE_OK ||
            archive_write_open(s->gz, s, NULL, gz_write_cb, NULL) != ARCHIVE_OK) {
            int r = rs_err_msg(err, -EIO, "cannot set up gzip compression: %s (libarchive)",
                               archive_error_string(s->gz));
            oci_sink_release(s);
            return r;
        }
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_pathname(e, "layer.tar");
        if (archive_write_header(s->gz, e) != ARCHIVE_OK) {
            int r = rs_err_msg(err, -EIO, "cannot start gzip compression: %s (libarchive)",
                               archive_error_string(s->gz));
            oci_sink_release(s);
            return r;
        }
        break;
    }
    case _OCI_COMPRESS_MAX:
        abort();
    }
    for (size_t i = 0; i < OCI_SINK_SLOTS; i++)
        s->slots[i] = xmalloc(OCI_SINK_SLOT_SIZE);
    int r = -pthread_create(&s->thread, NULL, sink_main, s);
    if (r < 0) {
        oci_sink_release(s);
        return rs_err_set(err, r, "cannot start the compression thread");
    }
    s->running = true;
    return 0;
oom:
    oci_sink_release(s);
    return rs_err_set(err, -ENOMEM, "cannot set up compression");
}

int oci_sink_write(struct oci_sink *s, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        int r = sink_error(s);
        if (r < 0)
            return r;
        size_t n = OCI_SINK_SLOT_SIZE - s->fill;
        if (n > len)
            n = len;
        memcpy(s->slots[s->produced % OCI_SINK_SLOTS] + s->fill, p, n);
        s->fill += n;
        p += n;
        len -= n;
        if (s->fill == OCI_SINK_SLOT_SIZE)
            sink_publish(s);
    }
    return sink_error(s);
}

int oci_sink_finish(struct oci_sink *s, struct oci_layer_result *ret, struct rs_err *err)
{
    sink_stop(s, true);
    int r = sink_error(s);
    if (r < 0) {
        oci_sink_release(s);
        return rs_err_set(err, r, "cannot write the layer");
    }
    struct oci_layer_result res = { .size = s->size, .tar_size = s->tar_size };
    rs_sha256_final(&s->diff, res.diff_id);
    rs_sha256_final(&s->digest, res.digest);
    oci_sink_release(s);
    *ret = res;
    return 0;
}

void oci_sink_release(struct oci_sink *s)
{
    if (s->running) {
        /* Abandoned: the thread only drains what it has and ends no stream. */
        sink_fail(s, -ECANCELED);
        sink_stop(s, false);
    }
    if (s->sync_ready) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cond);
        s->sync_ready = false;
    }
    rs_sha256_release(&s->diff);
    rs_sha256_release(&s->digest);
    if (s->zstd)
        ZSTD_freeCCtx(s->zstd);
    s->zstd = NULL;
    if (s->gz)
        archive_write_free(s->gz);
    s->gz = NULL;
    free(s->zbuf);
    s->zbuf = NULL;
    for (size_t i = 0; i < OCI_SINK_SLOTS; i++) {
        free(s->slots[i]);
        s->slots[i] = NULL;
    }
}

/* ---- the tree walk ---- */

struct hardlink {
    dev_t dev;
    ino_t ino;
    char *path;
};

struct wstate {
    struct archive *a;
    struct oci_sink sink;
    int64_t clamp;
    char *buf;
    struct hardlink *links;
    size_t n_links, alloc_links;
};

static la_ssize_t tar_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
    struct wstate *w = ud;
    (void)a;
    return oci_sink_write(&w->sink, buf, len) < 0 ? -1 : (la_ssize_t)len;
}

struct child {
    char *name;    /* on disk */
    char *tarname; /* in the tar: ".wh.NAME" for a whiteout */
    struct stat st;
};

static void children_free(struct child *list, size_t n);

static int child_cmp(const void *pa, const void *pb)
{
    const struct child *a = pa, *b = pb;
    bool wa = strncmp(a->tarname, ".wh.", 4) == 0, wb = strncmp(b->tarname, ".wh.", 4) == 0;
    if (wa != wb)
        return wa ? -1 : 1;
    return strcmp(a->tarname, b->tarname);
}

static bool is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int list_children(int dfd, const char *rel, struct child **ret, size_t *ret_n,
                         struct rs_err *err)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", *rel ? rel : "/");
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    struct child *list = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;

    if (!d) {
        safe_close(fd);
        return rs_err_set(err, -errno, "cannot read '%s'", *rel ? rel : "/");
    }
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == alloc) {
            alloc = alloc ? alloc * 2 : 32;
            list = xreallocarray(list, alloc, sizeof(*list));
        }
        struct child *c = &list[n];
        if (fstatat(dfd, de->d_name, &c->st, AT_SYMLINK_NOFOLLOW) < 0) {
            int r = rs_err_set(err, -errno, "cannot stat '%s/%s'", rel, de->d_name);
            children_free(list, n);
            return r;
        }
        c->name = xstrdup(de->d_name);
        c->tarname = is_whiteout(&c->st) ? xasprintf(".wh.%s", de->d_name) : xstrdup(de->d_name);
        n++;
    }
    if (errno) {
        int r = rs_err_set(err, -errno, "cannot read '%s'", *rel ? rel : "/");
        children_free(list, n);
        return r;
    }
    if (n > 1) /* an empty directory has no list: qsort(NULL, 0) is undefined */
        qsort(list, n, sizeof(*list), child_cmp);
    *ret = list;
    *ret_n = n;
    return 0;
}

static void children_free(struct child *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].name);
        free(list[i].tarname);
    }
    free(list);
}

static int xattr_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Copy fd's xattrs into e, sorted, without overlay's own; note an opaque directory. */
static int add_xattrs(struct archive_entry *e, int fd, const char *rel, bool *ret_opaque,
                      struct rs_err *err)
{
    char names[65536], value[65536];
    ssize_t len = flistxattr(fd, names, sizeof(names));
    const char *list[1024];
    size_t n = 0;

    *ret_opaque = false;
    if (len < 0) {
        if (errno == ENOTSUP)
            return 0;
        return rs_err_set(err, -errno, "cannot list the xattrs of '%s'", rel);
    }
    for (const char *p = names; p < names + len && n < ELEMENTSOF(list); p += strlen(p) + 1)
        list[n++] = p;
    qsort(list, n, sizeof(*list), xattr_name_cmp);
    for (size_t i = 0; i < n; i++) {
        const char *name = list[i];
        bool trusted = strncmp(name, "trusted.overlay.", 16) == 0;
        if (trusted || strncmp(name, "user.overlay.", 13) == 0) {
            const char *what = name + (trusted ? 16 : 13);
            ssize_t vl = fgetxattr(fd, name, value, sizeof(value));
            if (strcmp(what, "opaque") == 0 && vl == 1 && value[0] == 'y')
                *ret_opaque = true;
            else if (strcmp(what, "redirect") == 0 || strcmp(what, "metacopy") == 0)
                return rs_err_msg(err, -ENOTSUP,
                                  "'%s' has the overlay xattr '%s': not a self-contained layer",
                                  rel, name);
            continue;
        }
        ssize_t vl = fgetxattr(fd, name, value, sizeof(value));
        if (vl < 0)
            return rs_err_set(err, -errno, "cannot read the xattr '%s' of '%s'", name, rel);
        archive_entry_xattr_add_entry(e, name, value, (size_t)vl);
    }
    return 0;
}

static void set_common(struct wstate *w, struct archive_entry *e, const char *path,
                       const struct stat *st)
{
    archive_entry_copy_pathname(e, path);
    archive_entry_set_mode(e, st->st_mode);
    archive_entry_set_uid(e, st->st_uid);
    archive_entry_set_gid(e, st->st_gid);
    int64_t mtime = st->st_mtim.tv_sec;
    if (w->clamp >= 0 && mtime > w->clamp)
        mtime = w->clamp;
    archive_entry_set_mtime(e, mtime, 0);
}

static int write_header(struct wstate *w, struct archive_entry *e, const char *path,
                        struct rs_err *err)
{
    if (archive_write_header(w->a, e) < ARCHIVE_OK) {
        if (sink_error(&w->sink))
            return rs_err_set(err, sink_error(&w->sink), "cannot write the layer at '%s'", path);
        return rs_err_msg(err, -EIO, "cannot write '%s' to the layer: %s (libarchive)", path,
                          archive_error_string(w->a));
    }
    return 0;
}

static int write_file_data(struct wstate *w, int fd, const char *path, uint64_t size,
                           struct rs_err *err)
{
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < READ_BUF_SIZE ? (size_t)(size - done) : READ_BUF_SIZE;
        ssize_t n = read(fd, w->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rs_err_set(err, -errno, "cannot read '%s'", path);
        if (n == 0)
            return rs_err_msg(err, -EIO, "'%s' shrank while it was being written", path);
        if (archive_write_data(w->a, w->buf, (size_t)n) < 0)
            return rs_err_set(err, sink_error(&w->sink) ? sink_error(&w->sink) : -EIO,
                              "cannot write the layer at '%s'", path);
        done += (uint64_t)n;
    }
    return 0;
}

static const char *find_link(struct wstate *w, const struct stat *st)
{
    for (size_t i = 0; i < w->n_links; i++)
        if (w->links[i].dev == st->st_dev && w->links[i].ino == st->st_ino)
            return w->links[i].path;
    if (w->n_links == w->alloc_links) {
        w->alloc_links = w->alloc_links ? w->alloc_links * 2 : 64;
        w->links = xreallocarray(w->links, w->alloc_links, sizeof(*w->links));
    }
    return NULL;
}

static int walk_dir(struct wstate *w, int dfd, const char *rel, struct rs_err *err);

static int write_child(struct wstate *w, int dfd, const char *prefix, struct child *c,
                       struct rs_err *err)
{
    _cleanup_free_ char *path =
        *prefix ? xasprintf("%s/%s", prefix, c->tarname) : xstrdup(c->tarname);
    _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
    _cleanup_close_ int fd = -1;
    bool opaque = false;
    int r;

    set_common(w, e, path, &c->st);
    if (is_whiteout(&c->st)) {
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0);
        archive_entry_set_size(e, 0);
        return write_header(w, e, path, err);
    }
    switch (c->st.st_mode & S_IFMT) {
    case S_IFSOCK:
        log_debug("skipping the socket '%s'", path);
        return 0;
    case S_IFLNK: {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(dfd, c->name, target, sizeof(target) - 1);
        if (n < 0)
            return rs_err_set(err, -errno, "cannot read the symlink '%s'", path);
        target[n] = '\0';
        archive_entry_copy_symlink(e, target);
        return write_header(w, e, path, err);
    }
    case S_IFCHR:
    case S_IFBLK:
        archive_entry_set_rdevmajor(e, major(c->st.st_rdev));
        archive_entry_set_rdevminor(e, minor(c->st.st_rdev));
        return write_header(w, e, path, err);
    case S_IFIFO:
        return write_header(w, e, path, err);
    case S_IFDIR:
        fd = openat(dfd, c->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return rs_err_set(err, -errno, "cannot open '%s'", path);
        r = add_xattrs(e, fd, path, &opaque, err);
        if (r < 0)
            return r;
        r = write_header(w, e, path, err);
        if (r < 0)
            return r;
        if (opaque) {
            _cleanup_free_ char *wh = xasprintf("%s/.wh..wh..opq", path);
            _cleanup_(archive_entry_freep) struct archive_entry *o = archive_entry_new();
            set_common(w, o, wh, &c->st);
            archive_entry_set_filetype(o, AE_IFREG);
            archive_entry_set_perm(o, 0);
            archive_entry_set_size(o, 0);
            r = write_header(w, o, wh, err);
            if (r < 0)
                return r;
        }
        return walk_dir(w, fd, path, err);
    case S_IFREG:
        break;
    default:
        return rs_err_msg(err, -EBADMSG, "'%s' has an unknown file type", path);
    }

    if (c->st.st_nlink > 1) {
        const char *first = find_link(w, &c->st);
        if (first) {
            archive_entry_copy_hardlink(e, first);
            archive_entry_set_size(e, 0);
            return write_header(w, e, path, err);
        }
        w->links[w->n_links++] =
            (struct hardlink){ .dev = c->st.st_dev, .ino = c->st.st_ino, .path = xstrdup(path) };
    }
    fd = openat(dfd, c->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    r = add_xattrs(e, fd, path, &opaque, err);
    if (r < 0)
        return r;
    archive_entry_set_size(e, c->st.st_size);
    r = write_header(w, e, path, err);
    if (r < 0)
        return r;
    if (c->st.st_size > READ_BUF_SIZE) /* small files are one read: no syscall to hint them */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return write_file_data(w, fd, path, (uint64_t)c->st.st_size, err);
}

static int walk_dir(struct wstate *w, int dfd, const char *rel, struct rs_err *err)
{
    struct child *list = NULL;
    size_t n = 0;
    int r = list_children(dfd, rel, &list, &n, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n && r >= 0; i++)
        r = write_child(w, dfd, rel, &list[i], err);
    children_free(list, n);
    return r;
}

int oci_layer_write(int layer_fd, int out_fd, const struct oci_layer_write_options *opts,
                    struct oci_layer_result *ret, struct rs_err *err)
{
    struct oci_layer_write_options o = opts ? *opts
                                            : (struct oci_layer_write_options){
                                                  .compression = OCI_COMPRESS_ZSTD,
                                                  .clamp_mtime = -1,
                                              };
    struct wstate w = { .clamp = o.clamp_mtime };
    struct oci_layer_result res;
    int r;

    r = oci_sink_init(&w.sink, out_fd, o.compression, o.level, o.n_threads, err);
    if (r < 0)
        return r;
    w.a = archive_write_new();
    w.buf = xmalloc(READ_BUF_SIZE);
    /* pax_restricted: plain ustar unless a record is needed; SCHILY xattrs only (the default
     * also writes LIBARCHIVE.xattr.*, which GNU tar warns about); no padding of the last
     * block, so the stream ends right after the two zero blocks, like docker's. */
    if (!w.a || archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
        archive_write_set_format_option(w.a, "pax", "xattrheader", "SCHILY") < ARCHIVE_OK ||
        archive_write_set_bytes_per_block(w.a, 64 * 1024) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(w.a, 1) != ARCHIVE_OK ||
        archive_write_open(w.a, &w, NULL, tar_write_cb, NULL) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EIO, "cannot set up the tar writer: %s (libarchive)",
                       w.a ? archive_error_string(w.a) : "out of memory");
        goto out;
    }
    r = walk_dir(&w, layer_fd, "", err);
    if (r < 0)
        goto out;
    if (archive_write_close(w.a) != ARCHIVE_OK) {
        r = rs_err_set(err, sink_error(&w.sink) ? sink_error(&w.sink) : -EIO,
                       "cannot finish the layer tar");
        goto out;
    }
    r = oci_sink_finish(&w.sink, &res, err);
    if (r < 0)
        goto out;
    *ret = res;
out:
    if (r < 0)
        sink_fail(&w.sink, -ECANCELED); /* archive_write_free() must not write a trailer */
    if (w.a)
        archive_write_free(w.a);
    oci_sink_release(&w.sink);
    for (size_t i = 0; i < w.n_links; i++)
        free(w.links[i].path);
    free(w.links);
    free(w.buf);
    return r;
}
