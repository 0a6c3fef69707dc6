/* Unpacking .debs into a new root: ar -> data.tar.{xz,zst,gz} -> image/'s safe extractor,
 * several packages at once. Each worker has its own libarchive readers; they share nothing but
 * the index of the next package and the first error. */

#include "build/root-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/oci.h"

volatile sig_atomic_t build_interrupted;

static void archive_read_freep(struct archive **a)
{
    if (*a)
        (void)archive_read_free(*a);
}

struct member_reader {
    struct archive *outer;
    char buf[128 * 1024];
};

static la_ssize_t member_read(struct archive *a, void *data, const void **ret_buf)
{
    struct member_reader *m = data;
    la_ssize_t n;

    (void)a;
    n = archive_read_data(m->outer, m->buf, sizeof(m->buf));
    if (n < 0) {
        archive_set_error(a, archive_errno(m->outer) ? archive_errno(m->outer) : EIO, "%s",
                          archive_error_string(m->outer) ? archive_error_string(m->outer)
                                                         : "read error");
        return -1;
    }
    *ret_buf = m->buf;
    return n;
}

static bool is_data_member(const char *p)
{
    return strcmp(p, "data.tar") == 0 || (strncmp(p, "data.tar.", 9) == 0 &&
                                          (strcmp(p + 9, "xz") == 0 || strcmp(p + 9, "zst") == 0 ||
                                           strcmp(p + 9, "gz") == 0 || strcmp(p + 9, "bz2") == 0));
}

int build_deb_extract_data(int deb_fd, int root_fd, const char *name, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *outer = archive_read_new();
    _cleanup_(archive_read_freep) struct archive *inner = NULL;
    _cleanup_free_ struct member_reader *m = NULL;
    struct archive_entry *e;
    int ar;

    if (!outer)
        return rs_err_msg(err, -ENOMEM, "libarchive: out of memory");
    archive_read_support_format_ar(outer);
    if (archive_read_open_fd(outer, deb_fd, 64 * 1024) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s (libarchive)", name,
                          archive_error_string(outer));
    for (;;) {
        ar = archive_read_next_header(outer, &e);
        if (ar == ARCHIVE_EOF)
            return rs_err_msg(err, -EBADMSG, "bad package '%s': no data.tar member", name);
        if (ar < ARCHIVE_WARN)
            return rs_err_msg(err, -EBADMSG, "bad package '%s': %s (libarchive)", name,
                              archive_error_string(outer));
        if (is_data_member(archive_entry_pathname(e)))
            break;
    }
    m = xmalloc(sizeof(*m));
    m->outer = outer;
    inner = archive_read_new();
    if (!inner)
        return rs_err_msg(err, -ENOMEM, "libarchive: out of memory");
    archive_read_support_format_tar(inner);
    archive_read_support_format_gnutar(inner);
    archive_read_support_filter_all(inner);
    if (archive_read_open(inner, m, NULL, member_read, NULL) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name,
                          archive_entry_pathname(e), archive_error_string(inner));
    struct oci_extract_options o = {
        .flags =
            OCI_EXTRACT_ALLOW_DEVICES | OCI_EXTRACT_KEEP_DIR_SYMLINKS | OCI_EXTRACT_FOLLOW_SYMLINKS,
    };
    int r = oci_tar_extract(inner, root_fd, &o, NULL, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot unpack '%s'", name);
    return 0;
}

struct unpack_job {
    struct cache *c;
    const struct build_pkg_list *l;
    const size_t *order; /* indexes into l, in the order to take them */
    size_t n_order;
    int root_fd;
    atomic_size_t next;
    atomic_size_t done;
    atomic_int failed;
    pthread_mutex_t lock; /* guards err and progress */
    struct rs_err err;
    struct rs_progress *progress;
    uint64_t bytes_done;
};

static int unpack_one(struct unpack_job *j, const struct build_pkg *p, struct rs_err *err)
{
    int r = 0;

    /* Two workers may create the same directory at once; image/'s extractor reports the loser's
     * mkdir as -EEXIST. Extracting the package again is safe (directories merge, files are
     * replaced), so a few attempts absorb the race. */
    for (int attempt = 0; attempt < 5; attempt++) {
        _cleanup_close_ int fd = -1;
        if (attempt > 0) {
            log_debug("unpacking '%s' again after a concurrent mkdir: %s", p->name, err->msg);
            rs_err_release(err);
        }
        r = cache_blob_open(j->c, p->sha256, &fd, err);
        if (r < 0)
            return rs_err_wrap(err, "package '%s'", p->name);
        r = build_deb_extract_data(fd, j->root_fd, p->name, err);
        if (r != -EEXIST)
            break;
    }
    return r;
}

static void *unpack_worker(void *data)
{
    struct unpack_job *j = data;

    for (;;) {
        struct rs_err err = RS_ERR_INIT;
        size_t k = atomic_fetch_add(&j->next, 1);
        if (k >= j->n_order || atomic_load(&j->failed))
            break;
        if (build_interrupted) {
            atomic_store(&j->failed, 1);
            pthread_mutex_lock(&j->lock);
            if (!j->err.msg)
                (void)rs_err_msg(&j->err, -EINTR, "interrupted");
            pthread_mutex_unlock(&j->lock);
            break;
        }
        const struct build_pkg *p = &j->l->pkgs[j->order[k]];
        int r = unpack_one(j, p, &err);
        pthread_mutex_lock(&j->lock);
        if (r < 0) {
            if (!atomic_exchange(&j->failed, 1))
                rs_err_move(&j->err, &err);
            rs_err_release(&err);
        } else {
            j->bytes_done += p->size;
            rs_progress_update(j->progress, atomic_fetch_add(&j->done, 1) + 1, j->bytes_done);
        }
        pthread_mutex_unlock(&j->lock);
    }
    return NULL;
}

int build_unpack_all(struct cache *c, const struct build_pkg_list *l, char *const *first,
                     int root_fd, unsigned n_threads, struct rs_err *err)
{
    _cleanup_free_ size_t *order = xcalloc(l->n_pkgs ? l->n_pkgs : 1, sizeof(size_t));
    _cleanup_free_ pthread_t *threads = NULL;
    size_t n_first = 0, n = 0;
    uint64_t total = 0;
    int r = 0;

    /* `first` go one by one, before anything else runs. */
    for (size_t f = 0; first && first[f]; f++)
        for (size_t i = 0; i < l->n_pkgs; i++)
            if (strcmp(l->pkgs[i].name, first[f]) == 0)
                order[n++] = i;
    n_first = n;
    for (size_t i = 0; i < l->n_pkgs; i++) {
        total += l->pkgs[i].size;
        if (!strv_contains(first, l->pkgs[i].name))
            order[n++] = i;
    }
    if (n_threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (n_threads > 16)
        n_threads = 16;

    struct unpack_job j = {
        .c = c,
        .l = l,
        .order = order,
        .n_order = n_first,
        .root_fd = root_fd,
        .err = RS_ERR_INIT,
        .progress = rs_progress_new("unpacking", l->n_pkgs, total),
    };
    pthread_mutex_init(&j.lock, NULL);
    unpack_worker(&j);
    if (!atomic_load(&j.failed)) {
        j.n_order = n;
        atomic_store(&j.next, n_first);
        threads = xcalloc(n_threads, sizeof(pthread_t));
        unsigned started = 0;
        for (; started + 1 < n_threads; started++)
            if (pthread_create(&threads[started], NULL, unpack_worker, &j) != 0)
                break;
        unpack_worker(&j);
        for (unsigned t = 0; t < started; t++)
            pthread_join(threads[t], NULL);
    }
    pthread_mutex_destroy(&j.lock);
    if (atomic_load(&j.failed)) {
        rs_progress_free(j.progress);
        r = rs_err_ret(&j.err);
        rs_err_move(err, &j.err);
        return r;
    }
    rs_progress_done(j.progress);
    return 0;
}
