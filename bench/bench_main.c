/* Standalone `specdec-bench-gemm`, the same code the CLI runs as `specdec bench-gemm`. */
#include "bench.h"

int main(int argc, char **argv) {
    return sd_bench_gemm_main(argc, argv);
}
