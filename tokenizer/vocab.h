/* A model's vocabulary and tokenizer, read from GGUF metadata (tokenizer.ggml.*). Works on vocab-only
 * files. Two tokenizer models: "llama" (SentencePiece BPE with byte fallback) and "gpt2" (byte-level BPE
 * with merges and a pre-tokenizer chosen by tokenizer.ggml.pre). */
#ifndef SD_VOCAB_H
#define SD_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "specdec.h"

typedef struct sd_vocab sd_vocab;

typedef enum sd_vocab_kind {
    SD_VOCAB_SPM = 1, /* tokenizer.ggml.model "llama" */
    SD_VOCAB_BPE = 2, /* tokenizer.ggml.model "gpt2" */
} sd_vocab_kind;

/* Token attributes from tokenizer.ggml.token_type (1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte). */
typedef enum sd_token_type {
    SD_TOKEN_UNDEFINED = 0,
    SD_TOKEN_NORMAL = 1,
    SD_TOKEN_UNKNOWN = 2,
    SD_TOKEN_CONTROL = 3,
    SD_TOKEN_USER_DEFINED = 4,
    SD_TOKEN_UNUSED = 5,
    SD_TOKEN_BYTE = 6,
} sd_token_type;

/* Loads the vocabulary. Errors (SD_STATUS_FORMAT / SD_STATUS_UNSUPPORTED, message naming the key or
 * value): missing tokens, arrays of different lengths, an unknown tokenizer model or pre-tokenizer,
 * special ids out of range. */
int sd_vocab_load(const sd_gguf *g, sd_vocab **out, char *err, size_t err_len);
/* sd_vocab_load from a GGUF file of any architecture, with or without weights (e.g. llama.cpp's
 * vocab-only ggml-vocab-*.gguf): reads only the tokenizer.ggml.* metadata. The vocabulary copies what it
 * needs, so the file is closed before this returns. Errors as sd_gguf_open and sd_vocab_load. */
int sd_vocab_load_file(const char *path, sd_vocab **out, char *err, size_t err_len);
void sd_vocab_free(sd_vocab *v);

sd_vocab_kind sd_vocab_get_kind(const sd_vocab *v);
const char *sd_vocab_model_name(const sd_vocab *v); /* "llama" or "gpt2" */
const char *sd_vocab_pre_name(const sd_vocab *v);   /* pre-tokenizer name, "default" if none */
int32_t sd_vocab_n_tokens(const sd_vocab *v);
int32_t sd_vocab_bos(const sd_vocab *v);  /* -1 if none */
int32_t sd_vocab_eos(const sd_vocab *v);  /* -1 if none */
bool sd_vocab_add_bos(const sd_vocab *v); /* prepend BOS when add_special */
bool sd_vocab_add_eos(const sd_vocab *v);
bool sd_vocab_is_eog(const sd_vocab *v, int32_t id); /* end of generation: EOS, EOT, EOM, ... */
sd_token_type sd_vocab_token_type(const sd_vocab *v, int32_t id);
/* The raw token text as stored in the file (SPM '▁' and GPT-2 byte-mapped characters not decoded). */
const char *sd_vocab_token_text(const sd_vocab *v, int32_t id);
float sd_vocab_token_score(const sd_vocab *v, int32_t id);

/* Tokenizes text[0..len) (any bytes; invalid UTF-8 is handled as the reference does). add_special adds
 * BOS/EOS as the vocabulary asks; parse_special lets control/user-defined token texts in the input map
 * to their ids. Writes at most max_tokens ids to out and returns the total count the text needs (call
 * again with a larger buffer if it exceeds max_tokens), or a negative status. */
int sd_tokenize(const sd_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                int32_t *out, int max_tokens, char *err, size_t err_len);

/* The bytes token id stands for (SPM: '▁' -> ' ', <0xAB> -> byte 0xAB; GPT-2: byte-level decoding).
 * Control tokens give "" unless `special`. Writes at most buf_len bytes (no NUL) and returns the full
 * length, or a negative status for an id out of range. A token may be part of a multi-byte UTF-8
 * character; callers streaming text must join pieces before printing. */
int sd_token_to_piece(const sd_vocab *v, int32_t id, bool special, char *buf, size_t buf_len);

/* Detokenizes n ids into buf like concatenating the pieces (and dropping a leading space produced by the
 * SPM dummy prefix when remove_space_prefix and the vocabulary adds one). Returns the full length in
 * bytes (may exceed buf_len: call again), or a negative status. */
int sd_detokenize(const sd_vocab *v, const int32_t *ids, int n, bool special, bool remove_space_prefix,
                  char *buf, size_t buf_len);

/* Checks that two vocabularies can be used as a draft/target pair: same tokenizer model, identical
 * token text for every id both have, same BOS/EOS. Returns SD_STATUS_OK or SD_STATUS_MISMATCH with a
 * message naming the first difference. */
int sd_vocab_check_compatible(const sd_vocab *target, const sd_vocab *draft, char *err, size_t err_len);

/* Vocabularies that differ by at most this many trailing tokens, all others identical, are the same
 * (llama.cpp tolerates such padding between a draft and its target). */
#define SD_VOCAB_MAX_PADDING 128

/* How a draft's vocabulary relates to its target's. */
/* The relation (sd_vocab_relation, include/specdec.h: the same vocabulary, or the token strings both have;
 * "same" when sd_vocab_check_compatible holds and the sizes differ by <= SD_VOCAB_MAX_PADDING). */

/* Computes the relation (O(n_target + n_draft) hash look-ups). Returns SD_STATUS_OK or
 * SD_STATUS_NO_MEMORY. */
int sd_vocab_relate(const sd_vocab *target, const sd_vocab *draft, sd_vocab_relation *out, char *err,
                    size_t err_len);

/* Tokenizes text[0..len) as it would be tokenized in the middle of a longer text: no BOS/EOS, no SPM
 * dummy prefix, control token texts not parsed. Returns the count as sd_tokenize does. */
int sd_tokenize_continuation(const sd_vocab *v, const char *text, size_t len, int32_t *out, int max_tokens,
                             char *err, size_t err_len);

/* GPT-2's byte <-> unicode mapping, which byte-level BPE vocabularies spell their tokens in: printable
 * bytes stand for themselves, the others for U+0100 and up (also used to generate synthetic
 * vocabularies). sd_tok_gpt2_cp_to_byte returns -1 for a code point outside the mapping. */
uint32_t sd_tok_gpt2_byte_to_cp(uint8_t b);
int sd_tok_gpt2_cp_to_byte(uint32_t cp);

#endif
