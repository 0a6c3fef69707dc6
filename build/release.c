/* Release and InRelease: the clearsigned text, its fields and SHA256 list, and signature
 * checks by gpgv (run as a child with an argv, its verdict read from --status-fd). */
#include "build/build-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define BEGIN_SIGNED "-----BEGIN PGP SIGNED MESSAGE-----"
#define BEGIN_SIG    "-----BEGIN PGP SIGNATURE-----"
#define END_SIG      "-----END PGP SIGNATURE-----"

static const char *next_line(const char *s, const char *end, const char **ret_eol)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *eol = nl ? nl : end;
    while (eol > s && eol[-1] == '\r')
        eol--;
    *ret_eol = eol;
    return nl ? nl + 1 : end;
}

static bool line_is(const char *s, const char *eol, const char *lit)
{
    /* Armor lines may carry trailing blanks. */
    size_t n = strlen(lit);
    if ((size_t)(eol - s) < n || memcmp(s, lit, n) != 0)
        return false;
    for (s += n; s < eol; s++)
        if (*s != ' ' && *s != '\t')
            return false;
    return true;
}

int pgp_clearsigned_text(const char *buf, size_t len, char **ret, size_t *ret_len,
                         struct rs_err *err)
{
    const char *s = buf, *end = buf + len, *eol, *next;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT(64u << 20);
    bool in_text = false, seen_sig = false, seen_end = false;

    /* Nothing but blank lines may precede the armor header. */
    for (;;) {
        if (s >= end)
            return rs_err_msg(err, -EBADMSG, "not a clearsigned message (no '%s' line)",
                              BEGIN_SIGNED);
        next = next_line(s, end, &eol);
        if (line_is(s, eol, BEGIN_SIGNED))
            break;
        if (eol != s)
            return rs_err_msg(err, -EBADMSG, "unsigned data before the signed message");
        s = next;
    }
    s = next;
    /* Armor headers ("Hash: SHA256") up to an empty line. */
    for (;;) {
        if (s >= end)
            return rs_err_msg(err, -EBADMSG, "clearsigned message ends in its header");
        next = next_line(s, end, &eol);
        if (eol == s)
            break;
        if (!memchr(s, ':', (size_t)(eol - s)))
            return rs_err_msg(err, -EBADMSG, "bad armor header in clearsigned message");
        s = next;
    }
    s = next;
    while (s < end) {
        next = next_line(s, end, &eol);
        if (!seen_sig) {
            if (line_is(s, eol, BEGIN_SIG)) {
                seen_sig = true;
            } else {
                const char *t = s;
                if (eol - s >= 2 && s[0] == '-' && s[1] == ' ')
                    t = s + 2; /* dash-escaped line */
                else if (eol > s && s[0] == '-')
                    return rs_err_msg(err, -EBADMSG, "clearsigned text has an unescaped '-' line");
                /* The line break before the signature belongs to the armor, not the text. */
                if (in_text && strbuf_addch(&out, '\n') < 0)
                    return rs_err_msg(err, -E2BIG, "clearsigned message too large");
                if (strbuf_add(&out, t, (size_t)(eol - t)) < 0)
                    return rs_err_msg(err, -E2BIG, "clearsigned message too large");
                in_text = true;
            }
        } else if (!seen_end) {
            if (line_is(s, eol, END_SIG))
                seen_end = true;
        } else if (eol != s) {
            return rs_err_msg(err, -EBADMSG, "unsigned data after the signature");
        }
        s = next;
    }
    if (!seen_sig || !seen_end)
        return rs_err_msg(err, -EBADMSG, "clearsigned message has no complete signature block");
    if (strbuf_addch(&out, '\n') < 0)
        return rs_err_msg(err, -E2BIG, "clearsigned message too large");
    *ret = strbuf_detach(&out, ret_len);
    return 0;
}

int release_parse_date(const char *s, time_t *ret)
{
    struct tm tm = { 0 };
    const char *p = s, *e;

    /* "Sat, 21 Nov 2026 09:15:44 UTC" (the weekday is optional; the zone is UTC/GMT/+0000). */
    if (strchr(p, ','))
        p = strchr(p, ',') + 1;
    while (*p == ' ')
        p++;
    e = strptime(p, "%d %b %Y %H:%M:%S", &tm);
    if (!e)
        return -EINVAL;
    while (*e == ' ')
        e++;
    if (*e && strcmp(e, "UTC") != 0 && strcmp(e, "GMT") != 0 && strcmp(e, "+0000") != 0 &&
        strcmp(e, "Z") != 0)
        return -EINVAL;
    *ret = timegm(&tm);
    return 0;
}

static bool is_hex64(const char *s, size_t len)
{
    if (len != RS_SHA256_HEX_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int parse_sha256_list(const struct deb822_field *f, const char *file, unsigned line,
                             struct release_info *ri, struct rs_err *err)
{
    const char *s = f->value, *end = f->value + f->value_len;
    size_t alloc = 0;

    while (s < end) {
        const char *eol, *next = next_line(s, end, &eol);
        char *words[3];
        _cleanup_free_ char *copy = xstrndup(s, (size_t)(eol - s));
        char *save = NULL, *w;
        int n = 0;
        for (w = strtok_r(copy, " \t", &save); w && n < 3; w = strtok_r(NULL, " \t", &save))
            words[n++] = w;
        s = next;
        if (n == 0)
            continue;
        uint64_t size = 0;
        bool ok = n == 3 && is_hex64(words[0], strlen(words[0])) && strlen(words[1]) <= 19;
        for (const char *d = ok ? words[1] : ""; *d; d++) {
            ok = ok && *d >= '0' && *d <= '9';
            size = size * 10 + (uint64_t)(*d - '0');
        }
        if (!ok)
            return rs_err_msg(err, -EBADMSG, "%s:%u: bad SHA256 line '%s'", file, line, copy);
        if (ri->n_files == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            ri->files = xreallocarray(ri->files, alloc, sizeof(*ri->files));
        }
        struct release_file *rf = &ri->files[ri->n_files++];
        rf->path = xstrdup(words[2]);
        memcpy(rf->sha256, words[0], RS_SHA256_HEX_LEN + 1);
        rf->size = size;
    }
    return 0;
}

int release_parse(const char *text, size_t len, const char *file, struct release_info *ret,
                  struct rs_err *err)
{
    struct deb822_parser p;
    struct deb822_para para;
    struct release_info ri = { 0 };
    const char *cursor = NULL;
    struct deb822_field f;
    int r;

    deb822_parser_init(&p, text, len, file);
    r = deb822_next(&p, &para, err);
    deb822_parser_release(&p);
    if (r == 0)
        r = rs_err_msg(err, -EBADMSG, "%s: empty Release file", file);
    if (r < 0)
        return r;
    while (deb822_field_next(&para, &cursor, &f)) {
        char **dst = NULL;
#define F(lit) (f.name_len == sizeof(lit) - 1 && strncasecmp(f.name, lit, f.name_len) == 0)
        if (F("Origin"))
            dst = &ri.r.origin;
        else if (F("Label"))
            dst = &ri.r.label;
        else if (F("Suite"))
            dst = &ri.r.suite;
        else if (F("Codename"))
            dst = &ri.r.codename;
        else if (F("Version"))
            dst = &ri.r.version;
        else if (F("Date"))
            dst = &ri.r.date;
        else if (F("Valid-Until"))
            dst = &ri.r.valid_until;
        else if (F("Acquire-By-Hash"))
            ri.acquire_by_hash = f.value_len == 3 && strncasecmp(f.value, "yes", 3) == 0;
        else if (F("Architectures") || F("Components")) {
            _cleanup_free_ char *v = deb822_value_dup(&f);
            char ***l = F("Components") ? &ri.components : &ri.architectures;
            strv_free(*l);
            *l = strv_split(v, " \t\n");
        } else if (F("SHA256")) {
            r = parse_sha256_list(&f, file, deb822_line_of(&para, f.name), &ri, err);
            if (r < 0) {
                release_info_release(&ri);
                return r;
            }
        }
#undef F
        if (dst) {
            free(*dst);
            *dst = deb822_value_dup(&f);
        }
    }
    if (ri.r.date && release_parse_date(ri.r.date, &ri.r.date_time) < 0)
        log_debug("%s: cannot parse Date '%s'", file, ri.r.date);
    if (ri.r.valid_until && release_parse_date(ri.r.valid_until, &ri.r.valid_until_time) < 0) {
        r = rs_err_msg(err, -EBADMSG, "%s: cannot parse Valid-Until '%s'", file, ri.r.valid_until);
        release_info_release(&ri);
        return r;
    }
    if (!ri.r.suite && !ri.r.codename) {
        release_info_release(&ri);
        return rs_err_msg(err, -EBADMSG, "%s: neither Suite nor Codename", file);
    }
    *ret = ri;
    return 0;
}

void release_info_release(struct release_info *ri)
{
    struct build_release *r = &ri->r;
    free(r->origin);
    free(r->label);
    free(r->suite);
    free(r->codename);
    free(r->version);
    free(r->date);
    free(r->valid_until);
    free(r->signed_by);
    free(r->release_sha256);
    strv_free(ri->architectures);
    strv_free(ri->components);
    for (size_t i = 0; i < ri->n_files; i++)
        free(ri->files[i].path);
    free(ri->files);
    *ri = (struct release_info){ 0 };
}

const struct release_file *release_find(const struct release_info *ri, const char *path)
{
    for (size_t i = 0; i < ri->n_files; i++)
        if (strcmp(ri->files[i].path, path) == 0)
            return &ri->files[i];
    return NULL;
}

/* ---- gpgv ---- */

static int run_gpgv(const char *keyring, const char *data_path, const char *sig_path,
                    struct strbuf *status, int *ret_wstatus, struct rs_err *err)
{
    int pipefd[2], devnull;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return rs_err_set(err, -errno, "cannot create a pipe for gpgv");
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        safe_close(devnull);
        return rs_err_set(err, r, "cannot fork gpgv");
    }
    if (pid == 0) {
        char fdarg[16];
        const char *argv[10];
        int n = 0;
        /* The status pipe becomes fd 3 in the child, everything else is closed on exec. */
        if (dup2(pipefd[1], 3) < 0)
            _exit(126);
        if (devnull >= 0) {
            (void)dup2(devnull, 0);
            (void)dup2(devnull, 1);
            (void)dup2(devnull, 2);
        }
        snprintf(fdarg, sizeof(fdarg), "%d", 3);
        argv[n++] = "gpgv";
        argv[n++] = "--quiet";
        argv[n++] = "--status-fd";
        argv[n++] = fdarg;
        argv[n++] = "--keyring";
        argv[n++] = keyring;
        argv[n++] = sig_path ? sig_path : data_path;
        if (sig_path)
            argv[n++] = data_path;
        argv[n] = NULL;
        signal(SIGPIPE, SIG_DFL);
        execvp("gpgv", (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    safe_close(devnull);
    for (;;) {
        char buf[4096];
        ssize_t n = read(pipefd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        (void)strbuf_add(status, buf, (size_t)n); /* bounded; beyond the limit is noise */
    }
    close(pipefd[0]);
    while (waitpid(pid, ret_wstatus, 0) < 0)
        if (errno != EINTR)
            return rs_err_set(err, -errno, "cannot wait for gpgv");
    return 0;
}

static const char *gpgv_what(enum gpgv_result r)
{
    switch (r) {
    case GPGV_GOOD:
        return "good signature";
    case GPGV_BAD:
        return "bad signature";
    case GPGV_EXPIRED_SIG:
        return "expired signature";
    case GPGV_EXPIRED_KEY:
        return "signature by an expired key";
    case GPGV_REVOKED:
        return "signature by a revoked key";
    case GPGV_NO_PUBKEY:
        return "no public key for the signature";
    case GPGV_NO_SIGNATURE:
        return "no signature";
    case GPGV_ERROR:
        return "signature cannot be checked";
    case _GPGV_RESULT_MAX:
        break;
    }
    return "?";
}

int gpgv_verify(const char *keyring, const char *data_path, const char *sig_path, char **ret_fpr,
                enum gpgv_result *ret_result, struct rs_err *err)
{
    _cleanup_strbuf_ struct strbuf status = STRBUF_INIT(1u << 20);
    _cleanup_free_ char *fpr = NULL, *key = NULL;
    enum gpgv_result worst = GPGV_NO_SIGNATURE;
    bool good = false, valid = false;
    int wstatus = 0, r;

    if (access(keyring, R_OK) < 0)
        return rs_err_set(err, -errno, "cannot read keyring '%s'", keyring);
    r = run_gpgv(keyring, data_path, sig_path, &status, &wstatus, err);
    if (r < 0)
        return r;
    if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 127) {
        r = rs_err_msg(err, -ENOENT, "cannot run gpgv to check the archive signature");
        rs_err_hint(err, "install gpgv, or pass --no-verify to skip the check");
        return r;
    }
    /* Several keys sign Debian's Release files; like apt and debootstrap, one good signature
     * by a key in the keyring is enough. Otherwise report the most telling failure. */
    const char *s = strbuf_str(&status);
    while (*s) {
        const char *eol = strchr(s, '\n');
        size_t n = eol ? (size_t)(eol - s) : strlen(s);
        _cleanup_free_ char *line = xstrndup(s, n);
        s += n + (eol ? 1 : 0);
        if (strncmp(line, "[GNUPG:] ", 9) != 0)
            continue;
        const char *kw = line + 9;
        const char *arg = strchr(kw, ' ');
        size_t kwlen = arg ? (size_t)(arg - kw) : strlen(kw);
        arg = arg ? arg + 1 : "";
        enum gpgv_result this = _GPGV_RESULT_MAX;
#define KW(lit) (kwlen == sizeof(lit) - 1 && memcmp(kw, lit, kwlen) == 0)
        if (KW("GOODSIG"))
            good = true;
        else if (KW("VALIDSIG")) {
            valid = true;
            if (!fpr)
                fpr = xstrndup(arg, strcspn(arg, " "));
        } else if (KW("BADSIG"))
            this = GPGV_BAD;
        else if (KW("EXPSIG"))
            this = GPGV_EXPIRED_SIG;
        else if (KW("EXPKEYSIG"))
            this = GPGV_EXPIRED_KEY;
        else if (KW("REVKEYSIG"))
            this = GPGV_REVOKED;
        else if (KW("NO_PUBKEY"))
            this = GPGV_NO_PUBKEY;
        else if (KW("ERRSIG"))
            this = GPGV_ERROR;
#undef KW
        /* Rank: bad > expired > revoked > no key > error. */
        static const int rank[_GPGV_RESULT_MAX + 1] = {
            [GPGV_BAD] = 6,          [GPGV_EXPIRED_SIG] = 5, [GPGV_EXPIRED_KEY] = 5,
            [GPGV_REVOKED] = 4,      [GPGV_NO_PUBKEY] = 3,   [GPGV_ERROR] = 2,
            [GPGV_NO_SIGNATURE] = 1,
        };
        if (this != _GPGV_RESULT_MAX && rank[this] > rank[worst]) {
            worst = this;
            free(key);
            key = xstrndup(arg, strcspn(arg, " "));
        } else if (this == GPGV_NO_PUBKEY && !key) {
            key = xstrndup(arg, strcspn(arg, " "));
        }
    }
    if (good && valid && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
        if (ret_result)
            *ret_result = GPGV_GOOD;
        if (ret_fpr)
            *ret_fpr = TAKE_PTR(fpr);
        return 0;
    }
    if (worst == GPGV_NO_SIGNATURE && (good || valid))
        worst = GPGV_ERROR;
    if (ret_result)
        *ret_result = worst;
    if (key && *key)
        r = rs_err_msg(err, -EBADMSG, "%s (key %s)", gpgv_what(worst), key);
    else
        r = rs_err_msg(err, -EBADMSG, "%s", gpgv_what(worst));
    return r;
}
