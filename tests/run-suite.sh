#!/usr/bin/env bash
# Builds specdec and runs the whole test suite: a release build, a build under AddressSanitizer +
# UndefinedBehaviorSanitizer, the AArch64 NEON kernels cross-compiled and run under qemu-user, and a
# bounded run of each libFuzzer target (FUZZ_SECONDS, default 20). Prints "N passed, M failed" last;
# exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
passed=0
failed=0
phase_start=$SECONDS
# Prints how long the phase that just ended took (the suite must stay under 15 minutes on a 2-core runner).
phase_done() {
    echo "== $1 took $((SECONDS - phase_start)) s"
    phase_start=$SECONDS
}

# Adds the results of a finished `meson test` run (from its JSON log) to the totals.
count_meson_results() {
    local log="$1/meson-logs/testlog.json"
    if [ ! -f "$log" ]; then
        failed=$((failed + 1))
        return
    fi
    read -r p f < <(python3 - "$log" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r != "SKIP":
        f += 1
print(p, f)
PY
)
    passed=$((passed + p))
    failed=$((failed + f))
}

# run_build NAME MESON_ARGS...: configure, build and test one build directory.
run_build() {
    local dir="$1"
    shift
    echo "== $dir: meson setup $*"
    if ! { meson setup "$dir" --wipe "$@" >/dev/null 2>&1 || meson setup "$dir" "$@"; } ||
       ! ninja -C "$dir"; then
        echo "== $dir: build failed"
        failed=$((failed + 1))
        return
    fi
    rm -f "$dir/meson-logs/testlog.json"
    phase_done "$dir: build"
    meson test -C "$dir" --print-errorlogs --num-processes 2
    count_meson_results "$dir"
    phase_done "$dir: tests"
}

run_build build
# Sanitizers: every test again, with leaks reported and any UB fatal.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    run_build build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Db_lundef=false

# The AArch64 NEON kernels: cross-compiled, run under qemu-user. Each "== test (variant)" section is one
# test; "FAILED: ..." lines are failures.
echo "== NEON kernels under qemu-aarch64"
out=$(bash tests/run-neon-tests.sh build-neon 2>&1)
neon_rc=$?
echo "$out"
neon_total=$(echo "$out" | grep -c '^== ')
neon_failed=$(echo "$out" | grep -c '^FAILED: ')
if [ "$neon_rc" -ne 0 ] && [ "$neon_failed" -eq 0 ]; then neon_failed=1; fi
passed=$((passed + neon_total - neon_failed))
failed=$((failed + neon_failed))
phase_done "NEON under qemu"

# The fuzzers (clang + libFuzzer): a bounded run of each target; any crash fails. Its last line is
# "N passed, M failed" over the targets.
echo "== fuzzing (${FUZZ_SECONDS:=20} s per target)"
out=$(FUZZ_SECONDS=$FUZZ_SECONDS bash tests/run-fuzz.sh 2>&1)
fuzz_rc=$?
echo "$out" | tail -n 20
line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
    failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
elif [ "$fuzz_rc" -ne 0 ]; then
    failed=$((failed + 1))
fi

phase_done "fuzzing"
echo "== whole suite took $SECONDS s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
