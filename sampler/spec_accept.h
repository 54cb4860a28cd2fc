/* Speculative decoding's acceptance rule (Leviathan et al. 2023, "Fast Inference from Transformers via
 * Speculative Decoding"; Chen et al. 2023, "Accelerating LLM Decoding with Speculative Sampling").
 *
 * One round: the draft proposed k tokens x_0..x_{k-1}, token x_i drawn from the draft's distribution
 * q_i (after the same transform as the target: sd_sampler_probs on the draft's logits with the same
 * params). The target computed p_0..p_k in one batched pass (p_i is the target's distribution at the
 * position of x_i; p_k is the one after the last draft). This decides how many drafts to keep and which
 * token comes next, so that the emitted tokens are distributed exactly as if sampled from the target
 * alone (sampling), or equal plain greedy target decoding (greedy).
 *
 * Sampling (temp > 0), for i = 0..k-1:
 *     accept x_i with probability min(1, p_i(x_i) / q_i(x_i)) (one uniform draw from the sampler's PRNG,
 *     skipped when p_i(x_i) >= q_i(x_i));
 *     on rejection the next token is drawn from the residual norm(max(0, p_i - q_i)), or from p_i if the
 *     residual is all zero (p_i == q_i up to rounding), and the round ends;
 * if all k are accepted, the next ("bonus") token is drawn from p_k.
 *
 * Greedy (temp <= 0): x_i is accepted while x_i == argmax p_i (ties: lowest id); the next token is the
 * argmax of the first p_i that disagrees, or of p_k. q is not read and the PRNG is not used.
 *
 * The draft must *sample* x_i from q_i: taking the draft's argmax instead breaks the guarantee (the
 * tests show it). The draft side of a round, with the draft's own sampler d:
 *
 *     sd_sampler_probs(d, draft_logits_i, q[i]);   // q_i, kept for the verification
 *     x[i] = sd_sampler_sample_probs(d, q[i]);      // x_i ~ q_i
 *     sd_sampler_accept(d, x[i]);                   // truncated back after verification
 *
 * A deterministic draft (tokens chosen without drawing, e.g. read from the context: draft/ngram.h) is the
 * case q_i = one-hot(x_i): the rule then accepts x_i with probability p_i(x_i) and on rejection draws
 * from p_i with x_i removed, renormalised, which is exact as it stands; the caller passes one-hot rows.
 *
 * The draft's and the target's samplers must be seeded differently (e.g. the draft with seed ^ some
 * constant): with equal seeds both PRNG streams are the same numbers, so the draw that picked x_i and
 * the draw that accepts it are correlated, which biases the output.
 *
 * Nothing here allocates. */
#ifndef SD_SPEC_ACCEPT_H
#define SD_SPEC_ACCEPT_H

#include "sampler/sampler.h"

#include <stdint.h>

typedef struct sd_spec_result {
    int32_t n_accepted; /* drafts kept, 0..k: x_0..x_{n_accepted-1} are emitted, in order */
    int32_t next_token; /* emitted after them: the correction on a rejection, else the bonus token */
} sd_spec_result;

/* Applies the rule above with the target's sampler s (its greedy flag and PRNG; its history is not
 * touched). draft: [k] token ids; q: [k][n_vocab] draft distributions (may be NULL in greedy mode);
 * p: [k + 1][n_vocab] target distributions, rows contiguous, n_vocab = sd_sampler_n_vocab(s).
 * k may be 0 (then next_token is drawn from p_0). Returns 0 and fills *out, or
 * SD_STATUS_INVALID_ARGUMENT (out untouched where detectable before any draw) for k < 0, a draft id out
 * of range, q_i(x_i) not > 0 (x_i cannot have been drawn from q_i), or a p row with no positive entry. */
int sd_spec_accept(sd_sampler *s, int32_t k, const int32_t *draft, const float *q, const float *p,
                   sd_spec_result *out);

#endif
