/* Stop strings over a growing answer (see answer.h). */
#include "answer.h"

#include <stdlib.h>
#include <string.h>

/* The earliest position >= from where a stop string occurs in text[0..len), or len. */
static size_t first_stop(const serve_answer *a, size_t from) {
    size_t found = a->len;
    for (int i = 0; i < a->n_stops; i++) {
        size_t n = strlen(a->stops[i]);
        for (size_t p = from; p + n <= a->len && p < found; p++)
            if (memcmp(a->text + p, a->stops[i], n) == 0) found = p;
    }
    return found;
}

/* Bytes at the end of the text that are a proper prefix of a stop string. */
static size_t unsure_tail(const serve_answer *a) {
    size_t tail = 0;
    for (int i = 0; i < a->n_stops; i++) {
        size_t n = strlen(a->stops[i]);
        for (size_t k = n - 1; k > tail; k--)
            if (k <= a->len && memcmp(a->text + a->len - k, a->stops[i], k) == 0) {
                tail = k;
                break;
            }
    }
    return tail;
}

/* Room for n more bytes and a NUL. */
static bool make_room(serve_answer *a, size_t n) {
    size_t need = a->len + n + 1;
    if (need <= a->cap) return true;
    char *grown = realloc(a->text, 2 * need + 64);
    a->oom = !grown;
    if (grown) a->text = grown, a->cap = 2 * need + 64;
    return grown != NULL;
}

bool serve_answer_push(serve_answer *a, const char *text, size_t n) {
    if (a->stopped || a->oom || !make_room(a, n)) return false;
    size_t longest = 0;
    for (int i = 0; i < a->n_stops; i++)
        if (strlen(a->stops[i]) > longest) longest = strlen(a->stops[i]);
    /* a stop string that ends in the new bytes begins at most longest - 1 bytes before them */
    size_t from = a->len + 1 > longest ? a->len + 1 - longest : 0;
    memcpy(a->text + a->len, text, n);
    a->len += n;
    a->text[a->len] = '\0';
    size_t stop = first_stop(a, from);
    if (stop < a->len) {
        a->len = a->released = stop;
        a->text[a->len] = '\0';
        a->stopped = true;
        return false;
    }
    a->released = a->len - unsure_tail(a);
    return true;
}

bool serve_answer_is_stop_token(const serve_answer *a, const char *piece, size_t n) {
    for (int i = 0; i < a->n_stops; i++)
        if (strlen(a->stops[i]) == n && memcmp(a->stops[i], piece, n) == 0) return true;
    return false;
}

void serve_answer_finish(serve_answer *a) {
    a->released = a->len;
}

void serve_answer_free(serve_answer *a) {
    free(a->text);
    a->text = NULL;
    a->len = a->cap = a->released = 0;
}
