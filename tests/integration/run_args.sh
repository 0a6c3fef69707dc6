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
for a in sh echo cat; do ln -s busybox "$R/bin/$a"; done
"$ROOTSTOCK" image import-dir "$R" tiny >/dev/null || { echo "Bail out! image import-dir fails"; exit 1; }

plan 6
check "an option after IMAGE applies" sh -c '[ "$(runroot tiny -e X=after sh -c "echo \$X")" = after ]'
check "options before and after IMAGE both apply" \
    sh -c '[ "$(runroot -e A=1 tiny -e B=2 -m 64M sh -c "echo \$A\$B")" = 12 ]'
check "the command's own options are left to it" sh -c '[ "$(runroot tiny echo -n hi)" = hi ]'
check "-- ends runroot's options" sh -c '[ "$(runroot tiny -- echo -e x)" = x ]'
expect_fail 2 "unknown option '--frob'" "an unknown option after IMAGE is a usage error" runroot tiny --frob sh
expect_fail 2 "no image given" "options without an IMAGE are a usage error" runroot -m 10M
done_testing
