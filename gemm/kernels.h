/* The interface between the GEMM driver (gemm.c) and one instruction set's kernels (scalar, AVX2,
 * AVX-512 VNNI, NEON). Internal to the GEMM library; tests use it to run every kernel set the CPU has.
 *
 * A kernel set quantizes each activation row once into its own layout (act_row_bytes bytes per row;
 * 0 means the kernels read the fp32 rows of x directly), then computes output rows [r0, r1) for all n
 * activation rows. Every set computes each (activation row, output) dot in the order quant.h defines,
 * so all sets give bit-identical results. */
#ifndef SD_GEMM_KERNELS_H
#define SD_GEMM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "gemm.h"

typedef struct sd_kernel_set {
    const char *name; /* "scalar", "avx2", "avx512vnni", "neon", "neon-dotprod" */
    /* Bytes of one quantized activation row of k elements for weights of `type`; 0: use fp32 x. */
    size_t (*act_row_bytes)(sd_type type, int64_t k);
    /* x[k] -> act (act_row_bytes bytes, 64-byte aligned). */
    void (*quantize_act)(sd_type type, const float *x, void *act, int64_t k);
    /* y[i * ldy + r] for i in [0, n), r in [r0, r1). act holds n rows, act_stride bytes apart. */
    void (*rows)(const sd_weight *w, const void *act, size_t act_stride, int n, int64_t r0, int64_t r1,
                 float *y, int64_t ldy);
    /* Fast dequantization, or NULL to use the reference. */
    void (*dequantize)(sd_type type, const void *src, float *dst, int64_t n);
} sd_kernel_set;

extern const sd_kernel_set sd_kernels_scalar;
#if defined(__x86_64__)
extern const sd_kernel_set sd_kernels_avx2;
extern const sd_kernel_set sd_kernels_avx512vnni;
#endif
#if defined(__aarch64__)
extern const sd_kernel_set sd_kernels_neon;
#endif

/* Kernel sets this CPU can run, best first; returns how many (at most max). */
int sd_gemm_kernel_sets(const sd_kernel_set **sets, int max);

/* Bytes of scratch sd_gemm_with needs for kernel set ks. */
size_t sd_gemm_scratch_bytes_with(const sd_kernel_set *ks, const sd_weight *w, int n);

/* sd_gemm with an explicit kernel set (tests compare them all). */
void sd_gemm_with(const sd_kernel_set *ks, const sd_weight *w, const float *x, int n, float *y, void *scratch,
                  sd_pool *pool);

#endif
