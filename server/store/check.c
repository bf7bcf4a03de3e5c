/*
 * vmsimd --check: SQLite's integrity_check, then every machine replayed from scratch must
 * equal each of its snapshots byte for byte.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct checker c = {
	    .r = {.p = p, .id = sm->id, .state_at = replay_store_state_at, .ctx = p},
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
