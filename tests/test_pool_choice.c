/* The measured pool-or-caller choice (model/pool_choice.h) on made-up pass times: the probe alternates the
 * two, the faster runs afterwards, probing repeats, a clear winner probes less and less often, and a
 * change of the machine's load changes the choice. Not timed: the times are given. */
#include "model/pool_choice.h"
#include "test_util.h"

/* Runs `passes` passes whose time is pool_s on the pool and caller_s on the calling thread; returns how
 * many ran on the calling thread. */
static int run(sd_pool_choice *c, int passes, double pool_s, double caller_s) {
    int on_caller = 0;
    for (int i = 0; i < passes; i++) {
        bool caller = sd_pool_choice_caller_only(c);
        on_caller += caller;
        sd_pool_choice_record(c, caller ? caller_s : pool_s);
    }
    return on_caller;
}

int main(void) {
    sd_pool_choice c;
    sd_pool_choice_reset(&c);
    /* The probe alternates: pool first. */
    CHECK(!sd_pool_choice_caller_only(&c), "first probe pass on the pool");
    CHECK(run(&c, 16, 2.0, 1.0) == 8, "8 of the 16 probe passes on the caller");
    CHECK(sd_pool_choice_caller_only(&c), "the faster caller wins");
    /* The next 496 passes all run on the caller; then a probe runs 8 on the pool. */
    CHECK(run(&c, 496, 2.0, 1.0) == 496, "the winner runs until the next probe");
    CHECK(run(&c, 16, 2.0, 1.0) == 8, "the probe repeats");
    /* A clear win doubles the time to the next probe (992 passes now). */
    CHECK(run(&c, 992, 2.0, 1.0) == 992, "a clear winner runs twice as long");
    /* Load changes: the pool becomes faster and wins the next probe. */
    CHECK(run(&c, 2, 1.0, 2.0) == 1, "probe (ended after a pass of each: the caller is far slower)");
    CHECK(!sd_pool_choice_caller_only(&c), "the pool wins once it is faster");
    CHECK(run(&c, 496, 1.0, 2.0) == 0, "and runs every pass, back to 496 after the change");
    /* A close call (within 25%) keeps the shortest cycle. */
    CHECK(run(&c, 16, 1.0, 1.1) == 8, "probe");
    CHECK(run(&c, 496, 1.0, 1.1) == 0, "close win for the pool");
    CHECK(run(&c, 16, 1.0, 1.1) == 8, "probe after 496 passes again");
    /* A caller far slower than the pool (a large model): the probe ends after one pass of each. */
    sd_pool_choice_reset(&c);
    CHECK(run(&c, 2, 1.0, 2.0) == 1, "one probe pass on each");
    CHECK(run(&c, 496, 1.0, 2.0) == 0, "then the pool, without the rest of the probe");
    CHECK(run(&c, 2, 1.0, 2.0) == 1, "the next probe starts after the 496");
    CHECK(run(&c, 992, 1.0, 2.0) == 0, "and a clear winner runs twice as long");
    /* Ties go to the calling thread (it leaves the other cores to others). */
    sd_pool_choice_reset(&c);
    run(&c, 16, 1.0, 1.0);
    CHECK(sd_pool_choice_caller_only(&c), "a tie goes to the caller");
    return test_finish("test_pool_choice");
}
