/* `specdec bench-gemm`: how the cost of y[n][m] = x[n][k] . W[m][k]^T grows with the batch n, against
 * the machine's streaming read bandwidth and against OpenBLAS sgemm on the dequantized matrix.
 *
 * Method: enough distinct random matrices of the asked shape that together they exceed the last-level
 * cache (so every call streams its weights from memory, as decode does), called in a cycle. A sample is
 * the mean time per call over whole cycles lasting about SAMPLE_SECONDS; repeats are interleaved across
 * batch sizes (and with the bandwidth measurement) so that machine noise hits all of them alike, and the
 * median of the repeats is reported.
 *
 * Rooflines: a call cannot beat reading its weight bytes at the stream bandwidth, nor doing its n * m * k
 * multiply-accumulates at the kernel set's int8 peak (sd_gemm_mac_peak: the set's dot-product sequence
 * on registers, all threads, measured interleaved with the rest). "% roofline" is
 * max(bytes / bandwidth, MACs / peak) over the measured time. */
#include "bench.h"
#include "bench_common.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/args.h"
#include "cli/json.h"
#include "common/sd_common.h"
#include "gemm/gemm.h"

#define MAX_BATCHES 32
#define MAX_BATCH 4096
#define MAX_CPUS 256
#define SAMPLE_SECONDS 0.03
#define PEAK_SECONDS 0.01 /* per peak sample */
#define LLC_FALLBACK (32u << 20)

typedef struct bench_opts {
    sd_type type;
    int32_t m, k;
    int32_t batch[MAX_BATCHES];
    int n_batch;
    int32_t threads;
    int32_t repeats;
    int32_t cpus[MAX_CPUS];
    int n_cpus;
    int32_t llc_mb;      /* 0: detect */
    const char *kernels; /* NULL: $SPECDEC_KERNELS, else the best set */
    bool blas;
    bool json;
} bench_opts;

/* Results per batch size; times are seconds per call (median over repeats). */
typedef struct bench_result {
    double seconds[MAX_BATCHES];
    double blas_seconds[MAX_BATCHES];
    double stream_gbps;      /* median pass */
    double stream_best_gbps; /* fastest pass: the machine's capability when the noise lets up */
    double peak_gmacs;       /* int8 MAC peak of the kernel set, all threads, median sample; 0: unknown */
    double peak_best_gmacs;
} bench_result;

typedef struct bench_state {
    const bench_opts *o;
    const sd_kernel_set *kernels; /* the set every product runs on */
    sd_pool *pool;
    sd_weight *w;  /* [n_mats] */
    void **w_data; /* [n_mats], 64-byte aligned, owned */
    int n_mats;
    size_t mat_bytes; /* quantized bytes of one matrix */
    float **blas_w;   /* [n_blas][m][k] fp32 dequantized copies */
    int n_blas;
    float *x; /* [max_n][k] */
    float *y; /* [max_n][m] */
    void *scratch;
    int passes[MAX_BATCHES]; /* cycles over the matrix set per sample, per batch size */
    int blas_passes[MAX_BATCHES];
} bench_state;

static void usage(FILE *f, const cli_command *c) {
    fprintf(f,
            "usage: %s [--type q4_0] [--m ROWS --k COLS] [--batch 1,2,4,8,16] [-t THREADS] [--repeat N]\n"
            "          [--cpus LIST] [--llc-mb MB] [--kernels SET] [--no-blas] [--json]\n"
            "Times y[n][m] = x[n][k] . W[m][k]^T for each batch size n over a set of random matrices larger\n"
            "than the last-level cache, and reports seconds per call (median of N interleaved repeats), "
            "GB/s\n"
            "of weight bytes read, GMAC/s and t(n)/t(n0) (n0 = first batch size), next to the machine's\n"
            "streaming read bandwidth with the same threads and OpenBLAS sgemm on the dequantized matrix.\n",
            (const char *)c->user);
    cli_print_flags(f, c);
}

/* --type: a weight type by name, any case. */
static bool read_type(const char *name, const cli_flag *f) {
    for (uint32_t t = 0; t < SD_TYPE_COUNT; t++) {
        const sd_type_traits *tr = sd_type_traits_of(t);
        if (tr && strcasecmp(tr->name, name) == 0) {
            *(sd_type *)f->out.any = (sd_type)t;
            return true;
        }
    }
    return false;
}

/* Fills o from argv; returns -1 to go on, else the exit code (0 after --help, 2 on a bad flag). */
static int parse_args(int argc, char **argv, const char *prog, bench_opts *o) {
    *o = (bench_opts){.type = SD_TYPE_Q4_0,
                      .m = 4096,
                      .k = 4096,
                      .batch = {1, 2, 4, 8, 16},
                      .n_batch = 5,
                      .threads = sd_bench_allowed_cpus(),
                      .repeats = 15,
                      .blas = true};
    const cli_flag flags[] = {
        {"--type", NULL, CLI_CUSTOM, .out.any = &o->type, .parse = read_type,
         .want = "a weight type specdec multiplies (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, q2_K ... q6_K, "
                 "iq4_xs, f32, f16, bf16)",
         .arg = "T",
         .help = "weight type: q4_0 (default), q4_1, q5_0, q5_1, q8_0, iq4_nl, q2_K, q3_K, q4_K, q5_K, q6_K, "
                 "iq4_xs, f32, f16, bf16"},
        {"--m", NULL, CLI_INT, .out.i = &o->m, 1, 1 << 20, .label = "--m, --k",
         .help = "matrix rows (outputs) and columns (inputs); default 4096 x 4096"},
        {"--k", NULL, CLI_INT, .out.i = &o->k, 1, 1 << 20},
        {"--batch", NULL, CLI_INT_LIST, .out.i = o->batch, 1, MAX_BATCH, .cap = MAX_BATCHES,
         .count = &o->n_batch, .arg = "LIST", .help = "comma-separated batch sizes; default 1,2,4,8,16"},
        {"-t", "--threads", CLI_INT, .out.i = &o->threads, 1, 256, .label = "-t N",
         .help = "threads (default: the CPUs this process may use)"},
        {"--repeat", NULL, CLI_INT, .out.i = &o->repeats, 1, 10000, .arg = "N",
         .help = "repeats per batch size (default 15)"},
        {"--cpus", NULL, CLI_INT_LIST, .out.i = o->cpus, 0, CPU_SETSIZE - 1, .cap = MAX_CPUS,
         .count = &o->n_cpus, .arg = "LIST", .help = "pin worker i to CPU LIST[i % len] (default: unpinned)"},
        {"--llc-mb", NULL, CLI_INT, .out.i = &o->llc_mb, 1, 1 << 20, .arg = "MB",
         .help = "last-level cache size to exceed (default: read from /sys, else 32)"},
        CLI_KERNELS_FLAG(&o->kernels),
        {"--no-blas", NULL, CLI_FALSE, .out.b = &o->blas, .help = "skip the OpenBLAS comparison"},
        {"--json", NULL, CLI_TRUE, .out.b = &o->json, .help = "print one JSON object instead of a table"},
        {"-h", "--help", .kind = CLI_HELP},
    };
    const cli_command c = {"bench-gemm", flags, CLI_COUNT(flags), usage, 14, false, prog};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    const sd_type_traits *tr = sd_type_traits_of(o->type);
    if (o->k % tr->block_size != 0) {
        char want[64], got[16];
        snprintf(want, sizeof want, "a multiple of %s's block size %lld", tr->name,
                 (long long)tr->block_size);
        snprintf(got, sizeof got, "%d", o->k);
        cli_flag_error(&c, "--k", want, got);
        return 2;
    }
    return -1;
}

/* splitmix64: a fixed seed keeps runs comparable. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static float random_float(uint64_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)(next_random(state) >> 40) * (1.0f / 16777216.0f);
}

static void fill_random_bytes(uint64_t *state, uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_random(state);
}

/* A sane fp16 scale: values of order 1e-2, like trained weights. */
static uint16_t random_scale(uint64_t *state) {
    return sd_fp32_to_fp16(random_float(state, 0.002f, 0.02f));
}

/* Fills one row of random but valid blocks of type t (random quants, sane scales). */
static void fill_random_row(uint64_t *st, sd_type t, uint8_t *row, int64_t k) {
    switch (t) {
    case SD_TYPE_Q4_0:
        for (sd_block_q4_0 *b = (sd_block_q4_0 *)row, *e = b + k / SD_QK4_0; b < e; b++) {
            b->d = random_scale(st);
            fill_random_bytes(st, b->qs, sizeof b->qs);
        }
        break;
    case SD_TYPE_Q8_0:
        for (sd_block_q8_0 *b = (sd_block_q8_0 *)row, *e = b + k / SD_QK8_0; b < e; b++) {
            b->d = random_scale(st);
            for (int i = 0; i < SD_QK8_0; i++)
                b->qs[i] = (int8_t)((int)(next_random(st) % 255) - 127);
        }
        break;
    case SD_TYPE_Q4_K:
        for (sd_block_q4_k *b = (sd_block_q4_k *)row, *e = b + k / SD_QK_K; b < e; b++) {
            b->d = random_scale(st);
            b->dmin = random_scale(st);
            fill_random_bytes(st, b->scales, sizeof b->scales);
            fill_random_bytes(st, b->qs, sizeof b->qs);
        }
        break;
    case SD_TYPE_Q6_K:
        for (sd_block_q6_k *b = (sd_block_q6_k *)row, *e = b + k / SD_QK_K; b < e; b++) {
            fill_random_bytes(st, b->ql, sizeof b->ql);
            fill_random_bytes(st, b->qh, sizeof b->qh);
            for (int i = 0; i < SD_QK_K / 16; i++)
                b->scales[i] = (int8_t)((int)(next_random(st) % 127) - 63);
            b->d = sd_fp32_to_fp16(random_float(st, 0.0001f, 0.001f));
        }
        break;
    case SD_TYPE_F32:
        for (int64_t i = 0; i < k; i++)
            ((float *)row)[i] = random_float(st, -1.0f, 1.0f);
        break;
    case SD_TYPE_F16:
        for (int64_t i = 0; i < k; i++)
            ((uint16_t *)row)[i] = sd_fp32_to_fp16(random_float(st, -1.0f, 1.0f));
        break;
    case SD_TYPE_BF16:
        for (int64_t i = 0; i < k; i++)
            ((uint16_t *)row)[i] = sd_fp32_to_bf16(random_float(st, -1.0f, 1.0f));
        break;
    default: { /* the other quantized types: random bytes, sane fp16 scales */
        const sd_type_traits *tr = sd_type_traits_of(t);
        fill_random_bytes(st, row, sd_type_row_bytes(t, k));
        int off[2];
        const int n_fields = sd_block_fp16_fields(t, off);
        for (int64_t b = 0; b < k / tr->block_size; b++) {
            for (int f = 0; f < n_fields; f++) {
                const uint16_t h = random_scale(st);
                memcpy(row + (size_t)b * tr->type_size + (size_t)off[f], &h, sizeof h);
            }
        }
        break;
    }
    }
}

static int type_fillable(sd_type t) {
    const sd_type_traits *tr = sd_type_traits_of(t);
    return tr && tr->supported;
}

static void *alloc64(size_t bytes) {
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* Matrices needed for the set to be at least twice the LLC (at least 2). */
static int set_size(size_t llc, size_t one) {
    size_t n = (2 * llc + one - 1) / one;
    return (int)SD_MAX(n, (size_t)2);
}

static void bench_release(bench_state *s) {
    for (int i = 0; i < s->n_mats; i++) {
        if (s->w_data && s->w_data[i]) sd_weight_release(&s->w[i]);
        if (s->w_data) free(s->w_data[i]);
    }
    for (int i = 0; i < s->n_blas; i++)
        free(s->blas_w[i]);
    free(s->blas_w);
    free(s->w);
    free(s->w_data);
    free(s->x);
    free(s->y);
    free(s->scratch);
    sd_pool_free(s->pool);
    memset(s, 0, sizeof *s);
}

/* Creates the pool, the random matrix set and the buffers. */
static int bench_setup(bench_state *s, const bench_opts *o, size_t llc, char *err, size_t err_len) {
    memset(s, 0, sizeof *s);
    s->o = o;
    int rc = sd_gemm_kernels_select(o->kernels, &s->kernels, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    rc = sd_pool_create(&s->pool, o->threads, o->n_cpus ? o->cpus : NULL, o->n_cpus, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    sd_pool_pin_caller(s->pool);
    if (!type_fillable(o->type))
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "bench-gemm cannot generate %s weights",
                        sd_type_traits_of(o->type)->name);

    size_t row_bytes = sd_type_row_bytes(o->type, o->k);
    s->mat_bytes = row_bytes * (size_t)o->m;
    int n_mats = set_size(llc, s->mat_bytes);
    s->w = calloc((size_t)n_mats, sizeof *s->w);
    s->w_data = calloc((size_t)n_mats, sizeof *s->w_data);
    if (!s->w || !s->w_data) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    uint64_t seed = 42;
    for (int i = 0; i < n_mats; i++) {
        uint8_t *data = alloc64(s->mat_bytes);
        if (!data) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for matrix %d", i);
        s->n_mats = i + 1;
        for (int64_t r = 0; r < o->m; r++)
            fill_random_row(&seed, o->type, data + (size_t)r * row_bytes, o->k);
        rc = sd_weight_init_with(&s->w[i], s->kernels, o->type, o->m, o->k, data, err, err_len);
        if (rc != SD_STATUS_OK) {
            free(data);
            return rc;
        }
        s->w_data[i] = data;
    }

    int max_n = 1;
    size_t scratch = 64;
    for (int b = 0; b < o->n_batch; b++) {
        max_n = SD_MAX(max_n, o->batch[b]);
        scratch = SD_MAX(scratch, sd_gemm_scratch_bytes(&s->w[0], o->batch[b], o->threads));
    }
    s->x = alloc64(sizeof(float) * (size_t)max_n * (size_t)o->k);
    s->y = alloc64(sizeof(float) * (size_t)max_n * (size_t)o->m);
    s->scratch = alloc64(scratch);
    if (!s->x || !s->y || !s->scratch) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < (size_t)max_n * (size_t)o->k; i++)
        s->x[i] = random_float(&seed, -1.0f, 1.0f);
    memset(s->y, 0, sizeof(float) * (size_t)max_n * (size_t)o->m);
    return SD_STATUS_OK;
}

/* Dequantized fp32 copies for OpenBLAS, again enough to exceed the LLC. */
static int blas_setup(bench_state *s, size_t llc, char *err, size_t err_len) {
    const bench_opts *o = s->o;
    size_t row_bytes = sd_type_row_bytes(o->type, o->k);
    size_t bytes = sizeof(float) * (size_t)o->m * (size_t)o->k;
    int n = set_size(llc, bytes);
    s->blas_w = calloc((size_t)n, sizeof *s->blas_w);
    if (!s->blas_w) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) {
        float *w = alloc64(bytes);
        if (!w) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for fp32 matrix %d", i);
        s->blas_w[i] = w;
        s->n_blas = i + 1;
        const uint8_t *src = s->w_data[i % s->n_mats];
        for (int64_t r = 0; r < o->m; r++)
            sd_dequantize_row(o->type, src + (size_t)r * row_bytes, w + (size_t)r * (size_t)o->k, o->k);
    }
    return SD_STATUS_OK;
}

/* Seconds per call of `passes` cycles over the set at batch size n. */
static double time_quant(bench_state *s, int n, int passes) {
    double t0 = sd_time_seconds();
    for (int p = 0; p < passes; p++)
        for (int i = 0; i < s->n_mats; i++)
            sd_gemm(&s->w[i], s->x, n, s->y, s->scratch, s->pool);
    return (sd_time_seconds() - t0) / ((double)passes * s->n_mats);
}

static double time_blas(bench_state *s, int n, int passes) {
    const bench_opts *o = s->o;
    int m = (int)o->m, k = (int)o->k;
    double t0 = sd_time_seconds();
    for (int p = 0; p < passes; p++)
        for (int i = 0; i < s->n_blas; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, s->x, k, s->blas_w[i], k,
                        0.0f, s->y, m);
    return (sd_time_seconds() - t0) / ((double)passes * s->n_blas);
}

typedef double (*time_fn)(bench_state *s, int n, int passes);

/* Warms up each batch size once and picks passes so a sample lasts about SAMPLE_SECONDS. */
static void calibrate(bench_state *s, time_fn fn, int n_set, int *passes) {
    for (int b = 0; b < s->o->n_batch; b++) {
        double per_call = fn(s, s->o->batch[b], 1);
        double want = SAMPLE_SECONDS / (per_call * n_set);
        passes[b] = (int)SD_MAX(1.0, SD_MIN(1000.0, ceil(want)));
    }
}

/* Repeats interleaved across batch sizes (and with a stream pass and a MAC peak sample when `stream` is
 * given); medians into out[] and res's stream and peak figures. samples holds repeats * (n_batch + 2)
 * doubles. */
static void measure(bench_state *s, time_fn fn, const int *passes, sd_stream *stream, double *samples,
                    double *out, bench_result *res) {
    const bench_opts *o = s->o;
    int r_n = o->repeats;
    for (int r = 0; r < r_n; r++) {
        if (stream) {
            samples[(size_t)o->n_batch * r_n + r] = sd_stream_read_pass(stream);
            samples[(size_t)(o->n_batch + 1) * r_n + r] = sd_gemm_mac_peak(s->kernels, s->pool, PEAK_SECONDS);
        }
        for (int b = 0; b < o->n_batch; b++)
            samples[(size_t)b * r_n + r] = fn(s, o->batch[b], passes[b]);
    }
    for (int b = 0; b < o->n_batch; b++)
        out[b] = sd_bench_median_sort(samples + (size_t)b * r_n, r_n);
    if (stream) {
        double *t = samples + (size_t)o->n_batch * r_n;
        res->stream_gbps = (double)sd_stream_bytes(stream) / sd_bench_median_sort(t, r_n) / 1e9;
        res->stream_best_gbps =
            (double)sd_stream_bytes(stream) / t[0] / 1e9; /* sorted by sd_bench_median_sort() */
        double *pk = samples + (size_t)(o->n_batch + 1) * r_n;
        res->peak_gmacs = sd_bench_median_sort(pk, r_n) / 1e9;
        res->peak_best_gmacs = pk[r_n - 1] / 1e9; /* ascending */
    }
}

static void add_numbers(cJSON *j, const char *name, const double *v, int n) {
    cJSON_AddItemToObject(j, name, cli_json_numbers(v, n, true));
}

/* Derived figures for one timing series. */
typedef struct series {
    double gbps[MAX_BATCHES], gmacs[MAX_BATCHES], ratio[MAX_BATCHES];
} series;

/* Roofline of each batch size: the larger of the weight read at stream bandwidth and the MACs at the
 * set's peak (seconds), and the measured time's share of it (1: on the roofline). */
typedef struct roofline {
    double seconds[MAX_BATCHES], fraction[MAX_BATCHES], compute_fraction[MAX_BATCHES];
    bool compute_bound[MAX_BATCHES];
} roofline;

static void derive_roofline(const bench_opts *o, const bench_result *res, size_t weight_bytes,
                            roofline *out) {
    for (int b = 0; b < o->n_batch; b++) {
        const double t_mem = (double)weight_bytes / (res->stream_gbps * 1e9);
        const double macs = (double)o->batch[b] * (double)o->m * (double)o->k;
        const double t_mac = res->peak_gmacs > 0 ? macs / (res->peak_gmacs * 1e9) : 0.0;
        out->seconds[b] = SD_MAX(t_mem, t_mac);
        out->fraction[b] = out->seconds[b] / res->seconds[b];
        out->compute_fraction[b] = t_mac / res->seconds[b];
        out->compute_bound[b] = t_mac > t_mem;
    }
}

static void derive(const bench_opts *o, const double *sec, size_t weight_bytes, series *out) {
    for (int b = 0; b < o->n_batch; b++) {
        out->gbps[b] = (double)weight_bytes / sec[b] / 1e9;
        out->gmacs[b] = (double)o->batch[b] * (double)o->m * (double)o->k / sec[b] / 1e9;
        out->ratio[b] = sec[b] / sec[0];
    }
}

/* Prints the table, or the JSON object; false when out of memory for the JSON. */
static bool report(const bench_state *s, const bench_result *res, size_t llc) {
    const bench_opts *o = s->o;
    const char *tname = sd_type_traits_of(o->type)->name;
    size_t blas_bytes = sizeof(float) * (size_t)o->m * (size_t)o->k;
    series q, bl;
    roofline roof;
    derive(o, res->seconds, s->mat_bytes, &q);
    derive_roofline(o, res, s->mat_bytes, &roof);
    if (o->blas) derive(o, res->blas_seconds, blas_bytes, &bl);
    double frac[MAX_BATCHES], batch[MAX_BATCHES], speedup[MAX_BATCHES];
    for (int b = 0; b < o->n_batch; b++) {
        frac[b] = q.gbps[b] / res->stream_gbps;
        batch[b] = o->batch[b];
        speedup[b] = o->blas ? res->blas_seconds[b] / res->seconds[b] : 0;
    }
    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "type", tname);
        cJSON_AddStringToObject(j, "kernels", sd_gemm_kernels_name(s->kernels));
        cJSON_AddNumberToObject(j, "m", o->m);
        cJSON_AddNumberToObject(j, "k", o->k);
        cJSON_AddNumberToObject(j, "threads", o->threads);
        cJSON_AddNumberToObject(j, "repeats", o->repeats);
        cJSON_AddNumberToObject(j, "matrices", s->n_mats);
        cJSON_AddNumberToObject(j, "weight_bytes", (double)s->mat_bytes);
        cJSON_AddNumberToObject(j, "llc_bytes", (double)llc);
        add_numbers(j, "batch", batch, o->n_batch);
        add_numbers(j, "seconds", res->seconds, o->n_batch);
        add_numbers(j, "gbps", q.gbps, o->n_batch);
        add_numbers(j, "gmacs", q.gmacs, o->n_batch);
        add_numbers(j, "ratio", q.ratio, o->n_batch);
        add_numbers(j, "stream_fraction", frac, o->n_batch);
        add_numbers(j, "roofline_seconds", roof.seconds, o->n_batch);
        add_numbers(j, "roofline_fraction", roof.fraction, o->n_batch);
        add_numbers(j, "compute_fraction", roof.compute_fraction, o->n_batch);
        if (o->blas) {
            add_numbers(j, "blas_seconds", res->blas_seconds, o->n_batch);
            add_numbers(j, "blas_gbps", bl.gbps, o->n_batch);
            add_numbers(j, "blas_gmacs", bl.gmacs, o->n_batch);
            add_numbers(j, "blas_ratio", bl.ratio, o->n_batch);
            add_numbers(j, "speedup_vs_blas", speedup, o->n_batch);
        }
        cJSON_AddItemToObject(j, "stream_gbps", cli_json_number_6g(res->stream_gbps));
        cJSON_AddItemToObject(j, "stream_best_gbps", cli_json_number_6g(res->stream_best_gbps));
        cJSON_AddItemToObject(j, "mac_peak_gmacs", cli_json_number_6g(res->peak_gmacs));
        cJSON_AddItemToObject(j, "mac_peak_best_gmacs", cli_json_number_6g(res->peak_best_gmacs));
        return cli_json_print(stdout, j, false);
    }
    printf("bench-gemm: %s m=%lld k=%lld, %s kernels, %d thread%s, %d matrices of %.3g MB (LLC %.0f MB), "
           "median of %d\n",
           tname, (long long)o->m, (long long)o->k, sd_gemm_kernels_name(s->kernels), o->threads,
           o->threads == 1 ? "" : "s", s->n_mats, (double)s->mat_bytes / 1e6, (double)llc / (1 << 20),
           o->repeats);
    printf("read bandwidth (stream, %d thread%s): %.1f GB/s median, %.1f best\n", o->threads,
           o->threads == 1 ? "" : "s", res->stream_gbps, res->stream_best_gbps);
    printf("int8 MAC peak (%s, %d thread%s): %.1f GMAC/s median, %.1f best\n",
           sd_gemm_kernels_name(s->kernels), o->threads, o->threads == 1 ? "" : "s", res->peak_gmacs,
           res->peak_best_gmacs);
    printf("%5s %10s %8s %8s %8s %9s %8s %6s", "n", "ms/call", "GB/s", "%stream", "GMAC/s", "t(n)/t0",
           "%roof", "bound");
    if (o->blas) printf(" | %10s %8s %9s %8s", "blas ms", "GMAC/s", "t(n)/t0", "vs blas");
    printf("\n");
    for (int b = 0; b < o->n_batch; b++) {
        printf("%5d %10.4f %8.2f %7.1f%% %8.2f %9.3f %7.1f%% %6s", o->batch[b], res->seconds[b] * 1e3,
               q.gbps[b], 100 * frac[b], q.gmacs[b], q.ratio[b], 100 * roof.fraction[b],
               roof.compute_bound[b] ? "MACs" : "bytes");
        if (o->blas)
            printf(" | %10.4f %8.2f %9.3f %7.2fx", res->blas_seconds[b] * 1e3, bl.gmacs[b], bl.ratio[b],
                   speedup[b]);
        printf("\n");
    }
    return true;
}

/* Runs the benchmark after argument parsing; returns an exit code. */
static int bench_run(const bench_opts *o, const char *prog) {
    char err[256] = "";
    bench_state s;
    bench_result res;
    memset(&res, 0, sizeof res);
    sd_stream *stream = NULL;
    double *samples = NULL;
    size_t llc = o->llc_mb ? (size_t)o->llc_mb << 20 : sd_bench_llc_bytes(LLC_FALLBACK);
    int rc = bench_setup(&s, o, llc, err, sizeof err);
    if (rc == SD_STATUS_OK) rc = sd_stream_create(&stream, 8 * llc, s.pool, err, sizeof err);
    samples = calloc((size_t)o->repeats * (size_t)(o->n_batch + 2), sizeof *samples);
    if (rc == SD_STATUS_OK && !samples) rc = sd_error(err, sizeof err, SD_STATUS_NO_MEMORY, "out of memory");
    if (rc == SD_STATUS_OK) {
        /* Ours first: OpenBLAS threads spin for a while after each call and would perturb our samples. */
        calibrate(&s, time_quant, s.n_mats, s.passes);
        measure(&s, time_quant, s.passes, stream, samples, res.seconds, &res);
    }
    if (rc == SD_STATUS_OK && o->blas) rc = blas_setup(&s, llc, err, sizeof err);
    if (rc == SD_STATUS_OK && o->blas) {
        openblas_set_num_threads(o->threads);
        calibrate(&s, time_blas, s.n_blas, s.blas_passes);
        measure(&s, time_blas, s.blas_passes, NULL, samples, res.blas_seconds, &res);
    }
    if (rc == SD_STATUS_OK && !report(&s, &res, llc))
        rc = sd_error(err, sizeof err, SD_STATUS_NO_MEMORY, "out of memory for the JSON report");
    if (rc != SD_STATUS_OK) fprintf(stderr, "%s: %s\n", prog, err);
    free(samples);
    sd_stream_free(stream);
    bench_release(&s);
    return rc == SD_STATUS_OK ? 0 : 1;
}

int sd_bench_gemm_main(int argc, char **argv) {
    const char *prog = argc > 0 && argv[0] ? argv[0] : "bench-gemm";
    bench_opts o;
    int rc = parse_args(argc, argv, prog, &o);
    return rc >= 0 ? rc : bench_run(&o, prog);
}
