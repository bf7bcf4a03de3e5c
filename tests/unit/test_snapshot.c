/* Snapshots: load(save(m)) saves to the same bytes; corruption and old versions are refused. */
#include "vm_helpers.h"

#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

static struct machine *busy_machine(void)
{
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	uint32_t a = t_alloc_pages(m, GFP_KERNEL, 3);
	t_alloc_pages(m, GFP_DMA, 0);
	t_alloc_pages(m, GFP_KERNEL, 5);
	t_free_pages(m, a, 3);
	return m;
}

static void test_roundtrip_is_byte_identical(void **state)
{
	(void)state;
	struct machine *m = busy_machine();
	uint8_t *a, *b;
	size_t alen, blen;
	char err[256];
	assert_int_equal(machine_save(m, &a, &alen), 0);
	struct machine *copy = machine_load(a, alen, err, sizeof(err));
	if (!copy)
		fail_msg("machine_load: %s", err);
	assert_int_equal(machine_save(copy, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	assert_int_equal(machine_seq(copy), 4);
	/* The copy goes on exactly like the original. */
	assert_int_equal(t_alloc_pages(copy, GFP_KERNEL, 0), t_alloc_pages(m, GFP_KERNEL, 0));
	free(a);
	free(b);
	machine_destroy(copy);
	machine_destroy(m);
}

static void test_corruption_is_refused(void **state)
{
	(void)state;
	struct machine *m = busy_machine();
	uint8_t *a;
	size_t alen;
	char err[256];
	machine_save(m, &a, &alen);
	a[alen / 2] ^= 0x40;
	assert_null(machine_load(a, alen, err, sizeof(err)));
	assert_non_null(strstr(err, "checksum"));
	a[alen / 2] ^= 0x40;
	assert_null(machine_load(a, alen - 9, err, sizeof(err)));
	assert_non_null(strstr(err, "length"));
	a[8] = 0; /* version 0 */
	assert_null(machine_load(a, alen, err, sizeof(err)));
	assert_non_null(strstr(err, "version 0"));
	assert_null(machine_load((const uint8_t *)"junk", 4, err, sizeof(err)));
	free(a);
	machine_destroy(m);
}

/*
 * Version 3 sums 8-byte words. Every single bit flip must change the sum, and so must the top
 * bit of two words flipped together: a plain word-wise FNV misses that (a multiply carries
 * bits only upward, so both flips land on bit 63 and cancel).
 */
static void test_checksum_catches_every_flip(void **state)
{
	(void)state;
	uint8_t a[61]; /* 7 words and a 5-byte tail */
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 37 + 11);
	uint64_t sum = snapshot_checksum(3, a, sizeof(a));
	for (size_t bit = 0; bit < 8 * sizeof(a); bit++) {
		a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(snapshot_checksum(3, a, sizeof(a)) != sum);
		a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	a[7] ^= 0x80;
	a[15] ^= 0x80;
	assert_true(snapshot_checksum(3, a, sizeof(a)) != sum);
	/* Versions 1 and 2 keep byte-wise FNV-1a (the published test vector for "a"). */
	assert_true(snapshot_checksum(2, (const uint8_t *)"a", 1) == 0xaf63dc4c8601ec8cull);
	assert_true(snapshot_checksum(1, (const uint8_t *)"a", 1) == 0xaf63dc4c8601ec8cull);
}

/* The machine of tests/golden/snapshots/fixture-v2.snap, saved by the version 2 build. */
static struct machine *fixture_machine(void)
{
	struct machine *m = new_machine(ARCH_X86_64, 4ull << 20);
	uint32_t pid = vm_spawn(m, "fixture");
	uint64_t a = vm_mmap(m, pid, 0, 8 * PAGE_SIZE, PROT_READ_ | PROT_WRITE_,
	                     MAP_PRIVATE_ | MAP_ANONYMOUS_);
	vm_access_range(m, pid, a, 8 * PAGE_SIZE, ACCESS_WRITE);
	vm_fork(m, OP_FORK, pid, 0);
	return m;
}

/*
 * A version 2 snapshot (whole pages, byte-wise sum) loads and re-saves as the current version;
 * t_downgrade, which other tests use for old layouts, writes exactly what that build wrote.
 */
static void test_version_2_fixture_loads(void **state)
{
	(void)state;
	struct machine *m = fixture_machine();
	size_t cur_len, old_len, down_len, new_len;
	char err[256];
	uint8_t *cur = t_save(m, &cur_len);
	uint8_t *old = t_read_file(VMSIM_GOLDEN_DIR "/snapshots/fixture-v2.snap", &old_len);
	assert_int_equal(old[8], 2);
	uint8_t *down = t_downgrade(cur, cur_len, 2, &down_len);
	assert_int_equal(down_len, old_len);
	assert_memory_equal(down, old, old_len);
	struct machine *copy = machine_load(old, old_len, err, sizeof(err));
	if (!copy)
		fail_msg("version 2 load: %s", err);
	uint8_t *again = t_save(copy, &new_len);
	assert_int_equal(new_len, cur_len);
	assert_memory_equal(again, cur, cur_len);
	/* sparse pages: the same machine in about half the bytes (39,667 against 75,779) */
	assert_int_equal(cur_len, 39667);
	assert_int_equal(old_len, 75779);
	/* a version 2 sum under a version 3 label is refused */
	old[8] = 3;
	assert_null(machine_load(old, old_len, err, sizeof(err)));
	assert_non_null(strstr(err, "checksum"));
	free(cur);
	free(old);
	free(down);
	free(again);
	machine_destroy(copy);
	machine_destroy(m);
}

/* A page word marked nonzero in the bitmap but saved as 0 is refused: one encoding per page. */
static void test_sparse_page_must_be_canonical(void **state)
{
	(void)state;
	struct machine *m = fixture_machine();
	size_t len;
	char err[256];
	uint8_t *s = t_save(m, &len);
	/* the first page: tag, u64 nr_pgtable, u32 count, u32 pfn, 64-byte bitmap, words */
	uint8_t *map = t_find_section(s, len, "PGTB") + 20;
	unsigned w = 0;
	while (!(map[w / 8] >> (w % 8) & 1))
		w++;
	memset(map + 64, 0, 8); /* the first saved word */
	t_reseal(s, len, SNAPSHOT_VERSION);
	assert_null(machine_load(s, len, err, sizeof(err)));
	char want[128];
	snprintf(want, sizeof(want), "word %u of a saved page is marked nonzero but is 0", w);
	assert_non_null(strstr(err, want));
	free(s);
	machine_destroy(m);
}

/*
 * An anon page flagged as in the swap cache with an entry of no active swap area is refused
 * (found by fuzz_snapshot: mmap_check, which runs before swapfile_check, read the index
 * through the area's NULL index array).
 */
static void test_swapcache_flag_without_area_is_refused(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 4ull << 20);
	uint32_t pid = vm_spawn(m, "p");
	uint64_t a =
	    vm_mmap(m, pid, 0, PAGE_SIZE, PROT_READ_ | PROT_WRITE_, MAP_PRIVATE_ | MAP_ANONYMOUS_);
	vm_access(m, pid, a, ACCESS_WRITE);
	uint32_t pfn = pte_pfn_of(m, pid, a);
	size_t len;
	char err[256];
	uint8_t *s = t_save(m, &len);
	/* PAGE: tag, u64 frame count, then 16 bytes a frame: next, prev, private, flags, ref */
	uint8_t *rec = t_find_section(s, len, "PAGE") + 12 + 16 * (size_t)pfn;
	uint16_t flags = (uint16_t)(rec[12] | rec[13] << 8) | PG_swapcache;
	rec[12] = (uint8_t)flags;
	rec[13] = (uint8_t)(flags >> 8);
	memset(rec + 8, 0x11, 4); /* private: a swap entry of area 0, which is not on */
	t_reseal(s, len, SNAPSHOT_VERSION);
	assert_null(machine_load(s, len, err, sizeof(err)));
	assert_true(err[0] != '\0');
	free(s);
	machine_destroy(m);
}

/* A corrupt init_mm pgd (past the last frame) with a valid checksum is refused by load, not
 * used to index per-frame arrays (found by fuzz_snapshot: mmap_check wrote out of bounds). */
static void test_bad_init_mm_pgd_is_refused(void **state)
{
	(void)state;
	struct machine *m = busy_machine();
	uint8_t *a;
	size_t alen;
	char err[256];
	machine_save(m, &a, &alen);
	uint8_t *tag = t_find_section(a, alen, "MMAP");
	uint32_t bad = (uint32_t)machine_nr_frames(m) + 5;
	for (int i = 0; i < 4; i++)
		tag[4 + i] = (uint8_t)(bad >> (8 * i));
	t_reseal(a, alen, SNAPSHOT_VERSION);
	assert_null(machine_load(a, alen, err, sizeof(err)));
	assert_non_null(strstr(err, "init_mm: bad pgd"));
	free(a);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_is_byte_identical),
	    cmocka_unit_test(test_corruption_is_refused),
	    cmocka_unit_test(test_bad_init_mm_pgd_is_refused),
	    cmocka_unit_test(test_checksum_catches_every_flip),
	    cmocka_unit_test(test_version_2_fixture_loads),
	    cmocka_unit_test(test_sparse_page_must_be_canonical),
	    cmocka_unit_test(test_swapcache_flag_without_area_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
