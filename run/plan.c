/* The plan: options -> an ordered list of operations (bubblewrap's SetupOp list). Pure: no
 * system calls, so every decision here is unit-tested without root (tests/unit/test_run.c). */
#include "run/run-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <sys/capability.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "common/strbuf.h"
#include "common/strv.h"
#include "common/xalloc.h"

#define HOSTNAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
#define DEFAULT_PATH   "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Paths hidden from the container (runc/crun defaults plus docker's additions). */
static const char *const masked_paths[] = {
    "/proc/acpi",        "/proc/asound",        "/proc/interrupts", "/proc/kcore",
    "/proc/keys",        "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi",          "/sys/firmware",    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const struct {
    const char *name;
    unsigned major, minor;
} devices[] = {
    { "dev/null", 1, 3 },   { "dev/zero", 1, 5 },    { "dev/full", 1, 7 },
    { "dev/random", 1, 8 }, { "dev/urandom", 1, 9 }, { "dev/tty", 5, 0 },
};

static const struct {
    const char *link, *target;
} dev_links[] = {
    { "dev/fd", "/proc/self/fd" },       { "dev/stdin", "/proc/self/fd/0" },
    { "dev/stdout", "/proc/self/fd/1" }, { "dev/stderr", "/proc/self/fd/2" },
    { "dev/ptmx", "pts/ptmx" },
};

uint64_t run_default_caps(void)
{
    static const int docker[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE,
    };
    uint64_t mask = 0;

    for (size_t i = 0; i < ELEMENTSOF(docker); i++)
        mask |= 1ULL << docker[i];
    return mask;
}

int run_parse_cap(const char *name, uint64_t *ret_mask, struct rs_err *err)
{
    _cleanup_free_ char *lower = NULL;
    cap_value_t v;

    if (strcasecmp(name, "ALL") == 0) {
        *ret_mask = (CAP_LAST_CAP >= 63) ? ~0ULL : ((1ULL << (CAP_LAST_CAP + 1)) - 1);
        return 0;
    }
    lower = strncasecmp(name, "CAP_", 4) == 0 ? xstrdup(name) : xasprintf("cap_%s", name);
    for (char *s = lower; *s; s++)
        *s = (char)((*s >= 'A' && *s <= 'Z') ? *s - 'A' + 'a' : *s);
    if (cap_from_name(lower, &v) < 0 || v < 0 || v > 63)
        return rs_err_msg(err, -EINVAL, "unknown capability '%s'", name);
    *ret_mask = 1ULL << v;
    return 0;
}

int run_parse_bind(const char *text, struct run_bind *ret, char **ret_storage, struct rs_err *err)
{
    _cleanup_free_ char *copy = xstrdup(text);
    char *dst, *mode;
    bool ro = false;

    dst = strchr(copy, ':');
    if (!dst || dst == copy)
        return rs_err_msg(err, -EINVAL, "invalid volume '%s': expected SRC:DST[:ro]", text);
    *dst++ = '\0';
    mode = strchr(dst, ':');
    if (mode) {
        *mode++ = '\0';
        if (strcmp(mode, "ro") == 0)
            ro = true;
        else if (strcmp(mode, "rw") != 0)
            return rs_err_msg(err, -EINVAL, "invalid volume '%s': unknown mode '%s'", text, mode);
    }
    if (dst[0] != '/')
        return rs_err_msg(err, -EINVAL,
                          "invalid volume '%s': the destination must be an absolute path", text);
    ret->source = copy;
    ret->dest = dst;
    ret->read_only = ro;
    *ret_storage = TAKE_PTR(copy);
    return 0;
}

int run_parse_tmpfs(const char *text, struct run_tmpfs *ret, char **ret_storage, struct rs_err *err)
{
    static const struct {
        const char *name;
        unsigned long set, clear;
    } words[] = {
        { "ro", MS_RDONLY, 0 },
        { "rw", 0, MS_RDONLY },
        { "noexec", MS_NOEXEC, 0 },
        { "exec", 0, MS_NOEXEC },
        { "nosuid", MS_NOSUID, 0 },
        { "suid", 0, MS_NOSUID },
        { "nodev", MS_NODEV, 0 },
        { "dev", 0, MS_NODEV },
        { "noatime", MS_NOATIME, 0 },
        { "relatime", MS_RELATIME, 0 },
        { "strictatime", MS_STRICTATIME, 0 },
    };
    _cleanup_free_ char *copy = xstrdup(text);
    _cleanup_strbuf_ struct strbuf data = STRBUF_INIT(4096);
    char *options = strchr(copy, ':'), *storage;
    unsigned long flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;
    size_t dest_len;

    if (options)
        *options++ = '\0';
    if (copy[0] != '/' || !copy[strspn(copy, "/")])
        return rs_err_msg(err, -EINVAL,
                          "invalid tmpfs '%s': the destination must be an absolute path, not /",
                          text);
    for (char *word = options, *next; word && *word; word = next) {
        size_t i;
        next = strchr(word, ',');
        if (next)
            *next++ = '\0';
        for (i = 0; i < ELEMENTSOF(words) && strcmp(word, words[i].name) != 0; i++)
            ;
        if (i < ELEMENTSOF(words))
            flags = (flags | words[i].set) & ~words[i].clear;
        else if (!strchr(word, '=') || strbuf_addf(&data, "%s%s", data.len ? "," : "", word) < 0)
            return rs_err_msg(err, -EINVAL, "invalid tmpfs '%s': unknown option '%s'", text, word);
    }
    /* One allocation: the destination, then the tmpfs's own options. */
    dest_len = strlen(copy);
    storage = xmalloc(dest_len + 1 + data.len + 1);
    memcpy(storage, copy, dest_len + 1);
    memcpy(storage + dest_len + 1, strbuf_str(&data), data.len + 1);
    *ret = (struct run_tmpfs){ .dest = storage,
                               .flags = flags,
                               .data = data.len ? storage + dest_len + 1 : NULL };
    *ret_storage = storage;
    return 0;
}

static bool valid_host_name(const char *name)
{
    return name[0] && strlen(name) <= 253 && !name[strspn(name, HOSTNAME_CHARS)];
}

static bool valid_address(const char *address)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, address, buf) == 1 || inet_pton(AF_INET6, address, buf) == 1;
}

int run_parse_host(const char *text, struct run_host *ret, char **ret_storage, struct rs_err *err)
{
    _cleanup_free_ char *copy = xstrdup(text);
    char *address = strchr(copy, ':');
    size_t len;

    if (!address)
        return rs_err_msg(err, -EINVAL, "invalid host '%s': expected NAME:ADDRESS", text);
    *address++ = '\0';
    len = strlen(address);
    if (address[0] == '[' && len > 2 && address[len - 1] == ']') {
        address[len - 1] = '\0';
        address++;
    }
    if (!valid_host_name(copy))
        return rs_err_msg(err, -EINVAL,
                          "invalid host '%s': the name takes letters, digits, '-', '_' and '.'",
                          text);
    if (!valid_address(address))
        return rs_err_msg(err, -EINVAL, "invalid host '%s': '%s' is not an IP address", text,
                          address);
    ret->name = copy;
    ret->address = address;
    *ret_storage = TAKE_PTR(copy);
    return 0;
}

int run_parse_cpus(const char *text, uint32_t *ret_millis, struct rs_err *err)
{
    uint64_t whole = 0, frac = 0;
    unsigned n_frac = 0;
    const char *s = text;

    if (!*s)
        return rs_err_msg(err, -EINVAL, "invalid CPU count '%s'", text);
    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (uint64_t)(*s - '0');
        if (whole > 4096)
            return rs_err_msg(err, -ERANGE, "invalid CPU count '%s': at most 4096", text);
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (++n_frac > 3)
                return rs_err_msg(err, -EINVAL, "invalid CPU count '%s': at most 3 decimals", text);
            frac = frac * 10 + (uint64_t)(*s - '0');
        }
    }
    if (*s || s == text || (s[-1] == '.' && n_frac == 0))
        return rs_err_msg(err, -EINVAL, "invalid CPU count '%s'", text);
    for (; n_frac < 3; n_frac++)
        frac *= 10;
    if (whole * 1000 + frac == 0)
        return rs_err_msg(err, -EINVAL, "invalid CPU count '%s': must be above 0", text);
    if (whole * 1000 + frac > 4096000)
        return rs_err_msg(err, -ERANGE, "invalid CPU count '%s': at most 4096", text);
    *ret_millis = (uint32_t)(whole * 1000 + frac);
    return 0;
}

int run_exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 125;
}

char *run_overlay_options(char *const *lowers, const char *upper, const char *work)
{
    struct strbuf sb = STRBUF_INIT(SIZE_MAX / 2);
    size_t n = strv_length(lowers);

    (void)strbuf_addstr(&sb, "lowerdir=");
    for (size_t i = n; i > 0; i--) /* overlay wants the top layer first */
        (void)strbuf_addf(&sb, "%s%s", i == n ? "" : ":", lowers[i - 1]);
    (void)strbuf_addf(&sb, ",upperdir=%s,workdir=%s,index=off,redirect_dir=off,metacopy=off", upper,
                      work);
    return strbuf_detach(&sb, NULL);
}

static struct op *add_op(struct plan *p, enum op_kind kind, const char *dest)
{
    struct op *op;

    p->ops = xreallocarray(p->ops, p->n_ops + 1, sizeof(*p->ops));
    op = &p->ops[p->n_ops++];
    *op = (struct op){ .kind = kind, .dest = dest };
    return op;
}

static void add_mount(struct plan *p, const char *fstype, const char *dest, unsigned long flags,
                      const char *data)
{
    struct op *op = add_op(p, OP_MOUNT, dest);

    op->fstype = fstype;
    op->source = fstype;
    op->mount_flags = flags;
    op->data = data;
}

static bool env_has(char *const *env, const char *key)
{
    size_t len = strlen(key);

    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], key, len) == 0 && env[i][len] == '=')
            return true;
    return false;
}

static int validate(const struct run_options *o, struct rs_err *err)
{
    if (!o->argv || !o->argv[0] || !o->argv[0][0])
        return rs_err_msg(err, -EINVAL, "no command to run");
    if (!!o->root_dir == !!o->lower_dirs)
        return rs_err_msg(err, -EINVAL, "exactly one of a root directory and lower layers");
    if (o->lower_dirs && (!o->lower_dirs[0] || !o->upper_dir || !o->work_dir || !o->merged_dir))
        return rs_err_msg(err, -EINVAL,
                          "an overlay root needs at least one lower, an upper, a work and a "
                          "merged directory");
    if (o->lower_dirs && strv_length(o->lower_dirs) > 500)
        return rs_err_msg(err, -E2BIG, "too many layers (%zu): overlayfs takes at most 500",
                          strv_length(o->lower_dirs));
    if (o->cwd && o->cwd[0] != '/')
        return rs_err_msg(err, -EINVAL, "invalid working directory '%s': must be absolute", o->cwd);
    if (o->hostname && (!o->hostname[0] || strlen(o->hostname) > 64))
        return rs_err_msg(err, -EINVAL, "invalid hostname '%s': 1 to 64 characters", o->hostname);
    /* It goes into /etc/hosts, where blanks separate names. */
    if (o->hostname && !valid_host_name(o->hostname))
        return rs_err_msg(err, -EINVAL,
                          "invalid hostname '%s': letters, digits, '-', '_' and '.' only",
                          o->hostname);
    for (size_t i = 0; i < o->n_binds; i++) {
        const struct run_bind *b = &o->binds[i];
        if (!b->source || !b->source[0] || !b->dest || b->dest[0] != '/')
            return rs_err_msg(err, -EINVAL,
                              "invalid volume: a source and an absolute destination are needed");
        if (b->dest[strspn(b->dest, "/")] == '\0')
            return rs_err_msg(err, -EINVAL, "invalid volume '%s': cannot mount over '/'",
                              b->source);
    }
    if (o->no_hosts && o->n_hosts)
        return rs_err_msg(err, -EINVAL,
                          "cannot add hosts with --no-hosts, which keeps the image's /etc/hosts");
    for (size_t i = 0; i < o->n_hosts; i++)
        if (!o->hosts[i].name || !valid_host_name(o->hosts[i].name) || !o->hosts[i].address ||
            !valid_address(o->hosts[i].address))
            return rs_err_msg(err, -EINVAL, "invalid host '%s:%s'",
                              o->hosts[i].name ? o->hosts[i].name : "",
                              o->hosts[i].address ? o->hosts[i].address : "");
    for (size_t i = 0; i < o->n_tmpfs; i++)
        if (!o->tmpfs[i].dest || o->tmpfs[i].dest[0] != '/' ||
            !o->tmpfs[i].dest[strspn(o->tmpfs[i].dest, "/")])
            return rs_err_msg(err, -EINVAL, "invalid tmpfs: an absolute destination is needed");
    if (o->io_weight > 10000)
        return rs_err_msg(err, -ERANGE, "invalid io weight %u: 1 to 10000", o->io_weight);
    if ((int)o->net < 0 || o->net >= _RUN_NET_MAX)
        return rs_err_msg(err, -EINVAL, "invalid network mode");
    return 0;
}

/* s, owned by the plan from now on. */
static const char *plan_own(struct plan *p, char *s)
{
    strv_consume(&p->strings, s);
    return s;
}

/* What docker writes for a container with only loopback: the names every system has for it, and
 * the container's own name on 127.0.1.1, as Debian's installer names the host. */
#define HOSTS_LOOPBACK                         \
 "127.0.0.1\tlocalhost\n"                      \
 "::1\tlocalhost ip6-localhost ip6-loopback\n" \
 "ff02::1\tip6-allnodes\n"                     \
 "ff02::2\tip6-allrouters\n"

static struct op *add_etc_file(struct plan *p, const char *dest, const char *host_source,
                               const char *data)
{
    struct op *op = add_op(p, OP_ETC_FILE, dest);

    op->source = host_source;
    op->data = data;
    return op;
}

/* The container's own /etc/hostname, /etc/hosts and, sharing the host's network, the host's
 * /etc/resolv.conf: an image's copies are the build host's (debootstrap copies hostname and
 * resolv.conf in) or missing (a minbase has no hosts, so "localhost" does not resolve). */
static void plan_etc_files(struct plan *p, const struct run_options *o)
{
    struct strbuf hosts = STRBUF_INIT(SIZE_MAX / 2);

    add_etc_file(p, "etc/hostname", NULL, plan_own(p, xasprintf("%s\n", p->hostname)));
    if (!o->no_hosts) {
        if (o->net != RUN_NET_HOST)
            (void)strbuf_addstr(&hosts, HOSTS_LOOPBACK);
        (void)strbuf_addf(&hosts, "127.0.1.1\t%s\n", p->hostname);
        for (size_t i = 0; i < o->n_hosts; i++)
            (void)strbuf_addf(&hosts, "%s\t%s\n", o->hosts[i].address, o->hosts[i].name);
        add_etc_file(p, "etc/hosts", o->net == RUN_NET_HOST ? "/etc/hosts" : NULL,
                     plan_own(p, strbuf_detach(&hosts, NULL)));
    }
    if (o->net == RUN_NET_HOST)
        add_etc_file(p, "etc/resolv.conf", "/etc/resolv.conf", "")->flags = OPF_OPTIONAL;
}

static void plan_mounts(struct plan *p, const struct run_options *o)
{
    struct op *op;

    if (o->lower_dirs) {
        if (o->etc_files)
            plan_etc_files(p, o);
        op = add_op(p, OP_ROOT_OVERLAY, o->merged_dir);
        op->source = o->upper_dir;
    } else {
        op = add_op(p, OP_ROOT_BIND, o->root_dir);
        op->source = o->root_dir;
    }
    add_mount(p, "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
    add_mount(p, "tmpfs", "dev", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
    for (size_t i = 0; i < ELEMENTSOF(devices); i++) {
        op = add_op(p, OP_MKNOD, devices[i].name);
        op->mode = S_IFCHR | 0666;
        op->dev = makedev(devices[i].major, devices[i].minor);
    }
    for (size_t i = 0; i < ELEMENTSOF(dev_links); i++)
        add_op(p, OP_SYMLINK, dev_links[i].link)->source = dev_links[i].target;
    add_mount(p, "devpts", "dev/pts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
    add_mount(p, "tmpfs", "dev/shm", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=65536k");
    add_mount(p, "mqueue", "dev/mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
    for (size_t i = 0; i < o->n_binds; i++) {
        op = add_op(p, OP_BIND, o->binds[i].dest + strspn(o->binds[i].dest, "/"));
        op->source = o->binds[i].source;
        if (o->binds[i].read_only)
            op->flags |= OPF_READ_ONLY;
    }
    for (size_t i = 0; i < o->n_tmpfs; i++)
        add_mount(p, "tmpfs", o->tmpfs[i].dest + strspn(o->tmpfs[i].dest, "/"), o->tmpfs[i].flags,
                  o->tmpfs[i].data);
    add_op(p, OP_PIVOT, "/");
    if (p->join_net)
        add_op(p, OP_JOIN_NET, "/");
    add_mount(p, "sysfs", "sys", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
    for (size_t i = 0; i < ELEMENTSOF(masked_paths); i++)
        add_op(p, OP_MASK, masked_paths[i])->flags = OPF_OPTIONAL;
    for (size_t i = 0; i < ELEMENTSOF(readonly_paths); i++)
        add_op(p, OP_READONLY, readonly_paths[i])->flags = OPF_OPTIONAL;
    if (o->read_only_root)
        add_op(p, OP_ROOT_READONLY, "/");
}

int run_plan_build(const struct run_options *o, struct plan **ret, struct rs_err *err)
{
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    int r;

    r = validate(o, err);
    if (r < 0)
        return r;
    p = xcalloc(1, sizeof(*p));
    p->opts = o;
    p->clone_flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    p->join_net = o->net == RUN_NET_PRIVATE;
    p->hostname = xstrdup(o->hostname ? o->hostname : "rootstock");
    plan_mounts(p, o);

    p->argv = strv_copy(o->argv);
    p->env = strv_copy(o->env);
    if (!env_has(p->env, "PATH"))
        strv_push(&p->env, "PATH=" DEFAULT_PATH);
    if (o->user && !env_has(p->env, "HOME"))
        p->home_from_user = true;
    else if (!env_has(p->env, "HOME"))
        strv_push(&p->env, o->uid == 0 ? "HOME=/root" : "HOME=/");
    if (o->tty && !env_has(p->env, "TERM"))
        strv_push(&p->env, "TERM=xterm");
    p->cwd = xstrdup(o->cwd ? o->cwd : "/");
    p->uid = o->uid;
    p->gid = o->gid;
    p->caps = (run_default_caps() | o->cap_add) & ~o->cap_drop;
    p->limits = (struct cg_limits){
        .memory_max = o->memory_max,
        .cpu_millis = o->cpu_millis,
        .pids_max = o->pids_max,
        .io_weight = o->io_weight,
        .wanted = o->cgroup,
    };
    *ret = TAKE_PTR(p);
    return 0;
}

void run_plan_add_cgroupfs(struct plan *p, bool v2, const struct cg_hierarchy *h, size_t n)
{
    const unsigned long ro = MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY;

    if (v2) {
        add_mount(p, "cgroup2", "sys/fs/cgroup", ro, NULL);
        return;
    }
    add_mount(p, "tmpfs", "sys/fs/cgroup", ro & ~(unsigned long)MS_RDONLY, "mode=755,size=64k");
    for (size_t i = 0; i < n; i++) {
        const char *dir = plan_own(p, xasprintf("sys/fs/cgroup/%s", h[i].dir));
        add_mount(p, "cgroup", dir, ro, plan_own(p, xstrdup(h[i].options)));
        if (h[i].alias)
            add_op(p, OP_SYMLINK, plan_own(p, xasprintf("sys/fs/cgroup/%s", h[i].alias)))->source =
                plan_own(p, xstrdup(h[i].dir));
    }
    /* The tmpfs itself read-only too, once its mount points and links are made. */
    add_mount(p, "tmpfs", "sys/fs/cgroup", ro | MS_REMOUNT, "mode=755,size=64k");
}

struct plan *run_plan_free(struct plan *p)
{
    if (!p)
        return NULL;
    free(p->ops);
    strv_free(p->strings);
    strv_free(p->argv);
    strv_free(p->env);
    free(p->cwd);
    free(p->hostname);
    free(p);
    return NULL;
}

void run_options_init(struct run_options *o)
{
    *o = (struct run_options){ .stdio = { -1, -1, -1 }, .net = RUN_NET_PRIVATE };
}
