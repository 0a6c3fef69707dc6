#!/bin/bash
# Export and import of an image against `tar -c DIR | zstd -T0 > f` and `zstd -dc f | tar -x`
# on the same tree, in one run; prints times and ratios (ours / pipeline: < 1 is faster).
# Usage: bench/oci_bench.sh [IMAGE|DIR]   (as root; default: stable-minbase from the store,
# else /usr/share/doc, a tree of many small files). ROOTSTOCK = the binary (default out/dev/bin/rootstock).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
R=${ROOTSTOCK:-$here/out/dev/bin/rootstock}
arg=${1:-stable-minbase}
T=$(mktemp -d "${TMPDIR:-/var/tmp}/rs-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc; }

if [ -d "$arg" ]; then
    src="directory $arg"; dir=$arg
elif $R image inspect "$arg" >/dev/null 2>&1; then
    src="image $arg (store ${ROOTSTOCK_ROOT:-default})"
    dir=$($R image inspect "$arg" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1])')
    dir="${ROOTSTOCK_ROOT:-/var/lib/rootstock}/layers/$dir/root"
else
    src="/usr/share/doc (image '$arg' not found)"; dir=/usr/share/doc
fi
export ROOTSTOCK_ROOT=$T/store
$R image import-dir "$dir" bench -q >/dev/null
echo "source: $src; $(du -sh "$dir" 2>/dev/null | cut -f1) in $(find "$dir" | wc -l) entries; $(nproc) CPUs"

# warm the page cache for both sides
tar -cf - -C "$dir" . >/dev/null

t0=$(now); tar -cf - -C "$dir" . | zstd -q -T0 >"$T/pipe.tar.zst"; t1=$(now)
$R image export bench -o "$T/ours.tar" -q >/dev/null; t2=$(now)
mkdir "$T/x"
t3=$(now); zstd -dc "$T/pipe.tar.zst" | tar -xf - -C "$T/x"; t4=$(now)
ROOTSTOCK_ROOT=$T/store2 $R image import "$T/ours.tar" -q >/dev/null; t5=$(now)

pe=$(secs "$t0" "$t1"); oe=$(secs "$t1" "$t2"); pi=$(secs "$t3" "$t4"); oi=$(secs "$t4" "$t5")
printf 'export: rootstock %.2fs (%s)  tar|zstd -T0 %.2fs (%s)  ratio %.2f\n' "$oe" \
    "$(du -h "$T/ours.tar" | cut -f1)" "$pe" "$(du -h "$T/pipe.tar.zst" | cut -f1)" "$(echo "$oe / $pe" | bc -l)"
printf 'import: rootstock %.2fs  zstd -dc|tar -x %.2fs  ratio %.2f\n' "$oi" "$pi" "$(echo "$oi / $pi" | bc -l)"
