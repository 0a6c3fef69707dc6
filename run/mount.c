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
#include "common/fs.h"
#include "common/log.h"
#include "common/path.h"
#include "common/strv.h"
#include "common/xalloc.h"

static const char *fd_path(int fd, char buf[static 32])
{
    (void)snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

/* The overlay's layers as mounted: the options' own, or (with the container's top layer) that
 * tmpfs on top, and the upper and work dirs named through fds, as the tmpfs covers the
 * directory that holds them. */
struct overlay_layers {
    char **lowers; /* bottom to top */
    const char *upper, *work;
};

/* Names the layers by fd number ("12") for a mount done from /proc/self/fd, when their paths
 * do not fit in one page of mount options: 500 lowers of a store's 64-hex-digit layer paths take
 * ~39 KiB even relative to the store, while their fd numbers take ~2 KiB. */
struct layer_fds {
    int *fds;
    size_t n;
    char **lowers;
    char upper[16], work[16];
};

static void layer_fds_close(struct layer_fds *f)
{
    for (size_t i = 0; i < f->n; i++)
        safe_close(f->fds[i]);
    free(f->fds);
    strv_free(f->lowers);
    *f = (struct layer_fds){};
}

static int layer_fds_open(const struct overlay_layers *l, struct layer_fds *ret,
                          struct child_msg *m)
{
    size_t n_lowers = strv_length(l->lowers);

    ret->fds = xcalloc(n_lowers + 2, sizeof(*ret->fds));
    for (size_t i = 0; i < n_lowers + 2; i++) {
        const char *path = i < n_lowers ? l->lowers[i] : i == n_lowers ? l->upper : l->work;
        int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return run_child_fail(m, errno, "cannot open overlay layer '%s'", path);
        ret->fds[ret->n++] = fd;
        if (i < n_lowers)
            strv_consume(&ret->lowers, xasprintf("%d", fd));
        else
            (void)snprintf(i == n_lowers ? ret->upper : ret->work, sizeof(ret->upper), "%d", fd);
    }
    return 0;
}

static int mount_overlay_legacy(const struct run_options *o, const struct overlay_layers *l,
                                struct child_msg *m)
{
    _cleanup_(layer_fds_close) struct layer_fds fds = {};
    _cleanup_free_ char *opts = NULL;
    int r;

    opts = run_overlay_options(l->lowers, l->upper, l->work);
    if (strlen(opts) >= (size_t)sysconf(_SC_PAGESIZE) - 1) {
        /* The kernel reads one page of options: name each layer by its fd instead. */
        r = layer_fds_open(l, &fds, m);
        if (r < 0)
            return r;
        free(opts);
        opts = run_overlay_options(fds.lowers, fds.upper, fds.work);
        if (chdir("/proc/self/fd") < 0)
            return run_child_fail(m, errno, "cannot change to '/proc/self/fd'");
    }
    if (o->discard_upper) {
        _cleanup_free_ char *vopts = xasprintf("%s,volatile", opts);
        if (mount("overlay", o->merged_dir, "overlay", 0, vopts) == 0)
            return 0;
        if (errno != EINVAL)
            return run_child_fail(m, errno, "cannot mount overlay on '%s' (%zu layers)",
                                  o->merged_dir, strv_length(l->lowers));
        /* Before 5.10: no "volatile"; mount without it. */
    }
    if (mount("overlay", o->merged_dir, "overlay", 0, opts) < 0)
        return run_child_fail(m, errno, "cannot mount overlay on '%s' (%zu layers)", o->merged_dir,
                              strv_length(l->lowers));
    return 0;
}

static int mount_overlay(const struct run_options *o, const struct overlay_layers *l,
                         struct child_msg *m)
{
    static const char *const flags[] = { "index", "redirect_dir", "metacopy" };
    _cleanup_close_ int fs = -1, mnt = -1;
    size_t n = strv_length(l->lowers);

    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return errno == ENOSYS
                   ? mount_overlay_legacy(o, l, m)
                   : run_child_fail(m, errno, "cannot open an overlay filesystem context");
    /* "lowerdir+" (kernel 6.8+) takes one layer at a time, top first, with no page limit. */
    for (size_t i = n; i > 0; i--)
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", l->lowers[i - 1], 0) < 0) {
            if (errno == EINVAL && i == n)
                return mount_overlay_legacy(o, l, m);
            return run_child_fail(m, errno, "cannot use layer '%s' as an overlay lower",
                                  l->lowers[i - 1]);
        }
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", l->upper, 0) < 0)
        return run_child_fail(m, errno, "cannot use '%s' as an overlay upper", o->upper_dir);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", l->work, 0) < 0)
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

/* The container's own /etc files (OP_ETC_FILE) and mount points: a tmpfs mounted on the
 * container's directory (merged, in our mount namespace only) before the overlay, which takes it
 * as its top lower and is then mounted over it. Its etc/ has the image's /etc's mode, owner and
 * times, which the merged /etc shows (and a copy-up of /etc copies). */
static const char *const mount_points[] = { "proc", "sys", "dev" };

struct top_layer {
    bool started;
    bool no_etc;  /* the image's /etc is not a directory: it is kept, and no files are written */
    int top_fd;   /* O_PATH: the tmpfs's root */
    int upper_fd; /* O_PATH: the overlay's upper and work, under the tmpfs */
    int work_fd;
    mode_t umask;                 /* the caller's, given back once the layer is made: the
                                   * layer's modes are exact meanwhile */
    struct timespec etc_times[2]; /* the image's /etc's atime and mtime, set once it is filled */
};

#define TOP_LAYER_NONE                        \
 {                                            \
  .top_fd = -1, .upper_fd = -1, .work_fd = -1 \
 }

static void top_layer_close(struct top_layer *l)
{
    if (l->started)
        umask(l->umask);
    l->started = false;
    l->top_fd = safe_close(l->top_fd);
    l->upper_fd = safe_close(l->upper_fd);
    l->work_fd = safe_close(l->work_fd);
}

/* The image's /etc: in the top layer that has it (a whiteout hides it). Returns 1 with *ret
 * filled, 0 if no layer has one, or -errno. */
static int image_etc_stat(char *const *lowers, struct stat *ret)
{
    for (size_t i = strv_length(lowers); i > 0; i--) {
        _cleanup_free_ char *path = xasprintf("%s/etc", lowers[i - 1]);
        if (lstat(path, ret) == 0)
            return S_ISCHR(ret->st_mode) && ret->st_rdev == makedev(0, 0) ? 0 : 1;
        if (errno != ENOENT)
            return -errno;
    }
    return 0;
}

static int top_layer_start(const struct run_options *o, struct top_layer *l, struct child_msg *m)
{
    struct stat st;
    int r;

    l->started = true;
    l->umask = umask(0);
    r = image_etc_stat(o->lower_dirs, &st);
    if (r < 0)
        return run_child_fail(m, -r, "cannot read the image's /etc");
    if (r == 0) {
        st = (struct stat){ .st_mode = S_IFDIR | 0755 };
        l->etc_times[0].tv_nsec = l->etc_times[1].tv_nsec = UTIME_OMIT;
    } else {
        l->etc_times[0] = st.st_atim;
        l->etc_times[1] = st.st_mtim;
    }
    l->no_etc = !S_ISDIR(st.st_mode);
    l->upper_fd = open(o->upper_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (l->upper_fd < 0)
        return run_child_fail(m, errno, "cannot open '%s'", o->upper_dir);
    l->work_fd = open(o->work_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (l->work_fd < 0)
        return run_child_fail(m, errno, "cannot open '%s'", o->work_dir);
    if (mount("tmpfs", o->merged_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "mode=755,size=16m,nr_inodes=32") < 0)
        return run_child_fail(m, errno, "cannot mount the container's top layer");
    l->top_fd = open(o->merged_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (l->top_fd < 0 ||
        (!l->no_etc &&
         (mkdirat(l->top_fd, "etc", st.st_mode & 07777) < 0 ||
          ((st.st_uid != 0 || st.st_gid != 0) &&
           fchownat(l->top_fd, "etc", st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0) ||
          ((st.st_mode & 07000) && fchmodat(l->top_fd, "etc", st.st_mode & 07777, 0) < 0))))
        return run_child_fail(m, errno, "cannot make the container's top layer");
    /* The mount points, as docker's init layer has them: an image without them then needs
     * no directory made in the upper (which would keep the container directory from reuse,
     * and go into a commit). Mounts cover them, so their modes never show. They are
     * directories whatever the image has there: an image's /proc linked to
     * /dev/.runroot-oldroot/proc would otherwise be the host's procfs until the old root is
     * detached, and the setup opens /proc/sys/kernel/ns_last_pid in that window. */
    for (size_t i = 0; i < ELEMENTSOF(mount_points); i++)
        if (mkdirat(l->top_fd, mount_points[i], 0755) < 0)
            return run_child_fail(m, errno, "cannot make the container's top layer");
    return 0;
}

static int do_etc_file(const struct run_options *o, const struct op *op, struct top_layer *l,
                       struct child_msg *m)
{
    _cleanup_free_ char *host = NULL;
    _cleanup_close_ int fd = -1;
    size_t host_len = 0;
    int r;

    if (!l->started) {
        r = top_layer_start(o, l, m);
        if (r < 0)
            return r;
    }
    if (l->no_etc)
        return 0;
    if (op->source) {
        /* Hosts files of blocklists run to a few MiB; the tmpfs holds two of 4 MiB. */
        r = rs_read_file_at(AT_FDCWD, op->source, 4 << 20, &host, &host_len, NULL);
        if (r < 0 && (op->flags & OPF_OPTIONAL))
            return 0;
    }
    fd = openat(l->top_fd, op->dest, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return run_child_fail(m, errno, "cannot create the container's '/%s'", op->dest);
    r = rs_write_all(fd, host, host_len);
    if (r >= 0 && host_len > 0 && host[host_len - 1] != '\n')
        r = rs_write_all(fd, "\n", 1);
    if (r >= 0)
        r = rs_write_all(fd, op->data, strlen(op->data));
    if (r < 0)
        return run_child_fail(m, -r, "cannot write the container's '/%s'", op->dest);
    return 0;
}

static int do_overlay(const struct run_options *o, struct top_layer *top, struct child_msg *m)
{
    _cleanup_strv_free_ char **lowers = NULL;
    char upper[32], work[32];
    struct overlay_layers l = { .lowers = (char **)o->lower_dirs,
                                .upper = o->upper_dir,
                                .work = o->work_dir };

    if (top->started) {
        if (!top->no_etc && utimensat(top->top_fd, "etc", top->etc_times, AT_SYMLINK_NOFOLLOW) < 0)
            return run_child_fail(m, errno, "cannot make the container's top layer");
        lowers = strv_copy(o->lower_dirs);
        strv_push(&lowers, o->merged_dir);
        l = (struct overlay_layers){ .lowers = lowers,
                                     .upper = fd_path(top->upper_fd, upper),
                                     .work = fd_path(top->work_fd, work) };
    }
    return mount_overlay(o, &l, m);
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

/* null_checked: /dev/null was found to be the null device by an earlier mask of this run. */
static int do_mask(const struct op *op, bool *null_checked, struct child_msg *m)
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
    /* Bind only a /dev/null that is what it claims (CVE-2025-31133). It is our own /dev's, and
     * only our own code runs until exec, so once is enough. */
    if (!*null_checked && (lstat("/dev/null", &null_st) < 0 || !S_ISCHR(null_st.st_mode) ||
                           null_st.st_rdev != makedev(1, 3)))
        return run_child_fail(m, EPERM, "cannot mask '%s': /dev/null is not the null device",
                              op->dest);
    *null_checked = true;
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

static int do_root(const struct op *op, const struct run_options *o, struct top_layer *top,
                   int *root_fd, struct child_msg *m)
{
    int r;

    if (op->kind == OP_ROOT_OVERLAY) {
        r = do_overlay(o, top, m);
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

/* The directory the last node was made in: /dev's nodes and links come one after another, and
 * each would otherwise open and close it again. Forgotten at any other op, since a mount may
 * cover it. */
struct node_dir {
    char *path;
    int fd;
};

static void node_dir_close(struct node_dir *d)
{
    free(d->path);
    d->path = NULL;
    d->fd = safe_close(d->fd);
}

/* A device node or a symlink: in its parent directory (/dev, /sys/fs/cgroup), which exists. */
static int do_node(int root_fd, const struct op *op, struct node_dir *dir, struct child_msg *m)
{
    const char *name = strrchr(op->dest, '/');
    _cleanup_free_ char *parent = xstrndup(op->dest, name ? (size_t)(name - op->dest) : 0);

    if (!dir->path || strcmp(dir->path, parent) != 0) {
        node_dir_close(dir);
        dir->fd = rs_open_in_root(root_fd, *parent ? parent : ".", O_PATH | O_DIRECTORY, 0);
        if (dir->fd < 0)
            return run_child_fail(m, -dir->fd, "cannot open '/%s'", parent);
        dir->path = TAKE_PTR(parent);
    }
    name = name ? name + 1 : op->dest;
    if (op->kind == OP_MKNOD) {
        if (mknodat(dir->fd, name, op->mode, op->dev) < 0)
            return run_child_fail(m, errno, "cannot create '/%s'", op->dest);
    } else if (symlinkat(op->source, dir->fd, name) < 0) {
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
    _cleanup_(top_layer_close) struct top_layer top = TOP_LAYER_NONE;
    _cleanup_(node_dir_close) struct node_dir node_dir = { .fd = -1 };
    bool null_checked = false;
    int r = 0;

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return run_child_fail(m, errno, "cannot make '/' private");
    for (size_t i = 0; i < p->n_ops && r >= 0; i++) {
        const struct op *op = &p->ops[i];
        if (op->kind != OP_MKNOD && op->kind != OP_SYMLINK)
            node_dir_close(&node_dir);
        switch (op->kind) {
        case OP_ETC_FILE:
            r = do_etc_file(p->opts, op, &top, m);
            break;
        case OP_ROOT_OVERLAY:
        case OP_ROOT_BIND:
            r = do_root(op, p->opts, &top, &root_fd, m);
            top_layer_close(&top);
            break;
        case OP_MOUNT:
            r = do_mount(root_fd, op, m);
            break;
        case OP_MKNOD:
        case OP_SYMLINK:
            r = do_node(root_fd, op, &node_dir, m);
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
            r = do_mask(op, &null_checked, m);
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
