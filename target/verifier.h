/* The verify role: the target model checks k drafted tokens in one batched forward pass over
 * [pending, x_0 .. x_{k-1}] (pending = the last accepted token, not yet in the cache), giving k + 1
 * target distributions; the acceptance rule (sampler/spec_accept.h) keeps a prefix of the drafts and
 * picks the next token; the KV cache is rolled back past the first rejection. With k = 0 this is plain
 * decoding: one forward pass, one sampled token. */
#ifndef SD_VERIFIER_H
#define SD_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "cpu/threadpool.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "sampler/spec_accept.h"
#include "specdec.h" /* sd_cache_type */

typedef struct sd_verifier sd_verifier;

/* type_k, type_v: the KV cache's types (sd_forward_create_cached). */
int sd_verifier_create(const sd_model *target, int32_t n_ctx, int32_t k_max, int32_t n_batch,
                       sd_cache_type type_k, sd_cache_type type_v, const sd_sampler_params *params,
                       sd_pool *pool, sd_verifier **out, char *err, size_t err_len);
void sd_verifier_free(sd_verifier *v);

/* Empties the cache and the sampler history, reseeds the sampler. */
void sd_verifier_reset(sd_verifier *v);

/* Rolls the cache and the sampler history back to their first n tokens (0 <= n <= n_past), keeping the
 * sampler's random stream. Fails with SD_STATUS_INVALID_ARGUMENT, changing nothing, when the history no
 * longer holds what a rollback that deep needs (sampler.h: then reset and prefill again). */
int sd_verifier_truncate(sd_verifier *v, int32_t n);

/* Context shift (sd_forward_shift): forgets cache positions [n_keep, n_keep + n_discard) and moves the
 * rest down. The sampler's history (the repetition penalty's) keeps every token. */
int sd_verifier_shift(sd_verifier *v, int32_t n_keep, int32_t n_discard);

/* Runs context tokens (the prompt without its last token) into the cache and the sampler history. */
int sd_verifier_prefill(sd_verifier *v, const int32_t *tokens, int32_t n, char *err, size_t err_len);

/* One round: verifies drafts[0..k) after `pending`; q [k][n_vocab] are the draft's distributions
 * (NULL when greedy). On return the cache and sampler history hold pending and the accepted drafts;
 * res->next_token is the new pending token. Fails with SD_STATUS_CONTEXT_FULL if k + 1 tokens do not
 * fit. */
int sd_verifier_verify(sd_verifier *v, int32_t pending, const int32_t *drafts, int32_t k, const float *q,
                       sd_spec_result *res, char *err, size_t err_len);

/* Seconds the last sd_verifier_verify spent in the sampler and the acceptance rule. */
double sd_verifier_last_sample_seconds(const sd_verifier *v);

/* Moves the target to another pool (at most as many workers as it was created with). */
int sd_verifier_set_pool(sd_verifier *v, sd_pool *pool);

int32_t sd_verifier_n_past(const sd_verifier *v);
int32_t sd_verifier_n_ctx(const sd_verifier *v);
/* Bytes of the target's KV cache (keys and values, every layer, n_ctx positions). */
uint64_t sd_verifier_kv_bytes(const sd_verifier *v);
const sd_sampler *sd_verifier_sampler(const sd_verifier *v);

/* Replaces the sampler with one made from params whose history is history[0..n_history) (the tokens in
 * the cache), keeping the cache. On failure the old sampler stays. */
int sd_verifier_set_sampler(sd_verifier *v, const sd_sampler_params *params, const int32_t *history,
                            int32_t n_history, char *err, size_t err_len);

/* Logits [n_vocab] of the last row of the last pass (for sd_engine_last_logits). */
const float *sd_verifier_last_logits(const sd_verifier *v);

/* Calls fn for each large buffer of the verifier's model state (NUMA placement). */
void sd_verifier_foreach_buffer(const sd_verifier *v, void (*fn)(void *ptr, size_t bytes, void *user),
                                void *user);

#endif
