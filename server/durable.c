/*
 * vmsimd's durability: the store opened at start, every machine recovered (checkpoint +
 * replay), every state change journaled before its RPC is acknowledged (srv->commit). What a
 * journal record holds ('O' one op, 'B' an Apply batch covering one history seq per op, 'R',
 * 'S') is documented at the top of store/journal.c; a checkpoint is taken after the answer
 * (committed()).
 */
#include "durable.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "registry.h"
#include "common.h"

const struct persist_codec durable_codec = {
    .pack = ops_pack, .unpack = ops_unpack, .pack_to = ops_pack_to};

/* ---- machine ownership table ---- */

static size_t meta_find(const struct durable *d, int64_t id)
{
	return id_lower_bound(d->meta, d->nmeta, sizeof(*d->meta), id);
}

struct durable_meta *durable_meta_get(struct durable *d, int64_t id)
{
	size_t i = meta_find(d, id);
	return i < d->nmeta && d->meta[i].id == id ? &d->meta[i] : NULL;
}

struct durable_meta *durable_meta_add(struct durable *d, int64_t id, int64_t owner, int64_t ram,
                                      int shared)
{
	size_t i = meta_find(d, id);
	if (i < d->nmeta && d->meta[i].id == id)
		return &d->meta[i];
	if (d->nmeta == d->capmeta) {
		size_t cap = d->capmeta ? d->capmeta * 2 : 64;
		struct durable_meta *n = xrealloc(d->meta, cap * sizeof(*n));
		if (!n)
			return NULL;
		d->meta = n;
		d->capmeta = cap;
	}
	memmove(&d->meta[i + 1], &d->meta[i], (d->nmeta - i) * sizeof(*d->meta));
	d->nmeta++;
	d->meta[i] = (struct durable_meta){.id = id, .owner = owner, .ram = ram, .shared = shared};
	if (owner)
		auth_reserve_machine(d->auth, owner, ram, 1, NULL);
	return &d->meta[i];
}

static void meta_del(struct durable *d, int64_t id)
{
	size_t i = meta_find(d, id);
	if (i < d->nmeta && d->meta[i].id == id) {
		if (d->meta[i].owner)
			auth_release_machine(d->auth, d->meta[i].owner, d->meta[i].ram);
		memmove(&d->meta[i], &d->meta[i + 1], (d->nmeta - i - 1) * sizeof(*d->meta));
		d->nmeta--;
	}
}

/* ---- the commit seam ---- */

struct pending_commit {
	srv_commit_done_fn done;
	void *arg;
	struct durable *d;
	int64_t checkpoint; /* ops of this machine: see whether a checkpoint is due after */
};

static void checkpointed(int status, const char *err, void *data)
{
	struct srv *srv = data;
	if (status)
		srv_log(srv, LOG_ERROR, "checkpoint not saved (recovery replays more): %s",
		        err ? err : "?");
}

/* The checkpoint a journal commit made due, taken after its answer: the machine's state now
 * is the one at its current history seq (every applied op is journaled synchronously), and
 * its records were submitted before this one. Not while a sliced request runs on it (its ops
 * so far have no record yet): the next commit takes it. */
static void checkpoint_if_due(struct durable *d, int64_t num)
{
	struct srv *srv = d->srv;
	char id[MACHINE_ID_LEN];
	registry_format_id(id, (uint64_t)num);
	struct srv_machine *sm = registry_get(srv->reg, id);
	if (sm && !sm->busy && persist_checkpoint_due(d->persist, num) &&
	    persist_checkpoint(d->persist, num, sm->m, checkpointed, srv))
		srv_log(srv, LOG_ERROR, "cannot checkpoint %s", id);
}

static void committed(int status, const char *err, void *data)
{
	struct pending_commit *pc = data;
	if (status)
		srv_log(pc->d->srv, LOG_ERROR, "journal commit failed: %s", err ? err : "?");
	pc->done(pc->arg, status ? -1 : 0);
	if (!status && pc->checkpoint)
		checkpoint_if_due(pc->d, pc->checkpoint);
	free(pc);
}

static void attempt_committed(struct store_rec *rec, int status, const char *err, void *data)
{
	(void)rec;
	committed(status, err, data);
}

/* A graded answer: who, topic, seed, fields right (the time is the commit's). */
static int commit_attempt(struct durable *d, const struct srv_commit *c, int64_t user,
                          struct pending_commit *pc)
{
	struct store_rec *rec = store_rec_new(STORE_EXERCISE_ATTEMPT, 0);
	if (!rec)
		return -1;
	rec->id = user;
	rec->seq = c->attempt.seed;
	snprintf(rec->name, sizeof(rec->name), "%s", c->attempt.topic);
	rec->role = c->attempt.correct ? 1 : 0;
	rec->quota[0] = c->attempt.right;
	rec->quota[1] = c->attempt.total;
	rec->cb = attempt_committed;
	rec->data = pc;
	store_submit(d->store, rec);
	return 0;
}

static void durable_commit(void *data, const struct srv_commit *c, srv_commit_done_fn done,
                           void *arg)
{
	struct durable *d = data;
	int64_t id = registry_id_num(c->machine_id);
	struct pending_commit *pc = xmalloc(sizeof(*pc));
	const struct auth_user *u = c->who ? c->who->user : NULL;
	int rc = -1;
	if (pc && c->kind == SRV_COMMIT_ATTEMPT) {
		*pc = (struct pending_commit){.done = done, .arg = arg, .d = d};
		if (!commit_attempt(d, c, u ? u->id : 0, pc))
			return;
	}
	if (!pc || id < 0) {
		free(pc);
		done(arg, -1);
		return;
	}
	*pc = (struct pending_commit){.done = done, .arg = arg, .d = d};
	switch (c->kind) {
	case SRV_COMMIT_CREATE:
		if (!durable_meta_add(d, id, u ? u->id : 0, (int64_t)c->config->ram_bytes, 0))
			break;
		rc = persist_create(d->persist, id, u ? u->id : 0, c->name, c->config, committed,
		                    pc);
		break;
	case SRV_COMMIT_DELETE:
		meta_del(d, id);
		rc = persist_delete(d->persist, id, committed, pc);
		break;
	case SRV_COMMIT_RESET:
		rc = persist_reset(d->persist, id, committed, pc);
		break;
	case SRV_COMMIT_ATTEMPT:
		break; /* above */
	case SRV_COMMIT_OPS: {
		struct srv_machine *sm = registry_get(d->srv->reg, c->machine_id);
		if (!sm)
			break;
		pc->checkpoint = id;
		rc = persist_ops(d->persist, id, sm->m, c->ops, c->n_ops, c->last_failed, committed,
		                 pc);
		break;
	}
	}
	if (rc) {
		srv_log(d->srv, LOG_ERROR, "cannot journal a change of %s", c->machine_id);
		free(pc);
		done(arg, -1);
	}
}

/* ---- opening and recovery ---- */

struct recovery {
	struct durable *d;
	uint64_t failed;
};

static void recovered(const struct store_machine *sm, struct machine *m, uint64_t seq, void *data)
{
	struct recovery *r = data;
	char id[MACHINE_ID_LEN], err[256];
	registry_format_id(id, (uint64_t)sm->id);
	(void)seq;
	int64_t ram = (int64_t)machine_get_config(m)->ram_bytes;
	if (!registry_adopt(r->d->srv->reg, id, sm->name, m, err, sizeof(err))) {
		srv_log(r->d->srv, LOG_ERROR, "recovery: machine %s: %s", id, err);
		machine_destroy(m);
		r->failed++;
		return;
	}
	durable_meta_add(r->d, sm->id, sm->owner, ram, sm->shared);
}

static void recovery_log(const char *line, void *data)
{
	struct recovery *r = data;
	srv_log(r->d->srv, LOG_WARN, "recovery: %s", line);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int durable_open(struct durable *d, struct srv *srv, const char *db, uint32_t checkpoint_every,
                 int open, char *err, size_t el)
{
	memset(d, 0, sizeof(*d));
	d->srv = srv;
	d->open = open;
	struct store_opts o = {.path = db, .loop = srv->loop, .lock = 1};
	if (!(d->store = store_open(&o, err, el)))
		return -1;
	d->auth = auth_new(d->store);
	d->persist = persist_new(d->store, &durable_codec, checkpoint_every);
	if (!d->auth || !d->persist || auth_load(d->auth, err, el))
		return -1;
	if (!srv->reg && !(srv->reg = registry_new())) {
		snprintf(err, el, "out of memory");
		return -1;
	}
	struct recovery r = {.d = d};
	struct persist_report rep;
	double t0 = now_ms();
	if (persist_recover(d->persist, recovered, &r, recovery_log, &rep, err, el))
		return -1;
	registry_reserve_id(srv->reg, (uint64_t)store_max_machine_id(d->store));
	srv_log(srv, LOG_INFO,
	        "recovered %llu machines from %s in %.0f ms (%llu journal entries replayed, %llu "
	        "corrupt tails quarantined)",
	        (unsigned long long)rep.machines, store_path(d->store), now_ms() - t0,
	        (unsigned long long)rep.ops_replayed, (unsigned long long)rep.corrupt);
	srv->commit = durable_commit;
	srv->commit_data = d;
	if (open)
		srv_log(
		    srv, LOG_WARN,
		    "*** --open: NO AUTHENTICATION. Anyone who can reach this port is an admin. "
		    "Use only on a single-user laptop. ***");
	return 0;
}

void durable_close(struct durable *d)
{
	persist_free(d->persist);
	auth_free(d->auth);
	if (d->store) {
		store_close(d->store);
		uv_run(d->srv->loop, UV_RUN_DEFAULT); /* the store's async handle closes */
	}
	free(d->meta);
	memset(d, 0, sizeof(*d));
}

/* ---- --check and --init-admin (no loop, no server) ---- */

static void print_line(const char *line, void *data)
{
	fprintf(data, "check: %s\n", line);
}

int durable_check(const char *db, FILE *out)
{
	char err[STORE_ERRLEN];
	struct store_opts o = {.path = db};
	struct store *s = store_open(&o, err, sizeof(err));
	if (!s) {
		fprintf(out, "check: %s\n", err);
		return 1;
	}
	struct persist *p = persist_new(s, &durable_codec, 0);
	int problems = persist_check(p, print_line, out);
	struct store_machine *ms;
	size_t n = 0;
	if (!store_list_machines(s, &ms, &n, err, sizeof(err)))
		store_free_machines(ms, n);
	fprintf(out, "check: %s: %zu machines, %d problem%s%s\n", db, n, problems,
	        problems == 1 ? "" : "s", problems ? "" : ", integrity_check ok");
	persist_free(p);
	store_close(s);
	return problems ? 1 : 0;
}

int durable_init_admin(const char *db, const char *name, FILE *out, FILE *errout)
{
	char err[STORE_ERRLEN], token[AUTH_TOKEN_BUF];
	struct store_opts o = {.path = db};
	struct store *s = store_open(&o, err, sizeof(err));
	if (!s) {
		fprintf(errout, "vmsimd: %s\n", err);
		return 1;
	}
	struct auth *a = auth_new(s);
	struct twirp_err e;
	int rc = 1;
	if (auth_load(a, err, sizeof(err)))
		fprintf(errout, "vmsimd: %s\n", err);
	else if (auth_init_admin(a, name, token, &e))
		fprintf(errout, "vmsimd: --init-admin: %s\n", e.msg);
	else {
		fprintf(out, "%s\n", token);
		fprintf(errout,
		        "vmsimd: admin \"%s\" created in %s; the token above is shown once\n", name,
		        db);
		rc = 0;
	}
	auth_free(a);
	store_close(s);
	return rc;
}
