#!/bin/bash
# End-to-end for ps, translate, snapshot save/ls/restore/rm/diff and `at SEQ VIEW` (issue 7):
# the real vmsimctl against the real vmsimd on an ephemeral port, exact output and exit codes.
VMSIMD=$1
CTL=$2
SRC=$3
. "$SRC/tests/cli/lib.sh"
. "$SRC/tests/cli/server.sh"
ctl() { "$CTL" "$@"; }
pc() { "$CTL" -m m1 "$@"; }

# ---- usage errors (2) before any machine ---------------------------------------------------
expect_rc "translate missing" 2 "missing argument" pc translate 1
expect_rc "translate bad pid" 2 "bad PID 'x'" pc translate x 0x1000
expect_rc "translate bad addr" 2 "bad ADDR 'zz'" pc translate 1 zz
expect_rc "ps extra" 2 "unexpected argument 'x'" pc ps x
expect_rc "at bad seq" 2 "bad SEQ 'soon'" pc at soon buddyinfo
expect_rc "snapshot ls bad" 2 "unexpected argument '--bogus'" pc snapshot ls --bogus
expect_rc "ps no machine" 2 "no machine selected" ctl ps

expect "machine create" 0 "machine m1 created (x86_64, 16Mi RAM)" ctl machine create --mem 16M
BUDDY0=$(pc cat buddyinfo)
expect "buddyinfo at start" 0 \
	"Node 0, zone      DMA      0      0      0      0      1      2      2      1      0      0      3 " \
	pc cat buddyinfo
expect "snapshot save" 0 "snapshot s1 saved at seq 0" pc snapshot save s1

# ---- ps and translate -----------------------------------------------------------------------
expect "spawn" 0 "1" pc spawn a
BUDDY1=$(pc cat buddyinfo)
expect "mmap" 0 "0x7ffff7fef000" pc mmap 1 64K rw
expect "touch" 0 "0x7ffff7ff0000 -> phys 0x26000  minor fault  tlb miss" \
	pc touch 1 0x7ffff7ff0000 --write
PHYS=$(sed -n 's/.*-> phys \(0x[0-9a-f]*\) .*/\1/p' "$OUT")
expect "ps" 0 "   PID  PPID  STAT  RSS  VSZ  MINFLT  MAJFLT  COW  COMMAND
*    1     0  R       4  216       1       0    0  a" pc ps
expect_json "ps json" '.tasks[0].comm' a pc -o json ps
expect "translate present" 0 "pgd  index 255  table pfn 0x20  entry 0x0000000000022067  -> pfn 0x22
pud  index 511  table pfn 0x22  entry 0x0000000000023067  -> pfn 0x23
pmd  index 447  table pfn 0x23  entry 0x0000000000024067  -> pfn 0x24
pte  index 496  table pfn 0x24  entry 0x8000000000026067  -> pfn 0x26
pte 0x8000000000026067 flags present rw user accessed dirty nx
0x7ffff7ff0000 -> phys $PHYS" pc translate 1 0x7ffff7ff0000
expect "translate missing pte" 0 "pgd  index 255  table pfn 0x20  entry 0x0000000000022067  -> pfn 0x22
pud  index 511  table pfn 0x22  entry 0x0000000000023067  -> pfn 0x23
pmd  index 447  table pfn 0x23  entry 0x0000000000024067  -> pfn 0x24
pte  index 480  table pfn 0x24  entry 0x0000000000000000  -> not present
0x7ffff7fe0000: not mapped (pte entry not present)" pc translate 1 0x7ffff7fe0000
expect_json "translate json" '.phys' 155648 pc -o json translate 1 0x7ffff7ff0000
expect_rc "translate unknown pid" 1 "Error (not_found): no process with pid 9" \
	pc translate 9 0x1000

# ---- snapshots and time travel --------------------------------------------------------------
BUDDY3=$(pc cat buddyinfo)
CHECKS=$((CHECKS + 1))
[ "$BUDDY3" != "$BUDDY0" ] || _fail "ops did not change buddyinfo"
expect "snapshot ls" 0 "NAME  SEQ   SIZE
s1      0  $(pc -o json snapshot ls | jq -r '.snapshots[0].size')" pc snapshot ls
CHECKS=$((CHECKS + 1))
[ "$BUDDY1" != "$BUDDY3" ] || _fail "mmap+touch did not change buddyinfo"
expect "at 1 shows the older buddyinfo" 0 "$BUDDY1" pc at 1 /proc/buddyinfo
expect "at 3 buddyinfo" 0 "$BUDDY3" pc at 3 buddyinfo
expect "at 0 is now" 0 "$BUDDY3" pc at 0 buddyinfo
expect_rc "at future seq" 1 "Error" pc at 99 buddyinfo
expect "snapshot diff" 0 "nr_free_pages            3408 -> 3385" \
	bash -c "\"$CTL\" -m m1 snapshot diff s1 0 | grep '^nr_free_pages'"
expect "snapshot restore" 0 "restored s1 (history seq 4, op seq 0)" pc snapshot restore s1
expect "buddyinfo back exactly" 0 "$BUDDY0" pc cat buddyinfo
expect "ps after restore" 0 "   PID  PPID  STAT  RSS  VSZ  MINFLT  MAJFLT  COW  COMMAND" pc ps
expect "history kept: at 3" 0 "$BUDDY3" pc at 3 buddyinfo
expect "snapshot rm" 0 "snapshot s1 deleted" pc snapshot rm s1
expect_rc "snapshot rm again" 1 "Error (not_found)" pc snapshot rm s1
expect_rc "restore unknown" 1 "Error (not_found)" pc snapshot restore nope
expect "snapshot ls empty" 0 "NAME  SEQ  SIZE" pc snapshot ls
expect_rc "cannot connect" 3 "cannot reach the server" \
	"$CTL" --server http://127.0.0.1:1 -m m1 ps

# ---- history: the journal in trace words -----------------------------------------------------
expect "history of m1" 0 "SEQ  KIND     OP
  1  op       spawn a
  2  op       mmap 1 64K rw-
  3  op       touch 1 0x7ffff7ff0000 --write
  4  restore  snapshot restore s1" pc history
expect "history --from --limit" 0 "SEQ  KIND  OP
  2  op    mmap 1 64K rw-
  3  op    touch 1 0x7ffff7ff0000 --write" pc history --from 2 --limit 2
expect "history text" 0 "$(printf '4\trestore\tsnapshot restore s1')" pc -o text history --from 4
expect_json "history json kinds" '[.entries[].kind] | join(",")' "op,op,op,restore" \
	pc -o json history
expect_json "history json op" '.entries[1].op.mmap.len' 65536 pc -o json history
expect_json "history json restore" '.entries[3] | "\(.snapshot) \(.snapshotSeq) \(.created > "0")"' \
	"s1 0 true" pc -o json history
expect_json "history json page" '"\(.entries | length) \(.lastSeq) \(.nextSeq)"' "1 4 2" \
	pc -o json history --limit 1
expect "history at the end: empty" 0 "SEQ  KIND  OP" pc history --from 5
expect "help history" 0 "Usage: vmsimctl [global flags] history [--from SEQ] [--limit N] [--trace]

the machine's journal: every op, reset and restore, in trace words.

One line per history seq: SEQ, KIND (op, reset or restore) and OP, the trace line that
redoes it (\`machine reset\` and \`snapshot restore NAME\` for the others). --from starts
at a history seq (default 1), --limit stops after N entries (default: all of them).
--trace prints the OP column alone, a trace that \`vmsimctl run\` replays (on a new
machine, minus the restores). -o json: one HistoryResponse, every entry and its time.

Runs on the selected machine (--machine ID, VMSIM_MACHINE, or \`vmsimctl use ID\`)." \
	ctl help history
# completion: the command word (from the table, shell and bash alike) and its options
expect "history in the command words" 0 "history" bash -c "\"$CTL\" __complete | grep '^hist'"
COMPL="PATH=$(dirname "$CTL"):\$PATH; source $SRC/scripts/vmsimctl.bash-completion"
expect "bash completes history" 0 "history" bash -c \
	"$COMPL; COMP_WORDS=(vmsimctl -m m1 hist); COMP_CWORD=3; _vmsimctl; echo \"\${COMPREPLY[*]}\""
expect "bash completes history's options" 0 "--from --limit --trace --help" bash -c \
	"$COMPL; COMP_WORDS=(vmsimctl history --); COMP_CWORD=2; _vmsimctl; echo \"\${COMPREPLY[*]}\""
# bad input: usage (2), refused by the server (1), no server (3)
expect_rc "history bad --limit 0" 2 "bad --limit '0': use a number of entries, 1 or more" \
	pc history --limit 0
expect_rc "history bad --limit" 2 "bad --limit '-3'" pc history --limit -3
expect_rc "history bad --from" 2 "bad --from 'x': use a history seq (1 = the start)" \
	pc history --from x
expect_rc "history unknown option" 2 "" pc history --bogus
expect_rc "history extra argument" 2 "unexpected argument 'now'" pc history now
expect_rc "history no machine" 2 "no machine selected" ctl history
expect_rc "history unknown machine" 1 'Error (not_found): no machine "m9"' \
	"$CTL" -m m9 history
expect_rc "history past the end" 1 \
	"Error (out_of_range): machine m1 has no seq 9 (its history ends at 4)" \
	pc history --from 9
expect_rc "history cannot connect" 3 "cannot reach the server" \
	"$CTL" --server http://127.0.0.1:1 -m m1 history

# A known session on m2, a reset included (a refused op changes nothing: not journaled); --trace replays it into the same state.
ctl machine create --mem 16M >/dev/null
p2() { "$CTL" -m m2 "$@"; }
p2 spawn a >/dev/null
p2 alloc-pages 2 >/dev/null
p2 machine reset >/dev/null
p2 spawn b >/dev/null
p2 fork 1 >/dev/null
p2 kmalloc 100 >/dev/null
expect_rc "a failing op" 1 "Error" p2 exit 9
p2 brk 1 0x700000 >/dev/null
expect "history of m2" 0 "SEQ  KIND   OP
  1  op     spawn a
  2  op     alloc-pages 2
  3  reset  machine reset
  4  op     spawn b
  5  op     fork 1
  6  op     kmalloc 100
  7  op     brk 1 0x700000" p2 history
p2 history --trace >"$TMPD/m2.trace"
ctl machine create --mem 16M >/dev/null
expect_rc "replay of history --trace" 0 "" "$CTL" -m m3 run "$TMPD/m2.trace"
expect "replayed history is the same" 0 "$(p2 history)" "$CTL" -m m3 history
expect "replayed state is the same" 0 "$(p2 cat buddyinfo)" "$CTL" -m m3 cat buddyinfo
expect "replayed tasks are the same" 0 "$(p2 ps)" "$CTL" -m m3 ps

# More entries than a page (1000): the CLI pages through them.
ctl machine create --mem 16M >/dev/null
for i in $(seq 1005); do echo "alloc-pages 0"; done >"$TMPD/many.trace"
"$CTL" -m m4 run "$TMPD/many.trace" >/dev/null
expect "history pages: count" 0 1006 bash -c "\"$CTL\" -m m4 history | wc -l"
expect "history pages: last line" 0 "1005  op    alloc-pages 0" \
	bash -c "\"$CTL\" -m m4 history | tail -1"
expect "history --limit over a page" 0 "1002  op    alloc-pages 0" \
	bash -c "\"$CTL\" -m m4 history --limit 1002 | tail -1"
expect_json "history json over pages" '"\(.entries | length) \(.lastSeq) \(.nextSeq)"' \
	"1005 1005 0" "$CTL" -m m4 -o json history
expect_json "history json --limit 1001" '"\(.entries | length) \(.entries[-1].seq) \(.nextSeq)"' \
	"1001 1001 1002" "$CTL" -m m4 -o json history --limit 1001
expect "history --from 1004" 0 "$(printf '1004\top\talloc-pages 0\n1005\top\talloc-pages 0')" \
	"$CTL" -m m4 -o text history --from 1004

finish
