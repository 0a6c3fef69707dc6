/* probe: reports from inside a container, and tries escapes, for the runroot integration
 * tests (crun's tests/init.c). Static; one subcommand per question:
 *   probe pid | hostname | cgroup | caps | fds | ifaces | uidmap | mountinfo
 *   probe try-mount | try-write FILE | try-kill PID | try-open PATH | try-ptrace PID
 *   probe hog MIB | forks N | spin MS
 * "try-*" print "denied: <errno>" and exit 0 when the action fails, "ALLOWED" and exit 1 when
 * it works. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
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
    } else if (!strcmp(cmd, "hog")) {
        return hog(strtol(arg, NULL, 10));
    } else if (!strcmp(cmd, "forks")) {
        return forks(strtol(arg, NULL, 10));
    } else if (!strcmp(cmd, "spin")) {
        return spin(strtol(arg, NULL, 10));
    } else {
        fprintf(stderr, "usage: probe pid|hostname|cgroup|caps|fds|ifaces|uidmap|mountinfo|"
                        "try-mount|try-write F|try-open P|try-kill PID|try-ptrace PID|hog MIB|"
                        "forks N|spin MS\n");
        return 2;
    }
    return 0;
}
