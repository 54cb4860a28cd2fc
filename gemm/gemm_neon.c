/* AArch64 NEON kernels. This file is compiled three times (gemm/meson.build, tests/run-neon-tests.sh),
 * and the driver calls a set only when getauxval says the CPU has it, so the library itself stays
 * baseline ARMv8-A:
 * - SD_NEON_LEVEL 0, "neon": ARMv8-A; the signed 4-byte-group dot is emulated with widening multiplies
 *   and pairwise adds.
 * - SD_NEON_LEVEL 1, "neon-dotprod": -march=armv8.2-a+dotprod, sdot (vdotq_s32).
 * - SD_NEON_LEVEL 2, "neon-i8mm": also +i8mm; Q4_0 tiles of 2 or more activation rows use smmla
 *   (vmmlaq_s32), 2 weight rows x 2 activation rows x 8 deep per instruction.
 * sdot yields, for each 16-byte half of a 32-element chunk, 4 lanes of 4-element sums: exactly lanes 0..3
 * and 4..7 of quant.h, so two float32x4 accumulators per (row, output) pair reproduce the scalar
 * references bit for bit. smmla's 8-deep sums mix two of those lanes, so it serves Q4_0 only, whose
 * contract is the block's whole integer dot (quant.h); Q8_0, Q4_K and Q6_K use sdot in every set (an
 * smmla with half of each 8-byte operand zero keeps the lanes apart but does 16 useful multiplies, as
 * one sdot does, plus the shuffles to build its operands). gemm_neon_types.h adds the types of
 * llama-quantize's mixes (Q4_1, Q5_0, Q5_1, IQ4_NL; Q2_K, Q3_K, Q5_K, IQ4_XS) the same way, through
 * has_type.
 *
 * Small-n design as on x86: R weight rows x T activation rows per tile, each weight block loaded and
 * unpacked once per tile and applied to all T activation rows held in registers. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "kernels.h"
#include "quant.h"

#if SD_NEON_LEVEL == 2
#if !defined(__ARM_FEATURE_DOTPROD) || !defined(__ARM_FEATURE_MATMUL_INT8)
#error "SD_NEON_LEVEL 2 needs -march=armv8.2-a+dotprod+i8mm"
#endif
#define KSET sd_kernels_neon_i8mm
#define KNAME "neon-i8mm"
#elif SD_NEON_LEVEL == 1
#if !defined(__ARM_FEATURE_DOTPROD)
#error "SD_NEON_LEVEL 1 needs -march=armv8.2-a+dotprod"
#endif
#define KSET sd_kernels_neon_dotprod
#define KNAME "neon-dotprod"
#else
#define KSET sd_kernels_neon
#define KNAME "neon"
#endif

#define INLINE static inline __attribute__((always_inline))
#define TMAX 8 /* activation rows per tile: Q4_0 (4 x 8 tiles); the other types take at most 4 */
#define TILE_R2_TMAX 4
#define TILE_R4_TMAX 8
#define TILE_ROWS_Q4_0 8
#define TILE_ROWS 4

#define TILE_MORE_TYPES 1 /* tile_more: gemm_neon_types.h */
#include "tile_driver.h"

/* gemm_neon_types.h's, included below after the helpers it shares with this file's kernels */
static bool more_has_type(sd_type type);
static size_t more_act_row_stride(sd_type type, int64_t k);
static void more_quantize_act(sd_type type, const float *x, int64_t k, void *row);

/* Exact fp16 -> fp32 in one instruction (the same bits as sd_fp16_to_fp32 for every non-NaN). */
INLINE float fp16_to_fp32(uint16_t h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* Q8_0 weights' activations: per row nb blocks of 32 int8 quants, then nb fp32 scales (fp16 widened).
 * Q4_0 weights' activations (act_q4_0_*): all n rows block-major with 8-element groups interleaved, quants
 * [nb][4][n][8] (block, group, row), then scales [nb][n] fp32, then ACT_PAD bytes: rows t and t + 1 of a
 * group are 16 adjacent bytes, smmla's 2 x 8 operand for any t, and one row's group is 8 bytes to
 * broadcast for sdot. The pad is what the odd row of a tile reads as its pair's partner at row n. */
typedef struct {
    int8_t qs[32];
} act_q8_0;
#define ACT_PAD 64

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
    case SD_TYPE_Q8_0:
        return ((size_t)(k / 32) * (sizeof(act_q8_0) + sizeof(float)) + 63) / 64 * 64;
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q6_K:
        return (size_t)(k / SD_QK_K) * sizeof(act_q8_k);
    default:
        return more_act_row_stride(type, k);
    }
}

static size_t neon_act_bytes(sd_type type, int64_t k, int n) {
    if (type == SD_TYPE_Q4_0) return (size_t)(k / 32) * (size_t)n * (32 + sizeof(float)) + ACT_PAD;
    return act_row_stride(type, k) * (size_t)n;
}

/* 4 lanes of 4-byte dot products of 16 signed bytes. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if SD_NEON_LEVEL >= 1
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

/* op(acc, x, v, r) for a lane r known only after unrolling (the intrinsics take a literal). */
#define BY_LANE(op, acc, x, v, r)                                                                            \
    ((r) == 0   ? op(acc, x, v, 0)                                                                           \
     : (r) == 1 ? op(acc, x, v, 1)                                                                           \
     : (r) == 2 ? op(acc, x, v, 2)                                                                           \
                : op(acc, x, v, 3))

/* acc + x * v[r] in each lane: fused (fmaf's rounding), and in integers. */
INLINE float32x4_t fma_lane(float32x4_t acc, float32x4_t x, float32x4_t v, const int r) {
    return BY_LANE(vfmaq_laneq_f32, acc, x, v, r);
}

INLINE int32x4_t mla_lane(int32x4_t acc, int32x4_t x, int32x4_t v, const int r) {
    return BY_LANE(vmlaq_laneq_s32, acc, x, v, r);
}

INLINE int8x16_t narrow_s32x4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    const int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    return vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd));
}

/* One Q8_0 block: 32 quants in q[0] (elements 0..15) and q[1] (16..31); returns the scale, fp16-rounded
 * and widened, as sd_quantize_row_q8_0_ref. */
INLINE float quantize_block_q8_0(const float *x, int8x16_t q[2]) {
    float32x4_t v[8];
    float32x4_t mx = vdupq_n_f32(0.0f);
    for (int j = 0; j < 8; j++) {
        v[j] = vld1q_f32(x + 4 * j);
        mx = vmaxq_f32(mx, vabsq_f32(v[j]));
    }
    const float amax = vmaxvq_f32(mx);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32x4_t qi[8];
    for (int j = 0; j < 8; j++)
        qi[j] = vcvtaq_s32_f32(vmulq_n_f32(v[j], id)); /* ties away, as roundf */
    q[0] = narrow_s32x4(qi[0], qi[1], qi[2], qi[3]);
    q[1] = narrow_s32x4(qi[4], qi[5], qi[6], qi[7]);
    return sd_fp16_to_fp32(sd_fp32_to_fp16(d));
}

static void quantize_q8_0(const float *x, int64_t k, void *act) {
    const int64_t nb = k / 32;
    act_q8_0 *blk = act;
    float *ds = (float *)(blk + nb);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int8x16_t q[2];
        ds[b] = quantize_block_q8_0(x, q);
        vst1q_s8(blk[b].qs, q[0]);
        vst1q_s8(blk[b].qs + 16, q[1]);
    }
}

/* Row i of n into the interleaved Q4_0 activation layout (see act_q8_0). */
static void quantize_q4_0_act(const float *x, int64_t k, int n, int i, void *act) {
    const int64_t nb = k / 32;
    int8_t *qs = act;
    float *ds = (float *)(qs + (size_t)nb * 32 * (size_t)n);
    for (int64_t b = 0; b < nb; b++, x += 32) {
        int8x16_t q[2];
        ds[b * n + i] = quantize_block_q8_0(x, q);
        int8_t *g = qs + (size_t)b * 32 * (size_t)n + 8 * (size_t)i;
        vst1_s8(g, vget_low_s8(q[0]));
        vst1_s8(g + 8 * n, vget_high_s8(q[0]));
        vst1_s8(g + 16 * n, vget_low_s8(q[1]));
        vst1_s8(g + 24 * n, vget_high_s8(q[1]));
    }
    if (i == n - 1) memset(ds + nb * n, 0, ACT_PAD); /* read, never used: keep it defined */
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
    if (type == SD_TYPE_Q4_0) {
        quantize_q4_0_act(x, k, n, i, act);
        return;
    }
    act = (uint8_t *)act + (size_t)i * act_row_stride(type, k);
    if (type == SD_TYPE_Q8_0) quantize_q8_0(x, k, act);
    if (type == SD_TYPE_Q4_K || type == SD_TYPE_Q6_K) quantize_q8_k(x, act, k);
    more_quantize_act(type, x, k, act);
}

/* ---- tiles: R weight rows (w, wstride bytes apart) x T activation rows ---- */

/* Integer lane sums leave the dot instructions already offset by MAGIC_BITS, the bits of the float
 * 1.5 * 2^23: for |S| < 2^22 the bits MAGIC_BITS + S are the float 1.5 * 2^23 + S, exactly, so one
 * subtraction of MAGIC gives (float)S, bit for bit as scvtf, with the offset folded into the
 * accumulator's start (free) and an fsub for scvtf (2 uops on one pipe of Neoverse N1, per llvm-mca).
 * Bounds: Q4_0 |S| <= 32 * 8 * 127, Q8_0 lanes 4 * 128 * 127, Q4_K lanes 8 * 63 * 4 * 15 * 127 and its
 * mins 63 * 32 * 127, all below 2^22 (Q8_K quants are within +-127); Q6_K's lanes can exceed it and
 * use scvtf. */
#define MAGIC 12582912.0f
#define MAGIC_BITS 0x4B400000

INLINE float32x4_t magic_to_f32(int32x4_t s) {
    return vsubq_f32(vreinterpretq_f32_s32(s), vdupq_n_f32(MAGIC));
}

/* Lane r of v is row r's fp16 scale (rows blk0 + r * stride bytes apart), widened exactly. */
INLINE float32x4_t load_scales(const uint8_t *blk0, size_t stride, const int R) {
    uint16_t d[4] = {0, 0, 0, 0};
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        memcpy(&d[r], blk0 + (size_t)r * stride, sizeof d[r]);
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d)));
}

/* Q8_0 weights, activation rows a, astride bytes apart: 8 lane accumulators per output (quant.h). Per
 * block and (weight row, activation row): two sdot from MAGIC_BITS, two fsub, two fmla by element
 * (lane r of the block's dx * dy vector). */
INLINE void tile_q8_0(const tile_args *p, const int R, const int T) {
    if (T > TILE_ROWS) return; /* instantiated for Q4_0's tiles only: tile_rows_max */
    /* nor 4 rows with tiles of 2 or more (group_rows never asks): not compiling them saves compile time */
    if (R == 4 && T > 1) return;
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TILE_ROWS], hi[4][TILE_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    }
    const int32x4_t magic = vdupq_n_s32(MAGIC_BITS);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t w0[4], w1[4];
        const sd_block_q8_0 *blk0 = (const sd_block_q8_0 *)w + b;
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const sd_block_q8_0 *blk = (const sd_block_q8_0 *)((const uint8_t *)blk0 + (size_t)r * wstride);
            w0[r] = vld1q_s8(blk->qs);
            w1[r] = vld1q_s8(blk->qs + 16);
        }
        const float32x4_t wd = load_scales((const uint8_t *)&blk0->d, wstride, R);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const act_q8_0 *ab = (const act_q8_0 *)(a + (size_t)t * astride);
            const float32x4_t s = vmulq_n_f32(wd, ((const float *)(ab + nb))[b]); /* lane r: dx_r * dy */
            const int8x16_t y0 = vld1q_s8(ab[b].qs), y1 = vld1q_s8(ab[b].qs + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const float32x4_t s0 = magic_to_f32(dot16(magic, w0[r], y0));
                const float32x4_t s1 = magic_to_f32(dot16(magic, w1[r], y1));
                lo[r][t] = fma_lane(lo[r][t], s0, s, r);
                hi[r][t] = fma_lane(hi[r][t], s1, s, r);
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

/* One Q4_0 block of R (1, 2 or 4) weight rows as signed int8: wq[P][K] holds 8-element group K of rows
 * 2P and 2P + 1 (8 bytes each; a missing row is zeros), wd lane r the scale of row r. From the
 * sd_q4_0_r4 copy when there is one (a group of 4), else by zipping the plain rows into that layout. */
INLINE void load_q4_0(const tile_args *p, int64_t b, const int R, int8x16_t wq[2][4], float32x4_t *wd) {
    int8x16_t pk[2][2]; /* sd_q4_0_r4's qs: signed nibbles */
    uint16x4_t dh;
    if (R == 4 && p->packed) {
        const sd_q4_0_r4 *rec = (const sd_q4_0_r4 *)p->packed + b;
        dh = vld1_u16(rec->d);
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++)
            pk[v / 2][v % 2] = vld1q_s8((const int8_t *)rec->qs[v]);
    } else {
        uint16_t d[4] = {0, 0, 0, 0};
#pragma GCC unroll 2
        for (int P = 0; P < (R + 1) / 2; P++) {
            const sd_block_q4_0 *b0 = (const sd_block_q4_0 *)(p->w + (size_t)(2 * P) * p->wstride) + b;
            const sd_block_q4_0 *b1 = (const sd_block_q4_0 *)(p->w + (size_t)(2 * P + 1) * p->wstride) + b;
            const uint64x2_t q0 = vreinterpretq_u64_u8(vld1q_u8(b0->qs));
            const uint64x2_t q1 = 2 * P + 1 < R ? vreinterpretq_u64_u8(vld1q_u8(b1->qs)) : vdupq_n_u64(0);
            d[2 * P] = b0->d;
            if (2 * P + 1 < R) d[2 * P + 1] = b1->d;
            const int8x16_t sign = vdupq_n_s8((int8_t)0x88);
            pk[P][0] = veorq_s8(vreinterpretq_s8_u64(vzip1q_u64(q0, q1)), sign);
            pk[P][1] = veorq_s8(vreinterpretq_s8_u64(vzip2q_u64(q0, q1)), sign);
        }
        dh = vld1_u16(d);
    }
    *wd = vcvt_f32_f16(vreinterpret_f16_u16(dh));
#pragma GCC unroll 2
    for (int P = 0; P < (R + 1) / 2; P++) {
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            wq[P][h] = vshrq_n_s8(vshlq_n_s8(pk[P][h], 4), 4); /* low nibbles: elements 8h.. */
            wq[P][h + 2] = vshrq_n_s8(pk[P][h], 4);            /* high nibbles: elements 16 + 8h.. */
        }
    }
}

/* An 8-byte activation group in both halves of a vector, to meet two weight rows in one sdot. */
INLINE int8x16_t dup_group(const int8_t *g) {
    uint64_t v;
    memcpy(&v, g, sizeof v);
    return vreinterpretq_s8_u64(vdupq_n_u64(v));
}

/* Q4_0 weights against the interleaved activations (all n rows at p->a, the tile's first at p->t0). Per
 * block and output, the block's integer dot S, then acc = fmaf(dx * dy, S, acc) in a float lane (quant.h).
 * sdot: per activation row, lane r of acc[t] is output row r (a pairwise add joins each row's two lanes).
 * smmla (level 2, T >= 2): activation rows in pairs q (rows 2q, 2q + 1 of the tile; the second of an
 * odd last pair is discarded), lanes of accp[P][q] (2P, 2q), (2P, 2q + 1), (2P + 1, 2q), (2P + 1, 2q + 1). */
INLINE void tile_q4_0(const tile_args *p, const int R, const int T, const bool q8) {
    if (q8) {
        tile_q8_0(p, R, T);
        return;
    }
    const int n = p->n_all, NP = (R + 1) / 2, NQ = (T + 1) / 2;
    const int64_t nb = p->len, ldy = p->ldy;
    const size_t gstride = 8 * (size_t)n; /* bytes between a row's consecutive groups */
    const int8_t *aq = (const int8_t *)p->a + 8 * (size_t)p->t0;
    const float *ad = (const float *)((const int8_t *)p->a + (size_t)nb * 32 * (size_t)n) + p->t0;
    const bool mm = SD_NEON_LEVEL >= 2 && T >= 2;
    float32x4_t acc[TMAX];  /* sdot */
    float32x4_t accp[2][4]; /* smmla */
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = vdupq_n_f32(0.0f);
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        accp[0][q] = accp[1][q] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t wq[2][4];
        float32x4_t wd;
        load_q4_0(p, b, R, wq, &wd);
        const int8_t *ab = aq + (size_t)b * 32 * (size_t)n;
        const float *db = ad + (size_t)b * (size_t)n;
        if (mm) {
#if SD_NEON_LEVEL >= 2
            const float32x4_t wdp[2] = {vzip1q_f32(wd, wd),
                                        vzip2q_f32(wd, wd)}; /* d0 d0 d1 d1, d2 d2 d3 d3 */
#pragma GCC unroll 4
            for (int q = 0; q < NQ; q++) {
                int8x16_t yv[4];
#pragma GCC unroll 4
                for (int K = 0; K < 4; K++)
                    yv[K] = vld1q_s8(ab + K * gstride + 16 * q);
                const float32x2_t dd = vld1_f32(db + 2 * q);
                const float32x4_t dyq = vcombine_f32(dd, dd);
#pragma GCC unroll 2
                for (int P = 0; P < NP; P++) {
                    int32x4_t s = vdupq_n_s32(MAGIC_BITS);
#pragma GCC unroll 4
                    for (int K = 0; K < 4; K++)
                        s = vmmlaq_s32(s, wq[P][K], yv[K]);
                    accp[P][q] = vfmaq_f32(accp[P][q], magic_to_f32(s), vmulq_f32(wdp[P], dyq));
                }
            }
#endif
        } else {
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                int32x4_t s[2];
#pragma GCC unroll 2
                for (int P = 0; P < NP; P++) {
                    s[P] = vdupq_n_s32(MAGIC_BITS / 2); /* the pairwise add joins two halves */
#pragma GCC unroll 4
                    for (int K = 0; K < 4; K++)
                        s[P] = dot16(s[P], wq[P][K], dup_group(ab + K * gstride + 8 * t));
                }
                const int32x4_t sum = vpaddq_s32(s[0], NP > 1 ? s[1] : s[0]); /* rows 0, 1, 2, 3 */
                acc[t] = vfmaq_f32(acc[t], magic_to_f32(sum), vmulq_n_f32(wd, db[t]));
            }
        }
    }
    float out[TMAX][4]; /* [activation row][weight row] */
    if (!mm) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            vst1q_f32(out[t], acc[t]);
    } else {
        float pq[2][4][4];
#pragma GCC unroll 2
        for (int P = 0; P < NP; P++) {
#pragma GCC unroll 4
            for (int q = 0; q < NQ; q++)
                vst1q_f32(pq[P][q], accp[P][q]);
        }
        for (int t = 0; t < T; t++) {
            for (int r = 0; r < R; r++)
                out[t][r] = pq[r / 2][t / 2][2 * (r % 2) + t % 2];
        }
    }
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < R; r++)
            p->y[t * ldy + r] = out[t][r];
    }
}

/* Super-block weights (Q4_K, Q6_K) in units: unit (u, v) is half v (16 bytes: lanes 4v..4v+3) of the
 * chunks 2u and 2u + 1 (32 elements each) as int8. Per unit and (weight row, activation row): two sdot
 * and two mla by element (the chunk's scale) into the pair's integer lanes, which stay in registers
 * for the whole super-block; the float steps follow once per super-block. k_scales holds one row's
 * scales as int32 lanes: Q4_K sc[c / 4] lane c % 4 is chunk c's scale and mins the 8 mins; Q6_K
 * sc[i / 4] lane i % 4 is scales[i], the scale of chunk i / 2's half i % 2. */
typedef struct {
    int32x4_t sc[4];
    int32x4_t mins[2];
    float d, dmin;
} k_scales;

/* Four bytes as int32 lanes. */
INLINE int32x4_t u8x4_to_s32(uint32_t v) {
    return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vcreate_u8(v)))));
}

INLINE void k_unpack_scales(const uint8_t *wblk, const bool q6, k_scales *ks) {
    if (q6) {
        const sd_block_q6_k *blk = (const sd_block_q6_k *)wblk;
        const int8x16_t scb = vld1q_s8(blk->scales);
        const int16x8_t sc0 = vmovl_s8(vget_low_s8(scb)), sc1 = vmovl_high_s8(scb);
        ks->sc[0] = vmovl_s16(vget_low_s16(sc0));
        ks->sc[1] = vmovl_high_s16(sc0);
        ks->sc[2] = vmovl_s16(vget_low_s16(sc1));
        ks->sc[3] = vmovl_high_s16(sc1);
        ks->d = fp16_to_fp32(blk->d);
    } else {
        /* sd_q4_k_scales on 32-bit words, byte i of each word at once */
        const sd_block_q4_k *blk = (const sd_block_q4_k *)wblk;
        uint32_t q[3];
        memcpy(q, blk->scales, sizeof q);
        const uint32_t m6 = 0x3F3F3F3Fu, m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
        ks->sc[0] = u8x4_to_s32(q[0] & m6);
        ks->sc[1] = u8x4_to_s32((q[2] & m4) | (((q[0] >> 6) & m2) << 4));
        ks->mins[0] = u8x4_to_s32(q[1] & m6);
        ks->mins[1] = u8x4_to_s32(((q[2] >> 4) & m4) | (((q[1] >> 6) & m2) << 4));
        ks->d = fp16_to_fp32(blk->d);
        ks->dmin = fp16_to_fp32(blk->dmin);
    }
}

/* Unit (u, v) of one weight row's super-block (see k_scales). */
INLINE void k_unpack_unit(const uint8_t *wblk, const bool q6, const int u, const int v, int8x16_t w[2]) {
    if (q6) {
        /* ql[64h + 16v..], ql[64h + 32 + 16v..] and qh[32h + 16v..] carry chunks 4h..4h + 3 (u = 2h + p):
         * p = 0 the low nibbles with qh bits 0-1 and 2-3, p = 1 the high nibbles with bits 4-5 and 6-7 */
        const sd_block_q6_k *blk = (const sd_block_q6_k *)wblk;
        const int h = u / 2, pp = u % 2;
        const uint8x16_t l0 = vld1q_u8(blk->ql + 64 * h + 16 * v);
        const uint8x16_t l1 = vld1q_u8(blk->ql + 64 * h + 32 + 16 * v);
        const uint8x16_t qh = vld1q_u8(blk->qh + 32 * h + 16 * v);
        const uint8x16_t m2 = vdupq_n_u8(0x30);
        if (pp == 0) { /* (l & 15) | (qh bits << 4) */
            w[0] = vreinterpretq_s8_u8(vsliq_n_u8(l0, vandq_u8(qh, vdupq_n_u8(0x03)), 4));
            w[1] = vreinterpretq_s8_u8(vsliq_n_u8(l1, vandq_u8(vshrq_n_u8(qh, 2), vdupq_n_u8(0x03)), 4));
        } else { /* (qh bits in 4-5) | (l >> 4) */
            w[0] = vreinterpretq_s8_u8(vsriq_n_u8(vandq_u8(qh, m2), l0, 4));
            w[1] = vreinterpretq_s8_u8(vsriq_n_u8(vshrq_n_u8(qh, 2), l1, 4));
        }
    } else { /* qs[32u + 16v..]: low nibbles chunk 2u, high nibbles chunk 2u + 1 */
        const sd_block_q4_k *blk = (const sd_block_q4_k *)wblk;
        const uint8x16_t raw = vld1q_u8(blk->qs + 32 * u + 16 * v);
        w[0] = vreinterpretq_s8_u8(vandq_u8(raw, vdupq_n_u8(0x0F)));
        w[1] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
    }
}

INLINE void tile_k(const tile_args *p, const int R, const int T, const bool q6) {
    if (T > TILE_ROWS) return; /* instantiated for Q4_0's tiles only: tile_rows_max */
    /* nor 4 rows with tiles of 2 or more, 2 rows with tiles of 3 or more (group_rows never asks) */
    if ((R == 4 && T > 1) || (R == 2 && T > 2)) return;
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const size_t wblock = q6 ? sizeof(sd_block_q6_k) : sizeof(sd_block_q4_k);
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TILE_ROWS], hi[4][TILE_ROWS];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
        for (int t = 0; t < T; t++)
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = w + (size_t)b * wblock;
        k_scales ks[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            k_unpack_scales(wb + (size_t)r * wstride, q6, &ks[r]);
        /* Q4_K lanes and mins start at MAGIC_BITS (see magic_to_f32); Q6_K's at 0 for scvtf */
        int32x4_t s[4][TILE_ROWS][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                s[r][t][0] = s[r][t][1] = vdupq_n_s32(q6 ? 0 : MAGIC_BITS);
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
#pragma GCC unroll 2
            for (int v = 0; v < 2; v++) {
                /* the scales' index of chunks 2u and 2u + 1: Q4_K the chunk, Q6_K 2 * chunk + v */
                const int i0 = q6 ? 4 * u + v : 2 * u, i1 = q6 ? 4 * u + 2 + v : 2 * u + 1;
                int8x16_t wq[4][2];
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    k_unpack_unit(wb + (size_t)r * wstride, q6, u, v, wq[r]);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
                    const int8x16_t y0 = vld1q_s8(ab->qs + 64 * u + 16 * v);
                    const int8x16_t y1 = vld1q_s8(ab->qs + 64 * u + 32 + 16 * v);
#pragma GCC unroll 4
                    for (int r = 0; r < R; r++) {
                        const int32x4_t zero = vdupq_n_s32(0);
                        s[r][t][v] =
                            mla_lane(s[r][t][v], dot16(zero, wq[r][0], y0), ks[r].sc[i0 / 4], i0 % 4);
                        s[r][t][v] =
                            mla_lane(s[r][t][v], dot16(zero, wq[r][1], y1), ks[r].sc[i1 / 4], i1 % 4);
                    }
                }
            }
        }
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
            const int16x8_t bs0 = vld1q_s16(ab->bsums), bs1 = vld1q_s16(ab->bsums + 8);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const float d = ks[r].d * ab->d;
                if (q6) { /* lane l: 32 * (bsums[2l] * sc[2l] + bsums[2l + 1] * sc[2l + 1]) */
                    const sd_block_q6_k *blk = (const sd_block_q6_k *)(wb + (size_t)r * wstride);
                    const int8x16_t scb = vld1q_s8(blk->scales);
                    const int16x8_t sc0 = vmovl_s8(vget_low_s8(scb)), sc1 = vmovl_high_s8(scb);
                    const int32x4_t c_lo =
                        vpaddq_s32(vmull_s16(vget_low_s16(bs0), vget_low_s16(sc0)), vmull_high_s16(bs0, sc0));
                    const int32x4_t c_hi =
                        vpaddq_s32(vmull_s16(vget_low_s16(bs1), vget_low_s16(sc1)), vmull_high_s16(bs1, sc1));
                    const int32x4_t s_lo = vsubq_s32(s[r][t][0], vshlq_n_s32(c_lo, 5));
                    const int32x4_t s_hi = vsubq_s32(s[r][t][1], vshlq_n_s32(c_hi, 5));
                    lo[r][t] = vfmaq_n_f32(lo[r][t], vcvtq_f32_s32(s_lo), d);
                    hi[r][t] = vfmaq_n_f32(hi[r][t], vcvtq_f32_s32(s_hi), d);
                } else { /* lane l: m_l * (bsums[2l] + bsums[2l + 1]), from MAGIC_BITS */
                    const int32x4_t magic = vdupq_n_s32(MAGIC_BITS);
                    const int32x4_t m_lo = vmlaq_s32(magic, vpaddlq_s16(bs0), ks[r].mins[0]);
                    const int32x4_t m_hi = vmlaq_s32(magic, vpaddlq_s16(bs1), ks[r].mins[1]);
                    const float ndmin = -(ks[r].dmin * ab->d);
                    lo[r][t] = vfmaq_n_f32(lo[r][t], magic_to_f32(s[r][t][0]), d);
                    hi[r][t] = vfmaq_n_f32(hi[r][t], magic_to_f32(s[r][t][1]), d);
                    lo[r][t] = vfmaq_n_f32(lo[r][t], magic_to_f32(m_lo), ndmin);
                    hi[r][t] = vfmaq_n_f32(hi[r][t], magic_to_f32(m_hi), ndmin);
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
    if (T > TILE_ROWS) return; /* instantiated for Q4_0's tiles only: tile_rows_max */
    /* nor 4 rows with tiles of 2 or more (group_rows never asks) */
    if (R == 4 && T > 1) return;
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t k = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TILE_ROWS], hi[4][TILE_ROWS];
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

#include "gemm_neon_types.h"

/* ---- tile shapes for the driver ---- */

/* Q4_0: all rows interleaved (act_q8_0's comment); the others one activation row after another. */
static bool act_block_major(sd_type type) {
    return type == SD_TYPE_Q4_0;
}

/* Q4_0 tiles of 4 weight rows x up to 8 activation rows: 8 unpacked weight vectors, 8 accumulators (sdot:
 * one per activation row; smmla: one per row pair x activation pair) and the activation groups fit the
 * 32 registers. Q8_0 and the other 32-wide types keep R x T <= 8 pairs of accumulators with T <= 4; the
 * 256-wide types hold a pair of integer and a pair of float accumulators per (R, T), so 4 x 1, 2 x 2, then
 * 1 x 3 or 1 x 4. */
static int tile_rows_max(sd_type type) {
    return type == SD_TYPE_Q4_0 ? TILE_ROWS_Q4_0 : TILE_ROWS;
}

static int group_rows(sd_type type, int T) {
    if (type == SD_TYPE_Q4_0 || T == 1) return 4;
    /* the 256-wide types: R x T pairs of integer and of float accumulators; 1 x 4 leaves room for the
     * unit */
    return sd_act_type_of(type) == SD_TYPE_Q8_K && T > 2 ? 1 : 2;
}

/* The sd_q4_0_r4 copy is laid out in groups of 4 rows: a range that does not start and end on one uses
 * the plain rows. */
static void neon_rows(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1,
                      float *y, int64_t ldy) {
    if (w->packed && (r0 % 4 != 0 || r1 % 4 != 0)) {
        sd_weight plain = *w;
        plain.packed = NULL;
        tile_rows(&plain, act, x, n, r0, r1, y, ldy);
        return;
    }
    tile_rows(w, act, x, n, r0, r1, y, ldy);
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

const sd_kernel_set KSET = {
    .name = KNAME,
    .has_type = more_has_type,
    .act_bytes = neon_act_bytes,
    .quantize_act = neon_quantize_act,
    .rows = neon_rows,
    .dequantize = neon_dequantize,
};

#if SD_NEON_LEVEL == 0 /* baseline code: once in the library */
void sd_q4_0_repack_r4(const void *src, void *dst, int64_t rows, int64_t cols) {
    const int64_t nb = cols / SD_QK4_0;
    const sd_block_q4_0 *in = src;
    sd_q4_0_r4 *out = dst;
    for (int64_t g = 0; g < rows / 4; g++) {
        for (int64_t b = 0; b < nb; b++, out++) {
            for (int r = 0; r < 4; r++) {
                const sd_block_q4_0 *blk = &in[(g * 4 + r) * nb + b];
                out->d[r] = blk->d;
                for (int i = 0; i < 16; i++) /* qs[2P + h][8 * (r % 2) + j] = row r's qs[8h + j] */
                    out->qs[2 * (r / 2) + i / 8][8 * (r % 2) + i % 8] = blk->qs[i] ^ 0x88;
            }
        }
    }
}
#endif
