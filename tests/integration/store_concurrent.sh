#!/bin/bash
# Several processes using the store at once: imports of the same and of different images,
# gc waiting for readers, and gc running while another process reads an image.
. "$(dirname "$0")/lib.sh"
need_root
RS=$ROOTSTOCK

plan 7
mk_tree() { # DIR SEED
    mkdir -p "$1/a" "$1/b"
    for f in $(seq 1 40); do echo "$2 $f" >"$1/a/f$f"; head -c 2000 /dev/urandom >"$1/b/g$f"; done
}
for n in 1 2 3 4; do mk_tree "$T/src$n" "$n"; done

# 8 importers: 4 of the same name from the same tree, 4 of different names.
pids=()
for i in 1 2 3 4; do
    "$RS" image import-dir "$T/src1" same >"$T/same.$i" 2>&1 & pids+=($!)
    "$RS" image import-dir "$T/src$i" "diff$i" >"$T/diff.$i" 2>&1 & pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
check "8 concurrent imports all succeed" [ "$fails" -eq 0 ]
check "the store lists exactly the 5 images" sh -c '[ "$("$0" image ls | tail -n +2 | awk "{print \$1}" | tr "\n" " ")" = "diff1:latest diff2:latest diff3:latest diff4:latest same:latest " ]' "$RS"
check "each image has its own tree" sh -c 'for i in 1 2 3 4; do l=$("$0" image inspect diff$i | python3 -c "import json,sys; print(json.load(sys.stdin)[\"layers\"][0])"); diff -r "$1/src$i" "$ROOTSTOCK_ROOT/layers/$l/root" >/dev/null || exit 1; done' "$RS" "$T"
check "verify is clean after the race" sh -c '"$0" cache verify >/dev/null' "$RS"

# gc waits for a process that holds the store (shared) and then runs.
flock -s "$ROOTSTOCK_ROOT/lock" sleep 1.5 & holder=$!
remember_pid $holder
sleep 0.2
t0=$(date +%s%N)
"$RS" cache gc >/dev/null 2>&1
t1=$(date +%s%N)
check "gc waits for the store's other users" [ $(( (t1 - t0) / 1000000 )) -ge 1000 ]
wait $holder 2>/dev/null

# gc in a loop (with churn: images made and removed) while a reader keeps reading an image.
KEEP=$("$RS" image inspect diff2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0])')
(
    for i in $(seq 1 15); do
        "$RS" image import-dir "$T/src3" churn >/dev/null 2>&1
        "$RS" image rm churn >/dev/null 2>&1
        "$RS" cache gc >/dev/null 2>&1 || echo "gc failed" >>"$T/gcerr"
    done
) & churner=$!
remember_pid $churner
bad=0 reads=0
while kill -0 $churner 2>/dev/null; do
    "$RS" image inspect diff2 >/dev/null 2>&1 || bad=$((bad + 1))
    diff -r "$T/src2" "$ROOTSTOCK_ROOT/layers/$KEEP/root" >/dev/null 2>&1 || bad=$((bad + 1))
    reads=$((reads + 1))
done
wait $churner
diag "$reads reads during 15 rounds of import, rm and gc"
check "reads of a kept image never fail while gc runs" sh -c '[ "$0" -eq 0 ] && [ ! -e "$1" ]' "$bad" "$T/gcerr"
check "the churned layers are gone and the store is clean" sh -c '"$0" cache verify >/dev/null && [ "$(ls "$1/layers" | wc -l)" -eq 5 ]' "$RS" "$ROOTSTOCK_ROOT"
done_testing
