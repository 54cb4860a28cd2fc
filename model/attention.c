/* Causal GQA attention over the KV cache (see attention.h for the arithmetic every path follows).
 *
 * The kernel works on fixed-width lane vectors (GCC/Clang vector extensions, no intrinsics): W = 4 lanes,
 * which SSE2 and NEON hold in one register, or W = 8 when this file is compiled a second time with AVX2
 * (SD_ATTENTION_AVX2, see model/meson.build; the x86-64 build picks that at run time). Each lane does
 * ordinary fp32 arithmetic, separate multiplies and adds, so W never changes a result: both builds match
 * sd_attention_ref bit for bit. The key cache comes in blocks of 8 positions x head_dim, so the score pass
 * computes 8 positions' dot products in the lanes of one or two vectors, each lane summing over the
 * dimensions in order.
 * Why vector types rather than plain float[8] loops left to the auto-vectorizer: GCC 12 vectorized the
 * dot products across head_dim (an in-order reduction, scalar adds) and left the masked softmax loops
 * scalar, 2-3x slower than this. */
#include "attention.h"

#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "gemm/qtypes.h"
#include "gemm/quant.h"

#ifdef SD_ATTENTION_AVX2
#include <immintrin.h> /* F16C's _mm256_cvtph_ps for the fp16 cache */
#endif

#define LANES SD_ATTN_LANES
#ifdef SD_ATTENTION_AVX2
#define W 8
#define KERNEL sd_attention_block_avx2
#define PAIR_VALUES 1 /* weighted values of two pairs per pass over the values */
#else
#define W 4
#define KERNEL sd_attention_block_portable
#define PAIR_VALUES 0
#endif
#define NV (LANES / W) /* vectors per block of LANES positions */
/* (row, query head) pairs whose scores one pass over a key block computes (NV accumulators each). */
#define SCORE_TILE 4
/* Dimensions one pass over the values accumulates in registers (8 vectors on SSE2 and NEON). */
#define VALUE_TILE 32
/* Pairs a kernel call may hold: the scratch is [pairs][padded positions]. */
#define MAX_BLOCK_PAIRS 16

typedef float vf __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef uint16_t vh __attribute__((vector_size(2 * W))); /* W fp16 halves */
typedef int8_t vb __attribute__((vector_size(W)));       /* W Q8_0 quants */

/* Bytes of one Q8_0 key block: 8 fp16 scales, then [32 dimensions][8 positions] int8 quants. */
#define Q8_KEY_BLOCK_BYTES (SD_ATTN_LANES * 2 + SD_ATTN_Q8_BLOCK * SD_ATTN_LANES)

#define ALWAYS_INLINE inline __attribute__((always_inline))

static ALWAYS_INLINE vf loadv(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static ALWAYS_INLINE void storev(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

static ALWAYS_INLINE vf splat(float x) {
#if W == 8
    return (vf){x, x, x, x, x, x, x, x};
#else
    return (vf){x, x, x, x};
#endif
}

/* mask ? a : b per lane, mask lanes all ones or zero. */
static ALWAYS_INLINE vf select_v(vi mask, vf a, vf b) {
    return (vf)((mask & (vi)a) | (~mask & (vi)b));
}

/* W fp16 halves to fp32, exactly (as sd_fp16_to_fp32). AVX2 builds use F16C; the portable build moves
 * the exponent and mantissa bits into place and scales by 2^112 (exact, also for subnormal halves, whose
 * fp32 bit pattern is then a subnormal float), patching infinities and NaNs. */
static ALWAYS_INLINE vf half_to_vf(const uint16_t *p) {
#ifdef SD_ATTENTION_AVX2
    __m128i h;
    memcpy(&h, p, sizeof h);
    return (vf)_mm256_cvtph_ps(h);
#else
    vh h;
    memcpy(&h, p, sizeof h);
    vi x = __builtin_convertvector(h, vi);
    vi sign = (x & 0x8000) << 16, mag = (x & 0x7fff) << 13;
    vf scaled = (vf)mag * splat(0x1p112f);
    vi inf_nan = (x & 0x7c00) == 0x7c00;
    vi bits = (inf_nan & (mag | 0x7f800000)) | (~inf_nan & (vi)scaled);
    return (vf)(bits | sign);
#endif
}

/* W int8 quants to fp32 (exact). AVX2 builds sign-extend in one instruction: GCC turns the generic
 * conversion of an 8-byte vector into byte-by-byte inserts there. */
static ALWAYS_INLINE vf i8_to_vf(const int8_t *p) {
#ifdef SD_ATTENTION_AVX2
    __m128i b;
    int64_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    b = _mm_cvtsi64_si128(bytes);
    return (vf)_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
#else
    vb b;
    memcpy(&b, p, sizeof b);
    return __builtin_convertvector(b, vf);
#endif
}

/* The Q8_0 key block holding dimensions [32 db, 32 db + 32) of positions [8 tb, 8 tb + 8). */
static inline const unsigned char *q8_key_block(const void *k, int hd, int32_t tb, int db) {
    return (const unsigned char *)k +
           ((size_t)tb * (size_t)(hd / SD_ATTN_Q8_BLOCK) + (size_t)db) * Q8_KEY_BLOCK_BYTES;
}

/* The Q8_0 value block holding dimension d of position t. */
static inline const sd_block_q8_0 *q8_value_block(const void *v, int hd, int32_t t, int d) {
    return (const sd_block_q8_0 *)v + (size_t)t * (size_t)(hd / SD_ATTN_Q8_BLOCK) +
           (size_t)(d / SD_ATTN_Q8_BLOCK);
}

static inline float key_scalar(sd_cache_type type, const void *k, int hd, int32_t t, int d) {
    switch (type) {
    case SD_CACHE_F16:
        return sd_fp16_to_fp32(((const uint16_t *)k)[sd_attention_key_index(hd, t, d)]);
    case SD_CACHE_Q8_0: {
        const unsigned char *b = q8_key_block(k, hd, t / LANES, d / SD_ATTN_Q8_BLOCK);
        uint16_t scale;
        memcpy(&scale, b + 2 * (t % LANES), sizeof scale);
        int8_t q = (int8_t)b[LANES * 2 + (d % SD_ATTN_Q8_BLOCK) * LANES + t % LANES];
        return (float)q * sd_fp16_to_fp32(scale);
    }
    default:
        return ((const float *)k)[sd_attention_key_index(hd, t, d)];
    }
}

static inline float value_scalar(sd_cache_type type, const void *v, int hd, int32_t t, int d) {
    switch (type) {
    case SD_CACHE_F16:
        return sd_fp16_to_fp32(((const uint16_t *)v)[(size_t)t * (size_t)hd + (size_t)d]);
    case SD_CACHE_Q8_0: {
        const sd_block_q8_0 *b = q8_value_block(v, hd, t, d);
        return (float)b->qs[d % SD_ATTN_Q8_BLOCK] * sd_fp16_to_fp32(b->d);
    }
    default:
        return ((const float *)v)[(size_t)t * (size_t)hd + (size_t)d];
    }
}

/* Keys of block tb (8 positions), dimension d, lanes [j W, j W + W): q8_scale holds the Q8_0 block's
 * scales for those lanes (unused for the other types). */
static ALWAYS_INLINE vf key_vec(sd_cache_type type, const void *k, int hd, int32_t tb, int d, int j,
                                vf q8_scale) {
    size_t at = ((size_t)tb * (size_t)hd + (size_t)d) * LANES + (size_t)(j * W);
    switch (type) {
    case SD_CACHE_F16:
        return half_to_vf((const uint16_t *)k + at);
    case SD_CACHE_Q8_0: {
        const unsigned char *b = q8_key_block(k, hd, tb, d / SD_ATTN_Q8_BLOCK);
        return i8_to_vf((const int8_t *)b + LANES * 2 + (d % SD_ATTN_Q8_BLOCK) * LANES + j * W) * q8_scale;
    }
    default:
        return loadv((const float *)k + at);
    }
}

/* Values of position t, dimensions [d, d + W); q8_scale: splat of that position's Q8_0 block scale. */
static ALWAYS_INLINE vf value_vec(sd_cache_type type, const void *v, int hd, int32_t t, int d, vf q8_scale) {
    switch (type) {
    case SD_CACHE_F16:
        return half_to_vf((const uint16_t *)v + (size_t)t * (size_t)hd + (size_t)d);
    case SD_CACHE_Q8_0:
        return i8_to_vf(q8_value_block(v, hd, t, d)->qs + d % SD_ATTN_Q8_BLOCK) * q8_scale;
    default:
        return loadv((const float *)v + (size_t)t * (size_t)hd + (size_t)d);
    }
}

/* The Q8_0 scale of position t's block holding dimension d, as a vector (1 for the other types). A tile
 * of values never straddles blocks: its width (W, 4 W, VALUE_TILE) divides 32 and it starts at a multiple
 * of its width. */
static ALWAYS_INLINE vf value_scale(sd_cache_type type, const void *v, int hd, int32_t t, int d) {
    return splat(type == SD_CACHE_Q8_0 ? sd_fp16_to_fp32(q8_value_block(v, hd, t, d)->d) : 1.0f);
}

#ifndef SD_ATTENTION_AVX2
size_t sd_attention_padded_positions(int32_t n_ctx) {
    return ((size_t)n_ctx + LANES - 1) / LANES * LANES;
}

int sd_attention_cache_type_fits(sd_cache_type t, int head_dim) {
    return t != SD_CACHE_Q8_0 || head_dim % SD_ATTN_Q8_BLOCK == 0;
}

static size_t type_bytes_per_entry_x32(sd_cache_type t) { /* bytes of 32 entries */
    return t == SD_CACHE_F16 ? 64 : t == SD_CACHE_Q8_0 ? sizeof(sd_block_q8_0) : 128;
}

size_t sd_attention_key_bytes(sd_cache_type t, int head_dim, int32_t n_ctx) {
    return sd_attention_padded_positions(n_ctx) * (size_t)head_dim * type_bytes_per_entry_x32(t) / 32;
}

size_t sd_attention_value_bytes(sd_cache_type t, int head_dim, int32_t n_ctx) {
    return (size_t)n_ctx * (size_t)head_dim * type_bytes_per_entry_x32(t) / 32;
}

void sd_attention_store_key(sd_cache_type type, void *k, int hd, int32_t t, const float *x) {
    switch (type) {
    case SD_CACHE_F16:
        for (int d = 0; d < hd; d++)
            ((uint16_t *)k)[sd_attention_key_index(hd, t, d)] = sd_fp32_to_fp16(x[d]);
        break;
    case SD_CACHE_Q8_0:
        for (int db = 0; db < hd / SD_ATTN_Q8_BLOCK; db++) {
            sd_block_q8_0 q;
            sd_quantize_row_q8_0_ref(x + db * SD_ATTN_Q8_BLOCK, &q, SD_ATTN_Q8_BLOCK);
            unsigned char *b = (unsigned char *)q8_key_block(k, hd, t / LANES, db);
            memcpy(b + 2 * (t % LANES), &q.d, sizeof q.d);
            for (int i = 0; i < SD_ATTN_Q8_BLOCK; i++)
                b[LANES * 2 + i * LANES + t % LANES] = (unsigned char)q.qs[i];
        }
        break;
    default:
        for (int d = 0; d < hd; d++)
            ((float *)k)[sd_attention_key_index(hd, t, d)] = x[d];
        break;
    }
}

void sd_attention_store_value(sd_cache_type type, void *v, int hd, int32_t t, const float *x) {
    switch (type) {
    case SD_CACHE_F16:
        for (int d = 0; d < hd; d++)
            ((uint16_t *)v)[(size_t)t * (size_t)hd + (size_t)d] = sd_fp32_to_fp16(x[d]);
        break;
    case SD_CACHE_Q8_0:
        sd_quantize_row_q8_0_ref(x, (sd_block_q8_0 *)v + (size_t)t * (size_t)(hd / SD_ATTN_Q8_BLOCK), hd);
        break;
    default:
        memcpy((float *)v + (size_t)t * (size_t)hd, x, (size_t)hd * sizeof *x);
        break;
    }
}

float sd_attention_key_at(sd_cache_type type, const void *k, int hd, int32_t t, int d) {
    return key_scalar(type, k, hd, t, d);
}

float sd_attention_value_at(sd_cache_type type, const void *v, int hd, int32_t t, int d) {
    return value_scalar(type, v, hd, t, d);
}

int32_t sd_attention_block_rows(int group, int32_t max_batch) {
    int32_t rows = group >= MAX_BLOCK_PAIRS ? 1 : MAX_BLOCK_PAIRS / group;
    if (rows > max_batch) rows = max_batch;
    return rows < 1 ? 1 : rows;
}

size_t sd_attention_scratch_floats(int group, int32_t max_batch, int32_t n_ctx) {
    return (size_t)sd_attention_block_rows(group, max_batch) * (size_t)group *
           sd_attention_padded_positions(n_ctx);
}

#endif

/* The softmax exp, scalar: the reference's, and the arithmetic expv does in each lane.
 * x = n ln2 + r with |r| <= ln2 / 2: n rounded to an integer with the 1.5 * 2^23 trick (|x log2 e| < 2^22),
 * ln 2 split in a high part with few mantissa bits (n * hi is exact) and the low rest; e^r by its Taylor
 * series to degree 7 (truncation error r^8 / 8! < 6e-9, below an ulp); 2^n from exponent bits. x is
 * clamped to [-87, 0] first, so n is in [-126, 0] and the result normal (for n = -126, r > 0). The
 * constants are the GEMM library's e^x (gemm/quant.h); the steps differ from it (no fma: this file is
 * also built for baseline x86-64, whose every build must give the same bits) and so do the results. */
#define EXP_LO SD_EXP_MIN_X

static inline float exp_scalar(float x) {
    float xc = x > EXP_LO ? x : EXP_LO; /* NaN and -inf go to EXP_LO here and are patched at the end */
    xc = xc < 0.0f ? xc : 0.0f;
    float n = (xc * SD_EXP_LOG2E + SD_EXP_SHIFTER) - SD_EXP_SHIFTER;
    float r = xc - n * SD_EXP_LN2_HI;
    r = r - n * SD_EXP_LN2_LO;
    float p = SD_EXP_C7;
    p = p * r + SD_EXP_C6;
    p = p * r + SD_EXP_C5;
    p = p * r + SD_EXP_C4;
    p = p * r + SD_EXP_C3;
    p = p * r + SD_EXP_C2;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* a shift: SSE2 has no 32-bit lane multiply */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    y = x >= EXP_LO ? y : 0.0f;
    return x != x ? x : y;
}

static ALWAYS_INLINE vf expv(vf x) {
    vf lo = splat(EXP_LO), zero = splat(0.0f);
    vf xc = select_v(x > lo, x, lo);
    xc = select_v(xc < zero, xc, zero);
    vf n = (xc * SD_EXP_LOG2E + SD_EXP_SHIFTER) - SD_EXP_SHIFTER;
    vf r = xc - n * SD_EXP_LN2_HI;
    r = r - n * SD_EXP_LN2_LO;
    vf p = splat(SD_EXP_C7);
    p = p * r + SD_EXP_C6;
    p = p * r + SD_EXP_C5;
    p = p * r + SD_EXP_C4;
    p = p * r + SD_EXP_C3;
    p = p * r + SD_EXP_C2;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
    vf y = p * (vf)bits;
    y = select_v(x >= lo, y, zero);
    return select_v(x != x, x, y);
}

#ifndef SD_ATTENTION_AVX2
float sd_attention_exp(float x) {
    return exp_scalar(x);
}
#endif

/* The fixed reduction tree of 8 lane sums. */
static ALWAYS_INLINE float lane_sum(const float s[LANES]) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* Largest non-NaN value of the 8 lanes (-inf if none). */
static ALWAYS_INLINE float lane_max(const float m[LANES]) {
    float r = m[0];
    for (int l = 1; l < LANES; l++)
        r = m[l] > r ? m[l] : r;
    return r;
}

/* The first position a pair at pos attends to. */
static inline int32_t first_position(const sd_attention_args *a, int32_t pos) {
    return a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
}

/* Scores of np (<= SCORE_TILE) pairs for the nb blocks of LANES positions from t0: each key block
 * [head_dim][LANES] is loaded once for all np pairs. Inlined with constant np and nb so the np * nb * NV
 * accumulators (at most 8) stay in registers. */
static ALWAYS_INLINE void score_tile(sd_cache_type kt, const void *k, int hd, const float *const *q,
                                     float *const *s, int np, int nb, int32_t t0, float scale) {
    vf acc[SCORE_TILE][2 * NV];
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nb * NV; j++)
            acc[p][j] = splat(0.0f);
    int32_t tb = t0 / LANES;
    /* Q8_0 keys go a block of 32 dimensions at a time, loading its scales once. */
    int dstep = kt == SD_CACHE_Q8_0 ? SD_ATTN_Q8_BLOCK : hd;
    for (int d0 = 0; d0 < hd; d0 += dstep) {
        vf ks[2 * NV];
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < NV; j++)
                ks[b * NV + j] =
                    kt == SD_CACHE_Q8_0
                        ? half_to_vf((const uint16_t *)q8_key_block(k, hd, tb + b, d0 / SD_ATTN_Q8_BLOCK) +
                                     j * W)
                        : splat(1.0f);
        for (int d = d0; d < d0 + dstep; d++) {
            vf kd[2 * NV];
            for (int b = 0; b < nb; b++)
                for (int j = 0; j < NV; j++)
                    kd[b * NV + j] = key_vec(kt, k, hd, tb + b, d, j, ks[b * NV + j]);
            for (int p = 0; p < np; p++) {
                vf qd = splat(q[p][d]);
                for (int j = 0; j < nb * NV; j++)
                    acc[p][j] += qd * kd[j];
            }
        }
    }
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nb * NV; j++)
            storev(s[p] + t0 + j * W, acc[p][j] * scale);
}

/* Scores of np pairs for positions [t_begin, t_end), both multiples of LANES. Few pairs take two blocks
 * per pass, so enough independent accumulators hide the add latency. */
static ALWAYS_INLINE void score_pairs(sd_cache_type kt, const void *k, int hd, const float *const *q,
                                      float *const *s, int np, int32_t t_begin, int32_t t_end, float scale) {
    int32_t t0 = t_begin;
    if (np * NV <= 4)
        for (; t0 + 2 * LANES <= t_end; t0 += 2 * LANES)
            score_tile(kt, k, hd, q, s, np, 2, t0, scale);
    for (; t0 < t_end; t0 += LANES)
        score_tile(kt, k, hd, q, s, np, 1, t0, scale);
}

/* Turns the scores s[lo..pos] of one pair into e^(s - max) in place (0 in the rest of their lane
 * blocks) and returns 1 / their sum; with softcap > 0, each score s becomes softcap * tanhf(s * (1 /
 * softcap)) first (one scalar libm call per score, the same in every build). */
static float softmax_weights(float *s, int32_t lo, int32_t pos, float softcap) {
    int32_t t_begin = lo / LANES * LANES, t_end = (pos + LANES) / LANES * LANES;
    if (softcap > 0.0f)
        for (int32_t t = lo; t <= pos; t++)
            s[t] = softcap * tanhf(s[t] * (1.0f / softcap));
    vi first, last, lo_v;
    for (int i = 0; i < W; i++) {
        first[i] = i;
        last[i] = pos;
        lo_v[i] = lo;
    }
    vf m[NV];
    for (int j = 0; j < NV; j++)
        m[j] = splat(-INFINITY);
    for (int32_t t0 = t_begin; t0 < t_end; t0 += LANES)
        for (int j = 0; j < NV; j++) {
            vf sv = loadv(s + t0 + j * W);
            vi t = first + (t0 + j * W);
            m[j] = select_v((t <= last) & (t >= lo_v) & (sv > m[j]), sv, m[j]);
        }
    float lanes[LANES];
    for (int j = 0; j < NV; j++)
        storev(lanes + j * W, m[j]);
    vf vmax = splat(lane_max(lanes)), zero = splat(0.0f), sum[NV];
    for (int j = 0; j < NV; j++)
        sum[j] = zero;
    for (int32_t t0 = t_begin; t0 < t_end; t0 += LANES)
        for (int j = 0; j < NV; j++) {
            float *sp = s + t0 + j * W;
            vi t = first + (t0 + j * W);
            vf e = select_v((t <= last) & (t >= lo_v), expv(loadv(sp) - vmax), zero);
            storev(sp, e);
            sum[j] += e;
        }
    for (int j = 0; j < NV; j++)
        storev(lanes + j * W, sum[j]);
    return 1.0f / lane_sum(lanes);
}

/* out[d] = (sum over t in [lo, pos] of e[t] v[t][d]) * inv for d in [d0, d0 + W * nvec), the accumulators
 * in registers for a constant nvec. */
static ALWAYS_INLINE void value_tile(sd_cache_type vt, const void *v, int hd, int d0, int nvec,
                                     const float *e, int32_t lo, int32_t pos, float inv, float *out) {
    vf acc[VALUE_TILE / W];
    for (int j = 0; j < nvec; j++)
        acc[j] = splat(0.0f);
    for (int32_t t = lo; t <= pos; t++) {
        vf w = splat(e[t]), vs = value_scale(vt, v, hd, t, d0);
        for (int j = 0; j < nvec; j++)
            acc[j] += w * value_vec(vt, v, hd, t, d0 + W * j, vs);
    }
    for (int j = 0; j < nvec; j++)
        storev(out + d0 + W * j, acc[j] * inv);
}

/* The dimensions [d0, hd) that fill no vector, one at a time. */
static void weighted_tail(sd_cache_type vt, const void *v, int hd, int d0, const float *e, int32_t lo,
                          int32_t pos, float inv, float *out) {
    for (; d0 < hd; d0++) {
        float acc = 0.0f;
        for (int32_t t = lo; t <= pos; t++)
            acc += e[t] * value_scalar(vt, v, hd, t, d0);
        out[d0] = acc * inv;
    }
}

static ALWAYS_INLINE void weighted_values(sd_cache_type vt, const void *v, int hd, const float *e, int32_t lo,
                                          int32_t pos, float inv, float *out) {
    int d0 = 0;
    for (; d0 + VALUE_TILE <= hd; d0 += VALUE_TILE)
        value_tile(vt, v, hd, d0, VALUE_TILE / W, e, lo, pos, inv, out);
    for (; d0 + W <= hd; d0 += W)
        value_tile(vt, v, hd, d0, 1, e, lo, pos, inv, out);
    weighted_tail(vt, v, hd, d0, e, lo, pos, inv, out);
}

/* value_tile for two pairs at once (pos_a <= pos_b), both from position 0 (no window), sharing each value
 * load: twice the independent accumulators. Pair b goes on alone over (pos_a, pos_b]. */
static ALWAYS_INLINE void value_tile2(sd_cache_type vt, const void *v, int hd, int d0, int nvec,
                                      const float *ea, int32_t pos_a, float inv_a, float *out_a,
                                      const float *eb, int32_t pos_b, float inv_b, float *out_b) {
    vf acc_a[4], acc_b[4];
    for (int j = 0; j < nvec; j++)
        acc_a[j] = acc_b[j] = splat(0.0f);
    int32_t t = 0;
    for (; t <= pos_a; t++) {
        vf wa = splat(ea[t]), wb = splat(eb[t]), vs = value_scale(vt, v, hd, t, d0);
        for (int j = 0; j < nvec; j++) {
            vf x = value_vec(vt, v, hd, t, d0 + W * j, vs);
            acc_a[j] += wa * x;
            acc_b[j] += wb * x;
        }
    }
    for (; t <= pos_b; t++) {
        vf wb = splat(eb[t]), vs = value_scale(vt, v, hd, t, d0);
        for (int j = 0; j < nvec; j++)
            acc_b[j] += wb * value_vec(vt, v, hd, t, d0 + W * j, vs);
    }
    for (int j = 0; j < nvec; j++) {
        storev(out_a + d0 + W * j, acc_a[j] * inv_a);
        storev(out_b + d0 + W * j, acc_b[j] * inv_b);
    }
}

static ALWAYS_INLINE void weighted_values2(sd_cache_type vt, const void *v, int hd, const float *ea,
                                           int32_t pos_a, float inv_a, float *out_a, const float *eb,
                                           int32_t pos_b, float inv_b, float *out_b) {
    int d0 = 0;
    for (; d0 + 4 * W <= hd; d0 += 4 * W)
        value_tile2(vt, v, hd, d0, 4, ea, pos_a, inv_a, out_a, eb, pos_b, inv_b, out_b);
    for (; d0 + W <= hd; d0 += W)
        value_tile2(vt, v, hd, d0, 1, ea, pos_a, inv_a, out_a, eb, pos_b, inv_b, out_b);
    if (d0 < hd) {
        weighted_tail(vt, v, hd, d0, ea, 0, pos_a, inv_a, out_a);
        weighted_tail(vt, v, hd, d0, eb, 0, pos_b, inv_b, out_b);
    }
}

/* The score pass of a block for keys of type kt (a constant where it is inlined). */
static ALWAYS_INLINE void score_pass(const sd_attention_args *a, sd_cache_type kt, size_t stride) {
    int hd = a->head_dim, g = a->group;
    int32_t np = a->n_rows * g;
    float scale = a->scale;
    for (int32_t p0 = 0; p0 < np; p0 += SCORE_TILE) {
        int n = np - p0 < SCORE_TILE ? (int)(np - p0) : SCORE_TILE;
        const float *q[SCORE_TILE];
        float *s[SCORE_TILE];
        for (int i = 0; i < n; i++) {
            int32_t p = p0 + i;
            q[i] = a->q + (size_t)(p / g) * a->q_row_stride + (size_t)(p % g) * (size_t)hd;
            s[i] = a->scratch + (size_t)p * stride;
        }
        /* Rows grow with p, so the tile's last pair sees the most positions. */
        /* ... and the first the earliest positions of a window. */
        int32_t last_pos = a->pos0 + (p0 + n - 1) / g;
        int32_t t_begin = first_position(a, a->pos0 + p0 / g) / LANES * LANES;
        int32_t t_end = (last_pos + LANES) / LANES * LANES;
        switch (n) {
        case 4:
            score_pairs(kt, a->k, hd, q, s, 4, t_begin, t_end, scale);
            break;
        case 3:
            score_pairs(kt, a->k, hd, q, s, 3, t_begin, t_end, scale);
            break;
        case 2:
            score_pairs(kt, a->k, hd, q, s, 2, t_begin, t_end, scale);
            break;
        default:
            score_pairs(kt, a->k, hd, q, s, 1, t_begin, t_end, scale);
            break;
        }
    }
}

/* Softmax and weighted values of a block for values of type vt (a constant where it is inlined). */
static ALWAYS_INLINE void value_pass(const sd_attention_args *a, sd_cache_type vt, size_t stride) {
    int hd = a->head_dim, g = a->group;
    int32_t np = a->n_rows * g;
    /* Softmax and weighted values; with AVX2 two pairs at a time (rows grow with p: the first sees fewer
     * positions), which measured ~10% faster there and ~10% slower on SSE2 (register pressure); not with a
     * window, whose pairs start at different positions. */
    for (int32_t p = 0; p < np;) {
        int32_t pos = a->pos0 + p / g, lo = first_position(a, pos);
        float *e = a->scratch + (size_t)p * stride;
        float inv = softmax_weights(e, lo, pos, a->softcap);
        float *out = a->out + (size_t)(p / g) * a->out_row_stride + (size_t)(p % g) * (size_t)hd;
        if (!PAIR_VALUES || p + 1 == np || a->window > 0) {
            weighted_values(vt, a->v, hd, e, lo, pos, inv, out);
            p += 1;
            continue;
        }
        int32_t pos_b = a->pos0 + (p + 1) / g;
        float *e_b = e + stride;
        float inv_b = softmax_weights(e_b, 0, pos_b, a->softcap);
        float *out_b =
            a->out + (size_t)((p + 1) / g) * a->out_row_stride + (size_t)((p + 1) % g) * (size_t)hd;
        weighted_values2(vt, a->v, hd, e, pos, inv, out, e_b, pos_b, inv_b, out_b);
        p += 2;
    }
}

void KERNEL(const sd_attention_args *a) {
    size_t stride = sd_attention_padded_positions(a->pos0 + a->n_rows); /* scratch row */
    switch (a->k_type) {
    case SD_CACHE_F16:
        score_pass(a, SD_CACHE_F16, stride);
        break;
    case SD_CACHE_Q8_0:
        score_pass(a, SD_CACHE_Q8_0, stride);
        break;
    default:
        score_pass(a, SD_CACHE_F32, stride);
        break;
    }
    switch (a->v_type) {
    case SD_CACHE_F16:
        value_pass(a, SD_CACHE_F16, stride);
        break;
    case SD_CACHE_Q8_0:
        value_pass(a, SD_CACHE_Q8_0, stride);
        break;
    default:
        value_pass(a, SD_CACHE_F32, stride);
        break;
    }
}

#ifndef SD_ATTENTION_AVX2
void sd_attention_block(const sd_attention_args *a) {
#if defined(__x86_64__) && defined(SD_HAVE_ATTENTION_AVX2)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) {
        sd_attention_block_avx2(a);
        return;
    }
#endif
    sd_attention_block_portable(a);
}

void sd_attention_ref(const sd_attention_args *a) {
    int hd = a->head_dim, g = a->group;
    for (int32_t r = 0; r < a->n_rows; r++)
        for (int j = 0; j < g; j++) {
            int32_t pos = a->pos0 + r, lo = first_position(a, pos);
            const float *q = a->q + (size_t)r * a->q_row_stride + (size_t)j * (size_t)hd;
            float *out = a->out + (size_t)r * a->out_row_stride + (size_t)j * (size_t)hd;
            float *s = a->scratch;
            float max = -INFINITY;
            for (int32_t t = lo; t <= pos; t++) {
                float dot = 0.0f;
                for (int d = 0; d < hd; d++)
                    dot += q[d] * key_scalar(a->k_type, a->k, hd, t, d);
                s[t] = dot * a->scale;
                if (a->softcap > 0.0f) s[t] = a->softcap * tanhf(s[t] * (1.0f / a->softcap));
                if (s[t] > max) max = s[t];
            }
            float sum[LANES] = {0.0f};
            for (int32_t t = lo; t <= pos; t++) {
                s[t] = exp_scalar(s[t] - max);
                sum[t % LANES] += s[t];
            }
            float inv = 1.0f / lane_sum(sum);
            for (int d = 0; d < hd; d++) {
                float acc = 0.0f;
                for (int32_t t = lo; t <= pos; t++)
                    acc += s[t] * value_scalar(a->v_type, a->v, hd, t, d);
                out[d] = acc * inv;
            }
        }
}
#endif
