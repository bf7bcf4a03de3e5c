#!/usr/bin/env python3
"""Snapshots, time-travel, diff and export/import through the real vmsimd (--open), with exact
values: history seqs, op seqs, buddyinfo text at past points, restore appending to history, and
every kind of bad input answered with its Twirp code. Usage: history_e2e_test.py VMSIMD."""
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from vmsimd_proc import Vmsimd  # noqa: E402

VMSIMD = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def server(db):
    return Vmsimd(VMSIMD, "--db", db, "--open", "--checkpoint-every", "4")


def main():
    db = os.path.join(tempfile.mkdtemp(prefix="vmsim-hist-"), "h.db")
    srv = server(db)
    try:
        run(srv)
        batch_views = batches(srv)
        oom_id, oom_views = failed_partway(srv)
    finally:
        srv.stop()
    # after a restart the history is the same
    srv = server(db)
    try:
        st, r = srv.call("SnapshotList", {"machineId": "m1", "includeCheckpoints": True})
        check(st == 200 and [(s["name"], s["seq"]) for s in r["snapshots"]] ==
              [("", "4"), ("", "6"), ("", "10")] and r["seq"] == "11",
              "history after restart: %s" % r)
        st, m = srv.call("GetMachine", {"machineId": "m1"})
        check(m["seq"] == "0", "op seq after restart: %s" % m)
        check(len(history(srv, "m1")) == 11 and history(srv, "m1")[10] == (11, "reset", "@0"),
              "History after restart: %s" % history(srv, "m1")[-2:])
        for k, want in enumerate(batch_views, 1):
            st, r = srv.call("MachineAt", {"machineId": "m3", "seq": str(k), "path": "buddyinfo"})
            check(st == 200 and r["text"] == want, "after restart, MachineAt m3 %d" % k)
        # the failures that did work were journaled: the restart rebuilt the same machine
        now = views(srv, oom_id)
        check(now == oom_views, "%s after restart differs in %s" %
              (oom_id, [k for k in oom_views if now.get(k) != oom_views[k]]))
    finally:
        srv.stop()
    chk = subprocess.run([VMSIMD, "--db", db, "--check"], capture_output=True, text=True)
    check(chk.returncode == 0 and "4 machines, 0 problems, integrity_check ok" in chk.stdout,
          "--check: %s" % chk.stdout)
    print("history e2e: %d failures" % len(failures))
    return 1 if failures else 0


def views(srv, mid):
    """What a restart must give back: the /proc views, the seq and the last events."""
    out = {}
    for path in ("buddyinfo", "vmstat", "slabinfo", "meminfo", "1/maps"):
        st, r = srv.call("Proc", {"machineId": mid, "path": path})
        check(st == 200, "Proc %s %s: %s" % (mid, path, r))
        out[path] = r.get("text")
    out["seq"] = srv.call("GetMachine", {"machineId": mid})[1].get("seq")
    out["events"] = last_event(srv, mid)
    return out


def last_event(srv, mid):
    after = int(srv.call("GetMachine", {"machineId": mid})[1]["nextEventId"]) - 2
    st, r = srv.call("Events", {"machineId": mid, "afterId": str(after)})
    check(st == 200 and len(r["events"]) == 1, "Events after %d: %s" % (after, r))
    return r["events"][-1]


def failed_partway(srv):
    """A fork and an Apply batch that fail out of memory after the kernel went to work: each
    takes a seq (the error's meta.seq, ApplyError.seq), is in History and keeps its events.
    Returns the machine's views, which the restart must reproduce."""
    st, m = srv.call("CreateMachine", {"name": "oom", "config": {"ramBytes": "4194304"}})
    check(st == 200, "create: %s" % m)
    mid = m["id"]
    st, r = srv.call("Spawn", {"machineId": mid, "name": "parent"})
    check(st == 200 and r["value"] == "1", "spawn: %s" % r)
    st, r = srv.call("Mmap", {"machineId": mid, "pid": 1, "len": "262144", "prot": 3,
                              "flags": 0x22})
    addr = r["value"]
    srv.call("AccessRange", {"machineId": mid, "pid": 1, "addr": addr, "len": "262144",
                             "kind": "ACCESS_WRITE"})
    held = []
    while True:
        st, r = srv.call("AllocPages", {"machineId": mid, "order": 0})
        if st != 200:
            break
        held.append(r["value"])
    # AllocPages is __GFP_NORETRY: its failure ran kswapd (nothing to reclaim) and is kept
    seq = srv.call("GetMachine", {"machineId": mid})[1]["seq"]
    check(st == 429 and r["code"] == "resource_exhausted" and r["meta"] == {"seq": seq},
          "the failing AllocPages: %s %s (machine seq %s)" % (st, r, seq))
    forks, at = 0, {}
    while held:
        before = srv.call("GetMachine", {"machineId": mid})[1]["seq"]
        st, r = srv.call("Fork", {"machineId": mid, "pid": 1})
        if st == 200:
            break
        forks += 1
        want = str(int(before) + 1)
        check(st == 429 and r.get("meta") == {"seq": want} and "fork" in r["msg"],
              "a failing fork takes seq %s: %s %s" % (want, st, r))
        last = last_event(srv, mid)
        check((last["seq"], last["text"]) == (want, "op failed: out of memory"),
              "the failed fork's last event: %s" % last)
        at[want] = srv.call("Proc", {"machineId": mid, "path": "vmstat"})[1]["text"]
        srv.call("FreePages", {"machineId": mid, "pfn": held.pop(), "order": 0})
    check(forks > 3, "only %d forks failed" % forks)
    # time travel replays the journal from a checkpoint: through the failed forks too
    for seq, vmstat in at.items():
        st, r = srv.call("MachineAt", {"machineId": mid, "seq": seq, "path": "vmstat"})
        check(st == 200 and r["text"] == vmstat, "MachineAt %s (a failed fork) differs" % seq)
    hist = history(srv, mid)
    check(sum(1 for h in hist if h[1] == "op" and "fork" in h[2]) == forks + 1,
          "History lists every fork, failed or not: %s" % hist[-6:])
    # a batch: the failing op is journaled with the ones before it, ApplyError.seq names it
    before = int(srv.call("GetMachine", {"machineId": mid})[1]["seq"])
    st, r = srv.call("Apply", {"machineId": mid, "ops": [
        {"exit": {"pid": 2}}, {"allocPages": {"order": 10}}, {"allocPages": {"order": 0}}]})
    check(st == 200 and r["applied"] == 1 and r["error"]["index"] == 1 and
          r["error"]["seq"] == str(before + 2) and r["seq"] == str(before + 2),
          "Apply with a failure partway: %s" % r)
    st, r = srv.call("Apply", {"machineId": mid, "ops": [{"allocPages": {"order": 11}}]})
    check(st == 200 and r["applied"] == 0 and r["error"]["seq"] == "0" and
          r["seq"] == str(before + 2), "a refused op keeps the seq: %s" % r)
    st, r = srv.call("AllocPages", {"machineId": mid, "order": 11})
    check(st == 400 and "meta" not in r, "a refused AllocPages has no meta.seq: %s" % r)
    return mid, views(srv, mid)


def buddy(srv, seq):
    st, r = srv.call("MachineAt", {"machineId": "m1", "seq": str(seq), "path": "buddyinfo"})
    assert st == 200, r
    return r


BATCH = [{"allocPages": {"order": 0}}, {"allocPages": {"order": 3}}, {"kmalloc": {"size": "200"}},
         {"allocPages": {"order": 1}}, {"vmalloc": {"size": "16384"}}, {"kmalloc": {"size": "3000"}},
         {"allocPages": {"order": 5}}, {"kmalloc": {"size": "64"}}, {"allocPages": {"order": 2}}]


def batches(srv):
    """An Apply batch is one journal record; time travel into it must give what applying its
    first k ops one by one gives (machine m4, live views after each op)."""
    st, a = srv.call("CreateMachine", {"name": "batch", "config": {"ramBytes": "16777216"}})
    st, b = srv.call("CreateMachine", {"name": "single", "config": {"ramBytes": "16777216"}})
    check((a["id"], b["id"]) == ("m3", "m4"), "batch machines: %s %s" % (a, b))
    st, r = srv.call("Apply", {"machineId": "m3", "ops": BATCH})
    check(st == 200 and r["applied"] == 9 and r["seq"] == "9", "batch applied: %s" % r)
    views = []
    for k, op in enumerate(BATCH, 1):
        name, args = next(iter(op.items()))
        method = name[0].upper() + name[1:]
        st, r = srv.call(method, dict(args, machineId="m4"))
        check(st == 200, "single %s: %s" % (method, r))
        live = {v: srv.call("Proc", {"machineId": "m4", "path": v})[1]["text"]
                for v in ("buddyinfo", "slabinfo", "vmallocinfo")}
        for v, text in live.items():
            st, at = srv.call("MachineAt", {"machineId": "m3", "seq": str(k), "path": v})
            check(st == 200 and at["seq"] == str(k) and at["opSeq"] == str(k) and
                  at["lastSeq"] == "9" and at["text"] == text,
                  "MachineAt m3 seq %d %s == m4 after %d single ops" % (k, v, k))
        views.append(live["buddyinfo"])
    # History lists the batch record as 9 ops with their own seqs, pages may split it
    h = history(srv, "m3")
    check([(seq, kind, list(what)) for seq, kind, what in h] ==
          [(k, "op", list(op)) for k, op in enumerate(BATCH, 1)], "History of a batch: %s" % h)
    check(history(srv, "m3", limit=4) == h, "History of a batch in pages of 4")
    st, r = srv.call("History", {"machineId": "m3", "fromSeq": "5", "limit": 2})
    check(st == 200 and [e["seq"] for e in r["entries"]] == ["5", "6"] and r["nextSeq"] == "7"
          and r["entries"][0]["op"]["vmalloc"]["size"] == "16384",
          "History page inside a batch: %s" % r)
    # the checkpoint comes after the whole batch (every 4 seqs: due at 9), never inside it
    st, r = srv.call("SnapshotList", {"machineId": "m3", "includeCheckpoints": True})
    check([s["seq"] for s in r["snapshots"]] == ["9"], "batch checkpoint: %s" % r)
    # export/import carries the batch record
    st, ex = srv.call("ExportMachine", {"machineId": "m3"})
    st, im = srv.call("ImportMachine", {"data": ex["data"], "name": "batchcopy"})
    check(st == 200 and im["seq"] == "9", "import of a batch: %s" % im)
    st, at = srv.call("MachineAt", {"machineId": im["machineId"], "seq": "4", "path": "buddyinfo"})
    check(st == 200 and at["text"] == views[3], "imported copy travels into the batch")
    srv.call("DeleteMachine", {"machineId": im["machineId"]})
    return views


def run(srv):
    st, m = srv.call("CreateMachine", {"name": "h", "config": {"ramBytes": "16777216"}})
    check(st == 200 and m["id"] == "m1", "create: %s" % m)
    fresh = buddy(srv, 0)["text"]
    for order in (0, 3, 1):
        srv.call("AllocPages", {"machineId": "m1", "order": order})
    st, r = srv.call("SnapshotSave", {"machineId": "m1", "name": "three"})
    check(st == 200 and r["snapshot"]["seq"] == "3" and r["snapshot"]["name"] == "three",
          "save at history seq 3: %s" % r)
    at3 = buddy(srv, 3)
    check(at3["seq"] == "3" and at3["opSeq"] == "3" and at3["lastSeq"] == "3", "MachineAt 3: %s" % at3)
    st, r = srv.call("Proc", {"machineId": "m1", "path": "buddyinfo"})
    check(r["text"] == at3["text"], "MachineAt(now) == Proc")
    check(buddy(srv, 1)["text"] != at3["text"], "seq 1 differs from seq 3")
    srv.call("AllocPages", {"machineId": "m1", "order": 5})
    srv.call("AllocPages", {"machineId": "m1", "order": 2})
    # bad input
    st, e = srv.call("SnapshotSave", {"machineId": "m1", "name": "three"})
    check((st, e["msg"]) == (409, 'snapshot "three" already exists on machine m1'), "dup: %s" % e)
    st, e = srv.call("SnapshotSave", {"machineId": "m1", "name": "bad name"})
    check(st == 400 and e["code"] == "invalid_argument", "bad name: %s" % e)
    st, e = srv.call("MachineAt", {"machineId": "m1", "seq": "99"})
    check((st, e["msg"]) == (400, "machine m1 has no seq 99 (its history ends at 5)"),
          "seq beyond the end: %s %s" % (st, e))
    st, e = srv.call("SnapshotRestore", {"machineId": "m1", "name": "nope"})
    check((st, e["msg"]) == (404, 'no snapshot "nope" on machine m1'), "restore missing: %s" % e)
    st, e = srv.call("MachineAt", {"machineId": "m9", "seq": "1"})
    check(st == 404, "MachineAt on no machine: %s" % e)
    # diff between the snapshot and now
    st, d = srv.call("SnapshotDiff", {"machineId": "m1", "from": "three", "views": ["buddyinfo"]})
    names = {c["name"]: (int(c["before"]), int(c["after"])) for c in d["counters"]}
    check(d["fromSeq"] == "3" and d["toSeq"] == "5", "diff points: %s" % d)
    check(names.get("seq") == (3, 5), "diff seq counter: %s" % (names.get("seq"),))
    check(names["nr_free_pages"][0] - names["nr_free_pages"][1] == 32 + 4,
          "diff: orders 5 and 2 took 36 pages: %s" % (names["nr_free_pages"],))
    lines = d["views"][0]["diff"].splitlines()
    check(d["views"][0]["path"] == "buddyinfo" and any(l.startswith("-") for l in lines) and
          any(l.startswith("+") for l in lines), "buddyinfo diff: %s" % lines)
    # restore appends: history seq 6, op seq back to 3, state equal to seq 3
    st, r = srv.call("SnapshotRestore", {"machineId": "m1", "name": "three"})
    check(st == 200 and r == {"seq": "6", "opSeq": "3"}, "restore: %s" % r)
    st, p = srv.call("Proc", {"machineId": "m1", "path": "buddyinfo"})
    check(p["text"] == at3["text"], "restored state == state at seq 3")
    check(buddy(srv, 5)["text"] != at3["text"] and buddy(srv, 6)["text"] == at3["text"],
          "history kept: seq 5 still the old branch, seq 6 the restored one")
    st, r = srv.call("SnapshotDelete", {"machineId": "m1", "name": "three"})
    check(st == 200, "delete: %s" % r)
    st, e = srv.call("SnapshotDelete", {"machineId": "m1", "name": "three"})
    check((st, e["code"]) == (404, "not_found"), "delete twice: %s" % e)
    check(buddy(srv, 6)["text"] == at3["text"], "restore replays without the named snapshot")
    for order in (0, 0, 0, 1):
        srv.call("AllocPages", {"machineId": "m1", "order": order})
    # export / import: the copy replays to the same state; a damaged file is refused
    st, ex = srv.call("ExportMachine", {"machineId": "m1"})
    check(st == 200 and ex["seq"] == "10" and ex["name"] == "h", "export: seq %s" % ex.get("seq"))
    st, im = srv.call("ImportMachine", {"data": ex["data"], "name": "copy"})
    check(st == 200 and im == {"machineId": "m2", "seq": "10"}, "import: %s" % im)
    a = srv.call("Proc", {"machineId": "m1", "path": "buddyinfo"})[1]["text"]
    b = srv.call("Proc", {"machineId": "m2", "path": "buddyinfo"})[1]["text"]
    check(a == b, "imported copy equals the original")
    raw = bytearray(base64.b64decode(ex["data"]))
    raw[len(raw) // 2] ^= 1
    st, e = srv.call("ImportMachine", {"data": base64.b64encode(bytes(raw)).decode()})
    check((st, e["msg"]) == (400, "machine export is corrupt (checksum mismatch)"), "bad file: %s" % e)
    st, e = srv.call("ImportMachine", {"data": base64.b64encode(b"hello").decode()})
    check((st, e["msg"]) == (400, "not a vmsim machine export (bad magic)"), "not a file: %s" % e)
    check(history(srv, "m2") == history(srv, "m1"), "the imported copy has the same journal")
    srv.call("DeleteMachine", {"machineId": "m2"})
    check(fresh != a, "sanity")
    check_history(srv)


def history(srv, mid, **kw):
    """[(seq, kind, op or snapshot@seq)] of the machine's whole journal, page by page."""
    out, frm = [], kw.pop("frm", 0)
    while True:
        st, r = srv.call("History", dict({"machineId": mid, "fromSeq": str(frm)}, **kw))
        assert st == 200, r
        for e in r["entries"]:
            what = e["op"] if e["kind"] == "op" else "%s@%s" % (e["snapshot"], e["snapshotSeq"])
            out.append((int(e["seq"]), e["kind"], what))
        if r["nextSeq"] == "0":
            return out
        frm = int(r["nextSeq"])


def check_history(srv):
    # m1: allocs of orders 0 3 1 5 2, the restore of "three" (taken at seq 3), allocs 0 0 0 1
    h = history(srv, "m1")
    orders = [0, 3, 1, 5, 2, None, 0, 0, 0, 1]
    want = [(i + 1, "op", {"allocPages": {"machineId": "", "gfp": 0, "order": o}})
            if o is not None else (i + 1, "restore", "three@3") for i, o in enumerate(orders)]
    check(h == want, "History of m1: %s" % h)
    check(history(srv, "m1", limit=3) == want, "History in pages of 3 is the same")
    st, r = srv.call("History", {"machineId": "m1", "fromSeq": "5", "limit": 2})
    check(st == 200 and [e["seq"] for e in r["entries"]] == ["5", "6"] and r["lastSeq"] == "10"
          and r["nextSeq"] == "7", "History page 5..6: %s" % r)
    check(r["entries"][0]["created"] > "1700000000" and r["entries"][0]["kind"] == "op",
          "History entries carry their time: %s" % r["entries"][0])
    st, r = srv.call("History", {"machineId": "m1", "fromSeq": "9"})
    check(st == 200 and [e["seq"] for e in r["entries"]] == ["9", "10"] and r["nextSeq"] == "0",
          "History last page: %s" % r)
    st, r = srv.call("History", {"machineId": "m1", "fromSeq": "11"})
    check((st, r) == (200, {"entries": [], "lastSeq": "10", "nextSeq": "0"}),
          "History one past the end: %s" % r)
    st, r = srv.call("History", {"machineId": "m1", "limit": 1000})
    check(st == 200 and len(r["entries"]) == 10, "limit 1000 is allowed: %s" % st)
    # a reset is an entry too
    srv.call("ResetMachine", {"machineId": "m1"})
    check(history(srv, "m1", frm=11) == [(11, "reset", "@0")], "reset entry: %s" %
          history(srv, "m1", frm=11))
    # bad input: each answered with its code, word for word
    st, e = srv.call("History", {"machineId": "m1", "limit": 1001})
    check((st, e["code"], e["msg"]) ==
          (400, "invalid_argument", "limit 1001 is too large: at most 1000 entries a page "
           "(0 = 100; page with from_seq = next_seq)"), "History limit 1001: %s" % e)
    st, e = srv.call("History", {"machineId": "m1", "fromSeq": "13"})
    check((st, e["code"], e["msg"]) ==
          (400, "out_of_range", "machine m1 has no seq 13 (its history ends at 11)"),
          "History from beyond the end: %s" % e)
    st, e = srv.call("History", {"machineId": "m9"})
    check((st, e["code"]) == (404, "not_found"), "History of no machine: %s" % e)
    st, e = srv.call("History", {"machineId": ""})
    check((st, e["msg"]) == (400, "machine_id is required"), "History without machine: %s" % e)
    st, e = srv.call("History", {"machineId": "m1", "limit": "many"})
    check((st, e["code"]) == (400, "malformed") and "field limit" in e["msg"],
          "History limit not a number: %s" % e)


if __name__ == "__main__":
    sys.exit(main())
