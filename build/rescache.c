/* Two small caches under the archive client's own <store>/archive/ directory, so that asking
 * again about an unchanged archive costs neither gpgv, nor parsing a 60 MB Packages index, nor
 * resolving:
 *
 *   archive/verified/KEY  gpgv accepted this (In)Release blob with this keyring (KEY covers
 *                         the blob's digest and the keyring's content); trusted for a day
 *   archive/resolved/KEY  the stanzas a resolution chose (KEY covers the signed Release's
 *                         digest, arch, components, variant, include and exclude)
 *
 * Entries name their own key and carry a digest of their body: a truncated, corrupt or
 * misplaced file is a miss (and gets rewritten), never trusted. */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* Bump RESOLVE_FORMAT whenever resolve.c may choose differently for the same index: cached
 * results of the old resolver then stop matching. */
#define RESOLVE_FORMAT   "rootstock-resolve-1"
#define VERIFY_FORMAT    "rootstock-verified-1"
#define STATE_DIR        "archive"
#define RESOLVED_DIR     STATE_DIR "/resolved"
#define VERIFIED_DIR     STATE_DIR "/verified"
#define MAX_ENTRY_SIZE   (64u << 20)
#define MAX_KEYRING_SIZE (64u << 20)
/* A cached verdict is re-checked after this long, so that a key that expired or was revoked
 * in the keyring since is noticed without trusting the store forever. */
#define VERIFY_MAX_AGE (24 * 3600)

static void add_list(struct strbuf *sb, const char *what, char *const *l)
{
    (void)strbuf_addf(sb, "%s", what);
    STRV_FOREACH(s, (char **)l)
        (void)strbuf_addf(sb, " %s", *s);
    (void)strbuf_addch(sb, '\n');
}

char *rescache_key(const char *release_sha256, const char *arch, char *const *components,
                   enum build_variant variant, char *const *include, char *const *exclude)
{
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(1u << 20);
    char hex[RS_SHA256_HEX_LEN + 1];

    /* Lists keep the order given: components order the index, include orders the seeds. */
    (void)strbuf_addf(&sb, RESOLVE_FORMAT "\nrelease %s\narch %s\nvariant %s\n", release_sha256,
                      arch, build_variant_to_string(variant));
    add_list(&sb, "components", components);
    add_list(&sb, "include", include);
    add_list(&sb, "exclude", exclude);
    rs_sha256_buf(strbuf_str(&sb), sb.len, hex);
    return xstrdup(hex);
}

static int mkdirs(struct cache *c, const char *dir, struct rs_err *err)
{
    if (mkdirat(cache_dir_fd(c), STATE_DIR, 0755) < 0 && errno != EEXIST)
        return rs_err_set(err, -errno, "cannot create '%s/" STATE_DIR "'", cache_root(c));
    if (mkdirat(cache_dir_fd(c), dir, 0755) < 0 && errno != EEXIST)
        return rs_err_set(err, -errno, "cannot create '%s/%s'", cache_root(c), dir);
    return 0;
}

/* Read dir/key and split "FORMAT KEY REST\nBODY". Returns false (and logs why) on a miss. */
static bool entry_read(struct cache *c, const char *dir, const char *format, const char *key,
                       char **ret_buf, const char **ret_rest, const char **ret_body,
                       size_t *ret_body_len)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, key), *buf = NULL;
    struct rs_err e = RS_ERR_INIT;
    size_t len, flen = strlen(format), klen = strlen(key);
    char *nl;

    if (rs_read_file_at(cache_dir_fd(c), path, MAX_ENTRY_SIZE, &buf, &len, &e) < 0) {
        if (e.code != ENOENT)
            log_debug("ignoring '%s': %s", path, e.msg ? e.msg : "unreadable");
        rs_err_release(&e);
        return false;
    }
    nl = memchr(buf, '\n', len);
    if (!nl || (size_t)(nl - buf) < flen + klen + 2 || memcmp(buf, format, flen) != 0 ||
        buf[flen] != ' ' || memcmp(buf + flen + 1, key, klen) != 0 || buf[flen + 1 + klen] != ' ') {
        log_debug("ignoring '%s': not an entry for this key", path);
        return false;
    }
    *nl = '\0';
    *ret_rest = buf + flen + klen + 2;
    *ret_body = nl + 1;
    *ret_body_len = len - (size_t)(nl + 1 - buf);
    *ret_buf = TAKE_PTR(buf);
    return true;
}

/* ---- resolutions ---- */

int rescache_get(struct cache *c, const char *key, struct build_pkg_list *ret)
{
    _cleanup_free_ char *buf = NULL;
    const char *rest, *body;
    size_t body_len;
    char hex[RS_SHA256_HEX_LEN + 1], want[RS_SHA256_HEX_LEN + 1];
    unsigned long long n;
    char *end;
    struct pkg_index idx;
    int r;

    if (!entry_read(c, RESOLVED_DIR, RESOLVE_FORMAT, key, &buf, &rest, &body, &body_len))
        return 0;
    /* REST is "N SHA256-OF-BODY". */
    errno = 0;
    n = strtoull(rest, &end, 10);
    if (errno || end == rest || *end != ' ' || strlen(end + 1) != RS_SHA256_HEX_LEN ||
        n > DEB822_MAX_PARAGRAPHS) {
        log_debug("ignoring resolution '%s': bad header", key);
        return 0;
    }
    memcpy(want, end + 1, sizeof(want));
    rs_sha256_buf(body, body_len, hex);
    if (strcmp(hex, want) != 0) {
        log_debug("ignoring resolution '%s': its body does not match its digest", key);
        return 0;
    }
    pkg_index_init(&idx);
    r = pkg_index_add(&idx, xmemdup(body, body_len + 1), body_len, false, key, NULL);
    if (r < 0 || idx.n_pkgs != n || idx.warnings) {
        log_debug("ignoring resolution '%s': %zu of %llu stanzas parse", key, idx.n_pkgs, n);
        pkg_index_release(&idx);
        return 0;
    }
    struct build_pkg_list l = { .pkgs = xcalloc(n ? n : 1, sizeof(struct build_pkg)), .n_pkgs = n };
    for (size_t i = 0; i < n; i++)
        resolve_fill_pkg(&idx.pkgs[i], &l.pkgs[i]);
    pkg_index_release(&idx);
    *ret = l;
    return 1;
}

int rescache_put(struct cache *c, const char *key, const struct build_pkg_list *l,
                 struct rs_err *err)
{
    _cleanup_strbuf_ struct strbuf body = STRBUF_INIT(MAX_ENTRY_SIZE);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT(MAX_ENTRY_SIZE);
    _cleanup_free_ char *path = xasprintf(RESOLVED_DIR "/%s", key);
    char hex[RS_SHA256_HEX_LEN + 1];
    int r;

    for (size_t i = 0; i < l->n_pkgs; i++) {
        const struct build_pkg *p = &l->pkgs[i];
        /* A stanza never holds a blank line (that would end it), so one separates them. */
        if (!p->stanza || strbuf_add(&body, p->stanza, p->stanza_len) < 0 ||
            strbuf_add(&body, "\n\n", 2) < 0)
            return rs_err_msg(err, -EFBIG, "resolution '%s' is too large to keep", key);
    }
    rs_sha256_buf(body.len ? body.buf : "", body.len, hex);
    if (strbuf_addf(&out, RESOLVE_FORMAT " %s %zu %s\n", key, l->n_pkgs, hex) < 0 ||
        (body.len && strbuf_add(&out, body.buf, body.len) < 0))
        return rs_err_msg(err, -EFBIG, "resolution '%s' is too large to keep", key);
    r = mkdirs(c, RESOLVED_DIR, err);
    if (r < 0)
        return r;
    return rs_write_file_atomic_at(cache_dir_fd(c), path, out.buf, out.len, 0644, 0, err);
}

/* ---- signature verdicts ---- */

char *verify_cache_key(const char *keyring, const char *data_hex, const char *sig_hex)
{
    _cleanup_free_ char *kr = NULL, *text = NULL;
    struct rs_err e = RS_ERR_INIT;
    char kr_hex[RS_SHA256_HEX_LEN + 1], hex[RS_SHA256_HEX_LEN + 1];
    size_t len;

    /* The keyring's content, not its name: adding or removing a key changes the verdict. */
    if (rs_read_file_at(AT_FDCWD, keyring, MAX_KEYRING_SIZE, &kr, &len, &e) < 0) {
        rs_err_release(&e);
        return NULL;
    }
    rs_sha256_buf(kr, len, kr_hex);
    text = xasprintf(VERIFY_FORMAT "\ndata %s\nsignature %s\nkeyring %s\n", data_hex,
                     sig_hex ? sig_hex : "-", kr_hex);
    rs_sha256_buf(text, strlen(text), hex);
    return xstrdup(hex);
}

static bool fpr_ok(const char *s)
{
    size_t n = strspn(s, "0123456789ABCDEFabcdef");
    return n >= 8 && n <= 64 && s[n] == '\0';
}

int verify_cache_get(struct cache *c, const char *key, char **ret_fpr)
{
    _cleanup_free_ char *buf = NULL;
    const char *rest, *body;
    size_t body_len;
    char *sp, *end;
    long long when;
    time_t now = time(NULL);

    if (!entry_read(c, VERIFIED_DIR, VERIFY_FORMAT, key, &buf, &rest, &body, &body_len))
        return 0;
    /* REST is "FINGERPRINT UNIX-TIME"; no body. */
    sp = strchr(rest, ' ');
    if (!sp || body_len != 0)
        return 0;
    *sp = '\0';
    errno = 0;
    when = strtoll(sp + 1, &end, 10);
    if (errno || end == sp + 1 || *end || !fpr_ok(rest))
        return 0;
    if (when > (long long)now + 300 || when + VERIFY_MAX_AGE < (long long)now) {
        log_debug("cached signature verdict '%s' is too old, verifying again", key);
        return 0;
    }
    *ret_fpr = xstrdup(rest);
    return 1;
}

int verify_cache_put(struct cache *c, const char *key, const char *fpr, struct rs_err *err)
{
    _cleanup_free_ char *path = xasprintf(VERIFIED_DIR "/%s", key), *text = NULL;
    int r;

    if (!fpr || !fpr_ok(fpr))
        return rs_err_msg(err, -EINVAL, "unexpected fingerprint '%s'", fpr ? fpr : "");
    r = mkdirs(c, VERIFIED_DIR, err);
    if (r < 0)
        return r;
    text = xasprintf(VERIFY_FORMAT " %s %s %lld\n", key, fpr, (long long)time(NULL));
    return rs_write_file_atomic_at(cache_dir_fd(c), path, text, strlen(text), 0644, 0, err);
}
