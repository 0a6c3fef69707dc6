#!/bin/bash
# runroot: escape attempts fail. Writing /proc/sys, mounting, seeing or signalling host PIDs,
# reaching the host root through ".." or a symlinked -v target, inheriting a stray fd, the
# host terminal, capabilities beyond docker's default set.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
[ -x "$RS_HELPERS/probe" ] || skip_all "needs the probe helper"

R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
cp "$RS_HELPERS/probe" "$R/bin/probe"
# Hostile image content: symlinks that point at host paths.
ln -s / "$R/hostroot"
ln -s "$T" "$R/evil"
ln -s ../../../../../../../../../.. "$R/up"
# Where runroot keeps the host's root between pivot_root and its detachment (run/mount.c).
ln -s /dev/.runroot-oldroot "$R/old"
mkdir -p "$T/secret" && echo host-secret >"$T/secret/file"

plan 17
check "writing /proc/sys fails" runroot "$R" probe try-write /proc/sys/kernel/hostname </dev/null
check "writing /proc/sysrq-trigger fails" runroot "$R" probe try-write /proc/sysrq-trigger </dev/null
check "mount fails" runroot "$R" probe try-mount </dev/null
check "mount fails even with --cap-add SYS_ADMIN dropped again" runroot --cap-add SYS_ADMIN --cap-drop SYS_ADMIN "$R" probe try-mount </dev/null
sleep 300 &
hostpid=$!
remember_pid $hostpid
check "a host PID is invisible" sh -c '! runroot "$1" test -d /proc/$2 </dev/null' _ "$R" "$hostpid"
check "signalling a host PID fails" runroot "$R" probe try-kill "$hostpid" </dev/null
check "the host's sleep survived" kill -0 "$hostpid"
check "'..' from / stays in the root" sh -c '[ "$(runroot "$1" ls /../../.. </dev/null | sort | tr "\n" " ")" = "$(ls "$1" | sort | tr "\n" " ")" ]' _ "$R"
check "an image symlink to / is the container's /" sh -c '! runroot "$1" cat /hostroot"$2"/secret/file </dev/null 2>/dev/null' _ "$R" "$T"
# The old root is detached in the background after pivot_root: a working directory or an
# /etc/passwd that an image's symlink leads into it must never be followed while it is there
# (5 runs of 200 kept the host's / as cwd before the fix). A race: many rounds.
leaks=0
for _ in $(seq 150); do
    [ -z "$(runroot -w /old "$R" ls -A . </dev/null 2>/dev/null)" ] || leaks=$((leaks + 1))
done
check "a working directory through a symlink to the old root never lands in the host's /" [ "$leaks" -eq 0 ]
[ "$leaks" -eq 0 ] || diag "$leaks of 150 runs saw the host's root"
P=$T/pw
mkdir -p "$P/bin" "$P/etc"
cp "$(command -v busybox)" "$P/bin/busybox"
ln -s busybox "$P/bin/true"
ln -s /dev/.runroot-oldroot/etc/passwd "$P/etc/passwd"
leaks=0
for _ in $(seq 150); do runroot -u nobody "$P" true </dev/null 2>/dev/null && leaks=$((leaks + 1)); done
check "an image /etc/passwd linked into the old root is never the host's" [ "$leaks" -eq 0 ]

# -v onto a destination that is a symlink in the image to a host path: the bind must land
# inside the root, and the host path must not be touched.
mkdir -p "$T/vol" && echo vol >"$T/vol/v"
runroot -v "$T/vol:/evil/x" "$R" true </dev/null 2>/dev/null
check "a symlinked -v target is resolved inside the root" sh -c '[ ! -e "$1/x" ] && [ -z "$(grep -F " $1/x " /proc/self/mountinfo)" ]' _ "$T"
runroot -v "$T/vol:/up/y" "$R" true </dev/null 2>/dev/null
check "a -v target through '..' symlinks stays inside" sh -c '[ ! -e /y ]'
exec 7<"$T/secret/file"
check "a stray fd is not inherited" sh -c '[ "$(runroot "$1" probe fds </dev/null | tr "\n" " ")" = "0 1 2 " ]' _ "$R"
exec 7<&-
check "capabilities are docker's default set, no_new_privs, seccomp" sh -c 'runroot "$1" probe caps </dev/null | tr "\t" " " | grep -q "^CapBnd: 00000000a80425fb" && runroot "$1" probe caps </dev/null | grep -q "NoNewPrivs:.1" && runroot "$1" probe caps </dev/null | grep -q "Seccomp:.2"' _ "$R"
check "ptrace of the container's init is denied from the container" sh -c 'runroot --init "$1" probe try-ptrace 1 </dev/null' _ "$R"
# The host terminal: even when stdout is a terminal here, the command gets its own session
# and cannot push input into ours (TIOCSTI).
check "no controlling terminal is shared" sh -c 'runroot "$1" sh -c "! cat /dev/tty" </dev/null >/dev/null 2>&1' _ "$R"
done_testing
