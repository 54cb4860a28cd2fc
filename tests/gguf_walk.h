/* Shared by the GGUF tests and the GGUF fuzz target: reads every byte an open handle exposes (keys,
 * strings, array elements, tensor names and data), so that ASan sees any pointer outside the buffer,
 * and counts broken invariants (a tensor with n_dims outside 1..4 or an unknown type). */
#ifndef SD_TEST_GGUF_WALK_H
#define SD_TEST_GGUF_WALK_H

#include <stdint.h>
#include <stdio.h>

#include "common/sd_common.h"
#include "common/sd_weight_type.h"
#include "gguf/gguf.h"

/* Returns a checksum (so the reads cannot be optimised away); *broken counts invariant violations. */
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

#endif
