/* nosys: run a command as on a kernel without some system calls, for the tests of runroot's
 * fallbacks (without fsopen, 430, the overlay is mounted with one mount(2) option string, as on
 * kernels before 6.8, Debian 12's included):
 *   nosys NR[,NR...] COMMAND [ARG...]
 * Each system call numbered NR (x86_64) fails with ENOSYS in COMMAND and everything it starts.
 * The filter is a few instructions of classic BPF, so nothing is needed beyond the kernel. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_CALLS 8

int main(int argc, char *argv[])
{
    struct sock_filter prog[4 + 2 * MAX_CALLS + 1];
    size_t n = 0, n_calls = 0;
    long calls[MAX_CALLS];
    char *text, *end;

    if (argc < 3) {
        fprintf(stderr, "usage: nosys NR[,NR...] COMMAND [ARG...]\n");
        return 2;
    }
    for (text = argv[1]; *text && n_calls < MAX_CALLS; text = *end ? end + 1 : end) {
        calls[n_calls++] = strtol(text, &end, 10);
        if (end == text || (*end && *end != ',')) {
            fprintf(stderr, "nosys: bad system call number list '%s'\n", argv[1]);
            return 2;
        }
    }
    /* Another ABI's numbers mean other calls: leave them alone. */
    prog[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] =
        (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (size_t i = 0; i < n_calls; i++) {
        prog[n++] =
            (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)calls[i], 0, 1);
        prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);

    struct sock_fprog fprog = { .len = (unsigned short)n, .filter = prog };
    /* As root (the tests are) no_new_privs is not needed, and runroot may still gain
     * capabilities through exec. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0) {
        fprintf(stderr, "nosys: cannot load the filter: %s\n", strerror(errno));
        return 1;
    }
    execvp(argv[2], argv + 2);
    fprintf(stderr, "nosys: cannot execute '%s': %s\n", argv[2], strerror(errno));
    return 127;
}
