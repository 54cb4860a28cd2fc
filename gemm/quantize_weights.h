/* fp32 -> weight-format quantizers, used to write model files (`specdec synth`); not on any hot path.
 * Q4_0, Q5_0, Q8_0 and F16 produce the same bytes as ggml's quantize_row_*_ref. Q4_K and Q6_K are simple
 * min/max fits (not ggml's iterative search): valid blocks close to x, for synthetic models of
 * llama-quantize's mixes, whose speed depends on the types and not on the values. */
#ifndef SD_QUANTIZE_WEIGHTS_H
#define SD_QUANTIZE_WEIGHTS_H

#include <stdint.h>

#include "qtypes.h"

/* k fp32 values (k a multiple of 32) -> k/32 Q4_0 blocks, as ggml's quantize_row_q4_0_ref: m = the value
 * of largest magnitude (the first one on ties), d = m / -8 (stored as fp16), q = min(15, (int8)(x / d +
 * 8.5)) computed with the fp32 d; d = 0 gives q = 8 everywhere. The extreme value maps to q = 0. */
void sd_quantize_row_q4_0_ref(const float *x, sd_block_q4_0 *y, int64_t k);

/* k fp32 values -> k IEEE halves (round to nearest even, as ggml's fp32 -> fp16). */
void sd_quantize_row_f16_ref(const float *x, uint16_t *y, int64_t k);

/* k fp32 values (k a multiple of 32) -> Q5_0 blocks, as ggml's quantize_row_q5_0_ref: d = the value of
 * largest magnitude / -16, q = min(31, (int8)(x / d + 16.5)). */
void sd_quantize_row_q5_0_ref(const float *x, sd_block_q5_0 *y, int64_t k);

/* k fp32 values (k a multiple of 256) -> Q4_K blocks: each 32-element group's range [min(0, lo), hi] in
 * 16 levels, the 6-bit group scales and mins relative to the block's largest. */
void sd_quantize_row_q4_k(const float *x, sd_block_q4_k *y, int64_t k);

/* k fp32 values (k a multiple of 256) -> Q6_K blocks: each 16-element group's largest magnitude at level
 * 31, the 8-bit group scales relative to the block's largest. */
void sd_quantize_row_q6_k(const float *x, sd_block_q6_k *y, int64_t k);

/* True for the weight types sd_quantize_rows can write: F32, F16, Q4_0, Q5_0, Q8_0, Q4_K, Q6_K. */
int sd_quantize_type_supported(sd_type type);

/* Quantizes n_rows rows of k fp32 values ([n_rows][k], row-major) into n_rows rows of
 * sd_type_row_bytes(type, k) bytes each. Returns 0, or SD_STATUS_UNSUPPORTED for another type and
 * SD_STATUS_INVALID_ARGUMENT when k is not a multiple of the type's block size. */
int sd_quantize_rows(sd_type type, const float *x, void *dst, int64_t n_rows, int64_t k);

#endif
