/* Standalone `specdec-bench-forward`, the same code the CLI runs as `specdec bench-forward`. */
#include "bench.h"

int main(int argc, char **argv) {
    return sd_bench_forward_main(argc, argv);
}
