/* Token sampler: logits -> probability distribution -> token.
 *
 * The sampler knows nothing of models: it takes a logits row of n_vocab floats and turns it into the
 * full-vocabulary distribution that llama.cpp's default sampler chain would sample from, then draws from
 * it with its own seeded PRNG. The same distribution is what speculative decoding's acceptance test
 * (spec_accept.h) compares between target and draft, so "the distribution" is a first-class output here,
 * not a hidden intermediate.
 *
 * The transform, in llama.cpp's default chain order (common/sampling.cpp: penalties, top-k, top-p, min-p,
 * temperature, then dist):
 *   1. repetition penalty: every distinct token among the last repeat_last_n accepted tokens has its
 *      logit divided by repeat_penalty if the logit is > 0, multiplied by it if <= 0;
 *   2. top-k: keep the k highest logits;
 *   3. top-p: softmax of the kept logits at temperature 1, keep the smallest prefix (highest first) whose
 *      cumulative probability is >= top_p, at least one token;
 *   4. min-p: keep tokens whose logit >= max logit + log(min_p), i.e. prob >= min_p * max prob, again at
 *      temperature 1;
 *   5. temperature: divide the kept logits by temp;
 *   6. softmax over the kept tokens. Every cut token gets probability exactly 0.
 * Note that top-p and min-p see the unscaled (temperature 1) distribution, as in llama.cpp.
 *
 * Ordering and ties: tokens are ranked by logit, highest first, and equal logits by lower token id first,
 * so top-k and top-p cut ties deterministically (llama.cpp leaves tie order to std::partial_sort).
 * Logits: NaN is treated as -inf; -inf tokens always get probability 0; if some logits are +inf the
 * distribution is uniform over those (the limit of softmax). A row with no logit above -inf is an error.
 *
 * Greedy mode (temp <= 0): the distribution is one-hot on the argmax of the penalized logits (ties: the
 * lowest id); top-k/top-p/min-p cannot change the argmax, so they are skipped.
 *
 * History: the repetition penalty needs the recently accepted tokens. The sampler keeps them itself
 * (sd_sampler_accept) and can roll them back (sd_sampler_history_truncate), because speculative decoding
 * evaluates the target's distribution at draft positions whose history includes not-yet-verified draft
 * tokens. Verify round, for a target sampler `t` whose history holds the n0 tokens of the context:
 *
 *     for (i = 0; i <= k; i++) {                   // p_i at position i sees drafts x_0..x_{i-1}
 *         sd_sampler_probs(t, target_logits[i], p[i]);
 *         if (i < k) sd_sampler_accept(t, x[i]);
 *     }
 *     sd_sampler_history_truncate(t, n0);          // drop the unverified drafts ...
 *     sd_spec_accept(t, k, x, q, p, &res);         // ... verify (spec_accept.h) ...
 *     sd_sampler_accept_many(t, x, res.n_accepted); // ... and keep what was emitted
 *     sd_sampler_accept(t, res.next_token);
 *
 * (sd_sampler_probs_seq does the loop and the truncation in one call.) The draft's sampler rolls back
 * the same way: its history holds the drafts it proposed, of which only the accepted ones stay.
 *
 * A sampler is not thread-safe; use one per thread. It allocates its scratch (a few n_vocab-sized
 * arrays) at create; transforming and sampling allocate nothing. Functions that can fail return 0 or a
 * negative SD_STATUS_* code from common/sd_common.h. */
#ifndef SD_SAMPLER_H
#define SD_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* How far back (in tokens) sd_sampler_history_truncate can always roll the history back, beyond the
 * repetition window. Drafts are far shorter than this. */
#define SD_SAMPLER_MAX_ROLLBACK 256

typedef struct sd_sampler_params {
    float temp;            /* temperature; <= 0 means greedy (argmax) */
    int32_t top_k;         /* keep the k most likely tokens; <= 0 turns it off */
    float top_p;           /* nucleus mass in (0, 1]; 1 turns it off */
    float min_p;           /* keep tokens with prob >= min_p * max prob, in [.., 1]; <= 0 turns it off */
    float repeat_penalty;  /* > 0; 1 turns it off; > 1 discourages repeats */
    int32_t repeat_last_n; /* penalty window in tokens; 0 off, -1 the whole history */
    uint64_t seed;         /* PRNG seed; the library always uses it as given (choosing a random seed is
                              the caller's business) */
    /* Tokens that are never chosen (their logits count as -inf before every other step; --ignore-eos bans
     * the end-of-generation tokens this way, as llama.cpp does). Read by sd_sampler_create only, which
     * keeps its own copy; sd_sampler_get_params then reports n_banned with banned NULL. */
    const int32_t *banned;
    int32_t n_banned;
} sd_sampler_params;

typedef struct sd_sampler sd_sampler;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, repeat_penalty 1.0 (off),
 * repeat_last_n 64, seed SD_SAMPLER_DEFAULT_SEED. */
#define SD_SAMPLER_DEFAULT_SEED 0xFFFFFFFFull
sd_sampler_params sd_sampler_default_params(void);

/* Validates *params and creates a sampler for a vocabulary of n_vocab tokens (ids 0..n_vocab-1) with an
 * empty history and its PRNG seeded from params->seed. Errors (SD_STATUS_INVALID_ARGUMENT, message in
 * err): n_vocab < 1, a NaN field, top_p outside (0, 1], min_p > 1, repeat_penalty not finite and > 0,
 * repeat_last_n < -1. SD_STATUS_NO_MEMORY if the scratch cannot be allocated. On success *out owns the
 * sampler (free with sd_sampler_free); on failure *out is NULL. */
int sd_sampler_create(const sd_sampler_params *params, int32_t n_vocab, sd_sampler **out, char *err,
                      size_t err_len);

/* Replaces *s with a sampler made from params whose history is history[0..n_history) (the tokens a cache
 * holds), for sampling differently over a kept context. On failure *s is unchanged. */
int sd_sampler_replace(sd_sampler **s, const sd_sampler_params *params, int32_t n_vocab,
                       const int32_t *history, int32_t n_history, char *err, size_t err_len);

/* Frees the sampler and its scratch. NULL is a no-op. */
void sd_sampler_free(sd_sampler *s);

/* Clears the history and reseeds the PRNG from params.seed, so the next draws repeat those of a fresh
 * sampler. */
void sd_sampler_reset(sd_sampler *s);

/* The parameters the sampler was created with, and its vocabulary size. */
const sd_sampler_params *sd_sampler_get_params(const sd_sampler *s);
int32_t sd_sampler_n_vocab(const sd_sampler *s);

/* 1 when the sampler is greedy (temp <= 0), else 0. */
int sd_sampler_is_greedy(const sd_sampler *s);

/* The transform described at the top of this file: logits [n_vocab] -> probs [n_vocab] (sums to 1,
 * cut tokens exactly 0), using the current history for the penalty. Does not touch the PRNG or the
 * history. Returns 0, or SD_STATUS_INVALID_ARGUMENT when no logit is above -inf (probs then untouched).
 * logits and probs may not overlap. */
int sd_sampler_probs(sd_sampler *s, const float *logits, float *probs);

/* The transform at n consecutive positions whose history grows by known tokens: row i of probs
 * [n][n_vocab] is sd_sampler_probs of row i of logits [n][n_vocab] with tokens[0..i) appended to the
 * history. This is the target's p_0..p_k in a verify round (n = k + 1 rows of batched logits, tokens =
 * the k drafts). The history is as before on return. Returns 0, SD_STATUS_INVALID_ARGUMENT (a bad row
 * or token, or n - 1 > SD_SAMPLER_MAX_ROLLBACK), or SD_STATUS_NO_MEMORY (whole-history window only). */
int sd_sampler_probs_seq(sd_sampler *s, int32_t n, const float *logits, const int32_t *tokens, float *probs);

/* The transform followed by one draw from the PRNG; greedy mode returns the argmax of the penalized
 * logits without using the PRNG. Returns the token id (>= 0) or a negative status as sd_sampler_probs.
 * Does NOT append the token to the history: call sd_sampler_accept with the token you keep. */
int32_t sd_sampler_sample(sd_sampler *s, const float *logits);

/* Draws one token from a given distribution probs [n_vocab] with the PRNG (one uniform draw). Entries
 * that are not > 0 (zero, negative, NaN) are never drawn; the rest need not sum to exactly 1 (they are
 * normalized by their sum). Returns the token id, or SD_STATUS_INVALID_ARGUMENT if no entry is > 0 or
 * the sum is not finite. */
int32_t sd_sampler_sample_probs(sd_sampler *s, const float *probs);

/* One uniform draw in [0, 1) from the sampler's PRNG (53 random bits). The speculative acceptance test
 * uses it so that a whole decode is reproducible from one seed. */
double sd_sampler_uniform(sd_sampler *s);

/* Appends token (0 <= token < n_vocab) to the history that the repetition penalty reads. Returns 0,
 * SD_STATUS_INVALID_ARGUMENT for a bad id, or SD_STATUS_NO_MEMORY (only with repeat_last_n == -1, where
 * the history grows with the context; with a fixed window the storage is allocated at create). */
int sd_sampler_accept(sd_sampler *s, int32_t token);

/* sd_sampler_accept for tokens[0..n); stops at the first failure and returns its status (the tokens
 * before it stay accepted). */
int sd_sampler_accept_many(sd_sampler *s, const int32_t *tokens, int32_t n);

/* Number of tokens accepted since create/reset, minus those truncated away. */
int32_t sd_sampler_history_len(const sd_sampler *s);

/* Rolls the history back to its first n tokens (0 <= n <= history_len), e.g. to drop draft tokens that
 * verification rejected. Always possible for rollbacks of up to SD_SAMPLER_MAX_ROLLBACK tokens since the
 * longest history; deeper rollbacks with a fixed window return SD_STATUS_INVALID_ARGUMENT (the history
 * is then unchanged) because older tokens are no longer kept. */
int sd_sampler_history_truncate(sd_sampler *s, int32_t n);

#endif
