/* specdec chat-template: render a conversation (an OpenAI-style JSON list of messages) in a chat template
 * and print the prompt text, exactly, without loading weights. The template comes from a model's GGUF
 * metadata (-m), a family name (--chat-template) or a Jinja file (--chat-template-file); the family is
 * detected and rendered as llama.cpp's llama_chat_apply_template does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "chat/chat.h"
#include "commands.h"
#include "gguf/gguf.h"
#include "prompt.h"

#define CMD "specdec chat-template"

typedef struct chat_template_flags {
    const char *model_path;    /* -m: read tokenizer.chat_template from this GGUF */
    const char *template_name; /* --chat-template */
    const char *template_path; /* --chat-template-file */
    const char *messages_path; /* --messages */
    bool no_generation_prompt;
} chat_template_flags;

static void chat_template_usage(FILE *out, const cli_command *c) {
    fprintf(
        out,
        "usage: specdec chat-template (-m MODEL.gguf | --chat-template NAME | --chat-template-file FILE)\n"
        "                             --messages FILE.json [--no-generation-prompt]\n"
        "\n"
        "Prints the prompt text a conversation becomes in a chat template, exactly as llama.cpp renders it\n"
        "(llama_chat_apply_template: the family is recognised from the Jinja text, then written in its\n"
        "fixed format). Only the GGUF metadata is read, no weights.\n"
        "\n");
    cli_print_flags(out, c);
    fprintf(out, "\ntemplate names:");
    for (int i = 0; sd_chat_template_builtin_name(i); i++)
        fprintf(out, "%s %s", i ? "," : "", sd_chat_template_builtin_name(i));
    fprintf(out, "\n");
}

/* Returns 0 to go on, or the exit code (0 after --help via *done, 2 for a bad flag). */
static int parse_flags(int argc, char **argv, chat_template_flags *f, bool *done) {
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &f->model_path, .arg = "FILE",
         .help = "the template in the model's tokenizer.chat_template"},
        {"--chat-template", NULL, CLI_STR, .out.s = &f->template_name, .arg = "NAME",
         .help = "a template by name (listed below)"},
        {"--chat-template-file", NULL, CLI_STR, .out.s = &f->template_path, .arg = "FILE",
         .help = "a Jinja template file, recognised like a model's"},
        {"--messages", NULL, CLI_STR, .out.s = &f->messages_path, .arg = "FILE.json",
         .help = "[{\"role\": \"system\"|\"user\"|\"assistant\", \"content\": \"...\"}, ...]"},
        {"--no-generation-prompt", NULL, CLI_TRUE, .out.b = &f->no_generation_prompt,
         .help = "do not open an assistant turn at the end"},
        {"-h", "--help", CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"chat-template", flags, CLI_COUNT(flags), chat_template_usage, 28, false, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    *done = st == CLI_HELP_ASKED;
    if (st != CLI_PARSED) return cli_exit_code(st);
    int n_sources = !!f->model_path + !!f->template_name + !!f->template_path;
    if (n_sources != 1) {
        fprintf(stderr, CMD ": give exactly one of -m, --chat-template, --chat-template-file\n");
        return 2;
    }
    if (!f->messages_path) {
        fprintf(stderr, CMD ": --messages FILE.json is required\n");
        return 2;
    }
    return 0;
}

/* The Jinja text of the model's template (caller frees; "" when it has none), or NULL after printing why.
 * Only the metadata is read. */
static char *read_model_template(const char *path) {
    char err[512];
    sd_gguf *g = NULL;
    if (sd_gguf_open(path, &g, err, sizeof err) != 0) {
        fprintf(stderr, "specdec: %s: %s\n", path, err);
        return NULL;
    }
    char *text = NULL;
    int len = sd_chat_template_text_from_gguf(g, NULL, 0);
    if (len < 0)
        fprintf(stderr, CMD ": %s: %s is not a text without NUL bytes\n", path, SD_CHAT_TEMPLATE_KEY);
    else if (!(text = malloc((size_t)len + 1)))
        fprintf(stderr, CMD ": out of memory\n");
    else
        sd_chat_template_text_from_gguf(g, text, (size_t)len + 1);
    sd_gguf_close(g);
    return text;
}

static const sd_chat_template *choose_template(const chat_template_flags *f) {
    char *model_text = f->model_path ? read_model_template(f->model_path) : NULL;
    if (f->model_path && !model_text) return NULL;
    const sd_chat_template *tmpl = cli_choose_chat_template("chat-template", f->template_name,
                                                            f->template_path, model_text, f->model_path);
    free(model_text);
    return tmpl;
}

/* The messages of a JSON list, pointing into json; NULL (after printing why) if it is not a list of
 * {"role": string, "content": string} objects. Roles are checked by sd_chat_apply. */
static sd_chat_message *parse_messages(const cJSON *json, const char *path, int *n_out) {
    if (!cJSON_IsArray(json)) {
        fprintf(stderr, CMD ": %s: expected a JSON list of messages\n", path);
        return NULL;
    }
    int n = cJSON_GetArraySize(json);
    sd_chat_message *msgs = calloc(n > 0 ? (size_t)n : 1, sizeof *msgs);
    if (!msgs) {
        fprintf(stderr, CMD ": out of memory\n");
        return NULL;
    }
    int i = 0;
    for (const cJSON *item = json->child; item; item = item->next, i++) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(item, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(item, "content");
        if (!cJSON_IsObject(item) || !cJSON_IsString(role) || !cJSON_IsString(content)) {
            fprintf(stderr, CMD ": %s: message %d is not an object with string \"role\" and \"content\"\n",
                    path, i);
            free(msgs);
            return NULL;
        }
        msgs[i].role = role->valuestring;
        msgs[i].content = content->valuestring;
    }
    *n_out = n;
    return msgs;
}

static int render(const sd_chat_template *tmpl, const sd_chat_message *msgs, int n, bool gen,
                  const char *path) {
    char err[512];
    int len = sd_chat_apply(tmpl, msgs, n, gen, NULL, 0, err, sizeof err);
    if (len < 0) {
        fprintf(stderr, CMD ": %s: %s\n", path, err);
        return 1;
    }
    char *text = malloc((size_t)len + 1);
    if (!text) {
        fprintf(stderr, CMD ": out of memory\n");
        return 1;
    }
    sd_chat_apply(tmpl, msgs, n, gen, text, (size_t)len + 1, NULL, 0);
    bool ok = fwrite(text, 1, (size_t)len, stdout) == (size_t)len && fflush(stdout) == 0;
    free(text);
    if (!ok) fprintf(stderr, CMD ": cannot write the output\n");
    return ok ? 0 : 1;
}

int cmd_chat_template(int argc, char **argv) {
    chat_template_flags f = {0};
    bool done;
    int rc = parse_flags(argc, argv, &f, &done);
    if (rc != 0 || done) return rc;
    const sd_chat_template *tmpl = choose_template(&f);
    if (!tmpl) return 1;
    size_t len = 0;
    char *text = cli_read_file(f.messages_path, &len);
    if (!text) return 1;
    cJSON *json = cJSON_ParseWithLength(text, len);
    free(text);
    if (!json) {
        fprintf(stderr, CMD ": %s: not valid JSON\n", f.messages_path);
        return 1;
    }
    int n = 0;
    sd_chat_message *msgs = parse_messages(json, f.messages_path, &n);
    rc = msgs ? render(tmpl, msgs, n, !f.no_generation_prompt, f.messages_path) : 1;
    free(msgs);
    cJSON_Delete(json);
    return rc;
}
