/* How two vocabularies relate (the same, or which token strings they share) and tokenization of text
 * that continues a longer text: what cross-vocabulary drafting (draft/xvocab.c) needs of the tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "common/sd_strtab.h"
#include "vocab.h"
#include "vocab_internal.h"

/* The decoded bytes of token id (special=true: control tokens keep their text). */
static const char *piece_of(const void *owner, uint32_t id, size_t *len) {
    const sd_vocab *v = owner;
    *len = v->piece_len[id];
    return v->piece_pool + v->piece_off[id];
}

int sd_vocab_relate(const sd_vocab *target, const sd_vocab *draft, sd_vocab_relation *out, char *err,
                    size_t err_len) {
    memset(out, 0, sizeof *out);
    if (!target || !draft) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "NULL vocabulary");
    out->n_target = target->n_tokens;
    out->n_draft = draft->n_tokens;
    int32_t diff = target->n_tokens - draft->n_tokens;
    if (diff < 0) diff = -diff;
    out->n_padding = diff;
    if (diff <= SD_VOCAB_MAX_PADDING && sd_vocab_check_compatible(target, draft, NULL, 0) == SD_STATUS_OK) {
        out->same = true;
        out->n_shared = SD_MIN(target->n_tokens, draft->n_tokens);
        return SD_STATUS_OK;
    }
    /* the intersection: draft tokens whose decoded string some target token has (each string once) */
    sd_strtab seen;
    int rc = sd_strtab_init(&seen, (uint64_t)target->n_tokens,
                            (uint64_t)(uintptr_t)out ^ 0x2545f4914f6cdd1dull, piece_of, target);
    if (rc < 0) return sd_error(err, err_len, rc, "out of memory relating the vocabularies");
    for (int32_t i = 0; i < target->n_tokens; i++) {
        size_t len;
        const char *s = piece_of(target, (uint32_t)i, &len);
        if (len > 0) sd_strtab_insert(&seen, s, len, (uint32_t)i);
    }
    sd_strtab found;
    rc = sd_strtab_init(&found, (uint64_t)draft->n_tokens,
                        (uint64_t)(uintptr_t)&found ^ 0x9e3779b97f4a7c15ull, piece_of, draft);
    if (rc < 0) {
        sd_strtab_free(&seen);
        return sd_error(err, err_len, rc, "out of memory relating the vocabularies");
    }
    for (int32_t i = 0; i < draft->n_tokens; i++) {
        size_t len;
        const char *s = piece_of(draft, (uint32_t)i, &len);
        if (len == 0 || sd_strtab_find(&seen, s, len) < 0) continue;
        if (sd_strtab_insert(&found, s, len, (uint32_t)i) == -1) out->n_shared++;
    }
    sd_strtab_free(&found);
    sd_strtab_free(&seen);
    return SD_STATUS_OK;
}

int sd_tokenize_continuation(const sd_vocab *v, const char *text, size_t len, int32_t *out, int max_tokens,
                             char *err, size_t err_len) {
    if (!v || (!text && len > 0) || max_tokens < 0 || (!out && max_tokens > 0))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_tokenize_continuation: bad argument");
    idbuf ids = {0};
    int rc = v->kind == SD_VOCAB_SPM ? sd_tok_spm_tokenize_fragment(v, text, len, false, &ids)
                                     : sd_tok_bpe_tokenize_fragment(v, text, len, &ids);
    if (rc >= 0) {
        if (ids.len > (size_t)INT32_MAX) {
            rc = sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "text gives too many tokens");
        } else {
            if (max_tokens > 0 && ids.len > 0)
                memcpy(out, ids.data, SD_MIN(ids.len, (size_t)max_tokens) * sizeof(int32_t));
            rc = (int)ids.len;
        }
    } else {
        sd_error(err, err_len, rc, "tokenizing %zu bytes failed", len);
    }
    free(ids.data);
    return rc;
}
