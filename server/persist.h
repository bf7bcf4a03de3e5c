/*
 * Machine history on top of the store: what a machine's journal records mean (ops, reset,
 * restore), checkpoints every N entries, recovery at start, --check, time-travel, named
 * snapshots and export/import files. Each machine has a history seq (1, 2, ... per journal
 * entry), distinct from core's op seq, which a reset or a restore rewinds.
 */
#ifndef VMSIM_PERSIST_H
#define VMSIM_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "store.h"

/* How ops travel in the journal (the server packs them as protobuf Op messages). */
struct persist_codec {
	uint8_t *(*pack)(const struct op *op, size_t *len); /* malloc'd; NULL = cannot */
	int (*unpack)(const uint8_t *buf, size_t len, struct op *op, char *err, size_t errlen);
	/* Optional, for batches: the same bytes into buf (written only if they fit in cap);
	 * returns their length, 0 = cannot. No allocation per op. */
	size_t (*pack_to)(const struct op *op, uint8_t *buf, size_t cap);
};

struct persist;

/* ---- journal entries (format: the comment at the top of persist.c) ---- */

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
