#!/bin/bash
# mkroot against the real archive (the host's apt mirror): trixie minbase builds, configures
# cleanly, equals debootstrap --variant=minbase of the same day except for the documented
# files below, is cached, is reproducible with SOURCE_DATE_EPOCH, takes --include as a layer
# on top, and runs: apt-get inside it with the host network, --commit keeps the result.
# One store for all checks, so every .deb is downloaded once. About 2-3 minutes.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3
need_cmd debootstrap
need_overlay
SUITE=trixie
need_archive "$SUITE"
plan 18


# 1-5: a cold build, then what dpkg says about it, and names resolve in it.
start=$(date +%s.%N)
mkroot "$SUITE" minbase -t mb >"$T/out" 2>"$T/err"
rc=$?
end=$(date +%s.%N)
check "mkroot $SUITE minbase builds" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || diag "$(tail -20 "$T/err")"
diag "cold build: $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
check "prints the image's name and id" grep -qE '^mb:latest [0-9a-f]{64}$' "$T/out"
runroot mb dpkg --audit >"$T/audit" 2>&1
check "dpkg --audit prints nothing" [ ! -s "$T/audit" ]
n=$(mkroot "$SUITE" minbase --offline --print-packages 2>/dev/null | wc -l)
runroot mb dpkg -l >"$T/dpkgl" 2>&1
check "dpkg -l shows all $n packages installed" eval '[ "$n" -gt 50 ] &&
    [ "$(grep -c "^ii " "$T/dpkgl")" -eq "$n" ] && [ "$(tail -n +6 "$T/dpkgl" | grep -vc "^ii ")" -eq 0 ]'
# A minbase has no /etc/hosts; runroot gives each container one.
check "localhost and the container's hostname resolve (getent), private and host network" eval '
    runroot mb sh -c "getent hosts localhost && getent hosts \$(hostname)" >/dev/null &&
    runroot --net host mb sh -c "getent hosts localhost && getent hosts \$(hostname)" >/dev/null'

# 6-7: cache hits. How fast one is, is bench/mkroot_build.sh's to say ("hot"); here, what it
# does: the same image, and nothing built.
layers_before=$(ls "$ROOTSTOCK_ROOT/layers" | sort | tr '\n' ' ')
start=$(date +%s.%N)
mkroot "$SUITE" minbase -t mb --offline >"$T/out2" 2>"$T/err2"
end=$(date +%s.%N)
t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
diag "cached build (--offline): $t s"
check "a second build is a cache hit" grep -q "cached" "$T/err2"
check "... of the same image, with no layer built" eval 'cmp -s "$T/out" "$T/out2" &&
    [ "$(ls "$ROOTSTOCK_ROOT/layers" | sort | tr "\n" " ")" = "$layers_before" ] &&
    ! grep -qE "unpack|configur" "$T/err2"'

# 8-9: the same tree as debootstrap's.
mkroot "$SUITE" minbase -t mb --offline -o "$T/ours" >/dev/null 2>"$T/err"
check "-o DIR writes the root" eval '[ -x "$T/ours/usr/bin/bash" ] && [ -L "$T/ours/bin" ]'
debootstrap --variant=minbase "$SUITE" "$T/dbs" "$M" >"$T/dbs.log" 2>&1 || diag "debootstrap failed: $(tail -3 "$T/dbs.log")"
python3 "$RS_SOURCE_DIR/tests/integration/compare_roots.py" --exceptions "$RS_SOURCE_DIR/tests/integration/debootstrap_exceptions" \
    "$T/dbs" "$T/ours" >"$T/cmp" 2>&1
rc=$?
check "the root equals debootstrap --variant=minbase's (documented exceptions aside)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || diag "$(head -40 "$T/cmp")"
rm -rf "$T/dbs" "$T/ours"

# 10-11: SOURCE_DATE_EPOCH: two builds in two stores give the same tree, bit for bit.
for s in a b; do
    mkdir -p "$T/sde-$s"
    cp -al "$ROOTSTOCK_ROOT/blobs" "$T/sde-$s/"
    cp -a "$ROOTSTOCK_ROOT/archive" "$T/sde-$s/"
    SOURCE_DATE_EPOCH=1700000000 mkroot "$SUITE" minbase --root "$T/sde-$s" --offline \
        -o "$T/sde-$s.tar" >"$T/sde-$s.out" 2>"$T/sde-$s.err" || diag "$(tail -5 "$T/sde-$s.err")"
done
check "SOURCE_DATE_EPOCH: both builds succeed" eval '[ -s "$T/sde-a.tar" ] && [ -s "$T/sde-b.tar" ]'
check "SOURCE_DATE_EPOCH: identical trees and images" eval 'cmp -s "$T/sde-a.tar" "$T/sde-b.tar" &&
    [ "$(cut -d" " -f2 "$T/sde-a.out")" = "$(cut -d" " -f2 "$T/sde-b.out")" ]'
rm -rf "$T"/sde-*

# 12-14: --include: the cached minbase layer plus one layer with only the new packages.
mkroot "$SUITE" minbase --include procps -t mbp >"$T/out" 2>"$T/err"
check "--include procps builds" [ $? -eq 0 ]
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0])' "$(ls "$ROOTSTOCK_ROOT"/images/mb*latest*.json | head -1)" 2>/dev/null)
layers=$(python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["layers"]; print(len(l), l[0])' "$(ls "$ROOTSTOCK_ROOT"/images/mbp*.json | head -1)" 2>/dev/null)
check "--include reuses the minbase layer and adds one" [ "$layers" = "2 $base" ]
runroot mbp sh -c 'dpkg --audit && ps --version' >"$T/ps" 2>&1
check "procps works in the layered image, dpkg --audit clean" grep -q procps-ng "$T/ps"

# 15-18: apt inside the image with the host network, and --commit.
runroot --net host --commit mbapt mb sh -c 'apt-get update -q && apt-get install -y -q procps' >"$T/apt" 2>&1
rc=$?
check "apt-get update && apt-get install -y procps works with --net host" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || diag "$(tail -10 "$T/apt")"
runroot mbapt bash -c 'ps aux; exit 0' >"$T/psaux" 2>&1
check "ps aux shows bash as PID 1" awk '$2 == 1 && /bash/ { f = 1 } END { exit !f }' "$T/psaux"
check "the committed image still has procps" runroot mbapt ps --version
runroot mb sh -c '! command -v ps' >/dev/null 2>&1
check "the base image is unchanged" [ $? -eq 0 ]

done_testing
