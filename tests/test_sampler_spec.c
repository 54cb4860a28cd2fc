/* Tests of sampler/spec_accept.h, the speculative acceptance rule.
 *
 * The main test simulates many draft-k-then-verify rounds on an 8-token vocabulary whose target (p_j)
 * and draft (q_j) distributions depend on the position j in the round but not on earlier tokens. The
 * rule is exact iff the token emitted at position j (when a round gets that far) is distributed as p_j;
 * a chi-square test per position checks this for k = 1..4, and the same test must reject a broken
 * draft that proposes its argmax instead of sampling q. A deterministic draft (an n-gram proposal) is
 * verified with q = one-hot at its token, and is exact too: accepted with probability p(x), the residual
 * p without x. Prints each failure and exits non-zero. */
#include "sampler/spec_accept.h"

#include "common/sd_common.h"

#include "tests/test_stats.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V = 8, KMAX = 4, ROUNDS = 100000 };

/* Significance level of every chi-square test here. The seeds are fixed, so each run gives the same
 * verdict; the level only says how unlucky a correct rule would have to be to fail. */
static const double ALPHA = 1e-5;

static sd_sampler *make(float temp, uint64_t seed) {
    sd_sampler_params p = sd_sampler_default_params();
    p.temp = temp;
    p.seed = seed;
    sd_sampler *s = NULL;
    char err[256] = "";
    if (sd_sampler_create(&p, V, &s, err, sizeof(err)) != 0) {
        printf("FAIL make: %s\n", err);
        exit(1);
    }
    return s;
}

static uint64_t lcg(uint64_t *x) {
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return *x >> 33;
}

/* Random position-dependent distributions p[j], q[j] for j = 0..KMAX. Each has a zero somewhere the
 * other does not: p_j(j % V) = 0 (the draft may propose a token the target never emits) and
 * q_j((j + 3) % V) = 0 (a token only the residual can produce). */
static void make_dists(uint64_t seed, float p[KMAX + 1][V], float q[KMAX + 1][V]) {
    uint64_t x = seed;
    for (int j = 0; j <= KMAX; j++) {
        double sp = 0, sq = 0, wp[V], wq[V];
        for (int t = 0; t < V; t++) {
            wp[t] = 0.05 + (double)(lcg(&x) % 1000) / 1000.0;
            wq[t] = 0.05 + (double)(lcg(&x) % 1000) / 1000.0;
        }
        wp[j % V] = 0;
        wq[(j + 3) % V] = 0;
        for (int t = 0; t < V; t++) {
            sp += wp[t];
            sq += wq[t];
        }
        for (int t = 0; t < V; t++) {
            p[j][t] = (float)(wp[t] / sp);
            q[j][t] = (float)(wq[t] / sq);
        }
    }
}

static int32_t argmax(const float *row) {
    int32_t best = 0;
    for (int32_t t = 1; t < V; t++)
        if (row[t] > row[best]) best = t;
    return best;
}

static void one_hot(float *row, int32_t t) {
    for (int i = 0; i < V; i++)
        row[i] = 0.0f;
    row[t] = 1.0f;
}

typedef struct {
    int64_t emitted[KMAX + 1][V]; /* [position in round][token] */
    int64_t reached[KMAX];        /* rounds that verified draft j */
    int64_t accepted[KMAX];       /* ... and accepted it */
} round_stats;

/* How the simulated draft proposes: sampling q (correct), its argmax verified as if sampled (broken), or
 * a fixed token per position verified with q one-hot at it (a deterministic draft: correct). */
typedef enum { DRAFT_SAMPLED, DRAFT_ARGMAX, DRAFT_FIXED } draft_mode;

/* The fixed draft's token at position j: offset 1 gives tokens the target may emit, offset 0 at k = 1 one
 * it never emits (p_j(j % V) = 0, see make_dists). */
static int32_t fixed_token(int j, int offset) {
    return (j + offset) % V;
}

/* Simulates ROUNDS rounds of k drafts proposed as mode says. For DRAFT_FIXED, q is replaced by one-hot
 * rows at fixed_token(j, offset). */
static void simulate(int k, draft_mode mode, int offset, uint64_t seed, float p[KMAX + 1][V],
                     float q[KMAX + 1][V], round_stats *st) {
    memset(st, 0, sizeof(*st));
    sd_sampler *target = make(1.0f, seed);
    sd_sampler *draft = make(1.0f, seed ^ 0x5bd1e995u);
    int32_t x[KMAX];
    if (mode == DRAFT_FIXED)
        for (int j = 0; j < KMAX; j++)
            one_hot(q[j], fixed_token(j, offset));
    for (int r = 0; r < ROUNDS; r++) {
        for (int j = 0; j < k; j++)
            x[j] = mode == DRAFT_ARGMAX  ? argmax(q[j])
                   : mode == DRAFT_FIXED ? argmax(q[j]) /* the one-hot row's token */
                                         : sd_sampler_sample_probs(draft, q[j]);
        sd_spec_result res;
        int status = sd_spec_accept(target, k, x, &q[0][0], &p[0][0], &res);
        if (status != 0 || res.n_accepted < 0 || res.n_accepted > k || res.next_token < 0 ||
            res.next_token >= V) {
            CHECK(0, "k %d round %d: status %d n_accepted %d next %d", k, r, status, res.n_accepted,
                  res.next_token);
            break;
        }
        for (int j = 0; j < res.n_accepted; j++) {
            st->emitted[j][x[j]]++;
            st->reached[j]++;
            st->accepted[j]++;
        }
        if (res.n_accepted < k) st->reached[res.n_accepted]++;
        st->emitted[res.n_accepted][res.next_token]++;
    }
    sd_sampler_free(target);
    sd_sampler_free(draft);
}

static void test_sampling_rule_is_exact(void) {
    float p[KMAX + 1][V], q[KMAX + 1][V];
    make_dists(777, p, q);
    static round_stats st;
    for (int k = 1; k <= KMAX; k++) {
        simulate(k, DRAFT_SAMPLED, 0, 1000 + (uint64_t)k, p, q, &st);
        for (int j = 0; j <= k; j++) {
            stats_chi2 fit = stats_chi2_test(st.emitted[j], p[j], V, 0.0);
            double stat = fit.stat, pv = fit.p_value;
            printf("k %d position %d: chi2 %7.2f p-value %.4f\n", k, j, stat, pv);
            CHECK(pv > ALPHA, "k %d position %d: emitted tokens are not distributed as p: chi2 %g p %g", k, j,
                  stat, pv);
        }
        /* Acceptance rate at position j is sum_x min(p_j(x), q_j(x)) = 1 - TV(p_j, q_j). */
        for (int j = 0; j < k; j++) {
            double a = 0;
            for (int t = 0; t < V; t++)
                a += fmin(p[j][t], q[j][t]);
            double n = (double)st.reached[j], got = (double)st.accepted[j] / n;
            double sigma = sqrt(a * (1 - a) / n);
            CHECK(fabs(got - a) < 5 * sigma, "k %d position %d: acceptance %.4f, theory %.4f (sigma %.4f)", k,
                  j, got, a, sigma);
        }
    }
}

/* A deterministic draft: tokens x_j fixed in advance, q_j = one-hot(x_j). Emitted tokens follow p_j, and
 * x_j is accepted with probability p_j(x_j) (never where that is 0). */
static void test_deterministic_draft_is_exact(void) {
    float p[KMAX + 1][V], q[KMAX + 1][V];
    make_dists(777, p, q);
    static round_stats st;
    for (int k = 0; k <= KMAX; k++) {
        /* k 0 stands for k 1 with the token the target never emits */
        const int offset = k == 0 ? 0 : 1, kk = k == 0 ? 1 : k;
        int32_t x[KMAX];
        for (int j = 0; j < KMAX; j++)
            x[j] = fixed_token(j, offset);
        simulate(kk, DRAFT_FIXED, offset, 3000 + (uint64_t)k, p, q, &st);
        for (int j = 0; j <= kk && j <= k; j++) {
            stats_chi2 fit = stats_chi2_test(st.emitted[j], p[j], V, 0.0);
            printf("k %d deterministic draft, position %d: chi2 %7.2f p-value %.4f\n", k, j, fit.stat,
                   fit.p_value);
            CHECK(fit.p_value > ALPHA, "k %d position %d: deterministic draft: chi2 %g p %g", k, j, fit.stat,
                  fit.p_value);
        }
        for (int j = 0; j < kk; j++) {
            const double a = p[j][x[j]], n = (double)st.reached[j], got = (double)st.accepted[j] / n;
            const double sigma = sqrt(a * (1 - a) / n);
            CHECK(a > 0 ? fabs(got - a) < 5 * sigma + 1e-12 : st.accepted[j] == 0,
                  "k %d position %d: deterministic acceptance %.4f, p(x) %.4f", k, j, got, a);
        }
    }
}

static void test_argmax_draft_is_caught(void) {
    float p[KMAX + 1][V], q[KMAX + 1][V];
    make_dists(777, p, q);
    static round_stats st;
    for (int k = 1; k <= KMAX; k++) {
        simulate(k, DRAFT_ARGMAX, 0, 2000 + (uint64_t)k, p, q, &st);
        double min_pv = 1.0;
        for (int j = 0; j <= k; j++) {
            double pv = stats_chi2_test(st.emitted[j], p[j], V, 0.0).p_value;
            min_pv = fmin(min_pv, pv);
        }
        printf("k %d argmax draft: smallest p-value %.3g\n", k, min_pv);
        CHECK(min_pv < ALPHA, "k %d: the argmax draft passed the exactness test (p %g)", k, min_pv);
    }
}

static void test_greedy(void) {
    sd_sampler *g = make(0.0f, 5);
    /* Target argmaxes per position come from sd_sampler_probs in greedy mode. */
    const float logits[KMAX + 1][V] = {
        {0, 5, 1, 0, 0, 0, 0, 0}, {0, 0, 0, 7, 7, 0, 0, 0}, /* tie: 3 wins */
        {9, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 2, 0}, {0, 0, 0, 0, 0, 0, 0, 3},
    };
    float p[KMAX + 1][V];
    for (int j = 0; j <= KMAX; j++)
        CHECK(sd_sampler_probs(g, logits[j], p[j]) == 0, "probs");

    sd_sampler *fresh = make(0.0f, 5);
    const double before = sd_sampler_uniform(fresh); /* first draw of a fresh sampler */
    sd_sampler_free(fresh);
    sd_spec_result res;
    const int32_t all_ok[KMAX] = {1, 3, 0, 6};
    CHECK(sd_spec_accept(g, 4, all_ok, NULL, &p[0][0], &res) == 0, "status");
    CHECK(res.n_accepted == 4 && res.next_token == 7, "all accepted: got %d, %d", res.n_accepted,
          res.next_token);
    const int32_t third_bad[KMAX] = {1, 3, 2, 6};
    CHECK(sd_spec_accept(g, 4, third_bad, NULL, &p[0][0], &res) == 0, "status");
    CHECK(res.n_accepted == 2 && res.next_token == 0, "third wrong: got %d, %d", res.n_accepted,
          res.next_token);
    const int32_t tie_loser[KMAX] = {1, 4, 0, 6};
    CHECK(sd_spec_accept(g, 4, tie_loser, NULL, &p[0][0], &res) == 0, "status");
    CHECK(res.n_accepted == 1 && res.next_token == 3, "tie: got %d, %d", res.n_accepted, res.next_token);
    CHECK(sd_spec_accept(g, 0, NULL, NULL, &p[0][0], &res) == 0, "status");
    CHECK(res.n_accepted == 0 && res.next_token == 1, "k 0: got %d, %d", res.n_accepted, res.next_token);
    /* Greedy verification never draws from the PRNG. */
    CHECK(sd_sampler_uniform(g) == before, "greedy verification used the PRNG");
    sd_sampler_free(g);
}

static void test_edge_cases(void) {
    sd_sampler *s = make(1.0f, 11);
    float p[2][V], q[1][V];
    one_hot(q[0], 2);
    one_hot(p[1], 5);
    sd_spec_result res;

    /* p == q: always accepted. */
    one_hot(p[0], 2);
    const int32_t x2[1] = {2};
    for (int i = 0; i < 100; i++) {
        CHECK(sd_spec_accept(s, 1, x2, &q[0][0], &p[0][0], &res) == 0, "status");
        CHECK(res.n_accepted == 1 && res.next_token == 5, "p == q: got %d, %d", res.n_accepted,
              res.next_token);
    }
    /* p disjoint from q: always rejected, next from p. */
    one_hot(p[0], 6);
    for (int i = 0; i < 100; i++) {
        CHECK(sd_spec_accept(s, 1, x2, &q[0][0], &p[0][0], &res) == 0, "status");
        CHECK(res.n_accepted == 0 && res.next_token == 6, "disjoint: got %d, %d", res.n_accepted,
              res.next_token);
    }
    /* Residual all zero (p <= q everywhere, p not normalized): rejection draws from p itself. */
    for (int t = 0; t < V; t++)
        q[0][t] = t < 4 ? 0.25f : 0.0f;
    for (int t = 0; t < V; t++)
        p[0][t] = t < 2 ? 0.125f : 0.0f;
    const int32_t x3[1] = {3};
    int rejected = 0;
    for (int i = 0; i < 200; i++) {
        CHECK(sd_spec_accept(s, 1, x3, &q[0][0], &p[0][0], &res) == 0, "status");
        CHECK(res.n_accepted == 0 && (res.next_token == 0 || res.next_token == 1),
              "zero residual: got %d, %d", res.n_accepted, res.next_token);
        rejected += res.n_accepted == 0;
    }
    CHECK(rejected == 200, "p(x) = 0 accepted");

    /* Bad input. */
    const int32_t bad_id[1] = {V};
    CHECK(sd_spec_accept(s, 1, bad_id, &q[0][0], &p[0][0], &res) == SD_STATUS_INVALID_ARGUMENT,
          "id out of range");
    const int32_t not_from_q[1] = {6}; /* q[0][6] == 0 */
    CHECK(sd_spec_accept(s, 1, not_from_q, &q[0][0], &p[0][0], &res) == SD_STATUS_INVALID_ARGUMENT,
          "q(x) = 0 accepted");
    CHECK(sd_spec_accept(s, -1, x2, &q[0][0], &p[0][0], &res) == SD_STATUS_INVALID_ARGUMENT, "k < 0");
    CHECK(sd_spec_accept(s, 1, x2, NULL, &p[0][0], &res) == SD_STATUS_INVALID_ARGUMENT,
          "NULL q when sampling");
    float zero[2][V] = {{0}};
    one_hot(q[0], 2);
    CHECK(sd_spec_accept(s, 1, x2, &q[0][0], &zero[0][0], &res) == SD_STATUS_INVALID_ARGUMENT, "zero p");
    sd_sampler_free(s);
}

int main(void) {
    stats_self_test();
    test_greedy();
    test_edge_cases();
    test_sampling_rule_is_exact();
    test_deterministic_draft_is_exact();
    test_argmax_draft_is_caught();
    return test_finish("spec_accept");
}
