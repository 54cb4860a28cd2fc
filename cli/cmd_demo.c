/* specdec demo: the first run that shows what speculation buys. The bundled target is small enough to sit
 * in the CPU's cache, where a verify pass of several tokens costs several passes and drafting cannot pay;
 * speculation pays on a target whose weights must come from memory for every token. So the demo grows the
 * bundled target to ~1e9 parameters (synth/synth.h: extra layers that add exactly zero, so it computes the
 * small target's function while reading a 1e9-parameter model's weights per token), caches the file, and
 * decodes one prompt plainly and speculatively with the bundled draft, greedy, a fixed number of tokens.
 * It prints both speeds, the speed-up, the acceptance and why, from the weight bytes and the run's stats. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "cmd_synth.h"
#include "commands.h"
#include "common/sd_common.h"
#include "generate.h"
#include "json.h"
#include "prompt.h"
#include "synth/synth.h"

/* A code prompt the bundled pair agrees on often (held out of its training code). */
#define DEMO_PROMPT "static int ext4_read_inode(struct inode *inode)\n{\n"
#define MIB (1024.0 * 1024.0)

typedef struct demo_opts {
    const char *params_s; /* --params, as given */
    uint64_t n_params;
    const char *cache_dir; /* --cache; NULL: ${XDG_CACHE_HOME:-~/.cache}/specdec */
    const char *prompt;
    const char *kernels;
    int32_t n_predict;
    int32_t n_threads;
    int32_t n_repeat; /* timed runs per mode; the fastest counts */
    bool json;
} demo_opts;

static void demo_usage(FILE *out, const cli_command *c) {
    fprintf(
        out,
        "usage: specdec demo [--params N] [--cache DIR] [-n N] [-t N] [-r R] [--kernels SET] [--json]\n"
        "\n"
        "Shows what speculative decoding buys on a memory-bound target. Writes, once, a grown copy of the\n"
        "bundled code target (%s) with about N parameters into the cache folder: extra\n"
        "layers that add exactly zero, so it computes the small target's function but reads N "
        "parameters'\n"
        "weights per token, like a real model of that size. Then decodes one prompt plainly and "
        "speculatively\n"
        "(draft %s, greedy, exactly -n tokens) and explains the speed-up.\n"
        "\n",
        DEFAULT_TARGET, DEFAULT_DRAFT);
    cli_print_flags(out, c);
}

/* mkdir -p: every missing folder of path. false (errno set) on failure. */
static bool make_dirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return false;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return false;
        *p = c;
        if (!c) return true;
    }
}

/* The cache folder: --cache, else $XDG_CACHE_HOME/specdec, else $HOME/.cache/specdec. */
static bool cache_folder(const char *given, char *buf, size_t len) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (given)
        n = snprintf(buf, len, "%s", given);
    else if (xdg && xdg[0])
        n = snprintf(buf, len, "%s/specdec", xdg);
    else if (home && home[0])
        n = snprintf(buf, len, "%s/.cache/specdec", home);
    else {
        fprintf(stderr, "specdec demo: neither XDG_CACHE_HOME nor HOME is set; give a folder with --cache\n");
        return false;
    }
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "specdec demo: the cache path is too long\n");
        return false;
    }
    if (!make_dirs(buf)) {
        fprintf(stderr, "specdec demo: cannot create the cache folder %s: %s\n", buf, strerror(errno));
        return false;
    }
    return true;
}

/* The progress bar of the grown file's write: redrawn in place on a terminal, otherwise one line at the
 * end (logs get no carriage returns). */
typedef struct write_progress {
    bool tty;
    int shown_pct; /* last percentage drawn; -1 before the first */
} write_progress;

static void draw_progress(void *ctx, uint64_t done, uint64_t total) {
    write_progress *w = ctx;
    int pct = total ? (int)(100 * done / total) : 100;
    if (!w->tty || pct == w->shown_pct) return;
    w->shown_pct = pct;
    enum { BAR = 40 };
    char bar[BAR + 1];
    for (int i = 0; i < BAR; i++)
        bar[i] = i < pct * BAR / 100 ? '#' : '.';
    bar[BAR] = '\0';
    fprintf(stderr, "\rspecdec demo: writing the grown target [%s] %3d%% %4.0f/%.0f MiB", bar, pct,
            (double)done / MIB, (double)total / MIB);
    fflush(stderr);
}

typedef struct grown_file {
    char path[4096];
    sd_synth_report rep;
    bool cached;    /* found in the cache, not written */
    double write_s; /* seconds the write took (0 when cached) */
} grown_file;

/* Makes sure the cache holds the grown target: a file of the planned size is taken as written by an earlier
 * run (the writer renames a finished file into place, so a partial one never has the name). Returns 0, or
 * an exit code after printing why. */
static int ensure_grown(const char *src, const demo_opts *o, const char *dir, grown_file *g) {
    sd_synth_params p = sd_synth_default_params();
    p.n_params = o->n_params;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    p.n_threads = o->n_threads > 0 ? o->n_threads : (ncpu > 0 ? (int)SD_MIN(ncpu, 64) : 1);
    char err[512];
    int rc = sd_synth_grow(src, &p, NULL, &g->rep, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "specdec demo: %s\n", err);
        return rc == SD_STATUS_INVALID_ARGUMENT ? 2 : 1;
    }
    if (snprintf(g->path, sizeof g->path, "%s/codepair-target-q4_0-grown-%" PRIu64 ".gguf", dir,
                 o->n_params) >= (int)sizeof g->path) {
        fprintf(stderr, "specdec demo: the cache path is too long\n");
        return 1;
    }
    struct stat st;
    if (stat(g->path, &st) == 0 && (uint64_t)st.st_size == g->rep.file_bytes) {
        g->cached = true;
        return 0;
    }
    write_progress wp = {.tty = isatty(STDERR_FILENO) == 1, .shown_pct = -1};
    p.on_progress = draw_progress;
    p.on_progress_ctx = &wp;
    double t0 = sd_time_seconds();
    rc = sd_synth_grow(src, &p, g->path, &g->rep, err, sizeof err);
    g->write_s = sd_time_seconds() - t0;
    if (wp.tty) fprintf(stderr, "\n");
    if (rc < 0) {
        fprintf(stderr, "specdec demo: writing %s: %s\n", g->path, err);
        return 1;
    }
    fprintf(stderr, "specdec demo: wrote %s (%.0f MiB, %d layers) in %.1f s; later runs reuse it\n", g->path,
            (double)g->rep.file_bytes / MIB, g->rep.n_layer, g->write_s);
    return 0;
}

typedef struct demo_run {
    sd_stats stats;
    int32_t *tokens; /* [n_predict] */
    double tps;
    int n_runs;
    char schedule[512]; /* sd_engine_describe after the run (the auto schedule resolved) */
    bool pipelined;     /* the draft ran beside verification, so verify times include waiting for it */
} demo_run;

/* Creates the engine for one mode (draft NULL: plain) and runs the prompt through it once: that maps the
 * weights in, so the timed runs see memory bandwidth, not page faults. NULL after printing why. */
static sd_engine *demo_engine(sd_model *target, sd_model *draft, const sd_engine_params *ep,
                              const int32_t *prompt, int32_t n_prompt) {
    char err[512];
    sd_engine *e = NULL;
    if (sd_engine_create(target, draft, ep, &e, err, sizeof err) < 0 ||
        sd_engine_eval(e, prompt, n_prompt, err, sizeof err) < 0) {
        fprintf(stderr, "specdec demo: %s: %s\n", draft ? "speculative" : "plain", err);
        sd_engine_free(e);
        return NULL;
    }
    return e;
}

/* One timed greedy run of exactly n_predict tokens; kept in *best when it is the fastest so far (other
 * processes slow single runs down, never speed them up). tokens is scratch of n_predict ids. */
static bool timed_run(sd_engine *e, bool spec, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                      int32_t *tokens, demo_run *best) {
    char err[512];
    sd_stats st;
    if (sd_engine_generate(e, prompt, n_prompt, n_predict, NULL, NULL, tokens, n_predict, &st, err,
                           sizeof err) < 0) {
        fprintf(stderr, "specdec demo: %s decoding failed: %s\n", spec ? "speculative" : "plain", err);
        return false;
    }
    double tps = st.t_gen_s > 0 ? st.n_gen / st.t_gen_s : 0;
    best->n_runs++;
    if (best->n_runs == 1 || tps > best->tps) {
        best->stats = st;
        best->stats.k_trace = NULL; /* owned by the engine, overwritten by its next run */
        best->stats.n_k_trace = 0;
        best->tps = tps;
        memcpy(best->tokens, tokens, (size_t)st.n_gen * sizeof *tokens);
        sd_engine_describe(e, best->schedule, sizeof best->schedule);
        best->pipelined = sd_engine_schedule(e) == SD_SCHEDULE_PIPE;
    }
    return true;
}

/* What the report states, derived once for the text and the JSON. */
typedef struct demo_facts {
    double speedup;
    double acceptance;      /* accepted / drafted */
    double tokens_per_pass; /* generated tokens per target (verify) pass */
    double verify_ratio;    /* mean verify pass / one-token pass; 0: not measured (or pipelined) */
    double draft_share;     /* drafting's share of the speculative run's generation time */
    bool pipelined;
    double target_mib; /* target weight bytes read per plain token, MiB */
    double draft_mib;  /* the draft's, per drafted token */
    double plain_gbs;  /* plain decoding's weight read rate, GB/s */
    bool identical;
} demo_facts;

static demo_facts derive(const sd_model_info *ti, const sd_model_info *di, const demo_run *plain,
                         const demo_run *spec) {
    const sd_stats *s = &spec->stats;
    demo_facts f = {0};
    f.speedup = plain->tps > 0 ? spec->tps / plain->tps : 0;
    f.acceptance = s->n_drafted ? (double)s->n_accepted / s->n_drafted : 0;
    f.tokens_per_pass = s->n_rounds ? (double)s->n_gen / s->n_rounds : 0;
    if (s->n_rounds && s->t_target_token_s > 0 && !spec->pipelined)
        f.verify_ratio = s->t_verify_s / s->n_rounds / s->t_target_token_s;
    f.draft_share = s->t_gen_s > 0 ? s->t_draft_s / s->t_gen_s : 0;
    f.pipelined = spec->pipelined;
    f.target_mib = (double)ti->weight_bytes / MIB;
    f.draft_mib = (double)di->weight_bytes / MIB;
    f.plain_gbs = (double)ti->weight_bytes * plain->tps / 1e9;
    f.identical = plain->stats.n_gen == s->n_gen &&
                  memcmp(plain->tokens, spec->tokens, (size_t)s->n_gen * sizeof *spec->tokens) == 0;
    return f;
}

/* The paragraph that says why, into buf. */
static void explain(char *buf, size_t len, const sd_model_info *ti, const grown_file *g,
                    const demo_facts *f) {
    size_t n = 0;
#define ADD(...) (n += (size_t)snprintf(buf + n, n < len ? len - n : 0, __VA_ARGS__))
    ADD("Why: plain decoding reads all of the target's weights for every token, %.0f MiB of Q4_0 here, "
        "more than CPU caches hold, so memory bandwidth bounds its speed (%.1f tok/s x %.0f MiB = %.1f "
        "GB/s). Speculative decoding "
        "lets the small draft (%.1f MiB per token) propose tokens and the target checks them all in one "
        "pass that reads its weights once: %.2f tokens per verify pass, so %.0f MiB of target weights per "
        "token instead of %.0f.",
        f->target_mib, f->plain_gbs * 1e9 / ((double)ti->weight_bytes), f->target_mib, f->plain_gbs,
        f->draft_mib, f->tokens_per_pass, f->tokens_per_pass > 0 ? f->target_mib / f->tokens_per_pass : 0,
        f->target_mib);
    if (f->verify_ratio > 0)
        ADD(" A verify pass of %.2f tokens took %.2fx the time of a one-token pass (measured in this run), "
            "so "
            "the target's time per generated token fell %.2fx.",
            f->tokens_per_pass, f->verify_ratio, f->tokens_per_pass / f->verify_ratio);
    if (f->pipelined)
        ADD(" The draft ran on its own CPU while the target verified (pipelined), so its time hid behind "
            "verification.");
    else
        ADD(" Drafting took %.0f%% of the time.", 100 * f->draft_share);
    ADD(" The target accepted %.0f%% of the draft's tokens.", 100 * f->acceptance);
    ADD(" Honestly: the target is a grown model, the bundled %.1f M-parameter code target plus %d layers "
        "that add exactly zero, so it computes the small target's function (the same tokens) while reading "
        "as many bytes per token as a real %.2f B-parameter Q4_0 model; on a real model the speed-up depends "
        "on how well its draft predicts it.",
        (double)g->rep.n_params_src / 1e6, g->rep.n_layer - g->rep.n_layer_src,
        (double)g->rep.n_params / 1e9);
#undef ADD
}

static void print_text(const grown_file *g, const demo_run *plain, const demo_run *spec, const demo_facts *f,
                       const char *why) {
    const sd_stats *s = &spec->stats;
    printf("target       %s\n", g->path);
    printf("             grown: %.3f B parameters, %.0f MiB of weights (%s)\n", (double)g->rep.n_params / 1e9,
           f->target_mib, g->cached ? "from the cache" : "written by this run");
    printf("draft        %s, %.1f MiB of weights\n", DEFAULT_DRAFT, f->draft_mib);
    printf("schedule     %s\n", spec->schedule);
    printf("plain        %7.1f tok/s  (%d tokens; fastest of %d runs)\n", plain->tps, plain->stats.n_gen,
           plain->n_runs);
    printf("speculative  %7.1f tok/s  (%d tokens, %d verify passes, %.2f tokens per pass, acceptance %.2f)\n",
           spec->tps, s->n_gen, s->n_rounds, f->tokens_per_pass, f->acceptance);
    printf("speed-up     %.2fx over plain decoding; outputs %s (greedy)\n\n%s\n", f->speedup,
           f->identical ? "identical" : "DIFFER", why);
}

static bool print_json(const grown_file *g, const demo_run *plain, const demo_run *spec, const demo_facts *f,
                       const char *why) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "target", g->path);
    cJSON_AddBoolToObject(j, "grown", true);
    cJSON_AddBoolToObject(j, "cached", g->cached);
    cJSON_AddItemToObject(j, "write_s", cli_json_number_6g(g->write_s));
    cJSON_AddNumberToObject(j, "n_params", (double)g->rep.n_params);
    cJSON_AddNumberToObject(j, "n_params_src", (double)g->rep.n_params_src);
    cJSON_AddItemToObject(j, "target_mib", cli_json_number_6g(f->target_mib));
    cJSON_AddItemToObject(j, "draft_mib", cli_json_number_6g(f->draft_mib));
    cJSON_AddNumberToObject(j, "n_gen", spec->stats.n_gen);
    cJSON_AddNumberToObject(j, "n_runs", spec->n_runs);
    cJSON_AddItemToObject(j, "plain_tps", cli_json_number_6g(plain->tps));
    cJSON_AddItemToObject(j, "spec_tps", cli_json_number_6g(spec->tps));
    cJSON_AddItemToObject(j, "speedup", cli_json_number_6g(f->speedup));
    cJSON_AddItemToObject(j, "acceptance", cli_json_number_6g(f->acceptance));
    cJSON_AddNumberToObject(j, "n_rounds", spec->stats.n_rounds);
    cJSON_AddItemToObject(j, "tokens_per_pass", cli_json_number_6g(f->tokens_per_pass));
    if (f->verify_ratio > 0) cJSON_AddItemToObject(j, "verify_ratio", cli_json_number_6g(f->verify_ratio));
    cJSON_AddItemToObject(j, "plain_gbs", cli_json_number_6g(f->plain_gbs));
    cJSON_AddBoolToObject(j, "identical", f->identical);
    cJSON_AddStringToObject(j, "why", why);
    return cli_json_print(stdout, j, false);
}

static int parse_demo_flags(int argc, char **argv, demo_opts *o, bool *done) {
    const cli_flag flags[] = {
        {"--params", NULL, CLI_STR, .out.s = &o->params_s, .arg = "N",
         .help = "parameters of the grown target: 1e9, 500M, 2e7 (default 1e9)"},
        {"--cache", NULL, CLI_STR, .out.s = &o->cache_dir, .arg = "DIR",
         .help = "folder for the grown file (default ${XDG_CACHE_HOME:-~/.cache}/specdec)"},
        {"-p", "--prompt", CLI_STR, .out.s = &o->prompt, .arg = "TEXT",
         .help = "prompt (default: the start of a C function)"},
        {"-n", "--n-predict", CLI_INT, .out.i = &o->n_predict, 1, 4000, .arg = "N",
         .help = "tokens to generate in each mode (default 128)"},
        {"-t", "--threads", CLI_INT, .out.i = &o->n_threads, 1, 1024, .arg = "N",
         .help = "worker threads (default: all online CPUs)"},
        {"-r", "--repeat", CLI_INT, .out.i = &o->n_repeat, 1, 100, .arg = "R",
         .help = "timed runs per mode, in turn; the fastest of each counts (default 2)"},
        CLI_KERNELS_FLAG(&o->kernels),
        {"--json", NULL, CLI_TRUE, .out.b = &o->json, .help = "print one JSON object instead of the report"},
        {"-h", "--help", CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"demo", flags, CLI_COUNT(flags), demo_usage, 20, true, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    *done = st == CLI_HELP_ASKED;
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (!cli_parse_count(o->params_s, &o->n_params)) {
        cli_flag_error(&c, "--params", "a positive count (1e9, 500M)", o->params_s);
        return 2;
    }
    return 0;
}

int cmd_demo(int argc, char **argv) {
    demo_opts o = {.params_s = "1e9", .prompt = DEMO_PROMPT, .n_predict = 128, .n_repeat = 2};
    bool done = false;
    int rc = parse_demo_flags(argc, argv, &o, &done);
    if (rc != 0 || done) return rc;

    char src[4096], draft_path[4096], dir[4096];
    if (!cli_bundled_model(DEFAULT_TARGET, src, sizeof src) ||
        !cli_bundled_model(DEFAULT_DRAFT, draft_path, sizeof draft_path)) {
        fprintf(stderr, "specdec demo: the bundled models (%s, %s) were not found\n", DEFAULT_TARGET,
                DEFAULT_DRAFT);
        return 1;
    }
    if (!cache_folder(o.cache_dir, dir, sizeof dir)) return 1;
    grown_file g = {0};
    if ((rc = ensure_grown(src, &o, dir, &g)) != 0) return rc;

    int exit_code = 1;
    sd_model *target = NULL, *draft = NULL;
    int32_t *prompt = NULL, n_prompt = 0;
    demo_run plain = {0}, spec = {0};
    sd_engine *plain_engine = NULL, *spec_engine = NULL;
    int32_t *scratch = NULL;
    if (!(target = cli_load_model(g.path, o.kernels)) || !(draft = cli_load_model(draft_path, o.kernels)))
        goto done;
    if (!(prompt = cli_tokenize_prompt(target, o.prompt, strlen(o.prompt), false, &n_prompt))) goto done;
    plain.tokens = malloc((size_t)o.n_predict * sizeof *plain.tokens);
    spec.tokens = malloc((size_t)o.n_predict * sizeof *spec.tokens);
    scratch = malloc((size_t)o.n_predict * sizeof *scratch);
    if (!plain.tokens || !spec.tokens || !scratch) {
        fprintf(stderr, "specdec demo: out of memory\n");
        goto done;
    }
    sd_engine_params ep = sd_engine_default_params();
    ep.n_threads = o.n_threads;
    ep.sampling.temp = 0;
    ep.sampling.ignore_eos = true; /* exactly n tokens in both modes */
    if (!(plain_engine = demo_engine(target, NULL, &ep, prompt, n_prompt)) ||
        !(spec_engine = demo_engine(target, draft, &ep, prompt, n_prompt)))
        goto done;
    if (!o.json)
        fprintf(stderr,
                "specdec demo: decoding %d tokens plainly and speculatively, %d time%s each, in turn...\n",
                o.n_predict, o.n_repeat, o.n_repeat == 1 ? "" : "s");
    for (int i = 0; i < o.n_repeat; i++)
        if (!timed_run(plain_engine, false, prompt, n_prompt, o.n_predict, scratch, &plain) ||
            !timed_run(spec_engine, true, prompt, n_prompt, o.n_predict, scratch, &spec))
            goto done;

    sd_model_info ti, di;
    sd_model_get_info(target, &ti);
    sd_model_get_info(draft, &di);
    demo_facts f = derive(&ti, &di, &plain, &spec);
    char why[2048];
    explain(why, sizeof why, &ti, &g, &f);
    bool printed =
        o.json ? print_json(&g, &plain, &spec, &f, why) : (print_text(&g, &plain, &spec, &f, why), true);
    if (!printed) fprintf(stderr, "specdec demo: out of memory for the JSON output\n");
    /* the speed-up means nothing if the tokens are not the target's own */
    if (!f.identical)
        fprintf(stderr, "specdec demo: error: the speculative tokens are not plain decoding's\n");
    exit_code = printed && f.identical ? 0 : 1;
done:
    sd_engine_free(plain_engine);
    sd_engine_free(spec_engine);
    sd_model_free(target);
    sd_model_free(draft);
    free(scratch);
    free(prompt);
    free(plain.tokens);
    free(spec.tokens);
    return exit_code;
}
