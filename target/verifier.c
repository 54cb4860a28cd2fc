#include "verifier.h"

#include <stdlib.h>

#include "common/sd_common.h"
#include "model/forward.h"

struct sd_verifier {
    const sd_model *m;
    sd_forward *fwd;
    sd_sampler *sampler;
    int32_t k_max;
    int32_t *batch;  /* [k_max + 1] pending + drafts */
    float *p;        /* [k_max + 1][n_vocab] target distributions */
    double t_sample; /* seconds of the last verify spent sampling */
};

int sd_verifier_create(const sd_model *target, int32_t n_ctx, int32_t k_max, int32_t n_batch,
                       sd_cache_type type_k, sd_cache_type type_v, const sd_sampler_params *params,
                       sd_pool *pool, sd_verifier **out, char *err, size_t err_len) {
    *out = NULL;
    sd_verifier *v = calloc(1, sizeof *v);
    if (!v) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    v->m = target;
    v->k_max = k_max;
    /* The verify pass needs k_max + 1 rows of logits in one batch. */
    int rc = sd_forward_create_cached(target, n_ctx, SD_MAX(n_batch, k_max + 1), type_k, type_v, pool,
                                      &v->fwd, err, err_len);
    /* Plain rounds are one-row passes: on a loaded machine one thread can beat the pool (measured). */
    if (rc == 0) sd_forward_set_measured_pool(v->fwd, true);
    if (rc == 0) rc = sd_sampler_create(params, target->hp.n_vocab, &v->sampler, err, err_len);
    if (rc == 0) {
        v->batch = malloc((size_t)(k_max + 1) * sizeof *v->batch);
        v->p = malloc((size_t)(k_max + 1) * (size_t)target->hp.n_vocab * sizeof *v->p);
        if (!v->batch || !v->p)
            rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for verification");
    }
    if (rc < 0) {
        sd_verifier_free(v);
        return rc;
    }
    *out = v;
    return SD_STATUS_OK;
}

void sd_verifier_free(sd_verifier *v) {
    if (!v) return;
    sd_forward_free(v->fwd);
    sd_sampler_free(v->sampler);
    free(v->batch);
    free(v->p);
    free(v);
}

void sd_verifier_reset(sd_verifier *v) {
    sd_forward_truncate(v->fwd, 0);
    sd_sampler_reset(v->sampler);
}

int sd_verifier_truncate(sd_verifier *v, int32_t n) {
    if (n < 0 || n > sd_forward_n_past(v->fwd)) return SD_STATUS_INVALID_ARGUMENT;
    int rc = sd_sampler_history_truncate(v->sampler, n);
    if (rc < 0) return rc;
    sd_forward_truncate(v->fwd, n);
    return SD_STATUS_OK;
}

int sd_verifier_shift(sd_verifier *v, int32_t n_keep, int32_t n_discard) {
    return sd_forward_shift(v->fwd, n_keep, n_discard);
}

int sd_verifier_prefill(sd_verifier *v, const int32_t *tokens, int32_t n, char *err, size_t err_len) {
    if (n == 0) return SD_STATUS_OK;
    int rc = sd_forward_run(v->fwd, tokens, n, false, err, err_len);
    if (rc < 0) return rc;
    rc = sd_sampler_accept_many(v->sampler, tokens, n);
    return rc < 0 ? sd_error(err, err_len, rc, "sampler history") : SD_STATUS_OK;
}

int sd_verifier_verify(sd_verifier *v, int32_t pending, const int32_t *drafts, int32_t k, const float *q,
                       sd_spec_result *res, char *err, size_t err_len) {
    if (k < 0 || k > v->k_max)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "draft of %d tokens", k);
    int32_t n_past = sd_forward_n_past(v->fwd);
    v->batch[0] = pending;
    for (int32_t i = 0; i < k; i++)
        v->batch[i + 1] = drafts[i];
    int rc = sd_forward_run(v->fwd, v->batch, k + 1, true, err, err_len);
    if (rc < 0) return rc;
    double t0 = sd_time_seconds();
    rc = sd_sampler_accept(v->sampler, pending);
    if (rc == 0) rc = sd_sampler_probs_seq(v->sampler, k + 1, sd_forward_logits(v->fwd, 0), drafts, v->p);
    if (rc == 0) rc = sd_spec_accept(v->sampler, k, drafts, q, v->p, res);
    if (rc == 0) rc = sd_sampler_accept_many(v->sampler, drafts, res->n_accepted);
    v->t_sample = sd_time_seconds() - t0;
    if (rc < 0) return sd_error(err, err_len, rc, "sampling the target's distribution failed");
    /* Keep pending and the accepted drafts; forget the rest. */
    sd_forward_truncate(v->fwd, n_past + 1 + res->n_accepted);
    return SD_STATUS_OK;
}

double sd_verifier_last_sample_seconds(const sd_verifier *v) {
    return v->t_sample;
}

int sd_verifier_set_pool(sd_verifier *v, sd_pool *pool) {
    return sd_forward_set_pool(v->fwd, pool);
}

int32_t sd_verifier_n_past(const sd_verifier *v) {
    return sd_forward_n_past(v->fwd);
}

int32_t sd_verifier_n_ctx(const sd_verifier *v) {
    return sd_forward_n_ctx(v->fwd);
}

uint64_t sd_verifier_kv_bytes(const sd_verifier *v) {
    return sd_forward_kv_bytes(v->fwd);
}

int sd_verifier_set_sampler(sd_verifier *v, const sd_sampler_params *params, const int32_t *history,
                            int32_t n_history, char *err, size_t err_len) {
    return sd_sampler_replace(&v->sampler, params, v->m->hp.n_vocab, history, n_history, err, err_len);
}

const sd_sampler *sd_verifier_sampler(const sd_verifier *v) {
    return v->sampler;
}

const float *sd_verifier_last_logits(const sd_verifier *v) {
    return sd_forward_logits(v->fwd, -1);
}

void sd_verifier_foreach_buffer(const sd_verifier *v, void (*fn)(void *ptr, size_t bytes, void *user),
                                void *user) {
    sd_forward_foreach_buffer(v->fwd, fn, user);
}
