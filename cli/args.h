/* Command-line flags, one table per command, shared by every subcommand (the bench ones too).
 *
 * A row names a flag (llama.cpp's names where they exist, with an optional second spelling), the kind of
 * its value, where the value goes, its range, and its --help line. cli_parse reads argv against the table;
 * on bad input it prints one line naming the flag ("specdec CMD: flag '-n' needs an integer in [-1, 10],
 * got 'x'") and the command exits 2. Adding a flag to a command is one row in its table. */
#ifndef SD_CLI_ARGS_H
#define SD_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "specdec.h"

typedef enum cli_kind {
    CLI_HELP,     /* -h/--help: cli_parse stops and returns CLI_HELP_ASKED */
    CLI_TRUE,     /* no value: *out.b = true */
    CLI_FALSE,    /* no value: *out.b = false */
    CLI_STR,      /* *out.s = the value (it points into argv) */
    CLI_INT,      /* *out.i = an integer in [lo, hi] */
    CLI_U64,      /* *out.u = a non-negative integer, at most hi when hi > 0 */
    CLI_FLOAT,    /* *out.f = a finite number in [lo, hi] */
    CLI_DOUBLE,   /* *out.d = a finite number in [lo, hi] */
    CLI_INT_LIST, /* out.i[0..*count) = 1 to cap comma-separated integers, each in [lo, hi] */
    CLI_CUSTOM,   /* parse(value, row) reads the value; when it returns false the error says `want` */
} cli_kind;

typedef struct cli_flag cli_flag;
struct cli_flag {
    const char *name;  /* e.g. "-m" */
    const char *alias; /* e.g. "--model"; NULL: none */
    cli_kind kind;
    union {
        bool *b;
        const char **s;
        int32_t *i;
        uint64_t *u;
        float *f;
        double *d;
        void *any; /* CLI_CUSTOM */
    } out;
    double lo, hi;                                       /* the range (see cli_kind) */
    int cap;                                             /* CLI_INT_LIST, CLI_CUSTOM lists: most entries */
    int *count;                                          /* CLI_INT_LIST, CLI_CUSTOM lists: entries read */
    bool (*parse)(const char *value, const cli_flag *f); /* CLI_CUSTOM */
    bool *seen;                                          /* if not NULL: set to true when the flag is given */
    const char *want;  /* CLI_CUSTOM: what the value must be, e.g. "seq, pipe or auto" */
    const char *arg;   /* --help: the value's placeholder, e.g. "FILE"; NULL: takes no value or unnamed */
    const char *label; /* --help: the flag column as written, instead of "name, alias arg" */
    const char *help;  /* --help: the description; after a '\n' it goes on under itself. NULL: unlisted */
};

typedef struct cli_command cli_command;
struct cli_command {
    const char *name; /* messages begin "specdec NAME: " */
    const cli_flag *flags;
    int n_flags;
    void (*usage)(FILE *out, const cli_command *c); /* prints --help (cli_print_flags for the table) */
    int help_width;       /* --help: descriptions start this many columns after the 2-space indent */
    bool help_align_long; /* --help: a flag with no short form is indented to line up with "-x, --long" */
    const void *user;     /* for usage(), e.g. the program's name */
};

#define CLI_COUNT(rows) ((int)(sizeof(rows) / sizeof((rows)[0])))

/* A macro's value as a string literal, for --help texts: "each 1.." CLI_STRING(MAX_BATCH). */
#define CLI_STRING(x) CLI_STRING_OF(x)
#define CLI_STRING_OF(x) #x

typedef enum cli_parse_status { CLI_PARSED, CLI_HELP_ASKED, CLI_BAD_FLAGS } cli_parse_status;

/* Reads argv[1..argc) (argv[0] names the command) against c's table, in order; stops at the first help
 * flag (after printing c->usage to stdout) or bad flag (after printing one error line to stderr). */
cli_parse_status cli_parse(const cli_command *c, int argc, char **argv);

/* The exit code of a parse that did not end in CLI_PARSED: 0 after the help, 2 after a bad flag. */
int cli_exit_code(cli_parse_status st);

/* Prints the table's listed rows, one "  LABEL   description" line each (more for long descriptions). */
void cli_print_flags(FILE *out, const cli_command *c);

/* Prints "specdec NAME: flag 'FLAG' needs WANT, got 'VALUE'": for checks that span several flags. */
void cli_flag_error(const cli_command *c, const char *flag, const char *want, const char *value);

/* Flag values several commands share (CLI_CUSTOM parsers): a schedule name (seq, pipe or auto) into
 * *(sd_schedule *)f->out.any, and a comma-separated list of 1 to f->cap of them into
 * ((sd_schedule *)f->out.any)[0..*f->count). */
bool cli_read_schedule(const char *value, const cli_flag *f);
/* A KV cache type name (f16, f32, q8_0) into the sd_cache_type at f->out.any. */
bool cli_read_cache_type(const char *value, const cli_flag *f);
#define CLI_CACHE_TYPE_WANT "f16, f32 or q8_0"
bool cli_read_schedule_list(const char *value, const cli_flag *f);
#define CLI_SCHEDULE_WANT "seq, pipe or auto"

/* --spec: draft sources, comma-separated (draft, ngram, and llama.cpp's --spec-type names where they map:
 * draft-simple, ngram-simple), as SD_SPEC_* bits into *(unsigned *)f->out.any. */
bool cli_read_spec_sources(const char *value, const cli_flag *f);
#define CLI_SPEC_WANT "draft, ngram or draft,ngram"

/* The --kernels row every command that multiplies matrices shares: the kernel set's name into *(dst)
 * (NULL: $SPECDEC_KERNELS, else the best set); the library checks the name when the model loads. */
#define CLI_KERNELS_FLAG(dst)                                                                                \
    {                                                                                                        \
        "--kernels", NULL, CLI_STR,                                                                          \
            .out.s = (dst), .arg = "SET",                                                                    \
            .help = "kernel set: scalar, avx2, avx512vnni, neon, neon-dotprod, neon-i8mm (default: "         \
                    "$SPECDEC_KERNELS, else the best this CPU has)"                                          \
    }

/* (cli/load.c) Loads a model with kernel set `kernels` (NULL: the default), printing "specdec: PATH: message"
 * on failure. */
sd_model *cli_load_model(const char *path, const char *kernels);

/* The name --schedule takes for s. */
const char *cli_schedule_name(sd_schedule s);

/* Reads a whole file into a NUL-terminated buffer (caller frees); prints an error and returns NULL on
 * failure. */
char *cli_read_file(const char *path, size_t *len_out);

#endif
