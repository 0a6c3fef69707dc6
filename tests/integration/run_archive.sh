#!/bin/bash
# runroot FILE.tar: an OCI archive (from `rootstock image export`) or a flat root tarball is
# imported into the store by content and run; a second run is a lookup; a corrupt archive is
# runroot's own failure (125) with one clear line. The small runroot executable hands the
# import over to rootstock, so `rootstock run FILE.tar` is checked too.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
need_overlay

R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo "from-archive" >"$R/etc/marker"
"$ROOTSTOCK" image import-dir "$R" tiny >/dev/null 2>"$T/import.err" ||
    { echo "Bail out! image import-dir fails: $(head -1 "$T/import.err")"; exit 1; }
"$ROOTSTOCK" image export tiny -o "$T/f.tar" >/dev/null 2>"$T/export.err" ||
    { echo "Bail out! image export fails: $(head -1 "$T/export.err")"; exit 1; }
tar -C "$R" -cf "$T/flat.tar" .
head -c 3000 "$T/f.tar" >"$T/truncated.tar"
echo "not an archive" >"$T/garbage.tar"

# Run from a second, empty store, so that the first run really imports.
export ROOTSTOCK_ROOT=$T/store2
store_state() { (cd "$ROOTSTOCK_ROOT" && find blobs layers images -printf '%p %s %T@\n' | sort); }
cd "$T" || exit 1

plan 12
out=$(runroot f.tar /bin/echo hi </dev/null 2>"$T/run1.err")
check "runroot f.tar runs the exported image" [ "$out" = hi ]
check "the first run imports it" grep -q "importing 'f.tar'" "$T/run1.err"
store_state >"$T/state1"
out=$(runroot f.tar cat /etc/marker </dev/null 2>"$T/run2.err")
check "the second run runs it again" [ "$out" = from-archive ]
check "the second run does not import again" sh -c '! grep -q importing "$0"' "$T/run2.err"
store_state >"$T/state2"
check "the second run leaves the store unchanged" cmp -s "$T/state1" "$T/state2"
check "a path to the archive works too" sh -c '[ "$(runroot "$0" /bin/echo ok </dev/null 2>/dev/null)" = ok ]' "$T/f.tar"
check "a flat root tarball runs" sh -c '[ "$(runroot flat.tar cat /etc/marker </dev/null 2>/dev/null)" = from-archive ]'
check "rootstock run takes an archive too" sh -c '[ "$("$ROOTSTOCK" run f.tar /bin/echo hi </dev/null 2>/dev/null)" = hi ]'
expect_fail 125 "^runroot: error: cannot import 'truncated.tar': " "a truncated archive exits 125" runroot truncated.tar true
check "with a one-line error" [ "$(wc -l <"$T/err")" -eq 1 ]
expect_fail 125 "^runroot: error: cannot import 'garbage.tar': " "a file that is no archive exits 125" runroot garbage.tar true
touch "$T/nosuch"
expect_fail 125 "^runroot: error: image 'nosuch(:latest)?' not found" "a bare name stays a store name even if such a file exists" runroot nosuch true
done_testing
