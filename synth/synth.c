/* Synthetic GGUF models: grown copies of a small model (extra layers that add exact zeros) and
 * random-weight files with real models' shapes. See synth.h. */
#include "synth.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "common/sd_hash.h"
#include "common/sd_rng.h"
#include "common/sd_strtab.h"
#include "common/sd_utf8.h"
#include "gemm/quantize_weights.h"
#include "cpu/threadpool.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "model/tensor_names.h"
#include "tokenizer/vocab.h"

/* ---- the known shapes (Hugging Face config.json of each model) ---- */

static const sd_synth_shape SHAPES[] = {
    /* name, arch, pre, vocab, embd, layers, heads, kv heads, ffn, ctx, rope base, rms eps, tied, add_bos,
     * llama3 rope (factor, low, high, original ctx; phi3: LongRoPE's original ctx), published parameter
     * count, head width (0: embd / heads), rotary width (0: the head), sliding window, linear rope factor,
     * shared vocabulary (0: all of it; see sd_synth_shape) */
    {"smollm2-135m", "llama", "smollm", 49152, 576, 30, 9,          3, 1536, 8192, 100000.0f, 1e-5f,
     true,           false,   0,        0,     0,   0,  134515008u, 0, 0,    0,    0,         0},
    {"smollm2-360m", "llama", "smollm", 49152, 960, 32, 15,         5, 2560, 8192, 100000.0f, 1e-5f,
     true,           false,   0,        0,     0,   0,  361821120u, 0, 0,    0,    0,         0},
    {"qwen2.5-0.5b", "qwen2", "qwen2", 151936, 896, 24, 14,         2, 4864, 32768, 1000000.0f, 1e-6f,
     true,           false,   0,       0,      0,   0,  494032768u, 0, 0,    0,     0,          0},
    {"llama-3.2-1b", "llama", "llama-bpe", 128256, 2048, 16,   32,          8, 8192, 131072, 500000.0f, 1e-5f,
     true,           true,    32.0f,       1.0f,   4.0f, 8192, 1235814400u, 0, 0,    0,      0,         0},
    {"qwen2.5-1.5b", "qwen2", "qwen2", 151936, 1536, 28, 12,          2, 8960, 131072, 1000000.0f, 1e-6f,
     true,           false,   0,       0,      0,    0,  1543714304u, 0, 0,    0,      0,          0},
    {"smollm2-1.7b", "llama", "smollm", 49152, 2048, 24, 32,          32, 8192, 8192, 130000.0f, 1e-5f,
     true,           false,   0,        0,     0,    0,  1711376384u, 0,  0,    0,    0,         0},
    {"llama-3.2-3b", "llama", "llama-bpe", 128256, 3072, 28,   24,          8, 8192, 131072, 500000.0f, 1e-5f,
     true,           true,    32.0f,       1.0f,   4.0f, 8192, 3212749824u, 0, 0,    0,      0,         0},
    {"qwen2.5-7b", "qwen2", "qwen2", 152064, 3584, 28, 28,          4, 18944, 131072, 1000000.0f, 1e-6f,
     false,        false,   0,       0,      0,    0,  7615616512u, 0, 0,     0,      0,          0},
    {"qwen3-0.6b", "qwen3", "qwen2", 151936, 1024, 28, 16,         8,   3072, 40960, 1000000.0f, 1e-6f,
     true,         false,   0,       0,      0,    0,  596049920u, 128, 0,    0,     0,          0},
    {"qwen3-4b", "qwen3", "qwen2", 151936, 2560, 36, 32,          8,   9728, 40960, 1000000.0f, 1e-6f,
     true,       false,   0,       0,      0,    0,  4022468096u, 128, 0,    0,     0,          0},
    {"gemma-3-270m", "gemma3", "default", 262144, 640, 18, 4,          1,   2048, 32768, 1000000.0f, 1e-6f,
     true,           true,     0,         0,      0,   0,  268098176u, 256, 0,    512,   0,          0},
    {"gemma-3-1b", "gemma3", "default", 262144, 1152, 26, 4,          1,   6912, 32768, 1000000.0f, 1e-6f,
     true,         true,     0,         0,      0,    0,  999885952u, 256, 0,    512,   0,          0},
    /* the text model of gemma-3-4b-it (its vision tower and projector add ~0.42B); its vocabulary is
     * gemma-3-1b's and 64 more tokens */
    {"gemma-3-4b", "gemma3",   "default", 262208, 2560, 34,    8, 4, 10240,
     131072,       1000000.0f, 1e-6f,     true,   true, 0,     0, 0, 0,
     3880263168u,  256,        0,         1024,   8.0f, 262144},
    /* LongRoPE from an original context of 4096 (rope_orig_ctx), partial rotary factor 0.75. The real
     * files' pre-tokenizer is "gpt-4o", which specdec's tokenizer lacks: llama-bpe's is the closest. */
    {"phi-4-mini", "phi3", "llama-bpe", 200064, 3072, 32,   24,          8, 8192, 131072, 10000.0f, 1e-5f,
     true,         true,   0,           0,      0,    4096, 3836021760u, 0, 96,   0,      0,        0},
};

static int64_t shape_head_dim(const sd_synth_shape *s) {
    return s->head_dim > 0 ? s->head_dim : s->n_embd / s->n_head;
}

static int64_t shape_n_rot(const sd_synth_shape *s) {
    return s->n_rot > 0 ? s->n_rot : shape_head_dim(s);
}

size_t sd_synth_n_shapes(void) {
    return SD_ARRAY_LEN(SHAPES);
}

const sd_synth_shape *sd_synth_shape_at(size_t i) {
    return i < SD_ARRAY_LEN(SHAPES) ? &SHAPES[i] : NULL;
}

const sd_synth_shape *sd_synth_shape_find(const char *name) {
    for (size_t i = 0; name && i < SD_ARRAY_LEN(SHAPES); i++)
        if (strcmp(SHAPES[i].name, name) == 0) return &SHAPES[i];
    return NULL;
}

sd_synth_params sd_synth_default_params(void) {
    sd_synth_params p;
    memset(&p, 0, sizeof p);
    p.type = SD_TYPE_Q4_0;
    p.n_threads = 1;
    return p;
}

/* ---- random numbers (common/sd_rng.h) ---- */

/* n approximately normal values of standard deviation `std`: the sum of four 16-bit uniforms from one
 * 64-bit draw (Irwin-Hall, variance 4/12, rescaled), which is plenty for random weights and costs one
 * generator step per value. */
static void fill_normal(sd_rng *r, float *x, int64_t n, float std) {
    const float scale = std * 1.7320508f / 65536.0f; /* sqrt(3): the sum of 4 uniforms has variance 1/3 */
    for (int64_t i = 0; i < n; i++) {
        uint64_t v = sd_rng_next(r);
        uint32_t s = (uint32_t)(v & 0xffff) + (uint32_t)((v >> 16) & 0xffff) +
                     (uint32_t)((v >> 32) & 0xffff) + (uint32_t)(v >> 48);
        /* each 16-bit uniform is (u + 0.5) / 65536 in (0, 1); the sum's mean is 2 = 131072 / 65536 */
        x[i] = ((float)s + 2.0f - 131072.0f) * scale;
    }
}

/* ---- the tensor plan ---- */

typedef enum fill_kind {
    FILL_DATA,   /* bytes that exist already (a source tensor, a computed vector) */
    FILL_CONST,  /* every element `value` (F32) */
    FILL_RANDOM, /* normal(0, std) quantized to `type`, row r from its own seeded stream */
} fill_kind;

struct synth_job;

typedef struct planned_tensor {
    char name[64];
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    fill_kind kind;
    const void *data; /* FILL_DATA */
    float value;      /* FILL_CONST */
    float std;        /* FILL_RANDOM */
    uint64_t seed;    /* FILL_RANDOM: the tensor's stream; row r uses a stream derived from (seed, r) */
    struct synth_job *job;
} planned_tensor;

typedef struct synth_job {
    planned_tensor *t;
    size_t n_t, cap_t;
    uint64_t seed;
    sd_pool *pool;
    int n_workers;
    float *scratch; /* [n_workers][max_k] fp32 rows before quantization */
    int64_t max_k;
    float *owned[4]; /* computed vectors (rope_freqs) */
    int n_owned;
    const sd_synth_params *params;        /* on_progress */
    uint64_t fill_done_bytes, fill_bytes; /* generated tensor data written so far, and in all */
} synth_job;

static uint64_t tensor_elems(const planned_tensor *t) {
    return (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
}

/* Appends a tensor; ne1 = 0 makes it 1-D. */
static planned_tensor *plan_add(synth_job *j, const char *name, uint32_t type, int64_t ne0, int64_t ne1,
                                fill_kind kind, char *err, size_t err_len) {
    if (j->n_t == j->cap_t) {
        size_t cap = j->cap_t ? 2 * j->cap_t : 64;
        planned_tensor *nt = realloc(j->t, cap * sizeof *nt);
        if (!nt) {
            sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory planning tensors");
            return NULL;
        }
        j->t = nt;
        j->cap_t = cap;
    }
    planned_tensor *t = &j->t[j->n_t++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    t->ne[2] = t->ne[3] = 1;
    t->kind = kind;
    t->std = ne0 > 0 ? 1.0f / sqrtf((float)ne0) : 0.0f; /* 1 / sqrt(fan_in) */
    t->seed = j->seed ^ sd_fnv1a64_str(name);           /* fixed per name: part of the file format */
    if (kind == FILL_RANDOM && ne0 > j->max_k) j->max_k = ne0;
    return t;
}

static void job_free(synth_job *j) {
    free(j->t);
    free(j->scratch);
    for (int i = 0; i < j->n_owned; i++)
        free(j->owned[i]);
    sd_pool_free(j->pool);
}

/* ---- filling rows at write time ---- */

typedef struct random_rows {
    const planned_tensor *t;
    int64_t row_begin, n_rows;
    uint8_t *dst;
    int rc;
} random_rows;

static void random_rows_task(void *ctx, int worker, int n_workers) {
    random_rows *rr = ctx;
    const planned_tensor *t = rr->t;
    const int64_t k = t->ne[0];
    const size_t row_bytes = sd_type_row_bytes(t->type, k);
    float *x = t->job->scratch + (size_t)worker * (size_t)t->job->max_k;
    const int64_t per = (rr->n_rows + n_workers - 1) / n_workers;
    const int64_t r0 = (int64_t)worker * per, r1 = SD_MIN(rr->n_rows, r0 + per);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t row = rr->row_begin + r;
        sd_rng g;
        sd_rng_seed(&g, t->seed ^ ((uint64_t)row * 0xd1342543de82ef95ull));
        fill_normal(&g, x, k, t->std);
        int rc = sd_quantize_rows((sd_type)t->type, x, rr->dst + (size_t)r * row_bytes, 1, k);
        if (rc < 0) rr->rc = rc; /* same value from any worker */
    }
}

static void report_progress(synth_job *j, uint32_t type, int64_t cols, int64_t n_rows) {
    j->fill_done_bytes += (uint64_t)sd_type_row_bytes(type, cols) * (uint64_t)n_rows;
    const sd_synth_params *p = j->params;
    if (p && p->on_progress) p->on_progress(p->on_progress_ctx, j->fill_done_bytes, j->fill_bytes);
}

static int fill_tensor(void *ctx, int64_t row_begin, int64_t n_rows, void *dst) {
    const planned_tensor *t = ctx;
    int rc = SD_STATUS_OK;
    if (t->kind == FILL_CONST) { /* F32 */
        float *y = dst;
        for (int64_t i = 0; i < n_rows * t->ne[0]; i++)
            y[i] = t->value;
    } else {
        random_rows rr = {t, row_begin, n_rows, dst, SD_STATUS_OK};
        sd_pool_run(t->job->pool, random_rows_task, &rr);
        rc = rr.rc;
    }
    report_progress(t->job, t->type, t->ne[0], n_rows);
    return rc;
}

/* Adds the plan's tensors to the writer and fills the report's counts. */
static int plan_to_writer(synth_job *j, const sd_synth_params *p, sd_gguf_writer *w, sd_synth_report *rep,
                          char *err, size_t err_len) {
    j->params = p;
    for (size_t i = 0; i < j->n_t; i++) {
        planned_tensor *t = &j->t[i];
        t->job = j;
        if (t->kind != FILL_DATA)
            j->fill_bytes += (uint64_t)sd_type_row_bytes(t->type, t->ne[0]) *
                             (uint64_t)(tensor_elems(t) / (uint64_t)t->ne[0]);
        if (p->on_tensor) p->on_tensor(p->on_tensor_ctx, t->name, t->type, t->n_dims, t->ne);
        int rc = t->kind == FILL_DATA
                     ? sd_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, err, err_len)
                     : sd_gguf_writer_add_tensor_fill(w, t->name, t->type, t->n_dims, t->ne, fill_tensor, t,
                                                      err, err_len);
        if (rc < 0) return rc;
        rep->n_params += tensor_elems(t);
    }
    rep->n_tensors = j->n_t;
    rep->file_bytes = sd_gguf_writer_size(w);
    return SD_STATUS_OK;
}

static int write_out(synth_job *j, const sd_synth_params *p, sd_gguf_writer *w, const char *out, char *err,
                     size_t err_len) {
    if (!out) return SD_STATUS_OK; /* dry run */
    int n = p->n_threads > 0 ? p->n_threads : 1;
    if (n > 1) {
        int rc = sd_pool_create(&j->pool, n, NULL, 0, err, err_len);
        if (rc < 0) return rc;
    }
    j->n_workers = n;
    if (j->max_k > 0) {
        j->scratch = malloc((size_t)n * (size_t)j->max_k * sizeof *j->scratch);
        if (!j->scratch) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for weight rows");
    }
    return sd_gguf_writer_write_file(w, out, err, err_len);
}

static int check_params(const sd_synth_params *p, char *err, size_t err_len) {
    if (!p) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "NULL parameters");
    if (p->type != SD_TYPE_Q4_0 && p->type != SD_TYPE_Q8_0 && p->type != SD_TYPE_F16)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "weight type must be q4_0, q8_0 or f16 (got type id %d)", (int)p->type);
    return SD_STATUS_OK;
}

/* A matrix [rows][cols] needs cols to be a multiple of the type's block size. */
static int check_cols(uint32_t type, int64_t cols, const char *what, char *err, size_t err_len) {
    if (sd_type_row_bytes(type, cols) == 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "%s width %" PRId64 " is not a multiple of %s's block size", what, cols,
                        sd_type_traits_of(type)->name);
    return SD_STATUS_OK;
}

/* ---- grow ---- */

/* llama.cpp's LLAMA_MAX_LAYERS: its per-layer arrays hold at most this many layers. */
#define SD_SYNTH_MAX_LAYERS 512

/* The per-layer tensors an extra layer mirrors from the source's layer 0, and how it fills them so the
 * layer adds exactly zero: zero input norms make the normalized input 0, so q = k = v = 0 (biases 0),
 * the attention output is 0, and SwiGLU(0) = 0. */
typedef enum mirror_kind {
    MIRROR_ZERO_NORM,
    MIRROR_ONE_NORM, /* qwen3 q/k norms: any value works on a zero vector; 1 as a real model has */
    MIRROR_ZERO_BIAS,
    MIRROR_MATRIX,
    MIRROR_FFN_IN,  /* [ff][n_embd] */
    MIRROR_FFN_OUT, /* [n_embd][ff] */
} mirror_kind;

static const struct {
    sd_tensor_kind tensor;
    mirror_kind kind;
} MIRROR[] = {
    {SD_TENSOR_ATTN_NORM, MIRROR_ZERO_NORM},   {SD_TENSOR_ATTN_Q, MIRROR_MATRIX},
    {SD_TENSOR_ATTN_K, MIRROR_MATRIX},         {SD_TENSOR_ATTN_V, MIRROR_MATRIX},
    {SD_TENSOR_ATTN_Q_BIAS, MIRROR_ZERO_BIAS}, {SD_TENSOR_ATTN_K_BIAS, MIRROR_ZERO_BIAS},
    {SD_TENSOR_ATTN_V_BIAS, MIRROR_ZERO_BIAS}, {SD_TENSOR_ATTN_Q_NORM, MIRROR_ONE_NORM},
    {SD_TENSOR_ATTN_K_NORM, MIRROR_ONE_NORM},  {SD_TENSOR_ATTN_OUTPUT, MIRROR_MATRIX},
    {SD_TENSOR_FFN_NORM, MIRROR_ZERO_NORM},    {SD_TENSOR_FFN_GATE, MIRROR_FFN_IN},
    {SD_TENSOR_FFN_UP, MIRROR_FFN_IN},         {SD_TENSOR_FFN_DOWN, MIRROR_FFN_OUT},
};

/* Refuses a source whose layer 0 holds a tensor an extra layer would not mirror (it could carry state
 * the zero-norm argument does not cover). */
static int check_layer0(const sd_gguf *g, sd_arch arch, char *err, size_t err_len) {
    char prefix[SD_TENSOR_NAME_MAX], name[SD_TENSOR_NAME_MAX];
    const size_t n_prefix = sd_tensor_layer_prefix(0, prefix);
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        if (t->name.len < n_prefix || memcmp(t->name.ptr, prefix, n_prefix) != 0) continue;
        bool known = false;
        for (size_t m = 0; m < SD_ARRAY_LEN(MIRROR) && !known; m++)
            known = sd_gguf_str_eq(t->name, sd_tensor_name(arch, MIRROR[m].tensor, 0, name));
        if (!known)
            return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "cannot mirror source tensor '%.*s'",
                            (int)SD_MIN(t->name.len, 64u), t->name.ptr);
    }
    return SD_STATUS_OK;
}

/* Plans extra layer `il` (1-D tensors F32, matrices in p->type). */
static int plan_extra_layer(synth_job *j, const sd_gguf *g, sd_arch arch, const sd_synth_params *p, int il,
                            int64_t n_embd, int64_t ff, char *err, size_t err_len) {
    for (size_t m = 0; m < SD_ARRAY_LEN(MIRROR); m++) {
        char src_name[SD_TENSOR_NAME_MAX], name[SD_TENSOR_NAME_MAX];
        const sd_gguf_tensor *st =
            sd_gguf_find_tensor(g, sd_tensor_name(arch, MIRROR[m].tensor, 0, src_name));
        if (!st) continue;
        sd_tensor_name(arch, MIRROR[m].tensor, il, name);
        planned_tensor *t = NULL;
        switch (MIRROR[m].kind) {
        case MIRROR_ZERO_NORM:
        case MIRROR_ZERO_BIAS:
        case MIRROR_ONE_NORM:
            t = plan_add(j, name, SD_TYPE_F32, st->ne[0], 0, FILL_CONST, err, err_len);
            if (t) t->value = MIRROR[m].kind == MIRROR_ONE_NORM ? 1.0f : 0.0f;
            break;
        case MIRROR_MATRIX:
            t = plan_add(j, name, p->type, st->ne[0], st->ne[1], FILL_RANDOM, err, err_len);
            break;
        case MIRROR_FFN_IN:
            t = plan_add(j, name, p->type, n_embd, ff, FILL_RANDOM, err, err_len);
            break;
        case MIRROR_FFN_OUT:
            t = plan_add(j, name, p->type, ff, n_embd, FILL_RANDOM, err, err_len);
            break;
        }
        if (!t) return SD_STATUS_NO_MEMORY;
        if (t->kind == FILL_RANDOM) {
            int rc = check_cols(t->type, t->ne[0], name, err, err_len);
            if (rc < 0) return rc;
        }
    }
    return SD_STATUS_OK;
}

/* Elements of one extra layer of FFN width ff. */
static uint64_t extra_layer_elems(const sd_gguf *g, sd_arch arch, int64_t n_embd, int64_t ff) {
    uint64_t n = 0;
    for (size_t m = 0; m < SD_ARRAY_LEN(MIRROR); m++) {
        char name[SD_TENSOR_NAME_MAX];
        const sd_gguf_tensor *st = sd_gguf_find_tensor(g, sd_tensor_name(arch, MIRROR[m].tensor, 0, name));
        if (!st) continue;
        if (MIRROR[m].kind == MIRROR_FFN_IN || MIRROR[m].kind == MIRROR_FFN_OUT)
            n += (uint64_t)n_embd * (uint64_t)ff;
        else
            n += (uint64_t)st->ne[0] * (uint64_t)st->ne[1];
    }
    return n;
}

/* Copies the source's metadata, replacing the name, block count and FFN widths in place. */
static int grow_metadata(sd_gguf_writer *w, const sd_model *m, int32_t n_extra, int32_t ff, char *err,
                         size_t err_len) {
    const sd_gguf *g = m->gguf;
    const char *arch = sd_arch_name(m->hp.arch);
    const int32_t n_layer = m->hp.n_layer + n_extra;
    char k_blocks[96], k_ff[96], key[256];
    snprintf(k_blocks, sizeof k_blocks, "%s.block_count", arch);
    snprintf(k_ff, sizeof k_ff, "%s.feed_forward_length", arch);
    int32_t *widths = malloc((size_t)n_layer * sizeof *widths);
    if (!widths) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (int32_t il = 0; il < n_layer; il++)
        widths[il] = il < m->hp.n_layer ? m->layers[il].n_ff : ff;
    char name[320];
    snprintf(name, sizeof name, "%s%sgrown", m->name, m->name[0] ? "-" : "");

    int rc = SD_STATUS_OK;
    bool named = false;
    for (uint64_t i = 0; i < sd_gguf_n_kv(g) && rc == SD_STATUS_OK; i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        if (kv->key.len >= sizeof key || memchr(kv->key.ptr, '\0', kv->key.len)) {
            rc = sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "cannot copy source key '%.*s'",
                          (int)SD_MIN(kv->key.len, 64u), kv->key.ptr);
            break;
        }
        memcpy(key, kv->key.ptr, kv->key.len);
        key[kv->key.len] = '\0';
        if (strcmp(key, "general.name") == 0) {
            rc = sd_gguf_writer_add_str(w, key, name, err, err_len);
            named = true;
        } else if (strcmp(key, k_blocks) == 0) {
            rc = sd_gguf_writer_add_u32(w, key, (uint32_t)n_layer, err, err_len);
        } else if (strcmp(key, k_ff) == 0) {
            /* llama.cpp reads a per-layer array here (get_key_or_arr), as an INT32 array */
            rc = sd_gguf_writer_add_arr(w, key, SD_GGUF_INT32, widths, (uint64_t)n_layer, err, err_len);
        } else {
            rc = sd_gguf_writer_add_kv(w, key, kv, err, err_len);
        }
    }
    if (rc == SD_STATUS_OK && !named) rc = sd_gguf_writer_add_str(w, "general.name", name, err, err_len);
    free(widths);
    return rc;
}

/* FFN width for about 80 extra layers: the remaining parameters / 80, minus the attention part, over the
 * 3 FFN matrices, rounded to a multiple of 256 (at least 256). */
static int64_t default_ff(const sd_gguf *g, sd_arch arch, int64_t n_embd, uint64_t remaining) {
    const uint64_t attn = extra_layer_elems(g, arch, n_embd, 0);
    const double per_layer = (double)remaining / 80.0;
    double ff = (per_layer - (double)attn) / (3.0 * (double)n_embd);
    int64_t r = (int64_t)llround(ff / 256.0) * 256;
    return r < 256 ? 256 : r;
}

int sd_synth_grow(const char *src, const sd_synth_params *p, const char *out, sd_synth_report *rep, char *err,
                  size_t err_len) {
    sd_synth_report r0;
    if (!rep) rep = &r0;
    memset(rep, 0, sizeof *rep);
    int rc = check_params(p, err, err_len);
    if (rc < 0) return rc;
    if (p->q4_k_m)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "the Q4_K_M mix is written for shapes only");
    if (!src) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no source model");
    if (p->ff_width < 0 || p->ff_width % 32 != 0 || p->ff_width > (1 << 20))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "FFN width %d must be a positive multiple of 32 (at most 1048576)", p->ff_width);

    sd_model *m = NULL;
    sd_gguf_writer *w = NULL;
    synth_job j = {.seed = p->seed};
    if ((rc = sd_model_load_file(src, &m, err, err_len)) < 0) {
        char msg[384];
        snprintf(msg, sizeof msg, "%s", err ? err : "");
        return sd_error(err, err_len, rc, "source %s: %s", src, msg);
    }
    const sd_gguf *g = m->gguf;
    if ((rc = check_layer0(g, m->hp.arch, err, err_len)) < 0) goto done;

    uint64_t src_elems = 0;
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        src_elems += (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    }
    if (p->n_params <= src_elems) {
        rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                      "asked for %" PRIu64 " parameters, but the source already has %" PRIu64, p->n_params,
                      src_elems);
        goto done;
    }
    const int64_t n_embd = m->hp.n_embd;
    const int64_t ff = p->ff_width ? p->ff_width : default_ff(g, m->hp.arch, n_embd, p->n_params - src_elems);
    const uint64_t per_layer = extra_layer_elems(g, m->hp.arch, n_embd, ff);
    int64_t n_extra = llround((double)(p->n_params - src_elems) / (double)per_layer);
    if (n_extra < 1) n_extra = 1;
    if (n_extra + m->hp.n_layer > SD_SYNTH_MAX_LAYERS) {
        rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                      "%" PRId64 " extra layers of FFN width %" PRId64
                      " needed: more than %d layers in all (give a wider FFN)",
                      n_extra, ff, SD_SYNTH_MAX_LAYERS);
        goto done;
    }

    /* Source tensors, unchanged (their data stays in the source's mapping until the write). */
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *st = sd_gguf_tensor_at(g, i);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)SD_MIN(st->name.len, 63u), st->name.ptr);
        planned_tensor *t = plan_add(&j, name, st->type, st->ne[0], 0, FILL_DATA, err, err_len);
        if (!t) {
            rc = SD_STATUS_NO_MEMORY;
            goto done;
        }
        t->n_dims = st->n_dims;
        memcpy(t->ne, st->ne, sizeof t->ne);
        t->data = st->data;
    }
    for (int64_t e = 0; e < n_extra; e++)
        if ((rc = plan_extra_layer(&j, g, m->hp.arch, p, m->hp.n_layer + (int)e, n_embd, ff, err, err_len)) <
            0)
            goto done;

    if (!(w = sd_gguf_writer_create())) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto done;
    }
    if ((rc = grow_metadata(w, m, (int32_t)n_extra, (int32_t)ff, err, err_len)) < 0) goto done;
    if ((rc = plan_to_writer(&j, p, w, rep, err, err_len)) < 0) goto done;
    rep->n_layer = m->hp.n_layer + (int32_t)n_extra;
    rep->n_layer_src = m->hp.n_layer;
    rep->n_ff_extra = (int32_t)ff;
    rep->n_vocab = m->hp.n_vocab;
    rep->n_params_src = src_elems;
    rc = write_out(&j, p, w, out, err, err_len);
done:
    sd_gguf_writer_free(w);
    job_free(&j);
    sd_model_free_internal(m);
    return rc;
}

/* ---- shape: a generated byte-level BPE vocabulary ---- */

typedef struct gen_vocab {
    char *pool; /* all token texts back to back */
    size_t pool_len, pool_cap;
    sd_gguf_str *tokens; /* [n_vocab], pointing into pool once it is final */
    size_t *tok_off;
    int32_t n;
    char *merge_pool;
    size_t merge_len, merge_cap;
    sd_gguf_str *merges;
    size_t *merge_off;
    int32_t n_merges;
    int32_t *types;
    int32_t bos, eos;
    sd_strtab index; /* token text -> id, to skip duplicates */
} gen_vocab;

static bool pool_append(char **pool, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 1 << 16;
        while (c < *len + n)
            c *= 2;
        char *np = realloc(*pool, c);
        if (!np) return false;
        *pool = np;
        *cap = c;
    }
    memcpy(*pool + *len, s, n);
    *len += n;
    return true;
}

static const char *tok_text(const gen_vocab *v, int32_t id, size_t *len) {
    size_t end = id + 1 < v->n ? v->tok_off[id + 1] : v->pool_len;
    *len = end - v->tok_off[id];
    return v->pool + v->tok_off[id];
}

static const char *tok_text_at(const void *owner, uint32_t id, size_t *len) {
    return tok_text(owner, (int32_t)id, len);
}

/* Adds a token unless present; returns 1 added, 0 present, -1 out of memory. */
static int vocab_add(gen_vocab *v, const char *s, size_t n, int32_t type) {
    if (sd_strtab_find(&v->index, s, n) >= 0) return 0;
    size_t off = v->pool_len;
    if (!pool_append(&v->pool, &v->pool_len, &v->pool_cap, s, n)) return -1;
    v->tok_off[v->n] = off;
    v->types[v->n] = type;
    sd_strtab_insert(&v->index, s, n, (uint32_t)v->n); /* sized for n_vocab: cannot be full */
    v->n++;
    return 1;
}

/* The UTF-8 text of the byte token for byte b, in GPT-2's byte-to-unicode spelling. */
static size_t gpt2_byte_text(int b, char out[4]) {
    return sd_utf8_encode(sd_tok_gpt2_byte_to_cp((uint8_t)b), out);
}

static void gen_vocab_free(gen_vocab *v) {
    free(v->pool);
    free(v->tokens);
    free(v->tok_off);
    free(v->merge_pool);
    free(v->merges);
    free(v->merge_off);
    free(v->types);
    sd_strtab_free(&v->index);
}

/* n_vocab tokens: the 256 byte tokens, n_shared - 258 merges, BOS and EOS, then n_vocab - n_shared unused
 * control tokens (so that a family's shapes whose vocabularies differ only by such tokens at the end, as
 * gemma-3-4b's from gemma-3-1b's, draft for each other). The merges do not depend on n_vocab beyond their
 * count: a longer vocabulary extends a shorter one's. A merge joins a word
 * piece (a letter, the space symbol 'Ġ', or an earlier merge) with a lowercase letter on its right, so
 * every merge token is reachable by BPE from a word the pre-tokenizer keeps whole (" abc", "abc"), and
 * shorter pieces come first (lower rank), as in real vocabularies. */
static int gen_vocab_build(gen_vocab *v, int32_t n_vocab, int32_t n_shared, uint64_t seed, char *err,
                           size_t err_len) {
    if (n_shared < 258 + 1 || n_shared > n_vocab)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "vocabulary too small");
    v->tok_off = malloc((size_t)n_vocab * sizeof *v->tok_off);
    v->types = malloc((size_t)n_vocab * sizeof *v->types);
    v->tokens = malloc((size_t)n_vocab * sizeof *v->tokens);
    v->merge_off = malloc((size_t)n_vocab * sizeof *v->merge_off);
    v->merges = malloc((size_t)n_vocab * sizeof *v->merges);
    if (sd_strtab_init(&v->index, (uint64_t)n_vocab, seed, tok_text_at, v) < 0 || !v->tok_off || !v->types ||
        !v->tokens || !v->merge_off || !v->merges)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the vocabulary");

    int32_t letters[27]; /* ids of 'a'..'z' and of the space symbol (last) */
    for (int b = 0; b < 256; b++) {
        char t[4];
        size_t n = gpt2_byte_text(b, t);
        if (vocab_add(v, t, n, SD_TOKEN_NORMAL) < 0) goto oom;
        if (b >= 'a' && b <= 'z') letters[b - 'a'] = v->n - 1;
        if (b == ' ') letters[26] = v->n - 1;
    }
    sd_rng g;
    sd_rng_seed(&g, seed ^ 0x766f636162ull);
    const int32_t n_merges = n_shared - 258;
    /* Level by level, as real BPE vocabularies are mostly short pieces: level 1 is the letters and 'Ġ'
     * (the space symbol), level L + 1 is every level-L piece followed by a letter. Each level is added in
     * a seeded random order, the last one only in part. */
    int32_t par_begin = -1, par_end = -1; /* level-L pieces: ids [par_begin, par_end); -1: letters[] */
    uint32_t *order = NULL;
    int rc = SD_STATUS_OK;
    char buf[512];
    while (v->n < 256 + n_merges && rc == SD_STATUS_OK) {
        const int64_t n_par = par_begin < 0 ? 27 : par_end - par_begin;
        const int64_t n_cand = n_par * 26;
        uint32_t *o = realloc(order, (size_t)n_cand * sizeof *o);
        if (!o) {
            rc = SD_STATUS_NO_MEMORY;
            break;
        }
        order = o;
        for (int64_t i = 0; i < n_cand; i++)
            order[i] = (uint32_t)i;
        for (int64_t i = n_cand - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t k = (int64_t)(sd_rng_next(&g) % (uint64_t)(i + 1));
            uint32_t t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        const int32_t level_begin = v->n;
        for (int64_t i = 0; i < n_cand && v->n < 256 + n_merges; i++) {
            const int64_t pi = order[i] / 26;
            const int32_t left = par_begin < 0 ? letters[pi] : par_begin + (int32_t)pi;
            const int32_t right = letters[order[i] % 26];
            size_t ll, rl;
            const char *ls = tok_text(v, left, &ll), *rs = tok_text(v, right, &rl);
            if (ll + rl > sizeof buf) continue;
            memcpy(buf, ls, ll);
            memcpy(buf + ll, rs, rl);
            int added = vocab_add(v, buf, ll + rl, SD_TOKEN_NORMAL);
            if (added < 0) {
                rc = SD_STATUS_NO_MEMORY;
                break;
            }
            if (added == 0) continue;
            /* merge text "left right" (token texts never hold a raw space: it is byte-mapped to 'Ġ') */
            ls = tok_text(v, left, &ll); /* the pool may have moved */
            rs = tok_text(v, right, &rl);
            v->merge_off[v->n_merges] = v->merge_len;
            if (!pool_append(&v->merge_pool, &v->merge_len, &v->merge_cap, ls, ll) ||
                !pool_append(&v->merge_pool, &v->merge_len, &v->merge_cap, " ", 1) ||
                !pool_append(&v->merge_pool, &v->merge_len, &v->merge_cap, rs, rl)) {
                rc = SD_STATUS_NO_MEMORY;
                break;
            }
            v->n_merges++;
        }
        par_begin = level_begin;
        par_end = v->n;
    }
    free(order);
    if (rc < 0) goto oom;
    v->bos = v->n;
    v->eos = v->n + 1;
    if (vocab_add(v, "<|begin_of_text|>", 17, SD_TOKEN_CONTROL) <= 0 ||
        vocab_add(v, "<|end_of_text|>", 15, SD_TOKEN_CONTROL) <= 0)
        goto oom;
    while (v->n < n_vocab) {
        int n = snprintf(buf, sizeof buf, "<unused%d>", v->n - n_shared);
        if (vocab_add(v, buf, (size_t)n, SD_TOKEN_CONTROL) <= 0) goto oom;
    }
    for (int32_t i = 0; i < v->n; i++) {
        size_t len;
        v->tokens[i].ptr = tok_text(v, i, &len);
        v->tokens[i].len = len;
    }
    for (int32_t i = 0; i < v->n_merges; i++) {
        size_t end = i + 1 < v->n_merges ? v->merge_off[i + 1] : v->merge_len;
        v->merges[i].ptr = v->merge_pool + v->merge_off[i];
        v->merges[i].len = end - v->merge_off[i];
    }
    return SD_STATUS_OK;
oom:
    return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the vocabulary");
}

/* ---- shape: metadata and tensors ---- */

static uint32_t file_type_of(const sd_synth_params *p) {
    if (p->q4_k_m) return 15u;                                               /* llama_ftype MOSTLY_Q4_K_M */
    return p->type == SD_TYPE_Q4_0 ? 2u : p->type == SD_TYPE_Q8_0 ? 7u : 1u; /* MOSTLY_Q4_0, Q8_0, F16 */
}

/* llama.cpp's use_more_bits: the layers a mix gives more bits. */
static bool use_more_bits(int32_t il, int32_t n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

sd_type sd_synth_q4_k_m_type(const char *name, int32_t n_layer, int64_t cols, bool has_output) {
    sd_type t = SD_TYPE_Q4_K;
    int il = -1;
    if (sscanf(name, "blk.%d.", &il) != 1) il = -1;
    if (strcmp(name, "output.weight") == 0 || (!has_output && strcmp(name, "token_embd.weight") == 0))
        t = SD_TYPE_Q6_K;
    else if (il >= 0 && (ends_with(name, ".attn_v.weight") || ends_with(name, ".attn_qkv.weight") ||
                         ends_with(name, ".ffn_down.weight")))
        t = use_more_bits(il, n_layer) ? SD_TYPE_Q6_K : SD_TYPE_Q4_K;
    if (cols % 256 != 0) t = t == SD_TYPE_Q6_K ? SD_TYPE_Q8_0 : SD_TYPE_Q5_0;
    return t;
}

static int shape_metadata(sd_gguf_writer *w, const sd_synth_shape *s, const sd_synth_params *p,
                          const gen_vocab *v, char *err, size_t err_len) {
    const char *a = s->arch;
    const uint32_t head_dim = (uint32_t)shape_head_dim(s);
    char key[128], name[96];
    int rc = SD_STATUS_OK;
    snprintf(name, sizeof name, "%s-synthetic-%s", s->name,
             p->q4_k_m ? "q4_k_m" : sd_type_traits_of(p->type)->name);
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
#define TRY(call)                                                                                            \
    do {                                                                                                     \
        if ((rc = (call)) < 0) return rc;                                                                    \
    } while (0)
    TRY(sd_gguf_writer_add_str(w, "general.architecture", a, err, err_len));
    TRY(sd_gguf_writer_add_str(w, "general.name", name, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, "general.file_type", file_type_of(p), err, err_len));
    TRY(sd_gguf_writer_add_u32(w, "general.quantization_version", 2, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("vocab_size"), (uint32_t)s->n_vocab, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("context_length"), (uint32_t)s->n_ctx_train, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("block_count"), (uint32_t)s->n_layer, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("attention.key_length"), head_dim, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("attention.value_length"), head_dim, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, KEY("rope.dimension_count"), (uint32_t)shape_n_rot(s), err, err_len));
    if (s->n_swa > 0)
        TRY(sd_gguf_writer_add_u32(w, KEY("attention.sliding_window"), (uint32_t)s->n_swa, err, err_len));
    if (s->rope_linear_factor > 0.0f) {
        TRY(sd_gguf_writer_add_str(w, KEY("rope.scaling.type"), "linear", err, err_len));
        TRY(sd_gguf_writer_add_f32(w, KEY("rope.scaling.factor"), s->rope_linear_factor, err, err_len));
    }
    if (strcmp(a, "phi3") == 0) { /* LongRoPE, its attention factor as llama.cpp's converter derives it */
        double scale = (double)s->n_ctx_train / s->rope_orig_ctx;
        float attn_factor = (float)sqrt(1.0 + log(scale) / log((double)s->rope_orig_ctx));
        TRY(sd_gguf_writer_add_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)s->rope_orig_ctx,
                                   err, err_len));
        TRY(sd_gguf_writer_add_f32(w, KEY("rope.scaling.attn_factor"), attn_factor, err, err_len));
    }
    TRY(sd_gguf_writer_add_f32(w, KEY("rope.freq_base"), s->rope_freq_base, err, err_len));
    TRY(sd_gguf_writer_add_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->rms_eps, err, err_len));
    TRY(sd_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err, err_len));
    TRY(sd_gguf_writer_add_str(w, "tokenizer.ggml.pre", s->pre, err, err_len));
    TRY(sd_gguf_writer_add_strn_arr(w, "tokenizer.ggml.tokens", v->tokens, (uint64_t)v->n, err, err_len));
    TRY(sd_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", SD_GGUF_INT32, v->types, (uint64_t)v->n, err,
                               err_len));
    TRY(sd_gguf_writer_add_strn_arr(w, "tokenizer.ggml.merges", v->merges, (uint64_t)v->n_merges, err,
                                    err_len));
    TRY(sd_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos, err, err_len));
    TRY(sd_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos, err, err_len));
    TRY(sd_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", s->add_bos, err, err_len));
    TRY(sd_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false, err, err_len));
#undef KEY
#undef TRY
    return rc;
}

/* Llama 3 RoPE frequency divisors, [head_dim / 2], as llama.cpp's converter computes them from
 * rope_scaling: 1 for short wavelengths, `factor` for long ones, a smooth blend in between. */
static float *llama3_rope_factors(const sd_synth_shape *s) {
    const int dim = s->n_embd / s->n_head;
    float *f = malloc((size_t)(dim / 2) * sizeof *f);
    if (!f) return NULL;
    const double low_wavelen = s->rope_orig_ctx / s->rope_low_freq_factor;
    const double high_wavelen = s->rope_orig_ctx / s->rope_high_freq_factor;
    for (int i = 0; i < dim / 2; i++) {
        double freq = 1.0 / pow(s->rope_freq_base, (double)(2 * i) / dim);
        double wavelen = 2.0 * M_PI / freq;
        if (wavelen < high_wavelen) {
            f[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            f[i] = s->rope_scale_factor;
        } else {
            double smooth = (s->rope_orig_ctx / wavelen - s->rope_low_freq_factor) /
                            (s->rope_high_freq_factor - s->rope_low_freq_factor);
            f[i] = (float)(1.0 / ((1.0 - smooth) / s->rope_scale_factor + smooth));
        }
    }
    return f;
}

/* LongRoPE divisors, [n_rot / 2]: 1 for the short context; for the long one rising smoothly from 1 to
 * the context ratio over the frequencies (the real files hold fitted values; only the shape matters for
 * random weights). */
static float *longrope_factors(const sd_synth_shape *s, bool long_ctx) {
    const int64_t half = shape_n_rot(s) / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return NULL;
    const double ratio = (double)s->n_ctx_train / s->rope_orig_ctx;
    for (int64_t i = 0; i < half; i++)
        f[i] = long_ctx ? (float)pow(ratio, (double)i / (double)(half - 1)) : 1.0f;
    return f;
}

/* A computed vector tensor [n] (rope factors) that the job owns. */
static int add_owned_vector(synth_job *j, const char *name, int64_t n, float *data, char *err,
                            size_t err_len) {
    planned_tensor *t;
    if (!data || j->n_owned == (int)SD_ARRAY_LEN(j->owned) ||
        !(t = plan_add(j, name, SD_TYPE_F32, n, 0, FILL_DATA, err, err_len))) {
        free(data);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    j->owned[j->n_owned++] = data;
    t->data = data;
    return SD_STATUS_OK;
}

/* A random matrix of a shape: in `type`, or with q4_k_m in llama-quantize's Q4_K_M type for it. */
static planned_tensor *add_matrix(synth_job *j, const sd_synth_shape *s, sd_type type, bool q4_k_m,
                                  const char *name, int64_t ne0, int64_t ne1, char *err, size_t err_len) {
    const sd_type t = q4_k_m ? sd_synth_q4_k_m_type(name, s->n_layer, ne0, !s->tied_output) : type;
    return plan_add(j, name, t, ne0, ne1, FILL_RANDOM, err, err_len);
}

/* q4_k_m: each matrix in llama-quantize's Q4_K_M type for it instead of `type`. */
static int plan_shape(synth_job *j, const sd_synth_shape *s, sd_type type, bool q4_k_m, char *err,
                      size_t err_len) {
    const int64_t d = s->n_embd, hd = shape_head_dim(s);
    const int64_t dq = hd * s->n_head, dkv = hd * s->n_head_kv;
    const sd_arch arch = sd_arch_from_name(s->arch); /* one of the shapes' arches: known */
    const bool bias = arch == SD_ARCH_QWEN2, qk_norm = arch == SD_ARCH_QWEN3 || arch == SD_ARCH_GEMMA3;
    const bool post_norms = arch == SD_ARCH_GEMMA2 || arch == SD_ARCH_GEMMA3, fused = arch == SD_ARCH_PHI3;
    char name[SD_TENSOR_NAME_MAX];
#define ADD(nm, ty, ne0, ne1, kind) plan_add(j, nm, ty, ne0, ne1, kind, err, err_len)
#define MAT(nm, ne0, ne1) add_matrix(j, s, type, q4_k_m, nm, ne0, ne1, err, err_len)
#define NAME(kind) sd_tensor_name(arch, kind, 0, name)
#define LNAME(kind) sd_tensor_name(arch, kind, il, name)
    planned_tensor *t;
    if (!MAT(NAME(SD_TENSOR_TOKEN_EMBD), d, s->n_vocab)) return SD_STATUS_NO_MEMORY;
    for (int il = 0; il < s->n_layer; il++) {
        if (!(t = ADD(LNAME(SD_TENSOR_ATTN_NORM), SD_TYPE_F32, d, 0, FILL_CONST))) return SD_STATUS_NO_MEMORY;
        t->value = 1.0f;
        if (fused) {
            if (!MAT(LNAME(SD_TENSOR_ATTN_QKV), d, dq + 2 * dkv)) return SD_STATUS_NO_MEMORY;
        } else {
            if (!MAT(LNAME(SD_TENSOR_ATTN_Q), d, dq)) return SD_STATUS_NO_MEMORY;
            if (!MAT(LNAME(SD_TENSOR_ATTN_K), d, dkv)) return SD_STATUS_NO_MEMORY;
            if (!MAT(LNAME(SD_TENSOR_ATTN_V), d, dkv)) return SD_STATUS_NO_MEMORY;
        }
        const sd_tensor_kind qk_norms[] = {SD_TENSOR_ATTN_Q_NORM, SD_TENSOR_ATTN_K_NORM};
        for (size_t n = 0; qk_norm && n < SD_ARRAY_LEN(qk_norms); n++) {
            if (!(t = ADD(LNAME(qk_norms[n]), SD_TYPE_F32, hd, 0, FILL_CONST))) return SD_STATUS_NO_MEMORY;
            t->value = 1.0f;
        }
        if (bias) {
            if (!ADD(LNAME(SD_TENSOR_ATTN_Q_BIAS), SD_TYPE_F32, dq, 0, FILL_CONST))
                return SD_STATUS_NO_MEMORY;
            if (!ADD(LNAME(SD_TENSOR_ATTN_K_BIAS), SD_TYPE_F32, dkv, 0, FILL_CONST))
                return SD_STATUS_NO_MEMORY;
            if (!ADD(LNAME(SD_TENSOR_ATTN_V_BIAS), SD_TYPE_F32, dkv, 0, FILL_CONST))
                return SD_STATUS_NO_MEMORY;
        }
        if (!MAT(LNAME(SD_TENSOR_ATTN_OUTPUT), dq, d)) return SD_STATUS_NO_MEMORY;
        const sd_tensor_kind norms[] = {SD_TENSOR_POST_ATTN_NORM, SD_TENSOR_FFN_NORM};
        for (size_t n = post_norms ? 0 : 1; n < SD_ARRAY_LEN(norms); n++) {
            if (!(t = ADD(LNAME(norms[n]), SD_TYPE_F32, d, 0, FILL_CONST))) return SD_STATUS_NO_MEMORY;
            t->value = 1.0f;
        }
        if (fused) { /* gate rows, then up rows */
            if (!MAT(LNAME(SD_TENSOR_FFN_UP), d, 2 * s->n_ff)) return SD_STATUS_NO_MEMORY;
        } else {
            if (!MAT(LNAME(SD_TENSOR_FFN_GATE), d, s->n_ff)) return SD_STATUS_NO_MEMORY;
            if (!MAT(LNAME(SD_TENSOR_FFN_UP), d, s->n_ff)) return SD_STATUS_NO_MEMORY;
        }
        if (!MAT(LNAME(SD_TENSOR_FFN_DOWN), s->n_ff, d)) return SD_STATUS_NO_MEMORY;
        if (post_norms) {
            if (!(t = ADD(LNAME(SD_TENSOR_POST_FFN_NORM), SD_TYPE_F32, d, 0, FILL_CONST)))
                return SD_STATUS_NO_MEMORY;
            t->value = 1.0f;
        }
    }
    if (!(t = ADD(NAME(SD_TENSOR_OUTPUT_NORM), SD_TYPE_F32, d, 0, FILL_CONST))) return SD_STATUS_NO_MEMORY;
    t->value = 1.0f;
    if (!s->tied_output && !MAT(NAME(SD_TENSOR_OUTPUT), d, s->n_vocab)) return SD_STATUS_NO_MEMORY;
    int rc = SD_STATUS_OK;
    if (s->rope_scale_factor > 0.0f)
        rc = add_owned_vector(j, NAME(SD_TENSOR_ROPE_FREQS), hd / 2, llama3_rope_factors(s), err, err_len);
    if (rc == 0 && fused)
        rc = add_owned_vector(j, NAME(SD_TENSOR_ROPE_FACTORS_LONG), shape_n_rot(s) / 2,
                              longrope_factors(s, true), err, err_len);
    if (rc == 0 && fused)
        rc = add_owned_vector(j, NAME(SD_TENSOR_ROPE_FACTORS_SHORT), shape_n_rot(s) / 2,
                              longrope_factors(s, false), err, err_len);
    if (rc < 0) return rc;
#undef ADD
#undef MAT
#undef NAME
#undef LNAME
    const sd_type narrowest = q4_k_m ? SD_TYPE_Q5_0 : type; /* the mix falls back to 32-wide blocks */
    rc = check_cols(narrowest, d, "embedding", err, err_len);
    if (rc == 0) rc = check_cols(narrowest, s->n_ff, "FFN", err, err_len);
    if (rc == 0) rc = check_cols(narrowest, dq, "attention", err, err_len);
    return rc;
}

int sd_synth_shape_write(const char *shape, const sd_synth_params *p, const char *out, sd_synth_report *rep,
                         char *err, size_t err_len) {
    sd_synth_report r0;
    if (!rep) rep = &r0;
    memset(rep, 0, sizeof *rep);
    int rc = check_params(p, err, err_len);
    if (rc < 0) return rc;
    const sd_synth_shape *s = sd_synth_shape_find(shape);
    if (!s) {
        char names[256];
        size_t off = 0;
        for (size_t i = 0; i < SD_ARRAY_LEN(SHAPES) && off < sizeof names; i++)
            off += (size_t)snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", SHAPES[i].name);
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown shape '%s' (known: %s)",
                        shape ? shape : "(null)", names);
    }
    synth_job j = {.seed = p->seed};
    gen_vocab v;
    memset(&v, 0, sizeof v);
    sd_gguf_writer *w = NULL;
    int32_t n_shared = s->n_vocab_shared > 0 ? s->n_vocab_shared : s->n_vocab;
    if ((rc = gen_vocab_build(&v, s->n_vocab, n_shared, p->seed, err, err_len)) < 0) goto done;
    if ((rc = plan_shape(&j, s, p->type, p->q4_k_m, err, err_len)) < 0) goto done;
    if (!(w = sd_gguf_writer_create())) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto done;
    }
    if ((rc = shape_metadata(w, s, p, &v, err, err_len)) < 0) goto done;
    if ((rc = plan_to_writer(&j, p, w, rep, err, err_len)) < 0) goto done;
    rep->n_layer = s->n_layer;
    rep->n_vocab = s->n_vocab;
    rc = write_out(&j, p, w, out, err, err_len);
done:
    sd_gguf_writer_free(w);
    gen_vocab_free(&v);
    job_free(&j);
    return rc;
}
