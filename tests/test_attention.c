/* The attention kernel (model/attention.c) against its scalar reference, bit for bit, for head dims that
 * hit every value tile, GQA groups, block sizes and positions around the lane blocks, and every KV cache
 * type (f32, f16, q8_0, mixed); a pair's result must not depend on the block it is computed in (the
 * batching contract). Also checks the softmax exp against expf, the whole kernel per cache type against a
 * double-precision softmax attention over the unrounded keys and values, and NaN/-inf handling. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "test_util.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float uniform(float lo, float hi) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)(rng_state >> 40) / (float)(1ull << 24);
}

static void fill(float *x, size_t n, float amp) {
    for (size_t i = 0; i < n; i++)
        x[i] = uniform(-amp, amp);
}

/* A cache of n_ctx positions for one KV head, queries for n_rows rows of `group` heads; a sliding window
 * (0: none) and soft-capping (0: none). */
typedef struct case_data {
    int hd, group;
    int32_t n_ctx, n_rows;
    int32_t window;
    float softcap;
    size_t ks;
    float *kf, *vf; /* the keys and values before caching, [n_ctx][hd] */
    sd_cache_type kt, vt;
    void *k, *v; /* the cache, in types kt and vt */
    float *q, *out, *scratch;
} case_data;

/* Stores the case's keys and values into caches of types kt and vt (and zero keys in the padding). */
static void case_set_types(case_data *c, sd_cache_type kt, sd_cache_type vt) {
    free(c->k);
    free(c->v);
    c->kt = kt;
    c->vt = vt;
    c->k = malloc(sd_attention_key_bytes(kt, c->hd, c->n_ctx));
    c->v = malloc(sd_attention_value_bytes(vt, c->hd, c->n_ctx));
    float zero[256] = {0};
    for (int32_t t = 0; t < (int32_t)c->ks; t++)
        sd_attention_store_key(kt, c->k, c->hd, t, t < c->n_ctx ? c->kf + (size_t)t * (size_t)c->hd : zero);
    for (int32_t t = 0; t < c->n_ctx; t++)
        sd_attention_store_value(vt, c->v, c->hd, t, c->vf + (size_t)t * (size_t)c->hd);
}

static void case_init(case_data *c, int hd, int group, int32_t n_ctx, int32_t n_rows, float amp) {
    c->hd = hd;
    c->group = group;
    c->n_ctx = n_ctx;
    c->n_rows = n_rows;
    c->window = 0;
    c->softcap = 0.0f;
    c->ks = sd_attention_padded_positions(n_ctx);
    c->kf = malloc((size_t)n_ctx * (size_t)hd * sizeof(float));
    c->vf = malloc((size_t)n_ctx * (size_t)hd * sizeof(float));
    c->k = c->v = NULL;
    c->q = malloc((size_t)n_rows * (size_t)group * (size_t)hd * sizeof(float));
    c->out = malloc((size_t)n_rows * (size_t)group * (size_t)hd * sizeof(float));
    c->scratch = malloc((size_t)n_rows * (size_t)group * c->ks * sizeof(float));
    fill(c->kf, (size_t)n_ctx * (size_t)hd, amp);
    fill(c->vf, (size_t)n_ctx * (size_t)hd, 1.0f);
    fill(c->q, (size_t)n_rows * (size_t)group * (size_t)hd, amp);
    case_set_types(c, SD_CACHE_F32, SD_CACHE_F32);
}

static void case_free(case_data *c) {
    free(c->kf);
    free(c->vf);
    free(c->k);
    free(c->v);
    free(c->q);
    free(c->out);
    free(c->scratch);
}

typedef void (*kernel_fn)(const sd_attention_args *a);

/* Runs rows [r0, r0 + rows) of the case at positions pos0 + r0.. with `kernel`. */
static void run_with(const case_data *c, int32_t r0, int32_t rows, int32_t pos0, kernel_fn kernel) {
    size_t stride = (size_t)c->group * (size_t)c->hd;
    sd_attention_args a = {.k = c->k,
                           .v = c->v,
                           .k_type = c->kt,
                           .v_type = c->vt,
                           .head_dim = c->hd,
                           .group = c->group,
                           .q = c->q + (size_t)r0 * stride,
                           .out = c->out + (size_t)r0 * stride,
                           .q_row_stride = stride,
                           .out_row_stride = stride,
                           .n_rows = rows,
                           .pos0 = pos0 + r0,
                           .scale = 1.0f / sqrtf((float)c->hd),
                           .window = c->window,
                           .softcap = c->softcap,
                           .scratch = c->scratch};
    kernel(&a);
}

static void run(const case_data *c, int32_t r0, int32_t rows, int32_t pos0, int ref) {
    run_with(c, r0, rows, pos0, ref ? sd_attention_ref : sd_attention_block);
}

/* The kernels held to the reference: the dispatched one, the portable one (4 lanes) and, where this CPU
 * runs it, the AVX2 build (8 lanes). */
static kernel_fn kernels[3];
static const char *kernel_names[3];
static int n_kernels;

static void add_kernel(kernel_fn fn, const char *name) {
    kernels[n_kernels] = fn;
    kernel_names[n_kernels++] = name;
}

static void find_kernels(void) {
    add_kernel(sd_attention_block, "dispatched");
    add_kernel(sd_attention_block_portable, "portable");
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"))
        add_kernel(sd_attention_block_avx2, "avx2");
    else
        printf("test_attention: this CPU has no AVX2 and F16C, that kernel is not tested\n");
#endif
}

/* The (key, value) cache type pairs every bit-exactness case runs with. */
static const sd_cache_type type_pairs[][2] = {{SD_CACHE_F32, SD_CACHE_F32},
                                              {SD_CACHE_F16, SD_CACHE_F16},
                                              {SD_CACHE_Q8_0, SD_CACHE_Q8_0},
                                              {SD_CACHE_F16, SD_CACHE_Q8_0},
                                              {SD_CACHE_Q8_0, SD_CACHE_F32}};

/* Each kernel == reference bit for bit, for the whole block at once and for every row alone, with the
 * cache in types kt, vt. */
static void check_case_typed(case_data *c, int32_t pos0) {
    int hd = c->hd, group = c->group;
    int32_t n_rows = c->n_rows, window = c->window;
    float softcap = c->softcap;
    const char *kn_ = sd_cache_type_name(c->kt), *vn_ = sd_cache_type_name(c->vt);
    size_t n_out = (size_t)n_rows * (size_t)group * (size_t)hd;
    float *want = malloc(n_out * sizeof(float));
    run(c, 0, n_rows, pos0, 1);
    memcpy(want, c->out, n_out * sizeof(float));
    for (int kn = 0; kn < n_kernels; kn++) {
        memset(c->out, 0xff, n_out * sizeof(float));
        run_with(c, 0, n_rows, pos0, kernels[kn]);
        CHECK(memcmp(c->out, want, n_out * sizeof(float)) == 0,
              "%s: cache %s/%s hd %d group %d rows %d pos0 %d window %d cap %g: block != reference",
              kernel_names[kn], kn_, vn_, hd, group, n_rows, pos0, window, softcap);
        memset(c->out, 0xff, n_out * sizeof(float));
        for (int32_t r = 0; r < n_rows; r++)
            run_with(c, r, 1, pos0, kernels[kn]);
        CHECK(memcmp(c->out, want, n_out * sizeof(float)) == 0,
              "%s: cache %s/%s hd %d group %d rows %d pos0 %d window %d cap %g: row by row != reference",
              kernel_names[kn], kn_, vn_, hd, group, n_rows, pos0, window, softcap);
    }
    free(want);
}

/* check_case_typed for every cache type pair the head size allows. */
static void check_case_with(int hd, int group, int32_t n_rows, int32_t pos0, int32_t window, float softcap) {
    case_data c;
    case_init(&c, hd, group, pos0 + n_rows, n_rows, softcap > 0.0f ? 8.0f : 1.0f);
    c.window = window;
    c.softcap = softcap;
    for (size_t i = 0; i < sizeof type_pairs / sizeof type_pairs[0]; i++) {
        if (!sd_attention_cache_type_fits(type_pairs[i][0], hd) ||
            !sd_attention_cache_type_fits(type_pairs[i][1], hd))
            continue;
        case_set_types(&c, type_pairs[i][0], type_pairs[i][1]);
        check_case_typed(&c, pos0);
    }
    case_free(&c);
}

static void check_case(int hd, int group, int32_t n_rows, int32_t pos0) {
    check_case_with(hd, group, n_rows, pos0, 0, 0.0f);
}

/* A sliding window of `window` positions equals full attention over just those positions (keys and values
 * copied to a cache of their own, so positions restart at 0), within rounding; soft-capping equals the
 * capped double-precision softmax. */
static void check_window_accuracy(int32_t window, float softcap) {
    case_data c;
    int hd = 32, group = 2;
    int32_t n_rows = 5, pos0 = 40;
    case_init(&c, hd, group, pos0 + n_rows, n_rows, 3.0f);
    c.window = window;
    c.softcap = softcap;
    run(&c, 0, n_rows, pos0, 0);
    double worst = 0.0;
    for (int32_t r = 0; r < n_rows; r++)
        for (int j = 0; j < group; j++) {
            const float *q = c.q + ((size_t)r * (size_t)group + (size_t)j) * (size_t)hd;
            int32_t pos = pos0 + r, lo = window > 0 && pos - window + 1 > 0 ? pos - window + 1 : 0;
            double w[64], max = -INFINITY, sum = 0.0;
            for (int32_t t = lo; t <= pos; t++) {
                double dot = 0.0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[d] * (double)c.kf[(size_t)t * (size_t)hd + (size_t)d];
                dot /= sqrt((double)hd);
                if (softcap > 0.0f) dot = softcap * tanh(dot / softcap);
                w[t - lo] = dot;
                if (dot > max) max = dot;
            }
            for (int32_t t = lo; t <= pos; t++)
                sum += (w[t - lo] = exp(w[t - lo] - max));
            for (int d = 0; d < hd; d++) {
                double acc = 0.0;
                for (int32_t t = lo; t <= pos; t++)
                    acc += w[t - lo] * (double)c.vf[(size_t)t * (size_t)hd + (size_t)d];
                double got = c.out[((size_t)r * (size_t)group + (size_t)j) * (size_t)hd + (size_t)d];
                worst = fmax(worst, fabs(got - acc / sum));
            }
        }
    CHECK(worst < 1e-5, "window %d softcap %g vs double: max abs error %g", window, softcap, worst);
    case_free(&c);
}

/* The kernel's output with a cache of types kt, vt against softmax attention in double precision over the
 * unrounded keys and values: within tol (absolute; values are in [-1, 1]). */
static void check_accuracy(sd_cache_type kt, sd_cache_type vt, double tol) {
    case_data c;
    int hd = 64, group = 2;
    int32_t n_rows = 4, pos0 = 300;
    case_init(&c, hd, group, pos0 + n_rows, n_rows, 2.0f);
    case_set_types(&c, kt, vt);
    run(&c, 0, n_rows, pos0, 0);
    double worst = 0.0;
    double *w = malloc((size_t)c.n_ctx * sizeof(double));
    for (int32_t r = 0; r < n_rows; r++)
        for (int j = 0; j < group; j++) {
            const float *q = c.q + ((size_t)r * (size_t)group + (size_t)j) * (size_t)hd;
            int32_t pos = pos0 + r;
            double max = -INFINITY, sum = 0.0;
            for (int32_t t = 0; t <= pos; t++) {
                double dot = 0.0;
                for (int d = 0; d < hd; d++)
                    dot += (double)q[d] * (double)c.kf[(size_t)t * (size_t)hd + (size_t)d];
                w[t] = dot / sqrt((double)hd);
                if (w[t] > max) max = w[t];
            }
            for (int32_t t = 0; t <= pos; t++) {
                w[t] = exp(w[t] - max);
                sum += w[t];
            }
            for (int d = 0; d < hd; d++) {
                double acc = 0.0;
                for (int32_t t = 0; t <= pos; t++)
                    acc += w[t] * (double)c.vf[(size_t)t * (size_t)hd + (size_t)d];
                double got = c.out[((size_t)r * (size_t)group + (size_t)j) * (size_t)hd + (size_t)d];
                worst = fmax(worst, fabs(got - acc / sum));
            }
        }
    CHECK(worst < tol, "cache %s/%s: kernel vs double softmax attention: max abs error %g (tolerance %g)",
          sd_cache_type_name(kt), sd_cache_type_name(vt), worst, tol);
    if (getenv("TEST_ATTENTION_VERBOSE"))
        printf("cache %s/%s: max abs error %g\n", sd_cache_type_name(kt), sd_cache_type_name(vt), worst);
    free(w);
    case_free(&c);
}

static int32_t ulp_distance(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    return ia > ib ? ia - ib : ib - ia;
}

static void check_exp(void) {
    int32_t worst = 0;
    float worst_x = 0.0f;
    for (float x = -87.0f; x <= 0.0f; x += 0.000731f) {
        float want = expf(x), got = sd_attention_exp(x);
        int32_t d = ulp_distance(got, want);
        if (d > worst) worst = d, worst_x = x;
    }
    CHECK(worst <= 3, "exp: %d ulp from expf at x = %.9g", worst, worst_x);
    CHECK(sd_attention_exp(0.0f) == 1.0f, "exp(0) = %.9g", sd_attention_exp(0.0f));
    CHECK(sd_attention_exp(-0.0f) == 1.0f, "exp(-0) = %.9g", sd_attention_exp(-0.0f));
    CHECK(sd_attention_exp(-INFINITY) == 0.0f, "exp(-inf) = %g", sd_attention_exp(-INFINITY));
    CHECK(sd_attention_exp(-1000.0f) == 0.0f, "exp(-1000) = %g", sd_attention_exp(-1000.0f));
    CHECK(isnan(sd_attention_exp(NAN)), "exp(NaN) = %g", sd_attention_exp(NAN));
}

/* A -inf key score (masked-out key) gets weight 0; a NaN query poisons only its own pair. */
static void check_special_values(void) {
    case_data c;
    case_init(&c, 32, 2, 20, 2, 1.0f);
    for (int d = 0; d < 32; d++)
        c.q[d] = NAN; /* row 0, head 0 */
    run(&c, 0, 2, 10, 0);
    CHECK(isnan(c.out[0]), "NaN query gives %g", c.out[0]);
    for (size_t i = 32; i < 4 * 32; i++)
        CHECK(!isnan(c.out[i]), "NaN in pair %zu, whose inputs are finite", i / 32);
    float want[3 * 32];
    memcpy(want, c.out + 32, sizeof want);
    run(&c, 0, 2, 10, 1);
    CHECK(memcmp(want, c.out + 32, sizeof want) == 0, "finite pairs differ from the reference");
    case_free(&c);
}

/* An f16 cache of tiny keys and values (subnormal halves, the portable build's slow path of the
 * conversion) and a few infinities: each kernel equals the reference. */
static void check_subnormal_halves(void) {
    case_data c;
    case_init(&c, 32, 2, 40, 3, 1.0f);
    for (size_t i = 0; i < (size_t)40 * 32; i++) {
        c.kf[i] *= 1e-5f;
        c.vf[i] *= i % 3 ? 1e-6f : 1.0f;
    }
    c.kf[5 * 32 + 3] = INFINITY;
    case_set_types(&c, SD_CACHE_F16, SD_CACHE_F16);
    check_case_typed(&c, 37);
    case_free(&c);
}

int main(void) {
    find_kernels();
    const int dims[] = {8, 16, 20, 32, 36, 40, 64, 72, 128};
    const int groups[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (size_t j = 0; j < sizeof groups / sizeof groups[0]; j++) {
            int32_t max_rows = sd_attention_block_rows(groups[j], 64);
            const int32_t rows[] = {1, 2, 3, 5, max_rows};
            const int32_t starts[] = {0, 1, 6, 7, 8, 130, 349};
            for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
                for (size_t s = 0; s < sizeof starts / sizeof starts[0]; s++)
                    check_case(dims[i], groups[j], rows[r] < max_rows ? rows[r] : max_rows, starts[s]);
        }
    /* Sliding windows (shorter and longer than the positions, across lane blocks) and soft-capping. */
    const int32_t windows[] = {1, 5, 8, 12, 4096};
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
        for (size_t j = 0; j < 3; j++)
            for (int32_t pos0 = 0; pos0 < 40; pos0 += 7) {
                check_case_with(48, groups[j], 3, pos0, windows[w], 0.0f);
                check_case_with(64, groups[j], sd_attention_block_rows(groups[j], 64), pos0, windows[w],
                                8.0f);
            }
    check_case_with(40, 4, 4, 130, 0, 50.0f);
    check_window_accuracy(12, 0.0f);
    check_window_accuracy(0, 8.0f);
    check_window_accuracy(7, 8.0f);
    /* Tolerances: f32 is the kernel's own rounding; f16 keys perturb scores by ~2^-11 relative, q8_0 by
     * ~1/254 of each block's largest entry. */
    check_accuracy(SD_CACHE_F32, SD_CACHE_F32, 1e-5);
    check_accuracy(SD_CACHE_F16, SD_CACHE_F16, 5e-4);
    check_accuracy(SD_CACHE_Q8_0, SD_CACHE_Q8_0, 5e-3);
    check_accuracy(SD_CACHE_F16, SD_CACHE_Q8_0, 5e-3);
    check_subnormal_halves();
    check_exp();
    check_special_values();
    return test_finish("test_attention");
}
