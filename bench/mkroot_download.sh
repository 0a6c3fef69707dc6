#!/bin/bash
# Resolve + download of SUITE minbase (default trixie) from the host's mirror: mkroot cold and
# with a warm store, next to one large curl transfer (the network's rate right now) and
# debootstrap --download-only on the same mirror, in one run. Prints seconds and ratios.
#   bench/mkroot_download.sh [BUILD_DIR] [SUITE]      (run as root for debootstrap)
set -eu
B=${1:-out/archive}
SUITE=${2:-trixie}
MKROOT=$B/bin/mkroot
W=$(mktemp -d "${TMPDIR:-/tmp}/rs-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
M=$("$MKROOT" --print-mirror)
ARCH=$(dpkg --print-architecture)
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.2f'; }

# 1. Resolve: a warm store (index cached), so this is InRelease revalidation + gpgv + parse +
#    resolve, the whole --print-packages run.
export ROOTSTOCK_ROOT=$W/store
"$MKROOT" "$SUITE" minbase --print-packages >/dev/null 2>&1
best=999
for _ in 1 2 3 4 5; do
    t0=$(now); "$MKROOT" "$SUITE" minbase --print-packages >"$W/pkgs" 2>"$W/err"; t1=$(now)
    t=$(secs "$t0" "$t1"); best=$(echo "if ($t < $best) $t else $best" | bc -l)
done
inner=$(grep -oE 'resolved in [0-9]+ ms' "$W/err")
# The same with the resolution cache emptied before each run (index parse + closure; the
# gpgv verdict stays kept).
miss=999
for _ in 1 2 3 4 5; do
    rm -rf "$W/store/archive/resolved"
    t0=$(now); "$MKROOT" "$SUITE" minbase --print-packages >/dev/null 2>&1; t1=$(now)
    t=$(secs "$t0" "$t1"); miss=$(echo "if ($t < $miss) $t else $miss" | bc -l)
done
bytes=$("$MKROOT" "$SUITE" minbase --print-packages 2>&1 >/dev/null | grep -oE '[0-9.]+[KMG] \(' | tr -d ' (')
printf 'resolve (warm index, whole run, best of 5): %.3f s  [%s; cache hit]\n' "$best" "$inner"
printf 'resolve, resolution cache emptied (best of 5): %.3f s\n' "$miss"

# 2. Cold download into an empty blob store (the index stays cached: only .debs move).
export ROOTSTOCK_ROOT=$W/store2
"$MKROOT" "$SUITE" minbase --print-packages >/dev/null 2>&1 # index into the new store
before=$(du -scb "$W"/store2/blobs/sha256/* | tail -1 | cut -f1)
t0=$(now); "$MKROOT" -q "$SUITE" minbase --download-only; t1=$(now)
cold=$(secs "$t0" "$t1")
debs_bytes=$(( $(du -scb "$W"/store2/blobs/sha256/* | tail -1 | cut -f1) - before ))
t0=$(now); "$MKROOT" -q "$SUITE" minbase --download-only; t1=$(now)
warm=$(secs "$t0" "$t1")

# 3. One large curl transfer right now: the suite's Contents index (tens of MB, one file).
t0=$(now); sz=$(curl -fsS -o /dev/null -w '%{size_download}' "$M/dists/$SUITE/main/Contents-$ARCH.gz"); t1=$(now)
ct=$(secs "$t0" "$t1")
debs=$(awk '{print $1}' "$W/pkgs" | wc -l)
curl_equiv=$(echo "$ct * $debs_bytes / $sz" | bc -l)

# 4. debootstrap --download-only on the same mirror.
dbs=NA
if command -v debootstrap >/dev/null && [ "$(id -u)" -eq 0 ]; then
    t0=$(now); debootstrap --download-only --variant=minbase "$SUITE" "$W/dbs" "$M" >/dev/null 2>&1 || true; t1=$(now)
    dbs=$(secs "$t0" "$t1")
fi

echo "packages: $debs, $debs_bytes bytes of .debs ($bytes)"
printf 'mkroot cold download (resolve + fetch): %s s\n' "$cold"
printf 'mkroot warm (second run):               %s s\n' "$warm"
printf 'one curl transfer of %s bytes: %s s -> same bytes as the store: %.2f s\n' "$sz" "$ct" "$curl_equiv"
printf 'debootstrap --download-only:            %s s\n' "$dbs"
printf 'ratio cold / curl-equivalent:           %.2f  (aim <= 1.3)\n' "$(echo "$cold / $curl_equiv" | bc -l)"
[ "$dbs" != NA ] && printf 'ratio debootstrap / mkroot cold:        %.1f\n' "$(echo "$dbs / $cold" | bc -l)"
exit 0
