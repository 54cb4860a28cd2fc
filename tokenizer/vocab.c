/* Vocabulary loading (llama.cpp's llama_vocab::impl::load), special tokens, the special-token
 * partition of the input, token pieces and detokenization, and the draft/target compatibility check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "tokenizer/vocab_internal.h"

#define KEY_PREFIX "tokenizer.ggml."

/* Writes up to 24 bytes of a token text with control bytes escaped, so messages stay on one line. */
static void printable(const char *t, uint32_t len, char out[104]) {
    size_t o = 0;
    for (uint32_t i = 0; i < len && i < 24; i++) {
        uint8_t c = (uint8_t)t[i];
        if (c < 0x20 || c == 0x7F || c == '\'')
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* ---- loading ---- */

typedef struct pre_entry {
    const char *name;
    bpe_pre pre;
    bool ignore_merges;
    bool add_bos; /* llama.cpp's default add_bos for this pre-tokenizer (before the GGUF key) */
} pre_entry;

/* The tokenizer.ggml.pre names llama.cpp maps to the pre-tokenizers implemented here. */
static const pre_entry PRE_TABLE[] = {
    {"default", BPE_PRE_DEFAULT, false, false},
    {"llama3", BPE_PRE_LLAMA3, true, true},
    {"llama-v3", BPE_PRE_LLAMA3, true, true},
    {"llama-bpe", BPE_PRE_LLAMA3, true, true},
    {"falcon3", BPE_PRE_LLAMA3, true, true},
    {"falcon-h1", BPE_PRE_LLAMA3, true, true},
    {"pixtral", BPE_PRE_LLAMA3, true, true},
    {"midm-2.0", BPE_PRE_LLAMA3, true, true},
    {"lfm2", BPE_PRE_LLAMA3, true, true},
    {"jina-v5-nano", BPE_PRE_LLAMA3, true, true},
    {"dbrx", BPE_PRE_DBRX, false, false},
    {"smaug-bpe", BPE_PRE_DBRX, false, false},
    {"deepseek-llm", BPE_PRE_DEEPSEEK_LLM, false, false},
    {"deepseek-coder", BPE_PRE_DEEPSEEK_CODER, false, false},
    {"falcon", BPE_PRE_FALCON, false, false},
    {"mpt", BPE_PRE_GPT2, false, false},
    {"olmo", BPE_PRE_GPT2, false, false},
    {"jais", BPE_PRE_GPT2, false, false},
    {"trillion", BPE_PRE_GPT2, false, false},
    {"granite-docling", BPE_PRE_GPT2, false, false},
    {"gpt-2", BPE_PRE_GPT2, false, false},
    {"phi-2", BPE_PRE_GPT2, false, false},
    {"jina-es", BPE_PRE_GPT2, false, false},
    {"jina-de", BPE_PRE_GPT2, false, false},
    {"gigachat", BPE_PRE_GPT2, false, false},
    {"jina-v2-es", BPE_PRE_GPT2, false, false},
    {"jina-v2-de", BPE_PRE_GPT2, false, false},
    {"a.x-4.0", BPE_PRE_GPT2, false, false},
    {"mellum", BPE_PRE_GPT2, false, false},
    {"modern-bert", BPE_PRE_GPT2, false, false},
    {"exaone4", BPE_PRE_GPT2, false, false},
    {"starcoder", BPE_PRE_STARCODER, false, false},
    {"refact", BPE_PRE_STARCODER, false, false},
    {"command-r", BPE_PRE_STARCODER, false, false},
    {"smollm", BPE_PRE_STARCODER, false, false},
    {"codeshell", BPE_PRE_STARCODER, false, false},
    {"exaone", BPE_PRE_STARCODER, false, false},
    {"minerva-7b", BPE_PRE_STARCODER, false, false},
    {"mellum2", BPE_PRE_STARCODER, false, false},
    {"qwen2", BPE_PRE_QWEN2, false, false},
    {"deepseek-r1-qwen", BPE_PRE_QWEN2, false, false},
    {"kormo", BPE_PRE_QWEN2, false, false},
    {"f2llmv2", BPE_PRE_QWEN2, false, false},
    {"megrez", BPE_PRE_QWEN2, false, false},
    {"stablelm2", BPE_PRE_QWEN2, false, false},
    {"hunyuan", BPE_PRE_QWEN2, false, false},
    {"solar-open", BPE_PRE_QWEN2, false, false},
    {"gpt-4o", BPE_PRE_GPT4O, false, false},
    {"llama4", BPE_PRE_GPT4O, false, false},
    {"glm4", BPE_PRE_CHATGLM4, false, false},
    {"chatglm-bpe", BPE_PRE_CHATGLM4, false, false},
};

/* Texts llama.cpp treats as end-of-generation (and promotes to control tokens). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81"
    "of\xE2\x96\x81"
    "sentence\xEF\xBD\x9C>",
    "[e~[",
};

/* Texts that name the EOT token when tokenizer.ggml.eot_token_id is absent. */
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81"
    "of\xE2\x96\x81"
    "sentence\xEF\xBD\x9C>",
    "<end_of_utterance>",
};

static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            "<reponame>"};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>"};

static const char *tok_text(const sd_vocab *v, int32_t id) {
    return v->text_pool + v->text_off[id];
}

static uint8_t attr_from_type(int32_t type) {
    switch (type) {
    case SD_TOKEN_NORMAL:
        return TOK_ATTR_NORMAL;
    case SD_TOKEN_UNKNOWN:
        return TOK_ATTR_UNKNOWN;
    case SD_TOKEN_CONTROL:
        return TOK_ATTR_CONTROL;
    case SD_TOKEN_USER_DEFINED:
        return TOK_ATTR_USER_DEFINED;
    case SD_TOKEN_UNUSED:
        return TOK_ATTR_UNUSED;
    case SD_TOKEN_BYTE:
        return TOK_ATTR_BYTE;
    default:
        return 0;
    }
}

/* Copies the token texts into one NUL-terminated pool and indexes them. */
/* Key readers of the two string indices (sd_strtab). */
static const char *token_text(const void *owner, uint32_t id, size_t *len) {
    const sd_vocab *v = owner;
    *len = v->text_len[id];
    return v->text_pool + v->text_off[id];
}

static const char *merge_text(const void *owner, uint32_t rank, size_t *len) {
    const sd_gguf_str *s = &((const sd_vocab *)owner)->merge_text[rank];
    *len = s->len;
    return s->ptr;
}

static int load_tokens(sd_vocab *v, const sd_gguf_kv *toks, char *err, size_t err_len) {
    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        total += (toks->arr_strs[i].len ? toks->arr_strs[i].len : 24) + 1;
    if (total > UINT32_MAX)
        return sd_error(err, err_len, SD_STATUS_FORMAT, KEY_PREFIX "tokens: %zu bytes of text is too much",
                        total);
    v->text_pool = malloc(total);
    v->text_off = malloc(v->n_tokens * sizeof(uint32_t));
    v->text_len = malloc(v->n_tokens * sizeof(uint32_t));
    if (!v->text_pool || !v->text_off || !v->text_len ||
        sd_strtab_init(&v->token_ids, (uint64_t)v->n_tokens, (uint64_t)(uintptr_t)v * 0x9e3779b97f4a7c15ull,
                       token_text, v) < 0)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory loading the vocabulary");
    size_t off = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        sd_gguf_str s = toks->arr_strs[i];
        char *dst = v->text_pool + off;
        size_t len = s.len;
        if (len == 0) { /* as llama.cpp: an empty token gets a placeholder text */
            len = (size_t)snprintf(dst, 24, "[EMPTY_%d]", (int)i);
        } else {
            memcpy(dst, s.ptr, len);
        }
        dst[len] = '\0';
        v->text_off[i] = (uint32_t)off;
        v->text_len[i] = (uint32_t)len;
        off += len + 1;
        int64_t first = sd_strtab_insert(&v->token_ids, dst, len, (uint32_t)i);
        if (first >= 0) {
            char shown[104];
            printable(dst, (uint32_t)len, shown);
            return sd_error(err, err_len, SD_STATUS_FORMAT,
                            KEY_PREFIX "tokens: duplicate token '%s' at ids %d and %d", shown, (int)first,
                            (int)i);
        }
    }
    return SD_STATUS_OK;
}

/* Scores (float or int32) and token types; both optional, but when present one per token. */
static int load_scores_types(sd_vocab *v, const sd_gguf *g, char *err, size_t err_len) {
    v->scores = calloc(v->n_tokens, sizeof(float));
    v->type = malloc(v->n_tokens);
    v->attr = malloc(v->n_tokens);
    if (!v->scores || !v->type || !v->attr)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory loading the vocabulary");
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, KEY_PREFIX "scores");
    if (kv) {
        if (kv->type != SD_GGUF_ARRAY || (kv->arr_type != SD_GGUF_FLOAT32 && kv->arr_type != SD_GGUF_INT32))
            return sd_error(err, err_len, SD_STATUS_FORMAT,
                            KEY_PREFIX "scores is not an array of f32 or i32");
        if (kv->arr_len != (uint64_t)v->n_tokens)
            return sd_error(err, err_len, SD_STATUS_FORMAT,
                            KEY_PREFIX "scores has %llu entries for %d tokens",
                            (unsigned long long)kv->arr_len, (int)v->n_tokens);
        for (int32_t i = 0; i < v->n_tokens; i++)
            v->scores[i] = sd_gguf_arr_f32(kv, i);
    }
    kv = sd_gguf_find_kv(g, KEY_PREFIX "token_type");
    if (kv) {
        if (kv->type != SD_GGUF_ARRAY || kv->arr_type != SD_GGUF_INT32)
            return sd_error(err, err_len, SD_STATUS_FORMAT, KEY_PREFIX "token_type is not an array of i32");
        if (kv->arr_len != (uint64_t)v->n_tokens)
            return sd_error(err, err_len, SD_STATUS_FORMAT,
                            KEY_PREFIX "token_type has %llu entries for %d tokens",
                            (unsigned long long)kv->arr_len, (int)v->n_tokens);
    }
    for (int32_t i = 0; i < v->n_tokens; i++) {
        int32_t t = kv ? sd_gguf_arr_i32(kv, i) : SD_TOKEN_NORMAL;
        if (t < SD_TOKEN_UNDEFINED || t > SD_TOKEN_BYTE) t = SD_TOKEN_UNDEFINED;
        v->type[i] = (uint8_t)t;
        v->attr[i] = attr_from_type(t);
    }
    return SD_STATUS_OK;
}

static int load_merges(sd_vocab *v, const sd_gguf *g, char *err, size_t err_len) {
    const sd_gguf_kv *kv = NULL;
    int r = sd_gguf_get_arr(g, KEY_PREFIX "merges", SD_GGUF_STRING, &kv, err, err_len);
    if (r < 0) return r;
    if (r == 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT,
                        "missing " KEY_PREFIX "merges (needed by gpt2 tokenizer)");
    if (kv->arr_len > INT32_MAX)
        return sd_error(err, err_len, SD_STATUS_FORMAT, KEY_PREFIX "merges: too many");
    size_t total = 0;
    for (uint64_t i = 0; i < kv->arr_len; i++)
        total += kv->arr_strs[i].len;
    v->merge_pool = malloc(total ? total : 1);
    v->merge_text = calloc(kv->arr_len ? kv->arr_len : 1, sizeof *v->merge_text);
    if (!v->merge_pool || !v->merge_text ||
        sd_strtab_init(&v->merge_ranks, kv->arr_len, (uint64_t)(uintptr_t)v * 0xd1342543de82ef95ull,
                       merge_text, v) < 0)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory loading the merges");
    size_t off = 0;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        sd_gguf_str s = kv->arr_strs[i];
        /* llama.cpp splits at the first space after position 0; a merge without one never matches. The
         * "left right" text itself is the key: symbols never contain a space (it is byte-encoded). */
        if (s.len < 3 || !memchr(s.ptr + 1, ' ', s.len - 1)) continue;
        memcpy(v->merge_pool + off, s.ptr, s.len);
        v->merge_text[i].ptr = v->merge_pool + off;
        v->merge_text[i].len = s.len;
        /* the first rank wins for duplicates, as std::map::emplace */
        sd_strtab_insert(&v->merge_ranks, v->merge_pool + off, s.len, (uint32_t)i);
        off += s.len;
    }
    return SD_STATUS_OK;
}

/* Reads an optional special token id. -1 (also stored as 0xFFFFFFFF) means "none", as converters write it;
 * any other id outside the vocabulary is an error. */
static int read_special(const sd_gguf *g, const sd_vocab *v, const char *key, int32_t *id, char *err,
                        size_t err_len) {
    if (*id >= v->n_tokens) *id = -1; /* a default that does not exist in this vocab */
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return SD_STATUS_OK;
    int64_t val;
    switch (kv->type) {
    case SD_GGUF_UINT8:
    case SD_GGUF_UINT16:
    case SD_GGUF_UINT32:
    case SD_GGUF_UINT64:
        val = kv->value.u64 == UINT32_MAX || kv->value.u64 == UINT64_MAX ? -1
              : kv->value.u64 > INT32_MAX                                ? INT64_MAX
                                                                         : (int64_t)kv->value.u64;
        break;
    case SD_GGUF_INT8:
    case SD_GGUF_INT16:
    case SD_GGUF_INT32:
    case SD_GGUF_INT64:
        val = kv->value.i64;
        break;
    default:
        return sd_error(err, err_len, SD_STATUS_FORMAT, "%s is a %s, not an integer", key,
                        sd_gguf_type_name(kv->type));
    }
    if (val == -1) {
        *id = -1;
        return SD_STATUS_OK;
    }
    if (val < 0 || val >= v->n_tokens)
        return sd_error(err, err_len, SD_STATUS_FORMAT, "%s = %lld is out of range (%d tokens)", key,
                        (long long)val, (int)v->n_tokens);
    *id = (int32_t)val;
    return SD_STATUS_OK;
}

static int read_bool(const sd_gguf *g, const char *key, bool *out, char *err, size_t err_len) {
    int r = sd_gguf_get_bool(g, key, out, err, err_len);
    return r < 0 ? r : SD_STATUS_OK;
}

static void promote_control(sd_vocab *v, int32_t id) {
    if (!(v->attr[id] & TOK_ATTR_CONTROL)) {
        v->attr[id] |= TOK_ATTR_CONTROL;
        v->type[id] = SD_TOKEN_CONTROL;
    }
}

static int32_t find_by_texts(sd_vocab *v, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int32_t id = sd_tok_token_id(v, list[i], strlen(list[i]));
        if (id >= 0) return id;
    }
    return -1;
}

static void eog_add(sd_vocab *v, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    if (v->n_eog < SD_VOCAB_MAX_EOG) v->eog[v->n_eog++] = id;
}

static void eog_remove(sd_vocab *v, int32_t id) {
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) {
            v->eog[i] = v->eog[--v->n_eog];
            return;
        }
}

/* llama.cpp's EOT/EOM/FIM auto-detection by text and its EOG list, with their workarounds. */
static void build_eog(sd_vocab *v, int32_t fim_pad, int32_t fim_rep, int32_t fim_sep) {
    if (v->eot < 0) v->eot = find_by_texts(v, EOT_TEXTS, SD_ARRAY_LEN(EOT_TEXTS));
    if (v->eot >= 0) promote_control(v, v->eot);
    if (v->eom < 0) v->eom = find_by_texts(v, (const char *const[]){"<|eom_id|>"}, 1);
    if (v->eom >= 0) promote_control(v, v->eom);
    if (fim_pad < 0) fim_pad = find_by_texts(v, FIM_PAD_TEXTS, SD_ARRAY_LEN(FIM_PAD_TEXTS));
    if (fim_rep < 0) fim_rep = find_by_texts(v, FIM_REP_TEXTS, SD_ARRAY_LEN(FIM_REP_TEXTS));
    if (fim_sep < 0) fim_sep = find_by_texts(v, FIM_SEP_TEXTS, SD_ARRAY_LEN(FIM_SEP_TEXTS));
    int32_t fims[3] = {fim_pad, fim_rep, fim_sep};
    for (int i = 0; i < 3; i++) {
        if (fims[i] < 0) continue;
        promote_control(v, fims[i]);
        eog_add(v, fims[i]);
    }
    for (size_t i = 0; i < SD_ARRAY_LEN(EOG_TEXTS); i++) {
        int32_t id = sd_tok_token_id(v, EOG_TEXTS[i], strlen(EOG_TEXTS[i]));
        if (id < 0) continue;
        eog_add(v, id);
        promote_control(v, id);
    }
    eog_add(v, v->eos);
    eog_add(v, v->eot);
    eog_add(v, v->eom);

    /* o200k_harmony / solar-open: "<|end|>" is no EOG when "<|return|>"+"<|call|>" (or "<|calls|>"+
     * "<|flush|>") are. gemma4 / paddleocr: "</s>" is none when "<|tool_response>" is. */
#define HAS(t) (sd_tok_token_id(v, t, strlen(t)) >= 0)
    int32_t end_id = sd_tok_token_id(v, "<|end|>", 7);
    if (end_id >= 0 && ((HAS("<|return|>") && HAS("<|call|>")) || (HAS("<|calls|>") && HAS("<|flush|>")))) {
        eog_remove(v, end_id);
        v->attr[end_id] = TOK_ATTR_USER_DEFINED;
        v->type[end_id] = SD_TOKEN_USER_DEFINED;
    }
    int32_t s_id = sd_tok_token_id(v, "</s>", 4);
    if (s_id >= 0 && HAS("<|tool_response>")) {
        eog_remove(v, s_id);
        v->attr[s_id] = TOK_ATTR_NORMAL;
        v->type[s_id] = SD_TOKEN_NORMAL;
    }
#undef HAS
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const sd_vocab *v = ctx;
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    if (v->text_len[ia] != v->text_len[ib]) return v->text_len[ia] > v->text_len[ib] ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static int build_special_cache(sd_vocab *v) {
    v->special_ids = malloc((v->n_tokens ? v->n_tokens : 1) * sizeof(int32_t));
    if (!v->special_ids) return SD_STATUS_NO_MEMORY;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            v->special_ids[v->n_special++] = i;
    qsort_r(v->special_ids, v->n_special, sizeof(int32_t), cmp_special, v);
    return SD_STATUS_OK;
}

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte a <0xXX> token stands for (llama.cpp: strtol of text[3..5)); -1 if malformed. */
static int byte_token_value(const char *t, uint32_t len) {
    if (len < 5) return -1;
    int hi = hex_nibble(t[3]), lo = hex_nibble(t[4]);
    if (hi < 0) return -1;
    if (lo < 0) return hi;
    return hi * 16 + lo;
}

/* Appends token id's piece as llama.cpp's token_to_piece(special = true) gives it. */
static bool piece_for(const sd_vocab *v, int32_t id, bytebuf *out) {
    const char *t = tok_text(v, id);
    uint32_t len = v->text_len[id];
    uint8_t a = v->attr[id];
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
        return sd_tok_bytebuf_append(out, t, len);
    if (a & TOK_ATTR_NORMAL) {
        if (v->kind == SD_VOCAB_SPM) { /* U+2581 -> ' ' */
            size_t run = 0;
            for (size_t i = 0; i < len; i++) {
                if (i + 2 < len && (uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x96 &&
                    (uint8_t)t[i + 2] == 0x81) {
                    if (!sd_tok_bytebuf_append(out, t + run, i - run) || !sd_tok_bytebuf_append(out, " ", 1))
                        return false;
                    i += 2;
                    run = i + 1;
                }
            }
            return sd_tok_bytebuf_append(out, t + run, len - run);
        }
        /* GPT-2 byte decoding; llama.cpp writes characters outside the mapping as "[UNK_BYTE_0x..]". */
        for (size_t i = 0; i < len;) {
            size_t n;
            int32_t cp = sd_utf8_decode_lenient((const uint8_t *)t + i, len - i, &n);
            int b = cp < 0 ? -1 : sd_tok_gpt2_cp_to_byte((uint32_t)cp);
            if (b >= 0) {
                char c = (char)b;
                if (!sd_tok_bytebuf_append(out, &c, 1)) return false;
            } else {
                char enc[4], hex[16];
                size_t en = sd_utf8_encode(cp < 0 ? 0xFFFD : (uint32_t)cp, enc);
                if (!sd_tok_bytebuf_append(out, "[UNK_BYTE_0x", 12)) return false;
                for (size_t k = 0; k < en; k++) {
                    snprintf(hex, sizeof hex, "%02x", (uint8_t)enc[k]);
                    if (!sd_tok_bytebuf_append(out, hex, 2)) return false;
                }
                if (!sd_tok_bytebuf_append(out, t, len) || !sd_tok_bytebuf_append(out, "]", 1)) return false;
            }
            i += n;
        }
        return true;
    }
    if (a & TOK_ATTR_BYTE) {
        int b = byte_token_value(t, len);
        if (b < 0) return true;
        char c = (char)b;
        return sd_tok_bytebuf_append(out, &c, 1);
    }
    return true; /* unused / undefined tokens have no text */
}

static int build_pieces(sd_vocab *v) {
    bytebuf pool = {0};
    v->piece_off = malloc(v->n_tokens * sizeof(uint32_t));
    v->piece_len = malloc(v->n_tokens * sizeof(uint32_t));
    if (!v->piece_off || !v->piece_len) return SD_STATUS_NO_MEMORY;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t before = pool.len;
        if (!piece_for(v, i, &pool) || pool.len > UINT32_MAX) {
            free(pool.data);
            return SD_STATUS_NO_MEMORY;
        }
        v->piece_off[i] = (uint32_t)before;
        v->piece_len[i] = (uint32_t)(pool.len - before);
    }
    v->piece_pool = pool.data ? pool.data : malloc(1);
    return v->piece_pool ? SD_STATUS_OK : SD_STATUS_NO_MEMORY;
}

static void build_byte_tokens(sd_vocab *v) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = sd_tok_token_id(v, name, 6);
        if (id < 0) {
            char c = (char)b;
            id = sd_tok_token_id(v, &c, 1);
        }
        v->byte_token[b] = id;
    }
}

/* Model kind, pre-tokenizer and the defaults that depend on them. */
static int load_model_kind(sd_vocab *v, const sd_gguf *g, char *err, size_t err_len) {
    sd_gguf_str model = {0}, pre = {0};
    int r = sd_gguf_get_str(g, KEY_PREFIX "model", &model, err, err_len);
    if (r < 0) return r;
    if (r == 0) return sd_error(err, err_len, SD_STATUS_FORMAT, "missing " KEY_PREFIX "model");
    r = sd_gguf_get_str(g, KEY_PREFIX "pre", &pre, err, err_len);
    if (r < 0) return r;
    snprintf(v->pre_name, sizeof v->pre_name, "default");

    if (sd_gguf_str_eq(model, "llama")) {
        v->kind = SD_VOCAB_SPM;
        v->bos = 1, v->eos = 2, v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
        return SD_STATUS_OK;
    }
    char shown[104];
    if (!sd_gguf_str_eq(model, "gpt2")) {
        printable(model.ptr, (uint32_t)SD_MIN(model.len, 64u), shown);
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                        "unsupported tokenizer model '%s' (" KEY_PREFIX "model)", shown);
    }
    v->kind = SD_VOCAB_BPE;
    v->bos = 11, v->eos = 11, v->unk = -1;
    if (r == 0 || pre.len == 0) return SD_STATUS_OK; /* llama.cpp warns and uses "default" */
    for (size_t i = 0; i < SD_ARRAY_LEN(PRE_TABLE); i++) {
        if (!sd_gguf_str_eq(pre, PRE_TABLE[i].name)) continue;
        snprintf(v->pre_name, sizeof v->pre_name, "%s", PRE_TABLE[i].name);
        v->pre = PRE_TABLE[i].pre;
        v->ignore_merges = PRE_TABLE[i].ignore_merges;
        v->add_bos = PRE_TABLE[i].add_bos;
        if (v->pre == BPE_PRE_CHATGLM4) v->bos = -1;
        return SD_STATUS_OK;
    }
    printable(pre.ptr, (uint32_t)SD_MIN(pre.len, 64u), shown);
    return sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                    "unknown pre-tokenizer type: '%s' (" KEY_PREFIX "pre)", shown);
}

static int load_specials(sd_vocab *v, const sd_gguf *g, char *err, size_t err_len) {
    int32_t fim_pad = -1, fim_rep = -1, fim_sep = -1;
    v->eot = v->eom = v->pad = -1;
    struct {
        const char *key;
        int32_t *id;
    } keys[] = {
        {KEY_PREFIX "bos_token_id", &v->bos},      {KEY_PREFIX "eos_token_id", &v->eos},
        {KEY_PREFIX "eot_token_id", &v->eot},      {KEY_PREFIX "eom_token_id", &v->eom},
        {KEY_PREFIX "unknown_token_id", &v->unk},  {KEY_PREFIX "padding_token_id", &v->pad},
        {KEY_PREFIX "fim_pad_token_id", &fim_pad}, {KEY_PREFIX "fim_rep_token_id", &fim_rep},
        {KEY_PREFIX "fim_sep_token_id", &fim_sep},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(keys); i++) {
        int r = read_special(g, v, keys[i].key, keys[i].id, err, err_len);
        if (r < 0) return r;
    }
    int r = read_bool(g, KEY_PREFIX "add_bos_token", &v->add_bos, err, err_len);
    if (r < 0) return r;
    r = read_bool(g, KEY_PREFIX "add_eos_token", &v->add_eos, err, err_len);
    if (r < 0) return r;
    r = read_bool(g, KEY_PREFIX "add_space_prefix", &v->add_space_prefix, err, err_len);
    if (r < 0) return r;
    if (v->add_bos && v->bos < 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT,
                        KEY_PREFIX "add_bos_token is true, but there is no BOS token");
    if (v->add_eos && v->eos < 0)
        return sd_error(err, err_len, SD_STATUS_FORMAT,
                        KEY_PREFIX "add_eos_token is true, but there is no EOS token");
    build_eog(v, fim_pad, fim_rep, fim_sep);
    return SD_STATUS_OK;
}

int sd_vocab_load(const sd_gguf *g, sd_vocab **out, char *err, size_t err_len) {
    if (!g || !out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_vocab_load: NULL argument");
    *out = NULL;
    sd_vocab *v = calloc(1, sizeof(*v));
    if (!v) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    int rc = load_model_kind(v, g, err, err_len);
    if (rc < 0) goto fail;

    const sd_gguf_kv *toks = NULL;
    rc = sd_gguf_get_arr(g, KEY_PREFIX "tokens", SD_GGUF_STRING, &toks, err, err_len);
    if (rc < 0) goto fail;
    if (rc == 0 || toks->arr_len == 0) {
        rc = sd_error(err, err_len, SD_STATUS_FORMAT, "missing or empty " KEY_PREFIX "tokens");
        goto fail;
    }
    if (toks->arr_len > INT32_MAX / 2) {
        rc = sd_error(err, err_len, SD_STATUS_FORMAT, KEY_PREFIX "tokens: %llu tokens is too many",
                      (unsigned long long)toks->arr_len);
        goto fail;
    }
    v->n_tokens = (int32_t)toks->arr_len;
    if ((rc = load_tokens(v, toks, err, err_len)) < 0) goto fail;
    if ((rc = load_scores_types(v, g, err, err_len)) < 0) goto fail;
    if (v->kind == SD_VOCAB_BPE && (rc = load_merges(v, g, err, err_len)) < 0) goto fail;
    if ((rc = load_specials(v, g, err, err_len)) < 0) goto fail;
    build_byte_tokens(v);
    if (build_special_cache(v) < 0 || build_pieces(v) < 0) {
        rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory loading the vocabulary");
        goto fail;
    }
    if (v->kind == SD_VOCAB_BPE && (rc = sd_tok_bpe_compile_regexes(v, err, err_len)) < 0) goto fail;
    *out = v;
    return SD_STATUS_OK;
fail:
    sd_vocab_free(v);
    return rc;
}

int sd_vocab_load_file(const char *path, sd_vocab **out, char *err, size_t err_len) {
    if (!path || !out)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_vocab_load_file: NULL argument");
    *out = NULL;
    sd_gguf *g = NULL;
    int rc = sd_gguf_open(path, &g, err, err_len);
    if (rc < 0) return rc;
    rc = sd_vocab_load(g, out, err, err_len);
    sd_gguf_close(g);
    return rc;
}

void sd_vocab_free(sd_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n_re; i++)
        pcre2_code_free(v->re[i]);
    sd_strtab_free(&v->token_ids);
    sd_strtab_free(&v->merge_ranks);
    free(v->merge_text);
    free(v->text_pool);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->type);
    free(v->attr);
    free(v->piece_pool);
    free(v->piece_off);
    free(v->piece_len);
    free(v->merge_pool);
    free(v->special_ids);
    free(v);
}

/* ---- accessors ---- */

sd_vocab_kind sd_vocab_get_kind(const sd_vocab *v) {
    return v->kind;
}

const char *sd_vocab_model_name(const sd_vocab *v) {
    return v->kind == SD_VOCAB_SPM ? "llama" : "gpt2";
}

const char *sd_vocab_pre_name(const sd_vocab *v) {
    return v->pre_name;
}

int32_t sd_vocab_n_tokens(const sd_vocab *v) {
    return v->n_tokens;
}

int32_t sd_vocab_bos(const sd_vocab *v) {
    return v->bos;
}

int32_t sd_vocab_eos(const sd_vocab *v) {
    return v->eos;
}

bool sd_vocab_add_bos(const sd_vocab *v) {
    return v->add_bos;
}

bool sd_vocab_add_eos(const sd_vocab *v) {
    return v->add_eos;
}

bool sd_vocab_is_eog(const sd_vocab *v, int32_t id) {
    if (id < 0) return false;
    for (int i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return true;
    return false;
}

sd_token_type sd_vocab_token_type(const sd_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_tokens) return SD_TOKEN_UNDEFINED;
    return (sd_token_type)v->type[id];
}

const char *sd_vocab_token_text(const sd_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_tokens) return NULL;
    return tok_text(v, id);
}

float sd_vocab_token_score(const sd_vocab *v, int32_t id) {
    if (id < 0 || id >= v->n_tokens) return 0.0f;
    return v->scores[id];
}

/* ---- tokenization ---- */

/* A piece of the input: raw text [off, off+len) when id < 0, else a special token. */
typedef struct fragment {
    size_t off, len;
    int32_t id;
} fragment;

typedef struct fragbuf {
    fragment *data;
    size_t len, cap;
} fragbuf;

static bool frag_push(fragbuf *b, fragment f) {
    if (b->len == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        fragment *p = realloc(b->data, cap * sizeof(*p));
        if (!p) return false;
        b->data = p;
        b->cap = cap;
    }
    b->data[b->len++] = f;
    return true;
}

/* llama.cpp's tokenizer_st_partition: for each special token, longest first, split every raw fragment
 * at each of its occurrences (left to right). User-defined tokens are split out even without
 * parse_special; control and unknown ones only with it. */
static int partition(const sd_vocab *v, const char *text, size_t len, bool parse_special, fragbuf *frags) {
    fragbuf next = {0};
    int rc = SD_STATUS_NO_MEMORY;
    frags->len = 0;
    if (len == 0) return SD_STATUS_OK;
    if (!frag_push(frags, (fragment){0, len, -1})) return rc;
    for (int s = 0; s < v->n_special; s++) {
        int32_t id = v->special_ids[s];
        if (!parse_special && (v->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *tt = tok_text(v, id);
        size_t tl = v->text_len[id];
        next.len = 0;
        bool found = false;
        for (size_t f = 0; f < frags->len; f++) {
            fragment fr = frags->data[f];
            if (fr.id >= 0) {
                if (!frag_push(&next, fr)) goto done;
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            for (;;) {
                const char *m = memmem(text + pos, end - pos, tt, tl);
                if (!m) break;
                size_t at = (size_t)(m - text);
                found = true;
                if (at > pos && !frag_push(&next, (fragment){pos, at - pos, -1})) goto done;
                if (!frag_push(&next, (fragment){at, tl, id})) goto done;
                pos = at + tl;
            }
            if (pos < end && !frag_push(&next, (fragment){pos, end - pos, -1})) goto done;
        }
        if (found) {
            fragbuf t = *frags;
            *frags = next;
            next = t;
        }
    }
    rc = SD_STATUS_OK;
done:
    free(next.data);
    return rc;
}

int sd_tokenize(const sd_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                int32_t *out, int max_tokens, char *err, size_t err_len) {
    if (!v || (!text && len > 0) || max_tokens < 0 || (!out && max_tokens > 0))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_tokenize: bad argument");
    fragbuf frags = {0};
    idbuf ids = {0};
    int rc = partition(v, text, len, parse_special, &frags);
    if (rc < 0) goto done;
    rc = SD_STATUS_NO_MEMORY;
    if (add_special && v->add_bos && !sd_tok_idbuf_push(&ids, v->bos)) goto done;
    bool prev_special =
        true; /* SPM: the dummy space goes before text that starts the input or follows a special token */
    for (size_t f = 0; f < frags.len; f++) {
        fragment fr = frags.data[f];
        if (fr.id >= 0) {
            if (!sd_tok_idbuf_push(&ids, fr.id)) goto done;
            prev_special = true;
            continue;
        }
        int r = v->kind == SD_VOCAB_SPM
                    ? sd_tok_spm_tokenize_fragment(v, text + fr.off, fr.len,
                                                   v->add_space_prefix && prev_special, &ids)
                    : sd_tok_bpe_tokenize_fragment(v, text + fr.off, fr.len, &ids);
        if (r < 0) {
            rc = r;
            goto done;
        }
        prev_special = false;
    }
    if (add_special && v->add_eos && !sd_tok_idbuf_push(&ids, v->eos)) goto done;
    if (ids.len > (size_t)INT32_MAX) {
        rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "text gives too many tokens");
        goto done;
    }
    if (out && max_tokens > 0 && ids.len > 0) /* ids.data is NULL when the text gave no tokens */
        memcpy(out, ids.data, SD_MIN(ids.len, (size_t)max_tokens) * sizeof(int32_t));
    rc = (int)ids.len;
done:
    if (rc == SD_STATUS_NO_MEMORY)
        sd_error(err, err_len, rc, "out of memory tokenizing %zu bytes", len);
    else if (rc == SD_STATUS_INTERNAL)
        sd_error(err, err_len, rc, "pre-tokenizer '%s': regex matching failed on %zu bytes", v->pre_name,
                 len);
    free(frags.data);
    free(ids.data);
    return rc;
}

/* ---- detokenization ---- */

int sd_token_to_piece(const sd_vocab *v, int32_t id, bool special, char *buf, size_t buf_len) {
    if (!v || id < 0 || id >= v->n_tokens || (!buf && buf_len > 0)) return SD_STATUS_INVALID_ARGUMENT;
    if (!special && (v->attr[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) return 0;
    size_t n = v->piece_len[id];
    if (buf_len > 0) memcpy(buf, v->piece_pool + v->piece_off[id], SD_MIN(n, buf_len)); /* buf may be NULL */
    return (int)n;
}

int sd_detokenize(const sd_vocab *v, const int32_t *ids, int n, bool special, bool remove_space_prefix,
                  char *buf, size_t buf_len) {
    if (!v || n < 0 || (!ids && n > 0) || (!buf && buf_len > 0)) return SD_STATUS_INVALID_ARGUMENT;
    /* The dummy prefix sits on the first text token: control/unknown tokens before it (BOS) carry none. */
    bool strip = remove_space_prefix && v->add_space_prefix;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= v->n_tokens) return SD_STATUS_INVALID_ARGUMENT;
        bool is_special = v->attr[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL);
        if (!special && is_special) continue;
        const char *p = v->piece_pool + v->piece_off[id];
        size_t len = v->piece_len[id];
        if (strip && !is_special) {
            if (len > 0 && p[0] == ' ') p++, len--;
            strip = false;
        }
        if (total < buf_len) memcpy(buf + total, p, SD_MIN(len, buf_len - total));
        total += len;
        if (total > (size_t)INT32_MAX) return SD_STATUS_INVALID_ARGUMENT;
    }
    return (int)total;
}

/* ---- draft/target compatibility ---- */

int sd_vocab_check_compatible(const sd_vocab *target, const sd_vocab *draft, char *err, size_t err_len) {
    if (!target || !draft) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "NULL vocabulary");
    if (target->kind != draft->kind)
        return sd_error(err, err_len, SD_STATUS_MISMATCH, "tokenizer models differ: target '%s', draft '%s'",
                        sd_vocab_model_name(target), sd_vocab_model_name(draft));
    int32_t n = SD_MIN(target->n_tokens, draft->n_tokens);
    for (int32_t i = 0; i < n; i++) {
        uint32_t lt = target->text_len[i], ld = draft->text_len[i];
        if (lt == ld && memcmp(tok_text(target, i), tok_text(draft, i), lt) == 0) continue;
        char a[104], b[104];
        printable(tok_text(target, i), lt, a);
        printable(tok_text(draft, i), ld, b);
        return sd_error(err, err_len, SD_STATUS_MISMATCH, "token %d differs: target '%s', draft '%s'", (int)i,
                        a, b);
    }
    if (target->bos != draft->bos)
        return sd_error(err, err_len, SD_STATUS_MISMATCH, "BOS differs: target %d, draft %d",
                        (int)target->bos, (int)draft->bos);
    if (target->eos != draft->eos)
        return sd_error(err, err_len, SD_STATUS_MISMATCH, "EOS differs: target %d, draft %d",
                        (int)target->eos, (int)draft->eos);
    return SD_STATUS_OK;
}
