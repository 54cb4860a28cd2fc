/* Fuzz target: sd_tokenize with both tokenizer models on any bytes. The first input byte picks
 * add_special (bit 0) and parse_special (bit 1); the rest is the text.
 * Invariants: tokenizing never fails on any bytes; the count does not depend on the buffer size; a short
 * buffer is never overrun (exact-size heap buffers, so ASan sees one id too many); every id is in range;
 * byte-level BPE text that is valid UTF-8 comes back byte for byte from sd_detokenize. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/sd_utf8.h"
#include "fuzz_vocabs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_vocabs_get();
    return 0;
}

static void fuzz_one_vocab(const sd_vocab *v, int which, const char *text, size_t len, bool add_special,
                           bool parse_special) {
    char err[256] = "";
    int n = sd_tokenize(v, text, len, add_special, parse_special, NULL, 0, err, sizeof err);
    if (n < 0) {
        fuzz_check_message(err);
        FUZZ_REQUIRE(0, "vocab %d: tokenize failed on %zu bytes: %s", which, len, err);
    }
    int32_t small[4]; /* a caller's fixed buffer, larger than some results (0 tokens included) */
    int n1 = sd_tokenize(v, text, len, add_special, parse_special, small, 4, err, sizeof err);
    FUZZ_REQUIRE(n1 == n, "vocab %d: count %d with a 4-id buffer, %d with none", which, n1, n);
    int32_t *ids = malloc(((size_t)n ? (size_t)n : 1) * sizeof *ids);
    FUZZ_REQUIRE(ids != NULL, "out of memory");
    int n2 = sd_tokenize(v, text, len, add_special, parse_special, ids, n, err, sizeof err);
    FUZZ_REQUIRE(n2 == n, "vocab %d: count %d with a full buffer, %d with none", which, n2, n);
    int32_t n_vocab = sd_vocab_n_tokens(v);
    for (int i = 0; i < n; i++)
        FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < n_vocab, "vocab %d: id %d out of range", which, ids[i]);
    if (n > 1) { /* a buffer one short: the count comes back, the buffer is not overrun */
        int32_t *shorter = malloc((size_t)(n - 1) * sizeof *shorter);
        FUZZ_REQUIRE(shorter != NULL, "out of memory");
        int n3 = sd_tokenize(v, text, len, add_special, parse_special, shorter, n - 1, err, sizeof err);
        FUZZ_REQUIRE(n3 == n, "vocab %d: count %d with a short buffer, %d with none", which, n3, n);
        FUZZ_REQUIRE(memcmp(shorter, ids, (size_t)(n - 1) * sizeof *ids) == 0,
                     "vocab %d: short buffer differs", which);
        free(shorter);
    }
    /* Byte-level BPE is lossless on valid UTF-8 (no BOS/EOS, no special-token parsing). */
    if (sd_vocab_get_kind(v) == SD_VOCAB_BPE && !add_special && !parse_special &&
        sd_utf8_is_valid((const uint8_t *)text, len)) {
        int tl = sd_detokenize(v, ids, n, false, false, NULL, 0);
        FUZZ_REQUIRE(tl >= 0, "vocab %d: detokenize failed (%d)", which, tl);
        char *back = malloc((size_t)tl + 1);
        FUZZ_REQUIRE(back != NULL, "out of memory");
        FUZZ_REQUIRE(sd_detokenize(v, ids, n, false, false, back, (size_t)tl) == tl,
                     "vocab %d: length changed", which);
        FUZZ_REQUIRE((size_t)tl == len && memcmp(back, text, len) == 0,
                     "vocab %d: round trip of %zu bytes gave %d bytes", which, len, tl);
        free(back);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fuzz_vocabs *fv = fuzz_vocabs_get();
    bool add_special = data[0] & 1, parse_special = data[0] & 2;
    size_t len = size - 1;
    /* An exact-size copy without a NUL: the tokenizer must not read past len. */
    char *text = malloc(len ? len : 1);
    if (!text) return 0;
    memcpy(text, data + 1, len);
    for (int i = 0; i < FUZZ_N_VOCABS; i++)
        fuzz_one_vocab(fv->v[i], i, text, len, add_special, parse_special);
    free(text);
    return 0;
}
