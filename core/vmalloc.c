/* vmalloc: virtually contiguous kernel memory from scattered frames (mm/vmalloc.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table vmalloc_events = {3, NULL, 0};

int vmalloc_init(struct machine *m)
{
	(void)m;
	return 0;
}

void vmalloc_release(struct machine *m)
{
	(void)m;
}

enum vm_err vmalloc_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int vmalloc_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void vmalloc_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "VMAL");
}

int vmalloc_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "VMAL");
}
