/* Hostile inputs through the public API (and the CLI where that is the natural surface): corrupt and
 * truncated GGUF files, files missing what a model needs, unsupported contents, odd prompts, mismatched
 * models, unreadable paths, impossible contexts and long reuse. Each must give a clear error (the right
 * status and a message naming the problem) or a defined behaviour, never a crash. The catalogue of these
 * cases is docs/HOSTILE_INPUTS.md.
 *
 * Usage: test_hostile SPECDEC_CLI (SD_MODELS_DIR set). Corrupt files are made in a temporary folder:
 * byte patches of stories260K.gguf at offsets a small walker finds, and rewrites through the GGUF writer
 * that leave out or change one item. */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/sd_common.h"
#include "common/sd_weight_type.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "specdec.h"
#include "test_util.h"
#include "tests/test_gguf_util.h"

static char tmp_dir[256];
static const char *cli_path;

/* ---- files ------------------------------------------------------------------------------------------ */

/* Writes data to tmp_dir/name and returns the path (static storage, 4 slots). */
static const char *write_tmp(const char *name, const void *data, size_t len) {
    static char paths[4][512];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", tmp_dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(2);
    }
    return p;
}

/* ---- loading and expecting ------------------------------------------------------------------------- */

static bool contains_ci(const char *s, const char *needle) {
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0) return true;
    return false;
}

/* A message must be one non-empty line without control bytes (token texts in it may be UTF-8). */
static bool one_line(const char *s) {
    if (!s[0]) return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f) return false;
    return true;
}

/* Loads path and expects status `want` with a message that contains `needle` (NULL: any message). */
static void expect_load(const char *what, const char *path, int want, const char *needle) {
    char err[512] = "";
    sd_model *m = NULL;
    int rc = sd_model_load(path, &m, err, sizeof err);
    CHECK(rc == want, "%s: sd_model_load returned %d (%s), expected %d (%s): %s", what, rc,
          sd_status_name(rc), want, sd_status_name(want), err);
    CHECK(rc == SD_OK || m == NULL, "%s: a failed load returned a model", what);
    if (rc != SD_OK) {
        CHECK(one_line(err), "%s: message is not one printable line: '%s'", what, err);
        if (needle) CHECK(contains_ci(err, needle), "%s: message '%s' does not name '%s'", what, err, needle);
    }
    printf("  %-44s -> %s: %s\n", what, sd_status_name(rc), rc ? err : "(loaded)");
    sd_model_free(m);
}

/* Copies the model, applies patch(buf, layout, arg), loads it and expects want/needle. */
typedef void (*patch_fn)(uint8_t *d, const gguf_layout *L, size_t len);

static void expect_patched(const char *what, const uint8_t *orig, size_t len, const gguf_layout *L,
                           patch_fn patch, int want, const char *needle) {
    uint8_t *d = malloc(len);
    memcpy(d, orig, len);
    patch(d, L, len);
    expect_load(what, write_tmp("patched.gguf", d, len), want, needle);
    /* The same bytes from memory, in an exact-size buffer (ASan sees any read past the end). */
    sd_gguf *g = NULL;
    char err[256] = "";
    if (sd_gguf_open_memory(d, len, &g, err, sizeof err) == 0) sd_gguf_close(g);
    free(d);
}

/* ---- 1. truncation at every section boundary -------------------------------------------------------- */

static void check_truncations(const uint8_t *d, size_t len, const gguf_layout *L) {
    const sd_gguf_tensor *t0 = NULL;
    sd_gguf *g = NULL;
    char err[256];
    CHECK(sd_gguf_open_memory(d, len, &g, err, sizeof err) == 0, "%s", err);
    if (!g) return;
    CHECK(sd_gguf_data_offset(g) == L->data_start,
          "walker and reader disagree on the data start (%zu vs %llu)", L->data_start,
          (unsigned long long)sd_gguf_data_offset(g));
    t0 = sd_gguf_tensor_at(g, 0);
    size_t mid_tensor = L->data_start + (size_t)t0->offset + (size_t)t0->n_bytes / 2;
    sd_gguf_close(g);
    struct {
        const char *name;
        size_t at;
    } cuts[] = {
        {"empty file", 0},
        {"magic only", 4},
        {"mid header", 12},
        {"header end", 24},
        {"mid first key", L->kv_key[0] + 10},
        {"mid kv section", (24 + L->kv_end) / 2},
        {"kv section end", L->kv_end},
        {"mid tensor infos", (L->kv_end + L->tinfo_end) / 2},
        {"tensor infos end", L->tinfo_end},
        {"data start", L->data_start},
        {"mid first tensor", mid_tensor},
        {"one byte short", len - 1},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "truncated: %s (%zu bytes)", cuts[i].name, cuts[i].at);
        /* An empty file is an I/O error (nothing to map); any other cut a format error. */
        expect_load(what, write_tmp("truncated.gguf", d, cuts[i].at), cuts[i].at ? SD_ERR_FORMAT : SD_ERR_IO,
                    NULL);
        uint8_t *exact = malloc(cuts[i].at ? cuts[i].at : 1);
        memcpy(exact, d, cuts[i].at);
        g = NULL;
        int rc = sd_gguf_open_memory(exact, cuts[i].at, &g, err, sizeof err);
        CHECK(rc < 0 && g == NULL, "%s: the reader accepted it from memory", what);
        sd_gguf_close(g);
        free(exact);
    }
}

/* ---- 2. byte patches -------------------------------------------------------------------------------- */

static void p_offset_past_end(uint8_t *d, const gguf_layout *L, size_t len) {
    wr64(d + t_offset(L, L->n_tensors - 1), len);
}
static void p_offset_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr64(d + t_offset(L, 0), UINT64_MAX - 16);
}
static void p_overlap(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len; /* tensor 1 starts where tensor 0 does */
    wr64(d + t_offset(L, 1), rd64(d + t_offset(L, 0)));
}
static void p_misaligned(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr64(d + t_offset(L, 1), rd64(d + t_offset(L, 1)) + 4);
}
static void p_ndims5(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr32(d + L->t_ndims[0], 5);
}
static void p_ndims0(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr32(d + L->t_ndims[0], 0);
}
static void p_dims_overflow(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len; /* a 2-D tensor: 2^32 * 2^32 elements wraps a 64-bit product to 0 */
    int i = 0;
    while (i < L->n_tensors && L->t_n_dims[i] < 2)
        i++;
    wr64(d + t_ne(L, i, 0), (uint64_t)1 << 32);
    wr64(d + t_ne(L, i, 1), (uint64_t)1 << 32);
}
static void p_dim_negative(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr64(d + t_ne(L, 0, 0), (uint64_t)-64);
}
static void p_type_unknown_tensor(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr32(d + t_type(L, 0), 4); /* ggml type 4 (old Q4_2) no longer exists */
}
static void p_key_len_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr64(d + L->kv_key[0], UINT64_MAX); /* -1 as a signed length */
}
static void p_key_len_2_63(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr64(d + L->kv_key[0], (uint64_t)1 << 63);
}
static void p_str_value_len_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    int i = find_item(d, L->kv_key, L->n_kv, "general.architecture");
    wr64(d + L->kv_value[i], UINT64_MAX - 7);
}
static void p_token_len_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len; /* the second string of tokenizer.ggml.tokens */
    int i = find_item(d, L->kv_key, L->n_kv, "tokenizer.ggml.tokens");
    size_t o = L->kv_value[i] + 12;
    o += 8 + rd64(d + o);
    wr64(d + o, (uint64_t)INT64_MAX);
}
static void p_array_len_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    int i = find_item(d, L->kv_key, L->n_kv, "tokenizer.ggml.scores");
    wr64(d + L->kv_value[i] + 4, (uint64_t)1 << 61); /* * 4 bytes wraps to 0 in 64 bits */
}
static void p_value_type_13(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr32(d + L->kv_type[0], 13);
}
static void p_value_type_max(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    wr32(d + L->kv_type[0], UINT32_MAX);
}
static void p_array_elem_type_unknown(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    int i = find_item(d, L->kv_key, L->n_kv, "tokenizer.ggml.tokens");
    wr32(d + L->kv_value[i], 77);
}
static void p_nested_array(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len;
    int i = find_item(d, L->kv_key, L->n_kv, "tokenizer.ggml.scores");
    wr32(d + L->kv_value[i], SD_GGUF_ARRAY);
}
static void p_dup_tensor(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len; /* blk.0.attn_k.weight renamed blk.0.attn_q.weight (same length) */
    int k = find_item(d, L->t_name, L->n_tensors, "blk.0.attn_k.weight");
    memcpy(d + L->t_name[k] + 8, "blk.0.attn_q.weight", 19);
}
static void p_dup_key(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)len; /* the first two keys of equal length get the same name */
    for (int i = 0; i < L->n_kv; i++) {
        for (int j = i + 1; j < L->n_kv; j++) {
            uint64_t n = rd64(d + L->kv_key[i]);
            if (rd64(d + L->kv_key[j]) == n) {
                memcpy(d + L->kv_key[j] + 8, d + L->kv_key[i] + 8, n);
                return;
            }
        }
    }
}
static void p_bad_magic(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)L, (void)len;
    memcpy(d, "GGML", 4);
}
static void p_version_99(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)L, (void)len;
    wr32(d + 4, 99);
}
static void p_n_tensors_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)L, (void)len;
    wr64(d + 8, (uint64_t)1 << 62);
}
static void p_n_kv_huge(uint8_t *d, const gguf_layout *L, size_t len) {
    (void)L, (void)len;
    wr64(d + 16, UINT64_MAX);
}

static void check_patches(const uint8_t *d, size_t len, const gguf_layout *L) {
    static const struct {
        const char *what;
        patch_fn fn;
        int want;
        const char *needle;
    } cases[] = {
        {"bad magic", p_bad_magic, SD_ERR_FORMAT, NULL},
        {"GGUF version 99", p_version_99, SD_ERR_FORMAT, "version"},
        {"tensor count 2^62", p_n_tensors_huge, SD_ERR_FORMAT, NULL},
        {"kv count 2^64-1", p_n_kv_huge, SD_ERR_FORMAT, NULL},
        {"tensor data past the end", p_offset_past_end, SD_ERR_FORMAT, "extends past end"},
        {"tensor offset near 2^64", p_offset_huge, SD_ERR_FORMAT, "token_embd.weight"},
        {"tensor data overlapping", p_overlap, SD_ERR_FORMAT, "overlap"},
        {"tensor offset misaligned", p_misaligned, SD_ERR_FORMAT, NULL},
        {"n_dims = 5", p_ndims5, SD_ERR_FORMAT, "5 dimensions"},
        {"n_dims = 0", p_ndims0, SD_ERR_FORMAT, "token_embd.weight"},
        {"dims product overflows", p_dims_overflow, SD_ERR_FORMAT, "overflow"},
        {"negative dimension", p_dim_negative, SD_ERR_FORMAT, "token_embd.weight"},
        {"unknown tensor type", p_type_unknown_tensor, SD_ERR_FORMAT, "token_embd.weight"},
        {"key length 2^64-1", p_key_len_huge, SD_ERR_FORMAT, NULL},
        {"key length 2^63", p_key_len_2_63, SD_ERR_FORMAT, NULL},
        {"string value length 2^64-8", p_str_value_len_huge, SD_ERR_FORMAT, "general.architecture"},
        {"token string length 2^63-1", p_token_len_huge, SD_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {"array length 2^61 (bytes wrap)", p_array_len_huge, SD_ERR_FORMAT, "tokenizer.ggml.scores"},
        {"value type 13", p_value_type_13, SD_ERR_FORMAT, "type"},
        {"value type 2^32-1", p_value_type_max, SD_ERR_FORMAT, "type"},
        {"array element type 77", p_array_elem_type_unknown, SD_ERR_FORMAT, "tokenizer.ggml.tokens"},
        {"nested array", p_nested_array, SD_ERR_FORMAT, "tokenizer.ggml.scores"},
        {"duplicate tensor name", p_dup_tensor, SD_ERR_FORMAT, "blk.0.attn_q.weight"},
        {"duplicate key", p_dup_key, SD_ERR_FORMAT, "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_patched(cases[i].what, d, len, L, cases[i].fn, cases[i].want, cases[i].needle);
}

/* ---- 3. rewrites through the GGUF writer ------------------------------------------------------------- */

typedef struct rewrite {
    const char *drop_key;
    const char *drop_tensor;
    const char *arch;       /* new general.architecture */
    const char *iq2_tensor; /* written as IQ2_XXS zeros instead (a type specdec refuses) */
    uint64_t shrink_vocab;  /* > 0: tokenizer arrays of the vocabulary's length cut to this length */
} rewrite;

static int fill_zero(void *ctx, int64_t row_begin, int64_t n_rows, void *dst) {
    (void)row_begin;
    memset(dst, 0, (size_t)n_rows * *(size_t *)ctx);
    return 0;
}

/* Copies one key/value of the source, with rw's changes to the architecture and the vocabulary arrays. */
static int copy_kv(sd_gguf_writer *w, const sd_gguf_kv *kv, const char *key, const rewrite *rw,
                   uint64_t n_vocab, char *err, size_t el) {
    if (kv->type == SD_GGUF_STRING && rw->arch && strcmp(key, "general.architecture") == 0)
        return sd_gguf_writer_add_str(w, key, rw->arch, err, el);
    if (kv->type == SD_GGUF_ARRAY && rw->shrink_vocab && kv->arr_len == n_vocab &&
        strncmp(key, "tokenizer.ggml.", 15) == 0) {
        if (kv->arr_type == SD_GGUF_STRING)
            return sd_gguf_writer_add_strn_arr(w, key, kv->arr_strs, rw->shrink_vocab, err, el);
        return sd_gguf_writer_add_arr(w, key, kv->arr_type, kv->arr_data, rw->shrink_vocab, err, el);
    }
    return sd_gguf_writer_add_kv(w, key, kv, err, el);
}

/* Rewrites the model at src through the writer with rw applied; returns the new file's path or NULL. */
static const char *rewrite_model(const char *src, const char *name, const rewrite *rw) {
    char err[256] = "";
    sd_gguf *g = NULL;
    if (sd_gguf_open(src, &g, err, sizeof err) != 0) {
        CHECK(0, "cannot open %s: %s", src, err);
        return NULL;
    }
    sd_gguf_writer *w = sd_gguf_writer_create();
    const sd_gguf_kv *tokens = sd_gguf_find_kv(g, "tokenizer.ggml.tokens");
    uint64_t n_vocab = tokens ? tokens->arr_len : 0;
    int rc = 0;
    char name_buf[128];
    size_t iq2_row_bytes = 0;
    for (uint64_t i = 0; rc >= 0 && i < sd_gguf_n_kv(g); i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        snprintf(name_buf, sizeof name_buf, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (rw->drop_key && strcmp(name_buf, rw->drop_key) == 0) continue;
        rc = copy_kv(w, kv, name_buf, rw, n_vocab, err, sizeof err);
    }
    for (uint64_t i = 0; rc >= 0 && i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        snprintf(name_buf, sizeof name_buf, "%.*s", (int)t->name.len, t->name.ptr);
        if (rw->drop_tensor && strcmp(name_buf, rw->drop_tensor) == 0) continue;
        if (rw->iq2_tensor && strcmp(name_buf, rw->iq2_tensor) == 0) {
            iq2_row_bytes = sd_type_row_bytes(SD_TYPE_IQ2_XXS, t->ne[0]);
            rc = sd_gguf_writer_add_tensor_fill(w, name_buf, SD_TYPE_IQ2_XXS, t->n_dims, t->ne, fill_zero,
                                                &iq2_row_bytes, err, sizeof err);
        } else {
            rc = sd_gguf_writer_add_tensor(w, name_buf, t->type, t->n_dims, t->ne, t->data, err, sizeof err);
        }
    }
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    if (rc >= 0) rc = sd_gguf_writer_write_file(w, path, err, sizeof err);
    sd_gguf_writer_free(w);
    sd_gguf_close(g);
    CHECK(rc >= 0, "rewriting %s as %s: %s", src, name, err);
    return rc >= 0 ? path : NULL;
}

static void check_rewrites(const char *stories, const char *codepair) {
    /* The unchanged rewrite loads: the writer copy is faithful, so each failure below is the item's. */
    const char *p = rewrite_model(stories, "same.gguf", &(rewrite){0});
    if (p) expect_load("rewritten unchanged", p, SD_OK, NULL);
    if ((p = rewrite_model(stories, "no_attn_q.gguf", &(rewrite){.drop_tensor = "blk.0.attn_q.weight"})))
        expect_load("missing tensor blk.0.attn_q.weight", p, SD_ERR_FORMAT, "blk.0.attn_q.weight");
    if ((p = rewrite_model(stories, "no_blocks.gguf", &(rewrite){.drop_key = "llama.block_count"})))
        expect_load("missing key llama.block_count", p, SD_ERR_FORMAT, "llama.block_count");
    if ((p = rewrite_model(stories, "no_tokens.gguf", &(rewrite){.drop_key = "tokenizer.ggml.tokens"})))
        expect_load("missing key tokenizer.ggml.tokens", p, SD_ERR_FORMAT, "tokenizer.ggml.tokens");
    if ((p = rewrite_model(stories, "no_arch.gguf", &(rewrite){.drop_key = "general.architecture"})))
        expect_load("missing key general.architecture", p, SD_ERR_FORMAT, "general.architecture");
    if ((p = rewrite_model(stories, "small_vocab.gguf", &(rewrite){.shrink_vocab = 500})))
        expect_load("vocabulary 500 vs embedding 512 rows", p, SD_ERR_FORMAT, "token_embd.weight");
    if ((p = rewrite_model(stories, "mamba.gguf", &(rewrite){.arch = "mamba"})))
        expect_load("architecture 'mamba'", p, SD_ERR_UNSUPPORTED, "mamba");
    /* IQ2_XXS needs rows of 256: the codepair target is 256 wide. */
    if ((p = rewrite_model(codepair, "iq2xxs.gguf", &(rewrite){.iq2_tensor = "blk.0.attn_q.weight"})))
        expect_load("weight of type IQ2_XXS", p, SD_ERR_UNSUPPORTED, "iq2_xxs");
}

/* ---- 4. paths ---------------------------------------------------------------------------------------- */

static void check_paths(const char *stories) {
    char path[512];
    expect_load("a directory", tmp_dir, SD_ERR_IO, NULL);
    snprintf(path, sizeof path, "%s/does-not-exist.gguf", tmp_dir);
    expect_load("a missing file", path, SD_ERR_IO, "does-not-exist.gguf");
    expect_load("/dev/null (empty, not regular)", "/dev/null", SD_ERR_IO, NULL);
    size_t len;
    uint8_t *d = test_read_file(stories, &len);
    const char *p = write_tmp("unreadable.gguf", d, len);
    free(d);
    chmod(p, 0);
    if (geteuid() == 0) {
        printf("  %-44s -> skipped: running as root, which can read a chmod 000 file\n",
               "unreadable file (chmod 000)");
    } else {
        expect_load("unreadable file (chmod 000)", p, SD_ERR_IO, NULL);
    }
    chmod(p, 0600);
}

/* ---- 5. prompts and engines -------------------------------------------------------------------------- */

static int tokenize(const sd_model *m, const char *text, size_t len, int32_t *ids, int max) {
    char err[256];
    int n = sd_model_tokenize(m, text, len, true, false, ids, max, err, sizeof err);
    CHECK(n >= 0 && n <= max, "tokenize: %d: %s", n, err);
    return n < 0 ? 0 : n > max ? max : n;
}

static sd_engine *make_engine(sd_model *target, sd_model *draft, int n_ctx, int draft_k) {
    sd_engine_params p = sd_engine_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.n_threads_draft = 1;
    p.sampling.temp = 0.0f;
    p.schedule = SD_SCHEDULE_SEQ;
    if (draft_k >= 0) p.draft_k = draft_k;
    char err[512];
    sd_engine *e = NULL;
    int rc = sd_engine_create(target, draft, &p, &e, err, sizeof err);
    CHECK(rc == SD_OK, "sd_engine_create(n_ctx %d): %s", n_ctx, err);
    return e;
}

static void check_prompts(sd_model *m) {
    char err[512];
    int32_t ids[256], out[64];
    sd_stats st;
    sd_engine *e = make_engine(m, NULL, 32, -1);
    if (!e) return;

    /* Bytes that are not UTF-8: stray continuation, overlong, surrogate, truncated sequence, 0xff. */
    static const char bad[] = "\x80\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xff\xfe x \xe2\x82";
    int n = tokenize(m, bad, sizeof bad - 1, ids, 256);
    int32_t n_vocab;
    sd_model_info info;
    sd_model_get_info(m, &info);
    n_vocab = info.n_vocab;
    bool in_range = n > 1;
    for (int i = 0; i < n; i++)
        in_range = in_range && ids[i] >= 0 && ids[i] < n_vocab;
    CHECK(in_range, "non-UTF-8 prompt: %d tokens, ids in range", n);
    int rc = sd_engine_generate(e, ids, n, 4, NULL, NULL, out, 64, &st, err, sizeof err);
    CHECK(rc == SD_OK && st.n_gen == 4, "non-UTF-8 prompt: generate %d (%s), %d tokens", rc, err, st.n_gen);
    printf("  %-44s -> %d tokens, generated %d\n", "non-UTF-8 prompt", n, st.n_gen);

    /* Empty text tokenizes to BOS alone; an empty token list is refused. */
    n = tokenize(m, "", 0, ids, 256);
    CHECK(n == 1 && ids[0] == info.bos, "empty text: %d tokens (first %d), expected BOS alone", n,
          n ? ids[0] : -1);
    rc = sd_engine_generate(e, ids, n, 2, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_OK && st.n_gen == 2, "BOS-only prompt: %d (%s)", rc, err);
    n = sd_model_tokenize(m, "", 0, false, false, ids, 256, err, sizeof err); /* no BOS: nothing at all */
    CHECK(n == 0, "empty text without BOS: %d tokens (%s)", n, err);
    err[0] = '\0';
    rc = sd_engine_generate(e, ids, 0, 2, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT && one_line(err), "zero-token prompt: %d (%s)", rc, err);
    printf("  %-44s -> %s: %s\n", "zero-token prompt", sd_status_name(rc), err);
    rc = sd_engine_generate(e, NULL, 0, 2, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT, "NULL prompt: %d (%s)", rc, err);

    /* A prompt longer than the context, and one that fills it exactly: no room for a token. */
    for (int i = 0; i < 40; i++)
        ids[i] = 1 + i % (n_vocab - 1);
    rc = sd_engine_generate(e, ids, 40, 4, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_ERR_CONTEXT_FULL && contains_ci(err, "40"), "40-token prompt, context 32: %d (%s)", rc,
          err);
    printf("  %-44s -> %s: %s\n", "prompt of 40 tokens, context 32", sd_status_name(rc), err);
    rc = sd_engine_generate(e, ids, 32, 4, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_ERR_CONTEXT_FULL, "32-token prompt, context 32: %d (%s)", rc, err);

    /* n_predict = 0: the prompt is processed, nothing is generated, the callback is never called. */
    n = tokenize(m, "Once upon a time", 16, ids, 256);
    int calls = 0;
    rc = sd_engine_generate(e, ids, n, 0, NULL, &calls, out, 64, &st, err, sizeof err);
    CHECK(rc == SD_OK && st.n_gen == 0 && st.stop == SD_STOP_LENGTH, "n_predict 0: %d (%s), n_gen %d stop %d",
          rc, err, st.n_gen, (int)st.stop);
    rc = sd_engine_generate(e, ids, n, -1, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT, "n_predict -1: %d", rc);

    /* Generation that reaches the context limit stops cleanly. */
    rc = sd_engine_generate(e, ids, n, 1000, NULL, NULL, NULL, 0, &st, err, sizeof err);
    CHECK(rc == SD_OK && st.stop == SD_STOP_CONTEXT_FULL && st.n_gen >= 1 && n + st.n_gen <= 32 + 1,
          "context limit: %d (%s), stop %d, %d + %d tokens", rc, err, (int)st.stop, n, st.n_gen);
    printf("  %-44s -> stop %d after %d + %d tokens\n", "generation reaching the context (32)", (int)st.stop,
           n, st.n_gen);
    sd_engine_free(e);
}

/* The same with a draft: speculation near the end of the context must not write past it. */
static void check_context_full_speculative(sd_model *target, sd_model *draft) {
    char err[512];
    int32_t ids[64];
    int n = tokenize(target, "def add(a, b):", 14, ids, 64);
    for (int k = 1; k <= 8; k *= 2) {
        sd_engine *e = make_engine(target, draft, 24 + k, k);
        if (!e) return;
        sd_stats st;
        int rc = sd_engine_generate(e, ids, n, 1000, NULL, NULL, NULL, 0, &st, err, sizeof err);
        CHECK(rc == SD_OK && st.stop == SD_STOP_CONTEXT_FULL && n + st.n_gen <= 24 + k + 1,
              "speculative context limit (k %d, n_ctx %d): %d (%s), stop %d, %d + %d tokens", k, 24 + k, rc,
              err, (int)st.stop, n, st.n_gen);
        sd_engine_free(e);
    }
    printf("  %-44s -> stopped cleanly for k = 1, 2, 4, 8\n", "speculation reaching the context");
}

static void check_mismatch_and_memory(sd_model *codepair, sd_model *stories) {
    char err[512] = "";
    sd_engine *e = NULL;
    sd_engine_params p = sd_engine_default_params();
    p.n_threads = 1;
    p.no_cross_vocab = true; /* otherwise it drafts by text (tests/test_xvocab.c) */
    int rc = sd_engine_create(codepair, stories, &p, &e, err, sizeof err);
    CHECK(rc == SD_ERR_MISMATCH && e == NULL && one_line(err) && strlen(err) > 10,
          "stories260K as draft for codepair: %d (%s)", rc, err);
    printf("  %-44s -> %s: %s\n", "draft with another vocabulary", sd_status_name(rc), err);
    p.no_cross_vocab = false;

    /* 2^24 tokens of KV cache (about 64 GiB for this model) are refused before any allocation. */
    p.n_ctx = 1 << 24;
    err[0] = '\0';
    rc = sd_engine_create(codepair, NULL, &p, &e, err, sizeof err);
    CHECK(rc == SD_ERR_NO_MEMORY && e == NULL && contains_ci(err, "16777216") && contains_ci(err, "MiB"),
          "n_ctx 2^24: %d (%s)", rc, err);
    printf("  %-44s -> %s: %s\n", "context of 2^24 tokens", sd_status_name(rc), err);
    p.n_ctx = -5;
    rc = sd_engine_create(codepair, NULL, &p, &e, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT && e == NULL, "n_ctx -5: %d (%s)", rc, err);
}

/* Reuse: 200 prompts through one engine. LeakSanitizer (ASan build) reports any leak at exit; without it,
 * the heap in use must not grow with the number of prompts. */
static void check_reuse(sd_model *m) {
    sd_engine *e = make_engine(m, NULL, 48, -1);
    if (!e) return;
    char err[256], text[64];
    int32_t ids[64];
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    size_t heap_after_20 = 0;
    int ok = 0;
    for (int i = 0; i < 200; i++) {
        size_t len = 1 + i % 40;
        for (size_t j = 0; j < len; j++) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            text[j] = (char)(i % 3 == 0 ? rng : 'a' + rng % 26); /* every third prompt is raw bytes */
        }
        int n = tokenize(m, text, len, ids, 64);
        sd_stats st;
        if (sd_engine_generate(e, ids, n, 3, NULL, NULL, NULL, 0, &st, err, sizeof err) == SD_OK) ok++;
        if (i == 19) heap_after_20 = mallinfo2().uordblks;
    }
    size_t heap_after_200 = mallinfo2().uordblks;
    CHECK(ok == 200, "reuse: %d of 200 prompts generated", ok);
    CHECK(heap_after_200 <= heap_after_20 + 65536, "reuse: heap grew from %zu to %zu bytes over 180 prompts",
          heap_after_20, heap_after_200);
    printf("  %-44s -> %d ok, heap %zu -> %zu bytes\n", "engine reused over 200 prompts", ok, heap_after_20,
           heap_after_200);
    sd_engine_free(e);
}

/* ---- 6. the CLI -------------------------------------------------------------------------------------- */

/* Runs the CLI with args (a shell fragment); returns its exit code, or 128 + signal. stderr goes to
 * tmp_dir/cli.err, read into msg. */
static int run_cli(char *msg, size_t msg_len, const char *fmt, ...) {
    char args[2048], cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/cli.out' 2>'%s/cli.err' </dev/null", cli_path, args, tmp_dir,
             tmp_dir);
    int st = system(cmd);
    char path[512];
    snprintf(path, sizeof path, "%s/cli.err", tmp_dir);
    size_t n = 0;
    uint8_t *e = test_read_file(path, &n);
    snprintf(msg, msg_len, "%.*s", e ? (int)SD_MIN(n, msg_len - 1) : 0, e ? (const char *)e : "");
    free(e);
    char *nl = strchr(msg, '\n');
    if (nl && nl[1] == '\0') *nl = '\0';
    if (st == -1) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void check_cli(const char *stories, const uint8_t *d, const gguf_layout *L) {
    char msg[2048];
    int rc = run_cli(msg, sizeof msg, "generate -m '%s' -f '%s' -n 1", stories, tmp_dir);
    CHECK(rc == 1 && contains_ci(msg, "not a regular file"), "CLI prompt file is a directory: exit %d: %s",
          rc, msg);
    printf("  %-44s -> exit %d: %s\n", "CLI: -f DIRECTORY", rc, msg);

    const char *trunc = write_tmp("cli-truncated.gguf", d, L->tinfo_end);
    rc = run_cli(msg, sizeof msg, "generate -m '%s' -p hello -n 1", trunc);
    CHECK(rc == 1 && msg[0], "CLI truncated model: exit %d: %s", rc, msg);
    printf("  %-44s -> exit %d: %s\n", "CLI: truncated model", rc, msg);

    static const char bad[] = "\xff\xfe\x00\xc3(\xed\xa0\x80 tail";
    const char *pf = write_tmp("bad-utf8.txt", bad, sizeof bad - 1);
    rc = run_cli(msg, sizeof msg, "tokenize -m '%s' -f '%s' --ids", stories, pf);
    CHECK(rc == 0, "CLI tokenize of non-UTF-8 bytes with a NUL: exit %d: %s", rc, msg);
    rc = run_cli(msg, sizeof msg, "generate -m '%s' -f '%s' -n 3 --temp 0 -t 1", stories, pf);
    CHECK(rc == 0, "CLI generate from a non-UTF-8 prompt file: exit %d: %s", rc, msg);
    printf("  %-44s -> exit %d\n", "CLI: non-UTF-8 prompt file", rc);

    const char *empty = write_tmp("empty.txt", "", 0);
    rc = run_cli(msg, sizeof msg, "generate -m '%s' -f '%s' -n 2 --temp 0 -t 1", stories, empty);
    CHECK(rc == 0 || (rc == 1 && msg[0]), "CLI empty prompt file: exit %d: %s", rc, msg);
    printf("  %-44s -> exit %d%s%s\n", "CLI: empty prompt file", rc, msg[0] ? ": " : "", msg);

    char longp[4096];
    for (size_t i = 0; i + 1 < sizeof longp; i++)
        longp[i] = "Once upon a time "[i % 17];
    const char *lf = write_tmp("long.txt", longp, sizeof longp - 1);
    rc = run_cli(msg, sizeof msg, "generate -m '%s' -f '%s' -c 64 -n 4 -t 1", stories, lf);
    CHECK(rc == 1 && contains_ci(msg, "context"), "CLI prompt longer than the context: exit %d: %s", rc, msg);
    printf("  %-44s -> exit %d: %s\n", "CLI: prompt longer than the context", rc, msg);

    rc = run_cli(msg, sizeof msg, "generate -m '%s' -p hello -n 0 -t 1", stories);
    CHECK(rc == 0, "CLI -n 0: exit %d: %s", rc, msg);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_hostile SPECDEC_CLI\n");
        return 2;
    }
    cli_path = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines interleave with failures */
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/sd-hostile-XXXXXX", base);
    if (!mkdtemp(tmp_dir)) {
        fprintf(stderr, "cannot create a temporary folder: %s\n", strerror(errno));
        return 2;
    }
    const char *stories = test_path("SD_MODELS_DIR", "stories260K.gguf");
    const char *codepair_f32 = test_path("SD_MODELS_DIR", "codepair-target-f32.gguf");
    size_t len = 0;
    uint8_t *d = test_read_file(stories, &len);
    static gguf_layout L;
    if (!d || !gguf_layout_read(d, len, &L)) {
        fprintf(stderr, "cannot read or walk %s\n", stories);
        return 2;
    }

    printf("model files:\n");
    check_truncations(d, len, &L);
    check_patches(d, len, &L);
    check_rewrites(stories, codepair_f32);
    check_paths(stories);

    printf("prompts and engines:\n");
    char err[512];
    sd_model *sm = NULL, *target = NULL, *draft = NULL;
    CHECK(sd_model_load(stories, &sm, err, sizeof err) == SD_OK, "%s", err);
    CHECK(sd_model_load(test_path("SD_MODELS_DIR", "codepair-target-q4_0.gguf"), &target, err, sizeof err) ==
              SD_OK,
          "%s", err);
    CHECK(sd_model_load(test_path("SD_MODELS_DIR", "codepair-draft-f32.gguf"), &draft, err, sizeof err) ==
              SD_OK,
          "%s", err);
    if (sm) check_prompts(sm);
    if (sm) check_reuse(sm);
    if (target && draft) check_context_full_speculative(target, draft);
    if (target && sm) check_mismatch_and_memory(target, sm);
    sd_model_free(sm);
    sd_model_free(target);
    sd_model_free(draft);

    printf("command line:\n");
    check_cli(stories, d, &L);
    free(d);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
    return test_finish("test_hostile");
}
