/* Pre-tokenizer check: llama.cpp does not run its gpt2 and llama3 regexes with a regex engine but with
 * hand-written matchers (unicode.cpp, unicode_regex_split_custom_gpt2/_llama3). This test re-states those
 * matchers as an oracle (character classes from PCRE2's Unicode tables, whitespace = llama.cpp's
 * White_Space set) and compares the word splits of the PCRE2-based pre-tokenizer with them on many
 * random strings built from characters that exercise every branch. It also checks llama3's
 * ignore_merges and default add_bos on a small synthetic vocabulary. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/vocab.h"
#include "tokenizer/vocab_internal.h"
#include "tests/test_util.h"

typedef struct cflags {
    bool letter, number, ws, defined; /* defined: false only outside the text (llama.cpp's empty flags) */
} cflags;

static pcre2_code *re_letter, *re_number;
static pcre2_match_data *md;

static bool is_ws(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

static bool prop(pcre2_code *re, uint32_t c) {
    char buf[4];
    size_t n = sd_utf8_encode(c, buf);
    return pcre2_match(re, (PCRE2_SPTR)buf, n, 0, 0, md, NULL) >= 0;
}

typedef struct text {
    uint32_t cp[64];
    size_t n;
} text;

static cflags F(const text *t, size_t pos) {
    cflags f = {0};
    if (pos >= t->n) return f;
    f.defined = true;
    f.letter = prop(re_letter, t->cp[pos]);
    f.number = prop(re_number, t->cp[pos]);
    f.ws = is_ws(t->cp[pos]);
    return f;
}

static uint32_t C(const text *t, size_t pos) {
    return pos < t->n ? t->cp[pos] : 0xFFFFFFFF;
}

typedef struct splitter {
    size_t lens[64]; /* in code points */
    size_t n, prev_end;
} splitter;

static size_t add_token(splitter *s, size_t end) {
    size_t len = end - s->prev_end;
    if (len > 0) s->lens[s->n++] = len;
    s->prev_end = end;
    return len;
}

/* Contractions 's 't 'm 'd 're 've 'll; llama3 compares lower-cased. Returns the match length or 0. */
static size_t contraction(const text *t, size_t pos, bool fold) {
    if (C(t, pos) != '\'' || pos + 1 >= t->n) return 0;
    uint32_t a = C(t, pos + 1), b = pos + 2 < t->n ? C(t, pos + 2) : 0;
    if (fold) {
        a = a < 128 ? (uint32_t)tolower((int)a) : a;
        b = b < 128 ? (uint32_t)tolower((int)b) : b;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (pos + 2 < t->n && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')))
        return 3;
    return 0;
}

static void oracle_gpt2(const text *t, splitter *s) {
    s->n = s->prev_end = 0;
    for (size_t pos = 0; pos < t->n;) {
        uint32_t c = C(t, pos);
        cflags f = F(t, pos);
        size_t k = contraction(t, pos, false);
        if (k) {
            pos += add_token(s, pos + k);
            continue;
        }
        cflags f2 = c == ' ' ? F(t, pos + 1) : f;
        if (f2.letter || f2.number) { /* ' ?\p{L}+' and ' ?\p{N}+' */
            bool letter = f2.letter;
            pos += c == ' ';
            while (letter ? f2.letter : f2.number)
                f2 = F(t, ++pos);
            add_token(s, pos);
            continue;
        }
        if (!(f2.ws || f2.letter || f2.number) && f2.defined) { /* ' ?[^\s\p{L}\p{N}]+' */
            pos += c == ' ';
            while (!(f2.ws || f2.letter || f2.number) && f2.defined)
                f2 = F(t, ++pos);
            add_token(s, pos);
            continue;
        }
        size_t nws = 0;
        while (F(t, pos + nws).ws)
            nws++;
        if (nws > 1 && pos + nws < t->n) { /* '\s+(?!\S)' */
            pos += nws - 1;
            add_token(s, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_token(s, pos);
            continue;
        }
        add_token(s, ++pos);
    }
}

static void oracle_llama3(const text *t, splitter *s) {
    s->n = s->prev_end = 0;
    for (size_t pos = 0; pos < t->n;) {
        uint32_t c = C(t, pos);
        cflags f = F(t, pos);
        size_t k = contraction(t, pos, true);
        if (k) {
            pos += add_token(s, pos + k);
            continue;
        }
        if (!(c == '\r' || c == '\n' || f.number) && (f.letter || F(t, pos + 1).letter)) {
            pos++; /* '[^\r\n\p{L}\p{N}]?\p{L}+' */
            while (F(t, pos).letter)
                pos++;
            add_token(s, pos);
            continue;
        }
        if (f.number) { /* '\p{N}{1,3}' */
            size_t ini = pos;
            while (F(t, pos).number)
                if (++pos - ini >= 3) {
                    add_token(s, pos);
                    ini = pos;
                }
            add_token(s, pos);
            continue;
        }
        cflags f2 = c == ' ' ? F(t, pos + 1) : f;
        if (!(f2.ws || f2.letter || f2.number) && f.defined) { /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
            pos += c == ' ';
            while (!(f2.ws || f2.letter || f2.number) && f2.defined)
                f2 = F(t, ++pos);
            while (C(t, pos) == '\r' || C(t, pos) == '\n')
                pos++;
            add_token(s, pos);
            continue;
        }
        size_t nws = 0, last_nl_end = 0;
        while (F(t, pos + nws).ws) {
            uint32_t c2 = C(t, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_nl_end = pos + nws + 1;
            nws++;
        }
        if (last_nl_end > 0) { /* '\s*[\r\n]+' */
            pos = last_nl_end;
            add_token(s, pos);
            continue;
        }
        if (nws > 1 && pos + nws < t->n) {
            pos += nws - 1;
            add_token(s, pos);
            continue;
        }
        if (nws > 0) {
            pos += nws;
            add_token(s, pos);
            continue;
        }
        add_token(s, ++pos);
    }
}

static const uint32_t ALPHABET[] = {
    ' ',
    ' ',
    ' ',
    '\t',
    '\n',
    '\r',
    'a',
    'b',
    'B',
    's',
    'S',
    't',
    'T',
    'l',
    'L',
    'e',
    'E',
    'v',
    'r',
    'd',
    'm',
    'M',
    '\'',
    '\'',
    '1',
    '2',
    '3',
    '.',
    ',',
    '!',
    '$',
    '_',
    '-',
    '(',
    0xE9 /* é */,
    0x416 /* Ж */,
    0x663 /* ٣ Nd */,
    0xB2 /* ² No */,
    0x2167 /* Ⅷ Nl */,
    0xA0,
    0x2003,
    0x3000,
    0x85,
    0x1F600 /* emoji */,
    0x4E2D /* 中 */,
    0x301 /* combining acute */,
    0x200D /* ZWJ */,
    0xFFFD,
    0xE000 /* private use */,
    0x0378 /* unassigned */,
};

static int compare(const sd_vocab *v, bool llama3, unsigned *seed, int n_cases) {
    int bad = 0;
    for (int c = 0; c < n_cases; c++) {
        text t;
        t.n = (size_t)(rand_r(seed) % 24);
        for (size_t i = 0; i < t.n; i++)
            t.cp[i] = ALPHABET[rand_r(seed) % SD_ARRAY_LEN(ALPHABET)];
        char utf8[64 * 4];
        size_t blen = 0, cp_bytes[64];
        for (size_t i = 0; i < t.n; i++) {
            cp_bytes[i] = sd_utf8_encode(t.cp[i], utf8 + blen);
            blen += cp_bytes[i];
        }
        splitter s;
        if (llama3)
            oracle_llama3(&t, &s);
        else
            oracle_gpt2(&t, &s);
        /* oracle lengths in code points -> bytes */
        size_t want[64], pos = 0;
        for (size_t w = 0; w < s.n; w++) {
            want[w] = 0;
            for (size_t k = 0; k < s.lens[w]; k++)
                want[w] += cp_bytes[pos++];
        }
        size_t *got = NULL, n_got = 0;
        int rc = sd_tok_bpe_pretokenize(v, utf8, blen, &got, &n_got);
        bool same = rc == 0 && n_got == s.n && (s.n == 0 || memcmp(got, want, s.n * sizeof(size_t)) == 0);
        if (!same && bad < 5) {
            printf("FAIL %s split of:", llama3 ? "llama3" : "gpt2");
            for (size_t i = 0; i < t.n; i++)
                printf(" %04X", t.cp[i]);
            printf("\n  want:");
            for (size_t w = 0; w < s.n; w++)
                printf(" %zu", want[w]);
            printf("\n  got: ");
            for (size_t w = 0; w < n_got; w++)
                printf(" %zu", got[w]);
            printf("\n");
        }
        bad += !same;
        free(got);
    }
    return bad;
}

/* A small gpt2-model vocabulary: every byte's GPT-2 character, a few merges, and "hello" as a token that
 * the merges cannot build (llama3's ignore_merges emits it whole). */
static sd_vocab *synthetic_vocab(const char *pre, sd_gguf **g_out, void **mem) {
    char err[256];
    const char *toks[260];
    char store[256][4];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        size_t k = sd_utf8_encode(sd_tok_gpt2_byte_to_cp((uint8_t)b), store[b]);
        store[b][k] = '\0';
        toks[n++] = store[b];
    }
    toks[n++] = "he";
    toks[n++] = "hello";
    toks[n++] = "<|begin_of_text|>";
    toks[n++] = "<|eot_id|>";
    const char *merges[] = {"h e"};
    int32_t types[260];
    for (int i = 0; i < n; i++)
        types[i] = i >= 258 ? SD_TOKEN_CONTROL : SD_TOKEN_NORMAL;
    sd_gguf_writer *w = sd_gguf_writer_create();
    size_t size = 0;
    sd_gguf *g = NULL;
    sd_vocab *v = NULL;
    if (sd_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err, sizeof err) < 0 ||
        sd_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre, err, sizeof err) < 0 ||
        sd_gguf_writer_add_str_arr(w, "tokenizer.ggml.tokens", toks, (uint64_t)n, err, sizeof err) < 0 ||
        sd_gguf_writer_add_arr(w, "tokenizer.ggml.token_type", SD_GGUF_INT32, types, (uint64_t)n, err,
                               sizeof err) < 0 ||
        sd_gguf_writer_add_str_arr(w, "tokenizer.ggml.merges", merges, 1, err, sizeof err) < 0 ||
        sd_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 258, err, sizeof err) < 0 ||
        sd_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 259, err, sizeof err) < 0 ||
        sd_gguf_writer_write_memory(w, mem, &size, err, sizeof err) < 0 ||
        sd_gguf_open_memory(*mem, size, &g, err, sizeof err) < 0 ||
        sd_vocab_load(g, &v, err, sizeof err) < 0) {
        printf("FAIL synthetic vocab '%s': %s\n", pre, err);
        test_failures++;
    }
    sd_gguf_writer_free(w);
    *g_out = g;
    return v;
}

static void test_llama3_behaviour(void) {
    sd_gguf *g3 = NULL, *g2 = NULL;
    void *m3 = NULL, *m2 = NULL;
    sd_vocab *v3 = synthetic_vocab("llama-bpe", &g3, &m3), *v2 = synthetic_vocab("gpt-2", &g2, &m2);
    if (v3 && v2) {
        int32_t ids[16];
        int n3 = sd_tokenize(v3, "hello", 5, true, false, ids, 16, NULL, 0);
        CHECK(n3 == 2 && ids[0] == 258 && ids[1] == 257,
              "llama3: 'hello' with BOS gave %d ids (want BOS + the whole-word token)", n3);
        int n2 = sd_tokenize(v2, "hello", 5, true, false, ids, 16, NULL, 0);
        /* he l l o, no BOS by default for gpt-2 */
        CHECK(n2 == 4 && ids[0] == 256, "gpt-2: 'hello' gave %d ids, first %d", n2, ids[0]);
        CHECK(sd_vocab_is_eog(v3, 259) && sd_vocab_add_bos(v3) && !sd_vocab_add_bos(v2),
              "llama3 defaults: eog %d add_bos %d/%d", sd_vocab_is_eog(v3, 259), sd_vocab_add_bos(v3),
              sd_vocab_add_bos(v2));
        /* llama3 contractions are case-insensitive, gpt2's are not: "'S" is a word for llama3 only */
        size_t *lens = NULL, nw = 0;
        sd_tok_bpe_pretokenize(v3, "IT'S", 4, &lens, &nw);
        bool ok3 = nw == 2 && lens[0] == 2 && lens[1] == 2;
        free(lens);
        sd_tok_bpe_pretokenize(v2, "IT'S", 4, &lens, &nw);
        bool ok2 = nw == 3 && lens[0] == 2 && lens[1] == 1 && lens[2] == 1;
        free(lens);
        CHECK(ok3 && ok2, "contraction case: llama3 %d gpt2 %d", ok3, ok2);
    }
    sd_vocab_free(v3);
    sd_vocab_free(v2);
    sd_gguf_close(g3);
    sd_gguf_close(g2);
    free(m3);
    free(m2);
}

/* GPT-4o's o200k split on fixed strings; the expected word lengths are those of Python's `regex` module
 * running the pattern from the model's tokenizer.json (case runs, digit triples, "//\n" runs). */
static void test_gpt4o_splits(void) {
    static const struct {
        const char *text;
        size_t lens[12];
        size_t n;
    } cases[] = {
        {"HelloWorld's CAMELCase 1234567 a//\n\nb", {5, 7, 10, 1, 3, 3, 1, 2, 4, 1}, 10},
        {"IT'S x  \n y", {4, 2, 3, 2}, 4},
    };
    sd_gguf *g = NULL;
    void *mem = NULL;
    sd_vocab *v = synthetic_vocab("gpt-4o", &g, &mem);
    for (size_t c = 0; v && c < SD_ARRAY_LEN(cases); c++) {
        size_t *lens = NULL, nw = 0;
        sd_tok_bpe_pretokenize(v, cases[c].text, strlen(cases[c].text), &lens, &nw);
        bool same = nw == cases[c].n;
        for (size_t i = 0; same && i < nw; i++)
            same = lens[i] == cases[c].lens[i];
        CHECK(same, "gpt-4o split of '%s': %zu words (want %zu)", cases[c].text, nw, cases[c].n);
        free(lens);
    }
    sd_vocab_free(v);
    sd_gguf_close(g);
    free(mem);
}

/* Every supported pre-tokenizer family: its regexes compile, long inputs of the shapes that make
 * backtracking regexes slow finish quickly, and text round-trips (all 256 byte tokens exist). */
static void test_all_pre_types(void) {
    static const char *const pres[] = {"default", "llama3",    "dbrx",  "deepseek-llm", "deepseek-coder",
                                       "falcon",  "starcoder", "gpt-2", "qwen2",        "chatglm-bpe",
                                       "smollm",  "olmo",      "gpt-4o"};
    static const char *const shapes[] = {
        "  \n\n\t x'S 12345 \xC2\xA0 \xE2\x82\xAC\xE2\x82\xAC caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 !!?? ",
        " \n",
        " \t",
        "!",
        "\xE3\x80\x80",
        "a1",
        "        x",
    };
    const size_t big = 100 * 1024;
    char *text = malloc(big + 64), *back = malloc(big + 64);
    int32_t *ids = malloc(sizeof(int32_t) * (big + 64));
    for (size_t p = 0; p < SD_ARRAY_LEN(pres); p++) {
        sd_gguf *g = NULL;
        void *mem = NULL;
        sd_vocab *v = synthetic_vocab(pres[p], &g, &mem);
        if (!v) continue;
        CHECK(strcmp(sd_vocab_pre_name(v), pres[p]) == 0, "pre name '%s' reported as '%s'", pres[p],
              sd_vocab_pre_name(v));
        double worst = 0;
        for (size_t k = 0; k <= SD_ARRAY_LEN(shapes); k++) {
            size_t n = 0;
            if (k == SD_ARRAY_LEN(shapes)) { /* one 100 KB whitespace run, then a letter */
                memset(text, ' ', big);
                text[big - 1] = 'x';
                n = big;
            }
            for (size_t sl = k < SD_ARRAY_LEN(shapes) ? strlen(shapes[k]) : 0; sl && n + sl <= big; n += sl)
                memcpy(text + n, shapes[k], sl);
            char err[256] = "";
            double t0 = sd_time_seconds();
            int nt = sd_tokenize(v, text, n, false, false, ids, (int)(big + 64), err, sizeof err);
            double dt = sd_time_seconds() - t0;
            worst = dt > worst ? dt : worst;
            int nb = nt > 0 ? sd_detokenize(v, ids, nt, false, false, back, big + 64) : -1;
            CHECK(nt > 0 && nb == (int)n && memcmp(back, text, n) == 0 && dt <= 1.0,
                  "pre '%s' shape %zu: %d tokens, %d bytes back of %zu, %.3f s %s", pres[p], k, nt, nb, n, dt,
                  err);
        }
        printf("pre '%s': 100 KB inputs, slowest %.1f ms\n", pres[p], worst * 1e3);
        sd_vocab_free(v);
        sd_gguf_close(g);
        free(mem);
    }
    free(text);
    free(back);
    free(ids);
}

int main(void) {
    int ec;
    PCRE2_SIZE eo;
    re_letter =
        pcre2_compile((PCRE2_SPTR) "^\\p{L}$", PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    re_number =
        pcre2_compile((PCRE2_SPTR) "^\\p{N}$", PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
    md = pcre2_match_data_create(1, NULL);

    sd_gguf *g3 = NULL, *g2 = NULL;
    void *m3 = NULL, *m2 = NULL;
    sd_vocab *v3 = synthetic_vocab("llama3", &g3, &m3), *v2 = synthetic_vocab("gpt-2", &g2, &m2);
    unsigned seed = 12345;
    const int n_cases = 20000;
    if (v2) {
        int bad = compare(v2, false, &seed, n_cases);
        printf("gpt2 pre-tokenizer: %d of %d random strings differ from llama.cpp's matcher\n", bad, n_cases);
        CHECK(bad == 0, "gpt2 pre-tokenizer differs from llama.cpp's matcher");
    }
    if (v3) {
        int bad = compare(v3, true, &seed, n_cases);
        printf("llama3 pre-tokenizer: %d of %d random strings differ from llama.cpp's matcher\n", bad,
               n_cases);
        CHECK(bad == 0, "llama3 pre-tokenizer differs from llama.cpp's matcher");
    }
    sd_vocab_free(v3);
    sd_vocab_free(v2);
    sd_gguf_close(g3);
    sd_gguf_close(g2);
    free(m3);
    free(m2);
    test_llama3_behaviour();
    test_gpt4o_splits();
    test_all_pre_types();

    pcre2_code_free(re_letter);
    pcre2_code_free(re_number);
    pcre2_match_data_free(md);
    return test_finish("tokenizer_pretok");
}
