/* Token sampler: see sampler.h for the transform and its llama.cpp semantics. */
#include "sampler/sampler.h"

#include "common/sd_common.h"
#include "common/sd_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One surviving candidate: its (penalized) logit and its id. */
typedef struct {
    float logit;
    int32_t id;
} cand;

struct sd_sampler {
    sd_sampler_params params;
    int32_t n_vocab;
    int greedy;  /* temp <= 0 */
    int penalty; /* the repetition penalty is on (penalty != 1 and window != 0) */

    sd_rng rng;

    /* Scratch, [n_vocab] each, allocated at create. */
    float *logits;   /* penalized copy of the input row */
    cand *cands;     /* the candidates still in the running (build_candidates) */
    float *probs;    /* survivors' probabilities in cands order (final softmax scratch) */
    uint8_t *seen;   /* per-token flag while applying the penalty; all 0 between calls */
    int32_t *banned; /* [params.n_banned]: the tokens whose logits are set to -inf */

    /* History: absolute positions [hist_base, hist_len) are held in hist[0 .. hist_len - hist_base).
     * Only stored while the penalty is on; hist_len counts every accepted token regardless. */
    int32_t *hist;
    int32_t hist_cap;  /* tokens hist can hold */
    int32_t hist_keep; /* fixed window: tokens kept on compaction (window + MAX_ROLLBACK); 0 = grow */
    int32_t hist_base;
    int32_t hist_len;
};

double sd_sampler_uniform(sd_sampler *s) {
    return (double)(sd_rng_next(&s->rng) >> 11) * 0x1.0p-53;
}

/* ---- parameters */

sd_sampler_params sd_sampler_default_params(void) {
    sd_sampler_params p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .seed = SD_SAMPLER_DEFAULT_SEED,
    };
    return p;
}

static int validate_params(const sd_sampler_params *p, int32_t n_vocab, char *err, size_t err_len) {
    if (n_vocab < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "n_vocab %d < 1", n_vocab);
    if (isnan(p->temp)) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "temp is NaN");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "top_p %g not in (0, 1]", (double)p->top_p);
    if (!(p->min_p <= 1.0f))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "min_p %g not <= 1", (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f && isfinite(p->repeat_penalty)))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "repeat_penalty %g not finite and > 0",
                        (double)p->repeat_penalty);
    if (p->repeat_last_n < -1)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "repeat_last_n %d < -1", p->repeat_last_n);
    if (p->n_banned < 0 || (p->n_banned > 0 && !p->banned))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "%d banned tokens but no list",
                        p->n_banned);
    for (int32_t i = 0; i < p->n_banned; i++) {
        if (p->banned[i] < 0 || p->banned[i] >= n_vocab)
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "banned token %d not in [0, %d)",
                            p->banned[i], n_vocab);
    }
    return SD_STATUS_OK;
}

/* ---- lifetime */

int sd_sampler_create(const sd_sampler_params *params, int32_t n_vocab, sd_sampler **out, char *err,
                      size_t err_len) {
    if (!out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!params) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "params is NULL");
    int status = validate_params(params, n_vocab, err, err_len);
    if (status < 0) return status;

    sd_sampler *s = calloc(1, sizeof(*s));
    if (!s) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the sampler");
    s->params = *params;
    s->n_vocab = n_vocab;
    s->greedy = params->temp <= 0.0f;
    s->penalty = params->repeat_penalty != 1.0f && params->repeat_last_n != 0;
    s->logits = malloc((size_t)n_vocab * sizeof(*s->logits));
    s->cands = malloc((size_t)n_vocab * sizeof(*s->cands));
    s->probs = malloc((size_t)n_vocab * sizeof(*s->probs));
    s->seen = calloc((size_t)n_vocab, sizeof(*s->seen));
    s->params.banned = NULL;
    if (params->n_banned > 0 && (s->banned = malloc((size_t)params->n_banned * sizeof(*s->banned))))
        memcpy(s->banned, params->banned, (size_t)params->n_banned * sizeof(*s->banned));
    if (s->penalty) {
        /* A fixed window holds window + MAX_ROLLBACK tokens after each compaction and twice that
         * before, so compaction (one memmove) is amortized O(1) per token. The whole-history window
         * grows its buffer instead. */
        s->hist_keep = params->repeat_last_n > 0 ? params->repeat_last_n + SD_SAMPLER_MAX_ROLLBACK : 0;
        s->hist_cap = s->hist_keep > 0 ? 2 * s->hist_keep : 1024;
        s->hist = malloc((size_t)s->hist_cap * sizeof(*s->hist));
    }
    if (!s->logits || !s->cands || !s->probs || !s->seen || (s->penalty && !s->hist) ||
        (params->n_banned > 0 && !s->banned)) {
        sd_sampler_free(s);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for sampler scratch (n_vocab %d)",
                        n_vocab);
    }
    sd_rng_seed(&s->rng, params->seed);
    *out = s;
    return SD_STATUS_OK;
}

int sd_sampler_replace(sd_sampler **s, const sd_sampler_params *params, int32_t n_vocab,
                       const int32_t *history, int32_t n_history, char *err, size_t err_len) {
    sd_sampler *fresh = NULL;
    int rc = sd_sampler_create(params, n_vocab, &fresh, err, err_len);
    if (rc == 0 && n_history > 0 && (rc = sd_sampler_accept_many(fresh, history, n_history)) < 0)
        sd_error(err, err_len, rc, "sampler history");
    if (rc < 0) {
        sd_sampler_free(fresh);
        return rc;
    }
    sd_sampler_free(*s);
    *s = fresh;
    return SD_STATUS_OK;
}

void sd_sampler_free(sd_sampler *s) {
    if (!s) return;
    free(s->logits);
    free(s->cands);
    free(s->probs);
    free(s->seen);
    free(s->hist);
    free(s->banned);
    free(s);
}

void sd_sampler_reset(sd_sampler *s) {
    s->hist_base = 0;
    s->hist_len = 0;
    sd_rng_seed(&s->rng, s->params.seed);
}

const sd_sampler_params *sd_sampler_get_params(const sd_sampler *s) {
    return &s->params;
}

int32_t sd_sampler_n_vocab(const sd_sampler *s) {
    return s->n_vocab;
}

int sd_sampler_is_greedy(const sd_sampler *s) {
    return s->greedy;
}

/* ---- history */

int sd_sampler_accept(sd_sampler *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab) return SD_STATUS_INVALID_ARGUMENT;
    if (!s->penalty) {
        s->hist_len++;
        return SD_STATUS_OK;
    }
    int32_t held = s->hist_len - s->hist_base;
    if (held == s->hist_cap) {
        if (s->hist_keep > 0) {
            /* Fixed window: drop all but the newest hist_keep tokens. */
            int32_t drop = held - s->hist_keep;
            memmove(s->hist, s->hist + drop, (size_t)s->hist_keep * sizeof(*s->hist));
            s->hist_base += drop;
            held = s->hist_keep;
        } else {
            if (s->hist_cap > INT32_MAX / 2) return SD_STATUS_NO_MEMORY;
            int32_t cap = s->hist_cap * 2;
            int32_t *grown = realloc(s->hist, (size_t)cap * sizeof(*grown));
            if (!grown) return SD_STATUS_NO_MEMORY;
            s->hist = grown;
            s->hist_cap = cap;
        }
    }
    s->hist[held] = token;
    s->hist_len++;
    return SD_STATUS_OK;
}

int sd_sampler_accept_many(sd_sampler *s, const int32_t *tokens, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        int status = sd_sampler_accept(s, tokens[i]);
        if (status < 0) return status;
    }
    return SD_STATUS_OK;
}

int32_t sd_sampler_history_len(const sd_sampler *s) {
    return s->hist_len;
}

int sd_sampler_history_truncate(sd_sampler *s, int32_t n) {
    if (n < 0 || n > s->hist_len) return SD_STATUS_INVALID_ARGUMENT;
    if (s->penalty && s->params.repeat_last_n > 0) {
        /* The window that ends at n must still be held. */
        int32_t window_start = SD_MAX(0, n - s->params.repeat_last_n);
        if (window_start < s->hist_base) return SD_STATUS_INVALID_ARGUMENT;
    }
    s->hist_len = n;
    return SD_STATUS_OK;
}

/* ---- the transform */

/* Copies the logits row into s->logits (NaN and banned tokens -> -inf) and applies llama.cpp's repetition
 * penalty to each distinct token of the window once. */
static void load_penalized_logits(sd_sampler *s, const float *logits) {
    float *l = s->logits;
    for (int32_t i = 0; i < s->n_vocab; i++)
        l[i] = isnan(logits[i]) ? -INFINITY : logits[i];
    for (int32_t i = 0; i < s->params.n_banned; i++)
        l[s->banned[i]] = -INFINITY;
    if (!s->penalty) return;

    int32_t held = s->hist_len - s->hist_base;
    int32_t window = s->params.repeat_last_n < 0 ? held : SD_MIN(held, s->params.repeat_last_n);
    const int32_t *recent = s->hist + (held - window);
    const float penalty = s->params.repeat_penalty;
    for (int32_t i = 0; i < window; i++) {
        int32_t t = recent[i];
        if (s->seen[t]) continue;
        s->seen[t] = 1;
        /* Dividing a negative logit would raise it, so negatives are multiplied instead. */
        l[t] = l[t] <= 0.0f ? l[t] * penalty : l[t] / penalty;
    }
    for (int32_t i = 0; i < window; i++)
        s->seen[recent[i]] = 0;
}

/* Argmax of s->logits, lowest id on ties; -1 if no logit is above -inf. */
static int32_t argmax_logits(const sd_sampler *s) {
    int32_t best = -1;
    float best_l = -INFINITY;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (s->logits[i] > best_l) {
            best_l = s->logits[i];
            best = i;
        }
    }
    return best;
}

/* Candidate order: higher logit first, equal logits by lower id. A strict total order, so every
 * selection/sort below gives the same result. */
static int cand_before(const cand *a, const cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (cand_before(a, b)) return -1;
    if (cand_before(b, a)) return 1;
    return 0;
}

static void cand_swap(cand *a, cand *b) {
    cand t = *a;
    *a = *b;
    *b = t;
}

/* Restores the heap property below node i of the heap h[0..k) whose root is the *last* of its entries
 * in cand order (each node comes after its children). */
static void cand_heap_sift(cand *h, int32_t k, int32_t i) {
    for (;;) {
        int32_t last = i, l = 2 * i + 1, r = l + 1;
        if (l < k && cand_before(&h[last], &h[l])) last = l;
        if (r < k && cand_before(&h[last], &h[r])) last = r;
        if (last == i) return;
        cand_swap(&h[i], &h[last]);
        i = last;
    }
}

/* Selection for small k: c[0..k) is kept as a heap of the k first seen so far, its root the one to
 * evict; each later entry costs one (well predicted) comparison with the root unless it enters. */
static void cand_heap_select(cand *c, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--)
        cand_heap_sift(c, k, i);
    for (int32_t j = k; j < n; j++) {
        if (cand_before(&c[j], &c[0])) {
            cand_swap(&c[j], &c[0]);
            cand_heap_sift(c, k, 0);
        }
    }
}

/* Quickselect with a median-of-three pivot, for large k. */
static void cand_quickselect(cand *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (cand_before(&c[mid], &c[lo])) cand_swap(&c[mid], &c[lo]);
        if (cand_before(&c[hi], &c[lo])) cand_swap(&c[hi], &c[lo]);
        if (cand_before(&c[hi], &c[mid])) cand_swap(&c[hi], &c[mid]);
        cand pivot = c[mid];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (cand_before(&c[i], &pivot))
                i++;
            while (cand_before(&pivot, &c[j]))
                j--;
            if (i <= j) {
                cand_swap(&c[i], &c[j]);
                i++;
                j--;
            }
        }
        /* Now c[lo..j] precede-or-equal the pivot, c[i..hi] follow-or-equal it, j < i. */
        if (k - 1 <= j) {
            hi = j;
        } else if (k - 1 >= i) {
            lo = i;
        } else {
            return;
        }
    }
}

/* Rearranges c[0..n) so that c[0..k) are the k first in cand order (unsorted), 0 < k < n.
 * Deterministic: cand order is total, so the chosen set does not depend on the method. */
static void cand_select(cand *c, int32_t n, int32_t k) {
    if (k <= 1024) {
        cand_heap_select(c, n, k);
    } else {
        cand_quickselect(c, n, k);
    }
}

/* Unnormalized softmax weight of a logit at inverse temperature inv_temp, relative to the largest logit
 * max: exp((logit - max) * inv_temp). The max itself always weighs 1, which also covers max == +inf
 * (uniform over the +inf logits) and inv_temp == +inf from a denormal temperature (greedy limit). */
static float cand_weight(float logit, float max, float inv_temp) {
    if (logit == max) return 1.0f;
    if (isinf(max)) return 0.0f;
    return expf((logit - max) * inv_temp);
}

/* Softmax of c[0..n) at inverse temperature inv_temp into probs[0..n): float weights as llama.cpp, summed
 * in double. `max` is the largest logit in c. */
static void cand_softmax(const cand *c, int32_t n, float max, float inv_temp, float *probs) {
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) {
        probs[i] = cand_weight(c[i].logit, max, inv_temp);
        sum += probs[i];
    }
    for (int32_t i = 0; i < n; i++)
        probs[i] = (float)(probs[i] / sum);
}

/* Top-p on c[0..n) (any order): the length of the smallest prefix in cand order whose temperature-1
 * probability mass is >= top_p (at least 1), and c[0..that) sorted in cand order. Like llama.cpp the
 * running sum is in float. Sorting the whole vocabulary would dominate the cost when top-k is off, so
 * the prefix is selected and sorted in growing chunks (256, then x4) until it holds enough mass. */
static int32_t top_p_keep(cand *c, int32_t n, float top_p) {
    float max = c[0].logit;
    for (int32_t i = 1; i < n; i++)
        max = SD_MAX(max, c[i].logit);
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++)
        sum += cand_weight(c[i].logit, max, 1.0f);

    int32_t sorted = 0; /* c[0..sorted) are the first `sorted` candidates, in order */
    float cum = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        if (i == sorted) {
            int32_t m = (int32_t)SD_MIN((int64_t)n, sorted == 0 ? 256 : (int64_t)sorted * 4);
            if (m < n) cand_select(c + sorted, n - sorted, m - sorted);
            qsort(c + sorted, (size_t)(m - sorted), sizeof(*c), cand_cmp);
            sorted = m;
        }
        cum += (float)(cand_weight(c[i].logit, max, 1.0f) / sum);
        if (cum >= top_p) return i + 1;
    }
    return n;
}

/* Min-p on c[0..n) (any order): keeps, in place, the tokens with logit >= max + log(min_p), i.e.
 * prob >= min_p * max prob. The max itself always survives since min_p <= 1. Returns the new n. */
static int32_t min_p_filter(cand *c, int32_t n, float max, float min_p) {
    const float min_logit = max + logf(min_p);
    int32_t kept = 0;
    for (int32_t i = 0; i < n; i++) {
        if (c[i].logit >= min_logit) c[kept++] = c[i];
    }
    return kept;
}

/* Runs the penalty and cut stages into s->cands; returns the number of survivors (>= 1), or -1 if no
 * logit is above -inf. Non-greedy mode only. */
static int32_t build_candidates(sd_sampler *s) {
    const sd_sampler_params *p = &s->params;
    cand *c = s->cands;
    int32_t n = 0;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (s->logits[i] > -INFINITY) c[n++] = (cand){s->logits[i], i};
    }
    if (n == 0) return -1;

    int sorted = 0;
    if (p->top_k > 0 && p->top_k < n) {
        cand_select(c, n, p->top_k);
        n = p->top_k;
    }
    if (p->top_p < 1.0f) {
        n = top_p_keep(c, n, p->top_p);
        sorted = 1;
    }
    if (p->min_p > 0.0f) {
        float max = c[0].logit;
        if (!sorted) {
            for (int32_t i = 1; i < n; i++)
                max = SD_MAX(max, c[i].logit);
        }
        n = min_p_filter(c, n, max, p->min_p);
    }
    return n;
}

int sd_sampler_probs(sd_sampler *s, const float *logits, float *probs) {
    load_penalized_logits(s, logits);
    if (s->greedy) {
        int32_t best = argmax_logits(s);
        if (best < 0) return SD_STATUS_INVALID_ARGUMENT;
        memset(probs, 0, (size_t)s->n_vocab * sizeof(*probs));
        probs[best] = 1.0f;
        return SD_STATUS_OK;
    }
    int32_t n = build_candidates(s);
    if (n < 0) return SD_STATUS_INVALID_ARGUMENT;

    const cand *c = s->cands;
    float max = c[0].logit;
    for (int32_t i = 1; i < n; i++)
        max = SD_MAX(max, c[i].logit);
    /* The surviving probabilities go to the front of s->probs, then scatter to their ids. */
    cand_softmax(c, n, max, 1.0f / s->params.temp, s->probs);
    memset(probs, 0, (size_t)s->n_vocab * sizeof(*probs));
    for (int32_t i = 0; i < n; i++)
        probs[c[i].id] = s->probs[i];
    return SD_STATUS_OK;
}

int sd_sampler_probs_seq(sd_sampler *s, int32_t n, const float *logits, const int32_t *tokens, float *probs) {
    if (n < 1 || n - 1 > SD_SAMPLER_MAX_ROLLBACK) return SD_STATUS_INVALID_ARGUMENT;
    const int32_t len0 = s->hist_len;
    const size_t row = (size_t)s->n_vocab;
    int status = SD_STATUS_OK;
    for (int32_t i = 0; i < n && status == SD_STATUS_OK; i++) {
        status = sd_sampler_probs(s, logits + (size_t)i * row, probs + (size_t)i * row);
        if (status == SD_STATUS_OK && i + 1 < n) status = sd_sampler_accept(s, tokens[i]);
    }
    /* Cannot fail: at most MAX_ROLLBACK tokens were appended since len0. */
    sd_sampler_history_truncate(s, len0);
    return status;
}

int32_t sd_sampler_sample_probs(sd_sampler *s, const float *probs) {
    double sum = 0.0;
    int32_t last = -1;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        if (probs[i] > 0.0f) {
            sum += probs[i];
            last = i;
        }
    }
    if (last < 0 || !isfinite(sum)) return SD_STATUS_INVALID_ARGUMENT;

    const double target = sd_sampler_uniform(s) * sum;
    double cum = 0.0;
    for (int32_t i = 0; i < last; i++) {
        if (!(probs[i] > 0.0f)) continue;
        cum += probs[i];
        if (target < cum) return i;
    }
    /* Also where rounding leaves target >= the running sum. */
    return last;
}

int32_t sd_sampler_sample(sd_sampler *s, const float *logits) {
    if (s->greedy) {
        load_penalized_logits(s, logits);
        int32_t best = argmax_logits(s);
        return best < 0 ? SD_STATUS_INVALID_ARGUMENT : best;
    }
    /* The distribution goes into s->logits: sd_sampler_probs reads that buffer only before it writes
     * its output (s->probs is its softmax scratch, so it cannot be the output). */
    float *dist = s->logits;
    int status = sd_sampler_probs(s, logits, dist);
    if (status < 0) return status;
    return sd_sampler_sample_probs(s, dist);
}
