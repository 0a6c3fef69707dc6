#include "common/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

static const char *command_name = "rootstock";
static const char *store_root_arg;

void cli_set_command(const char *command)
{
    command_name = command;
}

const char *cli_command(void)
{
    return command_name;
}

bool cli_common_option(int opt, const char *arg)
{
    switch (opt) {
    case 'q':
        log_quieter();
        return true;
    case 'v':
        log_louder();
        return true;
    case CLI_OPT_ROOT:
        store_root_arg = arg;
        return true;
    default:
        return false;
    }
}

const char *cli_store_root(void)
{
    const char *env = getenv("ROOTSTOCK_ROOT");
    if (store_root_arg)
        return store_root_arg;
    if (env && *env)
        return env;
    return "/var/lib/rootstock";
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", log_program_name());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  hint: see '%s --help'\n", command_name);
    return -EINVAL;
}

int cli_getopt_error(int opt, char *const *argv)
{
    const char *text = argv[optind - 1];
    if (opt == ':')
        return cli_usage_error("option '%s' needs a value", text);
    if (optopt && optopt < 0x100)
        return cli_usage_error("unknown option '-%c'", optopt);
    return cli_usage_error("unknown option '%s'", text);
}
