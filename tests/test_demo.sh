#!/usr/bin/env bash
# specdec demo end to end on a small grown target (--params 2e7 into a scratch cache): the first run writes
# the file, the second reuses it; the report's fields are there and consistent; greedy outputs identical.
# Timings are not checked (a loaded machine may show no speed-up on a target this small).
# Usage: test_demo.sh PATH/TO/specdec
set -u
SPECDEC="$1"
source "$(dirname "$0")/cli_expect.sh"

field() { # field NAME: the value of "NAME": in $TMP/out (one JSON object)
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v))' "$TMP/out" "$1"
}

expect 0 "usage: specdec demo" -- "$SPECDEC" demo --help
expect 2 "flag '--params' needs a positive count" -- "$SPECDEC" demo --params lots --cache "$TMP/c"
expect 2 "already has" -- "$SPECDEC" demo --params 1e6 --cache "$TMP/c"
: >"$TMP/file"
expect 1 "cannot create the cache folder" -- "$SPECDEC" demo --params 2e7 --cache "$TMP/file/sub"

# First run: writes the grown file (the one line saying so on stderr), then the JSON report.
expect 0 "wrote .*codepair-target-q4_0-grown-20000000.gguf" -- "$SPECDEC" demo --params 2e7 --cache "$TMP/c" -n 24 --json
grown="$TMP/c/codepair-target-q4_0-grown-20000000.gguf"
[ -s "$grown" ] || fail "the grown file $grown was not written"
[ "$(field cached)" = false ] || fail "first run: cached is $(field cached)"
[ "$(field grown)" = true ] || fail "grown is $(field grown)"
[ "$(field identical)" = true ] || fail "greedy outputs differ: $(cat "$TMP/out")"
[ "$(field n_gen)" = 24 ] || fail "n_gen is $(field n_gen), expected exactly -n 24"
python3 - "$TMP/out" <<'PY' || fail "inconsistent report: $(cat "$TMP/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert 1.9e7 < r["n_params"] < 2.1e7, r["n_params"]
assert r["plain_tps"] > 0 and r["spec_tps"] > 0
assert abs(r["speedup"] - r["spec_tps"] / r["plain_tps"]) < 1e-3 * r["speedup"] + 1e-5
assert 0 <= r["acceptance"] <= 1
assert 1 <= r["tokens_per_pass"] <= 33 and r["n_rounds"] >= 1
assert abs(r["tokens_per_pass"] - r["n_gen"] / r["n_rounds"]) < 1e-3
assert r["target_mib"] > 10 and r["write_s"] > 0
for word in ("grown model", "tokens per verify pass", "MiB"):
    assert word in r["why"], word
PY

# Second run: the cache is reused (nothing written); the text report names every number.
mtime=$(stat -c %Y "$grown")
expect 0 "" -- "$SPECDEC" demo --params 2e7 --cache "$TMP/c" -n 24
grep -q "wrote" "$TMP/err" && fail "second run wrote the file again: $(cat "$TMP/err")"
[ "$(stat -c %Y "$grown")" = "$mtime" ] || fail "second run changed the cached file"
for pat in "^plain +[0-9.]+ tok/s" "^speculative +[0-9.]+ tok/s .*acceptance" "^speed-up +[0-9.]+x .*identical" \
    "from the cache" "^Why: .*grown model"; do
    grep -qE "$pat" "$TMP/out" || fail "text report lacks /$pat/: $(cat "$TMP/out")"
done

# A truncated cache file (an interrupted copy, a changed source) is rewritten, not loaded.
head -c 1000000 "$grown" >"$TMP/part" && mv "$TMP/part" "$grown"
expect 0 "wrote " -- "$SPECDEC" demo --params 2e7 --cache "$TMP/c" -n 8 --json

# XDG_CACHE_HOME is the default cache's parent.
XDG_CACHE_HOME="$TMP/xdg" expect 0 "wrote .*xdg/specdec/" -- "$SPECDEC" demo --params 2e7 -n 8 --json

[ "$fails" = 0 ] && echo "test_demo: ok"
exit $((fails > 0))
