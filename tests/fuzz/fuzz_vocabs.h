/* Shared by the tokenizer fuzz targets: the two vocabularies (SentencePiece "llama" and byte-level BPE
 * "gpt2"), loaded once per process from $SD_TEST_DATA/vocab (or the SD_FUZZ_DATA_DIR the build bakes in),
 * and small checks that abort so libFuzzer records the input. */
#ifndef SD_FUZZ_VOCABS_H
#define SD_FUZZ_VOCABS_H

#include <stdio.h>
#include <stdlib.h>

#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

#ifndef SD_FUZZ_DATA_DIR
#define SD_FUZZ_DATA_DIR "tests/data"
#endif

enum { FUZZ_N_VOCABS = 2 };

typedef struct fuzz_vocabs {
    sd_gguf *g[FUZZ_N_VOCABS];
    sd_vocab *v[FUZZ_N_VOCABS]; /* [0] llama-spm, [1] gpt-2 */
} fuzz_vocabs;

/* Prints why and aborts: a failed invariant must look like a crash to libFuzzer and to the replay test. */
#define FUZZ_REQUIRE(cond, ...)                                                                              \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "fuzz invariant failed %s:%d: %s: ", __FILE__, __LINE__, #cond);                 \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, "\n");                                                                           \
            abort();                                                                                         \
        }                                                                                                    \
    } while (0)

/* The process-wide vocabularies (loaded on first use; the harness never frees them: they live as long as
 * the process, which LeakSanitizer accepts because they stay reachable). */
static inline fuzz_vocabs *fuzz_vocabs_get(void) {
    static fuzz_vocabs fv;
    static int loaded = 0;
    if (loaded) return &fv;
    static const char *const names[FUZZ_N_VOCABS] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"};
    const char *dir = getenv("SD_TEST_DATA");
    if (!dir) dir = SD_FUZZ_DATA_DIR;
    for (int i = 0; i < FUZZ_N_VOCABS; i++) {
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/vocab/%s", dir, names[i]);
        if (sd_gguf_open(path, &fv.g[i], err, sizeof err) != 0 ||
            sd_vocab_load(fv.g[i], &fv.v[i], err, sizeof err) != 0) {
            fprintf(stderr, "fuzz: cannot load %s: %s (set SD_TEST_DATA)\n", path, err);
            exit(2);
        }
    }
    loaded = 1;
    return &fv;
}

/* A failed call must leave a non-empty one-line message: no control bytes (text from the file may be
 * UTF-8, so bytes >= 0x80 are allowed). */
static inline void fuzz_check_message(const char *err) {
    FUZZ_REQUIRE(err[0] != '\0', "empty error message");
    for (const char *c = err; *c; c++)
        FUZZ_REQUIRE((unsigned char)*c >= 0x20 && (unsigned char)*c != 0x7f, "control byte in message '%s'",
                     err);
}

#endif
