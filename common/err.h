#pragma once
/* The error value. A fallible function returns >= 0 on success and a negative errno on failure,
 * and fills *err if and only if it fails (crun's libcrun_error_t, git's strbuf *err). Only the
 * command-line front ends print an error; library code returns it.
 *
 *     fd = openat(dfd, path, O_RDONLY | O_CLOEXEC);
 *     if (fd < 0)
 *         return rs_err_set(err, -errno, "cannot open '%s'", path);
 *
 * The printed form is git's and systemd's:
 *     PROG: error: MESSAGE[: strerror(code)]
 *       CONTEXT...
 *       hint: HINT
 */

#include <stdbool.h>
#include <stdio.h>

struct rs_err {
    int code;        /* positive errno, or 0 when the message says it all */
    bool show_errno; /* append ": strerror(code)" when printing */
    char *msg;       /* owned */
    char *context;   /* owned, may be NULL: extra lines, '\n'-separated */
    char *hint;      /* owned, may be NULL */
};

#define RS_ERR_INIT \
 {                  \
  0                 \
 }

/* Fill err with a message that is followed by strerror(-ret) when printed. ret is a negative
 * errno; returns ret so that `return rs_err_set(err, r, ...)` reads naturally. err may be NULL. */
__attribute__((format(printf, 3, 4))) int rs_err_set(struct rs_err *err, int ret, const char *fmt,
                                                     ...);

/* As rs_err_set, but the message is complete: no strerror is appended. ret still travels as
 * the return value (use -EINVAL, -EBADMSG, -ENOENT…). */
__attribute__((format(printf, 3, 4))) int rs_err_msg(struct rs_err *err, int ret, const char *fmt,
                                                     ...);

/* Prefix the message with a caller's context, "CONTEXT: old message". Returns -err->code
 * (or -EIO if code is 0) so it can be returned directly. */
__attribute__((format(printf, 2, 3))) int rs_err_wrap(struct rs_err *err, const char *fmt, ...);

/* Append one context line (printed indented under the message). Returns like rs_err_wrap. */
__attribute__((format(printf, 2, 3))) int rs_err_context(struct rs_err *err, const char *fmt, ...);

/* Set (replace) the hint line. Returns like rs_err_wrap. */
__attribute__((format(printf, 2, 3))) int rs_err_hint(struct rs_err *err, const char *fmt, ...);

/* The negative return value that matches err: -code, or -EIO when code is 0. */
int rs_err_ret(const struct rs_err *err);

/* Print err to f as "PROG: error: …" with context and hint lines. */
void rs_err_print_to(FILE *f, const char *prog, const struct rs_err *err);
/* rs_err_print_to(stderr, log_program_name(), err). */
void rs_err_print(const struct rs_err *err);

/* Free the strings and reset err to RS_ERR_INIT; err may be reused afterwards. */
void rs_err_release(struct rs_err *err);

/* Move src into *dst (releasing what dst held) and reset src. */
void rs_err_move(struct rs_err *dst, struct rs_err *src);
