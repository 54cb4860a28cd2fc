/* GEMM tests: every kernel set the CPU has (scalar, AVX2, AVX-512 VNNI, NEON) against sd_gemm_ref, bit
 * for bit, for every supported weight type; row i of an n-row call equal to the single-row result for
 * n = 1..64 and 1, 2, 3 threads; the reference itself against a double-precision product of the
 * dequantized operands; adversarial weights and activations; argument errors of sd_weight_init. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "gemm/gemm.h"
#include "gemm/kernels.h"
#include "gemm/quant.h"
#include "tests/test_util.h"

#define MAX_N 64

/* The NEON sets repack Q4_0 in groups of 4 rows (sd_q4_0_r4), x86 in groups of 8 (sd_q4_0_r8). */
#if defined(__aarch64__)
#define SD_ARM_PACKED 1
#else
#define SD_ARM_PACKED 0
#endif

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Uniform in [-1, 1). */
static float frnd(void) {
    return (float)(rnd() % 2000001u) / 1000000.0f - 1.0f;
}

static const sd_type all_types[] = {SD_TYPE_F32,  SD_TYPE_F16,  SD_TYPE_BF16,   SD_TYPE_Q4_0, SD_TYPE_Q8_0,
                                    SD_TYPE_Q4_K, SD_TYPE_Q6_K, SD_TYPE_Q4_1,   SD_TYPE_Q5_0, SD_TYPE_Q5_1,
                                    SD_TYPE_Q2_K, SD_TYPE_Q3_K, SD_TYPE_IQ4_NL, SD_TYPE_Q5_K, SD_TYPE_IQ4_XS};

typedef enum { FILL_RANDOM, FILL_MAX, FILL_MIN, FILL_ZERO_SCALE } fill_mode;

/* Random weights of a type; scales are finite and moderate so products stay finite. */
static void fill_weights(sd_type type, void *data, int64_t rows, int64_t cols, fill_mode mode) {
    const size_t row_bytes = sd_type_row_bytes((uint32_t)type, cols);
    uint8_t *p = data;
    for (size_t i = 0; i < row_bytes * (size_t)rows; i++)
        p[i] = (uint8_t)rnd();
    const int64_t n = rows * cols;
    const uint16_t scale_lo = sd_fp32_to_fp16(0.01f * (1.0f + frnd()));
    switch (type) {
    case SD_TYPE_F32:
        for (int64_t i = 0; i < n; i++)
            ((float *)data)[i] = mode == FILL_RANDOM ? frnd() : 1.0f;
        break;
    case SD_TYPE_F16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)data)[i] = sd_fp32_to_fp16(mode == FILL_RANDOM ? frnd() : -1.0f);
        break;
    case SD_TYPE_BF16:
        for (int64_t i = 0; i < n; i++)
            ((uint16_t *)data)[i] = sd_fp32_to_bf16(mode == FILL_RANDOM ? frnd() : 1.0f);
        break;
    case SD_TYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; b++) {
            sd_block_q4_0 *blk = (sd_block_q4_0 *)data + b;
            blk->d = mode == FILL_ZERO_SCALE ? 0 : sd_fp32_to_fp16(0.05f * frnd());
            if (mode == FILL_MAX) memset(blk->qs, 0xFF, sizeof blk->qs);
            if (mode == FILL_MIN) memset(blk->qs, 0x00, sizeof blk->qs);
        }
        break;
    case SD_TYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) {
            sd_block_q8_0 *blk = (sd_block_q8_0 *)data + b;
            blk->d = mode == FILL_ZERO_SCALE ? 0 : sd_fp32_to_fp16(0.01f * frnd());
            if (mode == FILL_MAX) memset(blk->qs, 127, sizeof blk->qs);
            if (mode == FILL_MIN)
                memset(blk->qs, 0x80, sizeof blk->qs); /* -128: not made by ggml, but legal */
        }
        break;
    case SD_TYPE_Q4_K:
        for (int64_t b = 0; b < n / SD_QK_K; b++) {
            sd_block_q4_k *blk = (sd_block_q4_k *)data + b;
            blk->d = mode == FILL_ZERO_SCALE ? 0 : scale_lo;
            blk->dmin = mode == FILL_ZERO_SCALE ? 0 : sd_fp32_to_fp16(0.01f * frnd());
            if (mode == FILL_MAX) {
                memset(blk->qs, 0xFF, sizeof blk->qs);
                memset(blk->scales, 0xFF, sizeof blk->scales);
            }
            if (mode == FILL_MIN) memset(blk->qs, 0x00, sizeof blk->qs);
        }
        break;
    case SD_TYPE_Q6_K:
        for (int64_t b = 0; b < n / SD_QK_K; b++) {
            sd_block_q6_k *blk = (sd_block_q6_k *)data + b;
            blk->d = mode == FILL_ZERO_SCALE ? 0 : sd_fp32_to_fp16(0.001f * frnd());
            if (mode == FILL_MAX) {
                memset(blk->ql, 0xFF, sizeof blk->ql);
                memset(blk->qh, 0xFF, sizeof blk->qh);
                memset(blk->scales, 127, sizeof blk->scales);
            }
            if (mode == FILL_MIN) {
                memset(blk->ql, 0, sizeof blk->ql);
                memset(blk->qh, 0, sizeof blk->qh);
                memset(blk->scales, 0x80, sizeof blk->scales); /* -128 */
            }
        }
        break;
    default: { /* the types added for llama-quantize's mixes: all-0xFF / all-zero blocks are the extremes */
        const sd_type_traits *t = sd_type_traits_of((uint32_t)type);
        int off[2];
        sd_block_fp16_fields(type, off);
        for (int64_t b = 0; b < n / t->block_size; b++) {
            uint8_t *blk = p + (size_t)b * t->type_size;
            if (mode == FILL_MAX) memset(blk, 0xFF, t->type_size);
            if (mode == FILL_MIN) memset(blk, 0x00, t->type_size);
            for (int j = 0; j < 2; j++) {
                if (off[j] < 0) continue;
                const uint16_t h =
                    mode == FILL_ZERO_SCALE ? 0 : sd_fp32_to_fp16((j ? 0.01f : 0.002f) * frnd());
                memcpy(blk + off[j], &h, sizeof h);
            }
        }
        break;
    }
    }
}

typedef enum { X_RANDOM, X_ZERO_ROWS, X_HUGE, X_TINY, X_HALVES } x_mode;

static void fill_x(float *x, int n, int64_t k, x_mode mode) {
    for (int i = 0; i < n; i++) {
        for (int64_t e = 0; e < k; e++) {
            float v = frnd();
            switch (mode) {
            case X_ZERO_ROWS:
                if (i % 2 == 0) v = 0.0f;
                break;
            case X_HUGE:
                v *= 1e15f;
                break;
            case X_TINY:
                v *= 1e-30f;
                break;
            case X_HALVES: /* amax 127 per block so x * (1/d) lands on exact .5 ties */
                v = e % 32 == 0 ? 127.0f : (float)((int)(rnd() % 255) - 127) + 0.5f;
                break;
            default:
                break;
            }
            x[(size_t)i * (size_t)k + (size_t)e] = v;
        }
    }
}

static int first_mismatch(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0) return (int)i;
    }
    return -1;
}

static sd_pool *pools[4]; /* pools[t]: t threads (pools[1] is NULL-pool inline execution) */

/* Every kernel set (SD_TEST_GEMM_SETS=best: the one the CPU selects only, for a CPU model whose sets
 * another run tests already), n rows, thread count: compare with the reference rows (bit for bit). */
static void check_all_kernels(const sd_weight *w, const float *x, const float *yref, const int *ns, int n_ns,
                              const char *what) {
    const sd_kernel_set *sets[8];
    const char *only = getenv("SD_TEST_GEMM_SETS");
    const int n_sets = sd_gemm_kernel_sets(sets, only && strcmp(only, "best") == 0 ? 1 : 8);
    const int64_t m = w->rows;
    float *y = malloc(sizeof(float) * (size_t)m * MAX_N);
    size_t scratch_bytes = sd_gemm_scratch_bytes(w, MAX_N, 3);
    void *scratch = aligned_alloc(64, (scratch_bytes + 63) / 64 * 64);
    for (int s = 0; s < n_sets; s++) {
        CHECK(sd_gemm_scratch_bytes_with(sets[s], w, MAX_N) <= scratch_bytes, "scratch size of %s",
              sets[s]->name);
        for (int in = 0; in < n_ns; in++) {
            const int n = ns[in];
            /* the scalar set runs the references themselves, row by row: two counts suffice */
            if (sets[s] == &sd_kernels_scalar && in != 0 && in != n_ns - 1) continue;
            for (int threads = 1; threads <= 3; threads++) {
                for (size_t i = 0; i < (size_t)m * (size_t)n; i++)
                    y[i] = NAN;
                sd_gemm_with(sets[s], w, x, n, y, scratch, threads == 1 ? NULL : pools[threads]);
                const int bad = first_mismatch(y, yref, (size_t)m * (size_t)n);
                CHECK(bad < 0, "%s %s %s m=%lld k=%lld n=%d threads=%d: row %d col %d: %.9g != ref %.9g",
                      what, sd_type_traits_of(w->type)->name, sets[s]->name, (long long)m, (long long)w->cols,
                      n, threads, bad < 0 ? 0 : bad / (int)m, bad < 0 ? 0 : bad % (int)m,
                      bad < 0 ? 0.0 : y[bad], bad < 0 ? 0.0 : yref[bad]);
            }
        }
    }
    /* the public entry point picks the best set */
    sd_gemm(w, x, ns[n_ns - 1], y, scratch, pools[2]);
    const int bad = first_mismatch(y, yref, (size_t)m * (size_t)ns[n_ns - 1]);
    CHECK(bad < 0, "%s %s sd_gemm differs from reference at %d", what, sd_type_traits_of(w->type)->name, bad);
    free(scratch);
    free(y);
}

/* sd_gemm_ref against a double-precision product of the dequantized weight and the activations as the
 * kernels see them (quantized per row, then dequantized). */
static void check_ref_vs_double(const sd_weight *w, const float *x, int n, const float *yref) {
    const int64_t k = w->cols, m = w->rows;
    float *wf = malloc(sizeof(float) * (size_t)k);
    float *xf = malloc(sizeof(float) * (size_t)k);
    void *xq = malloc((size_t)(k / 32 + 1) * sizeof(sd_block_q8_k) * 8 + 64);
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * (size_t)k;
        switch (sd_act_type_of(w->type)) {
        case SD_TYPE_Q8_0:
            sd_quantize_row_q8_0_ref(xi, xq, k);
            sd_dequantize_row_ref(SD_TYPE_Q8_0, xq, xf, k);
            break;
        case SD_TYPE_Q8_K:
            sd_quantize_row_q8_k_ref(xi, xq, k);
            for (int64_t b = 0; b < k / SD_QK_K; b++) {
                const sd_block_q8_k *blk = (const sd_block_q8_k *)xq + b;
                for (int e = 0; e < SD_QK_K; e++)
                    xf[b * SD_QK_K + e] = blk->d * (float)blk->qs[e];
            }
            break;
        default:
            memcpy(xf, xi, sizeof(float) * (size_t)k);
            break;
        }
        for (int64_t r = 0; r < m; r++) {
            sd_dequantize_row_ref(w->type, (const char *)w->data + (size_t)r * w->row_bytes, wf, k);
            double dot = 0.0, mag = 0.0;
            for (int64_t e = 0; e < k; e++) {
                dot += (double)wf[e] * (double)xf[e];
                mag += fabs((double)wf[e] * (double)xf[e]);
            }
            const double got = yref[(size_t)i * (size_t)m + (size_t)r];
            CHECK(fabs(got - dot) <= 1e-5 * mag + 1e-30,
                  "%s ref row %d col %lld: %.9g vs double %.9g (mag %.3g)", sd_type_traits_of(w->type)->name,
                  i, (long long)r, got, dot, mag);
        }
    }
    free(wf);
    free(xf);
    free(xq);
}

static void run_case(sd_type type, int64_t m, int64_t k, fill_mode wmode, x_mode xmode, const int *ns,
                     int n_ns, const char *what) {
    const size_t row_bytes = sd_type_row_bytes((uint32_t)type, k);
    void *data = malloc(row_bytes * (size_t)m);
    fill_weights(type, data, m, k, wmode);
    sd_weight w;
    char err[128];
    int rc = sd_weight_init(&w, type, m, k, data, err, sizeof err);
    CHECK(rc == SD_STATUS_OK, "sd_weight_init %s: %s", sd_type_traits_of(type)->name, err);
    if (rc == SD_STATUS_OK) {
        const int n_max = ns[n_ns - 1];
        float *x = malloc(sizeof(float) * (size_t)k * (size_t)n_max);
        float *yref = malloc(sizeof(float) * (size_t)m * (size_t)n_max);
        fill_x(x, n_max, k, xmode);
        sd_gemm_ref(&w, x, n_max, yref);
        if (xmode == X_RANDOM || xmode == X_HALVES) check_ref_vs_double(&w, x, SD_MIN(n_max, 3), yref);
        check_all_kernels(&w, x, yref, ns, n_ns, what);
        free(x);
        free(yref);
    }
    sd_weight_release(&w);
    free(data);
}

/* Above SD_GEMM_EXACT_MAX_ROWS, sd_gemm may take another summation order (OpenBLAS for float weights):
 * it must still be the right product, to 1e-5 of sum |w x| per output. */
static void test_prefill(sd_type type) {
    const int64_t m = 70, k = 256;
    const int n = SD_GEMM_EXACT_MAX_ROWS + 7;
    void *data = malloc(sd_type_row_bytes((uint32_t)type, k) * (size_t)m);
    fill_weights(type, data, m, k, FILL_RANDOM);
    sd_weight w;
    char err[128];
    if (sd_weight_init(&w, type, m, k, data, err, sizeof err) != SD_STATUS_OK) {
        CHECK(0, "prefill init: %s", err);
        free(data);
        return;
    }
    float *x = malloc(sizeof(float) * (size_t)(n * k)), *y = malloc(sizeof(float) * (size_t)(n * m));
    float *yref = malloc(sizeof(float) * (size_t)(n * m)), *wf = malloc(sizeof(float) * (size_t)k);
    fill_x(x, n, k, X_RANDOM);
    const size_t bytes = sd_gemm_scratch_bytes(&w, n, 2);
    void *scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
    sd_gemm(&w, x, n, y, scratch, pools[2]);
    sd_gemm_ref(&w, x, n, yref);
    for (int64_t r = 0; r < m; r++) {
        sd_dequantize_row_ref(type, (const char *)data + (size_t)r * w.row_bytes, wf, k);
        for (int i = 0; i < n; i++) {
            double mag = 0.0;
            for (int64_t e = 0; e < k; e++)
                mag += fabs((double)wf[e] * (double)x[i * k + e]);
            const double got = y[i * m + r], want = yref[i * m + r];
            CHECK(fabs(got - want) <= 1e-5 * mag, "prefill %s row %d col %lld: %.9g vs %.9g",
                  sd_type_traits_of(type)->name, i, (long long)r, got, want);
        }
    }
    free(scratch);
    free(x);
    free(y);
    free(yref);
    free(wf);
    sd_weight_release(&w);
    free(data);
}

static void test_init_errors(void) {
    sd_weight w;
    char err[128] = "";
    static const uint8_t dummy[4096];
    CHECK(sd_weight_init(&w, SD_TYPE_IQ2_XXS, 4, 256, dummy, err, sizeof err) == SD_STATUS_UNSUPPORTED,
          "iq2_xxs");
    CHECK(strlen(err) > 0, "no message for unsupported type");
    CHECK(sd_weight_init(&w, (sd_type)5, 4, 32, dummy, err, sizeof err) == SD_STATUS_UNSUPPORTED,
          "type id 5");
    CHECK(sd_weight_init(&w, SD_TYPE_Q4_0, 4, 48, dummy, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "cols 48 for q4_0");
    CHECK(sd_weight_init(&w, SD_TYPE_Q6_K, 4, 128, dummy, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "cols 128 for q6_K");
    CHECK(sd_weight_init(&w, SD_TYPE_F32, 0, 8, dummy, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "rows 0");
    CHECK(sd_weight_init(&w, SD_TYPE_F32, 1, 8, NULL, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "NULL data");
    CHECK(sd_weight_init(&w, SD_TYPE_F16, 3, 7, dummy, err, sizeof err) == SD_STATUS_OK, "f16 3 x 7");
    CHECK(w.row_bytes == 14, "f16 row bytes %zu", w.row_bytes);
    sd_weight_release(&w);
    /* the repacked Q4_0 copy holds the same bytes, permuted: 16 rows x 64 cols = 2 groups x 2 blocks */
    enum { PR = 16, PB = 2 };
    static uint8_t q4[PR * PB * sizeof(sd_block_q4_0)];
    for (size_t i = 0; i < sizeof q4; i++)
        q4[i] = (uint8_t)rnd();
    CHECK(sd_weight_init(&w, SD_TYPE_Q4_0, PR, PB * 32, q4, err, sizeof err) == SD_STATUS_OK, "q4_0 16 x 64");
#if defined(__x86_64__)
    { /* the x86 SIMD sets read the repacked copy; elsewhere there is none */
        const sd_kernel_set *best[1];
        sd_gemm_kernel_sets(best, 1);
        CHECK(w.packed != NULL || best[0] == &sd_kernels_scalar, "q4_0 not repacked for %s", best[0]->name);
    }
#elif defined(__aarch64__)
    { /* the NEON sets read the 4-row copy (sd_q4_0_r4): the same bytes, pairs of rows interleaved */
        CHECK(w.packed != NULL, "q4_0 not repacked for NEON");
        const sd_q4_0_r4 *pk = w.packed;
        const sd_block_q4_0 *blk = (const sd_block_q4_0 *)q4;
        for (int r = 0; pk && r < PR; r++) {
            for (int b = 0; b < PB; b++) {
                const sd_block_q4_0 *src = &blk[r * PB + b];
                const sd_q4_0_r4 *rec = &pk[(r / 4) * PB + b];
                CHECK(rec->d[r % 4] == src->d, "r4 scale of row %d block %d", r, b);
                for (int i = 0; i < 16; i++) {
                    const int got = rec->qs[2 * (r % 4 / 2) + i / 8][8 * (r % 2) + i % 8] ^ 0x88;
                    CHECK(got == src->qs[i], "r4 row %d block %d byte %d: %d != %d", r, b, i, got,
                          src->qs[i]);
                }
            }
        }
    }
#else
    CHECK(w.packed == NULL, "q4_0 repacked without SIMD kernels");
#endif
    if (w.packed && !SD_ARM_PACKED) {
        const sd_q4_0_r8 *pk = w.packed;
        const sd_block_q4_0 *blk = (const sd_block_q4_0 *)q4;
        for (int r = 0; r < PR; r++) {
            for (int b = 0; b < PB; b++) {
                const sd_block_q4_0 *src = &blk[r * PB + b];
                const sd_q4_0_r8 *rec = &pk[(r / 8) * PB + b];
                CHECK(rec->d[r % 8] == src->d, "packed scale of row %d block %d", r, b);
                for (int e = 0; e < 32; e++) {
                    const int want = e < 16 ? src->qs[e] & 0xF : src->qs[e - 16] >> 4;
                    const int got = (rec->qs[e / 8][4 * (r % 8) + e % 4] >> (e % 8 < 4 ? 0 : 4)) & 0xF;
                    CHECK(got == want, "packed row %d block %d element %d: %d != %d", r, b, e, got, want);
                }
            }
        }
    }
    sd_weight_release(&w);
    /* rows not a multiple of 8 (x86) or 4 (NEON) keep the plain layout */
    CHECK(sd_weight_init(&w, SD_TYPE_Q4_0, 12 - 2 * SD_ARM_PACKED, 32, q4, err, sizeof err) == SD_STATUS_OK,
          "q4_0 12 x 32");
    CHECK(w.packed == NULL, "q4_0 with 12 rows repacked");
    sd_weight_release(&w);
    CHECK(w.packed == NULL, "release clears packed");
#if defined(__x86_64__)
    { /* Q4_K on the x86 SIMD sets (sd_q4_k_r8): 16 rows x 512 cols = 2 groups x 2 super-blocks, the
       * same bytes with each row's scales transposed and its quants in 32-bit lanes */
        enum { KR = 16, KB = 2 };
        static uint8_t q4k[KR * KB * sizeof(sd_block_q4_k)];
        for (size_t i = 0; i < sizeof q4k; i++)
            q4k[i] = (uint8_t)rnd();
        const sd_kernel_set *best[1];
        sd_gemm_kernel_sets(best, 1);
        CHECK(sd_weight_init(&w, SD_TYPE_Q4_K, KR, KB * SD_QK_K, q4k, err, sizeof err) == SD_STATUS_OK,
              "q4_K 16 x 512");
        CHECK(w.packed != NULL || best[0] == &sd_kernels_scalar, "q4_K not repacked for %s", best[0]->name);
        const sd_q4_k_r8 *pk = w.packed;
        for (int r = 0; pk && r < KR; r++) {
            for (int b = 0; b < KB; b++) {
                const sd_block_q4_k *src = (const sd_block_q4_k *)q4k + r * KB + b;
                const sd_q4_k_r8 *rec = &pk[(r / 8) * KB + b];
                CHECK(rec->d[r % 8] == src->d && rec->dmin[r % 8] == src->dmin, "q4_K scales row %d", r);
                for (int i = 0; i < SD_K_SCALE_SIZE; i++)
                    CHECK(rec->scales[i][r % 8] == src->scales[i], "q4_K row %d scale byte %d", r, i);
                for (int i = 0; i < SD_QK_K / 2; i++) { /* byte i: lane (i % 32) / 4 of pair i / 32 */
                    const int got = rec->qs[(i % 32) / 4][i / 32][4 * (r % 8) + i % 4];
                    CHECK(got == src->qs[i], "q4_K row %d block %d byte %d: %d != %d", r, b, i, got,
                          src->qs[i]);
                }
            }
        }
        sd_weight_release(&w);
        /* Q5_K (sd_q5_k_r8): the same, and the fifth bits by lane */
        static uint8_t q5k[KR * KB * sizeof(sd_block_q5_k)];
        for (size_t i = 0; i < sizeof q5k; i++)
            q5k[i] = (uint8_t)rnd();
        CHECK(sd_weight_init(&w, SD_TYPE_Q5_K, KR, KB * SD_QK_K, q5k, err, sizeof err) == SD_STATUS_OK,
              "q5_K 16 x 512");
        CHECK(w.packed != NULL || best[0] == &sd_kernels_scalar, "q5_K not repacked for %s", best[0]->name);
        const sd_q5_k_r8 *pk5 = w.packed;
        for (int r = 0; pk5 && r < KR; r++) {
            for (int b = 0; b < KB; b++) {
                const sd_block_q5_k *src = (const sd_block_q5_k *)q5k + r * KB + b;
                const sd_q5_k_r8 *rec = &pk5[(r / 8) * KB + b];
                CHECK(rec->d[r % 8] == src->d && rec->dmin[r % 8] == src->dmin, "q5_K scales row %d", r);
                for (int i = 0; i < SD_K_SCALE_SIZE; i++)
                    CHECK(rec->scales[i][r % 8] == src->scales[i], "q5_K row %d scale byte %d", r, i);
                for (int i = 0; i < SD_QK_K / 8; i++)
                    CHECK(rec->qh[i / 4][4 * (r % 8) + i % 4] == src->qh[i], "q5_K row %d qh byte %d", r, i);
                for (int i = 0; i < SD_QK_K / 2; i++)
                    CHECK(rec->qs[(i % 32) / 4][i / 32][4 * (r % 8) + i % 4] == src->qs[i],
                          "q5_K row %d block %d byte %d", r, b, i);
            }
        }
        sd_weight_release(&w);
        /* Q6_K (sd_q6_k_r8): the scales transposed, the high bit pairs and the low nibbles by lane */
        static uint8_t q6k[KR * KB * sizeof(sd_block_q6_k)];
        for (size_t i = 0; i < sizeof q6k; i++)
            q6k[i] = (uint8_t)rnd();
        CHECK(sd_weight_init(&w, SD_TYPE_Q6_K, KR, KB * SD_QK_K, q6k, err, sizeof err) == SD_STATUS_OK,
              "q6_K 16 x 512");
        CHECK(w.packed != NULL || best[0] == &sd_kernels_scalar, "q6_K not repacked for %s", best[0]->name);
        const sd_q6_k_r8 *pk6 = w.packed;
        for (int r = 0; pk6 && r < KR; r++) {
            for (int b = 0; b < KB; b++) {
                const sd_block_q6_k *src = (const sd_block_q6_k *)q6k + r * KB + b;
                const sd_q6_k_r8 *rec = &pk6[(r / 8) * KB + b];
                CHECK(rec->d[r % 8] == src->d, "q6_K d row %d", r);
                for (int j = 0; j < SD_QK_K / 16; j++)
                    CHECK(rec->scales[j][r % 8] == src->scales[j], "q6_K row %d scale %d", r, j);
                for (int i = 0; i < SD_QK_K / 4; i++) /* byte i: lane (i % 32) / 4 of half i / 32 */
                    CHECK(rec->qh[(i % 32) / 4][i / 32][4 * (r % 8) + i % 4] == src->qh[i],
                          "q6_K row %d block %d qh byte %d", r, b, i);
                for (int i = 0; i < SD_QK_K / 2; i++)
                    CHECK(rec->ql[(i % 32) / 4][i / 32][4 * (r % 8) + i % 4] == src->ql[i],
                          "q6_K row %d block %d ql byte %d", r, b, i);
            }
        }
        sd_weight_release(&w);
        CHECK(sd_weight_init(&w, SD_TYPE_Q4_K, 12, SD_QK_K, q4k, err, sizeof err) == SD_STATUS_OK,
              "q4_K 12 x 256");
        CHECK(w.packed == NULL, "q4_K with 12 rows repacked");
        sd_weight_release(&w);
        CHECK(sd_weight_init(&w, SD_TYPE_Q6_K, 12, SD_QK_K, q6k, err, sizeof err) == SD_STATUS_OK,
              "q6_K 12 x 256");
        CHECK(w.packed == NULL, "q6_K with 12 rows repacked");
        sd_weight_release(&w);
    }
#endif
}

/* Forcing a kernel set: by name, by SPECDEC_KERNELS, refusal of a set the CPU lacks and of an unknown
 * name; a weight initialised with a set is multiplied by it through the public sd_gemm (bit-identical to
 * the reference, as every set). */
static void test_kernel_select(void) {
    const sd_kernel_set *sets[8], *ks;
    const int n_sets = sd_gemm_kernel_sets(sets, 8);
    char err[256] = "";
    CHECK(sd_gemm_kernels_select(NULL, &ks, err, sizeof err) == SD_STATUS_OK && ks == sets[0], "default: %s",
          err);
    CHECK(sd_gemm_kernels_select("auto", &ks, err, sizeof err) == SD_STATUS_OK && ks == sets[0], "auto");
    for (int s = 0; s < n_sets; s++) {
        CHECK(sd_gemm_kernels_select(sets[s]->name, &ks, err, sizeof err) == SD_STATUS_OK && ks == sets[s],
              "select %s: %s", sets[s]->name, err);
        CHECK(strcmp(sd_gemm_kernels_name(ks), sets[s]->name) == 0, "name of %s", sets[s]->name);
        setenv(SD_KERNELS_ENV, sets[s]->name, 1);
        CHECK(sd_gemm_kernels_select(NULL, &ks, err, sizeof err) == SD_STATUS_OK && ks == sets[s],
              "%s=%s: %s", SD_KERNELS_ENV, sets[s]->name, err);
        /* an explicit name wins over the environment */
        CHECK(sd_gemm_kernels_select("scalar", &ks, err, sizeof err) == SD_STATUS_OK &&
                  ks == &sd_kernels_scalar,
              "scalar over %s=%s", SD_KERNELS_ENV, sets[s]->name);
        unsetenv(SD_KERNELS_ENV);
    }
    /* a set of another machine, or one this CPU lacks, is refused with a message naming what it has */
    static const char *const others[] = {"scalar", "avx2", "avx512vnni", "neon", "neon-dotprod", "neon-i8mm"};
    int refused = 0;
    for (size_t i = 0; i < SD_ARRAY_LEN(others); i++) {
        bool have = false;
        for (int s = 0; s < n_sets; s++)
            have = have || strcmp(sets[s]->name, others[i]) == 0;
        if (have) continue;
        err[0] = 0;
        CHECK(sd_gemm_kernels_select(others[i], &ks, err, sizeof err) == SD_STATUS_UNSUPPORTED && !ks,
              "%s not refused", others[i]);
        CHECK(strstr(err, others[i]) && strstr(err, "lacks") && !strchr(err, '\n'), "message: %s", err);
        refused++;
    }
    CHECK(refused + n_sets == (int)SD_ARRAY_LEN(others), "%d sets refused, %d present", refused, n_sets);
    CHECK(sd_gemm_kernels_select("avx3", &ks, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT, "avx3");
    CHECK(strstr(err, "unknown") != NULL, "message: %s", err);
    /* the environment variable reaches sd_weight_init, and a bad one fails it */
    static uint8_t q4[16 * sizeof(sd_block_q4_0)];
    sd_weight w;
    setenv(SD_KERNELS_ENV, "avx3", 1);
    CHECK(sd_weight_init(&w, SD_TYPE_Q4_0, 16, 32, q4, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "bad %s accepted", SD_KERNELS_ENV);
    setenv(SD_KERNELS_ENV, "scalar", 1);
    CHECK(sd_weight_init(&w, SD_TYPE_Q4_0, 16, 32, q4, err, sizeof err) == SD_STATUS_OK &&
              w.kernels == &sd_kernels_scalar && !w.packed,
          "%s=scalar not taken", SD_KERNELS_ENV);
    sd_weight_release(&w);
    unsetenv(SD_KERNELS_ENV);
    /* sd_gemm and sd_gemm_multi run the weight's set */
    enum { M = 40, K = 320, N = 9 };
    const int64_t bytes = (int64_t)sd_type_row_bytes(SD_TYPE_Q4_0, K) * M;
    void *data = malloc((size_t)bytes);
    float *x = malloc(sizeof(float) * K * N), *y = malloc(sizeof(float) * M * N);
    float *yref = malloc(sizeof(float) * M * N);
    fill_weights(SD_TYPE_Q4_0, data, M, K, FILL_RANDOM);
    fill_x(x, N, K, X_RANDOM);
    for (int s = 0; s < n_sets; s++) {
        CHECK(sd_weight_init_with(&w, sets[s], SD_TYPE_Q4_0, M, K, data, err, sizeof err) == SD_STATUS_OK,
              "init with %s: %s", sets[s]->name, err);
        CHECK(w.kernels == sets[s], "weight's set");
        if (s == 0) sd_gemm_ref(&w, x, N, yref);
        const size_t sb = sd_gemm_scratch_bytes(&w, N, 2);
        void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
        sd_gemm(&w, x, N, y, scratch, pools[2]);
        CHECK(first_mismatch(y, yref, M * N) < 0, "sd_gemm forced to %s", sets[s]->name);
        const sd_weight *ws[1] = {&w};
        float *ys[1] = {y};
        memset(y, 0, sizeof(float) * M * N);
        sd_gemm_multi(ws, ys, 1, x, N, NULL, NULL, scratch, pools[2]);
        CHECK(first_mismatch(y, yref, M * N) < 0, "sd_gemm_multi forced to %s", sets[s]->name);
        free(scratch);
        sd_weight_release(&w);
    }
    free(data);
    free(x);
    free(y);
    free(yref);
}

/* SwiGLU: every kernel set gives the reference's bits; the reference's e^x is within 3e-7 of exp(). */
static void test_swiglu(void) {
    double worst = 0;
    float worst_x = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.00731f) {
        const double want = exp((double)x), got = sd_exp_ref(x);
        const double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel, worst_x = x;
    }
    CHECK(worst < 3e-7, "sd_exp_ref relative error %.3g at x = %g", worst, (double)worst_x);
    CHECK(sd_exp_ref(0.0f) == 1.0f && sd_exp_ref(1000.0f) == sd_exp_ref(88.0f) &&
              sd_exp_ref(-1000.0f) == sd_exp_ref(-87.0f),
          "e^0 = 1, clamped ends");
    enum { N = 1003 }; /* not a multiple of 8: the SIMD tails */
    static float gate[N], up[N], want[N], got[N];
    for (int i = 0; i < N; i++) {
        gate[i] = (float)((rnd() % 20001) - 10000) / 500.0f; /* [-20, 20] */
        up[i] = (float)((rnd() % 2001) - 1000) / 100.0f;
    }
    const float special[] = {0.0f, -0.0f, 100.0f, -100.0f, 1e30f, -1e30f, INFINITY, NAN, 1e-40f, -88.5f};
    for (size_t i = 0; i < SD_ARRAY_LEN(special); i++)
        gate[i * 7] = special[i];
    memcpy(want, gate, sizeof gate);
    sd_swiglu_ref(want, up, N);
    for (int i = 0; i < N; i++) {
        const double g = gate[i], silu = g / (1.0 + exp(-g)) * up[i];
        if (isfinite(gate[i]) && fabs(gate[i]) < 80.0f)
            CHECK(fabs(want[i] - silu) <= 1e-6 * fabs(silu) + 1e-30, "swiglu(%g, %g) = %g, want %g",
                  (double)gate[i], (double)up[i], (double)want[i], silu);
    }
    const sd_kernel_set *sets[8];
    const int n_sets = sd_gemm_kernel_sets(sets, 8);
    for (int s = 0; s < n_sets; s++) {
        if (!sets[s]->swiglu) continue;
        memcpy(got, gate, sizeof gate);
        sets[s]->swiglu(got, up, N);
        for (int i = 0; i < N; i++)
            CHECK(memcmp(&got[i], &want[i], sizeof got[i]) == 0, "%s swiglu(%g): %g != reference %g",
                  sets[s]->name, (double)gate[i], (double)got[i], (double)want[i]);
    }
}

int main(void) {
    char err[128];
    for (int t = 2; t <= 3; t++) {
        if (sd_pool_create(&pools[t], t, NULL, 0, err, sizeof err) != SD_STATUS_OK) {
            fprintf(stderr, "FAIL pool of %d: %s\n", t, err);
            return 1;
        }
    }
    const sd_kernel_set *sets[8];
    const int n_sets = sd_gemm_kernel_sets(sets, 8);
    printf("kernel sets:");
    for (int s = 0; s < n_sets; s++)
        printf(" %s", sets[s]->name);
    printf("\n");

    test_init_errors();
    test_kernel_select();
    test_swiglu();

    /* n = 1..64: every count the contract covers up to 17, then the tile boundaries around 24, 32, 64 */
    int ns_all[MAX_N], n_all = 0;
    for (int n = 1; n <= 17; n++)
        ns_all[n_all++] = n;
    const int more[] = {23, 24, 25, 31, 32, 33, 40, 47, 48, 63, 64};
    for (size_t j = 0; j < SD_ARRAY_LEN(more); j++)
        ns_all[n_all++] = more[j];
    const int ns_short[] = {1, 2, 5, 9};
    const int ns_mid[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 64};

    for (size_t ti = 0; ti < SD_ARRAY_LEN(all_types); ti++) {
        const sd_type type = all_types[ti];
        const int64_t bs = sd_type_traits_of((uint32_t)type)->block_size;
        const int64_t k_main = bs == 1 ? 517 : bs == 32 ? 320 : 512; /* f32 517: a tail of 5 past 8-wide */
        run_case(type, 37, k_main, FILL_RANDOM, X_RANDOM, ns_all, n_all, "random");
        if (type == SD_TYPE_Q4_0 || type == SD_TYPE_Q8_0) {
            /* k a multiple of 256 (Q4_0 repacked on x86) and 40 blocks: k passes of 32 plus a partial one */
            run_case(type, 37, 1280, FILL_RANDOM, X_RANDOM, ns_mid, (int)SD_ARRAY_LEN(ns_mid),
                     "random k=1280");
            run_case(type, 19, 256, FILL_MAX, X_HALVES, ns_short, 4, "rounding ties k=256");
            /* rows a multiple of 8: Q4_0 takes the 8-row interleaved kernels on x86 */
            run_case(type, 40, 320, FILL_RANDOM, X_RANDOM, ns_all, n_all, "random 40 rows");
            run_case(type, 64, 1280, FILL_RANDOM, X_RANDOM, ns_mid, (int)SD_ARRAY_LEN(ns_mid),
                     "random 64 rows k=1280");
            /* 150 and 200 blocks: long rows go in spans of blocks (a short last span is merged) */
            run_case(type, 24, 4800, FILL_RANDOM, X_RANDOM, ns_mid, (int)SD_ARRAY_LEN(ns_mid),
                     "24 rows k=4800");
            run_case(type, 16, 6400, FILL_RANDOM, X_RANDOM, ns_short, 4, "16 rows k=6400");
            const fill_mode fills[] = {FILL_MAX, FILL_MIN, FILL_ZERO_SCALE};
            for (size_t fi = 0; fi < SD_ARRAY_LEN(fills); fi++)
                run_case(type, 24, 64, fills[fi], X_RANDOM, ns_short, 4, "extreme quants 24 rows");
            run_case(type, 24, 64, FILL_RANDOM, X_HUGE, ns_short, 4, "huge x 24 rows");
            run_case(type, 8, 32, FILL_MAX, X_HALVES, ns_short, 4, "rounding ties 8 rows");
        }
        if (type == SD_TYPE_Q4_K || type == SD_TYPE_Q5_K || type == SD_TYPE_Q6_K) {
            /* rows a multiple of 8: the 8-row interleaved kernels on x86 (sd_q4_k_r8, sd_q5_k_r8,
             * sd_q6_k_r8), tiles of every n */
            run_case(type, 40, 512, FILL_RANDOM, X_RANDOM, ns_all, n_all, "random 40 rows");
            run_case(type, 64, 2048, FILL_RANDOM, X_RANDOM, ns_mid, (int)SD_ARRAY_LEN(ns_mid),
                     "random 64 rows k=2048");
            const fill_mode fills[] = {FILL_MAX, FILL_MIN, FILL_ZERO_SCALE};
            for (size_t fi = 0; fi < SD_ARRAY_LEN(fills); fi++)
                run_case(type, 24, 512, fills[fi], X_RANDOM, ns_short, 4, "extreme quants 24 rows");
            run_case(type, 24, 256, FILL_RANDOM, X_HUGE, ns_short, 4, "huge x 24 rows");
            run_case(type, 8, 256, FILL_MAX, X_HALVES, ns_short, 4, "rounding ties 8 rows");
        }
        run_case(type, 5, bs == 1 ? 8 : bs, FILL_RANDOM, X_RANDOM, ns_short, 4, "one block");
        run_case(type, 1, bs == 1 ? 3 : bs, FILL_RANDOM, X_RANDOM, ns_short, 4, "one row");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_MAX, X_RANDOM, ns_short, 4, "max quants");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_MIN, X_RANDOM, ns_short, 4, "min quants");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_ZERO_SCALE, X_RANDOM, ns_short, 4, "zero scales");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_RANDOM, X_ZERO_ROWS, ns_short, 4, "zero rows");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_RANDOM, X_HUGE, ns_short, 4, "huge x");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_RANDOM, X_TINY, ns_short, 4, "tiny x");
        run_case(type, 19, bs == 1 ? 64 : bs * 2, FILL_MAX, X_HALVES, ns_short, 4, "rounding ties");
    }

    for (size_t ti = 0; ti < SD_ARRAY_LEN(all_types); ti++)
        test_prefill(all_types[ti]);

    sd_pool_free(pools[2]);
    sd_pool_free(pools[3]);
    return test_finish("gemm");
}
