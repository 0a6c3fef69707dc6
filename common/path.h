#pragma once
/* Paths inside a root directory that must never lead outside it: an image's rootfs, a .deb's
 * or a layer tarball's entries. Symlinks are resolved as if root_fd were "/" (an absolute
 * target restarts at root_fd, ".." stops at it), the way the container will see them, never
 * as the host sees them. Uses openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and, where the
 * kernel lacks it, a component-by-component walk with O_NOFOLLOW on directory fds (crun's
 * safe_openat), which is safe against concurrent renames because it never reopens by path. */

#include <stdbool.h>
#include <sys/types.h>

/* Open path (absolute or relative; both mean "under root_fd") with openat-style flags and
 * mode. Returns an O_CLOEXEC fd or -errno (-ELOOP after 40 symlinks, -ENOENT, …). With
 * O_NOFOLLOW a final symlink is opened as itself only if O_PATH is also given, else -ELOOP. */
int rs_open_in_root(int root_fd, const char *path, int flags, mode_t mode);

/* Like `mkdir -p` under root_fd with the same resolution rules; returns an O_DIRECTORY fd of
 * the final directory, or -errno (-ENOTDIR when a component is not a directory). */
int rs_mkdir_in_root(int root_fd, const char *path, mode_t mode);

/* Normalise an archive member name to a clean relative path: leading "/" and "./" dropped,
 * "//" and "." components removed. Returns 0 and a new string ("" for the root itself), or
 * -EINVAL if any component is ".." or the name is too long (over PATH_MAX). */
int rs_path_normalize_relative(const char *name, char **ret);

/* Force the next rs_open_in_root() calls to use the fallback walk (tests). */
void rs_path_force_fallback(bool on);
