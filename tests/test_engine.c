/* The public engine API: UTF-8 streaming, reuse over many prompts, callbacks that stop, the context limit,
 * and two engines generating at once on two threads. */
#include <pthread.h>
#include <string.h>

#include "engine/utf8_stream.h"
#include "specdec.h"
#include "test_util.h"

static void check_utf8_stream(void) {
    sd_utf8_stream s = {{0}, 0};
    char out[64];
    const char *e_acute = "\xc3\xa9", *llama = "\xf0\x9f\xa6\x99";
    CHECK(sd_utf8_stream_push(&s, "ab", 2, out) == 2 && memcmp(out, "ab", 2) == 0, "ascii passes");
    CHECK(sd_utf8_stream_push(&s, e_acute, 1, out) == 0, "half a character is held");
    CHECK(sd_utf8_stream_push(&s, e_acute + 1, 1, out) == 2 && memcmp(out, e_acute, 2) == 0, "joined");
    CHECK(sd_utf8_stream_push(&s, llama, 1, out) == 0, "1/4 held");
    CHECK(sd_utf8_stream_push(&s, llama + 1, 2, out) == 0, "3/4 held");
    size_t n = sd_utf8_stream_push(&s, "\xa6\x99x", 2, out);
    (void)n;
    sd_utf8_stream_flush(&s, out);
    sd_utf8_stream t = {{0}, 0};
    CHECK(sd_utf8_stream_push(&t, llama, 3, out) == 0, "3 bytes held");
    CHECK(sd_utf8_stream_push(&t, "\x99!", 2, out) == 5 && memcmp(out, "\xf0\x9f\xa6\x99!", 5) == 0,
          "emoji + !");
    /* Invalid bytes are not held forever. */
    CHECK(sd_utf8_stream_push(&t, "\xff\xfe", 2, out) == 2, "invalid bytes pass");
    CHECK(sd_utf8_stream_push(&t, "\xe2\x82", 2, out) == 0 && sd_utf8_stream_flush(&t, out) == 2, "flush");
}

typedef struct run {
    sd_model *m;
    int threads;
    int32_t tokens[64];
    int32_t n;
    int rc;
} run;

static const char *kPrompts[] = {"Once upon a time", "The little dog", "Lily wanted to"};

static void *generate_thread(void *arg) {
    run *r = arg;
    char err[256];
    sd_engine_params p = sd_engine_default_params();
    p.n_threads = r->threads;
    p.sampling.temp = 0.0f;
    sd_engine *e = NULL;
    r->rc = sd_engine_create(r->m, NULL, &p, &e, err, sizeof err);
    if (r->rc) return NULL;
    for (int k = 0; k < 2; k++) { /* the second pass reuses the engine: same result */
        int32_t prompt[32];
        int np = sd_model_tokenize(r->m, kPrompts[k % 3], strlen(kPrompts[k % 3]), true, false, prompt, 32,
                                   err, sizeof err);
        sd_stats st;
        r->rc |= sd_engine_generate(e, prompt, np, 24, NULL, NULL, r->tokens + (k ? 0 : 32), 24, &st, err,
                                    sizeof err);
    }
    r->n = 24;
    sd_engine_free(e);
    return NULL;
}

static bool stop_after_three(void *user, int32_t token, const char *text, size_t len) {
    (void)token, (void)text, (void)len;
    int *count = user;
    return ++*count < 3;
}

static void check_engine(void) {
    char err[512];
    sd_model *m = NULL;
    int rc = sd_model_load(test_path("SD_MODELS_DIR", "stories260K.gguf"), &m, err, sizeof err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;

    /* Reuse over many prompts gives the same output each time. */
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 0.0f;
    p.n_ctx = 16;
    p.n_threads = 1;
    sd_engine *e = NULL;
    CHECK(sd_engine_create(m, NULL, &p, &e, err, sizeof err) == 0, "%s", err);
    int32_t prompt[16] = {1, 403, 407, 261, 378}, first[16], again[16];
    sd_stats st;
    CHECK(sd_engine_generate(e, prompt, 5, 8, NULL, NULL, first, 16, &st, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 50; i++) {
        CHECK(sd_engine_generate(e, prompt, 5, 8, NULL, NULL, again, 16, &st, err, sizeof err) == 0, "%s",
              err);
        CHECK(memcmp(first, again, sizeof(int32_t) * 8) == 0, "run %d differs", i);
    }
    /* The callback stops generation. */
    int count = 0;
    CHECK(sd_engine_generate(e, prompt, 5, 8, stop_after_three, &count, NULL, 0, &st, err, sizeof err) == 0,
          "%s", err);
    CHECK(st.stop == SD_STOP_CALLBACK && st.n_gen == 3, "stop %d after %d tokens", st.stop, st.n_gen);
    /* The context fills: 16 positions, 10 of prompt -> 7 tokens, then a clean stop. */
    int32_t long_prompt[16] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
    CHECK(sd_engine_generate(e, long_prompt, 10, 100, NULL, NULL, NULL, 0, &st, err, sizeof err) == 0, "%s",
          err);
    CHECK(st.stop == SD_STOP_CONTEXT_FULL && st.n_gen == 7, "stop %d after %d tokens", st.stop, st.n_gen);
    CHECK(sd_engine_generate(e, long_prompt, 16, 4, NULL, NULL, NULL, 0, &st, err, sizeof err) ==
              SD_ERR_CONTEXT_FULL,
          "a prompt filling the whole context is refused");
    CHECK(strstr(err, "does not fit the context of 16") != NULL, "message: %s", err);
    CHECK(sd_engine_generate(e, long_prompt, 0, 4, NULL, NULL, NULL, 0, &st, err, sizeof err) ==
              SD_ERR_INVALID_ARGUMENT,
          "empty prompt");
    CHECK(sd_engine_generate(e, long_prompt, 4, 0, NULL, NULL, NULL, 0, &st, err, sizeof err) == 0 &&
              st.n_gen == 0,
          "n_predict 0");
    sd_engine_free(e);

    /* Two engines on two threads at once give what one engine gives alone. */
    run solo = {m, 1, {0}, 0, 0}, a = {m, 2, {0}, 0, 0}, b = {m, 1, {0}, 0, 0};
    generate_thread(&solo);
    pthread_t ta, tb;
    pthread_create(&ta, NULL, generate_thread, &a);
    pthread_create(&tb, NULL, generate_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK(solo.rc == 0 && a.rc == 0 && b.rc == 0, "generation failed");
    CHECK(memcmp(solo.tokens, a.tokens, sizeof solo.tokens) == 0, "thread A differs from the solo run");
    CHECK(memcmp(solo.tokens, b.tokens, sizeof solo.tokens) == 0, "thread B differs from the solo run");
    sd_model_free(m);
}

/* Appends the tokens of text (no BOS) to toks[*n..]. */
static void append_text(sd_model *m, const char *text, int32_t *toks, int32_t *n, int32_t cap) {
    char err[256];
    int k = sd_model_tokenize(m, text, strlen(text), false, false, toks + *n, cap - *n, err, sizeof err);
    CHECK(k > 0 && k <= cap - *n, "tokenize '%s': %s", text, err);
    if (k > 0 && k <= cap - *n) *n += k;
}

/* sd_engine_continue: each turn of a conversation, given whole, keeps what the cache shares with it
 * (only the new tokens are prefilled) and generates what a fresh sd_engine_generate gives. */
static void check_continue_on(sd_model *m, sd_model *draft, const char *what) {
    char err[512];
    sd_engine_params p = sd_engine_default_params();
    p.sampling.temp = 0.0f;
    p.n_ctx = 128;
    p.n_threads = 1;
    p.n_threads_draft = 1;
    sd_engine *kept = NULL, *fresh = NULL;
    CHECK(sd_engine_create(m, draft, &p, &kept, err, sizeof err) == 0, "%s: %s", what, err);
    CHECK(sd_engine_create(m, draft, &p, &fresh, err, sizeof err) == 0, "%s: %s", what, err);
    if (!kept || !fresh) goto done;
    int32_t conv[128], n_conv = 0, got[32], want[32];
    conv[n_conv++] = 1; /* BOS */
    append_text(m, "Once upon a time", conv, &n_conv, 128);
    sd_stats st, st_fresh;
    /* turn 1: nothing cached */
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0, "%s",
          err);
    CHECK(st.n_prompt_reused == 0 && st.n_prompt == n_conv, "%s: turn 1 reused %d", what, st.n_prompt_reused);
    int32_t n_gen = st.n_gen;
    memcpy(conv + n_conv, got, (size_t)n_gen * sizeof *got);
    n_conv += n_gen;
    int32_t n_turn1 = n_conv;
    /* turn 2: the answer and a new turn; all but the last answer token (the pending one) is cached */
    append_text(m, " The little dog", conv, &n_conv, 128);
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0, "%s",
          err);
    CHECK(sd_engine_generate(fresh, conv, n_conv, 12, NULL, NULL, want, 32, &st_fresh, err, sizeof err) == 0,
          "%s", err);
    CHECK(st.n_gen == st_fresh.n_gen && memcmp(got, want, (size_t)st.n_gen * sizeof *got) == 0,
          "%s: turn 2 differs from a fresh generate", what);
    int32_t turn2_start = n_conv;
    CHECK(st.n_prompt_reused == n_turn1 - 1 || st.n_prompt_reused == n_turn1,
          "%s: turn 2 reused %d tokens, turn 1 left %d", what, st.n_prompt_reused, n_turn1);
    CHECK(st.n_prompt + st.n_prompt_reused == n_conv, "%s: %d prefilled + %d reused != %d", what, st.n_prompt,
          st.n_prompt_reused, n_conv);
    /* a prompt that leaves the cached text part way: rolled back to the shared prefix */
    n_conv = turn2_start - 3;
    append_text(m, " Lily wanted to", conv, &n_conv, 128);
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0, "%s",
          err);
    CHECK(sd_engine_generate(fresh, conv, n_conv, 12, NULL, NULL, want, 32, &st_fresh, err, sizeof err) == 0,
          "%s", err);
    CHECK(st.n_gen == st_fresh.n_gen && memcmp(got, want, (size_t)st.n_gen * sizeof *got) == 0,
          "%s: the rolled-back turn differs from a fresh generate", what);
    CHECK(st.n_prompt_reused >= turn2_start - 3 && st.n_prompt_reused < n_conv,
          "%s: rolled back to %d, the prompts share %d", what, st.n_prompt_reused, turn2_start - 3);
    /* a prompt too long for the context fails as generate does, and the next call starts afresh */
    int32_t too_long[129] = {1};
    CHECK(sd_engine_continue(kept, too_long, 129, 4, NULL, NULL, NULL, 0, &st, err, sizeof err) ==
              SD_ERR_CONTEXT_FULL,
          "%s: an overlong prompt", what);
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0 &&
              memcmp(got, want, (size_t)st.n_gen * sizeof *got) == 0,
          "%s: after a refused prompt: %s", what, err);
    /* sd_engine_set_sampling keeps the cache and samples as an engine made with the new settings: the
     * next turn, sampled (with a repeat penalty, which reads the cached history), equals a fresh engine's
     * generate; back to greedy, it equals the greedy fresh engine's */
    memcpy(conv + n_conv, got, (size_t)st.n_gen * sizeof *got);
    n_conv += st.n_gen;
    append_text(m, " The sun", conv, &n_conv, 128);
    sd_engine_params ps = p;
    ps.sampling.temp = 0.9f;
    ps.sampling.seed = 7;
    ps.sampling.repeat_penalty = 1.3f;
    sd_engine *sampled = NULL;
    CHECK(sd_engine_create(m, draft, &ps, &sampled, err, sizeof err) == 0, "%s: %s", what, err);
    CHECK(sd_engine_set_sampling(kept, &ps.sampling, err, sizeof err) == 0, "%s: set sampling: %s", what,
          err);
    CHECK(sampled && sd_engine_generate(sampled, conv, n_conv, 12, NULL, NULL, want, 32, &st_fresh, err,
                                        sizeof err) == 0,
          "%s", err);
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0, "%s",
          err);
    /* with a draft the learned draft lengths (and so the random draws) differ from a fresh engine's */
    CHECK(st.n_prompt_reused > 0 && st.n_gen == st_fresh.n_gen &&
              (draft || memcmp(got, want, (size_t)st.n_gen * sizeof *got) == 0),
          "%s: sampled turn after set_sampling differs from a fresh sampled engine (reused %d)", what,
          st.n_prompt_reused);
    CHECK(sd_engine_set_sampling(kept, &p.sampling, err, sizeof err) == 0, "%s: set sampling: %s", what, err);
    CHECK(sd_engine_continue(kept, conv, n_conv, 12, NULL, NULL, got, 32, &st, err, sizeof err) == 0 &&
              sd_engine_generate(fresh, conv, n_conv, 12, NULL, NULL, want, 32, &st_fresh, err, sizeof err) ==
                  0,
          "%s", err);
    CHECK(st.n_prompt_reused > 0 && st.n_gen == st_fresh.n_gen &&
              memcmp(got, want, (size_t)st.n_gen * sizeof *got) == 0,
          "%s: greedy again after set_sampling differs from greedy", what);
    sd_engine_free(sampled);
done:
    sd_engine_free(kept);
    sd_engine_free(fresh);
}

static void check_continue(void) {
    char err[512];
    sd_model *small = NULL, *target = NULL, *draft = NULL;
    if (sd_model_load(test_path("SD_MODELS_DIR", "stories260K.gguf"), &small, err, sizeof err) == 0)
        check_continue_on(small, NULL, "plain");
    else
        CHECK(false, "%s", err);
    if (sd_model_load(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"), &target, err, sizeof err) ==
            0 &&
        sd_model_load(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"), &draft, err, sizeof err) == 0)
        check_continue_on(target, draft, "speculative");
    else
        CHECK(false, "%s", err);
    sd_model_free(small);
    sd_model_free(target);
    sd_model_free(draft);
}

int main(void) {
    check_utf8_stream();
    check_engine();
    check_continue();
    return test_finish("test_engine");
}
