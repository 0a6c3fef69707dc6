/* Configuring a new root: dpkg runs inside it as a container (run/), in debootstrap's order.
 * The sequence is debootstrap's second stage (scripts/debian-common, second_stage_install),
 * with dpkg's unsafe-io on: the layer is synced once when it is published, not per file. */

#include "build/root-internal.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

static const struct build_pkg *find_pkg(const struct build_pkg_list *l, const char *name)
{
    for (size_t i = 0; i < l->n_pkgs; i++)
        if (strcmp(l->pkgs[i].name, name) == 0)
            return &l->pkgs[i];
    return NULL;
}

/* debootstrap installs these one by one, in this order, before unpacking everything. */
static const char *const core_pkgs[] = { "base-passwd", "base-files", "dpkg",
                                         "libc6",       "perl-base",  "mawk" };

static bool is_core(const char *name)
{
    for (size_t i = 0; i < ELEMENTSOF(core_pkgs); i++)
        if (strcmp(core_pkgs[i], name) == 0)
            return true;
    return false;
}

static const char *arch_of(const struct build_pkg *p, const struct build_deb_meta *m,
                           char **to_free)
{
    _cleanup_free_ char *info = build_dpkg_info_name(p, m);
    char *colon = strchr(info, ':');
    if (colon) {
        *to_free = xstrdup(colon + 1);
        return *to_free;
    }
    /* dpkg passes the package's own Architecture (or "all"); the control file has it. */
    const struct build_deb_member *c = build_deb_meta_member(m, "control");
    const char *a = c ? strstr(c->data, "\nArchitecture:") : NULL;
    if (!a)
        return p->arch ? p->arch : "all";
    a += strlen("\nArchitecture:");
    a += strspn(a, " \t");
    *to_free = xstrndup(a, strcspn(a, " \t\r\n"));
    return *to_free;
}

/* The maintainer-script environment dpkg gives its scripts (observed from dpkg 1.22 with
 * --force-unsafe-io --force-depends), as sh functions:
 *   ms PKG ARCH NAME SCRIPT ARGS…   run SCRIPT (if present) as dpkg would
 *   new PKG ARCH                    `dpkg --unpack` of a package not installed: its preinst
 *                                   from tmp.ci, then its staged records into the database
 *   again PKG ARCH INFO VERSION     `dpkg --unpack` of the installed version over itself:
 *                                   prerm, preinst, the shipped conffiles, postrm, and its
 *                                   status back to unpacked (the records are unchanged) */
static const char script_functions[] =
    "D=/var/lib/dpkg\n"
    "ms() {\n"
    "    p=$1 a=$2 n=$3 s=$4\n"
    "    shift 4\n"
    "    [ -e \"$s\" ] || return 0\n"
    "    (cd / && DPKG_MAINTSCRIPT_PACKAGE=$p DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT=1 "
    "DPKG_MAINTSCRIPT_ARCH=$a DPKG_MAINTSCRIPT_NAME=$n DPKG_MAINTSCRIPT_DEBUG=0 "
    "DPKG_RUNNING_VERSION=$DV DPKG_ADMINDIR=$D DPKG_ROOT= "
    "DPKG_FORCE=security-mac,downgrade,unsafe-io,depends \"$s\" \"$@\" </dev/null)\n"
    "}\n"
    "ci() {\n"
    "    rm -rf $D/tmp.ci\n"
    "    cp -a $S/$1/ci $D/tmp.ci\n"
    "}\n"
    "new() {\n"
    "    if [ -d $S/$1/ci ]; then\n"
    "        ci $1\n"
    "        ms $1 $2 preinst $D/tmp.ci/preinst install\n"
    "        rm -rf $D/tmp.ci\n"
    "    fi\n"
    "    mv $S/$1/info/* $D/info/\n"
    "    if [ -d $S/$1/trig ]; then\n"
    "        mkdir -p $D/triggers\n"
    "        for t in $S/$1/trig/*; do cat \"$t\" >>$D/triggers/${t##*/}; done\n"
    "    fi\n"
    "    cat $S/$1/stanza >>$D/status\n"
    "}\n"
    "unpacked() {\n"
    "    awk -v p=\"Package: $1\" 'BEGIN { RS = \"\"; FS = OFS = \"\\n\"; ORS = \"\\n\\n\" }\n"
    "        $1 == p { v = \"\"; for (i = 2; i <= NF; i++) if ($i ~ /^Version: /) v = "
    "substr($i, 10)\n"
    "            for (i = 2; i <= NF; i++) if ($i == \"Status: install ok installed\") $i = "
    "\"Status: install ok unpacked\\nConfig-Version: \" v }\n"
    "        { print }' $D/status >$D/status.rootstock\n"
    "    mv $D/status.rootstock $D/status\n"
    "}\n"
    "again() {\n"
    "    gp=$1 ga=$2 gi=$3 gv=$4\n"
    "    shift 4\n"
    "    ms $gp $ga prerm $D/info/$gi.prerm upgrade $gv\n"
    "    if [ -d $S/$gp/ci ]; then\n"
    "        ci $gp\n"
    "        ms $gp $ga preinst $D/tmp.ci/preinst upgrade $gv\n"
    "        rm -rf $D/tmp.ci\n"
    "    fi\n"
    "    for f in \"$@\"; do cp -a \"$f\" \"$f.dpkg-new\"; done\n"
    "    ms $gp $ga postrm $D/info/$gi.postrm upgrade $gv\n"
    "}\n";

static void add_conffiles(struct strbuf *sb, const struct build_deb_meta *m)
{
    const struct build_deb_member *cf = build_deb_meta_member(m, "conffiles");
    if (!cf)
        return;
    for (const char *l = cf->data; *l;) {
        size_t len = strcspn(l, "\n");
        const char *path = memchr(l, '/', len);
        if (path && !memmem(l, len, "remove-on-upgrade", 17))
            (void)strbuf_addf(sb, " %.*s", (int)strcspn(path, " \t\r\n"), path);
        l += len + (l[len] == '\n');
    }
}

/* A package whose `new` only moves its records (no preinst to run, no trigger interests to
 * append; a mere "interest" in its triggers file, even in a comment, makes it not plain): a
 * run of them is moved with one `mv` and one `cat`, in the same order. No maintainer script
 * runs inside a run, so each one that does sees the same database as when they are moved one
 * by one; this saves two processes per package. */
static bool is_plain(const struct build_deb_meta *m)
{
    const struct build_deb_member *t = build_deb_meta_member(m, "triggers");
    return !build_deb_meta_member(m, "preinst") && !(t && strstr(t->data, "interest"));
}

static void flush_plain(struct strbuf *sb, struct strbuf *info, struct strbuf *stanza)
{
    if (info->len == 0)
        return;
    (void)strbuf_addf(sb, "mv%s $D/info/\ncat%s >>$D/status\n", info->buf, stanza->buf);
    strbuf_reset(info);
    strbuf_reset(stanza);
}

static char *base_script(const struct build_pkg_list *l, const struct build_deb_meta *metas,
                         const char *stage_dir)
{
    struct strbuf sb = STRBUF_INIT(64u << 20);
    _cleanup_strbuf_ struct strbuf plain_info = STRBUF_INIT(1u << 20);
    _cleanup_strbuf_ struct strbuf plain_stanza = STRBUF_INIT(1u << 20);
    const struct build_pkg *dpkg = find_pkg(l, "dpkg");

    (void)strbuf_addf(&sb,
                      "set -e\n"
                      "umask 022\n"
                      "F=--force-unsafe-io\n"
                      "S=%s\n"
                      "DV=%s\n"
                      "step() { echo \"rootstock-step: $(date +%%s.%%N) $1\" >&2; }\n"
                      "%s"
                      "mkdir -p $D/info\n"
                      "printf 'Package: dpkg\\nVersion: %s\\nMaintainer: unknown\\n"
                      "Status: install ok installed\\n\\n' >>$D/status\n"
                      "touch $D/info/dpkg.list\n"
                      "/sbin/ldconfig\n"
                      "ln -sf mawk /usr/bin/awk\n",
                      stage_dir, dpkg ? dpkg->version : "0", script_functions,
                      dpkg ? dpkg->version : "0");
    for (size_t c = 0; c < ELEMENTSOF(core_pkgs); c++) {
        const struct build_pkg *p = find_pkg(l, core_pkgs[c]);
        if (!p)
            continue;
        const struct build_deb_meta *m = &metas[p - l->pkgs];
        _cleanup_free_ char *arch_to_free = NULL;
        const char *arch = arch_of(p, m, &arch_to_free);
        if (strcmp(p->name, "mawk") == 0)
            (void)strbuf_addstr(&sb, "rm /usr/bin/awk\n");
        (void)strbuf_addf(&sb, "step 'installing %s'\n", p->name);
        /* debootstrap's stub entry for dpkg gives way to dpkg's own */
        if (strcmp(p->name, "dpkg") == 0)
            (void)strbuf_addstr(&sb, "awk 'BEGIN { RS = \"\"; FS = \"\\n\"; ORS = \"\\n\\n\" } "
                                     "$1 != \"Package: dpkg\"' $D/status >$D/status.rootstock\n"
                                     "mv $D/status.rootstock $D/status\n");
        (void)strbuf_addf(&sb,
                          "new %s %s\n"
                          "dpkg $F --force-depends --configure %s </dev/null\n",
                          p->name, arch, p->name);
        if (strcmp(p->name, "dpkg") == 0)
            (void)strbuf_addstr(&sb, "[ -e /etc/localtime ] || [ -L /etc/localtime ] || "
                                     "ln -sf /usr/share/zoneinfo/UTC /etc/localtime\n");
    }
    (void)strbuf_addstr(&sb, "step 'unpacking required packages'\n");
    for (size_t i = 0; i < l->n_pkgs; i++) {
        const struct build_pkg *p = &l->pkgs[i];
        _cleanup_free_ char *arch_to_free = NULL;
        const char *arch = arch_of(p, &metas[i], &arch_to_free);
        if (!is_core(p->name) && is_plain(&metas[i])) {
            (void)strbuf_addf(&plain_info, " $S/%s/info/*", p->name);
            (void)strbuf_addf(&plain_stanza, " $S/%s/stanza", p->name);
            continue;
        }
        flush_plain(&sb, &plain_info, &plain_stanza);
        if (!is_core(p->name)) {
            (void)strbuf_addf(&sb, "new %s %s\n", p->name, arch);
            continue;
        }
        _cleanup_free_ char *info = build_dpkg_info_name(p, &metas[i]);
        (void)strbuf_addf(&sb, "again %s %s %s %s", p->name, arch, info, p->version);
        add_conffiles(&sb, &metas[i]);
        (void)strbuf_addf(&sb, "\nunpacked %s\n", p->name);
    }
    flush_plain(&sb, &plain_info, &plain_stanza);
    (void)strbuf_addstr(&sb, "rm -rf $S\n");
    return strbuf_detach(&sb, NULL);
}

/* The script runs under `sh -e`. Package names and digests come from a verified index and
 * are plain words ([a-z0-9+.-] and hex), so they need no quoting; so are versions
 * ([A-Za-z0-9.+~:-]) and conffile paths (checked by the archive's own tools). */
char *build_configure_script(const struct build_pkg_list *l, const struct build_deb_meta *metas,
                             const char *debs_dir, const char *stage_dir, bool layered)
{
    struct strbuf sb = STRBUF_INIT(64u << 20);

    if (layered) {
        (void)strbuf_addstr(&sb, "set -e\n"
                                 "umask 022\n"
                                 "F=--force-unsafe-io\n"
                                 "step() { echo \"rootstock-step: $(date +%s.%N) $1\" >&2; }\n");
        /* On top of a configured root: dpkg orders the configuration itself. */
        (void)strbuf_addstr(&sb, "step 'unpacking and configuring'\n"
                                 "dpkg $F --install");
        for (size_t i = 0; i < l->n_pkgs; i++)
            (void)strbuf_addf(&sb, " %s/%s", debs_dir, l->pkgs[i].sha256);
        (void)strbuf_addstr(&sb, " </dev/null\n");
        return strbuf_detach(&sb, NULL);
    }
    _cleanup_free_ char *head = base_script(l, metas, stage_dir);
    (void)strbuf_addstr(&sb, head);
    (void)strbuf_addstr(
        &sb, "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d\n"
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
