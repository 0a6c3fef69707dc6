#!/bin/bash
# runroot's command line as the brief writes it: options before IMAGE and between IMAGE and
# COMMAND (`runroot stable-minbase -m 100M bash`); the first word after IMAGE that is not an
# option starts COMMAND, and `--` ends the options.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox

R=$T/root
mkdir -p "$R/bin"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in sh echo cat grep cut stat tr; do ln -s busybox "$R/bin/$a"; done
"$ROOTSTOCK" image import-dir "$R" tiny >/dev/null || { echo "Bail out! image import-dir fails"; exit 1; }

plan 20
check "an option after IMAGE applies" sh -c '[ "$(runroot tiny -e X=after sh -c "echo \$X")" = after ]'
check "options before and after IMAGE both apply" \
    sh -c '[ "$(runroot -e A=1 tiny -e B=2 -m 64M sh -c "echo \$A\$B")" = 12 ]'
check "the command's own options are left to it" sh -c '[ "$(runroot tiny echo -n hi)" = hi ]'
check "-- ends runroot's options" sh -c '[ "$(runroot tiny -- echo -e x)" = x ]'
expect_fail 2 "unknown option '--frob'" "an unknown option after IMAGE is a usage error" runroot tiny --frob sh
expect_fail 2 "no image given" "options without an IMAGE are a usage error" runroot -m 10M

# A working directory the image lacks is made, as docker and runc do; not on a read-only root.
check "-w makes a missing working directory" sh -c '[ "$(runroot -w /new/work tiny sh -c pwd)" = /new/work ]'
expect_fail 125 "cannot change to the working directory '/new/work': Read-only file system" \
    "... except on a read-only root, which says why" runroot --read-only -w /new/work tiny sh -c pwd

# --tmpfs: a writable /tmp on a read-only root, the common docker pattern; docker's options.
check "--read-only --tmpfs /tmp: /tmp takes writes, the rest of the root does not" \
    sh -c 'runroot --read-only --tmpfs /tmp tiny sh -c "echo x >/tmp/f && ! echo y 2>/dev/null >/f"'
check "--tmpfs options: size and mode for the tmpfs, exec for the mount; noexec,nosuid,nodev by default" \
    sh -c '[ "$(runroot --tmpfs /a --tmpfs /b:size=1m,mode=1777,exec tiny sh -c "grep -E \" /(a|b) \" /proc/mounts | cut -d\" \" -f2,4; stat -c %a /b" | tr "\n" " ")" = "/a rw,nosuid,nodev,noexec,relatime /b rw,nosuid,nodev,relatime,size=1024k 1777 " ]'
expect_fail 2 "invalid tmpfs '/t:bogus': unknown option 'bogus'" "an unknown --tmpfs option is a usage error" \
    runroot --tmpfs /t:bogus tiny true

# Entrypoint, as docker composes it: the image's entrypoint, then COMMAND or the image's Cmd;
# --entrypoint replaces it (and drops the Cmd), "" removes it.
"$ROOTSTOCK" image import-dir "$R" ep --entrypoint 'echo ep' --cmd 'default' >/dev/null ||
    { echo "Bail out! image import-dir --entrypoint fails"; exit 1; }
check "the image's entrypoint runs with its Cmd" sh -c '[ "$(runroot ep)" = "ep default" ]'
check "... or with COMMAND instead of the Cmd" sh -c '[ "$(runroot ep a b)" = "ep a b" ]'
check "--entrypoint replaces it and drops the Cmd" sh -c '[ "$(runroot --entrypoint cat ep </dev/null | wc -c)" -eq 0 ] && [ "$(echo in | runroot --entrypoint cat ep)" = in ]'
check "--entrypoint '' runs COMMAND alone" sh -c '[ "$(runroot --entrypoint "" ep echo alone)" = alone ]'

# Environment: -e K passes runroot's own value (none when it has none), --env-file reads docker's
# format, and later options win.
check "-e K passes runroot's own K, and nothing when it is unset" \
    env -u NOPE FROM_HOST=yes sh -c '[ "$(runroot tiny -e FROM_HOST -e NOPE sh -c "echo \$FROM_HOST:\${NOPE-unset}")" = yes:unset ]'
printf '# a comment\n\nA=1\n  B=two words\nC\r\nD=x=y\n' >"$T/env"
check "--env-file: K=V and K lines, comments and blank lines, CRLF; a later -e wins" \
    env C=from-host sh -c '[ "$(runroot --env-file "$1" -e B=over tiny sh -c "echo \"\$A|\$B|\$C|\$D\"")" = "1|over|from-host|x=y" ]' _ "$T/env"
printf 'A=1\nA B=2\n' >"$T/bad.env"
expect_fail 2 "invalid environment variable 'A B=2' \\($T/bad.env line 2\\): expected K=V or K" \
    "a bad line in an env file is named with its line number" runroot --env-file "$T/bad.env" tiny true
expect_fail 2 "cannot read env file '$T/none': No such file or directory" \
    "a missing env file is a usage error naming it" runroot --env-file "$T/none" tiny true
expect_fail 2 "invalid environment variable '=x'" "-e without a name is a usage error" runroot -e =x tiny true
done_testing
