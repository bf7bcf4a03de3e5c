/*
 * /proc/zoneinfo: golden files for both arches, the real kernel's layout (the head of a
 * captured /proc/zoneinfo, tests/golden/linux-zoneinfo-head.txt), and the invariant that the
 * per-zone counters add up to /proc/vmstat's and the per-node ones equal it.
 */
#include "vm_helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "meminfo.h"

/* The value of "name" in /proc/vmstat text. */
static uint64_t vmstat_value(const char *vmstat, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = vmstat; *l; l = strchr(l, '\n') + 1) {
		if (strncmp(l, name, n) == 0 && l[n] == ' ')
			return strtoull(l + n + 1, NULL, 10);
		if (!strchr(l, '\n'))
			break;
	}
	fail_msg("no %s in /proc/vmstat", name);
	return 0;
}

/*
 * Walks zoneinfo's "      name value" lines: node items (under "per-node stats") must equal
 * /proc/vmstat's; zone items are summed into sums[] by name order of first appearance.
 */
struct zone_sum {
	char name[40];
	uint64_t sum;
};

static void check_against_vmstat(struct machine *m)
{
	char *zi = t_view(m, "/proc/zoneinfo");
	char *vs = t_view(m, "/proc/vmstat");
	struct zone_sum sums[32];
	size_t nsums = 0, node_items = 0;
	int in_node = 0;
	for (char *l = zi; *l;) {
		char *nl = strchr(l, '\n');
		*nl = 0;
		if (strcmp(l, "  per-node stats") == 0)
			in_node = 1;
		else if (strncmp(l, "  pages free", 12) == 0)
			in_node = 0;
		char name[40];
		unsigned long long v;
		if (strncmp(l, "      ", 6) == 0 && l[6] != ' ' &&
		    sscanf(l, " %39s %llu", name, &v) == 2) {
			if (in_node) {
				assert_int_equal(v, vmstat_value(vs, name));
				node_items++;
			} else {
				size_t i = 0;
				while (i < nsums && strcmp(sums[i].name, name) != 0)
					i++;
				if (i == nsums) {
					assert_true(nsums < 32);
					snprintf(sums[nsums].name, sizeof(sums[nsums].name), "%s",
					         name);
					sums[nsums++].sum = 0;
				}
				sums[i].sum += v;
			}
		}
		l = nl + 1;
	}
	assert_int_equal(node_items, 51);
	assert_int_equal(nsums, 17); /* 11 zone_stat_items + 6 NUMA events */
	for (size_t i = 0; i < nsums; i++) {
		if (vmstat_value(vs, sums[i].name) != sums[i].sum)
			fail_msg("%s: zones add up to %llu, /proc/vmstat says %llu", sums[i].name,
			         (unsigned long long)sums[i].sum,
			         (unsigned long long)vmstat_value(vs, sums[i].name));
	}
	free(zi);
	free(vs);
}

/* A task with `pages` anonymous pages written. */
static void touch_anon(struct machine *m, uint64_t pages)
{
	uint32_t pid = vm_spawn(m, "toucher");
	uint64_t a = vm_mmap(m, pid, 0, pages * PAGE_SIZE, PROT_READ_ | PROT_WRITE_,
	                     MAP_PRIVATE_ | MAP_ANONYMOUS_);
	vm_access_range(m, pid, a, pages * PAGE_SIZE, ACCESS_WRITE);
}

/* x86_64, 64 MiB: DMA and DMA32 populated, Normal/Movable/Device empty but listed. */
static void test_x86_64_golden(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	t_file_with_data(m, "/data/log", 1ull << 20);
	touch_anon(m, 100);
	t_alloc_pages(m, 0, 3);
	char *s = t_view(m, "zoneinfo");
	assert_golden("zoneinfo-x86_64.txt", s);
	free(s);
	check_against_vmstat(m);
	machine_destroy(m);
}

/* i386, 1 GiB: DMA, Normal and HighMem populated; no Device zone on 32-bit. */
static void test_i386_golden(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 1ull << 30);
	touch_anon(m, 50);
	char *s = t_view(m, "/proc/zoneinfo");
	assert_golden("zoneinfo-i386-1g.txt", s);
	assert_null(strstr(s, "Device"));
	assert_non_null(strstr(s, "Node 0, zone  HighMem\n"));
	free(s);
	check_against_vmstat(m);
	machine_destroy(m);
}

/* Line for line, the captured kernel's head: zone header, per-node stats names and spacing. */
static void test_layout_matches_linux(void **state)
{
	(void)state;
	FILE *f = fopen(VMSIM_GOLDEN_DIR "/linux-zoneinfo-head.txt", "r");
	assert_non_null(f);
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	char *s = t_view(m, "zoneinfo");
	char line[256];
	const char *ours = s;
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		const char *end = strchr(ours, '\n');
		assert_non_null(end);
		/* compare up to the value: the name and the padding before it */
		const char *lv = strrchr(line, ' '), *ov = ours;
		for (const char *p = ours; p < end; p++)
			if (*p == ' ')
				ov = p;
		if (strncmp(line, "Node", 4) == 0)
			assert_memory_equal(line, ours, strlen(line) - 1);
		else
			assert_memory_equal(line, ours,
			                    (size_t)(lv - line) + 1 > (size_t)(ov - ours) + 1
			                        ? (size_t)(lv - line) + 1
			                        : (size_t)(ov - ours) + 1);
		ours = end + 1;
		n++;
	}
	assert_int_equal(n, 40);
	fclose(f);
	free(s);
	machine_destroy(m);
}

/* NR_FREE_PAGES_BLOCKS: free pages in free blocks of pageblock order (10) or more. */
static void test_free_pages_blocks(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	uint64_t before = nr_free_pages_blocks(m);
	uint64_t want = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		want += m->pa.zones[z].free_area[MAX_ORDER - 1].nr_free << (MAX_ORDER - 1);
	assert_int_equal(before, want);
	/* one order-0 page breaks one order-10 block: 1024 pages leave the count */
	t_alloc_pages(m, 0, 0);
	assert_int_equal(nr_free_pages_blocks(m), before - 1024);
	char *vs = t_view(m, "vmstat");
	assert_int_equal(vmstat_value(vs, "nr_free_pages_blocks"), before - 1024);
	free(vs);
	machine_destroy(m);
}

/* A random mix of work keeps the zone sums equal to the node totals. */
static void test_sums_after_reclaim(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 32ull << 20);
	t_file_with_data(m, "/data/big", 8ull << 20);
	struct op sync = {.kind = OP_FILE_SYNC};
	apply_expect(m, &sync, VM_OK);
	touch_anon(m, 2000);
	check_against_vmstat(m);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_x86_64_golden),        cmocka_unit_test(test_i386_golden),
	    cmocka_unit_test(test_layout_matches_linux), cmocka_unit_test(test_free_pages_blocks),
	    cmocka_unit_test(test_sums_after_reclaim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
