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

void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max) {
    *c = (sd_controller){.w = {0.0, 0.5, 0.5}};
    c->k_min = SD_MAX(0, SD_MIN(k_min, SD_MAX_DRAFT_LEN));
    c->k_max = SD_MAX(c->k_min, SD_MIN(k_max, SD_MAX_DRAFT_LEN));
    c->backoff = FIRST_PAUSE;
}

static bool costs_known(const sd_controller *c) {
    if (c->t_draft <= 0) return false;
    for (int n = 1; n <= SD_MAX_DRAFT_LEN + 1; n++)
        if (c->t_verify[n] > 0) return true;
    return false;
}

double sd_controller_acceptance(const sd_controller *c, int32_t i) {
    double a = FIRST_PRIOR;
    for (int32_t p = 0; p <= i && p < SD_MAX_DRAFT_LEN; p++)
        a = (c->acc_hits[p] + PRIOR_WEIGHT * a) / (c->acc_trials[p] + PRIOR_WEIGHT);
    return a;
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

static double predict(const sd_controller *c, const double x[3]) {
    return 1.0 / (1.0 + exp(-(c->w[0] * x[0] + c->w[1] * x[1] + c->w[2] * x[2])));
}

double sd_controller_acceptance_at(const sd_controller *c, int32_t i, float p_top) {
    const double position = sd_controller_acceptance(c, i);
    double x[3];
    features(p_top, position, x);
    /* weights exp(-loss) of each predictor, normalised: the logistic model's is 1 / (1 + e^(lm - lp)) */
    const double w_model = 1.0 / (1.0 + exp(c->loss_model - c->loss_position));
    return w_model * predict(c, x) + (1.0 - w_model) * position;
}

/* t_v(n): the line fitted to recent passes (a pass costs about a fixed part plus a part per token) once
 * passes of at least two sizes are in it; otherwise the measured size's average scaled by the prior of
 * 10% more per extra token. 0 when nothing is measured. */
double sd_controller_verify_cost(const sd_controller *c, int32_t n) {
    if (n < 1) n = 1;
    if (n > SD_MAX_DRAFT_LEN + 1) n = SD_MAX_DRAFT_LEN + 1;
    const double var = c->fit_w * c->fit_xx - c->fit_x * c->fit_x; /* w^2 x the weighted variance of n */
    if (c->fit_w > 0 && var > 1e-3 * c->fit_w * c->fit_w) {
        double slope = (c->fit_w * c->fit_xy - c->fit_x * c->fit_y) / var;
        slope = slope > 0 ? slope : 0; /* noise can tilt the line; a longer pass is never cheaper */
        const double mean_x = c->fit_x / c->fit_w, mean_y = c->fit_y / c->fit_w;
        const double t = mean_y + slope * (n - mean_x);
        return t > 0.5 * mean_y ? t : 0.5 * mean_y;
    }
    if (c->t_verify[n] > 0) return c->t_verify[n];
    for (int i = 1; i <= SD_MAX_DRAFT_LEN + 1; i++)
        if (c->t_verify[i] > 0) return c->t_verify[i] * (1.0 + 0.1 * (n - 1)) / (1.0 + 0.1 * (i - 1));
    return 0.0;
}

bool sd_controller_is_adaptive(const sd_controller *c) {
    return c->k_min != c->k_max;
}

/* The controller's bound on the round's k, before the plain-round rule and the caller's limit. */
static int32_t choose_k(sd_controller *c) {
    if (!sd_controller_is_adaptive(c)) return c->k_min;
    if (!costs_known(c)) return SD_MAX(c->k_min, SD_MIN(4, c->k_max)); /* a guess until measured */
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
    if (c->paused) return 0;
    int32_t k = choose_k(c);
    if (c->k_min == 0 && c->rounds_since_plain >= SD_PLAIN_ROUND_EVERY) k = 0;
    k = SD_MAX(0, SD_MIN(k, k_limit));
    c->rounds_since_plain = k == 0 ? 0 : c->rounds_since_plain + 1;
    return k;
}

bool sd_controller_keep_drafting(sd_controller *c, int32_t i, float p_top) {
    const double a = sd_controller_acceptance_at(c, i, p_top);
    const double all = c->round_all_accepted * a;
    bool keep = i < c->k_min || !sd_controller_is_adaptive(c) || !costs_known(c);
    if (!keep) {
        const double t_now = i * c->t_draft + sd_controller_verify_cost(c, i + 1);
        const double t_next = (i + 1) * c->t_draft + sd_controller_verify_cost(c, i + 2);
        /* rate_seconds > 0 here: every round that measured a verify cost added to it */
        keep = all >= c->rate_tokens / c->rate_seconds * (t_next - t_now);
        if (!keep && c->round_explore) {
            c->round_explore = false;
            keep = true;
        }
    }
    if (keep) c->round_all_accepted = all;
    return keep;
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
static void learn(sd_controller *c, int32_t p, float p_top, bool has_p_top, bool hit) {
    if (has_p_top) {
        const double position = sd_controller_acceptance(c, p);
        double x[3];
        features(p_top, position, x);
        const double model = predict(c, x);
        c->loss_model = LOSS_DECAY * c->loss_model - log(SD_MAX(hit ? model : 1.0 - model, 0.01));
        c->loss_position = LOSS_DECAY * c->loss_position - log(SD_MAX(hit ? position : 1.0 - position, 0.01));
        const double err = (hit ? 1.0 : 0.0) - model;
        for (int f = 0; f < 3; f++)
            c->w[f] += LEARNING_RATE * err * x[f];
    }
    c->acc_hits[p] = ACCEPT_DECAY * c->acc_hits[p] + (hit ? 1.0 : 0.0);
    c->acc_trials[p] = ACCEPT_DECAY * c->acc_trials[p] + 1.0;
}

/* Records a round: k drafted tokens (top probabilities p_top[0..k), or NULL) of which n_accepted were
 * accepted, drafting took t_draft_s seconds (0 when k == 0; an estimate when !draft_cost_measured) and
 * the verify pass of k + 1 tokens took t_verify_s seconds. */
static void update(sd_controller *c, int32_t k, int32_t n_accepted, const float *p_top, double t_draft_s,
                   bool draft_cost_measured, double t_verify_s) {
    if (k > 0) {
        /* Drafts are tested in order until the first rejection: drafts 0..n_accepted - 1 were accepted,
         * draft n_accepted (if drafted) rejected, later ones not tested. */
        int32_t tested = n_accepted < k ? n_accepted + 1 : k;
        for (int32_t p = 0; p < tested && p < SD_MAX_DRAFT_LEN; p++)
            learn(c, p, p_top ? p_top[p] : 0.0f, p_top != NULL, p < n_accepted);
        if (t_draft_s > 0 && draft_cost_measured) blend(&c->t_draft, t_draft_s / k);
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
    if (c->episode_rounds < FLOOR_MIN_ROUNDS || !costs_known(c) || !(t_plain > 0)) return;
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

void sd_controller_end_round(sd_controller *c, const sd_round_outcome *o) {
    const bool adaptive = sd_controller_is_adaptive(c);
    /* The first round of a probe pays for the draft's catch-up with the context: a cost of probing, not
     * of drafting, so its drafts are costed at the draft's known rate. */
    const double draft_s = c->round_restarts ? o->n_drafted * c->t_draft : o->t_draft_s;
    /* A fixed k learns no calibration: its p_top may not even be computed. */
    update(c, o->n_drafted, o->n_accepted, adaptive && o->n_drafted > 0 ? o->p_top : NULL, draft_s,
           !c->round_restarts, o->t_verify_s);
    if (adaptive && c->k_min == 0 && !c->paused && o->t_verify_s > 0) judge_drafting(c, o, draft_s);
    /* The withheld draft was tested only if every kept one was accepted (the target's token is then at
     * its place). */
    const int32_t i = o->n_drafted;
    if (adaptive && o->withheld && o->n_accepted == i && i < SD_MAX_DRAFT_LEN)
        learn(c, i, o->withheld_p_top, true, o->withheld_accepted);
}
