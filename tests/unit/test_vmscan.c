/* Reclaim with processes: swap-out and swap-in, swapoff, OOM, rlimit thrashing per policy. */
#include "vm_helpers.h"

#include <stdlib.h>

#include "meminfo.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_larger_than_ram_swaps),
	    cmocka_unit_test(test_oom_without_swap),
	    cmocka_unit_test(test_thrash_textbook_counts),
	    cmocka_unit_test(test_swapoff_brings_pages_back),
	    cmocka_unit_test(test_oom_kills_the_biggest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
