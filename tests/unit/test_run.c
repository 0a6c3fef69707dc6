/* The run plan and the pure helpers of run/: options + image -> mounts, namespaces, limits,
 * argv, env; parsers of -v, --cpus, -u, caps; cgroup detection and parsing; overlay options;
 * kmsg oom records. No root needed. */

#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <linux/magic.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/strv.h"
#include "run/run-internal.h"

static char *lowers2[] = { (char *)"/s/layers/a/root", (char *)"/s/layers/b/root", NULL };
static char *argv_true[] = { (char *)"true", NULL };

static void overlay_opts(struct run_options *o)
{
    run_options_init(o);
    o->lower_dirs = lowers2;
    o->upper_dir = "/s/containers/c/upper";
    o->work_dir = "/s/containers/c/work";
    o->merged_dir = "/s/containers/c/merged";
    o->argv = argv_true;
}

static const struct op *find_op(const struct plan *p, enum op_kind kind, const char *dest,
                                size_t *ret_index)
{
    for (size_t i = 0; i < p->n_ops; i++)
        if (p->ops[i].kind == kind && (!dest || strcmp(p->ops[i].dest, dest) == 0)) {
            if (ret_index)
                *ret_index = i;
            return &p->ops[i];
        }
    return NULL;
}

static void plan__overlay_root_comes_first_then_proc_dev_then_pivot_then_net_sys_masks(void **state)
{
    (void)state;
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct rs_err err = RS_ERR_INIT;
    size_t i_proc = 0, i_dev = 0, i_null = 0, i_pts = 0, i_sys = 0, i_pivot = 0, i_mask = 0,
           i_ro = 0, i_net = 0;

    overlay_opts(&o);
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->ops[0].kind, OP_ROOT_OVERLAY);
    assert_string_equal(p->ops[0].dest, "/s/containers/c/merged");
    assert_non_null(find_op(p, OP_MOUNT, "proc", &i_proc));
    assert_non_null(find_op(p, OP_MOUNT, "dev", &i_dev));
    assert_non_null(find_op(p, OP_MKNOD, "dev/null", &i_null));
    assert_non_null(find_op(p, OP_MOUNT, "dev/pts", &i_pts));
    assert_non_null(find_op(p, OP_MOUNT, "sys", &i_sys));
    assert_non_null(find_op(p, OP_PIVOT, NULL, &i_pivot));
    assert_non_null(find_op(p, OP_JOIN_NET, NULL, &i_net));
    assert_non_null(find_op(p, OP_MASK, "/proc/kcore", &i_mask));
    assert_non_null(find_op(p, OP_READONLY, "/proc/sys", &i_ro));
    assert_true(i_proc < i_dev && i_dev < i_null && i_null < i_pts && i_pts < i_pivot);
    /* sysfs shows the devices of the network namespace that mounts it */
    assert_true(i_pivot < i_net && i_net < i_sys && i_sys < i_mask && i_pivot < i_ro);
    assert_int_equal(p->ops[i_null].dev, makedev(1, 3));
    assert_true(p->ops[i_sys].mount_flags & MS_RDONLY);
    assert_non_null(strstr(p->ops[i_pts].data, "newinstance"));
    assert_non_null(strstr(p->ops[i_pts].data, "ptmxmode=0666"));
    assert_non_null(find_op(p, OP_SYMLINK, "dev/ptmx", NULL));
    assert_null(find_op(p, OP_ROOT_READONLY, NULL, NULL));
}

static void plan__namespaces_follow_the_network_mode(void **state)
{
    (void)state;
    struct run_options o;
    struct rs_err err = RS_ERR_INIT;
    struct plan *p = NULL;
    int all = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;

    /* A private network is made by the parent and joined by the child, not cloned. */
    overlay_opts(&o);
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->clone_flags, all);
    assert_true(p->join_net);
    assert_non_null(find_op(p, OP_JOIN_NET, NULL, NULL));
    p = run_plan_free(p);
    o.net = RUN_NET_HOST;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->clone_flags, all);
    assert_false(p->join_net);
    assert_null(find_op(p, OP_JOIN_NET, NULL, NULL));
    p = run_plan_free(p);
}

static void plan__root_dir_is_bound_and_binds_go_before_pivot(void **state)
{
    (void)state;
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct rs_err err = RS_ERR_INIT;
    struct run_bind b = { .source = "/host/data", .dest = "//data/x", .read_only = true };
    size_t i_bind = 0, i_pivot = 0, i_ro = 0;

    run_options_init(&o);
    o.root_dir = "/tmp/x/root";
    o.argv = argv_true;
    o.binds = &b;
    o.n_binds = 1;
    o.read_only_root = true;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->ops[0].kind, OP_ROOT_BIND);
    assert_string_equal(p->ops[0].dest, "/tmp/x/root");
    assert_non_null(find_op(p, OP_BIND, "data/x", &i_bind));
    assert_true(p->ops[i_bind].flags & OPF_READ_ONLY);
    assert_non_null(find_op(p, OP_PIVOT, NULL, &i_pivot));
    assert_non_null(find_op(p, OP_ROOT_READONLY, NULL, &i_ro));
    assert_true(i_bind < i_pivot && i_ro == p->n_ops - 1);
}

static void plan__etc_files_come_before_the_overlay_and_follow_the_network(void **state)
{
    (void)state;
    struct run_options o;
    struct rs_err err = RS_ERR_INIT;
    struct plan *p = NULL;
    const struct op *op;
    size_t i_name = 0, i_hosts = 0, i_root = 0;

    overlay_opts(&o);
    o.etc_files = true;
    o.hostname = "web1";
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_non_null(op = find_op(p, OP_ETC_FILE, "etc/hostname", &i_name));
    assert_null(op->source);
    assert_string_equal(op->data, "web1\n");
    assert_non_null(op = find_op(p, OP_ETC_FILE, "etc/hosts", &i_hosts));
    assert_null(op->source);
    assert_non_null(strstr(op->data, "127.0.0.1\tlocalhost\n"));
    assert_non_null(strstr(op->data, "::1\tlocalhost "));
    assert_non_null(strstr(op->data, "\n127.0.1.1\tweb1\n"));
    assert_null(find_op(p, OP_ETC_FILE, "etc/resolv.conf", NULL));
    assert_non_null(find_op(p, OP_ROOT_OVERLAY, NULL, &i_root));
    assert_true(i_name < i_root && i_hosts < i_root);
    p = run_plan_free(p);

    /* The host's network: its hosts file and the hostname, its resolv.conf when it has one. */
    o.net = RUN_NET_HOST;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_non_null(op = find_op(p, OP_ETC_FILE, "etc/hosts", NULL));
    assert_string_equal(op->source, "/etc/hosts");
    assert_string_equal(op->data, "127.0.1.1\tweb1\n");
    assert_false(op->flags & OPF_OPTIONAL);
    assert_non_null(op = find_op(p, OP_ETC_FILE, "etc/resolv.conf", NULL));
    assert_string_equal(op->source, "/etc/resolv.conf");
    assert_string_equal(op->data, "");
    assert_true(op->flags & OPF_OPTIONAL);
    p = run_plan_free(p);

    /* Added hosts follow the hostname, with either network. */
    struct run_host hosts[] = { { "db", "10.1.2.3" }, { "v6", "fd00::1" } };
    o.hosts = hosts;
    o.n_hosts = 2;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_string_equal(find_op(p, OP_ETC_FILE, "etc/hosts", NULL)->data,
                        "127.0.1.1\tweb1\n10.1.2.3\tdb\nfd00::1\tv6\n");
    p = run_plan_free(p);
    o.no_hosts = true;
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "--no-hosts"));
    rs_err_release(&err);
    hosts[1].address = "fd00::zz";
    o.no_hosts = false;
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid host 'v6:fd00::zz'"));
    rs_err_release(&err);
    o.hosts = NULL;
    o.n_hosts = 0;

    o.no_hosts = true;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_null(find_op(p, OP_ETC_FILE, "etc/hosts", NULL));
    assert_non_null(find_op(p, OP_ETC_FILE, "etc/hostname", NULL));
    p = run_plan_free(p);

    /* Not asked for, or a root directory (mkroot's configure: nothing layered over it). */
    overlay_opts(&o);
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_null(find_op(p, OP_ETC_FILE, NULL, NULL));
    p = run_plan_free(p);
    run_options_init(&o);
    o.root_dir = "/tmp/x/root";
    o.argv = argv_true;
    o.etc_files = true;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_null(find_op(p, OP_ETC_FILE, NULL, NULL));
    p = run_plan_free(p);
}

static void parse__tmpfs_splits_mount_flags_from_tmpfs_options(void **state)
{
    (void)state;
    struct run_tmpfs t;
    struct rs_err err = RS_ERR_INIT;
    char *storage = NULL;
    const unsigned long safe = MS_NOEXEC | MS_NOSUID | MS_NODEV;

    assert_int_equal(run_parse_tmpfs("/run", &t, &storage, &err), 0);
    assert_string_equal(t.dest, "/run");
    assert_int_equal(t.flags, safe);
    assert_null(t.data);
    free(storage);
    assert_int_equal(run_parse_tmpfs("/t:size=64m,exec,ro,mode=1777", &t, &storage, &err), 0);
    assert_string_equal(t.dest, "/t");
    assert_int_equal(t.flags, (safe & ~(unsigned long)MS_NOEXEC) | MS_RDONLY);
    assert_string_equal(t.data, "size=64m,mode=1777");
    free(storage);
    static const char *const bad[] = { "run", "/", "//", "/t:bogus", "/t:size=1m,frob" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        storage = (char *)0x1;
        assert_int_equal(run_parse_tmpfs(bad[i], &t, &storage, &err), -EINVAL);
        assert_ptr_equal(storage, (char *)0x1);
        assert_non_null(strstr(err.msg, bad[i]));
        rs_err_release(&err);
    }
}

static void parse__host_is_name_colon_address(void **state)
{
    (void)state;
    struct run_host h;
    struct rs_err err = RS_ERR_INIT;
    char *storage = NULL;

    assert_int_equal(run_parse_host("db:10.1.2.3", &h, &storage, &err), 0);
    assert_string_equal(h.name, "db");
    assert_string_equal(h.address, "10.1.2.3");
    free(storage);
    assert_int_equal(run_parse_host("v6:[fd00::1]", &h, &storage, &err), 0);
    assert_string_equal(h.address, "fd00::1");
    free(storage);
    assert_int_equal(run_parse_host("lo6:::1", &h, &storage, &err), 0);
    assert_string_equal(h.name, "lo6");
    assert_string_equal(h.address, "::1");
    free(storage);
    const char *bad[] = {
        "db", ":1.2.3.4", "a b:1.2.3.4", "db:1.2.3", "db:", "db:[::1", "db:host"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        storage = (char *)0x1;
        assert_int_equal(run_parse_host(bad[i], &h, &storage, &err), -EINVAL);
        assert_ptr_equal(storage, (char *)0x1);
        assert_non_null(strstr(err.msg, bad[i]));
        rs_err_release(&err);
    }
}

static const char passwd_text[] = "root:x:0:0:root:/root:/bin/bash\n"
                                  "# a comment\n"
                                  "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n"
                                  "app:x:1000:1000::/home/app:/bin/sh\n"
                                  "broken:x:notanumber:1::/:/bin/sh\n"
                                  "short:x:5\n";
static const char group_text[] = "root:x:0:\n"
                                 "www-data:x:33:\n"
                                 "app:x:1000:\n"
                                 "audio:x:29:app,other\n"
                                 "video:x:44:other,app\n"
                                 "staff:x:50:\n";

/* spec resolves to uid:gid, home (or NULL) and the supplementary groups (space-separated). */
static void assert_user(const char *spec, const char *passwd, unsigned uid, unsigned gid,
                        const char *home, const char *groups)
{
    struct run_user u;
    struct rs_err err = RS_ERR_INIT;
    char got[64] = "";

    assert_int_equal(run_resolve_user(spec, passwd, group_text, &u, &err), 0);
    assert_int_equal(u.uid, uid);
    assert_int_equal(u.gid, gid);
    if (home)
        assert_string_equal(u.home, home);
    else
        assert_null(u.home);
    for (size_t i = 0; i < u.n_groups; i++)
        (void)snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%u", i ? " " : "",
                       (unsigned)u.groups[i]);
    assert_string_equal(got, groups);
    run_user_done(&u);
}

static void user__names_and_numbers_resolve_as_runc_does(void **state)
{
    (void)state;
    struct run_user u;
    struct rs_err err = RS_ERR_INIT;

    /* A name, or the number of an entry: its group, home and the groups that list it. */
    assert_user("app", passwd_text, 1000, 1000, "/home/app", "29 44");
    assert_user("1000", passwd_text, 1000, 1000, "/home/app", "29 44");
    assert_user("www-data:www-data", passwd_text, 33, 33, "/var/www", "");
    /* An explicit group: by name or number, entry or not; no supplementary groups then. */
    assert_user("app:staff", passwd_text, 1000, 50, "/home/app", "");
    assert_user("app:77", passwd_text, 1000, 77, "/home/app", "");
    assert_user("0:44", passwd_text, 0, 44, "/root", "");
    /* A number without an entry, or without any /etc/passwd: group 0, no home. */
    assert_user("2000", passwd_text, 2000, 0, NULL, "");
    assert_user("5", NULL, 5, 0, NULL, "");

    static const struct {
        const char *spec, *want;
        int code;
    } bad[] = {
        { "ghost", "user 'ghost' is not in the image's /etc/passwd", -ENOENT },
        { "broken", "user 'broken' is not", -ENOENT },
        { "short", "user 'short' is not", -ENOENT },
        { "app:nogroup", "group 'nogroup' is not in the image's /etc/group", -ENOENT },
        { "", "invalid user ''", -EINVAL },
        { "app:", "invalid user 'app:'", -EINVAL },
        { "99999999999", "user '99999999999' is not", -ENOENT },
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        assert_int_equal(run_resolve_user(bad[i].spec, passwd_text, group_text, &u, &err),
                         bad[i].code);
        assert_non_null(strstr(err.msg, bad[i].want));
        rs_err_release(&err);
    }
    assert_int_equal(run_resolve_user("root", NULL, NULL, &u, &err), -ENOENT);
    rs_err_release(&err);
}

static void cgroup__names_say_their_owner(void **state)
{
    (void)state;
    char *name = run_cgroup_name(4242, 0x1f3aUL);
    assert_string_equal(name, "runroot-4242-1f3a");
    assert_int_equal(run_cgroup_name_owner(name), 4242);
    free(name);
    assert_int_equal(run_cgroup_name_owner("runroot-1-0"), 1);
    /* not ours: other names, no pid, a zero or signed pid, junk after it */
    assert_int_equal(run_cgroup_name_owner("system.slice"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot--5-ab"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot-0-ab"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot-12"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot-12-"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot-12-xyz"), 0);
    assert_int_equal(run_cgroup_name_owner("runroot-99999999999-ab"), 0);
}

static void plan__env_gets_defaults_and_keeps_given_values(void **state)
{
    (void)state;
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct rs_err err = RS_ERR_INIT;
    char *env[] = { (char *)"PATH=/custom", (char *)"A=1", NULL };

    overlay_opts(&o);
    o.env = env;
    o.tty = true;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_true(strv_contains(p->env, "PATH=/custom"));
    assert_true(strv_contains(p->env, "A=1"));
    assert_true(strv_contains(p->env, "HOME=/root"));
    assert_true(strv_contains(p->env, "TERM=xterm"));
    assert_int_equal(strv_length(p->env), 4);
    assert_string_equal(p->cwd, "/");
    assert_string_equal(p->hostname, "rootstock");
    assert_string_equal(p->argv[0], "true");
}

static void plan__caps_are_docker_defaults_plus_add_minus_drop(void **state)
{
    (void)state;
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct rs_err err = RS_ERR_INIT;
    uint64_t admin, chown;

    assert_int_equal(run_default_caps(), 0xa80425fbULL);
    assert_int_equal(run_parse_cap("SYS_ADMIN", &admin, &err), 0);
    assert_int_equal(run_parse_cap("cap_chown", &chown, &err), 0);
    overlay_opts(&o);
    o.cap_add = admin;
    o.cap_drop = chown;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->caps, (0xa80425fbULL | admin) & ~chown);
}

static void plan__limits_are_carried_to_the_cgroup(void **state)
{
    (void)state;
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *p = NULL;
    struct rs_err err = RS_ERR_INIT;

    overlay_opts(&o);
    o.memory_max = 100 << 20;
    o.cpu_millis = 1500;
    o.pids_max = 20;
    o.io_weight = 500;
    assert_int_equal(run_plan_build(&o, &p, &err), 0);
    assert_int_equal(p->limits.memory_max, 100 << 20);
    assert_int_equal(p->limits.cpu_millis, 1500);
    assert_int_equal(p->limits.pids_max, 20);
    assert_int_equal(p->limits.io_weight, 500);
}

static void plan__bad_options_fill_err_and_leave_ret(void **state)
{
    (void)state;
    struct run_options o;
    struct rs_err err = RS_ERR_INIT;
    struct plan *p = (struct plan *)0x1;
    char *empty[] = { NULL };
    struct run_bind root_bind = { .source = "/x", .dest = "/" };

    overlay_opts(&o);
    o.argv = empty;
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "no command"));
    assert_ptr_equal(p, (struct plan *)0x1);
    rs_err_release(&err);

    overlay_opts(&o);
    o.root_dir = "/also";
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    rs_err_release(&err);

    overlay_opts(&o);
    o.hostname = "a b";
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "invalid hostname 'a b'"));
    rs_err_release(&err);

    overlay_opts(&o);
    o.cwd = "relative";
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "'relative'"));
    rs_err_release(&err);

    overlay_opts(&o);
    o.binds = &root_bind;
    o.n_binds = 1;
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    rs_err_release(&err);

    overlay_opts(&o);
    o.upper_dir = NULL;
    assert_int_equal(run_plan_build(&o, &p, &err), -EINVAL);
    rs_err_release(&err);
    assert_ptr_equal(p, (struct plan *)0x1);
}

static void parse__volumes(void **state)
{
    (void)state;
    struct run_bind b;
    struct rs_err err = RS_ERR_INIT;
    char *storage = NULL;

    assert_int_equal(run_parse_bind("/a:/b:ro", &b, &storage, &err), 0);
    assert_string_equal(b.source, "/a");
    assert_string_equal(b.dest, "/b");
    assert_true(b.read_only);
    free(storage);
    assert_int_equal(run_parse_bind("rel:/b", &b, &storage, &err), 0);
    assert_false(b.read_only);
    free(storage);
    storage = NULL;
    assert_int_equal(run_parse_bind("/a:b", &b, &storage, &err), -EINVAL);
    rs_err_release(&err);
    assert_int_equal(run_parse_bind("/a:/b:rx", &b, &storage, &err), -EINVAL);
    rs_err_release(&err);
    assert_int_equal(run_parse_bind("/a", &b, &storage, &err), -EINVAL);
    rs_err_release(&err);
    assert_null(storage);
}

static void parse__cpus_users_caps(void **state)
{
    (void)state;
    struct rs_err err = RS_ERR_INIT;
    uint32_t m;
    uint64_t mask;

    assert_int_equal(run_parse_cpus("1.5", &m, &err), 0);
    assert_int_equal(m, 1500);
    assert_int_equal(run_parse_cpus("0.001", &m, &err), 0);
    assert_int_equal(m, 1);
    assert_int_equal(run_parse_cpus("2", &m, &err), 0);
    assert_int_equal(m, 2000);
    static const char *const bad[] = { "0", "", ".", "1.", "1.0001", "-1", "1e3", "5000", "a" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        assert_true(run_parse_cpus(bad[i], &m, &err) < 0);
        rs_err_release(&err);
    }
    assert_int_equal(run_parse_cap("ALL", &mask, &err), 0);
    assert_true(mask & (1ULL << 21));
    assert_int_equal(run_parse_cap("NOT_A_CAP", &mask, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "NOT_A_CAP"));
    rs_err_release(&err);
}

static void exit_code__status_and_signals(void **state)
{
    (void)state;
    assert_int_equal(run_exit_code(42 << 8), 42);
    assert_int_equal(run_exit_code(SIGKILL), 137);
    assert_int_equal(run_exit_code(SIGTERM), 143);
}

static void overlay__options_put_the_top_layer_first(void **state)
{
    (void)state;
    _cleanup_free_ char *s = run_overlay_options(lowers2, "/s/c/upper", "/s/c/work");

    assert_string_equal(s, "lowerdir=/s/layers/b/root:/s/layers/a/root,upperdir=/s/c/upper,"
                           "workdir=/s/c/work,index=off,redirect_dir=off,metacopy=off");
}

/* got (owned) is want; freed. */
static void assert_owned_string(char *got, const char *want)
{
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void cgroup__mode_and_own_paths(void **state)
{
    (void)state;
    const char *hybrid = "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/x\n0::/\n";

    assert_int_equal(run_cgroup_mode_from_fstypes(CGROUP2_SUPER_MAGIC, 0), CG_MODE_V2);
    assert_int_equal(run_cgroup_mode_from_fstypes(TMPFS_MAGIC, CGROUP2_SUPER_MAGIC), CG_MODE_V1);
    assert_int_equal(run_cgroup_mode_from_fstypes(TMPFS_MAGIC, 0), CG_MODE_V1);
    assert_int_equal(run_cgroup_mode_from_fstypes(0x9fa0, 0), CG_MODE_NONE);
    assert_owned_string(run_cgroup_own_path(hybrid, "memory"), "/process_api/abc");
    assert_owned_string(run_cgroup_own_path(hybrid, "cpuacct"), "/x");
    assert_owned_string(run_cgroup_own_path(hybrid, NULL), "/");
    assert_null(run_cgroup_own_path(hybrid, "pids"));
    assert_null(run_cgroup_own_path("garbage", "memory"));
}

/* Which options mount a host's v1 hierarchy again: its controllers and name, never its flags
 * or release_agent; a cgroup2 or another mount point is not it. */
static void cgroup__v1_options_come_from_mountinfo(void **state)
{
    static const char mountinfo[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup "
        "rw,memory,release_agent=/x,clone_children,noprefix\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
    (void)state;
    assert_owned_string(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup/cpu,cpuacct"),
                        "cpu,cpuacct");
    assert_owned_string(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup/memory"), "memory");
    assert_owned_string(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup/systemd"), "name=systemd");
    assert_null(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup/unified"));
    assert_null(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup/cpu"));
    assert_null(run_cgroup_v1_options(mountinfo, "/sys/fs/cgroup"));
    assert_null(run_cgroup_v1_options("", "/sys/fs/cgroup/memory"));
}

/* v2: one read-only cgroup2. v1: a tmpfs, each hierarchy read-only in it, the aliases, then
 * the tmpfs made read-only; all after /sys is mounted. */
static void plan__cgroupfs_is_read_only_and_after_sys(void **state)
{
    static const struct cg_hierarchy h[] = {
        { .dir = (char *)"cpu,cpuacct", .options = (char *)"cpu,cpuacct", .alias = (char *)"cpu" },
        { .dir = (char *)"memory", .options = (char *)"memory", .alias = NULL },
    };
    struct run_options o;
    _cleanup_(run_plan_freep) struct plan *v2 = NULL;
    _cleanup_(run_plan_freep) struct plan *v1 = NULL;
    struct rs_err err = RS_ERR_INIT;
    size_t i_sys = 0, n;
    const struct op *op;

    (void)state;
    overlay_opts(&o);
    assert_int_equal(run_plan_build(&o, &v2, &err), 0);
    assert_int_equal(run_plan_build(&o, &v1, &err), 0);
    n = v2->n_ops;
    run_plan_add_cgroupfs(v2, true, NULL, 0);
    assert_int_equal(v2->n_ops, n + 1);
    op = &v2->ops[n];
    assert_int_equal(op->kind, OP_MOUNT);
    assert_string_equal(op->fstype, "cgroup2");
    assert_string_equal(op->dest, "sys/fs/cgroup");
    assert_true(op->mount_flags & MS_RDONLY);
    assert_non_null(find_op(v2, OP_MOUNT, "sys", &i_sys));
    assert_true(i_sys < n);

    n = v1->n_ops;
    run_plan_add_cgroupfs(v1, false, h, 2);
    assert_int_equal(v1->n_ops, n + 5);
    assert_string_equal(v1->ops[n].fstype, "tmpfs");
    assert_false(v1->ops[n].mount_flags & (MS_RDONLY | MS_REMOUNT));
    assert_string_equal(v1->ops[n + 1].dest, "sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(v1->ops[n + 1].fstype, "cgroup");
    assert_string_equal(v1->ops[n + 1].data, "cpu,cpuacct");
    assert_true(v1->ops[n + 1].mount_flags & MS_RDONLY);
    assert_int_equal(v1->ops[n + 2].kind, OP_SYMLINK);
    assert_string_equal(v1->ops[n + 2].dest, "sys/fs/cgroup/cpu");
    assert_string_equal(v1->ops[n + 2].source, "cpu,cpuacct");
    assert_string_equal(v1->ops[n + 3].dest, "sys/fs/cgroup/memory");
    assert_string_equal(v1->ops[n + 4].dest, "sys/fs/cgroup");
    assert_true((v1->ops[n + 4].mount_flags & (MS_REMOUNT | MS_RDONLY)) ==
                (MS_REMOUNT | MS_RDONLY));
}

static void oom__kmsg_record_names_the_process_of_our_cgroup_only(void **state)
{
    (void)state;
    const char *rec = "6,1234,5678,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),"
                      "cpuset=/,mems_allowed=0,oom_memcg=/a/runroot-1,task_memcg=/a/runroot-1,"
                      "task=stress,pid=4321,uid=0\n";
    char name[32] = "";
    pid_t pid = 0;

    assert_false(run_parse_oom_record(rec, "/a/runroot-2", name, sizeof(name), &pid));
    assert_false(run_parse_oom_record(rec, "/a/runroot", name, sizeof(name), &pid));
    assert_true(run_parse_oom_record(rec, "/a/runroot-1", name, sizeof(name), &pid));
    assert_string_equal(name, "stress");
    assert_int_equal(pid, 4321);
    assert_false(run_parse_oom_record("6,1,2,-;Out of memory", "/a", name, sizeof(name), &pid));
}

static void oom__nspid_is_the_innermost_pid_of_a_nested_process_only(void **state)
{
    (void)state;
    assert_int_equal(run_parse_nspid("Name:\tprobe\nPid:\t4321\nNSpid:\t4321\t2\nNgid:\t0\n"), 2);
    assert_int_equal(run_parse_nspid("Name:\tx\nNSpid:\t9\t7\t1\n"), 1);
    /* Only the host's pid namespace: no pid inside a container. */
    assert_int_equal(run_parse_nspid("Name:\tx\nNSpid:\t4321\n"), 0);
    assert_int_equal(run_parse_nspid("Name:\tx\nPid:\t4321\n"), 0);
    assert_int_equal(run_parse_nspid(""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            plan__overlay_root_comes_first_then_proc_dev_then_pivot_then_net_sys_masks),
        cmocka_unit_test(plan__namespaces_follow_the_network_mode),
        cmocka_unit_test(plan__root_dir_is_bound_and_binds_go_before_pivot),
        cmocka_unit_test(plan__etc_files_come_before_the_overlay_and_follow_the_network),
        cmocka_unit_test(parse__host_is_name_colon_address),
        cmocka_unit_test(parse__tmpfs_splits_mount_flags_from_tmpfs_options),
        cmocka_unit_test(user__names_and_numbers_resolve_as_runc_does),
        cmocka_unit_test(plan__env_gets_defaults_and_keeps_given_values),
        cmocka_unit_test(cgroup__names_say_their_owner),
        cmocka_unit_test(plan__caps_are_docker_defaults_plus_add_minus_drop),
        cmocka_unit_test(plan__limits_are_carried_to_the_cgroup),
        cmocka_unit_test(plan__bad_options_fill_err_and_leave_ret),
        cmocka_unit_test(parse__volumes),
        cmocka_unit_test(parse__cpus_users_caps),
        cmocka_unit_test(exit_code__status_and_signals),
        cmocka_unit_test(overlay__options_put_the_top_layer_first),
        cmocka_unit_test(cgroup__mode_and_own_paths),
        cmocka_unit_test(cgroup__v1_options_come_from_mountinfo),
        cmocka_unit_test(plan__cgroupfs_is_read_only_and_after_sys),
        cmocka_unit_test(oom__kmsg_record_names_the_process_of_our_cgroup_only),
        cmocka_unit_test(oom__nspid_is_the_innermost_pid_of_a_nested_process_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
