#!/usr/bin/env python3
"""Crash test: drive vmsimd with acknowledged mutations from several clients, kill -9 it at a
random moment, restart it on the same database, and prove that
  * every acknowledged op is there (each machine's op seq >= the highest seq acknowledged),
  * an Apply batch (one journal record) is all there or not at all: a machine driven by
    batches comes back exactly at the end of its last acknowledged batch or at the end of
    the one in flight at the kill, never inside a batch,
  * the recovered state equals a replay from scratch (Export -> Import replays the journal
    from the config; counters and /proc views of both must be identical),
  * `vmsimd --check` (integrity_check + replay against every checkpoint) is clean.
Usage: crash_test.py VMSIMD [--kills N] [--seed S]. Python standard library only."""
import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import TWIRP, Vmsimd  # noqa: E402


def server(vmsimd, db):
    return Vmsimd(vmsimd, "--db", db, "--open", "--checkpoint-every", "40")


class Client:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def call(self, method, body):
        self.c.request("POST", TWIRP + method, json.dumps(body),
                       {"Content-Type": "application/json"})
        r = self.c.getresponse()
        return r.status, json.loads(r.read())


def driver(port, mid, acked, stop, rng):
    """One client per machine: allocations and frees, recording every acknowledged seq."""
    try:
        cl = Client(port)
        live = []
        while not stop.is_set():
            if live and (rng.random() < 0.4 or len(live) > 40):
                pfn, order = live.pop(rng.randrange(len(live)))
                st, r = cl.call("FreePages", {"machineId": mid, "pfn": str(pfn), "order": order})
            elif rng.random() < 0.3:
                st, r = cl.call("Kmalloc", {"machineId": mid, "size": str(rng.choice([64, 200, 1000, 3000]))})
            else:
                order = rng.randrange(3)
                st, r = cl.call("AllocPages", {"machineId": mid, "order": order})
                if st == 200:
                    live.append((int(r["value"]), order))
            if st == 200:
                acked[mid] = max(acked.get(mid, 0), int(r["seq"]))
    except (OSError, http.client.HTTPException, ValueError):
        return  # the server was killed under us


failures = []


def batch_driver(port, mid, acked, inflight, stop, rng):
    """Apply batches of 2-200 allocations and frees on one machine; before each request
    inflight[mid] = the seq its batch would end at, after its answer acked[mid] = that seq."""
    try:
        cl = Client(port)
        live = []
        while not stop.is_set():
            ops, frees = [], []
            for _ in range(rng.randrange(2, 201)):
                if live and (rng.random() < 0.45 or len(live) > 150):
                    pfn, order = live.pop(rng.randrange(len(live)))
                    ops.append({"freePages": {"pfn": str(pfn), "order": order}})
                    frees.append((pfn, order))
                else:
                    ops.append({"allocPages": {"order": rng.randrange(2)}})
            inflight[mid] = acked[mid] + len(ops)
            st, r = cl.call("Apply", {"machineId": mid, "ops": ops, "wantResults": True})
            if st != 200 or "error" in r or r["applied"] != len(ops) or \
                    int(r["seq"]) != inflight[mid]:
                failures.append("batch of %d ops to %s: %d %r" % (len(ops), mid, st, r)[:300])
                return
            for op, res in zip(ops, r["results"]):
                if "allocPages" in op:
                    live.append((int(res["value"]), op["allocPages"].get("order", 0)))
            acked[mid] = int(r["seq"])
            time.sleep(rng.uniform(0, 0.02))  # room for the single-op clients' commits
    except (OSError, http.client.HTTPException, ValueError):
        return  # the server was killed under us


def views(cl, mid):
    st, c = cl.call("Counters", {"machineId": mid})
    assert st == 200, c
    out = {x["name"]: x["value"] for x in c["counters"] if x["name"] != "events_next_id"}
    for path in ("buddyinfo", "slabinfo"):
        st, p = cl.call("Proc", {"machineId": mid, "path": path})
        out[path] = p.get("text") if st == 200 else st
    return out


def verify(port, acked, inflight, round_no):
    cl = Client(port)
    st, ms = cl.call("ListMachines", {})
    seqs = {m["id"]: int(m["seq"]) for m in ms["machines"] if m["name"].startswith("crash")}
    for mid, seq in acked.items():
        assert mid in seqs, "round %d: machine %s lost" % (round_no, mid)
        assert seqs[mid] >= seq, "round %d: %s acknowledged seq %d but recovered %d" % (
            round_no, mid, seq, seqs[mid])
        if mid in inflight:  # batches: all or nothing
            assert seqs[mid] in (seq, inflight[mid]), (
                "round %d: %s recovered at seq %d, inside a batch (acked %d, in flight to %d)"
                % (round_no, mid, seqs[mid], seq, inflight[mid]))
    for mid in sorted(seqs):
        st, ex = cl.call("ExportMachine", {"machineId": mid})
        assert st == 200, ex
        st, im = cl.call("ImportMachine", {"data": ex["data"], "name": "replay"})
        assert st == 200, im
        a, b = views(cl, mid), views(cl, im["machineId"])
        assert a == b, "round %d: %s differs from its replay from scratch: %s" % (
            round_no, mid, sorted(k for k in a if a[k] != b.get(k)))
        st, _ = cl.call("DeleteMachine", {"machineId": im["machineId"]})
        assert st == 200
    return seqs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmsimd")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--machines", type=int, default=3)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    a = ap.parse_args()
    sys.setswitchinterval(0.0002)  # the batch thread's JSON work must not starve the others
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="vmsim-crash-")
    db = os.path.join(tmp, "crash.db")
    print("crash test: %d kills, seed %d, db %s" % (a.kills, a.seed, db))
    acked, inflight = {}, {}
    srv = server(a.vmsimd, db)
    cl = Client(srv.port)
    for i in range(a.machines):
        st, m = cl.call("CreateMachine", {"name": "crash%d" % i, "config": {"ramBytes": "16777216"}})
        assert st == 200, m
        acked[m["id"]] = 0
    st, m = cl.call("CreateMachine", {"name": "crashbatch", "config": {"ramBytes": "67108864"}})
    assert st == 200, m
    acked[m["id"]] = 0
    inflight[m["id"]] = 0
    t_total = 0.0
    for k in range(1, a.kills + 1):
        stop = threading.Event()
        threads = [threading.Thread(target=driver, args=(srv.port, mid, acked, stop,
                                                         random.Random(rng.random())))
                   for mid in acked if mid not in inflight]
        threads += [threading.Thread(target=batch_driver,
                                     args=(srv.port, mid, acked, inflight, stop,
                                           random.Random(rng.random())))
                    for mid in inflight]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 1.2))
        srv.kill9()  # mid-flight: some ops applied but not acknowledged, some in the WAL
        stop.set()
        for t in threads:
            t.join()
        assert not failures, failures
        t0 = time.time()
        srv = server(a.vmsimd, db)
        t_total += time.time() - t0
        seqs = verify(srv.port, acked, inflight, k)
        for mid in inflight:  # the next round's batches start where this one recovered
            acked[mid] = inflight[mid] = seqs[mid]
        print("  kill %d: ok, %s" % (k, ", ".join("%s at seq %d (acked %d)" % (m, seqs[m], acked[m])
                                                  for m in sorted(acked))))
    srv.stop()
    chk = subprocess.run([a.vmsimd, "--db", db, "--check"], capture_output=True, text=True)
    print(chk.stdout.strip())
    assert chk.returncode == 0, "--check failed: %s" % chk.stdout
    print("crash test: %d kills survived, every acknowledged op present, mean restart %.0f ms"
          % (a.kills, t_total / a.kills * 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
