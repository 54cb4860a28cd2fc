/* GEMM driver: weight descriptors, kernel selection, activation quantization, and the split of output
 * rows across pool workers. The arithmetic lives in the kernel sets (kernels.h). */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "common/sd_common.h"
#include "gemm.h"
#include "kernels.h"
#include "quant.h"

#if SD_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define ACT_ALIGN 64

static size_t align_up(size_t v, size_t a) {
    return (v + a - 1) / a * a;
}

static const sd_kernel_set *best_kernels(void);

/* ---- weights ---- */

int sd_weight_init(sd_weight *w, sd_type type, int64_t rows, int64_t cols, const void *data, char *err,
                   size_t err_len) {
    memset(w, 0, sizeof *w);
    const sd_kernel_set *ks;
    const int rc = sd_gemm_kernels_select(NULL, &ks, err, err_len);
    if (rc != SD_STATUS_OK) return rc;
    return sd_weight_init_with(w, ks, type, rows, cols, data, err, err_len);
}

typedef void (*repack_fn)(const void *src, void *dst, int64_t rows, int64_t cols);

/* The copy kernel set ks reads weights of `type` from, made at load (NULL: it reads the file's rows). */
static repack_fn repack_for(sd_type type, int64_t rows, const sd_kernel_set *ks) {
    if (ks == &sd_kernels_scalar) return NULL;
#if defined(__x86_64__)
    /* The x86 kernels multiply 8 interleaved rows per instruction: Q4_0 (about 2.5x less compute per block
     * than row by row), Q4_K, Q5_K and Q6_K (sd_q4_k_r8, sd_q5_k_r8, sd_q6_k_r8: scales decoded and float
     * steps taken once per 8 rows). */
    if (rows % 8 != 0) return NULL;
    if (type == SD_TYPE_Q4_0) return sd_q4_0_repack;
    if (type == SD_TYPE_Q4_K) return sd_q4_k_repack;
    if (type == SD_TYPE_Q5_K) return sd_q5_k_repack;
    if (type == SD_TYPE_Q6_K) return sd_q6_k_repack;
#elif defined(__aarch64__)
    /* The NEON sets read two rows per operand from 4-row records (sd_q4_0_r4): no shuffles per block */
    if (type == SD_TYPE_Q4_0 && rows % 4 == 0) return sd_q4_0_repack_r4;
#endif
    (void)type, (void)rows;
    return NULL;
}

int sd_weight_init_with(sd_weight *w, const sd_kernel_set *ks, sd_type type, int64_t rows, int64_t cols,
                        const void *data, char *err, size_t err_len) {
    memset(w, 0, sizeof *w);
    const sd_type_traits *t = sd_type_traits_of((uint32_t)type);
    if (!t || !t->supported) {
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "weight type %s cannot be multiplied",
                        t ? t->name : "(unknown)");
    }
    if (rows <= 0 || cols <= 0 || cols % t->block_size != 0) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "weight of %lld x %lld %s: cols must be a positive multiple of %lld", (long long)rows,
                        (long long)cols, t->name, (long long)t->block_size);
    }
    if (!data) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "weight data is NULL");
    if (!ks) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no kernel set given");
    w->kernels = ks;
    w->type = type;
    w->rows = rows;
    w->cols = cols;
    w->data = data;
    w->row_bytes = sd_type_row_bytes((uint32_t)type, cols);
    w->packed = NULL;
    const repack_fn repack = repack_for(type, rows, ks);
    if (repack) { /* without memory the plain layout still works */
        const size_t bytes = w->row_bytes * (size_t)rows;
        w->packed = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (w->packed) repack(data, w->packed, rows, cols);
    }
    return SD_STATUS_OK;
}

/* The x86 8-row records (sd_q4_0_r8, sd_q4_k_r8, sd_q5_k_r8, sd_q6_k_r8): for each group of 8 rows and
 * each block index b, one record of the 8 blocks' bytes, filled row by row by put(record, row r's block
 * b, r). */
typedef void (*put_row_fn)(void *rec, const void *blk, int r);

static void repack_rows8(const void *src, void *dst, int64_t rows, int64_t cols, int64_t block_elems,
                         size_t block_bytes, put_row_fn put) {
    const int64_t nb = cols / block_elems;
    const uint8_t *in = src;
    uint8_t *rec = dst;
    for (int64_t g = 0; g < rows / 8; g++) {
        for (int64_t b = 0; b < nb; b++, rec += 8 * block_bytes) {
            for (int r = 0; r < 8; r++)
                put(rec, in + ((size_t)(g * 8 + r) * (size_t)nb + (size_t)b) * block_bytes, r);
        }
    }
}

/* Row r's parts x 32 bytes to dst [8][parts][32] by quant.h lane: bytes 32p + 4l .. 32p + 4l + 3 (lane l
 * of part p) to 32-bit lane r of dst[l][p]. */
static void lanes_to_row_lane(uint8_t *dst, const uint8_t *src, int parts, int r) {
    for (int l = 0; l < 8; l++) {
        for (int p = 0; p < parts; p++)
            memcpy(dst + ((size_t)l * (size_t)parts + (size_t)p) * 32 + 4 * (size_t)r, src + 32 * p + 4 * l,
                   4);
    }
}

/* Row r's n bytes to column r of dst [n][8]. */
static void bytes_to_column(uint8_t *dst, const void *src, int n, int r) {
    for (int i = 0; i < n; i++)
        dst[8 * i + r] = ((const uint8_t *)src)[i];
}

static void put_q4_0(void *rec, const void *blk, int r) {
    sd_q4_0_r8 *out = rec;
    const sd_block_q4_0 *in = blk;
    out->d[r] = in->d;
    for (int e = 0; e < SD_QK4_0; e++) { /* element e of row r: qs[e / 8][4r + e % 4] */
        const int q = e < 16 ? in->qs[e] & 0xF : in->qs[e - 16] >> 4;
        uint8_t *byte = &out->qs[e / 8][4 * r + e % 4];
        *byte = (uint8_t)(e % 8 < 4 ? (*byte & 0xF0) | q : (*byte & 0x0F) | (q << 4));
    }
}

static void put_q4_k(void *rec, const void *blk, int r) {
    sd_q4_k_r8 *out = rec;
    const sd_block_q4_k *in = blk;
    out->d[r] = in->d;
    out->dmin[r] = in->dmin;
    bytes_to_column(out->scales[0], in->scales, SD_K_SCALE_SIZE, r);
    lanes_to_row_lane(out->qs[0][0], in->qs, 4, r);
}

static void put_q5_k(void *rec, const void *blk, int r) {
    sd_q5_k_r8 *out = rec;
    const sd_block_q5_k *in = blk;
    out->d[r] = in->d;
    out->dmin[r] = in->dmin;
    bytes_to_column(out->scales[0], in->scales, SD_K_SCALE_SIZE, r);
    lanes_to_row_lane(out->qh[0], in->qh, 1, r);
    lanes_to_row_lane(out->qs[0][0], in->qs, 4, r);
}

static void put_q6_k(void *rec, const void *blk, int r) {
    sd_q6_k_r8 *out = rec;
    const sd_block_q6_k *in = blk;
    out->d[r] = in->d;
    bytes_to_column((uint8_t *)out->scales[0], in->scales, SD_QK_K / 16, r);
    lanes_to_row_lane(out->qh[0][0], in->qh, 2, r);
    lanes_to_row_lane(out->ql[0][0], in->ql, 4, r);
}

void sd_q4_0_repack(const void *src, void *dst, int64_t rows, int64_t cols) {
    repack_rows8(src, dst, rows, cols, SD_QK4_0, sizeof(sd_block_q4_0), put_q4_0);
}

void sd_q4_k_repack(const void *src, void *dst, int64_t rows, int64_t cols) {
    repack_rows8(src, dst, rows, cols, SD_QK_K, sizeof(sd_block_q4_k), put_q4_k);
}

void sd_q5_k_repack(const void *src, void *dst, int64_t rows, int64_t cols) {
    repack_rows8(src, dst, rows, cols, SD_QK_K, sizeof(sd_block_q5_k), put_q5_k);
}

void sd_q6_k_repack(const void *src, void *dst, int64_t rows, int64_t cols) {
    repack_rows8(src, dst, rows, cols, SD_QK_K, sizeof(sd_block_q6_k), put_q6_k);
}

void sd_weight_release(sd_weight *w) {
    if (!w) return;
    free(w->packed);
    w->packed = NULL;
}

/* ---- scalar kernel set: the references, on ggml-format activations ---- */

static size_t scalar_row_bytes(sd_type type, int64_t k) {
    switch (sd_act_type_of(type)) {
    case SD_TYPE_Q8_0:
        return (size_t)(k / SD_QK8_0) * sizeof(sd_block_q8_0);
    case SD_TYPE_Q8_K:
        return (size_t)(k / SD_QK_K) * sizeof(sd_block_q8_k);
    default:
        return 0;
    }
}

static size_t scalar_act_bytes(sd_type type, int64_t k, int n) {
    return scalar_row_bytes(type, k) * (size_t)n;
}

static void scalar_quantize_act(sd_type type, const float *x, int64_t k, int n, int i, void *act) {
    (void)n;
    act = (char *)act + (size_t)i * scalar_row_bytes(type, k);
    if (sd_act_type_of(type) == SD_TYPE_Q8_0) sd_quantize_row_q8_0_ref(x, act, k);
    if (sd_act_type_of(type) == SD_TYPE_Q8_K) sd_quantize_row_q8_k_ref(x, act, k);
}

static float scalar_dot(const sd_weight *w, const void *wrow, const void *act, int64_t k) {
    switch (w->type) {
    case SD_TYPE_F32:
        return sd_vec_dot_f32_ref(wrow, act, k);
    case SD_TYPE_F16:
        return sd_vec_dot_f16_f32_ref(wrow, act, k);
    case SD_TYPE_BF16:
        return sd_vec_dot_bf16_f32_ref(wrow, act, k);
    case SD_TYPE_Q4_0:
        return sd_vec_dot_q4_0_q8_0_ref(wrow, act, k);
    case SD_TYPE_Q8_0:
        return sd_vec_dot_q8_0_q8_0_ref(wrow, act, k);
    case SD_TYPE_Q4_K:
        return sd_vec_dot_q4_k_q8_k_ref(wrow, act, k);
    case SD_TYPE_Q6_K:
        return sd_vec_dot_q6_k_q8_k_ref(wrow, act, k);
    case SD_TYPE_Q4_1:
        return sd_vec_dot_q4_1_q8_0_ref(wrow, act, k);
    case SD_TYPE_Q5_0:
        return sd_vec_dot_q5_0_q8_0_ref(wrow, act, k);
    case SD_TYPE_Q5_1:
        return sd_vec_dot_q5_1_q8_0_ref(wrow, act, k);
    case SD_TYPE_IQ4_NL:
        return sd_vec_dot_iq4_nl_q8_0_ref(wrow, act, k);
    case SD_TYPE_Q2_K:
        return sd_vec_dot_q2_k_q8_k_ref(wrow, act, k);
    case SD_TYPE_Q3_K:
        return sd_vec_dot_q3_k_q8_k_ref(wrow, act, k);
    case SD_TYPE_Q5_K:
        return sd_vec_dot_q5_k_q8_k_ref(wrow, act, k);
    case SD_TYPE_IQ4_XS:
        return sd_vec_dot_iq4_xs_q8_k_ref(wrow, act, k);
    default:
        return NAN;
    }
}

static void scalar_rows(const sd_weight *w, const void *act, const float *x, int n, int64_t r0, int64_t r1,
                        float *y, int64_t ldy) {
    size_t act_stride = scalar_row_bytes(w->type, w->cols);
    if (act_stride == 0) {
        act = x;
        act_stride = (size_t)w->cols * sizeof(float);
    }
    for (int64_t r = r0; r < r1; r++) {
        const char *wrow = (const char *)w->data + (size_t)r * w->row_bytes;
        for (int i = 0; i < n; i++) {
            y[i * ldy + r] = scalar_dot(w, wrow, (const char *)act + (size_t)i * act_stride, w->cols);
        }
    }
}

/* Register-only int32 multiply-adds in general-purpose registers (the asm keeps the compiler from
 * vectorizing or folding them): the scalar set's peak, one MAC per multiply. */
static int64_t scalar_mac_loop(int64_t iters) {
    int32_t acc[8] = {0}, a = 3, b = 5;
    for (int64_t i = 0; i < iters; i++) {
        for (int j = 0; j < 8; j++) {
            acc[j] += a * b;
            __asm__ volatile("" : "+r"(acc[j]), "+r"(a), "+r"(b));
        }
    }
    __asm__ volatile("" ::"r"(acc[0] + acc[7]));
    return iters * 8;
}

static bool scalar_has_type(sd_type type) {
    const sd_type_traits *t = sd_type_traits_of((uint32_t)type);
    return t && t->supported;
}

const sd_kernel_set sd_kernels_scalar = {
    .name = "scalar",
    .has_type = scalar_has_type,
    .act_bytes = scalar_act_bytes,
    .quantize_act = scalar_quantize_act,
    .rows = scalar_rows,
    .dequantize = NULL,
    .mac_loop = scalar_mac_loop,
};

/* ---- kernel selection ---- */

int sd_gemm_kernel_sets(const sd_kernel_set **sets, int max) {
    int n = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    const bool avx2 =
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (avx2 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && n < max) {
        sets[n++] = &sd_kernels_avx512vnni;
    }
    if (avx2 && n < max) sets[n++] = &sd_kernels_avx2;
#endif
#if defined(__aarch64__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
    const bool dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    if (dotprod && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) && n < max) sets[n++] = &sd_kernels_neon_i8mm;
    if (dotprod && n < max) sets[n++] = &sd_kernels_neon_dotprod;
    if (n < max) sets[n++] = &sd_kernels_neon;
#endif
    if (n < max) sets[n++] = &sd_kernels_scalar;
    return n;
}

static const sd_kernel_set *best_kernels(void) {
    const sd_kernel_set *sets[1];
    sd_gemm_kernel_sets(sets, 1);
    return sets[0];
}

/* Every set some build may have, so that a name this build or CPU lacks is told apart from a typo. */
static const char *const known_kernel_sets[] = {"scalar", "avx2",         "avx512vnni",
                                                "neon",   "neon-dotprod", "neon-i8mm"};

int sd_gemm_kernels_select(const char *name, const sd_kernel_set **out, char *err, size_t err_len) {
    *out = NULL;
    const char *source = "kernel set ";
    if (!name || !*name || strcmp(name, "auto") == 0) {
        name = getenv(SD_KERNELS_ENV);
        source = SD_KERNELS_ENV "=";
    }
    const sd_kernel_set *sets[8];
    const int n = sd_gemm_kernel_sets(sets, 8);
    if (!name || !*name || strcmp(name, "auto") == 0) {
        *out = sets[0];
        return SD_STATUS_OK;
    }
    char have[96] = "", known[96] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(sets[i]->name, name) == 0) {
            *out = sets[i];
            return SD_STATUS_OK;
        }
        const size_t used = strlen(have);
        snprintf(have + used, sizeof have - used, "%s%s", i ? ", " : "", sets[i]->name);
    }
    bool is_known = false;
    for (size_t i = 0; i < SD_ARRAY_LEN(known_kernel_sets); i++) {
        is_known = is_known || strcmp(known_kernel_sets[i], name) == 0;
        const size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", known_kernel_sets[i]);
    }
    if (is_known) {
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED, "%s%s: this CPU or build lacks it (it has %s)",
                        source, name, have);
    }
    return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "%s%s is unknown (known: %s; this CPU has %s)",
                    source, name, known, have);
}

const char *sd_gemm_kernels_name(const sd_kernel_set *ks) {
    return ks ? ks->name : "none";
}

/* ---- dequantization ---- */

void sd_dequantize_row(sd_type type, const void *src, float *dst, int64_t n) {
    const sd_kernel_set *ks = best_kernels();
    if (ks->dequantize) {
        ks->dequantize(type, src, dst, n);
    } else {
        sd_dequantize_row_ref(type, src, dst, n);
    }
}

void sd_swiglu(float *gate, const float *up, int64_t n) {
    const sd_kernel_set *ks = best_kernels();
    if (ks->swiglu) {
        ks->swiglu(gate, up, n);
    } else {
        sd_swiglu_ref(gate, up, n);
    }
}

/* ---- the product ---- */

/* The types every kernel set multiplies; a set's has_type adds others. */
static bool every_set_has(sd_type type) {
    switch (type) {
    case SD_TYPE_F32:
    case SD_TYPE_F16:
    case SD_TYPE_BF16:
    case SD_TYPE_Q4_0:
    case SD_TYPE_Q8_0:
    case SD_TYPE_Q4_K:
    case SD_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

/* ks, or the scalar set where ks has no kernel for one of the count weights' types: every set computes
 * the same bits, so the fallback changes speed only. */
static const sd_kernel_set *set_for(const sd_kernel_set *ks, const sd_weight *const *ws, int count) {
    for (int j = 0; j < count; j++) {
        if (!every_set_has(ws[j]->type) && !(ks->has_type && ks->has_type(ws[j]->type)))
            return &sd_kernels_scalar;
    }
    return ks;
}

/* Prefill of float weights: OpenBLAS sgemm (measured 4096 x 4096 f32, n = 128, 2 threads: see the report
 * in the commit history). f16 / bf16 rows are widened BLAS_CHUNK_ROWS at a time into scratch. */
#define BLAS_CHUNK_ROWS 128

static bool use_blas(const sd_weight *w, int n) {
#if SD_HAVE_OPENBLAS
    return n > SD_GEMM_EXACT_MAX_ROWS &&
           (w->type == SD_TYPE_F32 || w->type == SD_TYPE_F16 || w->type == SD_TYPE_BF16);
#else
    (void)w;
    (void)n;
    return false;
#endif
}

#if SD_HAVE_OPENBLAS
static void gemm_blas(const sd_weight *w, const float *x, int n, float *y, void *scratch) {
    const int m = (int)w->rows, k = (int)w->cols;
    if (w->type == SD_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w->data, k, 0.0f, y, m);
        return;
    }
    float *wbuf = (float *)align_up((uintptr_t)scratch, ACT_ALIGN);
    for (int r0 = 0; r0 < m; r0 += BLAS_CHUNK_ROWS) {
        const int rows = SD_MIN(BLAS_CHUNK_ROWS, m - r0);
        for (int r = 0; r < rows; r++) {
            sd_dequantize_row(w->type, (const char *)w->data + (size_t)(r0 + r) * w->row_bytes,
                              wbuf + (size_t)r * k, k);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, rows, k, 1.0f, x, k, wbuf, k, 0.0f, y + r0,
                    m);
    }
}
#endif

size_t sd_gemm_scratch_bytes_with(const sd_kernel_set *ks, const sd_weight *w, int n) {
    ks = set_for(ks, &w, 1);
    return ks->act_bytes(w->type, w->cols, n > 0 ? n : 1) + ACT_ALIGN;
}

size_t sd_gemm_scratch_bytes(const sd_weight *w, int n, int n_workers) {
    (void)n_workers; /* activations are quantized once and shared by all workers */
    size_t best = 0;
    if (use_blas(w, n) && w->type != SD_TYPE_F32) {
        best = (size_t)BLAS_CHUNK_ROWS * (size_t)w->cols * sizeof(float) + ACT_ALIGN;
    }
    const sd_kernel_set *sets[8];
    const int count = sd_gemm_kernel_sets(sets, 8);
    for (int i = 0; i < count; i++)
        best = SD_MAX(best, sd_gemm_scratch_bytes_with(sets[i], w, n));
    return best;
}

/* One call's products: up to SD_GEMM_MULTI_MAX weights of the same width multiplied by the same x. */
typedef struct gemm_job {
    const sd_kernel_set *ks;
    const sd_weight *w[SD_GEMM_MULTI_MAX];
    float *y[SD_GEMM_MULTI_MAX];
    void *act[SD_GEMM_MULTI_MAX]; /* n quantized rows in the kernel set's layout for w[j]'s type, or NULL */
    bool quantize[SD_GEMM_MULTI_MAX]; /* w[j] is the first of its type: its act is filled by this call */
    int64_t
        first_item[SD_GEMM_MULTI_MAX + 1]; /* work items of product j: [first_item[j], first_item[j + 1]) */
    int count;
    const float *x;
    int n;
    int64_t chunk;               /* output rows per work item */
    sd_gemm_chunk_fn chunk_done; /* aligned items: rows [r0, r1) of every product, then this */
    void *chunk_ctx;
    atomic_llong next; /* next unclaimed work item */
} gemm_job;

static void quantize_task(void *ctx, int worker, int n_workers) {
    gemm_job *job = ctx;
    int64_t item = 0;
    for (int j = 0; j < job->count; j++) {
        if (!job->quantize[j]) continue;
        const sd_weight *w = job->w[j];
        for (int i = 0; i < job->n; i++, item++) {
            if (item % n_workers != worker) continue;
            job->ks->quantize_act(w->type, job->x + (size_t)i * (size_t)w->cols, w->cols, job->n, i,
                                  job->act[j]);
        }
    }
}

/* Workers claim work items (contiguous chunks of output rows): each streams its weight rows once for all
 * n activation rows, and dynamic claiming absorbs a core slowed by other load. With chunk_done, an item
 * is the same rows of every product followed by the callback on them. */
static void rows_task(void *ctx, int worker, int n_workers) {
    (void)worker;
    (void)n_workers;
    gemm_job *job = ctx;
    const int64_t n_items = job->first_item[job->count];
    for (;;) {
        const int64_t item = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (item >= n_items) break;
        if (job->chunk_done) {
            const int64_t m = job->w[0]->rows, r0 = item * job->chunk, r1 = SD_MIN(m, r0 + job->chunk);
            for (int j = 0; j < job->count; j++)
                job->ks->rows(job->w[j], job->act[j], job->x, job->n, r0, r1, job->y[j], m);
            job->chunk_done(job->chunk_ctx, job->n, r0, r1);
            continue;
        }
        int j = 0;
        while (item >= job->first_item[j + 1])
            j++;
        const int64_t m = job->w[j]->rows, r0 = (item - job->first_item[j]) * job->chunk;
        job->ks->rows(job->w[j], job->act[j], job->x, job->n, r0, SD_MIN(m, r0 + job->chunk), job->y[j], m);
    }
}

static int64_t pick_chunk(int64_t m, int n_workers) {
    /* About 16 items per worker, a multiple of 16 rows (the kernels' row groups): small enough that a
     * worker slowed by another process on its core leaves little tail work for the others. */
    int64_t c = m / ((int64_t)n_workers * 16);
    c = (c + 15) / 16 * 16;
    return SD_MAX(c, 16);
}

/* Index of the first product in ws[0..j) with w's type (whose quantized activations w can share), or j. */
static int same_type_before(const sd_weight *const *ws, int j) {
    for (int i = 0; i < j; i++)
        if (ws[i]->type == ws[j]->type) return i;
    return j;
}

static size_t multi_scratch_bytes_with(const sd_kernel_set *ks, const sd_weight *const *ws, int count,
                                       int n) {
    size_t total = 0;
    ks = set_for(ks, ws, count);
    for (int j = 0; j < count; j++)
        if (same_type_before(ws, j) == j) total += sd_gemm_scratch_bytes_with(ks, ws[j], n);
    return total;
}

static void gemm_multi_with(const sd_kernel_set *ks, const sd_weight *const *ws, float *const *ys, int count,
                            const float *x, int n, sd_gemm_chunk_fn chunk_done, void *chunk_ctx,
                            void *scratch, sd_pool *pool) {
    if (n <= 0 || count <= 0) return;
    ks = set_for(ks, ws, count);
    const int n_workers = pool ? sd_pool_n_workers(pool) : 1;
    gemm_job job = {
        .ks = ks, .count = count, .x = x, .n = n, .chunk_done = chunk_done, .chunk_ctx = chunk_ctx};
    /* One chunk size for all products (the largest one's), so aligned items cover the same rows. */
    int64_t max_rows = 0;
    for (int j = 0; j < count; j++)
        max_rows = SD_MAX(max_rows, ws[j]->rows);
    job.chunk = pick_chunk(max_rows, n_workers);
    uintptr_t free_at = (uintptr_t)scratch;
    bool any_quantize = false;
    for (int j = 0; j < count; j++) {
        job.w[j] = ws[j];
        job.y[j] = ys[j];
        const int same = same_type_before(ws, j);
        if (ks->act_bytes(ws[j]->type, ws[j]->cols, n) == 0) {
            job.act[j] = NULL;
        } else if (same < j) {
            job.act[j] = job.act[same];
        } else {
            job.act[j] = (void *)align_up(free_at, ACT_ALIGN);
            free_at += sd_gemm_scratch_bytes_with(ks, ws[j], n);
            job.quantize[j] = any_quantize = true;
        }
        const int64_t items = chunk_done ? (j == 0 ? (ws[0]->rows + job.chunk - 1) / job.chunk : 0)
                                         : (ws[j]->rows + job.chunk - 1) / job.chunk;
        job.first_item[j + 1] = job.first_item[j] + items;
    }
    atomic_init(&job.next, 0);
    if (any_quantize) {
        if (n >= 4 && n_workers > 1) {
            sd_pool_run(pool, quantize_task, &job);
        } else {
            quantize_task(&job, 0, 1);
        }
    }
    sd_pool_run(pool, rows_task, &job);
}

void sd_gemm_with(const sd_kernel_set *ks, const sd_weight *w, const float *x, int n, float *y, void *scratch,
                  sd_pool *pool) {
    gemm_multi_with(ks, &w, &y, 1, x, n, NULL, NULL, scratch, pool);
}

void sd_gemm(const sd_weight *w, const float *x, int n, float *y, void *scratch, sd_pool *pool) {
#if SD_HAVE_OPENBLAS
    if (use_blas(w, n)) {
        gemm_blas(w, x, n, y, scratch);
        return;
    }
#endif
    sd_gemm_with(w->kernels ? w->kernels : best_kernels(), w, x, n, y, scratch, pool);
}

size_t sd_gemm_multi_scratch_bytes(const sd_weight *const *ws, int count, int n, int n_workers) {
    size_t best = 0;
    for (int j = 0; j < count; j++)
        best = SD_MAX(best, sd_gemm_scratch_bytes(ws[j], n, n_workers));
    const sd_kernel_set *sets[8];
    const int n_sets = sd_gemm_kernel_sets(sets, 8);
    for (int i = 0; i < n_sets; i++)
        best = SD_MAX(best, multi_scratch_bytes_with(sets[i], ws, count, n));
    return best;
}

void sd_gemm_multi(const sd_weight *const *ws, float *const *ys, int count, const float *x, int n,
                   sd_gemm_chunk_fn chunk_done, void *chunk_ctx, void *scratch, sd_pool *pool) {
    bool blas = false;
    for (int j = 0; j < count; j++)
        blas = blas || use_blas(ws[j], n);
    if (!blas) {
        const sd_kernel_set *ks = ws[0]->kernels ? ws[0]->kernels : best_kernels();
        gemm_multi_with(ks, ws, ys, count, x, n, chunk_done, chunk_ctx, scratch, pool);
        return;
    }
    /* Prefill through OpenBLAS: one product at a time, then the callback over all rows. */
    for (int j = 0; j < count; j++)
        sd_gemm(ws[j], x, n, ys[j], scratch, pool);
    if (chunk_done) chunk_done(chunk_ctx, n, 0, ws[0]->rows);
}

typedef struct peak_job {
    const sd_kernel_set *ks;
    int64_t iters;
    _Atomic int64_t macs; /* done by all workers */
} peak_job;

static void peak_task(void *ctx, int worker, int n_workers) {
    (void)worker;
    (void)n_workers;
    peak_job *job = ctx;
    atomic_fetch_add(&job->macs, job->ks->mac_loop(job->iters));
}

double sd_gemm_mac_peak(const sd_kernel_set *ks, sd_pool *pool, double seconds) {
    if (!ks || !ks->mac_loop) return 0.0;
    /* Grow the rounds on one thread until a run lasts a tenth of the time, then run them everywhere. */
    int64_t iters = 1024;
    double t = 0.0;
    for (;;) {
        const double t0 = sd_time_seconds();
        ks->mac_loop(iters);
        t = sd_time_seconds() - t0;
        if (t >= seconds / 10 || iters > ((int64_t)1 << 40)) break;
        iters *= 4;
    }
    peak_job job = {.ks = ks, .iters = (int64_t)((double)iters * seconds / SD_MAX(t, 1e-9))};
    atomic_init(&job.macs, 0);
    const double t0 = sd_time_seconds();
    sd_pool_run(pool, peak_task, &job);
    return (double)atomic_load(&job.macs) / (sd_time_seconds() - t0);
}

void sd_gemm_ref(const sd_weight *w, const float *x, int n, float *y) {
    const sd_kernel_set *ks = &sd_kernels_scalar;
    const size_t row_bytes = ks->act_bytes(w->type, w->cols, 1);
    void *act = row_bytes ? malloc(row_bytes) : NULL;
    if (row_bytes && !act) { /* the oracle has no error path: make the failure impossible to miss */
        for (size_t i = 0; i < (size_t)n * (size_t)w->rows; i++)
            y[i] = NAN;
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * (size_t)w->cols;
        if (act) ks->quantize_act(w->type, xi, w->cols, 1, 0, act);
        ks->rows(w, act, xi, 1, 0, w->rows, y + (size_t)i * (size_t)w->rows, w->rows);
    }
    free(act);
}
