#!/usr/bin/env python3
"""Load and soak test of vmsimd, bounded in time, loopback only.

Starts the real vmsimd on an ephemeral port, boots MACHINES machines, warms them up with WARMUP
seconds of load (event rings and allocator state fill up), then for DURATION seconds drives
them with wrk (bench/soak.lua: alloc/free, kmalloc/kfree, /proc reads) while
  - sampling the server's RSS and open descriptors every second,
  - holding slowloris connections (headers trickled one byte every 2 s) that the server must
    drop after its request timeout,
  - sending oversize bodies (Content-Length far above the limit) that must get 400,
  - sending header floods that must be refused,
and finally checks the server still answers. Prints figures (and a markdown table with --md);
exits 1 on errors, a dead server, an attack that was not refused, or RSS growth after warm-up.

  bench/soak.py --vmsimd build/server/vmsimd [--machines 2000] [--duration 120] [--conns 64]
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import http.client

TWIRP = "/twirp/vmsim.v1.VmSim/"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


class Sampler(threading.Thread):
    def __init__(self, pid, stop):
        super().__init__(daemon=True)
        self.pid, self.stop, self.samples = pid, stop, []

    def run(self):
        t0 = time.time()
        while not self.stop.is_set():
            try:
                self.samples.append((time.time() - t0, rss_kb(self.pid), nfds(self.pid)))
            except OSError:
                return
            self.stop.wait(1.0)


class Slowloris(threading.Thread):
    """Opens `n` connections, trickles header bytes, records when the server drops each."""

    def __init__(self, port, n, stop):
        super().__init__(daemon=True)
        self.port, self.n, self.stop = port, n, stop
        self.opened = 0
        self.dropped_after = []  # seconds each connection lived

    def run(self):
        socks = []
        for _ in range(self.n):
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                s.sendall(b"POST " + TWIRP.encode() + b"Proc HTTP/1.1\r\nHost: x\r\n")
                s.setblocking(False)
                socks.append([s, time.time()])
                self.opened += 1
            except OSError:
                break
        while socks and not self.stop.is_set():
            for entry in list(socks):
                s, t0 = entry
                try:
                    s.send(b"X")
                    data = s.recv(4096)
                    if data == b"":
                        raise ConnectionResetError
                    # a response (408) before the close also counts as dropped
                except BlockingIOError:
                    continue
                except OSError:
                    self.dropped_after.append(time.time() - t0)
                    s.close()
                    socks.remove(entry)
            self.stop.wait(2.0)
        for s, _ in socks:
            s.close()
        self.still_open = len(socks)


class Oversize(threading.Thread):
    """Every second: one oversize body and one header flood; counts how each was refused."""

    def __init__(self, port, stop):
        super().__init__(daemon=True)
        self.port, self.stop = port, stop
        self.sent = 0
        self.status = {}
        self.flood_sent = 0
        self.flood_refused = 0

    def one(self, payload):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            s.sendall(payload)
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed"
        except OSError:
            return "closed"
        finally:
            s.close()

    def run(self):
        while not self.stop.is_set():
            head = ("POST %sProc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    "Content-Length: 104857600\r\n\r\n" % TWIRP).encode()
            code = self.one(head + b"{" * 65536)
            self.sent += 1
            self.status[code] = self.status.get(code, 0) + 1
            flood = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Junk: " + b"a" * 200000 + b"\r\n\r\n"
            code = self.one(flood)
            self.flood_sent += 1
            if code != "200":
                self.flood_refused += 1
            self.stop.wait(1.0)


def rpc(conn, method, body):
    conn.request("POST", TWIRP + method, json.dumps(body),
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise RuntimeError("%s -> %d %s" % (method, r.status, data[:200]))
    return json.loads(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vmsimd", default="build/server/vmsimd")
    ap.add_argument("--machines", type=int, default=2000)
    ap.add_argument("--ram", type=int, default=4 << 20, help="bytes per machine")
    ap.add_argument("--duration", type=int, default=120, help="seconds of measured load")
    ap.add_argument("--warmup", type=int, default=60,
                    help="at most this many seconds of load before measuring (stops once RSS "
                    "settles)")
    ap.add_argument("--conns", type=int, default=64, help="wrk connections (= threads)")
    ap.add_argument("--slowloris", type=int, default=200, help="slow connections held")
    ap.add_argument("--request-timeout", type=int, default=5000, help="server flag, ms")
    ap.add_argument("--max-growth", type=float, default=10.0,
                    help="allowed RSS growth after warm-up, percent")
    ap.add_argument("--md", action="store_true", help="also print a markdown table")
    ap.add_argument("server_args", nargs="*", help="extra vmsimd flags (after --)")
    a = ap.parse_args()

    cmd = [a.vmsimd, "--listen", "127.0.0.1:0", "--open", "--db", ":memory:", "--log-level", "warn",
           "--max-machines", str(a.machines + 16), "--request-timeout", str(a.request_timeout)]
    cmd += a.server_args
    srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = srv.stdout.readline().decode()
    if "listening on http://" not in line:
        print("soak: vmsimd did not start: %r" % line, file=sys.stderr)
        return 1
    port = int(line.rsplit(":", 1)[1].strip().strip("/"))
    url = "http://127.0.0.1:%d" % port
    failures = []
    tmp = tempfile.mkdtemp(prefix="vmsim-soak-")
    try:
        t0 = time.time()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ids = []
        for i in range(a.machines):
            m = rpc(conn, "CreateMachine",
                    {"name": "soak%d" % i, "config": {"ramBytes": str(a.ram), "seed": str(i)}})
            ids.append(m["id"])
        boot_s = time.time() - t0
        idfile = os.path.join(tmp, "ids")
        with open(idfile, "w") as f:
            f.write("\n".join(ids) + "\n")
        rss_boot = rss_kb(srv.pid)
        here = os.path.dirname(os.path.abspath(__file__))

        def run_wrk(secs):
            return subprocess.run(
                ["wrk", "-t%d" % a.conns, "-c%d" % a.conns, "-d%ds" % secs, "--timeout", "5s",
                 "-s", os.path.join(here, "soak.lua"), url, "--", idfile],
                capture_output=True, text=True)

        # Warm-up: load in 3 s chunks until RSS settles (event rings, allocator and heap
        # fill up to their working size), at most --warmup seconds.
        warm_t0, prev = time.time(), rss_kb(srv.pid)
        while time.time() - warm_t0 < a.warmup:
            run_wrk(3)
            now = rss_kb(srv.pid)
            if abs(now - prev) <= prev * 0.01:
                break
            prev = now
        warmup_s = time.time() - warm_t0

        stop = threading.Event()
        sampler = Sampler(srv.pid, stop)
        sampler.start()
        slow = Slowloris(port, a.slowloris, stop)
        over = Oversize(port, stop)
        slow.start()
        over.start()
        wrk = run_wrk(a.duration)
        stop.set()
        for t in (sampler, slow, over):
            t.join(timeout=10)

        alive = srv.poll() is None
        health = None
        if alive:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                health = c.getresponse().status
            except OSError:
                health = None
        stats = {}
        for tok in (wrk.stdout.split("SOAK ", 1)[1].split() if "SOAK " in wrk.stdout else []):
            k, v = tok.split("=")
            stats[k] = int(v)
        if not stats:
            failures.append("wrk produced no summary: " + wrk.stdout[-500:] + wrk.stderr[-500:])
        s = sampler.samples
        rss_warm = s[0][1] if s else rss_boot
        rss_end = s[-1][1] if s else 0
        rss_max = max((x[1] for x in s), default=0)
        fds_max = max((x[2] for x in s), default=0)
        growth = 100.0 * (rss_end - rss_warm) / rss_warm if rss_warm else 0.0
        errors = sum(stats.get(k, 0) for k in ("errors_connect", "errors_read", "errors_write",
                                               "errors_status", "errors_timeout"))
        reqs = stats.get("requests", 0)
        dur = stats.get("duration_us", 1) / 1e6
        if not alive or health != 200:
            failures.append("server not healthy after the run (alive=%s, /healthz=%s)"
                            % (alive, health))
        if errors:
            failures.append("%d wrk errors" % errors)
        if growth > a.max_growth:
            failures.append("RSS grew %.1f%% after warm-up" % growth)
        if over.status.get("400", 0) != over.sent:
            failures.append("oversize bodies not all refused with 400: %s" % over.status)
        if over.flood_refused != over.flood_sent:
            failures.append("header floods answered: %d of %d refused"
                            % (over.flood_refused, over.flood_sent))
        slow_dropped = len(slow.dropped_after)
        if a.duration * 1000 > 2 * a.request_timeout + 5000 and slow_dropped < slow.opened:
            failures.append("slowloris: only %d of %d slow connections dropped"
                            % (slow_dropped, slow.opened))
        res = {
            "machines": a.machines, "ram_per_machine_mib": a.ram >> 20,
            "boot_s": round(boot_s, 2), "warmup_s": round(warmup_s, 1), "duration_s": round(dur, 1), "connections": a.conns,
            "requests": reqs, "req_per_s": round(reqs / dur), "errors": errors,
            "lat_p50_ms": stats.get("lat_p50_us", 0) / 1000,
            "lat_p99_ms": stats.get("lat_p99_us", 0) / 1000,
            "lat_max_ms": stats.get("lat_max_us", 0) / 1000,
            "rss_boot_mib": round(rss_boot / 1024, 1), "rss_warm_mib": round(rss_warm / 1024, 1),
            "rss_end_mib": round(rss_end / 1024, 1), "rss_max_mib": round(rss_max / 1024, 1),
            "rss_growth_pct": round(growth, 2), "fds_max": fds_max,
            "slowloris_opened": slow.opened, "slowloris_dropped": slow_dropped,
            "slowloris_drop_s_max": round(max(slow.dropped_after, default=0), 1),
            "oversize_sent": over.sent, "oversize_status": over.status,
            "header_floods": over.flood_sent, "header_floods_refused": over.flood_refused,
            "ok": not failures,
        }
        print(json.dumps(res, indent=1))
        if a.md:
            print("\n| figure | value |\n|---|---|")
            for k, v in res.items():
                print("| %s | %s |" % (k, v))
        for f in failures:
            print("soak: FAIL: " + f, file=sys.stderr)
        return 0 if not failures else 1
    finally:
        if srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            try:
                srv.wait(timeout=10)
            except subprocess.TimeoutExpired:
                srv.kill()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main())
