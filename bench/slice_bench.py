#!/usr/bin/env python3
"""slice_bench: what other clients see while one client runs the largest Apply the server allows
(--max-request-work of AccessRange ops each just under --max-op-work), and while an admin
creates a 64 GiB machine. Small RPCs (GetMachine and Tick 1, alternately, each client on its own
machine) run in a loop from several clients; their latency is reported quiet, during the batch
and during the CreateMachine.

usage: slice_bench.py VMSIMD [--clients 4] [--db FILE] [--quiet-seconds 2] [--max-op-work N]
(--db: default a fresh file in a temporary directory, journaled with fsync as deployed)
Prints the figures docs/BENCHMARKS.md records. Pass an older vmsimd to compare."""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

TWIRP = "/twirp/vmsim.v1.VmSim/"
REQUEST_WORK = 1 << 28


def op_work(length):
    """AccessRange of `length` bytes from a page boundary, one access per byte (cost.h)."""
    return 1 + length + 16 * ((length + 4095) // 4096)


def op_len(max_op_work):
    """The longest such range under the per-op limit, in whole 1000s of bytes."""
    n = max_op_work * 4096 // 4112 // 1000 * 1000
    while op_work(n) > max_op_work:
        n -= 1000
    return n


class Conn:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, body):
        self.c.request("POST", TWIRP + method, json.dumps(body),
                       {"Content-Type": "application/json"})
        r = self.c.getresponse()
        return r.status, json.loads(r.read())


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def report(what, lat, wall=None):
    ms = [x * 1e3 for x in lat]
    print("%-34s %6d calls  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms%s" % (
        what, len(ms), pct(ms, 50), pct(ms, 99), max(ms) if ms else float("nan"),
        "  (%.2f s)" % wall if wall is not None else ""))


class Clients:
    """n threads calling GetMachine / Tick on their own machines until stop()."""

    def __init__(self, port, machines):
        self.port, self.machines = port, machines
        self.lat, self.errors = [], 0
        self.running = threading.Event()
        self.lock = threading.Lock()

    def run(self, mid):
        c = Conn(self.port)
        i = 0
        while self.running.is_set():
            t = time.perf_counter()
            st, _ = (c.call("GetMachine", {"machineId": mid}) if i % 2 else
                     c.call("Tick", {"machineId": mid, "n": "1"}))
            d = time.perf_counter() - t
            with self.lock:
                self.lat.append(d)
                self.errors += st != 200
            i += 1

    def start(self):
        self.lat, self.errors = [], 0
        self.running.set()
        self.threads = [threading.Thread(target=self.run, args=(m,)) for m in self.machines]
        for t in self.threads:
            t.start()

    def stop(self):
        self.running.clear()
        for t in self.threads:
            t.join()
        return self.lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmsimd")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--db")
    ap.add_argument("--quiet-seconds", type=float, default=2)
    ap.add_argument("--max-op-work", type=int, default=1 << 19, help="the server's (default its default)")
    a = ap.parse_args()
    extra = ["--max-op-work", str(a.max_op_work)] if a.max_op_work != 1 << 19 else []
    db = a.db or os.path.join(tempfile.mkdtemp(prefix="vmsim-slice-"), "bench.db")
    p = subprocess.Popen([a.vmsimd, "--open", "--db", db, "--listen", "127.0.0.1:0",
                          "--log-level", "warn"] + extra, stdout=subprocess.PIPE)
    port = int(p.stdout.readline().decode().split("127.0.0.1:")[1].split("/")[0])
    try:
        admin = Conn(port)
        _, m = admin.call("CreateMachine", {})
        _, r = admin.call("Apply", {"machineId": m["id"], "wantResults": True, "ops": [
            {"spawn": {"name": "p"}},
            {"mmap": {"pid": 1, "len": str(1 << 20), "prot": 3, "flags": 0x22}}]})
        addr = r["results"][1]["value"]
        mids = [admin.call("CreateMachine", {})[1]["id"] for _ in range(a.clients)]
        clients = Clients(port, mids)

        clients.start()
        time.sleep(a.quiet_seconds)
        report("quiet", clients.stop())

        length = op_len(a.max_op_work)
        n = REQUEST_WORK // op_work(length)
        op = {"accessRange": {"pid": 1, "addr": addr, "len": str(length), "stride": "1"}}
        print("batch: %d AccessRange ops of %d units, %d units in all (limit %d)" % (
            n, op_work(length), n * op_work(length), REQUEST_WORK))
        clients.start()
        time.sleep(0.2)
        t = time.perf_counter()
        st, r = admin.call("Apply", {"machineId": m["id"], "ops": [op] * n})
        wall = time.perf_counter() - t
        lat = clients.stop()
        print("  answer: %d %s" % (st, {k: r[k] for k in r if k != "results"}))
        report("during the largest batch", lat, wall)

        clients.start()
        time.sleep(0.2)
        t = time.perf_counter()
        st, r = admin.call("CreateMachine", {"config": {"ramBytes": str(64 << 30)}})
        wall = time.perf_counter() - t
        lat = clients.stop()
        print("  CreateMachine 64 GiB: %d %s" % (st, r.get("id", r)))
        report("during CreateMachine 64 GiB", lat, wall)
        if clients.errors:
            print("errors: %d" % clients.errors)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
