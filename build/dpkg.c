/* Configuring a new root: dpkg runs inside it as a container (run/), in debootstrap's order.
 * The sequence is debootstrap's second stage (scripts/debian-common, second_stage_install),
 * with dpkg's unsafe-io on: the layer is synced once when it is published, not per file. */

#include "build/root-internal.h"

#include <string.h>

#include "common/strbuf.h"
#include "common/xalloc.h"

static const struct build_pkg *find_pkg(const struct build_pkg_list *l, const char *name)
{
    for (size_t i = 0; i < l->n_pkgs; i++)
        if (strcmp(l->pkgs[i].name, name) == 0)
            return &l->pkgs[i];
    return NULL;
}

static void add_core_install(struct strbuf *sb, const struct build_pkg_list *l, const char *name,
                             const char *debs_dir)
{
    const struct build_pkg *p = find_pkg(l, name);
    if (!p)
        return;
    (void)strbuf_addf(sb, "step 'installing %s'\n", name);
    (void)strbuf_addf(sb, "dpkg $F --force-depends --install %s/%s </dev/null\n", debs_dir,
                      p->sha256);
}

/* The script runs under `sh -e`. Package names and digests come from a verified index and
 * are plain words ([a-z0-9+.-] and hex), so they need no quoting. */
char *build_configure_script(const struct build_pkg_list *l, const char *debs_dir, bool layered)
{
    struct strbuf sb = STRBUF_INIT(64u << 20);

    (void)strbuf_addstr(&sb, "set -e\n"
                             "umask 022\n"
                             "F=--force-unsafe-io\n"
                             "step() { echo \"rootstock-step: $(date +%s.%N) $1\" >&2; }\n");
    if (layered) {
        /* On top of a configured root: dpkg orders the configuration itself. */
        (void)strbuf_addstr(&sb, "step 'unpacking and configuring'\n"
                                 "dpkg $F --install");
        for (size_t i = 0; i < l->n_pkgs; i++)
            (void)strbuf_addf(&sb, " %s/%s", debs_dir, l->pkgs[i].sha256);
        (void)strbuf_addstr(&sb, " </dev/null\n");
        return strbuf_detach(&sb, NULL);
    }
    const struct build_pkg *dpkg = find_pkg(l, "dpkg");
    (void)strbuf_addf(&sb,
                      "mkdir -p /var/lib/dpkg/info\n"
                      "printf 'Package: dpkg\\nVersion: %s\\nMaintainer: unknown\\n"
                      "Status: install ok installed\\n' >>/var/lib/dpkg/status\n"
                      "touch /var/lib/dpkg/info/dpkg.list\n"
                      "/sbin/ldconfig\n"
                      "ln -sf mawk /usr/bin/awk\n",
                      dpkg ? dpkg->version : "0");
    add_core_install(&sb, l, "base-passwd", debs_dir);
    add_core_install(&sb, l, "base-files", debs_dir);
    add_core_install(&sb, l, "dpkg", debs_dir);
    (void)strbuf_addstr(&sb, "[ -e /etc/localtime ] || [ -L /etc/localtime ] || "
                             "ln -sf /usr/share/zoneinfo/UTC /etc/localtime\n");
    add_core_install(&sb, l, "libc6", debs_dir);
    add_core_install(&sb, l, "perl-base", debs_dir);
    (void)strbuf_addstr(&sb, "rm /usr/bin/awk\n");
    add_core_install(&sb, l, "mawk", debs_dir);
    (void)strbuf_addstr(&sb, "step 'unpacking required packages'\n"
                             "dpkg $F --force-depends --unpack");
    for (size_t i = 0; i < l->n_pkgs; i++)
        (void)strbuf_addf(&sb, " %s/%s", debs_dir, l->pkgs[i].sha256);
    (void)strbuf_addstr(
        &sb, " </dev/null\n"
             "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d\n"
             "chmod 755 /usr/sbin/policy-rc.d\n"
             "mv /sbin/start-stop-daemon /sbin/start-stop-daemon.REAL\n"
             "printf '#!/bin/sh\\necho\\necho \"Warning: Fake start-stop-daemon called, doing "
             "nothing\"\\n' >/sbin/start-stop-daemon\n"
             "chmod 755 /sbin/start-stop-daemon\n"
             "echo 'apt apt' >/var/lib/dpkg/cmethopt\n"
             "chmod 644 /var/lib/dpkg/cmethopt\n"
             "step 'configuring required packages'\n"
             "dpkg $F --configure --pending --force-configure-any --force-depends </dev/null\n"
             /* debootstrap's setup_available: the archive's stanzas, then every package
              * selected for install (this also takes Priority from the archive). */
             "cat \"$AVAILABLE\" >/var/lib/dpkg/available\n"
             "dpkg --set-selections <\"$SELECTIONS\"\n"
             "mv /sbin/start-stop-daemon.REAL /sbin/start-stop-daemon\n"
             "rm -f /usr/sbin/policy-rc.d\n");
    return strbuf_detach(&sb, NULL);
}
