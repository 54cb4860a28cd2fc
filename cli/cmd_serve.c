/* specdec serve: the OpenAI-compatible server (server/server.h) with generate's model and engine flags. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "generate.h"
#include "prompt.h"
#include "server/server.h"

typedef struct serve_opts {
    const char *host, *api_key;
    int32_t port, n_parallel, n_queue, timeout_s;
    uint64_t max_body;
} serve_opts;

static void serve_usage(FILE *out, const cli_command *c) {
    fprintf(out, "usage: specdec serve [-m MODEL.gguf] [-md DRAFT.gguf] [flags]\n"
                 "\n"
                 "Serves the model over HTTP in the OpenAI format: GET /health, /v1/models, /metrics;\n"
                 "POST /v1/completions, /v1/chat/completions (stream: true for server-sent events).\n"
                 "Without -m and -md it serves the bundled pair speculatively.\n"
                 "\n"
                 "server flags:\n");
    cli_print_flags(out, c);
    fprintf(out,
            "\nand generate's model, engine, sampling and chat-template flags (-m, -md, -c, -t, -n as the\n"
            "default max_tokens, --temp, --chat-template, ...: see specdec generate --help).\n");
}

/* Does argv[i] name one of the server's own flags (all take a value)? */
static bool is_serve_flag(const cli_flag *flags, int n, const char *arg) {
    for (int i = 0; i < n; i++)
        if (strcmp(arg, flags[i].name) == 0 || (flags[i].alias && strcmp(arg, flags[i].alias) == 0))
            return flags[i].kind != CLI_HELP;
    return false;
}

/* The model's chat template: --chat-template / --chat-template-file, else the model's own; NULL with
 * *ok when the model has none (chat completions are then refused), NULL without *ok after an error. */
static const sd_chat_template *serve_chat_template(const generate_opts *o, const sd_model *model, bool *ok) {
    const cli_chat_opts *co = &o->chat_opts;
    *ok = true;
    if (co->template_name || co->template_file) {
        const sd_chat_template *t =
            cli_choose_chat_template("serve", co->template_name, co->template_file, NULL, o->model_path);
        *ok = t != NULL;
        return t;
    }
    char *text = cli_model_chat_template("serve", model, o->model_path);
    if (!text || !*text) {
        *ok = text != NULL;
        free(text);
        return NULL;
    }
    const sd_chat_template *t = cli_choose_chat_template("serve", NULL, NULL, text, o->model_path);
    free(text);
    *ok = t != NULL;
    return t;
}

int cmd_serve(int argc, char **argv) {
    serve_opts so = {.host = "127.0.0.1",
                     .port = 8080,
                     .n_parallel = 1,
                     .n_queue = 16,
                     .timeout_s = 60,
                     .max_body = 1 << 20};
    const cli_flag flags[] = {
        {"--host", NULL, CLI_STR, .out.s = &so.host, .arg = "ADDR",
         .help = "IPv4 address to listen on (127.0.0.1)"},
        {"--port", NULL, CLI_INT, .out.i = &so.port, 0, 65535, .arg = "N",
         .help = "port (default 8080; 0: any free port, printed)"},
        {"--api-key", NULL, CLI_STR, .out.s = &so.api_key, .arg = "KEY",
         .help = "require 'Authorization: Bearer KEY' (all but /health)"},
        {"-np", "--parallel", CLI_INT, .out.i = &so.n_parallel, 1, 256, .arg = "N",
         .help = "slots: requests generated at once, each with its own caches (default 1)"},
        {"--queue", NULL, CLI_INT, .out.i = &so.n_queue, 0, 4096, .arg = "N",
         .help = "requests that may wait for a slot; beyond them 503 (default 16)"},
        {"--max-body", NULL, CLI_U64, .out.u = &so.max_body, .hi = 1 << 30, .arg = "BYTES",
         .help = "largest request body (default 1048576)"},
        {"--timeout", NULL, CLI_INT, .out.i = &so.timeout_s, 1, 86400, .arg = "S",
         .help = "close a connection idle for S seconds (default 60)"},
        {"-h", "--help", CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"serve", flags, CLI_COUNT(flags), serve_usage, 24, true, NULL};

    /* The server's flags go to its table, the rest to generate's. */
    char **own = malloc(((size_t)argc + 1) * sizeof *own), **rest = malloc(((size_t)argc + 1) * sizeof *rest);
    if (!own || !rest) {
        free(own), free(rest);
        fprintf(stderr, "specdec serve: out of memory\n");
        return 1;
    }
    int n_own = 1, n_rest = 1;
    own[0] = rest[0] = argv[0];
    bool help = false;
    for (int i = 1; i < argc; i++) {
        help |= strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0;
        if (is_serve_flag(flags, CLI_COUNT(flags), argv[i])) {
            own[n_own++] = argv[i];
            if (i + 1 < argc) own[n_own++] = argv[++i];
        } else {
            rest[n_rest++] = argv[i];
        }
    }
    if (help) own[n_own++] = "--help";
    generate_opts o = {.n_predict = 128, .engine = sd_engine_default_params()};
    bool done = false;
    cli_parse_status st = cli_parse(&c, n_own, own);
    int rc = st != CLI_PARSED ? cli_exit_code(st) : generate_parse_flags("serve", n_rest, rest, &o, &done);
    free(own);
    free(rest);
    if (st != CLI_PARSED || rc != 0 || done) return rc;

    sd_model *model = NULL, *draft = NULL;
    if ((rc = generate_load_models(&o, &model, &draft)) != 0) return rc;
    bool ok = true;
    const sd_chat_template *tmpl = serve_chat_template(&o, model, &ok);
    serve_server *server = NULL;
    rc = 1;
    if (!ok) goto done;
    const char *slash = strrchr(o.model_path, '/');
    serve_config cfg = {.host = so.host,
                        .port = (uint16_t)so.port,
                        .api_key = so.api_key,
                        .n_parallel = so.n_parallel,
                        .n_queue = so.n_queue,
                        .max_body = (size_t)so.max_body,
                        .n_predict = o.n_predict,
                        .timeout_s = (unsigned)so.timeout_s,
                        .model_id = slash ? slash + 1 : o.model_path,
                        .target = model,
                        .draft = draft,
                        .engine = o.engine,
                        .chat_tmpl = tmpl};
    /* SIGINT and SIGTERM are taken by sigwait below; the server's threads inherit the blocked mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    char err[512];
    if (serve_start(&cfg, &server, err, sizeof err) != 0) {
        fprintf(stderr, "specdec serve: %s\n", err);
        goto done;
    }
    fprintf(stderr, "specdec serve: listening on http://%s:%u (model %s%s%s, %d slot%s, chat template %s)\n",
            so.host, (unsigned)serve_port(server), cfg.model_id, draft ? ", draft " : "",
            draft ? o.draft_path : "", so.n_parallel, so.n_parallel == 1 ? "" : "s",
            tmpl ? sd_chat_template_name(tmpl) : "none");
    fflush(stderr);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "specdec serve: %s: stopping\n", sig == SIGINT ? "interrupted" : "terminated");
    serve_stop(server);
    rc = 0;
done:
    sd_model_free(model);
    sd_model_free(draft);
    return rc;
}
