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
            __m256i corr = _mm256_load_si256((const __m256i *)ab->corr);
            __m256 dy = _mm256_broadcast_ss(ds + (size_t)t * (size_t)nb + b);
            __asm__("" : "+v"(yq), "+v"(corr), "+v"(dy)); /* loaded once for all R rows */
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

INLINE void tile_q4_k(const tile_args *p, const int R, const int T) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    __m256 acc[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        prefetch_next_group(w, wstride, R, b, sizeof(sd_block_q4_k));
        __m256i wq[4][8];  /* unpacked nibbles, one vector per 32-element sub-block */
        __m256i wsc[4][8]; /* sub-block scale broadcast to 16 int16 */
        __m256i wmin[4];   /* mins as int16 pairs m0 m0 m1 m1 ... m7 m7 */
        float wdd[4], wdm[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const sd_block_q4_k *blk = (const sd_block_q4_k *)(w + (size_t)r * wstride) + b;
            uint8_t sc[8], m[8];
            sd_q4_k_scales(blk->scales, sc, m);
            for (int j = 0; j < 4; j++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * j));
                wq[r][2 * j] = _mm256_and_si256(raw, m4);
                wq[r][2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            }
            for (int j = 0; j < 8; j++)
                wsc[r][j] = _mm256_set1_epi16(sc[j]);
            uint64_t m64;
            memcpy(&m64, m, 8);
            const __m128i m16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)m64));
            wmin[r] = _mm256_set_m128i(_mm_unpackhi_epi16(m16, m16), _mm_unpacklo_epi16(m16, m16));
            wdd[r] = fp16_to_fp32(blk->d);
            wdm[r] = fp16_to_fp32(blk->dmin);
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
            const __m256i bsums = _mm256_load_si256((const __m256i *)ab->bsums);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i s = _mm256_setzero_si256();
                for (int j = 0; j < 8; j++) {
                    const __m256i yq = _mm256_load_si256((const __m256i *)(ab->qs + 32 * j));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(wq[r][j], yq), wsc[r][j]));
                }
                const __m256i mins = _mm256_madd_epi16(bsums, wmin[r]);
                const float d = wdd[r] * ab->d;
                const float dmin = wdm[r] * ab->d;
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc[r][t]);
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(-dmin), _mm256_cvtepi32_ps(mins), acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = hsum8(acc[r][t]);
    }
}

/* ---- Q6_K tiles ---- */

INLINE void tile_q6_k(const tile_args *p, const int R, const int T) {
    const uint8_t *w = p->w, *a = p->a;
    const size_t wstride = p->wstride, astride = p->astride;
    const int64_t nb = p->len, ldy = p->ldy;
    float *y = p->y;
    __m256 acc[4][TMAX];
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            acc[r][t] = _mm256_setzero_ps();
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m2 = _mm256_set1_epi8(0x03);
    for (int64_t b = 0; b < nb; b++) {
        prefetch_next_group(w, wstride, R, b, sizeof(sd_block_q6_k));
        __m256i wq[4][8];  /* 6-bit quants 0..63, one vector per 32 elements */
        __m256i wsc[4][8]; /* int16 scales: sc[2c] in the low half, sc[2c + 1] in the high half */
        __m256i wsc16[4];  /* all 16 scales as int16, for the zero-point correction */
        float wd[4];
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const sd_block_q6_k *blk = (const sd_block_q6_k *)(w + (size_t)r * wstride) + b;
            for (int h = 0; h < 2; h++) {
                const __m256i l0 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h));
                const __m256i l1 = _mm256_loadu_si256((const __m256i *)(blk->ql + 64 * h + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(blk->qh + 32 * h));
                const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4);
                const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4);
                const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4);
                const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4);
                wq[r][4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, m4), h0);
                wq[r][4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), h1);
                wq[r][4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2);
                wq[r][4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3);
            }
            for (int c = 0; c < 8; c++) {
                wsc[r][c] = _mm256_set_m128i(_mm_set1_epi16(blk->scales[2 * c + 1]),
                                             _mm_set1_epi16(blk->scales[2 * c]));
            }
            wsc16[r] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales));
            wd[r] = fp16_to_fp32(blk->d);
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const act_q8_k *ab = (const act_q8_k *)(a + (size_t)t * astride) + b;
            const __m256i bsums = _mm256_load_si256((const __m256i *)ab->bsums);
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                __m256i s = _mm256_setzero_si256();
                for (int c = 0; c < 8; c++) {
                    const __m256i yq = _mm256_load_si256((const __m256i *)(ab->qs + 32 * c));
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(wq[r][c], yq), wsc[r][c]));
                }
                const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, wsc16[r]), 5);
                s = _mm256_sub_epi32(s, corr);
                const float d = wd[r] * ab->d;
                acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc[r][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
            y[t * ldy + r] = hsum8(acc[r][t]);
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
    return is_k_quant(type) ? TMAX : TILE_ROWS;
}

/* Weight rows per group for a tile of T activation rows: R x T accumulators plus R unpacked weights
 * must fit the register file (16 vectors with AVX2, 32 with AVX-512VL). */
static int group_rows(sd_type type, int T) {
    if (is_k_quant(type)) return 1;
#if SD_X86_VNNI
    return T <= 4 ? 4 : 2;
#else
    return T == 1 ? 4 : T <= 3 ? 2 : 1;
#endif
}

static void x86_rows(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1,
                     float *y, int64_t ldy) {
    if (w->packed && w->type == SD_TYPE_Q4_0 && r0 % 8 == 0 && r1 % 8 == 0) {
        rows_q4_0_r8(w, act, n, r0, r1, y, ldy);
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

const sd_kernel_set KSET = {
    .name = KNAME,
    .has_type = more_has_type,
    .act_bytes = x86_act_bytes,
    .quantize_act = x86_quantize_act,
    .rows = x86_rows,
    .dequantize = x86_dequantize,
    .swiglu = x86_swiglu,
};
