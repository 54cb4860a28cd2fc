/* GGUF v3 (or v2) writer: collects key/values and tensors, then writes the file in one pass (header,
 * metadata, tensor infos, padding, tensor data at offsets that honour general.alignment).
 * Used by `specdec synth` to write models and by tests to build files; it refuses to write an invalid
 * file (duplicate names, bad shapes, a bad alignment), so hostile files are made by patching its output.
 * Errors are returned (with a one-line message), never printed. */
#ifndef SD_GGUF_WRITER_H
#define SD_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct sd_gguf_writer sd_gguf_writer;

/* Fills rows [row_begin, row_begin + n_rows) of a tensor into dst, which holds n_rows rows of
 * sd_type_row_bytes(type, ne[0]) bytes each (rows are ne[0] elements; a tensor has ne[1]*ne[2]*ne[3]
 * rows). Called at write time, in row order, in chunks of about 1 MiB. Returns 0, or a negative status
 * (the write then fails with that status). */
typedef int (*sd_gguf_fill_fn)(void *ctx, int64_t row_begin, int64_t n_rows, void *dst);

/* A new, empty writer (version 3, alignment 32). Returns NULL only when out of memory. */
sd_gguf_writer *sd_gguf_writer_create(void);
void sd_gguf_writer_free(sd_gguf_writer *w);

/* 2 or 3; the two differ only in the version field. */
int sd_gguf_writer_set_version(sd_gguf_writer *w, uint32_t version, char *err, size_t err_len);

/* Key/values, written in the order added. Keys are NUL-terminated and copied; a duplicate key is an
 * error. Adding "general.alignment" with sd_gguf_writer_add_u32 (a power of two) sets the alignment of
 * the data section and of every tensor offset. */
int sd_gguf_writer_add_u8(sd_gguf_writer *w, const char *key, uint8_t v, char *err, size_t err_len);
int sd_gguf_writer_add_i8(sd_gguf_writer *w, const char *key, int8_t v, char *err, size_t err_len);
int sd_gguf_writer_add_u16(sd_gguf_writer *w, const char *key, uint16_t v, char *err, size_t err_len);
int sd_gguf_writer_add_i16(sd_gguf_writer *w, const char *key, int16_t v, char *err, size_t err_len);
int sd_gguf_writer_add_u32(sd_gguf_writer *w, const char *key, uint32_t v, char *err, size_t err_len);
int sd_gguf_writer_add_i32(sd_gguf_writer *w, const char *key, int32_t v, char *err, size_t err_len);
int sd_gguf_writer_add_u64(sd_gguf_writer *w, const char *key, uint64_t v, char *err, size_t err_len);
int sd_gguf_writer_add_i64(sd_gguf_writer *w, const char *key, int64_t v, char *err, size_t err_len);
int sd_gguf_writer_add_f32(sd_gguf_writer *w, const char *key, float v, char *err, size_t err_len);
int sd_gguf_writer_add_f64(sd_gguf_writer *w, const char *key, double v, char *err, size_t err_len);
int sd_gguf_writer_add_bool(sd_gguf_writer *w, const char *key, bool v, char *err, size_t err_len);
/* A NUL-terminated string, or (strn) len arbitrary bytes; copied. */
int sd_gguf_writer_add_str(sd_gguf_writer *w, const char *key, const char *v, char *err, size_t err_len);
int sd_gguf_writer_add_strn(sd_gguf_writer *w, const char *key, const char *v, uint64_t len, char *err,
                            size_t err_len);
/* An array of n numeric or bool elements of type elem_type, given as a C array of that type (uint8_t,
 * int8_t, ..., float, bool, uint64_t, int64_t, double); copied. elem_type must not be STRING or ARRAY. */
int sd_gguf_writer_add_arr(sd_gguf_writer *w, const char *key, sd_gguf_type elem_type, const void *data,
                           uint64_t n, char *err, size_t err_len);
/* An array of n NUL-terminated strings, or (strn) of n counted strings; copied. */
int sd_gguf_writer_add_str_arr(sd_gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                               char *err, size_t err_len);
int sd_gguf_writer_add_strn_arr(sd_gguf_writer *w, const char *key, const sd_gguf_str *strs, uint64_t n,
                                char *err, size_t err_len);

/* A key/value read from a file (sd_gguf_kv_at), copied with its type and value under `key` (the read
 * key is not NUL-terminated). */
int sd_gguf_writer_add_kv(sd_gguf_writer *w, const char *key, const sd_gguf_kv *kv, char *err,
                          size_t err_len);

/* Tensors, written in the order added. ne[0..n_dims) as in sd_gguf_tensor (ne[0] fastest-varying, a
 * multiple of the type's block size); names at most 63 bytes (ggml's limit). Each tensor's data goes at
 * the next aligned offset after the previous one, as llama.cpp expects. The data, sd_type_row_bytes(type,
 * ne[0]) * ne[1]*ne[2]*ne[3] bytes, is NOT copied: `data` (or the fill callback's ctx) must stay valid until
 * the write. */
int sd_gguf_writer_add_tensor(sd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data, char *err, size_t err_len);
int sd_gguf_writer_add_tensor_fill(sd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, sd_gguf_fill_fn fill, void *ctx, char *err,
                                   size_t err_len);

/* Total bytes the file will have. */
uint64_t sd_gguf_writer_size(const sd_gguf_writer *w);

/* Writes the file (replacing path atomically: written beside it, then renamed). */
int sd_gguf_writer_write_file(sd_gguf_writer *w, const char *path, char *err, size_t err_len);
/* Writes into a new malloc'd buffer of *size bytes, which the caller frees. */
int sd_gguf_writer_write_memory(sd_gguf_writer *w, void **data, size_t *size, char *err, size_t err_len);

#endif
