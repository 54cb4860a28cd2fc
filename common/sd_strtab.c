#include "sd_strtab.h"

#include <stdlib.h>
#include <string.h>

#include "sd_common.h"
#include "sd_hash.h"

int sd_strtab_init(sd_strtab *t, uint64_t max_entries, uint64_t seed, sd_strtab_key_fn key_of,
                   const void *owner) {
    memset(t, 0, sizeof *t);
    uint64_t cap = 16;
    while (cap < 2 * max_entries)
        cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) return SD_STATUS_NO_MEMORY;
    t->mask = cap - 1;
    t->max_entries = max_entries;
    t->seed = seed;
    t->key_of = key_of;
    t->owner = owner;
    return SD_STATUS_OK;
}

void sd_strtab_free(sd_strtab *t) {
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* The slot holding s, or the empty slot where s would go. */
static uint64_t probe(const sd_strtab *t, const char *s, size_t n, uint32_t hash) {
    for (uint64_t at = hash & t->mask;; at = (at + 1) & t->mask) {
        const sd_strtab_slot *sl = &t->slots[at];
        if (sl->index_plus1 == 0) return at;
        if (sl->hash != hash) continue;
        size_t len;
        const char *k = t->key_of(t->owner, sl->index_plus1 - 1, &len);
        if (len == n && (n == 0 || memcmp(k, s, n) == 0)) return at;
    }
}

int64_t sd_strtab_find(const sd_strtab *t, const char *s, size_t n) {
    if (!t->slots) return -1;
    const sd_strtab_slot *sl = &t->slots[probe(t, s, n, (uint32_t)sd_hash_seeded(t->seed, s, n))];
    return (int64_t)sl->index_plus1 - 1;
}

int64_t sd_strtab_insert(sd_strtab *t, const char *s, size_t n, uint32_t index) {
    if (!t->slots) return SD_STATUS_INVALID_ARGUMENT;
    const uint32_t hash = (uint32_t)sd_hash_seeded(t->seed, s, n);
    sd_strtab_slot *sl = &t->slots[probe(t, s, n, hash)];
    if (sl->index_plus1 != 0) return (int64_t)sl->index_plus1 - 1;
    if (t->count >= t->max_entries) return SD_STATUS_INVALID_ARGUMENT;
    sl->index_plus1 = index + 1;
    sl->hash = hash;
    t->count++;
    return -1;
}
