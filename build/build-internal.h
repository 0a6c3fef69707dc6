#pragma once
/* Internals of build/ shared between its files and its unit tests: the deb822 parser, Debian
 * versions, dependency fields, the package index, the resolver, Release/InRelease handling and
 * the HTTP engine. Not a public API. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "build/build.h"
#include "common/err.h"
#include "common/sha256.h"

/* ---- deb822 (deb822.c) ---- */

/* Limits on what comes from outside. */
#define DEB822_MAX_VALUE      (1u << 20) /* one field's value */
#define DEB822_MAX_PARAGRAPHS (4u << 20)
#define DEB822_MAX_WARNINGS   50

struct deb822_para {
    const char *start; /* first byte of the first field line */
    size_t len;        /* up to and including the last line's '\n' (if any) */
    unsigned line;     /* 1-based line of the first field */
};

struct deb822_field {
    const char *name;
    size_t name_len;
    const char *value; /* raw: leading blanks of the first line dropped, continuation lines kept */
    size_t value_len;  /* without the final newline */
};

/* A parser over a borrowed buffer (need not be NUL-terminated). A malformed paragraph (a line
 * without "Name:", a continuation line first, an absurd value) is skipped and recorded in
 * warnings as "FILE:LINE: …"; more than DEB822_MAX_WARNINGS of them make the file bad. */
struct deb822_parser {
    const char *pos, *end;
    const char *file; /* borrowed, for messages */
    unsigned line;
    size_t n_paragraphs;
    char **warnings; /* owned strv, may be NULL */
};
void deb822_parser_init(struct deb822_parser *p, const char *buf, size_t len, const char *file);
void deb822_parser_release(struct deb822_parser *p);
/* 1 and *ret for the next paragraph, 0 at the end, -EBADMSG (err filled) for a bad file. */
int deb822_next(struct deb822_parser *p, struct deb822_para *ret, struct rs_err *err);
/* Iterate the fields of a validated paragraph: *cursor starts NULL. Returns false at the end.
 * Comment lines ('#') are skipped. */
bool deb822_field_next(const struct deb822_para *para, const char **cursor,
                       struct deb822_field *ret);
/* The line number of a position inside para, for messages. */
unsigned deb822_line_of(const struct deb822_para *para, const char *p);
/* Find a field by name (case-insensitive, as deb822 says). */
bool deb822_get(const struct deb822_para *para, const char *name, struct deb822_field *ret);
/* An owned copy of a value with continuation lines joined: each continuation line's leading
 * blank is dropped and a lone "." stands for an empty line; lines are joined with '\n'. */
char *deb822_value_dup(const struct deb822_field *f);

/* ---- versions (version.c) ---- */

/* Compare two Debian versions exactly as dpkg --compare-versions: <0, 0, >0. The strings are
 * spans (not NUL-terminated). A version dpkg rejects still compares (epoch 0, whole text as
 * upstream), so a bad index cannot make sorting inconsistent. */
int deb_version_cmp(const char *a, size_t a_len, const char *b, size_t b_len);
/* NUL-terminated convenience form. */
int deb_version_cmp_str(const char *a, const char *b);
/* Check syntax as dpkg does (epoch digits, upstream starts with a digit, allowed characters).
 * 0, or -EINVAL with err naming the problem. */
int deb_version_check(const char *v, size_t len, struct rs_err *err);

/* ---- dependency fields (depends.c) ---- */

enum dep_op { DEP_ANY, DEP_LT, DEP_LE, DEP_EQ, DEP_GE, DEP_GT, _DEP_OP_MAX };

struct dep_alt {
    const char *name, *arch, *version; /* spans into the parsed text; arch/version may be NULL */
    uint32_t name_len, arch_len, version_len;
    enum dep_op op;
    uint32_t clause; /* index of the ','-separated clause this alternative belongs to */
};
struct dep_list {
    struct dep_alt *alts; /* owned array */
    size_t n_alts, n_clauses;
};
/* Parse a Depends-style field ("a (>= 1) | b:any, c [amd64] <!nocheck>"). Architecture lists
 * and build profiles are accepted and ignored. -EBADMSG with err naming the offending text. */
int dep_parse(const char *s, size_t len, struct dep_list *ret, struct rs_err *err);
void dep_list_release(struct dep_list *l);
/* "<<", "<=", "=", ">=", ">>", "" */
const char *dep_op_to_string(enum dep_op op);
/* Does version v satisfy (op, want)? */
bool dep_version_ok(enum dep_op op, const char *want, size_t want_len, const char *v, size_t v_len);

/* ---- package index (index.c) ---- */

struct span {
    const char *p;
    uint32_t len;
};

struct pkg {
    struct span name, version, arch, multi_arch, priority, filename, sha256, depends, pre_depends,
        provides;
    uint64_t size;
    bool essential;
    const char *para; /* the raw paragraph */
    size_t para_len;
    int32_t next_same_name; /* another version with the same name, or -1 */
};

struct pkg_index {
    struct pkg *pkgs;
    size_t n_pkgs, alloc_pkgs;
    int32_t *table; /* open addressing: name -> first pkg index, -1 empty */
    size_t table_size;
    /* Provides, found per name on first lookup: most of an index's ~65k packages are never
     * asked about, so no table of all provided names is built. */
    struct prov *provs;
    size_t n_provs, alloc_provs;
    int32_t *prov_pkgs; /* the packages that have a Provides field, in index order */
    size_t n_prov_pkgs;
    bool prov_pkgs_known;
    struct prov_name *prov_names; /* open addressing: looked-up name -> first prov, or -1 */
    size_t prov_names_size, n_prov_names;
    char **warnings; /* owned strv of parser warnings */
    char **buffers;  /* owned buffers the spans point into (unmapped/freed at release) */
    size_t *buffer_sizes;
    bool *buffer_mapped;
    size_t n_buffers;
};
struct prov {
    struct span name, version;
    int32_t pkg, next;
};
struct prov_name {
    char *name; /* owned; NULL: empty slot */
    size_t len;
    int32_t first; /* first prov of that name, or -1 when nothing provides it */
};

void pkg_index_init(struct pkg_index *idx);
void pkg_index_release(struct pkg_index *idx);
/* Parse a whole Packages file held in buf (ownership taken: free()d, or munmap()ed when
 * mapped) and add its packages. file names the source in messages. Paragraphs without Package
 * or Version are skipped with a warning. */
int pkg_index_add(struct pkg_index *idx, char *buf, size_t len, bool mapped, const char *file,
                  struct rs_err *err);
/* First package of that name (follow next_same_name for others), or -1. */
int32_t pkg_index_find(const struct pkg_index *idx, const char *name, size_t len);
/* Iterate the providers of a virtual name: *cursor starts at -2. Returns the prov index or -1. */
int32_t pkg_index_next_provider(struct pkg_index *idx, const char *name, size_t len,
                                int32_t *cursor);

/* ---- resolver (resolve.c) ---- */

struct resolve_opts {
    const char *arch;   /* native architecture, for ":arch" qualifiers */
    const char *suite;  /* for messages */
    char *const *seeds; /* names to install (NULL-terminated) */
    char *const
        *seed_why; /* parallel to seeds: "Priority: required", "--include" … (may be NULL) */
    char *const *exclude;
};
/* Close seeds over Pre-Depends and Depends. Writes the chosen package indexes (sorted by
 * name) to *ret (owned) and their count. */
int resolve_closure(struct pkg_index *idx, const struct resolve_opts *o, int32_t **ret,
                    size_t *ret_n, struct rs_err *err);
/* Names of the seed set of a variant (owned strv, with a parallel strv of reasons). */
int resolve_variant_seeds(struct pkg_index *idx, enum build_variant v, char ***ret_seeds,
                          char ***ret_why, struct rs_err *err);
/* Fill a build_pkg from an index entry. */
void resolve_fill_pkg(const struct pkg *p, struct build_pkg *ret);

/* ---- Release (release.c) ---- */

/* Extract the signed text of a clearsigned message (dash-escaping undone). Rejects anything
 * outside the one signed block. Returns an owned buffer. */
int pgp_clearsigned_text(const char *buf, size_t len, char **ret, size_t *ret_len,
                         struct rs_err *err);

struct release_file {
    char *path; /* "main/binary-amd64/Packages.xz" */
    char sha256[RS_SHA256_HEX_LEN + 1];
    uint64_t size;
};
struct release_info {
    struct build_release r;
    bool acquire_by_hash;
    char **architectures, **components;
    struct release_file *files;
    size_t n_files;
};
/* Parse the (signed) text of a Release file. */
int release_parse(const char *text, size_t len, const char *file, struct release_info *ret,
                  struct rs_err *err);
void release_info_release(struct release_info *ri);
const struct release_file *release_find(const struct release_info *ri, const char *path);
/* Parse an RFC 2822 date as Release files write it ("Sat, 21 Nov 2026 09:15:44 UTC"). */
int release_parse_date(const char *s, time_t *ret);

enum gpgv_result {
    GPGV_GOOD,
    GPGV_BAD,
    GPGV_EXPIRED_SIG,
    GPGV_EXPIRED_KEY,
    GPGV_REVOKED,
    GPGV_NO_PUBKEY,
    GPGV_NO_SIGNATURE,
    GPGV_ERROR,
    _GPGV_RESULT_MAX
};
/* Run gpgv (fork + execvp) on a clearsigned file (sig_path NULL) or a detached signature, and
 * classify its --status-fd output. Returns 0 when some signature is good (fingerprint in
 * ret_fpr, owned), else -EBADMSG (or -ENOENT when gpgv is missing) with err saying which:
 * "bad signature", "expired signature", "no public key 'ID'". */
int gpgv_verify(const char *keyring, const char *data_path, const char *sig_path, char **ret_fpr,
                enum gpgv_result *ret_result, struct rs_err *err);

/* Parse apt sources (deb822 .sources or one-line .list) and return the first Debian archive
 * URI. -ENOENT if none. */
int sources_parse_deb822(const char *text, size_t len, const char *file, char **ret,
                         struct rs_err *err);
int sources_parse_list(const char *text, size_t len, const char *file, char **ret,
                       struct rs_err *err);

/* ---- resolution and verification caches (rescache.c) ---- */

struct cache;

/* The key of a resolution: everything it depends on (the digest of the signed (In)Release,
 * which pins every index; arch; components and include in the order given; exclude; variant;
 * the resolver's format version). Owned hex. */
char *rescache_key(const char *release_sha256, const char *arch, char *const *components,
                   enum build_variant variant, char *const *include, char *const *exclude);
/* 1 and *ret (owned, as build_resolve gives it) for a valid entry; 0 for a missing, corrupt
 * or foreign one (logged at debug level, never trusted). */
int rescache_get(struct cache *c, const char *key, struct build_pkg_list *ret);
/* Keep l under key, atomically. Every package needs its stanza. */
int rescache_put(struct cache *c, const char *key, const struct build_pkg_list *l,
                 struct rs_err *err);

/* The key of a signature verdict: the signed blob, the detached signature blob (NULL for
 * InRelease) and the keyring's content. NULL (owned otherwise) when the keyring is unreadable:
 * then gpgv runs and says why. */
char *verify_cache_key(const char *keyring, const char *data_hex, const char *sig_hex);
/* 1 and the accepted key's fingerprint (owned) for a verdict younger than a day; else 0. */
int verify_cache_get(struct cache *c, const char *key, char **ret_fpr);
/* Remember that gpgv accepted key's blob, signed by fpr. */
int verify_cache_put(struct cache *c, const char *key, const char *fpr, struct rs_err *err);

/* ---- downloading while unpacking (archive.c) ---- */

/* How build_download_hooked() reports to a build that unpacks the .debs as they come. */
struct build_download_hooks {
    char *const *first; /* NULL-terminated, may be NULL: fetched before the others */
    /* l->pkgs[i] is a verified blob in the store: called (on the calling thread) for each
     * package already there, then for each download as it is committed. */
    void (*ready)(void *data, size_t i);
    /* May be NULL. Asked at least every 100 ms: true cancels what is left (-ECANCELED). */
    bool (*cancelled)(void *data);
    void *data;
};
/* build_download() with hooks (h may be NULL: then it is build_download()). */
int build_download_hooked(struct build_archive *a, const struct build_pkg_list *l, unsigned flags,
                          const struct build_download_hooks *h, size_t *ret_n_fetched,
                          struct rs_err *err);

/* ---- HTTP (http.c) ---- */

struct cache;
struct rs_progress;

struct http_req {
    /* in (borrowed) */
    const char *url;
    const char *label;                /* for messages: the package name or the index path */
    bool to_store;                    /* body goes into a blob; else into body */
    const char *expected_sha256;      /* with to_store: the blob must hash to this */
    uint64_t expected_size;           /* 0: unknown */
    const char *etag, *last_modified; /* conditional GET when set */
    size_t max_body;                  /* memory bodies: limit (default 16 MiB) */
    /* out */
    long status; /* final HTTP status (304 = not modified) */
    char *body;  /* owned, NUL-terminated, memory bodies */
    size_t body_len;
    char *etag_out, *last_modified_out; /* owned, validators of the response */
    char blob_hex[RS_SHA256_HEX_LEN + 1];
    bool fetched; /* true when a body was transferred */
    int result;   /* 0 or -errno; err filled when < 0 */
    struct rs_err err;
    /* private */
    struct http_xfer *x;
};
void http_req_release(struct http_req *r);

struct http_opts {
    unsigned max_parallel;   /* default 8 */
    unsigned max_attempts;   /* default 5 */
    unsigned retry_delay_ms; /* first backoff, doubled each time; default 250 */
    unsigned stall_seconds;  /* abort a transfer that moves no byte for this long; default 30 */
    bool accept_404;         /* a 404 is a result (status 404), not an error */
    /* May be NULL. Called on http_run()'s thread once a request has its final result: for a
     * to_store request with result 0 the blob is verified and committed. Keep it short: the
     * transfers wait meanwhile. */
    void (*done)(struct http_req *r, void *data);
    /* May be NULL. Asked between transfer events (at least every 100 ms): true cancels every
     * request not yet done (-ECANCELED, "cancelled"), partial bodies discarded. */
    bool (*cancelled)(void *data);
    void *data; /* for done and cancelled */
};
/* Run all requests to completion in parallel. Each request has its own result; the return
 * value is 0 if all succeeded, else the first failure (err copied from it). */
int http_run(struct cache *c, struct http_req **reqs, size_t n, const struct http_opts *o,
             struct rs_progress *progress, struct rs_err *err);
/* The stall timeout from $ROOTSTOCK_HTTP_STALL_TIMEOUT (seconds), else 30. */
unsigned http_default_stall_seconds(void);
