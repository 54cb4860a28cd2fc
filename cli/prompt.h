/* What the commands that talk to a model through its chat template share (generate --chat, chat,
 * chat-template): choosing the template, turning a conversation into prompt tokens, and collecting or
 * streaming an answer that ends at the template's end-of-turn text. */
#ifndef SD_CLI_PROMPT_H
#define SD_CLI_PROMPT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "specdec.h"

/* The chat flags generate and chat share. */
typedef struct cli_chat_opts {
    const char *template_name; /* --chat-template NAME */
    const char *template_file; /* --chat-template-file FILE */
    const char *system;        /* --system TEXT: a system message before the first user turn */
    bool verbose_prompt;       /* --verbose-prompt: print the rendered prompt to stderr */
} cli_chat_opts;

/* Their rows in a command's flag table (args.h), writing into the cli_chat_opts *o. */
#define CLI_CHAT_FLAGS(o)                                                                                    \
    {"--chat-template",                                                                                      \
     NULL,                                                                                                   \
     CLI_STR,                                                                                                \
     .out.s = &(o)->template_name,                                                                           \
     .arg = "NAME",                                                                                          \
     .help = "chat template by name (see specdec chat-template --help; default: the model's)"},              \
        {"--chat-template-file",                                                                             \
         NULL,                                                                                               \
         CLI_STR,                                                                                            \
         .out.s = &(o)->template_file,                                                                       \
         .arg = "FILE",                                                                                      \
         .help = "chat template from a Jinja file, recognised like a model's"},                              \
        {"--system",    NULL,                                                                                \
         CLI_STR,       .out.s = &(o)->system,                                                               \
         .arg = "TEXT", .help = "system message before the first user turn"},                                \
    {                                                                                                        \
        "--verbose-prompt", NULL, CLI_TRUE, .out.b = &(o)->verbose_prompt,                                   \
                                            .help = "print the prompt text the model is given to stderr"     \
    }

/* The template to use: --chat-template NAME, else the one recognised in --chat-template-file FILE, else
 * in model_text (the model's tokenizer.chat_template; NULL or "": it has none). On failure prints one line
 * ("specdec CMD: ...", naming --chat-template NAME) and returns NULL. */
const sd_chat_template *cli_choose_chat_template(const char *cmd, const char *name, const char *file,
                                                 const char *model_text, const char *model_path);

/* The model's tokenizer.chat_template (caller frees; "" when it has none), or NULL after printing why. */
char *cli_model_chat_template(const char *cmd, const sd_model *model, const char *model_path);

/* messages[0..n) in the template with the assistant's turn opened (caller frees), or NULL after printing
 * why. */
char *cli_render_chat(const char *cmd, const sd_chat_template *tmpl, const sd_chat_message *messages, int n);

/* The tokens of a prompt text, BOS/EOS as the model asks (caller frees), or NULL after printing why. */
int32_t *cli_tokenize_prompt(const sd_model *model, const char *text, size_t len, bool parse_special,
                             int32_t *n_out);

/* An answer as it is generated: collected in text, printed to stdout as it comes when print, and ended at
 * the template's end-of-turn text (a stop string, whether one token or several; it is neither kept nor
 * printed) or when *interrupt is set. Text that could be the start of a stop string is held back until
 * it is not. Zero-initialise, set the inputs, pass as the engine callback's user pointer. */
typedef struct cli_answer {
    const sd_model *model;              /* in: for the tokens' texts */
    const sd_chat_template *tmpl;       /* in: its stop strings end the answer; NULL: none */
    bool print;                         /* in: stream to stdout */
    volatile sig_atomic_t *interrupt;   /* in: when set, stop (NULL: never) */
    char *text;                         /* the answer (caller frees) */
    size_t len, cap, printed;           /* bytes in text, allocated, printed */
    bool end_of_turn, interrupted, oom; /* why it ended, if not for the engine's reasons */
} cli_answer;

/* The sd_token_callback for an answer. */
bool cli_answer_on_token(void *user, int32_t token, const char *text, size_t len);

/* Prints what is still held back (the generation ended without a stop string). */
void cli_answer_flush(cli_answer *a);

#endif
