#!/bin/bash
# Benchmark of the image store: `image import-dir` of a 100 MB, 10,000-file tree against
# `cp -a` of the same tree, and `image ls` with 1,000 images. Prints times and ratios.
# Usage: bench/store_import.sh [ROOTSTOCK_BINARY]   (run as root: import-dir keeps owners)
# Env: BENCH_DIR (default: a temp dir under /var/tmp, on the same filesystem for both runs),
#      BENCH_FILES (10000), BENCH_FILE_KB (10), BENCH_ROUNDS (5), BENCH_IMAGES (1000).
set -eu
RS=${1:-${ROOTSTOCK:-$(dirname "$0")/../out/release/bin/rootstock}}
[ -x "$RS" ] || { echo "rootstock binary not found: $RS (pass it as the first argument)" >&2; exit 1; }
FILES=${BENCH_FILES:-10000}
KB=${BENCH_FILE_KB:-10}
ROUNDS=${BENCH_ROUNDS:-5}
IMAGES=${BENCH_IMAGES:-1000}
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/rs-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
export ROOTSTOCK_ROOT=$W/store

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# The tree: 100 directories of files with random content, some hard links and symlinks.
python3 - "$W/src" "$FILES" "$KB" <<'PY'
import os, sys
root, n, kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(root)
data = os.urandom(kb * 1024 + 4096)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i % 100))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(data[i % 4096 : i % 4096 + kb * 1024])
for i in range(0, 100):
    os.link(os.path.join(root, "d%03d" % i, "f%05d" % i), os.path.join(root, "d%03d" % i, "hl"))
    os.symlink("f%05d" % i, os.path.join(root, "d%03d" % i, "sl"))
PY
sync
"$RS" cache du >/dev/null # create the store before timing

cp_times=() rs_times=()
for r in $(seq "$ROUNDS"); do
    t0=$(now); cp -a "$W/src" "$W/cp.$r"; t1=$(now)
    cp_times+=($(( (t1 - t0) / 1000000 )))
    t0=$(now); "$RS" image import-dir -q "$W/src" "bench:$r" >/dev/null; t1=$(now)
    rs_times+=($(( (t1 - t0) / 1000000 )))
    rm -rf "$W/cp.$r"
done
cp_ms=$(printf '%s\n' "${cp_times[@]}" | median)
rs_ms=$(printf '%s\n' "${rs_times[@]}" | median)
echo "cp -a rounds: ${cp_times[*]} ms; import-dir rounds: ${rs_times[*]} ms"
echo "import-dir: ${FILES} files x ${KB} KiB, median of $ROUNDS: cp -a ${cp_ms} ms, import-dir ${rs_ms} ms"
awk -v a="$rs_ms" -v b="$cp_ms" 'BEGIN { printf "import-dir / cp -a = %.2f (goal <= 1.20)\n", a / (b ? b : 1) }'

# 1,000 images: one small layer, many names (records are what ls reads).
mkdir -p "$W/tiny/etc" && echo x >"$W/tiny/etc/x"
"$RS" image import-dir -q "$W/tiny" "many:0" >/dev/null
for i in $(seq 1 $((IMAGES - 1))); do echo "many:$i"; done | xargs -n 200 -P 2 sh -c '
    for n; do "$0" image tag -q many:0 "$n" >/dev/null; done' "$RS"
n=$("$RS" image ls | tail -n +2 | wc -l)
ls_times=()
for r in $(seq "$ROUNDS"); do
    t0=$(now); "$RS" image ls >/dev/null; t1=$(now)
    ls_times+=($(( (t1 - t0) / 1000 )))
done
ls_us=$(printf '%s\n' "${ls_times[@]}" | median)
awk -v u="$ls_us" -v n="$n" 'BEGIN { printf "image ls with %d images: %.1f ms (goal < 50 ms), ratio to goal %.2f\n", n, u / 1000, u / 50000 }'
