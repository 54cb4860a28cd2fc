#include "controller.h"

#include <math.h>
#include <stdbool.h>

#include "common/sd_common.h"

/* Weight of the past in the running averages. Acceptance: about the last 30 tests of a position count,
 * enough to tell 0.37 from 0.5 (a 10-round memory made the choice between k = 1 and 2 flip on noise)
 * while following a change from easy to hard text within a few dozen rounds. Costs: about the last 10
 * samples, so the controller follows the machine's load. */
#define ACCEPT_DECAY 0.97
#define COST_DECAY 0.9

void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max) {
    *c = (sd_controller){0};
    c->k_min = SD_MAX(0, SD_MIN(k_min, SD_MAX_DRAFT));
    c->k_max = SD_MAX(c->k_min, SD_MIN(k_max, SD_MAX_DRAFT));
}

static bool costs_known(const sd_controller *c) {
    if (c->t_draft <= 0) return false;
    for (int n = 1; n <= SD_MAX_DRAFT + 1; n++)
        if (c->t_verify[n] > 0) return true;
    return false;
}

/* Weight, in tested drafts, of the prior that each position's acceptance starts from. */
#define PRIOR_WEIGHT 2.0
#define FIRST_PRIOR 0.6

double sd_controller_acceptance(const sd_controller *c, int32_t i) {
    double a = FIRST_PRIOR;
    for (int32_t p = 0; p <= i && p < SD_MAX_DRAFT; p++)
        a = (c->acc_hits[p] + PRIOR_WEIGHT * a) / (c->acc_trials[p] + PRIOR_WEIGHT);
    return a;
}

double sd_controller_expected_tokens(const sd_controller *c, int32_t k) {
    double e = 1.0, run = 1.0, a = FIRST_PRIOR;
    for (int32_t p = 0; p < k && p < SD_MAX_DRAFT; p++) {
        a = (c->acc_hits[p] + PRIOR_WEIGHT * a) / (c->acc_trials[p] + PRIOR_WEIGHT);
        run *= a;
        e += run;
    }
    return e;
}

/* t_v(n): measured where available; otherwise a least-squares line through the measured batch sizes (a
 * verify pass costs about a fixed part plus a part per token), or with a single measured size, that
 * size's cost scaled by the prior of 10% more per extra token. 0 when nothing is measured. */
double sd_controller_verify_cost(const sd_controller *c, int32_t n) {
    if (n < 1) n = 1;
    if (n > SD_MAX_DRAFT + 1) n = SD_MAX_DRAFT + 1;
    if (c->t_verify[n] > 0) return c->t_verify[n];
    double sx = 0, sy = 0, sxx = 0, sxy = 0, min = 0;
    int count = 0, only = 0;
    for (int i = 1; i <= SD_MAX_DRAFT + 1; i++) {
        if (c->t_verify[i] <= 0) continue;
        sx += i, sy += c->t_verify[i], sxx += (double)i * i, sxy += i * c->t_verify[i];
        if (count == 0 || c->t_verify[i] < min) min = c->t_verify[i];
        count++, only = i;
    }
    if (count == 0) return 0.0;
    if (count == 1) return c->t_verify[only] * (1.0 + 0.1 * (n - 1)) / (1.0 + 0.1 * (only - 1));
    double slope = (count * sxy - sx * sy) / (count * sxx - sx * sx);
    double icpt = (sy - slope * sx) / count;
    double t = icpt + slope * n;
    /* Never below half the cheapest measured pass, nor negative: noise can tilt the line. */
    double floor = 0.5 * min;
    return t > floor ? t : floor;
}

double sd_controller_expected_tps(const sd_controller *c, int32_t k) {
    double e = sd_controller_expected_tokens(c, k);
    double t = k * c->t_draft + sd_controller_verify_cost(c, k + 1);
    return t > 0 ? e / t : 0.0;
}

int32_t sd_controller_choose(sd_controller *c) {
    if (c->k_min == c->k_max) return c->k_min;
    if (!costs_known(c)) return SD_MAX(c->k_min, SD_MIN(4, c->k_max));
    int32_t best = c->k_min;
    double best_tps = -1.0;
    for (int32_t k = c->k_min; k <= c->k_max; k++) {
        double tps = sd_controller_expected_tps(c, k);
        if (tps > best_tps * (1.0 + 1e-9)) {
            best_tps = tps;
            best = k;
        }
    }
    /* Explore one position past the choice now and then: the acceptance there is only measured when it
     * is drafted, and text that turns easy again would go unnoticed. At k = 0, once in 16 rounds; else
     * once in 8. */
    int every = best == 0 ? 16 : 8;
    if (++c->rounds_since_explore >= every && best < c->k_max) {
        c->rounds_since_explore = 0;
        return best + 1;
    }
    return best;
}

static void blend(double *avg, double sample) {
    *avg = *avg > 0 ? COST_DECAY * *avg + (1.0 - COST_DECAY) * sample : sample;
}

void sd_controller_update(sd_controller *c, int32_t k, int32_t n_accepted, double t_draft_s, double t_verify_s) {
    if (k > 0) {
        /* Drafts are tested in order until the first rejection: positions 0..n_accepted - 1 were
         * accepted, position n_accepted (if drafted) rejected, later ones not tested. */
        int32_t tested = n_accepted < k ? n_accepted + 1 : k;
        for (int32_t p = 0; p < tested && p < SD_MAX_DRAFT; p++) {
            c->acc_hits[p] = ACCEPT_DECAY * c->acc_hits[p] + (p < n_accepted ? 1.0 : 0.0);
            c->acc_trials[p] = ACCEPT_DECAY * c->acc_trials[p] + 1.0;
        }
        if (t_draft_s > 0) blend(&c->t_draft, t_draft_s / k);
    }
    int32_t n = k + 1;
    if (t_verify_s > 0 && n <= SD_MAX_DRAFT + 1) blend(&c->t_verify[n], t_verify_s);
}
