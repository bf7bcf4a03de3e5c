/*
 * store_bench: figures for docs/BENCHMARKS.md (store section).
 *   1. durable journal throughput with group commit (synchronous=FULL, fsync per commit) for
 *      several batching windows, with many submits in flight as under a loaded server;
 *   2. the latency one lonely op pays for each window (submit, wait for the commit);
 *   3. recovery: M machines x N ops recorded through the store module, then recovered from a fresh
 *      open of the database (latest checkpoint + replay, checksums verified);
 *   4. snapshot (checkpoint) size per machine, and the best of several saves and loads.
 * Usage: store_bench [--quick] [--recovery] [--snapshot] [--dir DIR] (--recovery: only part 3,
 * --snapshot: only part 4). Prints figures; asserts nothing about timing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"
#include "store.h"
#include "snapshot.h"

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

static uint8_t *raw_pack(const struct op *op, size_t *len)
{
	uint8_t *b = malloc(sizeof(*op));
	memcpy(b, op, sizeof(*op));
	*len = sizeof(*op);
	return b;
}

static int raw_unpack(const uint8_t *buf, size_t len, struct op *op, char *err, size_t el)
{
	if (len != sizeof(*op)) {
		snprintf(err, el, "op of %zu bytes", len);
		return -1;
	}
	memcpy(op, buf, len);
	return 0;
}

/* vmsimd packs ops as protobuf; the bench measures the store and the core, so it copies. */
static const struct persist_codec raw_codec = {.pack = raw_pack, .unpack = raw_unpack};

/* A deterministic op stream per machine: page allocations of order 0..2 and kmallocs of
 * 32..2048 bytes, each freed later, so the buddy lists and slabs keep changing. */
struct gen {
	uint64_t live[64]; /* value << 2 | kind (0 pages order 0..2 -> 0..2, 3 kmalloc) */
	size_t n;
};

static void gen_op(struct gen *g, uint64_t i, struct op *op)
{
	memset(op, 0, sizeof(*op));
	if (g->n > 0 && (i % 3 == 2 || g->n >= 64)) {
		uint64_t v = g->live[--g->n];
		if ((v & 3) == 3) {
			op->kind = OP_KFREE;
			op->u.kfree.addr = v >> 2;
		} else {
			op->kind = OP_FREE_PAGES;
			op->u.free_pages.pfn = v >> 2;
			op->u.free_pages.order = (uint32_t)(v & 3);
		}
	} else if (i % 2) {
		op->kind = OP_KMALLOC;
		op->u.kmalloc.size = 32u << (i % 7);
	} else {
		op->kind = OP_ALLOC_PAGES;
		op->u.alloc_pages.order = (uint32_t)(i % 3);
	}
}

static void gen_track(struct gen *g, const struct op *op, const struct op_result *res)
{
	if (res->err != VM_OK)
		return;
	if (op->kind == OP_KMALLOC)
		g->live[g->n++] = res->value << 2 | 3;
	else if (op->kind == OP_ALLOC_PAGES)
		g->live[g->n++] = res->value << 2 | op->u.alloc_pages.order;
}

struct counter {
	uint64_t want, done;
	int failed;
};

static void counted(int status, const char *err, void *data)
{
	struct counter *c = data;
	if (status && !c->failed++)
		fprintf(stderr, "store_bench: commit failed: %s\n", err);
	c->done++;
}

static struct machine *last_machine;
static uint64_t recovered_machines;

static void on_recovered(const struct store_machine *sm, struct machine *m, uint64_t seq,
                         void *data)
{
	(void)sm;
	(void)seq;
	(void)data;
	recovered_machines++;
	machine_destroy(last_machine);
	last_machine = m;
}

static void on_problem(const char *line, void *data)
{
	(void)data;
	printf("    problem: %s\n", line);
}

/* Writes M machines x N ops through persist (checkpoint every `every`), `batch` ops per
 * persist_ops call (1: one record per op; more: Apply-style batch records), then measures a
 * cold recovery. */
static void bench_recovery(const char *dir, int machines, int ops, uint64_t ram, uint32_t every,
                           int batch)
{
	char path[512], err[STORE_ERRLEN];
	snprintf(path, sizeof(path), "%s/store_bench_rec.db", dir);
	remove_db(path);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_at(&loop, path, 0);
	struct persist *p = persist_new(s, &raw_codec, every);
	struct machine_config cfg;
	machine_config_default(&cfg, ARCH_X86_64, ram);
	struct counter c = {0};
	double t0 = now_s();
	for (int id = 1; id <= machines; id++) {
		struct machine *m = machine_create(&cfg, err, sizeof(err));
		struct gen g = {.n = 0};
		struct op pending[1000];
		int np = 0;
		c.want++;
		persist_create(p, id, 1, "bench", &cfg, counted, &c);
		for (int i = 0; i < ops; i++) {
			struct op_result res;
			gen_op(&g, (uint64_t)i, &pending[np]);
			machine_apply(m, &pending[np], &res);
			gen_track(&g, &pending[np], &res);
			if (++np < batch && i + 1 < ops)
				continue;
			c.want++;
			persist_ops(p, id, m, pending, (size_t)np, 0, counted, &c);
			np = 0;
			if (persist_checkpoint_due(p, id)) { /* as vmsimd, after the answer */
				c.want++;
				persist_checkpoint(p, id, m, counted, &c);
			}
		}
		machine_destroy(m);
		while (c.want - c.done > 20000)
			uv_run(&loop, UV_RUN_ONCE);
	}
	while (c.done < c.want)
		uv_run(&loop, UV_RUN_ONCE);
	double tw = now_s() - t0;
	persist_free(p);
	close_at(&loop, s);

	t0 = now_s();
	s = open_at(&loop, path, 0);
	p = persist_new(s, &raw_codec, every);
	struct persist_report rep;
	recovered_machines = 0;
	if (persist_recover(p, on_recovered, NULL, on_problem, &rep, err, sizeof(err))) {
		fprintf(stderr, "store_bench: recovery failed: %s\n", err);
		exit(1);
	}
	double tr = now_s() - t0;
	uint8_t *buf;
	size_t snap_len = 0;
	if (last_machine && !machine_save(last_machine, &buf, &snap_len))
		free(buf);
	machine_destroy(last_machine);
	last_machine = NULL;
	printf("  %d machines x %d ops of %llu MiB, %d op%s per record, checkpoint every %u: "
	       "written in %.2f s; recovery %.3f s (%llu machines, %llu ops replayed, %llu "
	       "corrupt); snapshot %zu bytes per machine\n",
	       machines, ops, (unsigned long long)(ram >> 20), batch, batch == 1 ? "" : "s", every,
	       tw, tr, (unsigned long long)recovered_machines, (unsigned long long)rep.ops_replayed,
	       (unsigned long long)rep.corrupt, snap_len);
	persist_free(p);
	close_at(&loop, s);
	uv_loop_close(&loop);
	remove_db(path);
}

/* Best of `runs` saves and loads of m: single timings on a shared host are mostly noise. */
static void time_save_load(const struct machine *m, int runs, double *save_s, double *load_s)
{
	char err[256];
	*save_s = *load_s = 1e9;
	for (int i = 0; i < runs; i++) {
		uint8_t *buf;
		size_t len;
		double t0 = now_s();
		machine_save(m, &buf, &len);
		double t1 = now_s();
		struct machine *copy = machine_load(buf, len, err, sizeof(err));
		double t2 = now_s();
		if (!copy) {
			fprintf(stderr, "store_bench: machine_load: %s\n", err);
			exit(1);
		}
		*save_s = t1 - t0 < *save_s ? t1 - t0 : *save_s;
		*load_s = t2 - t1 < *load_s ? t2 - t1 : *load_s;
		machine_destroy(copy);
		free(buf);
	}
}

static void bench_snapshot_sizes(void)
{
	static const uint64_t sizes[] = {4ull << 20, 16ull << 20, 64ull << 20, 256ull << 20};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct machine_config cfg;
		char err[256];
		machine_config_default(&cfg, ARCH_X86_64, sizes[k]);
		struct machine *m = machine_create(&cfg, err, sizeof(err));
		struct gen g = {.n = 0};
		uint8_t *buf;
		size_t fresh, busy;
		machine_save(m, &buf, &fresh);
		free(buf);
		for (int i = 0; i < 1000; i++) {
			struct op op;
			struct op_result res;
			gen_op(&g, (uint64_t)i, &op);
			machine_apply(m, &op, &res);
			gen_track(&g, &op, &res);
		}
		machine_save(m, &buf, &busy);
		free(buf);
		double ts, tl;
		time_save_load(m, sizes[k] > (64ull << 20) ? 5 : 20, &ts, &tl);
		printf("  %4llu MiB machine: snapshot %zu bytes fresh, %zu bytes after 1,000 ops "
		       "(best save %.3f ms, load %.3f ms)\n",
		       (unsigned long long)(sizes[k] >> 20), fresh, busy, ts * 1e3, tl * 1e3);
		machine_destroy(m);
	}
}

int main(int argc, char **argv)
{
	int quick = 0, recovery_only = 0, snapshot_only = 0;
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	static const struct option longopts[] = {
	    {"quick", no_argument, NULL, 'q'},
	    {"dir", required_argument, NULL, 'd'},
	    {"recovery", no_argument, NULL, 'r'},
	    {"snapshot", no_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "qd:rs", longopts, NULL)) != -1) {
		if (c == 'q')
			quick = 1;
		else if (c == 'r')
			recovery_only = 1;
		else if (c == 's')
			snapshot_only = 1;
		else if (c == 'd')
			dir = optarg;
		else {
			fprintf(
			    stderr,
			    "usage: store_bench [--quick] [--recovery] [--snapshot] [--dir DIR]\n");
			return 2;
		}
	}
	uint64_t total = quick ? 20000 : 300000;
	printf("store_bench: journal records of %zu bytes, synchronous=FULL (fsync per commit), "
	       "database in %s\n",
	       sizeof(struct op), dir);
	if (snapshot_only)
		goto snapshot;
	if (recovery_only)
		goto recovery;
	printf("durable journal throughput with group commit:\n");
	static const uint32_t windows[] = {0, 200, 1000, 5000};
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		bench_throughput(dir, windows[i], total, 10000);
	bench_throughput(dir, 0, total / 4, 100);
	bench_throughput(dir, 0, total / 20, 1);
	printf("latency of a single op by batching window:\n");
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++)
		bench_latency(dir, windows[i], quick ? 20 : 100);
recovery:
	printf("recovery (cold reopen, latest checkpoint + replay of the rest):\n");
	if (quick) {
		bench_recovery(dir, 50, 200, 16ull << 20, 75, 1);
		bench_recovery(dir, 50, 200, 16ull << 20, 75, 20);
	} else {
		bench_recovery(dir, 1000, 1000, 64ull << 20, 1000000, 1); /* no checkpoint: all */
		bench_recovery(dir, 1000, 1000, 64ull << 20, 1000000,
		               100);                                  /* Apply batches of 100 */
		bench_recovery(dir, 1000, 1000, 64ull << 20, 300, 1); /* replay 100 each */
	}
	if (recovery_only)
		return 0;
snapshot:
	printf("snapshot size:\n");
	bench_snapshot_sizes();
	return 0;
}
