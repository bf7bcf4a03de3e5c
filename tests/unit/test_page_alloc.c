/* Buddy allocator: exact free-list counts after known split and merge sequences. */
#include "helpers.h"

static void test_boot_layout_x86_64(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	struct strbuf sb;
	strbuf_init(&sb);
	buddyinfo_show(m, &sb);
	assert_string_equal(sb.buf, "Node 0, zone      DMA      0      0      0      0      1      "
	                            "2      1      0      0      0      3 \n"
	                            "Node 0, zone    DMA32      0      0      0      0      0      "
	                            "0      0      0      0      0     12 \n");
	assert_int_equal(m->pa.zones[ZONE_DMA].managed_pages, 3216);
	assert_int_equal(m->pa.zones[ZONE_DMA32].managed_pages, 12288);
	assert_int_equal(m->pa.zones[ZONE_DMA32].watermark[WMARK_MIN], 197);
	assert_int_equal(m->pa.zones[ZONE_DMA32].watermark[WMARK_LOW], 246);
	assert_int_equal(m->pa.zones[ZONE_DMA32].watermark[WMARK_HIGH], 295);
	strbuf_release(&sb);
	machine_destroy(m);
}

/* Order 0 from a machine whose smallest free block is order 10 splits it ten times. */
static void test_split_and_merge(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	struct zone *z = &m->pa.zones[ZONE_DMA32];
	uint32_t pfn = t_alloc_pages(m, GFP_KERNEL, 0);
	assert_int_equal(pfn, 0x1000);
	for (int o = 0; o < 10; o++)
		assert_int_equal(z->free_area[o].nr_free, 1);
	assert_int_equal(z->free_area[10].nr_free, 11);
	uint32_t pfn2 = t_alloc_pages(m, GFP_KERNEL, 0);
	assert_int_equal(pfn2, 0x1001); /* the buddy split off first, from the head of order 0 */
	assert_int_equal(z->free_area[0].nr_free, 0);
	t_free_pages(m, pfn, 0);
	t_free_pages(m, pfn2, 0); /* merges all the way back up to order 10 */
	for (int o = 0; o < 10; o++)
		assert_int_equal(z->free_area[o].nr_free, 0);
	assert_int_equal(z->free_area[10].nr_free, 12);
	machine_destroy(m);
}

static void test_bad_frees_change_nothing(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 32ull << 20);
	uint32_t pfn = t_alloc_pages(m, GFP_KERNEL, 2);
	uint64_t seq = machine_seq(m);
	struct op op = {.kind = OP_FREE_PAGES};
	op.u.free_pages.pfn = pfn;
	op.u.free_pages.order = 1;
	struct op_result r = apply_expect(m, &op, VM_EINVAL); /* wrong order */
	assert_non_null(strstr(r.msg, "order 2"));
	op.u.free_pages.pfn = pfn + 1;
	op.u.free_pages.order = 2;
	apply_expect(m, &op, VM_EINVAL); /* tail page */
	op.u.free_pages.pfn = 1u << 30;
	apply_expect(m, &op, VM_EINVAL); /* beyond RAM */
	op.u.free_pages.pfn = pfn;
	apply_expect(m, &op, VM_OK);
	r = apply_expect(m, &op, VM_EINVAL); /* double free */
	assert_non_null(strstr(r.msg, "double free"));
	assert_int_equal(machine_seq(m), seq + 1);
	op.kind = OP_ALLOC_PAGES;
	op.u.alloc_pages.order = 11;
	apply_expect(m, &op, VM_EINVAL);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_boot_layout_x86_64),
	    cmocka_unit_test(test_split_and_merge),
	    cmocka_unit_test(test_bad_frees_change_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
