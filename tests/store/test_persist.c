/* Tests of machine history in the store module (server/store/ journal.c, checkpoint.c,
 * replay.c, recovery.c, check.c, export.c): journal entries, checkpoints, time-travel,
 * recovery (with a corrupt tail), reset/restore history, --check findings, export/import
 * files. Machines are real core machines; ops travel through a plain memcpy codec. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "store.h"
#include "snapshot.h"

static uint8_t *pack(const struct op *op, size_t *len)
{
	uint8_t *b = malloc(sizeof(*op));
	memcpy(b, op, sizeof(*op));
	*len = sizeof(*op);
	return b;
}

static int unpack(const uint8_t *buf, size_t len, struct op *op, char *err, size_t el)
{
	if (len != sizeof(*op)) {
		snprintf(err, el, "op of %zu bytes", len);
		return -1;
	}
	memcpy(op, buf, len);
	return 0;
}

/* The allocation-free batch path; it declines order-2 allocations so a batch mixes it with
 * the malloc'd pack path. */
static size_t pack_to(const struct op *op, uint8_t *buf, size_t cap)
{
	if (op->kind == OP_ALLOC_PAGES && op->u.alloc_pages.order == 2)
		return 0;
	if (sizeof(*op) <= cap)
		memcpy(buf, op, sizeof(*op));
	return sizeof(*op);
}

static const struct persist_codec codec = {.pack = pack, .unpack = unpack, .pack_to = pack_to};

#define MAXSEQ 64

struct fx {
	uv_loop_t loop;
	struct store *s;
	struct persist *p;
	struct machine *m; /* the live machine 1 */
	uint8_t *ref[MAXSEQ];
	size_t reflen[MAXSEQ];
	int calls, status;
	char log[2048];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[STORE_ERRLEN];
	uv_loop_init(&f->loop);
	struct store_opts o = {.loop = &f->loop};
	f->s = store_open(&o, err, sizeof(err));
	assert_non_null(f->s);
	f->p = persist_new(f->s, &codec, 4);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < MAXSEQ; i++)
		free(f->ref[i]);
	machine_destroy(f->m);
	persist_free(f->p);
	store_close(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void on_done(int status, const char *err, void *data)
{
	struct fx *f = data;
	(void)err;
	f->calls++;
	f->status = status;
}

static void wait_done(struct fx *f)
{
	while (!f->calls)
		uv_run(&f->loop, UV_RUN_ONCE);
	f->calls = 0;
	assert_int_equal(f->status, 0);
}

static void on_log(const char *line, void *data)
{
	struct fx *f = data;
	size_t n = strlen(f->log);
	snprintf(f->log + n, sizeof(f->log) - n, "%s\n", line);
}

static void remember(struct fx *f, uint64_t seq)
{
	free(f->ref[seq]);
	assert_int_equal(machine_save(f->m, &f->ref[seq], &f->reflen[seq]), 0);
}

static void assert_state(struct fx *f, const struct machine *m, uint64_t seq)
{
	uint8_t *b;
	size_t len;
	assert_int_equal(machine_save(m, &b, &len), 0);
	assert_int_equal(len, f->reflen[seq]);
	assert_memory_equal(b, f->ref[seq], len);
	free(b);
}

static void new_machine1(struct fx *f)
{
	struct machine_config cfg;
	char err[256];
	machine_config_default(&cfg, ARCH_X86_64, 16ull << 20);
	f->m = machine_create(&cfg, err, sizeof(err));
	assert_non_null(f->m);
	assert_int_equal(persist_create(f->p, 1, 7, "lab1", &cfg, on_done, f), 0);
	wait_done(f);
	remember(f, 0);
}

/* As vmsimd does once a journal commit is answered: the checkpoint, if one is due. */
static void settle(struct fx *f)
{
	if (!persist_checkpoint_due(f->p, 1))
		return;
	assert_int_equal(persist_checkpoint(f->p, 1, f->m, on_done, f), 0);
	wait_done(f);
}

/* Applies an alloc_pages of `order` to machine 1 and journals it. */
static void do_alloc(struct fx *f, uint32_t order)
{
	struct op op = {.kind = OP_ALLOC_PAGES};
	struct op_result res;
	op.u.alloc_pages.order = order;
	assert_int_equal(machine_apply(f->m, &op, &res), VM_OK);
	assert_int_equal(persist_ops(f->p, 1, f->m, &op, 1, 0, on_done, f), 0);
	wait_done(f);
	settle(f);
	remember(f, persist_seq(f->p, 1));
}

static void do_allocs(struct fx *f, int n)
{
	for (int i = 0; i < n; i++)
		do_alloc(f, (uint32_t)(i % 3));
}

/* Applies n allocations to machine 1 one by one, remembering the state after each (what an
 * in-memory replay of every prefix gives), and journals them as one batch. */
static void do_batch(struct fx *f, size_t n)
{
	struct op ops[32];
	uint64_t seq = persist_seq(f->p, 1);
	assert_true(n <= 32);
	for (size_t i = 0; i < n; i++) {
		struct op_result res;
		memset(&ops[i], 0, sizeof(ops[i]));
		ops[i].kind = OP_ALLOC_PAGES;
		ops[i].u.alloc_pages.order = (uint32_t)(i % 3);
		assert_int_equal(machine_apply(f->m, &ops[i], &res), VM_OK);
		remember(f, seq + i + 1);
	}
	assert_int_equal(persist_ops(f->p, 1, f->m, ops, n, 0, on_done, f), 0);
	wait_done(f);
	settle(f);
}

static uint64_t snapshot_seqs(struct fx *f, char *out, size_t len)
{
	struct store_snapshot *sn;
	size_t n;
	char err[256];
	assert_int_equal(store_list_snapshots(f->s, 1, 0, &sn, &n, err, sizeof(err)), 0);
	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(out);
		snprintf(out + k, len - k, "%llu%s%s ", (unsigned long long)sn[i].seq,
		         sn[i].name[0] ? ":" : "", sn[i].name);
	}
	store_free_snapshots(sn, n);
	return n;
}

static int sql_int(struct fx *f, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(store_reader_db(f->s), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void test_config_blob(void **state)
{
	(void)state;
	struct machine_config c, back;
	char err[256];
	machine_config_default(&c, ARCH_I386, 64ull << 20);
	c.seed = 0x1234567890abcdefull;
	c.policy = POLICY_CLOCK;
	size_t len;
	uint8_t *b = persist_config_pack(&c, &len);
	assert_int_equal(len, 52);
	assert_int_equal(b[0], 1); /* version */
	assert_int_equal(persist_config_unpack(b, len, &back, err, sizeof(err)), 0);
	assert_memory_equal(&c, &back, sizeof(c));
	assert_int_equal(persist_config_unpack(b, len - 1, &back, err, sizeof(err)), -1);
	assert_string_equal(err, "machine config blob is truncated or too long (51 bytes)");
	b[0] = 9;
	assert_int_equal(persist_config_unpack(b, len, &back, err, sizeof(err)), -1);
	assert_string_equal(err, "machine config version 9 is not supported (want 1)");
	free(b);
}

static void test_journal_and_checkpoints(void **state)
{
	struct fx *f = *state;
	char seqs[256];
	new_machine1(f);
	do_allocs(f, 10);
	assert_int_equal(persist_seq(f->p, 1), 10);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM journal WHERE machine_id=1"), 10);
	/* a checkpoint every 4 entries */
	assert_int_equal(snapshot_seqs(f, seqs, sizeof(seqs)), 2);
	assert_string_equal(seqs, "4 8 ");
	/* entries are 'O' + the packed op */
	assert_int_equal(sql_int(f, "SELECT length(op) FROM journal WHERE seq=1"),
	                 1 + (int)sizeof(struct op));
	assert_int_equal(sql_int(f, "SELECT unicode(op) FROM journal WHERE seq=1"), 'O');
	/* a batch of ops counts each */
	struct op ops[3] = {
	    {.kind = OP_ALLOC_PAGES}, {.kind = OP_ALLOC_PAGES}, {.kind = OP_ALLOC_PAGES}};
	struct op_result res;
	for (int i = 0; i < 3; i++)
		machine_apply(f->m, &ops[i], &res);
	assert_int_equal(persist_ops(f->p, 1, f->m, ops, 3, 0, on_done, f), 0);
	wait_done(f);
	assert_int_equal(persist_checkpoint_due(f->p, 1), 1); /* 3 since the one at 8 */
	settle(f);
	assert_int_equal(persist_checkpoint_due(f->p, 1), 0);
	assert_int_equal(persist_seq(f->p, 1), 13);
	snapshot_seqs(f, seqs, sizeof(seqs));
	assert_string_equal(seqs, "4 8 13 ");
	/* unknown machine */
	assert_int_equal(persist_ops(f->p, 99, f->m, ops, 1, 0, on_done, f), -1);
	assert_int_equal(persist_seq(f->p, 99), 0);
}

static void test_time_travel(void **state)
{
	struct fx *f = *state;
	char err[256];
	new_machine1(f);
	do_allocs(f, 10);
	for (uint64_t seq = 1; seq <= 10; seq++) {
		struct machine *m = persist_machine_at(f->p, 1, seq, err, sizeof(err));
		if (!m)
			fail_msg("seq %llu: %s", (unsigned long long)seq, err);
		assert_state(f, m, seq);
		assert_int_equal(machine_seq(m), seq);
		machine_destroy(m);
	}
	struct machine *m = persist_machine_at(f->p, 1, 0, err, sizeof(err));
	assert_state(f, m, 10); /* 0 = latest */
	machine_destroy(m);
	assert_null(persist_machine_at(f->p, 1, 11, err, sizeof(err)));
	assert_string_equal(err, "machine 1 has no seq 11 (its history ends at 10)");
	assert_null(persist_machine_at(f->p, 5, 1, err, sizeof(err)));
	assert_string_equal(err, "no machine 5");
}

static struct machine *recovered;
static uint64_t recovered_seq;

static void on_recover(const struct store_machine *sm, struct machine *m, uint64_t seq, void *data)
{
	(void)data;
	assert_int_equal(sm->id, 1);
	assert_int_equal(sm->owner, 7);
	assert_string_equal(sm->name, "lab1");
	recovered = m;
	recovered_seq = seq;
}

/* A new persist over the same store, as after a restart. */
static void restart(struct fx *f, struct persist_report *rep)
{
	char err[256];
	persist_free(f->p);
	f->p = persist_new(f->s, &codec, 4);
	recovered = NULL;
	assert_int_equal(persist_recover(f->p, on_recover, f, on_log, rep, err, sizeof(err)), 0);
	assert_non_null(recovered);
}

static void test_recovery(void **state)
{
	struct fx *f = *state;
	struct persist_report rep;
	char seqs[256];
	new_machine1(f);
	do_allocs(f, 10);
	restart(f, &rep);
	assert_state(f, recovered, 10);
	assert_int_equal(recovered_seq, 10);
	assert_int_equal(rep.machines, 1);
	assert_int_equal(rep.ops_replayed, 2); /* checkpoint 8 + entries 9 and 10 */
	assert_int_equal(rep.corrupt, 0);
	assert_string_equal(f->log, "");
	machine_destroy(f->m);
	f->m = recovered;
	/* history goes on where it stopped, checkpoints on schedule */
	do_allocs(f, 2);
	assert_int_equal(persist_seq(f->p, 1), 12);
	snapshot_seqs(f, seqs, sizeof(seqs));
	assert_string_equal(seqs, "4 8 12 ");
}

static void test_corrupt_tail_quarantined(void **state)
{
	struct fx *f = *state;
	struct persist_report rep;
	new_machine1(f);
	do_allocs(f, 10);
	assert_int_equal(sqlite3_exec(store_reader_db(f->s),
	                              "UPDATE journal SET op=x'4f00' WHERE machine_id=1 AND seq=9",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	restart(f, &rep);
	assert_state(f, recovered, 8); /* not one corrupt entry applied */
	assert_int_equal(recovered_seq, 8);
	assert_int_equal(rep.corrupt, 1);
	char want[512];
	snprintf(want, sizeof(want),
	         "machine 1: journal corrupt at seq 9 (checksum mismatch at seq 9 (stored %08x, "
	         "computed %08x)): 2 entries moved to journal_quarantine, machine recovered to seq "
	         "8\n",
	         (unsigned)sql_int(f, "SELECT crc FROM journal_quarantine WHERE seq=9"),
	         store_checksum(1, 9, (const uint8_t *)"O\0", 2));
	assert_string_equal(f->log, want);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM journal_quarantine"), 2);
	assert_int_equal(sql_int(f, "SELECT max(seq) FROM journal WHERE machine_id=1"), 8);
	/* the machine goes on from seq 9 */
	machine_destroy(f->m);
	f->m = recovered;
	do_allocs(f, 1);
	assert_int_equal(persist_seq(f->p, 1), 9);
	char err[256];
	struct machine *m = persist_machine_at(f->p, 1, 9, err, sizeof(err));
	assert_state(f, m, 9);
	machine_destroy(m);
}

/* ops, named snapshot, reset, restore: every seq replays to what the live machine was. */
static void build_history(struct fx *f)
{
	char err[256];
	new_machine1(f);
	do_allocs(f, 3);
	assert_int_equal(persist_snapshot_save(f->p, 1, f->m, "three", on_done, f), 0);
	wait_done(f);
	do_allocs(f, 2); /* seq 5 */
	struct machine_config cfg = *machine_get_config(f->m);
	machine_destroy(f->m);
	f->m = machine_create(&cfg, err, sizeof(err));
	assert_int_equal(persist_reset(f->p, 1, on_done, f), 0);
	wait_done(f);
	remember(f, 6);
	do_allocs(f, 1); /* seq 7 */
	struct store_snapshot sn;
	assert_int_equal(store_get_snapshot(f->s, 1, "three", &sn, err, sizeof(err)), 1);
	assert_int_equal(sn.seq, 3);
	machine_destroy(f->m);
	f->m = machine_load(sn.state, sn.len, err, sizeof(err));
	free(sn.state);
	assert_int_equal(persist_restored(f->p, 1, f->m, "three", 3, on_done, f), 0);
	wait_done(f);
	remember(f, 8);
	do_allocs(f, 3); /* seq 11 */
	assert_int_equal(persist_seq(f->p, 1), 11);
}

static void test_reset_restore_history(void **state)
{
	struct fx *f = *state;
	char err[256], seqs[256];
	build_history(f);
	snapshot_seqs(f, seqs, sizeof(seqs));
	assert_string_equal(seqs, "3:three 4 8 ");
	assert_memory_equal(f->ref[8], f->ref[3], f->reflen[3]); /* restore = the state at 3 */
	for (uint64_t seq = 1; seq <= 11; seq++) {
		struct machine *m = persist_machine_at(f->p, 1, seq, err, sizeof(err));
		if (!m)
			fail_msg("seq %llu: %s", (unsigned long long)seq, err);
		assert_state(f, m, seq);
		machine_destroy(m);
	}
	/* the named snapshot can go: the restore does not depend on it */
	assert_int_equal(persist_snapshot_delete(f->p, 1, "three", on_done, f), 0);
	wait_done(f);
	assert_int_equal(persist_check(f->p, on_log, f), 0);
	assert_string_equal(f->log, "");
	struct persist_report rep;
	restart(f, &rep);
	assert_state(f, recovered, 11);
	machine_destroy(recovered);
	/* a duplicate snapshot name is refused by the store */
	assert_int_equal(persist_snapshot_save(f->p, 1, f->m, "x", on_done, f), 0);
	wait_done(f);
	assert_int_equal(persist_snapshot_save(f->p, 1, f->m, "x", on_done, f), 0);
	while (!f->calls)
		uv_run(&f->loop, UV_RUN_ONCE);
	f->calls = 0;
	assert_int_equal(f->status, STORE_EEXIST);
}

/* persist_history lists what build_history journaled: "seq kind detail" per entry. */
struct listing {
	char text[1024];
	int stop_at; /* a callback value test: stop after this seq (0 = never) */
};

static int list_entry(const struct persist_entry *e, void *data)
{
	struct listing *l = data;
	size_t n = strlen(l->text);
	const char *kinds[] = {"op", "reset", "restore"};
	snprintf(l->text + n, sizeof(l->text) - n, "%llu %s", (unsigned long long)e->seq,
	         kinds[e->kind]);
	n = strlen(l->text);
	if (e->kind == PERSIST_ENTRY_OP) {
		struct op op;
		char err[64];
		assert_int_equal(unpack(e->op, e->len, &op, err, sizeof(err)), 0);
		snprintf(l->text + n, sizeof(l->text) - n, " order %u%s", op.u.alloc_pages.order,
		         e->failed_partway ? " failed" : "");
	} else if (e->kind == PERSIST_ENTRY_RESTORE) {
		snprintf(l->text + n, sizeof(l->text) - n, " %s@%llu", e->name,
		         (unsigned long long)e->from_seq);
	}
	assert_true(e->created > 1700000000); /* unix time of the commit */
	n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "; ");
	return l->stop_at && e->seq == (uint64_t)l->stop_at ? 7 : 0;
}

static void test_history_listing(void **state)
{
	struct fx *f = *state;
	char err[256];
	int corrupt;
	build_history(f);
	struct listing l = {"", 0};
	assert_int_equal(persist_history(f->p, 1, 0, 0, list_entry, &l, &corrupt, err, sizeof(err)),
	                 0);
	assert_string_equal(l.text, "1 op order 0; 2 op order 1; 3 op order 2; 4 op order 0; "
	                            "5 op order 1; 6 reset; 7 op order 0; 8 restore three@3; "
	                            "9 op order 0; 10 op order 1; 11 op order 2; ");
	/* a page: from_seq and limit */
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 5, 4, list_entry, &l, &corrupt, err, sizeof(err)),
	                 0);
	assert_string_equal(l.text, "5 op order 1; 6 reset; 7 op order 0; 8 restore three@3; ");
	/* past the end: nothing; another machine: nothing */
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 12, 0, list_entry, &l, &corrupt, err, 256), 0);
	assert_int_equal(persist_history(f->p, 2, 0, 0, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "");
	/* the callback's nonzero value stops the listing and is returned */
	l = (struct listing){"", 2};
	assert_int_equal(persist_history(f->p, 1, 0, 0, list_entry, &l, &corrupt, err, 256), 7);
	assert_string_equal(l.text, "1 op order 0; 2 op order 1; ");
	/* a record that fails its checksum: -1, corrupt, the entries before it were delivered */
	assert_int_equal(sqlite3_exec(store_reader_db(f->s),
	                              "UPDATE journal SET op=x'4f00' WHERE machine_id=1 AND seq=10",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 9, 0, list_entry, &l, &corrupt, err, 256), -1);
	assert_int_equal(corrupt, 1);
	assert_string_equal(l.text, "9 op order 0; ");
	assert_true(strstr(err, "journal of machine 1 is corrupt at seq 10: checksum mismatch at "
	                        "seq 10") == err);
	/* a page that ends before the bad record is fine */
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 9, 1, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "9 op order 0; ");
	/* a well-checksummed record with an unknown tag cannot be listed */
	char sql[256];
	snprintf(sql, sizeof(sql),
	         "UPDATE journal SET op=x'5a', crc=%u WHERE machine_id=1 AND seq=6",
	         store_checksum(1, 6, (const uint8_t *)"Z", 1));
	assert_int_equal(sqlite3_exec(store_reader_db(f->s), sql, NULL, NULL, NULL), SQLITE_OK);
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 5, 3, list_entry, &l, &corrupt, err, 256), -1);
	assert_int_equal(corrupt, 1);
	assert_string_equal(err, "journal of machine 1: undecodable journal entry at seq 6");
	assert_string_equal(l.text, "5 op order 1; ");
}

static void test_check_findings(void **state)
{
	struct fx *f = *state;
	new_machine1(f);
	do_allocs(f, 6);
	assert_int_equal(persist_check(f->p, on_log, f), 0);
	/* a well-formed snapshot whose state is not what replay gives */
	uint8_t *b;
	size_t len;
	assert_int_equal(machine_save(f->m, &b, &len), 0); /* the state at 6, claimed for 5 */
	struct store_rec *r = store_rec_new(STORE_SNAPSHOT, len);
	r->id = 1;
	r->seq = 5;
	strcpy(r->name, "evil");
	memcpy(r->blob, b, len);
	free(b);
	char err[256];
	assert_int_equal(store_submit_sync(f->s, r, err, sizeof(err)), 0);
	/* and a checkpoint whose bytes rotted */
	assert_int_equal(
	    sqlite3_exec(store_reader_db(f->s),
	                 "UPDATE snapshots SET state=x'00' WHERE machine_id=1 AND seq=4", NULL,
	                 NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(persist_check(f->p, on_log, f), 2);
	assert_string_equal(f->log,
	                    "machine 1: snapshot \"\" at seq 4 is corrupt (checksum mismatch)\n"
	                    "machine 1: replay differs from snapshot \"evil\" at seq 5\n");
}

/* Rewrites an export file's version (after the 8-byte magic) and its trailing CRC. */
static void set_export_version(uint8_t *file, size_t len, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		file[8 + i] = (uint8_t)(v >> (8 * i));
	uint32_t crc = store_checksum(0, 0, file, len - 4);
	for (int i = 0; i < 4; i++)
		file[len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
}

static void test_export_import(void **state)
{
	struct fx *f = *state;
	char err[256];
	build_history(f);
	uint8_t *file;
	size_t len;
	assert_int_equal(persist_export(f->p, 1, &file, &len, err, sizeof(err)), 0);
	assert_memory_equal(file, "VMSIMEXP", 8);
	struct machine *m =
	    persist_import(f->p, 2, 9, "copy", file, len, on_done, f, err, sizeof(err));
	if (!m)
		fail_msg("import: %s", err);
	wait_done(f);
	assert_state(f, m, 11);
	machine_destroy(m);
	assert_int_equal(persist_seq(f->p, 2), 11);
	m = persist_machine_at(f->p, 2, 7, err, sizeof(err));
	assert_non_null(m);
	assert_state(f, m, 7);
	machine_destroy(m);
	struct store_machine sm;
	assert_int_equal(store_get_machine(f->s, 2, &sm, err, sizeof(err)), 1);
	assert_string_equal(sm.name, "copy");
	assert_int_equal(sm.owner, 9);
	assert_int_equal(sm.last_seq, 11);
	free(sm.config);
	/* importing over an existing id */
	assert_null(persist_import(f->p, 2, 9, "", file, len, on_done, f, err, sizeof(err)));
	assert_string_equal(err, "machine 2 exists");
	/* damaged files */
	file[len / 2] ^= 1;
	assert_null(persist_import(f->p, 3, 9, "", file, len, on_done, f, err, sizeof(err)));
	assert_string_equal(err, "machine export is corrupt (checksum mismatch)");
	file[len / 2] ^= 1;
	assert_null(persist_import(f->p, 3, 9, "", file, len - 10, on_done, f, err, sizeof(err)));
	assert_string_equal(err, "machine export is corrupt (checksum mismatch)");
	assert_null(persist_import(f->p, 3, 9, "", (const uint8_t *)"hello world!", 12, on_done, f,
	                           err, sizeof(err)));
	assert_string_equal(err, "not a vmsim machine export (bad magic)");
	/* version 1 files (one seq per entry, before batch records) still import; unknown
	 * versions are refused by number */
	set_export_version(file, len, 1);
	m = persist_import(f->p, 4, 9, "v1", file, len, on_done, f, err, sizeof(err));
	if (!m)
		fail_msg("v1 import: %s", err);
	wait_done(f);
	assert_state(f, m, 11);
	machine_destroy(m);
	set_export_version(file, len, 3);
	assert_null(persist_import(f->p, 5, 9, "", file, len, on_done, f, err, sizeof(err)));
	assert_string_equal(err, "machine export version 3 is not supported (want 1-2)");
	assert_int_equal(persist_seq(f->p, 3), 0);
	free(file);
	assert_int_equal(persist_export(f->p, 42, &file, &len, err, sizeof(err)), -1);
	assert_string_equal(err, "no machine 42");
}

static void expect_parse_error(const char *buf, size_t len, const char *want)
{
	struct persist_record e;
	char err[128] = "";
	assert_int_equal(persist_record_parse((const uint8_t *)buf, len, &e, err, sizeof(err)), -1);
	assert_string_equal(err, want);
}

static void test_entry_format(void **state)
{
	(void)state;
	struct persist_record e;
	char err[128];
	const uint8_t *op;
	size_t len;
	/* a batch: varint count, then varint length + op bytes per op */
	assert_int_equal(persist_record_parse((const uint8_t *)"B\x02\x01"
	                                                       "a\x02"
	                                                       "bc",
	                                      7, &e, err, sizeof(err)),
	                 0);
	assert_int_equal(e.tag, 'B');
	assert_int_equal(e.nseq, 2);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 1);
	assert_int_equal(len, 1);
	assert_memory_equal(op, "a", 1);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(op, "bc", 2);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 0);
	/* one op */
	assert_int_equal(persist_record_parse((const uint8_t *)"Oxyz", 4, &e, err, sizeof(err)), 0);
	assert_int_equal(e.nseq, 1);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(op, "xyz", 3);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 0);
	/* reset: one seq, no op */
	assert_int_equal(persist_record_parse((const uint8_t *)"R", 1, &e, err, sizeof(err)), 0);
	assert_int_equal(e.nseq, 1);
	assert_int_equal(persist_record_next_op(&e, &op, &len), 0);
	/* each kind of malformed entry, rejected before any op of it could run */
	expect_parse_error("", 0, "empty journal entry");
	expect_parse_error("Z", 1, "unknown journal entry 'Z'");
	expect_parse_error("B", 1, "batch entry has a bad op count");
	expect_parse_error("B\x00", 2, "batch entry has a bad op count");
	expect_parse_error("B\x81\x80\x04", 4, "batch entry has a bad op count"); /* 65537 */
	expect_parse_error("B\x02\x01"
	                   "a",
	                   4, "batch entry is truncated at op 2 of 2");
	expect_parse_error("B\x01\x05"
	                   "a",
	                   4, "batch entry is truncated at op 1 of 1");
	expect_parse_error("B\x01\x01"
	                   "ab",
	                   5, "batch entry has 1 bytes after its 1 ops");
}

static void test_batches(void **state)
{
	struct fx *f = *state;
	char err[256], seqs[256];
	struct persist_report rep;
	new_machine1(f);
	do_allocs(f, 2); /* seqs 1, 2 */
	do_batch(f, 5);  /* seqs 3-7: one record */
	do_allocs(f, 1); /* seq 8 */
	assert_int_equal(persist_seq(f->p, 1), 8);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM journal WHERE machine_id=1"), 4);
	assert_int_equal(sql_int(f, "SELECT nseq FROM journal WHERE seq=3"), 5);
	assert_int_equal(sql_int(f, "SELECT unicode(op) FROM journal WHERE seq=3"), 'B');
	/* 'B', count 5, then 5 x (length byte, op) */
	assert_int_equal(sql_int(f, "SELECT length(op) FROM journal WHERE seq=3"),
	                 2 + 5 * (1 + (int)sizeof(struct op)));
	/* the checkpoint after 4 seqs comes at the end of the batch, never inside it */
	snapshot_seqs(f, seqs, sizeof(seqs));
	assert_string_equal(seqs, "7 ");
	/* time travel to every seq, inside the batch too, equals the in-memory prefix */
	for (uint64_t seq = 1; seq <= 8; seq++) {
		struct machine *m = persist_machine_at(f->p, 1, seq, err, sizeof(err));
		if (!m)
			fail_msg("seq %llu: %s", (unsigned long long)seq, err);
		assert_state(f, m, seq);
		assert_int_equal(machine_seq(m), seq);
		machine_destroy(m);
	}
	assert_int_equal(persist_check(f->p, on_log, f), 0);
	assert_string_equal(f->log, "");
	/* recovery: checkpoint 7 + entry 8 */
	restart(f, &rep);
	assert_state(f, recovered, 8);
	assert_int_equal(recovered_seq, 8);
	assert_int_equal(rep.ops_replayed, 1);
	machine_destroy(f->m);
	f->m = recovered;
	do_batch(f, 3); /* seqs 9-11, then the history goes on */
	assert_int_equal(persist_seq(f->p, 1), 11);
	/* export/import carries the batches: the copy travels to the same prefixes */
	uint8_t *file;
	size_t len;
	assert_int_equal(persist_export(f->p, 1, &file, &len, err, sizeof(err)), 0);
	struct machine *m =
	    persist_import(f->p, 2, 9, "copy", file, len, on_done, f, err, sizeof(err));
	if (!m)
		fail_msg("import: %s", err);
	wait_done(f);
	assert_state(f, m, 11);
	machine_destroy(m);
	assert_int_equal(persist_seq(f->p, 2), 11);
	set_export_version(file, len, 1); /* a batch cannot be in a version 1 file */
	assert_null(persist_import(f->p, 3, 9, "", file, len, on_done, f, err, sizeof(err)));
	assert_string_equal(err, "machine export entry 3 is malformed");
	free(file);
	for (uint64_t seq = 4; seq <= 10; seq += 3) {
		m = persist_machine_at(f->p, 2, seq, err, sizeof(err));
		assert_non_null(m);
		assert_state(f, m, seq);
		machine_destroy(m);
	}
	assert_int_equal(sql_int(f, "SELECT count(*) FROM journal WHERE machine_id=2"), 5);
}

/* A batch record whose bytes rotted: the whole batch and what follows are quarantined, and
 * the machine comes back as it was before the batch (never half of one). */
static void test_corrupt_batch_quarantined(void **state)
{
	struct fx *f = *state;
	struct persist_report rep;
	char err[256];
	new_machine1(f);
	do_allocs(f, 2);
	do_batch(f, 5);
	do_allocs(f, 1);
	assert_int_equal(
	    sqlite3_exec(store_reader_db(f->s),
	                 "UPDATE journal SET op=substr(op,1,10) WHERE machine_id=1 AND seq=3; "
	                 "DELETE FROM snapshots WHERE machine_id=1",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	restart(f, &rep);
	assert_state(f, recovered, 2);
	assert_int_equal(recovered_seq, 2);
	assert_int_equal(rep.corrupt, 1);
	assert_non_null(strstr(f->log, "machine 1: journal corrupt at seq 3 (checksum mismatch at "
	                               "seq 3"));
	assert_non_null(strstr(f->log, "2 entries moved to journal_quarantine, machine recovered "
	                               "to seq 2\n"));
	assert_int_equal(sql_int(f, "SELECT sum(nseq) FROM journal_quarantine"), 6);
	machine_destroy(f->m);
	f->m = recovered;
	do_batch(f, 2); /* seqs 3-4 again */
	assert_int_equal(persist_seq(f->p, 1), 4);
	struct machine *m = persist_machine_at(f->p, 1, 3, err, sizeof(err));
	assert_state(f, m, 3);
	machine_destroy(m);
}

/* persist_history of batch records: one entry per op, pages that start or end inside one. */
static void test_history_of_batches(void **state)
{
	struct fx *f = *state;
	char err[256];
	int corrupt;
	new_machine1(f);
	do_allocs(f, 1); /* 1 */
	do_batch(f, 4);  /* 2-5: orders 0 1 2 0 */
	do_allocs(f, 1); /* 6 */
	struct listing l = {"", 0};
	assert_int_equal(persist_history(f->p, 1, 0, 0, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "1 op order 0; 2 op order 0; 3 op order 1; 4 op order 2; "
	                            "5 op order 0; 6 op order 0; ");
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 3, 2, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "3 op order 1; 4 op order 2; ");
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 5, 2, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "5 op order 0; 6 op order 0; ");
	l = (struct listing){"", 0};
	assert_int_equal(persist_history(f->p, 1, 1, 3, list_entry, &l, &corrupt, err, 256), 0);
	assert_string_equal(l.text, "1 op order 0; 2 op order 0; 3 op order 1; ");
}

/* More ops than one record holds: several batch records in one commit. */
static void test_batch_split(void **state)
{
	struct fx *f = *state;
	char err[256];
	new_machine1(f);
	size_t n = 65536 + 10;
	struct op *ops = calloc(n, sizeof(*ops));
	for (size_t i = 0; i < n; i++) {
		struct op_result res;
		ops[i].kind = OP_ALLOC_PAGES; /* fail once memory runs out: replayed as failures */
		machine_apply(f->m, &ops[i], &res);
		if (i == 65539)
			remember(f, 1);
	}
	remember(f, 2);
	assert_int_equal(persist_ops(f->p, 1, f->m, ops, n, 0, on_done, f), 0);
	wait_done(f);
	free(ops);
	assert_int_equal(persist_seq(f->p, 1), n);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM journal WHERE machine_id=1"), 2);
	assert_int_equal(sql_int(f, "SELECT nseq FROM journal WHERE seq=1"), 65536);
	assert_int_equal(sql_int(f, "SELECT nseq FROM journal WHERE seq=65537"), 10);
	struct machine *m = persist_machine_at(f->p, 1, 65540, err, sizeof(err));
	assert_non_null(m);
	assert_state(f, m, 1);
	machine_destroy(m);
	m = persist_machine_at(f->p, 1, 0, err, sizeof(err));
	assert_state(f, m, 2);
	machine_destroy(m);
}

static void test_delete(void **state)
{
	struct fx *f = *state;
	char err[256];
	new_machine1(f);
	do_allocs(f, 2);
	assert_int_equal(persist_delete(f->p, 1, on_done, f), 0);
	wait_done(f);
	assert_int_equal(persist_seq(f->p, 1), 0);
	assert_null(persist_machine_at(f->p, 1, 1, err, sizeof(err)));
	assert_string_equal(err, "no machine 1");
	struct store_machine *ms;
	size_t n;
	assert_int_equal(store_list_machines(f->s, &ms, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	free(ms);
}

/*
 * Ops that failed partway (an order-10 allocation with none left: alloc_pages woke kswapd and
 * recorded its events) are journaled as 'F' and 'E' records: History marks them, and
 * replay, time travel and recovery apply them like any op, to the same bytes.
 */
static void test_failed_partway_records(void **state)
{
	struct fx *f = *state;
	char err[256];
	int corrupt;
	new_machine1(f);
	struct op big = {.kind = OP_ALLOC_PAGES}, small = {.kind = OP_ALLOC_PAGES};
	big.u.alloc_pages.order = 10;
	struct op_result res;
	uint64_t seq = 0;
	while (machine_apply(f->m, &big, &res) == VM_OK) { /* 1..k: the order-10 blocks */
		assert_int_equal(persist_ops(f->p, 1, f->m, &big, 1, 0, on_done, f), 0);
		wait_done(f);
		settle(f);
		remember(f, ++seq);
	}
	assert_int_equal(res.seq, seq + 1); /* failed partway: it took a seq */
	assert_int_equal(persist_ops(f->p, 1, f->m, &big, 1, 1, on_done, f), 0); /* 'F' */
	wait_done(f);
	settle(f);
	remember(f, ++seq);
	struct op batch[2] = {small, big}; /* an 'E' batch: one op, then one that fails partway */
	assert_int_equal(machine_apply(f->m, &batch[0], &res), VM_OK);
	remember(f, seq + 1);
	assert_int_not_equal(machine_apply(f->m, &batch[1], &res), VM_OK);
	assert_int_equal(res.seq, seq + 2);
	assert_int_equal(persist_ops(f->p, 1, f->m, batch, 2, 1, on_done, f), 0);
	wait_done(f);
	settle(f);
	remember(f, seq += 2);
	struct listing l = {"", 0};
	assert_int_equal(persist_history(f->p, 1, seq - 2, 0, list_entry, &l, &corrupt, err, 256),
	                 0);
	char want[128];
	snprintf(want, sizeof(want),
	         "%llu op order 10 failed; %llu op order 0; %llu op order 10 failed; ",
	         (unsigned long long)seq - 2, (unsigned long long)seq - 1, (unsigned long long)seq);
	assert_string_equal(l.text, want);
	for (uint64_t s = 1; s <= seq; s++) {
		struct machine *m = persist_machine_at(f->p, 1, s, err, sizeof(err));
		if (!m)
			fail_msg("seq %llu: %s", (unsigned long long)s, err);
		assert_state(f, m, s);
		machine_destroy(m);
	}
	struct persist_report rep;
	restart(f, &rep);
	assert_state(f, recovered, seq);
	assert_int_equal(recovered_seq, seq);
	machine_destroy(recovered);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_blob),
	    T(test_journal_and_checkpoints),
	    T(test_time_travel),
	    T(test_recovery),
	    T(test_corrupt_tail_quarantined),
	    T(test_reset_restore_history),
	    T(test_history_listing),
	    T(test_check_findings),
	    T(test_export_import),
	    T(test_delete),
	    cmocka_unit_test(test_entry_format),
	    T(test_batches),
	    T(test_corrupt_batch_quarantined),
	    T(test_batch_split),
	    T(test_history_of_batches),
	    T(test_failed_partway_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
