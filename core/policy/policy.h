/*
 * The textbook page-replacement exercise: simulate_policy() replays a reference string on a
 * given number of frames under FIFO, LRU, MRU, OPT or CLOCK and reports every step (hit or
 * miss, the victim, the frames' contents) and the totals, like OSTEP's paging-policy.py.
 * A pure function: it touches no machine. A library of its own (vmsim_policy, libc only):
 * the replacement exercise of the server and `vmsimctl policy simulate` both run it.
 */
#ifndef VMSIM_POLICY_H
#define VMSIM_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum sim_policy { SIM_FIFO = 0, SIM_LRU, SIM_MRU, SIM_OPT, SIM_CLOCK, SIM_NR_POLICIES };

#define SIM_MAX_FRAMES 65536u
#define SIM_MAX_REFS   (1u << 26)
#define SIM_NONE       UINT32_MAX /* no victim / empty frame */

struct policy_step {
	uint32_t ref;    /* the page referenced */
	uint32_t hit;    /* 1 hit, 0 miss */
	uint32_t victim; /* page evicted by this miss, SIM_NONE when a frame was free */
	uint32_t frame;  /* the frame ref is in after the step: free frames fill from 0, and a
	                    victim's frame takes the new page */
};

struct policy_totals {
	uint64_t hits, misses;
};

/*
 * Replays refs[0..n) on `frames` frames. steps (n entries) and contents (n * frames entries:
 * after each step the cache's pages, SIM_NONE for an empty frame) may be NULL.
 * Contents order: FIFO oldest first; LRU and MRU least recently used first; OPT and CLOCK by
 * frame (a victim's frame takes the new page, free frames fill from 0).
 * OPT evicts the page whose next use is farthest away; pages never used again tie, and among
 * them the one that entered the cache last is evicted (OSTEP's rule).
 * CLOCK: every reference (the load included) sets the page's use bit; on a miss the hand
 * clears set bits as it sweeps and evicts the first page whose bit is clear.
 * Returns 0, or -1 for a bad policy, 0 or more than SIM_MAX_FRAMES frames, more than
 * SIM_MAX_REFS references, or refs == NULL with n > 0.
 */
int simulate_policy(enum sim_policy policy, uint32_t frames, const uint32_t *refs, size_t n,
                    struct policy_step *steps, uint32_t *contents, struct policy_totals *out);

const char *sim_policy_name(enum sim_policy p);

/* policy_report shows at most this many frames per line (an exercise has 3 or 4). */
#define SIM_REPORT_FRAMES 64u

/* The run in OSTEP paging-policy.py's text (steps and contents as simulate_policy filled). */
void policy_report(FILE *out, enum sim_policy p, uint32_t frames, const struct policy_step *steps,
                   const uint32_t *contents, size_t n);
/* "fifo", "lru", "mru", "opt", "clock" (any case) -> policy, or -1. */
int sim_policy_parse(const char *name);

#endif
