/* What the x86 and the NEON kernels of the weight types llama-quantize's mixes add to the first seven
 * share (gemm_x86_types.h, gemm_neon_types.h): which types those are, and the Q8_0 activation block the
 * 32-wide ones read. Internal to the kernel sets. */
#ifndef SD_GEMM_MORE_TYPES_H
#define SD_GEMM_MORE_TYPES_H

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>

#include "gemm.h"

/* Q4_1, Q5_0, Q5_1 and IQ4_NL (blocks of 32, against Q8_0 activations) and Q2_K, Q3_K, Q5_K and IQ4_XS
 * (super-blocks of 256, against Q8_K). */
static inline bool more_has_type(sd_type type) {
    switch (type) {
    case SD_TYPE_Q4_1:
    case SD_TYPE_Q5_0:
    case SD_TYPE_Q5_1:
    case SD_TYPE_IQ4_NL:
    case SD_TYPE_Q2_K:
    case SD_TYPE_Q3_K:
    case SD_TYPE_Q5_K:
    case SD_TYPE_IQ4_XS:
        return true;
    default:
        return false;
    }
}

/* One Q8_0 activation block for the 32-wide types: its quants, its fp16 scale widened, and the sum of
 * its quants (the offset m of Q4_1 / Q5_1 multiplies it). Rows lie one after another. */
typedef struct {
    int8_t qs[32];
    float d;
    int32_t sum;
} act_q8_0s;
static_assert(sizeof(act_q8_0s) == 40, "act_q8_0s is 40 bytes");

#endif
