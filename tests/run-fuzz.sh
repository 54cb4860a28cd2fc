#!/usr/bin/env bash
# Builds specdec's libFuzzer targets with clang (ASan + UBSan + the fuzzer runtime) into their own build
# folder, replays the saved crash inputs, then fuzzes each target for a bounded time.
#
#   tests/run-fuzz.sh [TARGET...]      targets: gguf vocab_load tokenize detokenize prompt_file serve_request (default: all)
#   FUZZ_SECONDS=60                    seconds of fuzzing per target
#   FUZZ_JOBS=N                        targets fuzzed at once (default: the CPU count)
#   FUZZ_BUILD_DIR=build-fuzz          where the binaries and the growing corpora live
#   CLANG=clang                        the compiler
#
# The library sources a target needs are compiled directly with clang, so the normal gcc/meson build never
# needs clang. Seed corpora are generated from the bundled models and tokenizer vectors (small pieces:
# the first KBs of each GGUF, a tiny complete GGUF, the .inp test strings and .out id lists), not kept
# in git. A crash, leak, timeout or out-of-memory input is written to tests/data/fuzz-regressions/<target>/
# (libFuzzer's -artifact_prefix), where the meson tests 'fuzz_replay_<target>' replay it from then on.
# Prints "N passed, M failed" (N, M = fuzz targets) last; exits non-zero if any target failed.
set -u
cd "$(dirname "$0")/.."
root=$PWD
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
cc=${CLANG:-clang}
all_targets=(gguf vocab_load tokenize detokenize prompt_file serve_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
mkdir -p "$build"

cflags=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -std=c11 -D_GNU_SOURCE -DSD_LIBFUZZER "-DSD_FUZZ_DATA_DIR=\"$root/tests/data\"" -I. -Iinclude
        -Wall -Wextra)
gguf_src=(gguf/gguf.c common/sd_weight_type.c common/sd_common.c common/sd_hash.c common/sd_strtab.c)
tok_src=("${gguf_src[@]}" common/sd_utf8.c tokenizer/vocab.c tokenizer/tok_spm.c tokenizer/tok_bpe.c tokenizer/tok_util.c)

# build TARGET: compiles $build/fuzz_TARGET.
build_target() {
    local t=$1 src libs=()
    case $t in
    gguf) src=(tests/test_gguf_fuzz.c "${gguf_src[@]}") ;;
    vocab_load | tokenize | detokenize) src=("tests/fuzz/fuzz_$t.c" "${tok_src[@]}"); libs=(-lpcre2-8) ;;
    prompt_file) src=(tests/fuzz/fuzz_prompt_file.c cli/args.c common/sd_cache_type.c "${tok_src[@]}"); libs=(-lpcre2-8 -lm) ;;
    serve_request) src=(tests/fuzz/fuzz_serve_request.c server/request.c); libs=(-lcjson -lm) ;;
    *) echo "unknown fuzz target '$t' (known: ${all_targets[*]})"; return 1 ;;
    esac
    "$cc" "${cflags[@]}" "${src[@]}" "${libs[@]}" -o "$build/fuzz_$t"
}

# seed TARGET DIR: writes the seed inputs of one target into DIR.
seed_target() {
    python3 - "$1" "$2" "$root" <<'PY'
import glob, hashlib, os, struct, sys
target, out, root = sys.argv[1:4]
os.makedirs(out, exist_ok=True)
def put(data):
    with open(os.path.join(out, "seed-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)

def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b

def gguf(kv, tensors=()):
    """GGUF v3 bytes from (key, type, payload) triples and (name, ne, ggml type, n_bytes) tensors."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        head += gguf_str(k) + struct.pack("<I", t) + v
    off = 0
    for name, ne, typ, nbytes in tensors:
        head += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", n) for n in ne)
        head += struct.pack("<IQ", typ, off)
        off += (nbytes + 31) // 32 * 32
    head += b"\0" * (-len(head) % 32)
    return head + bytes(i % 256 for i in range(off))

def str_arr(items):
    return struct.pack("<IQ", 8, len(items)) + b"".join(gguf_str(s) for s in items)

def num_arr(fmt, typ, items):
    return struct.pack("<IQ", typ, len(items)) + b"".join(struct.pack(fmt, x) for x in items)

def tiny_vocab(kind):
    """A complete vocabulary of a dozen tokens: SentencePiece ("llama") or byte-level BPE ("gpt2")."""
    if kind == "llama":
        toks = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "<0xFF>", "\u2581", "\u2581a", "a", "b", "ab", "\u2581ab"]
        types = [2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1]
        kv = [("tokenizer.ggml.model", 8, gguf_str("llama"))]
    else:
        toks = ["a", "b", "ab", "\u0120", "\u0120a", "\u010a", "<|endoftext|>", "!", "1", "12"]
        types = [1, 1, 1, 1, 1, 1, 3, 1, 1, 1]
        kv = [("tokenizer.ggml.model", 8, gguf_str("gpt2")), ("tokenizer.ggml.pre", 8, gguf_str("gpt-2")),
              ("tokenizer.ggml.merges", 9, str_arr(["a b", "\u0120 a", "1 2"]))]
    kv += [("tokenizer.ggml.tokens", 9, str_arr(toks)),
           ("tokenizer.ggml.scores", 9, num_arr("<f", 6, [-float(i) for i in range(len(toks))])),
           ("tokenizer.ggml.token_type", 9, num_arr("<i", 5, types)),
           ("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1 if kind == "llama" else 6)),
           ("tokenizer.ggml.eos_token_id", 4, struct.pack("<I", 2 if kind == "llama" else 6)),
           ("tokenizer.ggml.add_bos_token", 7, b"\x01")]
    return gguf(kv)

def tiny_gguf():
    """A complete, valid GGUF v3 with one key of every value type and an F32 and a Q4_0 tensor."""
    kv = [("general.architecture", 8, gguf_str("llama")), ("general.alignment", 4, struct.pack("<I", 32)),
          ("u8", 0, b"\x07"), ("i8", 1, b"\xf9"), ("u16", 2, struct.pack("<H", 7)), ("i16", 3, struct.pack("<h", -7)),
          ("i32", 5, struct.pack("<i", -7)), ("f32", 6, struct.pack("<f", 1.5)), ("b", 7, b"\x01"),
          ("u64", 10, struct.pack("<Q", 7)), ("i64", 11, struct.pack("<q", -7)), ("f64", 12, struct.pack("<d", 0.5)),
          ("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + gguf_str("<s>") + gguf_str("a") + gguf_str("b")),
          ("arr.i32", 9, struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, -1))]
    tensors = [("token_embd.weight", [4, 2], 0, 32), ("blk.0.attn_q.weight", [32, 1], 2, 18)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for k, t, v in kv:
        head += gguf_str(k) + struct.pack("<I", t) + v
    off = 0
    for name, ne, typ, nbytes in tensors:
        head += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<q", n) for n in ne)
        head += struct.pack("<IQ", typ, off)
        off += (nbytes + 31) // 32 * 32
    head += b"\0" * (-len(head) % 32)
    return head + bytes(range(off))

def split_inp(path):
    return open(path, "rb").read().split(b"\n__ggml_vocab_test__\n")

vocab = os.path.join(root, "tests", "data", "vocab")
if target == "gguf":
    put(tiny_gguf())
    for path in sorted(glob.glob(os.path.join(root, "models", "*.gguf")) + glob.glob(os.path.join(vocab, "*.gguf"))):
        data = open(path, "rb").read(65536)
        for n in (1024, 4096, 65536):
            put(data[:n])
elif target == "vocab_load":
    put(tiny_vocab("llama"))
    put(tiny_vocab("gpt2"))
elif target in ("tokenize", "prompt_file"):
    for path in sorted(glob.glob(os.path.join(vocab, "*.inp"))):
        for s in split_inp(path):
            put(b"\x00" + s[:4096])
            put(b"\x03" + s[:4096])
    put(b"\x03<s>hello</s> <|endoftext|>x")
elif target == "serve_request":
    for path in sorted(glob.glob(os.path.join(root, "tests", "data", "fuzz-regressions", "serve_request", "*"))):
        put(open(path, "rb").read())
elif target == "detokenize":
    for i, path in enumerate(sorted(glob.glob(os.path.join(vocab, "ggml-vocab-*.gguf.out")))):
        for line in open(path):
            ids = [int(x) for x in line.split()]
            for flags in (0, 6):
                put(bytes([flags | (1 if "gpt-2" in path else 0)]) + b"".join(struct.pack("<I", x) for x in ids[:256]))
    put(b"\x01" + struct.pack("<iiii", -1, 2**31 - 1, 50256, 0))
PY
}

# fuzz TARGET: replays its saved crash inputs, then fuzzes it; returns non-zero on any failure.
fuzz_target() {
    local t=$1 bin="$build/fuzz_$1" regress="tests/data/fuzz-regressions/$1" corpus="$build/corpus/$1"
    local log="$build/fuzz_$1.log" saved=()
    mkdir -p "$regress" "$corpus"
    seed_target "$t" "$corpus" || return 1
    mapfile -t saved < <(find "$regress" -type f ! -name 'README*' ! -name '.*' | sort)
    if [ ${#saved[@]} -gt 0 ] && ! "$bin" -runs=1 "${saved[@]}" >"$build/replay_$t.log" 2>&1; then
        echo "   saved crash inputs fail again:"
        tail -n 30 "$build/replay_$t.log"
        return 1
    fi
    local maxlen=4096
    [ "$t" = gguf ] && maxlen=65536
    "$bin" -max_total_time="$seconds" -max_len=$maxlen -timeout=10 -rss_limit_mb=3072 -print_final_stats=1 \
        -artifact_prefix="$regress/" "$corpus" >"$log" 2>&1
    local rc=$?
    local execs cov
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    cov=$(grep -oE '(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+)/\1/')
    echo "   ${execs:-?} executions in ${seconds} s, ${cov:-no coverage line}, corpus $(find "$corpus" -type f | wc -l) inputs"
    if [ $rc -ne 0 ]; then
        echo "   libFuzzer exited $rc; the input is in $regress/:"
        grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -n 20
        return 1
    fi
}

# run_target TARGET: builds and fuzzes one target; its report goes to stdout.
run_target() {
    local t=$1
    echo "== fuzz_$t: build"
    if ! build_target "$t"; then
        echo "== fuzz_$t: build failed"
        return 1
    fi
    echo "== fuzz_$t: fuzzing for $seconds s"
    if fuzz_target "$t"; then
        echo "== fuzz_$t: ok"
    else
        echo "== fuzz_$t: FAILED (log: $build/fuzz_$t.log)"
        return 1
    fi
}

# The targets run FUZZ_JOBS at a time (default: one per CPU), each on its own core; their reports are
# printed in order once all are done.
jobs_max=${FUZZ_JOBS:-$(nproc)}
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
    rm -f "$build/run_$t.rc"
    (run_target "$t" >"$build/run_$t.out" 2>&1; echo $? >"$build/run_$t.rc") &
done
wait
passed=0
failed=0
for t in "${targets[@]}"; do
    cat "$build/run_$t.out"
    if [ "$(cat "$build/run_$t.rc" 2>/dev/null)" = 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
