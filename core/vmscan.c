/* LRU lists, kswapd, direct reclaim and the OOM killer (mm/vmscan.c, mm/oom_kill.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table vmscan_events = {9, NULL, 0};

int vmscan_init(struct machine *m)
{
	(void)m;
	return 0;
}

void vmscan_release(struct machine *m)
{
	(void)m;
}

enum vm_err vmscan_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int vmscan_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

uint64_t wakeup_kswapd(struct machine *m, unsigned order, uint32_t gfp)
{
	(void)m;
	(void)order;
	(void)gfp;
	return 0;
}

uint64_t try_to_free_pages(struct machine *m, unsigned order, uint32_t gfp)
{
	(void)m;
	(void)order;
	(void)gfp;
	return 0;
}

void vmscan_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "SCAN");
}

int vmscan_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "SCAN");
}
