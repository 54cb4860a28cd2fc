#!/usr/bin/env bash
# specdec bench: a tiny greedy run on the bundled pair, two prompts of two kinds of text, writes report.json
# (the documented fields, the by-kind rows), summary.md (with the by-kind section) and three well-formed
# SVGs, and passes the losslessness check; --cost-only prints the projection table; bad flags exit 2. Usage: test_bench.sh SPECDEC (SD_MODELS_DIR set by meson).
set -u
SPECDEC=$1
M=${SD_MODELS_DIR:?SD_MODELS_DIR not set}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
fail=0
err() { echo "FAIL: $*"; fail=1; }

# Two prompts of two kinds of text: the first dev prompt (C) and an English comment.
{
    head -n 1 "$M/prompts-dev.jsonl" | sed 's/^{/{"kind": "code", /'
    echo '{"id": "prose-0", "kind": "prose", "prompt": "/*\n * The cache keeps one entry per open file, and the lock that guards it is taken only when an entry is added or"}'
} >"$OUT/prompts.jsonl"
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -md "$M/codepair-draft-f32.gguf" -f "$OUT/prompts.jsonl" \
    --n-prompts 2 -n 16 --k 1,2 --repeat 1 --temp 0 -o "$OUT/run" >"$OUT/stdout" 2>"$OUT/stderr"
rc=$?
[ $rc -eq 0 ] || { err "bench run exited $rc"; cat "$OUT/stderr"; }
grep -q '| spec k=2 |' "$OUT/stdout" || err "stdout lacks the summary table"
grep -q '^### Speed-up by kind of text' "$OUT/run/summary.md" || err "summary.md lacks the by-kind section"
grep -q '^| prose | 1 |' "$OUT/run/summary.md" || err "summary.md lacks the prose row"
grep -q '^| all | 2 |' "$OUT/run/summary.md" || err "summary.md lacks the all row"
grep -q '^- all: spec adaptive .*beats every fixed k: ' "$OUT/run/summary.md" || err "summary.md lacks the verdict on all"
grep -q '^| prose-0 | prose |' "$OUT/run/summary.md" || err "the per-prompt table lacks the kind"
for f in report.json summary.md speedup.svg acceptance.svg verify_cost.svg; do
    [ -s "$OUT/run/$f" ] || err "missing $f"
done
python3 - "$OUT/run" <<'PY' || fail=1
import json, math, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
r = json.load(open(d + "/report.json"))
bad = []
def need(obj, keys, where):
    for k in keys:
        if k not in obj: bad.append("%s lacks %s" % (where, k))
need(r, ["machine", "models", "settings", "modes", "prompts", "aggregate", "verify_cost", "lossless"], "report")
if not r.get("peak_rss_bytes", 0) > 1e6: bad.append("peak_rss_bytes")
need(r["machine"], ["cpu_model", "cores", "clusters", "read_bandwidth_gbps"], "machine")
need(r["models"]["target"], ["path", "arch", "params", "weight_bytes", "types"], "target")
need(r["models"]["draft"], ["path", "arch", "params", "weight_bytes", "types"], "draft")
if r["modes"] != ["plain", "spec k=1", "spec k=2", "spec adaptive"]: bad.append("modes %r" % r["modes"])
if len(r["prompts"]) != 2: bad.append("%d prompts" % len(r["prompts"]))
for p in r["prompts"]:
    if len(p["results"]) != 4: bad.append("prompt %s has %d results" % (p["id"], len(p["results"])))
    for x in p["results"]:
        need(x, ["mode", "prompt_tps", "decode_tps", "speedup", "time_split"], "result")
        if x.get("identical_to_plain") is not True: bad.append("%s %s not identical" % (p["id"], x["mode"]))
for a in r["aggregate"]:
    need(a, ["mode", "decode_tps_median", "speedup_median", "speedup_total", "cpu_s_per_token", "kv_bytes"], "aggregate")
    if not (a["cpu_s_per_token"] > 0 and a["kv_bytes"] > 0): bad.append("%s: no CPU time or KV bytes" % a["mode"])
    if not (a["decode_tps_median"] > 0): bad.append("%s: no decode rate" % a["mode"])
    if a["mode"] != "plain":
        need(a, ["acceptance", "acceptance_by_position", "tokens_per_round", "k_histogram"], "aggregate")
        # null when the mode drafted nothing (the adaptive controller may pause a draft that does not pay)
        drafted = any(int(k) > 0 for k in a["k_histogram"])
        if (drafted or a["acceptance"] is not None) and not 0 <= a["acceptance"] <= 1: bad.append("acceptance %r" % a["acceptance"])
if abs(r["aggregate"][0]["speedup_median"] - 1) > 1e-9: bad.append("plain speed-up is not 1")
k1 = r["aggregate"][1]
# Fixed k = 1 drafts 1 token a round (0 where only one token is left to generate).
h = k1["k_histogram"]
if set(h) - {"0", "1"} or sum(h.values()) != k1["n_rounds"] or h.get("1", 0) < k1["n_rounds"] / 2:
    bad.append("k=1 histogram %r for %r rounds" % (h, k1["n_rounds"]))
# By kind: code, prose, then all; "all" is the whole run, so it matches the aggregate.
ks = r.get("kinds", [])
if [(k["kind"], k["n_prompts"]) for k in ks] != [("code", 1), ("prose", 1), ("all", 2)]: bad.append("kinds %r" % ks)
for k in ks:
    if [x["mode"] for x in k["modes"]] != r["modes"]: bad.append("kind %s modes %r" % (k["kind"], k["modes"]))
    for x in k["modes"]: need(x, ["mode", "speedup_total", "speedup_median"], "kind mode")
    ad = k["modes"][-1]
    need(ad, ["acceptance", "best_fixed_mode", "over_best_fixed", "within_5pct_of_best_fixed", "beats_every_fixed"], "kind adaptive")
if ks:
    for x, a in zip(ks[-1]["modes"], r["aggregate"]):
        if not math.isclose(x["speedup_total"], a["speedup_total"], rel_tol=1e-9): bad.append("all %r vs aggregate %r" % (x, a))
if [p.get("kind") for p in r["prompts"]] != ["code", "prose"]: bad.append("prompt kinds")
vc = r["verify_cost"]
if vc["n"] != [1, 2, 3] or len(vc["t_v_s"]) != 3 or not all(t > 0 for t in vc["t_v_s"]): bad.append("verify_cost %r" % vc)
if r["lossless"] != {"checked": True, "mismatches": 0, "errors": []}: bad.append("lossless %r" % r["lossless"])
for f in ["speedup", "acceptance", "verify_cost"]:
    root = ET.parse("%s/%s.svg" % (d, f)).getroot()
    if not root.tag.endswith("svg"): bad.append(f + ".svg root is " + root.tag)
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

# --cost-only: the projection table, labelled as such.
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -md "$M/codepair-draft-f32.gguf" --cost-only >"$OUT/cost" 2>&1 \
    || { err "--cost-only failed"; cat "$OUT/cost"; }
grep -q 'NOT measured' "$OUT/cost" || err "--cost-only output is not labelled as a projection"
grep -q '^| 0.95 |' "$OUT/cost" || err "--cost-only lacks the a = 0.95 row"
grep -q 'k=8 |' "$OUT/cost" || err "--cost-only lacks the k = 8 column"

# --spec: each draft source set is a group of modes, lossless like the others; n-gram drafting needs no
# draft model.
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -md "$M/codepair-draft-f32.gguf" -f "$OUT/prompts.jsonl" \
    --n-prompts 1 -n 16 --k 2 --repeat 1 --temp 0 --spec draft,ngram,draft+ngram --json -o "$OUT/src" \
    >"$OUT/src.json" 2>"$OUT/src.err" || { err "bench --spec failed"; cat "$OUT/src.err"; }
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -f "$OUT/prompts.jsonl" --n-prompts 1 -n 16 --k 2 \
    --repeat 1 --temp 0 --spec ngram --json -o "$OUT/ngram" >"$OUT/ngram.json" 2>"$OUT/ngram.err" \
    || { err "bench --spec ngram without a draft model failed"; cat "$OUT/ngram.err"; }
python3 - "$OUT/src.json" "$OUT/ngram.json" <<'PY' || fail=1
import json, sys
bad = []
src, ng = (json.load(open(p)) for p in sys.argv[1:3])
want = ["plain"] + ["spec %s %s" % (k, s) for s in ("draft", "ngram", "draft+ngram") for k in ("k=2", "adaptive")]
if src["modes"] != want: bad.append("modes %r" % src["modes"])
if ng["modes"] != ["plain", "spec k=2 ngram", "spec adaptive ngram"]: bad.append("ngram modes %r" % ng["modes"])
for r in (src, ng):
    if r["lossless"] != {"checked": True, "mismatches": 0, "errors": []}: bad.append("lossless %r" % r["lossless"])
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY

# --chat: the prompts as user turns in the chat template, named in the report.
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -md "$M/codepair-draft-f32.gguf" -f "$OUT/prompts.jsonl" \
    --n-prompts 1 -n 8 --k 2 --no-adaptive --repeat 1 --temp 0 --chat --chat-template chatml --json \
    -o "$OUT/chat" >"$OUT/chat.json" 2>"$OUT/chat.err" || { err "bench --chat failed"; cat "$OUT/chat.err"; }
python3 -c 'import json, sys; r, raw = (json.load(open(p)) for p in sys.argv[1:3]); sys.exit(r["settings"]["chat_template"] != "chatml" or r["prompts"][0]["n_prompt_tokens"] <= raw["prompts"][0]["n_prompt_tokens"] or raw["settings"]["chat_template"] is not None)' \
    "$OUT/chat.json" "$OUT/run/report.json" || err "bench --chat: the report does not name chatml, or the prompt was not rendered in it"
"$SPECDEC" bench -m "$M/codepair-target-q4_0.gguf" -f "$OUT/prompts.jsonl" -o "$OUT/chat2" --chat \
    >/dev/null 2>"$OUT/chat2.err" && err "bench --chat on a model without a template succeeded"
grep -q "has no chat template" "$OUT/chat2.err" || err "bench --chat without a template: $(cat "$OUT/chat2.err")"

# Bad flags: exit 2 with a one-line message.
check_usage() {
    "$SPECDEC" bench "$@" >/dev/null 2>"$OUT/usage"
    local rc=$?
    [ $rc -eq 2 ] || err "'bench $*' exited $rc, want 2"
    [ "$(wc -l <"$OUT/usage")" -eq 1 ] || err "'bench $*' printed $(wc -l <"$OUT/usage") lines"
}
check_usage --bogus
check_usage -m x.gguf -f p.jsonl -o d --k 0
check_usage -m x.gguf -f p.jsonl -o d --k 1,x
check_usage -m x.gguf -f p.jsonl -o d --schedule fast
check_usage -m x.gguf -f p.jsonl -o d --repeat
check_usage -m x.gguf -f p.jsonl
check_usage -m x.gguf --cost-only
check_usage -m x.gguf -f p.jsonl -o d --spec draft
check_usage -m x.gguf -f p.jsonl -o d -md y.gguf --spec ngram,ngram
check_usage -m x.gguf -f p.jsonl -o d -md y.gguf --spec fast
check_usage -m x.gguf -f p.jsonl -o d --chat-template chatml
"$SPECDEC" bench --help | grep -q -- '--cost-only' || err "--help lacks --cost-only"

[ $fail -eq 0 ] && echo "bench: all checks passed"
exit $fail
