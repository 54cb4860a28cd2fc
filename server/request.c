/* Decoding OpenAI request bodies (see request.h): every field is checked for its JSON type and range. */
#include "request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return 400;
}

/* A number field in [lo, hi] into *out; absent or null leaves *out. Returns 0 or 400. */
static int read_number(const cJSON *doc, const char *name, double lo, double hi, double *out, char *err,
                       size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return bad(err, err_len, "'%s' must be a number", name);
    if (v->valuedouble < lo || v->valuedouble > hi)
        return bad(err, err_len, "'%s' must be in [%g, %g], got %g", name, lo, hi, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

/* An integer field (a number with no fraction) in [lo, hi]; *given says whether it was present. */
static int read_integer(const cJSON *doc, const char *name, double lo, double hi, double *out, bool *given,
                        char *err, size_t err_len) {
    double v = NAN;
    int rc = read_number(doc, name, lo, hi, &v, err, err_len);
    if (rc) return rc;
    if (isnan(v)) return 0;
    if (v != floor(v)) return bad(err, err_len, "'%s' must be an integer", name);
    *out = v;
    if (given) *given = true;
    return 0;
}

static int read_bool(const cJSON *doc, const char *name, bool *out, char *err, size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return bad(err, err_len, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* `stop`: a string or an array of at most SERVE_MAX_STOPS strings; empty strings are dropped. */
static int read_stops(const cJSON *doc, serve_request *r, char *err, size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        if (v->valuestring[0]) r->stops[r->n_stops++] = v->valuestring;
        return 0;
    }
    if (!cJSON_IsArray(v)) return bad(err, err_len, "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(v) > SERVE_MAX_STOPS)
        return bad(err, err_len, "'stop' holds more than %d strings", SERVE_MAX_STOPS);
    const cJSON *s;
    cJSON_ArrayForEach(s, v) {
        if (!cJSON_IsString(s)) return bad(err, err_len, "'stop' must be a string or an array of strings");
        if (s->valuestring[0]) r->stops[r->n_stops++] = s->valuestring;
    }
    return 0;
}

/* `messages`: a non-empty array of {role, content} with string roles and string content. */
static int read_messages(const cJSON *doc, serve_request *r, char *err, size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "messages");
    if (!v) return bad(err, err_len, "'messages' is required");
    if (!cJSON_IsArray(v)) return bad(err, err_len, "'messages' must be an array");
    int n = cJSON_GetArraySize(v);
    if (n == 0) return bad(err, err_len, "'messages' is empty");
    if (n > SERVE_MAX_MESSAGES) return bad(err, err_len, "more than %d messages", SERVE_MAX_MESSAGES);
    r->messages = calloc((size_t)n, sizeof *r->messages);
    if (!r->messages) return bad(err, err_len, "out of memory");
    const cJSON *m;
    cJSON_ArrayForEach(m, v) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role) || !cJSON_IsString(content))
            return bad(err, err_len, "messages[%d] must be an object with string 'role' and 'content'",
                       r->n_messages);
        r->messages[r->n_messages].role = role->valuestring;
        r->messages[r->n_messages].content = content->valuestring;
        r->n_messages++;
    }
    return 0;
}

/* `prompt`: a non-empty string, or an array holding exactly one (as OpenAI clients often send). */
static int read_prompt(const cJSON *doc, serve_request *r, char *err, size_t err_len) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, "prompt");
    if (!v) return bad(err, err_len, "'prompt' is required");
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 1) v = cJSON_GetArrayItem(v, 0);
    if (!cJSON_IsString(v)) return bad(err, err_len, "'prompt' must be a string");
    if (!v->valuestring[0]) return bad(err, err_len, "'prompt' is empty");
    r->prompt = v->valuestring;
    return 0;
}

static int read_fields(const cJSON *doc, serve_request *r, char *err, size_t err_len) {
    if (!cJSON_IsObject(doc)) return bad(err, err_len, "the request body must be a JSON object");
    int rc = r->chat ? read_messages(doc, r, err, err_len) : read_prompt(doc, r, err, err_len);
    if (rc) return rc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model))
        return bad(err, err_len, "'model' must be a string");
    r->model = cJSON_IsString(model) ? model->valuestring : NULL;
    double max_tokens = -1, temp = r->sampling.temp, top_p = r->sampling.top_p, top_k = r->sampling.top_k;
    double seed = 0;
    if ((rc = read_integer(doc, "max_tokens", 0, 1 << 30, &max_tokens, NULL, err, err_len)) ||
        (rc = read_number(doc, "temperature", 0, 100, &temp, err, err_len)) ||
        (rc = read_number(doc, "top_p", 0, 1, &top_p, err, err_len)) ||
        (rc = read_integer(doc, "top_k", 0, 1 << 30, &top_k, NULL, err, err_len)) ||
        (rc = read_integer(doc, "seed", 0, 9007199254740992.0, &seed, &r->seed_given, err, err_len)) ||
        (rc = read_bool(doc, "stream", &r->stream, err, err_len)) || (rc = read_stops(doc, r, err, err_len)))
        return rc;
    r->max_tokens = (int32_t)max_tokens;
    r->sampling.temp = (float)temp;
    r->sampling.top_p = top_p > 0 ? (float)top_p : 1e-6f; /* 0 keeps only the most likely token */
    r->sampling.top_k = (int32_t)top_k;
    if (r->seed_given) r->sampling.seed = (uint64_t)seed;
    return 0;
}

int serve_request_parse(const char *body, size_t len, bool chat, const sd_sampling_params *defaults,
                        serve_request *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    out->chat = chat;
    out->sampling = *defaults;
    out->max_tokens = -1;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!doc) return bad(err, err_len, "invalid JSON in the request body");
    out->doc = doc;
    while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != body + len) {
        serve_request_free(out);
        return bad(err, err_len, "invalid JSON in the request body (text after the value)");
    }
    int rc = read_fields(doc, out, err, err_len);
    if (rc) serve_request_free(out);
    return rc;
}

void serve_request_free(serve_request *r) {
    cJSON_Delete(r->doc);
    free(r->messages);
    memset(r, 0, sizeof *r);
}
