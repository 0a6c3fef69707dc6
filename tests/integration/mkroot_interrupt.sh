#!/bin/bash
# mkroot interrupted, hermetic (fixture archive, --no-configure): Ctrl-C or kill -9 at any
# moment leaves no half layer visible and no mount behind, and the next run reuses every .deb
# already fetched (issue 6). Rounds of SIGINT and SIGKILL at random moments of cold builds
# (resolve, download, unpack of the base layer and of the --include layer, publish), each
# followed by checks of the store and a full run; then three aimed ones: Ctrl-C during a stalled
# download, during a stalled download while the base layer unpacks the others, and during the
# unpack of a layer. Under a minute.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd flock
env --default-signal=INT true 2>/dev/null || skip_all "needs env --default-signal (coreutils 8.31)"

start_fixture_archive

mk() { mkroot --mirror "$M" --keyring "$K" --arch amd64 --no-configure "$@"; }
# For `mk_bg … &`: exec, so that $! is mkroot itself; and as a background job of a
# non-interactive shell ignores SIGINT, give it the default back, as Ctrl-C would find it.
mk_bg() { exec env --default-signal=INT,TERM mkroot --mirror "$M" --keyring "$K" --arch amd64 --no-configure "$@"; }
WHAT=(fixture minbase --include big,many,tool)
reset_log() { curl -fsS "$M/__reset" >/dev/null; }
fetched_debs() { curl -fsS "$M/__log" | awk '$1 == "GET" && $3 ~ /\.deb$/ { sub(".*/", "", $3); print $3 }' | sort -u; }

# The .debs (file names) whose blob is in store $1.
declare -A sha_of
for f in "$T"/repo/pool/main/*.deb; do sha_of[$(basename "$f")]=$(sha256sum "$f" | cut -d' ' -f1); done
debs_in_store() {
    local n
    for n in "${!sha_of[@]}"; do [ -f "$1/blobs/sha256/${sha_of[$n]}" ] && echo "$n"; done | sort
}

# What must hold after any interruption of a build in store $1: verify finds nothing, every
# layer has its record, nothing is mounted under the store. Prints what is wrong.
store_problems() {
    local s=$1 d
    rootstock --root "$s" cache verify >"$T/verify" 2>&1 || echo "cache verify: $(head -3 "$T/verify")"
    for d in "$s"/layers/*/; do
        [ -d "$d" ] || continue
        python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$d/layer.json" 2>/dev/null ||
            echo "layer without a complete layer.json: $d"
    done
    grep -F " $s/" /proc/self/mountinfo | awk '{ print "mounted: " $5 }'
    grep -F " $s " /proc/self/mountinfo | awk '{ print "mounted: " $5 }'
}

plan 13

# A cold build, timed, to spread the signals over its whole length. The first build on a
# loaded machine can be several times slower than the rest (CI runs tests two at a time),
# so every round that ends before its signal narrows the window to what it took.
start=$(date +%s%N)
mk --root "$T/base" "${WHAT[@]}" >"$T/out" 2>"$T/err"
check "a cold build of the fixture with two layers succeeds" [ $? -eq 0 ]
cold_ms=$((($(date +%s%N) - start) / 1000000))
diag "cold build: $cold_ms ms"
window=$((cold_ms * 12 / 10 + 1))

# timeout(1) sends the signal to its own process group, mkroot's threads and children
# included, as Ctrl-C in a terminal would; with KILL it dies too, so both give 128+signal.
rounds=18 interrupted=0 bad_int=0 bad_kill=0 problems=0 failed_next=0 refetched=0 tmp_left=0
for ((i = 0; i < rounds; i++)); do
    s=$T/r$i sig=INT want=130
    [ $((i % 2)) -eq 1 ] && sig=KILL want=137
    delay_ms=$((1 + RANDOM % window))
    reset_log
    start=$(date +%s%N)
    timeout --preserve-status -s "$sig" "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')" \
        env --default-signal=INT,TERM mkroot --mirror "$M" --keyring "$K" --arch amd64 --no-configure \
        --root "$s" "${WHAT[@]}" >"$T/r.out" 2>"$T/r.err"
    rc=$?
    took_ms=$((($(date +%s%N) - start) / 1000000))
    # With KILL, timeout dies with mkroot and may return while mkroot is still exiting: wait
    # until it has let go of the store's lock, as waiting for mkroot itself would.
    [ ! -e "$s/lock" ] || flock -x "$s/lock" true
    if [ "$rc" -ne 0 ]; then
        interrupted=$((interrupted + 1))
        if [ "$rc" -ne "$want" ]; then
            [ "$sig" = INT ] && bad_int=$((bad_int + 1)) || bad_kill=$((bad_kill + 1))
            diag "round $i: SIG$sig after $delay_ms ms: exit $rc, want $want: $(tail -2 "$T/r.err")"
        fi
    elif [ "$took_ms" -lt "$window" ]; then
        window=$((took_ms + 1))
    fi
    p=$(store_problems "$s")
    [ -z "$p" ] || { problems=$((problems + 1)); diag "round $i: SIG$sig after $delay_ms ms:" "$p"; }
    have=$(debs_in_store "$s")
    reset_log
    if ! mk --root "$s" "${WHAT[@]}" >"$T/n.out" 2>"$T/n.err"; then
        failed_next=$((failed_next + 1))
        diag "round $i: the run after SIG$sig failed: $(tail -3 "$T/n.err")"
    fi
    again=$(comm -12 <(echo "$have") <(fetched_debs))
    [ -z "$again" ] || { refetched=$((refetched + 1)); diag "round $i: fetched again: $again"; }
    [ -z "$(ls -A "$s/tmp")" ] || { tmp_left=$((tmp_left + 1)); diag "round $i: tmp/ holds $(ls "$s/tmp")"; }
    p=$(store_problems "$s")
    [ -z "$p" ] || { problems=$((problems + 1)); diag "round $i, after the next run:" "$p"; }
    rm -rf "$s"
done
diag "$interrupted of $rounds rounds interrupted a build (the others came too late)"
check "most rounds interrupt the build before it ends" [ "$interrupted" -ge $((rounds / 4)) ]
check "SIGINT exits 130, SIGKILL kills (137)" eval '[ "$bad_int" -eq 0 ] && [ "$bad_kill" -eq 0 ]'
check "after every interruption: verify clean, no layer without layer.json, no mount" [ "$problems" -eq 0 ]
check "the run after every interruption succeeds and leaves tmp/ empty" eval '[ "$failed_next" -eq 0 ] && [ "$tmp_left" -eq 0 ]'
check "no .deb already in the store is downloaded again" [ "$refetched" -eq 0 ]

# Aimed: Ctrl-C while big's download hangs halfway. The other .debs may be complete; big's
# partial body must not be in the store, and the next run fetches only what is missing.
s=$T/stall
reset_log
big=$(basename "$T"/repo/pool/main/big_*.deb)
curl -fsS "$M/__fault/stall/pool/main/$big" >/dev/null
mk_bg --root "$s" "${WHAT[@]}" >"$T/s.out" 2>"$T/s.err" &
pid=$!
for _ in $(seq 200); do fetched_debs | grep -qx "$big" && break; sleep 0.05; done
sleep 0.2
kill -INT "$pid"
wait "$pid"
rc=$?
check "Ctrl-C during a stalled download exits 130" [ "$rc" -eq 130 ]
have=$(debs_in_store "$s")
check "... the partial .deb is not in the store, and the store is clean" \
    eval '! echo "$have" | grep -qx "$big" && [ -z "$(store_problems "$s")" ]'
reset_log
mk --root "$s" "${WHAT[@]}" >/dev/null 2>"$T/s2.err"
rc=$?
check "... the next run succeeds and fetches only what was missing" eval '[ "$rc" -eq 0 ] &&
    [ -z "$(comm -12 <(echo "$have") <(fetched_debs))" ] && fetched_debs | grep -qx "$big"'
[ "$rc" -eq 0 ] || diag "$(tail -3 "$T/s2.err")"

# Aimed: Ctrl-C in the overlapped phase of a cold base layer: gpgv-fix's download hangs
# halfway while the .debs already verified are unpacked into the stage. The stage must be
# there with their files before the signal (else nothing overlaps); the signal cancels the
# hung transfer at once (not after the stall timeout), discards the stage, keeps the partial
# body out of the store, and the next run fetches only gpgv-fix.
s=$T/overlap
reset_log
gpgv=$(basename "$T"/repo/pool/main/gpgv-fix_*.deb)
curl -fsS "$M/__fault/stall/pool/main/$gpgv" >/dev/null
mk_bg --root "$s" fixture minbase >"$T/o.out" 2>"$T/o.err" &
pid=$!
staged=0
for _ in $(seq 200); do
    compgen -G "$s/tmp/*/root/usr/share/libc-fix/data" >/dev/null && { staged=1; break; }
    sleep 0.05
done
fetched_debs | grep -qx "$gpgv" && [ ! -f "$s/blobs/sha256/${sha_of[$gpgv]}" ] || staged=0
start=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
rc=$?
took_ms=$((($(date +%s%N) - start) / 1000000))
check "the base layer unpacks while a download hangs, and Ctrl-C then exits 130 at once" \
    eval '[ "$staged" -eq 1 ] && [ "$rc" -eq 130 ] && [ "$took_ms" -lt 5000 ] && grep -q "interrupted" "$T/o.err"'
[ "$staged" -eq 1 ] || diag "no stage with libc-fix's files while gpgv-fix's download hung"
[ "$rc" -eq 130 ] && [ "$took_ms" -lt 5000 ] || diag "exit $rc after $took_ms ms: $(tail -2 "$T/o.err")"
have=$(debs_in_store "$s")
check "... no layer, no stage, no partial .deb, and the store is clean" \
    eval '[ -z "$(ls -A "$s/layers" 2>/dev/null)" ] && [ -z "$(ls -A "$s/tmp")" ] &&
    ! echo "$have" | grep -qx "$gpgv" && [ -z "$(store_problems "$s")" ]'
reset_log
mk --root "$s" fixture minbase >/dev/null 2>"$T/o2.err"
rc=$?
check "... the next run succeeds and fetches only gpgv-fix" \
    eval '[ "$rc" -eq 0 ] && [ "$(fetched_debs)" = "$gpgv" ]'
[ "$rc" -eq 0 ] || diag "$(tail -3 "$T/o2.err")"

# Aimed: Ctrl-C while the --include layer is being unpacked (its files appearing in the
# container's upper dir): the stage is discarded, the message says so, exit 130.
aimed=0
for attempt in 1 2 3 4 5; do
    s=$T/aim$attempt
    mkdir -p "$s"
    cp -al "$T/base/blobs" "$s/"
    mk_bg --root "$s" "${WHAT[@]}" >"$T/a.out" 2>"$T/a.err" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        compgen -G "$s/containers/*/upper/usr/share/many/d0" >/dev/null && break
    done
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
    [ "$rc" -ne 0 ] && { aimed=1; break; }
    rm -rf "$s"
done
check "Ctrl-C while a layer is unpacked exits 130 saying so, and leaves no layer, container or stage" \
    eval '[ "$aimed" -eq 1 ] && [ "$rc" -eq 130 ] && grep -q "interrupted" "$T/a.err" &&
    [ -z "$(store_problems "$s")" ] && [ -z "$(ls -A "$s/containers" 2>/dev/null)" ] &&
    [ "$(ls "$s/layers" | wc -l)" -eq 1 ] && [ -z "$(ls -A "$s/tmp")" ]'
[ "$aimed" -eq 1 ] || diag "the build always finished before the signal"
[ "$rc" -eq 130 ] || diag "exit $rc: $(tail -3 "$T/a.err")"

done_testing
