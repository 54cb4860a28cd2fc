/* A transformer model loaded from GGUF: hyper-parameters, weights (pointing into the mapped file) and
 * vocabulary. Architectures, as llama.cpp computes them: llama (Llama 2/3, TinyLlama, SmolLM,
 * Mistral-style), qwen2 (q/k/v bias), qwen3 (q/k RMS-norm), gemma2 (embedding x sqrt(n_embd), post-attention
 * and post-FFN norms, GELU-tanh gated FFN, sliding-window layers, attention and final logit soft-capping),
 * gemma3 (gemma2 with q/k norms, local/global layers with two RoPE bases, no soft-capping), phi3
 * (Phi-3/Phi-4-mini: fused qkv and gate+up tensors, LongRoPE factors, partial rotary). Knows nothing of
 * speculation. */
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
    SD_ARCH_GEMMA2 = 4,
    SD_ARCH_GEMMA3 = 5,
    SD_ARCH_PHI3 = 6,
} sd_arch;

/* The gated feed-forward's activation: act(gate) * up. */
typedef enum sd_ffn_act {
    SD_FFN_SILU = 0,      /* SwiGLU (llama, qwen, phi3) */
    SD_FFN_GELU_TANH = 1, /* GELU, tanh approximation (Gemma), as ggml's CPU backend computes it */
} sd_ffn_act;

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
    sd_ffn_act ffn_act;
    float embd_scale;    /* token embeddings are multiplied by this: sqrt(n_embd) for Gemma, else 1 */
    float attn_scale;    /* scores are q.k times this: 1/sqrt(head_dim) (Gemma 27B: 1/sqrt(n_embd/n_head)) */
    float attn_softcap;  /* scores s -> c tanh(s / c) before the softmax (Gemma 2); 0: none */
    float final_softcap; /* logits l -> c tanh(l / c) (Gemma 2); 0: none */
    /* Sliding-window layers (sd_layer.sliding) attend to their own position and the n_swa - 1 before it;
     * 0: no such layers. Their RoPE has its own base and scale (Gemma 3's local layers: base 10000, no
     * scaling, while the global ones use rope_freq_base/scale). */
    int32_t n_swa;
    float rope_freq_base_swa, rope_freq_scale_swa;
    float rope_attn_factor; /* LongRoPE: multiplies RoPE's cos and sin; 1 if none */
    /* LongRoPE: the context the short factors serve; a forward state with a longer context uses the
     * long ones (as llama.cpp chooses). 0 if the file has no such factors. */
    int32_t n_ctx_orig;
} sd_hparams;

typedef struct sd_layer {
    int32_t n_ff;        /* this layer's SwiGLU hidden width */
    bool sliding;        /* attends to the last hp.n_swa positions only, with the _swa RoPE */
    float *attn_norm;    /* [n_embd] fp32 copy */
    sd_weight wq;        /* [n_head * head_dim][n_embd] */
    sd_weight wk;        /* [n_head_kv * head_dim][n_embd] */
    sd_weight wv;        /* [n_head_kv * head_dim][n_embd] */
    sd_weight wo;        /* [n_embd][n_head * head_dim] */
    float *bq, *bk, *bv; /* qwen2 biases, [rows of wq/wk/wv]; NULL if absent */
    float *q_norm;       /* qwen3: [head_dim]; NULL if absent */
    float *k_norm;       /* qwen3: [head_dim]; NULL if absent */
    /* Gemma: [n_embd] norms of the attention and FFN outputs before their residual adds; NULL if absent */
    float *post_attn_norm;
    float *ffn_norm; /* [n_embd] */
    float *post_ffn_norm;
    /* Phi-3 stores q, k, v in one attn_qkv tensor and gate, up in one ffn_up tensor (gate rows first):
     * wq/wk/wv and w_gate/w_up then describe consecutive row ranges of those tensors. */
    sd_weight w_gate; /* [layer n_ff][n_embd] */
    sd_weight w_up;   /* [layer n_ff][n_embd] */
    sd_weight w_down; /* [n_embd][layer n_ff] */
} sd_layer;

typedef struct sd_model {
    char *path;
    char *name;    /* general.name, "" if absent */
    sd_gguf *gguf; /* owns the mapping the weights point into */
    sd_vocab *vocab;
    sd_hparams hp;
    sd_weight tok_embd;       /* [n_vocab][n_embd] */
    float *output_norm;       /* [n_embd] */
    sd_weight output;         /* [n_vocab][n_embd]; a copy of tok_embd's description when tied */
    float *rope_freq_factors; /* [n_rot / 2] frequency divisors (Llama 3, LongRoPE's short); NULL if none */
    float *rope_factors_long; /* [n_rot / 2] LongRoPE's divisors beyond hp.n_ctx_orig; NULL if none */
    float *gelu_table;        /* GELU models: [65536] sd_gelu_ggml_ref of each fp16 value, by its bits */
    sd_layer *layers;         /* [n_layer] */
    uint64_t n_params;        /* elements in all weight tensors */
    uint64_t weight_bytes;    /* bytes of all weight tensors in the file */
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

/* GELU (tanh form) as ggml's CPU backend computes it, which llama.cpp's Gemma results depend on: 0 from
 * -10 down, x from 10 up, and between a table of fp16 values: the fp32 formula at x rounded to fp16, its
 * result rounded to fp16. The forward pass looks it up in sd_model.gelu_table. */
float sd_gelu_ggml_ref(float x);

/* The span of the mapped file that holds the weights (for NUMA placement). */
void sd_model_weight_span(const sd_model *m, const void **start, size_t *bytes);

#endif
