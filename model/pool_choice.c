/* The measured pool-or-caller choice (see pool_choice.h). */
#include "pool_choice.h"

#include <string.h>

/* Probe passes per cycle, alternating pool and caller: 8 of each, enough that one scheduler stall does not
 * decide alone. */
#define PROBE_PASSES 16
/* Passes run with the winner before the next probe: with the loser at most 3x slower (measured: the
 * bundled draft on 2 loaded cores), the probe costs under 5% of a cycle. */
#define EXPLOIT_PASSES 496

void sd_pool_choice_reset(sd_pool_choice *c) {
    memset(c, 0, sizeof *c);
}

bool sd_pool_choice_caller_only(const sd_pool_choice *c) {
    return c->pass < PROBE_PASSES ? (c->pass % 2) == 1 : c->use_caller;
}

void sd_pool_choice_record(sd_pool_choice *c, double seconds) {
    if (c->pass < PROBE_PASSES) {
        int arm = c->pass % 2;
        c->seconds[arm] += seconds;
        c->count[arm]++;
        if (c->pass + 1 == PROBE_PASSES)
            c->use_caller = c->seconds[1] * c->count[0] <= c->seconds[0] * c->count[1];
    }
    if (++c->pass == PROBE_PASSES + EXPLOIT_PASSES) {
        bool winner = c->use_caller;
        sd_pool_choice_reset(c);
        c->use_caller = winner;
    }
}
