#!/bin/sh
# Runs one libFuzzer target for SECONDS over its seed corpus (read-only: new inputs go to a
# scratch directory), then prints executions and exec/s. Fails on any crash, leak or timeout.
#   run_fuzz.sh TARGET CORPUS_DIR SECONDS [extra libFuzzer flags]
# VMSIM_FUZZ_SECONDS, when set at run time, overrides SECONDS (CI runs 60 s per target through
# the same `make test` a developer runs for the default 6 s).
set -eu
target="$1"
corpus="$2"
secs="${VMSIM_FUZZ_SECONDS:-$3}"
shift 3
[ -x "$target" ] || { echo "fuzz: $target not built" >&2; exit 1; }
[ -d "$corpus" ] && [ -n "$(ls -A "$corpus")" ] || { echo "fuzz: empty corpus $corpus" >&2; exit 1; }
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
log="$scratch/log"
# Crash inputs are kept (outside the source tree) so a failure can be replayed.
artifacts="${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}"
mkdir -p "$artifacts"
# -artifact_prefix keeps crash files out of the source tree. A fixed -seed makes the run the
# same sequence of inputs every time (a slower machine just stops earlier in it), so CI cannot
# fail on a new find that a developer's run of the same length did not see; VMSIM_FUZZ_SEED=0
# asks libFuzzer for a fresh seed when hunting.
if ! "$target" -seed="${VMSIM_FUZZ_SEED:-1}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$artifacts/" "$@" "$scratch" "$corpus" >"$log" 2>&1; then
	tail -60 "$log" >&2
	echo "fuzz: $(basename "$target") FAILED" >&2
	exit 1
fi
runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
echo "fuzz: $(basename "$target"): $runs executions in ${secs}s ($rate exec/s), 0 crashes"
