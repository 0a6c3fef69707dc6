/* runroot's default seccomp profile: docker's allowlist, with its capability-dependent parts
 * driven by the container's effective capabilities, compiled to one BPF program. See seccomp.h
 * for the shape and why the program is generated here. */
#include "run/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/xalloc.h"

/* Always allowed: docker's unconditional list (moby profiles/seccomp, 2025), for the x86
 * family. Left out on purpose: io_uring_* (docker dropped them in 2023: a large kernel surface
 * that seccomp cannot see into), and the syscalls that get a rule of their own below (clone,
 * clone3, unshare, personality, ptrace and process_vm_*). Names the installed libseccomp does
 * not know yet are skipped, so they fail with EPERM: the list may run ahead of the library.
 * Packed by hand, alphabetically, to keep the list reviewable. */
/* clang-format off */
static const char *const base_syscalls[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk", "cachestat",
    "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
    "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
    "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2",
    "mlockall", "mmap", "mmap2", "modify_ldt", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
    "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
    "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
    "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
    "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall",
    "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx",
    "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill",
    "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
    "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
    "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
    "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev", NULL
};
/* clang-format on */

/* Allowed only when the container holds the capability (docker's "includes: caps"). */
static const struct {
    int cap;
    const char *const *names;
} cap_syscalls[] = {
    { CAP_DAC_READ_SEARCH, (const char *const[]){ "open_by_handle_at", NULL } },
    /* clone, clone3 and unshare here lose the argument checks below. */
    { CAP_SYS_ADMIN, (const char *const[]){ "bpf",
                                            "clone",
                                            "clone3",
                                            "fanotify_init",
                                            "fsconfig",
                                            "fsmount",
                                            "fsopen",
                                            "fspick",
                                            "lookup_dcookie",
                                            "lsm_get_self_attr",
                                            "lsm_list_modules",
                                            "lsm_set_self_attr",
                                            "mount",
                                            "mount_setattr",
                                            "move_mount",
                                            "open_tree",
                                            "perf_event_open",
                                            "quotactl",
                                            "quotactl_fd",
                                            "setdomainname",
                                            "sethostname",
                                            "setns",
                                            "syslog",
                                            "umount",
                                            "umount2",
                                            "unshare",
                                            NULL } },
    { CAP_SYS_BOOT, (const char *const[]){ "reboot", NULL } },
    { CAP_SYS_CHROOT, (const char *const[]){ "chroot", NULL } },
    { CAP_SYS_MODULE,
      (const char *const[]){ "delete_module", "init_module", "finit_module", NULL } },
    { CAP_SYS_PACCT, (const char *const[]){ "acct", NULL } },
    /* Docker allows ptrace and process_vm_* to everyone on kernels >= 4.8. Here they need
     * CAP_SYS_PTRACE, as in docker before 19.03: every process of a container usually runs
     * as uid 0, so an unconditional ptrace would let any of them take over any other. */
    { CAP_SYS_PTRACE,
      (const char *const[]){ "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                             "process_vm_writev", "ptrace", NULL } },
    { CAP_SYS_RAWIO, (const char *const[]){ "iopl", "ioperm", NULL } },
    { CAP_SYS_TIME,
      (const char *const[]){ "settimeofday", "stime", "clock_settime", "clock_settime64", NULL } },
    { CAP_SYS_TTY_CONFIG, (const char *const[]){ "vhangup", NULL } },
    { CAP_SYS_NICE, (const char *const[]){ "get_mempolicy", "mbind", "set_mempolicy",
                                           "set_mempolicy_home_node", NULL } },
    { CAP_SYSLOG, (const char *const[]){ "syslog", NULL } },
    { CAP_BPF, (const char *const[]){ "bpf", NULL } },
    { CAP_PERFMON, (const char *const[]){ "perf_event_open", NULL } },
};

/* libseccomp resolves i386's socket and SysV IPC calls to pseudo-syscalls (it routes them
 * through the socketcall and ipc multiplexers, which stay allowed), but kernels >= 4.3 and
 * >= 5.1 have direct syscalls for them too, which musl uses. Their numbers, from the kernel's
 * syscall_32.tbl; tests/unit/test_run_seccomp.c checks them against libseccomp's table. */
static const struct {
    const char *name;
    int nr;
} i386_direct[] = {
    { "recvmmsg", 337 },   { "sendmmsg", 345 },   { "socket", 359 },      { "socketpair", 360 },
    { "bind", 361 },       { "connect", 362 },    { "listen", 363 },      { "accept4", 364 },
    { "getsockopt", 365 }, { "setsockopt", 366 }, { "getsockname", 367 }, { "getpeername", 368 },
    { "sendto", 369 },     { "sendmsg", 370 },    { "recvfrom", 371 },    { "recvmsg", 372 },
    { "shutdown", 373 },   { "semget", 393 },     { "semctl", 394 },      { "shmget", 395 },
    { "shmctl", 396 },     { "shmat", 397 },      { "shmdt", 398 },       { "msgget", 399 },
    { "msgsnd", 400 },     { "msgrcv", 401 },     { "msgctl", 402 },
};

/* Syscalls from 424 on have one number on every ABI (x32 adds its bit), from the kernel's
 * scripts/syscall.tbl. These are the ones Debian 12's libseccomp (2.5.4) does not know yet:
 * without them, what the profile allows of them (statmount, mseal, the *xattrat calls…) was
 * refused. tests/unit/test_run_seccomp.c checks them against any libseccomp that knows them. */
static const struct {
    const char *name;
    int nr;
} unified_direct[] = {
    { "statmount", 457 },         { "listmount", 458 },        { "lsm_get_self_attr", 459 },
    { "lsm_set_self_attr", 460 }, { "lsm_list_modules", 461 }, { "mseal", 462 },
    { "setxattrat", 463 },        { "getxattrat", 464 },       { "listxattrat", 465 },
    { "removexattrat", 466 },
};

/* Namespace creation, refused to clone and unshare without CAP_SYS_ADMIN. CLONE_NEWTIME only
 * for unshare: in clone()'s flags that bit belongs to the exit signal (CSIGNAL). */
#define NS_CLONE_FLAGS                                                                  \
 ((uint32_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
             CLONE_NEWNET | CLONE_NEWCGROUP))
#define NS_UNSHARE_FLAGS (NS_CLONE_FLAGS | (uint32_t)CLONE_NEWTIME)

/* personality(2) values docker allows: PER_LINUX, PER_LINUX32, either with UNAME26, and
 * 0xffffffff (query). ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC stay out. */
static const uint32_t personalities[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
/* Keystroke injection into a terminal (CVE-2017-5226, bwrap), whatever the capabilities. */
static const uint32_t tty_ioctls[] = { TIOCSTI, TIOCLINUX };
/* AF_VSOCK reaches the hypervisor's host side (docker since 2022, containerd#7442); AF_ALG is
 * the kernel crypto API (docker since 2026, CVE-2026-31431). On i386 the socketcall
 * multiplexer, whose arguments sit in memory, still reaches them, as in docker. */
static const uint32_t denied_families[] = { AF_VSOCK, AF_ALG };

enum verdict {
    V_EPERM, /* the default: not in the profile */
    V_ALLOW,
    V_ENOSYS,      /* clone3: glibc falls back to clone, whose flags a filter can read */
    V_CLONE,       /* allowed without NS_CLONE_FLAGS */
    V_UNSHARE,     /* allowed without NS_UNSHARE_FLAGS */
    V_PERSONALITY, /* allowed with one of personalities[] */
    V_IOCTL,       /* allowed unless the request is one of tty_ioctls[] */
    V_SOCKET,      /* allowed unless the family is one of denied_families[] */
    V_NOOP,        /* returns 0 without running (RUN_SECCOMP_NO_SYNC's sync calls) */
    _V_MAX,
};

/* Syscall numbers of one ABI, from base on: enough for x86_64 (~470), i386 (~470), x32 (~550). */
#define ABI_TABLE_SIZE  1024
#define X32_SYSCALL_BIT 0x40000000U

struct abi {
    uint32_t scmp_arch; /* libseccomp's token, for the name lookups */
    uint32_t base;      /* the first number: X32_SYSCALL_BIT for x32, else 0 */
    uint8_t verdict[ABI_TABLE_SIZE];
};

struct range {
    uint32_t start; /* the first syscall number of the range; it ends where the next starts */
    enum verdict verdict;
};

struct bpf_buf {
    struct sock_filter *insns; /* BPF_MAXINSNS of them */
    size_t n_insns;
    bool overflow;
};

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
# define ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]))
#else
# define ARG_LO(i) ((uint32_t)offsetof(struct seccomp_data, args[i]) + 4)
#endif
#define RET_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

static bool has_cap(uint64_t caps, int cap)
{
    return cap >= 0 && cap < 64 && (caps & (1ULL << cap));
}

static int syscall_number(const struct abi *a, const char *name)
{
    int nr = seccomp_syscall_resolve_name_arch(a->scmp_arch, name);

    if (nr == __NR_SCMP_ERROR) {
        for (size_t i = 0; i < ELEMENTSOF(unified_direct); i++)
            if (strcmp(unified_direct[i].name, name) == 0)
                return (int)a->base + unified_direct[i].nr;
        return nr;
    }
    if (nr >= 0 || a->scmp_arch != SCMP_ARCH_X86)
        return nr;
    for (size_t i = 0; i < ELEMENTSOF(i386_direct); i++)
        if (strcmp(i386_direct[i].name, name) == 0)
            return i386_direct[i].nr;
    return nr;
}

/* The highest number of the shared range (424 on) that this ABI has a name for:
 * unified_direct's last, or further if libseccomp knows newer ones (they come in order). */
static uint32_t newest_known(const struct abi *a)
{
    uint32_t nr = (uint32_t)unified_direct[ELEMENTSOF(unified_direct) - 1].nr;

    for (;;) {
        char *name = seccomp_syscall_resolve_num_arch(a->scmp_arch, (int)(a->base + nr + 1));
        if (!name)
            return nr;
        free(name);
        nr++;
    }
}

static void mark(struct abi *a, const char *name, enum verdict v)
{
    int nr = syscall_number(a, name);
    uint32_t i;

    /* Unknown to this libseccomp (__NR_SCMP_ERROR), or a pseudo-syscall: not a syscall of
     * this ABI. It stays refused. */
    if (nr < 0)
        return;
    i = (uint32_t)nr - a->base;
    if ((uint32_t)nr >= a->base && i < ABI_TABLE_SIZE)
        a->verdict[i] = (uint8_t)v;
}

static void mark_all(struct abi *a, const char *const *names, enum verdict v)
{
    for (; *names; names++)
        mark(a, *names, v);
}

/* The calls that wait for data to reach the disk; msync stays, as its MS_INVALIDATE is more
 * than a wait. */
static const char *const sync_syscalls[] = {
    "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "sync_file_range2", NULL,
};

static void abi_init(struct abi *a, uint32_t scmp_arch, uint32_t base, uint64_t caps,
                     unsigned flags)
{
    bool sys_admin = has_cap(caps, CAP_SYS_ADMIN);

    memset(a, 0, sizeof(*a));
    a->scmp_arch = scmp_arch;
    a->base = base;
    mark_all(a, base_syscalls, V_ALLOW);
    for (size_t i = 0; i < ELEMENTSOF(cap_syscalls); i++)
        if (has_cap(caps, cap_syscalls[i].cap))
            mark_all(a, cap_syscalls[i].names, V_ALLOW);
    if (!sys_admin) {
        mark(a, "clone", V_CLONE);
        mark(a, "unshare", V_UNSHARE);
        mark(a, "clone3", V_ENOSYS);
    }
    mark(a, "personality", V_PERSONALITY);
    mark(a, "ioctl", V_IOCTL);
    mark(a, "socket", V_SOCKET);
    if (flags & RUN_SECCOMP_NO_SYNC)
        mark_all(a, sync_syscalls, V_NOOP);
    /* Numbers newer than any name we know answer ENOSYS, as runc's filter does: a program
     * (glibc first) takes ENOSYS for "this kernel lacks it" and falls back to an older call,
     * where EPERM would be a hard failure. Known calls outside the profile keep EPERM. x32's
     * own old numbers (512 on) that the profile leaves out get ENOSYS too: both refuse. */
    for (uint32_t i = newest_known(a) + 1; i < ABI_TABLE_SIZE; i++)
        if (a->verdict[i] == V_EPERM)
            a->verdict[i] = V_ENOSYS;
}

/* Runs of equal verdicts; the last one (ENOSYS: beyond every known number) reaches to the end
 * of the numbering. Returns the count; ret has room for ABI_TABLE_SIZE + 1. */
static size_t abi_ranges(const struct abi *a, struct range *ret)
{
    size_t n = 0;

    for (size_t i = 0; i < ABI_TABLE_SIZE; i++)
        if (n == 0 || ret[n - 1].verdict != a->verdict[i])
            ret[n++] = (struct range){ a->base + (uint32_t)i, (enum verdict)a->verdict[i] };
    if (ret[n - 1].verdict != V_ENOSYS)
        ret[n++] = (struct range){ a->base + ABI_TABLE_SIZE, V_ENOSYS };
    return n;
}

static size_t emit(struct bpf_buf *b, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
    if (b->n_insns >= BPF_MAXINSNS) {
        b->overflow = true;
        return 0;
    }
    b->insns[b->n_insns] = (struct sock_filter){ code, jt, jf, k };
    return b->n_insns++;
}

/* Load the low word of argument arg; then ret on_match if it equals one of values[], else ret
 * otherwise. */
static void emit_values(struct bpf_buf *b, unsigned arg, const uint32_t *values, size_t n_values,
                        uint32_t on_match, uint32_t otherwise)
{
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(arg));
    for (size_t i = 0; i < n_values; i++)
        emit(b, BPF_JMP | BPF_JEQ | BPF_K, (uint8_t)(n_values - i), 0, values[i]);
    emit(b, BPF_RET | BPF_K, 0, 0, otherwise);
    emit(b, BPF_RET | BPF_K, 0, 0, on_match);
}

/* Refuse when any bit of mask is set in the low word of argument 0. */
static void emit_no_bits(struct bpf_buf *b, uint32_t mask)
{
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LO(0));
    emit(b, BPF_JMP | BPF_JSET | BPF_K, 0, 1, mask);
    emit(b, BPF_RET | BPF_K, 0, 0, RET_EPERM);
    emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
}

static void emit_verdict(struct bpf_buf *b, enum verdict v)
{
    switch (v) {
    case V_EPERM:
    case _V_MAX:
        emit(b, BPF_RET | BPF_K, 0, 0, RET_EPERM);
        break;
    case V_ALLOW:
        emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
        break;
    case V_ENOSYS:
        emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
        break;
    case V_NOOP:
        /* errno 0: the kernel skips the call and sets its return value to -0 */
        emit(b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO);
        break;
    case V_CLONE:
        emit_no_bits(b, NS_CLONE_FLAGS);
        break;
    case V_UNSHARE:
        emit_no_bits(b, NS_UNSHARE_FLAGS);
        break;
    case V_PERSONALITY:
        emit_values(b, 0, personalities, ELEMENTSOF(personalities), SECCOMP_RET_ALLOW, RET_EPERM);
        break;
    case V_IOCTL:
        emit_values(b, 1, tty_ioctls, ELEMENTSOF(tty_ioctls), RET_EPERM, SECCOMP_RET_ALLOW);
        break;
    case V_SOCKET:
        emit_values(b, 0, denied_families, ELEMENTSOF(denied_families), RET_EPERM,
                    SECCOMP_RET_ALLOW);
        break;
    }
}

/* With the syscall number in A: a binary search over ranges. Every leaf ends in a return, so
 * the right half is reached only through its jump, with A intact. Conditional jumps go at
 * most one instruction ahead (their offsets are 8 bits); the long ones are BPF_JA. */
static void emit_tree(struct bpf_buf *b, const struct range *r, size_t n)
{
    size_t mid, ja;

    if (n == 1) {
        emit_verdict(b, r[0].verdict);
        return;
    }
    mid = n / 2;
    emit(b, BPF_JMP | BPF_JGE | BPF_K, 0, 1, r[mid].start);
    ja = emit(b, BPF_JMP | BPF_JA, 0, 0, 0);
    emit_tree(b, r, mid);
    if (!b->overflow)
        b->insns[ja].k = (uint32_t)(b->n_insns - ja - 1);
    emit_tree(b, r + mid, n - mid);
}

static void emit_abi(struct bpf_buf *b, struct abi *a, struct range *ranges, uint32_t scmp_arch,
                     uint32_t base, uint64_t caps, unsigned flags)
{
    abi_init(a, scmp_arch, base, caps, flags);
    emit_tree(b, ranges, abi_ranges(a, ranges));
}

/* Jump from the BPF_JA at ja to here. */
static void land(struct bpf_buf *b, size_t ja)
{
    if (!b->overflow)
        b->insns[ja].k = (uint32_t)(b->n_insns - ja - 1);
}

int run_seccomp_build(uint64_t caps, unsigned flags, struct sock_fprog *ret)
{
    _cleanup_free_ struct sock_filter *insns = xcalloc(BPF_MAXINSNS, sizeof(*insns));
    _cleanup_free_ struct abi *a = xmalloc(sizeof(*a));
    _cleanup_free_ struct range *ranges = xcalloc(ABI_TABLE_SIZE + 1, sizeof(*ranges));
    struct bpf_buf b = { .insns = insns };
    size_t to_native;

    emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, seccomp_arch_native());
    to_native = emit(&b, BPF_JMP | BPF_JA, 0, 0, 0);
#if defined(__x86_64__)
    size_t to_i386, to_x32;

    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, AUDIT_ARCH_I386);
    to_i386 = emit(&b, BPF_JMP | BPF_JA, 0, 0, 0);
#endif
    /* Another ABI (or a kernel feeding us an arch we do not know): nothing to allow. */
    emit(&b, BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);

    land(&b, to_native);
    emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    /* x32 shares x86_64's audit arch; its numbers carry __X32_SYSCALL_BIT. */
    emit(&b, BPF_JMP | BPF_JGE | BPF_K, 0, 1, X32_SYSCALL_BIT);
    to_x32 = emit(&b, BPF_JMP | BPF_JA, 0, 0, 0);
#endif
    emit_abi(&b, a, ranges, seccomp_arch_native(), 0, caps, flags);
#if defined(__x86_64__)
    land(&b, to_x32);
    emit_abi(&b, a, ranges, SCMP_ARCH_X32, X32_SYSCALL_BIT, caps, flags);
    land(&b, to_i386);
    emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
    emit_abi(&b, a, ranges, SCMP_ARCH_X86, 0, caps, flags);
#endif
    if (b.overflow)
        return -E2BIG;
    ret->len = (unsigned short)b.n_insns;
    ret->filter = TAKE_PTR(insns);
    return 0;
}

void run_seccomp_send(const struct sock_fprog *prog, int sock)
{
    /* A child that is gone already sent its own error (or fails to receive this one, and
     * says so): that message is the one to print, not EPIPE here. */
    if (send(sock, prog->filter, prog->len * sizeof(*prog->filter), MSG_NOSIGNAL) < 0)
        log_debug("cannot pass the seccomp filter to the container: %m");
}

int run_seccomp_load(int sock, struct child_msg *m)
{
    _cleanup_free_ struct sock_filter *insns = xcalloc(BPF_MAXINSNS, sizeof(*insns));
    struct sock_fprog prog = { .filter = insns };
    ssize_t n;

    do
        n = recv(sock, insns, BPF_MAXINSNS * sizeof(*insns), MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    /* An empty, truncated or ragged message is not a program: refuse to exec without one. */
    if (n <= 0 || (size_t)n > BPF_MAXINSNS * sizeof(*insns) || n % sizeof(*insns) != 0)
        return run_child_fail(m, n < 0 ? errno : EBADMSG, "cannot receive the seccomp filter");
    prog.len = (unsigned short)(n / sizeof(*insns));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
        return run_child_fail(m, errno, "cannot load the seccomp filter");
    return 0;
}
