/* Internals shared by the tokenizer's files: the sd_vocab layout, its text -> id and merge -> rank
 * indices, growable buffers. Not part of the API. */
#ifndef SD_VOCAB_INTERNAL_H
#define SD_VOCAB_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/sd_strtab.h"
#include "common/sd_utf8.h"
#include "gguf/gguf.h"
#include "tokenizer/vocab.h"

/* Shared between the tokenizer's files only: hidden from libspecdec's exported symbols. */
#define SD_INTERNAL __attribute__((visibility("hidden")))

/* Token attribute bits, as llama.cpp keeps them (a token can be NORMAL and CONTROL after the EOG
 * auto-detection promotes it). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
};

/* Growable byte / int32 buffers for per-call scratch space. */
typedef struct bytebuf {
    char *data;
    size_t len, cap;
} bytebuf;

typedef struct idbuf {
    int32_t *data;
    size_t len, cap;
} idbuf;

SD_INTERNAL bool sd_tok_bytebuf_reserve(bytebuf *b, size_t extra);
SD_INTERNAL bool sd_tok_bytebuf_append(bytebuf *b, const void *p, size_t n);
SD_INTERNAL bool sd_tok_idbuf_push(idbuf *b, int32_t id);

/* Pre-tokenizer families (llama.cpp's LLAMA_VOCAB_PRE_TYPE_* that this tokenizer implements). */
typedef enum bpe_pre {
    BPE_PRE_DEFAULT,
    BPE_PRE_LLAMA3,
    BPE_PRE_DBRX, /* llama3 regex, merges not ignored */
    BPE_PRE_DEEPSEEK_LLM,
    BPE_PRE_DEEPSEEK_CODER,
    BPE_PRE_FALCON,
    BPE_PRE_STARCODER,
    BPE_PRE_GPT2,
    BPE_PRE_QWEN2,
    BPE_PRE_GPT4O, /* o200k: GPT-4o, Phi-4-mini, Llama 4 */
    BPE_PRE_CHATGLM4,
} bpe_pre;

#define SD_VOCAB_MAX_REGEX 8
#define SD_VOCAB_MAX_EOG 64

struct sd_vocab {
    sd_vocab_kind kind;
    char pre_name[64];
    bpe_pre pre;

    int32_t n_tokens;
    char *text_pool;     /* every token text, NUL-terminated */
    uint32_t *text_off;  /* [n_tokens] offset into text_pool */
    uint32_t *text_len;  /* [n_tokens] bytes */
    float *scores;       /* [n_tokens] */
    uint8_t *type;       /* [n_tokens] sd_token_type (after the EOG promotion to control) */
    uint8_t *attr;       /* [n_tokens] TOK_ATTR_* bits */
    char *piece_pool;    /* every token's piece with special=true (decoded bytes) */
    uint32_t *piece_off; /* [n_tokens] */
    uint32_t *piece_len; /* [n_tokens] */
    sd_strtab token_ids; /* text -> id */

    /* BPE merges: "left right" (as stored in the file) -> rank. */
    char *merge_pool;
    sd_gguf_str *merge_text; /* [rank] into merge_pool; len 0 for a merge without a space (never used) */
    sd_strtab merge_ranks;

    int32_t bos, eos, eot, eom, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;

    int32_t eog[SD_VOCAB_MAX_EOG];
    int n_eog;

    /* Control, user-defined and unknown tokens, longest text first (llama.cpp's cache_special_tokens). */
    int32_t *special_ids;
    int n_special;

    int32_t byte_token[256]; /* SPM byte fallback: id of <0xXX> (or the 1-byte text), -1 if none */

    /* BPE pre-tokenizer: regexes applied in order, each splitting the pieces the previous left. */
    pcre2_code *re[SD_VOCAB_MAX_REGEX];
    int n_re;
};

/* Id of the token whose text is s[0..n), or -1. */
static inline int32_t sd_tok_token_id(const sd_vocab *v, const char *s, size_t n) {
    return (int32_t)sd_strtab_find(&v->token_ids, s, n);
}

/* Rank of the merge "left right" given as s[0..n), or -1. */
static inline int32_t sd_tok_merge_rank(const sd_vocab *v, const char *s, size_t n) {
    return (int32_t)sd_strtab_find(&v->merge_ranks, s, n);
}

/* The tokenizers proper: append ids for one raw-text fragment (no special tokens inside). */
SD_INTERNAL int sd_tok_spm_tokenize_fragment(const sd_vocab *v, const char *text, size_t len, bool add_prefix,
                                             idbuf *out);
SD_INTERNAL int sd_tok_bpe_tokenize_fragment(const sd_vocab *v, const char *text, size_t len, idbuf *out);

/* The pre-tokenizer alone (for tests): byte lengths of the words text splits into (text re-encoded as
 * llama.cpp decodes it, so the lengths add up to len for valid UTF-8). *word_lens is malloc'd. */
SD_INTERNAL int sd_tok_bpe_pretokenize(const sd_vocab *v, const char *text, size_t len, size_t **word_lens,
                                       size_t *n_words);

/* Compiles the pre-tokenizer regexes for v->pre into v->re. */
SD_INTERNAL int sd_tok_bpe_compile_regexes(sd_vocab *v, char *err, size_t err_len);

/* A candidate merge of two adjacent symbols in the SPM and BPE merge loops. The queue pops the lowest
 * priority first, ties broken by the leftmost position (as llama.cpp's queues do). */
typedef struct sd_tok_bigram {
    int left, right;
    double priority; /* SPM: -score (the highest score merges first); BPE: the merge rank */
    size_t size;     /* bytes of left+right when queued: a mismatch later means the entry is stale */
} sd_tok_bigram;

typedef struct sd_tok_bigram_queue {
    sd_tok_bigram *heap;
    size_t len, cap;
} sd_tok_bigram_queue;

/* Adds a candidate; false when out of memory. */
SD_INTERNAL bool sd_tok_queue_push(sd_tok_bigram_queue *q, sd_tok_bigram b);
/* Removes and returns the first candidate; the queue must not be empty. */
SD_INTERNAL sd_tok_bigram sd_tok_queue_pop(sd_tok_bigram_queue *q);

#endif
