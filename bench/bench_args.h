/* Helpers shared by the bench commands (bench-gemm, bench-forward, bench): flag-value parsing, the
 * default thread count, medians. CLI helpers: they print nothing and report a bad value by returning
 * -1, so each command words its own message. */
#ifndef SD_BENCH_ARGS_H
#define SD_BENCH_ARGS_H

/* Parses a whole decimal integer s into *out if it lies in [lo, hi]; -1 (and *out untouched) otherwise,
 * also for trailing characters or overflow. */
int sd_bench_parse_int(const char *s, long lo, long hi, long *out);

/* Parses a comma-separated list "1,2,4" of integers in [lo, hi] into list[0..*n), at most cap entries.
 * Returns -1 on a malformed or out-of-range entry, an empty list or more than cap entries. */
int sd_bench_parse_list(const char *s, long lo, long hi, int *list, int cap, int *n);

/* CPUs this process may run on (its affinity mask), at least 1: the default for -t. */
int sd_bench_allowed_cpus(void);

/* Sorts v[0..n) (n >= 1) ascending and returns its median (the mean of the middle two for even n). */
double sd_bench_median_sort(double *v, int n);

#endif
