#!/usr/bin/env python3
"""A shared vmsimd stays fair to every client: bounded memory per connection (a client that
never reads), room for new clients under silent connections, per-user caps on connections and
event streams, streams closed when access goes, reads that grow with the machine paid for.
Usage: fairness_test.py VMSIMD [TEST...]. Python standard library only."""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd, TWIRP  # noqa: E402

VMSIMD = None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def raise_fd_limit():
    """Many sockets: the soft limit of open files up to the hard one (`ulimit -n`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def connect(srv, timeout=10):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)


def request(method, obj, token=None):
    body = json.dumps(obj).encode()
    auth = "Authorization: Bearer %s\r\n" % token if token else ""
    return ("POST %s%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (TWIRP, method, len(body), auth)).encode() + body


def read_answer(s):
    """(status, JSON body or raw bytes) of one Content-Length framed answer."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    n = 0
    for line in lines[1:]:
        k, v = line.split(":", 1)
        if k.lower() == "content-length":
            n = int(v)
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError("closed")
        rest += d
    body = rest[:n]
    try:
        body = json.loads(body)
    except ValueError:
        pass
    return int(lines[0].split()[1]), body


def timed_healthz(srv):
    t0 = time.time()
    s = connect(srv, timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _ = read_answer(s)
    s.close()
    return st, time.time() - t0


def is_closed(s, wait):
    s.settimeout(wait)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class AuthServer:
    """A vmsimd with authentication: an admin, students s1 and s2 (tokens), extra flags."""

    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="vmsim-fair-")
        db = os.path.join(self.tmp, "f.db")
        out = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True,
                             text=True)
        check(out.returncode == 0, "init-admin: %r" % out.stderr)
        self.admin = out.stdout.strip()
        self.srv = Vmsimd(VMSIMD, "--db", db, *args)
        st, r = self.srv.call("CreateUsers", {"names": ["s1", "s2"], "role": "ROLE_STUDENT",
                                              "quota": {"machines": "4",
                                                        "ramBytes": "4294967296",
                                                        "opsPerSec": "50"}}, self.admin)
        check(st == 200, "CreateUsers: %d %r" % (st, r))
        self.users = {u["user"]["name"]: (u["user"]["id"], u["token"]) for u in r["users"]}

    def token(self, name):
        return self.users[name][1]

    def stop(self):
        self.srv.stop()


def sse_open(srv, mid, token):
    s = connect(srv)
    s.sendall(("GET /v1/machines/%s/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
               "\r\n\r\n" % (mid, token)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    status = int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/1.1 ") else 0
    return s, status, buf


# ---------------------------------------------------------------------------------------------

def test_slow_reader_memory_bounded():
    """20 connections x 64 pipelined FrameMaps of a 2 GiB machine, never read: the server
    stops reading and serving them (backpressure) and its RSS stays bounded; healthz answers."""
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:")
    try:
        st, m = srv.call("CreateMachine", {"config": {"ramBytes": str(2 << 30)}})
        check(st == 200, "2 GiB machine: %r" % (m,))
        st, fm = srv.call("FrameMap", {"machineId": m["id"]})  # warm the answer path
        check(st == 200, "FrameMap: %d" % st)
        base = rss_mb(srv.proc.pid)
        req = request("FrameMap", {"machineId": m["id"]}) * 64
        socks = []
        for _ in range(20):
            s = connect(srv)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.setblocking(False)
            try:
                s.send(req)
            except BlockingIOError:
                pass
            socks.append(s)
        # Each connection gets the answers its socket buffers and OUT_HIGH_WATER take (the
        # first ones cost the loop 0.2 s each: FrameMap is not sliced), then none: the server
        # is idle again while the 20 x 64 requests wait.
        peak, t_end, last = base, time.time() + 30, None
        while time.time() < t_end:
            try:
                last = timed_healthz(srv)
            except OSError:
                last = None
            peak = max(peak, rss_mb(srv.proc.pid))
            if last and last[1] < 0.5:
                break
        time.sleep(1)
        peak = max(peak, rss_mb(srv.proc.pid))
        st, took = timed_healthz(srv)
        print("    slow readers: RSS %.0f MB -> peak %.0f MB, then healthz in %.1f ms"
              % (base, peak, took * 1e3))
        check(st == 200 and took < 1.0, "healthz under slow readers: %d in %.2f s" % (st, took))
        check(peak - base < 20 * 8, "RSS grew %.0f MB for 20 slow readers (bound: 8 MB each)"
              % (peak - base))
        for s in socks:
            s.close()
    finally:
        srv.stop()


def test_silent_connections_make_room():
    """Silent connections from one address: past its cap (and at the global cap) the oldest
    silent one is closed for the newcomer, and none outlives the header timeout."""
    raise_fd_limit()
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:", "--max-conns", "300",
                 "--max-unauth-per-addr", "200", "--request-timeout", "1500")
    try:
        silent = [connect(srv) for _ in range(400)]
        time.sleep(0.3)
        st, took = timed_healthz(srv)
        check(st == 200 and took < 1.0, "a client under 400 silent connections: %d in %.2f s"
              % (st, took))
        check(is_closed(silent[0], 0.5), "the oldest silent connection made room")
        time.sleep(1.6)
        check(all(is_closed(s, 0.2) for s in silent[-100:]),
              "silent connections closed at the header timeout")
        for s in silent:
            s.close()
    finally:
        srv.stop()


def test_header_timeout_then_idle_timeout():
    """The first request head must come within --request-timeout of the connection; after a
    request, the connection may idle for --idle-timeout."""
    srv = Vmsimd(VMSIMD, "--open", "--db", ":memory:", "--request-timeout", "400",
                 "--idle-timeout", "5000")
    try:
        quiet = connect(srv)
        used = connect(srv)
        used.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(read_answer(used)[0] == 200, "healthz")
        check(is_closed(quiet, 1.5), "a connection that never spoke is closed at 400 ms")
        check(not is_closed(used, 1.5), "an idle keep-alive connection is not")
        quiet.close()
        used.close()
    finally:
        srv.stop()


def test_sse_and_connections_per_user():
    """A student cannot hold more than --max-streams-per-user streams or
    --max-conns-per-user connections; another student is not affected."""
    a = AuthServer("--max-streams-per-user", "4", "--max-conns-per-user", "8")
    try:
        srv = a.srv
        mids = {}
        for name in ("s1", "s2"):
            st, m = srv.call("CreateMachine", {"config": {"ramBytes": "16777216"}},
                             a.token(name))
            check(st == 200, "CreateMachine %s: %r" % (name, m))
            mids[name] = m["id"]
        held = []
        for i in range(4):
            s, st, _ = sse_open(srv, mids["s1"], a.token("s1"))
            check(st == 200, "stream %d: %d" % (i, st))
            held.append(s)
        s, st, buf = sse_open(srv, mids["s1"], a.token("s1"))
        check(st == 429 and b"resource_exhausted" in buf, "fifth stream: %d %r" % (st, buf))
        s.close()
        s, st, _ = sse_open(srv, mids["s2"], a.token("s2"))
        check(st == 200, "another student's stream: %d" % st)
        held.append(s)
        # Streams are connections too: 4 of the 8 are taken.
        conns = []
        for i in range(4):
            c = connect(srv)
            c.sendall(request("Whoami", {}, a.token("s1")))
            check(read_answer(c)[0] == 200, "connection %d" % i)
            conns.append(c)
        c = connect(srv)
        c.sendall(request("Whoami", {}, a.token("s1")))
        st, body = read_answer(c)
        check(st == 429 and body["code"] == "resource_exhausted", "ninth: %d %r" % (st, body))
        c.close()
        for c in held + conns:
            c.close()
        time.sleep(0.2)
        s, st, _ = sse_open(srv, mids["s1"], a.token("s1"))
        check(st == 200, "closed streams free their slots: %d" % st)
        s.close()
    finally:
        a.stop()


def test_revoke_closes_streams():
    """Revoking the token a stream was opened with ends the stream at once."""
    a = AuthServer()
    try:
        srv = a.srv
        st, m = srv.call("CreateMachine", {}, a.token("s1"))
        uid = a.users["s1"][0]
        st, tk = srv.call("IssueToken", {"userId": uid, "label": "laptop"}, a.token("s1"))
        check(st == 200, "IssueToken: %r" % (tk,))
        s, st, buf = sse_open(srv, m["id"], tk["token"])
        check(st == 200, "stream: %d" % st)
        other, st, _ = sse_open(srv, m["id"], a.token("s1"))
        t0 = time.time()
        st, _ = srv.call("RevokeToken", {"tokenId": tk["tokenId"]}, a.admin)
        check(st == 200, "RevokeToken: %d" % st)
        data = b""
        s.settimeout(2)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except (socket.timeout, ConnectionResetError):
            pass
        check(b"event: closed" in data and b"unauthenticated" in data and
              time.time() - t0 < 1.5, "revoked stream: %r" % data[-300:])
        check(not is_closed(other, 0.3), "the stream with the user's other token stays")
        s.close()
        other.close()
    finally:
        a.stop()


def test_hidden_machine_reads_like_missing():
    """The stream of a machine the caller may not see answers exactly as a missing one."""
    a = AuthServer()
    try:
        srv = a.srv
        st, m = srv.call("CreateMachine", {}, a.token("s1"))
        hidden = srv.call(None, None, a.token("s2"), path="/v1/machines/%s/events" % m["id"],
                          verb="GET")
        missing = srv.call(None, None, a.token("s2"), path="/v1/machines/m999/events",
                           verb="GET")
        check(hidden[0] == missing[0] == 404, "statuses %d %d" % (hidden[0], missing[0]))
        check(hidden[1]["msg"].replace(m["id"], "X") == missing[1]["msg"].replace("m999", "X"),
              "hidden %r vs missing %r" % (hidden[1], missing[1]))
    finally:
        a.stop()


def test_big_reads_are_charged():
    """A FrameMap of a 2 GiB machine pays for its 1.5 MB against the ops/s quota (50 here):
    asked in a loop it is refused with resource_exhausted; a small one still passes later."""
    a = AuthServer()
    try:
        srv = a.srv
        st, m = srv.call("CreateMachine", {"config": {"ramBytes": str(2 << 30)}},
                         a.token("s1"))
        check(st == 200, "machine: %r" % (m,))
        codes = []
        for _ in range(5):
            st, r = srv.call("FrameMap", {"machineId": m["id"]}, a.token("s1"))
            codes.append(r.get("code", st) if isinstance(r, dict) else st)
        check(codes[0] == 200 and "resource_exhausted" in codes,
              "whole-machine FrameMaps: %r" % codes)
        time.sleep(1.2)
        st, r = srv.call("FrameMap", {"machineId": m["id"], "count": "64"}, a.token("s1"))
        check(st == 200, "a small FrameMap after the refill: %d %r" % (st, r))
    finally:
        a.stop()


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]

if __name__ == "__main__":
    VMSIMD = sys.argv[1]
    only = sys.argv[2:]
    failed = passed = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            passed += 1
            print("ok   %s (%.2fs)" % (t.__name__, time.time() - t0))
        except Exception as e:  # report every failing test, not just the first
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
