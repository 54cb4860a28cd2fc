/* Chat templates, internal interface: family detection from a Jinja text and the template text stored in
 * a GGUF file. The public half (sd_chat_*) is declared in include/specdec.h. */
#ifndef SD_CHAT_H
#define SD_CHAT_H

#include <stddef.h>

#include "gguf/gguf.h"

/* The GGUF metadata key that holds a model's chat template (Jinja text). */
#define SD_CHAT_TEMPLATE_KEY "tokenizer.chat_template"

/* llama.cpp's name for the family of a Jinja chat template ("chatml", "llama3", ...), found by the same
 * ordered substring tests as its llm_chat_detect_template; NULL when none matches. The name may be of a
 * family specdec does not render ("chatglm4"): it is reported so the user learns why, and so that a
 * template llama.cpp gives to such a family is never taken for a later one. */
const char *sd_chat_detect_family(const char *jinja);

/* Copies g's tokenizer.chat_template into buf as snprintf would (at most buf_len - 1 bytes and a NUL);
 * returns its full length in bytes, 0 when the key is absent, or SD_STATUS_FORMAT when it is not a string or
 * holds a NUL byte (the text is used as a C string). */
int sd_chat_template_text_from_gguf(const sd_gguf *g, char *buf, size_t buf_len);

#endif
