/*
 * Randomized VM test: 100,000 ops (spawn, fork, vfork, clone, exit, exec, mmap of anon
 * memory, a file and the map_driver device, munmap,
 * mprotect, brk, madvise, access, access_range, context switch) on small machines of both
 * arches, with machine_check after every op: every PTE's frame has matching refcount and
 * mapcount, RSS counters match the PTEs, VMA list and tree agree, page tables are owned
 * once, and the TLB holds no stale entry. A failed op must leave the machine as it was (checked
 * on every 4th op: the journal holds only the ops that succeeded).
 */
#include "vm_helpers.h"

#include <stdlib.h>

static uint64_t rng_state;
static uint32_t file_ino;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? rng_state % n : 0;
}

static uint32_t pick_pid(struct machine *m)
{
	uint32_t n = task_count(m);
	if (!n || rnd(50) == 0)
		return (uint32_t)rnd(40); /* sometimes a pid that does not exist */
	return task_at(m, (uint32_t)rnd(n))->pid;
}

/* An address near something mapped (or not), so ops hit VMA edges often. */
static uint64_t pick_addr(struct machine *m, uint32_t pid)
{
	const struct task_struct *t = find_task(m, pid);
	if (!t || rnd(20) == 0)
		return rnd(4) ? rnd(1ull << 32) & ~0xfffull : rnd(0x3000);
	const struct vm_area_struct *v = t->mm->mmap;
	for (uint64_t k = rnd(t->mm->map_count); k && v->vm_next; k--)
		v = v->vm_next;
	uint64_t span = v->vm_end - v->vm_start;
	uint64_t a = v->vm_start + (rnd(span + 0x4000) & ~0xfffull);
	return a >= 0x4000 && rnd(3) == 0 ? a - 0x2000 : a;
}

static void random_op(struct machine *m, struct op *op)
{
	memset(op, 0, sizeof(*op));
	uint32_t pid = pick_pid(m);
	uint64_t r = rnd(100);
	if (r < 4 || task_count(m) == 0) {
		op->kind = OP_SPAWN;
		snprintf(op->u.spawn.name, sizeof(op->u.spawn.name), "p%u", (unsigned)rnd(5));
		op->u.spawn.bss = rnd(3) * 0x1800;
		op->u.spawn.stack = rnd(2) ? 0 : 0x8000;
	} else if (r < 8) {
		op->kind = task_count(m) > 12 ? OP_EXIT : OP_FORK;
		op->u.fork.pid = pid;
	} else if (r < 9) {
		op->kind = rnd(2) ? OP_VFORK : OP_CLONE;
		op->u.fork.pid = pid;
		op->u.fork.flags = CLONE_VM_;
	} else if (r < 13) {
		op->kind = OP_EXIT;
		op->u.exit.pid = pid;
	} else if (r < 14) {
		op->kind = OP_EXEC;
		op->u.exec.pid = pid;
		strcpy(op->u.exec.name, "/bin/new");
	} else if (r < 26) {
		op->kind = OP_MMAP;
		op->u.mmap.pid = pid;
		op->u.mmap.len = (rnd(8) + 1) * 0x1000 + (rnd(10) == 0 ? 7 : 0);
		op->u.mmap.prot = (uint32_t)rnd(8);
		op->u.mmap.flags = (rnd(5) ? MAP_PRIVATE_ : MAP_SHARED_) | MAP_ANONYMOUS_;
		uint64_t backing = rnd(12);
		if (backing < 3) { /* the test file, maybe at an offset */
			op->u.mmap.flags &= ~MAP_ANONYMOUS_;
			op->u.mmap.file = file_ino;
			op->u.mmap.offset = rnd(4) * 0x1000;
		} else if (backing == 3) { /* the map_driver device, minor 1 (4 pages) */
			op->u.mmap.flags = MAP_SHARED_ | MAP_DRIVER_;
			op->u.mmap.file = 1;
			op->u.mmap.offset = rnd(3) * 0x1000;
			op->u.mmap.len = (rnd(3) + 1) * 0x1000;
		}
		if (rnd(3) == 0) {
			op->u.mmap.flags |= MAP_FIXED_;
			op->u.mmap.addr = pick_addr(m, pid);
		}
		if (backing == 11) { /* huge pages from the pool, sometimes more than it has */
			uint64_t hsz = huge_page_size(m);
			op->u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_HUGETLB_;
			op->u.mmap.len = (rnd(2) + 1) * hsz - (rnd(2) ? 0x1000 : 0);
			op->u.mmap.file = 0;
			op->u.mmap.offset = 0;
			if (rnd(4) == 0) {
				op->u.mmap.flags |= MAP_FIXED_;
				op->u.mmap.addr = pick_addr(m, pid) & ~(hsz - 1);
			}
		}
	} else if (r < 34) {
		op->kind = rnd(2) ? OP_MUNMAP : OP_MPROTECT;
		op->u.munmap.pid = pid;
		op->u.munmap.addr = pick_addr(m, pid);
		op->u.munmap.len = (rnd(6) + 1) * 0x1000;
		op->u.munmap.prot = (uint32_t)rnd(8);
	} else if (r < 38) {
		op->kind = OP_BRK;
		op->u.brk.pid = pid;
		const struct task_struct *t = find_task(m, pid);
		op->u.brk.addr = t ? t->mm->start_brk + rnd(0x20000) : rnd(1u << 30);
	} else if (r < 40) {
		op->kind = OP_MADVISE;
		op->u.madvise.pid = pid;
		op->u.madvise.addr = pick_addr(m, pid);
		op->u.madvise.len = (rnd(4) + 1) * 0x1000;
		op->u.madvise.advice = MADV_DONTNEED_;
	} else if (r < 44) {
		op->kind = OP_CONTEXT_SWITCH;
		op->u.context_switch.pid = pid;
	} else if (r < 52) {
		op->kind = OP_ACCESS_RANGE;
		op->u.access.pid = pid;
		op->u.access.addr = pick_addr(m, pid);
		op->u.access.len = (rnd(6) + 1) * 0x1000;
		op->u.access.kind = rnd(3) ? ACCESS_WRITE : ACCESS_READ;
	} else {
		op->kind = OP_ACCESS;
		op->u.access.pid = pid;
		op->u.access.addr = pick_addr(m, pid) + rnd(0x1000);
		op->u.access.kind = (enum access_kind)(rnd(10) < 6 ? ACCESS_WRITE : rnd(3));
	}
}

static void run(enum machine_arch arch, uint64_t seed, int nops)
{
	struct machine_config cfg;
	char err[256], why[512];
	machine_config_default(&cfg, arch, 8ull << 20);
	cfg.tlb_entries = 16;
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	assert_non_null(m);
	rng_state = seed;
	struct op fop = {.kind = OP_FILE_CREATE};
	strcpy(fop.u.file_create.name, "/data/random");
	fop.u.file_create.size = 6 * 0x1000 + 100;
	file_ino = (uint32_t)apply_expect(m, &fop, VM_OK).value;
	struct op dop = {.kind = OP_DRIVER_OPEN};
	dop.u.driver.minor = 1;
	dop.u.driver.size = 4 * 0x1000;
	apply_expect(m, &dop, VM_OK);
	struct op hop = {.kind = OP_SET_NR_HUGEPAGES};
	hop.u.hugepages.count = 2;
	apply_expect(m, &hop, VM_OK);
	uint64_t kernel_tables = m->pgtable.nr_pgtable; /* init_mm's, for the vmalloc buffer */
	int ok = 0, segv = 0, huge_maps = 0, failed_checked = 0;
	for (int i = 0; i < nops; i++) {
		struct op op;
		struct op_result res;
		random_op(m, &op);
		/* every 4th op: if it is refused, the machine must be byte-for-byte as before; if
		 * it failed partway, replaying it on the machine before must give the same bytes */
		size_t blen = 0;
		uint8_t *before = i % 4 ? NULL : t_save(m, &blen);
		if (machine_apply(m, &op, &res) == VM_OK) {
			ok++;
			segv += res.fault == FAULT_SEGV;
			huge_maps += op.kind == OP_MMAP && (op.u.mmap.flags & MAP_HUGETLB_);
		} else if (before && res.seq) {
			failed_checked++;
			assert_replays(before, blen, &op, m);
		} else if (before) {
			failed_checked++;
			size_t alen;
			uint8_t *after = t_save(m, &alen);
			if (alen != blen || memcmp(after, before, alen))
				fail_msg(
				    "op %d (kind %#x) was refused (%s) but changed the machine", i,
				    op.kind, res.msg);
			free(after);
		}
		free(before);
		if (machine_check(m, why, sizeof(why)))
			fail_msg("op %d (kind %#x pid %u): machine_check: %s", i, op.kind,
			         op.u.fork.pid, why);
	}
	/* The mix exercised the paths: most ops succeeded, some tasks died of SIGSEGV. */
	assert_true(ok > nops / 2);
	assert_true(failed_checked > nops / 100); /* 760 and 831 of 50,000 in the two runs */
	assert_true(segv > 10);
	assert_true(vm_event(m, VMSIM_COW_COPY) > 100);
	while (task_count(m)) {
		struct op op = {.kind = OP_EXIT};
		const struct task_struct *t = task_at(m, 0);
		for (uint32_t i = 0; i < task_count(m); i++)
			if (task_at(m, i)->state != TASK_VFORK)
				t = task_at(m, i);
		op.u.exit.pid = t->pid;
		apply_expect(m, &op, VM_OK);
	}
	assert_int_equal(m->pgtable.nr_pgtable, kernel_tables); /* every user table freed */
	assert_true(huge_maps > 20);
	assert_int_equal(m->hugetlb.free_huge_pages, m->hugetlb.nr_huge_pages);
	assert_int_equal(m->hugetlb.resv_huge_pages, 0);
	struct op cop = {.kind = OP_DRIVER_CLOSE};
	cop.u.driver.minor = 1;
	apply_expect(m, &cop, VM_OK); /* no process maps it any more */
	machine_destroy(m);
}

static void test_random_x86_64(void **state)
{
	(void)state;
	run(ARCH_X86_64, 0x9e3779b97f4a7c15ull, 50000);
}

static void test_random_i386(void **state)
{
	(void)state;
	run(ARCH_I386, 0x2545f4914f6cdd1dull, 50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_x86_64),
	    cmocka_unit_test(test_random_i386),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
