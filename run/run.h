#pragma once
/* runroot: run a command in an image. */

/* `rootstock run` / `runroot`: argv[0] is the verb or program name. Returns the exit code:
 * the command's status, 125 for runroot's own failures, 126/127 when the command cannot be
 * executed / found, 2 for usage errors. */
int cmd_run(int argc, char *argv[]);
