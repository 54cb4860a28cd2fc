#include "sd_hash.h"

uint64_t sd_fnv1a64(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * SD_FNV1A64_PRIME;
    return h;
}

uint64_t sd_fnv1a64_str(const char *s) {
    uint64_t h = SD_FNV1A64_BASIS;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * SD_FNV1A64_PRIME;
    return h;
}

uint64_t sd_hash_seeded(uint64_t seed, const void *p, size_t n) {
    uint64_t h = sd_fnv1a64(SD_FNV1A64_BASIS ^ seed, p, n);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}
