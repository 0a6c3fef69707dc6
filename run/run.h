#pragma once
/* runroot: run a command in a root filesystem as a container, and the library call that
 * mkroot uses to configure packages inside a new root ("configuring a new root is a container
 * run").
 *
 * A run has two halves, as in bubblewrap: a pure plan (options -> an ordered list of mount
 * operations, namespaces, cgroup limits, capabilities, argv, env), and an executor that clones
 * one child into new pid/mount/uts/ipc/cgroup (and net) namespaces, applies the plan there,
 * pivots into the root and executes the command, while the parent supervises: it forwards
 * signals, proxies a pty, reaps, removes the cgroup and reports out-of-memory kills. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

enum run_net {
    RUN_NET_PRIVATE, /* a new network namespace with only loopback, brought up */
    RUN_NET_HOST,    /* the host's network namespace */
    _RUN_NET_MAX,
};

/* -v SRC:DST[:ro]. */
struct run_bind {
    const char *source; /* borrowed: host path (absolute or relative to the cwd) */
    const char *dest;   /* borrowed: absolute path inside the container, resolved inside the
                         * root: the image's symlinks never lead out of it */
    bool read_only;
};

/* --tmpfs DST[:OPTIONS]: a fresh tmpfs on dest, inside the root as -v's are. */
struct run_tmpfs {
    const char *dest;    /* borrowed: absolute path inside the container */
    unsigned long flags; /* MS_* */
    const char *data;    /* borrowed: tmpfs options (size=, mode=, ...), or NULL */
};

/* --add-host NAME:ADDRESS: one more line of the container's /etc/hosts. */
struct run_host {
    const char *name;    /* borrowed: letters, digits, '-', '_' and '.' */
    const char *address; /* borrowed: an IPv4 or IPv6 address */
};

/* What to run and how. Initialise with run_options_init(), then set fields; every pointer is
 * borrowed for the duration of run_container().
 *
 * The root filesystem is one of:
 *  - root_dir: that directory itself is "/", writable (unless read_only_root), nothing layered
 *    over it: a base layer being built (mkroot runs `dpkg --configure -a` in tmp/<x>/root).
 *  - lower_dirs (bottom to top, NULL-terminated, at least one) with upper_dir, work_dir and
 *    merged_dir: an overlay mount of the lowers under upper_dir on merged_dir. upper_dir and
 *    work_dir must be on the same filesystem and empty the first time; they belong to the
 *    caller and are left in place afterwards (the caller discards them, or publishes upper_dir
 *    as a layer). merged_dir is the directory used as the mount point (it need not
 *    be empty: the parent of upper_dir works, and the mount hides it only from the
 *    container); the mount lives only in the container's mount namespace and disappears
 *    with it.
 * Mounts are always private to the container: nothing is left mounted on the host. */
struct run_options {
    const char *root_dir;
    char *const *lower_dirs;
    const char *upper_dir, *work_dir, *merged_dir;
    bool read_only_root;
    /* The caller discards upper_dir after the run (it is not published as a layer): the
     * overlay is mounted "volatile", so neither an fsync in the container nor the unmount at
     * the container's exit syncs the upper's filesystem (on a busy disk that sync of the
     * whole filesystem was the largest part of a short run: 10-300 ms). What the container
     * wrote is lost on a host crash, which is what discarding it means anyway. Kernels
     * without the option (before 5.10) mount as usual. The overlay's "volatile" marker under
     * work_dir (work/incompat/volatile/dirty) is removed while the command runs. */
    bool discard_upper;
    /* With lower_dirs: the container gets its own /etc/hostname (the hostname), /etc/hosts
     * (localhost and the hostname; sharing the host's network, the host's file and the
     * hostname) and, sharing the host's network, a copy of the host's /etc/resolv.conf, as
     * docker and podman write them for each container. They are in a small tmpfs laid over the
     * image as its top layer, in the container's mount namespace only, with the mount points
     * /proc, /sys and /dev (as docker's init layer): never in upper_dir unless the container
     * changes them (runroot --commit leaves such changes out, as docker's commit does). When
     * the image's /etc is not a directory it is left alone, and the layer holds only the mount
     * points. */
    bool etc_files;
    bool no_hosts; /* with etc_files: keep the image's /etc/hosts (podman's --no-hosts) */
    const struct run_host *hosts; /* with etc_files: added to /etc/hosts (not with no_hosts) */
    size_t n_hosts;

    char *const *argv;    /* required, non-empty; argv[0] is searched in env's PATH */
    char *const *env;     /* the environment ("K=V"); PATH and HOME get defaults if absent */
    const char *cwd;      /* absolute, inside the container; NULL = "/" */
    const char *hostname; /* NULL = "rootstock" */
    enum run_net net;
    uid_t uid; /* credentials of the command; 0 by default */
    gid_t gid;
    /* Or a user as docker's -u takes it: NAME or UID, with :GROUP or :GID, looked up in the
     * container's /etc/passwd and /etc/group (a name must be there; the entry gives the group,
     * the supplementary groups and HOME). Replaces uid and gid. */
    const char *user;

    /* The command's stdin, stdout, stderr: fds of the caller (-1 = the caller's own 0, 1, 2).
     * They are dup'ed into the container; the caller keeps its copies. Ignored with tty. */
    int stdio[3];
    /* Give the command a new pty from the container's own devpts, proxied to the caller's 0/1
     * (which should be a terminal: it is put in raw mode and restored on every path). */
    bool tty;
    /* Put a small reaper in front of the command as PID 1 (forwards signals, reaps orphans,
     * exits with the command's status). */
    bool init;

    const struct run_bind *binds;
    size_t n_binds;
    const struct run_tmpfs *tmpfs;
    size_t n_tmpfs;

    /* Resource limits, 0 = none. With any of them, or with `cgroup`, the command runs in a
     * new cgroup (v2, or the v1 controllers on v1 and hybrid hosts, detected) that is
     * removed afterwards. */
    uint64_t memory_max; /* bytes, swap included: no swap beyond it */
    uint32_t cpu_millis; /* 1500 = 1.5 CPUs */
    uint64_t pids_max;
    uint32_t io_weight; /* 1..10000 (v2 io.weight; v1 blkio weight is scaled) */
    bool cgroup;

    /* Capabilities: docker's default set, plus cap_add, minus cap_drop (bit masks of CAP_*
     * numbers, 1ULL << CAP_X). */
    uint64_t cap_add, cap_drop;
    bool no_seccomp; /* skip the default seccomp filter (tests, trusted build steps) */
    /* fsync, fdatasync, sync, syncfs and sync_file_range succeed at once without syncing
     * (what eatmydata does, in the filter, so static programs are covered too): for a build
     * whose whole result the caller syncs once afterwards (mkroot syncs the layer when it
     * publishes it). Ignored with no_seccomp. */
    bool no_sync;
};

/* How the run ended (filled only when run_container returns 0). */
struct run_result {
    int exit_code;     /* what runroot exits with: the status, 128+N for signal N, 126 when
                        * the command cannot be executed, 127 when it is not found */
    int signal;        /* the signal that ended the command, or 0 */
    int exec_errno;    /* errno of a failed execve (exit_code 126/127), else 0 */
    char message[256]; /* the reason when exec_errno is set: "cannot execute 'x'" */
    /* Out-of-memory kills in the container's cgroup, whether or not the command survived. */
    unsigned n_oom_kills;
    bool main_oom_killed;    /* the command itself (container pid 1, or 2 under init) */
    char oom_victim[32];     /* name of the last killed process, "" if unknown */
    pid_t oom_victim_pid;    /* its pid (host pid unless main_oom_killed), 0 if unknown */
    pid_t oom_victim_ns_pid; /* its pid inside the container when it could be read while it
                              * was dying (best effort: /proc/PID/status NSpid), else 0 */
};

/* Defaults: stdio inherited, private network, uid/gid 0, no limits, no tty. */
void run_options_init(struct run_options *o);

/* Run o->argv as described above and wait for it. Returns 0 and fills *ret when the command
 * was started (or could not be executed: ret->exit_code 126/127 with a message); returns
 * -errno and fills err when runroot itself failed (bad options, a mount, a cgroup, clone),
 * which a front end reports with exit status 125. Needs root (CAP_SYS_ADMIN). Signals
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 sent to the caller during the run are
 * forwarded to the command; SIGCHLD for the container is consumed. The caller must have no
 * other thread running: the child is cloned with the raw clone3 (for its namespaces and
 * cgroup), which copies any lock another thread holds at that moment, and the child would
 * wait on it forever. */
int run_container(const struct run_options *o, struct run_result *ret, struct rs_err *err);

/* `rootstock run` / `runroot`: argv[0] is the verb or program name. Returns the exit code:
 * the command's status, 125 for runroot's own failures, 126/127 when the command cannot be
 * executed / found, 2 for usage errors. */
int cmd_run(int argc, char *argv[]);
