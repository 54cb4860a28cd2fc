/* Cost measurements for `specdec bench`: forward passes of n tokens (the verify cost t_v(n)), the
 * machine's read bandwidth, and the cost model that turns them into predicted speed-ups. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_common.h"
#include "bench_run.h"
#include "common/sd_common.h"
#include "model/forward.h"

#define LLC_FALLBACK (32u << 20)
#define STREAM_MIN_BYTES (64u << 20)
#define STREAM_PASSES 7

double bs_median(const double *v, int n) {
    if (n <= 0) return NAN;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return v[0];
    memcpy(c, v, (size_t)n * sizeof *c);
    double m = sd_bench_median_sort(c, n);
    free(c);
    return m;
}

double bs_predicted_speedup(double a, int k, double t_d, const double *t_v) {
    double e = a >= 1 ? k + 1 : (1 - pow(a, k + 1)) / (1 - a); /* expected tokens per round */
    double t = k * t_d + t_v[k];                               /* seconds per round */
    return t > 0 ? e / t * t_v[0] : NAN;
}

/* Seconds of one pass of n tokens at position `prefix` (the cache is rolled back to prefix first). */
static int timed_pass(sd_forward *f, const int32_t *tokens, int32_t prefix, int n, int inner, double *out,
                      char *err, size_t err_len) {
    double t0 = sd_time_seconds();
    for (int i = 0; i < inner; i++) {
        sd_forward_truncate(f, prefix);
        int rc = sd_forward_run(f, tokens + prefix, n, true, err, err_len);
        if (rc < 0) return rc;
    }
    *out = (sd_time_seconds() - t0) / inner;
    return SD_STATUS_OK;
}

/* Batch sizes measured: 1..n_max, then BS_COMPUTE_BATCH (index n_max). */
static int batch_of(int i, int n_max) {
    return i < n_max ? i + 1 : BS_COMPUTE_BATCH;
}

int bs_measure_passes(sd_model *m, const bs_cost_opts *o, int n_max, double *t_v, double *t_v_min,
                      double *t_big, char *err, size_t err_len) {
    sd_model_info info;
    sd_model_get_info(m, &info);
    int n_sizes = n_max + (t_big ? 1 : 0), samples = SD_MAX(1, o->samples);
    int32_t max_batch = SD_MAX(n_max, BS_COMPUTE_BATCH), n_ctx = o->prefix + max_batch + 1;
    sd_pool *pool = NULL;
    sd_forward *f = NULL;
    int32_t *tokens = malloc((size_t)n_ctx * sizeof *tokens);
    double *t = malloc((size_t)n_sizes * (size_t)samples * sizeof *t);
    int inner[SD_MAX_DRAFT_LEN + 2] = {0};
    double round_s = 0; /* seconds of one sample round over all sizes */
    int rc = tokens && t ? SD_STATUS_OK : sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if (rc == 0 && n_sizes > SD_MAX_DRAFT_LEN + 2)
        rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "batch of %d tokens is too large", n_max);
    if (rc == 0) rc = sd_pool_create(&pool, o->n_threads, o->cpus, o->n_cpus, err, err_len);
    if (rc == 0) rc = sd_forward_create(m, n_ctx, max_batch, pool, &f, err, err_len);
    if (rc < 0) goto done;
    /* A fixed, spread-out synthetic sequence: no prompt needed, and the same for every batch size. */
    for (int32_t i = 0; i < n_ctx; i++)
        tokens[i] = (int32_t)((7919u * (uint32_t)i + 13u) % (uint32_t)info.n_vocab);
    if ((rc = sd_forward_run(f, tokens, o->prefix, false, err, err_len)) < 0) goto done;
    /* Warm up each size once and size its samples (whole passes lasting about sample_s). */
    for (int i = 0; i < n_sizes; i++) {
        double once;
        if ((rc = timed_pass(f, tokens, o->prefix, batch_of(i, n_max), 1, &once, err, err_len)) < 0)
            goto done;
        if ((rc = timed_pass(f, tokens, o->prefix, batch_of(i, n_max), 1, &once, err, err_len)) < 0)
            goto done;
        inner[i] = once > 0 ? (int)SD_MAX(1.0, SD_MIN(1000.0, o->sample_s / once)) : 1;
        round_s += once * inner[i];
    }
    /* Slow models and slow builds (sanitizers) get fewer samples rather than minutes of measuring. */
    if (o->budget_s > 0 && round_s * samples > o->budget_s)
        samples = SD_MAX(SD_MAX(1, o->min_samples), (int)(o->budget_s / round_s));
    /* Interleaved: every sample round visits every size, in a rotating order. */
    for (int s = 0; s < samples; s++)
        for (int j = 0; j < n_sizes; j++) {
            int i = (j + s) % n_sizes;
            rc = timed_pass(f, tokens, o->prefix, batch_of(i, n_max), inner[i], &t[i * samples + s], err,
                            err_len);
            if (rc < 0) goto done;
        }
    for (int i = 0; i < n_max; i++) {
        t_v[i] = bs_median(t + i * samples, samples);
        for (int j = 0; t_v_min && j < samples; j++)
            t_v_min[i] = j == 0 ? t[i * samples] : fmin(t_v_min[i], t[i * samples + j]);
    }
    if (t_big) *t_big = bs_median(t + n_max * samples, samples);
done:
    sd_forward_free(f);
    sd_pool_free(pool);
    free(tokens);
    free(t);
    return rc;
}

int bs_measure_bandwidth(const bs_cost_opts *o, double *median_bps, double *best_bps, char *err,
                         size_t err_len) {
    sd_pool *pool = NULL;
    sd_stream *s = NULL;
    size_t bytes = SD_MAX((size_t)STREAM_MIN_BYTES, 4 * sd_bench_llc_bytes(LLC_FALLBACK));
    int rc = sd_pool_create(&pool, o->n_threads, o->cpus, o->n_cpus, err, err_len);
    if (rc == 0) rc = sd_stream_create(&s, bytes, pool, err, err_len);
    if (rc == 0) {
        double t[STREAM_PASSES], best = INFINITY;
        sd_stream_read_pass(s); /* warm-up */
        for (int i = 0; i < STREAM_PASSES; i++)
            t[i] = sd_stream_read_pass(s), best = fmin(best, t[i]);
        *median_bps = (double)sd_stream_bytes(s) / bs_median(t, STREAM_PASSES);
        *best_bps = (double)sd_stream_bytes(s) / best;
    }
    sd_stream_free(s);
    sd_pool_free(pool);
    return rc;
}

int bs_measure_costs(const spec_opts *o, const machine *mc, sd_model *target, sd_model *draft, int n_max,
                     int32_t prefix, costs *c, char *err, size_t err_len) {
    bs_cost_opts co = {.n_threads = o->threads ? o->threads : mc->target_cpus.count,
                       .cpus = mc->target_cpus.cpu,
                       .n_cpus = mc->target_cpus.count,
                       .prefix = prefix,
                       .samples = BS_COST_SAMPLES,
                       .min_samples = BS_COST_MIN_SAMPLES,
                       .budget_s = BS_COST_BUDGET_S,
                       .sample_s = BS_COST_SAMPLE_S};
    memset(c, 0, sizeof *c);
    c->n_max = n_max;
    c->prefix = prefix;
    int rc = bs_measure_bandwidth(&co, &c->bw_bps, &c->bw_best_bps, err, err_len);
    if (rc == 0) rc = bs_measure_passes(target, &co, n_max, c->t_v, c->t_v_min, &c->t_big, err, err_len);
    if (rc == 0 && draft) {
        bs_cost_opts cd = co;
        cd.n_threads = o->threads ? o->threads : mc->draft_cpus.count;
        cd.cpus = mc->draft_cpus.cpu;
        cd.n_cpus = mc->draft_cpus.count;
        double t_d[1];
        rc = bs_measure_passes(draft, &cd, 1, t_d, NULL, NULL, err, err_len);
        c->t_d = t_d[0];
    }
    if (rc < 0) return rc;
    sd_model_info ti;
    sd_model_get_info(target, &ti);
    c->t_mem = c->bw_best_bps > 0 ? (double)ti.weight_bytes / c->bw_best_bps : NAN;
    c->have = true;
    return SD_STATUS_OK;
}

/* The roofline bound of t_v(n)/t_v(1): the pass reads the weights once (t_mem) and cannot go faster than
 * the compute-bound rate seen at BS_COMPUTE_BATCH tokens (t_big / BS_COMPUTE_BATCH per token), so
 * t(n) >= max(t_mem, n t_big / BS_COMPUTE_BATCH); relative to n = 1 it is 1 until compute becomes the
 * limit. (The compute rate is measured, so the bound is what this code achieves, not the CPU's peak.) */
double bs_roofline_ratio(const costs *c, int n) {
    double per_token = c->t_big / BS_COMPUTE_BATCH;
    double t1 = fmax(c->t_mem, per_token), tn = fmax(c->t_mem, n * per_token);
    return tn / t1;
}
