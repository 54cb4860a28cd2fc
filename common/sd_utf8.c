#include "sd_utf8.h"

size_t sd_utf8_seq_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 0;
}

size_t sd_utf8_valid_len(const uint8_t *s, size_t n) {
    const size_t len = sd_utf8_seq_len(s[0]);
    if (len == 0 || len > n) return 0;
    if (len == 1) return 1;
    uint32_t cp = s[0] & (0x7Fu >> len); /* the lead's payload: 5, 4 or 3 bits */
    for (size_t i = 1; i < len; i++) {
        if (!sd_utf8_is_cont(s[i])) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000}; /* below: overlong */
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool sd_utf8_is_valid(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        size_t len = sd_utf8_valid_len(s + i, n - i);
        if (len == 0) return false;
        i += len;
    }
    return true;
}

size_t sd_utf8_len_lenient(uint8_t c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

int32_t sd_utf8_decode_lenient(const uint8_t *s, size_t len, size_t *n) {
    uint8_t c = s[0];
    *n = 1;
    if (!(c & 0x80)) return c;
    if (!(c & 0x40)) return -1;
    if (!(c & 0x20)) {
        if (len < 2 || !sd_utf8_is_cont(s[1])) return -1;
        *n = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (!(c & 0x10)) {
        if (len < 3 || !sd_utf8_is_cont(s[1]) || !sd_utf8_is_cont(s[2])) return -1;
        *n = 3;
        return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    if (!(c & 0x08)) {
        if (len < 4 || !sd_utf8_is_cont(s[1]) || !sd_utf8_is_cont(s[2]) || !sd_utf8_is_cont(s[3])) return -1;
        int32_t cp = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        /* llama.cpp throws when re-encoding these; treat them as invalid bytes instead. */
        if (cp > 0x10FFFF) return -1;
        *n = 4;
        return cp;
    }
    return -1;
}

size_t sd_utf8_encode(uint32_t cp, char *out) {
    if (cp <= 0x7F) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
