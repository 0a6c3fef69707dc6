/* The store itself: opening and locking, staging under tmp/, atomic writes, and blobs. */

#include "cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"

#define SMALL_BLOB_SIZE (1024 * 1024)

static const char *const store_dirs[] = {
    "blobs", "blobs/sha256", "layers", "images", "recipes", "containers", "locks", "tmp",
};

void cache_random_hex(char *buf, size_t n_bytes)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char raw[64];

    if (n_bytes > sizeof(raw))
        n_bytes = sizeof(raw);
    size_t got = 0;
    while (got < n_bytes) {
        ssize_t n = getrandom(raw + got, n_bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* getrandom cannot fail on Linux >= 3.17 short of a bad pointer */
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < n_bytes; i++) {
        buf[2 * i] = digits[raw[i] >> 4];
        buf[2 * i + 1] = digits[raw[i] & 15];
    }
    buf[2 * n_bytes] = '\0';
}

bool cache_key_valid(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 128 || s[0] == '.')
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

void cache_err_add_hint(struct rs_err *err)
{
    if (!err)
        return;
    if (err->code == EROFS)
        rs_err_hint(err, "the store is on a read-only filesystem; use --root to pick another");
    else if (err->code == ENOSPC || err->code == EDQUOT)
        rs_err_hint(err, "the store's filesystem is full; 'rootstock cache gc' frees unused "
                         "layers, or use --root to pick another");
    else if (err->code == EACCES || err->code == EPERM)
        rs_err_hint(err, "the store belongs to another user; run as root or use --root");
}

int cache_err_write(struct cache *c, int ret, struct rs_err *err, const char *what,
                    const char *path)
{
    rs_err_set(err, ret, "cannot %s '%s/%s'", what, c->root, path);
    cache_err_add_hint(err);
    return ret;
}

/* ---- open, lock, close ---- */

/* Remove everything under tmp/: only called with the store lock held exclusively, so no
 * other process can be staging anything there. */
static void clean_tmp(struct cache *c)
{
    _cleanup_close_ int fd = openat(c->dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_closedir_ DIR *d = NULL;

    if (fd < 0)
        return;
    d = fdopendir(TAKE_FD(fd));
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        log_debug("removing leftover 'tmp/%s'", de->d_name);
        int r = rs_rm_rf_at(dirfd(d), de->d_name);
        if (r < 0)
            log_debug("cannot remove leftover 'tmp/%s': %s", de->d_name, strerror(-r));
    }
}

static int take_lock(struct cache *c, unsigned flags, struct rs_err *err)
{
    int fd = openat(c->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

    if (fd < 0 && (errno == EROFS || errno == EACCES)) {
        int saved = -errno;
        /* A read-only store still answers lookups: flock works on a read-only fd. */
        fd = openat(c->dir_fd, "lock", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || (flags & CACHE_EXCLUSIVE)) {
            safe_close(fd);
            return cache_err_write(c, saved, err, "open", "lock");
        }
        c->read_only = true;
    }
    if (fd < 0)
        return cache_err_write(c, -errno, err, "open", "lock");
    c->lock_fd = fd;

    if (flags & CACHE_EXCLUSIVE) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            log_debug("waiting for the other users of '%s' to finish", c->root);
            if (flock(fd, LOCK_EX) < 0)
                return rs_err_set(err, -errno, "cannot lock '%s/lock'", c->root);
        }
        c->exclusive = true;
        if (!c->read_only)
            clean_tmp(c);
        return 0;
    }
    /* Nobody else is here: a good moment to remove what crashed processes left in tmp/.
     * Downgrading is not atomic, which is fine: we have not looked at anything yet. */
    if (!c->read_only && flock(fd, LOCK_EX | LOCK_NB) == 0)
        clean_tmp(c);
    if (flock(fd, LOCK_SH) < 0)
        return rs_err_set(err, -errno, "cannot lock '%s/lock'", c->root);
    return 0;
}

static int make_dirs(struct cache *c, struct rs_err *err)
{
    for (size_t i = 0; i < ELEMENTSOF(store_dirs); i++) {
        if (mkdirat(c->dir_fd, store_dirs[i], 0755) < 0 && errno != EEXIST) {
            if (errno == EROFS && faccessat(c->dir_fd, store_dirs[i], F_OK, 0) == 0)
                continue;
            return cache_err_write(c, -errno, err, "create", store_dirs[i]);
        }
    }
    return 0;
}

int cache_open(const char *root, unsigned flags, struct cache **ret, struct rs_err *err)
{
    _cleanup_(cache_closep) struct cache *c = NULL;
    struct stat st;
    int r;

    /* The store is there nearly always: mkdir -p only when it is not (one call, not one per
     * component of the path; runroot opens the store at every run). */
    if (!(flags & CACHE_NO_CREATE) && access(root, F_OK) < 0) {
        r = rs_mkdir_p(root, 0755);
        if (r < 0 && !(r == -EROFS && access(root, F_OK) == 0)) {
            rs_err_set(err, r, "cannot create the store '%s'", root);
            if (r == -EROFS)
                rs_err_hint(err, "it is on a read-only filesystem; use --root to pick another");
            return r;
        }
    }
    c = xcalloc(1, sizeof(*c));
    c->dir_fd = c->lock_fd = -1;
    c->dir_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dir_fd < 0)
        return rs_err_set(err, -errno, "cannot open the store '%s'", root);
    if (root[0] == '/') {
        c->root = xstrdup(root);
    } else {
        _cleanup_free_ char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return rs_err_set(err, -errno, "cannot resolve the store path '%s'", root);
        c->root = xasprintf("%s/%s", cwd, root);
    }
    if (fstat(c->dir_fd, &st) < 0)
        return rs_err_set(err, -errno, "cannot stat the store '%s'", root);
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    if ((flags & CACHE_NO_CREATE) && faccessat(c->dir_fd, "lock", F_OK, 0) < 0)
        return rs_err_msg(err, -ENOENT, "'%s' is not a rootstock store", root);
    r = take_lock(c, flags, err);
    if (r < 0)
        return r;
    if (!c->read_only) {
        r = make_dirs(c, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(c);
    return 0;
}

struct cache *cache_close(struct cache *c)
{
    if (!c)
        return NULL;
    safe_close(c->lock_fd);
    safe_close(c->dir_fd);
    free(c->root);
    free(c);
    return NULL;
}

int cache_dir_fd(const struct cache *c)
{
    return c->dir_fd;
}

const char *cache_root(const struct cache *c)
{
    return c->root;
}

/* ---- staging helpers ---- */

int cache_mkdtemp(struct cache *c, const char *prefix, char **ret_rel, struct rs_err *err)
{
    char rnd[33];

    for (int attempt = 0; attempt < 16; attempt++) {
        cache_random_hex(rnd, 16);
        _cleanup_free_ char *rel = xasprintf("tmp/%s-%s", prefix, rnd);
        if (mkdirat(c->dir_fd, rel, 0755) == 0) {
            *ret_rel = TAKE_PTR(rel);
            return 0;
        }
        if (errno != EEXIST)
            return cache_err_write(c, -errno, err, "create", rel);
    }
    return rs_err_msg(err, -EEXIST, "cannot find a free name under '%s/tmp'", c->root);
}

int cache_write_atomic(struct cache *c, const char *dir, const char *name, const void *data,
                       size_t len, struct rs_err *err)
{
    char rnd[33];
    _cleanup_free_ char *tmp = NULL, *target = NULL;
    _cleanup_close_ int fd = -1;
    int r;

    cache_random_hex(rnd, 16);
    tmp = xasprintf("tmp/file-%s", rnd);
    target = xasprintf("%s/%s", dir, name);
    fd = openat(c->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cache_err_write(c, -errno, err, "write", target);
    r = rs_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (r == 0 && renameat(c->dir_fd, tmp, c->dir_fd, target) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlinkat(c->dir_fd, tmp, 0);
        return cache_err_write(c, r, err, "write", target);
    }
    return 0;
}

int cache_remove_tree(struct cache *c, const char *rel, struct rs_err *err)
{
    _cleanup_free_ char *trash = NULL;
    char rnd[33];
    int r;

    cache_random_hex(rnd, 16);
    trash = xasprintf("tmp/trash-%s", rnd);
    if (renameat(c->dir_fd, rel, c->dir_fd, trash) < 0) {
        if (errno == ENOENT)
            return 0;
        return cache_err_write(c, -errno, err, "remove", rel);
    }
    r = rs_rm_rf_at(c->dir_fd, trash);
    if (r < 0)
        return rs_err_set(err, r, "cannot remove '%s/%s' (moved from '%s')", c->root, trash, rel);
    return 0;
}

/* ---- blobs ---- */

bool cache_blob_has(struct cache *c, const char *hex)
{
    if (!rs_sha256_hex_valid(hex))
        return false;
    _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", hex);
    return faccessat(c->dir_fd, rel, F_OK, 0) == 0;
}

char *cache_blob_path(struct cache *c, const char *hex)
{
    return xasprintf("%s/blobs/sha256/%s", c->root, hex);
}

int cache_blob_open(struct cache *c, const char *hex, int *ret_fd, struct rs_err *err)
{
    _cleanup_free_ char *rel = NULL;
    _cleanup_close_ int fd = -1;
    struct stat st;

    if (!rs_sha256_hex_valid(hex))
        return rs_err_msg(err, -EINVAL, "invalid blob digest '%.80s'", hex);
    rel = xasprintf("blobs/sha256/%s", hex);
    fd = openat(c->dir_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return rs_err_msg(err, -ENOENT, "blob '%s' missing from the store", hex);
        return rs_err_set(err, -errno, "cannot open '%s/%s'", c->root, rel);
    }
    if (fstat(fd, &st) < 0)
        return rs_err_set(err, -errno, "cannot stat '%s/%s'", c->root, rel);
    if (!S_ISREG(st.st_mode))
        return rs_err_msg(err, -EBADMSG, "blob '%s' is corrupt: '%s/%s' is not a file", hex,
                          c->root, rel);
    if (st.st_size < SMALL_BLOB_SIZE) {
        char got[RS_SHA256_HEX_LEN + 1];
        int r = rs_sha256_fd(fd, got, NULL, err);
        if (r < 0)
            return rs_err_wrap(err, "blob '%s'", hex);
        if (strcmp(got, hex) != 0)
            return rs_err_msg(err, -EBADMSG, "blob '%s' is corrupt: '%s/%s' hashes to sha256:%s",
                              hex, c->root, rel, got);
        if (lseek(fd, 0, SEEK_SET) < 0)
            return rs_err_set(err, -errno, "cannot rewind '%s/%s'", c->root, rel);
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

struct cache_blob_writer {
    struct cache *cache;
    char *tmp; /* owned, relative to the store root */
    int fd;    /* the temporary file */
    bool raw;  /* the fd was handed out: rehash at commit */
    uint64_t size;
    struct rs_sha256 hash;
};

int cache_blob_writer_new(struct cache *c, struct cache_blob_writer **ret, struct rs_err *err)
{
    char rnd[33];
    struct cache_blob_writer *w;

    cache_random_hex(rnd, 16);
    w = xcalloc(1, sizeof(*w));
    w->cache = c;
    w->tmp = xasprintf("tmp/blob-%s", rnd);
    w->fd = openat(c->dir_fd, w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->fd < 0) {
        int r = cache_err_write(c, -errno, err, "create", w->tmp);
        free(w->tmp);
        free(w);
        return r;
    }
    rs_sha256_init(&w->hash);
    *ret = w;
    return 0;
}

int cache_blob_writer_write(struct cache_blob_writer *w, const void *data, size_t len,
                            struct rs_err *err)
{
    int r = rs_write_all(w->fd, data, len);
    if (r < 0)
        return cache_err_write(w->cache, r, err, "write", w->tmp);
    if (!w->raw)
        rs_sha256_update(&w->hash, data, len);
    w->size += len;
    return 0;
}

int cache_blob_writer_fd(struct cache_blob_writer *w)
{
    w->raw = true;
    return w->fd;
}

uint64_t cache_blob_writer_size(struct cache_blob_writer *w)
{
    if (w->raw) {
        struct stat st;
        if (fstat(w->fd, &st) == 0)
            return (uint64_t)st.st_size;
    }
    return w->size;
}

struct cache_blob_writer *cache_blob_writer_abort(struct cache_blob_writer *w)
{
    if (!w)
        return NULL;
    safe_close(w->fd);
    (void)unlinkat(w->cache->dir_fd, w->tmp, 0);
    rs_sha256_release(&w->hash);
    free(w->tmp);
    free(w);
    return NULL;
}

static int blob_writer_finish(struct cache_blob_writer *w, const char *expected_hex,
                              char hex[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    struct cache *c = w->cache;
    _cleanup_free_ char *target = NULL;
    int r;

    if (expected_hex && !rs_sha256_hex_valid(expected_hex))
        return rs_err_msg(err, -EINVAL, "invalid blob digest '%.80s'", expected_hex);
    if (w->raw) {
        rs_sha256_release(&w->hash);
        if (lseek(w->fd, 0, SEEK_SET) < 0)
            return rs_err_set(err, -errno, "cannot rewind '%s/%s'", c->root, w->tmp);
        r = rs_sha256_fd(w->fd, hex, NULL, err);
        if (r < 0)
            return r;
    } else {
        rs_sha256_final(&w->hash, hex);
    }
    if (expected_hex && strcmp(hex, expected_hex) != 0)
        return rs_err_msg(err, -EBADMSG,
                          "content does not match its digest: expected sha256:%s, got sha256:%s",
                          expected_hex, hex);
    if (fchmod(w->fd, 0444) < 0 || fsync(w->fd) < 0)
        return cache_err_write(c, -errno, err, "write", w->tmp);
    target = xasprintf("blobs/sha256/%s", hex);
    /* An existing blob with this name has the same content (or verify will say otherwise):
     * keep it, so that readers holding it open see no change. */
    if (renameat2(c->dir_fd, w->tmp, c->dir_fd, target, RENAME_NOREPLACE) < 0 && errno != EEXIST)
        return cache_err_write(c, -errno, err, "write", target);
    return 0;
}

int cache_blob_writer_commit(struct cache_blob_writer *w, const char *expected_hex,
                             char ret_hex[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    char hex[RS_SHA256_HEX_LEN + 1];
    int r = blob_writer_finish(w, expected_hex, hex, err);

    cache_blob_writer_abort(w); /* removes the temporary name if it is still there */
    if (r < 0)
        return r;
    if (ret_hex)
        memcpy(ret_hex, hex, sizeof(hex));
    return 0;
}

int cache_blob_put(struct cache *c, const void *data, size_t len,
                   char ret_hex[RS_SHA256_HEX_LEN + 1], struct rs_err *err)
{
    struct cache_blob_writer *w = NULL;
    int r = cache_blob_writer_new(c, &w, err);
    if (r < 0)
        return r;
    r = cache_blob_writer_write(w, data, len, err);
    if (r < 0) {
        cache_blob_writer_abort(w);
        return r;
    }
    return cache_blob_writer_commit(w, NULL, ret_hex, err);
}
