/* The x86 kernels of the weight types llama-quantize's mixes add to the first seven: Q4_1, Q5_0, Q5_1 and
 * IQ4_NL (blocks of 32, against Q8_0 activations) and Q2_K, Q3_K, Q5_K and IQ4_XS (super-blocks of 256,
 * against Q8_K; Q5_K runs gemm_x86.c's Q4_K kernel with the fifth bit added, on its activation layout). Part
 * of gemm_x86.c's translation unit (included there once, after tile_driver.h, and so compiled into both the
 * avx2 and the avx512vnni set; the latter runs the same AVX2 instructions, with no dpbusd variant): tile
 * kernels for the shared tiling driver, in quant.h's lane order bit for bit, and the activation layouts they
 * read.
 *
 * Every weight block is unpacked once per tile into 8-bit operands for maddubs: unsigned quants where the
 * type has them (Q4_1, Q5_1, Q2_K and Q3_K, the last plus its zero point, corrected with the activation
 * group sums as Q6_K is), and the absolute values of signed values with their signs moved onto
 * the activations (Q5_0, IQ4_NL and IQ4_XS, whose levels come from one pshufb of the nibbles). */
#ifndef SD_GEMM_X86_TYPES_H
#define SD_GEMM_X86_TYPES_H

/* gemm_x86.c's helpers, defined after this header */
INLINE float hsum8(__m256 v);
INLINE float fp16_to_fp32(uint16_t h);
INLINE void prefetch_next_group(const uint8_t *w, size_t wstride, int R, int64_t b, size_t step);
INLINE void tile_q4_5_k(const tile_args *p, int R, int T, bool q5);

#include "more_types.h"

/* The 256-wide types read Q8_K rows as sd_quantize_row_q8_k_ref writes them (sd_block_q8_k). */

static size_t more_act_row_stride(sd_type type, int64_t k) {
    if (!more_has_type(type)) return 0;
    if (sd_act_type_of(type) == SD_TYPE_Q8_0) return (size_t)(k / 32) * sizeof(act_q8_0s);
    return (size_t)(k / SD_QK_K) * sizeof(sd_block_q8_k);
}

/* One activation row (k elements) into row, by the reference quantizers (the row's cost is O(k), the
 * product's O(m k)). */
static void more_quantize_act(sd_type type, const float *x, int64_t k, void *row) {
    if (!more_has_type(type)) return;
    if (sd_act_type_of(type) == SD_TYPE_Q8_K) {
        sd_quantize_row_q8_k_ref(x, row, k);
        return;
    }
    act_q8_0s *out = row;
    for (int64_t b = 0; b < k / 32; b++) {
        sd_block_q8_0 blk;
        sd_quantize_row_q8_0_ref(x + 32 * b, &blk, 32);
        memcpy(out[b].qs, blk.qs, 32);
        out[b].d = sd_fp16_to_fp32(blk.d);
        int32_t sum = 0;
        for (int e = 0; e < 32; e++)
            sum += blk.qs[e];
        out[b].sum = sum;
    }
}

/* ---- unpacking ---- */

/* The 32 nibbles of a 32-block in element order: low nibbles of qs[0..16) then the high ones. */
INLINE __m256i nibbles32(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
}

/* value in byte e where bit e of the little-endian 32 bits at qh is set, else 0 */
INLINE __m256i bits32(const uint8_t *qh, char value) {
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const __m256i byte_of = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2,
                                             2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), byte_of);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(value));
}

/* value in byte l where bit `bit` of byte l of v is set, else 0 */
INLINE __m256i bit_set(__m256i v, int bit, char value) {
    const __m256i mask = _mm256_set1_epi8((char)(1 << bit));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, mask), mask), _mm256_set1_epi8(value));
}

/* The IQ4 levels of 32 nibbles. */
INLINE __m256i iq4_levels(__m256i nibbles) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)sd_iq4_values));
    return _mm256_shuffle_epi8(table, nibbles);
}

/* Lane sums (int32, 4 products each) of unsigned u times signed y. */
INLINE __m256i lane_dot_u8(__m256i u, __m256i y) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

/* ---- 32-wide types ---- */

INLINE bool has_offset(sd_type type) {
    return type == SD_TYPE_Q4_1 || type == SD_TYPE_Q5_1;
}

/* Block b of a weight row: *u the unsigned maddubs operand (the quants, or |value| for signed types),
 * *v the signed values (signed types), *d and *m the widened scale and offset. */
INLINE void unpack_b32(const uint8_t *row, int64_t b, sd_type type, __m256i *u, __m256i *v, float *d,
                       float *m) {
    switch (type) {
    case SD_TYPE_Q4_1: {
        const sd_block_q4_1 *blk = (const sd_block_q4_1 *)row + b;
        *u = nibbles32(blk->qs);
        *d = fp16_to_fp32(blk->d);
        *m = fp16_to_fp32(blk->m);
        break;
    }
    case SD_TYPE_Q5_1: {
        const sd_block_q5_1 *blk = (const sd_block_q5_1 *)row + b;
        *u = _mm256_or_si256(nibbles32(blk->qs), bits32(blk->qh, 0x10));
        *d = fp16_to_fp32(blk->d);
        *m = fp16_to_fp32(blk->m);
        break;
    }
    case SD_TYPE_Q5_0: {
        const sd_block_q5_0 *blk = (const sd_block_q5_0 *)row + b;
        *v =
            _mm256_sub_epi8(_mm256_or_si256(nibbles32(blk->qs), bits32(blk->qh, 0x10)), _mm256_set1_epi8(16));
        *u = _mm256_abs_epi8(*v);
        *d = fp16_to_fp32(blk->d);
        break;
    }
    default: { /* IQ4_NL */
        const sd_block_iq4_nl *blk = (const sd_block_iq4_nl *)row + b;
        *v = iq4_levels(nibbles32(blk->qs));
        *u = _mm256_abs_epi8(*v);
        *d = fp16_to_fp32(blk->d);
        break;
    }
    }
}

INLINE void tile_b32(const tile_args *p, const int R, const int T, const sd_type type) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    const size_t bsize = sd_type_traits_of((uint32_t)type)->type_size;
    __m256 acc[4][TMAX];
    float acc_m[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            acc[r][t] = _mm256_setzero_ps();
            acc_m[r][t] = 0.0f;
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        prefetch_next_group(w, wstride, R, b, bsize);
        __m256i wu[4], wv[4];
        float wd[4], wm[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            unpack_b32(w + (size_t)r * wstride, b, type, &wu[r], &wv[r], &wd[r], &wm[r]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const act_q8_0s *ab = (const act_q8_0s *)(a + (size_t)t * astride) + b;
            const __m256i yq = _mm256_loadu_si256((const __m256i *)ab->qs);
            const float dy = ab->d;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m256i s = has_offset(type) ? lane_dot_u8(wu[r], yq)
                                                   : lane_dot_u8(wu[r], _mm256_sign_epi8(yq, wv[r]));
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(wd[r] * dy), _mm256_cvtepi32_ps(s), acc[r][t]);
                if (has_offset(type)) acc_m[r][t] = fmaf(wm[r] * dy, (float)ab->sum, acc_m[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            p->y[t * ldy + r] = has_offset(type) ? hsum8(acc[r][t]) + acc_m[r][t] : hsum8(acc[r][t]);
    }
}

/* ---- 256-wide types ---- */

/* Super-block b of a weight row unpacked: q[c] the maddubs operands of the 8 chunks of 32 elements
 * (unsigned quants, or |level| for IQ4_XS with the levels in v[c]), sc[c] their int16 scales (the low
 * 128 bits for elements 0..15 of the chunk, the high ones for 16..31), g16 the 16 group mins (Q2_K, Q5_K
 * as pairs of sub-block mins) or scales (Q3_K, for its zero point) as int16, d and dmin the widened
 * super-block scales. */
typedef struct {
    __m256i q[8], v[8], sc[8], g16;
    float d, dmin;
} unpacked_k;

INLINE __m256i scale_pair(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

INLINE void unpack_k(const uint8_t *row, int64_t b, sd_type type, unpacked_k *u) {
    const __m256i m2 = _mm256_set1_epi8(0x03);
    switch (type) {
    case SD_TYPE_Q2_K: {
        const sd_block_q2_k *blk = (const sd_block_q2_k *)row + b;
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * h));
            for (int j = 0; j < 4; j++)
                u->q[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m2);
        }
        for (int c = 0; c < 8; c++)
            u->sc[c] = scale_pair(blk->scales[2 * c] & 0xF, blk->scales[2 * c + 1] & 0xF);
        const __m128i s8 = _mm_loadu_si128((const __m128i *)blk->scales);
        u->g16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(s8, 4), _mm_set1_epi8(0x0F)));
        u->d = fp16_to_fp32(blk->d);
        u->dmin = fp16_to_fp32(blk->dmin);
        break;
    }
    case SD_TYPE_Q3_K: {
        const sd_block_q3_k *blk = (const sd_block_q3_k *)row + b;
        const __m256i hm = _mm256_loadu_si256((const __m256i *)blk->hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * h));
            for (int j = 0; j < 4; j++) {
                u->q[4 * h + j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m2),
                                                  bit_set(hm, 4 * h + j, 4));
            }
        }
        int8_t sc[16];
        sd_q3_k_scales(blk->scales, sc);
        for (int c = 0; c < 8; c++)
            u->sc[c] = scale_pair(sc[2 * c], sc[2 * c + 1]);
        u->g16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc));
        u->d = fp16_to_fp32(blk->d);
        break;
    }
    default: { /* IQ4_XS */
        const sd_block_iq4_xs *blk = (const sd_block_iq4_xs *)row + b;
        for (int j = 0; j < 8; j++) {
            u->v[j] = iq4_levels(nibbles32(blk->qs + 16 * j));
            u->q[j] = _mm256_abs_epi8(u->v[j]);
            u->sc[j] = _mm256_set1_epi16((short)sd_iq4_xs_scale(blk, j));
        }
        u->d = fp16_to_fp32(blk->d);
        break;
    }
    }
}

INLINE void tile_k_more(const tile_args *p, const int R, const int T, const sd_type type) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    const size_t bsize = sd_type_traits_of((uint32_t)type)->type_size;
    const bool has_min = type == SD_TYPE_Q2_K;
    __m256 acc[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        prefetch_next_group(w, wstride, R, b, bsize);
        unpacked_k u[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            unpack_k(w + (size_t)r * wstride, b, type, &u[r]);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const sd_block_q8_k *ab = (const sd_block_q8_k *)(a + (size_t)t * astride) + b;
            const __m256i bsums = _mm256_loadu_si256((const __m256i *)ab->bsums);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i s = _mm256_setzero_si256();
                for (int c = 0; c < 8; c++) {
                    __m256i yq = _mm256_loadu_si256((const __m256i *)(ab->qs + 32 * c));
                    if (type == SD_TYPE_IQ4_XS) yq = _mm256_sign_epi8(yq, u[r].v[c]);
                    s = _mm256_add_epi32(s,
                                         _mm256_madd_epi16(_mm256_maddubs_epi16(u[r].q[c], yq), u[r].sc[c]));
                }
                if (type == SD_TYPE_Q3_K) /* zero point 4 */
                    s = _mm256_sub_epi32(s, _mm256_slli_epi32(_mm256_madd_epi16(bsums, u[r].g16), 2));
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(u[r].d * ab->d), _mm256_cvtepi32_ps(s), acc[r][t]);
                if (has_min) {
                    const __m256i mins = _mm256_madd_epi16(bsums, u[r].g16);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(-(u[r].dmin * ab->d)),
                                                _mm256_cvtepi32_ps(mins), acc[r][t]);
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            p->y[t * ldy + r] = hsum8(acc[r][t]);
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
    case SD_TYPE_Q5_K: /* gemm_x86.c's Q4_K kernel with the fifth bit */
        tile_q4_5_k(p, R, T, true);
        break;
    case SD_TYPE_IQ4_XS:
        tile_k_more(p, R, T, SD_TYPE_IQ4_XS);
        break;
    default:
        break;
    }
}

#endif
