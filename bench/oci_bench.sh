#!/bin/bash
# Export and import of an image against `tar -c DIR | zstd -T0 > f` and `zstd -dc f | tar -x`
# on the same tree, in one run; prints median times and ratios (ours / pipeline: < 1 is faster).
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

# Rounds alternate the two sides and report medians: the machine is shared, and on ext4 the
# inode allocator slows down for a while after a big delete (both sides pay it alike).
# Nothing is deleted between rounds.
rounds=${BENCH_ROUNDS:-3}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$T/pe"; : >"$T/oe"; : >"$T/pi"; : >"$T/oi"
for i in $(seq "$rounds"); do
    t0=$(now); tar -cf - -C "$dir" . | zstd -q -T0 >"$T/pipe.tar.zst"; t1=$(now)
    $R image export bench -o "$T/ours.tar" -q >/dev/null; t2=$(now)
    mkdir "$T/x$i"
    t3=$(now); zstd -dc "$T/pipe.tar.zst" | tar -xf - -C "$T/x$i"; t4=$(now)
    ROOTSTOCK_ROOT=$T/store2-$i $R image import "$T/ours.tar" -q >/dev/null; t5=$(now)
    secs "$t0" "$t1" >>"$T/pe"; secs "$t1" "$t2" >>"$T/oe"
    secs "$t3" "$t4" >>"$T/pi"; secs "$t4" "$t5" >>"$T/oi"
done

pe=$(median <"$T/pe"); oe=$(median <"$T/oe"); pi=$(median <"$T/pi"); oi=$(median <"$T/oi")
echo "medians of $rounds rounds (BENCH_ROUNDS)"
printf 'export: rootstock %.2fs (%s)  tar|zstd -T0 %.2fs (%s)  ratio %.2f\n' "$oe" \
    "$(du -h "$T/ours.tar" | cut -f1)" "$pe" "$(du -h "$T/pipe.tar.zst" | cut -f1)" "$(echo "$oe / $pe" | bc -l)"
printf 'import: rootstock %.2fs  zstd -dc|tar -x %.2fs  ratio %.2f\n' "$oi" "$pi" "$(echo "$oi / $pi" | bc -l)"
