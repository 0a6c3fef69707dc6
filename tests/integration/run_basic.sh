#!/bin/bash
# runroot: isolation (pid, uts, net, mounts), the filesystem (overlay, /dev, /proc), process
# options, exit codes, --commit, on a busybox-static root imported into a private store.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
[ -x "$RS_HELPERS/probe" ] || skip_all "needs the probe helper"
need_overlay

# A tiny root: busybox applets and the probe.
R=$T/root
mkdir -p "$R/bin" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/root"
cp "$(command -v busybox)" "$R/bin/busybox"
for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
cp "$RS_HELPERS/probe" "$R/bin/probe"
echo "from-image" >"$R/etc/marker"
# The store image: everything below runs on it (the directory form has its own check).
if ! "$ROOTSTOCK" image import-dir "$R" tiny >/dev/null 2>"$T/import.err"; then
    echo "1..1"
    echo "not ok 1 - rootstock image import-dir makes the test image"
    diag "$(cat "$T/import.err")"
    exit 1
fi
IMG=tiny
export IMG R
rr() { runroot "$@" </dev/null; }

plan 44
check "the command is PID 1" sh -c '[ "$(runroot $IMG sh -c "echo \$\$" </dev/null)" = 1 ]'
out=$(rr $IMG ps -o pid,comm)
check "ps shows only the container's processes" sh -c '[ "$(printf "%s\n" "$1" | wc -l)" -eq 2 ]' _ "$out"
host_hn=$(hostname)
check "the default hostname is the short container id" sh -c '[ "$(runroot $IMG hostname </dev/null | wc -c)" -eq 13 ]'
check "--hostname sets it" sh -c '[ "$(runroot --hostname box $IMG hostname </dev/null)" = box ]'
rr $IMG hostname changed 2>/dev/null
check "the host's hostname is unchanged" [ "$(hostname)" = "$host_hn" ]
check "host paths are absent" sh -c '! runroot $IMG ls "$T" </dev/null >/dev/null 2>&1 && ! runroot $IMG ls /home </dev/null >/dev/null 2>&1'
ifs=$(rr $IMG probe ifaces | awk -F: 'NR>2{gsub(/ /,"",$1); print $1}' | tr '\n' ' ')
check "only lo in the private network namespace" [ "$ifs" = "lo " ]
check "/sys/class/net shows the container's network, not the host's" sh -c '[ "$(runroot $IMG ls /sys/class/net </dev/null)" = lo ] && [ "$(runroot --net host $IMG ls /sys/class/net </dev/null | wc -l)" -eq "$(ls /sys/class/net | wc -l)" ]'
check "lo is up" sh -c 'runroot $IMG ip link show lo </dev/null | grep -q UP'
check "--net host shares the host's interfaces" sh -c '[ "$(runroot --net host $IMG probe ifaces </dev/null | wc -l)" -eq "$(wc -l </proc/net/dev)" ]'
rr $IMG sh -c 'echo gone >/etc/marker; touch /newfile'
check "writes are gone after exit" sh -c '[ "$(runroot $IMG cat /etc/marker </dev/null)" = from-image ] && ! runroot $IMG ls /newfile </dev/null >/dev/null 2>&1'
# containers/spare: the directory of a run that wrote nothing, kept for the next run.
check "nothing but an empty spare is left in the store's containers/" sh -c '[ "$(ls "$ROOTSTOCK_ROOT/containers")" = spare ] && [ -z "$(ls -A "$ROOTSTOCK_ROOT/containers/spare/upper")" ]'
rr $IMG chmod 700 / 2>/dev/null
check "a change to / itself does not reach the next run through the spare" sh -c '[ "$(runroot $IMG stat -c %a / </dev/null)" = 755 ] && [ "$(runroot $IMG stat -c %a / </dev/null)" = 755 ]'
check "/ is 0755 whatever runroot's umask, for any user" sh -c 'rm -rf "$ROOTSTOCK_ROOT/containers/spare"; umask 077; [ "$(runroot -u 1000 $IMG sh -c "stat -c %a /; ls /etc" </dev/null | tr "\n" " ")" = "755 hostname hosts marker " ]'
check "the old root is gone before the command runs" sh -c '[ "$(runroot $IMG sh -c "ls -a /dev | grep -c oldroot; grep -c \" / / \" /proc/self/mountinfo" </dev/null | tr "\n" " ")" = "0 1 " ]'
par() {
    for i in 1 2 3 4 5 6 7 8; do
        runroot $IMG sh -c "echo $i >/mine; sleep 0.2; ls /mine* | wc -l; cat /mine" </dev/null >"$T/par.$i" &
    done
    wait
    for i in 1 2 3 4 5 6 7 8; do [ "$(tr '\n' ' ' <"$T/par.$i")" = "1 $i " ] || return 1; done
    runroot $IMG true </dev/null && [ "$(ls "$ROOTSTOCK_ROOT/containers")" = spare ]
}
check "parallel runs never share a directory, and leave only the spare" par
killed_run() {
    runroot $IMG sleep 60.25 </dev/null & p=$!
    for _ in $(seq 100); do
        pgrep -f "^sleep 60.25$" >/dev/null && break
        sleep 0.05
    done
    kill -KILL $p
    wait $p 2>/dev/null
    # the container dies with runroot (PR_SET_PDEATHSIG); its directory is a leftover
    for _ in $(seq 100); do pgrep -f "^sleep 60.25$" >/dev/null || break; sleep 0.05; done
    ! pgrep -f "^sleep 60.25$" >/dev/null &&
        [ -n "$(ls "$ROOTSTOCK_ROOT/containers" | grep -v '^spare$')" ] &&
        "$ROOTSTOCK" cache gc >/dev/null 2>&1 &&
        [ -z "$(ls "$ROOTSTOCK_ROOT/containers" | grep -v '^spare$')" ] &&
        "$ROOTSTOCK" cache verify >/dev/null &&
        [ "$(runroot $IMG cat /etc/marker </dev/null)" = from-image ] || return 1
    # its cgroups stay behind, empty, until a later runroot finds them stale (5 s old)
    [ -n "$(find /sys/fs/cgroup -maxdepth 8 -type d -name "runroot-$p-*" 2>/dev/null)" ] || return 1
    sleep 5.5
    runroot $IMG true </dev/null &&
        [ -z "$(find /sys/fs/cgroup -maxdepth 8 -type d -name "runroot-$p-*" 2>/dev/null)" ]
}
check "runroot killed with SIGKILL: the container dies, gc removes its directory, verify passes, a later run removes its cgroups" killed_run
check "cache gc removes the spare without calling it a container" sh -c 'runroot $IMG true </dev/null && [ -d "$ROOTSTOCK_ROOT/containers/spare" ] && "$ROOTSTOCK" cache du | grep -Eq "^containers +0$" && ! "$ROOTSTOCK" cache gc 2>&1 | grep -q spare && [ ! -e "$ROOTSTOCK_ROOT/containers/spare" ]'
check "--commit keeps them as a new image" sh -c 'runroot --commit tiny2 $IMG sh -c "echo kept >/etc/marker" </dev/null >/dev/null && [ "$(runroot tiny2 cat /etc/marker </dev/null)" = kept ] && [ "$(runroot $IMG cat /etc/marker </dev/null)" = from-image ]'
out=$(runroot --commit new $IMG sh -c 'echo x > /f' </dev/null)
check "--commit prints the new image's name" [ "$out" = new:latest ]
check "the committed file is in the new image" sh -c '[ "$(runroot new cat /f </dev/null)" = x ]'
n_layers() { "$ROOTSTOCK" image inspect "$1" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["layers"]))'; }
check "the new image has one more layer" [ "$(n_layers new)" -eq "$(($(n_layers $IMG) + 1))" ]
expect_fail 3 "not committing 'broken': the command exited 3" "a command that fails is not committed" \
    sh -c 'runroot --commit broken $IMG sh -c "echo half >/f; exit 3" </dev/null'
check "... and no image of that name is made" sh -c '! "$ROOTSTOCK" image inspect broken >/dev/null 2>&1'
check "a commit of a commit stacks" sh -c 'runroot --commit newer new sh -c "echo y >> /f" </dev/null >/dev/null && [ "$(runroot newer cat /f </dev/null | tr "\n" " ")" = "x y " ]'
check "a directory IMAGE works as a read-only layer" sh -c 'runroot "$0" sh -c "echo x >/etc/marker" </dev/null && [ "$(cat "$0/etc/marker")" = from-image ]' "$R"
check "/dev has the standard nodes" sh -c 'runroot $IMG sh -c "test -c /dev/null && test -c /dev/zero && test -c /dev/full && test -c /dev/random && test -c /dev/urandom && test -c /dev/tty && test -c /dev/pts/ptmx && test -d /dev/shm && test -d /dev/mqueue" </dev/null'
check "/dev/pts is a new instance" sh -c 'runroot $IMG grep " /dev/pts " /proc/self/mountinfo </dev/null | grep -q newinstance || runroot $IMG grep -c devpts /proc/self/mountinfo </dev/null | grep -q 1'
check "/sys is read-only" sh -c 'runroot $IMG grep " /sys " /proc/self/mountinfo </dev/null | grep -q " ro,"'
check "/proc/keys is masked, /proc/kcore masked or absent" sh -c 'runroot $IMG sh -c "grep -q \" /proc/keys \" /proc/self/mountinfo && [ -z \"\$(cat /proc/keys)\" ] && { [ ! -e /proc/kcore ] || grep -q \" /proc/kcore \" /proc/self/mountinfo; }" </dev/null'
check "--read-only makes / read-only" sh -c '! runroot --read-only $IMG touch /x </dev/null 2>/dev/null'
check "-e, -w and -u" sh -c '[ "$(runroot -e FOO=bar -w /tmp -u 1000:1001 $IMG sh -c "echo \$FOO \$(pwd) \$(id -u) \$(id -g)" </dev/null)" = "bar /tmp 1000 1001" ]'
echo hostfile >"$T/vol.txt"
check "-v binds a host file read-only" sh -c '[ "$(runroot -v "$T/vol.txt:/mnt/v.txt:ro" $IMG cat /mnt/v.txt </dev/null)" = hostfile ] && ! runroot -v "$T/vol.txt:/mnt/v.txt:ro" $IMG sh -c "echo x >/mnt/v.txt" </dev/null 2>/dev/null'
check "exit status is the command's" sh -c 'runroot $IMG sh -c "exit 42" </dev/null; [ $? -eq 42 ]'
check "a signal gives 128+N" sh -c 'runroot $IMG sh -c "kill -TERM \$\$; sleep 1; exit 3" </dev/null; r=$?; [ $r -eq 143 ] || [ $r -eq 3 ]'
expect_fail 127 "^runroot: error: command not found: 'nope'" "a missing command exits 127" runroot $IMG nope
expect_fail 126 "^runroot: error: cannot execute '/etc/marker'" "a non-executable command exits 126" runroot $IMG /etc/marker
expect_fail 125 "^runroot: error: image 'missing(:latest)?' not found" "a missing image exits 125" runroot missing true
expect_fail 125 "^runroot: error: cannot change to the working directory '/etc/marker/sub': Not a directory" "a -w through a file exits 125 with the reason" runroot -w /etc/marker/sub $IMG true
check "--init: PID 1 is the init and the command runs as 2" sh -c '[ "$(runroot --init $IMG sh -c "echo \$\$" </dev/null)" = 2 ]'
check "--init passes the exit status through" sh -c 'runroot --init $IMG sh -c "exit 7" </dev/null; [ $? -eq 7 ]'
check "a signal to runroot reaches the command" sh -c 'runroot --init $IMG sleep 30 </dev/null & p=$!; sleep 0.5; kill -TERM $p; wait $p; [ $? -eq 143 ]'
# The reaper never execs: it must not keep runroot's fds (the store, the sync socket...).
init_fds() {
    runroot --init $IMG sleep 617 </dev/null & p=$!
    for ((i = 0; i < 300; i++)); do pgrep -f '^sleep 617$' >/dev/null && break; sleep 0.1; done
    init=$(pgrep -P $p)
    # Wait (bounded) for it to close them: it does so right after forking the command.
    for ((i = 0; i < 50; i++)); do
        n=$(ls /proc/$init/fd 2>/dev/null | wc -l)
        [ "$n" -eq 0 ] && break
        sleep 0.1
    done
    kill -TERM $p; wait $p
    echo "$n"
}
check "--init: the reaper holds no fd (runroot's fds are closed, not only close-on-exec)" [ "$(init_fds)" = 0 ]
check "with -t the command gets a pty of its own" sh -c 'runroot -t $IMG sh -c "tty; test -t 0" </dev/null 2>/dev/null | grep -q "^/dev/pts/0"'
done_testing
