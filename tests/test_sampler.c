/* Tests of sampler/sampler.h: each transform stage on hand-made logits with known distributions,
 * greedy, history, reproducibility, and a chi-square test that sd_sampler_sample draws from
 * sd_sampler_probs. Prints each failure and exits non-zero if any. */
#include "sampler/sampler.h"

#include "common/sd_common.h"

#include "tests/test_stats.h"
#include "tests/test_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_V 64

/* Every stage off: plain softmax at temperature 1. */
static sd_sampler_params plain_params(void) {
    sd_sampler_params p = sd_sampler_default_params();
    p.temp = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 1234;
    return p;
}

static sd_sampler *make(const sd_sampler_params *p, int32_t n_vocab) {
    sd_sampler *s = NULL;
    char err[256] = "";
    int status = sd_sampler_create(p, n_vocab, &s, err, sizeof(err));
    if (status != 0) {
        printf("FAIL make: sd_sampler_create: %d %s\n", status, err);
        exit(1);
    }
    return s;
}

/* Reference softmax in double of l[0..n) / temp over the ids with keep[i] (others 0). */
static void ref_softmax(const float *l, const int *keep, int n, double temp, double *out) {
    double max = -INFINITY, sum = 0.0;
    for (int i = 0; i < n; i++)
        if (keep[i] && l[i] > max) max = l[i];
    for (int i = 0; i < n; i++) {
        out[i] = keep[i] ? exp((l[i] - max) / temp) : 0.0;
        sum += out[i];
    }
    for (int i = 0; i < n; i++)
        out[i] /= sum;
}

/* Runs sd_sampler_probs on logits[0..n) with params p and compares with want[0..n): kept entries within
 * 2e-6, cut entries (want == 0) exactly 0, and the sum within 1e-5 of 1. */
static void expect_probs(const char *what, const sd_sampler_params *p, const float *logits, int n,
                         const double *want) {
    sd_sampler *s = make(p, n);
    float probs[MAX_V];
    int status = sd_sampler_probs(s, logits, probs);
    CHECK(status == 0, "%s: status %d", what, status);
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        sum += probs[i];
        if (want[i] == 0.0) {
            CHECK(probs[i] == 0.0f, "%s: token %d prob %g, want exactly 0", what, i, (double)probs[i]);
        } else {
            CHECK(fabs(probs[i] - want[i]) < 2e-6, "%s: token %d prob %.9g, want %.9g", what, i,
                  (double)probs[i], want[i]);
        }
    }
    CHECK(fabs(sum - 1.0) < 1e-5, "%s: sum %.9g", what, sum);
    sd_sampler_free(s);
}

static void test_defaults_and_validation(void) {
    sd_sampler_params d = sd_sampler_default_params();
    CHECK(d.temp == 0.8f && d.top_k == 40 && d.top_p == 0.95f && d.min_p == 0.05f &&
              d.repeat_penalty == 1.0f && d.repeat_last_n == 64,
          "defaults differ from llama.cpp's");

    struct {
        const char *what;
        sd_sampler_params p;
        int32_t n_vocab;
        int ok;
    } cases[16];
    int n = 0;
    sd_sampler_params p;
#define CASE(WHAT, FIELD, VALUE, NV, OK)                                                                     \
    p = plain_params();                                                                                      \
    p.FIELD = VALUE;                                                                                         \
    cases[n].what = WHAT;                                                                                    \
    cases[n].p = p;                                                                                          \
    cases[n].n_vocab = NV;                                                                                   \
    cases[n].ok = OK;                                                                                        \
    n++;
    CASE("negative temp is greedy", temp, -1.0f, 8, 1)
    CASE("NaN temp", temp, NAN, 8, 0)
    CASE("top_p 0", top_p, 0.0f, 8, 0)
    CASE("top_p 1.5", top_p, 1.5f, 8, 0)
    CASE("top_p NaN", top_p, NAN, 8, 0)
    CASE("top_p 1", top_p, 1.0f, 8, 1)
    CASE("min_p NaN", min_p, NAN, 8, 0)
    CASE("min_p 2", min_p, 2.0f, 8, 0)
    CASE("min_p -1 is off", min_p, -1.0f, 8, 1)
    CASE("penalty 0", repeat_penalty, 0.0f, 8, 0)
    CASE("penalty NaN", repeat_penalty, NAN, 8, 0)
    CASE("penalty inf", repeat_penalty, INFINITY, 8, 0)
    CASE("last_n -2", repeat_last_n, -2, 8, 0)
    CASE("last_n -1", repeat_last_n, -1, 8, 1)
    CASE("n_vocab 0", top_k, 0, 0, 0)
#undef CASE
    for (int i = 0; i < n; i++) {
        sd_sampler *s = (sd_sampler *)&n; /* must be reset to NULL on failure */
        char err[256] = "";
        int status = sd_sampler_create(&cases[i].p, cases[i].n_vocab, &s, err, sizeof(err));
        if (cases[i].ok) {
            CHECK(status == 0 && s != NULL, "%s: status %d (%s), want success", cases[i].what, status, err);
        } else {
            CHECK(status == SD_STATUS_INVALID_ARGUMENT && s == NULL && err[0] != '\0',
                  "%s: status %d, want INVALID_ARGUMENT with a message and NULL", cases[i].what, status);
        }
        if (status == 0) sd_sampler_free(s);
    }
    sd_sampler_free(NULL);
}

static void test_softmax_and_temperature(void) {
    const float l[4] = {1.0f, 2.0f, 3.0f, 0.0f};
    const int all[4] = {1, 1, 1, 1};
    double want[4];
    sd_sampler_params p = plain_params();
    ref_softmax(l, all, 4, 1.0, want);
    expect_probs("softmax", &p, l, 4, want);
    p.temp = 0.5f;
    ref_softmax(l, all, 4, 0.5, want);
    expect_probs("temp 0.5", &p, l, 4, want);
    p.temp = 2.0f;
    ref_softmax(l, all, 4, 2.0, want);
    expect_probs("temp 2", &p, l, 4, want);

    /* All-equal logits under the default chain: 16 x 1/16; top-p 0.95 needs all 16 (15/16 < 0.95). */
    float eq[16];
    double uni[16];
    for (int i = 0; i < 16; i++) {
        eq[i] = 0.25f;
        uni[i] = 1.0 / 16;
    }
    sd_sampler_params d = sd_sampler_default_params();
    expect_probs("all equal, defaults", &d, eq, 16, uni);
}

static void test_top_k(void) {
    const float l[5] = {1.0f, 3.0f, 2.0f, 0.0f, -1.0f};
    sd_sampler_params p = plain_params();
    p.top_k = 2;
    const int keep2[5] = {0, 1, 1, 0, 0};
    double want[5];
    ref_softmax(l, keep2, 5, 1.0, want);
    expect_probs("top-k 2", &p, l, 5, want);

    p.top_k = 1;
    const double one_hot[5] = {0, 1, 0, 0, 0};
    expect_probs("top-k 1", &p, l, 5, one_hot);

    p.top_k = 100; /* larger than the vocabulary: no cut */
    const int all[5] = {1, 1, 1, 1, 1};
    ref_softmax(l, all, 5, 1.0, want);
    expect_probs("top-k > n_vocab", &p, l, 5, want);

    /* Ties at the cut: the lower ids win. */
    const float tie[5] = {1.0f, 2.0f, 2.0f, 2.0f, 0.0f};
    p.top_k = 2;
    const double tie_want[5] = {0, 0.5, 0.5, 0, 0};
    expect_probs("top-k ties", &p, tie, 5, tie_want);
}

/* Top-k selection on larger random rows with many ties against a full sort. */
static int cmp_desc_id(const void *a, const void *b, const float *l) {
    int ia = *(const int *)a, ib = *(const int *)b;
    if (l[ia] != l[ib]) return l[ia] > l[ib] ? -1 : 1;
    return ia - ib;
}
static const float *sort_logits;
static int cmp_sort(const void *a, const void *b) {
    return cmp_desc_id(a, b, sort_logits);
}

static void test_top_k_random(void) {
    enum { N = 3000 };
    static float l[N];
    static float probs[N];
    static int order[N];
    uint64_t x = 42;
    for (int trial = 0; trial < 40; trial++) {
        int levels = trial % 2 ? 7 : 100000; /* few distinct values -> many ties */
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[i] = (float)((x >> 33) % (uint64_t)levels) / (float)levels * 8.0f;
            order[i] = i;
        }
        sort_logits = l;
        qsort(order, N, sizeof(order[0]), cmp_sort);
        sd_sampler_params p = plain_params();
        /* small k: heap selection; k > 1024: quickselect */
        p.top_k = trial % 4 == 3 ? 1025 + trial * 47 : 1 + (trial * 37) % 200;
        sd_sampler *s = make(&p, N);
        CHECK(sd_sampler_probs(s, l, probs) == 0, "probs failed");
        for (int r = 0; r < N; r++) {
            int id = order[r];
            int kept = probs[id] > 0.0f;
            if (kept != (r < p.top_k)) {
                CHECK(0, "trial %d k %d: token %d at rank %d kept=%d", trial, p.top_k, id, r, kept);
                break;
            }
        }
        sd_sampler_free(s);
    }
}

/* Top-p over many candidates (top-k off), where the kept prefix is sorted in growing chunks: the kept
 * set must be a prefix of the full ranking, of the length a float running sum over it gives. */
static void test_top_p_large(void) {
    enum { N = 5000 };
    static float l[N], probs[N];
    static int order[N];
    uint64_t x = 9;
    const float tops[4] = {0.05f, 0.5f, 0.9f, 0.999f};
    for (int trial = 0; trial < 8; trial++) {
        for (int i = 0; i < N; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            l[i] = (float)((x >> 33) % 1000) / (trial < 4 ? 1000.0f : 100.0f);
            order[i] = i;
        }
        sort_logits = l;
        qsort(order, N, sizeof(order[0]), cmp_sort);
        double max = l[order[0]], sum = 0;
        for (int i = 0; i < N; i++)
            sum += expf((float)(l[i] - max));
        sd_sampler_params p = plain_params();
        p.top_p = tops[trial % 4];
        int want = N;
        float cum = 0;
        for (int r = 0; r < N; r++) {
            cum += (float)(expf((float)(l[order[r]] - max)) / sum);
            if (cum >= p.top_p) {
                want = r + 1;
                break;
            }
        }
        sd_sampler *s = make(&p, N);
        CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
        int kept = 0, prefix = 1;
        for (int r = 0; r < N; r++) {
            if (probs[order[r]] > 0.0f) {
                prefix &= r == kept;
                kept++;
            }
        }
        CHECK(prefix, "trial %d: top-p kept set is not a prefix of the ranking", trial);
        CHECK(abs(kept - want) <= 1, "trial %d top_p %g: kept %d, want %d", trial, (double)p.top_p, kept,
              want);
        if (trial == 2) printf("top-p %g over %d candidates kept %d\n", (double)p.top_p, N, kept);
        sd_sampler_free(s);
    }
}

static void test_top_p(void) {
    /* Four equal logits: each prob is exactly 0.25, so the boundary cum >= p is exact. */
    const float eq[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    sd_sampler_params p = plain_params();
    p.top_p = 0.5f; /* 0.25 + 0.25 == 0.5 reaches p: keep exactly 2 */
    const double two[4] = {0.5, 0.5, 0, 0};
    expect_probs("top-p boundary 0.5", &p, eq, 4, two);
    p.top_p = 0.50001f; /* just above: needs a third token */
    const double three[4] = {1.0 / 3, 1.0 / 3, 1.0 / 3, 0};
    expect_probs("top-p just above 0.5", &p, eq, 4, three);
    p.top_p = 0.25f;
    const double one[4] = {1, 0, 0, 0};
    expect_probs("top-p one token", &p, eq, 4, one);
    p.top_p = 1e-6f; /* below the top prob: still one token (min_keep 1) */
    expect_probs("top-p tiny keeps one", &p, eq, 4, one);

    /* probs 0.5, 0.3, 0.15, 0.05 (listed out of order) */
    const float l[4] = {logf(0.15f), logf(0.5f), logf(0.05f), logf(0.3f)};
    p.top_p = 0.79f;
    const double keep2[4] = {0, 0.5 / 0.8, 0, 0.3 / 0.8};
    expect_probs("top-p 0.79", &p, l, 4, keep2);
    p.top_p = 0.81f;
    const double keep3[4] = {0.15 / 0.95, 0.5 / 0.95, 0, 0.3 / 0.95};
    expect_probs("top-p 0.81", &p, l, 4, keep3);

    /* top-p sees the temperature-1 distribution (llama.cpp applies temperature last): at temp 0.1 the
     * scaled top prob would be ~0.99 and alone reach 0.79, but two tokens are kept. */
    p.top_p = 0.79f;
    p.temp = 0.1f;
    const int k2[4] = {0, 1, 0, 1};
    double want[4];
    ref_softmax(l, k2, 4, 0.1, want);
    expect_probs("top-p before temperature", &p, l, 4, want);

    /* top-p runs after top-k, on the renormalized survivors: after top-k 2 the probs are 0.625/0.375,
     * so top-p 0.6 keeps one token (on the full distribution 0.5 < 0.6 would keep two). */
    p = plain_params();
    p.top_k = 2;
    p.top_p = 0.6f;
    const double top1[4] = {0, 1, 0, 0};
    expect_probs("top-k then top-p", &p, l, 4, top1);
}

static void test_min_p(void) {
    /* probs 0.5, 0.3, 0.15, 0.05 */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    sd_sampler_params p = plain_params();
    p.min_p = 0.2f; /* threshold 0.2 * 0.5 = 0.1: cuts 0.05 */
    const double keep3[4] = {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0};
    expect_probs("min-p 0.2", &p, l, 4, keep3);
    p.min_p = 0.35f; /* threshold 0.175: cuts 0.15 and 0.05 */
    const double keep2[4] = {0.5 / 0.8, 0.3 / 0.8, 0, 0};
    expect_probs("min-p 0.35", &p, l, 4, keep2);
    p.min_p = 1.0f; /* only the max */
    const double keep1[4] = {1, 0, 0, 0};
    expect_probs("min-p 1", &p, l, 4, keep1);

    /* min-p also sees the temperature-1 distribution: at temp 0.25 token 2's scaled prob relative to
     * the max is (0.3)^4 < 0.2, yet it survives min-p 0.2. */
    p.min_p = 0.2f;
    p.temp = 0.25f;
    const int k3[4] = {1, 1, 1, 0};
    double want[4];
    ref_softmax(l, k3, 4, 0.25, want);
    expect_probs("min-p before temperature", &p, l, 4, want);
}

static void test_penalty(void) {
    const float l[5] = {2.0f, 1.0f, -1.0f, 0.5f, 0.0f};
    sd_sampler_params p = plain_params();
    p.repeat_penalty = 2.0f;
    p.repeat_last_n = 64;
    sd_sampler *s = make(&p, 5);
    /* token 0 twice (penalized once), token 2 (negative: multiplied), token 4 (zero stays zero) */
    const int32_t hist[4] = {0, 2, 0, 4};
    CHECK(sd_sampler_accept_many(s, hist, 4) == 0, "accept_many");
    CHECK(sd_sampler_history_len(s) == 4, "history len %d", sd_sampler_history_len(s));
    const float pen[5] = {1.0f, 1.0f, -2.0f, 0.5f, 0.0f};
    const int all[5] = {1, 1, 1, 1, 1};
    double want[5];
    float probs[5];
    ref_softmax(pen, all, 5, 1.0, want);
    CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
    for (int i = 0; i < 5; i++)
        CHECK(fabs(probs[i] - want[i]) < 2e-6, "penalty: token %d %.9g want %.9g", i, (double)probs[i],
              want[i]);

    /* Rolling back to [0, 2] leaves tokens 0 and 2 penalized, 4 was zero anyway: same result. Rolling
     * back to [] removes the penalty. */
    CHECK(sd_sampler_history_truncate(s, 2) == 0, "truncate 2");
    CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
    for (int i = 0; i < 5; i++)
        CHECK(fabs(probs[i] - want[i]) < 2e-6, "after truncate: token %d", i);
    CHECK(sd_sampler_history_truncate(s, 3) == SD_STATUS_INVALID_ARGUMENT, "truncate beyond length");
    CHECK(sd_sampler_history_truncate(s, 0) == 0, "truncate 0");
    ref_softmax(l, all, 5, 1.0, want);
    CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
    for (int i = 0; i < 5; i++)
        CHECK(fabs(probs[i] - want[i]) < 2e-6, "empty history: token %d", i);
    CHECK(sd_sampler_accept(s, 5) == SD_STATUS_INVALID_ARGUMENT, "accept out of range");
    CHECK(sd_sampler_accept(s, -1) == SD_STATUS_INVALID_ARGUMENT, "accept negative");
    sd_sampler_free(s);

    /* Window 1: only the last token counts. */
    p.repeat_last_n = 1;
    s = make(&p, 5);
    sd_sampler_accept(s, 0);
    sd_sampler_accept(s, 2);
    const float pen_last[5] = {2.0f, 1.0f, -2.0f, 0.5f, 0.0f};
    ref_softmax(pen_last, all, 5, 1.0, want);
    CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
    for (int i = 0; i < 5; i++)
        CHECK(fabs(probs[i] - want[i]) < 2e-6, "window 1: token %d", i);
    sd_sampler_free(s);

    /* Greedy takes the argmax after the penalty. */
    p.repeat_last_n = 64;
    p.temp = 0.0f;
    s = make(&p, 5);
    sd_sampler_accept(s, 0);
    const float g[5] = {2.0f, 1.5f, -1.0f, 0.5f, 0.0f}; /* 2 / 2 < 1.5 */
    CHECK(sd_sampler_sample(s, g) == 1, "greedy after penalty: %d, want 1", sd_sampler_sample(s, g));
    sd_sampler_free(s);
}

/* Penalty windows over long histories, checked against a direct recomputation. */
static void test_penalty_windows(void) {
    enum { V = 50, T = 2000 };
    static int32_t tokens[T];
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)((i * 7) % 11) - 5.0f;
    uint64_t x = 7;
    for (int i = 0; i < T; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((x >> 33) % V);
    }
    const int32_t windows[3] = {-1, 5, 64};
    for (int w = 0; w < 3; w++) {
        sd_sampler_params p = plain_params();
        p.temp = 0.7f;
        p.repeat_penalty = 1.3f;
        p.repeat_last_n = windows[w];
        sd_sampler *s = make(&p, V);
        int len = 0;
        for (int step = 0; step < 60; step++) {
            /* grow by up to 60, sometimes roll back by up to 40 (a rejected draft) */
            int grow = 1 + step * 13 % 60;
            if (len + grow > T) grow = T - len;
            CHECK(sd_sampler_accept_many(s, tokens + len, grow) == 0, "accept_many");
            len += grow;
            if (step % 3 == 0) {
                int back = step % 40;
                CHECK(sd_sampler_history_truncate(s, len - back) == 0, "window %d truncate by %d", windows[w],
                      back);
                len -= back;
            }
            float pen[V];
            int seen[V] = {0};
            memcpy(pen, l, sizeof(pen));
            int from = windows[w] < 0 ? 0 : SD_MAX(0, len - windows[w]);
            for (int i = from; i < len; i++) {
                int t = tokens[i];
                if (seen[t]++) continue;
                pen[t] = pen[t] <= 0 ? pen[t] * 1.3f : pen[t] / 1.3f;
            }
            int all[V];
            double want[V];
            float probs[V];
            for (int i = 0; i < V; i++)
                all[i] = 1;
            ref_softmax(pen, all, V, 0.7, want);
            CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
            for (int i = 0; i < V; i++) {
                if (fabs(probs[i] - want[i]) > 2e-6) {
                    CHECK(0, "window %d len %d token %d: %.9g want %.9g", windows[w], len, i,
                          (double)probs[i], want[i]);
                    break;
                }
            }
        }
        /* A fixed window cannot roll back past what it keeps. */
        if (windows[w] > 0 && len > windows[w] + SD_SAMPLER_MAX_ROLLBACK * 3) {
            CHECK(sd_sampler_history_truncate(s, 0) == SD_STATUS_INVALID_ARGUMENT, "deep truncate accepted");
            CHECK(sd_sampler_history_len(s) == len, "deep truncate changed the history");
        }
        sd_sampler_free(s);
    }
}

/* sd_sampler_probs_seq equals accepting the tokens one by one, and leaves the history as it was. */
static void test_probs_seq(void) {
    enum { V = 6, ROWS = 4 };
    float l[ROWS][V], seq[ROWS][V], one[V];
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < V; i++)
            l[r][i] = (float)((r * 5 + i * 3) % 7) - 3.0f;
    const int32_t tokens[ROWS - 1] = {2, 5, 2};
    sd_sampler_params p = plain_params();
    p.repeat_penalty = 1.5f;
    p.repeat_last_n = 3;
    sd_sampler *a = make(&p, V), *b = make(&p, V);
    sd_sampler_accept(a, 1);
    sd_sampler_accept(b, 1);
    CHECK(sd_sampler_probs_seq(a, ROWS, &l[0][0], tokens, &seq[0][0]) == 0, "probs_seq");
    CHECK(sd_sampler_history_len(a) == 1, "probs_seq changed the history length to %d",
          sd_sampler_history_len(a));
    for (int r = 0; r < ROWS; r++) {
        CHECK(sd_sampler_probs(b, l[r], one) == 0, "probs");
        CHECK(memcmp(one, seq[r], sizeof(one)) == 0, "probs_seq row %d differs", r);
        if (r + 1 < ROWS) sd_sampler_accept(b, tokens[r]);
    }
    CHECK(sd_sampler_probs_seq(a, 0, &l[0][0], tokens, &seq[0][0]) == SD_STATUS_INVALID_ARGUMENT, "n 0");
    sd_sampler_free(a);
    sd_sampler_free(b);
}

static void test_greedy_and_special_logits(void) {
    sd_sampler_params p = plain_params();
    p.temp = 0.0f;
    const float tie[4] = {1.0f, 3.0f, 3.0f, -2.0f};
    const double at1[4] = {0, 1, 0, 0};
    expect_probs("greedy ties -> lowest id", &p, tie, 4, at1);
    p.temp = -0.5f;
    expect_probs("negative temp is greedy", &p, tie, 4, at1);

    /* Greedy sampling never touches the PRNG: the next uniform draw equals a fresh sampler's first. */
    sd_sampler *g = make(&p, 4);
    for (int i = 0; i < 10; i++)
        CHECK(sd_sampler_sample(g, tie) == 1, "greedy sample");
    sd_sampler_params q = plain_params();
    q.seed = p.seed;
    sd_sampler *fresh = make(&q, 4);
    CHECK(sd_sampler_uniform(g) == sd_sampler_uniform(fresh), "greedy sampling used the PRNG");
    sd_sampler_free(fresh);

    /* -inf and NaN tokens get probability 0, in both modes; a row of only -inf is an error. */
    const float ninf[4] = {-INFINITY, 0.0f, NAN, 0.0f};
    const double half[4] = {0, 0.5, 0, 0.5};
    const double first[4] = {0, 1, 0, 0};
    expect_probs("greedy -inf/NaN", &p, ninf, 4, first);
    sd_sampler_params d = sd_sampler_default_params();
    d.temp = 1.0f;
    expect_probs("-inf/NaN, defaults", &d, ninf, 4, half);
    const float dead[4] = {-INFINITY, -INFINITY, NAN, -INFINITY};
    float probs[4];
    sd_sampler *s = make(&d, 4);
    CHECK(sd_sampler_probs(s, dead, probs) == SD_STATUS_INVALID_ARGUMENT, "all -inf accepted");
    CHECK(sd_sampler_sample(s, dead) == SD_STATUS_INVALID_ARGUMENT, "all -inf sampled");
    CHECK(sd_sampler_sample(g, dead) == SD_STATUS_INVALID_ARGUMENT, "all -inf sampled (greedy)");
    sd_sampler_free(s);
    sd_sampler_free(g);

    /* A denormal temperature (1 / temp == inf) is the greedy limit, ties shared. */
    sd_sampler_params cold = plain_params();
    cold.temp = 1e-40f;
    const float warm[4] = {1.0f, 3.0f, 2.0f, 3.0f};
    const double split[4] = {0, 0.5, 0, 0.5};
    expect_probs("denormal temperature", &cold, warm, 4, split);

    /* +inf logits: uniform over them. */
    const float pinf[4] = {INFINITY, 0.0f, INFINITY, 1.0f};
    const double two[4] = {0.5, 0, 0.5, 0};
    expect_probs("+inf, defaults", &d, pinf, 4, two);
    sd_sampler_params pl = plain_params();
    expect_probs("+inf, plain", &pl, pinf, 4, two);

    /* sample_probs: only positive entries are drawn; an all-zero row is an error. */
    s = make(&pl, 4);
    const float neg[4] = {-1.0f, 0.0f, NAN, 2.0f};
    for (int i = 0; i < 100; i++)
        CHECK(sd_sampler_sample_probs(s, neg) == 3, "sample_probs drew a non-positive");
    const float zero[4] = {0, 0, 0, 0};
    CHECK(sd_sampler_sample_probs(s, zero) == SD_STATUS_INVALID_ARGUMENT, "all-zero row sampled");
    sd_sampler_free(s);
}

static void test_reproducible(void) {
    enum { V = 16, N = 2000 };
    float l[V];
    for (int i = 0; i < V; i++)
        l[i] = (float)(i % 5) * 0.3f;
    sd_sampler_params p = sd_sampler_default_params();
    p.seed = 99;
    sd_sampler *a = make(&p, V), *b = make(&p, V);
    p.seed = 100;
    sd_sampler *c = make(&p, V);
    static int32_t first[N];
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < N; i++) {
        first[i] = sd_sampler_sample(a, l);
        int32_t tb = sd_sampler_sample(b, l), tc = sd_sampler_sample(c, l);
        same_ab &= first[i] == tb;
        same_ac &= first[i] == tc;
    }
    CHECK(same_ab, "same seed, different draws");
    CHECK(!same_ac, "different seeds, same %d draws", N);
    sd_sampler_reset(a);
    int same_reset = 1;
    for (int i = 0; i < N; i++)
        same_reset &= sd_sampler_sample(a, l) == first[i];
    CHECK(same_reset, "reset does not repeat the draws");
    sd_sampler_free(a);
    sd_sampler_free(b);
    sd_sampler_free(c);
}

/* Draws from sd_sampler_sample match sd_sampler_probs: chi-square over 200k draws on 16 tokens (default
 * chain, so some tokens are cut and must never appear), and the same test rejects a wrong distribution. */
static void test_sample_frequencies(void) {
    enum { V = 16, N = 200000 };
    const float l[V] = {2.0f,  1.5f,  1.4f,  1.0f,  0.9f,  0.5f,  0.2f, 0.0f,
                        -0.3f, -0.5f, -1.0f, -2.0f, -3.0f, -5.0f, 1.2f, 0.7f};
    sd_sampler_params p = sd_sampler_default_params();
    p.seed = 2024;
    p.top_k = 12;
    sd_sampler *s = make(&p, V);
    float probs[V];
    CHECK(sd_sampler_probs(s, l, probs) == 0, "probs");
    int cut = 0;
    for (int i = 0; i < V; i++)
        cut += probs[i] == 0.0f;
    CHECK(cut >= 4, "expected top-k to cut at least 4 tokens, cut %d", cut);

    int64_t counts[V] = {0};
    for (int i = 0; i < N; i++) {
        int32_t t = sd_sampler_sample(s, l);
        if (t < 0 || t >= V) {
            CHECK(0, "sample returned %d", t);
            break;
        }
        counts[t]++;
    }
    stats_chi2 fit = stats_chi2_test(counts, probs, V, 0.0);
    double stat = fit.stat, pv = fit.p_value;
    printf("sample vs probs: chi2 %.2f, p-value %.4f (%d cut tokens)\n", stat, pv, cut);
    CHECK(pv > 1e-4, "sample frequencies differ from probs: chi2 %g p %g", stat, pv);

    /* Power check: the distribution at temperature 1 instead of 0.8 must be rejected. */
    sd_sampler_params w = p;
    w.temp = 1.0f;
    sd_sampler *sw = make(&w, V);
    float wrong[V];
    CHECK(sd_sampler_probs(sw, l, wrong) == 0, "probs");
    double pw = stats_chi2_test(counts, wrong, V, 0.0).p_value;
    CHECK(pw < 1e-4, "chi-square failed to reject a wrong distribution: p %g", pw);
    sd_sampler_free(sw);
    sd_sampler_free(s);
}

/* Banned tokens (--ignore-eos) are never chosen, greedy or sampled, and the sampler keeps its own copy of
 * the list; a list naming a token outside the vocabulary is refused. */
static void test_banned(void) {
    int32_t list[2] = {1, 3};
    sd_sampler_params p = plain_params();
    p.temp = 0.0f;
    p.banned = list;
    p.n_banned = 2;
    sd_sampler *g = make(&p, 4);
    list[0] = 0; /* the sampler must not read the caller's list after create */
    const float row[4] = {1.0f, 5.0f, 2.0f, 4.0f};
    CHECK(sd_sampler_sample(g, row) == 2, "greedy chose a banned token");
    CHECK(sd_sampler_get_params(g)->n_banned == 2 && !sd_sampler_get_params(g)->banned, "banned params");
    sd_sampler_free(g);
    list[0] = 1;
    sd_sampler_params t = sd_sampler_default_params();
    t.temp = 1.0f;
    t.top_k = 0;
    t.top_p = 1.0f;
    t.min_p = 0.0f;
    t.banned = list;
    t.n_banned = 1;
    sd_sampler *s = make(&t, 4);
    for (int i = 0; i < 200; i++)
        CHECK(sd_sampler_sample(s, row) != 1, "sampled a banned token");
    float probs[4];
    CHECK(sd_sampler_probs(s, row, probs) == SD_STATUS_OK && probs[1] == 0.0f, "banned token has mass");
    sd_sampler_free(s);
    int32_t bad = 4;
    t.banned = &bad;
    sd_sampler *none = NULL;
    char err[128];
    CHECK(sd_sampler_create(&t, 4, &none, err, sizeof err) == SD_STATUS_INVALID_ARGUMENT && !none,
          "banned token outside the vocabulary accepted");
}

int main(void) {
    stats_self_test();
    test_defaults_and_validation();
    test_softmax_and_temperature();
    test_top_k();
    test_top_k_random();
    test_top_p();
    test_top_p_large();
    test_min_p();
    test_penalty();
    test_penalty_windows();
    test_probs_seq();
    test_greedy_and_special_logits();
    test_banned();
    test_reproducible();
    test_sample_frequencies();
    return test_finish("sampler");
}
