/* x86-64 kernels. This file is compiled twice: with -mavx2 -mfma -mf16c (SD_X86_VNNI=0, the "avx2" set)
 * and additionally -mavx512vnni -mavx512vl -mavx512bw (SD_X86_VNNI=1, "avx512vnni": vpdpbusd on 256-bit
 * vectors replaces maddubs+madd, and 32 vector registers). Both keep the 8-lane order of quant.h, so
 * they agree bit for bit with each other and with the scalar references. The driver only calls a set
 * when __builtin_cpu_supports says the CPU has it.
 *
 * Small-n design: output rows are processed in groups of R weight rows, activation rows in tiles of T;
 * each weight block is loaded and unpacked once per tile and applied to all T activation rows while it
 * is in registers, with R x T vector accumulators. A tile is the whole n for n <= 8, so for decode-size
 * batches every weight byte is read and unpacked once per call. Q4_0 weights are read from the copy
 * sd_weight_init repacked (sd_q4_0x8: two blocks per 32-byte load, 8 scales per conversion). Each tile
 * prefetches the next row group in software (the hardware prefetchers stop at every 4 KB page of the
 * R short interleaved row streams).
 *
 * Measured on the 2-core Zen 4 VM this was written on (4096 x 4096 Q4_0, 1 thread, L2-resident, us
 * per 256 rows, avx512vnni set): n = 1: 20, 2: 28, 3: 41, 4: 53, 8: 109, 16: 211. A 64-byte-wide variant
 * (two activation rows per zmm) and an activation layout interleaving 8 rows per block with k passes
 * were both slower. */
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/sd_common.h"
#include "kernels.h"
#include "quant.h"

#if SD_X86_VNNI
#define KSET sd_kernels_avx512vnni
#define KNAME "avx512vnni"
#else
#define KSET sd_kernels_avx2
#define KNAME "avx2"
#endif

#define INLINE static inline __attribute__((always_inline))
#define TMAX 8 /* activation rows per tile, at most */
#define TILE_R2_TMAX 8
#define TILE_R4_TMAX 4
/* Activation rows per tile: with 32 registers, 4 weight rows x 4 activation rows (weights re-read from
 * L1 for each tile) measured faster than 2 x 8 (n = 8: 109 vs 117 us per 256 rows). */
#if SD_X86_VNNI
#define TILE_ROWS 4
#else
#define TILE_ROWS 8
#endif

#define TILE_MORE_TYPES 1
#include "tile_driver.h"

#include "gemm_x86_types.h"

/* ---- activation layouts ---- */

/* Q4_0 / Q8_0 weights: the n rows' blocks block-major (block b of row i at index b * n + i), then per row
 * its nb fp32 scales (ggml's fp16 block scale, widened). Block-major, a tile's T rows of block b lie
 * 64 bytes apart behind one pointer: no register per activation row. corr[l] = -c * (sum of the lane's 4
 * quants), c the weight's zero point (8 for Q4_0 nibbles, 128 for Q8_0 bytes made unsigned by the VNNI
 * kernels), so that unsigned-weight x signed-activation products plus corr give the signed dot. */
typedef struct {
    int8_t qs[32];
    int32_t corr[8];
} act_q8_0;
static_assert(sizeof(act_q8_0) == 64, "act_q8_0 is one cache line");

/* One Q8_K block of an activation row, quants first so they are 32-byte aligned. */
typedef struct {
    int8_t qs[SD_QK_K];
    int16_t bsums[SD_QK_K / 16];
    float d;
    int32_t pad[7];
} act_q8_k;
static_assert(sizeof(act_q8_k) == 320, "act_q8_k is 5 cache lines");

/* The parts of n quantized Q8_0 activation rows of nb blocks: blocks [nb][n] (block-major), then scales
 * [n][nb] (fp32), then the whole-block zero-point corrections [n][nb] (int32, the sum of corr[]). */
static const float *act_scales(const void *a, int64_t nb, int n) {
    return (const float *)((const act_q8_0 *)a + (size_t)nb * (size_t)n);
}
static const int32_t *act_totals(const void *a, int64_t nb, int n) {
    return (const int32_t *)(act_scales(a, nb, n) + (size_t)nb * (size_t)n);
}

static size_t act_row_stride(sd_type type, int64_t k) {
    switch (type) {
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q5_K:
    case SD_TYPE_Q6_K:
        return (size_t)(k / SD_QK_K) * sizeof(act_q8_k);
    default:
        return more_act_row_stride(type, k);
    }
}

static size_t x86_act_bytes(sd_type type, int64_t k, int n) {
    if (type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0) {
        return (size_t)n * (size_t)(k / 32) * (sizeof(act_q8_0) + sizeof(float) + sizeof(int32_t));
    }
    return act_row_stride(type, k) * (size_t)n;
}

INLINE float hsum8(__m256 v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); /* b0..b3 */
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));                                 /* b0+b2, b1+b3 */
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

INLINE int32_t hsum_epi32(__m256i v) {
    __m128i b = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(1, 0, 3, 2)));
    b = _mm_add_epi32(b, _mm_shuffle_epi32(b, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(b);
}

INLINE float fp16_to_fp32(uint16_t h) {
    return _cvtsh_ss(h);
}

/* 32 int32 -> 32 int8 in order (values already in range). */
INLINE __m256i pack_i32x4_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b);
    __m256i cd = _mm256_packs_epi32(c, d);
    __m256i abcd = _mm256_packs_epi16(ab, cd);
    /* packs interleave the 128-bit halves: dwords come out as a0 b0 c0 d0 a1 b1 c1 d1 */
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Round half away from zero (roundf) for |v| < 2^23: truncate v + copysign(0.5 - 2^-25, v). */
INLINE __m256i roundf_epi32(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 half = _mm256_or_ps(sign, _mm256_set1_ps(0.49999997f));
    return _mm256_cvttps_epi32(_mm256_add_ps(v, half));
}

INLINE __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

INLINE float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* One block of 32 values -> 32 int8 quants (roundf(x / d) as the reference) and the widened fp16 scale. */
INLINE __m256i quantize_block_q8_0(const float *x, float *d_out) {
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        mx = _mm256_max_ps(mx, abs_ps(v[j]));
    }
    const float amax = hmax8(mx);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    /* F16C rounds to nearest even like sd_fp32_to_fp16, subnormals included (d is finite, >= 0) */
    *d_out = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(d), _MM_FROUND_TO_NEAREST_INT)));
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int j = 0; j < 4; j++)
        q[j] = roundf_epi32(_mm256_mul_ps(v[j], vid));
    return pack_i32x4_to_i8(q[0], q[1], q[2], q[3]);
}

static void quantize_q8_0(const float *x, int64_t k, int n, int i, void *act, int zero_point_shift) {
    const int64_t nb = k / 32;
    act_q8_0 *blk = (act_q8_0 *)act + i;
    float *ds = (float *)act_scales(act, nb, n) + (size_t)i * (size_t)nb;
    int32_t *totals = (int32_t *)act_totals(act, nb, n) + (size_t)i * (size_t)nb;
    for (int64_t b = 0; b < nb; b++, blk += n) {
        const __m256i qs = quantize_block_q8_0(x + 32 * b, &ds[b]);
        _mm256_store_si256((__m256i *)blk->qs, qs);
        const __m256i lane =
            _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), qs), _mm256_set1_epi16(1));
        const __m256i corr =
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(lane, zero_point_shift));
        _mm256_store_si256((__m256i *)blk->corr, corr);
        totals[b] = hsum_epi32(corr);
    }
}

static void quantize_q8_k(const float *x, act_q8_k *y, int64_t k) {
    for (int64_t b = 0; b < k / SD_QK_K; b++, x += SD_QK_K) {
        __m256 mx = _mm256_setzero_ps();
        for (int j = 0; j < SD_QK_K; j += 8)
            mx = _mm256_max_ps(mx, abs_ps(_mm256_loadu_ps(x + j)));
        const float amax = hmax8(mx);
        memset(&y[b], 0, sizeof y[b]);
        if (amax == 0.0f) continue;
        /* the first element of largest magnitude decides the sign, as in the reference */
        float max = 0.0f;
        const __m256 vamax = _mm256_set1_ps(amax);
        for (int j = 0; j < SD_QK_K; j += 8) {
            const int mask =
                _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), vamax, _CMP_EQ_OQ));
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vis = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        for (int j = 0; j < SD_QK_K; j += 32) {
            __m256i q[4];
            for (int u = 0; u < 4; u++) {
                /* cvtps rounds half to even under the default MXCSR mode, as nearest_int */
                q[u] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * u), vis)), lim);
            }
            _mm256_store_si256((__m256i *)(y[b].qs + j), pack_i32x4_to_i8(q[0], q[1], q[2], q[3]));
        }
        for (int j = 0; j < SD_QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[b].qs[16 * j + l];
            y[b].bsums[j] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

static void x86_quantize_act(sd_type type, const float *x, int64_t k, int n, int i, void *act) {
    switch (type) {
    case SD_TYPE_Q4_0:
        quantize_q8_0(x, k, n, i, act, 3);
        break;
    case SD_TYPE_Q8_0:
        quantize_q8_0(x, k, n, i, act, 7);
        break;
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q5_K:
    case SD_TYPE_Q6_K:
        quantize_q8_k(x, (act_q8_k *)((uint8_t *)act + (size_t)i * act_row_stride(type, k)), k);
        break;
    default:
        more_quantize_act(type, x, k, (uint8_t *)act + (size_t)i * act_row_stride(type, k));
        break;
    }
}

/* Lane sums of unsigned-weight x signed-activation products plus the zero-point correction. */
INLINE __m256i dot_u8s8(__m256i corr, __m256i wu, __m256i y) {
#if SD_X86_VNNI
    return _mm256_dpbusd_epi32(corr, wu, y);
#else
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(wu, y), _mm256_set1_epi16(1)), corr);
#endif
}

/* Software prefetch of the next row group: rows are contiguous, so the R rows after these start at
 * w + R * wstride. Each step through the current group (step bytes of every row) prefetches step * R
 * bytes of the next one, a whole group ahead. The hardware prefetchers alone stop at every 4 KB page
 * of the R short interleaved streams and leave GEMV latency-bound. */
INLINE void prefetch_next_group(const uint8_t *w, size_t wstride, int R, int64_t b, size_t step) {
    const uint8_t *p = w + (size_t)R * wstride + (size_t)b * step * (size_t)R;
    for (size_t o = 0; o < step * (size_t)R; o += 64)
        _mm_prefetch((const char *)p + o, _MM_HINT_T0);
}

/* ---- Q4_0 and Q8_0 tiles ---- */

/* Weight row group: R rows starting at w, wstride bytes apart. Activation tile: T rows starting at a,
 * astride bytes apart, each nb act_q8_0 blocks then nb scales. Writes y[t * ldy + r]. */
INLINE void tile_q4_0(const tile_args *p, const int R, const int T, const bool q8) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride;
    const int n_all = p->n_all, t0 = p->t0;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    const float *ds = act_scales(a, nb, n_all) + (size_t)t0 * (size_t)nb;
    __m256 acc[4][TMAX]; /* Q8_0: 8 lane accumulators per output */
    float acc1[4][TMAX]; /* Q4_0: one accumulator per output (quant.h) */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            acc[r][t] = _mm256_setzero_ps();
            acc1[r][t] = 0.0f;
        }
    }
    for (int64_t b = 0; b < nb; b++) {
        prefetch_next_group(w, wstride, R, b, q8 ? sizeof(sd_block_q8_0) : sizeof(sd_block_q4_0));
        __m256i wq[4], ws[4];
        __m256 wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            if (q8) {
                const sd_block_q8_0 *blk = (const sd_block_q8_0 *)(w + (size_t)r * wstride) + b;
                const __m256i q = _mm256_loadu_si256((const __m256i *)blk->qs);
#if SD_X86_VNNI
                wq[r] = _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
                ws[r] = q;
#else
                wq[r] = _mm256_abs_epi8(q);
                ws[r] = q;
#endif
                wd[r] = _mm256_set1_ps(fp16_to_fp32(blk->d));
            } else {
                const sd_block_q4_0 *blk = (const sd_block_q4_0 *)(w + (size_t)r * wstride) + b;
                const __m128i raw = _mm_loadu_si128((const __m128i *)blk->qs);
                wq[r] =
                    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
                ws[r] = wq[r];
                wd[r] = _mm256_set1_ps(fp16_to_fp32(blk->d));
            }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const act_q8_0 *ab = (const act_q8_0 *)a + (size_t)b * (size_t)n_all + t0 + t;
            __m256i yq = _mm256_load_si256((const __m256i *)ab->qs);
            __m256 dy = _mm256_broadcast_ss(ds + (size_t)t * (size_t)nb + b);
            __asm__("" : "+v"(yq), "+v"(dy)); /* loaded once for all R rows */
            /* AVX2's Q8_0 product is signed x signed (vpsignb) and needs no zero-point correction */
            __m256i corr = _mm256_setzero_si256();
            if (!q8 || SD_X86_VNNI) {
                corr = _mm256_load_si256((const __m256i *)ab->corr);
                __asm__("" : "+v"(corr));
            }
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i s;
#if SD_X86_VNNI
                s = dot_u8s8(corr, wq[r], yq);
#else
                if (q8) {
                    s = _mm256_madd_epi16(_mm256_maddubs_epi16(wq[r], _mm256_sign_epi8(yq, ws[r])),
                                          _mm256_set1_epi16(1));
                } else {
                    s = dot_u8s8(corr, wq[r], yq);
                }
#endif
                if (q8) {
                    acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(wd[r], dy), _mm256_cvtepi32_ps(s), acc[r][t]);
                } else {
                    const float sc = _mm256_cvtss_f32(_mm256_mul_ps(wd[r], dy));
                    acc1[r][t] = fmaf(sc, (float)hsum_epi32(s), acc1[r][t]);
                }
            }
        }
        (void)ws;
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = q8 ? hsum8(acc[r][t]) : acc1[r][t];
    }
}

/* Q4_0 repacked 8 rows per group (sd_q4_0_r8): 8 output rows x T activation rows, a lane per output row.
 * Per block, 4 loads and 12 integer operations unpack the 8 rows, then each activation row takes 8
 * dpbusd against broadcast activation dwords, the whole-block zero-point correction as their start
 * value, and one conversion, multiply and fma: about 1.4 operations per (row, activation row, block)
 * against 4 row by row. The group's records are one sequential stream, prefetched R8_PREFETCH ahead. */
#if SD_X86_VNNI
#define R8_TMAX 8 /* 8 unpacked vectors + 8 accumulators + temporaries in 32 registers */
#else
#define R8_TMAX 4 /* 16 registers */
#endif
#define R8_PREFETCH 16 /* records */
INLINE void tile_q4_0_r8(const sd_q4_0_r8 *wg, int64_t nb, const uint8_t *a, int n_all, int t0, float *y,
                         int64_t ldy, const int T) {
    const float *ds = act_scales(a, nb, n_all) + (size_t)t0 * (size_t)nb;
    const int32_t *tot = act_totals(a, nb, n_all) + (size_t)t0 * (size_t)nb;
    __m256 acc[R8_TMAX];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        const sd_q4_0_r8 *blk = wg + b;
        const char *ahead = (const char *)(blk + R8_PREFETCH);
        _mm_prefetch(ahead, _MM_HINT_T0);
        _mm_prefetch(ahead + 64, _MM_HINT_T0);
        _mm_prefetch(ahead + 128, _MM_HINT_T0);
        const __m256 dx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk->d));
        __m256i v[8];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)blk->qs[i]);
            v[2 * i] = _mm256_and_si256(raw, m4);
            v[2 * i + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const act_q8_0 *ab = (const act_q8_0 *)a + (size_t)b * (size_t)n_all + t0 + t;
            const int32_t *aq = (const int32_t *)ab->qs; /* 8 dwords of 4 quants: elements 4e..4e+3 */
            const __m256i start = _mm256_set1_epi32(tot[(size_t)t * (size_t)nb + b]);
#if SD_X86_VNNI
            __m256i s = start;
#pragma GCC unroll 8
            for (int e = 0; e < 8; e++)
                s = _mm256_dpbusd_epi32(s, v[e], _mm256_set1_epi32(aq[e]));
#else
            /* 16-bit pair sums of 15 x 127 products: 8 of them stay below 2^15 */
            __m256i s16 = _mm256_maddubs_epi16(v[0], _mm256_set1_epi32(aq[0]));
#pragma GCC unroll 8
            for (int e = 1; e < 8; e++)
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(v[e], _mm256_set1_epi32(aq[e])));
            const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)), start);
#endif
            const __m256 sc = _mm256_mul_ps(dx, _mm256_broadcast_ss(&ds[(size_t)t * (size_t)nb + b]));
            acc[t] = _mm256_fmadd_ps(sc, _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        _mm256_storeu_ps(y + (size_t)t * (size_t)ldy, acc[t]);
}

#define TILE_R8_FN(T)                                                                                        \
    static __attribute__((noinline)) void tile_r8_t##T(const sd_q4_0_r8 *wg, int64_t nb, const uint8_t *a,   \
                                                       int n_all, int t0, float *y, int64_t ldy) {           \
        tile_q4_0_r8(wg, nb, a, n_all, t0, y, ldy, T);                                                       \
    }
TILE_R8_FN(1)
TILE_R8_FN(2)
TILE_R8_FN(3)
TILE_R8_FN(4)
#if SD_X86_VNNI
TILE_R8_FN(5)
TILE_R8_FN(6)
TILE_R8_FN(7)
TILE_R8_FN(8)
#endif

typedef void (*tile_r8_fn)(const sd_q4_0_r8 *wg, int64_t nb, const uint8_t *a, int n_all, int t0, float *y,
                           int64_t ldy);
static const tile_r8_fn tiles_r8[R8_TMAX + 1] = {
    NULL,       tile_r8_t1, tile_r8_t2, tile_r8_t3, tile_r8_t4,
#if SD_X86_VNNI
    tile_r8_t5, tile_r8_t6, tile_r8_t7, tile_r8_t8,
#endif
};

/* Output rows [r0, r1) (multiples of 8) of repacked Q4_0 for all n activation rows. */
static void rows_q4_0_r8(const sd_weight *w, const void *act, int n, int64_t r0, int64_t r1, float *y,
                         int64_t ldy) {
    const int64_t nb = w->cols / SD_QK4_0;
    const int n_tiles = (n + R8_TMAX - 1) / R8_TMAX;
    for (int64_t r = r0; r < r1; r += 8) {
        const sd_q4_0_r8 *wg = (const sd_q4_0_r8 *)w->packed + (size_t)(r / 8) * (size_t)nb;
        for (int i0 = 0, tile = 0; tile < n_tiles; tile++) {
            const int T = tile_len(n, i0, n_tiles, tile);
            tiles_r8[T](wg, nb, act, n, i0, y + (int64_t)i0 * ldy + r, ldy);
            i0 += T;
        }
    }
}

/* ---- Q4_K tiles ---- */

/* sd_q4_k_scales on the 32-bit lanes of one vector, without a byte-by-byte pass or a transfer between
 * general and vector registers (the byte-wise form and the per-scale broadcasts from general registers
 * measured as the bulk of a GEMV's per-super-block work). Lanes u0, u1, u2 are bytes 0-3, 4-7, 8-11 of
 * q: scales 0-3 are the low 6 bits of u0's bytes, mins 0-3 those of u1; scales 4-7 are u2's low nibbles
 * with u0's top 2 bits above them, mins 4-7 u2's high nibbles with u1's top 2 bits. Returns bytes 0-7 the
 * scales, 8-15 the mins. Reads 16 bytes from q (the block's quants follow its scales). */
INLINE __m128i q4_k_scales_vec(const uint8_t *q) {
    const __m128i x = _mm_loadu_si128((const __m128i *)q);
    const __m128i lo = _mm_and_si128(x, _mm_set1_epi32(0x3f3f3f3f));                     /* sc_lo, m_lo */
    const __m128i top = _mm_and_si128(_mm_srli_epi32(x, 2), _mm_set1_epi32(0x30303030)); /* u0, u1 */
    const __m128i u2 = _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 2, 2, 2));
    const __m128i nib =
        _mm_and_si128(_mm_srlv_epi32(u2, _mm_setr_epi32(0, 4, 0, 4)), _mm_set1_epi32(0x0f0f0f0f));
    return _mm_unpacklo_epi32(lo, _mm_or_si128(nib, top)); /* sc_lo sc_hi m_lo m_hi */
}

/* K-quant tiles take one weight row at a time (R rows one after another) against T activation rows.
 * Per super-block, the sub-block loop is outside the activation-row loop: each unpacked 32-element
 * sub-block and its scale stay in two registers while T integer accumulators take it, so every
 * multiply reads one activation vector and nothing else. (Unpacking all 8 sub-blocks first and then
 * looping over activation rows spilled the 16 unpacked vectors and reloaded them for every row: 3
 * loads per multiply, and Zen 3's two vector loads per cycle bound the loop at half the MAC peak.) */
INLINE void k_quant_acts(const tile_args *p, int64_t b, const int T, const act_q8_k *ab[TMAX]) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        ab[t] = (const act_q8_k *)(p->a + (size_t)t * p->astride) + b;
}

INLINE void k_quant_zero(__m256 acc[TMAX], const int T) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
}

INLINE void k_quant_store(const tile_args *p, int r, const int T, const __m256 acc[TMAX]) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        p->y[t * p->ldy + r] = hsum8(acc[t]);
}

/* s[t] += sum of the 16-bit pair sums of wq x yq(t) times the sub-block scale wsc (int32 lanes) */
INLINE void k_quant_madd(__m256i s[TMAX], __m256i wq, __m256i wsc, const act_q8_k *const ab[TMAX], int off,
                         const int T) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        const __m256i yq = _mm256_load_si256((const __m256i *)(ab[t]->qs + off));
        s[t] = _mm256_add_epi32(s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wq, yq), wsc));
    }
}

/* Word j (< 8) of each 128-bit half of v in all 8 words of that half: one byte shuffle, no transfer
 * from a general register. */
INLINE __m256i word_to_all(__m256i v, int j) {
    return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)((2 * j) | ((2 * j + 1) << 8))));
}

/* Sub-block j's scale (byte j of scm, both 128-bit halves) zero-extended into all 16 words. */
INLINE __m256i scale_words(__m256i scm, int j) {
    return _mm256_shuffle_epi8(scm, _mm256_set1_epi16((short)(0x8000 | j)));
}

/* The mins (bytes 8-15 of scm) as int16 pairs m0 m0 m1 m1 .. m7 m7, against the 16 bsums. */
INLINE __m256i min_pairs(__m256i scm) {
    const char z = (char)0x80;
    return _mm256_shuffle_epi8(scm, _mm256_setr_epi8(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z, 12,
                                                     z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z));
}

/* Q4_K and Q5_K (q5: the fifth bit from qh, bit j of qh[i] above element i of sub-block j): R weight
 * rows (1 or 2) side by side against T activation rows. Per super-block and row: the 6-bit scales in one
 * vector (q4_k_scales_vec) and each sub-block's scale words and the min pairs by one constant pshufb
 * each, the 8 sub-blocks fully unrolled (constant shuffle masks and shift counts), the two fp16 scales in
 * one conversion. Two rows at once (decode, T = 1) share every activation load and give the scheduler
 * two independent fma chains. (The former loop, its sub-block-pair loop kept rolled with the shuffle
 * masks rebuilt from the loop counter in general registers each pass, ran at about 40% of the stream
 * bandwidth, compute-bound.) */
INLINE void tile_q4_5_k(const tile_args *p, const int R, const int T, const bool q5) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
    const size_t bsize = q5 ? sizeof(sd_block_q5_k) : sizeof(sd_block_q4_k);
    const size_t qs_at = q5 ? offsetof(sd_block_q5_k, qs) : offsetof(sd_block_q4_k, qs);
    __m256 acc[2][TMAX];
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
        k_quant_zero(acc[r], T);
    for (int64_t b = 0; b < p->len; b++) {
        prefetch_next_group(p->w, p->wstride, R, b, bsize);
        const act_q8_k *ab[TMAX];
        k_quant_acts(p, b, T, ab);
        const uint8_t *blk[2];
        __m256i scm[2], qh[2], s[2][TMAX];
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            blk[r] = p->w + (size_t)r * p->wstride + (size_t)b * bsize;
            /* scales and mins 0-7 in bytes 0-15 of both halves */
            scm[r] = _mm256_broadcastsi128_si256(q4_k_scales_vec(blk[r] + offsetof(sd_block_q4_k, scales)));
            qh[r] = q5 ? _mm256_loadu_si256((const __m256i *)(blk[r] + offsetof(sd_block_q5_k, qh))) : m4;
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                s[r][t] = _mm256_setzero_si256();
        }
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) { /* 32 bytes of quants: sub-blocks 2h (low nibbles), 2h + 1 */
#pragma GCC unroll 2
            for (int r = 0; r < R; r++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(blk[r] + qs_at + 32 * h));
                __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                if (q5) { /* bit 2h (2h + 1) of each qh byte to bit 4 */
                    lo = _mm256_or_si256(lo, _mm256_and_si256(h < 2 ? _mm256_slli_epi16(qh[r], 4 - 2 * h)
                                                                    : _mm256_srli_epi16(qh[r], 2 * h - 4),
                                                              bit4));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(h < 2 ? _mm256_slli_epi16(qh[r], 3 - 2 * h)
                                                                    : _mm256_srli_epi16(qh[r], 2 * h - 3),
                                                              bit4));
                }
                k_quant_madd(s[r], lo, scale_words(scm[r], 2 * h), ab, 64 * h, T);
                k_quant_madd(s[r], hi, scale_words(scm[r], 2 * h + 1), ab, 64 * h + 32, T);
            }
        }
#pragma GCC unroll 2
        for (int r = 0; r < R; r++) {
            const __m256i wmin = min_pairs(scm[r]);
            /* fp16 d and dmin in one conversion; d x y.d and dmin x y.d on broadcast lanes, and
             * fnmadd's -(dmin y.d) M + acc is the reference's fmaf(-dmin, M, acc) (negation is exact) */
            uint32_t d2;
            memcpy(&d2, blk[r], sizeof d2);
            const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)d2));
            const __m256 wd = _mm256_broadcastss_ps(dm), wdmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const __m256i mins =
                    _mm256_madd_epi16(_mm256_load_si256((const __m256i *)ab[t]->bsums), wmin);
                const __m256 yd = _mm256_broadcast_ss(&ab[t]->d);
                acc[r][t] = _mm256_fmadd_ps(_mm256_mul_ps(wd, yd), _mm256_cvtepi32_ps(s[r][t]), acc[r][t]);
                acc[r][t] = _mm256_fnmadd_ps(_mm256_mul_ps(wdmin, yd), _mm256_cvtepi32_ps(mins), acc[r][t]);
            }
        }
    }
#pragma GCC unroll 2
    for (int r = 0; r < R; r++)
        k_quant_store(p, r, T, acc[r]);
}

INLINE void tile_q4_k(const tile_args *p, const int R, const int T) {
    tile_q4_5_k(p, R, T, false);
}

/* ---- K-quants repacked 8 rows per group (sd_q4_k_r8, sd_q5_k_r8, sd_q6_k_r8) ---- */

/* 8 output rows x T activation rows, a lane per output row: the accumulators are [activation row][quant.h
 * lane l], lane r of each vector output row r, and the final sum over lanes is 7 vector adds for 8
 * outputs. Each activation row's integer sum is one chain: fully unrolled, or with the compiler free to
 * reassociate the sums, the Q4_K T = 4 kernel spilled 700 times. Up to 8 activation rows per tile with 16
 * registers too (the scale pairs then come from the stack): 8 measured faster than two tiles of 4. The
 * group's records are one sequential stream, prefetched K8_PREFETCH records ahead. */
#define K8_TMAX 8
#define K8_PREFETCH 2 /* records (2304 bytes of Q4_K, 3360 of Q6_K) */

/* Bytes [q][r] of v (4 entries of 8 rows) for entry q as int16 pairs (x_r, x_r) in 32-bit lane r: the
 * maddubs pair sums of row r times x_r in one madd. */
INLINE __m256i row_pairs(__m256i v, const int q) {
    const __m256i entry = _mm256_permutevar8x32_epi32(
        v, _mm256_setr_epi32(2 * q, 2 * q + 1, 2 * q, 2 * q + 1, 2 * q, 2 * q + 1, 2 * q, 2 * q + 1));
    const char z = (char)0x80;
    return _mm256_shuffle_epi8(entry, _mm256_setr_epi8(0, z, 0, z, 1, z, 1, z, 2, z, 2, z, 3, z, 3, z, 4, z,
                                                       4, z, 5, z, 5, z, 6, z, 6, z, 7, z, 7, z));
}

/* A dword of activation quants (or bsums) in all 8 lanes. */
INLINE __m256i dword_to_all(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

INLINE void k8_zero(__m256 acc[K8_TMAX][8], const int T) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
#pragma GCC unroll 8
        for (int l = 0; l < 8; l++)
            acc[t][l] = _mm256_setzero_ps();
    }
}

/* Record b of the group (rec_bytes each) begins: the prefetch K8_PREFETCH records ahead, and each
 * activation row's super-block b. */
INLINE void k8_begin(const uint8_t *wg, size_t rec_bytes, int64_t b, const uint8_t *a, size_t astride,
                     const int T, const act_q8_k *ab[K8_TMAX]) {
    const char *ahead = (const char *)wg + (size_t)(b + K8_PREFETCH) * rec_bytes;
    for (size_t o = 0; o < rec_bytes; o += 64)
        _mm_prefetch(ahead + o, _MM_HINT_T0);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
        ab[t] = (const act_q8_k *)(a + (size_t)t * astride) + b;
}

/* s[t] += the maddubs pair sums of the 8 rows' quants wq (4 per 32-bit lane) against the activation dword
 * at element off of row t, times the rows' scale pairs sc. The opaque asm keeps one chain per activation
 * row (see above). */
INLINE void k8_madd(__m256i s[K8_TMAX], __m256i wq, __m256i sc, const act_q8_k *const ab[K8_TMAX], int off,
                    const int T) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        s[t] = _mm256_add_epi32(
            s[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wq, dword_to_all(ab[t]->qs + off)), sc));
        __asm__("" : "+x"(s[t]));
    }
}

/* sd_hsum8 over the lanes, for 8 rows at once: y[t * ldy + r] for the group's rows r. */
INLINE void k8_store(__m256 acc[K8_TMAX][8], const int T, float *y, int64_t ldy) {
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
        const __m256 *v = acc[t];
        const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(v[0], v[4]), _mm256_add_ps(v[2], v[6])),
                                         _mm256_add_ps(_mm256_add_ps(v[1], v[5]), _mm256_add_ps(v[3], v[7])));
        _mm256_storeu_ps(y + (size_t)t * (size_t)ldy, sum);
    }
}

/* Q4_K and Q5_K records (q5: sd_q5_k_r8, the same with the fifth bits of lane l in qh[l]). Per record: the
 * 8 rows' scales and mins decoded by 3 loads and 9 integer operations, each sub-block's scale as int16
 * pairs per row by one permute and one shuffle; then for each quant.h lane l, 4 loads and 12 integer
 * operations per activation row (broadcast activation dwords, maddubs, madd by the scale pairs, add)
 * give S_l of all 8 rows, and one conversion and fma each for the scales and the mins fold it into that
 * lane's accumulator vector. About 50 operations per (row, super-block) at n = 1 against about 90 row by
 * row. The lane loop stays rolled (the accumulators live in memory, the 8 scale-pair vectors in
 * registers). */
INLINE void tile_q4_k_r8(const uint8_t *wg, int64_t nb, const uint8_t *a, size_t astride, float *y,
                         int64_t ldy, const int T, const bool q5) {
    __m256 acc[K8_TMAX][8];
    k8_zero(acc, T);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(0x3F), top = _mm256_set1_epi8(0x30),
                  bit4 = _mm256_set1_epi8(0x10);
    const size_t rec_bytes = q5 ? sizeof(sd_q5_k_r8) : sizeof(sd_q4_k_r8);
    for (int64_t b = 0; b < nb; b++) {
        /* the two layouts share d, dmin and scales; qh and qs follow */
        const uint8_t *rec = wg + (size_t)b * rec_bytes;
        const sd_q4_k_r8 *blk = (const sd_q4_k_r8 *)rec;
        const sd_q5_k_r8 *blk5 = (const sd_q5_k_r8 *)rec;
        const act_q8_k *ab[K8_TMAX];
        k8_begin(wg, rec_bytes, b, a, astride, T, ab);
        /* sd_q4_k_scales on 8 rows: bytes [j][r] of scales 0-3, 4-7 and mins 0-3, 4-7 */
        const __m256i u0 = _mm256_loadu_si256((const __m256i *)blk->scales[0]);
        const __m256i u1 = _mm256_loadu_si256((const __m256i *)blk->scales[4]);
        const __m256i u2 = _mm256_loadu_si256((const __m256i *)blk->scales[8]);
        const __m256i sc03 = _mm256_and_si256(u0, m6), m03 = _mm256_and_si256(u1, m6);
        const __m256i sc47 =
            _mm256_or_si256(_mm256_and_si256(u2, m4), _mm256_and_si256(_mm256_srli_epi16(u0, 2), top));
        const __m256i m47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(u2, 4), m4),
                                            _mm256_and_si256(_mm256_srli_epi16(u1, 2), top));
        __m256i scp[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            scp[j] = row_pairs(j < 4 ? sc03 : sc47, j % 4);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk->d));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk->dmin));
        __m256 dy[K8_TMAX], dminy[K8_TMAX];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const __m256 yd = _mm256_broadcast_ss(&ab[t]->d);
            dy[t] = _mm256_mul_ps(d, yd);
            dminy[t] = _mm256_mul_ps(dmin, yd);
        }
#pragma GCC unroll 1
        for (int l = 0; l < 8; l++) {
            const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)blk5->qh[l]) : m4;
            __m256i s[K8_TMAX];
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                s[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const __m256i raw =
                    _mm256_loadu_si256((const __m256i *)(q5 ? blk5->qs[l][p] : blk->qs[l][p]));
                __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                if (q5) { /* bit 2p (2p + 1) of each qh byte to bit 4 */
                    lo = _mm256_or_si256(lo, _mm256_and_si256(p < 2 ? _mm256_slli_epi16(qh, 4 - 2 * p)
                                                                    : _mm256_srli_epi16(qh, 2 * p - 4),
                                                              bit4));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(p < 2 ? _mm256_slli_epi16(qh, 3 - 2 * p)
                                                                    : _mm256_srli_epi16(qh, 2 * p - 3),
                                                              bit4));
                }
                /* elements 64p + 4l .. (sub-block 2p) and 32 further on (sub-block 2p + 1) */
                k8_madd(s, lo, scp[2 * p], ab, 64 * p + 4 * l, T);
                k8_madd(s, hi, scp[2 * p + 1], ab, 64 * p + 32 + 4 * l, T);
            }
            /* M_l = m_l (bsums[2l] + bsums[2l + 1]); fnmadd's -(dmin y.d) M + acc is the reference's
             * fmaf(-dmin, M, acc) (negation is exact) */
            const __m256i mp = row_pairs(l < 4 ? m03 : m47, l % 4);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const __m256i mins = _mm256_madd_epi16(mp, dword_to_all(&ab[t]->bsums[2 * l]));
                acc[t][l] = _mm256_fmadd_ps(dy[t], _mm256_cvtepi32_ps(s[t]), acc[t][l]);
                acc[t][l] = _mm256_fnmadd_ps(dminy[t], _mm256_cvtepi32_ps(mins), acc[t][l]);
            }
        }
    }
    k8_store(acc, T, y, ldy);
}

/* Row scale bytes sc[r] (8 rows, signed) as int16 pairs (sc_r, sc_r) in 32-bit lane r: one broadcast
 * load, byte r into the high byte of both words of lane r, and the arithmetic shift that sign-extends
 * it. */
INLINE __m256i signed_row_pairs(const int8_t sc[8]) {
    int64_t v;
    memcpy(&v, sc, sizeof v);
    const char z = (char)0x80;
    const __m256i high = _mm256_shuffle_epi8(
        _mm256_set1_epi64x(v), _mm256_setr_epi8(z, 0, z, 0, z, 1, z, 1, z, 2, z, 2, z, 3, z, 3, z, 4, z, 4, z,
                                                5, z, 5, z, 6, z, 6, z, 7, z, 7));
    return _mm256_srai_epi16(high, 8);
}

/* Two rows of scale bytes sc[0][r], sc[1][r] as the int16 pair (sc[0][r], sc[1][r]) in 32-bit lane r,
 * against a bsums pair in one madd. */
INLINE __m256i signed_row_scale_pairs(const int8_t sc[2][8]) {
    const __m128i x = _mm_loadu_si128((const __m128i *)sc);
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(x, _mm_srli_si128(x, 8)));
}

/* Q6_K records (sd_q6_k_r8), as Q4_K: per record the 16 sub-block scales of the 8 rows as int16 pairs
 * (signed_row_pairs: 2 integer operations each); then for each lane l and chunk c (32 elements, its lane l
 * in sub-block 2c + l / 4) the 8 rows' 6-bit quants from one ql and one qh vector in 4 integer operations,
 * one maddubs, madd and add per activation row; per lane the zero-point correction of quant.h (32 (bsums
 * x scales), one madd and shift for 8 rows) and one conversion and fma. About 70 operations per (row,
 * super-block) at n = 1 against about 90 row by row, where each chunk's scale is shuffled into place and
 * the zero point and float steps are taken per row. */
INLINE void tile_q6_k_r8(const uint8_t *wg, int64_t nb, const uint8_t *a, size_t astride, float *y,
                         int64_t ldy, const int T) {
    __m256 acc[K8_TMAX][8];
    k8_zero(acc, T);
    const __m256i m4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; b++) {
        const sd_q6_k_r8 *blk = (const sd_q6_k_r8 *)wg + b;
        const act_q8_k *ab[K8_TMAX];
        k8_begin(wg, sizeof *blk, b, a, astride, T, ab);
        __m256i scp[SD_QK_K / 16];
#pragma GCC unroll 16
        for (int j = 0; j < SD_QK_K / 16; j++)
            scp[j] = signed_row_pairs(blk->scales[j]);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk->d));
        __m256 dy[K8_TMAX];
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            dy[t] = _mm256_mul_ps(d, _mm256_broadcast_ss(&ab[t]->d));
#pragma GCC unroll 1
        for (int l = 0; l < 8; l++) {
            const __m256i *lane_sc = scp + l / 4; /* chunk c's: lane_sc[2c] */
            __m256i s[K8_TMAX];
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                s[t] = _mm256_setzero_si256();
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                const __m256i qh = _mm256_loadu_si256((const __m256i *)blk->qh[l][h]);
                /* chunk 4h + u: the nibbles of ql[l][2h + u % 2] (high ones for u >= 2), bit pair u of qh */
#pragma GCC unroll 4
                for (int u = 0; u < 4; u++) {
                    const __m256i raw = _mm256_loadu_si256((const __m256i *)blk->ql[l][2 * h + u % 2]);
                    const __m256i lo = _mm256_and_si256(u < 2 ? raw : _mm256_srli_epi16(raw, 4), m4);
                    const __m256i up = u < 2    ? _mm256_slli_epi16(qh, 4 - 2 * u)
                                       : u == 2 ? qh
                                                : _mm256_srli_epi16(qh, 2);
                    const __m256i wq = _mm256_or_si256(lo, _mm256_and_si256(up, bits45));
                    const int c = 4 * h + u;
                    k8_madd(s, wq, lane_sc[2 * c], ab, 32 * c + 4 * l, T);
                }
            }
            /* S_l -= 32 (bsums[2l] sc[2l] + bsums[2l + 1] sc[2l + 1]); acc[l] = fmaf(d, S_l, acc[l]) */
            const __m256i zp = signed_row_scale_pairs(blk->scales + 2 * l);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const __m256i corr =
                    _mm256_slli_epi32(_mm256_madd_epi16(zp, dword_to_all(&ab[t]->bsums[2 * l])), 5);
                acc[t][l] =
                    _mm256_fmadd_ps(dy[t], _mm256_cvtepi32_ps(_mm256_sub_epi32(s[t], corr)), acc[t][l]);
            }
        }
    }
    k8_store(acc, T, y, ldy);
}

#define TILE_K8_FN(T)                                                                                        \
    static __attribute__((noinline)) void tile_k8q4_t##T(const uint8_t *wg, int64_t nb, const uint8_t *a,    \
                                                         size_t astride, float *y, int64_t ldy) {            \
        tile_q4_k_r8(wg, nb, a, astride, y, ldy, T, false);                                                  \
    }                                                                                                        \
    static __attribute__((noinline)) void tile_k8q5_t##T(const uint8_t *wg, int64_t nb, const uint8_t *a,    \
                                                         size_t astride, float *y, int64_t ldy) {            \
        tile_q4_k_r8(wg, nb, a, astride, y, ldy, T, true);                                                   \
    }                                                                                                        \
    static __attribute__((noinline)) void tile_k8q6_t##T(const uint8_t *wg, int64_t nb, const uint8_t *a,    \
                                                         size_t astride, float *y, int64_t ldy) {            \
        tile_q6_k_r8(wg, nb, a, astride, y, ldy, T);                                                         \
    }
TILE_K8_FN(1)
TILE_K8_FN(2)
TILE_K8_FN(3)
TILE_K8_FN(4)
TILE_K8_FN(5)
TILE_K8_FN(6)
TILE_K8_FN(7)
TILE_K8_FN(8)

typedef void (*tile_k8_fn)(const uint8_t *wg, int64_t nb, const uint8_t *a, size_t astride, float *y,
                           int64_t ldy);
#define TILE_K8_LIST(q)                                                                                      \
    {                                                                                                        \
        NULL, tile_k8##q##_t1, tile_k8##q##_t2, tile_k8##q##_t3, tile_k8##q##_t4, tile_k8##q##_t5,           \
            tile_k8##q##_t6, tile_k8##q##_t7, tile_k8##q##_t8                                                \
    }
static const tile_k8_fn tiles_k8q4[K8_TMAX + 1] = TILE_K8_LIST(q4);
static const tile_k8_fn tiles_k8q5[K8_TMAX + 1] = TILE_K8_LIST(q5);
static const tile_k8_fn tiles_k8q6[K8_TMAX + 1] = TILE_K8_LIST(q6);

/* The tile kernels of a K-quant type sd_weight_init repacks 8 rows per group, and its record size; NULL
 * for the others. */
static const tile_k8_fn *k8_tiles(sd_type type, size_t *rec_bytes) {
    switch (type) {
    case SD_TYPE_Q4_K:
        *rec_bytes = sizeof(sd_q4_k_r8);
        return tiles_k8q4;
    case SD_TYPE_Q5_K:
        *rec_bytes = sizeof(sd_q5_k_r8);
        return tiles_k8q5;
    case SD_TYPE_Q6_K:
        *rec_bytes = sizeof(sd_q6_k_r8);
        return tiles_k8q6;
    default:
        *rec_bytes = 0;
        return NULL;
    }
}

/* Output rows [r0, r1) (multiples of 8) of a repacked K-quant matrix (tiles and rec_bytes from k8_tiles)
 * for all n activation rows (act_q8_k rows). */
static void rows_k_r8(const sd_weight *w, const tile_k8_fn *tiles, size_t rec_bytes, const void *act, int n,
                      int64_t r0, int64_t r1, float *y, int64_t ldy) {
    const int64_t nb = w->cols / SD_QK_K;
    const size_t astride = act_row_stride(w->type, w->cols);
    const int n_tiles = (n + K8_TMAX - 1) / K8_TMAX;
    for (int64_t r = r0; r < r1; r += 8) {
        const uint8_t *wg = (const uint8_t *)w->packed + (size_t)(r / 8) * (size_t)nb * rec_bytes;
        for (int i0 = 0, tile = 0; tile < n_tiles; tile++) {
            const int T = tile_len(n, i0, n_tiles, tile);
            tiles[T](wg, nb, (const uint8_t *)act + (size_t)i0 * astride, astride, y + (int64_t)i0 * ldy + r,
                     ldy);
            i0 += T;
        }
    }
}

/* ---- Q6_K tiles ---- */

INLINE void tile_q6_k(const tile_args *p, const int R, const int T) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x03);
    for (int r = 0; r < R; r++) {
        const uint8_t *w = p->w + (size_t)r * p->wstride;
        __m256 acc[TMAX];
        k_quant_zero(acc, T);
        for (int64_t b = 0; b < p->len; b++) {
            prefetch_next_group(w, p->wstride, 1, b, sizeof(sd_block_q6_k));
            const sd_block_q6_k *blk = (const sd_block_q6_k *)w + b;
            const act_q8_k *ab[TMAX];
            k_quant_acts(p, b, T, ab);
            /* all 16 scales as int16 (the zero-point correction), and as dword pairs (2c, 2c + 1) */
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales));
            /* word 0 of a dword to the low half, word 1 to the high half: scale 2c, then 2c + 1 */
            const __m256i pair = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3,
                                                  2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
            __m256i s[TMAX];
#pragma GCC unroll 8
            for (int t = 0; t < T; t++)
                s[t] = _mm256_setzero_si256();
#pragma GCC unroll 1
            for (int h = 0; h < 2; h++) {
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h));
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
                /* chunk c = 4h + u: low nibbles of l0, l1, then high nibbles, with qh's bit pair u above */
#pragma GCC unroll 4
                for (int u = 0; u < 4; u++) {
                    const __m256i l = u & 1 ? l1 : l0;
                    const __m256i lo = u < 2 ? l : _mm256_srli_epi16(l, 4);
                    const __m256i hi =
                        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * u), m2), 4);
                    const __m256i wq = _mm256_or_si256(_mm256_and_si256(lo, m4), hi);
                    const int c = 4 * h + u;
                    const __m256i wsc =
                        _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(c)), pair);
                    k_quant_madd(s, wq, wsc, ab, 32 * c, T);
                }
            }
            const __m256 wd = _mm256_set1_ps(fp16_to_fp32(blk->d));
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const __m256i bsums = _mm256_load_si256((const __m256i *)ab[t]->bsums);
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5);
                const __m256 d = _mm256_mul_ps(wd, _mm256_broadcast_ss(&ab[t]->d));
                acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(s[t], corr)), acc[t]);
            }
        }
        k_quant_store(p, r, T, acc);
    }
}

/* ---- float weights ---- */

INLINE __m256 load_w8(const uint8_t *w, int64_t e, sd_type type) {
    if (type == SD_TYPE_F32) return _mm256_loadu_ps((const float *)w + e);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + e));
    if (type == SD_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

INLINE float load_w1(const uint8_t *w, int64_t e, sd_type type) {
    if (type == SD_TYPE_F32) return ((const float *)w)[e];
    const uint16_t h = ((const uint16_t *)w)[e];
    return type == SD_TYPE_F16 ? fp16_to_fp32(h) : sd_bf16_to_fp32(h);
}

/* a holds T fp32 rows of k elements, astride bytes apart. */
INLINE void tile_float(const tile_args *p, const int R, const int T, const sd_type type) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t k = p->len, ldy = p->ldy;
    float *y = p->y;
    __m256 acc[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    }
    const int64_t k8 = k / 8 * 8;
    for (int64_t e = 0; e < k8; e += 8) {
        prefetch_next_group(w, wstride, R, e / 8, type == SD_TYPE_F32 ? 32 : 16);
        __m256 wv[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            wv[r] = load_w8(w + (size_t)r * wstride, e, type);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const __m256 xv = _mm256_loadu_ps((const float *)(a + (size_t)t * astride) + e);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            float lanes[8];
            _mm256_storeu_ps(lanes, acc[r][t]);
            const float *xr = (const float *)(a + (size_t)t * astride);
            for (int64_t e = k8; e < k; e++) {
                lanes[e % 8] = fmaf(load_w1(w + (size_t)r * wstride, e, type), xr[e], lanes[e % 8]);
            }
            y[t * ldy + r] = sd_hsum8(lanes);
        }
    }
}

/* ---- the tiling driver ---- */

static bool act_block_major(sd_type type) {
    return type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0;
}

/* K-quant tiles keep their unpacked super-blocks on the stack (8 vectors of quants and scales per
 * row): one weight row per tile and up to 8 activation rows measured fastest (Q4_K n = 8: 147 us per 256
 * rows vs 189 with 2 rows). */
static bool is_k_quant(sd_type type) {
    return sd_act_type_of(type) == SD_TYPE_Q8_K;
}

static int tile_rows_max(sd_type type) {
    if (is_k_quant(type)) return TMAX;
#if !SD_X86_VNNI
    /* 2 weight rows x 4 activation rows: each activation block read from L2 serves two rows (1 x 8 reads
     * the whole tile's 64 KB of 4096-column activations once per weight row and is L2-bound) */
    if (type == SD_TYPE_Q8_0) return 4;
#endif
    return TILE_ROWS;
}

/* Weight rows per group for a tile of T activation rows: R x T accumulators plus R unpacked weights
 * must fit the register file (16 vectors with AVX2, 32 with AVX-512VL). */
static int group_rows(sd_type type, int T) {
    /* Q4_K / Q5_K decode: two rows side by side (tile_q4_5_k) */
    if (type == SD_TYPE_Q4_K || type == SD_TYPE_Q5_K) return T == 1 ? 2 : 1;
    if (is_k_quant(type)) return 1;
#if SD_X86_VNNI
    return T <= 4 ? 4 : 2;
#else
    if (type == SD_TYPE_Q8_0) return T == 1 ? 4 : 2;
    return T == 1 ? 4 : T <= 3 ? 2 : 1;
#endif
}

static void x86_rows(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1,
                     float *y, int64_t ldy) {
    if (w->packed && w->type == SD_TYPE_Q4_0 && r0 % 8 == 0 && r1 % 8 == 0) {
        rows_q4_0_r8(w, act, n, r0, r1, y, ldy);
        return;
    }
    size_t rec_bytes;
    const tile_k8_fn *k8 = k8_tiles(w->type, &rec_bytes);
    if (w->packed && k8 && r0 % 8 == 0 && r1 % 8 == 0) {
        rows_k_r8(w, k8, rec_bytes, act, n, r0, r1, y, ldy);
        return;
    }
    tile_rows(w, act, x, n, r0, r1, y, ldy);
}

/* ---- SwiGLU ---- */

/* sd_exp_ref on 8 lanes, step for step (min / max order a NaN as the reference's comparisons do). */
INLINE __m256 exp_ps(__m256 x) {
    x = _mm256_min_ps(x, _mm256_set1_ps(SD_EXP_MAX_X));
    x = _mm256_max_ps(x, _mm256_set1_ps(SD_EXP_MIN_X));
    const __m256 shifter = _mm256_set1_ps(SD_EXP_SHIFTER);
    const __m256 n = _mm256_sub_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(SD_EXP_LOG2E), shifter), shifter);
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-SD_EXP_LN2_HI), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-SD_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(SD_EXP_C7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_C6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_C5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_C4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_C3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SD_EXP_C2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

static void x86_swiglu(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp_ps(_mm256_xor_ps(g, sign));
        _mm256_storeu_ps(gate + i,
                         _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    sd_swiglu_ref(gate + i, up + i, n - i);
}

/* ---- dequantization ---- */

static void x86_dequantize(sd_type type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case SD_TYPE_F16:
    case SD_TYPE_BF16: {
        const int64_t n8 = n / 8 * 8;
        for (int64_t e = 0; e < n8; e += 8)
            _mm256_storeu_ps(dst + e, load_w8(src, e, type));
        for (int64_t e = n8; e < n; e++)
            dst[e] = load_w1(src, e, type);
        break;
    }
    case SD_TYPE_Q4_0: {
        const sd_block_q4_0 *x = src;
        for (int64_t b = 0; b < n / 32; b++) {
            const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[b].d));
            const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
            const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, _mm_set1_epi8(0x0F)), _mm_set1_epi8(8));
            const __m128i hi =
                _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0F)), _mm_set1_epi8(8));
            const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
            for (int j = 0; j < 4; j++) {
                const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[j]));
                _mm256_storeu_ps(dst + 32 * b + 8 * j, _mm256_mul_ps(v, d));
            }
        }
        break;
    }
    case SD_TYPE_Q8_0: {
        const sd_block_q8_0 *x = src;
        for (int64_t b = 0; b < n / 32; b++) {
            const __m256 d = _mm256_set1_ps(fp16_to_fp32(x[b].d));
            for (int j = 0; j < 4; j++) {
                const __m128i q = _mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * j));
                const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
                _mm256_storeu_ps(dst + 32 * b + 8 * j, _mm256_mul_ps(v, d));
            }
        }
        break;
    }
    default:
        sd_dequantize_row_ref(type, src, dst, n);
        break;
    }
}

/* ---- compute roofline ---- */

/* The set's dot-product sequence on registers: AVX2 vpmaddubsw + vpmaddwd + vpaddd, AVX-512 VNNI
 * vpdpbusd, 32 u8 x s8 multiply-accumulates each, into 4 (AVX2: only the add is on the chain) or 8
 * (VNNI: the whole latency is) independent accumulators, each with its own weight vector so that no
 * product is shared. The empty asm makes the operands opaque each round, so the compiler can neither
 * hoist nor fold the products, and keeps them in registers (named variables, not an array). */
#if SD_X86_VNNI
#define MAC_STEP(acc, u) acc = _mm256_dpbusd_epi32(acc, u, s)
#else
#define MAC_STEP(acc, u) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones))
#endif
#define MAC_CHAIN(j)                                                                                         \
    MAC_STEP(acc##j, u##j);                                                                                  \
    __asm__ volatile("" : "+x"(acc##j), "+x"(u##j))
static int64_t x86_mac_loop(int64_t iters) {
    const __m256i s = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    __m256i u0 = _mm256_set1_epi8(1), u1 = _mm256_set1_epi8(2), u2 = _mm256_set1_epi8(4),
            u3 = _mm256_set1_epi8(5);
#if SD_X86_VNNI
    __m256i acc4 = acc0, acc5 = acc0, acc6 = acc0, acc7 = acc0;
    __m256i u4 = _mm256_set1_epi8(6), u5 = _mm256_set1_epi8(7), u6 = _mm256_set1_epi8(8),
            u7 = _mm256_set1_epi8(9);
    const int chains = 8;
#else
    const int chains = 4;
#endif
    (void)ones;
    for (int64_t i = 0; i < iters; i++) {
        MAC_CHAIN(0);
        MAC_CHAIN(1);
        MAC_CHAIN(2);
        MAC_CHAIN(3);
#if SD_X86_VNNI
        MAC_CHAIN(4);
        MAC_CHAIN(5);
        MAC_CHAIN(6);
        MAC_CHAIN(7);
#endif
    }
    __m256i sum = _mm256_add_epi32(_mm256_add_epi32(acc0, acc1), _mm256_add_epi32(acc2, acc3));
#if SD_X86_VNNI
    sum = _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_add_epi32(acc4, acc5), _mm256_add_epi32(acc6, acc7)));
#endif
    __asm__ volatile("" ::"x"(sum));
    return iters * chains * 32;
}

const sd_kernel_set KSET = {
    .name = KNAME,
    .has_type = more_has_type,
    .act_bytes = x86_act_bytes,
    .quantize_act = x86_quantize_act,
    .rows = x86_rows,
    .dequantize = x86_dequantize,
    .swiglu = x86_swiglu,
    .mac_loop = x86_mac_loop,
};
