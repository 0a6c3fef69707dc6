/* The resolver: a variant's seed set closed over Pre-Depends and Depends. For each clause the
 * first alternative that can be satisfied wins (a real package of a matching version, then a
 * provider), which is what debootstrap does for the first alternative, made correct for the
 * cases it gets wrong (versions, virtual packages, architecture qualifiers). */
#include "build/build-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define NOT_CHOSEN (-2)
#define SEED       (-1)

struct rstate {
    struct pkg_index *idx;
    const struct resolve_opts *o;
    int32_t *parent;    /* NOT_CHOSEN, SEED, or the package that pulled it in */
    struct span *via;   /* the clause text that did */
    const char **field; /* "Depends" or "Pre-Depends" */
    const char **seed_why;
    int32_t *queue;
    size_t n_queue;
};

static bool name_in(char *const *l, const char *s, size_t len)
{
    STRV_FOREACH(x, (char **)l)
        if (strlen(*x) == len && memcmp(*x, s, len) == 0)
            return true;
    return false;
}

static bool arch_ok(const struct rstate *st, const struct pkg *p)
{
    if (!p->arch.p) /* no Architecture field: assume native (hand-written indexes) */
        return true;
    return (p->arch.len == 3 && memcmp(p->arch.p, "all", 3) == 0) ||
           (p->arch.len == strlen(st->o->arch) && memcmp(p->arch.p, st->o->arch, p->arch.len) == 0);
}

static bool qualifier_ok(const struct rstate *st, const struct dep_alt *a, const struct pkg *p)
{
    if (!a->arch)
        return true;
    if (a->arch_len == 3 && memcmp(a->arch, "any", 3) == 0)
        /* pkg:any needs a Multi-Arch: allowed package (or a provider); in a single-architecture
         * root anything of the native architecture satisfies it in practice. */
        return true;
    if (a->arch_len == 6 && memcmp(a->arch, "native", 6) == 0)
        return true;
    return p && p->arch.p && a->arch_len == p->arch.len &&
           memcmp(a->arch, p->arch.p, a->arch_len) == 0 && a->arch_len == strlen(st->o->arch);
}

/* apt's preference among providers of a virtual package: the most important Priority. */
static int priority_rank(struct span p)
{
    static const char *const order[] = { "required", "important", "standard", "optional", "extra" };
    for (size_t i = 0; i < ELEMENTSOF(order); i++)
        if (p.len == strlen(order[i]) && memcmp(p.p, order[i], p.len) == 0)
            return (int)i;
    return (int)ELEMENTSOF(order);
}

enum sat { SAT_NONE, SAT_EXCLUDED, SAT_WRONG_VERSION, SAT_OK };

/* Find a package that satisfies one alternative; *ret is its index. */
static enum sat satisfy(struct rstate *st, const struct dep_alt *a, int32_t *ret)
{
    struct pkg_index *idx = st->idx;
    enum sat best = SAT_NONE;
    int32_t cur = -2, pv, pick = -1;

    for (int32_t i = pkg_index_find(idx, a->name, a->name_len); i >= 0;
         i = idx->pkgs[i].next_same_name) {
        const struct pkg *p = &idx->pkgs[i];
        if (!arch_ok(st, p) || !qualifier_ok(st, a, p))
            continue;
        if (!dep_version_ok(a->op, a->version, a->version_len, p->version.p, p->version.len)) {
            best = SAT_WRONG_VERSION;
            continue;
        }
        if (name_in(st->o->exclude, p->name.p, p->name.len))
            return SAT_EXCLUDED;
        *ret = i;
        return SAT_OK;
    }
    while ((pv = pkg_index_next_provider(idx, a->name, a->name_len, &cur)) >= 0) {
        const struct prov *v = &idx->provs[pv];
        const struct pkg *p = &idx->pkgs[v->pkg];
        if (!arch_ok(st, p) || !qualifier_ok(st, a, p))
            continue;
        if (a->op != DEP_ANY &&
            !dep_version_ok(a->op, a->version, a->version_len, v->version.p, v->version.len)) {
            if (best == SAT_NONE)
                best = SAT_WRONG_VERSION;
            continue;
        }
        if (name_in(st->o->exclude, p->name.p, p->name.len)) {
            best = SAT_EXCLUDED;
            continue;
        }
        if (st->parent[v->pkg] != NOT_CHOSEN) { /* a provider already chosen wins */
            *ret = v->pkg;
            return SAT_OK;
        }
        if (pick < 0 || priority_rank(p->priority) < priority_rank(idx->pkgs[pick].priority))
            pick = v->pkg;
    }
    if (pick >= 0) {
        *ret = pick;
        return SAT_OK;
    }
    return best;
}

static bool name_chosen(const struct rstate *st, int32_t i)
{
    for (int32_t k = pkg_index_find(st->idx, st->idx->pkgs[i].name.p, st->idx->pkgs[i].name.len);
         k >= 0; k = st->idx->pkgs[k].next_same_name)
        if (st->parent[k] != NOT_CHOSEN)
            return true;
    return false;
}

static void choose(struct rstate *st, int32_t i, int32_t parent, struct span via, const char *field)
{
    st->parent[i] = parent;
    st->via[i] = via;
    st->field[i] = field;
    st->queue[st->n_queue++] = i;
}

static struct span clause_text(const struct dep_alt *first, const struct dep_alt *last)
{
    const char *end = last->name + last->name_len;
    if (last->arch)
        end = last->arch + last->arch_len;
    if (last->version) {
        end = last->version + last->version_len;
        if (*end == ')')
            end++;
    }
    return (struct span){ first->name, (uint32_t)(end - first->name) };
}

static int chain_error(struct rstate *st, int32_t from, const char *field, struct span text,
                       const struct dep_alt *a, enum sat why, struct rs_err *err)
{
    const struct pkg *p = &st->idx->pkgs[from];
    int r;

    if (why == SAT_WRONG_VERSION)
        r = rs_err_msg(err, -ENOENT, "no version of '%.*s' in '%s' (%s) satisfies '%.*s (%s %.*s)'",
                       (int)a->name_len, a->name, st->o->suite, st->o->arch, (int)a->name_len,
                       a->name, dep_op_to_string(a->op), (int)a->version_len, a->version);
    else
        r = rs_err_msg(err, -ENOENT, "package '%.*s' not found in '%s' (%s)", (int)a->name_len,
                       a->name, st->o->suite, st->o->arch);
    for (int32_t i = from, depth = 0; depth < 64; depth++) {
        rs_err_context(err, "required by '%.*s %.*s' via '%s: %.*s'", (int)p->name.len, p->name.p,
                       (int)p->version.len, p->version.p, field, (int)text.len, text.p);
        if (st->parent[i] < 0) {
            const char *w = st->seed_why && st->seed_why[i] ? st->seed_why[i] : "the variant";
            rs_err_context(err, "'%.*s' is requested by %s", (int)p->name.len, p->name.p, w);
            break;
        }
        field = st->field[i];
        text = st->via[i];
        i = st->parent[i];
        p = &st->idx->pkgs[i];
    }
    return r;
}

static int process_field(struct rstate *st, int32_t i, struct span f, const char *field_name,
                         struct rs_err *err)
{
    struct dep_list l;
    int r;

    if (!f.p)
        return 0;
    r = dep_parse(f.p, f.len, &l, err);
    if (r < 0)
        return rs_err_wrap(err, "package '%.*s'", (int)st->idx->pkgs[i].name.len,
                           st->idx->pkgs[i].name.p);
    for (size_t k = 0; k < l.n_alts;) {
        size_t first = k, end = k;
        while (end < l.n_alts && l.alts[end].clause == l.alts[first].clause)
            end++;
        enum sat worst = SAT_NONE;
        bool done = false, all_excluded = true;
        for (size_t j = first; j < end && !done; j++) {
            const struct dep_alt *a = &l.alts[j];
            int32_t pick;
            /* debootstrap never installs usrmerge: base-files ships the merged-/usr links. */
            if (a->name_len == 8 && memcmp(a->name, "usrmerge", 8) == 0 && end - first > 1)
                continue;
            enum sat s = satisfy(st, a, &pick);
            if (s == SAT_OK) {
                if (!name_chosen(st, pick))
                    choose(st, pick, i, clause_text(&l.alts[first], &l.alts[end - 1]), field_name);
                done = true;
            } else {
                if (s != SAT_EXCLUDED)
                    all_excluded = false;
                if (s > worst && s != SAT_EXCLUDED)
                    worst = s;
            }
        }
        if (!done && !all_excluded) {
            r = chain_error(st, i, field_name, clause_text(&l.alts[first], &l.alts[end - 1]),
                            &l.alts[first], worst, err);
            dep_list_release(&l);
            return r;
        }
        k = end;
    }
    dep_list_release(&l);
    return 0;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const struct pkg_index *idx = arg;
    const struct span *x = &idx->pkgs[*(const int32_t *)a].name;
    const struct span *y = &idx->pkgs[*(const int32_t *)b].name;
    int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int resolve_closure(struct pkg_index *idx, const struct resolve_opts *o, int32_t **ret,
                    size_t *ret_n, struct rs_err *err)
{
    struct rstate st = { .idx = idx, .o = o };
    int r = 0;

    st.parent = xmalloc((idx->n_pkgs + 1) * sizeof(*st.parent));
    for (size_t i = 0; i < idx->n_pkgs; i++)
        st.parent[i] = NOT_CHOSEN;
    st.via = xcalloc(idx->n_pkgs + 1, sizeof(*st.via));
    st.field = xcalloc(idx->n_pkgs + 1, sizeof(*st.field));
    st.seed_why = xcalloc(idx->n_pkgs + 1, sizeof(*st.seed_why));
    st.queue = xmalloc((idx->n_pkgs + 1) * sizeof(*st.queue));

    for (size_t s = 0; o->seeds && o->seeds[s]; s++) {
        const char *name = o->seeds[s];
        struct dep_alt a = { .name = name, .name_len = (uint32_t)strlen(name) };
        const char *colon = strchr(name, ':');
        int32_t pick;
        if (colon) {
            a.name_len = (uint32_t)(colon - name);
            a.arch = colon + 1;
            a.arch_len = (uint32_t)strlen(colon + 1);
        }
        if (name_in(o->exclude, a.name, a.name_len))
            continue;
        enum sat sat = satisfy(&st, &a, &pick);
        if (sat != SAT_OK) {
            r = rs_err_msg(err, -ENOENT, "package '%s' not found in '%s' (%s)", name, o->suite,
                           o->arch);
            rs_err_context(err, "'%s' is requested by %s", name,
                           o->seed_why && o->seed_why[s] ? o->seed_why[s] : "the variant");
            goto out;
        }
        if (name_chosen(&st, pick))
            continue;
        choose(&st, pick, SEED, (struct span){ 0 }, NULL);
        st.seed_why[pick] = o->seed_why ? o->seed_why[s] : NULL;
    }
    for (size_t q = 0; q < st.n_queue; q++) {
        int32_t i = st.queue[q];
        r = process_field(&st, i, idx->pkgs[i].pre_depends, "Pre-Depends", err);
        if (r < 0)
            goto out;
        r = process_field(&st, i, idx->pkgs[i].depends, "Depends", err);
        if (r < 0)
            goto out;
    }
    qsort_r(st.queue, st.n_queue, sizeof(*st.queue), cmp_name, idx);
    *ret = TAKE_PTR(st.queue);
    *ret_n = st.n_queue;
out:
    free(st.parent);
    free(st.via);
    free(st.field);
    free(st.seed_why);
    free(st.queue);
    return r;
}

static bool is_head(const struct pkg_index *idx, size_t i)
{
    return pkg_index_find(idx, idx->pkgs[i].name.p, idx->pkgs[i].name.len) == (int32_t)i;
}

int resolve_variant_seeds(struct pkg_index *idx, enum build_variant v, char ***ret_seeds,
                          char ***ret_why, struct rs_err *err)
{
    _cleanup_strv_free_ char **seeds = NULL;
    _cleanup_strv_free_ char **why = NULL;

    if (v < 0 || v >= _BUILD_VARIANT_MAX)
        return rs_err_msg(err, -EINVAL, "unknown variant");
    for (size_t i = 0; i < idx->n_pkgs; i++) {
        const struct pkg *p = &idx->pkgs[i];
        bool want;
        if (v == BUILD_VARIANT_ESSENTIAL)
            want = p->essential;
        else
            want = p->priority.len == 8 && memcmp(p->priority.p, "required", 8) == 0;
        /* Only the few wanted ones pay for the hash lookup. */
        if (!want || !is_head(idx, i))
            continue;
        strv_consume(&seeds, xstrndup(p->name.p, p->name.len));
        strv_push(&why, v == BUILD_VARIANT_ESSENTIAL ? "Essential: yes" : "Priority: required");
    }
    if (v == BUILD_VARIANT_MINBASE || v == BUILD_VARIANT_BUILDD) {
        strv_push(&seeds, "apt");
        strv_push(&why, "the minbase variant");
    }
    if (v == BUILD_VARIANT_BUILDD) {
        strv_push(&seeds, "build-essential");
        strv_push(&why, "the buildd variant");
    }
    if (!seeds)
        return rs_err_msg(err, -ENOENT, "no package of variant '%s' in the index",
                          build_variant_to_string(v));
    *ret_seeds = TAKE_PTR(seeds);
    *ret_why = TAKE_PTR(why);
    return 0;
}

static char *span_dup(struct span s)
{
    return s.p ? xstrndup(s.p, s.len) : NULL;
}

void resolve_fill_pkg(const struct pkg *p, struct build_pkg *ret)
{
    *ret = (struct build_pkg){
        .name = span_dup(p->name),
        .version = span_dup(p->version),
        .arch = span_dup(p->arch),
        .filename = span_dup(p->filename),
        .sha256 = span_dup(p->sha256),
        .size = p->size,
        .stanza = xmemdup(p->para, p->para_len + 1),
        .stanza_len = p->para_len,
        .essential = p->essential,
        .priority = span_dup(p->priority),
    };
    ret->stanza[p->para_len] = '\0';
}

static const char *const variant_names[_BUILD_VARIANT_MAX] = {
    [BUILD_VARIANT_ESSENTIAL] = "essential",
    [BUILD_VARIANT_MINBASE] = "minbase",
    [BUILD_VARIANT_BUILDD] = "buildd",
};

enum build_variant build_variant_from_string(const char *s)
{
    for (int i = 0; i < _BUILD_VARIANT_MAX; i++)
        if (strcmp(s, variant_names[i]) == 0)
            return (enum build_variant)i;
    return _BUILD_VARIANT_INVALID;
}

const char *build_variant_to_string(enum build_variant v)
{
    if (v < 0 || v >= _BUILD_VARIANT_MAX)
        return NULL;
    return variant_names[v];
}

void build_pkg_list_release(struct build_pkg_list *l)
{
    for (size_t i = 0; i < l->n_pkgs; i++) {
        struct build_pkg *p = &l->pkgs[i];
        free(p->name);
        free(p->version);
        free(p->arch);
        free(p->filename);
        free(p->sha256);
        free(p->stanza);
        free(p->priority);
    }
    free(l->pkgs);
    *l = (struct build_pkg_list){ 0 };
}
