#!/usr/bin/env python3
"""One server per database, and the database stays the database.

- A second vmsimd on a database another one serves refuses to start with exit status 1,
  naming the holder: its pid, host and since when. Once the first has stopped, it starts.
- A database file deleted, or replaced by another file, under a running server: the next
  write is refused with unavailable (nothing acknowledged into a file nobody will open
  again) and the server logs it at error level.
- A database the server cannot write (0444) refuses to start, saying so (skipped as root,
  who may write anything).
Usage: db_identity_test.py VMSIMD. Python standard library only."""
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD = sys.argv[1]


def create(srv):
    return srv.call("CreateMachine", {"config": {"ramBytes": "16777216"}})


def test_second_server_refused(tmp):
    db = os.path.join(tmp, "one.db")
    with Vmsimd(VMSIMD, "--db", db, "--open") as first:
        second = subprocess.run([VMSIMD, "--db", db, "--open", "--listen", "127.0.0.1:0"],
                                capture_output=True, text=True, timeout=30)
        assert second.returncode == 1, (second.returncode, second.stderr)
        want = "vmsimd: %s is in use by another vmsimd (pid %d on host %s since " % (
            db, first.proc.pid, socket.gethostname())
        assert second.stderr.startswith(want), second.stderr
        assert second.stderr.endswith("Z); one server per database\n"), second.stderr
        assert "listening" not in second.stdout, second.stdout
        status, m = create(first)
        assert status == 200 and m["id"] == "m1", (status, m)
    with Vmsimd(VMSIMD, "--db", db, "--open") as again:  # the lock went with the first
        status, got = again.call("GetMachine", {"machineId": "m1"})
        assert status == 200 and got["id"] == "m1", (status, got)


def test_file_gone_or_replaced(tmp):
    for how in ("deleted", "replaced"):
        db = os.path.join(tmp, how + ".db")
        srv = Vmsimd(VMSIMD, "--db", db, "--open")
        status, m = create(srv)
        assert status == 200 and m["id"] == "m1", (status, m)
        os.unlink(db)
        if how == "replaced":
            with open(db, "wb") as f:
                f.write(b"")
        status, err = create(srv)
        assert status == 503 and err["code"] == "unavailable", (how, status, err)
        status, err = srv.call("AllocPages", {"machineId": "m1", "order": 0})
        assert status == 503 and err["code"] == "unavailable", (how, status, err)
        srv.proc.terminate()
        srv.proc.wait(timeout=30)
        log = srv.proc.stderr.read().decode()
        srv.proc.stdout.close()
        srv.proc.stderr.close()
        reason = ("the database file %s is gone" % db if how == "deleted" else
                  "the database file %s was replaced by another file" % db)
        lines = [ln for ln in log.splitlines() if " error " in ln and reason in ln]
        assert lines, (how, log)


def test_unwritable_refused(tmp):
    if os.geteuid() == 0:
        print("db_identity: unwritable database not checked (running as root)")
        return
    db = os.path.join(tmp, "ro.db")
    with Vmsimd(VMSIMD, "--db", db, "--open") as srv:
        assert create(srv)[0] == 200
    os.chmod(db, 0o444)
    r = subprocess.run([VMSIMD, "--db", db, "--open", "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == ("vmsimd: cannot write %s: Permission denied (the server needs to "
                        "write its database)\n" % db), r.stderr


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_second_server_refused(tmp)
        test_file_gone_or_replaced(tmp)
        test_unwritable_refused(tmp)
    print("db_identity: ok")


if __name__ == "__main__":
    main()
