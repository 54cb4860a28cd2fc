#include "controller.h"

#include <math.h>
#include <stdbool.h>

#include "common/sd_common.h"

/* Weight of the past in the running averages. Acceptance: about the last 30 tests of a position count,
 * enough to tell 0.37 from 0.5 (a 10-round memory made the choice between k = 1 and 2 flip on noise)
 * while following a change from easy to hard text within a few dozen rounds; the logistic model reads
 * the positions' acceptance, so it follows the text as fast. Costs: about the last 10 samples of a
 * batch size, and about the last 30 passes for the fitted line, so the controller follows the machine's
 * load and the context's growth (attention makes later passes dearer). */
#define ACCEPT_DECAY 0.97
#define COST_DECAY 0.9
/* Step size of the logistic model's online updates: large enough to learn a new draft's calibration
 * within a few hundred tests, small enough that one test moves a prediction by a few percent. */
#define LEARNING_RATE 0.05
#define FIT_DECAY 0.97
/* Memory of the predictors' likelihood (about the last 20 tested drafts): short, so that a text on which
 * the draft's confidence misleads (a repetitive table the draft is right about but unsure of) hands the
 * decision to the position's acceptance within a few rounds, and back when the text changes. */
#define LOSS_DECAY 0.95

/* Weight, in tested drafts, of the prior that each position's acceptance starts from. */
#define PRIOR_WEIGHT 2.0
#define FIRST_PRIOR 0.6
/* The n-gram source's: its proposals on ordinary text are mostly wrong (0.1-0.3 on code and prose), and a
 * prior as high as the model's hands it rounds the model would have drafted better until it has missed a
 * few times; on repetitive text it is right at once and learns so within a few rounds. */
#define FIRST_PRIOR_NGRAM 0.3

/* Adaptive rounds between explorations (see sd_controller_begin_round). */
#define EXPLORE_EVERY 8

/* The floor at plain decoding (see sd_controller_begin_round). The drafting rounds judged: at least
 * FLOOR_MIN_ROUNDS (fewer cannot tell a draft that pays a little from one that loses a little; more
 * make a useless draft cost more before it is paused), the decision's memory about the last 20.
 * Pauses: FIRST_PAUSE rounds, doubling up to MAX_BACKOFF, and at least long enough that the last
 * probe's loss against plain decoding is PROBE_BUDGET of the pause's time. */
#define FLOOR_MIN_ROUNDS 8
#define FLOOR_DECAY 0.95
#define FIRST_PAUSE 16
#define MAX_BACKOFF 1024
#define PROBE_BUDGET 0.02

/* The draft model drafts at least once in this many rounds it could have drafted in (see
 * sd_controller_choose_source). */
#define MODEL_EXPLORE_EVERY 32

void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max) {
    *c = (sd_controller){.sources = SD_SPEC_DRAFT, .source = SD_SOURCE_MODEL};
    for (int s = 0; s < SD_SOURCE_COUNT; s++)
        c->src[s] = (sd_source_stats){.w = {0.0, 0.5, 0.5}, .prior = FIRST_PRIOR};
    c->src[SD_SOURCE_NGRAM].prior = FIRST_PRIOR_NGRAM;
    c->k_min = SD_MAX(0, SD_MIN(k_min, SD_MAX_DRAFT_LEN));
    c->k_max = SD_MAX(c->k_min, SD_MIN(k_max, SD_MAX_DRAFT_LEN));
    c->backoff = FIRST_PAUSE;
    c->rounds_since_plain = SD_PLAIN_ROUND_EVERY; /* the first round is plain: t_v(1) measured at once */
}

void sd_controller_set_sources(sd_controller *c, unsigned sources) {
    c->sources = sources & (SD_SPEC_DRAFT | SD_SPEC_NGRAM);
}

/* The measurements of the round's source (the model's when the round drafts nothing). */
static const sd_source_stats *round_stats(const sd_controller *c) {
    return &c->src[c->source == SD_SOURCE_NGRAM ? SD_SOURCE_NGRAM : SD_SOURCE_MODEL];
}

/* Whether the costs a source's decisions need are measured: the verify cost, and the model's draft cost
 * (an n-gram proposal costs nothing). */
static bool costs_known(const sd_controller *c, sd_draft_source s) {
    if (s != SD_SOURCE_NGRAM && c->src[SD_SOURCE_MODEL].t_draft <= 0) return false;
    for (int n = 1; n <= SD_MAX_DRAFT_LEN + 1; n++)
        if (c->t_verify[n] > 0) return true;
    return false;
}

/* Whether the draft model may draft this round. */
static bool model_usable(const sd_controller *c) {
    return (c->sources & SD_SPEC_DRAFT) && !c->paused;
}

static double position_acceptance(const sd_source_stats *st, int32_t i) {
    double a = st->prior;
    for (int32_t p = 0; p <= i && p < SD_MAX_DRAFT_LEN; p++)
        a = (st->acc_hits[p] + PRIOR_WEIGHT * a) / (st->acc_trials[p] + PRIOR_WEIGHT);
    return a;
}

double sd_controller_acceptance(const sd_controller *c, int32_t i) {
    return position_acceptance(round_stats(c), i);
}

static double logit_clamped(double p) {
    p = p < 0.02 ? 0.02 : p > 0.98 ? 0.98 : p; /* NaN -> 0.98 */
    return log(p / (1.0 - p));
}

/* The logistic model's features for a draft proposed at p_top at a position of acceptance a_i: 1,
 * logit(p_top), logit(a_i). */
static void features(float p_top, double a_i, double x[3]) {
    x[0] = 1.0;
    x[1] = logit_clamped(p_top);
    x[2] = logit_clamped(a_i);
}

static double predict(const sd_source_stats *st, const double x[3]) {
    return 1.0 / (1.0 + exp(-(st->w[0] * x[0] + st->w[1] * x[1] + st->w[2] * x[2])));
}

static double acceptance_at(const sd_source_stats *st, int32_t i, float p_top) {
    const double position = position_acceptance(st, i);
    double x[3];
    features(p_top, position, x);
    /* weights exp(-loss) of each predictor, normalised: the logistic model's is 1 / (1 + e^(lm - lp)) */
    const double w_model = 1.0 / (1.0 + exp(st->loss_model - st->loss_position));
    return w_model * predict(st, x) + (1.0 - w_model) * position;
}

double sd_controller_acceptance_at(const sd_controller *c, int32_t i, float p_top) {
    return acceptance_at(round_stats(c), i, p_top);
}

/* t_v(n): the line fitted to recent passes (a pass costs about a fixed part plus a part per token) once
 * passes of at least two sizes are in it; otherwise the measured size's average scaled by the prior of
 * 10% more per extra token. 0 when nothing is measured. */
/* The cost of a pass of n tokens before the rule that longer passes cost no less: the pass's own recent
 * average where that size was measured, else the line fitted to all recent passes, else the one size
 * measured plus 10% per token. The line alone misjudges the convex costs of a memory-bound machine (one
 * and two tokens cost about the same, longer passes turn compute-bound): through the passes of 2 and 3
 * tokens it puts t_v(1) well below its measured value, so that one draft looks dearer than it is and
 * plain decoding faster than it is. */
static double measured_or_fitted_cost(const sd_controller *c, int32_t n) {
    if (c->t_verify[n] > 0) return c->t_verify[n];
    const double var = c->fit_w * c->fit_xx - c->fit_x * c->fit_x; /* w^2 x the weighted variance of n */
    if (c->fit_w > 0 && var > 1e-3 * c->fit_w * c->fit_w) {
        double slope = (c->fit_w * c->fit_xy - c->fit_x * c->fit_y) / var;
        slope = slope > 0 ? slope : 0; /* noise can tilt the line; a longer pass is never cheaper */
        const double mean_x = c->fit_x / c->fit_w, mean_y = c->fit_y / c->fit_w;
        const double t = mean_y + slope * (n - mean_x);
        return t > 0.5 * mean_y ? t : 0.5 * mean_y;
    }
    for (int i = 1; i <= SD_MAX_DRAFT_LEN + 1; i++)
        if (c->t_verify[i] > 0) return c->t_verify[i] * (1.0 + 0.1 * (n - 1)) / (1.0 + 0.1 * (i - 1));
    return 0.0;
}

double sd_controller_verify_cost(const sd_controller *c, int32_t n) {
    if (n < 1) n = 1;
    if (n > SD_MAX_DRAFT_LEN + 1) n = SD_MAX_DRAFT_LEN + 1;
    double t = 0.0;
    for (int32_t i = 1; i <= n; i++) { /* a longer pass never costs less than a shorter one */
        const double ti = measured_or_fitted_cost(c, i);
        t = ti > t ? ti : t;
    }
    return t;
}

bool sd_controller_is_adaptive(const sd_controller *c) {
    return c->k_min != c->k_max;
}

/* The controller's bound on the round's k, before the plain-round rule and the caller's limit. */
static int32_t choose_k(sd_controller *c) {
    if (!sd_controller_is_adaptive(c)) return c->k_min;
    if (!costs_known(c, c->source)) return SD_MAX(c->k_min, SD_MIN(4, c->k_max)); /* a guess until measured */
    if (++c->rounds_since_explore >= EXPLORE_EVERY) {
        c->rounds_since_explore = 0;
        c->round_explore = true;
    }
    return c->k_max;
}

bool sd_controller_draft_idle(const sd_controller *c) {
    return c->paused;
}

int32_t sd_controller_begin_round(sd_controller *c, int32_t k_limit) {
    c->round_all_accepted = 1.0;
    c->round_explore = false;
    c->round_restarts = false;
    if (c->paused && --c->pause_left <= 0) {
        /* a probe: drafting resumes, judged afresh */
        c->paused = false;
        c->round_restarts = true;
        c->episode_rounds = 0;
        c->episode_tokens = c->episode_seconds = 0;
        c->episode_total_tokens = c->episode_total_seconds = 0;
    }
    /* the model while it may draft, else the n-gram source if enabled (sd_controller_choose_source) */
    c->source = model_usable(c)                ? SD_SOURCE_MODEL
                : (c->sources & SD_SPEC_NGRAM) ? SD_SOURCE_NGRAM
                                               : SD_SOURCE_NONE;
    c->round_k = 0;
    if (c->source == SD_SOURCE_NONE) return 0;
    int32_t k = choose_k(c);
    if (c->k_min == 0 && c->rounds_since_plain >= SD_PLAIN_ROUND_EVERY) k = 0;
    k = SD_MAX(0, SD_MIN(k, k_limit));
    c->rounds_since_plain = k == 0 ? 0 : c->rounds_since_plain + 1;
    c->round_k = k;
    return k;
}

/* The best expected tokens per second of a round drafting j in [0, n] tokens from a source with stats st
 * at t_d seconds per token: E(j) / (j t_d + t_v(j + 1)), the acceptance of draft i predicted from its
 * confidence p_top (NAN: not known before drafting, from its position alone). */
static double best_rate(const sd_controller *c, const sd_source_stats *st, int32_t n, float p_top,
                        double t_d) {
    double all = 1.0, expected = 1.0, best = 1.0 / sd_controller_verify_cost(c, 1);
    for (int32_t i = 0; i < n; i++) {
        all *= isnan(p_top) ? position_acceptance(st, i) : acceptance_at(st, i, p_top);
        expected += all;
        const double rate = expected / ((i + 1) * t_d + sd_controller_verify_cost(c, i + 2));
        best = rate > best ? rate : best;
    }
    return best;
}

sd_draft_source sd_controller_choose_source(sd_controller *c, int32_t n_ngram, float ngram_p_top) {
    const bool model = model_usable(c), ngram = (c->sources & SD_SPEC_NGRAM) && n_ngram > 0;
    if (model && ngram && ++c->model_unused < MODEL_EXPLORE_EVERY && costs_known(c, SD_SOURCE_MODEL)) {
        const sd_source_stats *m = &c->src[SD_SOURCE_MODEL], *g = &c->src[SD_SOURCE_NGRAM];
        const double model_rate = best_rate(c, m, c->round_k, NAN, m->t_draft);
        const double ngram_rate = best_rate(c, g, n_ngram, ngram_p_top, 0.0);
        c->source = ngram_rate >= model_rate ? SD_SOURCE_NGRAM : SD_SOURCE_MODEL;
    } else {
        c->source = model ? SD_SOURCE_MODEL : ngram ? SD_SOURCE_NGRAM : SD_SOURCE_NONE;
    }
    if (c->source == SD_SOURCE_MODEL) c->model_unused = 0;
    return c->source;
}

sd_draft_verdict sd_controller_judge_draft(sd_controller *c, int32_t i, float p_top) {
    const sd_source_stats *st = round_stats(c);
    const double all = c->round_all_accepted * acceptance_at(st, i, p_top);
    if (i < c->k_min || !sd_controller_is_adaptive(c) || !costs_known(c, c->source)) {
        c->round_all_accepted = all;
        return SD_DRAFT_KEEP;
    }
    /* rate_seconds > 0 here: every round that measured a verify cost added to it */
    const double rate = c->rate_tokens / c->rate_seconds;
    const double t_keep = sd_controller_verify_cost(c, i + 2) - sd_controller_verify_cost(c, i + 1);
    bool keep = all >= rate * t_keep;
    /* The next draft is drawn when this one pays for its verification and a draft pass more. */
    bool next = keep && i + 1 < c->round_k && all >= rate * (t_keep + st->t_draft);
    if (!next && c->round_explore) { /* one draft past the stop */
        c->round_explore = false;
        next = keep;
        keep = true;
    }
    if (!keep) return SD_DRAFT_WITHHOLD;
    c->round_all_accepted = all;
    return next || i + 1 >= c->round_k ? SD_DRAFT_KEEP : SD_DRAFT_KEEP_LAST;
}

static void blend(double *avg, double sample) {
    *avg = *avg > 0 ? COST_DECAY * *avg + (1.0 - COST_DECAY) * sample : sample;
}

static void fit_add(sd_controller *c, double n, double t) {
    c->fit_w = FIT_DECAY * c->fit_w + 1.0;
    c->fit_x = FIT_DECAY * c->fit_x + n;
    c->fit_y = FIT_DECAY * c->fit_y + t;
    c->fit_xx = FIT_DECAY * c->fit_xx + n * n;
    c->fit_xy = FIT_DECAY * c->fit_xy + n * t;
}

/* One tested draft at position p, proposed with top probability p_top (has_p_top false: not known):
 * the two predictors' recent likelihood, a step of stochastic gradient ascent on the logistic model's
 * log-likelihood (features as predicted), and the position's acceptance counts. */
static void learn(sd_source_stats *st, int32_t p, float p_top, bool has_p_top, bool hit) {
    if (has_p_top) {
        const double position = position_acceptance(st, p);
        double x[3];
        features(p_top, position, x);
        const double model = predict(st, x);
        st->loss_model = LOSS_DECAY * st->loss_model - log(SD_MAX(hit ? model : 1.0 - model, 0.01));
        st->loss_position =
            LOSS_DECAY * st->loss_position - log(SD_MAX(hit ? position : 1.0 - position, 0.01));
        const double err = (hit ? 1.0 : 0.0) - model;
        for (int f = 0; f < 3; f++)
            st->w[f] += LEARNING_RATE * err * x[f];
    }
    st->acc_hits[p] = ACCEPT_DECAY * st->acc_hits[p] + (hit ? 1.0 : 0.0);
    st->acc_trials[p] = ACCEPT_DECAY * st->acc_trials[p] + 1.0;
}

/* Records a round: k drafted tokens (top probabilities p_top[0..k), or NULL) of which n_accepted were
 * accepted, drafting took t_draft_s seconds (0 when k == 0; an estimate when !draft_cost_measured) and
 * the verify pass of k + 1 tokens took t_verify_s seconds. The acceptance and draft cost are the model's,
 * learnt in its rounds only (the n-gram source's acceptance is scored in every round, see
 * score_ngram). */
static void update(sd_controller *c, int32_t k, int32_t n_accepted, const float *p_top, double t_draft_s,
                   bool draft_cost_measured, double t_verify_s) {
    if (k > 0 && c->source == SD_SOURCE_MODEL) {
        sd_source_stats *m = &c->src[SD_SOURCE_MODEL];
        /* Drafts are tested in order until the first rejection: drafts 0..n_accepted - 1 were accepted,
         * draft n_accepted (if drafted) rejected, later ones not tested. */
        int32_t tested = n_accepted < k ? n_accepted + 1 : k;
        for (int32_t p = 0; p < tested && p < SD_MAX_DRAFT_LEN; p++)
            learn(m, p, p_top ? p_top[p] : 0.0f, p_top != NULL, p < n_accepted);
        if (t_draft_s > 0 && draft_cost_measured) blend(&m->t_draft, t_draft_s / k);
    }
    if (t_verify_s > 0) {
        c->rate_tokens = ACCEPT_DECAY * c->rate_tokens + (n_accepted + 1);
        c->rate_seconds = ACCEPT_DECAY * c->rate_seconds + t_draft_s + t_verify_s;
    }
    int32_t n = k + 1;
    if (t_verify_s > 0 && n <= SD_MAX_DRAFT_LEN + 1) {
        blend(&c->t_verify[n], t_verify_s);
        fit_add(c, n, t_verify_s);
    }
}

/* The floor at plain decoding, after a drafting round (see sd_controller_begin_round): books the round
 * to the drafting episode (draft_s: its drafting seconds, the catch-up of a probe left out) and pauses
 * the draft when drafting does not pay. */
static void judge_drafting(sd_controller *c, const sd_round_outcome *o, double draft_s) {
    const double tokens = o->n_accepted + 1;
    c->episode_rounds++;
    c->episode_tokens = FLOOR_DECAY * c->episode_tokens + tokens;
    c->episode_seconds = FLOOR_DECAY * c->episode_seconds + draft_s + o->t_verify_s;
    c->episode_total_tokens += tokens;
    c->episode_total_seconds += o->t_draft_s + o->t_verify_s;
    const double t_plain = sd_controller_verify_cost(c, 1);
    if (c->episode_rounds < FLOOR_MIN_ROUNDS || !costs_known(c, SD_SOURCE_MODEL) || !(t_plain > 0)) return;
    const double gain = c->episode_tokens / c->episode_seconds * t_plain;
    if (gain >= 1.0) {
        if (c->episode_rounds == FLOOR_MIN_ROUNDS) c->backoff = FIRST_PAUSE; /* the probe paid */
        return;
    }
    const double lost_s = SD_MAX(0.0, c->episode_total_seconds - c->episode_total_tokens * t_plain);
    const double budget_rounds = lost_s / (PROBE_BUDGET * t_plain);
    c->paused = true;
    c->pause_left = budget_rounds > c->backoff ? (int32_t)SD_MIN(budget_rounds, 1e9) : c->backoff;
    c->backoff = SD_MIN(2 * c->backoff, MAX_BACKOFF);
}

/* The n-gram source's proposal for the round, scored against the emitted tokens up to its first miss
 * (whichever source drafted; see sd_round_outcome). */
static void score_ngram(sd_controller *c, const sd_round_outcome *o) {
    if (!o->ngram || !o->emitted) return;
    const int32_t n = SD_MIN(SD_MIN(o->n_ngram, o->n_accepted + 1), SD_MAX_DRAFT_LEN);
    for (int32_t i = 0; i < n; i++) {
        const bool hit = o->ngram[i] == o->emitted[i];
        learn(&c->src[SD_SOURCE_NGRAM], i, o->ngram_p_top, true, hit);
        if (!hit) break;
    }
}

void sd_controller_end_round(sd_controller *c, const sd_round_outcome *o) {
    const bool adaptive = sd_controller_is_adaptive(c), model = c->source == SD_SOURCE_MODEL;
    sd_source_stats *m = &c->src[SD_SOURCE_MODEL];
    /* The first round of a probe pays for the draft's catch-up with the context: a cost of probing, not
     * of drafting, so its drafts are costed at the draft's known rate. So does a round after other
     * sources drafted (a catch-up of their tokens, in one batched pass: a small cost, left out). */
    const bool catch_up = model && (c->round_restarts || (c->model_behind && m->t_draft > 0));
    const double draft_s = catch_up ? o->n_drafted * m->t_draft : o->t_draft_s;
    /* A fixed k learns no calibration: its p_top may not even be computed. */
    update(c, o->n_drafted, o->n_accepted, adaptive && o->n_drafted > 0 ? o->p_top : NULL, draft_s, !catch_up,
           o->t_verify_s);
    /* (a plain round, k = 0 from sd_controller_begin_round, ran no draft pass: nothing to judge) */
    if (model && adaptive && c->k_min == 0 && !c->paused && c->round_k > 0 && o->t_verify_s > 0)
        judge_drafting(c, o, draft_s);
    /* The withheld draft was tested only if every kept one was accepted (the target's token is then at
     * its place). */
    const int32_t i = o->n_drafted;
    if (model && adaptive && o->withheld && o->n_accepted == i && i < SD_MAX_DRAFT_LEN)
        learn(m, i, o->withheld_p_top, true, o->withheld_accepted);
    score_ngram(c, o);
    if (model)
        c->model_behind = false;
    else if (c->sources & SD_SPEC_DRAFT)
        c->model_behind = true;
}
