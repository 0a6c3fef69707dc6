/* deb822 control-file parser (Packages, Release, apt .sources). Works in place over a buffer
 * (usually an mmap of a 60 MB index) and allocates nothing per paragraph: a paragraph is a
 * span, fields are found by scanning it. */
#include "build/build-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strv.h"
#include "common/xalloc.h"

void deb822_parser_init(struct deb822_parser *p, const char *buf, size_t len, const char *file)
{
    *p = (struct deb822_parser){ .pos = buf, .end = buf + len, .file = file, .line = 1 };
}

void deb822_parser_release(struct deb822_parser *p)
{
    p->warnings = strv_free(p->warnings);
}

static const char *line_end(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? nl : end;
}

static bool blank_line(const char *s, const char *e)
{
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r')
            return false;
    return true;
}

/* A field line is "Name:" with a name of printable non-blank characters not starting with
 * '-' or '#'. Returns the name length, or 0 if this is not a field line. */
static size_t field_name_len(const char *s, const char *e)
{
    const char *q = s;
    if (q >= e || *q == '-' || *q == '#')
        return 0;
    for (; q < e && *q != ':'; q++)
        if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
            return 0;
    if (q >= e || q == s)
        return 0;
    return (size_t)(q - s);
}

static int warn(struct deb822_parser *p, unsigned line, const char *what, struct rs_err *err)
{
    if (strv_length(p->warnings) >= DEB822_MAX_WARNINGS)
        return rs_err_msg(err, -EBADMSG, "%s:%u: %s; too many malformed paragraphs, giving up",
                          p->file, line, what);
    strv_consume(&p->warnings, xasprintf("%s:%u: %s, skipping paragraph", p->file, line, what));
    return 0;
}

int deb822_next(struct deb822_parser *p, struct deb822_para *ret, struct rs_err *err)
{
    for (;;) {
        const char *s, *e, *start = NULL;
        unsigned start_line = 0;
        const char *bad = NULL;
        unsigned bad_line = 0;
        size_t value_len = 0;

        /* Skip blank lines and leading comments. */
        while (p->pos < p->end) {
            e = line_end(p->pos, p->end);
            if (!blank_line(p->pos, e) && *p->pos != '#')
                break;
            p->pos = e < p->end ? e + 1 : e;
            p->line++;
        }
        if (p->pos >= p->end)
            return 0;
        if (p->n_paragraphs >= DEB822_MAX_PARAGRAPHS)
            return rs_err_msg(err, -EBADMSG, "%s:%u: more than %u paragraphs", p->file, p->line,
                              DEB822_MAX_PARAGRAPHS);

        start = p->pos;
        start_line = p->line;
        for (s = p->pos; s < p->end; p->line++) {
            e = line_end(s, p->end);
            if (blank_line(s, e))
                break;
            if (*s == ' ' || *s == '\t') {
                if (s == start && !bad) {
                    bad = "continuation line without a field";
                    bad_line = p->line;
                }
                value_len += (size_t)(e - s) + 1;
            } else if (*s == '#') {
                /* comment line (allowed in .sources files) */
            } else if (field_name_len(s, e) == 0) {
                if (!bad) {
                    bad = memchr(s, ':', (size_t)(e - s)) ? "invalid field name"
                                                          : "line is not 'Field: value'";
                    bad_line = p->line;
                }
            } else {
                value_len = (size_t)(e - s);
            }
            if (value_len > DEB822_MAX_VALUE && !bad) {
                bad = "field value too large";
                bad_line = p->line;
            }
            s = e < p->end ? e + 1 : e;
        }
        p->pos = s;
        if (bad) {
            int r = warn(p, bad_line, bad, err);
            if (r < 0)
                return r;
            continue;
        }
        p->n_paragraphs++;
        *ret =
            (struct deb822_para){ .start = start, .len = (size_t)(s - start), .line = start_line };
        return 1;
    }
}

bool deb822_field_next(const struct deb822_para *para, const char **cursor,
                       struct deb822_field *ret)
{
    const char *end = para->start + para->len;
    const char *s = *cursor ? *cursor : para->start;

    while (s < end) {
        const char *e = line_end(s, end);
        size_t nl = field_name_len(s, e);
        if (nl == 0 || *s == ' ' || *s == '\t') {
            s = e < end ? e + 1 : e;
            continue;
        }
        const char *v = s + nl + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        const char *vend = e;
        const char *next = e < end ? e + 1 : e;
        /* Swallow continuation lines (and comment lines between them). */
        while (next < end && (*next == ' ' || *next == '\t' || *next == '#')) {
            const char *ne = line_end(next, end);
            if (*next != '#')
                vend = ne;
            next = ne < end ? ne + 1 : ne;
        }
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
            vend--;
        *ret = (struct deb822_field){
            .name = s, .name_len = nl, .value = v, .value_len = (size_t)(vend - v)
        };
        *cursor = next;
        return true;
    }
    return false;
}

bool deb822_get(const struct deb822_para *para, const char *name, struct deb822_field *ret)
{
    const char *cursor = NULL;
    struct deb822_field f = { 0 };
    size_t len = strlen(name);

    while (deb822_field_next(para, &cursor, &f))
        if (f.name_len == len && strncasecmp(f.name, name, len) == 0) {
            *ret = f;
            return true;
        }
    return false;
}

unsigned deb822_line_of(const struct deb822_para *para, const char *p)
{
    unsigned line = para->line;
    for (const char *s = para->start; s < p; s++)
        line += *s == '\n';
    return line;
}

char *deb822_value_dup(const struct deb822_field *f)
{
    char *out = xmalloc(f->value_len + 1);
    const char *s = f->value, *end = f->value + f->value_len;
    size_t n = 0;
    bool first = true;

    while (s < end) {
        const char *e = line_end(s, end);
        const char *a = s;
        if (!first) {
            if (*a == '#') { /* a comment line inside a value */
                s = e < end ? e + 1 : e;
                continue;
            }
            out[n++] = '\n';
            if (a < e && (*a == ' ' || *a == '\t'))
                a++;
            if (e - a == 1 && *a == '.')
                a = e;
        }
        const char *b = e;
        while (b > a && b[-1] == '\r')
            b--;
        memcpy(out + n, a, (size_t)(b - a));
        n += (size_t)(b - a);
        first = false;
        s = e < end ? e + 1 : e;
    }
    out[n] = '\0';
    return out;
}
