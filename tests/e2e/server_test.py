#!/usr/bin/env python3
"""End-to-end tests of vmsimd: start the real server on an ephemeral loopback port and drive
it with curl (JSON) and raw sockets. Usage: server_test.py VMSIMD [TEST...]
Python standard library only."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD = None
# A command the server runs under, e.g. VMSIM_WRAP="valgrind --error-exitcode=1 ..." (the
# e2e.valgrind test): its exit status is the server's, which stop() requires to be 0.
WRAP = os.environ.get("VMSIM_WRAP", "").split()
SLOW = 20 if WRAP else 1  # how much longer waits may take under the wrapper
TWIRP = "/twirp/vmsim.v1.VmSim/"


def Server(*args, web=None):
    """A vmsimd on a throwaway database with no auth unless a test says otherwise ("--auth";
    tests/store/ and tests/auth/ cover persistence and auth), under WRAP if set."""
    if "--db" not in args:
        args = ("--db", ":memory:") + tuple(args)
    if "--auth" in args:
        args = tuple(a for a in args if a != "--auth")
    elif "--open" not in args:
        args = ("--open",) + tuple(args)
    if web:
        args = tuple(args) + ("--web", web)
    return Vmsimd(VMSIMD, *args, wrap=WRAP, stop_timeout=5 * SLOW)


def curl_rpc(srv, method, body, ctype="application/json"):
    """POSTs body with curl; returns (status, parsed JSON or raw bytes)."""
    out = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H", "Content-Type: " + ctype,
         "--data-binary", "@-", srv.url + TWIRP + method],
        input=body if isinstance(body, bytes) else body.encode(), capture_output=True,
        check=True).stdout
    payload, _, code = out.rpartition(b"\n")
    try:
        return int(code), json.loads(payload)
    except ValueError:
        return int(code), payload


def connect(srv):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5 * SLOW)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads HTTP/1.1 responses (Content-Length framed) off one socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body

    def closed(self):
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, socket.timeout):
            return True


def rpc_request(method, obj, extra=""):
    body = json.dumps(obj).encode()
    return (("POST %s%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\n%s\r\n") % (TWIRP, method, len(body), extra)).encode() + body


def raw(srv, data):
    s = connect(srv)
    s.sendall(data)
    r = Reader(s)
    st, h, b = r.response()
    s.close()
    return st, h, b


def rpc(srv, method, obj):
    """JSON RPC over a raw socket; returns (status, parsed JSON)."""
    st, _, b = raw(srv, rpc_request(method, obj))
    return st, json.loads(b) if b else None


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(got, status, code, what):
    st, body = got
    check(st == status and isinstance(body, dict) and body.get("code") == code,
          "%s: want %d %s, got %d %r" % (what, status, code, st, body))
    check(body.get("msg"), "%s: error without a message" % what)


# ---------------------------------------------------------------------------------------------

def test_flow_curl():
    """create -> alloc -> proc with curl; free restores buddyinfo byte for byte."""
    with Server() as srv:
        st, m = curl_rpc(srv, "CreateMachine",
                         '{"name":"t","config":{"arch":"x86_64","ramBytes":"16777216"}}')
        check(st == 200 and m["id"] == "m1" and m["nrFrames"] == "4096", "create: %r" % m)
        check(m["config"]["arch"] == "ARCH_X86_64" and m["config"]["swappiness"] == 60,
              "defaults filled: %r" % m["config"])
        st, before = curl_rpc(srv, "Proc", '{"machineId":"m1","path":"buddyinfo"}')
        check(st == 200 and before["text"].startswith("Node 0, zone      DMA "),
              "buddyinfo: %r" % before)
        st, r = curl_rpc(srv, "AllocPages", '{"machineId":"m1","order":3}')
        check(st == 200 and r["seq"] == "1" and int(r["value"]) % 8 == 0, "alloc: %r" % r)
        check(int(r["value2"]) == int(r["value"]) * 4096, "value2 is the physical address")
        check(any("order 3" in e for e in r["events"]), "events explain the alloc: %r" % r)
        st, mid = curl_rpc(srv, "Proc", '{"machineId":"m1","path":"/proc/buddyinfo"}')
        check(mid["text"] != before["text"] and mid["seq"] == "1", "alloc shows in buddyinfo")
        st, f = curl_rpc(srv, "FreePages",
                         '{"machine_id":"m1","pfn":"%s","order":3}' % r["value"])
        check(st == 200 and f["seq"] == "2", "free (original field names): %r" % f)
        st, after = curl_rpc(srv, "Proc", '{"machineId":"m1","path":"buddyinfo"}')
        check(after["text"] == before["text"], "free restores buddyinfo exactly:\n%s\n%s"
              % (before["text"], after["text"]))
        st, g = curl_rpc(srv, "GetMachine", '{"machineId":"m1"}')
        check(g["seq"] == "2" and g["freePages"] == m["freePages"], "get: %r" % g)
        st, c = curl_rpc(srv, "Counters", '{"machineId":"m1"}')
        names = {x["name"]: x["value"] for x in c["counters"]}
        check(names.get("nr_free_pages") == m["freePages"] and names.get("seq") == "2",
              "counters: %r" % names)
        st, ev = curl_rpc(srv, "Events", '{"machineId":"m1","afterId":"%s","limit":2}'
                          % r["firstEvent"])
        check(st == 200 and [e["id"] for e in ev["events"]] ==
              [str(int(r["firstEvent"]) + 1), str(int(r["firstEvent"]) + 2)], "events: %r" % ev)
        st, fm = curl_rpc(srv, "FrameMap", '{"machineId":"m1"}')
        check(fm["count"] == "4096" and fm["pageTypes"][0] == "free" and fm["zones"],
              "frame map: %r" % {k: v for k, v in fm.items() if k not in ("flags", "orders")})
        import base64
        flags = base64.b64decode(fm["flags"])
        orders = base64.b64decode(fm["orders"])
        check(len(flags) == 2 * 4096 and len(orders) == 4096, "frame map sizes")
        check(sum(1 for i in range(4096) if flags[2 * i] & 0xf == 0) == int(g["freePages"]),
              "free frames in the map match freePages")
        st, rs = curl_rpc(srv, "ResetMachine", '{"machineId":"m1"}')
        check(st == 200 and rs["seq"] == "0", "reset: %r" % rs)
        st, ls = curl_rpc(srv, "ListMachines", "{}")
        check([x["id"] for x in ls["machines"]] == ["m1"], "list: %r" % ls)
        st, d = curl_rpc(srv, "DeleteMachine", '{"machineId":"m1"}')
        check(st == 200 and d == {}, "delete: %r" % d)
        st, ls = curl_rpc(srv, "ListMachines", "")
        check(ls == {"machines": []}, "empty list after delete (empty body = {}): %r" % ls)


def test_process_flow_curl():
    """spawn -> mmap -> access -> fork -> write (COW) -> translate and /proc views, with curl."""
    with Server() as srv:
        curl_rpc(srv, "CreateMachine", '{"config":{"ramBytes":"33554432"}}')
        st, sp = curl_rpc(srv, "Spawn", '{"machineId":"m1","name":"sh"}')
        check(st == 200 and sp["value"] == "1", "spawn: %r" % sp)
        st, mm = curl_rpc(srv, "Mmap", '{"machineId":"m1","pid":1,"len":"8192","prot":3,'
                                        '"flags":34}')
        check(st == 200 and int(mm["value"]) % 4096 == 0, "mmap: %r" % mm)
        addr = int(mm["value"])
        st, tr = curl_rpc(srv, "Translate", '{"machineId":"m1","pid":1,"addr":"%d"}' % addr)
        check(st == 200 and not tr["present"] and tr["missingLevel"], "unmapped yet: %r" % tr)
        st, a = curl_rpc(srv, "Access", '{"machineId":"m1","pid":1,"addr":"%d","kind":"write"}'
                         % addr)
        check(st == 200 and a["fault"] == "FAULT_MINOR" and a["faults"] == 1, "access: %r" % a)
        st, tr = curl_rpc(srv, "Translate", '{"machineId":"m1","pid":1,"addr":"%d"}' % addr)
        check(tr["present"] and tr["phys"] == a["value2"] and "dirty" in tr["pteFlags"] and
              [s_["level"] for s_ in tr["steps"]] == ["pgd", "pud", "pmd", "pte"],
              "translate after the write: %r" % tr)
        st, a2 = curl_rpc(srv, "Access", '{"machineId":"m1","pid":1,"addr":"%d","kind":"read"}'
                          % addr)
        check(a2["fault"] == "FAULT_NONE" and a2["value2"] == a["value2"], "second access: %r" % a2)
        st, fk = curl_rpc(srv, "Fork", '{"machineId":"m1","pid":1}')
        check(st == 200 and fk["value"] == "2", "fork: %r" % fk)
        st, t2 = curl_rpc(srv, "Translate", '{"machineId":"m1","pid":2,"addr":"%d"}' % addr)
        check(t2["present"] and t2["phys"] == a["value2"] and "rw" not in t2["pteFlags"],
              "child shares the page read-only: %r" % t2)
        st, w = curl_rpc(srv, "Access", '{"machineId":"m1","pid":2,"addr":"%d","kind":"write"}'
                         % addr)
        check(st == 200 and w["fault"] == "FAULT_COW" and w["value2"] != a["value2"],
              "write in the child copies the page: %r" % w)
        st, t1 = curl_rpc(srv, "Translate", '{"machineId":"m1","pid":1,"addr":"%d"}' % addr)
        st, t2 = curl_rpc(srv, "Translate", '{"machineId":"m1","pid":2,"addr":"%d"}' % addr)
        check(t2["phys"] == w["value2"] and t1["phys"] == a["value2"], "after COW: %r %r"
              % (t1, t2))
        st, maps = curl_rpc(srv, "Proc", '{"machineId":"m1","path":"2/maps"}')
        line = "%012x-%012x rw-p 00000000 00:00 0" % (addr, addr + 8192)
        check(st == 200 and any(l.startswith(line) for l in maps["text"].splitlines()),
              "child's maps has the mapping %s:\n%s" % (line, maps["text"]))
        st, c = curl_rpc(srv, "Counters", '{"machineId":"m1"}')
        counters = {x["name"]: int(x["value"]) for x in c["counters"]}
        check(counters["pgfault"] == 2 and counters["cow_copy"] == 1,
              "pgfault/cow_copy: %r" % {k: counters[k] for k in ("pgfault", "cow_copy")})
        expect_error(curl_rpc(srv, "Translate", '{"machineId":"m1","pid":9,"addr":"0"}'), 404,
                     "not_found", "translate in an unknown process")
        expect_error(curl_rpc(srv, "Access", '{"machineId":"m1","pid":9,"addr":"0"}'), 404,
                     "not_found", "access by an unknown process")


def test_proc_fields():
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"ramBytes": "33554432"}})
        st, mi = rpc(srv, "Proc", {"machineId": "m1", "path": "meminfo"})
        f = {x["name"]: int(x["value"]) for x in mi["fields"]}
        check(mi["fields"][0]["name"] == "MemTotal" and f["MemTotal"] ==
              int(mi["text"].split()[1]), "meminfo fields: %r" % mi["fields"][:3])
        st, c = rpc(srv, "Counters", {"machineId": "m1"})
        counters = {x["name"]: int(x["value"]) for x in c["counters"]}
        check(f["MemFree"] == counters["nr_free_pages"] * 4, "MemFree = nr_free_pages * 4 kB")
        st, bi = rpc(srv, "Proc", {"machineId": "m1", "path": "buddyinfo"})
        check(bi["fields"] == [], "a tabular view has no fields: %r" % bi["fields"])


def test_many_machines():
    """2,000 machines on one server, created over one pipelined connection."""
    with Server() as srv:
        s = connect(srv)
        r = Reader(s)
        n = 2000
        for start in range(0, n, 50):
            s.sendall(b"".join(rpc_request("CreateMachine", {"config": {"ramBytes": "4194304"}})
                               for _ in range(50)))
            for i in range(50):
                st, h, b = r.response()
                check(st == 200 and json.loads(b)["id"] == "m%d" % (start + i + 1),
                      "machine %d: %d" % (start + i, st))
        s.sendall(rpc_request("ListMachines", {}))
        st, h, b = r.response()
        ms = json.loads(b)["machines"]
        check(len(ms) == n and ms[-1]["id"] == "m%d" % n, "list of %d" % len(ms))
        s.sendall(rpc_request("AllocPages", {"machineId": "m1234", "order": 2}))
        st, h, b = r.response()
        check(st == 200 and json.loads(b)["seq"] == "1", "machines are independent")
        s.sendall(rpc_request("GetMachine", {"machineId": "m1233"}))
        st, h, b = r.response()
        check(json.loads(b)["seq"] == "0", "its neighbour is untouched")
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        st, h, b = r.response()
        check(b"vmsim_machines %d\n" % n in b, "metrics count the machines")
        s.close()


def test_apply_batch():
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"ramBytes": "16777216"}})
        st, before = rpc(srv, "Proc", {"machineId": "m1", "path": "buddyinfo"})
        ops = [{"allocPages": {"order": i % 3}} for i in range(50)]
        st, r = rpc(srv, "Apply", {"machineId": "m1", "ops": ops, "wantResults": True})
        check(st == 200 and r["applied"] == 50 and r["seq"] == "50" and len(r["results"]) == 50,
              "apply: %r" % {k: v for k, v in r.items() if k != "results"})
        frees = [{"freePages": {"pfn": x["value"], "order": i % 3}}
                 for i, x in enumerate(r["results"])]
        frees.insert(10, {"freePages": {"pfn": "1", "order": 0}})  # not allocated: fails
        st, r2 = rpc(srv, "Apply", {"machineId": "m1", "ops": frees})
        check(st == 200 and r2["applied"] == 10 and r2["error"]["index"] == 10
              and r2["error"]["code"] == "invalid_argument", "partial apply: %r" % r2)
        st, r3 = rpc(srv, "Apply", {"machineId": "m1", "ops": frees[11:]})
        check(r3["applied"] == 40 and "error" not in r3, "rest applied: %r" % r3)
        st, after = rpc(srv, "Proc", {"machineId": "m1", "path": "buddyinfo"})
        check(after["text"] == before["text"], "batch alloc+free restores buddyinfo")
        # A malformed op rejects the whole batch before anything runs.
        expect_error(rpc(srv, "Apply", {"machineId": "m1", "ops": [{"allocPages": {}}, {}]}),
                     400, "invalid_argument", "op without a kind")
        st, g = rpc(srv, "GetMachine", {"machineId": "m1"})
        check(g["seq"] == "100", "nothing applied from the rejected batch: %r" % g)


def test_errors():
    with Server("--max-body", "1048576") as srv:
        rpc(srv, "CreateMachine", {})
        st, before = rpc(srv, "Proc", {"machineId": "m1", "path": "buddyinfo"})
        expect_error(rpc(srv, "NoSuchMethod", {}), 404, "bad_route", "unknown method")
        st, h, b = raw(srv, b"GET " + TWIRP.encode() + b"ListMachines HTTP/1.1\r\nHost: x\r\n\r\n")
        expect_error((st, json.loads(b)), 404, "bad_route", "GET on an RPC")
        expect_error(rpc_via(srv, "/twirp/other.Svc/Foo", b"{}"), 404, "bad_route",
                     "other service")
        expect_error(curl_rpc(srv, "ListMachines", "{not json"), 400, "malformed",
                     "malformed JSON")
        expect_error(curl_rpc(srv, "ListMachines", "[1,2]"), 400, "malformed", "JSON array")
        expect_error(curl_rpc(srv, "GetMachine", b"\xff\xff\xff", "application/protobuf"),
                     400, "malformed", "malformed protobuf")
        expect_error(curl_rpc(srv, "ListMachines", "{}", "text/plain"), 404, "bad_route",
                     "wrong content type")
        st, b = curl_rpc(srv, "ListMachines", "x" * (1024 * 1024 + 1))
        check(st == 400 and b["code"] == "invalid_argument", "oversize body: %d %r" % (st, b))
        expect_error(rpc(srv, "GetMachine", {"machineId": "m42"}), 404, "not_found",
                     "unknown machine")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m9", "order": 1}), 404, "not_found",
                     "op on unknown machine")
        expect_error(rpc(srv, "AllocPages", {"order": 1}), 400, "invalid_argument",
                     "missing machine id")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m1", "order": 11}), 400,
                     "invalid_argument", "order too large")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m1", "ordr": 1}), 400, "malformed",
                     "unknown field")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m1", "order": -1}), 400, "malformed",
                     "negative unsigned")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m1", "order": 4294967296}), 400,
                     "malformed", "uint32 overflow")
        expect_error(rpc(srv, "AllocPages", {"machineId": "m1", "order": "three"}), 400,
                     "malformed", "string for a number")
        expect_error(rpc(srv, "FreePages", {"machineId": "m1", "pfn": "3", "order": 0}), 400,
                     "invalid_argument", "free of a page never allocated")
        expect_error(rpc(srv, "KmemCacheCreate", {"machineId": "m1", "name": "x" * 40,
                                                  "size": 64}),
                     400, "invalid_argument", "name too long")
        expect_error(rpc(srv, "CreateMachine", {"config": {"ramBytes": "1000"}}), 400,
                     "invalid_argument", "bad ram size")
        expect_error(rpc(srv, "CreateMachine", {"config": {"arch": "ARCH_MIPS"}}), 400,
                     "malformed", "unknown enum")
        expect_error(rpc(srv, "CreateMachine", {"config": {"swappiness": 300}}), 400,
                     "invalid_argument", "swappiness too big")
        expect_error(rpc(srv, "Proc", {"machineId": "m1", "path": "nosuchview"}), 404,
                     "not_found", "unknown proc view")
        expect_error(rpc(srv, "Proc", {"machineId": "m1"}), 400, "invalid_argument",
                     "proc without path")
        expect_error(rpc(srv, "FrameMap", {"machineId": "m1", "startPfn": "99999999"}), 400,
                     "invalid_argument", "frame map beyond RAM")
        st, after = rpc(srv, "Proc", {"machineId": "m1", "path": "buddyinfo"})
        check(after["text"] == before["text"] and after["seq"] == "0",
              "failed requests changed nothing")
        st, h, b = raw(srv, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        check(st == 404, "unknown path: %d" % st)
        st, h, b = raw(srv, b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(st == 405, "DELETE /: %d" % st)
        st, h, b = raw(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        check(st == 400 and json.loads(b)["code"] == "malformed", "huge header: %d" % st)
        s = connect(srv)
        s.sendall(b"BLAH\x01 / HTTP/1.1\r\n\r\n")
        r = Reader(s)
        st, h, b = r.response()
        check(st == 400 and r.closed(), "garbage request -> 400 and close: %d" % st)
        s.close()


def pb_len(field, data):
    """A protobuf length-delimited field (short payloads: one-byte length)."""
    assert len(data) < 128
    return bytes([field << 3 | 2, len(data)]) + data


def test_bad_strings_and_enums():
    """proto3 strings must be UTF-8 and enum numbers must name a value: both are refused at
    the RPC boundary, naming the field, before anything changes (a stored name that is not
    UTF-8 would break every JSON answer that shows it)."""
    with Server() as srv:
        st, m = rpc(srv, "CreateMachine", {"name": "caf\u00e9"})
        check(st == 200 and m["name"] == "caf\u00e9", "UTF-8 name: %r" % m)
        st, before = rpc(srv, "ListMachines", {})
        utf8_msg = "not valid UTF-8 (proto3 strings must be)"
        for bad in (b"lab\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82"):
            got = curl_rpc(srv, "CreateMachine", pb_len(1, bad), "application/protobuf")
            expect_error(got, 400, "invalid_argument", "protobuf name %r" % bad)
            check(got[1]["msg"] == "field name: " + utf8_msg, "names the field: %r" % got[1])
        # Deep in a batch: the whole Apply is refused, the alloc_pages before it included.
        ops = pb_len(2, pb_len(1, b"")) + pb_len(2, pb_len(3, pb_len(2, b"\x80x") + b"\x18\x40"))
        got = curl_rpc(srv, "Apply", pb_len(1, b"m1") + ops, "application/protobuf")
        expect_error(got, 400, "invalid_argument", "bad name inside Apply")
        check(got[1]["msg"] == "field ops[1].kmemCacheCreate.name: " + utf8_msg, "%r" % got[1])
        got = curl_rpc(srv, "FileCreate", pb_len(1, b"m1") + pb_len(2, b"f\xfe"),
                       "application/protobuf")
        expect_error(got, 400, "invalid_argument", "file name")
        # Non-UTF-8 in the URL (the method name) still gets a JSON error.
        st, h, b = raw(srv, b"POST " + TWIRP.encode() + b"X\xff HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        expect_error((st, json.loads(b)), 404, "bad_route", "method name not UTF-8")
        # JSON cannot carry them: a lone surrogate escape is malformed JSON.
        expect_error(curl_rpc(srv, "CreateMachine", '{"name":"\\ud800"}'), 400, "malformed",
                     "lone surrogate")
        # Enum numbers: accepted by the JSON codec (proto3 enums are open) and refused by
        # the server when the enum has no such value, in JSON and in protobuf.
        got = rpc(srv, "CreateMachine", {"config": {"arch": 7}})
        expect_error(got, 400, "invalid_argument", "arch 7")
        check(got[1]["msg"] == "field config.arch: 7 is not a value of vmsim.v1.Arch", "%r" % got[1])
        got = rpc(srv, "Access", {"machineId": "m1", "pid": 1, "kind": -1})
        expect_error(got, 400, "invalid_argument", "kind -1")
        check(got[1]["msg"] == "field kind: -1 is not a value of vmsim.v1.AccessKind", "%r" % got[1])
        got = curl_rpc(srv, "Access", pb_len(1, b"m1") + b"\x10\x01\x20\x07",
                       "application/protobuf")
        expect_error(got, 400, "invalid_argument", "protobuf kind 7")
        check(got[1]["msg"] == "field kind: 7 is not a value of vmsim.v1.AccessKind", "%r" % got[1])
        st, ok = rpc(srv, "CreateMachine", {"config": {"arch": 1, "policy": 3}})
        check(st == 200 and ok["config"]["arch"] == "ARCH_I386" and
              ok["config"]["policy"] == "POLICY_CLOCK", "enum numbers that exist: %r" % ok)
        rpc(srv, "DeleteMachine", {"machineId": ok["id"]})
        st, after = rpc(srv, "ListMachines", {})
        check(st == 200 and after == before, "nothing changed: %r vs %r" % (after, before))
        check(after["machines"][0]["seq"] == "0", "the refused batch applied nothing")


def rpc_via(srv, path, body):
    req = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: %d\r\n\r\n" % (path, len(body))).encode() + body
    st, h, b = raw(srv, req)
    return st, json.loads(b)


def test_split_segments():
    """A request arriving a few bytes at a time, then two requests in one segment."""
    with Server() as srv:
        s = connect(srv)
        data = rpc_request("CreateMachine", {"name": "split"})
        for i in range(0, len(data), 3):
            s.send(data[i:i + 3])
            time.sleep(0.001)
        r = Reader(s)
        st, h, b = r.response()
        check(st == 200 and json.loads(b)["name"] == "split", "split request: %d %r" % (st, b))
        s.sendall(rpc_request("GetMachine", {"machineId": "m1"}) +
                  rpc_request("GetMachine", {"machineId": "m2"}))
        st1, _, b1 = r.response()
        st2, _, b2 = r.response()
        check(st1 == 200 and st2 == 404, "two in one segment: %d %d" % (st1, st2))
        s.close()


def test_keepalive_1000():
    """1,000 requests on one connection, then 200 pipelined in one write, answered in order."""
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"ramBytes": "16777216"}})
        s = connect(srv)
        r = Reader(s)
        for i in range(1000):
            s.sendall(rpc_request("AllocPages", {"machineId": "m1", "order": 0}))
            st, h, b = r.response()
            check(st == 200 and json.loads(b)["seq"] == str(i + 1), "request %d: %d" % (i, st))
            check(h.get("connection") != "close", "connection kept open")
        burst = b"".join(rpc_request("Proc", {"machineId": "m1", "path": "buddyinfo"})
                         if i % 2 else rpc_request("GetMachine", {"machineId": "m1"})
                         for i in range(200))
        s.sendall(burst)
        for i in range(200):
            st, h, b = r.response()
            j = json.loads(b)
            check(st == 200 and (("text" in j) == bool(i % 2)), "pipelined %d out of order" % i)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        st, h, b = r.response()
        check(st == 200 and b == b"ok\n" and h.get("connection") == "close" and r.closed(),
              "Connection: close honoured")
        s.close()


def read_sse(sock, want_events, timeout=5 * SLOW):
    """Reads SSE frames until want_events 'event: event' frames arrived."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    frames = []
    while sum(1 for f in frames if f.get("event") == "event") < want_events:
        while b"\n\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return head, frames
            buf += data
        raw_frame, buf = buf.split(b"\n\n", 1)
        f = {}
        for line in raw_frame.decode().split("\n"):
            if line.startswith(":"):
                continue
            k, _, v = line.partition(": ")
            f[k] = v
        frames.append(f)
    return head, frames


def sse_open(srv, mid, last=None, query=""):
    s = connect(srv)
    hdr = "Last-Event-ID: %d\r\n" % last if last is not None else ""
    s.sendall(("GET /v1/machines/%s/events%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
               % (mid, query, hdr)).encode())
    return s


def test_sse():
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"ramBytes": "16777216", "eventRing": 64}})
        st, a = rpc(srv, "AllocPages", {"machineId": "m1", "order": 1})
        first, last = int(a["firstEvent"]), int(a["lastEvent"])
        # Resume after the first event of the alloc: exactly the rest of it, in order.
        s = sse_open(srv, "m1", last=first)
        head, frames = read_sse(s, last - first)
        check(b"text/event-stream" in head, "content type: %r" % head)
        evs = [f for f in frames if f.get("event") == "event"]
        check([int(f["id"]) for f in evs] == list(range(first + 1, last + 1)),
              "resume ids: %r" % evs)
        check(json.loads(evs[0]["data"])["id"] == evs[0]["id"], "data is an Event as JSON")
        # Live: an op on the machine reaches the open stream.
        st, b = rpc(srv, "AllocPages", {"machineId": "m1", "order": 0})
        head2, live = read_sse_more(s, int(b["lastEvent"]) - int(b["firstEvent"]) + 1)
        check([int(f["id"]) for f in live] ==
              list(range(int(b["firstEvent"]), int(b["lastEvent"]) + 1)), "live: %r" % live)
        s.close()
        # The same resume through ?lastEventId= (browsers' first EventSource connect).
        s = sse_open(srv, "m1", query="?lastEventId=%d" % first)
        head, frames = read_sse(s, 1)
        check(int([f for f in frames if f.get("event") == "event"][0]["id"]) == first + 1,
              "query resume")
        s.close()
        # Overflow the 64-event ring: resuming from event 1 reports the gap.
        rpc(srv, "Apply", {"machineId": "m1", "ops": [{"allocPages": {}}] * 40})
        s = sse_open(srv, "m1", last=1)
        head, frames = read_sse(s, 1)
        check(frames and any(f.get("event") == "gap" for f in frames), "gap: %r" % frames[:3])
        # Deleting the machine ends the stream.
        rpc(srv, "DeleteMachine", {"machineId": "m1"})
        data = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        except socket.timeout:
            pass
        check(b"event: deleted" in data, "deleted notice: %r" % data[-200:])
        s.close()
        st, h, b = raw(srv, b"GET /v1/machines/m77/events HTTP/1.1\r\nHost: x\r\n\r\n")
        check(st == 404, "events of an unknown machine: %d" % st)


def read_sse_more(sock, n):
    buf = b""
    out = []
    while len(out) < n:
        while b"\n\n" not in buf:
            buf += sock.recv(65536)
        fr, buf = buf.split(b"\n\n", 1)
        f = dict(l.partition(": ")[::2] for l in fr.decode().split("\n") if not l.startswith(":"))
        if f.get("event") == "event":
            out.append(f)
    return None, out


def test_sse_slow_consumer():
    """A client that never reads is dropped once its backlog passes the bound."""
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"ramBytes": "67108864", "eventRing": 1048576}})
        s = connect(srv)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /v1/machines/m1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)
        for _ in range(8):
            rpc(srv, "Apply", {"machineId": "m1", "ops": [{"allocPages": {}}] * 3000})
        st, h, b = raw(srv, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        check(b"vmsim_sse_dropped_total 1" in b, "slow client dropped: %r" %
              [l for l in b.split(b"\n") if b"sse" in l])
        s.close()


def test_static():
    web = tempfile.mkdtemp()
    outside = tempfile.mkdtemp()
    try:
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write("<!doctype html><title>vmsim</title>\n")
        with open(os.path.join(web, "app.js"), "w") as f:
            f.write("console.log(1);\n")
        with open(os.path.join(outside, "secret"), "w") as f:
            f.write("secret\n")
        os.symlink(os.path.join(outside, "secret"), os.path.join(web, "link"))
        with Server(web=web) as srv:
            st, h, b = raw(srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            check(st == 200 and b.startswith(b"<!doctype html>") and
                  h["content-type"].startswith("text/html"), "index: %d %r" % (st, h))
            st, h, b = raw(srv, b"GET /static/app.js HTTP/1.1\r\nHost: x\r\n\r\n")
            check(st == 200 and h["content-type"].startswith("text/javascript"), "js: %r" % h)
            etag = h["etag"]
            st, h, b = raw(srv, ("GET /static/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s"
                                 "\r\n\r\n" % etag).encode())
            check(st == 304 and b == b"", "etag revalidation: %d" % st)
            for path in ["/static/../" + os.path.basename(outside) + "/secret",
                         "/static/%2e%2e/%2e%2e/etc/passwd", "/static/%2E%2E%2Fetc%2Fpasswd",
                         "/static//etc/passwd", "/static/%2fetc%2fpasswd",
                         "/static/..%5c..%5cetc%5cpasswd", "/static/a/./../app.js",
                         "/static/app.js%00.png", "/static/%zz"]:
                st, h, b = raw(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                check(st == 400 and b"secret" not in b and b"root:" not in b,
                      "traversal %s: %d %r" % (path, st, b[:40]))
            st, h, b = raw(srv, b"GET /static/link HTTP/1.1\r\nHost: x\r\n\r\n")
            check(st == 404 and b"secret" not in b, "symlink escape: %d" % st)
            st, h, b = raw(srv, b"GET /static/missing.css HTTP/1.1\r\nHost: x\r\n\r\n")
            check(st == 404, "missing file: %d" % st)
            # HEAD: the same headers as GET, Content-Length of GET's body, and no body (curl -I)
            for path in ["/", "/static/app.js", "/healthz", "/metrics"]:
                st, gh, gb = raw(srv, ("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
                out = subprocess.run(["curl", "-sI", srv.url + path], capture_output=True,
                                     check=True).stdout.decode()
                lines = out.split("\r\n")
                hh = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip()
                      for l in lines[1:] if ":" in l}
                check(lines[0] == "HTTP/1.1 200 OK", "HEAD %s: %r" % (path, lines[0]))
                want = str(len(gb)) if path != "/metrics" else hh.get("content-length")
                check(hh.get("content-length") == want and int(want) > 0,
                      "HEAD %s Content-Length %r, GET sent %d bytes" %
                      (path, hh.get("content-length"), len(gb)))
                check(hh.get("content-type") == gh["content-type"] and
                      hh.get("etag") == gh.get("etag"), "HEAD %s headers: %r vs %r" % (path, hh, gh))
            # no body bytes follow a HEAD answer: a pipelined GET right after parses cleanly
            s = connect(srv)
            s.sendall(b"HEAD /static/app.js HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            s.close()
            first, _, rest = got.partition(b"\r\n\r\n")
            check(b"Content-Length: 16\r\n" in first and rest.startswith(b"HTTP/1.1 200 OK\r\n")
                  and rest.endswith(b"\r\n\r\nok\n"), "HEAD then GET: %r" % got)
    finally:
        shutil.rmtree(web)
        shutil.rmtree(outside)


def test_timeouts_and_limits():
    with Server("--request-timeout", "300", "--idle-timeout", "400", "--max-conns", "3") as srv:
        # Slowloris: half a request, then nothing. The server answers 408 and closes.
        s = connect(srv)
        s.sendall(b"POST /twirp/vmsim.v1.VmSim/ListMachines HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        r = Reader(s)
        st, h, b = r.response()
        check(st == 408 and time.time() - t0 < 3 and r.closed(), "slowloris: %d" % st)
        s.close()
        # Idle keep-alive connections are closed.
        s = connect(srv)
        t0 = time.time()
        check(Reader(s).closed() and time.time() - t0 < 3, "idle timeout")
        s.close()
        # At the limit the oldest silent connection is closed to make room for a newcomer.
        held = [connect(srv) for _ in range(3)]
        time.sleep(0.1)
        st, h, b = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(st == 200, "a newcomer at the limit: %d" % st)
        check(Reader(held[0]).closed(), "the oldest silent connection made room")
        for x in held:
            x.close()
        time.sleep(0.1)
        st, h, b = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        check(st == 200, "server fine after the limit")


def test_metrics_and_demo():
    with Server("--demo") as srv:
        st, h, b = raw(srv, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        text = b.decode()
        check(st == 200 and 'vmsim_requests_total{route="CreateMachine",code="200"}' not in text,
              "demo calls are not HTTP requests")
        check("vmsim_machines 1" in text and "vmsim_ops_applied_total" in text, text[:300])
        rpc(srv, "GetMachine", {"machineId": "m1"})
        st, h, b = raw(srv, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        text = b.decode()
        check('vmsim_requests_total{route="GetMachine",code="200"} 1' in text, text[:600])
        check('vmsim_request_duration_seconds_bucket{le="+Inf"}' in text, "histogram")
        st, m = rpc(srv, "GetMachine", {"machineId": "m1"})
        check(m["name"] == "demo" and int(m["seq"]) > 0, "demo machine has history: %r" % m)


def test_exercises():
    with Server() as srv:
        st, ls = rpc(srv, "ListExercises", {})
        names = [t["name"] for t in ls["topics"]]
        check(st == 200 and "buddy" in names and all(t["summary"] for t in ls["topics"]),
              "topics: %r" % ls)
        for topic in names:
            st, a = rpc(srv, "NewExercise", {"topic": topic, "seed": "11"})
            st2, b = rpc(srv, "NewExercise", {"topic": topic, "seed": "11"})
            check(st == 200 and a == b and a["question"] and a["fields"],
                  "%s: same seed, same exercise" % topic)
            st, v = rpc(srv, "CheckExercise", {"topic": topic, "seed": "11", "answer": "0",
                                               "reveal": True})
            check(st == 200 and not v["correct"] and v["total"] == len(a["fields"]) and
                  v["solution"].startswith("Answer: "), "%s: wrong answer graded: %r" % (topic, v))
            answer = v["solution"].split("\n")[0][len("Answer: "):]
            st, v = rpc(srv, "CheckExercise", {"topic": topic, "seed": "11", "answer": answer})
            check(st == 200 and v["correct"] and v["right"] == v["total"] and v["solution"],
                  "%s: the solution's answer is correct: %r" % (topic, v))
            st, v = rpc(srv, "CheckExercise", {"topic": topic, "seed": "11", "answer": "0"})
            check(v["solution"] == "", "%s: no solution without reveal" % topic)
        expect_error(rpc(srv, "NewExercise", {"topic": "quantum"}), 400, "invalid_argument",
                     "unknown topic")


def test_api_md_examples():
    """Every curl example in docs/API.md is routed and parses (its outcome depends on state)."""
    doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "API.md")
    examples = [l for l in open(doc).read().splitlines() if l.startswith("rpc ")]
    check(len(examples) >= 50, "examples found: %d" % len(examples))
    with Server() as srv:
        rpc(srv, "CreateMachine", {})
        rpc(srv, "Spawn", {"machineId": "m1", "name": "init"})
        for line in examples:
            _, method, body = line.split(" ", 2)
            st, b = rpc_raw_json(srv, method, body.strip("'"))
            check(st == 200 or (isinstance(b, dict) and b.get("code") not in
                                ("bad_route", "malformed")),
                  "example %s: %d %r" % (method, st, b))


def rpc_raw_json(srv, method, body):
    data = body.encode()
    st, h, b = raw(srv, (("POST %s%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n") % (TWIRP, method, len(data))).encode()
                   + data)
    return st, json.loads(b) if b else None


def test_graceful_stop():
    srv = Server()
    s = connect(srv)  # an idle keep-alive connection must not hold the stop
    t0 = time.time()
    srv.stop()
    check(time.time() - t0 < 2 * SLOW, "stopped promptly")
    s.close()


def test_list_tasks():
    """ListTasks is ps: pids, parents, names, RSS with COW-shared pages in both, one current."""
    with Server() as srv:
        rpc(srv, "CreateMachine", {"config": {"arch": "ARCH_I386", "ramBytes": str(64 << 20)}})
        st, t = rpc(srv, "ListTasks", {"machineId": "m1"})
        check(st == 200 and t["tasks"] == [], "no tasks at boot: %r" % t)
        st, sp = rpc(srv, "Spawn", {"machineId": "m1", "name": "sh"})
        pid = int(sp["value"])
        st, mm = rpc(srv, "Mmap", {"machineId": "m1", "pid": pid, "len": "65536", "prot": 3,
                                   "flags": 0x22})
        rpc(srv, "Access", {"machineId": "m1", "pid": pid, "addr": mm["value"],
                            "kind": "ACCESS_WRITE"})
        st, f = rpc(srv, "Fork", {"machineId": "m1", "pid": pid})
        st, g = rpc(srv, "GetMachine", {"machineId": "m1"})
        st, t = rpc(srv, "ListTasks", {"machineId": "m1"})
        check([(x["pid"], x["ppid"], x["comm"], x["state"]) for x in t["tasks"]] ==
              [(pid, 0, "sh", "R"), (int(f["value"]), pid, "sh", "R")], "tasks: %r" % t)
        check([x["rss"] for x in t["tasks"]] == ["1", "1"], "the COW-shared page counts in both")
        check(t["tasks"][0]["minFlt"] == "1" and t["tasks"][1]["minFlt"] == "0", "faults per task")
        check(sum(1 for x in t["tasks"] if x["current"]) == 1, "one task on the CPU")
        check(t["seq"] == g["seq"], "a query is not an op")
        expect_error(rpc(srv, "ListTasks", {"machineId": "m9"}), 404, "not_found", "no machine")


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]

if __name__ == "__main__":
    VMSIMD = sys.argv[1]
    only = sys.argv[2:]
    failed = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        t0 = time.time()
        try:
            t()
            print("ok   %s (%.2fs)" % (t.__name__, time.time() - t0))
        except Exception as e:  # report every failing test, not just the first
            failed += 1
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
    sys.exit(1 if failed else 0)
