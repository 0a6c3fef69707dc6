/* The package index: every stanza of the Packages files as spans into the (mmap'd) text, a
 * hash table by name and, built on first use, one by provided name. */
#include "build/build-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "common/strv.h"
#include "common/xalloc.h"

void pkg_index_init(struct pkg_index *idx)
{
    *idx = (struct pkg_index){ 0 };
}

static void provides_reset(struct pkg_index *idx)
{
    for (size_t i = 0; i < idx->prov_names_size; i++)
        free(idx->prov_names[i].name);
    free(idx->prov_names);
    free(idx->provs);
    free(idx->prov_pkgs);
    idx->prov_names = NULL;
    idx->prov_names_size = idx->n_prov_names = 0;
    idx->provs = NULL;
    idx->n_provs = idx->alloc_provs = 0;
    idx->prov_pkgs = NULL;
    idx->n_prov_pkgs = 0;
    idx->prov_pkgs_known = false;
}

void pkg_index_release(struct pkg_index *idx)
{
    for (size_t i = 0; i < idx->n_buffers; i++) {
        if (idx->buffer_mapped[i])
            (void)munmap(idx->buffers[i], idx->buffer_sizes[i]);
        else
            free(idx->buffers[i]);
    }
    free(idx->buffers);
    free(idx->buffer_sizes);
    free(idx->buffer_mapped);
    free(idx->pkgs);
    free(idx->table);
    provides_reset(idx);
    strv_free(idx->warnings);
    *idx = (struct pkg_index){ 0 };
}

static uint32_t hash_name(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static bool span_eq(struct span a, const char *s, size_t len)
{
    return a.len == len && memcmp(a.p, s, len) == 0;
}

static void table_insert(struct pkg_index *idx, int32_t i)
{
    struct pkg *p = &idx->pkgs[i];
    size_t mask = idx->table_size - 1;
    for (size_t h = hash_name(p->name.p, p->name.len) & mask;; h = (h + 1) & mask) {
        int32_t cur = idx->table[h];
        if (cur < 0) {
            idx->table[h] = i;
            p->next_same_name = -1;
            return;
        }
        if (span_eq(idx->pkgs[cur].name, p->name.p, p->name.len)) {
            /* Keep the chain sorted highest version first, so lookups see the best first. */
            if (deb_version_cmp(p->version.p, p->version.len, idx->pkgs[cur].version.p,
                                idx->pkgs[cur].version.len) > 0) {
                p->next_same_name = cur;
                idx->table[h] = i;
            } else {
                int32_t *link = &idx->pkgs[cur].next_same_name;
                while (*link >= 0 &&
                       deb_version_cmp(p->version.p, p->version.len, idx->pkgs[*link].version.p,
                                       idx->pkgs[*link].version.len) <= 0)
                    link = &idx->pkgs[*link].next_same_name;
                p->next_same_name = *link;
                *link = i;
            }
            return;
        }
    }
}

static void rebuild_table(struct pkg_index *idx)
{
    size_t size = 1024;
    while (size < idx->n_pkgs * 2)
        size *= 2;
    free(idx->table);
    idx->table = xmalloc(size * sizeof(*idx->table));
    memset(idx->table, 0xff, size * sizeof(*idx->table));
    idx->table_size = size;
    for (size_t i = 0; i < idx->n_pkgs; i++)
        table_insert(idx, (int32_t)i);
    /* Provides are looked up again on next use. */
    provides_reset(idx);
}

#define FIELD_IS(f, lit) \
 ((f).name_len == sizeof(lit) - 1 && strncasecmp((f).name, lit, sizeof(lit) - 1) == 0)

static struct span sp(const struct deb822_field *f)
{
    return (struct span){ f->value,
                          f->value_len > UINT32_MAX ? UINT32_MAX : (uint32_t)f->value_len };
}

/* Fill p from one paragraph; false (with a warning) if it lacks Package or Version. */
static void parse_pkg(const struct deb822_para *para, struct pkg *p)
{
    const char *cursor = NULL;
    struct deb822_field f;

    *p = (struct pkg){ .para = para->start, .para_len = para->len, .next_same_name = -1 };
    while (p->para_len > 0 && (para->start[p->para_len - 1] == '\n'))
        p->para_len--;
    while (deb822_field_next(para, &cursor, &f)) {
        switch (f.name[0] | 0x20) {
        case 'p':
            if (FIELD_IS(f, "Package"))
                p->name = sp(&f);
            else if (FIELD_IS(f, "Pre-Depends"))
                p->pre_depends = sp(&f);
            else if (FIELD_IS(f, "Provides"))
                p->provides = sp(&f);
            else if (FIELD_IS(f, "Priority"))
                p->priority = sp(&f);
            break;
        case 'v':
            if (FIELD_IS(f, "Version"))
                p->version = sp(&f);
            break;
        case 'a':
            if (FIELD_IS(f, "Architecture"))
                p->arch = sp(&f);
            break;
        case 'd':
            if (FIELD_IS(f, "Depends"))
                p->depends = sp(&f);
            break;
        case 'e':
            if (FIELD_IS(f, "Essential"))
                p->essential = f.value_len == 3 && strncasecmp(f.value, "yes", 3) == 0;
            break;
        case 'f':
            if (FIELD_IS(f, "Filename"))
                p->filename = sp(&f);
            break;
        case 'm':
            if (FIELD_IS(f, "Multi-Arch"))
                p->multi_arch = sp(&f);
            break;
        case 's':
            if (FIELD_IS(f, "SHA256"))
                p->sha256 = sp(&f);
            else if (FIELD_IS(f, "Size")) {
                uint64_t v = 0;
                bool ok = f.value_len > 0 && f.value_len <= 19;
                for (size_t i = 0; ok && i < f.value_len; i++) {
                    ok = f.value[i] >= '0' && f.value[i] <= '9';
                    v = v * 10 + (uint64_t)(f.value[i] - '0');
                }
                p->size = ok ? v : 0;
            }
            break;
        default:
            break;
        }
    }
}

static bool span_has_space(struct span s)
{
    return memchr(s.p, ' ', s.len) || memchr(s.p, '\n', s.len) || memchr(s.p, '\t', s.len);
}

int pkg_index_add(struct pkg_index *idx, char *buf, size_t len, bool mapped, const char *file,
                  struct rs_err *err)
{
    struct deb822_parser parser;
    struct deb822_para para;
    int r;

    idx->buffers = xreallocarray(idx->buffers, idx->n_buffers + 1, sizeof(*idx->buffers));
    idx->buffer_sizes =
        xreallocarray(idx->buffer_sizes, idx->n_buffers + 1, sizeof(*idx->buffer_sizes));
    idx->buffer_mapped =
        xreallocarray(idx->buffer_mapped, idx->n_buffers + 1, sizeof(*idx->buffer_mapped));
    idx->buffers[idx->n_buffers] = buf;
    idx->buffer_sizes[idx->n_buffers] = len;
    idx->buffer_mapped[idx->n_buffers] = mapped;
    idx->n_buffers++;

    deb822_parser_init(&parser, buf, len, file);
    while ((r = deb822_next(&parser, &para, err)) > 0) {
        struct pkg p;
        parse_pkg(&para, &p);
        if (!p.name.p || !p.version.p || p.name.len == 0 || p.version.len == 0 ||
            span_has_space(p.name) || span_has_space(p.version)) {
            if (strv_length(idx->warnings) < 100)
                strv_consume(
                    &idx->warnings,
                    xasprintf("%s:%u: paragraph without a valid Package and Version, skipping",
                              file, para.line));
            continue;
        }
        if (idx->n_pkgs == idx->alloc_pkgs) {
            idx->alloc_pkgs = idx->alloc_pkgs ? idx->alloc_pkgs * 2 : 1024;
            idx->pkgs = xreallocarray(idx->pkgs, idx->alloc_pkgs, sizeof(*idx->pkgs));
        }
        idx->pkgs[idx->n_pkgs++] = p;
    }
    STRV_FOREACH(w, parser.warnings)
        strv_push(&idx->warnings, *w);
    deb822_parser_release(&parser);
    if (r < 0)
        return r;
    if (idx->n_pkgs > INT32_MAX / 4)
        return rs_err_msg(err, -EBADMSG, "%s: too many packages", file);
    rebuild_table(idx);
    return 0;
}

int32_t pkg_index_find(const struct pkg_index *idx, const char *name, size_t len)
{
    if (!idx->table)
        return -1;
    size_t mask = idx->table_size - 1;
    for (size_t h = hash_name(name, len) & mask;; h = (h + 1) & mask) {
        int32_t cur = idx->table[h];
        if (cur < 0)
            return -1;
        if (span_eq(idx->pkgs[cur].name, name, len))
            return cur;
    }
}

static void list_prov_pkgs(struct pkg_index *idx)
{
    idx->prov_pkgs = xmalloc((idx->n_pkgs + 1) * sizeof(*idx->prov_pkgs));
    for (size_t i = 0; i < idx->n_pkgs; i++)
        if (idx->pkgs[i].provides.p && idx->pkgs[i].provides.len > 0)
            idx->prov_pkgs[idx->n_prov_pkgs++] = (int32_t)i;
    idx->prov_pkgs_known = true;
}

static void add_prov(struct pkg_index *idx, const struct dep_alt *a, int32_t pkg, int32_t *first,
                     int32_t *last)
{
    if (idx->n_provs == idx->alloc_provs) {
        idx->alloc_provs = idx->alloc_provs ? idx->alloc_provs * 2 : 64;
        idx->provs = xreallocarray(idx->provs, idx->alloc_provs, sizeof(*idx->provs));
    }
    int32_t i = (int32_t)idx->n_provs++;
    idx->provs[i] = (struct prov){
        .name = { a->name, a->name_len },
        .version = { a->op == DEP_EQ ? a->version : NULL, a->op == DEP_EQ ? a->version_len : 0 },
        .pkg = pkg,
        .next = -1,
    };
    if (*last >= 0)
        idx->provs[*last].next = i;
    else
        *first = i;
    *last = i;
}

/* Every provider of name, in index order (and field order within a package): the packages
 * whose Provides text contains the name are parsed, the rest only searched. A Provides field
 * that does not parse provides nothing. Returns the first prov, or -1. */
static int32_t find_providers(struct pkg_index *idx, const char *name, size_t len)
{
    int32_t first = -1, last = -1;

    if (!idx->prov_pkgs_known)
        list_prov_pkgs(idx);
    for (size_t k = 0; k < idx->n_prov_pkgs; k++) {
        int32_t i = idx->prov_pkgs[k];
        const struct pkg *p = &idx->pkgs[i];
        struct dep_list l;
        if (!memmem(p->provides.p, p->provides.len, name, len) ||
            dep_parse(p->provides.p, p->provides.len, &l, NULL) < 0)
            continue;
        for (size_t a = 0; a < l.n_alts; a++)
            if (l.alts[a].name_len == len && memcmp(l.alts[a].name, name, len) == 0)
                add_prov(idx, &l.alts[a], i, &first, &last);
        dep_list_release(&l);
    }
    return first;
}

static struct prov_name *prov_name_slot(struct prov_name *t, size_t size, const char *name,
                                        size_t len)
{
    size_t mask = size - 1;
    for (size_t h = hash_name(name, len) & mask;; h = (h + 1) & mask)
        if (!t[h].name || (t[h].len == len && memcmp(t[h].name, name, len) == 0))
            return &t[h];
}

static int32_t providers_of(struct pkg_index *idx, const char *name, size_t len)
{
    struct prov_name *slot;

    if (idx->n_prov_names * 2 >= idx->prov_names_size) {
        size_t size = idx->prov_names_size ? idx->prov_names_size * 2 : 64;
        struct prov_name *t = xcalloc(size, sizeof(*t));
        for (size_t i = 0; i < idx->prov_names_size; i++)
            if (idx->prov_names[i].name)
                *prov_name_slot(t, size, idx->prov_names[i].name, idx->prov_names[i].len) =
                    idx->prov_names[i];
        free(idx->prov_names);
        idx->prov_names = t;
        idx->prov_names_size = size;
    }
    slot = prov_name_slot(idx->prov_names, idx->prov_names_size, name, len);
    if (!slot->name) {
        /* The name may live in the caller's memory only: the table keeps a copy. */
        int32_t first = find_providers(idx, name, len);
        slot = prov_name_slot(idx->prov_names, idx->prov_names_size, name, len);
        *slot = (struct prov_name){ .name = xstrndup(name, len), .len = len, .first = first };
        idx->n_prov_names++;
    }
    return slot->first;
}

int32_t pkg_index_next_provider(struct pkg_index *idx, const char *name, size_t len,
                                int32_t *cursor)
{
    if (*cursor == -2)
        *cursor = providers_of(idx, name, len);
    else if (*cursor >= 0)
        *cursor = idx->provs[*cursor].next;
    return *cursor;
}
