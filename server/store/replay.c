/*
 * Replay: a machine rebuilt as of a history seq from the nearest snapshot at or before it
 * and the journal entries after it (time travel, recovery, --check and import share it).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int replay_entry(uint64_t seq, const uint8_t *buf, size_t len, void *data)
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

struct machine *replay_store_state_at(void *ctx, int64_t id, uint64_t seq, char *err, size_t el)
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
int replay_base(struct replay *r, uint64_t seq, uint64_t *base, char *err, size_t el)
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
	struct replay r = {.p = p, .id = id, .state_at = replay_store_state_at, .ctx = p};
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
