/* GGUF v2/v3 reader: maps a file, validates every count, length, type, dimension and offset before any
 * use, and exposes the key/value metadata and the tensor table. Knows nothing of models. */
#ifndef SD_GGUF_H
#define SD_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sd_gguf_type {
    SD_GGUF_UINT8 = 0,
    SD_GGUF_INT8 = 1,
    SD_GGUF_UINT16 = 2,
    SD_GGUF_INT16 = 3,
    SD_GGUF_UINT32 = 4,
    SD_GGUF_INT32 = 5,
    SD_GGUF_FLOAT32 = 6,
    SD_GGUF_BOOL = 7,
    SD_GGUF_STRING = 8,
    SD_GGUF_ARRAY = 9,
    SD_GGUF_UINT64 = 10,
    SD_GGUF_INT64 = 11,
    SD_GGUF_FLOAT64 = 12,
} sd_gguf_type;

/* A string inside the mapped file: not NUL-terminated, may contain any bytes. */
typedef struct sd_gguf_str {
    const char *ptr;
    uint64_t len;
} sd_gguf_str;

typedef struct sd_gguf_kv {
    sd_gguf_str key;
    sd_gguf_type type;
    union {
        uint64_t u64; /* any unsigned integer type, widened */
        int64_t i64;  /* any signed integer type, widened */
        double f64;   /* FLOAT32 or FLOAT64, widened */
        bool b;
        sd_gguf_str str;
    } value;
    /* type == SD_GGUF_ARRAY: */
    sd_gguf_type arr_type;       /* element type; never ARRAY (nested arrays are rejected) */
    uint64_t arr_len;            /* number of elements */
    const void *arr_data;        /* packed little-endian elements in the file (numeric arrays) */
    const sd_gguf_str *arr_strs; /* arr_len strings (string arrays), owned by the sd_gguf */
} sd_gguf_kv;

typedef struct sd_gguf_tensor {
    sd_gguf_str name;
    uint32_t n_dims;  /* 1..4 */
    int64_t ne[4];    /* elements per dimension, ne[0] fastest-varying; unused dims are 1 */
    uint32_t type;    /* ggml type id (see common/sd_weight_type.h); a known type */
    uint64_t offset;  /* from the start of the data section */
    uint64_t n_bytes; /* validated to lie inside the file */
    const void *data; /* points into the mapping */
} sd_gguf_tensor;

typedef struct sd_gguf sd_gguf;

/* Opens and validates a GGUF file. On failure returns SD_STATUS_IO (cannot open/map, a directory) or
 * SD_STATUS_FORMAT (corrupt, truncated, hostile) and writes a one-line message naming the problem and,
 * where one is involved, the key or tensor, e.g. "tensor 'blk.3.ffn_up.weight' extends past end of file". */
int sd_gguf_open(const char *path, sd_gguf **out, char *err, size_t err_len);

/* The same for a file already in memory (fuzzing, tests). data must outlive the handle. Tensor data
 * pointers are data + offsets, so they have the file's alignment only if data has it (malloc gives 16). */
int sd_gguf_open_memory(const void *data, size_t size, sd_gguf **out, char *err, size_t err_len);

void sd_gguf_close(sd_gguf *g);

/* The caller holds a copy of the mapped bytes [data, data + size) (a weight repacked at load) and will
 * rarely read them: drops the whole pages inside the range from this process's resident memory, so a
 * tensor is not held twice. Reading them later is still correct (the pages fault back in from the file).
 * No effect on a file opened from memory, or for a range outside the file. */
void sd_gguf_release_pages(const sd_gguf *g, const void *data, size_t size);

uint32_t sd_gguf_version(const sd_gguf *g);
uint64_t sd_gguf_file_size(const sd_gguf *g);
uint32_t sd_gguf_alignment(const sd_gguf *g);   /* general.alignment, or the default 32 */
uint64_t sd_gguf_data_offset(const sd_gguf *g); /* start of the data section, from the start of the file */
uint64_t sd_gguf_n_kv(const sd_gguf *g);
const sd_gguf_kv *sd_gguf_kv_at(const sd_gguf *g, uint64_t i);
uint64_t sd_gguf_n_tensors(const sd_gguf *g);
const sd_gguf_tensor *sd_gguf_tensor_at(const sd_gguf *g, uint64_t i);

/* Lookups by NUL-terminated name; NULL when absent. */
const sd_gguf_kv *sd_gguf_find_kv(const sd_gguf *g, const char *key);
const sd_gguf_tensor *sd_gguf_find_tensor(const sd_gguf *g, const char *name);

/* Typed getters. Return 1 when found and converted, 0 when the key is absent, and a negative
 * SD_STATUS_FORMAT (with a message naming the key) when present with the wrong type or out of range.
 * Integer getters accept any integer type whose value fits. */
int sd_gguf_get_u32(const sd_gguf *g, const char *key, uint32_t *out, char *err, size_t err_len);
int sd_gguf_get_i32(const sd_gguf *g, const char *key, int32_t *out, char *err, size_t err_len);
int sd_gguf_get_f32(const sd_gguf *g, const char *key, float *out, char *err, size_t err_len);
int sd_gguf_get_bool(const sd_gguf *g, const char *key, bool *out, char *err, size_t err_len);
int sd_gguf_get_str(const sd_gguf *g, const char *key, sd_gguf_str *out, char *err, size_t err_len);
/* An array whose elements have type elem_type. */
int sd_gguf_get_arr(const sd_gguf *g, const char *key, sd_gguf_type elem_type, const sd_gguf_kv **out,
                    char *err, size_t err_len);

/* Element i of a numeric array as the named C type (caller checked arr_type and i < arr_len). */
float sd_gguf_arr_f32(const sd_gguf_kv *kv, uint64_t i);
int32_t sd_gguf_arr_i32(const sd_gguf_kv *kv, uint64_t i);

/* True if s equals the NUL-terminated string c. */
bool sd_gguf_str_eq(sd_gguf_str s, const char *c);

const char *sd_gguf_type_name(sd_gguf_type t);

/* Bytes of one value of a fixed-size type (1, 2, 4 or 8); 0 for STRING, ARRAY and unknown types. */
uint64_t sd_gguf_type_size(uint32_t t);

#endif
