/* AArch64 NEON kernels. The signed-by-signed dot (vdotq_s32 with __ARM_FEATURE_DOTPROD, else widening
 * multiplies and pairwise adds) yields, for each 16-byte half of a 32-element chunk, 4 lanes of 4-element
 * sums: exactly lanes 0..3 and 4..7 of quant.h, so two float32x4 accumulators per (row, output) pair
 * reproduce the scalar references bit for bit.
 *
 * Small-n design as on x86: R weight rows x T activation rows per tile, each weight block loaded and
 * unpacked once per tile and applied to all T rows held in registers. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "kernels.h"
#include "quant.h"

#define INLINE static inline __attribute__((always_inline))
#define TMAX 4 /* activation rows per tile */
#define TILE_R2_TMAX 4
#define TILE_R4_TMAX 1

#include "tile_driver.h"

/* Q8_0 activations: per row nb blocks of 32 int8 quants, then nb fp32 scales (fp16 widened). */
typedef struct {
    int8_t qs[32];
} act_q8_0;

/* Q8_K activations: quants first (aligned), bsums, fp32 scale. */
typedef struct {
    int8_t qs[SD_QK_K];
    int16_t bsums[SD_QK_K / 16];
    float d;
    int32_t pad[7];
} act_q8_k;
static_assert(sizeof(act_q8_k) == 320, "act_q8_k is 5 cache lines");

static size_t act_row_stride(sd_type type, int64_t k) {
    switch (type) {
    case SD_TYPE_Q4_0:
    case SD_TYPE_Q8_0:
        return ((size_t)(k / 32) * (sizeof(act_q8_0) + sizeof(float)) + 63) / 64 * 64;
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q6_K:
        return (size_t)(k / SD_QK_K) * sizeof(act_q8_k);
    default:
        return 0;
    }
}

static size_t neon_act_bytes(sd_type type, int64_t k, int n) {
    return act_row_stride(type, k) * (size_t)n;
}

/* 4 lanes of 4-byte dot products of 16 signed bytes. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vaddq_s32(acc, vpaddq_s32(vpaddlq_s16(lo), vpaddlq_s16(hi)));
#endif
}

/* ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)), as sd_hsum8. */
INLINE float hsum8(float32x4_t lo, float32x4_t hi) {
    const float32x4_t b = vaddq_f32(lo, hi);
    const float32x2_t c = vadd_f32(vget_low_f32(b), vget_high_f32(b));
    return vget_lane_f32(c, 0) + vget_lane_f32(c, 1);
}

INLINE int8x16_t narrow_s32x4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

static void quantize_q8_0(const float *x, int64_t k, void *act) {
    const int64_t nb = k / 32;
    act_q8_0 *blk = act;
    float *ds = (float *)(blk + nb);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        float32x4_t v[8];
        float32x4_t mx = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(x + 4 * j);
            mx = vmaxq_f32(mx, vabsq_f32(v[j]));
        }
        const float amax = vmaxvq_f32(mx);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        ds[b] = sd_fp16_to_fp32(sd_fp32_to_fp16(d));
        int32x4_t q[8];
        for (int j = 0; j < 8; j++)
            q[j] = vcvtaq_s32_f32(vmulq_n_f32(v[j], id)); /* ties away, as roundf */
        vst1q_s8(blk[b].qs, narrow_s32x4(q[0], q[1], q[2], q[3]));
        vst1q_s8(blk[b].qs + 16, narrow_s32x4(q[4], q[5], q[6], q[7]));
    }
}

static void quantize_q8_k(const float *x, act_q8_k *y, int64_t k) {
    for (int64_t b = 0; b < k / SD_QK_K; b++, x += SD_QK_K) {
        float32x4_t mx = vdupq_n_f32(0.0f);
        for (int j = 0; j < SD_QK_K; j += 4)
            mx = vmaxq_f32(mx, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(mx);
        memset(&y[b], 0, sizeof y[b]);
        if (amax == 0.0f) continue;
        float max = 0.0f;
        for (int j = 0; j < SD_QK_K; j++) { /* the first element of largest magnitude decides the sign */
            if (fabsf(x[j]) == amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const int32x4_t lim = vdupq_n_s32(127);
        for (int j = 0; j < SD_QK_K; j += 16) {
            int32x4_t q[4];
            for (int u = 0; u < 4; u++) {
                q[u] = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4 * u), iscale)),
                                 lim); /* ties even */
            }
            const int8x16_t qs = narrow_s32x4(q[0], q[1], q[2], q[3]);
            vst1q_s8(y[b].qs + j, qs);
            y[b].bsums[j / 16] = (int16_t)vaddlvq_s8(qs);
        }
        y[b].d = 1.0f / iscale;
    }
}

static void neon_quantize_act(sd_type type, const float *x, int64_t k, int n, int i, void *act) {
    (void)n;
    act = (uint8_t *)act + (size_t)i * act_row_stride(type, k);
    if (type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0) quantize_q8_0(x, k, act);
    if (type == SD_TYPE_Q4_K || type == SD_TYPE_Q6_K) quantize_q8_k(x, act, k);
}

/* ---- tiles: R weight rows (w, wstride bytes apart) x T activation rows (a, astride apart) ---- */

INLINE void tile_q4_0(const tile_args *p, const int R, const int T, const bool q8) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TMAX], hi[4][TMAX]; /* Q8_0: 8 lane accumulators per output */
    float acc1[4][TMAX];                  /* Q4_0: one accumulator per output (quant.h) */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
            acc1[r][t] = 0.0f;
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t w0[4], w1[4];
        float wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (q8) {
                const sd_block_q8_0 *blk = (const sd_block_q8_0 *)(w + (size_t)r * wstride) + b;
                w0[r] = vld1q_s8(blk->qs);
                w1[r] = vld1q_s8(blk->qs + 16);
                wd[r] = sd_fp16_to_fp32(blk->d);
            } else {
                const sd_block_q4_0 *blk = (const sd_block_q4_0 *)(w + (size_t)r * wstride) + b;
                const uint8x16_t raw = vld1q_u8(blk->qs);
                const int8x16_t eight = vdupq_n_s8(8);
                w0[r] = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), eight);
                w1[r] = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight);
                wd[r] = sd_fp16_to_fp32(blk->d);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const act_q8_0 *ab = (const act_q8_0 *)(a + (size_t)t * astride);
            const float dy = ((const float *)(ab + nb))[b];
            const int8x16_t y0 = vld1q_s8(ab[b].qs), y1 = vld1q_s8(ab[b].qs + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const int32x4_t zero = vdupq_n_s32(0);
                if (q8) {
                    const float32x4_t s = vdupq_n_f32(wd[r] * dy);
                    lo[r][t] = vfmaq_f32(lo[r][t], s, vcvtq_f32_s32(dot16(zero, w0[r], y0)));
                    hi[r][t] = vfmaq_f32(hi[r][t], s, vcvtq_f32_s32(dot16(zero, w1[r], y1)));
                } else { /* the block's integer dot (exact in any order), then one scalar step */
                    const int32_t sum = vaddvq_s32(dot16(dot16(zero, w0[r], y0), w1[r], y1));
                    acc1[r][t] = fmaf(wd[r] * dy, (float)sum, acc1[r][t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = q8 ? hsum8(lo[r][t], hi[r][t]) : acc1[r][t];
    }
}

INLINE void tile_k(const tile_args *p, const int R, const int T, const bool q6) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TMAX], hi[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t wq[4][16]; /* 256 quants as 16 vectors: chunk c is vectors 2c (lanes 0-3), 2c + 1 (4-7) */
        int32_t wsc[4][16];  /* scale of each 16-byte vector */
        int32_t wmin[4][8];  /* Q4_K mins; Q6_K: unused */
        float wd[4], wdm[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (q6) {
                const sd_block_q6_k *blk = (const sd_block_q6_k *)(w + (size_t)r * wstride) + b;
                for (int h = 0; h < 2; h++) {
                    for (int v = 0; v < 2; v++) { /* 16-byte halves of the 32-element quarters */
                        const uint8x16_t l0 = vld1q_u8(blk->ql + 64 * h + 16 * v);
                        const uint8x16_t l1 = vld1q_u8(blk->ql + 64 * h + 32 + 16 * v);
                        const uint8x16_t qh = vld1q_u8(blk->qh + 32 * h + 16 * v);
                        const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
                        const uint8x16_t q0 = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(qh, m2), 4));
                        const uint8x16_t q1 =
                            vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), m2), 4));
                        const uint8x16_t q2 =
                            vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), m2), 4));
                        const uint8x16_t q3 = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4));
                        wq[r][8 * h + 0 + v] = vreinterpretq_s8_u8(q0);
                        wq[r][8 * h + 2 + v] = vreinterpretq_s8_u8(q1);
                        wq[r][8 * h + 4 + v] = vreinterpretq_s8_u8(q2);
                        wq[r][8 * h + 6 + v] = vreinterpretq_s8_u8(q3);
                    }
                }
                for (int j = 0; j < 16; j++)
                    wsc[r][j] = blk->scales[j];
                wd[r] = sd_fp16_to_fp32(blk->d);
                wdm[r] = 0.0f;
            } else {
                const sd_block_q4_k *blk = (const sd_block_q4_k *)(w + (size_t)r * wstride) + b;
                uint8_t sc[8], m[8];
                sd_q4_k_scales(blk->scales, sc, m);
                for (int j = 0; j < 4; j++) {
                    for (int v = 0; v < 2; v++) {
                        const uint8x16_t raw = vld1q_u8(blk->qs + 32 * j + 16 * v);
                        wq[r][4 * j + v] = vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F)));
                        wq[r][4 * j + 2 + v] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
                    }
                }
                for (int j = 0; j < 16; j++)
                    wsc[r][j] = sc[j / 2];
                for (int j = 0; j < 8; j++)
                    wmin[r][j] = m[j];
                wd[r] = sd_fp16_to_fp32(blk->d);
                wdm[r] = sd_fp16_to_fp32(blk->dmin);
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                int32x4_t s_lo = vdupq_n_s32(0), s_hi = vdupq_n_s32(0);
                for (int c = 0; c < 8; c++) {
                    const int32x4_t zero = vdupq_n_s32(0);
                    const int32x4_t d0 = dot16(zero, wq[r][2 * c], vld1q_s8(ab->qs + 32 * c));
                    const int32x4_t d1 = dot16(zero, wq[r][2 * c + 1], vld1q_s8(ab->qs + 32 * c + 16));
                    /* Q4_K: one scale per 32-element chunk; Q6_K: one per 16 */
                    s_lo = vmlaq_n_s32(s_lo, d0, wsc[r][2 * c]);
                    s_hi = vmlaq_n_s32(s_hi, d1, wsc[r][2 * c + 1]);
                }
                /* per lane l: bsums[2l] and bsums[2l + 1] */
                const int16x8_t bs0 = vld1q_s16(ab->bsums), bs1 = vld1q_s16(ab->bsums + 8);
                if (q6) {
                    int32_t corr[8];
                    for (int l = 0; l < 8; l++) {
                        corr[l] = 32 * (ab->bsums[2 * l] * wsc[r][2 * l] +
                                        ab->bsums[2 * l + 1] * wsc[r][2 * l + 1]);
                    }
                    s_lo = vsubq_s32(s_lo, vld1q_s32(corr));
                    s_hi = vsubq_s32(s_hi, vld1q_s32(corr + 4));
                    const float32x4_t d = vdupq_n_f32(wd[r] * ab->d);
                    lo[r][t] = vfmaq_f32(lo[r][t], d, vcvtq_f32_s32(s_lo));
                    hi[r][t] = vfmaq_f32(hi[r][t], d, vcvtq_f32_s32(s_hi));
                } else {
                    const int32x4_t pairs_lo = vpaddlq_s16(bs0), pairs_hi = vpaddlq_s16(bs1);
                    const int32x4_t m_lo = vmulq_s32(pairs_lo, vld1q_s32(wmin[r]));
                    const int32x4_t m_hi = vmulq_s32(pairs_hi, vld1q_s32(wmin[r] + 4));
                    const float32x4_t d = vdupq_n_f32(wd[r] * ab->d);
                    const float32x4_t ndmin = vdupq_n_f32(-(wdm[r] * ab->d));
                    lo[r][t] = vfmaq_f32(lo[r][t], d, vcvtq_f32_s32(s_lo));
                    hi[r][t] = vfmaq_f32(hi[r][t], d, vcvtq_f32_s32(s_hi));
                    lo[r][t] = vfmaq_f32(lo[r][t], ndmin, vcvtq_f32_s32(m_lo));
                    hi[r][t] = vfmaq_f32(hi[r][t], ndmin, vcvtq_f32_s32(m_hi));
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = hsum8(lo[r][t], hi[r][t]);
    }
}

INLINE float32x4_t load_w4(const uint8_t *w, int64_t e, sd_type type) {
    if (type == SD_TYPE_F32) return vld1q_f32((const float *)w + e);
    const uint16x4_t h = vld1_u16((const uint16_t *)w + e);
    if (type == SD_TYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

INLINE float load_w1(const uint8_t *w, int64_t e, sd_type type) {
    if (type == SD_TYPE_F32) return ((const float *)w)[e];
    const uint16_t h = ((const uint16_t *)w)[e];
    return type == SD_TYPE_F16 ? sd_fp16_to_fp32(h) : sd_bf16_to_fp32(h);
}

INLINE void tile_float(const tile_args *p, const int R, const int T, const sd_type type) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t k = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TMAX], hi[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    }
    const int64_t k8 = k / 8 * 8;
    for (int64_t e = 0; e < k8; e += 8) {
        float32x4_t w0[4], w1[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            w0[r] = load_w4(w + (size_t)r * wstride, e, type);
            w1[r] = load_w4(w + (size_t)r * wstride, e + 4, type);
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const float *xr = (const float *)(a + (size_t)t * astride) + e;
            const float32x4_t x0 = vld1q_f32(xr), x1 = vld1q_f32(xr + 4);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                lo[r][t] = vfmaq_f32(lo[r][t], w0[r], x0);
                hi[r][t] = vfmaq_f32(hi[r][t], w1[r], x1);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            float lanes[8];
            vst1q_f32(lanes, lo[r][t]);
            vst1q_f32(lanes + 4, hi[r][t]);
            const float *xr = (const float *)(a + (size_t)t * astride);
            for (int64_t e = k8; e < k; e++) {
                lanes[e % 8] = fmaf(load_w1(w + (size_t)r * wstride, e, type), xr[e], lanes[e % 8]);
            }
            y[t * ldy + r] = sd_hsum8(lanes);
        }
    }
}

INLINE void tile_q4_k(const tile_args *p, const int R, const int T) {
    tile_k(p, R, T, false);
}

INLINE void tile_q6_k(const tile_args *p, const int R, const int T) {
    tile_k(p, R, T, true);
}

/* ---- tile shapes for the driver ---- */

static bool act_block_major(sd_type type) {
    (void)type; /* one activation row after another for every type */
    return false;
}

static int tile_rows_max(sd_type type) {
    (void)type;
    return TMAX;
}

static int group_rows(sd_type type, int T) {
    (void)type;
    return T == 1 ? 4 : 2;
}

static void neon_dequantize(sd_type type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case SD_TYPE_F16:
    case SD_TYPE_BF16: {
        const int64_t n4 = n / 4 * 4;
        for (int64_t e = 0; e < n4; e += 4)
            vst1q_f32(dst + e, load_w4(src, e, type));
        for (int64_t e = n4; e < n; e++)
            dst[e] = load_w1(src, e, type);
        break;
    }
    case SD_TYPE_Q4_0: {
        const sd_block_q4_0 *x = src;
        for (int64_t b = 0; b < n / 32; b++) {
            const float32x4_t d = vdupq_n_f32(sd_fp16_to_fp32(x[b].d));
            const uint8x16_t raw = vld1q_u8(x[b].qs);
            const int8x16_t half[2] = {
                vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F))), vdupq_n_s8(8)),
                vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), vdupq_n_s8(8))};
            for (int h = 0; h < 2; h++) {
                const int16x8_t w0 = vmovl_s8(vget_low_s8(half[h])), w1 = vmovl_high_s8(half[h]);
                const int32x4_t v[4] = {vmovl_s16(vget_low_s16(w0)), vmovl_high_s16(w0),
                                        vmovl_s16(vget_low_s16(w1)), vmovl_high_s16(w1)};
                for (int j = 0; j < 4; j++)
                    vst1q_f32(dst + 32 * b + 16 * h + 4 * j, vmulq_f32(vcvtq_f32_s32(v[j]), d));
            }
        }
        break;
    }
    default:
        sd_dequantize_row_ref(type, src, dst, n);
        break;
    }
}

const sd_kernel_set sd_kernels_neon = {
#if defined(__ARM_FEATURE_DOTPROD)
    .name = "neon-dotprod",
#else
    .name = "neon",
#endif
    .act_bytes = neon_act_bytes,
    .quantize_act = neon_quantize_act,
    .rows = tile_rows,
    .dequantize = neon_dequantize,
};
