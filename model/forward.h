/* The transformer forward pass over a KV cache: one token (decode) or n tokens in one batched pass
 * (prefill, speculative verification). Row i of a batched pass is bit-identical to running the same tokens
 * one at a time: every per-row operation (GEMM rows, norms, RoPE, attention over positions 0..i) does the
 * same arithmetic in the same order whatever n is. */
#ifndef SD_FORWARD_H
#define SD_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu/threadpool.h"
#include "model.h"
#include "specdec.h" /* sd_cache_type */

typedef struct sd_forward sd_forward;

/* State for one sequence: a KV cache of n_ctx positions and buffers for batches of up to max_batch
 * tokens. The pool (may be NULL) runs the matrix products and attention; it must outlive the state.
 * Refuses up front, with the byte count, a context whose cache cannot be allocated. */
int sd_forward_create(const sd_model *m, int32_t n_ctx, int32_t max_batch, sd_pool *pool, sd_forward **out,
                      char *err, size_t err_len);
/* The same with the KV cache's key and value types (sd_forward_create: both SD_CACHE_F16, llama.cpp's
 * default). SD_STATUS_UNSUPPORTED for Q8_0 with a head size that is not a multiple of 32. */
int sd_forward_create_cached(const sd_model *m, int32_t n_ctx, int32_t max_batch, sd_cache_type type_k,
                             sd_cache_type type_v, sd_pool *pool, sd_forward **out, char *err,
                             size_t err_len);
void sd_forward_free(sd_forward *f);

/* Runs tokens[0..n) at positions n_past .. n_past + n - 1 and appends them to the cache. n may exceed
 * max_batch (processed in chunks). With all_logits (n <= max_batch), logits of every row are kept;
 * otherwise only the last row's. Fails with SD_STATUS_CONTEXT_FULL when the tokens do not fit, and
 * SD_STATUS_INVALID_ARGUMENT for a token id out of range. */
int sd_forward_run(sd_forward *f, const int32_t *tokens, int32_t n, bool all_logits, char *err,
                   size_t err_len);

/* Logits [n_vocab] of row `row` of the last run (row -1: its last row). */
const float *sd_forward_logits(const sd_forward *f, int32_t row);

/* Positions held in the cache. */
int32_t sd_forward_n_past(const sd_forward *f);
int32_t sd_forward_n_ctx(const sd_forward *f);
int32_t sd_forward_max_batch(const sd_forward *f);

/* Calls fn for each large buffer of the state (KV cache, activations, logits, scratch), e.g. to place
 * them on a NUMA node. */
void sd_forward_foreach_buffer(const sd_forward *f, void (*fn)(void *ptr, size_t bytes, void *user),
                               void *user);

/* Bytes of the KV cache (keys and values of every layer, at n_ctx positions). */
uint64_t sd_forward_kv_bytes(const sd_forward *f);

/* Moves the state to another pool of at most as many workers as the one it was created with (its
 * scratch is sized for those): a schedule that switches CPU sets. SD_STATUS_INVALID_ARGUMENT if larger. */
int sd_forward_set_pool(sd_forward *f, sd_pool *pool);

/* Whether small passes (decode steps, verify passes, up to 33 rows) run on the pool or on the calling
 * thread alone, whichever a running measurement finds faster for passes of that size (pool_choice.h): for
 * a model whose small matrix products cost more in waiting for the pool's workers than they gain from a
 * second core (a draft, a target that sits in cache, a loaded machine). Off by default (every pass uses
 * the pool); larger passes always use the pool. Results are the same bits either way. */
void sd_forward_set_measured_pool(sd_forward *f, bool measured);

/* Forgets every position from n_keep on (rolling back rejected draft tokens, or reset with 0). */
void sd_forward_truncate(sd_forward *f, int32_t n_keep);

/* Context shift: forgets positions [n_keep, n_keep + n_discard) and moves the later ones down by
 * n_discard, their keys rotated by RoPE of -n_discard positions (in fp32, stored back in the cache's
 * type), so that generation goes on past the context. n_past drops by n_discard. The result depends on
 * the cache's contents only, so a batched and a token-by-token run that reach the same cache shift
 * alike. SD_STATUS_INVALID_ARGUMENT unless 0 <= n_keep, 1 <= n_discard, n_keep + n_discard <= n_past. */
int sd_forward_shift(sd_forward *f, int32_t n_keep, int32_t n_discard);

/* For benchmarks at long context (`bench-forward --fill`): extends the cache from n_past to n positions
 * (n <= n_ctx) by repeating the cached positions cyclically, so that a pass on top reads a cache of n
 * positions without a prefill of n tokens (quadratic in n). The contents are no real context's; the cost
 * of attention does not depend on them. SD_STATUS_INVALID_ARGUMENT unless 0 < n_past <= n <= n_ctx. */
int sd_forward_extend_repeating(sd_forward *f, int32_t n);

/* The key and the value cached at position pos (< n_past) of layer `layer`, KV head `head`, as fp32
 * ([head_dim] each; the keys after RoPE), for tests of what the cache holds. */
void sd_forward_cached_kv(const sd_forward *f, int layer, int head, int32_t pos, float *key, float *value);

/* Where a pass spends its time, for `specdec bench-forward`: wall seconds per phase, summed over every
 * layer and pass since the profile was attached (the caller zeroes it). */
typedef enum sd_forward_phase {
    SD_FWD_NORM,      /* RMS norms, residual adds, embeddings */
    SD_FWD_QKV,       /* q, k, v projections */
    SD_FWD_ROPE_KV,   /* RoPE and the KV cache store */
    SD_FWD_ATTENTION, /* softmax(q k^T) v over the cache */
    SD_FWD_WO,        /* attention output projection */
    SD_FWD_FFN_IN,    /* gate and up projections and SwiGLU */
    SD_FWD_FFN_DOWN,  /* down projection */
    SD_FWD_OUTPUT,    /* final norm and the vocabulary projection */
    SD_FWD_N_PHASES
} sd_forward_phase;

typedef struct sd_forward_profile {
    double seconds[SD_FWD_N_PHASES];
} sd_forward_profile;

/* Attaches a profile that later passes add their phase times to (NULL detaches). Timing costs two clock
 * reads per phase and layer; without a profile there is none. */
void sd_forward_set_profile(sd_forward *f, sd_forward_profile *profile);
const char *sd_forward_phase_name(sd_forward_phase phase);

/* Bytes a state with these sizes would allocate (KV cache and buffers), and those of its KV cache. */
uint64_t sd_forward_bytes_needed(const sd_model *m, int32_t n_ctx, int32_t max_batch, int n_workers,
                                 sd_cache_type type_k, sd_cache_type type_v);
uint64_t sd_forward_kv_bytes_needed(const sd_model *m, int32_t n_ctx, sd_cache_type type_k,
                                    sd_cache_type type_v);

#endif
