/* Helpers shared by the bench commands: flag values, the default thread count, medians. */
#include "bench_args.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

int sd_bench_parse_int(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int sd_bench_parse_list(const char *s, long lo, long hi, int *list, int cap, int *n) {
    char buf[512]; /* strtok_r writes into its input: a copy; longer lists are refused */
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    *n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (*n >= cap || sd_bench_parse_int(tok, lo, hi, &v) != 0) return -1;
        list[(*n)++] = (int)v;
    }
    return *n > 0 ? 0 : -1;
}

int sd_bench_allowed_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sd_bench_median_sort(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
