#!/usr/bin/env python3
"""End-to-end test of the exercise RPCs over JSON: topics, new (explicit and server-picked
seeds), answer (right, wrong, unreadable), solve, and every error path; then the CLI noun when
vmsimctl is built. Usage: exercise_test.py VMSIMD [VMSIMCTL]"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def test_rpcs(s):
    st, r = s.call("ListExercises", {})
    expect(st == 200, "ListExercises %d" % st)
    names = [t["name"] for t in r["topics"]]
    expect(names[:3] == ["buddy", "buddyinfo", "slab"], "topics %r" % names)
    expect(all(t["summary"] for t in r["topics"]), "a topic without a summary")

    # Exactly the exercise the core unit test works by hand.
    st, ex = s.call("NewExercise", {"topic": "slab", "seed": "3"})
    expect(st == 200 and ex["seed"] == "3" and ex["topic"] == "slab", "NewExercise %r" % ex)
    expect("size 3353" in ex["question"] and "183 times" in ex["question"], ex["question"])
    expect([f["name"] for f in ex["fields"]] == ["objsize", "objperslab", "pagesperslab",
                                                 "num_slabs"], "fields %r" % ex["fields"])
    expect("3360" not in json.dumps(ex), "NewExercise leaked the answer")
    st, ex2 = s.call("NewExercise", {"topic": "slab", "seed": "3"})
    expect(ex2 == ex, "NewExercise is not deterministic")

    st, v = s.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "3360 9 8 21"})
    expect(st == 200 and v["correct"] is True and v["right"] == 4 and v["total"] == 4, "%r" % v)
    expect(v["solution"].startswith("Answer: objsize=3360 objperslab=9 pagesperslab=8 "
                                    "num_slabs=21\n"), v["solution"])
    st, v = s.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "3360, 9, 8, 20"})
    expect(st == 200 and v["correct"] is False and v["right"] == 3, "%r" % v)
    expect("num_slabs: 20 wrong\n" in v["feedback"] and "21" not in v["feedback"] and
           "Hint: calculate_slab_order()" in v["feedback"], v["feedback"])
    expect(v.get("solution", "") == "", "a wrong answer got the solution without reveal")
    # with reveal (solve rights) the feedback gives the kernel's values too
    st, v = s.call("CheckExercise", {"topic": "slab", "seed": "3", "answer": "3360, 9, 8, 20",
                                     "reveal": True})
    expect(st == 200 and "num_slabs: 20 wrong, the kernel gave 21" in v["feedback"], "%r" % v)

    # reveal: the worked solution (OSTEP's -c).
    st, sol = s.call("CheckExercise", {"topic": "buddy", "seed": "1", "answer": "",
                                      "reveal": True})
    expect(st == 200 and sol["correct"] is False, "reveal %d %r" % (st, sol))
    expect(sol["solution"].startswith("Answer: pfn1=0x1028 pfn2=0x1010 pfn3=0x1014\n"),
           sol["solution"])
    expect("expand: split order-3 block, upper half pfn 0x1014 to free_area[2]" in
           sol["solution"], sol["solution"])

    # Any seed reproduces; the revealed answer is judged right.
    for topic in names:
        for seed in ("0", "77", "18446744073709551615"):
            st, ex = s.call("NewExercise", {"topic": topic, "seed": seed})
            expect(st == 200, "%s seed %s: %d %r" % (topic, seed, st, ex))
            st, sol = s.call("CheckExercise", {"topic": topic, "seed": seed, "answer": "",
                                              "reveal": True})
            answer = sol["solution"].split("\n", 1)[0][len("Answer: "):]
            st, v = s.call("CheckExercise", {"topic": topic, "seed": seed, "answer": answer})
            expect(v["correct"] is True and v["total"] == len(ex["fields"]),
                   "%s seed %s: revealed answer %r judged %r" % (topic, seed, answer, v))

    # Errors: each a Twirp invalid_argument with a message saying what was wrong.
    bad = [
        ("NewExercise", {"topic": "nope"}, "no exercise topic \"nope\" (topics: buddy"),
        ("NewExercise", {}, "no exercise topic \"\""),
        ("CheckExercise", {"topic": "slab", "seed": "3", "answer": "zz"},
         "cannot read \"zz\" as a number for objsize"),
        ("CheckExercise", {"topic": "slab", "seed": "3", "answer": "1 2 3 4 5"},
         "too many values"),
        ("CheckExercise", {"topic": "slab", "seed": "3", "answer": "bogus=1"},
         "no field named \"bogus\""),
    ]
    for method, body, msg in bad:
        st, e = s.call(method, body)
        expect(st == 400 and e.get("code") == "invalid_argument" and msg in e.get("msg", ""),
               "%s %r -> %d %r" % (method, body, st, e))
    st, e = s.call("NewExercise", {"topic": "slab", "bogusField": 1})
    expect(st == 400 and e["code"] == "malformed", "unknown JSON field -> %d %r" % (st, e))


def test_open_mode(s):
    """--open (no auth): solutions are allowed and attempts are recorded as user "open"."""
    st, sol = s.call("SolveExercise", {"topic": "slab", "seed": "3"})
    expect(st == 200 and [a["value"] for a in sol["answers"]] == ["3360", "9", "8", "21"],
           "SolveExercise in open mode: %d %r" % (st, sol))
    st, r = s.call("ExerciseResults", {"topic": "slab"})
    expect(st == 200 and len(r["results"]) == 1, "ExerciseResults %d %r" % (st, r))
    row = r["results"][0]
    # test_rpcs answered slab seed 3 right, wrong, wrong with reveal, then seeds 0, 77 and
    # 2^64-1 blank with reveal and right: every graded answer is an attempt, blank ones too
    # (the unreadable answers are refused, not graded)
    expect((row["user"], row["userId"], row["attempts"], row["correct"], row["lastSeed"]) ==
           ("open", "0", "9", "4", "18446744073709551615") and row["firstCorrect"] != "0",
           "open row %r" % row)
    st, r = s.call("ExerciseResults", {"user": "open", "topic": "buddy"})
    expect(st == 200 and [(x["attempts"], x["correct"]) for x in r["results"]] == [("7", "3")],
           "filter by the open user: %d %r" % (st, r))


def test_cli(s, ctl):
    env = dict(os.environ, VMSIM_SERVER=s.url)
    def run(*args):
        return subprocess.run([ctl] + list(args), capture_output=True, text=True, env=env,
                              timeout=20)
    r = run("exercise", "new", "slab", "--seed", "3")
    expect(r.returncode == 0 and "size 3353" in r.stdout, "exercise new: %r" % (r,))
    r = run("exercise", "answer", "slab", "--seed", "3", "3360", "9", "8", "21")
    expect(r.returncode == 0 and "4 of 4 right: correct" in r.stdout, "answer: %r" % (r,))
    r = run("exercise", "answer", "slab", "--seed", "3", "3360 9 8 20")
    expect(r.returncode == 1 and "num_slabs: 20 wrong" in r.stdout, "wrong answer: %r" % (r,))
    r = run("exercise", "solve", "buddy", "--seed", "1")
    expect(r.returncode == 0 and "Answer: pfn1=0x1028" in r.stdout, "solve: %r" % (r,))
    r = run("exercise", "topics")
    expect(r.returncode == 0 and "buddyinfo" in r.stdout, "topics: %r" % (r,))
    r = run("exercise", "new", "nope")
    expect(r.returncode == 1 and "no exercise topic \"nope\"" in r.stderr, "bad topic: %r" % (r,))
    r = run("exercise", "frobnicate")
    expect(r.returncode == 2, "bad verb exit code: %r" % (r,))
    r = run("-o", "json", "exercise", "new", "slab", "--seed", "3")
    expect(r.returncode == 0 and json.loads(r.stdout)["seed"] == "3", "json: %r" % (r,))
    # Without --seed one is picked, printed, and the printed command answers the same exercise.
    r = run("exercise", "new", "replacement")
    expect(r.returncode == 0, "new without seed: %r" % (r,))
    seed = r.stdout.rsplit("--seed ", 1)[1].split()[0]
    r2 = run("exercise", "new", "replacement", "--seed", seed)
    expect(r2.stdout == r.stdout, "picked seed %s does not reproduce" % seed)
    sol = run("exercise", "solve", "replacement", "--seed", seed)
    letters = "".join(w.split("=")[1] for w in sol.stdout.split("\n")[0].split()[1:])
    r = run("exercise", "answer", "replacement", "--seed", seed, letters)
    expect(r.returncode == 0 and ": correct" in r.stdout, "letters %s: %r" % (letters, r))
    for bad in (["exercise", "answer", "slab", "1"], ["exercise", "solve", "slab"],
                ["exercise", "new"], ["exercise", "new", "slab", "--seed", "x"],
                ["exercise", "answer", "slab", "--seed", "3"]):
        r = run(*bad)
        expect(r.returncode == 2 and r.stderr, "usage error %r: %r" % (bad, r))


def main():
    s = Vmsimd(sys.argv[1], "--open", "--db", ":memory:", keep_alive=True)
    try:
        test_rpcs(s)
        test_open_mode(s)
        ctl = sys.argv[2] if len(sys.argv) > 2 else ""
        if ctl and os.access(ctl, os.X_OK):
            probe = subprocess.run([ctl, "help", "exercise"], capture_output=True, text=True)
            if probe.returncode == 0:
                test_cli(s, ctl)
                print("exercise.e2e: CLI checked")
    finally:
        s.stop()
    print("exercise.e2e: ok")


if __name__ == "__main__":
    main()
