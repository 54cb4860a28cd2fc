/* Byte-level BPE as llama.cpp's llm_tokenizer_bpe does it:
 *   1. decode the text leniently (each invalid byte becomes U+FFFD, as llama.cpp's unicode_cpts_from_utf8),
 *   2. split it into words with the pre-tokenizer's regexes, applied one after the other, each regex
 *      splitting every piece the previous ones left into matches and the gaps between them,
 *   3. map every byte of a word to its GPT-2 unicode character,
 *   4. merge adjacent symbols by merge rank (lowest first, leftmost on ties),
 *   5. emit each symbol's token (a symbol that is no token gives its single-byte tokens, if any).
 * The regexes are llama.cpp's (src/llama-vocab.cpp regex_exprs), run by PCRE2 (UTF + UCP). llama.cpp runs
 * the gpt2 and llama3 ones with hand-written matchers and the others with std::regex; both define \s as
 * the Unicode White_Space set, which PCRE2's \s is not (it misses U+0085), so \s and \S are rewritten into
 * that explicit set before compiling. */
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "tokenizer/vocab_internal.h"

/* llama.cpp's whitespace set (Unicode White_Space), as PCRE2 class items. */
#define WS_ITEMS                                                                                             \
    "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static const char RE_GPT2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

static const char RE_LLAMA3[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char RE_QWEN2[] =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-4o's o200k split (the pattern its tokenizer.json gives): a word is an optional leading symbol, then
 * upper-case letters then lower-case ones (or the reverse run) with an optional contraction; digits in
 * groups of up to three; a punctuation run may take trailing newlines and slashes. */
static const char RE_GPT4O[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* CJK ideographs (U+4E00..U+9FA5), U+0800..U+4E00 and Hangul syllables: deepseek's
 * "[一-龥ࠀ-一가-퟿]+".
 */
static const char RE_DEEPSEEK_CJK[] = "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";

/* deepseek-llm's cased-letter class, written as code points. */
static const char RE_DEEPSEEK_LLM_LETTERS[] =
    "\\s?["
    "\\x{41}-\\x{5A}\\x{61}-\\x{7A}\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}"
    "\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}"
    "\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
    "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}"
    "\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"
    "\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}"
    "\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
    "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}"
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}"
    "\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}"
    "\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}"
    "\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}"
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
    "]+";

/* deepseek-llm's "\s?[!-/:-~！-／：-～‘-‟　-。]+". */
static const char RE_DEEPSEEK_LLM_PUNCT[] =
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+";

typedef struct pre_regexes {
    const char *re[SD_VOCAB_MAX_REGEX];
    int n;
} pre_regexes;

static pre_regexes regexes_for(bpe_pre pre) {
    switch (pre) {
    case BPE_PRE_LLAMA3:
    case BPE_PRE_DBRX:
    case BPE_PRE_CHATGLM4:
        return (pre_regexes){{RE_LLAMA3}, 1};
    case BPE_PRE_DEEPSEEK_LLM:
        return (pre_regexes){
            {"[\r\n]", RE_DEEPSEEK_LLM_LETTERS, RE_DEEPSEEK_LLM_PUNCT, "\\s+$", RE_DEEPSEEK_CJK, "\\p{N}+"},
            6};
    case BPE_PRE_DEEPSEEK_CODER:
        return (pre_regexes){{"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_DEEPSEEK_CJK, "\\p{N}"}, 5};
    case BPE_PRE_FALCON:
        return (pre_regexes){{"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, 3};
    case BPE_PRE_STARCODER:
        return (pre_regexes){{"\\p{N}", RE_GPT2}, 2};
    case BPE_PRE_GPT2:
        return (pre_regexes){{RE_GPT2}, 1};
    case BPE_PRE_QWEN2:
        return (pre_regexes){{RE_QWEN2}, 1};
    case BPE_PRE_GPT4O:
        return (pre_regexes){{RE_GPT4O}, 1};
    case BPE_PRE_DEFAULT:
    default:
        return (pre_regexes){{"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, 4};
    }
}

/* Rewrites \s / \S into llama.cpp's whitespace set; everything else is copied. */
static bool translate_regex(const char *src, bytebuf *dst) {
    bool in_class = false;
    dst->len = 0;
    for (size_t i = 0; src[i]; i++) {
        char c = src[i];
        if (c == '\\' && src[i + 1]) {
            char e = src[i + 1];
            bool ok;
            if (e == 's')
                ok = in_class ? sd_tok_bytebuf_append(dst, WS_ITEMS, strlen(WS_ITEMS))
                              : sd_tok_bytebuf_append(dst, "[" WS_ITEMS "]", strlen("[" WS_ITEMS "]"));
            else if (e == 'S' && !in_class)
                ok = sd_tok_bytebuf_append(dst, "[^" WS_ITEMS "]", strlen("[^" WS_ITEMS "]"));
            else
                ok = sd_tok_bytebuf_append(dst, src + i, 2);
            if (!ok) return false;
            i++;
            continue;
        }
        if (c == '[' && !in_class)
            in_class = true;
        else if (c == ']' && in_class)
            in_class = false;
        if (!sd_tok_bytebuf_append(dst, &c, 1)) return false;
    }
    return true;
}

int sd_tok_bpe_compile_regexes(sd_vocab *v, char *err, size_t err_len) {
    pre_regexes pr = regexes_for(v->pre);
    bytebuf pat = {0};
    int rc = SD_STATUS_OK;
    for (int i = 0; i < pr.n; i++) {
        if (!translate_regex(pr.re[i], &pat)) {
            rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory compiling pre-tokenizer regex");
            break;
        }
        int errcode = 0;
        PCRE2_SIZE erroff = 0;
        pcre2_code *code =
            pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY,
                          &errcode, &erroff, NULL);
        if (!code) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(errcode, msg, sizeof(msg));
            rc = sd_error(err, err_len, SD_STATUS_INTERNAL, "pre-tokenizer '%s' regex %d: %s at offset %zu",
                          v->pre_name, i, (const char *)msg, (size_t)erroff);
            break;
        }
        /* JIT when this build and machine have it; pcre2_match falls back to the interpreter otherwise. */
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
        v->re[v->n_re++] = code;
    }
    free(pat.data);
    return rc;
}

/* A piece of the sanitized text: [start, start+len) in bytes. */
typedef struct span {
    size_t start, len;
} span;

typedef struct spanbuf {
    span *data;
    size_t len, cap;
} spanbuf;

static bool span_push(spanbuf *b, size_t start, size_t len) {
    if (len == 0) return true;
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        span *p = realloc(b->data, cap * sizeof(*p));
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    b->data[b->len++] = (span){start, len};
    return true;
}

typedef struct bpe_symbol {
    int prev, next;
    const char *text;
    size_t n;
} bpe_symbol;

/* Per-call scratch space (a vocab is shared between threads: nothing of this lives in it). */
typedef struct bpe_state {
    const sd_vocab *v;
    bytebuf text;  /* the input re-encoded from llama.cpp's code points (invalid bytes -> U+FFFD) */
    bytebuf match; /* the same with surrogates replaced by U+E000 so PCRE2 sees valid UTF-8 */
    bytebuf word;  /* one word, byte-encoded to GPT-2 characters */
    bytebuf key;   /* "left right" for merge lookups */
    spanbuf spans, next_spans;
    bpe_symbol *sym;
    size_t sym_cap;
    sd_tok_bigram_queue queue;
    pcre2_match_data *md;
} bpe_state;

static void bpe_state_free(bpe_state *st) {
    free(st->text.data);
    free(st->match.data);
    free(st->word.data);
    free(st->key.data);
    free(st->spans.data);
    free(st->next_spans.data);
    free(st->sym);
    free(st->queue.heap);
    if (st->md) pcre2_match_data_free(st->md);
}

static bool sanitize(bpe_state *st, const char *text, size_t len) {
    bool has_surrogate = false;
    if (!sd_tok_bytebuf_reserve(&st->text, 3 * len)) return false;
    for (size_t i = 0; i < len;) {
        size_t n;
        int32_t cp = sd_utf8_decode_lenient((const uint8_t *)text + i, len - i, &n);
        if (cp < 0) cp = 0xFFFD;
        if (cp >= 0xD800 && cp <= 0xDFFF) has_surrogate = true;
        st->text.len += sd_utf8_encode((uint32_t)cp, st->text.data + st->text.len);
        i += n;
    }
    if (!has_surrogate) return true;
    /* Surrogates are category Cs in llama.cpp's tables; U+E000 (Co) falls in the same regex classes
     * and has the same 3-byte length, so offsets stay aligned. */
    if (!sd_tok_bytebuf_append(&st->match, st->text.data, st->text.len)) return false;
    for (size_t i = 0; i + 2 < st->match.len; i++) {
        uint8_t *p = (uint8_t *)st->match.data + i;
        if (p[0] == 0xED && p[1] >= 0xA0) {
            p[0] = 0xEE;
            p[1] = 0x80;
            p[2] = 0x80;
        }
    }
    return true;
}

/* Splits every span in st->spans by one regex: matches and the gaps between them become spans. */
static int split_by_regex(bpe_state *st, const pcre2_code *re) {
    const char *subject_base = st->match.len ? st->match.data : st->text.data;
    st->next_spans.len = 0;
    for (size_t s = 0; s < st->spans.len; s++) {
        span sp = st->spans.data[s];
        PCRE2_SPTR subject = (PCRE2_SPTR)(subject_base + sp.start);
        size_t pos = 0, gap_start = 0;
        while (pos < sp.len) {
            int rc = pcre2_match(re, subject, sp.len, pos, PCRE2_NO_UTF_CHECK, st->md, NULL);
            /* JIT code runs on a 32 KiB machine stack; should an input need more, use the interpreter
             * (heap frames) for this match. */
            if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                rc = pcre2_match(re, subject, sp.len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, st->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) return SD_STATUS_INTERNAL;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
            size_t m0 = ov[0], m1 = ov[1];
            if (m1 == m0) { /* an empty match splits nothing: move on by one character */
                pos = m0 + 1;
                while (pos < sp.len && sd_utf8_is_cont(subject[pos]))
                    pos++;
                continue;
            }
            if (!span_push(&st->next_spans, sp.start + gap_start, m0 - gap_start) ||
                !span_push(&st->next_spans, sp.start + m0, m1 - m0))
                return SD_STATUS_NO_MEMORY;
            pos = gap_start = m1;
        }
        if (!span_push(&st->next_spans, sp.start + gap_start, sp.len - gap_start)) return SD_STATUS_NO_MEMORY;
    }
    spanbuf t = st->spans;
    st->spans = st->next_spans;
    st->next_spans = t;
    return SD_STATUS_OK;
}

static bool add_bigram(bpe_state *st, int left, int right) {
    if (left < 0 || right < 0) return true;
    const bpe_symbol *l = &st->sym[left], *r = &st->sym[right];
    st->key.len = 0;
    if (!sd_tok_bytebuf_append(&st->key, l->text, l->n) || !sd_tok_bytebuf_append(&st->key, " ", 1) ||
        !sd_tok_bytebuf_append(&st->key, r->text, r->n))
        return false;
    int32_t rank = sd_tok_merge_rank(st->v, st->key.data, st->key.len);
    if (rank < 0) return true;
    return sd_tok_queue_push(&st->queue, (sd_tok_bigram){left, right, (double)rank, l->n + r->n});
}

static bool emit_symbol(const sd_vocab *v, const char *text, size_t n, idbuf *out) {
    int32_t id = sd_tok_token_id(v, text, n);
    if (id >= 0) return sd_tok_idbuf_push(out, id);
    /* As llama.cpp: try each byte of the (byte-encoded) symbol as a one-byte token; drop the rest. */
    for (size_t j = 0; j < n; j++) {
        int32_t b = sd_tok_token_id(v, text + j, 1);
        if (b >= 0 && !sd_tok_idbuf_push(out, b)) return false;
    }
    return true;
}

/* Merges one byte-encoded word (st->word) and appends its tokens. */
static int merge_word(bpe_state *st, idbuf *out) {
    const sd_vocab *v = st->v;
    const char *w = st->word.data;
    size_t wlen = st->word.len;
    if (v->ignore_merges && sd_tok_token_id(v, w, wlen) >= 0)
        return emit_symbol(v, w, wlen, out) ? SD_STATUS_OK : SD_STATUS_NO_MEMORY;

    if (wlen > st->sym_cap) {
        free(st->sym);
        st->sym = malloc(wlen * sizeof(*st->sym));
        if (!st->sym) {
            st->sym_cap = 0;
            return SD_STATUS_NO_MEMORY;
        }
        st->sym_cap = wlen;
    }
    int n_sym = 0;
    for (size_t off = 0; off < wlen;) {
        size_t n = SD_MIN(sd_utf8_len_lenient((uint8_t)w[off]), wlen - off);
        st->sym[n_sym] = (bpe_symbol){n_sym - 1, off + n == wlen ? -1 : n_sym + 1, w + off, n};
        off += n;
        n_sym++;
    }
    st->queue.len = 0;
    for (int i = 1; i < n_sym; i++)
        if (!add_bigram(st, i - 1, i)) return SD_STATUS_NO_MEMORY;

    while (st->queue.len > 0) {
        sd_tok_bigram b = sd_tok_queue_pop(&st->queue);
        bpe_symbol *l = &st->sym[b.left], *r = &st->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) st->sym[r->next].prev = b.left;
        if (!add_bigram(st, l->prev, b.left) || !add_bigram(st, b.left, l->next)) return SD_STATUS_NO_MEMORY;
    }
    for (int i = 0; i != -1 && n_sym > 0; i = st->sym[i].next)
        if (!emit_symbol(v, st->sym[i].text, st->sym[i].n, out)) return SD_STATUS_NO_MEMORY;
    return SD_STATUS_OK;
}

/* Byte-encodes text[sp] into st->word with the GPT-2 mapping. */
static bool encode_word(bpe_state *st, span sp) {
    st->word.len = 0;
    if (!sd_tok_bytebuf_reserve(&st->word, 2 * sp.len)) return false;
    for (size_t i = 0; i < sp.len; i++) {
        uint32_t cp = sd_tok_gpt2_byte_to_cp((uint8_t)st->text.data[sp.start + i]);
        st->word.len += sd_utf8_encode(cp, st->word.data + st->word.len);
    }
    return true;
}

int sd_tok_bpe_tokenize_fragment(const sd_vocab *v, const char *text, size_t len, idbuf *out) {
    bpe_state st = {.v = v};
    int rc = SD_STATUS_NO_MEMORY;
    if (len == 0) return SD_STATUS_OK;
    st.md = pcre2_match_data_create(1, NULL);
    if (!st.md || !sanitize(&st, text, len) || !span_push(&st.spans, 0, st.text.len)) goto done;
    for (int i = 0; i < v->n_re; i++) {
        rc = split_by_regex(&st, v->re[i]);
        if (rc != SD_STATUS_OK) goto done;
    }
    rc = SD_STATUS_NO_MEMORY;
    for (size_t i = 0; i < st.spans.len; i++) {
        if (!encode_word(&st, st.spans.data[i])) goto done;
        int r = merge_word(&st, out);
        if (r != SD_STATUS_OK) {
            rc = r;
            goto done;
        }
    }
    rc = SD_STATUS_OK;
done:
    bpe_state_free(&st);
    return rc;
}

int sd_tok_bpe_pretokenize(const sd_vocab *v, const char *text, size_t len, size_t **word_lens,
                           size_t *n_words) {
    bpe_state st = {.v = v};
    int rc = SD_STATUS_NO_MEMORY;
    *word_lens = NULL;
    *n_words = 0;
    if (len == 0) return SD_STATUS_OK;
    st.md = pcre2_match_data_create(1, NULL);
    if (!st.md || !sanitize(&st, text, len) || !span_push(&st.spans, 0, st.text.len)) goto done;
    for (int i = 0; i < v->n_re; i++) {
        rc = split_by_regex(&st, v->re[i]);
        if (rc != SD_STATUS_OK) goto done;
    }
    rc = SD_STATUS_NO_MEMORY;
    *word_lens = malloc((st.spans.len ? st.spans.len : 1) * sizeof(size_t));
    if (!*word_lens) goto done;
    for (size_t i = 0; i < st.spans.len; i++)
        (*word_lens)[i] = st.spans.data[i].len;
    *n_words = st.spans.len;
    rc = SD_STATUS_OK;
done:
    bpe_state_free(&st);
    return rc;
}
