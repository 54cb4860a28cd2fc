#include "xvocab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "common/sd_utf8.h"

/* The draft tokens ending within this many bytes of the end of the text that stayed the same are
 * tokenized again with the new text: more text can merge into the last words' tokens. */
#define RESYNC_BYTES 32

struct sd_xvocab {
    const sd_vocab *tv, *dv; /* target's, draft's */
    sd_drafter *drafter;
    int32_t n_ctx, n_ctx_draft;
    /* the target context mirrored: t_tok[0..n_t), and text[t_end[i - 1]..t_end[i]) is token i's text */
    int32_t *t_tok; /* [n_ctx] */
    size_t *t_end;  /* [n_ctx] */
    int32_t n_t;
    char *text; /* [text_cap] the context's text (control tokens give none) */
    size_t text_len, text_cap;
    /* the draft context: the text's tokens in the draft's vocabulary, d_end[i] bytes of text covered by
     * d_tok[0..i] */
    int32_t *d_tok; /* [d_cap] */
    size_t *d_end;  /* [d_cap] */
    int32_t n_d, d_cap;
    /* the proposal: draft ids, their text, target ids */
    int32_t dprop[SD_MAX_DRAFT_LEN];
    size_t dprop_end[SD_MAX_DRAFT_LEN];
    char *ptext; /* [ptext_cap] */
    size_t ptext_cap;
    int32_t *tprop; /* [tprop_cap] */
    int32_t tprop_cap;
    float conf[SD_MAX_DRAFT_LEN];
    double t_translate_s;
};

static bool grow_bytes(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return false;
    *buf = p;
    *cap = c;
    return true;
}

static bool grow_draft(sd_xvocab *x, int32_t need) {
    if (need <= x->d_cap) return true;
    int32_t c = x->d_cap ? x->d_cap : 256;
    while (c < need)
        c *= 2;
    int32_t *t = realloc(x->d_tok, (size_t)c * sizeof *t);
    if (t) x->d_tok = t;
    size_t *e = realloc(x->d_end, (size_t)c * sizeof *e);
    if (e) x->d_end = e;
    if (!t || !e) return false;
    x->d_cap = c;
    return true;
}

int sd_xvocab_create(const sd_vocab *target, const sd_vocab *draft, sd_drafter *drafter, int32_t n_ctx,
                     int32_t n_ctx_draft, sd_xvocab **out, char *err, size_t err_len) {
    *out = NULL;
    sd_xvocab *x = calloc(1, sizeof *x);
    if (!x) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    x->tv = target;
    x->dv = draft;
    x->drafter = drafter;
    x->n_ctx = n_ctx;
    x->n_ctx_draft = n_ctx_draft;
    x->t_tok = malloc((size_t)n_ctx * sizeof *x->t_tok);
    x->t_end = malloc((size_t)n_ctx * sizeof *x->t_end);
    x->tprop_cap = 4 * SD_MAX_DRAFT_LEN;
    x->tprop = malloc((size_t)x->tprop_cap * sizeof *x->tprop);
    if (!x->t_tok || !x->t_end || !x->tprop || !grow_draft(x, n_ctx) ||
        !grow_bytes(&x->text, &x->text_cap, 4096) || !grow_bytes(&x->ptext, &x->ptext_cap, 1024)) {
        sd_xvocab_free(x);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory for the cross-vocabulary draft");
    }
    *out = x;
    return SD_STATUS_OK;
}

void sd_xvocab_free(sd_xvocab *x) {
    if (!x) return;
    free(x->t_tok);
    free(x->t_end);
    free(x->text);
    free(x->d_tok);
    free(x->d_end);
    free(x->ptext);
    free(x->tprop);
    free(x);
}

void sd_xvocab_reset(sd_xvocab *x) {
    x->n_t = 0;
    x->text_len = 0;
    x->n_d = 0;
    x->t_translate_s = 0;
}

const float *sd_xvocab_confidence(const sd_xvocab *x) {
    return x->conf;
}

double sd_xvocab_translate_seconds(const sd_xvocab *x) {
    return x->t_translate_s;
}

/* Appends the piece of token id of vocabulary v to *buf (a dummy-prefix space dropped when it is the
 * text's first). Returns false when out of memory. */
static bool append_piece(const sd_vocab *v, int32_t id, bool first, char **buf, size_t *len, size_t *cap) {
    for (;;) {
        size_t room = *cap - *len;
        int n = first ? sd_detokenize(v, &id, 1, false, true, *buf + *len, room)
                      : sd_token_to_piece(v, id, false, *buf + *len, room);
        if (n < 0) return true; /* an id out of range has no text */
        if ((size_t)n <= room) {
            *len += (size_t)n;
            return true;
        }
        if (!grow_bytes(buf, cap, *len + (size_t)n + 1)) return false;
    }
}

/* Mirrors the target context ctx[0..n) in t_tok and text; returns the bytes of text that did not
 * change, or SD_STATUS_NO_MEMORY. */
static int64_t mirror_target(sd_xvocab *x, const int32_t *ctx, int32_t n) {
    int32_t common = 0, limit = SD_MIN(x->n_t, n);
    while (common < limit && x->t_tok[common] == ctx[common])
        common++;
    x->n_t = common;
    x->text_len = common ? x->t_end[common - 1] : 0;
    const size_t kept = x->text_len;
    for (int32_t i = common; i < n && i < x->n_ctx; i++) {
        if (!append_piece(x->tv, ctx[i], x->text_len == 0, &x->text, &x->text_len, &x->text_cap))
            return SD_STATUS_NO_MEMORY;
        x->t_tok[i] = ctx[i];
        x->t_end[i] = x->text_len;
        x->n_t = i + 1;
    }
    return (int64_t)kept;
}

/* Tokenizes text[from..text_len) into the draft's vocabulary after d_tok[0..n_d) (from 0: as a whole
 * text, with BOS and the dummy prefix as the draft asks), and records the bytes each token covers. */
static int tokenize_draft_tail(sd_xvocab *x, size_t from, char *err, size_t err_len) {
    const char *s = x->text + from;
    const size_t len = x->text_len - from;
    int32_t room = x->d_cap - x->n_d;
    int n;
    for (;;) {
        n = from == 0 ? sd_tokenize(x->dv, s, len, true, false, x->d_tok + x->n_d, room, err, err_len)
                      : sd_tokenize_continuation(x->dv, s, len, x->d_tok + x->n_d, room, err, err_len);
        if (n < 0) return n;
        if (n <= room) break;
        if (!grow_draft(x, x->n_d + n)) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        room = x->d_cap - x->n_d;
    }
    /* byte ends from the pieces; a dummy prefix makes the pieces longer than the text by its bytes at
     * the start, and unknown tokens may differ: ends are clamped into [from, text_len] */
    size_t total = 0;
    char piece[256];
    for (int i = 0; i < n; i++) {
        int p = sd_token_to_piece(x->dv, x->d_tok[x->n_d + i], false, piece, sizeof piece);
        total += p > 0 ? (size_t)p : 0;
    }
    size_t extra = total > len ? total - len : 0, cum = 0;
    for (int i = 0; i < n; i++) {
        int p = sd_token_to_piece(x->dv, x->d_tok[x->n_d + i], false, piece, sizeof piece);
        cum += p > 0 ? (size_t)p : 0;
        size_t end = cum > extra ? cum - extra : 0;
        x->d_end[x->n_d + i] = from + SD_MIN(end, len);
    }
    x->n_d += n;
    return SD_STATUS_OK;
}

/* Brings the draft context (d_tok) to the text of target ctx[0..n). */
static int translate_context(sd_xvocab *x, const int32_t *ctx, int32_t n, char *err, size_t err_len) {
    int64_t kept = mirror_target(x, ctx, n);
    if (kept < 0) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    /* keep the draft tokens that end well before the changed text (and at least one byte in) */
    size_t safe = (size_t)kept > RESYNC_BYTES ? (size_t)kept - RESYNC_BYTES : 0;
    int32_t keep = 0;
    while (keep < x->n_d && x->d_end[keep] <= safe && safe > 0)
        keep++;
    /* a token ending exactly where the kept ones end might be the dummy-prefixed first: keep runs of
     * tokens that cover text, so the tail is tokenized from a token boundary */
    while (keep > 0 && x->d_end[keep - 1] == 0)
        keep--;
    x->n_d = keep;
    return tokenize_draft_tail(x, keep ? x->d_end[keep - 1] : 0, err, err_len);
}

int sd_xvocab_sync(sd_xvocab *x, const int32_t *ctx, int32_t n, char *err, size_t err_len) {
    double t0 = sd_time_seconds();
    int rc = translate_context(x, ctx, n, err, err_len);
    x->t_translate_s += sd_time_seconds() - t0;
    if (rc < 0) return rc;
    if (x->n_d >= x->n_ctx_draft) return SD_STATUS_OK; /* too long for the draft: no drafting */
    return sd_drafter_sync(x->drafter, x->d_tok, x->n_d, err, err_len);
}

/* Keeps every draft token: the controller's gate is asked about target ids instead. */
static sd_draft_verdict keep_all(void *user, int32_t i, float p_top) {
    (void)user, (void)i, (void)p_top;
    return SD_DRAFT_KEEP;
}

/* The length of the longest prefix of s[0..n) that ends on a whole UTF-8 character. */
static size_t whole_chars(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        uint8_t c = (uint8_t)s[n - back];
        if (sd_utf8_is_cont(c)) continue;
        size_t need = sd_utf8_seq_len(c);
        return need > back ? n - back : n;
    }
    return n;
}

/* The draft's proposal dprop[0..jd) as text in ptext (up to its first control or end-of-generation token);
 * returns the bytes, or SD_STATUS_NO_MEMORY. */
static int64_t proposal_text(sd_xvocab *x, int32_t jd) {
    size_t len = 0;
    for (int32_t i = 0; i < jd; i++) {
        int32_t id = x->dprop[i];
        if (sd_vocab_is_eog(x->dv, id) || sd_vocab_token_type(x->dv, id) == SD_TOKEN_CONTROL) break;
        if (!append_piece(x->dv, id, false, &x->ptext, &len, &x->ptext_cap)) return SD_STATUS_NO_MEMORY;
        x->dprop_end[i] = len;
    }
    return (int64_t)len;
}

int32_t sd_xvocab_propose(sd_xvocab *x, const int32_t *ctx, int32_t n, int32_t k, const sd_draft_stop *stop,
                          int32_t *tokens, char *err, size_t err_len) {
    if (k <= 0) return 0;
    double t0 = sd_time_seconds();
    int rc = translate_context(x, ctx, n, err, err_len);
    double t1 = sd_time_seconds();
    if (rc < 0) return rc;
    /* draft tokens per target token over the context, so that k target ids' worth is drafted (and one
     * more: the last target id is dropped); rounded, not ceiled: with similar vocabularies (ratio 1.05)
     * k + 2 passes would pay a whole draft pass more for every round */
    double ratio = n > 1 && x->n_d > 1 ? (double)x->n_d / (double)n : 1.0;
    ratio = SD_MAX(0.25, SD_MIN(4.0, ratio));
    int32_t kd = (int32_t)lround((double)k * ratio) + 1;
    kd = SD_MAX(1, SD_MIN(kd, SD_MAX_DRAFT_LEN));
    sd_draft_stop own = {
        .p_min = stop ? stop->p_min : 0.0f, .gate = stop && stop->gate ? keep_all : NULL, .gate_user = NULL};
    int32_t jd = sd_drafter_propose(x->drafter, x->d_tok, x->n_d, kd, &own, x->dprop, err, err_len);
    if (jd < 0) return jd;
    double t2 = sd_time_seconds();
    const float *dconf = sd_drafter_confidence(x->drafter);
    int64_t plen = proposal_text(x, jd);
    if (plen < 0) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    size_t cut = whole_chars(x->ptext, (size_t)plen);
    int m = sd_tokenize_continuation(x->tv, x->ptext, cut, x->tprop, x->tprop_cap, err, err_len);
    if (m < 0) return m;
    m = SD_MIN(m, x->tprop_cap);
    int32_t j = 0, limit = SD_MIN(k, m - 1); /* the last target id may still change: dropped */
    size_t end = 0;
    int32_t di = 0;
    char piece[256];
    while (j < limit) {
        int p = sd_token_to_piece(x->tv, x->tprop[j], false, piece, sizeof piece);
        end += p > 0 ? (size_t)p : 0;
        while (di + 1 < jd && x->dprop_end[di] < end)
            di++;
        float conf = dconf[di];
        /* the proposal is drafted already: the next target id costs no draft pass, so only a withheld
         * one ends it */
        if (stop && stop->gate && stop->gate(stop->gate_user, j, conf) == SD_DRAFT_WITHHOLD) break;
        x->conf[j] = conf;
        tokens[j] = x->tprop[j];
        j++;
    }
    x->t_translate_s += (t1 - t0) + (sd_time_seconds() - t2);
    return j;
}
