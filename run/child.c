/* The executor's last half, in the child after the mounts: hostname, loopback, terminal or
 * stdio, working directory, credentials, capabilities, no_new_privs, fd hygiene, seccomp,
 * the optional init, execve. Errors go back to the parent as a struct child_msg. */
#include "run/run-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <sys/capability.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/path.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "run/seccomp.h"

extern char **environ;

__attribute__((format(printf, 3, 4))) int run_child_fail(struct child_msg *m, int e,
                                                         const char *fmt, ...)
{
    va_list ap;

    m->kind = MSG_SETUP_ERROR;
    m->err = e;
    va_start(ap, fmt);
    (void)vsnprintf(m->text, sizeof(m->text), fmt, ap);
    va_end(ap);
    return -e;
}

int run_recv_fd(int sock, int *ret_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct child_msg payload;
    struct iovec iov = { .iov_base = &payload, .iov_len = sizeof(payload) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    ssize_t n;

    *ret_fd = -1;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? 0 : -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    return 1;
}

int run_send_fd(int sock, int fd, const struct child_msg *msg)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u = { 0 };
    struct iovec iov = { .iov_base = (void *)msg, .iov_len = sizeof(*msg) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    if (fd < 0) {
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
    }
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

static int setup_tty(int sync_fd, struct child_msg *m)
{
    _cleanup_close_ int master = -1, slave = -1;
    struct child_msg pm = { .kind = MSG_PTY };

    /* The container's own devpts (newinstance): the host's terminal never comes in. */
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return run_child_fail(m, errno, "cannot open '/dev/ptmx' in the container");
    if (unlockpt(master) < 0)
        return run_child_fail(m, errno, "cannot unlock the pty");
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return run_child_fail(m, errno, "cannot open the pty's terminal");
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return run_child_fail(m, errno, "cannot make the pty the controlling terminal");
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            return run_child_fail(m, errno, "cannot set up the terminal as fd %d", i);
    if (run_send_fd(sync_fd, master, &pm) < 0)
        return run_child_fail(m, errno, "cannot pass the pty to runroot");
    return 0;
}

static int setup_stdio(const struct run_options *o, struct child_msg *m)
{
    int fds[3];

    /* Move the caller's fds out of the way first so that any permutation works. */
    for (int i = 0; i < 3; i++) {
        fds[i] = fcntl(o->stdio[i] >= 0 ? o->stdio[i] : i, F_DUPFD_CLOEXEC, 10);
        if (fds[i] < 0)
            fds[i] = -1; /* a closed fd stays closed */
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0) {
            (void)close(i);
            continue;
        }
        if (dup2(fds[i], i) < 0)
            return run_child_fail(m, errno, "cannot set up fd %d", i);
        (void)close(fds[i]);
    }
    return 0;
}

static int set_creds_and_caps(const struct plan *p, const struct run_user *u, struct child_msg *m)
{
    cap_value_t list[64];
    int n = 0;
    cap_t caps;
    int last = (int)cap_max_bits() - 1;

    for (int c = 0; c <= last && c < 64; c++) {
        if (p->caps & (1ULL << c))
            list[n++] = c;
        else if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return run_child_fail(m, errno, "cannot drop capability %d from the bounding set", c);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return run_child_fail(m, errno, "cannot keep capabilities across setuid");
    if (setgroups(u->n_groups, u->groups) < 0)
        return run_child_fail(m, errno, "cannot set the supplementary groups");
    if (setresgid(u->gid, u->gid, u->gid) < 0)
        return run_child_fail(m, errno, "cannot change to gid %u", (unsigned)u->gid);
    if (setresuid(u->uid, u->uid, u->uid) < 0)
        return run_child_fail(m, errno, "cannot change to uid %u", (unsigned)u->uid);
    caps = cap_init();
    if (!caps)
        return run_child_fail(m, ENOMEM, "cannot allocate capabilities");
    /* Inheritable and ambient stay empty (CVE-2022-27650, CVE-2022-29162). */
    if ((n > 0 && (cap_set_flag(caps, CAP_PERMITTED, n, list, CAP_SET) < 0 ||
                   cap_set_flag(caps, CAP_EFFECTIVE, n, list, CAP_SET) < 0)) ||
        cap_set_proc(caps) < 0) {
        int e = errno;
        cap_free(caps);
        return run_child_fail(m, e, "cannot set capabilities");
    }
    cap_free(caps);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return run_child_fail(m, errno, "cannot clear ambient capabilities");
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return run_child_fail(m, errno, "cannot reset keepcaps");
    return 0;
}

static const int forwarded_signals[] = { SIGINT,  SIGTERM, SIGHUP,   SIGQUIT,
                                         SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };

static void noop_handler(int sig)
{
    (void)sig;
}

/* PID 1 under --init: forward signals to the command, reap everything, exit with the
 * command's status (128+N for a signal, as a shell does). */
__attribute__((noreturn)) static void run_init(pid_t child)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++) {
        /* PID 1 only receives signals it has a handler for. */
        (void)signal(forwarded_signals[i], noop_handler);
        sigaddset(&set, forwarded_signals[i]);
    }
    (void)sigprocmask(SIG_BLOCK, &set, NULL);
    for (;;) {
        siginfo_t si;
        int sig;
        /* Reap first: the command may have exited before SIGCHLD was blocked above, and an
         * unblocked SIGCHLD with the default action is discarded, so waiting for it first
         * could wait forever (seen under ASan: run_escape's try-ptrace hung). */
        for (;;) {
            int status;
            pid_t w = waitpid(-1, &status, WNOHANG);
            if (w <= 0)
                break;
            if (w == child)
                _exit(run_exit_code(status));
        }
        sig = sigwaitinfo(&set, &si);
        if (sig > 0 && sig != SIGCHLD)
            (void)kill(child, sig);
    }
}

/* One of the container's files, or NULL if there is none. */
static int read_image_file(const char *path, char **ret, struct child_msg *m)
{
    int r = rs_read_regular_file_at(AT_FDCWD, path, 4 << 20, ret, NULL, NULL);

    if (r >= 0 || r == -ENOENT)
        return 0;
    if (r == -EINVAL) {
        run_child_fail(m, -r, "the image's %s is not a regular file", path);
        m->says_all = true;
        return r;
    }
    return run_child_fail(m, -r, "cannot read the image's %s", path);
}

/* -u USER[:GROUP] as the container's own /etc/passwd and /etc/group say (read in the new root,
 * where the image's symlinks lead only inside it), and HOME from its entry unless given. */
static int resolve_user(const struct plan *p, struct run_user *u, char ***env, struct child_msg *m)
{
    _cleanup_free_ char *passwd = NULL, *group = NULL;
    struct rs_err err = RS_ERR_INIT;
    int r;

    r = read_image_file("/etc/passwd", &passwd, m);
    if (r >= 0)
        r = read_image_file("/etc/group", &group, m);
    if (r < 0)
        return r;
    r = run_resolve_user(p->opts->user, passwd, group, u, &err);
    if (r < 0) {
        run_child_fail(m, -r, "%s", err.msg ? err.msg : "cannot resolve the user");
        m->says_all = true;
        rs_err_release(&err);
        return r;
    }
    if (p->home_from_user) {
        *env = strv_copy(p->env);
        strv_consume(env, xasprintf("HOME=%s", u->home && u->home[0] ? u->home
                                               : u->uid == 0         ? "/root"
                                                                     : "/"));
    }
    return 0;
}

static int do_exec(const struct plan *p, char **env, struct child_msg *m)
{
    environ = env;
    execvp(p->argv[0], p->argv);
    m->kind = MSG_EXEC_ERROR;
    m->err = errno;
    (void)snprintf(m->text, sizeof(m->text), "%s '%s'",
                   errno == ENOENT ? "command not found:" : "cannot execute", p->argv[0]);
    return -m->err;
}

/* chdir, making the directory (resolved in the new root) when it is missing, as docker and
 * runc do for a working directory the image lacks. Sets errno on failure. */
static int enter_cwd(const char *cwd)
{
    _cleanup_close_ int root = -1, dir = -1;

    if (chdir(cwd) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -1;
    dir = rs_mkdir_in_root(root, cwd, 0755);
    if (dir < 0) {
        errno = -dir;
        return -1;
    }
    return fchdir(dir);
}

void run_child_exec(const struct plan *p, int sync_fd, struct child_msg *m)
{
    const struct run_options *o = p->opts;
    /* Freed by the exec (or the child's exit when it fails). */
    struct run_user user = { .uid = p->uid, .gid = p->gid };
    char **env = p->env;
    char cwd[4096];

    if (sethostname(p->hostname, strlen(p->hostname)) < 0) {
        run_child_fail(m, errno, "cannot set the hostname '%s'", p->hostname);
        return;
    }
    if (setsid() < 0) {
        run_child_fail(m, errno, "cannot start a new session");
        return;
    }
    if (o->tty ? setup_tty(sync_fd, m) < 0 : setup_stdio(o, m) < 0)
        return;
    /* Loaded before the rest (we still hold CAP_SYS_ADMIN, so no_new_privs is not needed for
     * it yet): the kernel's 0.4 ms of compiling it overlap the old root's detachment instead
     * of following it. Everything after is in the profile: wait4, rmdir, write, chdir, open,
     * mkdir, read, prctl, the set*id calls, capset, close_range, execve. */
    if (!o->no_seccomp && run_seccomp_load(sync_fd, m) < 0)
        return;
    if (run_finish_pivot(m) < 0)
        return;
    /* Paths the image controls are followed only now. While the old root was still attached
     * (at /dev/.runroot-oldroot, until run_finish_pivot), an image's symlink could lead into
     * it: a WorkingDir through one left the command's cwd in the host's root once it was
     * detached (CVE-2024-21626's outcome), in 5 runs of 200 here. */
    if (enter_cwd(p->cwd) < 0) {
        run_child_fail(m, errno, "cannot change to the working directory '%s'", p->cwd);
        return;
    }
    /* The cwd must be inside the new root (CVE-2024-21626). */
    if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/') {
        run_child_fail(m, EPERM, "the working directory '%s' is outside the container", p->cwd);
        return;
    }
    if (p->opts->user && resolve_user(p, &user, &env, m) < 0)
        return;
    if (set_creds_and_caps(p, &user, m) < 0)
        return;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        run_child_fail(m, errno, "cannot set no_new_privs");
        return;
    }
    /* Nothing but 0-2 survives execve (the sync socket included: its closing tells the
     * parent that exec worked). */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        run_child_fail(m, errno, "cannot mark fds close-on-exec");
        return;
    }
    if (o->init) {
        pid_t child = fork();
        if (child < 0) {
            run_child_fail(m, errno, "cannot start the init process");
            return;
        }
        if (child > 0) {
            /* The reaper never execs, so close-on-exec does nothing for it: close everything
             * it inherited from runroot (the store's fds, the sync socket, the cgroup and
             * kmsg fds) for real, and the command's stdio, which only the command holds. */
            if (close_range(3, ~0U, 0) < 0) {
                (void)kill(child, SIGKILL);
                _exit(125);
            }
            (void)close(0);
            (void)close(1);
            (void)close(2);
            run_init(child);
        }
    }
    (void)do_exec(p, env, m);
}
