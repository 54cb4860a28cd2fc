/* Raw-GGUF helpers for the tests and the GGUF fuzz target: a builder of hand-made GGUF bytes, a walker that
 * finds the byte offsets of a trusted file's fields (for patching), and gguf_walk, which reads every byte an
 * open handle exposes. Header-only (static inline). */
#ifndef SD_TEST_GGUF_UTIL_H
#define SD_TEST_GGUF_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/sd_common.h"
#include "common/sd_weight_type.h"
#include "gguf/gguf.h"

/* ---- reading an open handle ---- */

/* Reads every byte an open handle exposes (keys, strings, array elements, tensor names and data), so
 * that ASan sees any pointer outside the buffer, and counts broken invariants (a tensor with n_dims
 * outside 1..4 or an unknown type) in *broken. Returns a checksum (so the reads cannot be optimised
 * away). */
static inline uint64_t gguf_walk(const sd_gguf *g, int *broken) {
    uint64_t sum = 0;
    for (uint64_t i = 0; i < sd_gguf_n_kv(g); i++) {
        const sd_gguf_kv *kv = sd_gguf_kv_at(g, i);
        for (uint64_t j = 0; j < kv->key.len; j++)
            sum += (uint8_t)kv->key.ptr[j];
        if (kv->type == SD_GGUF_STRING) {
            for (uint64_t j = 0; j < kv->value.str.len; j++)
                sum += (uint8_t)kv->value.str.ptr[j];
        } else if (kv->type == SD_GGUF_ARRAY && kv->arr_type == SD_GGUF_STRING) {
            for (uint64_t k = 0; k < kv->arr_len; k++) {
                for (uint64_t j = 0; j < kv->arr_strs[k].len; j++)
                    sum += (uint8_t)kv->arr_strs[k].ptr[j];
            }
        } else if (kv->type == SD_GGUF_ARRAY) {
            for (uint64_t k = 0; k < kv->arr_len; k++)
                sum += (uint64_t)sd_gguf_arr_i32(kv, k) + (uint64_t)(sd_gguf_arr_f32(kv, k) != 0.0f);
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)SD_MIN(kv->key.len, 100), kv->key.ptr);
        sum += sd_gguf_find_kv(g, key) != NULL;
    }
    for (uint64_t i = 0; i < sd_gguf_n_tensors(g); i++) {
        const sd_gguf_tensor *t = sd_gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        for (uint64_t j = 0; j < t->n_bytes; j++)
            sum += p[j];
        for (uint64_t j = 0; j < t->name.len; j++)
            sum += (uint8_t)t->name.ptr[j];
        if (t->n_dims < 1 || t->n_dims > 4 || !sd_type_traits_of(t->type)) ++*broken;
    }
    return sum;
}

/* ---- hand-made files: a growing byte buffer and the GGUF fields, little-endian ---- */

/* A byte buffer for hand-made files (aborts when out of memory). */
typedef struct gguf_bytes {
    uint8_t *p;
    size_t len, cap;
} gguf_bytes;

static inline void b_put(gguf_bytes *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void b_u8(gguf_bytes *b, uint8_t v) {
    b_put(b, &v, 1);
}

static inline void b_u32(gguf_bytes *b, uint32_t v) {
    b_put(b, &v, 4);
}

static inline void b_u64(gguf_bytes *b, uint64_t v) {
    b_put(b, &v, 8);
}

static inline void b_str(gguf_bytes *b, const char *s) {
    b_u64(b, strlen(s));
    b_put(b, s, strlen(s));
}

static inline void b_header(gguf_bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b->len = 0;
    b_put(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}

static inline void b_kv_u32(gguf_bytes *b, const char *key, uint32_t v) {
    b_str(b, key);
    b_u32(b, SD_GGUF_UINT32);
    b_u32(b, v);
}

/* A tensor info with n_dims dims from ne. */
static inline void b_tensor(gguf_bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                            uint32_t type, uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    uint32_t written = n_dims <= 5 ? n_dims : 0; /* absurd counts are rejected before any dim is read */
    for (uint32_t d = 0; d < written; d++)
        b_u64(b, ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}

/* Pads to `alignment` and appends data_bytes of data. */
static inline void b_data(gguf_bytes *b, size_t alignment, size_t data_bytes) {
    while (b->len % alignment)
        b_u8(b, 0);
    for (size_t i = 0; i < data_bytes; i++)
        b_u8(b, (uint8_t)i);
}

/* ---- a walker over a trusted file's bytes: offsets of the fields byte patches hit ---- */

enum { MAX_ITEMS = 512 };

typedef struct gguf_layout {
    size_t kv_end, tinfo_end, data_start;
    int n_kv, n_tensors;
    size_t kv_key[MAX_ITEMS];   /* offset of each key's u64 length */
    size_t kv_type[MAX_ITEMS];  /* offset of each kv's u32 value type */
    size_t kv_value[MAX_ITEMS]; /* offset of each value */
    size_t t_name[MAX_ITEMS];   /* offset of each tensor name's u64 length */
    size_t
        t_ndims[MAX_ITEMS]; /* offset of each tensor's u32 n_dims (ne[] follow, then u32 type, u64 offset) */
    uint32_t t_n_dims[MAX_ITEMS];
} gguf_layout;

static inline uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void wr64(uint8_t *p, uint64_t v) {
    memcpy(p, &v, 8);
}

static inline void wr32(uint8_t *p, uint32_t v) {
    memcpy(p, &v, 4);
}

/* Walks a trusted file (the bundled model); false if it does not look like one. */
static inline bool gguf_layout_read(const uint8_t *d, size_t len, gguf_layout *L) {
    memset(L, 0, sizeof *L);
    if (len < 24 || memcmp(d, "GGUF", 4) != 0) return false;
    L->n_tensors = (int)rd64(d + 8);
    L->n_kv = (int)rd64(d + 16);
    if (L->n_kv > MAX_ITEMS || L->n_tensors > MAX_ITEMS) return false;
    size_t o = 24;
    for (int i = 0; i < L->n_kv; i++) {
        L->kv_key[i] = o;
        o += 8 + rd64(d + o);
        L->kv_type[i] = o;
        uint32_t t = rd32(d + o);
        o += 4;
        L->kv_value[i] = o;
        if (t == SD_GGUF_STRING) {
            o += 8 + rd64(d + o);
        } else if (t == SD_GGUF_ARRAY) {
            uint32_t et = rd32(d + o);
            uint64_t n = rd64(d + o + 4);
            o += 12;
            for (uint64_t k = 0; k < n; k++)
                o += et == SD_GGUF_STRING ? 8 + rd64(d + o) : sd_gguf_type_size(et);
        } else {
            o += sd_gguf_type_size(t);
        }
    }
    L->kv_end = o;
    for (int i = 0; i < L->n_tensors; i++) {
        L->t_name[i] = o;
        o += 8 + rd64(d + o);
        L->t_ndims[i] = o;
        L->t_n_dims[i] = rd32(d + o);
        o += 4 + 8 * (size_t)L->t_n_dims[i] + 4 + 8;
    }
    L->tinfo_end = o;
    L->data_start = (o + 31) / 32 * 32; /* the bundled files use the default alignment */
    return o <= len;
}

/* Offsets of tensor i's fields. */
static inline size_t t_ne(const gguf_layout *L, int i, int d) {
    return L->t_ndims[i] + 4 + 8 * (size_t)d;
}
static inline size_t t_type(const gguf_layout *L, int i) {
    return L->t_ndims[i] + 4 + 8 * (size_t)L->t_n_dims[i];
}
static inline size_t t_offset(const gguf_layout *L, int i) {
    return t_type(L, i) + 4;
}

/* Index of the tensor / key with this name, or -1. */
static inline int find_item(const uint8_t *d, const size_t *offs, int n, const char *name) {
    for (int i = 0; i < n; i++) {
        uint64_t len = rd64(d + offs[i]);
        if (len == strlen(name) && memcmp(d + offs[i] + 8, name, len) == 0) return i;
    }
    return -1;
}

#endif
