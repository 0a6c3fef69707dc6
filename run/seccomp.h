#pragma once
/* runroot's default seccomp profile, modelled on docker's (moby profiles/seccomp/default.json):
 * an allowlist. Whatever the profile does not name fails with EPERM, so a syscall added to the
 * kernel after the list was written is refused until someone reviews it, where a denylist would
 * let it through. Which rules apply follows the container's effective capabilities, as docker's
 * "includes: caps" do: CAP_SYS_ADMIN opens mount, namespaces, clone3, bpf, ...; CAP_SYS_PTRACE
 * opens ptrace; CAP_SYS_TIME the clock setters; and so on.
 *
 * Some syscalls are allowed only with some arguments: clone and unshare without namespace
 * flags (unless CAP_SYS_ADMIN), personality with the values docker allows, ioctl except
 * TIOCSTI/TIOCLINUX, socket except AF_VSOCK/AF_ALG. Those arguments are ints to the kernel,
 * and only their low 32 bits are compared: a high word cannot smuggle a refused value past a
 * test (CVE-2019-10063).
 *
 * ABIs (x86_64 hosts): the native one and the two compat ones docker allows, i386 (int 0x80)
 * and x32, get the same profile, each in its own syscall numbering; a syscall made through any
 * other audit arch kills the process.
 *
 * The BPF program is generated here rather than by libseccomp's rule database, which took
 * 2 ms (native ABI only) to 24 ms (three ABIs, binary tree) to build and load ~370 rules;
 * libseccomp still provides each ABI's syscall numbers. The program is a binary search over
 * ranges of syscall numbers with the same verdict (about 10 comparisons per syscall). */

#include <stdint.h>

#include <linux/filter.h>

#include "run/run-internal.h"

/* With RUN_SECCOMP_NO_SYNC, fsync, fdatasync, sync, syncfs and sync_file_range return 0
 * without waiting for anything (run_options.no_sync). */
#define RUN_SECCOMP_NO_SYNC 1u

/* Build the profile for the capability mask caps (1ULL << CAP_X: the container's effective
 * set) and flags (RUN_SECCOMP_*) as a classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER). On
 * success ret->filter is the caller's, to free(). Returns 0, or -E2BIG if the program would exceed
 * BPF_MAXINSNS (a profile too large for the kernel: a bug here). Installs nothing. */
int run_seccomp_build(uint64_t caps, unsigned flags, struct sock_fprog *ret);

/* The parent's half: send a program from run_seccomp_build() over sock as one message of raw
 * instructions. The parent builds it while the child is still busy with its mounts (the
 * build is ~0.4 ms of syscall-name lookups, off the child's critical path this way). A child
 * that is gone already sent its own message, which tells why: nothing is returned. */
void run_seccomp_send(const struct sock_fprog *prog, int sock);

/* In the container's child, at the end of its setup (with CAP_SYS_ADMIN still held, or
 * no_new_privs set): receive the program run_seccomp_send() sent over sock and load it. Every
 * call the setup makes afterwards must be one the profile allows. Returns 0, or -errno with
 * msg filled. */
int run_seccomp_load(int sock, struct child_msg *msg);
