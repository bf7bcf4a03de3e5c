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

finish
