/*
 * The machine: creation from a config, boot, and machine_apply(), the single door through
 * which every state change passes. Ops are routed by their 0x100 block to the file that
 * owns the mechanism.
 */
#include "kernel.h"
#include "snapshot.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const vm_err_names[] = {
    [VM_OK] = "ok",
    [VM_EINVAL] = "invalid argument",
    [VM_ENOMEM] = "out of memory",
    [VM_ENOENT] = "no such object",
    [VM_EEXIST] = "already exists",
    [VM_EBUSY] = "busy",
    [VM_ENOSPC] = "no space left",
    [VM_EPERM] = "not permitted",
    [VM_EFAULT] = "bad address",
};

const char *vm_strerror(enum vm_err e)
{
	if ((unsigned)e < ARRAY_SIZE(vm_err_names) && vm_err_names[e])
		return vm_err_names[e];
	return "unknown error";
}

enum vm_err op_fail(struct op_result *res, enum vm_err err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
	res->err = err;
	return err;
}

uint64_t machine_random(struct machine *m)
{
	uint64_t x = m->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

int machine_config_default(struct machine_config *cfg, enum machine_arch arch, uint64_t ram)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = arch;
	cfg->ram_bytes = ram;
	cfg->tlb_entries = 64;
	cfg->tlb_ways = 4;
	cfg->policy = POLICY_LINUX;
	cfg->swappiness = 60;
	cfg->swappiness_set = 1;
	cfg->seed = 1;
	cfg->event_ring = 1024;
	return 0;
}

static int config_check(struct machine_config *c, char *err, size_t len)
{
	if (c->arch != ARCH_I386 && c->arch != ARCH_X86_64) {
		snprintf(err, len, "arch must be i386 or x86_64");
		return -1;
	}
	if (c->ram_bytes < MACHINE_RAM_MIN || c->ram_bytes > MACHINE_RAM_MAX ||
	    c->ram_bytes % PAGE_SIZE) {
		snprintf(
		    err, len,
		    "ram must be a multiple of 4 KiB between 4 MiB and 64 GiB (got %llu bytes)",
		    (unsigned long long)c->ram_bytes);
		return -1;
	}
	if (c->arch == ARCH_I386 && c->ram_bytes > (4ull << 30)) {
		snprintf(err, len, "i386 without PAE addresses at most 4 GiB of RAM");
		return -1;
	}
	if (!c->tlb_entries)
		c->tlb_entries = 64;
	if (!c->tlb_ways)
		c->tlb_ways = 4;
	if (c->tlb_entries > 4096 || c->tlb_ways > c->tlb_entries || c->tlb_entries % c->tlb_ways) {
		snprintf(err, len, "tlb entries must be <= 4096 and a multiple of tlb ways");
		return -1;
	}
	if ((unsigned)c->policy > POLICY_CLOCK) {
		snprintf(err, len, "policy must be linux, fifo, lru or clock");
		return -1;
	}
	if (!c->swappiness_set) {
		c->swappiness = 60;
		c->swappiness_set = 1;
	}
	if (c->swappiness > 200) {
		snprintf(err, len, "swappiness must be 0..200");
		return -1;
	}
	if (!c->event_ring)
		c->event_ring = 1024;
	if (c->event_ring > 1u << 20) {
		snprintf(err, len, "event ring must be at most 1048576 events");
		return -1;
	}
	return 0;
}

struct subsystem {
	int (*init)(struct machine *m);
	void (*release)(struct machine *m);
	enum vm_err (*apply)(struct machine *m, const struct op *op, struct op_result *res);
	int (*check)(const struct machine *m, char *buf, size_t len);
	void (*save)(const struct machine *m, struct snap_writer *w);
	int (*load)(struct machine *m, struct snap_reader *r);
};

/* Indexed by OP_BLOCK; boot runs init in this order, teardown in reverse. */
static const struct subsystem subsystems[] = {
    [1] = {page_alloc_init, page_alloc_release, page_alloc_apply, page_alloc_check, page_alloc_save,
           page_alloc_load},
    [2] = {slab_init, slab_release, slab_apply, slab_check, slab_save, slab_load},
    [3] = {vmalloc_init, vmalloc_release, vmalloc_apply, vmalloc_check, vmalloc_save, vmalloc_load},
    [4] = {fork_init, fork_release, fork_apply, fork_check, fork_save, fork_load},
    [5] = {mmap_init, mmap_release, mmap_apply, mmap_check, mmap_save, mmap_load},
    [6] = {memory_init, memory_release, memory_apply, memory_check, memory_save, memory_load},
    [7] = {filemap_init, filemap_release, filemap_apply, filemap_check, filemap_save, filemap_load},
    [8] = {swapfile_init, swapfile_release, swapfile_apply, swapfile_check, swapfile_save,
           swapfile_load},
    [9] = {vmscan_init, vmscan_release, vmscan_apply, vmscan_check, vmscan_save, vmscan_load},
    [10] = {map_driver_init, map_driver_release, map_driver_apply, map_driver_check,
            map_driver_save, map_driver_load},
    [11] = {hugetlb_init, hugetlb_release, hugetlb_apply, hugetlb_check, hugetlb_save,
            hugetlb_load},
};

struct machine *machine_create(const struct machine_config *cfg, char *err, size_t errlen)
{
	struct machine_config c = *cfg;
	if (config_check(&c, err, errlen))
		return NULL;
	struct machine *m = calloc(1, sizeof(*m));
	if (!m || event_ring_init(&m->events, c.event_ring)) {
		free(m);
		snprintf(err, errlen, "out of host memory");
		return NULL;
	}
	m->cfg = c;
	m->rng = c.seed ? c.seed : 0x9E3779B97F4A7C15ull;
	for (size_t i = 1; i < ARRAY_SIZE(subsystems); i++) {
		if (subsystems[i].init(m)) {
			snprintf(err, errlen, "boot failed in subsystem %zu", i);
			machine_destroy(m);
			return NULL;
		}
	}
	return m;
}

void machine_destroy(struct machine *m)
{
	if (!m)
		return;
	for (size_t i = ARRAY_SIZE(subsystems) - 1; i >= 1; i--)
		subsystems[i].release(m);
	event_ring_release(&m->events);
	free(m);
}

const struct machine_config *machine_get_config(const struct machine *m)
{
	return &m->cfg;
}

uint64_t machine_seq(const struct machine *m)
{
	return m->seq;
}

uint64_t machine_nr_frames(const struct machine *m)
{
	return m->pa.nr_frames;
}

enum vm_err machine_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	/* Everything zero but msg[160], which need only start empty: a whole-struct memset was a
	 * quarter of the cost of a buddy alloc+free pair. */
	size_t msg_end = offsetof(struct op_result, msg) + sizeof(res->msg);
	memset(res, 0, offsetof(struct op_result, msg));
	res->msg[0] = '\0';
	memset((char *)res + msg_end, 0, sizeof(*res) - msg_end);
	unsigned block = OP_BLOCK(op->kind);
	if (block == 0 || block >= ARRAY_SIZE(subsystems) || !subsystems[block].apply)
		return op_fail(res, VM_EINVAL, "unknown op %#x", (unsigned)op->kind);
	uint64_t first = events_next_id(m);
	vm_events_begin(m);
	enum vm_err err = subsystems[block].apply(m, op, res);
	if (err != VM_OK && events_next_id(m) == first) {
		/* Refused before the kernel did anything (every step records an event): nothing
		 * changed, nothing is journaled. */
		events_truncate(m, first);
		vm_events_rollback(m);
		res->err = err;
		res->seq = 0;
		return err;
	}
	if (err != VM_OK) {
		/* It failed after the kernel went to work: as in Linux, what that work did stays
		 * (kswapd's reclaim, a slab grown for it, the free lists' order after the unwind,
		 * the counters). So the op takes a seq and is journaled like one that succeeded,
		 * and replay, which fails it the same way, rebuilds the same machine. */
		ev_emit(m, EV_OP_FAILED, err, 0, 0, vm_strerror(err));
		res->err = err;
	}
	res->seq = ++m->seq;
	res->first_event = first;
	res->last_event = events_next_id(m) - 1;
	return err;
}

int machine_check(const struct machine *m, char *buf, size_t len)
{
	for (size_t i = 1; i < ARRAY_SIZE(subsystems); i++)
		if (subsystems[i].check(m, buf, len))
			return -1;
	return 0;
}

void machine_subsystems_save(const struct machine *m, struct snap_writer *w)
{
	for (size_t i = 1; i < ARRAY_SIZE(subsystems); i++)
		subsystems[i].save(m, w);
}

int machine_subsystems_load(struct machine *m, struct snap_reader *r)
{
	for (size_t i = 1; i < ARRAY_SIZE(subsystems); i++)
		if (subsystems[i].load(m, r) || r->err)
			return -1;
	return 0;
}
