/* The adaptive draft-length controller, driven through its round protocol (begin, gate each draft, end)
 * as decode.c drives it, against simulated drafts whose top probability p_top predicts acceptance: it
 * drafts one round in SD_PLAIN_ROUND_EVERY plainly when k_min is 0, drafts long on confident text and little
 * on uncertain text, learns a miscalibrated draft's real acceptance, keeps its bounds, comes within 5% of
 * the best fixed draft length on each kind of text alone (also where the draft's confidence misleads), and
 * on text that alternates between easy and hard it yields more tokens per second than every fixed draft
 * length under the same cost model. The floor at plain decoding: on text the draft never predicts, and
 * with a draft as costly as the target, it pauses the draft within a few rounds and its probes cost less
 * than 3% over plain decoding; when the text turns easy again, drafting resumes. The source choice (draft
 * model or n-grams of the context): on text that repeats its context the n-gram source drafts and the
 * combination is as fast as the n-gram source alone; on fresh text the model drafts and it is as fast as
 * the model alone; on text alternating between the two it is faster than either alone. */
#include <math.h>

#include "common/sd_common.h"
#include "draft/drafter.h" /* SD_DRAFT_RESTART_WINDOW */
#include "spec/controller.h"
#include "test_util.h"

/* A fixed pseudo-random stream in [0, 1): the test is deterministic. Each comparison restarts it
 * (reseed), so that a change in one part of the test does not shift the draws of the others. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static void reseed(uint64_t seed) {
    rng_state = 0x9e3779b97f4a7c15ull ^ (seed * 0xbf58476d1ce4e5b9ull);
    if (!rng_state) rng_state = 1;
}
static double uniform(void) {
    uint64_t s = rng_state;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    rng_state = s;
    return (double)(s >> 11) / 9007199254740992.0;
}

/* A kind of text: the draft's p_top is uniform in [lo, hi], and a draft is accepted with probability
 * p_top^power (power 1: a calibrated draft; 0 with lo = hi = 0: never accepted, see NEVER), or with
 * `inverted`, 1 - p_top^power. */
typedef struct text_kind {
    double lo, hi, power;
    bool inverted;
} text_kind;

static const text_kind EASY = {0.85, 1.0, 1.0, false}, HARD = {0.05, 0.6, 1.0, false};
static const text_kind MISCALIBRATED = {0.5, 1.0, 3.0, false};
static const text_kind UNDERCONFIDENT = {0.1, 0.5, 0.15, false}; /* right far more often than it thinks */
/* Unsure and mostly right, and the surer the more often wrong (a repetitive table whose entries the
 * draft knows but cannot tell apart): the draft's confidence misleads. */
static const text_kind MISLEADING = {0.05, 0.4, 2.0, true};
static const text_kind NEVER = {0.5, 1.0, 1e9, false};

static bool accepted(text_kind t, double p) {
    const double a = pow(p, t.power);
    return uniform() < (t.inverted ? 1.0 - a : a);
}

/* Costs of the simulated machine: seconds per draft forward pass (the usual draft, and one as costly as
 * the target's single-token pass), per verify pass of n tokens, and per token of the draft's catch-up
 * after it has been paused (a batched prefill: cheaper per token than single-token passes). */
#define T_DRAFT 2e-4
static double t_verify(int n) {
    return 1e-2 * (1.0 + 0.08 * (n - 1));
}
#define T_DRAFT_COSTLY 1e-2
#define CATCH_UP_PER_PASS 0.5

/* A simulated decoder: the controller, the draft's cost, and how many tokens the draft has not followed
 * (emitted in rounds the draft did not run in; it feeds them, at most SD_DRAFT_RESTART_WINDOW, when it
 * runs again). */
typedef struct sim {
    sd_controller c;
    double t_draft;
    int behind;
} sim;

static void sim_init(sim *s, int k_min, int k_max, double t_draft) {
    sd_controller_init(&s->c, k_min, k_max);
    s->t_draft = t_draft;
    s->behind = 0;
}

/* A round's simulated outcome. */
typedef struct round_result {
    int drafted, accepted;
    double seconds;
} round_result;

/* One round of the controller's round protocol, as decode.c runs it: the controller bounds k, the draft
 * catches up and drafts token by token on text of kind t while the gate keeps them (the withheld draft
 * costs its pass too), the target accepts drafts until the first rejection, and the outcome (the fate of
 * a withheld draft included) goes back to the controller. */
/* The draft drafts up to k tokens of text t while the gate keeps them: each one's p_top and whether the
 * target accepts it into p_top[] and accept[]. Returns the drafts kept, j; *withheld says whether the
 * gate withheld draft j. */
static int draft_through_gate(sd_controller *c, text_kind t, int k, float *p_top, bool *accept,
                              bool *withheld) {
    int j = 0;
    *withheld = false;
    while (j < k) {
        const float p = (float)(t.lo + (t.hi - t.lo) * uniform());
        p_top[j] = p;
        accept[j] = accepted(t, p);
        const sd_draft_verdict v = sd_controller_judge_draft(c, j, p);
        if (v == SD_DRAFT_WITHHOLD) {
            *withheld = true;
            break;
        }
        j++;
        if (v == SD_DRAFT_KEEP_LAST) break;
    }
    return j;
}

/* The outcome of a round of j drafts (m accepted) and the withheld one, drafting draft_s seconds. */
static sd_round_outcome outcome(int j, int m, const float *p_top, const bool *accept, bool withheld,
                                double draft_s) {
    return (sd_round_outcome){.n_drafted = j,
                              .n_accepted = m,
                              .p_top = p_top,
                              .t_draft_s = draft_s,
                              .t_verify_s = t_verify(j + 1),
                              .withheld = withheld,
                              .withheld_p_top = withheld ? p_top[j] : 0.0f,
                              .withheld_accepted = withheld && accept[j]};
}

static round_result run_round(sim *s, text_kind t) {
    sd_controller *c = &s->c;
    float p_top[SD_MAX_DRAFT_LEN + 1];
    bool accept[SD_MAX_DRAFT_LEN + 1];
    const int k = sd_controller_begin_round(c, SD_MAX_DRAFT_LEN);
    bool withheld;
    const int j = draft_through_gate(c, t, k, p_top, accept, &withheld);
    int m = 0;
    while (m < j && accept[m])
        m++;
    double draft_s = 0;
    if (k > 0) {
        draft_s =
            (j + withheld + CATCH_UP_PER_PASS * SD_MIN(s->behind, SD_DRAFT_RESTART_WINDOW)) * s->t_draft;
        s->behind = 0;
    } else {
        s->behind += m + 1;
    }
    round_result r = {j, m, draft_s + t_verify(j + 1)};
    const sd_round_outcome o = outcome(j, m, p_top, accept, withheld, draft_s);
    sd_controller_end_round(c, &o);
    return r;
}

typedef struct run_totals {
    double tokens, seconds, drafted, rounds;
} run_totals;

static run_totals run(sim *sm, text_kind t, int rounds) {
    run_totals s = {0};
    for (int r = 0; r < rounds; r++) {
        round_result rr = run_round(sm, t);
        s.tokens += rr.accepted + 1;
        s.seconds += rr.seconds;
        s.drafted += rr.drafted;
        s.rounds++;
    }
    return s;
}

/* Tokens per second of the best fixed draft length on `rounds` rounds of text t (into *best_k). */
static double fixed_k_best_tps(text_kind t, int rounds, int *best_k) {
    double best = 0;
    for (int k = 0; k <= 16; k++) {
        reseed(1000 + (uint64_t)k);
        sim fixed;
        sim_init(&fixed, k, k, T_DRAFT);
        run_totals f = run(&fixed, t, rounds);
        if (f.tokens / f.seconds > best) best = f.tokens / f.seconds, *best_k = k;
    }
    return best;
}

/* A kind of text for the source choice: the model's drafts behave as `model`; the n-gram source has a
 * proposal in a fraction `ngram_found` of rounds, each of its tokens right with probability ngram_hit
 * (given the earlier ones were). */
typedef struct source_text {
    text_kind model;
    double ngram_found, ngram_hit;
} source_text;

static const source_text ECHO = {{0.1, 0.7, 1.0, false}, 0.95, 0.9};  /* a table continuing its pattern */
static const source_text FRESH = {{0.85, 1.0, 1.0, false}, 0.3, 0.1}; /* new prose the draft predicts */

/* Totals by source: tokens drafted by the model and by the n-gram source. */
typedef struct source_totals {
    double tokens, seconds, model_drafted, ngram_drafted;
} source_totals;

/* One round of the round protocol with sources, as decode.c runs it: the n-gram proposal (up to the
 * bound) is made first, the controller picks the source, the source drafts through the gate, and the
 * outcome carries the emitted tokens against which the n-gram proposal is scored. Tokens are abstract:
 * the n-gram proposes 7s; the target emits 7 where the n-gram is right, 8 where it is not. */
static void run_source_round(sim *s, source_text t, source_totals *tot) {
    sd_controller *c = &s->c;
    enum { NGRAM_TOKEN = 7, OTHER_TOKEN = 8 };
    const int k = sd_controller_begin_round(c, SD_MAX_DRAFT_LEN);
    int32_t ngram[SD_MAX_DRAFT_LEN], target[SD_MAX_DRAFT_LEN + 1];
    /* the target's tokens at each place: whether the n-gram source's token is right there */
    for (int i = 0; i <= SD_MAX_DRAFT_LEN; i++)
        target[i] = uniform() < t.ngram_hit ? NGRAM_TOKEN : OTHER_TOKEN;
    const int n_ngram = k > 0 && uniform() < t.ngram_found ? k : 0;
    const float conf = 0.9f;
    for (int i = 0; i < n_ngram; i++)
        ngram[i] = NGRAM_TOKEN;
    const sd_draft_source src = k > 0 ? sd_controller_choose_source(c, n_ngram, conf) : SD_SOURCE_NONE;
    float p_top[SD_MAX_DRAFT_LEN + 1];
    bool accept[SD_MAX_DRAFT_LEN + 1];
    int j = 0;
    bool withheld = false;
    if (src == SD_SOURCE_MODEL) {
        j = draft_through_gate(c, t.model, k, p_top, accept, &withheld);
    } else if (src == SD_SOURCE_NGRAM) {
        while (j < n_ngram && sd_controller_judge_draft(c, j, conf) != SD_DRAFT_WITHHOLD) {
            p_top[j] = conf;
            accept[j] = target[j] == NGRAM_TOKEN;
            j++;
        }
    }
    int m = 0;
    while (m < j && accept[m])
        m++;
    /* what the target emitted: the accepted drafts, then its own token (not the rejected draft) */
    int32_t emitted[SD_MAX_DRAFT_LEN + 1];
    for (int i = 0; i <= m; i++)
        emitted[i] = src == SD_SOURCE_MODEL ? target[i] : i < m ? NGRAM_TOKEN : target[i];
    if (src == SD_SOURCE_NGRAM && m < j) emitted[m] = OTHER_TOKEN;
    double draft_s = 0;
    if (src == SD_SOURCE_MODEL) {
        draft_s =
            (j + withheld + CATCH_UP_PER_PASS * SD_MIN(s->behind, SD_DRAFT_RESTART_WINDOW)) * s->t_draft;
        s->behind = 0;
        tot->model_drafted += j;
    } else {
        s->behind += m + 1;
        tot->ngram_drafted += j;
    }
    tot->tokens += m + 1;
    tot->seconds += draft_s + t_verify(j + 1);
    sd_round_outcome o = outcome(j, m, p_top, accept, withheld, draft_s);
    o.emitted = emitted;
    o.ngram = n_ngram > 0 ? ngram : NULL;
    o.n_ngram = n_ngram;
    o.ngram_p_top = conf;
    sd_controller_end_round(c, &o);
}

/* Tokens per second with the given sources on `rounds` rounds, alternating between texts a and b every
 * `block` rounds (block 0: a only). */
static source_totals run_sources(unsigned sources, source_text a, source_text b, int block, int rounds) {
    reseed(2000 + (uint64_t)block);
    sim s;
    sim_init(&s, 0, 16, T_DRAFT);
    sd_controller_set_sources(&s.c, sources);
    source_totals tot = {0};
    for (int r = 0; r < rounds; r++)
        run_source_round(&s, block && (r / block) % 2 ? b : a, &tot);
    return tot;
}

static void check_source_choice(void) {
    const struct {
        const char *name;
        source_text a, b;
        int block;
    } cases[] = {{"echo", ECHO, ECHO, 0}, {"fresh", FRESH, FRESH, 0}, {"alternating", ECHO, FRESH, 100}};
    for (size_t i = 0; i < SD_ARRAY_LEN(cases); i++) {
        const int rounds = 16000;
        const source_totals model =
            run_sources(SD_SPEC_DRAFT, cases[i].a, cases[i].b, cases[i].block, rounds);
        const source_totals ngram =
            run_sources(SD_SPEC_NGRAM, cases[i].a, cases[i].b, cases[i].block, rounds);
        const source_totals both =
            run_sources(SD_SPEC_DRAFT | SD_SPEC_NGRAM, cases[i].a, cases[i].b, cases[i].block, rounds);
        const double tps_model = model.tokens / model.seconds, tps_ngram = ngram.tokens / ngram.seconds;
        const double tps_both = both.tokens / both.seconds, best = SD_MAX(tps_model, tps_ngram);
        printf(
            "sources on %s text: model %.1f, ngram %.1f, both %.1f tok/s (model drafted %.0f, ngram %.0f)\n",
            cases[i].name, tps_model, tps_ngram, tps_both, both.model_drafted, both.ngram_drafted);
        CHECK(ngram.model_drafted == 0 && model.ngram_drafted == 0, "%s: a source that is off drafted",
              cases[i].name);
        if (cases[i].block)
            CHECK(tps_both > best, "%s: both sources %.1f tok/s, not above the better single one %.1f",
                  cases[i].name, tps_both, best);
        else
            CHECK(tps_both >= 0.97 * best, "%s: both sources %.1f tok/s, below the better single one %.1f",
                  cases[i].name, tps_both, best);
    }
    /* who drafts: the n-gram source on echo text, the model on fresh text */
    const source_totals echo = run_sources(SD_SPEC_DRAFT | SD_SPEC_NGRAM, ECHO, ECHO, 0, 2000);
    CHECK(echo.ngram_drafted > 4 * echo.model_drafted, "echo: n-gram drafted %.0f, model %.0f",
          echo.ngram_drafted, echo.model_drafted);
    const source_totals fresh = run_sources(SD_SPEC_DRAFT | SD_SPEC_NGRAM, FRESH, FRESH, 0, 2000);
    CHECK(fresh.model_drafted > 4 * fresh.ngram_drafted, "fresh: model drafted %.0f, n-gram %.0f",
          fresh.model_drafted, fresh.ngram_drafted);
}

/* A round that drafts exactly k tokens (the caller's limit), all rejected, at the given times. */
static void timed_round(sd_controller *c, int k, double t_draft_s, double t_verify_s) {
    const int bound = sd_controller_begin_round(c, k);
    CHECK(bound == k, "round bound %d, want %d", bound, k);
    sd_controller_end_round(
        c, &(sd_round_outcome){.n_drafted = k, .t_draft_s = t_draft_s, .t_verify_s = t_verify_s});
}

int main(void) {
    sim c;
    sim_init(&c, 0, 16, T_DRAFT);
    CHECK(sd_controller_begin_round(&c.c, SD_MAX_DRAFT_LEN) == 0,
          "the first round is plain (it measures t_v(1))");
    sd_controller_end_round(&c.c, &(sd_round_outcome){.t_verify_s = t_verify(1)});
    CHECK(sd_controller_begin_round(&c.c, SD_MAX_DRAFT_LEN) == 4,
          "before the draft's cost is known it proposes 4");
    CHECK(sd_controller_judge_draft(&c.c, 3, 0.01f) == SD_DRAFT_KEEP,
          "before the draft's cost is known every draft is kept");

    /* Confident text: long drafts. */
    run(&c, EASY, 100);
    run_totals easy = run(&c, EASY, 200);
    CHECK(easy.drafted / easy.rounds > 6.0, "easy text: %.2f drafts per round", easy.drafted / easy.rounds);

    /* The text turns uncertain: within a few dozen rounds the drafts shrink. */
    run(&c, HARD, 50);
    run_totals hard = run(&c, HARD, 200);
    CHECK(hard.drafted / hard.rounds < 2.0, "hard text: %.2f drafts per round", hard.drafted / hard.rounds);

    /* A draft that is more confident than right (acceptance p^3): the calibration learns it. */
    sim_init(&c, 0, 16, T_DRAFT);
    run(&c, MISCALIBRATED, 600);
    /* the estimate moves with the last few dozen drafts: its mean over 8 moments 100 rounds apart */
    double a75 = 0.0;
    for (int i = 0; i < 8; i++) {
        run(&c, MISCALIBRATED, 100);
        a75 += sd_controller_acceptance_at(&c.c, 0, 0.75f) / 8;
    }
    CHECK(a75 > 0.3 && a75 < 0.55, "acceptance at p_top 0.75 learned as %.2f (true 0.42)", a75);
    CHECK(sd_controller_acceptance(&c.c, 0) > 0.0, "per-position acceptance is tracked too");

    /* The floor at plain decoding: where drafting cannot pay (text the draft never predicts; easy text
     * with a draft as costly as the target) the draft is paused within a few rounds, and over a long run
     * the probes cost less than 3% over plain decoding. */
    const struct {
        const char *name;
        text_kind text;
        double t_draft;
    } no_gain[] = {{"never accepted", NEVER, T_DRAFT}, {"costly draft", EASY, T_DRAFT_COSTLY}};
    for (int i = 0; i < 2; i++) {
        sim_init(&c, 0, 16, no_gain[i].t_draft);
        int paused_at = -1;
        for (int r = 0; r < 40 && paused_at < 0; r++) {
            run(&c, no_gain[i].text, 1);
            if (sd_controller_draft_idle(&c.c)) paused_at = r + 1;
        }
        CHECK(paused_at > 0 && paused_at <= 16, "%s: paused after %d rounds", no_gain[i].name, paused_at);
        run_totals rest = run(&c, no_gain[i].text, 20000);
        const double overhead = rest.seconds / (rest.tokens * t_verify(1)) - 1.0;
        CHECK(overhead < 0.03 && rest.drafted > 0, "%s: %.0f drafts in 20000 rounds, %.2f%% over plain",
              no_gain[i].name, rest.drafted, 100 * overhead);
        printf("%s: paused after %d rounds, then %.2f%% over plain decoding (%.0f drafts in 20000 rounds)\n",
               no_gain[i].name, paused_at, 100 * overhead, rest.drafted);
    }
    /* The text turns easy again: a probe finds it, drafting resumes. */
    {
        sim_init(&c, 0, 16, T_DRAFT);
        run(&c, NEVER, 5000);
        int resumed_at = -1;
        for (int r = 0; r < 3000 && resumed_at < 0; r++) {
            round_result rr = run_round(&c, EASY);
            if (rr.drafted >= 4 && !sd_controller_draft_idle(&c.c)) resumed_at = r + 1;
        }
        run_totals back = run(&c, EASY, 200);
        CHECK(resumed_at > 0 && back.drafted / back.rounds > 6.0,
              "easy again: resumed after %d rounds, then %.2f drafts per round", resumed_at,
              back.drafted / back.rounds);
        printf("easy again after 5000 rounds never accepted: drafting resumed after %d rounds\n", resumed_at);
    }

    /* Bounds hold; a fixed k never adapts. */
    sim_init(&c, 2, 3, T_DRAFT);
    run(&c, NEVER, 100);
    run_totals bounded = run(&c, NEVER, 50);
    CHECK(bounded.drafted >= 2 * 50 && bounded.drafted <= 3 * 50, "bounds [2, 3]: %.0f drafts in 50 rounds",
          bounded.drafted);
    sim_init(&c, 5, 5, T_DRAFT);
    run(&c, HARD, 50);
    run_totals fixed = run(&c, HARD, 50);
    CHECK(fixed.drafted == 5 * 50, "fixed k = 5: %.0f drafts in 50 rounds", fixed.drafted);

    /* Text alternating between easy and hard stretches: adaptive beats every fixed k. */
    double adaptive_tps, best_fixed_tps = 0;
    int best_fixed = -1;
    {
        sim_init(&c, 0, 16, T_DRAFT);
        run_totals a = {0};
        for (int seg = 0; seg < 40; seg++) {
            run_totals s = run(&c, seg % 2 ? HARD : EASY, 40);
            a.tokens += s.tokens, a.seconds += s.seconds;
        }
        adaptive_tps = a.tokens / a.seconds;
        for (int k = 0; k <= 16; k++) {
            sim fixed_k;
            sim_init(&fixed_k, k, k, T_DRAFT);
            run_totals f = {0};
            for (int seg = 0; seg < 40; seg++) {
                run_totals s = run(&fixed_k, seg % 2 ? HARD : EASY, 40);
                f.tokens += s.tokens, f.seconds += s.seconds;
            }
            if (f.tokens / f.seconds > best_fixed_tps) best_fixed_tps = f.tokens / f.seconds, best_fixed = k;
        }
    }
    CHECK(adaptive_tps > 1.05 * best_fixed_tps,
          "mixed text: adaptive %.1f tok/s, best fixed k = %d %.1f tok/s", adaptive_tps, best_fixed,
          best_fixed_tps);
    printf("mixed text: adaptive %.1f tok/s vs best fixed k = %d %.1f tok/s (%.2fx)\n", adaptive_tps,
           best_fixed, best_fixed_tps, adaptive_tps / best_fixed_tps);

    /* Each kind of text alone: adaptive within 5% of the best fixed k (or better). */
    const text_kind kinds[] = {EASY, HARD, MISCALIBRATED, UNDERCONFIDENT, MISLEADING};
    const char *const kind_names[] = {"easy", "hard", "miscalibrated", "underconfident", "misleading"};
    for (int i = 0; i < 5; i++) {
        reseed(3000 + (uint64_t)i);
        sim_init(&c, 0, 16, T_DRAFT);
        run(&c, kinds[i], 100);
        run_totals a = run(&c, kinds[i], 6000);
        int k = -1;
        const double f = fixed_k_best_tps(kinds[i], 6000, &k);
        CHECK(a.tokens / a.seconds > 0.95 * f, "%s text: adaptive %.1f tok/s, best fixed k = %d %.1f tok/s",
              kind_names[i], a.tokens / a.seconds, k, f);
        printf("%s text: adaptive %.1f tok/s vs best fixed k = %d %.1f tok/s (%.2fx)\n", kind_names[i],
               a.tokens / a.seconds, k, f, a.tokens / a.seconds / f);
    }

    /* The plain-round rule: with k_min 0, one round in SD_PLAIN_ROUND_EVERY drafts nothing; with k_min 1
     * none does. */
    sd_controller ctrl;
    for (int k_min = 0; k_min <= 1; k_min++) {
        sd_controller_init(&ctrl, k_min, 16);
        int plain = 0;
        for (int r = 0; r < 2 * SD_PLAIN_ROUND_EVERY + 2; r++) {
            const int k = sd_controller_begin_round(&ctrl, SD_MAX_DRAFT_LEN);
            plain += k == 0;
            const int j = k > 0 ? 1 : 0;
            sd_controller_end_round(&ctrl, &(sd_round_outcome){.n_drafted = j,
                                                               .n_accepted = j,
                                                               .t_draft_s = j * T_DRAFT,
                                                               .t_verify_s = t_verify(j + 1)});
        }
        CHECK(plain == (k_min == 0 ? 2 : 0), "k_min %d: %d plain rounds in %d", k_min, plain,
              2 * SD_PLAIN_ROUND_EVERY + 2);
    }

    /* The verify cost: a line through recent passes, interpolated and extrapolated (k_min 1: the rounds
     * here are all rejected, the floor would pause the draft). */
    sd_controller_init(&ctrl, 1, 8);
    CHECK(sd_controller_verify_cost(&ctrl, 1) == 0.0, "nothing measured");
    timed_round(&ctrl, 0, 0, 1.0);
    CHECK(fabs(sd_controller_verify_cost(&ctrl, 3) - 1.2) < 1e-9, "one size: 10%% more per token");
    timed_round(&ctrl, 4, 0.1, 2.0);
    double v3 = sd_controller_verify_cost(&ctrl, 3), v9 = sd_controller_verify_cost(&ctrl, 9);
    CHECK(v3 > 1.0 && v3 < 2.0, "t_v(3) %.3f between t_v(1) and t_v(5)", v3);
    CHECK(v9 > 2.0, "t_v(9) %.3f above t_v(5)", v9);
    /* Passes get dearer (a longer context): the fit follows, old passes fade. */
    for (int r = 0; r < 200; r++)
        timed_round(&ctrl, r % 3, 1e-3, 3.0 + 0.5 * (r % 3));
    const double v1 = sd_controller_verify_cost(&ctrl, 1), v2 = sd_controller_verify_cost(&ctrl, 2);
    CHECK(fabs(v1 - 3.0) < 0.05 && fabs(v2 - v1 - 0.5) < 0.05, "refitted t_v(1) %.3f t_v(2) %.3f", v1, v2);
    check_source_choice();
    return test_finish("test_controller");
}
