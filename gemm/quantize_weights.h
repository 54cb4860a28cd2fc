/* fp32 -> weight-format quantizers (Q4_0, Q8_0, F16), scalar references that produce the same bytes as
 * ggml's quantize_row_*_ref. Used to write model files (`specdec synth`); not on any hot path. */
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

/* True for the weight types sd_quantize_rows can write: F32, F16, Q4_0, Q8_0. */
int sd_quantize_type_supported(sd_type type);

/* Quantizes n_rows rows of k fp32 values ([n_rows][k], row-major) into n_rows rows of
 * sd_type_row_bytes(type, k) bytes each. Returns 0, or SD_STATUS_UNSUPPORTED for another type and
 * SD_STATUS_INVALID_ARGUMENT when k is not a multiple of the type's block size. */
int sd_quantize_rows(sd_type type, const float *x, void *dst, int64_t n_rows, int64_t k);

#endif
