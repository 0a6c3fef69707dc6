#!/bin/sh
# Install what rootstock needs to build and test, from Debian's packages (Debian 12 or 13).
# Idempotent and quiet: installs only what is missing. Run as root.
#   scripts/deps.sh          build and run
#   scripts/deps.sh --test   also what the test suite and benchmarks compare against
set -eu

build_pkgs="build-essential cmake pkg-config libcurl4-openssl-dev libarchive-dev libzstd-dev
 libdeflate-dev libssl-dev libjson-c-dev libseccomp-dev libcap-dev ca-certificates gpgv
 debian-archive-keyring"
test_pkgs="libcmocka-dev clang-format git gpg dpkg-dev busybox-static python3 xz-utils zstd curl
 debootstrap mmdebstrap skopeo umoci iproute2 procps util-linux tmux libcap2-bin"
bench_pkgs="bubblewrap crun hyperfine bc time"

pkgs=$build_pkgs
case "${1:-}" in
--test) pkgs="$build_pkgs $test_pkgs" ;;
--bench) pkgs="$build_pkgs $test_pkgs $bench_pkgs" ;;
"") ;;
*) echo "usage: $0 [--test|--bench]" >&2; exit 2 ;;
esac

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: error: missing packages:$missing" >&2
    echo "  hint: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps.sh: installing:$missing" >&2
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
