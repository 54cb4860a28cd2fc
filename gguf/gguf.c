/* GGUF v2/v3 reader. The file is parsed once, front to back, through a bounds-checked cursor; every
 * count, length, type, dimension and offset is validated before it is used, and all arithmetic on
 * values from the file is overflow-checked. Layout (all little-endian):
 *   header:  u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *   n_kv x   { string key, u32 value type, value }   (string = u64 length + bytes, no NUL)
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
 *   padding to general.alignment (default 32), then the data section; tensor offsets are relative to
 *   its start and are multiples of the alignment. */
#include "gguf/gguf.h"

#include "common/sd_common.h"
#include "common/sd_strtab.h"
#include "common/sd_weight_type.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Numeric arrays and tensor data are handed out as raw little-endian bytes from the file. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "specdec's GGUF reader supports little-endian hosts only"
#endif

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_HEADER_BYTES 24u
/* Smallest possible encodings, used to bound counts by the bytes left before allocating anything. */
#define GGUF_MIN_KV_BYTES 13u     /* u64 key length + u32 type + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 32u /* u64 name length + u32 n_dims + one u64 dim + u32 type + u64 offset */
#define GGUF_MIN_STRING_BYTES 8u  /* u64 length */
/* Room for one escaped, possibly shortened name in a message. */
#define NAME_BUF 100
#define PATH_BUF 1024

struct sd_gguf {
    const uint8_t *base; /* the file's bytes */
    uint64_t size;       /* bytes */
    bool mapped;         /* base is our mmap (else the caller's buffer) */
    uint32_t version;
    uint32_t alignment;   /* bytes, a power of two */
    uint64_t data_offset; /* start of the data section, from the start of the file */
    uint64_t n_kv;
    sd_gguf_kv *kvs; /* [n_kv] */
    uint64_t n_tensors;
    sd_gguf_tensor *tensors; /* [n_tensors] */
    /* Names -> indices; seeded per handle (from its address) so a hostile file cannot aim collisions. */
    sd_strtab kv_index;
    sd_strtab tensor_index;
};

/* ---- messages ---- */

/* Writes s into buf[0..cap) as printable ASCII: bytes outside 0x20..0x7e, the quote and the backslash
 * are escaped as \xNN; long names are cut with "...". cap >= 8. Returns buf. */
static const char *esc_into(sd_gguf_str s, char *buf, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (uint64_t i = 0; i < s.len; i++) {
        uint8_t ch = (uint8_t)s.ptr[i];
        bool plain = ch >= 0x20 && ch <= 0x7e && ch != '\'' && ch != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > cap) { /* keep room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            buf[o++] = (char)ch;
        } else {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    buf[o] = '\0';
    return buf;
}

static const char *esc_name(sd_gguf_str s, char buf[NAME_BUF]) {
    return esc_into(s, buf, NAME_BUF);
}

static sd_gguf_str cstr(const char *c) {
    sd_gguf_str s = {c, strlen(c)};
    return s;
}

const char *sd_gguf_type_name(sd_gguf_type t) {
    switch (t) {
    case SD_GGUF_UINT8:
        return "u8";
    case SD_GGUF_INT8:
        return "i8";
    case SD_GGUF_UINT16:
        return "u16";
    case SD_GGUF_INT16:
        return "i16";
    case SD_GGUF_UINT32:
        return "u32";
    case SD_GGUF_INT32:
        return "i32";
    case SD_GGUF_FLOAT32:
        return "f32";
    case SD_GGUF_BOOL:
        return "bool";
    case SD_GGUF_STRING:
        return "string";
    case SD_GGUF_ARRAY:
        return "array";
    case SD_GGUF_UINT64:
        return "u64";
    case SD_GGUF_INT64:
        return "i64";
    case SD_GGUF_FLOAT64:
        return "f64";
    }
    return "unknown";
}

/* Bytes of one element of a scalar type; 0 for STRING, ARRAY and unknown types. */
uint64_t sd_gguf_type_size(uint32_t t) {
    switch (t) {
    case SD_GGUF_UINT8:
    case SD_GGUF_INT8:
    case SD_GGUF_BOOL:
        return 1;
    case SD_GGUF_UINT16:
    case SD_GGUF_INT16:
        return 2;
    case SD_GGUF_UINT32:
    case SD_GGUF_INT32:
    case SD_GGUF_FLOAT32:
        return 4;
    case SD_GGUF_UINT64:
    case SD_GGUF_INT64:
    case SD_GGUF_FLOAT64:
        return 8;
    default:
        return 0;
    }
}

static bool is_unsigned_type(sd_gguf_type t) {
    return t == SD_GGUF_UINT8 || t == SD_GGUF_UINT16 || t == SD_GGUF_UINT32 || t == SD_GGUF_UINT64;
}

static bool is_signed_type(sd_gguf_type t) {
    return t == SD_GGUF_INT8 || t == SD_GGUF_INT16 || t == SD_GGUF_INT32 || t == SD_GGUF_INT64;
}

/* ---- little-endian decoding (independent of how the compiler lays out structs) ---- */

static uint16_t le16(const uint8_t *p) {
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- bounds-checked cursor ---- */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    /* After a failed read: what it needed and what was left, for the message. */
    uint64_t need;
    uint64_t left;
} cursor;

static bool take(cursor *c, uint64_t n, const uint8_t **out) {
    uint64_t left = c->size - c->pos;
    if (n > left) {
        c->need = n;
        c->left = left;
        return false;
    }
    *out = c->base + c->pos;
    c->pos += n;
    return true;
}

static bool rd_u32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (!take(c, 4, &p)) return false;
    *v = le32(p);
    return true;
}

static bool rd_u64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (!take(c, 8, &p)) return false;
    *v = le64(p);
    return true;
}

static bool rd_str(cursor *c, sd_gguf_str *s) {
    uint64_t len;
    const uint8_t *p;
    if (!rd_u64(c, &len) || !take(c, len, &p)) return false;
    s->ptr = (const char *)p;
    s->len = len;
    return true;
}

static uint64_t bytes_left(const cursor *c) {
    return c->size - c->pos;
}

/* ---- name indices ---- */

static bool str_equal(sd_gguf_str a, sd_gguf_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static const char *kv_name(const void *owner, uint32_t i, size_t *len) {
    const sd_gguf_str *s = &((const sd_gguf *)owner)->kvs[i].key;
    *len = s->len;
    return s->ptr;
}

static const char *tensor_name(const void *owner, uint32_t i, size_t *len) {
    const sd_gguf_str *s = &((const sd_gguf *)owner)->tensors[i].name;
    *len = s->len;
    return s->ptr;
}

/* ---- parsing ---- */

typedef struct parser {
    sd_gguf *g;
    cursor c;
    char *err;
    size_t err_len;
} parser;

static int truncated(parser *ps, const char *what) {
    return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                    "truncated in %s: needs %" PRIu64 " bytes at offset %" PRIu64 ", %" PRIu64 " left", what,
                    ps->c.need, ps->c.pos, ps->c.left);
}

static int parse_header(parser *ps, uint64_t *n_tensors, uint64_t *n_kv) {
    sd_gguf *g = ps->g;
    uint32_t magic;
    if (!rd_u32(&ps->c, &magic)) return truncated(ps, "header");
    if (magic != GGUF_MAGIC) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "bad magic (not a GGUF file)");
    }
    if (!rd_u32(&ps->c, &g->version)) return truncated(ps, "header");
    if (g->version == 1) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "GGUF version 1 is not supported (only versions 2 and 3)");
    }
    if (g->version == 0x02000000u || g->version == 0x03000000u) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "big-endian GGUF files are not supported");
    }
    if (g->version != 2 && g->version != 3) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "unsupported GGUF version %" PRIu32 " (only versions 2 and 3)", g->version);
    }
    if (!rd_u64(&ps->c, n_tensors) || !rd_u64(&ps->c, n_kv)) return truncated(ps, "header");

    /* Bound the counts by what the remaining bytes could encode, before allocating for them. */
    uint64_t left = bytes_left(&ps->c);
    if (*n_kv > left / GGUF_MIN_KV_BYTES || *n_kv > UINT32_MAX / 4) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "key/value count %" PRIu64 " is more than the file could hold", *n_kv);
    }
    if (*n_tensors > left / GGUF_MIN_TENSOR_BYTES || *n_tensors > UINT32_MAX / 4 ||
        *n_kv * GGUF_MIN_KV_BYTES + *n_tensors * GGUF_MIN_TENSOR_BYTES > left) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "tensor count %" PRIu64 " is more than the file could hold", *n_tensors);
    }
    return SD_STATUS_OK;
}

/* Reads one scalar of type t (already known to be a scalar type) into kv->value. */
static void decode_scalar(sd_gguf_type t, const uint8_t *p, sd_gguf_kv *kv) {
    switch (t) {
    case SD_GGUF_UINT8:
        kv->value.u64 = p[0];
        break;
    case SD_GGUF_INT8:
        kv->value.i64 = (int8_t)p[0];
        break;
    case SD_GGUF_UINT16:
        kv->value.u64 = le16(p);
        break;
    case SD_GGUF_INT16:
        kv->value.i64 = (int16_t)le16(p);
        break;
    case SD_GGUF_UINT32:
        kv->value.u64 = le32(p);
        break;
    case SD_GGUF_INT32:
        kv->value.i64 = (int32_t)le32(p);
        break;
    case SD_GGUF_UINT64:
        kv->value.u64 = le64(p);
        break;
    case SD_GGUF_INT64:
        kv->value.i64 = (int64_t)le64(p);
        break;
    case SD_GGUF_BOOL:
        kv->value.b = p[0] != 0;
        break;
    case SD_GGUF_FLOAT32: {
        uint32_t bits = le32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        kv->value.f64 = f;
        break;
    }
    case SD_GGUF_FLOAT64: {
        uint64_t bits = le64(p);
        memcpy(&kv->value.f64, &bits, sizeof kv->value.f64);
        break;
    }
    default:
        break;
    }
}

static int parse_array(parser *ps, uint64_t i, sd_gguf_kv *kv, const char *ctx) {
    char name[NAME_BUF];
    uint32_t et;
    if (!rd_u32(&ps->c, &et) || !rd_u64(&ps->c, &kv->arr_len)) return truncated(ps, ctx);
    if (et == SD_GGUF_ARRAY) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "key/value %" PRIu64 " ('%s'): nested arrays are not supported", i,
                        esc_name(kv->key, name));
    }
    if (et != SD_GGUF_STRING && sd_gguf_type_size(et) == 0) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "key/value %" PRIu64 " ('%s'): unknown array element type %" PRIu32, i,
                        esc_name(kv->key, name), et);
    }
    kv->arr_type = (sd_gguf_type)et;
    uint64_t left = bytes_left(&ps->c);
    if (et != SD_GGUF_STRING) {
        uint64_t es = sd_gguf_type_size(et);
        if (kv->arr_len > left / es) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                            "truncated in %s: array of %" PRIu64 " %s needs more than the %" PRIu64
                            " bytes left",
                            ctx, kv->arr_len, sd_gguf_type_name(kv->arr_type), left);
        }
        const uint8_t *p = NULL;
        take(&ps->c, kv->arr_len * es, &p); /* cannot fail: checked above */
        kv->arr_data = p;
        if (et == SD_GGUF_BOOL) {
            for (uint64_t j = 0; j < kv->arr_len; j++) {
                if (p[j] > 1) {
                    return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                                    "key/value %" PRIu64 " ('%s'): bool element %" PRIu64
                                    " has value %u (must be 0 or 1)",
                                    i, esc_name(kv->key, name), j, (unsigned)p[j]);
                }
            }
        }
        return SD_STATUS_OK;
    }
    if (kv->arr_len > left / GGUF_MIN_STRING_BYTES) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "truncated in %s: array of %" PRIu64 " strings needs more than the %" PRIu64
                        " bytes left",
                        ctx, kv->arr_len, left);
    }
    sd_gguf_str *strs = calloc(kv->arr_len ? kv->arr_len : 1, sizeof *strs);
    if (!strs) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_NO_MEMORY,
                        "out of memory for %" PRIu64 " strings in '%s'", kv->arr_len,
                        esc_name(kv->key, name));
    }
    kv->arr_strs = strs;
    for (uint64_t j = 0; j < kv->arr_len; j++) {
        if (!rd_str(&ps->c, &strs[j])) return truncated(ps, ctx);
    }
    return SD_STATUS_OK;
}

static int parse_kv(parser *ps, uint64_t i) {
    sd_gguf *g = ps->g;
    sd_gguf_kv *kv = &g->kvs[i];
    char name[NAME_BUF], ctx[NAME_BUF + 64];
    snprintf(ctx, sizeof ctx, "key/value %" PRIu64, i);
    if (!rd_str(&ps->c, &kv->key)) return truncated(ps, ctx);
    snprintf(ctx, sizeof ctx, "key/value %" PRIu64 " ('%s')", i, esc_name(kv->key, name));

    if (sd_strtab_insert(&g->kv_index, kv->key.ptr, kv->key.len, (uint32_t)i) != -1) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "duplicate key '%s' (key/value %" PRIu64 ")",
                        name, i);
    }

    uint32_t t;
    if (!rd_u32(&ps->c, &t)) return truncated(ps, ctx);
    if (t == SD_GGUF_STRING) {
        kv->type = SD_GGUF_STRING;
        if (!rd_str(&ps->c, &kv->value.str)) return truncated(ps, ctx);
    } else if (t == SD_GGUF_ARRAY) {
        kv->type = SD_GGUF_ARRAY;
        int rc = parse_array(ps, i, kv, ctx);
        if (rc < 0) return rc;
    } else if (sd_gguf_type_size(t) != 0) {
        kv->type = (sd_gguf_type)t;
        const uint8_t *p;
        if (!take(&ps->c, sd_gguf_type_size(t), &p)) return truncated(ps, ctx);
        if (t == SD_GGUF_BOOL && p[0] > 1) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "%s: bool has value %u (must be 0 or 1)",
                            ctx, (unsigned)p[0]);
        }
        decode_scalar(kv->type, p, kv);
    } else {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "%s: unknown value type %" PRIu32, ctx, t);
    }
    return SD_STATUS_OK;
}

/* general.alignment, when present, must be a u32 power of two. */
static int read_alignment(parser *ps) {
    sd_gguf *g = ps->g;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, "general.alignment");
    if (!kv) return SD_STATUS_OK;
    if (kv->type != SD_GGUF_UINT32) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "key 'general.alignment' has type %s, expected u32", sd_gguf_type_name(kv->type));
    }
    uint64_t a = kv->value.u64;
    if (a == 0 || (a & (a - 1)) != 0) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "key 'general.alignment' is %" PRIu64 ", not a power of two", a);
    }
    g->alignment = (uint32_t)a;
    return SD_STATUS_OK;
}

/* Validates the shape and type of tensor t and computes its byte size. */
static int check_tensor_shape(parser *ps, sd_gguf_tensor *t, const char *name) {
    const sd_type_traits *tt = sd_type_traits_of(t->type);
    if (!tt) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "tensor '%s' has unknown type %" PRIu32, name,
                        t->type);
    }
    int64_t n_elems = 1;
    for (uint32_t d = 0; d < 4; d++) {
        if (t->ne[d] < 0) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                            "tensor '%s' has negative dimension %" PRIu32, name, d);
        }
        if (t->ne[d] != 0 && n_elems > INT64_MAX / t->ne[d]) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                            "tensor '%s' has too many elements (the product of its dimensions overflows)",
                            name);
        }
        n_elems *= t->ne[d];
    }
    if (t->ne[0] % tt->block_size != 0) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "tensor '%s': ne[0] = %" PRId64 " is not a multiple of the %s block size %" PRId64,
                        name, t->ne[0], tt->name, tt->block_size);
    }
    /* bytes = (ne0 / block) * type_size * ne1 * ne2 * ne3, each step checked against INT64_MAX. */
    uint64_t bytes = (uint64_t)(t->ne[0] / tt->block_size);
    uint64_t factors[4] = {tt->type_size, (uint64_t)t->ne[1], (uint64_t)t->ne[2], (uint64_t)t->ne[3]};
    for (int k = 0; k < 4; k++) {
        if (factors[k] != 0 && bytes > (uint64_t)INT64_MAX / factors[k]) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                            "tensor '%s' is too large (its byte size overflows)", name);
        }
        bytes *= factors[k];
    }
    t->n_bytes = bytes;
    return SD_STATUS_OK;
}

static int parse_tensor_info(parser *ps, uint64_t i) {
    sd_gguf *g = ps->g;
    sd_gguf_tensor *t = &g->tensors[i];
    char name[NAME_BUF], ctx[NAME_BUF + 64];
    snprintf(ctx, sizeof ctx, "tensor info %" PRIu64, i);
    if (!rd_str(&ps->c, &t->name)) return truncated(ps, ctx);
    esc_name(t->name, name);
    snprintf(ctx, sizeof ctx, "tensor info %" PRIu64 " ('%s')", i, name);

    if (sd_strtab_insert(&g->tensor_index, t->name.ptr, t->name.len, (uint32_t)i) != -1) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "duplicate tensor name '%s' (tensor %" PRIu64 ")", name, i);
    }
    if (!rd_u32(&ps->c, &t->n_dims)) return truncated(ps, ctx);
    if (t->n_dims < 1 || t->n_dims > 4) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                        "tensor '%s' has %" PRIu32 " dimensions (must be 1..4)", name, t->n_dims);
    }
    for (uint32_t d = 0; d < 4; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && !rd_u64(&ps->c, &ne)) return truncated(ps, ctx);
        t->ne[d] = (int64_t)ne; /* values >= 2^63 become negative and are rejected below */
    }
    if (!rd_u32(&ps->c, &t->type) || !rd_u64(&ps->c, &t->offset)) return truncated(ps, ctx);
    int rc = check_tensor_shape(ps, t, name);
    if (rc < 0) return rc;
    return SD_STATUS_OK;
}

static int cmp_by_offset(const void *a, const void *b) {
    const sd_gguf_tensor *x = *(const sd_gguf_tensor *const *)a, *y = *(const sd_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->n_bytes != y->n_bytes) return x->n_bytes < y->n_bytes ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* Every tensor aligned, inside the file, and no two overlapping. */
static int place_tensors(parser *ps) {
    sd_gguf *g = ps->g;
    char name[NAME_BUF], name2[NAME_BUF];
    /* The data section starts at the next multiple of the alignment (pos <= size < 2^63: no overflow). */
    uint64_t pos = ps->c.pos;
    g->data_offset = (pos + g->alignment - 1) / g->alignment * g->alignment;
    uint64_t data_size = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        sd_gguf_tensor *t = &g->tensors[i];
        esc_name(t->name, name);
        if (t->offset % g->alignment != 0) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT,
                            "tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                            name, t->offset, g->alignment);
        }
        if (g->data_offset > g->size || t->offset > data_size || t->n_bytes > data_size - t->offset) {
            return sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "tensor '%s' extends past end of file",
                            name);
        }
        t->data = g->base + g->data_offset + t->offset;
    }
    if (g->n_tensors < 2) return SD_STATUS_OK;
    const sd_gguf_tensor **order = malloc(g->n_tensors * sizeof *order);
    if (!order) return sd_error(ps->err, ps->err_len, SD_STATUS_NO_MEMORY, "out of memory sorting tensors");
    for (uint64_t i = 0; i < g->n_tensors; i++)
        order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, cmp_by_offset);
    int rc = SD_STATUS_OK;
    for (uint64_t i = 1; i < g->n_tensors; i++) {
        const sd_gguf_tensor *a = order[i - 1], *b = order[i];
        if (a->offset + a->n_bytes > b->offset) { /* both inside the file: no overflow */
            rc = sd_error(ps->err, ps->err_len, SD_STATUS_FORMAT, "tensors '%s' and '%s' overlap",
                          esc_name(a->name, name), esc_name(b->name, name2));
            break;
        }
    }
    free(order);
    return rc;
}

static int parse(parser *ps) {
    sd_gguf *g = ps->g;
    uint64_t n_tensors = 0, n_kv = 0;
    int rc = parse_header(ps, &n_tensors, &n_kv);
    if (rc < 0) return rc;

    g->kvs = calloc(n_kv ? n_kv : 1, sizeof *g->kvs);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    /* n_kv and n_tensors are already bounded by the file size and by 2^30 (parse_header). */
    const uint64_t seed = (uint64_t)(uintptr_t)g * 0x9e3779b97f4a7c15ull;
    if (!g->kvs || !g->tensors || sd_strtab_init(&g->kv_index, n_kv, seed, kv_name, g) < 0 ||
        sd_strtab_init(&g->tensor_index, n_tensors, seed ^ 1, tensor_name, g) < 0) {
        return sd_error(ps->err, ps->err_len, SD_STATUS_NO_MEMORY, "out of memory for the GGUF tables");
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = i + 1; /* so close() frees the string array of a partly parsed key */
        rc = parse_kv(ps, i);
        if (rc < 0) return rc;
    }
    rc = read_alignment(ps);
    if (rc < 0) return rc;
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = i + 1;
        rc = parse_tensor_info(ps, i);
        if (rc < 0) return rc;
    }
    return place_tensors(ps);
}

static int open_bytes(const uint8_t *base, uint64_t size, bool mapped, sd_gguf **out, char *err,
                      size_t err_len) {
    sd_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        if (mapped) munmap((void *)base, size);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    g->base = base;
    g->size = size;
    g->mapped = mapped;
    parser ps = {g, {base, size, 0, 0, 0}, err, err_len};
    int rc = parse(&ps);
    if (rc < 0) {
        sd_gguf_close(g);
        return rc;
    }
    *out = g;
    return SD_STATUS_OK;
}

int sd_gguf_open_memory(const void *data, size_t size, sd_gguf **out, char *err, size_t err_len) {
    if (!out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size > 0) {
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_gguf_open_memory: data is NULL");
    }
    static const uint8_t empty[1] = {0};
    return open_bytes(data ? data : empty, size, false, out, err, err_len);
}

int sd_gguf_open(const char *path, sd_gguf **out, char *err, size_t err_len) {
    if (!out || !path)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "sd_gguf_open: NULL argument");
    *out = NULL;
    char shown[PATH_BUF]; /* the path as messages show it */
    esc_into((sd_gguf_str){path, strlen(path)}, shown, sizeof shown);
    /* O_NONBLOCK: opening a FIFO must not hang; it is then refused as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return sd_error(err, err_len, SD_STATUS_IO, "cannot open '%s': %s", shown, strerror(errno));
    struct stat st;
    int rc = SD_STATUS_OK;
    if (fstat(fd, &st) != 0) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "cannot stat '%s': %s", shown, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "'%s' is a directory, not a GGUF file", shown);
    } else if (!S_ISREG(st.st_mode)) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "'%s' is not a regular file", shown);
    } else if (st.st_size == 0) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "'%s' is empty", shown);
    } else if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = sd_error(err, err_len, SD_STATUS_IO, "'%s' is too large to map", shown);
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    size_t size = (size_t)st.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        return sd_error(err, err_len, SD_STATUS_IO, "cannot map '%s': %s", shown, strerror(map_errno));
    }
    return open_bytes(map, size, true, out, err, err_len);
}

void sd_gguf_release_pages(const sd_gguf *g, const void *data, size_t size) {
    const uintptr_t base = (uintptr_t)g->base, at = (uintptr_t)data;
    if (!g->mapped || at < base || size > g->size || at - base > g->size - size) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t first = (at + page - 1) / page * page, end = (at + size) / page * page;
    /* A private read-only file mapping: MADV_DONTNEED drops this process's references to the page cache;
     * nothing is lost. Failure only leaves the pages resident. */
    if (end > first) (void)madvise((void *)first, end - first, MADV_DONTNEED);
}

void sd_gguf_close(sd_gguf *g) {
    if (!g) return;
    if (g->kvs) {
        for (uint64_t i = 0; i < g->n_kv; i++)
            free((void *)g->kvs[i].arr_strs);
    }
    free(g->kvs);
    free(g->tensors);
    sd_strtab_free(&g->kv_index);
    sd_strtab_free(&g->tensor_index);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

/* ---- accessors ---- */

uint32_t sd_gguf_version(const sd_gguf *g) {
    return g->version;
}

uint64_t sd_gguf_file_size(const sd_gguf *g) {
    return g->size;
}

uint32_t sd_gguf_alignment(const sd_gguf *g) {
    return g->alignment;
}

uint64_t sd_gguf_data_offset(const sd_gguf *g) {
    return g->data_offset;
}

uint64_t sd_gguf_n_kv(const sd_gguf *g) {
    return g->n_kv;
}

const sd_gguf_kv *sd_gguf_kv_at(const sd_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kvs[i] : NULL;
}

uint64_t sd_gguf_n_tensors(const sd_gguf *g) {
    return g->n_tensors;
}

const sd_gguf_tensor *sd_gguf_tensor_at(const sd_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const sd_gguf_kv *sd_gguf_find_kv(const sd_gguf *g, const char *key) {
    if (!g || !key) return NULL;
    int64_t i = sd_strtab_find(&g->kv_index, key, strlen(key));
    return i < 0 ? NULL : &g->kvs[i];
}

const sd_gguf_tensor *sd_gguf_find_tensor(const sd_gguf *g, const char *name) {
    if (!g || !name) return NULL;
    int64_t i = sd_strtab_find(&g->tensor_index, name, strlen(name));
    return i < 0 ? NULL : &g->tensors[i];
}

/* ---- typed getters ---- */

static int wrong_type(const char *key, const sd_gguf_kv *kv, const char *expected, char *err,
                      size_t err_len) {
    char name[NAME_BUF];
    const char *have = sd_gguf_type_name(kv->type);
    if (kv->type == SD_GGUF_ARRAY) {
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' is an array of %s, expected %s",
                        esc_name(cstr(key), name), sd_gguf_type_name(kv->arr_type), expected);
    }
    return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' has type %s, expected %s",
                    esc_name(cstr(key), name), have, expected);
}

/* An integer key's value within [lo, hi]. */
static int get_int_in(const sd_gguf *g, const char *key, int64_t lo, uint64_t hi, int64_t *out, char *err,
                      size_t err_len) {
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return 0;
    char name[NAME_BUF];
    if (is_unsigned_type(kv->type)) {
        if (kv->value.u64 > hi) goto out_of_range;
        *out = (int64_t)kv->value.u64;
        return 1;
    }
    if (is_signed_type(kv->type)) {
        int64_t v = kv->value.i64;
        if (v < lo || (v > 0 && (uint64_t)v > hi)) goto out_of_range;
        *out = v;
        return 1;
    }
    return wrong_type(key, kv, "an integer", err, err_len);
out_of_range:
    if (is_unsigned_type(kv->type)) {
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' = %" PRIu64 " is out of range",
                        esc_name(cstr(key), name), kv->value.u64);
    }
    return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' = %" PRId64 " is out of range",
                    esc_name(cstr(key), name), kv->value.i64);
}

int sd_gguf_get_u32(const sd_gguf *g, const char *key, uint32_t *out, char *err, size_t err_len) {
    int64_t v = 0;
    int rc = get_int_in(g, key, 0, UINT32_MAX, &v, err, err_len);
    if (rc == 1) *out = (uint32_t)v;
    return rc;
}

int sd_gguf_get_i32(const sd_gguf *g, const char *key, int32_t *out, char *err, size_t err_len) {
    int64_t v = 0;
    int rc = get_int_in(g, key, INT32_MIN, INT32_MAX, &v, err, err_len);
    if (rc == 1) *out = (int32_t)v;
    return rc;
}

int sd_gguf_get_f32(const sd_gguf *g, const char *key, float *out, char *err, size_t err_len) {
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (kv->type != SD_GGUF_FLOAT32 && kv->type != SD_GGUF_FLOAT64)
        return wrong_type(key, kv, "a float", err, err_len);
    double v = kv->value.f64;
    if (v == v && (v > 3.4028234663852886e38 || v < -3.4028234663852886e38) && v - v == 0) {
        char name[NAME_BUF];
        return sd_error(err, err_len, SD_STATUS_FORMAT, "key '%s' = %g does not fit in f32",
                        esc_name(cstr(key), name), v);
    }
    *out = (float)v;
    return 1;
}

int sd_gguf_get_bool(const sd_gguf *g, const char *key, bool *out, char *err, size_t err_len) {
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (kv->type != SD_GGUF_BOOL) return wrong_type(key, kv, "bool", err, err_len);
    *out = kv->value.b;
    return 1;
}

int sd_gguf_get_str(const sd_gguf *g, const char *key, sd_gguf_str *out, char *err, size_t err_len) {
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (kv->type != SD_GGUF_STRING) return wrong_type(key, kv, "string", err, err_len);
    *out = kv->value.str;
    return 1;
}

int sd_gguf_get_arr(const sd_gguf *g, const char *key, sd_gguf_type elem_type, const sd_gguf_kv **out,
                    char *err, size_t err_len) {
    const sd_gguf_kv *kv = sd_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (kv->type != SD_GGUF_ARRAY || kv->arr_type != elem_type) {
        char expected[40];
        snprintf(expected, sizeof expected, "an array of %s", sd_gguf_type_name(elem_type));
        return wrong_type(key, kv, expected, err, err_len);
    }
    *out = kv;
    return 1;
}

/* Element i of a numeric array, widened; *is_float tells which of the outputs holds it. */
static void arr_elem(const sd_gguf_kv *kv, uint64_t i, double *f, int64_t *s, uint64_t *u, int *kind) {
    const uint8_t *p = (const uint8_t *)kv->arr_data + i * sd_gguf_type_size(kv->arr_type);
    sd_gguf_kv tmp;
    memset(&tmp, 0, sizeof tmp);
    decode_scalar(kv->arr_type, p, &tmp);
    if (kv->arr_type == SD_GGUF_FLOAT32 || kv->arr_type == SD_GGUF_FLOAT64) {
        *f = tmp.value.f64;
        *kind = 0;
    } else if (is_signed_type(kv->arr_type)) {
        *s = tmp.value.i64;
        *kind = 1;
    } else if (kv->arr_type == SD_GGUF_BOOL) {
        *u = tmp.value.b;
        *kind = 2;
    } else {
        *u = tmp.value.u64;
        *kind = 2;
    }
}

float sd_gguf_arr_f32(const sd_gguf_kv *kv, uint64_t i) {
    double f = 0;
    int64_t s = 0;
    uint64_t u = 0;
    int kind;
    if (kv->type != SD_GGUF_ARRAY || sd_gguf_type_size(kv->arr_type) == 0 || i >= kv->arr_len) return 0.0f;
    arr_elem(kv, i, &f, &s, &u, &kind);
    return kind == 0 ? (float)f : kind == 1 ? (float)s : (float)u;
}

int32_t sd_gguf_arr_i32(const sd_gguf_kv *kv, uint64_t i) {
    double f = 0;
    int64_t s = 0;
    uint64_t u = 0;
    int kind;
    if (kv->type != SD_GGUF_ARRAY || sd_gguf_type_size(kv->arr_type) == 0 || i >= kv->arr_len) return 0;
    arr_elem(kv, i, &f, &s, &u, &kind);
    if (kind == 0) return (f >= -2147483648.0 && f < 2147483648.0) ? (int32_t)f : 0;
    if (kind == 1) return (int32_t)s; /* caller checked the type: wraps only for out-of-range i64 */
    return (int32_t)(uint32_t)u;
}

bool sd_gguf_str_eq(sd_gguf_str s, const char *c) {
    return c && str_equal(s, cstr(c));
}
