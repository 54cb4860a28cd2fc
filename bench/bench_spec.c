/* `specdec bench`: how much faster speculative decoding is for a model pair on this machine, and why.
 *
 * Method: every mode (plain decoding, speculative with each fixed draft length k, adaptive k; each per
 * schedule) runs on the same prompts in an interleaved order (prompt-major; within a prompt, each repeat
 * visits every mode, the order rotated between repeats) so that machine noise hits all modes alike.
 * Per prompt, a mode's rate is the median over repeats; its speed-up is that rate over plain's for the
 * same prompt. Aggregates: the median over prompts, and total tokens / total time. Around the runs it
 * measures the read bandwidth and the target's batched pass t_v(n) directly (bench_cost.c), and puts the
 * cost model's prediction next to the measured speed-ups. This is CLI code: it prints. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_spec.h"
#include "common/sd_common.h"
#include "spec/topology.h"

#define MAX_KS 16
#define MAX_MODES (2 + MAX_KS) * 3
#define PROJ_K 8            /* --cost-only projects k = 1..PROJ_K */
#define COST_PREFIX 128     /* --cost-only: tokens of context before each measured pass */
#define COST_SAMPLES 41     /* samples per batch size at most... */
#define COST_MIN_SAMPLES 5  /* ...and at least */
#define COST_BUDGET_S 2.0   /* seconds the samples of one model may take before there are fewer */
#define COST_SAMPLE_S 0.002 /* short samples: a busy machine's pauses fall in few of them */

typedef struct spec_opts {
    const char *target_path, *draft_path, *prompts_path, *out_dir;
    int32_t n_prompts, n_predict, repeat, threads, n_ctx;
    float temp;
    uint64_t seed;
    int32_t ks[MAX_KS];
    int n_ks;
    bool adaptive;
    sd_schedule schedules[3];
    int n_schedules;
    bool cost_only, json;
} spec_opts;

/* One mode: k = 0 plain, -1 adaptive, > 0 fixed draft length. */
typedef struct mode {
    char name[48];
    int k;
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
    int32_t *tokens; /* [n_gen] */
} run_rec;

/* Sums over a set of runs, and medians of their rates. */
typedef struct summary {
    int n_runs;
    double prompt_tps, decode_tps; /* medians */
    double n_gen, t_gen, t_draft, t_verify, t_sample;
    double n_rounds, n_drafted, n_accepted;
    double drafted_at[SD_MAX_DRAFT_LEN], accepted_at[SD_MAX_DRAFT_LEN];
    double k_hist[SD_MAX_DRAFT_LEN + 1];
} summary;

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

typedef struct machine {
    char cpu_model[256];
    int n_cpus;
    char topology[1024];
    sd_cpuset draft_cpus, target_cpus;
    int split;
    cJSON *clusters;
} machine;

/* ---------------------------------------------------------------------------------------------------- */
/* Flags */

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: specdec bench -m TARGET [-md DRAFT] -f PROMPTS -o OUTDIR [flags]\n"
        "       specdec bench -m TARGET -md DRAFT --cost-only [-o OUTDIR]\n"
        "\n"
        "How much faster is speculative decoding for this model pair on this machine, and why. Runs plain\n"
        "decoding and speculative decoding with each draft length (and adaptive) on the same prompts,\n"
        "interleaved, and reports medians, speed-ups over plain measured in the same run, acceptance by\n"
        "draft position, the time split, the target's measured batched-pass cost t_v(n) against the\n"
        "roofline, and the cost model's predicted speed-up next to the measured one. Greedy runs check\n"
        "that every speculative output equals the plain one (exit 1 if not).\n"
        "Writes OUTDIR/report.json, summary.md, speedup.svg, acceptance.svg, verify_cost.svg; prints the\n"
        "summary table (or with --json the report).\n"
        "\n"
        "  -m, --model FILE        target GGUF model\n"
        "  -md, --model-draft FILE draft GGUF model (without it only plain decoding runs)\n"
        "  -f, --file FILE         prompts: JSON Lines with a \"prompt\" field, or a text file (one prompt)\n"
        "                          (optional \"id\" and \"kind\" fields; with two kinds or more, e.g. "
        "\"code\"\n"
        "                          and \"prose\", the summary adds speed-ups by kind of text)\n"
        "      --n-prompts N       use the first N prompts (default 8)\n"
        "  -n, --n-predict N       tokens to generate per run (default 64)\n"
        "      --temp T            temperature; 0 = greedy, checked lossless (default 0)\n"
        "  -s, --seed S            sampling seed (default 42)\n"
        "      --k LIST            fixed draft lengths to compare, e.g. 1,2,4,8 (default 1,2,4,8)\n"
        "      --no-adaptive       leave out the adaptive draft length\n"
        "      --schedule LIST     schedules to compare: seq, pipe, auto (default seq)\n"
        "      --repeat R          runs of every prompt and mode (default 3)\n"
        "  -t, --threads N         worker threads for target and draft (default: one per CPU of each set)\n"
        "  -c, --ctx-size N        context length (default: what the longest prompt needs)\n"
        "  -o, --out DIR           output folder (created if missing)\n"
        "      --cost-only         measure only the draft's per-token cost and t_v(n), and print the\n"
        "                          speed-ups the cost model projects for acceptance 0.5..0.95, k = 1..8\n"
        "      --json              print the report JSON instead of the summary table\n"
        "  -h, --help              this text\n");
}

static bool flag_is(const char *arg, const char *a, const char *b) {
    return strcmp(arg, a) == 0 || (b && strcmp(arg, b) == 0);
}

static const char *take(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "specdec bench: flag '%s' needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static bool parse_int(const char *flag, const char *v, long lo, long hi, int32_t *out) {
    char *end = NULL;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < lo || x > hi) {
        if (v)
            fprintf(stderr, "specdec bench: flag '%s' needs an integer in [%ld, %ld], got '%s'\n", flag, lo,
                    hi, v);
        return false;
    }
    *out = (int32_t)x;
    return true;
}

static bool parse_k_list(const char *flag, const char *v, spec_opts *o) {
    o->n_ks = 0;
    if (!v) return false;
    for (const char *p = v; *p;) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || x < 1 || x > SD_MAX_DRAFT_LEN || o->n_ks == MAX_KS || (*end && *end != ',')) {
            fprintf(
                stderr,
                "specdec bench: flag '%s' needs up to %d draft lengths in [1, %d] like 1,2,4,8, got '%s'\n",
                flag, MAX_KS, SD_MAX_DRAFT_LEN, v);
            return false;
        }
        o->ks[o->n_ks++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    return o->n_ks > 0;
}

static const char *schedule_name(sd_schedule s) {
    return s == SD_SCHEDULE_SEQ ? "seq" : s == SD_SCHEDULE_PIPE ? "pipe" : "auto";
}

static bool parse_schedules(const char *flag, const char *v, spec_opts *o) {
    o->n_schedules = 0;
    if (!v) return false;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        sd_schedule s = strcmp(t, "seq") == 0    ? SD_SCHEDULE_SEQ
                        : strcmp(t, "pipe") == 0 ? SD_SCHEDULE_PIPE
                        : strcmp(t, "auto") == 0 ? SD_SCHEDULE_AUTO
                                                 : (sd_schedule)-1;
        if ((int)s < 0 || o->n_schedules == 3) {
            fprintf(stderr, "specdec bench: flag '%s' needs a list of seq, pipe, auto, got '%s'\n", flag, v);
            return false;
        }
        o->schedules[o->n_schedules++] = s;
    }
    return o->n_schedules > 0;
}

/* Returns 0 to go on, 2 on a usage error; *done after --help. */
static int parse_opts(int argc, char **argv, spec_opts *o, bool *done) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (flag_is(a, "-h", "--help")) {
            usage(stdout);
            *done = true;
            return 0;
        } else if (flag_is(a, "-m", "--model"))
            ok = (o->target_path = take(argc, argv, &i)) != NULL;
        else if (flag_is(a, "-md", "--model-draft"))
            ok = (o->draft_path = take(argc, argv, &i)) != NULL;
        else if (flag_is(a, "-f", "--file"))
            ok = (o->prompts_path = take(argc, argv, &i)) != NULL;
        else if (flag_is(a, "-o", "--out"))
            ok = (o->out_dir = take(argc, argv, &i)) != NULL;
        else if (flag_is(a, "--n-prompts", NULL))
            ok = parse_int(a, take(argc, argv, &i), 1, 1 << 20, &o->n_prompts);
        else if (flag_is(a, "-n", "--n-predict"))
            ok = parse_int(a, take(argc, argv, &i), 1, 1 << 20, &o->n_predict);
        else if (flag_is(a, "--repeat", NULL))
            ok = parse_int(a, take(argc, argv, &i), 1, 1000, &o->repeat);
        else if (flag_is(a, "-t", "--threads"))
            ok = parse_int(a, take(argc, argv, &i), 1, 1024, &o->threads);
        else if (flag_is(a, "-c", "--ctx-size"))
            ok = parse_int(a, take(argc, argv, &i), 1, 1 << 24, &o->n_ctx);
        else if (flag_is(a, "--k", NULL))
            ok = parse_k_list(a, take(argc, argv, &i), o);
        else if (flag_is(a, "--schedule", NULL))
            ok = parse_schedules(a, take(argc, argv, &i), o);
        else if (flag_is(a, "--no-adaptive", NULL))
            o->adaptive = false;
        else if (flag_is(a, "--cost-only", NULL))
            o->cost_only = true;
        else if (flag_is(a, "--json", NULL))
            o->json = true;
        else if (flag_is(a, "--temp", NULL)) {
            const char *v = take(argc, argv, &i);
            char *end = NULL;
            double t = v ? strtod(v, &end) : -1;
            ok = v && end != v && !*end && t >= 0 && t <= 100;
            if (v && !ok)
                fprintf(stderr, "specdec bench: flag '--temp' needs a number in [0, 100], got '%s'\n", v);
            o->temp = (float)t;
        } else if (flag_is(a, "-s", "--seed")) {
            const char *v = take(argc, argv, &i);
            char *end = NULL;
            o->seed = v ? strtoull(v, &end, 10) : 0;
            ok = v && end != v && !*end && v[0] != '-';
            if (v && !ok)
                fprintf(stderr, "specdec bench: flag '%s' needs a non-negative integer, got '%s'\n", a, v);
        } else {
            fprintf(stderr, "specdec bench: unknown flag '%s' (see specdec bench --help)\n", a);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!o->target_path) {
        fprintf(stderr, "specdec bench: give the target model with -m (see specdec bench --help)\n");
        return 2;
    }
    if (o->cost_only && !o->draft_path) {
        fprintf(stderr, "specdec bench: --cost-only needs a draft model (-md)\n");
        return 2;
    }
    if (!o->cost_only && (!o->prompts_path || !o->out_dir)) {
        fprintf(
            stderr,
            "specdec bench: give prompts with -f and an output folder with -o (see specdec bench --help)\n");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Small helpers */

static double ratio(double a, double b) {
    return b > 0 ? a / b : NAN;
}

static cJSON *num(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static void add_num(cJSON *o, const char *name, double v) {
    cJSON_AddItemToObject(o, name, num(v));
}

static cJSON *num_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, num(v[i]));
    return a;
}

static int max_k_of(const spec_opts *o) {
    int m = 0;
    for (int i = 0; i < o->n_ks; i++)
        m = SD_MAX(m, o->ks[i]);
    return m;
}

static void read_cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0 && strncmp(line, "Hardware", 8) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        colon += 1 + strspn(colon + 1, " \t");
        snprintf(buf, len, "%.*s", (int)strcspn(colon, "\n"), colon);
        break;
    }
    fclose(f);
}

static int detect_machine(machine *mc, char *err, size_t err_len) {
    read_cpu_model(mc->cpu_model, sizeof mc->cpu_model);
    sd_topology *topo = NULL;
    int rc = sd_topology_detect("/sys", &topo, err, err_len);
    if (rc < 0) return rc;
    mc->n_cpus = sd_topology_n_cpus(topo);
    sd_topology_describe(topo, mc->topology, sizeof mc->topology);
    mc->split = sd_topology_default_split(topo, &mc->draft_cpus, &mc->target_cpus);
    mc->clusters = cJSON_CreateArray();
    for (int i = 0; i < sd_topology_n_clusters(topo); i++) {
        const sd_cluster *c = sd_topology_cluster(topo, i);
        cJSON *j = cJSON_CreateObject();
        char list[512];
        cJSON_AddStringToObject(j, "type", sd_core_type_name(c->type));
        sd_cpuset_format(&c->cpus, list, sizeof list);
        cJSON_AddStringToObject(j, "cpus", list);
        cJSON_AddNumberToObject(j, "cores", c->cores.count);
        cJSON_AddNumberToObject(j, "threads_per_core", c->threads_per_core);
        cJSON_AddNumberToObject(j, "max_freq_khz", (double)c->max_freq_khz);
        cJSON_AddNumberToObject(j, "l2_bytes", (double)c->l2_bytes);
        cJSON_AddNumberToObject(j, "l3_bytes", (double)c->l3_bytes);
        cJSON_AddNumberToObject(j, "numa_node", c->numa_node);
        cJSON_AddItemToArray(mc->clusters, j);
    }
    sd_topology_free(topo);
    return SD_STATUS_OK;
}

static void add_weight_type(const char *type_name, int n_tensors, uint64_t bytes, void *user) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", type_name);
    cJSON_AddNumberToObject(j, "tensors", n_tensors);
    cJSON_AddNumberToObject(j, "bytes", (double)bytes);
    cJSON_AddItemToArray(user, j);
}

static cJSON *model_json(const char *path, sd_model *m) {
    sd_model_info in;
    sd_model_get_info(m, &in);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", path);
    cJSON_AddStringToObject(j, "arch", in.arch);
    cJSON_AddStringToObject(j, "name", in.name);
    cJSON_AddStringToObject(j, "kernels", in.kernels);
    cJSON_AddNumberToObject(j, "params", (double)in.n_params);
    cJSON_AddNumberToObject(j, "weight_bytes", (double)in.weight_bytes);
    cJSON_AddNumberToObject(j, "file_bytes", (double)in.file_bytes);
    cJSON_AddNumberToObject(j, "n_layer", in.n_layer);
    cJSON_AddNumberToObject(j, "n_embd", in.n_embd);
    cJSON_AddNumberToObject(j, "n_vocab", in.n_vocab);
    cJSON *types = cJSON_CreateArray();
    sd_model_foreach_weight_type(m, add_weight_type, types);
    cJSON_AddItemToObject(j, "types", types);
    return j;
}

static int write_text(const char *dir, const char *file, const char *text, char *err, size_t err_len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "w");
    if (!f) return sd_error(err, err_len, SD_STATUS_IO, "cannot create %s", path);
    fputs(text, f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return sd_error(err, err_len, SD_STATUS_IO, "cannot write %s", path);
    return SD_STATUS_OK;
}

/* A growable string for the Markdown summary. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
} strbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (b->s && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) return; /* the summary is then cut short; nothing else depends on it */
        b->s = s;
        b->cap = cap;
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Costs */

static int measure_costs(const spec_opts *o, const machine *mc, sd_model *target, sd_model *draft, int n_max,
                         int32_t prefix, costs *c, char *err, size_t err_len) {
    bs_cost_opts co = {.n_threads = o->threads ? o->threads : mc->target_cpus.count,
                       .cpus = mc->target_cpus.cpu,
                       .n_cpus = mc->target_cpus.count,
                       .prefix = prefix,
                       .samples = COST_SAMPLES,
                       .min_samples = COST_MIN_SAMPLES,
                       .budget_s = COST_BUDGET_S,
                       .sample_s = COST_SAMPLE_S};
    memset(c, 0, sizeof *c);
    c->n_max = n_max;
    c->prefix = prefix;
    int rc = bs_measure_bandwidth(&co, &c->bw_bps, &c->bw_best_bps, err, err_len);
    if (rc == 0) rc = bs_measure_passes(target, &co, n_max, c->t_v, c->t_v_min, &c->t_big, err, err_len);
    if (rc == 0 && draft) {
        bs_cost_opts cd = co;
        cd.n_threads = o->threads ? o->threads : mc->draft_cpus.count;
        cd.cpus = mc->draft_cpus.cpu;
        cd.n_cpus = mc->draft_cpus.count;
        double t_d[1];
        rc = bs_measure_passes(draft, &cd, 1, t_d, NULL, NULL, err, err_len);
        c->t_d = t_d[0];
    }
    if (rc < 0) return rc;
    sd_model_info ti;
    sd_model_get_info(target, &ti);
    c->t_mem = c->bw_best_bps > 0 ? (double)ti.weight_bytes / c->bw_best_bps : NAN;
    c->have = true;
    return SD_STATUS_OK;
}

/* The roofline bound of t_v(n)/t_v(1): the pass reads the weights once (t_mem) and cannot go faster than
 * the compute-bound rate seen at BS_COMPUTE_BATCH tokens (t_big / BS_COMPUTE_BATCH per token), so
 * t(n) >= max(t_mem, n t_big / BS_COMPUTE_BATCH); relative to n = 1 it is 1 until compute becomes the
 * limit. (The compute rate is measured, so the bound is what this code achieves, not the CPU's peak.) */
static double roofline_ratio(const costs *c, int n) {
    double per_token = c->t_big / BS_COMPUTE_BATCH;
    double t1 = fmax(c->t_mem, per_token), tn = fmax(c->t_mem, n * per_token);
    return tn / t1;
}

static cJSON *costs_json(const costs *c) {
    cJSON *j = cJSON_CreateObject();
    double n[SD_MAX_DRAFT_LEN + 1], rel[SD_MAX_DRAFT_LEN + 1], roof[SD_MAX_DRAFT_LEN + 1];
    for (int i = 0; i < c->n_max; i++) {
        n[i] = i + 1;
        rel[i] = c->t_v[i] / c->t_v[0];
        roof[i] = roofline_ratio(c, i + 1);
    }
    cJSON_AddItemToObject(j, "n", num_array(n, c->n_max));
    cJSON_AddItemToObject(j, "t_v_s", num_array(c->t_v, c->n_max));
    cJSON_AddItemToObject(j, "t_v_ratio", num_array(rel, c->n_max));
    cJSON_AddItemToObject(j, "t_v_min_s", num_array(c->t_v_min, c->n_max));
    cJSON_AddItemToObject(j, "roofline_ratio", num_array(roof, c->n_max));
    add_num(j, "t_v_compute_batch", BS_COMPUTE_BATCH);
    add_num(j, "t_v_compute_batch_s", c->t_big);
    add_num(j, "t_mem_s", c->t_mem);
    add_num(j, "decode_roofline_fraction", ratio(c->t_mem, c->t_v[0]));
    add_num(j, "t_d_s", c->t_d);
    add_num(j, "prefix_tokens", c->prefix);
    return j;
}

static int write_verify_svg(const char *dir, const costs *c, char *err, size_t err_len) {
    double x[SD_MAX_DRAFT_LEN + 1], rel[SD_MAX_DRAFT_LEN + 1], fast[SD_MAX_DRAFT_LEN + 1],
        roof[SD_MAX_DRAFT_LEN + 1], lin[SD_MAX_DRAFT_LEN + 1];
    for (int i = 0; i < c->n_max; i++) {
        x[i] = i + 1;
        rel[i] = c->t_v[i] / c->t_v[0];
        fast[i] = c->t_v_min[i] / c->t_v_min[0];
        roof[i] = roofline_ratio(c, i + 1);
        lin[i] = i + 1;
    }
    bs_series s[4] = {{"measured t_v(n)/t_v(1)", rel, 0},
                      {"fastest sample", fast, 0},
                      {"roofline bound", roof, 1},
                      {"n single passes", lin, 1}};
    char path[4096];
    snprintf(path, sizeof path, "%s/verify_cost.svg", dir);
    return bs_svg_lines(path, "Cost of a batched target pass of n tokens", "tokens in the pass (n)",
                        "time relative to n = 1", x, c->n_max, s, 4, NAN, NAN, err, err_len);
}

static void projection_table(strbuf *b, const costs *c) {
    sb_printf(b, "### Projected speed-up from measured costs (cost model, NOT measured speed-ups)\n\n");
    sb_printf(b,
              "t_d = %.3f ms per draft token, t_v(1) = %.3f ms; predicted speed-up E(k)/T(k) x t_v(1), "
              "E(k) = (1 - a^(k+1))/(1 - a), T(k) = k t_d + t_v(k+1)\n\n",
              c->t_d * 1e3, c->t_v[0] * 1e3);
    sb_printf(b, "| acceptance a |");
    for (int k = 1; k <= PROJ_K; k++)
        sb_printf(b, " k=%d |", k);
    sb_printf(b, " best k |\n|---|");
    for (int k = 0; k <= PROJ_K; k++)
        sb_printf(b, "---|");
    sb_printf(b, "\n");
    for (int ai = 0; ai < 10; ai++) {
        double a = 0.5 + 0.05 * ai, best = 0;
        int best_k = 1;
        sb_printf(b, "| %.2f |", a);
        for (int k = 1; k <= PROJ_K; k++) {
            double s = bs_predicted_speedup(a, k, c->t_d, c->t_v);
            if (s > best) best = s, best_k = k;
            sb_printf(b, " %.2fx |", s);
        }
        sb_printf(b, " %d (%.2fx) |\n", best_k, best);
    }
}

static void verify_line(strbuf *b, const costs *c) {
    sb_printf(
        b,
        "Target pass cost t_v(n)/t_v(1) (measured after %d tokens of context, median of %d to %d samples):",
        c->prefix, COST_MIN_SAMPLES, COST_SAMPLES);
    bool monotone = true;
    for (int i = 0; i < c->n_max; i++) {
        sb_printf(b, " %d:%.2f", i + 1, c->t_v[i] / c->t_v[0]);
        monotone = monotone && (i == 0 || c->t_v[i] >= c->t_v[i - 1] * 0.95);
    }
    sb_printf(b, "; fastest sample:");
    for (int i = 0; i < c->n_max; i++)
        sb_printf(b, " %d:%.2f", i + 1, c->t_v_min[i] / c->t_v_min[0]);
    if (!monotone)
        sb_printf(b,
                  " (the medians do not grow with n: other processes took the CPUs during the measurement, "
                  "so the cost model below is unreliable; the fastest samples show the pass's own cost)");
    sb_printf(b,
              "; roofline bound at n=%d: %.2f. t_v(1) = %.3f ms = %.0f%% of the read-bandwidth roofline "
              "(%.1f GB/s best, %.1f GB/s median).\n\n",
              c->n_max, roofline_ratio(c, c->n_max), c->t_v[0] * 1e3, 100 * ratio(c->t_mem, c->t_v[0]),
              c->bw_best_bps / 1e9, c->bw_bps / 1e9);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Runs */

static void summarize(const run_rec *const *r, int n, summary *s) {
    memset(s, 0, sizeof *s);
    double *pt = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1)),
           *dt = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->n_runs = n;
    for (int i = 0; i < n; i++) {
        const run_rec *x = r[i];
        if (pt && dt) pt[i] = x->prompt_tps, dt[i] = x->decode_tps;
        s->n_gen += x->n_gen;
        s->t_gen += x->t_gen;
        s->t_draft += x->t_draft;
        s->t_verify += x->t_verify;
        s->t_sample += x->t_sample;
        s->n_rounds += x->n_rounds;
        s->n_drafted += x->n_drafted;
        s->n_accepted += x->n_accepted;
        for (int j = 0; j < SD_MAX_DRAFT_LEN; j++)
            s->drafted_at[j] += x->drafted_at[j], s->accepted_at[j] += x->accepted_at[j];
        for (int j = 0; j <= SD_MAX_DRAFT_LEN; j++)
            s->k_hist[j] += x->k_hist[j];
    }
    s->prompt_tps = pt && dt ? bs_median(pt, n) : NAN;
    s->decode_tps = pt && dt ? bs_median(dt, n) : NAN;
    free(pt);
    free(dt);
}

/* Per-token acceptance a for the cost model: a geometric fit, accepted / tokens that were tried with all
 * before them accepted. Rounds that tried position i after accepting 0..i-1 are estimated as
 * accepted_at[i-1] x drafted_at[i] / drafted_at[i-1] (exact for a fixed k; for adaptive k it assumes the
 * draft length does not depend on the coming outcome). */
static double geometric_a(const summary *s) {
    double acc = 0, tried = 0;
    for (int i = 0; i < SD_MAX_DRAFT_LEN && s->drafted_at[i] > 0; i++) {
        acc += s->accepted_at[i];
        tried += i == 0 ? s->drafted_at[0] : s->accepted_at[i - 1] * s->drafted_at[i] / s->drafted_at[i - 1];
    }
    return ratio(acc, tried);
}

static double mean_k(const summary *s) {
    double n = 0, sum = 0;
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        n += s->k_hist[k], sum += k * s->k_hist[k];
    return ratio(sum, n);
}

static cJSON *summary_json(const summary *s, bool spec) {
    cJSON *j = cJSON_CreateObject();
    add_num(j, "prompt_tps", s->prompt_tps);
    add_num(j, "decode_tps", s->decode_tps);
    add_num(j, "decode_tps_total", ratio(s->n_gen, s->t_gen));
    add_num(j, "n_gen", s->n_gen);
    add_num(j, "t_gen_s", s->t_gen);
    cJSON *split = cJSON_CreateObject();
    double other = s->t_gen - s->t_draft - s->t_verify - s->t_sample;
    add_num(split, "draft", ratio(s->t_draft, s->t_gen));
    add_num(split, "verify", ratio(s->t_verify, s->t_gen));
    add_num(split, "sample", ratio(s->t_sample, s->t_gen));
    add_num(split, "other", ratio(fmax(0, other), s->t_gen));
    cJSON_AddItemToObject(j, "time_split", split);
    if (!spec) return j;
    add_num(j, "n_rounds", s->n_rounds);
    add_num(j, "n_drafted", s->n_drafted);
    add_num(j, "n_accepted", s->n_accepted);
    add_num(j, "acceptance", ratio(s->n_accepted, s->n_drafted));
    add_num(j, "acceptance_geometric", geometric_a(s));
    add_num(j, "tokens_per_round", ratio(s->n_gen, s->n_rounds));
    add_num(j, "t_d_s", ratio(s->t_draft, s->n_drafted));
    int n_pos = 0;
    while (n_pos < SD_MAX_DRAFT_LEN && s->drafted_at[n_pos] > 0)
        n_pos++;
    double by_pos[SD_MAX_DRAFT_LEN];
    for (int i = 0; i < n_pos; i++)
        by_pos[i] = s->accepted_at[i] / s->drafted_at[i];
    cJSON_AddItemToObject(j, "acceptance_by_position", num_array(by_pos, n_pos));
    cJSON_AddItemToObject(j, "drafted_at", num_array(s->drafted_at, n_pos));
    cJSON_AddItemToObject(j, "accepted_at", num_array(s->accepted_at, n_pos));
    cJSON *hist = cJSON_CreateObject();
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        if (s->k_hist[k] > 0) {
            char key[8];
            snprintf(key, sizeof key, "%d", k);
            add_num(hist, key, s->k_hist[k]);
        }
    cJSON_AddItemToObject(j, "k_histogram", hist);
    add_num(j, "mean_k", mean_k(s));
    return j;
}

typedef struct progress {
    bool tty;
    double t0, last;
    int done, total;
} progress;

static void progress_update(progress *p, const char *what) {
    double now = sd_time_seconds();
    if (!p->tty || (now - p->last < 0.1 && p->done < p->total) || now - p->t0 < 1.0) return;
    p->last = now;
    double eta = p->done > 0 ? (now - p->t0) / p->done * (p->total - p->done) : 0;
    char bar[31];
    int fill = p->total ? 30 * p->done / p->total : 30;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\r[%s] %d/%d runs, %s, ETA %d:%02d   ", bar, p->done, p->total, what, (int)eta / 60,
            (int)eta % 60);
    fflush(stderr);
}

static void progress_end(progress *p) {
    double dt = sd_time_seconds() - p->t0;
    if (p->tty && dt >= 1.0) fprintf(stderr, "\r%-90s\r", "");
    fprintf(stderr, "specdec bench: %d runs in %.1f s\n", p->done, dt);
}

static int run_one(mode *m, const int32_t *prompt, int32_t n_prompt, int32_t n_predict, run_rec *r, char *err,
                   size_t err_len) {
    sd_stats st;
    memset(r, 0, sizeof *r);
    r->tokens = malloc((size_t)n_predict * sizeof *r->tokens);
    if (!r->tokens) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    int rc = sd_engine_generate(m->engine, prompt, n_prompt, n_predict, NULL, NULL, r->tokens, n_predict, &st,
                                err, err_len);
    if (rc < 0) return rc;
    r->n_gen = st.n_gen;
    r->t_gen = st.t_gen_s;
    r->t_prompt = st.t_prompt_s;
    r->prompt_tps = ratio(st.n_prompt, st.t_prompt_s);
    r->decode_tps = ratio(st.n_gen, st.t_gen_s);
    r->t_draft = st.t_draft_s;
    r->t_verify = st.t_verify_s;
    r->t_sample = st.t_sample_s;
    r->n_rounds = st.n_rounds;
    r->n_drafted = st.n_drafted;
    r->n_accepted = st.n_accepted;
    memcpy(r->drafted_at, st.drafted_at, sizeof r->drafted_at);
    memcpy(r->accepted_at, st.accepted_at, sizeof r->accepted_at);
    for (int i = 0; i < st.n_k_trace; i++)
        if (st.k_trace[i] >= 0 && st.k_trace[i] <= SD_MAX_DRAFT_LEN) r->k_hist[st.k_trace[i]]++;
    return SD_STATUS_OK;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The whole benchmark state */

typedef struct bench {
    spec_opts o;
    machine mc;
    sd_model *target, *draft;
    bs_prompt *prompts;
    int n_prompts;
    int32_t **ptok; /* [n_prompts] token ids */
    int32_t *n_ptok;
    mode modes[MAX_MODES];
    int n_modes;
    run_rec *runs; /* [n_prompts][n_modes][repeat] */
    costs cost;
    int n_mismatch;
    cJSON *errors;
    char engine_desc[512];
    double *prompt_speedup; /* [n_modes][n_prompts], filled by aggregate() */
} bench;

static run_rec *rec(bench *b, int p, int m, int r) {
    return &b->runs[((size_t)p * (size_t)b->n_modes + (size_t)m) * (size_t)b->o.repeat + (size_t)r];
}

static void build_modes(bench *b) {
    const spec_opts *o = &b->o;
    mode *m = b->modes;
    b->n_modes = 0;
    m[b->n_modes++] = (mode){.name = "plain", .k = 0, .schedule = SD_SCHEDULE_SEQ};
    if (!b->draft) return;
    for (int s = 0; s < o->n_schedules; s++) {
        for (int i = 0; i <= o->n_ks; i++) {
            int k = i < o->n_ks ? o->ks[i] : -1;
            if (k < 0 && !o->adaptive) continue;
            mode *x = &m[b->n_modes++];
            *x = (mode){.k = k, .schedule = o->schedules[s]};
            char kname[16];
            if (k < 0)
                snprintf(kname, sizeof kname, "adaptive");
            else
                snprintf(kname, sizeof kname, "k=%d", k);
            if (o->n_schedules > 1)
                snprintf(x->name, sizeof x->name, "spec %s %s", kname, schedule_name(o->schedules[s]));
            else
                snprintf(x->name, sizeof x->name, "spec %s", kname);
        }
    }
}

static int create_engines(bench *b, int32_t n_ctx, char *err, size_t err_len) {
    for (int i = 0; i < b->n_modes; i++) {
        mode *m = &b->modes[i];
        sd_engine_params p = sd_engine_default_params();
        p.n_ctx = n_ctx;
        p.n_threads = b->o.threads;
        p.n_threads_draft = b->o.threads;
        p.sampling.temp = b->o.temp;
        p.sampling.seed = b->o.seed;
        p.schedule = m->schedule;
        p.draft_k = m->k > 0 ? m->k : -1;
        int rc = sd_engine_create(b->target, m->k == 0 ? NULL : b->draft, &p, &m->engine, err, err_len);
        if (rc < 0) return rc;
        if (m->k != 0 && !b->engine_desc[0])
            sd_engine_describe(m->engine, b->engine_desc, sizeof b->engine_desc);
    }
    return SD_STATUS_OK;
}

static int tokenize_prompts(bench *b, int32_t *longest, char *err, size_t err_len) {
    b->ptok = calloc((size_t)b->n_prompts, sizeof *b->ptok);
    b->n_ptok = calloc((size_t)b->n_prompts, sizeof *b->n_ptok);
    if (!b->ptok || !b->n_ptok) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    *longest = 0;
    for (int i = 0; i < b->n_prompts; i++) {
        const bs_prompt *p = &b->prompts[i];
        int n = sd_model_tokenize(b->target, p->text, p->len, true, false, NULL, 0, err, err_len);
        if (n < 0) return n;
        if (n == 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "prompt %s is empty", p->id);
        b->ptok[i] = malloc((size_t)n * sizeof **b->ptok);
        if (!b->ptok[i]) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        sd_model_tokenize(b->target, p->text, p->len, true, false, b->ptok[i], n, err, err_len);
        b->n_ptok[i] = n;
        *longest = SD_MAX(*longest, n);
    }
    return SD_STATUS_OK;
}

/* Untimed: every engine once on a short prompt and generation, so page faults and first-touch costs stay
 * out of the measurements (short, so that slow builds such as ASan stay fast). */
static int warm_up(bench *b, char *err, size_t err_len) {
    for (int m = 0; m < b->n_modes; m++) {
        run_rec r;
        int rc = run_one(&b->modes[m], b->ptok[0], SD_MIN(b->n_ptok[0], 16), SD_MIN(b->o.n_predict, 8), &r,
                         err, err_len);
        free(r.tokens);
        if (rc < 0) return rc;
    }
    return SD_STATUS_OK;
}

static int run_all(bench *b, char *err, size_t err_len) {
    progress pg = {
        .tty = isatty(2), .t0 = sd_time_seconds(), .total = b->n_prompts * b->o.repeat * b->n_modes};
    for (int p = 0; p < b->n_prompts; p++)
        for (int r = 0; r < b->o.repeat; r++)
            for (int j = 0; j < b->n_modes; j++) {
                int m = (j + r + p) % b->n_modes; /* rotate the order between repeats and prompts */
                char what[96];
                snprintf(what, sizeof what, "prompt %d/%d %s", p + 1, b->n_prompts, b->modes[m].name);
                progress_update(&pg, what);
                int rc = run_one(&b->modes[m], b->ptok[p], b->n_ptok[p], b->o.n_predict, rec(b, p, m, r), err,
                                 err_len);
                if (rc < 0) {
                    progress_end(&pg);
                    return rc;
                }
                pg.done++;
            }
    progress_update(&pg, "done");
    progress_end(&pg);
    return SD_STATUS_OK;
}

/* Greedy decoding is deterministic and speculation is lossless: every run of a prompt must produce the
 * tokens of its first plain run. */
static void check_lossless(bench *b) {
    b->errors = cJSON_CreateArray();
    if (b->o.temp > 0) return;
    for (int p = 0; p < b->n_prompts; p++) {
        const run_rec *ref = rec(b, p, 0, 0);
        for (int m = 0; m < b->n_modes; m++)
            for (int r = 0; r < b->o.repeat; r++) {
                const run_rec *x = rec(b, p, m, r);
                int32_t i = 0;
                while (i < x->n_gen && i < ref->n_gen && x->tokens[i] == ref->tokens[i])
                    i++;
                if (i == x->n_gen && i == ref->n_gen) continue;
                char msg[256];
                snprintf(msg, sizeof msg,
                         "prompt %s, %s, repeat %d: output differs from plain decoding at token %d",
                         b->prompts[p].id, b->modes[m].name, r + 1, i);
                fprintf(stderr, "specdec bench: error: %s\n", msg);
                cJSON_AddItemToArray(b->errors, cJSON_CreateString(msg));
                b->n_mismatch++;
            }
    }
}

/* ---------------------------------------------------------------------------------------------------- */
/* Reports */

typedef struct mode_agg {
    summary all;           /* every run of the mode */
    double speedup_median; /* median over prompts of the per-prompt speed-up */
    double speedup_total;  /* total tokens / total time, over plain's */
    double decode_tps;     /* median over prompts of the per-prompt median */
    double prompt_tps;
} mode_agg;

static void aggregate(bench *b, mode_agg *agg, cJSON *prompts_json) {
    int n = b->n_prompts, R = b->o.repeat;
    const run_rec **sel = malloc(sizeof *sel * (size_t)(n * R));
    double *sp = malloc(sizeof *sp * (size_t)n), *tps = malloc(sizeof *tps * (size_t)n),
           *ptps = malloc(sizeof *ptps * (size_t)n), *plain = malloc(sizeof *plain * (size_t)n);
    if (!sel || !sp || !tps || !ptps || !plain) goto done;
    for (int m = 0; m < b->n_modes; m++)
        for (int p = 0; p < n; p++) {
            for (int r = 0; r < R; r++)
                sel[r] = rec(b, p, m, r);
            summary s;
            summarize(sel, R, &s);
            if (m == 0) plain[p] = s.decode_tps;
            cJSON *res = summary_json(&s, b->modes[m].k != 0);
            cJSON_AddStringToObject(res, "mode", b->modes[m].name);
            add_num(res, "speedup", ratio(s.decode_tps, plain[p]));
            double reps[1000];
            for (int r = 0; r < R; r++)
                reps[r] = sel[r]->decode_tps;
            cJSON_AddItemToObject(res, "decode_tps_repeats", num_array(reps, R));
            if (b->o.temp <= 0) {
                bool same = true;
                for (int r = 0; r < R; r++) {
                    const run_rec *x = sel[r], *ref = rec(b, p, 0, 0);
                    same = same && x->n_gen == ref->n_gen &&
                           memcmp(x->tokens, ref->tokens, (size_t)x->n_gen * sizeof *x->tokens) == 0;
                }
                cJSON_AddBoolToObject(res, "identical_to_plain", same);
            }
            cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetArrayItem(prompts_json, p), "results"), res);
        }
    for (int m = 0; m < b->n_modes; m++) {
        for (int p = 0; p < n; p++) {
            for (int r = 0; r < R; r++)
                sel[r] = rec(b, p, m, r);
            summary s;
            summarize(sel, R, &s);
            sp[p] = ratio(s.decode_tps, plain[p]);
            if (b->prompt_speedup) b->prompt_speedup[m * n + p] = sp[p];
            tps[p] = s.decode_tps;
            ptps[p] = s.prompt_tps;
        }
        for (int p = 0; p < n; p++)
            for (int r = 0; r < R; r++)
                sel[p * R + r] = rec(b, p, m, r);
        summarize(sel, n * R, &agg[m].all);
        agg[m].speedup_median = bs_median(sp, n);
        agg[m].decode_tps = bs_median(tps, n);
        agg[m].prompt_tps = bs_median(ptps, n);
        agg[m].speedup_total =
            ratio(ratio(agg[m].all.n_gen, agg[m].all.t_gen), ratio(agg[0].all.n_gen, agg[0].all.t_gen));
    }
done:
    free(sel);
    free(sp);
    free(tps);
    free(ptps);
    free(plain);
}

static void k_hist_text(strbuf *sb, const summary *s) {
    bool any = false;
    for (int k = 0; k <= SD_MAX_DRAFT_LEN; k++)
        if (s->k_hist[k] > 0) {
            sb_printf(sb, "%s%d:%.0f", any ? " " : "", k, s->k_hist[k]);
            any = true;
        }
    if (!any) sb_printf(sb, "-");
}

static double predicted_for(const bench *b, const mode_agg *a, int k) {
    if (!b->cost.have || k <= 0 || k >= b->cost.n_max) return NAN;
    double t_d = ratio(a->all.t_draft, a->all.n_drafted);
    return bs_predicted_speedup(geometric_a(&a->all), k, t_d, b->cost.t_v);
}

/* ---- Kinds of text: the prompts' optional "kind" field (e.g. "boilerplate", "prose", "code") ---- */

#define KIND_TOLERANCE 0.05 /* adaptive should come within 5% of the best fixed k on every kind */

/* The modes' speed-ups over the runs of one kind of text. */
typedef struct kind_agg {
    const char *name; /* a prompt kind, or "all" */
    int n_prompts;
    double speedup_total[MAX_MODES];  /* total tokens / total decode seconds of the mode over the kind's
                                         prompts and repeats, over the same for plain */
    double speedup_median[MAX_MODES]; /* median over the kind's prompts of the per-prompt speed-up */
    double acceptance[MAX_MODES];     /* accepted / drafted tokens; NaN for plain */
} kind_agg;

static bool any_kind(const bench *b) {
    for (int p = 0; p < b->n_prompts; p++)
        if (strcmp(b->prompts[p].kind, BS_NO_KIND) != 0) return true;
    return false;
}

/* Writes the distinct kinds of the prompts, in order of first appearance, to names[0..n_prompts). */
static int distinct_kinds(const bench *b, const char **names) {
    int n = 0;
    for (int p = 0; p < b->n_prompts; p++) {
        int i = 0;
        while (i < n && strcmp(names[i], b->prompts[p].kind) != 0)
            i++;
        if (i == n) names[n++] = b->prompts[p].kind;
    }
    return n;
}

/* Fills *ka for the prompts of kind `name` (NULL: every prompt, as "all") from the runs and
 * b->prompt_speedup. Returns false when out of memory. */
static bool kind_aggregate(bench *b, const char *name, kind_agg *ka) {
    int n = b->n_prompts, R = b->o.repeat;
    const run_rec **sel = malloc(sizeof *sel * (size_t)(n * R));
    double *sp = malloc(sizeof *sp * (size_t)n), plain_tps = NAN;
    bool ok = sel && sp;
    ka->name = name ? name : "all";
    for (int m = 0; ok && m < b->n_modes; m++) {
        int n_sel = 0, n_in = 0;
        for (int p = 0; p < n; p++) {
            if (name && strcmp(b->prompts[p].kind, name) != 0) continue;
            sp[n_in++] = b->prompt_speedup[m * n + p];
            for (int r = 0; r < R; r++)
                sel[n_sel++] = rec(b, p, m, r);
        }
        summary s;
        summarize(sel, n_sel, &s);
        if (m == 0) plain_tps = ratio(s.n_gen, s.t_gen);
        ka->n_prompts = n_in;
        ka->speedup_total[m] = ratio(ratio(s.n_gen, s.t_gen), plain_tps);
        ka->speedup_median[m] = bs_median(sp, n_in);
        ka->acceptance[m] = b->modes[m].k == 0 ? NAN : ratio(s.n_accepted, s.n_drafted);
    }
    free(sel);
    free(sp);
    return ok;
}

/* The by-kind rows, one per kind of text and then "all", when the prompts hold at least two kinds and
 * there are speculative modes to compare; else none. Returns the row count; the caller frees *out. */
static int kind_rows(bench *b, kind_agg **out) {
    *out = NULL;
    const char **names = malloc(sizeof *names * (size_t)b->n_prompts);
    if (!names || !b->prompt_speedup || b->n_modes < 2) {
        free(names);
        return 0;
    }
    int n_kinds = distinct_kinds(b, names);
    kind_agg *ka = n_kinds >= 2 ? calloc((size_t)n_kinds + 1, sizeof *ka) : NULL;
    bool ok = ka != NULL;
    for (int i = 0; ok && i <= n_kinds; i++)
        ok = kind_aggregate(b, i < n_kinds ? names[i] : NULL, &ka[i]);
    free(names);
    if (!ok) {
        free(ka);
        return 0;
    }
    *out = ka;
    return n_kinds + 1;
}

/* The fixed-k mode with the highest total speed-up in row ka among those of mode m's schedule; -1: none. */
static int best_fixed(const bench *b, const kind_agg *ka, int m) {
    int best = -1;
    for (int f = 1; f < b->n_modes; f++) {
        if (b->modes[f].k <= 0 || b->modes[f].schedule != b->modes[m].schedule) continue;
        if (best < 0 || ka->speedup_total[f] > ka->speedup_total[best]) best = f;
    }
    return best;
}

/* The speculative mode with the highest total speed-up in row ka (shown in bold). */
static int best_mode(const bench *b, const kind_agg *ka) {
    int best = 1;
    for (int m = 2; m < b->n_modes; m++)
        if (ka->speedup_total[m] > ka->speedup_total[best]) best = m;
    return best;
}

static void kind_table_head(strbuf *sb, const bench *b, const char *first) {
    sb_printf(sb, "| kind | %s |", first);
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, " %s |", b->modes[m].name);
    sb_printf(sb, "\n|---|---|");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, "---|");
    sb_printf(sb, "\n");
}

static void kind_speedup_table(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    kind_table_head(sb, b, "prompts");
    for (int i = 0; i < n_rows; i++) {
        int best = best_mode(b, &ka[i]);
        sb_printf(sb, "| %s | %d |", ka[i].name, ka[i].n_prompts);
        for (int m = 1; m < b->n_modes; m++) {
            const char *bold = m == best ? "**" : "";
            sb_printf(sb, " %s%.2fx%s (%.2fx) |", bold, ka[i].speedup_total[m], bold,
                      ka[i].speedup_median[m]);
        }
        sb_printf(sb, "\n");
    }
}

static void kind_acceptance_table(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    kind_table_head(sb, b, "prompts");
    for (int i = 0; i < n_rows; i++) {
        sb_printf(sb, "| %s | %d |", ka[i].name, ka[i].n_prompts);
        for (int m = 1; m < b->n_modes; m++)
            sb_printf(sb, " %.3f |", ka[i].acceptance[m]);
        sb_printf(sb, "\n");
    }
}

/* One line per kind and adaptive mode: is adaptive within KIND_TOLERANCE of the best fixed k (and on
 * "all", the mixed set, does it beat every fixed k)? */
static void kind_verdicts(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    for (int i = 0; i < n_rows; i++)
        for (int m = 1; m < b->n_modes; m++) {
            int f = b->modes[m].k < 0 ? best_fixed(b, &ka[i], m) : -1;
            if (f < 0) continue;
            double rel = ratio(ka[i].speedup_total[m], ka[i].speedup_total[f]);
            sb_printf(sb, "- %s: %s %.2fx vs the best fixed k (%s) %.2fx: %+.1f%%, %s 5%%", ka[i].name,
                      b->modes[m].name, ka[i].speedup_total[m], b->modes[f].name, ka[i].speedup_total[f],
                      100 * (rel - 1), rel >= 1 - KIND_TOLERANCE ? "within" : "NOT within");
            if (i == n_rows - 1) sb_printf(sb, "; beats every fixed k: %s", rel > 1 ? "yes" : "NO");
            sb_printf(sb, ".\n");
        }
}

static void kind_section(strbuf *sb, const bench *b, const kind_agg *ka, int n_rows) {
    if (n_rows == 0) return;
    sb_printf(sb,
              "\n### Speed-up by kind of text\n\nA mode's speed-up on a kind of text is its total tokens / "
              "total decode seconds over that kind's prompts and repeats, divided by the same for plain "
              "decoding; in parentheses the median over the kind's prompts of the per-prompt speed-up. Bold: "
              "the row's best mode (by total). \"all\" is every prompt.\n\n");
    kind_speedup_table(sb, b, ka, n_rows);
    sb_printf(sb, "\nAcceptance (accepted / drafted tokens) by kind of text:\n\n");
    kind_acceptance_table(sb, b, ka, n_rows);
    sb_printf(sb, "\n");
    kind_verdicts(sb, b, ka, n_rows);
}

static cJSON *kinds_json(const bench *b, const kind_agg *ka, int n_rows) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n_rows; i++) {
        cJSON *kj = cJSON_CreateObject(), *modes = cJSON_CreateArray();
        cJSON_AddStringToObject(kj, "kind", ka[i].name);
        add_num(kj, "n_prompts", ka[i].n_prompts);
        for (int m = 0; m < b->n_modes; m++) {
            cJSON *mj = cJSON_CreateObject();
            cJSON_AddStringToObject(mj, "mode", b->modes[m].name);
            add_num(mj, "speedup_total", ka[i].speedup_total[m]);
            add_num(mj, "speedup_median", ka[i].speedup_median[m]);
            if (b->modes[m].k != 0) add_num(mj, "acceptance", ka[i].acceptance[m]);
            int f = b->modes[m].k < 0 ? best_fixed(b, &ka[i], m) : -1;
            if (f >= 0) {
                double rel = ratio(ka[i].speedup_total[m], ka[i].speedup_total[f]);
                cJSON_AddStringToObject(mj, "best_fixed_mode", b->modes[f].name);
                add_num(mj, "over_best_fixed", rel);
                cJSON_AddBoolToObject(mj, "within_5pct_of_best_fixed", rel >= 1 - KIND_TOLERANCE);
                cJSON_AddBoolToObject(mj, "beats_every_fixed", rel > 1);
            }
            cJSON_AddItemToArray(modes, mj);
        }
        cJSON_AddItemToObject(kj, "modes", modes);
        cJSON_AddItemToArray(arr, kj);
    }
    return arr;
}

/* ---- The summary ---- */

static void per_prompt_table(strbuf *sb, const bench *b) {
    bool kinds = any_kind(b);
    sb_printf(sb,
              "\n### Speed-up per prompt (median over repeats, against plain on the same prompt)\n\n| prompt "
              "|%s tokens |",
              kinds ? " kind |" : "");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, " %s |", b->modes[m].name);
    sb_printf(sb, "\n|---|%s---|", kinds ? "---|" : "");
    for (int m = 1; m < b->n_modes; m++)
        sb_printf(sb, "---|");
    sb_printf(sb, "\n");
    for (int p = 0; p < b->n_prompts; p++) {
        sb_printf(sb, "| %s |", b->prompts[p].id);
        if (kinds) sb_printf(sb, " %s |", b->prompts[p].kind);
        sb_printf(sb, " %d |", b->n_ptok[p]);
        for (int m = 1; m < b->n_modes; m++)
            sb_printf(sb, " %.2fx |", b->prompt_speedup[m * b->n_prompts + p]);
        sb_printf(sb, "\n");
    }
}

static void summary_md(bench *b, const mode_agg *agg, const kind_agg *ka, int n_kind_rows, strbuf *sb) {
    sd_model_info ti;
    sd_model_get_info(b->target, &ti);
    sb_printf(sb, "## specdec bench\n\n");
    sb_printf(sb, "Machine: %s, %s, %s kernels. Target: %s (%.1f M params, %.1f MB weights)", b->mc.cpu_model,
              b->mc.topology, ti.kernels, b->o.target_path, ti.n_params / 1e6, ti.weight_bytes / 1e6);
    if (b->draft) {
        sd_model_info di;
        sd_model_get_info(b->draft, &di);
        sb_printf(sb, "; draft: %s (%.1f M params, %.1f MB weights); %s", b->o.draft_path, di.n_params / 1e6,
                  di.weight_bytes / 1e6, b->engine_desc);
    }
    sb_printf(
        sb,
        ".\n%d prompts x %d repeats, %d tokens each, temp %g%s. Rates are medians; speed-ups are against "
        "plain decoding measured in the same run.\n\n",
        b->n_prompts, b->o.repeat, b->o.n_predict, b->o.temp,
        b->o.temp <= 0 ? (b->n_mismatch ? ", greedy: OUTPUTS DIFFER FROM PLAIN"
                                        : ", greedy: all outputs identical to plain")
                       : "");
    sb_printf(sb,
              "| mode | decode tok/s | speed-up (median) | speed-up (total) | prompt tok/s | acceptance | "
              "tokens/round | draft / verify / sample / other | k (k:rounds) |\n");
    sb_printf(sb, "|---|---|---|---|---|---|---|---|---|\n");
    for (int m = 0; m < b->n_modes; m++) {
        const mode_agg *a = &agg[m];
        const summary *s = &a->all;
        double other = fmax(0, s->t_gen - s->t_draft - s->t_verify - s->t_sample);
        sb_printf(sb, "| %s | %.1f | %.2fx | %.2fx | %.1f | ", b->modes[m].name, a->decode_tps,
                  a->speedup_median, a->speedup_total, a->prompt_tps);
        if (b->modes[m].k == 0)
            sb_printf(sb, "- | 1.00 | ");
        else
            sb_printf(sb, "%.3f | %.2f | ", ratio(s->n_accepted, s->n_drafted), ratio(s->n_gen, s->n_rounds));
        sb_printf(sb, "%.0f%% / %.0f%% / %.0f%% / %.0f%% | ", 100 * ratio(s->t_draft, s->t_gen),
                  100 * ratio(s->t_verify, s->t_gen), 100 * ratio(s->t_sample, s->t_gen),
                  100 * ratio(other, s->t_gen));
        if (b->modes[m].k == 0)
            sb_printf(sb, "-");
        else
            k_hist_text(sb, s);
        sb_printf(sb, " |\n");
    }
    if (b->n_modes > 1) {
        int n_pos = 0;
        for (int m = 1; m < b->n_modes; m++)
            while (n_pos < SD_MAX_DRAFT_LEN && agg[m].all.drafted_at[n_pos] > 0)
                n_pos++;
        sb_printf(sb, "\n### Acceptance by draft position (accepted / proposed at position i)\n\n| mode |");
        for (int i = 0; i < n_pos; i++)
            sb_printf(sb, " %d |", i + 1);
        sb_printf(sb, "\n|---|");
        for (int i = 0; i < n_pos; i++)
            sb_printf(sb, "---|");
        sb_printf(sb, "\n");
        for (int m = 1; m < b->n_modes; m++) {
            sb_printf(sb, "| %s |", b->modes[m].name);
            for (int i = 0; i < n_pos; i++) {
                const summary *s = &agg[m].all;
                if (s->drafted_at[i] > 0)
                    sb_printf(sb, " %.2f |", s->accepted_at[i] / s->drafted_at[i]);
                else
                    sb_printf(sb, " |");
            }
            sb_printf(sb, "\n");
        }
    }
    kind_section(sb, b, ka, n_kind_rows);
    if (b->n_modes > 1 && b->prompt_speedup) per_prompt_table(sb, b);
    if (b->cost.have) {
        sb_printf(sb, "\n### Cost model vs measurement\n\n");
        verify_line(sb, &b->cost);
        if (b->n_modes > 1) {
            sb_printf(
                sb,
                "Cost model: predicted speed-up E(k)/T(k) x t_v(1), E(k) = (1 - a^(k+1))/(1 - a), "
                "T(k) = k t_d + t_v(k+1), with each mode's measured a (geometric fit) and t_d (draft s per "
                "drafted token) and the measured t_v(n):");
            for (int m = 1; m < b->n_modes; m++) {
                const mode_agg *a = &agg[m];
                if (b->modes[m].k <= 0) continue;
                sb_printf(sb, " k=%d (a %.2f, t_d %.3f ms): predicted %.2fx, measured %.2fx;", b->modes[m].k,
                          geometric_a(&a->all), 1e3 * ratio(a->all.t_draft, a->all.n_drafted),
                          predicted_for(b, a, b->modes[m].k), a->speedup_total);
            }
            sb_printf(sb,
                      " (plain decoding measured %.3f ms/token, of which %.3f ms in target passes, vs t_v(1) "
                      "%.3f ms: sampling and bookkeeping are outside the model).\n",
                      1e3 * ratio(agg[0].all.t_gen, agg[0].all.n_gen),
                      1e3 * ratio(agg[0].all.t_verify, agg[0].all.n_gen), 1e3 * b->cost.t_v[0]);
        }
    }
}

static cJSON *settings_json(const bench *b, int32_t n_ctx) {
    const spec_opts *o = &b->o;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "prompts_file", o->prompts_path ? o->prompts_path : "");
    add_num(s, "n_prompts", b->n_prompts);
    add_num(s, "n_predict", o->n_predict);
    add_num(s, "temp", o->temp);
    add_num(s, "seed", (double)o->seed);
    double ks[MAX_KS];
    for (int i = 0; i < o->n_ks; i++)
        ks[i] = o->ks[i];
    cJSON_AddItemToObject(s, "k", num_array(ks, o->n_ks));
    cJSON_AddBoolToObject(s, "adaptive", o->adaptive);
    cJSON *sch = cJSON_CreateArray();
    for (int i = 0; i < o->n_schedules; i++)
        cJSON_AddItemToArray(sch, cJSON_CreateString(schedule_name(o->schedules[i])));
    cJSON_AddItemToObject(s, "schedules", sch);
    add_num(s, "repeat", o->repeat);
    add_num(s, "threads", o->threads);
    add_num(s, "n_ctx", n_ctx);
    cJSON_AddStringToObject(s, "engine", b->engine_desc);
    cJSON_AddBoolToObject(s, "cost_only", o->cost_only);
    return s;
}

static cJSON *report_base(const bench *b) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "specdec bench");
    cJSON_AddStringToObject(root, "version", SPECDEC_VERSION_STRING);
    char when[64];
    time_t now = time(NULL);
    struct tm tmv;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tmv));
    cJSON_AddStringToObject(root, "created", when);
    cJSON *mj = cJSON_CreateObject();
    cJSON_AddStringToObject(mj, "cpu_model", b->mc.cpu_model);
    add_num(mj, "cores", b->mc.n_cpus);
    cJSON_AddStringToObject(mj, "topology", b->mc.topology);
    cJSON_AddItemToObject(mj, "clusters", cJSON_Duplicate(b->mc.clusters, true));
    add_num(mj, "read_bandwidth_gbps", b->cost.have ? b->cost.bw_bps / 1e9 : NAN);
    add_num(mj, "read_bandwidth_best_gbps", b->cost.have ? b->cost.bw_best_bps / 1e9 : NAN);
    cJSON_AddItemToObject(root, "machine", mj);
    cJSON *models = cJSON_CreateObject();
    cJSON_AddItemToObject(models, "target", model_json(b->o.target_path, b->target));
    if (b->draft)
        cJSON_AddItemToObject(models, "draft", model_json(b->o.draft_path, b->draft));
    else
        cJSON_AddNullToObject(models, "draft");
    cJSON_AddItemToObject(root, "models", models);
    return root;
}

static int make_dir(const char *dir, char *err, size_t err_len) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return SD_STATUS_OK;
    return sd_error(err, err_len, SD_STATUS_IO, "cannot create folder %s: %s", dir, strerror(errno));
}

static int write_charts(bench *b, const mode_agg *agg, char *err, size_t err_len) {
    char path[4096];
    const char *labels[MAX_MODES];
    double sp[MAX_MODES];
    for (int m = 0; m < b->n_modes; m++)
        labels[m] = b->modes[m].name, sp[m] = agg[m].speedup_median;
    snprintf(path, sizeof path, "%s/speedup.svg", b->o.out_dir);
    int rc = bs_svg_bars(path, "Decode speed-up over plain (median over prompts)", "speed-up (x)", labels, sp,
                         b->n_modes, 1.0, err, err_len);
    if (rc < 0) return rc;
    int n_pos = 1;
    for (int m = 1; m < b->n_modes; m++)
        while (n_pos < SD_MAX_DRAFT_LEN && agg[m].all.drafted_at[n_pos] > 0)
            n_pos++;
    double x[SD_MAX_DRAFT_LEN], ys[MAX_MODES][SD_MAX_DRAFT_LEN];
    bs_series series[MAX_MODES];
    int n_series = 0;
    for (int i = 0; i < n_pos; i++)
        x[i] = i + 1;
    for (int m = 1; m < b->n_modes; m++) {
        for (int i = 0; i < n_pos; i++)
            ys[n_series][i] = ratio(agg[m].all.accepted_at[i], agg[m].all.drafted_at[i]);
        series[n_series] = (bs_series){b->modes[m].name, ys[n_series], 0};
        n_series++;
    }
    snprintf(path, sizeof path, "%s/acceptance.svg", b->o.out_dir);
    rc = bs_svg_lines(path, "Acceptance by draft position", "draft position", "accepted / proposed", x, n_pos,
                      series, n_series, 0.0, 1.0, err, err_len);
    if (rc < 0) return rc;
    return b->cost.have ? write_verify_svg(b->o.out_dir, &b->cost, err, err_len) : SD_STATUS_OK;
}

static int write_outputs(bench *b, int32_t n_ctx, char *err, size_t err_len) {
    int rc = SD_STATUS_OK;
    mode_agg *agg = calloc((size_t)b->n_modes, sizeof *agg);
    b->prompt_speedup = calloc((size_t)b->n_modes * (size_t)b->n_prompts, sizeof *b->prompt_speedup);
    cJSON *root = report_base(b);
    cJSON_AddItemToObject(root, "settings", settings_json(b, n_ctx));
    cJSON *modes = cJSON_CreateArray(), *prompts = cJSON_CreateArray(), *aggj = cJSON_CreateArray();
    strbuf sb = {0};
    char *text = NULL;
    kind_agg *ka = NULL;
    int n_kind_rows = 0;
    if (!agg) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (int m = 0; m < b->n_modes; m++)
        cJSON_AddItemToArray(modes, cJSON_CreateString(b->modes[m].name));
    cJSON_AddItemToObject(root, "modes", modes);
    for (int p = 0; p < b->n_prompts; p++) {
        cJSON *pj = cJSON_CreateObject();
        cJSON_AddStringToObject(pj, "id", b->prompts[p].id);
        cJSON_AddStringToObject(pj, "kind", b->prompts[p].kind);
        add_num(pj, "n_prompt_tokens", b->n_ptok[p]);
        cJSON_AddItemToObject(pj, "results", cJSON_CreateArray());
        cJSON_AddItemToArray(prompts, pj);
    }
    aggregate(b, agg, prompts);
    cJSON_AddItemToObject(root, "prompts", prompts);
    for (int m = 0; m < b->n_modes; m++) {
        cJSON *a = summary_json(&agg[m].all, b->modes[m].k != 0);
        cJSON_AddStringToObject(a, "mode", b->modes[m].name);
        add_num(a, "k", b->modes[m].k);
        cJSON_AddStringToObject(a, "schedule",
                                b->modes[m].k == 0 ? "none" : schedule_name(b->modes[m].schedule));
        add_num(a, "decode_tps_median", agg[m].decode_tps);
        add_num(a, "prompt_tps_median", agg[m].prompt_tps);
        add_num(a, "speedup_median", agg[m].speedup_median);
        add_num(a, "speedup_total", agg[m].speedup_total);
        if (b->modes[m].k > 0) add_num(a, "predicted_speedup", predicted_for(b, &agg[m], b->modes[m].k));
        cJSON_AddItemToArray(aggj, a);
    }
    cJSON_AddItemToObject(root, "aggregate", aggj);
    n_kind_rows = kind_rows(b, &ka);
    cJSON_AddItemToObject(root, "kinds", kinds_json(b, ka, n_kind_rows));
    cJSON_AddItemToObject(root, "verify_cost", b->cost.have ? costs_json(&b->cost) : cJSON_CreateNull());
    cJSON *ll = cJSON_CreateObject();
    cJSON_AddBoolToObject(ll, "checked", b->o.temp <= 0);
    add_num(ll, "mismatches", b->n_mismatch);
    cJSON_AddItemToObject(ll, "errors", cJSON_Duplicate(b->errors, true));
    cJSON_AddItemToObject(root, "lossless", ll);
    summary_md(b, agg, ka, n_kind_rows, &sb);
    text = cJSON_Print(root);
    if (!text || !sb.s) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if (rc == 0) rc = write_text(b->o.out_dir, "report.json", text, err, err_len);
    if (rc == 0) rc = write_text(b->o.out_dir, "summary.md", sb.s, err, err_len);
    if (rc == 0) rc = write_charts(b, agg, err, err_len);
    if (rc == 0) {
        fputs(b->o.json ? text : sb.s, stdout);
        if (b->o.json) fputc('\n', stdout);
    }
    free(text);
    free(sb.s);
    cJSON_Delete(root);
    free(ka);
    free(agg);
    return rc;
}

/* --cost-only: costs and the projection table, no prompts. */
static int cost_only(bench *b, char *err, size_t err_len) {
    int n_max = SD_MAX(PROJ_K, max_k_of(&b->o)) + 1;
    int rc = measure_costs(&b->o, &b->mc, b->target, b->draft, n_max, COST_PREFIX, &b->cost, err, err_len);
    if (rc < 0) return rc;
    strbuf sb = {0};
    sb_printf(&sb, "## specdec bench --cost-only\n\nMachine: %s, %s. Target: %s; draft: %s.\n\n",
              b->mc.cpu_model, b->mc.topology, b->o.target_path, b->o.draft_path);
    verify_line(&sb, &b->cost);
    projection_table(&sb, &b->cost);
    cJSON *root = report_base(b);
    cJSON_AddItemToObject(root, "settings", settings_json(b, 0));
    cJSON_AddItemToObject(root, "verify_cost", costs_json(&b->cost));
    cJSON *proj = cJSON_CreateArray();
    for (int ai = 0; ai < 10; ai++) {
        double a = 0.5 + 0.05 * ai, s[PROJ_K];
        for (int k = 1; k <= PROJ_K; k++)
            s[k - 1] = bs_predicted_speedup(a, k, b->cost.t_d, b->cost.t_v);
        cJSON *row = cJSON_CreateObject();
        add_num(row, "acceptance", a);
        cJSON_AddItemToObject(row, "predicted_speedup_k1_to_k8", num_array(s, PROJ_K));
        cJSON_AddItemToArray(proj, row);
    }
    cJSON_AddItemToObject(root, "projection", proj);
    char *text = cJSON_Print(root);
    if (!text || !sb.s) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if (rc == 0 && b->o.out_dir) rc = make_dir(b->o.out_dir, err, err_len);
    if (rc == 0 && b->o.out_dir) rc = write_text(b->o.out_dir, "report.json", text, err, err_len);
    if (rc == 0 && b->o.out_dir) rc = write_text(b->o.out_dir, "summary.md", sb.s, err, err_len);
    if (rc == 0 && b->o.out_dir) rc = write_verify_svg(b->o.out_dir, &b->cost, err, err_len);
    if (rc == 0) {
        fputs(b->o.json ? text : sb.s, stdout);
        if (b->o.json) fputc('\n', stdout);
    }
    free(text);
    free(sb.s);
    cJSON_Delete(root);
    return rc;
}

static int full_run(bench *b, char *err, size_t err_len) {
    int n = bs_prompts_read(b->o.prompts_path, b->o.n_prompts, &b->prompts, err, err_len);
    if (n < 0) return n;
    b->n_prompts = n;
    int32_t longest = 0;
    int rc = tokenize_prompts(b, &longest, err, err_len);
    if (rc < 0) return rc;
    int k_max = max_k_of(&b->o);
    if (b->o.adaptive) k_max = SD_MAX(k_max, 16); /* the engine's default draft_max */
    int32_t n_ctx = b->o.n_ctx ? b->o.n_ctx : longest + b->o.n_predict + k_max + 16;
    build_modes(b);
    b->runs = calloc((size_t)b->n_prompts * (size_t)b->n_modes * (size_t)b->o.repeat, sizeof *b->runs);
    if (!b->runs) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if ((rc = make_dir(b->o.out_dir, err, err_len)) < 0) return rc;
    if ((rc = create_engines(b, n_ctx, err, err_len)) < 0) return rc;
    /* Costs first, while the engines' threads sleep: t_v(n) for n = 1..k_max + 1 of the fixed k list, after
     * as much context as a typical verify of this run sees (attention cost grows with it). */
    double *lens = malloc((size_t)b->n_prompts * sizeof *lens);
    if (!lens) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    for (int p = 0; p < b->n_prompts; p++)
        lens[p] = b->n_ptok[p];
    int32_t prefix = (int32_t)bs_median(lens, b->n_prompts) + b->o.n_predict / 2;
    free(lens);
    bool tty = isatty(2);
    if (tty) fprintf(stderr, "specdec bench: measuring read bandwidth and pass costs...");
    rc = measure_costs(&b->o, &b->mc, b->target, b->draft, max_k_of(&b->o) + 1, prefix, &b->cost, err,
                       err_len);
    if (tty) fprintf(stderr, "\r%-60s\r", "");
    if (rc < 0) return rc;
    if ((rc = warm_up(b, err, err_len)) < 0) return rc;
    if ((rc = run_all(b, err, err_len)) < 0) return rc;
    check_lossless(b);
    return write_outputs(b, n_ctx, err, err_len);
}

static void bench_free(bench *b) {
    for (int m = 0; m < b->n_modes; m++)
        sd_engine_free(b->modes[m].engine);
    if (b->runs)
        for (size_t i = 0; i < (size_t)b->n_prompts * (size_t)b->n_modes * (size_t)b->o.repeat; i++)
            free(b->runs[i].tokens);
    free(b->runs);
    free(b->prompt_speedup);
    for (int i = 0; b->ptok && i < b->n_prompts; i++)
        free(b->ptok[i]);
    free(b->ptok);
    free(b->n_ptok);
    bs_prompts_free(b->prompts, b->n_prompts);
    cJSON_Delete(b->mc.clusters);
    cJSON_Delete(b->errors);
    sd_model_free(b->target);
    sd_model_free(b->draft);
}

static sd_model *load(const char *path) {
    char err[512];
    sd_model *m = NULL;
    if (sd_model_load(path, &m, err, sizeof err) < 0) {
        fprintf(stderr, "specdec bench: %s: %s\n", path, err);
        return NULL;
    }
    return m;
}

int sd_bench_spec_main(int argc, char **argv) {
    bench *b = calloc(1, sizeof *b);
    if (!b) return 1;
    b->o = (spec_opts){.n_prompts = 8,
                       .n_predict = 64,
                       .repeat = 3,
                       .seed = 42,
                       .ks = {1, 2, 4, 8},
                       .n_ks = 4,
                       .adaptive = true,
                       .schedules = {SD_SCHEDULE_SEQ},
                       .n_schedules = 1};
    bool done = false;
    int exit_code = parse_opts(argc, argv, &b->o, &done);
    if (exit_code != 0 || done) {
        free(b);
        return exit_code;
    }
    exit_code = 1;
    char err[512] = "";
    int rc = SD_STATUS_OK;
    if (!(b->target = load(b->o.target_path))) goto out;
    if (b->o.draft_path && !(b->draft = load(b->o.draft_path))) goto out;
    if ((rc = detect_machine(&b->mc, err, sizeof err)) < 0) goto out;
    rc = b->o.cost_only ? cost_only(b, err, sizeof err) : full_run(b, err, sizeof err);
    if (rc < 0) goto out;
    if (b->n_mismatch) {
        fprintf(stderr, "specdec bench: error: %d speculative run(s) differ from plain greedy decoding\n",
                b->n_mismatch);
        goto out;
    }
    exit_code = 0;
out:
    if (rc < 0) fprintf(stderr, "specdec bench: %s\n", err);
    bench_free(b);
    free(b);
    return exit_code;
}
