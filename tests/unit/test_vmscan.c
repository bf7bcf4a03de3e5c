/* Reclaim with processes: swap-out and swap-in, swapoff, OOM, rlimit thrashing per policy. */
#include "vm_helpers.h"

#include <stdlib.h>

#include "meminfo.h"
#include "snapshot.h"

static void swap_on(struct machine *m, const char *name, uint64_t size)
{
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "%s", name);
	op.u.swap.size = size;
	apply_expect(m, &op, VM_OK);
	op.kind = OP_SWAPON;
	op.u.swap.prio = SWAP_PRIO_NONE;
	apply_expect(m, &op, VM_OK);
}

#define ANON (MAP_PRIVATE_ | MAP_ANONYMOUS_)
#define RW   (PROT_READ_ | PROT_WRITE_)

/* A process touching more memory than the machine has runs with swap: pswpout, then pswpin. */
static void test_process_larger_than_ram_swaps(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 64ull << 20);
	uint32_t pid = vm_spawn(m, "big");
	uint64_t len = 48ull << 20;
	uint64_t a = vm_mmap(m, pid, 0, len, RW, ANON);
	struct op_result r = vm_access_range(m, pid, a, len, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(r.faults, len / PAGE_SIZE);
	uint64_t out = vm_event(m, PSWPOUT);
	assert_true(out > 4096);
	struct meminfo mi;
	si_meminfo(m, &mi);
	assert_int_equal(mi.swaptotal - mi.swapfree, out); /* every page out holds one slot */
	/* reading the start again brings it back from swap: major faults, pswpin (35 of its
	 * 256 pages were still resident: kswapd reclaims zone by zone) */
	r = vm_access_range(m, pid, a, 1 << 20, ACCESS_READ);
	assert_int_equal(r.major, 221);
	assert_int_equal(r.faults, 221);
	assert_int_equal(vm_event(m, PSWPIN), 221);
	assert_int_equal(r.fault, FAULT_MAJOR);
	/* exit gives every slot back */
	vm_exit(m, pid);
	si_meminfo(m, &mi);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	machine_destroy(m);
}

/*
 * One VMA wider than 2^32 pages (16 TiB) holds several addresses whose page index has the same
 * low 32 bits (all an anon page keeps): rmap must try each, or a page touched in the upper
 * part of the VMA is never found, so it is never unmapped and never swapped out.
 */
static void test_rmap_finds_pages_of_a_huge_vma(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	swap_on(m, "/dev/sdb1", 16ull << 20);
	uint32_t pid = vm_spawn(m, "wide");
	uint64_t len = 40ull << 40; /* 40 TiB: 2.5 x 2^32 pages */
	uint64_t a = vm_mmap(m, pid, 0, len, RW, ANON);
	/* the same low 32 bits of the page index, three times in one VMA */
	uint64_t far = a + (2ull << 44) + 0x5000;
	vm_access(m, pid, far, ACCESS_WRITE);
	vm_access(m, pid, far - (1ull << 44), ACCESS_WRITE);
	struct op op = {.kind = OP_RECLAIM};
	op.u.reclaim.nr_pages = 4096; /* everything that can go */
	apply_expect(m, &op, VM_OK);
	uint64_t out = vm_event(m, PSWPOUT);
	assert_true(out >= 2);
	/* both come back from swap: their PTEs were swap entries */
	struct op_result r = vm_access(m, pid, far, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MAJOR);
	r = vm_access(m, pid, far - (1ull << 44), ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MAJOR);
	machine_destroy(m);
}

/* Without swap the same process is killed: FAULT_OOM and oom_kill. */
static void test_oom_without_swap(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	uint32_t pid = vm_spawn(m, "hog");
	uint64_t len = 48ull << 20;
	uint64_t a = vm_mmap(m, pid, 0, len, RW, ANON);
	struct op_result r = vm_access_range(m, pid, a, len, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_OOM);
	assert_int_equal(vm_event(m, OOM_KILL), 1);
	assert_null(find_task(m, pid));
	machine_destroy(m);
}

static struct machine *machine_with_policy(enum reclaim_policy pol, uint64_t ram)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, ARCH_X86_64, ram);
	cfg.policy = pol;
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m)
		fail_msg("machine_create: %s", err);
	return m;
}

static void set_rlimit(struct machine *m, uint32_t pid, uint64_t pages)
{
	struct op op = {.kind = OP_SET_RLIMIT};
	op.u.set_task.pid = pid;
	op.u.set_task.value = pages;
	apply_expect(m, &op, VM_OK);
}

/* Faults of one process touching pages[] of a region under a resident limit of `limit`. */
static uint64_t thrash_faults(enum reclaim_policy pol, const uint32_t *pages, size_t n,
                              uint32_t limit)
{
	struct machine *m = machine_with_policy(pol, 64ull << 20);
	swap_on(m, "/dev/sdb1", 8ull << 20);
	uint32_t pid = vm_spawn(m, "thrash");
	uint64_t a = vm_mmap(m, pid, 0, 16 * PAGE_SIZE, RW, ANON);
	set_rlimit(m, pid, limit);
	uint64_t faults = 0;
	for (size_t i = 0; i < n; i++)
		faults += vm_access(m, pid, a + pages[i] * PAGE_SIZE, ACCESS_WRITE).faults;
	const struct task_struct *t = find_task(m, pid);
	assert_true(get_mm_rss(t->mm) <= limit);
	machine_destroy(m);
	return faults;
}

/* The textbook string on 3 frames: the machine's policies give the exercise's counts. */
static void test_thrash_textbook_counts(void **state)
{
	(void)state;
	static const uint32_t tb[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2};
	assert_int_equal(thrash_faults(POLICY_FIFO, tb, 13, 3), 10);
	assert_int_equal(thrash_faults(POLICY_LRU, tb, 13, 3), 9);
	assert_int_equal(thrash_faults(POLICY_CLOCK, tb, 13, 3), 9);
	/* a loop one page larger than the limit faults on every access */
	uint32_t loop[50];
	for (int i = 0; i < 50; i++)
		loop[i] = (uint32_t)(i % 5);
	assert_int_equal(thrash_faults(POLICY_FIFO, loop, 50, 4), 50);
	assert_int_equal(thrash_faults(POLICY_LRU, loop, 50, 4), 50);
	assert_int_equal(thrash_faults(POLICY_CLOCK, loop, 50, 4), 50);
	assert_int_equal(thrash_faults(POLICY_LRU, loop, 50, 5), 5);
}

/*
 * Over its resident limit without swap, a process can give back only file pages: those go
 * (oldest first), its anon pages are neither scanned nor aged (get_scan_count's SCAN_FILE), and
 * it then runs over the limit.
 */
static void test_rlimit_without_swap_reclaims_file_pages_only(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t pid = vm_spawn(m, "capped");
	struct op fc = {.kind = OP_FILE_CREATE};
	snprintf(fc.u.file_create.name, sizeof(fc.u.file_create.name), "/data/lib");
	fc.u.file_create.size = 4 * PAGE_SIZE;
	uint32_t ino = (uint32_t)apply_expect(m, &fc, VM_OK).value;
	struct op mo = vm_mmap_op(pid, 0, 4 * PAGE_SIZE, PROT_READ_, MAP_PRIVATE_);
	mo.u.mmap.file = ino;
	uint64_t f = apply_expect(m, &mo, VM_OK).value;
	vm_access_range(m, pid, f, 4 * PAGE_SIZE, ACCESS_READ);
	uint64_t a = vm_mmap(m, pid, 0, 16 * PAGE_SIZE, RW, ANON);
	vm_access_range(m, pid, a, 8 * PAGE_SIZE, ACCESS_WRITE);
	const struct mm_struct *mm = find_task(m, pid)->mm;
	uint64_t rss = get_mm_rss(mm);
	set_rlimit(m, pid, rss);
	uint64_t scanned = vm_event(m, PGSCAN_DIRECT), stolen = vm_event(m, PGSTEAL_DIRECT);
	/* 8 more anon pages: the 4 file pages go first, then it runs over its limit by 4 */
	vm_access_range(m, pid, a + 8 * PAGE_SIZE, 8 * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(vm_event(m, PGSTEAL_DIRECT) - stolen, 4);
	/* each file page twice (referenced: a second chance, then reclaimed), no anon page */
	assert_int_equal(vm_event(m, PGSCAN_DIRECT) - scanned, 8);
	assert_int_equal(get_mm_rss(mm), rss + 4);
	/* every anon page still resident, none swapped: a write is no fault */
	for (int i = 0; i < 16; i++)
		assert_int_equal(vm_access(m, pid, a + i * PAGE_SIZE, ACCESS_WRITE).faults, 0);
	machine_destroy(m);
}

/* swapoff brings every page back; without room it refuses and changes nothing. */
static void test_swapoff_brings_pages_back(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 64ull << 20);
	uint32_t pid = vm_spawn(m, "big");
	uint64_t len = 40ull << 20;
	uint64_t a = vm_mmap(m, pid, 0, len, RW, ANON);
	vm_access_range(m, pid, a, len, ACCESS_WRITE);
	struct op off = {.kind = OP_SWAPOFF};
	snprintf(off.u.swap.name, NAME_LEN, "/dev/sdb1");
	struct op_result r = apply_expect(m, &off, VM_ENOMEM);
	assert_non_null(strstr(r.msg, "swapped-out pages"));
	/* unmap the resident (newer) half: now the swapped-out pages fit */
	struct op un = vm_range_op(OP_MUNMAP, pid, a + len / 2, len / 2, 0);
	apply_expect(m, &un, VM_OK);
	struct meminfo mi;
	si_meminfo(m, &mi);
	uint64_t used = mi.swaptotal - mi.swapfree, in0 = vm_event(m, PSWPIN);
	assert_true(used > 0);
	r = apply_expect(m, &off, VM_OK);
	assert_int_equal(r.value2, used);
	assert_int_equal(vm_event(m, PSWPIN) - in0, used);
	si_meminfo(m, &mi);
	assert_int_equal(mi.swaptotal, 0);
	/* the pages are back: touching them is no fault at all */
	r = vm_access_range(m, pid, a, len / 2, ACCESS_READ);
	assert_int_equal(r.major, 0);
	machine_destroy(m);
}

/* The OOM killer picks the biggest task, not the one that asked. */
static void test_oom_kills_the_biggest(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	uint32_t big = vm_spawn(m, "big"), small = vm_spawn(m, "small");
	uint64_t a = vm_mmap(m, big, 0, 20ull << 20, RW, ANON);
	vm_access_range(m, big, a, 20ull << 20, ACCESS_WRITE);
	uint64_t b = vm_mmap(m, small, 0, 12ull << 20, RW, ANON);
	struct op_result r = vm_access_range(m, small, b, 12ull << 20, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR); /* small survived */
	assert_null(find_task(m, big));
	assert_non_null(find_task(m, small));
	assert_int_equal(vm_event(m, OOM_KILL), 1);
	machine_destroy(m);
}

/* ---- the swap cache ------------------------------------------------------------------- */

#define N_PAGES 64

static struct meminfo meminfo_of(const struct machine *m)
{
	struct meminfo mi;
	si_meminfo(m, &mi);
	return mi;
}

/* vm.swappiness = 200: reclaim scans anon pages only, so OP_RECLAIM picks exactly ours. */
static void anon_only(struct machine *m)
{
	struct op op = {.kind = OP_SET_SWAPPINESS};
	op.u.sysctl.value = 200;
	apply_expect(m, &op, VM_OK);
}

static uint64_t reclaim(struct machine *m, uint64_t nr)
{
	struct op op = {.kind = OP_RECLAIM};
	op.u.reclaim.nr_pages = nr;
	return apply_expect(m, &op, VM_OK).value;
}

/* A 32 MiB machine with 64 MiB of swap and one process whose N_PAGES written anon pages are
 * all swapped out. */
static struct machine *swapped_out_process(uint32_t *pid, uint64_t *a)
{
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 64ull << 20);
	anon_only(m);
	*pid = vm_spawn(m, "sc");
	*a = vm_mmap(m, *pid, 0, N_PAGES * PAGE_SIZE, RW, ANON);
	vm_access_range(m, *pid, *a, N_PAGES * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(reclaim(m, N_PAGES), N_PAGES);
	assert_int_equal(vm_event(m, PSWPOUT), N_PAGES);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swaptotal - mi.swapfree, N_PAGES);
	assert_int_equal(mi.swapcached, 0);
	return m;
}

/* After swap-in by reads the pages stay in the swap cache with their slots; writing them
 * frees the slots (do_wp_page -> try_to_free_swap). */
static void test_swapin_keeps_swap_cache(void **state)
{
	(void)state;
	uint32_t pid;
	uint64_t a;
	struct machine *m = swapped_out_process(&pid, &a);
	uint64_t swapfree = meminfo_of(m).swapfree;
	struct op_result r = vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_READ);
	assert_int_equal(r.major, N_PAGES);
	assert_int_equal(vm_event(m, PSWPIN), N_PAGES);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, N_PAGES); /* SwapCached: 256 kB */
	assert_int_equal(mi.swapfree, swapfree);  /* the slots stay allocated */
	assert_int_equal(mi.anon, N_PAGES);       /* mapped: AnonPages counts them */
	assert_non_null(strstr(vm_proc(m, "meminfo"), "SwapCached:          256 kB\n"));
	/* a second read of a page is no fault: the PTE is present (read-only) */
	assert_int_equal(vm_access(m, pid, a, ACCESS_READ).faults, 0);
	/* writing: one write-protect fault per page, reused in place; the swap copy is stale */
	uint64_t reuse0 = vm_event(m, PGREUSE);
	r = vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(r.faults, N_PAGES);
	assert_int_equal(r.major, 0);
	assert_int_equal(vm_event(m, PGREUSE) - reuse0, N_PAGES);
	assert_int_equal(vm_event(m, VMSIM_COW_COPY), 0);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, swapfree + N_PAGES);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	/* dirty again: reclaim writes them out anew */
	assert_int_equal(reclaim(m, N_PAGES), N_PAGES);
	assert_int_equal(vm_event(m, PSWPOUT), 2 * N_PAGES);
	machine_destroy(m);
}

/* A write fault on a swapped-out page takes it out of the swap cache at once
 * (should_try_to_free_swap): mapped writable, the slot freed. */
static void test_write_swapin_frees_slot(void **state)
{
	(void)state;
	uint32_t pid;
	uint64_t a;
	struct machine *m = swapped_out_process(&pid, &a);
	struct op_result r = vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(r.major, N_PAGES);
	assert_int_equal(r.faults, N_PAGES); /* no second (write-protect) fault */
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	machine_destroy(m);
}

/* Reclaim of clean swap-cache pages frees them without writing: pswpout does not move. */
static void test_clean_swapcache_reclaim_no_write(void **state)
{
	(void)state;
	uint32_t pid;
	uint64_t a;
	struct machine *m = swapped_out_process(&pid, &a);
	uint64_t swapfree = meminfo_of(m).swapfree;
	vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_READ);
	uint64_t free0 = meminfo_of(m).freeram;
	assert_int_equal(reclaim(m, N_PAGES), N_PAGES);
	assert_int_equal(vm_event(m, PSWPOUT), N_PAGES); /* unchanged: nothing written */
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, swapfree); /* the slots still hold the data */
	assert_int_equal(mi.freeram, free0 + N_PAGES);
	/* and they come back from the same slots */
	struct op_result r = vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_READ);
	assert_int_equal(r.major, N_PAGES);
	assert_int_equal(vm_event(m, PSWPIN), 2 * N_PAGES);
	/* exit: the mappings and the swap cache go, every slot with them */
	vm_exit(m, pid);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	machine_destroy(m);
}

/* swapoff with pages in the swap cache: they are in memory already, only the rest is read. */
static void test_swapoff_with_swapcache(void **state)
{
	(void)state;
	uint32_t pid;
	uint64_t a;
	struct machine *m = swapped_out_process(&pid, &a);
	vm_access_range(m, pid, a, N_PAGES / 2 * PAGE_SIZE, ACCESS_READ);
	assert_int_equal(meminfo_of(m).swapcached, N_PAGES / 2);
	struct op off = {.kind = OP_SWAPOFF};
	snprintf(off.u.swap.name, NAME_LEN, "/dev/sdb1");
	struct op_result r = apply_expect(m, &off, VM_OK);
	assert_int_equal(r.value2, N_PAGES / 2); /* read from the area */
	assert_int_equal(vm_event(m, PSWPIN), N_PAGES);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swaptotal, 0);
	assert_int_equal(mi.anon, N_PAGES);
	/* every page is memory's only copy now: a write reuses it, no copy */
	r = vm_access_range(m, pid, a, N_PAGES * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(r.major, 0);
	assert_int_equal(vm_event(m, VMSIM_COW_COPY), 0);
	machine_destroy(m);
}

/* fork shares a swapped-out entry: one read brings the page into the swap cache, the other
 * process finds it there (minor fault, same frame), and the slot goes with the last user. */
static void test_fork_shares_swap_entry(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 64ull << 20);
	anon_only(m);
	uint32_t parent = vm_spawn(m, "parent");
	uint64_t a = vm_mmap(m, parent, 0, PAGE_SIZE, RW, ANON);
	vm_access(m, parent, a, ACCESS_WRITE);
	assert_int_equal(reclaim(m, 1), 1);
	uint32_t child = vm_fork(m, OP_FORK, parent, 0);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swaptotal - mi.swapfree, 1); /* one slot, named by two PTEs */
	struct op_result r = vm_access(m, parent, a, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MAJOR);
	r = vm_access(m, child, a, ACCESS_READ);
	assert_int_equal(r.fault, FAULT_MINOR); /* lookup_swap_cache hit */
	assert_int_equal(vm_event(m, PSWPIN), 1);
	uint32_t pfn = pte_pfn_of(m, parent, a);
	assert_int_equal(pte_pfn_of(m, child, a), pfn);
	assert_int_equal(m->pa.mem_map[pfn].refcount, 3); /* two PTEs + the swap cache */
	assert_int_equal(meminfo_of(m).swapcached, 1);
	/* the parent writes: the page is shared, so it is copied; the child keeps the cached one */
	r = vm_access(m, parent, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_COW);
	assert_int_equal(meminfo_of(m).swapcached, 1);
	/* the child writes: now its PTE is the only user; the slot is freed and the page reused */
	r = vm_access(m, child, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_MINOR);
	assert_int_equal(pte_pfn_of(m, child, a), pfn);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	machine_destroy(m);
}

/* The last user of a swapped entry goes: free_swap_and_cache and free_swap_cache. */
static void test_swapcache_last_user_exits(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 64ull << 20);
	anon_only(m);
	uint32_t parent = vm_spawn(m, "parent");
	uint64_t a = vm_mmap(m, parent, 0, 2 * PAGE_SIZE, RW, ANON);
	vm_access_range(m, parent, a, 2 * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(reclaim(m, 2), 2);
	uint32_t child = vm_fork(m, OP_FORK, parent, 0);
	/* page 0: read by the parent, then the child (still holding a swap PTE) exits: the page
	 * is mapped, so it stays cached; the parent's munmap then frees page and slot */
	vm_access(m, parent, a, ACCESS_READ);
	/* page 1: read by the child, which then unmaps it: the page stays in the cache for the
	 * parent's swap PTE, unmapped */
	vm_access(m, child, a + PAGE_SIZE, ACCESS_READ);
	struct op un = vm_range_op(OP_MUNMAP, child, a + PAGE_SIZE, PAGE_SIZE, 0);
	apply_expect(m, &un, VM_OK);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 2);
	assert_int_equal(mi.anon, 1); /* page 1 is cached but mapped by no one */
	vm_exit(m, child);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 2);
	assert_int_equal(mi.swaptotal - mi.swapfree, 2);
	/* the parent reads page 1 from the cache, then unmaps everything */
	assert_int_equal(vm_access(m, parent, a + PAGE_SIZE, ACCESS_READ).fault, FAULT_MINOR);
	uint32_t pfn0 = pte_pfn_of(m, parent, a), pfn1 = pte_pfn_of(m, parent, a + PAGE_SIZE);
	un = vm_range_op(OP_MUNMAP, parent, a, 2 * PAGE_SIZE, 0);
	apply_expect(m, &un, VM_OK);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, mi.swaptotal);
	assert_int_equal(page_type(&m->pa.mem_map[pfn0]), PT_FREE);
	assert_int_equal(page_type(&m->pa.mem_map[pfn1]), PT_FREE);
	machine_destroy(m);
}

/* Swap more than half full: a swap-in gives its slot back at once (vm_swap_full). */
static void test_swap_full_frees_on_swapin(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	swap_on(m, "/dev/sdb1", 17 * PAGE_SIZE); /* 16 slots */
	anon_only(m);
	uint32_t pid = vm_spawn(m, "full");
	uint64_t a = vm_mmap(m, pid, 0, 10 * PAGE_SIZE, RW, ANON);
	vm_access_range(m, pid, a, 10 * PAGE_SIZE, ACCESS_WRITE);
	assert_int_equal(reclaim(m, 10), 10);
	struct meminfo mi = meminfo_of(m);
	assert_int_equal(mi.swaptotal, 16);
	assert_int_equal(mi.swapfree, 6); /* 10 of 16 used: vm_swap_full() */
	vm_access_range(m, pid, a, 2 * PAGE_SIZE, ACCESS_READ);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 0);
	assert_int_equal(mi.swapfree, 8); /* 8 of 16 used: no longer more than half */
	vm_access(m, pid, a + 2 * PAGE_SIZE, ACCESS_READ);
	mi = meminfo_of(m);
	assert_int_equal(mi.swapcached, 1);
	assert_int_equal(mi.swapfree, 8);
	machine_destroy(m);
}

/* Snapshots keep the swap cache (version 2); version 1 snapshots load with it empty. */
static void test_swapcache_snapshot(void **state)
{
	(void)state;
	uint32_t pid;
	uint64_t a;
	struct machine *m = swapped_out_process(&pid, &a);
	/* version 1 layout: nothing in the swap cache, so it loads and re-saves as the current one
	 */
	uint8_t *s1;
	size_t l1;
	char err[256];
	uint8_t *cur = t_save(m, &l1);
	s1 = t_downgrade(cur, l1, 1, &l1);
	free(cur);
	struct machine *old = machine_load(s1, l1, err, sizeof(err));
	if (!old)
		fail_msg("version 1 load: %s", err);
	assert_int_equal(meminfo_of(old).swapcached, 0);
	machine_destroy(old);
	free(s1);
	vm_access_range(m, pid, a, N_PAGES / 2 * PAGE_SIZE, ACCESS_READ);
	uint8_t *s2, *s3;
	size_t l2, l3;
	assert_int_equal(machine_save(m, &s2, &l2), 0);
	struct machine *c = machine_load(s2, l2, err, sizeof(err));
	if (!c)
		fail_msg("machine_load: %s", err);
	assert_machine_ok(c);
	assert_int_equal(meminfo_of(c).swapcached, N_PAGES / 2);
	assert_int_equal(machine_save(c, &s3, &l3), 0);
	assert_int_equal(l2, l3);
	assert_memory_equal(s2, s3, l2);
	free(s3);
	/* the copy goes on exactly as the original: clean pages dropped, the rest read */
	assert_int_equal(reclaim(c, N_PAGES / 2), N_PAGES / 2);
	assert_int_equal(reclaim(m, N_PAGES / 2), N_PAGES / 2);
	assert_int_equal(vm_event(c, PSWPOUT), N_PAGES);
	assert_int_equal(machine_save(m, &s1, &l1), 0);
	assert_int_equal(machine_save(c, &s3, &l3), 0);
	assert_int_equal(l1, l3);
	assert_memory_equal(s1, s3, l1);
	free(s1);
	free(s3);
	/* a version 1 snapshot cannot hold swap-cache pages: refused, with the reason */
	size_t lv1;
	uint8_t *v1 = t_downgrade(s2, l2, 1, &lv1);
	assert_null(machine_load(v1, lv1, err, sizeof(err)));
	assert_non_null(strstr(err, "version 1 snapshot with a swap-cache page"));
	free(v1);
	t_reseal(s2, l2, SNAPSHOT_VERSION + 1);
	assert_null(machine_load(s2, l2, err, sizeof(err)));
	assert_string_equal(err, "snapshot version 4 is not supported (this build reads 1 to 3)");
	free(s2);
	machine_destroy(c);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_larger_than_ram_swaps),
	    cmocka_unit_test(test_oom_without_swap),
	    cmocka_unit_test(test_thrash_textbook_counts),
	    cmocka_unit_test(test_swapoff_brings_pages_back),
	    cmocka_unit_test(test_oom_kills_the_biggest),
	    cmocka_unit_test(test_swapin_keeps_swap_cache),
	    cmocka_unit_test(test_write_swapin_frees_slot),
	    cmocka_unit_test(test_clean_swapcache_reclaim_no_write),
	    cmocka_unit_test(test_swapoff_with_swapcache),
	    cmocka_unit_test(test_fork_shares_swap_entry),
	    cmocka_unit_test(test_swapcache_last_user_exits),
	    cmocka_unit_test(test_swap_full_frees_on_swapin),
	    cmocka_unit_test(test_swapcache_snapshot),
	    cmocka_unit_test(test_rmap_finds_pages_of_a_huge_vma),
	    cmocka_unit_test(test_rlimit_without_swap_reclaims_file_pages_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
