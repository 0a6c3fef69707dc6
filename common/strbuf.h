#pragma once
/* A growable, NUL-terminated byte buffer with a hard size limit (git's strbuf, curl's dynbuf
 * with its `toobig`). Everything read from outside goes through one, so an absurd input fails
 * with -E2BIG instead of eating memory. */

#include <stdarg.h>
#include <stddef.h>

struct strbuf {
    char *buf;    /* owned; always NUL-terminated once anything was added ("" before) */
    size_t len;   /* bytes used, not counting the NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* the most len may ever reach */
};

#define STRBUF_INIT(max_)                          \
 {                                                 \
  .buf = NULL, .len = 0, .alloc = 0, .max = (max_) \
 }

void strbuf_init(struct strbuf *sb, size_t max);
/* Free the buffer; sb can be used again with the same max. */
void strbuf_release(struct strbuf *sb);
/* Forget the contents, keep the allocation. */
void strbuf_reset(struct strbuf *sb);
/* Hand the buffer to the caller (never NULL) and reset sb. */
char *strbuf_detach(struct strbuf *sb, size_t *ret_len);
/* The contents as a C string, "" when empty. */
const char *strbuf_str(const struct strbuf *sb);

/* Append; return 0, or -E2BIG (sb unchanged) if the result would exceed max. */
int strbuf_add(struct strbuf *sb, const void *data, size_t len);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, char c);
__attribute__((format(printf, 2, 3))) int strbuf_addf(struct strbuf *sb, const char *fmt, ...);
__attribute__((format(printf, 2, 0))) int strbuf_vaddf(struct strbuf *sb, const char *fmt,
                                                       va_list ap);

static inline void strbuf_releasep(struct strbuf *sb)
{
    strbuf_release(sb);
}
#define _cleanup_strbuf_ __attribute__((cleanup(strbuf_releasep)))
