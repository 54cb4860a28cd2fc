/* The public API (include/specdec.h): model handles, tokenizer wrappers, and the generation engine. */
#include "specdec.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "common/sd_common.h"
#include "draft/drafter.h"
#include "draft/xvocab.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "spec/decode.h"
#include "spec/schedule.h"
#include "target/verifier.h"
#include "utf8_stream.h"

/* The public codes are the internal ones under public names. */
_Static_assert((int)SD_OK == (int)SD_STATUS_OK && (int)SD_ERR_FORMAT == (int)SD_STATUS_FORMAT &&
                   (int)SD_ERR_MISMATCH == (int)SD_STATUS_MISMATCH &&
                   (int)SD_ERR_INTERNAL == (int)SD_STATUS_INTERNAL,
               "public and internal status codes agree");

const char *sd_status_name(int status) {
    switch (status) {
    case SD_OK:
        return "ok";
    case SD_ERR_INVALID_ARGUMENT:
        return "invalid argument";
    case SD_ERR_IO:
        return "i/o error";
    case SD_ERR_FORMAT:
        return "bad file format";
    case SD_ERR_UNSUPPORTED:
        return "unsupported";
    case SD_ERR_NO_MEMORY:
        return "out of memory";
    case SD_ERR_CONTEXT_FULL:
        return "context full";
    case SD_ERR_MISMATCH:
        return "mismatch";
    case SD_ERR_INTERNAL:
        return "internal error";
    default:
        return "unknown status";
    }
}

/* ---- models ---- */

sd_model_params sd_model_default_params(void) {
    return (sd_model_params){.kernels = NULL};
}

int sd_model_load(const char *path, sd_model **out, char *err, size_t err_len) {
    const sd_model_params params = sd_model_default_params();
    return sd_model_load_with(path, &params, out, err, err_len);
}

int sd_model_load_with(const char *path, const sd_model_params *params, sd_model **out, char *err,
                       size_t err_len) {
    if (!path || !out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no model path given");
    return sd_model_load_file_with(path, params ? params->kernels : NULL, out, err, err_len);
}

void sd_model_free(sd_model *model) {
    sd_model_free_internal(model);
}

void sd_model_get_info(const sd_model *m, sd_model_info *out) {
    const sd_hparams *hp = &m->hp;
    memset(out, 0, sizeof *out);
    out->arch = sd_arch_name(hp->arch);
    out->name = m->name;
    out->tokenizer = sd_vocab_model_name(m->vocab);
    out->pre_tokenizer = sd_vocab_pre_name(m->vocab);
    out->n_vocab = hp->n_vocab;
    out->n_ctx_train = hp->n_ctx_train;
    out->n_embd = hp->n_embd;
    out->n_layer = hp->n_layer;
    out->n_head = hp->n_head;
    out->n_head_kv = hp->n_head_kv;
    out->head_dim = hp->head_dim;
    out->n_ff = hp->n_ff;
    out->rope_freq_base = hp->rope_freq_base;
    out->tied_output = hp->tied_output;
    out->n_params = m->n_params;
    out->weight_bytes = m->weight_bytes;
    out->file_bytes = sd_gguf_file_size(m->gguf);
    out->kernels = sd_gemm_kernels_name(m->kernels);
    out->gguf_version = sd_gguf_version(m->gguf);
    out->bos = sd_vocab_bos(m->vocab);
    out->eos = sd_vocab_eos(m->vocab);
}

void sd_model_foreach_weight_type(const sd_model *m,
                                  void (*fn)(const char *type_name, int n_tensors, uint64_t bytes,
                                             void *user),
                                  void *user) {
    int counts[SD_TYPE_COUNT] = {0};
    uint64_t bytes[SD_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < sd_gguf_n_tensors(m->gguf); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(m->gguf, i);
        if (t->type < SD_TYPE_COUNT) {
            counts[t->type]++;
            bytes[t->type] += t->n_bytes;
        }
    }
    for (uint32_t ty = 0; ty < SD_TYPE_COUNT; ty++)
        if (counts[ty]) fn(sd_type_traits_of(ty)->name, counts[ty], bytes[ty], user);
}

int sd_model_tokenize(const sd_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                      int32_t *tokens, int max_tokens, char *err, size_t err_len) {
    return sd_tokenize(m->vocab, text, len, add_special, parse_special, tokens, max_tokens, err, err_len);
}

int sd_model_token_to_piece(const sd_model *m, int32_t token, bool special, char *buf, size_t buf_len) {
    return sd_token_to_piece(m->vocab, token, special, buf, buf_len);
}

int sd_model_detokenize(const sd_model *m, const int32_t *tokens, int n, bool special, char *buf,
                        size_t buf_len) {
    return sd_detokenize(m->vocab, tokens, n, special, false, buf, buf_len);
}

int sd_model_vocab_relation(const sd_model *target, const sd_model *draft, sd_vocab_relation *out, char *err,
                            size_t err_len) {
    return sd_vocab_relate(target->vocab, draft->vocab, out, err, err_len);
}

bool sd_model_is_eog(const sd_model *m, int32_t token) {
    return sd_vocab_is_eog(m->vocab, token);
}

int sd_model_chat_template(const sd_model *m, char *buf, size_t buf_len) {
    return sd_chat_template_text_from_gguf(m->gguf, buf, buf_len);
}

/* ---- sampling ---- */

sd_sampling_params sd_sampling_default_params(void) {
    sd_sampling_params p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .seed = 42,
    };
    return p;
}

static sd_sampler_params to_sampler_params(const sd_sampling_params *p) {
    sd_sampler_params s = sd_sampler_default_params();
    s.temp = p->temp;
    s.top_k = p->top_k;
    s.top_p = p->top_p;
    s.min_p = p->min_p;
    s.repeat_penalty = p->repeat_penalty;
    s.repeat_last_n = p->repeat_last_n;
    s.seed = p->seed;
    return s;
}

/* The target's end-of-generation tokens (caller frees), for ignore_eos; *n = 0 and NULL when it has none.
 * Returns false when out of memory. */
static bool eog_tokens(const sd_model *target, int32_t **out, int32_t *n) {
    const int32_t n_vocab = target->hp.n_vocab;
    *out = NULL;
    *n = 0;
    for (int32_t id = 0; id < n_vocab; id++) {
        if (!sd_vocab_is_eog(target->vocab, id)) continue;
        int32_t *grown = realloc(*out, (size_t)(*n + 1) * sizeof *grown);
        if (!grown) {
            free(*out);
            *out = NULL;
            *n = 0;
            return false;
        }
        *out = grown;
        (*out)[(*n)++] = id;
    }
    return true;
}

/* ---- engines ---- */

struct sd_engine {
    sd_model *target, *draft;
    sd_engine_params params;
    sd_scheduler *scheduler; /* CPUs, pools and the schedule of both roles */
    sd_verifier *verifier;
    sd_drafter *drafter;
    sd_xvocab *xvocab; /* a draft of another vocabulary drafts through it (NULL: same vocabulary) */
    sd_vocab_relation relation;
    sd_decoder *decoder;
    char *piece; /* token piece buffer */
    size_t piece_cap;
    char *text; /* piece + held UTF-8 bytes */
    /* [n_ctx + 1] the tokens of the last generation (prompt, then each generated token): the verifier's
     * cache holds the KV entries of its first min(n_cached, verifier n_past) (sd_engine_continue) */
    int32_t *cached;
    int32_t n_cached;
};

sd_engine_params sd_engine_default_params(void) {
    sd_engine_params p = {
        .n_ctx = 0,
        .n_batch = 0,
        .n_threads = 0,
        .sampling = sd_sampling_default_params(),
        .spec = 0,
        .draft_k = -1,
        .draft_min = 0,
        .draft_max = 16,
        .draft_p_min = 0.0f,
        .schedule = SD_SCHEDULE_AUTO,
        .draft_cpus = NULL,
        .target_cpus = NULL,
        .n_threads_draft = 0,
        .cache_type_k = SD_CACHE_F16,
        .cache_type_v = SD_CACHE_F16,
        .cache_type_k_draft = SD_CACHE_F16,
        .cache_type_v_draft = SD_CACHE_F16,
        .context_shift = false,
        .n_keep = 4,
    };
    return p;
}

static int check_params(const sd_engine_params *p, char *err, size_t err_len) {
    if (p->n_ctx < SD_CTX_TRAINED || p->n_batch < 0 || p->n_threads < 0 || p->n_threads_draft < 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "context, batch and threads must not be negative");
    if (p->n_keep < 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "n_keep must not be negative");
    if (p->n_threads > 1024 || p->n_threads_draft > 1024)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "too many threads");
    if (p->draft_k < -1 || p->draft_k > SD_MAX_DRAFT_LEN)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "draft length %d outside [-1, %d]",
                        p->draft_k, SD_MAX_DRAFT_LEN);
    if (p->draft_min < 0 || p->draft_max > SD_MAX_DRAFT_LEN || p->draft_min > p->draft_max)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "draft bounds [%d, %d] must lie within [0, %d]", p->draft_min, p->draft_max,
                        SD_MAX_DRAFT_LEN);
    if (!(p->draft_p_min >= 0.0f && p->draft_p_min <= 1.0f))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "draft confidence threshold must be in [0, 1]");
    if (p->spec & ~(SD_SPEC_DRAFT | SD_SPEC_NGRAM))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown draft source bits 0x%x", p->spec);
    if (p->schedule != SD_SCHEDULE_AUTO && p->schedule != SD_SCHEDULE_SEQ && p->schedule != SD_SCHEDULE_PIPE)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown schedule %d", (int)p->schedule);
    return SD_STATUS_OK;
}

int sd_engine_create(sd_model *target, sd_model *draft, const sd_engine_params *params, sd_engine **out,
                     char *err, size_t err_len) {
    *out = NULL;
    if (!target) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no target model");
    sd_engine_params p = params ? *params : sd_engine_default_params();
    int rc = check_params(&p, err, err_len);
    if (rc < 0) return rc;
    sd_vocab_relation rel = {0};
    if (draft) {
        if ((rc = sd_model_vocab_relation(target, draft, &rel, err, err_len)) < 0) return rc;
        char why[256] = "";
        if (!rel.same) sd_vocab_check_compatible(target->vocab, draft->vocab, why, sizeof why);
        if (!rel.same && p.no_cross_vocab)
            return sd_error(
                err, err_len, SD_STATUS_MISMATCH,
                "the draft's vocabulary does not match the target's (cross-vocabulary drafting is "
                "off): %s",
                why[0] ? why : "sizes differ by more than padding");
        if (!rel.same && rel.n_shared == 0)
            return sd_error(err, err_len, SD_STATUS_MISMATCH,
                            "the draft's vocabulary shares no token string with the target's, so it cannot "
                            "draft for it even by text: %s",
                            why);
    }
    /* the draft sources: by default both with a draft model, none without */
    if (p.spec == 0) p.spec = draft ? SD_SPEC_DRAFT | SD_SPEC_NGRAM : 0;
    if ((p.spec & SD_SPEC_DRAFT) && !draft)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "the draft source needs a draft model");
    if (p.n_ctx == 0) p.n_ctx = SD_MIN(target->hp.n_ctx_train, 4096);
    if (p.n_ctx == SD_CTX_TRAINED) p.n_ctx = target->hp.n_ctx_train;
    if (p.n_batch == 0) p.n_batch = 64;

    sd_engine *e = calloc(1, sizeof *e);
    if (!e) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    e->target = target;
    e->draft = draft;
    e->params = p;
    e->relation = rel;
    int32_t k_max = !p.spec ? 0 : p.draft_k >= 0 ? p.draft_k : p.draft_max;
    sd_sampler_params sp = to_sampler_params(&p.sampling);
    int32_t *banned = NULL; /* read by the samplers' create calls below, then freed */
    if (p.sampling.ignore_eos) {
        if (!eog_tokens(target, &banned, &sp.n_banned)) {
            rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
            goto fail;
        }
        sp.banned = banned;
    }
    sd_decode_config cfg = {
        .sources = p.spec,
        .k_min = !p.spec          ? 0
                 : p.draft_k >= 0 ? p.draft_k
                                  : p.draft_min,
        .k_max = k_max,
        .p_min = p.draft_p_min,
        .shift_keep = p.context_shift ? p.n_keep : -1,
    };
    const bool model_drafts = (p.spec & SD_SPEC_DRAFT) && k_max > 0;
    if ((rc = sd_scheduler_create(&p, model_drafts, &e->scheduler, err, err_len)) < 0) goto fail;
    rc = sd_verifier_create(target, p.n_ctx, k_max, p.n_batch, p.cache_type_k, p.cache_type_v, &sp,
                            sd_scheduler_largest_target_pool(e->scheduler), &e->verifier, err, err_len);
    if (rc < 0) goto fail;
    if (model_drafts) {
        if (rel.same) {
            rc = sd_drafter_create(draft, target->hp.n_vocab, p.n_ctx, k_max, p.n_batch, p.cache_type_k_draft,
                                   p.cache_type_v_draft, &sp, sd_scheduler_largest_draft_pool(e->scheduler),
                                   &e->drafter, err, err_len);
        } else {
            /* the draft's own ids and sampler (the banned list holds target ids); its text may take more
             * tokens than the target's */
            sd_sampler_params dsp = sp;
            dsp.banned = NULL;
            dsp.n_banned = 0;
            const int32_t n_ctx_draft = 2 * p.n_ctx;
            rc = sd_drafter_create(draft, draft->hp.n_vocab, n_ctx_draft, SD_MAX_DRAFT_LEN, p.n_batch,
                                   p.cache_type_k_draft, p.cache_type_v_draft, &dsp,
                                   sd_scheduler_largest_draft_pool(e->scheduler), &e->drafter, err, err_len);
            if (rc == 0)
                rc = sd_xvocab_create(target->vocab, draft->vocab, e->drafter, p.n_ctx + 1, n_ctx_draft,
                                      &e->xvocab, err, err_len);
        }
        if (rc < 0) goto fail;
    }
    free(banned);
    banned = NULL;
    sd_scheduler_place_memory(e->scheduler, target, e->verifier, e->drafter ? draft : NULL, e->drafter);
    if ((rc = sd_scheduler_start(e->scheduler, e->verifier, e->drafter, err, err_len)) < 0) goto fail;
    cfg.scheduler = e->scheduler;
    cfg.xvocab = e->xvocab;
    rc = sd_decoder_create(e->verifier, e->drafter, target->vocab, &cfg, p.n_ctx, &e->decoder, err, err_len);
    if (rc < 0) goto fail;
    e->piece_cap = 256;
    e->piece = malloc(e->piece_cap);
    e->text = malloc(e->piece_cap + 8);
    e->cached = malloc(((size_t)p.n_ctx + 1) * sizeof *e->cached);
    if (!e->piece || !e->text || !e->cached) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    *out = e;
    return SD_STATUS_OK;
fail:
    free(banned);
    sd_engine_free(e);
    return rc;
}

int sd_engine_set_sampling(sd_engine *e, const sd_sampling_params *sampling, char *err, size_t err_len) {
    if (!e || !sampling) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no engine or sampling");
    sd_sampler_params sp = to_sampler_params(sampling);
    int32_t *banned = NULL;
    if (sampling->ignore_eos) {
        if (!eog_tokens(e->target, &banned, &sp.n_banned))
            return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        sp.banned = banned;
    }
    /* the target sampler's history is the tokens its cache holds */
    int32_t n_history = SD_MIN(e->n_cached, sd_verifier_n_past(e->verifier));
    int rc = sd_verifier_set_sampler(e->verifier, &sp, e->cached, n_history, err, err_len);
    if (rc == 0 && e->drafter) rc = sd_drafter_set_sampler(e->drafter, &sp, err, err_len);
    free(banned);
    if (rc < 0) return rc;
    e->params.sampling = *sampling;
    return SD_STATUS_OK;
}

void sd_engine_free(sd_engine *e) {
    if (!e) return;
    sd_decoder_free(e->decoder);
    sd_xvocab_free(e->xvocab);
    sd_drafter_free(e->drafter);
    sd_verifier_free(e->verifier);
    sd_scheduler_free(e->scheduler);
    free(e->piece);
    free(e->text);
    free(e->cached);
    free(e);
}

sd_schedule sd_engine_schedule(const sd_engine *e) {
    return sd_scheduler_decided(e->scheduler);
}

void sd_engine_describe(const sd_engine *e, char *buf, size_t buf_len) {
    sd_scheduler_describe(e->scheduler, buf, buf_len);
    size_t n = strlen(buf);
    if (e->xvocab && n + 1 < buf_len)
        snprintf(buf + n, buf_len - n,
                 "; cross-vocabulary draft by text (%d of the draft's %d token strings in the target's %d)",
                 e->relation.n_shared, e->relation.n_draft, e->relation.n_target);
}

const float *sd_engine_last_logits(const sd_engine *e) {
    return sd_verifier_last_logits(e->verifier);
}

int sd_engine_eval(sd_engine *e, const int32_t *prompt, int32_t n_prompt, char *err, size_t err_len) {
    if (!prompt || n_prompt < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "empty prompt");
    if (n_prompt > sd_verifier_n_ctx(e->verifier))
        return sd_error(err, err_len, SD_STATUS_CONTEXT_FULL,
                        "prompt of %d tokens does not fit the context of %d tokens", n_prompt,
                        sd_verifier_n_ctx(e->verifier));
    sd_verifier_reset(e->verifier);
    int rc = sd_verifier_prefill(e->verifier, prompt, n_prompt, err, err_len);
    e->n_cached = rc < 0 ? 0 : n_prompt;
    memcpy(e->cached, prompt, (size_t)e->n_cached * sizeof *prompt);
    return rc;
}

typedef struct emit_ctx {
    sd_engine *e;
    sd_utf8_stream utf8;
    sd_token_callback cb;
    void *user;
    int32_t *tokens_out;
    int32_t max_out, n_out;
} emit_ctx;

/* Records a token, turns it into text for the callback (holding incomplete UTF-8) and calls it. */
static bool emit_token(void *user, int32_t token) {
    emit_ctx *c = user;
    sd_engine *e = c->e;
    if (c->tokens_out && c->n_out < c->max_out) c->tokens_out[c->n_out] = token;
    c->n_out++;
    if (e->n_cached <= e->params.n_ctx) e->cached[e->n_cached++] = token;
    if (!c->cb || sd_vocab_is_eog(e->target->vocab, token)) return true;
    int n = sd_token_to_piece(e->target->vocab, token, false, e->piece, e->piece_cap);
    if (n > (int)e->piece_cap) {
        char *p = realloc(e->piece, (size_t)n), *t = realloc(e->text, (size_t)n + 8);
        if (p) e->piece = p;
        if (t) e->text = t;
        if (!p || !t) return c->cb(c->user, token, "", 0);
        e->piece_cap = (size_t)n;
        n = sd_token_to_piece(e->target->vocab, token, false, e->piece, e->piece_cap);
    }
    if (n < 0) n = 0;
    size_t ready = sd_utf8_stream_push(&c->utf8, e->piece, (size_t)n, e->text);
    return c->cb(c->user, token, e->text, ready);
}

/* The number of leading prompt tokens whose KV entries the target's cache holds, after rolling the cache
 * back to them (0 when nothing is shared or the rollback is not possible). One token is always left for
 * the decoder to feed as the pending one. */
static int32_t keep_cached_prefix(sd_engine *e, const int32_t *prompt, int32_t n_prompt) {
    int32_t n_past = sd_verifier_n_past(e->verifier);
    int32_t limit = SD_MIN(SD_MIN(e->n_cached, n_past), n_prompt - 1);
    int32_t n_keep = 0;
    while (n_keep < limit && e->cached[n_keep] == prompt[n_keep])
        n_keep++;
    if (n_keep < n_past && sd_verifier_truncate(e->verifier, n_keep) < 0) return 0;
    return n_keep;
}

/* sd_engine_generate (keep_cache false) and sd_engine_continue (true). */
static int generate(sd_engine *e, bool keep_cache, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                    sd_token_callback cb, void *user, int32_t *tokens_out, int32_t max_out, sd_stats *stats,
                    char *err, size_t err_len) {
    sd_stats st;
    memset(&st, 0, sizeof st);
    if (stats) *stats = st;
    if (n_predict < 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "n_predict must not be negative");
    if (!prompt && n_prompt > 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no prompt");
    int32_t n_keep = keep_cache && n_prompt > 0 && n_prompt < e->params.n_ctx
                         ? keep_cached_prefix(e, prompt, n_prompt)
                         : 0;
    e->n_cached = 0;
    if (n_prompt > 0 && n_prompt < e->params.n_ctx) {
        memcpy(e->cached, prompt, (size_t)n_prompt * sizeof *prompt);
        e->n_cached = n_prompt;
    }
    emit_ctx c = {e, {{0}, 0}, cb, user, tokens_out, max_out, 0};
    int rc = sd_decoder_generate(e->decoder, prompt, n_prompt, n_keep, n_predict, emit_token, &c, &st, err,
                                 err_len);
    if (rc < 0) {
        e->n_cached = 0; /* the caches may hold part of a failed pass */
        return rc;
    }
    st.n_prompt_reused = n_keep;
    /* a shifted cache holds its first n_keep positions as a fresh run would, the rest moved */
    if (st.n_ctx_shifts > 0) e->n_cached = SD_MIN(e->n_cached, e->params.n_keep);
    size_t tail = sd_utf8_stream_flush(&c.utf8, e->text);
    if (cb && tail > 0 && st.stop != SD_STOP_CALLBACK) cb(user, -1, e->text, tail);
    if (stats) *stats = st;
    return SD_STATUS_OK;
}

int sd_engine_generate(sd_engine *e, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                       sd_token_callback cb, void *user, int32_t *tokens_out, int32_t max_out,
                       sd_stats *stats, char *err, size_t err_len) {
    return generate(e, false, prompt, n_prompt, n_predict, cb, user, tokens_out, max_out, stats, err,
                    err_len);
}

int sd_engine_continue(sd_engine *e, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                       sd_token_callback cb, void *user, int32_t *tokens_out, int32_t max_out,
                       sd_stats *stats, char *err, size_t err_len) {
    return generate(e, true, prompt, n_prompt, n_predict, cb, user, tokens_out, max_out, stats, err, err_len);
}
