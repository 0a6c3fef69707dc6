#include "image/image.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/cleanup.h"
#include "common/sha256.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* Bounds for records read from disk: far above anything real, low enough that a corrupt or
 * hostile record cannot make us allocate without limit. */
#define MAX_LAYERS      500 /* overlayfs' limit on lower dirs */
#define MAX_STRV        4096
#define MAX_STRING_LEN  (64 * 1024)
#define MAX_NAME_LEN    128
#define MAX_TAG_LEN     128
#define MAX_RECORD_SIZE (4 * 1024 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_object *, json_object_put)
#define _cleanup_json_ _cleanup_(json_object_putp)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct json_tokener *, json_tokener_free)

struct image *image_new(void)
{
    return xcalloc(1, sizeof(struct image));
}

void image_config_release(struct image_config *cfg)
{
    if (!cfg)
        return;
    cfg->env = strv_free(cfg->env);
    cfg->entrypoint = strv_free(cfg->entrypoint);
    cfg->cmd = strv_free(cfg->cmd);
    free(cfg->working_dir);
    free(cfg->hostname);
    free(cfg->user);
    cfg->working_dir = cfg->hostname = cfg->user = NULL;
}

static char *strdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void image_config_copy(struct image_config *dst, const struct image_config *src)
{
    dst->env = src->env ? strv_copy(src->env) : NULL;
    dst->entrypoint = src->entrypoint ? strv_copy(src->entrypoint) : NULL;
    dst->cmd = src->cmd ? strv_copy(src->cmd) : NULL;
    dst->working_dir = strdup_or_null(src->working_dir);
    dst->hostname = strdup_or_null(src->hostname);
    dst->user = strdup_or_null(src->user);
}

struct image *image_free(struct image *img)
{
    if (!img)
        return NULL;
    free(img->name);
    free(img->id);
    free(img->architecture);
    strv_free(img->layers);
    image_config_release(&img->config);
    free(img->source);
    free(img);
    return NULL;
}

struct image *image_dup(const struct image *img)
{
    struct image *n = image_new();
    n->name = strdup_or_null(img->name);
    n->id = strdup_or_null(img->id);
    n->created = img->created;
    n->architecture = strdup_or_null(img->architecture);
    n->layers = img->layers ? strv_copy(img->layers) : NULL;
    image_config_copy(&n->config, &img->config);
    n->source = strdup_or_null(img->source);
    return n;
}

/* ---- names ---- */

/* The text with control and non-ASCII bytes as \xNN, so a message never carries terminal
 * escapes from user input. */
static char *escape_for_message(const char *s)
{
    _cleanup_strbuf_ struct strbuf sb = STRBUF_INIT(4096);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int r = (*p < 0x20 || *p >= 0x7f || *p == '\\') ? strbuf_addf(&sb, "\\x%02x", *p)
                                                        : strbuf_addch(&sb, (char)*p);
        if (r < 0) {
            (void)strbuf_addstr(&sb, "...");
            break;
        }
    }
    return strbuf_detach(&sb, NULL);
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_name_char(char c)
{
    return is_name_start(c) || c == '.' || c == '_' || c == '-';
}

static bool is_tag_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static const char *name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "the name is empty";
    if (len > MAX_NAME_LEN)
        return "the name is longer than 128 characters";
    if (name[0] == '/')
        return "the name starts with '/'";
    if (name[len - 1] == '/')
        return "the name ends with '/'";
    bool part_start = true;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if ((unsigned char)c < 0x20 || c == 0x7f)
            return "the name contains a control character";
        if (c == ' ')
            return "the name contains a space";
        if (c == '.' && i + 1 < len && name[i + 1] == '.')
            return "the name contains '..'";
        if (c == '/') {
            if (part_start)
                return "the name contains '//'";
            part_start = true;
            continue;
        }
        if (c >= 'A' && c <= 'Z')
            return "the name contains upper case (only the tag may)";
        if (part_start ? !is_name_start(c) : !is_name_char(c))
            return part_start ? "each part of the name must start with [a-z0-9]"
                              : "the name may only contain [a-z0-9._-] and '/'";
        part_start = false;
    }
    return NULL;
}

static const char *tag_problem(const char *tag)
{
    size_t len = strlen(tag);
    if (len == 0)
        return "the tag after ':' is empty";
    if (len > MAX_TAG_LEN)
        return "the tag is longer than 128 characters";
    if (!is_tag_start(tag[0]))
        return "the tag must start with [A-Za-z0-9_]";
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];
        if ((unsigned char)c < 0x20 || c == 0x7f)
            return "the tag contains a control character";
        if (!is_tag_start(c) && c != '.' && c != '-')
            return "the tag may only contain [A-Za-z0-9._-]";
    }
    return NULL;
}

int image_name_normalize(const char *text, char **ret, struct rs_err *err)
{
    const char *colon = strchr(text, ':');
    size_t name_len = colon ? (size_t)(colon - text) : strlen(text);
    const char *tag = colon ? colon + 1 : "latest";
    const char *problem = name_problem(text, name_len);

    if (!problem)
        problem = tag_problem(tag);
    if (problem) {
        _cleanup_free_ char *shown = escape_for_message(text);
        return rs_err_msg(err, -EINVAL, "invalid image name '%s': %s", shown, problem);
    }
    *ret = xasprintf("%.*s:%s", (int)name_len, text, tag);
    return 0;
}

/* ---- JSON ---- */

static struct json_object *strv_to_json(char *const *l)
{
    struct json_object *a = json_object_new_array();
    STRV_FOREACH(s, (char **)l)
        json_object_array_add(a, json_object_new_string(*s));
    return a;
}

static struct json_object *string_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static struct json_object *config_to_json(const struct image_config *cfg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Env", strv_to_json(cfg->env));
    /* Only when there is one: the images made before it existed keep their ids. */
    if (cfg->entrypoint)
        json_object_object_add(o, "Entrypoint", strv_to_json(cfg->entrypoint));
    json_object_object_add(o, "Cmd", cfg->cmd ? strv_to_json(cfg->cmd) : NULL);
    json_object_object_add(o, "WorkingDir", string_or_null(cfg->working_dir));
    json_object_object_add(o, "Hostname", string_or_null(cfg->hostname));
    json_object_object_add(o, "User", string_or_null(cfg->user));
    return o;
}

static char *json_to_owned_string(struct json_object *o, int flags)
{
    return xstrdup(json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE));
}

void image_compute_id(struct image *img)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    char hex[RS_SHA256_HEX_LEN + 1];

    /* Canonical form: fixed key order, no white space. The name, dates and provenance are
     * left out so that equal content has an equal id. */
    json_object_object_add(o, "layers", strv_to_json(img->layers));
    json_object_object_add(o, "config", config_to_json(&img->config));
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    rs_sha256_buf(s, strlen(s), hex);
    free(img->id);
    img->id = xstrdup(hex);
}

char *image_to_json(const struct image *img)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();

    json_object_object_add(o, "name", string_or_null(img->name));
    json_object_object_add(o, "id", string_or_null(img->id));
    json_object_object_add(o, "created", json_object_new_int64(img->created));
    json_object_object_add(o, "architecture", string_or_null(img->architecture));
    json_object_object_add(o, "layers", strv_to_json(img->layers));
    json_object_object_add(o, "config", config_to_json(&img->config));
    json_object_object_add(o, "source", string_or_null(img->source));
    return json_to_owned_string(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
}

static int parse_error(struct rs_err *err, const char *what, const char *field, const char *why)
{
    return rs_err_msg(err, -EBADMSG, "bad %s: field '%s' %s", what, field, why);
}

/* An optional string field: absent or null gives NULL. */
static int get_string(struct json_object *o, const char *key, bool required, const char *what,
                      char **ret, struct rs_err *err)
{
    struct json_object *v = NULL;

    if (!json_object_object_get_ex(o, key, &v) || !v) {
        if (required)
            return parse_error(err, what, key, "is missing");
        *ret = NULL;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return parse_error(err, what, key, "is not a string");
    if ((size_t)json_object_get_string_len(v) > MAX_STRING_LEN)
        return parse_error(err, what, key, "is too long");
    const char *s = json_object_get_string(v);
    if (strlen(s) != (size_t)json_object_get_string_len(v))
        return parse_error(err, what, key, "contains a NUL byte");
    *ret = xstrdup(s);
    return 0;
}

static int get_strv(struct json_object *o, const char *key, const char *what, char ***ret,
                    struct rs_err *err)
{
    struct json_object *v = NULL;
    _cleanup_strv_free_ char **l = NULL;

    if (!json_object_object_get_ex(o, key, &v) || !v) {
        *ret = NULL;
        return 0;
    }
    if (!json_object_is_type(v, json_type_array))
        return parse_error(err, what, key, "is not an array");
    size_t n = json_object_array_length(v);
    if (n > MAX_STRV)
        return parse_error(err, what, key, "has too many entries");
    l = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string))
            return parse_error(err, what, key, "has an entry that is not a string");
        if ((size_t)json_object_get_string_len(e) > MAX_STRING_LEN ||
            strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e))
            return parse_error(err, what, key, "has an entry that is too long or contains NUL");
        strv_push(&l, json_object_get_string(e));
    }
    *ret = TAKE_PTR(l);
    return 0;
}

static int get_int64(struct json_object *o, const char *key, const char *what, int64_t *ret,
                     struct rs_err *err)
{
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !v) {
        *ret = 0;
        return 0;
    }
    if (!json_object_is_type(v, json_type_int))
        return parse_error(err, what, key, "is not an integer");
    *ret = json_object_get_int64(v);
    return 0;
}

static int parse_root(const char *json, size_t len, const char *what, struct json_object **ret,
                      struct rs_err *err)
{
    _cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
    struct json_object *o;

    if (len > MAX_RECORD_SIZE)
        return rs_err_msg(err, -EBADMSG, "bad %s: larger than %d bytes", what, MAX_RECORD_SIZE);
    tok = json_tokener_new();
    o = json_tokener_parse_ex(tok, json, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success) {
        enum json_tokener_error e = json_tokener_get_error(tok);
        json_object_put(o);
        return rs_err_msg(err, -EBADMSG, "bad %s: %s", what,
                          e == json_tokener_continue ? "truncated JSON"
                                                     : json_tokener_error_desc(e));
    }
    if (tok->char_offset < (int)len &&
        strspn(json + tok->char_offset, " \t\r\n") != len - (size_t)tok->char_offset) {
        json_object_put(o);
        return rs_err_msg(err, -EBADMSG, "bad %s: trailing data after the JSON object", what);
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return rs_err_msg(err, -EBADMSG, "bad %s: not a JSON object", what);
    }
    *ret = o;
    return 0;
}

static int config_from_json(struct json_object *o, struct image_config *cfg, struct rs_err *err)
{
    const char *what = "image record";
    struct json_object *c = NULL;
    int r;

    if (!json_object_object_get_ex(o, "config", &c) || !c)
        return 0;
    if (!json_object_is_type(c, json_type_object))
        return parse_error(err, what, "config", "is not an object");
    r = get_strv(c, "Env", what, &cfg->env, err);
    if (r < 0)
        return r;
    if (cfg->env && !cfg->env[0])
        cfg->env = strv_free(cfg->env);
    r = get_strv(c, "Entrypoint", what, &cfg->entrypoint, err);
    if (r >= 0)
        r = get_strv(c, "Cmd", what, &cfg->cmd, err);
    if (r >= 0)
        r = get_string(c, "WorkingDir", false, what, &cfg->working_dir, err);
    if (r >= 0)
        r = get_string(c, "Hostname", false, what, &cfg->hostname, err);
    if (r >= 0)
        r = get_string(c, "User", false, what, &cfg->user, err);
    return r;
}

static int image_fields_from_json(struct json_object *o, struct image *img, struct rs_err *err)
{
    const char *what = "image record";
    _cleanup_free_ char *normal = NULL;
    int r;

    r = get_string(o, "name", true, what, &img->name, err);
    if (r < 0)
        return r;
    if (image_name_normalize(img->name, &normal, NULL) < 0 || strcmp(normal, img->name) != 0)
        return parse_error(err, what, "name", "is not a valid normalised image name");
    r = get_string(o, "id", true, what, &img->id, err);
    if (r < 0)
        return r;
    if (!rs_sha256_hex_valid(img->id))
        return parse_error(err, what, "id", "is not 64 hex digits");
    r = get_int64(o, "created", what, &img->created, err);
    if (r >= 0)
        r = get_string(o, "architecture", false, what, &img->architecture, err);
    if (r >= 0)
        r = get_string(o, "source", false, what, &img->source, err);
    if (r >= 0)
        r = get_strv(o, "layers", what, &img->layers, err);
    if (r < 0)
        return r;
    if (!img->layers)
        return parse_error(err, what, "layers", "is missing");
    if (strv_length(img->layers) > MAX_LAYERS)
        return parse_error(err, what, "layers", "has more than 500 entries");
    STRV_FOREACH(l, img->layers)
        if (!rs_sha256_hex_valid(*l))
            return parse_error(err, what, "layers", "has an entry that is not a layer id");
    return config_from_json(o, &img->config, err);
}

int image_from_json(const char *json, size_t len, struct image **ret, struct rs_err *err)
{
    _cleanup_json_ struct json_object *o = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    int r;

    r = parse_root(json, len, "image record", &o, err);
    if (r < 0)
        return r;
    img = image_new();
    r = image_fields_from_json(o, img, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(img);
    return 0;
}

/* ---- layer metadata ---- */

void layer_meta_release(struct layer_meta *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->parent);
    free(m->diff_id);
    free(m->created_by);
    *m = (struct layer_meta){ 0 };
}

char *layer_meta_to_json(const struct layer_meta *m)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();

    json_object_object_add(o, "id", string_or_null(m->id));
    json_object_object_add(o, "parent", string_or_null(m->parent));
    json_object_object_add(o, "diff_id", string_or_null(m->diff_id));
    json_object_object_add(o, "size", json_object_new_uint64(m->size));
    json_object_object_add(o, "created", json_object_new_int64(m->created));
    json_object_object_add(o, "created_by", string_or_null(m->created_by));
    return json_to_owned_string(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
}

static int layer_meta_fields(struct json_object *o, struct layer_meta *m, struct rs_err *err)
{
    const char *what = "layer record";
    struct json_object *v = NULL;
    int r;

    r = get_string(o, "id", true, what, &m->id, err);
    if (r < 0)
        return r;
    if (!rs_sha256_hex_valid(m->id))
        return parse_error(err, what, "id", "is not 64 hex digits");
    r = get_string(o, "parent", false, what, &m->parent, err);
    if (r < 0)
        return r;
    if (m->parent && !rs_sha256_hex_valid(m->parent))
        return parse_error(err, what, "parent", "is not a layer id");
    r = get_string(o, "diff_id", false, what, &m->diff_id, err);
    if (r < 0)
        return r;
    if (m->diff_id &&
        (strncmp(m->diff_id, "sha256:", 7) != 0 || !rs_sha256_hex_valid(m->diff_id + 7)))
        return parse_error(err, what, "diff_id", "is not 'sha256:' and 64 hex digits");
    if (json_object_object_get_ex(o, "size", &v) && v) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
            return parse_error(err, what, "size", "is not a byte count");
        m->size = json_object_get_uint64(v);
    }
    r = get_int64(o, "created", what, &m->created, err);
    if (r < 0)
        return r;
    return get_string(o, "created_by", false, what, &m->created_by, err);
}

int layer_meta_from_json(const char *json, size_t len, struct layer_meta *ret, struct rs_err *err)
{
    _cleanup_json_ struct json_object *o = NULL;
    struct layer_meta m = { 0 };
    int r;

    r = parse_root(json, len, "layer record", &o, err);
    if (r < 0)
        return r;
    r = layer_meta_fields(o, &m, err);
    if (r < 0) {
        layer_meta_release(&m);
        return r;
    }
    *ret = m;
    return 0;
}
