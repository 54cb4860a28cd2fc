/* The process's resource use, for the reports of `specdec generate` and `specdec bench`: CPU seconds
 * (user + system, all threads: what a battery pays for) and the peak resident set, from getrusage. */
#ifndef SD_CLI_USAGE_H
#define SD_CLI_USAGE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_usage {
    double cpu_s;            /* user + system seconds of every thread of the process so far */
    uint64_t peak_rss_bytes; /* the largest resident set since the start or the last cli_usage_reset_peak */
} cli_usage;

/* The usage now (zeros where getrusage fails). */
cli_usage cli_usage_now(void);

/* Starts a new peak: where the kernel allows it (Linux: /proc/self/clear_refs) the peak resident set
 * restarts from the current one, so that the next cli_usage_now reports the peak of what runs in between.
 * Returns false where not supported (the peak then stays the process's). */
bool cli_usage_reset_peak(void);

/* CPU seconds per generated token between two readings (0 when n_gen is 0). */
double cli_usage_cpu_per_token(cli_usage before, cli_usage after, int32_t n_gen);

#endif
