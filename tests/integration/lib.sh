# Shared helpers for integration tests: TAP output (bubblewrap's test-run.sh style), skips with
# exit 77, a private store per test, and cleanup of what the test started.
# Environment from ctest: ROOTSTOCK (the binary), RS_BIN_DIR (with mkroot/runroot links),
# RS_HELPERS (static helper programs), RS_SOURCE_DIR, RS_TEST_DATA.

set -u
: "${ROOTSTOCK:?run through ctest}"
# sbin too: tools such as getcap, setcap and mknod live there, and CI may start without it.
PATH="$RS_BIN_DIR:$PATH:/usr/sbin:/sbin"
export PATH

tap_n=0
tap_failed=0
tap_planned=""

plan() { tap_planned=$1; echo "1..$1"; }
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 77; }
diag() { printf '# %s\n' "$@"; }

# check DESCRIPTION COMMAND...: one TAP line from a command's exit status.
check() {
    local desc=$1
    shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# expect_fail CODE PATTERN DESCRIPTION COMMAND...: the command exits CODE and its stderr matches
# the grep -E PATTERN.
expect_fail() {
    local code=$1 pattern=$2 desc=$3 rc
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -qE -- "$pattern" "$T/err"; then
        ok "$desc"
    else
        not_ok "$desc"
        diag "exit $rc (want $code); stderr:" "$(cat "$T/err")"
    fi
}

bail_out() { echo "Bail out! $*"; exit 1; }

# start_fixture_archive: build the signed fixture archive (tests/fixtures/make_archive.sh) in
# $T/repo and serve it on 127.0.0.1 (tests/fixtures/archive_server.py, which misbehaves on
# request). Sets M (its URL), K (its keyring) and FIXTURE_PID. Both are the project's own, so
# a failure fails the test instead of skipping it.
# The tools the archive is made, served, verified and driven with; a missing one skips the test.
start_fixture_archive() {
    local fx=$RS_SOURCE_DIR/tests/fixtures c
    for c in dpkg-deb gpg gpgv python3 xz gzip curl; do need_cmd "$c"; done
    bash "$fx/make_archive.sh" "$T/repo" >"$T/make.log" 2>&1 ||
        bail_out "cannot build the fixture archive: $(tail -3 "$T/make.log")"
    python3 "$fx/archive_server.py" "$T/repo" "$T/port" &
    FIXTURE_PID=$!
    remember_pid "$FIXTURE_PID"
    for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
    [ -s "$T/port" ] || bail_out "the fixture archive server did not start"
    M=http://127.0.0.1:$(cat "$T/port")
    K=$T/repo/keyring.gpg
}

need_root() { [ "$(id -u)" -eq 0 ] || skip_all "needs root"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip_all "needs $1"; }
need_overlay() { grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip_all "needs overlayfs"; }
# need_archive SUITE: the real archive the host's apt uses, serving SUITE; sets M (its URL).
need_archive() {
    M=$(mkroot --print-mirror 2>/dev/null) || skip_all "no Debian mirror in the host's apt sources"
    curl -fsS -o /dev/null --max-time 20 "$M/dists/$1/InRelease" 2>/dev/null ||
        skip_all "the mirror does not serve $1"
}

# A temp dir per test with its own store; removed at exit with everything the test started.
T=$(mktemp -d "${TMPDIR:-/tmp}/rs-it.XXXXXX")
export T
export ROOTSTOCK_ROOT="$T/store"
tap_pids=()
remember_pid() { tap_pids+=("$1"); }
tap_cleanup() {
    local pid
    for pid in "${tap_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    # Unmount anything a failed test left under T before removing it.
    if [ "$(id -u)" -eq 0 ]; then
        grep -F " $T/" /proc/self/mountinfo | awk '{print $5}' | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null; done
    fi
    rm -rf "$T"
}
trap tap_cleanup EXIT

# done_testing: final status line; non-zero if anything failed or the plan was not met.
done_testing() {
    if [ -n "$tap_planned" ] && [ "$tap_n" -ne "$tap_planned" ]; then
        echo "# planned $tap_planned tests but ran $tap_n"
        exit 1
    fi
    [ "$tap_failed" -eq 0 ] || { echo "# $tap_failed of $tap_n failed"; exit 1; }
    exit 0
}
