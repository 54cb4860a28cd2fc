#include "decode.h"

#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"

/* Every this many rounds one round drafts nothing, so the cost of a plain single-token target pass
 * stays measured (the controller's k = 0 option and the speed-up estimate need it). */
#define PLAIN_ROUND_EVERY 64

struct sd_decoder {
    sd_verifier *verifier;
    sd_drafter *drafter;
    const sd_vocab *vocab;
    sd_decode_config cfg;
    sd_controller ctrl;
    int32_t *ctx;      /* [n_ctx] accepted tokens: prompt and generated; the last is pending */
    int32_t n_ctx;
    int32_t *k_trace;  /* [n_ctx] */
    int32_t drafts[SD_MAX_DRAFT + 1];
};

int sd_decoder_create(sd_verifier *verifier, sd_drafter *drafter, const sd_vocab *vocab,
                      const sd_decode_config *cfg, int32_t n_ctx, sd_decoder **out, char *err, size_t err_len) {
    *out = NULL;
    sd_decoder *d = calloc(1, sizeof *d);
    if (!d) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    d->verifier = verifier;
    d->drafter = drafter;
    d->vocab = vocab;
    d->cfg = *cfg;
    d->n_ctx = n_ctx;
    d->ctx = malloc((size_t)n_ctx * sizeof *d->ctx);
    d->k_trace = malloc((size_t)n_ctx * sizeof *d->k_trace);
    if (!d->ctx || !d->k_trace) {
        sd_decoder_free(d);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    *out = d;
    return SD_STATUS_OK;
}

void sd_decoder_free(sd_decoder *d) {
    if (!d) return;
    free(d->ctx);
    free(d->k_trace);
    free(d);
}

/* The draft length for this round: the controller's choice, within the room the context leaves and
 * the tokens still wanted. */
static int32_t round_k(sd_decoder *d, int32_t round, int32_t room, int32_t wanted) {
    if (!d->drafter) return 0;
    int32_t k = sd_controller_choose(&d->ctrl);
    if (round % PLAIN_ROUND_EVERY == 0 && d->cfg.k_min == 0) k = 0;
    return SD_MAX(0, SD_MIN(k, SD_MIN(room, wanted - 1)));
}

int sd_decoder_generate(sd_decoder *d, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                        sd_emit_fn emit, void *user, sd_stats *stats, char *err, size_t err_len) {
    sd_stats st;
    memset(&st, 0, sizeof st);
    st.k_trace = d->k_trace;
    *stats = st;
    if (n_prompt < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "empty prompt");
    if (n_prompt >= d->n_ctx)
        return sd_error(err, err_len, SD_STATUS_CONTEXT_FULL,
                        "prompt of %d tokens does not fit the context of %d tokens (one position must remain for "
                        "generation)",
                        n_prompt, d->n_ctx);
    sd_verifier_reset(d->verifier);
    if (d->drafter) sd_drafter_reset(d->drafter);
    sd_controller_init(&d->ctrl, d->cfg.k_min, d->cfg.k_max);
    memcpy(d->ctx, prompt, (size_t)n_prompt * sizeof *prompt);
    int32_t n_tokens = n_prompt;

    double t0 = sd_time_seconds();
    int rc = sd_verifier_prefill(d->verifier, prompt, n_prompt - 1, err, err_len);
    if (rc == 0 && d->drafter) rc = sd_drafter_sync(d->drafter, prompt, n_prompt - 1, err, err_len);
    if (rc < 0) return rc;
    double t1 = sd_time_seconds();
    st.n_prompt = n_prompt;
    st.t_prompt_s = t1 - t0;
    st.stop = SD_STOP_LENGTH;
    double t_single_sum = 0;
    int32_t n_single = 0;

    bool done = n_predict == 0;
    while (!done) {
        int32_t n_past = sd_verifier_n_past(d->verifier);
        int32_t room = d->n_ctx - n_past - 1; /* positions left after the pending token */
        if (room < 0) {
            st.stop = SD_STOP_CONTEXT_FULL;
            break;
        }
        int32_t k = round_k(d, st.n_rounds, room, n_predict - st.n_gen);
        int32_t j = 0;
        double ta = sd_time_seconds();
        if (k > 0) {
            j = sd_drafter_propose(d->drafter, d->ctx, n_tokens, k, d->cfg.p_min, d->drafts, err, err_len);
            if (j < 0) return j;
        }
        double tb = sd_time_seconds();
        sd_spec_result res;
        const float *q = j > 0 && !sd_sampler_is_greedy(sd_verifier_sampler(d->verifier)) ? sd_drafter_q(d->drafter)
                                                                                          : NULL;
        rc = sd_verifier_verify(d->verifier, d->ctx[n_tokens - 1], d->drafts, j, q, &res, err, err_len);
        if (rc < 0) return rc;
        double tc = sd_time_seconds();
        if (d->drafter) sd_controller_update(&d->ctrl, j, res.n_accepted, tb - ta, tc - tb);
        if (j == 0) t_single_sum += tc - tb, n_single++;
        st.t_draft_s += tb - ta;
        double ts = sd_verifier_last_sample_seconds(d->verifier);
        st.t_verify_s += tc - tb - ts;
        st.t_sample_s += ts;
        d->k_trace[st.n_rounds++] = j;
        st.n_k_trace = st.n_rounds;
        st.n_drafted += j;
        st.n_accepted += res.n_accepted;
        for (int32_t i = 0; i < j && i < SD_MAX_DRAFT_LEN; i++) {
            st.drafted_at[i]++;
            if (i < res.n_accepted) st.accepted_at[i]++;
        }
        d->drafts[res.n_accepted] = res.next_token;
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
    st.t_target_token_s = n_single ? t_single_sum / n_single : 0;
    *stats = st;
    return SD_STATUS_OK;
}
