/* The n-gram draft source: drafts read from the context itself. The last n tokens of the context (n
 * from n_max down to n_min, longest first) are looked up among the earlier n-grams of the context
 * (prompt and generated text), and the tokens that followed the most recent earlier occurrence are
 * proposed. Text that repeats its context (code edited in place, a table or a switch continuing its
 * pattern, a summary quoting its source) is drafted at almost no cost.
 *
 * The index maps each n-gram of the context to the position of the token that followed its last
 * occurrence; it grows with the context (each new token adds n_max - n_min + 1 entries), so a proposal
 * costs n_max - n_min + 1 hash look-ups, not a scan of the context. A context that is not an extension
 * of the indexed one (a new prompt) re-indexes what they share.
 *
 * A proposal is deterministic: as a draft it has q = one-hot at each proposed token, for which
 * the acceptance rule of sampler/spec_accept.h stays exact (accept x with probability p(x); on rejection
 * draw from p with x removed). */
#ifndef SD_NGRAM_H
#define SD_NGRAM_H

#include <stddef.h>
#include <stdint.h>

/* The n-gram orders of the default source: 4-grams first (few false matches), down to single tokens
 * (short repeats of identifiers). */
#define SD_NGRAM_MIN 1
#define SD_NGRAM_MAX 4

typedef struct sd_ngram sd_ngram;

/* A source for contexts of up to n_ctx tokens, matching n-grams of n_min..n_max tokens
 * (1 <= n_min <= n_max <= 8). */
int sd_ngram_create(int32_t n_ctx, int32_t n_min, int32_t n_max, sd_ngram **out, char *err, size_t err_len);
void sd_ngram_free(sd_ngram *g);
void sd_ngram_reset(sd_ngram *g);

/* Forgets all but the first n indexed tokens (a new prompt that shares only them with the last context):
 * re-indexes those n, O(n). */
void sd_ngram_truncate(sd_ngram *g, int32_t n);

/* Brings the index up to ctx[0..n) (n <= n_ctx), which must extend the indexed tokens (call
 * sd_ngram_truncate first where it may not): only ctx[n_indexed..n) is read. A shorter n truncates. */
void sd_ngram_sync(sd_ngram *g, const int32_t *ctx, int32_t n);

/* Proposes up to k tokens to follow ctx[0..n) (synced first, as sd_ngram_sync): the continuation of the most
 * recent earlier occurrence of the longest suffix of n_max..n_min tokens that occurred before. Where that
 * continuation runs into the end of the context, the proposal repeats itself with the match's period (the
 * context "a b a b" proposes "a b a b ..."). Writes tokens[0..j) and returns j (0: no match); *order receives
 * the matched n (0 when none). */
int32_t sd_ngram_propose(sd_ngram *g, const int32_t *ctx, int32_t n, int32_t k, int32_t *tokens,
                         int32_t *order);

/* A stand-in for a draft's top probability, for the controller's calibration model: a match of more
 * tokens is more often right. 1 - 2^-order, in (0, 1). */
float sd_ngram_confidence(int32_t order);

#endif
