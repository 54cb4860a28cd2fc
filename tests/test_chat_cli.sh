#!/usr/bin/env bash
# specdec chat-template as a user meets it: the rendered prompt is printed exactly (from a name, a Jinja
# file and a model's metadata), and each bad input gives one line on stderr and exit 1 (2 for a bad flag).
# Usage: test_chat_cli.sh PATH/TO/specdec PATH/TO/test_chat (for --write-gguf); $SD_SHARED_DIR optional.
set -u
SPECDEC="$1" TEST_CHAT="$2"
source "$(dirname "$0")/cli_expect.sh"

# same_output FILE -- command...: stdout byte for byte equal to FILE, exit 0
same_output() {
    local want="$1"
    shift 2
    if ! "$@" >"$TMP/out" 2>"$TMP/err"; then
        fail "'$*' failed: $(head -c 300 "$TMP/err")"
    elif ! cmp -s "$TMP/out" "$want"; then
        fail "'$*' printed $(od -c "$TMP/out" | head -5), expected $(od -c "$want" | head -5)"
    fi
}

cat >"$TMP/conv.json" <<'JSON'
[{"role": "system", "content": "Be brief."},
 {"role": "user", "content": "Hi"},
 {"role": "assistant", "content": "Hello."},
 {"role": "user", "content": "2+2?"}]
JSON
printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n' >"$TMP/chatml_nogen"
{ cat "$TMP/chatml_nogen"; printf '<|im_start|>assistant\n'; } >"$TMP/chatml_gen"
printf '<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n' >"$TMP/gemma_gen"

# Success: by name, from a Jinja file, from a model's metadata.
same_output "$TMP/chatml_gen" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/conv.json"
same_output "$TMP/chatml_nogen" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/conv.json" \
    --no-generation-prompt
printf '{%% for m in messages %%}{{ "<start_of_turn>" + m.role }}{%% endfor %%}' >"$TMP/gemma.jinja"
same_output "$TMP/gemma_gen" -- "$SPECDEC" chat-template --chat-template-file "$TMP/gemma.jinja" \
    --messages "$TMP/conv.json"
"$TEST_CHAT" --write-gguf "$TMP/chatml.gguf" "{{ '<|im_start|>' + message['role'] }}" || fail "writing a GGUF"
same_output "$TMP/chatml_gen" -- "$SPECDEC" chat-template -m "$TMP/chatml.gguf" --messages "$TMP/conv.json"
if [ -n "${SD_SHARED_DIR:-}" ] && [ -f "$SD_SHARED_DIR/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja" ]; then
    same_output "$TMP/chatml_gen" -- "$SPECDEC" chat-template --messages "$TMP/conv.json" \
        --chat-template-file "$SD_SHARED_DIR/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja"
fi
expect 0 "usage: specdec chat-template" -- "$SPECDEC" chat-template --help
expect 0 "chat-template" -- "$SPECDEC" --help

# Bad input: exit 1, one line.
expect 1 "nonexistent.json" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/nonexistent.json"
expect 1 "nonexistent.jinja" -- "$SPECDEC" chat-template --chat-template-file "$TMP/nonexistent.jinja" \
    --messages "$TMP/conv.json"
expect 1 "nonexistent.gguf" -- "$SPECDEC" chat-template -m "$TMP/nonexistent.gguf" --messages "$TMP/conv.json"
printf '[{"role": "user", "content": "Hi"}' >"$TMP/broken.json"
expect 1 "not valid JSON" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/broken.json"
printf '{"role": "user", "content": "Hi"}' >"$TMP/object.json"
expect 1 "JSON list" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/object.json"
printf '[{"role": "user", "content": 7}]' >"$TMP/number.json"
expect 1 "message 0 .*content" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/number.json"
printf '[{"role": "user", "content": "Hi"}, {"role": "wizard", "content": "Hi"}]' >"$TMP/role.json"
expect 1 "message 1 has role 'wizard'" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/role.json"
expect 1 "unknown chat template 'chatml9'.*llama3" -- "$SPECDEC" chat-template --chat-template chatml9 \
    --messages "$TMP/conv.json"
printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}' >"$TMP/plain.jinja"
expect 1 "not recognised.*--chat-template NAME.*chatml" -- "$SPECDEC" chat-template --chat-template-file \
    "$TMP/plain.jinja" --messages "$TMP/conv.json"
"$TEST_CHAT" --write-gguf "$TMP/plain.gguf" "{{ messages }}" || fail "writing a GGUF"
expect 1 "not recognised.*--chat-template NAME" -- "$SPECDEC" chat-template -m "$TMP/plain.gguf" \
    --messages "$TMP/conv.json"
expect 1 "no tokenizer.chat_template.*--chat-template NAME" -- "$SPECDEC" chat-template \
    -m "$SD_MODELS_DIR/stories260K.gguf" --messages "$TMP/conv.json"

# Bad flags: exit 2, one line.
expect 2 "unknown flag '--bogus'" -- "$SPECDEC" chat-template --chat-template chatml --messages "$TMP/conv.json" \
    --bogus
expect 2 "flag '--messages' needs a value" -- "$SPECDEC" chat-template --chat-template chatml --messages
expect 2 "--messages FILE.json is required" -- "$SPECDEC" chat-template --chat-template chatml
expect 2 "exactly one of" -- "$SPECDEC" chat-template --messages "$TMP/conv.json"
expect 2 "exactly one of" -- "$SPECDEC" chat-template --chat-template chatml -m "$TMP/chatml.gguf" \
    --messages "$TMP/conv.json"

# generate --chat: the prompt as one user turn; the rendered prompt on stderr with --verbose-prompt.
"$SPECDEC" generate --chat --chat-template chatml --system "Be brief." -p "2+2?" -n 2 --temp 0 \
    --verbose-prompt >"$TMP/out" 2>"$TMP/err" || fail "generate --chat failed: $(head -c 300 "$TMP/err")"
printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n\n' \
    >"$TMP/want_prompt"
head -c "$(wc -c <"$TMP/want_prompt")" "$TMP/err" | cmp -s - "$TMP/want_prompt" ||
    fail "--verbose-prompt printed $(head -c 200 "$TMP/err")"
"$SPECDEC" generate -cnv --chat-template-file "$TMP/gemma.jinja" -p "Hi" -n 2 --temp 0 --verbose-prompt \
    >/dev/null 2>"$TMP/err" || fail "generate -cnv failed"
grep -q '^<start_of_turn>user$' "$TMP/err" || fail "-cnv with a gemma file: $(head -c 200 "$TMP/err")"
expect 1 "not recognised.*--chat-template NAME" -- "$SPECDEC" generate --chat --chat-template-file "$TMP/plain.jinja" \
    -p "Hi" -n 2
expect 1 "no tokenizer.chat_template.*--chat-template NAME" -- "$SPECDEC" generate --chat -p "Hi" -n 2
expect 1 "unknown chat template 'chatml9'" -- "$SPECDEC" generate --chat --chat-template chatml9 -p "Hi" -n 2
expect 2 "need --chat" -- "$SPECDEC" generate --system "Be brief." -p "Hi" -n 2
expect 2 "turns come from the terminal" -- "$SPECDEC" chat --chat-template chatml -p "Hi"
expect 1 "not recognised.*--chat-template NAME" -- "$SPECDEC" chat --chat-template-file "$TMP/plain.jinja"

if [ "$fails" -ne 0 ]; then
    echo "test_chat_cli: $fails failures"
    exit 1
fi
echo "test_chat_cli: ok"
