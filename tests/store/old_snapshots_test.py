#!/usr/bin/env python3
"""A database whose checkpoint and named snapshot were written in snapshot format 2 (by a vmsimd
that wrote that format, fixtures/README.md) still works with this vmsimd: --check finds nothing wrong
(the old snapshots are compared after a load and a re-save, not byte for byte), a restart
recovers the machine from the format 2 checkpoint, MachineAt and SnapshotRestore read the
format 2 named snapshot, and every view equals what the old server printed at the same seq.
After the restore the server writes format 3, and --check is still clean.
Usage: old_snapshots_test.py VMSIMD."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD = sys.argv[1]
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "v2-snapshots.db")
VIEWS = json.load(open(os.path.join(HERE, "fixtures", "v2-snapshots.views.json")))
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def fsck(db):
    p = subprocess.run([VMSIMD, "--db", db, "--check"], capture_output=True, text=True,
                       timeout=60)
    return p.returncode, p.stdout + p.stderr


def server(db):
    return Vmsimd(VMSIMD, "--db", db, "--open")


def live_views(srv, seq):
    for view, want in sorted(VIEWS[str(seq)].items()):
        st, r = srv.call("Proc", {"machineId": "m1", "path": view})
        check(st == 200 and r.get("text") == want,
              "live %s at seq %d equals the old server's: %s" % (view, seq, r))


def past_views(srv, seq):
    for view, want in sorted(VIEWS[str(seq)].items()):
        st, r = srv.call("MachineAt", {"machineId": "m1", "seq": str(seq), "path": view})
        check(st == 200 and r.get("text") == want,
              "MachineAt %d %s equals the old server's: %s" % (seq, view, r))


def main():
    db = os.path.join(tempfile.mkdtemp(prefix="vmsim-oldsnap-"), "old.db")
    shutil.copyfile(FIXTURE, db)
    rc, out = fsck(db)
    check(rc == 0 and "1 machines, 0 problems" in out, "--check of the format 2 database: %s" % out)

    srv = server(db)
    try:
        st, m = srv.call("GetMachine", {"machineId": "m1"})
        check(st == 200 and m.get("seq") == "15", "recovered at seq 15: %s" % m)
        st, r = srv.call("SnapshotList", {"machineId": "m1", "includeCheckpoints": True})
        check(st == 200 and [(s.get("name", ""), s["seq"]) for s in r["snapshots"]] ==
              [("", "13"), ("lesson", "14")], "the old checkpoint and snapshot: %s" % r)
        live_views(srv, 15)
        past_views(srv, 14)
        st, r = srv.call("SnapshotRestore", {"machineId": "m1", "name": "lesson"})
        check(st == 200, "restore of the format 2 snapshot: %s" % r)
        live_views(srv, 14)
        st, r = srv.call("SnapshotSave", {"machineId": "m1", "name": "now"})
        check(st == 200, "a new snapshot: %s" % r)
        # the machine goes on as the old one did from seq 14: the same allocation
        st, r = srv.call("AllocPages", {"machineId": "m1", "order": 0})
        check(st == 200 and r.get("value") == "52", "alloc after the restore: pfn 0x34: %s" % r)
    finally:
        srv.stop()
    rc, out = fsck(db)
    check(rc == 0 and "1 machines, 0 problems" in out, "--check after format 3 writes: %s" % out)

    # a corrupted format 2 snapshot is a problem --check names
    shutil.copyfile(FIXTURE, db)
    con = sqlite3.connect(db)
    con.execute("UPDATE snapshots SET state = CAST('VMSIMSNP' || X'02000000' AS BLOB) "
                "WHERE name = 'lesson'")
    con.commit()
    con.close()
    rc, out = fsck(db)
    check(rc != 0 and "snapshot \"lesson\" at seq 14 is corrupt" in out,
          "--check names the broken old snapshot: %s" % out)

    if failures:
        print("%d checks failed" % len(failures))
        sys.exit(1)
    print("old snapshots: all checks passed")


if __name__ == "__main__":
    main()
