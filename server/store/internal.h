/*
 * What the files of the store module share and nothing outside it sees (the public
 * interface is store.h).
 */
#ifndef VMSIM_STORE_INTERNAL_H
#define VMSIM_STORE_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>
#include <stdint.h>

#include <sqlite3.h>

#include "snapshot.h"
#include "store.h"

enum {
	ST_USER,
	ST_TOKEN,
	ST_REVOKE,
	ST_MACHINE,
	ST_MDELETE,
	ST_MSHARE,
	ST_JOURNAL,
	ST_SNAPSHOT,
	ST_SDELETE,
	ST_QUARANTINE,
	ST_EXATTEMPT,
	ST_UDELETE,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT,
};

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
};

struct store {
	char path[4096];
	int ephemeral;
	uint32_t window_us, max_batch;
	sqlite3 *wdb; /* writer thread only (after open) */
	sqlite3_stmt *wst[ST_COUNT];
	sqlite3 *rdb; /* reads, under rmu */
	pthread_mutex_t rmu;

	pthread_t writer;
	pthread_mutex_t mu;  /* guards everything below */
	pthread_cond_t work; /* queue became non-empty, or stop */
	struct store_rec *qhead, *qtail;
	uint32_t qlen;
	int stop;
	struct store_rec *dhead, *dtail; /* committed, waiting for the loop */
	struct store_stats stats;

	int lock_fd; /* "<path>.lock", flocked (store_opts.lock), else -1 */
	dev_t dev;   /* the database file as opened: a commit refuses if the path */
	ino_t ino;   /* names another file or none (lock.c) */

	uv_loop_t *loop;
	uv_async_t async;
	uint64_t inflight; /* async records not yet completed (loop thread only) */
};

#define ENTRY_OP           'O'
#define ENTRY_BATCH        'B'
#define ENTRY_OP_FAILED    'F' /* an op that failed partway */
#define ENTRY_BATCH_FAILED 'E'
#define ENTRY_RESET        'R'
#define ENTRY_RESTORE      'S'

/* Ops per batch record: a bigger Apply becomes several records in the same commit, so no
 * record (and no time-travel read of one) grows without bound. */
#define BATCH_MAX_OPS 65536

#define CONFIG_VERSION 1

/* Little-endian integers of entry payloads and export files. */
static inline uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

struct pm {
	int64_t id;
	uint64_t seq;   /* last history seq (the end of the last entry) */
	uint64_t since; /* seqs since the last checkpoint */
};

struct persist {
	struct store *store;
	struct persist_codec codec;
	uint32_t every;
	struct pm *pms; /* ascending id */
	size_t npms, cappms;
};

/* Where a restore entry finds its state: the store's checkpoint at that seq, or a file's. */
typedef struct machine *(*state_fn)(void *ctx, int64_t id, uint64_t seq, char *err, size_t el);

struct replay {
	struct persist *p;
	int64_t id;
	struct machine_config cfg;
	struct machine *m;
	state_fn state_at;
	void *ctx;
	uint64_t seq;  /* history seq reached: start it at the base the replay starts from */
	uint64_t upto; /* stop after this seq, inside a batch too (0 = no limit) */
	char err[256];
};

/* lock.c: one server per database, and the file under the path still the one open. */
int store_lock(struct store *s, char *err, size_t el);
void store_unlock(struct store *s);
int store_remember_file(struct store *s, char *err, size_t el);
/* 1 with why filled when the path no longer names the file opened. */
int store_file_changed(const struct store *s, char *why, size_t len);

/* The store module's functions shared between its files. */
void store_set_err(char *err, size_t len, const char *fmt, const char *a, const char *b);
int store_bind_text(sqlite3_stmt *st, int i, const char *t);

struct pm *persist_pm_get(struct persist *p, int64_t id);
struct pm *persist_pm_add(struct persist *p, int64_t id, uint64_t seq, uint64_t since);
void persist_pm_del(struct persist *p, int64_t id);
/* Submits recs[0..n) as one group whose cb runs after the last completes. */
int persist_submit_group(struct persist *p, struct store_rec **recs, size_t n, persist_done_cb cb,
                         void *data);
/* A journal record holding one entry: tag and payload. */
struct store_rec *journal_entry_rec(int64_t id, uint64_t seq, uint8_t tag, const uint8_t *payload,
                                    size_t len);
/* A snapshot record of m's state (name "" = a checkpoint). */
struct store_rec *checkpoint_rec(int64_t id, uint64_t seq, const char *name,
                                 const struct machine *m);

/* Applies one journal entry to r->m (a store_op_cb). */
int replay_entry(uint64_t seq, const uint8_t *buf, size_t len, void *data);
/* The store's checkpoint at seq (a state_fn; ctx is the persist). */
struct machine *replay_store_state_at(void *ctx, int64_t id, uint64_t seq, char *err, size_t el);
/* Starts r->m at the latest snapshot at or before seq (or boots it); *base its seq. */
int replay_base(struct replay *r, uint64_t seq, uint64_t *base, char *err, size_t el);

#endif
