/* Quantized matrix products: y[n][m] = x[n][k] . W[m][k]^T, for n = 1 (decode) up to hundreds
 * (prefill). Knows nothing of models.
 *
 * Bit-exactness contract: row i of a call with n rows is bit-identical to a call with that row alone,
 * whatever n, the thread count, or the kernel chosen for that n (same operations in the same order per
 * row). Speculative decoding's greedy losslessness rests on this. */
#ifndef SD_GEMM_H
#define SD_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "qtypes.h"
#include "cpu/threadpool.h"

/* Row counts up to which the bit-exactness contract above holds for every weight type. Beyond it (prompt
 * prefill) sd_gemm may multiply f32 / f16 / bf16 weights with OpenBLAS sgemm (when built with it), whose
 * summation order differs: results then match the exact kernels only to rounding. Quantized weight types
 * stay exact for every n. */
#define SD_GEMM_EXACT_MAX_ROWS 64

/* One instruction set's kernels ("scalar", "avx2", "avx512vnni", "neon", ...; kernels.h). */
typedef struct sd_kernel_set sd_kernel_set;

/* Environment variable that forces a kernel set where the caller names none. */
#define SD_KERNELS_ENV "SPECDEC_KERNELS"

/* The kernel set called `name`; for NULL, "" or "auto" the one $SPECDEC_KERNELS names, and where that is
 * unset, empty or "auto" the best this CPU has. Fails with SD_STATUS_UNSUPPORTED (and a message naming
 * the sets it has) for a set this CPU or build lacks, SD_STATUS_INVALID_ARGUMENT for an unknown name. */
int sd_gemm_kernels_select(const char *name, const sd_kernel_set **out, char *err, size_t err_len);

/* The set's name, as sd_gemm_kernels_select takes it. */
const char *sd_gemm_kernels_name(const sd_kernel_set *ks);

/* A weight matrix as it lies in a GGUF file: `rows` rows of `cols` elements of `type`, row-major. */
typedef struct sd_weight {
    sd_type type;
    int64_t rows;     /* m: output features */
    int64_t cols;     /* k: input features; a multiple of the type's block size */
    const void *data; /* rows * row_bytes bytes, not owned (usually the mapped file) */
    size_t row_bytes;
    void *packed;                 /* optional repacked copy made by sd_weight_init, owned by the weight */
    const sd_kernel_set *kernels; /* the set sd_gemm and sd_gemm_multi multiply it with */
} sd_weight;

/* Describes data as a weight matrix multiplied by kernel set ks (and may build a repacked copy for it).
 * Fails with SD_STATUS_UNSUPPORTED for a type the library cannot multiply, SD_STATUS_INVALID_ARGUMENT
 * when cols is not a multiple of the block size. */
int sd_weight_init_with(sd_weight *w, const sd_kernel_set *ks, sd_type type, int64_t rows, int64_t cols,
                        const void *data, char *err, size_t err_len);

/* sd_weight_init_with the set sd_gemm_kernels_select(NULL) gives (and its errors). */
int sd_weight_init(sd_weight *w, sd_type type, int64_t rows, int64_t cols, const void *data, char *err,
                   size_t err_len);
void sd_weight_release(sd_weight *w);

/* Scalar reference dequantization of n elements (n a multiple of the block size) of `type` to fp32. */
void sd_dequantize_row_ref(sd_type type, const void *src, float *dst, int64_t n);

/* Fast dequantization (SIMD where available); same results as the reference. */
void sd_dequantize_row(sd_type type, const void *src, float *dst, int64_t n);

/* Bytes of scratch memory sd_gemm needs for n rows of x against w (the quantized activations, shared by
 * all workers; for n > SD_GEMM_EXACT_MAX_ROWS with f16 / bf16 weights also a dequantized weight chunk). */
size_t sd_gemm_scratch_bytes(const sd_weight *w, int n, int n_workers);

/* y[n][w->rows] = x[n][w->cols] . W^T with the weight's kernel set. x and y are fp32 row-major; scratch holds
 * at least sd_gemm_scratch_bytes(w, n, workers) bytes, 64-byte aligned. pool may be NULL (single thread).
 * Activations are quantized once per call (Q8_0 rows for Q4_0 / Q8_0 weights, Q8_K for Q4_K / Q6_K);
 * f32 / f16 / bf16 weights are widened to fp32 and multiplied with the fp32 activations. Output rows are
 * split across the pool's workers in contiguous chunks. */
void sd_gemm(const sd_weight *w, const float *x, int n, float *y, void *scratch, sd_pool *pool);

/* SwiGLU in place: gate[i] = silu(gate[i]) * up[i], with the fastest kernel set (every set gives the
 * bits of the reference, sd_swiglu_ref in quant.h). */
void sd_swiglu(float *gate, const float *up, int64_t n);

/* Products per sd_gemm_multi call, at most. */
#define SD_GEMM_MULTI_MAX 4

/* Called by a worker once it has computed output columns [r0, r1) of every product of an sd_gemm_multi
 * call, for all n rows: to combine them while they are in its cache (e.g. SwiGLU of gate and up). */
typedef void (*sd_gemm_chunk_fn)(void *ctx, int n, int64_t r0, int64_t r1);

/* Bytes of scratch sd_gemm_multi needs (the quantized activations of every distinct weight type). */
size_t sd_gemm_multi_scratch_bytes(const sd_weight *const *ws, int count, int n, int n_workers);

/* ys[j][n][ws[j]->rows] = x[n][k] . W_j^T for count (1..SD_GEMM_MULTI_MAX) weights of the same width k and
 * kernel set (ws[0]'s is used), in one dispatch of the pool: x is quantized once per weight type, and the
 * workers share the rows of all products. Each product is bit-identical to sd_gemm on it. With chunk_done
 * (then every weight must have the same rows), a work item is the same rows of every product followed by
 * chunk_done on those rows; otherwise chunk_done is NULL. */
void sd_gemm_multi(const sd_weight *const *ws, float *const *ys, int count, const float *x, int n,
                   sd_gemm_chunk_fn chunk_done, void *chunk_ctx, void *scratch, sd_pool *pool);

/* The int8 multiply-accumulate peak of kernel set ks, MACs per second summed over the pool's workers
 * (pool may be NULL: one thread), each running the set's register-only dot-product loop for about
 * `seconds`: the compute roofline of a quantized product. 0 where the set has no such loop. */
double sd_gemm_mac_peak(const sd_kernel_set *ks, sd_pool *pool, double seconds);

/* The same product computed by the scalar reference kernels, single-threaded: the test oracle. */
void sd_gemm_ref(const sd_weight *w, const float *x, int n, float *y);

#endif
