/* The specdec subcommands; each returns the process exit code (0 ok, 1 runtime error, 2 usage error). */
#ifndef SD_CLI_COMMANDS_H
#define SD_CLI_COMMANDS_H

#include <stddef.h>

#include "specdec.h"

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_chat_template(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Path of a bundled model file (e.g. "codepair-target-q4_0.gguf"): $SPECDEC_MODELS_DIR, then the source
 * tree's models/, then the installed data folder. Writes it to path and returns path; NULL if found
 * nowhere. */
const char *cli_bundled_model(const char *file, char *path, size_t path_len);

#endif
