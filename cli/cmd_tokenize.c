/* specdec tokenize: print the tokens of a text, as ids or as id -> 'piece' lines. Reads only the file's
 * vocabulary (tokenizer.ggml.* keys), so any architecture and vocab-only files work; the ids are those
 * sd_model_tokenize gives for a loaded model, which tokenizes with the same vocabulary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "json.h"
#include "tokenizer/vocab.h"

static void tokenize_usage(FILE *out, const cli_command *c) {
    fprintf(out, "usage: specdec tokenize [-m MODEL.gguf] (-p TEXT | -f FILE) [--ids] [--no-bos] "
                 "[--parse-special]\n\n");
    cli_print_flags(out, c);
}

int cmd_tokenize(int argc, char **argv) {
    const char *model_path = NULL, *text = NULL, *file = NULL;
    bool ids_only = false, no_bos = false, parse_special = false;
    const cli_flag flags[] = {
        {"-m", "--model", CLI_STR, .out.s = &model_path, .arg = "FILE",
         .help = "GGUF model or vocab-only file (default: the bundled model)"},
        {"-p", "--prompt", CLI_STR, .out.s = &text, .arg = "TEXT", .help = "text to tokenize"},
        {"-f", "--file", CLI_STR, .out.s = &file, .arg = "FILE", .help = "read the text from FILE"},
        {"--ids", NULL, CLI_TRUE, .out.b = &ids_only, .help = "print only the ids, as [id, id, ...]"},
        {"--no-bos", NULL, CLI_TRUE, .out.b = &no_bos,
         .help = "do not add the BOS/EOS tokens the model asks for"},
        {"--parse-special", NULL, CLI_TRUE, .out.b = &parse_special,
         .help = "map control token texts (e.g. <s>) to their ids"},
        {"-h", "--help", CLI_HELP, .help = "this text"},
    };
    const cli_command c = {"tokenize", flags, CLI_COUNT(flags), tokenize_usage, 20, true, NULL};
    cli_parse_status st = cli_parse(&c, argc, argv);
    if (st != CLI_PARSED) return cli_exit_code(st);
    if (!text == !file) {
        fprintf(stderr, "specdec tokenize: give exactly one of -p TEXT or -f FILE\n");
        return 2;
    }
    char path_buf[4096];
    if (!model_path &&
        !(model_path = cli_bundled_model("codepair-target-q4_0.gguf", path_buf, sizeof path_buf))) {
        fprintf(stderr, "specdec: the bundled model was not found; give one with -m\n");
        return 1;
    }
    size_t len = text ? strlen(text) : 0;
    char *file_text = NULL;
    if (file && !(file_text = cli_read_file(file, &len))) return 1;
    if (file) text = file_text;

    int exit_code = 1;
    int32_t *ids = NULL;
    char err[512];
    sd_vocab *vocab = NULL;
    if (sd_vocab_load_file(model_path, &vocab, err, sizeof err) < 0) {
        fprintf(stderr, "specdec: %s: %s\n", model_path, err);
        goto done;
    }
    int n = sd_tokenize(vocab, text, len, !no_bos, parse_special, NULL, 0, err, sizeof err);
    if (n >= 0 && !(ids = malloc(((size_t)n + 1) * sizeof *ids))) {
        snprintf(err, sizeof err, "out of memory");
        n = -1;
    }
    if (n >= 0) n = sd_tokenize(vocab, text, len, !no_bos, parse_special, ids, n, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "specdec: cannot tokenize: %s\n", err);
        goto done;
    }
    if (ids_only) {
        printf("[");
        for (int i = 0; i < n; i++)
            printf("%s%d", i ? ", " : "", ids[i]);
        printf("]\n");
    } else {
        char piece[256];
        for (int i = 0; i < n; i++) {
            int pl = sd_token_to_piece(vocab, ids[i], true, piece, sizeof piece);
            if (pl < 0) pl = 0;
            char quoted[cli_json_quoted_max(sizeof piece)];
            cli_json_quote(piece, (size_t)(pl < (int)sizeof piece ? pl : (int)sizeof piece), quoted);
            printf("%6d -> %s\n", ids[i], quoted);
        }
    }
    exit_code = 0;
done:
    free(ids);
    free(file_text);
    sd_vocab_free(vocab);
    return exit_code;
}
