#pragma once
/* Messages for people, all on stderr. Levels: error < warning < info < debug. The default is
 * info; -q lowers it to warning, each -v raises it, ROOTSTOCK_LOG=error|warning|info|debug
 * sets it (the command line wins). Messages are "PROG: LEVEL: text" except info, which is
 * "PROG: text". */

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, _LOG_LEVEL_MAX };

/* Set the program name used as prefix (borrowed; must outlive logging) and read
 * ROOTSTOCK_LOG. An unknown ROOTSTOCK_LOG value is reported once as a warning. */
void log_init(const char *program_name);
const char *log_program_name(void);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* -q: warnings and errors only. */
void log_quieter(void);
/* -v: one level more. */
void log_louder(void);
bool log_enabled(enum log_level level);

/* Parse "error", "warning", "info", "debug"; returns -EINVAL for anything else. */
int log_level_from_string(const char *s, enum log_level *ret);

__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) void log_msgv(enum log_level level, const char *fmt,
                                                    va_list ap);

#define log_error(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_DEBUG, __VA_ARGS__)
