#!/bin/bash
# The store's verbs: image ls/inspect/rm/tag/import-dir and cache du/gc/verify, bad input, a
# faithful import-dir copy, and stores on a read-only or full filesystem.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3
RS=$ROOTSTOCK

plan 36
# A source tree with everything import-dir must keep.
S=$T/src
mkdir -p "$S/etc" "$S/bin" "$S/dev" "$S/opaque"
echo hello >"$S/etc/hello"
ln "$S/etc/hello" "$S/etc/hello.link"
ln -s ../etc/hello "$S/bin/sym"
mknod "$S/dev/null" c 1 3
mkfifo "$S/dev/fifo"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$S/dev/sock"
cp /bin/true "$S/bin/ping"
python3 - "$S" <<'PY'
import os, struct, sys
s = sys.argv[1]
# security.capability v2: cap_net_raw permitted and effective.
os.setxattr(s + "/bin/ping", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))
os.setxattr(s + "/etc/hello", "user.note", b"kept")
os.setxattr(s + "/opaque", "trusted.overlay.opaque", b"y")
PY
chown 1234:5678 "$S/etc/hello"
chmod 4750 "$S/bin/ping"
touch -h -d '2001-02-03 04:05:06.123456789' "$S/bin/sym" "$S/etc"

check "import-dir prints the name and id" sh -c '"$0" image import-dir "$1" web:1 -e A=b --cmd "/bin/sh -c true" -w /etc >"$2" && grep -qE "^web:1 [0-9a-f]{64}$" "$2"' "$RS" "$S" "$T/out"
ID=$(cut -d' ' -f2 "$T/out")
LAYER=$("$RS" image inspect web:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0])')
L=$ROOTSTOCK_ROOT/layers/$LAYER/root
check "owners kept" sh -c '[ "$(stat -c %u:%g "$0/etc/hello")" = 1234:5678 ]' "$L"
check "setuid mode kept" sh -c '[ "$(stat -c %a "$0/bin/ping")" = 4750 ]' "$L"
check "security.capability kept" python3 -c 'import os,sys; assert os.getxattr(sys.argv[1]+"/bin/ping","security.capability")==os.getxattr(sys.argv[2]+"/bin/ping","security.capability")' "$L" "$S"
check "user xattr kept" python3 -c 'import os,sys; assert os.getxattr(sys.argv[1]+"/etc/hello","user.note")==b"kept"' "$L"
check "overlay xattrs of the source are dropped" python3 -c 'import os,sys; assert "trusted.overlay.opaque" not in os.listxattr(sys.argv[1]+"/opaque")' "$L"
check "hard links kept" sh -c '[ "$(stat -c %i "$0/etc/hello")" = "$(stat -c %i "$0/etc/hello.link")" ]' "$L"
check "device node kept" sh -c '[ "$(stat -c %F:%t:%T "$0/dev/null")" = "character special file:1:3" ]' "$L"
check "fifo and socket kept" sh -c '[ -p "$0/dev/fifo" ] && [ -S "$0/dev/sock" ]' "$L"
check "symlink and its time kept" sh -c '[ "$(readlink "$0/bin/sym")" = ../etc/hello ] && [ "$(stat -c %y "$0/bin/sym")" = "$(stat -c %y "$1/bin/sym")" ]' "$L" "$S"
check "directory times kept" sh -c '[ "$(stat -c %y "$0/etc")" = "$(stat -c %y "$1/etc")" ]' "$L" "$S"

check "image ls lists it" bash -c '"$0" image ls | grep -qE "^web:1 +${1:0:12} +1 "' "$RS" "$ID"
check "image ls --json is JSON with name, id, layers, size, created" sh -c '"$0" image ls --json | python3 -c "import json,sys; i=json.load(sys.stdin)[0]; assert i[\"name\"]==\"web:1\" and i[\"layers\"]==1 and i[\"size\"]>0 and i[\"created\"]>0"' "$RS"
check "image inspect shows the config" sh -c '"$0" image inspect web:1 | python3 -c "import json,sys; c=json.load(sys.stdin)[\"config\"]; assert c[\"Env\"]==[\"A=b\"] and c[\"Cmd\"]==[\"/bin/sh\",\"-c\",\"true\"] and c[\"WorkingDir\"]==\"/etc\""' "$RS"
check "image tag makes a second name for the same id" sh -c '"$0" image tag web:1 web:2 >/dev/null && "$0" image inspect web:2 | grep -q "\"id\": \"$1\""' "$RS" "$ID"
check "an id prefix finds the image" bash -c '"$0" image inspect "${1:0:12}" >/dev/null' "$RS" "$ID"
expect_fail 1 "^rootstock: error: image 'wab:1' not found$" "an unknown name exits 1" "$RS" image inspect wab:1
check "... and suggests the closest names" grep -q "hint: did you mean 'web:1'" "$T/err"
expect_fail 1 "invalid image name 'a/../b'" "a name with '..' is refused" "$RS" image import-dir "$S" a/../b
expect_fail 1 "invalid image name 'with space'" "a name with a space is refused" "$RS" image tag web:1 "with space"
expect_fail 1 'invalid image name .*\\x01' "control characters are refused and escaped" "$RS" image tag web:1 "$(printf 'a\001b')"
expect_fail 2 "unknown option '--json'" "an option of another verb is a usage error" "$RS" image rm --json web:1
expect_fail 2 "unknown verb 'image frob'" "an unknown verb exits 2" "$RS" image frob
check "image rm removes names and prints them" sh -c '[ "$("$0" image rm web:2)" = web:2 ] && ! "$0" image inspect web:2 2>/dev/null' "$RS"
check "cache du counts layers and images" sh -c '"$0" cache du | grep -qE "^layers +1 " && "$0" cache du | grep -qE "^images +1$"' "$RS"
check "cache verify: clean" sh -c '"$0" cache verify | grep -q "is clean"' "$RS"

# Corruption is found, reported by path and digest, and repaired.
printf 'blob' >"$T/b"
HEX=$(sha256sum "$T/b" | cut -d' ' -f1)
cp "$T/b" "$ROOTSTOCK_ROOT/blobs/sha256/$HEX"
echo corrupt >>"$ROOTSTOCK_ROOT/blobs/sha256/$HEX"
echo extra >>"$L/etc/hello"
expect_fail 1 "blobs/sha256/$HEX': blob sha256:$HEX is corrupt" "verify reports a corrupt blob by path and digest" "$RS" cache verify
check "... and the changed layer and the image that needs it" sh -c 'grep -q "layers/$0/root.*record says" "$1" && grep -q "images/web@1.json.*needs the corrupt layer" "$1"' "$LAYER" "$T/err"
check "verify --repair removes them, saying so" sh -c '"$0" cache verify --repair >/dev/null 2>"$1" && grep -q "removed corrupt blob" "$1" && grep -q "removed image record" "$1" && "$0" cache verify >/dev/null' "$RS" "$T/err2"
expect_fail 1 "image 'web:1' not found" "... and the image is gone" "$RS" image inspect web:1

"$RS" image import-dir "$S" keep >/dev/null
"$RS" image import-dir "$S" drop >/dev/null
"$RS" image rm drop >/dev/null
check "cache gc frees the unused layer and prints it" sh -c '"$0" cache gc >"$1" 2>"$2" && grep -q "^freed .* in 1 item$" "$1" && grep -q "removed layer" "$2" && "$0" image inspect keep >/dev/null' "$RS" "$T/out" "$T/err"

# A read-only store: lookups work, changes fail clearly, nothing changes.
cp -a "$ROOTSTOCK_ROOT" "$T/ro"
before=$(cd "$T/ro" && find . | sort | md5sum)
unshare -m sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && "$1" --version >/dev/null 2>&1; ROOTSTOCK_ROOT="$0" "$1" image ls >"$2.ls" && ROOTSTOCK_ROOT="$0" "$1" image import-dir "$3" x >/dev/null 2>"$2"; echo $? >"$2.rc"' "$T/ro" "$RS" "$T/roerr" "$S"
check "read-only store: image ls still works" grep -q "^keep:latest" "$T/roerr.ls"
check "read-only store: import fails with a clear error" sh -c '[ "$(cat "$0.rc")" = 1 ] && grep -q "Read-only file system" "$0" && grep -q "hint:" "$0"' "$T/roerr"
check "read-only store: left as it was" sh -c '[ "$(cd "$0" && find . | sort | md5sum)" = "$1" ]' "$T/ro" "$before"

# A full filesystem: the import fails, and the store is left clean.
mkdir -p "$T/small"
if mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null; then
    mkdir -p "$T/big" && head -c 3000000 /dev/urandom >"$T/big/blob"
    ROOTSTOCK_ROOT=$T/small/store "$RS" image import-dir "$S" small >/dev/null
    ROOTSTOCK_ROOT=$T/small/store "$RS" image import-dir "$T/big" big >/dev/null 2>"$T/fullerr"
    diag "$(cat "$T/fullerr")"
    check "full filesystem: a clear error" sh -c 'grep -q "No space left on device" "$0" && grep -q "filesystem is full" "$0"' "$T/fullerr"
    check "full filesystem: the store is usable and clean" sh -c 'ROOTSTOCK_ROOT=$0/store "$1" cache verify >/dev/null && [ -z "$(ls "$0/store/tmp")" ] && ROOTSTOCK_ROOT=$0/store "$1" image ls | grep -q "^small:latest" && ! ROOTSTOCK_ROOT=$0/store "$1" image ls | grep -q "^big"' "$T/small" "$RS"
    umount "$T/small"
else
    ok "# SKIP cannot mount tmpfs"
    ok "# SKIP cannot mount tmpfs"
fi
done_testing
