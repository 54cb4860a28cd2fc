#include "utf8_stream.h"

#include <string.h>

#include "common/sd_utf8.h"

size_t sd_utf8_stream_push(sd_utf8_stream *s, const char *piece, size_t piece_len, char *out) {
    size_t n = s->n_pending;
    memcpy(out, s->pending, n);
    memcpy(out + n, piece, piece_len);
    n += piece_len;
    /* Look back at most 3 bytes for the lead byte of a sequence that is not yet complete. */
    size_t keep = 0;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = (uint8_t)out[n - back];
        if (sd_utf8_is_cont(c)) continue; /* keep looking for the lead byte */
        size_t want = sd_utf8_seq_len(c);
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
