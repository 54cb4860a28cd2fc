/* The draft role: given the accepted context, propose up to k tokens with the small model, sampling
 * each from the draft's transformed distribution q (kept for verification), and stop early when the
 * draft's confidence in its next token falls below a threshold. The draft's KV cache and sampler
 * history follow the accepted tokens: before each proposal they are rolled back to the longest prefix
 * they share with the context, and the rest of the context is fed (from a recent window when that is
 * long, see SD_DRAFT_RESTART_WINDOW). */
#ifndef SD_DRAFTER_H
#define SD_DRAFTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/threadpool.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "specdec.h" /* SD_MAX_DRAFT_LEN: the longest draft a round may propose */

typedef struct sd_drafter sd_drafter;

/* When the draft has fallen more than this many tokens behind the context (the controller paused it,
 * spec/controller.h), the next proposal restarts it from the last this many tokens instead of feeding
 * them all, so that resuming costs one short prefill however long the pause: enough context for the
 * draft's guesses to be judged, a small part of a pause's time. */
#define SD_DRAFT_RESTART_WINDOW 64

/* A drafter for contexts of up to n_ctx tokens and drafts of up to k_max tokens. Its sampler uses
 * params with the seed changed (the draft's random stream must differ from the target's). It works in
 * the target's vocabulary of n_vocab_out ids: draft logits beyond it are never proposed, target ids
 * beyond the draft's vocabulary get q = 0. type_k, type_v: its KV cache's types. */
int sd_drafter_create(const sd_model *draft, int32_t n_vocab_out, int32_t n_ctx, int32_t k_max,
                      int32_t n_batch, sd_cache_type type_k, sd_cache_type type_v,
                      const sd_sampler_params *params, sd_pool *pool, sd_drafter **out, char *err,
                      size_t err_len);
void sd_drafter_free(sd_drafter *d);
void sd_drafter_reset(sd_drafter *d);

/* The context the drafter works on lost its tokens [n_keep, n_keep + n_discard) (the target's context
 * shift): shifts the draft's cache alike where it holds them, else rolls it back (the next proposal
 * feeds what is missing). */
void sd_drafter_shift(sd_drafter *d, int32_t n_keep, int32_t n_discard);

/* Replaces the draft's sampler with one made from params (its seed salted as at creation), its history
 * the tokens in the draft's cache, which stays. On failure the old sampler stays. */
int sd_drafter_set_sampler(sd_drafter *d, const sd_sampler_params *params, char *err, size_t err_len);

/* Brings the draft's cache up to ctx[0..n) ahead of proposing (e.g. the prompt, during prefill), so that
 * the first proposal does not pay for it. */
int sd_drafter_sync(sd_drafter *d, const int32_t *ctx, int32_t n, char *err, size_t err_len);

/* A gate's verdict on a draft token the draft has just drawn (its pass already paid). */
typedef enum sd_draft_verdict {
    SD_DRAFT_WITHHOLD,  /* drop it and end the draft */
    SD_DRAFT_KEEP_LAST, /* keep it and end the draft: another token would not pay for its pass */
    SD_DRAFT_KEEP,      /* keep it and draw the next */
} sd_draft_verdict;

/* Judges draft i (0-based in its round), drawn when the draft's top probability was p_top (e.g.
 * sd_controller_judge_draft). */
typedef sd_draft_verdict (*sd_draft_gate_fn)(void *user, int32_t i, float p_top);

/* When a draft stops early. p_top is the draft's largest probability at temperature 1. */
typedef struct sd_draft_stop {
    float p_min;           /* stop once p_top < p_min; <= 0: never */
    sd_draft_gate_fn gate; /* then ask the gate; NULL: keep */
    void *gate_user;
} sd_draft_stop;

/* Proposes up to k tokens after ctx[0..n_ctx_tokens) (the last of which is the token the target will
 * verify first), stopping early as `stop` says (NULL: never). Writes the proposals to tokens[0..j),
 * their top probabilities to sd_drafter_confidence, and when not greedy their distributions to q
 * [j][n_vocab_out] (sd_drafter_q); returns j >= 0 or a negative status. */
int32_t sd_drafter_propose(sd_drafter *d, const int32_t *ctx, int32_t n_ctx_tokens, int32_t k,
                           const sd_draft_stop *stop, int32_t *tokens, char *err, size_t err_len);

/* The pipelined schedule: while the target verifies ctx + drafts[0..j), proposes k_next tokens for the
 * round after, assuming all j drafts are accepted and the target's next token is the draft's own guess.
 * If the next sd_drafter_propose is called with exactly that context, it returns those proposals at
 * once; otherwise they are discarded (the cache rolls back as usual). */
int sd_drafter_extend(sd_drafter *d, const int32_t *ctx, int32_t n_ctx_tokens, const int32_t *drafts,
                      int32_t j, int32_t k_next, const sd_draft_stop *stop, char *err, size_t err_len);

/* Moves the draft to another pool (at most as many workers as it was created with). */
int sd_drafter_set_pool(sd_drafter *d, sd_pool *pool);

/* Bytes of the draft's KV cache. */
uint64_t sd_drafter_kv_bytes(const sd_drafter *d);

/* The distributions of the last proposal: [j][n_vocab_out], rows contiguous (sampling mode only). */
const float *sd_drafter_q(const sd_drafter *d);

/* The top probability (temperature 1) of each token of the last proposal: [j]; NAN where the proposal's
 * stop rule had neither a p_min nor a gate (then it is not computed). */
const float *sd_drafter_confidence(const sd_drafter *d);

/* The draft the stop rule withheld at the end of the last proposal, in greedy decoding: true with its
 * token (the draft's argmax at the next place) and top probability; false when the proposal ended
 * otherwise (k reached, nothing proposed) or when sampling. Once the target has verified the proposal
 * and accepted all of it, the target's next token says whether this one would have been accepted. */
bool sd_drafter_withheld(const sd_drafter *d, int32_t *token, float *p_top);

/* Calls fn for each large buffer of the drafter's model state (NUMA placement). */
void sd_drafter_foreach_buffer(const sd_drafter *d, void (*fn)(void *ptr, size_t bytes, void *user),
                               void *user);

#endif
