/* The summary views against golden files: /proc/meminfo, /proc/vmstat, free in every layout. */
#include "vm_helpers.h"

#include <stdio.h>
#include <stdlib.h>

#include "meminfo.h"
#include "proc.h"

static void golden_view(struct machine *m, const char *path, const char *golden)
{
	char *s = t_view(m, path);
	assert_golden(golden, s);
	free(s);
}

static void swap_on(struct machine *m, const char *name)
{
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "%s", name);
	apply_expect(m, &op, VM_OK);
	op.kind = OP_SWAPON;
	op.u.swap.prio = SWAP_PRIO_NONE;
	apply_expect(m, &op, VM_OK);
}

/* The seed: dd a 64 MiB file, mkswap, swapon: free's Swap line grows by 65532 KiB. */
static void test_seed_free_after_swapon(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 256ull << 20);
	golden_view(m, "free", "free-boot.txt");
	t_file_with_data(m, "/data/swapfile", 64ull << 20);
	struct op sync = {.kind = OP_FILE_SYNC};
	apply_expect(m, &sync, VM_OK);
	swap_on(m, "/data/swapfile");
	golden_view(m, "free", "free-swapon.txt");
	golden_view(m, "free -w", "free-w-swapon.txt");
	golden_view(m, "free -h", "free-h-swapon.txt");
	golden_view(m, "free -m", "free-m-swapon.txt");
	golden_view(m, "free --old", "free-old-swapon.txt");
	golden_view(m, "/proc/meminfo", "meminfo-swapon.txt");
	golden_view(m, "/proc/vmstat", "vmstat-swapon.txt");
	golden_view(m, "vmstat-cmd", "vmstat-cmd-swapon.txt");
	struct meminfo mi;
	si_meminfo(m, &mi);
	assert_int_equal(mi.swaptotal * 4, 65532);
	assert_int_equal(mi.swapfree * 4, 65532);
	/* dd left 64 MiB in the page cache: buff/cache grew like the sample's 182424 -> 250948 */
	assert_int_equal(mi.cached, 16384);
	struct op off = {.kind = OP_SWAPOFF};
	snprintf(off.u.swap.name, NAME_LEN, "/data/swapfile");
	apply_expect(m, &off, VM_OK);
	si_meminfo(m, &mi);
	assert_int_equal(mi.swaptotal, 0);
	machine_destroy(m);
}

/* MemAvailable = free - reserve + file LRU - min(file/2, low) (si_mem_available). */
static void test_mem_available_formula(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	t_file_with_data(m, "/a", 4ull << 20);
	struct meminfo mi;
	si_meminfo(m, &mi);
	uint64_t low = 0, high = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		if (!zone_populated(&m->pa.zones[z]))
			continue;
		low += m->pa.zones[z].watermark[WMARK_LOW];
		high += m->pa.zones[z].watermark[WMARK_HIGH];
	}
	uint64_t file = mi.lru[LRU_ACTIVE_FILE] + mi.lru[LRU_INACTIVE_FILE];
	assert_int_equal(file, 1024 + 2);
	uint64_t want = mi.freeram - high + file - (file / 2 < low ? file / 2 : low);
	assert_int_equal(mi.available, want);
	machine_destroy(m);
}

static void test_i386_highmem_lines(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_I386, 1ull << 30);
	golden_view(m, "meminfo", "meminfo-i386-1g.txt");
	machine_destroy(m);
}

static void test_unknown_views(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 16ull << 20);
	struct strbuf sb;
	strbuf_init(&sb);
	assert_int_equal(proc_render(m, "free -x", &sb), VM_ENOENT);
	assert_int_equal(proc_render(m, "free -h --old", &sb), VM_ENOENT);
	assert_int_equal(proc_render(m, "free junk", &sb), VM_ENOENT);
	assert_int_equal(proc_render(m, "freedom", &sb), VM_ENOENT);
	assert_int_equal(sb.len, 0);
	strbuf_release(&sb);
	char *s = t_view(m, "free -g");
	assert_non_null(strstr(s, "Mem:               0"));
	free(s);
	machine_destroy(m);
}

/* Pages read back from swap stay in the swap cache: SwapCached, nr_swapcached, AnonPages. */
static void test_swapcache_views(void **state)
{
	(void)state;
	struct machine *m = new_machine(ARCH_X86_64, 64ull << 20);
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "/dev/sdb1");
	op.u.swap.size = 64ull << 20;
	apply_expect(m, &op, VM_OK);
	op.kind = OP_SWAPON;
	op.u.swap.prio = SWAP_PRIO_NONE;
	apply_expect(m, &op, VM_OK);
	op = (struct op){.kind = OP_SET_SWAPPINESS};
	op.u.sysctl.value = 200; /* anon only */
	apply_expect(m, &op, VM_OK);
	uint32_t pid = vm_spawn(m, "sc");
	uint64_t a = vm_mmap(m, pid, 0, 256 * PAGE_SIZE, PROT_READ_ | PROT_WRITE_,
	                     MAP_PRIVATE_ | MAP_ANONYMOUS_);
	vm_access_range(m, pid, a, 256 * PAGE_SIZE, ACCESS_WRITE);
	op = (struct op){.kind = OP_RECLAIM};
	op.u.reclaim.nr_pages = 256;
	apply_expect(m, &op, VM_OK);
	vm_access_range(m, pid, a, 128 * PAGE_SIZE, ACCESS_READ); /* half comes back */
	golden_view(m, "/proc/meminfo", "meminfo-swapcache.txt");
	golden_view(m, "/proc/vmstat", "vmstat-swapcache.txt");
	golden_view(m, "free", "free-swapcache.txt");
	struct meminfo mi;
	si_meminfo(m, &mi);
	assert_int_equal(mi.swapcached, 128); /* SwapCached: 512 kB */
	/* reclaim took 208 of the 256 (the rest were referenced), all written once; the 128 read
	 * back keep their slots */
	assert_int_equal(vm_event(m, PSWPOUT), 208);
	assert_int_equal(vm_event(m, PSWPIN), 128);
	assert_int_equal(mi.swaptotal - mi.swapfree, 208);
	assert_int_equal(mi.anon, 256 - 208 + 128); /* resident + read back, all mapped */
	assert_int_equal(mi.file_pages, mi.cached + mi.bufferram + mi.swapcached);
	machine_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_free_after_swapon),
	    cmocka_unit_test(test_mem_available_formula),
	    cmocka_unit_test(test_i386_highmem_lines),
	    cmocka_unit_test(test_unknown_views),
	    cmocka_unit_test(test_swapcache_views),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
