# Helpers for the vmsimctl end-to-end tests: run a command, compare its exit code and its
# exact output (inline or against a golden file), count failures. Source it from bash.
# VMSIM_UPDATE_GOLDEN=1 rewrites golden files from the actual output (review the diff!).

FAILS=0
CHECKS=0
GOLDEN_DIR=${GOLDEN_DIR:-}
OUT=$(mktemp)
ERR=$(mktemp)

_fail() {
	FAILS=$((FAILS + 1))
	echo "FAIL: $*" >&2
}

# run CMD...: runs it, leaves stdout in $OUT, stderr in $ERR and the exit code in $RC.
run() {
	"$@" >"$OUT" 2>"$ERR"
	RC=$?
}

# expect NAME RC EXPECTED CMD...: exit code RC and stdout exactly EXPECTED (plus newline).
expect() {
	local name=$1 rc=$2 want=$3
	shift 3
	CHECKS=$((CHECKS + 1))
	run "$@"
	if [ "$RC" != "$rc" ]; then
		_fail "$name: exit $RC, want $rc ($*)"
		sed 's/^/    stderr: /' "$ERR" >&2
		return
	fi
	if [ "$(cat "$OUT")" != "$want" ]; then
		_fail "$name: output differs ($*)"
		diff <(printf '%s\n' "$want") "$OUT" | sed 's/^/    /' >&2
	fi
}

# expect_rc NAME RC STDERR_SUBSTRING CMD...: exit code and a phrase of the error message.
expect_rc() {
	local name=$1 rc=$2 msg=$3
	shift 3
	CHECKS=$((CHECKS + 1))
	run "$@"
	if [ "$RC" != "$rc" ]; then
		_fail "$name: exit $RC, want $rc ($*)"
		sed 's/^/    stderr: /' "$ERR" >&2
	elif [ -n "$msg" ] && ! grep -qF -- "$msg" "$ERR"; then
		_fail "$name: stderr lacks '$msg'"
		sed 's/^/    stderr: /' "$ERR" >&2
	fi
}

# expect_golden NAME FILE CMD...: exit 0 and stdout byte for byte equal to $GOLDEN_DIR/FILE.
expect_golden() {
	local name=$1 file=$GOLDEN_DIR/$2
	shift 2
	CHECKS=$((CHECKS + 1))
	run "$@"
	if [ "$RC" != 0 ]; then
		_fail "$name: exit $RC ($*)"
		sed 's/^/    stderr: /' "$ERR" >&2
		return
	fi
	if [ "${VMSIM_UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$OUT" "$file"
		return
	fi
	if ! cmp -s "$OUT" "$file"; then
		_fail "$name: output differs from $file ($*)"
		diff "$file" "$OUT" | head -20 | sed 's/^/    /' >&2
	fi
}

# expect_json NAME JQ_FILTER EXPECTED CMD...: output parses as JSON; the filter gives EXPECTED.
expect_json() {
	local name=$1 filter=$2 want=$3
	shift 3
	CHECKS=$((CHECKS + 1))
	run "$@"
	if [ "$RC" != 0 ]; then
		_fail "$name: exit $RC ($*)"
		sed 's/^/    stderr: /' "$ERR" >&2
		return
	fi
	local got
	if ! got=$(jq -r "$filter" <"$OUT" 2>&1); then
		_fail "$name: not JSON: $(head -c 200 "$OUT")"
		return
	fi
	[ "$got" = "$want" ] || _fail "$name: jq '$filter' gave '$got', want '$want'"
}

finish() {
	rm -f "$OUT" "$ERR"
	echo "$CHECKS checks, $FAILS failed"
	[ "$FAILS" = 0 ]
}
