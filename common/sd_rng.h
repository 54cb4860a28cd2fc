/* The library's pseudo-random numbers: xoshiro256** (Blackman & Vigna) seeded through splitmix64, so any
 * 64-bit seed, zero included, gives a well-mixed non-zero state. Deterministic; the state is the
 * caller's. Used by the sampler's draws, synthetic weights and the benchmarks' seeded noise. */
#ifndef SD_RNG_H
#define SD_RNG_H

#include <stdint.h>

typedef struct sd_rng {
    uint64_t s[4];
} sd_rng;

/* splitmix64: advances *state by a fixed odd step and returns a well-mixed 64-bit value of it. */
uint64_t sd_splitmix64(uint64_t *state);

void sd_rng_seed(sd_rng *r, uint64_t seed);
uint64_t sd_rng_next(sd_rng *r);

#endif
