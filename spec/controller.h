/* Adaptive draft length: each round drafts the tokens that maximise expected tokens per second,
 *     E(k) / T(k),  T(k) = k t_d + t_v(k + 1),
 *     E(k) = 1 + a_1 + a_1 a_2 + ... + a_1 ... a_k,
 * where a_i is the acceptance of draft i given that those before it were accepted, and the costs t_d
 * (seconds per drafted token) and t_v(n) (seconds per verify pass of n tokens, a line fitted to recent
 * passes) are measured from the run itself. With one a for all positions E is DESIGN.md's
 * (1 - a^(k+1)) / (1 - a); but acceptance varies from token to token, and the draft's own top
 * probability p_top predicts it. So a_i is not an average: the controller learns online how acceptance
 * depends on p_top and on the position's recent acceptance (a logistic model: the draft's calibration
 * and how easy the current text is), mixes that model with the position's recent acceptance alone by how
 * well each predicted the recent drafts (on some texts the draft's confidence misleads), and decides
 * token by token while the draft runs, keeping draft i while it pays for its cost
 * (sd_controller_keep_drafting). The drafts the gate withholds are scored too (greedy decoding shows
 * whether the target's token equals them), so that stopping too early is seen and unlearnt. This
 * is the confidence threshold for early stop, derived each time from the measured costs and calibration
 * instead of fixed: confident text drafts long, uncertain text stops after one token or drafts none.
 * A fixed k (min == max) turns adaptation off. */
#ifndef SD_CONTROLLER_H
#define SD_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#define SD_MAX_DRAFT 32 /* the longest draft a round may propose */

typedef struct sd_controller {
    int32_t k_min, k_max;
    /* acceptance at each draft position: decayed counts of drafts accepted and drafts tested */
    double acc_hits[SD_MAX_DRAFT], acc_trials[SD_MAX_DRAFT];
    /* acceptance of a draft (given the earlier ones of its round were accepted) as a logistic model
     * learned online: sigmoid(w[0] + w[1] logit(p_top) + w[2] logit(position's acceptance)); the draft's
     * confidence says which tokens are easy, the position's recent acceptance how easy the text is now */
    double w[3];
    /* each predictor's recent log-loss on tested drafts (decayed sums): the logistic model's, and that of
     * the position's acceptance alone; the prediction mixes the two by their recent likelihood */
    double loss_model, loss_position;
    /* costs, seconds; t_v[n] for n = 1..SD_MAX_DRAFT + 1 tokens per verify pass (0: not measured) */
    double t_draft;
    double t_verify[SD_MAX_DRAFT + 2];
    /* time-decayed least-squares sums of the verify samples (n, t): weight, n, t, n^2, n t */
    double fit_w, fit_x, fit_y, fit_xx, fit_xy;
    /* recent rounds' tokens and seconds (decayed sums): the throughput being achieved */
    double rate_tokens, rate_seconds;
    int32_t rounds_since_explore; /* see sd_controller_choose */
    /* the current round's draft, for sd_controller_keep_drafting: probability that every draft so far
     * is accepted, and whether this round may draft one token past the stop */
    double round_all_accepted;
    bool round_explore;
} sd_controller;

/* Starts with no measurements: acceptance priors of 0.6 at the first position, each deeper position's
 * prior being the estimate of the one before (worth 2 tested drafts each), the logistic model weighing
 * the draft's confidence and the position's acceptance equally, and no costs. */
void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max);

/* The most tokens the next round may draft, in [k_min, k_max]. A fixed k (k_min == k_max) is returned as
 * is. Adaptive: k_max once the costs are measured (sd_controller_keep_drafting then ends each draft
 * where another token no longer pays), before that min(4, k_max) (at least k_min). Once in 8 rounds the
 * round may draft one token past the point where it would stop, so that the acceptance of less
 * confident drafts stays measured and a change of text can be noticed. */
int32_t sd_controller_choose(sd_controller *c);

/* Whether draft i (0-based) of the round, which the draft proposed with top probability p_top, is worth
 * verifying: with a the acceptance sd_controller_acceptance_at predicts for it, adding it raises the expected
 * tokens of the round by g = (probability that drafts 0..i are all accepted) and its cost T(i) = i t_d +
 * t_v(i + 1) by dT = t_d + t_v(i + 2) - t_v(i + 1); it is kept if g >= R dT, R the tokens per second
 * recent rounds achieved. (Long-run throughput is total tokens over total time, not the mean of each
 * round's E / T; a token that pays at least R per second of its cost raises it; this is Dinkelbach's
 * rule, and R converges to the best rate the policy can reach.) Always true below k_min; with a fixed k
 * or before the costs are measured, true. */
bool sd_controller_keep_drafting(sd_controller *c, int32_t i, float p_top);

/* Records a round: k drafted tokens (top probabilities p_top[0..k), or NULL) of which n_accepted were
 * accepted, drafting took t_draft_s seconds (0 when k == 0) and the verify pass of k + 1 tokens took
 * t_verify_s seconds. */
void sd_controller_update(sd_controller *c, int32_t k, int32_t n_accepted, const float *p_top,
                          double t_draft_s, double t_verify_s);

/* Records what the target's output shows about draft i of the last round, which the stop rule withheld
 * (proposed with top probability p_top after i drafts that were all accepted): whether the target's
 * token at its place equals it. Without it the gate's own decisions would hide the acceptance of the
 * drafts it stops at, and the controller could not learn that it stops too early. Call after
 * sd_controller_update. */
void sd_controller_learn_withheld(sd_controller *c, int32_t i, float p_top, bool accepted);

/* Current estimates: acceptance at draft position i (0-based, given the earlier ones were accepted),
 * acceptance of draft i proposed with top probability p_top (the mixture the gate uses), the verify
 * cost. */
double sd_controller_acceptance(const sd_controller *c, int32_t i);
double sd_controller_acceptance_at(const sd_controller *c, int32_t i, float p_top);
double sd_controller_verify_cost(const sd_controller *c, int32_t n); /* seconds for n tokens */

#endif
