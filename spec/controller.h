/* Adaptive draft length: each round picks the k that maximises expected tokens per second,
 *     E(k) / T(k),  T(k) = k t_d + t_v(k + 1),
 *     E(k) = 1 + a_1 + a_1 a_2 + ... + a_1 ... a_k,
 * where a_i is the acceptance of the draft at position i given that those before it were accepted,
 * tracked online per position (decaying averages; with one a for all positions this is DESIGN.md's
 * (1 - a^(k+1)) / (1 - a), but measured acceptance falls with the position: 0.70, 0.37, 0.27, ... for the
 * code pair), and the costs t_d (seconds per drafted token) and t_v(n) (seconds per verify pass of n
 * tokens) are measured from the run itself. A fixed k (min == max) turns adaptation off. */
#ifndef SD_CONTROLLER_H
#define SD_CONTROLLER_H

#include <stdint.h>

#define SD_MAX_DRAFT 32 /* the longest draft a round may propose */

typedef struct sd_controller {
    int32_t k_min, k_max;
    /* acceptance at each draft position: decayed counts of drafts accepted and drafts tested */
    double acc_hits[SD_MAX_DRAFT], acc_trials[SD_MAX_DRAFT];
    /* costs, seconds; t_v[n] for n = 1..SD_MAX_DRAFT + 1 tokens per verify pass (0: not measured) */
    double t_draft;
    double t_verify[SD_MAX_DRAFT + 2];
    int32_t rounds_since_explore; /* see sd_controller_choose */
} sd_controller;

/* Starts with no measurements: acceptance priors of 0.6 at the first position, each deeper position's
 * prior being the estimate of the one before (worth 2 tested drafts each), and no costs. */
void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max);

/* The k for the next round, in [k_min, k_max]. Until both costs have been measured it proposes
 * min(4, k_max) (at least k_min). Once in 8 rounds (16 when the choice is k = 0) it drafts one token more
 * than the model's choice, so that the acceptance one position further stays measured and a change of
 * text can be noticed. */
int32_t sd_controller_choose(sd_controller *c);

/* Records a round: k drafted tokens of which n_accepted were accepted, drafting took t_draft_s seconds
 * (0 when k == 0) and the verify pass of k + 1 tokens took t_verify_s seconds. */
void sd_controller_update(sd_controller *c, int32_t k, int32_t n_accepted, double t_draft_s, double t_verify_s);

/* Current estimates, for reports: acceptance at draft position i (0-based, given the earlier ones were
 * accepted), the verify cost, the expected tokens per second of a draft length. */
double sd_controller_acceptance(const sd_controller *c, int32_t i);
double sd_controller_expected_tokens(const sd_controller *c, int32_t k);
double sd_controller_verify_cost(const sd_controller *c, int32_t n); /* seconds for n tokens */
double sd_controller_expected_tps(const sd_controller *c, int32_t k);

#endif
