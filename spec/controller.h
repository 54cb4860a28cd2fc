/* Adaptive draft length: each round drafts the tokens that maximise expected tokens per second,
 *     E(k) / T(k),  T(k) = k t_d + t_v(k + 1),
 *     E(k) = 1 + a_1 + a_1 a_2 + ... + a_1 ... a_k,
 * where a_i is the acceptance of draft i given that those before it were accepted, and the costs t_d
 * (seconds per drafted token) and t_v(n) (seconds per verify pass of n tokens, a line fitted to recent
 * passes) are measured from the run itself. With one a for all positions E is DESIGN.md's
 * (1 - a^(k+1)) / (1 - a); but acceptance varies from token to token, and the draft's own top
 * probability p_top predicts it. So a_i is not an average: the controller learns online how acceptance
 * depends on p_top and on the position's recent acceptance (a logistic model: the draft's calibration
 * and how easy the current text is), mixes that model with the position's recent acceptance alone by how
 * well each predicted the recent drafts (on some texts the draft's confidence misleads), and decides
 * token by token while the draft runs, keeping draft i while it pays for its cost. The drafts the gate
 * withholds are scored too (greedy decoding shows whether the target's token equals them), so that
 * stopping too early is seen and unlearnt. This is the confidence threshold for early stop, derived
 * each time from the measured costs and calibration instead of fixed: confident text drafts long,
 * uncertain text stops after one token or drafts none. A fixed k (min == max) turns adaptation off.
 *
 * The round protocol, the same for the decoder (spec/decode.c), bench-replay and the tests' simulations:
 *   k = sd_controller_begin_round(c, k_limit);    at most k drafts this round (0: a plain round)
 *   for i = 0, 1, ... < k: the draft proposes draft i with top probability p_top;
 *       v = sd_controller_judge_draft(c, i, p_top);
 *       SD_DRAFT_WITHHOLD: stop, draft i is not verified; SD_DRAFT_KEEP_LAST: keep it and stop
 *   the target verifies the j kept drafts;
 *   sd_controller_end_round(c, &outcome);         j, accepted, times, the withheld draft's fate
 * The caller supplies only drafts, verification results and times; which rounds draft nothing (and
 * when the draft may stop following the context altogether), the bound on k, the gate and what is
 * learnt from each round are decided here. */
#ifndef SD_CONTROLLER_H
#define SD_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "draft/drafter.h" /* sd_draft_verdict */
#include "specdec.h"       /* SD_MAX_DRAFT_LEN */

/* Rounds between plain rounds (see sd_controller_begin_round). */
#define SD_PLAIN_ROUND_EVERY 256

/* Where a round's drafts come from. */
typedef enum sd_draft_source {
    SD_SOURCE_NONE = -1, /* a plain round */
    SD_SOURCE_MODEL = 0, /* the draft model (draft/drafter.h) */
    SD_SOURCE_NGRAM = 1, /* n-grams of the context (draft/ngram.h): deterministic, ~0 seconds to propose */
} sd_draft_source;
#define SD_SOURCE_COUNT 2

/* What the controller has measured of one source. */
typedef struct sd_source_stats {
    /* acceptance at each draft position: decayed counts of drafts accepted and drafts tested, and the
     * first position's prior (see sd_controller_init) */
    double acc_hits[SD_MAX_DRAFT_LEN], acc_trials[SD_MAX_DRAFT_LEN];
    double prior;
    /* acceptance of a draft (given the earlier ones of its round were accepted) as a logistic model
     * learned online: sigmoid(w[0] + w[1] logit(p_top) + w[2] logit(position's acceptance)); the draft's
     * confidence says which tokens are easy, the position's recent acceptance how easy the text is now
     * (the n-gram source's p_top is a stand-in from its match's order, sd_ngram_confidence) */
    double w[3];
    /* each predictor's recent log-loss on tested drafts (decayed sums): the logistic model's, and that of
     * the position's acceptance alone; the prediction mixes the two by their recent likelihood */
    double loss_model, loss_position;
    double t_draft; /* seconds per drafted token (the n-gram source: 0, its proposals cost ~0) */
} sd_source_stats;

typedef struct sd_controller {
    int32_t k_min, k_max;
    unsigned sources; /* SD_SPEC_DRAFT, SD_SPEC_NGRAM bits: the sources that may draft */
    sd_source_stats src[SD_SOURCE_COUNT];
    sd_draft_source source; /* the round's source (see sd_controller_choose_source) */
    /* rounds since the model drafted while it could have (see sd_controller_choose_source), and whether
     * tokens were emitted since it last followed the context (its next round catches up) */
    int32_t model_unused;
    bool model_behind;
    /* costs, seconds; t_v[n] for n = 1..SD_MAX_DRAFT_LEN + 1 tokens per verify pass (0: not measured) */
    double t_verify[SD_MAX_DRAFT_LEN + 2];
    /* time-decayed least-squares sums of the verify samples (n, t): weight, n, t, n^2, n t */
    double fit_w, fit_x, fit_y, fit_xx, fit_xy;
    /* recent rounds' tokens and seconds (decayed sums): the throughput being achieved */
    double rate_tokens, rate_seconds;
    int32_t rounds_since_explore; /* see sd_controller_begin_round */
    int32_t rounds_since_plain;   /* rounds since the last that drafted nothing (see there) */
    /* The floor at plain decoding (see sd_controller_begin_round); it pauses the draft model only. */
    bool paused;        /* the draft model is paused */
    int32_t pause_left; /* while paused: rounds before the next probe */
    int32_t backoff;    /* the next pause, in rounds, if the current drafting does not pay */
    /* the draft model's rounds since drafting last (re)started: their count; their tokens and seconds as
     * decayed sums for the decision (a probe's catch-up left out), and as plain sums (catch-up
     * included: what a probe that does not pay lost) */
    int32_t episode_rounds;
    double episode_tokens, episode_seconds;
    double episode_total_tokens, episode_total_seconds;
    bool round_restarts; /* the round in progress is a probe's first: the draft catches up in it */
    /* the round in progress, for sd_controller_judge_draft: the probability that every draft kept so
     * far is accepted, and whether this round may draft one token past the stop */
    double round_all_accepted;
    bool round_explore;
    int32_t round_k; /* the bound sd_controller_begin_round returned */
} sd_controller;

/* Starts with no measurements: acceptance priors of 0.6 at the first position (0.3 for n-gram drafts), each
 * deeper position's prior being the estimate of the one before (worth 2 tested drafts each), the logistic
 * model weighing the draft's confidence and the position's acceptance equally, and no costs. k_min and k_max
 * are clamped to [0, SD_MAX_DRAFT_LEN]. */
void sd_controller_init(sd_controller *c, int32_t k_min, int32_t k_max);

/* The sources that may draft (SD_SPEC_DRAFT, SD_SPEC_NGRAM bits); after sd_controller_init, the draft
 * model alone. */
void sd_controller_set_sources(sd_controller *c, unsigned sources);

/* Whether the draft lengths adapt (k_min < k_max). With a fixed k sd_controller_judge_draft keeps
 * every draft, so a caller may skip it (and the draft need not compute p_top). */
bool sd_controller_is_adaptive(const sd_controller *c);

/* Begins a round: returns the most tokens it may draft, in [0, k_limit] (k_limit: what the caller can
 * take, e.g. the context's room and the tokens still wanted). The bound is k_max once the costs are
 * measured (sd_controller_judge_draft then ends each draft where another token no longer pays),
 * before that min(4, k_max) (at least k_min); a fixed k is itself. The first round, and then one in
 * SD_PLAIN_ROUND_EVERY rounds (counted across generations), drafts nothing when k_min is 0, so that the
 * cost of a plain single-token target pass is measured (the k = 0 option, the floor and the speed-up
 * estimate need it; a line through longer passes misjudges it). Once
 * in 8 adaptive rounds the round may draft one token past the point where it would stop, so that the
 * acceptance of less confident drafts stays measured and a change of text can be noticed.
 *
 * The floor at plain decoding (adaptive, k_min 0): even a round whose gate keeps no draft costs a draft
 * pass (the draft follows the context and proposes the token the gate withholds), so when drafting does
 * not pay, where the tokens per second of the recent drafting rounds times t_v(1) (the expected gain
 * over plain decoding, as measured) falls below 1 after at least 8 of them, the controller pauses the
 * draft: rounds return 0 and the caller runs no draft pass at all, not even to keep its cache in step
 * (sd_controller_draft_idle), so each round costs exactly a plain decoding step. After the pause a probe
 * resumes drafting (the draft catches up from a short window of recent context, the caller's business)
 * and is judged the same way. Pauses double, 16, 32, ... rounds, while probes do not pay, and last at
 * least what keeps the time the last probe lost against plain decoding below 2% of the pause's; a
 * probe that pays resets them to 16. */
int32_t sd_controller_begin_round(sd_controller *c, int32_t k_limit);

/* Chooses the round's source, after sd_controller_begin_round returned k > 0, given the n-gram source's
 * proposal for the round (n_ngram tokens, at most k, proposed with stand-in confidence ngram_p_top; 0
 * when it has none or is not enabled). Each source's expected tokens per second is estimated from
 * what is measured (acceptance by position, of the n-gram proposal by its confidence, and the costs: a
 * model draft costs t_d per token, an n-gram draft nothing, both the same to verify) and the better one
 * drafts: the model when the n-gram has no proposal, and once in 32 rounds it could have drafted but
 * did not, so that its acceptance on the current text stays measured (the n-gram's is measured every
 * round it has a proposal, from the tokens emitted; see sd_round_outcome). SD_SOURCE_NONE: neither can
 * draft (the model paused or not enabled, and no n-gram match): the round is plain. Callers that never
 * call this draft with the model. */
sd_draft_source sd_controller_choose_source(sd_controller *c, int32_t n_ngram, float ngram_p_top);

/* Whether the draft model is paused (see sd_controller_begin_round): its cache need not follow the context,
 * e.g. the prompt need not be fed to it; the round that ends the pause drafts again. */
bool sd_controller_draft_idle(const sd_controller *c);

/* The gate: whether draft i (0-based) of the round, which the draft proposed with top probability
 * p_top, is worth verifying, and whether the draft should go on to draw draft i + 1. Called for i = 0,
 * 1, ... in order, at most up to the bound sd_controller_begin_round returned. With a the acceptance
 * sd_controller_acceptance_at predicts for it, verifying it raises the expected tokens of the round by
 * g = (probability that drafts 0..i are all accepted) and costs dT = t_v(i + 2) - t_v(i + 1) (its draft
 * pass is paid already); it is kept if g >= R dT, R the tokens per second recent rounds achieved.
 * (Long-run throughput is total tokens over total time, not the mean of each round's E / T; a token that
 * pays at least R per second of its cost raises it; this is Dinkelbach's rule, and R converges to the
 * best rate the policy can reach.) Draft i + 1 is drawn only when draft i would also pay for a draft
 * pass more, g >= R (dT + t_d); otherwise the verdict is SD_DRAFT_KEEP_LAST, and the round verifies draft
 * i without paying a pass for a draft it would likely withhold. Once in 8 adaptive rounds (see
 * sd_controller_begin_round) the first verdict that would stop the draft goes one step further instead
 * (withhold becomes keep-last, keep-last becomes keep). Always SD_DRAFT_KEEP below k_min, with a fixed k or
 * before the costs are measured. Callers whose proposal costs nothing more per token (n-gram and
 * cross-vocabulary drafts) treat SD_DRAFT_KEEP_LAST as SD_DRAFT_KEEP. */
sd_draft_verdict sd_controller_judge_draft(sd_controller *c, int32_t i, float p_top);

/* What a round showed, for sd_controller_end_round. */
typedef struct sd_round_outcome {
    int32_t n_drafted;  /* drafts kept and verified, at most the round's bound */
    int32_t n_accepted; /* of them accepted: drafts 0..n_accepted - 1 (the target's token follows) */
    const float *p_top; /* [n_drafted] the top probability each was proposed with; NULL: not known */
    double t_draft_s;   /* seconds of drafting: the catch-up with the context and the withheld draft's
                         * pass included (0: no draft pass) */
    double t_verify_s;  /* seconds of the verify pass of n_drafted + 1 tokens */
    /* The draft the gate (or another stop rule) withheld after the kept ones, when the target's output
     * shows its fate (greedy decoding): whether there was one, its top probability, and whether the
     * target's token at its place equals it. */
    bool withheld;
    float withheld_p_top;
    bool withheld_accepted;
    /* The tokens the round emitted ([n_accepted + 1]: the accepted drafts, then the target's token) and
     * the n-gram source's proposal for the round ([n_ngram], proposed at ngram_p_top; n_ngram 0: none),
     * whichever source drafted: its tokens are scored against the emitted ones up to the first miss.
     * (Exact for its acceptance: a one-hot draft x is accepted with probability p(x), the probability
     * that the target's token there is x.) */
    const int32_t *emitted;
    const int32_t *ngram;
    int32_t n_ngram;
    float ngram_p_top;
} sd_round_outcome;

/* Ends the round: learns the acceptance of the tested drafts (those up to the first rejection) and of
 * the withheld draft when every kept one was accepted (without it the gate's own decisions would hide
 * the acceptance of the drafts it stops at, and the controller could not learn that it stops too
 * early), the draft's cost per token, the verify cost of n_drafted + 1 tokens and the achieved rate.
 * With a fixed k the drafts' p_top is not used. */
void sd_controller_end_round(sd_controller *c, const sd_round_outcome *o);

/* Current estimates, for the round's source (the draft model between rounds): acceptance at draft
 * position i (0-based, given the earlier ones were accepted), acceptance of draft i proposed with top
 * probability p_top (the mixture the gate uses), the verify cost. */
double sd_controller_acceptance(const sd_controller *c, int32_t i);
double sd_controller_acceptance_at(const sd_controller *c, int32_t i, float p_top);
double sd_controller_verify_cost(const sd_controller *c, int32_t n); /* seconds for n tokens */

#endif
