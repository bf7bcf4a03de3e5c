#!/usr/bin/env python3
"""Recorded exercise attempts, solutions by role and the instructor's results view, through the
real vmsimd in auth mode, started on a copy of a database written by the previous vmsimd
(fixtures/main-v2.db, store schema 2): the migration keeps users, tokens and machines.

Checks: SolveExercise and CheckExercise's reveal per role (admin, instructor, student; then
--student-solve), every graded answer recorded (a blank or partial one too; an unreadable one is
refused), feedback without solve rights that never shows the expected values, ExerciseResults
per role with user/topic filters and every kind of bad input, the same results after a restart,
and `vmsimctl exercise results|solve` (table, -o json, exit codes).
Usage: results_test.py VMSIMD FIXTURE_DB [VMSIMCTL]. Python standard library only."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD, FIXTURE = sys.argv[1], sys.argv[2]
CTL = sys.argv[3] if len(sys.argv) > 3 else ""
# the fixture's tokens (fixtures/README.md)
ADMIN = "vmsim_e914ad6b9e74cd419c9e8fde399b4c13a076f2417b6081b1451ecc9b7cc127ee"
INES = "vmsim_f0c883abe1fd3a4463769c5808c97c94c89b0bddc0c27d9366df95c51fd70ca1"
S1 = "vmsim_3254c36563bf035087d0c185c484b893ffbd7c6a4f470bc670d3361630338969"
DENIED = ("exercise solutions are for instructors and admins: check your answer with "
          "CheckExercise (vmsimd --student-solve lets students see solutions)")
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def server(db, *args):
    return Vmsimd(VMSIMD, "--db", db, *args)


def solution(srv, token, topic, seed):
    st, sol = srv.call("SolveExercise", {"topic": topic, "seed": seed}, token)
    assert st == 200, sol
    return " ".join("%s=%s" % (a["name"], a["value"]) for a in sol["answers"])


def results(srv, token, **filters):
    st, r = srv.call("ExerciseResults", filters, token)
    return st, r.get("results", []) if st == 200 else r


def rows(res):
    """(user, topic, attempts, correct, last seed) per row, in the order served."""
    return [(r["user"], r["topic"], int(r["attempts"]), int(r["correct"]), r["lastSeed"])
            for r in res]


def test_migration(db):
    con = sqlite3.connect(db)
    version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    check(version == 4, "schema migrated to 4: %s" % version)
    check("exercise_attempts" in tables, "exercise_attempts created: %s" % sorted(tables))


def test_solve(srv, s2):
    # the answer key: instructors and admins only
    for who, tok in (("admin", ADMIN), ("instructor", INES)):
        st, sol = srv.call("SolveExercise", {"topic": "slab", "seed": "3"}, tok)
        check(st == 200 and sol["solution"].startswith("Answer: objsize=3360 objperslab=9 "
                                                       "pagesperslab=8 num_slabs=21\n"),
              "%s solves: %s %s" % (who, st, sol))
        check([(a["name"], a["value"]) for a in sol.get("answers", [])] ==
              [("objsize", "3360"), ("objperslab", "9"), ("pagesperslab", "8"),
               ("num_slabs", "21")], "%s gets the answer values: %s" % (who, sol))
    st, sol = srv.call("SolveExercise", {"topic": "buddy", "seed": "7"}, ADMIN)
    check([a["value"] for a in sol["answers"]] == ["0x1004", "0x1008", "0x1007"],
          "hex values written as answers take them: %s" % sol["answers"])
    for tok in (S1, s2):
        st, e = srv.call("SolveExercise", {"topic": "slab", "seed": "3"}, tok)
        check((st, e.get("code"), e.get("msg")) == (403, "permission_denied", DENIED),
              "student SolveExercise denied: %s %s" % (st, e))
        st, e = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "1",
                                           "reveal": True}, tok)
        check((st, e.get("code"), e.get("msg")) == (403, "permission_denied", DENIED),
              "student CheckExercise reveal denied: %s %s" % (st, e))
    st, v = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "1 2 3 4",
                                       "reveal": True}, INES)
    check(st == 200 and v["solution"].startswith("Answer: objsize=3360"),
          "instructor reveal on a wrong answer: %s" % v)
    # bad input to SolveExercise
    st, e = srv.call("SolveExercise", {"topic": "nope", "seed": "1"}, ADMIN)
    check(st == 400 and e["msg"].startswith('no exercise topic "nope" (topics: buddy'),
          "SolveExercise unknown topic: %s" % e)
    st, e = srv.call("SolveExercise", {"topic": "slab", "seed": "x"}, ADMIN)
    check(st == 400 and e["code"] == "malformed", "SolveExercise bad seed: %s" % e)


def answer_all(srv, s2, t1):
    """The attempts behind the results checked below (each answer graded as stated)."""
    slab3 = solution(srv, ADMIN, "slab", "3")
    graded = [
        (S1, "slab", "3", "3360 9 8 20", False),
        (S1, "slab", "3", slab3, True),
        (S1, "slab", "3", slab3, True),
        (S1, "buddy", "7", "0x1 0x2 0x3", False),
        (s2, "slab", "5", "1 1 1 1", False),
        (s2, "cow", "2", solution(srv, ADMIN, "cow", "2"), True),
        (t1, "free", "4", solution(srv, ADMIN, "free", "4"), True),
        (INES, "buddy", "9", "0x0", False),
    ]
    for tok, topic, seed, ans, ok in graded:
        st, v = srv.call("CheckExercise", {"topic": topic, "seed": seed, "answer": ans}, tok)
        check(st == 200 and v["correct"] is ok, "%s/%s %r graded %s: %s" % (topic, seed, ans, ok, v))
    # Without solve rights the feedback says which parts are wrong or missing and gives a hint
    # in kernel terms, never the values (the kernel gave 0x1008, 0x100e, ...).
    st, v = srv.call("CheckExercise", {"topic": "buddy", "seed": "4242", "answer": "0 0"}, S1)
    check(st == 200 and v["right"] == 0 and v["total"] == 2 and not v.get("solution") and
          v["feedback"].startswith("pfn1: 0 wrong\npfn2: 0 wrong\n0 of 2 right\n"
                                   "Hint: __rmqueue_smallest()") and
          "0x1008" not in json.dumps(v) and "0x100e" not in json.dumps(v),
          "a student's wrong answer reveals nothing: %s" % v)
    # a blank answer is graded and recorded as an attempt, and reveals nothing either
    st, v = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": " , "}, S1)
    check(st == 200 and v["right"] == 0 and "3360" not in json.dumps(v) and
          "objsize: missing\n" in v["feedback"], "blank answer graded, recorded: %s" % v)
    # not attempts: an unreadable answer, an unknown topic
    st, e = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "zz"}, S1)
    check(st == 400, "unreadable answer: %s" % e)
    st, e = srv.call("CheckExercise", {"topic": "nope", "seed": "3", "answer": "1"}, S1)
    check(st == 400, "unknown topic: %s" % e)


# ines's slab row is her reveal on a wrong answer in test_solve: graded, so recorded
EVERYONE = [("ines", "buddy", 1, 0, "9"), ("ines", "slab", 1, 0, "3"),
            ("s1", "buddy", 2, 0, "4242"), ("s1", "slab", 4, 2, "3"),
            ("s2", "cow", 1, 1, "2"), ("s2", "slab", 1, 0, "5"), ("t1", "free", 1, 1, "4")]


def test_results(srv, s2, t1, otto, t0):
    st, res = results(srv, ADMIN)
    check(st == 200 and rows(res) == EVERYONE, "admin sees every row: %s" % (rows(res),))
    st, res = results(srv, INES)
    check(rows(res) == [r for r in EVERYONE if r[0] in ("ines", "s1", "s2")],
          "instructor sees herself and her class: %s" % (rows(res),))
    st, res = results(srv, otto)
    check(rows(res) == [r for r in EVERYONE if r[0] == "t1"], "other instructor: %s" % (rows(res),))
    st, res = results(srv, S1)
    check(rows(res) == [r for r in EVERYONE if r[0] == "s1"], "student sees own: %s" % (rows(res),))
    st, res = results(srv, S1, user="s1", topic="slab")
    check(rows(res) == [("s1", "slab", 4, 2, "3")], "student filters own: %s" % (rows(res),))
    # times: first correct between the test's start and now; never correct = 0
    now = time.time() + 1
    slab = [r for r in results(srv, INES, user="s1")[1] if r["topic"] == "slab"][0]
    check(t0 - 1 <= int(slab["firstCorrect"]) <= int(slab["lastAttempt"]) <= now,
          "first correct and last attempt times: %s (start %d)" % (slab, t0))
    buddy = results(srv, INES, user="s1", topic="buddy")[1][0]
    check(buddy["firstCorrect"] == "0" and t0 - 1 <= int(buddy["lastAttempt"]) <= now,
          "never right: firstCorrect 0: %s" % buddy)
    check(int(slab["userId"]) == 3, "user id served: %s" % slab)
    st, res = results(srv, ADMIN, topic="cow")
    check(rows(res) == [("s2", "cow", 1, 1, "2")], "topic filter: %s" % (rows(res),))
    st, res = results(srv, ADMIN, topic="translate")
    check(st == 200 and res == [], "topic nobody answered: %s" % (res,))

    # bad input, each with its own code and message
    bad = [
        (S1, {"user": "s2"}, 403, 'a student may read only their own exercise results '
                                  '(asked for "s2")'),
        (S1, {"user": "nobody"}, 403, 'a student may read only their own exercise results '
                                      '(asked for "nobody")'),
        (INES, {"user": "t1"}, 403, 'user "t1" is not in your class'),
        (INES, {"user": "zed"}, 404, 'no user "zed" (ListUsers shows the users)'),
        (ADMIN, {"user": "x" * 40}, 400, 'user filter "' + "x" * 40 + '..." is longer than a '
                                         'user name (32 characters)'),
        (ADMIN, {"topic": "nope"}, 400, 'no exercise topic "nope" (topics: buddy, buddyinfo, '
                                        'slab, replacement, free, translate, cow, hugepage)'),
        (S1, {"topic": "nope", "user": "s2"}, 400, 'no exercise topic "nope"'),
    ]
    for tok, body, code, msg in bad:
        st, e = srv.call("ExerciseResults", body, tok)
        check(st == code and e.get("msg", "").startswith(msg),
              "ExerciseResults %s -> %s %s (want %d %s)" % (body, st, e, code, msg))
    st, e = srv.call("ExerciseResults", {"user": 5}, ADMIN)
    check(st == 400 and e["code"] == "malformed", "user filter of the wrong type: %s" % e)
    st, e = srv.call("ExerciseResults", {}, "vmsim_" + "0" * 64)
    check(st == 401, "no results without a valid token: %s" % e)


def test_cli(srv, s2):
    def run(token, *args):
        env = dict(os.environ, VMSIM_SERVER=srv.url, VMSIM_TOKEN=token)
        return subprocess.run([CTL] + list(args), capture_output=True, text=True, env=env,
                              timeout=20)
    r = run(INES, "exercise", "results")
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and lines[0].split() == ["USER", "TOPIC", "ATTEMPTS", "CORRECT",
                                                     "FIRST-CORRECT", "LAST-SEED", "LAST-ATTEMPT"],
          "results table header: %r" % (r,))
    body = [l.split() for l in lines[1:]]
    check([(b[0], b[1], b[2], b[3], b[5]) for b in body] ==
          [(u, t, str(a), str(c), s) for u, t, a, c, s in EVERYONE if u in ("ines", "s1", "s2")],
          "results table rows: %s" % body)
    check(all(b[4] == "-" or len(b[4]) == 20 and b[4].endswith("Z") for b in body),
          "times in UTC ISO form or '-': %s" % body)
    # columns line up: every row's LAST-SEED ends where the header's does
    end = lines[0].index("LAST-SEED") + len("LAST-SEED")
    check(all(len(l) >= end and l[end - 1] != " " and l[end] == " " for l in lines[1:]),
          "right-aligned LAST-SEED column:\n%s" % r.stdout)
    r = run(INES, "-o", "json", "exercise", "results", "--user", "s1", "--topic", "slab")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check([(x["user"], x["attempts"], x["correct"]) for x in j.get("results", [])] ==
          [("s1", "4", "2")], "results -o json with filters: %r" % (r,))
    r = run(S1, "exercise", "results", "--user", "s2")
    check(r.returncode == 1 and "only their own exercise results" in r.stderr,
          "student asks for another's results: %r" % (r,))
    r = run(INES, "exercise", "results", "--topic", "nope")
    check(r.returncode == 1 and 'no exercise topic "nope"' in r.stderr, "bad topic: %r" % (r,))
    r = run(INES, "exercise", "results", "extra")
    check(r.returncode == 2 and "unexpected argument 'extra'" in r.stderr, "usage: %r" % (r,))
    r = run(INES, "exercise", "solve", "slab", "--seed", "3")
    check(r.returncode == 0 and r.stdout.startswith("Answer: objsize=3360"), "solve: %r" % (r,))
    r = run(s2, "exercise", "solve", "slab", "--seed", "3")
    check(r.returncode == 1 and "solutions are for instructors" in r.stderr,
          "student solve refused: %r" % (r,))
    r = run(s2, "exercise", "answer", "slab", "--seed", "5", "1", "1", "1", "1")
    check(r.returncode == 1, "a wrong answer from the CLI exits 1: %r" % (r,))
    r = run(s2, "exercise", "answer", "buddy", "--seed", "4242", "0", "0")
    check(r.returncode == 1 and "pfn1: 0 wrong\npfn2: 0 wrong\n0 of 2 right\n" in r.stdout
          and "Hint: " in r.stdout and "0x1008" not in r.stdout + r.stderr and
          "0x100e" not in r.stdout + r.stderr, "the CLI's answer reveals nothing: %r" % (r,))
    r = run(s2, "-o", "json", "exercise", "results", "--topic", "slab")
    check([x["attempts"] for x in json.loads(r.stdout)["results"]] == ["2"],
          "the CLI's answer was recorded: %r" % (r,))


def main():
    tmp = tempfile.mkdtemp(prefix="vmsim-exres-")
    db = os.path.join(tmp, "class.db")
    shutil.copy(FIXTURE, db)
    t0 = int(time.time())
    srv = server(db)
    try:
        test_migration(db)
        st, who = srv.call("Whoami", {}, S1)
        check(st == 200 and who["user"]["name"] == "s1", "fixture token works: %s" % who)
        st, m = srv.call("GetMachine", {"machineId": "m1"}, S1)
        check(st == 200 and m["seq"] == "1", "fixture machine recovered: %s" % m)
        st, res = results(srv, ADMIN)
        check(st == 200 and res == [], "no attempts before schema 3: %s" % (res,))
        st, r = srv.call("CreateUsers", {"names": ["s2"]}, INES)
        s2 = r["users"][0]["token"]
        st, r = srv.call("CreateUsers", {"names": ["otto"], "role": "ROLE_INSTRUCTOR"}, ADMIN)
        otto = r["users"][0]["token"]
        st, r = srv.call("CreateUsers", {"names": ["t1"]}, otto)
        t1 = r["users"][0]["token"]
        test_solve(srv, s2)
        answer_all(srv, s2, t1)
        test_results(srv, s2, t1, otto, t0)
        if CTL and os.access(CTL, os.X_OK):
            test_cli(srv, s2)
        before = results(srv, ADMIN)[1]
    finally:
        srv.stop()
    # attempts survive a restart, times included; --student-solve opens solutions to students
    srv = server(db, "--student-solve")
    try:
        st, after = results(srv, ADMIN)
        check(st == 200 and after == before, "results after restart:\n%s\n%s" % (after, before))
        st, sol = srv.call("SolveExercise", {"topic": "slab", "seed": "3"}, s2)
        check(st == 200 and sol["answers"][0]["value"] == "3360",
              "--student-solve: a student solves: %s %s" % (st, sol))
        st, v = srv.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "1",
                                           "reveal": True}, S1)
        check(st == 200 and v["solution"].startswith("Answer: objsize=3360"),
              "--student-solve: a student reveals: %s %s" % (st, v))
    finally:
        srv.stop()
    check(subprocess.run([VMSIMD, "--db", db, "--check"], capture_output=True).returncode == 0,
          "--check after the session")
    shutil.rmtree(tmp)
    print("exercise.results: %d checks, %d failures" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
