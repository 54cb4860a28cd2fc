/* Tests of the GGUF reader: the bundled files open and report what they hold. */
#include "gguf/gguf.h"

#include "common/sd_common.h"
#include "gemm/qtypes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                                          \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                         \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)

static const char *env_or(const char *name, const char *fallback) {
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static void test_stories(const char *models) {
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/stories260K.gguf", models);
    sd_gguf *g = NULL;
    int rc = sd_gguf_open(path, &g, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        failures++;
        return;
    }
    sd_gguf_str arch;
    CHECK(sd_gguf_get_str(g, "general.architecture", &arch, err, sizeof err) == 1);
    CHECK(sd_gguf_str_eq(arch, "llama"));
    uint32_t emb = 0;
    CHECK(sd_gguf_get_u32(g, "llama.embedding_length", &emb, err, sizeof err) == 1 && emb == 64);
    const sd_gguf_tensor *t = sd_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == SD_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
    CHECK(t && t->n_bytes == 64 * 512 * 4);
    sd_gguf_close(g);
}

/* Opens a file that must be valid and checks invariants every valid handle keeps. */
static void test_open_valid(const char *path, uint64_t min_tensors, uint64_t min_kv) {
    char err[256] = "";
    sd_gguf *g = NULL;
    int rc = sd_gguf_open(path, &g, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        failures++;
        return;
    }
    CHECK(sd_gguf_version(g) == 2 || sd_gguf_version(g) == 3);
    CHECK(sd_gguf_n_tensors(g) >= min_tensors);
    CHECK(sd_gguf_n_kv(g) >= min_kv);
    for (uint64_t i = 0; i < sd_gguf_n_kv(g); i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        CHECK(sd_gguf_find_kv(g, key) == kv);
    }
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        CHECK(sd_gguf_find_tensor(g, name) == t);
        CHECK(t->n_bytes ==
              sd_type_row_bytes(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]));
        CHECK(sd_gguf_data_offset(g) + t->offset + t->n_bytes <= sd_gguf_file_size(g));
    }
    CHECK(sd_gguf_find_kv(g, "no.such.key") == NULL);
    CHECK(sd_gguf_find_tensor(g, "no.such.tensor") == NULL);
    sd_gguf_str model;
    CHECK(sd_gguf_get_str(g, "tokenizer.ggml.model", &model, err, sizeof err) == 1);
    const sd_gguf_kv *tokens = NULL;
    CHECK(sd_gguf_get_arr(g, "tokenizer.ggml.tokens", SD_GGUF_STRING, &tokens, err, sizeof err) == 1);
    CHECK(tokens && tokens->arr_len >= 256);
    sd_gguf_close(g);
}

static void test_bundled_files(const char *models, const char *data) {
    static const char *const model_files[] = {"stories260K.gguf", "codepair-target-f32.gguf",
                                              "codepair-target-q8_0.gguf", "codepair-target-q4_0.gguf",
                                              "codepair-draft-f32.gguf"};
    static const char *const vocab_files[] = {"ggml-vocab-deepseek-coder.gguf", "ggml-vocab-gpt-2.gguf",
                                              "ggml-vocab-llama-spm.gguf", "ggml-vocab-starcoder.gguf"};
    char path[4096];
    for (size_t i = 0; i < SD_ARRAY_LEN(model_files); i++) {
        snprintf(path, sizeof path, "%s/%s", models, model_files[i]);
        test_open_valid(path, 3, 10);
    }
    for (size_t i = 0; i < SD_ARRAY_LEN(vocab_files); i++) {
        snprintf(path, sizeof path, "%s/vocab/%s", data, vocab_files[i]);
        test_open_valid(path, 0, 5);
    }
}

int main(void) {
    const char *models = env_or("SD_MODELS_DIR", "models");
    const char *data = env_or("SD_TEST_DATA", "tests/data");
    test_stories(models);
    test_bundled_files(models, data);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("gguf: all checks passed\n");
    return 0;
}
