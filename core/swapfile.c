/* Swap areas, slots and the swap cache (mm/swapfile.c, mm/swap_state.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table swapfile_events = {8, NULL, 0};

int swapfile_init(struct machine *m)
{
	(void)m;
	return 0;
}

void swapfile_release(struct machine *m)
{
	(void)m;
}

enum vm_err swapfile_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int swapfile_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void swapfile_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "SWAP");
}

int swapfile_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "SWAP");
}
