/* The adaptive draft-length controller picks the k the cost model says is fastest: long drafts when the
 * draft is almost always right and drafting is cheap, k = 1 when acceptance falls off after the first
 * position and a batch of two costs 30% more, no draft when nothing is accepted (with a periodic probe),
 * and it follows a change of text. */
#include "spec/controller.h"
#include "test_util.h"

/* A fixed pseudo-random stream in [0, 1): the test is deterministic. */
static double uniform(void) {
    static uint64_t s = 0x9e3779b97f4a7c15ull;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return (double)(s >> 11) / 9007199254740992.0;
}

/* Feeds rounds in which the draft at position i is accepted with probability accept[i] and the costs
 * follow the given model. */
static void feed(sd_controller *c, const double *accept, int rounds, double t_d, double slope) {
    for (int r = 0; r < rounds; r++) {
        int k = sd_controller_choose(c);
        int m = 0;
        while (m < k && uniform() < accept[m]) m++;
        double tv = 1e-2 * (1.0 + slope * k);
        sd_controller_update(c, k, m, k * t_d, tv);
    }
}

/* The k that maximises E(k)/T(k) for the true per-position acceptance. */
static int best_k(const double *accept, int k_max, double t_d, double slope) {
    int best = 0;
    double best_tps = 0;
    for (int k = 0; k <= k_max; k++) {
        double e = 1, run = 1;
        for (int i = 0; i < k; i++) e += (run *= accept[i]);
        double tps = e / (k * t_d + 1e-2 * (1.0 + slope * k));
        if (tps > best_tps) best_tps = tps, best = k;
    }
    return best;
}

int main(void) {
    sd_controller c;
    double easy[SD_MAX_DRAFT], hard[SD_MAX_DRAFT] = {0.7, 0.37, 0.27, 0.21, 0.1}, none[SD_MAX_DRAFT] = {0};
    for (int i = 0; i < SD_MAX_DRAFT; i++) easy[i] = 0.97;

    sd_controller_init(&c, 0, 16);
    CHECK(sd_controller_choose(&c) == 4, "before any measurement it proposes 4");
    feed(&c, easy, 300, 2e-4, 0.3);
    int want = best_k(easy, 16, 2e-4, 0.3), got = sd_controller_choose(&c);
    CHECK(got >= want - 1 && got <= want + 1 && got >= 3, "easy text: chose k %d, best %d", got, want);

    /* The text turns hard: the controller follows within a few dozen rounds. */
    feed(&c, hard, 200, 2e-4, 0.3);
    want = best_k(hard, 16, 2e-4, 0.3);
    int ones = 0;
    for (int r = 0; r < 8; r++) { /* one round in 8 explores k + 1 */
        got = sd_controller_choose(&c);
        ones += got == 1;
        sd_controller_update(&c, got, 0, got * 2e-4, 1e-2 * (1.0 + 0.3 * got));
    }
    CHECK(want == 1 && ones >= 6, "hard text: k 1 (the best) in %d of 8 rounds", ones);
    CHECK(sd_controller_acceptance(&c, 0) > 0.5 && sd_controller_acceptance(&c, 1) < 0.5,
          "per-position acceptance %.2f %.2f", sd_controller_acceptance(&c, 0), sd_controller_acceptance(&c, 1));

    /* Nothing is ever accepted: no drafting, except one probe every 16 rounds. */
    feed(&c, none, 300, 2e-4, 0.3);
    int zeros = 0, probes = 0;
    for (int r = 0; r < 64; r++) {
        int k = sd_controller_choose(&c);
        zeros += k == 0;
        probes += k == 1;
        sd_controller_update(&c, k, 0, k * 2e-4, 1e-2 * (1.0 + 0.3 * k));
    }
    CHECK(zeros >= 56 && probes >= 3, "no acceptance: %d rounds without a draft, %d probes", zeros, probes);

    /* Bounds hold; a fixed k never adapts. */
    sd_controller_init(&c, 2, 3);
    feed(&c, none, 50, 2e-4, 0.3);
    got = sd_controller_choose(&c);
    CHECK(got == 2, "bounds [2, 3]: chose %d", got);
    sd_controller_init(&c, 5, 5);
    feed(&c, easy, 50, 2e-4, 0.1);
    CHECK(sd_controller_choose(&c) == 5, "fixed k");

    /* The verify cost is interpolated between and extrapolated beyond measured batch sizes. */
    sd_controller_init(&c, 0, 8);
    CHECK(sd_controller_verify_cost(&c, 1) == 0.0, "nothing measured");
    sd_controller_update(&c, 0, 0, 0, 1.0);
    sd_controller_update(&c, 4, 0, 0.1, 2.0);
    double v3 = sd_controller_verify_cost(&c, 3), v9 = sd_controller_verify_cost(&c, 9);
    CHECK(v3 > 1.0 && v3 < 2.0, "t_v(3) %.3f between t_v(1) and t_v(5)", v3);
    CHECK(v9 > 2.0, "t_v(9) %.3f above t_v(5)", v9);
    return test_finish("test_controller");
}
