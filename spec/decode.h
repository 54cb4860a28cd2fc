/* The generation loop, plain or speculative: prefill, then rounds of (draft up to k tokens, verify them
 * in one target pass, emit the accepted prefix and the target's next token) until the length, an
 * end-of-generation token, the caller, or the context stops it. Without a draft source every round has
 * k = 0, which is exactly plain decoding. With sources (the draft model, n-grams of the context), each
 * round follows the controller's round protocol (spec/controller.h): the controller bounds k, chooses the
 * source from the n-gram proposal at hand and what it measured, gates each draft token and learns from
 * the outcome. An n-gram draft is verified with one-hot q rows (sampler/spec_accept.h). */
#ifndef SD_DECODE_H
#define SD_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "draft/drafter.h"
#include "draft/xvocab.h"
#include "spec/controller.h"
#include "spec/schedule.h"
#include "target/verifier.h"
#include "tokenizer/vocab.h"
#include "specdec.h"

typedef struct sd_decode_config {
    unsigned sources;        /* SD_SPEC_* bits; SD_SPEC_DRAFT is used only with a drafter */
    int32_t k_min, k_max;    /* equal: fixed k */
    float p_min;             /* draft confidence threshold (0: off) */
    sd_scheduler *scheduler; /* started; chooses each round's schedule (not owned) */
    /* Context shift: when the cache is full, keep its first shift_keep tokens, drop half of the rest and
     * go on (sd_verifier_shift, sd_drafter_shift); < 0: stop with SD_STOP_CONTEXT_FULL instead. */
    int32_t shift_keep;
    sd_xvocab *xvocab; /* the drafter drafts in another vocabulary, through this (not owned);
                          NULL: the same vocabulary */
} sd_decode_config;

typedef struct sd_decoder sd_decoder;

/* drafter may be NULL (no model draft; plain decoding unless cfg->sources has SD_SPEC_NGRAM). Neither
 * verifier, drafter nor the scheduler is owned; the n-gram source is the decoder's own. */
int sd_decoder_create(sd_verifier *verifier, sd_drafter *drafter, const sd_vocab *vocab,
                      const sd_decode_config *cfg, int32_t n_ctx, sd_decoder **out, char *err,
                      size_t err_len);
void sd_decoder_free(sd_decoder *d);

/* Called with each generated token, an end-of-generation token included (generation stops after it
 * anyway); false stops generation. */
typedef bool (*sd_emit_fn)(void *user, int32_t token);

/* Generates up to n_predict tokens after the prompt; fills stats (k_trace points into the decoder;
 * n_prompt counts the tokens prefilled). The verifier's cache already holds prompt[0..n_cached) (the
 * caller has checked, and rolled it back to exactly that, e.g. sd_engine_continue): only the rest is
 * prefilled, and the drafter rolls its own cache back to what it shares with the prompt. n_cached 0
 * starts both from empty caches. */
int sd_decoder_generate(sd_decoder *d, const int32_t *prompt, int32_t n_prompt, int32_t n_cached,
                        int32_t n_predict, sd_emit_fn emit, void *user, sd_stats *stats, char *err,
                        size_t err_len);

#endif
