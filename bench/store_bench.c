/*
 * store_bench: figures for docs/BENCHMARKS.md (store section).
 *   1. durable journal throughput with group commit (synchronous=FULL, fsync per commit) for
 *      several batching windows, with many submits in flight as under a loaded server;
 *   2. the latency one lonely op pays for each window (submit, wait for the commit);
 *   3. recovery: M machines x N ops read back from the journal (checksums verified) and
 *      replayed through the deterministic core, from a cold reopen of the database.
 * Usage: store_bench [--quick] [--dir DIR]. Prints figures; asserts nothing about timing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"
#include "store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct store *open_at(uv_loop_t *loop, const char *path, uint32_t window)
{
	char err[STORE_ERRLEN];
	struct store_opts o = {.path = path, .loop = loop, .batch_window_us = window};
	struct store *s = store_open(&o, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "store_bench: %s\n", err);
		exit(1);
	}
	return s;
}

static void close_at(uv_loop_t *loop, struct store *s)
{
	store_close(s);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void remove_db(const char *path)
{
	char side[600];
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* ---- 1 and 2: throughput and latency ---- */

struct pump {
	struct store *s;
	uint64_t next, total, done, inflight, depth;
	int failed;
};

static void submit_more(struct pump *p);

static void pumped(struct store_rec *rec, int status, const char *err, void *data)
{
	struct pump *p = data;
	(void)rec;
	if (status && !p->failed++)
		fprintf(stderr, "store_bench: commit failed: %s\n", err);
	p->done++;
	p->inflight--;
	submit_more(p);
}

/* Keeps `depth` journal records in flight (like `depth` clients waiting for their ack). */
static void submit_more(struct pump *p)
{
	struct op op = {.kind = OP_ALLOC_PAGES};
	while (p->inflight < p->depth && p->next < p->total) {
		struct store_rec *r = store_rec_new(STORE_JOURNAL, sizeof(op));
		uint64_t i = p->next++;
		r->id = (int64_t)(i % 1000) + 1; /* spread over 1,000 machines */
		r->seq = i / 1000 + 1;
		op.u.alloc_pages.order = (uint32_t)(i % 4);
		memcpy(r->blob, &op, sizeof(op));
		r->cb = pumped;
		r->data = p;
		p->inflight++;
		store_submit(p->s, r);
	}
}

static void bench_throughput(const char *dir, uint32_t window, uint64_t total, uint64_t depth)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/store_bench_tp.db", dir);
	remove_db(path);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_at(&loop, path, window);
	struct pump p = {.s = s, .total = total, .depth = depth};
	double t0 = now_s();
	submit_more(&p);
	while (p.done < total)
		uv_run(&loop, UV_RUN_ONCE);
	double dt = now_s() - t0;
	struct store_stats st;
	store_get_stats(s, &st);
	printf("  window %5u us, %6llu in flight: %9.0f durable ops/s  (%llu commits, "
	       "mean batch %.0f, max %llu, mean commit %.2f ms, max %.2f ms)\n",
	       window, (unsigned long long)depth, (double)total / dt,
	       (unsigned long long)st.commits, (double)st.records / (double)st.commits,
	       (unsigned long long)st.max_batch, (double)st.commit_ns / (double)st.commits / 1e6,
	       (double)st.max_commit_ns / 1e6);
	close_at(&loop, s);
	uv_loop_close(&loop);
	remove_db(path);
}

static void bench_latency(const char *dir, uint32_t window, int n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/store_bench_lat.db", dir);
	remove_db(path);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_at(&loop, path, window);
	struct pump p = {.s = s, .depth = 1};
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		p.total++;
		submit_more(&p);
		while (p.done < p.total)
			uv_run(&loop, UV_RUN_ONCE);
	}
	double dt = now_s() - t0;
	printf("  window %5u us: one op alone waits %.2f ms for its commit (mean of %d)\n", window,
	       dt / n * 1e3, n);
	close_at(&loop, s);
	uv_loop_close(&loop);
	remove_db(path);
}

/* ---- 3: recovery ---- */

/* A deterministic op stream per machine: allocations of order 0..2, each freed later. */
static void gen_op(struct machine *m, uint64_t i, uint64_t *pfns, size_t *npfn, struct op *op)
{
	memset(op, 0, sizeof(*op));
	if (*npfn > 0 && (i % 3 == 2 || *npfn >= 64)) {
		op->kind = OP_FREE_PAGES;
		op->u.free_pages.pfn = pfns[--*npfn] >> 2;
		op->u.free_pages.order = (uint32_t)(pfns[*npfn] & 3);
		return;
	}
	op->kind = OP_ALLOC_PAGES;
	op->u.alloc_pages.order = (uint32_t)(i % 3);
	(void)m;
}

struct replay {
	struct machine *m;
	uint64_t applied, errors;
};

static int replay_op(uint64_t seq, const uint8_t *buf, size_t len, void *data)
{
	struct replay *r = data;
	struct op op;
	struct op_result res;
	(void)seq;
	if (len != sizeof(op))
		return -1;
	memcpy(&op, buf, sizeof(op));
	if (machine_apply(r->m, &op, &res) != VM_OK)
		r->errors++;
	r->applied++;
	return 0;
}

static void write_machines(struct store *s, uv_loop_t *loop, int machines, int ops, uint64_t ram)
{
	struct machine_config cfg;
	machine_config_default(&cfg, ARCH_X86_64, ram);
	struct pump p = {.s = s};
	for (int id = 1; id <= machines; id++) {
		char err[STORE_ERRLEN];
		struct store_rec *r = store_rec_new(STORE_MACHINE_CREATE, sizeof(cfg));
		r->id = id;
		r->ref = 1;
		snprintf(r->name, sizeof(r->name), "m%d", id);
		memcpy(r->blob, &cfg, sizeof(cfg));
		store_submit(s, r);
		struct machine *m = machine_create(&cfg, err, sizeof(err));
		uint64_t pfns[64];
		size_t npfn = 0;
		for (int i = 0; i < ops; i++) {
			struct op op;
			struct op_result res;
			gen_op(m, (uint64_t)i, pfns, &npfn, &op);
			if (machine_apply(m, &op, &res) == VM_OK && op.kind == OP_ALLOC_PAGES)
				pfns[npfn++] = res.value << 2 | op.u.alloc_pages.order;
			r = store_rec_new(STORE_JOURNAL, sizeof(op));
			r->id = id;
			r->seq = (uint64_t)i + 1;
			memcpy(r->blob, &op, sizeof(op));
			r->cb = pumped;
			r->data = &p;
			p.total++;
			p.inflight++;
			store_submit(s, r);
		}
		machine_destroy(m);
		while (p.inflight > 20000)
			uv_run(loop, UV_RUN_ONCE);
	}
	while (p.done < p.total)
		uv_run(loop, UV_RUN_ONCE);
}

static void bench_recovery(const char *dir, int machines, int ops, uint64_t ram)
{
	char path[512], err[STORE_ERRLEN];
	snprintf(path, sizeof(path), "%s/store_bench_rec.db", dir);
	remove_db(path);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_at(&loop, path, 0);
	double t0 = now_s();
	write_machines(s, &loop, machines, ops, ram);
	double tw = now_s() - t0;
	close_at(&loop, s);

	/* cold-ish start: a fresh process would open the file and walk every machine */
	t0 = now_s();
	s = open_at(&loop, path, 0);
	struct store_machine *ms;
	size_t n;
	if (store_list_machines(s, &ms, &n, err, sizeof(err))) {
		fprintf(stderr, "store_bench: %s\n", err);
		exit(1);
	}
	double tlist = now_s() - t0, tread = 0;
	uint64_t total = 0, errors = 0, corrupt = 0;
	for (size_t i = 0; i < n; i++) {
		struct machine_config cfg;
		memcpy(&cfg, ms[i].config, sizeof(cfg));
		struct replay r = {.m = machine_create(&cfg, err, sizeof(err))};
		struct store_scan sc;
		double t1 = now_s();
		store_scan_journal(s, ms[i].id, 0, 0, NULL, NULL, &sc, err, sizeof(err));
		tread += now_s() - t1;
		store_scan_journal(s, ms[i].id, 0, 0, replay_op, &r, &sc, err, sizeof(err));
		corrupt += (uint64_t)sc.corrupt;
		total += r.applied;
		errors += r.errors;
		machine_destroy(r.m);
	}
	double dt = now_s() - t0 - tread; /* the read-only pass was timed separately */
	store_free_machines(ms, n);
	printf("  wrote %d machines x %d ops in %.2f s (%.0f ops/s)\n", machines, ops, tw,
	       (double)machines * ops / tw);
	printf("  recovery: %zu machines, %llu ops replayed in %.3f s (list %.3f s); journal read "
	       "+ checksums alone %.3f s; %llu op errors, %llu corrupt tails\n",
	       n, (unsigned long long)total, dt, tlist, tread, (unsigned long long)errors,
	       (unsigned long long)corrupt);
	close_at(&loop, s);
	uv_loop_close(&loop);
	remove_db(path);
}

int main(int argc, char **argv)
{
	int quick = 0;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static const struct option longopts[] = {
	    {"quick", no_argument, NULL, 'q'},
	    {"dir", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qd:", longopts, NULL)) != -1) {
		if (c == 'q')
			quick = 1;
		else if (c == 'd')
			dir = optarg;
		else {
			fprintf(stderr, "usage: store_bench [--quick] [--dir DIR]\n");
			return 2;
		}
	}
	uint64_t total = quick ? 20000 : 300000;
	printf("store_bench: journal records of %zu bytes, synchronous=FULL (fsync per commit), "
	       "database in %s\n",
	       sizeof(struct op), dir);
	printf("durable journal throughput with group commit:\n");
	static const uint32_t windows[] = {0, 200, 1000, 5000};
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		bench_throughput(dir, windows[i], total, 10000);
	bench_throughput(dir, 0, total / 4, 100);
	bench_throughput(dir, 0, total / 20, 1);
	printf("latency of a single op by batching window:\n");
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		bench_latency(dir, windows[i], quick ? 20 : 100);
	printf("recovery:\n");
	if (quick)
		bench_recovery(dir, 50, 200, 16ull << 20);
	else
		bench_recovery(dir, 1000, 1000, 16ull << 20);
	return 0;
}
