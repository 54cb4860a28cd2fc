/* Tokenizer tests: llama.cpp's tokenizer vectors (tests/data/vocab: each .inp entry -> its .out line), the
 * golden prompt ids of the bundled models (tests/data/golden, JSON lines), detokenization round trips,
 * special tokens, the draft/target compatibility check, load errors, thread sharing and speed on long inputs.
 */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"
#include "tests/test_util.h"

typedef struct loaded {
    sd_gguf *g;
    sd_vocab *v;
} loaded;

static bool load(const char *path, loaded *l) {
    char err[256] = "";
    l->g = NULL;
    l->v = NULL;
    int rc = sd_gguf_open(path, &l->g, err, sizeof err);
    if (rc < 0) {
        printf("FAIL: open %s: %s\n", path, err);
        test_failures++;
        return false;
    }
    rc = sd_vocab_load(l->g, &l->v, err, sizeof err);
    if (rc < 0) {
        printf("FAIL: vocab %s: %s\n", path, err);
        test_failures++;
        sd_gguf_close(l->g);
        return false;
    }
    return true;
}

static void unload(loaded *l) {
    sd_vocab_free(l->v);
    sd_gguf_close(l->g);
}

/* Tokenizes into a malloc'd array (two calls: count, then fill). */
static int32_t *tokenize(const sd_vocab *v, const char *text, size_t len, bool add_special,
                         bool parse_special, int *n_out) {
    char err[256] = "";
    int n = sd_tokenize(v, text, len, add_special, parse_special, NULL, 0, err, sizeof err);
    if (n < 0) {
        printf("tokenize error %d: %s\n", n, err);
        *n_out = n;
        return NULL;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (n + 1));
    int n2 = sd_tokenize(v, text, len, add_special, parse_special, ids, n, err, sizeof err);
    if (n2 != n) printf("FAIL: second tokenize call gave %d, first %d\n", n2, n), test_failures++;
    *n_out = n;
    return ids;
}

static char *detokenize(const sd_vocab *v, const int32_t *ids, int n, bool special, bool strip, int *len) {
    *len = sd_detokenize(v, ids, n, special, strip, NULL, 0);
    if (*len < 0) return NULL;
    char *buf = malloc((size_t)*len + 1);
    int len2 = sd_detokenize(v, ids, n, special, strip, buf, (size_t)*len);
    if (len2 != *len) printf("FAIL: detokenize lengths %d vs %d\n", len2, *len), test_failures++;
    buf[*len] = '\0';
    return buf;
}

static void print_ids(const char *label, const int32_t *ids, int n) {
    printf("  %s:", label);
    for (int i = 0; i < n && i < 64; i++)
        printf(" %d", ids[i]);
    printf(n > 64 ? " ...\n" : "\n");
}

/* ---- llama.cpp's vectors: entries of .inp end with "\n__ggml_vocab_test__\n"; line i of .out holds the
 * ids (no BOS) of entry i. ---- */
static void test_vocab_vectors(const char *data_dir, const char *name) {
    char path[1024], inp_path[1100], out_path[1100];
    snprintf(path, sizeof path, "%s/vocab/%s", data_dir, name);
    snprintf(inp_path, sizeof inp_path, "%s.inp", path);
    snprintf(out_path, sizeof out_path, "%s.out", path);
    loaded l;
    if (!load(path, &l)) return;
    size_t inp_len = 0, out_len = 0;
    char *inp = test_read_file(inp_path, &inp_len), *outs = test_read_file(out_path, &out_len);
    CHECK(inp && outs, "cannot read %s / %s", inp_path, out_path);
    if (!inp || !outs) goto done;

    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *o = outs;
    int n_cases = 0, n_ok = 0;
    for (;;) {
        char *end = strstr(p, sep);
        if (!end) break;
        char *eol = strchr(o, '\n');
        if (!eol) {
            CHECK(0, "%s: .out has fewer lines than .inp entries", name);
            break;
        }
        *eol = '\0';
        int32_t want[4096];
        int n_want = 0;
        for (char *q = o; *q;) {
            char *next;
            long id = strtol(q, &next, 10);
            if (next == q) break;
            if (n_want < 4096) want[n_want++] = (int32_t)id;
            q = next;
        }
        int n_got = 0;
        int32_t *got = tokenize(l.v, p, (size_t)(end - p), false, false, &n_got);
        bool same = got && n_got == n_want && memcmp(got, want, sizeof(int32_t) * n_want) == 0;
        n_cases++;
        n_ok += same;
        if (!same) {
            printf("FAIL %s case %d: '%.*s'\n", name, n_cases, (int)SD_MIN(end - p, 200), p);
            print_ids("want", want, n_want);
            if (got) print_ids("got ", got, n_got);
        }
        free(got);
        p = end + strlen(sep);
        o = eol + 1;
    }
    CHECK(n_cases > 0 && n_ok == n_cases, "%s: %d of %d vectors match", name, n_ok, n_cases);
    printf("%s: %d/%d vectors match (model %s, pre %s)\n", name, n_ok, n_cases, sd_vocab_model_name(l.v),
           sd_vocab_pre_name(l.v));
done:
    free(inp);
    free(outs);
    unload(&l);
}

/* ---- golden prompt ids from llama.cpp runs (with BOS) ---- */
static void test_golden(const char *data_dir, const char *models_dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", data_dir, file);
    size_t len = 0;
    char *text = test_read_file(path, &len);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text) return;
    loaded l = {0};
    char cur_model[256] = "";
    int n_cases = 0, n_ok = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        const cJSON *model = cJSON_GetObjectItem(j, "model"), *prompt = cJSON_GetObjectItem(j, "prompt"),
                    *ids = cJSON_GetObjectItem(j, "prompt_ids");
        if (!cJSON_IsString(model) || !cJSON_IsString(prompt) || !cJSON_IsArray(ids)) {
            cJSON_Delete(j);
            continue;
        }
        if (strcmp(cur_model, model->valuestring) != 0) {
            if (l.v) unload(&l);
            char mpath[1024];
            snprintf(mpath, sizeof mpath, "%s/%s", models_dir, model->valuestring);
            snprintf(cur_model, sizeof cur_model, "%s", model->valuestring);
            if (!load(mpath, &l)) {
                l.v = NULL;
                cJSON_Delete(j);
                continue;
            }
        }
        if (!l.v) {
            cJSON_Delete(j);
            continue;
        }
        int n_want = cJSON_GetArraySize(ids);
        int32_t *want = malloc(sizeof(int32_t) * (n_want + 1));
        for (int i = 0; i < n_want; i++)
            want[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
        int n_got = 0;
        const char *pr = prompt->valuestring;
        int32_t *got = tokenize(l.v, pr, strlen(pr), true, true, &n_got);
        bool same = got && n_got == n_want && memcmp(got, want, sizeof(int32_t) * n_want) == 0;
        n_cases++;
        n_ok += same;
        if (!same) {
            printf("FAIL golden %s case %d: '%.60s'\n", cur_model, n_cases, pr);
            print_ids("want", want, n_want);
            if (got) print_ids("got ", got, n_got);
        }
        /* round trip of the prompt through the ids */
        if (got) {
            int dl = 0;
            char *back = detokenize(l.v, got, n_got, false, true, &dl);
            CHECK(back && strcmp(back, pr) == 0, "golden %s case %d: detokenize differs: '%.60s'", cur_model,
                  n_cases, back ? back : "(null)");
            free(back);
        }
        free(want);
        free(got);
        cJSON_Delete(j);
    }
    if (l.v) unload(&l);
    CHECK(n_cases > 0 && n_ok == n_cases, "%s: %d of %d golden prompts match", file, n_ok, n_cases);
    printf("%s: %d/%d golden prompts match\n", file, n_ok, n_cases);
    free(text);
}

/* ---- round trips ---- */
static const char *const ROUND_TRIP_TEXTS[] = {
    "Hello world",
    " leading space and  double  spaces ",
    "tabs\tand\nnewlines\r\n\n\n  indented\n\t\t}\n",
    "static int foo(struct inode *inode)\n{\n\treturn -ENOSPC;\n}\n",
    "multi-byte: caf\xC3\xA9 na\xC3\xAFve \xC3\x9F \xE2\x82\xAC 100 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E "
    "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
    "emoji \xF0\x9F\x9A\x80 \xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB\xEF\xB8\x8F \xE2\x9C\x85!",
    "numbers 1234567890 3.14159 0x7fff",
    "I've been 'told he's there, 'RE you sure? We'Ve a'lL",
    "\xE1\x9E\x80\xE1\x9E\xB6\xE1\x9E\x93\xE1\x9F\x8B",
    "   ",
    "\n",
    "a",
};

static void test_round_trips(const char *label, const sd_vocab *v) {
    int n_ok = 0, n_cases = 0;
    for (size_t i = 0; i < SD_ARRAY_LEN(ROUND_TRIP_TEXTS); i++) {
        const char *t = ROUND_TRIP_TEXTS[i];
        int n = 0, dl = 0;
        int32_t *ids = tokenize(v, t, strlen(t), true, false, &n);
        char *back = ids ? detokenize(v, ids, n, false, true, &dl) : NULL;
        bool same = back && strcmp(back, t) == 0;
        n_cases++;
        n_ok += same;
        if (!same) printf("FAIL round trip %s: '%s' -> '%s'\n", label, t, back ? back : "(null)");
        /* the pieces concatenated give the same bytes */
        if (ids && back) {
            char pieces[4096];
            size_t pl = 0;
            for (int k = 0; k < n; k++) {
                int r = sd_token_to_piece(v, ids[k], false, pieces + pl, sizeof pieces - pl);
                if (r > 0) pl += (size_t)r;
            }
            CHECK(pl >= (size_t)dl, "%s: pieces shorter than detokenized text", label);
        }
        free(ids);
        free(back);
    }
    CHECK(n_ok == n_cases, "%s: %d of %d round trips", label, n_ok, n_cases);

    /* Invalid UTF-8 must not crash; SPM with byte fallback even keeps the bytes. */
    static const char bad[] =
        "ok \xFF\xFE broken \xC3 tail \xE2\x82 \xED\xA0\x80 \xF4\x90\x80\x80 \xC0\x80 end\x80";
    int n = 0, dl = 0;
    int32_t *ids = tokenize(v, bad, sizeof bad - 1, false, false, &n);
    CHECK(ids && n > 0, "%s: invalid UTF-8 gave %d", label, n);
    char *back = ids ? detokenize(v, ids, n, true, true, &dl) : NULL;
    CHECK(back != NULL, "%s: detokenize of invalid UTF-8 failed", label);
    free(ids);
    free(back);
    /* SPM keeps invalid bytes through byte fallback (when no space follows them: the space is escaped to
     * U+2581 first, and llama.cpp then falls back to the escaped bytes). */
    static const char bad2[] = "ok\xFF\xFE-broken\xC3x-tail\xE2\x82z\xED\xA0\x80\xF4\x90\x80\x80\xC0\x80"
                               "end\x80";
    if (sd_vocab_get_kind(v) == SD_VOCAB_SPM) {
        ids = tokenize(v, bad2, sizeof bad2 - 1, false, false, &n);
        back = ids ? detokenize(v, ids, n, false, true, &dl) : NULL;
        CHECK(back && (size_t)dl == sizeof bad2 - 1 && memcmp(back, bad2, dl) == 0,
              "%s: SPM byte fallback round trip", label);
        free(ids);
        free(back);
    }

    /* A small output buffer reports the needed size and writes only what fits. */
    const char *t = "The quick brown fox jumps over the lazy dog";
    int32_t small[3] = {-7, -7, -7};
    int need = sd_tokenize(v, t, strlen(t), false, false, small, 2, NULL, 0);
    CHECK(need > 2 && small[2] == -7, "%s: short buffer: need %d", label, need);
    char sbuf[5] = {'#', '#', '#', '#', '#'};
    int32_t tmp[64];
    int nt = sd_tokenize(v, t, strlen(t), false, false, tmp, 64, NULL, 0);
    int full = sd_detokenize(v, tmp, nt, false, true, sbuf, 4);
    CHECK(full == (int)strlen(t) && sbuf[4] == '#' && memcmp(sbuf, t, 4) == 0,
          "%s: short detokenize buffer %d", label, full);
    int32_t bad_id = sd_vocab_n_tokens(v);
    CHECK(sd_detokenize(v, &bad_id, 1, false, false, sbuf, 4) < 0, "%s: out-of-range id accepted", label);
    CHECK(sd_token_to_piece(v, -1, false, sbuf, 4) < 0, "%s: negative id accepted", label);
}

/* ---- special tokens ---- */
static void test_special_spm(const sd_vocab *v) {
    const char *t = "<s>int x;</s>\nint y;";
    int n = 0;
    int32_t *ids = tokenize(v, t, strlen(t), false, true, &n);
    CHECK(ids && n > 3 && ids[0] == sd_vocab_bos(v), "parse_special: first id %d", ids && n ? ids[0] : -1);
    bool has_eos = false;
    for (int i = 0; ids && i < n; i++)
        has_eos |= ids[i] == sd_vocab_eos(v);
    CHECK(has_eos, "parse_special: </s> not found");
    free(ids);
    ids = tokenize(v, t, strlen(t), false, false, &n);
    bool any_special = false;
    for (int i = 0; ids && i < n; i++)
        any_special |= ids[i] == sd_vocab_bos(v) || ids[i] == sd_vocab_eos(v);
    CHECK(ids && !any_special, "without parse_special, <s> and </s> must be plain text");
    int dl = 0;
    char *back = ids ? detokenize(v, ids, n, false, true, &dl) : NULL;
    CHECK(back && strcmp(back, t) == 0, "plain-text special round trip: '%s'", back ? back : "");
    free(back);
    free(ids);

    CHECK(sd_vocab_is_eog(v, sd_vocab_eos(v)), "EOS must be EOG");
    CHECK(!sd_vocab_is_eog(v, sd_vocab_bos(v)), "BOS must not be EOG");
    CHECK(sd_vocab_token_type(v, sd_vocab_bos(v)) == SD_TOKEN_CONTROL, "BOS type");
    char piece[16];
    CHECK(sd_token_to_piece(v, sd_vocab_bos(v), false, piece, sizeof piece) == 0,
          "BOS piece without special");
    int pl = sd_token_to_piece(v, sd_vocab_bos(v), true, piece, sizeof piece);
    CHECK(pl == 3 && memcmp(piece, "<s>", 3) == 0, "BOS piece with special");
    int32_t nl_id = -1;
    for (int32_t i = 0; i < sd_vocab_n_tokens(v); i++)
        if (strcmp(sd_vocab_token_text(v, i), "<0x0A>") == 0) nl_id = i;
    CHECK(nl_id >= 0 && sd_token_to_piece(v, nl_id, false, piece, sizeof piece) == 1 && piece[0] == '\n',
          "byte token <0x0A> -> newline");
}

static void test_special_gpt2(const sd_vocab *v) {
    const char *t = "Hello<|endoftext|> world";
    int n = 0;
    int32_t *ids = tokenize(v, t, strlen(t), false, true, &n);
    int32_t eot = -1;
    for (int32_t i = 0; i < sd_vocab_n_tokens(v); i++)
        if (strcmp(sd_vocab_token_text(v, i), "<|endoftext|>") == 0) eot = i;
    CHECK(eot >= 0 && ids && n == 3 && ids[1] == eot, "gpt2 <|endoftext|> with parse_special (n=%d)", n);
    CHECK(sd_vocab_is_eog(v, eot), "<|endoftext|> must be EOG");
    free(ids);
    ids = tokenize(v, t, strlen(t), false, false, &n);
    CHECK(ids && n > 3, "gpt2 <|endoftext|> without parse_special is text (n=%d)", n);
    free(ids);
}

/* ---- load errors from hand-built GGUFs ---- */
typedef struct gbuf {
    unsigned char data[4096];
    size_t len;
} gbuf;

static void put(gbuf *b, const void *p, size_t n) {
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void put_u32(gbuf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(gbuf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_str(gbuf *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, 8);
    put_str(b, v);
}
static void kv_strs(gbuf *b, const char *k, const char *const *v, int n) {
    put_str(b, k);
    put_u32(b, 9);
    put_u32(b, 8);
    put_u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++)
        put_str(b, v[i]);
}

static int load_mem(gbuf *b, char *err, size_t err_len) {
    sd_gguf *g = NULL;
    sd_vocab *v = NULL;
    int rc = sd_gguf_open_memory(b->data, b->len, &g, err, err_len);
    if (rc < 0) return 1000 + rc;
    rc = sd_vocab_load(g, &v, err, err_len);
    sd_vocab_free(v);
    sd_gguf_close(g);
    return rc;
}

static void begin_gguf(gbuf *b, uint64_t n_kv) {
    b->len = 0;
    put(b, "GGUF", 4);
    put_u32(b, 3);
    put_u64(b, 0);
    put_u64(b, n_kv);
}

static void test_load_errors(void) {
    static const char *const toks[] = {"a", "b", "ab", "<|endoftext|>"};
    static const char *const merges[] = {"a b"};
    gbuf b;
    char err[256];

    begin_gguf(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    err[0] = '\0';
    int rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_UNSUPPORTED && strstr(err, "no-such-pre"), "unknown pre: rc %d '%s'", rc, err);

    begin_gguf(&b, 1);
    kv_str(&b, "tokenizer.ggml.model", "llama");
    err[0] = '\0';
    rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_FORMAT && strstr(err, "tokens"), "missing tokens: rc %d '%s'", rc, err);

    begin_gguf(&b, 2);
    kv_str(&b, "tokenizer.ggml.model", "bert");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    err[0] = '\0';
    rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_UNSUPPORTED && strstr(err, "bert"), "unknown model: rc %d '%s'", rc, err);

    begin_gguf(&b, 3);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    put_str(&b, "tokenizer.ggml.eos_token_id");
    put_u32(&b, 4);
    put_u32(&b, 99);
    err[0] = '\0';
    rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_FORMAT, "gpt2 without merges: rc %d '%s'", rc, err);

    begin_gguf(&b, 4);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    put_str(&b, "tokenizer.ggml.eos_token_id");
    put_u32(&b, 4);
    put_u32(&b, 99);
    err[0] = '\0';
    rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_FORMAT && strstr(err, "eos_token_id"), "eos out of range: rc %d '%s'", rc, err);

    begin_gguf(&b, 3);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", (const char *const[]){"a", "b", "a"}, 3);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    err[0] = '\0';
    rc = load_mem(&b, err, sizeof err);
    CHECK(rc == SD_STATUS_FORMAT && strstr(err, "duplicate"), "duplicate token: rc %d '%s'", rc, err);

    /* A tiny valid gpt2 vocab: "ab" merges, the default pre-tokenizer. */
    begin_gguf(&b, 3);
    kv_str(&b, "tokenizer.ggml.model", "gpt2");
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 4);
    kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    sd_gguf *g = NULL;
    sd_vocab *v = NULL;
    rc = sd_gguf_open_memory(b.data, b.len, &g, err, sizeof err);
    if (rc == 0) rc = sd_vocab_load(g, &v, err, sizeof err);
    CHECK(rc == 0 && v, "tiny gpt2 vocab: %s", err);
    if (v) {
        int32_t ids[8];
        int n = sd_tokenize(v, "abab", 4, true, false, ids, 8, err, sizeof err);
        CHECK(n == 2 && ids[0] == 2 && ids[1] == 2, "tiny gpt2: n=%d", n);
        CHECK(strcmp(sd_vocab_pre_name(v), "default") == 0, "pre name default");
        CHECK(!sd_vocab_add_bos(v), "gpt2 default add_bos false");
    }
    sd_vocab_free(v);
    sd_gguf_close(g);
}

/* ---- compatibility ---- */
static void test_compat(const char *models_dir) {
    char p1[1024], p2[1024], p3[1024];
    snprintf(p1, sizeof p1, "%s/codepair-target-f32.gguf", models_dir);
    snprintf(p2, sizeof p2, "%s/codepair-draft-f32.gguf", models_dir);
    snprintf(p3, sizeof p3, "%s/stories260K.gguf", models_dir);
    loaded t, d, s;
    if (!load(p1, &t)) return;
    if (load(p2, &d)) {
        char err[256] = "";
        int rc = sd_vocab_check_compatible(t.v, d.v, err, sizeof err);
        CHECK(rc == SD_STATUS_OK, "codepair target/draft incompatible: %s", err);
        unload(&d);
    }
    if (load(p3, &s)) {
        char err[256] = "";
        int rc = sd_vocab_check_compatible(t.v, s.v, err, sizeof err);
        CHECK(rc == SD_STATUS_MISMATCH && strlen(err) > 10, "target vs stories260K: rc %d '%s'", rc, err);
        printf("target vs stories260K: %s\n", err);
        unload(&s);
    }
    unload(&t);
}

/* ---- sharing a vocab between threads ---- */
typedef struct thread_arg {
    const sd_vocab *v;
    const char *text;
    size_t len;
    int32_t *ids;
    int n;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    for (int rep = 0; rep < 20; rep++) {
        int n = sd_tokenize(a->v, a->text, a->len, true, true, a->ids, 4096, NULL, 0);
        if (rep == 0)
            a->n = n;
        else if (n != a->n)
            a->n = -1;
    }
    return NULL;
}

static void test_threads(const sd_vocab *v, const char *label) {
    const char *text =
        "int main(void)\n{\n\tprintf(\"hello, world\\n\");\n\treturn 0;\n}\n caf\xC3\xA9 \xF0\x9F\x9A\x80";
    thread_arg a[2] = {{v, text, strlen(text), malloc(4096 * 4), 0},
                       {v, text, strlen(text), malloc(4096 * 4), 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_main, &a[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    CHECK(a[0].n > 0 && a[0].n == a[1].n && memcmp(a[0].ids, a[1].ids, a[0].n * 4) == 0,
          "%s: threads disagree", label);
    free(a[0].ids);
    free(a[1].ids);
}

/* ---- speed: a 400-token prompt and ~100 KB of text ---- */
static void test_speed(const sd_vocab *v, const char *label) {
    static const char chunk[] =
        "static int ext4_prepare_inline_data(handle_t *handle, struct inode *inode)\n{\n"
        "\tint ret, size, no_expand; /* Hello, y'all! caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC */\n"
        "\tif (size < len)\n\t\treturn -ENOSPC;\n    3333 words words words\n}\n\n";
    size_t n_chunk = sizeof chunk - 1, total = 0;
    char *big = malloc(100 * 1024 + n_chunk);
    while (total < 100 * 1024) {
        memcpy(big + total, chunk, n_chunk);
        total += n_chunk;
    }
    double t0 = sd_time_seconds();
    int n = sd_tokenize(v, big, total, true, true, NULL, 0, NULL, 0);
    double t_big = sd_time_seconds() - t0;
    /* a prompt of about 400 tokens */
    size_t plen = total * 400 / (size_t)(n > 0 ? n : 1);
    t0 = sd_time_seconds();
    int reps = 20, np = 0;
    for (int r = 0; r < reps; r++)
        np = sd_tokenize(v, big, plen, true, true, NULL, 0, NULL, 0);
    double t_prompt = (sd_time_seconds() - t0) / reps;
    printf("%s: %zu bytes -> %d tokens in %.1f ms; %d-token prompt in %.3f ms\n", label, total, n,
           t_big * 1e3, np, t_prompt * 1e3);
    /* Timings are printed, not asserted (tests never assert speed: the machines are shared). */
    CHECK(n > 0, "%s: 100 KB gave no tokens", label);
    /* whitespace runs and a long word are the cases a regex can make quadratic */
    memset(big, ' ', 100 * 1024);
    big[100 * 1024 - 1] = 'x';
    t0 = sd_time_seconds();
    n = sd_tokenize(v, big, 100 * 1024, false, false, NULL, 0, NULL, 0);
    double t_ws = sd_time_seconds() - t0;
    memset(big, 'a', 100 * 1024);
    t0 = sd_time_seconds();
    int n2 = sd_tokenize(v, big, 100 * 1024, false, false, NULL, 0, NULL, 0);
    double t_word = sd_time_seconds() - t0;
    printf("%s: 100 KB of spaces %.1f ms (%d tokens), one 100 KB word %.1f ms (%d tokens)\n", label,
           t_ws * 1e3, n, t_word * 1e3, n2);
    CHECK(n > 0 && n2 > 0, "%s: long runs gave no tokens", label);
    free(big);
}

int main(void) {
    const char *data_dir = test_env_or("SD_TEST_DATA", "tests/data");
    const char *models_dir = test_env_or("SD_MODELS_DIR", "models");

    static const char *const vocab_files[] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
                                              "ggml-vocab-starcoder.gguf", "ggml-vocab-deepseek-coder.gguf"};
    for (size_t i = 0; i < SD_ARRAY_LEN(vocab_files); i++)
        test_vocab_vectors(data_dir, vocab_files[i]);

    test_golden(data_dir, models_dir, "codepair-target.jsonl");
    test_golden(data_dir, models_dir, "stories260K.jsonl");

    for (size_t i = 0; i < SD_ARRAY_LEN(vocab_files); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vocab/%s", data_dir, vocab_files[i]);
        loaded l;
        if (!load(path, &l)) continue;
        test_round_trips(vocab_files[i], l.v);
        if (i == 1) test_special_gpt2(l.v);
        test_threads(l.v, vocab_files[i]);
        test_speed(l.v, vocab_files[i]);
        unload(&l);
    }
    static const char *const model_files[] = {"codepair-target-f32.gguf", "stories260K.gguf"};
    for (size_t i = 0; i < SD_ARRAY_LEN(model_files); i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", models_dir, model_files[i]);
        loaded l;
        if (!load(path, &l)) continue;
        test_round_trips(model_files[i], l.v);
        test_special_spm(l.v);
        if (i == 0) test_speed(l.v, model_files[i]);
        unload(&l);
    }
    test_load_errors();
    test_compat(models_dir);

    return test_finish("tokenizer");
}
