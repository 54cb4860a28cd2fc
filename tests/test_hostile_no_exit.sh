#!/usr/bin/env bash
# The library never ends the process on bad input: libspecdec.so must not import exit, _exit, _Exit,
# quick_exit, abort or __assert_fail (an assert() left in a release build would import the last).
# Usage: test_hostile_no_exit.sh LIBSPECDEC
set -u
lib="$1"
[ -f "$lib" ] || { echo "FAIL: no library at $lib"; exit 1; }
undefined=$(nm -u -D "$lib" | awk '{ sub(/@.*/, "", $NF); print $NF }' | sort -u)
[ -n "$undefined" ] || { echo "FAIL: nm -u listed nothing for $lib"; exit 1; }
bad=$(echo "$undefined" | grep -xE 'exit|_exit|_Exit|quick_exit|abort|__assert_fail|__assert_perror_fail' || true)
if [ -n "$bad" ]; then
    echo "FAIL: $lib imports functions that end the process:"
    echo "$bad"
    exit 1
fi
echo "test_hostile_no_exit: $(echo "$undefined" | wc -l) imported symbols, none of exit/_exit/_Exit/quick_exit/abort/__assert_fail"
