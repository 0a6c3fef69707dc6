/* cgroups: one cgroup per container with its limits, on whatever the host has. Pure cgroup v2
 * (memory.max, memory.swap.max, memory.oom.group, cpu.max, pids.max, io.weight), and v1 or
 * hybrid hosts (one directory per controller: memory.limit_in_bytes with memsw,
 * cpu.cfs_quota_us, pids.max, blkio weight), detected with statfs and no configuration. */
#include "run/run-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#define CGROUP_FS "/sys/fs/cgroup"

static const char *const v1_names[_CG_CONTROLLER_MAX] = {
    [CG_MEMORY] = "memory",
    [CG_CPU] = "cpu",
    [CG_PIDS] = "pids",
    [CG_IO] = "blkio",
};
static const char *const v2_names[_CG_CONTROLLER_MAX] = {
    [CG_MEMORY] = "memory",
    [CG_CPU] = "cpu",
    [CG_PIDS] = "pids",
    [CG_IO] = "io",
};

struct cgroup {
    enum cg_mode mode;
    char *dirs[_CG_CONTROLLER_MAX];    /* v1: owned, one per controller in use */
    int tasks_fds[_CG_CONTROLLER_MAX]; /* v1: the "tasks" file of each dir, or -1 */
    char *v2_dir;                      /* v2: owned */
    int v2_fd;
    char *memcg; /* owned: the memory cgroup's path inside its hierarchy */
};

enum cg_mode run_cgroup_mode_from_fstypes(long root_type, long unified_type)
{
    (void)unified_type; /* hybrid and legacy are handled alike: the v1 controllers */
    if (root_type == CGROUP2_SUPER_MAGIC)
        return CG_MODE_V2;
    if (root_type == TMPFS_MAGIC)
        return CG_MODE_V1;
    return CG_MODE_NONE;
}

char *run_cgroup_own_path(const char *text, const char *controller)
{
    const char *line = text;

    while (line && *line) {
        const char *end = strchrnul(line, '\n');
        const char *c1 = memchr(line, ':', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (c2) {
            size_t list_len = (size_t)(c2 - c1 - 1);
            bool match = false;
            if (!controller) {
                match = list_len == 0 && strncmp(line, "0:", 2) == 0;
            } else {
                size_t n = strlen(controller);
                for (const char *s = c1 + 1; s < c2;) {
                    const char *comma = memchr(s, ',', (size_t)(c2 - s));
                    const char *e = comma ? comma : c2;
                    if ((size_t)(e - s) == n && strncmp(s, controller, n) == 0)
                        match = true;
                    s = e + 1;
                }
            }
            if (match && c2[1] == '/')
                return xstrndup(c2 + 1, (size_t)(end - c2 - 1));
        }
        line = *end ? end + 1 : NULL;
    }
    return NULL;
}

/* Super options of a cgroup v1 mount that are not the hierarchy's name or controllers. */
static bool is_hierarchy_token(const char *t, size_t n)
{
    static const char *const not_names[] = {
        "rw",           "ro",  "noprefix", "clone_children", "xattr", "cpuset_v2_mode",
        "favordynmods", "all", "none"
    };

    if (n > 5 && strncmp(t, "name=", 5) == 0)
        return memchr(t + 5, '=', n - 5) == NULL;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
            return false; /* release_agent=..., anything with a value */
    for (size_t i = 0; i < ELEMENTSOF(not_names); i++)
        if (strlen(not_names[i]) == n && strncmp(t, not_names[i], n) == 0)
            return false;
    return n > 0;
}

char *run_cgroup_v1_options(const char *mountinfo, const char *mount_point)
{
    size_t mp_len = strlen(mount_point);

    for (const char *line = mountinfo; line && *line;) {
        const char *end = strchrnul(line, '\n');
        const char *mp = line, *dash;
        /* ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
        for (int i = 0; i < 4 && mp; i++) {
            mp = memchr(mp, ' ', (size_t)(end - mp));
            mp = mp ? mp + 1 : NULL;
        }
        dash = mp ? strstr(mp, " - cgroup ") : NULL;
        if (mp && dash && dash < end && (size_t)(end - mp) > mp_len &&
            strncmp(mp, mount_point, mp_len) == 0 && mp[mp_len] == ' ') {
            const char *super = memchr(dash + 10, ' ', (size_t)(end - dash - 10));
            struct strbuf sb = STRBUF_INIT(4096);
            for (const char *t = super ? super + 1 : end; t < end;) {
                const char *comma = memchr(t, ',', (size_t)(end - t));
                const char *e = comma ? comma : end;
                if (is_hierarchy_token(t, (size_t)(e - t)))
                    (void)strbuf_addf(&sb, "%s%.*s", sb.len ? "," : "", (int)(e - t), t);
                t = e + 1;
            }
            if (sb.len)
                return strbuf_detach(&sb, NULL);
            strbuf_release(&sb);
            return NULL;
        }
        line = *end ? end + 1 : NULL;
    }
    return NULL;
}

enum cg_mode cg_mode(const struct cgroup *cg)
{
    return cg->mode;
}

size_t cg_v1_hierarchies(const struct cgroup *cg, struct cg_hierarchy **ret)
{
    _cleanup_free_ char *mountinfo = NULL;
    struct rs_err e = RS_ERR_INIT;
    struct cg_hierarchy *h = NULL;
    size_t len, n = 0;

    *ret = NULL;
    if (cg->mode != CG_MODE_V1 ||
        rs_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 20, &mountinfo, &len, &e) < 0) {
        rs_err_release(&e);
        return 0;
    }
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++) {
        _cleanup_free_ char *link = xasprintf(CGROUP_FS "/%s", v1_names[c]);
        _cleanup_free_ char *real = NULL, *options = NULL;
        const char *dir;
        bool seen = false;
        if (!cg->dirs[c] || !(real = realpath(link, NULL)) ||
            strncmp(real, CGROUP_FS "/", sizeof(CGROUP_FS)) != 0)
            continue;
        dir = real + sizeof(CGROUP_FS);
        if (!*dir || strchr(dir, '/') || !(options = run_cgroup_v1_options(mountinfo, real)))
            continue;
        for (size_t i = 0; i < n; i++)
            seen = seen || strcmp(h[i].dir, dir) == 0;
        if (seen)
            continue;
        h = xreallocarray(h, n + 1, sizeof(*h));
        h[n++] = (struct cg_hierarchy){
            .dir = xstrdup(dir),
            .options = TAKE_PTR(options),
            .alias = strcmp(dir, v1_names[c]) != 0 ? xstrdup(v1_names[c]) : NULL,
        };
    }
    *ret = h;
    return n;
}

void cg_hierarchies_free(struct cg_hierarchy *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].dir);
        free(h[i].options);
        free(h[i].alias);
    }
    free(h);
}

static int write_at(const char *dir, const char *file, const char *value, struct rs_err *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
    _cleanup_close_ int fd = -1;

    log_debug("cgroup: %s = %s", path, value);
    fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || rs_write_all(fd, value, strlen(value)) < 0) {
        int e = errno ? errno : EIO;
        return rs_err_set(err, -e, "cannot write '%s' to '%s'", value, path);
    }
    return 0;
}

static int open_at(const char *dir, const char *file, struct rs_err *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return rs_err_set(err, -errno, "cannot open '%s'", path);
    return fd;
}

static bool is_cgroupfs(const char *dir, long want)
{
    struct statfs sfs;

    return statfs(dir, &sfs) == 0 && (long)sfs.f_type == want;
}

static int own_paths(char **ret_text)
{
    size_t len;
    struct rs_err e = RS_ERR_INIT;
    int r = rs_read_file_at(AT_FDCWD, "/proc/self/cgroup", 65536, ret_text, &len, &e);

    rs_err_release(&e);
    return r;
}

static bool v1_wanted(const struct cg_limits *l, enum cg_controller c)
{
    switch (c) {
    case CG_MEMORY:
    case CG_PIDS:
        return true; /* OOM counting and a home for every process, even without limits */
    case CG_CPU:
        return l->cpu_millis > 0;
    case CG_IO:
        return l->io_weight > 0;
    case _CG_CONTROLLER_MAX:
        break;
    }
    return false;
}

static int v1_limits(struct cgroup *cg, const struct cg_limits *l, struct rs_err *err)
{
    char buf[64];
    int r = 0;

    if (l->memory_max) {
        _cleanup_free_ char *memsw =
            xasprintf("%s/memory.memsw.limit_in_bytes", cg->dirs[CG_MEMORY]);
        (void)snprintf(buf, sizeof(buf), "%" PRIu64, l->memory_max);
        r = write_at(cg->dirs[CG_MEMORY], "memory.limit_in_bytes", buf, err);
        /* memory+swap = memory: no swap beyond the limit (needs swapaccount; without it
         * there is no swap accounting and nothing to limit). */
        if (r >= 0 && access(memsw, F_OK) == 0)
            r = write_at(cg->dirs[CG_MEMORY], "memory.memsw.limit_in_bytes", buf, err);
    }
    if (r >= 0 && l->cpu_millis) {
        (void)snprintf(buf, sizeof(buf), "%u", l->cpu_millis * 100);
        r = write_at(cg->dirs[CG_CPU], "cpu.cfs_period_us", "100000", err);
        if (r >= 0)
            r = write_at(cg->dirs[CG_CPU], "cpu.cfs_quota_us", buf, err);
    }
    if (r >= 0 && l->pids_max) {
        (void)snprintf(buf, sizeof(buf), "%" PRIu64, l->pids_max);
        r = write_at(cg->dirs[CG_PIDS], "pids.max", buf, err);
    }
    if (r >= 0 && l->io_weight) {
        /* v1 weights are 10..1000 (bfq 1..1000); scale v2's 1..10000 like crun. */
        unsigned w = 10 + (l->io_weight - 1) * 990 / 9999;
        (void)snprintf(buf, sizeof(buf), "%u", w);
        _cleanup_free_ char *bfq = xasprintf("%s/blkio.bfq.weight", cg->dirs[CG_IO]);
        r = write_at(cg->dirs[CG_IO], access(bfq, F_OK) == 0 ? "blkio.bfq.weight" : "blkio.weight",
                     buf, err);
    }
    return r;
}

static int v1_create(struct cgroup *cg, const struct cg_limits *l, const char *name,
                     struct rs_err *err)
{
    _cleanup_free_ char *text = NULL;

    if (own_paths(&text) < 0)
        return rs_err_set(err, -EIO, "cannot read '/proc/self/cgroup'");
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++) {
        _cleanup_free_ char *own = NULL, *mnt = NULL;
        if (!v1_wanted(l, c))
            continue;
        mnt = xasprintf(CGROUP_FS "/%s", v1_names[c]);
        own = run_cgroup_own_path(text, v1_names[c]);
        if (!own || !is_cgroupfs(mnt, CGROUP_SUPER_MAGIC)) {
            if (c == CG_MEMORY && !l->memory_max)
                continue;
            if (c == CG_PIDS && !l->pids_max)
                continue;
            return rs_err_msg(err, -ENODEV, "the cgroup v1 %s controller is not available",
                              v1_names[c]);
        }
        if (strcmp(own, "/") == 0)
            own[0] = '\0';
        cg->dirs[c] = xasprintf("%s%s/%s", mnt, own, name);
        if (mkdir(cg->dirs[c], 0755) < 0) {
            int e = errno;
            free(cg->dirs[c]);
            cg->dirs[c] = NULL;
            return rs_err_set(err, -e, "cannot create cgroup '%s%s/%s'", mnt, own, name);
        }
        if (c == CG_MEMORY)
            cg->memcg = xasprintf("%s/%s", own, name);
        /* Opened here, written by the child (cg_join_self): a root-owned file under the
         * cgroup filesystem, so no path is resolved in the child. */
        cg->tasks_fds[c] = open_at(cg->dirs[c], "tasks", err);
        if (cg->tasks_fds[c] < 0)
            return rs_err_ret(err);
    }
    return v1_limits(cg, l, err);
}

static int v2_enable(const char *dir, const struct cg_limits *l, struct rs_err *err)
{
    const bool want[_CG_CONTROLLER_MAX] = {
        [CG_MEMORY] = l->memory_max > 0,
        [CG_CPU] = l->cpu_millis > 0,
        [CG_PIDS] = l->pids_max > 0,
        [CG_IO] = l->io_weight > 0,
    };
    _cleanup_free_ char *avail = NULL;
    _cleanup_free_ char *path = xasprintf("%s/cgroup.controllers", dir);
    size_t len;
    struct rs_err e = RS_ERR_INIT;

    if (rs_read_file_at(AT_FDCWD, path, 4096, &avail, &len, &e) < 0) {
        rs_err_move(err, &e);
        return rs_err_ret(err);
    }
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++) {
        char word[16];
        if (!want[c])
            continue;
        (void)snprintf(word, sizeof(word), "%s", v2_names[c]);
        bool found = false;
        for (char *s = avail; s && *s;) {
            size_t n = strcspn(s, " \n");
            if (n == strlen(word) && strncmp(s, word, n) == 0)
                found = true;
            s += n;
            s += strspn(s, " \n");
        }
        if (!found)
            return rs_err_msg(err, -ENODEV, "the cgroup v2 %s controller is not available in '%s'",
                              word, dir);
        (void)snprintf(word, sizeof(word), "+%s", v2_names[c]);
        if (write_at(dir, "cgroup.subtree_control", word, err) < 0)
            return rs_err_ret(err);
    }
    return 0;
}

static int v2_limits(struct cgroup *cg, const struct cg_limits *l, struct rs_err *err)
{
    char buf[64];
    int r = 0;

    if (l->memory_max) {
        (void)snprintf(buf, sizeof(buf), "%" PRIu64, l->memory_max);
        r = write_at(cg->v2_dir, "memory.max", buf, err);
        if (r >= 0) {
            _cleanup_free_ char *swap = xasprintf("%s/memory.swap.max", cg->v2_dir);
            if (access(swap, F_OK) == 0)
                r = write_at(cg->v2_dir, "memory.swap.max", "0", err);
        }
        if (r >= 0)
            r = write_at(cg->v2_dir, "memory.oom.group", "1", err);
    }
    if (r >= 0 && l->cpu_millis) {
        (void)snprintf(buf, sizeof(buf), "%u 100000", l->cpu_millis * 100);
        r = write_at(cg->v2_dir, "cpu.max", buf, err);
    }
    if (r >= 0 && l->pids_max) {
        (void)snprintf(buf, sizeof(buf), "%" PRIu64, l->pids_max);
        r = write_at(cg->v2_dir, "pids.max", buf, err);
    }
    if (r >= 0 && l->io_weight) {
        (void)snprintf(buf, sizeof(buf), "default %u", l->io_weight);
        r = write_at(cg->v2_dir, "io.weight", buf, err);
    }
    return r;
}

static int v2_create(struct cgroup *cg, const struct cg_limits *l, const char *name,
                     struct rs_err *err)
{
    const char *delegated = getenv("RUNROOT_CGROUP_ROOT");
    _cleanup_free_ char *base = NULL, *text = NULL, *own = NULL;

    if (delegated && *delegated) {
        if (!is_cgroupfs(delegated, CGROUP2_SUPER_MAGIC))
            return rs_err_msg(err, -EINVAL, "RUNROOT_CGROUP_ROOT '%s' is not a cgroup v2 directory",
                              delegated);
        base = xstrdup(delegated);
    } else {
        if (own_paths(&text) < 0 || !(own = run_cgroup_own_path(text, NULL)))
            return rs_err_msg(err, -EIO, "cannot find our cgroup v2 path");
        /* A non-root cgroup that holds processes cannot enable controllers for children (the
         * no-internal-processes rule); use a runroot subtree of the root then. */
        base = xstrdup(CGROUP_FS "/runroot");
        if (mkdir(base, 0755) < 0 && errno != EEXIST)
            return rs_err_set(err, -errno, "cannot create cgroup '%s'", base);
        if (v2_enable(CGROUP_FS, l, err) < 0)
            return rs_err_ret(err);
    }
    if (v2_enable(base, l, err) < 0)
        return rs_err_ret(err);
    cg->v2_dir = xasprintf("%s/%s", base, name);
    if (mkdir(cg->v2_dir, 0755) < 0) {
        int e = errno;
        free(cg->v2_dir);
        cg->v2_dir = NULL;
        return rs_err_set(err, -e, "cannot create cgroup '%s/%s'", base, name);
    }
    cg->v2_fd = open(cg->v2_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cg->v2_fd < 0)
        return rs_err_set(err, -errno, "cannot open cgroup '%s'", cg->v2_dir);
    if (l->memory_max)
        cg->memcg = xstrdup(cg->v2_dir + strlen(CGROUP_FS));
    return v2_limits(cg, l, err);
}

int cg_create(const struct cg_limits *l, const char *name, struct cgroup **ret, struct rs_err *err)
{
    struct cgroup *cg;
    struct statfs root, unified;
    const char *delegated = getenv("RUNROOT_CGROUP_ROOT");
    enum cg_mode mode;
    int r;

    if (statfs(CGROUP_FS, &root) < 0)
        return rs_err_set(err, -errno, "cannot find cgroups at '" CGROUP_FS "'");
    if (statfs(CGROUP_FS "/unified", &unified) < 0)
        unified.f_type = 0;
    mode = (delegated && *delegated)
               ? CG_MODE_V2
               : run_cgroup_mode_from_fstypes((long)root.f_type, (long)unified.f_type);
    if (mode == CG_MODE_NONE)
        return rs_err_msg(err, -ENODEV, "no cgroup filesystem at '" CGROUP_FS "'");
    cg = xcalloc(1, sizeof(*cg));
    cg->mode = mode;
    cg->v2_fd = -1;
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        cg->tasks_fds[c] = -1;
    r = mode == CG_MODE_V2 ? v2_create(cg, l, name, err) : v1_create(cg, l, name, err);
    if (r < 0) {
        cg_destroy(cg);
        return r;
    }
    log_debug("cgroup: %s mode", mode == CG_MODE_V2 ? "v2" : "v1");
    *ret = cg;
    return 0;
}

int cg_clone_fd(const struct cgroup *cg)
{
    return cg->v2_fd;
}

bool cg_child_joins(const struct cgroup *cg)
{
    return cg->mode == CG_MODE_V1;
}

int cg_join_self(const struct cgroup *cg)
{
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        if (cg->tasks_fds[c] >= 0 && write(cg->tasks_fds[c], "0", 1) != 1)
            return -errno;
    return 0;
}

void cg_close_join_fds(struct cgroup *cg)
{
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        cg->tasks_fds[c] = safe_close(cg->tasks_fds[c]);
}

int cg_attach(struct cgroup *cg, pid_t pid, struct rs_err *err)
{
    char buf[32];

    (void)snprintf(buf, sizeof(buf), "%d", (int)pid);
    if (cg->mode == CG_MODE_V2)
        return write_at(cg->v2_dir, "cgroup.procs", buf, err);
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        if (cg->dirs[c] && write_at(cg->dirs[c], "cgroup.procs", buf, err) < 0)
            return rs_err_ret(err);
    return 0;
}

static uint64_t read_key(const char *dir, const char *file, const char *key)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, file), *text = NULL;
    size_t len, klen = strlen(key);
    struct rs_err e = RS_ERR_INIT;

    if (rs_read_file_at(AT_FDCWD, path, 65536, &text, &len, &e) < 0) {
        rs_err_release(&e);
        return 0;
    }
    for (char *line = text; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return strtoull(line + klen + 1, NULL, 10);
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return 0;
}

uint64_t cg_oom_kills(struct cgroup *cg)
{
    if (cg->mode == CG_MODE_V2)
        return cg->memcg ? read_key(cg->v2_dir, "memory.events", "oom_kill") : 0;
    return cg->dirs[CG_MEMORY] ? read_key(cg->dirs[CG_MEMORY], "memory.oom_control", "oom_kill")
                               : 0;
}

const char *cg_memory_path(const struct cgroup *cg)
{
    return cg->memcg;
}

char *run_cgroup_name(pid_t pid, unsigned long nonce)
{
    return xasprintf("runroot-%d-%lx", (int)pid, nonce);
}

pid_t run_cgroup_name_owner(const char *name)
{
    const char *p;
    char *end;
    long pid;

    if (strncmp(name, "runroot-", 8) != 0)
        return 0;
    p = name + 8;
    if (*p < '1' || *p > '9')
        return 0;
    pid = strtol(p, &end, 10);
    if (*end != '-' || pid <= 0 || pid > INT32_MAX || !end[1] ||
        strspn(end + 1, "0123456789abcdef") != strlen(end + 1))
        return 0;
    return (pid_t)pid;
}

/* A runroot killed with SIGKILL cannot remove its cgroup; its container died with it
 * (PR_SET_PDEATHSIG), so the directory stays behind empty. The next runroot removes those
 * under the same parent: the owner's pid is not a live process here, and the directory is
 * older than STALE_SECONDS (a live runroot's cgroup is empty only for the moment between its
 * mkdir and its container joining, which also covers an owner in another pid namespace that
 * we cannot see). rmdir fails on a cgroup with any process in it, so nothing running is
 * touched. */
enum { STALE_SECONDS = 5 };

static void sweep_parent_of(const char *dir)
{
    _cleanup_free_ char *parent = xstrdup(dir);
    char *slash = strrchr(parent, '/');
    _cleanup_closedir_ DIR *d = NULL;
    time_t now = time(NULL);

    if (!slash)
        return;
    *slash = '\0';
    d = opendir(parent);
    for (struct dirent *de; d && (de = readdir(d));) {
        pid_t owner = run_cgroup_name_owner(de->d_name);
        struct stat st;
        if (owner <= 0 || owner == getpid() || (kill(owner, 0) == 0 || errno != ESRCH) ||
            fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            now - st.st_mtime < STALE_SECONDS)
            continue;
        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
            log_debug("removed the cgroup '%s/%s' of a runroot that was killed", parent,
                      de->d_name);
    }
}

void cg_sweep_stale(const struct cgroup *cg)
{
    if (!cg)
        return;
    if (cg->v2_dir)
        sweep_parent_of(cg->v2_dir);
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        if (cg->dirs[c])
            sweep_parent_of(cg->dirs[c]);
}

static void kill_all(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/cgroup.procs", dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    int pid;

    while (f && fscanf(f, "%d", &pid) == 1)
        (void)kill(pid, SIGKILL);
}

static void remove_dir(const char *dir)
{
    /* The pid namespace is gone with its init, but the kernel may still be tearing the last
     * tasks down: retry EBUSY for a short while. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        kill_all(dir);
        (void)nanosleep(&(struct timespec){ .tv_nsec = 5 * 1000 * 1000 }, NULL);
    }
    log_debug("cannot remove cgroup '%s': %m", dir);
}

struct cgroup *cg_destroy(struct cgroup *cg)
{
    if (!cg)
        return NULL;
    if (cg->v2_dir) {
        struct rs_err e = RS_ERR_INIT;
        _cleanup_free_ char *kill_file = xasprintf("%s/cgroup.kill", cg->v2_dir);
        if (access(kill_file, F_OK) == 0)
            (void)write_at(cg->v2_dir, "cgroup.kill", "1", &e);
        rs_err_release(&e);
        remove_dir(cg->v2_dir);
    }
    for (int c = 0; c < _CG_CONTROLLER_MAX; c++)
        if (cg->dirs[c]) {
            remove_dir(cg->dirs[c]);
            free(cg->dirs[c]);
        }
    cg_close_join_fds(cg);
    safe_close(cg->v2_fd);
    free(cg->v2_dir);
    free(cg->memcg);
    free(cg);
    return NULL;
}

bool run_parse_oom_record(const char *record, const char *memcg, char *ret_name, size_t name_size,
                          pid_t *ret_pid)
{
    /* "…;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,
     *  oom_memcg=/a/b,task_memcg=/a/b,task=stress,pid=1234,uid=0" */
    const char *s = strstr(record, "oom-kill:");
    const char *mc, *task, *pid;
    size_t mlen = strlen(memcg), tlen;

    if (!s)
        return false;
    mc = strstr(s, ",oom_memcg=");
    if (!mc || strncmp(mc + 11, memcg, mlen) != 0 || (mc[11 + mlen] != ',' && mc[11 + mlen]))
        return false;
    task = strstr(s, ",task=");
    pid = strstr(s, ",pid=");
    if (!task || !pid)
        return false;
    task += 6;
    tlen = strcspn(task, ",\n");
    if (tlen >= name_size)
        tlen = name_size - 1;
    memcpy(ret_name, task, tlen);
    ret_name[tlen] = '\0';
    *ret_pid = (pid_t)strtol(pid + 5, NULL, 10);
    return true;
}

pid_t run_parse_nspid(const char *text)
{
    const char *line = strstr(text, "\nNSpid:");
    const char *end, *last = NULL;
    int n_fields = 0;

    if (!line)
        return 0;
    line += strlen("\nNSpid:");
    end = strchrnul(line, '\n');
    for (const char *s = line; s < end;) {
        s += strspn(s, " \t");
        if (s >= end)
            break;
        last = s;
        n_fields++;
        s += strcspn(s, " \t\n");
    }
    if (n_fields < 2 || !last)
        return 0;
    return (pid_t)strtol(last, NULL, 10);
}
