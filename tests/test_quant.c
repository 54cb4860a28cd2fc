/* Quantization tests: fp16/bf16 conversions (exhaustive over all 65536 halfs, rounding ties, against the
 * CPU's own conversion instructions where it has them), the Q8_0 / Q8_K activation quantizers against
 * hand-computed blocks, ggml's scale packing and dequantization of every type against values built
 * from independently packed blocks, every kernel set's dequantization against the reference bit for
 * bit, and the dot-product references against double precision. */
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

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float frnd(void) {
    return (float)(rnd() % 2000001u) / 1000000.0f - 1.0f;
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- the CPU's conversions, an independent oracle ---- */

#if defined(__x86_64__)
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) {
    return _cvtsh_ss(h);
}
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) {
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static int have_hw_f16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("f16c");
}
#elif defined(__aarch64__)
static float hw_h2f(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}
static uint16_t hw_f2h(float f) {
    __fp16 v = (__fp16)f;
    uint16_t h;
    memcpy(&h, &v, sizeof h);
    return h;
}
static int have_hw_f16(void) {
    return 1;
}
#else
static float hw_h2f(uint16_t h) {
    return sd_fp16_to_fp32(h);
}
static uint16_t hw_f2h(float f) {
    return sd_fp32_to_fp16(f);
}
static int have_hw_f16(void) {
    return 0;
}
#endif

static void test_fp16(void) {
    const int hw = have_hw_f16();
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = sd_fp16_to_fp32((uint16_t)h);
        const int is_nan = (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0;
        if (is_nan) {
            CHECK(isnan(f), "half %04x should widen to nan", h);
            CHECK(isnan(sd_fp16_to_fp32(sd_fp32_to_fp16(f))), "nan %04x round trip", h);
            continue;
        }
        CHECK(sd_fp32_to_fp16(f) == h, "half %04x -> %g -> %04x", h, f, sd_fp32_to_fp16(f));
        if (hw)
            CHECK(f2u(f) == f2u(hw_h2f((uint16_t)h)), "half %04x: %g, cpu says %g", h, f,
                  hw_h2f((uint16_t)h));
        /* the midpoint to the next half up rounds to the even one of the two */
        if ((h & 0x7fffu) < 0x7bffu) {
            const float next = sd_fp16_to_fp32((uint16_t)(h + 1));
            const double mid = ((double)f + (double)next) / 2.0;
            const float midf = (float)mid; /* exact: halfs have 11 significant bits */
            const uint16_t want = (h & 1u) ? (uint16_t)(h + 1) : (uint16_t)h;
            CHECK(sd_fp32_to_fp16(midf) == want, "tie above %04x -> %04x, want %04x", h,
                  sd_fp32_to_fp16(midf), want);
            CHECK(sd_fp32_to_fp16(nextafterf(midf, 2.0f * next)) == (uint16_t)(h + 1) || (h & 0x8000u),
                  "just above tie of %04x", h);
        }
    }
    /* hand-picked cases */
    const struct {
        float f;
        uint16_t h;
    } cases[] = {
        {1.0f, 0x3c00},
        {-2.0f, 0xc000},
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff},
        {65520.0f, 0x7c00},
        {1e9f, 0x7c00},
        {-INFINITY, 0xfc00},
        {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000},
        {0x1.000002p-25f, 0x0001},
        {0x3p-25f, 0x0002},
        {0x1p-14f, 0x0400},
        {0x1.ffcp-15f, 0x0400},
        {1.0f + 0x1p-11f, 0x3c00},
        {1.0f + 0x3p-11f, 0x3c02},
        {-0.0f, 0x8000},
        {0x1.ff8p-15f, 0x03ff},
        {0x1.ff4p-15f, 0x03fe},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(cases); i++) {
        CHECK(sd_fp32_to_fp16(cases[i].f) == cases[i].h, "fp16(%a) = %04x, want %04x", (double)cases[i].f,
              sd_fp32_to_fp16(cases[i].f), cases[i].h);
    }
    if (hw) { /* random floats over every exponent, against the CPU */
        for (int i = 0; i < 2000000; i++) {
            const float f = u2f(rnd() ^ (rnd() << 16));
            if (isnan(f)) continue;
            CHECK(sd_fp32_to_fp16(f) == hw_f2h(f), "fp16(%a) = %04x, cpu %04x", (double)f, sd_fp32_to_fp16(f),
                  hw_f2h(f));
            if (test_failures > 20) break;
        }
    }
}

static void test_bf16(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = sd_bf16_to_fp32((uint16_t)h);
        CHECK(f2u(f) == h << 16, "bf16 %04x widens to %08x", h, f2u(f));
        if (isnan(f)) {
            CHECK(isnan(sd_bf16_to_fp32(sd_fp32_to_bf16(f))), "bf16 nan %04x", h);
            continue;
        }
        CHECK(sd_fp32_to_bf16(f) == h, "bf16 %04x round trip %04x", h, sd_fp32_to_bf16(f));
        /* tie between h and h + 1 rounds to even; just above rounds up */
        if ((h & 0x7f80u) != 0x7f80u && h != 0x7f7fu && h != 0xff7fu) {
            const uint16_t want = (h & 1u) ? (uint16_t)(h + 1) : (uint16_t)h;
            CHECK(sd_fp32_to_bf16(u2f((h << 16) | 0x8000u)) == want, "bf16 tie above %04x", h);
            CHECK(sd_fp32_to_bf16(u2f((h << 16) | 0x8001u)) == (uint16_t)(h + 1), "bf16 above tie %04x", h);
            CHECK(sd_fp32_to_bf16(u2f((h << 16) | 0x7fffu)) == h, "bf16 below tie %04x", h);
        }
    }
    CHECK(sd_fp32_to_bf16(1.0f + 0x1p-8f) == 0x3f80, "bf16 1 + 2^-8 (tie to even)");
    CHECK(sd_fp32_to_bf16(1.0f + 0x3p-8f) == 0x3f82, "bf16 1 + 3 * 2^-8 (tie up to even)");
    CHECK(sd_fp32_to_bf16(0x1.fffffep127f) == 0x7f80, "bf16 of FLT_MAX rounds to inf");
}

static void test_quantize_q8_0(void) {
    /* amax 127 -> d = 1 (fp16 0x3c00), id = 1: q = roundf(x), ties away from zero */
    float x[64] = {127.0f, -127.0f,     0.5f,    -0.5f, 1.5f,   2.5f,
                   -2.5f,  0.49999997f, -126.5f, 3.25f, -3.75f, 0.0f};
    const int8_t want[12] = {127, -127, 1, -1, 2, 3, -3, 0, -127, 3, -4, 0};
    /* second block all zero: d = 0 and q = 0 */
    sd_block_q8_0 y[2];
    memset(y, 0x55, sizeof y);
    sd_quantize_row_q8_0_ref(x, y, 64);
    CHECK(y[0].d == 0x3c00, "q8_0 d = %04x, want 3c00", y[0].d);
    for (int j = 0; j < 32; j++) {
        const int w = j < 12 ? want[j] : 0;
        CHECK(y[0].qs[j] == w, "q8_0 qs[%d] = %d, want %d", j, y[0].qs[j], w);
    }
    CHECK(y[1].d == 0, "zero block d = %04x", y[1].d);
    for (int j = 0; j < 32; j++)
        CHECK(y[1].qs[j] == 0, "zero block qs[%d] = %d", j, y[1].qs[j]);
    /* amax 2: d = 2/127 (fp16 rounded), q = roundf(x * 63.5) */
    float z[32];
    for (int j = 0; j < 32; j++)
        z[j] = (float)(j - 16) / 8.0f;
    sd_quantize_row_q8_0_ref(z, y, 32);
    CHECK(y[0].d == sd_fp32_to_fp16(2.0f / 127.0f), "q8_0 d of amax 2: %04x", y[0].d);
    for (int j = 0; j < 32; j++) {
        const int w = (int)roundf(z[j] * (1.0f / (2.0f / 127.0f)));
        CHECK(y[0].qs[j] == w, "q8_0 amax 2 qs[%d] = %d, want %d", j, y[0].qs[j], w);
    }
    CHECK(y[0].qs[0] == -127 && y[0].qs[4] == -95 && y[0].qs[20] == 32, "q8_0 amax 2 spot values %d %d %d",
          y[0].qs[0], y[0].qs[4], y[0].qs[20]);
}

static void test_quantize_q8_k(void) {
    /* first largest magnitude is -254: iscale = 0.5, d = 2, q = round-half-even(x / 2) */
    float x[512] = {0};
    x[0] = 3.0f;    /* 1.5 -> 2 */
    x[1] = 5.0f;    /* 2.5 -> 2 */
    x[2] = -3.0f;   /* -1.5 -> -2 */
    x[3] = -254.0f; /* -127 */
    x[4] = 254.0f;  /* same magnitude, later: does not decide the sign */
    x[17] = 7.0f;   /* 3.5 -> 4 */
    /* second block: first largest is +100: iscale = -1.27, signs flip */
    x[256] = 100.0f;
    x[257] = -100.0f;
    x[258] = 50.0f;
    sd_block_q8_k y[2];
    memset(y, 0x55, sizeof y);
    sd_quantize_row_q8_k_ref(x, y, 512);
    CHECK(y[0].d == 2.0f, "q8_K d = %g", (double)y[0].d);
    const int8_t want[5] = {2, 2, -2, -127, 127};
    for (int j = 0; j < 5; j++)
        CHECK(y[0].qs[j] == want[j], "q8_K qs[%d] = %d, want %d", j, y[0].qs[j], want[j]);
    CHECK(y[0].qs[17] == 4, "q8_K qs[17] = %d", y[0].qs[17]);
    CHECK(y[0].bsums[0] == 2 + 2 - 2 - 127 + 127, "q8_K bsums[0] = %d", y[0].bsums[0]);
    CHECK(y[0].bsums[1] == 4, "q8_K bsums[1] = %d", y[0].bsums[1]);
    for (int j = 2; j < 16; j++)
        CHECK(y[0].bsums[j] == 0, "q8_K bsums[%d] = %d", j, y[0].bsums[j]);
    CHECK(y[1].d == 1.0f / (-127.0f / 100.0f), "q8_K second d = %g", (double)y[1].d);
    CHECK(y[1].qs[0] == -127 && y[1].qs[1] == 127 && y[1].qs[2] == -64, "q8_K flipped %d %d %d", y[1].qs[0],
          y[1].qs[1], y[1].qs[2]); /* 50 * -1.27 = -63.5 -> -64 (even) */
    CHECK(y[1].bsums[0] == -64, "q8_K second bsums[0] = %d", y[1].bsums[0]);
    /* all zero: d = 0 and zeros */
    float z[256] = {0};
    sd_quantize_row_q8_k_ref(z, y, 256);
    CHECK(y[0].d == 0.0f && y[0].qs[100] == 0 && y[0].bsums[3] == 0, "q8_K zero block");
}

/* ggml's Q4_K scale packing, written independently from the unpacking under test. */
static void pack_q4_k_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4));
    }
}

static void test_dequant_ref(void) {
    /* Q4_0: d = 0.5, nibble j of element e */
    sd_block_q4_0 b4;
    b4.d = sd_fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; j++)
        b4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float out[256];
    sd_dequantize_row_ref(SD_TYPE_Q4_0, &b4, out, 32);
    for (int e = 0; e < 32; e++) {
        const float want = 0.5f * (float)((e < 16 ? e : 15 - (e - 16)) - 8);
        CHECK(out[e] == want, "q4_0[%d] = %g, want %g", e, (double)out[e], (double)want);
    }
    /* Q8_0 */
    sd_block_q8_0 b8;
    b8.d = sd_fp32_to_fp16(-0.25f);
    for (int j = 0; j < 32; j++)
        b8.qs[j] = (int8_t)(j * 8 - 128);
    sd_dequantize_row_ref(SD_TYPE_Q8_0, &b8, out, 32);
    for (int e = 0; e < 32; e++)
        CHECK(out[e] == -0.25f * (float)(e * 8 - 128), "q8_0[%d] = %g", e, (double)out[e]);
    /* Q4_K from random 6-bit scales and mins and 4-bit quants */
    for (int rep = 0; rep < 50; rep++) {
        uint8_t sc[8], m[8], q[256];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)(rnd() % 64);
            m[j] = (uint8_t)(rnd() % 64);
        }
        if (rep == 0) memset(sc, 63, 8), memset(m, 63, 8);
        for (int e = 0; e < 256; e++)
            q[e] = (uint8_t)(rnd() % 16);
        sd_block_q4_k bk;
        bk.d = sd_fp32_to_fp16(0.01f * frnd());
        bk.dmin = sd_fp32_to_fp16(0.01f * frnd());
        pack_q4_k_scales(sc, m, bk.scales);
        uint8_t sc2[8], m2[8];
        sd_q4_k_scales(bk.scales, sc2, m2);
        CHECK(memcmp(sc, sc2, 8) == 0 && memcmp(m, m2, 8) == 0, "q4_K scale unpacking");
        /* elements 64c..64c+31 are the low nibbles of qs[32c..32c+31], the next 32 the high nibbles */
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++)
                bk.qs[32 * c + l] = (uint8_t)(q[64 * c + l] | (q[64 * c + 32 + l] << 4));
        }
        sd_dequantize_row_ref(SD_TYPE_Q4_K, &bk, out, 256);
        const float d = sd_fp16_to_fp32(bk.d), dmin = sd_fp16_to_fp32(bk.dmin);
        for (int e = 0; e < 256; e++) {
            const float want = (d * (float)sc[e / 32]) * (float)q[e] - dmin * (float)m[e / 32];
            CHECK(f2u(out[e]) == f2u(want), "q4_K[%d] = %g, want %g", e, (double)out[e], (double)want);
        }
    }
    /* Q6_K from random 6-bit quants, packed as ggml's quantize_row_q6_K does */
    for (int rep = 0; rep < 50; rep++) {
        uint8_t L[256];
        for (int e = 0; e < 256; e++)
            L[e] = (uint8_t)(rep == 0 ? 63 : rnd() % 64);
        sd_block_q6_k b6;
        for (int j = 0; j < 16; j++)
            b6.scales[j] = (int8_t)(rep == 0 ? -128 : (int)(rnd() % 256) - 128);
        b6.d = sd_fp32_to_fp16(0.001f * frnd());
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                b6.ql[64 * h + l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                b6.ql[64 * h + l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                b6.qh[32 * h + l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                              ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
        sd_dequantize_row_ref(SD_TYPE_Q6_K, &b6, out, 256);
        const float d = sd_fp16_to_fp32(b6.d);
        for (int e = 0; e < 256; e++) {
            const float want = (d * (float)b6.scales[e / 16]) * (float)(L[e] - 32);
            CHECK(f2u(out[e]) == f2u(want), "q6_K[%d] = %g, want %g", e, (double)out[e], (double)want);
        }
    }
    /* F16 / BF16 / F32 */
    uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7bff};
    sd_dequantize_row_ref(SD_TYPE_F16, h, out, 4);
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-24f && out[3] == 65504.0f, "f16 dequant");
    uint16_t bf[2] = {0x3f80, 0xc040};
    sd_dequantize_row_ref(SD_TYPE_BF16, bf, out, 2);
    CHECK(out[0] == 1.0f && out[1] == -3.0f, "bf16 dequant");
}

static const sd_type all_types[] = {SD_TYPE_F32,  SD_TYPE_F16,  SD_TYPE_BF16,   SD_TYPE_Q4_0, SD_TYPE_Q8_0,
                                    SD_TYPE_Q4_K, SD_TYPE_Q6_K, SD_TYPE_Q4_1,   SD_TYPE_Q5_0, SD_TYPE_Q5_1,
                                    SD_TYPE_Q2_K, SD_TYPE_Q3_K, SD_TYPE_IQ4_NL, SD_TYPE_Q5_K, SD_TYPE_IQ4_XS};

/* Random row bytes with finite fp16 scales. */
static void random_row(sd_type type, void *data, int64_t n) {
    const size_t bytes = sd_type_row_bytes((uint32_t)type, n);
    for (size_t i = 0; i < bytes; i++)
        ((uint8_t *)data)[i] = (uint8_t)rnd();
    for (int64_t i = 0; i < n; i++) {
        if (type == SD_TYPE_F32) ((float *)data)[i] = frnd() * 100.0f;
        if (type == SD_TYPE_F16) ((uint16_t *)data)[i] &= 0xbbffu;  /* exponent < 31: finite */
        if (type == SD_TYPE_BF16) ((uint16_t *)data)[i] &= 0xbfffu; /* exponent < 255: finite */
    }
    const sd_type_traits *t = sd_type_traits_of((uint32_t)type);
    if (t->block_size == 1) return;
    int off[2];
    sd_block_fp16_fields(type, off);
    for (int64_t b = 0; b < n / t->block_size; b++) {
        for (int j = 0; j < 2; j++) {
            if (off[j] < 0) continue;
            const uint16_t h = sd_fp32_to_fp16(frnd());
            memcpy((uint8_t *)data + (size_t)b * t->type_size + (size_t)off[j], &h, sizeof h);
        }
    }
}

static void test_dequant_kernels(void) {
    const sd_kernel_set *sets[8];
    const int n_sets = sd_gemm_kernel_sets(sets, 8);
    enum { N = 1024 };
    static uint8_t data[(N + 3) * 4];
    static float ref[N + 3], got[N + 3];
    for (size_t ti = 0; ti < SD_ARRAY_LEN(all_types); ti++) {
        const sd_type type = all_types[ti];
        const int64_t n = sd_type_traits_of((uint32_t)type)->block_size == 1 ? N + 3 : N;
        for (int rep = 0; rep < 20; rep++) {
            random_row(type, data, n);
            sd_dequantize_row_ref(type, data, ref, n);
            for (int s = 0; s < n_sets; s++) {
                if (!sets[s]->dequantize) continue;
                sets[s]->dequantize(type, data, got, n);
                CHECK(memcmp(ref, got, sizeof(float) * (size_t)n) == 0, "%s dequantize %s differs",
                      sets[s]->name, sd_type_traits_of((uint32_t)type)->name);
            }
            sd_dequantize_row(type, data, got, n);
            CHECK(memcmp(ref, got, sizeof(float) * (size_t)n) == 0, "sd_dequantize_row %s differs",
                  sd_type_traits_of((uint32_t)type)->name);
        }
    }
}

/* The lane-ordered dot references compute the dot of the dequantized operands. */
static void test_dot_refs(void) {
    enum { K = 1024 };
    static uint8_t w[K * 4];
    static float x[K], wf[K], xf[K];
    static sd_block_q8_0 x8[K / 32];
    static sd_block_q8_k xk[K / 256];
    for (size_t ti = 0; ti < SD_ARRAY_LEN(all_types); ti++) {
        const sd_type type = all_types[ti];
        for (int rep = 0; rep < 20; rep++) {
            random_row(type, w, K);
            for (int e = 0; e < K; e++)
                x[e] = frnd() * (rep % 2 ? 1e3f : 1e-3f);
            sd_dequantize_row_ref(type, w, wf, K);
            float got = NAN;
            memcpy(xf, x, sizeof x);
            switch (type) {
            case SD_TYPE_F32:
                got = sd_vec_dot_f32_ref((const float *)w, x, K);
                break;
            case SD_TYPE_F16:
                got = sd_vec_dot_f16_f32_ref((const uint16_t *)w, x, K);
                break;
            case SD_TYPE_BF16:
                got = sd_vec_dot_bf16_f32_ref((const uint16_t *)w, x, K);
                break;
            default: {
                /* the scalar set's dot on one activation row quantized as the references do */
                sd_weight wt;
                char err[128];
                CHECK(sd_weight_init_with(&wt, &sd_kernels_scalar, type, 1, K, w, err, sizeof err) ==
                          SD_STATUS_OK,
                      "init %s: %s", sd_type_traits_of((uint32_t)type)->name, err);
                sd_gemm_ref(&wt, x, 1, &got);
                if (sd_act_type_of(type) == SD_TYPE_Q8_0) {
                    sd_quantize_row_q8_0_ref(x, x8, K);
                    sd_dequantize_row_ref(SD_TYPE_Q8_0, x8, xf, K);
                } else {
                    sd_quantize_row_q8_k_ref(x, xk, K);
                    for (int e = 0; e < K; e++)
                        xf[e] = xk[e / 256].d * (float)xk[e / 256].qs[e % 256];
                }
                sd_weight_release(&wt);
                break;
            }
            }
            double dot = 0.0, mag = 0.0;
            for (int e = 0; e < K; e++) {
                dot += (double)wf[e] * (double)xf[e];
                mag += fabs((double)wf[e] * (double)xf[e]);
            }
            CHECK(fabs((double)got - dot) <= 1e-5 * mag, "dot %s: %.9g vs %.9g (mag %.3g)",
                  sd_type_traits_of((uint32_t)type)->name, (double)got, dot, mag);
        }
    }
}

int main(void) {
    test_fp16();
    test_bf16();
    test_quantize_q8_0();
    test_quantize_q8_k();
    test_dequant_ref();
    test_dequant_kernels();
    test_dot_refs();
    return test_finish("quant");
}
