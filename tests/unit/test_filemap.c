/* Page cache: files read through the cache, second reads hit, writes dirty, sync, drop_caches. */
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

static uint32_t file_create(struct machine *m, const char *name, uint64_t size)
{
	struct op op = {.kind = OP_FILE_CREATE};
	snprintf(op.u.file_create.name, NAME_LEN, "%s", name);
	op.u.file_create.size = size;
	return (uint32_t)apply_expect(m, &op, VM_OK).value;
}

static struct op_result file_io(struct machine *m, enum op_kind k, uint32_t ino, uint64_t off,
                                uint64_t len, enum vm_err want)
{
	struct op op = {.kind = k};
	op.u.file_io.ino = ino;
	op.u.file_io.offset = off;
	op.u.file_io.len = len;
	return apply_expect(m, &op, want);
}

static uint64_t drop_caches(struct machine *m, uint32_t mode)
{
	struct op op = {.kind = OP_DROP_CACHES};
	op.u.reclaim.mode = mode;
	return apply_expect(m, &op, VM_OK).value;
}

static void test_read_twice_hits_the_cache(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	uint32_t ino = file_create(m, "/data/big", 8ull << 20);
	assert_int_equal(ino, FILE_FIRST_INO);
	/* creating the file read its inode block into the buffer cache */
	assert_int_equal(m->filemap.bdev.nrpages, 1);
	uint64_t free0 = nr_free_pages(m);
	struct op_result r = file_io(m, OP_FILE_READ, ino, 0, 8ull << 20, VM_OK);
	assert_int_equal(r.value, 8ull << 20);
	assert_int_equal(r.major, 2048); /* every page read from disk */
	assert_int_equal(r.value2, 0);
	/* 2048 data pages + 2 indirect blocks (pages 12.. and 1036..) */
	assert_int_equal(m->filemap.files[0].nrpages, 2048);
	assert_int_equal(nr_blockdev_pages(m), 3);
	assert_int_equal(free0 - nr_free_pages(m), 2050);
	assert_int_equal(vm_event(m, PGPGIN), (2048 + 2 + 1) * 4); /* KiB, incl. the inode */
	r = file_io(m, OP_FILE_READ, ino, 0, 8ull << 20, VM_OK);
	assert_int_equal(r.major, 0);
	assert_int_equal(r.value2, 2048); /* all hits */
	assert_int_equal(vm_event(m, PGPGIN), (2048 + 3) * 4);
	/* read twice: the second mark_page_accessed activated every page */
	assert_int_equal(m->vmscan.lru[LRU_ACTIVE_FILE].nr, 2048 + 3);
	/* the inode block is still dirty from the create: drop_caches keeps it */
	assert_int_equal(drop_caches(m, 1), 2050);
	assert_int_equal(nr_free_pages(m), free0);
	assert_int_equal(m->filemap.nr_dirty, 1);
	assert_int_equal(vm_event(m, DROP_PAGECACHE), 1);
	machine_destroy(m);
}

static void test_short_read_at_eof(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t ino = file_create(m, "/f", 5000);
	struct op_result r = file_io(m, OP_FILE_READ, ino, 4000, 10000, VM_OK);
	assert_int_equal(r.value, 1000);
	assert_int_equal(r.major, 2);
	r = file_io(m, OP_FILE_READ, ino, 6000, 10, VM_OK);
	assert_int_equal(r.value, 0);
	machine_destroy(m);
}

static void test_write_dirties_and_sync_cleans(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	uint32_t ino = file_create(m, "/log", 0);
	struct op_result r = file_io(m, OP_FILE_WRITE, ino, 0, 40960, VM_OK);
	assert_int_equal(r.value, 40960);
	assert_int_equal(r.major, 0); /* new data needs no read */
	assert_int_equal(filemap_file_size(m, ino), 40960);
	/* 10 data pages + the inode block */
	assert_int_equal(m->filemap.nr_dirty, 11);
	/* a partial overwrite of existing data reads the page first */
	drop_caches(m, 1); /* dirty pages stay */
	assert_int_equal(m->filemap.files[0].nrpages, 10);
	file_io(m, OP_FILE_SYNC, ino, 0, 0, VM_OK);
	assert_int_equal(m->filemap.nr_dirty, 0);
	assert_int_equal(vm_event(m, PGPGOUT), 11 * 4);
	assert_int_equal(drop_caches(m, 3), 11);
	r = file_io(m, OP_FILE_WRITE, ino, 100, 10, VM_OK);
	assert_int_equal(r.major, 1);
	r = file_io(m, OP_FILE_WRITE, ino, 8192, 4096, VM_OK);
	assert_int_equal(r.major, 0); /* whole page overwritten */
	struct op op = {.kind = OP_FILE_SYNC};
	assert_int_equal(apply_expect(m, &op, VM_OK).value, 3);
	machine_destroy(m);
}

static void test_reading_more_than_ram_reclaims_old_pages(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	uint32_t ino = file_create(m, "/huge", 64ull << 20);
	struct op_result r = file_io(m, OP_FILE_READ, ino, 0, 64ull << 20, VM_OK);
	assert_int_equal(r.value, 64ull << 20);
	assert_int_equal(r.fault, FAULT_NONE);
	assert_true(vm_event(m, PGSTEAL_KSWAPD) + vm_event(m, PGSTEAL_DIRECT) > 8000);
	assert_true(vm_event(m, PGSCAN_FILE) >= vm_event(m, PGSTEAL_FILE));
	/* the start of the file was evicted: reading it again goes to disk */
	r = file_io(m, OP_FILE_READ, ino, 0, 4096, VM_OK);
	assert_int_equal(r.major, 1);
	machine_destroy(m);
}

static void test_delete_frees_cache(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint64_t free0 = nr_free_pages(m);
	uint32_t ino = file_create(m, "/tmp/x", 1 << 20);
	file_io(m, OP_FILE_WRITE, ino, 0, 1 << 20, VM_OK);
	file_io(m, OP_FILE_DELETE, ino, 0, 0, VM_OK);
	assert_int_equal(nr_free_pages(m), free0);
	assert_int_equal(m->filemap.nr_dirty, 0);
	assert_null(filemap_file_name(m, ino));
	/* the inode number is reused like ext4's lowest free inode */
	assert_int_equal(file_create(m, "/tmp/y", 0), ino);
	machine_destroy(m);
}

static void test_fault_api(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	uint32_t ino = file_create(m, "/lib/libc.so", 3 * 4096);
	int major;
	uint32_t pfn = filemap_fault(m, ino, 1, &major);
	assert_int_not_equal(pfn, PFN_NONE);
	assert_int_equal(major, 1);
	assert_int_equal(m->pa.mem_map[pfn].refcount, 2);
	assert_int_equal(filemap_fault(m, ino, 1, &major), pfn);
	assert_int_equal(major, 0);
	assert_int_equal(filemap_fault(m, ino, 3, &major), PFN_NONE); /* beyond EOF: SIGBUS */
	assert_int_equal(filemap_fault(m, 99, 0, &major), PFN_NONE);
	assert_string_equal(filemap_file_name(m, ino), "/lib/libc.so");
	assert_int_equal(filemap_file_size(m, ino), 3 * 4096);
	assert_int_equal(filemap_file_size(m, 99), -1);
	/* a mapped page survives drop_caches and blocks unlink */
	drop_caches(m, 1);
	assert_int_equal(m->filemap.files[0].nrpages, 1);
	file_io(m, OP_FILE_DELETE, ino, 0, 0, VM_EBUSY);
	m->pa.mem_map[pfn].refcount -= 2; /* as the two unmaps would */
	assert_machine_ok(m);
	machine_destroy(m);
}

static void test_bad_input(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	struct op op = {.kind = OP_FILE_CREATE};
	op.u.file_create.size = 1;
	struct op_result r = apply_expect(m, &op, VM_EINVAL); /* empty name */
	assert_non_null(strstr(r.msg, "absolute path"));
	snprintf(op.u.file_create.name, NAME_LEN, "relative");
	apply_expect(m, &op, VM_EINVAL);
	snprintf(op.u.file_create.name, NAME_LEN, "/x");
	op.u.file_create.size = FILE_MAX_BYTES + 1;
	apply_expect(m, &op, VM_EINVAL);
	op.u.file_create.size = 10;
	apply_expect(m, &op, VM_OK);
	apply_expect(m, &op, VM_EEXIST);
	file_io(m, OP_FILE_READ, 99, 0, 1, VM_ENOENT);
	file_io(m, OP_FILE_READ, BDEV_INO, 0, 1, VM_ENOENT);
	file_io(m, OP_FILE_READ, FILE_FIRST_INO, 0, 0, VM_EINVAL);
	file_io(m, OP_FILE_WRITE, FILE_FIRST_INO, FILE_MAX_BYTES, 1, VM_EINVAL);
	file_io(m, OP_FILE_SYNC, 77, 0, 0, VM_ENOENT);
	file_io(m, OP_FILE_DELETE, 77, 0, 0, VM_ENOENT);
	op.kind = OP_DROP_CACHES;
	op.u.reclaim.mode = 4;
	apply_expect(m, &op, VM_EINVAL);
	op.u.reclaim.mode = 0;
	apply_expect(m, &op, VM_EINVAL);
	op.kind = OP_TICK;
	op.u.tick.n = 0;
	apply_expect(m, &op, VM_EINVAL);
	op.kind = OP_SET_SWAPPINESS;
	op.u.sysctl.value = 201;
	apply_expect(m, &op, VM_EINVAL);
	op.u.sysctl.value = 0;
	apply_expect(m, &op, VM_OK);
	op.kind = OP_RECLAIM;
	op.u.reclaim.nr_pages = 0;
	apply_expect(m, &op, VM_EINVAL);
	assert_int_equal(machine_seq(m), 2);
	machine_destroy(m);
}

static void test_snapshot_roundtrip(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 16ull << 20);
	uint32_t a = file_create(m, "/a", 3 << 20);
	uint32_t b = file_create(m, "/b", 0);
	file_io(m, OP_FILE_READ, a, 0, 1 << 20, VM_OK);
	file_io(m, OP_FILE_WRITE, b, 4096, 100000, VM_OK);
	file_io(m, OP_FILE_DELETE, a, 0, 0, VM_OK);
	uint8_t *x, *y;
	size_t xl, yl;
	char err[256];
	assert_int_equal(machine_save(m, &x, &xl), 0);
	struct machine *c = machine_load(x, xl, err, sizeof(err));
	if (!c)
		fail_msg("load: %s", err);
	assert_machine_ok(c);
	assert_int_equal(machine_save(c, &y, &yl), 0);
	assert_int_equal(xl, yl);
	assert_memory_equal(x, y, xl);
	free(x);
	free(y);
	machine_destroy(c);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_twice_hits_the_cache),
	    cmocka_unit_test(test_short_read_at_eof),
	    cmocka_unit_test(test_write_dirties_and_sync_cleans),
	    cmocka_unit_test(test_reading_more_than_ram_reclaims_old_pages),
	    cmocka_unit_test(test_delete_frees_cache),
	    cmocka_unit_test(test_fault_api),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_snapshot_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
