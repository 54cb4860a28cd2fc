/* Causal softmax attention of one KV head over the cache, for a block of consecutive batch rows and every
 * query head that shares that KV head (GQA): each key and value row is read once per block and used by
 * all the (row, query head) pairs whose position covers it.
 *
 * The arithmetic of one (row, query head) pair is fixed and depends only on its own q, its position and
 * the cache, never on the other rows of the block, the block split or the thread count; so a batched pass
 * gives bit-identical rows to token-by-token decoding (the contract of forward.h). For a pair at position
 * pos, with hd = head_dim, lo = 0 (lo = max(0, pos - window + 1) with a sliding window):
 *   s[t]   = (sum over d = 0..hd-1, in order, of q[d] * k[t][d]) * scale,  t = lo..pos
 *   s[t]   = softcap * tanhf(s[t] * (1 / softcap))   (only with softcap > 0: Gemma 2's soft-capping)
 *   m      = max of s[lo..pos] (NaNs skipped)
 *   e[t]   = sd_attention_exp(s[t] - m)
 *   sum    = 8 lane sums (lane = t mod 8, each in t order), added as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))
 *   out[d] = (sum over t = lo..pos, in order, of e[t] * v[t][d]) * (1 / sum)
 * in fp32 without contraction into fused multiply-adds, k[t][d] and v[t][d] being the cache's entries
 * converted to fp32 (exactly: an fp16 half, or a Q8_0 quant times its block's fp16 scale, whose product
 * has at most 19 significant bits). So the cache type changes the inputs (how they were rounded when
 * stored), never the arithmetic. sd_attention_ref spells this out one pair at a time; sd_attention_block is
 * the fast kernel and must match it bit for bit for every cache type. */
#ifndef SD_ATTENTION_H
#define SD_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "specdec.h" /* sd_cache_type */

/* Positions per vector block of the score pass: the key cache is padded to a multiple of this. */
#define SD_ATTN_LANES 8

/* Positions a key cache of n_ctx positions holds: n_ctx rounded up to SD_ATTN_LANES, so the score pass
 * can read whole blocks past the last position. */
size_t sd_attention_padded_positions(int32_t n_ctx);

/* Where key dimension d of position t lies in one KV head's key cache: blocks of SD_ATTN_LANES positions,
 * each [head_dim][SD_ATTN_LANES], so the score pass reads one contiguous stream with the lanes of a vector
 * holding consecutive positions. */
static inline size_t sd_attention_key_index(int head_dim, int32_t t, int d) {
    return ((size_t)(t / SD_ATTN_LANES) * (size_t)head_dim + (size_t)d) * SD_ATTN_LANES +
           (size_t)(t % SD_ATTN_LANES);
}

/* How one KV head's cache of n_ctx positions is laid out, per sd_cache_type (T = padded positions):
 *   keys   F32 float, F16 uint16 (fp16 bits): [T / 8][head_dim][8], at sd_attention_key_index;
 *          Q8_0: [T / 8][head_dim / 32] blocks of {uint16 d[8]; int8 q[32][8]}: position lane l of the
 *          block holds dimensions 32 b .. 32 b + 31 of that position as llama.cpp's block_q8_0 does (scale
 *          d[l], quants q[.][l]), interleaved so the score pass loads 8 positions per vector;
 *   values F32 float, F16 uint16: [n_ctx][head_dim]; Q8_0: [n_ctx][head_dim / 32] of llama.cpp's
 *          block_q8_0 (34 bytes: fp16 scale, 32 int8 quants).
 * Q8_0 needs head_dim a multiple of 32 (sd_attention_cache_type_fits). */
#define SD_ATTN_Q8_BLOCK 32

/* Whether a head of head_dim dimensions can be cached in type t. */
int sd_attention_cache_type_fits(sd_cache_type t, int head_dim);

/* Bytes of one KV head's keys and values for n_ctx positions. */
size_t sd_attention_key_bytes(sd_cache_type t, int head_dim, int32_t n_ctx);
size_t sd_attention_value_bytes(sd_cache_type t, int head_dim, int32_t n_ctx);

/* Stores x[head_dim] (fp32) as position t of one head's keys (values), rounded to type t. */
void sd_attention_store_key(sd_cache_type type, void *k, int head_dim, int32_t t, const float *x);
void sd_attention_store_value(sd_cache_type type, void *v, int head_dim, int32_t t, const float *x);

/* Entry d of position t, converted to fp32 as the kernels see it. */
float sd_attention_key_at(sd_cache_type type, const void *k, int head_dim, int32_t t, int d);
float sd_attention_value_at(sd_cache_type type, const void *v, int head_dim, int32_t t, int d);

/* Batch rows one kernel call takes for a KV group of `group` query heads: keeps (rows * group) pairs,
 * and so the scratch, bounded. At least 1, at most max_batch. */
int32_t sd_attention_block_rows(int group, int32_t max_batch);

/* Scratch floats one kernel call needs at most: [block_rows * group][padded n_ctx]. */
size_t sd_attention_scratch_floats(int group, int32_t max_batch, int32_t n_ctx);

typedef struct sd_attention_args {
    /* This KV head's keys, in k_type's layout. Entries past the last attended position up to its
     * SD_ATTN_LANES block end are read (their scores are discarded) and should hold defined values. */
    const void *k;
    const void *v; /* this KV head's values, in v_type's layout */
    sd_cache_type k_type, v_type;
    int head_dim;
    int group; /* query heads sharing this KV head */
    /* q of row r, query head j of the group: q[r * q_row_stride + j * head_dim]; out likewise. */
    const float *q;
    float *out;
    size_t q_row_stride, out_row_stride;
    int32_t n_rows; /* rows in this block, at most sd_attention_block_rows */
    int32_t pos0;   /* position of row 0: row r attends positions 0..pos0 + r (or its window of them) */
    float scale;    /* scores are q.k times this, usually 1 / sqrt(head_dim) */
    int32_t window; /* > 0: a row at pos attends positions pos - window + 1 .. pos only; 0: all */
    float softcap;  /* > 0: scores s become softcap * tanhf(s * (1 / softcap)) before the softmax; 0: none */
    /* [n_rows * group][padded (pos0 + n_rows)] floats, at most sd_attention_scratch_floats */
    float *scratch;
} sd_attention_args;

/* The fast kernel: every (row, query head) pair of the block. Runs the AVX2 build (with F16C for fp16
 * caches) where the x86-64 CPU has both, else the portable one (4 lanes: SSE2, NEON); both give the same
 * bits. */
void sd_attention_block(const sd_attention_args *a);
void sd_attention_block_portable(const sd_attention_args *a);
void sd_attention_block_avx2(const sd_attention_args *a); /* x86-64 only, CPUs with AVX2 and F16C */

/* The scalar reference: the same result, one pair at a time, plain loops. */
void sd_attention_ref(const sd_attention_args *a);

/* e^x for the softmax, in portable fp32 (range reduction by ln 2, degree-7 polynomial, exponent bits) that
 * compilers vectorize, unlike a call to expf: within a few ulp of expf for x in [-87, 0], 0 below -87 (and
 * for -inf), NaN for NaN. Meant for x <= 0 (a score minus the maximum); larger x is clamped to 0. */
float sd_attention_exp(float x);

#endif
