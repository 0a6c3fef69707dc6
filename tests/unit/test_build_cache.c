/* Behaviour of build/rescache.c: resolutions and gpgv verdicts kept in a fresh store under a
 * mkdtemp dir; what is written comes back identical, and anything damaged is a miss. */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "build/build-internal.h"
#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fs.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define REL "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char stanzas[] =
    "Package: base\nVersion: 1:2.0-1\nArchitecture: amd64\nPriority: required\nEssential: yes\n"
    "Depends: libc (>= 2)\nDescription: a\n line two\n .\n line four\nFilename: pool/b.deb\n"
    "Size: 10\nSHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n"
    "Package: libc\nVersion: 2.5\nArchitecture: amd64\nPriority: optional\n"
    "Filename: pool/l.deb\nSize: 1234567890123\n"
    "SHA256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n\n";

struct fx {
    char dir[64];
    struct cache *c;
    struct build_pkg_list l;
};

static int fx_setup(void **state)
{
    struct fx *f = xcalloc(1, sizeof(*f));
    struct rs_err err = RS_ERR_INIT;
    struct pkg_index idx;

    snprintf(f->dir, sizeof(f->dir), "/tmp/rs-unit-rescache.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(cache_open(f->dir, 0, &f->c, &err), 0);
    pkg_index_init(&idx);
    assert_int_equal(pkg_index_add(&idx, xstrdup(stanzas), strlen(stanzas), false, "t", NULL), 0);
    f->l.n_pkgs = idx.n_pkgs;
    f->l.pkgs = xcalloc(idx.n_pkgs, sizeof(struct build_pkg));
    for (size_t i = 0; i < idx.n_pkgs; i++)
        resolve_fill_pkg(&idx.pkgs[i], &f->l.pkgs[i]);
    pkg_index_release(&idx);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    build_pkg_list_release(&f->l);
    cache_close(f->c);
    assert_int_equal(rs_rm_rf_at(AT_FDCWD, f->dir), 0);
    free(f);
    return 0;
}

static char *key_of(char *const *include)
{
    char *comps[] = { (char *)"main", NULL };
    return rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, include, NULL);
}

static void assert_same_pkg(const struct build_pkg *a, const struct build_pkg *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->version, b->version);
    assert_string_equal(a->arch, b->arch);
    assert_string_equal(a->filename, b->filename);
    assert_string_equal(a->sha256, b->sha256);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->stanza_len, b->stanza_len);
    assert_memory_equal(a->stanza, b->stanza, a->stanza_len + 1);
    assert_int_equal(a->essential, b->essential);
    assert_string_equal(a->priority, b->priority);
}

/* Rewrite the one entry of the store through fn. */
static void damage(struct fx *f, const char *key, void (*fn)(char *buf, size_t *len))
{
    _cleanup_free_ char *path = xasprintf("%s/archive/resolved/%s", f->dir, key), *buf = NULL;
    struct rs_err err = RS_ERR_INIT;
    size_t len;
    assert_int_equal(rs_read_file_at(AT_FDCWD, path, 1 << 20, &buf, &len, &err), 0);
    fn(buf, &len);
    assert_int_equal(rs_write_file_atomic_at(AT_FDCWD, path, buf, len, 0644, 0, &err), 0);
}

static void flip_version(char *buf, size_t *len)
{
    (void)len;
    char *v = strstr(buf, "Version: 2.5");
    assert_non_null(v);
    v[9] = '3';
}

static void truncate_body(char *buf, size_t *len)
{
    (void)buf;
    *len -= 40;
}

static void drop_header_count(char *buf, size_t *len)
{
    /* A valid body and digest under another package count. */
    char *sp = strchr(buf, ' ');
    sp = strchr(sp + 1, ' ');
    assert_true(sp[1] == '2');
    sp[1] = '1';
    (void)len;
}

static void resolved__round_trip_gives_the_same_packages(void **state)
{
    struct fx *f = *state;
    _cleanup_free_ char *key = key_of(NULL);
    struct build_pkg_list got = { 0 };
    struct rs_err err = RS_ERR_INIT;

    assert_int_equal(rescache_get(f->c, key, &got), 0);
    assert_null(got.pkgs);
    assert_int_equal(rescache_put(f->c, key, &f->l, &err), 0);
    assert_int_equal(rescache_get(f->c, key, &got), 1);
    assert_int_equal(got.n_pkgs, f->l.n_pkgs);
    for (size_t i = 0; i < got.n_pkgs; i++)
        assert_same_pkg(&got.pkgs[i], &f->l.pkgs[i]);
    assert_int_equal(got.pkgs[1].size, 1234567890123ull);
    build_pkg_list_release(&got);
}

static void resolved__key_covers_every_input(void **state)
{
    (void)state;
    char *comps[] = { (char *)"main", NULL }, *two[] = { (char *)"main", (char *)"contrib", NULL };
    char *inc[] = { (char *)"vim", NULL }, *exc[] = { (char *)"apt", NULL };
    _cleanup_strv_free_ char **keys = NULL;

    strv_consume(&keys, rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, NULL, NULL));
    strv_consume(&keys, rescache_key(REL "0", "amd64", comps, BUILD_VARIANT_MINBASE, NULL, NULL));
    strv_consume(&keys, rescache_key(REL, "arm64", comps, BUILD_VARIANT_MINBASE, NULL, NULL));
    strv_consume(&keys, rescache_key(REL, "amd64", two, BUILD_VARIANT_MINBASE, NULL, NULL));
    strv_consume(&keys, rescache_key(REL, "amd64", comps, BUILD_VARIANT_BUILDD, NULL, NULL));
    strv_consume(&keys, rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, inc, NULL));
    strv_consume(&keys, rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, NULL, inc));
    strv_consume(&keys, rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, NULL, exc));
    for (size_t i = 0; keys[i]; i++)
        for (size_t j = i + 1; keys[j]; j++)
            assert_string_not_equal(keys[i], keys[j]);
    _cleanup_free_ char *again =
        rescache_key(REL, "amd64", comps, BUILD_VARIANT_MINBASE, NULL, NULL);
    assert_string_equal(again, keys[0]);
}

static void resolved__damaged_entries_are_misses(void **state)
{
    struct fx *f = *state;
    _cleanup_free_ char *key = key_of(NULL);
    _cleanup_free_ char *other = NULL;
    struct build_pkg_list got = { 0 };
    struct rs_err err = RS_ERR_INIT;
    void (*fns[])(char *, size_t *) = { flip_version, truncate_body, drop_header_count };
    char *inc[] = { (char *)"x", NULL };

    for (size_t i = 0; i < ELEMENTSOF(fns); i++) {
        assert_int_equal(rescache_put(f->c, key, &f->l, &err), 0);
        damage(f, key, fns[i]);
        assert_int_equal(rescache_get(f->c, key, &got), 0);
        assert_null(got.pkgs);
    }
    /* A valid entry copied under another key's name is not that key's answer. */
    assert_int_equal(rescache_put(f->c, key, &f->l, &err), 0);
    other = key_of(inc);
    _cleanup_free_ char *from = xasprintf("%s/archive/resolved/%s", f->dir, key);
    _cleanup_free_ char *to = xasprintf("%s/archive/resolved/%s", f->dir, other);
    assert_int_equal(rename(from, to), 0);
    assert_int_equal(rescache_get(f->c, other, &got), 0);
    assert_int_equal(rescache_get(f->c, key, &got), 0);
}

static void verified__round_trip_and_age(void **state)
{
    struct fx *f = *state;
    _cleanup_free_ char *kr = xasprintf("%s/keyring", f->dir), *key = NULL, *key2 = NULL;
    _cleanup_free_ char *fpr = NULL, *path = NULL, *old = NULL;
    struct rs_err err = RS_ERR_INIT;

    assert_null(verify_cache_key(kr, REL, NULL)); /* no keyring: no verdict */
    assert_int_equal(rs_write_file_atomic_at(AT_FDCWD, kr, "k1", 2, 0644, 0, &err), 0);
    key = verify_cache_key(kr, REL, NULL);
    assert_non_null(key);
    assert_int_equal(verify_cache_get(f->c, key, &fpr), 0);
    assert_int_equal(verify_cache_put(f->c, key, "DEADBEEF0123", &err), 0);
    assert_int_equal(verify_cache_get(f->c, key, &fpr), 1);
    assert_string_equal(fpr, "DEADBEEF0123");
    /* Another keyring content is another question. */
    assert_int_equal(rs_write_file_atomic_at(AT_FDCWD, kr, "k2", 2, 0644, 0, &err), 0);
    key2 = verify_cache_key(kr, REL, NULL);
    assert_string_not_equal(key, key2);
    /* A verdict older than a day is asked again. */
    path = xasprintf("%s/archive/verified/%s", f->dir, key);
    old = xasprintf("rootstock-verified-1 %s DEADBEEF0123 %lld\n", key,
                    (long long)time(NULL) - 2 * 24 * 3600);
    assert_int_equal(rs_write_file_atomic_at(AT_FDCWD, path, old, strlen(old), 0644, 0, &err), 0);
    free(fpr);
    fpr = NULL;
    assert_int_equal(verify_cache_get(f->c, key, &fpr), 0);
    assert_null(fpr);
    /* Junk in the fingerprint is refused both ways. */
    assert_int_equal(verify_cache_put(f->c, key, "not a fingerprint", &err), -EINVAL);
    rs_err_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resolved__round_trip_gives_the_same_packages, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(resolved__key_covers_every_input),
        cmocka_unit_test_setup_teardown(resolved__damaged_entries_are_misses, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(verified__round_trip_and_age, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
