/* Tests of the GGUF reader and writer:
 *  (a) the bundled models and vocab files open and report what they hold;
 *  (b) writer round trip: every value type and several tensor types, through memory and a file;
 *  (c) hostile inputs: a catalogue of hand-made bad files (each must fail with a message naming the
 *      problem), truncation of a real file at every offset of its header, and seeded random corruption
 *      of a writer-made file (each must fail cleanly or open; under ASan any out-of-bounds read fails).
 * Bad inputs are always handed over in a malloc'd buffer of exactly their size, so ASan sees over-reads. */
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"

#include "common/sd_common.h"
#include "gemm/qtypes.h"
#include "tests/test_gguf_util.h"
#include "tests/test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_OK(expr, err)                                                                                  \
    do {                                                                                                     \
        int rc_ = (expr);                                                                                    \
        if (rc_ != 0) {                                                                                      \
            fprintf(stderr, "%s:%d: %s returned %d: %s\n", __FILE__, __LINE__, #expr, rc_, err);             \
            test_failures++;                                                                                 \
        }                                                                                                    \
    } while (0)

static bool printable(const char *s) {
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return false;
    }
    return true;
}

/* ---- (a) bundled files ---- */

static void test_stories(const char *models) {
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/stories260K.gguf", models);
    sd_gguf *g = NULL;
    int rc = sd_gguf_open(path, &g, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        test_failures++;
        return;
    }
    sd_gguf_str arch;
    CHECK(sd_gguf_version(g) == 3);
    CHECK(sd_gguf_n_tensors(g) == 48);
    CHECK(sd_gguf_n_kv(g) == 19);
    CHECK(sd_gguf_alignment(g) == 32);
    CHECK(sd_gguf_get_str(g, "general.architecture", &arch, err, sizeof err) == 1);
    CHECK(sd_gguf_str_eq(arch, "llama"));
    uint32_t u = 0;
    CHECK(sd_gguf_get_u32(g, "llama.embedding_length", &u, err, sizeof err) == 1 && u == 64);
    CHECK(sd_gguf_get_u32(g, "llama.block_count", &u, err, sizeof err) == 1 && u == 5);
    CHECK(sd_gguf_get_u32(g, "llama.attention.head_count", &u, err, sizeof err) == 1 && u == 8);
    CHECK(sd_gguf_get_u32(g, "llama.attention.head_count_kv", &u, err, sizeof err) == 1 && u == 4);
    float eps = 0;
    CHECK(sd_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, err, sizeof err) == 1);
    CHECK(eps > 0 && eps < 1e-3f);
    const sd_gguf_tensor *t = sd_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->type == SD_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
    CHECK(t && t->ne[2] == 1 && t->ne[3] == 1 && t->n_bytes == 64 * 512 * 4);
    const sd_gguf_kv *tokens = NULL, *scores = NULL;
    CHECK(sd_gguf_get_arr(g, "tokenizer.ggml.tokens", SD_GGUF_STRING, &tokens, err, sizeof err) == 1);
    CHECK(tokens && tokens->arr_len == 512 && sd_gguf_str_eq(tokens->arr_strs[1], "<s>"));
    CHECK(sd_gguf_get_arr(g, "tokenizer.ggml.scores", SD_GGUF_FLOAT32, &scores, err, sizeof err) == 1);
    CHECK(scores && scores->arr_len == 512);
    /* Wrong element type: an error naming the key. */
    const sd_gguf_kv *kv = NULL;
    CHECK(sd_gguf_get_arr(g, "tokenizer.ggml.tokens", SD_GGUF_INT32, &kv, err, sizeof err) ==
          SD_STATUS_FORMAT);
    CHECK(strstr(err, "tokenizer.ggml.tokens") && strstr(err, "array of string"));
    CHECK(sd_gguf_get_u32(g, "general.architecture", &u, err, sizeof err) == SD_STATUS_FORMAT);
    CHECK(strstr(err, "general.architecture") && strstr(err, "has type string"));
    CHECK(sd_gguf_get_u32(g, "no.such.key", &u, err, sizeof err) == 0);
    sd_gguf_close(g);
}

/* Opens a file that must be valid and checks the invariants every valid handle keeps. */
static void test_open_valid(const char *path, uint64_t min_tensors, uint64_t min_kv) {
    char err[256] = "";
    sd_gguf *g = NULL;
    int rc = sd_gguf_open(path, &g, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        test_failures++;
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
        CHECK(t->offset % sd_gguf_alignment(g) == 0);
    }
    CHECK(sd_gguf_data_offset(g) % sd_gguf_alignment(g) == 0);
    CHECK(sd_gguf_kv_at(g, sd_gguf_n_kv(g)) == NULL);
    CHECK(sd_gguf_tensor_at(g, sd_gguf_n_tensors(g)) == NULL);
    CHECK(sd_gguf_find_kv(g, "no.such.key") == NULL);
    CHECK(sd_gguf_find_tensor(g, "no.such.tensor") == NULL);
    sd_gguf_str model;
    CHECK(sd_gguf_get_str(g, "tokenizer.ggml.model", &model, err, sizeof err) == 1);
    CHECK(sd_gguf_str_eq(model, "llama") || sd_gguf_str_eq(model, "gpt2"));
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

    /* Quantized target: weight types and block-aligned sizes as llama-quantize wrote them. */
    char err[256] = "";
    sd_gguf *g = NULL;
    snprintf(path, sizeof path, "%s/codepair-target-q4_0.gguf", models);
    if (sd_gguf_open(path, &g, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        test_failures++;
        return;
    }
    const sd_gguf_tensor *t = sd_gguf_find_tensor(g, "blk.0.ffn_up.weight");
    CHECK(t && t->type == SD_TYPE_Q4_0 && t->ne[0] == 256 && t->ne[1] == 704);
    CHECK(t && t->n_bytes == 256 / 32 * 18 * 704);
    uint32_t u = 0;
    CHECK(sd_gguf_get_u32(g, "llama.feed_forward_length", &u, err, sizeof err) == 1 && u == 704);
    CHECK(sd_gguf_get_u32(g, "llama.embedding_length", &u, err, sizeof err) == 1 && u == 256);
    sd_gguf_close(g);
    snprintf(path, sizeof path, "%s/codepair-target-q8_0.gguf", models);
    if (sd_gguf_open(path, &g, err, sizeof err) == 0) {
        t = sd_gguf_find_tensor(g, "blk.3.attn_q.weight");
        CHECK(t && t->type == SD_TYPE_Q8_0 && t->ne[0] == 256 && t->ne[1] == 256 &&
              t->n_bytes == 8 * 34 * 256);
        sd_gguf_close(g);
    } else {
        fprintf(stderr, "open %s: %s\n", path, err);
        test_failures++;
    }
    /* The draft: tied embeddings, so no output.weight; 6 blocks of width 96. */
    snprintf(path, sizeof path, "%s/codepair-draft-f32.gguf", models);
    if (sd_gguf_open(path, &g, err, sizeof err) == 0) {
        CHECK(sd_gguf_find_tensor(g, "output.weight") == NULL);
        CHECK(sd_gguf_get_u32(g, "llama.block_count", &u, err, sizeof err) == 1 && u == 6);
        t = sd_gguf_find_tensor(g, "token_embd.weight");
        CHECK(t && t->type == SD_TYPE_F32 && t->ne[0] == 96 && t->ne[1] == 4096);
        CHECK(sd_gguf_alignment(g) == 32);
        sd_gguf_close(g);
    } else {
        fprintf(stderr, "open %s: %s\n", path, err);
        test_failures++;
    }
}

/* ---- (b) writer round trip ---- */

/* Fills rows with row index * 1000 + column (f32), checking the writer asks for rows in order. */
typedef struct fill_state {
    int64_t ne0;
    int64_t next_row;
    bool out_of_order;
} fill_state;

static int fill_rows(void *ctx, int64_t row_begin, int64_t n_rows, void *dst) {
    fill_state *st = ctx;
    if (row_begin != st->next_row) st->out_of_order = true;
    st->next_row = row_begin + n_rows;
    float *f = dst;
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t c = 0; c < st->ne0; c++)
            f[r * st->ne0 + c] = (float)((row_begin + r) * 1000 + c);
    }
    return 0;
}

static int fill_fails(void *ctx, int64_t row_begin, int64_t n_rows, void *dst) {
    (void)ctx, (void)row_begin, (void)n_rows, (void)dst;
    return SD_STATUS_INTERNAL;
}

typedef struct rt_data {
    float f32[3 * 5];                /* ne {3, 5} */
    uint16_t f16[4 * 2 * 3];         /* ne {4, 2, 3} */
    sd_block_q4_0 q4[2 * 2];         /* ne {64, 2} */
    sd_block_q8_0 q8[1 * 1 * 1 * 2]; /* ne {32, 1, 1, 2} */
    fill_state fill;                 /* "big": ne {300, 2000} f32, 2.4 MB: several fill chunks */
} rt_data;

static sd_gguf_writer *make_round_trip_writer(rt_data *d, uint32_t alignment, uint32_t version) {
    char err[256] = "";
    sd_gguf_writer *w = sd_gguf_writer_create();
    if (!w) return NULL;
    for (size_t i = 0; i < SD_ARRAY_LEN(d->f32); i++)
        d->f32[i] = (float)i * 0.5f - 3.0f;
    for (size_t i = 0; i < SD_ARRAY_LEN(d->f16); i++)
        d->f16[i] = sd_fp32_to_fp16((float)i);
    for (size_t i = 0; i < sizeof d->q4; i++)
        ((uint8_t *)d->q4)[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof d->q8; i++)
        ((uint8_t *)d->q8)[i] = (uint8_t)(i * 13 + 5);
    d->fill = (fill_state){300, 0, false};

    static const uint8_t u8a[] = {0, 1, 255};
    static const int8_t i8a[] = {-128, 0, 127};
    static const uint16_t u16a[] = {0, 65535};
    static const int16_t i16a[] = {-32768, 32767, 5};
    static const uint32_t u32a[] = {0, 4294967295u, 7};
    static const int32_t i32a[] = {-2147483647 - 1, 2147483647, -5, 6};
    static const uint64_t u64a[] = {0, UINT64_MAX};
    static const int64_t i64a[] = {INT64_MIN, INT64_MAX, -1};
    static const float f32a[] = {1.5f, -2.25f, 1e30f};
    static const double f64a[] = {3.141592653589793, -1e300};
    static const bool boola[] = {true, false, true};
    static const char *const stra[] = {"", "hello", "\xe2\x96\x81world", "<0x0A>"};
    static const sd_gguf_str strna[] = {{"a\0b", 3}, {"", 0}, {"zz", 2}};

    CHECK_OK(sd_gguf_writer_set_version(w, version, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_str(w, "general.architecture", "llama", err, sizeof err), err);
    if (alignment) CHECK_OK(sd_gguf_writer_add_u32(w, "general.alignment", alignment, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u8(w, "t.u8", 200, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i8(w, "t.i8", -100, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u16(w, "t.u16", 60000, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i16(w, "t.i16", -30000, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u32(w, "t.u32", 4000000000u, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i32(w, "t.i32", -2000000000, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u64(w, "t.u64", UINT64_MAX - 1, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i64(w, "t.i64", INT64_MIN + 1, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u64(w, "t.u64small", 12345, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i64(w, "t.i64small", -12345, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_f32(w, "t.f32", 0.125f, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_f64(w, "t.f64", 1e-300, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_f64(w, "t.f64big", 1e300, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_bool(w, "t.true", true, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_bool(w, "t.false", false, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_str(w, "t.empty", "", err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_strn(w, "t.bin", "x\0y\n", 4, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.u8", SD_GGUF_UINT8, u8a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.i8", SD_GGUF_INT8, i8a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.u16", SD_GGUF_UINT16, u16a, 2, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.i16", SD_GGUF_INT16, i16a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.u32", SD_GGUF_UINT32, u32a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.i32", SD_GGUF_INT32, i32a, 4, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.u64", SD_GGUF_UINT64, u64a, 2, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.i64", SD_GGUF_INT64, i64a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.f32", SD_GGUF_FLOAT32, f32a, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.f64", SD_GGUF_FLOAT64, f64a, 2, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.bool", SD_GGUF_BOOL, boola, 3, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "a.empty", SD_GGUF_INT32, NULL, 0, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_str_arr(w, "a.str", stra, 4, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_strn_arr(w, "a.strn", strna, 3, err, sizeof err), err);

    CHECK_OK(sd_gguf_writer_add_tensor(w, "small.f32", SD_TYPE_F32, 2, (const int64_t[]){3, 5}, d->f32, err,
                                       sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "t.f16", SD_TYPE_F16, 3, (const int64_t[]){4, 2, 3}, d->f16, err,
                                       sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "t.q4_0", SD_TYPE_Q4_0, 2, (const int64_t[]){64, 2}, d->q4, err,
                                       sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "t.q8_0", SD_TYPE_Q8_0, 4, (const int64_t[]){32, 1, 1, 2}, d->q8,
                                       err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "t.empty", SD_TYPE_F32, 2, (const int64_t[]){8, 0}, NULL, err,
                                       sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor_fill(w, "big", SD_TYPE_F32, 2, (const int64_t[]){300, 2000}, fill_rows,
                                            &d->fill, err, sizeof err),
             err);
    return w;
}

static void check_round_trip(const sd_gguf *g, const rt_data *d, uint32_t alignment, uint32_t version) {
    char err[256] = "";
    uint32_t u32;
    int32_t i32;
    float f;
    bool b;
    sd_gguf_str s;
    uint32_t align = alignment ? alignment : 32;
    CHECK(sd_gguf_version(g) == version);
    CHECK(sd_gguf_alignment(g) == align);
    CHECK(sd_gguf_data_offset(g) % align == 0);
    CHECK(sd_gguf_n_kv(g) == 32 + (alignment ? 1 : 0));
    CHECK(sd_gguf_n_tensors(g) == 6);

    /* Scalars, through the kv struct and the getters. */
    const sd_gguf_kv *kv;
    CHECK((kv = sd_gguf_find_kv(g, "t.u8")) && kv->type == SD_GGUF_UINT8 && kv->value.u64 == 200);
    CHECK((kv = sd_gguf_find_kv(g, "t.i8")) && kv->type == SD_GGUF_INT8 && kv->value.i64 == -100);
    CHECK((kv = sd_gguf_find_kv(g, "t.u16")) && kv->type == SD_GGUF_UINT16 && kv->value.u64 == 60000);
    CHECK((kv = sd_gguf_find_kv(g, "t.i16")) && kv->type == SD_GGUF_INT16 && kv->value.i64 == -30000);
    CHECK((kv = sd_gguf_find_kv(g, "t.u32")) && kv->type == SD_GGUF_UINT32 && kv->value.u64 == 4000000000u);
    CHECK((kv = sd_gguf_find_kv(g, "t.i32")) && kv->type == SD_GGUF_INT32 && kv->value.i64 == -2000000000);
    CHECK((kv = sd_gguf_find_kv(g, "t.u64")) && kv->type == SD_GGUF_UINT64 &&
          kv->value.u64 == UINT64_MAX - 1);
    CHECK((kv = sd_gguf_find_kv(g, "t.i64")) && kv->type == SD_GGUF_INT64 && kv->value.i64 == INT64_MIN + 1);
    CHECK((kv = sd_gguf_find_kv(g, "t.f32")) && kv->type == SD_GGUF_FLOAT32 && kv->value.f64 == 0.125);
    CHECK((kv = sd_gguf_find_kv(g, "t.f64")) && kv->type == SD_GGUF_FLOAT64 && kv->value.f64 == 1e-300);
    CHECK((kv = sd_gguf_find_kv(g, "t.true")) && kv->type == SD_GGUF_BOOL && kv->value.b);
    CHECK((kv = sd_gguf_find_kv(g, "t.bin")) && kv->type == SD_GGUF_STRING && kv->value.str.len == 4 &&
          memcmp(kv->value.str.ptr, "x\0y\n", 4) == 0);

    CHECK(sd_gguf_get_u32(g, "t.u8", &u32, err, sizeof err) == 1 && u32 == 200);
    CHECK(sd_gguf_get_u32(g, "t.u32", &u32, err, sizeof err) == 1 && u32 == 4000000000u);
    CHECK(sd_gguf_get_u32(g, "t.u64small", &u32, err, sizeof err) == 1 && u32 == 12345);
    CHECK(sd_gguf_get_u32(g, "t.i8", &u32, err, sizeof err) == SD_STATUS_FORMAT && strstr(err, "t.i8") &&
          strstr(err, "out of range"));
    CHECK(sd_gguf_get_u32(g, "t.u64", &u32, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "out of range"));
    CHECK(sd_gguf_get_i32(g, "t.i16", &i32, err, sizeof err) == 1 && i32 == -30000);
    CHECK(sd_gguf_get_i32(g, "t.i64small", &i32, err, sizeof err) == 1 && i32 == -12345);
    CHECK(sd_gguf_get_i32(g, "t.u16", &i32, err, sizeof err) == 1 && i32 == 60000);
    CHECK(sd_gguf_get_i32(g, "t.u32", &i32, err, sizeof err) == SD_STATUS_FORMAT && strstr(err, "t.u32"));
    CHECK(sd_gguf_get_i32(g, "t.i64", &i32, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "out of range"));
    CHECK(sd_gguf_get_i32(g, "t.f32", &i32, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "expected an integer"));
    CHECK(sd_gguf_get_f32(g, "t.f32", &f, err, sizeof err) == 1 && f == 0.125f);
    CHECK(sd_gguf_get_f32(g, "t.f64big", &f, err, sizeof err) == SD_STATUS_FORMAT && strstr(err, "f32"));
    CHECK(sd_gguf_get_f32(g, "t.u8", &f, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "expected a float"));
    CHECK(sd_gguf_get_bool(g, "t.true", &b, err, sizeof err) == 1 && b);
    CHECK(sd_gguf_get_bool(g, "t.false", &b, err, sizeof err) == 1 && !b);
    CHECK(sd_gguf_get_bool(g, "t.u8", &b, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "expected bool"));
    CHECK(sd_gguf_get_str(g, "general.architecture", &s, err, sizeof err) == 1 && sd_gguf_str_eq(s, "llama"));
    CHECK(sd_gguf_get_str(g, "t.empty", &s, err, sizeof err) == 1 && s.len == 0 && sd_gguf_str_eq(s, ""));
    CHECK(sd_gguf_get_str(g, "a.str", &s, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "array of string"));
    CHECK(sd_gguf_get_str(g, "absent", &s, err, sizeof err) == 0);
    CHECK(!sd_gguf_str_eq(s, "lla") && !sd_gguf_str_eq(s, "llamas"));

    /* Arrays. */
    const sd_gguf_kv *a;
    CHECK(sd_gguf_get_arr(g, "a.u8", SD_GGUF_UINT8, &a, err, sizeof err) == 1 && a->arr_len == 3 &&
          sd_gguf_arr_i32(a, 2) == 255);
    CHECK(sd_gguf_get_arr(g, "a.i8", SD_GGUF_INT8, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_i32(a, 0) == -128);
    CHECK(sd_gguf_get_arr(g, "a.u16", SD_GGUF_UINT16, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_i32(a, 1) == 65535);
    CHECK(sd_gguf_get_arr(g, "a.i16", SD_GGUF_INT16, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_i32(a, 0) == -32768 && sd_gguf_arr_f32(a, 2) == 5.0f);
    CHECK(sd_gguf_get_arr(g, "a.u32", SD_GGUF_UINT32, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_i32(a, 2) == 7);
    CHECK(sd_gguf_get_arr(g, "a.i32", SD_GGUF_INT32, &a, err, sizeof err) == 1 && a->arr_len == 4 &&
          sd_gguf_arr_i32(a, 0) == INT32_MIN && sd_gguf_arr_i32(a, 1) == INT32_MAX &&
          sd_gguf_arr_i32(a, 2) == -5 && sd_gguf_arr_f32(a, 3) == 6.0f);
    CHECK(sd_gguf_get_arr(g, "a.u64", SD_GGUF_UINT64, &a, err, sizeof err) == 1 && a->arr_len == 2);
    CHECK(sd_gguf_get_arr(g, "a.i64", SD_GGUF_INT64, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_i32(a, 2) == -1);
    CHECK(sd_gguf_get_arr(g, "a.f32", SD_GGUF_FLOAT32, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_f32(a, 0) == 1.5f && sd_gguf_arr_f32(a, 1) == -2.25f &&
          sd_gguf_arr_f32(a, 2) == 1e30f && sd_gguf_arr_i32(a, 1) == -2);
    CHECK(sd_gguf_get_arr(g, "a.f64", SD_GGUF_FLOAT64, &a, err, sizeof err) == 1 &&
          sd_gguf_arr_f32(a, 0) == (float)3.141592653589793);
    CHECK(sd_gguf_get_arr(g, "a.bool", SD_GGUF_BOOL, &a, err, sizeof err) == 1 && a->arr_len == 3 &&
          ((const uint8_t *)a->arr_data)[0] == 1 && ((const uint8_t *)a->arr_data)[1] == 0);
    CHECK(sd_gguf_get_arr(g, "a.empty", SD_GGUF_INT32, &a, err, sizeof err) == 1 && a->arr_len == 0);
    CHECK(sd_gguf_get_arr(g, "a.str", SD_GGUF_STRING, &a, err, sizeof err) == 1 && a->arr_len == 4 &&
          sd_gguf_str_eq(a->arr_strs[0], "") && sd_gguf_str_eq(a->arr_strs[1], "hello") &&
          sd_gguf_str_eq(a->arr_strs[2], "\xe2\x96\x81world") && sd_gguf_str_eq(a->arr_strs[3], "<0x0A>"));
    CHECK(sd_gguf_get_arr(g, "a.strn", SD_GGUF_STRING, &a, err, sizeof err) == 1 && a->arr_len == 3 &&
          a->arr_strs[0].len == 3 && memcmp(a->arr_strs[0].ptr, "a\0b", 3) == 0 && a->arr_strs[1].len == 0);
    CHECK(sd_gguf_get_arr(g, "a.i32", SD_GGUF_UINT32, &a, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "a.i32") && strstr(err, "array of i32"));
    CHECK(sd_gguf_get_arr(g, "t.u8", SD_GGUF_UINT8, &a, err, sizeof err) == SD_STATUS_FORMAT &&
          strstr(err, "has type u8"));

    /* Tensors: order, shapes, offsets, bytes. */
    static const char *const names[] = {"small.f32", "t.f16", "t.q4_0", "t.q8_0", "t.empty", "big"};
    for (uint64_t i = 0; i < 6; i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        CHECK(t && sd_gguf_str_eq(t->name, names[i]) && t->offset % align == 0);
        CHECK(t && ((uintptr_t)t->data - (uintptr_t)sd_gguf_tensor_at(g, 0)->data) == t->offset);
    }
    const sd_gguf_tensor *t;
    CHECK((t = sd_gguf_find_tensor(g, "small.f32")) && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 5 &&
          t->ne[2] == 1 && t->n_bytes == sizeof d->f32 && memcmp(t->data, d->f32, sizeof d->f32) == 0);
    CHECK((t = sd_gguf_find_tensor(g, "t.f16")) && t->type == SD_TYPE_F16 && t->n_dims == 3 &&
          t->ne[2] == 3 && t->n_bytes == sizeof d->f16 && memcmp(t->data, d->f16, sizeof d->f16) == 0);
    CHECK((t = sd_gguf_find_tensor(g, "t.q4_0")) && t->type == SD_TYPE_Q4_0 && t->n_bytes == sizeof d->q4 &&
          memcmp(t->data, d->q4, sizeof d->q4) == 0);
    CHECK((t = sd_gguf_find_tensor(g, "t.q8_0")) && t->type == SD_TYPE_Q8_0 && t->n_dims == 4 &&
          t->ne[3] == 2 && t->n_bytes == sizeof d->q8 && memcmp(t->data, d->q8, sizeof d->q8) == 0);
    CHECK((t = sd_gguf_find_tensor(g, "t.empty")) && t->n_bytes == 0 && t->ne[1] == 0);
    CHECK((t = sd_gguf_find_tensor(g, "big")) && t->n_bytes == 300 * 2000 * 4);
    if (t) {
        bool same = true;
        const uint8_t *fb = t->data; /* may be unaligned (alignment 1): read with memcpy */
        for (int64_t r = 0; r < 2000 && same; r++) {
            for (int64_t c = 0; c < 300; c++) {
                float v;
                memcpy(&v, fb + 4 * (r * 300 + c), 4);
                same = same && v == (float)(r * 1000 + c);
            }
        }
        CHECK(same);
    }
}

static void test_round_trip(void) {
    static const uint32_t alignments[] = {0, 32, 64, 1, 4096};
    static const uint32_t versions[] = {3, 3, 2, 3, 3};
    rt_data *d = calloc(1, sizeof *d);
    char err[256] = "";
    for (size_t k = 0; k < SD_ARRAY_LEN(alignments); k++) {
        sd_gguf_writer *w = make_round_trip_writer(d, alignments[k], versions[k]);
        CHECK(w != NULL);
        if (!w) break;
        void *mem = NULL;
        size_t size = 0;
        CHECK_OK(sd_gguf_writer_write_memory(w, &mem, &size, err, sizeof err), err);
        CHECK(size == sd_gguf_writer_size(w));
        CHECK(!d->fill.out_of_order && d->fill.next_row == 2000);
        sd_gguf *g = NULL;
        int rc = sd_gguf_open_memory(mem, size, &g, err, sizeof err);
        CHECK_OK(rc, err);
        if (rc == 0) {
            check_round_trip(g, d, alignments[k], versions[k]);
            CHECK(sd_gguf_file_size(g) == size);
            sd_gguf_close(g);
        }

        /* The same through a file: identical bytes. */
        char path[] = "/tmp/sd_test_gguf_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        if (fd >= 0) {
            close(fd);
            d->fill.next_row = 0;
            CHECK_OK(sd_gguf_writer_write_file(w, path, err, sizeof err), err);
            size_t fsize = 0;
            uint8_t *fbytes = test_read_file(path, &fsize);
            CHECK(fbytes && fsize == size && memcmp(fbytes, mem, size) == 0);
            free(fbytes);
            rc = sd_gguf_open(path, &g, err, sizeof err);
            CHECK_OK(rc, err);
            if (rc == 0) {
                check_round_trip(g, d, alignments[k], versions[k]);
                sd_gguf_close(g);
            }
            unlink(path);
        }
        free(mem);
        sd_gguf_writer_free(w);
    }
    free(d);

    /* A writer with nothing in it makes a valid, empty file. */
    sd_gguf_writer *w = sd_gguf_writer_create();
    void *mem = NULL;
    size_t size = 0;
    CHECK_OK(sd_gguf_writer_write_memory(w, &mem, &size, err, sizeof err), err);
    CHECK(size == 24);
    sd_gguf *g = NULL;
    CHECK_OK(sd_gguf_open_memory(mem, size, &g, err, sizeof err), err);
    if (g) CHECK(sd_gguf_n_kv(g) == 0 && sd_gguf_n_tensors(g) == 0);
    sd_gguf_close(g);
    free(mem);
    sd_gguf_writer_free(w);
}

/* Many keys and tensors: every one found by name, absent names not found (the hash tables grow). */
static void test_many_names(void) {
    enum { N_KV = 3000, N_T = 700 };
    char err[256] = "", name[32];
    float one = 1.0f;
    sd_gguf_writer *w = sd_gguf_writer_create();
    for (int i = 0; i < N_KV; i++) {
        snprintf(name, sizeof name, "key.%d", i);
        CHECK_OK(sd_gguf_writer_add_i32(w, name, i, err, sizeof err), err);
    }
    for (int i = 0; i < N_T; i++) {
        snprintf(name, sizeof name, "blk.%d.w", i);
        CHECK_OK(
            sd_gguf_writer_add_tensor(w, name, SD_TYPE_F32, 1, (const int64_t[]){1}, &one, err, sizeof err),
            err);
    }
    void *mem = NULL;
    size_t size = 0;
    CHECK_OK(sd_gguf_writer_write_memory(w, &mem, &size, err, sizeof err), err);
    sd_gguf_writer_free(w);
    sd_gguf *g = NULL;
    CHECK_OK(sd_gguf_open_memory(mem, size, &g, err, sizeof err), err);
    if (g) {
        int bad = 0;
        for (int i = 0; i < N_KV; i++) {
            int32_t v = -1;
            snprintf(name, sizeof name, "key.%d", i);
            bad += sd_gguf_get_i32(g, name, &v, err, sizeof err) != 1 || v != i;
            snprintf(name, sizeof name, "key.%d", i + N_KV);
            bad += sd_gguf_find_kv(g, name) != NULL;
        }
        for (int i = 0; i < N_T; i++) {
            snprintf(name, sizeof name, "blk.%d.w", i);
            bad += sd_gguf_find_tensor(g, name) != sd_gguf_tensor_at(g, (uint64_t)i);
            snprintf(name, sizeof name, "blk.%d.x", i);
            bad += sd_gguf_find_tensor(g, name) != NULL;
        }
        CHECK(bad == 0);
        sd_gguf_close(g);
    }
    free(mem);
}

static void test_writer_errors(void) {
    char err[256] = "";
    sd_gguf_writer *w = sd_gguf_writer_create();
    float data[64] = {0};
    CHECK_OK(sd_gguf_writer_add_u32(w, "k", 1, err, sizeof err), err);
    CHECK(sd_gguf_writer_add_str(w, "k", "x", err, sizeof err) == SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "duplicate key 'k'"));
    CHECK(sd_gguf_writer_add_u32(w, "general.alignment", 48, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "power of two"));
    CHECK(sd_gguf_writer_add_u32(w, "general.alignment", 0, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_add_arr(w, "a", SD_GGUF_STRING, data, 1, err, sizeof err) ==
          SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_add_arr(w, "a", SD_GGUF_ARRAY, data, 1, err, sizeof err) ==
          SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_set_version(w, 1, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_add_u64(w, "general.alignment", 64, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "must be a u32"));
    CHECK(sd_gguf_writer_add_tensor(w, "0123456789012345678901234567890123456789012345678901234567890123",
                                    SD_TYPE_F32, 1, (const int64_t[]){64}, data, err,
                                    sizeof err) == SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "longer than 63"));
    CHECK_OK(sd_gguf_writer_add_tensor(w, "012345678901234567890123456789012345678901234567890123456789012",
                                       SD_TYPE_F32, 1, (const int64_t[]){64}, data, err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "t", SD_TYPE_F32, 1, (const int64_t[]){64}, data, err, sizeof err),
             err);
    CHECK(sd_gguf_writer_add_tensor(w, "t", SD_TYPE_F32, 1, (const int64_t[]){64}, data, err, sizeof err) ==
              SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "duplicate tensor 't'"));
    CHECK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_Q4_0, 1, (const int64_t[]){33}, data, err, sizeof err) ==
              SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "block size"));
    CHECK(sd_gguf_writer_add_tensor(w, "q", 4, 1, (const int64_t[]){32}, data, err, sizeof err) ==
              SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "unknown type"));
    CHECK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_F32, 5, (const int64_t[]){1, 1, 1, 1, 1}, data, err,
                                    sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_F32, 2, (const int64_t[]){4, -1}, data, err,
                                    sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_F32, 2, (const int64_t[]){INT64_MAX / 2, 4}, data, err,
                                    sizeof err) == SD_STATUS_INVALID_ARGUMENT &&
          strstr(err, "too large"));
    CHECK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_F32, 1, (const int64_t[]){4}, NULL, err, sizeof err) ==
          SD_STATUS_INVALID_ARGUMENT);
    /* A failing fill callback fails the write with its status. */
    CHECK_OK(sd_gguf_writer_add_tensor_fill(w, "f", SD_TYPE_F32, 1, (const int64_t[]){8}, fill_fails, NULL,
                                            err, sizeof err),
             err);
    void *mem = NULL;
    size_t size = 0;
    CHECK(sd_gguf_writer_write_memory(w, &mem, &size, err, sizeof err) == SD_STATUS_INTERNAL && mem == NULL &&
          strstr(err, "'f'"));
    CHECK(sd_gguf_writer_write_file(w, "/nonexistent-dir/x.gguf", err, sizeof err) == SD_STATUS_IO);
    sd_gguf_writer_free(w);
}

/* ---- (c) hostile inputs ---- */

static void expect_fail_status(const gguf_bytes *b, int status, const char *substr, const char *what) {
    char err[256] = "";
    sd_gguf *g = NULL;
    uint8_t *copy = malloc(b->len ? b->len : 1); /* exactly b->len bytes: ASan sees over-reads */
    if (b->len) memcpy(copy, b->p, b->len);
    int rc = sd_gguf_open_memory(copy, b->len, &g, err, sizeof err);
    sd_gguf_close(g);
    free(copy);
    if (rc == 0) {
        fprintf(stderr, "hostile '%s': opened, expected failure with '%s'\n", what, substr);
        test_failures++;
        return;
    }
    if (rc != status || !strstr(err, substr) || !printable(err)) {
        fprintf(stderr, "hostile '%s': status %d (want %d), message '%s' (want '%s')\n", what, rc, status,
                err, substr);
        test_failures++;
    }
}

static void expect_fail(const gguf_bytes *b, const char *substr, const char *what) {
    expect_fail_status(b, SD_STATUS_FORMAT, substr, what);
}

/* Must open: a control for the cases around it. */
static void expect_ok(const gguf_bytes *b, const char *what) {
    char err[256] = "";
    uint8_t *copy = malloc(b->len ? b->len : 1);
    if (b->len) memcpy(copy, b->p, b->len);
    sd_gguf *g = NULL;
    int rc = sd_gguf_open_memory(copy, b->len, &g, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "control '%s' failed to open: %s\n", what, err);
        test_failures++;
    }
    sd_gguf_close(g);
    free(copy);
}

static void test_hostile_header(gguf_bytes *b) {
    b_header(b, 3, 0, 0);
    expect_ok(b, "empty v3 file");
    b_header(b, 2, 0, 0);
    expect_ok(b, "empty v2 file");
    b_header(b, 3, 0, 0);
    memcpy(b->p, "GGUX", 4);
    expect_fail(b, "bad magic (not a GGUF file)", "bad magic");
    b_header(b, 1, 0, 0);
    expect_fail(b, "version 1 is not supported", "version 1");
    b_header(b, 4, 0, 0);
    expect_fail(b, "unsupported GGUF version 4", "version 4");
    b_header(b, 0, 0, 0);
    expect_fail(b, "unsupported GGUF version 0", "version 0");
    b_header(b, 0x03000000u, 0, 0);
    expect_fail(b, "big-endian", "big-endian file");
    b_header(b, 3, 0, 0);
    b->len = 20;
    expect_fail(b, "truncated in header", "truncated header");
    b->len = 3;
    expect_fail(b, "truncated in header", "3-byte file");
    b->len = 0;
    expect_fail(b, "truncated in header", "empty buffer");

    b_header(b, 3, 1ull << 63, 0);
    expect_fail(b, "tensor count 9223372036854775808 is more than the file could hold", "n_tensors 2^63");
    b_header(b, 3, UINT64_MAX, 0);
    expect_fail(b, "tensor count", "n_tensors 2^64-1");
    b_header(b, 3, 0, 1ull << 62);
    expect_fail(b, "key/value count 4611686018427387904 is more than the file could hold", "n_kv 2^62");
    b_header(b, 3, 0, 3);
    b_kv_u32(b, "a", 1);
    b_kv_u32(b, "b", 2);
    expect_fail(b, "key/value count 3 is more", "n_kv one too many");
    b_header(b, 3, 4, 1);
    b_kv_u32(b, "a", 1);
    b_tensor(b, "t", 1, (const uint64_t[]){8}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor count 4 is more", "n_tensors more than the bytes left");
}

static void test_hostile_kv(gguf_bytes *b) {
    /* Key length 2^64-1. */
    b_header(b, 3, 0, 1);
    b_u64(b, UINT64_MAX);
    b_put(b, "abcdefghijklmnop", 16);
    expect_fail(b, "truncated in key/value 0: needs 18446744073709551615 bytes", "key length 2^64-1");
    /* String value length 2^64-1, and one byte too long. */
    b_header(b, 3, 0, 1);
    b_str(b, "s");
    b_u32(b, SD_GGUF_STRING);
    b_u64(b, UINT64_MAX);
    b_put(b, "xyz", 3);
    expect_fail(b, "truncated in key/value 0 ('s')", "string length 2^64-1");
    b->len -= 3 + 8;
    b_u64(b, 4);
    b_put(b, "xyz", 3);
    expect_fail(b, "truncated in key/value 0 ('s'): needs 4 bytes", "string one byte short");
    b->p[b->len - 3 - 8] = 3;
    expect_ok(b, "string exactly fits");

    /* Arrays: huge lengths, nested, unknown element type. */
    b_header(b, 3, 0, 1);
    b_str(b, "arr");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, SD_GGUF_UINT32);
    b_u64(b, 1ull << 62);
    b_u32(b, 1);
    expect_fail(b, "truncated in key/value 0 ('arr'): array of 4611686018427387904 u32", "u32 array 2^62");
    b->p[b->len - 12 + 7] = 0x80; /* length 2^63: elem_size * len overflows u64 */
    expect_fail(b, "array of", "u32 array length overflowing bytes");
    b_header(b, 3, 0, 1);
    b_str(b, "arr");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, SD_GGUF_STRING);
    b_u64(b, UINT64_MAX);
    b_str(b, "a");
    expect_fail(b, "array of 18446744073709551615 strings", "string array 2^64-1");
    b_header(b, 3, 0, 1);
    b_str(b, "arr");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, SD_GGUF_STRING);
    b_u64(b, 3);
    b_str(b, "a");
    b_str(b, "b");
    expect_fail(b, "truncated in key/value 0 ('arr')", "string array one short");
    b_str(b, "c");
    expect_ok(b, "string array exact");
    b_header(b, 3, 0, 1);
    b_str(b, "nest");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, SD_GGUF_ARRAY);
    b_u64(b, 1);
    b_u32(b, SD_GGUF_UINT8);
    b_u64(b, 1);
    b_u8(b, 0);
    expect_fail(b, "key/value 0 ('nest'): nested arrays are not supported", "nested array");
    b_header(b, 3, 0, 1);
    b_str(b, "arr");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, 13);
    b_u64(b, 1);
    b_u64(b, 0);
    expect_fail(b, "unknown array element type 13", "array element type 13");

    /* Unknown value types. */
    static const uint32_t bad_types[] = {13, 0xFFFFFFFFu, 0x80000000u};
    static const char *const bad_msgs[] = {"key/value 0 ('k'): unknown value type 13",
                                           "unknown value type 4294967295", "unknown value type 2147483648"};
    for (size_t i = 0; i < SD_ARRAY_LEN(bad_types); i++) {
        b_header(b, 3, 0, 1);
        b_str(b, "k");
        b_u32(b, bad_types[i]);
        b_u64(b, 0);
        expect_fail(b, bad_msgs[i], bad_msgs[i]);
    }

    /* Bools must be 0 or 1, also inside arrays. */
    b_header(b, 3, 0, 1);
    b_str(b, "flag");
    b_u32(b, SD_GGUF_BOOL);
    b_u8(b, 2);
    expect_fail(b, "key/value 0 ('flag'): bool has value 2", "bool 2");
    b->p[b->len - 1] = 1;
    expect_ok(b, "bool 1");
    b_header(b, 3, 0, 1);
    b_str(b, "flags");
    b_u32(b, SD_GGUF_ARRAY);
    b_u32(b, SD_GGUF_BOOL);
    b_u64(b, 3);
    b_u8(b, 0);
    b_u8(b, 1);
    b_u8(b, 255);
    expect_fail(b, "bool element 2 has value 255", "bool array element 255");

    /* Duplicate keys, also with a key that needs escaping in the message. */
    b_header(b, 3, 0, 3);
    b_kv_u32(b, "a", 1);
    b_kv_u32(b, "b", 1);
    b_kv_u32(b, "a", 2);
    expect_fail(b, "duplicate key 'a' (key/value 2)", "duplicate key");
    b_header(b, 3, 0, 2);
    b_kv_u32(b, "x\x01\xff'y", 1);
    b_kv_u32(b, "x\x01\xff'y", 1);
    expect_fail(b, "duplicate key 'x\\x01\\xff\\x27y'", "duplicate unprintable key");
    b_header(b, 3, 0, 1);
    b_str(b, "k\n\t");
    b_u32(b, 99);
    expect_fail(b, "('k\\x0a\\x09'): unknown value type 99", "escaped key in message");
    /* A very long key is cut in the message. */
    char longkey[400];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    b_header(b, 3, 0, 1);
    b_str(b, longkey);
    b_u32(b, 99);
    expect_fail(b, "kkk...'): unknown value type 99", "long key in message");
}

static void test_hostile_alignment(gguf_bytes *b) {
    static const uint32_t bad[] = {0, 48, 3, 0x80000001u};
    for (size_t i = 0; i < SD_ARRAY_LEN(bad); i++) {
        b_header(b, 3, 0, 1);
        b_kv_u32(b, "general.alignment", bad[i]);
        expect_fail(b, "'general.alignment' is", "alignment not a power of two");
    }
    b_header(b, 3, 0, 1);
    b_str(b, "general.alignment");
    b_u32(b, SD_GGUF_UINT64);
    b_u64(b, 32);
    expect_fail(b, "'general.alignment' has type u64, expected u32", "alignment u64");
    b_header(b, 3, 0, 1);
    b_str(b, "general.alignment");
    b_u32(b, SD_GGUF_STRING);
    b_str(b, "32");
    expect_fail(b, "'general.alignment' has type string", "alignment string");

    /* Alignment 64 must be honoured for tensor offsets: 32 is misaligned, 64 is fine. */
    b_header(b, 3, 2, 1);
    b_kv_u32(b, "general.alignment", 64);
    b_tensor(b, "a", 1, (const uint64_t[]){8}, SD_TYPE_F32, 0);
    b_tensor(b, "b", 1, (const uint64_t[]){8}, SD_TYPE_F32, 32);
    b_data(b, 64, 128);
    expect_fail(b, "tensor 'b' offset 32 is not a multiple of the alignment 64", "offset misaligned for 64");
    b_header(b, 3, 2, 1);
    b_kv_u32(b, "general.alignment", 64);
    b_tensor(b, "a", 1, (const uint64_t[]){8}, SD_TYPE_F32, 0);
    b_tensor(b, "b", 1, (const uint64_t[]){8}, SD_TYPE_F32, 64);
    b_data(b, 64, 128);
    expect_ok(b, "alignment 64");
    /* ... and for the data section start: a file whose metadata ends at 32 mod 64, padded only to 32,
     * is short by 32 bytes once the data section starts at the next multiple of 64. */
    static const char pad[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for (size_t n = 0; n < 64; n++) {
        b_header(b, 3, 1, 2);
        b_kv_u32(b, "general.alignment", 64);
        b_str(b, "pad");
        b_u32(b, SD_GGUF_STRING);
        b_u64(b, n);
        b_put(b, pad, n);
        b_tensor(b, "a", 1, (const uint64_t[]){8}, SD_TYPE_F32, 0);
        if ((b->len + 31) / 32 * 32 % 64 == 32) break;
    }
    size_t infos_end = b->len;
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'a' extends past end of file", "data start must honour alignment 64");
    b->len = infos_end;
    b_data(b, 64, 32);
    expect_ok(b, "padded to 64");
}

static void test_hostile_tensors(gguf_bytes *b) {
    const uint64_t ne8[] = {8};
    /* The control: two tensors, 32 bytes each, back to back. */
    b_header(b, 3, 2, 0);
    b_tensor(b, "a", 1, ne8, SD_TYPE_F32, 0);
    b_tensor(b, "b", 1, ne8, SD_TYPE_F32, 32);
    b_data(b, 32, 64);
    expect_ok(b, "two tensors");
    b->len -= 1;
    expect_fail(b, "tensor 'b' extends past end of file", "last tensor one byte short");

    b_header(b, 3, 1, 0);
    b_tensor(b, "t", 0, ne8, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 't' has 0 dimensions", "n_dims 0");
    b_header(b, 3, 1, 0);
    b_tensor(b, "t", 5, (const uint64_t[]){1, 1, 1, 1, 1}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 't' has 5 dimensions", "n_dims 5");
    b_header(b, 3, 1, 0);
    b_tensor(b, "t", 0xFFFFFFFFu, NULL, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "has 4294967295 dimensions", "n_dims 2^32-1");

    b_header(b, 3, 1, 0);
    b_tensor(b, "big", 2, (const uint64_t[]){1ull << 32, 1ull << 32}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'big' has too many elements", "dims product overflows int64");
    b_header(b, 3, 1, 0);
    b_tensor(b, "big", 4, (const uint64_t[]){1ull << 16, 1ull << 16, 1ull << 16, 1ull << 16}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'big' has too many elements", "4-d product overflows");
    b_header(b, 3, 1, 0);
    b_tensor(b, "big", 2, (const uint64_t[]){1ull << 31, 1ull << 31}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'big' is too large", "byte size overflows int64");
    b_header(b, 3, 1, 0);
    b_tensor(b, "big", 2, (const uint64_t[]){1ull << 20, 1ull << 20}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'big' extends past end of file", "4 TiB tensor");
    b_header(b, 3, 1, 0);
    b_tensor(b, "neg", 2, (const uint64_t[]){8, (uint64_t)-1}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'neg' has negative dimension 1", "negative dim");
    b_header(b, 3, 1, 0);
    b_tensor(b, "neg", 1, (const uint64_t[]){1ull << 63}, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_fail(b, "negative dimension 0", "dim 2^63");
    b_header(b, 3, 1, 0);
    b_tensor(b, "q", 2, (const uint64_t[]){33, 1}, SD_TYPE_Q4_0, 0);
    b_data(b, 32, 64);
    expect_fail(b, "tensor 'q': ne[0] = 33 is not a multiple of the q4_0 block size 32", "ne0 % block");
    b_header(b, 3, 1, 0);
    b_tensor(b, "q", 1, (const uint64_t[]){128}, SD_TYPE_Q4_K, 0);
    b_data(b, 32, 256);
    expect_fail(b, "q4_K block size 256", "ne0 % 256");
    b_header(b, 3, 1, 0);
    b_tensor(b, "q", 1, (const uint64_t[]){32}, SD_TYPE_Q4_0, 0);
    b_data(b, 32, 18);
    expect_ok(b, "one q4_0 block");
    static const uint32_t bad_types[] = {4, 5, 31, 40, 0xFFFFFFFFu};
    for (size_t i = 0; i < SD_ARRAY_LEN(bad_types); i++) {
        b_header(b, 3, 1, 0);
        b_tensor(b, "u", 1, ne8, bad_types[i], 0);
        b_data(b, 32, 32);
        expect_fail(b, "tensor 'u' has unknown type", "unknown tensor type");
    }

    b_header(b, 3, 1, 0);
    b_tensor(b, "m", 1, ne8, SD_TYPE_F32, 16);
    b_data(b, 32, 64);
    expect_fail(b, "tensor 'm' offset 16 is not a multiple of the alignment 32", "misaligned offset");
    b_header(b, 3, 1, 0);
    b_tensor(b, "p", 1, ne8, SD_TYPE_F32, 32);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'p' extends past end of file", "tensor past end");
    b_header(b, 3, 1, 0);
    b_tensor(b, "p", 1, ne8, SD_TYPE_F32, UINT64_MAX - 31);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'p' extends past end of file", "offset near 2^64");
    b_header(b, 3, 1, 0);
    b_tensor(b, "p", 1, (const uint64_t[]){0}, SD_TYPE_F32, 64);
    b_data(b, 32, 32);
    expect_fail(b, "tensor 'p' extends past end of file", "empty tensor past end");
    b_header(b, 3, 1, 0);
    b_tensor(b, "p", 1, ne8, SD_TYPE_F32, 0);
    expect_fail(b, "tensor 'p' extends past end of file", "no data section at all");

    b_header(b, 3, 2, 0);
    b_tensor(b, "a", 1, (const uint64_t[]){16}, SD_TYPE_F32, 0);
    b_tensor(b, "b", 1, ne8, SD_TYPE_F32, 32);
    b_data(b, 32, 96);
    expect_fail(b, "tensors 'a' and 'b' overlap", "overlapping tensors");
    b_header(b, 3, 3, 0);
    b_tensor(b, "c", 1, ne8, SD_TYPE_F32, 64);
    b_tensor(b, "a", 1, ne8, SD_TYPE_F32, 0);
    b_tensor(b, "b", 1, ne8, SD_TYPE_F32, 64);
    b_data(b, 32, 96);
    expect_fail(b, "overlap", "same offset, listed out of order");
    b_header(b, 3, 2, 0);
    b_tensor(b, "z", 1, (const uint64_t[]){0}, SD_TYPE_F32, 0);
    b_tensor(b, "a", 1, ne8, SD_TYPE_F32, 0);
    b_data(b, 32, 32);
    expect_ok(b, "an empty tensor may share an offset");

    b_header(b, 3, 2, 0);
    b_tensor(b, "blk.0.w", 1, ne8, SD_TYPE_F32, 0);
    b_tensor(b, "blk.0.w", 1, ne8, SD_TYPE_F32, 32);
    b_data(b, 32, 64);
    expect_fail(b, "duplicate tensor name 'blk.0.w' (tensor 1)", "duplicate tensor names");
    b_header(b, 3, 1, 0);
    b_u64(b, 4);
    b_put(b, "t\x1b[m", 4);
    b_u32(b, 1);
    b_u64(b, 8);
    b_u32(b, SD_TYPE_F32);
    b_u64(b, 0);
    b_data(b, 32, 0);
    expect_fail(b, "tensor 't\\x1b[m' extends past end of file", "escape sequence in tensor name");
    b_header(b, 3, 1, 0);
    b_u64(b, 1ull << 40);
    b_put(b, "name0123456789012345678901234567890123456789", 44);
    expect_fail(b, "truncated in tensor info 0", "tensor name length 2^40");
    b_header(b, 3, 1, 0);
    b_str(b, "t");
    b_u32(b, 2);
    b_u64(b, 8);
    b_u64(b, 8);
    b_u32(b, 0);
    expect_fail(b, "truncated in tensor info 0 ('t')", "tensor info cut before offset");
}

static void test_hostile_paths(void) {
    char err[256] = "";
    sd_gguf *g = (sd_gguf *)&err; /* must be reset to NULL on failure */
    CHECK(sd_gguf_open("/nonexistent/dir/model.gguf", &g, err, sizeof err) == SD_STATUS_IO && g == NULL);
    CHECK(strstr(err, "cannot open '/nonexistent/dir/model.gguf'") != NULL);
    CHECK(sd_gguf_open("/tmp", &g, err, sizeof err) == SD_STATUS_IO && strstr(err, "is a directory"));
    char path[] = "/tmp/sd_test_gguf_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    CHECK(sd_gguf_open(path, &g, err, sizeof err) == SD_STATUS_IO && strstr(err, "is empty"));
    /* Real file I/O path for a bad file: a format error, not an I/O one. */
    CHECK(test_write_file(path, "GGUF\x01\0\0\0", 8));
    CHECK(sd_gguf_open(path, &g, err, sizeof err) == SD_STATUS_FORMAT && strstr(err, "version 1"));
    /* A FIFO must be refused at once, not block waiting for a writer. */
    CHECK(unlink(path) == 0 && mkfifo(path, 0600) == 0);
    CHECK(sd_gguf_open(path, &g, err, sizeof err) == SD_STATUS_IO && strstr(err, "not a regular file"));
    unlink(path);
    /* Unprintable bytes in a path are escaped in the message. */
    CHECK(sd_gguf_open("/nonexistent/\x1b[31mred", &g, err, sizeof err) == SD_STATUS_IO &&
          strstr(err, "'/nonexistent/\\x1b[31mred'") && printable(err));
    CHECK(sd_gguf_open(NULL, &g, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_open_memory(NULL, 10, &g, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT);
    CHECK(sd_gguf_open_memory("GGUF", 4, &g, NULL, 0) == SD_STATUS_FORMAT); /* err may be NULL */
    char tiny[8];
    CHECK(sd_gguf_open_memory("GGUX\3\0\0\0", 8, &g, tiny, sizeof tiny) == SD_STATUS_FORMAT &&
          strcmp(tiny, "bad mag") == 0);
}

/* Truncation of stories260K at every offset of its header (and some inside the data): each must fail. */
static void test_truncation(const char *models) {
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/stories260K.gguf", models);
    size_t size = 0;
    uint8_t *file = test_read_file(path, &size);
    CHECK(file != NULL);
    if (!file) return;
    sd_gguf *g = NULL;
    if (sd_gguf_open_memory(file, size, &g, err, sizeof err) != 0) {
        fprintf(stderr, "stories260K from memory: %s\n", err);
        test_failures++;
        free(file);
        return;
    }
    uint64_t data_start = sd_gguf_data_offset(g);
    /* Where tokenizer.ggml.tokens starts, to check the message names it. */
    const sd_gguf_kv *tok = sd_gguf_find_kv(g, "tokenizer.ggml.tokens");
    uint64_t tok_at = tok ? (uint64_t)((const uint8_t *)tok->key.ptr - file) : 0;
    uint64_t tok_index = 0;
    while (tok && sd_gguf_kv_at(g, tok_index) != tok)
        tok_index++;
    sd_gguf_close(g);
    CHECK(tok != NULL && data_start > 4096 && data_start < size);

    int bad = 0;
    for (uint64_t len = 0; len <= data_start + 64 && len < size; len++) {
        /* Exactly len bytes so that ASan catches a read past the end. */
        uint8_t *exact = malloc(len ? (size_t)len : 1);
        memcpy(exact, file, (size_t)len);
        int rc = sd_gguf_open_memory(exact, (size_t)len, &g, err, sizeof err);
        bool msg_ok = strstr(err, "truncated in ") || strstr(err, "more than the file could hold") ||
                      strstr(err, "extends past end of file");
        if (rc != SD_STATUS_FORMAT || !msg_ok || !printable(err)) {
            if (bad++ < 5) fprintf(stderr, "truncated at %" PRIu64 ": status %d, '%s'\n", len, rc, err);
            test_failures++;
        }
        if (rc == 0) sd_gguf_close(g);
        if (len == tok_at + 2000) {
            char want[64];
            snprintf(want, sizeof want, "truncated in key/value %" PRIu64 " ('tokenizer.ggml.tokens')",
                     tok_index);
            if (!strstr(err, want)) {
                fprintf(stderr, "truncated at %" PRIu64 ": '%s', want '%s'\n", len, err, want);
                test_failures++;
            }
        }
        free(exact);
    }
    /* Inside the data: every tensor's end, minus one byte, is an error naming a tensor. */
    uint64_t cuts[] = {data_start + 1000, size / 2, size - 4096, size - 1};
    for (size_t i = 0; i < SD_ARRAY_LEN(cuts); i++) {
        int rc = sd_gguf_open_memory(file, (size_t)cuts[i], &g, err, sizeof err);
        CHECK(rc == SD_STATUS_FORMAT && strstr(err, "extends past end of file"));
        if (rc == 0) sd_gguf_close(g);
    }
    for (uint64_t len = data_start + 4; len < size; len += 4099) {
        int rc = sd_gguf_open_memory(file, (size_t)len, &g, err, sizeof err);
        CHECK(rc == SD_STATUS_FORMAT && strstr(err, "extends past end of file"));
        if (rc == 0) sd_gguf_close(g);
    }
    /* Through the file path too (mmap), at a few offsets. */
    char tpath[] = "/tmp/sd_test_gguf_XXXXXX";
    int fd = mkstemp(tpath);
    if (fd >= 0) {
        close(fd);
        uint64_t file_cuts[] = {10, 100, tok_at + 2000, data_start, size - 1};
        for (size_t i = 0; i < SD_ARRAY_LEN(file_cuts); i++) {
            CHECK(test_write_file(tpath, file, (size_t)file_cuts[i]));
            int rc = sd_gguf_open(tpath, &g, err, sizeof err);
            CHECK(rc == SD_STATUS_FORMAT);
            if (rc == 0) sd_gguf_close(g);
        }
        unlink(tpath);
    }
    free(file);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Seeded random corruption of a small writer-made file. */
static void test_corruption(void) {
    char err[256] = "";
    sd_gguf_writer *w = sd_gguf_writer_create();
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "a", "bb", "ccc"};
    static const float scores[] = {0, 0, 0, -1, -2, -3};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1};
    static const bool flags[] = {true, false};
    float f32[4 * 3];
    sd_block_q8_0 q8[2];
    memset(q8, 0x11, sizeof q8);
    for (int i = 0; i < 12; i++)
        f32[i] = (float)i;
    CHECK_OK(sd_gguf_writer_add_str(w, "general.architecture", "llama", err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u32(w, "general.alignment", 16, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_u32(w, "llama.embedding_length", 4, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_f32(w, "llama.eps", 1e-5f, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_bool(w, "flag", true, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_i64(w, "i64", -7, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", toks, 6, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "tokenizer.ggml.scores", SD_GGUF_FLOAT32, scores, 6, err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", SD_GGUF_INT32, types, 6, err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_arr(w, "flags", SD_GGUF_BOOL, flags, 2, err, sizeof err), err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "token_embd.weight", SD_TYPE_F32, 2, (const int64_t[]){4, 3}, f32,
                                       err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "q", SD_TYPE_Q8_0, 1, (const int64_t[]){64}, q8, err, sizeof err),
             err);
    CHECK_OK(sd_gguf_writer_add_tensor(w, "norm", SD_TYPE_F32, 1, (const int64_t[]){4}, f32, err, sizeof err),
             err);
    uint8_t *base = NULL;
    size_t size = 0;
    CHECK_OK(sd_gguf_writer_write_memory(w, (void **)&base, &size, err, sizeof err), err);
    sd_gguf_writer_free(w);
    if (!base) return;
    sd_gguf *g = NULL;
    CHECK_OK(sd_gguf_open_memory(base, size, &g, err, sizeof err), err);
    if (!g) {
        free(base);
        return;
    }
    size_t header = (size_t)sd_gguf_data_offset(g);
    sd_gguf_close(g);

    static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0c,
                                          0x0d, 0x10, 0x1f, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int opened = 0, refused = 0;
    for (int iter = 0; iter < 4000; iter++) {
        uint8_t *m = malloc(size);
        memcpy(m, base, size);
        int n_edits = 1 + (int)(rng_next(&seed) % 3);
        for (int e = 0; e < n_edits; e++) {
            uint64_t r = rng_next(&seed);
            /* Mostly the header and metadata: that is where the parser's decisions are. */
            size_t at = (r & 15) ? (size_t)((r >> 8) % header) : (size_t)((r >> 8) % size);
            int kind = (int)((r >> 4) % 4);
            int span = kind == 0 ? 1 : kind == 1 ? 2 : kind == 2 ? 4 : 8;
            for (int k = 0; k < span && at + (size_t)k < size; k++) {
                uint64_t v = rng_next(&seed);
                m[at + (size_t)k] = (v & 1) ? (uint8_t)(v >> 8) : interesting[(v >> 8) % sizeof interesting];
            }
        }
        /* Sometimes also cut the file short. */
        size_t len = size;
        if (rng_next(&seed) % 8 == 0) len = (size_t)(rng_next(&seed) % size);
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, m, len);
        free(m);
        err[0] = '\0';
        int rc = sd_gguf_open_memory(exact, len, &g, err, sizeof err);
        if (rc == 0) {
            opened++;
            gguf_walk(g, &test_failures);
            sd_gguf_close(g);
        } else {
            refused++;
            if (rc != SD_STATUS_FORMAT || err[0] == '\0' || !printable(err)) {
                fprintf(stderr, "corruption %d: status %d, message '%s'\n", iter, rc, err);
                test_failures++;
            }
        }
        free(exact);
    }
    /* Both outcomes must occur, or the corruption is not exercising anything. */
    CHECK(opened > 50 && refused > 1000);
    printf("corruption: %d opened, %d refused\n", opened, refused);
    free(base);
}

int main(void) {
    const char *models = test_env_or("SD_MODELS_DIR", "models");
    const char *data = test_env_or("SD_TEST_DATA", "tests/data");
    gguf_bytes b = {0};
    test_stories(models);
    test_bundled_files(models, data);
    test_round_trip();
    test_many_names();
    test_writer_errors();
    test_hostile_header(&b);
    test_hostile_kv(&b);
    test_hostile_alignment(&b);
    test_hostile_tensors(&b);
    test_hostile_paths();
    test_truncation(models);
    test_corruption();
    free(b.p);
    return test_finish("gguf");
}
