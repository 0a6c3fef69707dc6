#pragma once
/* NULL-terminated string vectors (systemd's strv): argv, env, lists of names. */

#include <stdbool.h>
#include <stddef.h>

size_t strv_length(char *const *l);
/* Free every string and the vector; NULL is fine. Returns NULL. */
char **strv_free(char **l);
/* Append an owned string (taken) to *l, growing it. */
void strv_consume(char ***l, char *s);
/* Append a copy of s. */
void strv_push(char ***l, const char *s);
bool strv_contains(char *const *l, const char *s);
/* Deep copy; NULL gives an empty vector. */
char **strv_copy(char *const *l);
/* Split s at every character in seps, dropping empty parts. */
char **strv_split(const char *s, const char *seps);

static inline void strv_freep(char ***l)
{
    strv_free(*l);
}
#define _cleanup_strv_free_ __attribute__((cleanup(strv_freep)))

#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
