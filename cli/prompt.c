/* The chat plumbing the commands share (prompt.h). */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

const sd_chat_template *cli_choose_chat_template(const char *cmd, const char *name, const char *file,
                                                 const char *model_text, const char *model_path) {
    char err[1024];
    const sd_chat_template *tmpl = NULL;
    if (name) {
        if (sd_chat_template_by_name(name, &tmpl, err, sizeof err) == 0) return tmpl;
        fprintf(stderr, "specdec %s: %s\n", cmd, err);
        return NULL;
    }
    if (!file && (!model_text || !*model_text)) {
        fprintf(stderr, "specdec %s: %s has no %s; choose a template with --chat-template NAME\n", cmd,
                model_path, "tokenizer.chat_template");
        return NULL;
    }
    size_t len = 0;
    char *file_text = file ? cli_read_file(file, &len) : NULL;
    if (file && !file_text) return NULL;
    const char *text = file ? file_text : model_text, *source = file ? file : model_path;
    if (file && strlen(file_text) != len)
        fprintf(stderr, "specdec %s: %s: the template holds a NUL byte\n", cmd, source);
    else if (sd_chat_template_from_text(text, &tmpl, err, sizeof err) != 0)
        fprintf(stderr, "specdec %s: %s: %s\n", cmd, source, err);
    free(file_text);
    return tmpl;
}

char *cli_model_chat_template(const char *cmd, const sd_model *model, const char *model_path) {
    int len = sd_model_chat_template(model, NULL, 0);
    if (len < 0) {
        fprintf(stderr, "specdec %s: %s: tokenizer.chat_template is not a text without NUL bytes\n", cmd,
                model_path);
        return NULL;
    }
    char *text = malloc((size_t)len + 1);
    if (!text) {
        fprintf(stderr, "specdec %s: out of memory\n", cmd);
        return NULL;
    }
    sd_model_chat_template(model, text, (size_t)len + 1);
    return text;
}

char *cli_render_chat(const char *cmd, const sd_chat_template *tmpl, const sd_chat_message *messages, int n) {
    char err[512];
    int len = sd_chat_apply(tmpl, messages, n, true, NULL, 0, err, sizeof err);
    if (len < 0) {
        fprintf(stderr, "specdec %s: %s\n", cmd, err);
        return NULL;
    }
    char *text = malloc((size_t)len + 1);
    if (!text) {
        fprintf(stderr, "specdec %s: out of memory\n", cmd);
        return NULL;
    }
    sd_chat_apply(tmpl, messages, n, true, text, (size_t)len + 1, NULL, 0);
    return text;
}

int32_t *cli_tokenize_prompt(const sd_model *m, const char *text, size_t len, bool parse_special,
                             int32_t *n_out) {
    char err[256];
    int n = sd_model_tokenize(m, text, len, true, parse_special, NULL, 0, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "specdec: cannot tokenize the prompt: %s\n", err);
        return NULL;
    }
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "specdec: out of memory for %d prompt tokens\n", n);
        return NULL;
    }
    sd_model_tokenize(m, text, len, true, parse_special, ids, n, err, sizeof err);
    *n_out = n;
    return ids;
}

/* The longest stop string's length: a match can only begin this far back in the text. */
static size_t longest_stop(const sd_chat_template *t) {
    size_t n = 0;
    for (int i = 0; t && sd_chat_template_stop_string(t, i); i++)
        if (strlen(sd_chat_template_stop_string(t, i)) > n) n = strlen(sd_chat_template_stop_string(t, i));
    return n;
}

/* Where the first stop string in text[from..len) begins, or len. */
static size_t find_stop(const cli_answer *a, size_t from) {
    size_t best = a->len;
    for (int i = 0; a->tmpl && sd_chat_template_stop_string(a->tmpl, i); i++) {
        const char *s = sd_chat_template_stop_string(a->tmpl, i);
        size_t n = strlen(s);
        for (size_t p = from; p + n <= a->len && p < best; p++)
            if (memcmp(a->text + p, s, n) == 0) best = p;
    }
    return best;
}

/* How many bytes at the end of text are a proper prefix of some stop string (held back). */
static size_t held_back(const cli_answer *a) {
    size_t held = 0;
    for (int i = 0; a->tmpl && sd_chat_template_stop_string(a->tmpl, i); i++) {
        const char *s = sd_chat_template_stop_string(a->tmpl, i);
        for (size_t n = strlen(s) - 1; n > held; n--)
            if (n <= a->len && memcmp(a->text + a->len - n, s, n) == 0) held = n;
    }
    return held;
}

static void print_upto(cli_answer *a, size_t end) {
    if (a->print && end > a->printed) {
        fwrite(a->text + a->printed, 1, end - a->printed, stdout);
        fflush(stdout);
    }
    if (end > a->printed) a->printed = end;
}

bool cli_answer_on_token(void *user, int32_t token, const char *text, size_t len) {
    cli_answer *a = user;
    if (a->interrupt && *a->interrupt) {
        a->interrupted = true;
        return false;
    }
    char piece[64];
    int n = token >= 0 ? sd_model_token_to_piece(a->model, token, true, piece, sizeof piece - 1) : -1;
    for (int i = 0; n > 0 && n < (int)sizeof piece && a->tmpl && sd_chat_template_stop_string(a->tmpl, i);
         i++)
        if ((size_t)n == strlen(sd_chat_template_stop_string(a->tmpl, i)) &&
            memcmp(piece, sd_chat_template_stop_string(a->tmpl, i), (size_t)n) == 0) {
            a->end_of_turn = true; /* one control token: its text never reaches `text` */
            return false;
        }
    if (a->len + len + 1 > a->cap) {
        size_t cap = (a->len + len + 1) * 2;
        char *t = realloc(a->text, cap);
        if (!t) {
            a->oom = true;
            return false;
        }
        a->text = t;
        a->cap = cap;
    }
    memcpy(a->text + a->len, text, len);
    size_t from = a->len > longest_stop(a->tmpl) ? a->len - longest_stop(a->tmpl) : 0;
    a->len += len;
    a->text[a->len] = '\0';
    size_t stop = find_stop(a, from);
    if (stop < a->len) {
        a->len = stop;
        a->text[a->len] = '\0';
        print_upto(a, stop);
        a->end_of_turn = true;
        return false;
    }
    print_upto(a, a->len - held_back(a));
    return true;
}

void cli_answer_flush(cli_answer *a) {
    print_upto(a, a->len);
}
