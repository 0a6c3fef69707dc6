/* Behaviour of build/: Debian versions (against a dpkg-generated table), the deb822 parser,
 * Depends parsing, the resolver on synthetic indexes, InRelease and Release handling, apt
 * sources. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/build-internal.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* ---- versions ---- */

static void version__matches_dpkg_compare_versions_table(void **state)
{
    (void)state;
    const char *dir = getenv("RS_TEST_DATA");
    _cleanup_free_ char *path = xasprintf("%s/versions.txt", dir ? dir : "tests/data");
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    char line[512];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char a[200], op[4], b[200];
        if (line[0] == '#')
            continue;
        assert_int_equal(sscanf(line, "%199s %3s %199s", a, op, b), 3);
        int c = deb_version_cmp_str(a, b);
        int want = op[0] == '<' ? -1 : op[0] == '>' ? 1 : 0;
        int got = c < 0 ? -1 : c > 0 ? 1 : 0;
        if (got != want)
            fail_msg("'%s' %s '%s' but got %d", a, op, b, got);
        /* and antisymmetric */
        c = deb_version_cmp_str(b, a);
        assert_int_equal(c < 0 ? -1 : c > 0 ? 1 : 0, -want);
        n++;
    }
    assert_true(n > 1000);
}

static void version__check_names_the_problem(void **state)
{
    (void)state;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(deb_version_check("1:2.3-4", 7, &err), 0);
    assert_null(err.msg);
    assert_int_equal(deb_version_check("a1.0", 4, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "does not start with a digit"));
    rs_err_release(&err);
    assert_int_equal(deb_version_check("x:1.0", 5, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "epoch"));
    rs_err_release(&err);
    assert_int_equal(deb_version_check("1.0-", 4, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "revision"));
    rs_err_release(&err);
    assert_int_equal(deb_version_check("1 0", 3, &err), -EINVAL);
    rs_err_release(&err);
    /* absurd epochs compare without overflow */
    assert_true(deb_version_cmp_str("99999999999999999999:1", "1:1") != 0 ||
                deb_version_cmp_str("99999999999999999999:1", "1:1") == 0);
}

/* ---- deb822 ---- */

static int count_paras(const char *text, char ***warnings, struct rs_err *err)
{
    struct deb822_parser p;
    struct deb822_para para;
    int r, n = 0;
    deb822_parser_init(&p, text, strlen(text), "test");
    while ((r = deb822_next(&p, &para, err)) > 0)
        n++;
    if (warnings)
        *warnings = TAKE_PTR(p.warnings);
    deb822_parser_release(&p);
    return r < 0 ? r : n;
}

static void deb822__continuation_lines_are_joined(void **state)
{
    (void)state;
    const char *text = "Package: a\nDescription: short\n long line\n .\n more\nVersion: 1\n";
    struct deb822_parser p;
    struct deb822_para para;
    struct deb822_field f;
    deb822_parser_init(&p, text, strlen(text), "t");
    assert_int_equal(deb822_next(&p, &para, NULL), 1);
    assert_true(deb822_get(&para, "description", &f));
    _cleanup_free_ char *v = deb822_value_dup(&f);
    assert_string_equal(v, "short\nlong line\n\nmore");
    assert_true(deb822_get(&para, "Version", &f));
    assert_int_equal(f.value_len, 1);
    assert_int_equal(deb822_line_of(&para, f.name), 6);
    assert_int_equal(deb822_next(&p, &para, NULL), 0);
    deb822_parser_release(&p);
}

static void deb822__paragraphs_split_on_blank_and_whitespace_lines(void **state)
{
    (void)state;
    assert_int_equal(count_paras("A: 1\n\nB: 2\n \t\nC: 3", NULL, NULL), 3);
    assert_int_equal(count_paras("\n\n\nA: 1\n\n\n", NULL, NULL), 1);
    assert_int_equal(count_paras("", NULL, NULL), 0);
    assert_int_equal(count_paras("# comment\nA: 1\n# inner\nB: 2\n", NULL, NULL), 1);
}

static void deb822__malformed_paragraph_is_skipped_with_file_and_line(void **state)
{
    (void)state;
    _cleanup_strv_free_ char **w = NULL;
    assert_int_equal(
        count_paras("A: 1\n\nthis is junk\nB: 2\n\n continuation first\n\nC: 3\n", &w, NULL), 2);
    assert_int_equal(strv_length(w), 2);
    assert_non_null(strstr(w[0], "test:3:"));
    assert_non_null(strstr(w[0], "skipping paragraph"));
    assert_non_null(strstr(w[1], "test:6:"));
}

static void deb822__too_many_bad_paragraphs_make_the_file_bad(void **state)
{
    (void)state;
    _cleanup_free_ char *text = xcalloc(DEB822_MAX_WARNINGS + 5, 8);
    struct rs_err err = RS_ERR_INIT;
    for (int i = 0; i < DEB822_MAX_WARNINGS + 2; i++)
        memcpy(text + (size_t)i * 6, "junk\n\n", 6);
    assert_int_equal(count_paras(text, NULL, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "too many malformed"));
    rs_err_release(&err);
}

static void deb822__absurd_value_is_refused(void **state)
{
    (void)state;
    size_t n = DEB822_MAX_VALUE + 100;
    _cleanup_free_ char *text = xmalloc(n + 32);
    _cleanup_strv_free_ char **w = NULL;
    memcpy(text, "A: ", 3);
    memset(text + 3, 'x', n);
    memcpy(text + 3 + n, "\n\nB: 1\n", 8);
    assert_int_equal(count_paras(text, &w, NULL), 1);
    assert_non_null(strstr(w[0], "too large"));
}

/* ---- Depends ---- */

static void depends__parses_versions_alternatives_and_qualifiers(void **state)
{
    (void)state;
    const char *s = "libc6 (>= 2.36), a:any | b (<< 1:2~) [amd64] <!nocheck>,c(=1),d (> 2)";
    struct dep_list l;
    assert_int_equal(dep_parse(s, strlen(s), &l, NULL), 0);
    assert_int_equal(l.n_clauses, 4);
    assert_int_equal(l.n_alts, 5);
    assert_int_equal(l.alts[0].op, DEP_GE);
    assert_memory_equal(l.alts[0].version, "2.36", 4);
    assert_memory_equal(l.alts[1].arch, "any", 3);
    assert_int_equal(l.alts[1].clause, 1);
    assert_int_equal(l.alts[2].clause, 1);
    assert_int_equal(l.alts[2].op, DEP_LT);
    assert_int_equal(l.alts[2].version_len, 4);
    assert_int_equal(l.alts[3].op, DEP_EQ);
    assert_int_equal(l.alts[4].op, DEP_GE); /* obsolete '>' means '>=' */
    dep_list_release(&l);
}

static void depends__bad_syntax_names_the_text(void **state)
{
    (void)state;
    static const char *bad[] = {
        "a (>= )", "a (~ 1)", "a (>= 1", "a b", "|a", "a, ,b", "a [amd64"
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct rs_err err = RS_ERR_INIT;
        struct dep_list l = { .n_alts = 77 };
        assert_int_equal(dep_parse(bad[i], strlen(bad[i]), &l, &err), -EBADMSG);
        assert_int_equal(l.n_alts, 77); /* ret untouched on failure */
        assert_non_null(strstr(err.msg, "bad dependency"));
        rs_err_release(&err);
    }
}

static void depends__version_relations(void **state)
{
    (void)state;
    assert_true(dep_version_ok(DEP_GE, "1.0", 3, "1.0", 3));
    assert_false(dep_version_ok(DEP_GT, "1.0", 3, "1.0", 3));
    assert_true(dep_version_ok(DEP_LT, "1.0", 3, "1.0~rc1", 7));
    assert_true(dep_version_ok(DEP_EQ, "1:1", 3, "1:1", 3));
    assert_false(dep_version_ok(DEP_EQ, "1", 1, NULL, 0));
}

/* ---- resolver ---- */

static const char synthetic[] =
    "Package: base\nVersion: 1\nArchitecture: amd64\nPriority: required\nEssential: yes\n"
    "Depends: libc (>= 2), awk | mawk\nFilename: pool/b.deb\nSize: 10\nSHA256: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n"
    "Package: libc\nVersion: 1\nArchitecture: amd64\n\n"
    "Package: libc\nVersion: 2.5\nArchitecture: amd64\nDepends: base\n\n"
    "Package: mawk\nVersion: 1\nArchitecture: amd64\nProvides: awk\n\n"
    "Package: gawk\nVersion: 1\nArchitecture: amd64\nProvides: awk (= 5)\n\n"
    "Package: tool\nVersion: 1\nArchitecture: all\nDepends: awk (>= 4), libc:any\n\n"
    "Package: broken\nVersion: 1\nArchitecture: amd64\nDepends: middle\n\n"
    "Package: middle\nVersion: 3\nArchitecture: amd64\nPre-Depends: nothere (>= 1)\n\n"
    "Package: old\nVersion: 1\nArchitecture: amd64\nDepends: libc (>= 3)\n\n"
    "Package: foreign\nVersion: 1\nArchitecture: amd64\nDepends: libc:i386 | mawk\n\n"
    "Package: other-arch\nVersion: 1\nArchitecture: i386\n\n"
    "Package: cyc-a\nVersion: 1\nArchitecture: amd64\nDepends: cyc-b\n\n"
    "Package: cyc-b\nVersion: 1\nArchitecture: amd64\nPre-Depends: cyc-a\n\n"
    "Package: skipme\nVersion: 1\nArchitecture: amd64\nDepends: gawk | mawk\n\n";

static int idx_setup(void **state)
{
    struct pkg_index *idx = xcalloc(1, sizeof(*idx));
    pkg_index_init(idx);
    assert_int_equal(
        pkg_index_add(idx, xstrdup(synthetic), strlen(synthetic), false, "synthetic", NULL), 0);
    *state = idx;
    return 0;
}

static int idx_teardown(void **state)
{
    pkg_index_release(*state);
    free(*state);
    return 0;
}

static char *resolve_names(struct pkg_index *idx, const char *seeds, const char *exclude,
                           struct rs_err *err)
{
    _cleanup_strv_free_ char **s = strv_split(seeds, " ");
    _cleanup_strv_free_ char **x = exclude ? strv_split(exclude, " ") : NULL;
    struct resolve_opts o = { .arch = "amd64", .suite = "test", .seeds = s, .exclude = x };
    _cleanup_free_ int32_t *picked = NULL;
    size_t n;
    if (resolve_closure(idx, &o, &picked, &n, err) < 0)
        return NULL;
    char *out = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        const struct pkg *p = &idx->pkgs[picked[i]];
        char *t = xasprintf("%s%s%.*s=%.*s", out, i ? " " : "", (int)p->name.len, p->name.p,
                            (int)p->version.len, p->version.p);
        free(out);
        out = t;
    }
    return out;
}

static void resolve__versions_alternatives_and_providers(void **state)
{
    _cleanup_free_ char *r = resolve_names(*state, "base", NULL, NULL);
    /* libc 2.5 (not 1) for >= 2; awk is virtual: the first alternative via its provider mawk
     * (unversioned Provides), not gawk. */
    assert_string_equal(r, "base=1 libc=2.5 mawk=1");
}

static void resolve__versioned_provides_and_arch_qualifiers(void **state)
{
    _cleanup_free_ char *r = resolve_names(*state, "tool", NULL, NULL);
    /* awk (>= 4) is only satisfied by gawk's versioned Provides; base's later "awk | mawk"
     * is then satisfied by the provider already chosen. */
    assert_string_equal(r, "base=1 gawk=1 libc=2.5 tool=1");
    _cleanup_free_ char *f = resolve_names(*state, "foreign", NULL, NULL);
    assert_string_equal(f, "foreign=1 mawk=1");
}

static void resolve__cycles_terminate(void **state)
{
    _cleanup_free_ char *r = resolve_names(*state, "cyc-a", NULL, NULL);
    assert_string_equal(r, "cyc-a=1 cyc-b=1");
}

static void resolve__exclude_moves_to_next_alternative(void **state)
{
    _cleanup_free_ char *r = resolve_names(*state, "skipme", "gawk", NULL);
    assert_string_equal(r, "mawk=1 skipme=1");
    _cleanup_free_ char *all = resolve_names(*state, "skipme", "gawk mawk", NULL);
    assert_string_equal(all, "skipme=1");
}

static void resolve__unsatisfiable_names_the_chain(void **state)
{
    struct rs_err err = RS_ERR_INIT;
    assert_null(resolve_names(*state, "broken", NULL, &err));
    assert_string_equal(err.msg, "package 'nothere' not found in 'test' (amd64)");
    assert_non_null(
        strstr(err.context, "required by 'middle 3' via 'Pre-Depends: nothere (>= 1)'"));
    assert_non_null(strstr(err.context, "required by 'broken 1' via 'Depends: middle'"));
    rs_err_release(&err);

    assert_null(resolve_names(*state, "old", NULL, &err));
    assert_non_null(strstr(err.msg, "no version of 'libc'"));
    assert_non_null(strstr(err.msg, "(>= 3)"));
    rs_err_release(&err);

    assert_null(resolve_names(*state, "other-arch", NULL, &err));
    assert_non_null(strstr(err.msg, "package 'other-arch' not found"));
    rs_err_release(&err);
}

static void resolve__variant_seeds(void **state)
{
    _cleanup_strv_free_ char **seeds = NULL, **why = NULL;
    assert_int_equal(resolve_variant_seeds(*state, BUILD_VARIANT_MINBASE, &seeds, &why, NULL), 0);
    assert_true(strv_contains(seeds, "base"));
    assert_true(strv_contains(seeds, "apt"));
    assert_int_equal(strv_length(seeds), strv_length(why));
    assert_int_equal(build_variant_from_string("buildd"), BUILD_VARIANT_BUILDD);
    assert_int_equal(build_variant_from_string("nope"), _BUILD_VARIANT_INVALID);
}

static void index__highest_version_first_and_bad_paragraphs_warned(void **state)
{
    (void)state;
    struct pkg_index idx;
    const char *text = "Package: x\nVersion: 1\n\nPackage: x\nVersion: 1:0\n\nVersion: 2\n\n"
                       "Package: bad name\nVersion: 1\n";
    pkg_index_init(&idx);
    assert_int_equal(pkg_index_add(&idx, xstrdup(text), strlen(text), false, "P", NULL), 0);
    int32_t i = pkg_index_find(&idx, "x", 1);
    assert_true(i >= 0);
    assert_memory_equal(idx.pkgs[i].version.p, "1:0", 3);
    assert_int_equal(strv_length(idx.warnings), 2);
    assert_non_null(strstr(idx.warnings[0], "P:7:"));
    assert_int_equal(pkg_index_find(&idx, "y", 1), -1);
    pkg_index_release(&idx);
}

/* ---- Release ---- */

static void index__providers_in_index_order_exact_names_only(void **state)
{
    (void)state;
    static const char text[] = "Package: a\nVersion: 1\nProvides: awk-doc, awk (= 2)\n\n"
                               "Package: b\nVersion: 1\nProvides: gawk\n\n"
                               "Package: c\nVersion: 1\nProvides: awk\n\n"
                               "Package: d\nVersion: 1\nProvides: awk (\n\n";
    struct pkg_index idx;
    int32_t cur = -2, pv;

    pkg_index_init(&idx);
    assert_int_equal(pkg_index_add(&idx, xstrdup(text), strlen(text), false, "P", NULL), 0);
    for (int round = 0; round < 2; round++) { /* the second time from the memo */
        cur = -2;
        pv = pkg_index_next_provider(&idx, "awk", 3, &cur);
        assert_true(pv >= 0);
        assert_int_equal(idx.provs[pv].pkg, 0);
        assert_int_equal(idx.provs[pv].version.len, 1);
        assert_memory_equal(idx.provs[pv].version.p, "2", 1);
        pv = pkg_index_next_provider(&idx, "awk", 3, &cur);
        assert_true(pv >= 0);
        assert_int_equal(idx.provs[pv].pkg, 2);
        assert_null(idx.provs[pv].version.p);
        assert_int_equal(pkg_index_next_provider(&idx, "awk", 3, &cur), -1);
    }
    cur = -2;
    assert_int_equal(pkg_index_next_provider(&idx, "aw", 2, &cur), -1);
    cur = -2;
    pv = pkg_index_next_provider(&idx, "gawk", 4, &cur);
    assert_int_equal(idx.provs[pv].pkg, 1);
    pkg_index_release(&idx);
}

static void inrelease__dash_escaping_undone_and_outside_data_refused(void **state)
{
    (void)state;
    const char *msg = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSuite: x\n- -dash\n"
                      "-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n";
    _cleanup_free_ char *text = NULL;
    size_t len;
    struct rs_err err = RS_ERR_INIT;
    assert_int_equal(pgp_clearsigned_text(msg, strlen(msg), &text, &len, NULL), 0);
    assert_string_equal(text, "Suite: x\n-dash\n");
    _cleanup_free_ char *after = xasprintf("%sSuite: evil\n", msg);
    assert_int_equal(pgp_clearsigned_text(after, strlen(after), &text, &len, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "after the signature"));
    rs_err_release(&err);
    _cleanup_free_ char *before = xasprintf("Suite: evil\n%s", msg);
    assert_int_equal(pgp_clearsigned_text(before, strlen(before), &text, &len, &err), -EBADMSG);
    rs_err_release(&err);
    assert_int_equal(pgp_clearsigned_text("Suite: x\n", 9, &text, &len, &err), -EBADMSG);
    rs_err_release(&err);
}

static void release__fields_dates_and_sha256(void **state)
{
    (void)state;
    const char *text =
        "Origin: Debian\nSuite: stable\nCodename: trixie\n"
        "Date: Sat, 21 Nov 2026 09:15:44 UTC\nValid-Until: Sat, 28 Nov 2026 09:15:44 UTC\n"
        "Acquire-By-Hash: yes\nSHA256:\n "
        "be3d7d96a040eda0505c1808cccc67f183bbc05dff0842c50f88e6c396557412  9679304 "
        "main/binary-amd64/Packages.xz\n";
    struct release_info ri;
    assert_int_equal(release_parse(text, strlen(text), "R", &ri, NULL), 0);
    assert_string_equal(ri.r.codename, "trixie");
    assert_true(ri.acquire_by_hash);
    assert_int_equal(ri.r.date_time, 1795252544);
    assert_int_equal(ri.r.valid_until_time - ri.r.date_time, 7 * 86400);
    const struct release_file *f = release_find(&ri, "main/binary-amd64/Packages.xz");
    assert_non_null(f);
    assert_int_equal(f->size, 9679304);
    release_info_release(&ri);

    struct rs_err err = RS_ERR_INIT;
    const char *bad = "Suite: x\nSHA256:\n nothex 12 main/x\n";
    assert_int_equal(release_parse(bad, strlen(bad), "R", &ri, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "R:2: bad SHA256 line"));
    rs_err_release(&err);
}

static void sources__first_debian_archive_uri(void **state)
{
    (void)state;
    const char *d = "Types: deb-src\nURIs: http://src.invalid/debian\nSuites: x\n\n"
                    "Types: deb\nURIs: http://sec.invalid/debian-security\nSuites: x-security\n\n"
                    "Types: deb\nURIs: http://mirror.invalid/debian/\nSuites: x x-updates\n";
    _cleanup_free_ char *m = NULL, *l = NULL;
    assert_int_equal(sources_parse_deb822(d, strlen(d), "s", &m, NULL), 0);
    assert_string_equal(m, "http://mirror.invalid/debian");
    const char *list = "# c\ndeb-src http://a.invalid/debian x main\n"
                       "deb [arch=amd64 signed-by=/k.gpg] http://b.invalid/debian x main\n";
    assert_int_equal(sources_parse_list(list, strlen(list), "l", &l, NULL), 0);
    assert_string_equal(l, "http://b.invalid/debian");
    assert_int_equal(sources_parse_list("deb cdrom:foo x main\n", 21, "l", &l, NULL), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version__matches_dpkg_compare_versions_table),
        cmocka_unit_test(version__check_names_the_problem),
        cmocka_unit_test(deb822__continuation_lines_are_joined),
        cmocka_unit_test(deb822__paragraphs_split_on_blank_and_whitespace_lines),
        cmocka_unit_test(deb822__malformed_paragraph_is_skipped_with_file_and_line),
        cmocka_unit_test(deb822__too_many_bad_paragraphs_make_the_file_bad),
        cmocka_unit_test(deb822__absurd_value_is_refused),
        cmocka_unit_test(depends__parses_versions_alternatives_and_qualifiers),
        cmocka_unit_test(depends__bad_syntax_names_the_text),
        cmocka_unit_test(depends__version_relations),
        cmocka_unit_test_setup_teardown(resolve__versions_alternatives_and_providers, idx_setup,
                                        idx_teardown),
        cmocka_unit_test_setup_teardown(resolve__versioned_provides_and_arch_qualifiers, idx_setup,
                                        idx_teardown),
        cmocka_unit_test_setup_teardown(resolve__cycles_terminate, idx_setup, idx_teardown),
        cmocka_unit_test_setup_teardown(resolve__exclude_moves_to_next_alternative, idx_setup,
                                        idx_teardown),
        cmocka_unit_test_setup_teardown(resolve__unsatisfiable_names_the_chain, idx_setup,
                                        idx_teardown),
        cmocka_unit_test_setup_teardown(resolve__variant_seeds, idx_setup, idx_teardown),
        cmocka_unit_test(index__highest_version_first_and_bad_paragraphs_warned),
        cmocka_unit_test(index__providers_in_index_order_exact_names_only),
        cmocka_unit_test(inrelease__dash_escaping_undone_and_outside_data_refused),
        cmocka_unit_test(release__fields_dates_and_sha256),
        cmocka_unit_test(sources__first_debian_archive_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
