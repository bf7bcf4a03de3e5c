/* vmalloc: the arch ranges, first-fit addresses with guard gaps, scattered frames, errors. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

static struct op_result t_vmalloc(struct machine *m, uint64_t size, enum vm_err want)
{
	struct op op = {.kind = OP_VMALLOC};
	op.u.vmalloc.size = size;
	return apply_expect(m, &op, want);
}

static struct op_result t_vfree(struct machine *m, uint64_t addr, enum vm_err want)
{
	struct op op = {.kind = OP_VFREE};
	op.u.vfree.addr = addr;
	return apply_expect(m, &op, want);
}

static void test_ranges_per_arch(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	assert_int_equal(vmalloc_start(m), 0xffffc90000000000ull);
	assert_int_equal(vmalloc_end(m), 0xffffe90000000000ull);
	machine_destroy(m);
	/* i386: high_memory + 8 MiB; with 64 MiB of RAM all of it is lowmem. */
	m = new_machine(ARCH_I386, 64ull << 20);
	assert_int_equal(vmalloc_start(m), 0xC4800000ull);
	assert_int_equal(vmalloc_end(m), 0xff7fe000ull);
	machine_destroy(m);
	/* With more than 896 MiB, high_memory is 0xf8000000: the classic 0xf8800000 start. */
	m = new_machine(ARCH_I386, 1ull << 30);
	assert_int_equal(vmalloc_start(m), 0xF8800000ull);
	machine_destroy(m);
}

/* Areas follow each other with one guard page between them; a hole is reused first-fit. */
static void test_addresses_and_guard_gaps(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 64ull << 20);
	uint64_t s = vmalloc_start(m);
	uint64_t a = t_vmalloc(m, 1, VM_OK).value;
	uint64_t b = t_vmalloc(m, 8192, VM_OK).value;
	uint64_t c = t_vmalloc(m, 4097, VM_OK).value;
	assert_int_equal(a, s);
	assert_int_equal(b, s + 0x2000);          /* one page + guard */
	assert_int_equal(c, s + 0x2000 + 0x3000); /* two pages + guard */
	assert_int_equal(m->vmalloc.nr_vmalloc_pages, 5);
	/* The guard page after each area maps nothing. */
	assert_int_equal(vmalloc_to_pfn(m, a + 0x1000), PFN_NONE);
	assert_int_equal(vmalloc_to_pfn(m, b + 0x2000), PFN_NONE);
	assert_true(vmalloc_to_pfn(m, b + 0x1fff) != PFN_NONE);
	assert_int_equal(vmalloc_to_pfn(m, s - 1), PFN_NONE);
	struct strbuf sb;
	strbuf_init(&sb);
	vmallocinfo_show(m, &sb);
	assert_golden("vmallocinfo-i386.txt", sb.buf);
	strbuf_reset(&sb);

	t_vfree(m, b, VM_OK);
	assert_int_equal(t_vmalloc(m, 16384, VM_OK).value, c + 0x3000); /* does not fit the hole */
	assert_int_equal(t_vmalloc(m, 4096, VM_OK).value, b);           /* first fit: the hole */
	assert_int_equal(t_vmalloc(m, 4096, VM_OK).value, c + 0x3000 + 0x5000);
	strbuf_release(&sb);
	machine_destroy(m);
}

/* Backing frames come one by one from the buddy allocator: scattered, not contiguous. */
static void test_frames_are_scattered(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	uint32_t p[4];
	for (int i = 0; i < 4; i++)
		p[i] = t_alloc_pages(m, GFP_KERNEL, 0);
	assert_int_equal(p[0], 0x1000);
	assert_int_equal(p[3], 0x1003);
	t_free_pages(m, p[1], 0);
	t_free_pages(m, p[3], 0);
	struct op_result r = t_vmalloc(m, 3 * PAGE_SIZE, VM_OK);
	uint64_t va = r.value;
	assert_int_equal(va, 0xffffc90000000000ull);
	assert_int_equal(r.value2, 0x1003000); /* physical address of the first page */
	assert_int_equal(vmalloc_to_pfn(m, va), 0x1003);
	assert_int_equal(vmalloc_to_pfn(m, va + 0x1234), 0x1001);
	assert_int_equal(vmalloc_to_pfn(m, va + 0x2000), 0x1004);
	assert_int_equal(m->pa.mem_map[0x1001].flags, PT_VMALLOC | PG_head);
	struct strbuf sb;
	strbuf_init(&sb);
	vmallocinfo_show(m, &sb);
	assert_string_equal(sb.buf, "0xffffc90000000000-0xffffc90000004000   16384 "
	                            "vmsim_op_vmalloc+0x0/0x0 pages=3 vmalloc N0=3\n");
	strbuf_release(&sb);
	uint64_t free_before = nr_free_pages(m);
	struct op_result f = t_vfree(m, va, VM_OK);
	assert_int_equal(f.value2, 3);
	assert_int_equal(nr_free_pages(m), free_before + 3);
	assert_int_equal(vmalloc_to_pfn(m, va), PFN_NONE);
	machine_destroy(m);
}

/* i386 with HighMem: vmalloc takes HighMem frames (they need no direct mapping). */
static void test_i386_uses_highmem(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 1ull << 30);
	uint64_t va = t_vmalloc(m, 64 * PAGE_SIZE, VM_OK).value;
	for (int i = 0; i < 64; i++)
		assert_true(vmalloc_to_pfn(m, va + (uint64_t)i * PAGE_SIZE) >= lowmem_end_pfn(m));
	/* 112 MiB of address space: a 120 MiB area cannot fit even though RAM could hold it. */
	struct op_result r = t_vmalloc(m, 120ull << 20, VM_ENOSPC);
	assert_non_null(strstr(r.msg, "no free range"));
	machine_destroy(m);
}

static void test_bad_input_changes_nothing(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint64_t va = t_vmalloc(m, 2 * PAGE_SIZE, VM_OK).value;
	size_t blen;
	uint8_t *before = t_save(m, &blen);
	t_vmalloc(m, 0, VM_EINVAL);
	t_vmalloc(m, 32ull << 20, VM_EINVAL);                              /* more than RAM */
	struct op_result r = t_vfree(m, 0xffff888000001000ull, VM_EFAULT); /* direct-map address */
	assert_non_null(strstr(r.msg, "not a vmalloc address"));
	r = t_vfree(m, va + 0x10000, VM_ENOENT);
	assert_non_null(strstr(r.msg, "nonexistent vm area"));
	t_vfree(m, va + 0x1000, VM_EINVAL); /* inside the area */
	t_vfree(m, va + 0x2000, VM_EINVAL); /* its guard page */
	assert_unchanged(m, before, blen);
	/* As much as RAM holds: more than is free above the watermarks. vmalloc records why
	 * (EV_VMALLOC_FAIL), so the failure is journaled; no frame and no area changed. */
	uint64_t seq = machine_seq(m);
	char *buddy = t_view(m, "/proc/buddyinfo"), *areas = t_view(m, "/proc/vmallocinfo");
	r = t_vmalloc(m, m->pa.totalram_pages * PAGE_SIZE, VM_ENOMEM);
	assert_non_null(strstr(r.msg, "min watermarks"));
	assert_failed_with_work(m, &r, seq);
	char *buddy_now = t_view(m, "/proc/buddyinfo"), *areas_now = t_view(m, "/proc/vmallocinfo");
	assert_string_equal(buddy_now, buddy);
	assert_string_equal(areas_now, areas);
	free(buddy);
	free(areas);
	free(buddy_now);
	free(areas_now);
	t_vfree(m, 0, VM_OK); /* vfree(NULL) is a no-op */
	t_vfree(m, va, VM_OK);
	t_vfree(m, va, VM_ENOENT); /* double vfree */
	free(before);
	machine_destroy(m);
}

/* The kernel-internal API, as map_driver uses it. */
static void test_kernel_api(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint64_t a = __vmalloc_caller(m, 10000, "map_driver_open");
	assert_int_equal(a, 0xffffc90000000000ull);
	assert_non_null(find_vmap_area(m, a + 0x2fff));
	assert_null(find_vmap_area(m, a + 0x4000));
	assert_int_equal(vmalloc(m, 0), 0);
	uint64_t b = vmalloc(m, 1);
	assert_int_equal(b, a + 0x4000);
	struct strbuf sb;
	strbuf_init(&sb);
	vmallocinfo_show(m, &sb);
	assert_string_equal(sb.buf, "0xffffc90000000000-0xffffc90000004000   16384 "
	                            "map_driver_open+0x0/0x0 pages=3 vmalloc N0=3\n"
	                            "0xffffc90000004000-0xffffc90000006000    8192 "
	                            "vmalloc+0x0/0x0 pages=1 vmalloc N0=1\n");
	strbuf_release(&sb);
	vfree(m, a);
	vfree(m, a); /* ignored: no such area any more */
	assert_int_equal(m->vmalloc.nr_areas, 1);
	assert_machine_ok(m);
	machine_destroy(m);
}

static void test_snapshot_with_areas(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 32ull << 20);
	uint64_t keep[20];
	for (int i = 0; i < 20; i++)
		keep[i] = t_vmalloc(m, (uint64_t)(i % 5 + 1) * PAGE_SIZE, VM_OK).value;
	for (int i = 0; i < 20; i += 3)
		t_vfree(m, keep[i], VM_OK);
	size_t alen, blen;
	uint8_t *a = t_save(m, &alen);
	char err[256];
	struct machine *copy = machine_load(a, alen, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	uint8_t *b = t_save(copy, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(t_vmalloc(copy, 3 * PAGE_SIZE, VM_OK).value,
	                 t_vmalloc(m, 3 * PAGE_SIZE, VM_OK).value);
	assert_int_equal(vmalloc_to_pfn(copy, keep[1]), vmalloc_to_pfn(m, keep[1]));
	free(a);
	free(b);
	machine_destroy(copy);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranges_per_arch),
	    cmocka_unit_test(test_addresses_and_guard_gaps),
	    cmocka_unit_test(test_frames_are_scattered),
	    cmocka_unit_test(test_i386_uses_highmem),
	    cmocka_unit_test(test_bad_input_changes_nothing),
	    cmocka_unit_test(test_kernel_api),
	    cmocka_unit_test(test_snapshot_with_areas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
