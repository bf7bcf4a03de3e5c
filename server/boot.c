/*
 * Machines booted on a libuv worker thread (boot.h), and the one-at-a-time gate of
 * CreateMachine while such a boot runs.
 */
#include "boot.h"

#include <stdlib.h>
#include <string.h>

struct boot_job {
	uv_work_t work;
	struct srv_call *c;
	struct machine_config cfg;
	struct machine *m;
	char err[256];
	boot_done_fn done;
	void *arg;
};

static void boot_work(uv_work_t *w)
{
	struct boot_job *j = w->data;
	j->m = machine_create(&j->cfg, j->err, sizeof(j->err));
}

static void boot_after(uv_work_t *w, int status)
{
	struct boot_job *j = w->data;
	if (status && j->m) { /* cancelled: never happens once queued, kept for the contract */
		machine_destroy(j->m);
		j->m = NULL;
	}
	if (!j->m && !j->err[0])
		snprintf(j->err, sizeof(j->err), "the machine could not be booted");
	j->done(j->c, j->m, j->err, j->arg);
	free(j);
}

int boot_start(struct srv_call *c, const struct machine_config *cfg, boot_done_fn done, void *arg)
{
	struct boot_job *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->work.data = j;
	j->c = c;
	j->cfg = *cfg;
	j->done = done;
	j->arg = arg;
	if (uv_queue_work(c->srv->loop, &j->work, boot_work, boot_after)) {
		free(j);
		return -1;
	}
	rpc_defer(c);
	return 0;
}

int boot_park_create(struct srv_call *c)
{
	struct srv *s = c->srv;
	if (!s->boot.creating || strcmp(c->method, "CreateMachine"))
		return 0;
	c->parked_next = NULL;
	if (!s->boot.parked_tail)
		s->boot.parked_tail = &s->boot.parked;
	*s->boot.parked_tail = c;
	s->boot.parked_tail = &c->parked_next;
	return 1;
}

void boot_create_begin(struct srv *s)
{
	s->boot.creating = 1;
}

void boot_create_end(struct srv *s)
{
	s->boot.creating = 0;
	struct srv_call *c = s->boot.parked;
	s->boot.parked = NULL;
	s->boot.parked_tail = &s->boot.parked;
	while (c) {
		struct srv_call *next = c->parked_next;
		c->parked_next = NULL;
		if (!boot_park_create(c)) /* parked again behind a create that began meanwhile */
			rpc_admit(c);
		c = next;
	}
}
