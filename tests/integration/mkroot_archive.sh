#!/bin/bash
# mkroot's archive half against a local signed archive (tests/fixtures/make_archive.sh) served
# on 127.0.0.1 by tests/fixtures/archive_server.py, which misbehaves on request: every fault
# must give the right error and leave the store clean.
. "$(dirname "$0")/lib.sh"

start_fixture_archive
export ROOTSTOCK_HTTP_STALL_TIMEOUT=1

mk() { mkroot --mirror "$M" --keyring "$K" --arch amd64 "$@"; }
ctl() { curl -fsS "$M/__$1" >/dev/null; }
sha() { sha256sum "$T/repo/pool/main/$1" | cut -d' ' -f1; }
fresh() { export ROOTSTOCK_ROOT=$T/store-$1; }
# store_clean [DEB]: nothing left in tmp/, every blob matches its name, DEB's blob absent.
store_clean() {
    local b
    if [ -d "$ROOTSTOCK_ROOT/tmp" ] && [ -n "$(ls -A "$ROOTSTOCK_ROOT/tmp")" ]; then
        diag "leftovers in tmp/: $(ls -A "$ROOTSTOCK_ROOT/tmp")"
        return 1
    fi
    for b in "$ROOTSTOCK_ROOT"/blobs/sha256/*; do
        [ -e "$b" ] || continue
        [ "$(sha256sum "$b" | cut -d' ' -f1)" = "${b##*/}" ] || { diag "corrupt blob $b"; return 1; }
    done
    [ -z "${1:-}" ] || [ ! -e "$ROOTSTOCK_ROOT/blobs/sha256/$(sha "$1")" ]
}
count() { curl -fsS "$M/__log" | grep -c -- "$1"; }

plan 55

# ---- resolving ----
fresh resolve
mk fixture minbase --print-packages >"$T/out" 2>"$T/err"
check "minbase = required + apt, closed over (Pre-)Depends" \
    diff <(printf '%s\n' "apt 3.0.3 amd64" "base-files 13.1 amd64" "gpgv-fix 2.4-1 amd64" "libc-fix 2.41-1 amd64" "libx 1.2-1 amd64") "$T/out"
mk fixture essential --print-packages >"$T/out" 2>/dev/null
check "essential = Essential: yes, closed over" sh -c "cut -d' ' -f1 '$T/out' | tr '\n' ' ' | grep -qx 'base-files libc-fix libx '"
mk fixture buildd --print-packages >"$T/out" 2>/dev/null
check "buildd adds build-essential and a versioned virtual (prov-new, not prov-old)" \
    sh -c "grep -q '^build-essential ' '$T/out' && grep -q '^prov-new ' '$T/out' && ! grep -q '^prov-old ' '$T/out'"
mk stable --print-packages >/dev/null 2>"$T/err"
check "a suite alias reports the archive's codename" grep -q "fixture" "$T/err"
check "... and switches to dists/CODENAME" sh -c "curl -fsS '$M/__log' | grep -q 'GET 200 /dists/fixture/InRelease'"
expect_fail 1 "package 'ghost' not found in 'fixture' \(amd64\)" "unsatisfiable --include fails" mk fixture --include needs-missing --print-packages
check "... naming the chain" sh -c "grep -q \"required by 'needs-missing 1.0' via 'Depends: liby, ghost (>= 1)'\\|required by 'needs-missing 1.0' via 'Depends: ghost (>= 1)'\" '$T/err' && grep -q \"requested by --include\" '$T/err'"
mk fixture --exclude apt --print-packages >"$T/out" 2>/dev/null
check "--exclude drops a package" sh -c "! grep -q '^apt ' '$T/out'"
expect_fail 2 "unknown variant 'fancy'" "an unknown variant is a usage error" mk fixture fancy

# ---- downloading ----
fresh dl
ctl reset
mk fixture --download-only --include big >"$T/out" 2>"$T/err"
check "--download-only fetches all packages" grep -q "6 packages in the store, 6 downloaded" "$T/err"
each_stored() {
    local f n=0
    for f in "$T"/repo/pool/main/{apt,base-files,libx,big}_*.deb; do
        [ -e "$ROOTSTOCK_ROOT/blobs/sha256/$(sha256sum "$f" | cut -d' ' -f1)" ] || return 1
        n=$((n + 1))
    done
    [ "$n" -eq 4 ]
}
check "... each stored under its SHA256" each_stored
ctl reset
mk fixture --download-only --include big >"$T/out" 2>"$T/err"
check "a second run downloads nothing" grep -q "6 packages in the store, 0 downloaded" "$T/err"
check "... and an unchanged archive costs one request, answered 304" \
    sh -c "[ \$(curl -fsS '$M/__log' | grep -c .) -eq 1 ] && curl -fsS '$M/__log' | grep -q '^GET 304 /dists/fixture/InRelease'"
check "--offline works from the store alone" mk fixture --download-only --include big --offline -q
fresh offline
mk fixture --print-packages >/dev/null 2>&1
expect_fail 1 "5 of 5 packages are not in the store \(offline\)" "--offline lists what is missing" mk fixture --download-only --offline
check "... by name" grep -q "missing: apt 3.0.3, base-files 13.1" "$T/err"

# ---- faults ----
fault() { ctl reset; curl -fsS "$M/__fault/$1/pool/main/$2" >/dev/null; }
fresh f404; fault 404 "$(ls "$T/repo/pool/main" | grep ^big_)"
expect_fail 1 "cannot download 'big' from '.*big_1.0_amd64.deb': HTTP 404" "404 names the package and URL" mk fixture --download-only --include big
check "... store clean" store_clean "$(ls "$T/repo/pool/main" | grep ^big_)"
fresh f500; fault 500x2 big_1.0_amd64.deb
check "500 twice, then retried with backoff and fetched" mk fixture --download-only --include big -q
fresh ftr1; fault truncate1 big_1.0_amd64.deb
check "a connection reset mid-body is resumed" mk fixture --download-only --include big -q
check "... with a Range request" sh -c "curl -fsS '$M/__log' | grep -q '^GET 206 /pool/main/big_1.0_amd64.deb bytes='"
fresh ftr; fault truncate big_1.0_amd64.deb
expect_fail 1 "cannot download 'big'" "a body that is always cut short fails" mk fixture --download-only --include big
check "... store clean" store_clean big_1.0_amd64.deb
fresh fw1; fault wrong1 big_1.0_amd64.deb
check "a wrong checksum once is discarded and fetched again" mk fixture --download-only --include big -q
fresh fw; fault wrong big_1.0_amd64.deb
expect_fail 1 "checksum mismatch for 'big' .*\(twice\)" "a wrong checksum twice fails naming the package" mk fixture --download-only --include big
check "... store clean" store_clean big_1.0_amd64.deb
fresh fst; fault stall big_1.0_amd64.deb
expect_fail 1 "cannot download 'big'.*stalled, no data for 1 s" "a stalled transfer times out" env ROOTSTOCK_HTTP_STALL_TIMEOUT=1 mkroot --mirror "$M" --keyring "$K" --arch amd64 fixture --download-only --include big
check "... store clean" store_clean big_1.0_amd64.deb

# ---- trust ----
fresh sig; ctl reset; curl -fsS "$M/__fault/badsig/dists/fixture/InRelease" >/dev/null
expect_fail 1 "cannot verify '.*/dists/fixture/InRelease': bad signature" "a bad InRelease signature is an error" mk fixture --print-packages
expect_fail 1 "no public key" "a key outside the keyring is named" mk nokey --print-packages
expect_fail 1 "expired key" "an expired signing key is named" mk expkey --print-packages
expect_fail 1 "expired on .*\(Valid-Until\)" "Valid-Until in the past is an error" mk expired --print-packages
check "--no-check-valid-until takes it, with a warning (a snapshot mirror)" sh -c "mkroot --mirror '$M' --keyring '$K' --arch amd64 expired --print-packages --no-check-valid-until 2>'$T/vu.err' | grep -q '^apt 3.0.3' && grep -q 'using it anyway (--no-check-valid-until)' '$T/vu.err' && [ \"\$(grep -c 'expired on' '$T/vu.err')\" -eq 1 ]"
expect_fail 1 "no public key" "... but still checks the signature" mk nokey --print-packages --no-check-valid-until
expect_fail 1 "missing signature" "an unsigned archive is an error" mk unsigned --print-packages
check "Release + Release.gpg is the fallback" sh -c "mk() { mkroot --mirror '$M' --keyring '$K' --arch amd64 \"\$@\"; }; mk detached --print-packages -q | grep -q '^apt 3.0.3'"

# ---- index formats: Packages.gz first (libdeflate), Packages.xz without it ----
fresh fmt; ctl reset
GZ_HEX=$(sha256sum "$T/repo/dists/fixture/main/binary-amd64/Packages.gz" | cut -d' ' -f1)
mk fixture --print-packages >"$T/gz.out" 2>/dev/null
check "the index comes as Packages.gz when the Release lists it" sh -c "curl -fsS '$M/__log' | grep -q 'GET 200 /dists/fixture/main/binary-amd64/by-hash/SHA256/$GZ_HEX'"
check "... and both of its gzip members are read" \
    diff <(printf '%s\n' "apt 3.0.3 amd64" "base-files 13.1 amd64" "gpgv-fix 2.4-1 amd64" "libc-fix 2.41-1 amd64" "libx 1.2-1 amd64") "$T/gz.out"
mk xzonly --print-packages >"$T/xz.out" 2>/dev/null
check "an archive with only Packages.xz resolves the same" diff "$T/gz.out" "$T/xz.out"
fresh badgz
expect_fail 1 "cannot decompress 'main/binary-amd64/Packages.gz': not valid gzip data" \
    "a Packages.gz that is not gzip is a clear error" mk badgz --print-packages
check "... and the store is clean" store_clean

# ---- the resolution cache (archive/resolved) and gpgv verdicts (archive/verified) ----
IDX=$T/repo/dists/fixture/main/binary-amd64
drop_indexes() {
    local f
    for f in Packages Packages.xz Packages.gz; do
        rm -f "$ROOTSTOCK_ROOT/blobs/sha256/$(sha256sum "$IDX/$f" | cut -d' ' -f1)"
    done
}
entry() { ls "$ROOTSTOCK_ROOT"/archive/resolved/*; }
fresh rc; ctl reset
mk fixture --print-packages >"$T/want" 2>/dev/null
drop_indexes; ctl reset
mk fixture --print-packages >"$T/out" 2>/dev/null
check "a second resolution comes from the store: same packages" diff "$T/want" "$T/out"
check "... with one request (InRelease, 304) and no index fetched or parsed" \
    sh -c "[ \$(curl -fsS '$M/__log' | grep -c .) -eq 1 ] && curl -fsS '$M/__log' | grep -q '^GET 304 /dists/fixture/InRelease'"
check "... and no gpgv run (the verdict is kept for the same bytes and keyring)" \
    sh -c "mkroot --mirror '$M' --keyring '$K' --arch amd64 fixture --print-packages -vv 2>&1 >/dev/null | grep -q 'verified before'"
sed -i 's/^Version: 1.2-1$/Version: 9.9-9/' "$(entry)"
mk fixture --print-packages >"$T/out" 2>/dev/null
check "a corrupt entry is ignored, not trusted" diff "$T/want" "$T/out"
check "... and written again" sh -c "grep -q '^Version: 1.2-1\$' '$(entry)' && ! grep -q '9.9-9' '$(entry)'"
truncate -s 100 "$(entry)"
mk fixture --print-packages >"$T/out" 2>/dev/null
check "a truncated entry is ignored too" diff "$T/want" "$T/out"
GNUPGHOME=$T/repo/gnupg gpg --batch --quiet --export expiredkey@invalid >"$T/other.gpg"
expect_fail 1 "cannot verify .*(no public key|expired key)" "a kept verdict does not outlive a keyring change" \
    mkroot --mirror "$M" --keyring "$T/other.gpg" --arch amd64 fixture --print-packages

# A changed archive: the same suite, re-signed with another Packages.
CT=$T/repo/dists/cachet
cp -r "$T/repo/dists/fixture" "$CT"
sed -i 's/^Suite: .*/Suite: cachet/; s/^Codename: .*/Codename: cachet/' "$CT/Release"
resign() { # the SHA256 list and InRelease from $CT's Packages, dated a minute apart
    local f bh=$CT/main/binary-amd64
    xz -k -c "$bh/Packages" >"$bh/Packages.xz"
    for f in Packages Packages.xz; do cp "$bh/$f" "$bh/by-hash/SHA256/$(sha256sum "$bh/$f" | cut -d' ' -f1)"; done
    sed -i '/^SHA256:/,$d' "$CT/Release"
    { echo "SHA256:"; for f in Packages Packages.xz; do printf ' %s %8d main/binary-amd64/%s\n' "$(sha256sum "$bh/$f" | cut -d' ' -f1)" "$(stat -c %s "$bh/$f")" "$f"; done; } >>"$CT/Release"
    GNUPGHOME=$T/repo/gnupg gpg --batch --quiet --no-tty --yes --local-user fixture@invalid --clearsign -o "$CT/InRelease" "$CT/Release" 2>/dev/null
    touch -d "@$(( $(date +%s) + ${1:-0} ))" "$CT/InRelease"
}
resign
mk cachet --print-packages >"$T/out" 2>/dev/null
check "a new suite resolves" grep -q '^libx 1.2-1 ' "$T/out"
sed -n '/^Package: libx$/,/^$/p' "$CT/main/binary-amd64/Packages" | sed 's/^Version: .*/Version: 1.3-1/' >>"$CT/main/binary-amd64/Packages"
resign 60
ctl reset
mk cachet --print-packages >"$T/out" 2>/dev/null
check "a changed archive (new InRelease) is resolved again" grep -q '^libx 1.3-1 ' "$T/out"
check "... from its new index" sh -c "curl -fsS '$M/__log' | grep -q '^GET 200 /dists/cachet/InRelease' && curl -fsS '$M/__log' | grep -q 'GET 200 /dists/cachet/main/binary-amd64/.*SHA256'"

# --offline: no network at all, the server is gone.
fresh offhit
mk fixture --download-only >/dev/null 2>&1
drop_indexes
kill "$FIXTURE_PID"; wait "$FIXTURE_PID" 2>/dev/null
mk fixture --print-packages --offline >"$T/out" 2>/dev/null
check "--offline resolves from the store with the server stopped" diff "$T/want" "$T/out"
check "... and --download-only --offline finds every package" mk fixture --download-only --offline -q
RS_BLOB=$ROOTSTOCK_ROOT/blobs/sha256/$(sha256sum "$T/repo/dists/fixture/InRelease" | cut -d' ' -f1)
chmod u+w "$RS_BLOB" 2>/dev/null; printf 'X' | dd of="$RS_BLOB" bs=1 seek=200 conv=notrunc 2>/dev/null
expect_fail 1 "corrupt" "a damaged InRelease blob is not trusted on a kept verdict" mk fixture --print-packages --offline
check "... nor is a resolution of it used" sh -c "! [ -s '$T/out' ]"
done_testing
