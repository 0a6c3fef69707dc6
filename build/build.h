#pragma once
/* mkroot: build a Debian root from the archive. */

/* `rootstock build` / `mkroot`: argv[0] is the verb or program name. Returns the exit code:
 * 0 ok, 1 error, 2 usage. */
int cmd_build(int argc, char *argv[]);
