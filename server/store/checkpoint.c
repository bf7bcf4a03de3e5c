/*
 * Checkpoints and named snapshots: a machine's whole state saved at a history seq, so
 * recovery and time travel replay only the journal after it.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_rec *checkpoint_rec(int64_t id, uint64_t seq, const char *name,
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

int persist_checkpoint_due(const struct persist *p, int64_t id)
{
	struct pm *pm = persist_pm_get((struct persist *)p, id);
	return pm && pm->since >= p->every;
}

int persist_checkpoint(struct persist *p, int64_t id, const struct machine *m, persist_done_cb cb,
                       void *data)
{
	struct pm *pm = persist_pm_get(p, id);
	struct store_rec *r = pm ? checkpoint_rec(id, pm->seq, "", m) : NULL;
	if (!r)
		return -1;
	pm->since = 0;
	return persist_submit_group(p, &r, 1, cb, data);
}

int persist_restored(struct persist *p, int64_t id, const struct machine *m, const char *name,
                     uint64_t from_seq, persist_done_cb cb, void *data)
{
	struct pm *pm = persist_pm_get(p, id);
	if (!pm)
		return -1;
	uint8_t payload[8 + 64];
	size_t nlen = strnlen(name, 63);
	for (int i = 0; i < 8; i++)
		payload[i] = (uint8_t)(from_seq >> (8 * i));
	memcpy(payload + 8, name, nlen);
	struct store_rec *recs[2] = {
	    journal_entry_rec(id, pm->seq + 1, ENTRY_RESTORE, payload, 8 + nlen),
	    checkpoint_rec(id, pm->seq + 1, "", m)};
	if (!recs[0] || !recs[1]) {
		store_rec_free(recs[0]);
		store_rec_free(recs[1]);
		return -1;
	}
	pm->seq++;
	pm->since = 0;
	return persist_submit_group(p, recs, 2, cb, data);
}

int persist_snapshot_save(struct persist *p, int64_t id, const struct machine *m, const char *name,
                          persist_done_cb cb, void *data)
{
	struct pm *pm = persist_pm_get(p, id);
	struct store_rec *r = pm ? checkpoint_rec(id, pm->seq, name, m) : NULL;
	if (!r)
		return -1;
	return persist_submit_group(p, &r, 1, cb, data);
}
