/* Weight quantizers (reference implementations with ggml's rounding). */
#include "quantize_weights.h"

#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "quant.h"

void sd_quantize_row_q4_0_ref(const float *x, sd_block_q4_0 *y, int64_t k) {
    const int64_t nb = k / SD_QK4_0;
    for (int64_t i = 0; i < nb; i++, x += SD_QK4_0) {
        float amax = 0.0f, max = 0.0f; /* largest magnitude, and that value with its sign */
        for (int j = 0; j < SD_QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        /* The extreme value becomes -8 * d, so the 16 levels -8..7 cover it exactly on its side. */
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = sd_fp32_to_fp16(d);
        for (int j = 0; j < SD_QK4_0 / 2; j++) {
            /* x * id + 8.5 lies in [0.5, 16.5]: the int8 cast truncates, i.e. rounds half up. */
            int q0 = (int8_t)(x[j] * id + 8.5f);
            int q1 = (int8_t)(x[j + SD_QK4_0 / 2] * id + 8.5f);
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void sd_quantize_row_f16_ref(const float *x, uint16_t *y, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        y[i] = sd_fp32_to_fp16(x[i]);
}

void sd_quantize_row_q5_0_ref(const float *x, sd_block_q5_0 *y, int64_t k) {
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = sd_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < 16; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f), q1 = (int8_t)(x[j + 16] * id + 16.5f);
            q0 = q0 < 31 ? q0 : 31;
            q1 = q1 < 31 ? q1 : 31;
            y[i].qs[j] = (uint8_t)((q0 & 0xF) | ((q1 & 0xF) << 4));
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(y[i].qh, &qh, sizeof qh); /* little-endian, as ggml stores it */
    }
}

static int clamp_round(float v, int lo, int hi) {
    const int q = (int)lrintf(v);
    return q < lo ? lo : q > hi ? hi : q;
}

void sd_quantize_row_q4_k(const float *x, sd_block_q4_k *y, int64_t k) {
    for (int64_t i = 0; i < k / SD_QK_K; i++, x += SD_QK_K) {
        float scale[8], min[8], max_scale = 0.0f, max_min = 0.0f;
        for (int g = 0; g < 8; g++) {
            float lo = 0.0f, hi = x[32 * g];
            for (int j = 0; j < 32; j++) {
                lo = fminf(lo, x[32 * g + j]);
                hi = fmaxf(hi, x[32 * g + j]);
            }
            scale[g] = (hi - lo) / 15.0f;
            min[g] = -lo; /* value = d * sc * q - dmin * m */
            max_scale = fmaxf(max_scale, scale[g]);
            max_min = fmaxf(max_min, min[g]);
        }
        const float d = sd_fp16_to_fp32(sd_fp32_to_fp16(max_scale / 63.0f));
        const float dmin = sd_fp16_to_fp32(sd_fp32_to_fp16(max_min / 63.0f));
        y[i].d = sd_fp32_to_fp16(d);
        y[i].dmin = sd_fp32_to_fp16(dmin);
        uint8_t ls[8], lm[8];
        memset(y[i].scales, 0, sizeof y[i].scales);
        memset(y[i].qs, 0, sizeof y[i].qs);
        for (int g = 0; g < 8; g++) {
            ls[g] = (uint8_t)(d > 0.0f ? clamp_round(scale[g] / d, 0, 63) : 0);
            lm[g] = (uint8_t)(dmin > 0.0f ? clamp_round(min[g] / dmin, 0, 63) : 0);
            if (g < 4) { /* the packing sd_q4_k_scales reads */
                y[i].scales[g] |= ls[g];
                y[i].scales[g + 4] |= lm[g];
            } else {
                y[i].scales[g + 4] = (uint8_t)((ls[g] & 0xF) | ((lm[g] & 0xF) << 4));
                y[i].scales[g - 4] |= (uint8_t)((ls[g] >> 4) << 6);
                y[i].scales[g] |= (uint8_t)((lm[g] >> 4) << 6);
            }
            const float step = d * (float)ls[g], offset = dmin * (float)lm[g];
            for (int j = 0; j < 32; j++) {
                const int e = 32 * g + j;
                const int q = step > 0.0f ? clamp_round((x[e] + offset) / step, 0, 15) : 0;
                /* element e: byte 32 (e / 64) + e % 32, low nibble in the first 32 of each 64 */
                y[i].qs[32 * (e / 64) + e % 32] |= (uint8_t)((e % 64) < 32 ? q : q << 4);
            }
        }
    }
}

void sd_quantize_row_q6_k(const float *x, sd_block_q6_k *y, int64_t k) {
    for (int64_t i = 0; i < k / SD_QK_K; i++, x += SD_QK_K) {
        float scale[16], max_scale = 0.0f;
        for (int g = 0; g < 16; g++) {
            float amax = 0.0f;
            for (int j = 0; j < 16; j++)
                amax = fmaxf(amax, fabsf(x[16 * g + j]));
            scale[g] = amax / 31.0f;
            max_scale = fmaxf(max_scale, scale[g]);
        }
        const float d = sd_fp16_to_fp32(sd_fp32_to_fp16(max_scale / 127.0f));
        y[i].d = sd_fp32_to_fp16(d);
        memset(y[i].ql, 0, sizeof y[i].ql);
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int g = 0; g < 16; g++) {
            const int sc = d > 0.0f ? clamp_round(scale[g] / d, 0, 127) : 0;
            y[i].scales[g] = (int8_t)sc;
            const float step = d * (float)sc;
            for (int j = 0; j < 16; j++) {
                const int e = 16 * g + j;
                const int q = (step > 0.0f ? clamp_round(x[e] / step, -32, 31) : 0) + 32;
                /* the placement Q6_K's dequantization reads: per 128-element half, quarter c of 32
                 * elements in the low (c < 2) or high nibble of ql[l] (c even) or ql[l + 32] (c odd), its
                 * two high bits at bits 2c of qh[l] */
                const int half = e / 128, r = e % 128, l = r % 32, quarter = r / 32;
                uint8_t *lo = &y[i].ql[64 * half + ((quarter & 1) ? l + 32 : l)];
                *lo |= (uint8_t)(quarter >= 2 ? (q & 0xF) << 4 : q & 0xF);
                y[i].qh[32 * half + l] |= (uint8_t)((q >> 4) << (2 * quarter));
            }
        }
    }
}

int sd_quantize_type_supported(sd_type type) {
    return type == SD_TYPE_F32 || type == SD_TYPE_F16 || type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0 ||
           type == SD_TYPE_Q5_0 || type == SD_TYPE_Q4_K || type == SD_TYPE_Q6_K;
}

int sd_quantize_rows(sd_type type, const float *x, void *dst, int64_t n_rows, int64_t k) {
    if (!sd_quantize_type_supported(type)) return SD_STATUS_UNSUPPORTED;
    const size_t row_bytes = sd_type_row_bytes(type, k);
    if (row_bytes == 0) return SD_STATUS_INVALID_ARGUMENT;
    uint8_t *out = dst;
    for (int64_t r = 0; r < n_rows; r++, x += k, out += row_bytes) {
        switch (type) {
        case SD_TYPE_F32:
            memcpy(out, x, row_bytes);
            break;
        case SD_TYPE_F16:
            sd_quantize_row_f16_ref(x, (uint16_t *)(void *)out, k);
            break;
        case SD_TYPE_Q4_0:
            sd_quantize_row_q4_0_ref(x, (sd_block_q4_0 *)(void *)out, k);
            break;
        case SD_TYPE_Q5_0:
            sd_quantize_row_q5_0_ref(x, (sd_block_q5_0 *)(void *)out, k);
            break;
        case SD_TYPE_Q4_K:
            sd_quantize_row_q4_k(x, (sd_block_q4_k *)(void *)out, k);
            break;
        case SD_TYPE_Q6_K:
            sd_quantize_row_q6_k(x, (sd_block_q6_k *)(void *)out, k);
            break;
        default: /* SD_TYPE_Q8_0 */
            sd_quantize_row_q8_0_ref(x, (sd_block_q8_0 *)(void *)out, k);
            break;
        }
    }
    return SD_STATUS_OK;
}
