/* Scalar reference kernels of the GEMM library: activation quantizers and vector dot products in
 * ggml's block formats. They are the test oracles of every SIMD kernel; sd_gemm_ref is built from them.
 *
 * Dot product order (the contract every SIMD kernel reproduces bit for bit):
 * - Each dot keeps 8 fp32 lane accumulators acc[0..8) and ends with sd_hsum8 (fixed tree below).
 * - Float weights (f32, f16, bf16): element e goes to lane e % 8, acc[l] = fmaf(w_e, x_e, acc[l]) in
 *   increasing e. f16/bf16 weights are widened to fp32 exactly first; x stays fp32 (not quantized).
 * - Quantized weights: within each 32-element chunk, lane l gets the integer sum of the 4 products
 *   of elements 4l..4l+3 (exact int32 arithmetic, so any summation order gives the same integer).
 *   Q8_0 (blocks of 32): acc[l] = fmaf(dx * dy, (float)S_l, acc[l]), one step per block.
 *   Q4_0 is the exception, one accumulator: acc = fmaf(dx * dy, (float)S, acc) in increasing block order,
 *   S the block's whole integer dot, and the dot is acc itself. The x86 kernels interleave 8 weight rows
 *   per SIMD vector (a lane per row, sd_q4_0_r8 in kernels.h), where a per-row lane split cannot exist;
 *   a row's integer sums need no horizontal float sum at all.
 *   Q4_K (super-blocks of 256): S_l = sum over the 8 sub-blocks j of sc_j * (lane-l sum of q * y), q in
 *   0..15; M_l = m_l * (bsums[2l] + bsums[2l+1]); acc[l] = fmaf(d, S_l, acc[l]) then
 *   acc[l] = fmaf(-dmin, M_l, acc[l]), with d = fp16(x.d) * y.d, dmin = fp16(x.dmin) * y.d.
 *   Q6_K: S_l = sum over chunks of sc_(e/16) * (lane-l sum of q * y), q in 0..63, minus
 *   32 * (bsums[2l] * sc[2l] + bsums[2l+1] * sc[2l+1]); acc[l] = fmaf(d, S_l, acc[l]).
 *   Q5_0 and IQ4_NL (blocks of 32, signed values q - 16 and sd_iq4_values[q]): as Q8_0.
 *   Q4_1 and Q5_1 (value d q + m, q unsigned): acc[l] = fmaf(dx * dy, (float)S_l, acc[l]) as Q8_0, and a
 *   ninth accumulator acc_m = fmaf(mx * dy, (float)Y, acc_m), Y the block's sum of activation quants; the
 *   dot is sd_hsum8(acc) + acc_m.
 *   Q5_K: as Q4_K with q in 0..31.
 *   Q2_K: S_l = sum over chunks c of (sc_(2c + l / 4) & 15) * (lane-l sum of q * y), q in 0..3;
 *   M_l = (sc_2l >> 4) * bsums[2l] + (sc_(2l+1) >> 4) * bsums[2l+1]; then as Q4_K.
 *   Q3_K: as Q6_K with q + 4 in 0..7, zero point 4 instead of 32, and the signed scales sd_q3_k_scales.
 *   IQ4_XS: S_l = sum over the 8 sub-blocks j of (ls_j - 32) * (lane-l sum of sd_iq4_values[q] * y);
 *   acc[l] = fmaf(d, S_l, acc[l]).
 * This lane layout is what AVX2 maddubs/madd, AVX-512 VNNI dpbusd and NEON sdot produce natively, so
 * the SIMD kernels match these references exactly. */
#ifndef SD_QUANT_H
#define SD_QUANT_H

#include <stdint.h>

#include "qtypes.h"

/* Sum of 8 lanes in the order the SIMD kernels use:
 * ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)). */
static inline float sd_hsum8(const float a[8]) {
    float b0 = a[0] + a[4], b1 = a[1] + a[5], b2 = a[2] + a[6], b3 = a[3] + a[7];
    return (b0 + b2) + (b1 + b3);
}

/* Q4_K packs 8 6-bit scales and 8 6-bit mins in 12 bytes (ggml's get_scale_min_k4). */
static inline void sd_q4_k_scales(const uint8_t q[SD_K_SCALE_SIZE], uint8_t sc[8], uint8_t m[8]) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            sc[j] = q[j] & 63;
            m[j] = q[j + 4] & 63;
        } else {
            sc[j] = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
            m[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
        }
    }
}

/* Q3_K's 16 6-bit group scales, packed in 12 bytes, as signed values (stored value - 32). */
void sd_q3_k_scales(const uint8_t q[12], int8_t sc[16]);

/* IQ4_XS sub-block j's scale ls - 32 (ls: low 4 bits in scales_l, high 2 in scales_h). */
static inline int sd_iq4_xs_scale(const sd_block_iq4_xs *x, int j) {
    return (((x->scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((x->scales_h >> (2 * j)) & 3) << 4)) - 32;
}

/* The reference activation format for weights of type w: Q8_0 blocks for the 32-wide quantized types,
 * Q8_K for the 256-wide ones, F32 (x not quantized) for float weights. */
static inline sd_type sd_act_type_of(sd_type w) {
    switch (w) {
    case SD_TYPE_Q4_0:
    case SD_TYPE_Q4_1:
    case SD_TYPE_Q5_0:
    case SD_TYPE_Q5_1:
    case SD_TYPE_Q8_0:
    case SD_TYPE_IQ4_NL:
        return SD_TYPE_Q8_0;
    case SD_TYPE_Q2_K:
    case SD_TYPE_Q3_K:
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q5_K:
    case SD_TYPE_Q6_K:
    case SD_TYPE_IQ4_XS:
        return SD_TYPE_Q8_K;
    default:
        return SD_TYPE_F32;
    }
}

/* k fp32 values -> k/32 Q8_0 blocks: d = amax / 127 (stored as fp16), q = roundf(x * (1/d)), as
 * ggml's quantize_row_q8_0_ref. */
void sd_quantize_row_q8_0_ref(const float *x, sd_block_q8_0 *y, int64_t k);

/* k fp32 values -> k/256 Q8_K blocks: iscale = -127 / (signed value of largest magnitude), q = round
 * half to even of iscale * x clamped to 127, d = 1 / iscale, bsums over groups of 16 (ggml's
 * quantize_row_q8_K_ref). */
void sd_quantize_row_q8_k_ref(const float *x, sd_block_q8_k *y, int64_t k);

/* e^x as every kernel set computes it, bit for bit: clamp x to [SD_EXP_MIN_X, SD_EXP_MAX_X] (so 2^n
 * below stays a normal float), n = round(x log2 e) by adding and subtracting 1.5 * 2^23 (t = fma(x,
 * log2e, shifter), n = t - shifter), r = fma(n, -ln2_lo, fma(n, -ln2_hi, x)), e^r by the degree-7 Taylor
 * polynomial in Horner form with fma (error below 1e-8 on |r| <= ln2 / 2), times 2^n built from the
 * exponent bits. Relative error about 1e-7 (one or two ulp). */
#define SD_EXP_MAX_X 88.0f
#define SD_EXP_MIN_X -87.0f
#define SD_EXP_SHIFTER 12582912.0f
#define SD_EXP_LOG2E 1.44269504f
#define SD_EXP_LN2_HI 0.693145752f
#define SD_EXP_LN2_LO 1.42860677e-6f
#define SD_EXP_C7 (1.0f / 5040.0f)
#define SD_EXP_C6 (1.0f / 720.0f)
#define SD_EXP_C5 (1.0f / 120.0f)
#define SD_EXP_C4 (1.0f / 24.0f)
#define SD_EXP_C3 (1.0f / 6.0f)
#define SD_EXP_C2 0.5f
float sd_exp_ref(float x);

/* SwiGLU's gate in place: gate[i] = gate[i] / (1 + e^-gate[i]) * up[i] (silu(gate) * up), with sd_exp_ref's
 * e^x; the SIMD sets evaluate the same steps on 8 lanes. */
void sd_swiglu_ref(float *gate, const float *up, int64_t n);

/* Dot products of one weight row with one activation row of k elements, in the order described above. */
float sd_vec_dot_q4_0_q8_0_ref(const sd_block_q4_0 *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_q8_0_q8_0_ref(const sd_block_q8_0 *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_q4_k_q8_k_ref(const sd_block_q4_k *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_q6_k_q8_k_ref(const sd_block_q6_k *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_q4_1_q8_0_ref(const sd_block_q4_1 *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_q5_0_q8_0_ref(const sd_block_q5_0 *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_q5_1_q8_0_ref(const sd_block_q5_1 *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_iq4_nl_q8_0_ref(const sd_block_iq4_nl *w, const sd_block_q8_0 *x, int64_t k);
float sd_vec_dot_q2_k_q8_k_ref(const sd_block_q2_k *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_q3_k_q8_k_ref(const sd_block_q3_k *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_q5_k_q8_k_ref(const sd_block_q5_k *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_iq4_xs_q8_k_ref(const sd_block_iq4_xs *w, const sd_block_q8_k *x, int64_t k);
float sd_vec_dot_f32_ref(const float *w, const float *x, int64_t k);
float sd_vec_dot_f16_f32_ref(const uint16_t *w, const float *x, int64_t k);
float sd_vec_dot_bf16_f32_ref(const uint16_t *w, const float *x, int64_t k);

#endif
