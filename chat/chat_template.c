/* The chat-template families specdec renders: one table row per family (name, renderer, end-of-turn
 * strings) and a renderer per turn format, each writing what llama.cpp's llm_chat_apply_template writes
 * for that family, byte for byte. Where llama.cpp departs from a model's own Jinja (no default system
 * prompt, no date header, no BOS text, trimming) we follow llama.cpp: the point is a prompt identical to
 * the one llama.cpp would feed the same model. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "common/sd_common.h"
#include "specdec.h"

/* Output that counts every byte but stores only what fits, so one pass both measures and writes. */
typedef struct text_out {
    char *buf;
    size_t cap;
    size_t len; /* bytes the whole text needs so far */
} text_out;

static void put_n(text_out *o, const char *s, size_t n) {
    if (o->len < o->cap) memcpy(o->buf + o->len, s, SD_MIN(n, o->cap - o->len));
    o->len += n;
}

static void put(text_out *o, const char *s) {
    put_n(o, s, strlen(s));
}

/* s without leading and trailing white space (C locale isspace, as llama.cpp's trim). */
static void put_trimmed(text_out *o, const char *s) {
    size_t begin = 0, end = strlen(s);
    while (begin < end && isspace((unsigned char)s[begin]))
        begin++;
    while (end > begin && isspace((unsigned char)s[end - 1]))
        end--;
    put_n(o, s + begin, end - begin);
}

static bool is_role(const sd_chat_message *m, const char *role) {
    return strcmp(m->role, role) == 0;
}

/* Family variants that share one turn format: which spacing or trimming the format uses. */
typedef enum chat_variant {
    VARIANT_NONE = 0,
    MISTRAL_V1,        /* " [INST] ", " [/INST]" */
    MISTRAL_V3,        /* "[INST] ", assistant text trimmed and after a space */
    MISTRAL_V3_TEKKEN, /* "[INST]", no spaces */
    MISTRAL_V7,        /* "[INST] " and "[SYSTEM_PROMPT] " */
    MISTRAL_V7_TEKKEN, /* the same without the spaces */
    LLAMA2_PLAIN,      /* no system support: system text on its own line inside the first [INST] */
    LLAMA2_SYS,        /* <<SYS>> block */
    LLAMA2_SYS_BOS,    /* and "<s>" before each later [INST] */
    LLAMA2_SYS_STRIP,  /* and every message trimmed */
} chat_variant;

/* The formats that wrap each turn as BEFORE ROLE AFTER TEXT END, with no rule that depends on the turn's
 * position: ChatML, Phi-3, Phi-4, Zephyr, Llama 3. */
typedef struct turn_format {
    const char *before_role;
    const char *after_role;
    const char *after_text;
    bool trim_text;                /* text without surrounding white space */
    const char *generation_prompt; /* opens the assistant turn */
} turn_format;

typedef struct chat_turns {
    const sd_chat_message *msgs;
    int n;
    bool add_generation_prompt;
} chat_turns;

typedef void (*chat_render_fn)(const sd_chat_template *t, const chat_turns *c, text_out *o);

struct sd_chat_template {
    const char *name; /* llama.cpp's name for the family */
    chat_render_fn render;
    turn_format turn;     /* render_turns's format */
    chat_variant variant; /* the other renderers' variant */
    const char *stop[3];  /* texts that end an assistant turn; NULL-terminated */
};

/* Every turn in t->turn's format. Where the model's Jinja does more, llama.cpp (and so specdec) does not:
 * Qwen2.5's default system message, Qwen3's moving of <think> blocks out of past assistant texts and its
 * empty think block for enable_thinking=false, SmolLM3's metadata system turn, Phi-3.5's skipping of an
 * empty system text and its eos_token at the end, Llama 3.1/3.2's BOS and date system turn. */
static void render_turns(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    for (int i = 0; i < c->n; i++) {
        put(o, t->turn.before_role);
        put(o, c->msgs[i].role);
        put(o, t->turn.after_role);
        if (t->turn.trim_text)
            put_trimmed(o, c->msgs[i].content);
        else
            put(o, c->msgs[i].content);
        put(o, t->turn.after_text);
    }
    if (c->add_generation_prompt) put(o, t->turn.generation_prompt);
}

/* Gemma has no system role: the trimmed system texts (joined with nothing between) open the next user
 * turn, followed by a blank line; "assistant" is called "model"; every text is trimmed. Gemma 2's Jinja
 * raises an error on a system message instead. */
static void render_gemma(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    (void)t;              /* one format, no variants */
    int pending_from = 0; /* system messages from here up to the current one are not yet written */
    for (int i = 0; i < c->n; i++) {
        const sd_chat_message *m = &c->msgs[i];
        if (is_role(m, "system")) continue;
        bool model_turn = is_role(m, "assistant");
        put(o, "<start_of_turn>");
        put(o, model_turn ? "model" : m->role);
        put(o, "\n");
        if (!model_turn) {
            size_t before = o->len;
            for (int j = pending_from; j < i; j++)
                if (is_role(&c->msgs[j], "system")) put_trimmed(o, c->msgs[j].content);
            if (o->len > before) put(o, "\n\n");
            /* An all-blank system text stays pending in llama.cpp too, but adds nothing when written. */
            pending_from = o->len > before ? i + 1 : pending_from;
        }
        put_trimmed(o, m->content);
        put(o, "<end_of_turn>\n");
    }
    if (c->add_generation_prompt) put(o, "<start_of_turn>model\n");
}

/* DeepSeek 3 (and the R1 distills): system text and a blank line, then <｜User｜>TEXT and
 * <｜Assistant｜>TEXT<｜end▁of▁sentence｜>. The R1 Jinja writes the system text where the first message
 * goes with no blank line, drops an assistant text's reasoning up to </think>, and opens the generated
 * turn with "<think>\n"; llama.cpp does none of that. */
#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_ASSISTANT                                                                                         \
    "<\xef\xbd\x9c"                                                                                          \
    "Assistant\xef\xbd\x9c>"
#define DS_END                                                                                               \
    "<\xef\xbd\x9c"                                                                                          \
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
static void render_deepseek3(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    (void)t; /* one format, no variants */
    for (int i = 0; i < c->n; i++) {
        const sd_chat_message *m = &c->msgs[i];
        if (is_role(m, "system")) {
            put(o, m->content);
            put(o, "\n\n");
        } else if (is_role(m, "user")) {
            put(o, DS_USER);
            put(o, m->content);
        } else {
            put(o, DS_ASSISTANT);
            put(o, m->content);
            put(o, DS_END);
        }
    }
    if (c->add_generation_prompt) put(o, DS_ASSISTANT);
}

/* Mistral v7: [SYSTEM_PROMPT] and [INST] blocks, assistant text closed by </s>; there is no generation
 * prompt (the model answers after [/INST]). */
static void render_mistral_v7(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    const char *space = t->variant == MISTRAL_V7 ? " " : "";
    for (int i = 0; i < c->n; i++) {
        const sd_chat_message *m = &c->msgs[i];
        if (is_role(m, "system")) {
            put(o, "[SYSTEM_PROMPT]");
            put(o, space);
            put(o, m->content);
            put(o, "[/SYSTEM_PROMPT]");
        } else if (is_role(m, "user")) {
            put(o, "[INST]");
            put(o, space);
            put(o, m->content);
            put(o, "[/INST]");
        } else {
            put(o, space);
            put(o, m->content);
            put(o, "</s>");
        }
    }
}

/* Mistral v1, v3 and v3-tekken (Nemo): system and user texts share one [INST] block, the system text first
 * and followed by a blank line; no generation prompt. Nemo's Jinja puts the system text into the last user
 * turn instead of the first, and starts with the BOS text; llama.cpp does not. */
static void render_mistral(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    const char *lead = t->variant == MISTRAL_V1 ? " " : "";
    const char *trail = t->variant == MISTRAL_V3_TEKKEN ? "" : " ";
    bool in_turn = false;
    for (int i = 0; i < c->n; i++) {
        const sd_chat_message *m = &c->msgs[i];
        if (!in_turn) {
            put(o, lead);
            put(o, "[INST]");
            put(o, trail);
            in_turn = true;
        }
        if (is_role(m, "system")) {
            put(o, m->content);
            put(o, "\n\n");
        } else if (is_role(m, "user")) {
            put(o, m->content);
            put(o, lead);
            put(o, "[/INST]");
        } else {
            put(o, trail);
            if (t->variant == MISTRAL_V3)
                put_trimmed(o, m->content);
            else
                put(o, m->content);
            put(o, "</s>");
            in_turn = false;
        }
    }
}

/* Llama 2: "[INST] " opens the text (the BOS comes from the tokenizer), each assistant text closes its
 * turn with </s>; no generation prompt. */
static void render_llama2(const sd_chat_template *t, const chat_turns *c, text_out *o) {
    bool in_turn = true;
    put(o, "[INST] ");
    for (int i = 0; i < c->n; i++) {
        const sd_chat_message *m = &c->msgs[i];
        if (!in_turn) {
            put(o, t->variant == LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
            in_turn = true;
        }
        bool sys = is_role(m, "system");
        if (sys) put(o, t->variant == LLAMA2_PLAIN ? "" : "<<SYS>>\n");
        if (t->variant == LLAMA2_SYS_STRIP)
            put_trimmed(o, m->content);
        else
            put(o, m->content);
        if (sys) {
            put(o, t->variant == LLAMA2_PLAIN ? "\n" : "\n<</SYS>>\n\n");
        } else if (is_role(m, "user")) {
            put(o, " [/INST]");
        } else {
            put(o, "</s>");
            in_turn = false;
        }
    }
}

#define NO_TURN                                                                                              \
    { NULL, NULL, NULL, false, NULL }
static const sd_chat_template templates[] = {
    {"chatml",
     render_turns,
     {"<|im_start|>", "\n", "<|im_end|>\n", false, "<|im_start|>assistant\n"},
     VARIANT_NONE,
     {"<|im_end|>", NULL}},
    {"llama3",
     render_turns,
     {"<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>", true,
      "<|start_header_id|>assistant<|end_header_id|>\n\n"},
     VARIANT_NONE,
     {"<|eot_id|>", "<|eom_id|>", NULL}},
    {"gemma", render_gemma, NO_TURN, VARIANT_NONE, {"<end_of_turn>", NULL}},
    {"phi3",
     render_turns,
     {"<|", "|>\n", "<|end|>\n", false, "<|assistant|>\n"},
     VARIANT_NONE,
     {"<|end|>", NULL}},
    /* Phi-4: ChatML tags with <|im_sep|> after the role and no newlines. */
    {"phi4",
     render_turns,
     {"<|im_start|>", "<|im_sep|>", "<|im_end|>", false, "<|im_start|>assistant<|im_sep|>"},
     VARIANT_NONE,
     {"<|im_end|>", NULL}},
    {"deepseek3", render_deepseek3, NO_TURN, VARIANT_NONE, {DS_END, NULL}},
    {"zephyr",
     render_turns,
     {"<|", "|>\n", "<|endoftext|>\n", false, "<|assistant|>\n"},
     VARIANT_NONE,
     {"<|endoftext|>", NULL}},
    {"mistral-v1", render_mistral, NO_TURN, MISTRAL_V1, {"</s>", NULL}},
    {"mistral-v3", render_mistral, NO_TURN, MISTRAL_V3, {"</s>", NULL}},
    {"mistral-v3-tekken", render_mistral, NO_TURN, MISTRAL_V3_TEKKEN, {"</s>", NULL}},
    {"mistral-v7", render_mistral_v7, NO_TURN, MISTRAL_V7, {"</s>", NULL}},
    {"mistral-v7-tekken", render_mistral_v7, NO_TURN, MISTRAL_V7_TEKKEN, {"</s>", NULL}},
    {"llama2", render_llama2, NO_TURN, LLAMA2_PLAIN, {"</s>", NULL}},
    {"llama2-sys", render_llama2, NO_TURN, LLAMA2_SYS, {"</s>", NULL}},
    {"llama2-sys-bos", render_llama2, NO_TURN, LLAMA2_SYS_BOS, {"</s>", NULL}},
    {"llama2-sys-strip", render_llama2, NO_TURN, LLAMA2_SYS_STRIP, {"</s>", NULL}},
};

static const sd_chat_template *find_template(const char *name) {
    for (size_t i = 0; i < SD_ARRAY_LEN(templates); i++)
        if (strcmp(templates[i].name, name) == 0) return &templates[i];
    return NULL;
}

/* "chatml, llama3, ..." into buf. */
static const char *list_names(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < SD_ARRAY_LEN(templates) && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", templates[i].name);
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

int sd_chat_template_by_name(const char *name, const sd_chat_template **out, char *err, size_t err_len) {
    char names[512];
    if (!out) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no output pointer given");
    *out = name ? find_template(name) : NULL;
    if (*out) return SD_STATUS_OK;
    return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "unknown chat template '%s' (known: %s)",
                    name ? name : "(null)", list_names(names, sizeof names));
}

int sd_chat_template_from_text(const char *text, const sd_chat_template **out, char *err, size_t err_len) {
    char names[512];
    if (!out || !text) return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no template text given");
    *out = find_template(text);
    if (*out) return SD_STATUS_OK;
    const char *family = sd_chat_detect_family(text);
    *out = family ? find_template(family) : NULL;
    if (*out) return SD_STATUS_OK;
    if (family)
        return sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                        "chat template recognised as llama.cpp's '%s', which specdec does not render; "
                        "choose one with --chat-template NAME (%s)",
                        family, list_names(names, sizeof names));
    return sd_error(err, err_len, SD_STATUS_UNSUPPORTED,
                    "chat template not recognised; choose one with --chat-template NAME (%s)",
                    list_names(names, sizeof names));
}

const char *sd_chat_template_name(const sd_chat_template *tmpl) {
    return tmpl->name;
}

const char *sd_chat_template_stop_string(const sd_chat_template *tmpl, int i) {
    if (i < 0) return NULL;
    for (int k = 0; k <= i; k++)
        if (!tmpl->stop[k]) return NULL;
    return tmpl->stop[i];
}

const char *sd_chat_template_builtin_name(int i) {
    return i >= 0 && (size_t)i < SD_ARRAY_LEN(templates) ? templates[i].name : NULL;
}

int sd_chat_apply(const sd_chat_template *tmpl, const sd_chat_message *messages, int n,
                  bool add_generation_prompt, char *out, size_t out_cap, char *err, size_t err_len) {
    if (!tmpl || n < 0 || (n > 0 && !messages))
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "no template or messages given");
    for (int i = 0; i < n; i++) {
        const sd_chat_message *m = &messages[i];
        if (!m->role || !m->content)
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "message %d has no %s", i,
                            m->role ? "content" : "role");
        if (!is_role(m, "system") && !is_role(m, "user") && !is_role(m, "assistant"))
            return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT,
                            "message %d has role '%s' (known: system, user, assistant)", i, m->role);
    }
    chat_turns c = {messages, n, add_generation_prompt};
    /* Room for the NUL is kept back, as snprintf does. */
    text_out o = {out, out && out_cap ? out_cap - 1 : 0, 0};
    tmpl->render(tmpl, &c, &o);
    if (out && out_cap) out[SD_MIN(o.len, o.cap)] = '\0';
    if (o.len > INT_MAX)
        return sd_error(err, err_len, SD_STATUS_INVALID_ARGUMENT, "the conversation is over 2 GiB as text");
    return (int)o.len;
}
