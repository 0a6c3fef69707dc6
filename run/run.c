/* run_container(): the parent's side. Plan, cgroup, one clone3 into all the namespaces (into
 * the cgroup on v2), the child applies the plan and executes; the parent relays errors,
 * proxies a pty, forwards signals, reaps, reports OOM kills and cleans up. */
#include "run/run-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "run/seccomp.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

/* The container's network namespace, with loopback up, is made by a thread of the parent
 * while the child mounts: it is the costliest namespace by far (0.9 ms of the kernel's
 * per-subsystem setup here, most of clone3 with all of them), and nothing the child does
 * before pivot_root depends on it. It is sent over the sync socket and joined at OP_JOIN_NET.
 * unshare() moves only the calling thread, so the thread makes it, keeps it as an fd and
 * ends. No thread may run while the child is cloned: clone3 copies the memory with whatever
 * lock (malloc's, stdio's) another thread holds at that moment, and the child would wait for
 * it forever; so the thread starts after the clone.
 *
 * Tried and dropped: making the overlay (fsopen .. fsmount) in another thread while the
 * cgroup is created, joined before clone3. Waking the idle second vCPU for it costs this VM
 * about as much as the overlay itself (0.4 ms), so half the runs waited for one or the other:
 * 7.31 against 7.01 ms median in 300 interleaved runs. */
struct fd_job {
    pthread_t thread;
    bool started;
    int fd;
    int err; /* positive errno */
    char what[240];
};

static void *make_netns(void *data)
{
    struct fd_job *j = data;
    struct ifreq ifr = { 0 };
    _cleanup_close_ int s = -1;

    if (unshare(CLONE_NEWNET) < 0) {
        j->err = errno;
        (void)snprintf(j->what, sizeof(j->what), "cannot create the container's network namespace");
        return NULL;
    }
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    (void)snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP | IFF_RUNNING, ioctl(s, SIOCSIFFLAGS, &ifr) < 0)) {
        j->err = errno;
        (void)snprintf(j->what, sizeof(j->what), "cannot bring up 'lo' in the container");
        return NULL;
    }
    j->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (j->fd < 0) {
        j->err = errno;
        (void)snprintf(j->what, sizeof(j->what), "cannot open the container's network namespace");
    }
    return NULL;
}

/* The thread starts with every signal blocked: signals are for the main thread's signalfd (a
 * SIGCHLD taken by another thread with its default action would be lost). */
static int job_start(struct fd_job *j, void *(*fn)(void *), struct rs_err *err)
{
    sigset_t all, old;
    int r;

    *j = (struct fd_job){ .fd = -1 };
    pthread_attr_t attr;

    /* A small stack rather than glibc's default (8 MB, from the rlimit): pthread_create took
     * 0.35 ms on average with it, 0.22-0.27 ms with this (40 runs each). */
    (void)pthread_attr_init(&attr);
    (void)pthread_attr_setstacksize(&attr, 256 * 1024);
    sigfillset(&all);
    (void)pthread_sigmask(SIG_BLOCK, &all, &old);
    r = pthread_create(&j->thread, &attr, fn, j);
    (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
    (void)pthread_attr_destroy(&attr);
    if (r != 0)
        return rs_err_set(err, -r, "cannot start a thread");
    j->started = true;
    return 0;
}

/* Wait for the job and pass its fd (none if it failed) to the child; its own copy is
 * closed. Returns the job's error for the caller that needs a result. */
static int job_send(struct fd_job *j, int sock)
{
    if (!j->started)
        return -ENOENT;
    (void)pthread_join(j->thread, NULL);
    j->started = false;
    /* A child that is gone already sent its own error, the one to print. */
    if (run_send_fd(sock, j->fd, &(struct child_msg){ 0 }) < 0)
        log_debug("cannot pass an fd to the container: %m");
    if (j->fd < 0)
        return -j->err;
    j->fd = safe_close(j->fd);
    return 0;
}

static void job_finish(struct fd_job *j)
{
    if (j->started)
        (void)pthread_join(j->thread, NULL);
    j->started = false;
    j->fd = safe_close(j->fd);
}

/* How long a container may take to exit after the host's terminal hung up. */
enum { HANGUP_GRACE_MS = 2000 };

static pid_t clone_child(int flags, int cgroup_fd, bool *ret_into)
{
    struct clone_args args = { .flags = (uint64_t)flags, .exit_signal = SIGCHLD };
    long pid;

    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0 && cgroup_fd >= 0 && errno != ENOMEM && errno != EAGAIN) {
        args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
        args.cgroup = 0;
        pid = syscall(SYS_clone3, &args, sizeof(args));
        cgroup_fd = -1;
    }
    if (pid < 0 && errno == ENOSYS)
        pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, 0);
    *ret_into = pid >= 0 && cgroup_fd >= 0;
    return (pid_t)pid;
}

__attribute__((noreturn)) static void child_main(struct plan *p, int sync_fd,
                                                 const sigset_t *old_mask, struct cgroup *cg)
{
    struct child_msg m = { 0 };
    char go;
    int r;

    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    (void)sigprocmask(SIG_SETMASK, old_mask, NULL);
    /* Wait until the parent has put us into our cgroup (or until it is alive and listening,
     * when we join by ourselves), so that the cgroup namespace is rooted there. */
    if (read(sync_fd, &go, 1) != 1)
        _exit(125);
    /* Container processes must not be able to ptrace us or open our /proc/pid/{exe,fd}
     * (CVE-2016-9962, CVE-2019-5736) until execve. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (cg && cg_child_joins(cg) && (r = cg_join_self(cg)) < 0) {
        m = (struct child_msg){ .kind = MSG_SETUP_ERROR, .err = -r };
        (void)snprintf(m.text, sizeof(m.text), "cannot join the container's cgroup");
    } else if (cg && (cg_close_join_fds(cg), unshare(CLONE_NEWCGROUP) < 0)) {
        m = (struct child_msg){ .kind = MSG_SETUP_ERROR, .err = errno };
        (void)snprintf(m.text, sizeof(m.text), "cannot create a cgroup namespace");
    } else if (run_apply_mounts(p, sync_fd, &m) >= 0) {
        run_child_exec(p, sync_fd, &m);
    }
    (void)send(sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
    _exit(m.kind == MSG_EXEC_ERROR ? (m.err == ENOENT ? 127 : 126) : 125);
}

static int recv_msg(int fd, struct child_msg *m, int *ret_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    ssize_t n;

    /* A child that exits without reading the seccomp filter we sent it resets the connection,
     * and that error is reported (once) before the messages it queued: its setup error. */
    do
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && (errno == EINTR || errno == ECONNRESET));
    if (n <= 0)
        return n == 0 ? 0 : -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    return n == (ssize_t)sizeof(*m) ? 1 : -EBADMSG;
}

struct supervisor {
    pid_t pid;
    int sigfd;
    int master; /* -1 without a pty */
    int kmsg;   /* -1 without a memory cgroup */
    const char *memcg;
    /* The last OOM kill seen while the container ran: host pid, and its pid inside. */
    char oom_name[32];
    pid_t oom_pid, oom_ns_pid;
    bool raw;
    struct termios saved;
    int status;
    bool exited;
};

static void copy_winsize(struct supervisor *s)
{
    struct winsize ws;

    if (s->master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        (void)ioctl(s->master, TIOCSWINSZ, &ws);
}

static void tty_raw(struct supervisor *s)
{
    struct termios t;

    if (s->master < 0 || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved) < 0)
        return;
    t = s->saved;
    cfmakeraw(&t);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
        s->raw = true;
    copy_winsize(s);
}

static void tty_restore(struct supervisor *s)
{
    if (s->raw)
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &s->saved);
    s->raw = false;
}

/* Copy what is readable from in to out; false at EOF or error. */
static bool pump(int in, int out)
{
    char buf[8192];
    ssize_t n = read(in, buf, sizeof(buf));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    return rs_write_all(out, buf, (size_t)n) == 0;
}

static void handle_signals(struct supervisor *s)
{
    struct signalfd_siginfo si;

    while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            if (!s->exited && waitpid(s->pid, &s->status, WNOHANG) == s->pid)
                s->exited = true;
        } else if (si.ssi_signo == SIGWINCH) {
            copy_winsize(s);
        } else {
            (void)kill(s->pid, (int)si.ssi_signo);
        }
    }
}

/* The pid inside the container of a process that is being OOM-killed: it is still in /proc
 * (dying, or a zombie until its parent reaps it) for a short while after the kernel logs the
 * kill, so this is a race we often win and never fake: the answer is checked to come from our
 * container's pid namespace, and 0 means unknown. */
static pid_t container_pid_of(pid_t host_pid, pid_t container_init)
{
    char path[64], ns[64], own_ns[64], text[4096];
    _cleanup_close_ int fd = -1;
    ssize_t n, m;

    (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)host_pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (n = read(fd, text, sizeof(text) - 1)) <= 0)
        return 0;
    text[n] = '\0';
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)host_pid);
    n = readlink(path, ns, sizeof(ns) - 1);
    (void)snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)container_init);
    m = readlink(path, own_ns, sizeof(own_ns) - 1);
    if (n <= 0 || n != m || memcmp(ns, own_ns, (size_t)n) != 0)
        return 0;
    return run_parse_nspid(text);
}

static void watch_kmsg(struct supervisor *s)
{
    char rec[8192], name[32];
    pid_t pid = 0;
    ssize_t n;

    while ((n = read(s->kmsg, rec, sizeof(rec) - 1)) != 0) {
        if (n < 0) {
            if (errno == EPIPE || errno == EINTR)
                continue; /* overwritten records: keep reading */
            break;
        }
        rec[n] = '\0';
        if (!run_parse_oom_record(rec, s->memcg, name, sizeof(name), &pid))
            continue;
        memcpy(s->oom_name, name, sizeof(name));
        s->oom_pid = pid;
        s->oom_ns_pid = container_pid_of(pid, s->pid);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The host's terminal hung up (its reads end, writes fail with EIO). Forwarding SIGHUP is not
 * enough: a shell that is PID 1 of its namespace ignores signals it has no handler for. So do
 * what a hang-up does to a session: close the pty master, which hangs up the container's
 * terminal (its shell reads EOF/EIO and exits, its foreground job gets SIGHUP from the
 * kernel), and give it HANGUP_GRACE_MS to finish before it is killed. */
static void hang_up(struct supervisor *s, int64_t *deadline)
{
    if (*deadline)
        return;
    log_debug("the terminal hung up: closing the container's terminal");
    s->master = safe_close(s->master);
    *deadline = now_ms() + HANGUP_GRACE_MS;
}

/* After a hang-up every ioctl on the terminal fails with EIO (a pipe that closed gives EPIPE on
 * write and ENOTTY here: not a hang-up). */
static bool host_tty_gone(const struct supervisor *s, int fd)
{
    struct termios t;

    return s->raw && tcgetattr(fd, &t) < 0 && errno == EIO;
}

static void supervise(struct supervisor *s)
{
    bool in_open = s->master >= 0, out_open = s->master >= 0;
    int64_t deadline = 0; /* when to kill the container after a hang-up, or 0 */

    if (s->master >= 0)
        (void)fcntl(s->master, F_SETFL, fcntl(s->master, F_GETFL) | O_NONBLOCK);
    while (!s->exited) {
        struct pollfd pfd[4] = {
            { .fd = s->sigfd, .events = POLLIN },
            { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
            { .fd = out_open ? s->master : -1, .events = POLLIN },
            { .fd = s->kmsg, .events = POLLIN },
        };
        int timeout = -1;
        if (deadline) {
            int64_t left = deadline - now_ms();
            if (left <= 0) {
                log_debug("the container did not exit after the hang-up: killing it");
                (void)kill(s->pid, SIGKILL);
                deadline = 0;
                continue;
            }
            timeout = (int)left;
        }
        if (poll(pfd, 4, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[3].revents & POLLIN)
            watch_kmsg(s);
        if (pfd[0].revents & POLLIN)
            handle_signals(s);
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR) && !pump(STDIN_FILENO, s->master)) {
            in_open = false;
            if (host_tty_gone(s, STDIN_FILENO))
                hang_up(s, &deadline), out_open = false;
        }
        if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR) && !pump(s->master, STDOUT_FILENO)) {
            out_open = false;
            if (host_tty_gone(s, STDOUT_FILENO))
                hang_up(s, &deadline), in_open = false;
        }
    }
    /* Drain what the command wrote just before it exited. */
    while (out_open && pump(s->master, STDOUT_FILENO)) {
        struct pollfd p = { .fd = s->master, .events = POLLIN };
        if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
            break;
    }
    if (!s->exited && waitpid(s->pid, &s->status, 0) == s->pid)
        s->exited = true;
}

static void report_oom(struct cgroup *cg, int kmsg, const struct supervisor *s,
                       struct run_result *res)
{
    const char *memcg = cg_memory_path(cg);
    pid_t main_pid = s->pid;
    char rec[8192];
    ssize_t n;

    res->n_oom_kills = (unsigned)cg_oom_kills(cg);
    if (res->n_oom_kills == 0)
        return;
    if (s->oom_pid) {
        memcpy(res->oom_victim, s->oom_name, sizeof(res->oom_victim));
        res->oom_victim_pid = s->oom_pid;
    }
    while (kmsg >= 0 && memcg && (n = read(kmsg, rec, sizeof(rec) - 1)) != 0) {
        if (n < 0) {
            if (errno == EPIPE || errno == EINTR)
                continue; /* overwritten records: keep reading */
            break;
        }
        rec[n] = '\0';
        (void)run_parse_oom_record(rec, memcg, res->oom_victim, sizeof(res->oom_victim),
                                   &res->oom_victim_pid);
    }
    if (s->oom_pid && res->oom_victim_pid == s->oom_pid)
        res->oom_victim_ns_pid = s->oom_ns_pid;
    if (res->oom_victim_pid == main_pid || (res->oom_victim_pid == 0 && res->signal == SIGKILL)) {
        res->main_oom_killed = res->signal == SIGKILL;
        if (res->main_oom_killed)
            res->oom_victim_pid = 1;
    }
}

/* A volatile overlay leaves work/incompat/volatile/dirty under its work dir (overlayfs's
 * OVL_WORKDIR_NAME "work", then the marker), for a later mount of the same upper to refuse it
 * after a crash. The kernel reads it only at mount, and a discarded upper is never mounted again,
 * so it goes while the command runs instead of after it exits: these three are the slowest
 * entries of the container directory to remove (journaled metadata operations on the store's
 * disk, 0.5-3 ms together), and the container's own exec and exit hide them. Missing entries
 * are fine (an older kernel mounted without "volatile"); the caller's removal of work_dir
 * copes with whatever is left. */
static void remove_volatile_marker(const struct run_options *o)
{
    static const char *const names[] = { "work/incompat/volatile/dirty", "work/incompat/volatile",
                                         "work/incompat" };
    _cleanup_close_ int fd = -1;

    if (!o->lower_dirs || !o->discard_upper || !o->work_dir)
        return;
    fd = open(o->work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; fd >= 0 && i < ELEMENTSOF(names); i++)
        if (unlinkat(fd, names[i], i == 0 ? 0 : AT_REMOVEDIR) < 0 && errno != ENOENT) {
            log_debug("cannot remove '%s/%s': %m", o->work_dir, names[i]);
            break;
        }
}

static char *cgroup_name(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return run_cgroup_name(getpid(), (unsigned long)ts.tv_nsec);
}

static bool want_cgroup(const struct cg_limits *l)
{
    return l->wanted || l->memory_max || l->cpu_millis || l->pids_max || l->io_weight;
}

/* The container's own cgroup at /sys/fs/cgroup. v2: always (one mount, no measurable cost).
 * v1: only with a limit for its runtime to read, because mounting and tearing down the v1
 * hierarchies costs ~0.45 ms a run here, and without a limit they would only say "unlimited",
 * as an empty /sys/fs/cgroup does. */
static void plan_cgroupfs(struct plan *p, const struct cgroup *cg)
{
    const struct cg_limits *l = &p->limits;
    struct cg_hierarchy *h = NULL;
    size_t n;

    if (cg_mode(cg) == CG_MODE_V2) {
        run_plan_add_cgroupfs(p, true, NULL, 0);
        return;
    }
    if (!l->memory_max && !l->cpu_millis && !l->pids_max && !l->io_weight)
        return;
    n = cg_v1_hierarchies(cg, &h);
    if (n > 0)
        run_plan_add_cgroupfs(p, false, h, n);
    cg_hierarchies_free(h, n);
}

int run_container(const struct run_options *o, struct run_result *ret, struct rs_err *err)
{
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct cgroup *cg = NULL;
    _cleanup_close_ int kmsg = -1;
    int sv[2] = { -1, -1 };
    sigset_t mask, old_mask;
    struct supervisor s = { .pid = -1, .sigfd = -1, .master = -1, .kmsg = -1 };
    struct run_result res = { 0 };
    struct child_msg m = { 0 }, setup = { 0 };
    bool into = false, got_setup = false;
    struct fd_job netns = { .fd = -1 };
    struct sock_fprog filter = { 0 };
    int r;

    r = run_plan_build(o, &p, err);
    if (r < 0)
        return r;
    if (want_cgroup(&p->limits)) {
        _cleanup_free_ char *name = cgroup_name();
        r = cg_create(&p->limits, name, &cg, err);
        if (r < 0)
            return r;
        plan_cgroupfs(p, cg);
        if (cg_memory_path(cg)) {
            kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
            if (kmsg >= 0)
                (void)lseek(kmsg, 0, SEEK_END);
        }
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = rs_err_set(err, -errno, "cannot create a socket pair");
        goto out;
    }
    sigemptyset(&mask);
    for (size_t i = 0; i < ELEMENTSOF(forwarded); i++)
        sigaddset(&mask, forwarded[i]);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGWINCH);
    (void)sigprocmask(SIG_BLOCK, &mask, &old_mask);
    s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    s.pid = clone_child(p->clone_flags, cg ? cg_clone_fd(cg) : -1, &into);
    if (s.pid == 0) {
        (void)close(sv[0]);
        child_main(p, sv[1], &old_mask, cg);
    }
    if (s.pid < 0) {
        r = rs_err_set(err, -errno, "cannot create the container's namespaces");
        goto out_mask;
    }
    (void)close(sv[1]);
    sv[1] = -1;
    if (cg)
        cg_close_join_fds(cg);
    if (cg && !into && !cg_child_joins(cg) && cg_attach(cg, s.pid, err) < 0) {
        r = rs_err_ret(err);
        (void)kill(s.pid, SIGKILL);
        goto out_wait;
    }
    if (write(sv[0], "g", 1) != 1) {
        r = rs_err_set(err, -errno, "cannot start the container");
        goto out_wait;
    }
    /* After the child is on its way: a new thread may take this CPU from us at once. */
    if (p->join_net) {
        r = job_start(&netns, make_netns, err);
        if (r < 0)
            goto out_wait;
    }
    /* The filter is built here while the child mounts (two CPUs work instead of one); the
     * child receives it right before it loads it, after the network namespace. */
    if (!o->no_seccomp &&
        (r = run_seccomp_build(p->caps, o->no_sync ? RUN_SECCOMP_NO_SYNC : 0, &filter)) < 0) {
        r = rs_err_set(err, r, "cannot build the seccomp filter");
        goto out_wait;
    }
    if (netns.started && job_send(&netns, sv[0]) < 0) {
        r = rs_err_set(err, -netns.err, "%s", netns.what);
        goto out_wait;
    }
    if (filter.filter)
        run_seccomp_send(&filter, sv[0]);
    /* Idle until the child's setup ends: a moment for housekeeping. */
    cg_sweep_stale(cg);
    /* Until execve closes the child's end: at most a pty and one error. */
    for (;;) {
        int fd = -1;
        r = recv_msg(sv[0], &m, &fd);
        if (r <= 0)
            break;
        if (m.kind == MSG_PTY && fd >= 0) {
            safe_close(s.master);
            s.master = fd;
        } else {
            safe_close(fd);
            setup = m;
            got_setup = true;
        }
    }
    if (got_setup && setup.kind == MSG_SETUP_ERROR) {
        r = setup.says_all ? rs_err_msg(err, -(setup.err ? setup.err : EIO), "%s", setup.text)
                           : rs_err_set(err, -(setup.err ? setup.err : EIO), "%s", setup.text);
        goto out_wait;
    }
    remove_volatile_marker(o);
    s.kmsg = kmsg;
    s.memcg = cg ? cg_memory_path(cg) : NULL;
    tty_raw(&s);
    supervise(&s);
    tty_restore(&s);
    r = 0;

out_wait:
    if (!s.exited && s.pid > 0) {
        if (r < 0)
            (void)kill(s.pid, SIGKILL);
        while (waitpid(s.pid, &s.status, 0) < 0 && errno == EINTR)
            ;
        s.exited = true;
    }
    if (r >= 0) {
        res.exit_code = run_exit_code(s.status);
        res.signal = WIFSIGNALED(s.status) ? WTERMSIG(s.status) : 0;
        if (got_setup && setup.kind == MSG_EXEC_ERROR) {
            res.exec_errno = setup.err;
            res.exit_code = setup.err == ENOENT ? 127 : 126;
            (void)snprintf(res.message, sizeof(res.message), "%s", setup.text);
        }
        if (cg)
            report_oom(cg, kmsg, &s, &res);
        if (o->init && res.exit_code == 128 + SIGKILL && res.n_oom_kills > 0)
            res.main_oom_killed = true;
        *ret = res;
    }
out_mask:
    tty_restore(&s);
    safe_close(s.master);
    safe_close(s.sigfd);
    {
        /* Drop what arrived for the container before unblocking. */
        struct timespec zero = { 0 };
        while (sigtimedwait(&mask, NULL, &zero) > 0)
            ;
    }
    (void)sigprocmask(SIG_SETMASK, &old_mask, NULL);
out:
    job_finish(&netns);
    free(filter.filter);
    safe_close(sv[0]);
    safe_close(sv[1]);
    cg_destroy(cg);
    return r;
}
