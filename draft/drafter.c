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
    int32_t n_vocab; /* the target's vocabulary, in which proposals are made */
    float *logits;   /* [n_vocab] the draft's logits mapped into it */
    /* [n_ctx] tokens whose keys/values are in the cache (and in the sampler history): the context's
     * ctx[base..base + n_cached), base > 0 after a restart from a window (see feed_context) */
    int32_t *cached;
    int32_t n_cached, base;
    float *q;     /* [k_max][n_vocab] distributions of the last proposal */
    int32_t *seq; /* [n_ctx] scratch: context + drafts, for sd_drafter_extend */
    /* Proposals made ahead by sd_drafter_extend; valid if the next context is ctx[0..n_ahead_prefix) with
     * ctx[base..n_ahead_prefix) cached. */
    int32_t ahead[SD_MAX_DRAFT_LEN];
    int32_t n_ahead, n_ahead_prefix;
    float *ahead_q;                     /* [k_max][n_vocab] */
    float conf[SD_MAX_DRAFT_LEN];       /* top probability of each token of the last proposal */
    float ahead_conf[SD_MAX_DRAFT_LEN]; /* ... and of the proposals made ahead */
    /* the greedy draft the stop rule withheld after the last proposal (-1: none), its top probability;
     * and the same for the proposals made ahead */
    int32_t withheld, ahead_withheld;
    float withheld_conf, ahead_withheld_conf;
};

int sd_drafter_create(const sd_model *draft, int32_t n_vocab_out, int32_t n_ctx, int32_t k_max,
                      int32_t n_batch, sd_cache_type type_k, sd_cache_type type_v,
                      const sd_sampler_params *params, sd_pool *pool, sd_drafter **out, char *err,
                      size_t err_len) {
    *out = NULL;
    if (k_max < 1 || k_max > SD_MAX_DRAFT_LEN)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "draft length %d outside [1, %d]", k_max,
                        SD_MAX_DRAFT_LEN);
    sd_drafter *d = calloc(1, sizeof *d);
    if (!d) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    d->m = draft;
    d->n_ctx = n_ctx;
    d->k_max = k_max;
    d->n_vocab = n_vocab_out;
    sd_sampler_params sp = *params;
    sp.seed ^= DRAFT_SEED_SALT;
    int rc = sd_forward_create_cached(draft, n_ctx, n_batch, type_k, type_v, pool, &d->fwd, err, err_len);
    /* Drafting is one-token passes of a small model: let them leave the pool where one core is faster. */
    if (rc == 0) sd_forward_set_measured_pool(d->fwd, true);
    if (rc == 0) rc = sd_sampler_create(&sp, d->n_vocab, &d->sampler, err, err_len);
    if (rc == 0) {
        size_t rows = (size_t)k_max * (size_t)d->n_vocab;
        d->cached = malloc((size_t)n_ctx * sizeof *d->cached);
        d->seq = malloc((size_t)n_ctx * sizeof *d->seq);
        d->q = malloc(rows * sizeof *d->q);
        d->ahead_q = malloc(rows * sizeof *d->ahead_q);
        d->logits = malloc((size_t)d->n_vocab * sizeof *d->logits);
        if (!d->cached || !d->seq || !d->q || !d->ahead_q || !d->logits)
            rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the draft");
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
    free(d->seq);
    free(d->q);
    free(d->ahead_q);
    free(d->logits);
    free(d);
}

void sd_drafter_reset(sd_drafter *d) {
    d->n_cached = 0;
    d->base = 0;
    d->n_ahead = 0;
    sd_forward_truncate(d->fwd, 0);
    sd_sampler_reset(d->sampler);
}

void sd_drafter_shift(sd_drafter *d, int32_t n_keep, int32_t n_discard) {
    d->n_ahead = 0; /* made for the unshifted context */
    int32_t end = n_keep + n_discard;
    if (d->base >= end) { /* a window wholly after the dropped tokens: only its start moves */
        d->base -= n_discard;
        return;
    }
    if (d->base > 0) {
        sd_drafter_reset(d);
        return;
    }
    if (d->n_cached > end && sd_forward_shift(d->fwd, n_keep, n_discard) == SD_STATUS_OK) {
        memmove(d->cached + n_keep, d->cached + end, (size_t)(d->n_cached - end) * sizeof *d->cached);
        d->n_cached -= n_discard;
    } else if (d->n_cached > n_keep) {
        sd_forward_truncate(d->fwd, n_keep);
        d->n_cached = n_keep;
    }
    /* The penalty history follows the cached tokens (roll_back_to truncates it by their count). */
    sd_sampler_reset(d->sampler);
    sd_sampler_accept_many(d->sampler, d->cached, d->n_cached);
}

int sd_drafter_set_sampler(sd_drafter *d, const sd_sampler_params *params, char *err, size_t err_len) {
    sd_sampler_params sp = *params;
    sp.seed ^= DRAFT_SEED_SALT;
    int rc = sd_sampler_replace(&d->sampler, &sp, d->n_vocab, d->cached, d->n_cached, err, err_len);
    if (rc == 0) d->n_ahead = 0; /* proposals made with the old sampler */
    return rc;
}

int sd_drafter_set_pool(sd_drafter *d, sd_pool *pool) {
    return sd_forward_set_pool(d->fwd, pool);
}

uint64_t sd_drafter_kv_bytes(const sd_drafter *d) {
    return sd_forward_kv_bytes(d->fwd);
}

const float *sd_drafter_q(const sd_drafter *d) {
    return d->q;
}

const float *sd_drafter_confidence(const sd_drafter *d) {
    return d->conf;
}

bool sd_drafter_withheld(const sd_drafter *d, int32_t *token, float *p_top) {
    if (d->withheld < 0) return false;
    *token = d->withheld;
    *p_top = d->withheld_conf;
    return true;
}

/* Rolls the cache and history back to what they share with ctx[0..n) (nothing when ctx ends before
 * the cached window starts). */
static void roll_back_to(sd_drafter *d, const int32_t *ctx, int32_t n) {
    if (n < d->base) {
        sd_drafter_reset(d);
        return;
    }
    const int32_t *window = ctx + d->base;
    int32_t common = 0, limit = SD_MIN(n - d->base, d->n_cached);
    while (common < limit && d->cached[common] == window[common])
        common++;
    if (common < d->n_cached) {
        sd_forward_truncate(d->fwd, common);
        if (sd_sampler_history_truncate(d->sampler, common) < 0) {
            /* Too deep to roll the penalty history back: rebuild it from the context. */
            sd_sampler_reset(d->sampler);
            sd_sampler_accept_many(d->sampler, window, common);
        }
        d->n_cached = common;
    }
}

/* Feeds tokens to the draft model (cache, history, our record). */
static int feed(sd_drafter *d, const int32_t *tokens, int32_t n, char *err, size_t err_len) {
    if (n == 0) return SD_STATUS_OK;
    int rc = sd_forward_run(d->fwd, tokens, n, false, err, err_len);
    if (rc < 0) return rc;
    rc = sd_sampler_accept_many(d->sampler, tokens, n);
    if (rc < 0) return sd_error(err, err_len, rc, "draft sampler history");
    memcpy(d->cached + d->n_cached, tokens, (size_t)n * sizeof *tokens);
    d->n_cached += n;
    return SD_STATUS_OK;
}

/* Brings the cache to seq[0..n) with at least its last token fed, so that the logits are those after
 * it. A token the draft's vocabulary lacks (a target-only special id) gives SD_STATUS_INVALID_ARGUMENT:
 * the callers then propose nothing. */
static int feed_context(sd_drafter *d, const int32_t *seq, int32_t n, char *err, size_t err_len) {
    roll_back_to(d, seq, n - 1);
    if (n - (d->base + d->n_cached) > SD_DRAFT_RESTART_WINDOW) {
        /* Far behind (the controller paused the draft): restart from the recent window. */
        sd_drafter_reset(d);
        d->base = n - SD_DRAFT_RESTART_WINDOW;
    }
    const int32_t fed = d->base + d->n_cached;
    return feed(d, seq + fed, n - fed, err, err_len);
}

/* The draft's next-token logits in the target's vocabulary. */
static const float *mapped_logits(sd_drafter *d) {
    const float *raw = sd_forward_logits(d->fwd, -1);
    int32_t nd = d->m->hp.n_vocab;
    if (nd == d->n_vocab) return raw;
    int32_t shared = SD_MIN(nd, d->n_vocab);
    memcpy(d->logits, raw, (size_t)shared * sizeof *raw);
    for (int32_t i = shared; i < d->n_vocab; i++)
        d->logits[i] = -INFINITY;
    return d->logits;
}

/* The largest softmax probability of a logits row at temperature 1. */
static float top_probability(const float *logits, int32_t n) {
    float max = -INFINITY;
    for (int32_t i = 0; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    if (!(max > -INFINITY)) return 0.0f;
    float sum = 0.0f;
    for (int32_t i = 0; i < n; i++)
        sum += expf(logits[i] - max);
    return sum > 0 ? 1.0f / sum : 0.0f;
}

/* Draws draft i of a round from the current logits (q row kept in q_row when sampling, the top
 * probability in *conf, NAN when `stop` neither tests it nor has a gate). Returns the token, -1 when `stop`
 * ends the draft here (the token withheld), or a negative status below -1; *last says whether the gate
 * kept the token but ends the draft after it. A NULL stop never ends it (the guess of sd_drafter_extend
 * has a p_min only). */
static int32_t draw(sd_drafter *d, int32_t i, const sd_draft_stop *stop, float *q_row, float *conf,
                    bool *last) {
    const float *logits = mapped_logits(d);
    /* 4096 exps for a 4096-token vocabulary: only when something reads it */
    const bool judged = stop && (stop->p_min > 0 || stop->gate);
    *conf = judged ? top_probability(logits, d->n_vocab) : NAN;
    *last = false;
    if (stop && stop->p_min > 0 && *conf < stop->p_min) return -1;
    if (stop && stop->gate) {
        const sd_draft_verdict verdict = stop->gate(stop->gate_user, i, *conf);
        if (verdict == SD_DRAFT_WITHHOLD) return -1;
        *last = verdict == SD_DRAFT_KEEP_LAST;
    }
    if (sd_sampler_is_greedy(d->sampler)) return sd_sampler_sample(d->sampler, logits);
    int rc = sd_sampler_probs(d->sampler, logits, q_row);
    return rc < 0 ? rc : sd_sampler_sample_probs(d->sampler, q_row);
}

/* Drafts up to k tokens from the current cache state into tokens/q_rows; the last one is not fed. When the
 * stop rule ends the draft in greedy decoding, the token it withheld goes to *withheld (its top
 * probability to conf[j]); otherwise *withheld is -1. */
static int32_t draft_tokens(sd_drafter *d, int32_t k, const sd_draft_stop *stop, int32_t *tokens,
                            float *q_rows, float *conf, int32_t *withheld, char *err, size_t err_len) {
    int32_t j = 0;
    *withheld = -1;
    while (j < k) {
        bool last;
        int32_t tok = draw(d, j, stop, q_rows + (size_t)j * (size_t)d->n_vocab, &conf[j], &last);
        if (tok == -1) {
            /* greedy: the draft's choice is the argmax, which draws nothing from the PRNG */
            if (sd_sampler_is_greedy(d->sampler)) *withheld = sd_sampler_sample(d->sampler, mapped_logits(d));
            break;
        }
        if (tok < 0) return sd_error(err, err_len, tok, "draft sampling failed");
        tokens[j++] = tok;
        /* the next proposal starts from the context: the last draft need not be fed */
        if (j == k || last) break;
        int rc = feed(d, &tok, 1, err, err_len);
        if (rc == SD_STATUS_INVALID_ARGUMENT) break;
        if (rc < 0) return rc;
    }
    return j;
}

int sd_drafter_sync(sd_drafter *d, const int32_t *ctx, int32_t n, char *err, size_t err_len) {
    roll_back_to(d, ctx, n);
    const int32_t fed = d->base + d->n_cached;
    int rc = feed(d, ctx + fed, n - fed, err, err_len);
    return rc == SD_STATUS_INVALID_ARGUMENT ? SD_STATUS_OK : rc; /* see feed_context */
}

/* True if the proposals made ahead were made for exactly this context. */
static bool ahead_matches(const sd_drafter *d, const int32_t *ctx, int32_t n) {
    return d->n_ahead > 0 && n == d->n_ahead_prefix && n >= d->base && d->base + d->n_cached >= n &&
           memcmp(d->cached, ctx + d->base, (size_t)(n - d->base) * sizeof *ctx) == 0;
}

int32_t sd_drafter_propose(sd_drafter *d, const int32_t *ctx, int32_t n_ctx_tokens, int32_t k,
                           const sd_draft_stop *stop, int32_t *tokens, char *err, size_t err_len) {
    d->withheld = -1;
    k = SD_MIN(k, d->k_max);
    /* The cache must leave room for the context and the k - 1 drafts fed back. */
    k = SD_MIN(k, d->n_ctx - n_ctx_tokens + 1);
    if (k <= 0 || n_ctx_tokens < 1) {
        d->n_ahead = 0;
        return 0;
    }
    if (ahead_matches(d, ctx, n_ctx_tokens)) {
        int32_t j = SD_MIN(k, d->n_ahead);
        memcpy(tokens, d->ahead, (size_t)j * sizeof *tokens);
        memcpy(d->conf, d->ahead_conf, (size_t)j * sizeof *d->conf);
        d->withheld = j == d->n_ahead ? d->ahead_withheld : -1; /* not when k cut the proposals short */
        d->withheld_conf = d->ahead_withheld_conf;
        float *t = d->q; /* hand the distributions over without copying */
        d->q = d->ahead_q;
        d->ahead_q = t;
        d->n_ahead = 0;
        return j;
    }
    d->n_ahead = 0;
    int rc = feed_context(d, ctx, n_ctx_tokens, err, err_len);
    if (rc == SD_STATUS_INVALID_ARGUMENT) return 0;
    if (rc < 0) return rc;
    int32_t j = draft_tokens(d, k, stop, tokens, d->q, d->conf, &d->withheld, err, err_len);
    if (d->withheld >= 0) d->withheld_conf = d->conf[j];
    return j;
}

int sd_drafter_extend(sd_drafter *d, const int32_t *ctx, int32_t n_ctx_tokens, const int32_t *drafts,
                      int32_t j, int32_t k_next, const sd_draft_stop *stop, char *err, size_t err_len) {
    d->n_ahead = 0;
    int32_t n = n_ctx_tokens + j;
    k_next = SD_MIN(SD_MIN(k_next, d->k_max), d->n_ctx - n - 1);
    if (k_next <= 0 || n_ctx_tokens < 1) return SD_STATUS_OK;
    memcpy(d->seq, ctx, (size_t)n_ctx_tokens * sizeof *ctx);
    memcpy(d->seq + n_ctx_tokens, drafts, (size_t)j * sizeof *drafts);
    int rc = feed_context(d, d->seq, n, err, err_len);
    if (rc == SD_STATUS_INVALID_ARGUMENT) return SD_STATUS_OK;
    if (rc < 0) return rc;
    /* Guess the token the target will emit after the drafts (the bonus token when all are accepted). */
    const sd_draft_stop guess_stop = {.p_min = stop ? stop->p_min : 0.0f};
    float guess_conf;
    bool last;
    int32_t guess = draw(d, 0, &guess_stop, d->ahead_q, &guess_conf, &last);
    if (guess == -1) return SD_STATUS_OK;
    if (guess < 0) return sd_error(err, err_len, guess, "draft sampling failed");
    d->seq[n] = guess;
    rc = feed(d, &guess, 1, err, err_len);
    if (rc == SD_STATUS_INVALID_ARGUMENT) return SD_STATUS_OK;
    if (rc < 0) return rc;
    int32_t t =
        draft_tokens(d, k_next, stop, d->ahead, d->ahead_q, d->ahead_conf, &d->ahead_withheld, err, err_len);
    if (t < 0) return t;
    if (d->ahead_withheld >= 0) d->ahead_withheld_conf = d->ahead_conf[t];
    d->n_ahead = t;
    d->n_ahead_prefix = n + 1;
    return SD_STATUS_OK;
}

void sd_drafter_foreach_buffer(const sd_drafter *d, void (*fn)(void *ptr, size_t bytes, void *user),
                               void *user) {
    sd_forward_foreach_buffer(d->fwd, fn, user);
}
