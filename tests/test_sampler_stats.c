/* Chi-square goodness-of-fit helpers shared by the sampler tests. #included by test_sampler.c and
 * test_sampler_spec.c (not compiled on its own), hence everything is static. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

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

/* P-value of Pearson's chi-square test that counts[0..n) (total N) were drawn from probs[0..n).
 * Cells with probs == 0 must be empty: any count there gives p-value 0. Cells with probs > 0 form the
 * test with df = (number of such cells) - 1. *stat_out (if not NULL) receives the statistic. */
static double stats_chi2_pvalue(const int64_t *counts, const float *probs, int n, double *stat_out) {
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += counts[i];
    double stat = 0.0;
    int cells = 0;
    for (int i = 0; i < n; i++) {
        if (!(probs[i] > 0.0f)) {
            if (counts[i] != 0) {
                if (stat_out) *stat_out = INFINITY;
                return 0.0;
            }
            continue;
        }
        double expected = (double)total * probs[i];
        double diff = (double)counts[i] - expected;
        stat += diff * diff / expected;
        cells++;
    }
    if (stat_out) *stat_out = stat;
    if (cells < 2) return 1.0;
    return stats_gamma_q(0.5 * (cells - 1), 0.5 * stat);
}

/* Sanity check of the p-value function against textbook chi-square quantiles; returns failures. */
static int stats_self_test(void) {
    static const struct {
        double df, x, p;
    } known[] = {
        {1, 3.841458820694124, 0.05}, {7, 14.067140449340169, 0.05},  {15, 30.577914166892498, 0.01},
        {3, 0.351846317749272, 0.95}, {4, 18.466826952903151, 0.001}, {10, 29.588298445074, 0.001},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        double p = stats_gamma_q(0.5 * known[i].df, 0.5 * known[i].x);
        if (fabs(p - known[i].p) > 1e-6 * known[i].p) {
            printf("FAIL stats: chi2 p-value(df=%g, x=%g) = %.9g, want %g\n", known[i].df, known[i].x, p,
                   known[i].p);
            failures++;
        }
    }
    return failures;
}
