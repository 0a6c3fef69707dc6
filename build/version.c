/* Debian version comparison, a port of dpkg's lib/dpkg/version.c (verrevcmp) to spans, so it
 * runs on fields of an mmap'd index without copying them. */
#include "build/build-internal.h"

#include <errno.h>
#include <string.h>

static bool c_isdigit(int c)
{
    return c >= '0' && c <= '9';
}

static bool c_isalpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int order(int c)
{
    if (c_isdigit(c))
        return 0;
    if (c_isalpha(c))
        return c;
    if (c == '~')
        return -1;
    if (c)
        return c + 256;
    return 0;
}

static int verrevcmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t i = 0, j = 0;
#define A (i < al ? (unsigned char)a[i] : 0)
#define B (j < bl ? (unsigned char)b[j] : 0)
    while (A || B) {
        int first_diff = 0;
        while ((A && !c_isdigit(A)) || (B && !c_isdigit(B))) {
            int ac = order(A);
            int bc = order(B);
            if (ac != bc)
                return ac - bc;
            i++;
            j++;
        }
        while (A == '0')
            i++;
        while (B == '0')
            j++;
        while (c_isdigit(A) && c_isdigit(B)) {
            if (!first_diff)
                first_diff = A - B;
            i++;
            j++;
        }
        if (c_isdigit(A))
            return 1;
        if (c_isdigit(B))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
#undef A
#undef B
}

struct ver {
    unsigned long epoch;
    const char *up, *rev;
    size_t up_len, rev_len;
};

static void split(const char *s, size_t len, struct ver *v)
{
    const char *colon = memchr(s, ':', len);
    const char *dash = NULL;

    v->epoch = 0;
    if (colon) {
        unsigned long e = 0;
        bool ok = colon > s;
        for (const char *q = s; q < colon; q++) {
            if (!c_isdigit(*q) || e > 0x7fffffffUL / 10) {
                ok = false;
                break;
            }
            e = e * 10 + (unsigned long)(*q - '0');
        }
        if (ok && e <= 0x7fffffffUL) {
            v->epoch = e;
            len -= (size_t)(colon + 1 - s);
            s = colon + 1;
        }
    }
    for (size_t k = len; k > 0; k--)
        if (s[k - 1] == '-') {
            dash = s + k - 1;
            break;
        }
    v->up = s;
    v->up_len = dash ? (size_t)(dash - s) : len;
    v->rev = dash ? dash + 1 : "";
    v->rev_len = dash ? len - v->up_len - 1 : 0;
}

int deb_version_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    struct ver va, vb;
    int r;

    split(a, a_len, &va);
    split(b, b_len, &vb);
    if (va.epoch != vb.epoch)
        return va.epoch > vb.epoch ? 1 : -1;
    r = verrevcmp(va.up, va.up_len, vb.up, vb.up_len);
    if (r)
        return r;
    return verrevcmp(va.rev, va.rev_len, vb.rev, vb.rev_len);
}

int deb_version_cmp_str(const char *a, const char *b)
{
    return deb_version_cmp(a, strlen(a), b, strlen(b));
}

int deb_version_check(const char *v, size_t len, struct rs_err *err)
{
    struct ver p;
    const char *colon = memchr(v, ':', len);

    if (len == 0)
        return rs_err_msg(err, -EINVAL, "empty version");
    for (size_t k = 0; k < len; k++)
        if (v[k] == ' ' || v[k] == '\t' || v[k] == '\n' || v[k] == '\0')
            return rs_err_msg(err, -EINVAL, "version '%.*s' has embedded spaces", (int)len, v);
    if (colon) {
        if (colon == v)
            return rs_err_msg(err, -EINVAL, "version '%.*s': epoch is empty", (int)len, v);
        for (const char *q = v; q < colon; q++)
            if (!c_isdigit(*q))
                return rs_err_msg(err, -EINVAL, "version '%.*s': epoch is not a number", (int)len,
                                  v);
        if (colon - v > 10)
            return rs_err_msg(err, -EINVAL, "version '%.*s': epoch is too big", (int)len, v);
    }
    split(v, len, &p);
    if (p.up_len == 0)
        return rs_err_msg(err, -EINVAL, "version '%.*s': nothing after colon", (int)len, v);
    if (memchr(v, '-', len) && p.rev_len == 0)
        return rs_err_msg(err, -EINVAL, "version '%.*s': revision number is empty", (int)len, v);
    if (!c_isdigit(p.up[0]))
        return rs_err_msg(err, -EINVAL,
                          "version '%.*s': version number does not start with a digit", (int)len,
                          v);
    for (size_t k = 0; k < p.up_len; k++)
        if (!c_isdigit(p.up[k]) && !c_isalpha(p.up[k]) && !strchr(".-+~:", p.up[k]))
            return rs_err_msg(err, -EINVAL, "version '%.*s': invalid character in version number",
                              (int)len, v);
    for (size_t k = 0; k < p.rev_len; k++)
        if (!c_isdigit(p.rev[k]) && !c_isalpha(p.rev[k]) && !strchr(".+~", p.rev[k]))
            return rs_err_msg(err, -EINVAL, "version '%.*s': invalid character in revision number",
                              (int)len, v);
    return 0;
}
