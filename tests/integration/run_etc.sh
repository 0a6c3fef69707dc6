#!/bin/bash
# runroot: the container's own /etc/hostname, /etc/hosts and (--net host) /etc/resolv.conf, as
# docker and podman write them. They live in a tmpfs laid over the image as its top layer, so
# "localhost" and the hostname resolve in a root without /etc/hosts (a minbase has none), and
# nothing of them reaches the container's upper (commits, the spare directory). Also the two
# ways the overlay is mounted (fsopen, and one mount(2) option string as before kernel 6.8,
# forced with the nosys helper), with more layers than one option string holds.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd busybox
[ -x "$RS_HELPERS/nosys" ] || skip_all "needs the nosys helper"
need_overlay

# busybox_root DIR: busybox's applets in DIR/bin, and no /proc, /sys or /dev to mount on.
busybox_root() {
    mkdir -p "$1/bin"
    cp "$(command -v busybox)" "$1/bin/busybox"
    for a in $(busybox --list); do [ "$a" = busybox ] || ln -s busybox "$1/bin/$a"; done
}
import() { "$ROOTSTOCK" image import-dir "$1" "$2" >/dev/null 2>"$T/import.err" || bail_out "image import-dir $2: $(cat "$T/import.err")"; }
rr() { runroot "$@" </dev/null; }
export -f rr

# The image has the build host's hosts, hostname and resolv.conf, as debootstrap leaves them,
# and an /etc of its own mode, group and time.
R=$T/root
busybox_root "$R"
mkdir -p "$R/etc"
printf '10.9.9.9\timagehost\n' >"$R/etc/hosts"
echo build-host >"$R/etc/hostname"
echo 'nameserver 192.0.2.53' >"$R/etc/resolv.conf"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\napp:x:1000:\naudio:x:29:other,app\n' >"$R/etc/group"
chmod 751 "$R/etc"
chgrp 4 "$R/etc"
touch -d '2001-02-03 04:05:06 UTC' "$R/etc"
import "$R" tiny
etc_want="751 0 4 $(date -d '2001-02-03 04:05:06 UTC' +%s)"

plan 27
check "/etc/hostname holds the container's hostname" rr tiny sh -c '[ "$(cat /etc/hostname)" = "$(hostname)" ]'
check "localhost answers, and the hostname resolves to 127.0.1.1" \
    rr tiny sh -c 'ping -c1 -W2 localhost >/dev/null && [ "$(hostname -i)" = 127.0.1.1 ]'
check "--hostname web1 is in /etc/hostname and /etc/hosts" \
    bash -c '[ "$(rr --hostname web1 tiny sh -c "cat /etc/hostname; grep -c \"^127.0.1.1	web1$\" /etc/hosts" | tr "\n" " ")" = "web1 1 " ]'
check "the image's /etc/hosts is replaced; --no-hosts keeps it" \
    bash -c '! rr tiny grep -q imagehost /etc/hosts && [ "$(rr --no-hosts tiny cat /etc/hosts)" = "$(cat "$1/etc/hosts")" ]' _ "$R"
check "the private network keeps the image's /etc/resolv.conf" \
    bash -c '[ "$(rr tiny cat /etc/resolv.conf)" = "nameserver 192.0.2.53" ]'
host_hosts=$(cat /etc/hosts 2>/dev/null; printf '127.0.1.1\thb')
check "--net host: /etc/hosts is the host's and the hostname" \
    bash -c '[ "$(rr --net host --hostname hb tiny cat /etc/hosts)" = "$1" ]' _ "$host_hosts"
# A blocklist's hosts file (3 MiB), as the host's /etc/hosts in a mount namespace of the test's.
for i in $(seq 1 100000); do printf '0.0.0.0\tad%06d.example\n' "$i"; done >"$T/bighosts"
check "--net host: a host's hosts file of 3 MiB is there whole" unshare -m bash -c '
    mount --bind "$1" /etc/hosts &&
    [ "$(rr --net host --hostname hb tiny sh -c "grep -c ^0.0.0.0 /etc/hosts; tail -1 /etc/hosts")" = "100000
127.0.1.1	hb" ]' _ "$T/bighosts"
if [ -r /etc/resolv.conf ]; then
    check "--net host: /etc/resolv.conf is the host's" cmp -s <(rr --net host tiny cat /etc/resolv.conf) /etc/resolv.conf
else
    check "--net host without a host resolv.conf keeps the image's" \
        bash -c '[ "$(rr --net host tiny cat /etc/resolv.conf)" = "nameserver 192.0.2.53" ]'
fi
check "/etc keeps the image's mode, owner and times" \
    bash -c '[ "$(rr tiny stat -c "%a %u %g %Y" /etc)" = "$1" ]' _ "$etc_want"
check "uid 1000 reads them; with --read-only they cannot be changed" \
    bash -c 'rr -u 1000 tiny grep -q localhost /etc/hosts && ! rr --read-only tiny sh -c "echo x >>/etc/hosts" 2>/dev/null'
check "a run that writes nothing leaves only the empty spare (the mount points are in the top layer)" \
    bash -c '[ "$(ls "$ROOTSTOCK_ROOT/containers")" = spare ] && [ -z "$(ls -A "$ROOTSTOCK_ROOT/containers/spare/upper")" ]'

# --commit: the container's change to /etc is kept (in an /etc with the image's attributes),
# its own files are not.
rr --commit c1 tiny sh -c 'echo new >/etc/new' >/dev/null
top_layer_of() { "$ROOTSTOCK" image inspect "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][-1])'; }
check "--commit keeps a change in /etc but not the container's hostname, hosts and mount points" bash -c '
    [ "$(rr --no-hosts c1 sh -c "cat /etc/new /etc/hosts; stat -c %a /etc" | tr "\n" " ")" = "new 10.9.9.9	imagehost 751 " ] &&
    [ "$(cd "$ROOTSTOCK_ROOT/layers/$1/root" && find . | sort | tr "\n" " ")" = ". ./etc ./etc/new " ]' _ "$(top_layer_of c1)"
rr --commit c2 tiny sh -c 'echo x >>/etc/hosts; echo other >/etc/hostname; echo n >/etc/new2' >/dev/null
check "--commit leaves out the command's changes to its own hostname and hosts, as docker" bash -c '
    [ "$(cd "$ROOTSTOCK_ROOT/layers/$1/root" && find . | sort | tr "\n" " ")" = ". ./etc ./etc/new2 " ] &&
    [ "$(rr --no-hosts c2 cat /etc/hosts)" = "10.9.9.9	imagehost" ]' _ "$(top_layer_of c2)"

# An /etc that is not a directory is the image's business: left as it is.
L=$T/linked
busybox_root "$L"
mkdir -p "$L/usr/etc"
echo img-linked >"$L/usr/etc/hostname"
ln -s usr/etc "$L/etc"
# ... but /proc, /sys and /dev are the container's whatever the image has there: a /proc
# linked to where runroot keeps the old root is its own procfs, not the host's.
ln -s /dev/.runroot-oldroot/proc "$L/proc"
ln -s /dev/.runroot-oldroot/sys "$L/sys"
import "$L" linked
check "an image whose /etc is a symlink keeps it and its files" \
    bash -c '[ "$(rr linked sh -c "readlink /etc; cat /etc/hostname" | tr "\n" " ")" = "usr/etc img-linked " ]'
check "... and its /proc and /sys, links to the old root's, are the container's own mounts" \
    bash -c '[ "$(rr linked sh -c "[ -d /proc ] && [ ! -L /proc ] && [ ! -L /sys ] && cat /proc/1/comm && ls /sys/class/net")" = "sh
lo" ]'
N=$T/noetc
busybox_root "$N"
check "a root without /etc gets one (0755) with the hostname and hosts" \
    bash -c '[ "$(rr "$1" sh -c "stat -c %a /etc; ls /etc" | tr "\n" " ")" = "755 hostname hosts " ]' _ "$N"

# 60 layers, whose paths in one "lowerdir=" string exceed a page: the mount(2) path names
# them by fd number from /proc/self/fd; fsopen takes them one at a time.
prev=tiny
for i in $(seq 1 59); do
    rr --commit "deep$i" "$prev" sh -c "echo $i >/l$i" >/dev/null || bail_out "commit deep$i failed"
    prev=deep$i
done
check "60 layers: every layer is seen, with fsopen" \
    bash -c '[ "$(rr deep59 sh -c "cat /l* | wc -l; hostname -i; grep -c lowerdir+= /proc/self/mountinfo")" = "59
127.0.1.1
1" ]'
check "60 layers: every layer is seen, with one mount(2) naming them by fd" \
    bash -c '[ "$("$RS_HELPERS/nosys" 430 runroot deep59 sh -c "cat /l* | wc -l; hostname -i; grep -c \"lowerdir=[0-9][0-9]*:[0-9]\" /proc/self/mountinfo" </dev/null)" = "59
127.0.1.1
1" ]'
check "--add-host: the names resolve, an IPv6 address may be in brackets" \
    bash -c '[ "$(rr --add-host db:127.0.0.5 --add-host v6:[fd00::1] tiny sh -c "ping -c1 -W2 db | head -1; grep v6 /etc/hosts")" = "PING db (127.0.0.5): 56 data bytes
fd00::1	v6" ]'
expect_fail 2 "invalid host 'db:1.2.3': '1.2.3' is not an IP address" "--add-host with a bad address is a usage error" \
    runroot --add-host db:1.2.3 tiny true
expect_fail 125 "cannot add hosts with --no-hosts" "--add-host with --no-hosts is refused" \
    runroot --no-hosts --add-host db:127.0.0.5 tiny true
# -u as docker takes it: names and numbers looked up in the image's /etc/passwd and /etc/group.
check "-u NAME: the uid, group, supplementary groups and HOME of its entry" \
    bash -c '[ "$(rr -u app tiny sh -c "id -u; id -g; id -G; echo \$HOME" | tr "\n" " ")" = "1000 1000 1000 29 /home/app " ]'
check "-u UID:GROUP takes the group by name; a number without an entry gets group 0 and HOME /" \
    bash -c '[ "$(rr -u 1000:audio tiny id -g)" = 29 ] && [ "$(rr -u 2000 tiny sh -c "id -u; id -g; echo \$HOME" | tr "\n" " ")" = "2000 0 / " ]'
expect_fail 125 "^runroot: error: user 'ghost' is not in the image's /etc/passwd$" \
    "a user the image does not know is refused, naming it" runroot -u ghost tiny true
"$ROOTSTOCK" image import-dir "$R" tiny-app --user app >/dev/null 2>&1 || bail_out "image import-dir --user failed"
check "the image's own User is looked up the same way" bash -c '[ "$(rr tiny-app id -u)" = 1000 ]'
F=$T/fifo
busybox_root "$F"
mkdir -p "$F/etc"
mkfifo "$F/etc/passwd"
import "$F" fifo
expect_fail 125 "^runroot: error: the image's /etc/passwd is not a regular file$" \
    "a FIFO at /etc/passwd is refused, not waited on" timeout 20 runroot -u app fifo true
expect_fail 125 "invalid hostname 'a b'" "a hostname that would break /etc/hosts is refused" \
    runroot --hostname 'a b' tiny true

done_testing
