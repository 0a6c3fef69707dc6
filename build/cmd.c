#include "build/build.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/cli.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/image.h"

enum {
    OPT_MIRROR = 0x1100,
    OPT_ARCH,
    OPT_COMPONENTS,
    OPT_INCLUDE,
    OPT_EXCLUDE,
    OPT_KEYRING,
    OPT_NO_VERIFY,
    OPT_NO_CHECK_VALID_UNTIL,
    OPT_PRINT_PACKAGES,
    OPT_DOWNLOAD_ONLY,
    OPT_OFFLINE,
    OPT_PRINT_MIRROR,
    OPT_NO_CONFIGURE,
};

static const char *arg_suite;
static enum build_variant arg_variant = BUILD_VARIANT_MINBASE;
static const char *arg_mirror;
static const char *arg_arch;
static const char *arg_keyring;
static char **arg_components;
static char **arg_include;
static char **arg_exclude;
static bool arg_no_verify;
static bool arg_no_check_valid_until;
static bool arg_print_packages;
static bool arg_download_only;
static bool arg_offline;
static bool arg_print_mirror;
static const char *arg_tag;
static const char *arg_output;
static bool arg_no_configure;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: %s SUITE [VARIANT] [OPTIONS]\n"
        "Build a Debian root from the archive, as debootstrap does.\n"
        "\n"
        "  SUITE                  stable, testing, unstable or a codename (trixie, sid, ...)\n"
        "  VARIANT                essential, minbase (default) or buildd\n"
        "\n"
        "  --mirror URL           the archive (default: the host's apt sources)\n"
        "  --arch ARCH            dpkg architecture (default: the host's)\n"
        "  --components LIST      comma-separated archive components (default: main)\n"
        "  --include LIST         also install these packages (comma-separated, repeatable)\n"
        "  --exclude LIST         never install these packages\n"
        "  --keyring FILE         verify the archive against FILE (default: debian-archive-keyring)\n"
        "  --no-verify            do not check the archive's signature (warns every run)\n"
        "  --no-check-valid-until take a signed archive past its Valid-Until (a snapshot)\n"
        "  --print-packages       resolve and print 'NAME VERSION ARCH' lines, then stop\n"
        "  --download-only        resolve and download the packages into the store, then stop\n"
        "  --offline              use only what the store holds; list what is missing\n"
        "  --print-mirror         print the mirror mkroot would use, then stop\n"
        "  -t, --tag NAME         name the image NAME (default: SUITE-VARIANT)\n"
        "  -o, --output PATH      also write the root to PATH: a directory, FILE.tar or FILE.tar.zst\n"
        "  --no-configure         unpack only, do not run dpkg (for tests; not a usable root)\n"
        "  -q, --quiet            only warnings and errors\n"
        "  -v, --verbose          more messages (repeat for debug)\n"
        "      --root DIR         the store (default: $ROOTSTOCK_ROOT or /var/lib/rootstock)\n"
        "  -h, --help             show this help\n",
        cli_command());
}

static void add_list(char ***l, const char *arg)
{
    _cleanup_strv_free_ char **parts = strv_split(arg, ", ");
    STRV_FOREACH(p, parts)
        strv_push(l, *p);
}

static void reset_args(void)
{
    arg_components = strv_free(arg_components);
    arg_include = strv_free(arg_include);
    arg_exclude = strv_free(arg_exclude);
}

static int parse_argv(int argc, char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "mirror", required_argument, NULL, OPT_MIRROR },
        { "arch", required_argument, NULL, OPT_ARCH },
        { "components", required_argument, NULL, OPT_COMPONENTS },
        { "include", required_argument, NULL, OPT_INCLUDE },
        { "exclude", required_argument, NULL, OPT_EXCLUDE },
        { "keyring", required_argument, NULL, OPT_KEYRING },
        { "no-verify", no_argument, NULL, OPT_NO_VERIFY },
        { "no-check-valid-until", no_argument, NULL, OPT_NO_CHECK_VALID_UNTIL },
        { "print-packages", no_argument, NULL, OPT_PRINT_PACKAGES },
        { "download-only", no_argument, NULL, OPT_DOWNLOAD_ONLY },
        { "offline", no_argument, NULL, OPT_OFFLINE },
        { "print-mirror", no_argument, NULL, OPT_PRINT_MIRROR },
        { "tag", required_argument, NULL, 't' },
        { "output", required_argument, NULL, 'o' },
        { "no-configure", no_argument, NULL, OPT_NO_CONFIGURE },
        CLI_COMMON_LONG_OPTIONS,
        {},
    };
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":ht:o:" CLI_COMMON_SHORT, options, NULL)) != -1) {
        if (cli_common_option(c, optarg))
            continue;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case OPT_MIRROR:
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0 &&
                strncmp(optarg, "file:", 5) != 0)
                return cli_usage_error("invalid mirror '%s': not an http, https or file URL",
                                       optarg);
            arg_mirror = optarg;
            break;
        case OPT_ARCH:
            arg_arch = optarg;
            break;
        case OPT_COMPONENTS:
            arg_components = strv_free(arg_components);
            add_list(&arg_components, optarg);
            break;
        case OPT_INCLUDE:
            add_list(&arg_include, optarg);
            break;
        case OPT_EXCLUDE:
            add_list(&arg_exclude, optarg);
            break;
        case OPT_KEYRING:
            arg_keyring = optarg;
            break;
        case OPT_NO_VERIFY:
            arg_no_verify = true;
            break;
        case OPT_NO_CHECK_VALID_UNTIL:
            arg_no_check_valid_until = true;
            break;
        case OPT_PRINT_PACKAGES:
            arg_print_packages = true;
            break;
        case OPT_DOWNLOAD_ONLY:
            arg_download_only = true;
            break;
        case OPT_OFFLINE:
            arg_offline = true;
            break;
        case 't':
            arg_tag = optarg;
            break;
        case 'o':
            arg_output = optarg;
            break;
        case OPT_NO_CONFIGURE:
            arg_no_configure = true;
            break;
        case OPT_PRINT_MIRROR:
            arg_print_mirror = true;
            break;
        default:
            return cli_getopt_error(c, argv);
        }
    }
    if (arg_print_mirror)
        return 1;
    if (optind >= argc)
        return cli_usage_error("no suite given");
    arg_suite = argv[optind++];
    if (optind < argc) {
        arg_variant = build_variant_from_string(argv[optind]);
        if (arg_variant == _BUILD_VARIANT_INVALID)
            return cli_usage_error("unknown variant '%s' (essential, minbase, buildd)",
                                   argv[optind]);
        optind++;
    }
    if (optind < argc)
        return cli_usage_error("unexpected argument '%s'", argv[optind]);
    return 1;
}

/* Everything after the archive is open: the image, its name and id on stdout, -o. */
static int build_main(struct cache *c, struct build_archive *a, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *img = NULL;
    int64_t sde = -1;
    const char *s = getenv("SOURCE_DATE_EPOCH");
    int r;

    if (s && *s) {
        uint64_t v;
        r = rs_parse_uint(s, INT64_MAX, &v, err);
        if (r < 0)
            return rs_err_wrap(err, "SOURCE_DATE_EPOCH");
        sde = (int64_t)v;
    }
    struct build_image_opts o = {
        .variant = arg_variant,
        .include = arg_include,
        .exclude = arg_exclude,
        .suite = arg_suite,
        .name = arg_tag,
        .source_date_epoch = sde,
        .offline = arg_offline,
        .no_configure = arg_no_configure,
    };
    r = build_image(c, a, &o, &img, err);
    if (r < 0)
        return r;
    if (arg_output) {
        r = build_write_output(c, img, arg_output, sde, err);
        if (r < 0)
            return r;
        log_info("wrote '%s'", arg_output);
    }
    printf("%s %s\n", img->name, img->id);
    return 0;
}

static int run(struct rs_err *err)
{
    _cleanup_(cache_closep) struct cache *c = NULL;
    _cleanup_(build_archive_freep) struct build_archive *a = NULL;
    struct build_pkg_list l = { 0 };
    struct timespec t0, t1;
    size_t n_fetched = 0;
    uint64_t total = 0;
    int r;

    if (arg_print_mirror) {
        _cleanup_free_ char *m = NULL;
        r = arg_mirror ? 0 : build_host_mirror("/", &m, err);
        if (r < 0)
            return r;
        printf("%s\n", arg_mirror ? arg_mirror : m);
        return 0;
    }
    if (arg_no_verify)
        log_warning("not verifying the archive's signature (--no-verify): packages may be forged");
    r = cache_open(cli_store_root(), 0, &c, err);
    if (r < 0)
        return r;
    struct build_archive_opts o = {
        .mirror = arg_mirror,
        .suite = arg_suite,
        .arch = arg_arch,
        .components = arg_components,
        .keyring = arg_keyring,
        .no_verify = arg_no_verify,
        .no_check_valid_until = arg_no_check_valid_until,
        .offline = arg_offline,
    };
    r = build_archive_open(c, &o, &a, err);
    if (r < 0)
        return r;
    const struct build_release *rel = build_archive_release(a);
    log_info("%s: %s%s%s%s, %s", build_archive_mirror(a), rel->codename ? rel->codename : arg_suite,
             rel->version ? " (" : "", rel->version ? rel->version : "", rel->version ? ")" : "",
             rel->date ? rel->date : "no date");
    if (!arg_print_packages && !arg_download_only)
        return build_main(c, a, err);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = build_resolve(a, arg_variant, arg_include, arg_exclude, &l, err);
    if (r < 0)
        return r;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t i = 0; i < l.n_pkgs; i++)
        total += l.pkgs[i].size;
    char sz[16];
    log_info("%s %s: %zu packages, %s (resolved in %.0f ms)",
             rel->codename ? rel->codename : arg_suite, build_variant_to_string(arg_variant),
             l.n_pkgs, rs_format_size(total, sz, sizeof(sz)),
             (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    if (arg_print_packages) {
        for (size_t i = 0; i < l.n_pkgs; i++)
            printf("%s %s %s\n", l.pkgs[i].name, l.pkgs[i].version,
                   l.pkgs[i].arch ? l.pkgs[i].arch : build_archive_arch(a));
        if (!arg_download_only) {
            build_pkg_list_release(&l);
            return 0;
        }
    }
    r = build_download(a, &l, arg_offline ? BUILD_DOWNLOAD_OFFLINE : 0, &n_fetched, err);
    if (r >= 0)
        log_info("%zu packages in the store, %zu downloaded", l.n_pkgs, n_fetched);
    build_pkg_list_release(&l);
    return r;
}

int cmd_build(int argc, char *argv[])
{
    struct rs_err err = RS_ERR_INIT;
    int r;

    r = parse_argv(argc, argv);
    if (r <= 0) {
        reset_args();
        return r < 0 ? EXIT_USAGE : 0;
    }
    r = run(&err);
    if (r < 0) {
        rs_err_print(&err);
        rs_err_release(&err);
    }
    reset_args();
    if (r == -EINTR && build_interrupt_signal() > 0)
        return 128 + build_interrupt_signal(); /* 130 for SIGINT, 143 for SIGTERM */
    if (r < 0)
        return 1;
    return fflush(stdout) == 0 ? 0 : 1;
}
