/* What `specdec generate` reports after a run: timings, and for speculative decoding the acceptance,
 * draft lengths, time split and speed-up (measured with --compare, otherwise estimated). */
#ifndef SD_CLI_REPORT_H
#define SD_CLI_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "specdec.h"

typedef struct gen_report {
    const sd_stats *stats;
    bool draft;          /* speculative run */
    const char *stop;    /* why generation stopped, in words */
    bool compared;       /* plain decoding was measured too (--compare) */
    double plain_tps;    /* its tokens/s */
    bool greedy;         /* greedy sampling: outputs must be identical */
    bool identical;      /* speculative tokens == plain tokens */
    char schedule[512];  /* sd_engine_describe */
    const char *kernels; /* the target's matrix-product kernel set (sd_model_info.kernels) */
    /* resources (cli/usage.h): the process's peak resident set during the run, CPU seconds (user +
     * system) per generated token; and the same of the plain run when compared */
    uint64_t peak_rss_bytes, plain_peak_rss_bytes;
    double cpu_s_per_token, plain_cpu_s_per_token;
    uint64_t plain_kv_bytes; /* the plain run's KV cache (the speculative run's is stats->kv_bytes) */
    int32_t plain_n_ctx_shifts;
} gen_report;

void print_generate_report(FILE *out, const gen_report *r);
/* The run as one JSON object on one line; false when out of memory. */
bool print_generate_json(FILE *out, const char *text, size_t text_len, const int32_t *tokens,
                         const gen_report *r);

#endif
