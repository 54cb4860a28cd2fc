#include "decode.h"

#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "cpu/background.h"
#include "draft/ngram.h"
#include "spec/schedule.h"

typedef struct extend_job {
    sd_drafter *drafter;
    const int32_t *ctx;
    int32_t n_ctx_tokens;
    const int32_t *drafts;
    int32_t j, k_next;
    const sd_draft_stop *stop;
    int rc;
    char err[256];
} extend_job;

struct sd_decoder {
    sd_verifier *verifier;
    sd_drafter *drafter;
    sd_ngram *ngram; /* the n-gram source (NULL: not enabled) */
    const sd_vocab *vocab;
    int32_t n_vocab;
    sd_decode_config cfg;
    sd_controller ctrl; /* kept across generations: the costs are the machine's, and the last
                           text's acceptance is a better prior than none */
    int32_t *ctx;       /* [n_ctx] accepted tokens: prompt and generated; the last is pending */
    int32_t n_ctx;
    int32_t *k_trace; /* [k_trace_cap] */
    int32_t k_trace_cap;
    int32_t drafts[SD_MAX_DRAFT_LEN + 1];
    int32_t ngram_drafts[SD_MAX_DRAFT_LEN]; /* the n-gram source's proposal for the round */
    float ngram_conf[SD_MAX_DRAFT_LEN];     /* its stand-in top probability, for the controller */
    float *one_hot;                         /* [k_max][n_vocab] q of n-gram drafts when sampling */
    extend_job job;     /* the pipelined schedule's next draft, on the scheduler's drafting thread */
    sd_draft_stop stop; /* the configured p_min, and the controller deciding each draft */
};

static sd_draft_verdict judge_draft(void *user, int32_t i, float p_top) {
    return sd_controller_judge_draft(user, i, p_top);
}

static void run_extend(void *arg) {
    extend_job *j = arg;
    j->rc = sd_drafter_extend(j->drafter, j->ctx, j->n_ctx_tokens, j->drafts, j->j, j->k_next, j->stop,
                              j->err, sizeof j->err);
}

int sd_decoder_create(sd_verifier *verifier, sd_drafter *drafter, const sd_vocab *vocab,
                      const sd_decode_config *cfg, int32_t n_ctx, sd_decoder **out, char *err,
                      size_t err_len) {
    *out = NULL;
    sd_decoder *d = calloc(1, sizeof *d);
    if (!d) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    d->verifier = verifier;
    d->drafter = drafter;
    d->vocab = vocab;
    d->cfg = *cfg;
    d->n_ctx = n_ctx;
    /* n_ctx + 1: the token sampled at the last cache position is kept (and emitted) although it never
     * enters the KV cache. */
    d->ctx = malloc(((size_t)n_ctx + 1) * sizeof *d->ctx);
    d->k_trace_cap = n_ctx;
    d->k_trace = malloc((size_t)n_ctx * sizeof *d->k_trace);
    int rc =
        d->ctx && d->k_trace ? SD_STATUS_OK : sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    d->n_vocab = sd_sampler_n_vocab(sd_verifier_sampler(verifier));
    if (rc == 0 && (cfg->sources & SD_SPEC_NGRAM) && cfg->k_max > 0)
        rc = sd_ngram_create(n_ctx + 1, SD_NGRAM_MIN, SD_NGRAM_MAX, &d->ngram, err, err_len);
    /* n-gram and cross-vocabulary drafts are deterministic proposals: one-hot q rows */
    if (rc == 0 && (d->ngram || (drafter && cfg->xvocab)) && cfg->k_max > 0) {
        d->one_hot = calloc((size_t)cfg->k_max * (size_t)d->n_vocab, sizeof *d->one_hot);
        if (!d->one_hot) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    if (rc < 0) {
        sd_decoder_free(d);
        return rc;
    }
    sd_controller_init(&d->ctrl, cfg->k_min, cfg->k_max);
    sd_controller_set_sources(&d->ctrl, (drafter ? SD_SPEC_DRAFT : 0u) | (d->ngram ? SD_SPEC_NGRAM : 0u));
    /* A fixed k needs no gate (nor the draft's confidences it reads). */
    d->stop = (sd_draft_stop){.p_min = cfg->p_min,
                              .gate = sd_controller_is_adaptive(&d->ctrl) ? judge_draft : NULL,
                              .gate_user = &d->ctrl};
    *out = d;
    return SD_STATUS_OK;
}

void sd_decoder_free(sd_decoder *d) {
    if (!d) return;
    free(d->ctx);
    free(d->k_trace);
    sd_ngram_free(d->ngram);
    free(d->one_hot);
    free(d);
}

/* Ends the controller's round (see spec/controller.h): what the verify pass showed about the j drafts of
 * source src and the one the stop rule withheld, the n-gram proposal's n_ngram tokens, the tokens emitted
 * (d->drafts[0..n_accepted]) and the times measured. */
static void end_round(sd_decoder *d, sd_draft_source src, int32_t j, int32_t n_ngram,
                      const sd_spec_result *res, double t_draft_s, double t_verify_s) {
    sd_round_outcome o = {.n_drafted = j,
                          .n_accepted = res->n_accepted,
                          .p_top = src == SD_SOURCE_MODEL && d->cfg.xvocab
                                       ? sd_xvocab_confidence(d->cfg.xvocab)
                                   : src == SD_SOURCE_MODEL ? sd_drafter_confidence(d->drafter)
                                   : src == SD_SOURCE_NGRAM ? d->ngram_conf
                                                            : NULL,
                          .t_draft_s = t_draft_s,
                          .t_verify_s = t_verify_s,
                          .emitted = d->drafts,
                          .ngram = n_ngram > 0 ? d->ngram_drafts : NULL,
                          .n_ngram = n_ngram,
                          .ngram_p_top = n_ngram > 0 ? d->ngram_conf[0] : 0.0f};
    int32_t withheld;
    /* the drafter's withheld draft is the last proposal's: none when this round's model proposed nothing */
    o.withheld = src == SD_SOURCE_MODEL && !d->cfg.xvocab &&
                 sd_drafter_withheld(d->drafter, &withheld, &o.withheld_p_top);
    o.withheld_accepted = o.withheld && res->next_token == withheld;
    sd_controller_end_round(&d->ctrl, &o);
}

/* The context shift when the cache is full (n_tokens = n_ctx + 1: the cache and the pending token): keeps
 * the first shift_keep tokens and the most recent half of the rest, in the caches and in ctx.
 * How this differs from llama.cpp's context shift (llama-cli, llama-server): the same rule (n_discard =
 * half of what follows the kept tokens; keys re-rotated by RoPE of the position delta), but here n_keep
 * counts a BOS token (llama-cli adds the BOS to --keep), the draft's cache shifts with the target's, and
 * speculative rounds shrink their drafts to the room left so that a speculative and a plain run shift at
 * the same token (llama.cpp's speculative examples stop at a full context instead). */
static int shift_context(sd_decoder *d, int32_t *n_tokens, char *err, size_t err_len) {
    int32_t n_past = sd_verifier_n_past(d->verifier);
    int32_t n_keep = SD_MIN(d->cfg.shift_keep, n_past);
    int32_t n_discard = (n_past - n_keep) / 2;
    if (n_discard < 1) return SD_STATUS_CONTEXT_FULL;
    int rc = sd_verifier_shift(d->verifier, n_keep, n_discard);
    if (rc < 0) return sd_error(err, err_len, rc, "context shift failed");
    if (d->cfg.xvocab) { /* the draft's tokens are its own: it re-reads the shifted text */
        sd_xvocab_reset(d->cfg.xvocab);
        sd_drafter_reset(d->drafter);
    } else if (d->drafter) {
        sd_drafter_shift(d->drafter, n_keep, n_discard);
    }
    if (d->ngram) sd_ngram_truncate(d->ngram, n_keep); /* re-indexed from the shifted ctx when it proposes */
    memmove(d->ctx + n_keep, d->ctx + n_keep + n_discard,
            (size_t)(*n_tokens - n_keep - n_discard) * sizeof *d->ctx);
    *n_tokens -= n_discard;
    return SD_STATUS_OK;
}

/* The n-gram drafts the controller's gate keeps (all of them with a fixed k), into d->drafts. */
static int32_t gate_ngram(sd_decoder *d, int32_t n_ngram) {
    const bool adaptive = sd_controller_is_adaptive(&d->ctrl);
    int32_t j = 0;
    while (j < n_ngram &&
           (!adaptive || sd_controller_judge_draft(&d->ctrl, j, d->ngram_conf[j]) != SD_DRAFT_WITHHOLD)) {
        d->drafts[j] = d->ngram_drafts[j];
        j++;
    }
    return j;
}

/* q rows for j deterministic drafts: one-hot at each ([j][n_vocab], sampler/spec_accept.h). */
static const float *one_hot_rows(sd_decoder *d, int32_t j) {
    memset(d->one_hot, 0, (size_t)j * (size_t)d->n_vocab * sizeof *d->one_hot);
    for (int32_t i = 0; i < j; i++)
        d->one_hot[(size_t)i * (size_t)d->n_vocab + (size_t)d->drafts[i]] = 1.0f;
    return d->one_hot;
}

int sd_decoder_generate(sd_decoder *d, const int32_t *prompt, int32_t n_prompt, int32_t n_cached,
                        int32_t n_predict, sd_emit_fn emit, void *user, sd_stats *stats, char *err,
                        size_t err_len) {
    sd_stats st;
    memset(&st, 0, sizeof st);
    st.k_trace = d->k_trace;
    st.kv_bytes = sd_verifier_kv_bytes(d->verifier) + (d->drafter ? sd_drafter_kv_bytes(d->drafter) : 0);
    *stats = st;
    if (n_prompt < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "empty prompt");
    if (n_prompt >= d->n_ctx)
        return sd_error(
            err, err_len, SD_STATUS_CONTEXT_FULL,
            "prompt of %d tokens does not fit the context of %d tokens (one position must remain for "
            "generation)",
            n_prompt, d->n_ctx);
    if (n_cached < 0 || n_cached > n_prompt - 1 || n_cached != sd_verifier_n_past(d->verifier))
        n_cached = 0; /* not what the cache holds: start afresh */
    if (n_cached == 0) {
        sd_verifier_reset(d->verifier);
        if (d->drafter) sd_drafter_reset(d->drafter);
        if (d->cfg.xvocab) sd_xvocab_reset(d->cfg.xvocab);
    }
    /* the n-gram index keeps what the new context shares with the last one (indexed lazily) */
    if (d->ngram) sd_ngram_truncate(d->ngram, n_cached);
    memcpy(d->ctx, prompt, (size_t)n_prompt * sizeof *prompt);
    int32_t n_tokens = n_prompt;

    double t0 = sd_time_seconds();
    int rc = sd_verifier_prefill(d->verifier, prompt + n_cached, n_prompt - 1 - n_cached, err, err_len);
    /* a paused draft (see spec/controller.h) catches up, from a recent window, when drafting resumes */
    if (rc == 0 && d->drafter && !sd_controller_draft_idle(&d->ctrl))
        rc = d->cfg.xvocab ? sd_xvocab_sync(d->cfg.xvocab, prompt, n_prompt - 1, err, err_len)
                           : sd_drafter_sync(d->drafter, prompt, n_prompt - 1, err, err_len);
    if (rc < 0) return rc;
    double t1 = sd_time_seconds();
    st.n_prompt = n_prompt - n_cached;
    st.t_prompt_s = t1 - t0;
    st.stop = SD_STOP_LENGTH;
    const bool speculative = d->drafter || d->ngram;
    double t_single_sum = 0;
    int32_t n_single = 0;

    bool done = n_predict == 0;
    while (!done) {
        int32_t n_past = sd_verifier_n_past(d->verifier);
        int32_t room = d->n_ctx - n_past - 1; /* positions left after the pending token */
        if (room < 0) {
            rc = d->cfg.shift_keep >= 0 ? shift_context(d, &n_tokens, err, err_len) : SD_STATUS_CONTEXT_FULL;
            if (rc == SD_STATUS_CONTEXT_FULL) {
                st.stop = SD_STOP_CONTEXT_FULL;
                break;
            }
            if (rc < 0) return rc;
            st.n_ctx_shifts++;
            continue;
        }
        if (st.n_rounds == d->k_trace_cap) { /* generation past the context (shifting) */
            int32_t *grown = realloc(d->k_trace, 2 * (size_t)d->k_trace_cap * sizeof *grown);
            if (!grown) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
            d->k_trace = grown;
            d->k_trace_cap *= 2;
            st.k_trace = grown;
        }
        /* the draft length: the controller's bound, within the room the context leaves and the tokens
         * still wanted (the target's own token follows the drafts) */
        int32_t k =
            speculative ? sd_controller_begin_round(&d->ctrl, SD_MIN(room, n_predict - st.n_gen - 1)) : 0;
        double ta = sd_time_seconds();
        /* the n-gram proposal costs a few hash look-ups: made every round, so that the controller can
         * choose the source knowing it (and score it, whoever drafts) */
        int32_t n_ngram = 0, order = 0;
        if (k > 0 && d->ngram) {
            n_ngram = sd_ngram_propose(d->ngram, d->ctx, n_tokens, SD_MIN(k, d->cfg.k_max), d->ngram_drafts,
                                       &order);
            for (int32_t i = 0; i < n_ngram; i++)
                d->ngram_conf[i] = sd_ngram_confidence(order);
        }
        const sd_draft_source src =
            k > 0 ? sd_controller_choose_source(&d->ctrl, n_ngram, n_ngram > 0 ? d->ngram_conf[0] : 0.0f)
                  : SD_SOURCE_NONE;
        sd_schedule schedule = sd_scheduler_begin_round(d->cfg.scheduler, src == SD_SOURCE_MODEL);
        int32_t j = 0;
        if (src == SD_SOURCE_MODEL) {
            j = d->cfg.xvocab
                    ? sd_xvocab_propose(d->cfg.xvocab, d->ctx, n_tokens, k, &d->stop, d->drafts, err, err_len)
                    : sd_drafter_propose(d->drafter, d->ctx, n_tokens, k, &d->stop, d->drafts, err, err_len);
            if (j < 0) return j;
        } else if (src == SD_SOURCE_NGRAM) {
            j = gate_ngram(d, n_ngram);
        }
        double tb = sd_time_seconds();
        sd_spec_result res;
        const bool sampling = !sd_sampler_is_greedy(sd_verifier_sampler(d->verifier));
        const float *q = j == 0 || !sampling                        ? NULL
                         : src == SD_SOURCE_MODEL && !d->cfg.xvocab ? sd_drafter_q(d->drafter)
                                                                    : one_hot_rows(d, j);
        bool pipelined = schedule == SD_SCHEDULE_PIPE && src == SD_SOURCE_MODEL && !d->cfg.xvocab;
        if (pipelined) {
            /* Draft the next round on the draft's CPUs while the target verifies this one. */
            d->job = (extend_job){d->drafter, d->ctx, n_tokens, d->drafts, j, k, &d->stop, 0, {0}};
            sd_background_start(sd_scheduler_background(d->cfg.scheduler), run_extend, &d->job);
        }
        rc = sd_verifier_verify(d->verifier, d->ctx[n_tokens - 1], d->drafts, j, q, &res, err, err_len);
        if (pipelined) {
            sd_background_wait(sd_scheduler_background(d->cfg.scheduler));
            if (rc == 0 && d->job.rc < 0) rc = sd_error(err, err_len, d->job.rc, "%s", d->job.err);
        }
        if (rc < 0) return rc;
        double tc = sd_time_seconds();
        d->drafts[res.n_accepted] = res.next_token; /* the round's tokens: d->drafts[0..n_accepted] */
        if (speculative) end_round(d, src, j, n_ngram, &res, tb - ta, tc - tb);
        if (j == 0) t_single_sum += tc - tb, n_single++;
        st.t_draft_s += tb - ta;
        double ts = sd_verifier_last_sample_seconds(d->verifier);
        st.t_verify_s += tc - tb - ts;
        st.t_sample_s += ts;
        d->k_trace[st.n_rounds++] = j;
        st.n_k_trace = st.n_rounds;
        st.n_drafted += j;
        st.n_accepted += res.n_accepted;
        if (src == SD_SOURCE_NGRAM) st.n_drafted_ngram += j, st.n_accepted_ngram += res.n_accepted;
        for (int32_t i = 0; i < j && i < SD_MAX_DRAFT_LEN; i++) {
            st.drafted_at[i]++;
            if (i < res.n_accepted) st.accepted_at[i]++;
        }
        sd_scheduler_end_round(d->cfg.scheduler, tc - ta, res.n_accepted + 1);
        for (int32_t i = 0; i <= res.n_accepted && !done; i++) {
            int32_t tok = d->drafts[i];
            d->ctx[n_tokens++] = tok;
            st.n_gen++;
            bool go = emit ? emit(user, tok) : true;
            if (sd_vocab_is_eog(d->vocab, tok)) {
                st.stop = SD_STOP_EOG;
                done = true;
            } else if (!go) {
                st.stop = SD_STOP_CALLBACK;
                done = true;
            } else if (st.n_gen >= n_predict) {
                done = true;
            }
        }
    }
    st.t_gen_s = sd_time_seconds() - t1;
    /* Without a plain round in this generation, the controller's estimate (measured in earlier rounds or
     * extrapolated from the batched passes). */
    st.t_target_token_s = n_single      ? t_single_sum / n_single
                          : speculative ? sd_controller_verify_cost(&d->ctrl, 1)
                                        : 0;
    *stats = st;
    return SD_STATUS_OK;
}
