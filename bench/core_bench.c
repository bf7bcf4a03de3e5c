/*
 * core_bench: figures of the simulated machine's core, one named measurement per line
 * (docs/BENCHMARKS.md). Each part of core adds its measurements to the table at the bottom.
 *   core_bench [--list] [--md] [--time SECONDS] [NAME-PREFIX...]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"

static double bench_seconds = 1.0; /* time budget per throughput measurement */

/* CPU time of this thread: "pairs/s on one core" even when other work shares the host. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct machine *bench_machine(enum machine_arch arch, uint64_t ram)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, arch, ram);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "core_bench: machine_create: %s\n", err);
		exit(1);
	}
	return m;
}

/*
 * Runs fn(m, batch) for the time budget in 5 rounds and returns the best round's calls per
 * second: on a shared host the best round is the one least disturbed by other work.
 */
static double rate(struct machine *m, void (*fn)(struct machine *, long), long batch)
{
	double best = 0;
	for (int round = 0; round < 5; round++) {
		long done = 0;
		double t0 = now(), t;
		do {
			fn(m, batch);
			done += batch;
			t = now() - t0;
		} while (t < bench_seconds / 5);
		if ((double)done / t > best)
			best = (double)done / t;
	}
	return best;
}

/* ---- page_alloc: buddy alloc+free pairs ---- */

static unsigned pair_order;

/* Kernel API: the path slab, vmalloc and the fault handler take. */
static void buddy_pairs_api(struct machine *m, long n)
{
	for (long i = 0; i < n; i++) {
		uint32_t pfn = alloc_pages(m, GFP_KERNEL, pair_order, PT_KERNEL);
		if (pfn == PFN_NONE)
			abort();
		__free_pages(m, pfn, pair_order);
	}
}

/* The op door: what a client's AllocPages/FreePages RPC costs inside core. */
static void buddy_pairs_apply(struct machine *m, long n)
{
	struct op a = {.kind = OP_ALLOC_PAGES}, f = {.kind = OP_FREE_PAGES};
	struct op_result r;
	a.u.alloc_pages.order = pair_order;
	f.u.free_pages.order = pair_order;
	for (long i = 0; i < n; i++) {
		if (machine_apply(m, &a, &r))
			abort();
		f.u.free_pages.pfn = r.value;
		if (machine_apply(m, &f, &r))
			abort();
	}
}

/*
 * "Warm": the block's buddy is held, so the pair neither splits nor merges (the common case
 * on a machine that has been running). "Cold": a fresh machine, where every pair splits an
 * order-10 block down and merges it back up (the worst case).
 */
static double buddy_bench(unsigned order, int warm, int via_apply)
{
	struct machine *m = bench_machine(ARCH_X86_64, 64ull << 20);
	pair_order = order;
	if (warm) {
		uint32_t a = alloc_pages(m, GFP_KERNEL, order, PT_KERNEL);
		uint32_t b = alloc_pages(m, GFP_KERNEL, order, PT_KERNEL);
		__free_pages(m, a, order); /* a's buddy b stays allocated */
		(void)b;
	}
	double r = rate(m, via_apply ? buddy_pairs_apply : buddy_pairs_api, 100000);
	machine_destroy(m);
	return r;
}

static double b_buddy0_warm_api(void)
{
	return buddy_bench(0, 1, 0);
}
static double b_buddy3_warm_api(void)
{
	return buddy_bench(3, 1, 0);
}
static double b_buddy0_warm_apply(void)
{
	return buddy_bench(0, 1, 1);
}
static double b_buddy3_warm_apply(void)
{
	return buddy_bench(3, 1, 1);
}
static double b_buddy0_cold_api(void)
{
	return buddy_bench(0, 0, 0);
}
static double b_buddy3_cold_api(void)
{
	return buddy_bench(3, 0, 0);
}

/* ---- slab: kmalloc/kfree pairs ---- */

static uint64_t kmalloc_size;

static void kmalloc_pairs_api(struct machine *m, long n)
{
	for (long i = 0; i < n; i++) {
		uint64_t p = kmalloc(m, kmalloc_size, GFP_KERNEL);
		if (!p)
			abort();
		kfree(m, p);
	}
}

static void kmalloc_pairs_apply(struct machine *m, long n)
{
	struct op a = {.kind = OP_KMALLOC}, f = {.kind = OP_KFREE};
	struct op_result r;
	a.u.kmalloc.size = kmalloc_size;
	for (long i = 0; i < n; i++) {
		if (machine_apply(m, &a, &r))
			abort();
		f.u.kfree.addr = r.value;
		if (machine_apply(m, &f, &r))
			abort();
	}
}

/* One object stays allocated so the slab stays partial: the steady state of a busy cache. */
static double kmalloc_bench(uint64_t size, int via_apply)
{
	struct machine *m = bench_machine(ARCH_X86_64, 64ull << 20);
	kmalloc_size = size;
	kmalloc(m, size, GFP_KERNEL);
	double r = rate(m, via_apply ? kmalloc_pairs_apply : kmalloc_pairs_api, 100000);
	machine_destroy(m);
	return r;
}

static double b_kmalloc64_api(void)
{
	return kmalloc_bench(64, 0);
}
static double b_kmalloc64_apply(void)
{
	return kmalloc_bench(64, 1);
}
static double b_kmalloc_large_api(void)
{
	return kmalloc_bench(65536, 0);
}

/* ---- vmalloc: vmalloc/vfree pairs ---- */

static void vmalloc_pairs_api(struct machine *m, long n)
{
	for (long i = 0; i < n; i++) {
		uint64_t va = vmalloc(m, 4 * PAGE_SIZE);
		if (!va)
			abort();
		vfree(m, va);
	}
}

static double b_vmalloc4_api(void)
{
	struct machine *m = bench_machine(ARCH_X86_64, 64ull << 20);
	for (int i = 0; i < 16; i++) /* some areas below, so the first-fit walk has work */
		vmalloc(m, PAGE_SIZE);
	double r = rate(m, vmalloc_pairs_api, 10000);
	machine_destroy(m);
	return r;
}

/* ---- host memory ---- */

static long vm_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static double b_struct_page_bytes(void)
{
	return (double)sizeof(struct page);
}

/* Host RSS a booted 4 GiB machine adds, per simulated frame (mem_map plus everything else). */
static double b_host_bytes_per_frame(void)
{
	long before = vm_rss_kib();
	struct machine *m = bench_machine(ARCH_X86_64, 4ull << 30);
	double per = (double)(vm_rss_kib() - before) * 1024.0 / (double)machine_nr_frames(m);
	machine_destroy(m);
	return per;
}

#define NR_FLEET 1000

/* 1,000 booted machines of 64 MiB: the RSS they add, in MiB (target <= 512). */
static double b_fleet_rss_mib(void)
{
	static struct machine *fleet[NR_FLEET];
	long before = vm_rss_kib();
	for (int i = 0; i < NR_FLEET; i++)
		fleet[i] = bench_machine(i % 2 ? ARCH_I386 : ARCH_X86_64, 64ull << 20);
	long after = vm_rss_kib();
	for (int i = 0; i < NR_FLEET; i++)
		machine_destroy(fleet[i]);
	return (double)(after - before) / 1024.0;
}

/* The same fleet after each machine ran 2,000 kmalloc/vmalloc/alloc_pages ops (slabs built). */
static double b_fleet_busy_rss_mib(void)
{
	static struct machine *fleet[NR_FLEET];
	long before = vm_rss_kib();
	for (int i = 0; i < NR_FLEET; i++) {
		struct machine *m = fleet[i] = bench_machine(ARCH_X86_64, 64ull << 20);
		for (int k = 0; k < 500; k++) {
			kmalloc(m, 8u << (k % 10), GFP_KERNEL);
			kmem_cache_alloc(m, KMEM_VM_AREA_STRUCT, GFP_KERNEL);
			alloc_pages(m, GFP_KERNEL, 0, PT_KERNEL);
			if (k % 25 == 0)
				vmalloc(m, 4 * PAGE_SIZE);
		}
	}
	long after = vm_rss_kib();
	for (int i = 0; i < NR_FLEET; i++)
		machine_destroy(fleet[i]);
	return (double)(after - before) / 1024.0;
}

/* ---- the table: each part of core adds its rows ---- */

struct measurement {
	const char *name;
	const char *unit;
	const char *what;
	double (*run)(void);
};

static const struct measurement measurements[] = {
    {"buddy.order0.warm.api", "pairs/s", "alloc_pages+__free_pages, order 0, no split/merge",
     b_buddy0_warm_api},
    {"buddy.order3.warm.api", "pairs/s", "alloc_pages+__free_pages, order 3, no split/merge",
     b_buddy3_warm_api},
    {"buddy.order0.warm.apply", "pairs/s", "OP_ALLOC_PAGES+OP_FREE_PAGES via machine_apply",
     b_buddy0_warm_apply},
    {"buddy.order3.warm.apply", "pairs/s", "the same, order 3", b_buddy3_warm_apply},
    {"buddy.order0.cold.api", "pairs/s", "fresh machine: split from order 10, merge back",
     b_buddy0_cold_api},
    {"buddy.order3.cold.api", "pairs/s", "fresh machine: split from order 10, merge back",
     b_buddy3_cold_api},
    {"slab.kmalloc64.api", "pairs/s", "kmalloc(64)+kfree, partial slab", b_kmalloc64_api},
    {"slab.kmalloc64.apply", "pairs/s", "OP_KMALLOC+OP_KFREE via machine_apply", b_kmalloc64_apply},
    {"slab.kmalloc_large.api", "pairs/s", "kmalloc(64 KiB)+kfree: order-4 buddy blocks",
     b_kmalloc_large_api},
    {"vmalloc.4pages.api", "pairs/s", "vmalloc(16 KiB)+vfree, 16 areas below", b_vmalloc4_api},
    {"mem.struct_page", "bytes", "sizeof(struct page)", b_struct_page_bytes},
    {"mem.host_per_frame", "bytes/frame", "RSS of a booted 4 GiB machine / its frames",
     b_host_bytes_per_frame},
    {"mem.fleet_1000x64MiB", "MiB", "RSS of 1,000 booted 64 MiB machines (target <= 512)",
     b_fleet_rss_mib},
    {"mem.fleet_1000x64MiB_busy", "MiB", "the same after 2,000 slab/page/vmalloc ops each",
     b_fleet_busy_rss_mib},
};

static int selected(const char *name, char **prefixes, int n)
{
	if (n == 0)
		return 1;
	for (int i = 0; i < n; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"list", no_argument, NULL, 'l'},
	                                     {"md", no_argument, NULL, 'm'},
	                                     {"time", required_argument, NULL, 't'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int list = 0, md = 0, c;
	while ((c = getopt_long(argc, argv, "lmt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			list = 1;
			break;
		case 'm':
			md = 1;
			break;
		case 't':
			bench_seconds = atof(optarg);
			if (bench_seconds <= 0) {
				fprintf(stderr, "core_bench: --time must be > 0\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: core_bench [--list] [--md] [--time SECONDS] "
			                "[NAME-PREFIX...]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (md)
		printf("| measurement | value | unit | what |\n|---|---:|---|---|\n");
	for (size_t i = 0; i < ARRAY_SIZE(measurements); i++) {
		const struct measurement *b = &measurements[i];
		if (!selected(b->name, argv + optind, argc - optind))
			continue;
		if (list) {
			printf("%-28s %s\n", b->name, b->what);
			continue;
		}
		double v = b->run();
		if (md)
			printf("| %s | %.1f | %s | %s |\n", b->name, v, b->unit, b->what);
		else
			printf("%-28s %14.1f %s\n", b->name, v, b->unit);
		fflush(stdout);
	}
	return 0;
}
