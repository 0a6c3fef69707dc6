/* The executor's mount half: runs in the child, in its new mount namespace, before pivot_root.
 * Every destination inside the root is resolved relative to the root fd with the image's
 * symlinks contained (common/path.h), and mounted onto the resolved fd, never by re-resolving
 * a string (CVE-2021-30465, crun CVE-2019-18837). */
#include "run/run-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/path.h"
#include "common/strv.h"
#include "common/xalloc.h"

static const char *fd_path(int fd, char buf[static 32])
{
    (void)snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

static int mount_overlay_legacy(const struct run_options *o, struct child_msg *m)
{
    _cleanup_strv_free_ char **all = strv_copy(o->lower_dirs);
    _cleanup_free_ char *opts = NULL;
    _cleanup_free_ char *prefix = NULL;
    size_t prefix_len = 0;

    opts = run_overlay_options(o->lower_dirs, o->upper_dir, o->work_dir, 0);
    if (strlen(opts) >= (size_t)sysconf(_SC_PAGESIZE) - 1) {
        /* The option string is cut at a page: mount from a common parent with relative
         * names, as docker does. */
        strv_push(&all, o->upper_dir);
        strv_push(&all, o->work_dir);
        prefix_len = run_common_dir_prefix(all);
        if (prefix_len == 0)
            return run_child_fail(m, E2BIG, "cannot mount overlay on '%s': too many layers",
                                  o->merged_dir);
        prefix = xstrndup(all[0], prefix_len);
        free(opts);
        opts = run_overlay_options(o->lower_dirs, o->upper_dir, o->work_dir, prefix_len);
        if (chdir(prefix) < 0)
            return run_child_fail(m, errno, "cannot change to '%s'", prefix);
    }
    if (o->discard_upper) {
        _cleanup_free_ char *vopts = xasprintf("%s,volatile", opts);
        if (mount("overlay", o->merged_dir, "overlay", 0, vopts) == 0)
            return 0;
        if (errno != EINVAL)
            return run_child_fail(m, errno, "cannot mount overlay on '%s' (%zu layers)",
                                  o->merged_dir, strv_length(o->lower_dirs));
        /* Before 5.10: no "volatile"; mount without it. */
    }
    if (mount("overlay", o->merged_dir, "overlay", 0, opts) < 0)
        return run_child_fail(m, errno, "cannot mount overlay on '%s' (%zu layers)", o->merged_dir,
                              strv_length(o->lower_dirs));
    return 0;
}

static int mount_overlay(const struct run_options *o, struct child_msg *m)
{
    static const char *const flags[] = { "index", "redirect_dir", "metacopy" };
    _cleanup_close_ int fs = -1, mnt = -1;
    size_t n = strv_length(o->lower_dirs);

    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return errno == ENOSYS
                   ? mount_overlay_legacy(o, m)
                   : run_child_fail(m, errno, "cannot open an overlay filesystem context");
    /* "lowerdir+" (kernel 6.8+) takes one layer at a time, top first, with no page limit. */
    for (size_t i = n; i > 0; i--)
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", o->lower_dirs[i - 1], 0) < 0) {
            if (errno == EINVAL && i == n)
                return mount_overlay_legacy(o, m);
            return run_child_fail(m, errno, "cannot use layer '%s' as an overlay lower",
                                  o->lower_dirs[i - 1]);
        }
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", o->upper_dir, 0) < 0)
        return run_child_fail(m, errno, "cannot use '%s' as an overlay upper", o->upper_dir);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", o->work_dir, 0) < 0)
        return run_child_fail(m, errno, "cannot use '%s' as an overlay work dir", o->work_dir);
    for (size_t i = 0; i < ELEMENTSOF(flags); i++)
        if (fsconfig(fs, FSCONFIG_SET_STRING, flags[i], "off", 0) < 0)
            return run_child_fail(m, errno, "cannot set overlay option '%s=off'", flags[i]);
    /* Unknown to kernels before 5.10: then the unmount syncs, as it always did. */
    if (o->discard_upper && fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0) < 0)
        log_debug("overlay without 'volatile': %m");
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return run_child_fail(m, errno, "cannot mount overlay on '%s' (%zu layers, upper '%s')",
                              o->merged_dir, n, o->upper_dir);
    mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0);
    if (mnt < 0 || move_mount(mnt, "", AT_FDCWD, o->merged_dir, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return run_child_fail(m, errno, "cannot mount overlay on '%s'", o->merged_dir);
    return 0;
}

static int do_bind(int root_fd, const struct op *op, struct child_msg *m)
{
    _cleanup_close_ int tree = -1, dst = -1;
    struct stat st;

    tree = open_tree(AT_FDCWD, op->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0 || fstat(tree, &st) < 0)
        return run_child_fail(m, errno, "cannot bind '%s': cannot open it", op->source);
    if (S_ISDIR(st.st_mode)) {
        dst = rs_mkdir_in_root(root_fd, op->dest, 0755);
    } else {
        _cleanup_free_ char *parent = xstrdup(op->dest);
        char *slash = strrchr(parent, '/');
        if (slash) {
            *slash = '\0';
            _cleanup_close_ int pfd = rs_mkdir_in_root(root_fd, parent, 0755);
            if (pfd < 0)
                return run_child_fail(m, -pfd, "cannot bind '%s' on '/%s'", op->source, op->dest);
        }
        dst = rs_open_in_root(root_fd, op->dest, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    }
    if (dst < 0)
        return run_child_fail(m, -dst, "cannot bind '%s' on '/%s'", op->source, op->dest);
    if (op->flags & OPF_READ_ONLY) {
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            return run_child_fail(m, errno, "cannot make '/%s' read-only", op->dest);
    }
    if (move_mount(tree, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return run_child_fail(m, errno, "cannot bind '%s' on '/%s'", op->source, op->dest);
    return 0;
}

/* Where the old root goes at pivot_root: a directory in the container's own /dev tmpfs, so that
 * "/" is the new root at once and the old one can be detached while the setup goes on. */
#define OLD_ROOT "/dev/.runroot-oldroot"

/* The process detaching the old root; 0 once it is done (or when it was done in place). */
static pid_t detacher;
/* The container's /proc/sys/kernel/ns_last_pid, opened while /proc/sys is still writable. */
static int last_pid_fd = -1;

/* Detaching the old root ends in the kernel's RCU grace period (namespace_unlock ->
 * synchronize_rcu_expedited), 0.2-1.1 ms of waiting on the test VM, one of the largest steps
 * of the setup. A child process of ours (same mount namespace) waits for it while we join the
 * network namespace, mount sysfs and the masks, set the hostname, the session and stdio and
 * load the seccomp filter; run_finish_pivot() joins it before the credentials change and
 * before anything the container controls can run. Only our own code runs in between, with
 * paths resolved in the new root; nothing the old root holds is opened. Without a /dev of
 * ours, or when fork fails (a pids limit of 1), the old root is stacked and detached in place,
 * as runc does. */
static int do_pivot(int root_fd, struct child_msg *m)
{
    _cleanup_close_ int old_fd = rs_mkdir_in_root(root_fd, OLD_ROOT + 1, 0700);
    char buf[32];

    if (fchdir(root_fd) < 0)
        return run_child_fail(m, errno, "cannot change to the new root");
    if (old_fd < 0 || syscall(SYS_pivot_root, ".", fd_path(old_fd, buf)) < 0) {
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            return run_child_fail(m, errno, "cannot pivot_root into the new root");
        /* The old root is now stacked under "."; keep its unmount from propagating, detach. */
        if (mount(NULL, ".", NULL, MS_REC | MS_SLAVE, NULL) < 0)
            return run_child_fail(m, errno, "cannot make the old root a slave mount");
        if (umount2(".", MNT_DETACH) < 0)
            return run_child_fail(m, errno, "cannot detach the old root");
        if (chdir("/") < 0)
            return run_child_fail(m, errno, "cannot change to '/'");
        (void)rmdir(OLD_ROOT);
        return 0;
    }
    if (chdir("/") < 0)
        return run_child_fail(m, errno, "cannot change to '/'");
    if (mount(NULL, OLD_ROOT, NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return run_child_fail(m, errno, "cannot make the old root a slave mount");
    last_pid_fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    detacher = fork();
    if (detacher == 0)
        _exit(umount2(OLD_ROOT, MNT_DETACH) == 0 ? 0 : 1);
    if (detacher < 0) {
        detacher = 0;
        last_pid_fd = safe_close(last_pid_fd);
        if (umount2(OLD_ROOT, MNT_DETACH) < 0)
            return run_child_fail(m, errno, "cannot detach the old root");
        (void)rmdir(OLD_ROOT);
    }
    return 0;
}

int run_finish_pivot(struct child_msg *m)
{
    int status;

    if (detacher == 0)
        return 0;
    while (waitpid(detacher, &status, 0) < 0)
        if (errno != EINTR)
            return run_child_fail(m, errno, "cannot wait for the old root's detachment");
    detacher = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return run_child_fail(m, EBUSY, "cannot detach the old root");
    if (rmdir(OLD_ROOT) < 0)
        return run_child_fail(m, errno, "cannot remove '%s'", OLD_ROOT);
    /* The detacher was PID 2: give that number back, so that the command's first child (the
     * command itself under --init) is 2 as in any new pid namespace. Without
     * CONFIG_CHECKPOINT_RESTORE there is no such file, and numbers start at 3. */
    if (last_pid_fd >= 0) {
        (void)!write(last_pid_fd, "1", 1);
        last_pid_fd = safe_close(last_pid_fd);
    }
    return 0;
}

static int do_mask(const struct op *op, struct child_msg *m)
{
    struct stat st, null_st;

    if (lstat(op->dest, &st) < 0) {
        if (errno == ENOENT && (op->flags & OPF_OPTIONAL))
            return 0;
        return run_child_fail(m, errno, "cannot mask '%s'", op->dest);
    }
    if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", op->dest, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=0,mode=0555") < 0)
            return run_child_fail(m, errno, "cannot mask '%s'", op->dest);
        return 0;
    }
    /* Bind only a /dev/null that is what it claims (CVE-2025-31133). */
    if (lstat("/dev/null", &null_st) < 0 || !S_ISCHR(null_st.st_mode) ||
        null_st.st_rdev != makedev(1, 3))
        return run_child_fail(m, EPERM, "cannot mask '%s': /dev/null is not the null device",
                              op->dest);
    if (mount("/dev/null", op->dest, NULL, MS_BIND, NULL) < 0)
        return run_child_fail(m, errno, "cannot mask '%s'", op->dest);
    return 0;
}

static int do_readonly(const struct op *op, struct child_msg *m)
{
    if (mount(op->dest, op->dest, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT && (op->flags & OPF_OPTIONAL))
            return 0;
        return run_child_fail(m, errno, "cannot bind '%s' read-only", op->dest);
    }
    if (mount(NULL, op->dest, NULL,
              MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return run_child_fail(m, errno, "cannot remount '%s' read-only", op->dest);
    return 0;
}

static int do_root(const struct op *op, const struct run_options *o, int *root_fd,
                   struct child_msg *m)
{
    int r;

    if (op->kind == OP_ROOT_OVERLAY) {
        r = mount_overlay(o, m);
        if (r < 0)
            return r;
    } else if (mount(op->source, op->source, NULL, MS_BIND | MS_REC, NULL) < 0) {
        return run_child_fail(m, errno, "cannot bind the root '%s'", op->source);
    }
    *root_fd = open(op->dest, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*root_fd < 0)
        return run_child_fail(m, errno, "cannot open the root '%s'", op->dest);
    return 0;
}

/* A device node or a symlink: in its parent directory (/dev, /sys/fs/cgroup), which exists. */
static int do_node(int root_fd, const struct op *op, struct child_msg *m)
{
    _cleanup_close_ int fd = -1;
    const char *name = strrchr(op->dest, '/');
    _cleanup_free_ char *parent = name ? xstrndup(op->dest, (size_t)(name - op->dest)) : NULL;

    fd = rs_open_in_root(root_fd, parent ? parent : ".", O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        return run_child_fail(m, -fd, "cannot open '/%s'", parent ? parent : "");
    name = name ? name + 1 : op->dest;
    if (op->kind == OP_MKNOD) {
        if (mknodat(fd, name, op->mode, op->dev) < 0)
            return run_child_fail(m, errno, "cannot create '/%s'", op->dest);
    } else if (symlinkat(op->source, fd, name) < 0) {
        return run_child_fail(m, errno, "cannot create '/%s'", op->dest);
    }
    return 0;
}

static int do_mount(int root_fd, const struct op *op, struct child_msg *m)
{
    _cleanup_close_ int fd = -1;
    char buf[32];

    fd = rs_mkdir_in_root(root_fd, op->dest, 0755);
    if (fd < 0)
        return run_child_fail(m, -fd, "cannot create the mount point '/%s'", op->dest);
    if (mount(op->source, fd_path(fd, buf), op->fstype, op->mount_flags, op->data) < 0)
        return run_child_fail(m, errno, "cannot mount %s on '/%s'", op->fstype, op->dest);
    return 0;
}

/* The parent sends the network namespace as an fd, loopback already up. */
static int do_join_net(int sync_fd, struct child_msg *m)
{
    _cleanup_close_ int fd = -1;
    int r = run_recv_fd(sync_fd, &fd);

    if (r <= 0 || fd < 0)
        return run_child_fail(m, r < 0 ? -r : EBADMSG,
                              "cannot receive the container's network namespace");
    if (setns(fd, CLONE_NEWNET) < 0)
        return run_child_fail(m, errno, "cannot join the container's network namespace");
    return 0;
}

int run_apply_mounts(const struct plan *p, int sync_fd, struct child_msg *m)
{
    _cleanup_close_ int root_fd = -1;
    int r = 0;

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return run_child_fail(m, errno, "cannot make '/' private");
    for (size_t i = 0; i < p->n_ops && r >= 0; i++) {
        const struct op *op = &p->ops[i];
        switch (op->kind) {
        case OP_ROOT_OVERLAY:
        case OP_ROOT_BIND:
            r = do_root(op, p->opts, &root_fd, m);
            break;
        case OP_MOUNT:
            r = do_mount(root_fd, op, m);
            break;
        case OP_MKNOD:
        case OP_SYMLINK:
            r = do_node(root_fd, op, m);
            break;
        case OP_BIND:
            r = do_bind(root_fd, op, m);
            break;
        case OP_PIVOT:
            r = do_pivot(root_fd, m);
            break;
        case OP_JOIN_NET:
            r = do_join_net(sync_fd, m);
            break;
        case OP_MASK:
            r = do_mask(op, m);
            break;
        case OP_READONLY:
            r = do_readonly(op, m);
            break;
        case OP_ROOT_READONLY:
            if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                r = run_child_fail(m, errno, "cannot make the root read-only");
            break;
        case _OP_KIND_MAX:
            r = run_child_fail(m, EINVAL, "bad plan");
            break;
        }
    }
    return r;
}
