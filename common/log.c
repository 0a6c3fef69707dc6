#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *program_name = "rootstock";
static enum log_level current_level = LOG_INFO;

static const char *const level_names[_LOG_LEVEL_MAX] = {
    [LOG_ERROR] = "error",
    [LOG_WARNING] = "warning",
    [LOG_INFO] = "info",
    [LOG_DEBUG] = "debug",
};

int log_level_from_string(const char *s, enum log_level *ret)
{
    for (int i = 0; i < _LOG_LEVEL_MAX; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

void log_init(const char *name)
{
    const char *env = getenv("ROOTSTOCK_LOG");
    if (name)
        program_name = name;
    if (env && *env) {
        enum log_level level;
        if (log_level_from_string(env, &level) == 0)
            current_level = level;
        else
            log_warning("unknown ROOTSTOCK_LOG level '%s', using 'info'", env);
    }
}

const char *log_program_name(void)
{
    return program_name;
}

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

void log_quieter(void)
{
    current_level = LOG_WARNING;
}

void log_louder(void)
{
    if (current_level + 1 < _LOG_LEVEL_MAX)
        current_level++;
}

bool log_enabled(enum log_level level)
{
    return level <= current_level;
}

void log_msgv(enum log_level level, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    int saved = errno;
    /* One buffered write per message, so lines from parallel processes do not interleave. */
    char buf[4096];
    int n;
    if (level == LOG_INFO)
        n = snprintf(buf, sizeof(buf), "%s: ", program_name);
    else
        n = snprintf(buf, sizeof(buf), "%s: %s: ", program_name, level_names[level]);
    if (n < 0 || (size_t)n >= sizeof(buf))
        n = 0;
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    if (m < 0)
        m = 0;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(buf) - 2)
        len = sizeof(buf) - 2;
    buf[len++] = '\n';
    (void)!fwrite(buf, 1, len, stderr);
    errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_msgv(level, fmt, ap);
    va_end(ap);
}
