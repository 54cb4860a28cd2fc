/* What the bench commands (bench-gemm, bench-forward, bench, bench-replay) share: the default thread
 * count and medians. Their flags are read by cli/args.h. */
#ifndef SD_BENCH_COMMON_H
#define SD_BENCH_COMMON_H

/* CPUs this process may run on (its affinity mask), at least 1: the default for -t. */
int sd_bench_allowed_cpus(void);

/* Sorts v[0..n) (n >= 1) ascending and returns its median (the mean of the middle two for even n). */
double sd_bench_median_sort(double *v, int n);

#endif
