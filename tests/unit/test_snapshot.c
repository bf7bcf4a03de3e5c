/* Snapshots: load(save(m)) saves to the same bytes; corruption and old versions are refused. */
#include "helpers.h"

#include <stdlib.h>

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
	uint8_t *tag = NULL;
	for (size_t i = 20; i + 8 <= alen - 8; i++)
		if (!memcmp(a + i, "MMAP", 4))
			tag = a + i;
	assert_non_null(tag);
	uint32_t bad = (uint32_t)machine_nr_frames(m) + 5;
	for (int i = 0; i < 4; i++)
		tag[4 + i] = (uint8_t)(bad >> (8 * i));
	/* Re-seal: FNV-1a over the payload after the 20-byte header, little-endian at the end. */
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 20; i < alen - 8; i++)
		h = (h ^ a[i]) * 0x100000001b3ull;
	for (int i = 0; i < 8; i++)
		a[alen - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
