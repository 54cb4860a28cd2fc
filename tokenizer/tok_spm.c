/* SentencePiece-BPE tokenization as llama.cpp's llm_tokenizer_spm does it: split the text into UTF-8
 * characters, then repeatedly merge the adjacent pair whose concatenation is the highest-scoring token
 * (ties: the leftmost pair), and finally emit each symbol's token, or its bytes as <0xXX> tokens. */
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "tokenizer/vocab_internal.h"

typedef struct spm_symbol {
    int prev, next;   /* neighbours in the live chain, -1 at the ends */
    const char *text; /* into the escaped text */
    size_t n;         /* bytes; 0 once merged into its left neighbour */
} spm_symbol;

typedef struct spm_state {
    const sd_vocab *v;
    spm_symbol *sym;
    sd_tok_bigram_queue queue;
} spm_state;

static bool try_add_bigram(spm_state *st, int left, int right) {
    if (left < 0 || right < 0) return true;
    size_t size = st->sym[left].n + st->sym[right].n; /* the two are adjacent in the text */
    int32_t id = sd_tok_token_id(st->v, st->sym[left].text, size);
    if (id < 0) return true;
    /* Higher scores merge first: the queue pops the lowest priority. */
    sd_tok_bigram b = {left, right, -(double)st->v->scores[id], size};
    return sd_tok_queue_push(&st->queue, b);
}

static bool emit_symbol(const sd_vocab *v, const spm_symbol *s, idbuf *out) {
    int32_t id = sd_tok_token_id(v, s->text, s->n);
    if (id >= 0) return sd_tok_idbuf_push(out, id);
    /* Not a token: byte fallback, one <0xXX> token per byte (unknown token if the vocab lacks it). */
    for (size_t j = 0; j < s->n; j++) {
        int32_t b = v->byte_token[(uint8_t)s->text[j]];
        if (b < 0) b = v->unk;
        if (b >= 0 && !sd_tok_idbuf_push(out, b)) return false;
    }
    return true;
}

/* Escapes the fragment (optional leading space, every ' ' -> U+2581) into esc. */
static bool escape_spaces(const char *text, size_t len, bool add_prefix, bytebuf *esc) {
    static const char lower_block[3] = {'\xE2', '\x96', '\x81'};
    if (!sd_tok_bytebuf_reserve(esc, 3 * (len + 1))) return false;
    if (add_prefix) sd_tok_bytebuf_append(esc, lower_block, 3);
    size_t run = 0; /* copy runs without spaces in one go */
    for (size_t i = 0; i < len; i++) {
        if (text[i] != ' ') continue;
        sd_tok_bytebuf_append(esc, text + run, i - run);
        sd_tok_bytebuf_append(esc, lower_block, 3);
        run = i + 1;
    }
    sd_tok_bytebuf_append(esc, text + run, len - run);
    return true;
}

int sd_tok_spm_tokenize_fragment(const sd_vocab *v, const char *text, size_t len, bool add_prefix,
                                 idbuf *out) {
    bytebuf esc = {0};
    spm_state st = {.v = v};
    int rc = SD_STATUS_NO_MEMORY;
    if (!escape_spaces(text, len, add_prefix, &esc)) goto done;
    if (esc.len == 0) {
        rc = SD_STATUS_OK;
        goto done;
    }
    st.sym = malloc(esc.len * sizeof(*st.sym));
    if (!st.sym) goto done;

    /* One symbol per UTF-8 character (by the lead byte's length, not validated: as llama.cpp). */
    int n_sym = 0;
    for (size_t off = 0; off < esc.len;) {
        size_t n = SD_MIN(sd_utf8_len_lenient((uint8_t)esc.data[off]), esc.len - off);
        st.sym[n_sym] = (spm_symbol){n_sym - 1, off + n == esc.len ? -1 : n_sym + 1, esc.data + off, n};
        off += n;
        n_sym++;
    }
    for (int i = 1; i < n_sym; i++)
        if (!try_add_bigram(&st, i - 1, i)) goto done;

    while (st.queue.len > 0) {
        sd_tok_bigram b = sd_tok_queue_pop(&st.queue);
        spm_symbol *l = &st.sym[b.left], *r = &st.sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) st.sym[r->next].prev = b.left;
        if (!try_add_bigram(&st, l->prev, b.left) || !try_add_bigram(&st, b.left, l->next)) goto done;
    }

    for (int i = 0; i != -1; i = st.sym[i].next)
        if (!emit_symbol(v, &st.sym[i], out)) goto done;
    rc = SD_STATUS_OK;
done:
    free(esc.data);
    free(st.sym);
    free(st.queue.heap);
    return rc;
}
