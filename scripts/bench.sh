#!/bin/sh
# Runs every benchmark program that exists in the build: the compiled bench/*_bench programs
# (core_bench, reclaim_bench, store_bench, ...) and the quick Python ones. Each prints its own
# figures; docs/BENCHMARKS.md records them. The long soak run is separate:
# `python3 bench/soak.py --md`.
#   scripts/bench.sh [BUILD_DIR]   (default: build)
set -eu
build="${1:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
[ -d "$build/bench" ] || { echo "bench: no $build/bench (run make build first)" >&2; exit 1; }
status=0
ran=0
for prog in "$build"/bench/*_bench; do
	[ -x "$prog" ] || continue
	name="$(basename "$prog")"
	echo "== $name"
	case "$name" in
	apply_bench) "$prog" "$build/server/vmsimd" || status=1 ;; # needs the server to start
	*) "$prog" || status=1 ;;
	esac
	ran=$((ran + 1))
done
if command -v python3 >/dev/null 2>&1 && [ -f "$here/bench/policy_bench.py" ]; then
	echo "== policy_bench.py"
	python3 "$here/bench/policy_bench.py" || status=1
	ran=$((ran + 1))
fi
[ "$ran" -gt 0 ] || { echo "bench: no benchmark programs found in $build/bench" >&2; exit 1; }
exit $status
