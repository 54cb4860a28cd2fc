/* `specdec bench-replay`: draft-length policies (fixed k and the adaptive controller) compared without
 * timing noise.
 *
 * Greedy speculative decoding is deterministic: at position t of the target's greedy output, what the
 * draft proposes and how many of its proposals the target accepts depend only on the context, which is
 * the prompt and the target's first t tokens whatever the policy. So this command records once, for
 * every prompt and position t, the draft's next K greedy proposals, the draft's top probability for each
 * and how many of them match the target's output (the drafts a verify pass would accept). Then it
 * replays the rounds of spec/decode.c for each policy over those records, driving the real controller
 * through its round protocol (spec/controller.h: it bounds k and gates each draft): rounds accept
 * min(drafted, matching) tokens plus the target's own, and time advances by the costs t_d per draft
 * forward pass and t_v(n) per verify pass of n tokens. With --spec ngram or draft,ngram it also records
 * the n-gram source's proposal at each position (deterministic from the context, as draft/ngram.h makes
 * it) and replays the controller's choice of source each round, as decode.c asks it. The costs are measured
 * once (the target's passes of n = 1..K+1 tokens after a prompt-sized cache, the draft's single-token pass)
 * or given with
 * --t-v-ms/--t-d-ms (e.g. another machine's); the controller still sees verify times with seeded
 * multiplicative noise (--noise), as on a real machine. The adaptive controller lives on across
 * prompts and repeats, as in `specdec bench` (prompt-major).
 *
 * What replaying leaves out: machine noise beyond --noise (the same for every policy here), the cost of
 * sampling and bookkeeping, the draft's floating-point differences between batched and single-token
 * passes, and the shorter context a draft restarted from a recent window has (its proposals are
 * replayed as recorded with the whole context). `specdec bench` measures the real thing; this command tells
 * policies apart in seconds where a timed benchmark needs many repeats, and shows how they would fare under
 * other costs. */
#include "bench.h"
#include "bench_common.h"
#include "bench_spec.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "common/sd_common.h"
#include "common/sd_rng.h"
#include "draft/drafter.h"
#include "draft/ngram.h"
#include "model/model.h"
#include "spec/controller.h"
#include "spec/decode.h"
#include "tokenizer/vocab.h"

#define MAX_KS 8
#define MAX_KINDS 8
#define DEFAULT_DEPTH 16 /* drafts recorded per position: the adaptive controller's default --draft-max */

typedef struct rp_opts {
    const char *target_path, *draft_path, *prompts_path;
    int32_t n_prompts, n_predict, repeat, threads, depth;
    int32_t ks[MAX_KS];
    int n_ks;
    double noise;
    uint64_t seed;
    double t_v_ms[SD_MAX_DRAFT_LEN + 2]; /* given costs, [n - 1] for n tokens; n_t_v == 0: measure */
    int n_t_v;
    double t_d_ms;        /* 0: measure */
    const char *trace_id; /* print the adaptive policy's rounds on this prompt; NULL: none */
    unsigned sources;     /* --spec: SD_SPEC_DRAFT, SD_SPEC_NGRAM bits the controller chooses from */
} rp_opts;

/* One prompt's record: at each of n positions, how many of the draft's next `depth` greedy proposals the
 * target accepts, and the draft's top probability for each proposal. */
typedef struct rp_trace {
    const bs_prompt *prompt;
    int32_t n;
    int32_t *accept; /* [n] */
    float *p_top;    /* [n][depth] */
    /* With the n-gram source: the target's greedy tokens ([n], what each round emits), and at each
     * position the n-gram source's proposal of up to depth tokens ([n][depth], ngram_n[t] of them, at
     * stand-in confidence ngram_conf[t]) and how many of it the target accepts. A shorter bound proposes
     * a prefix of the same tokens, so one record serves every k. */
    int32_t *target, *ngram, *ngram_n, *ngram_accept;
    float *ngram_conf;
} rp_trace;

/* One policy's totals over a set of prompts. */
typedef struct rp_total {
    double seconds, plain_seconds;
    int64_t tokens, rounds, drafted, accepted;
    int64_t drafted_ngram, accepted_ngram; /* of them, by the n-gram source */
} rp_total;

typedef struct rp_policy {
    char name[32];
    int32_t k_min, k_max;
    sd_controller ctrl;
    rp_total *per_prompt; /* [n_prompts] */
    int64_t k_hist[SD_MAX_DRAFT_LEN + 1];
} rp_policy;

static void usage(FILE *f, const cli_command *c) {
    fprintf(f,
            "usage: specdec bench-replay -m TARGET -md DRAFT -f PROMPTS [flags]\n"
            "\n"
            "Compares draft-length policies (fixed k and adaptive) without timing noise: records once, at\n"
            "every position of the target's greedy output, the draft's next proposals, their top\n"
            "probabilities and how many the target accepts, then replays the speculative round loop of "
            "each\n"
            "policy over those records with the real controller and measured (or given) costs. Prints\n"
            "speed-ups over plain decoding by policy, by kind of text and by prompt. With --spec ngram or\n"
            "draft,ngram the n-gram source's proposals are recorded too and the controller's source choice\n"
            "is replayed.\n"
            "\n");
    cli_print_flags(f, c);
}

/* --t-v-ms: 2 to f->cap positive, finite ms values, comma-separated. */
static bool read_ms_list(const char *s, const cli_flag *f) {
    double *out = f->out.any;
    int n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v > 0) || !isfinite(v) || n == f->cap) return false;
        out[n++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        s = end;
    }
    *f->count = n;
    return n >= 2;
}

/* --t-d-ms: one positive, finite ms value. */
static bool read_ms(const char *s, const cli_flag *f) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || !isfinite(v)) return false;
    *(double *)f->out.any = v;
    return true;
}

/* Returns -1 to run, else the exit code (0 after --help, 2 on a bad flag, printed). */
static int parse_opts(int argc, char **argv, rp_opts *o) {
    *o = (rp_opts){.n_predict = 64,
                   .repeat = 2,
                   .threads = sd_bench_allowed_cpus(),
                   .depth = DEFAULT_DEPTH,
                   .ks = {1, 2, 3, 4},
                   .n_ks = 4,
                   .noise = 0.05,
                   .seed = 42,
                   .sources = SD_SPEC_DRAFT};
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &o->target_path, .arg = "FILE",
         .help = "target GGUF model (its costs are measured unless --t-v-ms is given)"},
        {"-md", "--model-draft", CLI_STR, .out.s = &o->draft_path, .arg = "FILE", .help = "draft GGUF model"},
        {"-f", "--file", CLI_STR, .out.s = &o->prompts_path, .arg = "FILE",
         .help = "prompts: JSON Lines with \"prompt\" (and optional \"id\", \"kind\")"},
        {"--n-prompts", NULL, CLI_INT, .out.i = &o->n_prompts, 1, 100000, .arg = "N",
         .help = "use the first N prompts (default: all)"},
        {"-n", "--n-predict", CLI_INT, .out.i = &o->n_predict, 1, 100000, .arg = "N",
         .help = "tokens per prompt (default 64)"},
        {"--k", NULL, CLI_INT_LIST, .out.i = o->ks, 1, SD_MAX_DRAFT_LEN, .cap = MAX_KS, .count = &o->n_ks,
         .arg = "LIST", .help = "fixed draft lengths to compare (default 1,2,3,4)"},
        {"--draft-max", NULL, CLI_INT, .out.i = &o->depth, 1, SD_MAX_DRAFT_LEN, .arg = "K",
         .help =
             "adaptive upper bound and drafts recorded per position (default " CLI_STRING(DEFAULT_DEPTH) ")"},
        {"--repeat", NULL, CLI_INT, .out.i = &o->repeat, 1, 1000, .arg = "R",
         .help = "replays of every prompt; the adaptive controller keeps learning\n"
                 "across them, as in specdec bench (default 2)"},
        {"--noise", NULL, CLI_DOUBLE, .out.d = &o->noise, 0, 1, .arg = "S",
         .help = "standard deviation of the log-normal noise on the verify times the\n"
                 "controller sees (default 0.05; 0: none)"},
        {"-s", "--seed", CLI_U64, .out.u = &o->seed, .hi = INT32_MAX, .arg = "S",
         .help = "seed of that noise (default 42)"},
        {"--t-v-ms", NULL, CLI_CUSTOM, .out.any = o->t_v_ms, .cap = SD_MAX_DRAFT_LEN + 1, .count = &o->n_t_v,
         .parse = read_ms_list, .want = "2 to 33 positive ms values, e.g. 24.2,27.5,30.1", .arg = "LIST",
         .help = "verify pass ms for n = 1, 2, ... tokens (at least 2 values; the line\n"
                 "through the last two extends it); skips measuring the target"},
        {"--t-d-ms", NULL, CLI_CUSTOM, .out.any = &o->t_d_ms, .parse = read_ms, .want = "a positive ms value",
         .arg = "X", .help = "draft ms per token; skips measuring the draft"},
        {"--spec", "--spec-type", CLI_CUSTOM, .out.any = &o->sources, .parse = cli_read_spec_sources,
         .want = CLI_SPEC_WANT, .arg = "LIST",
         .help = "draft sources the controller chooses from each round, as generate's\n"
                 "--spec: draft (default), ngram, or draft,ngram"},
        {"--trace", NULL, CLI_STR, .out.s = &o->trace_id, .arg = "ID",
         .help = "print every round of the adaptive policy on prompt ID (stderr):\n"
                 "position, drafts kept, accepted, the draft's top probability and the\n"
                 "controller's predicted acceptance per draft"},
        {"-t", "--threads", CLI_INT, .out.i = &o->threads, 1, 1024, .arg = "N",
         .help = "worker threads (default: the CPUs this process may use)"},
        {"-h", "--help", .kind = CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"bench-replay", flags, CLI_COUNT(flags), usage, 24, true, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    const char *missing = !o->target_path    ? "-m TARGET"
                          : !o->draft_path   ? "-md DRAFT"
                          : !o->prompts_path ? "-f PROMPTS"
                                             : NULL;
    if (missing) {
        fprintf(stderr, "specdec bench-replay: missing %s (see --help)\n", missing);
        return 2;
    }
    for (int i = 0; i < o->n_ks; i++)
        if (o->ks[i] > o->depth) {
            char got[16];
            snprintf(got, sizeof got, "%d", o->ks[i]);
            cli_flag_error(&c, "--k", "lengths of at most --draft-max", got);
            return 2;
        }
    return -1;
}

/* ---- Recording ---- */

static sd_draft_verdict keep_all(void *user, int32_t i, float p_top) {
    (void)user, (void)i, (void)p_top;
    return SD_DRAFT_KEEP;
}

/* The target's greedy output for prompt (n_out tokens, at most n_want), then at each position the
 * draft's proposals against it. */
static int record(sd_engine *plain, sd_drafter *drafter, const int32_t *prompt, int32_t n_prompt, int32_t n,
                  int32_t depth, int32_t *ctx, rp_trace *tr, double *t_draft, int64_t *n_draft, char *err,
                  size_t err_len) {
    sd_stats st;
    int32_t n_want = n + depth;
    memcpy(ctx, prompt, (size_t)n_prompt * sizeof *ctx);
    int rc = sd_engine_generate(plain, prompt, n_prompt, n_want, NULL, NULL, ctx + n_prompt, n_want, &st, err,
                                err_len);
    if (rc < 0) return rc;
    int32_t n_out = st.n_gen;
    tr->n = SD_MIN(n, n_out);
    tr->accept = malloc((size_t)SD_MAX(1, tr->n) * sizeof *tr->accept);
    tr->p_top = malloc((size_t)SD_MAX(1, tr->n) * (size_t)depth * sizeof *tr->p_top);
    if (!tr->accept || !tr->p_top) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    const sd_draft_stop stop = {.gate = keep_all};
    int32_t drafts[SD_MAX_DRAFT_LEN];
    sd_drafter_reset(drafter);
    if ((rc = sd_drafter_sync(drafter, ctx, n_prompt - 1, err, err_len)) < 0) return rc;
    for (int32_t t = 0; t < tr->n; t++) {
        double t0 = sd_time_seconds();
        int32_t j = sd_drafter_propose(drafter, ctx, n_prompt + t, depth, &stop, drafts, err, err_len);
        if (j < 0) return j;
        *t_draft += sd_time_seconds() - t0;
        *n_draft += j;
        const float *conf = sd_drafter_confidence(drafter);
        int32_t a = 0;
        while (a < j && t + a < n_out && drafts[a] == ctx[n_prompt + t + a])
            a++;
        tr->accept[t] = a;
        for (int32_t i = 0; i < depth; i++)
            tr->p_top[(size_t)t * (size_t)depth + (size_t)i] = i < j ? conf[i] : 0.0f;
    }
    return SD_STATUS_OK;
}

/* The n-gram source's records of trace tr (ctx: the prompt and the target's output, as record left it),
 * with a fresh index per generation as spec/decode.c keeps it. */
static int record_ngram(const int32_t *ctx, int32_t n_prompt, int32_t n_ctx, int32_t depth, rp_trace *tr,
                        char *err, size_t err_len) {
    const size_t n = (size_t)SD_MAX(1, tr->n);
    tr->target = malloc(n * sizeof *tr->target);
    tr->ngram = malloc(n * (size_t)depth * sizeof *tr->ngram);
    tr->ngram_n = malloc(n * sizeof *tr->ngram_n);
    tr->ngram_accept = malloc(n * sizeof *tr->ngram_accept);
    tr->ngram_conf = malloc(n * sizeof *tr->ngram_conf);
    if (!tr->target || !tr->ngram || !tr->ngram_n || !tr->ngram_accept || !tr->ngram_conf)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    sd_ngram *g = NULL;
    int rc = sd_ngram_create(n_ctx, SD_NGRAM_MIN, SD_NGRAM_MAX, &g, err, err_len);
    if (rc < 0) return rc;
    memcpy(tr->target, ctx + n_prompt, (size_t)tr->n * sizeof *tr->target);
    for (int32_t t = 0; t < tr->n; t++) {
        int32_t order = 0, *prop = tr->ngram + (size_t)t * (size_t)depth;
        const int32_t j = sd_ngram_propose(g, ctx, n_prompt + t, depth, prop, &order);
        int32_t a = 0;
        while (a < j && t + a < tr->n && prop[a] == tr->target[t + a])
            a++;
        tr->ngram_n[t] = j;
        tr->ngram_accept[t] = a;
        tr->ngram_conf[t] = j > 0 ? sd_ngram_confidence(order) : 0.0f;
    }
    sd_ngram_free(g);
    return SD_STATUS_OK;
}

/* ---- Replay ---- */

static double noise_factor(uint64_t *state, double sigma) {
    if (sigma <= 0) return 1.0;
    double u[2];
    for (int i = 0; i < 2; i++) /* (0, 1) */
        u[i] = ((double)(sd_splitmix64(state) >> 11) + 0.5) / 9007199254740992.0;
    return exp(sigma * sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/* One generation of trace tr under policy p, in the controller's round protocol as spec/decode.c runs
 * it; adds to *tot. */
static void replay_prompt(rp_policy *p, const rp_trace *tr, int32_t depth, double t_d, const double *t_v,
                          uint64_t *rng, double sigma, bool trace, rp_total *tot) {
    int32_t t = 0;
    /* Tokens the draft has not followed: the prompt when the controller has paused it (decode.c then
     * skips the draft's prefill), then those of the rounds it did not run in. It feeds them when it
     * runs again, from at most the last SD_DRAFT_RESTART_WINDOW tokens (draft/drafter.h); charged here
     * at t_d a token beyond the one a round's pass feeds anyway (an upper bound: a batched feed costs
     * less a token). */
    int32_t behind = sd_controller_draft_idle(&p->ctrl) ? SD_DRAFT_RESTART_WINDOW : 0;
    while (t < tr->n) {
        /* the recorded depth and the tokens still wanted bound k */
        const int32_t k = sd_controller_begin_round(&p->ctrl, SD_MIN(depth, tr->n - t - 1));
        /* the n-gram proposal comes first, so that the controller chooses the source knowing it */
        const int32_t n_ngram = k > 0 && tr->ngram ? SD_MIN(k, tr->ngram_n[t]) : 0;
        const float ngram_conf = tr->ngram ? tr->ngram_conf[t] : 0.0f;
        const sd_draft_source src =
            k > 0 ? sd_controller_choose_source(&p->ctrl, n_ngram, ngram_conf) : SD_SOURCE_NONE;
        const bool model = src == SD_SOURCE_MODEL, adaptive = sd_controller_is_adaptive(&p->ctrl);
        float ngram_confs[SD_MAX_DRAFT_LEN];
        for (int32_t i = 0; i < n_ngram; i++)
            ngram_confs[i] = ngram_conf;
        const float *conf = model ? tr->p_top + (size_t)t * (size_t)depth : ngram_confs;
        int32_t j = 0, passes = 0; /* drafts kept; draft forward passes run */
        double predicted[SD_MAX_DRAFT_LEN];
        while (model && j < k) {
            passes++;
            if (trace) predicted[j] = sd_controller_acceptance_at(&p->ctrl, j, conf[j]);
            const sd_draft_verdict v = sd_controller_judge_draft(&p->ctrl, j, conf[j]);
            if (v == SD_DRAFT_WITHHOLD) break;
            j++;
            if (v == SD_DRAFT_KEEP_LAST) break;
        }
        while (src == SD_SOURCE_NGRAM && j < n_ngram &&
               (!adaptive || sd_controller_judge_draft(&p->ctrl, j, conf[j]) != SD_DRAFT_WITHHOLD))
            j++;
        const int32_t n_acc = SD_MIN(j, model                    ? tr->accept[t]
                                        : src == SD_SOURCE_NGRAM ? tr->ngram_accept[t]
                                                                 : 0);
        if (trace) {
            fprintf(stderr, "%s t=%3d k=%2d %s drafted=%2d accepted=%2d (of %2d) |", tr->prompt->id, t, k,
                    model                    ? "model"
                    : src == SD_SOURCE_NGRAM ? "ngram"
                                             : "plain",
                    j, n_acc,
                    model                    ? tr->accept[t]
                    : src == SD_SOURCE_NGRAM ? tr->ngram_accept[t]
                                             : 0);
            for (int32_t i = 0; i < passes; i++)
                fprintf(stderr, " %.2f/%.2f%s", conf[i], predicted[i], i == j ? "x" : "");
            fprintf(stderr, "\n");
        }
        const int32_t catch_up = passes > 0 && behind > 1 ? SD_MIN(behind, SD_DRAFT_RESTART_WINDOW) - 1 : 0;
        behind = passes > 0 ? 0 : behind + n_acc + 1;
        const double draft_s = (passes + catch_up) * t_d, verify_s = t_v[j] * noise_factor(rng, sigma);
        const bool withheld = passes > j;
        sd_controller_end_round(
            &p->ctrl, &(sd_round_outcome){.n_drafted = j,
                                          .n_accepted = n_acc,
                                          .p_top = src == SD_SOURCE_NONE ? NULL : conf,
                                          .t_draft_s = draft_s,
                                          .t_verify_s = verify_s,
                                          .withheld = withheld,
                                          .withheld_p_top = withheld ? conf[j] : 0.0f,
                                          .withheld_accepted = withheld && tr->accept[t] > j,
                                          .emitted = tr->target ? tr->target + t : NULL,
                                          .ngram = n_ngram > 0 ? tr->ngram + (size_t)t * (size_t)depth : NULL,
                                          .n_ngram = n_ngram,
                                          .ngram_p_top = ngram_conf});
        tot->seconds += draft_s + t_v[j]; /* the noise is what the controller sees, not the score */
        tot->rounds++;
        tot->drafted += j;
        tot->accepted += n_acc;
        if (src == SD_SOURCE_NGRAM) tot->drafted_ngram += j, tot->accepted_ngram += n_acc;
        tot->tokens += n_acc + 1;
        p->k_hist[j]++;
        t += n_acc + 1;
    }
    tot->plain_seconds += tr->n * t_v[0];
}

static void total_add(rp_total *a, const rp_total *b) {
    a->seconds += b->seconds;
    a->plain_seconds += b->plain_seconds;
    a->tokens += b->tokens;
    a->rounds += b->rounds;
    a->drafted += b->drafted;
    a->accepted += b->accepted;
    a->drafted_ngram += b->drafted_ngram;
    a->accepted_ngram += b->accepted_ngram;
}

static double speedup(const rp_total *t) {
    return t->seconds > 0 && t->tokens > 0 ? t->plain_seconds / t->seconds : NAN;
}

/* ---- Report ---- */

typedef struct rp_run {
    const rp_opts *o;
    bs_prompt *prompts;
    int n_prompts;
    rp_trace *traces;
    rp_policy *policies;
    int n_policies;
    const char *kinds[MAX_KINDS];
    int n_kinds;
    double t_d, t_v[SD_MAX_DRAFT_LEN + 2]; /* seconds; t_v[n - 1] for n tokens */
    bool measured_t_v, measured_t_d;
} rp_run;

static rp_total kind_total(const rp_run *r, const rp_policy *p, const char *kind) {
    rp_total t = {0};
    for (int i = 0; i < r->n_prompts; i++)
        if (!kind || strcmp(r->prompts[i].kind, kind) == 0) total_add(&t, &p->per_prompt[i]);
    return t;
}

/* A table header: the leading columns `lead` (e.g. "| kind | prompts |"), then one column per policy. */
static void print_policy_header(const rp_run *r, const char *lead, int n_lead) {
    printf("%s", lead);
    for (int i = 0; i < r->n_policies; i++)
        printf(" %s |", r->policies[i].name);
    printf("\n|");
    for (int i = 0; i < n_lead + r->n_policies; i++)
        printf("---|");
    printf("\n");
}

static void print_report(const rp_run *r) {
    const rp_opts *o = r->o;
    printf("## specdec bench-replay\n\n");
    printf("%d prompts x %d replays, %d tokens each, greedy; drafts recorded %d deep. Costs (%s, %s): t_d = "
           "%.3f ms per draft pass; t_v(n) for n = 1..%d, ms (as --t-v-ms takes it): ",
           r->n_prompts, o->repeat, o->n_predict, o->depth, r->measured_t_v ? "t_v measured" : "t_v given",
           r->measured_t_d ? "t_d measured" : "t_d given", r->t_d * 1e3, o->depth + 1);
    for (int n = 1; n <= o->depth + 1; n++)
        printf("%s%.2f", n > 1 ? "," : "", r->t_v[n - 1] * 1e3);
    printf(". The controller sees verify times with log-normal noise of sd %.2f. Draft sources: %s.\n\n",
           o->noise,
           o->sources == (SD_SPEC_DRAFT | SD_SPEC_NGRAM) ? "draft,ngram"
           : o->sources == SD_SPEC_NGRAM                 ? "ngram"
                                                         : "draft");
    printf("| policy | speed-up | tokens/round | acceptance | n-gram drafted / accepted | k (k:rounds) |\n"
           "|---|---|---|---|---|---|\n");
    for (int i = 0; i < r->n_policies; i++) {
        const rp_policy *p = &r->policies[i];
        rp_total t = kind_total(r, p, NULL);
        printf("| %s | %.2fx | %.2f | %.3f | %lld / %lld | ", p->name, speedup(&t),
               t.rounds ? (double)t.tokens / t.rounds : 0, t.drafted ? (double)t.accepted / t.drafted : 0,
               (long long)t.drafted_ngram, (long long)t.accepted_ngram);
        for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
            if (p->k_hist[k]) printf("%d:%lld ", k, (long long)p->k_hist[k]);
        printf("|\n");
    }
    printf("\n### Speed-up by kind of text (total tokens / total seconds, over plain's)\n\n");
    print_policy_header(r, "| kind | prompts |", 2);
    for (int g = 0; g <= r->n_kinds; g++) {
        const char *kind = g < r->n_kinds ? r->kinds[g] : NULL;
        int count = 0;
        for (int i = 0; i < r->n_prompts; i++)
            count += !kind || strcmp(r->prompts[i].kind, kind) == 0;
        printf("| %s | %d |", kind ? kind : "all", count);
        for (int i = 0; i < r->n_policies; i++) {
            rp_total t = kind_total(r, &r->policies[i], kind);
            printf(" %.2fx |", speedup(&t));
        }
        printf("\n");
    }
    printf("\n");
    /* The verdicts of specdec bench: the adaptive policy (the last) against the best fixed k. */
    const rp_policy *ad = &r->policies[r->n_policies - 1];
    for (int g = 0; g <= r->n_kinds && ad->k_min != ad->k_max; g++) {
        const char *kind = g < r->n_kinds ? r->kinds[g] : NULL;
        rp_total ta = kind_total(r, ad, kind);
        int best = 0;
        double best_s = -1;
        for (int i = 0; i + 1 < r->n_policies; i++) {
            rp_total t = kind_total(r, &r->policies[i], kind);
            if (speedup(&t) > best_s) best_s = speedup(&t), best = i;
        }
        double rel = speedup(&ta) / best_s - 1.0;
        printf("- %s: adaptive %.2fx vs the best fixed k (%s) %.2fx: %+.1f%%, %s\n", kind ? kind : "all",
               speedup(&ta), r->policies[best].name, best_s, 100 * rel,
               rel >= -0.05 ? "within 5%" : "NOT within 5%");
    }
    char lead[96];
    snprintf(lead, sizeof lead, "| prompt | kind | accepted of %d-deep drafts (mean) |", o->depth);
    printf("\n### Speed-up per prompt\n\n");
    print_policy_header(r, lead, 3);
    for (int p = 0; p < r->n_prompts; p++) {
        const rp_trace *tr = &r->traces[p];
        double mean = 0;
        for (int32_t t = 0; t < tr->n; t++)
            mean += tr->accept[t];
        printf("| %s | %s | %.2f |", r->prompts[p].id, r->prompts[p].kind, tr->n ? mean / tr->n : 0);
        for (int i = 0; i < r->n_policies; i++)
            printf(" %.2fx |", speedup(&r->policies[i].per_prompt[p]));
        printf("\n");
    }
}

/* ---- Costs ---- */

static int measure_costs(rp_run *r, sd_model *target, int32_t prefix, double t_d_recorded, char *err,
                         size_t err_len) {
    const rp_opts *o = r->o;
    const int n_max = o->depth + 1;
    if (o->n_t_v) {
        for (int n = 1; n <= n_max; n++) { /* extend the given list along its last step */
            int m = o->n_t_v;
            r->t_v[n - 1] =
                1e-3 * (n <= m ? o->t_v_ms[n - 1]
                               : o->t_v_ms[m - 1] + (n - m) * (o->t_v_ms[m - 1] - o->t_v_ms[m - 2]));
            if (n > 1 && r->t_v[n - 1] < r->t_v[n - 2]) r->t_v[n - 1] = r->t_v[n - 2];
        }
    } else {
        bs_cost_opts co = {.n_threads = o->threads,
                           .prefix = prefix,
                           .samples = 21,
                           .min_samples = 5,
                           .budget_s = 20.0,
                           .sample_s = 0.002};
        int rc = bs_measure_passes(target, &co, n_max, r->t_v, NULL, NULL, err, err_len);
        if (rc < 0) return rc;
        for (int n = 2; n <= n_max; n++) /* medians of noisy samples: a longer pass never costs less */
            r->t_v[n - 1] = SD_MAX(r->t_v[n - 1], r->t_v[n - 2]);
        r->measured_t_v = true;
    }
    if (o->t_d_ms > 0) {
        r->t_d = o->t_d_ms * 1e-3;
    } else {
        r->t_d = t_d_recorded;
        r->measured_t_d = true;
    }
    return SD_STATUS_OK;
}

static int collect_kinds(rp_run *r, char *err, size_t err_len) {
    for (int i = 0; i < r->n_prompts; i++) {
        int k = 0;
        while (k < r->n_kinds && strcmp(r->kinds[k], r->prompts[i].kind) != 0)
            k++;
        if (k == r->n_kinds) {
            if (r->n_kinds == MAX_KINDS)
                return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "more than %d kinds of text",
                                MAX_KINDS);
            r->kinds[r->n_kinds++] = r->prompts[i].kind;
        }
    }
    if (r->n_kinds == 1) r->n_kinds = 0; /* one kind: "all" says it */
    return SD_STATUS_OK;
}

static int run(const rp_opts *o, char *err, size_t err_len) {
    rp_run r = {.o = o};
    sd_model *target = NULL, *draft = NULL;
    sd_engine *plain = NULL;
    sd_drafter *drafter = NULL;
    int32_t **ptok = NULL, *n_ptok = NULL, *ctx = NULL, longest = 0;
    int rc = sd_model_load(o->target_path, &target, err, err_len);
    if (rc == 0) rc = sd_model_load(o->draft_path, &draft, err, err_len);
    if (rc == 0) {
        char why[256];
        if (sd_vocab_check_compatible(target->vocab, draft->vocab, why, sizeof why) < 0)
            rc = sd_error(err, err_len, SD_STATUS_MISMATCH,
                          "the draft's vocabulary does not match the target's: %s", why);
    }
    if (rc == 0) rc = bs_prompts_read(o->prompts_path, o->n_prompts, &r.prompts, err, err_len);
    if (rc < 0) goto out;
    r.n_prompts = rc;
    if ((rc = collect_kinds(&r, err, err_len)) < 0) goto out;
    ptok = calloc((size_t)r.n_prompts, sizeof *ptok);
    n_ptok = calloc((size_t)r.n_prompts, sizeof *n_ptok);
    r.traces = calloc((size_t)r.n_prompts, sizeof *r.traces);
    if (!ptok || !n_ptok || !r.traces) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto out;
    }
    double prompt_sum = 0;
    for (int i = 0; i < r.n_prompts; i++) {
        const bs_prompt *p = &r.prompts[i];
        int n = sd_model_tokenize(target, p->text, p->len, true, false, NULL, 0, err, err_len);
        if (n == 0) rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "prompt %s is empty", p->id);
        if (n <= 0 || !(ptok[i] = malloc((size_t)n * sizeof **ptok))) {
            if (n > 0)
                rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
            else if (rc == 0)
                rc = n;
            goto out;
        }
        sd_model_tokenize(target, p->text, p->len, true, false, ptok[i], n, err, err_len);
        n_ptok[i] = n;
        longest = SD_MAX(longest, n);
        prompt_sum += n;
    }
    const int32_t n_ctx = longest + o->n_predict + o->depth + 2;
    sd_model_info ti;
    sd_model_get_info(target, &ti);
    if (n_ctx > ti.n_ctx_train) {
        rc = sd_error(
            err, err_len, SD_STATUS_CONTEXT_FULL,
            "the longest prompt (%d tokens) and %d + %d tokens do not fit the target's context of %d",
            longest, o->n_predict, o->depth + 1, ti.n_ctx_train);
        goto out;
    }
    sd_engine_params ep = sd_engine_default_params();
    ep.n_ctx = n_ctx;
    ep.n_threads = o->threads;
    ep.sampling.temp = 0;
    if ((rc = sd_engine_create(target, NULL, &ep, &plain, err, err_len)) < 0) goto out;
    sd_sampler_params sp = sd_sampler_default_params();
    sp.temp = 0;
    sd_pool *pool = NULL;
    if ((rc = sd_pool_create(&pool, o->threads, NULL, 0, err, err_len)) < 0) goto out;
    rc = sd_drafter_create(draft, ti.n_vocab, n_ctx, o->depth, 64, SD_CACHE_F16, SD_CACHE_F16, &sp, pool,
                           &drafter, err, err_len);
    if (rc == 0 && !(ctx = malloc((size_t)n_ctx * sizeof *ctx)))
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    double t_draft = 0;
    int64_t n_draft = 0;
    double t0 = sd_time_seconds();
    for (int i = 0; i < r.n_prompts && rc == 0; i++) {
        r.traces[i].prompt = &r.prompts[i];
        rc = record(plain, drafter, ptok[i], n_ptok[i], o->n_predict, o->depth, ctx, &r.traces[i], &t_draft,
                    &n_draft, err, err_len);
        if (rc == 0 && (o->sources & SD_SPEC_NGRAM))
            rc = record_ngram(ctx, n_ptok[i], n_ctx, o->depth, &r.traces[i], err, err_len);
    }
    fprintf(stderr, "specdec bench-replay: recorded %d prompts in %.1f s\n", r.n_prompts,
            sd_time_seconds() - t0);
    sd_drafter_free(drafter);
    sd_pool_free(pool);
    drafter = NULL;
    if (rc < 0) goto out;
    /* the draft's cost per proposed token, as the recording ran it (single-token passes after a sync) */
    rc = measure_costs(&r, target, (int32_t)(prompt_sum / r.n_prompts) + o->n_predict / 2,
                       n_draft ? t_draft / (double)n_draft : 0, err, err_len);
    if (rc < 0) goto out;

    r.n_policies = o->n_ks + 1;
    r.policies = calloc((size_t)r.n_policies, sizeof *r.policies);
    if (!r.policies) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        goto out;
    }
    for (int i = 0; i < r.n_policies && rc == 0; i++) {
        rp_policy *p = &r.policies[i];
        const bool ad = i == o->n_ks;
        p->k_min = ad ? 0 : o->ks[i];
        p->k_max = ad ? o->depth : o->ks[i];
        if (ad)
            snprintf(p->name, sizeof p->name, "adaptive");
        else
            snprintf(p->name, sizeof p->name, "k=%d", o->ks[i]);
        sd_controller_init(&p->ctrl, p->k_min, p->k_max);
        sd_controller_set_sources(&p->ctrl, o->sources);
        if (!(p->per_prompt = calloc((size_t)r.n_prompts, sizeof *p->per_prompt)))
            rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        uint64_t rng = o->seed;
        for (int pr = 0; pr < r.n_prompts && rc == 0; pr++)
            for (int rep = 0; rep < o->repeat; rep++)
                replay_prompt(p, &r.traces[pr], o->depth, r.t_d, r.t_v, &rng, o->noise,
                              i == o->n_ks && o->trace_id && strcmp(o->trace_id, r.prompts[pr].id) == 0,
                              &p->per_prompt[pr]);
    }
    if (rc == 0) print_report(&r);
out:
    for (int i = 0; r.policies && i < r.n_policies; i++)
        free(r.policies[i].per_prompt);
    free(r.policies);
    for (int i = 0; r.traces && i < r.n_prompts; i++) {
        free(r.traces[i].accept);
        free(r.traces[i].p_top);
        free(r.traces[i].target);
        free(r.traces[i].ngram);
        free(r.traces[i].ngram_n);
        free(r.traces[i].ngram_accept);
        free(r.traces[i].ngram_conf);
    }
    free(r.traces);
    for (int i = 0; ptok && i < r.n_prompts; i++)
        free(ptok[i]);
    free(ptok);
    free(n_ptok);
    free(ctx);
    sd_drafter_free(drafter);
    sd_engine_free(plain);
    bs_prompts_free(r.prompts, r.n_prompts);
    sd_model_free(draft);
    sd_model_free(target);
    return rc;
}

int sd_bench_replay_main(int argc, char **argv) {
    rp_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[512] = "";
    if (run(&o, err, sizeof err) < 0) {
        fprintf(stderr, "specdec bench-replay: %s\n", err);
        return 1;
    }
    return 0;
}
