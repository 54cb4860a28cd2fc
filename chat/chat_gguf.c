/* A model's chat template text, read from its GGUF metadata (no weights are touched). */
#include <string.h>

#include "chat/chat.h"
#include "common/sd_common.h"

int sd_chat_template_text_from_gguf(const sd_gguf *g, char *buf, size_t buf_len) {
    if (buf && buf_len) buf[0] = '\0';
    sd_gguf_str text;
    int found = sd_gguf_get_str(g, SD_CHAT_TEMPLATE_KEY, &text, NULL, 0);
    if (found < 0) return SD_STATUS_FORMAT;
    if (found == 0) return 0;
    if (text.len >= 0x7fffffffu || memchr(text.ptr, 0, (size_t)text.len)) /* returned as an int length */
        return SD_STATUS_FORMAT;
    size_t len = (size_t)text.len;
    if (buf && buf_len) {
        size_t n = SD_MIN(len, buf_len - 1);
        memcpy(buf, text.ptr, n);
        buf[n] = '\0';
    }
    return (int)len;
}
