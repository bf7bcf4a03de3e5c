#!/usr/bin/env python3
"""rpc_bench: small JSON RPC throughput and latency of vmsimd against the bare libuv "ok"
server (the ceiling), in the same run, with wrk.

usage: rpc_bench.py BUILD_DIR [--connections 256] [--threads 2] [--duration 5] [--db FILE]
(--db: vmsimd's database; the default ":memory:" journals every op without fsync, a file path
journals with fsync per group commit, as a deployed server does)
Prints one line per target and the ratio; figures go to docs/BENCHMARKS.md by hand."""
import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    port = int(line.split("127.0.0.1:")[1].split("/")[0])
    return p, port


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)


def rpc(port, method, body):
    req = urllib.request.Request("http://127.0.0.1:%d/twirp/vmsim.v1.VmSim/%s" % (port, method),
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wrk(port, method, body, args):
    env = dict(os.environ, RPC_METHOD=method, RPC_BODY=json.dumps(body))
    out = subprocess.run(["wrk", "-t%d" % args.threads, "-c%d" % args.connections,
                          "-d%ds" % args.duration, "-s", os.path.join(HERE, "rpc_post.lua"),
                          "http://127.0.0.1:%d" % port], env=env, capture_output=True,
                         check=True).stdout.decode()
    for line in out.splitlines():
        if line.startswith("RESULT "):
            rps, p50, p99, errors, total = (float(x) for x in line.split()[1:])
            return rps, p50 / 1000, p99 / 1000, int(errors), int(total)
    raise RuntimeError("no RESULT from wrk:\n" + out)


def setup_machine(port):
    """A machine with a process whose page at addr is present: Access on it is a TLB hit or a
    walk, never a fault. Falls back to GetMachine while the core has no processes yet."""
    st, m = rpc(port, "CreateMachine", {"config": {"ramBytes": str(64 << 20)}})
    mid = m["id"]
    st, sp = rpc(port, "Spawn", {"machineId": mid, "name": "bench"})
    if st == 200:
        pid = int(sp["value"])
        st, mm = rpc(port, "Mmap", {"machineId": mid, "pid": pid, "len": "4096", "prot": 3,
                                    "flags": 0x22})
        if st == 200:
            body = {"machineId": mid, "pid": pid, "addr": mm["value"], "kind": "ACCESS_WRITE"}
            st, a = rpc(port, "Access", body)
            if st == 200:
                body["kind"] = "ACCESS_READ"
                return "Access", body
    return "GetMachine", {"machineId": mid}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--connections", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3,
                    help="alternate the two targets this many times; report medians and bests "
                         "(other work on a shared machine makes single runs noisy)")
    ap.add_argument("--db", default=":memory:")
    args = ap.parse_args()
    ok_bin = os.path.join(args.build, "bench", "ok_server")
    vmsimd = os.path.join(args.build, "server", "vmsimd")

    ceil_runs, runs = [], []
    method = "GetMachine"
    for _ in range(args.repeat):
        if args.db != ":memory:":
            for side in ("", "-wal", "-shm"):
                if os.path.exists(args.db + side):
                    os.unlink(args.db + side)
        p, port = start([ok_bin, "0"])
        try:
            ceil_runs.append(wrk(port, "GetMachine", {"machineId": "m1"}, args))
        finally:
            stop(p)
        p, port = start([vmsimd, "--listen", "127.0.0.1:0", "--log-level", "warn", "--open",
                         "--db", args.db,
                         "--max-conns", "10000"])
        try:
            method, body = setup_machine(port)
            runs.append(wrk(port, method, body, args))
        finally:
            stop(p)
    load = open("/proc/loadavg").read().split()[0]
    print("rpc_bench: wrk -t%d -c%d -d%ds x%d alternating, JSON %s body %d bytes, --db %s, "
          "load %s" % (args.threads, args.connections, args.duration, args.repeat, method,
                       len(json.dumps(body)), args.db, load))
    print("%-22s %10s %10s %9s %9s %7s" % ("target", "req/s med", "req/s best", "p50 ms",
                                          "p99 ms", "errors"))
    med = lambda xs: sorted(xs)[len(xs) // 2]
    for name, rs in (("ok_server (ceiling)", ceil_runs), ("vmsimd " + method, runs)):
        print("%-22s %10.0f %10.0f %9.2f %9.2f %7d" % (
            name, med([r[0] for r in rs]), max(r[0] for r in rs), med([r[1] for r in rs]),
            med([r[2] for r in rs]), sum(r[3] for r in rs)))
    print("vmsimd / ceiling: median %.0f%%, best %.0f%%" % (
        100 * med([r[0] for r in runs]) / med([r[0] for r in ceil_runs]),
        100 * max(r[0] for r in runs) / max(r[0] for r in ceil_runs)))


if __name__ == "__main__":
    sys.exit(main())
