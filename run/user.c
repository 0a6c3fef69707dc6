/* -u USER[:GROUP] resolved against the container's own /etc/passwd and /etc/group, as docker,
 * podman and runc do (runc's libcontainer/user GetExecUser): a name must be found; a number
 * is taken as it is, with its entry's group and home when it has one. Pure: the files' texts
 * come in, so every rule is unit-tested (tests/unit/test_run.c); the child reads them. */
#include "run/run-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/parse.h"
#include "common/strv.h"
#include "common/xalloc.h"

/* A number in the id range, or -1. */
static long long parse_id(const char *text)
{
    uint64_t v;

    if (!text[0] || text[strspn(text, "0123456789")] != '\0' ||
        rs_parse_uint(text, UINT32_MAX - 1, &v, NULL) < 0)
        return -1;
    return (long long)v;
}

/* Split one line of a colon-separated file into at most n fields (in place). Returns how many. */
static size_t split_fields(char *line, char **fields, size_t n)
{
    size_t i = 0;

    while (i < n) {
        fields[i++] = line;
        line = strchr(line, ':');
        if (!line)
            break;
        *line++ = '\0';
    }
    return i;
}

/* Calls match(fields, n_fields, data) for every line of text (a copy) with n fields; stops at
 * the first that returns true. Returns whether one did. */
static bool each_entry(const char *text, size_t n,
                       bool (*match)(char **fields, size_t n_fields, void *data), void *data)
{
    _cleanup_free_ char *copy = text ? xstrdup(text) : NULL;
    char *fields[7];

    for (char *line = copy, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == '#' || split_fields(line, fields, n) < n)
            continue;
        if (match(fields, n, data))
            return true;
    }
    return false;
}

struct passwd_query {
    const char *name; /* or */
    long long uid;
    uid_t ret_uid;
    gid_t ret_gid;
    char *ret_name, *ret_home;
};

static bool passwd_match(char **f, size_t n, void *data)
{
    struct passwd_query *q = data;
    long long uid = parse_id(f[2]), gid = parse_id(f[3]);

    (void)n;
    if (uid < 0 || gid < 0 || (q->name ? strcmp(f[0], q->name) != 0 : uid != q->uid))
        return false;
    q->ret_uid = (uid_t)uid;
    q->ret_gid = (gid_t)gid;
    q->ret_name = xstrdup(f[0]);
    q->ret_home = xstrdup(f[5]);
    return true;
}

struct group_query {
    const char *name;   /* a group's name, or */
    long long gid;      /* its number; or */
    const char *member; /* every group listing this user */
    gid_t ret_gid;
    gid_t *ret_groups;
    size_t n_groups;
};

static bool group_match(char **f, size_t n, void *data)
{
    struct group_query *q = data;
    long long gid = parse_id(f[2]);

    (void)n;
    if (gid < 0)
        return false;
    if (q->member) {
        for (char *m = f[3], *end; m && *m; m = end) {
            end = strchr(m, ',');
            if (end)
                *end++ = '\0';
            if (strcmp(m, q->member) == 0) {
                q->ret_groups =
                    xreallocarray(q->ret_groups, q->n_groups + 1, sizeof(*q->ret_groups));
                q->ret_groups[q->n_groups++] = (gid_t)gid;
                break;
            }
        }
        return false; /* all of them */
    }
    if (q->name ? strcmp(f[0], q->name) != 0 : gid != q->gid)
        return false;
    q->ret_gid = (gid_t)gid;
    return true;
}

int run_resolve_user(const char *spec, const char *passwd, const char *group, struct run_user *ret,
                     struct rs_err *err)
{
    _cleanup_free_ char *user = xstrdup(spec);
    char *group_arg = strchr(user, ':');
    struct passwd_query pq = { .name = NULL };
    struct group_query gq = { .name = NULL };
    long long uid, gid = -1;
    bool found;

    if (group_arg)
        *group_arg++ = '\0';
    if (!user[0] || (group_arg && !group_arg[0]))
        return rs_err_msg(err, -EINVAL, "invalid user '%s': expected USER[:GROUP]", spec);
    uid = parse_id(user);
    if (uid < 0)
        pq.name = user;
    pq.uid = uid;
    found = each_entry(passwd, 7, passwd_match, &pq);
    if (!found && uid < 0)
        return rs_err_msg(err, -ENOENT, "user '%s' is not in the image's /etc/passwd", user);
    *ret = (struct run_user){ .uid = found ? pq.ret_uid : (uid_t)uid,
                              .gid = found ? pq.ret_gid : 0,
                              .home = found ? pq.ret_home : NULL };
    if (group_arg) {
        gid = parse_id(group_arg);
        gq.name = gid < 0 ? group_arg : NULL;
        gq.gid = gid;
        if (each_entry(group, 4, group_match, &gq))
            ret->gid = gq.ret_gid;
        else if (gid >= 0)
            ret->gid = (gid_t)gid;
        else {
            free(pq.ret_name);
            run_user_done(ret);
            return rs_err_msg(err, -ENOENT, "group '%s' is not in the image's /etc/group",
                              group_arg);
        }
    } else if (found) {
        /* Supplementary groups only in the implicit form, as runc. */
        gq.member = pq.ret_name;
        (void)each_entry(group, 4, group_match, &gq);
        ret->groups = gq.ret_groups;
        ret->n_groups = gq.n_groups;
    }
    free(pq.ret_name);
    return 0;
}

void run_user_done(struct run_user *u)
{
    free(u->home);
    free(u->groups);
    *u = (struct run_user){};
}
