/*
 * The journal (store.h): what a machine's journal entries mean and how changes are recorded.
 * A journal entry is one tag byte and a payload:
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
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct persist *persist_new(struct store *s, const struct persist_codec *codec,
                            uint32_t checkpoint_every)
{
	struct persist *p = xcalloc(1, sizeof(*p));
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
	return id_lower_bound(p->pms, p->npms, sizeof(*p->pms), id);
}

struct pm *persist_pm_get(struct persist *p, int64_t id)
{
	size_t i = pm_find(p, id);
	return i < p->npms && p->pms[i].id == id ? &p->pms[i] : NULL;
}

struct pm *persist_pm_add(struct persist *p, int64_t id, uint64_t seq, uint64_t since)
{
	size_t i = pm_find(p, id);
	if (i < p->npms && p->pms[i].id == id)
		return NULL;
	if (p->npms == p->cappms) {
		size_t cap = p->cappms ? p->cappms * 2 : 64;
		struct pm *n = xrealloc(p->pms, cap * sizeof(*n));
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

void persist_pm_del(struct persist *p, int64_t id)
{
	size_t i = pm_find(p, id);
	if (i < p->npms && p->pms[i].id == id) {
		memmove(&p->pms[i], &p->pms[i + 1], (p->npms - i - 1) * sizeof(*p->pms));
		p->npms--;
	}
}

uint64_t persist_seq(const struct persist *p, int64_t id)
{
	struct pm *pm = persist_pm_get((struct persist *)p, id);
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
int persist_submit_group(struct persist *p, struct store_rec **recs, size_t n, persist_done_cb cb,
                         void *data)
{
	struct group *g = xcalloc(1, sizeof(*g));
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

struct store_rec *journal_entry_rec(int64_t id, uint64_t seq, uint8_t tag, const uint8_t *payload,
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
int persist_create(struct persist *p, int64_t id, int64_t owner, const char *name,
                   const struct machine_config *cfg, persist_done_cb cb, void *data)
{
	size_t len;
	uint8_t *blob = persist_config_pack(cfg, &len);
	struct store_rec *r = store_rec_new(STORE_MACHINE_CREATE, len);
	if (!r || !persist_pm_add(p, id, 0, 0)) {
		free(blob);
		store_rec_free(r);
		return -1;
	}
	r->id = id;
	r->ref = owner;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
	memcpy(r->blob, blob, len);
	free(blob);
	return persist_submit_group(p, &r, 1, cb, data);
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
	return persist_submit_group(p, &r, 1, cb, data);
}

int persist_delete(struct persist *p, int64_t id, persist_done_cb cb, void *data)
{
	persist_pm_del(p, id);
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
	struct pm *pm = persist_pm_get(p, id);
	if (!pm || n == 0)
		return -1;
	/* one op: an 'O' entry; more: 'B' entries of up to BATCH_MAX_OPS, one record each */
	size_t nrec = n == 1 ? 1 : (n + BATCH_MAX_OPS - 1) / BATCH_MAX_OPS;
	struct store_rec **recs = xcalloc(nrec + 1, sizeof(*recs));
	size_t k = 0;
	if (!recs)
		return -1;
	if (n == 1) {
		size_t len;
		uint8_t *buf = p->codec.pack(&ops[0], &len);
		recs[k] =
		    buf ? journal_entry_rec(id, pm->seq + 1,
		                            last_failed ? ENTRY_OP_FAILED : ENTRY_OP, buf, len)
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
	int rc = persist_submit_group(p, recs, k, cb, data);
	free(recs);
	return rc;
fail:
	for (size_t i = 0; i < k; i++)
		store_rec_free(recs[i]);
	free(recs);
	return -1;
}

int persist_reset(struct persist *p, int64_t id, persist_done_cb cb, void *data)
{
	struct pm *pm = persist_pm_get(p, id);
	struct store_rec *r = pm ? journal_entry_rec(id, pm->seq + 1, ENTRY_RESET, NULL, 0) : NULL;
	if (!r)
		return -1;
	pm->seq++;
	pm->since++;
	return persist_submit_group(p, &r, 1, cb, data);
}
