/*
 * SQLite backend of the store (store.h): schema and migrations, the writer thread that
 * group-commits records submitted from the loop, and the synchronous reads used by recovery,
 * time-travel and --check. Two connections: the writer's (owned by its thread) and a reader
 * guarded by a mutex; WAL lets them run side by side.
 */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#include <sqlite3.h>
#include <zlib.h>

/* One prepared statement per record kind, in enum store_rec_kind order, then the transaction
 * verbs. Timestamps (the last `?` of inserts) are unix seconds taken at commit. */
static const char *const writer_sql[ST_COUNT] = {
    "INSERT INTO users(id,name,role,instructor,max_machines,max_ram,max_ops,created)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    "INSERT INTO tokens(id,user_id,hash,label,created) VALUES(?1,?2,?3,?4,?5)",
    "UPDATE tokens SET revoked=?2 WHERE id=?1 AND revoked=0",
    "INSERT INTO machines(id,owner,name,config,created) VALUES(?1,?2,?3,?4,?5)",
    "UPDATE machines SET deleted=?2 WHERE id=?1 AND deleted=0",
    "UPDATE machines SET shared=?2 WHERE id=?1 AND deleted=0",
    "INSERT INTO journal(machine_id,seq,op,crc,created,nseq) VALUES(?1,?2,?3,?4,?5,?6)",
    "INSERT INTO snapshots(machine_id,seq,name,state,crc,created) VALUES(?1,?2,?3,?4,?5,?6)",
    "DELETE FROM snapshots WHERE machine_id=?1 AND name=?2 AND name<>''",
    "INSERT INTO journal_quarantine(machine_id,seq,op,crc,created,quarantined,nseq)"
    " SELECT machine_id,seq,op,crc,created,?3,nseq FROM journal WHERE machine_id=?1 AND seq>=?2",
    "INSERT INTO exercise_attempts(user_id,topic,seed,correct,fields_right,fields_total,created)"
    " VALUES(?1,?2,?3,?4,?5,?6,?7)",
    "DELETE FROM users WHERE id=?1",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
};

/*
 * Migrations, applied in order inside one transaction each; schema_version holds how many
 * have run. Never edit a shipped entry: append a new one.
 */
static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " role INTEGER NOT NULL, instructor INTEGER NOT NULL DEFAULT 0,"
    " max_machines INTEGER NOT NULL, max_ram INTEGER NOT NULL, max_ops INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE tokens(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,"
    " hash BLOB NOT NULL UNIQUE CHECK(length(hash)=32), label TEXT NOT NULL,"
    " created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE machines(id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, name TEXT NOT NULL,"
    " config BLOB NOT NULL, shared INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE journal(machine_id INTEGER NOT NULL, seq INTEGER NOT NULL, op BLOB NOT NULL,"
    " crc INTEGER NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(machine_id, seq))"
    " WITHOUT ROWID;"
    "CREATE TABLE snapshots(machine_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " name TEXT NOT NULL, state BLOB NOT NULL, crc INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX snapshots_by_name ON snapshots(machine_id, name) WHERE name<>'';"
    "CREATE INDEX snapshots_by_seq ON snapshots(machine_id, seq);",
    /* 2: where recovery puts a corrupt journal tail instead of replaying it */
    "CREATE TABLE journal_quarantine(machine_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " op BLOB NOT NULL, crc INTEGER NOT NULL, created INTEGER NOT NULL,"
    " quarantined INTEGER NOT NULL);",
    /* 3: every graded CheckExercise, for the instructor's view of a class's results */
    "CREATE TABLE exercise_attempts(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL,"
    " topic TEXT NOT NULL, seed INTEGER NOT NULL, correct INTEGER NOT NULL,"
    " fields_right INTEGER NOT NULL, fields_total INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE INDEX exercise_attempts_by_user ON exercise_attempts(user_id, topic);",
    /* 4: one journal row may hold a batch of ops covering seqs [seq, seq+nseq-1] */
    ("ALTER TABLE journal ADD COLUMN nseq INTEGER NOT NULL DEFAULT 1;"
     "ALTER TABLE journal_quarantine ADD COLUMN nseq INTEGER NOT NULL DEFAULT 1;"),
};
void store_set_err(char *err, size_t len, const char *fmt, const char *a, const char *b)
{
	if (err && len)
		snprintf(err, len, fmt, a, b ? b : "");
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t store_checksum(int64_t id, uint64_t seq, const uint8_t *buf, size_t len)
{
	uint8_t head[16];
	for (int i = 0; i < 8; i++) {
		head[i] = (uint8_t)((uint64_t)id >> (8 * i));
		head[8 + i] = (uint8_t)(seq >> (8 * i));
	}
	uLong crc = crc32(0L, head, sizeof(head));
	/* zlib takes uInt lengths: feed large buffers in pieces */
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		crc = crc32(crc, buf, n);
		buf += n;
		len -= n;
	}
	return (uint32_t)crc;
}

uint32_t store_journal_checksum(int64_t id, uint64_t seq, uint64_t nseq, const uint8_t *buf,
                                size_t len)
{
	uint32_t crc = store_checksum(id, seq, buf, len);
	if (nseq <= 1)
		return crc;
	uint8_t n[8];
	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t)(nseq >> (8 * i));
	return (uint32_t)crc32(crc, n, sizeof(n));
}

struct store_rec *store_rec_new(enum store_rec_kind kind, size_t len)
{
	struct store_rec *rec = xcalloc(1, sizeof(*rec) + len);
	if (!rec)
		return NULL;
	rec->kind = kind;
	rec->len = len;
	rec->blob = (uint8_t *)(rec + 1);
	return rec;
}

void store_rec_free(struct store_rec *rec)
{
	free(rec);
}

/* ---- opening, schema ---- */

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t el)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_set_err(err, el, "%s: %s", msg ? msg : sqlite3_errmsg(db), sql);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* relaxed: 0 synchronous=FULL (fsync per commit), 1 NORMAL (survives a process crash), 2 OFF
 * (an ephemeral database nobody will ever recover: no fsync at all). */
static int open_db(const char *path, int relaxed, sqlite3 **out, char *err, size_t el)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
		store_set_err(err, el, "cannot open database %s: %s", path,
		              db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, 10000);
	if (exec_sql(db, "PRAGMA journal_mode=WAL", err, el) ||
	    exec_sql(db,
	             relaxed == 2   ? "PRAGMA synchronous=OFF"
	             : relaxed == 1 ? "PRAGMA synchronous=NORMAL"
	                            : "PRAGMA synchronous=FULL",
	             err, el)) {
		sqlite3_close(db);
		return -1;
	}
	*out = db;
	return 0;
}

static int schema_version(sqlite3 *db, int *version, char *err, size_t el)
{
	if (exec_sql(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", err,
	             el))
		return -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT max(version) FROM schema_version", -1, &st, NULL)) {
		store_set_err(err, el, "schema_version: %s", sqlite3_errmsg(db), NULL);
		return -1;
	}
	*version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

/* Brings the schema up to STORE_SCHEMA_VERSION, one transaction per step. */
static int migrate(sqlite3 *db, char *err, size_t el)
{
	int version;
	if (schema_version(db, &version, err, el))
		return -1;
	if (version > STORE_SCHEMA_VERSION) {
		if (err && el)
			snprintf(
			    err, el,
			    "database schema version %d is newer than this vmsimd supports (%d)",
			    version, STORE_SCHEMA_VERSION);
		return -1;
	}
	for (int i = version; i < STORE_SCHEMA_VERSION; i++) {
		char bump[96];
		snprintf(bump, sizeof(bump), "INSERT INTO schema_version VALUES(%d)", i + 1);
		if (exec_sql(db, "BEGIN IMMEDIATE", err, el))
			return -1;
		if (exec_sql(db, migrations[i], err, el) || exec_sql(db, bump, err, el)) {
			exec_sql(db, "ROLLBACK", NULL, 0);
			return -1;
		}
		if (exec_sql(db, "COMMIT", err, el))
			return -1;
	}
	return 0;
}

static void *writer_main(void *arg);
static void on_async(uv_async_t *h);

static void store_free(struct store *s)
{
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->wst[i]);
	sqlite3_close(s->wdb);
	sqlite3_close(s->rdb);
	if (s->ephemeral) {
		char side[sizeof(s->path) + 8];
		unlink(s->path);
		snprintf(side, sizeof(side), "%s-wal", s->path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", s->path);
		unlink(side);
	}
	store_unlock(s);
	pthread_mutex_destroy(&s->rmu);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work);
	free(s);
}

static int make_ephemeral(struct store *s, char *err, size_t el)
{
	const char *dir = getenv("TMPDIR");
	snprintf(s->path, sizeof(s->path), "%s/vmsim-store-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(s->path);
	if (fd < 0) {
		store_set_err(err, el, "cannot create a temporary database in %s: %s", s->path,
		              strerror(errno));
		return -1;
	}
	close(fd);
	s->ephemeral = 1;
	return 0;
}

struct store *store_open(const struct store_opts *opts, char *err, size_t el)
{
	struct store *s = xcalloc(1, sizeof(*s));
	if (!s) {
		store_set_err(err, el, "out of memory%s%s", "", NULL);
		return NULL;
	}
	/* recursive: a scan's callback may read more (a restore entry fetches its checkpoint) */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->rmu, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work, NULL);
	s->window_us = opts->batch_window_us;
	s->max_batch = opts->max_batch ? opts->max_batch : 8192;
	s->loop = opts->loop;
	s->lock_fd = -1;
	if (!opts->path || !strcmp(opts->path, ":memory:")) {
		if (make_ephemeral(s, err, el))
			goto fail;
	} else if (strlen(opts->path) >= sizeof(s->path)) {
		store_set_err(err, el, "database path too long: %.64s%s", opts->path, "...");
		goto fail;
	} else {
		strcpy(s->path, opts->path);
	}
	if (!s->ephemeral && opts->lock && store_lock(s, err, el))
		goto fail;
	int relaxed = s->ephemeral ? 2 : opts->relaxed;
	if (open_db(s->path, relaxed, &s->wdb, err, el) || migrate(s->wdb, err, el) ||
	    open_db(s->path, relaxed, &s->rdb, err, el))
		goto fail;
	if (store_remember_file(s, err, el))
		goto fail;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->wdb, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &s->wst[i], NULL)) {
			store_set_err(err, el, "prepare %s: %s", writer_sql[i],
			              sqlite3_errmsg(s->wdb));
			goto fail;
		}
	}
	if (s->loop && uv_async_init(s->loop, &s->async, on_async)) {
		store_set_err(err, el, "uv_async_init failed%s%s", "", NULL);
		goto fail;
	}
	s->async.data = s;
	if (s->loop)
		uv_unref(
		    (uv_handle_t *)&s->async); /* referenced only while records are in flight */
	if (pthread_create(&s->writer, NULL, writer_main, s)) {
		store_set_err(err, el, "cannot start the writer thread%s%s", "", NULL);
		if (s->loop) {
			/* the handle is live: let the loop close it, then free */
			s->loop = NULL;
			uv_close((uv_handle_t *)&s->async, NULL);
		}
		goto fail;
	}
	return s;
fail:
	store_free(s);
	return NULL;
}

const char *store_path(const struct store *s)
{
	return s->path;
}

/* ---- the writer ---- */

int store_bind_text(sqlite3_stmt *st, int i, const char *t)
{
	return sqlite3_bind_text(st, i, t, -1, SQLITE_STATIC);
}

/* Binds rec to its statement and runs it. Returns 0, STORE_EEXIST, STORE_ENOENT or
 * STORE_EFAIL. */
static int write_one(struct store *s, struct store_rec *r, int64_t now)
{
	sqlite3_stmt *st = s->wst[r->kind - 1];
	int n = (int)r->len;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_int64(st, 1, r->id);
	switch (r->kind) {
	case STORE_USER_CREATE:
		store_bind_text(st, 2, r->name);
		sqlite3_bind_int(st, 3, r->role);
		sqlite3_bind_int64(st, 4, r->ref);
		for (int i = 0; i < 3; i++)
			sqlite3_bind_int64(st, 5 + i, r->quota[i]);
		sqlite3_bind_int64(st, 8, now);
		break;
	case STORE_TOKEN_CREATE:
		sqlite3_bind_int64(st, 2, r->ref);
		sqlite3_bind_blob(st, 3, r->blob, n, SQLITE_STATIC);
		store_bind_text(st, 4, r->name);
		sqlite3_bind_int64(st, 5, now);
		break;
	case STORE_TOKEN_REVOKE:
	case STORE_MACHINE_DELETE:
		sqlite3_bind_int64(st, 2, now);
		break;
	case STORE_MACHINE_CREATE:
		sqlite3_bind_int64(st, 2, r->ref);
		store_bind_text(st, 3, r->name);
		sqlite3_bind_blob(st, 4, r->blob, n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, now);
		break;
	case STORE_MACHINE_SHARE:
		sqlite3_bind_int(st, 2, r->role ? 1 : 0);
		break;
	case STORE_JOURNAL: {
		uint32_t nseq = r->nseq ? r->nseq : 1;
		sqlite3_bind_int64(st, 2, (int64_t)r->seq);
		sqlite3_bind_blob(st, 3, r->blob, n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4,
		                   store_journal_checksum(r->id, r->seq, nseq, r->blob, r->len));
		sqlite3_bind_int64(st, 5, now);
		sqlite3_bind_int64(st, 6, nseq);
		break;
	}
	case STORE_SNAPSHOT:
		sqlite3_bind_int64(st, 2, (int64_t)r->seq);
		store_bind_text(st, 3, r->name);
		sqlite3_bind_blob(st, 4, r->blob, n, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, store_checksum(r->id, r->seq, r->blob, r->len));
		sqlite3_bind_int64(st, 6, now);
		break;
	case STORE_SNAPSHOT_DELETE:
		store_bind_text(st, 2, r->name);
		break;
	case STORE_JOURNAL_QUARANTINE:
		sqlite3_bind_int64(st, 2, (int64_t)r->seq);
		sqlite3_bind_int64(st, 3, now);
		break;
	case STORE_EXERCISE_ATTEMPT:
		store_bind_text(st, 2, r->name);
		sqlite3_bind_int64(st, 3, (int64_t)r->seq);
		sqlite3_bind_int(st, 4, r->role ? 1 : 0);
		sqlite3_bind_int64(st, 5, r->quota[0]);
		sqlite3_bind_int64(st, 6, r->quota[1]);
		sqlite3_bind_int64(st, 7, now);
		break;
	}
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		int changed = sqlite3_changes(s->wdb);
		if (changed == 0 && r->kind == STORE_JOURNAL_QUARANTINE)
			return 0; /* nothing to move is fine */
		if (changed == 0) {
			snprintf(r->err, sizeof(r->err), "no such %s",
			         r->kind == STORE_TOKEN_REVOKE      ? "token (or already revoked)"
			         : r->kind == STORE_SNAPSHOT_DELETE ? "snapshot"
			                                            : "machine");
			return STORE_ENOENT;
		}
		return 0;
	}
	snprintf(r->err, sizeof(r->err), "%s", sqlite3_errmsg(s->wdb));
	return (rc & 0xff) == SQLITE_CONSTRAINT ? STORE_EEXIST : STORE_EFAIL;
}

/* Runs a one-off statement of the writer (quarantine's delete half). */
static int writer_exec(struct store *s, const char *sql, int64_t a, int64_t b, char *err, size_t el)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->wdb, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, a);
		sqlite3_bind_int64(st, 2, b);
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, el, "%s", sqlite3_errmsg(s->wdb));
		return STORE_EFAIL;
	}
	return 0;
}

/* A user and their first token go in together or not at all; a quarantine copies then
 * deletes. */
static int write_rec(struct store *s, struct store_rec *r, int64_t now)
{
	int rc = write_one(s, r, now);
	if (rc == 0 && r->kind == STORE_JOURNAL_QUARANTINE)
		return writer_exec(s, "DELETE FROM journal WHERE machine_id=?1 AND seq>=?2", r->id,
		                   (int64_t)r->seq, r->err, sizeof(r->err));
	if (rc || r->kind != STORE_USER_CREATE || r->len != 32)
		return rc;
	struct store_rec tok = {.kind = STORE_TOKEN_CREATE,
	                        .id = (int64_t)r->seq,
	                        .ref = r->id,
	                        .len = 32,
	                        .blob = r->blob,
	                        .name = "initial"};
	rc = write_one(s, &tok, now);
	if (rc) {
		snprintf(r->err, sizeof(r->err), "%s", tok.err);
		sqlite3_stmt *del = s->wst[ST_UDELETE];
		sqlite3_bind_int64(del, 1, r->id);
		sqlite3_step(del);
		sqlite3_reset(del);
	}
	return rc;
}

static int step_verb(struct store *s, int which)
{
	sqlite3_stmt *st = s->wst[which];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void fail_batch(struct store_rec *batch, const char *why)
{
	for (struct store_rec *r = batch; r; r = r->next) {
		r->status = STORE_EFAIL;
		snprintf(r->err, sizeof(r->err), "not committed: %.200s", why);
	}
}

/* One transaction for the whole batch. A record that breaks a constraint fails alone (SQLite
 * rolls back just that statement); an I/O error or a failed COMMIT fails them all. */
static void commit_batch(struct store *s, struct store_rec *batch, uint32_t n)
{
	uint64_t t0 = now_ns();
	int64_t now = (int64_t)time(NULL);
	char why[STORE_ERRLEN];
	if (store_file_changed(s, why, sizeof(why))) {
		fail_batch(batch, why);
		return;
	}
	if (step_verb(s, ST_BEGIN)) {
		snprintf(why, sizeof(why), "BEGIN: %s", sqlite3_errmsg(s->wdb));
		fail_batch(batch, why);
		return;
	}
	for (struct store_rec *r = batch; r; r = r->next) {
		r->status = write_rec(s, r, now);
		if (r->status == STORE_EFAIL && sqlite3_get_autocommit(s->wdb)) {
			/* SQLite rolled the whole transaction back (disk full, I/O error) */
			snprintf(why, sizeof(why), "%s", r->err);
			fail_batch(batch, why);
			return;
		}
	}
	if (step_verb(s, ST_COMMIT)) {
		snprintf(why, sizeof(why), "COMMIT: %s", sqlite3_errmsg(s->wdb));
		step_verb(s, ST_ROLLBACK);
		fail_batch(batch, why);
		return;
	}
	uint64_t dt = now_ns() - t0;
	pthread_mutex_lock(&s->mu);
	s->stats.commits++;
	s->stats.records += n;
	if (n > s->stats.max_batch)
		s->stats.max_batch = n;
	s->stats.commit_ns += dt;
	if (dt > s->stats.max_commit_ns)
		s->stats.max_commit_ns = dt;
	pthread_mutex_unlock(&s->mu);
}

/* Hands each committed record to its waiter (sync) or to the loop (async). */
static void complete_batch(struct store *s, struct store_rec *batch)
{
	int queued = 0;
	while (batch) {
		struct store_rec *r = batch;
		batch = r->next;
		r->next = NULL;
		if (r->waiter) {
			struct waiter *w = r->waiter;
			pthread_mutex_lock(&w->mu);
			w->done = 1;
			pthread_cond_signal(&w->cv);
			pthread_mutex_unlock(&w->mu);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		if (s->dtail)
			s->dtail->next = r;
		else
			s->dhead = r;
		s->dtail = r;
		pthread_mutex_unlock(&s->mu);
		queued = 1;
	}
	if (queued && s->loop)
		uv_async_send(&s->async);
}

/* Takes up to max_batch records off the queue; waits for the first, then up to the window. */
static struct store_rec *take_batch(struct store *s, uint32_t *n)
{
	pthread_mutex_lock(&s->mu);
	while (!s->qhead && !s->stop)
		pthread_cond_wait(&s->work, &s->mu);
	if (s->window_us && !s->stop && s->qlen < s->max_batch) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		uint64_t ns = (uint64_t)dl.tv_nsec + (uint64_t)s->window_us * 1000;
		dl.tv_sec += (time_t)(ns / 1000000000u);
		dl.tv_nsec = (long)(ns % 1000000000u);
		while (!s->stop && s->qlen < s->max_batch &&
		       pthread_cond_timedwait(&s->work, &s->mu, &dl) == 0)
			;
	}
	struct store_rec *head = s->qhead, *r = head;
	uint32_t k = 0;
	if (head) {
		for (k = 1; k < s->max_batch && r->next; k++)
			r = r->next;
		s->qhead = r->next;
		if (!s->qhead)
			s->qtail = NULL;
		r->next = NULL;
		s->qlen -= k;
	}
	pthread_mutex_unlock(&s->mu);
	*n = k;
	return head;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	for (;;) {
		uint32_t n;
		struct store_rec *batch = take_batch(s, &n);
		if (!batch)
			break; /* stop requested and the queue is empty */
		commit_batch(s, batch, n);
		complete_batch(s, batch);
	}
	return NULL;
}

static void enqueue(struct store *s, struct store_rec *rec)
{
	rec->next = NULL;
	pthread_mutex_lock(&s->mu);
	if (s->qtail)
		s->qtail->next = rec;
	else
		s->qhead = rec;
	s->qtail = rec;
	s->qlen++;
	/* wake the writer when it sleeps on an empty queue, or when a windowed batch fills */
	if (s->qlen == 1 || s->qlen >= s->max_batch)
		pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
}

void store_submit(struct store *s, struct store_rec *rec)
{
	rec->waiter = NULL;
	/* a pending commit keeps the loop alive (a graceful stop waits for it) */
	if (s->loop && s->inflight++ == 0)
		uv_ref((uv_handle_t *)&s->async);
	enqueue(s, rec);
}

int store_submit_sync(struct store *s, struct store_rec *rec, char *err, size_t el)
{
	struct waiter w = {.done = 0};
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	rec->waiter = &w;
	enqueue(s, rec);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cv);
	int status = rec->status;
	if (status)
		store_set_err(err, el, "%s%s", rec->err, NULL);
	free(rec);
	return status;
}

/* Loop thread: runs the callbacks of everything committed since the last wake-up. */
static void deliver(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	struct store_rec *r = s->dhead;
	s->dhead = s->dtail = NULL;
	pthread_mutex_unlock(&s->mu);
	while (r) {
		struct store_rec *next = r->next;
		if (r->cb)
			r->cb(r, r->status, r->status ? r->err : NULL, r->data);
		free(r);
		r = next;
		if (s->loop && s->inflight > 0 && --s->inflight == 0)
			uv_unref((uv_handle_t *)&s->async);
	}
}

static void on_async(uv_async_t *h)
{
	deliver(h->data);
}

static void on_closed(uv_handle_t *h)
{
	store_free(h->data);
}

void store_close(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);
	deliver(s);
	if (s->loop)
		uv_close((uv_handle_t *)&s->async, on_closed);
	else
		store_free(s);
}

void store_get_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->stats;
	pthread_mutex_unlock(&s->mu);
}
