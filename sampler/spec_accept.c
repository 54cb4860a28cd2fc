/* Speculative acceptance rule: see spec_accept.h. */
#include "sampler/spec_accept.h"

#include "common/sd_common.h"

#include <math.h>
#include <stddef.h>

/* Argmax of a distribution row [n], lowest id on ties; -1 if no entry is > 0. */
static int32_t argmax_probs(const float *p, int32_t n) {
    int32_t best = -1;
    float best_p = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        if (p[i] > best_p) {
            best_p = p[i];
            best = i;
        }
    }
    return best;
}

/* The residual max(0, p - q) at token i; NaN and negatives count as 0. */
static double residual_at(const float *p, const float *q, int32_t i) {
    double r = (double)p[i] - (double)q[i];
    return r > 0.0 ? r : 0.0;
}

/* Draws from norm(max(0, p - q)) over [n] without materializing it (two passes: sum, then walk), or from
 * p when the residual sums to 0. Returns the token or a negative status. */
static int32_t draw_residual(sd_sampler *s, const float *p, const float *q, int32_t n) {
    double sum = 0.0;
    int32_t last = -1;
    for (int32_t i = 0; i < n; i++) {
        double r = residual_at(p, q, i);
        if (r > 0.0) {
            sum += r;
            last = i;
        }
    }
    if (last < 0) return sd_sampler_sample_probs(s, p);
    const double target = sd_sampler_uniform(s) * sum;
    double cum = 0.0;
    for (int32_t i = 0; i < last; i++) {
        double r = residual_at(p, q, i);
        if (r <= 0.0) continue;
        cum += r;
        if (target < cum) return i;
    }
    return last;
}

static int spec_accept_greedy(int32_t k, const int32_t *draft, const float *p, int32_t n_vocab,
                              sd_spec_result *out) {
    for (int32_t i = 0; i <= k; i++) {
        int32_t best = argmax_probs(p + (size_t)i * (size_t)n_vocab, n_vocab);
        if (best < 0) return SD_STATUS_INVALID_ARGUMENT;
        if (i == k || draft[i] != best) {
            out->n_accepted = i;
            out->next_token = best;
            return SD_STATUS_OK;
        }
    }
    return SD_STATUS_INTERNAL; /* unreachable: the loop returns at i == k */
}

static int spec_accept_sampling(sd_sampler *s, int32_t k, const int32_t *draft, const float *q,
                                const float *p, int32_t n_vocab, sd_spec_result *out) {
    for (int32_t i = 0; i < k; i++) {
        const float *pi = p + (size_t)i * (size_t)n_vocab;
        const float *qi = q + (size_t)i * (size_t)n_vocab;
        const int32_t x = draft[i];
        const float px = pi[x] > 0.0f ? pi[x] : 0.0f;
        const float qx = qi[x];
        /* u < p/q, written as u * q < p to avoid the division; accept outright when p >= q. */
        if (px >= qx || sd_sampler_uniform(s) * (double)qx < (double)px) continue;

        int32_t next = draw_residual(s, pi, qi, n_vocab);
        if (next < 0) return next;
        out->n_accepted = i;
        out->next_token = next;
        return SD_STATUS_OK;
    }
    int32_t bonus = sd_sampler_sample_probs(s, p + (size_t)k * (size_t)n_vocab);
    if (bonus < 0) return bonus;
    out->n_accepted = k;
    out->next_token = bonus;
    return SD_STATUS_OK;
}

int sd_spec_accept(sd_sampler *s, int32_t k, const int32_t *draft, const float *q, const float *p,
                   sd_spec_result *out) {
    const int32_t n_vocab = sd_sampler_n_vocab(s);
    const int greedy = sd_sampler_is_greedy(s);
    if (k < 0 || !p || !out || (k > 0 && !draft) || (k > 0 && !greedy && !q))
        return SD_STATUS_INVALID_ARGUMENT;
    for (int32_t i = 0; i < k; i++) {
        if (draft[i] < 0 || draft[i] >= n_vocab) return SD_STATUS_INVALID_ARGUMENT;
        /* A token drawn from q_i has q_i(x_i) > 0; anything else means the draft did not sample. */
        if (!greedy && !(q[(size_t)i * (size_t)n_vocab + (size_t)draft[i]] > 0.0f))
            return SD_STATUS_INVALID_ARGUMENT;
    }
    if (greedy) return spec_accept_greedy(k, draft, p, n_vocab, out);
    return spec_accept_sampling(s, k, draft, q, p, n_vocab, out);
}
