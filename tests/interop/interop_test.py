#!/usr/bin/python3
"""vmsimd driven by clients vmsim did not write: Debian's python3-protobuf (classes protoc
generates from vmsim.proto, json_format for proto3 JSON), curl, promtool, and raw sockets for
what no client library lets one send. Cases named after protobuf's conformance suite where one
applies. Usage: interop_test.py VMSIMD PROTO_ROOT WEB_DIR [TEST...]; Debian's /usr/bin/python3
(its google.protobuf), protoc, curl and promtool on PATH."""
import email.utils
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

VMSIMD = PROTO_ROOT = WEB = None
pb = json_format = None
TWIRP = "/twirp/vmsim.v1.VmSim/"
# Twirp's code -> HTTP status table (twirp spec v7, "Error codes").
TWIRP_STATUS = {"canceled": 408, "unknown": 500, "invalid_argument": 400, "malformed": 400,
                "deadline_exceeded": 408, "not_found": 404, "bad_route": 404,
                "already_exists": 409, "permission_denied": 403, "unauthenticated": 401,
                "resource_exhausted": 429, "failed_precondition": 412, "aborted": 409,
                "out_of_range": 400, "unimplemented": 501, "internal": 500,
                "unavailable": 503, "dataloss": 500}
answers = 0  # responses whose Date and Twirp status were checked


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def load_protobuf_classes():
    """protoc --python_out into a temporary directory, then import vmsim_pb2 from it."""
    global pb, json_format
    out = tempfile.mkdtemp(prefix="vmsim-pb2-")
    subprocess.run(["protoc", "--proto_path=" + PROTO_ROOT, "--python_out=" + out,
                    "vmsim/v1/vmsim.proto"], check=True)
    sys.path.insert(0, out)
    from google.protobuf import json_format as jf
    from vmsim.v1 import vmsim_pb2
    pb, json_format = vmsim_pb2, jf


class Server:
    def __init__(self, *args, db=":memory:", open_=True):
        cmd = [VMSIMD, "--listen", "127.0.0.1:0", "--log-level", "warn", "--db", db,
               "--web", WEB] + (["--open"] if open_ else []) + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        check("listening on http://127.0.0.1:" in line, "vmsimd did not start: %r" % line)
        self.port = int(line.rsplit(":", 1)[1].strip().strip("/"))
        self.url = "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        err = self.proc.stderr.read().decode()[-2000:]
        self.proc.stdout.close()
        self.proc.stderr.close()
        check(rc == 0, "vmsimd exited %d: %s" % (rc, err))


# ---- raw HTTP -------------------------------------------------------------------------------

class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        return json.loads(self.body)


def check_answer(r):
    """What every answer must satisfy: a Date (RFC 9110 6.6.1) close to now, and an error's
    HTTP status equal to the one Twirp gives its code."""
    global answers
    date = r.header("Date")
    check(date is not None, "no Date on a %d answer" % r.status)
    when = email.utils.parsedate_to_datetime(date).timestamp()
    check(abs(when - time.time()) < 120 and date.endswith(" GMT"), "bad Date %r" % date)
    ctype = r.header("Content-Type") or ""
    if r.status >= 400 and ctype.startswith("application/json"):
        code = r.json().get("code")
        check(TWIRP_STATUS.get(code) == r.status,
              "Twirp code %s answered with HTTP %d (Twirp maps it to %s)"
              % (code, r.status, TWIRP_STATUS.get(code)))
    answers += 1


class Conn:
    """One socket; reads Content-Length framed answers (1xx answers are returned too)."""

    def __init__(self, srv, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        if 100 <= status < 200:
            return Response(status, headers, b"")
        n = 0 if head_only else int(headers.get("content-length", ["0"])[0])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        r = Response(status, headers, body)
        check_answer(r)
        return r

    def closed(self):
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        self.sock.close()


def raw(srv, data):
    c = Conn(srv)
    c.send(data)
    r = c.response()
    c.close()
    return r


def post(srv, method, body, ctype="application/protobuf", extra=""):
    head = ("POST %s%s HTTP/1.1\r\nHost: vmsim\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s"
            "\r\n" % (TWIRP, method, ctype, len(body), extra)).encode()
    return raw(srv, head + body)


def call_pb(srv, method, req):
    """A binary Twirp call: the answer parsed by python3-protobuf."""
    r = post(srv, method, req.SerializeToString())
    check(r.status == 200, "%s: %d %r" % (method, r.status, r.body[:300]))
    out = method_desc(method).output_type
    return getattr(pb, out.name).FromString(r.body)


def call_json(srv, method, text):
    return post(srv, method, text.encode() if isinstance(text, str) else text,
                "application/json")


def method_desc(name):
    return pb.DESCRIPTOR.services_by_name["VmSim"].methods_by_name[name]


def expect_error(r, status, code, what):
    body = r.json() if r.body.startswith(b"{") else {}
    check(r.status == status and body.get("code") == code,
          "%s: want %d %s, got %d %r" % (what, status, code, r.status, r.body[:300]))


def curl(*args):
    out = subprocess.run(["curl", "-s", "-S", "-i", "--max-time", "20"] + list(args),
                         capture_output=True, timeout=30)
    return out.stdout


def curl_answers(out):
    """Every answer in curl -i output, 100 Continue included, as Response objects."""
    res = []
    while out.startswith(b"HTTP/"):
        head, out = out.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
        status = int(lines[0].split()[1])
        n = 0 if status < 200 else int(headers.get("content-length", ["0"])[0])
        r = Response(status, headers, out[:n])
        out = out[n:]
        if status >= 200:
            check_answer(r)
        res.append(r)
    return res


# ---- protobuf and proto3 JSON -------------------------------------------------------------

def normalized(msg, ids):
    text = str(msg)
    for mid in ids:
        text = text.replace('"%s"' % mid, '"M"')
    return text


def test_binary_and_json_answers_agree():
    """Two machines, one driven in protobuf and one in JSON, answer the same: every binary
    answer parses with python3-protobuf, every JSON answer with json_format.Parse, the two
    are the same message, and the JSON is what json_format prints for it."""
    with Server() as srv:
        cfg = pb.MachineConfig(ram_bytes=16 << 20, seed=7)
        a = call_pb(srv, "CreateMachine", pb.CreateMachineRequest(name="x", config=cfg))
        j = call_json(srv, "CreateMachine", json_format.MessageToJson(
            pb.CreateMachineRequest(name="x", config=cfg)))
        ids = [a.id, j.json()["id"]]
        steps = [
            ("Spawn", pb.SpawnRequest(name="sh")),
            ("Mmap", pb.MmapRequest(pid=1, len=1 << 20, prot=3, flags=34)),
            ("AllocPages", pb.AllocPagesRequest(order=3)),
            ("Kmalloc", pb.KmallocRequest(size=600)),
            ("Fork", pb.ForkRequest(pid=1)),
            ("Tick", pb.TickRequest(n=3)),
            ("Proc", pb.ProcRequest(path="buddyinfo")),
            ("Proc", pb.ProcRequest(path="meminfo")),
            ("FrameMap", pb.FrameMapRequest(start_pfn=0, count=512)),
            ("Counters", pb.CountersRequest()),
            ("Events", pb.EventsRequest(after_id=0, limit=50)),
            ("History", pb.HistoryRequest(from_seq=1, limit=50)),
            ("GetMachine", pb.GetMachineRequest()),
            ("ListTasks", pb.ListTasksRequest()),
        ]
        for method, req in steps:
            req.machine_id = ids[0]
            bin_answer = call_pb(srv, method, req)
            req.machine_id = ids[1]
            r = call_json(srv, method, json_format.MessageToJson(req))
            check(r.status == 200, "%s JSON: %d %r" % (method, r.status, r.body[:200]))
            out = getattr(pb, method_desc(method).output_type.name)
            json_answer = json_format.Parse(r.body, out())
            check(normalized(bin_answer, ids) == normalized(json_answer, ids),
                  "%s: the JSON answer is not the binary one:\n%s\n%s"
                  % (method, bin_answer, json_answer))
            printed = json_format.MessageToDict(json_answer, including_default_value_fields=True)
            check(printed == r.json(), "%s: json_format prints\n%s\nthe server sent\n%s"
                  % (method, printed, r.json()))


def test_message_field_twice_is_merged():
    """RepeatedScalarMessageMerge: a message field sent twice is the merge of the two."""
    with Server() as srv:
        body = (pb.CreateMachineRequest(config=pb.MachineConfig(ram_bytes=8 << 20))
                .SerializeToString() +
                pb.CreateMachineRequest(config=pb.MachineConfig(seed=5)).SerializeToString())
        want = pb.CreateMachineRequest.FromString(body).config
        check(want.ram_bytes == 8 << 20 and want.seed == 5, "python3-protobuf merges")
        r = post(srv, "CreateMachine", body)
        check(r.status == 200, "two config occurrences: %d %r" % (r.status, r.body))
        got = pb.Machine.FromString(r.body).config
        check(got.ram_bytes == want.ram_bytes and got.seed == want.seed,
              "merged config: %s" % got)


def test_oneof_member_twice_is_merged():
    """ValidDataOneof.MESSAGE.Merge: tick{n=1} then tick{} is tick{n=1}, not tick{n=0}."""
    with Server() as srv:
        mid = call_pb(srv, "CreateMachine", pb.CreateMachineRequest()).id
        op = (pb.Op(tick=pb.TickRequest(n=1)).SerializeToString() +
              pb.Op(tick=pb.TickRequest()).SerializeToString())
        # ApplyRequest{machine_id, ops: [op]} by hand: the Op's bytes hold both occurrences.
        body = pb.ApplyRequest(machine_id=mid).SerializeToString() + \
            bytes([2 << 3 | 2, len(op)]) + op
        check(pb.ApplyRequest.FromString(body).ops[0].tick.n == 1, "python3-protobuf merges")
        r = post(srv, "Apply", body)
        check(r.status == 200, "Apply: %d %r" % (r.status, r.body))
        ans = pb.ApplyResponse.FromString(r.body)
        check(ans.applied == 1 and not ans.HasField("error"), "applied: %s" % ans)
        g = call_pb(srv, "GetMachine", pb.GetMachineRequest(machine_id=mid))
        check(g.seq == 1, "one tick op: %s" % g)


def test_unknown_group_is_skipped():
    """Unknown fields, groups (wire types 3/4) included, are skipped."""
    with Server() as srv:
        call_pb(srv, "CreateMachine", pb.CreateMachineRequest())
        group = bytes([0xa3, 0x06, 0x08, 0x01, 0xab, 0x06, 0xac, 0x06, 0xa4, 0x06])
        body = pb.GetMachineRequest(machine_id="m1").SerializeToString() + group
        check(pb.GetMachineRequest.FromString(body).machine_id == "m1", "python accepts")
        r = post(srv, "GetMachine", body)
        check(r.status == 200 and pb.Machine.FromString(r.body).id == "m1",
              "group skipped: %d %r" % (r.status, r.body))
        expect_error(post(srv, "GetMachine", body[:-2]), 400, "malformed", "unterminated group")


def test_uint64_full_range_unquoted():
    """Uint64FieldMaxValue: 2^63 and 2^64-1 as bare JSON numbers; 2^64 is refused."""
    with Server() as srv:
        call_pb(srv, "CreateMachine", pb.CreateMachineRequest())
        for v in (2 ** 63, 2 ** 64 - 1):
            text = '{"machineId":"m1","afterId":%d}' % v
            check(json_format.Parse(text, pb.EventsRequest()).after_id == v, "python parses")
            r = call_json(srv, "Events", text)
            check(r.status == 200 and r.json()["events"] == [],
                  "afterId %d: %d %r" % (v, r.status, r.body))
        r = call_json(srv, "Events", '{"machineId":"m1","afterId":%d}' % 2 ** 64)
        expect_error(r, 400, "malformed", "2^64")


def test_quoted_integers_strict():
    """Int32FieldLeadingSpace/TrailingSpace/PlusSign/LeadingZero, in quoted form: refused."""
    with Server() as srv:
        call_pb(srv, "CreateMachine", pb.CreateMachineRequest())
        for q in ('" 1"', '"\\t1"', '"+1"', '"007"', '"1 "', '"-1"', '""'):
            r = call_json(srv, "Events", '{"machineId":"m1","afterId":%s}' % q)
            expect_error(r, 400, "malformed", "afterId %s" % q)
            check("is not a valid unsigned integer" in r.json()["msg"], r.json()["msg"])
        r = call_json(srv, "Events", '{"machineId":"m1","afterId":"18446744073709551615"}')
        check(r.status == 200, "quoted max: %d" % r.status)


# ---- Twirp --------------------------------------------------------------------------------

def test_twirp_status_agrees_with_code():
    """Body over the limit, oversized headers: the status is the one Twirp maps the code to
    (every answer of this suite is checked the same way in check_answer)."""
    with Server("--max-body", "1024") as srv:
        r = call_json(srv, "ListMachines", b"{" + b" " * 2000 + b"}")
        expect_error(r, 400, "invalid_argument", "body over the limit")
        check("1024 bytes" in r.json()["msg"], r.json()["msg"])
        r = raw(srv, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        expect_error(r, 400, "malformed", "oversized headers")
        r = call_json(srv, "NoSuchMethod", b"{}")
        expect_error(r, 404, "bad_route", "unknown method")


# ---- HTTP/1.1 -----------------------------------------------------------------------------

def test_expect_100_continue():
    """RFC 9110 10.1.1: 100 Continue before the body; a head already refused gets its final
    answer at once, without the body ever being sent."""
    with Server("--max-body", "4096") as srv:
        body = b'{"name":"x"}'
        c = Conn(srv, timeout=3)
        c.send(("POST %sCreateMachine HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (TWIRP, len(body)))
               .encode())
        r = c.response()
        check(r.status == 100, "interim answer: %d" % r.status)
        c.send(body)
        r = c.response()
        check(r.status == 200, "final: %d %r" % (r.status, r.body))
        c.close()
        for head, status, code in (
                ("POST %sNoSuch HTTP/1.1\r\nContent-Length: 10\r\n" % TWIRP, 404, "bad_route"),
                ("POST %sListMachines HTTP/1.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n" % TWIRP, 400, "invalid_argument")):
            c = Conn(srv, timeout=3)
            c.send((head + "Host: x\r\nExpect: 100-continue\r\n\r\n").encode())
            r = c.response()
            expect_error(r, status, code, "refused head with Expect")
            c.close()
        # curl waits up to --expect100-timeout for 100 Continue before it sends a body.
        t0 = time.time()
        out = curl("--expect100-timeout", "10", "-H", "Content-Type: application/json",
                   "-H", "Expect: 100-continue", "--data-binary", "{" + " " * 2000 + "}",
                   srv.url + TWIRP + "ListMachines")
        check(time.time() - t0 < 5, "curl waited %.1f s for 100 Continue" % (time.time() - t0))
        check([a.status for a in curl_answers(out)] == [100, 200], "curl: %r" % out[:300])


def test_lingering_close_after_early_error():
    """RFC 9112 9.6: 20 clients each write a whole body over the limit, then read: every one
    reads the refusal, none gets a connection reset."""
    with Server("--max-body", "65536") as srv:
        body = b"x" * (8 << 20)
        got = []

        def client():
            try:
                c = Conn(srv, timeout=10)
                c.send(("POST %sListMachines HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/json\r\nContent-Length: %d\r\n\r\n" % (TWIRP, len(body)))
                       .encode() + body)
                r = c.response()
                got.append(r.status)
                c.close()
            except OSError as e:
                got.append(type(e).__name__)

        threads = [threading.Thread(target=client) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        check(got == [400] * 20, "answers: %r" % got)


def test_auth_challenge():
    """RFC 9110 11.6.1: a 401 carries WWW-Authenticate; the token is checked before the body."""
    tmp = tempfile.mkdtemp(prefix="vmsim-interop-")
    try:
        db = os.path.join(tmp, "a.db")
        out = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True,
                             text=True)
        check(out.returncode == 0, "init-admin: %r" % out.stderr)
        admin = out.stdout.strip()
        with Server(db=db, open_=False) as srv:
            for r in (call_json(srv, "ListMachines", b"{}"),
                      raw(srv, b"GET /v1/machines/m1/events HTTP/1.1\r\nHost: x\r\n\r\n")):
                expect_error(r, 401, "unauthenticated", "no token")
                check(r.headers.get("www-authenticate") == ['Bearer realm="vmsim"'],
                      "challenge: %r" % r.headers)
            # Expect: 100-continue without a token: the 401 comes at once, no 100.
            c = Conn(srv, timeout=3)
            c.send(("POST %sCreateMachine HTTP/1.1\r\nHost: x\r\nContent-Type: "
                    "application/json\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
                    % TWIRP).encode())
            expect_error(c.response(), 401, "unauthenticated", "401 before the body")
            c.close()
            r = call_json(srv, "Whoami", b"{}", )
            r = post(srv, "Whoami", b"{}", "application/json",
                     "Authorization: Bearer %s\r\n" % admin)
            check(r.status == 200 and r.header("WWW-Authenticate") is None, "admin: %d" % r.status)
    finally:
        shutil.rmtree(tmp)


def test_request_line_and_headers():
    """RFC 9112: Host exactly once in HTTP/1.1, no space before a colon, the absolute form
    served, Transfer-Encoding other than chunked and unknown methods are 501."""
    with Server() as srv:
        cases = [
            (b"GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed"),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "malformed"),
            (b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n", 400, "malformed"),
            (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A\t: 1\r\n\r\n", 400, "malformed"),
            (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
             "unimplemented"),
            (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
             b"0\r\n\r\n", 501, "unimplemented"),
            (b"BREW /healthz HTTP/1.1\r\nHost: a\r\n\r\n", 501, "unimplemented"),
        ]
        for req, status, code in cases:
            expect_error(raw(srv, req), status, code, repr(req))
        r = raw(srv, ("GET %s/healthz HTTP/1.1\r\nHost: x\r\n\r\n" % srv.url).encode())
        check(r.status == 200 and r.body == b"ok\n", "absolute form: %d %r" % (r.status, r.body))
        r = raw(srv, b"GET /healthz HTTP/1.0\r\n\r\n")
        check(r.status == 200, "HTTP/1.0 needs no Host: %d" % r.status)
        answers_ = curl_answers(curl("-X", "BREW", srv.url + "/healthz"))
        expect_error(answers_[0], 501, "unimplemented", "curl -X BREW")
        r = raw(srv, b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"2\r\nab\r\n0\r\n\r\n")
        check(r.status == 405, "chunked is read: %d" % r.status)


def test_static_conditional_get():
    """RFC 9110 13.1.2: If-None-Match "*" and the weak comparison (the strong form of the
    weak ETag matches) answer 304."""
    with Server() as srv:
        r = raw(srv, b"GET /static/app.js HTTP/1.1\r\nHost: x\r\n\r\n")
        etag = r.header("ETag")
        check(r.status == 200 and etag.startswith('W/"'), "ETag %r" % etag)
        for inm, status in (("*", 304), (etag, 304), (etag[2:], 304),
                            ('"nope", %s' % etag[2:], 304), ('"nope"', 200),
                            ('W/"nope" , W/%s' % etag[2:], 304)):
            r = raw(srv, ("GET /static/app.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n"
                          % inm).encode())
            check(r.status == status, "If-None-Match %s: %d" % (inm, r.status))
            check(r.status == 200 or r.body == b"", "304 has no body")


def test_date_on_every_answer():
    """Date on 200, errors, 304 and SSE heads (every answer above is checked too)."""
    with Server() as srv:
        call_pb(srv, "CreateMachine", pb.CreateMachineRequest())
        c = Conn(srv)
        c.send(b"GET /v1/machines/m1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.response(head_only=True)
        check(r.status == 200, "SSE head")
        c.close()
    check(answers > 10, "answers checked: %d" % answers)


# ---- Server-Sent Events -------------------------------------------------------------------

def read_sse(c, want, stop=None, timeout=5):
    """Frames (dicts) off an SSE connection until `want` events or stop(frame) is true."""
    frames, n = [], 0
    deadline = time.time() + timeout
    while time.time() < deadline:
        while b"\n\n" in c.buf:
            block, c.buf = c.buf.split(b"\n\n", 1)
            f = {}
            for line in block.decode().split("\n"):
                if line.startswith(":") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                f[k] = v[1:] if v.startswith(" ") else v
            if not f:
                continue
            frames.append(f)
            n += f.get("event") == "event"
            if n >= want or (stop and stop(f)):
                return frames
        c.sock.settimeout(max(0.05, deadline - time.time()))
        try:
            c._fill()
        except (socket.timeout, EOFError):
            break
    return frames


def sse(srv, mid, last=None):
    c = Conn(srv)
    hdr = "Last-Event-ID: %d\r\n" % last if last is not None else ""
    c.send(("GET /v1/machines/%s/events HTTP/1.1\r\nHost: x\r\n%s\r\n" % (mid, hdr)).encode())
    r = c.response(head_only=True)
    check(r.status == 200, "SSE: %d" % r.status)
    return c


def ids(frames):
    return [int(f["id"]) for f in frames if f.get("event") == "event"]


def test_event_ids_never_reused():
    """Event ids keep growing across ResetMachine and SnapshotRestore; a Last-Event-ID from
    before a reset, or beyond the newest event, gets `event: reset`, not a silent replay."""
    with Server() as srv:
        mid = call_pb(srv, "CreateMachine", pb.CreateMachineRequest()).id
        a = call_pb(srv, "AllocPages", pb.AllocPagesRequest(machine_id=mid, order=1))
        before = a.last_event
        call_pb(srv, "SnapshotSave", pb.SnapshotSaveRequest(machine_id=mid, name="s1"))
        live = sse(srv, mid, last=0)
        first = ids(read_sse(live, before))
        check(first == list(range(1, before + 1)), "ids before reset: %r" % first[:5])
        call_pb(srv, "ResetMachine", pb.ResetMachineRequest(machine_id=mid))
        frames = read_sse(live, 1, stop=lambda f: f.get("event") == "reset")
        check(any(f.get("event") == "reset" for f in frames), "reset notice: %r" % frames)
        after = ids(read_sse(live, 1))
        check(after and min(after) > before, "ids after reset %r must pass %d" % (after, before))
        g = call_pb(srv, "GetMachine", pb.GetMachineRequest(machine_id=mid))
        ev = call_pb(srv, "Events", pb.EventsRequest(machine_id=mid, after_id=0, limit=5))
        check(ev.events[0].id == min(after) and g.next_event_id > max(after) and
              ev.first_id == min(after), "Events and GetMachine use the same ids: %s" % ev)
        live.close()
        # A client that saw ids of the old machine must be told, not replayed to silently.
        for stale in (before, before // 2, 10 ** 9):
            c = sse(srv, mid, last=stale)
            frames = read_sse(c, 1)
            frames = [f for f in frames if "event" in f]  # after "retry:"
            check(frames[0].get("event") == "reset", "Last-Event-ID %d: %r" % (stale, frames[:3]))
            check(json.loads(frames[0]["data"])["staleId"] == str(stale), frames[0])
            check(int(frames[1]["id"]) == min(after), "then the ring: %r" % frames[1])
            c.close()
        # A current id resumes normally.
        top = g.next_event_id - 1
        b = call_pb(srv, "AllocPages", pb.AllocPagesRequest(machine_id=mid, order=0))
        c = sse(srv, mid, last=top)
        frames = [f for f in read_sse(c, 1) if "event" in f]
        check(frames[0].get("event") == "event" and int(frames[0]["id"]) == top + 1,
              "resume: %r" % frames[:2])
        c.close()
        # Restoring a snapshot (its ring holds ids 1..) also moves ids forward.
        call_pb(srv, "SnapshotRestore", pb.SnapshotRestoreRequest(machine_id=mid, name="s1"))
        g2 = call_pb(srv, "GetMachine", pb.GetMachineRequest(machine_id=mid))
        ev = call_pb(srv, "Events", pb.EventsRequest(machine_id=mid, after_id=0, limit=5))
        check(ev.first_id > top + 1 and g2.next_event_id > g.next_event_id,
              "ids after restore: %s %s" % (ev.first_id, g2.next_event_id))
        del b
        # A machine of 256 MiB or more is rebooted off the loop: the same numbering.
        big = call_pb(srv, "CreateMachine", pb.CreateMachineRequest(
            config=pb.MachineConfig(ram_bytes=256 << 20))).id
        top = call_pb(srv, "AllocPages", pb.AllocPagesRequest(machine_id=big)).last_event
        call_pb(srv, "ResetMachine", pb.ResetMachineRequest(machine_id=big))
        ev = call_pb(srv, "Events", pb.EventsRequest(machine_id=big, after_id=0, limit=1))
        check(ev.first_id == top + 1 and ev.events[0].id == top + 1,
              "big machine after reset: %s (before: %d)" % (ev.first_id, top))


# ---- /metrics -----------------------------------------------------------------------------

def test_promtool_check_metrics():
    """promtool (Debian's prometheus) accepts /metrics."""
    with Server() as srv:
        call_pb(srv, "CreateMachine", pb.CreateMachineRequest())
        r = raw(srv, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        check(r.status == 200, "metrics: %d" % r.status)
        out = subprocess.run(["promtool", "check", "metrics"], input=r.body,
                             capture_output=True)
        check(out.returncode == 0, "promtool: %r %r" % (out.stdout, out.stderr))


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]

if __name__ == "__main__":
    VMSIMD, PROTO_ROOT, WEB = sys.argv[1:4]
    only = sys.argv[4:]
    load_protobuf_classes()
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
