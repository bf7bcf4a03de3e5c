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
	/* reading the start again brings it back from swap: major faults, pswpin */
	r = vm_access_range(m, pid, a, 1 << 20, ACCESS_READ);
	assert_int_equal(r.major, 256);
	assert_int_equal(vm_event(m, PSWPIN), 256);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_process_larger_than_ram_swaps),
	    cmocka_unit_test(test_oom_without_swap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
