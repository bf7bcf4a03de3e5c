/*
 * reclaim_bench: figures for the reclaim layer.
 *   1. simulate_policy on 1,000,000 references per policy (refs/s, misses) on the same
 *      reference string bench/policy_bench.py generates, to compare speed and counts.
 *   2. page-cache reclaim: reading a file twice the size of RAM (pages/s read and reclaimed).
 *   3. swap slots: add_to_swap + delete_from_swap_cache cycles (slots/s).
 *   4. anonymous memory through swap: a process writing twice the RAM, then reading it back
 *      (pswpout, pswpin per second, page faults and rmap included).
 * Usage: reclaim_bench [refs] (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kernel.h"
#include "policy.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the host is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The reference string: 80% of references to 200 hot pages, the rest over 5000 pages. */
static void make_refs(uint32_t *refs, size_t n)
{
	uint64_t x = 0x2545F4914F6CDD1Dull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t r = x % 1000;
		refs[i] = r < 800 ? (uint32_t)((x >> 16) % 200) : (uint32_t)((x >> 16) % 5000);
	}
}

static void bench_policies(size_t n)
{
	uint32_t *refs = malloc(n * sizeof(*refs));
	make_refs(refs, n);
	printf("simulate_policy: %zu references, 500 frames (best of 5 runs)\n", n);
	for (int p = 0; p < SIM_NR_POLICIES; p++) {
		struct policy_totals t;
		double dt = 1e9;
		for (int run = 0; run < 5; run++) { /* best of 5: the host is shared */
			double t0 = now();
			if (simulate_policy(p, 500, refs, n, NULL, NULL, &t)) {
				printf("  %s failed\n", sim_policy_name(p));
				break;
			}
			double d = now() - t0;
			dt = d < dt ? d : dt;
		}
		printf("  %-5s misses %8llu  hits %8llu  %8.3f ms  %6.1f M refs/s\n",
		       sim_policy_name(p), (unsigned long long)t.misses, (unsigned long long)t.hits,
		       dt * 1e3, (double)n / dt / 1e6);
	}
	free(refs);
}

static void apply(struct machine *m, struct op *op)
{
	struct op_result r;
	if (machine_apply(m, op, &r)) {
		fprintf(stderr, "op %#x: %s\n", op->kind, r.msg);
		exit(1);
	}
}

static void bench_file_reclaim(void)
{
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, ARCH_X86_64, 256ull << 20);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	struct op op = {.kind = OP_FILE_CREATE};
	snprintf(op.u.file_create.name, NAME_LEN, "/data/big");
	op.u.file_create.size = 512ull << 20;
	apply(m, &op);
	struct op rd = {.kind = OP_FILE_READ};
	rd.u.file_io.ino = FILE_FIRST_INO;
	rd.u.file_io.len = 512ull << 20;
	double t0 = now();
	apply(m, &rd);
	apply(m, &rd);
	double dt = now() - t0;
	uint64_t steal = vm_event(m, PGSTEAL_KSWAPD) + vm_event(m, PGSTEAL_DIRECT);
	uint64_t read = vm_event(m, PGPGIN) / 4;
	printf("page cache: 2 x 512 MiB file reads on 256 MiB RAM: %llu pages read, %llu "
	       "reclaimed (kswapd %llu, direct %llu) in %.3f s: %.2f M pages/s read+reclaimed\n",
	       (unsigned long long)read, (unsigned long long)steal,
	       (unsigned long long)vm_event(m, PGSTEAL_KSWAPD),
	       (unsigned long long)vm_event(m, PGSTEAL_DIRECT), dt,
	       (double)(read + steal) / dt / 1e6);
	machine_destroy(m);
}

static void bench_swap_slots(void)
{
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, ARCH_X86_64, 64ull << 20);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "/dev/sdb1");
	op.u.swap.size = 1ull << 30;
	apply(m, &op);
	op.kind = OP_SWAPON;
	op.u.swap.prio = SWAP_PRIO_NONE;
	apply(m, &op);
	uint32_t pfn = alloc_pages(m, GFP_KERNEL, 0, PT_ANON);
	lru_cache_add(m, pfn);
	const int n = 2000000;
	double t0 = now();
	for (int i = 0; i < n; i++) {
		add_to_swap(m, pfn);
		swap_writepage(m, pfn);
		delete_from_swap_cache(m, pfn);
	}
	double dt = now() - t0;
	printf("swap slots: %d get_swap_page + swap_writepage + free cycles on a 1 GiB area in "
	       "%.3f s: %.2f M slots/s\n",
	       n, dt, n / dt / 1e6);
	machine_destroy(m);
}

/* A process writes 2x RAM of anonymous memory, then reads it all back: pswpout and pswpin. */
static void bench_anon_swap(void)
{
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, ARCH_X86_64, 128ull << 20);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	struct op op = {.kind = OP_MKSWAP};
	snprintf(op.u.swap.name, NAME_LEN, "/dev/sdb1");
	op.u.swap.size = 1ull << 30;
	apply(m, &op);
	op.kind = OP_SWAPON;
	op.u.swap.prio = SWAP_PRIO_NONE;
	apply(m, &op);
	struct op sp = {.kind = OP_SPAWN};
	snprintf(sp.u.spawn.name, NAME_LEN, "bench");
	struct op_result r;
	machine_apply(m, &sp, &r);
	uint32_t pid = (uint32_t)r.value;
	uint64_t len = 256ull << 20;
	struct op mm = {.kind = OP_MMAP};
	mm.u.mmap.pid = pid;
	mm.u.mmap.len = len;
	mm.u.mmap.prot = PROT_READ_ | PROT_WRITE_;
	mm.u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_;
	machine_apply(m, &mm, &r);
	struct op ac = {.kind = OP_ACCESS_RANGE};
	ac.u.access.pid = pid;
	ac.u.access.addr = r.value;
	ac.u.access.len = len;
	ac.u.access.kind = ACCESS_WRITE;
	double t0 = now();
	apply(m, &ac);
	double t1 = now();
	uint64_t out1 = vm_event(m, PSWPOUT), steal1 = vm_event(m, PGSTEAL_ANON);
	ac.u.access.kind = ACCESS_READ;
	apply(m, &ac);
	double t2 = now();
	uint64_t in = vm_event(m, PSWPIN);
	uint64_t written = vm_event(m, PSWPOUT) - out1, steal = vm_event(m, PGSTEAL_ANON) - steal1;
	/* reclaimed = written + clean swap-cache pages dropped without I/O (still in their slot) */
	printf(
	    "anon swap: 256 MiB written on 128 MiB RAM: %llu pages swapped out in %.3f s "
	    "(%.2f M pages/s incl. the faults); read back: %llu pages swapped in, %llu reclaimed "
	    "(%llu written, %llu clean swap-cache pages dropped), in %.3f s (%.2f M pages/s "
	    "in+reclaimed)\n",
	    (unsigned long long)out1, t1 - t0, (double)out1 / (t1 - t0) / 1e6,
	    (unsigned long long)in, (unsigned long long)steal, (unsigned long long)written,
	    (unsigned long long)(steal - written), t2 - t1, (double)(in + steal) / (t2 - t1) / 1e6);
	machine_destroy(m);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	bench_policies(n);
	bench_file_reclaim();
	bench_swap_slots();
	bench_anon_swap();
	return 0;
}
