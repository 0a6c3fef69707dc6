/* Unpacking .debs into a new root: ar -> data.tar.{xz,zst,gz} -> image/'s safe extractor,
 * several packages at once. Each worker has its own libarchive readers; they share nothing but
 * the index of the next package and the first error. */

#include "build/root-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/strbuf.h"
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

void build_deb_meta_release(struct build_deb_meta *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_members; i++) {
        free(m->members[i].name);
        free(m->members[i].data);
    }
    free(m->members);
    free(m->list);
    *m = (struct build_deb_meta){ 0 };
}

const struct build_deb_member *build_deb_meta_member(const struct build_deb_meta *m,
                                                     const char *name)
{
    for (size_t i = 0; m && i < m->n_members; i++)
        if (strcmp(m->members[i].name, name) == 0)
            return &m->members[i];
    return NULL;
}

#define MAX_CONTROL_MEMBERS 256
#define MAX_CONTROL_SIZE    (16u << 20)

/* An inner reader over the current ar member `member`: any filter, and tar or (raw) the bare
 * stream. */
static int open_member(struct member_reader *m, bool raw, const char *name, const char *member,
                       struct archive **ret, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *a = archive_read_new();
    if (!a)
        return rs_err_msg(err, -ENOMEM, "libarchive: out of memory");
    if (raw) {
        archive_read_support_format_raw(a);
    } else {
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
    }
    archive_read_support_filter_all(a);
    if (archive_read_open(a, m, NULL, member_read, NULL) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name, member,
                          archive_error_string(a));
    *ret = TAKE_PTR(a);
    return 0;
}

static int read_control(struct member_reader *m, const char *name, const char *member,
                        struct build_deb_meta *meta, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *in = NULL;
    struct archive_entry *e;
    size_t total = 0;
    int ar, r;

    r = open_member(m, false, name, member, &in, err);
    if (r < 0)
        return r;
    while ((ar = archive_read_next_header(in, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        const char *p = archive_entry_pathname(e);
        if (archive_entry_filetype(e) != AE_IFREG || !p)
            continue;
        while (strncmp(p, "./", 2) == 0)
            p += 2;
        int64_t size = archive_entry_size(e);
        if (meta->n_members >= MAX_CONTROL_MEMBERS || size < 0 || !*p || strchr(p, '/') ||
            (uint64_t)size > MAX_CONTROL_SIZE - total)
            return rs_err_msg(err, -EBADMSG, "bad package '%s': control member '%s' refused", name,
                              p);
        total += (size_t)size;
        char *data = xmalloc((size_t)size + 1);
        la_ssize_t n = archive_read_data(in, data, (size_t)size);
        if (n != (la_ssize_t)size) {
            free(data);
            return rs_err_msg(err, -EBADMSG, "bad package '%s': control.tar: %s (libarchive)", name,
                              n < 0 ? archive_error_string(in) : "short member");
        }
        data[size] = '\0';
        meta->members = xrealloc(meta->members, (meta->n_members + 1) * sizeof(*meta->members));
        meta->members[meta->n_members++] = (struct build_deb_member){
            .name = xstrdup(p),
            .mode = archive_entry_perm(e) & 07777,
            .data = data,
            .size = (size_t)size,
        };
    }
    if (ar != ARCHIVE_EOF)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': control.tar: %s (libarchive)", name,
                          archive_error_string(in));
    if (!build_deb_meta_member(meta, "control"))
        return rs_err_msg(err, -EBADMSG, "bad package '%s': no control file", name);
    return 0;
}

/* dpkg's spelling of an entry in <pkg>.list: "./" is "/.", "./usr/" is "/usr". */
static void add_list_entry(struct strbuf *sb, const char *p)
{
    while (strncmp(p, "./", 2) == 0)
        p += 2;
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0 || (n == 1 && p[0] == '.')) {
        (void)strbuf_addstr(sb, "/.\n");
        return;
    }
    (void)strbuf_addch(sb, '/');
    (void)strbuf_add(sb, p, n);
    (void)strbuf_addch(sb, '\n');
}

/* dpkg's md5sums line for a regular file ("<md5>  usr/bin/x"); a hard link repeats its
 * target's sum, which is already in sums. */
static int add_md5sum(struct archive *a, struct archive_entry *e, struct strbuf *sums)
{
    const char *p = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    char buf[64 * 1024], line_hash[2 * 16 + 1];
    unsigned md_len = 0;
    la_ssize_t n;

    while (strncmp(p, "./", 2) == 0)
        p += 2;
    p += strspn(p, "/");
    if (link) {
        while (strncmp(link, "./", 2) == 0)
            link += 2;
        link += strspn(link, "/");
        /* the target's line is "<32 hex>  <target>\n" */
        for (const char *s = sums->buf; s && *s; s = strchr(s, '\n') + 1) {
            size_t len = strcspn(s, "\n");
            if (len == 34 + strlen(link) && memcmp(s + 34, link, len - 34) == 0) {
                /* copied first: the append may move sums->buf */
                memcpy(line_hash, s, 32);
                line_hash[32] = '\0';
                return strbuf_addf(sums, "%s  %s\n", line_hash, p);
            }
            if (!s[len])
                break;
        }
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -ENOMEM;
    }
    while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
        (void)EVP_DigestUpdate(ctx, buf, (size_t)n);
    (void)EVP_DigestFinal_ex(ctx, md, &md_len);
    EVP_MD_CTX_free(ctx);
    if (n < 0 || md_len != 16)
        return -EBADMSG;
    for (unsigned i = 0; i < 16; i++) {
        line_hash[2 * i] = hex[md[i] >> 4];
        line_hash[2 * i + 1] = hex[md[i] & 15];
    }
    line_hash[32] = '\0';
    return strbuf_addf(sums, "%s  %s\n", line_hash, p);
}

/* The entry list (and, when make_sums, the md5sums) from a reader over the whole data.tar. */
static int read_names(struct archive *names, const char *name, const char *member, bool make_sums,
                      struct build_deb_meta *meta, struct rs_err *err)
{
    _cleanup_strbuf_ struct strbuf list = STRBUF_INIT(256u << 20);
    _cleanup_strbuf_ struct strbuf links = STRBUF_INIT(256u << 20);
    _cleanup_strbuf_ struct strbuf sums = STRBUF_INIT(256u << 20);
    struct archive_entry *e;
    int ar;

    while ((ar = archive_read_next_header(names, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
        const char *p = archive_entry_pathname(e);
        if (!p)
            continue;
        bool is_link = archive_entry_filetype(e) == AE_IFLNK && !archive_entry_hardlink(e);
        add_list_entry(is_link ? &links : &list, p);
        if (make_sums && !is_link &&
            (archive_entry_filetype(e) == AE_IFREG || archive_entry_hardlink(e)) &&
            add_md5sum(names, e, &sums) < 0)
            return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: cannot hash '%s'", name, member,
                              p);
    }
    if (ar != ARCHIVE_EOF)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name, member,
                          archive_error_string(names));
    (void)strbuf_add(&list, links.buf ? links.buf : "", links.len);
    if (make_sums && sums.len > 0) {
        size_t len = 0;
        char *data = strbuf_detach(&sums, &len);
        meta->members = xrealloc(meta->members, (meta->n_members + 1) * sizeof(*meta->members));
        meta->members[meta->n_members++] = (struct build_deb_member){
            .name = xstrdup("md5sums"),
            .mode = 0644,
            .data = data,
            .size = len,
            .made = true,
        };
    }
    meta->list = strbuf_detach(&list, &meta->list_len);
    return 0;
}

/* The data.tar decompressed once into a memfd, then read twice from memory: its entry list
 * (the extractor does not report entries), then the extraction. */
static int extract_with_list(struct member_reader *m, int root_fd, const char *name,
                             const char *member, const struct oci_extract_options *o,
                             struct build_deb_meta *meta, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *raw = NULL;
    _cleanup_(archive_read_freep) struct archive *names = NULL, *in = NULL;
    _cleanup_close_ int mfd = -1;
    struct archive_entry *e;
    uint64_t size = 0;
    char buf[128 * 1024];
    la_ssize_t n;
    void *map = MAP_FAILED;
    int r = 0;

    r = open_member(m, true, name, member, &raw, err);
    if (r < 0)
        return r;
    if (archive_read_next_header(raw, &e) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name, member,
                          archive_error_string(raw));
    mfd = memfd_create("mkroot-data-tar", MFD_CLOEXEC);
    if (mfd < 0)
        return rs_err_set(err, -errno, "cannot create a buffer for '%s'", name);
    while ((n = archive_read_data(raw, buf, sizeof(buf))) > 0) {
        if ((uint64_t)n > OCI_DEFAULT_MAX_BYTES - size)
            return rs_err_msg(err, -EFBIG, "bad package '%s': %s exceeds %llu bytes", name, member,
                              (unsigned long long)OCI_DEFAULT_MAX_BYTES);
        size += (uint64_t)n;
        r = rs_write_all(mfd, buf, (size_t)n);
        if (r < 0)
            return rs_err_set(err, r, "cannot buffer '%s' of '%s'", member, name);
    }
    if (n < 0)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name, member,
                          archive_error_string(raw));
    if (size > 0) {
        map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, mfd, 0);
        if (map == MAP_FAILED)
            return rs_err_set(err, -errno, "cannot map '%s' of '%s'", member, name);
    }
    names = archive_read_new();
    in = archive_read_new();
    if (!names || !in) {
        r = rs_err_msg(err, -ENOMEM, "libarchive: out of memory");
        goto out;
    }
    archive_read_support_format_tar(names);
    archive_read_support_format_gnutar(names);
    archive_read_support_format_tar(in);
    archive_read_support_format_gnutar(in);
    if (archive_read_open_memory(names, size ? map : "", (size_t)size) != ARCHIVE_OK ||
        archive_read_open_memory(in, size ? map : "", (size_t)size) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EBADMSG, "bad package '%s': %s: %s (libarchive)", name, member,
                       archive_error_string(names));
        goto out;
    }
    r = oci_tar_extract(in, root_fd, o, NULL, err);
    if (r < 0) {
        r = rs_err_wrap(err, "cannot unpack '%s'", name);
        goto out;
    }
    r = read_names(names, name, member, !build_deb_meta_member(meta, "md5sums"), meta, err);
out:
    if (map != MAP_FAILED)
        (void)munmap(map, size);
    return r;
}

int build_deb_extract_data(int deb_fd, int root_fd, const char *name,
                           struct build_deb_meta *ret_meta, struct rs_err *err)
{
    _cleanup_(archive_read_freep) struct archive *outer = archive_read_new();
    _cleanup_(archive_read_freep) struct archive *inner = NULL;
    _cleanup_free_ struct member_reader *m = NULL;
    struct build_deb_meta meta = { 0 };
    struct archive_entry *e;
    int ar, r;

    if (!outer)
        return rs_err_msg(err, -ENOMEM, "libarchive: out of memory");
    archive_read_support_format_ar(outer);
    if (archive_read_open_fd(outer, deb_fd, 64 * 1024) != ARCHIVE_OK)
        return rs_err_msg(err, -EBADMSG, "bad package '%s': %s (libarchive)", name,
                          archive_error_string(outer));
    m = xmalloc(sizeof(*m));
    m->outer = outer;
    for (;;) {
        ar = archive_read_next_header(outer, &e);
        if (ar == ARCHIVE_EOF) {
            build_deb_meta_release(&meta);
            return rs_err_msg(err, -EBADMSG, "bad package '%s': no data.tar member", name);
        }
        if (ar < ARCHIVE_WARN) {
            build_deb_meta_release(&meta);
            return rs_err_msg(err, -EBADMSG, "bad package '%s': %s (libarchive)", name,
                              archive_error_string(outer));
        }
        if (ret_meta && strncmp(archive_entry_pathname(e), "control.tar", 11) == 0) {
            r = read_control(m, name, archive_entry_pathname(e), &meta, err);
            if (r < 0) {
                build_deb_meta_release(&meta);
                return r;
            }
        }
        if (is_data_member(archive_entry_pathname(e)))
            break;
    }
    struct oci_extract_options o = {
        .flags =
            OCI_EXTRACT_ALLOW_DEVICES | OCI_EXTRACT_KEEP_DIR_SYMLINKS | OCI_EXTRACT_FOLLOW_SYMLINKS,
    };
    if (ret_meta) {
        if (meta.n_members == 0)
            return rs_err_msg(err, -EBADMSG, "bad package '%s': no control.tar before data.tar",
                              name);
        r = extract_with_list(m, root_fd, name, archive_entry_pathname(e), &o, &meta, err);
        if (r < 0) {
            build_deb_meta_release(&meta);
            return r;
        }
        *ret_meta = meta;
        return 0;
    }
    r = open_member(m, false, name, archive_entry_pathname(e), &inner, err);
    if (r < 0)
        return r;
    r = oci_tar_extract(inner, root_fd, &o, NULL, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot unpack '%s'", name);
    return 0;
}

/* The workers share the order of the packages (first ones, then largest .deb first), which of
 * them are in the store yet (ready) and which a worker has taken; a worker takes the first
 * ready one not taken, or waits for one. */
struct build_unpacker {
    struct cache *c;
    const struct build_pkg_list *l;
    size_t *order; /* owned: indexes into l, in the order to take them */
    size_t n_order, n_first;
    int root_fd;
    int stage_fd;                 /* -1, or where each package's dpkg records go */
    struct build_deb_meta *metas; /* NULL, or one per package of l */
    pthread_t *threads;           /* owned */
    unsigned n_threads;
    pthread_mutex_t lock; /* guards all below */
    pthread_cond_t cond;  /* a package became ready, a first one was done, or the feed ended */
    bool *ready;          /* owned, per package of l */
    bool *taken;          /* owned, per position in order */
    size_t n_taken, n_first_done, done;
    bool first_busy, fed, fed_ok, failed;
    struct rs_err err;
    struct rs_progress *progress;
    bool show_progress; /* not while the download draws its own */
    uint64_t bytes_done;
};

static int unpack_one(struct build_unpacker *u, size_t i, struct rs_err *err)
{
    const struct build_pkg *p = &u->l->pkgs[i];
    _cleanup_close_ int fd = -1;
    int r;

    r = cache_blob_open(u->c, p->sha256, &fd, err);
    if (r < 0)
        return rs_err_wrap(err, "package '%s'", p->name);
    r = build_deb_extract_data(fd, u->root_fd, p->name, u->metas ? &u->metas[i] : NULL, err);
    if (r < 0 || u->stage_fd < 0)
        return r;
    return build_dpkg_stage_records(u->stage_fd, p, &u->metas[i], err);
}

static void fail_locked(struct build_unpacker *u, int code, const char *msg)
{
    if (!u->failed && !u->err.msg)
        (void)rs_err_msg(&u->err, code, "%s", msg);
    u->failed = true;
    pthread_cond_broadcast(&u->cond);
}

/* Under u->lock: the position in order of the next package to extract, or -1 when there is
 * nothing more to do. Waits while the next package is not in the store yet. */
static ssize_t take_next_locked(struct build_unpacker *u)
{
    for (;;) {
        if (build_interrupted)
            fail_locked(u, -EINTR, "interrupted");
        if (u->failed || u->n_taken == u->n_order)
            return -1;
        if (u->n_first_done < u->n_first) {
            /* The first ones go alone, one after the other. */
            size_t k = u->n_first_done;
            if (!u->first_busy && u->ready[u->order[k]]) {
                u->first_busy = true;
                u->taken[k] = true;
                u->n_taken++;
                return (ssize_t)k;
            }
        } else {
            for (size_t k = u->n_first; k < u->n_order; k++)
                if (!u->taken[k] && u->ready[u->order[k]]) {
                    u->taken[k] = true;
                    u->n_taken++;
                    return (ssize_t)k;
                }
        }
        if (u->fed && !u->fed_ok) {
            fail_locked(u, -ECANCELED, "unpacking cancelled");
            return -1;
        }
        pthread_cond_wait(&u->cond, &u->lock);
    }
}

static void *unpack_worker(void *data)
{
    struct build_unpacker *u = data;

    pthread_mutex_lock(&u->lock);
    for (;;) {
        struct rs_err err = RS_ERR_INIT;
        ssize_t k = take_next_locked(u);
        if (k < 0)
            break;
        size_t i = u->order[k];
        pthread_mutex_unlock(&u->lock);
        int r = unpack_one(u, i, &err);
        pthread_mutex_lock(&u->lock);
        if ((size_t)k < u->n_first) {
            u->first_busy = false;
            u->n_first_done++;
            pthread_cond_broadcast(&u->cond);
        }
        if (r < 0) {
            if (!u->failed) {
                rs_err_release(&u->err);
                rs_err_move(&u->err, &err);
            }
            u->failed = true;
            pthread_cond_broadcast(&u->cond);
            rs_err_release(&err);
            continue;
        }
        u->bytes_done += u->l->pkgs[i].size;
        u->done++;
        if (u->show_progress)
            rs_progress_update(u->progress, u->done, u->bytes_done);
    }
    pthread_mutex_unlock(&u->lock);
    return NULL;
}

/* Largest .deb first (ties in list order), so that the workers run out of packages
 * together rather than one extracting a big package alone at the end. */
static int cmp_size_desc(const void *a, const void *b, void *data)
{
    const struct build_pkg_list *l = data;
    size_t i = *(const size_t *)a, k = *(const size_t *)b;
    uint64_t si = l->pkgs[i].size, sk = l->pkgs[k].size;

    if (si != sk)
        return si < sk ? 1 : -1;
    return i < k ? -1 : i > k;
}

int build_unpacker_new(struct cache *c, const struct build_pkg_list *l, char *const *first,
                       int root_fd, unsigned n_threads, struct build_deb_meta *metas, int stage_fd,
                       struct build_unpacker **ret, struct rs_err *err)
{
    struct build_unpacker *u = xcalloc(1, sizeof(*u));
    sigset_t block, old;
    uint64_t total = 0;
    size_t n = 0;

    (void)err;
    u->c = c;
    u->l = l;
    u->root_fd = root_fd;
    u->stage_fd = metas ? stage_fd : -1;
    u->metas = metas;
    u->err = (struct rs_err)RS_ERR_INIT;
    u->order = xcalloc(l->n_pkgs + 1, sizeof(size_t));
    u->ready = xcalloc(l->n_pkgs + 1, sizeof(bool));
    u->taken = xcalloc(l->n_pkgs + 1, sizeof(bool));
    /* `first` go one by one, before anything else runs. */
    for (size_t f = 0; first && first[f]; f++)
        for (size_t i = 0; i < l->n_pkgs; i++)
            if (strcmp(l->pkgs[i].name, first[f]) == 0)
                u->order[n++] = i;
    u->n_first = n;
    for (size_t i = 0; i < l->n_pkgs; i++) {
        total += l->pkgs[i].size;
        if (!strv_contains(first, l->pkgs[i].name))
            u->order[n++] = i;
    }
    u->n_order = n;
    qsort_r(u->order + u->n_first, n - u->n_first, sizeof(*u->order), cmp_size_desc, (void *)l);
    if (n_threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (n_threads > 16)
        n_threads = 16;
    u->progress = rs_progress_new("unpacking", l->n_pkgs, total);
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    /* SIGINT and SIGTERM go to the calling thread: a download waiting in poll() wakes up. */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    u->threads = xcalloc(n_threads, sizeof(pthread_t));
    for (; u->n_threads < n_threads; u->n_threads++)
        if (pthread_create(&u->threads[u->n_threads], NULL, unpack_worker, u) != 0)
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    *ret = u;
    return 0;
}

void build_unpacker_ready(struct build_unpacker *u, size_t i)
{
    pthread_mutex_lock(&u->lock);
    if (i < u->l->n_pkgs && !u->ready[i]) {
        u->ready[i] = true;
        pthread_cond_broadcast(&u->cond);
    }
    pthread_mutex_unlock(&u->lock);
}

bool build_unpacker_failed(struct build_unpacker *u)
{
    pthread_mutex_lock(&u->lock);
    bool failed = u->failed;
    pthread_mutex_unlock(&u->lock);
    return failed;
}

int build_unpacker_finish(struct build_unpacker *u, bool fed_ok, struct rs_err *err)
{
    int r = 0;

    pthread_mutex_lock(&u->lock);
    u->fed = true;
    u->fed_ok = fed_ok;
    if (fed_ok)
        for (size_t i = 0; i < u->l->n_pkgs; i++)
            u->ready[i] = true;
    u->show_progress = true;
    if (u->done > 0)
        rs_progress_update(u->progress, u->done, u->bytes_done);
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
    /* No worker could be started: this thread does the work. */
    if (u->n_threads == 0)
        (void)unpack_worker(u);
    for (unsigned t = 0; t < u->n_threads; t++)
        pthread_join(u->threads[t], NULL);
    if (build_interrupted && !u->failed)
        fail_locked(u, -EINTR, "interrupted");
    if (u->failed) {
        rs_progress_free(u->progress);
        r = rs_err_ret(&u->err);
        rs_err_move(err, &u->err);
    } else {
        rs_progress_done(u->progress);
    }
    rs_err_release(&u->err);
    pthread_cond_destroy(&u->cond);
    pthread_mutex_destroy(&u->lock);
    free(u->threads);
    free(u->order);
    free(u->ready);
    free(u->taken);
    free(u);
    return r;
}

int build_unpack_all(struct cache *c, const struct build_pkg_list *l, char *const *first,
                     int root_fd, unsigned n_threads, struct build_deb_meta *metas, int stage_fd,
                     struct rs_err *err)
{
    struct build_unpacker *u = NULL;
    int r;

    r = build_unpacker_new(c, l, first, root_fd, n_threads, metas, stage_fd, &u, err);
    if (r < 0)
        return r;
    return build_unpacker_finish(u, true, err);
}
