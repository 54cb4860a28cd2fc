/* The quantized formats' block structs (one per format, size-asserted) and the fp16 / bf16 conversions.
 * The type ids and their traits table live in common/sd_weight_type.h (the GGUF reader needs them
 * without the kernels). This header knows nothing of models. */
#ifndef SD_QTYPES_H
#define SD_QTYPES_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/sd_weight_type.h"

#define SD_QK4_0 32
#define SD_QK8_0 32
#define SD_QK_K 256 /* super-block size of the K-quants */
#define SD_K_SCALE_SIZE 12

/* Q4_0: 32 weights, value = (q - 8) * d, q in 0..15. Low nibbles hold elements 0..15, high 16..31. */
typedef struct {
    uint16_t d;               /* fp16 scale */
    uint8_t qs[SD_QK4_0 / 2]; /* nibbles */
} sd_block_q4_0;
static_assert(sizeof(sd_block_q4_0) == 18, "Q4_0 block is 18 bytes");

/* Q8_0: 32 weights, value = q * d. Also the per-row activation format for Q4_0/Q8_0 weights. */
typedef struct {
    uint16_t d;          /* fp16 scale */
    int8_t qs[SD_QK8_0]; /* quants */
} sd_block_q8_0;
static_assert(sizeof(sd_block_q8_0) == 34, "Q8_0 block is 34 bytes");

/* Q4_K: 256 weights in 8 sub-blocks of 32; value = d * sc * q - dmin * m, with 6-bit sc and m packed
 * in `scales`. */
typedef struct {
    uint16_t d;                      /* fp16 super-block scale for the sub-block scales */
    uint16_t dmin;                   /* fp16 super-block scale for the sub-block mins */
    uint8_t scales[SD_K_SCALE_SIZE]; /* 8 scales + 8 mins, 6 bits each */
    uint8_t qs[SD_QK_K / 2];         /* 4-bit quants */
} sd_block_q4_k;
static_assert(sizeof(sd_block_q4_k) == 144, "Q4_K block is 144 bytes");

/* Q6_K: 256 weights in 16 sub-blocks of 16; value = d * scale * (q - 32), q 6 bits. */
typedef struct {
    uint8_t ql[SD_QK_K / 2];     /* low 4 bits */
    uint8_t qh[SD_QK_K / 4];     /* high 2 bits */
    int8_t scales[SD_QK_K / 16]; /* 8-bit sub-block scales */
    uint16_t d;                  /* fp16 super-block scale */
} sd_block_q6_k;
static_assert(sizeof(sd_block_q6_k) == 210, "Q6_K block is 210 bytes");

/* Q4_1: 32 weights, value = d * q + m, q in 0..15; nibbles as Q4_0. */
typedef struct {
    uint16_t d, m; /* fp16 scale and offset */
    uint8_t qs[16];
} sd_block_q4_1;
static_assert(sizeof(sd_block_q4_1) == 20, "Q4_1 block is 20 bytes");

/* Q5_0: 32 weights, value = (q - 16) * d, q 5 bits: the nibbles as Q4_0 plus bit e of the
 * little-endian qh as bit 4 of element e. */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
} sd_block_q5_0;
static_assert(sizeof(sd_block_q5_0) == 22, "Q5_0 block is 22 bytes");

/* Q5_1: Q5_0's quants, value = d * q + m. */
typedef struct {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} sd_block_q5_1;
static_assert(sizeof(sd_block_q5_1) == 24, "Q5_1 block is 24 bytes");

/* IQ4_NL: 32 weights, value = d * sd_iq4_values[q], q a nibble placed as in Q4_0. */
typedef struct {
    uint16_t d;
    uint8_t qs[16];
} sd_block_iq4_nl;
static_assert(sizeof(sd_block_iq4_nl) == 18, "IQ4_NL block is 18 bytes");

/* The 16 non-linear levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl). */
static const int8_t sd_iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                         1,    13,   25,  38,  53,  69,  89,  113};

/* Q2_K: 256 weights in 16 groups of 16; value = d * (sc & 15) * q - dmin * (sc >> 4), q 2 bits. Element e:
 * bits 2j..2j+1 of qs[32 (e / 128) + e % 32], j = (e % 128) / 32; group e / 16. */
typedef struct {
    uint8_t scales[SD_QK_K / 16]; /* 4-bit scale (low) and min (high) per group */
    uint8_t qs[SD_QK_K / 4];
    uint16_t d, dmin;
} sd_block_q2_k;
static_assert(sizeof(sd_block_q2_k) == 84, "Q2_K block is 84 bytes");

/* Q3_K: 256 weights in 16 groups of 16; value = d * (sc - 32) * (q - 4), q = the Q2_K-placed 2 bits plus
 * 4 * bit (4 (e / 128) + (e % 128) / 32) of hmask[e % 32]; 16 6-bit scales packed in 12 bytes. */
typedef struct {
    uint8_t hmask[SD_QK_K / 8];
    uint8_t qs[SD_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} sd_block_q3_k;
static_assert(sizeof(sd_block_q3_k) == 110, "Q3_K block is 110 bytes");

/* Q5_K: Q4_K plus a fifth bit: bit (e / 32) of qh[e % 32] is bit 4 of element e. */
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[SD_K_SCALE_SIZE];
    uint8_t qh[SD_QK_K / 8];
    uint8_t qs[SD_QK_K / 2];
} sd_block_q5_k;
static_assert(sizeof(sd_block_q5_k) == 176, "Q5_K block is 176 bytes");

/* IQ4_XS: 256 weights in 8 sub-blocks of 32; value = d * (ls - 32) * sd_iq4_values[q], ls 6 bits (low 4 in
 * scales_l, high 2 in scales_h), each sub-block's nibbles as one IQ4_NL block's. */
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[SD_QK_K / 64];
    uint8_t qs[SD_QK_K / 2];
} sd_block_iq4_xs;
static_assert(sizeof(sd_block_iq4_xs) == 136, "IQ4_XS block is 136 bytes");

/* Q8_K: the per-row activation format for K-quant weights. */
typedef struct {
    float d;                     /* fp32 scale */
    int8_t qs[SD_QK_K];          /* quants */
    int16_t bsums[SD_QK_K / 16]; /* sums of each group of 16 quants */
} sd_block_q8_k;
static_assert(sizeof(sd_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* Byte offsets in a block of `type` of its fp16 super-scale fields: off[0] the scale d, off[1] the min /
 * offset scale (dmin, m) or -1 where the type has none; returns how many (0 for float types). Every other
 * byte of the quantized blocks is quants or sub-block scales, any value valid: tests and benchmarks make
 * random blocks of any type with it. */
static inline int sd_block_fp16_fields(sd_type type, int off[2]) {
    off[0] = off[1] = -1;
    switch (type) {
    case SD_TYPE_Q4_0:
    case SD_TYPE_Q5_0:
    case SD_TYPE_Q8_0:
    case SD_TYPE_IQ4_NL:
    case SD_TYPE_IQ4_XS:
        off[0] = 0;
        return 1;
    case SD_TYPE_Q4_1:
    case SD_TYPE_Q5_1:
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q5_K:
        off[0] = 0;
        off[1] = 2;
        return 2;
    case SD_TYPE_Q2_K:
        off[0] = (int)offsetof(sd_block_q2_k, d);
        off[1] = (int)offsetof(sd_block_q2_k, dmin);
        return 2;
    case SD_TYPE_Q3_K:
        off[0] = (int)offsetof(sd_block_q3_k, d);
        return 1;
    case SD_TYPE_Q6_K:
        off[0] = (int)offsetof(sd_block_q6_k, d);
        return 1;
    default:
        return 0;
    }
}

/* IEEE half <-> single, exact scalar conversions (round to nearest even on the way down). */
static inline float sd_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else { /* subnormal: renormalise */
        int shift = 0;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            shift++;
        }
        mant &= 0x3ffu;
        bits = sign | ((uint32_t)(113 - shift) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t sd_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) { /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    }
    if (absx >= 0x477ff000u) { /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (absx < 0x38800000u) {                          /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000u) return (uint16_t)sign; /* < 2^-25 rounds to zero */
        uint32_t e = absx >> 23;
        uint32_t m = (absx & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14 + (112 - e) + ... : bring to 2^-24 units */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t h = ((absx >> 13) - (112u << 10));
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

/* bfloat16 <-> single: bf16 is the top half of an fp32; rounding to nearest even on the way down. */
static inline float sd_bf16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint16_t sd_fp32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 64u); /* quiet nan */
    return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

#endif
