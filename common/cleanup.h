#pragma once
/* Scope-bound cleanup (GNU cleanup attribute) and ownership hand-off helpers. */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

/* Defines `static inline void fnp(type *p)` calling fn(*p) when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, fn) \
 static inline void fn##p(type *p)            \
 {                                            \
  if (*p)                                     \
   fn(*p);                                    \
 }

static inline void freep(void *p)
{
    free(*(void **)p);
}

/* close() that keeps errno, for cleanup paths that must not clobber the real error. */
static inline int safe_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        (void)close(fd);
        errno = saved;
    }
    return -1;
}

static inline void closep(int *fd)
{
    *fd = safe_close(*fd);
}

static inline void fclosep(FILE **f)
{
    if (*f)
        (void)fclose(*f);
}

static inline void closedirp(DIR **d)
{
    if (*d)
        (void)closedir(*d);
}

#define _cleanup_free_     _cleanup_(freep)
#define _cleanup_close_    _cleanup_(closep)
#define _cleanup_fclose_   _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Take ownership out of a _cleanup_ variable: returns the value and leaves NULL / -1 behind. */
#define TAKE_PTR(p) \
 ({                 \
typeof(p) _tp = (p); \
(p) = NULL;          \
_tp;                 \
 })
#define TAKE_FD(fd) \
 ({                 \
int _tf = (fd);      \
(fd) = -1;           \
_tf;                 \
 })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
