#!/usr/bin/env python3
"""The simulate_policy exercise in plain Python (stdlib only), on the same reference string
as bench/reclaim_bench.c, to compare speed and miss counts with core/policy.c.

Usage: python3 bench/policy_bench.py [refs]   (default 1000000)
"""
import collections
import heapq
import sys
import time

MASK = (1 << 64) - 1


def make_refs(n):
    x = 0x2545F4914F6CDD1D
    refs = []
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        r = x % 1000
        refs.append((x >> 16) % 200 if r < 800 else (x >> 16) % 5000)
    return refs


def fifo(refs, frames):
    q, cached, miss = collections.deque(), set(), 0
    for p in refs:
        if p in cached:
            continue
        miss += 1
        if len(q) == frames:
            cached.discard(q.popleft())
        q.append(p)
        cached.add(p)
    return miss


def lru(refs, frames, mru=False):
    od, miss = collections.OrderedDict(), 0
    for p in refs:
        if p in od:
            od.move_to_end(p)
            continue
        miss += 1
        if len(od) == frames:
            od.popitem(last=mru)
        od[p] = True
    return miss


def opt(refs, frames):
    n = len(refs)
    nxt, last = [0] * n, {}
    for i in range(n - 1, -1, -1):
        nxt[i] = last.get(refs[i], n)
        last[refs[i]] = i
    key, heap, miss = {}, [], 0  # max-heap by (next use, entry seq): negated
    for i, p in enumerate(refs):
        if p in key:
            k = (nxt[i], key[p][1])
        else:
            miss += 1
            if len(key) == frames:
                while True:
                    nk, ns, v = heapq.heappop(heap)
                    if key.get(v) == (-nk, -ns):
                        del key[v]
                        break
            k = (nxt[i], i)
        key[p] = k
        heapq.heappush(heap, (-k[0], -k[1], p))
    return miss


def clock(refs, frames):
    frame, use, slot, hand, miss = [], [], {}, 0, 0
    for p in refs:
        f = slot.get(p)
        if f is not None:
            use[f] = 1
            continue
        miss += 1
        if len(frame) < frames:
            slot[p] = len(frame)
            frame.append(p)
            use.append(1)
            continue
        while use[hand]:
            use[hand] = 0
            hand = (hand + 1) % frames
        del slot[frame[hand]]
        frame[hand], use[hand], slot[p] = p, 1, hand
        hand = (hand + 1) % frames
    return miss


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    refs = make_refs(n)
    print("python policies: %d references, 500 frames" % n)
    for name, fn in (("fifo", fifo), ("lru", lru), ("mru", lambda r, f: lru(r, f, True)),
                     ("opt", opt), ("clock", clock)):
        t0 = time.process_time()
        miss = fn(refs, 500)
        dt = time.process_time() - t0
        print("  %-5s misses %8d  hits %8d  %8.1f ms  %6.2f M refs/s"
              % (name, miss, n - miss, dt * 1e3, n / dt / 1e6))


if __name__ == "__main__":
    main()
