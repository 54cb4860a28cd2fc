/* specdec generate: stream a continuation of a prompt to stdout; timings to stderr or one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "json_writer.h"

#define DEFAULT_TARGET "codepair-target-q4_0.gguf"

typedef struct generate_opts {
    const char *model_path;
    const char *prompt;
    const char *prompt_file;
    int32_t n_predict;
    bool json;
    bool parse_special;
    bool seed_given;
    sd_engine_params engine;
} generate_opts;

static void generate_usage(FILE *out) {
    fprintf(out,
            "usage: specdec generate [-m MODEL.gguf] (-p TEXT | -f FILE) [flags]\n"
            "\n"
            "Streams the model's continuation of the prompt to stdout; timings go to stderr.\n"
            "\n"
            "  -m, --model FILE        GGUF model (default: the bundled %s)\n"
            "  -p, --prompt TEXT       prompt text\n"
            "  -f, --file FILE         read the prompt from FILE\n"
            "  -n, --n-predict N       tokens to generate (default 128; -1: until end of text or context)\n"
            "  -c, --ctx-size N        context length (default: the model's, at most 4096)\n"
            "  -b, --batch-size N      prompt tokens per forward pass (default 64)\n"
            "  -t, --threads N         worker threads (default: all online CPUs)\n"
            "      --temp T            temperature; 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
            "      --top-p P           nucleus sampling; 1 = off (default 0.95)\n"
            "      --min-p P           drop tokens below P x the top probability; 0 = off (default 0.05)\n"
            "      --repeat-penalty R  penalise recent tokens; 1 = off (default 1)\n"
            "      --repeat-last-n N   tokens the penalty looks back at; -1 = all (default 64)\n"
            "  -s, --seed S            random seed (default: from the clock, printed)\n"
            "      --parse-special     map control token texts in the prompt (e.g. <s>) to their ids\n"
            "      --json              print one JSON object instead of streaming text\n"
            "  -h, --help              this text\n",
            DEFAULT_TARGET);
}

/* Returns 0 to go on, or an exit code (help: 0 via *done; usage error: 2). */
static int parse_generate(int argc, char **argv, generate_opts *o, bool *done) {
    cli_args a = {argc, argv, 0, "generate"};
    sd_sampling_params *s = &o->engine.sampling;
    for (a.i = 1; a.i < argc; a.i++) {
        bool ok = true;
        if (cli_flag_is(&a, "-h", "--help")) {
            generate_usage(stdout);
            *done = true;
            return 0;
        } else if (cli_flag_is(&a, "-m", "--model")) ok = cli_take_str(&a, &o->model_path);
        else if (cli_flag_is(&a, "-p", "--prompt")) ok = cli_take_str(&a, &o->prompt);
        else if (cli_flag_is(&a, "-f", "--file")) ok = cli_take_str(&a, &o->prompt_file);
        else if (cli_flag_is(&a, "-n", "--n-predict")) ok = cli_take_int(&a, -1, 1 << 30, &o->n_predict);
        else if (cli_flag_is(&a, "-c", "--ctx-size")) ok = cli_take_int(&a, 0, 1 << 24, &o->engine.n_ctx);
        else if (cli_flag_is(&a, "-b", "--batch-size")) ok = cli_take_int(&a, 1, 4096, &o->engine.n_batch);
        else if (cli_flag_is(&a, "-t", "--threads")) ok = cli_take_int(&a, 1, 1024, &o->engine.n_threads);
        else if (cli_flag_is(&a, "--temp", NULL)) ok = cli_take_float(&a, 0.0, 100.0, &s->temp);
        else if (cli_flag_is(&a, "--top-k", NULL)) ok = cli_take_int(&a, 0, 1 << 30, &s->top_k);
        else if (cli_flag_is(&a, "--top-p", NULL)) ok = cli_take_float(&a, 1e-6, 1.0, &s->top_p);
        else if (cli_flag_is(&a, "--min-p", NULL)) ok = cli_take_float(&a, 0.0, 1.0, &s->min_p);
        else if (cli_flag_is(&a, "--repeat-penalty", NULL)) ok = cli_take_float(&a, 1e-3, 100.0, &s->repeat_penalty);
        else if (cli_flag_is(&a, "--repeat-last-n", NULL)) ok = cli_take_int(&a, -1, 1 << 24, &s->repeat_last_n);
        else if (cli_flag_is(&a, "-s", "--seed")) ok = (o->seed_given = cli_take_u64(&a, &s->seed));
        else if (cli_flag_is(&a, "--parse-special", NULL)) o->parse_special = true;
        else if (cli_flag_is(&a, "--json", NULL)) o->json = true;
        else {
            cli_unknown_flag(&a);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!o->prompt == !o->prompt_file) {
        fprintf(stderr, "specdec generate: give exactly one of -p TEXT or -f FILE (see specdec generate --help)\n");
        return 2;
    }
    return 0;
}

typedef struct stream_state {
    bool print;
    char *text; /* all generated text, for --json */
    size_t len, cap;
    bool oom;
} stream_state;

static bool on_token(void *user, int32_t token, const char *text, size_t len) {
    (void)token;
    stream_state *st = user;
    if (st->print) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return true;
    }
    if (st->len + len + 1 > st->cap) {
        size_t cap = (st->len + len + 1) * 2;
        char *t = realloc(st->text, cap);
        if (!t) {
            st->oom = true;
            return false;
        }
        st->text = t;
        st->cap = cap;
    }
    memcpy(st->text + st->len, text, len);
    st->len += len;
    return true;
}

static const char *stop_name(sd_stop_reason r) {
    switch (r) {
    case SD_STOP_LENGTH: return "length";
    case SD_STOP_EOG: return "end of text";
    case SD_STOP_CALLBACK: return "stopped";
    case SD_STOP_CONTEXT_FULL: return "context full";
    }
    return "?";
}

static void print_json(const stream_state *st, const int32_t *tokens, const sd_stats *stats) {
    printf("{\"text\": ");
    json_write_string(stdout, st->text ? st->text : "", st->len);
    printf(", \"tokens\": [");
    for (int32_t i = 0; i < stats->n_gen; i++) printf("%s%d", i ? ", " : "", tokens[i]);
    printf("], \"n_prompt\": %d, \"n_gen\": %d, \"prompt_tps\": ", stats->n_prompt, stats->n_gen);
    json_write_number(stdout, stats->t_prompt_s > 0 ? stats->n_prompt / stats->t_prompt_s : 0);
    printf(", \"tps\": ");
    json_write_number(stdout, stats->t_gen_s > 0 ? stats->n_gen / stats->t_gen_s : 0);
    printf(", \"mode\": \"plain\", \"stop\": \"%s\"}\n", stop_name(stats->stop));
}

/* Tokenizes the prompt; returns the ids (caller frees) or NULL after printing an error. */
static int32_t *tokenize_prompt(sd_model *m, const char *text, size_t len, bool parse_special, int32_t *n_out) {
    char err[256];
    int n = sd_model_tokenize(m, text, len, true, parse_special, NULL, 0, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "specdec: cannot tokenize the prompt: %s\n", err);
        return NULL;
    }
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "specdec: out of memory for %d prompt tokens\n", n);
        return NULL;
    }
    sd_model_tokenize(m, text, len, true, parse_special, ids, n, err, sizeof err);
    *n_out = n;
    return ids;
}

int cmd_generate(int argc, char **argv) {
    generate_opts o = {.n_predict = 128, .engine = sd_engine_default_params()};
    bool done = false;
    int rc = parse_generate(argc, argv, &o, &done);
    if (rc != 0 || done) return rc;
    if (!o.seed_given) o.engine.sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (!o.model_path && !(o.model_path = cli_bundled_model(DEFAULT_TARGET))) {
        fprintf(stderr, "specdec: the bundled model %s was not found; give one with -m\n", DEFAULT_TARGET);
        return 1;
    }

    int exit_code = 1;
    char *file_text = NULL;
    int32_t *prompt = NULL, *out_tokens = NULL;
    sd_engine *engine = NULL;
    stream_state st = {.print = !o.json};
    size_t prompt_len = o.prompt ? strlen(o.prompt) : 0;
    if (o.prompt_file && !(file_text = cli_read_file(o.prompt_file, &prompt_len))) return 1;
    sd_model *model = cli_load_model(o.model_path);
    if (!model) goto done;

    int32_t n_prompt = 0;
    prompt = tokenize_prompt(model, o.prompt ? o.prompt : file_text, prompt_len, o.parse_special, &n_prompt);
    if (!prompt) goto done;
    if (n_prompt == 0) {
        fprintf(stderr, "specdec: the prompt is empty and the model adds no BOS token\n");
        goto done;
    }
    char err[512];
    if (sd_engine_create(model, &o.engine, &engine, err, sizeof err) < 0) {
        fprintf(stderr, "specdec: %s\n", err);
        goto done;
    }
    sd_model_info info;
    sd_model_get_info(model, &info);
    int32_t n_ctx = o.engine.n_ctx ? o.engine.n_ctx : (info.n_ctx_train < 4096 ? info.n_ctx_train : 4096);
    int32_t n_predict = o.n_predict < 0 ? n_ctx : o.n_predict;
    out_tokens = malloc(((size_t)n_predict + 1) * sizeof *out_tokens);
    if (!out_tokens) {
        fprintf(stderr, "specdec: out of memory\n");
        goto done;
    }
    sd_stats stats;
    if (sd_engine_generate(engine, prompt, n_prompt, n_predict, on_token, &st, out_tokens, n_predict, &stats, err,
                           sizeof err) < 0) {
        fprintf(stderr, "specdec: %s\n", err);
        goto done;
    }
    if (st.oom) {
        fprintf(stderr, "specdec: out of memory collecting the output\n");
        goto done;
    }
    if (o.json) {
        print_json(&st, out_tokens, &stats);
    } else {
        printf("\n");
        fprintf(stderr, "specdec: seed %llu; stop: %s\n", (unsigned long long)o.engine.sampling.seed, stop_name(stats.stop));
        fprintf(stderr, "specdec: prompt %d tokens in %.3f s (%.1f tok/s); generated %d tokens in %.3f s (%.1f tok/s)\n",
                stats.n_prompt, stats.t_prompt_s, stats.t_prompt_s > 0 ? stats.n_prompt / stats.t_prompt_s : 0.0,
                stats.n_gen, stats.t_gen_s, stats.t_gen_s > 0 ? stats.n_gen / stats.t_gen_s : 0.0);
        if (stats.stop == SD_STOP_CONTEXT_FULL)
            fprintf(stderr, "specdec: generation stopped: the context of %d tokens is full\n", n_ctx);
    }
    exit_code = 0;
done:
    sd_engine_free(engine);
    sd_model_free(model);
    free(prompt);
    free(out_tokens);
    free(file_text);
    free(st.text);
    return exit_code;
}
