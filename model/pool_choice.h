/* Whether a repeated small pass (a decode step, a verify pass of a few tokens) runs faster on its thread pool
 * or on the calling thread alone, decided by timing both and revisited as the machine's load changes.
 *
 * A one-token pass of a small model is a few dozen matrix-vector products of a few hundred KB each: on the
 * pool, each product waits for the slowest worker, and a worker that shares its core with another process
 * can stall it for a scheduler time slice. On the calling thread there is no wait at all, but only one
 * core streams the weights. Which wins depends on the model, the machine and what else runs on it, so it
 * is measured: a probe alternates the two for PROBE_PASSES passes (or ends after the first two when the
 * calling thread is far slower), the one with the smaller mean time runs the next EXPLOIT_PASSES passes
 * (more when it keeps winning clearly), then the probe repeats. Both give the same bits (a pass's results
 * do not depend on the thread count), so the choice changes speed only. */
#ifndef SD_POOL_CHOICE_H
#define SD_POOL_CHOICE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sd_pool_choice {
    int32_t pass;      /* passes into the current probe-then-exploit cycle */
    double seconds[2]; /* probe passes' time: [0] on the pool, [1] on the calling thread */
    int32_t count[2];  /* probe passes of each */
    int32_t exploit;   /* passes the winner runs before the next probe */
    bool use_caller;   /* the last probe's winner: the calling thread alone */
    bool decided;      /* a probe has ended since the reset */
} sd_pool_choice;

/* Starts over with a probe (after the pool changed, say). */
void sd_pool_choice_reset(sd_pool_choice *c);

/* Whether the next pass should run on the calling thread alone (else on the pool). */
bool sd_pool_choice_caller_only(const sd_pool_choice *c);

/* Books a pass that ran as sd_pool_choice_caller_only said and took `seconds` of wall time. */
void sd_pool_choice_record(sd_pool_choice *c, double seconds);

#endif
