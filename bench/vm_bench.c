/*
 * VM benchmarks: anonymous first-touch page faults per second, fork of a process with
 * 10,000 resident pages (copy_page_range + COW write-protect), translate() walks per second
 * and TLB-hit accesses per second, the cost of a fault over an rlimit without swap, in process
 * CPU time (the build machines are shared).
 * Prints figures; docs/BENCHMARKS.md records them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the 2 cores are shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct op_result apply(struct machine *m, struct op *op)
{
	struct op_result r;
	if (machine_apply(m, op, &r) != VM_OK) {
		fprintf(stderr, "op %#x failed: %s\n", op->kind, r.msg);
		exit(1);
	}
	return r;
}

static uint32_t spawn(struct machine *m)
{
	struct op op = {.kind = OP_SPAWN};
	strcpy(op.u.spawn.name, "bench");
	return (uint32_t)apply(m, &op).value;
}

static uint64_t map_anon(struct machine *m, uint32_t pid, uint64_t len)
{
	struct op op = {.kind = OP_MMAP};
	op.u.mmap.pid = pid;
	op.u.mmap.len = len;
	op.u.mmap.prot = PROT_READ_ | PROT_WRITE_;
	op.u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_;
	return apply(m, &op).value;
}

static struct op_result touch(struct machine *m, uint32_t pid, uint64_t a, uint64_t len,
                              enum access_kind kind)
{
	struct op op = {.kind = OP_ACCESS_RANGE};
	op.u.access.pid = pid;
	op.u.access.addr = a;
	op.u.access.len = len;
	op.u.access.kind = kind;
	return apply(m, &op);
}

static void unmap(struct machine *m, uint32_t pid, uint64_t a, uint64_t len)
{
	struct op op = {.kind = OP_MUNMAP};
	op.u.munmap.pid = pid;
	op.u.munmap.addr = a;
	op.u.munmap.len = len;
	apply(m, &op);
}

static struct machine *new_machine(enum machine_arch arch, uint64_t ram)
{
	struct machine_config cfg;
	char err[128];
	machine_config_default(&cfg, arch, ram);
	struct machine *m = machine_create(&cfg, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "machine_create: %s\n", err);
		exit(1);
	}
	return m;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* 64 Ki first-touch write faults per round (256 MiB), unmapped again between rounds. */
static void bench_faults(enum machine_arch arch, const char *name)
{
	struct machine *m = new_machine(arch, 512ull << 20);
	uint32_t pid = spawn(m);
	const uint64_t len = 256ull << 20;
	uint64_t faults = 0;
	double t = 0;
	for (int round = 0; round < 8; round++) {
		uint64_t a = map_anon(m, pid, len);
		double t0 = now();
		struct op_result r = touch(m, pid, a, len, ACCESS_WRITE);
		t += now() - t0;
		faults += r.faults;
		unmap(m, pid, a, len);
	}
	printf("%-8s anonymous first-touch faults: %.2f M faults/s (%llu faults, %.1f ns each)\n",
	       name, (double)faults / t / 1e6, (unsigned long long)faults,
	       t * 1e9 / (double)faults);
	machine_destroy(m);
}

/* fork of a process with 10,000 resident anonymous pages; median of 21 forks. */
static void bench_fork(enum machine_arch arch, const char *name)
{
	struct machine *m = new_machine(arch, 256ull << 20);
	uint32_t pid = spawn(m);
	uint64_t a = map_anon(m, pid, 10000 * PAGE_SIZE);
	touch(m, pid, a, 10000 * PAGE_SIZE, ACCESS_WRITE);
	double us[21];
	for (int i = 0; i < 21; i++) {
		struct op op = {.kind = OP_FORK};
		op.u.fork.pid = pid;
		double t0 = now();
		uint32_t child = (uint32_t)apply(m, &op).value;
		us[i] = (now() - t0) * 1e6;
		op = (struct op){.kind = OP_EXIT};
		op.u.exit.pid = child;
		apply(m, &op);
	}
	qsort(us, 21, sizeof(us[0]), cmp_double);
	printf("%-8s fork of 10,000 resident pages: %.0f us median (min %.0f, max %.0f)\n", name,
	       us[10], us[0], us[20]);
	machine_destroy(m);
}

/* translate() over 10,000 mapped pages, and TLB-hit reads through machine_apply. */
static void bench_translate(enum machine_arch arch, const char *name)
{
	struct machine *m = new_machine(arch, 256ull << 20);
	uint32_t pid = spawn(m);
	uint64_t a = map_anon(m, pid, 10000 * PAGE_SIZE);
	touch(m, pid, a, 10000 * PAGE_SIZE, ACCESS_WRITE);
	struct walk_trace t;
	uint64_t n = 0, sum = 0;
	double t0 = now();
	for (int round = 0; round < 100; round++)
		for (uint64_t i = 0; i < 10000; i++, n++) {
			translate(m, pid, a + i * PAGE_SIZE, &t);
			sum += t.phys;
		}
	double dt = now() - t0;
	printf("%-8s translate: %.2f M walks/s (%.1f ns each, checksum %llx)\n", name,
	       (double)n / dt / 1e6, dt * 1e9 / (double)n, (unsigned long long)(sum & 0xffff));
	/* 32 pages fit the default 64-entry TLB: every access after the first round hits. */
	touch(m, pid, a, 32 * PAGE_SIZE, ACCESS_READ);
	struct op op = {.kind = OP_ACCESS_RANGE};
	op.u.access.pid = pid;
	op.u.access.addr = a;
	op.u.access.len = 32 * PAGE_SIZE;
	op.u.access.stride = 64; /* 64-byte lines: 2048 accesses per op */
	op.u.access.kind = ACCESS_READ;
	uint64_t hits = 0;
	t0 = now();
	for (int i = 0; i < 500; i++)
		hits += apply(m, &op).tlb_hits;
	dt = now() - t0;
	printf("%-8s TLB-hit accesses: %.2f M/s (%llu hits)\n", name, (double)hits / dt / 1e6,
	       (unsigned long long)hits);
	machine_destroy(m);
}

/*
 * The seed's huge-page point in numbers: 256 MiB written through 4 KiB pages and through huge
 * pages from the hugetlb pool, 8 rounds each (mapped and unmapped again), then re-read with a
 * warm TLB: faults, TLB misses and time per byte-range.
 */
static void bench_hugepages(enum machine_arch arch, const char *name)
{
	struct machine *m = new_machine(arch, 1ull << 30); /* room for the pool and the 4 KiB run */
	const uint64_t len = 256ull << 20;
	struct op pool = {.kind = OP_SET_NR_HUGEPAGES};
	pool.u.hugepages.count = len / huge_page_size(m);
	apply(m, &pool);
	uint32_t pid = spawn(m);
	for (int huge = 0; huge <= 1; huge++) {
		uint64_t faults = 0, misses = 0, remisses = 0;
		double t = 0, tre = 0;
		for (int round = 0; round < 8; round++) {
			struct op op = {.kind = OP_MMAP};
			op.u.mmap.pid = pid;
			op.u.mmap.len = len;
			op.u.mmap.prot = PROT_READ_ | PROT_WRITE_;
			op.u.mmap.flags = MAP_PRIVATE_ | MAP_ANONYMOUS_ | (huge ? MAP_HUGETLB_ : 0);
			uint64_t a = apply(m, &op).value;
			double t0 = now();
			struct op_result r = touch(m, pid, a, len, ACCESS_WRITE);
			t += now() - t0;
			faults += r.faults;
			misses += r.tlb_misses;
			t0 = now();
			remisses += touch(m, pid, a, len, ACCESS_READ).tlb_misses;
			tre += now() - t0;
			unmap(m, pid, a, len);
		}
		printf("%-8s 256 MiB with %s pages: first write %.1f ms (%llu faults, %llu TLB "
		       "misses), re-read %.1f ms (%llu misses) per round\n",
		       name, huge ? (arch == ARCH_I386 ? "4 MiB" : "2 MiB") : "4 KiB", t * 1e3 / 8,
		       (unsigned long long)(faults / 8), (unsigned long long)(misses / 8),
		       tre * 1e3 / 8, (unsigned long long)(remisses / 8));
	}
	machine_destroy(m);
}

/*
 * Faults of a task over its resident limit on a machine without swap (nothing of it can go),
 * with another task's 8,000 anon pages on the LRU: what each fault's reclaim attempt costs.
 */
static void bench_rlimit_noswap(enum machine_arch arch, const char *name)
{
	struct machine *m = new_machine(arch, 64ull << 20);
	uint32_t other = spawn(m), capped = spawn(m);
	touch(m, other, map_anon(m, other, 8000 * PAGE_SIZE), 8000 * PAGE_SIZE, ACCESS_WRITE);
	uint64_t a = map_anon(m, capped, 1100 * PAGE_SIZE);
	touch(m, capped, a, 100 * PAGE_SIZE, ACCESS_WRITE);
	struct op op = {.kind = OP_SET_RLIMIT};
	op.u.set_task.pid = capped;
	op.u.set_task.value = 100;
	apply(m, &op);
	double t0 = now();
	struct op_result r = touch(m, capped, a + 100 * PAGE_SIZE, 1000 * PAGE_SIZE, ACCESS_WRITE);
	double t = now() - t0;
	printf("%-8s faults over an rlimit, no swap, 8,000 other anon pages: %.1f us each "
	       "(%u faults)\n",
	       name, t * 1e6 / r.faults, r.faults);
	machine_destroy(m);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "rlimit") == 0) {
		bench_rlimit_noswap(ARCH_X86_64, "x86_64");
		bench_rlimit_noswap(ARCH_I386, "i386");
		return 0;
	}
	bench_faults(ARCH_X86_64, "x86_64");
	bench_faults(ARCH_I386, "i386");
	if (argc > 1 && strcmp(argv[1], "faults") == 0)
		return 0;
	bench_fork(ARCH_X86_64, "x86_64");
	bench_fork(ARCH_I386, "i386");
	bench_translate(ARCH_X86_64, "x86_64");
	bench_translate(ARCH_I386, "i386");
	bench_hugepages(ARCH_X86_64, "x86_64");
	bench_hugepages(ARCH_I386, "i386");
	bench_rlimit_noswap(ARCH_X86_64, "x86_64");
	bench_rlimit_noswap(ARCH_I386, "i386");
	return 0;
}
