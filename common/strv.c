#include "common/strv.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

size_t strv_length(char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

char **strv_free(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
    return NULL;
}

void strv_consume(char ***l, char *s)
{
    size_t n = strv_length(*l);
    *l = xreallocarray(*l, n + 2, sizeof(char *));
    (*l)[n] = s;
    (*l)[n + 1] = NULL;
}

void strv_push(char ***l, const char *s)
{
    strv_consume(l, xstrdup(s));
}

bool strv_contains(char *const *l, const char *s)
{
    for (size_t i = 0; l && l[i]; i++)
        if (strcmp(l[i], s) == 0)
            return true;
    return false;
}

char **strv_copy(char *const *l)
{
    size_t n = strv_length(l);
    char **c = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(l[i]);
    return c;
}

char **strv_split(const char *s, const char *seps)
{
    char **l = xcalloc(1, sizeof(char *));
    while (*s) {
        size_t skip = strspn(s, seps);
        s += skip;
        size_t n = strcspn(s, seps);
        if (n)
            strv_consume(&l, xstrndup(s, n));
        s += n;
    }
    return l;
}
