/* Command-line flag parsing shared by the subcommands: flags follow llama.cpp's names where they exist.
 * Every parser prints a one-line error naming the flag and returns false on bad input. */
#ifndef SD_CLI_ARGS_H
#define SD_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cli_args {
    int argc;
    char **argv;
    int i;           /* index of the flag being parsed */
    const char *cmd; /* subcommand name, for messages */
} cli_args;

/* True if argv[i] is one of the (NULL-terminated) names. */
bool cli_flag_is(const cli_args *a, const char *name, const char *alias);

/* Consumes the value after the current flag; false (with an error printed) if there is none. */
bool cli_take_str(cli_args *a, const char **out);
bool cli_take_int(cli_args *a, int64_t lo, int64_t hi, int32_t *out);
bool cli_take_u64(cli_args *a, uint64_t *out);
bool cli_take_float(cli_args *a, double lo, double hi, float *out);

/* Prints "specdec CMD: unknown flag 'X' (see specdec CMD --help)". */
void cli_unknown_flag(const cli_args *a);

/* Reads a whole file into a NUL-terminated buffer (caller frees); prints an error and returns NULL on
 * failure. */
char *cli_read_file(const char *path, size_t *len_out);

#endif
