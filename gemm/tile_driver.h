/* The tiling driver every SIMD kernel set shares: output rows in groups of R weight rows, activation
 * rows in tiles of T, one call of a tile kernel per (group, tile), so each weight block is loaded and
 * unpacked once per tile and applied to its T activation rows while in registers (R x T accumulators).
 *
 * An ISA file (gemm_x86.c, gemm_neon.c) defines INLINE (always_inline), TMAX, TILE_R2_TMAX (4 or 8 each)
 * and TILE_R4_TMAX (1, 4 or 8), the largest T instantiated with 1, 2 and 4 weight rows, includes this
 * header, and then defines the functions declared below: its tile kernels (inlined into the driver's
 * (R, T) instances, the translation unit being compiled as a whole) and its tile shapes. It gets
 * tile_rows(), the kernel set's rows() for the types it has no special path for. */
#ifndef SD_GEMM_TILE_DRIVER_H
#define SD_GEMM_TILE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* One (weight row group, activation tile) product. */
typedef struct tile_args {
    const uint8_t *w; /* first weight row of the group */
    /* w->packed at the same byte offset as w (a repacked copy keeps each row group where its rows were),
     * or NULL: the ISA's tile kernels know its layout and when they may use it */
    const uint8_t *packed;
    size_t wstride;   /* bytes between weight rows */
    const uint8_t *a; /* row layout: the tile's first activation row; block-major: all n rows */
    size_t astride;   /* row layout: bytes between activation rows */
    int64_t len;      /* blocks per row (quantized) or elements (float) */
    float *y;         /* output of the tile's first activation row at the group's first weight row */
    int64_t ldy;
    int n_all; /* block-major: rows in the activations */
    int t0;    /* block-major: first activation row of the tile */
} tile_args;

/* The ISA's tile kernels: y[t * ldy + r] for weight rows r < R of the group and activation rows t < T
 * of the tile. tile_q4_0 serves Q4_0 (q8 false) and Q8_0 (q8 true); tile_float f32 / f16 / bf16 weights
 * against the fp32 rows of x. */
INLINE void tile_q4_0(const tile_args *p, int R, int T, bool q8);
INLINE void tile_q4_k(const tile_args *p, int R, int T);
INLINE void tile_q6_k(const tile_args *p, int R, int T);
INLINE void tile_float(const tile_args *p, int R, int T, sd_type type);
#ifdef TILE_MORE_TYPES
/* The weight types beyond those every ISA file has, where the file defines TILE_MORE_TYPES (gemm_x86.c:
 * gemm_x86_types.h). */
INLINE void tile_more(const tile_args *p, sd_type type, int R, int T);
#endif

/* The ISA's activation layout and tile shapes. act_block_major: n quantized activation rows lie
 * block-major (block b of row i at b * n + i: a tile's rows of one block behind one pointer) rather than
 * one row after another, act_row_stride(type, k) bytes apart. tile_rows_max: T at most per tile;
 * group_rows: R for tiles of T rows (R x T accumulators plus R unpacked weights must fit the registers). */
static bool act_block_major(sd_type type);
static size_t act_row_stride(sd_type type, int64_t k);
static int tile_rows_max(sd_type type);
static int group_rows(sd_type type, int T);

/* Activation rows of tile `tile` when n rows go in n_tiles tiles as even as possible (9 -> 5 + 4), the
 * earlier tiles having taken `done` rows. */
static inline int tile_len(int n, int done, int n_tiles, int tile) {
    return (n - done) / (n_tiles - tile);
}

INLINE void tile_any(const tile_args *p, sd_type type, const int R, const int T) {
    switch (type) {
    case SD_TYPE_Q4_0:
        tile_q4_0(p, R, T, false);
        break;
    case SD_TYPE_Q8_0:
        tile_q4_0(p, R, T, true);
        break;
    case SD_TYPE_Q4_K:
        tile_q4_k(p, R, T);
        break;
    case SD_TYPE_Q6_K:
        tile_q6_k(p, R, T);
        break;
    /* one instance per float type, so each inner loop knows its load */
    case SD_TYPE_F32:
        tile_float(p, R, T, SD_TYPE_F32);
        break;
    case SD_TYPE_F16:
        tile_float(p, R, T, SD_TYPE_F16);
        break;
    case SD_TYPE_BF16:
        tile_float(p, R, T, SD_TYPE_BF16);
        break;
    default:
#ifdef TILE_MORE_TYPES
        tile_more(p, type, R, T);
#endif
        break;
    }
}

typedef void (*tile_fn)(const tile_args *p, sd_type type);

#define TILE_FN(R, T)                                                                                        \
    static __attribute__((noinline)) void tile_r##R##_t##T(const tile_args *p, sd_type type) {               \
        tile_any(p, type, R, T);                                                                             \
    }
#define TILE_FN_1_TO_4(R) TILE_FN(R, 1) TILE_FN(R, 2) TILE_FN(R, 3) TILE_FN(R, 4)
#define TILE_FN_5_TO_8(R) TILE_FN(R, 5) TILE_FN(R, 6) TILE_FN(R, 7) TILE_FN(R, 8)
#define TILE_LIST_1_TO_4(R) tile_r##R##_t1, tile_r##R##_t2, tile_r##R##_t3, tile_r##R##_t4
#define TILE_LIST_5_TO_8(R) tile_r##R##_t5, tile_r##R##_t6, tile_r##R##_t7, tile_r##R##_t8

/* Instances: R = 1 and 2 for T up to TMAX and TILE_R2_TMAX (4 or 8 each), R = 4 for T up to
 * TILE_R4_TMAX (1, 4 or 8). */
TILE_FN_1_TO_4(1)
TILE_FN_1_TO_4(2)
#if TMAX == 8
TILE_FN_5_TO_8(1)
#endif
#if TILE_R2_TMAX == 8
TILE_FN_5_TO_8(2)
#endif
TILE_FN(4, 1)
#if TILE_R4_TMAX >= 4
TILE_FN(4, 2)
TILE_FN(4, 3)
TILE_FN(4, 4)
#endif
#if TILE_R4_TMAX == 8
TILE_FN_5_TO_8(4)
#endif

/* The (R, T) instance; NULL where none was instantiated (group_rows never asks for it). */
static tile_fn pick_tile(int R, int T) {
    static const tile_fn r1[9] = {
        NULL,
        TILE_LIST_1_TO_4(1),
#if TMAX == 8
        TILE_LIST_5_TO_8(1)
#endif
    };
    static const tile_fn r2[9] = {
        NULL,
        TILE_LIST_1_TO_4(2),
#if TILE_R2_TMAX == 8
        TILE_LIST_5_TO_8(2)
#endif
    };
    static const tile_fn r4[9] = {
        NULL,
        tile_r4_t1,
#if TILE_R4_TMAX >= 4
        tile_r4_t2,
        tile_r4_t3,
        tile_r4_t4,
#endif
#if TILE_R4_TMAX == 8
        TILE_LIST_5_TO_8(4)
#endif
    };
    if (T < 1 || T > 8) return NULL;
    return R == 4 ? r4[T] : R == 2 ? r2[T] : r1[T];
}

/* y[i * ldy + r] for i in [0, n), r in [r0, r1): rows in groups of group_rows(T) (single rows at the end
 * of the range), activations in the fewest tiles of at most tile_rows_max rows. */
static void tile_rows(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1,
                      float *y, int64_t ldy) {
    const bool is_float = w->type == SD_TYPE_F32 || w->type == SD_TYPE_F16 || w->type == SD_TYPE_BF16;
    const int64_t bs = sd_type_traits_of((uint32_t)w->type)->block_size;
    tile_args p = {
        .wstride = w->row_bytes,
        .astride = is_float ? (size_t)w->cols * sizeof(float) : act_row_stride(w->type, w->cols),
        .len = is_float ? w->cols : w->cols / bs,
        .ldy = ldy,
        .n_all = n,
    };
    const uint8_t *abase = is_float ? (const uint8_t *)x : (const uint8_t *)act;
    const bool block_major = !is_float && act_block_major(w->type);
    const int n_tiles = (n + tile_rows_max(w->type) - 1) / tile_rows_max(w->type);
    const int R_max = group_rows(w->type, (n + n_tiles - 1) / n_tiles);
    for (int64_t r = r0; r < r1;) {
        const int R = r + R_max <= r1 ? R_max : 1;
        p.w = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        p.packed = w->packed ? (const uint8_t *)w->packed + (size_t)r * w->row_bytes : NULL;
        for (int i0 = 0, tile = 0; tile < n_tiles; tile++) {
            const int T = tile_len(n, i0, n_tiles, tile);
            p.a = block_major ? abase : abase + (size_t)i0 * p.astride;
            p.t0 = i0;
            p.y = y + (int64_t)i0 * ldy + r;
            pick_tile(R, T)(&p, w->type);
            i0 += T;
        }
        r += R;
    }
}

#endif
