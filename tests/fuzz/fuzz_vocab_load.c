/* Fuzz target: a vocabulary from hostile GGUF metadata. Any bytes go through sd_gguf_open_memory and
 * sd_vocab_load (token/score/type arrays of other lengths, special ids out of range, merges naming unknown
 * tokens, odd pre-tokenizer names, duplicate tokens); a vocabulary that loads must then tokenize and
 * detokenize without failing or reading outside its tables.
 * Invariants: a refusal carries a one-line message; a loaded vocabulary tokenizes fixed texts (and the
 * input's own tail) into ids in range, maps every id to a piece, refuses ids outside it, and is
 * compatible with itself. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/sd_common.h"
#include "fuzz_vocabs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const sd_vocab *v, const char *text, size_t len) {
    char err[256] = "";
    int32_t ids[256];
    int32_t n_vocab = sd_vocab_n_tokens(v);
    for (int mode = 0; mode < 4; mode++) {
        int n = sd_tokenize(v, text, len, mode & 1, mode & 2, ids, 256, err, sizeof err);
        if (n < 0) fuzz_check_message(err);
        FUZZ_REQUIRE(n >= 0, "a loaded vocabulary failed to tokenize %zu bytes: %s", len, err);
        for (int i = 0; i < n && i < 256; i++)
            FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < n_vocab, "id %d out of range [0, %d)", ids[i], n_vocab);
        if (n > 256) continue;
        char buf[64];
        int tl = sd_detokenize(v, ids, n, mode & 1, mode & 2, buf, sizeof buf);
        FUZZ_REQUIRE(tl >= 0, "detokenize of in-range ids failed (%d)", tl);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    char err[256] = "";
    sd_gguf *g = NULL;
    sd_vocab *v = NULL;
    if (sd_gguf_open_memory(copy, size, &g, err, sizeof err) == 0) {
        int rc = sd_vocab_load(g, &v, err, sizeof err);
        if (rc < 0) {
            fuzz_check_message(err);
            FUZZ_REQUIRE(v == NULL, "a failed load returned a vocabulary");
        } else {
            int32_t n_vocab = sd_vocab_n_tokens(v);
            FUZZ_REQUIRE(n_vocab > 0, "a loaded vocabulary has %d tokens", n_vocab);
            int32_t bos = sd_vocab_bos(v), eos = sd_vocab_eos(v);
            FUZZ_REQUIRE(bos >= -1 && bos < n_vocab && eos >= -1 && eos < n_vocab, "special ids %d %d of %d",
                         bos, eos, n_vocab);
            char piece[32];
            for (int32_t id = -2; id < n_vocab + 2 && id < 4096; id++) {
                int pl = sd_token_to_piece(v, id, id & 1, piece, sizeof piece);
                FUZZ_REQUIRE((id >= 0 && id < n_vocab) == (pl >= 0), "piece of id %d: %d", id, pl);
                (void)sd_vocab_is_eog(v, id);
                (void)sd_vocab_token_type(v, id);
            }
            static const char fixed[] = "Hello world! <s></s><|endoftext|> \xe2\x96\x81x \xff\xc3 12345\n\t";
            exercise(v, fixed, sizeof fixed - 1);
            size_t tail = SD_MIN(size, (size_t)64);
            exercise(v, (const char *)copy + size - tail, tail);
            FUZZ_REQUIRE(sd_vocab_check_compatible(v, v, err, sizeof err) == 0,
                         "not compatible with itself: %s", err);
            sd_vocab_free(v);
        }
        sd_gguf_close(g);
    } else {
        fuzz_check_message(err);
    }
    free(copy);
    return 0;
}
