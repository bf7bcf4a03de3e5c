/* Address spaces: mm_struct, VMAs, do_mmap, do_munmap, mprotect, brk (mm/mmap.c). */
#include "kernel.h"
#include "snapshot.h"

const struct event_table mmap_events = {5, NULL, 0};

int mmap_init(struct machine *m)
{
	(void)m;
	return 0;
}

void mmap_release(struct machine *m)
{
	(void)m;
}

enum vm_err mmap_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	(void)m;
	(void)op;
	return op_fail(res, VM_EINVAL, "op %#x is not available on this machine yet", op->kind);
}

int mmap_check(const struct machine *m, char *buf, size_t len)
{
	(void)m;
	(void)buf;
	(void)len;
	return 0;
}

void mmap_save(const struct machine *m, struct snap_writer *w)
{
	(void)m;
	snap_put_tag(w, "MMAP");
}

int mmap_load(struct machine *m, struct snap_reader *r)
{
	(void)m;
	return snap_expect_tag(r, "MMAP");
}
