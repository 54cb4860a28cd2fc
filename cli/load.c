/* Model loading for the CLI: the library loader with the CLI's error line. */
#include <stdbool.h>
#include <stdio.h>

#include "args.h"
#include "gguf/gguf.h"

/* A GGUF file that opens but holds no tensors, like llama.cpp's ggml-vocab-*.gguf: the model loader's
 * message (an unsupported architecture, a missing tensor) would not say what is wrong. */
static bool is_vocab_only(const char *path) {
    sd_gguf *g = NULL;
    char err[256];
    if (sd_gguf_open(path, &g, err, sizeof err) < 0) return false;
    bool no_tensors = sd_gguf_n_tensors(g) == 0 && sd_gguf_find_kv(g, "tokenizer.ggml.tokens");
    sd_gguf_close(g);
    return no_tensors;
}

sd_model *cli_load_model(const char *path, const char *kernels) {
    char err[512];
    sd_model *m = NULL;
    sd_model_params params = sd_model_default_params();
    params.kernels = kernels;
    if (sd_model_load_with(path, &params, &m, err, sizeof err) < 0) {
        if (is_vocab_only(path))
            fprintf(stderr,
                    "specdec: %s: a vocab-only file (no weight tensors): this command needs a model with "
                    "weights (specdec tokenize reads vocab-only files)\n",
                    path);
        else
            fprintf(stderr, "specdec: %s: %s\n", path, err);
        return NULL;
    }
    return m;
}
