/* A transformer model loaded from GGUF: hyper-parameters, weights (pointing into the mapped file) and
 * vocabulary. Llama-family architectures: llama (Llama 2/3, TinyLlama, SmolLM, Mistral-style), qwen2
 * (q/k/v bias), qwen3 (q/k RMS-norm). Knows nothing of speculation. */
#ifndef SD_MODEL_H
#define SD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

typedef enum sd_arch {
    SD_ARCH_UNKNOWN = 0,
    SD_ARCH_LLAMA = 1,
    SD_ARCH_QWEN2 = 2,
    SD_ARCH_QWEN3 = 3,
} sd_arch;

/* How RoPE pairs the dimensions of a head: adjacent (x[2i], x[2i+1]) as GGUF "llama" files are laid
 * out, or halves (x[i], x[i + n_rot/2]) as Qwen files are ("neox" in ggml's terms). */
typedef enum sd_rope_style {
    SD_ROPE_ADJACENT = 0,
    SD_ROPE_HALVES = 1,
} sd_rope_style;

typedef struct sd_hparams {
    sd_arch arch;
    int32_t n_vocab;
    int32_t n_ctx_train; /* context the model was trained with */
    int32_t n_embd;      /* residual width */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv; /* < n_head with grouped-query attention */
    int32_t head_dim;  /* per-head width of q and k (and v) */
    int32_t n_ff;      /* SwiGLU hidden width (the widest layer's, when layers differ) */
    int32_t n_rot;     /* dimensions of a head that RoPE rotates (<= head_dim) */
    float rope_freq_base;
    float rope_freq_scale; /* 1 / linear scaling factor; 1 if none */
    sd_rope_style rope_style;
    float rms_eps;
    bool tied_output; /* no output.weight: logits use token_embd.weight */
} sd_hparams;

typedef struct sd_layer {
    int32_t n_ff;        /* this layer's SwiGLU hidden width */
    float *attn_norm;    /* [n_embd] fp32 copy */
    sd_weight wq;        /* [n_head * head_dim][n_embd] */
    sd_weight wk;        /* [n_head_kv * head_dim][n_embd] */
    sd_weight wv;        /* [n_head_kv * head_dim][n_embd] */
    sd_weight wo;        /* [n_embd][n_head * head_dim] */
    float *bq, *bk, *bv; /* qwen2 biases, [rows of wq/wk/wv]; NULL if absent */
    float *q_norm;       /* qwen3: [head_dim]; NULL if absent */
    float *k_norm;       /* qwen3: [head_dim]; NULL if absent */
    float *ffn_norm;     /* [n_embd] */
    sd_weight w_gate;    /* [layer n_ff][n_embd] */
    sd_weight w_up;      /* [layer n_ff][n_embd] */
    sd_weight w_down;    /* [n_embd][layer n_ff] */
} sd_layer;

typedef struct sd_model {
    char *path;
    char *name;    /* general.name, "" if absent */
    sd_gguf *gguf; /* owns the mapping the weights point into */
    sd_vocab *vocab;
    sd_hparams hp;
    sd_weight tok_embd;           /* [n_vocab][n_embd] */
    float *output_norm;           /* [n_embd] */
    sd_weight output;             /* [n_vocab][n_embd]; a copy of tok_embd's description when tied */
    float *rope_freq_factors;     /* [n_rot / 2] Llama 3 style per-frequency divisors; NULL if none */
    sd_layer *layers;             /* [n_layer] */
    uint64_t n_params;            /* elements in all weight tensors */
    uint64_t weight_bytes;        /* bytes of all weight tensors in the file */
    const sd_kernel_set *kernels; /* the GEMM kernel set every matrix is multiplied with */
} sd_model;

/* Loads a model (weights and vocabulary). Errors name the file's problem: an unsupported architecture
 * or weight type, a missing or misshapen tensor, a vocabulary that disagrees with the embedding. */
int sd_model_load_file(const char *path, sd_model **out, char *err, size_t err_len);
/* The same with the GEMM kernel set named `kernels` (NULL: sd_gemm_kernels_select's default). */
int sd_model_load_file_with(const char *path, const char *kernels, sd_model **out, char *err, size_t err_len);
void sd_model_free_internal(sd_model *m);

const char *sd_arch_name(sd_arch a);
/* The architecture a general.architecture value names; SD_ARCH_UNKNOWN if none. */
sd_arch sd_arch_from_name(const char *name);

/* The span of the mapped file that holds the weights (for NUMA placement). */
void sd_model_weight_span(const sd_model *m, const void **start, size_t *bytes);

#endif
