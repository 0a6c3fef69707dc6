#pragma once
/* Small filesystem helpers shared by the modules: whole-file read and atomic write, recursive
 * removal that stays on one filesystem, mkdir -p. All fds are O_CLOEXEC. */

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* Read the whole file at dirfd/path into a NUL-terminated buffer (owned by the caller).
 * Fails with -EFBIG if it is larger than max_size. */
int rs_read_file_at(int dirfd, const char *path, size_t max_size, char **ret, size_t *ret_len,
                    struct rs_err *err);

/* The same for a file that may be anyone's (a container's /etc/passwd): only a regular file
 * (-EINVAL otherwise), opened without blocking, so a FIFO or a device there is refused instead
 * of read. */
int rs_read_regular_file_at(int dirfd, const char *path, size_t max_size, char **ret,
                            size_t *ret_len, struct rs_err *err);

/* Write data to dirfd/path atomically: a temporary file in the same directory, fsync'd when
 * `durable`, then renamed over path. On failure nothing is left behind and path is unchanged. */
int rs_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            int durable, struct rs_err *err);

/* Remove dirfd/name and everything under it, never following symlinks and never crossing into
 * another filesystem (a mount inside the tree gives -EXDEV and is left alone). A missing
 * name is success. Returns 0 or -errno. */
int rs_rm_rf_at(int dirfd, const char *name);

/* mkdir -p of an absolute or cwd-relative host path. Returns 0 or -errno. */
int rs_mkdir_p(const char *path, mode_t mode);

/* Write all of buf to fd, retrying on EINTR and short writes. Returns 0 or -errno. */
int rs_write_all(int fd, const void *buf, size_t len);
