/* `specdec serve` (see server.h): routing, slots and the bounded queue, OpenAI responses and SSE streams,
 * Prometheus metrics. One thread per connection: a plain request generates on its connection's thread; a
 * stream generates on a worker thread that appends events to a buffer the connection's thread sends. */
#include "server.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "cli/json.h"
#include "request.h"

typedef struct serve_slot {
    sd_engine *engine;
    sd_sampling_params sampling; /* the engine's */
    int32_t *tokens;             /* [n_ctx + 1] the last prompt and its answer: what the cache holds */
    int32_t n_tokens;
    bool busy;
} serve_slot;

typedef struct serve_metrics {
    uint64_t requests, errors, prompt_tokens, prompt_reused, predicted, drafted, accepted;
    double prompt_s, predicted_s; /* seconds */
} serve_metrics;

struct serve_server {
    serve_config cfg;
    int32_t n_ctx;
    struct MHD_Daemon *daemon;
    uint16_t port;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t slot_freed;
    serve_slot *slots; /* [cfg.n_parallel] */
    int n_busy, n_waiting;
    serve_metrics m;
    uint64_t next_id;
    atomic_bool stopping;
};

/* One completion request from decoding to its last byte. */
typedef struct serve_job {
    serve_server *s;
    serve_request req;
    int32_t *prompt, n_prompt; /* [n_prompt] tokens */
    int32_t n_predict;
    int32_t *out_tokens; /* [n_predict] */
    serve_answer answer;
    sd_stats stats;
    char id[40];
    long long created;     /* Unix seconds */
    atomic_bool cancelled; /* the client went away */
    bool aborted;          /* generation ended for cancel or shutdown */
    int status;            /* 0, or the HTTP status of a failure (err says why) */
    char err[256];
    /* streaming */
    pthread_t worker;
    bool has_worker;
    pthread_mutex_t lock; /* guards buf..done */
    pthread_cond_t more;
    char *buf; /* [len] SSE bytes, [0..sent) already handed to the connection */
    size_t len, cap, sent;
    bool done, oom;
    size_t streamed; /* bytes of answer.text sent as events */
} serve_job;

/* ---- responses ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, cJSON *doc) {
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) return send_text(c, 500, "text/plain", "out of memory\n", 14);
    enum MHD_Result rc = send_text(c, status, "application/json", text, strlen(text));
    free(text);
    return rc;
}

/* The OpenAI error type of an HTTP status. */
static const char *error_type(int status) {
    switch (status) {
    case 401:
        return "authentication_error";
    case 404:
        return "not_found_error";
    case 405:
        return "not_supported_error";
    case 503:
        return "unavailable_error";
    case 500:
        return "server_error";
    default:
        return "invalid_request_error";
    }
}

/* {"error": {"message", "type", "code"}} */
static cJSON *error_json(int status, const char *message) {
    cJSON *doc = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(doc, "error");
    cJSON_AddStringToObject(e, "message", message);
    cJSON_AddStringToObject(e, "type", error_type(status));
    cJSON_AddNumberToObject(e, "code", status);
    return doc;
}

static enum MHD_Result send_error(serve_server *s, struct MHD_Connection *c, int status,
                                  const char *message) {
    pthread_mutex_lock(&s->lock);
    s->m.errors++;
    pthread_mutex_unlock(&s->lock);
    return send_json(c, (unsigned)status, error_json(status, message));
}

/* ---- slots and the queue ---- */

/* Takes a place in line: false when the slots are busy and the queue is full (or the server stops). */
static bool reserve_place(serve_server *s) {
    pthread_mutex_lock(&s->lock);
    bool ok = !atomic_load(&s->stopping) && s->n_busy + s->n_waiting < s->cfg.n_parallel + s->cfg.n_queue;
    if (ok) s->n_waiting++;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static int32_t shared_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb) {
    int32_t n = 0;
    while (n < na && n < nb && a[n] == b[n])
        n++;
    return n;
}

/* Waits for a free slot (after reserve_place) and takes the one whose cache shares the longest prefix
 * with the prompt, so that the next turn of a conversation reuses its cache. NULL when the server stops. */
static serve_slot *acquire_slot(serve_server *s, const int32_t *prompt, int32_t n_prompt) {
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stopping) && s->n_busy == s->cfg.n_parallel)
        pthread_cond_wait(&s->slot_freed, &s->lock);
    s->n_waiting--;
    serve_slot *best = NULL;
    int32_t best_shared = -1;
    for (int i = 0; !atomic_load(&s->stopping) && i < s->cfg.n_parallel; i++) {
        serve_slot *slot = &s->slots[i];
        int32_t shared = slot->busy ? -1 : shared_prefix(slot->tokens, slot->n_tokens, prompt, n_prompt);
        if (!slot->busy && shared > best_shared) {
            best = slot;
            best_shared = shared;
        }
    }
    if (best) {
        best->busy = true;
        s->n_busy++;
    }
    pthread_mutex_unlock(&s->lock);
    return best;
}

static void release_slot(serve_server *s, serve_slot *slot, const serve_job *j) {
    pthread_mutex_lock(&s->lock);
    slot->busy = false;
    s->n_busy--;
    const sd_stats *st = &j->stats;
    s->m.requests++;
    s->m.prompt_tokens += (uint64_t)st->n_prompt;
    s->m.prompt_reused += (uint64_t)st->n_prompt_reused;
    s->m.predicted += (uint64_t)st->n_gen;
    s->m.drafted += (uint64_t)st->n_drafted;
    s->m.accepted += (uint64_t)st->n_accepted;
    s->m.prompt_s += st->t_prompt_s;
    s->m.predicted_s += st->t_gen_s;
    pthread_cond_signal(&s->slot_freed);
    pthread_mutex_unlock(&s->lock);
}

static bool same_sampling(const sd_sampling_params *a, const sd_sampling_params *b) {
    if (a->temp <= 0 && b->temp <= 0) return a->ignore_eos == b->ignore_eos; /* greedy ignores the rest */
    return a->temp == b->temp && a->top_k == b->top_k && a->top_p == b->top_p && a->min_p == b->min_p &&
           a->repeat_penalty == b->repeat_penalty && a->repeat_last_n == b->repeat_last_n &&
           a->seed == b->seed && a->ignore_eos == b->ignore_eos;
}

/* A request that samples differently from its slot's last one (or asks for a seed, whose random stream
 * must start afresh) changes the slot engine's sampling, keeping its cache; the first gets an engine. */
static int fit_engine(serve_server *s, serve_slot *slot, const serve_request *r, char *err, size_t err_len) {
    bool fresh_seed = r->seed_given && r->sampling.temp > 0;
    if (slot->engine && !fresh_seed && same_sampling(&slot->sampling, &r->sampling)) return 0;
    if (slot->engine && sd_engine_set_sampling(slot->engine, &r->sampling, err, err_len) == 0) {
        slot->sampling = r->sampling;
        return 0;
    }
    sd_engine_free(slot->engine);
    slot->engine = NULL;
    slot->n_tokens = 0;
    sd_engine_params p = s->cfg.engine;
    p.sampling = r->sampling;
    int rc = sd_engine_create(s->cfg.target, s->cfg.draft, &p, &slot->engine, err, err_len);
    if (rc == 0) slot->sampling = r->sampling;
    return rc;
}

/* ---- generation ---- */

static void stream_append(serve_job *j, const char *text, size_t n) {
    pthread_mutex_lock(&j->lock);
    if (j->len + n > j->cap) {
        size_t cap = 2 * (j->len + n) + 256;
        char *b = realloc(j->buf, cap);
        if (!b) {
            j->oom = true;
            pthread_mutex_unlock(&j->lock);
            return;
        }
        j->buf = b;
        j->cap = cap;
    }
    memcpy(j->buf + j->len, text, n);
    j->len += n;
    pthread_cond_signal(&j->more);
    pthread_mutex_unlock(&j->lock);
}

/* One "data: JSON\n\n" event; deletes doc. */
static void stream_event(serve_job *j, cJSON *doc) {
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        j->oom = true;
        return;
    }
    stream_append(j, "data: ", 6);
    stream_append(j, text, strlen(text));
    stream_append(j, "\n\n", 2);
    free(text);
}

/* The fields every response and chunk begins with. */
static cJSON *response_head(const serve_job *j, const char *object) {
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "id", j->id);
    cJSON_AddStringToObject(doc, "object", object);
    cJSON_AddNumberToObject(doc, "created", (double)j->created);
    cJSON_AddStringToObject(doc, "model", j->s->cfg.model_id);
    return doc;
}

/* A choice holding text[0..n) (as the chat `delta`/`message` or the completion `text`). */
static cJSON *choice_json(const serve_job *j, const char *text, size_t n, const char *finish, bool delta,
                          bool with_role) {
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    if (j->req.chat) {
        cJSON *msg = cJSON_AddObjectToObject(choice, delta ? "delta" : "message");
        if (with_role) cJSON_AddStringToObject(msg, "role", "assistant");
        if (n > 0 || !delta) cJSON_AddItemToObject(msg, "content", cli_json_bytes(text, n));
    } else {
        cJSON_AddItemToObject(choice, "text", cli_json_bytes(text, n));
        cJSON_AddNullToObject(choice, "logprobs");
    }
    if (finish)
        cJSON_AddStringToObject(choice, "finish_reason", finish);
    else
        cJSON_AddNullToObject(choice, "finish_reason");
    return choice;
}

static const char *chunk_object(const serve_job *j) {
    return j->req.chat ? "chat.completion.chunk" : "text_completion";
}

/* Streams the answer's newly released bytes as one chunk. */
static void stream_released(serve_job *j) {
    if (j->answer.released <= j->streamed) return;
    cJSON *doc = response_head(j, chunk_object(j));
    cJSON *choices = cJSON_AddArrayToObject(doc, "choices");
    cJSON_AddItemToArray(choices, choice_json(j, j->answer.text + j->streamed,
                                              j->answer.released - j->streamed, NULL, true, false));
    j->streamed = j->answer.released;
    stream_event(j, doc);
}

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    serve_job *j = user;
    if (atomic_load(&j->cancelled) || atomic_load(&j->s->stopping)) {
        j->aborted = true;
        return false;
    }
    char piece[64];
    int n = token >= 0 ? sd_model_token_to_piece(j->s->cfg.target, token, true, piece, sizeof piece) : -1;
    if (n > 0 && n <= (int)sizeof piece && serve_answer_is_stop_token(&j->answer, piece, (size_t)n)) {
        j->answer.stopped = true;
        return false;
    }
    bool go = serve_answer_push(&j->answer, text, len);
    if (j->req.stream) stream_released(j);
    return go;
}

static const char *finish_reason(const serve_job *j) {
    if (j->answer.stopped || j->stats.stop == SD_STOP_EOG) return "stop";
    return "length";
}

/* Waits for a slot, generates, gives the slot back. Sets j->status on failure. */
static void run_job(serve_job *j) {
    serve_server *s = j->s;
    serve_slot *slot = acquire_slot(s, j->prompt, j->n_prompt);
    if (!slot) {
        j->status = 503;
        snprintf(j->err, sizeof j->err, "the server is shutting down");
        return;
    }
    int rc = fit_engine(s, slot, &j->req, j->err, sizeof j->err);
    if (rc == 0)
        rc = sd_engine_continue(slot->engine, j->prompt, j->n_prompt, j->n_predict, on_token, j,
                                j->out_tokens, j->n_predict, &j->stats, j->err, sizeof j->err);
    if (rc < 0) {
        j->status = rc == SD_ERR_CONTEXT_FULL ? 400 : 500;
        slot->n_tokens = 0;
    } else {
        /* what the engine's cache now holds: the prompt and the tokens generated */
        int32_t n_gen = j->stats.n_gen < j->n_predict ? j->stats.n_gen : j->n_predict;
        memcpy(slot->tokens, j->prompt, (size_t)j->n_prompt * sizeof *j->prompt);
        memcpy(slot->tokens + j->n_prompt, j->out_tokens, (size_t)n_gen * sizeof *j->out_tokens);
        slot->n_tokens = j->n_prompt + n_gen;
    }
    if (!j->answer.stopped) serve_answer_finish(&j->answer);
    if (j->answer.oom && !j->status) {
        j->status = 500;
        snprintf(j->err, sizeof j->err, "out of memory for the answer");
    }
    release_slot(s, slot, j);
}

/* llama-server's `timings`, plus acceptance by draft position and an estimate of the speed-up over plain
 * decoding (the measured single-token target pass x tokens / generation time). */
static cJSON *timings_json(const serve_job *j) {
    const sd_stats *st = &j->stats;
    cJSON *t = cJSON_CreateObject();
    cJSON_AddNumberToObject(t, "cache_n", st->n_prompt_reused);
    cJSON_AddNumberToObject(t, "prompt_n", st->n_prompt);
    cJSON_AddItemToObject(t, "prompt_ms", cli_json_number_6g(st->t_prompt_s * 1e3));
    cJSON_AddItemToObject(t, "prompt_per_second",
                          cli_json_number_6g(st->t_prompt_s > 0 ? st->n_prompt / st->t_prompt_s : 0));
    cJSON_AddNumberToObject(t, "predicted_n", st->n_gen);
    cJSON_AddItemToObject(t, "predicted_ms", cli_json_number_6g(st->t_gen_s * 1e3));
    cJSON_AddItemToObject(t, "predicted_per_second",
                          cli_json_number_6g(st->t_gen_s > 0 ? st->n_gen / st->t_gen_s : 0));
    cJSON_AddNumberToObject(t, "draft_n", st->n_drafted);
    cJSON_AddNumberToObject(t, "draft_n_accepted", st->n_accepted);
    cJSON_AddStringToObject(t, "draft_source", j->s->cfg.draft ? "model" : "none");
    int n_pos = 0;
    for (int i = 0; i < SD_MAX_DRAFT_LEN; i++)
        if (st->drafted_at[i] > 0) n_pos = i + 1;
    double rate[SD_MAX_DRAFT_LEN];
    for (int i = 0; i < n_pos; i++)
        rate[i] = st->drafted_at[i] > 0 ? (double)st->accepted_at[i] / st->drafted_at[i] : 0;
    cJSON_AddItemToObject(t, "acceptance_by_position", cli_json_numbers(rate, n_pos, true));
    cJSON_AddItemToObject(t, "drafted_by_position", cli_json_ints(st->drafted_at, n_pos));
    cJSON_AddItemToObject(t, "accepted_by_position", cli_json_ints(st->accepted_at, n_pos));
    double speedup =
        st->t_target_token_s > 0 && st->t_gen_s > 0 ? st->n_gen * st->t_target_token_s / st->t_gen_s : 0;
    cJSON_AddItemToObject(t, "speedup_estimate", cli_json_number_6g(speedup));
    return t;
}

static void add_usage_and_timings(cJSON *doc, const serve_job *j) {
    cJSON *u = cJSON_AddObjectToObject(doc, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->stats.n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", j->n_prompt + j->stats.n_gen);
    cJSON_AddItemToObject(doc, "timings", timings_json(j));
}

static cJSON *completion_json(const serve_job *j) {
    cJSON *doc = response_head(j, j->req.chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(doc, "choices");
    cJSON_AddItemToArray(choices, choice_json(j, j->answer.text ? j->answer.text : "", j->answer.len,
                                              finish_reason(j), false, true));
    add_usage_and_timings(doc, j);
    return doc;
}

static void *stream_worker(void *arg) {
    serve_job *j = arg;
    if (j->req.chat) { /* the first chunk names the role, as OpenAI's do */
        cJSON *doc = response_head(j, chunk_object(j));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "choices"), choice_json(j, "", 0, NULL, true, true));
        stream_event(j, doc);
    }
    run_job(j);
    if (j->status || (j->aborted && atomic_load(&j->s->stopping))) {
        stream_event(
            j, error_json(j->status ? j->status : 503, j->status ? j->err : "the server is shutting down"));
    } else if (!j->aborted) {
        stream_released(j);
        cJSON *doc = response_head(j, chunk_object(j));
        cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "choices"),
                             choice_json(j, "", 0, finish_reason(j), true, false));
        add_usage_and_timings(doc, j);
        stream_event(j, doc);
        stream_append(j, "data: [DONE]\n\n", 14);
    }
    pthread_mutex_lock(&j->lock);
    j->done = true;
    pthread_cond_signal(&j->more);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static void job_free(serve_job *j) {
    if (!j) return;
    serve_request_free(&j->req);
    free(j->prompt);
    free(j->out_tokens);
    serve_answer_free(&j->answer);
    free(j->buf);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->more);
    free(j);
}

/* MHD: the next bytes of a stream; blocks until the worker has some or is done. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    serve_job *j = cls;
    pthread_mutex_lock(&j->lock);
    while (j->sent == j->len && !j->done)
        pthread_cond_wait(&j->more, &j->lock);
    size_t n = j->len - j->sent < max ? j->len - j->sent : max;
    memcpy(buf, j->buf + j->sent, n);
    j->sent += n;
    bool end = n == 0;
    pthread_mutex_unlock(&j->lock);
    if (end) return j->oom ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

/* MHD: the stream's response is gone (finished, or the client disconnected): cancel and clean up. */
static void stream_free(void *cls) {
    serve_job *j = cls;
    atomic_store(&j->cancelled, true);
    if (j->has_worker) pthread_join(j->worker, NULL);
    job_free(j);
}

/* ---- requests ---- */

/* The prompt's tokens: the text, or the messages in the chat template (its control texts are the model's
 * control tokens). Returns 0 or an HTTP status with j->err. */
static int tokenize_prompt(serve_job *j) {
    const serve_config *cfg = &j->s->cfg;
    char *rendered = NULL;
    const char *text = j->req.prompt;
    if (j->req.chat) {
        int n = sd_chat_apply(cfg->chat_tmpl, j->req.messages, j->req.n_messages, true, NULL, 0, j->err,
                              sizeof j->err);
        if (n < 0) return 400;
        if (!(rendered = malloc((size_t)n + 1))) return 500;
        sd_chat_apply(cfg->chat_tmpl, j->req.messages, j->req.n_messages, true, rendered, (size_t)n + 1, NULL,
                      0);
        text = rendered;
    }
    size_t len = strlen(text);
    int n = sd_model_tokenize(cfg->target, text, len, true, j->req.chat, NULL, 0, j->err, sizeof j->err);
    int status = n < 0 ? 400 : 0;
    if (n >= 0 && !(j->prompt = malloc(((size_t)n + 1) * sizeof *j->prompt))) status = 500;
    if (!status)
        j->n_prompt = sd_model_tokenize(cfg->target, text, len, true, j->req.chat, j->prompt, n, NULL, 0);
    free(rendered);
    if (!status && j->n_prompt == 0) {
        snprintf(j->err, sizeof j->err, "the prompt is empty");
        status = 400;
    }
    if (!status && j->n_prompt >= j->s->n_ctx) {
        snprintf(j->err, sizeof j->err, "the prompt of %d tokens does not fit the context of %d tokens",
                 j->n_prompt, j->s->n_ctx);
        status = 400;
    }
    return status;
}

/* Decodes and checks a completion request into a job. Returns 0 or an HTTP status with j->err. */
static int prepare_job(serve_job *j, const char *body, size_t len, bool chat) {
    serve_server *s = j->s;
    int status =
        serve_request_parse(body, len, chat, &s->cfg.engine.sampling, &j->req, j->err, sizeof j->err);
    if (status) return status;
    if (chat && !s->cfg.chat_tmpl) {
        snprintf(j->err, sizeof j->err,
                 "the model has no chat template: start the server with --chat-template NAME");
        return 400;
    }
    if (j->req.max_tokens > s->n_ctx) {
        snprintf(j->err, sizeof j->err, "max_tokens %d is beyond the context of %d tokens", j->req.max_tokens,
                 s->n_ctx);
        return 400;
    }
    if ((status = tokenize_prompt(j))) return status;
    int32_t room = s->n_ctx - j->n_prompt;
    j->n_predict = j->req.max_tokens >= 0 ? j->req.max_tokens : s->cfg.n_predict;
    if (j->n_predict < 0 || j->n_predict > room) j->n_predict = room;
    if (!(j->out_tokens = malloc(((size_t)j->n_predict + 1) * sizeof *j->out_tokens))) return 500;
    for (int i = 0; i < j->req.n_stops; i++)
        j->answer.stops[j->answer.n_stops++] = j->req.stops[i];
    for (int i = 0; chat && sd_chat_template_stop_string(s->cfg.chat_tmpl, i) &&
                    j->answer.n_stops < SERVE_ANSWER_MAX_STOPS;
         i++)
        j->answer.stops[j->answer.n_stops++] = sd_chat_template_stop_string(s->cfg.chat_tmpl, i);
    return 0;
}

static serve_job *job_new(serve_server *s) {
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->s = s;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->more, NULL);
    pthread_mutex_lock(&s->lock);
    uint64_t id = ++s->next_id;
    pthread_mutex_unlock(&s->lock);
    snprintf(j->id, sizeof j->id, "cmpl-specdec-%llu", (unsigned long long)id);
    j->created = (long long)time(NULL);
    return j;
}

static enum MHD_Result handle_completion(serve_server *s, struct MHD_Connection *c, const char *body,
                                         size_t len, bool chat) {
    serve_job *j = job_new(s);
    if (!j) return send_error(s, c, 500, "out of memory");
    int status = prepare_job(j, body, len, chat);
    if (!status && !reserve_place(s)) {
        status = 503;
        snprintf(j->err, sizeof j->err, "the server is busy: all %d slots and the queue of %d are taken",
                 s->cfg.n_parallel, s->cfg.n_queue);
    }
    if (status) {
        enum MHD_Result rc = send_error(s, c, status, status == 500 && !j->err[0] ? "out of memory" : j->err);
        job_free(j);
        return rc;
    }
    if (!j->req.stream) {
        run_job(j);
        enum MHD_Result rc =
            j->status ? send_error(s, c, j->status, j->err) : send_json(c, 200, completion_json(j));
        job_free(j);
        return rc;
    }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (!r) {
        pthread_mutex_lock(&s->lock);
        s->n_waiting--;
        pthread_mutex_unlock(&s->lock);
        job_free(j);
        return MHD_NO;
    }
    j->has_worker = pthread_create(&j->worker, NULL, stream_worker, j) == 0;
    if (!j->has_worker) { /* no worker: end the stream at once */
        pthread_mutex_lock(&s->lock);
        s->n_waiting--;
        pthread_mutex_unlock(&s->lock);
        j->done = true;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result rc = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result handle_models(serve_server *s, struct MHD_Connection *c) {
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "object", "list");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->cfg.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "specdec");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_ctx", s->n_ctx);
    cJSON_AddBoolToObject(meta, "speculative", s->cfg.draft != NULL);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "data"), m);
    return send_json(c, 200, doc);
}

/* Prometheus text format, version 0.0.4. */
static enum MHD_Result handle_metrics(serve_server *s, struct MHD_Connection *c) {
    pthread_mutex_lock(&s->lock);
    serve_metrics m = s->m;
    int busy = s->n_busy, waiting = s->n_waiting;
    pthread_mutex_unlock(&s->lock);
    char text[2048];
    int n = snprintf(
        text, sizeof text,
        "# HELP specdec_requests_total Completion requests generated.\n# TYPE specdec_requests_total "
        "counter\n"
        "specdec_requests_total %llu\n"
        "# HELP specdec_request_errors_total Requests answered with an error.\n"
        "# TYPE specdec_request_errors_total counter\nspecdec_request_errors_total %llu\n"
        "# HELP specdec_prompt_tokens_total Prompt tokens prefilled.\n"
        "# TYPE specdec_prompt_tokens_total counter\nspecdec_prompt_tokens_total %llu\n"
        "# HELP specdec_prompt_tokens_reused_total Prompt tokens found in a slot's cache.\n"
        "# TYPE specdec_prompt_tokens_reused_total counter\nspecdec_prompt_tokens_reused_total %llu\n"
        "# HELP specdec_tokens_predicted_total Tokens generated.\n"
        "# TYPE specdec_tokens_predicted_total counter\nspecdec_tokens_predicted_total %llu\n"
        "# HELP specdec_prompt_seconds_total Seconds of prompt processing.\n"
        "# TYPE specdec_prompt_seconds_total counter\nspecdec_prompt_seconds_total %.6f\n"
        "# HELP specdec_predicted_seconds_total Seconds of generation.\n"
        "# TYPE specdec_predicted_seconds_total counter\nspecdec_predicted_seconds_total %.6f\n"
        "# HELP specdec_draft_tokens_total Draft tokens proposed.\n"
        "# TYPE specdec_draft_tokens_total counter\nspecdec_draft_tokens_total %llu\n"
        "# HELP specdec_draft_tokens_accepted_total Draft tokens accepted.\n"
        "# TYPE specdec_draft_tokens_accepted_total counter\nspecdec_draft_tokens_accepted_total %llu\n"
        "# HELP specdec_draft_acceptance_ratio Accepted over proposed draft tokens.\n"
        "# TYPE specdec_draft_acceptance_ratio gauge\nspecdec_draft_acceptance_ratio %.6f\n"
        "# HELP specdec_requests_waiting Requests in the queue for a slot.\n"
        "# TYPE specdec_requests_waiting gauge\nspecdec_requests_waiting %d\n"
        "# HELP specdec_slots_busy Slots generating.\n# TYPE specdec_slots_busy gauge\nspecdec_slots_busy "
        "%d\n"
        "# HELP specdec_slots Slots.\n# TYPE specdec_slots gauge\nspecdec_slots %d\n",
        (unsigned long long)m.requests, (unsigned long long)m.errors, (unsigned long long)m.prompt_tokens,
        (unsigned long long)m.prompt_reused, (unsigned long long)m.predicted, m.prompt_s, m.predicted_s,
        (unsigned long long)m.drafted, (unsigned long long)m.accepted,
        m.drafted ? (double)m.accepted / (double)m.drafted : 0.0, waiting, busy, s->cfg.n_parallel);
    return send_text(c, 200, "text/plain; version=0.0.4", text, n < (int)sizeof text ? (size_t)n : 0);
}

static bool authorized(const serve_server *s, struct MHD_Connection *c) {
    if (!s->cfg.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && strncmp(h, "Bearer ", 7) == 0 && strcmp(h + 7, s->cfg.api_key) == 0;
}

static enum MHD_Result route(serve_server *s, struct MHD_Connection *c, const char *url, const char *method,
                             const char *body, size_t len) {
    static const struct {
        const char *path, *method;
    } routes[] = {{"/health", "GET"},
                  {"/v1/models", "GET"},
                  {"/metrics", "GET"},
                  {"/v1/completions", "POST"},
                  {"/v1/chat/completions", "POST"}};
    int found = -1;
    for (int i = 0; i < (int)(sizeof routes / sizeof routes[0]); i++)
        if (strcmp(url, routes[i].path) == 0) found = i;
    if (found < 0) return send_error(s, c, 404, "unknown endpoint");
    if (strcmp(method, routes[found].method) != 0)
        return send_error(s, c, 405, "method not allowed for this endpoint");
    if (found > 0 && !authorized(s, c)) return send_error(s, c, 401, "invalid or missing API key");
    switch (found) {
    case 0:
        return send_text(c, 200, "application/json", "{\"status\":\"ok\"}", 15);
    case 1:
        return handle_models(s, c);
    case 2:
        return handle_metrics(s, c);
    default:
        return handle_completion(s, c, body ? body : "", len, found == 4);
    }
}

/* A request's body as it arrives. */
typedef struct serve_body {
    char *bytes;
    size_t len;
    bool too_big;
} serve_body;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_len, void **state) {
    (void)version;
    serve_server *s = cls;
    serve_body *b = *state;
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *state = b;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg.max_body) {
            b->too_big = true;
            return send_error(s, c, 413, "the request body is over the limit (--max-body)");
        }
        return MHD_YES;
    }
    if (*upload_len > 0) {
        if (!b->too_big && b->len + *upload_len > s->cfg.max_body) {
            b->too_big = true;
            free(b->bytes);
            b->bytes = NULL;
        }
        if (!b->too_big) {
            char *grown = realloc(b->bytes, b->len + *upload_len + 1);
            if (!grown) return MHD_NO;
            memcpy(grown + b->len, upload, *upload_len);
            b->bytes = grown;
            b->len += *upload_len;
        }
        *upload_len = 0;
        return MHD_YES;
    }
    if (b->too_big) return send_error(s, c, 413, "the request body is over the limit (--max-body)");
    return route(s, c, url, method, b->bytes, b->len);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    serve_body *b = *state;
    if (b) free(b->bytes);
    free(b);
    *state = NULL;
}

/* ---- lifetime ---- */

static void free_server(serve_server *s) {
    for (int i = 0; s->slots && i < s->cfg.n_parallel; i++) {
        sd_engine_free(s->slots[i].engine);
        free(s->slots[i].tokens);
    }
    free(s->slots);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->slot_freed);
    free(s);
}

int serve_start(const serve_config *cfg, serve_server **out, char *err, size_t err_len) {
    *out = NULL;
    if (cfg->n_parallel < 1 || cfg->n_queue < 0) {
        snprintf(err, err_len, "need at least one slot and a queue of zero or more");
        return SD_ERR_INVALID_ARGUMENT;
    }
    serve_server *s = calloc(1, sizeof *s);
    if (!s) return SD_ERR_NO_MEMORY;
    s->cfg = *cfg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->slot_freed, NULL);
    sd_model_info info;
    sd_model_get_info(cfg->target, &info);
    s->n_ctx = cfg->engine.n_ctx ? cfg->engine.n_ctx : (info.n_ctx_train < 4096 ? info.n_ctx_train : 4096);
    s->slots = calloc((size_t)cfg->n_parallel, sizeof *s->slots);
    int rc = s->slots ? 0 : SD_ERR_NO_MEMORY;
    for (int i = 0; rc == 0 && i < cfg->n_parallel; i++) {
        serve_slot *slot = &s->slots[i];
        slot->sampling = cfg->engine.sampling;
        if (!(slot->tokens = malloc(((size_t)s->n_ctx + 1) * sizeof *slot->tokens))) rc = SD_ERR_NO_MEMORY;
        if (rc == 0)
            rc = sd_engine_create(cfg->target, cfg->draft, &cfg->engine, &slot->engine, err, err_len);
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(cfg->port)};
    if (rc == 0 && inet_pton(AF_INET, cfg->host, &addr.sin_addr) != 1) {
        snprintf(err, err_len, "--host '%s' is not a numeric IPv4 address", cfg->host);
        rc = SD_ERR_INVALID_ARGUMENT;
    }
    if (rc == 0) {
        s->daemon =
            MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, cfg->port, NULL,
                             NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
                             cfg->timeout_s, MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_END);
        if (!s->daemon) {
            snprintf(err, err_len, "cannot listen on %s:%u (in use?)", cfg->host, (unsigned)cfg->port);
            rc = SD_ERR_IO;
        }
    }
    if (rc != 0) {
        if (rc == SD_ERR_NO_MEMORY) snprintf(err, err_len, "out of memory");
        free_server(s);
        return rc;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    *out = s;
    return 0;
}

uint16_t serve_port(const serve_server *s) {
    return s->port;
}

void serve_stop(serve_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->slot_freed);
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->daemon);
    free_server(s);
}
