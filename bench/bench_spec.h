/* Internals of `specdec bench` (speculative decoding vs plain decoding), shared by its files:
 * prompt reading (bench_prompts.c), SVG charts (bench_svg.c) and the cost measurements (bench_cost.c).
 * This is CLI code: it may print, and returns SD_STATUS_* with a message where it can fail. */
#ifndef SD_BENCH_SPEC_H
#define SD_BENCH_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/threadpool.h"
#include "specdec.h"

/* ---- Prompts ---- */
typedef struct bs_prompt {
    char *id;   /* "id" field of the JSON line, or "p<index>" */
    char *kind; /* "kind" field of the JSON line (e.g. "code", "prose"), or BS_NO_KIND */
    char *text; /* the prompt, NUL-terminated */
    size_t len;
} bs_prompt;

/* The kind of a prompt whose line has no "kind" field. */
#define BS_NO_KIND "-"

/* Reads up to max_prompts prompts (max_prompts <= 0: all) from path: a JSON Lines file (".jsonl" or
 * ".json", or any file whose first non-blank byte is '{') with a string field "prompt" on every
 * non-blank line (and optionally strings "id" and "kind"), or otherwise the whole file as one prompt. Returns
 * the count (>= 1) or SD_STATUS_*. */
int bs_prompts_read(const char *path, int max_prompts, bs_prompt **out, char *err, size_t err_len);
void bs_prompts_free(bs_prompt *p, int n);

/* ---- SVG charts (drawn here, no plotting dependency) ---- */
typedef struct bs_series {
    const char *name;
    const double *y; /* [n_x]; NaN: no point */
    int dashed;      /* a reference line rather than data: dashed, no markers */
} bs_series;

/* Bars labelled labels[i] with heights values[i]; a dashed horizontal rule at `rule` (e.g. 1.0 for
 * "as fast as plain"; NaN: none). Returns SD_STATUS_OK or SD_STATUS_IO. */
int bs_svg_bars(const char *path, const char *title, const char *y_label, const char *const *labels,
                const double *values, int n, double rule, char *err, size_t err_len);

/* One line with markers per series over x[0..n_x). y_min/y_max fix the axis (NaN: from the data). */
int bs_svg_lines(const char *path, const char *title, const char *x_label, const char *y_label,
                 const double *x, int n_x, const bs_series *series, int n_series, double y_min, double y_max,
                 char *err, size_t err_len);

/* ---- Cost measurements ---- */

/* The biggest batch measured to estimate the compute-bound cost per token (the roofline's slope). */
#define BS_COMPUTE_BATCH 32

typedef struct bs_cost_opts {
    int n_threads;   /* workers of the pool the passes run on */
    const int *cpus; /* CPUs to pin to (may be NULL) */
    int n_cpus;
    int32_t prefix;  /* tokens in the cache before each measured pass */
    int samples;     /* samples per batch size (at most); the median is kept */
    int min_samples; /* at least this many, whatever the budget */
    double
        budget_s; /* fewer samples (down to min_samples) when all would take longer than this; 0: no limit */
    double sample_s; /* a sample averages whole passes over about this many seconds */
} bs_cost_opts;

/* Times one batched forward pass of the model (all rows' logits, as a verify computes) for n = 1..n_max
 * tokens at a fixed position after a synthetic prefix, rolling the cache back after every pass; samples
 * interleave the batch sizes so that machine noise hits all alike. t_v[n - 1] receives the median seconds
 * of a pass of n tokens for n = 1..n_max (t_v_min, if not NULL, the fastest sample: on a busy machine the
 * median includes time lost to other processes), and *t_big the median for BS_COMPUTE_BATCH tokens (t_big
 * NULL: not measured). */
int bs_measure_passes(sd_model *m, const bs_cost_opts *o, int n_max, double *t_v, double *t_v_min,
                      double *t_big, char *err, size_t err_len);

/* The machine's streaming read bandwidth with a pool like the target's (bench/stream.c): median and best
 * of a few passes over a buffer much larger than the last-level cache, in bytes per second. */
int bs_measure_bandwidth(const bs_cost_opts *o, double *median_bps, double *best_bps, char *err,
                         size_t err_len);

/* Cost model (docs/DESIGN.md): expected tokens per round E(k) = (1 - a^(k+1)) / (1 - a) and round time
 * T(k) = k t_d + t_v(k + 1); speed-up over plain decoding (1 / t_v(1)) = E(k) / T(k) * t_v(1).
 * t_v[n - 1] is the pass time for n tokens (k + 1 entries at least). */
double bs_predicted_speedup(double a, int k, double t_d, const double *t_v);

/* Median of v[0..n) (sorts a copy); NaN for n == 0. */
double bs_median(const double *v, int n);

#endif
