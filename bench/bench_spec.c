/* `specdec bench`: how much faster speculative decoding is for a model pair on this machine, and why.
 *
 * Method: every mode (plain decoding, speculative with each fixed draft length k, adaptive k; each per
 * schedule) runs on the same prompts in an interleaved order (prompt-major; within a prompt, each repeat
 * visits every mode, the order rotated between repeats) so that machine noise hits all modes alike.
 * Per prompt, a mode's rate is the median over repeats; its speed-up is that rate over plain's for the
 * same prompt. Aggregates: the median over prompts, and total tokens / total time. Around the runs it
 * measures the read bandwidth and the target's batched pass t_v(n) directly (bench_cost.c), and puts the
 * cost model's prediction next to the measured speed-ups. This is CLI code: it prints.
 *
 * This file: the flags, the order of the steps and the files written; bench_run.h lists the others. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "bench_run.h"
#include "cli/args.h"
#include "common/sd_common.h"

static void usage(FILE *f, const cli_command *c) {
    fprintf(f,
            "usage: specdec bench -m TARGET [-md DRAFT] -f PROMPTS -o OUTDIR [flags]\n"
            "       specdec bench -m TARGET -md DRAFT --cost-only [-o OUTDIR]\n"
            "\n"
            "How much faster is speculative decoding for this model pair on this machine, and why. Runs\n"
            "plain decoding and speculative decoding with each draft length (and adaptive; with --spec,\n"
            "for each draft source) on the same prompts, interleaved, and reports medians, speed-ups over\n"
            "plain measured in the same run, acceptance by draft position, the time split, the target's\n"
            "measured batched-pass cost t_v(n) against the roofline, and the cost model's predicted\n"
            "speed-up next to the measured one. Greedy runs check that every speculative output equals\n"
            "the plain one (exit 1 if not).\n"
            "Writes OUTDIR/report.json, summary.md, speedup.svg, acceptance.svg, verify_cost.svg; prints\n"
            "the summary table (or with --json the report).\n"
            "\n");
    cli_print_flags(f, c);
}

/* --spec: source sets, comma-separated: draft, ngram, draft+ngram (each a set of modes). */
static bool read_source_sets(const char *value, const cli_flag *f) {
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {
        {"draft", SD_SPEC_DRAFT}, {"ngram", SD_SPEC_NGRAM}, {"draft+ngram", SD_SPEC_DRAFT | SD_SPEC_NGRAM}};
    unsigned *sets = f->out.any;
    *f->count = 0;
    for (const char *p = value;; p++) {
        const size_t len = strcspn(p, ",");
        size_t i = 0;
        while (i < CLI_COUNT(names) && !(strlen(names[i].name) == len && strncmp(p, names[i].name, len) == 0))
            i++;
        if (i == CLI_COUNT(names) || *f->count == f->cap) return false;
        for (int j = 0; j < *f->count; j++)
            if (sets[j] == names[i].bits) return false;
        sets[(*f->count)++] = names[i].bits;
        p += len;
        if (*p == '\0') return true;
    }
}

/* Returns -1 to go on, else the exit code (0 after --help, 2 on a usage error). */
static int parse_opts(int argc, char **argv, spec_opts *o) {
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &o->target_path, .arg = "FILE", .help = "target GGUF model"},
        {"-md", "--model-draft", CLI_STR, .out.s = &o->draft_path, .arg = "FILE",
         .help =
             "draft GGUF model (without it only plain decoding runs, or n-gram drafting with --spec ngram)"},
        {"-f", "--file", CLI_STR, .out.s = &o->prompts_path, .arg = "FILE",
         .help = "prompts: JSON Lines with a \"prompt\" field, or a text file (one prompt)\n"
                 "(optional \"id\" and \"kind\" fields; with two kinds or more, e.g. \"code\"\n"
                 "and \"prose\", the summary adds speed-ups by kind of text)"},
        {"--n-prompts", NULL, CLI_INT, .out.i = &o->n_prompts, 1, 1 << 20, .arg = "N",
         .help = "use the first N prompts (default 8)"},
        {"-n", "--n-predict", CLI_INT, .out.i = &o->n_predict, 1, 1 << 20, .arg = "N",
         .help = "tokens to generate per run (default 64)"},
        {"--temp", NULL, CLI_FLOAT, .out.f = &o->temp, 0, 100, .arg = "T",
         .help = "temperature; 0 = greedy, checked lossless (default 0)"},
        {"-s", "--seed", CLI_U64, .out.u = &o->seed, .arg = "S", .help = "sampling seed (default 42)"},
        {"--ignore-eos", NULL, CLI_TRUE, .out.b = &o->ignore_eos,
         .help = "never stop at an end-of-generation token: every run generates -n tokens"},
        {"--k", NULL, CLI_INT_LIST, .out.i = o->ks, 1, SD_MAX_DRAFT_LEN, .cap = BS_MAX_KS, .count = &o->n_ks,
         .arg = "LIST", .help = "fixed draft lengths to compare, e.g. 1,2,4,8 (default 1,2,4,8)"},
        {"--no-adaptive", NULL, CLI_FALSE, .out.b = &o->adaptive,
         .help = "leave out the adaptive draft length"},
        {"--schedule", NULL, CLI_CUSTOM, .out.any = o->schedules, .cap = 3, .count = &o->n_schedules,
         .parse = cli_read_schedule_list, .want = "a list of seq, pipe, auto", .arg = "LIST",
         .help = "schedules to compare: seq, pipe, auto (default seq)"},
        {"--spec", NULL, CLI_CUSTOM, .out.any = o->source_sets, .cap = BS_MAX_SOURCE_SETS,
         .count = &o->n_source_sets, .parse = read_source_sets,
         .want = "a list of draft, ngram and draft+ngram, each once", .arg = "LIST",
         .help = "draft source sets to compare, each with every k (default: generate's default,\n"
                 "draft+ngram with -md)"},
        {"--chat", "-cnv", CLI_TRUE, .out.b = &o->chat,
         .help = "each prompt is a user's turn: rendered in the chat template (the\n"
                 "target's, or --chat-template NAME) with the assistant's turn opened"},
        {"--chat-template", NULL, CLI_STR, .out.s = &o->chat_template, .arg = "NAME",
         .help = "chat template by name for --chat (see specdec chat-template --help)"},
        {"--repeat", NULL, CLI_INT, .out.i = &o->repeat, 1, BS_MAX_REPEAT, .arg = "R",
         .help = "runs of every prompt and mode (default 3)"},
        CLI_KERNELS_FLAG(&o->kernels),
        {"-t", "--threads", CLI_INT, .out.i = &o->threads, 1, 1024, .arg = "N",
         .help = "worker threads for target and draft (default: one per CPU of each set)"},
        {"-c", "--ctx-size", CLI_INT, .out.i = &o->n_ctx, 1, 1 << 24, .arg = "N",
         .help = "context length (default: what the longest prompt needs)"},
        {"-ctk", "--cache-type-k", CLI_CUSTOM, .out.any = &o->cache_k, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE",
         .help = "KV cache type of the keys, target and draft (default f16)"},
        {"-ctv", "--cache-type-v", CLI_CUSTOM, .out.any = &o->cache_v, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE", .help = "KV cache type of the values (default f16)"},
        {"-o", "--out", CLI_STR, .out.s = &o->out_dir, .arg = "DIR",
         .help = "output folder (created if missing)"},
        {"--cost-only", NULL, CLI_TRUE, .out.b = &o->cost_only,
         .help = "measure only the draft's per-token cost and t_v(n), and print the\n"
                 "speed-ups the cost model projects for acceptance 0.5..0.95, k = 1..8"},
        {"--json", NULL, CLI_TRUE, .out.b = &o->json,
         .help = "print the report JSON instead of the summary table"},
        {"-h", "--help", .kind = CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"bench", flags, CLI_COUNT(flags), usage, 24, true, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (!o->target_path) {
        fprintf(stderr, "specdec bench: give the target model with -m (see specdec bench --help)\n");
        return 2;
    }
    for (int i = 0; i < o->n_source_sets; i++) {
        if ((o->source_sets[i] & SD_SPEC_DRAFT) && !o->draft_path) {
            fprintf(stderr, "specdec bench: --spec with draft needs a draft model (-md)\n");
            return 2;
        }
    }
    if (o->chat_template && !o->chat) {
        fprintf(stderr, "specdec bench: --chat-template needs --chat\n");
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
    return -1;
}

static int max_k_of(const spec_opts *o) {
    int m = 0;
    for (int i = 0; i < o->n_ks; i++)
        m = SD_MAX(m, o->ks[i]);
    return m;
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

/* What the command prints: the summary, or with --json the report. */
static void print_result(const bench *b, const char *report_json, const char *summary_md) {
    fputs(b->o.json ? report_json : summary_md, stdout);
    if (b->o.json) fputc('\n', stdout);
}

static int make_dir(const char *dir, char *err, size_t err_len) {
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return SD_STATUS_OK;
    return sd_error(err, err_len, SD_STATUS_IO, "cannot create folder %s: %s", dir, strerror(errno));
}

/* Writes report.json, summary.md and the charts to the output folder (and rc 0: prints the summary or the
 * report). */
static int write_outputs(bench *b, int32_t n_ctx, char *err, size_t err_len) {
    mode_agg *agg = calloc((size_t)b->n_modes, sizeof *agg);
    if (!agg) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    b->prompt_speedup = calloc((size_t)b->n_modes * (size_t)b->n_prompts, sizeof *b->prompt_speedup);
    bs_aggregate(b, agg);
    kind_agg *ka = NULL;
    int n_kind_rows = bs_kind_rows(b, &ka);
    cJSON *root = bs_report_json(b, agg, ka, n_kind_rows, n_ctx);
    char *md = bs_summary_md(b, agg, ka, n_kind_rows), *text = root ? cJSON_Print(root) : NULL;
    int rc = text && md ? SD_STATUS_OK : sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if (rc == 0) rc = write_text(b->o.out_dir, "report.json", text, err, err_len);
    if (rc == 0) rc = write_text(b->o.out_dir, "summary.md", md, err, err_len);
    if (rc == 0) rc = bs_write_charts(b, agg, err, err_len);
    if (rc == 0) print_result(b, text, md);
    free(text);
    free(md);
    cJSON_Delete(root);
    free(ka);
    free(agg);
    return rc;
}

/* --cost-only: costs and the projection table, no prompts. */
static int cost_only(bench *b, char *err, size_t err_len) {
    int n_max = SD_MAX(BS_PROJ_K, max_k_of(&b->o)) + 1;
    int rc =
        bs_measure_costs(&b->o, &b->mc, b->target, b->draft, n_max, BS_COST_PREFIX, &b->cost, err, err_len);
    if (rc < 0) return rc;
    cJSON *root = bs_cost_only_json(b);
    char *md = bs_cost_only_md(b), *text = root ? cJSON_Print(root) : NULL;
    if (!text || !md) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    const char *dir = b->o.out_dir;
    if (rc == 0 && dir) rc = make_dir(dir, err, err_len);
    if (rc == 0 && dir) rc = write_text(dir, "report.json", text, err, err_len);
    if (rc == 0 && dir) rc = write_text(dir, "summary.md", md, err, err_len);
    if (rc == 0 && dir) rc = bs_write_verify_svg(dir, &b->cost, err, err_len);
    if (rc == 0) print_result(b, text, md);
    free(text);
    free(md);
    cJSON_Delete(root);
    return rc;
}

static int full_run(bench *b, char *err, size_t err_len) {
    int n = bs_prompts_read(b->o.prompts_path, b->o.n_prompts, &b->prompts, err, err_len);
    if (n < 0) return n;
    b->n_prompts = n;
    int32_t longest = 0;
    int rc = bs_tokenize_prompts(b, &longest, err, err_len);
    if (rc < 0) return rc;
    int k_max = max_k_of(&b->o);
    if (b->o.adaptive) k_max = SD_MAX(k_max, 16); /* the engine's default draft_max */
    int32_t n_ctx = b->o.n_ctx ? b->o.n_ctx : longest + b->o.n_predict + k_max + 16;
    bs_build_modes(b);
    b->runs = calloc((size_t)b->n_prompts * (size_t)b->n_modes * (size_t)b->o.repeat, sizeof *b->runs);
    if (!b->runs) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    if ((rc = make_dir(b->o.out_dir, err, err_len)) < 0) return rc;
    if ((rc = bs_create_engines(b, n_ctx, err, err_len)) < 0) return rc;
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
    rc = bs_measure_costs(&b->o, &b->mc, b->target, b->draft, max_k_of(&b->o) + 1, prefix, &b->cost, err,
                          err_len);
    if (tty) fprintf(stderr, "\r%-60s\r", "");
    if (rc < 0) return rc;
    if ((rc = bs_warm_up(b, err, err_len)) < 0) return rc;
    if ((rc = bs_run_all(b, err, err_len)) < 0) return rc;
    bs_check_lossless(b);
    return write_outputs(b, n_ctx, err, err_len);
}

/* --chat: the template named by --chat-template, else the one the target's metadata holds. */
static int choose_chat_template(bench *b, char *err, size_t err_len) {
    if (b->o.chat_template) return sd_chat_template_by_name(b->o.chat_template, &b->chat, err, err_len);
    int n = sd_model_chat_template(b->target, NULL, 0);
    if (n < 0) return sd_error(err, err_len, n, "%s: its chat template is malformed", b->o.target_path);
    if (n == 0)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "%s has no chat template: give --chat-template NAME", b->o.target_path);
    char *text = malloc((size_t)n + 1);
    if (!text) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    sd_model_chat_template(b->target, text, (size_t)n + 1);
    int rc = sd_chat_template_from_text(text, &b->chat, err, err_len);
    free(text);
    return rc;
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
    int exit_code = parse_opts(argc, argv, &b->o);
    if (exit_code >= 0) {
        free(b);
        return exit_code;
    }
    exit_code = 1;
    char err[512] = "";
    int rc = SD_STATUS_OK;
    if (!(b->target = cli_load_model(b->o.target_path, b->o.kernels))) goto out;
    if (b->o.draft_path && !(b->draft = cli_load_model(b->o.draft_path, b->o.kernels))) goto out;
    if (b->o.chat && (rc = choose_chat_template(b, err, sizeof err)) < 0) goto out;
    if ((rc = bs_detect_machine(&b->mc, err, sizeof err)) < 0) goto out;
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
