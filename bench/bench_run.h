/* The state of one `specdec bench` run and the functions of the files that share it:
 * bench_spec.c (flags, the order of the steps, the files written), bench_machine.c (the machine),
 * bench_modes.c (running every mode on the prompt set), bench_lossless.c (the losslessness check),
 * bench_aggregate.c (summaries per prompt, mode and kind of text), bench_summary.c (the Markdown summary),
 * bench_report.c (report.json), bench_cost.c (the measured costs), bench_svg.c (the charts).
 * This is CLI code: it may print, and returns SD_STATUS_* with a message where it can fail. */
#ifndef SD_BENCH_RUN_H
#define SD_BENCH_RUN_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>

#include "bench_spec.h"
#include "cpu/topology.h"

#define BS_MAX_KS 16         /* fixed draft lengths compared, at most */
#define BS_MAX_SOURCE_SETS 3 /* --spec: draft, ngram, draft+ngram */
#define BS_MAX_MODES (1 + (1 + BS_MAX_KS) * 3 * BS_MAX_SOURCE_SETS)
#define BS_MAX_REPEAT 1000     /* --repeat, at most */
#define BS_PROJ_K 8            /* --cost-only projects k = 1..BS_PROJ_K */
#define BS_COST_PREFIX 128     /* --cost-only: tokens of context before each measured pass */
#define BS_COST_SAMPLES 41     /* samples per batch size at most... */
#define BS_COST_MIN_SAMPLES 5  /* ...and at least */
#define BS_COST_BUDGET_S 2.0   /* seconds the samples of one model may take before there are fewer */
#define BS_COST_SAMPLE_S 0.002 /* short samples: a busy machine's pauses fall in few of them */
#define BS_KIND_TOLERANCE 0.05 /* adaptive should come within 5% of the best fixed k on every kind */

/* The flags. */
typedef struct spec_opts {
    const char *target_path, *draft_path, *prompts_path, *out_dir;
    int32_t n_prompts, n_predict, repeat, threads, n_ctx;
    float temp;
    uint64_t seed;
    int32_t ks[BS_MAX_KS];
    int n_ks;
    bool adaptive;
    sd_schedule schedules[3];
    int n_schedules;
    bool cost_only, json;
    bool ignore_eos; /* generate exactly n_predict tokens */
    /* --spec: the draft source sets compared (sd_engine_params.spec bits); none: the engine's default */
    unsigned source_sets[BS_MAX_SOURCE_SETS];
    int n_source_sets;
    bool chat;                      /* --chat: each prompt is a user's turn in the chat template */
    const char *chat_template;      /* --chat-template NAME (default: the target's) */
    const char *kernels;            /* --kernels: NULL for the default set */
    sd_cache_type cache_k, cache_v; /* -ctk, -ctv: the KV cache types of target and draft */
} spec_opts;

/* One mode: k = 0 plain, -1 adaptive, > 0 fixed draft length; spec: its draft sources (0: the
 * engine's default). */
typedef struct mode {
    char name[48];
    int k;
    unsigned spec;
    sd_schedule schedule;
    sd_engine *engine;
} mode;

/* One generate call, reduced to what the report needs. */
typedef struct run_rec {
    double prompt_tps, decode_tps;
    int32_t n_gen, n_rounds, n_drafted, n_accepted;
    double t_gen, t_draft, t_verify, t_sample, t_prompt;
    int32_t drafted_at[SD_MAX_DRAFT_LEN], accepted_at[SD_MAX_DRAFT_LEN];
    int32_t k_hist[SD_MAX_DRAFT_LEN + 1];
    int32_t *tokens;   /* [n_gen] */
    double cpu_s;      /* user + system CPU seconds of the process during the call (cli/usage.h) */
    uint64_t kv_bytes; /* the engine's KV caches, target's and draft's */
} run_rec;

/* Sums over a set of runs, and medians of their rates. */
typedef struct summary {
    int n_runs;
    double prompt_tps, decode_tps; /* medians */
    double n_gen, t_gen, t_draft, t_verify, t_sample;
    double n_rounds, n_drafted, n_accepted;
    double drafted_at[SD_MAX_DRAFT_LEN], accepted_at[SD_MAX_DRAFT_LEN];
    double k_hist[SD_MAX_DRAFT_LEN + 1];
    double cpu_s;    /* summed */
    double kv_bytes; /* the largest */
} summary;

/* The measured costs (bench_cost.c). */
typedef struct costs {
    bool have;
    int n_max;                            /* t_v measured for n = 1..n_max */
    double t_v[SD_MAX_DRAFT_LEN + 1];     /* seconds per pass of n tokens at [n - 1] (median) */
    double t_v_min[SD_MAX_DRAFT_LEN + 1]; /* the fastest sample */
    double t_big;                         /* seconds per pass of BS_COMPUTE_BATCH tokens */
    double t_d;                           /* draft seconds per token (single-token pass), 0 if no draft */
    double bw_bps, bw_best_bps;           /* read bandwidth, bytes/s */
    double t_mem;                         /* target weight bytes / best bandwidth: the decode roofline, s */
    int32_t prefix;                       /* tokens in the cache before each measured pass */
} costs;

/* The CPU, its topology and the default draft/target split. */
typedef struct machine {
    char cpu_model[256];
    int n_cpus;
    char topology[1024];
    sd_cpuset draft_cpus, target_cpus;
    int split;
    cJSON *clusters;
} machine;

/* The whole benchmark state. */
typedef struct bench {
    spec_opts o;
    machine mc;
    sd_model *target, *draft;
    bs_prompt *prompts;
    int n_prompts;
    int32_t **ptok; /* [n_prompts] token ids */
    int32_t *n_ptok;
    mode modes[BS_MAX_MODES];
    int n_modes;
    run_rec *runs; /* [n_prompts][n_modes][repeat] */
    costs cost;
    int n_mismatch;
    cJSON *errors;
    char engine_desc[512];
    double *prompt_speedup;       /* [n_modes][n_prompts], filled by bs_aggregate() */
    const sd_chat_template *chat; /* --chat: the template the prompts are rendered in; NULL: raw text */
} bench;

/* A mode over every prompt. */
typedef struct mode_agg {
    summary all;           /* every run of the mode */
    double speedup_median; /* median over prompts of the per-prompt speed-up */
    double speedup_total;  /* total tokens / total time, over plain's */
    double decode_tps;     /* median over prompts of the per-prompt median */
    double prompt_tps;
} mode_agg;

/* The modes' speed-ups over the runs of one kind of text. */
typedef struct kind_agg {
    const char *name; /* a prompt kind, or "all" */
    int n_prompts;
    double speedup_total[BS_MAX_MODES];  /* total tokens / total decode seconds of the mode over the kind's
                                         prompts and repeats, over the same for plain */
    double speedup_median[BS_MAX_MODES]; /* median over the kind's prompts of the per-prompt speed-up */
    double acceptance[BS_MAX_MODES];     /* accepted / drafted tokens; NaN for plain */
} kind_agg;

/* a / b, or NaN when b is not positive. */
static inline double bs_ratio(double a, double b) {
    return b > 0 ? a / b : NAN;
}

/* ---- bench_machine.c ---- */
int bs_detect_machine(machine *mc, char *err, size_t err_len);

/* ---- bench_modes.c ---- */
/* The record of prompt p, mode m, repeat r. */
run_rec *bs_rec(const bench *b, int p, int m, int r);
/* plain, then per schedule each fixed k and adaptive (with a draft model). */
void bs_build_modes(bench *b);
int bs_create_engines(bench *b, int32_t n_ctx, char *err, size_t err_len);
/* Tokenizes every prompt; *longest: the longest, in tokens. */
int bs_tokenize_prompts(bench *b, int32_t *longest, char *err, size_t err_len);
int bs_warm_up(bench *b, char *err, size_t err_len);
/* Every prompt x repeat x mode, interleaved, into b->runs. */
int bs_run_all(bench *b, char *err, size_t err_len);

/* ---- bench_lossless.c ---- */
/* With temperature 0: counts (b->n_mismatch), prints and lists (b->errors) every run whose tokens differ
 * from the prompt's first plain run. */
void bs_check_lossless(bench *b);
/* Every repeat of prompt p in mode m produced the tokens of its first plain run. */
bool bs_same_as_plain(const bench *b, int p, int m);

/* ---- bench_aggregate.c ---- */
void bs_summarize(const run_rec *const *r, int n, summary *s);
/* The repeats of prompt p in mode m. */
void bs_summarize_prompt(const bench *b, int p, int m, summary *s);
/* Per-token acceptance a for the cost model, a geometric fit. */
double bs_geometric_a(const summary *s);
/* agg[0..n_modes) and b->prompt_speedup. */
void bs_aggregate(const bench *b, mode_agg *agg);
/* The cost model's speed-up for mode aggregate a at draft length k; NaN without costs. */
double bs_predicted_for(const bench *b, const mode_agg *a, int k);
/* The by-kind rows (each kind of text, then "all") when the prompts hold two kinds or more; the count,
 * 0 for none. The caller frees *out. */
int bs_kind_rows(const bench *b, kind_agg **out);
/* The fixed-k mode with the highest total speed-up in row ka among those of mode m's schedule; -1: none. */
int bs_best_fixed(const bench *b, const kind_agg *ka, int m);

/* ---- bench_summary.c: Markdown, NULL when out of memory; the caller frees ---- */
char *bs_summary_md(const bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows);
char *bs_cost_only_md(const bench *b);

/* ---- bench_report.c: report.json ---- */
cJSON *bs_report_json(const bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows,
                      int32_t n_ctx);
cJSON *bs_cost_only_json(const bench *b);

/* ---- bench_cost.c ---- */
/* Read bandwidth, the target's t_v(n) for n = 1..n_max after `prefix` tokens, the draft's t_d. */
int bs_measure_costs(const spec_opts *o, const machine *mc, sd_model *target, sd_model *draft, int n_max,
                     int32_t prefix, costs *c, char *err, size_t err_len);
/* The roofline bound of t_v(n)/t_v(1). */
double bs_roofline_ratio(const costs *c, int n);

/* ---- bench_svg.c: the charts ---- */
int bs_write_verify_svg(const char *dir, const costs *c, char *err, size_t err_len);
/* speedup.svg, acceptance.svg and (with costs) verify_cost.svg in the output folder. */
int bs_write_charts(const bench *b, const mode_agg *agg, char *err, size_t err_len);

#endif
