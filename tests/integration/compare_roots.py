#!/usr/bin/env python3
"""Compare two root trees entry by entry: paths, types, modes, owners, link targets, device
numbers and file contents (by SHA-256). Timestamps are not compared.

usage: compare_roots.py [--exceptions FILE] A B

FILE lists paths (relative, no leading "/"), one per line, "#" comments allowed; a line
"PATH/*" covers everything under PATH. A listed path may differ or exist on one side only.
Prints one line per difference that no exception covers and exits 1 if there is any; also
prints exceptions that matched nothing (stale entries) as warnings, exit status unaffected."""

import fnmatch
import hashlib
import os
import stat
import sys


def walk(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            info = [oct(st.st_mode), st.st_uid, st.st_gid]
            if stat.S_ISLNK(st.st_mode):
                info.append(os.readlink(full))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                info.append(h.hexdigest())
                info.append(st.st_nlink > 1)
            elif kind in (stat.S_IFCHR, stat.S_IFBLK):
                info.append((os.major(st.st_rdev), os.minor(st.st_rdev)))
            try:
                caps = os.getxattr(full, "security.capability", follow_symlinks=False)
                info.append(caps.hex())
            except OSError:
                pass
            out[rel] = info
        # os.walk does not descend into directory symlinks: good (bin -> usr/bin).
    return out


def main():
    args = sys.argv[1:]
    patterns = []
    if args and args[0] == "--exceptions":
        with open(args[1]) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    patterns.append(line)
        args = args[2:]
    a, b = walk(args[0]), walk(args[1])
    used = set()

    def excepted(path):
        for p in patterns:
            if fnmatch.fnmatchcase(path, p) or (p.endswith("/*") and path == p[:-2]):
                used.add(p)
                return True
        return False

    bad = 0
    for path in sorted(set(a) | set(b)):
        if a.get(path) == b.get(path):
            continue
        if excepted(path):
            continue
        bad += 1
        if path not in a:
            print(f"only in {args[1]}: /{path}")
        elif path not in b:
            print(f"only in {args[0]}: /{path}")
        else:
            print(f"differs: /{path}: {a[path]} vs {b[path]}")
    for p in patterns:
        if p not in used:
            print(f"warning: exception '{p}' matched nothing", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
