#!/bin/bash
# Startup latency of `runroot IMG true` against bwrap --unshare-all, crun run and plain chroot
# (the floor), on the same busybox-static root, in one run; and runroot's peak RSS. Also
# `unshare -pmuin --fork -R`: the namespaces alone.
#   bench/runroot_start.sh [RUNROOT] [N]     (as root; hyperfine if installed, else a loop)
# crun refuses hybrid cgroup hosts, so it runs inside `unshare -m` with the unified hierarchy
# unmounted. runroot does its full setup: overlay with an on-disk upper in the store, cgroup,
# 5 namespaces, pivot_root, /dev, /proc, masks, caps, seccomp.
set -eu
RUNROOT=${1:-runroot}
N=${2:-100}
command -v "$RUNROOT" >/dev/null || { echo "runroot_start: no '$RUNROOT'" >&2; exit 1; }
# The store goes on a real disk, as /var/lib/rootstock would (BENCH_DIR, default /var/tmp): on a
# tmpfs the container directory and the overlay's upper cost nothing and the figure flatters.
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/rr-bench.XXXXXX")
[ "$(stat -f -c %T "$W")" = tmpfs ] && echo "runroot_start: warning: '$W' is on a tmpfs" >&2
trap 'rm -rf "$W"' EXIT
R=$W/bundle/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in sh true; do ln -s busybox "$R/bin/$a"; done
export ROOTSTOCK_ROOT=$W/store
IMG=$R
if "$RUNROOT" --help >/dev/null && rootstock_bin=$(dirname "$(command -v "$RUNROOT")")/rootstock &&
    "$rootstock_bin" image import-dir "$R" bench >/dev/null 2>&1; then
    IMG=bench
fi
( cd "$W/bundle" && crun spec >/dev/null 2>&1 && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"true"/' config.json ) || true

# unshare is the kernel's own floor for this isolation: the same five namespaces and a chroot,
# no mounts, no cgroup, no overlay, no seccomp.
cmds=("chroot $R /bin/true"
      "unshare -pmuin --fork -R $R /bin/true"
      "$RUNROOT $IMG /bin/true"
      "bwrap --unshare-all --bind $R / --proc /proc --dev /dev /bin/true")
names=(chroot unshare runroot bwrap)
if command -v crun >/dev/null && [ -f "$W/bundle/config.json" ]; then
    cmds+=("unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; cd $W/bundle && crun run b\$\$ >/dev/null'")
    names+=(crun)
fi

median_ms() { # COMMAND: median wall ms of N runs
    local i t0 t1 times=()
    for ((i = 0; i < N; i++)); do
        t0=$(date +%s%N)
        sh -c "$1" </dev/null >/dev/null 2>&1
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END{printf "%.2f", a[int((NR+1)/2)]/1000}'
}

declare -A ms
if command -v hyperfine >/dev/null; then
    args=()
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    hyperfine -N -w 5 -r "$N" --export-json "$W/h.json" "${args[@]}" >/dev/null 2>&1 ||
        hyperfine -w 5 -r "$N" --export-json "$W/h.json" "${args[@]}" >/dev/null
    while read -r name med; do ms[$name]=$med; done < <(python3 -c '
import json,sys
for r in json.load(open(sys.argv[1]))["results"]: print(r["command"], "%.2f" % (r["median"]*1000))' "$W/h.json")
else
    for i in "${!cmds[@]}"; do ms[${names[$i]}]=$(median_ms "${cmds[$i]}"); done
fi
floor=${ms[chroot]}
printf '%-8s %9s %9s\n' command "median ms" "x chroot"
for n in "${names[@]}"; do
    printf '%-8s %9s %9s\n' "$n" "${ms[$n]}" "$(awk -v a="${ms[$n]}" -v b="$floor" 'BEGIN{printf "%.2f", a/b}')"
done
awk -v r="${ms[runroot]}" -v u="${ms[unshare]}" 'BEGIN{printf "runroot vs unshare (namespaces only): %.2fx its time\n", r/u}'
awk -v r="${ms[runroot]}" -v b="${ms[bwrap]}" 'BEGIN{printf "runroot vs bwrap: %.2fx faster\n", b/r}'
[ -n "${ms[crun]:-}" ] && awk -v r="${ms[runroot]}" -v c="${ms[crun]}" 'BEGIN{printf "runroot vs crun:  %.2fx faster\n", c/r}'
rss=$(for i in 1 2 3 4 5; do /usr/bin/time -f %M "$RUNROOT" "$IMG" /bin/true 2>&1 >/dev/null </dev/null | tail -1; done | sort -n | tail -1)
echo "runroot peak RSS: ${rss} KB (highest of 5 runs)"
