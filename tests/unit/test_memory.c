/* Faults, COW, SIGSEGV, fork/vfork/exit, the TLB and map_driver, with exact counts. */
#include "vm_helpers.h"

#include <stdlib.h>

#include "rmap.h"
#include "snapshot.h"

#define RW   (PROT_READ_ | PROT_WRITE_)
#define ANON (MAP_PRIVATE_ | MAP_ANONYMOUS_)

static uint64_t ev(struct machine *m, enum vm_event_item i)
{
	return vm_event(m, i);
}

/* Does the event ring hold, for the last op, a line containing each of words in order? */
static void assert_events(struct machine *m, const struct op_result *r, const char *const *words)
{
	struct strbuf sb;
	strbuf_init(&sb);
	for (uint64_t id = r->first_event; id <= r->last_event; id++) {
		const struct event *e = event_get(m, id);
		if (e) {
			event_render(e, &sb);
			strbuf_adds(&sb, "\n");
		}
	}
	const char *p = sb.buf;
	for (; *words; words++) {
		p = strstr(p, *words);
		if (!p)
			fail_msg("event \"%s\" missing (in order) from:\n%s", *words, sb.buf);
	}
	strbuf_release(&sb);
}

static void test_fault_kinds_and_counts(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "faults");
	uint64_t a = vm_mmap(m, pid, 0, 0x4000, RW, ANON);
	uint64_t pgfault = ev(m, PGFAULT);
	/* Read of untouched anon memory: minor fault mapping the zero page. */
	struct op_result r = vm_access(m, pid, a, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(r.value2 >> PAGE_SHIFT, EMPTY_ZERO_PAGE_PFN);
	assert_int_equal(ev(m, VMSIM_ZERO_PAGE_MAP), 1);
	/* Write to it: do_wp_page copies the zero page (COW). */
	r = vm_access(m, pid, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_COW);
	assert_int_equal(ev(m, VMSIM_COW_COPY), 1);
	/* Write first touch: do_anonymous_page, with the kernel's steps in the events. */
	r = vm_access(m, pid, a + 0x1000, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	const char *steps[] = {
	    "page fault", "find_vma", "handle_mm_fault", "do_anonymous_page", "alloc_pages",
	    "set_pte_at", NULL};
	assert_events(m, &r, steps);
	/* Second touch: TLB hit, no fault. */
	r = vm_access(m, pid, a + 0x1000, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_NONE);
	assert_int_equal(r.tlb_hits, 1);
	r = vm_access_range(m, pid, a, 0x4000, ACCESS_WRITE);
	assert_int_equal(r.faults, 2);
	assert_int_equal(ev(m, PGFAULT) - pgfault, 5);
	assert_int_equal(ev(m, PGMAJFAULT), 0);
	const struct task_struct *t = find_task(m, pid);
	assert_int_equal(t->min_flt, 5);
	assert_int_equal(t->nr_cow, 1);
	assert_int_equal(t->mm->rss[MM_ANONPAGES], 4);
	machine_destroy(m);
}

static void test_segv(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t warm = vm_spawn(m, "warm"); /* slab caches get their pages */
	vm_access(m, warm, 0x404000, ACCESS_WRITE);
	vm_exit(m, warm);
	uint64_t free0 = nr_free_pages(m);
	const struct {
		uint64_t va;
		enum access_kind kind;
		const char *why;
	} cases[] = {
	    {0, ACCESS_READ, "NULL pointer"},
	    {0x400000, ACCESS_WRITE, "write to a read-only VMA"},
	    {0x10000000, ACCESS_READ, "no VMA"},
	    {0x404000, ACCESS_EXEC, "exec of a non-exec VMA"},
	    {0xffff888000001000ull, ACCESS_READ, "kernel address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t pid = vm_spawn(m, "victim");
		vm_access(m, pid, 0x404000, ACCESS_WRITE); /* some memory to free */
		uint64_t segv = ev(m, VMSIM_SEGV);
		struct op_result r = vm_access(m, pid, cases[i].va, cases[i].kind);
		assert_int_equal(r.fault, FAULT_SEGV);
		assert_int_equal(ev(m, VMSIM_SEGV), segv + 1);
		assert_null(find_task(m, pid));
		const char *steps[] = {cases[i].why, "SIGSEGV", "do_exit", NULL};
		assert_events(m, &r, steps);
	}
	assert_int_equal(task_count(m), 0);
	/* Every frame came back. */
	struct strbuf sb;
	strbuf_init(&sb);
	assert_int_equal(proc_render(m, "1/maps", &sb), VM_ENOENT);
	strbuf_release(&sb);
	assert_int_equal(nr_free_pages(m), free0);
	machine_destroy(m);
}

static void test_exit_frees_every_frame(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	/* Warm the slab caches (task, mm, vma, anon_vma) so their pages stay put. */
	uint32_t w = vm_spawn(m, "warm");
	vm_access(m, w, 0x0804c000, ACCESS_WRITE);
	vm_exit(m, vm_fork(m, OP_FORK, w, 0));
	vm_exit(m, w);
	uint64_t free0 = nr_free_pages(m);
	uint32_t pid = vm_spawn(m, "big");
	uint64_t a = vm_mmap(m, pid, 0, 0x100000, RW, ANON);
	vm_access_range(m, pid, a, 0x100000, ACCESS_WRITE);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	vm_access_range(m, child, a, 0x80000, ACCESS_WRITE);
	assert_true(nr_free_pages(m) < free0 - 256 - 128);
	vm_exit(m, pid);
	vm_exit(m, child);
	assert_int_equal(nr_free_pages(m), free0);
	assert_int_equal(m->pgtable.nr_pgtable, 0);
	machine_destroy(m);
}

/* Whether the next alloc_pages on m gives another pfn than on the machine `before` was. */
static int next_pfn_differs(const struct machine *m, const uint8_t *before, size_t blen)
{
	size_t len;
	uint8_t *now = t_save(m, &len);
	char err[256];
	struct machine *a = machine_load(now, len, err, sizeof(err)),
	               *b = machine_load(before, blen, err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	struct op alloc = {.kind = OP_ALLOC_PAGES};
	struct op_result ra, rb;
	machine_apply(a, &alloc, &ra);
	machine_apply(b, &alloc, &rb);
	int differs = ra.err != rb.err || ra.value != rb.value;
	machine_destroy(a);
	machine_destroy(b);
	free(now);
	return differs;
}

/*
 * A fork out of memory fails partway: the task_struct and kernel stack come, a page table or a
 * vm_area_struct slab does not, and the unwind gives the frames back, in another order and
 * maybe with a slab left grown. That work stays, as in Linux, so the failure takes a seq (the
 * server journals it) and replaying it on the machine from before must give the same bytes.
 */
static void test_fork_out_of_memory_is_journaled(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 4ull << 20);
	uint32_t pid = vm_spawn(m, "parent");
	uint64_t a = vm_mmap(m, pid, 0, 64 * PAGE_SIZE, RW, ANON);
	vm_access_range(m, pid, a, 64 * PAGE_SIZE, ACCESS_WRITE);
	uint32_t held[1024];
	unsigned nheld = 0;
	struct op alloc = {.kind = OP_ALLOC_PAGES}, fork = {.kind = OP_FORK};
	fork.u.fork.pid = pid;
	struct op_result r;
	while (nheld < 1024 && machine_apply(m, &alloc, &r) == VM_OK)
		held[nheld++] = (uint32_t)r.value;
	assert_true(nheld > 100);
	/* give pages back one at a time until the fork goes through */
	unsigned failures = 0, changed = 0;
	for (;;) {
		size_t blen;
		uint8_t *before = t_save(m, &blen);
		char *vmstat = t_view(m, "/proc/vmstat"), *slabs = t_view(m, "/proc/slabinfo");
		uint64_t seq = machine_seq(m);
		enum vm_err e = machine_apply(m, &fork, &r);
		assert_machine_ok(m);
		if (e == VM_OK) {
			free(before);
			free(vmstat);
			free(slabs);
			break;
		}
		assert_int_equal(e, VM_ENOMEM);
		assert_failed_with_work(m, &r, seq);
		assert_replays(before, blen, &fork, m);
		char *vmstat_now = t_view(m, "/proc/vmstat"),
		     *slabs_now = t_view(m, "/proc/slabinfo");
		changed += strcmp(vmstat, vmstat_now) || strcmp(slabs, slabs_now) ||
		           next_pfn_differs(m, before, blen);
		failures++;
		free(vmstat_now);
		free(slabs_now);
		free(vmstat);
		free(slabs);
		free(before);
		assert_true(nheld > 0);
		t_free_pages(m, held[--nheld], 0);
	}
	assert_true(failures > 3);
	/* Each failure changed what /proc shows (pgalloc, allocstall, ...) or what the kernel does
	 * next: without it in the journal, a restarted server would show another machine. */
	assert_int_equal(changed, failures);
	assert_int_equal(task_count(m), 2);
	machine_destroy(m);
}

static void test_cow_refcounts(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "parent");
	uint64_t a = vm_mmap(m, pid, 0, 0x2000, RW, ANON);
	vm_access_range(m, pid, a, 0x2000, ACCESS_WRITE);
	uint32_t pfn = pte_pfn_of(m, pid, a);
	assert_int_equal(m->pa.mem_map[pfn].refcount, 1);
	assert_int_equal(page_mapcount(m, pfn), 1);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	/* Shared after fork: both PTEs read-only and marked COW, one frame with two maps. */
	assert_int_equal(pte_pfn_of(m, child, a), pfn);
	assert_int_equal(m->pa.mem_map[pfn].refcount, 2);
	assert_int_equal(page_mapcount(m, pfn), 2);
	struct walk_trace t;
	translate(m, pid, a, &t);
	assert_int_equal(t.pte & (_PAGE_RW | _PAGE_COW), _PAGE_COW);
	translate(m, child, a, &t);
	assert_int_equal(t.pte & (_PAGE_RW | _PAGE_COW), _PAGE_COW);
	assert_int_equal(find_task(m, child)->mm->rss[MM_ANONPAGES], 2);
	/* Child writes: it gets a copy, the old frame goes back to one map. */
	struct op_result r = vm_access(m, child, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_COW);
	uint32_t copy = pte_pfn_of(m, child, a);
	assert_int_not_equal(copy, pfn);
	assert_int_equal(m->pa.mem_map[pfn].refcount, 1);
	assert_int_equal(m->pa.mem_map[copy].refcount, 1);
	/* Parent writes: mapcount 1, so do_wp_page reuses the frame (no copy). */
	uint64_t reuse = ev(m, PGREUSE), cow = ev(m, VMSIM_COW_COPY);
	r = vm_access(m, pid, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(pte_pfn_of(m, pid, a), pfn);
	assert_int_equal(ev(m, PGREUSE), reuse + 1);
	assert_int_equal(ev(m, VMSIM_COW_COPY), cow);
	translate(m, pid, a, &t);
	assert_int_equal(t.pte & (_PAGE_RW | _PAGE_COW | _PAGE_DIRTY), _PAGE_RW | _PAGE_DIRTY);
	/* The second page is still shared; exit of the child drops it back to one. */
	uint32_t p2 = pte_pfn_of(m, pid, a + 0x1000);
	assert_int_equal(m->pa.mem_map[p2].refcount, 2);
	vm_exit(m, child);
	assert_int_equal(m->pa.mem_map[p2].refcount, 1);
	machine_destroy(m);
}

static void test_shared_anon_survives_fork(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "shm");
	uint64_t a = vm_mmap(m, pid, 0, 0x1000, RW, MAP_SHARED_ | MAP_ANONYMOUS_);
	vm_access(m, pid, a, ACCESS_WRITE);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	struct op_result r = vm_access(m, child, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_NONE); /* MAP_SHARED: no COW, same frame */
	assert_int_equal(pte_pfn_of(m, child, a), pte_pfn_of(m, pid, a));
	assert_int_equal(find_task(m, child)->mm->rss[MM_SHMEMPAGES], 1);
	assert_non_null(strstr(vm_proc(m, "2/status"), "RssShmem:\t       4 kB\n"));
	machine_destroy(m);
}

static void test_vfork_and_clone(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = vm_spawn(m, "sh");
	struct mm_struct *mm = find_task(m, pid)->mm;
	uint32_t child = vm_fork(m, OP_VFORK, pid, 0);
	assert_ptr_equal(find_task(m, child)->mm, mm);
	assert_int_equal(mm->mm_users, 2);
	assert_int_equal(find_task(m, pid)->state, TASK_VFORK);
	struct op op = {.kind = OP_ACCESS};
	op.u.access.pid = pid;
	op.u.access.addr = 0x08048000;
	apply_expect(m, &op, VM_EPERM); /* the parent sleeps until exec/exit */
	op = (struct op){.kind = OP_EXEC};
	op.u.exec.pid = child;
	strcpy(op.u.exec.name, "/usr/bin/ls");
	apply_expect(m, &op, VM_OK);
	assert_int_equal(mm->mm_users, 1);
	assert_int_equal(find_task(m, pid)->state, TASK_RUNNING);
	assert_string_equal(find_task(m, child)->comm, "ls");
	assert_non_null(strstr(vm_proc(m, "2/maps"), "/usr/bin/ls\n"));
	/* A thread (CLONE_VM) shares the mm until it exits. */
	uint32_t thr = vm_fork(m, OP_CLONE, pid, CLONE_VM_);
	assert_int_equal(mm->mm_users, 2);
	vm_access(m, thr, 0x0804c000, ACCESS_WRITE);
	assert_int_equal(mm->rss[MM_ANONPAGES], 1);
	vm_exit(m, thr);
	assert_int_equal(mm->mm_users, 1);
	assert_int_equal(mm->rss[MM_ANONPAGES], 1);
	machine_destroy(m);
}

/* 8 pages touched 3 times by a scripted loop: exact TLB hits and misses. */
static void test_tlb_scripted_loop(void **state)
{
	(void)state;
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, ARCH_X86_64, 16ull << 20);
	cfg.tlb_entries = 8;
	cfg.tlb_ways = 2;
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	uint32_t pid = vm_spawn(m, "loop");
	uint64_t a = vm_mmap(m, pid, 0, 0x10000, RW, ANON);
	struct op_result r = vm_access_range(m, pid, a, 0x8000, ACCESS_WRITE);
	assert_int_equal(r.tlb_misses, 8);
	assert_int_equal(r.faults, 8);
	r = vm_access_range(m, pid, a, 0x8000, ACCESS_READ);
	assert_int_equal(r.tlb_hits, 8);
	assert_int_equal(r.tlb_misses, 0);
	/* 16 pages through an 8-entry TLB: LRU evicts every one before its reuse. */
	vm_access_range(m, pid, a, 0x10000, ACCESS_WRITE);
	r = vm_access_range(m, pid, a, 0x10000, ACCESS_READ);
	assert_int_equal(r.tlb_hits, 0);
	assert_int_equal(r.tlb_misses, 16);
	/* A switch to another mm flushes; switching back misses again. */
	uint32_t other = vm_spawn(m, "other");
	uint64_t flushes = ev(m, VMSIM_TLB_FLUSH_ALL);
	vm_access(m, other, 0x7ffffffde000ull, ACCESS_WRITE);
	assert_int_equal(ev(m, VMSIM_TLB_FLUSH_ALL), flushes + 1);
	r = vm_access_range(m, pid, a, 0x4000, ACCESS_READ);
	assert_int_equal(r.tlb_misses, 4);
	r = vm_access_range(m, pid, a, 0x4000, ACCESS_READ);
	assert_int_equal(r.tlb_hits, 4);
	/* mprotect read-only: invlpg drops the entries, a write then SIGSEGVs. */
	struct op op = vm_range_op(OP_MPROTECT, pid, a, 0x4000, PROT_READ_);
	apply_expect(m, &op, VM_OK);
	r = vm_access(m, pid, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_SEGV);
	assert_int_equal(r.tlb_misses, 1);
	machine_destroy(m);
}

static void test_map_driver(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "maptest");
	struct op op = {.kind = OP_DRIVER_OPEN};
	op.u.driver.minor = 0;
	op.u.driver.size = 3 * PAGE_SIZE;
	uint64_t kaddr = apply_expect(m, &op, VM_OK).value;
	op = vm_mmap_op(pid, 0, 3 * PAGE_SIZE, PROT_READ_, MAP_SHARED_ | MAP_DRIVER_);
	op.u.mmap.file = 0;
	uint64_t a = apply_expect(m, &op, VM_OK).value;
	assert_non_null(strstr(vm_proc(m, "1/maps"), "r--s 00000000 00:05 1000"));
	struct op_result r = vm_access_range(m, pid, a, 3 * PAGE_SIZE, ACCESS_READ);
	assert_int_equal(r.faults, 3);
	const char *steps[] = {"map_nopage", "vaddress_to_kaddress", "set_pte_at", NULL};
	assert_events(m, &r, steps);
	for (int i = 0; i < 3; i++) {
		uint32_t pfn = pte_pfn_of(m, pid, a + i * PAGE_SIZE);
		assert_int_equal(pfn, vmalloc_to_pfn(m, kaddr + i * PAGE_SIZE));
		assert_int_equal(m->pa.mem_map[pfn].refcount, 2);
	}
	char buf[3 * 4096];
	assert_int_equal(access_process_vm(m, pid, a, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, "ok! kernel memory of map_driver minor 0\nok! ", 44);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal((uint8_t)buf[i], map_driver_pattern(0, i));
	assert_int_equal(find_task(m, pid)->mm->rss[MM_FILEPAGES], 3);
	/* Close is refused while mapped; after munmap it frees the buffer. */
	op = (struct op){.kind = OP_DRIVER_CLOSE};
	op.u.driver.minor = 0;
	apply_expect(m, &op, VM_EBUSY);
	struct op un = vm_range_op(OP_MUNMAP, pid, a, 3 * PAGE_SIZE, 0);
	apply_expect(m, &un, VM_OK);
	/* Unmapped, the buffer is still the driver's: a vfree of it is refused (fuzz_snapshot
	 * found one that left the device pointing at freed pages); close frees it. */
	struct op vf = {.kind = OP_VFREE};
	vf.u.vfree.addr = kaddr;
	struct op_result vr = apply_expect(m, &vf, VM_EBUSY);
	assert_non_null(strstr(vr.msg, "map_driver minor 0's buffer"));
	apply_expect(m, &op, VM_OK);
	machine_destroy(m);
}

static void test_snapshot_round_trip(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = vm_spawn(m, "snap");
	uint64_t a = vm_mmap(m, pid, 0, 0x8000, RW, ANON);
	vm_access_range(m, pid, a, 0x8000, ACCESS_WRITE);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	vm_access(m, child, a, ACCESS_WRITE);
	struct op op = {.kind = OP_DRIVER_OPEN};
	op.u.driver.minor = 2;
	op.u.driver.size = 2 * PAGE_SIZE;
	apply_expect(m, &op, VM_OK);
	op = vm_mmap_op(child, 0, 2 * PAGE_SIZE, PROT_READ_, MAP_SHARED_ | MAP_DRIVER_);
	op.u.mmap.file = 2;
	uint64_t d = apply_expect(m, &op, VM_OK).value;
	vm_access(m, child, d + PAGE_SIZE, ACCESS_READ);
	uint8_t *s1, *s2;
	size_t l1, l2;
	char err[256];
	assert_int_equal(machine_save(m, &s1, &l1), 0);
	struct machine *copy = machine_load(s1, l1, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	assert_int_equal(machine_save(copy, &s2, &l2), 0);
	assert_int_equal(l1, l2);
	assert_memory_equal(s1, s2, l1);
	/* Both go on identically: a COW write in the parent, a read through the driver map. */
	struct op_result r1 = vm_access(m, pid, a + PAGE_SIZE, ACCESS_WRITE);
	struct op_result r2 = vm_access(copy, pid, a + PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(r1.fault, r2.fault);
	assert_int_equal(r1.value2, r2.value2);
	char b1[16], b2[16];
	assert_int_equal(access_process_vm(copy, child, d + PAGE_SIZE, b2, sizeof(b2)), 0);
	assert_int_equal(access_process_vm(m, child, d + PAGE_SIZE, b1, sizeof(b1)), 0);
	assert_memory_equal(b1, b2, sizeof(b1));
	assert_string_equal(vm_proc(m, "2/smaps"), vm_proc(copy, "2/smaps"));
	free(s1);
	free(s2);
	machine_destroy(copy);
	machine_destroy(m);
}

static uint32_t make_file(struct machine *m, const char *name, uint64_t size)
{
	struct op op = {.kind = OP_FILE_CREATE};
	snprintf(op.u.file_create.name, sizeof(op.u.file_create.name), "%s", name);
	op.u.file_create.size = size;
	return (uint32_t)apply_expect(m, &op, VM_OK).value;
}

/* File mappings: major fault on a page-cache miss, minor on a hit, COW on a private write. */
static void test_file_faults(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t ino = make_file(m, "/data/f1", 3 * PAGE_SIZE);
	uint32_t a = vm_spawn(m, "reader"), b = vm_spawn(m, "writer");
	struct op op = vm_mmap_op(a, 0, 3 * PAGE_SIZE, PROT_READ_, MAP_PRIVATE_);
	op.u.mmap.file = ino;
	uint64_t va = apply_expect(m, &op, VM_OK).value;
	assert_non_null(strstr(vm_proc(m, "1/maps"), "r--p 00000000 08:01 "));
	assert_non_null(strstr(vm_proc(m, "1/maps"), " /data/f1\n"));
	uint64_t maj = vm_event(m, PGMAJFAULT);
	struct op_result r = vm_access(m, a, va + PAGE_SIZE, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MAJOR);
	assert_int_equal(r.major, 1);
	assert_int_equal(vm_event(m, PGMAJFAULT), maj + 1);
	uint32_t fpfn = pte_pfn_of(m, a, va + PAGE_SIZE);
	assert_int_equal(page_type(&m->pa.mem_map[fpfn]), PT_FILE);
	assert_int_equal(m->pa.mem_map[fpfn].refcount, 2); /* page cache + one mapping */
	/* The writer maps the same file shared and private: the cached page is a minor fault. */
	op = vm_mmap_op(b, 0, 3 * PAGE_SIZE, RW, MAP_SHARED_);
	op.u.mmap.file = ino;
	uint64_t vb = apply_expect(m, &op, VM_OK).value;
	r = vm_access(m, b, vb + PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(pte_pfn_of(m, b, vb + PAGE_SIZE), fpfn);
	assert_int_equal(m->pa.mem_map[fpfn].refcount, 3);
	assert_int_equal(page_mapcount(m, fpfn), 2);
	assert_true(m->pa.mem_map[fpfn].flags & PG_dirty);
	op = vm_mmap_op(b, 0, PAGE_SIZE, RW, MAP_PRIVATE_);
	op.u.mmap.file = ino;
	op.u.mmap.offset = PAGE_SIZE;
	uint64_t vp = apply_expect(m, &op, VM_OK).value;
	r = vm_access(m, b, vp, ACCESS_WRITE); /* do_cow_fault: a private anon copy */
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(page_type(&m->pa.mem_map[pte_pfn_of(m, b, vp)]), PT_ANON);
	assert_int_equal(m->pa.mem_map[fpfn].refcount, 3);
	const struct mm_struct *mm = find_task(m, b)->mm;
	assert_int_equal(mm->rss[MM_FILEPAGES], 1);
	assert_int_equal(mm->rss[MM_ANONPAGES], 1);
	/* rmap finds both mappings of the file page: referenced bits, then unmap. */
	assert_int_equal(page_referenced(m, fpfn), 2);
	assert_int_equal(page_referenced(m, fpfn), 0);
	assert_int_equal(try_to_unmap(m, fpfn), 0);
	assert_int_equal(m->pa.mem_map[fpfn].refcount, 1);
	assert_int_equal(mm->rss[MM_FILEPAGES], 0);
	assert_machine_ok(m);
	/* Beyond EOF: SIGBUS, which kills like SIGSEGV. */
	op = vm_mmap_op(a, 0, 8 * PAGE_SIZE, PROT_READ_, MAP_PRIVATE_);
	op.u.mmap.file = ino;
	uint64_t vbig = apply_expect(m, &op, VM_OK).value;
	r = vm_access(m, a, vbig + 5 * PAGE_SIZE, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_SEGV);
	assert_null(find_task(m, a));
	machine_destroy(m);
}

/* Anonymous pages: rmap across a fork, and the TLB entry dropped with the young bit. */
static void test_rmap_anon(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t pid = vm_spawn(m, "p");
	uint64_t a = vm_mmap(m, pid, 0, PAGE_SIZE, RW, ANON);
	vm_access(m, pid, a, ACCESS_WRITE);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	uint32_t pfn = pte_pfn_of(m, pid, a);
	assert_int_equal(m->pa.mem_map[pfn].private, a >> PAGE_SHIFT);
	assert_int_equal(page_referenced(m, pfn), 2); /* both PTEs were young after fork */
	assert_int_equal(page_referenced(m, pfn), 0);
	struct op_result r = vm_access(m, child, a, ACCESS_READ);
	assert_int_equal(r.tlb_misses, 1); /* the young bit is set again by a walk */
	assert_int_equal(page_referenced(m, pfn), 1);
	/* Outside the swap cache (no slot) an anon page cannot be unmapped. */
	assert_int_equal(try_to_unmap(m, pfn), -1);
	assert_int_equal(page_mapcount(m, pfn), 2);
	machine_destroy(m);
}

/* Every successful VM op leaves at least one event, even when it changes little. */
static void test_every_op_records_events(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "ev");
	uint64_t a = vm_mmap(m, pid, 0, 0x2000, RW, ANON);
	struct op ops[8];
	memset(ops, 0, sizeof(ops));
	ops[0].kind = OP_ACCESS; /* first touch */
	ops[0].u.access.pid = pid;
	ops[0].u.access.addr = a;
	ops[0].u.access.kind = ACCESS_WRITE;
	ops[1] = ops[0]; /* TLB hit */
	ops[2] = ops[0];
	ops[2].kind = OP_ACCESS_RANGE;
	ops[2].u.access.len = 0x2000;
	ops[2].u.access.kind = ACCESS_READ;
	ops[3].kind = OP_CONTEXT_SWITCH; /* already running */
	ops[3].u.context_switch.pid = pid;
	ops[4].kind = OP_BRK; /* brk(0) */
	ops[4].u.brk.pid = pid;
	ops[5] = vm_range_op(OP_MUNMAP, pid, 0x10000000, 0x1000, 0); /* nothing there */
	ops[6].kind = OP_SET_OOM_ADJ;
	ops[6].u.set_task.pid = pid;
	ops[7] = vm_range_op(OP_MPROTECT, pid, a, 0x1000, PROT_READ_);
	for (size_t i = 0; i < 8; i++) {
		struct op_result r = apply_expect(m, &ops[i], VM_OK);
		assert_true(r.last_event >= r.first_event);
		assert_non_null(event_get(m, r.first_event));
	}
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fault_kinds_and_counts),
	    cmocka_unit_test(test_segv),
	    cmocka_unit_test(test_exit_frees_every_frame),
	    cmocka_unit_test(test_fork_out_of_memory_is_journaled),
	    cmocka_unit_test(test_cow_refcounts),
	    cmocka_unit_test(test_shared_anon_survives_fork),
	    cmocka_unit_test(test_vfork_and_clone),
	    cmocka_unit_test(test_tlb_scripted_loop),
	    cmocka_unit_test(test_map_driver),
	    cmocka_unit_test(test_snapshot_round_trip),
	    cmocka_unit_test(test_file_faults),
	    cmocka_unit_test(test_rmap_anon),
	    cmocka_unit_test(test_every_op_records_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
