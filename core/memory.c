/* Page faults: handle_mm_fault, demand paging, COW (mm/memory.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table memory_events = {6, NULL, 0};

int memory_init(struct machine *m)
{
	(void)m;
	return 0;
}

void memory_release(struct machine *m)
{
	(void)m;
}

enum vm_err memory_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int memory_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void memory_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "MEMO");
}

int memory_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "MEMO");
}
