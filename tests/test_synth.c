/* specdec synth: the weight quantizers (bytes as ggml's reference quantizers produce them, error bounds),
 * grown models (bit-identical logits and greedy tokens to the source, deterministic bytes, errors), and
 * the real-model shapes (tensor lists and parameter counts in a dry run; smollm2-135m written, loaded,
 * tokenized with and run one step). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "gemm/gemm.h"
#include "gemm/quant.h"
#include "gemm/quantize_weights.h"
#include "model/forward.h"
#include "model/model.h"
#include "synth/synth.h"
#include "test_util.h"

/* ---- quantizers ---- */

static void check_q4_0_block(const char *what, const float x[32], uint16_t want_d,
                             const uint8_t want_qs[16]) {
    sd_block_q4_0 b;
    sd_quantize_row_q4_0_ref(x, &b, 32);
    CHECK(b.d == want_d, "%s: d = 0x%04x, want 0x%04x", what, b.d, want_d);
    for (int j = 0; j < 16; j++)
        CHECK(b.qs[j] == want_qs[j], "%s: qs[%d] = 0x%02x, want 0x%02x", what, j, b.qs[j], want_qs[j]);
}

/* Blocks worked out by hand with ggml's rule: d = (value of largest magnitude) / -8,
 * q = min(15, (int8)(x / d + 8.5)), byte j = q[j] | q[j + 16] << 4. */
static void test_q4_0_hand(void) {
    float x[32];
    /* x = -8, -7.5, ..., 7.5: max magnitude -8 -> d = 1, q = (int)(0.5 j + 0.5) capped at 15 */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) * 0.5f;
    const uint8_t ramp[16] = {0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4,
                              0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7, 0xF8};
    check_q4_0_block("ramp", x, 0x3C00 /* 1.0 */, ramp);

    /* a positive extreme: x[5] = 4 -> d = -0.5, q[5] = 0; x[20] = -1 -> -1 / -0.5 + 8.5 = 10.5 -> 10 */
    memset(x, 0, sizeof x);
    x[5] = 4.0f;
    x[20] = -1.0f;
    uint8_t pos[16];
    memset(pos, 0x88, sizeof pos);
    pos[5] = 0x80;
    pos[4] = 0xA8;
    check_q4_0_block("positive max", x, 0xB800 /* -0.5 */, pos);

    /* all zero: d = 0 / -8 = -0 and every q = 8 */
    memset(x, 0, sizeof x);
    uint8_t zero[16];
    memset(zero, 0x88, sizeof zero);
    check_q4_0_block("zeros", x, 0x8000 /* -0: 0 / -8 */, zero);

    /* ties in magnitude: the first wins (-2 before +2), so d = 0.25 and +2 lands on 8 + 8.5 -> capped 15 */
    memset(x, 0, sizeof x);
    x[0] = -2.0f;
    x[1] = 2.0f;
    uint8_t tie[16];
    memset(tie, 0x88, sizeof tie);
    tie[0] = 0x80;
    tie[1] = 0x8F;
    check_q4_0_block("tie", x, 0x3400 /* 0.25 */, tie);
}

static float test_normal(uint64_t *s) {
    double u1 = 0, u2;
    while (u1 == 0) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        u1 = (double)(*s >> 11) / 9007199254740992.0;
    }
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    u2 = (double)(*s >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

static void test_quant_bounds(void) {
    enum { K = 4096 };
    static float x[K], y[K];
    static sd_block_q4_0 q4[K / 32];
    static sd_block_q8_0 q8a[K / 32], q8b[K / 32];
    static uint16_t h[K];
    uint64_t s = 42;
    for (int i = 0; i < K; i++)
        x[i] = test_normal(&s) * (i % 97 == 0 ? 5.0f : 1.0f);
    CHECK(sd_quantize_rows(SD_TYPE_Q4_0, x, q4, 1, K) == 0, "q4_0 rows");
    sd_dequantize_row_ref(SD_TYPE_Q4_0, q4, y, K);
    int n_bad = 0;
    double sq = 0;
    for (int b = 0; b < K / 32; b++) {
        const float d = fabsf(sd_fp16_to_fp32(q4[b].d));
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        /* half a step where x / d rounds to the grid; a full step for values beyond +7.5 steps that are
         * capped at 7 (the grid is -8..7 on the extreme's side); plus fp16 rounding of d (8 steps) */
        for (int j = 0; j < 32; j++) {
            const float v = x[b * 32 + j], e = fabsf(v - y[b * 32 + j]);
            const float slack = 8.0f * d * 1e-3f + 1e-6f;
            const float bound = fabsf(v) > 7.5f * d ? d + slack : 0.5f * d + slack;
            if (e > bound && n_bad++ < 5)
                CHECK(0, "q4_0 element %d: x %g got %g (d %g)", b * 32 + j, v, y[b * 32 + j], d);
            sq += (double)e * e;
        }
        CHECK(fabsf(d * 8.0f - amax) <= amax * 1e-3f, "q4_0 block %d: d %g for max |x| %g", b, d, amax);
    }
    const double rmse = sqrt(sq / K);
    CHECK(rmse > 0.05 && rmse < 0.2, "q4_0 rms error %g for unit normals (expected ~0.1)", rmse);

    /* Q8_0 and F16 go through the existing references */
    CHECK(sd_quantize_rows(SD_TYPE_Q8_0, x, q8a, 1, K) == 0, "q8_0 rows");
    sd_quantize_row_q8_0_ref(x, q8b, K);
    CHECK(memcmp(q8a, q8b, sizeof q8a) == 0, "q8_0 rows differ from sd_quantize_row_q8_0_ref");
    CHECK(sd_quantize_rows(SD_TYPE_F16, x, h, 1, K) == 0, "f16 rows");
    int f16_bad = 0;
    for (int i = 0; i < K; i++)
        f16_bad += h[i] != sd_fp32_to_fp16(x[i]);
    CHECK(f16_bad == 0, "%d f16 values differ from sd_fp32_to_fp16", f16_bad);
    CHECK(sd_quantize_rows(SD_TYPE_Q2_K, x, q4, 1, K) == SD_STATUS_UNSUPPORTED, "q2_K must be refused");

    /* Q5_0, Q4_K and Q6_K (the types of a Q4_K_M mix): every element within its group's step of x, and
     * an rms error of unit normals in the expected range for the type's bits */
    static uint8_t qbuf[K * 2];
    const struct {
        sd_type type;
        int group;      /* elements sharing one step */
        float levels;   /* steps across a group's range */
        double rms_max; /* for unit normals */
    } kinds[] = {
        {SD_TYPE_Q5_0, 32, 31.0f, 0.08}, {SD_TYPE_Q4_K, 32, 15.0f, 0.15}, {SD_TYPE_Q6_K, 16, 62.0f, 0.04}};
    for (size_t t = 0; t < SD_ARRAY_LEN(kinds); t++) {
        CHECK(sd_quantize_rows(kinds[t].type, x, qbuf, 1, K) == 0, "type %d rows", (int)kinds[t].type);
        sd_dequantize_row_ref(kinds[t].type, qbuf, y, K);
        double sq2 = 0;
        int bad = 0;
        for (int g = 0; g < K / kinds[t].group; g++) {
            float lo = 0, hi = 0;
            for (int j = 0; j < kinds[t].group; j++) {
                lo = fminf(lo, x[g * kinds[t].group + j]);
                hi = fmaxf(hi, x[g * kinds[t].group + j]);
            }
            /* a step, with room for the 6- or 8-bit rounding of the group's scale against the block's */
            const float step = (hi - lo) / kinds[t].levels * 1.1f + 0.02f;
            for (int j = 0; j < kinds[t].group; j++) {
                const int e = g * kinds[t].group + j;
                const float err = fabsf(x[e] - y[e]);
                if (err > step && bad++ < 3)
                    CHECK(0, "type %d element %d: x %g got %g", (int)kinds[t].type, e, x[e], y[e]);
                sq2 += (double)err * err;
            }
        }
        const double r = sqrt(sq2 / K);
        printf("%s: rms error %.4f of unit normals\n", sd_type_traits_of((uint32_t)kinds[t].type)->name, r);
        CHECK(r < kinds[t].rms_max, "type %d: rms error %g (want < %g)", (int)kinds[t].type, r,
              kinds[t].rms_max);
    }
    CHECK(sd_quantize_rows(SD_TYPE_Q4_0, x, q4, 1, 48) == SD_STATUS_INVALID_ARGUMENT,
          "k = 48 must be refused");
}

/* ---- grow ---- */

static void temp_path(char *buf, size_t n, const char *tag) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, n, "%s/sd_test_synth_%ld_%s.gguf", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
}

static const char *kPrompt =
    "static int ext4_foo(struct inode *inode, loff_t len)\n{\n\tint ret = 0;\n\tif (len > 4096)\n";

/* Logits after the prompt and after each of 32 greedy steps must be bit-identical, and so the tokens. */
static void check_same_function(const sd_model *a, const sd_model *b) {
    char err[512];
    sd_forward *fa = NULL, *fb = NULL;
    CHECK(sd_forward_create(a, 256, 64, NULL, &fa, err, sizeof err) == 0, "forward: %s", err);
    CHECK(sd_forward_create(b, 256, 64, NULL, &fb, err, sizeof err) == 0, "forward: %s", err);
    if (!fa || !fb) goto out;
    int32_t toks[128];
    int n = sd_tokenize(a->vocab, kPrompt, strlen(kPrompt), true, false, toks, 128, err, sizeof err);
    CHECK(n > 8 && n < 128, "prompt: %d tokens", n);
    if (n <= 8 || n >= 128) goto out;
    CHECK(sd_forward_run(fa, toks, n, false, err, sizeof err) == 0, "%s", err);
    CHECK(sd_forward_run(fb, toks, n, false, err, sizeof err) == 0, "%s", err);
    const size_t nv = (size_t)a->hp.n_vocab;
    int n_diff = 0;
    for (int step = 0; step <= 32; step++) {
        const float *la = sd_forward_logits(fa, -1), *lb = sd_forward_logits(fb, -1);
        if (memcmp(la, lb, nv * sizeof *la) != 0 && n_diff++ < 3)
            CHECK(0, "grown model's logits differ from the source's at step %d", step);
        int32_t ta = 0, tb = 0;
        for (size_t i = 1; i < nv; i++) {
            if (la[i] > la[ta]) ta = (int32_t)i;
            if (lb[i] > lb[tb]) tb = (int32_t)i;
        }
        CHECK(ta == tb, "greedy step %d: source %d, grown %d", step, ta, tb);
        if (step == 32) break;
        CHECK(sd_forward_run(fa, &ta, 1, false, err, sizeof err) == 0, "%s", err);
        CHECK(sd_forward_run(fb, &ta, 1, false, err, sizeof err) == 0, "%s", err);
    }
out:
    sd_forward_free(fa);
    sd_forward_free(fb);
}

static void test_grow(void) {
    const char *src = test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf");
    char out[512], out2[512], err[512];
    temp_path(out, sizeof out, "grow");
    temp_path(out2, sizeof out2, "grow2");
    sd_synth_params p = sd_synth_default_params();
    p.n_params = 20000000;
    p.seed = 7;
    sd_synth_report dry, rep;
    CHECK(sd_synth_grow(src, &p, NULL, &dry, err, sizeof err) == 0, "dry grow: %s", err);
    CHECK(access(out, F_OK) != 0 || unlink(out) == 0, "stale %s", out);
    CHECK(sd_synth_grow(src, &p, out, &rep, err, sizeof err) == 0, "grow: %s", err);
    CHECK(memcmp(&dry, &rep, sizeof rep) == 0, "a dry run reports what the write reports");
    CHECK(rep.n_layer_src == 4 && rep.n_layer > 4, "layers %d (source %d)", rep.n_layer, rep.n_layer_src);
    CHECK(rep.n_params_src == 5048576, "source params %llu", (unsigned long long)rep.n_params_src);
    const double per_layer = (double)(rep.n_params - rep.n_params_src) / (rep.n_layer - rep.n_layer_src);
    CHECK(fabs((double)rep.n_params - 2e7) <= per_layer / 2 + 1, "params %llu not within half a layer of 2e7",
          (unsigned long long)rep.n_params);
    CHECK(rep.n_ff_extra % 256 == 0 && rep.n_layer - 4 >= 20 && rep.n_layer - 4 <= 160,
          "default FFN %d gives %d extra layers", rep.n_ff_extra, rep.n_layer - 4);

    sd_model *a = NULL, *b = NULL;
    CHECK(sd_model_load_file(src, &a, err, sizeof err) == 0, "source: %s", err);
    CHECK(sd_model_load_file(out, &b, err, sizeof err) == 0, "grown: %s", err);
    if (a && b) {
        CHECK(b->hp.n_layer == rep.n_layer, "loaded %d layers, report %d", b->hp.n_layer, rep.n_layer);
        CHECK(b->n_params == rep.n_params, "loaded %llu params, report %llu", (unsigned long long)b->n_params,
              (unsigned long long)rep.n_params);
        CHECK(b->hp.n_ff == a->hp.n_ff || b->hp.n_ff == rep.n_ff_extra, "n_ff %d", b->hp.n_ff);
        for (int il = 0; il < b->hp.n_layer; il++) {
            int want = il < 4 ? a->layers[il].n_ff : rep.n_ff_extra;
            CHECK(b->layers[il].n_ff == want, "layer %d ffn %d want %d", il, b->layers[il].n_ff, want);
            if (il >= 4) {
                CHECK(b->layers[il].wq.type == SD_TYPE_Q4_0, "layer %d type %d", il, b->layers[il].wq.type);
                float s = 0;
                for (int i = 0; i < b->hp.n_embd; i++)
                    s += fabsf(b->layers[il].attn_norm[i]) + fabsf(b->layers[il].ffn_norm[i]);
                CHECK(s == 0, "extra layer %d has nonzero norms", il);
            }
        }
        /* unchanged source tensors, same bytes */
        for (uint64_t i = 0; i < sd_gguf_n_tensors(a->gguf); i++) {
            const sd_gguf_tensor *ta = sd_gguf_tensor_at(a->gguf, i);
            char name[80];
            snprintf(name, sizeof name, "%.*s", (int)ta->name.len, ta->name.ptr);
            const sd_gguf_tensor *tb = sd_gguf_find_tensor(b->gguf, name);
            CHECK(tb && tb->type == ta->type && tb->n_bytes == ta->n_bytes &&
                      memcmp(tb->data, ta->data, ta->n_bytes) == 0,
                  "tensor %s not copied unchanged", name);
        }
        const sd_gguf_kv *ff = sd_gguf_find_kv(b->gguf, "llama.feed_forward_length");
        CHECK(ff && ff->type == SD_GGUF_ARRAY && ff->arr_type == SD_GGUF_INT32 &&
                  ff->arr_len == (uint64_t)rep.n_layer,
              "llama.feed_forward_length must be an INT32 array of %d", rep.n_layer);
        CHECK(strcmp(b->name, "codepair-target-grown") == 0, "name '%s'", b->name);
        check_same_function(a, b);
    }
    sd_model_free_internal(a);
    sd_model_free_internal(b);

    /* same seed with 2 threads: same bytes; another seed: other bytes */
    size_t n1 = 0, n2 = 0;
    char *f1 = test_read_file(out, &n1);
    p.n_threads = 2;
    CHECK(sd_synth_grow(src, &p, out2, NULL, err, sizeof err) == 0, "grow 2 threads: %s", err);
    char *f2 = test_read_file(out2, &n2);
    CHECK(f1 && f2 && n1 == n2 && n1 == rep.file_bytes && memcmp(f1, f2, n1) == 0,
          "same seed, different bytes (1 vs 2 threads)");
    free(f2);
    p.seed = 8;
    CHECK(sd_synth_grow(src, &p, out2, NULL, err, sizeof err) == 0, "grow seed 8: %s", err);
    f2 = test_read_file(out2, &n2);
    CHECK(f1 && f2 && n1 == n2 && memcmp(f1, f2, n1) != 0, "seeds 7 and 8 gave the same bytes");
    free(f1);
    free(f2);

    /* an explicit FFN width, Q8_0 */
    p.ff_width = 1024;
    p.type = SD_TYPE_Q8_0;
    CHECK(sd_synth_grow(src, &p, NULL, &rep, err, sizeof err) == 0, "dry grow ff 1024: %s", err);
    CHECK(rep.n_ff_extra == 1024, "ff %d", rep.n_ff_extra);

    /* errors */
    int rc;
    p = sd_synth_default_params();
    p.n_params = 1000;
    CHECK((rc = sd_synth_grow(src, &p, out2, NULL, err, sizeof err)) == SD_STATUS_INVALID_ARGUMENT,
          "params below the source's: rc %d", rc);
    p.n_params = 20000000;
    p.ff_width = 100;
    CHECK((rc = sd_synth_grow(src, &p, out2, NULL, err, sizeof err)) == SD_STATUS_INVALID_ARGUMENT,
          "ff 100: rc %d", rc);
    p.ff_width = 0;
    p.type = SD_TYPE_Q4_K;
    CHECK((rc = sd_synth_grow(src, &p, out2, NULL, err, sizeof err)) == SD_STATUS_INVALID_ARGUMENT,
          "type q4_K: rc %d", rc);
    p.type = SD_TYPE_Q4_0;
    CHECK((rc = sd_synth_grow("/nonexistent/x.gguf", &p, out2, NULL, err, sizeof err)) == SD_STATUS_IO,
          "missing source: rc %d (%s)", rc, err);
    unlink(out);
    unlink(out2);
}

/* ---- shapes ---- */

typedef struct tensor_seen {
    const sd_synth_shape *s;
    int n, n_layers_seen, n_bias, n_matrix_bad;
    bool token_embd_ok, has_output, has_rope_freqs;
    int64_t rope_freqs_len;
} tensor_seen;

static void on_tensor(void *ctx, const char *name, uint32_t type, uint32_t n_dims, const int64_t ne[4]) {
    tensor_seen *ts = ctx;
    const sd_synth_shape *s = ts->s;
    ts->n++;
    if (strcmp(name, "token_embd.weight") == 0)
        ts->token_embd_ok = n_dims == 2 && ne[0] == s->n_embd && ne[1] == s->n_vocab && type == SD_TYPE_Q4_0;
    if (strcmp(name, "output.weight") == 0) ts->has_output = true;
    if (strcmp(name, "rope_freqs.weight") == 0) {
        ts->has_rope_freqs = true;
        ts->rope_freqs_len = ne[0];
    }
    if (strstr(name, ".bias")) ts->n_bias++;
    int il;
    char suffix[64];
    if (sscanf(name, "blk.%d.%63s", &il, suffix) == 2) {
        if (il + 1 > ts->n_layers_seen) ts->n_layers_seen = il + 1;
        const int64_t hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head;
        const bool fused = strcmp(s->arch, "phi3") == 0; /* attn_qkv, ffn_up = gate and up */
        int64_t want0 = -1, want1 = -1;
        if (strcmp(suffix, "attn_q.weight") == 0) want0 = s->n_embd, want1 = hd * s->n_head;
        if (strcmp(suffix, "attn_k.weight") == 0) want0 = s->n_embd, want1 = hd * s->n_head_kv;
        if (strcmp(suffix, "attn_qkv.weight") == 0)
            want0 = s->n_embd, want1 = hd * (s->n_head + 2 * s->n_head_kv);
        if (strcmp(suffix, "attn_q_norm.weight") == 0) want0 = hd, want1 = 1;
        if (strcmp(suffix, "attn_output.weight") == 0) want0 = hd * s->n_head, want1 = s->n_embd;
        if (strcmp(suffix, "ffn_up.weight") == 0) want0 = s->n_embd, want1 = s->n_ff * (fused ? 2 : 1);
        if (strcmp(suffix, "ffn_down.weight") == 0) want0 = s->n_ff, want1 = s->n_embd;
        if (want0 >= 0 && (ne[0] != want0 || ne[1] != want1)) ts->n_matrix_bad++;
    }
}

static void test_shapes_dry(void) {
    char err[512];
    /* published sizes (model cards; gemma-3-4b: its text model) */
    const struct {
        const char *name;
        double published;
    } cards[] = {{"smollm2-135m", 135e6},  {"smollm2-360m", 360e6},  {"qwen2.5-0.5b", 0.49e9},
                 {"llama-3.2-1b", 1.24e9}, {"qwen2.5-1.5b", 1.54e9}, {"smollm2-1.7b", 1.7e9},
                 {"llama-3.2-3b", 3.21e9}, {"qwen2.5-7b", 7.61e9},   {"qwen3-0.6b", 0.6e9},
                 {"qwen3-4b", 4.02e9},     {"gemma-3-270m", 268e6},  {"gemma-3-1b", 1.0e9},
                 {"gemma-3-4b", 3.88e9},   {"phi-4-mini", 3.84e9}};
    CHECK(sd_synth_n_shapes() == SD_ARRAY_LEN(cards), "%zu shapes", sd_synth_n_shapes());
    for (size_t i = 0; i < SD_ARRAY_LEN(cards); i++) {
        const sd_synth_shape *s = sd_synth_shape_find(cards[i].name);
        CHECK(s != NULL, "shape %s missing", cards[i].name);
        if (!s) continue;
        tensor_seen ts = {.s = s};
        sd_synth_params p = sd_synth_default_params();
        p.on_tensor = on_tensor;
        p.on_tensor_ctx = &ts;
        sd_synth_report rep;
        CHECK(sd_synth_shape_write(s->name, &p, NULL, &rep, err, sizeof err) == 0, "%s: %s", s->name, err);
        const double got = (double)rep.n_params;
        CHECK(fabs(got - (double)s->published_params) <= 1e-3 * (double)s->published_params,
              "%s: %.0f params vs %llu", s->name, got, (unsigned long long)s->published_params);
        CHECK(fabs(got - cards[i].published) <= 0.02 * cards[i].published,
              "%s: %.0f params vs model card %.0f", s->name, got, cards[i].published);
        CHECK(rep.n_layer == s->n_layer && ts.n_layers_seen == s->n_layer, "%s: layers %d / %d", s->name,
              rep.n_layer, ts.n_layers_seen);
        CHECK(rep.n_vocab == s->n_vocab && ts.token_embd_ok, "%s: token_embd shape", s->name);
        CHECK((uint64_t)ts.n == rep.n_tensors, "%s: %d tensors seen, %llu reported", s->name, ts.n,
              (unsigned long long)rep.n_tensors);
        CHECK(ts.n_matrix_bad == 0, "%s: %d misshapen matrices", s->name, ts.n_matrix_bad);
        CHECK(ts.has_output == !s->tied_output, "%s: output.weight present %d, tied %d", s->name,
              ts.has_output, s->tied_output);
        const bool qwen = strcmp(s->arch, "qwen2") == 0;
        CHECK(ts.n_bias == (qwen ? 3 * s->n_layer : 0), "%s: %d biases", s->name, ts.n_bias);
        CHECK(ts.has_rope_freqs == (strncmp(s->name, "llama-3.2", 9) == 0), "%s: rope_freqs", s->name);
        if (ts.has_rope_freqs)
            CHECK(ts.rope_freqs_len == s->n_embd / s->n_head / 2, "%s: rope_freqs len %lld", s->name,
                  (long long)ts.rope_freqs_len);
        /* Q4_0: 18 bytes per 32 weights, plus F32 norms, the vocabulary and headers */
        CHECK(rep.file_bytes > got * 18 / 32 && rep.file_bytes < got * 18 / 32 * 1.05 + 8e6, "%s: %llu bytes",
              s->name, (unsigned long long)rep.file_bytes);
    }
    /* the real llama-3.2-1b facts the brief names */
    const sd_synth_shape *l = sd_synth_shape_find("llama-3.2-1b");
    CHECK(l && l->n_embd == 2048 && l->n_layer == 16 && l->n_head == 32 && l->n_head_kv == 8 &&
              l->n_ff == 8192 && l->n_vocab == 128256 && l->tied_output && l->rope_freq_base == 500000.0f,
          "llama-3.2-1b shape");
    int rc;
    sd_synth_params p = sd_synth_default_params();
    CHECK((rc = sd_synth_shape_write("gpt-5", &p, NULL, NULL, err, sizeof err)) == SD_STATUS_INVALID_ARGUMENT,
          "unknown shape: rc %d", rc);
}

/* Writes smollm2-135m (Q4_0, ~74 MiB), loads it, tokenizes with its generated vocabulary and runs a step. */
static void test_shape_write(void) {
    char out[512], err[512];
    temp_path(out, sizeof out, "smollm2");
    sd_synth_params p = sd_synth_default_params();
    p.n_threads = 2;
    sd_synth_report rep;
    double t0 = sd_time_seconds();
    CHECK(sd_synth_shape_write("smollm2-135m", &p, out, &rep, err, sizeof err) == 0, "write: %s", err);
    double t_write = sd_time_seconds() - t0;
    sd_model *m = NULL;
    CHECK(sd_model_load_file(out, &m, err, sizeof err) == 0, "load: %s", err);
    if (m) {
        const sd_synth_shape *s = sd_synth_shape_find("smollm2-135m");
        CHECK(m->hp.n_vocab == s->n_vocab && m->hp.n_embd == s->n_embd && m->hp.n_layer == s->n_layer &&
                  m->hp.n_head == s->n_head && m->hp.n_head_kv == s->n_head_kv && m->hp.n_ff == s->n_ff &&
                  m->hp.n_ctx_train == s->n_ctx_train && m->hp.tied_output &&
                  m->hp.rope_freq_base == s->rope_freq_base && m->hp.rms_eps == s->rms_eps,
              "loaded hyper-parameters differ from the shape");
        CHECK(m->n_params == rep.n_params, "loaded %llu params, report %llu", (unsigned long long)m->n_params,
              (unsigned long long)rep.n_params);
        CHECK(sd_vocab_get_kind(m->vocab) == SD_VOCAB_BPE &&
                  strcmp(sd_vocab_pre_name(m->vocab), "smollm") == 0,
              "vocab kind/pre");
        CHECK(sd_vocab_bos(m->vocab) == s->n_vocab - 2 && sd_vocab_eos(m->vocab) == s->n_vocab - 1,
              "bos/eos");
        CHECK(sd_vocab_token_type(m->vocab, s->n_vocab - 1) == SD_TOKEN_CONTROL, "eos is a control token");
        const char *text = "hello world, the quick brown fox: 42 caf\xc3\xa9 \t\n  end";
        int32_t toks[256];
        int n = sd_tokenize(m->vocab, text, strlen(text), false, false, toks, 256, err, sizeof err);
        CHECK(n > 0 && n < (int)strlen(text), "tokenize: %d tokens for %zu bytes (%s)", n, strlen(text), err);
        if (n > 0 && n <= 256) {
            char back[256];
            int len = sd_detokenize(m->vocab, toks, n, false, false, back, sizeof back);
            CHECK(len == (int)strlen(text) && memcmp(back, text, strlen(text)) == 0,
                  "detokenize does not give the text back (%d bytes)", len);
            sd_forward *f = NULL;
            CHECK(sd_forward_create(m, 64, 16, NULL, &f, err, sizeof err) == 0, "forward: %s", err);
            if (f) {
                CHECK(sd_forward_run(f, toks, 1, false, err, sizeof err) == 0, "run: %s", err);
                const float *lg = sd_forward_logits(f, -1);
                int n_bad = 0;
                float mx = 0;
                for (int i = 0; i < m->hp.n_vocab; i++) {
                    n_bad += !isfinite(lg[i]);
                    mx = fmaxf(mx, fabsf(lg[i]));
                }
                CHECK(n_bad == 0 && mx > 0 && mx < 1e4f, "logits: %d non-finite, max |l| %g", n_bad, mx);
                sd_forward_free(f);
            }
        }
        sd_model_free_internal(m);
    }
    printf("smollm2-135m q4_0: %llu bytes written in %.2f s\n", (unsigned long long)rep.file_bytes, t_write);
    unlink(out);
}

/* The Q4_K_M mix against llama-quantize's own files: every matrix of the bundled target and of the tiny
 * models of every architecture, as llama-quantize wrote them, has the type sd_synth_q4_k_m_type gives. */
static void test_q4_k_m_mix(void) {
    const char *files[] = {
        "models/quant/codepair-target-Q4_K_M.gguf",    "models/arch/quant/llama-s1-Q4_K_M.gguf",
        "models/arch/quant/llama-tied-s1-Q4_K_M.gguf", "models/arch/quant/qwen2-s1-Q4_K_M.gguf",
        "models/arch/quant/qwen3-s1-Q4_K_M.gguf",      "models/arch/quant/gemma2-s1-Q4_K_M.gguf",
        "models/arch/quant/gemma3-s1-Q4_K_M.gguf",     "models/arch/quant/phi3-s1-Q4_K_M.gguf",
        "models/arch/quant/phi4mini-s1-Q4_K_M.gguf"};
    const char *shared = getenv("SD_SHARED_DIR");
    if (!shared || !*shared) {
        printf("SD_SHARED_DIR unset: the Q4_K_M mix is not checked against llama-quantize's files\n");
        return;
    }
    for (size_t f = 0; f < SD_ARRAY_LEN(files); f++) {
        char err[256];
        sd_gguf *g = NULL;
        if (sd_gguf_open(test_path("SD_SHARED_DIR", files[f]), &g, err, sizeof err) < 0) {
            CHECK(0, "%s: %s", files[f], err);
            continue;
        }
        int32_t n_layer = 0;
        bool has_output = sd_gguf_find_tensor(g, "output.weight") != NULL;
        for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
            const sd_gguf_str nm = sd_gguf_tensor_at(g, i)->name;
            char name[128];
            int il;
            snprintf(name, sizeof name, "%.*s", (int)nm.len, nm.ptr);
            if (sscanf(name, "blk.%d.", &il) == 1 && il + 1 > n_layer) n_layer = il + 1;
        }
        int n_matrices = 0, n_wrong = 0;
        for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
            const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
            if (t->n_dims != 2) continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            const sd_type want = (sd_type)t->type,
                          got = sd_synth_q4_k_m_type(name, n_layer, t->ne[0], has_output);
            n_matrices++;
            if (got != want && n_wrong++ < 3)
                CHECK(0, "%s: %s is %s in llama-quantize's file, the mix says %s", files[f], name,
                      sd_type_traits_of(want)->name, sd_type_traits_of(got)->name);
        }
        CHECK(n_matrices > 0 && n_wrong == 0, "%s: %d of %d matrices differ", files[f], n_wrong, n_matrices);
        sd_gguf_close(g);
    }
}

int main(void) {
    test_q4_0_hand();
    test_quant_bounds();
    test_q4_k_m_mix();
    test_grow();
    test_shapes_dry();
    test_shape_write(); /* ~1 s; ~4 s under ASan */
    return test_finish("test_synth");
}
