#!/bin/bash
# Every examples/*.trace replays on the real vmsimd with its expected transcript and summary
# (run --verbose; timing and event rows removed), golden files in tests/cli/golden/examples/.
VMSIMD=$1
CTL=$2
SRC=$3
GOLDEN_DIR=$SRC/tests/cli/golden/examples
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/cli/server.sh"
cd "$SRC/examples" || exit 1
for t in *.trace; do
	name=${t%.trace}
	CHECKS=$((CHECKS + 1))
	"$CTL" run --verbose "$t" >"$OUT" 2>&1
	rc=$?
	# Timing varies, and the event rows change whenever the kernel model records one step
	# more (core's own tests pin them down): compare everything else.
	sed -i -e 's/; [0-9.]* s, [0-9]* ops\/s$//' -e '/^ *[0-9][0-9]* *[0-9]*  [_a-z]/d' "$OUT"
	# What the two memory-pressure examples are about, stated apart from their goldens:
	# thrashing swaps its working set in on every pass and never OOM-kills; oom does.
	case $name in
	thrashing)
		CHECKS=$((CHECKS + 1))
		[ "$(grep -c '^5120 faults (5120 major)' "$OUT")" = 3 ] &&
			grep -q ' 15360 swapped in, [1-9][0-9]* swapped out, 0 OOM kills$' "$OUT" ||
			_fail "$t: not a swap storm without OOM: $(tail -1 "$OUT")"
		;;
	oom)
		CHECKS=$((CHECKS + 1))
		grep -q ', 1 OOM kills$' "$OUT" || _fail "$t: no OOM kill: $(tail -1 "$OUT")"
		;;
	esac
	if [ "$rc" != 0 ]; then
		_fail "$t: exit $rc: $(tail -3 "$OUT")"
		continue
	fi
	if [ "${VMSIM_UPDATE_GOLDEN:-0}" = 1 ]; then
		cp "$OUT" "$GOLDEN_DIR/$name.out"
	elif ! cmp -s "$OUT" "$GOLDEN_DIR/$name.out"; then
		_fail "$t: transcript differs from golden/examples/$name.out"
		diff "$GOLDEN_DIR/$name.out" "$OUT" | head -20 | sed 's/^/    /' >&2
	fi
done
finish
