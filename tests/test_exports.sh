#!/usr/bin/env bash
# libspecdec.so exports exactly the functions declared in include/specdec.h, and an application built
# only against the public header and the shared library runs. Usage: test_exports.sh LIB HEADER EXAMPLE
set -u
lib="$1" header="$2" example="$3"
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u)
declared=$(grep -oE '\bsd_[a-z0-9_]+\(' "$header" | tr -d '(' | sort -u)
if [ "$exported" != "$declared" ]; then
    echo "FAIL: exported symbols differ from the header:"
    diff <(echo "$declared") <(echo "$exported")
    exit 1
fi
out=$("$example" "$SD_MODELS_DIR/stories260K.gguf" "Once upon a time" 8 2>&1) || { echo "FAIL: example: $out"; exit 1; }
echo "$out" | grep -q "8 tokens at" || { echo "FAIL: example printed: $out"; exit 1; }
echo "test_exports: $(echo "$exported" | wc -l) public functions; example ran"
