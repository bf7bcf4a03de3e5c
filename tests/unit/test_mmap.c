/* Address spaces: exact layouts and /proc text, merge and split, top-down placement, brk,
 * translate walks, and one test per kind of bad argument (machine unchanged). */
#include "vm_helpers.h"

#include <stdlib.h>

#include "snapshot.h"

#define RW   (PROT_READ_ | PROT_WRITE_)
#define ANON (MAP_PRIVATE_ | MAP_ANONYMOUS_)

static uint32_t spawn_full(struct machine *m, const char *name)
{
	struct op op = {.kind = OP_SPAWN};
	snprintf(op.u.spawn.name, sizeof(op.u.spawn.name), "%s", name);
	op.u.spawn.text = 0x5000;
	op.u.spawn.data = 0x1800;
	op.u.spawn.bss = 0x2000;
	return (uint32_t)apply_expect(m, &op, VM_OK).value;
}

static void t_brk(struct machine *m, uint32_t pid, uint64_t addr)
{
	struct op op = {.kind = OP_BRK};
	op.u.brk.pid = pid;
	op.u.brk.addr = addr;
	assert_int_equal(apply_expect(m, &op, VM_OK).value, addr);
}

/* A process with heap, an mmap'ed region partly touched: golden maps, status, smaps, pmap. */
static void layout(enum machine_arch arch, const char *tag)
{
	struct machine *m = new_machine(arch, 16ull << 20);
	uint32_t pid = spawn_full(m, "demo");
	const struct task_struct *t = find_task(m, pid);
	t_brk(m, pid, t->mm->start_brk + 0x21000);
	uint64_t a = vm_mmap(m, pid, 0, 0x40000, RW, ANON);
	assert_int_equal(a, t->mm->mmap_base - 0x40000);
	vm_access_range(m, pid, a, 0x3000, ACCESS_WRITE);
	vm_access(m, pid, t->mm->start_code, ACCESS_EXEC);
	vm_access(m, pid, t->mm->start_stack, ACCESS_WRITE);
	char name[64];
	snprintf(name, sizeof(name), "maps-%s.txt", tag);
	assert_golden(name, vm_proc(m, "1/maps"));
	snprintf(name, sizeof(name), "status-%s.txt", tag);
	assert_golden(name, vm_proc(m, "/proc/1/status"));
	snprintf(name, sizeof(name), "smaps-%s.txt", tag);
	assert_golden(name, vm_proc(m, "1/smaps"));
	snprintf(name, sizeof(name), "pmap-%s.txt", tag);
	assert_golden(name, vm_proc(m, "1/pmap"));
	machine_destroy(m);
}

static void test_layout_x86_64(void **state)
{
	(void)state;
	layout(ARCH_X86_64, "x86_64");
}

static void test_layout_i386(void **state)
{
	(void)state;
	layout(ARCH_I386, "i386");
}

static void test_maps_name_column(void **state)
{
	(void)state;
	/* The name starts at column 73 on 64-bit, 49 on 32-bit (seq_setwidth + seq_pad). */
	struct machine *m = new_machine(ARCH_X86_64, 8ull << 20);
	vm_spawn(m, "cat");
	const char *maps = vm_proc(m, "1/maps");
	assert_int_equal(strchr(maps, '/') - maps, 73);
	machine_destroy(m);
	m = new_machine(ARCH_I386, 8ull << 20);
	vm_spawn(m, "cat");
	maps = vm_proc(m, "1/maps");
	assert_string_equal(maps, "08048000-0804c000 r-xp 00000000 08:01 466656     /bin/cat\n"
	                          "0804c000-0804d000 rw-p 00004000 08:01 466656     /bin/cat\n"
	                          "bffdf000-c0000000 rw-p 00000000 00:00 0          [stack]\n");
	machine_destroy(m);
}

static uint32_t map_count(struct machine *m, uint32_t pid)
{
	return find_task(m, pid)->mm->map_count;
}

static void test_merge_and_split(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "cat");
	assert_int_equal(map_count(m, pid), 3);
	uint64_t base = find_task(m, pid)->mm->mmap_base;
	/* Two anonymous maps placed top-down touch each other and merge into one VMA. */
	uint64_t a = vm_mmap(m, pid, 0, 0x4000, RW, ANON);
	uint64_t b = vm_mmap(m, pid, 0, 0x4000, RW, ANON);
	assert_int_equal(a, base - 0x4000);
	assert_int_equal(b, base - 0x8000);
	assert_int_equal(map_count(m, pid), 4);
	/* Different protection does not merge. */
	uint64_t c = vm_mmap(m, pid, 0, 0x1000, PROT_READ_, ANON);
	assert_int_equal(c, base - 0x9000);
	assert_int_equal(map_count(m, pid), 5);
	/* mprotect of the middle splits in three; changing it back merges again. */
	struct op op = vm_range_op(OP_MPROTECT, pid, b + 0x2000, 0x2000, PROT_READ_);
	apply_expect(m, &op, VM_OK);
	assert_int_equal(map_count(m, pid), 7);
	assert_string_equal(
	    strstr(vm_proc(m, "1/maps"), "7ffff7ff6000"),
	    "7ffff7ff6000-7ffff7ff7000 r--p 00000000 00:00 0 \n"
	    "7ffff7ff7000-7ffff7ff9000 rw-p 00000000 00:00 0 \n"
	    "7ffff7ff9000-7ffff7ffb000 r--p 00000000 00:00 0 \n"
	    "7ffff7ffb000-7ffff7fff000 rw-p 00000000 00:00 0 \n"
	    "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0                          "
	    "[stack]\n");
	op = vm_range_op(OP_MPROTECT, pid, b + 0x2000, 0x2000, RW);
	apply_expect(m, &op, VM_OK);
	assert_int_equal(map_count(m, pid), 5);
	/* munmap of the middle splits in two; mapping it again with MAP_FIXED merges. */
	op = vm_range_op(OP_MUNMAP, pid, b + 0x1000, 0x1000, 0);
	apply_expect(m, &op, VM_OK);
	assert_int_equal(map_count(m, pid), 6);
	assert_int_equal(vm_mmap(m, pid, b + 0x1000, 0x1000, RW, ANON | MAP_FIXED_), b + 0x1000);
	assert_int_equal(map_count(m, pid), 5);
	/* The freed hole is reused by the next top-down search when it fits. */
	op = vm_range_op(OP_MUNMAP, pid, c, 0x1000, 0);
	apply_expect(m, &op, VM_OK);
	assert_int_equal(vm_mmap(m, pid, 0, 0x1000, PROT_EXEC_, ANON), c);
	machine_destroy(m);
}

static void test_brk(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = spawn_full(m, "heap");
	const struct mm_struct *mm = find_task(m, pid)->mm;
	uint64_t start = mm->start_brk;
	/* data 0x804d000-0x804e800 (its VMA ends at 0x804f000), bss to 0x8050800 */
	assert_int_equal(start, 0x08051000);
	t_brk(m, pid, start + 100); /* byte granular brk, page granular VMA */
	/* The heap merges with the bss VMA, which then shows as [heap] (as on a real kernel
	 * without brk randomization). */
	assert_non_null(strstr(vm_proc(m, "1/maps"),
	                       "0804f000-08052000 rw-p 00000000 00:00 0          [heap]\n"));
	t_brk(m, pid, start + 0x10000);
	vm_access_range(m, pid, start, 0x10000, ACCESS_WRITE);
	assert_int_equal(mm->rss[MM_ANONPAGES], 16);
	t_brk(m, pid, start + 0x1000); /* shrinking unmaps and frees the pages */
	assert_int_equal(mm->rss[MM_ANONPAGES], 1);
	assert_int_equal(mm->brk, start + 0x1000);
	struct op op = {.kind = OP_BRK};
	op.u.brk.pid = pid;
	op.u.brk.addr = 0;
	assert_int_equal(apply_expect(m, &op, VM_OK).value, start + 0x1000);
	machine_destroy(m);
}

static void test_translate_walk(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "walk");
	uint64_t va = 0x7ffff7ffe123ull;
	vm_mmap(m, pid, 0x7ffff7ffe000ull, 0x1000, RW, ANON | MAP_FIXED_);
	struct walk_trace t;
	assert_int_equal(translate(m, pid, va, &t), VM_OK);
	assert_int_equal(t.fail_level, 0); /* nothing touched: the pgd entry is empty */
	assert_int_equal(t.nr, 1);
	assert_int_equal(t.step[0].index, 255);
	struct op_result r = vm_access(m, pid, va, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(translate(m, pid, va, &t), VM_OK);
	assert_int_equal(t.fail_level, -1);
	assert_int_equal(t.nr, 4);
	/* 0x7ffff7ffe123: pgd 255, pud 511, pmd 447, pte 510, offset 0x123 */
	assert_int_equal(t.step[0].index, 255);
	assert_int_equal(t.step[1].index, 511);
	assert_int_equal(t.step[2].index, 447);
	assert_int_equal(t.step[3].index, 510);
	assert_int_equal(t.step[0].table_pfn, find_task(m, pid)->mm->pgd);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(t.step[i].next_pfn, t.step[i + 1].table_pfn);
		assert_int_equal(t.step[i].entry & 0xfff, 0x067); /* _PAGE_TABLE */
		assert_int_equal(page_type(&m->pa.mem_map[t.step[i + 1].table_pfn]), PT_PGTABLE);
	}
	/* Present, RW, user, accessed, dirty, NX (rw- mapping). */
	assert_int_equal(t.pte & 0xfff, 0x067);
	assert_true(t.pte & _PAGE_NX);
	assert_int_equal(t.phys, ((uint64_t)r.value2 & ~0xfffull) | 0x123);
	assert_int_equal(find_task(m, pid)->mm->pgtables_bytes, 3 * PAGE_SIZE);
	/* Kernel lowmem translates through the direct map. */
	assert_int_equal(translate(m, pid, 0xffff888000123456ull, &t), VM_OK);
	assert_true(t.direct_map);
	assert_int_equal(t.phys, 0x123456);
	assert_int_equal(translate(m, pid, 0x0000900000000000ull, &t), VM_EINVAL);
	assert_int_equal(translate(m, 99, va, &t), VM_ENOENT);
	machine_destroy(m);

	m = new_machine(ARCH_I386, 16ull << 20);
	pid = vm_spawn(m, "walk");
	r = vm_access(m, pid, 0x08048abc, ACCESS_READ); /* text: read fault maps the zero page */
	assert_int_equal(translate(m, pid, 0x08048abc, &t), VM_OK);
	assert_int_equal(t.nr, 2);
	assert_int_equal(t.step[0].index, 0x20);
	assert_int_equal(t.step[1].index, 0x48);
	assert_int_equal(t.pte & 0xfff, 0x425); /* present, user, accessed, special; no NX bit */
	assert_int_equal(t.phys >> PAGE_SHIFT, EMPTY_ZERO_PAGE_PFN);
	assert_int_equal(find_task(m, pid)->mm->pgtables_bytes, PAGE_SIZE);
	machine_destroy(m);
}

static void expect_unchanged(struct machine *m, struct op *op, enum vm_err want, const char *msg)
{
	uint8_t *a, *b;
	size_t alen, blen;
	assert_int_equal(machine_save(m, &a, &alen), 0);
	struct op_result r;
	assert_int_equal(machine_apply(m, op, &r), want);
	assert_non_null(strstr(r.msg, msg));
	assert_int_equal(machine_save(m, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "cat");
	struct op op = vm_mmap_op(9, 0, 0x1000, RW, ANON);
	expect_unchanged(m, &op, VM_ENOENT, "no process with pid 9");
	op = vm_mmap_op(pid, 0x1234, 0x1000, RW, ANON);
	expect_unchanged(m, &op, VM_EINVAL, "not page aligned");
	op = vm_mmap_op(pid, 0, 0, RW, ANON);
	expect_unchanged(m, &op, VM_EINVAL, "length is 0");
	op = vm_mmap_op(pid, 0, 0x1000, 0x8, ANON);
	expect_unchanged(m, &op, VM_EINVAL, "unknown prot bits");
	op = vm_mmap_op(pid, 0, 0x1000, RW, MAP_SHARED_ | MAP_PRIVATE_ | MAP_ANONYMOUS_);
	expect_unchanged(m, &op, VM_EINVAL, "exactly one of");
	op = vm_mmap_op(pid, 0x7ffffffff000ull, 0x2000, RW, ANON | MAP_FIXED_);
	expect_unchanged(m, &op, VM_EINVAL, "reaches kernel space");
	op = vm_mmap_op(pid, 0, 0x1000, RW, ANON | MAP_FIXED_);
	expect_unchanged(m, &op, VM_EPERM, "mmap_min_addr");
	op = vm_mmap_op(pid, 0, 0x1000, RW, MAP_PRIVATE_);
	op.u.mmap.file = 77;
	expect_unchanged(m, &op, VM_ENOENT, "no file with inode 77");
	op = vm_mmap_op(pid, 0, 0x1000, RW, ANON | 0x80);
	expect_unchanged(m, &op, VM_EINVAL, "unknown flags");
	op = vm_range_op(OP_MUNMAP, pid, 0x400001, 0x1000, 0);
	expect_unchanged(m, &op, VM_EINVAL, "not page aligned");
	op = vm_range_op(OP_MUNMAP, pid, 0x400000, 0, 0);
	expect_unchanged(m, &op, VM_EINVAL, "length is 0");
	op = vm_range_op(OP_MPROTECT, pid, 0x10000000, 0x1000, PROT_READ_);
	expect_unchanged(m, &op, VM_ENOMEM, "is not mapped");
	op = vm_range_op(OP_MPROTECT, pid, 0x400000, 0x1000, 0x10);
	expect_unchanged(m, &op, VM_EINVAL, "unknown prot bits");
	/* a length whose page alignment wraps to 0 (found by fuzz_snapshot: mprotect split the
	 * VMA at start and left it unmerged) */
	op = vm_range_op(OP_MPROTECT, pid, 0x401000, ~0ull - 5, PROT_WRITE_);
	expect_unchanged(m, &op, VM_EINVAL, "reaches kernel space");
	op = vm_range_op(OP_MUNMAP, pid, 0x401000, ~0ull - 5, 0);
	expect_unchanged(m, &op, VM_EINVAL, "reaches kernel space");
	op = (struct op){.kind = OP_MADVISE};
	op.u.madvise.pid = pid;
	op.u.madvise.addr = 0x401000;
	op.u.madvise.len = ~0ull - 5;
	op.u.madvise.advice = MADV_DONTNEED_;
	expect_unchanged(m, &op, VM_EINVAL, "reaches kernel space");
	op = (struct op){.kind = OP_BRK};
	op.u.brk.pid = pid;
	op.u.brk.addr = 0x1000;
	expect_unchanged(m, &op, VM_EINVAL, "below start_brk");
	op = (struct op){.kind = OP_SPAWN};
	expect_unchanged(m, &op, VM_EINVAL, "program name");
	op = (struct op){.kind = OP_SPAWN};
	strcpy(op.u.spawn.name, "big");
	op.u.spawn.stack = 1ull << 30;
	expect_unchanged(m, &op, VM_EINVAL, "stack <= 64 MiB");
	op = (struct op){.kind = OP_CLONE};
	op.u.fork.pid = pid;
	op.u.fork.flags = 0x11;
	expect_unchanged(m, &op, VM_EINVAL, "only CLONE_VM");
	op = (struct op){.kind = OP_SET_OOM_ADJ};
	op.u.set_task.pid = pid;
	op.u.set_task.value = 2000;
	expect_unchanged(m, &op, VM_EINVAL, "-1000..1000");
	op = (struct op){.kind = OP_ACCESS};
	op.u.access.pid = pid;
	op.u.access.kind = 7;
	expect_unchanged(m, &op, VM_EINVAL, "access kind");
	op = (struct op){.kind = OP_ACCESS_RANGE};
	op.u.access.pid = pid;
	op.u.access.addr = 0x400000;
	expect_unchanged(m, &op, VM_EINVAL, "length is 0");
	op = (struct op){.kind = OP_MADVISE};
	op.u.madvise.pid = pid;
	op.u.madvise.addr = 0x400000;
	op.u.madvise.len = 0x1000;
	op.u.madvise.advice = 99;
	expect_unchanged(m, &op, VM_EINVAL, "MADV_DONTNEED");
	op = (struct op){.kind = OP_DRIVER_OPEN};
	op.u.driver.minor = 99;
	op.u.driver.size = 0x1000;
	expect_unchanged(m, &op, VM_EINVAL, "minor must be");
	op = vm_mmap_op(pid, 0, 0x1000, PROT_READ_, MAP_SHARED_ | MAP_DRIVER_);
	expect_unchanged(m, &op, VM_ENOENT, "is not open");
	machine_destroy(m);
}

static void test_madvise_dontneed(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "cat");
	uint64_t a = vm_mmap(m, pid, 0, 0x4000, RW, ANON);
	vm_access_range(m, pid, a, 0x4000, ACCESS_WRITE);
	uint64_t before = nr_free_pages(m);
	assert_int_equal(find_task(m, pid)->mm->rss[MM_ANONPAGES], 4);
	struct op op = {.kind = OP_MADVISE};
	op.u.madvise.pid = pid;
	op.u.madvise.addr = a;
	op.u.madvise.len = 0x4000;
	op.u.madvise.advice = MADV_DONTNEED_;
	apply_expect(m, &op, VM_OK);
	assert_int_equal(find_task(m, pid)->mm->rss[MM_ANONPAGES], 0);
	/* The four pages are back; the page tables stay (the VMA is still there). */
	assert_int_equal(nr_free_pages(m), before + 4);
	assert_int_equal(map_count(m, pid), 4);
	machine_destroy(m);
}

static void test_stack_grows_down(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = vm_spawn(m, "deep");
	const struct mm_struct *mm = find_task(m, pid)->mm;
	assert_int_equal(mm->stack_vm, 33); /* 132 KiB */
	/* A touch 8 KiB below [stack] grows it (expand_stack) and faults the page in. */
	struct op_result r = vm_access(m, pid, 0xbffdf000 - 0x2000, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(mm->stack_vm, 35);
	assert_non_null(strstr(vm_proc(m, "1/maps"), "bffdd000-c0000000 rw-p 00000000 00:00 0 "
	                                             "         [stack]\n"));
	assert_non_null(strstr(vm_proc(m, "1/status"), "VmStk:\t     140 kB\n"));
	/* Beyond RLIMIT_STACK (8 MiB from the top) there is no stack: SIGSEGV. */
	r = vm_access(m, pid, 0xc0000000 - (9ull << 20), ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_SEGV);
	machine_destroy(m);
}

/*
 * Edits that split VMAs when the vm_area_struct cache has one free object and no page to grow
 * by: those that need two splits fail before anything changed (found by fuzz_snapshot: an
 * mprotect did its first split, failed on the second, and left the VMAs unmerged).
 */
static void test_split_fails_before_any_change(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 4ull << 20);
	uint32_t pid = vm_spawn(m, "oom");
	uint64_t big = vm_mmap(m, pid, 0, 3 * PAGE_SIZE, RW, ANON);
	struct op op = {.kind = OP_ALLOC_PAGES};
	struct op_result r;
	while (machine_apply(m, &op, &r) == VM_OK)
		; /* kernel pages until the buddy allocator is at its min watermark */
	/* one-page mappings below it, read-only first, then alternating protection (they never
	 * merge), until the cache is out */
	uint64_t low = 0;
	unsigned n = 0;
	for (;; n++) {
		struct op mo = vm_mmap_op(pid, 0, PAGE_SIZE, n % 2 ? RW : PROT_READ_, ANON);
		if (machine_apply(m, &mo, &r) != VM_OK)
			break;
		low = r.value;
	}
	assert_true(n > 2);
	assert_string_equal(r.msg, "mmap: out of memory for the vm_area_struct");
	/* the lowest mapping takes its upper neighbour's protection: they merge, one object free */
	struct op mp = vm_range_op(OP_MPROTECT, pid, low, PAGE_SIZE, n % 2 ? RW : PROT_READ_);
	apply_expect(m, &mp, VM_OK);
	char path[32];
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	char *maps = t_view(m, path), *buddy = t_view(m, "/proc/buddyinfo");
	struct op two[] = {
	    vm_range_op(OP_MPROTECT, pid, big + PAGE_SIZE, PAGE_SIZE, PROT_READ_),
	    vm_range_op(OP_MUNMAP, pid, big + PAGE_SIZE, PAGE_SIZE, 0),
	    vm_mmap_op(pid, big + PAGE_SIZE, PAGE_SIZE, PROT_READ_, ANON | MAP_FIXED_),
	};
	for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
		size_t len;
		uint8_t *before = t_save(m, &len);
		uint64_t seq = machine_seq(m);
		r = apply_expect(m, &two[i], VM_ENOMEM);
		/* the slab could not grow: the failure is journaled (alloc_pages was tried), but no
		 * VMA and no frame changed */
		assert_failed_with_work(m, &r, seq);
		assert_replays(before, len, &two[i], m);
		char *maps_now = t_view(m, path), *buddy_now = t_view(m, "/proc/buddyinfo");
		assert_string_equal(maps_now, maps);
		assert_string_equal(buddy_now, buddy);
		free(maps_now);
		free(buddy_now);
		free(before);
	}
	free(maps);
	free(buddy);
	/* one split fits the one free object */
	uint64_t vmas = find_task(m, pid)->mm->map_count;
	mp = vm_range_op(OP_MPROTECT, pid, big, PAGE_SIZE, PROT_READ_);
	apply_expect(m, &mp, VM_OK);
	assert_int_equal(find_task(m, pid)->mm->map_count, vmas + 1);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout_x86_64),
	    cmocka_unit_test(test_layout_i386),
	    cmocka_unit_test(test_maps_name_column),
	    cmocka_unit_test(test_merge_and_split),
	    cmocka_unit_test(test_brk),
	    cmocka_unit_test(test_translate_walk),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_madvise_dontneed),
	    cmocka_unit_test(test_stack_grows_down),
	    cmocka_unit_test(test_split_fails_before_any_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
