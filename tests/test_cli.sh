#!/usr/bin/env bash
# The command line as a user meets it: help, bad flags and bad files give one-line errors and the right
# exit codes; generate/tokenize/info produce well-formed output. Usage: test_cli.sh PATH/TO/specdec
set -u
SPECDEC="$1"
M="$SD_MODELS_DIR"
source "$(dirname "$0")/cli_expect.sh"

expect 0 "usage: specdec generate" -- "$SPECDEC" generate --help
expect 0 "usage: specdec tokenize" -- "$SPECDEC" tokenize --help
expect 0 "usage: specdec info" -- "$SPECDEC" info --help
expect 0 "commands:" -- "$SPECDEC" --help
expect 2 "unknown command 'frobnicate'" -- "$SPECDEC" frobnicate
expect 2 "usage" -- "$SPECDEC"
expect 2 "unknown flag '--bogus'" -- "$SPECDEC" generate -p hi --bogus
expect 2 "flag '-n' needs an integer" -- "$SPECDEC" generate -p hi -n lots
expect 2 "flag '--temp' needs a number" -- "$SPECDEC" generate -p hi --temp -1
expect 2 "flag '-m' needs a value" -- "$SPECDEC" generate -p hi -m
expect 2 "exactly one of -p" -- "$SPECDEC" generate
expect 1 "nonexistent.gguf: .*(No such file|cannot open)" -- "$SPECDEC" info -m "$TMP/nonexistent.gguf"
expect 1 "is a directory|not a regular file" -- "$SPECDEC" info -m "$TMP"
head -c 100000 "$M/codepair-target-q4_0.gguf" >"$TMP/truncated.gguf"
expect 1 "truncated.gguf: .*(past end of file|truncated)" -- "$SPECDEC" generate -m "$TMP/truncated.gguf" -p hi
printf 'hello, not a model at all' >"$TMP/text.gguf"
expect 1 "text.gguf: .*magic" -- "$SPECDEC" info -m "$TMP/text.gguf"
: >"$TMP/empty.gguf"
expect 1 "empty.gguf: " -- "$SPECDEC" info -m "$TMP/empty.gguf"
# Vocab-only files: generate says it needs weights (whatever the architecture); tokenize reads them. The ids
# of "Hello world" are line 12 of each file's .out (llama.cpp's reference tokenizer, no BOS).
expect 1 "gpt-2.gguf: a vocab-only file .*needs a model with weights" -- "$SPECDEC" generate -m "$SD_TEST_DATA/vocab/ggml-vocab-gpt-2.gguf" -p hi
expect 1 "llama-spm.gguf: a vocab-only file .*needs a model with weights" -- "$SPECDEC" generate -m "$SD_TEST_DATA/vocab/ggml-vocab-llama-spm.gguf" -p hi
for v in gpt-2 llama-spm deepseek-coder starcoder; do
    f="$SD_TEST_DATA/vocab/ggml-vocab-$v.gguf"
    want="[$(sed -n 12p "$f.out" | sed 's/^ *//; s/ /, /g')]"
    expect 0 "" -- "$SPECDEC" tokenize -m "$f" -p "Hello world" --ids --no-bos
    [ "$(cat "$TMP/out")" = "$want" ] || fail "tokenize $v 'Hello world' printed $(cat "$TMP/out"), expected $want"
done
expect 0 "<s>" -- "$SPECDEC" tokenize -m "$SD_TEST_DATA/vocab/ggml-vocab-llama-spm.gguf" -p "Hello world"
expect 1 "nope.txt: " -- "$SPECDEC" generate -f "$TMP/nope.txt"

# A prompt longer than the context is refused with the sizes.
long=$(for i in $(seq 1 200); do printf 'int x%d = %d;\n' "$i" "$i"; done)
expect 1 "does not fit the context of 64 tokens" -- "$SPECDEC" generate -c 64 -p "$long" -n 4

expect 0 "architecture: +llama" -- "$SPECDEC" info -m "$M/codepair-target-q4_0.gguf"
expect 0 "q4_0" -- "$SPECDEC" info -m "$M/codepair-target-q4_0.gguf"
expect 0 "tied to the token embedding" -- "$SPECDEC" info -m "$M/codepair-draft-f32.gguf"

# tokenize --ids matches the golden prompt ids of stories260K ("Once upon a time").
expect 0 "" -- "$SPECDEC" tokenize -m "$M/stories260K.gguf" -p "Once upon a time" --ids
[ "$(cat "$TMP/out")" = "[1, 403, 407, 261, 378]" ] || fail "tokenize --ids printed $(cat "$TMP/out")"
expect 0 "" -- "$SPECDEC" tokenize -m "$M/stories260K.gguf" -p "Once upon a time" --ids --no-bos
[ "$(cat "$TMP/out")" = "[403, 407, 261, 378]" ] || fail "tokenize --no-bos printed $(cat "$TMP/out")"

# generate --json: one JSON object with the documented fields; greedy is deterministic.
expect 0 "" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 16 --temp 0 --json -t 1
python3 - "$TMP/out" <<'PY' || fail "generate --json output is wrong: $(cat "$TMP/out")"
import json, sys
o = json.load(open(sys.argv[1]))
for k in ("text", "tokens", "n_prompt", "n_gen", "prompt_tps", "tps", "mode"):
    assert k in o, k
assert o["mode"] == "plain" and o["n_prompt"] == 5 and o["n_gen"] == 16 and len(o["tokens"]) == 16
assert o["tokens"][:4] == [432, 383, 286, 261], o["tokens"]
assert isinstance(o["text"], str) and len(o["text"]) > 0
PY
cp "$TMP/out" "$TMP/first.json"
expect 0 "" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 16 --temp 0.9 --seed 7 --json
cp "$TMP/out" "$TMP/s1.json"
expect 0 "" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 16 --temp 0.9 --seed 7 --json
python3 - "$TMP/s1.json" "$TMP/out" <<'PY' || fail "the same seed gave different tokens"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["tokens"] == b["tokens"]
PY

# Streaming text mode with the bundled default model, and timings on stderr.
expect 0 "generated 8 tokens" -- "$SPECDEC" generate -p "static int" -n 8 --temp 0
[ -s "$TMP/out" ] || fail "generate printed no text"
grep -q "target .*codepair-target-q4_0.gguf, draft .*codepair-draft-f32.gguf" "$TMP/err" ||
    fail "without -m/-md generate does not use the bundled pair: $(head -c 300 "$TMP/err")"
# The bundled pair, greedy, with --compare: identical to plain decoding, speed-up measured.
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 24 --temp 0 --compare --json
python3 - "$TMP/out" <<'PY' || fail "generate --compare --json is wrong: $(cat "$TMP/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["mode"] == "spec" and o["identical"] is True and o["speedup"] > 0
for k in ("n_drafted", "n_accepted", "acceptance", "tokens_per_round", "k_trace", "t_draft_s", "t_verify_s"):
    assert k in o, k
assert len(o["k_trace"]) >= 1 and o["n_gen"] == 24
assert o["rounds_without_draft"] == sum(1 for k in o["k_trace"] if k == 0)
# resources, speculative and plain side by side: the draft's cache adds to the target's
assert o["peak_rss_bytes"] > 1e6 and o["plain_peak_rss_bytes"] > 1e6
assert o["kv_bytes"] > o["plain_kv_bytes"] > 0
assert o["cpu_s_per_token"] > 0 and o["plain_cpu_s_per_token"] > 0
assert o["n_ctx_shifts"] == 0 and o["plain_n_ctx_shifts"] == 0
PY
# --context-shift: 10x a context of 64 tokens, speculative identical to plain, shifts reported
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 640 -c 64 --context-shift --keep 4 --ignore-eos --temp 0 \
    --compare --json
python3 - "$TMP/out" <<'PY' || fail "generate --context-shift --compare --json is wrong: $(head -c 400 "$TMP/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["identical"] is True and o["n_gen"] == 640, (o["identical"], o["n_gen"])
assert o["n_ctx_shifts"] >= 10 and o["n_ctx_shifts"] == o["plain_n_ctx_shifts"], o["n_ctx_shifts"]
PY
# the same with a draft of another vocabulary (its own tokens re-read from the shifted text)
expect 0 "" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -md "$M/codepair-draft-f32.gguf" -p "Once upon a time" \
    -n 320 -c 64 --context-shift --ignore-eos --temp 0 --draft 3 -t 1 --compare --json
python3 - "$TMP/out" <<'PY' || fail "cross-vocabulary --context-shift is wrong: $(head -c 400 "$TMP/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["identical"] is True and o["n_gen"] == 320 and o["n_ctx_shifts"] >= 5, (o["identical"], o["n_gen"])
PY
expect 0 "context full" -- "$SPECDEC" generate -p "static int" -n 640 -c 64 --ignore-eos --temp 0
expect 2 "would never stop" -- "$SPECDEC" generate -p "static int" -n -1 --context-shift
expect 2 "keep" -- "$SPECDEC" generate -p "static int" --context-shift --keep -3
# The text report says in one line when most rounds drafted nothing (the controller's floor: the bundled
# pair sits in cache, so drafting rarely pays), with the measured acceptance and draft cost; with --draft 0
# no round drafts and nothing measured says why.
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 24 --temp 0 --draft 0 --compare
grep -qE "^specdec: speculation off in ([0-9]+) of \1 rounds: no round drafted \(a fixed --draft 0" "$TMP/err" ||
    fail "no speculation-off line with --draft 0: $(cat "$TMP/err")"
[ "$(grep -c "speculation off" "$TMP/err")" = 1 ] || fail "speculation-off line not printed once"
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 24 --temp 0 --draft 2 --compare
grep -q "speculation off" "$TMP/err" && fail "speculation-off line with --draft 2: $(cat "$TMP/err")"
expect 2 "needs seq, pipe or auto" -- "$SPECDEC" generate -p hi --schedule fast
# --spec: n-grams of the context without a draft model (-m only, and the bundled target alone), llama.cpp's
# --spec-type names as aliases, both sources by name; identical to plain decoding; bad names refused.
ECHO_PROMPT=$'case A: return a;\ncase B: return b;\ncase C: return c;\ncase '
expect 0 "" -- "$SPECDEC" generate -m "$M/codepair-target-q4_0.gguf" --spec ngram -p "$ECHO_PROMPT" -n 32 --temp 0 --compare --json
python3 - "$TMP/out" <<'PY' || fail "generate --spec ngram --compare is wrong: $(cat "$TMP/out")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["mode"] == "spec" and o["identical"] is True, o
assert o["n_drafted_ngram"] == o["n_drafted"] > 0 and o["n_accepted_ngram"] == o["n_accepted"], o
PY
expect 0 "by source: draft model 0 drafted, 0 accepted; n-gram" -- "$SPECDEC" generate --spec-type ngram-simple -p "$ECHO_PROMPT" -n 16 --temp 0
grep -q "codepair-draft" "$TMP/err" && fail "--spec ngram loaded the bundled draft"
expect 0 "by source: draft model [0-9]+ drafted" -- "$SPECDEC" generate --spec draft-simple,ngram -p "$ECHO_PROMPT" -n 16 --temp 0
expect 2 "needs draft, ngram or draft,ngram" -- "$SPECDEC" generate -p hi --spec ngram-cache
expect 1 "the draft source needs a draft model" -- "$SPECDEC" generate -m "$M/codepair-target-q4_0.gguf" --spec draft -p hi -n 2
expect 1 "cross-vocabulary drafting is off" -- "$SPECDEC" generate -m "$M/codepair-target-q4_0.gguf" -md "$M/stories260K.gguf" -p hi --no-cross-vocab
# without --no-cross-vocab the same pair drafts by text, and the report says so (outputs identical)
expect 0 "cross-vocabulary draft by text" -- "$SPECDEC" generate -m "$M/codepair-target-q4_0.gguf" -md "$M/stories260K.gguf" -p hi -n 8 --temp 0 --compare -t 1
expect 0 "token strings shared" -- "$SPECDEC" info -m "$M/codepair-target-q4_0.gguf" -md "$M/stories260K.gguf"
expect 0 "synth" -- "$SPECDEC" synth --help
expect 0 "would write" -- "$SPECDEC" synth --grow "$M/codepair-target-q4_0.gguf" --params 2e7 --dry-run -o "$TMP/g.gguf"
expect 2 "" -- "$SPECDEC" synth --grow "$M/codepair-target-q4_0.gguf" --bogus
# -n 0 generates nothing; an empty prompt is just BOS.
expect 0 "generated 0 tokens" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "Once" -n 0
expect 0 "generated 4 tokens" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "" -n 4 --temp 0
# Prompt bytes that are not UTF-8 are tokenized (byte fallback), not rejected or crashed on.
printf 'int \xff\xfe x;\n' >"$TMP/bad-utf8.c"
expect 0 "generated 4 tokens" -- "$SPECDEC" generate -f "$TMP/bad-utf8.c" -n 4 --temp 0

# --kernels forces a kernel set: every set the CPU has gives the same greedy text; an unknown name and a
# set this CPU lacks are refused with one line.
expect 1 "kernel set bogus is unknown" -- "$SPECDEC" generate -p hi -n 2 --kernels bogus
case "$(uname -m)" in x86_64) foreign=neon ;; *) foreign=avx2 ;; esac
expect 1 "kernel set $foreign: this CPU or build lacks it" -- "$SPECDEC" generate -p hi -n 2 --kernels $foreign
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 12 --temp 0 --json --kernels scalar
cp "$TMP/out" "$TMP/scalar.json"
expect 0 "" -- "$SPECDEC" generate -p "static int" -n 12 --temp 0 --json
python3 - "$TMP/scalar.json" "$TMP/out" <<'PY' || fail "--kernels scalar differs from the default set"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a["kernels"] == "scalar" and b["kernels"] != "scalar", (a["kernels"], b["kernels"])
assert a["text"] == b["text"], (a["text"], b["text"])
PY
# --ignore-eos: exactly -n tokens, plain and speculative.
expect 0 "generated 40 tokens" -- "$SPECDEC" generate -m "$M/stories260K.gguf" -p "Once" -n 40 --ignore-eos --temp 1 -s 3
expect 0 "generated 40 tokens" -- "$SPECDEC" generate -p "}" -n 40 --ignore-eos --temp 0
expect 2 "flag '--kernels' needs a value" -- "$SPECDEC" bench-gemm --kernels

if [ "$fails" -ne 0 ]; then
    echo "test_cli: $fails check(s) failed"
    exit 1
fi
echo "test_cli: all checks passed"
