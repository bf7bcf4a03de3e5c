/*
 * Recovery at start: every live machine from its latest checkpoint plus the journal after
 * it; a corrupt tail is reported and moved to journal_quarantine, never replayed.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct replay r = {.p = p, .id = sm->id, .state_at = replay_store_state_at, .ctx = p};
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
		if (!m || !persist_pm_add(p, ms[i].id, seq, since)) {
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
