/* The GGUF tensor names of each architecture, as llama.cpp's converter writes them: one table, read by
 * the model loader and by the synthetic-model writer, so the two cannot drift apart. The llama-family
 * architectures specdec loads (llama, qwen2, qwen3) share one set of names; an architecture with other
 * names gets its own table in tensor_names.c. */
#ifndef SD_TENSOR_NAMES_H
#define SD_TENSOR_NAMES_H

#include "model/model.h"

typedef enum sd_tensor_kind {
    /* whole-model tensors: the name is the table entry */
    SD_TENSOR_TOKEN_EMBD,
    SD_TENSOR_OUTPUT_NORM,
    SD_TENSOR_OUTPUT,
    SD_TENSOR_ROPE_FREQS,
    /* per-layer tensors: "blk.<layer>.<entry>" */
    SD_TENSOR_ATTN_NORM,
    SD_TENSOR_ATTN_Q,
    SD_TENSOR_ATTN_K,
    SD_TENSOR_ATTN_V,
    SD_TENSOR_ATTN_Q_BIAS,
    SD_TENSOR_ATTN_K_BIAS,
    SD_TENSOR_ATTN_V_BIAS,
    SD_TENSOR_ATTN_Q_NORM,
    SD_TENSOR_ATTN_K_NORM,
    SD_TENSOR_ATTN_OUTPUT,
    SD_TENSOR_FFN_NORM,
    SD_TENSOR_FFN_GATE,
    SD_TENSOR_FFN_UP,
    SD_TENSOR_FFN_DOWN,
    SD_TENSOR_KIND_COUNT,
} sd_tensor_kind;

#define SD_TENSOR_FIRST_LAYER_KIND SD_TENSOR_ATTN_NORM
#define SD_TENSOR_NAME_MAX 64 /* bytes, NUL included, of any name sd_tensor_name writes */

/* The table of an architecture, [SD_TENSOR_KIND_COUNT]: whole names, and for per-layer kinds the part
 * after "blk.<layer>.". NULL for an unknown architecture. */
const char *const *sd_tensor_names(sd_arch arch);

/* Writes "blk.<layer>." (the prefix of every per-layer tensor's name) into buf[SD_TENSOR_NAME_MAX];
 * returns its length. */
size_t sd_tensor_layer_prefix(int layer, char *buf);

/* The GGUF name of tensor `kind` (of layer `layer` for a per-layer kind) in buf[SD_TENSOR_NAME_MAX];
 * returns buf. arch must be known. */
const char *sd_tensor_name(sd_arch arch, sd_tensor_kind kind, int layer, char *buf);

#endif
