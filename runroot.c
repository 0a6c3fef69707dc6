/* runroot: the container runner as its own small executable. `rootstock run` is the same
 * code (run/cmd.c) inside the big binary; this one links only what running needs (no curl,
 * no libarchive; libcrypto is loaded only when something is hashed, see common/sha256.c),
 * because every shared library costs process start time and runroot's start is its
 * benchmark (issue 5: under 1.5x chroot, peak RSS under 2 MB). The rare paths that need more
 * (importing FILE.tar) hand over to the full rootstock binary (see run/cmd.c). */

#include "common/cli.h"
#include "common/log.h"
#include "run/run.h"

int main(int argc, char *argv[])
{
    log_init("runroot");
    cli_set_command("runroot");
    return cmd_run(argc, argv);
}
