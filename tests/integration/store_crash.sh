#!/bin/bash
# Crash safety: `kill -9` of `image import-dir` at random moments, 50 times. After each,
# `cache verify` must report the store clean and every listed image must be complete.
. "$(dirname "$0")/lib.sh"
need_root
RS=$ROOTSTOCK
ROUNDS=${STORE_CRASH_ROUNDS:-50}

# A small tree (a few hundred entries) so that 50 rounds take seconds.
S=$T/src
for d in $(seq 1 10); do
    mkdir -p "$S/d$d"
    for f in $(seq 1 10); do head -c $((f * 97)) /dev/urandom >"$S/d$d/f$f"; done
    ln "$S/d$d/f1" "$S/d$d/hard"
    ln -s f2 "$S/d$d/sym"
done
"$RS" image import-dir "$S" base >/dev/null || exit 1
t0=$(date +%s%N)
"$RS" image import-dir "$S" timing >/dev/null
t1=$(date +%s%N)
import_us=$(( (t1 - t0) / 1000 ))
diag "one import takes ${import_us} us; killing at random moments within 1.5x that"

plan $((ROUNDS * 2 + 2))
declare -A checked # published layers never change, so each is compared once
complete() {
    # Every listed image: its record parses, its layers exist, and each layer's tree is the
    # source tree, byte for byte.
    local name layer
    for name in $("$RS" image ls | tail -n +2 | awk '{print $1}'); do
        for layer in $("$RS" image inspect "$name" | sed -n '/"layers"/,/]/p' | grep -oE '[0-9a-f]{64}'); do
            [ -n "${checked[$layer]:-}" ] && continue
            diff -r --no-dereference "$S" "$ROOTSTOCK_ROOT/layers/$layer/root" >/dev/null || { echo "image $name: layer $layer differs"; return 1; }
            checked[$layer]=1
        done
    done
}
killed=0
for i in $(seq 1 "$ROUNDS"); do
    "$RS" image import-dir "$S" "img$((i % 5))" >/dev/null 2>&1 &
    pid=$!
    delay=$(( (RANDOM * 32768 + RANDOM) % (import_us * 3 / 2 + 1) ))
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ $? -eq 137 ] && killed=$((killed + 1))
    if out=$("$RS" cache verify 2>&1) && echo "$out" | grep -q "is clean"; then
        ok "round $i: verify reports clean"
    else
        not_ok "round $i: verify reports clean"
        diag "$out"
    fi
    # Collect the layers of overwritten images now and then, so verify stays quick.
    [ $((i % 10)) -eq 0 ] && "$RS" cache gc >/dev/null 2>&1
    if msg=$(complete); then ok "round $i: every listed image is complete"; else not_ok "round $i: every listed image is complete"; diag "$msg"; fi
done
diag "killed $killed of $ROUNDS imports before they finished"
# Proves the rounds really interrupt imports; a loaded machine (or a sanitizer build) makes
# single-import timing noisy, so this asks for a tenth, not most.
check "rounds were killed part way" [ "$killed" -ge $((ROUNDS / 10)) ]
check "tmp/ leftovers are gone after the next start" sh -c '"$0" cache du >/dev/null && [ -z "$(ls -A "$1/tmp")" ]' "$RS" "$ROOTSTOCK_ROOT"
done_testing
