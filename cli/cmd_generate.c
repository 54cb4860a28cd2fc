/* specdec generate: stream a continuation of a prompt to stdout; timings to stderr or one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "generate.h"
#include "prompt.h"
#include "report.h"
#include "usage.h"

static void generate_usage(FILE *out, const cli_command *c) {
    fprintf(out,
            "usage: specdec generate [-m MODEL.gguf] [-md DRAFT.gguf] (-p TEXT | -f FILE) [flags]\n"
            "\n"
            "Streams the target model's continuation of the prompt to stdout; timings and, with a draft "
            "model,\n"
            "a speed-up report go to stderr. Without -m and -md it uses the bundled pair (%s\n"
            "and %s) speculatively.\n"
            "\n",
            DEFAULT_TARGET, DEFAULT_DRAFT);
    cli_print_flags(out, c);
}

int generate_parse_flags(const char *cmd, int argc, char **argv, generate_opts *o, bool *done) {
    sd_engine_params *e = &o->engine;
    sd_sampling_params *s = &o->engine.sampling;
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &o->model_path, .arg = "FILE", .help = "target GGUF model"},
        {"-md", "--model-draft", CLI_STR, .out.s = &o->draft_path, .arg = "FILE",
         .help = "draft GGUF model: decode speculatively"},
        {"--no-draft", NULL, CLI_TRUE, .out.b = &o->no_draft,
         .help = "plain decoding even with the bundled pair"},
        {"--no-cross-vocab", NULL, CLI_TRUE, .out.b = &e->no_cross_vocab,
         .help = "refuse a draft of another vocabulary instead of drafting by text"},
        {"--spec", "--spec-type", CLI_CUSTOM, .out.any = &e->spec, .parse = cli_read_spec_sources,
         .want = CLI_SPEC_WANT, .arg = "LIST",
         .help = "draft sources: draft (the draft model), ngram (n-grams of the context, needs no draft "
                 "model), or both, chosen each round (default: both with -md)"},
        {"--draft", NULL, CLI_INT, .out.i = &e->draft_k, 0, SD_MAX_DRAFT_LEN, .arg = "K",
         .help = "fixed draft length K (default: adaptive)"},
        {"--draft-min", NULL, CLI_INT, .out.i = &e->draft_min, 0, SD_MAX_DRAFT_LEN, .arg = "K",
         .help = "lower bound of the adaptive draft length (default 0)"},
        {"--draft-max", NULL, CLI_INT, .out.i = &e->draft_max, 0, SD_MAX_DRAFT_LEN, .arg = "K",
         .help = "upper bound of the adaptive draft length (default 16, at most 32)"},
        {"--draft-p-min", NULL, CLI_FLOAT, .out.f = &e->draft_p_min, 0, 1, .arg = "P",
         .help = "stop drafting when the draft's top probability is below P (default 0)"},
        {"--schedule", NULL, CLI_CUSTOM, .out.any = &e->schedule, .parse = cli_read_schedule,
         .want = CLI_SCHEDULE_WANT, .arg = "S", .help = "seq, pipe or auto (default auto)"},
        {"--draft-cpus", NULL, CLI_STR, .out.s = &e->draft_cpus, .arg = "LIST",
         .help = "CPUs for the draft, e.g. 0-3 (default: the efficiency cluster)"},
        {"--target-cpus", NULL, CLI_STR, .out.s = &e->target_cpus, .arg = "LIST",
         .help = "CPUs for the target (default: the performance cluster)"},
        {"-td", "--threads-draft", CLI_INT, .out.i = &e->n_threads_draft, 1, 1024, .arg = "N",
         .help = "draft worker threads (default: one per draft CPU)"},
        {"--compare", NULL, CLI_TRUE, .out.b = &o->compare,
         .help = "also decode plainly and report the measured speed-up"},
        {"--chat", "-cnv", CLI_TRUE, .out.b = &o->chat,
         .help = "the prompt is a user's turn: apply the chat template, stop at the end of the turn"},
        CLI_CHAT_FLAGS(&o->chat_opts),
        {"-p", "--prompt", CLI_STR, .out.s = &o->prompt, .arg = "TEXT", .help = "prompt text"},
        {"-f", "--file", CLI_STR, .out.s = &o->prompt_file, .arg = "FILE",
         .help = "read the prompt from FILE"},
        {"-n", "--n-predict", CLI_INT, .out.i = &o->n_predict, -1, 1 << 30, .arg = "N",
         .help = "tokens to generate (default 128; -1: until end of text or context)"},
        {"-c", "--ctx-size", CLI_INT, .out.i = &e->n_ctx, 0, 1 << 24, .arg = "N", .seen = &o->ctx_given,
         .help = "context length; 0 = the model's trained context (default: the model's, at most 4096)"},
        {"-ctk", "--cache-type-k", CLI_CUSTOM, .out.any = &e->cache_type_k, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE",
         .help = "KV cache type of the keys: f16, f32, q8_0 (default f16)"},
        {"-ctv", "--cache-type-v", CLI_CUSTOM, .out.any = &e->cache_type_v, .parse = cli_read_cache_type,
         .want = CLI_CACHE_TYPE_WANT, .arg = "TYPE", .help = "KV cache type of the values (default f16)"},
        {"-ctkd", "--cache-type-k-draft", CLI_CUSTOM, .out.any = &e->cache_type_k_draft,
         .parse = cli_read_cache_type, .want = CLI_CACHE_TYPE_WANT, .seen = &o->ctkd_given, .arg = "TYPE",
         .help = "the draft's key cache type (default: -ctk's)"},
        {"-ctvd", "--cache-type-v-draft", CLI_CUSTOM, .out.any = &e->cache_type_v_draft,
         .parse = cli_read_cache_type, .want = CLI_CACHE_TYPE_WANT, .seen = &o->ctvd_given, .arg = "TYPE",
         .help = "the draft's value cache type (default: -ctv's)"},
        {"--context-shift", NULL, CLI_TRUE, .out.b = &e->context_shift,
         .help = "when the context is full, drop the middle half of it and go on (default: stop)"},
        {"--keep", NULL, CLI_INT, .out.i = &e->n_keep, 0, 1 << 24, .arg = "N",
         .help = "tokens kept at the start by --context-shift, BOS included (default 4)"},
        {"-b", "--batch-size", CLI_INT, .out.i = &e->n_batch, 1, 4096, .arg = "N",
         .help = "prompt tokens per forward pass (default 64)"},
        {"-t", "--threads", CLI_INT, .out.i = &e->n_threads, 1, 1024, .arg = "N",
         .help = "worker threads (default: all online CPUs)"},
        CLI_KERNELS_FLAG(&o->kernels),
        {"--ignore-eos", NULL, CLI_TRUE, .out.b = &s->ignore_eos,
         .help = "never stop at an end-of-generation token: generate exactly -n tokens"},
        {"--temp", NULL, CLI_FLOAT, .out.f = &s->temp, 0, 100, .arg = "T",
         .help = "temperature; 0 = greedy (default 0.8)"},
        {"--top-k", NULL, CLI_INT, .out.i = &s->top_k, 0, 1 << 30, .arg = "K",
         .help = "keep the K most likely tokens; 0 = off (default 40)"},
        {"--top-p", NULL, CLI_FLOAT, .out.f = &s->top_p, 1e-6, 1, .arg = "P",
         .help = "nucleus sampling; 1 = off (default 0.95)"},
        {"--min-p", NULL, CLI_FLOAT, .out.f = &s->min_p, 0, 1, .arg = "P",
         .help = "drop tokens below P x the top probability; 0 = off (default 0.05)"},
        {"--repeat-penalty", NULL, CLI_FLOAT, .out.f = &s->repeat_penalty, 1e-3, 100, .arg = "R",
         .help = "penalise recent tokens; 1 = off (default 1)"},
        {"--repeat-last-n", NULL, CLI_INT, .out.i = &s->repeat_last_n, -1, 1 << 24, .arg = "N",
         .help = "tokens the penalty looks back at; -1 = all (default 64)"},
        {"-s", "--seed", CLI_U64, .out.u = &s->seed, .seen = &o->seed_given, .arg = "S",
         .help = "random seed (default: from the clock, printed)"},
        {"--parse-special", NULL, CLI_TRUE, .out.b = &o->parse_special,
         .help = "map control token texts in the prompt (e.g. <s>) to their ids"},
        {"--json", NULL, CLI_TRUE, .out.b = &o->json,
         .help = "print one JSON object instead of streaming text"},
        {"-h", "--help", CLI_HELP, .help = "this text"},
    };
    const cli_command c = {cmd, flags, CLI_COUNT(flags), generate_usage, 24, true, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    *done = st == CLI_HELP_ASKED;
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (o->ctx_given && e->n_ctx == 0) e->n_ctx = SD_CTX_TRAINED;
    if (!o->ctkd_given) e->cache_type_k_draft = e->cache_type_k;
    if (!o->ctvd_given) e->cache_type_v_draft = e->cache_type_v;
    if ((o->engine.spec & SD_SPEC_DRAFT) && o->no_draft) {
        fprintf(stderr, "specdec %s: --spec draft and --no-draft contradict each other\n", cmd);
        return 2;
    }
    if (o->draft_path && o->no_draft) {
        fprintf(stderr, "specdec %s: -md and --no-draft contradict each other\n", cmd);
        return 2;
    }
    bool chat = strcmp(cmd, "chat") == 0;
    if (chat || strcmp(cmd, "serve") == 0) {
        if (o->prompt || o->prompt_file || o->json || o->compare || o->chat) {
            fprintf(stderr, "specdec %s: the %s: -p, -f, --json, --compare and --chat are generate's\n", cmd,
                    chat ? "turns come from the terminal" : "prompts come from the requests");
            return 2;
        }
        return 0;
    }
    const cli_chat_opts *co = &o->chat_opts;
    if (!o->chat && (co->template_name || co->template_file || co->system)) {
        fprintf(stderr, "specdec generate: --chat-template, --chat-template-file and --system need --chat\n");
        return 2;
    }
    if (!o->prompt == !o->prompt_file) {
        fprintf(stderr,
                "specdec generate: give exactly one of -p TEXT or -f FILE (see specdec generate --help)\n");
        return 2;
    }
    return 0;
}

static const char *stop_name(sd_stop_reason r) {
    switch (r) {
    case SD_STOP_LENGTH:
        return "length";
    case SD_STOP_EOG:
        return "end of text";
    case SD_STOP_CALLBACK:
        return "stopped";
    case SD_STOP_CONTEXT_FULL:
        return "context full";
    }
    return "?";
}

/* Runs plain decoding of the same prompt for --compare; returns its tokens/s (0 on failure, reported). */
static double plain_reference(sd_model *target, const generate_opts *o, const int32_t *prompt,
                              int32_t n_prompt, int32_t n_predict, int32_t *tokens, sd_stats *stats) {
    char err[512];
    sd_engine *plain = NULL;
    sd_engine_params params = o->engine;
    params.spec = 0; /* without a draft model: plain */
    if (sd_engine_create(target, NULL, &params, &plain, err, sizeof err) < 0 ||
        sd_engine_generate(plain, prompt, n_prompt, n_predict, NULL, NULL, tokens, n_predict, stats, err,
                           sizeof err) < 0) {
        fprintf(stderr, "specdec: plain decoding for --compare failed: %s\n", err);
        sd_engine_free(plain);
        return 0;
    }
    sd_engine_free(plain);
    return stats->t_gen_s > 0 ? stats->n_gen / stats->t_gen_s : 0;
}

int generate_load_models(generate_opts *o, sd_model **model, sd_model **draft) {
    *model = *draft = NULL;
    /* Without -m and -md: the bundled pair, speculatively (the target alone for --spec ngram). */
    const bool model_drafts = o->engine.spec == 0 || (o->engine.spec & SD_SPEC_DRAFT);
    if (!o->model_path && !o->draft_path && !o->no_draft && model_drafts &&
        !(o->draft_path = cli_bundled_model(DEFAULT_DRAFT, o->draft_buf, sizeof o->draft_buf))) {
        fprintf(stderr, "specdec: the bundled draft model %s was not found; give models with -m and -md\n",
                DEFAULT_DRAFT);
        return 1;
    }
    if (!o->model_path &&
        !(o->model_path = cli_bundled_model(DEFAULT_TARGET, o->target_buf, sizeof o->target_buf))) {
        fprintf(stderr, "specdec: the bundled model %s was not found; give one with -m\n", DEFAULT_TARGET);
        return 1;
    }
    if (o->compare && !o->draft_path && !(o->engine.spec & SD_SPEC_NGRAM)) {
        fprintf(stderr, "specdec generate: --compare needs a draft model (-md) or --spec ngram\n");
        return 2;
    }
    if (!(*model = cli_load_model(o->model_path, o->kernels))) return 1;
    if (o->draft_path && !(*draft = cli_load_model(o->draft_path, o->kernels))) {
        sd_model_free(*model);
        *model = NULL;
        return 1;
    }
    if (*draft) {
        sd_model_info ti, di;
        sd_model_get_info(*model, &ti);
        sd_model_get_info(*draft, &di);
        if (di.n_params >= ti.n_params)
            fprintf(
                stderr,
                "specdec: warning: the draft (%.1f M parameters) is not smaller than the target (%.1f M): "
                "speculation will not pay\n",
                (double)di.n_params / 1e6, (double)ti.n_params / 1e6);
    }
    return 0;
}

int32_t generate_n_ctx(const generate_opts *o, const sd_model *model) {
    sd_model_info info;
    sd_model_get_info(model, &info);
    int32_t n = o->engine.n_ctx;
    return n == SD_CTX_TRAINED ? info.n_ctx_train : n ? n : info.n_ctx_train < 4096 ? info.n_ctx_train : 4096;
}

/* The prompt's tokens (caller frees): the text as given, or with --chat one user turn (after --system)
 * in the chat template, whose stop strings then end the answer (*tmpl). NULL after printing why. */
static int32_t *prompt_tokens(const generate_opts *o, const sd_model *model, const char *text, size_t len,
                              const sd_chat_template **tmpl, int32_t *n_out) {
    *tmpl = NULL;
    if (!o->chat) {
        if (o->chat_opts.verbose_prompt) fprintf(stderr, "%.*s\n", (int)len, text);
        return cli_tokenize_prompt(model, text, len, o->parse_special, n_out);
    }
    const cli_chat_opts *co = &o->chat_opts;
    char *model_text = co->template_name || co->template_file
                           ? NULL
                           : cli_model_chat_template("generate", model, o->model_path);
    if (!co->template_name && !co->template_file && !model_text) return NULL;
    *tmpl =
        cli_choose_chat_template("generate", co->template_name, co->template_file, model_text, o->model_path);
    free(model_text);
    if (!*tmpl) return NULL;
    if (strlen(text) != len) {
        fprintf(stderr, "specdec generate: the prompt holds a NUL byte\n");
        return NULL;
    }
    sd_chat_message msgs[2] = {{"system", co->system}, {"user", text}};
    int first = co->system ? 0 : 1;
    char *rendered = cli_render_chat("generate", *tmpl, msgs + first, 2 - first);
    if (!rendered) return NULL;
    if (co->verbose_prompt) fprintf(stderr, "%s\n", rendered);
    /* the template's control texts (<|im_start|>, ...) are the model's control tokens */
    int32_t *ids = cli_tokenize_prompt(model, rendered, strlen(rendered), true, n_out);
    free(rendered);
    return ids;
}

int cmd_generate(int argc, char **argv) {
    generate_opts o = {.n_predict = 128, .engine = sd_engine_default_params()};
    bool done = false;
    int rc = generate_parse_flags("generate", argc, argv, &o, &done);
    if (rc != 0 || done) return rc;
    if (o.n_predict < 0 && o.engine.context_shift) {
        fprintf(stderr, "specdec generate: -n -1 with --context-shift would never stop; give -n N\n");
        return 2;
    }
    if (!o.seed_given) o.engine.sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    int exit_code = 1;
    char *file_text = NULL;
    int32_t *prompt = NULL, *out_tokens = NULL, *plain_tokens = NULL, *k_trace = NULL;
    sd_engine *engine = NULL;
    sd_model *model = NULL, *draft = NULL;
    cli_answer answer = {.print = !o.json};
    size_t prompt_len = o.prompt ? strlen(o.prompt) : 0;
    if (o.prompt_file && !(file_text = cli_read_file(o.prompt_file, &prompt_len))) return 1;
    if ((rc = generate_load_models(&o, &model, &draft)) != 0) {
        free(file_text);
        return rc;
    }

    int32_t n_prompt = 0;
    prompt = prompt_tokens(&o, model, o.prompt ? o.prompt : file_text, prompt_len, &answer.tmpl, &n_prompt);
    if (!prompt) goto done;
    answer.model = model;
    if (n_prompt == 0) {
        fprintf(stderr, "specdec: the prompt is empty and the model adds no BOS token\n");
        goto done;
    }
    char err[512];
    if (sd_engine_create(model, draft, &o.engine, &engine, err, sizeof err) < 0) {
        fprintf(stderr, "specdec: %s\n", err);
        goto done;
    }
    sd_model_info info;
    sd_model_get_info(model, &info);
    int32_t n_ctx = generate_n_ctx(&o, model);
    int32_t n_predict = o.n_predict < 0 ? n_ctx : o.n_predict;
    out_tokens = malloc(((size_t)n_predict + 1) * sizeof *out_tokens);
    plain_tokens = malloc(((size_t)n_predict + 1) * sizeof *plain_tokens);
    if (!out_tokens || !plain_tokens) {
        fprintf(stderr, "specdec: out of memory\n");
        goto done;
    }
    sd_stats stats, plain_stats;
    memset(&plain_stats, 0, sizeof plain_stats);
    const cli_usage u0 = cli_usage_now();
    if (sd_engine_generate(engine, prompt, n_prompt, n_predict, cli_answer_on_token, &answer, out_tokens,
                           n_predict, &stats, err, sizeof err) < 0) {
        fprintf(stderr, "specdec: %s\n", err);
        goto done;
    }
    const cli_usage u1 = cli_usage_now();
    cli_answer_flush(&answer);
    if (answer.oom) {
        fprintf(stderr, "specdec: out of memory collecting the output\n");
        goto done;
    }
    if (!o.json) printf("\n");
    fflush(stdout);
    gen_report rep = {.stats = &stats,
                      .draft = draft != NULL || (o.engine.spec & SD_SPEC_NGRAM),
                      .stop = answer.end_of_turn ? "end of turn" : stop_name(stats.stop),
                      .kernels = info.kernels,
                      .peak_rss_bytes = u1.peak_rss_bytes,
                      .cpu_s_per_token = cli_usage_cpu_per_token(u0, u1, stats.n_gen)};
    sd_engine_describe(engine, rep.schedule, sizeof rep.schedule);
    if (o.compare) {
        /* the plain run's own peak: the speculative engine (caches, scratch) is gone, the draft model is
         * still loaded; stats.k_trace lived in the engine */
        if (stats.n_k_trace > 0) {
            if (!(k_trace = malloc((size_t)stats.n_k_trace * sizeof *k_trace))) {
                fprintf(stderr, "specdec: out of memory\n");
                goto done;
            }
            memcpy(k_trace, stats.k_trace, (size_t)stats.n_k_trace * sizeof *k_trace);
            stats.k_trace = k_trace;
        }
        sd_engine_free(engine);
        engine = NULL;
        cli_usage_reset_peak();
        const cli_usage u2 = cli_usage_now();
        rep.plain_tps = plain_reference(model, &o, prompt, n_prompt, n_predict, plain_tokens, &plain_stats);
        if (rep.plain_tps <= 0) goto done;
        const cli_usage u3 = cli_usage_now();
        rep.plain_peak_rss_bytes = u3.peak_rss_bytes;
        rep.plain_cpu_s_per_token = cli_usage_cpu_per_token(u2, u3, plain_stats.n_gen);
        rep.plain_kv_bytes = plain_stats.kv_bytes;
        rep.plain_n_ctx_shifts = plain_stats.n_ctx_shifts;
        rep.compared = true;
        rep.greedy = o.engine.sampling.temp <= 0;
        rep.identical = plain_stats.n_gen == stats.n_gen &&
                        memcmp(plain_tokens, out_tokens, (size_t)stats.n_gen * sizeof *out_tokens) == 0;
    }
    if (o.json) {
        if (!print_generate_json(stdout, answer.text ? answer.text : "", answer.len, out_tokens, &rep)) {
            fprintf(stderr, "specdec: out of memory for the JSON output\n");
            goto done;
        }
    } else {
        fprintf(stderr, "specdec: target %s%s%s; seed %llu\n", o.model_path, draft ? ", draft " : "",
                draft ? o.draft_path : "", (unsigned long long)o.engine.sampling.seed);
        print_generate_report(stderr, &rep);
        if (stats.stop == SD_STOP_CONTEXT_FULL)
            fprintf(stderr, "specdec: generation stopped: the context of %d tokens is full\n", n_ctx);
    }
    if (rep.compared && rep.greedy && !rep.identical) {
        fprintf(stderr, "specdec: error: greedy speculative output differs from plain decoding\n");
        goto done;
    }
    exit_code = 0;
done:
    sd_engine_free(engine);
    sd_model_free(model);
    sd_model_free(draft);
    free(prompt);
    free(out_tokens);
    free(plain_tokens);
    free(k_trace);
    free(file_text);
    free(answer.text);
    return exit_code;
}
