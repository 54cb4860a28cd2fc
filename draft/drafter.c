#include "drafter.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "model/forward.h"

/* Mixed into the target's seed so that the draft's random stream is independent of it. */
#define DRAFT_SEED_SALT 0x9e3779b97f4a7c15ull

struct sd_drafter {
    const sd_model *m;
    sd_forward *fwd;
    sd_sampler *sampler;
    int32_t n_ctx, k_max;
    int32_t n_vocab;   /* the target's vocabulary, in which proposals are made */
    float *logits;     /* [n_vocab] the draft's logits mapped into it */
    int32_t *cached;   /* [n_ctx] tokens whose keys/values are in the cache (and in the sampler history) */
    int32_t n_cached;
    float *q;          /* [k_max][n_vocab] */
};

int sd_drafter_create(const sd_model *draft, int32_t n_vocab_out, int32_t n_ctx, int32_t k_max, int32_t n_batch,
                      const sd_sampler_params *params, sd_pool *pool, sd_drafter **out, char *err,
                      size_t err_len) {
    *out = NULL;
    sd_drafter *d = calloc(1, sizeof *d);
    if (!d) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    d->m = draft;
    d->n_ctx = n_ctx;
    d->k_max = k_max;
    d->n_vocab = n_vocab_out;
    sd_sampler_params sp = *params;
    sp.seed ^= DRAFT_SEED_SALT;
    int rc = sd_forward_create(draft, n_ctx, n_batch, pool, &d->fwd, err, err_len);
    if (rc == 0) rc = sd_sampler_create(&sp, d->n_vocab, &d->sampler, err, err_len);
    if (rc == 0) {
        d->cached = malloc((size_t)n_ctx * sizeof *d->cached);
        d->q = malloc((size_t)SD_MAX(k_max, 1) * (size_t)d->n_vocab * sizeof *d->q);
        d->logits = malloc((size_t)d->n_vocab * sizeof *d->logits);
        if (!d->cached || !d->q || !d->logits) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the draft");
    }
    if (rc < 0) {
        sd_drafter_free(d);
        return rc;
    }
    *out = d;
    return SD_STATUS_OK;
}

void sd_drafter_free(sd_drafter *d) {
    if (!d) return;
    sd_forward_free(d->fwd);
    sd_sampler_free(d->sampler);
    free(d->cached);
    free(d->q);
    free(d->logits);
    free(d);
}

void sd_drafter_reset(sd_drafter *d) {
    d->n_cached = 0;
    sd_forward_truncate(d->fwd, 0);
    sd_sampler_reset(d->sampler);
}

const float *sd_drafter_q(const sd_drafter *d) {
    return d->q;
}

/* Rolls the cache and history back to what they share with ctx. */
static void roll_back_to(sd_drafter *d, const int32_t *ctx, int32_t n) {
    int32_t common = 0, limit = SD_MIN(n, d->n_cached);
    while (common < limit && d->cached[common] == ctx[common]) common++;
    if (common < d->n_cached) {
        sd_forward_truncate(d->fwd, common);
        if (sd_sampler_history_truncate(d->sampler, common) < 0) {
            /* Too deep to roll the penalty history back: rebuild it from the context. */
            sd_sampler_reset(d->sampler);
            sd_sampler_accept_many(d->sampler, ctx, common);
        }
        d->n_cached = common;
    }
}

/* Feeds tokens to the draft model (cache, history, our record). */
static int feed(sd_drafter *d, const int32_t *tokens, int32_t n, char *err, size_t err_len) {
    int rc = sd_forward_run(d->fwd, tokens, n, false, err, err_len);
    if (rc < 0) return rc;
    rc = sd_sampler_accept_many(d->sampler, tokens, n);
    if (rc < 0) return sd_error(err, err_len, rc, "draft sampler history");
    memcpy(d->cached + d->n_cached, tokens, (size_t)n * sizeof *tokens);
    d->n_cached += n;
    return SD_STATUS_OK;
}

/* The largest softmax probability of a logits row at temperature 1. */
static float top_probability(const float *logits, int32_t n) {
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)(logits[i] - max));
    return sum > 0 ? (float)(1.0 / sum) : 0.0f;
}

/* The draft's next-token logits in the target's vocabulary. */
static const float *mapped_logits(sd_drafter *d) {
    const float *raw = sd_forward_logits(d->fwd, -1);
    int32_t nd = d->m->hp.n_vocab;
    if (nd == d->n_vocab) return raw;
    int32_t shared = SD_MIN(nd, d->n_vocab);
    memcpy(d->logits, raw, (size_t)shared * sizeof *raw);
    for (int32_t i = shared; i < d->n_vocab; i++) d->logits[i] = -INFINITY;
    return d->logits;
}

int sd_drafter_sync(sd_drafter *d, const int32_t *ctx, int32_t n, char *err, size_t err_len) {
    roll_back_to(d, ctx, n);
    if (n == d->n_cached) return SD_STATUS_OK;
    int rc = feed(d, ctx + d->n_cached, n - d->n_cached, err, err_len);
    return rc == SD_STATUS_INVALID_ARGUMENT ? SD_STATUS_OK : rc; /* see sd_drafter_propose */
}

int32_t sd_drafter_propose(sd_drafter *d, const int32_t *ctx, int32_t n_ctx_tokens, int32_t k, float p_min,
                           int32_t *tokens, char *err, size_t err_len) {
    k = SD_MIN(k, d->k_max);
    /* The cache must leave room for the context and the k - 1 drafts fed back. */
    k = SD_MIN(k, d->n_ctx - n_ctx_tokens + 1);
    if (k <= 0 || n_ctx_tokens < 1) return 0;
    /* At least the last context token is fed, so that the logits are those after it. */
    roll_back_to(d, ctx, n_ctx_tokens - 1);
    int rc = feed(d, ctx + d->n_cached, n_ctx_tokens - d->n_cached, err, err_len);
    /* A context token the draft's vocabulary lacks (a target-only special id): nothing to propose. */
    if (rc == SD_STATUS_INVALID_ARGUMENT) return 0;
    if (rc < 0) return rc;
    bool greedy = sd_sampler_is_greedy(d->sampler);
    int32_t j = 0;
    while (j < k) {
        const float *logits = mapped_logits(d);
        if (p_min > 0 && top_probability(logits, d->n_vocab) < p_min) break;
        int32_t tok;
        if (greedy) {
            tok = sd_sampler_sample(d->sampler, logits);
        } else {
            float *q = d->q + (size_t)j * (size_t)d->n_vocab;
            rc = sd_sampler_probs(d->sampler, logits, q);
            tok = rc < 0 ? rc : sd_sampler_sample_probs(d->sampler, q);
        }
        if (tok < 0) return sd_error(err, err_len, tok, "draft sampling failed");
        tokens[j++] = tok;
        if (j == k) break; /* the last draft need not be fed: the next proposal starts from the context */
        rc = feed(d, &tok, 1, err, err_len);
        if (rc < 0) return rc;
    }
    return j;
}
