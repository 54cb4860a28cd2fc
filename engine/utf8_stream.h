/* Joins token pieces into text that can be printed: holds back the bytes of a UTF-8 character until all
 * of them have arrived (a character may be split across tokens). Invalid bytes pass through. */
#ifndef SD_UTF8_STREAM_H
#define SD_UTF8_STREAM_H

#include <stddef.h>

typedef struct sd_utf8_stream {
    char pending[8];
    size_t n_pending;
} sd_utf8_stream;

/* Appends piece to the held bytes and returns how many leading bytes of the combined text are complete;
 * out (capacity piece_len + 8) receives the combined text. The incomplete tail stays held. */
size_t sd_utf8_stream_push(sd_utf8_stream *s, const char *piece, size_t piece_len, char *out);

/* Returns (in out, capacity 8) whatever is still held, complete or not, and clears it. */
size_t sd_utf8_stream_flush(sd_utf8_stream *s, char *out);

#endif
