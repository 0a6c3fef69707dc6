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

enum { OPT_GZIP = 0x1100, OPT_MAX_SIZE };

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
            "usage: %s FILE|- [NAME] [--max-size SIZE]\n"
            "Import an OCI archive, a docker-save archive or a root tarball (gzip, zstd or\n"
            "uncompressed layers). Every blob's size and digest and every layer's diffID are\n"
            "checked; a layer the store has is not unpacked again.\n\n"
            "      --max-size SIZE  bound on the uncompressed size of one layer (e.g. 512M,\n"
            "                       4G; default ROOTSTOCK_IMPORT_MAX_SIZE, else 64G)\n",
            cli_command());
}

static int export_image(struct cache *c, const char *name, const char *output,
                        enum oci_compression comp, struct rs_err *err)
{
    _cleanup_free_ char *tmp = NULL;
    _cleanup_close_ int out_fd = -1;
    char manifest[RS_SHA256_HEX_LEN + 1];
    int64_t clamp = -1;
    int r;

    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        uint64_t v;
        r = rs_parse_uint(sde, INT64_MAX, &v, err);
        if (r < 0)
            return rs_err_wrap(err, "SOURCE_DATE_EPOCH");
        clamp = (int64_t)v;
    }
    if (strcmp(output, "-") == 0) {
        out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        /* Written beside the target and renamed, so a failed export leaves no half file. */
        tmp = xasprintf("%s.tmp-XXXXXX", output);
        out_fd = mkostemp(tmp, O_CLOEXEC);
        if (out_fd >= 0)
            (void)fchmod(out_fd, 0644);
    }
    if (out_fd < 0)
        return rs_err_set(err, -errno, "cannot create '%s'", output);
    r = cache_export_image(c, name, out_fd, comp, clamp, err);
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
        if (oci_archive_manifest_digest(out_fd, manifest, NULL) >= 0)
            printf("sha256:%s\n", manifest);
    }
    log_info("exported '%s' (%s)", name, comp == OCI_COMPRESS_GZIP ? "gzip" : "zstd");
    r = 0;
out:
    if (tmp)
        (void)unlink(tmp);
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
        { "max-size", required_argument, NULL, OPT_MAX_SIZE },
        CLI_COMMON_LONG_OPTIONS,
        {},
    };
    _cleanup_(rs_err_release) struct rs_err err = RS_ERR_INIT;
    _cleanup_(cache_closep) struct cache *c = NULL;
    _cleanup_free_ char *name = NULL;
    struct cache_import_options io = { 0 };
    int opt;

    opterr = 0;
    optind = 0;
    while ((opt = getopt_long(argc, argv, ":h" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (cli_common_option(opt, optarg))
            continue;
        switch (opt) {
        case 'h':
            import_usage(stdout);
            return 0;
        case OPT_MAX_SIZE:
            if (rs_parse_size(optarg, &io.max_size, &err) < 0 || io.max_size == 0) {
                cli_usage_error("bad --max-size '%s': a size such as 512M or 4G is needed", optarg);
                return EXIT_USAGE;
            }
            break;
        default:
            cli_getopt_error(opt, argv);
            return EXIT_USAGE;
        }
    }
    int n = argc - optind;
    if (n < 1 || n > 2) {
        cli_usage_error(n < 1 ? "'image import' needs a FILE (or - for stdin)"
                              : "too many arguments for 'image import'");
        return EXIT_USAGE;
    }
    if (cache_open(cli_store_root(), 0, &c, &err) < 0 ||
        cache_import_archive_ex(c, argv[optind], n == 2 ? argv[optind + 1] : NULL, &io, &name,
                                &err) < 0) {
        rs_err_print(&err);
        return 1;
    }
    printf("%s\n", name);
    return 0;
}
