/* Slab allocator and kmalloc (mm/slub.c, mm/slab_common.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table slab_events = {2, NULL, 0};

int slab_init(struct machine *m)
{
	(void)m;
	return 0;
}

void slab_release(struct machine *m)
{
	(void)m;
}

enum vm_err slab_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int slab_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void slab_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "SLAB");
}

int slab_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "SLAB");
}
