/* The public API (include/specdec.h): model handles, tokenizer wrappers, and the generation engine. */
#include "specdec.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "gemm/threadpool.h"
#include "model/forward.h"
#include "model/model.h"
#include "sampler/sampler.h"
#include "utf8_stream.h"

/* The public codes are the internal ones under public names. */
_Static_assert((int)SD_OK == (int)SD_STATUS_OK && (int)SD_ERR_FORMAT == (int)SD_STATUS_FORMAT &&
                   (int)SD_ERR_MISMATCH == (int)SD_STATUS_MISMATCH && (int)SD_ERR_INTERNAL == (int)SD_STATUS_INTERNAL,
               "public and internal status codes agree");

const char *sd_status_name(int status) {
    switch (status) {
    case SD_OK: return "ok";
    case SD_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SD_ERR_IO: return "i/o error";
    case SD_ERR_FORMAT: return "bad file format";
    case SD_ERR_UNSUPPORTED: return "unsupported";
    case SD_ERR_NO_MEMORY: return "out of memory";
    case SD_ERR_CONTEXT_FULL: return "context full";
    case SD_ERR_MISMATCH: return "mismatch";
    case SD_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

/* ---- models ---- */

int sd_model_load(const char *path, sd_model **out, char *err, size_t err_len) {
    if (!path || !out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no model path given");
    return sd_model_load_file(path, out, err, err_len);
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
    out->gguf_version = sd_gguf_version(m->gguf);
    out->bos = sd_vocab_bos(m->vocab);
    out->eos = sd_vocab_eos(m->vocab);
}

void sd_model_foreach_weight_type(const sd_model *m,
                                  void (*fn)(const char *type_name, int n_tensors, uint64_t bytes, void *user),
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

int sd_model_detokenize(const sd_model *m, const int32_t *tokens, int n, bool special, char *buf, size_t buf_len) {
    return sd_detokenize(m->vocab, tokens, n, special, false, buf, buf_len);
}

bool sd_model_is_eog(const sd_model *m, int32_t token) {
    return sd_vocab_is_eog(m->vocab, token);
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

/* ---- engines ---- */

struct sd_engine {
    sd_model *target;
    sd_engine_params params;
    sd_pool *pool;
    sd_forward *fwd;
    sd_sampler *sampler;
    char *piece;        /* token piece buffer */
    size_t piece_cap;
    char *text;         /* piece + held UTF-8 bytes */
};

sd_engine_params sd_engine_default_params(void) {
    sd_engine_params p = {
        .n_ctx = 0,
        .n_batch = 0,
        .n_threads = 0,
        .sampling = sd_sampling_default_params(),
    };
    return p;
}

int sd_engine_create(sd_model *target, const sd_engine_params *params, sd_engine **out, char *err,
                     size_t err_len) {
    *out = NULL;
    if (!target) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no target model");
    sd_engine_params p = params ? *params : sd_engine_default_params();
    if (p.n_ctx < 0 || p.n_batch < 0 || p.n_threads < 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "context, batch and threads must not be negative");
    if (p.n_ctx == 0) p.n_ctx = SD_MIN(target->hp.n_ctx_train, 4096);
    if (p.n_batch == 0) p.n_batch = 64;
    if (p.n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        p.n_threads = n > 0 ? (int32_t)SD_MIN(n, 256) : 1;
    }
    if (p.n_threads > 1024) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "too many threads (%d)", p.n_threads);

    sd_engine *e = calloc(1, sizeof *e);
    if (!e) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    e->target = target;
    e->params = p;
    int rc = sd_pool_create(&e->pool, p.n_threads, NULL, 0, err, err_len);
    if (rc < 0) goto fail;
    rc = sd_forward_create(target, p.n_ctx, p.n_batch, e->pool, &e->fwd, err, err_len);
    if (rc < 0) goto fail;
    sd_sampler_params sp = to_sampler_params(&p.sampling);
    rc = sd_sampler_create(&sp, target->hp.n_vocab, &e->sampler, err, err_len);
    if (rc < 0) goto fail;
    e->piece_cap = 256;
    e->piece = malloc(e->piece_cap);
    e->text = malloc(e->piece_cap + 8);
    if (!e->piece || !e->text) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto fail;
    }
    *out = e;
    return SD_STATUS_OK;
fail:
    sd_engine_free(e);
    return rc;
}

void sd_engine_free(sd_engine *e) {
    if (!e) return;
    sd_sampler_free(e->sampler);
    sd_forward_free(e->fwd);
    sd_pool_free(e->pool);
    free(e->piece);
    free(e->text);
    free(e);
}

const float *sd_engine_last_logits(const sd_engine *e) {
    return sd_forward_logits(e->fwd, -1);
}

static int check_prompt(const sd_engine *e, const int32_t *prompt, int32_t n_prompt, char *err, size_t err_len) {
    if (!prompt || n_prompt < 1) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "empty prompt");
    if (n_prompt >= sd_forward_n_ctx(e->fwd))
        return sd_error(err, err_len, SD_STATUS_CONTEXT_FULL,
                        "prompt of %d tokens does not fit the context of %d tokens (one position must remain for "
                        "generation)",
                        n_prompt, sd_forward_n_ctx(e->fwd));
    return SD_STATUS_OK;
}

int sd_engine_eval(sd_engine *e, const int32_t *prompt, int32_t n_prompt, char *err, size_t err_len) {
    int rc = check_prompt(e, prompt, n_prompt, err, err_len);
    if (rc < 0) return rc;
    sd_forward_truncate(e->fwd, 0);
    return sd_forward_run(e->fwd, prompt, n_prompt, false, err, err_len);
}

/* Turns a token into text for the callback (holding incomplete UTF-8) and calls it; false = stop. */
static bool emit_token(sd_engine *e, sd_utf8_stream *utf8, int32_t token, sd_token_callback cb, void *user) {
    if (!cb) return true;
    int n = sd_token_to_piece(e->target->vocab, token, false, e->piece, e->piece_cap);
    if (n > (int)e->piece_cap) {
        char *p = realloc(e->piece, (size_t)n), *t = realloc(e->text, (size_t)n + 8);
        if (p) e->piece = p;
        if (t) e->text = t;
        if (!p || !t) return cb(user, token, "", 0);
        e->piece_cap = (size_t)n;
        n = sd_token_to_piece(e->target->vocab, token, false, e->piece, e->piece_cap);
    }
    if (n < 0) n = 0;
    size_t ready = sd_utf8_stream_push(utf8, e->piece, (size_t)n, e->text);
    return cb(user, token, e->text, ready);
}

int sd_engine_generate(sd_engine *e, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                       sd_token_callback cb, void *user, int32_t *tokens_out, int32_t max_out, sd_stats *stats,
                       char *err, size_t err_len) {
    sd_stats st;
    memset(&st, 0, sizeof st);
    if (stats) *stats = st;
    if (n_predict < 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "n_predict must not be negative");
    int rc = check_prompt(e, prompt, n_prompt, err, err_len);
    if (rc < 0) return rc;

    sd_sampler_reset(e->sampler);
    for (int32_t i = 0; i < n_prompt; i++) sd_sampler_accept(e->sampler, prompt[i]);
    double t0 = sd_time_seconds();
    sd_forward_truncate(e->fwd, 0);
    rc = sd_forward_run(e->fwd, prompt, n_prompt, false, err, err_len);
    if (rc < 0) return rc;
    st.n_prompt = n_prompt;
    double t1 = sd_time_seconds();
    st.t_prompt_s = t1 - t0;

    sd_utf8_stream utf8 = {{0}, 0};
    st.stop = SD_STOP_LENGTH;
    while (st.n_gen < n_predict) {
        double ts = sd_time_seconds();
        int32_t token = sd_sampler_sample(e->sampler, sd_forward_logits(e->fwd, -1));
        sd_sampler_accept(e->sampler, token);
        st.t_sample_s += sd_time_seconds() - ts;
        if (tokens_out && st.n_gen < max_out) tokens_out[st.n_gen] = token;
        st.n_gen++;
        if (sd_vocab_is_eog(e->target->vocab, token)) {
            st.stop = SD_STOP_EOG;
            break;
        }
        if (!emit_token(e, &utf8, token, cb, user)) {
            st.stop = SD_STOP_CALLBACK;
            break;
        }
        if (st.n_gen == n_predict) break;
        if (sd_forward_n_past(e->fwd) >= sd_forward_n_ctx(e->fwd)) {
            st.stop = SD_STOP_CONTEXT_FULL;
            break;
        }
        rc = sd_forward_run(e->fwd, &token, 1, false, err, err_len);
        if (rc < 0) return rc;
    }
    size_t tail = sd_utf8_stream_flush(&utf8, e->text);
    if (cb && tail > 0 && st.stop != SD_STOP_CALLBACK) cb(user, -1, e->text, tail);
    st.t_gen_s = sd_time_seconds() - t1;
    if (stats) *stats = st;
    return SD_STATUS_OK;
}
