/*
 * The store's synchronous reads (recovery, time travel, --check, listings): one reader
 * connection under a mutex, beside the writer thread's (WAL lets them run side by side).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#include <zlib.h>

/* ---- reads ---- */

struct sqlite3 *store_reader_db(struct store *s)
{
	return s->rdb;
}

static int prepare_read(struct store *s, const char *sql, sqlite3_stmt **st, char *err, size_t el)
{
	if (sqlite3_prepare_v2(s->rdb, sql, -1, st, NULL) != SQLITE_OK) {
		store_set_err(err, el, "%s: %s", sqlite3_errmsg(s->rdb), sql);
		return -1;
	}
	return 0;
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static uint8_t *copy_blob(sqlite3_stmt *st, int col, size_t *len)
{
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	uint8_t *p = xmalloc(n ? n : 1);
	if (p && n)
		memcpy(p, sqlite3_column_blob(st, col), n);
	*len = n;
	return p;
}

/* Steps st to the end, growing *out by `size` bytes per row and letting fill() read the row. */
static int collect(struct store *s, sqlite3_stmt *st, size_t size, void **out, size_t *n,
                   void (*fill)(sqlite3_stmt *, void *), char *err, size_t el)
{
	size_t cap = 0, k = 0;
	char *arr = NULL;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			cap = cap ? cap * 2 : 16;
			char *grown = xrealloc(arr, cap * size);
			if (!grown) {
				free(arr);
				store_set_err(err, el, "out of memory%s%s", "", NULL);
				return -1;
			}
			arr = grown;
		}
		memset(arr + k * size, 0, size);
		fill(st, arr + k * size);
		k++;
	}
	if (rc != SQLITE_DONE) {
		free(arr);
		store_set_err(err, el, "read: %s%s", sqlite3_errmsg(s->rdb), NULL);
		return -1;
	}
	*out = arr;
	*n = k;
	return 0;
}

static int list(struct store *s, const char *sql, int64_t arg, size_t size, void **out, size_t *n,
                void (*fill)(sqlite3_stmt *, void *), char *err, size_t el)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rmu);
	int rc = prepare_read(s, sql, &st, err, el);
	if (!rc) {
		sqlite3_bind_int64(st, 1, arg);
		rc = collect(s, st, size, out, n, fill, err, el);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

static void fill_user(sqlite3_stmt *st, void *p)
{
	struct store_user *u = p;
	u->id = sqlite3_column_int64(st, 0);
	copy_text(u->name, sizeof(u->name), st, 1);
	u->role = sqlite3_column_int(st, 2);
	u->instructor = sqlite3_column_int64(st, 3);
	for (int i = 0; i < 3; i++)
		u->quota[i] = sqlite3_column_int64(st, 4 + i);
	u->created = sqlite3_column_int64(st, 7);
}

int store_list_users(struct store *s, struct store_user **out, size_t *n, char *err, size_t el)
{
	return list(s,
	            "SELECT id,name,role,instructor,max_machines,max_ram,max_ops,created"
	            " FROM users WHERE ?1=?1 ORDER BY id",
	            0, sizeof(**out), (void **)out, n, fill_user, err, el);
}

static void fill_token(sqlite3_stmt *st, void *p)
{
	struct store_token *t = p;
	t->id = sqlite3_column_int64(st, 0);
	t->user = sqlite3_column_int64(st, 1);
	if (sqlite3_column_bytes(st, 2) == 32)
		memcpy(t->hash, sqlite3_column_blob(st, 2), 32);
	copy_text(t->label, sizeof(t->label), st, 3);
	t->created = sqlite3_column_int64(st, 4);
	t->revoked = sqlite3_column_int64(st, 5);
}

int store_list_tokens(struct store *s, struct store_token **out, size_t *n, char *err, size_t el)
{
	return list(s,
	            "SELECT id,user_id,hash,label,created,revoked FROM tokens WHERE ?1=?1"
	            " ORDER BY id",
	            0, sizeof(**out), (void **)out, n, fill_token, err, el);
}

static void fill_machine(sqlite3_stmt *st, void *p)
{
	struct store_machine *m = p;
	m->id = sqlite3_column_int64(st, 0);
	m->owner = sqlite3_column_int64(st, 1);
	copy_text(m->name, sizeof(m->name), st, 2);
	m->config = copy_blob(st, 3, &m->config_len);
	m->shared = sqlite3_column_int(st, 4);
	m->created = sqlite3_column_int64(st, 5);
	m->last_seq = (uint64_t)sqlite3_column_int64(st, 6);
}

int store_list_machines(struct store *s, struct store_machine **out, size_t *n, char *err,
                        size_t el)
{
	return list(s,
	            "SELECT id,owner,name,config,shared,created,"
	            " ifnull((SELECT seq+nseq-1 FROM journal j WHERE j.machine_id=m.id"
	            " ORDER BY seq DESC LIMIT 1),0)"
	            " FROM machines m WHERE deleted=0 AND ?1=?1 ORDER BY id",
	            0, sizeof(**out), (void **)out, n, fill_machine, err, el);
}

int64_t store_max_machine_id(struct store *s)
{
	sqlite3_stmt *st;
	int64_t id = 0;
	pthread_mutex_lock(&s->rmu);
	if (sqlite3_prepare_v2(s->rdb, "SELECT ifnull(max(id),0) FROM machines", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return id;
}

int store_get_machine(struct store *s, int64_t id, struct store_machine *m, char *err, size_t el)
{
	struct store_machine *all = NULL;
	size_t n = 0;
	int rc = list(s,
	              "SELECT id,owner,name,config,shared,created,"
	              " ifnull((SELECT seq+nseq-1 FROM journal j WHERE j.machine_id=m.id"
	              " ORDER BY seq DESC LIMIT 1),0)"
	              " FROM machines m WHERE deleted=0 AND id=?1",
	              id, sizeof(*all), (void **)&all, &n, fill_machine, err, el);
	if (rc)
		return -1;
	if (n == 1)
		*m = all[0];
	free(all);
	return n == 1;
}

void store_free_machines(struct store_machine *m, size_t n)
{
	for (size_t i = 0; m && i < n; i++)
		free(m[i].config);
	free(m);
}

static void fill_snapshot(sqlite3_stmt *st, void *p)
{
	struct store_snapshot *sn = p;
	sn->machine = sqlite3_column_int64(st, 0);
	sn->seq = (uint64_t)sqlite3_column_int64(st, 1);
	copy_text(sn->name, sizeof(sn->name), st, 2);
	sn->created = sqlite3_column_int64(st, 3);
	sn->len = (size_t)sqlite3_column_int64(st, 4);
}

static void fill_snapshot_state(sqlite3_stmt *st, void *p)
{
	struct store_snapshot *sn = p;
	fill_snapshot(st, sn);
	sn->state = copy_blob(st, 5, &sn->len);
	uint32_t crc = (uint32_t)sqlite3_column_int64(st, 6);
	if (sn->state && crc != store_checksum(sn->machine, sn->seq, sn->state, sn->len)) {
		free(sn->state);
		sn->state = NULL;
		sn->corrupt = 1;
	}
}

int store_list_snapshots(struct store *s, int64_t machine, int with_state,
                         struct store_snapshot **out, size_t *n, char *err, size_t el)
{
	if (with_state)
		return list(s,
		            "SELECT machine_id,seq,name,created,length(state),state,crc"
		            " FROM snapshots WHERE machine_id=?1 ORDER BY seq, rowid",
		            machine, sizeof(**out), (void **)out, n, fill_snapshot_state, err, el);
	return list(s,
	            "SELECT machine_id,seq,name,created,length(state) FROM snapshots"
	            " WHERE machine_id=?1 ORDER BY seq, rowid",
	            machine, sizeof(**out), (void **)out, n, fill_snapshot, err, el);
}

void store_free_snapshots(struct store_snapshot *sn, size_t n)
{
	for (size_t i = 0; sn && i < n; i++)
		free(sn[i].state);
	free(sn);
}

/* Reads one snapshot row (machine_id,seq,name,created,state,crc) and verifies its checksum. */
static int read_snapshot(struct store *s, sqlite3_stmt *st, struct store_snapshot *snap, char *err,
                         size_t el)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		store_set_err(err, el, "read snapshot: %s%s", sqlite3_errmsg(s->rdb), NULL);
		return -1;
	}
	memset(snap, 0, sizeof(*snap));
	fill_snapshot(st, snap);
	snap->state = copy_blob(st, 4, &snap->len);
	uint32_t crc = (uint32_t)sqlite3_column_int64(st, 5);
	if (!snap->state ||
	    crc != store_checksum(snap->machine, snap->seq, snap->state, snap->len)) {
		char what[96];
		snprintf(what, sizeof(what), "machine %lld seq %llu", (long long)snap->machine,
		         (unsigned long long)snap->seq);
		store_set_err(err, el, "snapshot of %s is corrupt (checksum mismatch)%s", what,
		              NULL);
		free(snap->state);
		snap->state = NULL;
		return -1;
	}
	return 1;
}

int store_latest_snapshot(struct store *s, int64_t machine, uint64_t max_seq,
                          struct store_snapshot *snap, char *err, size_t el)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rmu);
	int rc =
	    prepare_read(s,
	                 "SELECT machine_id,seq,name,created,state,crc FROM snapshots"
	                 " WHERE machine_id=?1 AND seq<=?2 ORDER BY seq DESC, rowid DESC LIMIT 1",
	                 &st, err, el);
	if (!rc) {
		sqlite3_bind_int64(st, 1, machine);
		sqlite3_bind_int64(st, 2, max_seq > INT64_MAX ? INT64_MAX : (int64_t)max_seq);
		rc = read_snapshot(s, st, snap, err, el);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int store_get_snapshot(struct store *s, int64_t machine, const char *name,
                       struct store_snapshot *snap, char *err, size_t el)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rmu);
	int rc = prepare_read(s,
	                      "SELECT machine_id,seq,name,created,state,crc FROM snapshots"
	                      " WHERE machine_id=?1 AND name=?2 AND name<>''",
	                      &st, err, el);
	if (!rc) {
		sqlite3_bind_int64(st, 1, machine);
		sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
		rc = read_snapshot(s, st, snap, err, el);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

/* Checks one journal row; fills scan and returns 1 if it is the start of a bad tail. */
static int bad_record(struct store_scan *scan, int64_t machine, uint64_t seq, int64_t nseq,
                      const uint8_t *op, size_t len, uint32_t crc, uint64_t want)
{
	uint32_t computed =
	    nseq >= 1 ? store_journal_checksum(machine, seq, (uint64_t)nseq, op, len) : 0;
	if (seq != want) {
		snprintf(scan->reason, sizeof(scan->reason), "seq %llu follows %llu: ops missing",
		         (unsigned long long)seq, (unsigned long long)(want - 1));
	} else if (nseq < 1) {
		snprintf(scan->reason, sizeof(scan->reason), "entry at seq %llu covers %lld seqs",
		         (unsigned long long)seq, (long long)nseq);
	} else if (crc != computed) {
		snprintf(scan->reason, sizeof(scan->reason),
		         "checksum mismatch at seq %llu (stored %08x, computed %08x)",
		         (unsigned long long)seq, crc, computed);
	} else {
		return 0;
	}
	scan->corrupt = 1;
	scan->bad_seq = seq;
	return 1;
}

/* The one journal reader: records after_seq < seq <= upto_seq (0 = all), at most limit of
 * them (0 = no limit), checked, to op_cb or (with their time) to rec_cb. */
static int scan_rows(struct store *s, int64_t machine, uint64_t after_seq, uint64_t upto_seq,
                     uint64_t limit, store_op_cb op_cb, store_journal_cb rec_cb, void *data,
                     struct store_scan *scan, char *err, size_t el)
{
	sqlite3_stmt *st;
	memset(scan, 0, sizeof(*scan));
	scan->last_seq = after_seq;
	pthread_mutex_lock(&s->rmu);
	int rc = prepare_read(s,
	                      "SELECT seq,op,crc,created,nseq FROM journal WHERE machine_id=?1"
	                      " AND seq>?2 AND seq<=?3 ORDER BY seq LIMIT ?4",
	                      &st, err, el);
	if (rc) {
		pthread_mutex_unlock(&s->rmu);
		return -1;
	}
	sqlite3_bind_int64(st, 1, machine);
	sqlite3_bind_int64(st, 2, (int64_t)after_seq);
	sqlite3_bind_int64(st, 3, upto_seq ? (int64_t)upto_seq : INT64_MAX);
	sqlite3_bind_int64(st, 4, limit && limit < INT64_MAX ? (int64_t)limit : -1);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_journal_rec r = {
		    .seq = (uint64_t)sqlite3_column_int64(st, 0),
		    .op = sqlite3_column_blob(st, 1),
		    .len = (size_t)sqlite3_column_bytes(st, 1),
		    .created = sqlite3_column_int64(st, 3),
		    .nseq = (uint64_t)sqlite3_column_int64(st, 4),
		};
		uint32_t crc = (uint32_t)sqlite3_column_int64(st, 2);
		int64_t nseq = sqlite3_column_int64(st, 4);
		if (scan->corrupt) {
			scan->skipped++;
			continue;
		}
		if (bad_record(scan, machine, r.seq, nseq, r.op, r.len, crc, scan->last_seq + 1)) {
			scan->skipped++;
			continue;
		}
		rc = rec_cb ? rec_cb(&r, data) : op_cb ? op_cb(r.seq, r.op, r.len, data) : 0;
		if (rc)
			break;
		uint64_t end = r.seq + (uint64_t)nseq - 1;
		if (upto_seq && end > upto_seq)
			end = upto_seq; /* the caller applies the prefix it asked for */
		scan->ops += end - r.seq + 1;
		scan->records++;
		scan->last_seq = end;
	}
	if (!rc && step != SQLITE_DONE) {
		store_set_err(err, el, "read journal: %s%s", sqlite3_errmsg(s->rdb), NULL);
		rc = -1;
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int store_scan_journal(struct store *s, int64_t machine, uint64_t after_seq, uint64_t upto_seq,
                       store_op_cb cb, void *data, struct store_scan *scan, char *err, size_t el)
{
	return scan_rows(s, machine, after_seq, upto_seq, 0, cb, NULL, data, scan, err, el);
}

int store_read_journal(struct store *s, int64_t machine, uint64_t after_seq, uint64_t limit,
                       store_journal_cb cb, void *data, struct store_scan *scan, char *err,
                       size_t el)
{
	/* from the record holding after_seq + 1, which a batch may have begun before it */
	sqlite3_stmt *st;
	uint64_t start = after_seq + 1;
	pthread_mutex_lock(&s->rmu);
	if (prepare_read(s,
	                 "SELECT max(seq) FROM journal WHERE machine_id=?1 AND seq<=?2 AND"
	                 " seq+nseq>?2",
	                 &st, err, el)) {
		pthread_mutex_unlock(&s->rmu);
		return -1;
	}
	sqlite3_bind_int64(st, 1, machine);
	sqlite3_bind_int64(st, 2, (int64_t)start);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		start = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->rmu);
	return scan_rows(s, machine, start - 1, 0, limit, NULL, cb, data, scan, err, el);
}

static void fill_exercise_result(sqlite3_stmt *st, void *p)
{
	struct store_exercise_result *r = p;
	r->user = sqlite3_column_int64(st, 0);
	copy_text(r->topic, sizeof(r->topic), st, 1);
	r->attempts = (uint64_t)sqlite3_column_int64(st, 2);
	r->correct = (uint64_t)sqlite3_column_int64(st, 3);
	r->first_correct = sqlite3_column_int64(st, 4); /* NULL reads as 0: never right */
	r->last_seed = (uint64_t)sqlite3_column_int64(st, 5);
	r->last_attempt = sqlite3_column_int64(st, 6);
}

int store_exercise_results(struct store *s, int64_t user, const char *topic,
                           struct store_exercise_result **out, size_t *n, char *err, size_t el)
{
	/* the latest attempt is the row with the group's highest id (ids grow with commits) */
	static const char sql[] =
	    "SELECT g.user_id,g.topic,g.n,g.ok,g.first,l.seed,l.created FROM"
	    " (SELECT user_id,topic,count(*) AS n,sum(correct) AS ok,"
	    "  min(CASE WHEN correct<>0 THEN created END) AS first,max(id) AS last"
	    "  FROM exercise_attempts WHERE (?1<0 OR user_id=?1) AND (?2='' OR topic=?2)"
	    "  GROUP BY user_id,topic) g"
	    " JOIN exercise_attempts l ON l.id=g.last ORDER BY g.user_id,g.topic";
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rmu);
	int rc = prepare_read(s, sql, &st, err, el);
	if (!rc) {
		sqlite3_bind_int64(st, 1, user);
		store_bind_text(st, 2, topic ? topic : "");
		rc = collect(s, st, sizeof(**out), (void **)out, n, fill_exercise_result, err, el);
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return rc;
}

int store_integrity_check(struct store *s, char *msg, size_t len)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&s->rmu);
	int rc = prepare_read(s, "PRAGMA integrity_check", &st, msg, len);
	if (!rc) {
		if (sqlite3_step(st) == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(st, 0);
			snprintf(msg, len, "%s", t ? (const char *)t : "");
			rc = t && !strcmp((const char *)t, "ok") ? 0 : -1;
		} else {
			snprintf(msg, len, "integrity_check: %s", sqlite3_errmsg(s->rdb));
			rc = -1;
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->rmu);
	return rc;
}
