#!/bin/bash
# House rules a compiler does not check: banned functions (git's banned.h list) and
# clang-format on every C file. Usage: lint.sh SOURCE_DIR
set -u
cd "$1" || exit 1
status=0
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './out/*')
banned='\b(strcpy|strcat|strncpy|sprintf|vsprintf|strtok|atoi|gets|mktemp|system|popen|basename)[[:space:]]*\('
if hits=$(grep -nE "$banned" $files | grep -v '^tests/lint.sh'); then
    echo "banned functions (use strbuf, xasprintf, snprintf, strtok_r, rs_parse_uint, mkdtemp/mkstemp):"
    echo "$hits"
    status=1
fi
if command -v clang-format >/dev/null; then
    for f in $files; do
        if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "not clang-formatted: $f (run: clang-format -i $f)"
            status=1
        fi
    done
else
    echo "clang-format not installed; format not checked"
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
