#!/bin/bash
# OCI archives: export/import round trip, reproducibility, interoperability with Debian's
# skopeo and umoci, and bad archives refused with the store unchanged.
. "$(dirname "$0")/lib.sh"

need_root
need_cmd python3
command -v zstd >/dev/null || skip_all "needs zstd"

plan 30

# A small image: a static-ish tree with a hard link, a setuid file, a symlink and a capability.
mkdir -p "$T/tree/etc" "$T/tree/usr/bin" "$T/tree/opt/old"
echo hello >"$T/tree/etc/motd"
cp /bin/busybox "$T/tree/usr/bin/sh" 2>/dev/null || cp /bin/sh "$T/tree/usr/bin/sh"
ln "$T/tree/usr/bin/sh" "$T/tree/usr/bin/sh2"
chmod 4755 "$T/tree/usr/bin/sh2"
ln -s usr/bin "$T/tree/bin"
echo x >"$T/tree/opt/old/file"
if command -v setcap >/dev/null; then setcap cap_net_raw+ep "$T/tree/usr/bin/sh"; fi

R=$ROOTSTOCK
$R image import-dir "$T/tree" small >/dev/null 2>&1
check "export writes an archive" bash -c "$R image export small -o '$T/a.tar' -q >/dev/null"
check "a second export is byte-identical" bash -c "$R image export small -o '$T/b.tar' -q >/dev/null && cmp '$T/a.tar' '$T/b.tar'"
check "export prints the digest of the manifest that index.json names" bash -c "[ \"\$($R image export small -o '$T/d.tar' -q)\" = \"\$(tar -xOf '$T/a.tar' index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"manifests\"][0][\"digest\"])')\" ]"
check "export to stdout gives the same bytes" bash -c "$R image export small -o - -q | cmp - '$T/a.tar'"
check "index.json names the full ref" bash -c "tar -xOf '$T/a.tar' index.json | grep -q '\"org.opencontainers.image.ref.name\":\"localhost/small:latest\"'"
check "manifest.json is there for docker load" bash -c "tar -xOf '$T/a.tar' manifest.json | grep -q '\"RepoTags\":\\[\"localhost/small:latest\"\\]'"

check "skopeo inspect reads it" bash -c "skopeo inspect oci-archive:'$T/a.tar' >'$T/inspect' && grep -q amd64 '$T/inspect' || grep -q Architecture '$T/inspect'"
check "skopeo copy to an oci: dir" skopeo copy -q oci-archive:"$T/a.tar" oci:"$T/skodir:x"

# Round trip into a fresh store gives the same archive again.
export ROOTSTOCK_ROOT="$T/store2"
check "import into a fresh store" bash -c "$R image import '$T/a.tar' -q | grep -qx small:latest"
check "the re-export is byte-identical" bash -c "$R image export small -o '$T/c.tar' -q >/dev/null && cmp '$T/a.tar' '$T/c.tar'"
root2=$(ls -d "$T"/store2/layers/*/root | head -1)
check "the imported tree equals the original" diff -r --no-dereference "$T/tree" "$root2"
check "hard link and setuid survive" bash -c "[ \$(stat -c %h '$root2/usr/bin/sh') = 2 ] && [ \$(stat -c %a '$root2/usr/bin/sh2') = 4755 ]"
if command -v getcap >/dev/null; then
    check "file capability survives" bash -c "getcap '$root2/usr/bin/sh' | grep -q cap_net_raw"
else
    ok "file capability survives # SKIP no getcap"
fi
check "import --max-size above the layer's size imports" bash -c "ROOTSTOCK_ROOT='$T/store2b' $R image import --max-size 64M '$T/a.tar' -q | grep -qx small:latest"
check "a second import is a lookup" bash -c "$R image import '$T/a.tar' 2>&1 | grep -vq importing"

# The entrypoint stays apart from the Cmd, in the archive and back in a store.
ROOTSTOCK_ROOT="$T/store1e" $R image import-dir "$T/tree" withep --entrypoint '/usr/bin/sh -c' --cmd 'echo hi' >/dev/null 2>&1
ROOTSTOCK_ROOT="$T/store1e" $R image export withep -o "$T/ep.tar" -q >/dev/null
check "skopeo sees the Entrypoint and the Cmd apart" bash -c "skopeo inspect --config oci-archive:'$T/ep.tar' | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"config\"]; sys.exit(not (c[\"Entrypoint\"] == [\"/usr/bin/sh\", \"-c\"] and c[\"Cmd\"] == [\"echo\", \"hi\"]))'"
check "imported again, they stay apart, and the re-export is byte-identical" bash -c "ROOTSTOCK_ROOT='$T/store2e' $R image import '$T/ep.tar' -q >/dev/null &&
    ROOTSTOCK_ROOT='$T/store2e' $R image inspect withep | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"config\"]; sys.exit(not (c[\"Entrypoint\"] == [\"/usr/bin/sh\", \"-c\"] and c[\"Cmd\"] == [\"echo\", \"hi\"]))' &&
    ROOTSTOCK_ROOT='$T/store2e' $R image export withep -o '$T/ep2.tar' -q >/dev/null && cmp '$T/ep.tar' '$T/ep2.tar'"

# umoci 0.4.7 reads only gzip layers and only a layout directory.
$R image export --gzip small -o "$T/g.tar" -q >/dev/null
mkdir "$T/gdir" && tar -xf "$T/g.tar" -C "$T/gdir"
check "umoci unpack of a --gzip export equals the tree" bash -c "umoci unpack --image '$T/gdir:localhost/small:latest' '$T/ub' >/dev/null 2>&1 && diff -r --no-dereference '$T/tree' '$T/ub/rootfs'"

# Archives written by skopeo: OCI and docker-save.
skopeo copy -q oci-archive:"$T/a.tar" oci-archive:"$T/sk.tar:localhost/fromskopeo:v1"
skopeo copy -q oci-archive:"$T/g.tar" docker-archive:"$T/dk.tar:localhost/fromdocker:v2"
export ROOTSTOCK_ROOT="$T/store3"
check "import of a skopeo oci-archive" bash -c "$R image import '$T/sk.tar' -q | grep -qx fromskopeo:v1"
check "import of a docker-save archive from stdin" bash -c "$R image import - -q <'$T/dk.tar' | grep -qx fromdocker:v2"

# ---- bad archives: refused, store unchanged, nothing outside ----
mkdir -p "$T/outside"
export ROOTSTOCK_ROOT="$T/store4"
$R image import "$T/a.tar" -q >/dev/null
listing() { (cd "$ROOTSTOCK_ROOT" && find . -path ./tmp -prune -o -path ./lock -prune -o -print | sort; find tmp -mindepth 1 2>/dev/null); }
listing >"$T/before"

python3 - "$T" <<'EOF'
import io, sys, tarfile, hashlib
T = sys.argv[1]
src = tarfile.open(f"{T}/a.tar")
members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
def write(name, items):
    with tarfile.open(f"{T}/{name}", "w", format=tarfile.PAX_FORMAT) as out:
        for m, data in items:
            out.addfile(m, io.BytesIO(data) if data is not None else None)
big = max((x for x in members if x[1] is not None), key=lambda x: len(x[1]))
# a layer blob with one byte changed (same size)
flip = bytearray(big[1]); flip[len(flip) // 2] ^= 0xFF
write("bad-digest.tar", [(m, bytes(flip) if m.name == big[0].name else d) for m, d in members])
# the layer blob missing
write("bad-missing.tar", [(m, d) for m, d in members if m.name != big[0].name])
# a member that climbs out
evil = tarfile.TarInfo("../outside/pwned"); evil.size = 4
write("bad-dotdot.tar", members + [(evil, b"boom")])
# a member twice
write("bad-dup.tar", members + [(members[0][0], members[0][1])])
# flat root tarballs with malicious entries
def flat(name, entries):
    with tarfile.open(f"{T}/{name}", "w", format=tarfile.PAX_FORMAT) as out:
        for e, data in entries:
            out.addfile(e, io.BytesIO(data) if data is not None else None)
def f(name, data=b"x"):
    i = tarfile.TarInfo(name); i.size = len(data); return (i, data)
def link(name, target, kind=tarfile.SYMTYPE):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; return (i, None)
flat("bad-flat-dotdot.tar", [f("etc/ok"), f("../../outside/pwned")])
flat("bad-flat-symlink.tar", [link("evil", f"{T}/outside"), f("evil/pwned")])
flat("bad-flat-hardlink.tar", [link("passwd", "../../../etc/passwd", tarfile.LNKTYPE)])
flat("bad-flat-dup.tar", [f("a"), f("a", b"again")])
EOF
head -c $(($(stat -c %s "$T/a.tar") / 2)) "$T/a.tar" >"$T/bad-truncated.tar"
python3 - "$T" <<'EOF'
import sys, tarfile
T = sys.argv[1]
class Zeros:
    def __init__(self, n): self.n = n
    def read(self, k=-1):
        k = self.n if k < 0 else min(k, self.n); self.n -= k; return b"\0" * k
with tarfile.open(f"{T}/bomb.tar", "w") as out:
    i = tarfile.TarInfo("zeros"); i.size = 300 << 20; out.addfile(i, Zeros(i.size))
EOF
zstd -q -3 --rm "$T/bomb.tar" -o "$T/bomb.tar.zst"

expect_fail 1 "digest mismatch|does not match its digest" "a changed layer blob is refused" $R image import "$T/bad-digest.tar" x1
expect_fail 1 "missing from the archive" "a missing layer is refused" $R image import "$T/bad-missing.tar" x2
expect_fail 1 "bad member name '../outside/pwned'" "a '..' member is refused" $R image import "$T/bad-dotdot.tar" x3
expect_fail 1 "appears twice" "a duplicate member is refused" $R image import "$T/bad-dup.tar" x4
expect_fail 1 "runcated" "a truncated archive is refused" $R image import "$T/bad-truncated.tar" x5
bad_ok=1
for spec in "flat-dotdot:leaves the root" "flat-symlink:goes through the symlink" \
    "flat-hardlink:hard link to" "flat-dup:appears twice"; do
    name=${spec%%:*} pat=${spec#*:}
    if $R image import "$T/bad-$name.tar" y >/dev/null 2>"$T/err" || ! grep -q "$pat" "$T/err"; then
        bad_ok=0; diag "$name: $(cat "$T/err")"
    fi
done
ROOTSTOCK_IMPORT_MAX_SIZE=64M $R image import "$T/bomb.tar.zst" bomb >/dev/null 2>"$T/err" && bad_ok=0
grep -q "exceeds the limit" "$T/err" || { bad_ok=0; diag "bomb: $(cat "$T/err")"; }
check "bad layer entries and a decompression bomb are refused" [ $bad_ok = 1 ]
expect_fail 1 "exceeds the limit" "import --max-size refuses a layer over the bound" \
    $R image import --max-size 64M "$T/bomb.tar.zst" bomb2
expect_fail 1 "exceeds the limit" "--max-size wins over ROOTSTOCK_IMPORT_MAX_SIZE" \
    env ROOTSTOCK_IMPORT_MAX_SIZE=1G $R image import --max-size 100M "$T/bomb.tar.zst" bomb3
expect_fail 2 "bad --max-size" "a bad --max-size is a usage error" $R image import --max-size lots "$T/a.tar" x6
listing >"$T/after"
check "the store is unchanged and nothing was written outside" bash -c "diff '$T/before' '$T/after' && [ -z \"\$(ls -A '$T/outside')\" ]"

done_testing
