/* Slab allocator and kmalloc: exact geometry, slab counts, list moves, errors, slabinfo text. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

#define DIRECT_MAP 0xffff888000000000ull

static struct op cache_op(enum op_kind kind, const char *name, uint64_t addr)
{
	struct op op = {.kind = kind};
	snprintf(op.u.cache.name, sizeof(op.u.cache.name), "%s", name);
	op.u.cache.addr = addr;
	return op;
}

static struct op_result t_cache_create(struct machine *m, const char *name, uint32_t size,
                                       uint32_t align, enum vm_err want)
{
	struct op op = {.kind = OP_KMEM_CACHE_CREATE};
	snprintf(op.u.cache_create.name, sizeof(op.u.cache_create.name), "%s", name);
	op.u.cache_create.size = size;
	op.u.cache_create.align = align;
	return apply_expect(m, &op, want);
}

static uint64_t t_cache_alloc(struct machine *m, const char *name)
{
	struct op op = cache_op(OP_KMEM_CACHE_ALLOC, name, 0);
	return apply_expect(m, &op, VM_OK).value;
}

static void t_cache_free(struct machine *m, const char *name, uint64_t addr, enum vm_err want)
{
	struct op op = cache_op(OP_KMEM_CACHE_FREE, name, addr);
	apply_expect(m, &op, want);
}

static struct op_result t_kmalloc(struct machine *m, uint64_t size, uint32_t gfp, enum vm_err want)
{
	struct op op = {.kind = OP_KMALLOC};
	op.u.kmalloc.size = size;
	op.u.kmalloc.gfp = gfp;
	return apply_expect(m, &op, want);
}

static struct op_result t_kfree(struct machine *m, uint64_t addr, enum vm_err want)
{
	struct op op = {.kind = OP_KFREE};
	op.u.kfree.addr = addr;
	return apply_expect(m, &op, want);
}

static const struct kmem_cache *cache(const struct machine *m, const char *name)
{
	const struct kmem_cache *c = kmem_cache_get(m, kmem_cache_lookup(m, name));
	assert_non_null(c);
	return c;
}

static uint64_t nr_slabs(const struct kmem_cache *c)
{
	return c->slabs_full.nr + c->slabs_partial.nr + c->slabs_free.nr;
}

/* SLUB's calculate_order() for one CPU, against the numbers a kernel shows in slabinfo. */
static void test_calculate_order(void **state)
{
	(void)state;
	static const struct {
		uint32_t size;
		unsigned order, objects;
	} want[] = {
	    {8, 0, 512},  {16, 0, 256}, {32, 0, 128},  {64, 0, 64},   {96, 0, 42},    {128, 0, 32},
	    {192, 0, 21}, {256, 0, 16}, {512, 0, 8},   {1024, 1, 8},  {2048, 2, 8},   {4096, 3, 8},
	    {8192, 3, 4}, {104, 0, 39}, {176, 0, 23},  {1344, 2, 12}, {704, 1, 11},   {600, 1, 13},
	    {7808, 3, 4}, {320, 0, 12}, {2496, 3, 13}, {16384, 3, 2}, {131072, 5, 1}, {3000, 3, 10},
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		unsigned order = slab_calculate_order(want[i].size);
		assert_int_equal(order, want[i].order);
		assert_int_equal((PAGE_SIZE << order) / want[i].size, want[i].objects);
	}
	assert_int_equal(kmalloc_size_class(1), 8);
	assert_int_equal(kmalloc_size_class(9), 16);
	assert_int_equal(kmalloc_size_class(65), 96);
	assert_int_equal(kmalloc_size_class(97), 128);
	assert_int_equal(kmalloc_size_class(129), 192);
	assert_int_equal(kmalloc_size_class(193), 256);
	assert_int_equal(kmalloc_size_class(8192), 8192);
	assert_int_equal(kmalloc_size_class(8193), 0);
}

static void test_boot_caches_and_slabinfo(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	assert_int_equal(kmem_cache_lookup(m, "task_struct"), KMEM_TASK_STRUCT);
	assert_int_equal(kmem_cache_lookup(m, "buffer_head"), KMEM_BUFFER_HEAD);
	assert_int_equal(kmem_cache_lookup(m, "no-such-cache"), -1);
	const struct kmem_cache *vma = cache(m, "vm_area_struct");
	assert_int_equal(vma->size, 176);
	assert_int_equal(vma->objects, 23);
	assert_int_equal(cache(m, "kmalloc-8k")->order, 3);
	struct strbuf sb;
	strbuf_init(&sb);
	slabinfo_show(m, &sb);
	assert_golden("slabinfo-boot.txt", sb.buf);
	strbuf_release(&sb);
	machine_destroy(m);
}

/* 40 objects of 104 bytes: 39 per order-0 slab, so one full slab and one with 1 in use. */
static void test_cache_alloc_fills_slabs(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	struct op_result r = t_cache_create(m, "test-100", 100, 0, VM_OK);
	assert_int_equal(r.value, KMEM_NR_BUILTIN + 13);
	assert_int_equal(r.value2, 39);
	const struct kmem_cache *c = cache(m, "test-100");
	assert_int_equal(c->size, 104);
	assert_int_equal(c->order, 0);
	assert_int_equal(c->min_partial, 5);
	uint64_t obj[40];
	for (int i = 0; i < 40; i++)
		obj[i] = t_cache_alloc(m, "test-100");
	/* A fresh machine hands out low pfns first: DMA32 from pfn 0x1000 on x86_64 64 MiB. */
	assert_int_equal(obj[0], DIRECT_MAP + 0x1000000);
	for (int i = 1; i < 39; i++)
		assert_int_equal(obj[i], obj[0] + 104ull * (uint64_t)i);
	assert_int_equal(obj[39], DIRECT_MAP + 0x1001000);
	assert_int_equal(c->slabs_full.nr, 1);
	assert_int_equal(c->slabs_partial.nr, 1);
	assert_int_equal(c->slabs_free.nr, 0);
	assert_int_equal(c->active_objs, 40);
	assert_int_equal(ksize(m, obj[5]), 104);

	/* Freeing from the full slab moves it to the tail of the partial list. */
	t_cache_free(m, "test-100", obj[3], VM_OK);
	assert_int_equal(c->slabs_full.nr, 0);
	assert_int_equal(c->slabs_partial.nr, 2);
	assert_int_equal(c->slabs_partial.tail, 0x1000);
	/* The head of the partial list (the second slab) serves the next allocation. */
	assert_int_equal(t_cache_alloc(m, "test-100"), DIRECT_MAP + 0x1001000 + 104);
	/* Emptying a slab keeps it on the free list (fewer than min_partial kept). */
	t_cache_free(m, "test-100", obj[39], VM_OK);
	t_cache_free(m, "test-100", DIRECT_MAP + 0x1001000 + 104, VM_OK);
	assert_int_equal(c->slabs_free.nr, 1);
	assert_int_equal(c->slabs_free.head, 0x1001);
	assert_int_equal(m->pa.mem_map[0x1001].flags & PG_TYPE_MASK, PT_SLAB);

	struct strbuf sb;
	strbuf_init(&sb);
	slabinfo_show(m, &sb);
	const char *line = strstr(sb.buf, "\ntest-100");
	assert_non_null(line);
	const char *want = "test-100              38     78    104   39    1 : tunables    0    0 "
	                   "   0 : slabdata      2      2      0\n";
	assert_memory_equal(line + 1, want, strlen(want));
	strbuf_release(&sb);
	machine_destroy(m);
}

/* Seven full slabs freed object by object: five stay as empty slabs, two go back. */
static void test_empty_slabs_kept_up_to_min_partial(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	t_cache_create(m, "test-100", 100, 0, VM_OK);
	const struct kmem_cache *c = cache(m, "test-100");
	uint64_t free_before = nr_free_pages(m);
	uint64_t obj[7 * 39];
	for (int i = 0; i < 7 * 39; i++)
		obj[i] = t_cache_alloc(m, "test-100");
	assert_int_equal(c->slabs_full.nr, 7);
	assert_int_equal(nr_free_pages(m), free_before - 7);
	for (int i = 0; i < 7 * 39; i++)
		t_cache_free(m, "test-100", obj[i], VM_OK);
	assert_int_equal(c->slabs_free.nr, 5);
	assert_int_equal(nr_slabs(c), 5);
	assert_int_equal(c->active_objs, 0);
	assert_int_equal(nr_free_pages(m), free_before - 5);
	struct op op = cache_op(OP_KMEM_CACHE_SHRINK, "test-100", 0);
	assert_int_equal(apply_expect(m, &op, VM_OK).value, 5);
	assert_int_equal(nr_slabs(c), 0);
	assert_int_equal(nr_free_pages(m), free_before);
	op = cache_op(OP_KMEM_CACHE_DESTROY, "test-100", 0);
	apply_expect(m, &op, VM_OK);
	assert_int_equal(kmem_cache_lookup(m, "test-100"), -1);
	/* The id is reused by the next cache. */
	assert_int_equal(t_cache_create(m, "again", 64, 64, VM_OK).value, KMEM_NR_BUILTIN + 13);
	machine_destroy(m);
}

static void test_cache_errors_change_nothing(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 32ull << 20);
	t_cache_create(m, "mine", 200, 0, VM_OK);
	t_cache_create(m, "other", 200, 0, VM_OK);
	uint64_t a = t_cache_alloc(m, "mine");
	size_t blen;
	uint8_t *before = t_save(m, &blen);

	t_cache_create(m, "mine", 64, 0, VM_EEXIST);
	t_cache_create(m, "", 64, 0, VM_EINVAL);
	t_cache_create(m, "has space", 64, 0, VM_EINVAL);
	t_cache_create(m, "zero", 0, 0, VM_EINVAL);
	t_cache_create(m, "huge", KMALLOC_MAX_SIZE + 1, 0, VM_EINVAL);
	t_cache_create(m, "align3", 64, 3, VM_EINVAL);
	t_cache_create(m, "align8k", 64, 8192, VM_EINVAL);
	struct op op = cache_op(OP_KMEM_CACHE_ALLOC, "nope", 0);
	apply_expect(m, &op, VM_ENOENT);
	op = cache_op(OP_KMEM_CACHE_DESTROY, "mine", 0);
	struct op_result r = apply_expect(m, &op, VM_EBUSY);
	assert_non_null(strstr(r.msg, "1 objects are still allocated"));
	op = cache_op(OP_KMEM_CACHE_DESTROY, "task_struct", 0);
	apply_expect(m, &op, VM_EPERM);
	op = cache_op(OP_KMEM_CACHE_DESTROY, "kmalloc-64", 0);
	apply_expect(m, &op, VM_EPERM);
	t_cache_free(m, "other", a, VM_EINVAL);      /* wrong cache */
	t_cache_free(m, "mine", a + 8, VM_EFAULT);   /* not the start of an object */
	t_cache_free(m, "mine", a + 200, VM_EINVAL); /* object 1 is free: double free */
	t_cache_free(m, "mine", 0x1000, VM_EFAULT);  /* user address */
	assert_unchanged(m, before, blen);
	t_cache_free(m, "mine", a, VM_OK);
	t_cache_free(m, "mine", a, VM_EINVAL); /* double free */
	free(before);
	machine_destroy(m);
}

static void test_kmalloc_classes_and_large(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	static const struct {
		uint64_t size;
		const char *cache;
	} want[] = {{1, "kmalloc-8"},     {8, "kmalloc-8"},     {9, "kmalloc-16"},
	            {65, "kmalloc-96"},   {96, "kmalloc-96"},   {97, "kmalloc-128"},
	            {129, "kmalloc-192"}, {193, "kmalloc-256"}, {1000, "kmalloc-1k"},
	            {4097, "kmalloc-8k"}, {8192, "kmalloc-8k"}};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		const struct kmem_cache *c = cache(m, want[i].cache);
		uint64_t before = c->active_objs;
		uint64_t addr = t_kmalloc(m, want[i].size, GFP_KERNEL, VM_OK).value;
		assert_int_equal(c->active_objs, before + 1);
		assert_int_equal(ksize(m, addr), c->size);
	}
	/* Above 8 KiB: whole buddy blocks, PT_KMALLOC. */
	uint64_t free_before = nr_free_pages(m);
	struct op_result r = t_kmalloc(m, 8193, GFP_KERNEL, VM_OK);
	assert_int_equal(ksize(m, r.value), 16384);
	assert_int_equal(m->pa.mem_map[r.value2 >> PAGE_SHIFT].flags, PT_KMALLOC | PG_head);
	assert_int_equal(nr_free_pages(m), free_before - 4);
	uint64_t big = t_kmalloc(m, KMALLOC_MAX_SIZE, GFP_ATOMIC, VM_OK).value;
	assert_int_equal(ksize(m, big), 131072);
	assert_int_equal(m->slab.kmalloc_large_pages, 36);
	t_kfree(m, big + PAGE_SIZE, VM_EFAULT); /* inside the block */
	t_kfree(m, big + 8, VM_EFAULT);
	t_kfree(m, big, VM_OK);
	t_kfree(m, big, VM_EFAULT); /* now a free page: not an allocation */
	t_kfree(m, r.value, VM_OK);
	assert_int_equal(nr_free_pages(m), free_before);
	assert_int_equal(m->slab.kmalloc_large_pages, 0);
	machine_destroy(m);
}

static void test_kmalloc_bad_input(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 64ull << 20);
	uint64_t a = t_kmalloc(m, 100, GFP_KERNEL, VM_OK).value;
	size_t blen;
	uint8_t *before = t_save(m, &blen);
	t_kmalloc(m, 0, GFP_KERNEL, VM_EINVAL);
	struct op_result r = t_kmalloc(m, KMALLOC_MAX_SIZE + 1, GFP_KERNEL, VM_EINVAL);
	assert_non_null(strstr(r.msg, "vmalloc"));
	t_kmalloc(m, 64, GFP_HIGHUSER, VM_EINVAL); /* slab memory is lowmem */
	t_kmalloc(m, 64, GFP_DMA, VM_EINVAL);
	t_kmalloc(m, 64, 0x8000, VM_EINVAL);
	t_kfree(m, 0x08048000, VM_EFAULT);  /* a user address */
	t_kfree(m, 0xC0000000, VM_EFAULT);  /* pfn 0: reserved */
	t_kfree(m, 0xC3F00000, VM_EFAULT);  /* a free page */
	t_kfree(m, a + 1, VM_EFAULT);       /* not an object start */
	r = t_kfree(m, a + 128, VM_EINVAL); /* a free object of kmalloc-128 */
	if (!strstr(r.msg, "double free"))
		fail_msg("%s", r.msg);
	assert_unchanged(m, before, blen);
	uint64_t seq = machine_seq(m);
	t_kfree(m, 0, VM_OK); /* kfree(NULL) is a no-op */
	assert_int_equal(machine_seq(m), seq + 1);
	t_kfree(m, a, VM_OK);
	r = t_kfree(m, a, VM_EINVAL);
	assert_non_null(strstr(r.msg, "double free"));
	free(before);
	machine_destroy(m);
}

/* i386 with HighMem: slab frames come from lowmem even when HighMem is free. */
static void test_i386_slabs_stay_in_lowmem(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 1ull << 30);
	uint64_t low = lowmem_end_pfn(m);
	for (int i = 0; i < 64; i++) {
		struct op_result r = t_kmalloc(m, 8192, GFP_KERNEL, VM_OK);
		assert_true(r.value >= 0xC0000000ull && r.value < 0xF8000000ull);
		assert_true((r.value2 >> PAGE_SHIFT) < low);
	}
	machine_destroy(m);
}

/* A small machine runs out: the failing op leaves everything as it was. */
static void test_out_of_memory(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 4ull << 20);
	int n = 0;
	struct op op = {.kind = OP_KMALLOC};
	op.u.kmalloc.size = 8192;
	struct op_result r;
	while (machine_apply(m, &op, &r) == VM_OK)
		n++;
	assert_int_equal(r.err, VM_ENOMEM);
	assert_true(n > 100);
	/* The failure that ended the loop tried alloc_pages for a new slab: it is journaled. */
	assert_int_not_equal(r.seq, 0);
	char *slabinfo = t_view(m, "/proc/slabinfo");
	struct op big = {.kind = OP_KMALLOC};
	big.u.kmalloc.size = 65536;
	const struct op *again[] = {&op, &big};
	for (int i = 0; i < 2; i++) {
		size_t blen;
		uint8_t *before = t_save(m, &blen);
		uint64_t seq = machine_seq(m);
		r = apply_expect(m, again[i], VM_ENOMEM);
		assert_failed_with_work(m, &r, seq);
		assert_replays(before, blen, again[i], m);
		free(before);
	}
	char *now = t_view(m, "/proc/slabinfo");
	assert_string_equal(now, slabinfo);
	assert_int_equal(cache(m, "kmalloc-8k")->active_objs, n);
	free(now);
	free(slabinfo);
	machine_destroy(m);
}

static void test_events_tell_the_story(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	struct op_result r = t_kmalloc(m, 100, GFP_KERNEL, VM_OK);
	struct strbuf sb;
	strbuf_init(&sb);
	for (uint64_t id = r.first_event; id <= r.last_event; id++) {
		event_render(event_get(m, id), &sb);
		strbuf_adds(&sb, "\n");
	}
	assert_non_null(strstr(sb.buf, "kmalloc: 100 bytes served by kmalloc-128\n"));
	assert_non_null(strstr(sb.buf, "allocate_slab: kmalloc-128: no partial or empty slab, new "
	                               "slab via alloc_pages(order 0) at pfn 0x1000 with 32 "
	                               "objects\n"));
	assert_non_null(strstr(sb.buf, "kmem_cache_alloc: kmalloc-128: object 0 of the slab at pfn "
	                               "0x1000 -> 0xffff888001000000\n"));
	strbuf_reset(&sb);
	r = t_kmalloc(m, 100, GFP_KERNEL, VM_OK);
	event_render(event_get(m, r.first_event + 1), &sb);
	assert_string_equal(sb.buf, "___slab_alloc: kmalloc-128: slab at pfn 0x1000 from the "
	                            "partial list (1 of 32 objects in use)");
	strbuf_release(&sb);
	machine_destroy(m);
}

static void test_snapshot_with_slabs(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	t_cache_create(m, "snap-cache", 300, 32, VM_OK);
	uint64_t keep[50];
	for (int i = 0; i < 50; i++) {
		keep[i] = t_cache_alloc(m, "snap-cache");
		t_kmalloc(m, 16ull << (i % 10), GFP_KERNEL, VM_OK);
	}
	for (int i = 0; i < 50; i += 3)
		t_cache_free(m, "snap-cache", keep[i], VM_OK);
	t_kmalloc(m, 100000, GFP_KERNEL, VM_OK);
	size_t alen, blen;
	uint8_t *a = t_save(m, &alen);
	char err[256];
	struct machine *copy = machine_load(a, alen, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	uint8_t *b = t_save(copy, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(t_cache_alloc(copy, "snap-cache"), t_cache_alloc(m, "snap-cache"));
	struct strbuf s1, s2;
	strbuf_init(&s1);
	strbuf_init(&s2);
	slabinfo_show(m, &s1);
	slabinfo_show(copy, &s2);
	assert_string_equal(s1.buf, s2.buf);
	strbuf_release(&s1);
	strbuf_release(&s2);
	free(a);
	free(b);
	machine_destroy(copy);
	machine_destroy(m);
}

/* The cache table grows past its first 32 ids up to KMEM_CACHES_MAX, then says no. */
static void test_many_caches(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	char name[NAME_LEN];
	uint32_t first = KMEM_NR_BUILTIN + 13;
	for (uint32_t i = first; i < KMEM_CACHES_MAX; i++) {
		snprintf(name, sizeof(name), "many-%u", i);
		assert_int_equal(t_cache_create(m, name, 8 + i, 0, VM_OK).value, i);
	}
	struct op_result r = t_cache_create(m, "one-too-many", 64, 0, VM_ENOSPC);
	assert_non_null(strstr(r.msg, "at most 256"));
	/* 16 MiB is all ZONE_DMA: the first free frame is pfn 0x10, after the first 64 KiB. */
	assert_int_equal(t_cache_alloc(m, "many-200"), 0xffff888000010000ull);
	size_t alen, blen;
	uint8_t *a = t_save(m, &alen);
	char err[256];
	struct machine *copy = machine_load(a, alen, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	uint8_t *b = t_save(copy, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(kmem_cache_lookup(copy, "many-255"), 255);
	free(a);
	free(b);
	machine_destroy(copy);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_calculate_order),
	    cmocka_unit_test(test_boot_caches_and_slabinfo),
	    cmocka_unit_test(test_cache_alloc_fills_slabs),
	    cmocka_unit_test(test_empty_slabs_kept_up_to_min_partial),
	    cmocka_unit_test(test_cache_errors_change_nothing),
	    cmocka_unit_test(test_kmalloc_classes_and_large),
	    cmocka_unit_test(test_kmalloc_bad_input),
	    cmocka_unit_test(test_i386_slabs_stay_in_lowmem),
	    cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_events_tell_the_story),
	    cmocka_unit_test(test_snapshot_with_slabs),
	    cmocka_unit_test(test_many_caches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
