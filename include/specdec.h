/* specdec: a speculative-decoding LLM runtime for CPUs.
 *
 * This header is the whole public API and its manual. Conventions:
 * - Handles are opaque; each has a create/load function and an explicit free function.
 * - Parameter structs come from *_default_params() and are then adjusted field by field.
 * - Every function that can fail returns an int status: SD_OK (0) or a negative SD_ERR_* code, and writes
 *   a one-line message into the caller's err buffer (err may be NULL). sd_status_name() names a code.
 * - The library keeps no global state, never prints and never exits: two engines may run on two threads.
 */
#ifndef SPECDEC_H
#define SPECDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPECDEC_VERSION_MAJOR 0
#define SPECDEC_VERSION_MINOR 1
#define SPECDEC_VERSION_PATCH 0
#define SPECDEC_VERSION_STRING "0.1.0"

/* ---- Status codes ------------------------------------------------------------------------------- */
enum {
    SD_OK = 0,
    SD_ERR_INVALID_ARGUMENT = -1, /* a parameter out of range */
    SD_ERR_IO = -2,               /* a file could not be opened, read or mapped */
    SD_ERR_FORMAT = -3,           /* a model file is corrupt, truncated or hostile */
    SD_ERR_UNSUPPORTED = -4,      /* a valid file this build cannot run (architecture, weight type) */
    SD_ERR_NO_MEMORY = -5,        /* an allocation failed or would be too large */
    SD_ERR_CONTEXT_FULL = -6,     /* the prompt does not fit the context */
    SD_ERR_MISMATCH = -7,         /* two models that must agree do not (draft vs target vocabulary) */
    SD_ERR_INTERNAL = -8,         /* a bug: please report it */
};

/* "ok", "invalid argument", ... for a status code. */
const char *sd_status_name(int status);

/* ---- Models ------------------------------------------------------------------------------------- */
typedef struct sd_model sd_model;

/* Loads a GGUF model (architectures llama, qwen2, qwen3, gemma2, gemma3, phi3; weights F32, F16, BF16, Q8_0,
 * Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS; other types are refused with the
 * tensor and type named). The file is memory-mapped and validated before use. */
int sd_model_load(const char *path, sd_model **out, char *err, size_t err_len);

typedef struct sd_model_params {
    /* Instruction set of the matrix-product kernels: "scalar", "avx2", "avx512vnni", "neon",
     * "neon-dotprod", "neon-i8mm". NULL or "auto": the one the SPECDEC_KERNELS environment variable
     * names, else the best this CPU has. Every set gives bit-identical results; a set the CPU or build
     * lacks fails the load with SD_ERR_UNSUPPORTED, an unknown name with SD_ERR_INVALID_ARGUMENT. */
    const char *kernels;
} sd_model_params;

sd_model_params sd_model_default_params(void);

/* sd_model_load with parameters (params NULL: the defaults). */
int sd_model_load_with(const char *path, const sd_model_params *params, sd_model **out, char *err,
                       size_t err_len);
void sd_model_free(sd_model *model);

typedef struct sd_model_info {
    const char *arch;      /* "llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3" */
    const char *name;      /* general.name, or "" */
    const char *tokenizer; /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    const char *pre_tokenizer;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    float rope_freq_base;
    bool tied_output;
    uint64_t n_params;     /* elements of all weight tensors */
    uint64_t weight_bytes; /* bytes of all weight tensors */
    uint64_t file_bytes;
    uint32_t gguf_version;
    int32_t bos;         /* -1 if none */
    int32_t eos;         /* -1 if none */
    const char *kernels; /* the matrix-product kernel set in use: "avx2", "scalar", ... */
} sd_model_info;

void sd_model_get_info(const sd_model *model, sd_model_info *out);

/* Counts of tensors per weight type name, for reports: calls fn(type_name, n_tensors, bytes, user) once
 * per type present. */
void sd_model_foreach_weight_type(const sd_model *model,
                                  void (*fn)(const char *type_name, int n_tensors, uint64_t bytes,
                                             void *user),
                                  void *user);

/* How a draft's vocabulary relates to a target's. */
typedef struct sd_vocab_relation {
    bool same;         /* the same tokens (trailing padding of at most 128 tokens aside): drafts are ids */
    int32_t n_padding; /* |n_target - n_draft| */
    int32_t n_target, n_draft;
    /* same: the ids both have; otherwise the distinct token strings (decoded bytes) both vocabularies
     * have, the intersection */
    int32_t n_shared;
} sd_vocab_relation;

/* Computes the relation of draft's vocabulary to target's. Returns SD_OK or SD_ERR_NO_MEMORY. */
int sd_model_vocab_relation(const sd_model *target, const sd_model *draft, sd_vocab_relation *out, char *err,
                            size_t err_len);

/* ---- Tokenizer ---------------------------------------------------------------------------------- */

/* Tokenizes text[0..len). add_special adds BOS (and EOS) as the model asks; parse_special maps control
 * token texts such as "<s>" in the input to their ids. Writes at most max_tokens ids and returns the total
 * number the text needs (call again with a bigger buffer if larger), or a negative status. */
int sd_model_tokenize(const sd_model *model, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *tokens, int max_tokens, char *err, size_t err_len);

/* The bytes of one token (may be part of a multi-byte UTF-8 character). Control tokens give nothing
 * unless special. Returns the full length (may exceed buf_len), or a negative status. */
int sd_model_token_to_piece(const sd_model *model, int32_t token, bool special, char *buf, size_t buf_len);

/* The text of n tokens. Returns the full length in bytes (may exceed buf_len), or a negative status. */
int sd_model_detokenize(const sd_model *model, const int32_t *tokens, int n, bool special, char *buf,
                        size_t buf_len);

/* True if token ends generation (EOS, EOT, ...). */
bool sd_model_is_eog(const sd_model *model, int32_t token);

/* ---- Chat templates ------------------------------------------------------------------------------ */
/* A chat template turns a conversation into the prompt text a chat model was trained on. specdec does not
 * run the Jinja in a model's tokenizer.chat_template: like llama.cpp's llama_chat_apply_template, it
 * recognises the template's family from substrings of that text and renders the family's fixed format,
 * byte for byte as llama.cpp does (which may differ from the Jinja: no default system prompt, no
 * dates, no BOS text). A template is a static description: never freed, shared freely between threads. */
typedef struct sd_chat_template sd_chat_template;

/* One turn of a conversation: role is "system", "user" or "assistant"; both strings NUL-terminated UTF-8. */
typedef struct sd_chat_message {
    const char *role;
    const char *content;
} sd_chat_message;

/* The template of a named family, with llama.cpp's names: "chatml", "llama3", "gemma", "phi3", "phi4",
 * "deepseek3", "mistral-v7", ... (sd_chat_template_builtin_name lists them). An unknown name gives
 * SD_ERR_INVALID_ARGUMENT with a message that lists the names. */
int sd_chat_template_by_name(const char *name, const sd_chat_template **out, char *err, size_t err_len);

/* The template whose family the Jinja text (a model's tokenizer.chat_template) belongs to, detected as
 * llama.cpp detects it; a text equal to a family name also selects that family. A text of no known family,
 * or of a family llama.cpp knows but specdec does not render (the message names it), gives
 * SD_ERR_UNSUPPORTED with a message that says so and names --chat-template NAME and the names. */
int sd_chat_template_from_text(const char *text, const sd_chat_template **out, char *err, size_t err_len);

/* The family's name ("chatml", ...). */
const char *sd_chat_template_name(const sd_chat_template *tmpl);

/* The i-th text that ends an assistant turn in this family ("<|im_end|>", "<|eot_id|>", ...), so that
 * generation can stop there; NULL when i is past the last (each family has at least one). */
const char *sd_chat_template_stop_string(const sd_chat_template *tmpl, int i);

/* The i-th family name this build renders, in a fixed order; NULL when i is past the last. */
const char *sd_chat_template_builtin_name(int i);

/* Renders messages[0..n) in the template's format, followed by the opening of an assistant turn when
 * add_generation_prompt (families whose format has no such opening, mistral and llama2, add nothing).
 * Writes at most out_cap - 1 bytes of the text and a NUL, as snprintf does; returns the text's full length
 * in bytes (call again with a bigger buffer if it is out_cap or more), or a negative status:
 * SD_ERR_INVALID_ARGUMENT for a NULL string or a role other than system/user/assistant (the message
 * names the message's index and role). */
int sd_chat_apply(const sd_chat_template *tmpl, const sd_chat_message *messages, int n,
                  bool add_generation_prompt, char *out, size_t out_cap, char *err, size_t err_len);

/* The model's tokenizer.chat_template text (Jinja), read from its GGUF metadata. Writes at most
 * buf_len - 1 bytes of it and a NUL, as snprintf does; returns its full length in bytes, 0 if it has none,
 * or SD_ERR_FORMAT if the key holds something other than a string without NUL bytes. */
int sd_model_chat_template(const sd_model *model, char *buf, size_t buf_len);

/* ---- Sampling ----------------------------------------------------------------------------------- */
typedef struct sd_sampling_params {
    float temp;            /* <= 0: greedy (argmax) */
    int32_t top_k;         /* <= 0: off */
    float top_p;           /* >= 1: off */
    float min_p;           /* <= 0: off */
    float repeat_penalty;  /* 1: off */
    int32_t repeat_last_n; /* tokens of history the penalty looks at; -1: all */
    uint64_t seed;         /* the random stream is reproducible for a seed */
    bool ignore_eos;       /* never choose an end-of-generation token (llama.cpp's --ignore-eos): generate
                              exactly n_predict tokens unless the context fills */
} sd_sampling_params;

/* llama.cpp's defaults: temp 0.8, top_k 40, top_p 0.95, min_p 0.05, no repetition penalty, seed 42. */
sd_sampling_params sd_sampling_default_params(void);

/* ---- Engines ------------------------------------------------------------------------------------ */
typedef struct sd_engine sd_engine;

/* The longest draft a round may propose. */
#define SD_MAX_DRAFT_LEN 32

/* Draft sources (sd_engine_params.spec, bits). The controller chooses among those given each round, by
 * what it measures of their acceptance and cost. */
#define SD_SPEC_DRAFT 1u /* the draft model */
#define SD_SPEC_NGRAM                                                                                        \
    2u /* n-grams of the context (prompt and generated text): what followed the last                         \
          earlier occurrence of the last 4..1 tokens; needs no draft model */

/* How drafting and verification share the CPUs. */
typedef enum sd_schedule {
    SD_SCHEDULE_AUTO = 0, /* measure both and keep the faster */
    SD_SCHEDULE_SEQ = 1,  /* draft, then verify: each on its CPU set (or both on all CPUs) in turn */
    SD_SCHEDULE_PIPE = 2, /* the draft runs ahead on its CPUs while the target verifies on its own */
} sd_schedule;

/* How the KV cache stores keys and values (llama.cpp's -ctk/-ctv types). F16 halves the bytes of F32 and
 * is llama.cpp's default; Q8_0 (blocks of 32 int8 quants with an fp16 scale along each head, llama.cpp's
 * block layout) holds 34 bytes per 32 values, 27% of F32. Attention reads each type directly. */
typedef enum sd_cache_type {
    SD_CACHE_F16 = 0,
    SD_CACHE_F32 = 1,
    SD_CACHE_Q8_0 = 2,
} sd_cache_type;

/* "f16", "f32", "q8_0" (llama.cpp's names). */
const char *sd_cache_type_name(sd_cache_type type);
/* The type of a name; SD_ERR_INVALID_ARGUMENT for an unknown one (the message lists the names). */
int sd_cache_type_from_name(const char *name, sd_cache_type *out, char *err, size_t err_len);

/* sd_engine_params.n_ctx: all of the model's trained context (llama.cpp's -c 0). */
#define SD_CTX_TRAINED (-1)

typedef struct sd_engine_params {
    /* context length in tokens; 0: the model's trained context, at most 4096; SD_CTX_TRAINED: all of it.
     * A context whose caches do not fit in memory is refused by sd_engine_create with the bytes needed. */
    int32_t n_ctx;
    int32_t n_batch;   /* prompt tokens per forward pass; 0: 64 */
    int32_t n_threads; /* target worker threads; 0: one per CPU of its set */
    sd_sampling_params sampling;
    /* The draft sources, SD_SPEC_* bits; 0: SD_SPEC_DRAFT | SD_SPEC_NGRAM with a draft model, none (plain
     * decoding) without. SD_SPEC_DRAFT needs a draft model (else SD_ERR_INVALID_ARGUMENT). */
    unsigned spec;
    /* Speculation (used when a source is): */
    /* fixed draft length; -1: adaptive within [draft_min, draft_max]: each round drafts token by token
     * and stops where the next token's predicted acceptance (learned from the draft's confidence and
     * recent rounds) no longer pays for its measured cost */
    int32_t draft_k;
    int32_t draft_min; /* default 0 */
    int32_t draft_max; /* default 16, at most SD_MAX_DRAFT_LEN */
    float draft_p_min; /* also stop drafting once the draft's top probability is below this; 0: never */
    sd_schedule schedule;
    const char *draft_cpus;  /* CPU list ("0-3,8") for the draft; NULL: from the CPU topology */
    const char *target_cpus; /* CPU list for the target; NULL: from the CPU topology */
    int32_t n_threads_draft; /* draft worker threads; 0: one per CPU of its set */
    /* KV cache types of the target's keys and values and of the draft's (defaults F16). The draft's
     * change its proposals only, never the output. */
    sd_cache_type cache_type_k, cache_type_v;
    sd_cache_type cache_type_k_draft, cache_type_v_draft;
    /* Generation past the context (llama.cpp's context shift): when the cache is full, keep its first
     * n_keep tokens (attention sinks; default 4, the BOS included) and the most recent half of the rest,
     * dropping the middle; the moved keys are re-rotated by RoPE of minus the dropped count (in fp32,
     * stored back in the cache's type), and generation goes on. The draft's cache and the n-gram index
     * shift with the target's, and drafts never run past the cache's end, so plain and speculative
     * decoding shift at the same tokens and greedy output stays identical. false (the default): stop with
     * SD_STOP_CONTEXT_FULL. The prompt itself must still fit the context.
     * How it differs from llama.cpp's: the same rule (n_discard = half of what follows the kept tokens,
     * keys re-rotated by the position delta), but llama-cli's --keep defaults to 0 and adds the BOS to it,
     * and shifts one token earlier (when the next token would fill the context, here when it is full);
     * llama.cpp re-rotates lazily at the next pass, here at once; and llama.cpp's speculative example does
     * not shift at all. The deeper layers' keys and values of the kept tokens still carry the dropped
     * context in both: a shift is an approximation of recomputing, not an exact one. After a shift,
     * sd_engine_continue reuses at most the n_keep first tokens of the cache. */
    bool context_shift;
    int32_t n_keep;
    /* A draft of another vocabulary drafts by text (see sd_engine_create); true refuses it instead. */
    bool no_cross_vocab;
} sd_engine_params;

sd_engine_params sd_engine_default_params(void);

/* Creates an engine that generates with `target`, speculatively when `draft` is not NULL. A draft of the
 * same vocabulary (sd_model_vocab_relation) proposes target ids directly. A draft of another vocabulary
 * drafts by text: its tokens are detokenized and tokenized into the target's vocabulary, and the target
 * verifies them as a deterministic proposal, so output stays exactly the target's (greedy: identical to
 * plain decoding; sampled: the target's distribution). With params->no_cross_vocab, or when the two
 * vocabularies share no token string, such a draft is refused with SD_ERR_MISMATCH naming the first
 * difference. The models must outlive the engine.
 * Memory for the KV caches is allocated here; a context that does not fit is refused with the bytes
 * it needs. */
int sd_engine_create(sd_model *target, sd_model *draft, const sd_engine_params *params, sd_engine **out,
                     char *err, size_t err_len);
void sd_engine_free(sd_engine *engine);

/* Changes how the engine samples from the next generate or continue call on, keeping its caches (a
 * server's next request with other sampling settings, or a seed: the random stream starts afresh from
 * sampling->seed). Greedy output is identical to a fresh engine's, sampled output has the same
 * distribution (without a draft, the same tokens a fresh engine with this seed gives; with one, the
 * draft lengths the controller has learned may differ from a fresh engine's, and so the draws). */
int sd_engine_set_sampling(sd_engine *engine, const sd_sampling_params *sampling, char *err, size_t err_len);

/* The schedule the engine uses (SEQ or PIPE; AUTO resolves on the first generate) and the CPU sets it
 * picked, as text for reports ("draft [0-3] 4 threads, target [4-7] 4 threads, seq"). */
sd_schedule sd_engine_schedule(const sd_engine *engine);
void sd_engine_describe(const sd_engine *engine, char *buf, size_t buf_len);

/* Called for each generated token with the text that became complete (multi-byte UTF-8 characters are
 * held back until whole, so text may be empty). Return false to stop generation. */
typedef bool (*sd_token_callback)(void *user, int32_t token, const char *text, size_t text_len);

typedef enum sd_stop_reason {
    SD_STOP_LENGTH = 0,       /* n_predict tokens generated */
    SD_STOP_EOG = 1,          /* the model produced an end-of-generation token (not reported as text) */
    SD_STOP_CALLBACK = 2,     /* the callback returned false */
    SD_STOP_CONTEXT_FULL = 3, /* the context filled up */
} sd_stop_reason;

typedef struct sd_stats {
    int32_t n_prompt;  /* prompt tokens processed (prefilled) */
    int32_t n_gen;     /* tokens generated (including an end-of-generation token) */
    double t_prompt_s; /* seconds of prompt processing */
    double t_gen_s;    /* seconds of generation */
    double t_sample_s; /* seconds of it spent in sampling and the acceptance rule */
    double t_draft_s;  /* seconds of it spent drafting */
    double t_verify_s; /* seconds of it spent in target forward passes */
    sd_stop_reason stop;
    /* Speculation (zero without a draft source): */
    int32_t n_rounds;                      /* target passes during generation */
    int32_t n_drafted;                     /* draft tokens proposed */
    int32_t n_accepted;                    /* draft tokens accepted */
    int32_t drafted_at[SD_MAX_DRAFT_LEN];  /* proposals at draft position i */
    int32_t accepted_at[SD_MAX_DRAFT_LEN]; /* acceptances at draft position i */
    int32_t n_drafted_ngram;               /* of n_drafted, those the n-gram source proposed */
    int32_t n_accepted_ngram;              /* of n_accepted, those the n-gram source proposed */
    const int32_t *k_trace; /* draft length of every round, owned by the engine (valid until its next
                               generate or free) */
    int32_t n_k_trace;
    double t_target_token_s; /* measured seconds of one single-token target pass (0: not measured) */
    int32_t n_prompt_reused; /* prompt tokens sd_engine_continue found in the cache (not in n_prompt) */
    int32_t n_ctx_shifts;    /* context shifts (sd_engine_params.context_shift) during generation */
    uint64_t kv_bytes;       /* bytes of the KV caches (target's and draft's; all n_ctx positions) */
} sd_stats;

/* Generates up to n_predict tokens after the prompt (token ids, usually from sd_model_tokenize with
 * add_special). Each call starts from an empty cache, so an engine can be reused for many prompts.
 * tokens_out (may be NULL) receives up to max_out generated ids. Fails with SD_ERR_CONTEXT_FULL when the
 * prompt does not leave room for one generated token. */
int sd_engine_generate(sd_engine *engine, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                       sd_token_callback callback, void *user, int32_t *tokens_out, int32_t max_out,
                       sd_stats *stats, char *err, size_t err_len);

/* sd_engine_generate without starting from an empty cache: for a conversation, where each turn's prompt
 * is the whole conversation so far (earlier turns, the answers generated, the new turn), tokenized anew.
 * The longest prefix the prompt shares with what the engine's cache holds (the tokens of the last
 * generate, continue or eval call: its prompt and the tokens it generated) is kept, and only the rest of
 * the prompt is prefilled; a prompt that shares nothing (or a first call) is a plain generate. Greedy
 * output is identical to sd_engine_generate's for the same prompt; when sampling, the random stream goes
 * on instead of restarting from the seed. stats->n_prompt counts the tokens prefilled and
 * stats->n_prompt_reused those kept. */
int sd_engine_continue(sd_engine *engine, const int32_t *prompt, int32_t n_prompt, int32_t n_predict,
                       sd_token_callback callback, void *user, int32_t *tokens_out, int32_t max_out,
                       sd_stats *stats, char *err, size_t err_len);

/* Logits [n_vocab] for the next token after the last generate or eval call (test and tool use). */
const float *sd_engine_last_logits(const sd_engine *engine);

/* Runs the prompt through a fresh cache and leaves its last logits for sd_engine_last_logits. */
int sd_engine_eval(sd_engine *engine, const int32_t *prompt, int32_t n_prompt, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
