/* The forward pass of every architecture model.h lists, as llama.cpp computes it: embeddings (scaled for
 * Gemma), n_layer blocks of (RMSNorm, attention with RoPE and GQA, RMSNorm, gated feed-forward) with
 * residuals (Gemma: each branch RMS-normed again before its add), final norm, the output projection
 * (soft-capped for Gemma 2). */
#include "forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention.h"
#include "pool_choice.h"
#include "common/sd_common.h"

/* Rows of logits a state keeps (speculative verification needs k + 1 rows; prefill needs one). */
#define MAX_LOGIT_ROWS 64
/* Passes of up to this many rows are measured (sd_forward_set_measured_pool): decode steps, verify passes
 * and a draft's catch-up; prompt chunks larger than it use the pool. */
#define MEASURED_MAX_ROWS (SD_MAX_DRAFT_LEN + 1)
#define MEASURED_SIZE_CLASSES 5

struct sd_forward {
    const sd_model *m;
    sd_pool *pool;
    int32_t n_ctx, max_batch, logit_rows, n_past;
    int32_t last_n; /* rows of the last run, for sd_forward_logits */
    bool last_all_logits;
    int n_workers;
    /* KV cache: [n_layer][n_head_kv] heads of head_key_bytes (keys) and head_value_bytes (values), each
     * in its type's layout (attention.h), which the attention kernel reads as stored. */
    sd_cache_type type_k, type_v;
    size_t head_key_bytes, head_value_bytes;
    void *k_cache, *v_cache;
    float *zero_key; /* [head_dim] zeros, stored in the padding after the last key */
    /* per-batch buffers, [max_batch][width] */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    /* [2][max_batch][n_rot / 2]: the global layers' RoPE, then the sliding-window layers' */
    float *rope_cos, *rope_sin;
    const float *rope_factors; /* the model's frequency divisors for this context (LongRoPE: short or long) */
    float *scores;             /* [n_workers][sd_attention_scratch_floats] attention weights */
    float *logits;             /* [logit_rows][n_vocab] */
    void *gemm_scratch;
    size_t gemm_scratch_bytes;
    bool measured_pool; /* small passes run where pool_choice says (sd_forward_set_measured_pool) */
    sd_pool_choice pool_choice[MEASURED_SIZE_CLASSES]; /* one per class of pass size, see size_class */
    sd_forward_profile *profile;                       /* NULL: not timed */
    double phase_start; /* sd_time_seconds() at the end of the previous phase */
};

void sd_forward_set_profile(sd_forward *f, sd_forward_profile *profile) {
    f->profile = profile;
}

const char *sd_forward_phase_name(sd_forward_phase phase) {
    static const char *const names[SD_FWD_N_PHASES] = {
        "norms, residuals", "q k v",          "rope, kv store", "attention",
        "attn output",      "gate up swiglu", "down",           "output"};
    return phase >= 0 && phase < SD_FWD_N_PHASES ? names[phase] : "?";
}

/* Ends a phase: charges the time since the previous phase ended to `phase`. */
static void phase_end(sd_forward *f, sd_forward_phase phase) {
    if (!f->profile) return;
    double now = sd_time_seconds();
    f->profile->seconds[phase] += now - f->phase_start;
    f->phase_start = now;
}

static size_t kv_dim(const sd_hparams *hp) {
    return (size_t)hp->n_head_kv * (size_t)hp->head_dim;
}

/* Bytes of the whole key cache and value cache. */
static uint64_t key_cache_bytes(const sd_hparams *hp, int32_t n_ctx, sd_cache_type type) {
    return (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv *
           sd_attention_key_bytes(type, hp->head_dim, n_ctx);
}

static uint64_t value_cache_bytes(const sd_hparams *hp, int32_t n_ctx, sd_cache_type type) {
    return (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv *
           sd_attention_value_bytes(type, hp->head_dim, n_ctx);
}

static int kv_group(const sd_hparams *hp) {
    return hp->n_head / hp->n_head_kv;
}

static size_t max_gemm_scratch(const sd_model *m, int32_t n, int n_workers) {
    size_t best = sd_gemm_scratch_bytes(&m->output, SD_MIN(n, MAX_LOGIT_ROWS), n_workers);
    for (int il = 0; il < m->hp.n_layer; il++) {
        const sd_layer *ly = &m->layers[il];
        const sd_weight *qkv[] = {&ly->wq, &ly->wk, &ly->wv}, *gate_up[] = {&ly->w_gate, &ly->w_up};
        best = SD_MAX(best, sd_gemm_multi_scratch_bytes(qkv, 3, n, n_workers));
        best = SD_MAX(best, sd_gemm_multi_scratch_bytes(gate_up, 2, n, n_workers));
        best = SD_MAX(best, sd_gemm_scratch_bytes(&ly->wo, n, n_workers));
        best = SD_MAX(best, sd_gemm_scratch_bytes(&ly->w_down, n, n_workers));
    }
    return best;
}

uint64_t sd_forward_kv_bytes_needed(const sd_model *m, int32_t n_ctx, sd_cache_type type_k,
                                    sd_cache_type type_v) {
    return key_cache_bytes(&m->hp, n_ctx, type_k) + value_cache_bytes(&m->hp, n_ctx, type_v);
}

uint64_t sd_forward_bytes_needed(const sd_model *m, int32_t n_ctx, int32_t max_batch, int n_workers,
                                 sd_cache_type type_k, sd_cache_type type_v) {
    const sd_hparams *hp = &m->hp;
    uint64_t dq = (uint64_t)hp->n_head * (uint64_t)hp->head_dim, dkv = kv_dim(hp);
    uint64_t batch = (uint64_t)max_batch * (2ull * (uint64_t)hp->n_embd + 2 * dq + 2 * dkv +
                                            2ull * (uint64_t)hp->n_ff + 2ull * (uint64_t)hp->n_rot);
    uint64_t rest = (uint64_t)n_workers * sd_attention_scratch_floats(kv_group(hp), max_batch, n_ctx) +
                    (uint64_t)SD_MIN(max_batch, MAX_LOGIT_ROWS) * (uint64_t)hp->n_vocab;
    return (batch + rest) * sizeof(float) + max_gemm_scratch(m, max_batch, n_workers) +
           sd_forward_kv_bytes_needed(m, n_ctx, type_k, type_v);
}

static void *alloc_floats(size_t n, bool *failed) {
    void *p = NULL;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        *failed = true;
        return NULL;
    }
    return p;
}

int sd_forward_create(const sd_model *m, int32_t n_ctx, int32_t max_batch, sd_pool *pool, sd_forward **out,
                      char *err, size_t err_len) {
    return sd_forward_create_cached(m, n_ctx, max_batch, SD_CACHE_F16, SD_CACHE_F16, pool, out, err, err_len);
}

int sd_forward_create_cached(const sd_model *m, int32_t n_ctx, int32_t max_batch, sd_cache_type type_k,
                             sd_cache_type type_v, sd_pool *pool, sd_forward **out, char *err,
                             size_t err_len) {
    *out = NULL;
    const sd_hparams *hp = &m->hp;
    if (n_ctx < 1 || max_batch < 1)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "context (%d) and batch (%d) must be positive", n_ctx, max_batch);
    const sd_cache_type types[2] = {type_k, type_v};
    for (int i = 0; i < 2; i++) {
        if (types[i] != SD_CACHE_F16 && types[i] != SD_CACHE_F32 && types[i] != SD_CACHE_Q8_0)
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown KV cache type %d",
                            (int)types[i]);
        if (!sd_attention_cache_type_fits(types[i], hp->head_dim))
            return sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                            "a %s KV cache needs a head size that is a multiple of %d, not %d",
                            sd_cache_type_name(types[i]), SD_ATTN_Q8_BLOCK, hp->head_dim);
    }
    int n_workers = pool ? sd_pool_n_workers(pool) : 1;
    uint64_t need = sd_forward_bytes_needed(m, n_ctx, max_batch, n_workers, type_k, type_v);
    /* Refuse up front what physical memory cannot hold, rather than failing later or swapping. */
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page_size > 0 && need > (uint64_t)pages * (uint64_t)page_size)
        return sd_error(
            err, err_len, SD_STATUS_NO_MEMORY,
            "a context of %d tokens needs %.1f MiB (KV cache and buffers), more than this machine's "
            "%.1f MiB of memory",
            n_ctx, (double)need / (1024.0 * 1024.0), (double)pages * (double)page_size / (1024.0 * 1024.0));
    sd_forward *f = calloc(1, sizeof *f);
    if (!f) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    f->m = m;
    f->pool = pool;
    f->n_ctx = n_ctx;
    f->max_batch = max_batch;
    f->logit_rows = SD_MIN(max_batch, MAX_LOGIT_ROWS);
    f->n_workers = n_workers;
    f->type_k = type_k;
    f->type_v = type_v;
    f->head_key_bytes = sd_attention_key_bytes(type_k, hp->head_dim, n_ctx);
    f->head_value_bytes = sd_attention_value_bytes(type_v, hp->head_dim, n_ctx);
    /* LongRoPE: llama.cpp takes the long factors only for a context beyond the original one. */
    f->rope_factors =
        m->rope_factors_long && n_ctx > hp->n_ctx_orig ? m->rope_factors_long : m->rope_freq_factors;
    size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim, dkv = kv_dim(hp), mb = (size_t)max_batch;
    bool failed = need > (uint64_t)SIZE_MAX / 2;
    if (!failed) {
        f->k_cache = alloc_floats((size_t)key_cache_bytes(hp, n_ctx, type_k) / sizeof(float), &failed);
        f->v_cache = alloc_floats((size_t)value_cache_bytes(hp, n_ctx, type_v) / sizeof(float), &failed);
        f->zero_key = alloc_floats((size_t)hp->head_dim, &failed);
        if (f->zero_key) memset(f->zero_key, 0, (size_t)hp->head_dim * sizeof(float));
        f->x = alloc_floats(mb * (size_t)hp->n_embd, &failed);
        f->xn = alloc_floats(mb * (size_t)hp->n_embd, &failed);
        f->q = alloc_floats(mb * dq, &failed);
        f->att = alloc_floats(mb * dq, &failed);
        f->k = alloc_floats(mb * dkv, &failed);
        f->v = alloc_floats(mb * dkv, &failed);
        f->gate = alloc_floats(mb * (size_t)hp->n_ff, &failed);
        f->up = alloc_floats(mb * (size_t)hp->n_ff, &failed);
        f->rope_cos = alloc_floats(2 * mb * (size_t)(hp->n_rot / 2), &failed);
        f->rope_sin = alloc_floats(2 * mb * (size_t)(hp->n_rot / 2), &failed);
        f->scores = alloc_floats(
            (size_t)n_workers * sd_attention_scratch_floats(kv_group(hp), max_batch, n_ctx), &failed);
        f->logits = alloc_floats((size_t)f->logit_rows * (size_t)hp->n_vocab, &failed);
        f->gemm_scratch_bytes = max_gemm_scratch(m, max_batch, n_workers);
        if (!failed &&
            posix_memalign(&f->gemm_scratch, 64, f->gemm_scratch_bytes ? f->gemm_scratch_bytes : 64))
            failed = true;
    }
    if (failed) {
        sd_forward_free(f);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY,
                        "cannot allocate %.1f MiB for a context of %d tokens (KV cache and buffers)",
                        (double)need / (1024.0 * 1024.0), n_ctx);
    }
    *out = f;
    return SD_STATUS_OK;
}

void sd_forward_free(sd_forward *f) {
    if (!f) return;
    void *bufs[] = {f->k_cache, f->v_cache, f->zero_key, f->x,        f->xn,       f->q,      f->att,   f->k,
                    f->v,       f->gate,    f->up,       f->rope_cos, f->rope_sin, f->scores, f->logits};
    for (size_t i = 0; i < SD_ARRAY_LEN(bufs); i++)
        free(bufs[i]);
    free(f->gemm_scratch);
    free(f);
}

int32_t sd_forward_n_past(const sd_forward *f) {
    return f->n_past;
}
int32_t sd_forward_n_ctx(const sd_forward *f) {
    return f->n_ctx;
}
int32_t sd_forward_max_batch(const sd_forward *f) {
    return f->max_batch;
}

void sd_forward_foreach_buffer(const sd_forward *f, void (*fn)(void *ptr, size_t bytes, void *user),
                               void *user) {
    const sd_hparams *hp = &f->m->hp;
    size_t dq = (size_t)hp->n_head * (size_t)hp->head_dim, mb = (size_t)f->max_batch;
    fn(f->k_cache, (size_t)key_cache_bytes(hp, f->n_ctx, f->type_k), user);
    fn(f->v_cache, (size_t)value_cache_bytes(hp, f->n_ctx, f->type_v), user);
    fn(f->x, mb * (size_t)hp->n_embd * sizeof(float), user);
    fn(f->xn, mb * (size_t)hp->n_embd * sizeof(float), user);
    fn(f->q, mb * dq * sizeof(float), user);
    fn(f->att, mb * dq * sizeof(float), user);
    fn(f->gate, mb * (size_t)hp->n_ff * sizeof(float), user);
    fn(f->up, mb * (size_t)hp->n_ff * sizeof(float), user);
    fn(f->logits, (size_t)f->logit_rows * (size_t)hp->n_vocab * sizeof(float), user);
    fn(f->gemm_scratch, f->gemm_scratch_bytes, user);
}

uint64_t sd_forward_kv_bytes(const sd_forward *f) {
    return sd_forward_kv_bytes_needed(f->m, f->n_ctx, f->type_k, f->type_v);
}

static void reset_pool_choices(sd_forward *f) {
    for (int i = 0; i < MEASURED_SIZE_CLASSES; i++)
        sd_pool_choice_reset(&f->pool_choice[i]);
}

/* The measured choice of a pass of n rows, NULL for a pass that always uses the pool. Sizes whose passes
 * cost alike share one: a decode step, a verify pass of 2, of 3-4, of 5-8 and of 9-MEASURED_MAX_ROWS
 * rows (where the pool's share of the work grows, so where it starts to win differs). */
static sd_pool_choice *size_class(sd_forward *f, int32_t n) {
    if (!f->measured_pool || n > MEASURED_MAX_ROWS || sd_pool_n_workers(f->pool) < 2) return NULL;
    int c = n == 1 ? 0 : n == 2 ? 1 : n <= 4 ? 2 : n <= 8 ? 3 : 4;
    return &f->pool_choice[c];
}

int sd_forward_set_pool(sd_forward *f, sd_pool *pool) {
    int n = pool ? sd_pool_n_workers(pool) : 1;
    if (n > f->n_workers) return SD_STATUS_INVALID_ARGUMENT;
    if (pool != f->pool) reset_pool_choices(f); /* the old pool's timings say nothing */
    f->pool = pool;
    return SD_STATUS_OK;
}

void sd_forward_set_measured_pool(sd_forward *f, bool measured) {
    f->measured_pool = measured;
    reset_pool_choices(f);
}

void sd_forward_truncate(sd_forward *f, int32_t n_keep) {
    if (n_keep < 0) n_keep = 0;
    if (n_keep < f->n_past) f->n_past = n_keep;
}

const float *sd_forward_logits(const sd_forward *f, int32_t row) {
    int32_t kept = f->last_all_logits ? f->last_n : 1;
    if (row < 0) row = kept - 1;
    if (row < 0 || row >= kept) return NULL;
    return f->logits + (size_t)row * (size_t)f->m->hp.n_vocab;
}

/* y = x / sqrt(mean(x^2) + eps) * w, sum in double as the reference does. */
static void rms_norm(const float *x, const float *w, float *y, int n, float eps) {
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * (double)x[i];
    float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

/* cos/sin of each rotated pair's angle at position pos, theta_i = pos * scale * base^(-2i/n_rot) / factor_i,
 * times attn_factor (LongRoPE's attention factor, as ggml's rope multiplies them; 1 for a pure rotation). */
static void rope_angles(const sd_hparams *hp, float base, float scale, const float *freq_factors, int32_t pos,
                        float attn_factor, float *cosv, float *sinv) {
    int half = hp->n_rot / 2;
    float theta_step = powf(base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < half; i++) {
        float t = scale * theta;
        if (freq_factors) t /= freq_factors[i];
        cosv[i] = cosf(t) * attn_factor;
        sinv[i] = sinf(t) * attn_factor;
        theta *= theta_step;
    }
}

/* Rotates the first n_rot dimensions of one head in place. */
static void rope_apply(const sd_hparams *hp, float *v, const float *cosv, const float *sinv) {
    int half = hp->n_rot / 2;
    for (int i = 0; i < half; i++) {
        int a = hp->rope_style == SD_ROPE_ADJACENT ? 2 * i : i;
        int b = hp->rope_style == SD_ROPE_ADJACENT ? 2 * i + 1 : i + half;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cosv[i] - x1 * sinv[i];
        v[b] = x0 * sinv[i] + x1 * cosv[i];
    }
}

int sd_forward_shift(sd_forward *f, int32_t n_keep, int32_t n_discard) {
    const sd_hparams *hp = &f->m->hp;
    if (n_keep < 0 || n_discard < 1 || n_keep + n_discard > f->n_past) return SD_STATUS_INVALID_ARGUMENT;
    int hd = hp->head_dim;
    int32_t from = n_keep + n_discard, n_move = f->n_past - from, n_past = f->n_past - n_discard;
    size_t half = (size_t)hp->n_rot / 2, value_row = sd_attention_value_bytes(f->type_v, hd, 1);
    /* The rotation by -n_discard positions, of the global layers' RoPE and of the sliding ones'. The
     * rotated keys are the cache's rounding of R(-n_discard) applied to the cached R(pos) k, not R(pos -
     * n_discard) k computed afresh: shifted caches differ from fresh ones in the last bits. */
    float *cos_g = f->rope_cos, *sin_g = f->rope_sin, *cos_s = f->rope_cos + half,
          *sin_s = f->rope_sin + half;
    rope_angles(hp, hp->rope_freq_base, hp->rope_freq_scale, f->rope_factors, -n_discard, 1.0f, cos_g, sin_g);
    if (hp->n_swa > 0)
        rope_angles(hp, hp->rope_freq_base_swa, hp->rope_freq_scale_swa, f->rope_factors, -n_discard, 1.0f,
                    cos_s, sin_s);
    float *x = f->k; /* [head_dim] scratch: the batch buffers are free between runs */
    int32_t pad_end = (int32_t)sd_attention_padded_positions(n_past);
    for (int il = 0; il < hp->n_layer; il++) {
        bool sliding = f->m->layers[il].sliding;
        for (int h = 0; h < hp->n_head_kv; h++) {
            size_t head = (size_t)il * (size_t)hp->n_head_kv + (size_t)h;
            char *kc = (char *)f->k_cache + head * f->head_key_bytes;
            char *vc = (char *)f->v_cache + head * f->head_value_bytes;
            for (int32_t t = from; t < f->n_past; t++) { /* ascending: each target lies below its source */
                for (int d = 0; d < hd; d++)
                    x[d] = sd_attention_key_at(f->type_k, kc, hd, t, d);
                rope_apply(hp, x, sliding ? cos_s : cos_g, sliding ? sin_s : sin_g);
                sd_attention_store_key(f->type_k, kc, hd, t - n_discard, x);
            }
            for (int32_t t = n_past; t < pad_end; t++)
                sd_attention_store_key(f->type_k, kc, hd, t, f->zero_key);
            memmove(vc + (size_t)n_keep * value_row, vc + (size_t)from * value_row,
                    (size_t)n_move * value_row);
        }
    }
    f->n_past = n_past;
    return SD_STATUS_OK;
}

int sd_forward_extend_repeating(sd_forward *f, int32_t n) {
    const sd_hparams *hp = &f->m->hp;
    if (f->n_past < 1 || n < f->n_past || n > f->n_ctx) return SD_STATUS_INVALID_ARGUMENT;
    int hd = hp->head_dim;
    size_t value_row = sd_attention_value_bytes(f->type_v, hd, 1);
    float *x = f->k; /* [head_dim] scratch */
    int32_t period = f->n_past, pad_end = (int32_t)sd_attention_padded_positions(n);
    for (size_t head = 0; head < (size_t)hp->n_layer * (size_t)hp->n_head_kv; head++) {
        char *kc = (char *)f->k_cache + head * f->head_key_bytes;
        char *vc = (char *)f->v_cache + head * f->head_value_bytes;
        for (int32_t t = period; t < n; t++) {
            for (int d = 0; d < hd; d++)
                x[d] = sd_attention_key_at(f->type_k, kc, hd, t % period, d);
            sd_attention_store_key(f->type_k, kc, hd, t, x);
            memcpy(vc + (size_t)t * value_row, vc + (size_t)(t % period) * value_row, value_row);
        }
        for (int32_t t = n; t < pad_end; t++)
            sd_attention_store_key(f->type_k, kc, hd, t, f->zero_key);
    }
    f->n_past = n;
    return SD_STATUS_OK;
}

void sd_forward_cached_kv(const sd_forward *f, int layer, int head, int32_t pos, float *key, float *value) {
    const sd_hparams *hp = &f->m->hp;
    size_t at = (size_t)layer * (size_t)hp->n_head_kv + (size_t)head;
    const char *kc = (const char *)f->k_cache + at * f->head_key_bytes;
    const char *vc = (const char *)f->v_cache + at * f->head_value_bytes;
    for (int d = 0; d < hp->head_dim; d++) {
        key[d] = sd_attention_key_at(f->type_k, kc, hp->head_dim, pos, d);
        value[d] = sd_attention_value_at(f->type_v, vc, hp->head_dim, pos, d);
    }
}

typedef struct attention_job {
    sd_forward *f;
    int layer;
    int32_t n;         /* rows in the batch */
    int32_t pos0;      /* position of row 0 */
    int32_t item_rows; /* rows per work item */
} attention_job;

/* Work items are (KV head, block of item_rows rows); each computes every query head of its KV group for
 * its rows, reading the head's keys and values once per kernel block. Which worker takes an item changes
 * nothing in its results (attention.h). */
static void attention_task(void *ctx, int worker, int n_workers) {
    const attention_job *job = ctx;
    sd_forward *f = job->f;
    const sd_hparams *hp = &f->m->hp;
    int g = kv_group(hp), hd = hp->head_dim;
    size_t dq = (size_t)hp->n_head * (size_t)hd;
    int32_t block_rows = sd_attention_block_rows(g, f->max_batch);
    int32_t row_items = (job->n + job->item_rows - 1) / job->item_rows;
    int64_t items = (int64_t)hp->n_head_kv * row_items;
    sd_attention_args a = {
        .head_dim = hd,
        .group = g,
        .scale = hp->attn_scale,
        .window = f->m->layers[job->layer].sliding ? hp->n_swa : 0,
        .softcap = hp->attn_softcap,
        .k_type = f->type_k,
        .v_type = f->type_v,
        .q_row_stride = dq,
        .out_row_stride = dq,
        .scratch = f->scores + (size_t)worker * sd_attention_scratch_floats(g, f->max_batch, f->n_ctx),
    };
    for (int64_t it = worker; it < items; it += n_workers) {
        int kvh = (int)(it / row_items);
        int32_t r0 = (int32_t)(it % row_items) * job->item_rows;
        int32_t r1 = SD_MIN(job->n, r0 + job->item_rows);
        size_t head = (size_t)job->layer * (size_t)hp->n_head_kv + (size_t)kvh;
        a.k = (const char *)f->k_cache + head * f->head_key_bytes;
        a.v = (const char *)f->v_cache + head * f->head_value_bytes;
        for (int32_t r = r0; r < r1; r += block_rows) {
            a.n_rows = SD_MIN(r1 - r, block_rows);
            a.pos0 = job->pos0 + r;
            a.q = f->q + (size_t)r * dq + (size_t)kvh * (size_t)g * (size_t)hd;
            a.out = f->att + (size_t)r * dq + (size_t)kvh * (size_t)g * (size_t)hd;
            sd_attention_block(&a);
        }
    }
}

/* Rows per attention work item: all of them per KV head when there are at least as many KV heads as
 * workers (each key and value row is then read once per layer); otherwise the rows are split so every
 * worker gets an item. */
static int32_t attention_item_rows(const sd_forward *f, int32_t n) {
    int kv_heads = f->m->hp.n_head_kv;
    int32_t splits = SD_MIN(n, (f->n_workers + kv_heads - 1) / kv_heads);
    return (n + splits - 1) / splits;
}

/* Appends rows [0, n) of f->k and f->v (after RoPE) at positions pos0.. of layer il's cache, in the
 * cache's types and layouts. Zeroes the keys from pos0 + n to the end of its SD_ATTN_LANES block, which
 * the score pass reads (and discards), so those reads see defined values. */
static void kv_store(sd_forward *f, int il, int32_t n, int32_t pos0) {
    const sd_hparams *hp = &f->m->hp;
    int hd = hp->head_dim;
    size_t dkv = kv_dim(hp);
    int32_t pad_end = (int32_t)sd_attention_padded_positions(pos0 + n);
    for (int h = 0; h < hp->n_head_kv; h++) {
        size_t head = (size_t)il * (size_t)hp->n_head_kv + (size_t)h;
        char *kc = (char *)f->k_cache + head * f->head_key_bytes;
        char *vc = (char *)f->v_cache + head * f->head_value_bytes;
        for (int32_t i = 0; i < n; i++) {
            size_t src = (size_t)i * dkv + (size_t)h * (size_t)hd;
            sd_attention_store_key(f->type_k, kc, hd, pos0 + i, f->k + src);
            sd_attention_store_value(f->type_v, vc, hd, pos0 + i, f->v + src);
        }
        for (int32_t t = pos0 + n; t < pad_end; t++)
            sd_attention_store_key(f->type_k, kc, hd, t, f->zero_key);
    }
}

static void add_bias(float *y, const float *b, int32_t n, size_t width) {
    if (!b) return;
    for (int32_t i = 0; i < n; i++)
        for (size_t j = 0; j < width; j++)
            y[(size_t)i * width + j] += b[j];
}

/* Per-head RMS norm (Qwen3's q/k norm), in place over [n * heads][head_dim]. */
static void head_norm(float *y, const float *w, int32_t rows, int hd, float eps) {
    if (!w) return;
    for (int32_t r = 0; r < rows; r++)
        rms_norm(y + (size_t)r * (size_t)hd, w, y + (size_t)r * (size_t)hd, hd, eps);
}

static void gemm(sd_forward *f, const sd_weight *w, const float *x, int32_t n, float *y) {
    sd_gemm(w, x, n, y, f->gemm_scratch, f->pool);
}

typedef struct swiglu_ctx {
    float *gate;     /* [n][ff]: gate projections in, act(gate) * up out */
    const float *up; /* [n][ff] */
    size_t ff;
    const float *gelu_table; /* GeGLU: sd_model.gelu_table */
} swiglu_ctx;

/* SwiGLU over columns [r0, r1) of every row, run by the worker that just computed them. */
static void swiglu_chunk(void *ctx, int n, int64_t r0, int64_t r1) {
    const swiglu_ctx *c = ctx;
    for (int i = 0; i < n; i++) {
        float *g = c->gate + (size_t)i * c->ff;
        const float *u = c->up + (size_t)i * c->ff;
        sd_swiglu(g + r0, u + r0, r1 - r0);
    }
}

/* GeGLU (Gemma's gated FFN): gate = gelu(gate) * up over columns [r0, r1) of every row, gelu looked up
 * by x's fp16 bits as ggml does (sd_gelu_ggml_ref's values, ~15x faster than computing them). */
static void geglu_chunk(void *ctx, int n, int64_t r0, int64_t r1) {
    const swiglu_ctx *c = ctx;
    for (int i = 0; i < n; i++) {
        float *g = c->gate + (size_t)i * c->ff;
        const float *u = c->up + (size_t)i * c->ff;
        for (int64_t j = r0; j < r1; j++) {
            float x = g[j];
            float y = x <= -10.0f ? 0.0f : x >= 10.0f ? x : c->gelu_table[sd_fp32_to_fp16(x)];
            g[j] = y * u[j];
        }
    }
}

static void layer_forward(sd_forward *f, int il, int32_t n, int32_t pos0) {
    const sd_hparams *hp = &f->m->hp;
    const sd_layer *ly = &f->m->layers[il];
    size_t d = (size_t)hp->n_embd, hd = (size_t)hp->head_dim, dq = (size_t)hp->n_head * hd, dkv = kv_dim(hp);
    size_t ff = (size_t)ly->n_ff, half = (size_t)hp->n_rot / 2;

    for (int32_t i = 0; i < n; i++)
        rms_norm(f->x + i * d, ly->attn_norm, f->xn + i * d, (int)d, hp->rms_eps);
    phase_end(f, SD_FWD_NORM);
    const sd_weight *qkv[] = {&ly->wq, &ly->wk, &ly->wv};
    float *const qkv_out[] = {f->q, f->k, f->v};
    sd_gemm_multi(qkv, qkv_out, 3, f->xn, n, NULL, NULL, f->gemm_scratch, f->pool);
    add_bias(f->q, ly->bq, n, dq);
    add_bias(f->k, ly->bk, n, dkv);
    add_bias(f->v, ly->bv, n, dkv);
    head_norm(f->q, ly->q_norm, n * hp->n_head, (int)hd, hp->rms_eps);
    head_norm(f->k, ly->k_norm, n * hp->n_head_kv, (int)hd, hp->rms_eps);
    phase_end(f, SD_FWD_QKV);

    size_t rope_set = ly->sliding ? (size_t)f->max_batch * half : 0;
    for (int32_t i = 0; i < n; i++) {
        const float *c = f->rope_cos + rope_set + (size_t)i * half,
                    *s = f->rope_sin + rope_set + (size_t)i * half;
        for (int h = 0; h < hp->n_head; h++)
            rope_apply(hp, f->q + (size_t)i * dq + (size_t)h * hd, c, s);
        for (int h = 0; h < hp->n_head_kv; h++)
            rope_apply(hp, f->k + (size_t)i * dkv + (size_t)h * hd, c, s);
    }
    kv_store(f, il, n, pos0);
    phase_end(f, SD_FWD_ROPE_KV);
    attention_job job = {f, il, n, pos0, attention_item_rows(f, n)};
    sd_pool_run(f->pool, attention_task, &job);
    phase_end(f, SD_FWD_ATTENTION);
    gemm(f, &ly->wo, f->att, n, f->xn);
    phase_end(f, SD_FWD_WO);
    for (int32_t i = 0; ly->post_attn_norm && i < n; i++)
        rms_norm(f->xn + i * d, ly->post_attn_norm, f->xn + i * d, (int)d, hp->rms_eps);
    for (size_t j = 0; j < (size_t)n * d; j++)
        f->x[j] += f->xn[j];

    for (int32_t i = 0; i < n; i++)
        rms_norm(f->x + i * d, ly->ffn_norm, f->xn + i * d, (int)d, hp->rms_eps);
    phase_end(f, SD_FWD_NORM);
    const sd_weight *gate_up[] = {&ly->w_gate, &ly->w_up};
    float *const gate_up_out[] = {f->gate, f->up};
    swiglu_ctx act = {f->gate, f->up, ff, f->m->gelu_table};
    sd_gemm_multi(gate_up, gate_up_out, 2, f->xn, n,
                  hp->ffn_act == SD_FFN_GELU_TANH ? geglu_chunk : swiglu_chunk, &act, f->gemm_scratch,
                  f->pool);
    phase_end(f, SD_FWD_FFN_IN);
    gemm(f, &ly->w_down, f->gate, n, f->xn);
    phase_end(f, SD_FWD_FFN_DOWN);
    for (int32_t i = 0; ly->post_ffn_norm && i < n; i++)
        rms_norm(f->xn + i * d, ly->post_ffn_norm, f->xn + i * d, (int)d, hp->rms_eps);
    for (size_t j = 0; j < (size_t)n * d; j++)
        f->x[j] += f->xn[j];
    phase_end(f, SD_FWD_NORM);
}

/* One chunk of at most max_batch tokens. */
static void run_chunk(sd_forward *f, const int32_t *tokens, int32_t n, bool all_logits) {
    const sd_model *m = f->m;
    const sd_hparams *hp = &m->hp;
    size_t d = (size_t)hp->n_embd, half = (size_t)hp->n_rot / 2;
    int32_t pos0 = f->n_past;
    if (f->profile) f->phase_start = sd_time_seconds();
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tokens[i] * m->tok_embd.row_bytes;
        float *x = f->x + (size_t)i * d;
        sd_dequantize_row(m->tok_embd.type, row, x, (int64_t)d);
        for (size_t j = 0; hp->embd_scale != 1.0f && j < d; j++)
            x[j] *= hp->embd_scale;
        size_t at = (size_t)i * half, swa = (size_t)f->max_batch * half + at;
        rope_angles(hp, hp->rope_freq_base, hp->rope_freq_scale, f->rope_factors, pos0 + i,
                    hp->rope_attn_factor, f->rope_cos + at, f->rope_sin + at);
        if (hp->n_swa > 0)
            rope_angles(hp, hp->rope_freq_base_swa, hp->rope_freq_scale_swa, f->rope_factors, pos0 + i,
                        hp->rope_attn_factor, f->rope_cos + swa, f->rope_sin + swa);
    }
    phase_end(f, SD_FWD_NORM);
    for (int il = 0; il < hp->n_layer; il++)
        layer_forward(f, il, n, pos0);

    int32_t first = all_logits ? 0 : n - 1, rows = n - first;
    for (int32_t i = 0; i < rows; i++)
        rms_norm(f->x + (size_t)(first + i) * d, m->output_norm, f->xn + (size_t)i * d, (int)d, hp->rms_eps);
    gemm(f, &m->output, f->xn, rows, f->logits);
    if (hp->final_softcap > 0.0f) {
        float cap = hp->final_softcap;
        for (size_t j = 0; j < (size_t)rows * (size_t)hp->n_vocab; j++)
            f->logits[j] = cap * tanhf(f->logits[j] * (1.0f / cap)); /* llama.cpp: scale, tanh, scale */
    }
    phase_end(f, SD_FWD_OUTPUT);
    f->n_past += n;
    f->last_n = n;
    f->last_all_logits = all_logits;
}

int sd_forward_run(sd_forward *f, const int32_t *tokens, int32_t n, bool all_logits, char *err,
                   size_t err_len) {
    const sd_hparams *hp = &f->m->hp;
    if (n < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no tokens to run");
    if (all_logits && n > f->logit_rows)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "%d rows of logits requested, at most %d",
                        n, f->logit_rows);
    if (n > f->n_ctx - f->n_past)
        return sd_error(err, err_len, SD_STATUS_CONTEXT_FULL,
                        "context full: %d tokens do not fit after %d of %d positions", n, f->n_past,
                        f->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "token id %d out of range [0, %d)",
                            tokens[i], hp->n_vocab);
    /* A measured pass may run on this thread alone: f->pool is then NULL for its duration (every dispatch
     * of the pass runs inline) and restored after. */
    sd_pool *pool = f->pool;
    sd_pool_choice *choice = size_class(f, n);
    if (choice && sd_pool_choice_caller_only(choice)) f->pool = NULL;
    double t0 = choice ? sd_time_seconds() : 0.0;
    for (int32_t done = 0; done < n;) {
        int32_t chunk = SD_MIN(n - done, f->max_batch);
        run_chunk(f, tokens + done, chunk, all_logits);
        done += chunk;
    }
    if (choice) sd_pool_choice_record(choice, sd_time_seconds() - t0);
    f->pool = pool;
    return SD_STATUS_OK;
}
