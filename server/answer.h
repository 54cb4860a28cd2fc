/* An answer as the server generates it: the text so far, cut at the first stop string (the request's
 * `stop` and the chat template's end-of-turn texts; the stop string is not part of the answer), with the
 * bytes that could still begin a stop string held back from streaming until they cannot. */
#ifndef SD_SERVER_ANSWER_H
#define SD_SERVER_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#define SERVE_ANSWER_MAX_STOPS 12

typedef struct serve_answer {
    const char *stops[SERVE_ANSWER_MAX_STOPS]; /* in: non-empty stop strings */
    int n_stops;                               /* in */
    char *text;                                /* [len] + NUL: the answer (caller frees) */
    size_t len, cap;
    size_t released; /* text[0..released) can no longer change: safe to stream */
    bool stopped;    /* a stop string was found */
    bool oom;
} serve_answer;

/* Appends text[0..n). Returns false when the answer is complete (a stop string ended it) or out of memory;
 * released then covers the whole answer when stopped. */
bool serve_answer_push(serve_answer *a, const char *text, size_t n);

/* True if a token whose text (with control tokens spelled out) is piece[0..n) is itself a stop string:
 * control tokens such as <|im_end|> never reach the answer's text. */
bool serve_answer_is_stop_token(const serve_answer *a, const char *piece, size_t n);

/* Generation ended without a stop string: nothing is held back any more. */
void serve_answer_finish(serve_answer *a);

void serve_answer_free(serve_answer *a);

#endif
