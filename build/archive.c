/* The archive client: mirror, signed Release, Packages indexes (kept in the store by digest,
 * revalidated with a conditional GET), resolution and the parallel download of .debs. */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <libdeflate.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define DEFAULT_KEYRING  "/usr/share/keyrings/debian-archive-keyring.gpg"
#define STATE_DIR        "archive"
#define MAX_INDEX_SIZE   (1ull << 30)
#define MAX_RELEASE_SIZE (16u << 20)

struct build_archive {
    struct cache *c;
    char *mirror, *arch, *suite_dir, *keyring;
    char **components;
    bool no_verify, no_check_valid_until, offline;
    struct release_info ri;
    struct pkg_index idx;
    bool idx_loaded; /* the indexes are parsed on the first resolution the cache cannot answer */
    struct index_keeper *keepers; /* owned; see keep_index() */
    size_t n_keepers;
};

/* A decompressed index being written to the store (56 MB and an fsync: ~0.3 s on this ext4)
 * by a thread of its own while the index is parsed, the packages resolved and downloaded: it
 * only spares a later run the decompression, so nothing waits for it but the end of
 * build_download() (the build forks) and the teardown. buf belongs to the index (a->idx),
 * which outlives the thread. */
struct index_keeper {
    pthread_t thread;
    struct cache *c;
    const char *buf;
    size_t len;
};

static void *keep_index_thread(void *data)
{
    struct index_keeper *k = data;
    struct rs_err e = RS_ERR_INIT;

    if (cache_blob_put(k->c, k->buf, k->len, NULL, &e) < 0)
        log_debug("cannot keep the uncompressed index: %s", e.msg);
    rs_err_release(&e);
    return NULL;
}

static void keep_index(struct build_archive *a, const char *buf, size_t len)
{
    struct index_keeper *k;

    a->keepers = xreallocarray(a->keepers, a->n_keepers + 1, sizeof(*a->keepers));
    k = &a->keepers[a->n_keepers];
    *k = (struct index_keeper){ .c = a->c, .buf = buf, .len = len };
    if (pthread_create(&k->thread, NULL, keep_index_thread, k) == 0)
        a->n_keepers++;
    else
        (void)keep_index_thread(k);
}

/* Wait for every keep_index() thread. */
static void keep_index_wait(struct build_archive *a)
{
    for (size_t i = 0; i < a->n_keepers; i++)
        pthread_join(a->keepers[i].thread, NULL);
    free(a->keepers);
    a->keepers = NULL;
    a->n_keepers = 0;
}

const struct build_release *build_archive_release(const struct build_archive *a)
{
    return &a->ri.r;
}

const char *build_archive_mirror(const struct build_archive *a)
{
    return a->mirror;
}

const char *build_archive_arch(const struct build_archive *a)
{
    return a->arch;
}

char *const *build_archive_components(const struct build_archive *a)
{
    return a->components;
}

struct build_archive *build_archive_free(struct build_archive *a)
{
    if (!a)
        return NULL;
    keep_index_wait(a);
    free(a->mirror);
    free(a->arch);
    free(a->suite_dir);
    free(a->keyring);
    strv_free(a->components);
    release_info_release(&a->ri);
    pkg_index_release(&a->idx);
    free(a);
    return NULL;
}

/* ---- validators: what the store remembers about a URL ---- */

struct url_state {
    char *etag, *last_modified;
    char blob[RS_SHA256_HEX_LEN + 1];
};

static char *state_name(const char *url)
{
    char hex[RS_SHA256_HEX_LEN + 1];
    rs_sha256_buf(url, strlen(url), hex);
    return xasprintf(STATE_DIR "/%s", hex);
}

static void state_load(struct build_archive *a, const char *url, struct url_state *st)
{
    _cleanup_free_ char *name = state_name(url), *text = NULL;
    struct rs_err e = RS_ERR_INIT;
    struct deb822_parser p;
    struct deb822_para para;
    struct deb822_field f;
    size_t len;

    *st = (struct url_state){ 0 };
    if (rs_read_file_at(cache_dir_fd(a->c), name, 64 << 10, &text, &len, &e) < 0) {
        rs_err_release(&e);
        return;
    }
    deb822_parser_init(&p, text, len, name);
    if (deb822_next(&p, &para, &e) > 0) {
        _cleanup_free_ char *u = NULL, *blob = NULL;
        if (deb822_get(&para, "URL", &f))
            u = deb822_value_dup(&f);
        if (deb822_get(&para, "Blob", &f))
            blob = deb822_value_dup(&f);
        if (u && strcmp(u, url) == 0 && blob && rs_sha256_hex_valid(blob) &&
            cache_blob_has(a->c, blob)) {
            memcpy(st->blob, blob, sizeof(st->blob));
            if (deb822_get(&para, "ETag", &f))
                st->etag = deb822_value_dup(&f);
            if (deb822_get(&para, "Last-Modified", &f))
                st->last_modified = deb822_value_dup(&f);
        }
    }
    rs_err_release(&e);
    deb822_parser_release(&p);
}

static void state_release(struct url_state *st)
{
    free(st->etag);
    free(st->last_modified);
    *st = (struct url_state){ 0 };
}

static bool header_value_ok(const char *s)
{
    return s && *s && !strpbrk(s, "\r\n");
}

static int state_save(struct build_archive *a, const char *url, const struct url_state *st,
                      struct rs_err *err)
{
    _cleanup_free_ char *name = state_name(url);
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(64 << 10);

    if (mkdirat(cache_dir_fd(a->c), STATE_DIR, 0755) < 0 && errno != EEXIST)
        return rs_err_set(err, -errno, "cannot create '%s/" STATE_DIR "'", cache_root(a->c));
    (void)strbuf_addf(&sb, "URL: %s\nBlob: %s\n", url, st->blob);
    if (header_value_ok(st->etag))
        (void)strbuf_addf(&sb, "ETag: %s\n", st->etag);
    if (header_value_ok(st->last_modified))
        (void)strbuf_addf(&sb, "Last-Modified: %s\n", st->last_modified);
    return rs_write_file_atomic_at(cache_dir_fd(a->c), name, sb.buf, sb.len, 0644, 0, err);
}

/* Fetch a small file (Release, InRelease, Release.gpg) into the store, revalidating what the
 * store has with If-None-Match / If-Modified-Since. *ret_found is false on 404. */
static int fetch_small(struct build_archive *a, const char *url, char hex[RS_SHA256_HEX_LEN + 1],
                       bool *ret_found, struct rs_err *err)
{
    struct url_state st;
    struct http_req req = { .url = url, .label = url, .max_body = MAX_RELEASE_SIZE };
    struct http_req *reqs[] = { &req };
    struct http_opts o = { .accept_404 = true };
    int r;

    state_load(a, url, &st);
    if (a->offline) {
        if (!st.blob[0]) {
            state_release(&st);
            *ret_found = false;
            return 0;
        }
        memcpy(hex, st.blob, RS_SHA256_HEX_LEN + 1);
        *ret_found = true;
        state_release(&st);
        return 0;
    }
    if (st.blob[0]) {
        req.etag = st.etag;
        req.last_modified = st.last_modified;
    }
    r = http_run(a->c, reqs, 1, &o, NULL, err);
    if (r < 0)
        goto out;
    if (req.status == 404) {
        *ret_found = false;
        goto out;
    }
    *ret_found = true;
    if (req.status == 304 && st.blob[0]) {
        log_debug("'%s' not modified", url);
        memcpy(hex, st.blob, RS_SHA256_HEX_LEN + 1);
        goto out;
    }
    r = cache_blob_put(a->c, req.body ? req.body : "", req.body_len, hex, err);
    if (r < 0)
        goto out;
    free(st.etag);
    free(st.last_modified);
    st.etag = TAKE_PTR(req.etag_out);
    st.last_modified = TAKE_PTR(req.last_modified_out);
    memcpy(st.blob, hex, RS_SHA256_HEX_LEN + 1);
    r = state_save(a, url, &st, err);
out:
    state_release(&st);
    http_req_release(&req);
    return r;
}

/* Read a small blob whole and check it is what its name says: a cached signature verdict is
 * only as good as the bytes it was given for. */
static int read_blob(struct build_archive *a, const char *hex, size_t max, char **ret,
                     size_t *ret_len, struct rs_err *err)
{
    char got[RS_SHA256_HEX_LEN + 1];
    _cleanup_close_ int fd = -1;
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(max);
    int r = cache_blob_open(a->c, hex, &fd, err);
    if (r < 0)
        return r;
    for (;;) {
        char buf[1 << 16];
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rs_err_set(err, -errno, "cannot read blob '%s'", hex);
        if (n == 0)
            break;
        if (strbuf_add(&sb, buf, (size_t)n) < 0)
            return rs_err_msg(err, -EFBIG, "blob '%s' is larger than %zu bytes", hex, max);
    }
    (void)strbuf_add(&sb, "", 0);
    rs_sha256_buf(sb.buf, sb.len, got);
    if (strcmp(got, hex) != 0)
        return rs_err_msg(err, -EBADMSG, "blob '%s' in the store is corrupt (SHA256 %s)", hex, got);
    *ret = strbuf_detach(&sb, ret_len);
    return 0;
}

/* ---- Release ---- */

static int verify(struct build_archive *a, const char *data_hex, const char *sig_hex,
                  const char *what, char **ret_fpr, struct rs_err *err)
{
    _cleanup_free_ char *data = cache_blob_path(a->c, data_hex);
    _cleanup_free_ char *sig = sig_hex ? cache_blob_path(a->c, sig_hex) : NULL;
    _cleanup_free_ char *key = verify_cache_key(a->keyring, data_hex, sig_hex);
    struct rs_err e = RS_ERR_INIT;
    int r;

    /* gpgv costs ~50 ms; the same bytes with the same keyring get the same verdict. */
    if (key && verify_cache_get(a->c, key, ret_fpr) > 0) {
        log_debug("'%s' verified before (signed by %s)", what, *ret_fpr);
        return 0;
    }
    r = gpgv_verify(a->keyring, data, sig, ret_fpr, NULL, err);
    if (r < 0) {
        rs_err_wrap(err, "cannot verify '%s'", what);
        if (r == -EBADMSG)
            rs_err_hint(err,
                        "check the keyring (--keyring FILE) or, at your own risk, use --no-verify");
        return r;
    }
    if (key && verify_cache_put(a->c, key, *ret_fpr, &e) < 0)
        log_debug("cannot remember the verdict for '%s': %s", what, e.msg ? e.msg : "?");
    rs_err_release(&e);
    return r;
}

static int fetch_release(struct build_archive *a, const char *suite, struct release_info *ret,
                         struct rs_err *err)
{
    _cleanup_free_ char *base = xasprintf("%s/dists/%s", a->mirror, suite);
    _cleanup_free_ char *url = xasprintf("%s/InRelease", base);
    _cleanup_free_ char *text = NULL, *raw = NULL, *fpr = NULL;
    char hex[RS_SHA256_HEX_LEN + 1], sig_hex[RS_SHA256_HEX_LEN + 1];
    struct release_info ri;
    size_t len, raw_len;
    bool found;
    int r;

    r = fetch_small(a, url, hex, &found, err);
    if (r < 0)
        return r;
    if (found) {
        if (!a->no_verify) {
            r = verify(a, hex, NULL, url, &fpr, err);
            if (r < 0)
                return r;
        }
        r = read_blob(a, hex, MAX_RELEASE_SIZE, &raw, &raw_len, err);
        if (r < 0)
            return r;
        r = pgp_clearsigned_text(raw, raw_len, &text, &len, err);
        if (r < 0)
            return rs_err_wrap(err, "'%s'", url);
    } else {
        free(url);
        url = xasprintf("%s/Release", base);
        r = fetch_small(a, url, hex, &found, err);
        if (r < 0)
            return r;
        if (!found) {
            r = rs_err_msg(err, -ENOENT, "suite '%s' not found at '%s'%s", suite, a->mirror,
                           a->offline ? " in the store (offline)" : "");
            rs_err_context(err, "neither '%s/InRelease' nor '%s/Release' %s", base, base,
                           a->offline ? "was fetched before" : "exists");
            return r;
        }
        if (!a->no_verify) {
            _cleanup_free_ char *sig_url = xasprintf("%s/Release.gpg", base);
            r = fetch_small(a, sig_url, sig_hex, &found, err);
            if (r < 0)
                return r;
            if (!found) {
                r = rs_err_msg(
                    err, -EBADMSG,
                    "cannot verify '%s': missing signature (no InRelease, no Release.gpg)", url);
                rs_err_hint(err, "at your own risk, use --no-verify");
                return r;
            }
            r = verify(a, hex, sig_hex, url, &fpr, err);
            if (r < 0)
                return r;
        }
        r = read_blob(a, hex, MAX_RELEASE_SIZE, &text, &len, err);
        if (r < 0)
            return r;
    }
    r = release_parse(text, len, url, &ri, err);
    if (r < 0)
        return r;
    ri.r.verified = !a->no_verify;
    ri.r.signed_by = TAKE_PTR(fpr);
    ri.r.release_sha256 = xstrdup(hex);
    if (ri.r.valid_until_time && ri.r.valid_until_time < time(NULL)) {
        if (!a->no_verify && !a->no_check_valid_until) {
            r = rs_err_msg(err, -EKEYEXPIRED, "'%s' expired on %s (Valid-Until)", url,
                           ri.r.valid_until);
            rs_err_hint(err, "the mirror is out of date; use a current mirror with --mirror, or "
                             "--no-check-valid-until for a snapshot");
            release_info_release(&ri);
            return r;
        }
        ri.r.expired = true; /* said once the suite's Release is settled (open_release) */
    }
    *ret = ri;
    return 0;
}

static bool suite_matches(const struct release_info *ri, const char *suite)
{
    return (ri->r.suite && strcmp(ri->r.suite, suite) == 0) ||
           (ri->r.codename && strcmp(ri->r.codename, suite) == 0);
}

static int open_release(struct build_archive *a, const char *suite, struct rs_err *err)
{
    struct release_info ri, by_codename;
    struct rs_err e2 = RS_ERR_INIT;
    int r = fetch_release(a, suite, &ri, err);

    if (r < 0)
        return r;
    if (!suite_matches(&ri, suite)) {
        r = rs_err_msg(err, -EBADMSG, "'%s/dists/%s' is suite '%s' (%s), not '%s'", a->mirror,
                       suite, ri.r.suite ? ri.r.suite : "?", ri.r.codename ? ri.r.codename : "?",
                       suite);
        release_info_release(&ri);
        return r;
    }
    a->suite_dir = xstrdup(suite);
    /* An alias (stable) may lag behind its codename's directory: use the codename's Release
     * once known, as long as it really is the same codename. */
    if (ri.r.codename && strcmp(ri.r.codename, suite) != 0 && !strchr(ri.r.codename, '/')) {
        r = fetch_release(a, ri.r.codename, &by_codename, &e2);
        if (r == 0 && by_codename.r.codename &&
            strcmp(by_codename.r.codename, ri.r.codename) == 0) {
            log_debug("'%s' is '%s'; using dists/%s", suite, ri.r.codename, ri.r.codename);
            release_info_release(&ri);
            ri = by_codename;
            free(a->suite_dir);
            a->suite_dir = xstrdup(ri.r.codename);
        } else if (r == 0) {
            release_info_release(&by_codename);
        } else {
            log_debug("cannot use dists/%s (%s), staying with dists/%s", ri.r.codename,
                      e2.msg ? e2.msg : "?", suite);
        }
        rs_err_release(&e2);
    }
    if (ri.r.expired)
        log_warning("'%s/dists/%s' expired on %s (Valid-Until), using it anyway (%s)", a->mirror,
                    a->suite_dir, ri.r.valid_until,
                    a->no_verify ? "--no-verify" : "--no-check-valid-until");
    a->ri = ri;
    return 0;
}

/* ---- Packages ---- */

static int map_blob(struct build_archive *a, const char *hex, char **ret, size_t *ret_len,
                    bool *ret_mapped, struct rs_err *err)
{
    _cleanup_close_ int fd = -1;
    struct stat stbuf;
    int r = cache_blob_open(a->c, hex, &fd, err);

    if (r < 0)
        return r;
    if (fstat(fd, &stbuf) < 0)
        return rs_err_set(err, -errno, "cannot stat blob '%s'", hex);
    if (stbuf.st_size == 0) {
        *ret = xstrdup("");
        *ret_len = 0;
        *ret_mapped = false;
        return 0;
    }
    void *p = mmap(NULL, (size_t)stbuf.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return rs_err_set(err, -errno, "cannot map blob '%s'", hex);
    (void)madvise(p, (size_t)stbuf.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
    *ret = p;
    *ret_len = (size_t)stbuf.st_size;
    *ret_mapped = true;
    return 0;
}

static int xz_decompress_fd(int fd, const char *what, char **ret, size_t *ret_len,
                            struct rs_err *err)
{
    struct archive *ar = archive_read_new();
    struct archive_entry *entry;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT(MAX_INDEX_SIZE);
    int r = 0;

    archive_read_support_filter_xz(ar);
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_raw(ar);
    if (archive_read_open_fd(ar, fd, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(ar, &entry) != ARCHIVE_OK) {
        r = rs_err_msg(err, -EBADMSG, "cannot decompress '%s': %s", what,
                       archive_error_string(ar) ? archive_error_string(ar) : "unknown format");
        goto out;
    }
    for (;;) {
        char buf[1 << 16];
        la_ssize_t n = archive_read_data(ar, buf, sizeof(buf));
        if (n == 0)
            break;
        if (n < 0) {
            r = rs_err_msg(err, -EBADMSG, "cannot decompress '%s': %s", what,
                           archive_error_string(ar));
            goto out;
        }
        if (strbuf_add(&out, buf, (size_t)n) < 0) {
            r = rs_err_msg(err, -EFBIG, "'%s' decompresses to more than 1 GiB", what);
            goto out;
        }
    }
    if (!out.buf)
        (void)strbuf_add(&out, "", 0);
    *ret = strbuf_detach(&out, ret_len);
out:
    archive_read_free(ar);
    return r;
}

/* gzip through libdeflate, which inflates a whole buffer about 2.5 times as fast as zlib's
 * streaming inflate that libarchive uses (trixie's main, 56 MB: 0.17 s against 0.43 s here).
 * size_hint is the size of the output when the Release file gives it (0 if not); otherwise the
 * last member's trailer gives a first guess. A file of several gzip members is one stream. */
static int gunzip_buf(const char *in, size_t in_len, size_t size_hint, const char *what, char **ret,
                      size_t *ret_len, struct rs_err *err)
{
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    size_t cap = size_hint, out_len = 0, pos = 0;
    char *out = NULL;
    int r = 0;

    if (!d)
        return rs_err_set(err, -ENOMEM, "cannot decompress '%s'", what);
    if (cap == 0 && in_len >= 4)
        cap = (size_t)((const unsigned char *)in)[in_len - 4] |
              (size_t)((const unsigned char *)in)[in_len - 3] << 8 |
              (size_t)((const unsigned char *)in)[in_len - 2] << 16 |
              (size_t)((const unsigned char *)in)[in_len - 1] << 24;
    if (cap < in_len)
        cap = in_len;
    if (cap < 4096)
        cap = 4096;
    if (cap > MAX_INDEX_SIZE)
        cap = MAX_INDEX_SIZE;
    out = xmalloc(cap + 1);
    do {
        size_t used = 0, got = 0;
        enum libdeflate_result lr = libdeflate_gzip_decompress_ex(
            d, in + pos, in_len - pos, out + out_len, cap - out_len, &used, &got);
        if (lr == LIBDEFLATE_INSUFFICIENT_SPACE) {
            if (cap >= MAX_INDEX_SIZE) {
                r = rs_err_msg(err, -EFBIG, "'%s' decompresses to more than 1 GiB", what);
                break;
            }
            cap = cap * 2 > MAX_INDEX_SIZE ? MAX_INDEX_SIZE : cap * 2;
            out = xrealloc(out, cap + 1);
            continue;
        }
        if (lr != LIBDEFLATE_SUCCESS) {
            r = rs_err_msg(err, -EBADMSG, "cannot decompress '%s': not valid gzip data", what);
            break;
        }
        pos += used;
        out_len += got;
    } while (pos < in_len);
    libdeflate_free_decompressor(d);
    if (r < 0) {
        free(out);
        return r;
    }
    out[out_len] = '\0';
    *ret = out;
    *ret_len = out_len;
    return 0;
}

/* The contents of rf's blob, gzip- (libdeflate) or xz-compressed (libarchive). */
static int decompress_blob(struct build_archive *a, const struct release_file *rf, size_t size_hint,
                           char **ret, size_t *ret_len, struct rs_err *err)
{
    size_t n = strlen(rf->path);
    char *in = NULL;
    size_t in_len = 0;
    bool mapped = false;
    int r;

    if (n < 3 || strcmp(rf->path + n - 3, ".gz") != 0) {
        _cleanup_close_ int fd = -1;
        r = cache_blob_open(a->c, rf->sha256, &fd, err);
        return r < 0 ? r : xz_decompress_fd(fd, rf->path, ret, ret_len, err);
    }
    r = map_blob(a, rf->sha256, &in, &in_len, &mapped, err);
    if (r < 0)
        return r;
    r = gunzip_buf(in, in_len, size_hint, rf->path, ret, ret_len, err);
    if (mapped)
        munmap(in, in_len);
    else
        free(in);
    return r;
}

static int fetch_index_file(struct build_archive *a, const struct release_file *rf,
                            const char *label, struct rs_err *err)
{
    _cleanup_free_ char *dir = xstrndup(rf->path, (size_t)(strrchr(rf->path, '/') - rf->path));
    _cleanup_free_ char *plain = xasprintf("%s/dists/%s/%s", a->mirror, a->suite_dir, rf->path);
    _cleanup_free_ char *by_hash =
        xasprintf("%s/dists/%s/%s/by-hash/SHA256/%s", a->mirror, a->suite_dir, dir, rf->sha256);
    struct http_req req = { .url = a->ri.acquire_by_hash ? by_hash : plain,
                            .label = label,
                            .to_store = true,
                            .expected_sha256 = rf->sha256,
                            .expected_size = rf->size };
    struct http_req *reqs[] = { &req };
    int r;

    if (a->offline) {
        r = rs_err_msg(err, -ENOENT, "index '%s' is not in the store (offline)", label);
        rs_err_hint(err, "run once without --offline");
        return r;
    }
    r = http_run(a->c, reqs, 1, NULL, NULL, err);
    if (r == -ENOENT && a->ri.acquire_by_hash) {
        /* by-hash files can be cleaned up between a Release and our request: try the path. */
        rs_err_release(err);
        http_req_release(&req);
        req.url = plain;
        r = http_run(a->c, reqs, 1, NULL, NULL, err);
    }
    http_req_release(&req);
    return r;
}

/* Does the Release file list a Packages index for comp on our architecture? */
static int check_component(struct build_archive *a, const char *comp, struct rs_err *err)
{
    static const char *const suffixes[] = { "", ".xz", ".gz" };
    int r;

    if (strchr(comp, '.') || !*comp)
        return rs_err_msg(err, -EINVAL, "invalid component '%s'", comp);
    for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
        _cleanup_free_ char *path =
            xasprintf("%s/binary-%s/Packages%s", comp, a->arch, suffixes[i]);
        if (release_find(&a->ri, path))
            return 0;
    }
    r = rs_err_msg(err, -ENOENT, "'%s' has no Packages index for '%s' on '%s'", a->suite_dir, comp,
                   a->arch);
    rs_err_hint(err, "check --components and --arch against the archive's Release file");
    return r;
}

static int load_component(struct build_archive *a, const char *comp, struct rs_err *err)
{
    _cleanup_free_ char *base = xasprintf("%s/binary-%s/Packages", comp, a->arch);
    _cleanup_free_ char *xz = xasprintf("%s.xz", base);
    _cleanup_free_ char *gz = xasprintf("%s.gz", base);
    const struct release_file *plain = release_find(&a->ri, base);
    const struct release_file *comp_rf = release_find(&a->ri, gz);
    char *buf = NULL;
    size_t len = 0;
    bool mapped = false, keep = false;
    int r;

    /* gzip before xz: inflating a 56 MB index takes ~0.17 s here (libdeflate), xz ~1.2 s, for
     * ~40% more bytes on the wire (13.3 MB instead of 9.7 for trixie's main): a win on any link
     * faster than ~3 MB/s. The decompressed index is checked against the same SHA256 either
     * way. */
    if (!comp_rf)
        comp_rf = release_find(&a->ri, xz);
    if (!plain && !comp_rf)
        return check_component(a, comp, err);
    /* The uncompressed index is kept in the store: an unchanged archive then costs no
     * decompression, just an mmap. */
    if (plain && cache_blob_has(a->c, plain->sha256)) {
        r = map_blob(a, plain->sha256, &buf, &len, &mapped, err);
    } else if (comp_rf) {
        if (!cache_blob_has(a->c, comp_rf->sha256)) {
            r = fetch_index_file(a, comp_rf, comp_rf->path, err);
            if (r < 0)
                return r;
        }
        r = decompress_blob(a, comp_rf, plain ? (size_t)plain->size : 0, &buf, &len, err);
        if (r < 0)
            return r;
        if (plain) {
            char hex[RS_SHA256_HEX_LEN + 1];
            rs_sha256_buf(buf, len, hex);
            if (strcmp(hex, plain->sha256) != 0) {
                free(buf);
                return rs_err_msg(err, -EBADMSG,
                                  "'%s' does not match its SHA256 in the Release file", base);
            }
            keep = true;
        }
    } else {
        r = fetch_index_file(a, plain, plain->path, err);
        if (r >= 0)
            r = map_blob(a, plain->sha256, &buf, &len, &mapped, err);
    }
    if (r < 0)
        return r;
    _cleanup_free_ char *label = xasprintf("%s/dists/%s/%s", a->mirror, a->suite_dir, base);
    /* pkg_index_add() owns buf from here on, whatever it returns */
    r = pkg_index_add(&a->idx, buf, len, mapped, label, err);
    if (r >= 0 && keep)
        keep_index(a, buf, len);
    return r;
}

int build_archive_open(struct cache *c, const struct build_archive_opts *opts,
                       struct build_archive **ret, struct rs_err *err)
{
    _cleanup_(build_archive_freep) struct build_archive *a = xcalloc(1, sizeof(*a));
    int r;

    if (!opts->suite || !*opts->suite || strchr(opts->suite, '/') || strstr(opts->suite, ".."))
        return rs_err_msg(err, -EINVAL, "invalid suite '%s'", opts->suite ? opts->suite : "");
    a->c = c;
    a->no_verify = opts->no_verify;
    a->no_check_valid_until = opts->no_check_valid_until;
    a->offline = opts->offline;
    a->arch = xstrdup(opts->arch ? opts->arch : build_host_arch());
    a->keyring = xstrdup(opts->keyring ? opts->keyring : DEFAULT_KEYRING);
    a->components = opts->components && opts->components[0] ? strv_copy(opts->components) : NULL;
    if (!a->components)
        strv_push(&a->components, "main");
    pkg_index_init(&a->idx);
    if (opts->mirror) {
        a->mirror = xstrdup(opts->mirror);
        size_t n = strlen(a->mirror);
        while (n > 0 && a->mirror[n - 1] == '/')
            a->mirror[--n] = '\0';
    } else {
        r = build_host_mirror("/", &a->mirror, err);
        if (r < 0)
            return r;
    }
    r = open_release(a, opts->suite, err);
    if (r < 0)
        return r;
    STRV_FOREACH(comp, a->components) {
        r = check_component(a, *comp, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(a);
    return 0;
}

/* Fetch (when the store lacks them) and parse every component's Packages index, once. */
static int load_indexes(struct build_archive *a, struct rs_err *err)
{
    int r;

    if (a->idx_loaded)
        return 0;
    STRV_FOREACH(comp, a->components) {
        r = load_component(a, *comp, err);
        if (r < 0) {
            /* Start over on a later call rather than keep half the components. */
            keep_index_wait(a);
            pkg_index_release(&a->idx);
            pkg_index_init(&a->idx);
            return r;
        }
    }
    STRV_FOREACH(w, a->idx.warnings)
        log_warning("%s", *w);
    a->idx_loaded = true;
    return 0;
}

int build_resolve(struct build_archive *a, enum build_variant variant, char *const *include,
                  char *const *exclude, struct build_pkg_list *ret, struct rs_err *err)
{
    _cleanup_strv_free_ char **seeds = NULL, **why = NULL;
    _cleanup_free_ int32_t *picked = NULL;
    _cleanup_free_ char *key = NULL;
    const char *suite = a->ri.r.codename ? a->ri.r.codename : a->suite_dir;
    struct rs_err e = RS_ERR_INIT;
    size_t n = 0;
    int r;

    /* The signed Release pins every index by digest, so the same Release with the same
     * question has the same answer: no index to parse, nothing to resolve. */
    key = rescache_key(a->ri.r.release_sha256, a->arch, a->components, variant, include, exclude);
    if (rescache_get(a->c, key, ret) > 0) {
        log_debug("resolution %.12s from the store", key);
        return 0;
    }
    r = load_indexes(a, err);
    if (r < 0)
        return r;
    r = resolve_variant_seeds(&a->idx, variant, &seeds, &why, err);
    if (r < 0)
        return r;
    STRV_FOREACH(i, (char **)include) {
        strv_push(&seeds, *i);
        strv_push(&why, "--include");
    }
    struct resolve_opts o = {
        .arch = a->arch, .suite = suite, .seeds = seeds, .seed_why = why, .exclude = exclude
    };
    r = resolve_closure(&a->idx, &o, &picked, &n, err);
    if (r < 0)
        return r;
    struct build_pkg_list l = { .pkgs = xcalloc(n ? n : 1, sizeof(struct build_pkg)), .n_pkgs = n };
    for (size_t i = 0; i < n; i++)
        resolve_fill_pkg(&a->idx.pkgs[picked[i]], &l.pkgs[i]);
    if (rescache_put(a->c, key, &l, &e) < 0)
        log_debug("cannot keep resolution %.12s: %s", key, e.msg ? e.msg : "?");
    rs_err_release(&e);
    *ret = l;
    return 0;
}

static bool filename_ok(const char *f)
{
    return f && *f && f[0] != '/' && !strstr(f, "..") && !strpbrk(f, " \t\r\n?#");
}

/* The hooks' `first` packages first (a build unpacks them before anything else), then the
 * largest: the long transfers start early and the tail is short. */
static int cmp_download_order(const void *a, const void *b, void *data)
{
    const struct http_req *x = *(struct http_req *const *)a, *y = *(struct http_req *const *)b;
    char *const *first = data;
    bool fx = strv_contains(first, x->label), fy = strv_contains(first, y->label);

    if (fx != fy)
        return fx ? -1 : 1;
    return (x->expected_size < y->expected_size) - (x->expected_size > y->expected_size);
}

/* What http_run() tells download_debs() about each request: request k is package pkg_of[k]. */
struct download_feed {
    const struct build_download_hooks *h;
    const struct http_req *reqs;
    const size_t *pkg_of;
};

static void download_done(struct http_req *r, void *data)
{
    const struct download_feed *f = data;

    if (r->result >= 0 && f->h->ready)
        f->h->ready(f->h->data, f->pkg_of[r - f->reqs]);
}

static bool download_cancelled(void *data)
{
    const struct download_feed *f = data;
    return f->h->cancelled(f->h->data);
}

static int download_debs(struct build_archive *a, const struct build_pkg_list *l, unsigned flags,
                         const struct build_download_hooks *h, size_t *ret_n_fetched,
                         struct rs_err *err)
{
    _cleanup_free_ struct http_req *reqs = xcalloc(l->n_pkgs + 1, sizeof(*reqs));
    _cleanup_free_ struct http_req **ptrs = xcalloc(l->n_pkgs + 1, sizeof(*ptrs));
    _cleanup_free_ size_t *pkg_of = xcalloc(l->n_pkgs + 1, sizeof(*pkg_of));
    _cleanup_strv_free_ char **urls = NULL;
    _cleanup_strbuf_ struct strbuf missing = STRBUF_INIT(1 << 20);
    struct download_feed feed = { .h = h, .reqs = reqs, .pkg_of = pkg_of };
    struct http_opts o = { 0 };
    size_t n = 0, n_missing = 0;
    uint64_t total = 0;
    int r;

    for (size_t i = 0; i < l->n_pkgs; i++) {
        const struct build_pkg *p = &l->pkgs[i];
        if (!p->sha256 || !rs_sha256_hex_valid(p->sha256) || !filename_ok(p->filename))
            return rs_err_msg(err, -EBADMSG,
                              "package '%s %s' has no valid SHA256 or Filename in the index",
                              p->name, p->version);
        if (cache_blob_has(a->c, p->sha256))
            continue;
        if (flags & BUILD_DOWNLOAD_OFFLINE) {
            (void)strbuf_addf(&missing, "%s%s %s", n_missing ? ", " : "", p->name, p->version);
            n_missing++;
            continue;
        }
        strv_consume(&urls, xasprintf("%s/%s", a->mirror, p->filename));
        reqs[n] = (struct http_req){ .url = urls[n],
                                     .label = p->name,
                                     .to_store = true,
                                     .expected_sha256 = p->sha256,
                                     .expected_size = p->size };
        ptrs[n] = &reqs[n];
        pkg_of[n] = i;
        total += p->size;
        n++;
    }
    if (n_missing) {
        r = rs_err_msg(err, -ENOENT, "%zu of %zu packages are not in the store (offline)",
                       n_missing, l->n_pkgs);
        rs_err_context(err, "missing: %s", strbuf_str(&missing));
        rs_err_hint(err, "run once without --offline");
        return r;
    }
    /* Validated first, so that a bad index fails before anything is reported ready. */
    for (size_t i = 0; h && h->ready && i < l->n_pkgs; i++)
        if (cache_blob_has(a->c, l->pkgs[i].sha256))
            h->ready(h->data, i);
    if (h) {
        o.done = download_done;
        o.cancelled = h->cancelled ? download_cancelled : NULL;
        o.data = &feed;
    }
    if (n > 0) {
        qsort_r(ptrs, n, sizeof(*ptrs), cmp_download_order, h ? (void *)h->first : NULL);
        struct rs_progress *prog = rs_progress_new("downloading", n, total);
        r = http_run(a->c, ptrs, n, &o, prog, err);
        if (r < 0)
            rs_progress_free(prog);
        else
            rs_progress_done(prog);
        for (size_t i = 0; i < n; i++)
            http_req_release(&reqs[i]);
        if (r < 0)
            return r;
    }
    if (ret_n_fetched)
        *ret_n_fetched = n;
    return 0;
}

int build_download(struct build_archive *a, const struct build_pkg_list *l, unsigned flags,
                   size_t *ret_n_fetched, struct rs_err *err)
{
    return build_download_hooked(a, l, flags, NULL, ret_n_fetched, err);
}

int build_download_hooked(struct build_archive *a, const struct build_pkg_list *l, unsigned flags,
                          const struct build_download_hooks *h, size_t *ret_n_fetched,
                          struct rs_err *err)
{
    int r = download_debs(a, l, flags, h, ret_n_fetched, err);

    /* What comes next (the build) forks: no thread of ours is left running by then. */
    keep_index_wait(a);
    return r;
}
