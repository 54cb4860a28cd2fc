#include "controller.h"

#include <math.h>
#include <stdbool.h>

#include "common/sd_common.h"

/* Weight of the past in the running averages: about the last 10 rounds (acceptance) / samples (costs)
 * dominate, so the controller follows the text as it changes from easy to hard. */
#define DECAY 0.9

void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max) {
    *c = (sd_controller){0};
    c->k_min = SD_MAX(0, SD_MIN(k_min, SD_MAX_DRAFT));
    c->k_max = SD_MAX(c->k_min, SD_MIN(k_max, SD_MAX_DRAFT));
    c->acc_hits = 0.6 * 5;
    c->acc_trials = 5;
}

static bool costs_known(const sd_controller *c) {
    if (c->t_draft <= 0) return false;
    for (int n = 1; n <= SD_MAX_DRAFT + 1; n++)
        if (c->t_verify[n] > 0) return true;
    return false;
}

double sd_controller_acceptance(const sd_controller *c) {
    return c->acc_trials > 0 ? c->acc_hits / c->acc_trials : 0.0;
}

/* t_v(n): measured where available; otherwise a line through the nearest measured points below and
 * above n (or the slope of the two highest measured points, or the prior 10% per extra token). */
double sd_controller_verify_cost(const sd_controller *c, int32_t n) {
    if (n < 1) n = 1;
    if (n > SD_MAX_DRAFT + 1) n = SD_MAX_DRAFT + 1;
    if (c->t_verify[n] > 0) return c->t_verify[n];
    int lo = 0, hi = 0;
    for (int i = n - 1; i >= 1 && !lo; i--)
        if (c->t_verify[i] > 0) lo = i;
    for (int i = n + 1; i <= SD_MAX_DRAFT + 1 && !hi; i++)
        if (c->t_verify[i] > 0) hi = i;
    if (lo && hi) return c->t_verify[lo] + (c->t_verify[hi] - c->t_verify[lo]) * (n - lo) / (hi - lo);
    if (hi) return c->t_verify[hi] * (1.0 + 0.1 * (n - 1)) / (1.0 + 0.1 * (hi - 1));
    /* Extrapolate upwards from the highest measured point with the slope of the two highest, never
     * flatter than 2% per token (a verify pass is never free) nor steeper than linear. */
    int lo2 = 0;
    for (int i = lo - 1; i >= 1 && !lo2; i--)
        if (c->t_verify[i] > 0) lo2 = i;
    double base = c->t_verify[lo];
    double slope = lo2 ? (base - c->t_verify[lo2]) / (lo - lo2) : 0.1 * base / (1.0 + 0.1 * (lo - 1));
    double per_token = base / lo;
    slope = SD_MAX(slope, 0.02 * base / lo);
    slope = SD_MIN(slope, per_token);
    return base + slope * (n - lo);
}

double sd_controller_expected_tps(const sd_controller *c, int32_t k) {
    double a = sd_controller_acceptance(c);
    double e = a >= 1.0 ? k + 1.0 : (1.0 - pow(a, k + 1)) / (1.0 - a);
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
    if (best == 0 && c->k_max > 0) {
        if (++c->rounds_at_zero >= 16) {
            c->rounds_at_zero = 0;
            return 1;
        }
    } else {
        c->rounds_at_zero = 0;
    }
    return best;
}

static void blend(double *avg, double sample) {
    *avg = *avg > 0 ? DECAY * *avg + (1.0 - DECAY) * sample : sample;
}

void sd_controller_update(sd_controller *c, int32_t k, int32_t n_accepted, double t_draft_s, double t_verify_s) {
    if (k > 0) {
        /* Drafts are tested in order until the first rejection: n_accepted successes out of
         * n_accepted + 1 trials, or k out of k when all were accepted. */
        int32_t trials = n_accepted < k ? n_accepted + 1 : k;
        c->acc_hits = DECAY * c->acc_hits + n_accepted;
        c->acc_trials = DECAY * c->acc_trials + trials;
        if (t_draft_s > 0) blend(&c->t_draft, t_draft_s / k);
    }
    int32_t n = k + 1;
    if (t_verify_s > 0 && n <= SD_MAX_DRAFT + 1) blend(&c->t_verify[n], t_verify_s);
}
