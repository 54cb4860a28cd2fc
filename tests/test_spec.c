/* Speculative decoding is lossless:
 * - greedy: the output equals plain target decoding token for token, for every fixed k, adaptive k and
 *   a confidence threshold, on the shared code pair (Q4_0 and F32 targets) and on stories260K drafting
 *   for itself, with each draft source: the model and n-grams (the default), the model alone, n-grams
 *   alone without a draft model;
 * - sampling: over many seeded runs the first generated token follows the target's distribution exactly
 *   (chi-square), while a deliberately wrong rule (proposing the draft's argmax but verifying as if it
 *   had been sampled) fails the same test; through the engine, with the draft model, with n-grams alone
 *   (a deterministic draft, verified with one-hot q) and with both, the same holds. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "model/forward.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "specdec.h"
#include "target/verifier.h"
#include "tests/test_stats.h"
#include "tests/test_util.h"

#define N_GEN 48

static const char *kPrompts[] = {
    "static int ext4_foo(struct inode *inode, loff_t len)\n{\n\tint ret;\n",
    "#include <linux/kernel.h>\n#include <linux/module.h>\n\nstatic void",
    "\tfor (i = 0; i < n; i++) {\n\t\tif (",
    /* text that repeats its context: the n-gram source drafts */
    "\tcase FOO_A:\n\t\treturn foo_a(dev);\n\tcase FOO_B:\n\t\treturn foo_b(dev);\n\tcase FOO_C:\n",
};

static int generate(sd_model *target, sd_model *draft, const sd_engine_params *p, const int32_t *prompt,
                    int n_prompt, int32_t *out, sd_stats *st) {
    char err[512];
    sd_engine *e = NULL;
    int rc = sd_engine_create(target, draft, p, &e, err, sizeof err);
    CHECK(rc == 0, "engine: %s", err);
    if (rc) return rc;
    rc = sd_engine_generate(e, prompt, n_prompt, N_GEN, NULL, NULL, out, N_GEN, st, err, sizeof err);
    CHECK(rc == 0, "generate: %s", err);
    sd_engine_free(e);
    return rc;
}

static void check_greedy_pair(const char *target_file, const char *draft_file) {
    char err[512];
    sd_model *t = NULL, *d = NULL;
    int rc = sd_model_load(test_path("SD_MODELS_DIR", target_file), &t, err, sizeof err);
    if (rc == 0) rc = sd_model_load(test_path("SD_MODELS_DIR", draft_file), &d, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) goto out;
    int ngram_drafted = 0;
    for (size_t pi = 0; pi < SD_ARRAY_LEN(kPrompts); pi++) {
        int32_t prompt[256], plain[N_GEN], spec[N_GEN];
        int np = sd_model_tokenize(t, kPrompts[pi], strlen(kPrompts[pi]), true, false, prompt, 256, err,
                                   sizeof err);
        sd_engine_params p = sd_engine_default_params();
        p.sampling.temp = 0.0f;
        p.sampling.repeat_penalty = pi == 2 ? 1.3f : 1.0f; /* the penalty's history must follow drafts too */
        sd_stats st;
        p.n_threads = 1;
        if (generate(t, NULL, &p, prompt, np, plain, &st)) continue;
        /* Fixed k, adaptive (-1), adaptive with an early stop (-2), and the pipelined (-3: k 4) and
         * automatic (-4: adaptive) schedules. */
        const int ks[] = {1, 2, 3, 5, 8, 16, -1, -2, -3, -4};
        for (size_t ki = 0; ki < SD_ARRAY_LEN(ks); ki++) {
            /* a sanitizer build skips the middle lengths: the same code as k = 2 and k = 16 */
            if (test_sanitized() && (ks[ki] == 3 || ks[ki] == 5 || ks[ki] == 8)) continue;
            p.draft_k = ks[ki] >= 0 ? ks[ki] : ks[ki] == -3 ? 4 : -1;
            p.draft_p_min = ks[ki] == -2 ? 0.6f : 0.0f;
            p.schedule = ks[ki] == -3 ? SD_SCHEDULE_PIPE : ks[ki] == -4 ? SD_SCHEDULE_AUTO : SD_SCHEDULE_SEQ;
            p.n_threads = ks[ki] <= -3 ? 0 : 1 + (int)pi % 2;
            if (ks[ki] == -3 && sysconf(_SC_NPROCESSORS_ONLN) < 2) continue; /* pipe needs two CPUs */
            memset(spec, 0xff, sizeof spec);
            if (generate(t, d, &p, prompt, np, spec, &st)) continue;
            int same = 0;
            while (same < st.n_gen && spec[same] == plain[same])
                same++;
            CHECK(st.n_gen == N_GEN && same == N_GEN,
                  "%s + %s, prompt %zu, k %d: %d of %d tokens equal plain decoding", target_file, draft_file,
                  pi, ks[ki], same, st.n_gen);
            CHECK(st.n_drafted > 0 || ks[ki] == -2, "%s + %s, k %d: nothing was drafted", target_file,
                  draft_file, ks[ki]);
            CHECK(st.n_accepted <= st.n_drafted && st.n_rounds <= N_GEN, "counters");
        }
        /* Each source alone: the model (fixed and adaptive k), n-grams without a draft model. */
        const struct {
            unsigned spec;
            int32_t k;
        } sources[] = {{SD_SPEC_DRAFT, 3}, {SD_SPEC_DRAFT, -1}, {SD_SPEC_NGRAM, 4}, {SD_SPEC_NGRAM, -1}};
        for (size_t si = 0; si < SD_ARRAY_LEN(sources); si++) {
            sd_engine_params ps = p;
            ps.spec = sources[si].spec;
            ps.draft_k = sources[si].k;
            ps.draft_p_min = 0.0f;
            ps.schedule = SD_SCHEDULE_SEQ;
            ps.n_threads = 1;
            memset(spec, 0xff, sizeof spec);
            if (generate(t, ps.spec & SD_SPEC_DRAFT ? d : NULL, &ps, prompt, np, spec, &st)) continue;
            int same = 0;
            while (same < st.n_gen && spec[same] == plain[same])
                same++;
            CHECK(st.n_gen == N_GEN && same == N_GEN,
                  "%s, prompt %zu, sources %u k %d: %d of %d tokens equal plain", target_file, pi, ps.spec,
                  ps.draft_k, same, st.n_gen);
            CHECK(ps.spec == SD_SPEC_NGRAM ? st.n_drafted == st.n_drafted_ngram : st.n_drafted_ngram == 0,
                  "%s, sources %u: %d of %d drafts counted as n-gram", target_file, ps.spec,
                  st.n_drafted_ngram, st.n_drafted);
            if (ps.spec == SD_SPEC_NGRAM) ngram_drafted += st.n_drafted;
        }
    }
    CHECK(ngram_drafted > 0, "%s: the n-gram source never drafted", target_file);
out:
    sd_model_free(t);
    sd_model_free(d);
}

/* First-token distribution of one verify round, drafting one token from q with the draft's own logits;
 * wrong = propose the draft's argmax but hand the verifier the full q as if x had been sampled. */
static void sample_first_tokens(sd_model *t, sd_model *d, const int32_t *prompt, int np, bool wrong,
                                int n_runs, int64_t *counts, float *target_probs) {
    char err[512];
    sd_sampler_params sp = sd_sampler_default_params();
    sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f, sp.temp = 3.0f; /* hot: many tokens in play */
    int32_t nv = t->hp.n_vocab;
    sd_forward *df = NULL;
    sd_sampler *ds = NULL;
    float *q = malloc((size_t)nv * sizeof *q);
    CHECK(sd_forward_create(d, 64, 16, NULL, &df, err, sizeof err) == 0, "%s", err);
    CHECK(sd_sampler_create(&sp, nv, &ds, err, sizeof err) == 0, "%s", err);
    /* The draft sees the prompt without its first token, so its q differs from the target's p and
     * rejections (and the residual distribution) are exercised. */
    CHECK(sd_forward_run(df, prompt + 1, np - 1, false, err, sizeof err) == 0, "%s", err);
    CHECK(sd_sampler_probs(ds, sd_forward_logits(df, -1), q) == 0, "draft probs");
    int32_t argmax = 0;
    for (int32_t i = 1; i < nv; i++)
        if (q[i] > q[argmax]) argmax = i;
    /* The exact target distribution after the prompt. */
    sd_forward *tf = NULL;
    CHECK(sd_forward_create(t, 64, 16, NULL, &tf, err, sizeof err) == 0, "%s", err);
    CHECK(sd_forward_run(tf, prompt, np, false, err, sizeof err) == 0, "%s", err);
    sd_sampler *ts = NULL;
    CHECK(sd_sampler_create(&sp, nv, &ts, err, sizeof err) == 0, "%s", err);
    sd_sampler_probs(ts, sd_forward_logits(tf, -1), target_probs);

    for (int r = 0; r < n_runs; r++) {
        sd_sampler_params vp = sp;
        vp.seed = 1000 + (uint64_t)r;
        sd_verifier *v = NULL;
        if (sd_verifier_create(t, 64, 4, 16, SD_CACHE_F16, SD_CACHE_F16, &vp, NULL, &v, err, sizeof err)) {
            CHECK(0, "%s", err);
            break;
        }
        sd_sampler_params dp = sp;
        dp.seed = 77777 + (uint64_t)r;
        sd_sampler_free(ds);
        sd_sampler_create(&dp, nv, &ds, err, sizeof err);
        int32_t x = wrong ? argmax : sd_sampler_sample_probs(ds, q);
        sd_verifier_prefill(v, prompt, np - 1, err, sizeof err);
        sd_spec_result res;
        CHECK(sd_verifier_verify(v, prompt[np - 1], &x, 1, q, &res, err, sizeof err) == 0, "%s", err);
        int32_t first = res.n_accepted ? x : res.next_token;
        counts[first]++;
        sd_verifier_free(v);
    }
    free(q);
    sd_sampler_free(ts);
    sd_sampler_free(ds);
    sd_forward_free(tf);
    sd_forward_free(df);
}

static void check_sampling_distribution(void) {
    char err[512];
    sd_model *t = NULL, *d = NULL;
    /* stories260K (vocabulary 512) as target and as draft; the draft's distribution differs because it
     * sees a shorter context (see sample_first_tokens). */
    int rc = sd_model_load(test_path("SD_MODELS_DIR", "stories260K.gguf"), &t, err, sizeof err);
    if (rc == 0) rc = sd_model_load(test_path("SD_MODELS_DIR", "stories260K.gguf"), &d, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) goto out;
    int32_t prompt[] = {1, 403, 407, 261, 378};
    int32_t nv = t->hp.n_vocab, n_runs = test_runs(6000);
    int64_t *counts = calloc((size_t)nv, sizeof *counts);
    float *probs = calloc((size_t)nv, sizeof *probs);
    for (int wrong = 0; wrong <= 1; wrong++) {
        memset(counts, 0, (size_t)nv * sizeof *counts);
        sample_first_tokens(t, d, prompt, 5, wrong, n_runs, counts, probs);
        /* tokens expected fewer than 5 times are pooled (the usual validity rule for the statistic) */
        stats_chi2 fit = stats_chi2_test(counts, probs, nv, 5.0);
        printf("sampling, %s rule: chi-square %.1f on %d degrees of freedom (p-value %.3g)\n",
               wrong ? "wrong (draft argmax)" : "correct", fit.stat, fit.dof, fit.p_value);
        if (!wrong)
            CHECK(fit.p_value > 1e-4, "speculative sampling does not follow the target distribution");
        else
            CHECK(fit.p_value < 1e-4, "the wrong rule was not detected");
    }
    free(counts);
    free(probs);
out:
    sd_model_free(t);
    sd_model_free(d);
}

/* The whole engine in sampling mode (draft sampled from q, or an n-gram proposal with one-hot q;
 * verified, residual on rejection): over many seeds, the first generated token of the code pair after
 * text follows the target's own distribution, with the given draft sources. */
static void check_engine_sampling(unsigned sources, const char *text) {
    char err[512];
    sd_model *t = NULL, *d = NULL;
    int rc = sd_model_load(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"), &t, err, sizeof err);
    if (rc == 0)
        rc = sd_model_load(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"), &d, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) goto out;
    int32_t prompt[64];
    int np = sd_model_tokenize(t, text, strlen(text), true, false, prompt, 64, err, sizeof err);
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 1.5f, p.sampling.top_k = 0, p.sampling.top_p = 1.0f, p.sampling.min_p = 0.0f;
    p.n_ctx = 64, p.n_threads = 1, p.draft_k = 2, p.schedule = SD_SCHEDULE_SEQ, p.spec = sources;
    /* The exact distribution of the first token: the sampler's transform of the target's logits. */
    int32_t nv = t->hp.n_vocab;
    int64_t *counts = calloc((size_t)nv, sizeof *counts);
    float *probs = malloc((size_t)nv * sizeof *probs);
    sd_engine *e = NULL;
    sd_engine_params plain = p;
    plain.spec = 0;
    CHECK(sd_engine_create(t, NULL, &plain, &e, err, sizeof err) == 0, "%s", err);
    CHECK(sd_engine_eval(e, prompt, np, err, sizeof err) == 0, "%s", err);
    sd_sampler_params sp = sd_sampler_default_params();
    sp.temp = 1.5f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
    sd_sampler *s = NULL;
    CHECK(sd_sampler_create(&sp, nv, &s, err, sizeof err) == 0, "%s", err);
    sd_sampler_accept_many(s, prompt, np);
    sd_sampler_probs(s, sd_engine_last_logits(e), probs);
    sd_engine_free(e);
    const int runs = test_runs(3000);
    sd_stats tot = {0};
    e = NULL;
    CHECK(sd_engine_create(t, sources & SD_SPEC_DRAFT ? d : NULL, &p, &e, err, sizeof err) == 0, "%s", err);
    if (e) stats_first_tokens(e, p.sampling, prompt, np, runs, 5000, counts, &tot);
    sd_engine_free(e);
    const int drafted = tot.n_drafted, ngram_drafted = tot.n_drafted_ngram;
    stats_chi2 fit = stats_chi2_test(counts, probs, nv, 5.0);
    printf("engine sampling (code pair, sources %u, temp 1.5, %d drafts, %d of them n-gram): chi-square %.1f "
           "on %d degrees of freedom (p-value %.3g)\n",
           sources, drafted, ngram_drafted, fit.stat, fit.dof, fit.p_value);
    CHECK(drafted >= runs / 2, "the engine drafted only %d tokens in %d runs", drafted, runs);
    /* (with both, the first round's draft is the model's: its cost is not measured yet) */
    CHECK(sources != SD_SPEC_NGRAM || ngram_drafted >= runs / 2, "the n-gram source drafted only %d tokens",
          ngram_drafted);
    CHECK(fit.p_value > 1e-4, "the engine's speculative sampling does not follow the target distribution");
    sd_sampler_free(s);
    free(probs);
    free(counts);
out:
    sd_model_free(t);
    sd_model_free(d);
}

/* argv[1]: "greedy", "sampling" or "engine" runs one part (meson runs the parts side by side); none runs
 * all. */
int main(int argc, char **argv) {
    const char *part = argc > 1 ? argv[1] : "";
    bool all = !*part, greedy = strcmp(part, "greedy") == 0, sampling = strcmp(part, "sampling") == 0,
         engine = strcmp(part, "engine") == 0;
    if (!all && !greedy && !sampling && !engine) {
        fprintf(stderr, "test_spec: unknown part '%s' (greedy, sampling, engine)\n", part);
        return 2;
    }
    if (all || greedy) {
        check_greedy_pair("codepair-target-q4_0.gguf", "codepair-draft-f32.gguf");
        check_greedy_pair("codepair-target-f32.gguf", "codepair-draft-f32.gguf");
        check_greedy_pair("stories260K.gguf", "stories260K.gguf");
    }
    if (all || sampling) check_sampling_distribution();
    if (all || engine) {
        check_engine_sampling(SD_SPEC_DRAFT, "static int ext4_");
        /* the prompt's last tokens occurred before: the n-gram source proposes the first token */
        const char *echo = "static int ext4_a;\nstatic int ext4_";
        check_engine_sampling(SD_SPEC_NGRAM, echo);
        check_engine_sampling(SD_SPEC_DRAFT | SD_SPEC_NGRAM, echo);
    }
    return test_finish("test_spec");
}
