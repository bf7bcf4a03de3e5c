/*
 * What an op costs in simulated work, known before it runs. The server refuses a request whose
 * work is above its limits and charges the work to the caller's ops/s quota before running it.
 *
 * One unit of work is one access that hits (about 20 ns of loop time); the rest is counted in
 * what the op touches, weighted by what it costs the simulator (docs/ARCHITECTURE.md, "Limits
 * and failure behaviour", has the measurements):
 *
 *   work = 1 + accesses + 16 x frames + 4 x ptes + ticks
 *
 * accesses: translated accesses (Access 1, AccessRange one per stride);
 * frames:   frames allocated, faulted in, read, written or scanned (each may fault, allocate,
 *           reclaim), bounded by the machine's frames where the op cannot go past them;
 * ptes:     page-table entries a fork copies or an mprotect rewrites: at most what the largest
 *           address space's page tables hold now, plus one per frame the ops before it in the
 *           same request may map;
 * ticks:    timer ticks (each runs the flusher and kswapd's check).
 * Undoing work is paid by the op that did it: unmapping, freeing, exit, sync, drop_caches and
 * swapoff only release what earlier ops built, so they cost 1.
 */
#ifndef VMSIM_SRV_COST_H
#define VMSIM_SRV_COST_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#define COST_FRAME 16
#define COST_PTE   4
/* An ops/s quota unit buys this much work: a simple op costs one, a big one more. */
#define COST_WORK_PER_OP 1024

/* What the machine a request runs on contributes to its ops' costs. */
struct cost_machine {
	uint64_t nr_frames;
	uint64_t max_ptes; /* entries the largest address space's page tables can hold */
};

struct op_cost {
	uint64_t accesses, frames, ptes, ticks;
	uint64_t work; /* the weighted sum above (saturating) */
};

/* The machine's part of the costs, read now. */
void cost_machine_of(const struct machine *m, struct cost_machine *cm);

/* The cost of op on machine cm after ops that touched up to `grown` frames (the entries they
 * may have added to page tables). */
void cost_op(const struct op *op, const struct cost_machine *cm, uint64_t grown,
             struct op_cost *out);

/* The ops/s quota units an op of this much work takes: 1 + work / COST_WORK_PER_OP. */
uint64_t cost_quota_ops(uint64_t work);

/* A request's ops, in order: the total work, the most expensive op (index and work) and the
 * quota units of all of them. */
struct cost_batch {
	uint64_t work, quota_ops;
	size_t max_index;
	uint64_t max_work;
};
void cost_batch(const struct op *ops, size_t n, const struct cost_machine *cm,
                struct cost_batch *out);

#endif
