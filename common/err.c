#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"

static int fill(struct rs_err *err, int ret, bool show_errno, const char *fmt, va_list ap)
{
    if (ret >= 0)
        ret = -EIO;
    if (!err)
        return ret;
    rs_err_release(err);
    err->code = -ret;
    err->show_errno = show_errno;
    err->msg = xvasprintf(fmt, ap);
    return ret;
}

int rs_err_set(struct rs_err *err, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ret = fill(err, ret, true, fmt, ap);
    va_end(ap);
    return ret;
}

int rs_err_msg(struct rs_err *err, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ret = fill(err, ret, false, fmt, ap);
    va_end(ap);
    return ret;
}

int rs_err_ret(const struct rs_err *err)
{
    return err && err->code > 0 ? -err->code : -EIO;
}

int rs_err_wrap(struct rs_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    char *prefix = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = xasprintf("%s: %s", prefix, err->msg ? err->msg : "failed");
    free(prefix);
    free(err->msg);
    err->msg = msg;
    return rs_err_ret(err);
}

int rs_err_context(struct rs_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    char *line = xvasprintf(fmt, ap);
    va_end(ap);
    if (err->context) {
        char *joined = xasprintf("%s\n%s", err->context, line);
        free(err->context);
        free(line);
        err->context = joined;
    } else {
        err->context = line;
    }
    return rs_err_ret(err);
}

int rs_err_hint(struct rs_err *err, const char *fmt, ...)
{
    if (!err)
        return -EIO;
    va_list ap;
    va_start(ap, fmt);
    free(err->hint);
    err->hint = xvasprintf(fmt, ap);
    va_end(ap);
    return rs_err_ret(err);
}

void rs_err_print_to(FILE *f, const char *prog, const struct rs_err *err)
{
    const char *msg = err->msg ? err->msg : "unknown error";
    if (err->show_errno && err->code > 0)
        fprintf(f, "%s: error: %s: %s\n", prog, msg, strerror(err->code));
    else
        fprintf(f, "%s: error: %s\n", prog, msg);
    if (err->context) {
        const char *line = err->context;
        while (*line) {
            size_t n = strcspn(line, "\n");
            fprintf(f, "  %.*s\n", (int)n, line);
            line += n;
            if (*line == '\n')
                line++;
        }
    }
    if (err->hint)
        fprintf(f, "  hint: %s\n", err->hint);
}

void rs_err_print(const struct rs_err *err)
{
    rs_err_print_to(stderr, log_program_name(), err);
}

void rs_err_release(struct rs_err *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err->context);
    free(err->hint);
    *err = (struct rs_err)RS_ERR_INIT;
}

void rs_err_move(struct rs_err *dst, struct rs_err *src)
{
    rs_err_release(dst);
    *dst = *src;
    *src = (struct rs_err)RS_ERR_INIT;
}
