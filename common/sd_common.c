#define _POSIX_C_SOURCE 200809L
#include "sd_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int sd_error(char *err, size_t err_len, int status, const char *fmt, ...) {
    if (err && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return status;
}

double sd_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
