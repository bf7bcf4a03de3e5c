/*
 * Machine history (persist.h): journal entries and their meaning, checkpoints, recovery,
 * --check, time-travel, export/import. A journal entry is one tag byte and a payload:
 *
 *   'O' <op packed by the codec>          an op applied with machine_apply()
 *   'F' <op packed by the codec>          the same, for an op that failed partway (out of
 *                                         memory after the kernel went to work: its work
 *                                         stays, so replay applies it too; History marks it)
 *   'B' <varint n> n x (<varint len>      n ops applied one after another by one request
 *        <op packed by the codec>)        (an Apply batch; n >= 1, at most BATCH_MAX_OPS)
 *   'E' <as 'B'>                          a batch whose last op failed partway
 *   'R'                                   reboot from the machine's config
 *   'S' <u64 from_seq> <name>             state replaced by snapshot `name`; a checkpoint at
 *                                         the entry's own seq holds the state, so replay
 *                                         never needs the (deletable) named snapshot
 *
 * Every entry has its own history seq, except that a batch covers n consecutive seqs, one per
 * op, in one journal record (store nseq = n, one checksum for the whole record): seq s of a
 * batch starting at a is the state after its first s-a+1 ops, so time travel into a batch
 * replays that prefix. Journaling a million-op Apply is one record instead of a million.
 * Checkpoints are only taken after whole entries. varint = protobuf base-128, low bits first.
 */
#include "persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

#define ENTRY_OP           'O'
#define ENTRY_BATCH        'B'
#define ENTRY_OP_FAILED    'F' /* journal format of session 4: an op that failed partway */
#define ENTRY_BATCH_FAILED 'E'
#define ENTRY_RESET        'R'
#define ENTRY_RESTORE      'S'

/* Ops per batch record: a bigger Apply becomes several records in the same commit, so no
 * record (and no time-travel read of one) grows without bound. */
#define BATCH_MAX_OPS 65536

#define CONFIG_VERSION 1
/* 2: seqs advance by each entry's span (batches); 1 (one seq per entry) is still read */
#define EXPORT_VERSION 2
static const char export_magic[8] = {'V', 'M', 'S', 'I', 'M', 'E', 'X', 'P'};

/* Little-endian integers of entry payloads and export files. */
static uint64_t get_le(const uint8_t *p, int bytes)
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

struct persist *persist_new(struct store *s, const struct persist_codec *codec,
                            uint32_t checkpoint_every)
{
	struct persist *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->store = s;
	p->codec = *codec;
	p->every = checkpoint_every ? checkpoint_every : 1000;
	return p;
}

void persist_free(struct persist *p)
{
	if (p)
		free(p->pms);
	free(p);
}

/* ---- the per-machine table ---- */

static size_t pm_find(const struct persist *p, int64_t id)
{
	size_t lo = 0, hi = p->npms;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (p->pms[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct pm *pm_get(struct persist *p, int64_t id)
{
	size_t i = pm_find(p, id);
	return i < p->npms && p->pms[i].id == id ? &p->pms[i] : NULL;
}

static struct pm *pm_add(struct persist *p, int64_t id, uint64_t seq, uint64_t since)
{
	size_t i = pm_find(p, id);
	if (i < p->npms && p->pms[i].id == id)
		return NULL;
	if (p->npms == p->cappms) {
		size_t cap = p->cappms ? p->cappms * 2 : 64;
		struct pm *n = realloc(p->pms, cap * sizeof(*n));
		if (!n)
			return NULL;
		p->pms = n;
		p->cappms = cap;
	}
	memmove(&p->pms[i + 1], &p->pms[i], (p->npms - i) * sizeof(*p->pms));
	p->npms++;
	p->pms[i] = (struct pm){.id = id, .seq = seq, .since = since};
	return &p->pms[i];
}

static void pm_del(struct persist *p, int64_t id)
{
	size_t i = pm_find(p, id);
	if (i < p->npms && p->pms[i].id == id) {
		memmove(&p->pms[i], &p->pms[i + 1], (p->npms - i - 1) * sizeof(*p->pms));
		p->npms--;
	}
}

uint64_t persist_seq(const struct persist *p, int64_t id)
{
	struct pm *pm = pm_get((struct persist *)p, id);
	return pm ? pm->seq : 0;
}

/* ---- journal entries ---- */

static void put_varint(struct snap_writer *w, uint64_t v)
{
	uint8_t b[10];
	int n = 0;
	do {
		b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	snap_put_bytes(w, b, (size_t)n);
}

/* Reads a varint at *p (< end); 0 when it is truncated or longer than 10 bytes. */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 70 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 1;
		}
	}
	return 0;
}

int persist_record_parse(const uint8_t *buf, size_t len, struct persist_record *e, char *err,
                         size_t el)
{
	memset(e, 0, sizeof(*e));
	if (len == 0) {
		snprintf(err, el, "empty journal entry");
		return -1;
	}
	e->tag = (char)buf[0];
	e->payload = buf + 1;
	e->len = len - 1;
	e->nseq = 1;
	e->last_failed = buf[0] == ENTRY_OP_FAILED || buf[0] == ENTRY_BATCH_FAILED;
	switch (buf[0]) {
	case ENTRY_OP:
	case ENTRY_OP_FAILED:
		e->tag = ENTRY_OP;
		e->next = e->payload;
		e->left = 1;
		return 0;
	case ENTRY_RESET:
	case ENTRY_RESTORE:
		return 0;
	case ENTRY_BATCH:
	case ENTRY_BATCH_FAILED:
		e->tag = ENTRY_BATCH;
		break;
	default:
		snprintf(err, el, "unknown journal entry '%c'",
		         buf[0] >= 32 && buf[0] < 127 ? buf[0] : '?');
		return -1;
	}
	/* a batch: the whole framing is checked before any op of it is applied */
	const uint8_t *p = e->payload, *end = buf + len;
	uint64_t n, oplen;
	if (!get_varint(&p, end, &n) || n == 0 || n > BATCH_MAX_OPS) {
		snprintf(err, el, "batch entry has a bad op count");
		return -1;
	}
	e->next = p;
	e->left = e->nseq = n;
	for (uint64_t i = 0; i < n; i++) {
		if (!get_varint(&p, end, &oplen) || oplen > (uint64_t)(end - p)) {
			snprintf(err, el, "batch entry is truncated at op %llu of %llu",
			         (unsigned long long)i + 1, (unsigned long long)n);
			return -1;
		}
		p += oplen;
	}
	if (p != end) {
		snprintf(err, el, "batch entry has %zu bytes after its %llu ops", (size_t)(end - p),
		         (unsigned long long)n);
		return -1;
	}
	return 0;
}

int persist_record_next_op(struct persist_record *e, const uint8_t **op, size_t *len)
{
	if (e->left == 0)
		return 0;
	e->left--;
	if (e->tag == ENTRY_OP) {
		*op = e->payload;
		*len = e->len;
		return 1;
	}
	uint64_t n;
	const uint8_t *end = e->payload + e->len;
	if (!get_varint(&e->next, end, &n) || n > (uint64_t)(end - e->next))
		return -1; /* not after a successful persist_record_parse */
	*op = e->next;
	*len = (size_t)n;
	e->next += n;
	return 1;
}

/* ---- config blob ---- */

uint8_t *persist_config_pack(const struct machine_config *c, size_t *len)
{
	struct snap_writer w = {0};
	snap_put_u32(&w, CONFIG_VERSION);
	snap_put_u32(&w, (uint32_t)c->arch);
	snap_put_u64(&w, c->ram_bytes);
	snap_put_u32(&w, c->tlb_entries);
	snap_put_u32(&w, c->tlb_ways);
	snap_put_u32(&w, (uint32_t)c->policy);
	snap_put_u32(&w, c->swappiness);
	snap_put_u32(&w, c->swappiness_set);
	snap_put_u64(&w, c->seed);
	snap_put_u32(&w, c->min_free_kbytes);
	snap_put_u32(&w, c->event_ring);
	*len = w.len;
	return w.buf;
}

int persist_config_unpack(const uint8_t *buf, size_t len, struct machine_config *c, char *err,
                          size_t el)
{
	struct snap_reader r = {.p = buf, .len = len};
	uint32_t v = snap_get_u32(&r);
	if (!r.err && v != CONFIG_VERSION) {
		snprintf(err, el, "machine config version %u is not supported (want %d)", v,
		         CONFIG_VERSION);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->arch = (enum machine_arch)snap_get_u32(&r);
	c->ram_bytes = snap_get_u64(&r);
	c->tlb_entries = snap_get_u32(&r);
	c->tlb_ways = snap_get_u32(&r);
	c->policy = (enum reclaim_policy)snap_get_u32(&r);
	c->swappiness = snap_get_u32(&r);
	c->swappiness_set = snap_get_u32(&r);
	c->seed = snap_get_u64(&r);
	c->min_free_kbytes = snap_get_u32(&r);
	c->event_ring = snap_get_u32(&r);
	if (r.err || r.off != len) {
		snprintf(err, el, "machine config blob is truncated or too long (%zu bytes)", len);
		return -1;
	}
	return 0;
}

/* ---- recording ---- */

struct group {
	size_t left;
	int status;
	char err[STORE_ERRLEN];
	persist_done_cb cb;
	void *data;
};

static void group_rec_done(struct store_rec *rec, int status, const char *err, void *data)
{
	struct group *g = data;
	(void)rec;
	if (status && !g->status) {
		g->status = status;
		snprintf(g->err, sizeof(g->err), "%s", err ? err : "not committed");
	}
	if (--g->left == 0) {
		if (g->cb)
			g->cb(g->status, g->status ? g->err : NULL, g->data);
		free(g);
	}
}

/* Submits recs[0..n) as one group whose cb runs after the last completes. */
static int submit_group(struct persist *p, struct store_rec **recs, size_t n, persist_done_cb cb,
                        void *data)
{
	struct group *g = calloc(1, sizeof(*g));
	if (!g) {
		for (size_t i = 0; i < n; i++)
			store_rec_free(recs[i]);
		return -1;
	}
	g->left = n;
	g->cb = cb;
	g->data = data;
	for (size_t i = 0; i < n; i++) {
		recs[i]->cb = group_rec_done;
		recs[i]->data = g;
		store_submit(p->store, recs[i]);
	}
	return 0;
}

static struct store_rec *entry_rec(int64_t id, uint64_t seq, uint8_t tag, const uint8_t *payload,
                                   size_t len)
{
	struct store_rec *r = store_rec_new(STORE_JOURNAL, len + 1);
	if (!r)
		return NULL;
	r->id = id;
	r->seq = seq;
	r->blob[0] = tag;
	if (len)
		memcpy(r->blob + 1, payload, len);
	return r;
}

/* Appends one op, length first; without a malloc per op when the codec can. */
static int put_batch_op(struct persist *p, struct snap_writer *w, const struct op *op)
{
	uint8_t tmp[1024];
	size_t len = p->codec.pack_to ? p->codec.pack_to(op, tmp, sizeof(tmp)) : 0;
	if (len && len <= sizeof(tmp)) {
		put_varint(w, len);
		snap_put_bytes(w, tmp, len);
		return 0;
	}
	uint8_t *buf = p->codec.pack(op, &len);
	if (!buf)
		return -1;
	put_varint(w, len);
	snap_put_bytes(w, buf, len);
	free(buf);
	return 0;
}

/* A 'B' entry of ops[0..n) starting at seq ('E' when the last failed partway). */
static struct store_rec *batch_rec(struct persist *p, int64_t id, uint64_t seq,
                                   const struct op *ops, size_t n, int last_failed)
{
	struct snap_writer w = {0};
	snap_put_u8(&w, last_failed ? ENTRY_BATCH_FAILED : ENTRY_BATCH);
	put_varint(&w, n);
	for (size_t i = 0; i < n; i++) {
		if (put_batch_op(p, &w, &ops[i])) {
			free(w.buf);
			return NULL;
		}
	}
	struct store_rec *r = store_rec_new(STORE_JOURNAL, w.len);
	if (r) {
		r->id = id;
		r->seq = seq;
		r->nseq = (uint32_t)n;
		memcpy(r->blob, w.buf, w.len);
	}
	free(w.buf);
	return r;
}

static struct store_rec *state_rec(int64_t id, uint64_t seq, const char *name,
                                   const struct machine *m)
{
	uint8_t *buf;
	size_t len;
	if (machine_save(m, &buf, &len))
		return NULL;
	struct store_rec *r = store_rec_new(STORE_SNAPSHOT, len);
	if (r) {
		r->id = id;
		r->seq = seq;
		snprintf(r->name, sizeof(r->name), "%s", name);
		memcpy(r->blob, buf, len);
	}
	free(buf);
	return r;
}

int persist_create(struct persist *p, int64_t id, int64_t owner, const char *name,
                   const struct machine_config *cfg, persist_done_cb cb, void *data)
{
	size_t len;
	uint8_t *blob = persist_config_pack(cfg, &len);
	struct store_rec *r = store_rec_new(STORE_MACHINE_CREATE, len);
	if (!r || !pm_add(p, id, 0, 0)) {
		free(blob);
		store_rec_free(r);
		return -1;
	}
	r->id = id;
	r->ref = owner;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	memcpy(r->blob, blob, len);
	free(blob);
	return submit_group(p, &r, 1, cb, data);
}

static int simple(struct persist *p, enum store_rec_kind kind, int64_t id, int role,
                  const char *name, persist_done_cb cb, void *data)
{
	struct store_rec *r = store_rec_new(kind, 0);
	if (!r)
		return -1;
	r->id = id;
	r->role = role;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	return submit_group(p, &r, 1, cb, data);
}

int persist_delete(struct persist *p, int64_t id, persist_done_cb cb, void *data)
{
	pm_del(p, id);
	return simple(p, STORE_MACHINE_DELETE, id, 0, NULL, cb, data);
}

int persist_share(struct persist *p, int64_t id, int shared, persist_done_cb cb, void *data)
{
	return simple(p, STORE_MACHINE_SHARE, id, shared, NULL, cb, data);
}

int persist_snapshot_delete(struct persist *p, int64_t id, const char *name, persist_done_cb cb,
                            void *data)
{
	return simple(p, STORE_SNAPSHOT_DELETE, id, 0, name, cb, data);
}

int persist_ops(struct persist *p, int64_t id, const struct machine *m, const struct op *ops,
                size_t n, int last_failed, persist_done_cb cb, void *data)
{
	struct pm *pm = pm_get(p, id);
	if (!pm || n == 0)
		return -1;
	/* one op: an 'O' entry; more: 'B' entries of up to BATCH_MAX_OPS, one record each */
	size_t nrec = n == 1 ? 1 : (n + BATCH_MAX_OPS - 1) / BATCH_MAX_OPS;
	struct store_rec **recs = calloc(nrec + 1, sizeof(*recs));
	size_t k = 0;
	if (!recs)
		return -1;
	if (n == 1) {
		size_t len;
		uint8_t *buf = p->codec.pack(&ops[0], &len);
		recs[k] = buf ? entry_rec(id, pm->seq + 1, last_failed ? ENTRY_OP_FAILED : ENTRY_OP,
		                          buf, len)
		              : NULL;
		free(buf);
		if (!recs[k++])
			goto fail;
	}
	for (size_t off = 0; n > 1 && off < n; off += BATCH_MAX_OPS) {
		size_t cnt = n - off < BATCH_MAX_OPS ? n - off : BATCH_MAX_OPS;
		if (!(recs[k++] = batch_rec(p, id, pm->seq + off + 1, ops + off, cnt,
		                            last_failed && off + cnt == n)))
			goto fail;
	}
	(void)m; /* the checkpoint, when due, is persist_checkpoint's: after the answer */
	pm->since += n;
	pm->seq += n;
	int rc = submit_group(p, recs, k, cb, data);
	free(recs);
	return rc;
fail:
	for (size_t i = 0; i < k; i++)
		store_rec_free(recs[i]);
	free(recs);
	return -1;
}

int persist_checkpoint_due(const struct persist *p, int64_t id)
{
	struct pm *pm = pm_get((struct persist *)p, id);
	return pm && pm->since >= p->every;
}

int persist_checkpoint(struct persist *p, int64_t id, const struct machine *m, persist_done_cb cb,
                       void *data)
{
	struct pm *pm = pm_get(p, id);
	struct store_rec *r = pm ? state_rec(id, pm->seq, "", m) : NULL;
	if (!r)
		return -1;
	pm->since = 0;
	return submit_group(p, &r, 1, cb, data);
}

int persist_reset(struct persist *p, int64_t id, persist_done_cb cb, void *data)
{
	struct pm *pm = pm_get(p, id);
	struct store_rec *r = pm ? entry_rec(id, pm->seq + 1, ENTRY_RESET, NULL, 0) : NULL;
	if (!r)
		return -1;
	pm->seq++;
	pm->since++;
	return submit_group(p, &r, 1, cb, data);
}

int persist_restored(struct persist *p, int64_t id, const struct machine *m, const char *name,
                     uint64_t from_seq, persist_done_cb cb, void *data)
{
	struct pm *pm = pm_get(p, id);
	if (!pm)
		return -1;
	uint8_t payload[8 + 64];
	size_t nlen = strnlen(name, 63);
	for (int i = 0; i < 8; i++)
		payload[i] = (uint8_t)(from_seq >> (8 * i));
	memcpy(payload + 8, name, nlen);
	struct store_rec *recs[2] = {entry_rec(id, pm->seq + 1, ENTRY_RESTORE, payload, 8 + nlen),
	                             state_rec(id, pm->seq + 1, "", m)};
	if (!recs[0] || !recs[1]) {
		store_rec_free(recs[0]);
		store_rec_free(recs[1]);
		return -1;
	}
	pm->seq++;
	pm->since = 0;
	return submit_group(p, recs, 2, cb, data);
}

int persist_snapshot_save(struct persist *p, int64_t id, const struct machine *m, const char *name,
                          persist_done_cb cb, void *data)
{
	struct pm *pm = pm_get(p, id);
	struct store_rec *r = pm ? state_rec(id, pm->seq, name, m) : NULL;
	if (!r)
		return -1;
	return submit_group(p, &r, 1, cb, data);
}

/* ---- replay ---- */

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

/* The ops of an 'O' or 'B' entry starting at seq, up to r->upto. */
static int replay_ops(struct replay *r, struct persist_record *e, uint64_t seq)
{
	const uint8_t *buf;
	size_t len;
	int rc;
	for (; (rc = persist_record_next_op(e, &buf, &len)) == 1; seq++) {
		struct op op;
		struct op_result res;
		if (r->upto && seq > r->upto)
			return 0;
		if (r->p->codec.unpack(buf, len, &op, r->err, sizeof(r->err))) {
			size_t n = strlen(r->err);
			snprintf(r->err + n, sizeof(r->err) - n, " (seq %llu)",
			         (unsigned long long)seq);
			return 1;
		}
		machine_apply(r->m, &op, &res); /* replays the original outcome, errors too */
	}
	if (rc < 0)
		snprintf(r->err, sizeof(r->err), "batch entry is malformed at seq %llu",
		         (unsigned long long)seq);
	return rc < 0;
}

static int replay_entry(uint64_t seq, const uint8_t *buf, size_t len, void *data)
{
	struct replay *r = data;
	struct persist_record e;
	if (seq != r->seq + 1) {
		snprintf(r->err, sizeof(r->err),
		         "journal entry at seq %llu does not follow seq %llu",
		         (unsigned long long)seq, (unsigned long long)r->seq);
		return 1;
	}
	if (persist_record_parse(buf, len, &e, r->err, sizeof(r->err))) {
		size_t n = strlen(r->err);
		snprintf(r->err + n, sizeof(r->err) - n, " at seq %llu", (unsigned long long)seq);
		return 1;
	}
	struct machine *next = NULL;
	switch (e.tag) {
	case ENTRY_OP:
	case ENTRY_BATCH:
		if (replay_ops(r, &e, seq))
			return 1;
		break;
	case ENTRY_RESET:
		next = machine_create(&r->cfg, r->err, sizeof(r->err));
		break;
	case ENTRY_RESTORE:
		next = r->state_at(r->ctx, r->id, seq, r->err, sizeof(r->err));
		break;
	}
	if (e.tag == ENTRY_RESET || e.tag == ENTRY_RESTORE) {
		if (!next)
			return 1;
		machine_destroy(r->m);
		r->m = next;
	}
	r->seq = seq + e.nseq - 1;
	if (r->upto && r->seq > r->upto)
		r->seq = r->upto;
	return 0;
}

static struct machine *store_state_at(void *ctx, int64_t id, uint64_t seq, char *err, size_t el)
{
	struct persist *p = ctx;
	struct store_snapshot sn;
	int rc = store_latest_snapshot(p->store, id, seq, &sn, err, el);
	if (rc == 1 && sn.seq != seq) {
		free(sn.state);
		rc = 0;
	}
	if (rc != 1) {
		if (rc == 0)
			snprintf(err, el, "restore at seq %llu has no checkpoint",
			         (unsigned long long)seq);
		return NULL;
	}
	struct machine *m = machine_load(sn.state, sn.len, err, el);
	free(sn.state);
	return m;
}

/* Starts r at the latest usable snapshot <= seq (or boots from the config); *base is its seq. */
static int replay_base(struct replay *r, uint64_t seq, uint64_t *base, char *err, size_t el)
{
	struct store_snapshot sn;
	int rc = store_latest_snapshot(r->p->store, r->id, seq, &sn, err, el);
	*base = 0;
	if (rc == 1) {
		r->m = machine_load(sn.state, sn.len, err, el);
		free(sn.state);
		if (r->m) {
			*base = sn.seq;
			return 0;
		}
	}
	if (rc == -1 || (rc == 1 && !r->m))
		return -1; /* a corrupt snapshot: the caller decides whether to go from scratch */
	r->m = machine_create(&r->cfg, err, el);
	return r->m ? 0 : -1;
}

static int load_config(struct persist *p, int64_t id, struct store_machine *sm,
                       struct machine_config *cfg, char *err, size_t el)
{
	int rc = store_get_machine(p->store, id, sm, err, el);
	if (rc == 0)
		snprintf(err, el, "no machine %lld", (long long)id);
	if (rc != 1)
		return -1;
	rc = persist_config_unpack(sm->config, sm->config_len, cfg, err, el);
	free(sm->config);
	sm->config = NULL;
	return rc;
}

struct machine *persist_machine_at(struct persist *p, int64_t id, uint64_t seq, char *err,
                                   size_t el)
{
	struct store_machine sm;
	struct replay r = {.p = p, .id = id, .state_at = store_state_at, .ctx = p};
	if (load_config(p, id, &sm, &r.cfg, err, el))
		return NULL;
	if (seq == 0)
		seq = sm.last_seq;
	if (seq > sm.last_seq) {
		snprintf(err, el, "machine %lld has no seq %llu (its history ends at %llu)",
		         (long long)id, (unsigned long long)seq, (unsigned long long)sm.last_seq);
		return NULL;
	}
	uint64_t base;
	if (replay_base(&r, seq, &base, err, el))
		return NULL;
	struct store_scan sc;
	r.seq = base;
	r.upto = seq; /* a seq inside a batch: its prefix */
	int rc = store_scan_journal(p->store, id, base, seq, replay_entry, &r, &sc, err, el);
	if (rc == 1)
		snprintf(err, el, "%s", r.err);
	else if (!rc && sc.corrupt)
		snprintf(err, el, "journal of machine %lld is corrupt at seq %llu: %s",
		         (long long)id, (unsigned long long)sc.bad_seq, sc.reason);
	else if (!rc && sc.last_seq != seq)
		snprintf(err, el, "journal of machine %lld ends at seq %llu before %llu",
		         (long long)id, (unsigned long long)sc.last_seq, (unsigned long long)seq);
	if (rc || sc.corrupt || sc.last_seq != seq) {
		machine_destroy(r.m);
		return NULL;
	}
	return r.m;
}

/* ---- listing ---- */

struct history {
	persist_entry_cb cb;
	void *data;
	uint64_t from_seq, limit, delivered; /* limit 0: all */
	char err[128];
};

#define HISTORY_FULL (INT32_MIN + 1) /* the page is full: not an error */

/* One entry to the caller, if it is in the page asked for. */
static int history_deliver(struct history *h, const struct persist_entry *e)
{
	if (e->seq < h->from_seq)
		return 0; /* the start of a batch that begins before the page */
	if (h->limit && h->delivered == h->limit)
		return HISTORY_FULL;
	h->delivered++;
	return h->cb(e, h->data);
}

/* Decodes one record's tag and payload (the op itself stays packed: the caller's codec); a
 * batch record gives one entry per op, each with its own seq. */
static int history_entry(const struct store_journal_rec *r, void *data)
{
	struct history *h = data;
	struct persist_entry e = {.seq = r->seq, .created = r->created};
	struct persist_record rec;
	char why[96];
	int rc;
	if (persist_record_parse(r->op, r->len, &rec, why, sizeof(why)))
		goto bad;
	switch (rec.tag) {
	case ENTRY_OP:
	case ENTRY_BATCH:
		e.kind = PERSIST_ENTRY_OP;
		for (; persist_record_next_op(&rec, &e.op, &e.len) == 1; e.seq++) {
			e.failed_partway = rec.last_failed && rec.left == 0;
			if ((rc = history_deliver(h, &e)))
				return rc;
		}
		return 0;
	case ENTRY_RESET:
		e.kind = PERSIST_ENTRY_RESET;
		break;
	case ENTRY_RESTORE:
		if (r->len < 9)
			goto bad;
		e.kind = PERSIST_ENTRY_RESTORE;
		e.from_seq = get_le(r->op + 1, 8);
		snprintf(e.name, sizeof(e.name), "%.*s", (int)(r->len - 9 < 63 ? r->len - 9 : 63),
		         (const char *)r->op + 9);
		break;
	default:
		goto bad;
	}
	return history_deliver(h, &e);
bad:
	snprintf(h->err, sizeof(h->err), "undecodable journal entry at seq %llu",
	         (unsigned long long)r->seq);
	return INT32_MIN; /* not a value a callback returns */
}

int persist_history(struct persist *p, int64_t id, uint64_t from_seq, uint64_t limit,
                    persist_entry_cb cb, void *data, int *corrupt, char *err, size_t el)
{
	struct history h = {.cb = cb, .data = data, .from_seq = from_seq, .limit = limit};
	struct store_scan sc;
	*corrupt = 0;
	/* a record holds at least one entry: `limit` records always fill the page */
	int rc = store_read_journal(p->store, id, from_seq ? from_seq - 1 : 0, limit, history_entry,
	                            &h, &sc, err, el);
	if (rc == HISTORY_FULL)
		return 0;
	if (rc == INT32_MIN || (!rc && sc.corrupt)) {
		*corrupt = 1;
		if (rc)
			snprintf(err, el, "journal of machine %lld: %s", (long long)id, h.err);
		else
			snprintf(err, el, "journal of machine %lld is corrupt at seq %llu: %s",
			         (long long)id, (unsigned long long)sc.bad_seq, sc.reason);
		return -1;
	}
	return rc;
}

/* ---- recovery ---- */

static void say(void (*log)(const char *, void *), void *data, struct persist_report *rep,
                const char *line)
{
	if (log)
		log(line, data);
	if (rep && !rep->first_problem[0])
		snprintf(rep->first_problem, sizeof(rep->first_problem), "%.255s", line);
}

/* Recovers one machine; returns the machine or NULL (reason in err). */
static struct machine *recover_one(struct persist *p, const struct store_machine *sm,
                                   void (*log)(const char *, void *), void *data,
                                   struct persist_report *rep, uint64_t *seq, uint64_t *since,
                                   char *err, size_t el)
{
	char line[512];
	struct replay r = {.p = p, .id = sm->id, .state_at = store_state_at, .ctx = p};
	uint64_t base = 0;
	if (persist_config_unpack(sm->config, sm->config_len, &r.cfg, err, el))
		return NULL;
	if (replay_base(&r, sm->last_seq, &base, err, el)) {
		snprintf(line, sizeof(line), "machine %lld: %s; replaying from the start",
		         (long long)sm->id, err);
		say(log, data, rep, line);
		if (!(r.m = machine_create(&r.cfg, err, el)))
			return NULL;
	}
	struct store_scan sc;
	r.seq = base;
	int rc = store_scan_journal(p->store, sm->id, base, 0, replay_entry, &r, &sc, err, el);
	if (rc) {
		if (rc == 1)
			snprintf(err, el, "%s", r.err);
		machine_destroy(r.m);
		return NULL;
	}
	if (sc.corrupt) {
		snprintf(line, sizeof(line),
		         "machine %lld: journal corrupt at seq %llu (%s): %llu entries moved to "
		         "journal_quarantine, machine recovered to seq %llu",
		         (long long)sm->id, (unsigned long long)sc.bad_seq, sc.reason,
		         (unsigned long long)sc.skipped, (unsigned long long)sc.last_seq);
		say(log, data, rep, line);
		struct store_rec *q = store_rec_new(STORE_JOURNAL_QUARANTINE, 0);
		q->id = sm->id;
		q->seq = sc.bad_seq;
		if (store_submit_sync(p->store, q, err, el)) {
			machine_destroy(r.m);
			return NULL;
		}
		if (rep)
			rep->corrupt++;
	}
	if (rep)
		rep->ops_replayed += sc.ops;
	*seq = sc.last_seq;
	*since = sc.ops;
	return r.m;
}

int persist_recover(struct persist *p, persist_recover_cb cb, void *data,
                    void (*log)(const char *line, void *data), struct persist_report *rep,
                    char *err, size_t el)
{
	struct store_machine *ms;
	size_t n;
	struct persist_report local;
	if (!rep)
		rep = &local;
	memset(rep, 0, sizeof(*rep));
	if (store_list_machines(p->store, &ms, &n, err, el))
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = 0, since = 0;
		struct machine *m = recover_one(p, &ms[i], log, data, rep, &seq, &since, err, el);
		if (!m || !pm_add(p, ms[i].id, seq, since)) {
			char line[512];
			snprintf(line, sizeof(line), "machine %lld: cannot recover: %s",
			         (long long)ms[i].id, m ? "out of memory" : err);
			snprintf(err, el, "%s", line);
			machine_destroy(m);
			store_free_machines(ms, n);
			return -1;
		}
		rep->machines++;
		cb(&ms[i], m, seq, data);
	}
	store_free_machines(ms, n);
	return 0;
}

/* ---- --check ---- */

struct checker {
	struct replay r;
	struct store_snapshot *snaps;
	size_t nsnaps, next;
	uint64_t mismatches;
	void (*log)(const char *, void *);
	void *data;
};

/*
 * A snapshot written in an older format is compared after a load and a re-save, which brings
 * it to the current format. Format 1 predates the swap cache outliving a swap-in: where a
 * swap-in happened, replay (which follows the current kernel) differs from it, so a difference
 * from a format 1 snapshot is a note, not a mismatch.
 */
static void check_snapshot(struct checker *c, const struct store_snapshot *sn, const uint8_t *state,
                           size_t slen)
{
	char line[512], err[256];
	const uint8_t *want = sn->state;
	size_t wlen = sn->len;
	uint8_t *norm = NULL;
	uint32_t version = snapshot_version(sn->state, sn->len);
	if (version != SNAPSHOT_VERSION) {
		struct machine *old = machine_load(sn->state, sn->len, err, sizeof(err));
		if (!old) {
			snprintf(line, sizeof(line),
			         "machine %lld: snapshot \"%s\" at seq %llu: %s",
			         (long long)c->r.id, sn->name, (unsigned long long)sn->seq, err);
			c->log(line, c->data);
			c->mismatches++;
			return;
		}
		machine_save(old, &norm, &wlen);
		machine_destroy(old);
		want = norm;
	}
	if (slen != wlen || memcmp(state, want, slen)) {
		int note = version == 1;
		snprintf(line, sizeof(line),
		         "machine %lld: replay differs from %ssnapshot \"%s\" at seq %llu%s",
		         (long long)c->r.id, note ? "format 1 " : "", sn->name,
		         (unsigned long long)sn->seq,
		         note ? " (note: written before swap-ins kept pages in the swap cache; "
		                "expected where a swap-in happened)"
		              : "");
		c->log(line, c->data);
		c->mismatches += !note;
	}
	free(norm);
}

/* After each entry: the replayed state must equal every snapshot taken at its last seq (a
 * snapshot inside a batch cannot be checked: none is ever taken there). */
static int check_entry(uint64_t seq, const uint8_t *buf, size_t len, void *data)
{
	struct checker *c = data;
	int rc = replay_entry(seq, buf, len, &c->r);
	if (rc)
		return rc;
	uint64_t end = c->r.seq;
	for (; c->next < c->nsnaps && c->snaps[c->next].seq <= end; c->next++) {
		struct store_snapshot *sn = &c->snaps[c->next];
		uint8_t *state;
		size_t slen;
		char line[256];
		if (sn->seq >= seq && sn->seq < end) {
			snprintf(line, sizeof(line),
			         "machine %lld: snapshot \"%s\" at seq %llu is inside the batch at "
			         "seqs %llu-%llu",
			         (long long)c->r.id, sn->name, (unsigned long long)sn->seq,
			         (unsigned long long)seq, (unsigned long long)end);
			c->log(line, c->data);
			c->mismatches++;
			continue;
		}
		if (sn->seq < seq || sn->corrupt || machine_save(c->r.m, &state, &slen))
			continue; /* reported by the caller */
		check_snapshot(c, sn, state, slen);
		free(state);
	}
	return 0;
}

static int check_machine(struct persist *p, const struct store_machine *sm,
                         void (*log)(const char *, void *), void *data)
{
	char err[256], line[512];
	struct checker c = {.r = {.p = p, .id = sm->id, .state_at = store_state_at, .ctx = p},
	                    .log = log,
	                    .data = data};
	int bad = 0;
	if (persist_config_unpack(sm->config, sm->config_len, &c.r.cfg, err, sizeof(err)) ||
	    store_list_snapshots(p->store, sm->id, 1, &c.snaps, &c.nsnaps, err, sizeof(err)) ||
	    !(c.r.m = machine_create(&c.r.cfg, err, sizeof(err)))) {
		snprintf(line, sizeof(line), "machine %lld: %s", (long long)sm->id, err);
		log(line, data);
		store_free_snapshots(c.snaps, c.nsnaps);
		return 1;
	}
	for (size_t i = 0; i < c.nsnaps; i++) {
		if (c.snaps[i].corrupt || c.snaps[i].seq > sm->last_seq) {
			snprintf(
			    line, sizeof(line), "machine %lld: snapshot \"%s\" at seq %llu is %s",
			    (long long)sm->id, c.snaps[i].name, (unsigned long long)c.snaps[i].seq,
			    c.snaps[i].corrupt ? "corrupt (checksum mismatch)"
			                       : "beyond the end of the journal");
			log(line, data);
			bad++;
		}
	}
	struct store_scan sc;
	int rc = store_scan_journal(p->store, sm->id, 0, 0, check_entry, &c, &sc, err, sizeof(err));
	if (rc || sc.corrupt) {
		snprintf(line, sizeof(line), "machine %lld: %s", (long long)sm->id,
		         rc == 1 ? c.r.err
		         : rc    ? err
		                 : sc.reason);
		log(line, data);
		bad++;
	}
	machine_destroy(c.r.m);
	store_free_snapshots(c.snaps, c.nsnaps);
	return bad + (int)c.mismatches;
}

int persist_check(struct persist *p, void (*log)(const char *line, void *data), void *data)
{
	char msg[512];
	int problems = 0;
	if (store_integrity_check(p->store, msg, sizeof(msg))) {
		char line[600];
		snprintf(line, sizeof(line), "integrity_check: %s", msg);
		log(line, data);
		problems++;
	}
	struct store_machine *ms;
	size_t n;
	if (store_list_machines(p->store, &ms, &n, msg, sizeof(msg))) {
		log(msg, data);
		return problems + 1;
	}
	for (size_t i = 0; i < n; i++)
		problems += check_machine(p, &ms[i], log, data);
	store_free_machines(ms, n);
	return problems;
}

/* ---- export / import ---- */

struct exporter {
	struct snap_writer w;
	struct persist *p;
	int64_t id;
	uint64_t n, restores;
	uint64_t restore_seqs[256];
	char err[256];
};

static int export_entry(uint64_t seq, const uint8_t *buf, size_t len, void *data)
{
	struct exporter *x = data;
	snap_put_u64(&x->w, seq);
	snap_put_u32(&x->w, (uint32_t)len);
	snap_put_bytes(&x->w, buf, len);
	x->n++;
	if (len && buf[0] == ENTRY_RESTORE) {
		if (x->restores == sizeof(x->restore_seqs) / sizeof(x->restore_seqs[0])) {
			snprintf(x->err, sizeof(x->err), "more than %zu restores to export",
			         sizeof(x->restore_seqs) / sizeof(x->restore_seqs[0]));
			return 1;
		}
		x->restore_seqs[x->restores++] = seq;
	}
	return 0;
}

/*
 * File: "VMSIMEXP" u32 version | str name | u32 len + config blob | u64 n entries, each
 * u64 seq, u32 len, bytes (a journal entry as above; each starts where the previous one's
 * seqs end) | u64 n states, each u64 seq, u32 len, machine_save bytes | u32 CRC-32 of
 * everything before it.
 */
int persist_export(struct persist *p, int64_t id, uint8_t **out, size_t *len, char *err, size_t el)
{
	struct store_machine sm;
	int rc = store_get_machine(p->store, id, &sm, err, el);
	if (rc != 1) {
		if (rc == 0)
			snprintf(err, el, "no machine %lld", (long long)id);
		return -1;
	}
	struct exporter x = {.p = p, .id = id};
	snap_put_bytes(&x.w, export_magic, sizeof(export_magic));
	snap_put_u32(&x.w, EXPORT_VERSION);
	snap_put_str(&x.w, sm.name);
	snap_put_u32(&x.w, (uint32_t)sm.config_len);
	snap_put_bytes(&x.w, sm.config, sm.config_len);
	free(sm.config);
	size_t count_at = x.w.len;
	snap_put_u64(&x.w, 0);
	struct store_scan sc;
	rc = store_scan_journal(p->store, id, 0, 0, export_entry, &x, &sc, err, el);
	if (rc || sc.corrupt) {
		if (rc == 1)
			snprintf(err, el, "%s", x.err);
		else if (!rc)
			snprintf(err, el, "journal of machine %lld is corrupt at seq %llu: %s",
			         (long long)id, (unsigned long long)sc.bad_seq, sc.reason);
		free(x.w.buf);
		return -1;
	}
	for (int i = 0; i < 8; i++)
		x.w.buf[count_at + (size_t)i] = (uint8_t)(x.n >> (8 * i));
	snap_put_u64(&x.w, x.restores);
	for (uint64_t i = 0; i < x.restores; i++) {
		struct store_snapshot sn;
		rc = store_latest_snapshot(p->store, id, x.restore_seqs[i], &sn, err, el);
		if (rc != 1 || sn.seq != x.restore_seqs[i]) {
			if (rc != -1)
				snprintf(err, el, "restore at seq %llu has no checkpoint",
				         (unsigned long long)x.restore_seqs[i]);
			if (rc == 1)
				free(sn.state);
			free(x.w.buf);
			return -1;
		}
		snap_put_u64(&x.w, sn.seq);
		snap_put_u32(&x.w, (uint32_t)sn.len);
		snap_put_bytes(&x.w, sn.state, sn.len);
		free(sn.state);
	}
	snap_put_u32(&x.w, store_checksum(0, 0, x.w.buf, x.w.len));
	*out = x.w.buf;
	*len = x.w.len;
	return 0;
}

struct import_file {
	char name[64];
	struct machine_config cfg;
	uint64_t n, nstates;
	uint64_t last_seq;      /* the last seq the entries cover */
	const uint8_t *entries; /* n x (u64 seq, u32 len, bytes), validated */
	const uint8_t *states;
	const uint8_t *buf;
	size_t len;
};

static int import_parse(const uint8_t *buf, size_t len, struct import_file *f, char *err, size_t el)
{
	if (len < sizeof(export_magic) + 8 || memcmp(buf, export_magic, sizeof(export_magic))) {
		snprintf(err, el, "not a vmsim machine export (bad magic)");
		return -1;
	}
	uint32_t crc = (uint32_t)buf[len - 4] | (uint32_t)buf[len - 3] << 8 |
	               (uint32_t)buf[len - 2] << 16 | (uint32_t)buf[len - 1] << 24;
	if (crc != store_checksum(0, 0, buf, len - 4)) {
		snprintf(err, el, "machine export is corrupt (checksum mismatch)");
		return -1;
	}
	struct snap_reader r = {.p = buf, .len = len - 4, .off = sizeof(export_magic)};
	uint32_t version = snap_get_u32(&r);
	if (version < 1 || version > EXPORT_VERSION) {
		snprintf(err, el, "machine export version %u is not supported (want 1-%d)", version,
		         EXPORT_VERSION);
		return -1;
	}
	snap_get_str(&r, f->name, sizeof(f->name));
	uint32_t clen = snap_get_u32(&r);
	if (r.err || clen > r.len - r.off) {
		snprintf(err, el, "machine export is truncated");
		return -1;
	}
	if (persist_config_unpack(buf + r.off, clen, &f->cfg, err, el))
		return -1;
	r.off += clen;
	f->n = snap_get_u64(&r);
	f->entries = buf + r.off;
	f->last_seq = 0;
	for (uint64_t i = 0; i < f->n && !r.err; i++) {
		uint64_t seq = snap_get_u64(&r);
		uint32_t elen = snap_get_u32(&r);
		struct persist_record e;
		char why[128];
		if (seq != f->last_seq + 1 || elen > r.len - r.off ||
		    persist_record_parse(buf + r.off, elen, &e, why, sizeof(why)) ||
		    (version == 1 && e.nseq != 1)) {
			snprintf(err, el, "machine export entry %llu is malformed",
			         (unsigned long long)i + 1);
			return -1;
		}
		f->last_seq = seq + e.nseq - 1;
		r.off += elen;
	}
	f->nstates = snap_get_u64(&r);
	f->states = buf + r.off;
	for (uint64_t i = 0; i < f->nstates && !r.err; i++) {
		snap_get_u64(&r);
		uint32_t slen = snap_get_u32(&r);
		if (slen > r.len - r.off)
			break;
		r.off += slen;
	}
	if (r.err || r.off != r.len) {
		snprintf(err, el, "machine export is truncated or has trailing bytes");
		return -1;
	}
	f->buf = buf;
	f->len = len;
	return 0;
}

int persist_import_config(const uint8_t *buf, size_t len, struct machine_config *cfg, char *name,
                          size_t namelen, char *err, size_t el)
{
	struct import_file f;
	if (import_parse(buf, len, &f, err, el))
		return -1;
	*cfg = f.cfg;
	snprintf(name, namelen, "%s", f.name);
	return 0;
}

/* A restore entry's state from the file being imported. */
static struct machine *file_state_at(void *ctx, int64_t id, uint64_t seq, char *err, size_t el)
{
	const struct import_file *f = ctx;
	const uint8_t *q = f->states;
	(void)id;
	for (uint64_t i = 0; i < f->nstates; i++) {
		uint64_t s = get_le(q, 8);
		uint32_t len = (uint32_t)get_le(q + 8, 4);
		if (s == seq)
			return machine_load(q + 12, len, err, el);
		q += 12 + len;
	}
	snprintf(err, el, "restore at seq %llu has no state in the export",
	         (unsigned long long)seq);
	return NULL;
}

struct machine *persist_import(struct persist *p, int64_t id, int64_t owner, const char *name,
                               const uint8_t *buf, size_t len, persist_done_cb cb, void *data,
                               char *err, size_t el)
{
	struct import_file f;
	if (import_parse(buf, len, &f, err, el))
		return NULL;
	struct replay r = {.p = p, .id = id, .cfg = f.cfg, .state_at = file_state_at, .ctx = &f};
	if (!(r.m = machine_create(&f.cfg, err, el)))
		return NULL;
	/* replay first: nothing is recorded unless the whole journal applies */
	const uint8_t *q = f.entries;
	for (uint64_t i = 0; i < f.n; i++) {
		uint32_t elen = (uint32_t)get_le(q + 8, 4);
		if (replay_entry(get_le(q, 8), q + 12, elen, &r)) {
			snprintf(err, el, "machine export entry %llu: %s",
			         (unsigned long long)i + 1, r.err);
			machine_destroy(r.m);
			return NULL;
		}
		q += 12 + elen;
	}
	size_t nrec = 0, cap = f.n + f.nstates + 2;
	struct store_rec **recs = calloc(cap, sizeof(*recs));
	size_t clen;
	uint8_t *cblob = persist_config_pack(&f.cfg, &clen);
	if (!recs || !cblob || pm_get(p, id))
		goto oom;
	recs[nrec] = store_rec_new(STORE_MACHINE_CREATE, clen);
	if (!recs[nrec])
		goto oom;
	recs[nrec]->id = id;
	recs[nrec]->ref = owner;
	snprintf(recs[nrec]->name, sizeof(recs[nrec]->name), "%s", name && *name ? name : f.name);
	memcpy(recs[nrec++]->blob, cblob, clen);
	q = f.entries;
	for (uint64_t i = 0; i < f.n; i++) {
		uint32_t elen = (uint32_t)get_le(q + 8, 4);
		struct persist_record e;
		char why[128];
		if (!(recs[nrec] = store_rec_new(STORE_JOURNAL, elen)))
			goto oom;
		persist_record_parse(q + 12, elen, &e, why, sizeof(why)); /* checked by the parse */
		recs[nrec]->id = id;
		recs[nrec]->seq = get_le(q, 8);
		recs[nrec]->nseq = (uint32_t)e.nseq;
		memcpy(recs[nrec++]->blob, q + 12, elen);
		q += 12 + elen;
	}
	q = f.states;
	for (uint64_t i = 0; i < f.nstates; i++) {
		uint32_t slen = (uint32_t)get_le(q + 8, 4);
		if (!(recs[nrec] = store_rec_new(STORE_SNAPSHOT, slen)))
			goto oom;
		recs[nrec]->id = id;
		recs[nrec]->seq = get_le(q, 8);
		memcpy(recs[nrec++]->blob, q + 12, slen);
		q += 12 + slen;
	}
	if (f.n && !(recs[nrec++] = state_rec(id, f.last_seq, "", r.m))) /* recovery starts here */
		goto oom;
	if (!pm_add(p, id, f.last_seq, 0))
		goto oom;
	free(cblob);
	if (submit_group(p, recs, nrec, cb, data)) {
		pm_del(p, id);
		free(recs);
		machine_destroy(r.m);
		snprintf(err, el, "out of memory importing %lld", (long long)id);
		return NULL;
	}
	free(recs);
	return r.m;
oom:
	for (size_t i = 0; recs && i < nrec; i++)
		store_rec_free(recs[i]);
	free(recs);
	free(cblob);
	machine_destroy(r.m);
	snprintf(err, el, pm_get(p, id) ? "machine %lld exists" : "out of memory importing %lld",
	         (long long)id);
	return NULL;
}
