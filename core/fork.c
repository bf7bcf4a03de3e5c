/* Tasks: spawn, fork, vfork, clone, exit, exec, context switch (kernel/fork.c, kernel/exit.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table fork_events = {4, NULL, 0};

int fork_init(struct machine *m)
{
	(void)m;
	return 0;
}

void fork_release(struct machine *m)
{
	(void)m;
}

enum vm_err fork_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int fork_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void fork_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "TASK");
}

int fork_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "TASK");
}
