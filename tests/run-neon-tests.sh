#!/bin/sh
# Cross-compiles the GEMM library (with the thread pool, cpu/threadpool.c) and its tests (quant, gemm), and
# the attention kernel's test, for AArch64 with Debian's
# gcc-aarch64-linux-gnu and runs them under qemu-aarch64-static, twice: plain ARMv8 NEON (widening
# multiplies) and ARMv8.2 with the dot-product extension (sdot). No meson and no arm64 libraries are
# needed: the GEMM part depends on libc, libm and pthreads only.
# Usage: tests/run-neon-tests.sh [build-dir]   (default: build-neon)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$src/build-neon"}
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64-static}
sysroot=${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}
mkdir -p "$out"
lib_src="common/sd_common.c common/sd_weight_type.c cpu/threadpool.c gemm/quant_ref.c gemm/gemm.c gemm/gemm_neon.c"
status=0
for variant in "neon:-march=armv8-a" "dotprod:-march=armv8.2-a+dotprod"; do
    name=${variant%%:*}
    march=${variant#*:}
    for t in quant gemm attention; do
        exe="$out/test_${t}_$name"
        srcs=$lib_src
        [ "$t" = attention ] && srcs="model/attention.c"
        # shellcheck disable=SC2086
        (cd "$src" && "$cc" -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -ffp-contract=off $march -I. -Iinclude \
            -o "$exe" "tests/test_$t.c" $srcs -lm -lpthread -static)
        echo "== $t ($name)"
        if ! "$qemu" -L "$sysroot" "$exe"; then
            echo "FAILED: $t ($name)"
            status=1
        fi
    done
done
exit $status
