/* Helpers for the tokenizer: growable buffers, the GPT-2 byte <-> unicode mapping and the merge queue.
 * (The string index is common/sd_strtab.h, UTF-8 common/sd_utf8.h.) */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/vocab_internal.h"

bool sd_tok_bytebuf_reserve(bytebuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return false;
    b->data = p;
    b->cap = cap;
    return true;
}

bool sd_tok_bytebuf_append(bytebuf *b, const void *p, size_t n) {
    if (!sd_tok_bytebuf_reserve(b, n)) return false;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

bool sd_tok_idbuf_push(idbuf *b, int32_t id) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        int32_t *p = realloc(b->data, cap * sizeof(*p));
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    b->data[b->len++] = id;
    return true;
}

/* GPT-2's bytes_to_unicode: '!'..'~', 0xA1..0xAC and 0xAE..0xFF stand for themselves; the other 68
 * bytes (0x00..0x20, 0x7F..0xA0, 0xAD), in byte order, become U+0100..U+0143. */
uint32_t sd_tok_gpt2_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    if (b == 0xAD) return 0x100 + 33 + 34;
    return b;
}

int sd_tok_gpt2_cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp >= 0x100 + 33 && cp < 0x100 + 67) return (int)(0x7F + cp - (0x100 + 33));
    if (cp == 0x100 + 67) return 0xAD;
    return -1;
}

static bool bigram_before(const sd_tok_bigram *a, const sd_tok_bigram *b) {
    if (a->priority != b->priority) return a->priority < b->priority;
    return a->left < b->left;
}

bool sd_tok_queue_push(sd_tok_bigram_queue *q, sd_tok_bigram b) {
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        sd_tok_bigram *p = realloc(q->heap, cap * sizeof(*p));
        if (!p) return false;
        q->heap = p;
        q->cap = cap;
    }
    size_t i = q->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&b, &q->heap[parent])) break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = b;
    return true;
}

sd_tok_bigram sd_tok_queue_pop(sd_tok_bigram_queue *q) {
    sd_tok_bigram top = q->heap[0];
    sd_tok_bigram last = q->heap[--q->len];
    size_t i = 0, n = q->len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && bigram_before(&q->heap[c + 1], &q->heap[c])) c++;
        if (!bigram_before(&q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n > 0) q->heap[i] = last;
    return top;
}
