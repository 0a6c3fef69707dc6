/* Behaviour of image/: name rules, ids, and the image and layer records. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "image/image.h"

#define LAYER_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LAYER_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void image_name__adds_latest_and_keeps_tags(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { "stable-minbase", "stable-minbase:latest" },
        { "stable-minbase:v1", "stable-minbase:v1" },
        { "debian/trixie", "debian/trixie:latest" },
        { "a.b_c-d:Tag_1.x-y", "a.b_c-d:Tag_1.x-y" },
        { "0", "0:latest" },
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        struct rs_err err = RS_ERR_INIT;
        char *out = NULL;
        assert_int_equal(image_name_normalize(cases[i].in, &out, &err), 0);
        assert_string_equal(out, cases[i].out);
        assert_null(err.msg);
        free(out);
    }
}

static void image_name__refuses_unsafe_names(void **state)
{
    static const char *const bad[] = {
        "",       "..",       "a/../b", "a..b", "/abs",    "a/",          "a//b",    "with space",
        "tab\tx", "ctl\x01x", "Upper",  "a:",   "a:b:c",   ":tag",        ".hidden", "-dash",
        "a:.x",   "a:-x",     "a:t/x",  "a\nb", "a:t\x7f", "x:has space",
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct rs_err err = RS_ERR_INIT;
        char *out = (char *)"untouched";
        assert_int_equal(image_name_normalize(bad[i], &out, &err), -EINVAL);
        assert_string_equal(out, "untouched");
        assert_non_null(err.msg);
        assert_non_null(strstr(err.msg, "invalid image name"));
        /* Control characters never reach the terminal. */
        for (const char *p = err.msg; *p; p++)
            assert_true((unsigned char)*p >= 0x20);
        rs_err_release(&err);
    }
}

static void image_name__refuses_overlong_names(void **state)
{
    char name[200];
    struct rs_err err = RS_ERR_INIT;
    char *out = NULL;
    (void)state;
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(image_name_normalize(name, &out, &err), -EINVAL);
    assert_null(out);
    rs_err_release(&err);
    name[128] = '\0';
    assert_int_equal(image_name_normalize(name, &out, &err), 0);
    free(out);
}

static struct image *sample_image(void)
{
    struct image *img = image_new();
    img->name = strdup("stable-minbase:latest");
    img->created = 1700000000;
    img->architecture = strdup("amd64");
    strv_push(&img->layers, LAYER_A);
    strv_push(&img->layers, LAYER_B);
    strv_push(&img->config.env, "PATH=/usr/bin:/bin");
    strv_push(&img->config.cmd, "/bin/bash");
    img->config.working_dir = strdup("/root");
    img->config.hostname = strdup("box");
    img->source = strdup("mkroot trixie minbase");
    image_compute_id(img);
    return img;
}

static void image_id__depends_on_content_not_name_or_date(void **state)
{
    _cleanup_(image_freep) struct image *a = sample_image();
    _cleanup_(image_freep) struct image *b = image_dup(a);
    (void)state;
    free(b->name);
    b->name = strdup("other:tag");
    b->created = 1;
    image_compute_id(b);
    assert_string_equal(a->id, b->id);
    strv_push(&b->config.env, "X=1");
    image_compute_id(b);
    assert_string_not_equal(a->id, b->id);
}

static void image_json__round_trips(void **state)
{
    _cleanup_(image_freep) struct image *a = sample_image();
    _cleanup_(image_freep) struct image *b = NULL;
    _cleanup_free_ char *json = image_to_json(a);
    _cleanup_free_ char *again = NULL;
    struct rs_err err = RS_ERR_INIT;
    (void)state;
    assert_int_equal(image_from_json(json, strlen(json), &b, &err), 0);
    again = image_to_json(b);
    assert_string_equal(json, again);
    assert_string_equal(b->config.working_dir, "/root");
    assert_int_equal(strv_length(b->layers), 2);
    assert_int_equal(b->created, 1700000000);
    /* No entrypoint: no key, so the ids of images made before it existed stay. */
    assert_null(strstr(json, "Entrypoint"));
    assert_null(b->config.entrypoint);
}

static void image_json__keeps_the_entrypoint_apart_and_in_the_id(void **state)
{
    _cleanup_(image_freep) struct image *a = sample_image();
    _cleanup_(image_freep) struct image *b = NULL;
    _cleanup_free_ char *json = NULL, *id_without = strdup(a->id);
    struct rs_err err = RS_ERR_INIT;
    (void)state;
    strv_push(&a->config.entrypoint, "/usr/bin/tini");
    strv_push(&a->config.entrypoint, "--");
    image_compute_id(a);
    assert_string_not_equal(a->id, id_without);
    json = image_to_json(a);
    assert_int_equal(image_from_json(json, strlen(json), &b, &err), 0);
    assert_int_equal(strv_length(b->config.entrypoint), 2);
    assert_string_equal(b->config.entrypoint[1], "--");
    assert_string_equal(b->config.cmd[0], "/bin/bash");
    assert_string_equal(b->id, a->id);
}

static void image_json__rejects_bad_records_and_leaves_ret(void **state)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{",
        "{\"name\":\"x:latest\"}",
        "{\"name\":\"x\",\"id\":\"" LAYER_A "\",\"layers\":[]}", /* not normalised */
        "{\"name\":\"x:latest\",\"id\":\"nothex\",\"layers\":[]}",
        "{\"name\":\"x:latest\",\"id\":\"" LAYER_A "\",\"layers\":[\"../etc\"]}",
        "{\"name\":\"x:latest\",\"id\":\"" LAYER_A "\",\"layers\":[1]}",
        "{\"name\":\"x:latest\",\"id\":\"" LAYER_A "\",\"layers\":[],\"config\":[]}",
        "{\"name\":\"x:latest\",\"id\":\"" LAYER_A "\",\"layers\":[],\"created\":\"x\"}",
        "{\"name\":\"x:latest\",\"id\":\"" LAYER_A "\",\"layers\":[]} trailing",
    };
    (void)state;
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct rs_err err = RS_ERR_INIT;
        struct image *img = (struct image *)0x1;
        assert_int_equal(image_from_json(bad[i], strlen(bad[i]), &img, &err), -EBADMSG);
        assert_ptr_equal(img, (struct image *)0x1);
        assert_non_null(err.msg);
        rs_err_release(&err);
    }
}

static void layer_meta__round_trips_and_checks_fields(void **state)
{
    struct layer_meta m = { .id = (char *)LAYER_A,
                            .parent = (char *)LAYER_B,
                            .diff_id = (char *)"sha256:" LAYER_B,
                            .size = 5000000000ULL,
                            .created = 42,
                            .created_by = (char *)"test" };
    _cleanup_free_ char *json = layer_meta_to_json(&m);
    struct layer_meta back;
    struct rs_err err = RS_ERR_INIT;
    (void)state;
    assert_int_equal(layer_meta_from_json(json, strlen(json), &back, &err), 0);
    assert_string_equal(back.id, LAYER_A);
    assert_string_equal(back.parent, LAYER_B);
    assert_string_equal(back.diff_id, "sha256:" LAYER_B);
    assert_true(back.size == 5000000000ULL);
    assert_int_equal(back.created, 42);
    layer_meta_release(&back);

    static const char bad[] = "{\"id\":\"" LAYER_A "\",\"diff_id\":\"md5:x\"}";
    assert_int_equal(layer_meta_from_json(bad, strlen(bad), &back, &err), -EBADMSG);
    assert_non_null(strstr(err.msg, "diff_id"));
    rs_err_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(image_name__adds_latest_and_keeps_tags),
        cmocka_unit_test(image_name__refuses_unsafe_names),
        cmocka_unit_test(image_name__refuses_overlong_names),
        cmocka_unit_test(image_id__depends_on_content_not_name_or_date),
        cmocka_unit_test(image_json__round_trips),
        cmocka_unit_test(image_json__keeps_the_entrypoint_apart_and_in_the_id),
        cmocka_unit_test(image_json__rejects_bad_records_and_leaves_ret),
        cmocka_unit_test(layer_meta__round_trips_and_checks_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
