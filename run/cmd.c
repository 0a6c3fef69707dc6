/* `runroot IMAGE [COMMAND [ARG...]]` / `rootstock run`: options, image lookup in the store (or
 * a plain directory), the container directory, and the messages and exit codes of chroot(1). */
#include "run/run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "common/cleanup.h"
#include "common/cli.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "image/image.h"
#include "run/run-internal.h"

enum {
    EXIT_RUN_FAILED = 125,
    OPT_CPUS = 0x1100,
    OPT_PIDS,
    OPT_IO_WEIGHT,
    OPT_CAP_ADD,
    OPT_CAP_DROP,
    OPT_READ_ONLY,
    OPT_NET,
    OPT_HOSTNAME,
    OPT_NO_HOSTS,
    OPT_ADD_HOST,
    OPT_ENV_FILE,
    OPT_ENTRYPOINT,
    OPT_TMPFS,
    OPT_INIT,
    OPT_COMMIT,
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: %s [OPTIONS] IMAGE [OPTIONS] [COMMAND [ARG...]]\n"
            "Run COMMAND (default: the image's Cmd, else /bin/sh), after the image's Entrypoint\n"
            "if it has one, in a container made from IMAGE:\n"
            "a name in the store, a directory (used as one read-only layer), or an archive file\n"
            "(OCI, docker save, or a root tarball: imported into the store once, by content).\n\n"
            "  -e, --env K=V          set an environment variable (repeatable); -e K passes\n"
            "                         runroot's own K\n"
            "      --env-file FILE    the variables in FILE: K=V or K lines, # comments\n"
            "  -w, --workdir DIR      working directory inside the container\n"
            "  -u, --user USER[:GROUP]  run as this user (a name or number, looked up in the\n"
            "                         image's /etc/passwd and /etc/group) and group\n"
            "  -v, --volume SRC:DST[:ro]  bind a host path into the container (repeatable)\n"
            "      --tmpfs DST[:OPTS] a tmpfs on DST (repeatable; OPTS as docker's: size=64m,\n"
            "                         mode=1777, exec; noexec,nosuid,nodev by default)\n"
            "      --read-only        mount the root filesystem read-only\n"
            "      --net private|host the network: private (only lo, default) or the host's\n"
            "                         (then /etc/resolv.conf and /etc/hosts are the host's)\n"
            "      --hostname NAME    hostname (default: the short container id), written to\n"
            "                         /etc/hostname and /etc/hosts with localhost\n"
            "      --add-host NAME:IP add a line to /etc/hosts (repeatable)\n"
            "      --no-hosts         keep the image's /etc/hosts\n"
            "  -m, --memory SIZE      memory limit, swap included (100M, 1.5G)\n"
            "      --cpus N           CPU limit (1.5 = one and a half CPUs)\n"
            "      --pids-limit N     most processes at once\n"
            "      --io-weight N      block I/O weight, 1 to 10000\n"
            "      --cap-add CAP      add a capability to docker's default set (repeatable, ALL)\n"
            "      --cap-drop CAP     drop a capability (repeatable, ALL)\n"
            "  -t, --tty              give the command a pty (default when stdin is a terminal)\n"
            "      --init             run a small init as PID 1 that reaps and forwards signals\n"
            "      --commit NAME      keep the container's changes as a new layer and image NAME\n"
            "                         (only when the command exits 0)\n"
            "      --entrypoint CMD   run CMD instead of the image's entrypoint (\"\" for none);\n"
            "                         the image's Cmd is then not used\n"
            "  -q, --quiet  --verbose  --root DIR   (see 'rootstock --help'; -v is --volume)\n\n"
            "Exit status: the command's, 128+N if it was killed by signal N, 137 after an\n"
            "out-of-memory kill, 125 if runroot failed, 126 if COMMAND cannot be executed,\n"
            "127 if it is not found.\n",
            cli_command());
}

struct args {
    struct run_options o;
    char **env;
    char **storage; /* the parsed options' copies, which binds, tmpfs and hosts point into */
    struct run_bind *binds;
    struct run_tmpfs *tmpfs;
    struct run_host *hosts;
    const char *workdir;
    const char *commit;
    const char *entrypoint;
    bool tty;
    bool no_tty_auto;
    char *image;
    char **command;
};

static void args_release(struct args *a)
{
    strv_free(a->env);
    strv_free(a->storage);
    free(a->hosts);
    free(a->tmpfs);
    free(a->binds);
    free(a->image);
    strv_free(a->command);
}

/* Keep a parsed option's copy and append its value (size bytes) to the n-element array. */
static void append_parsed(struct args *a, char *storage, void **array, size_t *n, const void *value,
                          size_t size)
{
    strv_consume(&a->storage, storage);
    *array = xreallocarray(*array, *n + 1, size);
    memcpy((char *)*array + *n * size, value, size);
    (*n)++;
}

/* -e K=V, or -e K: K with runroot's own value, when it has one (as docker and podman do). */
static int add_env(struct args *a, const char *entry, const char *where, struct rs_err *err)
{
    const char *eq = strchr(entry, '=');
    size_t key_len = eq ? (size_t)(eq - entry) : strlen(entry);
    const char *value;

    if (key_len == 0 || strcspn(entry, " \t") < key_len)
        return rs_err_msg(err, -EINVAL, "invalid environment variable '%s'%s: expected K=V or K",
                          entry, where);
    if (eq) {
        strv_push(&a->env, entry);
        return 0;
    }
    value = getenv(entry);
    if (value)
        strv_consume(&a->env, xasprintf("%s=%s", entry, value));
    return 0;
}

/* --env-file FILE: docker's format. One K=V or K per line, the value taken as it is (no quotes,
 * no expansion); blank lines and lines starting with '#' are skipped. */
static int add_env_file(struct args *a, const char *path, struct rs_err *err)
{
    _cleanup_free_ char *text = NULL;
    size_t len;
    int r;

    r = rs_read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, NULL);
    if (r < 0)
        return rs_err_set(err, r, "cannot read env file '%s'", path);
    if (memchr(text, '\0', len))
        return rs_err_msg(err, -EINVAL, "invalid env file '%s': it holds a NUL byte", path);
    char *line = text;
    for (unsigned n = 1; *line; n++) {
        char *end = line + strcspn(line, "\n");
        bool last = *end == '\0';
        *end = '\0';
        if (end > line && end[-1] == '\r')
            end[-1] = '\0';
        line += strspn(line, " \t");
        if (*line && *line != '#') {
            _cleanup_free_ char *where = xasprintf(" (%s line %u)", path, n);
            r = add_env(a, line, where, err);
            if (r < 0)
                return r;
        }
        line = last ? end : end + 1;
    }
    return 0;
}

/* What runs, as docker composes it: the entrypoint (the image's, or --entrypoint's, "" for none)
 * followed by COMMAND, or by the image's Cmd unless --entrypoint replaced the entrypoint; with
 * neither, /bin/sh. */
static char **command_line(const struct args *a, const struct image_config *cfg)
{
    char **cmd = a->command ? a->command : a->entrypoint ? NULL : cfg->cmd;
    char **argv = NULL;

    if (a->entrypoint) {
        if (a->entrypoint[0])
            strv_push(&argv, a->entrypoint);
    } else {
        STRV_FOREACH(e, cfg->entrypoint)
            strv_push(&argv, *e);
    }
    STRV_FOREACH(c, cmd)
        strv_push(&argv, *c);
    if (!argv || !argv[0]) {
        strv_free(argv);
        argv = NULL;
        strv_push(&argv, "/bin/sh");
    }
    return argv;
}

static int parse_one(struct args *a, int c, const char *arg, struct rs_err *err)
{
    uint64_t v, mask;
    uint32_t millis;

    switch (c) {
    case 'e':
        return add_env(a, arg, "", err);
    case OPT_ENV_FILE:
        return add_env_file(a, arg, err);
    case 'w':
        if (arg[0] != '/')
            return rs_err_msg(err, -EINVAL, "invalid working directory '%s': must be absolute",
                              arg);
        a->workdir = arg;
        return 0;
    case 'u':
        a->o.user = arg;
        return 0;
    case 'V': {
        struct run_bind b;
        char *storage;
        if (run_parse_bind(arg, &b, &storage, err) < 0)
            return rs_err_ret(err);
        append_parsed(a, storage, (void **)&a->binds, &a->o.n_binds, &b, sizeof(b));
        return 0;
    }
    case OPT_TMPFS: {
        struct run_tmpfs t;
        char *storage;
        if (run_parse_tmpfs(arg, &t, &storage, err) < 0)
            return rs_err_ret(err);
        append_parsed(a, storage, (void **)&a->tmpfs, &a->o.n_tmpfs, &t, sizeof(t));
        return 0;
    }
    case 'm':
        if (rs_parse_size(arg, &v, err) < 0)
            return rs_err_ret(err);
        if (v < 4096 * 64)
            return rs_err_msg(err, -EINVAL, "invalid memory limit '%s': at least 256K", arg);
        a->o.memory_max = v;
        return 0;
    case OPT_CPUS:
        if (run_parse_cpus(arg, &millis, err) < 0)
            return rs_err_ret(err);
        a->o.cpu_millis = millis;
        return 0;
    case OPT_PIDS:
        if (rs_parse_uint(arg, 1u << 22, &v, err) < 0 || v == 0)
            return rs_err_msg(err, -EINVAL, "invalid pids limit '%s': 1 to 4194304", arg);
        a->o.pids_max = v;
        return 0;
    case OPT_IO_WEIGHT:
        if (rs_parse_uint(arg, 10000, &v, err) < 0 || v == 0)
            return rs_err_msg(err, -EINVAL, "invalid io weight '%s': 1 to 10000", arg);
        a->o.io_weight = (uint32_t)v;
        return 0;
    case OPT_CAP_ADD:
    case OPT_CAP_DROP:
        if (run_parse_cap(arg, &mask, err) < 0)
            return rs_err_ret(err);
        if (c == OPT_CAP_ADD)
            a->o.cap_add |= mask, a->o.cap_drop &= ~mask;
        else
            a->o.cap_drop |= mask, a->o.cap_add &= ~mask;
        return 0;
    case OPT_READ_ONLY:
        a->o.read_only_root = true;
        return 0;
    case OPT_NET:
        if (strcmp(arg, "host") == 0)
            a->o.net = RUN_NET_HOST;
        else if (strcmp(arg, "private") == 0 || strcmp(arg, "none") == 0)
            a->o.net = RUN_NET_PRIVATE;
        else
            return rs_err_msg(err, -EINVAL, "invalid network '%s': private or host", arg);
        return 0;
    case OPT_HOSTNAME:
        a->o.hostname = arg;
        return 0;
    case OPT_NO_HOSTS:
        a->o.no_hosts = true;
        return 0;
    case OPT_ADD_HOST: {
        struct run_host h;
        char *storage;
        if (run_parse_host(arg, &h, &storage, err) < 0)
            return rs_err_ret(err);
        append_parsed(a, storage, (void **)&a->hosts, &a->o.n_hosts, &h, sizeof(h));
        return 0;
    }
    case OPT_INIT:
        a->o.init = true;
        return 0;
    case OPT_COMMIT:
        a->commit = arg;
        return 0;
    case OPT_ENTRYPOINT:
        a->entrypoint = arg;
        return 0;
    case 't':
        a->tty = true;
        return 0;
    }
    return -EINVAL;
}

/* <0 error, 0 exit now (help), >0 run. */
static int parse_argv(struct args *a, int argc, char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "env", required_argument, NULL, 'e' },
        { "env-file", required_argument, NULL, OPT_ENV_FILE },
        { "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
        { "tmpfs", required_argument, NULL, OPT_TMPFS },
        { "workdir", required_argument, NULL, 'w' },
        { "user", required_argument, NULL, 'u' },
        { "volume", required_argument, NULL, 'V' },
        { "memory", required_argument, NULL, 'm' },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "pids-limit", required_argument, NULL, OPT_PIDS },
        { "io-weight", required_argument, NULL, OPT_IO_WEIGHT },
        { "cap-add", required_argument, NULL, OPT_CAP_ADD },
        { "cap-drop", required_argument, NULL, OPT_CAP_DROP },
        { "read-only", no_argument, NULL, OPT_READ_ONLY },
        { "net", required_argument, NULL, OPT_NET },
        { "hostname", required_argument, NULL, OPT_HOSTNAME },
        { "no-hosts", no_argument, NULL, OPT_NO_HOSTS },
        { "add-host", required_argument, NULL, OPT_ADD_HOST },
        { "init", no_argument, NULL, OPT_INIT },
        { "commit", required_argument, NULL, OPT_COMMIT },
        { "tty", no_argument, NULL, 't' },
        /* -v is --volume here, as in docker; --verbose stays long-only. */
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'Z' },
        { "root", required_argument, NULL, CLI_OPT_ROOT },
        {},
    };
    int c;

    opterr = 0;
    optind = 0;
    /* Options may come before IMAGE and between IMAGE and COMMAND (`runroot IMG -m 100M bash`):
     * the first non-option after IMAGE starts the command, and `--` ends the options. */
    for (int pass = 0; pass < 2; pass++) {
        while ((c = getopt_long(argc, argv, "+:he:w:u:v:m:tq", options, NULL)) != -1) {
            struct rs_err err = RS_ERR_INIT;
            if (c == 'v')
                c = 'V';
            if (c == 'Z')
                c = 'v';
            if (cli_common_option(c, optarg))
                continue;
            if (c == 'h') {
                usage(stdout);
                return 0;
            }
            if (c == '?' || c == ':')
                return cli_getopt_error(c, argv);
            if (parse_one(a, c, optarg, &err) < 0) {
                int r = cli_usage_error("%s%s%s", err.msg ? err.msg : "invalid option",
                                        err.show_errno && err.code > 0 ? ": " : "",
                                        err.show_errno && err.code > 0 ? strerror(err.code) : "");
                rs_err_release(&err);
                return r;
            }
        }
        if (pass == 0) {
            if (optind >= argc)
                return cli_usage_error("no image given");
            a->image = xstrdup(argv[optind++]);
        }
    }
    if (optind < argc)
        a->command = strv_copy(argv + optind);
    return 1;
}

/* cache_import_archive() lives in cache/oci_store.c, which brings libarchive and the twenty
 * libraries behind it. The reference is weak so that it does not pull that object in by
 * itself: in rootstock (where `rootstock image import` links it) it is there, and in the small
 * runroot executable it is NULL and runroot hands the whole command over to rootstock. */
extern __typeof__(cache_import_archive) cache_import_archive __attribute__((weak));

/* A regular file named like a path ("./x", "/a/b") or like a tarball ("x.tar", "x.tar.zst"):
 * a bare word stays a store name even if a file of that name is in the current directory. */
static bool is_archive_image(const char *image)
{
    static const char *const suffixes[] = { ".tar",     ".tar.gz", ".tgz",
                                            ".tar.zst", ".tar.xz", ".tar.bz2" };
    size_t len = strlen(image);
    bool named = strchr(image, '/') != NULL;
    struct stat st;

    for (size_t i = 0; i < ELEMENTSOF(suffixes) && !named; i++) {
        size_t n = strlen(suffixes[i]);
        named = len > n && strcmp(image + len - n, suffixes[i]) == 0;
    }
    return named && stat(image, &st) == 0 && S_ISREG(st.st_mode);
}

/* Exec the rootstock binary next to us with the same argv: argv[0] stays "runroot" (or
 * whatever started us), which rootstock dispatches to this same cmd_run, with the importer
 * linked in. Returns only on failure. */
static int exec_rootstock(char *argv[], struct rs_err *err)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    _cleanup_free_ char *target = NULL;
    char *slash;

    if (n <= 0)
        return rs_err_set(err, n < 0 ? -errno : -ENOENT, "cannot find runroot's own path");
    self[n] = '\0';
    slash = strrchr(self, '/');
    target = xasprintf("%.*s/rootstock", slash ? (int)(slash - self) : 0, self);
    if (strcmp(target, self) == 0)
        return rs_err_msg(err, -ENOSYS, "this build cannot import archives");
    log_debug("importing an archive: executing '%s'", target);
    execv(target, argv);
    return rs_err_set(err, -errno, "cannot execute '%s' to import the archive", target);
}

static bool is_directory_image(const char *image)
{
    struct stat st;

    return (strchr(image, '/') || strcmp(image, ".") == 0 || strcmp(image, "..") == 0) &&
           stat(image, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The files runroot gives each container in /etc (run_options.etc_files) are the run's, not the
 * image's: a change the command made to them stays out of the commit, as docker's bind-mounted
 * copies do. (An unchanged one is never in the upper.) */
static void drop_etc_files(const struct run_options *o, const char *upper)
{
    _cleanup_free_ char *etc = xasprintf("%s/etc", upper);
    _cleanup_close_ int fd = open(etc, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return;
    (void)unlinkat(fd, "hostname", 0);
    if (!o->no_hosts)
        (void)unlinkat(fd, "hosts", 0);
    if (o->net == RUN_NET_HOST)
        (void)unlinkat(fd, "resolv.conf", 0);
}

static int commit(struct cache *c, const struct image *img, struct cache_container *ct,
                  const struct run_options *o, const char *name, struct rs_err *err)
{
    _cleanup_(image_freep) struct image *out = image_dup(img);
    _cleanup_free_ char *upper = xasprintf("%s/upper", cache_container_path(ct));
    _cleanup_free_ char *created_by = xasprintf("runroot --commit %s", name);
    char id[RS_SHA256_HEX_LEN + 1];
    size_t n = strv_length(img->layers);
    struct layer_meta meta = {
        .parent = n ? img->layers[n - 1] : NULL,
        .created = (int64_t)time(NULL),
        .created_by = created_by,
    };
    int r;

    free(out->name);
    out->name = NULL;
    r = image_name_normalize(name, &out->name, err);
    if (r < 0)
        return r;
    drop_etc_files(o, upper);
    r = cache_layer_publish_dir(c, upper, &meta, NULL, id, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot commit the container");
    strv_push(&out->layers, id);
    out->created = meta.created;
    free(out->source);
    out->source = xasprintf("runroot --commit from %s", img->name ? img->name : "?");
    r = cache_image_put(c, out, err);
    if (r < 0)
        return rs_err_wrap(err, "cannot record image '%s'", out->name);
    printf("%s\n", out->name);
    return 0;
}

/* An out-of-memory kill is news, not runroot's own error: one plain "runroot: out of
 * memory: …" line, printed even with -q because the user asked for the limit. */
__attribute__((format(printf, 1, 2))) static void report_oom(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", log_program_name());
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int print_result(const struct args *a, const struct run_result *res)
{
    if (res->exec_errno) {
        errno = res->exec_errno;
        log_error("%s: %m", res->message);
    }
    if (res->n_oom_kills > 0) {
        char lim[16];
        (void)rs_format_size(a->o.memory_max, lim, sizeof(lim));
        if (res->main_oom_killed)
            report_oom("out of memory: killed '%s' (pid %d in container), limit %s",
                       res->oom_victim[0] ? res->oom_victim : a->o.argv[0],
                       (int)(a->o.init ? 2 : 1), lim);
        else if (res->oom_victim[0] && res->oom_victim_ns_pid)
            report_oom("out of memory: killed '%s' (pid %d in container, host pid %d), limit %s",
                       res->oom_victim, (int)res->oom_victim_ns_pid, (int)res->oom_victim_pid, lim);
        else if (res->oom_victim[0])
            report_oom("out of memory: killed '%s' (host pid %d), limit %s", res->oom_victim,
                       (int)res->oom_victim_pid, lim);
        else
            report_oom("out of memory: killed %u process%s in the container, limit %s",
                       res->n_oom_kills, res->n_oom_kills == 1 ? "" : "es", lim);
    }
    return res->main_oom_killed ? 137 : res->exit_code;
}

static int run_image(struct args *a, char *argv[], struct rs_err *err)
{
    _cleanup_(cache_closep) struct cache *c = NULL;
    _cleanup_(image_freep) struct image *img = NULL;
    _cleanup_strv_free_ char **lowers = NULL, **env = NULL, **command = NULL;
    _cleanup_free_ char *upper = NULL, *work = NULL, *merged = NULL, *hostname = NULL;
    _cleanup_free_ char *dir = NULL;
    struct cache_container *ct = NULL;
    struct run_result res;
    int r;

    r = cache_open(cli_store_root(), 0, &c, err);
    if (r < 0)
        return r;
    if (is_directory_image(a->image)) {
        if (a->commit)
            return rs_err_msg(err, -EINVAL,
                              "--commit needs an image from the store, not a directory");
        dir = realpath(a->image, NULL); /* a host path given by the user, not rootfs content */
        if (!dir)
            return rs_err_set(err, -errno, "cannot find '%s'", a->image);
        img = image_new();
        img->name = xasprintf("dir:%s", dir);
        strv_push(&lowers, dir);
    } else {
        if (is_archive_image(a->image)) {
            _cleanup_free_ char *name = NULL;
            if (!cache_import_archive) {
                c = cache_close(c); /* the store lock is not inherited across exec */
                return exec_rootstock(argv, err);
            }
            /* Content-keyed: the second run of the same file is a lookup. */
            r = cache_import_archive(c, a->image, NULL, &name, err);
            if (r < 0)
                return r;
            free(a->image);
            a->image = TAKE_PTR(name);
        }
        r = cache_image_get(c, a->image, &img, err);
        if (r < 0)
            return r;
        STRV_FOREACH(l, img->layers)
            strv_consume(&lowers, cache_layer_root_path(c, *l));
        if (!lowers)
            return rs_err_msg(err, -EINVAL, "image '%s' has no layers", img->name);
    }
    /* The overlay is mounted on the container's directory itself (only the container sees
     * it there): a merged/ would cost a mkdir and an rmdir on the store's disk per run. */
    r = cache_container_new_ex(c, img, CACHE_CONTAINER_NO_MERGED | CACHE_CONTAINER_REUSE, &ct, err);
    if (r < 0)
        return r;
    upper = xasprintf("%s/upper", cache_container_path(ct));
    work = xasprintf("%s/work", cache_container_path(ct));
    merged = xstrdup(cache_container_path(ct));
    hostname = xstrndup(cache_container_id(ct), 12);

    env = strv_copy(img->config.env);
    STRV_FOREACH(e, a->env)
        strv_push(&env, *e);
    a->o.lower_dirs = lowers;
    a->o.upper_dir = upper;
    a->o.work_dir = work;
    a->o.merged_dir = merged;
    a->o.discard_upper = !a->commit;
    a->o.etc_files = true;
    a->o.env = env;
    command = command_line(a, &img->config);
    a->o.argv = command;
    a->o.cwd = a->workdir ? a->workdir : img->config.working_dir;
    if (!a->o.hostname)
        a->o.hostname =
            img->config.hostname && *img->config.hostname ? img->config.hostname : hostname;
    if (!a->o.user && img->config.user && *img->config.user)
        a->o.user = img->config.user;
    a->o.binds = a->binds;
    a->o.tmpfs = a->tmpfs;
    a->o.hosts = a->hosts;
    a->o.tty = a->tty || isatty(STDIN_FILENO);
    a->o.cgroup = true;

    r = run_container(&a->o, &res, err);
    /* A failed or interrupted command leaves a half-made change (a broken apt-get install):
     * never published under the name, as a failed build step is not. */
    if (r >= 0 && a->commit && res.exit_code == 0 && !res.main_oom_killed)
        r = commit(c, img, ct, &a->o, a->commit, err);
    else if (r >= 0 && a->commit)
        log_warning("not committing '%s': the command exited %d", a->commit,
                    res.main_oom_killed ? 137 : res.exit_code);
    cache_container_remove(ct);
    if (r < 0)
        return r;
    return print_result(a, &res);
}

int cmd_run(int argc, char *argv[])
{
    struct args a = { 0 };
    struct rs_err err = RS_ERR_INIT;
    int r;

    run_options_init(&a.o);
    r = parse_argv(&a, argc, argv);
    if (r <= 0) {
        args_release(&a);
        return r == 0 ? 0 : EXIT_USAGE;
    }
    r = run_image(&a, argv, &err);
    if (r < 0) {
        rs_err_print(&err);
        rs_err_release(&err);
        r = EXIT_RUN_FAILED;
    }
    args_release(&a);
    return r;
}
