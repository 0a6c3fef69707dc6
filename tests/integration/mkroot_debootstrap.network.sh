#!/bin/bash
# mkroot's resolver against debootstrap on the real archive the host's apt uses: the same
# minbase set, and versions equal to the archive's, for the same suite on the same day; then
# --download-only fetches them verified and a second run fetches nothing.
. "$(dirname "$0")/lib.sh"
need_cmd debootstrap
need_cmd gpgv
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || skip_all "needs debian-archive-keyring"
SUITE=${RS_NETWORK_SUITE:-trixie}
need_archive "$SUITE"

plan 7
mkroot "$SUITE" minbase --print-packages >"$T/ours" 2>"$T/err"
check "mkroot --print-packages resolves $SUITE minbase" test -s "$T/ours"
debootstrap --variant=minbase --print-debs "$SUITE" "$T/dbs" "$M" >"$T/dbs.out" 2>"$T/dbs.err"
tr ' ' '\n' <"$T/dbs.out" | grep . | sort >"$T/dbs.names"
cut -d' ' -f1 "$T/ours" | sort >"$T/our.names"
if diff "$T/dbs.names" "$T/our.names" >"$T/diff"; then ok "same package set as debootstrap --variant=minbase ($(wc -l <"$T/our.names") packages)"; else not_ok "same package set as debootstrap"; diag "$(cat "$T/diff")"; fi
# debootstrap installs the Version of each package's stanza in the suite's Packages index:
# compare our versions with that index, fetched here independently of mkroot.
ARCH=$(dpkg --print-architecture)
curl -fsS --max-time 120 "$M/dists/$SUITE/main/binary-$ARCH/Packages.xz" | xz -dc |
    awk '/^Package: /{p=$2} /^Version: /{print p, $2}' | sort -u >"$T/archive.versions"
cut -d' ' -f1,2 "$T/ours" | sort >"$T/our.versions"
check "same versions as the archive index debootstrap reads" sh -c "[ -s '$T/archive.versions' ] && ! comm -23 '$T/our.versions' '$T/archive.versions' | grep -q ."
if command -v mmdebstrap >/dev/null; then
    # mmdebstrap's essential variant, as apt plans it (--simulate --verbose prints "Inst" lines).
    mmdebstrap --variant=essential --simulate --mode=root --verbose "$SUITE" /dev/null "$M" >"$T/mm.out" 2>&1 || true
    grep '^Inst ' "$T/mm.out" | awk '{print $2, substr($3, 2)}' | sort -u >"$T/mm.versions"
    mkroot "$SUITE" essential --print-packages 2>/dev/null | cut -d' ' -f1,2 | sort >"$T/ess.versions"
    if [ -s "$T/mm.versions" ] && diff "$T/mm.versions" "$T/ess.versions" >"$T/diff2"; then
        ok "essential = mmdebstrap --variant=essential (names and versions)"
    else
        not_ok "essential = mmdebstrap --variant=essential"
        diag "$(cat "$T/diff2" 2>/dev/null)"
    fi
else
    ok "# SKIP no mmdebstrap"
fi
mkroot "$SUITE" minbase --download-only 2>"$T/err"
check "--download-only fetches every package verified" grep -qE "^mkroot: ([0-9]+) packages in the store, \1 downloaded" "$T/err"
mkroot "$SUITE" minbase --download-only 2>"$T/err"
check "a second run downloads nothing" grep -q " 0 downloaded" "$T/err"
mkroot stable minbase --print-packages >/dev/null 2>"$T/err"
check "stable is reported by its codename" grep -qE "^mkroot: .*: [a-z]+ \(" "$T/err"
done_testing
