/* The n-gram draft source (draft/ngram.h): proposals on small hand-made contexts (the longest suffix
 * first, its most recent occurrence, a proposal that repeats with the match's period, no match), and on
 * random token streams the incremental index proposes exactly what a scan of the whole context finds
 * (the slow twin below), also after the context is truncated to a shared prefix and continued
 * differently. */
#include <string.h>

#include "common/sd_common.h"
#include "draft/ngram.h"
#include "test_util.h"

/* The reference: scans the context backwards for the most recent earlier occurrence of its last len
 * tokens, len from n_max down to n_min, and proposes what followed (repeating with the period). */
static int32_t propose_by_scan(const int32_t *ctx, int32_t n, int32_t n_min, int32_t n_max, int32_t k,
                               int32_t *out, int32_t *order) {
    *order = 0;
    for (int32_t len = SD_MIN(n_max, n - 1); len >= n_min && k > 0; len--) {
        for (int32_t at = n - 1; at >= len; at--) {
            if (memcmp(ctx + at - len, ctx + n - len, (size_t)len * sizeof *ctx) != 0) continue;
            for (int32_t j = 0; j < k; j++)
                out[j] = j < n - at ? ctx[at + j] : out[j - (n - at)];
            *order = len;
            return k;
        }
    }
    return 0;
}

/* Proposes after ctx[0..n) with a fresh source, and checks the result against want[0..n_want). */
static void check_proposal(const char *what, const int32_t *ctx, int32_t n, int32_t k, const int32_t *want,
                           int32_t n_want, int32_t want_order) {
    char err[256];
    sd_ngram *g = NULL;
    CHECK(sd_ngram_create(64, SD_NGRAM_MIN, SD_NGRAM_MAX, &g, err, sizeof err) == 0, "%s", err);
    if (!g) return;
    int32_t got[16], order = -1;
    const int32_t j = sd_ngram_propose(g, ctx, n, k, got, &order);
    CHECK(j == n_want && order == want_order, "%s: %d tokens of order %d, want %d of order %d", what, j,
          order, n_want, want_order);
    for (int32_t i = 0; i < j && i < n_want; i++)
        CHECK(got[i] == want[i], "%s: token %d is %d, want %d", what, i, got[i], want[i]);
    sd_ngram_free(g);
}

static uint64_t rng_state = 0x853c49e6748fea9bull;
static int32_t random_token(int32_t n_vocab) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (int32_t)(rng_state % (uint64_t)n_vocab);
}

/* Grows a random stream over n_vocab tokens (small: many matches; with runs copied from earlier in it,
 * as text that repeats itself) and compares every proposal with the scan; halfway, truncates to a prefix
 * and continues with other tokens. */
static void check_against_scan(int32_t n_vocab, int32_t n_min, int32_t n_max) {
    enum { N = 600, K = 7 };
    char err[256];
    sd_ngram *g = NULL;
    CHECK(sd_ngram_create(N, n_min, n_max, &g, err, sizeof err) == 0, "%s", err);
    if (!g) return;
    int32_t ctx[N];
    int mismatches = 0, matched = 0;
    for (int pass = 0; pass < 2; pass++) {
        int32_t n = pass == 0 ? 0 : N / 3;
        if (pass == 1) sd_ngram_truncate(g, n);
        while (n < N) {
            if (n > 20 && random_token(4) == 0) { /* copy a run from earlier */
                const int32_t from = random_token(n - 10), len = 1 + random_token(8);
                for (int32_t i = 0; i < len && n < N; i++)
                    ctx[n++] = ctx[from + i];
            } else {
                ctx[n++] = random_token(n_vocab);
            }
            int32_t fast[K], slow[K], of, os;
            const int32_t jf = sd_ngram_propose(g, ctx, n, K, fast, &of);
            const int32_t js = propose_by_scan(ctx, n, n_min, n_max, K, slow, &os);
            matched += jf > 0;
            if (jf != js || of != os || memcmp(fast, slow, (size_t)jf * sizeof *fast) != 0) mismatches++;
        }
    }
    CHECK(mismatches == 0, "vocab %d orders [%d, %d]: %d proposals differ from the scan", n_vocab, n_min,
          n_max, mismatches);
    CHECK(matched > 100, "vocab %d: only %d proposals matched", n_vocab, matched);
    sd_ngram_free(g);
}

int main(void) {
    {
        const int32_t ctx[] = {1, 2, 3, 4, 1, 2, 3}, want[] = {4, 1, 2, 3, 4, 1};
        check_proposal("one earlier match", ctx, 7, 6, want, 6, 3);
    }
    {
        const int32_t ctx[] = {7, 8, 7, 8}, want[] = {7, 8, 7, 8, 7};
        check_proposal("a period of 2", ctx, 4, 5, want, 5, 2);
    }
    {
        const int32_t ctx[] = {1, 2, 10, 1, 2, 11, 1, 2}, want[] = {11, 1, 2};
        check_proposal("the most recent occurrence", ctx, 8, 3, want, 3, 2);
    }
    {
        /* "5 1" last seen before 20; "1" alone last seen before 21: the longer match wins */
        const int32_t ctx[] = {5, 1, 20, 9, 1, 21, 5, 1}, want[] = {20, 9};
        check_proposal("the longest suffix first", ctx, 8, 2, want, 2, 2);
    }
    {
        const int32_t ctx[] = {1, 2, 3, 4, 5};
        check_proposal("no match", ctx, 5, 4, NULL, 0, 0);
        check_proposal("k = 0", ctx, 5, 0, NULL, 0, 0);
        check_proposal("one token", ctx, 1, 4, NULL, 0, 0);
    }
    check_against_scan(6, SD_NGRAM_MIN, SD_NGRAM_MAX);
    check_against_scan(50, SD_NGRAM_MIN, SD_NGRAM_MAX);
    check_against_scan(3, 2, 8);

    char err[256];
    sd_ngram *g = NULL;
    CHECK(sd_ngram_create(16, 0, 4, &g, err, sizeof err) < 0 && !g, "order 0 refused");
    CHECK(sd_ngram_create(16, 3, 2, &g, err, sizeof err) < 0 && !g, "empty order range refused");
    CHECK(sd_ngram_confidence(1) == 0.5f && sd_ngram_confidence(4) > sd_ngram_confidence(3), "confidence");
    return test_finish("test_ngram");
}
