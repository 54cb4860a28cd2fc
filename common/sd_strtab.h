/* A string index: an open-addressing hash table (linear probing, load factor <= 1/2) from a byte string
 * to the index of the entry that holds it. The strings stay with the owner (a GGUF handle's keys, a
 * vocabulary's token texts); the table stores only each entry's index and hash and asks the owner for an
 * entry's string through key_of, so the owner may move its string pool. Keys are hashed with
 * sd_hash_seeded under a per-table seed: safe for strings read from hostile files.
 * Sized once for the most entries it will hold; not thread-safe for writes. */
#ifndef SD_STRTAB_H
#define SD_STRTAB_H

#include <stddef.h>
#include <stdint.h>

/* The string of entry `index` of `owner`: returns its bytes and sets *len. */
typedef const char *(*sd_strtab_key_fn)(const void *owner, uint32_t index, size_t *len);

typedef struct sd_strtab_slot {
    uint32_t index_plus1; /* 0: empty */
    uint32_t hash;        /* low 32 bits of the key's hash, to skip most string compares */
} sd_strtab_slot;

typedef struct sd_strtab {
    sd_strtab_slot *slots; /* [mask + 1], a power of two >= 2 * max_entries */
    uint64_t mask;
    uint64_t count;
    uint64_t max_entries;
    uint64_t seed;
    sd_strtab_key_fn key_of;
    const void *owner;
} sd_strtab;

/* Room for max_entries keys; seed should differ between tables (e.g. from the owner's address). Returns 0
 * or SD_STATUS_NO_MEMORY (t is then empty, and freeing it is safe). */
int sd_strtab_init(sd_strtab *t, uint64_t max_entries, uint64_t seed, sd_strtab_key_fn key_of,
                   const void *owner);
void sd_strtab_free(sd_strtab *t);

/* Index of the entry whose string is s[0..n), or -1. A table never initialised (all zero) finds nothing. */
int64_t sd_strtab_find(const sd_strtab *t, const char *s, size_t n);

/* Adds entry `index`, whose string is s[0..n), unless an equal string is there. Returns -1 when added, the
 * present entry's index when not, or SD_STATUS_INVALID_ARGUMENT (< -1) when the table already holds
 * max_entries. */
int64_t sd_strtab_insert(sd_strtab *t, const char *s, size_t n, uint32_t index);

#endif
