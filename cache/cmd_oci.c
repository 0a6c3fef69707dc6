/* `rootstock image export` and `rootstock image import`: OCI archives out of and into the
 * store. */
#include "cache/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/xalloc.h"
#include "image/oci.h"

enum { OPT_GZIP = 0x1100 };

static void export_usage(FILE *f)
{
    fprintf(f,
            "usage: %s NAME -o FILE|- [--gzip]\n"
            "Write the image as an OCI archive (also readable by docker load).\n\n"
            "  -o, --output FILE  where to write; '-' is stdout\n"
            "      --gzip         gzip layers instead of zstd, for older consumers\n"
            "                     (umoci < 0.5, docker < 23)\n"
            "SOURCE_DATE_EPOCH clamps every timestamp.\n",
            cli_command());
}

static void import_usage(FILE *f)
{
    fprintf(f,
            "usage: %s FILE|- [NAME]\n"
            "Import an OCI archive, a docker-save archive or a root tarball (gzip, zstd or\n"
            "uncompressed layers). Every blob's size and digest and every layer's diffID are\n"
            "checked; a layer the store has is not unpacked again.\n"
            "ROOTSTOCK_IMPORT_MAX_SIZE bounds the uncompressed size of one layer (default 64G).\n",
            cli_command());
}

/* "localhost/NAME:TAG" unless the name already starts with a registry host. */
static char *ref_name_for(const char *name)
{
    const char *slash = strchr(name, '/');
    if (slash &&
        (memchr(name, '.', (size_t)(slash - name)) || strncmp(name, "localhost/", 10) == 0))
        return xstrdup(name);
    return xasprintf("localhost/%s", name);
}

/* Same key as cache/oci_store.c: lets a later import of this layer find it. */
static void layer_key(const char *diff_id, char key[RS_SHA256_HEX_LEN + 1])
{
    _cleanup_free_ char *text = xasprintf("rootstock oci layer\nsha256:%s", diff_id);
    rs_sha256_buf(text, strlen(text), key);
}

static int write_layers(struct cache *c, const struct image *img, enum oci_compression comp,
                        int64_t clamp, struct oci_export_layer *layers, struct rs_err *err)
{
    for (size_t i = 0; img->layers && img->layers[i]; i++) {
        const char *id = img->layers[i];
        _cleanup_free_ char *root = cache_layer_root_path(c, id);
        _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct oci_layer_write_options o = { .compression = comp, .clamp_mtime = clamp };
        struct layer_meta meta = { 0 };
        char key[RS_SHA256_HEX_LEN + 1];
        int r;

        if (dfd < 0)
            return rs_err_set(err, -errno, "cannot open layer '%s'", id);
        layers[i].blob_fd = openat(cache_dir_fd(c), "tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (layers[i].blob_fd < 0)
            return rs_err_set(err, -errno, "cannot create a temporary file in '%s/tmp'",
                              cache_root(c));
        layers[i].compression = comp;
        log_debug("writing layer %zu (%s)", i, id);
        r = oci_layer_write(dfd, layers[i].blob_fd, &o, &layers[i].blob, err);
        if (r < 0)
            return rs_err_wrap(err, "layer '%s'", id);
        if (cache_layer_meta(c, id, &meta, err) < 0) {
            rs_err_release(err);
            continue;
        }
        _cleanup_free_ char *diff = xasprintf("sha256:%s", layers[i].blob.diff_id);
        if (!meta.diff_id || strcmp(meta.diff_id, diff) != 0)
            (void)cache_layer_set_diff_id(c, id, diff, NULL);
        layer_meta_release(&meta);
        layer_key(layers[i].blob.diff_id, key);
        (void)cache_recipe_put(c, key, id, NULL);
    }
    return 0;
}

static int export_image(struct cache *c, const char *name, const char *output,
                        enum oci_compression comp, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_free_ char *tmp = NULL, *ref = NULL;
    _cleanup_close_ int out_fd = -1;
    struct oci_export_layer *layers = NULL;
    char manifest[RS_SHA256_HEX_LEN + 1];
    int64_t clamp = -1;
    size_t n = 0;
    int r;

    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        uint64_t v;
        r = rs_parse_uint(sde, INT64_MAX, &v, err);
        if (r < 0)
            return rs_err_wrap(err, "SOURCE_DATE_EPOCH");
        clamp = (int64_t)v;
    }
    r = cache_image_get(c, name, &img, err);
    if (r < 0)
        return r;
    ref = ref_name_for(img->name);
    while (img->layers && img->layers[n])
        n++;
    layers = xcalloc(n + 1, sizeof(*layers));
    for (size_t i = 0; i < n; i++)
        layers[i].blob_fd = -1;
    r = write_layers(c, img, comp, clamp, layers, err);
    if (r < 0)
        goto out;

    if (strcmp(output, "-") == 0) {
        out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        /* Written beside the target and renamed, so a failed export leaves no half file. */
        tmp = xasprintf("%s.tmp-XXXXXX", output);
        out_fd = mkostemp(tmp, O_CLOEXEC);
        if (out_fd >= 0)
            (void)fchmod(out_fd, 0644);
    }
    if (out_fd < 0) {
        r = rs_err_set(err, -errno, "cannot create '%s'", output);
        goto out;
    }
    r = oci_archive_write(out_fd, ref, img, layers, n, clamp, manifest, err);
    if (r < 0) {
        rs_err_wrap(err, "cannot write '%s'", output);
        goto out;
    }
    if (tmp) {
        if (fsync(out_fd) < 0 || rename(tmp, output) < 0) {
            r = rs_err_set(err, -errno, "cannot write '%s'", output);
            goto out;
        }
        free(tmp);
        tmp = NULL;
        printf("sha256:%s\n", manifest);
    }
    log_info("exported '%s' as '%s' (%zu layers, %s)", img->name, ref, n,
             comp == OCI_COMPRESS_GZIP ? "gzip" : "zstd");
    r = 0;
out:
    if (tmp)
        (void)unlink(tmp);
    for (size_t i = 0; i < n; i++)
        safe_close(layers[i].blob_fd);
    free(layers);
    return r;
}

int cmd_image_export(int argc, char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "output", required_argument, NULL, 'o' },
        { "gzip", no_argument, NULL, OPT_GZIP },
        CLI_COMMON_LONG_OPTIONS,
        {},
    };
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(cache_closep) struct cache *c = NULL;
    enum oci_compression comp = OCI_COMPRESS_ZSTD;
    const char *output = NULL;
    int opt;

    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":ho:" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (cli_common_option(opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            export_usage(stdout);
            return 0;
        case 'o':
            output = optarg;
            break;
        case OPT_GZIP:
            comp = OCI_COMPRESS_GZIP;
            break;
        default:
            cli_getopt_error(opt, argv);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 1) {
        cli_usage_error(argc - optind < 1 ? "'image export' needs an image NAME"
                                          : "too many arguments for 'image export'");
        return EXIT_USAGE;
    }
    if (!output) {
        cli_usage_error("'image export' needs -o FILE (or -o - for stdout)");
        return EXIT_USAGE;
    }
    if (strcmp(output, "-") == 0 && isatty(STDOUT_FILENO)) {
        cli_usage_error("refusing to write an archive to a terminal");
        return EXIT_USAGE;
    }
    if (cache_open(cli_store_root(), CACHE_NO_CREATE, &c, &err) < 0 ||
        export_image(c, argv[optind], output, comp, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    return 0;
}

int cmd_image_import(int argc, char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        CLI_COMMON_LONG_OPTIONS,
        {},
    };
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(cache_closep) struct cache *c = NULL;
    _cleanup_free_ char *name = NULL;
    int opt;

    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (cli_common_option(opt, optarg))
            continue;
        if (opt == 'h') {
            import_usage(stdout);
            return 0;
        }
        cli_getopt_error(opt, argv);
        return EXIT_USAGE;
    }
    int n = argc - optind;
    if (n < 1 || n > 2) {
        cli_usage_error(n < 1 ? "'image import' needs a FILE (or - for stdin)"
                              : "too many arguments for 'image import'");
        return EXIT_USAGE;
    }
    if (cache_open(cli_store_root(), 0, &c, &err) < 0 ||
        cache_import_archive(c, argv[optind], n == 2 ? argv[optind + 1] : NULL, &name, &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    printf("%s\n", name);
    return 0;
}
