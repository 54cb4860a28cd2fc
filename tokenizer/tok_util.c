/* Helpers for the tokenizer: a string hash map, growable buffers, UTF-8 as llama.cpp decodes it, and
 * the GPT-2 byte <-> unicode mapping. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/vocab_internal.h"

/* FNV-1a over the bytes, folded to 32 bits; token texts are short so this is cheap enough. */
static uint32_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

int sd_tok_strmap_init(strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2)
        cap <<= 1; /* load factor <= 0.5 */
    m->slots = calloc(cap, sizeof(*m->slots));
    m->cap = cap;
    m->count = 0;
    return m->slots ? 0 : -1;
}

void sd_tok_strmap_free(strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

int sd_tok_strmap_put(strmap *m, const char *key, size_t len, int32_t value) {
    if ((m->count + 1) * 2 > m->cap) return -1; /* sized at init: the caller knows the count */
    uint32_t h = hash_bytes(key, len);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_slot *s = &m->slots[i];
        if (!s->key) {
            s->key = key;
            s->len = (uint32_t)len;
            s->hash = h;
            s->value = value;
            m->count++;
            return 1;
        }
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return 0;
    }
}

int32_t sd_tok_strmap_get(const strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    uint32_t h = hash_bytes(key, len);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}

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

size_t sd_tok_utf8_len_from_lead(uint8_t c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

static bool is_cont(uint8_t c) {
    return (c & 0xC0) == 0x80;
}

int32_t sd_tok_utf8_decode_lenient(const uint8_t *s, size_t len, size_t *n) {
    uint8_t c = s[0];
    *n = 1;
    if (!(c & 0x80)) return c;
    if (!(c & 0x40)) return -1;
    if (!(c & 0x20)) {
        if (len < 2 || !is_cont(s[1])) return -1;
        *n = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (len < 3 || !is_cont(s[1]) || !is_cont(s[2])) return -1;
        *n = 3;
        return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (len < 4 || !is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3])) return -1;
        int32_t cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        /* llama.cpp throws when re-encoding these; treat them as invalid bytes instead. */
        if (cp > 0x10FFFF) return -1;
        *n = 4;
        return cp;
    }
    return -1;
}

size_t sd_tok_utf8_encode(uint32_t cp, char *out) {
    if (cp <= 0x7F) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
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
