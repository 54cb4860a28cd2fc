/* Pearson's chi-square goodness-of-fit test, for the tests that check a sampler draws from the
 * distribution it should (test_sampler.c, test_sampler_spec.c, test_spec.c). Header-only (static). */
#ifndef SD_TEST_STATS_H
#define SD_TEST_STATS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "specdec.h"
#include "tests/test_util.h"

/* Regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a): the series for P when x < a + 1,
 * else the Lentz continued fraction for Q (the standard split, accurate to ~1e-12 here). */
static double stats_gamma_q(double a, double x) {
    if (x <= 0.0) return 1.0;
    const double log_prefactor = -x + a * log(x) - lgamma(a);
    if (x < a + 1.0) {
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 10000; n++) {
            term *= x / (a + n);
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(log_prefactor);
    }
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-15) break;
    }
    return exp(log_prefactor) * h;
}

typedef struct stats_chi2 {
    double stat;    /* Pearson's statistic */
    int dof;        /* degrees of freedom: cells - 1 */
    double p_value; /* P(chi-square(dof) >= stat) */
} stats_chi2;

/* Tests whether counts[0..n) were drawn from probs[0..n). Cells of probability 0 must be empty: a count
 * there gives stat = INFINITY and p-value 0. Cells expected to hold fewer than pool_below draws are
 * merged into one cell, so that a large vocabulary with many rare tokens can be tested (0: no merging).
 * With fewer than two cells the p-value is 1. */
static stats_chi2 stats_chi2_test(const int64_t *counts, const float *probs, int n, double pool_below) {
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += counts[i];
    stats_chi2 r = {0.0, 0, 1.0};
    double pooled_obs = 0.0, pooled_exp = 0.0;
    int cells = 0;
    for (int i = 0; i < n; i++) {
        if (!(probs[i] > 0.0f)) {
            if (counts[i] != 0) return (stats_chi2){INFINITY, 0, 0.0};
            continue;
        }
        double expected = (double)total * probs[i];
        if (expected < pool_below) {
            pooled_obs += (double)counts[i];
            pooled_exp += expected;
            continue;
        }
        double diff = (double)counts[i] - expected;
        r.stat += diff * diff / expected;
        cells++;
    }
    if (pooled_exp > 0.0) { /* the merged cell; at least 1 expected, so a near-empty pool cannot dominate */
        double diff = pooled_obs - pooled_exp;
        r.stat += diff * diff / fmax(pooled_exp, 1.0);
        cells++;
    }
    r.dof = cells - 1;
    if (cells >= 2) r.p_value = stats_gamma_q(0.5 * r.dof, 0.5 * r.stat);
    return r;
}

/* Checks the p-value function against textbook chi-square quantiles. */
__attribute__((unused)) static void stats_self_test(void) {
    static const struct {
        double df, x, p;
    } known[] = {
        {1, 3.841458820694124, 0.05}, {7, 14.067140449340169, 0.05},  {15, 30.577914166892498, 0.01},
        {3, 0.351846317749272, 0.95}, {4, 18.466826952903151, 0.001}, {10, 29.588298445074, 0.001},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        double p = stats_gamma_q(0.5 * known[i].df, 0.5 * known[i].x);
        CHECK(fabs(p - known[i].p) <= 1e-6 * known[i].p, "chi2 p-value(df=%g, x=%g) = %.9g, want %g",
              known[i].df, known[i].x, p, known[i].p);
    }
}

/* The first generated token after prompt[0..np) over `runs` runs of one engine, its random stream
 * restarted from seed0 + r for run r (sd_engine_set_sampling with *sampling's other settings), counted in
 * counts[n_vocab]; *total sums each run's stats' drafted, accepted and n-gram-drafted tokens. With a fixed
 * draft length, whatever the engine kept from earlier runs, each first token is drawn from the target's
 * distribution, so the draws are independent samples of it. Returns false (after a CHECK) on an error. */
static inline bool stats_first_tokens(sd_engine *e, sd_sampling_params sampling, const int32_t *prompt,
                                      int32_t np, int runs, uint64_t seed0, int64_t *counts,
                                      sd_stats *total) {
    char err[512];
    for (int r = 0; r < runs; r++) {
        sampling.seed = seed0 + (uint64_t)r;
        int32_t out[2];
        sd_stats st;
        if (sd_engine_set_sampling(e, &sampling, err, sizeof err) != 0 ||
            sd_engine_generate(e, prompt, np, 2, NULL, NULL, out, 2, &st, err, sizeof err) != 0) {
            CHECK(0, "run %d: %s", r, err);
            return false;
        }
        counts[out[0]]++;
        total->n_drafted += st.n_drafted;
        total->n_accepted += st.n_accepted;
        total->n_drafted_ngram += st.n_drafted_ngram;
    }
    return true;
}

#endif
