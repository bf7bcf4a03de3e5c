#!/bin/sh
# The CLI end-to-end test (tests/cli/e2e.sh: every vmsimctl command against a real vmsimd) with
# every vmsimctl run under valgrind. Too slow for ctest (a few hundred valgrind start-ups); the
# server side is ctest's e2e.valgrind. Each run writes its own valgrind log; the script reports
# how many runs there were and how many had a memory error or a definite leak, and fails if
# any did or if the e2e checks themselves failed. Figures go to docs/BENCHMARKS.md.
#   bench/valgrind_e2e.sh [BUILD_DIR]
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
command -v valgrind >/dev/null || { echo "valgrind_e2e: valgrind not installed" >&2; exit 1; }
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
wrap="$logs/vmsimctl"
cat >"$wrap" <<EOF
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
	--log-file="$logs/ctl.%p.log" "$build/client/vmsimctl" "\$@"
EOF
chmod +x "$wrap"
start=$(date +%s)
rc=0
bash "$here/tests/cli/e2e.sh" "$build/server/vmsimd" "$wrap" "$here" >"$logs/e2e.out" 2>&1 || rc=$?
end=$(date +%s)
runs=$(find "$logs" -name 'ctl.*.log' | wc -l)
# -q: a clean run leaves an empty log; anything in it is an error or a definite leak.
bad=$(find "$logs" -name 'ctl.*.log' -size +0 | wc -l)
tail -3 "$logs/e2e.out"
echo "valgrind_e2e: $runs vmsimctl runs under valgrind in $((end - start)) s:" \
	"$bad with a memory error or a definite leak; e2e checks exit status $rc"
if [ "$bad" -gt 0 ]; then
	for f in $(find "$logs" -name 'ctl.*.log' -size +0 | head -3); do
		head -60 "$f"
	done
fi
[ "$bad" -eq 0 ] && [ "$rc" -eq 0 ]
