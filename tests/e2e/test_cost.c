/*
 * The op cost model (server/cost.c): exact work for the ops whose size the caller chooses, the
 * bound a fork gets from the machine's page tables, saturation, and the quota units a batch
 * takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cost.h"

static const struct cost_machine small = {.nr_frames = 16384, .max_ptes = 1000}; /* 64 MiB */

static uint64_t work(const struct op *op)
{
	struct op_cost c;
	cost_op(op, &small, 0, &c);
	return c.work;
}

static struct op range(uint64_t addr, uint64_t len, uint64_t stride)
{
	struct op op = {.kind = OP_ACCESS_RANGE};
	op.u.access.pid = 1;
	op.u.access.addr = addr;
	op.u.access.len = len;
	op.u.access.stride = stride;
	return op;
}

/* The op of the stalling batch: 16 Mi accesses, one per byte, over 4096 pages. */
static void test_access_range(void **state)
{
	(void)state;
	struct op op = range(0x7f0000000000, 16u << 20, 1);
	struct op_cost c;
	cost_op(&op, &small, 0, &c);
	assert_int_equal(c.accesses, 16777216);
	assert_int_equal(c.frames, 4096);
	assert_int_equal(c.work, 1 + 16777216 + 4096 * 16); /* 16,842,753 */
	/* a page per access: 256 accesses, 256 frames */
	op = range(0x7f0000000000, 1u << 20, 0);
	assert_int_equal(work(&op), 1 + 256 + 256 * 16);
	/* one access across a page boundary touches one frame, a stride of 8 KiB every other */
	op = range(0x7f0000001800, 4096, 0);
	assert_int_equal(work(&op), 1 + 1 + 16);
	op = range(0x7f0000000000, 64u << 10, 8192);
	assert_int_equal(work(&op), 1 + 8 + 8 * 16);
	op = range(0x7f0000000000, 0, 0); /* refused by the core: the base cost only */
	assert_int_equal(work(&op), 1);
}

static void test_simple_ops(void **state)
{
	(void)state;
	struct op op = {.kind = OP_ACCESS};
	assert_int_equal(work(&op), 18);
	op = (struct op){.kind = OP_ALLOC_PAGES, .u.alloc_pages.order = 3};
	assert_int_equal(work(&op), 1 + 8 * 16);
	op = (struct op){.kind = OP_ALLOC_PAGES, .u.alloc_pages.order = 40};
	assert_int_equal(work(&op), 17); /* refused by the core, no shift by 40 */
	op = (struct op){.kind = OP_TICK, .u.tick.n = 1000};
	assert_int_equal(work(&op), 1001);
	op = (struct op){.kind = OP_FILE_READ, .u.file_io = {.ino = 2, .offset = 100, .len = 8192}};
	assert_int_equal(work(&op), 1 + 3 * 16);
	op = (struct op){.kind = OP_MUNMAP, .u.munmap = {.pid = 1, .addr = 0, .len = 1ull << 46}};
	assert_int_equal(work(&op), 1);
	op = (struct op){.kind = OP_EXIT, .u.exit.pid = 1};
	assert_int_equal(work(&op), 1);
	/* bounded by the machine: 1 GiB of vmalloc on 64 MiB allocates at most 16384 frames */
	op = (struct op){.kind = OP_VMALLOC, .u.vmalloc.size = 1ull << 30};
	assert_int_equal(work(&op), 1 + 16384 * 16);
	op = (struct op){.kind = OP_RECLAIM, .u.reclaim.nr_pages = 32};
	assert_int_equal(work(&op), 1 + 32 * 16);
	op = (struct op){.kind = OP_MKSWAP, .u.swap.size = 64u << 20};
	assert_int_equal(work(&op), 1 + 16384);
}

/* A fork copies at most the entries of the largest page tables, plus what the ops before it in
 * the request may have mapped; a clone sharing the mm copies none. */
static void test_fork(void **state)
{
	(void)state;
	struct op fork = {.kind = OP_FORK, .u.fork.pid = 1};
	assert_int_equal(work(&fork), 1 + 1000 * 4);
	struct op clone = {.kind = OP_CLONE, .u.fork = {.pid = 1, .flags = CLONE_VM_}};
	assert_int_equal(work(&clone), 1);
	struct op vfork = {.kind = OP_VFORK, .u.fork.pid = 1};
	assert_int_equal(work(&vfork), 1);
	struct op ops[2] = {range(0x7f0000000000, 1u << 20, 0), fork};
	struct cost_batch b;
	cost_batch(ops, 2, &small, &b);
	assert_int_equal(b.work, (1 + 256 + 256 * 16) + (1 + (1000 + 256) * 4));
	assert_int_equal(b.max_index, 1);
	assert_int_equal(b.max_work, 1 + 1256 * 4);
	assert_int_equal(b.quota_ops, (1 + 4353 / 1024) + (1 + 5025 / 1024));
}

static void test_saturates(void **state)
{
	(void)state;
	struct op op = range(UINT64_MAX - 4095, UINT64_MAX, 1);
	assert_true(work(&op) == UINT64_MAX);
	struct op ops[2] = {op, op};
	struct cost_batch b;
	cost_batch(ops, 2, &small, &b);
	assert_true(b.work == UINT64_MAX);
	assert_int_equal(cost_quota_ops(1023), 1);
	assert_int_equal(cost_quota_ops(1024), 2);
}

/* From a real machine: after one touched page, the process has a PUD, a PMD and a PTE table
 * below its pgd (12 KiB of page tables, VmPTE), room for 1536 entries of 8 bytes. */
static void test_machine(void **state)
{
	(void)state;
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, ARCH_X86_64, 64u << 20);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	assert_non_null(m);
	struct cost_machine cm;
	cost_machine_of(m, &cm);
	assert_int_equal(cm.nr_frames, 16384);
	assert_int_equal(cm.max_ptes, 0);
	struct op op = {.kind = OP_SPAWN};
	strcpy(op.u.spawn.name, "p");
	struct op_result r;
	assert_int_equal(machine_apply(m, &op, &r), VM_OK);
	op = (struct op){.kind = OP_MMAP};
	op.u.mmap = (__typeof__(op.u.mmap)){.pid = (uint32_t)r.value,
	                                    .len = 1u << 20,
	                                    .prot = PROT_READ_ | PROT_WRITE_,
	                                    .flags = MAP_PRIVATE_ | MAP_ANONYMOUS_};
	assert_int_equal(machine_apply(m, &op, &r), VM_OK);
	op = range(r.value, 4096, 0);
	op.u.access.pid = 1;
	op.u.access.kind = ACCESS_WRITE;
	assert_int_equal(machine_apply(m, &op, &r), VM_OK);
	cost_machine_of(m, &cm);
	assert_int_equal(cm.max_ptes, 3 * 4096 / 8);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_access_range), cmocka_unit_test(test_simple_ops),
	    cmocka_unit_test(test_fork),         cmocka_unit_test(test_saturates),
	    cmocka_unit_test(test_machine),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
