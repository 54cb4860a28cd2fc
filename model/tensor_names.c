#include "tensor_names.h"

#include <stdio.h>

static const char *const LLAMA_FAMILY[SD_TENSOR_KIND_COUNT] = {
    [SD_TENSOR_TOKEN_EMBD] = "token_embd.weight",   [SD_TENSOR_OUTPUT_NORM] = "output_norm.weight",
    [SD_TENSOR_OUTPUT] = "output.weight",           [SD_TENSOR_ROPE_FREQS] = "rope_freqs.weight",
    [SD_TENSOR_ATTN_NORM] = "attn_norm.weight",     [SD_TENSOR_ATTN_Q] = "attn_q.weight",
    [SD_TENSOR_ATTN_K] = "attn_k.weight",           [SD_TENSOR_ATTN_V] = "attn_v.weight",
    [SD_TENSOR_ATTN_Q_BIAS] = "attn_q.bias",        [SD_TENSOR_ATTN_K_BIAS] = "attn_k.bias",
    [SD_TENSOR_ATTN_V_BIAS] = "attn_v.bias",        [SD_TENSOR_ATTN_Q_NORM] = "attn_q_norm.weight",
    [SD_TENSOR_ATTN_K_NORM] = "attn_k_norm.weight", [SD_TENSOR_ATTN_OUTPUT] = "attn_output.weight",
    [SD_TENSOR_FFN_NORM] = "ffn_norm.weight",       [SD_TENSOR_FFN_GATE] = "ffn_gate.weight",
    [SD_TENSOR_FFN_UP] = "ffn_up.weight",           [SD_TENSOR_FFN_DOWN] = "ffn_down.weight",
};

const char *const *sd_tensor_names(sd_arch arch) {
    switch (arch) {
    case SD_ARCH_LLAMA:
    case SD_ARCH_QWEN2:
    case SD_ARCH_QWEN3:
        return LLAMA_FAMILY;
    case SD_ARCH_UNKNOWN:
        break;
    }
    return NULL;
}

size_t sd_tensor_layer_prefix(int layer, char *buf) {
    return (size_t)snprintf(buf, SD_TENSOR_NAME_MAX, "blk.%d.", layer);
}

const char *sd_tensor_name(sd_arch arch, sd_tensor_kind kind, int layer, char *buf) {
    const char *entry = sd_tensor_names(arch)[kind];
    size_t n = kind < SD_TENSOR_FIRST_LAYER_KIND ? 0 : sd_tensor_layer_prefix(layer, buf);
    snprintf(buf + n, SD_TENSOR_NAME_MAX - n, "%s", entry);
    return buf;
}
