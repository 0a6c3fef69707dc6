/* The one binary's dispatcher (git's git.c): `rootstock VERB …`, or `mkroot …` / `runroot …`
 * when started under those names. Each verb lives in its module's cmd.c. */

#include <stdio.h>
#include <string.h>

#include "build/build.h"
#include "cache/cache.h"
#include "common/cli.h"
#include "common/log.h"
#include "run/run.h"

static int cmd_version(int argc, char *argv[]);
static int cmd_help(int argc, char *argv[]);

struct verb {
    const char *name;
    int (*fn)(int argc, char *argv[]);
    const char *summary;
};

static const struct verb verbs[] = {
    { "build", cmd_build, "build a Debian root from the archive (also: mkroot)" },
    { "run", cmd_run, "run a command in an image (also: runroot)" },
    { "image", cmd_image, "list, inspect, tag, remove, import and export images" },
    { "cache", cmd_cache, "show, check and clean the store" },
    { "version", cmd_version, "print the version" },
    { "help", cmd_help, "show this help" },
};

static void usage(FILE *f)
{
    fputs("usage: rootstock VERB [OPTIONS] [ARGS]\n"
          "       mkroot SUITE [VARIANT] [OPTIONS]      (= rootstock build)\n"
          "       runroot IMAGE [COMMAND [ARG...]]      (= rootstock run)\n\n"
          "Verbs:\n",
          f);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
    fputs("\nOptions every verb takes:\n"
          "  -q, --quiet       only warnings and errors\n"
          "  -v, --verbose     more detail (twice: debug)\n"
          "      --root DIR    the store (default /var/lib/rootstock, or $ROOTSTOCK_ROOT)\n\n"
          "'rootstock VERB --help' describes a verb's own options.\n",
          f);
}

static int cmd_version(int argc, char *argv[])
{
    (void)argc;
    (void)argv;
    printf("rootstock %s\n", ROOTSTOCK_VERSION);
    return 0;
}

static int cmd_help(int argc, char *argv[])
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

/* The options every verb takes may also come before the verb, as in `rootstock -q image ls`
 * (git's `git -C DIR verb`). Returns the index of the verb, or -1 after a usage error. */
static int parse_global_options(int argc, char *argv[])
{
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
            cli_common_option('q', NULL);
        else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
            cli_common_option('v', NULL);
        else if (strncmp(a, "--root=", 7) == 0)
            cli_common_option(CLI_OPT_ROOT, a + 7);
        else if (strcmp(a, "--root") == 0) {
            if (i + 1 >= argc) {
                cli_usage_error("option '--root' needs a value");
                return -1;
            }
            cli_common_option(CLI_OPT_ROOT, argv[++i]);
        } else
            break;
        i++;
    }
    return i;
}

int main(int argc, char *argv[])
{
    const char *slash = strrchr(argv[0], '/');
    const char *self = slash ? slash + 1 : argv[0];

    /* Started as mkroot or runroot: the verb is implied and argv is the verb's. */
    if (strcmp(self, "mkroot") == 0 || strcmp(self, "runroot") == 0) {
        log_init(self);
        cli_set_command(self);
        return self[0] == 'm' ? cmd_build(argc, argv) : cmd_run(argc, argv);
    }

    log_init("rootstock");
    int i = parse_global_options(argc, argv);
    if (i < 0)
        return EXIT_USAGE;
    if (i >= argc) {
        cli_usage_error("no verb given");
        return EXIT_USAGE;
    }
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
        return cmd_help(argc - i, argv + i);
    if (strcmp(argv[i], "--version") == 0)
        return cmd_version(argc - i, argv + i);

    const struct verb *v = find_verb(argv[i]);
    if (!v) {
        if (argv[i][0] == '-')
            cli_usage_error("unknown option '%s'", argv[i]);
        else
            cli_usage_error("unknown verb '%s'", argv[i]);
        return EXIT_USAGE;
    }
    static char command[64];
    snprintf(command, sizeof(command), "rootstock %s", v->name);
    cli_set_command(command);
    return v->fn(argc - i, argv + i);
}
