/* The flags and model loading `specdec generate` and `specdec chat` share: one table, one loader. */
#ifndef SD_CLI_GENERATE_H
#define SD_CLI_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "prompt.h"
#include "specdec.h"

#define DEFAULT_TARGET "codepair-target-q4_0.gguf"
#define DEFAULT_DRAFT "codepair-draft-f32.gguf"

typedef struct generate_opts {
    const char *model_path;
    const char *draft_path;
    bool no_draft;
    bool compare;
    const char *prompt;
    const char *prompt_file;
    int32_t n_predict;
    bool json;
    bool parse_special;
    bool seed_given;
    bool ctx_given, ctkd_given, ctvd_given; /* -c, -ctkd, -ctvd seen */
    const char *kernels;                    /* --kernels, for both models */
    bool chat;                              /* --chat: the prompt is one user turn in the chat template */
    cli_chat_opts chat_opts;
    sd_engine_params engine;
    char target_buf[4096], draft_buf[4096]; /* the bundled models' paths, when model_path/draft_path are */
} generate_opts;

/* Reads generate's flags into o (which holds the defaults) for command cmd ("generate" or "chat"; chat
 * takes no prompt, --json or --compare). Returns 0 to go on, or an exit code (help: 0 with *done; usage
 * error: 2). */
int generate_parse_flags(const char *cmd, int argc, char **argv, generate_opts *o, bool *done);

/* Loads the target and the draft the flags name (the bundled pair by default), warning when the draft is
 * not smaller. Returns 0, or the exit code after printing why (then nothing is left loaded). */
int generate_load_models(generate_opts *o, sd_model **model, sd_model **draft);

/* The context length an engine made with o will have, in tokens (-c 0: the model's trained context). */
int32_t generate_n_ctx(const generate_opts *o, const sd_model *model);

#endif
