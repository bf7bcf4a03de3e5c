#!/usr/bin/env python3
"""Users, tokens, ownership and quotas through the real vmsimd (auth mode, not --open).

Every machine-scoped RPC of vmsim.v1.VmSim (read from vmsim.proto) is called by a student on
another student's machine: the answer must be not_found with exactly the text a machine that
does not exist gets, so existence is never revealed. An instructor may read their students'
machines but not change them (permission_denied); another instructor sees nothing.
Usage: auth_e2e_test.py VMSIMD PROTO. Python standard library only."""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD, PROTO = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def server(db, *args):
    return Vmsimd(VMSIMD, "--db", db, *args)


def machine_rpcs():
    """(method, has a name field) of every RPC whose request has machine_id."""
    text = open(PROTO).read()
    bodies = dict(re.findall(r"message (\w+) \{([^}]*)\}", text))
    return [(m, re.search(r"string name = \d+;", bodies[req]) is not None)
            for m, req in re.findall(r"rpc (\w+)\((\w+)\)", text)
            if "string machine_id = 1;" in bodies.get(req, "")]


def all_rpcs():
    return re.findall(r"rpc (\w+)\(", open(PROTO).read())


# RPCs that name no machine: who may call them is decided by role. Each entry: a request body
# and the HTTP status for (admin, instructor ines, her student s1, other instructor otto). A new
# RPC fails the test until it is classified here (or names a machine).
ROLE_RPCS = {
    "ListExercises": ({}, (200, 200, 200, 200)),
    "NewExercise": ({"topic": "slab", "seed": "3"}, (200, 200, 200, 200)),
    "CheckExercise": ({"topic": "slab", "seed": "3", "answer": "1 2 3 4"}, (200, 200, 200, 200)),
    "SolveExercise": ({"topic": "slab", "seed": "3"}, (200, 200, 403, 200)),
    "ExerciseResults": ({"user": "s2"}, (200, 200, 403, 403)),
    "ListUsers": ({}, (200, 200, 200, 200)),
    "Whoami": ({}, (200, 200, 200, 200)),
}
# checked one by one in run() (they create or change users and tokens) or machine-creating
ROLE_RPCS_ELSEWHERE = {"CreateMachine", "ListMachines", "ImportMachine", "CreateUsers",
                       "IssueToken", "RevokeToken"}


READS = {"GetMachine", "Proc", "Translate", "ListTasks", "FrameMap", "Counters", "Events", "MachineAt", "SnapshotList",
         "SnapshotDiff", "ExportMachine", "History"}


def main():
    tmp = tempfile.mkdtemp(prefix="vmsim-auth-")
    db = os.path.join(tmp, "auth.db")
    out = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True, text=True)
    check(out.returncode == 0, "--init-admin exits 0")
    admin = out.stdout.strip()
    check(re.fullmatch(r"vmsim_[0-9a-f]{64}", admin) is not None, "token printed once: %r" % admin)
    again = subprocess.run([VMSIMD, "--db", db, "--init-admin"], capture_output=True, text=True)
    check(again.returncode == 1 and "an admin already exists (admin)" in again.stderr,
          "a second --init-admin is refused: %r" % again.stderr)

    srv = server(db)
    try:
        run(srv, admin)
    finally:
        srv.stop()
    check(subprocess.run([VMSIMD, "--db", db, "--check"], capture_output=True).returncode == 0,
          "--check after the session")
    # users and tokens survive a restart
    srv = server(db)
    try:
        st, who = srv.call("Whoami", {}, admin)
        check(st == 200 and who["user"]["name"] == "admin", "admin token works after restart")
        st, users = srv.call("ListUsers", {}, admin)
        check([u["name"] for u in users["users"]] == ["admin", "ines", "otto", "s1", "s2", "t1",
                                                     "q"], "users after restart: %s" % users)
    finally:
        srv.stop()
    print("%d machine-scoped and %d role-scoped RPCs checked, %d failures" % (
        len(machine_rpcs()), len(ROLE_RPCS), len(failures)))
    return 1 if failures else 0


def run(srv, admin):
    # no token, a malformed one, an unknown one
    st, e = srv.call("ListMachines", {})
    check((st, e["code"]) == (401, "unauthenticated"), "no token: 401 (%s)" % e)
    st, e = srv.call("ListMachines", {}, "nope")
    check(st == 401 and "malformed token" in e["msg"], "malformed token: %s" % e)
    st, e = srv.call("ListMachines", {}, "vmsim_" + "0" * 64)
    check((st, e["msg"]) == (401, "invalid token"), "unknown token: %s" % e)
    # static files and /healthz need none
    st, _ = srv.call(None, None, path="/healthz", verb="GET")
    check(st == 200, "/healthz without a token")

    st, r = srv.call("CreateUsers", {"names": ["ines", "otto"], "role": "ROLE_INSTRUCTOR"}, admin)
    check(st == 200, "admin creates instructors: %s" % r)
    ines, otto = (u["token"] for u in r["users"])
    st, r = srv.call("CreateUsers", {"names": ["s1", "s2"]}, ines)
    check(st == 200 and [u["user"]["role"] for u in r["users"]] == ["ROLE_STUDENT"] * 2,
          "instructor creates students in bulk: %s" % r)
    s1, s2 = (u["token"] for u in r["users"])
    st, r = srv.call("CreateUsers", {"names": ["t1"]}, otto)
    t1 = r["users"][0]["token"]
    st, e = srv.call("CreateUsers", {"names": ["x", "s1"]}, ines)
    check((st, e["msg"]) == (409, 'user "s1" already exists'), "duplicate user: %s" % e)
    st, e = srv.call("CreateUsers", {"names": ["x"]}, s1)
    check((st, e["msg"]) == (403, "students cannot create users"), "student creates: %s" % e)
    st, who = srv.call("Whoami", {}, s1)
    check(who["user"]["name"] == "s1" and who["user"]["role"] == "ROLE_STUDENT", "whoami %s" % who)

    st, m1 = srv.call("CreateMachine", {"name": "s1-lab", "config": {"ramBytes": "16777216"}}, s1)
    st, m2 = srv.call("CreateMachine", {"name": "s2-lab", "config": {"ramBytes": "16777216"}}, s2)
    m1, m2 = m1["id"], m2["id"]
    st, r = srv.call("AllocPages", {"machineId": m1, "order": 1}, s1)
    check(st == 200, "owner changes own machine")

    # listings: each sees only what they may
    def listed(tok):
        return sorted(m["id"] for m in srv.call("ListMachines", {}, tok)[1]["machines"])
    check(listed(s1) == [m1], "s1 lists own only")
    check(listed(s2) == [m2], "s2 lists own only")
    check(listed(ines) == sorted([m1, m2]), "instructor lists class machines")
    check(listed(otto) == [], "other instructor lists nothing")
    check(listed(admin) == sorted([m1, m2]), "admin lists all")

    # every machine-scoped RPC: hidden machine == absent machine, word for word
    for method, named in machine_rpcs():
        def body(mid):
            return dict({"machineId": mid}, **({"name": "x"} if named else {}))
        st, absent = srv.call(method, body("m999"), s2)
        st2, hidden = srv.call(method, body(m1), s2)
        check((st2, hidden.get("code")) == (404, "not_found"),
              "%s: student on another's machine -> not_found (got %s %s)" % (method, st2, hidden))
        check(hidden.get("msg", "").replace(m1, "ID") == absent.get("msg", "").replace("m999", "ID"),
              "%s: hidden answers like absent: %r vs %r" % (method, hidden, absent))
        st3, r3 = srv.call(method, body(m1), otto)
        check(st3 == 404, "%s: other class's instructor -> not_found (%s)" % (method, st3))
        st4, r4 = srv.call(method, body(m1), ines)
        if method in READS:
            check(r4.get("code") not in ("unauthenticated", "permission_denied") and
                  "ListMachines shows" not in r4.get("msg", ""),
                  "%s: instructor may read a student's machine (%s %s)" % (method, st4, r4))
        else:
            check((st4, r4.get("code")) == (403, "permission_denied"),
                  "%s: instructor may not change a student's machine (%s %s)" % (method, st4, r4))
    # every RPC naming no machine: classified above, then called by each role
    machine = {m for m, _ in machine_rpcs()}
    for method in all_rpcs():
        if method in machine or method in ROLE_RPCS_ELSEWHERE:
            continue
        check(method in ROLE_RPCS, "%s is neither machine-scoped nor in ROLE_RPCS" % method)
        if method not in ROLE_RPCS:
            continue
        body, want = ROLE_RPCS[method]
        got = tuple(srv.call(method, body, tok)[0] for tok in (admin, ines, s1, otto))
        check(got == want, "%s by admin/instructor/student/other instructor: %s, want %s"
              % (method, got, want))
    st, e = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "1",
                                       "reveal": True}, s1)
    check((st, e.get("code")) == (403, "permission_denied"), "student reveal: %s" % e)
    # the event stream is checked the same way
    st, e = srv.call(None, None, path="/v1/machines/%s/events" % m1, verb="GET", token=s2)
    check(st == 404, "SSE on another's machine: %s %s" % (st, e))
    st, e = srv.call(None, None, path="/v1/machines/%s/events" % m1, verb="GET")
    check(st == 401, "SSE without a token: %s" % st)

    # sharing: an instructor's machine, read-only for their class only
    st, mi = srv.call("CreateMachine", {"name": "demo", "config": {"ramBytes": "16777216"}}, ines)
    mi = mi["id"]
    check(srv.call("GetMachine", {"machineId": mi}, s1)[0] == 404, "unshared: hidden")
    st, r = srv.call("ShareMachine", {"machineId": mi, "shared": True}, ines)
    check(st == 200, "share: %s" % r)
    check(srv.call("GetMachine", {"machineId": mi}, s1)[0] == 200, "shared: class reads")
    st, r = srv.call("History", {"machineId": mi}, s1)
    check((st, r.get("lastSeq")) == (200, "0"), "shared: class reads the journal: %s %s" % (st, r))
    st, r = srv.call("History", {"machineId": m1}, s1)
    check(st == 200 and [e["op"] for e in r["entries"]] ==
          [{"allocPages": {"machineId": "", "gfp": 0, "order": 1}}],
          "owner reads own journal: %s" % r)
    st, e = srv.call("AllocPages", {"machineId": mi, "order": 0}, s1)
    check((st, e["code"]) == (403, "permission_denied"), "shared is read-only: %s" % e)
    check(srv.call("GetMachine", {"machineId": mi}, t1)[0] == 404, "other class: hidden")
    st, e = srv.call("ShareMachine", {"machineId": m1, "shared": True}, s1)
    check((st, e["code"]) == (412, "failed_precondition"), "students do not share: %s" % e)

    # tokens: issue, revoke (works at once), another's token is not yours to revoke
    st, tk = srv.call("IssueToken", {"userId": who["user"]["id"], "label": "laptop"}, s1)
    check(st == 200 and tk["token"].startswith("vmsim_"), "issue own token")
    check(srv.call("Whoami", {}, tk["token"])[1]["user"]["name"] == "s1", "new token works")
    st, e = srv.call("RevokeToken", {"tokenId": tk["tokenId"]}, s2)
    check(st == 404, "another student cannot revoke it: %s" % e)
    st, _ = srv.call("RevokeToken", {"tokenId": tk["tokenId"]}, s1)
    st, e = srv.call("Whoami", {}, tk["token"])
    check((st, e["msg"]) == (401, "token has been revoked"), "revoked token: %s" % e)

    # quotas: the message names the limit
    st, r = srv.call("CreateUsers", {"names": ["q"], "quota": {"machines": "1", "ramBytes":
                                     "33554432", "opsPerSec": "5"}}, admin)
    q = r["users"][0]["token"]
    st, e = srv.call("CreateMachine", {"config": {"ramBytes": "67108864"}}, q)
    check((st, e["msg"]) == (429, "quota exceeded: RAM (q uses 0 MiB of 32 MiB, this machine "
                                  "needs 64 MiB)"), "RAM quota: %s" % e)
    st, mq = srv.call("CreateMachine", {"config": {"ramBytes": "16777216"}}, q)
    st, e = srv.call("CreateMachine", {"config": {"ramBytes": "4194304"}}, q)
    check((st, e["msg"]) == (429, "quota exceeded: machines (q has 1 of 1)"),
          "machine quota: %s" % e)
    codes = [srv.call("AllocPages", {"machineId": mq["id"], "order": 0}, q)[0] for _ in range(12)]
    check(codes.count(429) >= 1 and codes[0] == 200, "ops/s bucket: %s" % codes)
    st, e = srv.call("AllocPages", {"machineId": mq["id"], "order": 0}, q)
    check(st == 429 and e["msg"] == "quota exceeded: ops per second (q may run 5 ops/s)",
          "rate message: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
