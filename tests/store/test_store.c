/* Tests of the SQLite store (server/store/store.c, reads.c): schema, group commit,
 * completions on the loop, journal scans with corrupt tails, snapshots, integrity_check. Every
 * database is ephemeral or under $TMPDIR. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"

struct fx {
	uv_loop_t loop;
	struct store *s;
};

static struct store *open_store(uv_loop_t *loop, const char *path, uint32_t window,
                                uint32_t max_batch)
{
	char err[STORE_ERRLEN] = "";
	struct store_opts o = {
	    .path = path, .loop = loop, .batch_window_us = window, .max_batch = max_batch};
	struct store *s = store_open(&o, err, sizeof(err));
	if (!s)
		fail_msg("store_open: %s", err);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uv_loop_init(&f->loop);
	f->s = open_store(&f->loop, NULL, 0, 0);
	*state = f;
	return 0;
}

static void close_store(uv_loop_t *loop, struct store *s)
{
	store_close(s);
	uv_run(loop, UV_RUN_DEFAULT); /* lets the async handle close */
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close_store(&f->loop, f->s);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

/* Completion bookkeeping for async submits. */
struct done {
	int calls;
	int status[256];
	uint64_t order[256]; /* seq of each completion, in callback order */
	char err[256];
};

static void on_done(struct store_rec *rec, int status, const char *err, void *data)
{
	struct done *d = data;
	d->order[d->calls] = rec->seq;
	d->status[d->calls++] = status;
	if (err)
		snprintf(d->err, sizeof(d->err), "%s", err);
}

static void run_until(uv_loop_t *loop, const int *calls, int want)
{
	while (*calls < want)
		uv_run(loop, UV_RUN_ONCE);
}

static struct store_rec *journal_rec(int64_t machine, uint64_t seq, struct done *d)
{
	char op[32];
	int n = snprintf(op, sizeof(op), "op-%llu", (unsigned long long)seq);
	struct store_rec *r = store_rec_new(STORE_JOURNAL, (size_t)n);
	r->id = machine;
	r->seq = seq;
	memcpy(r->blob, op, (size_t)n);
	r->cb = d ? on_done : NULL;
	r->data = d;
	return r;
}

static void put_machine(struct store *s, int64_t id, int64_t owner, const char *name)
{
	char err[STORE_ERRLEN];
	struct store_rec *r = store_rec_new(STORE_MACHINE_CREATE, 4);
	r->id = id;
	r->ref = owner;
	snprintf(r->name, sizeof(r->name), "%s", name);
	memcpy(r->blob, "cfg!", 4);
	assert_int_equal(store_submit_sync(s, r, err, sizeof(err)), 0);
}

static void put_ops(struct fx *f, int64_t machine, uint64_t from, uint64_t to)
{
	struct done d = {0};
	for (uint64_t seq = from; seq <= to; seq++)
		store_submit(f->s, journal_rec(machine, seq, &d));
	run_until(&f->loop, &d.calls, (int)(to - from + 1));
	for (int i = 0; i < d.calls; i++)
		assert_int_equal(d.status[i], 0);
}

/* Collects a scan's ops as "seq:op" text. */
static int collect_op(uint64_t seq, const uint8_t *op, size_t len, void *data)
{
	char *out = data;
	size_t n = strlen(out);
	snprintf(out + n, 1024 - n, "%llu:%.*s ", (unsigned long long)seq, (int)len,
	         (const char *)op);
	return 0;
}

static int sql_int(struct store *s, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(store_reader_db(s), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void sql_exec(struct store *s, const char *sql)
{
	assert_int_equal(sqlite3_exec(store_reader_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
}

static void test_schema_and_wal(void **state)
{
	struct fx *f = *state;
	assert_int_equal(sql_int(f->s, "SELECT max(version) FROM schema_version"), 4);
	assert_int_equal(sql_int(f->s,
	                         "SELECT count(*) FROM sqlite_master WHERE type='table' AND"
	                         " name IN ('users','tokens','machines','journal','snapshots')"),
	                 5);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(store_reader_db(f->s), "PRAGMA journal_mode", -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(strncmp(store_path(f->s), "/", 1), 0);
}

static void test_checksum_values(void **state)
{
	(void)state;
	/* CRC-32 of id and seq as little-endian 64-bit words, then the bytes (zlib.crc32) */
	assert_int_equal(store_checksum(1, 2, (const uint8_t *)"abc", 3), 0x9fe36826u);
	assert_int_equal(store_checksum(7, 3, (const uint8_t *)"op-3", 4), 0x31415b12u);
	assert_int_not_equal(store_checksum(7, 4, (const uint8_t *)"op-3", 4), 0x31415b12u);
}

static void test_journal_roundtrip(void **state)
{
	struct fx *f = *state;
	put_machine(f->s, 7, 1, "m7");
	put_ops(f, 7, 1, 5);
	char out[1024] = "";
	struct store_scan sc;
	char err[STORE_ERRLEN];
	assert_int_equal(store_scan_journal(f->s, 7, 0, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 2:op-2 3:op-3 4:op-4 5:op-5 ");
	assert_int_equal(sc.ops, 5);
	assert_int_equal(sc.last_seq, 5);
	assert_int_equal(sc.corrupt, 0);
	/* a window: after 2, up to 4 */
	out[0] = 0;
	assert_int_equal(store_scan_journal(f->s, 7, 2, 4, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "3:op-3 4:op-4 ");
	assert_int_equal(sc.last_seq, 4);
	/* stored checksum is the documented one */
	assert_int_equal((uint32_t)sql_int(f->s, "SELECT crc FROM journal WHERE seq=3"),
	                 0x31415b12u);
}

static void test_completions_in_order_on_loop(void **state)
{
	struct fx *f = *state;
	struct done d = {0};
	for (uint64_t seq = 1; seq <= 200; seq++)
		store_submit(f->s, journal_rec(3, seq, &d));
	run_until(&f->loop, &d.calls, 200);
	assert_int_equal(d.calls, 200);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(d.status[i], 0);
		assert_int_equal(d.order[i], (uint64_t)i + 1);
	}
	struct store_stats st;
	store_get_stats(f->s, &st);
	assert_int_equal(st.records, 200);
	assert_true(st.commits >= 1 && st.commits <= 200);
	assert_true(st.max_batch >= 1);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM journal WHERE machine_id=3"), 200);
}

static void test_duplicate_seq_fails_alone(void **state)
{
	struct fx *f = *state;
	put_ops(f, 9, 1, 3);
	struct done d = {0};
	store_submit(f->s, journal_rec(9, 4, &d));
	store_submit(f->s, journal_rec(9, 2, &d)); /* taken */
	store_submit(f->s, journal_rec(9, 5, &d));
	run_until(&f->loop, &d.calls, 3);
	assert_int_equal(d.status[0], 0);
	assert_int_equal(d.status[1], STORE_EEXIST);
	assert_int_equal(d.status[2], 0);
	assert_string_equal(d.err, "UNIQUE constraint failed: journal.machine_id, journal.seq");
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM journal WHERE machine_id=9"), 5);
}

static void test_batch_window_groups(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	/* a 10 s window ends early when max_batch records are queued: one transaction of 100
	 * (no timing involved: the writer is woken by the 100th record) */
	struct store *s = open_store(&loop, NULL, 10000000, 100);
	struct done d = {0};
	for (uint64_t seq = 1; seq <= 100; seq++)
		store_submit(s, journal_rec(1, seq, &d));
	run_until(&loop, &d.calls, 100);
	struct store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.max_batch, 100);
	close_store(&loop, s);
	/* max_batch bounds a transaction */
	s = open_store(&loop, NULL, 10000000, 10);
	memset(&d, 0, sizeof(d));
	for (uint64_t seq = 1; seq <= 100; seq++)
		store_submit(s, journal_rec(1, seq, &d));
	run_until(&loop, &d.calls, 100);
	store_get_stats(s, &st);
	assert_int_equal(st.records, 100);
	assert_int_equal(st.max_batch, 10);
	assert_int_equal(st.commits, 10);
	close_store(&loop, s);
	/* close does not wait out the window */
	s = open_store(&loop, NULL, 10000000, 0);
	memset(&d, 0, sizeof(d));
	store_submit(s, journal_rec(1, 1, &d));
	close_store(&loop, s);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status[0], 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_close_delivers_pending(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_store(&loop, NULL, 0, 0);
	struct done d = {0};
	for (uint64_t seq = 1; seq <= 50; seq++)
		store_submit(s, journal_rec(2, seq, &d));
	close_store(&loop, s); /* no loop run in between: close commits and completes all */
	assert_int_equal(d.calls, 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(d.status[i], 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_machines(void **state)
{
	struct fx *f = *state;
	char err[STORE_ERRLEN];
	put_machine(f->s, 1, 10, "alpha");
	put_machine(f->s, 2, 11, "beta");
	put_machine(f->s, 3, 10, "gamma");
	put_ops(f, 3, 1, 4);
	/* duplicate id */
	struct store_rec *r = store_rec_new(STORE_MACHINE_CREATE, 0);
	r->id = 2;
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), STORE_EEXIST);
	assert_string_equal(err, "UNIQUE constraint failed: machines.id");
	r = store_rec_new(STORE_MACHINE_DELETE, 0);
	r->id = 2;
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), 0);
	r = store_rec_new(STORE_MACHINE_DELETE, 0);
	r->id = 2;
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), STORE_ENOENT);
	assert_string_equal(err, "no such machine");
	r = store_rec_new(STORE_MACHINE_SHARE, 0);
	r->id = 3;
	r->role = 1;
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), 0);

	struct store_machine *m;
	size_t n;
	assert_int_equal(store_list_machines(f->s, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(m[0].id, 1);
	assert_int_equal(m[0].owner, 10);
	assert_string_equal(m[0].name, "alpha");
	assert_int_equal(m[0].config_len, 4);
	assert_memory_equal(m[0].config, "cfg!", 4);
	assert_int_equal(m[0].last_seq, 0);
	assert_int_equal(m[0].shared, 0);
	assert_int_equal(m[1].id, 3);
	assert_string_equal(m[1].name, "gamma");
	assert_int_equal(m[1].last_seq, 4);
	assert_int_equal(m[1].shared, 1);
	store_free_machines(m, n);
}

static struct store_rec *snap_rec(int64_t machine, uint64_t seq, const char *name,
                                  const char *state)
{
	struct store_rec *r = store_rec_new(STORE_SNAPSHOT, strlen(state));
	r->id = machine;
	r->seq = seq;
	snprintf(r->name, sizeof(r->name), "%s", name);
	memcpy(r->blob, state, strlen(state));
	return r;
}

static void test_snapshots(void **state)
{
	struct fx *f = *state;
	char err[STORE_ERRLEN];
	assert_int_equal(store_submit_sync(f->s, snap_rec(4, 100, "", "state@100"), err, 256), 0);
	assert_int_equal(
	    store_submit_sync(f->s, snap_rec(4, 150, "before-fork", "state@150"), err, 256), 0);
	assert_int_equal(store_submit_sync(f->s, snap_rec(4, 200, "", "state@200"), err, 256), 0);
	assert_int_equal(store_submit_sync(f->s, snap_rec(5, 50, "", "other"), err, 256), 0);
	/* names are unique per machine; checkpoints ("") are not named */
	assert_int_equal(store_submit_sync(f->s, snap_rec(4, 300, "before-fork", "x"), err, 256),
	                 STORE_EEXIST);

	struct store_snapshot sn;
	assert_int_equal(store_latest_snapshot(f->s, 4, UINT64_MAX, &sn, err, sizeof(err)), 1);
	assert_int_equal(sn.seq, 200);
	assert_string_equal(sn.name, "");
	assert_int_equal(sn.len, 9);
	assert_memory_equal(sn.state, "state@200", 9);
	free(sn.state);
	assert_int_equal(store_latest_snapshot(f->s, 4, 199, &sn, err, sizeof(err)), 1);
	assert_int_equal(sn.seq, 150);
	assert_string_equal(sn.name, "before-fork");
	free(sn.state);
	assert_int_equal(store_latest_snapshot(f->s, 4, 99, &sn, err, sizeof(err)), 0);
	assert_int_equal(store_get_snapshot(f->s, 4, "before-fork", &sn, err, sizeof(err)), 1);
	assert_memory_equal(sn.state, "state@150", 9);
	free(sn.state);
	assert_int_equal(store_get_snapshot(f->s, 4, "nope", &sn, err, sizeof(err)), 0);
	assert_int_equal(store_get_snapshot(f->s, 4, "", &sn, err, sizeof(err)), 0);

	struct store_snapshot *list;
	size_t n;
	assert_int_equal(store_list_snapshots(f->s, 4, 0, &list, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(list[0].seq, 100);
	assert_int_equal(list[1].seq, 150);
	assert_string_equal(list[1].name, "before-fork");
	assert_int_equal(list[1].len, 9);
	assert_null(list[1].state);
	free(list);

	struct store_rec *r = store_rec_new(STORE_SNAPSHOT_DELETE, 0);
	r->id = 4;
	strcpy(r->name, "before-fork");
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), 0);
	r = store_rec_new(STORE_SNAPSHOT_DELETE, 0);
	r->id = 4;
	strcpy(r->name, "before-fork");
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), STORE_ENOENT);
	assert_string_equal(err, "no such snapshot");
}

static void test_corrupt_snapshot_rejected(void **state)
{
	struct fx *f = *state;
	char err[STORE_ERRLEN];
	assert_int_equal(store_submit_sync(f->s, snap_rec(6, 10, "", "good-state"), err, 256), 0);
	sql_exec(f->s, "UPDATE snapshots SET state=x'00' WHERE machine_id=6");
	struct store_snapshot sn;
	assert_int_equal(store_latest_snapshot(f->s, 6, 10, &sn, err, sizeof(err)), -1);
	assert_string_equal(err, "snapshot of machine 6 seq 10 is corrupt (checksum mismatch)");
}

static void test_corrupt_tail_detected(void **state)
{
	struct fx *f = *state;
	put_ops(f, 8, 1, 6);
	/* flip record 4's bytes behind the store's back */
	sql_exec(f->s, "UPDATE journal SET op=x'6f702d58' WHERE machine_id=8 AND seq=4");
	char out[1024] = "";
	struct store_scan sc;
	char err[STORE_ERRLEN];
	assert_int_equal(store_scan_journal(f->s, 8, 0, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 2:op-2 3:op-3 "); /* nothing at or after the bad one */
	assert_int_equal(sc.corrupt, 1);
	assert_int_equal(sc.bad_seq, 4);
	assert_int_equal(sc.last_seq, 3);
	assert_int_equal(sc.skipped, 3);
	char want[128];
	snprintf(want, sizeof(want), "checksum mismatch at seq 4 (stored %08x, computed %08x)",
	         store_checksum(8, 4, (const uint8_t *)"op-4", 4),
	         store_checksum(8, 4, (const uint8_t *)"op-X", 4));
	assert_string_equal(sc.reason, want);
}

static void test_gap_detected(void **state)
{
	struct fx *f = *state;
	put_ops(f, 5, 1, 6);
	sql_exec(f->s, "DELETE FROM journal WHERE machine_id=5 AND seq=4");
	char out[1024] = "";
	struct store_scan sc;
	char err[STORE_ERRLEN];
	assert_int_equal(store_scan_journal(f->s, 5, 0, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 2:op-2 3:op-3 ");
	assert_int_equal(sc.corrupt, 1);
	assert_int_equal(sc.bad_seq, 5);
	assert_int_equal(sc.skipped, 2);
	assert_string_equal(sc.reason, "seq 5 follows 3: ops missing");
	/* starting after a checkpoint at 2 but the journal begins later: also a gap */
	sql_exec(f->s, "DELETE FROM journal WHERE machine_id=5 AND seq=3");
	assert_int_equal(store_scan_journal(f->s, 5, 2, 0, NULL, NULL, &sc, err, sizeof(err)), 0);
	assert_int_equal(sc.corrupt, 1);
	assert_string_equal(sc.reason, "seq 5 follows 2: ops missing");
}

/* A journal record that covers several seqs (a batch): nseq in the row and the checksum. */
static void put_batch(struct fx *f, int64_t machine, uint64_t seq, uint32_t nseq, const char *op)
{
	char err[STORE_ERRLEN];
	struct store_rec *r = store_rec_new(STORE_JOURNAL, strlen(op));
	r->id = machine;
	r->seq = seq;
	r->nseq = nseq;
	memcpy(r->blob, op, strlen(op));
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), 0);
}

static void test_batch_records(void **state)
{
	struct fx *f = *state;
	char out[1024] = "", err[STORE_ERRLEN];
	struct store_scan sc;
	put_machine(f->s, 9, 1, "m9");
	put_ops(f, 9, 1, 1);
	put_batch(f, 9, 2, 3, "b2-4");
	put_ops(f, 9, 5, 5);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM journal WHERE machine_id=9"), 3);
	assert_int_equal(sql_int(f->s, "SELECT nseq FROM journal WHERE machine_id=9 AND seq=2"), 3);
	/* the checksum covers the seq count too; a one-seq record keeps the old value */
	assert_int_equal((uint32_t)sql_int(f->s, "SELECT crc FROM journal WHERE seq=2"),
	                 store_journal_checksum(9, 2, 3, (const uint8_t *)"b2-4", 4));
	assert_int_not_equal(store_journal_checksum(9, 2, 3, (const uint8_t *)"b2-4", 4),
	                     store_checksum(9, 2, (const uint8_t *)"b2-4", 4));
	assert_int_equal(store_journal_checksum(9, 2, 1, (const uint8_t *)"b2-4", 4),
	                 store_checksum(9, 2, (const uint8_t *)"b2-4", 4));
	/* the machine's history ends where the last record's seqs end */
	struct store_machine m;
	assert_int_equal(store_get_machine(f->s, 9, &m, err, sizeof(err)), 1);
	free(m.config);
	assert_int_equal(m.last_seq, 5);
	put_batch(f, 9, 6, 2, "b6-7");
	assert_int_equal(store_get_machine(f->s, 9, &m, err, sizeof(err)), 1);
	free(m.config);
	assert_int_equal(m.last_seq, 7);
	/* a whole scan: one callback per record, seqs counted per op */
	assert_int_equal(store_scan_journal(f->s, 9, 0, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 2:b2-4 5:op-5 6:b6-7 ");
	assert_int_equal(sc.ops, 7);
	assert_int_equal(sc.records, 4);
	assert_int_equal(sc.last_seq, 7);
	assert_int_equal(sc.corrupt, 0);
	/* up to a seq inside a batch: the batch is delivered whole, last_seq is the one asked */
	out[0] = 0;
	assert_int_equal(store_scan_journal(f->s, 9, 0, 3, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 2:b2-4 ");
	assert_int_equal(sc.ops, 3);
	assert_int_equal(sc.last_seq, 3);
	/* from the boundary after a batch */
	out[0] = 0;
	assert_int_equal(store_scan_journal(f->s, 9, 4, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "5:op-5 6:b6-7 ");
	assert_int_equal(sc.last_seq, 7);
	/* a damaged seq count is a checksum mismatch, not a silent gap */
	sql_exec(f->s, "UPDATE journal SET nseq=2 WHERE machine_id=9 AND seq=2");
	out[0] = 0;
	assert_int_equal(store_scan_journal(f->s, 9, 0, 0, collect_op, out, &sc, err, sizeof(err)),
	                 0);
	assert_string_equal(out, "1:op-1 ");
	assert_int_equal(sc.corrupt, 1);
	assert_int_equal(sc.bad_seq, 2);
	assert_int_equal(sc.skipped, 3);
	char want[128];
	snprintf(want, sizeof(want), "checksum mismatch at seq 2 (stored %08x, computed %08x)",
	         store_journal_checksum(9, 2, 3, (const uint8_t *)"b2-4", 4),
	         store_journal_checksum(9, 2, 2, (const uint8_t *)"b2-4", 4));
	assert_string_equal(sc.reason, want);
	sql_exec(f->s, "UPDATE journal SET nseq=0 WHERE machine_id=9 AND seq=2");
	assert_int_equal(store_scan_journal(f->s, 9, 0, 0, NULL, NULL, &sc, err, sizeof(err)), 0);
	assert_string_equal(sc.reason, "entry at seq 2 covers 0 seqs");
	/* quarantine moves whole records, their seq counts with them */
	sql_exec(f->s, "UPDATE journal SET nseq=3 WHERE machine_id=9 AND seq=2");
	struct store_rec *q = store_rec_new(STORE_JOURNAL_QUARANTINE, 0);
	q->id = 9;
	q->seq = 2;
	assert_int_equal(store_submit_sync(f->s, q, err, sizeof(err)), 0);
	assert_int_equal(sql_int(f->s, "SELECT count(*) FROM journal WHERE machine_id=9"), 1);
	assert_int_equal(sql_int(f->s, "SELECT sum(nseq) FROM journal_quarantine"), 6);
}

/* A database written before batch records (schema 3) opens, migrates and reads the same. */
static void test_migration_from_schema_3(void **state)
{
	(void)state;
	char path[256], err[STORE_ERRLEN], out[1024] = "";
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vmsim-store-mig-%d.db", tmp ? tmp : "/tmp", getpid());
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_store(&loop, path, 0, 0);
	close_store(&loop, s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[512];
	snprintf(sql, sizeof(sql),
	         "ALTER TABLE journal DROP COLUMN nseq;"
	         "ALTER TABLE journal_quarantine DROP COLUMN nseq;"
	         "DELETE FROM schema_version WHERE version=4;"
	         "INSERT INTO journal(machine_id,seq,op,crc,created) VALUES(4,1,'op-1',%u,0),"
	         "(4,2,'op-2',%u,0);",
	         store_checksum(4, 1, (const uint8_t *)"op-1", 4),
	         store_checksum(4, 2, (const uint8_t *)"op-2", 4));
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	s = open_store(&loop, path, 0, 0);
	assert_int_equal(sql_int(s, "SELECT max(version) FROM schema_version"), 4);
	assert_int_equal(sql_int(s, "SELECT sum(nseq) FROM journal"), 2);
	struct store_scan sc;
	assert_int_equal(store_scan_journal(s, 4, 0, 0, collect_op, out, &sc, err, sizeof(err)), 0);
	assert_string_equal(out, "1:op-1 2:op-2 ");
	assert_int_equal(sc.corrupt, 0);
	close_store(&loop, s);
	assert_int_equal(uv_loop_close(&loop), 0);
	char side[300];
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

static int stop_at_3(uint64_t seq, const uint8_t *op, size_t len, void *data)
{
	(void)op;
	(void)len;
	(void)data;
	return seq == 3 ? 42 : 0;
}

static void test_scan_callback_stops(void **state)
{
	struct fx *f = *state;
	put_ops(f, 11, 1, 5);
	struct store_scan sc;
	char err[STORE_ERRLEN];
	assert_int_equal(store_scan_journal(f->s, 11, 0, 0, stop_at_3, NULL, &sc, err, sizeof(err)),
	                 42);
	assert_int_equal(sc.ops, 2);
	assert_int_equal(sc.last_seq, 2);
}

static void test_integrity_check(void **state)
{
	struct fx *f = *state;
	char msg[256];
	put_ops(f, 1, 1, 3);
	assert_int_equal(store_integrity_check(f->s, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "ok");
}

static void test_reopen_keeps_data(void **state)
{
	(void)state;
	char path[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vmsim-store-test-%d.db", tmp ? tmp : "/tmp", getpid());
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_store(&loop, path, 0, 0);
	put_machine(s, 1, 1, "keep");
	close_store(&loop, s);
	s = open_store(&loop, path, 0, 0);
	struct store_machine *m;
	size_t n;
	char err[STORE_ERRLEN];
	assert_int_equal(store_list_machines(s, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(m[0].name, "keep");
	store_free_machines(m, n);
	/* a database from a newer vmsimd is refused, not migrated down */
	sql_exec(s, "INSERT INTO schema_version VALUES(99)");
	close_store(&loop, s);
	struct store_opts o = {.path = path, .loop = &loop};
	assert_null(store_open(&o, err, sizeof(err)));
	assert_string_equal(err,
	                    "database schema version 99 is newer than this vmsimd supports (4)");
	assert_int_equal(uv_loop_close(&loop), 0);
	char side[300];
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

static void test_bad_path(void **state)
{
	(void)state;
	char err[STORE_ERRLEN];
	struct store_opts o = {.path = "/nonexistent-dir/x/vmsim.db"};
	assert_null(store_open(&o, err, sizeof(err)));
	assert_string_equal(
	    err, "cannot open database /nonexistent-dir/x/vmsim.db: unable to open database file");
}

static void test_ephemeral_removed_on_close(void **state)
{
	(void)state;
	struct store_opts o = {.path = ":memory:"};
	char err[STORE_ERRLEN], path[4096];
	struct store *s = store_open(&o, err, sizeof(err));
	assert_non_null(s);
	snprintf(path, sizeof(path), "%s", store_path(s));
	assert_int_equal(access(path, F_OK), 0);
	store_close(s); /* no loop: frees at once */
	assert_int_equal(access(path, F_OK), -1);
}

static void put_attempt(struct store *s, int64_t user, const char *topic, uint64_t seed,
                        int correct, int64_t right, int64_t total)
{
	char err[STORE_ERRLEN];
	struct store_rec *r = store_rec_new(STORE_EXERCISE_ATTEMPT, 0);
	r->id = user;
	r->seq = seed;
	snprintf(r->name, sizeof(r->name), "%s", topic);
	r->role = correct;
	r->quota[0] = right;
	r->quota[1] = total;
	assert_int_equal(store_submit_sync(s, r, err, sizeof(err)), 0);
}

/* Attempts are summed per (user, topic); the first correct time is the earliest right one,
 * the last seed the latest attempt's; filters by user and topic. */
static void test_exercise_results(void **state)
{
	struct fx *f = *state;
	struct store_exercise_result *r;
	size_t n;
	char err[STORE_ERRLEN];
	assert_int_equal(store_exercise_results(f->s, -1, NULL, &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(r);
	put_attempt(f->s, 3, "slab", 7, 0, 3, 4);
	put_attempt(f->s, 3, "slab", 8, 1, 4, 4);
	put_attempt(f->s, 3, "slab", UINT64_MAX, 1, 4, 4);
	put_attempt(f->s, 3, "buddy", 1, 0, 0, 3);
	put_attempt(f->s, 0, "cow", 5, 1, 2, 2);
	/* pin the commit times so first_correct is checked exactly */
	sql_exec(f->s, "UPDATE exercise_attempts SET created=1000+id");
	assert_int_equal(sql_int(f->s, "SELECT sum(fields_right) FROM exercise_attempts"), 13);
	assert_int_equal(store_exercise_results(f->s, -1, "", &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	/* user 0 first, then user 3's topics in name order */
	assert_int_equal(r[0].user, 0);
	assert_string_equal(r[0].topic, "cow");
	assert_int_equal(r[0].attempts, 1);
	assert_int_equal(r[0].first_correct, 1005);
	assert_string_equal(r[1].topic, "buddy");
	assert_int_equal(r[1].attempts, 1);
	assert_int_equal(r[1].correct, 0);
	assert_int_equal(r[1].first_correct, 0);
	assert_int_equal(r[1].last_seed, 1);
	assert_int_equal(r[1].last_attempt, 1004);
	assert_int_equal(r[2].user, 3);
	assert_string_equal(r[2].topic, "slab");
	assert_int_equal(r[2].attempts, 3);
	assert_int_equal(r[2].correct, 2);
	assert_int_equal(r[2].first_correct, 1002);
	assert_true(r[2].last_seed == UINT64_MAX); /* a full 64-bit seed survives the INTEGER */
	assert_int_equal(r[2].last_attempt, 1003);
	free(r);
	assert_int_equal(store_exercise_results(f->s, 3, "slab", &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].attempts, 3);
	free(r);
	assert_int_equal(store_exercise_results(f->s, 0, NULL, &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].topic, "cow");
	free(r);
	assert_int_equal(store_exercise_results(f->s, 9, NULL, &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(r);
}

/* A database left at schema 2 by the previous vmsimd gains the attempts table, keeping its rows. */
static void test_migrate_from_v2(void **state)
{
	(void)state;
	char path[256], err[STORE_ERRLEN];
	snprintf(path, sizeof(path), "%s/vmsim-v2-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct store *s = open_store(&loop, path, 0, 0);
	put_machine(s, 1, 1, "old");
	/* step back to what schema 2 was: no attempts table, no batch seq counts, version 2 */
	sql_exec(s, "DROP TABLE exercise_attempts; ALTER TABLE journal DROP COLUMN nseq;"
	            "ALTER TABLE journal_quarantine DROP COLUMN nseq;"
	            "DELETE FROM schema_version WHERE version>=3");
	close_store(&loop, s);
	s = open_store(&loop, path, 0, 0);
	assert_int_equal(sql_int(s, "SELECT max(version) FROM schema_version"), 4);
	assert_int_equal(sql_int(s, "SELECT count(*) FROM machines WHERE name='old'"), 1);
	put_attempt(s, 2, "free", 4, 1, 3, 3);
	struct store_exercise_result *r;
	size_t n;
	assert_int_equal(store_exercise_results(s, -1, NULL, &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].correct, 1);
	free(r);
	close_store(&loop, s);
	assert_int_equal(uv_loop_close(&loop), 0);
	char side[300];
	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_schema_and_wal, setup, teardown),
	    cmocka_unit_test(test_checksum_values),
	    cmocka_unit_test_setup_teardown(test_journal_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_completions_in_order_on_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_seq_fails_alone, setup, teardown),
	    cmocka_unit_test(test_batch_window_groups),
	    cmocka_unit_test(test_close_delivers_pending),
	    cmocka_unit_test_setup_teardown(test_machines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_snapshot_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_tail_detected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gap_detected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_callback_stops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_batch_records, setup, teardown),
	    cmocka_unit_test(test_migration_from_schema_3),
	    cmocka_unit_test_setup_teardown(test_integrity_check, setup, teardown),
	    cmocka_unit_test(test_reopen_keeps_data),
	    cmocka_unit_test(test_bad_path),
	    cmocka_unit_test(test_ephemeral_removed_on_close),
	    cmocka_unit_test_setup_teardown(test_exercise_results, setup, teardown),
	    cmocka_unit_test(test_migrate_from_v2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
