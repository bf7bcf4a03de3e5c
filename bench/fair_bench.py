#!/usr/bin/env python3
"""Figures for a shared server under hostile clients (docs/BENCHMARKS.md, "Fair connections"):
  1. RSS under the slow-reader attack: N connections each pipeline 64 FrameMap requests of a
     2 GiB machine and never read; the server's peak RSS above its baseline, and a healthz
     from another client meanwhile;
  2. time to serve a client under 5,000 silent connections from one address (the client on
     the same address), with the default limits.
Usage: fair_bench.py VMSIMD [--conns N] [--silent N] [--md]"""
import argparse
import json
import os
import resource
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from vmsimd_proc import Vmsimd, TWIRP  # noqa: E402


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def healthz_ms(port):
    t0 = time.time()
    data = b""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        while b"ok\n" not in data:
            d = s.recv(4096)
            if not d:
                break
            data += d
        s.close()
    except OSError:
        pass
    ok = data.startswith(b"HTTP/1.1 200")
    return (time.time() - t0) * 1e3 if ok else float("inf")


def slow_readers(vmsimd, nconns):
    srv = Vmsimd(vmsimd, "--open", "--db", ":memory:")
    try:
        st, m = srv.call("CreateMachine", {"config": {"ramBytes": str(2 << 30)}})
        srv.call("FrameMap", {"machineId": m["id"]})
        base = rss_mb(srv.proc.pid)
        body = json.dumps({"machineId": m["id"]}).encode()
        req = (("POST %sFrameMap HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (TWIRP, len(body))).encode() + body) * 64
        socks = []
        for _ in range(nconns):
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(False)
            try:
                s.send(req)
            except BlockingIOError:
                pass
            socks.append(s)
        # The first answers each connection's buffers take cost the loop once (FrameMap of
        # 2 GiB: about 0.2 s each, not sliced); then the held requests cost nothing.
        t0 = time.time()
        peak, stall = base, None
        while time.time() < t0 + 40:
            peak = max(peak, rss_mb(srv.proc.pid))
            if healthz_ms(srv.port) < 50:
                stall = stall or time.time() - t0
                if time.time() - t0 > stall + 3:
                    break
            time.sleep(0.2)
        after = max(healthz_ms(srv.port) for _ in range(20))
        for s in socks:
            s.close()
        return base, peak, stall, after
    finally:
        srv.stop()


def silent(vmsimd, n):
    srv = Vmsimd(vmsimd, "--open", "--db", ":memory:")
    try:
        socks = []
        t0 = time.time()
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", srv.port)))
        opened = time.time() - t0
        time.sleep(0.5)
        lat = [healthz_ms(srv.port) for _ in range(20)]
        for s in socks:
            s.close()
        return opened, statistics.median(lat), max(lat)
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vmsimd")
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--silent", type=int, default=5000)
    ap.add_argument("--md", action="store_true")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # vmsimd inherits it too
    if hard < a.silent + 200:
        sys.exit("ulimit -n %d is too low for %d connections" % (hard, a.silent))
    base, peak, stall, after = slow_readers(a.vmsimd, a.conns)
    one_base, one_peak, _, _ = slow_readers(a.vmsimd, 1)
    opened, med, mx = silent(a.vmsimd, a.silent)
    rows = [
        ("slow readers: %d connections x 64 pipelined FrameMaps (2 GiB machine), never read"
         % a.conns, "RSS %.0f MB -> peak %.0f MB (+%.1f MB, %.2f MB a connection); the "
         "first answers held the loop %.1f s once, then healthz at worst %.1f ms (20 tries)"
         % (base, peak, peak - base, (peak - base) / a.conns, stall or -1, after)),
        ("one slow reader alone", "RSS +%.1f MB" % (one_peak - one_base)),
        ("%d silent connections from 127.0.0.1 (opened in %.1f s), default limits" %
         (a.silent, opened), "healthz from the same address: median %.1f ms, max %.1f ms "
         "(20 tries)" % (med, mx)),
    ]
    if a.md:
        print("| attack | measured |")
        print("|---|---|")
        for k, v in rows:
            print("| %s | %s |" % (k, v))
    else:
        for k, v in rows:
            print("%s: %s" % (k, v))


if __name__ == "__main__":
    main()
