/* UTF-8 for the whole library: the strict rules (well-formed sequences, for text we print or emit as
 * JSON) and llama.cpp's lenient ones (the tokenizer must split and decode bytes exactly as llama.cpp
 * does, overlong forms and surrogates included). */
#ifndef SD_UTF8_H
#define SD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True for a continuation byte (10xxxxxx). */
static inline bool sd_utf8_is_cont(uint8_t c) {
    return (c & 0xC0) == 0x80;
}

/* Bytes of the sequence a lead byte announces: 1 (ASCII), 2, 3 or 4; 0 for a continuation byte or a
 * byte that never starts a sequence (0xF8..0xFF). */
size_t sd_utf8_seq_len(uint8_t lead);

/* Length of the well-formed sequence at s[0..n) (n >= 1), or 0 when it is not one: truncated, a bad
 * continuation byte, an overlong form, a surrogate or a code point past U+10FFFF. */
size_t sd_utf8_valid_len(const uint8_t *s, size_t n);

/* True when all of s[0..n) is well-formed UTF-8. */
bool sd_utf8_is_valid(const uint8_t *s, size_t n);

/* llama.cpp's unicode_len_utf8: the length by the lead byte's top four bits alone (1 for continuation
 * bytes, 4 for 0xF0..0xFF). */
size_t sd_utf8_len_lenient(uint8_t lead);

/* Lenient decoding exactly as llama.cpp's unicode_cpt_from_utf8: the lead byte's high bits give the
 * length, continuation bytes must be 10xxxxxx, overlong forms and surrogates are accepted. Returns the
 * code point and sets *n to the bytes used, or returns -1 (with *n = 1) for an invalid sequence. len >= 1. */
int32_t sd_utf8_decode_lenient(const uint8_t *s, size_t len, size_t *n);

/* Encodes cp (< 0x110000) as UTF-8 into out[0..4); returns the byte count. */
size_t sd_utf8_encode(uint32_t cp, char *out);

#endif
