/* specdec chat: talk to a model in its chat template, a turn at a time, on the terminal. Each turn renders
 * the whole conversation and hands it to sd_engine_continue, which keeps the cache the earlier turns left
 * and prefills only the new tokens; so every answer is what `generate` gives for the same rendered prompt
 * (greedy), without recomputing the conversation. Ctrl-C stops the answer being written (not the program);
 * Ctrl-D ends the chat. Lines are read with plain stdio: no line editing (run it under rlwrap for that). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "generate.h"
#include "prompt.h"

/* Set by SIGINT; the answer's callback and the line reader look at it. */
static volatile sig_atomic_t interrupt_requested;

static void on_sigint(int sig) {
    (void)sig;
    interrupt_requested = 1;
}

/* A conversation: messages whose contents the chat owns. */
typedef struct conversation {
    sd_chat_message *msgs;
    int n, cap;
} conversation;

static bool add_message(conversation *c, const char *role, const char *content, size_t len) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        sd_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) return false;
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, content, len);
    copy[len] = '\0';
    c->msgs[c->n++] = (sd_chat_message){role, copy};
    return true;
}

static void drop_last_message(conversation *c) {
    free((char *)c->msgs[--c->n].content);
}

static void free_conversation(conversation *c) {
    while (c->n > 0)
        drop_last_message(c);
    free(c->msgs);
}

/* Reads one line (without its newline) into *line; false at the end of input. A Ctrl-C while waiting
 * drops what was typed and asks again. */
static bool read_turn(char **line, size_t *cap, size_t *len) {
    for (;;) {
        printf("> ");
        fflush(stdout);
        errno = 0;
        ssize_t n = getline(line, cap, stdin);
        if (n < 0 && errno == EINTR) {
            clearerr(stdin);
            interrupt_requested = 0;
            printf("\n");
            continue;
        }
        if (n < 0) return false;
        if (n > 0 && (*line)[n - 1] == '\n') (*line)[--n] = '\0';
        if (n == 0) continue;
        *len = (size_t)n;
        return true;
    }
}

/* One answer to the conversation so far: prints it, adds it to the conversation. Returns false on an
 * error that ends the chat (after printing it); a turn that cannot be answered is dropped instead. */
static bool answer_turn(sd_engine *engine, const sd_model *model, const sd_chat_template *tmpl,
                        conversation *conv, const generate_opts *o, int32_t n_ctx) {
    char *rendered = cli_render_chat("chat", tmpl, conv->msgs, conv->n);
    if (!rendered) return false;
    if (o->chat_opts.verbose_prompt) fprintf(stderr, "%s\n", rendered);
    int32_t n_prompt = 0;
    int32_t *prompt = cli_tokenize_prompt(model, rendered, strlen(rendered), true, &n_prompt);
    free(rendered);
    if (!prompt) return false;
    cli_answer answer = {.model = model, .tmpl = tmpl, .print = true, .interrupt = &interrupt_requested};
    int32_t n_predict = o->n_predict >= 0 ? o->n_predict : n_ctx;
    char err[512];
    sd_stats st;
    interrupt_requested = 0;
    int rc = sd_engine_continue(engine, prompt, n_prompt, n_predict, cli_answer_on_token, &answer, NULL, 0,
                                &st, err, sizeof err);
    free(prompt);
    if (rc == SD_ERR_CONTEXT_FULL) {
        fprintf(stderr, "specdec chat: %s; end the chat (Ctrl-D) and start a new one, or give a larger -c\n",
                err);
        drop_last_message(conv);
        free(answer.text);
        return true;
    }
    if (rc < 0 || answer.oom) {
        fprintf(stderr, "specdec chat: %s\n", rc < 0 ? err : "out of memory");
        free(answer.text);
        return false;
    }
    cli_answer_flush(&answer);
    printf("\n");
    fflush(stdout);
    double tps = st.t_gen_s > 0 ? st.n_gen / st.t_gen_s : 0;
    fprintf(stderr, "[%s%d tokens, %.1f tok/s, %.2f tokens per round; prompt: %d new, %d kept]\n",
            answer.interrupted ? "stopped; " : "", st.n_gen, tps,
            st.n_rounds ? (double)st.n_gen / st.n_rounds : 0.0, st.n_prompt, st.n_prompt_reused);
    if (st.stop == SD_STOP_CONTEXT_FULL)
        fprintf(stderr, "specdec chat: the context of %d tokens is full\n", n_ctx);
    /* the answer as far as it went, so that the conversation says what the cache holds */
    bool ok = add_message(conv, "assistant", answer.text ? answer.text : "", answer.len);
    free(answer.text);
    if (!ok) fprintf(stderr, "specdec chat: out of memory\n");
    return ok;
}

static int chat_loop(sd_engine *engine, const sd_model *model, const sd_chat_template *tmpl,
                     const generate_opts *o, int32_t n_ctx) {
    conversation conv = {0};
    char *line = NULL;
    size_t line_cap = 0, len = 0;
    int exit_code = 0;
    if (o->chat_opts.system &&
        !add_message(&conv, "system", o->chat_opts.system, strlen(o->chat_opts.system)))
        exit_code = 1;
    while (exit_code == 0 && read_turn(&line, &line_cap, &len)) {
        if (!add_message(&conv, "user", line, len) || !answer_turn(engine, model, tmpl, &conv, o, n_ctx))
            exit_code = 1;
    }
    if (exit_code == 0) printf("\n");
    free(line);
    free_conversation(&conv);
    return exit_code;
}

int cmd_chat(int argc, char **argv) {
    generate_opts o = {.n_predict = -1, .engine = sd_engine_default_params()};
    bool done = false;
    int rc = generate_parse_flags("chat", argc, argv, &o, &done);
    if (rc != 0 || done) return rc;
    if (!o.seed_given) o.engine.sampling.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    sd_model *model = NULL, *draft = NULL;
    if ((rc = generate_load_models(&o, &model, &draft)) != 0) return rc;
    sd_engine *engine = NULL;
    int exit_code = 1;
    const cli_chat_opts *co = &o.chat_opts;
    char *model_text =
        co->template_name || co->template_file ? NULL : cli_model_chat_template("chat", model, o.model_path);
    const sd_chat_template *tmpl =
        co->template_name || co->template_file || model_text
            ? cli_choose_chat_template("chat", co->template_name, co->template_file, model_text, o.model_path)
            : NULL;
    free(model_text);
    if (!tmpl) goto done;
    char err[512];
    if (sd_engine_create(model, draft, &o.engine, &engine, err, sizeof err) < 0) {
        fprintf(stderr, "specdec: %s\n", err);
        goto done;
    }
    /* Ctrl-C interrupts the answer (or the line being typed), not the program: no SA_RESTART, so a
     * blocked read returns EINTR. */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    fprintf(stderr, "specdec chat: %s template; Ctrl-C stops an answer, Ctrl-D ends the chat\n",
            sd_chat_template_name(tmpl));
    exit_code = chat_loop(engine, model, tmpl, &o, generate_n_ctx(&o, model));
    sigaction(SIGINT, &old, NULL);
done:
    sd_engine_free(engine);
    sd_model_free(model);
    sd_model_free(draft);
    return exit_code;
}
