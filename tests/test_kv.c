/* The KV cache past the context and per cache type:
 * - sd_forward_shift: the kept positions are untouched; at layer 0 (where a key and a value depend on their
 *   token and position only) the moved values are the fresh run's bit for bit and the re-rotated keys equal
 *   the fresh run's keys at the new positions within the cache type's rounding; for a RoPE of each kind
 *   (llama adjacent pairs, NeoX halves, Gemma's sliding layers, Phi-3's LongRoPE factors) where
 *   shared_dir/models/arch holds them;
 * - generation of 10x the context with shifting: speculative decoding (several fixed k, adaptive, n-gram
 *   only) gives plain decoding's tokens, with the same number of shifts, for each cache type;
 * - without shifting, greedy speculative output equals plain for each cache type, and a full context stops
 *   with SD_STOP_CONTEXT_FULL. */
#include <math.h>
#include <string.h>

#include "common/sd_common.h"
#include "model/attention.h"
#include "model/forward.h"
#include "model/model.h"
#include "specdec.h"
#include "test_util.h"

static const sd_cache_type kTypes[] = {SD_CACHE_F32, SD_CACHE_F16, SD_CACHE_Q8_0};

static const char *kText =
    "static int foo(struct inode *inode, loff_t len)\n{\n\tint ret = 0;\n\tif (len > 4096)\n"
    "\t\treturn -ENOSPC;\n\tret = bar(inode);\n\treturn ret;\n}\n";

/* The largest |x| of v[0..n). */
static float max_abs(const float *v, int n) {
    float m = 0;
    for (int i = 0; i < n; i++)
        m = fabsf(v[i]) > m ? fabsf(v[i]) : m;
    return m;
}

/* Key error allowed, relative to the head's largest |key|: f32 rounds once in fp32 arithmetic; f16 and q8_0
 * round the cached key, then the rotated one (q8_0: half a quantum of 1/127 of its block's maximum, twice).
 */
static float key_tolerance(sd_cache_type t) {
    return t == SD_CACHE_F32 ? 1e-5f : t == SD_CACHE_F16 ? 2e-3f : 2.5f / 127.0f;
}

/* Fresh: kept + tail at positions 0..n-1. Shifted: kept + dropped + tail, then the dropped ones shifted out.
 */
static void check_shift_model(const char *path, const char *name, sd_cache_type type) {
    enum { N_KEEP = 4, N_DROP = 9, N_TAIL = 11 };
    char err[512];
    sd_model *m = NULL;
    int rc = sd_model_load_file(path, &m, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) return;
    int32_t toks[256];
    int n = sd_tokenize(m->vocab, kText, strlen(kText), true, false, toks, 256, err, sizeof err);
    CHECK(n >= N_KEEP + N_DROP + N_TAIL, "%s: only %d tokens", name, n);
    sd_forward *fresh = NULL, *shifted = NULL;
    if (n < N_KEEP + N_DROP + N_TAIL ||
        sd_forward_create_cached(m, 64, 32, type, type, NULL, &fresh, err, sizeof err) < 0 ||
        sd_forward_create_cached(m, 64, 32, type, type, NULL, &shifted, err, sizeof err) < 0) {
        if (n >= N_KEEP + N_DROP + N_TAIL && !sd_attention_cache_type_fits(type, m->hp.head_dim))
            printf("%-22s %-5s skipped: head size %d\n", name, sd_cache_type_name(type), m->hp.head_dim);
        else
            CHECK(n < N_KEEP + N_DROP + N_TAIL, "%s: %s", name, err);
        goto out;
    }
    int32_t seq[N_KEEP + N_TAIL];
    memcpy(seq, toks, N_KEEP * sizeof *seq);
    memcpy(seq + N_KEEP, toks + N_KEEP + N_DROP, N_TAIL * sizeof *seq);
    CHECK(sd_forward_run(fresh, seq, N_KEEP + N_TAIL, false, err, sizeof err) == 0, "%s", err);
    CHECK(sd_forward_run(shifted, toks, N_KEEP + N_DROP + N_TAIL, false, err, sizeof err) == 0, "%s", err);
    CHECK(sd_forward_shift(shifted, N_KEEP, N_KEEP + N_DROP + N_TAIL) == SD_STATUS_INVALID_ARGUMENT,
          "a shift past the cache is refused");
    CHECK(sd_forward_shift(shifted, N_KEEP, 0) == SD_STATUS_INVALID_ARGUMENT, "an empty shift is refused");
    CHECK(sd_forward_shift(shifted, N_KEEP, N_DROP) == SD_STATUS_OK, "%s: shift", name);
    CHECK(sd_forward_n_past(shifted) == N_KEEP + N_TAIL, "%s: n_past %d after the shift", name,
          sd_forward_n_past(shifted));

    const sd_hparams *hp = &m->hp;
    int hd = hp->head_dim;
    float kf[512], vf[512], ks[512], vs[512];
    if (hd > 512) goto out;
    float worst = 0; /* the largest key error at layer 0, relative to the head's largest |key| */
    for (int il = 0; il < hp->n_layer; il++) {
        for (int h = 0; h < hp->n_head_kv; h++) {
            for (int32_t t = 0; t < N_KEEP + N_TAIL; t++) {
                sd_forward_cached_kv(fresh, il, h, t, kf, vf);
                sd_forward_cached_kv(shifted, il, h, t, ks, vs);
                if (t < N_KEEP) { /* the sinks: the same tokens before anything differed */
                    CHECK(memcmp(kf, ks, (size_t)hd * sizeof *kf) == 0 &&
                              memcmp(vf, vs, (size_t)hd * sizeof *vf) == 0,
                          "%s %s: layer %d head %d kept position %d changed", name, sd_cache_type_name(type),
                          il, h, t);
                    continue;
                }
                if (il > 0) continue; /* deeper layers saw the dropped tokens */
                CHECK(memcmp(vf, vs, (size_t)hd * sizeof *vf) == 0,
                      "%s %s: head %d value at %d not moved intact", name, sd_cache_type_name(type), h, t);
                float scale = max_abs(kf, hd);
                for (int d = 0; d < hd; d++)
                    worst = fmaxf(worst, fabsf(kf[d] - ks[d]) / (scale > 0 ? scale : 1));
            }
        }
    }
    CHECK(worst <= key_tolerance(type),
          "%s %s: re-rotated keys off by %.3g of the largest key (allowed %.3g)", name,
          sd_cache_type_name(type), (double)worst, (double)key_tolerance(type));
    /* A wrong rotation (none, or the wrong way) would be off by far more: the check can fail. */
    CHECK(worst < 0.5f, "%s: key error %.3g", name, (double)worst);
    /* bench-forward's long cache: the shifted one's positions repeated cyclically */
    CHECK(sd_forward_extend_repeating(shifted, 65) == SD_STATUS_INVALID_ARGUMENT, "past n_ctx accepted");
    CHECK(sd_forward_extend_repeating(shifted, 50) == SD_STATUS_OK && sd_forward_n_past(shifted) == 50,
          "extend_repeating");
    for (int32_t t = N_KEEP + N_TAIL; t < 50; t++) {
        sd_forward_cached_kv(shifted, hp->n_layer - 1, hp->n_head_kv - 1, t, ks, vs);
        sd_forward_cached_kv(shifted, hp->n_layer - 1, hp->n_head_kv - 1, t % (N_KEEP + N_TAIL), kf, vf);
        CHECK(memcmp(kf, ks, (size_t)hd * sizeof *kf) == 0 && memcmp(vf, vs, (size_t)hd * sizeof *vf) == 0,
              "%s %s: repeated position %d", name, sd_cache_type_name(type), t);
    }
    printf("%-22s %-5s shifted keys within %.2g of the largest key\n", name, sd_cache_type_name(type),
           (double)worst);
out:
    sd_forward_free(fresh);
    sd_forward_free(shifted);
    sd_model_free(m);
}

typedef struct run_out {
    int32_t tokens[2048];
    sd_stats st;
    int rc;
} run_out;

/* Greedy generation of n_predict tokens (end of text ignored) after kText's first 12 tokens. */
static void generate(sd_model *target, sd_model *draft, const sd_engine_params *p, int32_t n_predict,
                     run_out *out) {
    char err[512];
    sd_engine *e = NULL;
    memset(&out->st, 0, sizeof out->st);
    out->rc = sd_engine_create(target, draft, p, &e, err, sizeof err);
    CHECK(out->rc == 0, "engine: %s", err);
    if (out->rc) return;
    int32_t prompt[256];
    int np = sd_model_tokenize(target, kText, strlen(kText), true, false, prompt, 256, err, sizeof err);
    out->rc = np < 12 ? -1
                      : sd_engine_generate(e, prompt, 12, n_predict, NULL, NULL, out->tokens, 2048, &out->st,
                                           err, sizeof err);
    CHECK(out->rc == 0, "generate: %s", err);
    if (out->rc == 0 && p->context_shift && p->spec == 0) {
        /* the next call may reuse only the kept prefix of a shifted cache: the same output again (checked
         * on plain runs only, for time) */
        sd_stats again;
        int32_t *tokens = malloc(2048 * sizeof *tokens);
        CHECK(tokens && sd_engine_continue(e, prompt, 12, n_predict, NULL, NULL, tokens, 2048, &again, err,
                                           sizeof err) == 0,
              "continue: %s", err);
        CHECK(tokens && again.n_prompt_reused <= p->n_keep &&
                  memcmp(tokens, out->tokens, (size_t)out->st.n_gen * sizeof *tokens) == 0,
              "continue after a shift (reused %d) differs", again.n_prompt_reused);
        free(tokens);
    }
    sd_engine_free(e);
}

static bool same_tokens(const run_out *a, const run_out *b) {
    return a->st.n_gen == b->st.n_gen &&
           memcmp(a->tokens, b->tokens, (size_t)a->st.n_gen * sizeof *a->tokens) == 0;
}

/* Speculative variants of the engine parameters p, each run against plain decoding with p. */
static void check_spec_equals_plain(sd_model *target, sd_model *draft, sd_engine_params p, int32_t n_predict,
                                    const char *what) {
    static run_out plain, spec;
    p.spec = 0;
    generate(target, NULL, &p, n_predict, &plain);
    if (plain.rc) return;
    CHECK(plain.st.n_gen == n_predict, "%s: plain generated %d of %d", what, plain.st.n_gen, n_predict);
    if (p.context_shift)
        CHECK(plain.st.n_ctx_shifts >= n_predict / p.n_ctx, "%s: %d shifts", what, plain.st.n_ctx_shifts);
    else
        CHECK(plain.st.n_ctx_shifts == 0, "%s: shifted without context_shift", what);
    CHECK(plain.st.kv_bytes > 0, "%s: kv_bytes", what);
    const struct {
        unsigned spec;
        int32_t k;
        const char *name;
    } variants[] = {{SD_SPEC_DRAFT, 2, "draft k=2"},
                    {SD_SPEC_DRAFT, 8, "draft k=8"},
                    {SD_SPEC_DRAFT | SD_SPEC_NGRAM, -1, "draft+ngram adaptive"},
                    {SD_SPEC_NGRAM, 4, "ngram k=4"}};
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        sd_engine_params q = p;
        q.spec = variants[i].spec;
        q.draft_k = variants[i].k;
        generate(target, (q.spec & SD_SPEC_DRAFT) ? draft : NULL, &q, n_predict, &spec);
        if (spec.rc) continue;
        CHECK(same_tokens(&plain, &spec), "%s, %s: speculative output differs from plain", what,
              variants[i].name);
        CHECK(spec.st.n_ctx_shifts == plain.st.n_ctx_shifts, "%s, %s: %d shifts, plain %d", what,
              variants[i].name, spec.st.n_ctx_shifts, plain.st.n_ctx_shifts);
        CHECK(spec.st.n_drafted > 0, "%s, %s: nothing drafted", what, variants[i].name);
        if (q.spec & SD_SPEC_DRAFT)
            CHECK(spec.st.kv_bytes > plain.st.kv_bytes, "%s, %s: the draft's cache is not counted", what,
                  variants[i].name);
    }
    printf("%-40s plain = speculative (4 variants), %d tokens, %d shifts\n", what, n_predict,
           plain.st.n_ctx_shifts);
}

static void check_generation(void) {
    char err[512];
    sd_model *target = NULL, *draft = NULL;
    int rc = sd_model_load(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"), &target, err, sizeof err);
    if (rc == 0)
        rc = sd_model_load(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"), &draft, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) goto out;
    for (size_t i = 0; i < sizeof kTypes / sizeof *kTypes; i++) {
        sd_engine_params p = sd_engine_default_params();
        p.sampling.temp = 0.0f;
        p.sampling.ignore_eos = true;
        p.n_threads = 1;
        p.n_threads_draft = 1;
        p.schedule = SD_SCHEDULE_SEQ;
        p.cache_type_k = p.cache_type_v = p.cache_type_k_draft = p.cache_type_v_draft = kTypes[i];
        char what[96];
        snprintf(what, sizeof what, "%s, no shift, n_ctx 256", sd_cache_type_name(kTypes[i]));
        p.n_ctx = 256;
        check_spec_equals_plain(target, draft, p, 200, what);

        p.context_shift = true;
        p.n_ctx = 64;
        snprintf(what, sizeof what, "%s, shift, n_ctx 64, keep 4", sd_cache_type_name(kTypes[i]));
        check_spec_equals_plain(target, draft, p, test_runs(640), what); /* 4 shifts or more */
        if (kTypes[i] != SD_CACHE_F16) continue;
        p.n_keep = 0;
        p.n_ctx = 96;
        snprintf(what, sizeof what, "%s, shift, n_ctx 96, keep 0", sd_cache_type_name(kTypes[i]));
        check_spec_equals_plain(target, draft, p, test_runs(960), what);
    }
    /* without shifting, a full context stops generation */
    static run_out full;
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 0.0f;
    p.sampling.ignore_eos = true;
    p.n_ctx = 64;
    p.n_threads = 1;
    generate(target, NULL, &p, 200, &full);
    CHECK(full.rc == 0 && full.st.stop == SD_STOP_CONTEXT_FULL && full.st.n_gen == 64 - 12 + 1,
          "a full context: stop %d after %d tokens", full.st.stop, full.st.n_gen);
    /* n_keep must not be negative */
    p.context_shift = true;
    p.n_keep = -1;
    sd_engine *e = NULL;
    CHECK(sd_engine_create(target, NULL, &p, &e, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT,
          "negative n_keep accepted");
    sd_engine_free(e);
out:
    sd_model_free(target);
    sd_model_free(draft);
}

int main(void) {
    for (size_t i = 0; i < sizeof kTypes / sizeof *kTypes; i++)
        check_shift_model(test_path("SD_MODELS_DIR", "codepair-target-f32.gguf"), "codepair-target",
                          kTypes[i]);
    const char *shared = getenv("SD_SHARED_DIR");
    const char *arch[] = {"llama-s1", "qwen2-s1", "gemma3-s1", "phi3-s1"};
    for (size_t a = 0; shared && a < sizeof arch / sizeof *arch; a++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/models/arch/%s.gguf", shared, arch[a]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        for (size_t i = 0; i < sizeof kTypes / sizeof *kTypes; i++)
            check_shift_model(path, arch[a], kTypes[i]);
    }
    check_generation();
    return test_finish("test_kv");
}
