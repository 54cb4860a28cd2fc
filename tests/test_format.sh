#!/usr/bin/env bash
# Fails when a C source or header drifts from the repository's .clang-format (run
# `clang-format -i FILE` to fix it). Usage: test_format.sh SOURCE_ROOT
set -u
root="$1"
cd "$root" || exit 1
if ! command -v clang-format >/dev/null; then
    echo "clang-format is not installed (Debian package clang-format)"
    exit 1
fi
drift=0
while IFS= read -r -d '' f; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f"
        drift=1
    fi
done < <(find . -path './build*' -prune -o -path './.worktrees' -prune -o -path './.git' -prune -o \
    \( -name '*.c' -o -name '*.h' \) -type f -print0)
exit "$drift"
