#!/bin/bash
# The dispatcher and the shared command-line conventions of every verb.
. "$(dirname "$0")/lib.sh"

plan 16
check "rootstock --help lists the verbs" sh -c '"$ROOTSTOCK" --help | grep -q "^  build"'
check "rootstock version prints the version" sh -c '"$ROOTSTOCK" version | grep -qE "^rootstock [0-9]+\.[0-9]+"'
check "mkroot --help describes mkroot" sh -c 'mkroot --help | grep -q "usage: mkroot"'
check "runroot --help describes runroot" sh -c 'runroot --help | grep -q "usage: runroot"'
check "rootstock run --help names the verb" sh -c '"$ROOTSTOCK" run --help | grep -q "usage: rootstock run"'
expect_fail 2 "^rootstock: error: unknown verb 'frobnicate'$" "unknown verb exits 2 with a one-line error" "$ROOTSTOCK" frobnicate
check "... and a hint" grep -q "hint: see 'rootstock --help'" "$T/err"
expect_fail 2 "^mkroot: error: unknown option '--frob'$" "mkroot: unknown long option exits 2" mkroot --frob
check "... with a hint naming mkroot --help" grep -q "hint: see 'mkroot --help'" "$T/err"
expect_fail 2 "^runroot: error: unknown option '-Z'$" "runroot: unknown short option exits 2" runroot -Z img
expect_fail 2 "unknown option '--nope'" "rootstock image: unknown option exits 2" "$ROOTSTOCK" image --nope
expect_fail 2 "unknown option '--nope'" "rootstock cache: unknown option exits 2" "$ROOTSTOCK" cache --nope
expect_fail 2 "^rootstock: error: no verb given$" "rootstock with no verb exits 2" "$ROOTSTOCK"
check "a usage error is exactly one line plus a hint" sh -c '[ "$(wc -l < "$T/err")" -eq 2 ]'
check "common options may come before the verb" sh -c '"$ROOTSTOCK" -q --root "$T/s1" cache du >/dev/null'
expect_fail 2 "option '--root' needs a value" "--root before the verb needs a value" "$ROOTSTOCK" --root
done_testing
