/* The smallest complete use of libspecdec: load a model, tokenize a prompt, stream a greedy continuation.
 * Build against the installed library: cc simple_generate.c $(pkg-config --cflags --libs specdec)
 * Usage: simple_generate MODEL.gguf "prompt" [n_tokens] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "specdec.h"

static bool print_text(void *user, int32_t token, const char *text, size_t len) {
    (void)user, (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true; /* false would stop generation here */
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT [N_TOKENS]\n", argv[0]);
        return 2;
    }
    int n_predict = argc > 3 ? atoi(argv[3]) : 32;
    char err[512];
    sd_model *model = NULL;
    if (sd_model_load(argv[1], &model, err, sizeof err) != SD_OK) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    int32_t prompt[4096];
    int n = sd_model_tokenize(model, argv[2], strlen(argv[2]), true, false, prompt, 4096, err, sizeof err);
    if (n < 0 || n > 4096) {
        fprintf(stderr, "cannot tokenize the prompt: %s\n", n < 0 ? err : "too long");
        sd_model_free(model);
        return 1;
    }
    sd_engine_params params = sd_engine_default_params();
    params.sampling.temp = 0.0f; /* greedy */
    sd_engine *engine = NULL;
    int rc = sd_engine_create(model, NULL, &params, &engine, err, sizeof err);
    sd_stats stats;
    if (rc == SD_OK)
        rc = sd_engine_generate(engine, prompt, n, n_predict, print_text, NULL, NULL, 0, &stats, err,
                                sizeof err);
    if (rc != SD_OK) {
        fprintf(stderr, "error (%s): %s\n", sd_status_name(rc), err);
    } else {
        printf("\n");
        fprintf(stderr, "%d tokens at %.1f tokens/s\n", stats.n_gen,
                stats.t_gen_s > 0 ? stats.n_gen / stats.t_gen_s : 0.0);
    }
    sd_engine_free(engine);
    sd_model_free(model);
    return rc == SD_OK ? 0 : 1;
}
