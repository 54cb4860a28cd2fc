/* Adaptive draft length: each round picks the k that maximises expected tokens per second,
 *     E(k) / T(k),  E(k) = (1 - a^(k+1)) / (1 - a),  T(k) = k t_d + t_v(k + 1),
 * with the per-token acceptance a tracked online (a decaying average of accepted / tested drafts) and
 * the costs t_d (seconds per drafted token) and t_v(n) (seconds per verify pass of n tokens) measured
 * from the run itself. A fixed k (min == max) turns adaptation off. */
#ifndef SD_CONTROLLER_H
#define SD_CONTROLLER_H

#include <stdint.h>

#define SD_MAX_DRAFT 32 /* the longest draft a round may propose */

typedef struct sd_controller {
    int32_t k_min, k_max;
    /* acceptance: decayed counts of drafts accepted and drafts tested */
    double acc_hits, acc_trials;
    /* costs, seconds; t_v[n] for n = 1..SD_MAX_DRAFT + 1 tokens per verify pass (0: not measured) */
    double t_draft;
    double t_verify[SD_MAX_DRAFT + 2];
    int32_t rounds_at_zero; /* consecutive rounds that drafted nothing (see sd_controller_choose) */
} sd_controller;

/* Starts with an acceptance prior of 0.6 (worth 5 tested drafts) and no cost measurements. */
void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max);

/* The k for the next round, in [k_min, k_max]. Until both costs have been measured it proposes
 * min(4, k_max) (at least k_min). When k = 0 has been chosen for 16 rounds in a row, one round drafts a
 * single token so that a changed acceptance can still be noticed. */
int32_t sd_controller_choose(sd_controller *c);

/* Records a round: k drafted tokens of which n_accepted were accepted, drafting took t_draft_s seconds
 * (0 when k == 0) and the verify pass of k + 1 tokens took t_verify_s seconds. */
void sd_controller_update(sd_controller *c, int32_t k, int32_t n_accepted, double t_draft_s, double t_verify_s);

/* Current estimates, for reports. */
double sd_controller_acceptance(const sd_controller *c);
double sd_controller_verify_cost(const sd_controller *c, int32_t n); /* seconds for n tokens */
double sd_controller_expected_tps(const sd_controller *c, int32_t k);

#endif
