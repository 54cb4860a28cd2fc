/* The interface between the GEMM driver (gemm.c) and one instruction set's kernels (scalar, AVX2,
 * AVX-512 VNNI, NEON). Internal to the GEMM library; tests use it to run every kernel set the CPU has.
 *
 * A kernel set quantizes each activation row once into a layout of its choosing for the whole call
 * (it may depend on n: e.g. rows interleaved in groups so one weight block meets all of them in one
 * cache line run), then computes output rows [r0, r1) for all n activation rows. Every set computes each
 * (activation row, output) dot in the order quant.h defines, so all sets give bit-identical results. */
#ifndef SD_GEMM_KERNELS_H
#define SD_GEMM_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

/* Q4_0 repacked by sd_weight_init for the x86 SIMD sets (rows a multiple of 8): the rows in groups of 8,
 * and for each group its blocks in order, each as the 8 rows' fp16 scales followed by their quants
 * interleaved so that 32-bit lane L of qs[i] holds row L: byte j of the lane carries element 8i + j in
 * its low nibble and element 8i + 4 + j in its high nibble. One 32-byte load and two masks give two
 * vectors of 4 quants per row for 8 rows; a broadcast activation dword meets all 8 rows in one dpbusd, so
 * the lanes are output rows and no horizontal sum is needed. A group's blocks lie in one sequential run
 * of 144-byte records: row group g of a matrix with nb blocks per row starts at record g * nb. */
typedef struct {
    uint16_t d[8];
    uint8_t qs[4][32];
} sd_q4_0_r8;
static_assert(sizeof(sd_q4_0_r8) == 8 * sizeof(sd_block_q4_0), "sd_q4_0_r8 holds 8 Q4_0 blocks");

/* Repacks rows x cols Q4_0 weights (rows % 8 == 0, cols % 32 == 0) from src into dst (same size). */
void sd_q4_0_repack(const void *src, void *dst, int64_t rows, int64_t cols);

/* Q4_K repacked by sd_weight_init for the x86 SIMD sets (rows a multiple of 8): the rows in groups of 8,
 * and for each group its super-blocks in order, each as the 8 rows' fp16 d and dmin, their 12 packed
 * scale bytes transposed (scales[i][r] is byte i of row r's, so one 32-byte load and the masks and
 * shifts that decode one row's scales decode 4 scales or mins of all 8 rows), and their quants by lane:
 * 32-bit lane r of qs[l][p] holds row r's qs[32p + 4l .. 32p + 4l + 3], whose low nibbles are lane l of
 * sub-block 2p in quant.h's order (elements 64p + 4l ..) and high nibbles lane l of sub-block 2p + 1. A
 * broadcast activation dword meets 8 rows in one maddubs, a lane per output row, and qs[l]'s 4 loads
 * complete the lane-l sums S_l of all 8 rows: the 8 per-lane float accumulators of each row become 8
 * vectors over the rows, and the final sum over lanes is 7 vector adds for 8 outputs (the plain layout
 * needs the scale decode, 8 scale shuffles and the float steps once per row, not per 8 rows). Same
 * 1152 bytes as the 8 blocks: row group g of a matrix with nb super-blocks per row starts at record
 * g * nb. */
typedef struct {
    uint16_t d[8], dmin[8];
    uint8_t scales[SD_K_SCALE_SIZE][8];
    uint8_t qs[8][4][32];
} sd_q4_k_r8;
static_assert(sizeof(sd_q4_k_r8) == 8 * sizeof(sd_block_q4_k), "sd_q4_k_r8 holds 8 Q4_K blocks");

/* Repacks rows x cols Q4_K weights (rows % 8 == 0, cols % 256 == 0) from src into dst (same size). */
void sd_q4_k_repack(const void *src, void *dst, int64_t rows, int64_t cols);

/* Q5_K repacked as Q4_K (sd_q4_k_r8, the same kernels), with the fifth bits by lane after the scales:
 * 32-bit lane r of qh[l] holds row r's qh[4l .. 4l + 3], whose bit j is the fifth bit of lane l of
 * sub-block j. Same 1408 bytes as the 8 blocks. */
typedef struct {
    uint16_t d[8], dmin[8];
    uint8_t scales[SD_K_SCALE_SIZE][8];
    uint8_t qh[8][32];
    uint8_t qs[8][4][32];
} sd_q5_k_r8;
static_assert(sizeof(sd_q5_k_r8) == 8 * sizeof(sd_block_q5_k), "sd_q5_k_r8 holds 8 Q5_K blocks");

/* Repacks rows x cols Q5_K weights (rows % 8 == 0, cols % 256 == 0) from src into dst (same size). */
void sd_q5_k_repack(const void *src, void *dst, int64_t rows, int64_t cols);

/* Q6_K repacked as Q4_K (rows in groups of 8, a record per super-block of the group, quants by lane): the
 * 8 rows' fp16 d, their 16 signed scales transposed (scales[j][r] is row r's scale j: one 8-byte load per
 * sub-block for all 8 rows), then the 2 high bits and the low nibbles by lane. 32-bit lane r of qh[l][h]
 * holds row r's qh[32h + 4l .. 32h + 4l + 3], whose bit pair u is above lane l of chunk 4h + u (quant.h's
 * chunks of 32 elements); lane r of ql[l][2h + s] holds row r's ql[64h + 32s + 4l ..], whose low nibbles
 * are lane l of chunk 4h + s and high nibbles lane l of chunk 4h + 2 + s. A broadcast activation dword
 * meets 8 rows in one maddubs, as with Q4_K, and the scale steps and the fma are taken once per 8 rows.
 * Same 1680 bytes as the 8 blocks: row group g of a matrix with nb super-blocks per row starts at record
 * g * nb. */
typedef struct {
    uint16_t d[8];
    int8_t scales[SD_QK_K / 16][8];
    uint8_t qh[8][2][32];
    uint8_t ql[8][4][32];
} sd_q6_k_r8;
static_assert(sizeof(sd_q6_k_r8) == 8 * sizeof(sd_block_q6_k), "sd_q6_k_r8 holds 8 Q6_K blocks");

/* Repacks rows x cols Q6_K weights (rows % 8 == 0, cols % 256 == 0) from src into dst (same size). */
void sd_q6_k_repack(const void *src, void *dst, int64_t rows, int64_t cols);

/* Q4_0 repacked by sd_weight_init for the NEON sets (rows a multiple of 4): the rows in groups of 4, and
 * for each group its blocks in order, each as the 4 rows' fp16 scales followed by qs[2P + h] for row
 * pair P (rows 2P, 2P + 1) and half h: bytes 8h..8h+7 of row 2P's qs, then the same of row 2P + 1, each
 * XOR 0x88 so that every nibble is the signed q - 8. The low nibbles of qs[2P + h] are elements
 * 8h..8h+7 of both rows, the high nibbles elements 16 + 8h..: one shift pair makes the 2 x 8 operand of
 * smmla, and an sdot against an activation group broadcast to both halves gives both rows at once (x86's
 * 8-row lanes do not fit a 4-lane vector with 8-byte groups). Same 72-byte records per group of 4 as the
 * plain rows, so group g starts at record g * nb. */
typedef struct {
    uint16_t d[4];
    uint8_t qs[4][16];
} sd_q4_0_r4;
static_assert(sizeof(sd_q4_0_r4) == 4 * sizeof(sd_block_q4_0), "sd_q4_0_r4 holds 4 Q4_0 blocks");

/* Repacks rows x cols Q4_0 weights (rows % 4 == 0, cols % 32 == 0) from src into dst (same size). */
void sd_q4_0_repack_r4(const void *src, void *dst, int64_t rows, int64_t cols);

typedef struct sd_kernel_set {
    const char *name; /* "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod", "neon-i8mm" */
    /* Whether rows() multiplies weights of a type beyond those every set has (f32, f16, bf16, q4_0, q8_0,
     * q4_K, q6_K); NULL: none. The driver multiplies the others with the scalar set. */
    bool (*has_type)(sd_type type);
    /* Bytes of the quantized activations of n rows of k elements for weights of `type`; 0: the kernels
     * read the fp32 rows of x directly. */
    size_t (*act_bytes)(sd_type type, int64_t k, int n);
    /* Quantizes row i (x[k], fp32) of an n-row call into act (act_bytes bytes, 64-byte aligned). Rows
     * are independent: workers may quantize different rows at once. */
    void (*quantize_act)(sd_type type, const float *x, int64_t k, int n, int i, void *act);
    /* y[i * ldy + r] for i in [0, n), r in [r0, r1). x: the fp32 rows [n][k] (read when act_bytes is 0). */
    void (*rows)(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1, float *y,
                 int64_t ldy);
    /* Fast dequantization, or NULL to use the reference. */
    void (*dequantize)(sd_type type, const void *src, float *dst, int64_t n);
    /* sd_swiglu_ref bit for bit, or NULL to use the reference. */
    void (*swiglu)(float *gate, const float *up, int64_t n);
    /* The compute roofline's loop: `iters` rounds of the set's int8 dot-product instruction sequence on
     * registers only (independent accumulators, no loads); returns the int8 multiply-accumulates done.
     * NULL: not measured for this set. */
    int64_t (*mac_loop)(int64_t iters);
} sd_kernel_set;

extern const sd_kernel_set sd_kernels_scalar;
#if defined(__x86_64__)
extern const sd_kernel_set sd_kernels_avx2;
extern const sd_kernel_set sd_kernels_avx512vnni;
#endif
#if defined(__aarch64__)
extern const sd_kernel_set sd_kernels_neon;         /* ARMv8-A */
extern const sd_kernel_set sd_kernels_neon_dotprod; /* + sdot (HWCAP_ASIMDDP) */
extern const sd_kernel_set sd_kernels_neon_i8mm;    /* + smmla (HWCAP2_I8MM) */
#endif

/* Kernel sets this CPU can run, best first; returns how many (at most max). */
int sd_gemm_kernel_sets(const sd_kernel_set **sets, int max);

/* Bytes of scratch sd_gemm_with needs for kernel set ks. */
size_t sd_gemm_scratch_bytes_with(const sd_kernel_set *ks, const sd_weight *w, int n);

/* sd_gemm with an explicit kernel set (tests compare them all). */
void sd_gemm_with(const sd_kernel_set *ks, const sd_weight *w, const float *x, int n, float *y, void *scratch,
                  sd_pool *pool);

#endif
