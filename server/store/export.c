/*
 * Export and import files: a machine's config, name, journal and the states its restores
 * need, in one checksummed image.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* 2: seqs advance by each entry's span (batches); 1 (one seq per entry) is still read */
#define EXPORT_VERSION 2
static const char export_magic[8] = {'V', 'M', 'S', 'I', 'M', 'E', 'X', 'P'};

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
	struct store_rec **recs = xcalloc(cap, sizeof(*recs));
	size_t clen;
	uint8_t *cblob = persist_config_pack(&f.cfg, &clen);
	if (!recs || !cblob || persist_pm_get(p, id))
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
	if (f.n &&
	    !(recs[nrec++] = checkpoint_rec(id, f.last_seq, "", r.m))) /* recovery starts here */
		goto oom;
	if (!persist_pm_add(p, id, f.last_seq, 0))
		goto oom;
	free(cblob);
	if (persist_submit_group(p, recs, nrec, cb, data)) {
		persist_pm_del(p, id);
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
	snprintf(err, el,
	         persist_pm_get(p, id) ? "machine %lld exists" : "out of memory importing %lld",
	         (long long)id);
	return NULL;
}
