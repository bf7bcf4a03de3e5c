#!/bin/bash
# End-to-end: the real vmsimctl against the real vmsimd on an ephemeral port. Every command
# at least once with its exact output (golden files for the /proc views), exit codes for
# each failure class, -o json through jq, traces, record, and the shell through a pipe.
VMSIMD=$1
CTL=$2
SRC=$3
GOLDEN_DIR=$SRC/tests/cli/golden
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/cli/server.sh"
ctl() { "$CTL" "$@"; }

# ---- exit codes: usage 2, cannot connect 3, refused 1 ---------------------------------------
expect_rc "no command" 2 "Usage: vmsimctl" ctl
expect_rc "unknown command" 2 "unknown command 'frobnicate'" ctl frobnicate
expect_rc "noun without verb" 2 "'cache' needs a verb" ctl cache
expect_rc "bad global flag" 2 "unrecognized option '--bogus'" ctl --bogus machine ls
expect_rc "bad -o" 2 "bad -o 'yaml'" ctl -o yaml machine ls
expect_rc "bad --timeout" 2 "bad --timeout 'soon'" ctl --timeout soon machine ls
expect_rc "no machine" 2 "no machine selected" ctl alloc-pages 0
expect_rc "bad size" 2 "bad SIZE '12Q': expected a size like 4096, 4K, 16M or 1G" ctl -m m1 kmalloc 12Q
expect_rc "bad mem" 2 "bad --mem 'lots'" ctl machine create --mem lots
expect_rc "missing arg" 2 "missing ORDER" ctl -m m1 alloc-pages
expect_rc "extra arg" 2 "unexpected argument 'x'" ctl machine ls x
expect_rc "cannot connect" 3 "cannot reach the server at http://127.0.0.1:1" \
	ctl --server http://127.0.0.1:1 machine ls
expect_rc "cannot connect (env)" 3 "is vmsimd running?" \
	env VMSIM_SERVER=http://127.0.0.1:1 "$CTL" machine ls
expect_rc "refused: no such machine" 1 "Error (not_found)" ctl machine show m99

# ---- help: every command answers `help CMD` and `CMD --help` --------------------------------
CHECKS=$((CHECKS + 1))
while read -r words; do
	[ -n "$words" ] || continue
	# shellcheck disable=SC2086
	if ! ctl help $words | grep -q "^Usage: vmsimctl \[global flags\] $words"; then
		_fail "help $words"
	fi
	# shellcheck disable=SC2086
	if ! ctl $words --help | grep -q "^Usage: vmsimctl \[global flags\] $words"; then
		_fail "$words --help"
	fi
done < <(ctl help | sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)\?\)  .*/\1/p' |
	sed 's/ *$//')
expect "help lists commands" 0 "$(ctl help | grep -c '^  [a-z]')" bash -c "\"$CTL\" help | grep -c '^  [a-z]'"

# ---- machines -------------------------------------------------------------------------------
expect "machine create" 0 "machine m1 created (x86_64, 16Mi RAM)" ctl machine create --mem 16M --name lab
expect "machine create text" 0 "m2" ctl -o text machine create --arch i386 --mem 8M --seed 7
expect_golden "machine ls" machine-ls.txt ctl machine ls
expect "use" 0 "Using machine m1" ctl use m1
expect "config written" 0 "machine = m1" cat "$HOME/.config/vmsim/config"
expect_rc "use unknown" 1 "Error (not_found)" ctl use m77
expect_rc "refused: bad config" 1 "Error (invalid_argument): ram must be" ctl machine create --mem 1M
expect_golden "machine show" machine-show.txt ctl machine show
expect_json "machine show json" '.config.ramBytes' 16777216 ctl -o json machine show m1
expect_json "machine ls json" '.machines | length' 2 ctl -o json machine ls
expect_golden "machine ls text" machine-ls-text.txt ctl -o text machine ls

# ---- physical memory: buddy, slab ----------------------------------------------------------
expect "alloc-pages" 0 "pfn 0x10  phys 0x10000" ctl alloc-pages 3
expect_golden "buddyinfo after alloc" buddyinfo-alloc.txt ctl cat /proc/buddyinfo
expect "free-pages" 0 "" ctl free-pages 0x10 3
expect_rc "free-pages twice" 1 "Error (invalid_argument): pfn 0x10 is already free: double free" \
	ctl free-pages 0x10 3
expect_golden "buddyinfo after free" buddyinfo-boot.txt ctl cat buddyinfo
expect_golden "alloc-pages explain" alloc-explain.txt ctl --explain alloc-pages 2 --zone DMA
expect_json "alloc-pages json" '.value' 20 ctl -o json alloc-pages 0
expect_json "alloc-pages json events" '.events[1]' \
	"__rmqueue_smallest: zone DMA free_area[0] gives block at pfn 0x15" ctl -o json alloc-pages 0
expect "cache create" 0 "" ctl cache create foo 96
expect "cache alloc" 0 "0xffff888000016000" ctl cache alloc foo
expect "cache alloc 2" 0 "0xffff888000016060" ctl cache alloc foo
expect_golden "slabinfo with foo" slabinfo-foo.txt ctl cat /proc/slabinfo
expect "cache free" 0 "" ctl cache free foo 0xffff888000016000
expect "cache free 2" 0 "" ctl cache free foo 0xffff888000016060
expect_rc "cache free twice" 1 "Error (invalid_argument)" ctl cache free foo 0xffff888000016060
expect "cache shrink" 0 "1 pages freed" ctl cache shrink foo
expect "cache destroy" 0 "" ctl cache destroy foo
expect_rc "cache destroy again" 1 "Error (not_found)" ctl cache destroy foo
expect "kmalloc" 0 "0xffff888000016000" ctl kmalloc 100
expect "kfree" 0 "" ctl kfree 0xffff888000016000
expect_rc "kfree bad" 1 "Error (invalid_argument)" ctl kfree 0x1234
expect_golden "slabinfo" slabinfo.txt ctl cat /proc/slabinfo

# ---- files, swap, reclaim ------------------------------------------------------------------
expect "file create" 0 "12" ctl file create /data/f1 64K
expect "file write" 0 "" ctl file write 12 0 16K
expect "file sync" 0 "" ctl file sync 12
expect "file read" 0 "" ctl file read 12 0 64K
expect "file create swapfile" 0 "13" ctl file create /swapfile 4M
expect "swap mk" 0 "" ctl swap mk /swapfile 4M
expect "swap on" 0 "" ctl swap on /swapfile
expect_golden "swap ls" swaps.txt ctl swap ls
expect_golden "cat /proc/swaps" swaps.txt ctl cat /proc/swaps
expect_rc "swap on twice" 1 "Error (failed_precondition)" ctl swap on /swapfile
expect "swap off" 0 "" ctl swap off /swapfile
expect "swappiness" 0 "" ctl swappiness 100
expect "drop-caches" 0 "" ctl drop-caches 3
expect "reclaim" 0 "1 pages reclaimed" ctl reclaim
expect "tick" 0 "" ctl tick 2
expect "file rm" 0 "" ctl file rm 12
expect_rc "file read removed" 1 "Error (not_found)" ctl file read 12 0 4K

# ---- processes, address spaces, faults, vmalloc, map_driver ---------------------------------
P=$(ctl -o text machine create --mem 16M)
pc() { "$CTL" -m "$P" "$@"; }
expect "spawn" 0 "1" pc spawn a
expect "fork" 0 "2" pc fork 1
expect "clone --vm" 0 "3" pc clone 1 --vm
expect "vfork" 0 "4" pc vfork 1
expect_rc "vfork parent waits" 1 "Error (failed_precondition): pid 1 waits in vfork" pc touch 1 0x400000
expect "exit negative code" 0 "" pc exit 4 -- -1
expect "exec" 0 "" pc exec 2 ls --text 8K
expect "switch" 0 "" pc switch 2
expect "rlimit" 0 "" pc rlimit 2 100
expect "oom-adj" 0 "" pc oom-adj 2 -500
expect "exit" 0 "" pc exit 3
expect "mmap" 0 "0x7ffff7fef000" pc mmap 1 64K rw
expect "mprotect" 0 "" pc mprotect 1 0x7ffff7fef000 4K r
expect "madvise" 0 "" pc madvise 1 0x7ffff7fef000 8K dontneed
expect "munmap" 0 "" pc munmap 1 0x7ffff7fef000 4K
expect "touch write" 0 "0x7ffff7ff0000 -> phys 0x2b000  minor fault  tlb miss" pc touch 1 0x7ffff7ff0000 --write
expect "touch read hit" 0 "0x7ffff7ff0000 -> phys 0x2b000  no fault  tlb hit" pc touch 1 0x7ffff7ff0000
expect "touch-range" 0 "3 faults (0 major), TLB hits 1, misses 3" pc touch-range 1 0x7ffff7ff0000 16K --write
expect_json "touch json" '.fault' FAULT_NONE pc -o json touch 1 0x7ffff7ff1000
expect "brk query" 0 "0x405000" pc brk 1
expect "brk grow" 0 "0x425000" pc brk 1 0x425000
expect "file create" 0 "12" pc file create /f 8K
expect "mmap file" 0 "0x7ffff7fee000" pc mmap 1 8K r --file 12 --shared
expect_golden "maps" maps.txt pc cat /proc/1/maps
expect_golden "pmap" pmap.txt pc pmap 1
expect_golden "status" status.txt pc cat 1/status
expect_golden "free" free.txt pc free
expect_golden "free -h" free-h.txt pc free -h
expect_golden "free -w -m" free-wm.txt pc free -w -m
expect_golden "free --old" free-old.txt pc free --old
expect_golden "vmstat" vmstat.txt pc vmstat
expect_golden "meminfo" meminfo.txt pc cat /proc/meminfo
expect_rc "free bad flag" 2 "invalid option -- 'z'" pc free -z
expect "vmalloc" 0 "0xffffc90000000000" pc vmalloc 16K
expect_golden "vmallocinfo" vmallocinfo.txt pc cat /proc/vmallocinfo
expect "vfree" 0 "" pc vfree 0xffffc90000000000
expect "driver open" 0 "" pc driver open 8K --minor 1
expect "mmap driver" 0 "0x7ffff7fec000" pc mmap 1 8K r --shared --driver 1
expect "touch driver" 0 "0x7ffff7fec000 -> phys 0x37000  minor fault  tlb miss" pc touch 1 0x7ffff7fec000
expect_rc "driver close while mapped" 1 "Error (" pc driver close 1
expect "segv" 0 "0x10: SIGSEGV, task killed" pc touch 1 0x10
expect "driver close" 0 "" pc driver close 1
expect_rc "touch dead task" 1 "Error (not_found): no process with pid 1" pc touch 1 0x400000

# ---- events ---------------------------------------------------------------------------------
expect "events" 0 "ID  SEQ  EVENT
 1    1  boot: x86_64 machine, 16384 KiB of RAM, 4096 frames
 2    1  memblock_reserve: pfn 0x0-0xf (BIOS data, real-mode IVT)" ctl events --limit 2
expect_json "events json" '.events[0].text' "boot: x86_64 machine, 16384 KiB of RAM, 4096 frames" \
	ctl -o json events --limit 1
# --follow: SSE from after the newest event; an op made meanwhile shows up.
NEXT=$(ctl -o json machine show | jq -r .nextEventId)
"$CTL" events --follow --after $((NEXT - 1)) >"$TMPD/follow.out" 2>&1 &
FOLLOW_PID=$!
sleep 0.3
ctl alloc-pages 0 >/dev/null
for _ in $(seq 50); do
	grep -q 'alloc_pages: pfn' "$TMPD/follow.out" && break
	sleep 0.05
done
kill $FOLLOW_PID 2>/dev/null
wait $FOLLOW_PID 2>/dev/null
CHECKS=$((CHECKS + 1))
grep -q "^ *$NEXT  .*alloc_pages: order 0" "$TMPD/follow.out" ||
	_fail "events --follow: $(head -5 "$TMPD/follow.out")"

# ---- traces, record, shell ------------------------------------------------------------------
cat >"$TMPD/t.trace" <<'T'
# a small trace: the same words as the commands
machine create --mem 16M --name traced
alloc-pages 2
alloc-pages 0 --zone DMA   # a comment after an op
cache create bar 200
cache alloc bar
cat buddyinfo
T
cd "$TMPD" || exit 1
run ctl run t.trace
cd - >/dev/null || exit 1
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] || _fail "run: exit $RC: $(cat "$ERR")"
sed -i 's/; [0-9.]* s, [0-9]* ops\/s$//' "$OUT"
[ "$VMSIM_UPDATE_GOLDEN" = 1 ] && cp "$OUT" "$GOLDEN_DIR/run-small.txt"
cmp -s "$OUT" "$GOLDEN_DIR/run-small.txt" || _fail "run: $(diff "$GOLDEN_DIR/run-small.txt" "$OUT")"
expect_rc "run bad line" 2 "t2.trace:2: bad ORDER 'x'" \
	bash -c "printf 'machine create --mem 16M\nalloc-pages x\n' > $TMPD/t2.trace; \"$CTL\" run $TMPD/t2.trace"
expect_rc "run refused line" 1 "t3.trace:3: \`free-pages 0x11 0\` failed: Error (invalid_argument)" \
	bash -c "printf 'machine create --mem 16M\nalloc-pages 0\nfree-pages 0x11 0\n' > $TMPD/t3.trace; \"$CTL\" run $TMPD/t3.trace"
expect_rc "run unknown word" 2 "t4.trace:1: unknown command 'jump'" \
	bash -c "printf 'jump 1\n' > $TMPD/t4.trace; \"$CTL\" run $TMPD/t4.trace"
expect_rc "run missing file" 2 "cannot open /nonexistent" ctl run /nonexistent
expect_json "run stdin json" 'select(.ops) | .ops' 3 \
	bash -c "printf 'machine create --mem 16M\nalloc-pages 1\nkmalloc 64\nkmalloc 4K\n' | \"$CTL\" -o json run -"

# record: a shell whose ops are written as a trace; replaying it gives the same state.
printf 'machine create --mem 16M\nalloc-pages 3\nkmalloc 512\ncache create baz 64\ncache alloc baz\nbogus\nexit\n' |
	"$CTL" record "$TMPD/rec.trace" >/dev/null 2>&1
expect "record wrote" 0 "alloc-pages 3
kmalloc 512
cache create baz 64
cache alloc baz" grep -v '^#' "$TMPD/rec.trace"
M=$(ctl -o text machine create --mem 16M)
ctl -m "$M" run -q "$TMPD/rec.trace" >/dev/null
A=$(ctl -m "$M" cat /proc/buddyinfo /proc/slabinfo)
R=$(printf 'machine create --mem 16M\nalloc-pages 3\nkmalloc 512\ncache create baz 64\ncache alloc baz\ncat buddyinfo slabinfo\n' |
	"$CTL" shell | tail -n +5)
expect "replay = session" 0 "$R" printf '%s\n' "$A"

# shell through a pipe: commands run in order against one connection; the last status counts.
expect "shell pipe" 0 "machine m12 created (x86_64, 16Mi RAM)
pfn 0x10  phys 0x10000
pfn 0x18  phys 0x18000" bash -c "printf 'machine create --mem 16M\n\n# comment\nalloc-pages 3\nalloc-pages 3\n' | \"$CTL\" shell"
expect_rc "shell last status" 1 "Error (invalid_argument)" \
	bash -c "printf 'machine create --mem 16M\nfree-pages 0x11 0\n' | \"$CTL\" shell"
expect "shell completion words" 0 "alloc
create
destroy
free
shrink" ctl __complete cache

# ---- failures: refused, or failed partway (kept and journaled, as in Linux) ----------------
Q=$(ctl -o text machine create --mem 4M)
expect_rc "refused op" 1 "Error (invalid_argument): order 11 is too big" ctl -m "$Q" alloc-pages 11
expect "refused op keeps seq 0" 0 "0" bash -c "\"$CTL\" -o json -m $Q machine show | jq -r .seq"
expect_rc "failed partway" 1 \
	"(it failed partway; what it did stays, as seq 1: \`vmsimctl events\` shows it)" \
	ctl -m "$Q" alloc-pages 10
expect "failed partway takes seq 1" 0 "1" bash -c "\"$CTL\" -o json -m $Q machine show | jq -r .seq"
expect "its last event" 0 "op failed: out of memory" \
	bash -c "\"$CTL\" -o json -m $Q events --last 1 | jq -r '.events[0].text'"
printf 'alloc-pages 0\nalloc-pages 10\nalloc-pages 0\n' >"$TMPD/partway.trace"
expect_rc "a trace goes on after it" 0 \
	"partway.trace:2: it failed partway; what it did stays, as seq 3; the run goes on" \
	ctl -m "$Q" run -q "$TMPD/partway.trace"
expect "the summary counts it" 0 "2 1 true" bash -c \
	"\"$CTL\" -m $Q -o json run \"$TMPD/partway.trace\" 2>/dev/null | jq -r '\"\\(.ops) \\(.failedPartway) \\(.ok)\"'"
printf 'alloc-pages 0\nalloc-pages 11\nalloc-pages 0\n' >"$TMPD/refused.trace"
expect_rc "a trace stops at a refused line" 1 "refused.trace:2: \`alloc-pages 11\` failed" \
	ctl -m "$Q" run -q "$TMPD/refused.trace"
# the history, failures partway included, replayed as a trace rebuilds the same machine
R=$(ctl -o text machine create --mem 4M)
expect "history marks it" 0 "1 alloc-pages 10  # failed partway
2 alloc-pages 0
3 alloc-pages 10  # failed partway
4 alloc-pages 0" bash -c "\"$CTL\" -m $Q history --limit 4 --trace | awk '{ print NR, \$0 }'"
expect "History JSON says so" 0 "true false true false" bash -c \
	"\"$CTL\" -m $Q -o json history --limit 4 | jq -r '[.entries[].failedPartway] | join(\" \")'"
ctl -m "$Q" history --trace >"$TMPD/q.trace"
expect_rc "history replays" 0 "" ctl -m "$R" run -q "$TMPD/q.trace"
expect "replayed machine = original" 0 "$(ctl -m "$Q" cat buddyinfo vmstat slabinfo)" \
	ctl -m "$R" cat buddyinfo vmstat slabinfo
# record keeps an op that failed partway (it changed the machine), not a refused one
printf 'alloc-pages 10\nalloc-pages 11\nalloc-pages 0\n' |
	"$CTL" -m "$Q" record "$TMPD/partway-rec.trace" >/dev/null 2>&1
expect "record keeps failures partway" 0 "alloc-pages 10
alloc-pages 0" grep -v '^#' "$TMPD/partway-rec.trace"

# ---- machine reset / rm --------------------------------------------------------------------
expect "machine reset" 0 "machine m1 reset" ctl machine reset m1
expect_golden "buddyinfo after reset" buddyinfo-boot.txt ctl -m m1 cat buddyinfo
expect "machine rm" 0 "machine m2 deleted" ctl machine rm m2
expect_rc "machine rm again" 1 "Error (not_found)" ctl machine rm m2

finish
