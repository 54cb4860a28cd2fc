/* `specdec bench-forward`: where one forward pass of a model spends its time, split by operation, for
 * batches of n tokens on top of a filled KV cache: the passes that speculative verification runs.
 *
 * Method: the cache is filled once with `past` tokens. A sample for batch size n rolls the cache back to
 * `past` and runs the n tokens with all logits kept (as verification does), repeated for about
 * SAMPLE_SECONDS (at least MIN_PASSES passes), with the forward pass's profile attached: the sample is the
 * wall time per pass and the seconds per pass of each phase (sd_forward_phase). Samples are interleaved
 * across batch sizes so that machine noise hits all of them alike; the median of the repeats is
 * reported, per batch size and per phase. With --fill F < past, only F tokens are prefilled and the rest of
 * the cache repeats them (sd_forward_extend_repeating): a long context without a quadratic prefill.
 * The process's peak resident set and the KV cache's bytes are reported beside.
 *
 * Roofline: each sample round also times one read pass of a buffer 4x the last-level cache with the same
 * threads (bench/stream.c), and each batch size reports the bytes its pass reads (every weight matrix
 * once, n embedding rows, and the KV cache the attention reads), divided by its median time, against the
 * median stream bandwidth of the same run. */
#include "bench.h"
#include "bench_common.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/json.h"
#include "cli/usage.h"
#include "common/sd_common.h"
#include "model/attention.h"
#include "model/forward.h"
#include "model/model.h"

#define MAX_BATCHES 16
#define MAX_BATCH 256
#define MAX_PAST (1 << 20)
#define SAMPLE_SECONDS 0.1
#define MIN_PASSES 2
#define MAX_PASSES 10000
#define LLC_FALLBACK (32u << 20)
#define STREAM_MIN_BYTES (64u << 20)

typedef struct fwd_opts {
    const char *model;
    int32_t batch[MAX_BATCHES];
    int n_batch;
    int32_t past;
    int32_t threads;
    int32_t repeats;
    int32_t fill;                   /* tokens prefilled; the rest of `past` repeats them (0: all of past) */
    sd_cache_type cache_k, cache_v; /* -ctk, -ctv */
    bool json;
    bool measured_pool;  /* sd_forward_set_measured_pool, as the drafter runs */
    const char *kernels; /* NULL: the default set */
} fwd_opts;

/* Samples, [n_batch][repeats] each; seconds per pass. */
typedef struct fwd_samples {
    double *total;
    double *phase[SD_FWD_N_PHASES];
    double *other;  /* total minus the phases: pool dispatch and work outside the profiled spans */
    double *stream; /* [repeats]: seconds of one stream read pass, one per sample round */
} fwd_samples;

/* Medians per batch size, seconds per pass. */
typedef struct fwd_result {
    double total[MAX_BATCHES];
    double phase[MAX_BATCHES][SD_FWD_N_PHASES];
    double other[MAX_BATCHES];
    int passes[MAX_BATCHES];   /* passes per sample */
    double bytes[MAX_BATCHES]; /* bytes one pass reads (pass_bytes) */
    double stream_bps;         /* median stream read bandwidth, bytes per second */
} fwd_result;

typedef struct fwd_state {
    const fwd_opts *o;
    sd_model *model;
    sd_pool *pool;
    sd_forward *fwd;
    sd_stream *stream;
    int32_t *tokens; /* [past + max batch]: the cache's tokens, then the batch's */
} fwd_state;

static void usage(FILE *f, const cli_command *c) {
    fprintf(f,
            "usage: %s -m MODEL.gguf [--batch 1,2,3,4,5] [--past N] [--fill F] [-ctk TYPE] [-ctv TYPE]\n"
            "       [-t THREADS] [--repeat R] [--kernels SET] [--measured-pool] [--json]\n"
            "Times one forward pass of n tokens (all logits kept, as speculative verification runs it) on "
            "top\n"
            "of a KV cache of N tokens, for each batch size n, and splits it by operation (norms, q/k/v,\n"
            "RoPE and cache store, attention, output projection, FFN in, FFN down, vocabulary projection).\n"
            "Reports medians of R interleaved repeats: ms per pass, t(n)/t(n0) (n0 = the first batch size),\n"
            "and per operation its ms, its share of the pass and its own t(n)/t(n0), and the bytes a pass\n"
            "reads per second against the streaming read bandwidth measured in the same run.\n",
            (const char *)c->user);
    cli_print_flags(f, c);
}

/* Fills o from argv; returns -1 to go on, else the exit code (0 after --help, 2 on a bad flag). */
static int parse_args(int argc, char **argv, const char *prog, fwd_opts *o) {
    *o = (fwd_opts){.batch = {1, 2, 3, 4, 5},
                    .n_batch = 5,
                    .past = 128,
                    .threads = sd_bench_allowed_cpus(),
                    .repeats = 7,
                    .cache_k = SD_CACHE_F16,
                    .cache_v = SD_CACHE_F16};
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &o->model, .arg = "FILE", .help = "the GGUF model"},
        {"--batch", NULL, CLI_INT_LIST, .out.i = o->batch, 1, MAX_BATCH, .cap = MAX_BATCHES,
         .count = &o->n_batch, .arg = "LIST",
         .help = "comma-separated batch sizes, each 1.." CLI_STRING(MAX_BATCH) " (default 1,2,3,4,5)"},
        {"--past", NULL, CLI_INT, .out.i = &o->past, 0, MAX_PAST, .arg = "N",
         .help = "tokens in the KV cache before each pass (default 128)"},
        {"--fill", NULL, CLI_INT, .out.i = &o->fill, 0, MAX_PAST, .arg = "F",
         .help = "prefill only F tokens and repeat them up to --past (default 0: prefill all)"},
        {"-ctk", "--cache-type-k", CLI_CUSTOM, .out.any = &o->cache_k, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE", .help = "KV cache type of the keys (default f16)"},
        {"-ctv", "--cache-type-v", CLI_CUSTOM, .out.any = &o->cache_v, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE", .help = "KV cache type of the values (default f16)"},
        {"-t", "--threads", CLI_INT, .out.i = &o->threads, 1, 256, .arg = "N",
         .help = "threads (default: the CPUs this process may use)"},
        {"--repeat", NULL, CLI_INT, .out.i = &o->repeats, 1, 10000, .arg = "R",
         .help = "samples per batch size, each about " CLI_STRING(SAMPLE_SECONDS) " s (default 7)"},
        CLI_KERNELS_FLAG(&o->kernels),
        {"--measured-pool", NULL, CLI_TRUE, .out.b = &o->measured_pool,
         .help = "one-row passes run on the pool or on one thread, whichever measures faster (as drafting)"},
        {"--json", NULL, CLI_TRUE, .out.b = &o->json, .help = "print one JSON object instead of a table"},
        {"-h", "--help", .kind = CLI_HELP},
    };
    const cli_command c = {"bench-forward", flags, CLI_COUNT(flags), usage, 18, false, prog};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (!o->model) {
        fprintf(stderr, "specdec bench-forward: missing -m MODEL.gguf (see --help)\n");
        return 2;
    }
    return -1;
}

static int max_batch(const fwd_opts *o) {
    int m = 1;
    for (int b = 0; b < o->n_batch; b++)
        m = SD_MAX(m, o->batch[b]);
    return m;
}

static void state_release(fwd_state *s) {
    sd_forward_free(s->fwd);
    sd_stream_free(s->stream);
    sd_pool_free(s->pool);
    sd_model_free_internal(s->model);
    free(s->tokens);
    memset(s, 0, sizeof *s);
}

/* Loads the model, creates the pool and the forward state, and fills the cache with `past` tokens. */
static int state_setup(fwd_state *s, const fwd_opts *o, char *err, size_t err_len) {
    memset(s, 0, sizeof *s);
    s->o = o;
    int rc = sd_model_load_file_with(o->model, o->kernels, &s->model, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    rc = sd_pool_create(&s->pool, o->threads, NULL, 0, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    int mb = max_batch(o);
    rc = sd_forward_create_cached(s->model, o->past + mb + 1, mb, o->cache_k, o->cache_v, s->pool, &s->fwd,
                                  err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    sd_forward_set_measured_pool(s->fwd, o->measured_pool);
    size_t stream_bytes = SD_MAX((size_t)STREAM_MIN_BYTES, 4 * sd_bench_llc_bytes(LLC_FALLBACK));
    rc = sd_stream_create(&s->stream, stream_bytes, s->pool, err, err_len);
    if (rc != SD_STATUS_OK) return rc;

    /* Arbitrary but fixed token ids spread over the vocabulary, so runs are comparable. */
    int64_t n_tok = (int64_t)o->past + mb, n_vocab = s->model->hp.n_vocab;
    s->tokens = malloc(sizeof *s->tokens * (size_t)n_tok);
    if (!s->tokens) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (int64_t i = 0; i < n_tok; i++)
        s->tokens[i] = (int32_t)((i * 7919 + 13) % n_vocab);
    int32_t fill = o->fill > 0 && o->fill < o->past ? o->fill : o->past;
    if (fill > 0) rc = sd_forward_run(s->fwd, s->tokens, fill, false, err, err_len);
    if (rc == SD_STATUS_OK && fill < o->past) rc = sd_forward_extend_repeating(s->fwd, o->past);
    return rc;
}

/* Runs `passes` passes of n tokens, each from a cache rolled back to `past`, adding phase seconds into
 * prof (zeroed here). Returns SD_STATUS_*; *seconds is the wall time of the passes alone. */
static int run_passes(fwd_state *s, int n, int passes, sd_forward_profile *prof, double *seconds, char *err,
                      size_t err_len) {
    const int32_t *batch = s->tokens + s->o->past;
    memset(prof, 0, sizeof *prof);
    sd_forward_set_profile(s->fwd, prof);
    double total = 0;
    int rc = SD_STATUS_OK;
    for (int p = 0; p < passes && rc == SD_STATUS_OK; p++) {
        sd_forward_truncate(s->fwd, s->o->past);
        double t0 = sd_time_seconds();
        rc = sd_forward_run(s->fwd, batch, n, true, err, err_len);
        total += sd_time_seconds() - t0;
    }
    sd_forward_set_profile(s->fwd, NULL);
    *seconds = total;
    return rc;
}

/* Warms each batch size up with one pass, then picks passes per sample from a second one. */
static int calibrate(fwd_state *s, fwd_result *res, char *err, size_t err_len) {
    sd_forward_profile prof;
    for (int b = 0; b < s->o->n_batch; b++) {
        double t;
        int rc = run_passes(s, s->o->batch[b], 1, &prof, &t, err, err_len);
        if (rc == SD_STATUS_OK) rc = run_passes(s, s->o->batch[b], 1, &prof, &t, err, err_len);
        if (rc != SD_STATUS_OK) return rc;
        double want = ceil(SAMPLE_SECONDS / SD_MAX(t, 1e-9));
        res->passes[b] = (int)SD_MAX((double)MIN_PASSES, SD_MIN((double)MAX_PASSES, want));
    }
    return SD_STATUS_OK;
}

static void samples_free(fwd_samples *sm) {
    free(sm->total);
    free(sm->other);
    free(sm->stream);
    for (int p = 0; p < SD_FWD_N_PHASES; p++)
        free(sm->phase[p]);
}

static int samples_alloc(fwd_samples *sm, size_t count) {
    memset(sm, 0, sizeof *sm);
    int ok = (sm->total = calloc(count, sizeof(double))) && (sm->other = calloc(count, sizeof(double))) &&
             (sm->stream = calloc(count, sizeof(double)));
    for (int p = 0; p < SD_FWD_N_PHASES && ok; p++)
        ok = (sm->phase[p] = calloc(count, sizeof(double))) != NULL;
    return ok ? 0 : -1;
}

/* One sample of batch size index b into slot i of the sample arrays. */
static int take_sample(fwd_state *s, const fwd_result *res, int b, size_t i, fwd_samples *sm, char *err,
                       size_t err_len) {
    sd_forward_profile prof;
    double t;
    int passes = res->passes[b];
    int rc = run_passes(s, s->o->batch[b], passes, &prof, &t, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    sm->total[i] = t / passes;
    sm->other[i] = sm->total[i];
    for (int p = 0; p < SD_FWD_N_PHASES; p++) {
        sm->phase[p][i] = prof.seconds[p] / passes;
        sm->other[i] -= sm->phase[p][i];
    }
    return SD_STATUS_OK;
}

/* Samples interleaved across batch sizes, then their medians into res. */
static int measure(fwd_state *s, fwd_result *res, char *err, size_t err_len) {
    const fwd_opts *o = s->o;
    int r_n = o->repeats;
    fwd_samples sm;
    if (samples_alloc(&sm, (size_t)o->n_batch * (size_t)r_n) != 0) {
        samples_free(&sm);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    int rc = SD_STATUS_OK;
    sd_stream_read_pass(s->stream); /* warm-up */
    for (int r = 0; r < r_n && rc == SD_STATUS_OK; r++) {
        sm.stream[r] = sd_stream_read_pass(s->stream);
        for (int b = 0; b < o->n_batch && rc == SD_STATUS_OK; b++)
            rc = take_sample(s, res, b, (size_t)b * r_n + r, &sm, err, err_len);
    }
    res->stream_bps = (double)sd_stream_bytes(s->stream) / sd_bench_median_sort(sm.stream, r_n);
    for (int b = 0; b < o->n_batch && rc == SD_STATUS_OK; b++) {
        size_t at = (size_t)b * r_n;
        res->total[b] = sd_bench_median_sort(sm.total + at, r_n);
        res->other[b] = sd_bench_median_sort(sm.other + at, r_n);
        for (int p = 0; p < SD_FWD_N_PHASES; p++)
            res->phase[b][p] = sd_bench_median_sort(sm.phase[p] + at, r_n);
    }
    samples_free(&sm);
    return rc;
}

static double weight_bytes(const sd_weight *w) {
    return (double)w->rows * (double)w->row_bytes;
}

/* Bytes one pass of n rows on top of `past` cached positions reads from memory: every weight matrix once,
 * n rows of the embedding (all of it where the output projection is tied to it), and the KV cache of the
 * past + n positions in its stored types (keys padded to the attention kernel's blocks). Norm weights are
 * left out. */
static double pass_bytes(const sd_model *m, const fwd_opts *o, int32_t n, int32_t past) {
    const sd_hparams *hp = &m->hp;
    double b = weight_bytes(&m->output);
    if (m->output.data != m->tok_embd.data) b += (double)n * (double)m->tok_embd.row_bytes;
    for (int il = 0; il < hp->n_layer; il++) {
        const sd_layer *ly = &m->layers[il];
        const sd_weight *ws[] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        for (size_t j = 0; j < SD_ARRAY_LEN(ws); j++)
            b += weight_bytes(ws[j]);
    }
    int32_t positions = past + n;
    double per_head = (double)sd_attention_key_bytes(o->cache_k, hp->head_dim,
                                                     (int32_t)sd_attention_padded_positions(positions)) +
                      (double)sd_attention_value_bytes(o->cache_v, hp->head_dim, positions);
    b += (double)hp->n_layer * (double)hp->n_head_kv * per_head;
    return b;
}

/* x / base, or NAN where the base is no time at all. */
static double ratio(double x, double base) {
    return base > 0 ? x / base : NAN;
}

/* Builds the report object: {model, name, params, weight_bytes, threads, past, repeats, batches: [{n, ms,
 * ratio, ms_per_token, passes, phases: {name: ms}, phase_ratios: {name: t(n)/t(n0)}, other_ms}]}. */
static cJSON *report_json(const fwd_state *s, const fwd_result *res) {
    const fwd_opts *o = s->o;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model);
    cJSON_AddStringToObject(j, "name", s->model->name ? s->model->name : "");
    cJSON_AddNumberToObject(j, "params", (double)s->model->n_params);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)s->model->weight_bytes);
    cJSON_AddNumberToObject(j, "threads", o->threads);
    cJSON_AddStringToObject(j, "kernels", sd_gemm_kernels_name(s->model->kernels));
    cJSON_AddNumberToObject(j, "past", o->past);
    cJSON_AddNumberToObject(j, "fill", o->fill > 0 && o->fill < o->past ? o->fill : o->past);
    cJSON_AddStringToObject(j, "cache_type_k", sd_cache_type_name(o->cache_k));
    cJSON_AddStringToObject(j, "cache_type_v", sd_cache_type_name(o->cache_v));
    cJSON_AddNumberToObject(j, "kv_bytes", (double)sd_forward_kv_bytes(s->fwd));
    cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)cli_usage_now().peak_rss_bytes);
    cJSON_AddNumberToObject(j, "repeats", o->repeats);
    cJSON_AddBoolToObject(j, "measured_pool", o->measured_pool);
    cJSON_AddItemToObject(j, "stream_gbps", cli_json_number(res->stream_bps / 1e9));
    cJSON *batches = cJSON_AddArrayToObject(j, "batches");
    for (int b = 0; b < o->n_batch; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(batches, e);
        cJSON_AddNumberToObject(e, "n", o->batch[b]);
        cJSON_AddItemToObject(e, "ms", cli_json_number(res->total[b] * 1e3));
        cJSON_AddItemToObject(e, "ratio", cli_json_number(ratio(res->total[b], res->total[0])));
        cJSON_AddItemToObject(e, "ms_per_token", cli_json_number(res->total[b] * 1e3 / o->batch[b]));
        cJSON_AddNumberToObject(e, "passes", res->passes[b]);
        cJSON_AddNumberToObject(e, "bytes", res->bytes[b]);
        cJSON_AddItemToObject(e, "gbps", cli_json_number(res->bytes[b] / res->total[b] / 1e9));
        cJSON_AddItemToObject(e, "stream_fraction",
                              cli_json_number(ratio(res->bytes[b] / res->total[b], res->stream_bps)));
        cJSON *ph = cJSON_AddObjectToObject(e, "phases");
        cJSON *pr = cJSON_AddObjectToObject(e, "phase_ratios");
        for (int p = 0; p < SD_FWD_N_PHASES; p++) {
            const char *name = sd_forward_phase_name((sd_forward_phase)p);
            cJSON_AddItemToObject(ph, name, cli_json_number(res->phase[b][p] * 1e3));
            cJSON_AddItemToObject(pr, name, cli_json_number(ratio(res->phase[b][p], res->phase[0][p])));
        }
        cJSON_AddItemToObject(e, "other_ms", cli_json_number(res->other[b] * 1e3));
    }
    return j;
}

static int print_json(const fwd_state *s, const fwd_result *res, char *err, size_t err_len) {
    if (!cli_json_print(stdout, report_json(s, res), false))
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the JSON report");
    return SD_STATUS_OK;
}

/* One row of the per-phase table: ms, share of the pass, ratio to the first batch size, per n. */
static void print_phase_row(const fwd_opts *o, const fwd_result *res, const char *name, const double *ms_of,
                            size_t stride) {
    printf("%-16s", name);
    for (int b = 0; b < o->n_batch; b++) {
        double v = ms_of[(size_t)b * stride], v0 = ms_of[0];
        double r = ratio(v, v0);
        printf(" | %8.3f %5.1f%% ", v * 1e3, 100 * ratio(v, res->total[b]));
        if (isfinite(r))
            printf("%5.2f", r);
        else
            printf("%5s", "-");
    }
    printf("\n");
}

static void print_table(const fwd_state *s, const fwd_result *res) {
    const fwd_opts *o = s->o;
    int n0 = o->batch[0];
    printf("bench-forward: %s (%.1f M params, %.1f MB of weights), %s kernels, %d thread%s%s, past %d, all "
           "logits, median of %d\n",
           o->model, (double)s->model->n_params / 1e6, (double)s->model->weight_bytes / 1e6,
           sd_gemm_kernels_name(s->model->kernels), o->threads, o->threads == 1 ? "" : "s",
           o->measured_pool ? " (measured pool)" : "", o->past, o->repeats);
    printf("read bandwidth (stream, %d thread%s): %.1f GB/s median\n", o->threads, o->threads == 1 ? "" : "s",
           res->stream_bps / 1e9);
    char ratio_head[32];
    snprintf(ratio_head, sizeof ratio_head, "t(n)/t(%d)", n0);
    printf("KV cache %s/%s, %.1f MiB (%d positions%s); peak RSS %.1f MiB\n", sd_cache_type_name(o->cache_k),
           sd_cache_type_name(o->cache_v), (double)sd_forward_kv_bytes(s->fwd) / (1024.0 * 1024.0),
           sd_forward_n_ctx(s->fwd), o->fill > 0 && o->fill < o->past ? ", filled by repetition" : "",
           (double)cli_usage_now().peak_rss_bytes / (1024.0 * 1024.0));
    printf("%5s %10s %10s %10s %7s %9s %8s %8s\n", "n", "ms/pass", ratio_head, "ms/token", "passes",
           "MB/pass", "GB/s", "%stream");
    for (int b = 0; b < o->n_batch; b++) {
        double bps = res->bytes[b] / res->total[b];
        printf("%5d %10.3f %10.3f %10.3f %7d %9.1f %8.2f %7.1f%%\n", o->batch[b], res->total[b] * 1e3,
               ratio(res->total[b], res->total[0]), res->total[b] * 1e3 / o->batch[b], res->passes[b],
               res->bytes[b] / 1e6, bps / 1e9, 100 * ratio(bps, res->stream_bps));
    }
    printf("\nper operation: ms per pass, share of the pass, t_op(n)/t_op(%d)\n", n0);
    printf("%-16s", "op");
    for (int b = 0; b < o->n_batch; b++) {
        char head[32];
        snprintf(head, sizeof head, "n=%d ms", o->batch[b]);
        printf(" | %8s %6s %5s", head, "share", "ratio");
    }
    printf("\n");
    for (int p = 0; p < SD_FWD_N_PHASES; p++)
        print_phase_row(o, res, sd_forward_phase_name((sd_forward_phase)p), &res->phase[0][p],
                        SD_FWD_N_PHASES);
    print_phase_row(o, res, "other", res->other, 1);
    print_phase_row(o, res, "total", res->total, 1);
}

/* Runs the benchmark after argument parsing; returns an exit code. */
static int bench_run(const fwd_opts *o, const char *prog) {
    char err[256] = "";
    fwd_state s;
    fwd_result res;
    memset(&res, 0, sizeof res);
    int rc = state_setup(&s, o, err, sizeof err);
    if (rc == SD_STATUS_OK) rc = calibrate(&s, &res, err, sizeof err);
    for (int b = 0; rc == SD_STATUS_OK && b < o->n_batch; b++)
        res.bytes[b] = pass_bytes(s.model, o, o->batch[b], o->past);
    if (rc == SD_STATUS_OK) rc = measure(&s, &res, err, sizeof err);
    if (rc == SD_STATUS_OK && o->json) rc = print_json(&s, &res, err, sizeof err);
    if (rc == SD_STATUS_OK && !o->json) print_table(&s, &res);
    if (rc != SD_STATUS_OK) fprintf(stderr, "%s: %s\n", prog, err);
    state_release(&s);
    return rc == SD_STATUS_OK ? 0 : 1;
}

int sd_bench_forward_main(int argc, char **argv) {
    const char *prog = argc > 0 && argv[0] ? argv[0] : "bench-forward";
    fwd_opts o;
    int rc = parse_args(argc, argv, prog, &o);
    return rc >= 0 ? rc : bench_run(&o, prog);
}
