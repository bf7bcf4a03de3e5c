/*
 * Admission (limits and quota, before anything runs) and slicing of long requests
 * (apply_slice.h). A sliced request holds its machine: calls that would change it, or read
 * more than its in-memory state, wait in a FIFO on the job and run in order after its commit
 * record was handed to srv->commit, so the journal sees the machine's changes in the order
 * they happened and replays them to the same state.
 */
#include "apply_slice.h"

#include <stdio.h>
#include <string.h>

#include "cost.h"
#include "ops.h"

int slice_admit(struct srv_call *c, struct srv_machine *sm, const struct op *ops, size_t n)
{
	const struct srv_config *cfg = &c->srv->cfg;
	struct cost_machine cm;
	struct cost_batch b;
	cost_machine_of(sm->m, &cm);
	cost_batch(ops, n, &cm, &b);
	if (n && b.max_work > cfg->max_op_work) {
		char what[64];
		const char *name = ops_name(ops[b.max_index].kind);
		if (n > 1)
			snprintf(what, sizeof(what), "op %zu (%s)", b.max_index, name ? name : "?");
		else
			snprintf(what, sizeof(what), "%s", name ? name : "this op");
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED,
		         "%s costs %llu units of work, over this server's limit of %llu per op "
		         "(--max-op-work): split it into smaller ops",
		         what, (unsigned long long)b.max_work,
		         (unsigned long long)cfg->max_op_work);
		return -1;
	}
	if (b.work > cfg->max_request_work) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED,
		         "this request's %zu ops cost %llu units of work, over this server's limit "
		         "of %llu per request (--max-request-work): send them in several requests",
		         n, (unsigned long long)b.work, (unsigned long long)cfg->max_request_work);
		return -1;
	}
	if (c->srv->charge && c->srv->charge(c->srv->charge_data, c->who, b.quota_ops, &c->err)) {
		c->failed = 1;
		return -1;
	}
	return 0;
}

/* Methods that only read the machine's state in memory: they may run between two slices and
 * see the ops run so far, as they see an op whose record is not yet durable. */
static int reads_memory_only(const char *method)
{
	static const char *const reads[] = {
	    "GetMachine", "ListMachines", "Proc",      "FrameMap",
	    "Counters",   "Events",       "Translate", "ListTasks",
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (!strcmp(method, reads[i]))
			return 1;
	return 0;
}

void slice_hold(struct srv_machine *sm, struct slice_hold *h)
{
	snprintf(h->machine_id, sizeof(h->machine_id), "%s", sm->id);
	h->parked = NULL;
	h->parked_tail = &h->parked;
	sm->busy = h;
}

struct srv_call *slice_unhold(struct srv *s, struct slice_hold *h)
{
	struct srv_machine *sm = registry_get(s->reg, h->machine_id);
	if (sm && sm->busy == h)
		sm->busy = NULL;
	struct srv_call *parked = h->parked;
	h->parked = NULL;
	h->parked_tail = &h->parked;
	return parked;
}

static void park(struct slice_hold *h, struct srv_call *c)
{
	c->parked_next = NULL;
	*h->parked_tail = c;
	h->parked_tail = &c->parked_next;
}

int slice_park(struct srv_call *c)
{
	if (!*c->machine_id || reads_memory_only(c->method))
		return 0;
	struct srv_machine *sm = registry_get(c->srv->reg, c->machine_id);
	if (!sm || !sm->busy)
		return 0;
	park(sm->busy, c);
	return 1;
}

/* Steps until the job is done or the slice's time is up; 1 when done. A server without a
 * loop (in-process benchmarks) runs the whole job at once. */
static int run_slice(struct slice_job *j)
{
	uint64_t end = j->c->srv->loop ? uv_hrtime() + SLICE_NS : UINT64_MAX;
	j->slices++;
	while (j->next < j->n) {
		if (j->step(j, j->next++))
			return 1;
		if (uv_hrtime() >= end)
			return j->next == j->n;
	}
	return 1;
}

static void closed(uv_handle_t *h)
{
	struct slice_job *j = h->data;
	j->release(j);
}

void slice_run_parked(struct srv_call *c)
{
	while (c) {
		struct srv_call *next = c->parked_next;
		c->parked_next = NULL;
		if (!slice_park(c))
			rpc_run(c);
		c = next;
	}
}

static void on_idle(uv_idle_t *h)
{
	struct slice_job *j = h->data;
	if (!run_slice(j))
		return;
	j->finish(j);
	struct srv_call *c = j->c, *parked = slice_unhold(c->srv, &j->hold);
	uv_idle_stop(h);
	uv_close((uv_handle_t *)h, closed);
	rpc_resume(c); /* its record goes to srv->commit before any waiting call's */
	slice_run_parked(parked);
}

void slice_start(struct slice_job *j, struct srv_machine *sm)
{
	j->slices = 0;
	if (run_slice(j)) {
		j->finish(j);
		j->release(j);
		return;
	}
	slice_hold(sm, &j->hold);
	rpc_defer(j->c);
	uv_idle_init(j->c->srv->loop, &j->idle);
	j->idle.data = j;
	uv_idle_start(&j->idle, on_idle);
}
