/* Model loading: architecture and hyper-parameters from GGUF metadata, weights validated against them. */
#include "model.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "gemm/qtypes.h"
#include "model/tensor_names.h"

static float fp16_round(float x) {
    return sd_fp16_to_fp32(sd_fp32_to_fp16(x));
}

/* The tanh-form GELU formula in fp32 at an fp16 value h, its result rounded to fp16: one entry of
 * ggml's table. */
static float gelu_fp16_entry(float h) {
    const float sqrt_2_over_pi = 0.79788456080286535587989211986876f, coef_a = 0.044715f;
    return fp16_round(0.5f * h * (1.0f + tanhf(sqrt_2_over_pi * h * (1.0f + coef_a * h * h))));
}

float sd_gelu_ggml_ref(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return gelu_fp16_entry(fp16_round(x));
}

/* The entry of every fp16 value, indexed by its bits: the table ggml's CPU backend builds. */
static float *gelu_table_build(void) {
    float *t = malloc(65536 * sizeof *t);
    for (uint32_t h = 0; t && h < 65536; h++)
        t[h] = gelu_fp16_entry(sd_fp16_to_fp32((uint16_t)h));
    return t;
}

typedef struct arch_desc {
    const char *name; /* general.architecture value and key prefix */
    sd_arch arch;
    sd_rope_style rope_style;
    bool qkv_bias;
    bool qk_norm;
    bool fused; /* phi3: attn_qkv (q, k, v rows) and ffn_up (gate rows, then up rows), no ffn_gate */
    bool gemma; /* embedding x sqrt(n_embd), post-attention and post-FFN norms, GELU, sliding windows */
} arch_desc;

static const arch_desc known_archs[] = {
    {"llama", SD_ARCH_LLAMA, SD_ROPE_ADJACENT, false, false, false, false},
    {"qwen2", SD_ARCH_QWEN2, SD_ROPE_HALVES, true, false, false, false},
    {"qwen3", SD_ARCH_QWEN3, SD_ROPE_HALVES, false, true, false, false},
    {"gemma2", SD_ARCH_GEMMA2, SD_ROPE_HALVES, false, false, false, true},
    {"gemma3", SD_ARCH_GEMMA3, SD_ROPE_HALVES, false, true, false, true},
    {"phi3", SD_ARCH_PHI3, SD_ROPE_HALVES, false, false, true, false},
};

const char *sd_arch_name(sd_arch a) {
    for (size_t i = 0; i < SD_ARRAY_LEN(known_archs); i++)
        if (known_archs[i].arch == a) return known_archs[i].name;
    return "unknown";
}

sd_arch sd_arch_from_name(const char *name) {
    for (size_t i = 0; name && i < SD_ARRAY_LEN(known_archs); i++)
        if (strcmp(known_archs[i].name, name) == 0) return known_archs[i].arch;
    return SD_ARCH_UNKNOWN;
}

/* Reads "<arch>.<suffix>" as a positive int32; `required` turns absence into an error. */
static int get_arch_i32(const sd_gguf *g, const char *arch, const char *suffix, bool required, int32_t *out,
                        char *err, size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = sd_gguf_get_i32(g, key, out, err, err_len);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (required) return sd_error(err, err_len, SD_STATUS_FORMAT, "missing required key '%s'", key);
        return SD_STATUS_OK;
    }
    if (*out <= 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' = %d must be positive", key, *out);
    return SD_STATUS_OK;
}

static int get_arch_f32(const sd_gguf *g, const char *arch, const char *suffix, float *out, char *err,
                        size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int rc = sd_gguf_get_f32(g, key, out, err, err_len);
    if (rc < 0) return rc;
    if (rc == 1 && !isfinite(*out))
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' is not a finite number", key);
    return SD_STATUS_OK;
}

/* "<arch>.feed_forward_length": one width for all layers, or (as llama.cpp also accepts) an array with
 * one width per layer. hp->n_ff is the widest; sd_layer.n_ff each layer's own. */
static int read_ff_length(const sd_gguf *g, const char *arch, sd_hparams *hp, char *err, size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv || kv->type != SD_GGUF_ARRAY)
        return get_arch_i32(g, arch, "feed_forward_length", true, &hp->n_ff, err, err_len);
    if (kv->arr_type != SD_GGUF_INT32 && kv->arr_type != SD_GGUF_UINT32)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' must hold 32-bit integers", key);
    if (kv->arr_len != (uint64_t)hp->n_layer)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' has %llu entries for %d layers", key,
                        (unsigned long long)kv->arr_len, hp->n_layer);
    hp->n_ff = 0;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        int32_t v = sd_gguf_arr_i32(kv, i);
        if (v <= 0 || v > (1 << 22))
            return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s'[%llu] = %d is out of range", key,
                            (unsigned long long)i, v);
        hp->n_ff = SD_MAX(hp->n_ff, v);
    }
    return SD_STATUS_OK;
}

static int layer_ff_length(const sd_gguf *g, const char *arch, const sd_hparams *hp, int il) {
    char key[128];
    snprintf(key, sizeof key, "%s.feed_forward_length", arch);
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (kv && kv->type == SD_GGUF_ARRAY) return sd_gguf_arr_i32(kv, (uint64_t)il);
    return hp->n_ff;
}

/* Gemma: sliding windows, soft-capping, the activation and scales, as llama.cpp's load_hparams sets them
 * (its defaults where the file says nothing). Layers il with il % pattern < pattern - 1 are local. */
static int read_gemma_hparams(const sd_gguf *g, const char *a, sd_hparams *hp, int32_t *swa_pattern,
                              char *err, size_t err_len) {
    int rc;
    bool gemma2 = hp->arch == SD_ARCH_GEMMA2;
    hp->ffn_act = SD_FFN_GELU_TANH;
    hp->embd_scale = sqrtf((float)hp->n_embd);
    /* Gemma 27B (gemma2: 46 layers, gemma3: 62) scales queries by n_embd / n_head, not the head width. */
    if (hp->n_layer == (gemma2 ? 46 : 62)) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    hp->attn_softcap = gemma2 ? 50.0f : 0.0f;
    hp->final_softcap = gemma2 ? 30.0f : 0.0f;
    if (gemma2 && (rc = get_arch_f32(g, a, "attn_logit_softcapping", &hp->attn_softcap, err, err_len)) < 0)
        return rc;
    if ((rc = get_arch_f32(g, a, "final_logit_softcapping", &hp->final_softcap, err, err_len)) < 0) return rc;
    if (hp->attn_softcap < 0.0f || hp->final_softcap < 0.0f)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "soft-capping values must not be negative");
    hp->n_swa = gemma2 ? 4096 : 0;
    if ((rc = get_arch_i32(g, a, "attention.sliding_window", false, &hp->n_swa, err, err_len)) < 0) return rc;
    *swa_pattern = gemma2 ? 2 : 6;
    char key[128]; /* an integer pattern overrides llama.cpp's default (other models store arrays) */
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", a);
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (kv && kv->type != SD_GGUF_ARRAY &&
        (rc = get_arch_i32(g, a, "attention.sliding_window_pattern", false, swa_pattern, err, err_len)) < 0)
        return rc;
    if (!gemma2) { /* Gemma 3's local layers: base 10000 and no scaling, whatever the global ones use */
        hp->rope_freq_base_swa = 10000.0f;
        hp->rope_freq_scale_swa = 1.0f;
    }
    if ((rc = get_arch_f32(g, a, "rope.freq_base_swa", &hp->rope_freq_base_swa, err, err_len)) < 0) return rc;
    if (hp->rope_freq_base_swa <= 0.0f)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "rope.freq_base_swa must be positive");
    return SD_STATUS_OK;
}

/* Phi-3 LongRoPE: the attention factor and the context the short factors serve. Phi-3's sliding window
 * is ignored, as llama.cpp does. */
static int read_phi3_hparams(const sd_gguf *g, const char *a, sd_hparams *hp, char *err, size_t err_len) {
    int rc;
    if ((rc = get_arch_f32(g, a, "rope.scaling.attn_factor", &hp->rope_attn_factor, err, err_len)) < 0)
        return rc;
    if ((rc = get_arch_i32(g, a, "rope.scaling.original_context_length", false, &hp->n_ctx_orig, err,
                           err_len)) < 0)
        return rc;
    if (hp->rope_attn_factor <= 0.0f)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "rope.scaling.attn_factor must be positive");
    return SD_STATUS_OK;
}

static int read_hparams(const sd_gguf *g, const arch_desc *ad, sd_hparams *hp, int32_t *swa_pattern,
                        char *err, size_t err_len) {
    const char *a = ad->name;
    int rc;
    memset(hp, 0, sizeof *hp);
    hp->arch = ad->arch;
    hp->rope_style = ad->rope_style;
    if ((rc = get_arch_i32(g, a, "context_length", true, &hp->n_ctx_train, err, err_len)) < 0) return rc;
    if ((rc = get_arch_i32(g, a, "embedding_length", true, &hp->n_embd, err, err_len)) < 0) return rc;
    if ((rc = get_arch_i32(g, a, "block_count", true, &hp->n_layer, err, err_len)) < 0) return rc;
    if ((rc = read_ff_length(g, a, hp, err, err_len)) < 0) return rc;
    if ((rc = get_arch_i32(g, a, "attention.head_count", true, &hp->n_head, err, err_len)) < 0) return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = get_arch_i32(g, a, "attention.head_count_kv", false, &hp->n_head_kv, err, err_len)) < 0)
        return rc;
    /* The head width is embedding_length / head_count unless the file states it (Qwen3 does). */
    hp->head_dim = 0;
    if ((rc = get_arch_i32(g, a, "attention.key_length", false, &hp->head_dim, err, err_len)) < 0) return rc;
    if (hp->head_dim == 0) {
        if (hp->n_embd % hp->n_head != 0)
            return sd_error(err, err_len, SD_STATUS_FORMAT,
                            "embedding_length %d is not a multiple of head_count %d", hp->n_embd, hp->n_head);
        hp->head_dim = hp->n_embd / hp->n_head;
    }
    int32_t value_len = hp->head_dim;
    if ((rc = get_arch_i32(g, a, "attention.value_length", false, &value_len, err, err_len)) < 0) return rc;
    if (value_len != hp->head_dim)
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "attention value_length %d != key_length %d",
                        value_len, hp->head_dim);
    if (hp->n_head_kv > hp->n_head || hp->n_head % hp->n_head_kv != 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "head_count %d is not a multiple of head_count_kv %d",
                        hp->n_head, hp->n_head_kv);
    if (hp->n_layer > 4096 || hp->n_embd > (1 << 20) || hp->n_ff > (1 << 22) || hp->head_dim > 4096)
        return sd_error(err, err_len, SD_STATUS_FORMAT,
                        "implausible dimensions (layers %d, width %d, ffn %d)", hp->n_layer, hp->n_embd,
                        hp->n_ff);
    hp->n_rot = hp->head_dim;
    if ((rc = get_arch_i32(g, a, "rope.dimension_count", false, &hp->n_rot, err, err_len)) < 0) return rc;
    if (hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT,
                        "rope.dimension_count %d must be even and <= head dim %d", hp->n_rot, hp->head_dim);
    hp->rope_freq_base = 10000.0f;
    if ((rc = get_arch_f32(g, a, "rope.freq_base", &hp->rope_freq_base, err, err_len)) < 0) return rc;
    hp->rms_eps = 1e-5f;
    if ((rc = get_arch_f32(g, a, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err, err_len)) < 0)
        return rc;
    if (hp->rope_freq_base <= 0.0f || hp->rms_eps < 0.0f)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "rope.freq_base and rms epsilon must be positive");

    /* Linear RoPE scaling (positions divided by the factor). Llama 3 style scaling arrives as the
     * rope_freqs.weight tensor, read with the weights. */
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    sd_gguf_str scaling;
    rc = sd_gguf_get_str(g, key, &scaling, err, err_len);
    if (rc < 0) return rc;
    if (rc == 1 && !sd_gguf_str_eq(scaling, "none")) {
        if (!sd_gguf_str_eq(scaling, "linear") && !sd_gguf_str_eq(scaling, "llama3"))
            return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "unsupported rope scaling type '%.*s'",
                            (int)SD_MIN(scaling.len, 32u), scaling.ptr);
        if (sd_gguf_str_eq(scaling, "linear")) {
            float factor = 1.0f;
            if ((rc = get_arch_f32(g, a, "rope.scaling.factor", &factor, err, err_len)) < 0) return rc;
            if (factor <= 0.0f)
                return sd_error(err, err_len, SD_STATUS_FORMAT, "rope.scaling.factor must be positive");
            hp->rope_freq_scale = 1.0f / factor;
        }
    }
    hp->ffn_act = SD_FFN_SILU;
    hp->embd_scale = 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->rope_freq_base_swa = hp->rope_freq_base;
    hp->rope_freq_scale_swa = hp->rope_freq_scale;
    hp->rope_attn_factor = 1.0f;
    *swa_pattern = 0;
    if (ad->gemma) return read_gemma_hparams(g, a, hp, swa_pattern, err, err_len);
    if (ad->arch == SD_ARCH_PHI3) return read_phi3_hparams(g, a, hp, err, err_len);
    return SD_STATUS_OK;
}

typedef struct loader {
    sd_model *m;
    int32_t swa_pattern;          /* layers il with il % swa_pattern < swa_pattern - 1 slide; 0: none do */
    const sd_kernel_set *kernels; /* multiplies every matrix of the model */
    char *err;
    size_t err_len;
} loader;

static const char *type_name(uint32_t t) {
    const sd_type_traits *tr = sd_type_traits_of(t);
    return tr ? tr->name : "unknown";
}

/* Finds a tensor and checks its shape (ne0 fastest), n_dims entries of want[]. */
static int find_tensor(loader *L, const char *name, int n_dims, const int64_t *want, bool required,
                       const sd_gguf_tensor **out) {
    *out = NULL;
    const sd_gguf_tensor *t = sd_gguf_find_tensor(L->m->gguf, name);
    if (!t) {
        if (!required) return SD_STATUS_OK;
        return sd_error(L->err, L->err_len, SD_STATUS_FORMAT, "missing tensor '%s'", name);
    }
    bool ok = true;
    for (int d = 0; d < 4; d++) {
        int64_t expect = d < n_dims ? want[d] : 1;
        if (t->ne[d] != expect) ok = false;
    }
    if (!ok) {
        char want_s[96], got_s[96];
        int w = 0, gl = 0;
        for (int d = 0; d < n_dims; d++)
            w += snprintf(want_s + w, sizeof want_s - (size_t)w, "%s%" PRId64, d ? ", " : "", want[d]);
        for (uint32_t d = 0; d < t->n_dims; d++)
            gl += snprintf(got_s + gl, sizeof got_s - (size_t)gl, "%s%" PRId64, d ? ", " : "", t->ne[d]);
        return sd_error(L->err, L->err_len, SD_STATUS_FORMAT, "tensor '%s' has shape [%s], expected [%s]",
                        name, got_s, want_s);
    }
    L->m->n_params += (uint64_t)t->ne[0] * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
    L->m->weight_bytes += t->n_bytes;
    *out = t;
    return SD_STATUS_OK;
}

/* Rows [row0, row0 + rows) of a matrix [total_rows][cols] (GGUF ne = {cols, total_rows}): the whole matrix,
 * or one part of a fused tensor (each row of a GGUF tensor is encoded on its own). The tensor counts in
 * the model's totals once, with its first part. */
static int load_matrix_rows(loader *L, const char *name, int64_t total_rows, int64_t row0, int64_t rows,
                            int64_t cols, sd_weight *w) {
    const sd_gguf_tensor *t;
    int64_t want[2] = {cols, total_rows};
    uint64_t n_params = L->m->n_params, weight_bytes = L->m->weight_bytes;
    int rc = find_tensor(L, name, 2, want, true, &t);
    if (rc < 0) return rc;
    if (row0 > 0) {
        L->m->n_params = n_params;
        L->m->weight_bytes = weight_bytes;
    }
    const sd_type_traits *tr = sd_type_traits_of(t->type);
    if (!tr || !tr->supported)
        return sd_error(L->err, L->err_len, SD_STATUS_UNSUPPORTED,
                        "tensor '%s' has unsupported weight type %s", name, type_name(t->type));
    char msg[256];
    const uint8_t *data = (const uint8_t *)t->data + (size_t)row0 * sd_type_row_bytes(t->type, cols);
    rc = sd_weight_init_with(w, L->kernels, (sd_type)t->type, rows, cols, data, msg, sizeof msg);
    if (rc < 0) return sd_error(L->err, L->err_len, rc, "tensor '%s': %s", name, msg);
    /* the multiplications read the repacked copy: the file's form need not stay resident too */
    if (w->packed) sd_gguf_release_pages(L->m->gguf, data, (size_t)rows * w->row_bytes);
    return SD_STATUS_OK;
}

/* A matrix [rows][cols]. */
static int load_matrix(loader *L, const char *name, int64_t rows, int64_t cols, sd_weight *w) {
    return load_matrix_rows(L, name, rows, 0, rows, cols, w);
}

/* A vector [n] converted to an owned fp32 copy; *out stays NULL when absent and not required. */
static int load_vector(loader *L, const char *name, int64_t n, bool required, float **out) {
    const sd_gguf_tensor *t;
    *out = NULL;
    int rc = find_tensor(L, name, 1, &n, required, &t);
    if (rc < 0 || !t) return rc;
    const sd_type_traits *tr = sd_type_traits_of(t->type);
    if (!tr || !tr->supported || n % tr->block_size != 0)
        return sd_error(L->err, L->err_len, SD_STATUS_UNSUPPORTED, "tensor '%s' has unsupported type %s",
                        name, type_name(t->type));
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return sd_error(L->err, L->err_len, SD_STATUS_NO_MEMORY, "out of memory for tensor '%s'", name);
    sd_dequantize_row_ref((sd_type)t->type, t->data, v, n);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) {
            free(v);
            return sd_error(L->err, L->err_len, SD_STATUS_FORMAT, "tensor '%s' holds a non-finite value",
                            name);
        }
    }
    *out = v;
    return SD_STATUS_OK;
}

static int load_layer(loader *L, const arch_desc *ad, int il, sd_layer *ly) {
    const sd_hparams *hp = &L->m->hp;
    int64_t d = hp->n_embd, dq = (int64_t)hp->n_head * hp->head_dim,
            dkv = (int64_t)hp->n_head_kv * hp->head_dim;
    char name[SD_TENSOR_NAME_MAX];
    int rc;
#define LAYER_NAME(kind) sd_tensor_name(hp->arch, kind, il, name)
    ly->sliding = L->swa_pattern > 0 && hp->n_swa > 0 && il % L->swa_pattern < L->swa_pattern - 1;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_NORM), d, true, &ly->attn_norm)) < 0) return rc;
    if (ad->fused) {
        int64_t rows = dq + 2 * dkv;
        if ((rc = load_matrix_rows(L, LAYER_NAME(SD_TENSOR_ATTN_QKV), rows, 0, dq, d, &ly->wq)) < 0 ||
            (rc = load_matrix_rows(L, name, rows, dq, dkv, d, &ly->wk)) < 0 ||
            (rc = load_matrix_rows(L, name, rows, dq + dkv, dkv, d, &ly->wv)) < 0)
            return rc;
    } else {
        if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_ATTN_Q), dq, d, &ly->wq)) < 0) return rc;
        if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_ATTN_K), dkv, d, &ly->wk)) < 0) return rc;
        if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_ATTN_V), dkv, d, &ly->wv)) < 0) return rc;
    }
    if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_ATTN_OUTPUT), d, dq, &ly->wo)) < 0) return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_Q_BIAS), dq, ad->qkv_bias, &ly->bq)) < 0) return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_K_BIAS), dkv, ad->qkv_bias, &ly->bk)) < 0) return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_V_BIAS), dkv, ad->qkv_bias, &ly->bv)) < 0) return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_Q_NORM), hp->head_dim, ad->qk_norm, &ly->q_norm)) < 0)
        return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_ATTN_K_NORM), hp->head_dim, ad->qk_norm, &ly->k_norm)) < 0)
        return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_POST_ATTN_NORM), d, ad->gemma, &ly->post_attn_norm)) < 0)
        return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_FFN_NORM), d, true, &ly->ffn_norm)) < 0) return rc;
    if ((rc = load_vector(L, LAYER_NAME(SD_TENSOR_POST_FFN_NORM), d, ad->gemma, &ly->post_ffn_norm)) < 0)
        return rc;
    ly->n_ff = layer_ff_length(L->m->gguf, ad->name, hp, il);
    int64_t ff = ly->n_ff;
    if (ad->fused) {
        if ((rc = load_matrix_rows(L, LAYER_NAME(SD_TENSOR_FFN_UP), 2 * ff, 0, ff, d, &ly->w_gate)) < 0 ||
            (rc = load_matrix_rows(L, name, 2 * ff, ff, ff, d, &ly->w_up)) < 0)
            return rc;
    } else {
        if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_FFN_GATE), ff, d, &ly->w_gate)) < 0) return rc;
        if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_FFN_UP), ff, d, &ly->w_up)) < 0) return rc;
    }
    if ((rc = load_matrix(L, LAYER_NAME(SD_TENSOR_FFN_DOWN), d, ff, &ly->w_down)) < 0) return rc;
#undef LAYER_NAME
    return SD_STATUS_OK;
}

static int load_weights(loader *L, const arch_desc *ad) {
    sd_model *m = L->m;
    sd_hparams *hp = &m->hp;
    int rc;
    const char *const *tn = sd_tensor_names(hp->arch);
    const char *embd = tn[SD_TENSOR_TOKEN_EMBD];
    /* The embedding fixes the vocabulary size; the tokenizer must agree with it. */
    const sd_gguf_tensor *emb = sd_gguf_find_tensor(m->gguf, embd);
    if (!emb) return sd_error(L->err, L->err_len, SD_STATUS_FORMAT, "missing tensor '%s'", embd);
    if (emb->n_dims != 2 || emb->ne[0] != hp->n_embd)
        return sd_error(L->err, L->err_len, SD_STATUS_FORMAT,
                        "tensor '%s' has width %" PRId64 ", expected embedding_length %d", embd, emb->ne[0],
                        hp->n_embd);
    if (emb->ne[1] != sd_vocab_n_tokens(m->vocab))
        return sd_error(L->err, L->err_len, SD_STATUS_FORMAT,
                        "vocabulary has %d tokens but '%s' has %" PRId64 " rows", sd_vocab_n_tokens(m->vocab),
                        embd, emb->ne[1]);
    hp->n_vocab = (int32_t)emb->ne[1];
    if ((rc = load_matrix(L, embd, hp->n_vocab, hp->n_embd, &m->tok_embd)) < 0) return rc;
    if ((rc = load_vector(L, tn[SD_TENSOR_OUTPUT_NORM], hp->n_embd, true, &m->output_norm)) < 0) return rc;
    if (sd_gguf_find_tensor(m->gguf, tn[SD_TENSOR_OUTPUT])) {
        if ((rc = load_matrix(L, tn[SD_TENSOR_OUTPUT], hp->n_vocab, hp->n_embd, &m->output)) < 0) return rc;
    } else {
        hp->tied_output = true;
        m->output = m->tok_embd; /* shares tok_embd's repacked copy, released once with tok_embd */
    }
    if ((rc = load_vector(L, tn[SD_TENSOR_ROPE_FREQS], hp->n_rot / 2, false, &m->rope_freq_factors)) < 0)
        return rc;
    /* LongRoPE (phi3): the short factors (the context up to hp.n_ctx_orig) and the long ones, or neither. */
    if (sd_gguf_find_tensor(m->gguf, tn[SD_TENSOR_ROPE_FACTORS_SHORT])) {
        if (m->rope_freq_factors)
            return sd_error(L->err, L->err_len, SD_STATUS_FORMAT, "both rope_freqs and LongRoPE factors");
        if ((rc = load_vector(L, tn[SD_TENSOR_ROPE_FACTORS_SHORT], hp->n_rot / 2, true,
                              &m->rope_freq_factors)) < 0 ||
            (rc = load_vector(L, tn[SD_TENSOR_ROPE_FACTORS_LONG], hp->n_rot / 2, true,
                              &m->rope_factors_long)) < 0)
            return rc;
    } else {
        hp->n_ctx_orig = 0;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return sd_error(L->err, L->err_len, SD_STATUS_NO_MEMORY, "out of memory for layers");
    for (int il = 0; il < hp->n_layer; il++)
        if ((rc = load_layer(L, ad, il, &m->layers[il])) < 0) return rc;
    return SD_STATUS_OK;
}

int sd_model_load_file(const char *path, sd_model **out, char *err, size_t err_len) {
    return sd_model_load_file_with(path, NULL, out, err, err_len);
}

int sd_model_load_file_with(const char *path, const char *kernels, sd_model **out, char *err,
                            size_t err_len) {
    *out = NULL;
    const sd_kernel_set *ks;
    int rc = sd_gemm_kernels_select(kernels, &ks, err, err_len);
    if (rc < 0) return rc;
    sd_model *m = calloc(1, sizeof *m);
    if (!m) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    m->kernels = ks;
    m->path = strdup(path);
    rc = m->path ? sd_gguf_open(path, &m->gguf, err, err_len) : SD_STATUS_NO_MEMORY;
    if (rc < 0) goto fail;

    sd_gguf_str arch;
    rc = sd_gguf_get_str(m->gguf, "general.architecture", &arch, err, err_len);
    if (rc == 0) rc = sd_error(err, err_len, SD_STATUS_FORMAT, "missing key 'general.architecture'");
    if (rc < 0) goto fail;
    const arch_desc *ad = NULL;
    for (size_t i = 0; i < SD_ARRAY_LEN(known_archs); i++)
        if (sd_gguf_str_eq(arch, known_archs[i].name)) ad = &known_archs[i];
    if (!ad) {
        rc =
            sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                     "unsupported architecture '%.*s' (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3)",
                     (int)SD_MIN(arch.len, 64u), arch.ptr);
        goto fail;
    }
    int32_t swa_pattern = 0;
    if ((rc = read_hparams(m->gguf, ad, &m->hp, &swa_pattern, err, err_len)) < 0) goto fail;
    sd_gguf_str name = {"", 0};
    if ((rc = sd_gguf_get_str(m->gguf, "general.name", &name, err, err_len)) < 0) goto fail;
    m->name = strndup(name.ptr, (size_t)SD_MIN(name.len, 256u));
    if (!m->name) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    if ((rc = sd_vocab_load(m->gguf, &m->vocab, err, err_len)) < 0) goto fail;
    loader L = {m, swa_pattern, ks, err, err_len};
    if ((rc = load_weights(&L, ad)) < 0) goto fail;
    if (m->hp.ffn_act == SD_FFN_GELU_TANH && !(m->gelu_table = gelu_table_build())) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    *out = m;
    return SD_STATUS_OK;
fail:
    sd_model_free_internal(m);
    return rc;
}

static void free_layer(sd_layer *ly) {
    free(ly->attn_norm);
    free(ly->ffn_norm);
    free(ly->post_attn_norm);
    free(ly->post_ffn_norm);
    free(ly->bq);
    free(ly->bk);
    free(ly->bv);
    free(ly->q_norm);
    free(ly->k_norm);
    sd_weight_release(&ly->wq);
    sd_weight_release(&ly->wk);
    sd_weight_release(&ly->wv);
    sd_weight_release(&ly->wo);
    sd_weight_release(&ly->w_gate);
    sd_weight_release(&ly->w_up);
    sd_weight_release(&ly->w_down);
}

void sd_model_free_internal(sd_model *m) {
    if (!m) return;
    if (m->layers)
        for (int il = 0; il < m->hp.n_layer; il++)
            free_layer(&m->layers[il]);
    free(m->layers);
    free(m->output_norm);
    free(m->rope_freq_factors);
    free(m->rope_factors_long);
    free(m->gelu_table);
    if (!m->hp.tied_output) sd_weight_release(&m->output);
    sd_weight_release(&m->tok_embd);
    sd_vocab_free(m->vocab);
    sd_gguf_close(m->gguf);
    free(m->path);
    free(m->name);
    free(m);
}

void sd_model_weight_span(const sd_model *m, const void **start, size_t *bytes) {
    const uint8_t *lo = NULL, *hi = NULL;
    for (uint64_t i = 0; i < sd_gguf_n_tensors(m->gguf); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(m->gguf, i);
        const uint8_t *b = t->data, *e = b + t->n_bytes;
        if (!lo || b < lo) lo = b;
        if (!hi || e > hi) hi = e;
    }
    *start = lo;
    *bytes = lo ? (size_t)(hi - lo) : 0;
}
