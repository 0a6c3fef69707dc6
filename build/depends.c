/* Depends-style fields: "a (>= 1) | b:any [amd64] <!nocheck>, c". The result points into the
 * parsed text; nothing is copied. */
#include "build/build-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

#define DEP_MAX_ALTS 100000

static const char *skip_ws(const char *s, const char *e)
{
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '-' || c == '.' || c == '_';
}

static int bad(struct rs_err *err, const char *s, size_t len, const char *at, const char *why)
{
    return rs_err_msg(err, -EBADMSG, "bad dependency '%.*s': %s at offset %zu",
                      (int)(len > 200 ? 200 : len), s, why, (size_t)(at - s));
}

static const char *skip_group(const char *q, const char *e, char close)
{
    const char *c = memchr(q, close, (size_t)(e - q));
    return c ? c + 1 : NULL;
}

static int parse_op(const char **pq, const char *e, enum dep_op *op)
{
    const char *q = *pq;
    if (q + 1 < e && q[0] == '<' && q[1] == '<')
        *op = DEP_LT, q += 2;
    else if (q + 1 < e && q[0] == '<' && q[1] == '=')
        *op = DEP_LE, q += 2;
    else if (q + 1 < e && q[0] == '>' && q[1] == '>')
        *op = DEP_GT, q += 2;
    else if (q + 1 < e && q[0] == '>' && q[1] == '=')
        *op = DEP_GE, q += 2;
    else if (q < e && q[0] == '=')
        *op = DEP_EQ, q += 1;
    else if (q < e && q[0] == '<') /* obsolete form, means <= */
        *op = DEP_LE, q += 1;
    else if (q < e && q[0] == '>') /* obsolete form, means >= */
        *op = DEP_GE, q += 1;
    else
        return -1;
    *pq = q;
    return 0;
}

static int parse_alt(const char *s, size_t len, const char **pq, struct dep_alt *a,
                     struct rs_err *err)
{
    const char *e = s + len, *q = skip_ws(*pq, e), *n = q;

    while (q < e && name_char(*q))
        q++;
    if (q == n)
        return bad(err, s, len, q, "expected a package name");
    a->name = n;
    a->name_len = (uint32_t)(q - n);
    if (q < e && *q == ':') {
        const char *arch = ++q;
        while (q < e && name_char(*q))
            q++;
        if (q == arch)
            return bad(err, s, len, q, "expected an architecture after ':'");
        a->arch = arch;
        a->arch_len = (uint32_t)(q - arch);
    }
    q = skip_ws(q, e);
    if (q < e && *q == '(') {
        q = skip_ws(q + 1, e);
        if (parse_op(&q, e, &a->op) < 0)
            return bad(err, s, len, q, "expected a relation (<<, <=, =, >=, >>)");
        q = skip_ws(q, e);
        const char *v = q;
        while (q < e && *q != ')' && *q != ' ' && *q != '\t' && *q != '\n' && *q != ',' &&
               *q != '|')
            q++;
        if (q == v)
            return bad(err, s, len, q, "expected a version");
        a->version = v;
        a->version_len = (uint32_t)(q - v);
        q = skip_ws(q, e);
        if (q >= e || *q != ')')
            return bad(err, s, len, q, "expected ')'");
        q = skip_ws(q + 1, e);
    }
    /* Architecture restrictions and build profiles only appear in source packages; accept and
     * ignore them. */
    while (q < e && (*q == '[' || *q == '<')) {
        q = skip_group(q, e, *q == '[' ? ']' : '>');
        if (!q)
            return bad(err, s, len, e, "unterminated '[' or '<'");
        q = skip_ws(q, e);
    }
    *pq = q;
    return 0;
}

int dep_parse(const char *s, size_t len, struct dep_list *ret, struct rs_err *err)
{
    const char *e = s + len, *q = skip_ws(s, e);
    struct dep_list l = { 0 };
    size_t alloc = 0;

    if (q == e) {
        *ret = l;
        return 0;
    }
    for (;;) {
        struct dep_alt a = { .clause = (uint32_t)l.n_clauses };
        int r = parse_alt(s, len, &q, &a, err);
        if (r < 0) {
            free(l.alts);
            return r;
        }
        if (l.n_alts >= DEP_MAX_ALTS) {
            free(l.alts);
            return bad(err, s, len, q, "too many alternatives");
        }
        if (l.n_alts == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            l.alts = xreallocarray(l.alts, alloc, sizeof(*l.alts));
        }
        l.alts[l.n_alts++] = a;
        q = skip_ws(q, e);
        if (q >= e)
            break;
        if (*q == '|') {
            q++;
            continue;
        }
        if (*q == ',') {
            q = skip_ws(q + 1, e);
            l.n_clauses++;
            if (q >= e) /* a trailing comma is tolerated, as dpkg does */
                break;
            continue;
        }
        free(l.alts);
        return bad(err, s, len, q, "expected ',' or '|'");
    }
    l.n_clauses = l.n_alts ? l.alts[l.n_alts - 1].clause + 1 : 0;
    *ret = l;
    return 0;
}

void dep_list_release(struct dep_list *l)
{
    free(l->alts);
    *l = (struct dep_list){ 0 };
}

const char *dep_op_to_string(enum dep_op op)
{
    switch (op) {
    case DEP_ANY:
        return "";
    case DEP_LT:
        return "<<";
    case DEP_LE:
        return "<=";
    case DEP_EQ:
        return "=";
    case DEP_GE:
        return ">=";
    case DEP_GT:
        return ">>";
    case _DEP_OP_MAX:
        break;
    }
    return "?";
}

bool dep_version_ok(enum dep_op op, const char *want, size_t want_len, const char *v, size_t v_len)
{
    int c;
    if (op == DEP_ANY)
        return true;
    if (!v)
        return false;
    c = deb_version_cmp(v, v_len, want, want_len);
    switch (op) {
    case DEP_ANY:
        return true;
    case DEP_LT:
        return c < 0;
    case DEP_LE:
        return c <= 0;
    case DEP_EQ:
        return c == 0;
    case DEP_GE:
        return c >= 0;
    case DEP_GT:
        return c > 0;
    case _DEP_OP_MAX:
        break;
    }
    return false;
}
