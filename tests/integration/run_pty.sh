#!/bin/bash
# runroot under a real terminal (tmux): the shell gets a pty of the container's own devpts,
# job control works (Ctrl-C reaches the foreground job, Ctrl-Z stops it), the window size is
# the terminal's and follows a resize, and the exit status comes back.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
need_cmd tmux
need_overlay

R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
"$ROOTSTOCK" image import-dir "$R" tiny >/dev/null 2>"$T/import.err" ||
    { echo "Bail out! image import-dir fails: $(head -1 "$T/import.err")"; exit 1; }

# A private tmux server on its own socket; killed at exit (it is ours alone).
# If a check fails before 'exit', runroot outlives the server: a shell that is PID 1 ignores
# the SIGHUP runroot forwards. So kill runroot (the pane process's child) by its parent's pid.
TM=(tmux -S "$T/tmux.sock" -f /dev/null)
pane_pid=""
finish() {
    [ -n "$pane_pid" ] && pkill -KILL -P "$pane_pid" 2>/dev/null
    "${TM[@]}" kill-server 2>/dev/null
    tap_cleanup
}
trap finish EXIT
"${TM[@]}" new-session -d -s rr -x 80 -y 24 \
    "env ROOTSTOCK_ROOT='$ROOTSTOCK_ROOT' '$RS_BIN_DIR/runroot' tiny sh; echo \"EXIT=\$?\" >'$T/exit'; sleep 600" ||
    skip_all "tmux cannot start a session"
pane_pid=$("${TM[@]}" display-message -p -t rr '#{pane_pid}')

screen() { "${TM[@]}" capture-pane -p -t rr -S -100; }
# wait_for REGEX: until the pane shows it (a wait, not a timing assertion: 30 s is only a
# bound for a hung test).
wait_for() {
    local i
    for ((i = 0; i < 300; i++)); do
        screen | grep -qE "$1" && return 0
        sleep 0.1
    done
    diag "screen did not show '$1':" "$(screen)"
    return 1
}
type_line() { "${TM[@]}" send-keys -t rr -l "$1" && "${TM[@]}" send-keys -t rr Enter; }
# wait_sleeping: until the container's 'sleep 613' runs (seen from the host), so that a key
# sent next reaches it and not the shell that is still starting it. A bound, not a timing test.
wait_sleeping() {
    local i
    for ((i = 0; i < 300; i++)); do
        pgrep -f '^sleep 613$' >/dev/null && return 0
        sleep 0.1
    done
    diag "sleep 613 never started"
    return 1
}

plan 10
# Each command prints a marker computed by the shell, so the typed line never matches it.
type_line 'echo "PID=$((0+$$))"'
check "the shell is PID 1 in the container" wait_for '^PID=1$'
type_line 'echo "TTY=$(tty)"'
check "its terminal is /dev/pts/0 of the container's devpts" wait_for '^TTY=/dev/pts/0$'
type_line 'echo "SIZE=$(stty size)"'
check "stty size is the terminal's" wait_for '^SIZE=24 80$'
"${TM[@]}" resize-window -t rr -x 100 -y 30
type_line 'echo "SIZE2=$(stty size)"'
check "and follows a resize" wait_for '^SIZE2=30 100$'
type_line 'sleep 613'
wait_sleeping
"${TM[@]}" send-keys -t rr C-c
type_line 'echo "RC=$((0+$?))"'
check "Ctrl-C interrupts the foreground job" wait_for '^RC=130$'
type_line 'sleep 613'
wait_sleeping
"${TM[@]}" send-keys -t rr C-z
# (jobs in a $(…) subshell lists nothing in ash: count through a file.)
type_line 'jobs -l >/tmp/j; echo "JOBS=$(grep -c "Stopped.*sleep 613" /tmp/j)"'
check "Ctrl-Z stops it and the shell lists it as a stopped job" wait_for '^JOBS=1$'
type_line 'kill -9 %1; wait'
type_line ':'
check "the job can be killed by its job number" wait_for 'Killed +sleep 613'
type_line 'echo "SLEEPS=$(ps -o args | grep -c "^[s]leep 613")"'
check "and it is gone" wait_for '^SLEEPS=0$'
type_line 'exit 3'
for ((i = 0; i < 300; i++)); do [ -s "$T/exit" ] && break; sleep 0.1; done
check "exit status comes back through the terminal session" [ "$(cat "$T/exit" 2>/dev/null)" = EXIT=3 ]

# The host's terminal hangs up (the tmux session is killed) while the container's PID 1
# ignores SIGHUP and never reads its terminal: runroot closes the container's terminal and,
# after a grace period, kills it, instead of running on forever.
"${TM[@]}" new-session -d -s hup -x 80 -y 24 \
    "env ROOTSTOCK_ROOT='$ROOTSTOCK_ROOT' '$RS_BIN_DIR/runroot' --hostname hup617 tiny sh -c 'trap \"\" HUP; while :; do sleep 1; done'"
hup_pid=""
for ((i = 0; i < 300; i++)); do
    for p in $(pgrep -x runroot); do grep -qa hup617 "/proc/$p/cmdline" 2>/dev/null && hup_pid=$p; done
    [ -n "$hup_pid" ] && pgrep -f '^sleep 1$' >/dev/null && break
    sleep 0.1
done
"${TM[@]}" kill-session -t hup
# A bound for a hung test, not a timing assertion: the grace period is 2 s.
for ((i = 0; i < 300; i++)); do
    [ -n "$hup_pid" ] && kill -0 "$hup_pid" 2>/dev/null || break
    sleep 0.1
done
check "a hang-up of the host terminal ends runroot even if PID 1 ignores SIGHUP" \
    sh -c '[ -n "$0" ] && ! kill -0 "$0" 2>/dev/null' "$hup_pid"
# If it is still there: kill the container, so that runroot cleans up (cgroup) and exits.
[ -n "$hup_pid" ] && pkill -KILL -P "$hup_pid" 2>/dev/null
done_testing
