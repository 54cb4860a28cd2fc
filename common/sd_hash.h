/* Byte-string hashing for the whole library: FNV-1a (the plain function, for fingerprints that must stay
 * the same from run to run) and a seeded, avalanche-mixed variant for hash tables keyed by strings that
 * come from files (which may be hostile). */
#ifndef SD_HASH_H
#define SD_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SD_FNV1A64_BASIS 0xcbf29ce484222325ull /* FNV-1a's 64-bit offset basis */
#define SD_FNV1A64_PRIME 0x100000001b3ull

/* FNV-1a over p[0..n), continuing from h (SD_FNV1A64_BASIS to start). Stable across runs and builds:
 * synthetic weights are seeded from it, so changing it changes the files `specdec synth` writes. */
uint64_t sd_fnv1a64(uint64_t h, const void *p, size_t n);

/* FNV-1a of a NUL-terminated string, from the basis. */
uint64_t sd_fnv1a64_str(const char *s);

/* For hash tables over untrusted strings: FNV-1a started from (basis ^ seed), finished with a full
 * avalanche (murmur3's fmix64). Without the mix the low bits that pick a slot depend only on the low
 * bits of the bytes, so a hostile file could make every name collide and a load quadratic; the seed
 * (different per table) keeps collisions from being precomputed. */
uint64_t sd_hash_seeded(uint64_t seed, const void *p, size_t n);

#endif
