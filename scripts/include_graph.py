#!/usr/bin/env python3
"""Checks the include graph of server/: no two server files depend on each other in a circle,
the store and auth modules (server/store/, server/auth/) reach no HTTP-layer header, and the
RPC core (api.c, rpc.c) reaches no store or auth header.

A node is a file name without its extension (api.c and api.h are "api"); a module folder is
one node ("common/", "store/", "auth/"). X depends on Y when X.c or X.h includes Y.h. Headers outside
server/ (core/, proto/, system) are leaves.
Usage: include_graph.py [SERVER_DIR]. Exit status 1 with the findings when one fails."""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
HTTP_LAYER = {"http.h", "router.h", "rpc.h", "server.h", "sse.h", "static.h"}


def node_of(root, path):
    rel = os.path.relpath(path, root)
    parts = rel.split(os.sep)
    return parts[0] + "/" if len(parts) > 1 else parts[0].rsplit(".", 1)[0]


def resolve(root, path, h):
    """The server file an include names: the including file's folder first (a module's
    private header), then server/ and the module folders (their public headers)."""
    for d in (os.path.dirname(path), root, os.path.join(root, "common"),
              os.path.join(root, "store"), os.path.join(root, "auth")):
        cand = os.path.normpath(os.path.join(d, h))
        if os.path.exists(cand):
            return cand
    return None


def scan(root):
    """{node: set of nodes it includes a header of}."""
    g = {}
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, f)
            node = node_of(root, path)
            g.setdefault(node, set())
            with open(path, encoding="utf-8") as fh:
                for h in INCLUDE.findall(fh.read()):
                    target = resolve(root, path, h)
                    if target and node_of(root, target) != node:
                        g[node].add(node_of(root, target))
    return g


def cycles(g):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def file_includes(root, path, seen=None):
    """Every server header path reaches through includes, transitively."""
    seen = set() if seen is None else seen
    with open(path, encoding="utf-8") as fh:
        for h in INCLUDE.findall(fh.read()):
            cand = resolve(root, path, h)
            if cand and cand not in seen:
                seen.add(cand)
                file_includes(root, cand, seen)
    return seen


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "server")
    g = scan(root)
    problems = []
    for comp in cycles(g):
        problems.append("include circle: " + " -> ".join(comp))
    for mod in ("common", "store", "auth"):
        for dirpath, _, files in os.walk(os.path.join(root, mod)):
            for f in files:
                if f.endswith((".c", ".h")):
                    p = os.path.join(dirpath, f)
                    bad = {os.path.basename(h) for h in file_includes(root, p)} & HTTP_LAYER
                    if bad:
                        problems.append("%s/%s reaches %s" % (mod, f, ", ".join(sorted(bad))))
    for f in ("api.c", "rpc.c"):
        reach = file_includes(root, os.path.join(root, f))
        bad = sorted(os.path.relpath(h, root) for h in reach
                     if os.path.relpath(h, root).split(os.sep)[0] in ("store", "auth"))
        if bad:
            problems.append("%s reaches %s" % (f, ", ".join(bad)))
    for p in problems:
        print(p)
    print("include_graph: %d server nodes, %d problem%s" %
          (len(g), len(problems), "" if len(problems) == 1 else "s"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
