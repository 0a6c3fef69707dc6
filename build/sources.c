/* The host's apt sources: which mirror serves the Debian archive here. Never a compiled-in
 * host name: without sources and without --mirror, mkroot says so. */
#include "build/build-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* A usable archive URI: http(s) or file, not the security archive. */
static bool archive_uri(const char *uri, char *const *suites)
{
    size_t n = strlen(uri);
    if (strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0 &&
        strncmp(uri, "file:", 5) != 0)
        return false;
    while (n > 0 && uri[n - 1] == '/')
        n--;
    if (n >= 9 && memcmp(uri + n - 9, "-security", 9) == 0)
        return false;
    bool any = !suites || !*suites;
    STRV_FOREACH(s, (char **)suites) {
        size_t l = strlen(*s);
        if (!(l >= 9 && strcmp(*s + l - 9, "-security") == 0))
            any = true;
    }
    return any;
}

static char *trim_uri(const char *uri)
{
    char *u = xstrdup(uri);
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

int sources_parse_deb822(const char *text, size_t len, const char *file, char **ret,
                         struct rs_err *err)
{
    struct deb822_parser p;
    struct deb822_para para;
    int r;

    deb822_parser_init(&p, text, len, file);
    while ((r = deb822_next(&p, &para, err)) > 0) {
        struct deb822_field f;
        _cleanup_free_ char *types = NULL, *uris = NULL, *suites = NULL, *enabled = NULL;
        if (deb822_get(&para, "Types", &f))
            types = deb822_value_dup(&f);
        if (deb822_get(&para, "URIs", &f))
            uris = deb822_value_dup(&f);
        if (deb822_get(&para, "Suites", &f))
            suites = deb822_value_dup(&f);
        if (deb822_get(&para, "Enabled", &f))
            enabled = deb822_value_dup(&f);
        if (!types || !uris || (enabled && strcasecmp(enabled, "no") == 0))
            continue;
        _cleanup_strv_free_ char **tl = strv_split(types, " \t\n");
        _cleanup_strv_free_ char **ul = strv_split(uris, " \t\n");
        _cleanup_strv_free_ char **sl = suites ? strv_split(suites, " \t\n") : NULL;
        if (!strv_contains(tl, "deb"))
            continue;
        STRV_FOREACH(u, ul)
            if (archive_uri(*u, sl)) {
                *ret = trim_uri(*u);
                deb822_parser_release(&p);
                return 0;
            }
    }
    deb822_parser_release(&p);
    if (r < 0)
        return r;
    return -ENOENT;
}

int sources_parse_list(const char *text, size_t len, const char *file, char **ret,
                       struct rs_err *err)
{
    _cleanup_free_ char *copy = xstrndup(text, len);
    char *save = NULL;
    (void)file;
    (void)err;

    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        _cleanup_strv_free_ char **w = strv_split(line, " \t");
        size_t i = 1;
        if (!w || !w[0] || strcmp(w[0], "deb") != 0)
            continue;
        if (w[i] && w[i][0] == '[') { /* options: [arch=amd64 signed-by=…] */
            while (w[i] && !strchr(w[i], ']'))
                i++;
            if (w[i])
                i++;
        }
        if (!w[i] || !w[i + 1])
            continue;
        char *suites[] = { w[i + 1], NULL };
        if (archive_uri(w[i], suites)) {
            *ret = trim_uri(w[i]);
            return 0;
        }
    }
    return -ENOENT;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int build_host_mirror(const char *root, char **ret, struct rs_err *err)
{
    _cleanup_free_ char *dir = xasprintf("%s/etc/apt/sources.list.d", root);
    _cleanup_free_ char *list = xasprintf("%s/etc/apt/sources.list", root);
    _cleanup_strv_free_ char **files = NULL;
    _cleanup_closedir_ DIR *d = opendir(dir);
    int r;

    /* apt reads sources.list first, then sources.list.d in name order. */
    strv_push(&files, list);
    if (d) {
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if ((n > 8 && strcmp(de->d_name + n - 8, ".sources") == 0) ||
                (n > 5 && strcmp(de->d_name + n - 5, ".list") == 0))
                strv_consume(&names, xasprintf("%s/%s", dir, de->d_name));
        }
        if (names) {
            qsort(names, strv_length(names), sizeof(char *), cmp_str);
            STRV_FOREACH(n, names)
                strv_push(&files, *n);
        }
    }
    STRV_FOREACH(f, files) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        struct rs_err e = RS_ERR_INIT;
        if (rs_read_file_at(AT_FDCWD, *f, 1u << 20, &text, &len, &e) < 0) {
            rs_err_release(&e);
            continue;
        }
        size_t n = strlen(*f);
        if (n > 8 && strcmp(*f + n - 8, ".sources") == 0)
            r = sources_parse_deb822(text, len, *f, ret, &e);
        else
            r = sources_parse_list(text, len, *f, ret, &e);
        rs_err_release(&e);
        if (r == 0)
            return 0;
    }
    r = rs_err_msg(err, -ENOENT, "no Debian archive found in the apt sources under '%s/etc/apt'",
                   strcmp(root, "/") == 0 ? "" : root);
    rs_err_hint(err, "pass the archive's URL with --mirror URL");
    return r;
}

const char *build_host_arch(void)
{
    static const struct {
        const char *machine, *arch;
    } map[] = {
        { "x86_64", "amd64" },    { "aarch64", "arm64" },   { "i686", "i386" },
        { "i586", "i386" },       { "i386", "i386" },       { "armv7l", "armhf" },
        { "armv6l", "armel" },    { "ppc64le", "ppc64el" }, { "s390x", "s390x" },
        { "riscv64", "riscv64" }, { "mips64", "mips64el" }, { "loongarch64", "loong64" },
    };
    static struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    for (size_t i = 0; i < ELEMENTSOF(map); i++)
        if (strcmp(u.machine, map[i].machine) == 0)
            return map[i].arch;
    return u.machine;
}
