/*
 * Bounded work per request. Before a request's ops run, their work (cost.h) is checked against
 * the server's limits (--max-op-work, --max-request-work) and charged to the caller's quota.
 * A request whose ops take longer than one slice runs in slices that yield to the loop, so
 * other clients are served in between; its machine takes no other change meanwhile (calls
 * naming it wait, in order), and its reply and its one journal record come after its last op,
 * as for a request that ran at once.
 */
#ifndef VMSIM_SRV_APPLY_SLICE_H
#define VMSIM_SRV_APPLY_SLICE_H

#include <stddef.h>
#include <uv.h>

#include "registry.h"
#include "rpc.h"

/* Loop time one slice may take before it yields. */
#define SLICE_NS (5 * 1000 * 1000)

/* Checks ops[0..n) of a call on sm against the limits and charges them: 0 to run them, or -1
 * with the call failed (resource_exhausted naming the limit and the cost, or the quota). */
int slice_admit(struct srv_call *c, struct srv_machine *sm, const struct op *ops, size_t n);

/* A machine held by a request that finishes later (sliced, or booting off the loop): the calls
 * that would change it wait here in order. */
struct slice_hold {
	char machine_id[MACHINE_ID_LEN];
	struct srv_call *parked, **parked_tail;
};

/* Holds sm for a deferred call. */
void slice_hold(struct srv_machine *sm, struct slice_hold *h);
/* Ends the hold; returns the calls that waited, to pass to slice_run_parked once the holding
 * call's commit record went to srv->commit (rpc_resume). */
struct srv_call *slice_unhold(struct srv *s, struct slice_hold *h);
/* Runs calls that waited, in order (rpc_run; one that finds its machine held again waits). */
void slice_run_parked(struct srv_call *parked);

struct slice_job {
	struct srv_call *c;
	size_t next, n; /* ops run so far, ops in all */
	/* Runs op i; 0 to go on, -1 to stop after it (it failed). */
	int (*step)(struct slice_job *j, size_t i);
	/* After the last step, on the loop: the reply and the commit record of the call. */
	void (*finish)(struct slice_job *j);
	/* Frees the job (never touches the call, which may be gone). */
	void (*release)(struct slice_job *j);

	/* private */
	struct slice_hold hold;
	uv_idle_t idle;
	uint64_t slices;
};

/*
 * Runs the job from a handler of c on machine sm. When every step fits in the first slice it
 * finishes before this returns, like any handler; otherwise the call is deferred, the rest
 * runs in later loop iterations, and the call resumes (commit, reply) after the last step.
 */
void slice_start(struct slice_job *j, struct srv_machine *sm);

/* For rpc_dispatch: parks an authorized call that would change a machine running a sliced
 * request; it runs (rpc_run) when that request is done. 1 if parked. */
int slice_park(struct srv_call *c);

#endif
