/* The JSON-to-request step of `specdec serve`: an OpenAI completion or chat-completion body becomes a
 * serve_request, or an HTTP status with an OpenAI-style error message. No model is needed here (the
 * prompt's token count is checked later), so the step can be fuzzed on its own. */
#ifndef SD_SERVER_REQUEST_H
#define SD_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specdec.h"

#define SERVE_MAX_STOPS 4      /* OpenAI's limit on `stop` strings */
#define SERVE_MAX_MESSAGES 256 /* messages in one chat request */

typedef struct serve_request {
    bool chat;                 /* /v1/chat/completions (messages) rather than /v1/completions (prompt) */
    const char *prompt;        /* completions: the prompt text (points into the parsed document) */
    sd_chat_message *messages; /* chat: [n_messages], strings point into the parsed document */
    int n_messages;
    int32_t max_tokens; /* -1: not given (the server's default) */
    sd_sampling_params sampling;
    bool seed_given;
    const char *stops[SERVE_MAX_STOPS]; /* non-empty strings that end the answer (not part of it) */
    int n_stops;
    bool stream;
    const char *model; /* as the client named it; NULL: not given */
    void *doc;         /* the parsed cJSON document that owns the strings */
} serve_request;

/* Decodes body[0..len) (not NUL-terminated) for the chat or completions endpoint, sampling fields
 * starting from `defaults`. Unknown fields are ignored. Returns 0, or 400 with a message in err (invalid
 * JSON, a field of the wrong type or out of range, an empty prompt, no messages). On 0 the caller frees
 * out with serve_request_free; on failure nothing is left to free. */
int serve_request_parse(const char *body, size_t len, bool chat, const sd_sampling_params *defaults,
                        serve_request *out, char *err, size_t err_len);

void serve_request_free(serve_request *r);

#endif
