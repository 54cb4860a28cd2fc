/* Fuzz target: random token id sequences through sd_token_to_piece and sd_detokenize, with both
 * tokenizer models, including ids out of range. The first input byte picks the vocabulary (bit 0),
 * `special` (bit 1) and remove_space_prefix (bit 2); then each 4 bytes make one id: with the top bit set
 * the raw int32 (mostly far out of range), otherwise an id in [-8, n_vocab + 8).
 * Invariants: out-of-range ids are refused (negative status), never read; in-range ids give a length that
 * does not depend on the buffer; short buffers are never overrun; without remove_space_prefix the text is
 * exactly the concatenation of the pieces. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_vocabs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_vocabs_get();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fuzz_vocabs *fv = fuzz_vocabs_get();
    const sd_vocab *v = fv->v[data[0] & 1];
    bool special = data[0] & 2, strip = data[0] & 4;
    int32_t n_vocab = sd_vocab_n_tokens(v);
    int n = (int)((size - 1) / 4);
    int32_t *ids = malloc(((size_t)n ? (size_t)n : 1) * sizeof *ids);
    if (!ids) return 0;
    bool all_in_range = true;
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, data + 1 + 4 * (size_t)i, 4);
        ids[i] = (u & 0x80000000u) ? (int32_t)u : (int32_t)(u % (uint32_t)(n_vocab + 16)) - 8;
        if (ids[i] < 0 || ids[i] >= n_vocab) all_in_range = false;
    }

    /* Pieces one by one, into exact-size buffers. */
    size_t concat_cap = 64, concat_len = 0;
    char *concat = malloc(concat_cap);
    FUZZ_REQUIRE(concat != NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        int pl = sd_token_to_piece(v, ids[i], special, NULL, 0);
        bool in_range = ids[i] >= 0 && ids[i] < n_vocab;
        FUZZ_REQUIRE(in_range ? pl >= 0 : pl < 0, "token_to_piece(%d) = %d with n_vocab %d", ids[i], pl,
                     n_vocab);
        if (pl <= 0) continue;
        char *piece = malloc((size_t)pl);
        FUZZ_REQUIRE(piece != NULL, "out of memory");
        FUZZ_REQUIRE(sd_token_to_piece(v, ids[i], special, piece, (size_t)pl) == pl, "piece length changed");
        if (pl > 1)
            FUZZ_REQUIRE(sd_token_to_piece(v, ids[i], special, piece, (size_t)pl - 1) == pl, "short piece");
        while (concat_len + (size_t)pl > concat_cap) {
            concat_cap *= 2;
            concat = realloc(concat, concat_cap);
            FUZZ_REQUIRE(concat != NULL, "out of memory");
        }
        memcpy(concat + concat_len, piece, (size_t)pl);
        concat_len += (size_t)pl;
        free(piece);
    }

    int tl = sd_detokenize(v, ids, n, special, strip, NULL, 0);
    if (!all_in_range) {
        FUZZ_REQUIRE(tl < 0, "detokenize accepted an out-of-range id (returned %d)", tl);
    } else {
        FUZZ_REQUIRE(tl >= 0, "detokenize of in-range ids failed (%d)", tl);
        char *text = malloc((size_t)tl + 1);
        FUZZ_REQUIRE(text != NULL, "out of memory");
        FUZZ_REQUIRE(sd_detokenize(v, ids, n, special, strip, text, (size_t)tl) == tl, "length changed");
        if (tl > 1) {
            char *half = malloc((size_t)tl / 2);
            FUZZ_REQUIRE(half != NULL, "out of memory");
            FUZZ_REQUIRE(sd_detokenize(v, ids, n, special, strip, half, (size_t)tl / 2) == tl,
                         "short buffer");
            FUZZ_REQUIRE(memcmp(half, text, (size_t)tl / 2) == 0, "short buffer holds other bytes");
            free(half);
        }
        if (!strip)
            FUZZ_REQUIRE((size_t)tl == concat_len && memcmp(text, concat, concat_len) == 0,
                         "detokenize (%d bytes) differs from the concatenated pieces (%zu bytes)", tl,
                         concat_len);
        else
            FUZZ_REQUIRE((size_t)tl <= concat_len && (size_t)tl + 1 >= concat_len,
                         "remove_space_prefix dropped %zu bytes", concat_len - (size_t)tl);
        free(text);
    }
    free(concat);
    free(ids);
    return 0;
}
