/* `rootstock image …` and `rootstock cache …`: the store's verbs. */

#include "cache/cache.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cache/cache-internal.h"
#include "common/cleanup.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"

enum verb_flags {
    VERB_EXCLUSIVE = 1 << 0, /* take the store lock exclusively */
    VERB_OWN_ARGV = 1 << 1,  /* the verb parses its own argv (argv[0] is the verb) */
};

/* Options; each verb names the ones it takes. */
enum {
    OPT_JSON = 0x1100,
    OPT_REPAIR,
    OPT_BLOBS,
    OPT_CMD,
    OPT_ENTRYPOINT,
    OPT_HOSTNAME,
    OPT_USER,
    OPT_SOURCE,
};

enum opt_bits {
    O_JSON = 1 << 0,
    O_REPAIR = 1 << 1,
    O_BLOBS = 1 << 2,
    O_CONFIG = 1 << 3, /* -e -w --entrypoint --cmd --hostname --user --source */
};

static bool arg_json;
static bool arg_repair;
static bool arg_blobs;
static struct image_config arg_config;
static char *arg_source;

struct verb {
    const char *name;
    int (*fn)(struct cache *c, int argc, char *argv[]);
    int (*own)(int argc, char *argv[]);
    int min_args, max_args;
    unsigned flags;
    unsigned options;
    const char *args;
    const char *summary;
};

/* ---- image verbs ---- */

struct size_memo {
    char **ids;
    uint64_t *sizes;
    size_t n, alloc;
};

static uint64_t layer_size(struct cache *c, struct size_memo *m, const char *id)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->ids[i], id) == 0)
            return m->sizes[i];
    struct layer_meta meta;
    uint64_t size = 0;
    if (cache_layer_meta(c, id, &meta, NULL) >= 0) {
        size = meta.size;
        layer_meta_release(&meta);
    }
    if (m->n == m->alloc) {
        m->alloc = m->alloc ? m->alloc * 2 : 64;
        m->ids = xreallocarray(m->ids, m->alloc, sizeof(char *));
        m->sizes = xreallocarray(m->sizes, m->alloc, sizeof(uint64_t));
    }
    m->ids[m->n] = xstrdup(id);
    m->sizes[m->n++] = size;
    return size;
}

static void size_memo_release(struct size_memo *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->ids[i]);
    free(m->ids);
    free(m->sizes);
}

static uint64_t image_size(struct cache *c, struct size_memo *m, const struct image *img)
{
    uint64_t size = 0;
    STRV_FOREACH(l, img->layers)
        size += layer_size(c, m, *l);
    return size;
}

static int verb_ls(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    struct size_memo memo = { 0 };
    struct image **list = NULL;
    size_t n = 0;

    (void)argc;
    (void)argv;
    if (cache_image_list(c, &list, &n, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    if (arg_json) {
        struct json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(list[i]->name));
            json_object_object_add(o, "id", json_object_new_string(list[i]->id));
            json_object_object_add(o, "layers",
                                   json_object_new_int64((int64_t)strv_length(list[i]->layers)));
            json_object_object_add(o, "size",
                                   json_object_new_uint64(image_size(c, &memo, list[i])));
            json_object_object_add(o, "created", json_object_new_int64(list[i]->created));
            json_object_array_add(a, o);
        }
        puts(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(a);
    } else {
        printf("%-40s %-12s %6s %8s  %s\n", "NAME", "ID", "LAYERS", "SIZE", "CREATED");
        for (size_t i = 0; i < n; i++) {
            char size[16], created[32] = "-";
            time_t t = (time_t)list[i]->created;
            struct tm tm;
            if (localtime_r(&t, &tm))
                strftime(created, sizeof(created), "%Y-%m-%d %H:%M", &tm);
            printf("%-40s %.12s %6zu %8s  %s\n", list[i]->name, list[i]->id,
                   strv_length(list[i]->layers),
                   rs_format_size(image_size(c, &memo, list[i]), size, sizeof(size)), created);
        }
    }
    size_memo_release(&memo);
    cache_image_list_free(list, n);
    return 0;
}

static int verb_inspect(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *json = NULL;

    (void)argc;
    if (cache_image_get(c, argv[0], &img, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    json = image_to_json(img);
    puts(json);
    return 0;
}

static int verb_rm(struct cache *c, int argc, char *argv[])
{
    int status = 0;

    for (int i = 0; i < argc; i++) {
        _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
        _cleanup_(image_freep) struct image *img = NULL;
        if (cache_image_get(c, argv[i], &img, &err) < 0 ||
            cache_image_remove(c, img->name, &err) < 0) {
            rs_err_print(&err);
            status = 1;
            continue;
        }
        printf("%s\n", img->name);
    }
    return status;
}

static int verb_tag(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *dst = NULL;

    (void)argc;
    if (image_name_normalize(argv[1], &dst, &err) < 0 ||
        cache_image_get(c, argv[0], &img, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    free(img->name);
    img->name = TAKE_PTR(dst);
    if (cache_image_put(c, img, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    printf("%s\n", img->name);
    return 0;
}

static int verb_import_dir(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *normal = NULL;

    (void)argc;
    /* Check the name before copying anything. */
    if (image_name_normalize(argv[1], &normal, &err) < 0 ||
        cache_image_import_dir(c, argv[0], argv[1], &arg_config, arg_source, &img, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    printf("%s %s\n", img->name, img->id);
    return 0;
}

/* ---- cache verbs ---- */

static int verb_du(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    struct cache_usage u;
    char a[16], b[16], t[16], total[16];

    (void)argc;
    (void)argv;
    if (cache_usage(c, &u, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    if (arg_json) {
        printf(
            "{ \"root\": \"%s\", \"blobs\": %zu, \"blobs_size\": %llu, \"layers\": %zu, "
            "\"layers_size\": %llu, \"images\": %zu, \"containers\": %zu, \"tmp_size\": %llu }\n",
            cache_root(c), u.n_blobs, (unsigned long long)u.blobs_size, u.n_layers,
            (unsigned long long)u.layers_size, u.n_images, u.n_containers,
            (unsigned long long)u.tmp_size);
        return 0;
    }
    printf("%-11s %6zu %8s\n", "blobs", u.n_blobs, rs_format_size(u.blobs_size, a, sizeof(a)));
    printf("%-11s %6zu %8s\n", "layers", u.n_layers, rs_format_size(u.layers_size, b, sizeof(b)));
    printf("%-11s %6zu\n", "images", u.n_images);
    printf("%-11s %6zu\n", "containers", u.n_containers);
    printf("%-11s %6s %8s\n", "staging", "", rs_format_size(u.tmp_size, t, sizeof(t)));
    printf("%-11s %6s %8s\n", "total", "",
           rs_format_size(u.blobs_size + u.layers_size + u.tmp_size, total, sizeof(total)));
    return 0;
}

static int verb_gc(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    uint64_t freed = 0;
    size_t n = 0;
    char size[16];

    (void)argc;
    (void)argv;
    if (cache_gc_ex(c, arg_blobs ? CACHE_GC_BLOBS : 0, &freed, &n, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    printf("freed %s in %zu item%s\n", rs_format_size(freed, size, sizeof(size)), n,
           n == 1 ? "" : "s");
    return 0;
}

static int verb_verify(struct cache *c, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    int n;

    (void)argc;
    (void)argv;
    n = cache_verify(c, arg_repair, &err);
    if (n < 0) {
        rs_err_print(&err);
        return 1;
    }
    if (n == 0) {
        printf("store '%s' is clean\n", cache_root(c));
        return 0;
    }
    if (arg_repair) {
        printf("store '%s': %d problem%s found and repaired\n", cache_root(c), n,
               n == 1 ? "" : "s");
        return 0;
    }
    log_error("%d problem%s found in '%s'", n, n == 1 ? "" : "s", cache_root(c));
    fprintf(stderr, "  hint: 'rootstock cache verify --repair' removes what is corrupt and the "
                    "images that depend on it\n");
    return 1;
}

static const struct verb image_verbs[] = {
    { "ls", verb_ls, NULL, 0, 0, 0, O_JSON, "[--json]", "list images" },
    { "inspect", verb_inspect, NULL, 1, 1, 0, 0, "NAME", "print an image's record as JSON" },
    { "rm", verb_rm, NULL, 1, -1, 0, 0, "NAME...", "remove images (gc frees their layers)" },
    { "tag", verb_tag, NULL, 2, 2, 0, 0, "SRC DST", "give an image another name (atomic)" },
    { "import-dir", verb_import_dir, NULL, 2, 2, 0, O_CONFIG,
      "DIR NAME [-e K=V]... [-w DIR] [--entrypoint 'CMD ARG...'] [--cmd 'CMD ARG...'] "
      "[--hostname H] [--user U]",
      "make an image from a plain directory tree" },
    { "import", NULL, cmd_image_import, 0, 0, VERB_OWN_ARGV, 0, "FILE [NAME]",
      "import an OCI or docker archive" },
    { "export", NULL, cmd_image_export, 0, 0, VERB_OWN_ARGV, 0, "NAME -o FILE",
      "write an image as an OCI archive" },
};

static const struct verb cache_verbs[] = {
    { "du", verb_du, NULL, 0, 0, 0, O_JSON, "[--json]", "show what the store holds" },
    { "gc", verb_gc, NULL, 0, 0, VERB_EXCLUSIVE, O_BLOBS, "[--blobs]",
      "remove what no image or running container uses" },
    { "verify", verb_verify, NULL, 0, 0, 0, O_REPAIR, "[--repair]", "recheck digests and records" },
};

static void usage(FILE *f, const struct verb *verbs, size_t n_verbs, const char *group)
{
    fprintf(f, "usage: rootstock %s VERB [OPTIONS] [ARGS]\n\nVerbs:\n", group);
    for (size_t i = 0; i < n_verbs; i++)
        fprintf(f, "  %-11s %-24s %s\n", verbs[i].name,
                strlen(verbs[i].args) > 24 ? "..." : verbs[i].args, verbs[i].summary);
    fputs("\nOptions:\n"
          "  -q, --quiet       only warnings and errors\n"
          "  -v, --verbose     more detail (twice: debug)\n"
          "      --root DIR    the store (default /var/lib/rootstock, or $ROOTSTOCK_ROOT)\n",
          f);
}

static void verb_usage(FILE *f, const char *group, const struct verb *v)
{
    fprintf(f, "usage: rootstock %s %s %s\n\n%s\n", group, v->name, v->args, v->summary);
    if (v->options & O_CONFIG)
        fputs("\n  -e, --env K=V        set an environment variable (repeatable)\n"
              "  -w, --workdir DIR    the working directory\n"
              "      --entrypoint 'CMD ARG'  what every command runs through (split at spaces)\n"
              "      --cmd 'CMD ARG'  the default command (split at spaces)\n"
              "      --hostname NAME  the hostname\n"
              "      --user USER      the user\n"
              "      --source TEXT    what made it (default: import-dir DIR)\n",
              f);
    if (v->options & O_JSON)
        fputs("\n      --json           print JSON\n", f);
    if (v->options & O_BLOBS)
        fputs("\n      --blobs          also remove blobs (.debs, archives) no record names\n", f);
    if (v->options & O_REPAIR)
        fputs("\n      --repair         remove what is corrupt and the images that need it\n", f);
}

static const struct option verb_options[] = {
    { "help", no_argument, NULL, 'h' },
    { "json", no_argument, NULL, OPT_JSON },
    { "repair", no_argument, NULL, OPT_REPAIR },
    { "blobs", no_argument, NULL, OPT_BLOBS },
    { "env", required_argument, NULL, 'e' },
    { "workdir", required_argument, NULL, 'w' },
    { "cmd", required_argument, NULL, OPT_CMD },
    { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
    { "hostname", required_argument, NULL, OPT_HOSTNAME },
    { "user", required_argument, NULL, OPT_USER },
    { "source", required_argument, NULL, OPT_SOURCE },
    CLI_COMMON_LONG_OPTIONS,
    {},
};

static void set_string(char **p, const char *s)
{
    free(*p);
    *p = xstrdup(s);
}

/* One verb-specific option; false if v does not take it. */
static bool verb_option(const struct verb *v, int opt, const char *arg)
{
    switch (opt) {
    case OPT_JSON:
        arg_json = true;
        return v->options & O_JSON;
    case OPT_REPAIR:
        arg_repair = true;
        return v->options & O_REPAIR;
    case OPT_BLOBS:
        arg_blobs = true;
        return v->options & O_BLOBS;
    case 'e':
        strv_push(&arg_config.env, arg);
        return v->options & O_CONFIG;
    case 'w':
        set_string(&arg_config.working_dir, arg);
        return v->options & O_CONFIG;
    case OPT_CMD:
        strv_free(arg_config.cmd);
        arg_config.cmd = strv_split(arg, " \t");
        return v->options & O_CONFIG;
    case OPT_ENTRYPOINT:
        strv_free(arg_config.entrypoint);
        arg_config.entrypoint = strv_split(arg, " \t");
        return v->options & O_CONFIG;
    case OPT_HOSTNAME:
        set_string(&arg_config.hostname, arg);
        return v->options & O_CONFIG;
    case OPT_USER:
        set_string(&arg_config.user, arg);
        return v->options & O_CONFIG;
    case OPT_SOURCE:
        set_string(&arg_source, arg);
        return v->options & O_CONFIG;
    default:
        return false;
    }
}

/* <0 usage error, 0 exit now (help), >0 run. */
static int parse_verb_argv(const char *group, const struct verb *v, int argc, char *argv[])
{
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":hqve:w:", verb_options, NULL)) != -1) {
        if (cli_common_option(c, optarg))
            continue;
        if (c == 'h') {
            verb_usage(stdout, group, v);
            return 0;
        }
        if (c == '?' || c == ':')
            return cli_getopt_error(c, argv);
        if (!verb_option(v, c, optarg))
            return cli_usage_error("unknown option '%s'", argv[optind - 1]);
    }
    int n = argc - optind;
    if (n < v->min_args)
        return cli_usage_error("'%s %s' needs %s", group, v->name, v->args);
    if (v->max_args >= 0 && n > v->max_args)
        return cli_usage_error("too many arguments for '%s %s'", group, v->name);
    return 1;
}

static void reset_args(void)
{
    arg_json = arg_repair = arg_blobs = false;
    image_config_release(&arg_config);
    free(arg_source);
    arg_source = NULL;
}

static int run_verb(const char *group, const struct verb *v, int argc, char *argv[])
{
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(cache_closep) struct cache *c = NULL;
    static char command[64];
    int r;

    snprintf(command, sizeof(command), "rootstock %s %s", group, v->name);
    cli_set_command(command);
    if (v->flags & VERB_OWN_ARGV)
        return v->own(argc, argv);
    r = parse_verb_argv(group, v, argc, argv);
    if (r <= 0) {
        reset_args();
        return r < 0 ? EXIT_USAGE : 0;
    }
    unsigned flags = (v->flags & VERB_EXCLUSIVE) || arg_repair ? CACHE_EXCLUSIVE : 0;
    if (cache_open(cli_store_root(), flags, &c, &err) < 0) {
        rs_err_print(&err);
        reset_args();
        return 1;
    }
    r = v->fn(c, argc - optind, argv + optind);
    reset_args();
    return r;
}

static int dispatch(const char *group, const struct verb *verbs, size_t n_verbs, int argc,
                    char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        CLI_COMMON_LONG_OPTIONS,
        {},
    };
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (cli_common_option(c, optarg))
            continue;
        if (c == 'h') {
            usage(stdout, verbs, n_verbs, group);
            return 0;
        }
        cli_getopt_error(c, argv);
        return EXIT_USAGE;
    }
    if (optind >= argc) {
        cli_usage_error("no verb given");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < n_verbs; i++)
        if (strcmp(verbs[i].name, argv[optind]) == 0)
            return run_verb(group, &verbs[i], argc - optind, argv + optind);
    cli_usage_error("unknown verb '%s %s'", group, argv[optind]);
    return EXIT_USAGE;
}

int cmd_image(int argc, char *argv[])
{
    return dispatch("image", image_verbs, ELEMENTSOF(image_verbs), argc, argv);
}

int cmd_cache(int argc, char *argv[])
{
    return dispatch("cache", cache_verbs, ELEMENTSOF(cache_verbs), argc, argv);
}
