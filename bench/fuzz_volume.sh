#!/bin/sh
# Long libFuzzer runs for docs/BENCHMARKS.md (the ">= 10 M executions per target" figure): each
# target in turn, one process at a time at the lowest CPU priority (the host is shared), until
# RUNS executions or SECONDS, over a scratch copy of its seed corpus (what it learns is thrown
# away unless FUZZ_KEEP=DIR). Prints one Markdown table row per target: executions, exec/s,
# wall time, CPU time (and executions per CPU second: the rate a free core would give), coverage (cov = covered code edges, ft = libFuzzer features), crashes.
# Exits 1 if any target crashed, leaked or timed out; the input is kept in FUZZ_ARTIFACTS.
# FUZZ_WORKERS=N runs N processes of a target at once over one shared corpus (libFuzzer
# reloads what the others find), seeds SEED..SEED+N-1, RUNS/N executions each; the row sums them.
# FUZZ_FROM=DIR starts from DIR/TARGET's inputs too (a FUZZ_KEEP of an earlier run): a campaign
# longer than one sitting goes on where it stopped, on the same code.
#   bench/fuzz_volume.sh [BUILD_DIR] [RUNS] [SECONDS] [TARGET...]
#   defaults: build 10000000 3600 proto http trace snapshot
set -eu
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build}"
runs="${2:-10000000}"
secs="${3:-3600}"
[ $# -gt 3 ] && shift 3 || set --
[ $# -gt 0 ] || set -- proto http trace snapshot
artifacts="${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}"
mkdir -p "$artifacts"
status=0
echo "| target | executions | exec/s (wall) | wall time | CPU time | exec/CPU-s | cov | ft | crashes |"
echo "|--------|-----------:|--------------:|----------:|---------:|-----------:|----:|---:|--------:|"
for t in "$@"; do
	bin="$build/fuzz/tests/fuzz/fuzz_$t"
	[ -x "$bin" ] || { echo "fuzz_volume: $bin not built" >&2; exit 1; }
	work="$(mktemp -d)"
	# "DIR/." rather than "DIR/"*: a kept corpus outgrows the argument list (30,000+ files).
	cp -R "$here/tests/fuzz/corpus/$t/." "$work/"
	if [ -n "${FUZZ_FROM:-}" ] && [ -d "$FUZZ_FROM/$t" ]; then
		cp -R "$FUZZ_FROM/$t/." "$work/"
	fi
	workers="${FUZZ_WORKERS:-1}"
	seed="${VMSIM_FUZZ_SEED:-1}"
	start=$(date +%s)
	cpu0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	rc=0
	k=0
	while [ "$k" -lt "$workers" ]; do
		nice -n 19 "$bin" -seed=$((seed + k)) -runs=$((runs / workers)) -max_total_time="$secs" \
			-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$artifacts/$t-" "$work" >"$work.log.$k" 2>&1 &
		eval "pid_$k=$!"
		k=$((k + 1))
	done
	k=0
	while [ "$k" -lt "$workers" ]; do
		eval "wait \$pid_$k" || {
			rc=$?
			tail -40 "$work.log.$k" >&2
		}
		k=$((k + 1))
	done
	end=$(date +%s)
	cpu1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	log="$work.log"
	cat "$work".log.* >"$log"
	execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{ n += $1 } END { print n }')"
	wall=$((end - start))
	cpu=$(((cpu1 - cpu0) / $(getconf CLK_TCK)))
	rate="$(awk -v e="${execs:-0}" -v w="$wall" 'BEGIN { printf "%d", w ? e / w : 0 }')"
	cpurate="$(awk -v e="${execs:-0}" -v c="$cpu" 'BEGIN { printf "%d", c ? e / c : 0 }')"
	covft="$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | sort -n -k2 -k4 | tail -1)"
	cov="$(echo "$covft" | awk '{print $2}')"
	ft="$(echo "$covft" | awk '{print $4}')"
	crashes=0
	if [ "$rc" -ne 0 ]; then
		crashes=1
		status=1
	fi
	printf '| `fuzz_%s` | %s | %s | %d s | %d s | %s | %s | %s | %d |\n' "$t" "${execs:-?}" "$rate" \
		"$wall" "$cpu" "$cpurate" "${cov:-?}" "${ft:-?}" "$crashes"
	if [ -n "${FUZZ_KEEP:-}" ]; then
		mkdir -p "$FUZZ_KEEP/$t"
		cp -R "$work/." "$FUZZ_KEEP/$t/"
	fi
	rm -rf "$work" "$log" "$work".log.*
done
exit $status
