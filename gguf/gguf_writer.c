/* GGUF writer. Key/values are serialized as they are added (so the metadata is one byte buffer);
 * tensors are kept as descriptors and their offsets assigned at write time, when the alignment is
 * final. Output goes through a small sink that is either a FILE or a memory buffer. */
#include "gguf/gguf_writer.h"

#include "common/sd_common.h"
#include "common/sd_weight_type.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer copies numeric arrays and tensor data as they are: little-endian hosts only"
#endif

#define GGUF_MAGIC "GGUF"
#define FILL_CHUNK_BYTES (1u << 20)
/* ggml keeps tensor names in char[64]: longer names make files that llama.cpp refuses. */
#define GGML_MAX_NAME 64

typedef struct wtensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t row_bytes;
    int64_t n_rows; /* ne[1] * ne[2] * ne[3] */
    uint64_t n_bytes;
    const void *data; /* or: */
    sd_gguf_fill_fn fill;
    void *ctx;
} wtensor;

struct sd_gguf_writer {
    uint32_t version;
    uint32_t alignment;
    uint8_t *meta; /* serialized key/values */
    size_t meta_len, meta_cap;
    char **keys; /* [n_kv], for duplicate checks */
    uint64_t n_kv;
    size_t keys_cap;
    wtensor *tensors; /* [n_tensors] */
    uint64_t n_tensors;
    size_t tensors_cap;
};

sd_gguf_writer *sd_gguf_writer_create(void) {
    sd_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = 3;
    w->alignment = 32;
    return w;
}

void sd_gguf_writer_free(sd_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->keys);
    free(w->tensors);
    free(w->meta);
    free(w);
}

int sd_gguf_writer_set_version(sd_gguf_writer *w, uint32_t version, char *err, size_t err_len) {
    if (version != 2 && version != 3) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "GGUF version %" PRIu32 " cannot be written", version);
    }
    w->version = version;
    return SD_STATUS_OK;
}

/* ---- growing buffers ---- */

static bool grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem) return false;
        n *= 2;
    }
    void *p = realloc(*buf, n * elem);
    if (!p) return false;
    *buf = p;
    *cap = n;
    return true;
}

static bool meta_put(sd_gguf_writer *w, const void *p, size_t n) {
    if (n > SIZE_MAX - w->meta_len || !grow((void **)&w->meta, &w->meta_cap, w->meta_len + n, 1))
        return false;
    if (n) memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
    return true;
}

static bool meta_u32(sd_gguf_writer *w, uint32_t v) {
    return meta_put(w, &v, 4);
}

static bool meta_u64(sd_gguf_writer *w, uint64_t v) {
    return meta_put(w, &v, 8);
}

static bool meta_str(sd_gguf_writer *w, const char *s, uint64_t len) {
    return len <= SIZE_MAX && meta_u64(w, len) && meta_put(w, s, (size_t)len);
}

/* ---- key/values ---- */

/* Checks the key is new and records it; then the caller appends the value. On failure after this,
 * the caller must undo with kv_abort. */
static int kv_begin(sd_gguf_writer *w, const char *key, sd_gguf_type type, size_t *mark, char *err,
                    size_t err_len) {
    if (!w || !key) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL key");
    if (strcmp(key, "general.alignment") == 0 && type != SD_GGUF_UINT32) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: general.alignment must be a u32");
    }
    for (uint64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->keys[i], key) == 0) {
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: duplicate key '%s'", key);
        }
    }
    char *copy = strdup(key);
    if (!copy || !grow((void **)&w->keys, &w->keys_cap, w->n_kv + 1, sizeof *w->keys)) {
        free(copy);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory adding key '%s'", key);
    }
    *mark = w->meta_len;
    if (!meta_str(w, key, strlen(key)) || !meta_u32(w, (uint32_t)type)) {
        free(copy);
        w->meta_len = *mark;
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory adding key '%s'", key);
    }
    w->keys[w->n_kv++] = copy;
    return SD_STATUS_OK;
}

static int kv_abort(sd_gguf_writer *w, size_t mark, int status, const char *key, char *err, size_t err_len) {
    w->meta_len = mark;
    free(w->keys[--w->n_kv]);
    if (status == SD_STATUS_NO_MEMORY) {
        return sd_error(err, err_len, status, "gguf writer: out of memory adding key '%s'", key);
    }
    return status; /* message already written */
}

static int add_scalar(sd_gguf_writer *w, const char *key, sd_gguf_type type, const void *v, char *err,
                      size_t err_len) {
    size_t mark;
    int rc = kv_begin(w, key, type, &mark, err, err_len);
    if (rc < 0) return rc;
    if (!meta_put(w, v, (size_t)sd_gguf_type_size(type)))
        return kv_abort(w, mark, SD_STATUS_NO_MEMORY, key, err, err_len);
    return SD_STATUS_OK;
}

int sd_gguf_writer_add_u8(sd_gguf_writer *w, const char *key, uint8_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_UINT8, &v, err, err_len);
}

int sd_gguf_writer_add_i8(sd_gguf_writer *w, const char *key, int8_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_INT8, &v, err, err_len);
}

int sd_gguf_writer_add_u16(sd_gguf_writer *w, const char *key, uint16_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_UINT16, &v, err, err_len);
}

int sd_gguf_writer_add_i16(sd_gguf_writer *w, const char *key, int16_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_INT16, &v, err, err_len);
}

int sd_gguf_writer_add_u32(sd_gguf_writer *w, const char *key, uint32_t v, char *err, size_t err_len) {
    bool is_alignment = key && strcmp(key, "general.alignment") == 0;
    if (is_alignment && (v == 0 || (v & (v - 1)) != 0)) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: general.alignment %" PRIu32 " is not a power of two", v);
    }
    int rc = add_scalar(w, key, SD_GGUF_UINT32, &v, err, err_len);
    if (rc == 0 && is_alignment) w->alignment = v;
    return rc;
}

int sd_gguf_writer_add_i32(sd_gguf_writer *w, const char *key, int32_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_INT32, &v, err, err_len);
}

int sd_gguf_writer_add_u64(sd_gguf_writer *w, const char *key, uint64_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_UINT64, &v, err, err_len);
}

int sd_gguf_writer_add_i64(sd_gguf_writer *w, const char *key, int64_t v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_INT64, &v, err, err_len);
}

int sd_gguf_writer_add_f32(sd_gguf_writer *w, const char *key, float v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_FLOAT32, &v, err, err_len);
}

int sd_gguf_writer_add_f64(sd_gguf_writer *w, const char *key, double v, char *err, size_t err_len) {
    return add_scalar(w, key, SD_GGUF_FLOAT64, &v, err, err_len);
}

int sd_gguf_writer_add_bool(sd_gguf_writer *w, const char *key, bool v, char *err, size_t err_len) {
    uint8_t b = v ? 1 : 0;
    return add_scalar(w, key, SD_GGUF_BOOL, &b, err, err_len);
}

int sd_gguf_writer_add_strn(sd_gguf_writer *w, const char *key, const char *v, uint64_t len, char *err,
                            size_t err_len) {
    if (!v && len > 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL string");
    size_t mark;
    int rc = kv_begin(w, key, SD_GGUF_STRING, &mark, err, err_len);
    if (rc < 0) return rc;
    if (!meta_str(w, v, len)) return kv_abort(w, mark, SD_STATUS_NO_MEMORY, key, err, err_len);
    return SD_STATUS_OK;
}

int sd_gguf_writer_add_str(sd_gguf_writer *w, const char *key, const char *v, char *err, size_t err_len) {
    if (!v) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL string");
    return sd_gguf_writer_add_strn(w, key, v, strlen(v), err, err_len);
}

int sd_gguf_writer_add_arr(sd_gguf_writer *w, const char *key, sd_gguf_type elem_type, const void *data,
                           uint64_t n, char *err, size_t err_len) {
    uint64_t es = sd_gguf_type_size(elem_type);
    if (es == 0) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: key '%s': arrays of %s need another function", key ? key : "(null)",
                        sd_gguf_type_name(elem_type));
    }
    if ((!data && n > 0) || n > SIZE_MAX / es) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: key '%s': bad array",
                        key ? key : "(null)");
    }
    size_t mark;
    int rc = kv_begin(w, key, SD_GGUF_ARRAY, &mark, err, err_len);
    if (rc < 0) return rc;
    bool ok = meta_u32(w, (uint32_t)elem_type) && meta_u64(w, n);
    if (ok && elem_type == SD_GGUF_BOOL) { /* a C bool may be any width and any nonzero value */
        const bool *b = data;
        for (uint64_t i = 0; ok && i < n; i++) {
            uint8_t v = b[i] ? 1 : 0;
            ok = meta_put(w, &v, 1);
        }
    } else if (ok) {
        ok = meta_put(w, data, (size_t)(n * es));
    }
    if (!ok) return kv_abort(w, mark, SD_STATUS_NO_MEMORY, key, err, err_len);
    return SD_STATUS_OK;
}

int sd_gguf_writer_add_strn_arr(sd_gguf_writer *w, const char *key, const sd_gguf_str *strs, uint64_t n,
                                char *err, size_t err_len) {
    if (!strs && n > 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL array");
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i].ptr && strs[i].len > 0) {
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL string in array");
        }
    }
    size_t mark;
    int rc = kv_begin(w, key, SD_GGUF_ARRAY, &mark, err, err_len);
    if (rc < 0) return rc;
    bool ok = meta_u32(w, SD_GGUF_STRING) && meta_u64(w, n);
    for (uint64_t i = 0; ok && i < n; i++)
        ok = meta_str(w, strs[i].ptr, strs[i].len);
    if (!ok) return kv_abort(w, mark, SD_STATUS_NO_MEMORY, key, err, err_len);
    return SD_STATUS_OK;
}

int sd_gguf_writer_add_str_arr(sd_gguf_writer *w, const char *key, const char *const *strs, uint64_t n,
                               char *err, size_t err_len) {
    if (!strs && n > 0) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL array");
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i])
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL string in array");
    }
    size_t mark;
    int rc = kv_begin(w, key, SD_GGUF_ARRAY, &mark, err, err_len);
    if (rc < 0) return rc;
    bool ok = meta_u32(w, SD_GGUF_STRING) && meta_u64(w, n);
    for (uint64_t i = 0; ok && i < n; i++)
        ok = meta_str(w, strs[i], strlen(strs[i]));
    if (!ok) return kv_abort(w, mark, SD_STATUS_NO_MEMORY, key, err, err_len);
    return SD_STATUS_OK;
}

/* ---- tensors ---- */

/* Validates the shape the way the reader will, and fills the size fields of t. */
static int check_shape(wtensor *t, const char *name, const int64_t *ne, char *err, size_t err_len) {
    const sd_type_traits *tt = sd_type_traits_of(t->type);
    if (!tt) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: tensor '%s': unknown type %" PRIu32, name, t->type);
    }
    if (t->n_dims < 1 || t->n_dims > 4 || !ne) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: tensor '%s': %" PRIu32 " dimensions (must be 1..4)", name, t->n_dims);
    }
    int64_t n_rows = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->ne[d] = d < t->n_dims ? ne[d] : 1;
        if (t->ne[d] < 0) {
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                            "gguf writer: tensor '%s': negative dimension", name);
        }
        if (d > 0) {
            if (t->ne[d] != 0 && n_rows > INT64_MAX / t->ne[d]) goto too_large;
            n_rows *= t->ne[d];
        }
    }
    if (t->ne[0] % tt->block_size != 0) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: tensor '%s': ne[0] = %" PRId64
                        " is not a multiple of the %s block size %" PRId64,
                        name, t->ne[0], tt->name, tt->block_size);
    }
    uint64_t blocks = (uint64_t)(t->ne[0] / tt->block_size);
    if (blocks > (uint64_t)INT64_MAX / tt->type_size) goto too_large;
    t->row_bytes = blocks * tt->type_size;
    if (n_rows != 0 && t->row_bytes > (uint64_t)INT64_MAX / (uint64_t)n_rows) goto too_large;
    t->n_rows = n_rows;
    t->n_bytes = t->row_bytes * (uint64_t)n_rows;
    return SD_STATUS_OK;
too_large:
    return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: tensor '%s' is too large", name);
}

static int add_tensor(sd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims, const int64_t *ne,
                      const void *data, sd_gguf_fill_fn fill, void *ctx, char *err, size_t err_len) {
    if (!w || !name)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL tensor name");
    if (strlen(name) >= GGML_MAX_NAME) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                        "gguf writer: tensor name '%.*s...' is longer than %d bytes", 16, name,
                        GGML_MAX_NAME - 1);
    }
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: duplicate tensor '%s'",
                            name);
        }
    }
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .fill = fill, .ctx = ctx};
    int rc = check_shape(&t, name, ne, err, err_len);
    if (rc < 0) return rc;
    if (t.n_bytes > 0 && !data && !fill) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: tensor '%s' has no data",
                        name);
    }
    t.name = strdup(name);
    if (!t.name || !grow((void **)&w->tensors, &w->tensors_cap, w->n_tensors + 1, sizeof *w->tensors)) {
        free(t.name);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory adding tensor '%s'",
                        name);
    }
    w->tensors[w->n_tensors++] = t;
    return SD_STATUS_OK;
}

int sd_gguf_writer_add_tensor(sd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                              const int64_t *ne, const void *data, char *err, size_t err_len) {
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, err, err_len);
}

int sd_gguf_writer_add_tensor_fill(sd_gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                                   const int64_t *ne, sd_gguf_fill_fn fill, void *ctx, char *err,
                                   size_t err_len) {
    if (!fill) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL fill callback");
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, ctx, err, err_len);
}

/* ---- layout ---- */

static uint64_t align_up(uint64_t x, uint64_t a) {
    return (x + a - 1) / a * a;
}

/* Bytes of header + metadata + tensor infos (before the padding). */
static uint64_t info_bytes(const sd_gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->meta_len;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        n += 8 + strlen(w->tensors[i].name) + 4 + 8ull * w->tensors[i].n_dims + 4 + 8;
    }
    return n;
}

/* Offset of each tensor in the data section, in order, each aligned; returns the section's size. */
static uint64_t data_bytes(const sd_gguf_writer *w) {
    uint64_t off = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++)
        off = align_up(off, w->alignment) + w->tensors[i].n_bytes;
    return off;
}

uint64_t sd_gguf_writer_size(const sd_gguf_writer *w) {
    if (w->n_tensors == 0) return info_bytes(w);
    return align_up(info_bytes(w), w->alignment) + data_bytes(w);
}

/* ---- output ---- */

typedef struct sink {
    FILE *f;      /* or: */
    uint8_t *buf; /* memory of cap bytes */
    size_t pos, cap;
    uint64_t written;
} sink;

static bool put(sink *s, const void *p, size_t n) {
    s->written += n;
    if (s->f) return n == 0 || fwrite(p, 1, n, s->f) == n;
    if (n > s->cap - s->pos) return false;
    if (n) memcpy(s->buf + s->pos, p, n);
    s->pos += n;
    return true;
}

static bool put_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!put(s, zeros, k)) return false;
        n -= k;
    }
    return true;
}

static bool put_u32(sink *s, uint32_t v) {
    return put(s, &v, 4);
}

static bool put_u64(sink *s, uint64_t v) {
    return put(s, &v, 8);
}

static int write_tensor_data(const wtensor *t, sink *s, char *err, size_t err_len) {
    if (t->n_bytes == 0) return SD_STATUS_OK;
    if (t->data) {
        if (!put(s, t->data, (size_t)t->n_bytes)) goto io_error;
        return SD_STATUS_OK;
    }
    int64_t chunk_rows = (int64_t)(FILL_CHUNK_BYTES / t->row_bytes);
    if (chunk_rows < 1) chunk_rows = 1;
    if (chunk_rows > t->n_rows) chunk_rows = t->n_rows;
    uint8_t *buf = malloc((size_t)chunk_rows * t->row_bytes);
    if (!buf) {
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory filling tensor '%s'",
                        t->name);
    }
    int rc = SD_STATUS_OK;
    for (int64_t r = 0; r < t->n_rows && rc == SD_STATUS_OK; r += chunk_rows) {
        int64_t n = SD_MIN(chunk_rows, t->n_rows - r);
        int frc = t->fill(t->ctx, r, n, buf);
        if (frc < 0) {
            rc = sd_error(err, err_len, frc, "gguf writer: filling tensor '%s' failed (status %d)", t->name,
                          frc);
        } else if (!put(s, buf, (size_t)n * t->row_bytes)) {
            rc = sd_error(err, err_len, SD_STATUS_IO, "gguf writer: write error in tensor '%s'", t->name);
        }
    }
    free(buf);
    return rc;
io_error:
    return sd_error(err, err_len, SD_STATUS_IO, "gguf writer: write error in tensor '%s'", t->name);
}

static int write_all(const sd_gguf_writer *w, sink *s, char *err, size_t err_len) {
    bool ok = put(s, GGUF_MAGIC, 4) && put_u32(s, w->version) && put_u64(s, w->n_tensors) &&
              put_u64(s, w->n_kv) && put(s, w->meta, w->meta_len);
    uint64_t off = 0;
    for (uint64_t i = 0; ok && i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        off = align_up(off, w->alignment);
        ok = put_u64(s, strlen(t->name)) && put(s, t->name, strlen(t->name)) && put_u32(s, t->n_dims);
        for (uint32_t d = 0; ok && d < t->n_dims; d++)
            ok = put_u64(s, (uint64_t)t->ne[d]);
        ok = ok && put_u32(s, t->type) && put_u64(s, off);
        off += t->n_bytes;
    }
    if (!ok) return sd_error(err, err_len, SD_STATUS_IO, "gguf writer: write error in the header");
    if (w->n_tensors == 0) return SD_STATUS_OK;
    if (!put_zeros(s, align_up(s->written, w->alignment) - s->written)) {
        return sd_error(err, err_len, SD_STATUS_IO, "gguf writer: write error in the header");
    }
    uint64_t data_start = s->written;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const wtensor *t = &w->tensors[i];
        uint64_t pos = s->written - data_start;
        if (!put_zeros(s, align_up(pos, w->alignment) - pos)) {
            return sd_error(err, err_len, SD_STATUS_IO, "gguf writer: write error before tensor '%s'",
                            t->name);
        }
        int rc = write_tensor_data(t, s, err, err_len);
        if (rc < 0) return rc;
    }
    return SD_STATUS_OK;
}

int sd_gguf_writer_write_memory(sd_gguf_writer *w, void **data, size_t *size, char *err, size_t err_len) {
    if (!w || !data || !size)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL argument");
    *data = NULL;
    *size = 0;
    uint64_t total = sd_gguf_writer_size(w);
    if (total > SIZE_MAX)
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: file too large for memory");
    sink s = {.buf = malloc(total ? (size_t)total : 1), .cap = (size_t)total};
    if (!s.buf) {
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory for %" PRIu64 " bytes",
                        total);
    }
    int rc = write_all(w, &s, err, err_len);
    if (rc == SD_STATUS_OK && s.pos != total) {
        rc = sd_error(err, err_len, SD_STATUS_INTERNAL, "gguf writer: wrote %zu bytes, expected %" PRIu64,
                      s.pos, total);
    }
    if (rc < 0) {
        free(s.buf);
        return rc;
    }
    *data = s.buf;
    *size = s.pos;
    return SD_STATUS_OK;
}

int sd_gguf_writer_write_file(sd_gguf_writer *w, const char *path, char *err, size_t err_len) {
    if (!w || !path) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "gguf writer: NULL argument");
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "gguf writer: out of memory");
    snprintf(tmp, n, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = sd_error(err, err_len, SD_STATUS_IO, "cannot create '%s': %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    fchmod(fd, 0644); /* mkstemp makes 0600; a model file is meant to be shared */
    sink s = {.f = fdopen(fd, "wb")};
    int rc;
    if (!s.f) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
    } else {
        rc = write_all(w, &s, err, err_len);
        if (fclose(s.f) != 0 && rc == SD_STATUS_OK) {
            rc = sd_error(err, err_len, SD_STATUS_IO, "cannot write '%s': %s", tmp, strerror(errno));
        }
    }
    if (rc == SD_STATUS_OK && rename(tmp, path) != 0) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                      strerror(errno));
    }
    if (rc < 0) unlink(tmp);
    free(tmp);
    return rc;
}

int sd_gguf_writer_add_kv(sd_gguf_writer *w, const char *key, const sd_gguf_kv *kv, char *err,
                          size_t err_len) {
    switch (kv->type) {
    case SD_GGUF_UINT8:
        return sd_gguf_writer_add_u8(w, key, (uint8_t)kv->value.u64, err, err_len);
    case SD_GGUF_INT8:
        return sd_gguf_writer_add_i8(w, key, (int8_t)kv->value.i64, err, err_len);
    case SD_GGUF_UINT16:
        return sd_gguf_writer_add_u16(w, key, (uint16_t)kv->value.u64, err, err_len);
    case SD_GGUF_INT16:
        return sd_gguf_writer_add_i16(w, key, (int16_t)kv->value.i64, err, err_len);
    case SD_GGUF_UINT32:
        return sd_gguf_writer_add_u32(w, key, (uint32_t)kv->value.u64, err, err_len);
    case SD_GGUF_INT32:
        return sd_gguf_writer_add_i32(w, key, (int32_t)kv->value.i64, err, err_len);
    case SD_GGUF_UINT64:
        return sd_gguf_writer_add_u64(w, key, kv->value.u64, err, err_len);
    case SD_GGUF_INT64:
        return sd_gguf_writer_add_i64(w, key, kv->value.i64, err, err_len);
    case SD_GGUF_FLOAT32:
        return sd_gguf_writer_add_f32(w, key, (float)kv->value.f64, err, err_len);
    case SD_GGUF_FLOAT64:
        return sd_gguf_writer_add_f64(w, key, kv->value.f64, err, err_len);
    case SD_GGUF_BOOL:
        return sd_gguf_writer_add_bool(w, key, kv->value.b, err, err_len);
    case SD_GGUF_STRING:
        return sd_gguf_writer_add_strn(w, key, kv->value.str.ptr, kv->value.str.len, err, err_len);
    case SD_GGUF_ARRAY:
        if (kv->arr_type == SD_GGUF_STRING)
            return sd_gguf_writer_add_strn_arr(w, key, kv->arr_strs, kv->arr_len, err, err_len);
        return sd_gguf_writer_add_arr(w, key, kv->arr_type, kv->arr_data, kv->arr_len, err, err_len);
    }
    return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' has an unknown type", key);
}
