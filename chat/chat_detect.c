/* Which chat-template family a Jinja text belongs to, decided as llama.cpp decides it: a fixed sequence of
 * substring tests on the raw text (no Jinja is parsed), the first that passes wins. The order matters and
 * follows llama.cpp's llm_chat_detect_template (mid 2026) up to DeepSeek 3, the last family specdec
 * renders; the families between that specdec does not render are still recognised, so their templates are
 * refused by name instead of being taken for a family tested later. (Early 2025 tested chatglm4 after
 * llama3 and knew no smolvlm or talkie; none of the nine real templates depends on that.) */
#include <stdbool.h>
#include <string.h>

#include "chat/chat.h"

static bool has(const char *text, const char *needle) {
    return strstr(text, needle) != NULL;
}

/* The templates built around [INST] ... [/INST]: Mistral's official ones, else Llama 2 and its variants. */
static const char *inst_family(const char *t) {
    if (has(t, "[SYSTEM_PROMPT]")) return "mistral-v7";
    /* Mistral's v1 template adds the system message with ' [INST] ' + system_message; v3 and v3-tekken
     * carry tool-calling blocks. */
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
        if (has(t, " [INST]")) return "mistral-v1";
        if (has(t, "\"[INST]\"")) return "mistral-v3-tekken";
        return "mistral-v3";
    }
    if (has(t, "content.strip()")) return "llama2-sys-strip";
    if (has(t, "bos_token + '[INST]")) return "llama2-sys-bos";
    if (has(t, "<<SYS>>")) return "llama2-sys";
    return "llama2";
}

const char *sd_chat_detect_family(const char *t) {
    if (has(t, "<|im_start|>")) {
        if (has(t, "<|im_sep|>")) return "phi4";
        if (has(t, "<end_of_utterance>")) return "smolvlm"; /* <|im_start|> as BOS, but not ChatML turns */
        return "chatml";
    }
    if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]")) return inst_family(t);
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) {
        /* Talkie shares Phi-3's role tags but puts no newline after them. */
        if (has(t, "|>{{ message['content'] }}<|end|>") || has(t, "|>{{ m.content }}<|end|>"))
            return "talkie";
        return "phi3";
    }
    if (has(t, "[gMASK]<sop>")) return "chatglm4";
    if (has(t, "<|assistant|>") && has(t, "<|user|>")) {
        if (has(t, "<|tool_declare|>")) return "exaone-moe";
        return has(t, "</s>") ? "falcon3" : "glmedge";
    }
    if (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>")) return "glmedge";
    if (has(t, "<|user|>") && has(t, "<|endoftext|>")) return "zephyr";
    if (has(t, "bos_token + message['role']")) return "monarch";
    if (has(t, "<start_of_turn>")) return "gemma";
    if (has(t, "'\\n\\nAssistant: ' + eos_token")) return "orion";
    if (has(t, "GPT4 Correct ")) return "openchat";
    if (has(t, "USER: ") && has(t, "ASSISTANT: ")) return has(t, "SYSTEM: ") ? "vicuna-orca" : "vicuna";
    if (has(t, "### Instruction:") && has(t, "<|EOT|>")) return "deepseek";
    if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>")) return "command-r";
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return "llama3";
    if (has(t, "[gMASK]sop")) return "chatglm3";
    if (has(t, "<\xe7\x94\xa8\xe6\x88\xb7>")) return "minicpm"; /* "<用户>" */
    if (has(t, "'Assistant: ' + message['content'] + eos_token")) return "deepseek2";
    /* DeepSeek's full-width bars and the lower one-eighth block: <｜Assistant｜>, <｜User｜>,
     * <｜end▁of▁sentence｜>. */
    if (has(t, "<\xef\xbd\x9c"
               "Assistant\xef\xbd\x9c>") &&
        has(t, "<\xef\xbd\x9c"
               "User\xef\xbd\x9c>") &&
        has(t, "<\xef\xbd\x9c"
               "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"))
        return "deepseek3";
    return NULL;
}
