/*
 * Turns fuzzer bytes into core ops (shared by the fuzz targets that need a busy machine).
 * Values are drawn from small, kernel-meaningful ranges most of the time (orders 0..11, pids
 * 1..8, page-aligned addresses near the usual VMAs) and raw 64-bit values otherwise, so that
 * both deep paths and the argument checks are reached.
 */
#ifndef VMSIM_FUZZ_OPS_H
#define VMSIM_FUZZ_OPS_H

#include <stdint.h>
#include <string.h>

#include "machine.h"

struct fuzz_stream {
	const uint8_t *p;
	size_t n, off;
};

static inline uint64_t fz_raw(struct fuzz_stream *s, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v = v << 8 | (s->off < s->n ? s->p[s->off++] : 0);
	return v;
}

static inline int fz_done(const struct fuzz_stream *s)
{
	return s->off >= s->n;
}

/* Small value below lim 7 times in 8, otherwise a raw 64-bit one. */
static inline uint64_t fz_num(struct fuzz_stream *s, uint64_t lim)
{
	uint8_t sel = (uint8_t)fz_raw(s, 1);
	if ((sel & 7) != 7)
		return lim ? (sel >> 3) % lim : 0;
	return fz_raw(s, 8);
}

static inline uint64_t fz_addr(struct fuzz_stream *s)
{
	static const uint64_t bases[] = {0x400000,
	                                 0x8048000,
	                                 0x10000000,
	                                 0x7f0000000000,
	                                 0xbf000000,
	                                 0xc0000000,
	                                 0xffff888000000000ull,
	                                 0xffffc90000000000ull};
	uint8_t sel = (uint8_t)fz_raw(s, 1);
	if (sel < 224)
		return bases[sel & 7] + (fz_raw(s, 2) << 12) +
		       ((sel & 0x10) ? fz_raw(s, 2) & 0xfff : 0);
	return fz_raw(s, 8);
}

static inline uint64_t fz_size(struct fuzz_stream *s)
{
	uint8_t sel = (uint8_t)fz_raw(s, 1);
	if (sel < 240)
		return (uint64_t)(fz_raw(s, 2) + 1) << (sel % 14);
	return fz_raw(s, 8);
}

static inline void fz_name(struct fuzz_stream *s, char *dst)
{
	static const char *const names[] = {"a", "b",        "kmalloc-64", "task_struct",
	                                    "f", "swapfile", "",           "my_cache"};
	strcpy(dst, names[fz_raw(s, 1) & 7]);
}

static const enum op_kind fz_kinds[] = {
    OP_ALLOC_PAGES,
    OP_FREE_PAGES,
    OP_KMEM_CACHE_CREATE,
    OP_KMEM_CACHE_ALLOC,
    OP_KMEM_CACHE_FREE,
    OP_KMEM_CACHE_SHRINK,
    OP_KMEM_CACHE_DESTROY,
    OP_KMALLOC,
    OP_KFREE,
    OP_VMALLOC,
    OP_VFREE,
    OP_SPAWN,
    OP_FORK,
    OP_VFORK,
    OP_CLONE,
    OP_EXIT,
    OP_EXEC,
    OP_CONTEXT_SWITCH,
    OP_SET_RLIMIT,
    OP_SET_OOM_ADJ,
    OP_MMAP,
    OP_MUNMAP,
    OP_MPROTECT,
    OP_BRK,
    OP_MADVISE,
    OP_ACCESS,
    OP_ACCESS_RANGE,
    OP_FILE_CREATE,
    OP_FILE_READ,
    OP_FILE_WRITE,
    OP_FILE_SYNC,
    OP_FILE_DELETE,
    OP_MKSWAP,
    OP_SWAPON,
    OP_SWAPOFF,
    OP_RECLAIM,
    OP_DROP_CACHES,
    OP_TICK,
    OP_SET_SWAPPINESS,
    OP_DRIVER_OPEN,
    OP_DRIVER_CLOSE,
};

/* Decodes the next op; an op kind outside the table (a raw value) tests the dispatcher. */
static inline void fz_op(struct fuzz_stream *s, struct op *op)
{
	memset(op, 0, sizeof(*op));
	uint8_t k = (uint8_t)fz_raw(s, 1);
	op->kind = k < 250 ? fz_kinds[k % (sizeof(fz_kinds) / sizeof(fz_kinds[0]))]
	                   : (enum op_kind)fz_raw(s, 2);
	switch (op->kind) {
	case OP_ALLOC_PAGES:
		op->u.alloc_pages.gfp = (uint32_t)fz_num(s, 0x80);
		op->u.alloc_pages.order = (uint32_t)fz_num(s, 12);
		break;
	case OP_FREE_PAGES:
		op->u.free_pages.pfn = fz_num(s, 4096);
		op->u.free_pages.order = (uint32_t)fz_num(s, 12);
		break;
	case OP_KMEM_CACHE_CREATE:
		fz_name(s, op->u.cache_create.name);
		op->u.cache_create.size = (uint32_t)fz_num(s, 5000);
		op->u.cache_create.align = (uint32_t)fz_num(s, 130);
		break;
	case OP_KMEM_CACHE_ALLOC:
	case OP_KMEM_CACHE_FREE:
	case OP_KMEM_CACHE_SHRINK:
	case OP_KMEM_CACHE_DESTROY:
		fz_name(s, op->u.cache.name);
		op->u.cache.addr = fz_addr(s);
		break;
	case OP_KMALLOC:
		op->u.kmalloc.size = fz_size(s);
		op->u.kmalloc.gfp = (uint32_t)fz_num(s, 0x80);
		break;
	case OP_KFREE:
		op->u.kfree.addr = fz_addr(s);
		break;
	case OP_VMALLOC:
		op->u.vmalloc.size = fz_size(s);
		break;
	case OP_VFREE:
		op->u.vfree.addr = fz_addr(s);
		break;
	case OP_SPAWN:
	case OP_EXEC:
		if (op->kind == OP_EXEC)
			op->u.exec.pid = (uint32_t)fz_num(s, 9);
		fz_name(s, op->kind == OP_EXEC ? op->u.exec.name : op->u.spawn.name);
		if (fz_raw(s, 1) & 1) {
			op->u.spawn.text = fz_size(s);
			op->u.spawn.data = fz_size(s);
			op->u.spawn.bss = fz_size(s);
			op->u.spawn.stack = fz_size(s);
		}
		if (op->kind == OP_EXEC) {
			op->u.exec.text = op->u.spawn.text;
			op->u.exec.data = op->u.spawn.data;
		}
		break;
	case OP_FORK:
	case OP_VFORK:
	case OP_CLONE:
		op->u.fork.pid = (uint32_t)fz_num(s, 9);
		op->u.fork.flags = (fz_raw(s, 1) & 1) ? CLONE_VM_ : (uint32_t)fz_num(s, 0x200);
		break;
	case OP_EXIT:
		op->u.exit.pid = (uint32_t)fz_num(s, 9);
		op->u.exit.code = (int32_t)fz_num(s, 256);
		break;
	case OP_CONTEXT_SWITCH:
		op->u.context_switch.pid = (uint32_t)fz_num(s, 9);
		break;
	case OP_SET_RLIMIT:
	case OP_SET_OOM_ADJ:
		op->u.set_task.pid = (uint32_t)fz_num(s, 9);
		op->u.set_task.value = fz_num(s, 2001);
		break;
	case OP_MMAP:
		op->u.mmap.pid = (uint32_t)fz_num(s, 9);
		op->u.mmap.addr = (fz_raw(s, 1) & 1) ? fz_addr(s) : 0;
		op->u.mmap.len = fz_size(s);
		op->u.mmap.prot = (uint32_t)fz_num(s, 8);
		op->u.mmap.flags = (uint32_t)fz_num(s, 0x40);
		op->u.mmap.file = (uint32_t)fz_num(s, 4);
		op->u.mmap.offset = fz_num(s, 16) << 12;
		break;
	case OP_MUNMAP:
	case OP_MPROTECT:
		op->u.munmap.pid = (uint32_t)fz_num(s, 9);
		op->u.munmap.addr = fz_addr(s);
		op->u.munmap.len = fz_size(s);
		op->u.munmap.prot = (uint32_t)fz_num(s, 8);
		break;
	case OP_BRK:
		op->u.brk.pid = (uint32_t)fz_num(s, 9);
		op->u.brk.addr = fz_addr(s);
		break;
	case OP_MADVISE:
		op->u.madvise.pid = (uint32_t)fz_num(s, 9);
		op->u.madvise.addr = fz_addr(s);
		op->u.madvise.len = fz_size(s);
		op->u.madvise.advice = (uint32_t)fz_num(s, 24);
		break;
	case OP_ACCESS:
	case OP_ACCESS_RANGE:
		op->u.access.pid = (uint32_t)fz_num(s, 9);
		op->u.access.addr = fz_addr(s);
		op->u.access.len = op->kind == OP_ACCESS_RANGE ? fz_size(s) : 0;
		op->u.access.kind = (enum access_kind)fz_num(s, 4);
		op->u.access.stride = fz_num(s, 3) << 12;
		break;
	case OP_FILE_CREATE:
		fz_name(s, op->u.file_create.name);
		op->u.file_create.size = fz_size(s);
		break;
	case OP_FILE_READ:
	case OP_FILE_WRITE:
	case OP_FILE_SYNC:
	case OP_FILE_DELETE:
		op->u.file_io.ino = (uint32_t)fz_num(s, 5);
		op->u.file_io.offset = fz_num(s, 64) << 12;
		op->u.file_io.len = fz_size(s);
		break;
	case OP_MKSWAP:
	case OP_SWAPON:
	case OP_SWAPOFF:
		fz_name(s, op->u.swap.name);
		op->u.swap.size = fz_size(s);
		op->u.swap.prio = (int32_t)((uint32_t)fz_num(s, 10) - 2u); /* raw values wrap */
		break;
	case OP_RECLAIM:
	case OP_DROP_CACHES:
	case OP_SET_SWAPPINESS:
		op->u.reclaim.nr_pages = fz_num(s, 300);
		op->u.reclaim.mode = (uint32_t)fz_num(s, 5);
		break;
	case OP_TICK:
		op->u.tick.n = fz_num(s, 20);
		break;
	case OP_DRIVER_OPEN:
	case OP_DRIVER_CLOSE:
		op->u.driver.size = fz_size(s);
		op->u.driver.minor = (uint32_t)fz_num(s, 3);
		break;
	default:
		fz_raw(s, 8);
		break;
	}
}

#endif
