/* Cross-vocabulary drafting by text: a draft model whose vocabulary differs from the target's drafts in
 * its own tokens, and its proposal is carried over as text. Each round:
 *   1. the accepted target context is detokenized and re-tokenized into the draft's vocabulary
 *      (incrementally: only the text near its end is tokenized again), so the draft's cache only ever
 *      holds draft ids and follows exactly the text the target accepted;
 *   2. the draft proposes tokens in its vocabulary (its own sampler when sampling);
 *   3. their text, cut at the last whole UTF-8 character, is tokenized into the target's vocabulary as
 *      the continuation of the context, and the last target token is dropped (more text could merge
 *      into it);
 *   4. the target verifies those ids as a deterministic proposal (q one-hot), exactly as n-gram drafts:
 *      the acceptance rule of sampler/spec_accept.h is exact for any proposal drawn independently of the
 *      target's random stream, so greedy output is plain decoding's and sampled output is distributed as
 *      the target's, whatever the translation gets wrong. A bad translation only lowers acceptance.
 * The translation's time is part of the proposal's, so the controller's draft cost t_d includes it. */
#ifndef SD_XVOCAB_H
#define SD_XVOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "draft/drafter.h"
#include "tokenizer/vocab.h"

typedef struct sd_xvocab sd_xvocab;

/* A translator between target and draft vocabularies for contexts of up to n_ctx target tokens, driving
 * drafter (not owned; created over the draft's own vocabulary for contexts of n_ctx_draft draft tokens,
 * with k_max = SD_MAX_DRAFT_LEN). A context whose text takes more draft tokens is not drafted for. */
int sd_xvocab_create(const sd_vocab *target, const sd_vocab *draft, sd_drafter *drafter, int32_t n_ctx,
                     int32_t n_ctx_draft, sd_xvocab **out, char *err, size_t err_len);
void sd_xvocab_free(sd_xvocab *x);
/* Forgets the context (the drafter is reset by its owner). */
void sd_xvocab_reset(sd_xvocab *x);

/* Brings the draft's cache up to the text of target tokens ctx[0..n) (sd_drafter_sync). */
int sd_xvocab_sync(sd_xvocab *x, const int32_t *ctx, int32_t n, char *err, size_t err_len);

/* Proposes up to k target ids to follow ctx[0..n) (the last is the token the target verifies first) into
 * tokens[0..j). stop's gate is asked about each target id (i counts target ids) with the top probability
 * of the draft token its last byte came from; stop's p_min ends the draft in the draft's own tokens.
 * Returns j >= 0 or a negative status. */
int32_t sd_xvocab_propose(sd_xvocab *x, const int32_t *ctx, int32_t n, int32_t k, const sd_draft_stop *stop,
                          int32_t *tokens, char *err, size_t err_len);

/* The top probabilities of the last proposal's target ids [j] (NAN where not computed). */
const float *sd_xvocab_confidence(const sd_xvocab *x);

/* Seconds spent translating (both directions) since create or the last reset, for reports. */
double sd_xvocab_translate_seconds(const sd_xvocab *x);

#endif
