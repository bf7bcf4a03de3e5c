#!/usr/bin/env python3
"""Writes docs/API.md from proto/vmsim/v1/vmsim.proto: every RPC with its request and response
messages (fields and their comments) and a curl example. The e2e test `proto.api_md` fails when
docs/API.md is out of date. Usage: gen_api_md.py PROTO [OUT] (no OUT: print to stdout)."""
import os
import re
import sys

# Example request bodies (JSON). Methods not listed get {"machineId":"m1"} plus example
# values for their fields, chosen by field name.
EXAMPLES = {
    "CreateMachine": '{"name":"lab1","config":{"arch":"ARCH_X86_64","ramBytes":"67108864",'
                     '"policy":"POLICY_LINUX","swappiness":60,"seed":"42"}}',
    "ListMachines": '{}',
    "AllocPages": '{"machineId":"m1","order":3}',
    "FreePages": '{"machineId":"m1","pfn":"4104","order":3}',
    "KmemCacheCreate": '{"machineId":"m1","name":"my_cache","size":192,"align":8}',
    "KmemCacheAlloc": '{"machineId":"m1","name":"my_cache"}',
    "KmemCacheFree": '{"machineId":"m1","name":"my_cache","addr":"18446612682070007808"}',
    "Kmalloc": '{"machineId":"m1","size":"600"}',
    "Vmalloc": '{"machineId":"m1","size":"65536"}',
    "SetNrHugepages": '{"machineId":"m1","count":"4"}',
    "Spawn": '{"machineId":"m1","name":"bash"}',
    "Clone": '{"machineId":"m1","pid":1,"flags":256}',
    "Exit": '{"machineId":"m1","pid":2,"code":0}',
    "Exec": '{"machineId":"m1","pid":2,"name":"ls"}',
    "SetOomAdj": '{"machineId":"m1","pid":2,"oomScoreAdj":-500}',
    "Mmap": '{"machineId":"m1","pid":1,"len":"1048576","prot":3,"flags":34}',
    "Access": '{"machineId":"m1","pid":1,"addr":"140737345421312","kind":"ACCESS_WRITE"}',
    "AccessRange": '{"machineId":"m1","pid":1,"addr":"140737345421312","len":"65536",'
                   '"kind":"ACCESS_READ"}',
    "FileCreate": '{"machineId":"m1","name":"/data/log","size":"1048576"}',
    "Mkswap": '{"machineId":"m1","name":"/swapfile","size":"67108864","prio":-2}',
    "Swapon": '{"machineId":"m1","name":"/swapfile","prio":-2}',
    "Swapoff": '{"machineId":"m1","name":"/swapfile"}',
    "DropCaches": '{"machineId":"m1","mode":3}',
    "SetSwappiness": '{"machineId":"m1","swappiness":100}',
    "DriverOpen": '{"machineId":"m1","size":"65536","minor":0}',
    "DriverClose": '{"machineId":"m1","minor":0}',
    "Apply": '{"machineId":"m1","ops":[{"allocPages":{"order":2}},{"spawn":{"name":"sh"}},'
             '{"kmalloc":{"size":"128"}}],"wantResults":true}',
    "Proc": '{"machineId":"m1","path":"buddyinfo"}',
    "FrameMap": '{"machineId":"m1","startPfn":"0","count":"4096"}',
    "Events": '{"machineId":"m1","afterId":"0","limit":20}',
    "History": '{"machineId":"m1","fromSeq":"1","limit":50}',
    "ListExercises": '{}',
    "NewExercise": '{"topic":"buddy","seed":"7"}',
    "CheckExercise": '{"topic":"buddy","seed":"7","answer":"0x1004 0x1008 0x1007"}',
    "SolveExercise": '{"topic":"buddy","seed":"7"}',
    "ExerciseResults": '{"topic":"buddy"}',
}

# The hand-written part: what the server accepts and answers on the wire.
WIRE = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "api_wire.md")).read()

FIELD_EXAMPLE = {
    "machine_id": '"m1"', "pid": "1", "addr": '"4096"', "len": '"8192"', "ino": "1",
    "offset": '"0"', "nr_pages": '"32"', "n": '"10"', "pages": '"256"', "advice": "4",
    "prot": "1", "name": '"my_cache"', "size": '"4096"', "mode": "3",
}


def parse(text):
    """Returns (messages, enums, service) with comments attached."""
    messages, enums, rpcs = {}, {}, []
    comment = []
    stack = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        m = re.match(r"message (\w+) \{(\})?", line)
        if m:
            messages[m.group(1)] = {"doc": comment, "fields": []}
            if not m.group(2):
                stack.append(("message", m.group(1)))
            comment = []
            continue
        m = re.match(r"enum (\w+) \{", line)
        if m:
            enums[m.group(1)] = {"doc": comment, "values": []}
            stack.append(("enum", m.group(1)))
            comment = []
            continue
        m = re.match(r"oneof (\w+) \{", line)
        if m:
            stack.append(("oneof", m.group(1)))
            comment = []
            continue
        if line.startswith("service "):
            stack.append(("service", None))
            comment = []
            continue
        m = re.match(r"rpc (\w+)\((\w+)\) returns \((\w+)\);", line)
        if m:
            rpcs.append((m.group(1), m.group(2), m.group(3), comment))
            comment = []
            continue
        if line == "}":
            stack.pop()
            comment = []
            continue
        m = re.match(r"(repeated )?(\w+) (\w+) = (\d+);", line)
        if m and stack:
            kind, owner = next((k, n) for k, n in reversed(stack) if k in ("message",))
            oneof = next((n for k, n in reversed(stack) if k == "oneof"), None) \
                if stack[-1][0] == "oneof" else None
            messages[owner]["fields"].append({
                "repeated": bool(m.group(1)), "type": m.group(2), "name": m.group(3),
                "doc": comment, "oneof": oneof})
            comment = []
            continue
        m = re.match(r"(\w+) = (\d+);", line)
        if m and stack and stack[-1][0] == "enum":
            enums[stack[-1][1]]["values"].append((m.group(1), m.group(2), comment))
            comment = []
            continue
        if not line:
            comment = [] if not stack else comment
    return messages, enums, rpcs


def camel(name):
    parts = name.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


JSON_TYPE = {"uint64": "string (uint64)", "int64": "string (int64)", "uint32": "number",
             "int32": "number", "bool": "true/false", "string": "string",
             "bytes": "string (base64)"}


def field_rows(msg, messages, enums):
    rows = []
    for f in msg["fields"]:
        t = f["type"]
        jt = JSON_TYPE.get(t) or ("enum " + t if t in enums else t)
        if f["repeated"]:
            jt = "array of " + jt
        doc = " ".join(f["doc"])
        if not doc and f["name"] == "machine_id":
            doc = "The machine, by id (CreateMachine returns it; ListMachines lists them)."
        if f["oneof"] and not f["oneof"] == "op":
            doc = (doc + " " if doc else "") + "(optional: absent = default)"
        rows.append("| `%s` | %s | %s |" % (camel(f["name"]), jt, doc.replace("|", "\\|")))
    return rows


def example(method, req, messages):
    if method in EXAMPLES:
        return EXAMPLES[method]
    parts = []
    for f in messages[req]["fields"]:
        v = FIELD_EXAMPLE.get(f["name"])
        if v is not None:
            parts.append('"%s":%s' % (camel(f["name"]), v))
    return "{" + ",".join(parts) + "}"


def render(text):
    messages, enums, rpcs = parse(text)
    out = ["# vmsim API (vmsim.v1.VmSim)", "",
           "<!-- Generated from proto/vmsim/v1/vmsim.proto by proto/gen_api_md.py; do not edit. -->",
           "",
           "Every RPC is `POST /twirp/vmsim.v1.VmSim/<Method>` with a JSON "
           "(`Content-Type: application/json`) or protobuf (`application/protobuf`) body; the "
           "answer comes in the same encoding. JSON follows the proto3 mapping: field names in "
           "lowerCamelCase (the proto names such as `machine_id` are accepted too), 64-bit "
           "integers as strings (numbers are accepted), enums by name (`\"ARCH_I386\"`, or "
           "the short `\"i386\"`, or by number), bytes as base64. Unknown fields are rejected. "
           "In either encoding, every string must be UTF-8 and every enum number must be a "
           "value of its enum, or the request is refused with `invalid_argument` naming the "
           "field (`field config.arch: 7 is not a value of vmsim.v1.Arch`). Responses "
           "print every field, defaults included.",
           "",
           "Errors are Twirp JSON with the HTTP status of the code:",
           "",
           "```",
           '{"code":"not_found","msg":"no machine \\"m9\\" (ListMachines shows the machines)"}',
           "```",
           "",
           "| code | HTTP | when |", "|---|---|---|",
           "| `bad_route` | 404 | unknown method, GET on an RPC, Content-Type not JSON/protobuf |",
           "| `malformed` | 400 | body is not valid JSON/protobuf for the request type |",
           "| `invalid_argument` | 400 | core EINVAL/EFAULT: bad order, bad address, name too long |",
           "| `not_found` | 404 | core ENOENT, unknown machine, unknown /proc view |",
           "| `already_exists` | 409 | core EEXIST (cache or file name taken) |",
           "| `failed_precondition` | 412 | core EBUSY/EPERM (cache not empty, swap in use) |",
           "| `resource_exhausted` | 429 | core ENOMEM/ENOSPC, quotas |",
           "| `unauthenticated` / `permission_denied` | 401 / 403 | when authentication is on |",
           "| `unavailable` | 503 | too many connections; a change could not be saved |",
           "| `unimplemented` | 501 | unknown HTTP method, Transfer-Encoding other than chunked |",
           "",
           "A failed op is either refused (it changed nothing, is not journaled, keeps the "
           "machine's seq) or failed partway: out of memory after the kernel went to work "
           "(kswapd or direct reclaim ran, a slab grew, pages were taken and given back, a TLB "
           "was flushed). As in Linux that work stays, so the op takes the next seq, is "
           "journaled (History lists it, a restart replays it), its events end with "
           "`op failed: ...`, and the error says so in `meta`:",
           "",
           "```",
           "{\"code\":\"resource_exhausted\",\"msg\":\"fork: out of memory copying the "
           "address space\",\"meta\":{\"seq\":\"42\"}}",
           "```",
           "",
           "In an `Apply` batch the same number is `error.seq`.",
           "",
           "Other endpoints: `GET /v1/machines/{id}/events` (Server-Sent Events: `id:` is the "
           "event id, `event: event`, `data:` an `Event` as JSON; resume with `Last-Event-ID` "
           "or `?lastEventId=N`; `event: gap` when events were lost, `event: reset` after "
           "ResetMachine, `event: deleted` at the end), `GET /healthz`, `GET /metrics` "
           "(Prometheus), `GET /` and `/static/*` (the dashboard).",
           "",
           WIRE.rstrip("\n"),
           "",
           "The examples assume `vmsimd` on the default address:",
           "",
           "```sh",
           "rpc() { curl -s -H 'Content-Type: application/json' -d \"$2\" "
           "http://127.0.0.1:8080/twirp/vmsim.v1.VmSim/$1; echo; }",
           "```",
           ""]
    # Sections follow the comments in the service block.
    out.append("## Methods")
    out.append("")
    for name, req, resp, doc in rpcs:
        if doc:
            out.append("### " + " ".join(doc).rstrip("."))
            out.append("")
        out.append("#### %s" % name)
        out.append("")
        rdoc = " ".join(messages[req]["doc"])
        if rdoc:
            out.append(rdoc)
            out.append("")
        out.append("```sh")
        out.append("rpc %s '%s'" % (name, example(name, req, messages)))
        out.append("```")
        out.append("")
        out.append("Request `%s` → response `%s`." % (req, resp))
        out.append("")
        rows = field_rows(messages[req], messages, enums)
        if rows:
            out += ["| field | JSON | meaning |", "|---|---|---|"] + rows + [""]
    out.append("## Messages")
    out.append("")
    shown = {r[1] for r in rpcs}
    for name, msg in messages.items():
        if name in shown:
            continue
        out.append("### %s" % name)
        out.append("")
        if msg["doc"]:
            out.append(" ".join(msg["doc"]))
            out.append("")
        rows = field_rows(msg, messages, enums)
        if rows:
            out += ["| field | JSON | meaning |", "|---|---|---|"] + rows + [""]
    out.append("## Enums")
    out.append("")
    for name, e in enums.items():
        out.append("### %s" % name)
        out.append("")
        if e["doc"]:
            out.append(" ".join(e["doc"]))
            out.append("")
        for v, num, doc in e["values"]:
            out.append("- `%s` = %s%s" % (v, num, (": " + " ".join(doc)) if doc else ""))
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    text = render(open(sys.argv[1]).read())
    if len(sys.argv) > 2:
        if sys.argv[2] == "--check":
            current = open(sys.argv[3]).read()
            if current != text:
                sys.exit("docs/API.md is out of date: run proto/gen_api_md.py %s docs/API.md"
                         % sys.argv[1])
        else:
            open(sys.argv[2], "w").write(text)
    else:
        sys.stdout.write(text)
