/*
 * The persistence interface of vmsimd: users, tokens, machines, the op journal and state
 * snapshots. SQLite (WAL) is the backend today; everything above this header sees only
 * records and callbacks, so a replicated backend (dqlite) can replace store.c and reads.c alone.
 *
 * Writes are records submitted from the libuv loop thread. A dedicated writer thread groups
 * every record queued meanwhile into one transaction (group commit), commits it durably, and
 * completes each record's callback back on the loop thread (uv_async). The loop never waits
 * on disk. Reads (recovery, time-travel, --check) are synchronous: call them at startup or
 * from a uv work thread, never from the loop.
 */
#ifndef VMSIM_STORE_H
#define VMSIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "machine.h"

#define STORE_SCHEMA_VERSION 4
#define STORE_ERRLEN         256

struct store;

struct store_opts {
	/* Database file; NULL or ":memory:" = an ephemeral database removed on close. */
	const char *path;
	/* Loop on which async completions run; NULL if only store_submit_sync is used. */
	uv_loop_t *loop;
	/* Group commit: after the first record of a batch arrives the writer waits up to this
	 * long for more (0 = no wait: a batch is whatever queued during the previous commit). */
	uint32_t batch_window_us;
	/* Upper bound of records per transaction (0 = 8192). */
	uint32_t max_batch;
	/* 0 (default): fsync every commit (PRAGMA synchronous=FULL), survives power loss;
	 * an ephemeral database never fsyncs (nobody recovers it);
	 * 1: synchronous=NORMAL, survives a process crash (kill -9) but not a power loss. */
	int relaxed;
	/* 1: hold "<path>.lock" (flock) while open; a second opener is refused, naming the
	 * holder (pid, host, since when). For the server, not for tools that only read. */
	int lock;
};

enum store_rec_kind {
	STORE_USER_CREATE = 1,
	STORE_TOKEN_CREATE,
	STORE_TOKEN_REVOKE,
	STORE_MACHINE_CREATE,
	STORE_MACHINE_DELETE,
	STORE_MACHINE_SHARE,
	STORE_JOURNAL,
	STORE_SNAPSHOT,
	STORE_SNAPSHOT_DELETE,
	STORE_JOURNAL_QUARANTINE,
	STORE_EXERCISE_ATTEMPT,
};

/* Completion status of a record: 0 committed, else not committed and err says why. */
#define STORE_EFAIL  (-1) /* database error: nothing of the batch was committed */
#define STORE_EEXIST (-2) /* a unique key is taken (user name, token, journal seq, snapshot) */
#define STORE_ENOENT (-3) /* the row to change or delete does not exist */

struct store_rec;
/* Runs on the loop thread once the record's transaction has ended. */
typedef void (*store_done_cb)(struct store_rec *rec, int status, const char *err, void *data);

/*
 * One write. Allocated by store_rec_new with room for `len` bytes of blob; the store owns and
 * frees it after the callback. Fields used per kind:
 *   USER_CREATE      id, ref=instructor id (0 none), role, name, quota[3]; optionally the
 *                    first token with it: blob=its 32-byte SHA-256, seq=its id (label "initial")
 *   TOKEN_CREATE     id, ref=user id, name=label, blob=32-byte SHA-256 of the token
 *   TOKEN_REVOKE     id
 *   MACHINE_CREATE   id, ref=owner, name, blob=config
 *   MACHINE_DELETE   id
 *   MACHINE_SHARE    id, role=1 shared read-only with the owner's class, 0 not
 *   JOURNAL          id=machine, seq=the entry's first history seq, nseq=how many history
 *                    seqs the entry covers (0 counts as 1; a batch of n ops covers n),
 *                    blob=the entry (journal.c defines what it means)
 *   SNAPSHOT         id=machine, seq, name ("" = automatic checkpoint), blob=state
 *   SNAPSHOT_DELETE  id=machine, name
 *   JOURNAL_QUARANTINE id=machine, seq: moves journal records >= seq to journal_quarantine
 *                    (a corrupt tail found at recovery: kept for inspection, never replayed)
 *   EXERCISE_ATTEMPT id=user (0: the --open caller), seq=exercise seed, name=topic,
 *                    role=1 every field right, 0 not; quota[0]=fields right, quota[1]=fields
 *                    asked (the time is the commit's, like every other row)
 */
struct store_rec {
	enum store_rec_kind kind;
	int64_t id;
	int64_t ref;
	uint64_t seq;
	int32_t role;
	int64_t quota[3]; /* machines, RAM bytes, ops per second (0 = unlimited) */
	uint32_t nseq;    /* JOURNAL: history seqs covered by this entry (0 = 1) */
	char name[64];
	size_t len;
	uint8_t *blob; /* points into the same allocation */
	store_done_cb cb;
	void *data;
	/* private to the store module */
	struct store_rec *next;
	int status;
	char err[STORE_ERRLEN];
	void *waiter;
};

struct store_rec *store_rec_new(enum store_rec_kind kind, size_t len);
void store_rec_free(struct store_rec *rec);

/* Opens (creating and migrating as needed). NULL with err filled on failure. */
struct store *store_open(const struct store_opts *opts, char *err, size_t errlen);
/* Commits everything queued, delivers its callbacks, stops the writer and frees the store
 * (the async handle is closed on the loop: run the loop once more to finish). */
void store_close(struct store *s);
/* The path in use (the temporary file in ephemeral mode). */
const char *store_path(const struct store *s);

/* Queues rec; its callback runs on the loop thread once committed. Never blocks on disk. */
void store_submit(struct store *s, struct store_rec *rec);
/* Queues rec and waits for its commit (startup, tools, tests: not on the loop thread).
 * Returns 0 or -1 with err filled; frees rec either way. */
int store_submit_sync(struct store *s, struct store_rec *rec, char *err, size_t errlen);

struct store_stats {
	uint64_t commits;   /* transactions */
	uint64_t records;   /* records committed */
	uint64_t max_batch; /* largest batch */
	uint64_t commit_ns; /* total time inside BEGIN..COMMIT */
	uint64_t max_commit_ns;
};
void store_get_stats(struct store *s, struct store_stats *st);

/* ---- reads ---- */

struct store_user {
	int64_t id, instructor;
	int32_t role;
	int64_t quota[3];
	char name[64];
	int64_t created;
};
struct store_token {
	int64_t id, user;
	uint8_t hash[32];
	char label[64];
	int64_t created, revoked; /* revoked: 0 or unix time */
};
struct store_machine {
	int64_t id, owner;
	char name[64];
	int shared;
	int64_t created;
	uint64_t last_seq; /* highest journal seq, the last one a batch entry covers (0 = none) */
	size_t config_len;
	uint8_t *config; /* malloc'd */
};
struct store_snapshot {
	int64_t machine;
	uint64_t seq;
	char name[64]; /* "" for an automatic checkpoint */
	int64_t created;
	size_t len;
	uint8_t *state; /* malloc'd (NULL from store_list_snapshots without states) */
	int corrupt;    /* with states: the stored checksum did not match (state is NULL) */
};

/* Each list call returns a malloc'd array (count in *n) or -1 with err. */
int store_list_users(struct store *s, struct store_user **out, size_t *n, char *err, size_t el);
int store_list_tokens(struct store *s, struct store_token **out, size_t *n, char *err, size_t el);
/* Live (not deleted) machines in id order. Free with store_free_machines. */
int store_list_machines(struct store *s, struct store_machine **out, size_t *n, char *err,
                        size_t el);
void store_free_machines(struct store_machine *m, size_t n);
/* The highest machine id ever stored, deleted ones included (0 = none). */
int64_t store_max_machine_id(struct store *s);
/* One live machine: 1 found, 0 none (or deleted), -1 error. Free m->config. */
int store_get_machine(struct store *s, int64_t id, struct store_machine *m, char *err, size_t el);
/* Snapshots of one machine in seq order, with their states (checksums verified) if asked.
 * Free with store_free_snapshots. */
int store_list_snapshots(struct store *s, int64_t machine, int with_state,
                         struct store_snapshot **out, size_t *n, char *err, size_t el);
void store_free_snapshots(struct store_snapshot *sn, size_t n);

/* The latest snapshot (checkpoint or named) with seq <= max_seq. Returns 1 found, 0 none,
 * -1 error. snap->state is malloc'd; its stored checksum is verified (-1 if it mismatches). */
int store_latest_snapshot(struct store *s, int64_t machine, uint64_t max_seq,
                          struct store_snapshot *snap, char *err, size_t el);
/* The named snapshot; 1 found, 0 none, -1 error. */
int store_get_snapshot(struct store *s, int64_t machine, const char *name,
                       struct store_snapshot *snap, char *err, size_t el);

/* Called per journal entry in seq order with the entry's first seq (an entry covering several
 * seqs, a batch, is delivered once and whole: its payload says how many ops it holds); a
 * nonzero return stops the scan (returned as is). */
typedef int (*store_op_cb)(uint64_t seq, const uint8_t *op, size_t len, void *data);

/* What a journal scan found. A torn or corrupt tail stops the scan before the bad record. */
struct store_scan {
	uint64_t ops;      /* history seqs covered by the delivered entries (up to upto_seq) */
	uint64_t records;  /* entries delivered */
	uint64_t last_seq; /* last seq delivered, capped at upto_seq (after_seq if none) */
	int corrupt;       /* 1: a record failed its checksum or broke the seq sequence */
	uint64_t bad_seq;  /* the first bad record's seq */
	char reason[128];  /* what was wrong with it */
	uint64_t skipped;  /* records at or after bad_seq not delivered */
};

/* Delivers the entries that start after after_seq and at or before upto_seq (0 = all) in
 * order, checking each record's checksum and that seqs follow on without a gap (an entry
 * starts where the previous one's seq range ends). after_seq must be an entry boundary (every
 * snapshot is: checkpoints are taken after whole entries). The entry holding upto_seq is
 * delivered whole; the caller applies only its prefix. Returns 0 (inspect scan->corrupt), the
 * callback's nonzero value, or -1 on a database error. */
int store_scan_journal(struct store *s, int64_t machine, uint64_t after_seq, uint64_t upto_seq,
                       store_op_cb cb, void *data, struct store_scan *scan, char *err, size_t el);

/* One journal record as store_read_journal delivers it (op points into the store's row). */
struct store_journal_rec {
	uint64_t seq;
	int64_t created; /* unix time it was committed */
	const uint8_t *op;
	size_t len;
	uint64_t nseq; /* history seqs it covers: seq .. seq+nseq-1 (a batch: its ops) */
};
typedef int (*store_journal_cb)(const struct store_journal_rec *r, void *data);

/* Like store_scan_journal, for listing: up to limit records (0 = all) from the one holding
 * after_seq + 1 (a batch record may start before it), each with its time. The same checks; a
 * corrupt record ends the listing (scan->corrupt). */
int store_read_journal(struct store *s, int64_t machine, uint64_t after_seq, uint64_t limit,
                       store_journal_cb cb, void *data, struct store_scan *scan, char *err,
                       size_t el);

/* Recorded exercise attempts summed per (user, topic), ordered by user id then topic. */
struct store_exercise_result {
	int64_t user;
	char topic[32];
	uint64_t attempts, correct;
	int64_t first_correct; /* unix seconds of the first fully right attempt; 0 = none */
	uint64_t last_seed;    /* the latest attempt's seed and time */
	int64_t last_attempt;
};
/* user < 0: every user; topic NULL or "": every topic. A malloc'd array (count in *n). */
int store_exercise_results(struct store *s, int64_t user, const char *topic,
                           struct store_exercise_result **out, size_t *n, char *err, size_t el);

/* PRAGMA integrity_check: 0 and "ok" in msg, or -1 with SQLite's first complaint. */
int store_integrity_check(struct store *s, char *msg, size_t len);

/* The checksum kept with every journal record and snapshot (CRC-32 over id, seq, bytes). */
uint32_t store_checksum(int64_t id, uint64_t seq, const uint8_t *buf, size_t len);
/* A journal record's: store_checksum, continued over nseq (8 bytes LE) when nseq > 1, so a
 * damaged seq count is caught like damaged bytes (single-op records keep the old value). */
uint32_t store_journal_checksum(int64_t id, uint64_t seq, uint64_t nseq, const uint8_t *buf,
                                size_t len);

/* Test hook: the raw SQLite handle used for reads (tests corrupt rows through it). */
struct sqlite3 *store_reader_db(struct store *s);

/*
 * Machine history on top of the store: what a machine's journal records mean (ops, reset,
 * restore), checkpoints every N entries, recovery at start, --check, time-travel, named
 * snapshots and export/import files. Each machine has a history seq (1, 2, ... per journal
 * entry), distinct from core's op seq, which a reset or a restore rewinds.
 */

/* How ops travel in the journal (the server packs them as protobuf Op messages). */
struct persist_codec {
	uint8_t *(*pack)(const struct op *op, size_t *len); /* malloc'd; NULL = cannot */
	int (*unpack)(const uint8_t *buf, size_t len, struct op *op, char *err, size_t errlen);
	/* Optional, for batches: the same bytes into buf (written only if they fit in cap);
	 * returns their length, 0 = cannot. No allocation per op. */
	size_t (*pack_to)(const struct op *op, uint8_t *buf, size_t cap);
};

struct persist;

/* ---- journal entries (format: the comment at the top of journal.c) ---- */

/* One journal record's entry as stored in the journal's op column (persist_history decodes
 * it into persist_entry values, one per seq). */
struct persist_record {
	char tag;               /* 'O' op, 'B' batch of ops, 'R' reset, 'S' restore ('F' and 'E'
	                         * read as 'O' and 'B', with last_failed) */
	int last_failed;        /* its (last) op failed partway */
	uint64_t nseq;          /* history seqs it covers: a batch's op count, else 1 */
	const uint8_t *payload; /* the bytes after the tag */
	size_t len;
	const uint8_t *next; /* private: persist_record_next_op's position */
	uint64_t left;
};
/* Checks an entry (a batch's whole framing) and fills e; -1 with err when malformed. */
int persist_record_parse(const uint8_t *buf, size_t len, struct persist_record *e, char *err,
                         size_t el);
/* The next packed op (codec form) of an 'O' (one) or 'B' entry: 1 and *op, *len set; 0 at
 * the end (and for 'R'/'S'); -1 if the entry was not parsed. */
int persist_record_next_op(struct persist_record *e, const uint8_t **op, size_t *len);

/* checkpoint_every: a checkpoint after that many journal entries of a machine (0 = 1000). */
struct persist *persist_new(struct store *s, const struct persist_codec *codec,
                            uint32_t checkpoint_every);
void persist_free(struct persist *p);

/* Completion of a group of records (status 0 = all committed). Runs on the loop thread. */
typedef void (*persist_done_cb)(int status, const char *err, void *data);

/* ---- recording (loop thread) ---- */

int persist_create(struct persist *p, int64_t id, int64_t owner, const char *name,
                   const struct machine_config *cfg, persist_done_cb cb, void *data);
int persist_delete(struct persist *p, int64_t id, persist_done_cb cb, void *data);
int persist_share(struct persist *p, int64_t id, int shared, persist_done_cb cb, void *data);
/* n ops just applied to m: journals them (one op: an 'O' entry; more: 'B' batch entries, one
 * record per BATCH_MAX_OPS ops, all in one commit group; 'F' and 'E' when last_failed: the
 * last op failed partway). They take the next n history seqs. No checkpoint is taken here
 * (see persist_checkpoint). */
int persist_ops(struct persist *p, int64_t id, const struct machine *m, const struct op *ops,
                size_t n, int last_failed, persist_done_cb cb, void *data);
/* Whether checkpoint_every seqs have been journaled since machine id's last checkpoint. */
int persist_checkpoint_due(const struct persist *p, int64_t id);
/* Saves m as the checkpoint at the machine's current history seq. m must be in the state of
 * that seq (no op applied but not yet given to persist_ops) and its records submitted before:
 * the store commits in order, so a checkpoint never lands before the journal it stands for.
 * vmsimd calls it once the request that made it due has been answered, so a big batch's
 * answer does not wait for saving (and writing) the machine's whole state. */
int persist_checkpoint(struct persist *p, int64_t id, const struct machine *m, persist_done_cb cb,
                       void *data);
/* m was rebooted from its config. */
int persist_reset(struct persist *p, int64_t id, persist_done_cb cb, void *data);
/* m's state was replaced by `name` (taken at history seq from_seq): appends a restore entry
 * and a checkpoint of m at it, so history stays linear and replayable. */
int persist_restored(struct persist *p, int64_t id, const struct machine *m, const char *name,
                     uint64_t from_seq, persist_done_cb cb, void *data);
/* Saves m's current state as a named snapshot (STORE_EEXIST if the name is taken). */
int persist_snapshot_save(struct persist *p, int64_t id, const struct machine *m, const char *name,
                          persist_done_cb cb, void *data);
int persist_snapshot_delete(struct persist *p, int64_t id, const char *name, persist_done_cb cb,
                            void *data);

/* The machine's current history seq (0 = nothing journaled yet, or unknown machine). */
uint64_t persist_seq(const struct persist *p, int64_t id);

/* ---- reading (startup, tools, or a uv work thread: these read the disk) ---- */

/* Rebuilds machine id as of history seq (0 = latest): nearest snapshot at or before it plus
 * replay. NULL with err on a bad seq or a corrupt journal before seq. */
struct machine *persist_machine_at(struct persist *p, int64_t id, uint64_t seq, char *err,
                                   size_t el);

/* One journal entry, decoded (persist_history). */
enum persist_entry_kind {
	PERSIST_ENTRY_OP,      /* an op applied with machine_apply() */
	PERSIST_ENTRY_RESET,   /* rebooted from the machine's config */
	PERSIST_ENTRY_RESTORE, /* state replaced by a snapshot's */
};
struct persist_entry {
	uint64_t seq;
	int64_t created; /* unix time */
	enum persist_entry_kind kind;
	const uint8_t *op; /* OP: the op as the codec packed it (valid during the callback) */
	size_t len;
	int failed_partway; /* OP: it failed partway (journaled, its work kept) */
	uint64_t from_seq;  /* RESTORE: the history seq the snapshot was taken at */
	char name[64];      /* RESTORE: the snapshot's name */
};
typedef int (*persist_entry_cb)(const struct persist_entry *e, void *data);

/* Delivers up to limit (0 = all) journal entries of machine id with seq >= from_seq, in
 * order; a batch record gives one OP entry per op, each with its own seq (from_seq may fall
 * inside a batch). 0, the callback's nonzero value, or -1 with err: a database error (*corrupt = 0)
 * or a record that fails its checks or cannot be decoded (*corrupt = 1, err names its seq). */
int persist_history(struct persist *p, int64_t id, uint64_t from_seq, uint64_t limit,
                    persist_entry_cb cb, void *data, int *corrupt, char *err, size_t el);

/* Called for each recovered machine; takes ownership of m. */
typedef void (*persist_recover_cb)(const struct store_machine *sm, struct machine *m, uint64_t seq,
                                   void *data);
struct persist_report {
	uint64_t machines, ops_replayed, corrupt; /* machines with a corrupt tail */
	char first_problem[256];
};
/* Recovers every live machine: latest checkpoint + replay. A corrupt tail is reported (log
 * receives one line per problem), moved to the journal_quarantine table and not applied. */
int persist_recover(struct persist *p, persist_recover_cb cb, void *data,
                    void (*log)(const char *line, void *data), struct persist_report *rep,
                    char *err, size_t el);

/* --check: integrity_check, then every machine replayed from scratch must equal each of its
 * snapshots byte for byte. 0 when all is well; log gets one line per finding. */
int persist_check(struct persist *p, void (*log)(const char *line, void *data), void *data);

/* Export: config, name, journal and the states its restores need, in one checksummed file
 * image (malloc'd; reads the disk). Import (loop thread, no disk reads): checks the file,
 * replays it, then records it as new machine `id` of `owner` (name NULL/"" = the file's);
 * returns the machine as of the end of the journal, or NULL + err on a bad file. cb runs when
 * the records have committed. */
int persist_export(struct persist *p, int64_t id, uint8_t **out, size_t *len, char *err, size_t el);
struct machine *persist_import(struct persist *p, int64_t id, int64_t owner, const char *name,
                               const uint8_t *buf, size_t len, persist_done_cb cb, void *data,
                               char *err, size_t el);

/* The config and name inside an export file (checks the file, records nothing). */
int persist_import_config(const uint8_t *buf, size_t len, struct machine_config *cfg, char *name,
                          size_t namelen, char *err, size_t el);

/* Config blob as stored in machines.config (versioned, little-endian). */
uint8_t *persist_config_pack(const struct machine_config *cfg, size_t *len);
int persist_config_unpack(const uint8_t *buf, size_t len, struct machine_config *cfg, char *err,
                          size_t el);

#endif
