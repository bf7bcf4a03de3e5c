#!/usr/bin/env python3
"""Who is asking, over HTTP.

- A request with two Authorization headers is refused (unauthenticated), whichever of them
  holds a good token, for RPCs and event streams alike: which identity counts must not depend
  on which header a proxy or the server reads.
- /metrics (per-route counts, the machine count) is for admins: 401 without a token, 403 for a
  student, the metrics for an admin.
Usage: http_identity_test.py VMSIMD."""
import http.client
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd, TWIRP  # noqa: E402

VMSIMD = sys.argv[1]


def request(srv, path, headers, body=None):
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.putrequest("POST" if body is not None else "GET", path)
    for name, value in headers:
        c.putheader(name, value)
    if body is not None:
        c.putheader("Content-Type", "application/json")
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body.encode() if body is not None else None)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data.startswith(b"{") else data


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "a.db")
        token = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True,
                               text=True, check=True).stdout.strip()
        with Vmsimd(VMSIMD, "--db", db) as srv:
            good = ("Authorization", "Bearer " + token)
            status, who = request(srv, TWIRP + "Whoami", [good], "{}")
            assert status == 200 and who["user"]["name"] == "admin", (status, who)
            want = {"code": "unauthenticated",
                    "msg": "more than one Authorization header: send exactly one"}
            for pair in ([good, good], [good, ("Authorization", "Bearer vmsim_0")],
                         [("authorization", "Bearer x"), good]):
                status, err = request(srv, TWIRP + "Whoami", pair, "{}")
                assert (status, err) == (401, want), (pair, status, err)
            status, err = request(srv, "/v1/machines/m1/events", [good, good])
            assert (status, err) == (401, want), (status, err)

            status, made = request(srv, TWIRP + "CreateUsers", [good],
                                   json.dumps({"names": ["stu"], "role": "ROLE_STUDENT"}))
            assert status == 200, (status, made)
            student = ("Authorization", "Bearer " + made["users"][0]["token"])
            status, err = request(srv, "/metrics", [])
            assert status == 401 and err["code"] == "unauthenticated", (status, err)
            status, err = request(srv, "/metrics", [student])
            assert (status, err) == (403, {"code": "permission_denied",
                                           "msg": "/metrics is for admins"}), (status, err)
            status, text = request(srv, "/metrics", [good])
            assert status == 200 and b"vmsim_machines 0\n" in text, (status, text)
    print("http_identity: ok")


if __name__ == "__main__":
    main()
