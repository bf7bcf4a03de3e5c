/* Simulated files, the page cache and buffers (mm/filemap.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table filemap_events = {7, NULL, 0};

int filemap_init(struct machine *m)
{
	(void)m;
	return 0;
}

void filemap_release(struct machine *m)
{
	(void)m;
}

enum vm_err filemap_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int filemap_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void filemap_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "FILE");
}

int filemap_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "FILE");
}
