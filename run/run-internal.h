#pragma once
/* run/ internals shared by plan.c (pure), the executor (mount.c, cgroup.c, child.c, run.c) and
 * tests/unit/test_run.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "run/run.h"

/* ---- the plan ---- */

enum op_kind {
    OP_ETC_FILE,      /* before the overlay: a file of the container's own /etc (dest "etc/hosts"):
                       * the host file source's text (if source is set; when it cannot be read,
                       * no file with OPF_OPTIONAL, else only data), then data */
    OP_ROOT_OVERLAY,  /* overlay of lowers+upper+work on merged; the root becomes merged (with
                       * the files of OP_ETC_FILE in a tmpfs as the top lower) */
    OP_ROOT_BIND,     /* bind root_dir onto itself; the root is root_dir */
    OP_MOUNT,         /* a fresh filesystem (fstype, data) on dest inside the root */
    OP_MKNOD,         /* a character device dest (mode, dev) */
    OP_SYMLINK,       /* dest -> source */
    OP_BIND,          /* host path source on dest inside the root */
    OP_PIVOT,         /* pivot_root into the root, detach the old one */
    OP_JOIN_NET,      /* after pivot: join the network namespace the parent made */
    OP_MASK,          /* after pivot: hide dest (a file under /dev/null, a dir under a tmpfs) */
    OP_READONLY,      /* after pivot: bind dest onto itself read-only */
    OP_ROOT_READONLY, /* after pivot: remount / read-only */
    _OP_KIND_MAX,
};

enum op_flags {
    OPF_READ_ONLY = 1 << 0, /* OP_MOUNT, OP_BIND */
    OPF_OPTIONAL = 1 << 1,  /* a missing dest (masks), or source (OP_ETC_FILE), is skipped */
};

struct op {
    enum op_kind kind;
    const char *source; /* borrowed from the plan's strings or options */
    const char *dest;   /* relative to the root before OP_PIVOT, absolute after */
    const char *fstype;
    unsigned long mount_flags;
    const char *data;
    mode_t mode;
    dev_t dev;
    unsigned flags;
};

enum cg_controller { CG_MEMORY, CG_CPU, CG_PIDS, CG_IO, _CG_CONTROLLER_MAX };

struct cg_limits {
    uint64_t memory_max;
    uint32_t cpu_millis;
    uint64_t pids_max;
    uint32_t io_weight;
    bool wanted; /* create a cgroup even without limits */
};

struct plan {
    struct op *ops;
    size_t n_ops;
    int clone_flags; /* CLONE_NEW* (without CLONE_NEWCGROUP, unshared after joining) */
    /* A private network: not CLONE_NEWNET in clone_flags but made by the parent while the
     * child mounts (see run.c), and joined by the child at OP_JOIN_NET, before sysfs (which
     * shows the network devices of the namespace that mounts it). */
    bool join_net;
    char **strings; /* owned: paths and options the ops borrow */
    char **argv;    /* owned */
    char **env;     /* owned, with defaults */
    char *cwd;      /* owned */
    char *hostname; /* owned */
    uid_t uid;
    gid_t gid;
    bool home_from_user; /* opts->user is resolved in the child, and HOME is its entry's */
    uint64_t caps;       /* bounding = permitted = effective; inheritable/ambient empty */
    struct cg_limits limits;
    const struct run_options *opts; /* borrowed */
};

/* Build the plan for o (pure: no system calls beyond reading o). Errors are usage-level:
 * -EINVAL with a message naming the bad option. */
int run_plan_build(const struct run_options *o, struct plan **ret, struct rs_err *err);
struct cg_hierarchy;
/* A container with a cgroup of its own sees it, read-only, at /sys/fs/cgroup, as docker's
 * do (run.c decides when): cgroup2 (v2; the cgroup namespace is rooted at the container's cgroup),
 * or (v1) a tmpfs holding the n hierarchies h, each rooted the same way, and their aliases.
 * Runtimes (a JVM, Go, systemd) read their memory and CPU limits there. */
void run_plan_add_cgroupfs(struct plan *p, bool v2, const struct cg_hierarchy *h, size_t n);
struct plan *run_plan_free(struct plan *p);
static inline void run_plan_freep(struct plan **p)
{
    run_plan_free(*p);
}

/* Docker's default capability set as a mask. */
uint64_t run_default_caps(void);
/* Parse a capability name ("NET_ADMIN", "cap_net_admin", "ALL") into a mask. */
int run_parse_cap(const char *name, uint64_t *ret_mask, struct rs_err *err);
/* Parse "SRC:DST[:ro|:rw]"; ret's strings point into a copy owned by *ret_storage. */
int run_parse_bind(const char *text, struct run_bind *ret, char **ret_storage, struct rs_err *err);
/* Parse "DST[:OPTIONS]" as docker's --tmpfs: the mount flags among OPTIONS (ro, rw, exec,
 * noexec, suid, nosuid, dev, nodev, ...; noexec, nosuid and nodev unless told otherwise) and the
 * rest for the tmpfs (size=64m, mode=1777); ret's strings point into *ret_storage. */
int run_parse_tmpfs(const char *text, struct run_tmpfs *ret, char **ret_storage,
                    struct rs_err *err);
/* Parse "NAME:ADDRESS" (an IPv6 address may be in brackets); ret's strings point into a copy
 * owned by *ret_storage. */
int run_parse_host(const char *text, struct run_host *ret, char **ret_storage, struct rs_err *err);
/* Parse "1.5" CPUs into millis (1500); 0 < cpus <= 4096, at most 3 decimals. */
int run_parse_cpus(const char *text, uint32_t *ret_millis, struct rs_err *err);
/* -u USER[:GROUP] (names or numbers) as the container's /etc/passwd and /etc/group texts
 * (either may be NULL: no such file) resolve it, as runc does: a name must be there; a number
 * needs no entry, and then has group 0 and no home. Supplementary groups (those of /etc/group
 * that list the user's name) only when no group is given. Errors name the missing user or
 * group (-ENOENT) or the bad text (-EINVAL). */
struct run_user {
    uid_t uid;
    gid_t gid;
    char *home; /* the entry's, or NULL */
    gid_t *groups;
    size_t n_groups;
};
int run_resolve_user(const char *spec, const char *passwd_text, const char *group_text,
                     struct run_user *ret, struct rs_err *err);
void run_user_done(struct run_user *u);
/* Exit code for a wait status: WEXITSTATUS, or 128+N for signal N. */
int run_exit_code(int wait_status);

/* The overlay options string "lowerdir=TOP:...:BOTTOM,upperdir=..,workdir=..,index=off,...".
 * Returns an owned string. */
char *run_overlay_options(char *const *lowers, const char *upper, const char *work);

/* ---- cgroups (cgroup.c) ---- */

enum cg_mode { CG_MODE_NONE, CG_MODE_V1, CG_MODE_V2, _CG_MODE_MAX };

/* The mode from statfs f_type values of /sys/fs/cgroup and /sys/fs/cgroup/unified (0 if
 * that does not exist): v2 if the first is cgroup2, else v1 (hybrid included) if it is a
 * tmpfs, else none. */
enum cg_mode run_cgroup_mode_from_fstypes(long root_type, long unified_type);
/* Find controller's cgroup path in the text of /proc/self/cgroup ("4:memory:/a/b" for v1,
 * "0::/a/b" for v2 when controller is NULL). Returns an owned path or NULL. */
char *run_cgroup_own_path(const char *proc_self_cgroup, const char *controller);

/* The cgroup v1 options ("cpu,cpuacct", "name=systemd") of the cgroup mount at mount_point in
 * the text of /proc/self/mountinfo: its hierarchy's name and controllers, without flags or
 * release_agent. Returns an owned string, or NULL if there is no such mount. */
char *run_cgroup_v1_options(const char *mountinfo, const char *mount_point);

/* A cgroup v1 hierarchy as the container mounts it: dir under /sys/fs/cgroup (the host's name
 * for it, "cpu,cpuacct"), the mount options naming it ("cpu,cpuacct"), and alias, the
 * controller's own name when it differs from dir ("cpu", a symlink to dir), or NULL. */
struct cg_hierarchy {
    char *dir, *options, *alias;
};

struct cgroup;
/* Create a cgroup for one container named name with limits (detecting the host's mode;
 * $RUNROOT_CGROUP_ROOT names a delegated cgroup v2 directory to create it under instead). */
int cg_create(const struct cg_limits *l, const char *name, struct cgroup **ret, struct rs_err *err);
enum cg_mode cg_mode(const struct cgroup *cg);
/* v1: the hierarchies in which the container has a cgroup of its own, as the host mounts them
 * (*ret is owned: cg_hierarchies_free). Returns their count; 0 on v2, or when the host's
 * mounts cannot be read. */
size_t cg_v1_hierarchies(const struct cgroup *cg, struct cg_hierarchy **ret);
void cg_hierarchies_free(struct cg_hierarchy *h, size_t n);
/* O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP), or -1 (v1). */
int cg_clone_fd(const struct cgroup *cg);
/* Move pid in (v2, when it was not cloned into it). */
int cg_attach(struct cgroup *cg, pid_t pid, struct rs_err *err);
/* v1: the child moves itself in with cg_join_self() instead of the parent's cg_attach(). A
 * pid written into cgroup.procs write-locks the global threadgroup rwsem, which waits for an
 * RCU grace period (10-20 ms here); a thread writing "0" into "tasks" moves only itself and
 * skips that lock (kernel 6.0+, cgroup_procs_write_start; a plain lock on older kernels). */
bool cg_child_joins(const struct cgroup *cg);
/* In the child, single-threaded, before unsharing the cgroup namespace: write "0" into the
 * "tasks" files opened by cg_create. Returns 0 or -errno. Async-signal-safe. */
int cg_join_self(const struct cgroup *cg);
/* Close the fds cg_join_self uses (the parent, once the child has them). */
void cg_close_join_fds(struct cgroup *cg);
/* OOM kills so far. */
uint64_t cg_oom_kills(struct cgroup *cg);
/* The memory cgroup's path as the kernel names it in oom-kill reports ("/a/b/runroot-x"), or
 * NULL without a memory controller. */
const char *cg_memory_path(const struct cgroup *cg);
/* Kill what is left, remove the directories, free; NULL is fine; returns NULL. */
struct cgroup *cg_destroy(struct cgroup *cg);
/* Remove the empty cgroups that runroots killed before their cleanup left beside cg's own (their
 * owner's pid is gone and they are older than a few seconds). Best effort, quiet. */
void cg_sweep_stale(const struct cgroup *cg);
/* The name of a container's cgroup, "runroot-PID-HEX", and back: the pid, or 0 if name is not
 * one of ours. */
char *run_cgroup_name(pid_t pid, unsigned long nonce);
pid_t run_cgroup_name_owner(const char *name);

/* Find the last oom-kill report for memcg in kmsg text records (one per line as read from
 * /dev/kmsg): fills the task name and host pid. Returns true if found. */
bool run_parse_oom_record(const char *record, const char *memcg, char *ret_name, size_t name_size,
                          pid_t *ret_pid);

/* The innermost pid (the last NSpid field) in the text of /proc/PID/status, or 0 if there is
 * no NSpid line or the process is in the caller's own pid namespace only (one field). */
pid_t run_parse_nspid(const char *status_text);

/* ---- the child (mount.c, child.c) ---- */

/* Messages from the child to the parent over the sync socket. */
enum child_msg_kind { MSG_SETUP_ERROR, MSG_EXEC_ERROR, MSG_PTY, _MSG_KIND_MAX };
struct child_msg {
    int kind;
    int err;       /* positive errno */
    bool says_all; /* text is the whole reason: err's own text is not added */
    char text[240];
};

/* Apply the plan's mount operations (in the new mount namespace). Fills msg on failure. */
int run_apply_mounts(const struct plan *p, int sync_fd, struct child_msg *msg);
/* Wait until the old root, detached in the background since pivot_root, is gone (call before
 * anything the container controls runs). Fills msg on failure. */
int run_finish_pivot(struct child_msg *msg);
/* Everything after the mounts, ending in execve; returns only on failure with msg filled. */
void run_child_exec(const struct plan *p, int sync_fd, struct child_msg *msg);
/* Send msg over a unix socket, with fd attached unless it is -1. */
int run_send_fd(int sock, int fd, const struct child_msg *msg);
/* Receive one message from run_send_fd(), its payload dropped: 1 with *ret_fd the fd attached
 * (or -1), 0 at the end of the stream, or -errno. */
int run_recv_fd(int sock, int *ret_fd);

/* In the child: record a setup failure (errno e and a message) in m for the parent to print,
 * and return -e. */
__attribute__((format(printf, 3, 4))) int run_child_fail(struct child_msg *m, int e,
                                                         const char *fmt, ...);
