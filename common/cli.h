#pragma once
/* What every verb's option parser shares: the common options (-q, -v, --root), the store
 * location, and usage errors that exit 2 with a one-line message and a hint. */

#include <getopt.h>
#include <stdbool.h>

enum {
    EXIT_USAGE = 2,
    CLI_OPT_ROOT =
        0x1000, /* getopt value of --root; verbs number their own long options above 0x1100 */
};

#define CLI_COMMON_LONG_OPTIONS                                              \
 { "quiet", no_argument, NULL, 'q' }, { "verbose", no_argument, NULL, 'v' }, \
 {                                                                           \
  "root", required_argument, NULL, CLI_OPT_ROOT                              \
 }

/* Short options of CLI_COMMON_LONG_OPTIONS, to put in a verb's optstring. */
#define CLI_COMMON_SHORT "qv"

/* The command as the user typed it, for messages and hints: "mkroot", "rootstock image". */
void cli_set_command(const char *command);
const char *cli_command(void);

/* Handle one common option returned by getopt_long; true if it was one. */
bool cli_common_option(int opt, const char *arg);

/* The store root: --root, else $ROOTSTOCK_ROOT, else /var/lib/rootstock. */
const char *cli_store_root(void);

/* Print "PROG: error: MESSAGE" and "  hint: see 'COMMAND --help'" to stderr; returns
 * -EINVAL so parse_argv can `return cli_usage_error(...)`. */
__attribute__((format(printf, 1, 2))) int cli_usage_error(const char *fmt, ...);

/* Report getopt_long's '?' or ':' result (opterr must be 0, optstring must start with ':')
 * as a usage error; returns -EINVAL. */
int cli_getopt_error(int opt, char *const *argv);
