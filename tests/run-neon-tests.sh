#!/bin/sh
# Cross-compiles the GEMM library and its tests (quant, gemm), and the attention kernel's test, for AArch64 with Debian's
# gcc-aarch64-linux-gnu and runs them under qemu-aarch64-static. The library is baseline ARMv8-A; only
# gemm/gemm_neon.c is compiled three times with ISA flags (the neon, neon-dotprod and neon-i8mm kernel
# sets, chosen at run time from getauxval), as gemm/meson.build does. Each test runs on three CPU models:
# max (dotprod and i8mm: all three sets tested), cortex-a76 (dotprod, no i8mm) and cortex-a53 (neither:
# the selection must fall back to plain NEON). No meson and no arm64 libraries are needed: the GEMM part
# depends on libc, libm and pthreads only.
# Usage: tests/run-neon-tests.sh [build-dir]   (default: build-neon)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$src/build-neon"}
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64-static}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
mkdir -p "$out"
cflags="-std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -ffp-contract=off -march=armv8-a -I. -Iinclude"
lib_src="common/sd_common.c common/sd_weight_type.c cpu/threadpool.c gemm/quant_ref.c gemm/gemm.c"
# The three kernel objects compile in parallel (this stage is most of the time the script takes), then the
# tests link in parallel.
pids=""
for set in "0:armv8-a" "1:armv8.2-a+dotprod" "2:armv8.2-a+dotprod+i8mm"; do # level:extra -march
    level=${set%%:*}
    # shellcheck disable=SC2086
    (cd "$src" && "$cc" $cflags -march="${set#*:}" -DSD_NEON_LEVEL="$level" -c gemm/gemm_neon.c \
        -o "$out/gemm_neon_$level.o") &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
kernel_objs="$out/gemm_neon_0.o $out/gemm_neon_1.o $out/gemm_neon_2.o"
pids=""
for t in quant gemm attention; do
    srcs="$lib_src"
    objs="$kernel_objs"
    [ "$t" = attention ] && srcs="model/attention.c common/sd_common.c common/sd_cache_type.c gemm/quant_ref.c" && objs=""
    # shellcheck disable=SC2086
    (cd "$src" && "$cc" $cflags -o "$out/test_$t" "tests/test_$t.c" $srcs $objs -lm -lpthread -static) &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
# Each CPU model's tests run in the background (logs in $out), printed in order once all are done. max
# has every set, so test_gemm tests all three there; on the others it tests the set the CPU selects.
for cpu in ${CPUS:-max cortex-a76 cortex-a53}; do
    (
        sets=best
        [ "$cpu" = max ] && sets=all
        for t in quant gemm attention; do
            echo "== $t ($cpu)"
            if ! SD_TEST_GEMM_SETS=$sets "$qemu" -cpu "$cpu" -L "$sysroot" "$out/test_$t"; then
                echo "FAILED: $t ($cpu)"
            fi
        done
    ) >"$out/run-$cpu.log" 2>&1 &
done
wait
status=0
for cpu in ${CPUS:-max cortex-a76 cortex-a53}; do
    cat "$out/run-$cpu.log"
    if grep -q '^FAILED: ' "$out/run-$cpu.log"; then status=1; fi
done
exit $status
