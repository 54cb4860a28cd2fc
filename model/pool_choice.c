/* The measured pool-or-caller choice (see pool_choice.h). */
#include "pool_choice.h"

#include <string.h>

/* Probe passes per cycle, alternating pool and caller: 8 of each, enough that one scheduler stall does not
 * decide alone. */
#define PROBE_PASSES 16
/* Passes run with the winner before the next probe: with the loser at most 3x slower (measured: the
 * bundled draft on 2 loaded cores), the probe costs under 5% of a cycle. */
#define EXPLOIT_PASSES 496
/* A winner that wins again by more than CLEAR_MARGIN (a large model on the pool of a quiet machine) runs
 * twice as long before the next probe, up to MAX_EXPLOIT_PASSES, so that probing costs it almost nothing. */
#define CLEAR_MARGIN 1.25
/* A first caller pass more than EARLY_MARGIN slower than the first pool pass (a large model on a quiet
 * machine) ends the probe there, for the pool: the 7 more slow passes would tell nothing new and cost
 * most of what probing costs such a model. */
#define EARLY_MARGIN 1.5
#define MAX_EXPLOIT_PASSES 16384

void sd_pool_choice_reset(sd_pool_choice *c) {
    memset(c, 0, sizeof *c);
    c->exploit = EXPLOIT_PASSES;
}

bool sd_pool_choice_caller_only(const sd_pool_choice *c) {
    return c->pass < PROBE_PASSES ? (c->pass % 2) == 1 : c->use_caller;
}

/* Ends the probe: the arm with the smaller mean pass time wins (the calling thread on a tie). */
static void decide(sd_pool_choice *c) {
    double pool = c->seconds[0] * c->count[1], caller = c->seconds[1] * c->count[0]; /* sums x counts */
    bool use_caller = caller <= pool;
    double win = use_caller ? caller : pool, lose = use_caller ? pool : caller;
    bool clear = lose > CLEAR_MARGIN * win;
    if (c->decided && use_caller == c->use_caller && clear)
        c->exploit = c->exploit * 2 > MAX_EXPLOIT_PASSES ? MAX_EXPLOIT_PASSES : c->exploit * 2;
    else
        c->exploit = EXPLOIT_PASSES;
    c->use_caller = use_caller;
    c->decided = true;
}

void sd_pool_choice_record(sd_pool_choice *c, double seconds) {
    if (c->pass < PROBE_PASSES) {
        int arm = c->pass % 2;
        c->seconds[arm] += seconds;
        c->count[arm]++;
        if (c->pass == 1 && c->seconds[1] > EARLY_MARGIN * c->seconds[0]) c->pass = PROBE_PASSES - 1;
        if (c->pass + 1 == PROBE_PASSES) decide(c);
    }
    if (++c->pass == PROBE_PASSES + c->exploit) { /* next cycle: probe again */
        c->pass = 0;
        c->seconds[0] = c->seconds[1] = 0.0;
        c->count[0] = c->count[1] = 0;
    }
}
