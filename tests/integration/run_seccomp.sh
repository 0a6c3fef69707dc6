#!/bin/bash
# runroot's default seccomp profile (run/seccomp.c, docker's allowlist): syscalls outside it fail
# with EPERM, the listed ones work, capabilities open their syscalls (--cap-add SYS_ADMIN:
# mount, unshare, clone3; SYS_PTRACE: ptrace, process_vm_*), the argument rules hold (clone3
# ENOSYS, personality, socket families), the i386 ABI gets the same profile, a nested filter
# (apt's methods) can be installed, and ordinary programs run: busybox sh, ps, fork/exec loops.
# The probe's "syscall" mode prints "ok RET" or "errno NAME", which tells seccomp's EPERM from
# the kernel's own answer once the filter lets a call through (EFAULT, ESRCH, EINVAL...).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
[ -x "$RS_HELPERS/probe" ] || skip_all "needs the probe helper"
need_overlay

R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
cp "$RS_HELPERS/probe" "$R/bin/probe"
if ! "$ROOTSTOCK" image import-dir "$R" sec >/dev/null 2>"$T/import.err"; then
    echo "1..1"
    echo "not ok 1 - rootstock image import-dir makes the test image"
    diag "$(cat "$T/import.err")"
    exit 1
fi

# is WANT [RUNROOT-OPTIONS...] -- PROBE-ARGS...: the probe's answer inside the container is WANT.
is() {
    local want=$1 got
    shift
    local opts=()
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    got=$(runroot "${opts[@]}" sec probe "$@" </dev/null 2>&1)
    [ "$got" = "$want" ] && return 0
    diag "probe $*: got '$got', want '$want'"
    return 1
}

plan 35
check "seccomp is on, in filter mode" sh -c 'runroot sec probe caps </dev/null | grep -q "^Seccomp:.2"'
check "an allowed syscall works (getpid)" is "ok 1" -- syscall getpid
check "keyctl is outside the profile: EPERM" is "errno EPERM" -- syscall keyctl 0 0
check "add_key: EPERM" is "errno EPERM" -- syscall add_key 0 0 0 0 0
check "userfaultfd: EPERM" is "errno EPERM" -- syscall userfaultfd 0
check "io_uring_setup: EPERM" is "errno EPERM" -- syscall io_uring_setup 1 0
check "mount without CAP_SYS_ADMIN: EPERM" is "errno EPERM" -- syscall mount 0 0 0 0 0
check "mount with --cap-add SYS_ADMIN reaches the kernel" is "errno EFAULT" --cap-add SYS_ADMIN -- syscall mount 0 0 0 0 0
check "--cap-add then --cap-drop SYS_ADMIN: EPERM again" is "errno EPERM" --cap-add SYS_ADMIN --cap-drop SYS_ADMIN -- syscall mount 0 0 0 0 0
check "unshare(CLONE_NEWNS) without CAP_SYS_ADMIN: EPERM" is "errno EPERM" -- syscall unshare 0x20000
check "unshare(CLONE_NEWNS) with --cap-add SYS_ADMIN works" is "ok 0" --cap-add SYS_ADMIN -- syscall unshare 0x20000
check "unshare(CLONE_FILES) works without capabilities" is "ok 0" -- syscall unshare 0x400
check "setns without CAP_SYS_ADMIN: EPERM" is "errno EPERM" -- syscall setns -1 0
check "clone3 says ENOSYS (libc falls back to clone)" is "errno ENOSYS" -- syscall clone3 0 0
check "clone3 with --cap-add SYS_ADMIN reaches the kernel" is "errno EINVAL" --cap-add SYS_ADMIN -- syscall clone3 0 0
check "ptrace without CAP_SYS_PTRACE: EPERM" is "errno EPERM" -- syscall ptrace 2 999999
check "ptrace with --cap-add SYS_PTRACE reaches the kernel" is "errno ESRCH" --cap-add SYS_PTRACE -- syscall ptrace 2 999999
check "process_vm_readv without CAP_SYS_PTRACE: EPERM" is "errno EPERM" -- syscall process_vm_readv 999999 0 0 0 0 0
check "process_vm_readv with --cap-add SYS_PTRACE reaches the kernel" is "ok 0" --cap-add SYS_PTRACE -- syscall process_vm_readv 999999 0 0 0 0 0
check "personality: the query is allowed" is "ok 0" -- syscall personality 0xffffffff
check "personality: ADDR_NO_RANDOMIZE is refused" is "errno EPERM" -- syscall personality 0x40000
check "socket(AF_INET) works" is "ok 3" -- syscall socket 2 1 0
check "socket(AF_ALG) is refused, with or without high bits" sh -c '[ "$(runroot sec probe syscall socket 38 5 0 </dev/null)$(runroot sec probe syscall socket 0x100000026 5 0 </dev/null)" = "errno EPERMerrno EPERM" ]'
check "socket(AF_VSOCK) is refused" is "errno EPERM" -- syscall socket 40 1 0
check "a number newer than any known syscall: ENOSYS (libc falls back)" is "errno ENOSYS" -- syscall 499
check "newer shared syscalls in the profile reach the kernel (statmount, getxattrat)" sh -c 'for nr in 457 464; do runroot sec probe syscall $nr 0 0 0 0 </dev/null | grep -q "errno EPERM" && exit 1; done; exit 0'
check "a nested filter can be installed (apt's methods)" is "nested filter ok" -- nested-seccomp
if runroot sec probe syscall32 20 </dev/null 2>/dev/null | grep -q "^ok"; then
    check "i386 ABI: keyctl is refused" is "errno EPERM" -- syscall32 288
    check "i386 ABI: mount is refused" is "errno EPERM" -- syscall32 21 0 0 0
else
    ok "# SKIP i386 ABI: no int 0x80 on this kernel"
    ok "# SKIP i386 ABI: no int 0x80 on this kernel"
fi
check "a busybox sh script runs (pipes, subshells, redirections)" sh -c '[ "$(runroot sec sh -c "i=0; while [ \$i -lt 50 ]; do i=\$((i+1)); done; echo \$i | (read x; echo \$((x*2))) > /tmp/o; cat /tmp/o" </dev/null)" = 100 ]'
check "ps lists the container's processes" sh -c 'runroot sec ps -o pid,comm </dev/null | grep -q "ps"'
check "a fork/exec loop of 200 commands" sh -c '[ "$(runroot sec sh -c "for i in \$(seq 200); do /bin/true || exit 1; done; echo done" </dev/null)" = done ]'
check "50 children at once" sh -c 'runroot sec probe forks 50 </dev/null | grep -q "failed 0"'
check "tar and gzip" sh -c 'runroot sec sh -c "tar -C /bin -cf - . | gzip -c > /tmp/b.tgz && gzip -t /tmp/b.tgz" </dev/null'
check "--init and job control syscalls (setpgid, kill, wait)" sh -c '[ "$(runroot --init sec sh -c "sleep 5 & p=\$!; kill \$p; wait \$p; echo \$?" </dev/null)" = 143 ]'
done_testing
