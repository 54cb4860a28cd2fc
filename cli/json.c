/* The JSON output helpers of json.h. */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

cJSON *cli_json_number(double v) {
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

cJSON *cli_json_number_6g(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char text[32];
    snprintf(text, sizeof text, "%.6g", v);
    return cJSON_CreateNumber(strtod(text, NULL)); /* cJSON prints the shortest digits that read back */
}

cJSON *cli_json_numbers(const double *v, int n, bool round_6g) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, round_6g ? cli_json_number_6g(v[i]) : cli_json_number(v[i]));
    return a;
}

cJSON *cli_json_ints(const int32_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

/* Length of a valid UTF-8 sequence at s (at most n bytes available), or 0 if invalid. */
static size_t valid_utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

size_t cli_json_quote(const char *s, size_t len, char *out) {
    const unsigned char *u = (const unsigned char *)s;
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t n = 1;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c == '\n') {
            o += sprintf(o, "\\n");
        } else if (c == '\t') {
            o += sprintf(o, "\\t");
        } else if (c == '\r') {
            o += sprintf(o, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            o += sprintf(o, "\\u%04x", c);
        } else if ((n = valid_utf8_len(u + i, len - i)) == 0) {
            o += sprintf(o, "\\ufffd");
            n = 1;
        } else {
            memcpy(o, u + i, n);
            o += n;
        }
        i += n;
    }
    *o++ = '"';
    *o = '\0';
    return (size_t)(o - out);
}

cJSON *cli_json_bytes(const char *s, size_t len) {
    char *quoted = malloc(cli_json_quoted_max(len));
    if (!quoted) return NULL;
    cli_json_quote(s, len, quoted);
    cJSON *item = cJSON_CreateRaw(quoted); /* already escaped: cJSON prints it as it is */
    free(quoted);
    return item;
}

bool cli_json_print(FILE *out, cJSON *doc, bool formatted) {
    char *text = !doc ? NULL : formatted ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text) return false;
    fputs(text, out);
    fputc('\n', out);
    cJSON_free(text);
    return true;
}
