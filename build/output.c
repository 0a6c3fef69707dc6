/* mkroot -o: the image's root outside the store, as a plain directory (what debootstrap makes,
 * /dev nodes included, so that `chroot DIR` works) or a flat tarball (what mmdebstrap makes),
 * .tar or .tar.zst. The tree is streamed through
 * image/'s reproducible layer writer (sorted, numeric owners, xattrs, mtimes clamped to
 * SOURCE_DATE_EPOCH) and, for a directory, back through its safe extractor.
 *
 * An image of several layers is written from their overlay view, mounted read-only in a child
 * process's own mount namespace: the mount disappears with the child whatever happens. */

#include "build/root-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/oci.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct pipe_writer {
    int tree_fd, out_fd;
    int64_t sde;
    int r;
    struct rs_err err;
};

static void *pipe_writer_main(void *data)
{
    struct pipe_writer *w = data;
    struct oci_layer_write_options o = {
        .compression = OCI_COMPRESS_NONE,
        .clamp_mtime = w->sde,
    };
    struct oci_layer_result res;

    w->r = oci_layer_write(w->tree_fd, w->out_fd, &o, &res, &w->err);
    w->out_fd = safe_close(w->out_fd);
    return NULL;
}

/* debootstrap's setup_devices_simple: the nodes a chroot needs, which the layer leaves out
 * (runroot mounts its own /dev). Owned by root, 0666 (mknod -m 666), whatever the umask;
 * where /dev/ptmx cannot be made, debootstrap's fallback: a link to pts/ptmx. Mtimes are
 * clamped to sde when sde >= 0. */
static int write_dev(int dir_fd, int64_t sde, struct rs_err *err)
{
    static const struct {
        const char *name;
        unsigned major, minor;
    } nodes[] = {
        { "null", 1, 3 },    { "zero", 1, 5 }, { "full", 1, 7 },    { "random", 1, 8 },
        { "urandom", 1, 9 }, { "tty", 5, 0 },  { "console", 5, 1 }, { "ptmx", 5, 2 },
    };
    static const struct {
        const char *name, *target;
    } links[] = {
        { "fd", "/proc/self/fd" },
        { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" },
        { "stderr", "/proc/self/fd/2" },
    };
    static const char *const dirs[] = { "pts", "shm" };
    struct timespec ts[2] = { { .tv_sec = sde }, { .tv_sec = sde } };
    _cleanup_close_ int dev_fd = -1;

    if (mkdirat(dir_fd, "dev", 0755) < 0 && errno != EEXIST)
        return rs_err_set(err, -errno, "cannot create '/dev'");
    dev_fd = openat(dir_fd, "dev", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dev_fd < 0)
        return rs_err_set(err, -errno, "cannot open '/dev'");
    for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
        const char *n = nodes[i].name;
        if (faccessat(dev_fd, n, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        log_debug("mknod '/dev/%s' c %u %u", n, nodes[i].major, nodes[i].minor);
        if (mknodat(dev_fd, n, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0) {
            if (errno == EPERM && strcmp(n, "ptmx") == 0 && symlinkat("pts/ptmx", dev_fd, n) == 0) {
                log_warning("cannot create '/dev/ptmx', linking it to 'pts/ptmx' instead: "
                            "mount /dev/pts with ptmxmode=666 in the chroot");
                continue;
            }
            return rs_err_set(err, -errno, "cannot create the device '/dev/%s'", n);
        }
        if (fchownat(dev_fd, n, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 || fchmodat(dev_fd, n, 0666, 0) < 0)
            return rs_err_set(err, -errno, "cannot set up the device '/dev/%s'", n);
    }
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
        if (mkdirat(dev_fd, dirs[i], 0755) < 0 && errno != EEXIST)
            return rs_err_set(err, -errno, "cannot create '/dev/%s'", dirs[i]);
    for (size_t i = 0; i < ELEMENTSOF(links); i++) {
        (void)unlinkat(dev_fd, links[i].name, 0);
        if (symlinkat(links[i].target, dev_fd, links[i].name) < 0)
            return rs_err_set(err, -errno, "cannot link '/dev/%s'", links[i].name);
    }
    if (sde < 0)
        return 0;
    _cleanup_closedir_ DIR *d = fdopendir(dup(dev_fd));
    for (struct dirent *de; d && (de = readdir(d));)
        if (strcmp(de->d_name, "..") != 0 &&
            utimensat(dev_fd, de->d_name, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return rs_err_set(err, -errno, "cannot clamp the mtime of '/dev/%s'", de->d_name);
    return 0;
}

static int write_dir(int tree_fd, const char *path, int64_t sde, struct rs_err *err)
{
    _cleanup_close_ int dir_fd = -1, rd = -1;
    int p[2];
    pthread_t t;
    int r;

    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return rs_err_set(err, -errno, "cannot create '%s'", path);
    dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    _cleanup_closedir_ DIR *d = fdopendir(dup(dir_fd));
    for (struct dirent *de; d && (de = readdir(d));)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            return rs_err_msg(err, -ENOTEMPTY, "output directory '%s' is not empty", path);
    if (pipe2(p, O_CLOEXEC) < 0)
        return rs_err_set(err, -errno, "cannot create a pipe");
    rd = p[0];
    struct pipe_writer w = { .tree_fd = tree_fd, .out_fd = p[1], .sde = sde, .err = RS_ERR_INIT };
    if (pthread_create(&t, NULL, pipe_writer_main, &w) != 0) {
        safe_close(p[1]);
        return rs_err_msg(err, -EAGAIN, "cannot start a thread");
    }
    struct archive *in = archive_read_new();
    archive_read_support_format_tar(in);
    struct oci_extract_options o = { .flags = OCI_EXTRACT_ALLOW_DEVICES };
    if (archive_read_open_fd(in, rd, 64 * 1024) != ARCHIVE_OK)
        r = rs_err_msg(err, -EIO, "cannot read the tree: %s", archive_error_string(in));
    else
        r = oci_tar_extract(in, dir_fd, &o, NULL, err);
    /* Let the writer finish (or fail on EPIPE) before it is joined. */
    rd = safe_close(rd);
    archive_read_free(in);
    pthread_join(t, NULL);
    if (r >= 0 && w.r < 0) {
        rs_err_move(err, &w.err);
        r = w.r;
    }
    rs_err_release(&w.err);
    if (r >= 0)
        r = write_dev(dir_fd, sde, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot write '%s'", path);
    return 0;
}

static int write_tar(int tree_fd, const char *path, int64_t sde, struct rs_err *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
    _cleanup_close_ int fd = -1;
    struct oci_layer_write_options o = {
        .compression = ends_with(path, ".zst") ? OCI_COMPRESS_ZSTD : OCI_COMPRESS_NONE,
        .clamp_mtime = sde,
    };
    struct oci_layer_result res;
    int r;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot create '%s'", tmp);
    r = oci_layer_write(tree_fd, fd, &o, &res, err);
    if (r >= 0 && fsync(fd) < 0)
        r = rs_err_set(err, -errno, "cannot write '%s'", tmp);
    if (r >= 0 && rename(tmp, path) < 0)
        r = rs_err_set(err, -errno, "cannot rename '%s' to '%s'", tmp, path);
    if (r < 0) {
        (void)unlink(tmp);
        return rs_err_wrap(err, "cannot write '%s'", path);
    }
    return 0;
}

static int write_tree(int tree_fd, const char *path, int64_t sde, struct rs_err *err)
{
    if (ends_with(path, ".tar") || ends_with(path, ".tar.zst"))
        return write_tar(tree_fd, path, sde, err);
    if (ends_with(path, ".tar.gz") || ends_with(path, ".tgz") || ends_with(path, ".tar.xz"))
        return rs_err_msg(err, -EINVAL, "output '%s': only .tar and .tar.zst are written", path);
    return write_dir(tree_fd, path, sde, err);
}

/* In a child with its own mount namespace: mount the layers' overlay view read-only and
 * write it. The child reports its own error and exits 1. */
static int write_merged(struct cache *c, const struct image *img, const char *path, int64_t sde,
                        struct rs_err *err)
{
    _cleanup_strbuf_ struct strbuf opts = STRBUF_INIT(1 << 16);
    char mnt[] = "/tmp/mkroot-output-XXXXXX";
    size_t n = strv_length(img->layers);
    int status;
    pid_t pid;

    (void)strbuf_addstr(&opts, "lowerdir=");
    for (size_t i = n; i-- > 0;) {
        _cleanup_free_ char *p = cache_layer_root_path(c, img->layers[i]);
        (void)strbuf_addf(&opts, "%s%s", p, i ? ":" : "");
    }
    (void)strbuf_addstr(&opts, ",redirect_dir=off,metacopy=off,index=off");
    if (!mkdtemp(mnt))
        return rs_err_set(err, -errno, "cannot create a mount point");
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        int r = -errno;
        (void)rmdir(mnt);
        return rs_err_set(err, r, "cannot fork");
    }
    if (pid == 0) {
        struct rs_err cerr = RS_ERR_INIT;
        int r = 0, fd;
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            r = rs_err_set(&cerr, -errno, "cannot make a private mount namespace");
        else if (mount("overlay", mnt, "overlay", MS_RDONLY, opts.buf) < 0)
            r = rs_err_set(&cerr, -errno, "cannot mount the image's layers on '%s'", mnt);
        else if ((fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
            r = rs_err_set(&cerr, -errno, "cannot open '%s'", mnt);
        else
            r = write_tree(fd, path, sde, &cerr);
        if (r < 0)
            rs_err_print(&cerr);
        _exit(r < 0 ? 1 : 0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    (void)rmdir(mnt);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return rs_err_msg(err, -EIO, "cannot write the image to '%s'", path);
    return 0;
}

int build_write_output(struct cache *c, const struct image *img, const char *path, int64_t sde,
                       struct rs_err *err)
{
    size_t n = strv_length(img->layers);

    if (n == 0)
        return rs_err_msg(err, -EINVAL, "image '%s' has no layers", img->name);
    if (n > 1)
        return write_merged(c, img, path, sde, err);
    _cleanup_free_ char *root = cache_layer_root_path(c, img->layers[0]);
    _cleanup_close_ int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open layer '%s'", root);
    return write_tree(fd, path, sde, err);
}
