/* Cross-vocabulary drafting (draft/xvocab.h) is lossless:
 * - the vocabulary relation: same for the code pair, a partial intersection for stories260K against the
 *   code vocabulary, everything shared for a copy of the code draft with its ids permuted;
 * - greedy: output equals plain target decoding for every fixed k and adaptive k, in both directions of
 *   the code / stories260K pair, for the permuted draft (which must also be accepted about as often as
 *   the original, same-vocabulary draft: the translation loses little), with special tokens that exist
 *   in one vocabulary only, and with text that needs byte-fallback tokens;
 * - sampled: over many seeds the first generated token follows the target's distribution (chi-square),
 *   through the engine; verifying the same proposals with a wrong mapping (the draft's distribution read
 *   as if its ids were the target's) fails the same test;
 * - refusals: cross-vocabulary drafting switched off, and a draft whose vocabulary shares no token string
 *   with the target's, each with one clear message. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "draft/drafter.h"
#include "draft/xvocab.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "specdec.h"
#include "target/verifier.h"
#include "tests/test_stats.h"
#include "tests/test_util.h"

#define N_GEN 40

static char tmp_dir[256];

/* ---- vocabulary variants, rewritten through the GGUF writer ---- */

typedef enum variant {
    PERMUTED,       /* ids 259.. reversed (strings, scores, types and embedding rows with them) */
    DISJOINT,       /* every token renamed to a string no other vocabulary has */
    RENAMED_SPECIAL /* the control tokens renamed: special tokens of this vocabulary only */
} variant;

/* The old id that new id i holds: the first 259 (unknown, BOS, EOS, the 256 bytes) stay. */
static uint64_t perm(uint64_t i, uint64_t n) {
    return i < 259 ? i : 259 + (n - 1 - i);
}

typedef struct rewritten {
    sd_gguf_str *strs;
    char *pool;
    int32_t *types;
    float *scores;
    float *embd;
} rewritten;

/* Copies src to tmp_dir/name with the vocabulary changed as v says; returns the path or NULL. */
static const char *write_variant(const char *src, const char *name, variant v) {
    char err[256] = "";
    sd_gguf *g = NULL;
    if (sd_gguf_open(src, &g, err, sizeof err) != 0) {
        CHECK(0, "cannot open %s: %s", src, err);
        return NULL;
    }
    const sd_gguf_kv *tokens = sd_gguf_find_kv(g, "tokenizer.ggml.tokens");
    const sd_gguf_kv *types = sd_gguf_find_kv(g, "tokenizer.ggml.token_type");
    const sd_gguf_kv *scores = sd_gguf_find_kv(g, "tokenizer.ggml.scores");
    CHECK(tokens && types && scores, "%s lacks a tokenizer array", src);
    if (!tokens || !types || !scores) {
        sd_gguf_close(g);
        return NULL;
    }
    const uint64_t n = tokens->arr_len;
    rewritten r = {calloc(n, sizeof *r.strs), calloc(n, 32), calloc(n, sizeof *r.types),
                   calloc(n, sizeof *r.scores), NULL};
    for (uint64_t i = 0; i < n; i++) {
        uint64_t o = v == PERMUTED ? perm(i, n) : i;
        int32_t type = sd_gguf_arr_i32(types, o);
        r.types[i] = type;
        r.scores[i] = sd_gguf_arr_f32(scores, o);
        r.strs[i] = tokens->arr_strs[o];
        char *s = r.pool + 32 * i;
        if (v == DISJOINT) {
            /* U+2603 then the id: no token of another vocabulary decodes to that */
            snprintf(s, 32, type == 3 ? "<\xe2\x98\x83%d>" : "\xe2\x98\x83%d", (int)i);
            r.types[i] = type == 3 ? 3 : 1;
            r.strs[i] = (sd_gguf_str){s, strlen(s)};
        } else if (v == RENAMED_SPECIAL && type == 3) {
            snprintf(s, 32, "<only-here-%d>", (int)i);
            r.strs[i] = (sd_gguf_str){s, strlen(s)};
        }
    }
    sd_gguf_writer *w = sd_gguf_writer_create();
    int rc = 0;
    char key[128];
    for (uint64_t i = 0; rc >= 0 && i < sd_gguf_n_kv(g); i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (kv == tokens)
            rc = sd_gguf_writer_add_strn_arr(w, key, r.strs, n, err, sizeof err);
        else if (kv == types)
            rc = sd_gguf_writer_add_arr(w, key, SD_GGUF_INT32, r.types, n, err, sizeof err);
        else if (kv == scores)
            rc = sd_gguf_writer_add_arr(w, key, SD_GGUF_FLOAT32, r.scores, n, err, sizeof err);
        else
            rc = sd_gguf_writer_add_kv(w, key, kv, err, sizeof err);
    }
    for (uint64_t i = 0; rc >= 0 && i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        snprintf(key, sizeof key, "%.*s", (int)t->name.len, t->name.ptr);
        const void *data = t->data;
        const bool rows_are_tokens =
            (strcmp(key, "token_embd.weight") == 0 || strcmp(key, "output.weight") == 0) && t->n_dims == 2 &&
            (uint64_t)t->ne[1] == n;
        if (v == PERMUTED && rows_are_tokens) {
            CHECK(t->type == SD_TYPE_F32, "%s: %s is not F32", src, key);
            const size_t dim = (size_t)t->ne[0];
            float *e = malloc(n * dim * sizeof *e);
            const float *old = t->data;
            for (uint64_t row = 0; row < n; row++)
                memcpy(e + row * dim, old + perm(row, n) * dim, dim * sizeof *e);
            free(r.embd); /* at most one such tensor in the files used here */
            r.embd = e;
            data = e;
        }
        rc = sd_gguf_writer_add_tensor(w, key, t->type, t->n_dims, t->ne, data, err, sizeof err);
    }
    static char paths[4][512];
    static int slot;
    char *path = paths[slot++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", tmp_dir, name);
    if (rc >= 0) rc = sd_gguf_writer_write_file(w, path, err, sizeof err);
    sd_gguf_writer_free(w);
    sd_gguf_close(g);
    free(r.strs);
    free(r.pool);
    free(r.types);
    free(r.scores);
    free(r.embd);
    CHECK(rc >= 0, "writing %s: %s", name, err);
    return rc >= 0 ? path : NULL;
}

static sd_model *load(const char *path) {
    char err[512];
    sd_model *m = NULL;
    int rc = path ? sd_model_load(path, &m, err, sizeof err) : SD_ERR_IO;
    CHECK(rc == 0, "loading %s: %s", path ? path : "(not written)", path ? err : "");
    return rc == 0 ? m : NULL;
}

/* ---- relation ---- */

static void check_relation(sd_model *code_t, sd_model *code_d, sd_model *stories, sd_model *permuted) {
    char err[256];
    sd_vocab_relation r;
    CHECK(sd_model_vocab_relation(code_t, code_d, &r, err, sizeof err) == 0, "%s", err);
    CHECK(r.same && r.n_padding == 0 && r.n_shared == 4096, "code pair: same %d, shared %d", r.same,
          r.n_shared);
    CHECK(sd_model_vocab_relation(code_t, stories, &r, err, sizeof err) == 0, "%s", err);
    printf("code target vs stories260K: %d shared token strings (of %d and %d)\n", r.n_shared, r.n_target,
           r.n_draft);
    CHECK(!r.same && r.n_shared > 256 && r.n_shared < r.n_draft, "code vs stories: same %d, shared %d",
          r.same, r.n_shared);
    CHECK(sd_model_vocab_relation(code_t, permuted, &r, err, sizeof err) == 0, "%s", err);
    /* distinct strings: "<0x41>" and "A" decode alike, so a little under 4096 */
    CHECK(!r.same && r.n_shared > 4000, "code vs permuted: same %d, shared %d", r.same, r.n_shared);
}

/* ---- greedy ---- */

static int generate(sd_model *t, sd_model *d, const sd_engine_params *p, const int32_t *prompt, int np,
                    int32_t *out, sd_stats *st) {
    char err[512];
    sd_engine *e = NULL;
    int rc = sd_engine_create(t, d, p, &e, err, sizeof err);
    CHECK(rc == 0, "engine: %s", err);
    if (rc) return rc;
    if (d) {
        char desc[512];
        sd_engine_describe(e, desc, sizeof desc);
        CHECK(strstr(desc, "cross-vocabulary") != NULL, "the report does not say so: %s", desc);
    }
    rc = sd_engine_generate(e, prompt, np, N_GEN, NULL, NULL, out, N_GEN, st, err, sizeof err);
    CHECK(rc == 0, "generate: %s", err);
    sd_engine_free(e);
    return rc;
}

static const char *kPrompts[] = {
    "static int ext4_foo(struct inode *inode, loff_t len)\n{\n\tint ret;\n",
    "Once upon a time, there was a little girl named Lily. She",
    /* characters neither vocabulary has: byte-fallback tokens on both sides */
    "/* caf\xc3\xa9 \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac */\nint x = 1;\n",
};

/* Greedy output of the cross-vocabulary pair equals plain decoding; returns the acceptance at k 3. */
static double check_greedy(const char *what, sd_model *t, sd_model *d) {
    char err[512];
    double acc3 = 0;
    int drafted3 = 0, accepted3 = 0;
    for (size_t pi = 0; pi < SD_ARRAY_LEN(kPrompts); pi++) {
        int32_t prompt[256], plain[N_GEN], spec[N_GEN];
        int np = sd_model_tokenize(t, kPrompts[pi], strlen(kPrompts[pi]), true, false, prompt, 256, err,
                                   sizeof err);
        CHECK(np > 0 && np < 256, "%s: tokenize: %s", what, err);
        if (np <= 0 || np >= 256) continue;
        sd_engine_params p = sd_engine_default_params();
        p.sampling.temp = 0.0f;
        p.sampling.repeat_penalty = pi == 1 ? 1.3f : 1.0f;
        p.n_threads = 1;
        p.n_ctx = 256;
        sd_stats st;
        if (generate(t, NULL, &p, prompt, np, plain, &st)) continue;
        const int ks[] = {1, 2, 3, 5, 8, 16, -1};
        int drafted = 0;
        for (size_t ki = 0; ki < SD_ARRAY_LEN(ks); ki++) {
            p.draft_k = ks[ki];
            p.spec = SD_SPEC_DRAFT;
            p.schedule = SD_SCHEDULE_SEQ;
            memset(spec, 0xff, sizeof spec);
            if (generate(t, d, &p, prompt, np, spec, &st)) continue;
            int same = 0;
            while (same < st.n_gen && spec[same] == plain[same])
                same++;
            CHECK(st.n_gen == N_GEN && same == N_GEN, "%s, prompt %zu, k %d: %d of %d tokens equal plain",
                  what, pi, ks[ki], same, st.n_gen);
            if (ks[ki] > 0) drafted += st.n_drafted;
            if (ks[ki] == 3) drafted3 += st.n_drafted, accepted3 += st.n_accepted;
        }
        CHECK(drafted > 0, "%s, prompt %zu: no draft was ever proposed", what, pi);
    }
    acc3 = drafted3 ? (double)accepted3 / drafted3 : 0;
    printf("%s: greedy lossless; acceptance at k 3: %.3f (%d drafted)\n", what, acc3, drafted3);
    return acc3;
}

/* The same-vocabulary draft's acceptance at k 3 on the same prompts (the permuted draft's reference). */
static double same_vocab_acceptance(sd_model *t, sd_model *d) {
    char err[512];
    int drafted = 0, accepted = 0;
    for (size_t pi = 0; pi < SD_ARRAY_LEN(kPrompts); pi++) {
        int32_t prompt[256], out[N_GEN];
        int np = sd_model_tokenize(t, kPrompts[pi], strlen(kPrompts[pi]), true, false, prompt, 256, err,
                                   sizeof err);
        sd_engine_params p = sd_engine_default_params();
        p.sampling.temp = 0.0f, p.sampling.repeat_penalty = pi == 1 ? 1.3f : 1.0f;
        p.n_threads = 1, p.n_ctx = 256, p.draft_k = 3, p.spec = SD_SPEC_DRAFT, p.schedule = SD_SCHEDULE_SEQ;
        sd_engine *e = NULL;
        sd_stats st;
        if (sd_engine_create(t, d, &p, &e, err, sizeof err) == 0 &&
            sd_engine_generate(e, prompt, np, N_GEN, NULL, NULL, out, N_GEN, &st, err, sizeof err) == 0)
            drafted += st.n_drafted, accepted += st.n_accepted;
        sd_engine_free(e);
    }
    return drafted ? (double)accepted / drafted : 0;
}

/* ---- sampling ---- */

/* The exact distribution of the first token after prompt: the sampler's transform of the target's logits. */
static void target_first_probs(sd_model *t, const sd_engine_params *p, const int32_t *prompt, int np,
                               float *probs) {
    char err[256];
    sd_engine_params plain = *p;
    plain.spec = 0;
    sd_engine *e = NULL;
    CHECK(sd_engine_create(t, NULL, &plain, &e, err, sizeof err) == 0, "%s", err);
    CHECK(sd_engine_eval(e, prompt, np, err, sizeof err) == 0, "%s", err);
    sd_sampler_params sp = sd_sampler_default_params();
    sp.temp = p->sampling.temp, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
    sd_sampler *s = NULL;
    CHECK(sd_sampler_create(&sp, t->hp.n_vocab, &s, err, sizeof err) == 0, "%s", err);
    sd_sampler_accept_many(s, prompt, np);
    sd_sampler_probs(s, sd_engine_last_logits(e), probs);
    sd_sampler_free(s);
    sd_engine_free(e);
}

/* Through the engine: the first token of many seeded runs follows the target's distribution. */
static void check_engine_sampling(const char *what, sd_model *t, sd_model *d, const char *text) {
    char err[512];
    int32_t prompt[64];
    int np = sd_model_tokenize(t, text, strlen(text), true, false, prompt, 64, err, sizeof err);
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 1.5f, p.sampling.top_k = 0, p.sampling.top_p = 1.0f, p.sampling.min_p = 0.0f;
    p.n_ctx = 64, p.n_threads = 1, p.draft_k = 2, p.schedule = SD_SCHEDULE_SEQ, p.spec = SD_SPEC_DRAFT;
    const int32_t nv = t->hp.n_vocab;
    int64_t *counts = calloc((size_t)nv, sizeof *counts);
    float *probs = calloc((size_t)nv, sizeof *probs);
    target_first_probs(t, &p, prompt, np, probs);
    const int runs = test_runs(3000);
    sd_stats tot = {0};
    sd_engine *e = NULL;
    CHECK(sd_engine_create(t, d, &p, &e, err, sizeof err) == 0, "%s", err);
    if (e) stats_first_tokens(e, p.sampling, prompt, np, runs, 9000, counts, &tot);
    sd_engine_free(e);
    const int drafted = tot.n_drafted, accepted = tot.n_accepted;
    stats_chi2 fit = stats_chi2_test(counts, probs, nv, 5.0);
    printf("engine sampling (%s, temp 1.5, %d drafts, %d accepted): chi-square %.1f on %d degrees of freedom "
           "(p-value %.3g)\n",
           what, drafted, accepted, fit.stat, fit.dof, fit.p_value);
    CHECK(drafted >= runs / 2, "%s: only %d drafts in %d runs", what, drafted, runs);
    CHECK(accepted > 0 && accepted < drafted, "%s: %d of %d drafts accepted: the rule is not exercised", what,
          accepted, drafted);
    CHECK(fit.p_value > 1e-4, "%s: cross-vocabulary sampling does not follow the target distribution", what);
    free(counts);
    free(probs);
}

/* One round at the verifier with the translator's proposal: verified as the deterministic proposal it is
 * (one-hot q), or with the wrong mapping (the draft's q row read as if draft ids were target ids). The
 * first token's counts go to counts. */
static void sample_translated(sd_model *t, sd_model *d, const int32_t *prompt, int np, bool wrong, int runs,
                              int64_t *counts) {
    char err[512];
    sd_sampler_params sp = sd_sampler_default_params();
    sp.temp = 1.5f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
    const int32_t nt = t->hp.n_vocab, nd = d->hp.n_vocab;
    float *q = malloc((size_t)nt * sizeof *q);
    for (int r = 0; r < runs; r++) {
        sd_sampler_params vp = sp;
        vp.seed = 1000 + (uint64_t)r;
        sd_verifier *v = NULL;
        sd_drafter *dr = NULL;
        sd_xvocab *x = NULL;
        int rc = sd_verifier_create(t, 64, 4, 16, SD_CACHE_F16, SD_CACHE_F16, &vp, NULL, &v, err, sizeof err);
        if (rc == 0)
            rc = sd_drafter_create(d, nd, 128, SD_MAX_DRAFT_LEN, 16, SD_CACHE_F16, SD_CACHE_F16, &vp, NULL,
                                   &dr, err, sizeof err);
        if (rc == 0) rc = sd_xvocab_create(t->vocab, d->vocab, dr, 65, 128, &x, err, sizeof err);
        CHECK(rc == 0, "%s", err);
        int32_t drafts[SD_MAX_DRAFT_LEN];
        int32_t j = rc == 0 ? sd_xvocab_propose(x, prompt, np, 1, NULL, drafts, err, sizeof err) : -1;
        if (j >= 1) {
            memset(q, 0, (size_t)nt * sizeof *q);
            const float *dq = sd_drafter_q(dr); /* row 0: the draft's first token's distribution */
            for (int32_t i = 0; i < nt; i++)
                q[i] = wrong ? (i < nd ? dq[i] : 0.0f) : (i == drafts[0] ? 1.0f : 0.0f);
            sd_verifier_prefill(v, prompt, np - 1, err, sizeof err);
            sd_spec_result res;
            CHECK(sd_verifier_verify(v, prompt[np - 1], drafts, 1, q, &res, err, sizeof err) == 0, "%s", err);
            counts[res.n_accepted ? drafts[0] : res.next_token]++;
        }
        sd_xvocab_free(x);
        sd_drafter_free(dr);
        sd_verifier_free(v);
    }
    free(q);
}

static void check_wrong_mapping(sd_model *t, sd_model *d) {
    char err[256];
    const char *text = "static int ext4_";
    int32_t prompt[64];
    int np = sd_model_tokenize(t, text, strlen(text), true, false, prompt, 64, err, sizeof err);
    const int32_t nv = t->hp.n_vocab;
    int64_t *counts = calloc((size_t)nv, sizeof *counts);
    float *probs = calloc((size_t)nv, sizeof *probs);
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 1.5f, p.n_ctx = 64, p.n_threads = 1;
    target_first_probs(t, &p, prompt, np, probs);
    for (int wrong = 0; wrong <= 1; wrong++) {
        /* telling the wrong mapping apart needs power: 750 rounds leave it at p ~ 0.004, 1500 below 1e-4 */
        const int runs = wrong ? (test_sanitized() ? 1500 : 3000) : test_runs(3000);
        memset(counts, 0, (size_t)nv * sizeof *counts);
        sample_translated(t, d, prompt, np, wrong, runs, counts);
        int64_t total = 0;
        for (int32_t i = 0; i < nv; i++)
            total += counts[i];
        stats_chi2 fit = stats_chi2_test(counts, probs, nv, 5.0);
        printf("translated proposals, %s mapping: %lld rounds, chi-square %.1f on %d degrees of freedom "
               "(p-value %.3g)\n",
               wrong ? "wrong (draft ids read as target ids)" : "one-hot", (long long)total, fit.stat,
               fit.dof, fit.p_value);
        CHECK(total >= runs * 2 / 3, "only %lld of %d rounds had a translated proposal", (long long)total,
              runs);
        if (!wrong)
            CHECK(fit.p_value > 1e-4, "translated proposals do not follow the target distribution");
        else
            CHECK(fit.p_value < 1e-4, "the wrong mapping was not detected");
    }
    free(counts);
    free(probs);
}

/* ---- refusals ---- */

static void check_refusals(sd_model *t, sd_model *stories, sd_model *disjoint) {
    char err[512] = "";
    sd_engine *e = NULL;
    sd_engine_params p = sd_engine_default_params();
    p.n_ctx = 64, p.n_threads = 1;
    p.no_cross_vocab = true;
    int rc = sd_engine_create(t, stories, &p, &e, err, sizeof err);
    CHECK(rc == SD_ERR_MISMATCH && strstr(err, "cross-vocabulary drafting is off"), "switched off: %d %s", rc,
          err);
    sd_engine_free(e);
    e = NULL;
    p.no_cross_vocab = false;
    rc = disjoint ? sd_engine_create(t, disjoint, &p, &e, err, sizeof err) : SD_ERR_IO;
    CHECK(rc == SD_ERR_MISMATCH && strstr(err, "shares no token string"), "disjoint: %d %s", rc, err);
    printf("refused: %s\n", err);
    sd_engine_free(e);
}

/* argv[1]: "greedy" or "sampling" runs one part (meson runs them side by side); none runs both. */
int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "";
    const bool greedy = !*part || strcmp(part, "greedy") == 0,
               sampling = !*part || strcmp(part, "sampling") == 0;
    if (!greedy && !sampling) {
        fprintf(stderr, "test_xvocab: unknown part '%s' (greedy, sampling)\n", part);
        return 2;
    }
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/sd-xvocab-XXXXXX", base);
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot create a temporary folder: %s\n", strerror(errno));
        return 2;
    }
    const char *stories_path = test_path("SD_MODELS_DIR", "stories260K.gguf");
    sd_model *code_t = load(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"));
    sd_model *code_d = load(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"));
    sd_model *stories = load(stories_path);
    sd_model *permuted =
        load(write_variant(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"), "permuted.gguf", PERMUTED));
    sd_model *disjoint = load(write_variant(stories_path, "disjoint.gguf", DISJOINT));
    sd_model *renamed = load(write_variant(stories_path, "renamed.gguf", RENAMED_SPECIAL));
    if (greedy && code_t && code_d && stories && permuted && renamed) {
        check_relation(code_t, code_d, stories, permuted);
        check_refusals(code_t, stories, disjoint);
        check_greedy("code target, stories260K draft", code_t, stories);
        check_greedy("stories260K target, code draft", stories, code_d);
        check_greedy("code target, stories260K draft with its own special tokens", code_t, renamed);
        const double cross = check_greedy("code target, permuted code draft", code_t, permuted);
        const double same = same_vocab_acceptance(code_t, code_d);
        printf("acceptance at k 3: same-vocabulary draft %.3f, the same draft across vocabularies %.3f\n",
               same, cross);
        CHECK(cross >= 0.8 * same, "the translation loses acceptance: %.3f against %.3f", cross, same);
    }
    if (sampling && code_t && code_d && stories && permuted) {
        check_engine_sampling("code target, permuted code draft", code_t, permuted, "static int ext4_");
        check_engine_sampling("stories260K target, code draft", stories, code_d, "Once upon a time");
        check_wrong_mapping(code_t, permuted);
    }
    sd_model_free(code_t);
    sd_model_free(code_d);
    sd_model_free(stories);
    sd_model_free(permuted);
    sd_model_free(disjoint);
    sd_model_free(renamed);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_finish("test_xvocab");
}
