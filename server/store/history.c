/*
 * The History listing: journal records decoded into one entry per history seq.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
