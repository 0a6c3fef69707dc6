#!/bin/bash
# mkroot's second half, hermetic: a root assembled from the fixture archive (toy packages, so
# --no-configure: there is no dpkg to run inside), published as a layer, cached under its build
# key, written out with -o as a directory (with debootstrap's /dev nodes; the layer has none),
# .tar and .tar.zst, reproducible with SOURCE_DATE_EPOCH, and --include as a second layer on the
# cached base.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd zstd

start_fixture_archive

mk() { mkroot --mirror "$M" --keyring "$K" --arch amd64 --no-configure "$@"; }
layer_of() { python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["layers"]))' "$ROOTSTOCK_ROOT/images/$1"*.json; }
plan 19

mk fixture minbase >"$T/out" 2>"$T/err"
check "mkroot fixture minbase builds" [ $? -eq 0 ]
check "prints the default name and the id" grep -qE '^fixture-minbase:latest [0-9a-f]{64}$' "$T/out"
L=$ROOTSTOCK_ROOT/layers/$(layer_of fixture-minbase)/root
check "every package is unpacked" eval '[ -f "$L/usr/share/base-files/data" ] && [ -f "$L/usr/share/libx/data" ] &&
    [ -f "$L/usr/share/libc-fix/data" ] && [ -f "$L/usr/share/apt/data" ]'
check "apt sources name the mirror and the codename" grep -qx "deb $M fixture main" "$L/etc/apt/sources.list"
check "debootstrap's files are written" eval '[ -f "$L/var/lib/dpkg/status" ] && [ -f "$L/var/lib/dpkg/available" ] &&
    grep -q UNCONFIGURED "$L/etc/fstab"'
check "nothing is left in tmp/" [ -z "$(ls -A "$ROOTSTOCK_ROOT/tmp")" ]

mk fixture minbase -t again >"$T/out2" 2>"$T/err2"
check "a second build is a cache hit with the same id" eval 'grep -q cached "$T/err2" &&
    [ "$(cut -d" " -f2 "$T/out")" = "$(cut -d" " -f2 "$T/out2")" ]'
mk fixture minbase --offline >/dev/null 2>"$T/err3"
check "the cache hit works --offline" grep -q cached "$T/err3"

mk fixture minbase --offline -o "$T/dir" >/dev/null 2>&1
check "-o DIR writes the tree" cmp -s "$T/dir/usr/share/libx/data" "$L/usr/share/libx/data"
# debootstrap's setup_devices_simple: what `chroot DIR` needs, as `stat` shows it.
devs=$(cd "$T/dir/dev" 2>/dev/null && stat -c '%n %F %a %u:%g %t:%T' null zero full random urandom tty console ptmx pts shm)
want="null character special file 666 0:0 1:3
zero character special file 666 0:0 1:5
full character special file 666 0:0 1:7
random character special file 666 0:0 1:8
urandom character special file 666 0:0 1:9
tty character special file 666 0:0 5:0
console character special file 666 0:0 5:1
ptmx character special file 666 0:0 5:2
pts directory 755 0:0 0:0
shm directory 755 0:0 0:0"
check "-o DIR has debootstrap's device nodes and dirs in /dev" [ "$devs" = "$want" ]
[ "$devs" = "$want" ] || diag "$devs"
check "-o DIR links /dev/fd and /dev/std* to /proc/self/fd" \
    [ "$(readlink "$T/dir/dev/fd") $(readlink "$T/dir/dev/stdin") $(readlink "$T/dir/dev/stdout") $(readlink "$T/dir/dev/stderr")" = \
        "/proc/self/fd /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2" ]
mk fixture minbase --offline -o "$T/root.tar" >/dev/null 2>&1
check "-o FILE.tar writes a flat root tarball" sh -c "tar -tf '$T/root.tar' | grep -qx 'usr/share/libx/data'"
mk fixture minbase --offline -o "$T/root.tar.zst" >/dev/null 2>&1
check "-o FILE.tar.zst writes it compressed" sh -c "zstd -dc '$T/root.tar.zst' | cmp -s - '$T/root.tar'"
check "the layer's /dev stays empty, and so does a tarball's" \
    sh -c "[ -z \"\$(ls -A '$L/dev' 2>/dev/null)\" ] && ! tar -tf '$T/root.tar' | grep -q '^dev/.'"
expect_fail 1 "not empty" "-o refuses a non-empty directory" mk fixture minbase --offline -o "$T/dir"

for s in a b; do
    mkdir -p "$T/s-$s"
    cp -al "$ROOTSTOCK_ROOT/blobs" "$T/s-$s/"
    SOURCE_DATE_EPOCH=1600000000 mk fixture minbase --root "$T/s-$s" -o "$T/s-$s.tar" >"$T/s-$s.out" 2>&1
done
check "SOURCE_DATE_EPOCH: two stores give identical trees" cmp -s "$T/s-a.tar" "$T/s-b.tar"
check "SOURCE_DATE_EPOCH: mtimes are clamped" sh -c "tar -tvf '$T/s-a.tar' | grep -q ' 2020-09-13 '"

mk fixture minbase --include tool -t withtool >"$T/out" 2>"$T/err"
read -r -a ls <<<"$(layer_of withtool)"
check "--include adds one layer on the cached base" eval '[ "${#ls[@]}" -eq 2 ] && [ "${ls[0]}" = "$(layer_of fixture-minbase)" ]'
top=$ROOTSTOCK_ROOT/layers/${ls[1]}/root
check "the top layer holds only the new packages" eval '[ -f "$top/usr/share/tool/data" ] &&
    [ -f "$top/usr/share/prov-new/data" ] && [ ! -e "$top/usr/share/libx" ]'

done_testing
