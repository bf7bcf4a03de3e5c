/* The seed's map_driver: a character device whose vmalloc buffer is mapped by a fault handler. */
#include "kernel.h"
#include "snapshot.h"

const struct event_table map_driver_events = {10, NULL, 0};

int map_driver_init(struct machine *m)
{
	(void)m;
	return 0;
}

void map_driver_release(struct machine *m)
{
	(void)m;
}

enum vm_err map_driver_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int map_driver_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void map_driver_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "DRVR");
}

int map_driver_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "DRVR");
}
