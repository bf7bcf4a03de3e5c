/*
 * The work of each op, from its arguments and the size of its machine (cost.h has the model).
 * Everything saturates at UINT64_MAX: an absurd argument makes an absurd cost, never a small one.
 */
#include "cost.h"

#include "query.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Pages spanned by [start, start + len); 0 for an empty range. */
static uint64_t pages_spanned(uint64_t start, uint64_t len)
{
	if (!len)
		return 0;
	uint64_t last = start + len - 1 < start ? UINT64_MAX : start + len - 1;
	return (last >> PAGE_SHIFT) - (start >> PAGE_SHIFT) + 1;
}

static uint64_t pages_of(uint64_t bytes)
{
	return (bytes >> PAGE_SHIFT) + ((bytes & (PAGE_SIZE - 1)) != 0);
}

void cost_machine_of(const struct machine *m, struct cost_machine *cm)
{
	/* an entry is 8 bytes on x86_64, 4 on i386 (1024 per table) */
	unsigned entry = machine_get_config(m)->arch == ARCH_I386 ? 4 : 8;
	cm->nr_frames = machine_nr_frames(m);
	cm->max_ptes = query_max_pgtables_bytes(m) / entry;
}

static void touch_range(struct op_cost *c, uint64_t addr, uint64_t len, uint64_t stride)
{
	if (!len)
		return;
	c->accesses = (len - 1) / stride + 1;
	c->frames = min64(c->accesses, pages_spanned(addr, len));
}

void cost_op(const struct op *op, const struct cost_machine *cm, uint64_t grown,
             struct op_cost *out)
{
	struct op_cost c = {0};
	uint64_t ptes = sat_add(cm->max_ptes, grown);
	switch (op->kind) {
	case OP_ALLOC_PAGES:
	case OP_FREE_PAGES: {
		uint32_t order =
		    op->kind == OP_ALLOC_PAGES ? op->u.alloc_pages.order : op->u.free_pages.order;
		c.frames = order < MAX_ORDER ? 1ull << order : 1; /* a larger order is refused */
		break;
	}
	case OP_KMEM_CACHE_CREATE:
	case OP_KMEM_CACHE_ALLOC:
	case OP_SPAWN:
		c.frames = 1;
		break;
	case OP_KMALLOC:
		c.frames =
		    op->u.kmalloc.size ? min64(pages_of(op->u.kmalloc.size), cm->nr_frames) : 1;
		break;
	case OP_VMALLOC:
		c.frames = min64(pages_of(op->u.vmalloc.size), cm->nr_frames);
		break;
	case OP_FORK:
		c.ptes = ptes;
		break;
	case OP_CLONE:
		c.ptes = op->u.fork.flags & CLONE_VM_ ? 0 : ptes;
		break;
	case OP_MMAP: /* a driver mapping is populated at once (remap_pfn_range) */
		if (op->u.mmap.flags & MAP_DRIVER_)
			c.frames = min64(pages_of(op->u.mmap.len), cm->nr_frames);
		break;
	case OP_MPROTECT:
		c.ptes = min64(pages_spanned(op->u.munmap.addr, op->u.munmap.len), ptes);
		break;
	case OP_ACCESS:
		c.accesses = c.frames = 1;
		break;
	case OP_ACCESS_RANGE:
		touch_range(&c, op->u.access.addr, op->u.access.len,
		            op->u.access.stride ? op->u.access.stride : PAGE_SIZE);
		break;
	case OP_FILE_READ:
	case OP_FILE_WRITE:
		c.frames = pages_spanned(op->u.file_io.offset, op->u.file_io.len);
		break;
	case OP_MKSWAP: /* every slot of the swap map is set up */
		c.accesses = pages_of(op->u.swap.size);
		break;
	case OP_RECLAIM:
		c.frames = min64(op->u.reclaim.nr_pages, cm->nr_frames);
		break;
	case OP_TICK:
		c.ticks = op->u.tick.n;
		break;
	case OP_SET_NR_HUGEPAGES: /* one order-9 allocation or free per huge page */
		c.frames = min64(op->u.hugepages.count, cm->nr_frames);
		break;
	case OP_DRIVER_OPEN:
		c.frames = min64(pages_of(op->u.driver.size), cm->nr_frames);
		break;
	default: /* freeing, unmapping, exit, sync, settings: paid by what built it */
		break;
	}
	uint64_t w = sat_add(1, c.accesses);
	w = sat_add(w, sat_mul(c.frames, COST_FRAME));
	w = sat_add(w, sat_mul(c.ptes, COST_PTE));
	c.work = sat_add(w, c.ticks);
	*out = c;
}

uint64_t cost_quota_ops(uint64_t work)
{
	return 1 + work / COST_WORK_PER_OP;
}

void cost_batch(const struct op *ops, size_t n, const struct cost_machine *cm,
                struct cost_batch *out)
{
	struct cost_batch b = {0};
	uint64_t grown = 0;
	for (size_t i = 0; i < n; i++) {
		struct op_cost c;
		cost_op(&ops[i], cm, grown, &c);
		if (c.work > b.max_work) {
			b.max_work = c.work;
			b.max_index = i;
		}
		b.work = sat_add(b.work, c.work);
		b.quota_ops = sat_add(b.quota_ops, cost_quota_ops(c.work));
		grown = sat_add(grown, c.frames);
	}
	*out = b;
}
