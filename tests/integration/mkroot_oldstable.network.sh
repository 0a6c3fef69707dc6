#!/bin/bash
# mkroot of bookworm, whose base-files does not ship the merged-/usr links, so the packages
# unpack into real /bin, /lib... and some ship files on both sides (/lib/udev, /usr/lib/udev):
# the root must be merged as debootstrap merges it, configure cleanly and equal
# debootstrap --variant=minbase's; a bookworm buildd root stays unmerged, as debootstrap's.
# About a minute, most of it debootstrap's.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3
need_cmd debootstrap
need_overlay
SUITE=bookworm
need_archive "$SUITE"

plan 5
mkroot "$SUITE" minbase -t old -o "$T/ours" >"$T/out" 2>"$T/err"
rc=$?
check "mkroot $SUITE minbase builds" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || diag "$(tail -5 "$T/err")"
check "/bin, /lib and /sbin are links into /usr, which holds both sides' /lib/udev" eval '
    [ "$(readlink "$T/ours/bin") $(readlink "$T/ours/lib") $(readlink "$T/ours/sbin")" = "usr/bin usr/lib usr/sbin" ] &&
    [ -d "$T/ours/usr/lib/udev/rules.d" ] && [ -e "$T/ours/usr/lib/udev/hwclock-set" ]'
runroot old dpkg --audit >"$T/audit" 2>&1
check "dpkg --audit prints nothing" [ ! -s "$T/audit" ]

debootstrap --variant=minbase "$SUITE" "$T/dbs" "$M" >"$T/dbs.log" 2>&1 || diag "debootstrap failed: $(tail -3 "$T/dbs.log")"
python3 "$RS_SOURCE_DIR/tests/integration/compare_roots.py" \
    --exceptions "$RS_SOURCE_DIR/tests/integration/debootstrap_exceptions" "$T/dbs" "$T/ours" >"$T/cmp" 2>&1
rc=$?
check "the root equals debootstrap --variant=minbase's (documented exceptions aside)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || diag "$(head -40 "$T/cmp")"
rm -rf "$T/dbs" "$T/ours"

mkroot "$SUITE" buildd -t oldbuildd -o "$T/buildd" >/dev/null 2>"$T/err"
check "a $SUITE buildd root stays unmerged and says so, as debootstrap's" eval '
    [ -d "$T/buildd/bin" ] && [ ! -L "$T/buildd/bin" ] && [ -x "$T/buildd/bin/sh" ] &&
    [ -s "$T/buildd/etc/unsupported-skip-usrmerge-conversion" ]'
done_testing
