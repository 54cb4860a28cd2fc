/* Scalar reference kernels: dequantization bit-exact with ggml's dequantize_row_*, activation
 * quantizers as ggml's *_ref, and the dot products whose order the SIMD kernels reproduce (quant.h). */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "quant.h"

/* ---- dequantization ---- */

static void dequant_q4_0(const sd_block_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int j = 0; j < SD_QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + SD_QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
        y += SD_QK4_0;
    }
}

static void dequant_q8_0(const sd_block_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int j = 0; j < SD_QK8_0; j++)
            y[j] = (float)x[i].qs[j] * d;
        y += SD_QK8_0;
    }
}

static void dequant_q4_k(const sd_block_q4_k *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sd_fp16_to_fp32(x[i].d);
        const float dmin = sd_fp16_to_fp32(x[i].dmin);
        uint8_t sc[8], m[8];
        sd_q4_k_scales(x[i].scales, sc, m);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 4; j++) { /* 64 elements: low nibbles then high nibbles of 32 bytes */
            const float d1 = d * sc[2 * j], m1 = dmin * m[2 * j];
            const float d2 = d * sc[2 * j + 1], m2 = dmin * m[2 * j + 1];
            for (int l = 0; l < 32; l++)
                y[l] = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++)
                y[32 + l] = d2 * (float)(q[l] >> 4) - m2;
            y += 64;
            q += 32;
        }
    }
}

/* 6-bit quant of Q6_K element e (0..255): each 128-element half uses 64 ql bytes and 32 qh bytes;
 * quarter c (32 elements) takes the low (c < 2) or high nibble of ql[l] (c even) or ql[l + 32] (c odd)
 * and bits 2c..2c+1 of qh[l], l = e % 32. */
static inline int q6_k_quant(const uint8_t *ql, const uint8_t *qh, int e) {
    const int half = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
    ql += 64 * half;
    qh += 32 * half;
    const int lo = quarter & 1 ? ql[l + 32] : ql[l];
    const int nib = quarter >= 2 ? lo >> 4 : lo & 0xF;
    return nib | (((qh[l] >> (2 * quarter)) & 3) << 4);
}

static void dequant_q6_k(const sd_block_q6_k *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int e = 0; e < SD_QK_K; e++) {
            const int q = q6_k_quant(x[i].ql, x[i].qh, e) - 32;
            y[e] = d * (float)x[i].scales[e / 16] * (float)q;
        }
        y += SD_QK_K;
    }
}

/* ---- dequantization of the fallback and K-quant types added for llama-quantize's mixes ---- */

/* Element e (0..31) of a 32-block's nibbles: low nibbles hold elements 0..15, high 16..31. */
static inline int nibble32(const uint8_t qs[16], int e) {
    return e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;
}

/* Bit 4 of Q5_0 / Q5_1 element e: bit e of the little-endian qh. */
static inline int q5_high_bit(const uint8_t qh[4], int e) {
    return ((qh[e / 8] >> (e % 8)) & 1) << 4;
}

static void dequant_q4_1(const sd_block_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = sd_fp16_to_fp32(x[i].d), m = sd_fp16_to_fp32(x[i].m);
        for (int e = 0; e < 32; e++)
            y[e] = (float)nibble32(x[i].qs, e) * d + m;
    }
}

static void dequant_q5_0(const sd_block_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int e = 0; e < 32; e++)
            y[e] = (float)((nibble32(x[i].qs, e) | q5_high_bit(x[i].qh, e)) - 16) * d;
    }
}

static void dequant_q5_1(const sd_block_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = sd_fp16_to_fp32(x[i].d), m = sd_fp16_to_fp32(x[i].m);
        for (int e = 0; e < 32; e++)
            y[e] = (float)(nibble32(x[i].qs, e) | q5_high_bit(x[i].qh, e)) * d + m;
    }
}

static void dequant_iq4_nl(const sd_block_iq4_nl *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += 32) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int e = 0; e < 32; e++)
            y[e] = d * (float)sd_iq4_values[nibble32(x[i].qs, e)];
    }
}

/* 2-bit quant of Q2_K / Q3_K element e (0..255): 32-element chunk c = e / 32 takes bits 2 (c % 4) of
 * qs[32 (c / 4) + e % 32]. */
static inline int q2_quant(const uint8_t qs[64], int e) {
    const int c = e / 32;
    return (qs[32 * (c / 4) + e % 32] >> (2 * (c % 4))) & 3;
}

/* Q3_K element e as 0..7 (the value q - 4 plus its zero point 4): the 2 low bits, and 4 where bit c of
 * hmask[e % 32] is set. */
static inline int q3_k_quant(const sd_block_q3_k *x, int e) {
    return q2_quant(x->qs, e) | (((x->hmask[e % 32] >> (e / 32)) & 1) << 2);
}

static void dequant_q2_k(const sd_block_q2_k *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += SD_QK_K) {
        const float d = sd_fp16_to_fp32(x[i].d), dmin = sd_fp16_to_fp32(x[i].dmin);
        for (int g = 0; g < 16; g++) {
            const float dl = d * (float)(x[i].scales[g] & 0xF), ml = dmin * (float)(x[i].scales[g] >> 4);
            for (int e = 16 * g; e < 16 * g + 16; e++)
                y[e] = dl * (float)q2_quant(x[i].qs, e) - ml;
        }
    }
}

void sd_q3_k_scales(const uint8_t q[12], int8_t sc[16]) {
    for (int i = 0; i < 4; i++) {
        const int hi = q[8 + i];
        sc[i] = (int8_t)(((q[i] & 0xF) | ((hi & 3) << 4)) - 32);
        sc[4 + i] = (int8_t)(((q[4 + i] & 0xF) | (((hi >> 2) & 3) << 4)) - 32);
        sc[8 + i] = (int8_t)(((q[i] >> 4) | (((hi >> 4) & 3) << 4)) - 32);
        sc[12 + i] = (int8_t)(((q[4 + i] >> 4) | (((hi >> 6) & 3) << 4)) - 32);
    }
}

static void dequant_q3_k(const sd_block_q3_k *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += SD_QK_K) {
        const float d = sd_fp16_to_fp32(x[i].d);
        int8_t sc[16];
        sd_q3_k_scales(x[i].scales, sc);
        for (int g = 0; g < 16; g++) {
            const float dl = d * (float)sc[g];
            for (int e = 16 * g; e < 16 * g + 16; e++)
                y[e] = dl * (float)(q3_k_quant(&x[i], e) - 4);
        }
    }
}

/* Q4_K element e's nibble: each 64 elements take the low then the high nibbles of 32 bytes. */
static inline int q4_k_quant(const uint8_t qs[SD_QK_K / 2], int e) {
    const uint8_t byte = qs[32 * (e / 64) + e % 32];
    return (e % 64) < 32 ? byte & 0xF : byte >> 4;
}

/* Q5_K element e as 0..31: Q4_K's nibble placement plus bit e / 32 of qh[e % 32]. */
static inline int q5_k_quant(const sd_block_q5_k *x, int e) {
    return q4_k_quant(x->qs, e) | (((x->qh[e % 32] >> (e / 32)) & 1) << 4);
}

static void dequant_q5_k(const sd_block_q5_k *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += SD_QK_K) {
        const float d = sd_fp16_to_fp32(x[i].d), dmin = sd_fp16_to_fp32(x[i].dmin);
        uint8_t sc[8], m[8];
        sd_q4_k_scales(x[i].scales, sc, m);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sc[j], ml = dmin * (float)m[j];
            for (int e = 32 * j; e < 32 * j + 32; e++)
                y[e] = dl * (float)q5_k_quant(&x[i], e) - ml;
        }
    }
}

static void dequant_iq4_xs(const sd_block_iq4_xs *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += SD_QK_K) {
        const float d = sd_fp16_to_fp32(x[i].d);
        for (int j = 0; j < 8; j++) {
            const float dl = d * (float)sd_iq4_xs_scale(&x[i], j);
            for (int e = 0; e < 32; e++)
                y[32 * j + e] = dl * (float)sd_iq4_values[nibble32(x[i].qs + 16 * j, e)];
        }
    }
}

void sd_dequantize_row_ref(sd_type type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case SD_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case SD_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = sd_fp16_to_fp32(((const uint16_t *)src)[i]);
        break;
    case SD_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            dst[i] = sd_bf16_to_fp32(((const uint16_t *)src)[i]);
        break;
    case SD_TYPE_Q4_0:
        dequant_q4_0(src, dst, n / SD_QK4_0);
        break;
    case SD_TYPE_Q8_0:
        dequant_q8_0(src, dst, n / SD_QK8_0);
        break;
    case SD_TYPE_Q4_K:
        dequant_q4_k(src, dst, n / SD_QK_K);
        break;
    case SD_TYPE_Q6_K:
        dequant_q6_k(src, dst, n / SD_QK_K);
        break;
    case SD_TYPE_Q4_1:
        dequant_q4_1(src, dst, n / 32);
        break;
    case SD_TYPE_Q5_0:
        dequant_q5_0(src, dst, n / 32);
        break;
    case SD_TYPE_Q5_1:
        dequant_q5_1(src, dst, n / 32);
        break;
    case SD_TYPE_IQ4_NL:
        dequant_iq4_nl(src, dst, n / 32);
        break;
    case SD_TYPE_Q2_K:
        dequant_q2_k(src, dst, n / SD_QK_K);
        break;
    case SD_TYPE_Q3_K:
        dequant_q3_k(src, dst, n / SD_QK_K);
        break;
    case SD_TYPE_Q5_K:
        dequant_q5_k(src, dst, n / SD_QK_K);
        break;
    case SD_TYPE_IQ4_XS:
        dequant_iq4_xs(src, dst, n / SD_QK_K);
        break;
    default: /* unsupported types never get past sd_weight_init; write zeros rather than garbage */
        memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

/* ---- activation quantization ---- */

void sd_quantize_row_q8_0_ref(const float *x, sd_block_q8_0 *y, int64_t k) {
    for (int64_t i = 0; i < k / SD_QK8_0; i++) {
        float amax = 0.0f;
        for (int j = 0; j < SD_QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = sd_fp32_to_fp16(d);
        for (int j = 0; j < SD_QK8_0; j++)
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
        x += SD_QK8_0;
    }
}

/* Round half to even for |v| < 2^22, as ggml's nearest_int. */
static inline int nearest_int(float v) {
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

void sd_quantize_row_q8_k_ref(const float *x, sd_block_q8_k *y, int64_t k) {
    for (int64_t i = 0; i < k / SD_QK_K; i++) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < SD_QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        memset(&y[i], 0, sizeof y[i]);
        if (amax == 0.0f) {
            x += SD_QK_K;
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < SD_QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < SD_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
        x += SD_QK_K;
    }
}

/* ---- dot products ---- */

float sd_vec_dot_q4_0_q8_0_ref(const sd_block_q4_0 *w, const sd_block_q8_0 *x, int64_t k) {
    float acc = 0.0f;
    for (int64_t b = 0; b < k / SD_QK4_0; b++) {
        const float s = sd_fp16_to_fp32(w[b].d) * sd_fp16_to_fp32(x[b].d);
        int32_t sum = 0;
        for (int e = 0; e < SD_QK4_0; e++) {
            const int q = e < 16 ? (w[b].qs[e] & 0xF) : (w[b].qs[e - 16] >> 4);
            sum += (q - 8) * x[b].qs[e];
        }
        acc = fmaf(s, (float)sum, acc);
    }
    return acc;
}

float sd_vec_dot_q8_0_q8_0_ref(const sd_block_q8_0 *w, const sd_block_q8_0 *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK8_0; b++) {
        const float s = sd_fp16_to_fp32(w[b].d) * sd_fp16_to_fp32(x[b].d);
        for (int l = 0; l < 8; l++) {
            int32_t sum = 0;
            for (int e = 4 * l; e < 4 * l + 4; e++)
                sum += w[b].qs[e] * x[b].qs[e];
            acc[l] = fmaf(s, (float)sum, acc[l]);
        }
    }
    return sd_hsum8(acc);
}

/* Q4_K and Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins, q in 0..15 or 0..31. */
static float dot_k_with_mins(sd_type type, const void *wrow, const sd_block_q8_k *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK_K; b++) {
        const bool five = type == SD_TYPE_Q5_K;
        const sd_block_q4_k *w4 = five ? NULL : (const sd_block_q4_k *)wrow + b;
        const sd_block_q5_k *w5 = five ? (const sd_block_q5_k *)wrow + b : NULL;
        uint8_t sc[8], m[8];
        sd_q4_k_scales(five ? w5->scales : w4->scales, sc, m);
        int32_t s[8] = {0};
        for (int e = 0; e < SD_QK_K; e++) {
            const int q = five ? q5_k_quant(w5, e) : q4_k_quant(w4->qs, e);
            s[(e % 32) / 4] += sc[e / 32] * q * x[b].qs[e];
        }
        const float d = sd_fp16_to_fp32(five ? w5->d : w4->d) * x[b].d;
        const float dmin = sd_fp16_to_fp32(five ? w5->dmin : w4->dmin) * x[b].d;
        for (int l = 0; l < 8; l++) {
            const int32_t mins = m[l] * (x[b].bsums[2 * l] + x[b].bsums[2 * l + 1]);
            acc[l] = fmaf(d, (float)s[l], acc[l]);
            acc[l] = fmaf(-dmin, (float)mins, acc[l]);
        }
    }
    return sd_hsum8(acc);
}

float sd_vec_dot_q4_k_q8_k_ref(const sd_block_q4_k *w, const sd_block_q8_k *x, int64_t k) {
    return dot_k_with_mins(SD_TYPE_Q4_K, w, x, k);
}

float sd_vec_dot_q6_k_q8_k_ref(const sd_block_q6_k *w, const sd_block_q8_k *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK_K; b++) {
        int32_t s[8] = {0};
        for (int e = 0; e < SD_QK_K; e++) {
            s[(e % 32) / 4] += w[b].scales[e / 16] * q6_k_quant(w[b].ql, w[b].qh, e) * x[b].qs[e];
        }
        const float d = sd_fp16_to_fp32(w[b].d) * x[b].d;
        for (int l = 0; l < 8; l++) {
            s[l] -= 32 *
                    (x[b].bsums[2 * l] * w[b].scales[2 * l] + x[b].bsums[2 * l + 1] * w[b].scales[2 * l + 1]);
            acc[l] = fmaf(d, (float)s[l], acc[l]);
        }
    }
    return sd_hsum8(acc);
}

/* The 32-wide types against Q8_0 activations: lane l of a block gets the integer sum of elements
 * 4l..4l+3 (quant.h). */
static inline int32_t lane_sum32(const int8_t w[32], const int8_t *y, int l) {
    int32_t s = 0;
    for (int e = 4 * l; e < 4 * l + 4; e++)
        s += w[e] * y[e];
    return s;
}

/* Q5_0 and IQ4_NL: signed weight values, Q8_0's order. */
static float dot_signed32(sd_type type, const void *wrow, const sd_block_q8_0 *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / 32; b++) {
        int8_t v[32];
        uint16_t d;
        if (type == SD_TYPE_Q5_0) {
            const sd_block_q5_0 *w = (const sd_block_q5_0 *)wrow + b;
            for (int e = 0; e < 32; e++)
                v[e] = (int8_t)((nibble32(w->qs, e) | q5_high_bit(w->qh, e)) - 16);
            d = w->d;
        } else {
            const sd_block_iq4_nl *w = (const sd_block_iq4_nl *)wrow + b;
            for (int e = 0; e < 32; e++)
                v[e] = sd_iq4_values[nibble32(w->qs, e)];
            d = w->d;
        }
        const float s = sd_fp16_to_fp32(d) * sd_fp16_to_fp32(x[b].d);
        for (int l = 0; l < 8; l++)
            acc[l] = fmaf(s, (float)lane_sum32(v, x[b].qs, l), acc[l]);
    }
    return sd_hsum8(acc);
}

float sd_vec_dot_q5_0_q8_0_ref(const sd_block_q5_0 *w, const sd_block_q8_0 *x, int64_t k) {
    return dot_signed32(SD_TYPE_Q5_0, w, x, k);
}

float sd_vec_dot_iq4_nl_q8_0_ref(const sd_block_iq4_nl *w, const sd_block_q8_0 *x, int64_t k) {
    return dot_signed32(SD_TYPE_IQ4_NL, w, x, k);
}

/* Q4_1 and Q5_1: unsigned quants in Q8_0's order, the offsets m in a second accumulator. */
static float dot_offset32(sd_type type, const void *wrow, const sd_block_q8_0 *x, int64_t k) {
    float acc[8] = {0}, acc_m = 0.0f;
    for (int64_t b = 0; b < k / 32; b++) {
        int8_t v[32];
        uint16_t d, m;
        if (type == SD_TYPE_Q4_1) {
            const sd_block_q4_1 *w = (const sd_block_q4_1 *)wrow + b;
            for (int e = 0; e < 32; e++)
                v[e] = (int8_t)nibble32(w->qs, e);
            d = w->d;
            m = w->m;
        } else {
            const sd_block_q5_1 *w = (const sd_block_q5_1 *)wrow + b;
            for (int e = 0; e < 32; e++)
                v[e] = (int8_t)(nibble32(w->qs, e) | q5_high_bit(w->qh, e));
            d = w->d;
            m = w->m;
        }
        const float dy = sd_fp16_to_fp32(x[b].d);
        const float s = sd_fp16_to_fp32(d) * dy;
        int32_t ysum = 0;
        for (int l = 0; l < 8; l++) {
            acc[l] = fmaf(s, (float)lane_sum32(v, x[b].qs, l), acc[l]);
            for (int e = 4 * l; e < 4 * l + 4; e++)
                ysum += x[b].qs[e];
        }
        acc_m = fmaf(sd_fp16_to_fp32(m) * dy, (float)ysum, acc_m);
    }
    return sd_hsum8(acc) + acc_m;
}

float sd_vec_dot_q4_1_q8_0_ref(const sd_block_q4_1 *w, const sd_block_q8_0 *x, int64_t k) {
    return dot_offset32(SD_TYPE_Q4_1, w, x, k);
}

float sd_vec_dot_q5_1_q8_0_ref(const sd_block_q5_1 *w, const sd_block_q8_0 *x, int64_t k) {
    return dot_offset32(SD_TYPE_Q5_1, w, x, k);
}

float sd_vec_dot_q2_k_q8_k_ref(const sd_block_q2_k *w, const sd_block_q8_k *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK_K; b++) {
        int32_t s[8] = {0};
        for (int e = 0; e < SD_QK_K; e++)
            s[(e % 32) / 4] += (w[b].scales[e / 16] & 0xF) * q2_quant(w[b].qs, e) * x[b].qs[e];
        const float d = sd_fp16_to_fp32(w[b].d) * x[b].d;
        const float dmin = sd_fp16_to_fp32(w[b].dmin) * x[b].d;
        for (int l = 0; l < 8; l++) {
            const int32_t mins = (w[b].scales[2 * l] >> 4) * x[b].bsums[2 * l] +
                                 (w[b].scales[2 * l + 1] >> 4) * x[b].bsums[2 * l + 1];
            acc[l] = fmaf(d, (float)s[l], acc[l]);
            acc[l] = fmaf(-dmin, (float)mins, acc[l]);
        }
    }
    return sd_hsum8(acc);
}

float sd_vec_dot_q3_k_q8_k_ref(const sd_block_q3_k *w, const sd_block_q8_k *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK_K; b++) {
        int8_t sc[16];
        sd_q3_k_scales(w[b].scales, sc);
        int32_t s[8] = {0};
        for (int e = 0; e < SD_QK_K; e++)
            s[(e % 32) / 4] += sc[e / 16] * q3_k_quant(&w[b], e) * x[b].qs[e];
        const float d = sd_fp16_to_fp32(w[b].d) * x[b].d;
        for (int l = 0; l < 8; l++) {
            s[l] -= 4 * (x[b].bsums[2 * l] * sc[2 * l] + x[b].bsums[2 * l + 1] * sc[2 * l + 1]);
            acc[l] = fmaf(d, (float)s[l], acc[l]);
        }
    }
    return sd_hsum8(acc);
}

float sd_vec_dot_q5_k_q8_k_ref(const sd_block_q5_k *w, const sd_block_q8_k *x, int64_t k) {
    return dot_k_with_mins(SD_TYPE_Q5_K, w, x, k);
}

float sd_vec_dot_iq4_xs_q8_k_ref(const sd_block_iq4_xs *w, const sd_block_q8_k *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t b = 0; b < k / SD_QK_K; b++) {
        int32_t s[8] = {0};
        for (int j = 0; j < 8; j++) {
            const int ls = sd_iq4_xs_scale(&w[b], j);
            for (int e = 0; e < 32; e++)
                s[e / 4] += ls * sd_iq4_values[nibble32(w[b].qs + 16 * j, e)] * x[b].qs[32 * j + e];
        }
        const float d = sd_fp16_to_fp32(w[b].d) * x[b].d;
        for (int l = 0; l < 8; l++)
            acc[l] = fmaf(d, (float)s[l], acc[l]);
    }
    return sd_hsum8(acc);
}

float sd_vec_dot_f32_ref(const float *w, const float *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t e = 0; e < k; e++)
        acc[e % 8] = fmaf(w[e], x[e], acc[e % 8]);
    return sd_hsum8(acc);
}

float sd_vec_dot_f16_f32_ref(const uint16_t *w, const float *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t e = 0; e < k; e++)
        acc[e % 8] = fmaf(sd_fp16_to_fp32(w[e]), x[e], acc[e % 8]);
    return sd_hsum8(acc);
}

float sd_vec_dot_bf16_f32_ref(const uint16_t *w, const float *x, int64_t k) {
    float acc[8] = {0};
    for (int64_t e = 0; e < k; e++)
        acc[e % 8] = fmaf(sd_bf16_to_fp32(w[e]), x[e], acc[e % 8]);
    return sd_hsum8(acc);
}

/* e^x in the steps quant.h lists, each one IEEE operation, so the SIMD sets reproduce it. */
float sd_exp_ref(float x) {
    x = x < SD_EXP_MAX_X ? x : SD_EXP_MAX_X; /* as SIMD min / max: a NaN becomes the bound */
    x = x > SD_EXP_MIN_X ? x : SD_EXP_MIN_X;
    const float t = fmaf(x, SD_EXP_LOG2E, SD_EXP_SHIFTER);
    const float n = t - SD_EXP_SHIFTER;
    float r = fmaf(n, -SD_EXP_LN2_HI, x);
    r = fmaf(n, -SD_EXP_LN2_LO, r);
    float p = SD_EXP_C7;
    p = fmaf(p, r, SD_EXP_C6);
    p = fmaf(p, r, SD_EXP_C5);
    p = fmaf(p, r, SD_EXP_C4);
    p = fmaf(p, r, SD_EXP_C3);
    p = fmaf(p, r, SD_EXP_C2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    const int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

void sd_swiglu_ref(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + sd_exp_ref(-gate[i])) * up[i];
}
