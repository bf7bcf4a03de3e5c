#!/bin/bash
# `vmsimctl policy simulate` against the textbook's answers (Silberschatz's reference string,
# Belady's anomaly), its errors, and a one-million-reference file. Needs no server.
CTL=$1
GOLDEN_DIR=$2/golden
. "$2/lib.sh"

SIL=7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,0,1,7,0,1
expect_golden "fifo steps" policy-simulate-fifo.txt "$CTL" policy simulate --policy fifo --frames 3 --refs $SIL
expect_golden "opt steps" policy-simulate-opt.txt "$CTL" policy simulate --policy opt --frames 3 --refs $SIL
expect "all policies" 0 "fifo, 3 frames: 20 references, 15 faults, 5 hits, fault rate 75.00%
lru, 3 frames: 20 references, 12 faults, 8 hits, fault rate 60.00%
mru, 3 frames: 20 references, 16 faults, 4 hits, fault rate 80.00%
opt, 3 frames: 20 references, 9 faults, 11 hits, fault rate 45.00%
clock, 3 frames: 20 references, 14 faults, 6 hits, fault rate 70.00%" \
	"$CTL" policy simulate --policy fifo,lru,mru,opt,clock --frames 3 --refs $SIL --quiet
# Belady's anomaly: FIFO faults more with 4 frames than with 3.
B=1,2,3,4,1,2,5,1,2,3,4,5
expect "belady 3" 0 "fifo, 3 frames: 12 references, 9 faults, 3 hits, fault rate 75.00%" \
	"$CTL" policy simulate --policy fifo --frames 3 --refs $B -q
expect "belady 4" 0 "fifo, 4 frames: 12 references, 10 faults, 2 hits, fault rate 83.33%" \
	"$CTL" policy simulate --policy fifo --frames 4 --refs $B -q
expect "refs from stdin" 0 "lru, 3 frames: 20 references, 12 faults, 8 hits, fault rate 60.00%" \
	bash -c "echo '$SIL' | tr , '\n' | \"$CTL\" policy simulate --policy lru --frames 3 --refs-file - -q"

# Bad input: usage errors (exit 2) that say what is wrong.
expect_rc "no policy" 2 "missing --policy" "$CTL" policy simulate --frames 3 --refs 1,2
expect_rc "bad policy" 2 "bad --policy 'lfu'" "$CTL" policy simulate --policy lfu --frames 3 --refs 1
expect_rc "no frames" 2 "missing --frames" "$CTL" policy simulate --policy lru --refs 1
expect_rc "zero frames" 2 "bad --frames '0'" "$CTL" policy simulate --policy lru --frames 0 --refs 1
expect_rc "no refs" 2 "missing --refs" "$CTL" policy simulate --policy lru --frames 2
expect_rc "bad ref" 2 "'x' is not a page number" "$CTL" policy simulate --policy lru --frames 2 --refs 1,x
expect_rc "no file" 2 "cannot open /nonexistent" "$CTL" policy simulate --policy lru --frames 2 --refs-file /nonexistent
expect_rc "page above 2^32" 2 "page 4294967296 is above 4294967295" "$CTL" policy simulate --policy lru --frames 2 --refs 1,4294967296

# A million references: every policy, totals only; OPT must agree with itself run twice
# (deterministic) and never fault more than LRU.
refs=$(mktemp)
awk 'BEGIN { x = 12345; for (i = 0; i < 1000000; i++) { x = (x * 1103515245 + 12345) % 2147483648; printf "%d\n", (x / 65536) % 64 } }' >"$refs"
run "$CTL" policy simulate --policy lru,opt --frames 16 --refs-file "$refs" -q
CHECKS=$((CHECKS + 1))
lru=$(sed -n 's/^lru.* \([0-9]*\) faults.*/\1/p' "$OUT")
opt=$(sed -n 's/^opt.* \([0-9]*\) faults.*/\1/p' "$OUT")
if [ "$RC" != 0 ] || [ -z "$lru" ] || [ -z "$opt" ] || [ "$opt" -gt "$lru" ] ||
	! grep -q "1000000 references" "$OUT"; then
	_fail "1M refs: rc $RC lru $lru opt $opt"
fi
head -100000 "$refs" >"$refs.100k"
run "$CTL" policy simulate --policy opt --frames 16 --refs-file "$refs.100k"
CHECKS=$((CHECKS + 1))
[ "$RC" = 0 ] && [ "$(wc -l <"$OUT")" = 100004 ] || _fail "100k steps: rc $RC, $(wc -l <"$OUT") lines"
rm -f "$refs.100k"
rm -f "$refs"
finish
