/* probe: reports from inside a container, and tries escapes, for the runroot integration
 * tests (crun's tests/init.c). Static; one subcommand per question:
 *   probe pid | hostname | cgroup | caps | fds | ifaces | uidmap | mountinfo
 *   probe try-mount | try-write FILE | try-kill PID | try-open PATH | try-ptrace PID
 *   probe hog MIB | forks N | spin MS
 *   probe syscall NAME [ARG...] | syscall32 NR [ARG...] | nested-seccomp
 * "try-*" print "denied: <errno>" and exit 0 when the action fails, "ALLOWED" and exit 1 when
 * it works. "syscall" makes one raw syscall (up to 6 integer arguments, any base) and prints
 * "ok RET" or "errno ENAME", to tell a seccomp refusal from the kernel's own answer; "syscall32"
 * does the same through the i386 ABI (int 0x80); "nested-seccomp" installs a filter of its own,
 * as apt's methods do, and checks it works. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int cat(const char *path)
{
    char buf[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "probe: cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(1, buf, (size_t)n) != n)
            break;
    close(fd);
    return 0;
}

static int denied(const char *what, int ok)
{
    if (ok) {
        printf("ALLOWED: %s\n", what);
        return 1;
    }
    printf("denied: %s: %s\n", what, strerror(errno));
    return 0;
}

static int list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    int self;

    if (!d)
        return 1;
    self = dirfd(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' && strtol(de->d_name, NULL, 10) != self)
            printf("%s\n", de->d_name);
    closedir(d);
    return 0;
}

static int hog(long mib)
{
    size_t size = (size_t)mib << 20;
    char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return 2;
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    printf("holding %ld MiB\n", mib);
    fflush(stdout);
    sleep(1);
    return 0;
}

static int forks(long n)
{
    long ok = 0, failed = 0;

    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid < 0)
            failed++;
        else
            ok++;
    }
    printf("forked %ld, failed %ld\n", ok, failed);
    fflush(stdout);
    kill(0, SIGKILL);
    return 0;
}

static int spin(long ms)
{
    struct timeval start, now;
    struct rusage ru;

    gettimeofday(&start, NULL);
    do {
        for (volatile int i = 0; i < 100000; i++)
            ;
        gettimeofday(&now, NULL);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_usec - start.tv_usec) / 1000 < ms);
    getrusage(RUSAGE_SELF, &ru);
    printf("cpu_ms %ld\n", ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
                               ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000);
    return 0;
}

/* The syscalls the seccomp tests ask about; nothing that could harm the host if allowed. */
static const struct {
    const char *name;
    long nr;
} syscalls[] = {
    { "getpid", SYS_getpid },
    { "keyctl", SYS_keyctl },
    { "add_key", SYS_add_key },
    { "request_key", SYS_request_key },
    { "userfaultfd", SYS_userfaultfd },
    { "io_uring_setup", SYS_io_uring_setup },
    { "mount", SYS_mount },
    { "umount2", SYS_umount2 },
    { "unshare", SYS_unshare },
    { "setns", SYS_setns },
    { "clone3", SYS_clone3 },
    { "ptrace", SYS_ptrace },
    { "process_vm_readv", SYS_process_vm_readv },
    { "personality", SYS_personality },
    { "socket", SYS_socket },
    { "ioctl", SYS_ioctl },
    { "chroot", SYS_chroot },
    { "sethostname", SYS_sethostname },
    { "syslog", SYS_syslog },
    { "bpf", SYS_bpf },
};

static int report(long ret)
{
    if (ret < 0 && ret > -4096)
        printf("errno %s\n", strerrorname_np((int)-ret));
    else
        printf("ok %ld\n", ret);
    return 0;
}

static int raw_syscall(int argc, char *argv[])
{
    long a[6] = { 0 }, nr = -1, ret;

    for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++)
        if (!strcmp(syscalls[i].name, argv[2]))
            nr = syscalls[i].nr;
    /* or a number, for calls newer than the headers */
    if (nr < 0 && argv[2][0] >= '0' && argv[2][0] <= '9')
        nr = strtol(argv[2], NULL, 0);
    if (nr < 0) {
        fprintf(stderr, "probe: unknown syscall '%s'\n", argv[2]);
        return 2;
    }
    for (int i = 3; i < argc && i < 9; i++)
        a[i - 3] = (long)strtoull(argv[i], NULL, 0);
    ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    return report(ret < 0 ? -errno : ret);
}

/* Through int 0x80: the i386 ABI's numbers, 32-bit arguments; the kernel returns -errno. */
static int syscall32(int argc, char *argv[])
{
#if defined(__x86_64__)
    unsigned long a[3] = { 0 };
    long ret;
    long nr = strtol(argv[2], NULL, 0);

    for (int i = 3; i < argc && i < 6; i++)
        a[i - 3] = strtoul(argv[i], NULL, 0);
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a[0]), "c"(a[1]), "d"(a[2])
                     : "memory", "r8", "r9", "r10", "r11");
    return report((long)(int)ret);
#else
    (void)argc;
    (void)argv;
    fprintf(stderr, "probe: syscall32 needs x86_64\n");
    return 2;
#endif
}

/* What apt's methods do (APT::Sandbox::Seccomp): a filter on top of runroot's. getppid fails
 * with EACCES under it. */
static int nested_seccomp(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
        printf("cannot install a filter: %s\n", strerrorname_np(errno));
        return 1;
    }
    long r = syscall(SYS_getppid);
    if (r >= 0 || errno != EACCES) {
        printf("the nested filter does not work: %ld %s\n", r, strerrorname_np(errno));
        return 1;
    }
    printf("nested filter ok\n");
    return 0;
}

int main(int argc, char *argv[])
{
    const char *cmd = argc > 1 ? argv[1] : "";
    const char *arg = argc > 2 ? argv[2] : "";
    char buf[256];

    if (!strcmp(cmd, "pid")) {
        printf("%d\n", (int)getpid());
    } else if (!strcmp(cmd, "hostname")) {
        gethostname(buf, sizeof(buf));
        printf("%s\n", buf);
    } else if (!strcmp(cmd, "cgroup")) {
        return cat("/proc/self/cgroup");
    } else if (!strcmp(cmd, "caps")) {
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(buf, sizeof(buf), f))
            if (!strncmp(buf, "Cap", 3) || !strncmp(buf, "NoNewPrivs", 10) ||
                !strncmp(buf, "Seccomp:", 8))
                fputs(buf, stdout);
    } else if (!strcmp(cmd, "fds")) {
        return list_fds();
    } else if (!strcmp(cmd, "ifaces")) {
        return cat("/proc/net/dev");
    } else if (!strcmp(cmd, "uidmap")) {
        return cat("/proc/self/uid_map");
    } else if (!strcmp(cmd, "mountinfo")) {
        return cat("/proc/self/mountinfo");
    } else if (!strcmp(cmd, "try-mount")) {
        return denied("mount tmpfs on /mnt", mount("tmpfs", "/tmp", "tmpfs", 0, NULL) == 0);
    } else if (!strcmp(cmd, "try-write")) {
        int fd = open(arg, O_WRONLY);
        return denied(arg, fd >= 0 && write(fd, "1\n", 2) == 2);
    } else if (!strcmp(cmd, "try-open")) {
        return denied(arg, open(arg, O_RDONLY) >= 0);
    } else if (!strcmp(cmd, "try-kill")) {
        return denied(arg, kill((pid_t)strtol(arg, NULL, 10), 0) == 0);
    } else if (!strcmp(cmd, "try-ptrace")) {
        return denied(arg, ptrace(PTRACE_ATTACH, (pid_t)strtol(arg, NULL, 10), 0, 0) == 0);
    } else if (!strcmp(cmd, "syscall") && argc > 2) {
        return raw_syscall(argc, argv);
    } else if (!strcmp(cmd, "syscall32") && argc > 2) {
        return syscall32(argc, argv);
    } else if (!strcmp(cmd, "nested-seccomp")) {
        return nested_seccomp();
    } else if (!strcmp(cmd, "hog")) {
        return hog(strtol(arg, NULL, 10));
    } else if (!strcmp(cmd, "forks")) {
        return forks(strtol(arg, NULL, 10));
    } else if (!strcmp(cmd, "spin")) {
        return spin(strtol(arg, NULL, 10));
    } else {
        fprintf(stderr, "usage: probe pid|hostname|cgroup|caps|fds|ifaces|uidmap|mountinfo|"
                        "try-mount|try-write F|try-open P|try-kill PID|try-ptrace PID|hog MIB|"
                        "forks N|spin MS|syscall NAME [ARG...]|syscall32 NR [ARG...]|"
                        "nested-seccomp\n");
        return 2;
    }
    return 0;
}
