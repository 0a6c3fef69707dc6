#include "build/build.h"

#include <getopt.h>
#include <stdio.h>

#include "common/cli.h"
#include "common/log.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: %s SUITE [VARIANT] [OPTIONS]\n", cli_command());
}

int cmd_build(int argc, char *argv[])
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
            usage(stdout);
            return 0;
        }
        cli_getopt_error(c, argv);
        return EXIT_USAGE;
    }
    log_error("not available yet");
    return 1;
}
