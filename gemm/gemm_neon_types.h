/* The NEON kernels of the weight types llama-quantize's mixes add to the first seven: Q4_1, Q5_0, Q5_1 and
 * IQ4_NL (blocks of 32, against Q8_0 activations) and Q2_K, Q3_K, Q5_K and IQ4_XS (super-blocks of 256,
 * against Q8_K). Part of gemm_neon.c's translation unit (included there once, after the helpers and tile
 * kernels it shares, and so compiled into all three sets: dot16 is sdot from level 1 and widening
 * multiplies at level 0; the i8mm set runs the dotprod code, smmla's 8-deep sums mixing two of quant.h's
 * lanes): tile kernels for the shared tiling driver, in quant.h's lane order bit for bit, and the
 * activation layouts they read.
 *
 * Every weight block is unpacked once per tile into signed 8-bit sdot operands: the unsigned quants
 * where the type has them (Q4_1, Q5_1 and Q5_K, all below 32; Q2_K and Q3_K plus its zero point 4, which
 * the activation group sums take off again as Q6_K's 32 is), the signed values where it has those
 * (Q5_0's q - 16), and the levels of IQ4_NL and IQ4_XS from one table lookup (tbl) of the nibbles. */
#ifndef SD_GEMM_NEON_TYPES_H
#define SD_GEMM_NEON_TYPES_H

#include "more_types.h"

/* The 256-wide types read act_q8_k rows as quantize_q8_k writes them for Q4_K. */

static size_t more_act_row_stride(sd_type type, int64_t k) {
    if (!more_has_type(type)) return 0;
    if (sd_act_type_of(type) == SD_TYPE_Q8_0) return (size_t)(k / 32) * sizeof(act_q8_0s);
    return (size_t)(k / SD_QK_K) * sizeof(act_q8_k);
}

/* One activation row (k elements) into row, with the quantizers of Q8_0 and Q4_K weights. */
static void more_quantize_act(sd_type type, const float *x, int64_t k, void *row) {
    if (!more_has_type(type)) return;
    if (sd_act_type_of(type) == SD_TYPE_Q8_K) {
        quantize_q8_k(x, row, k);
        return;
    }
    act_q8_0s *out = row;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        int8x16_t q[2];
        out[b].d = quantize_block_q8_0(x, q);
        vst1q_s8(out[b].qs, q[0]);
        vst1q_s8(out[b].qs + 16, q[1]);
        out[b].sum = vaddlvq_s8(q[0]) + vaddlvq_s8(q[1]);
    }
}

/* ---- unpacking ---- */

/* The IQ4 levels of 16 nibbles. */
INLINE int8x16_t iq4_levels(uint8x16_t nibbles) {
    return vqtbl1q_s8(vld1q_s8(sd_iq4_values), nibbles);
}

/* value in byte l where bit `bit` (known after unrolling) of byte l of v is set, else 0 */
INLINE uint8x16_t bit_set(uint8x16_t v, const int bit, uint8_t value) {
    return vandq_u8(vtstq_u8(v, vdupq_n_u8((uint8_t)(1u << bit))), vdupq_n_u8(value));
}

/* v >> shift in each byte, for a shift known only after unrolling (the immediate forms take a literal) */
INLINE uint8x16_t shr_u8(uint8x16_t v, const int shift) {
    return vshlq_u8(v, vdupq_n_s8((int8_t)-shift));
}

/* Bit 4 of Q5_0 / Q5_1 elements 16h..16h + 15: bit e of the little-endian qh as 0x10 in byte e % 16. */
INLINE uint8x16_t q5_high_bits(const uint8_t qh[4], const int h) {
    static const uint8_t bit_of[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const uint8x16_t byte_of = h == 0 ? vcombine_u8(vdup_n_u8(0), vdup_n_u8(1))  /* qh[0], qh[1] */
                                      : vcombine_u8(vdup_n_u8(2), vdup_n_u8(3)); /* qh[2], qh[3] */
    const uint8x16_t spread = vqtbl1q_u8(vreinterpretq_u8_u32(vdupq_n_u32(bits)), byte_of);
    return vandq_u8(vtstq_u8(spread, vld1q_u8(bit_of)), vdupq_n_u8(0x10));
}

/* ---- 32-wide types ---- */

INLINE bool has_offset(sd_type type) {
    return type == SD_TYPE_Q4_1 || type == SD_TYPE_Q5_1;
}

INLINE size_t b32_block_bytes(sd_type type) {
    switch (type) {
    case SD_TYPE_Q4_1:
        return sizeof(sd_block_q4_1);
    case SD_TYPE_Q5_0:
        return sizeof(sd_block_q5_0);
    case SD_TYPE_Q5_1:
        return sizeof(sd_block_q5_1);
    default:
        return sizeof(sd_block_iq4_nl);
    }
}

/* Every 32-block keeps its fp16 scale d first and Q4_1 / Q5_1 their offset m next (load_scales reads
 * them at these offsets in R rows). */
static_assert(offsetof(sd_block_q4_1, d) == 0 && offsetof(sd_block_q5_0, d) == 0 &&
                  offsetof(sd_block_q5_1, d) == 0 && offsetof(sd_block_iq4_nl, d) == 0,
              "32-block scale first");
static_assert(offsetof(sd_block_q4_1, m) == 2 && offsetof(sd_block_q5_1, m) == 2, "32-block offset second");

/* One weight block as signed int8: v[0] elements 0..15 (low nibbles), v[1] 16..31 (high nibbles). */
INLINE void unpack_b32(const uint8_t *blk, sd_type type, int8x16_t v[2]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    switch (type) {
    case SD_TYPE_Q4_1: {
        const uint8x16_t raw = vld1q_u8(((const sd_block_q4_1 *)blk)->qs);
        v[0] = vreinterpretq_s8_u8(vandq_u8(raw, m4));
        v[1] = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
        break;
    }
    case SD_TYPE_Q5_1:
    case SD_TYPE_Q5_0: {
        const uint8_t *qs =
            type == SD_TYPE_Q5_1 ? ((const sd_block_q5_1 *)blk)->qs : ((const sd_block_q5_0 *)blk)->qs;
        const uint8_t *qh =
            type == SD_TYPE_Q5_1 ? ((const sd_block_q5_1 *)blk)->qh : ((const sd_block_q5_0 *)blk)->qh;
        const uint8x16_t raw = vld1q_u8(qs);
        const uint8x16_t q0 = vorrq_u8(vandq_u8(raw, m4), q5_high_bits(qh, 0));
        const uint8x16_t q1 = vorrq_u8(vshrq_n_u8(raw, 4), q5_high_bits(qh, 1));
        const uint8x16_t zero_point = vdupq_n_u8(type == SD_TYPE_Q5_0 ? 16 : 0);
        v[0] = vreinterpretq_s8_u8(vsubq_u8(q0, zero_point)); /* Q5_0: q - 16 */
        v[1] = vreinterpretq_s8_u8(vsubq_u8(q1, zero_point));
        break;
    }
    default: { /* IQ4_NL */
        const uint8x16_t raw = vld1q_u8(((const sd_block_iq4_nl *)blk)->qs);
        v[0] = iq4_levels(vandq_u8(raw, m4));
        v[1] = iq4_levels(vshrq_n_u8(raw, 4));
        break;
    }
    }
}

/* Per block and (weight row, activation row): two sdot from MAGIC_BITS (lanes below 4 * 127 * 128), two
 * fsub, two fmla by element (lane r of the block's dx * dy vector), as tile_q8_0; Q4_1 / Q5_1 also one
 * fmla per activation row into acc_m, whose lane r is weight row r's offset accumulator. */
INLINE void tile_b32(const tile_args *p, const int R, const int T, const sd_type type) {
    if (T > TILE_ROWS) return; /* instantiated for Q4_0's tiles only: tile_rows_max */
    /* nor for 4 rows and tiles of 2 or more, Q4_0's shapes (group_rows: a tile of T_max - 1 rows shares
     * the R of a T_max tile): not compiling them saves compile time */
    if (R == 4 && T > 1) return;
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride, bsize = b32_block_bytes(type);
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    float32x4_t lo[4][TILE_ROWS], hi[4][TILE_ROWS], acc_m[TILE_ROWS];
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        acc_m[t] = vdupq_n_f32(0.0f);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
    }
    const int32x4_t magic = vdupq_n_s32(MAGIC_BITS);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk0 = w + (size_t)b * bsize;
        int8x16_t wq[4][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            unpack_b32(blk0 + (size_t)r * wstride, type, wq[r]);
        const float32x4_t wd = load_scales(blk0, wstride, R);
        const float32x4_t wm = has_offset(type) ? load_scales(blk0 + 2, wstride, R) : vdupq_n_f32(0.0f);
#pragma GCC unroll 4
        for (int t = 0; t < T; t++) {
            const act_q8_0s *ab = (const act_q8_0s *)(a + (size_t)t * astride) + b;
            const float32x4_t s = vmulq_n_f32(wd, ab->d); /* lane r: dx_r * dy */
            const int8x16_t y0 = vld1q_s8(ab->qs), y1 = vld1q_s8(ab->qs + 16);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const float32x4_t s0 = magic_to_f32(dot16(magic, wq[r][0], y0));
                const float32x4_t s1 = magic_to_f32(dot16(magic, wq[r][1], y1));
                lo[r][t] = fma_lane(lo[r][t], s0, s, r);
                hi[r][t] = fma_lane(hi[r][t], s1, s, r);
            }
            if (has_offset(type)) /* lane r: fmaf(m_r * dy, Y, acc_m) */
                acc_m[t] = vfmaq_n_f32(acc_m[t], vmulq_n_f32(wm, ab->d), (float)ab->sum);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < T; t++) {
        float m[4];
        vst1q_f32(m, acc_m[t]);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) /* no + 0 for the others: it would turn a -0 sum into +0 */
            y[t * ldy + r] = has_offset(type) ? hsum8(lo[r][t], hi[r][t]) + m[r] : hsum8(lo[r][t], hi[r][t]);
    }
}

/* ---- 256-wide types ---- */

/* One weight row's super-block scales: k.sc[i / 4] lane i % 4 the scale of index i, a 32-element chunk
 * (Q5_K, IQ4_XS: i < 8) or a group of 16 (Q2_K, Q3_K: i < 16, chunk i / 2's half i % 2); k.mins the 8
 * sub-block mins (Q5_K); g16 the 16 group mins (Q2_K) or scales (Q3_K, for its zero point) as int16;
 * k.d and k.dmin the widened super-block scales. */
typedef struct {
    k_scales k;
    int16x8_t g16[2];
} more_k_scales;

/* Q5_K's first fields are Q4_K's: k_unpack_scales reads both. */
static_assert(offsetof(sd_block_q5_k, d) == offsetof(sd_block_q4_k, d) &&
                  offsetof(sd_block_q5_k, dmin) == offsetof(sd_block_q4_k, dmin) &&
                  offsetof(sd_block_q5_k, scales) == offsetof(sd_block_q4_k, scales),
              "Q5_K starts as Q4_K");

INLINE size_t k_more_block_bytes(sd_type type) {
    switch (type) {
    case SD_TYPE_Q2_K:
        return sizeof(sd_block_q2_k);
    case SD_TYPE_Q3_K:
        return sizeof(sd_block_q3_k);
    case SD_TYPE_Q5_K:
        return sizeof(sd_block_q5_k);
    default:
        return sizeof(sd_block_iq4_xs);
    }
}

/* Sixteen int16 as int32 lanes of sc[0..4). */
INLINE void s16x16_to_s32(const int16x8_t v[2], int32x4_t sc[4]) {
    sc[0] = vmovl_s16(vget_low_s16(v[0]));
    sc[1] = vmovl_high_s16(v[0]);
    sc[2] = vmovl_s16(vget_low_s16(v[1]));
    sc[3] = vmovl_high_s16(v[1]);
}

INLINE void k_more_unpack_scales(const uint8_t *wblk, const sd_type type, more_k_scales *ks) {
    switch (type) {
    case SD_TYPE_Q5_K:
        k_unpack_scales(wblk, false, &ks->k);
        break;
    case SD_TYPE_Q2_K: {
        const sd_block_q2_k *blk = (const sd_block_q2_k *)wblk;
        const uint8x16_t raw = vld1q_u8(blk->scales);
        const uint8x16_t sc = vandq_u8(raw, vdupq_n_u8(0x0F)), m = vshrq_n_u8(raw, 4);
        const int16x8_t sc16[2] = {vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(sc))),
                                   vreinterpretq_s16_u16(vmovl_high_u8(sc))};
        s16x16_to_s32(sc16, ks->k.sc);
        ks->g16[0] = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(m)));
        ks->g16[1] = vreinterpretq_s16_u16(vmovl_high_u8(m));
        ks->k.d = fp16_to_fp32(blk->d);
        ks->k.dmin = fp16_to_fp32(blk->dmin);
        break;
    }
    case SD_TYPE_Q3_K: {
        const sd_block_q3_k *blk = (const sd_block_q3_k *)wblk;
        int8_t sc[16];
        sd_q3_k_scales(blk->scales, sc);
        const int8x16_t sc8 = vld1q_s8(sc);
        ks->g16[0] = vmovl_s8(vget_low_s8(sc8));
        ks->g16[1] = vmovl_high_s8(sc8);
        s16x16_to_s32(ks->g16, ks->k.sc);
        ks->k.d = fp16_to_fp32(blk->d);
        break;
    }
    default: { /* IQ4_XS */
        const sd_block_iq4_xs *blk = (const sd_block_iq4_xs *)wblk;
        int32_t sc[8];
        for (int j = 0; j < 8; j++)
            sc[j] = sd_iq4_xs_scale(blk, j);
        ks->k.sc[0] = vld1q_s32(sc);
        ks->k.sc[1] = vld1q_s32(sc + 4);
        ks->k.d = fp16_to_fp32(blk->d);
        break;
    }
    }
}

/* Unit (u, v) of one weight row's super-block, as tile_k's: half v (16 bytes, lanes 4v..4v+3) of the
 * chunks 2u and 2u + 1 as int8. */
INLINE void k_more_unpack_unit(const uint8_t *wblk, const sd_type type, const int u, const int v,
                               int8x16_t w[2]) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x03);
    switch (type) {
    case SD_TYPE_Q5_K: { /* Q4_K's nibbles, bit c of qh[e % 32] as bit 4 of chunk c */
        const sd_block_q5_k *blk = (const sd_block_q5_k *)wblk;
        const uint8x16_t raw = vld1q_u8(blk->qs + 32 * u + 16 * v);
        const uint8x16_t qh = vld1q_u8(blk->qh + 16 * v);
        w[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, m4), bit_set(qh, 2 * u, 0x10)));
        w[1] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), bit_set(qh, 2 * u + 1, 0x10)));
        break;
    }
    case SD_TYPE_Q2_K:
    case SD_TYPE_Q3_K: { /* chunk c: bits 2 (c % 4) of qs[32 (c / 4) + e % 32]; Q3_K bit c of hmask as 4 */
        const uint8_t *qs =
            type == SD_TYPE_Q2_K ? ((const sd_block_q2_k *)wblk)->qs : ((const sd_block_q3_k *)wblk)->qs;
        const uint8x16_t raw = vld1q_u8(qs + 32 * (u / 2) + 16 * v);
        uint8x16_t q0 = vandq_u8(shr_u8(raw, 4 * (u % 2)), m2);
        uint8x16_t q1 = vandq_u8(shr_u8(raw, 4 * (u % 2) + 2), m2);
        if (type == SD_TYPE_Q3_K) {
            const uint8x16_t hm = vld1q_u8(((const sd_block_q3_k *)wblk)->hmask + 16 * v);
            q0 = vorrq_u8(q0, bit_set(hm, 2 * u, 4));
            q1 = vorrq_u8(q1, bit_set(hm, 2 * u + 1, 4));
        }
        w[0] = vreinterpretq_s8_u8(q0);
        w[1] = vreinterpretq_s8_u8(q1);
        break;
    }
    default: { /* IQ4_XS: chunk c is qs[16c..16c + 16], low nibbles its half 0, high nibbles half 1 */
        const sd_block_iq4_xs *blk = (const sd_block_iq4_xs *)wblk;
        const uint8x16_t raw0 = vld1q_u8(blk->qs + 32 * u), raw1 = vld1q_u8(blk->qs + 32 * u + 16);
        w[0] = iq4_levels(v == 0 ? vandq_u8(raw0, m4) : vshrq_n_u8(raw0, 4));
        w[1] = iq4_levels(v == 0 ? vandq_u8(raw1, m4) : vshrq_n_u8(raw1, 4));
        break;
    }
    }
}

/* Lane l: g[2l] * bsums[2l] + g[2l + 1] * bsums[2l + 1] for lanes 0..3 (h = 0) or 4..7 (h = 1). */
INLINE int32x4_t pair_dot(int16x8_t bsums, int16x8_t g) {
    return vpaddq_s32(vmull_s16(vget_low_s16(bsums), vget_low_s16(g)), vmull_high_s16(bsums, g));
}

/* As tile_k: per unit and (weight row, activation row) two sdot and two mla by element (the chunk's or
 * group's scale) into the pair's integer lanes, held for the whole super-block; then the float steps.
 * Integer lanes leave through MAGIC_BITS where quant.h's bounds keep them below 2^22 (Q2_K: 8 * 15 * 4 *
 * 3 * 127; Q3_K with its zero point: 8 * 32 * 4 * 7 * 127 + 4 * 2 * 32 * 16 * 127; Q5_K's mins: 63 * 32 *
 * 127), through scvtf where not (Q5_K's sums reach 8 * 63 * 4 * 31 * 127, IQ4_XS's 8 * 32 * 4 * 127^2). */
INLINE void tile_k_more(const tile_args *p, const int R, const int T, const sd_type type) {
    if (T > TILE_ROWS) return; /* instantiated for Q4_0's tiles only: tile_rows_max */
    /* nor do these types get 4 rows for tiles of 2 or more, or 2 rows for tiles of 3 or 4 (group_rows: a
     * tile of T_max - 1 rows shares the R of a T_max tile); not compiling them saves compile time */
    if ((R == 4 && T > 1) || (R == 2 && T > 2)) return;
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride, wblock = k_more_block_bytes(type);
    const int64_t nb = p->len, ldy = p->ldy;
    const bool per_group = type == SD_TYPE_Q2_K || type == SD_TYPE_Q3_K; /* scales per 16, else per 32 */
    const bool magic_sums = per_group;
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
        const uint8_t *wb = w + (size_t)b * wblock;
        more_k_scales ks[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            k_more_unpack_scales(wb + (size_t)r * wstride, type, &ks[r]);
        int32x4_t s[4][TILE_ROWS][2];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
            for (int t = 0; t < T; t++)
                s[r][t][0] = s[r][t][1] = magic_sums ? magic : vdupq_n_s32(0);
        }
#pragma GCC unroll 4
        for (int u = 0; u < 4; u++) {
#pragma GCC unroll 2
            for (int v = 0; v < 2; v++) {
                /* the scales' index of chunks 2u and 2u + 1 */
                const int i0 = per_group ? 4 * u + v : 2 * u, i1 = per_group ? 4 * u + 2 + v : 2 * u + 1;
                int8x16_t wq[4][2];
#pragma GCC unroll 4
                for (int r = 0; r < R; r++)
                    k_more_unpack_unit(wb + (size_t)r * wstride, type, u, v, wq[r]);
#pragma GCC unroll 4
                for (int t = 0; t < T; t++) {
                    const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
                    const int8x16_t y0 = vld1q_s8(ab->qs + 64 * u + 16 * v);
                    const int8x16_t y1 = vld1q_s8(ab->qs + 64 * u + 32 + 16 * v);
#pragma GCC unroll 4
                    for (int r = 0; r < R; r++) {
                        const int32x4_t zero = vdupq_n_s32(0);
                        s[r][t][v] =
                            mla_lane(s[r][t][v], dot16(zero, wq[r][0], y0), ks[r].k.sc[i0 / 4], i0 % 4);
                        s[r][t][v] =
                            mla_lane(s[r][t][v], dot16(zero, wq[r][1], y1), ks[r].k.sc[i1 / 4], i1 % 4);
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
                const float d = ks[r].k.d * ab->d;
                int32x4_t s_lo = s[r][t][0], s_hi = s[r][t][1];
                if (type ==
                    SD_TYPE_Q3_K) { /* lane l: - 4 * (bsums[2l] * sc[2l] + bsums[2l + 1] * sc[2l + 1]) */
                    s_lo = vsubq_s32(s_lo, vshlq_n_s32(pair_dot(bs0, ks[r].g16[0]), 2));
                    s_hi = vsubq_s32(s_hi, vshlq_n_s32(pair_dot(bs1, ks[r].g16[1]), 2));
                }
                lo[r][t] = vfmaq_n_f32(lo[r][t], magic_sums ? magic_to_f32(s_lo) : vcvtq_f32_s32(s_lo), d);
                hi[r][t] = vfmaq_n_f32(hi[r][t], magic_sums ? magic_to_f32(s_hi) : vcvtq_f32_s32(s_hi), d);
                if (type == SD_TYPE_Q2_K || type == SD_TYPE_Q5_K) {
                    int32x4_t m_lo, m_hi;
                    if (type == SD_TYPE_Q2_K) { /* lane l: m_2l * bsums[2l] + m_2l+1 * bsums[2l + 1] */
                        m_lo = vaddq_s32(magic, pair_dot(bs0, ks[r].g16[0]));
                        m_hi = vaddq_s32(magic, pair_dot(bs1, ks[r].g16[1]));
                    } else { /* lane l: m_l * (bsums[2l] + bsums[2l + 1]) */
                        m_lo = vmlaq_s32(magic, vpaddlq_s16(bs0), ks[r].k.mins[0]);
                        m_hi = vmlaq_s32(magic, vpaddlq_s16(bs1), ks[r].k.mins[1]);
                    }
                    const float ndmin = -(ks[r].k.dmin * ab->d);
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

INLINE void tile_more(const tile_args *p, sd_type type, const int R, const int T) {
    switch (type) {
    /* one instance per type, so each inner loop knows its unpacking */
    case SD_TYPE_Q4_1:
        tile_b32(p, R, T, SD_TYPE_Q4_1);
        break;
    case SD_TYPE_Q5_0:
        tile_b32(p, R, T, SD_TYPE_Q5_0);
        break;
    case SD_TYPE_Q5_1:
        tile_b32(p, R, T, SD_TYPE_Q5_1);
        break;
    case SD_TYPE_IQ4_NL:
        tile_b32(p, R, T, SD_TYPE_IQ4_NL);
        break;
    case SD_TYPE_Q2_K:
        tile_k_more(p, R, T, SD_TYPE_Q2_K);
        break;
    case SD_TYPE_Q3_K:
        tile_k_more(p, R, T, SD_TYPE_Q3_K);
        break;
    case SD_TYPE_Q5_K:
        tile_k_more(p, R, T, SD_TYPE_Q5_K);
        break;
    case SD_TYPE_IQ4_XS:
        tile_k_more(p, R, T, SD_TYPE_IQ4_XS);
        break;
    default:
        break;
    }
}

#endif
