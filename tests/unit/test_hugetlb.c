/*
 * HugeTLB pages: the vm.nr_hugepages pool, MAP_HUGETLB reservations, faults that map a whole
 * huge page with one PSE entry, the TLB reach that buys (the seed's huge-page section),
 * COW of huge pages after fork, unmap/exit returning pages to the pool, and the views.
 */
#include "vm_helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "meminfo.h"
#include "snapshot.h"

#define RW   (PROT_READ_ | PROT_WRITE_)
#define HUGE (MAP_PRIVATE_ | MAP_ANONYMOUS_ | MAP_HUGETLB_)
#define MB   (1ull << 20)

static struct op_result set_pool(struct machine *m, uint64_t n, enum vm_err want)
{
	struct op op = {.kind = OP_SET_NR_HUGEPAGES};
	op.u.hugepages.count = n;
	return apply_expect(m, &op, want);
}

/* "HugePages_Total: T Free: F Rsvd: R" from /proc/meminfo. */
static void assert_pool(struct machine *m, uint64_t total, uint64_t free_, uint64_t rsvd)
{
	char *mi = t_view(m, "meminfo");
	char want[160];
	snprintf(want, sizeof(want),
	         "HugePages_Total:   %5llu\nHugePages_Free:    %5llu\nHugePages_Rsvd:    %5llu\n",
	         (unsigned long long)total, (unsigned long long)free_, (unsigned long long)rsvd);
	if (!strstr(mi, want))
		fail_msg("meminfo lacks\n%s\nin\n%s", want, mi);
	free(mi);
}

static void test_pool_grows_and_shrinks(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	uint64_t free0 = nr_free_pages(m);
	assert_int_equal(set_pool(m, 4, VM_OK).value, 4);
	assert_pool(m, 4, 4, 0);
	assert_int_equal(nr_free_pages(m), free0 - 4 * 512);
	char *mi = t_view(m, "meminfo");
	assert_non_null(strstr(mi, "Hugepagesize:       2048 kB\nHugetlb:            8192 kB\n"));
	free(mi);
	/* every pooled page is a 2 MiB-aligned order-9 block of type hugetlb */
	for (uint32_t pfn = m->hugetlb.free_list.head; pfn != PFN_NONE;
	     pfn = m->pa.mem_map[pfn].next) {
		assert_int_equal(pfn % 512, 0);
		assert_int_equal(page_type(&m->pa.mem_map[pfn]), PT_HUGETLB);
	}
	/* more than the RAM can give: the pool stops where the buddy allocator runs out */
	uint64_t got = set_pool(m, 32, VM_OK).value;
	assert_true(got > 4 && got < 32);
	assert_int_equal(m->hugetlb.nr_huge_pages, got);
	assert_true(m->hugetlb.htlb_buddy_alloc_fail == 1);
	char *vs = t_view(m, "vmstat");
	char line[64];
	snprintf(line, sizeof(line), "\nnr_hugetlb %llu\n", (unsigned long long)(got * 512));
	assert_non_null(strstr(vs, line));
	snprintf(line, sizeof(line), "\nhtlb_buddy_alloc_success %llu\n", (unsigned long long)got);
	assert_non_null(strstr(vs, line));
	free(vs);
	assert_int_equal(set_pool(m, 0, VM_OK).value, 0);
	assert_int_equal(nr_free_pages(m), free0);
	machine_destroy(m);
}

static void test_pool_bad_count_changes_nothing(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	size_t blen;
	uint8_t *before = t_save(m, &blen);
	struct op_result r = set_pool(m, 33, VM_EINVAL); /* 64 MiB holds 32 huge pages at most */
	assert_non_null(strstr(r.msg, "exceed the machine's RAM"));
	assert_unchanged(m, before, blen);
	free(before);
	machine_destroy(m);
}

/* The seed's point: one TLB entry covers a whole huge page. 2 MiB of 4 KiB pages take 512
 * faults and 512 TLB misses; 2 MiB of one huge page takes 1 fault and 1 miss. */
static void test_tlb_reach(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	set_pool(m, 2, VM_OK);
	uint32_t pid = vm_spawn(m, "db");
	uint64_t small = vm_mmap(m, pid, 0, 2 * MB, RW, MAP_PRIVATE_ | MAP_ANONYMOUS_);
	struct op_result r = vm_access_range(m, pid, small, 2 * MB, ACCESS_WRITE);
	assert_int_equal(r.faults, 512);
	assert_int_equal(r.tlb_misses, 512);
	uint64_t huge = vm_mmap(m, pid, 0, 2 * MB, RW, HUGE);
	assert_int_equal(huge % (2 * MB), 0);
	assert_pool(m, 2, 2, 1);
	r = vm_access_range(m, pid, huge, 2 * MB, ACCESS_WRITE);
	assert_int_equal(r.faults, 1);
	assert_int_equal(r.tlb_misses, 1);
	assert_int_equal(r.tlb_hits, 511);
	assert_pool(m, 2, 1, 0);
	/* the physical address runs on through the huge page */
	struct walk_trace t;
	assert_int_equal(translate(m, pid, huge + 0x12345, &t), VM_OK);
	assert_int_equal(t.nr, 3); /* pgd, pud, pmd: the walk ends at the PSE entry */
	assert_int_equal(t.fail_level, -1);
	assert_true(t.pte & _PAGE_PSE);
	uint64_t head = pte_pfn(m, t.pte);
	assert_int_equal(head % 512, 0);
	assert_int_equal(page_type(&m->pa.mem_map[head]), PT_HUGETLB);
	assert_int_equal(t.phys, (head << PAGE_SHIFT) + 0x12345);
	r = vm_access(m, pid, huge + 0x12345, ACCESS_READ);
	assert_int_equal(r.value2, t.phys);
	machine_destroy(m);
}

static void test_reserve_refused_changes_nothing(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	set_pool(m, 2, VM_OK);
	uint32_t pid = vm_spawn(m, "p");
	vm_mmap(m, pid, 0, 3 * MB, RW, HUGE); /* rounds up to 2 huge pages: all reserved */
	assert_pool(m, 2, 2, 2);
	size_t blen;
	uint8_t *before = t_save(m, &blen);
	struct op op = vm_mmap_op(pid, 0, 1, RW, HUGE);
	struct op_result r = apply_expect(m, &op, VM_ENOMEM);
	assert_non_null(strstr(r.msg, "raise vm.nr_hugepages"));
	op = vm_mmap_op(pid, 0, 2 * MB, RW, MAP_SHARED_ | MAP_ANONYMOUS_ | MAP_HUGETLB_);
	r = apply_expect(m, &op, VM_EINVAL);
	assert_non_null(strstr(r.msg, "private anonymous"));
	op = vm_mmap_op(pid, 0x40001000, 2 * MB, RW, HUGE | MAP_FIXED_);
	apply_expect(m, &op, VM_EINVAL);
	assert_unchanged(m, before, blen);
	free(before);
	/* a reserved page cannot leave the pool */
	assert_int_equal(set_pool(m, 0, VM_OK).value, 2);
	machine_destroy(m);
}

static void test_munmap_mprotect_madvise(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	set_pool(m, 3, VM_OK);
	uint32_t pid = vm_spawn(m, "p");
	uint64_t a = vm_mmap(m, pid, 0, 6 * MB, RW, HUGE);
	vm_access(m, pid, a, ACCESS_WRITE);
	assert_pool(m, 3, 2, 2);
	struct op op = vm_range_op(OP_MUNMAP, pid, a + 4096, 4096, 0);
	struct op_result r = apply_expect(m, &op, VM_EINVAL);
	assert_non_null(strstr(r.msg, "cuts a huge page"));
	op = vm_range_op(OP_MPROTECT, pid, a, 1 * MB, PROT_READ_);
	apply_expect(m, &op, VM_EINVAL);
	op = vm_range_op(OP_MADVISE, pid, a, 2 * MB, 0);
	op.u.madvise.advice = MADV_DONTNEED_;
	apply_expect(m, &op, VM_EINVAL);
	/* read-only first huge page: a write is SIGSEGV */
	op = vm_range_op(OP_MPROTECT, pid, a, 2 * MB, PROT_READ_);
	apply_expect(m, &op, VM_OK);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	r = vm_access(m, child, a + 8, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_SEGV);
	/* unmapping the unfaulted middle page gives its reserve back */
	op = vm_range_op(OP_MUNMAP, pid, a + 2 * MB, 2 * MB, 0);
	apply_expect(m, &op, VM_OK);
	assert_pool(m, 3, 2, 1);
	vm_exit(m, pid);
	assert_pool(m, 3, 3, 0);
	machine_destroy(m);
}

/* fork shares the huge page read-only; the child's write copies, the parent then reuses. */
static void test_fork_cow(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	set_pool(m, 2, VM_OK);
	uint32_t pid = vm_spawn(m, "parent");
	uint64_t a = vm_mmap(m, pid, 0, 2 * MB, RW, HUGE);
	vm_access(m, pid, a, ACCESS_WRITE);
	uint32_t head = pte_pfn_of(m, pid, a);
	uint32_t child = vm_fork(m, OP_FORK, pid, 0);
	assert_int_equal(m->pa.mem_map[head].refcount, 2);
	assert_int_equal(pte_pfn_of(m, child, a), head);
	struct op_result r = vm_access(m, child, a + 100, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_COW);
	uint32_t copy = pte_pfn_of(m, child, a);
	assert_int_not_equal(copy, head);
	assert_int_equal(m->pa.mem_map[head].refcount, 1);
	assert_pool(m, 2, 0, 0);
	r = vm_access(m, pid, a, ACCESS_WRITE);
	assert_int_equal(r.fault, FAULT_COW); /* hugetlb_wp reuses: mapcount 1 */
	assert_int_equal(pte_pfn_of(m, pid, a), head);
	char *smaps = t_view(m, "/proc/2/smaps");
	assert_non_null(
	    strstr(smaps, "KernelPageSize:     2048 kB\nMMUPageSize:        2048 kB\n"));
	assert_non_null(
	    strstr(smaps, "Shared_Hugetlb:        0 kB\nPrivate_Hugetlb:    2048 kB\n"));
	assert_non_null(strstr(smaps, "VmFlags: rd wr mr mw me de ac ht \n"));
	free(smaps);
	char *status = t_view(m, "/proc/2/status");
	assert_non_null(strstr(status, "HugetlbPages:\t    2048 kB\n"));
	free(status);
	vm_exit(m, child);
	vm_exit(m, pid);
	assert_pool(m, 2, 2, 0);
	machine_destroy(m);
}

/* i386 without PAE: 4 MiB pages, one PGD entry each; maps names the hugetlbfs file. */
static void test_i386_pse_and_views(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 128 * MB);
	assert_int_equal(set_pool(m, 2, VM_OK).value, 2);
	uint32_t pid = vm_spawn(m, "pse");
	uint64_t a = vm_mmap(m, pid, 0, 4 * MB, RW, HUGE);
	assert_int_equal(a % (4 * MB), 0);
	struct op_result r = vm_access_range(m, pid, a, 4 * MB, ACCESS_READ);
	assert_int_equal(r.faults, 1);
	assert_int_equal(r.tlb_misses, 1);
	struct walk_trace t;
	assert_int_equal(translate(m, pid, a + 0x3ffffc, &t), VM_OK);
	assert_int_equal(t.nr, 1); /* the pgd entry is the huge page */
	assert_int_equal(t.phys, ((uint64_t)pte_pfn(m, t.pte) << PAGE_SHIFT) + 0x3ffffc);
	char path[32];
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	char *maps = t_view(m, path);
	char want[128];
	snprintf(want, sizeof(want), "%08llx-%08llx rw-p 00000000 00:0f %llu",
	         (unsigned long long)a, (unsigned long long)(a + 4 * MB),
	         (unsigned long long)(a >> 22));
	char *line = strstr(maps, want);
	assert_non_null(line);
	assert_memory_equal(strchr(line, '\n') - 24, "/anon_hugepage (deleted)", 24);
	free(maps);
	char *mi = t_view(m, "meminfo");
	assert_non_null(strstr(mi, "Hugepagesize:       4096 kB\nHugetlb:            8192 kB\n"));
	free(mi);
	machine_destroy(m);
}

/* The pool, the reserve and mapped huge pages survive save/load byte for byte. */
static void test_snapshot_round_trip(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64 * MB);
	set_pool(m, 3, VM_OK);
	uint32_t pid = vm_spawn(m, "p");
	uint64_t a = vm_mmap(m, pid, 0, 4 * MB, RW, HUGE);
	vm_access(m, pid, a + 2 * MB, ACCESS_WRITE);
	size_t len;
	uint8_t *buf = t_save(m, &len);
	char err[128];
	struct machine *c = machine_load(buf, len, err, sizeof(err));
	assert_non_null(c);
	assert_machine_ok(c);
	size_t len2;
	uint8_t *buf2 = t_save(c, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);
	/* the loaded machine goes on identically: the next fault takes the same page */
	struct op_result r1 = vm_access(m, pid, a, ACCESS_WRITE);
	struct op_result r2 = vm_access(c, pid, a, ACCESS_WRITE);
	assert_int_equal(r1.value2, r2.value2);
	free(buf);
	free(buf2);
	machine_destroy(c);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pool_grows_and_shrinks),
	    cmocka_unit_test(test_pool_bad_count_changes_nothing),
	    cmocka_unit_test(test_tlb_reach),
	    cmocka_unit_test(test_reserve_refused_changes_nothing),
	    cmocka_unit_test(test_munmap_mprotect_madvise),
	    cmocka_unit_test(test_fork_cow),
	    cmocka_unit_test(test_i386_pse_and_views),
	    cmocka_unit_test(test_snapshot_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
