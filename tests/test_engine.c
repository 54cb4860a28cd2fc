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

int main(void) {
    check_utf8_stream();
    check_engine();
    return test_finish("test_engine");
}
