/* The batched forward pass must give bit-identical logits to running the same tokens one at a time
 * (the contract that makes speculative greedy decoding lossless), for every model type, batch size and
 * thread count, and whether a one-row pass ran on the pool or on the calling thread alone; truncating the
 * cache and re-running must reproduce the same logits. */
#include <stdio.h>
#include <string.h>

#include "common/sd_common.h"
#include "gguf/gguf.h"
#include "model/forward.h"
#include "model/model.h"
#include "test_util.h"

#define N_PREFIX 7
#define N_STEPS 20

static const char *kText =
    "static int foo(struct inode *inode, loff_t len)\n{\n\tint ret = 0;\n\tif (len > 4096)\n"
    "\t\treturn -ENOSPC;\n\tret = bar(inode);\n\treturn ret;\n}\n";

static void check_model(const char *file) {
    char err[512];
    sd_model *m = NULL;
    int rc = sd_model_load_file(test_path("SD_MODELS_DIR", file), &m, err, sizeof err);
    CHECK(rc == 0, "%s: %s", file, err);
    if (rc) return;
    int32_t toks[128];
    int n = sd_tokenize(m->vocab, kText, strlen(kText), true, false, toks, 128, err, sizeof err);
    CHECK(n >= N_PREFIX + N_STEPS, "%s: only %d tokens", file, n);
    if (n < N_PREFIX + N_STEPS) goto out;
    size_t nv = (size_t)m->hp.n_vocab;
    float *seq = malloc(N_STEPS * nv * sizeof *seq);

    for (int threads = 1; threads <= 3; threads++) {
        sd_pool *pool = NULL;
        CHECK(sd_pool_create(&pool, threads, NULL, 0, err, sizeof err) == 0, "pool: %s", err);
        sd_forward *f = NULL;
        rc = sd_forward_create(m, 128, 32, pool, &f, err, sizeof err);
        CHECK(rc == 0, "%s: %s", file, err);
        if (rc) {
            sd_pool_free(pool);
            break;
        }
        /* Passes alternate between the pool and the calling thread while the measured choices
         * probe (pool_choice.h), so the reference below mixes both, and batched rows must match it. */
        sd_forward_set_measured_pool(f, true);
        /* Reference: prefix, then one token at a time. */
        CHECK(sd_forward_run(f, toks, N_PREFIX, false, err, sizeof err) == 0, "%s", err);
        for (int s = 0; s < N_STEPS; s++) {
            const float *prev = sd_forward_logits(f, -1);
            if (s > 0) memcpy(seq + (size_t)(s - 1) * nv, prev, nv * sizeof *seq);
            CHECK(sd_forward_run(f, toks + N_PREFIX + s, 1, false, err, sizeof err) == 0, "%s", err);
        }
        memcpy(seq + (size_t)(N_STEPS - 1) * nv, sd_forward_logits(f, -1), nv * sizeof *seq);
        /* seq[s] = logits after token N_PREFIX + s. Now the same tokens in batches of every size, after
         * rolling the cache back to the prefix. */
        for (int batch = 1; batch <= 17; batch += (batch < 5 ? 1 : 4)) {
            sd_forward_truncate(f, N_PREFIX);
            for (int s = 0; s < N_STEPS; s += batch) {
                int nb = SD_MIN(batch, N_STEPS - s);
                CHECK(sd_forward_run(f, toks + N_PREFIX + s, nb, true, err, sizeof err) == 0, "%s", err);
                for (int r = 0; r < nb; r++) {
                    const float *got = sd_forward_logits(f, r);
                    CHECK(memcmp(got, seq + (size_t)(s + r) * nv, nv * sizeof *got) == 0,
                          "%s: threads %d batch %d row %d (step %d) differs from sequential decoding", file,
                          threads, batch, r, s + r);
                }
            }
        }
        /* A whole prompt in one pass (chunked at max_batch) ends at the same logits as the sequence. */
        sd_forward_truncate(f, 0);
        CHECK(sd_forward_run(f, toks, N_PREFIX + N_STEPS, false, err, sizeof err) == 0, "%s", err);
        CHECK(memcmp(sd_forward_logits(f, -1), seq + (size_t)(N_STEPS - 1) * nv, nv * sizeof(float)) == 0,
              "%s: threads %d: prompt pass differs from token-by-token", file, threads);
        sd_forward_free(f);
        sd_pool_free(pool);
    }
    free(seq);
out:
    sd_model_free_internal(m);
}

static void check_errors(void) {
    char err[512];
    sd_model *m = NULL;
    if (sd_model_load_file(test_path("SD_MODELS_DIR", "stories260K.gguf"), &m, err, sizeof err) != 0) {
        CHECK(0, "load: %s", err);
        return;
    }
    sd_forward *f = NULL;
    CHECK(sd_forward_create(m, 8, 4, NULL, &f, err, sizeof err) == 0, "%s", err);
    int32_t toks[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    CHECK(sd_forward_run(f, toks, 9, false, err, sizeof err) == SD_STATUS_CONTEXT_FULL,
          "9 tokens in 8 positions");
    CHECK(strstr(err, "context full") != NULL, "message: %s", err);
    int32_t bad = 100000;
    CHECK(sd_forward_run(f, &bad, 1, false, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT, "bad token id");
    CHECK(sd_forward_run(f, toks, 8, false, err, sizeof err) == 0, "%s", err);
    CHECK(sd_forward_run(f, toks, 1, false, err, sizeof err) == SD_STATUS_CONTEXT_FULL, "full cache");
    sd_forward_free(f);
    /* A context far beyond memory is refused up front, naming the bytes. */
    CHECK(sd_forward_create(m, 1 << 30, 4, NULL, &f, err, sizeof err) == SD_STATUS_NO_MEMORY, "huge context");
    CHECK(strstr(err, "MiB") != NULL, "message names the size: %s", err);
    sd_model_free_internal(m);
}

/* This process's resident pages of mapped files, in bytes (RssFile of /proc/self/status; -1: unknown). */
static long long rss_file_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %lld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* A matrix repacked at load is not also held in its file form: loading the model must leave fewer
 * mapped pages resident than its bytes of the repacked type (the repack reads every one of them). The
 * Q4_0 target; and the Q4_K_M file of the quantized-file tests where $SD_SHARED_DIR has it (its Q4_K
 * matrices are repacked on x86). */
static void check_repack_not_resident(const char *path, sd_type type) {
#if defined(__x86_64__) || defined(__aarch64__)
    char err[512];
    sd_gguf *g = NULL;
    CHECK(sd_gguf_open(path, &g, err, sizeof err) == 0, "%s", err);
    if (!g) return;
    long long type_bytes = 0;
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        if (t->type == (uint32_t)type) type_bytes += (long long)t->n_bytes;
    }
    sd_gguf_close(g);
    const char *name = sd_type_traits_of((uint32_t)type)->name;
    long long before = rss_file_bytes();
    sd_model *m = NULL;
    CHECK(sd_model_load_file(path, &m, err, sizeof err) == 0, "%s", err);
    long long grown = rss_file_bytes() - before;
    if (before >= 0 && m && m->layers[0].w_up.packed) { /* the kernel set repacks this type */
        printf("%s: %lld KiB of %s matrices, %lld KiB of the file resident after loading\n", path,
               type_bytes / 1024, name, grown / 1024);
        CHECK(type_bytes > 1 << 20 && grown < type_bytes / 2,
              "%lld of %lld %s bytes stay resident after the repack", grown, type_bytes, name);
    }
    sd_model_free_internal(m);
#else
    (void)path;
    (void)type;
#endif
}

int main(void) {
    const char *models[] = {"stories260K.gguf", "codepair-draft-f32.gguf", "codepair-target-f32.gguf",
                            "codepair-target-q8_0.gguf", "codepair-target-q4_0.gguf"};
    for (size_t i = 0; i < SD_ARRAY_LEN(models); i++)
        check_model(models[i]);
    check_errors();
    check_repack_not_resident(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"), SD_TYPE_Q4_0);
    const char *shared = getenv("SD_SHARED_DIR");
    if (shared && *shared) {
        char q4km[4096];
        snprintf(q4km, sizeof q4km, "%s/models/quant/codepair-target-Q4_K_M.gguf", shared);
        FILE *f = fopen(q4km, "rb");
        if (f) {
            fclose(f);
            check_repack_not_resident(q4km, SD_TYPE_Q4_K);
        }
    }
    return test_finish("test_forward");
}
