#include "ngram.h"

#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"

/* The longest n-gram order supported: the hash and the match check read at most this many tokens. */
#define NGRAM_ORDER_LIMIT 8

/* One index entry: the hash of an n-gram (its order mixed in) and the position of the token that followed
 * its most recent occurrence; next < 0: empty. Equal hashes of different n-grams (one in 2^64 pairs) are
 * caught by comparing the tokens on look-up. */
typedef struct ngram_slot {
    uint64_t key;
    int32_t next;
} ngram_slot;

struct sd_ngram {
    int32_t n_ctx, n_min, n_max;
    int32_t *tokens;   /* [n_ctx] the indexed context */
    int32_t n_indexed; /* tokens[0..n_indexed) are indexed */
    ngram_slot *slots; /* [mask + 1] open addressing, linear probing; at most half full */
    uint64_t mask;
};

/* The hash of the n tokens at t (the order is part of the key: "b" and "a b" differ). */
static uint64_t ngram_hash(const int32_t *t, int32_t n) {
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n;
    for (int32_t i = 0; i < n; i++) {
        h ^= (uint32_t)t[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    /* a final avalanche so that the low bits (the slot) depend on every token */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static ngram_slot *find_slot(sd_ngram *g, uint64_t key) {
    uint64_t i = key & g->mask;
    while (g->slots[i].next >= 0 && g->slots[i].key != key)
        i = (i + 1) & g->mask;
    return &g->slots[i];
}

int sd_ngram_create(int32_t n_ctx, int32_t n_min, int32_t n_max, sd_ngram **out, char *err, size_t err_len) {
    *out = NULL;
    if (n_ctx < 1 || n_min < 1 || n_max < n_min || n_max > NGRAM_ORDER_LIMIT)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "n-gram orders [%d, %d] must lie within [1, %d], context %d", n_min, n_max,
                        NGRAM_ORDER_LIMIT, n_ctx);
    sd_ngram *g = calloc(1, sizeof *g);
    if (!g) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    g->n_ctx = n_ctx;
    g->n_min = n_min;
    g->n_max = n_max;
    /* at most one entry per token and order: twice that many slots keeps probes short */
    uint64_t entries = (uint64_t)n_ctx * (uint64_t)(n_max - n_min + 1), slots = 16;
    while (slots < 2 * entries)
        slots *= 2;
    g->mask = slots - 1;
    g->tokens = malloc((size_t)n_ctx * sizeof *g->tokens);
    g->slots = malloc((size_t)slots * sizeof *g->slots);
    if (!g->tokens || !g->slots) {
        sd_ngram_free(g);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the n-gram index");
    }
    sd_ngram_reset(g);
    *out = g;
    return SD_STATUS_OK;
}

void sd_ngram_free(sd_ngram *g) {
    if (!g) return;
    free(g->tokens);
    free(g->slots);
    free(g);
}

void sd_ngram_reset(sd_ngram *g) {
    g->n_indexed = 0;
    for (uint64_t i = 0; i <= g->mask; i++)
        g->slots[i].next = -1;
}

/* Indexes token tokens[i] (known now) as what followed each n-gram that ends before it. */
static void index_position(sd_ngram *g, int32_t i) {
    for (int32_t n = g->n_min; n <= g->n_max && n <= i; n++) {
        const uint64_t key = ngram_hash(g->tokens + i - n, n);
        ngram_slot *s = find_slot(g, key);
        s->key = key;
        s->next = i;
    }
}

void sd_ngram_truncate(sd_ngram *g, int32_t n) {
    if (n >= g->n_indexed) return;
    const int32_t keep = SD_MAX(n, 0);
    sd_ngram_reset(g);
    for (int32_t i = 0; i < keep; i++)
        index_position(g, i);
    g->n_indexed = keep;
}

void sd_ngram_sync(sd_ngram *g, const int32_t *ctx, int32_t n) {
    n = SD_MIN(n, g->n_ctx);
    if (n < g->n_indexed) {
        sd_ngram_truncate(g, n);
        return;
    }
    for (int32_t i = g->n_indexed; i < n; i++) {
        g->tokens[i] = ctx[i];
        index_position(g, i);
    }
    g->n_indexed = n;
}

int32_t sd_ngram_propose(sd_ngram *g, const int32_t *ctx, int32_t n, int32_t k, int32_t *tokens,
                         int32_t *order) {
    *order = 0;
    sd_ngram_sync(g, ctx, n);
    n = g->n_indexed;
    for (int32_t len = SD_MIN(g->n_max, n - 1); len >= g->n_min && k > 0; len--) {
        const int32_t *suffix = g->tokens + n - len;
        const ngram_slot *s = find_slot(g, ngram_hash(suffix, len));
        const int32_t at = s->next; /* < n: only positions of known tokens are indexed */
        if (at < 0 || memcmp(g->tokens + at - len, suffix, (size_t)len * sizeof *suffix) != 0) continue;
        /* The context continues as it did after the match; past its end, as the proposal itself does. */
        const int32_t period = n - at;
        for (int32_t j = 0; j < k; j++)
            tokens[j] = j < period ? g->tokens[at + j] : tokens[j - period];
        *order = len;
        return k;
    }
    return 0;
}

float sd_ngram_confidence(int32_t order) {
    return 1.0f - 1.0f / (float)(1u << SD_MIN(SD_MAX(order, 1), 16));
}
