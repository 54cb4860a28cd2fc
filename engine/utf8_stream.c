#include "utf8_stream.h"

#include <string.h>

/* Length a UTF-8 sequence announces by its lead byte; 0 for a continuation or invalid lead. */
static size_t utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 0;
}

size_t sd_utf8_stream_push(sd_utf8_stream *s, const char *piece, size_t piece_len, char *out) {
    size_t n = s->n_pending;
    memcpy(out, s->pending, n);
    memcpy(out + n, piece, piece_len);
    n += piece_len;
    /* Look back at most 3 bytes for the lead byte of a sequence that is not yet complete. */
    size_t keep = 0;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)out[n - back];
        if ((c & 0xc0) == 0x80) continue; /* continuation byte: keep looking */
        size_t want = utf8_seq_len(c);
        if (want > back) keep = back;
        break;
    }
    memcpy(s->pending, out + n - keep, keep);
    s->n_pending = keep;
    return n - keep;
}

size_t sd_utf8_stream_flush(sd_utf8_stream *s, char *out) {
    size_t n = s->n_pending;
    memcpy(out, s->pending, n);
    s->n_pending = 0;
    return n;
}
