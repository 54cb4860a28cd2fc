/* Prompts for `specdec bench`: JSON Lines with a "prompt" field and optional "id" and "kind" fields
 * (parsed with cJSON), or a plain text file that is one prompt. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_spec.h"
#include "common/sd_common.h"

#define MAX_PROMPT_FILE (256u << 20)

static char *read_all(const char *path, size_t *len, char *err, size_t err_len, int *rc) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    *rc = SD_STATUS_OK;
    if (!f) {
        *rc = sd_error(err, err_len, SD_STATUS_IO, "cannot open %s", path);
        return NULL;
    }
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = (n + 4096 + 1) * 2;
            char *b = cap > MAX_PROMPT_FILE ? NULL : realloc(buf, cap);
            if (!b) {
                *rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "%s is too large", path);
                break;
            }
            buf = b;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (*rc == SD_STATUS_OK && ferror(f)) *rc = sd_error(err, err_len, SD_STATUS_IO, "cannot read %s", path);
    fclose(f);
    if (*rc < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool looks_like_jsonl(const char *path, const char *text) {
    if (ends_with(path, ".jsonl") || ends_with(path, ".json")) return true;
    text += strspn(text, " \t\r\n");
    return *text == '{';
}

static char *dup_text(const char *s, size_t len) {
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = 0;
    }
    return d;
}

/* Parses one line (NUL-terminated) into *p. */
static int parse_line(const char *line, int line_no, int index, const char *path, bs_prompt *p, char *err,
                      size_t err_len) {
    cJSON *obj = cJSON_Parse(line);
    if (!obj) return sd_error(err, err_len, SD_STATUS_FORMAT, "%s:%d: not valid JSON", path, line_no);
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(obj, "prompt");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(obj, "kind");
    int rc = SD_STATUS_OK;
    char id_buf[32];
    snprintf(id_buf, sizeof id_buf, "p%d", index);
    if (!cJSON_IsString(prompt)) {
        rc = sd_error(err, err_len, SD_STATUS_FORMAT, "%s:%d: no string field \"prompt\"", path, line_no);
    } else if (kind && !cJSON_IsNull(kind) && !cJSON_IsString(kind)) {
        rc = sd_error(err, err_len, SD_STATUS_FORMAT, "%s:%d: field \"kind\" is not a string", path, line_no);
    } else {
        const char *id_text = cJSON_IsString(id) ? id->valuestring : id_buf;
        const char *kind_text = cJSON_IsString(kind) && kind->valuestring[0] ? kind->valuestring : BS_NO_KIND;
        p->len = strlen(prompt->valuestring);
        p->text = dup_text(prompt->valuestring, p->len);
        p->id = dup_text(id_text, strlen(id_text));
        p->kind = dup_text(kind_text, strlen(kind_text));
        if (!p->text || !p->id || !p->kind) rc = sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    cJSON_Delete(obj);
    return rc;
}

static int read_jsonl(const char *path, char *text, int max_prompts, bs_prompt *out, char *err,
                      size_t err_len) {
    int n = 0, line_no = 0;
    for (char *line = text; line && *line && (max_prompts <= 0 || n < max_prompts);) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        line_no++;
        if (line[strspn(line, " \t\r")] != 0) {
            int rc = parse_line(line, line_no, n, path, &out[n], err, err_len);
            n++; /* the entry may hold partial allocations: the caller frees n entries */
            if (rc < 0) return rc;
        }
        line = nl ? nl + 1 : NULL;
    }
    if (n == 0) return sd_error(err, err_len, SD_STATUS_FORMAT, "%s holds no prompts", path);
    return n;
}

int bs_prompts_read(const char *path, int max_prompts, bs_prompt **out, char *err, size_t err_len) {
    *out = NULL;
    size_t len = 0;
    int rc;
    char *text = read_all(path, &len, err, err_len, &rc);
    if (!text) return rc;
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += text[i] == '\n';
    bs_prompt *p = calloc(n_lines, sizeof *p);
    if (!p) {
        free(text);
        return sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
    }
    if (looks_like_jsonl(path, text)) {
        rc = read_jsonl(path, text, max_prompts, p, err, err_len);
        if (rc < 0) {
            bs_prompts_free(p, (int)n_lines);
            p = NULL;
        }
    } else {
        p[0].text = text;
        p[0].len = len;
        p[0].id = dup_text("p0", 2);
        p[0].kind = dup_text(BS_NO_KIND, strlen(BS_NO_KIND));
        text = NULL;
        rc = p[0].id && p[0].kind ? 1 : sd_error(err, err_len, SD_STATUS_NO_MEMORY, "out of memory");
        if (rc < 0) {
            bs_prompts_free(p, 1);
            p = NULL;
        }
    }
    free(text);
    *out = p;
    return rc;
}

void bs_prompts_free(bs_prompt *p, int n) {
    if (!p) return;
    for (int i = 0; i < n; i++) {
        free(p[i].id);
        free(p[i].kind);
        free(p[i].text);
    }
    free(p);
}
