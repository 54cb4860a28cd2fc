#include "usage.h"

#include <stdio.h>
#include <sys/resource.h>

cli_usage cli_usage_now(void) {
    cli_usage u = {0, 0};
    struct rusage r;
    if (getrusage(RUSAGE_SELF, &r) != 0) return u;
    u.cpu_s = (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec * 1e-6 + (double)r.ru_stime.tv_sec +
              (double)r.ru_stime.tv_usec * 1e-6;
#ifdef __APPLE__
    u.peak_rss_bytes = (uint64_t)r.ru_maxrss; /* bytes on macOS */
#else
    u.peak_rss_bytes = (uint64_t)r.ru_maxrss * 1024; /* kilobytes on Linux and the BSDs */
#endif
    return u;
}

bool cli_usage_reset_peak(void) {
#ifdef __linux__
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak RSS (Linux 4.0 and later) */
    if (!f) return false;
    bool ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
#else
    return false;
#endif
}

double cli_usage_cpu_per_token(cli_usage before, cli_usage after, int32_t n_gen) {
    return n_gen > 0 ? (after.cpu_s - before.cpu_s) / n_gen : 0.0;
}
