/* Chat templates: family detection and rendering against llama.cpp's llm_chat_apply_template.
 *
 * The expected texts below were written by reading llama.cpp's src/llama-chat.cpp (mid 2026) for each
 * family and applying it by hand to one fixed conversation; they are not produced by specdec. The nine real
 * templates come from $SD_SHARED_DIR/chat-templates (the test exits 77 after the built-in checks when that
 * folder is absent). Where llama.cpp's renderer and the model's own Jinja disagree, we follow llama.cpp, and
 * the table says how the Jinja differs.
 *
 * Usage: test_chat                    run the checks
 *        test_chat --write-gguf PATH TEXT   write a GGUF holding only tokenizer.chat_template = TEXT
 *                                           (for the CLI test) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "common/sd_common.h"
#include "gguf/gguf_writer.h"
#include "specdec.h"
#include "test_util.h"

/* The fixed conversation: the assistant text carries a leading space and a trailing newline so that the
 * families that trim (llama3, gemma, mistral-v3, llama2-sys-strip) show it. */
#define SYS "You are a helpful assistant."
#define U1 "Hello!"
#define A1 " Hi there. How can I help?\n"
#define U2 "What is 2+2?"

static const sd_chat_message with_system[] = {{"system", SYS}, {"user", U1}, {"assistant", A1}, {"user", U2}};
static const sd_chat_message without_system[] = {{"user", U1}, {"assistant", A1}, {"user", U2}};

/* DeepSeek's special texts: <｜User｜>, <｜Assistant｜>, <｜end▁of▁sentence｜>. */
#define DS_U "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DS_A                                                                                                 \
    "<\xef\xbd\x9c"                                                                                          \
    "Assistant\xef\xbd\x9c>"
#define DS_E                                                                                                 \
    "<\xef\xbd\x9c"                                                                                          \
    "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

/* One family's rendering of the conversation: with the system message and a generation prompt, the same
 * without the prompt, and without the system message (with the prompt). */
typedef struct family_expect {
    const char *family;
    const char *sys_gen;
    const char *sys_nogen;
    const char *nosys_gen;
} family_expect;

#define CHATML_BODY                                                                                          \
    "<|im_start|>user\n" U1 "<|im_end|>\n<|im_start|>assistant\n" A1 "<|im_end|>\n<|im_start|>user\n" U2     \
    "<|im_end|>\n"
#define LLAMA3_BODY                                                                                          \
    "<|start_header_id|>user<|end_header_id|>\n\n" U1                                                        \
    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"                                                \
    "\n\nHi there. How can I help?<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" U2 "<|eot_id|>"
#define PHI3_BODY "<|user|>\n" U1 "<|end|>\n<|assistant|>\n" A1 "<|end|>\n<|user|>\n" U2 "<|end|>\n"
#define GEMMA_TAIL                                                                                           \
    "<end_of_turn>\n<start_of_turn>model\nHi there. How can I help?<end_of_turn>\n<start_of_turn>user\n" U2  \
    "<end_of_turn>\n"
#define DS_BODY DS_U U1 DS_A A1 DS_E DS_U U2
#define TEKKEN_BODY U1 "[/INST]" A1 "</s>[INST]" U2 "[/INST]"

static const family_expect expects[] = {
    {"chatml", "<|im_start|>system\n" SYS "<|im_end|>\n" CHATML_BODY "<|im_start|>assistant\n",
     "<|im_start|>system\n" SYS "<|im_end|>\n" CHATML_BODY, CHATML_BODY "<|im_start|>assistant\n"},
    {"llama3",
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|>" LLAMA3_BODY
     "<|start_header_id|>assistant<|end_header_id|>\n\n",
     "<|start_header_id|>system<|end_header_id|>\n\n" SYS "<|eot_id|>" LLAMA3_BODY,
     LLAMA3_BODY "<|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"phi3", "<|system|>\n" SYS "<|end|>\n" PHI3_BODY "<|assistant|>\n",
     "<|system|>\n" SYS "<|end|>\n" PHI3_BODY, PHI3_BODY "<|assistant|>\n"},
    {"gemma", "<start_of_turn>user\n" SYS "\n\n" U1 GEMMA_TAIL "<start_of_turn>model\n",
     "<start_of_turn>user\n" SYS "\n\n" U1 GEMMA_TAIL,
     "<start_of_turn>user\n" U1 GEMMA_TAIL "<start_of_turn>model\n"},
    {"deepseek3", SYS "\n\n" DS_BODY DS_A, SYS "\n\n" DS_BODY, DS_BODY DS_A},
    /* No generation prompt in this family: the model answers right after [/INST]. */
    {"mistral-v3-tekken", "[INST]" SYS "\n\n" TEKKEN_BODY, "[INST]" SYS "\n\n" TEKKEN_BODY,
     "[INST]" TEKKEN_BODY},
};

/* The nine real templates, the family llama.cpp detects for each, and how its Jinja differs from what
 * llama.cpp (and so specdec) renders. */
static const struct {
    const char *file;
    const char *family;
    const char *jinja_differs;
} real_templates[] = {
    {"Qwen-Qwen2.5-7B-Instruct.jinja", "chatml",
     "the Jinja adds a default system message (You are Qwen...) when there is none"},
    {"Qwen-Qwen3-0.6B.jinja", "chatml",
     "the Jinja moves <think>...</think> out of past assistant texts and can add an empty think block to "
     "the generation prompt; llama.cpp passes the texts through and adds no think tags"},
    {"HuggingFaceTB-SmolLM3-3B.jinja", "chatml",
     "the Jinja always writes its own system turn (metadata, reasoning mode, default instructions) and "
     "handles /think and /no_think; llama.cpp renders plain ChatML"},
    {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek3",
     "the Jinja writes BOS, the system text without the blank line, drops reasoning before </think> in "
     "assistant texts, and opens the generated turn with <think>\\n"},
    {"google-gemma-2-2b-it.jinja", "gemma",
     "the Jinja raises an error on a system message; llama.cpp prefixes it to the first user turn"},
    {"meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3",
     "the Jinja writes BOS and a system turn with the knowledge cutoff and date even with no system message"},
    {"meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3",
     "as Llama 3.1 (today's date instead of a fixed one)"},
    {"microsoft-Phi-3.5-mini-instruct.jinja", "phi3",
     "the Jinja skips an empty system text and ends with eos_token when there is no generation prompt"},
    {"mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral-v3-tekken",
     "the Jinja writes BOS and puts the system text into the last user turn instead of the first"},
};

/* Prints s with control characters escaped, for failure messages. */
static void print_escaped(const char *label, const char *s) {
    fprintf(stderr, "  %s: \"", label);
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", stderr);
        else
            fputc(*s, stderr);
    }
    fputs("\"\n", stderr);
}

static void check_render(const char *what, const sd_chat_template *t, const sd_chat_message *msgs, int n,
                         bool gen, const char *want) {
    char err[512], out[4096];
    int len = sd_chat_apply(t, msgs, n, gen, out, sizeof out, err, sizeof err);
    CHECK(len >= 0 && (size_t)len < sizeof out, "%s: sd_chat_apply returned %d (%s)", what, len, err);
    if (len < 0 || (size_t)len >= sizeof out) return;
    CHECK((size_t)len == strlen(out), "%s: returned length %d, text length %zu", what, len, strlen(out));
    if (strcmp(out, want) != 0) {
        CHECK(0, "%s (%s): rendered text differs", what, sd_chat_template_name(t));
        print_escaped("got ", out);
        print_escaped("want", want);
    }
}

static const family_expect *expect_for(const char *family) {
    for (size_t i = 0; i < SD_ARRAY_LEN(expects); i++)
        if (strcmp(expects[i].family, family) == 0) return &expects[i];
    return NULL;
}

static void check_family(const char *what, const sd_chat_template *t, const family_expect *e) {
    char label[256];
    snprintf(label, sizeof label, "%s, system, generation prompt", what);
    check_render(label, t, with_system, 4, true, e->sys_gen);
    snprintf(label, sizeof label, "%s, system, no generation prompt", what);
    check_render(label, t, with_system, 4, false, e->sys_nogen);
    snprintf(label, sizeof label, "%s, no system", what);
    check_render(label, t, without_system, 3, true, e->nosys_gen);
}

static const sd_chat_template *by_name(const char *name) {
    const sd_chat_template *t = NULL;
    char err[512];
    int rc = sd_chat_template_by_name(name, &t, err, sizeof err);
    CHECK(rc == SD_OK && t, "by name '%s': %d %s", name, rc, err);
    return rc == SD_OK ? t : NULL;
}

/* The families with no real template here, rendered from their names (system, generation prompt). */
static void test_named_families(void) {
    static const struct {
        const char *name;
        const char *want;
    } cases[] = {
        {"phi4", "<|im_start|>system<|im_sep|>" SYS "<|im_end|><|im_start|>user<|im_sep|>" U1
                 "<|im_end|><|im_start|>assistant<|im_sep|>" A1 "<|im_end|><|im_start|>user<|im_sep|>" U2
                 "<|im_end|><|im_start|>assistant<|im_sep|>"},
        {"zephyr", "<|system|>\n" SYS "<|endoftext|>\n<|user|>\n" U1 "<|endoftext|>\n<|assistant|>\n" A1
                   "<|endoftext|>\n<|user|>\n" U2 "<|endoftext|>\n<|assistant|>\n"},
        {"mistral-v7",
         "[SYSTEM_PROMPT] " SYS "[/SYSTEM_PROMPT][INST] " U1 "[/INST] " A1 "</s>[INST] " U2 "[/INST]"},
        {"mistral-v7-tekken",
         "[SYSTEM_PROMPT]" SYS "[/SYSTEM_PROMPT][INST]" U1 "[/INST]" A1 "</s>[INST]" U2 "[/INST]"},
        {"mistral-v1", " [INST] " SYS "\n\n" U1 " [/INST] " A1 "</s> [INST] " U2 " [/INST]"},
        {"mistral-v3", "[INST] " SYS "\n\n" U1 "[/INST] Hi there. How can I help?</s>[INST] " U2 "[/INST]"},
        {"llama2", "[INST] " SYS "\n" U1 " [/INST]" A1 "</s>[INST] " U2 " [/INST]"},
        {"llama2-sys", "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\n" U1 " [/INST]" A1 "</s>[INST] " U2 " [/INST]"},
        {"llama2-sys-bos",
         "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\n" U1 " [/INST]" A1 "</s><s>[INST] " U2 " [/INST]"},
        {"llama2-sys-strip", "[INST] <<SYS>>\n" SYS "\n<</SYS>>\n\n" U1
                             " [/INST]Hi there. How can I help?</s>[INST] " U2 " [/INST]"},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(cases); i++) {
        const sd_chat_template *t = by_name(cases[i].name);
        if (t) check_render(cases[i].name, t, with_system, 4, true, cases[i].want);
    }
    for (size_t i = 0; i < SD_ARRAY_LEN(expects); i++) {
        const sd_chat_template *t = by_name(expects[i].family);
        if (t) check_family(expects[i].family, t, &expects[i]);
    }
}

/* Every built-in name selects its family, from the name and from the name given as template text (as
 * llama.cpp accepts), and has at least one stop string. */
static void test_names_and_stops(void) {
    int n = 0;
    for (const char *name; (name = sd_chat_template_builtin_name(n)); n++) {
        const sd_chat_template *t = by_name(name), *u = NULL;
        CHECK(sd_chat_template_from_text(name, &u, NULL, 0) == SD_OK && u == t, "text '%s'", name);
        CHECK(t && sd_chat_template_stop_string(t, 0), "%s has no stop string", name);
    }
    CHECK(n >= 16, "only %d built-in templates", n);
    CHECK(sd_chat_template_builtin_name(-1) == NULL && sd_chat_template_builtin_name(n) == NULL,
          "past the end");
    static const struct {
        const char *name;
        const char *stop;
    } stops[] = {{"chatml", "<|im_end|>"}, {"llama3", "<|eot_id|>"}, {"gemma", "<end_of_turn>"},
                 {"phi3", "<|end|>"},      {"phi4", "<|im_end|>"},   {"deepseek3", DS_E},
                 {"mistral-v7", "</s>"}};
    for (size_t i = 0; i < SD_ARRAY_LEN(stops); i++) {
        const sd_chat_template *t = by_name(stops[i].name);
        const char *s = t ? sd_chat_template_stop_string(t, 0) : NULL;
        CHECK(s && strcmp(s, stops[i].stop) == 0, "%s stops at %s", stops[i].name, s ? s : "(none)");
    }
    const sd_chat_template *t = by_name("llama3");
    CHECK(t && sd_chat_template_stop_string(t, 2) == NULL && sd_chat_template_stop_string(t, -1) == NULL,
          "stop strings end");
}

/* Detection of the families from short texts shaped like their templates, in llama.cpp's order. */
static void test_detect_synthetic(void) {
    static const struct {
        const char *text;
        const char *family;
    } cases[] = {
        {"{{'<|im_start|>' + m.role + '<|im_sep|>'}}", "phi4"},
        {"{{ '[SYSTEM_PROMPT]' }}{{ '[INST]' }}", "mistral-v7"},
        {"{{ bos_token + ' [INST] ' + system_message }}", "mistral-v1"},
        {"[AVAILABLE_TOOLS]{{ '[INST] ' }}", "mistral-v3"},
        {"{{ bos_token + '[INST] ' + content.strip() }}", "llama2-sys-strip"},
        {"{{ bos_token + '[INST] ' + '<<SYS>>' }}", "llama2-sys-bos"},
        {"{{ '[INST] <<SYS>>' }}", "llama2-sys"},
        {"{{ '[INST] ' + content }}", "llama2"},
        {"{{ '<|user|>\\n' + content + '<|endoftext|>' }}", "zephyr"},
        {"<|start_header_id|>{{ role }}<|end_header_id|>", "llama3"},
    };
    for (size_t i = 0; i < SD_ARRAY_LEN(cases); i++) {
        const sd_chat_template *t = NULL;
        char err[512];
        int rc = sd_chat_template_from_text(cases[i].text, &t, err, sizeof err);
        CHECK(rc == SD_OK && strcmp(sd_chat_template_name(t), cases[i].family) == 0, "'%s' -> %s, want %s",
              cases[i].text, rc == SD_OK ? sd_chat_template_name(t) : err, cases[i].family);
    }
}

static void test_refusals(void) {
    const sd_chat_template *t = NULL;
    char err[1024];
    int rc =
        sd_chat_template_from_text("{% for m in messages %}{{ m.content }}{% endfor %}", &t, err, sizeof err);
    CHECK(rc == SD_ERR_UNSUPPORTED && strstr(err, "not recognised") && strstr(err, "--chat-template NAME") &&
              strstr(err, "chatml") && strstr(err, "mistral-v7"),
          "unknown template: %d %s", rc, err);
    /* llama.cpp knows this family (chatglm4) and renders it; specdec does not. */
    rc = sd_chat_template_from_text("[gMASK]<sop>{{ '<|user|>' }}<|assistant|>", &t, err, sizeof err);
    CHECK(rc == SD_ERR_UNSUPPORTED && strstr(err, "chatglm4") && strstr(err, "--chat-template NAME"),
          "chatglm4: %d %s", rc, err);
    rc = sd_chat_template_by_name("chatml2", &t, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT && strstr(err, "chatml2") && strstr(err, "llama3"), "bad name: %d %s",
          rc, err);

    t = by_name("chatml");
    if (!t) return;
    const sd_chat_message bad_role[] = {{"user", "hi"}, {"tool", "42"}};
    rc = sd_chat_apply(t, bad_role, 2, true, NULL, 0, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT && strstr(err, "message 1") && strstr(err, "'tool'"),
          "bad role: %d %s", rc, err);
    const sd_chat_message no_content[] = {{"user", NULL}};
    rc = sd_chat_apply(t, no_content, 1, true, NULL, 0, err, sizeof err);
    CHECK(rc == SD_ERR_INVALID_ARGUMENT && strstr(err, "content"), "no content: %d %s", rc, err);
    CHECK(sd_chat_apply(NULL, with_system, 4, true, NULL, 0, NULL, 0) == SD_ERR_INVALID_ARGUMENT,
          "no template");
}

/* A buffer that is too small gets a NUL-terminated prefix (as snprintf) and the full length back. */
static void test_small_buffer(void) {
    const sd_chat_template *t = by_name("chatml");
    if (!t) return;
    const char *want = expect_for("chatml")->sys_gen;
    int full = (int)strlen(want);
    CHECK(sd_chat_apply(t, with_system, 4, true, NULL, 0, NULL, 0) == full, "length without a buffer");
    char buf[32];
    memset(buf, 'x', sizeof buf);
    int rc = sd_chat_apply(t, with_system, 4, true, buf, 10, NULL, 0);
    CHECK(rc == full && strlen(buf) == 9 && strncmp(buf, want, 9) == 0 && buf[10] == 'x',
          "10-byte buffer: %d", rc);
    char *exact = malloc((size_t)full + 1);
    rc = sd_chat_apply(t, with_system, 4, true, exact, (size_t)full, NULL, 0);
    CHECK(rc == full && strlen(exact) == (size_t)full - 1, "a buffer one byte short");
    rc = sd_chat_apply(t, with_system, 4, true, exact, (size_t)full + 1, NULL, 0);
    CHECK(rc == full && strcmp(exact, want) == 0, "a buffer just big enough");
    free(exact);
    CHECK(sd_chat_apply(t, with_system, 0, true, buf, sizeof buf, NULL, 0) == 22 &&
              strcmp(buf, "<|im_start|>assistant\n") == 0,
          "no messages");
}

/* Qwen3's thinking tags: llama.cpp's ChatML renderer neither strips <think> blocks from past assistant
 * texts (as the Jinja does) nor adds any; neither do we. */
static void test_qwen3_think_passthrough(void) {
    const sd_chat_template *t = by_name("chatml");
    if (!t) return;
    const sd_chat_message msgs[] = {{"user", "2+2?"}, {"assistant", "<think>\nadd\n</think>\n\n4"}};
    check_render(
        "think tags", t, msgs, 2, true,
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nadd\n</think>\n\n4<|im_end|>\n"
        "<|im_start|>assistant\n");
}

/* Gemma: system texts are trimmed and joined; an all-blank one adds nothing. (llama.cpp of early 2025 kept
 * only the last system text; we follow the mid-2026 renderer, which joins them.) */
static void test_gemma_systems(void) {
    const sd_chat_template *t = by_name("gemma");
    if (!t) return;
    const sd_chat_message msgs[] = {{"system", " A "}, {"system", "  "}, {"system", "B\n"}, {"user", " hi "}};
    check_render("gemma systems", t, msgs, 4, false, "<start_of_turn>user\nAB\n\nhi<end_of_turn>\n");
    const sd_chat_message blank[] = {{"system", " "}, {"user", "hi"}};
    check_render("gemma blank system", t, blank, 2, false, "<start_of_turn>user\nhi<end_of_turn>\n");
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        rewind(f);
        buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n)
            buf[n] = '\0';
        else {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Returns false when the shared folder is absent. */
static bool test_real_templates(void) {
    const char *shared = getenv("SD_SHARED_DIR");
    char path[4096];
    for (size_t i = 0; i < SD_ARRAY_LEN(real_templates); i++) {
        snprintf(path, sizeof path, "%s/chat-templates/%s", shared ? shared : "", real_templates[i].file);
        char *text = shared ? read_text(path) : NULL;
        if (!text) {
            fprintf(stderr, "test_chat: %s not found: skipping the real templates\n", path);
            return false;
        }
        const sd_chat_template *t = NULL;
        char err[1024];
        int rc = sd_chat_template_from_text(text, &t, err, sizeof err);
        CHECK(rc == SD_OK && strcmp(sd_chat_template_name(t), real_templates[i].family) == 0,
              "%s: %s, want %s", real_templates[i].file, rc == SD_OK ? sd_chat_template_name(t) : err,
              real_templates[i].family);
        if (rc == SD_OK) check_family(real_templates[i].file, t, expect_for(real_templates[i].family));
        free(text);
    }
    return true;
}

/* tokenizer.chat_template read from GGUF metadata: present, absent, of the wrong type, with a NUL. */
static void test_gguf_text(void) {
    static const char jinja[] = "{{ '<|im_start|>' }}";
    for (int variant = 0; variant < 4; variant++) {
        sd_gguf_writer *w = sd_gguf_writer_create();
        char err[256];
        int rc = SD_OK;
        if (variant == 0) rc = sd_gguf_writer_add_str(w, SD_CHAT_TEMPLATE_KEY, jinja, err, sizeof err);
        if (variant == 1) rc = sd_gguf_writer_add_str(w, "general.name", "x", err, sizeof err);
        if (variant == 2) rc = sd_gguf_writer_add_u32(w, SD_CHAT_TEMPLATE_KEY, 7, err, sizeof err);
        if (variant == 3) rc = sd_gguf_writer_add_strn(w, SD_CHAT_TEMPLATE_KEY, "a\0b", 3, err, sizeof err);
        void *data = NULL;
        size_t size = 0;
        sd_gguf *g = NULL;
        if (rc == SD_OK) rc = sd_gguf_writer_write_memory(w, &data, &size, err, sizeof err);
        if (rc == SD_OK) rc = sd_gguf_open_memory(data, size, &g, err, sizeof err);
        CHECK(rc == SD_OK, "gguf variant %d: %s", variant, err);
        if (rc == SD_OK) {
            char buf[64];
            int len = sd_chat_template_text_from_gguf(g, buf, sizeof buf);
            int want = variant == 0 ? (int)strlen(jinja) : variant == 1 ? 0 : SD_STATUS_FORMAT;
            CHECK(len == want, "gguf variant %d: %d, want %d", variant, len, want);
            if (variant == 0) {
                CHECK(strcmp(buf, jinja) == 0, "gguf text '%s'", buf);
                char small[5];
                len = sd_chat_template_text_from_gguf(g, small, sizeof small);
                CHECK(len == (int)strlen(jinja) && strcmp(small, "{{ '") == 0, "gguf text in 5 bytes: '%s'",
                      small);
            }
            sd_gguf_close(g);
        }
        free(data);
        sd_gguf_writer_free(w);
    }
}

/* The public wrapper on a loaded model: the bundled model has no template. */
static void test_model_template(void) {
    const char *dir = getenv("SD_MODELS_DIR");
    if (!dir) return;
    char path[4096], err[256], buf[8] = "x";
    snprintf(path, sizeof path, "%s/stories260K.gguf", dir);
    sd_model *m = NULL;
    int rc = sd_model_load(path, &m, err, sizeof err);
    CHECK(rc == SD_OK, "%s: %s", path, err);
    if (rc != SD_OK) return;
    CHECK(sd_model_chat_template(m, buf, sizeof buf) == 0 && buf[0] == '\0', "stories260K has no template");
    sd_model_free(m);
}

static int write_gguf(const char *path, const char *text) {
    char err[256];
    sd_gguf_writer *w = sd_gguf_writer_create();
    int rc = w ? sd_gguf_writer_add_str(w, SD_CHAT_TEMPLATE_KEY, text, err, sizeof err) : SD_STATUS_NO_MEMORY;
    if (rc == SD_OK) rc = sd_gguf_writer_write_file(w, path, err, sizeof err);
    sd_gguf_writer_free(w);
    if (rc != SD_OK) fprintf(stderr, "test_chat: %s: %s\n", path, err);
    return rc == SD_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--write-gguf") == 0) return write_gguf(argv[2], argv[3]);
    test_named_families();
    test_names_and_stops();
    test_detect_synthetic();
    test_refusals();
    test_small_buffer();
    test_qwen3_think_passthrough();
    test_gemma_systems();
    test_gguf_text();
    test_model_template();
    bool had_shared = test_real_templates();
    int rc = test_finish("test_chat");
    return rc == 0 && !had_shared ? 77 : rc; /* 77: meson's "skipped" */
}
