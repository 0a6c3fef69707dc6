/* The default seccomp profile (run/seccomp.c): the program it generates is run here through a
 * small classic-BPF interpreter on seccomp_data records, so every test states a decision the
 * kernel would make: this syscall, these arguments, this ABI, these capabilities -> allow,
 * EPERM, ENOSYS or kill. No root, nothing installed. */

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <seccomp.h>

#include "run/seccomp.h"

#define ALLOW      SECCOMP_RET_ALLOW
#define EPERM_RET  (SECCOMP_RET_ERRNO | EPERM)
#define ENOSYS_RET (SECCOMP_RET_ERRNO | ENOSYS)
#define KILL       SECCOMP_RET_KILL_PROCESS
#define X32_BIT    0x40000000U
#define BIT(cap)   (1ULL << (cap))

static uint64_t default_caps(void)
{
    return run_default_caps();
}

/* The classic BPF subset a seccomp filter may use, as the kernel runs it. Fails the test on
 * an instruction outside it, a jump out of the program, or a fall off its end. */
static uint32_t bpf_run(const struct sock_fprog *f, const struct seccomp_data *d)
{
    uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

    for (size_t pc = 0; pc < f->len; pc++) {
        const struct sock_filter *i = &f->filter[pc];
        uint32_t src = BPF_SRC(i->code) == BPF_X ? x : i->k;

        switch (BPF_CLASS(i->code)) {
        case BPF_LD:
            if (BPF_MODE(i->code) == BPF_ABS) {
                assert_true(i->k + 4 <= sizeof(*d) && i->k % 4 == 0);
                memcpy(&a, (const char *)d + i->k, 4);
            } else if (BPF_MODE(i->code) == BPF_IMM) {
                a = i->k;
            } else {
                assert_true(BPF_MODE(i->code) == BPF_MEM && i->k < BPF_MEMWORDS);
                a = mem[i->k];
            }
            break;
        case BPF_LDX:
            x = BPF_MODE(i->code) == BPF_IMM ? i->k : mem[i->k % BPF_MEMWORDS];
            break;
        case BPF_ST:
            mem[i->k % BPF_MEMWORDS] = a;
            break;
        case BPF_STX:
            mem[i->k % BPF_MEMWORDS] = x;
            break;
        case BPF_ALU:
            switch (BPF_OP(i->code)) {
            case BPF_AND:
                a &= src;
                break;
            case BPF_OR:
                a |= src;
                break;
            case BPF_ADD:
                a += src;
                break;
            case BPF_SUB:
                a -= src;
                break;
            default:
                fail_msg("unexpected ALU op %#x at %zu", i->code, pc);
            }
            break;
        case BPF_JMP: {
            bool taken = false; /* fail_msg() does not return, but the compiler cannot see it */
            if (BPF_OP(i->code) == BPF_JA) {
                pc += i->k;
                assert_true(pc < f->len);
                continue;
            }
            switch (BPF_OP(i->code)) {
            case BPF_JEQ:
                taken = a == src;
                break;
            case BPF_JGT:
                taken = a > src;
                break;
            case BPF_JGE:
                taken = a >= src;
                break;
            case BPF_JSET:
                taken = (a & src) != 0;
                break;
            default:
                fail_msg("unexpected jump %#x at %zu", i->code, pc);
            }
            pc += taken ? i->jt : i->jf;
            assert_true(pc + 1 < f->len);
            break;
        }
        case BPF_RET:
            return BPF_RVAL(i->code) == BPF_A ? a : i->k;
        case BPF_MISC:
            if (BPF_MISCOP(i->code) == BPF_TAX)
                x = a;
            else
                a = x;
            break;
        default:
            fail_msg("unexpected instruction %#x at %zu", i->code, pc);
        }
    }
    fail_msg("the program ran off its end");
    return 0;
}

struct profile {
    struct sock_fprog prog;
};

static void profile_build_flags(struct profile *p, uint64_t caps, unsigned flags)
{
    memset(p, 0, sizeof(*p));
    assert_int_equal(run_seccomp_build(caps, flags, &p->prog), 0);
    assert_non_null(p->prog.filter);
    assert_true(p->prog.len > 0 && p->prog.len <= BPF_MAXINSNS);
}

static void profile_build(struct profile *p, uint64_t caps)
{
    profile_build_flags(p, caps, 0);
}

static void profile_release(struct profile *p)
{
    free(p->prog.filter);
    p->prog.filter = NULL;
}

static uint32_t decide_nr(const struct profile *p, uint32_t arch, int nr, uint64_t a0, uint64_t a1)
{
    struct seccomp_data d = { .nr = nr, .arch = arch, .args = { a0, a1 } };
    return bpf_run(&p->prog, &d);
}

/* Decide name(a0, a1) on the ABI with libseccomp token scmp_arch (whose audit arch it is). */
static uint32_t decide_on(const struct profile *p, uint32_t scmp_arch, const char *name,
                          uint64_t a0, uint64_t a1)
{
    int nr = seccomp_syscall_resolve_name_arch(scmp_arch, name);
    uint32_t audit = scmp_arch == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : scmp_arch;

    if (nr < 0)
        fail_msg("'%s' is not a syscall of this ABI", name);
    return decide_nr(p, audit, nr, a0, a1);
}

static uint32_t decide(const struct profile *p, const char *name, uint64_t a0, uint64_t a1)
{
    return decide_on(p, SCMP_ARCH_X86_64, name, a0, a1);
}

static void seccomp__everyday_syscalls_are_allowed(void **state)
{
    static const char *const names[] = { "read",      "write",        "openat",     "close",
                                         "mmap",      "execve",       "fork",       "vfork",
                                         "wait4",     "rt_sigaction", "getdents64", "statx",
                                         "setresuid", "setgroups",    "chown",      "mknod",
                                         "setxattr",  "chroot",       "kill",       "setpgid",
                                         "pipe2",     "epoll_wait",   "rseq" };
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (decide(&p, names[i], 0, 0) != ALLOW)
            fail_msg("'%s' is not allowed", names[i]);
    profile_release(&p);
}

/* mkroot's configure container: the sync calls return 0 untouched on every ABI; without the
 * flag they run. Nothing else changes. */
static void seccomp__no_sync_skips_only_the_sync_calls(void **state)
{
    static const char *const syncs[] = { "fsync", "fdatasync", "sync", "syncfs",
                                         "sync_file_range" };
    static const uint32_t abis[] = { SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32 };
    struct profile p, nosync;

    (void)state;
    profile_build(&p, default_caps());
    profile_build_flags(&nosync, default_caps(), RUN_SECCOMP_NO_SYNC);
    for (size_t a = 0; a < sizeof(abis) / sizeof(abis[0]); a++)
        for (size_t i = 0; i < sizeof(syncs) / sizeof(syncs[0]); i++) {
            if (decide_on(&p, abis[a], syncs[i], 0, 0) != ALLOW)
                fail_msg("'%s' is not allowed", syncs[i]);
            if (decide_on(&nosync, abis[a], syncs[i], 0, 0) != SECCOMP_RET_ERRNO)
                fail_msg("'%s' is not skipped with RUN_SECCOMP_NO_SYNC", syncs[i]);
        }
    assert_int_equal(decide(&nosync, "msync", 0, 0), ALLOW);
    assert_int_equal(decide(&nosync, "write", 0, 0), ALLOW);
    assert_int_equal(decide(&nosync, "mount", 0, 0), EPERM_RET);
    profile_release(&p);
    profile_release(&nosync);
}

/* apt's methods install a filter of their own, as do browsers and systemd services. */
static void seccomp__nested_filters_can_be_installed(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    assert_int_equal(decide(&p, "seccomp", SECCOMP_SET_MODE_FILTER, 0), ALLOW);
    assert_int_equal(decide(&p, "prctl", PR_SET_SECCOMP, 0), ALLOW);
    assert_int_equal(decide(&p, "prctl", PR_SET_NO_NEW_PRIVS, 0), ALLOW);
    profile_release(&p);
}

static void seccomp__syscalls_outside_the_profile_fail_with_eperm(void **state)
{
    static const char *const names[] = { "keyctl",
                                         "add_key",
                                         "request_key",
                                         "userfaultfd",
                                         "io_uring_setup",
                                         "io_uring_enter",
                                         "kexec_load",
                                         "pivot_root",
                                         "swapon",
                                         "move_pages",
                                         "uselib",
                                         "mount",
                                         "umount2",
                                         "setns",
                                         "sethostname",
                                         "ptrace",
                                         "process_vm_writev",
                                         "reboot",
                                         "init_module",
                                         "bpf",
                                         "perf_event_open",
                                         "open_by_handle_at",
                                         "settimeofday",
                                         "syslog",
                                         "acct",
                                         "iopl",
                                         "mbind",
                                         "vhangup",
                                         "kcmp" };
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (decide(&p, names[i], 0, 0) != EPERM_RET)
            fail_msg("'%s' is not refused with EPERM", names[i]);
    /* A known number in a gap of x86_64's table (uretprobe's, unknown to older libseccomp). */
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 335, 0, 0), EPERM_RET);
    profile_release(&p);
}

/* Numbers newer than every name known answer ENOSYS (glibc then falls back to an older call),
 * on every ABI; so does the -1 of a syscall skipped by a tracer. */
static void seccomp__numbers_newer_than_known_get_enosys(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 500, 0, 0), ENOSYS_RET);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 1000, 0, 0), ENOSYS_RET);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 5000, 0, 0), ENOSYS_RET);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, -1, 0, 0), ENOSYS_RET);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_I386, 500, 0, 0), ENOSYS_RET);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, X32_BIT | 500, 0, 0), ENOSYS_RET);
    /* the last number of the shared range the profile knows, and the one after it */
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 466, 0, 0), ALLOW);
    int next = 467;
    for (char *name; (name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, next)); next++)
        free(name);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, next, 0, 0), ENOSYS_RET);
    profile_release(&p);
}

/* The shared-range numbers the profile carries for an older libseccomp: allowed on every ABI,
 * and equal to libseccomp's own wherever it knows the name. */
static void seccomp__newer_shared_syscalls_are_allowed_by_number(void **state)
{
    static const struct {
        const char *name;
        int nr;
    } shared[] = { { "statmount", 457 },    { "listmount", 458 },  { "mseal", 462 },
                   { "setxattrat", 463 },   { "getxattrat", 464 }, { "listxattrat", 465 },
                   { "removexattrat", 466 } };
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
        int known = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, shared[i].name);
        if (known >= 0 && known != shared[i].nr)
            fail_msg("'%s' is %d in libseccomp, %d here", shared[i].name, known, shared[i].nr);
        if (decide_nr(&p, AUDIT_ARCH_X86_64, shared[i].nr, 0, 0) != ALLOW ||
            decide_nr(&p, AUDIT_ARCH_I386, shared[i].nr, 0, 0) != ALLOW ||
            decide_nr(&p, AUDIT_ARCH_X86_64, (int)(X32_BIT | (uint32_t)shared[i].nr), 0, 0) !=
                ALLOW)
            fail_msg("'%s' (%d) is not allowed on every ABI", shared[i].name, shared[i].nr);
    }
    /* known by number, and still refused without CAP_SYS_ADMIN, as in docker */
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 459, 0, 0), EPERM_RET);
    profile_release(&p);
    profile_build(&p, default_caps() | BIT(CAP_SYS_ADMIN));
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, 459, 0, 0), ALLOW);
    profile_release(&p);
}

static void seccomp__mount_and_namespaces_need_cap_sys_admin(void **state)
{
    static const char *const names[] = { "mount",      "umount2",   "setns",       "fsopen",
                                         "move_mount", "open_tree", "sethostname", "quotactl" };
    struct profile p, admin;

    (void)state;
    profile_build(&p, default_caps());
    profile_build(&admin, default_caps() | BIT(CAP_SYS_ADMIN));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_int_equal(decide(&p, names[i], 0, 0), EPERM_RET);
        if (decide(&admin, names[i], 0, 0) != ALLOW)
            fail_msg("'%s' is not allowed with CAP_SYS_ADMIN", names[i]);
    }
    assert_int_equal(decide(&p, "unshare", CLONE_NEWNS, 0), EPERM_RET);
    assert_int_equal(decide(&admin, "unshare", CLONE_NEWNS | CLONE_NEWUSER, 0), ALLOW);
    profile_release(&p);
    profile_release(&admin);
}

/* --cap-drop SYS_ADMIN after --cap-add: the effective set decides, not the options. */
static void seccomp__dropping_a_capability_drops_its_syscalls(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps() & ~BIT(CAP_SYS_CHROOT));
    assert_int_equal(decide(&p, "chroot", 0, 0), EPERM_RET);
    profile_release(&p);
}

static void seccomp__clone_is_allowed_without_namespace_flags(void **state)
{
    static const uint64_t ns[] = { CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                   CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP };
    const uint64_t thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                            CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                            CLONE_CHILD_CLEARTID;
    struct profile p, admin;

    (void)state;
    profile_build(&p, default_caps());
    profile_build(&admin, default_caps() | BIT(CAP_SYS_ADMIN));
    assert_int_equal(decide(&p, "clone", SIGCHLD, 0), ALLOW);
    assert_int_equal(decide(&p, "clone", thread, 0), ALLOW);
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        assert_int_equal(decide(&p, "clone", ns[i] | SIGCHLD, 0), EPERM_RET);
        /* A high word must not hide the flag: the kernel reads all of them. */
        assert_int_equal(decide(&p, "clone", (1ULL << 40) | ns[i] | SIGCHLD, 0), EPERM_RET);
        assert_int_equal(decide(&admin, "clone", ns[i] | SIGCHLD, 0), ALLOW);
    }
    profile_release(&p);
    profile_release(&admin);
}

static void seccomp__clone3_says_enosys_so_that_libc_falls_back_to_clone(void **state)
{
    struct profile p, admin;

    (void)state;
    profile_build(&p, default_caps());
    profile_build(&admin, default_caps() | BIT(CAP_SYS_ADMIN));
    assert_int_equal(decide(&p, "clone3", 0, 0), ENOSYS_RET);
    assert_int_equal(decide(&admin, "clone3", 0, 0), ALLOW);
    profile_release(&p);
    profile_release(&admin);
}

static void seccomp__unshare_is_allowed_without_namespace_flags(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    assert_int_equal(decide(&p, "unshare", CLONE_FILES, 0), ALLOW);
    assert_int_equal(decide(&p, "unshare", CLONE_FS | CLONE_SYSVSEM, 0), ALLOW);
    assert_int_equal(decide(&p, "unshare", CLONE_NEWUSER, 0), EPERM_RET);
    assert_int_equal(decide(&p, "unshare", CLONE_NEWNET | CLONE_FILES, 0), EPERM_RET);
    assert_int_equal(decide(&p, "unshare", CLONE_NEWTIME, 0), EPERM_RET);
    profile_release(&p);
}

static void seccomp__personality_takes_only_docker_values(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    assert_int_equal(decide(&p, "personality", PER_LINUX, 0), ALLOW);
    assert_int_equal(decide(&p, "personality", PER_LINUX32, 0), ALLOW);
    assert_int_equal(decide(&p, "personality", UNAME26, 0), ALLOW);
    assert_int_equal(decide(&p, "personality", UNAME26 | PER_LINUX32, 0), ALLOW);
    assert_int_equal(decide(&p, "personality", 0xffffffff, 0), ALLOW);
    assert_int_equal(decide(&p, "personality", ADDR_NO_RANDOMIZE, 0), EPERM_RET);
    assert_int_equal(decide(&p, "personality", READ_IMPLIES_EXEC, 0), EPERM_RET);
    assert_int_equal(decide(&p, "personality", PER_BSD, 0), EPERM_RET);
    profile_release(&p);
}

static void seccomp__tiocsti_and_tioclinux_are_refused_whatever_the_caps(void **state)
{
    struct profile p, all;

    (void)state;
    profile_build(&p, default_caps());
    profile_build(&all, ~0ULL);
    assert_int_equal(decide(&p, "ioctl", 0, TCGETS), ALLOW);
    assert_int_equal(decide(&p, "ioctl", 0, TIOCSPGRP), ALLOW);
    /* A request stored in an int and sign-extended still works, as with docker. */
    assert_int_equal(decide(&p, "ioctl", 0, 0xffffffff80045430ULL), ALLOW);
    assert_int_equal(decide(&p, "ioctl", 0, TIOCSTI), EPERM_RET);
    assert_int_equal(decide(&p, "ioctl", 0, TIOCLINUX), EPERM_RET);
    /* The kernel reads the request as an unsigned int: high bits change nothing. */
    assert_int_equal(decide(&p, "ioctl", 0, (1ULL << 32) | TIOCSTI), EPERM_RET);
    assert_int_equal(decide(&all, "ioctl", 0, TIOCSTI), EPERM_RET);
    profile_release(&p);
    profile_release(&all);
}

static void seccomp__sockets_of_every_family_but_vsock_and_alg(void **state)
{
    static const int allowed[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_XDP };
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        assert_int_equal(decide(&p, "socket", (uint64_t)allowed[i], SOCK_STREAM), ALLOW);
    assert_int_equal(decide(&p, "socket", AF_VSOCK, SOCK_STREAM), EPERM_RET);
    assert_int_equal(decide(&p, "socket", AF_ALG, SOCK_SEQPACKET), EPERM_RET);
    assert_int_equal(decide(&p, "socket", (1ULL << 32) | AF_VSOCK, SOCK_STREAM), EPERM_RET);
    assert_int_equal(decide(&p, "socketpair", AF_UNIX, SOCK_STREAM), ALLOW);
    profile_release(&p);
}

/* docker's "includes: caps", one capability at a time on top of the default set. */
static void seccomp__each_capability_opens_its_syscalls(void **state)
{
    static const struct {
        int cap;
        const char *name;
    } cases[] = {
        { CAP_SYS_PTRACE, "ptrace" },
        { CAP_SYS_PTRACE, "process_vm_readv" },
        { CAP_SYS_PTRACE, "process_vm_writev" },
        { CAP_SYS_PTRACE, "kcmp" },
        { CAP_SYS_PTRACE, "pidfd_getfd" },
        { CAP_SYS_BOOT, "reboot" },
        { CAP_SYS_MODULE, "init_module" },
        { CAP_SYS_MODULE, "finit_module" },
        { CAP_SYS_MODULE, "delete_module" },
        { CAP_SYS_PACCT, "acct" },
        { CAP_SYS_TIME, "settimeofday" },
        { CAP_SYS_TIME, "clock_settime" },
        { CAP_SYS_TTY_CONFIG, "vhangup" },
        { CAP_SYS_NICE, "mbind" },
        { CAP_SYS_NICE, "set_mempolicy" },
        { CAP_SYSLOG, "syslog" },
        { CAP_BPF, "bpf" },
        { CAP_PERFMON, "perf_event_open" },
        { CAP_SYS_RAWIO, "iopl" },
        { CAP_SYS_RAWIO, "ioperm" },
        { CAP_DAC_READ_SEARCH, "open_by_handle_at" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct profile p;
        profile_build(&p, default_caps() | BIT(cases[i].cap));
        if (decide(&p, cases[i].name, 0, 0) != ALLOW)
            fail_msg("'%s' is not allowed with capability %d", cases[i].name, cases[i].cap);
        /* Only that: mount stays refused (CAP_BPF is not CAP_SYS_ADMIN). */
        assert_int_equal(decide(&p, "mount", 0, 0), EPERM_RET);
        assert_int_equal(decide(&p, "keyctl", 0, 0), EPERM_RET);
        profile_release(&p);
    }
}

static void seccomp__i386_gets_the_same_profile_in_its_numbering(void **state)
{
    struct profile p, ptrace_cap;

    (void)state;
    profile_build(&p, default_caps());
    profile_build(&ptrace_cap, default_caps() | BIT(CAP_SYS_PTRACE));
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "read", 0, 0), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "chown32", 0, 0), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "socketcall", 1, 0), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "keyctl", 0, 0), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "mount", 0, 0), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "ptrace", 0, 0), EPERM_RET);
    assert_int_equal(decide_on(&ptrace_cap, SCMP_ARCH_X86, "ptrace", 0, 0), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "clone", CLONE_NEWUSER, 0), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "ioctl", 0, TIOCSTI), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X86, "vm86", 0, 0), EPERM_RET);
    /* i386's direct socket and SysV IPC syscalls (libseccomp only knows them by their
     * multiplexers): each number is the syscall libseccomp's table names, and allowed. */
    static const int direct[] = { 337, 345, 359, 360, 361, 362, 363, 364, 365,
                                  366, 367, 368, 369, 370, 371, 372, 373, 393,
                                  394, 395, 396, 397, 398, 399, 400, 401, 402 };
    for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86, direct[i]);
        assert_non_null(name);
        if (decide_nr(&p, AUDIT_ARCH_I386, direct[i], AF_INET, 0) != ALLOW)
            fail_msg("i386 '%s' (%d) is not allowed", name, direct[i]);
        free(name);
    }
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_I386, 359, AF_VSOCK, 0), EPERM_RET);
    profile_release(&p);
    profile_release(&ptrace_cap);
}

static void seccomp__x32_gets_the_same_profile_in_its_numbering(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, default_caps());
    assert_int_equal(decide_on(&p, SCMP_ARCH_X32, "read", 0, 0), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X32, "ioctl", 0, TCGETS), ALLOW);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X32, "ioctl", 0, TIOCSTI), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X32, "keyctl", 0, 0), EPERM_RET);
    assert_int_equal(decide_on(&p, SCMP_ARCH_X32, "clone", CLONE_NEWNS, 0), EPERM_RET);
    /* x86_64's own ioctl number with the x32 bit is not x32's ioctl. */
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_X86_64, X32_BIT | 16, 0, TIOCSTI), EPERM_RET);
    profile_release(&p);
}

static void seccomp__other_abis_are_killed(void **state)
{
    struct profile p;

    (void)state;
    profile_build(&p, ~0ULL);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_AARCH64, 63, 0, 0), KILL);
    assert_int_equal(decide_nr(&p, AUDIT_ARCH_ARM, 3, 0, 0), KILL);
    assert_int_equal(decide_nr(&p, 0, 0, 0, 0), KILL);
    profile_release(&p);
}

/* The same capabilities give the same program; all of them still fit the kernel's limit. */
static void seccomp__programs_are_deterministic_and_fit(void **state)
{
    struct profile a, b, all;

    (void)state;
    profile_build(&a, default_caps());
    profile_build(&b, default_caps());
    profile_build(&all, ~0ULL);
    assert_int_equal(a.prog.len, b.prog.len);
    assert_memory_equal(a.prog.filter, b.prog.filter, a.prog.len * sizeof(struct sock_filter));
    assert_true(all.prog.len < BPF_MAXINSNS);
    assert_int_equal(decide(&all, "keyctl", 0, 0), EPERM_RET);
    assert_int_equal(decide(&all, "mount", 0, 0), ALLOW);
    profile_release(&a);
    profile_release(&b);
    profile_release(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(seccomp__everyday_syscalls_are_allowed),
        cmocka_unit_test(seccomp__no_sync_skips_only_the_sync_calls),
        cmocka_unit_test(seccomp__nested_filters_can_be_installed),
        cmocka_unit_test(seccomp__syscalls_outside_the_profile_fail_with_eperm),
        cmocka_unit_test(seccomp__mount_and_namespaces_need_cap_sys_admin),
        cmocka_unit_test(seccomp__dropping_a_capability_drops_its_syscalls),
        cmocka_unit_test(seccomp__clone_is_allowed_without_namespace_flags),
        cmocka_unit_test(seccomp__clone3_says_enosys_so_that_libc_falls_back_to_clone),
        cmocka_unit_test(seccomp__unshare_is_allowed_without_namespace_flags),
        cmocka_unit_test(seccomp__personality_takes_only_docker_values),
        cmocka_unit_test(seccomp__tiocsti_and_tioclinux_are_refused_whatever_the_caps),
        cmocka_unit_test(seccomp__sockets_of_every_family_but_vsock_and_alg),
        cmocka_unit_test(seccomp__each_capability_opens_its_syscalls),
        cmocka_unit_test(seccomp__i386_gets_the_same_profile_in_its_numbering),
        cmocka_unit_test(seccomp__x32_gets_the_same_profile_in_its_numbering),
        cmocka_unit_test(seccomp__numbers_newer_than_known_get_enosys),
        cmocka_unit_test(seccomp__newer_shared_syscalls_are_allowed_by_number),
        cmocka_unit_test(seccomp__other_abis_are_killed),
        cmocka_unit_test(seccomp__programs_are_deterministic_and_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
