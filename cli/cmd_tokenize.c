/* specdec tokenize: print the tokens of a text, as ids or as id -> 'piece' lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "json_writer.h"

static void tokenize_usage(FILE *out) {
    fprintf(
        out,
        "usage: specdec tokenize [-m MODEL.gguf] (-p TEXT | -f FILE) [--ids] [--no-bos] [--parse-special]\n"
        "\n"
        "  -m, --model FILE    GGUF model or vocab-only file (default: the bundled model)\n"
        "  -p, --prompt TEXT   text to tokenize\n"
        "  -f, --file FILE     read the text from FILE\n"
        "      --ids           print only the ids, as [id, id, ...]\n"
        "      --no-bos        do not add the BOS/EOS tokens the model asks for\n"
        "      --parse-special map control token texts (e.g. <s>) to their ids\n"
        "  -h, --help          this text\n");
}

int cmd_tokenize(int argc, char **argv) {
    cli_args a = {argc, argv, 0, "tokenize"};
    const char *model_path = NULL, *text = NULL, *file = NULL;
    bool ids_only = false, no_bos = false, parse_special = false;
    for (a.i = 1; a.i < argc; a.i++) {
        bool ok = true;
        if (cli_flag_is(&a, "-h", "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if (cli_flag_is(&a, "-m", "--model"))
            ok = cli_take_str(&a, &model_path);
        else if (cli_flag_is(&a, "-p", "--prompt"))
            ok = cli_take_str(&a, &text);
        else if (cli_flag_is(&a, "-f", "--file"))
            ok = cli_take_str(&a, &file);
        else if (cli_flag_is(&a, "--ids", NULL))
            ids_only = true;
        else if (cli_flag_is(&a, "--no-bos", NULL))
            no_bos = true;
        else if (cli_flag_is(&a, "--parse-special", NULL))
            parse_special = true;
        else {
            cli_unknown_flag(&a);
            return 2;
        }
        if (!ok) return 2;
    }
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
    sd_model *m = cli_load_model(model_path);
    if (!m) goto done;
    char err[256];
    int n = sd_model_tokenize(m, text, len, !no_bos, parse_special, NULL, 0, err, sizeof err);
    if (n >= 0 && !(ids = malloc(((size_t)n + 1) * sizeof *ids))) {
        snprintf(err, sizeof err, "out of memory");
        n = -1;
    }
    if (n >= 0) n = sd_model_tokenize(m, text, len, !no_bos, parse_special, ids, n, err, sizeof err);
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
            int pl = sd_model_token_to_piece(m, ids[i], true, piece, sizeof piece);
            if (pl < 0) pl = 0;
            printf("%6d -> ", ids[i]);
            json_write_string(stdout, piece, (size_t)(pl < (int)sizeof piece ? pl : (int)sizeof piece));
            printf("\n");
        }
    }
    exit_code = 0;
done:
    free(ids);
    free(file_text);
    sd_model_free(m);
    return exit_code;
}
