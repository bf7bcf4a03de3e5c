#!/usr/bin/env python3
"""Bounded work per request, through the real vmsimd: a batch above the server's limits is
refused up front (resource_exhausted naming the limit and the cost) and changes nothing; the
quota is charged with the work before it runs; a long batch runs in slices while other calls are
answered, a change to its machine waits for it, and a restart replays it to the same state.
Usage: bounded_test.py VMSIMD. Python standard library only."""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd, TWIRP  # noqa: E402

VMSIMD = None
PROT_RW, MAP_PRIVATE_ANON = 3, 0x22
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def ok(srv, method, body, token=None):
    st, r = srv.call(method, body, token)
    assert st == 200, "%s: %s %s" % (method, st, r)
    return r


def new_machine(srv, token=None, ram=64 << 20, mapped=16 << 20):
    """A machine with pid 1 and `mapped` bytes of anonymous memory: (id, address)."""
    m = ok(srv, "CreateMachine", {"config": {"ramBytes": str(ram)}}, token)
    r = ok(srv, "Apply", {"machineId": m["id"], "wantResults": True, "ops": [
        {"spawn": {"name": "p"}},
        {"mmap": {"pid": 1, "len": str(mapped), "prot": PROT_RW, "flags": MAP_PRIVATE_ANON}}]},
        token)
    return m["id"], int(r["results"][1]["value"])


def touch(addr, length, stride=1):
    return {"accessRange": {"pid": 1, "addr": str(addr), "len": str(length),
                            "stride": str(stride)}}


def seq(srv, mid, token=None):
    return int(ok(srv, "GetMachine", {"machineId": mid}, token)["seq"])


def limits():
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:")
    try:
        mid, a = new_machine(srv)
        before = seq(srv, mid)
        # 40 AccessRange of 16 MiB - 1, one access per byte: 12.7 s of loop time before
        stall = touch(a, (16 << 20) - 1)
        st, e = srv.call("Apply", {"machineId": mid, "ops": [stall] * 40})
        check((st, e.get("code"), e.get("msg")) == (
            429, "resource_exhausted",
            "op 0 (access_range) costs 16842752 units of work, over this server's limit of "
            "524288 per op (--max-op-work): split it into smaller ops"),
            "the stalling batch is refused, naming the limit and the cost: %s %s" % (st, e))
        st, e = srv.call("AccessRange", dict(stall["accessRange"], machineId=mid))
        check((st, e.get("msg")) == (
            429, "access_range costs 16842752 units of work, over this server's limit of "
            "524288 per op (--max-op-work): split it into smaller ops"),
            "the same op alone is refused: %s %s" % (st, e))
        # each op under the per-op limit (263,169 units), 1100 of them over the per-request one
        st, e = srv.call("Apply", {"machineId": mid, "ops": [touch(a, 256 << 10)] * 1100})
        check((st, e.get("code"), e.get("msg")) == (
            429, "resource_exhausted",
            "this request's 1100 ops cost 289485900 units of work, over this server's limit of "
            "268435456 per request (--max-request-work): send them in several requests"),
            "a batch over the request limit is refused: %s %s" % (st, e))
        check(seq(srv, mid) == before, "the refused batches changed nothing")
    finally:
        srv.stop()
    # the limits are flags
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:", "--max-op-work", "100",
                 "--max-request-work", "1000")
    try:
        mid, a = new_machine(srv)
        st, e = srv.call("Apply", {"machineId": mid, "ops": [touch(a, 4096, 0)] * 60})
        check(st == 429 and "this request's 60 ops cost 1080 units of work, over this server's "
              "limit of 1000 per request" in e["msg"], "--max-request-work 1000: %s" % e)
        st, e = srv.call("Apply", {"machineId": mid, "ops": [touch(a, 8 << 12, 0)]})
        check((st, e.get("msg")) == (
            429, "access_range costs 137 units of work, over this server's limit of 100 per op "
            "(--max-op-work): split it into smaller ops"), "--max-op-work 100: %s" % e)
    finally:
        srv.stop()


def quota(tmp):
    db = os.path.join(tmp, "quota.db")
    out = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True, text=True)
    admin = out.stdout.strip()
    srv = Vmsimd(VMSIMD, "--db", db)
    try:
        r = ok(srv, "CreateUsers", {"names": ["s"], "quota": {
            "machines": "1", "ramBytes": str(64 << 20), "opsPerSec": "20"}}, admin)
        s = r["users"][0]["token"]
        mid, a = new_machine(srv, s, ram=16 << 20, mapped=4 << 20)  # 3 of the 20 ops
        # 700 pages, one access each: 1 + 700 + 700 x 16 = 11901 units, 12 ops of quota
        batch = {"machineId": mid, "ops": [touch(a, 700 << 12, 0)]}
        st, r = srv.call("Apply", batch, s)
        check(st == 200 and r["applied"] == 1, "the first batch fits in the bucket: %s" % r)
        before = seq(srv, mid, s)
        st, e = srv.call("Apply", batch, s)
        check((st, e.get("code"), e.get("msg")) == (
            429, "resource_exhausted", "quota exceeded: ops per second (s may run 20 ops/s; "
            "this request's work costs 12 ops)"), "the second is over the quota: %s %s" % (st, e))
        check(seq(srv, mid, admin) == before, "the refused batch did not run")
        # a create booting off the loop holds the next one until it is counted in the quota
        r = ok(srv, "CreateUsers", {"names": ["b"], "quota": {
            "machines": "5", "ramBytes": str(1 << 30), "opsPerSec": "100"}}, admin)
        b = r["users"][0]["token"]
        first = Pending(srv.port, "CreateMachine", {"config": {"ramBytes": str(768 << 20)}}, b)
        st, e = srv.call("CreateMachine", {"config": {"ramBytes": str(512 << 20)}}, b)
        check((st, e.get("msg")) == (429, "quota exceeded: RAM (b uses 768 MiB of 1024 MiB, "
                                          "this machine needs 512 MiB)"),
              "a create while another boots sees its RAM: %s %s" % (st, e))
        st, r = first.answer()
        check(st == 200 and r["config"]["ramBytes"] == str(768 << 20), "it booted: %s" % r)
    finally:
        srv.stop()


class Pending:
    """A request sent on its own connection; its answer is read later."""

    def __init__(self, port, method, body, token=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        data = json.dumps(body).encode()
        auth = "Authorization: Bearer %s\r\n" % token if token else ""
        self.sock.sendall(("POST %s%s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                           "%sContent-Length: %d\r\nConnection: close\r\n\r\n" %
                           (TWIRP, method, auth, len(data))).encode() + data)

    def answered(self):
        return bool(select.select([self.sock], [], [], 0)[0])

    def answer(self):
        buf = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        self.sock.close()
        head, _, body = buf.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)


def sliced(tmp):
    db = os.path.join(tmp, "sliced.db")
    srv = Vmsimd(VMSIMD, "--open", "--db", db, keep_alive=True)
    n = 60
    try:
        mid, a = new_machine(srv)
        other, _ = new_machine(srv)
        seq0 = seq(srv, mid)
        # 60 ops of 501,969 units: about half a second of work, many slices
        big = Pending(srv.port, "Apply", {"machineId": mid, "ops": [touch(a, 500000)] * n})
        s = seq0
        while s == seq0:
            s = seq(srv, mid)  # a read of the machine is served between slices
        check(seq0 < s < seq0 + n, "the batch is seen part-way (%d of %d ops)" % (s - seq0, n))
        # a change to the machine waits for the batch; other calls do not
        after = Pending(srv.port, "AllocPages", {"machineId": mid, "order": 0})
        st, health = srv.call(None, None, path="/healthz", verb="GET")
        check(st == 200, "healthz answered while the batch runs: %s" % st)
        r = ok(srv, "AllocPages", {"machineId": other, "order": 0})
        check(int(r["seq"]) == 3, "another machine takes ops meanwhile: %s" % r)
        st, r = big.answer()
        check(st == 200 and r["applied"] == n and int(r["seq"]) == seq0 + n,
              "the whole batch ran: %s %s" % (st, r))
        st, r = after.answer()
        check(st == 200 and int(r["seq"]) == seq0 + n + 1,
              "the waiting op ran after the batch, not inside it: %s %s" % (st, r))
        meminfo = ok(srv, "Proc", {"machineId": mid, "path": "meminfo"})["text"]
        counters = ok(srv, "Counters", {"machineId": mid})["counters"]
    finally:
        srv.stop()
    check(subprocess.run([VMSIMD, "--db", db, "--check"], capture_output=True).returncode == 0,
          "--check after the sliced batch")
    srv = Vmsimd(VMSIMD, "--open", "--db", db)
    try:
        check(seq(srv, mid) == seq0 + n + 1, "the batch and the op after it survive a restart")
        check(ok(srv, "Proc", {"machineId": mid, "path": "meminfo"})["text"] == meminfo and
              ok(srv, "Counters", {"machineId": mid})["counters"] == counters,
              "replay gives the same machine")
    finally:
        srv.stop()


def boot():
    """A big machine boots off the loop: other calls are answered meanwhile."""
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:")
    try:
        mid, _ = new_machine(srv)
        big = Pending(srv.port, "CreateMachine", {"config": {"ramBytes": str(32 << 30)}})
        time.sleep(0.2)  # let it arrive first; its boot takes about a second
        st, _ = srv.call(None, None, path="/healthz", verb="GET")
        r = ok(srv, "Tick", {"machineId": mid, "n": "1"})
        check(st == 200 and not big.answered(),
              "healthz and a Tick are answered while 32 GiB boot (seq %s)" % r["seq"])
        st, r = big.answer()
        check(st == 200 and int(r["nrFrames"]) == 8 << 20, "the 32 GiB machine: %s" % r)
        st, r = srv.call("ResetMachine", {"machineId": r["id"]})
        check(st == 200 and r["seq"] in ("0", 0, None), "reset booted off the loop: %s" % r)
    finally:
        srv.stop()


def main():
    global VMSIMD
    VMSIMD = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="vmsim-bounded-")
    limits()
    quota(tmp)
    sliced(tmp)
    boot()
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
