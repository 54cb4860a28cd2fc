# Shared by the command line's shell tests (source it after set -u): a scratch folder $TMP removed on
# exit, a failure count $fails, fail MESSAGE, and expect CODE PATTERN -- command... .
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0

fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}

# expect CODE PATTERN -- command...: exit code CODE and stderr (one line when CODE != 0) matching PATTERN
expect() {
    local code="$1" pattern="$2"
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    local got=$?
    if [ "$got" != "$code" ]; then
        fail "'$*' exited $got, expected $code; stderr: $(head -c 300 "$TMP/err")"
        return
    fi
    if [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$TMP/err" "$TMP/out"; then
        fail "'$*': output does not match /$pattern/: $(head -c 300 "$TMP/err")"
    fi
    if [ "$code" != 0 ] && [ "$(wc -l <"$TMP/err")" -ne 1 ]; then
        fail "'$*': error is not one line: $(cat "$TMP/err")"
    fi
}
