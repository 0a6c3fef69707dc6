#!/bin/bash
# mkroot against mmdebstrap and debootstrap, minbase of one suite from the host's mirror, in one
# run (ratios matter, the mirror's speed varies by the hour):
#   cold  empty store / no cache
#   warm  the .debs already cached (mkroot: a store with blobs but no layer; mmdebstrap: its
#         apt archives synced in, --skip=download/empty)
#   hot   the layer cached (mkroot only: the same build again)
# Nothing is deleted before the last timed run: on an ext4 without a journal (this VM's), files
# created within minutes of a large deletion in the same block groups are slow to allocate
# (the kernel's recently_deleted()), which would charge one tool for another's cleanup. For the
# same reason, leave ~5 minutes after deleting large trees before running this.
# usage (root): bench/mkroot_build.sh [MKROOT] [SUITE]
set -eu
MK=${1:-mkroot}
SUITE=${2:-trixie}
M=$($MK --print-mirror)
W=$(mktemp -d /tmp/mkroot-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
t() { local s e; s=$(now); "$@" >"$W/log" 2>&1 || { tail -5 "$W/log"; exit 1; }; e=$(now); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.2f", b - a }'; }

mk_cold=$(t "$MK" "$SUITE" minbase --root "$W/s1")
mkdir -p "$W/s2" && cp -al "$W/s1/blobs" "$W/s1/archive" "$W/s2/"
mk_warm=$(t "$MK" "$SUITE" minbase --root "$W/s2" -v)
# The warm run's phases: configure runs the packages' maintainer scripts one at a time (dpkg),
# the part no parallelism reaches.
phase() { grep -E "^mkroot: $1" "$W/log" | grep -oE '[0-9.]+ s$' | tail -1 | cut -d' ' -f1; }
mk_unpack=$(phase unpacked) mk_configure=$(phase configured) mk_publish=$(phase published)
mk_hot=$(t "$MK" "$SUITE" minbase --root "$W/s2")
mk_hot_off=$(t "$MK" "$SUITE" minbase --root "$W/s2" --offline)

mkdir -p "$W/debs"
mm_cold=$(t mmdebstrap --variant=minbase --skip=download/empty \
    --customize-hook='sync-out /var/cache/apt/archives '"$W/debs" "$SUITE" "$W/mm1" "$M")
mm_warm=$(t mmdebstrap --variant=minbase --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook='sync-in '"$W/debs"' /var/cache/apt/archives/' "$SUITE" "$W/mm2" "$M")
db_cold=$(t debootstrap --variant=minbase "$SUITE" "$W/db" "$M")

r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '%-28s %8s %10s\n' what seconds "x mmdebstrap"
printf '%-28s %8s %10s\n' "mkroot cold" "$mk_cold" "$(r "$mk_cold" "$mm_cold")"
printf '%-28s %8s %10s\n' "mkroot warm (.debs cached)" "$mk_warm" "$(r "$mk_warm" "$mm_warm")"
printf '%-28s %8s %10s\n' "  of which unpack" "$mk_unpack" "$(r "$mk_unpack" "$mm_warm")"
printf '%-28s %8s %10s\n' "  of which configure" "$mk_configure" "$(r "$mk_configure" "$mm_warm")"
printf '%-28s %8s %10s\n' "  of which publish (sync)" "$mk_publish" "$(r "$mk_publish" "$mm_warm")"
printf '%-28s %8s %10s\n' "mkroot hot (layer cached)" "$mk_hot" "-"
printf '%-28s %8s %10s\n' "mkroot hot --offline" "$mk_hot_off" "-"
printf '%-28s %8s %10s\n' "mmdebstrap cold" "$mm_cold" "1.00"
printf '%-28s %8s %10s\n' "mmdebstrap warm" "$mm_warm" "1.00"
printf '%-28s %8s %10s\n' "debootstrap cold" "$db_cold" "$(r "$db_cold" "$mm_cold")"
echo "mkroot cold / debootstrap cold: $(r "$mk_cold" "$db_cold")"
