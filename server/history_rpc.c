/*
 * The history RPCs: named snapshots (save, list, restore, delete, diff), time travel
 * (MachineAt, History) and export/import. Disk reads run on uv work threads; the loop only
 * submits records and waits for their completions.
 */
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "handlers.h"
#include "proc.h"
#include "query.h"
#include "registry.h"
#include "rpc.h"
#include "snapshot.h"
#include "sse.h"
#include "strbuf.h"
#include "vmsim/v1/vmsim.pb-c.h"
#include "common.h"

/* The machine an RPC names (same not_found text as api.c, so hidden machines look absent). */
static struct srv_machine *machine_of(struct srv_call *c, int64_t *num)
{
	struct srv_machine *sm = *c->machine_id ? registry_get(c->srv->reg, c->machine_id) : NULL;
	if (!*c->machine_id)
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "machine_id is required");
	else if (!sm)
		rpc_fail(c, TWIRP_NOT_FOUND, "no machine \"%s\" (ListMachines shows the machines)",
		         c->machine_id);
	if (sm)
		*num = registry_id_num(sm->id);
	return sm;
}

static int valid_snapshot_name(struct srv_call *c, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 63 ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789._-") != n) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT,
		         "snapshot name must be 1-63 of A-Z a-z 0-9 . _ - (got \"%.64s\")",
		         name ? name : "");
		return 0;
	}
	return 1;
}

/* A deferred call whose disk work runs on a uv thread; after() replies on the loop. */
struct work {
	uv_work_t req;
	struct srv_call *c;
	struct durable *d;
	int64_t num;
	uint64_t seq, seq2, last;
	char name[64], name2[64], path[256];
	struct machine *m, *m2;
	struct store_snapshot *snaps;
	size_t nsnaps;
	uint8_t *buf;
	size_t len;
	char err[256];
	int failed;
	enum twirp_code code; /* TWIRP_OK: internal */
	void (*run)(struct work *w);
	void (*after)(struct work *w);
};

static void work_run(uv_work_t *req)
{
	struct work *w = req->data;
	w->run(w);
}

static void work_after(uv_work_t *req, int status)
{
	struct work *w = req->data;
	w->c->deferred = 0; /* after() may defer again to wait for a commit */
	if (status)
		rpc_fail(w->c, TWIRP_INTERNAL, "work cancelled");
	else if (w->failed)
		rpc_fail(w->c, w->code ? w->code : TWIRP_INTERNAL, "%s", w->err);
	else
		w->after(w);
	machine_destroy(w->m);
	machine_destroy(w->m2);
	store_free_snapshots(w->snaps, w->nsnaps);
	free(w->buf);
	struct srv_call *c = w->c;
	free(w);
	if (!c->deferred)
		rpc_resume(c);
}

static struct work *work_new(struct srv_call *c, int64_t num, void (*run)(struct work *),
                             void (*after)(struct work *))
{
	struct work *w = xcalloc(1, sizeof(*w));
	if (!w) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return NULL;
	}
	w->c = c;
	w->d = c->data;
	w->num = num;
	w->run = run;
	w->after = after;
	w->req.data = w;
	w->last = persist_seq(w->d->persist, num);
	return w;
}

static void work_start(struct work *w)
{
	rpc_defer(w->c);
	if (uv_queue_work(w->c->srv->loop, &w->req, work_run, work_after)) {
		rpc_fail(w->c, TWIRP_INTERNAL, "cannot queue work");
		struct srv_call *c = w->c;
		free(w);
		rpc_resume(c);
	}
}

static void work_fail(struct work *w, enum twirp_code code)
{
	w->failed = 1;
	w->code = code;
}

/* Machine at a snapshot name or a history seq (0 = now); on a uv thread. */
static struct machine *machine_point(struct work *w, const char *name, uint64_t *seq)
{
	if (name && *name) {
		struct store_snapshot sn;
		int rc = store_get_snapshot(w->d->store, w->num, name, &sn, w->err, sizeof(w->err));
		if (rc != 1) {
			if (rc == 0)
				snprintf(w->err, sizeof(w->err),
				         "no snapshot \"%s\" on machine m%lld", name,
				         (long long)w->num);
			work_fail(w, rc == 0 ? TWIRP_NOT_FOUND : TWIRP_DATALOSS);
			return NULL;
		}
		struct machine *m = machine_load(sn.state, sn.len, w->err, sizeof(w->err));
		free(sn.state);
		*seq = sn.seq;
		if (!m)
			work_fail(w, TWIRP_DATALOSS);
		return m;
	}
	if (*seq == 0)
		*seq = w->last;
	if (*seq > w->last) {
		snprintf(w->err, sizeof(w->err),
		         "machine m%lld has no seq %llu (its history ends at %llu)",
		         (long long)w->num, (unsigned long long)*seq, (unsigned long long)w->last);
		work_fail(w, TWIRP_OUT_OF_RANGE);
		return NULL;
	}
	struct machine *m = persist_machine_at(w->d->persist, w->num, *seq, w->err, sizeof(w->err));
	if (!m)
		work_fail(w, TWIRP_DATALOSS);
	return m;
}

/* -- SnapshotSave -- */

struct save_ctx {
	struct srv_call *c;
	char name[64];
	uint64_t seq;
};

static void saved(int status, const char *err, void *data)
{
	struct save_ctx *x = data;
	if (status == STORE_EEXIST)
		rpc_fail(x->c, TWIRP_ALREADY_EXISTS, "snapshot \"%s\" already exists on machine %s",
		         x->name, x->c->machine_id);
	else if (status)
		rpc_fail(x->c, TWIRP_UNAVAILABLE, "the snapshot could not be saved: %s", err);
	else {
		Vmsim__V1__SnapshotInfo info = VMSIM__V1__SNAPSHOT_INFO__INIT;
		Vmsim__V1__SnapshotSaveResponse resp = VMSIM__V1__SNAPSHOT_SAVE_RESPONSE__INIT;
		info.name = x->name;
		info.seq = x->seq;
		info.created = (int64_t)time(NULL);
		resp.snapshot = &info;
		rpc_reply(x->c, &resp.base);
	}
	struct srv_call *c = x->c;
	free(x);
	rpc_resume(c);
}

static void snapshot_save(struct srv_call *c)
{
	const Vmsim__V1__SnapshotSaveRequest *req = (const void *)c->req;
	int64_t num;
	struct srv_machine *sm = machine_of(c, &num);
	if (!sm || !valid_snapshot_name(c, req->name))
		return;
	struct save_ctx *x = xcalloc(1, sizeof(*x));
	struct durable *d = c->data;
	if (!x) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	x->c = c;
	snprintf(x->name, sizeof(x->name), "%s", req->name);
	x->seq = persist_seq(d->persist, num);
	rpc_defer(c);
	if (persist_snapshot_save(d->persist, num, sm->m, req->name, saved, x)) {
		free(x);
		rpc_fail(c, TWIRP_INTERNAL, "cannot save the snapshot");
		rpc_resume(c);
	}
}

/* -- SnapshotList -- */

static void list_run(struct work *w)
{
	if (store_list_snapshots(w->d->store, w->num, 0, &w->snaps, &w->nsnaps, w->err,
	                         sizeof(w->err)))
		work_fail(w, TWIRP_INTERNAL);
}

static void list_after(struct work *w)
{
	const Vmsim__V1__SnapshotListRequest *req = (const void *)w->c->req;
	Vmsim__V1__SnapshotInfo *infos = xcalloc(w->nsnaps + 1, sizeof(*infos));
	Vmsim__V1__SnapshotInfo **ptrs = xcalloc(w->nsnaps + 1, sizeof(*ptrs));
	size_t k = 0;
	if (!infos || !ptrs) {
		rpc_fail(w->c, TWIRP_INTERNAL, "out of memory");
	} else {
		for (size_t i = 0; i < w->nsnaps; i++) {
			struct store_snapshot *sn = &w->snaps[i];
			if (!sn->name[0] && !req->include_checkpoints)
				continue;
			vmsim__v1__snapshot_info__init(&infos[k]);
			infos[k].name = sn->name;
			infos[k].seq = sn->seq;
			infos[k].created = sn->created;
			infos[k].size = sn->len;
			infos[k].checkpoint = !sn->name[0];
			ptrs[k] = &infos[k];
			k++;
		}
		Vmsim__V1__SnapshotListResponse resp = VMSIM__V1__SNAPSHOT_LIST_RESPONSE__INIT;
		resp.n_snapshots = k;
		resp.snapshots = ptrs;
		resp.seq = w->last;
		rpc_reply(w->c, &resp.base);
	}
	free(infos);
	free(ptrs);
}

static void snapshot_list(struct srv_call *c)
{
	int64_t num;
	struct work *w;
	if (machine_of(c, &num) && (w = work_new(c, num, list_run, list_after)))
		work_start(w);
}

/* -- SnapshotRestore -- */

static void restore_run(struct work *w)
{
	w->m = machine_point(w, w->name, &w->seq);
}

struct restore_ctx {
	struct srv_call *c;
	uint64_t seq, op_seq;
};

static void restored(int status, const char *err, void *data)
{
	struct restore_ctx *x = data;
	if (status) {
		rpc_fail(x->c, TWIRP_UNAVAILABLE, "the restore could not be saved: %s", err);
	} else {
		Vmsim__V1__SnapshotRestoreResponse resp =
		    VMSIM__V1__SNAPSHOT_RESTORE_RESPONSE__INIT;
		resp.seq = x->seq;
		resp.op_seq = x->op_seq;
		rpc_reply(x->c, &resp.base);
	}
	struct srv_call *c = x->c;
	free(x);
	rpc_resume(c);
}

/* On the loop: the machine may have changed or gone while the snapshot was read. */
static void restore_after(struct work *w)
{
	struct srv_call *c = w->c;
	struct srv_machine *sm = registry_get(c->srv->reg, c->machine_id);
	struct restore_ctx *x = xcalloc(1, sizeof(*x));
	if (!sm || !x) {
		free(x);
		rpc_fail(c, sm ? TWIRP_INTERNAL : TWIRP_NOT_FOUND, "no machine \"%s\"",
		         c->machine_id);
		return;
	}
	registry_replace(c->srv->reg, sm, w->m);
	w->m = NULL;
	sse_machine_reset(c->srv, sm);
	x->c = c;
	x->op_seq = machine_seq(sm->m);
	x->seq = persist_seq(w->d->persist, w->num) + 1;
	rpc_defer(c); /* restored() resumes the call once the restore is journaled */
	if (persist_restored(w->d->persist, w->num, sm->m, w->name, w->seq, restored, x)) {
		free(x);
		c->deferred = 0;
		rpc_fail(c, TWIRP_INTERNAL, "cannot journal the restore");
	}
}

static void snapshot_restore(struct srv_call *c)
{
	const Vmsim__V1__SnapshotRestoreRequest *req = (const void *)c->req;
	int64_t num;
	struct work *w;
	if (!machine_of(c, &num) || !valid_snapshot_name(c, req->name))
		return;
	if ((w = work_new(c, num, restore_run, restore_after))) {
		snprintf(w->name, sizeof(w->name), "%s", req->name);
		work_start(w);
	}
}

/* -- SnapshotDelete -- */

static void deleted(int status, const char *err, void *data)
{
	struct srv_call *c = data;
	if (status == STORE_ENOENT)
		rpc_fail(c, TWIRP_NOT_FOUND, "no snapshot \"%s\" on machine %s",
		         ((const Vmsim__V1__SnapshotDeleteRequest *)c->req)->name, c->machine_id);
	else if (status)
		rpc_fail(c, TWIRP_UNAVAILABLE, "the snapshot could not be deleted: %s", err);
	else {
		Vmsim__V1__SnapshotDeleteResponse resp = VMSIM__V1__SNAPSHOT_DELETE_RESPONSE__INIT;
		rpc_reply(c, &resp.base);
	}
	rpc_resume(c);
}

static void snapshot_delete(struct srv_call *c)
{
	const Vmsim__V1__SnapshotDeleteRequest *req = (const void *)c->req;
	int64_t num;
	if (!machine_of(c, &num) || !valid_snapshot_name(c, req->name))
		return;
	struct durable *d = c->data;
	rpc_defer(c);
	if (persist_snapshot_delete(d->persist, num, req->name, deleted, c)) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		rpc_resume(c);
	}
}

/* -- MachineAt and SnapshotDiff: counters and views of rebuilt machines -- */

struct counters {
	char **names;
	uint64_t *values;
	size_t n, cap;
};

static void add_counter(void *arg, const char *name, uint64_t value)
{
	struct counters *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **nn = xrealloc(l->names, cap * sizeof(*nn));
		uint64_t *nv = nn ? xrealloc(l->values, cap * sizeof(*nv)) : NULL;
		if (nn)
			l->names = nn;
		if (!nv)
			return;
		l->values = nv;
		l->cap = cap;
	}
	l->names[l->n] = xstrdup(name);
	l->values[l->n++] = value;
}

/* Counters, frames by page type included (query_counters: frames_free, frames_slab, ...). */
static void collect_counters(const struct machine *m, struct counters *l)
{
	query_counters(m, add_counter, l);
}

static void free_counters(struct counters *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->values);
}

struct at_result {
	struct counters cnt;
	char *text;
};

static void at_run(struct work *w)
{
	w->m = machine_point(w, NULL, &w->seq);
	if (!w->m)
		return;
	struct at_result *r = xcalloc(1, sizeof(*r));
	w->buf = (uint8_t *)r;
	if (!r) {
		work_fail(w, TWIRP_INTERNAL);
		return;
	}
	collect_counters(w->m, &r->cnt);
	if (w->path[0]) {
		struct strbuf sb;
		strbuf_init(&sb);
		if (proc_render(w->m, w->path, &sb) != VM_OK) {
			snprintf(w->err, sizeof(w->err),
			         "no view \"%.100s\" on machine m%lld at seq %llu", w->path,
			         (long long)w->num, (unsigned long long)w->seq);
			work_fail(w, TWIRP_NOT_FOUND);
		}
		r->text = sb.len ? strbuf_detach(&sb, NULL) : xstrdup("");
		strbuf_release(&sb);
	}
}

static void at_after(struct work *w)
{
	struct at_result *r = (struct at_result *)w->buf;
	Vmsim__V1__MachineAtResponse resp = VMSIM__V1__MACHINE_AT_RESPONSE__INIT;
	Vmsim__V1__Counter *cs = xcalloc(r->cnt.n + 1, sizeof(*cs));
	Vmsim__V1__Counter **ps = xcalloc(r->cnt.n + 1, sizeof(*ps));
	if (cs && ps) {
		for (size_t i = 0; i < r->cnt.n; i++) {
			vmsim__v1__counter__init(&cs[i]);
			cs[i].name = r->cnt.names[i];
			cs[i].value = r->cnt.values[i];
			ps[i] = &cs[i];
		}
		resp.seq = w->seq;
		resp.last_seq = w->last;
		resp.op_seq = machine_seq(w->m);
		resp.path = w->path;
		resp.text = r->text ? r->text : "";
		resp.n_counters = r->cnt.n;
		resp.counters = ps;
		rpc_reply(w->c, &resp.base);
	} else {
		rpc_fail(w->c, TWIRP_INTERNAL, "out of memory");
	}
	free(cs);
	free(ps);
	free_counters(&r->cnt);
	free(r->text);
}

static void machine_at(struct srv_call *c)
{
	const Vmsim__V1__MachineAtRequest *req = (const void *)c->req;
	int64_t num;
	struct work *w;
	if (!machine_of(c, &num) || !(w = work_new(c, num, at_run, at_after)))
		return;
	w->seq = req->seq;
	snprintf(w->path, sizeof(w->path), "%s", req->path ? req->path : "");
	work_start(w);
}

/* Lines of a that are not in b's LCS get "-", lines of b not in it "+" (views are short). */
static void line_diff(const char *a, const char *b, struct strbuf *out)
{
	const char *la[2048], *lb[2048];
	size_t na = 0, nb = 0;
	for (const char *p = a; *p && na < 2048; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		la[na++] = p;
	for (const char *p = b; *p && nb < 2048; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		lb[nb++] = p;
	uint16_t *t = xcalloc((na + 1) * (nb + 1), sizeof(*t));
	if (!t)
		return;
#define LEN(s)     (strchr(s, '\n') ? (size_t)(strchr(s, '\n') - (s)) : strlen(s))
#define SAME(x, y) (LEN(x) == LEN(y) && !memcmp(x, y, LEN(x)))
#define T(i, j)    t[(i) * (nb + 1) + (j)]
	for (size_t i = na; i-- > 0;)
		for (size_t j = nb; j-- > 0;)
			T(i, j) = SAME(la[i], lb[j])          ? T(i + 1, j + 1) + 1
			          : T(i + 1, j) > T(i, j + 1) ? T(i + 1, j)
			                                      : T(i, j + 1);
	size_t i = 0, j = 0;
	while (i < na || j < nb) {
		if (i < na && j < nb && SAME(la[i], lb[j])) {
			i++;
			j++;
		} else if (j >= nb || (i < na && T(i + 1, j) >= T(i, j + 1))) {
			strbuf_addf(out, "-%.*s\n", (int)LEN(la[i]), la[i]);
			i++;
		} else {
			strbuf_addf(out, "+%.*s\n", (int)LEN(lb[j]), lb[j]);
			j++;
		}
	}
#undef T
#undef SAME
#undef LEN
	free(t);
}

struct diff_result {
	struct counters a, b;
	size_t nviews;
	char *paths[16], *diffs[16];
};

static void diff_run(struct work *w)
{
	const Vmsim__V1__SnapshotDiffRequest *req = (const void *)w->c->req;
	if (!(w->m = machine_point(w, w->name, &w->seq)) ||
	    !(w->m2 = machine_point(w, w->name2, &w->seq2)))
		return;
	struct diff_result *r = xcalloc(1, sizeof(*r));
	w->buf = (uint8_t *)r;
	if (!r) {
		work_fail(w, TWIRP_INTERNAL);
		return;
	}
	collect_counters(w->m, &r->a);
	collect_counters(w->m2, &r->b);
	size_t nv = req->n_views;
	if (!nv) /* default: every machine-wide view */
		while (proc_view_names[nv] && nv < 16)
			nv++;
	for (size_t i = 0; i < nv && i < 16; i++) {
		const char *path = req->n_views ? req->views[i] : proc_view_names[i];
		struct strbuf sa, sb, out;
		strbuf_init(&sa);
		strbuf_init(&sb);
		strbuf_init(&out);
		enum vm_err ea = proc_render(w->m, path, &sa), eb = proc_render(w->m2, path, &sb);
		if (ea != VM_OK && eb != VM_OK) {
			strbuf_addf(&out, "(no view \"%s\" at either point)\n", path);
		} else if (ea == VM_OK && eb == VM_OK && sa.len == sb.len &&
		           (sa.len == 0 || !memcmp(sa.buf, sb.buf, sa.len))) {
			/* identical: an empty diff */
		} else {
			/* a detached empty strbuf is not NUL-terminated: read only what was written
			 */
			char *ta = sa.len ? strbuf_detach(&sa, NULL) : NULL;
			char *tb = sb.len ? strbuf_detach(&sb, NULL) : NULL;
			line_diff(ea == VM_OK && ta ? ta : "", eb == VM_OK && tb ? tb : "", &out);
			free(ta);
			free(tb);
		}
		strbuf_release(&sa);
		strbuf_release(&sb);
		r->paths[r->nviews] = xstrdup(path);
		r->diffs[r->nviews++] = out.len ? strbuf_detach(&out, NULL) : xstrdup("");
		strbuf_release(&out);
	}
}

static void diff_after(struct work *w)
{
	struct diff_result *r = (struct diff_result *)w->buf;
	Vmsim__V1__CounterChange *cs = xcalloc(r->b.n + 1, sizeof(*cs));
	Vmsim__V1__CounterChange **cp = xcalloc(r->b.n + 1, sizeof(*cp));
	Vmsim__V1__ViewDiff vs[16], *vp[16];
	size_t k = 0;
	if (!cs || !cp) {
		rpc_fail(w->c, TWIRP_INTERNAL, "out of memory");
	} else {
		for (size_t i = 0; i < r->b.n; i++) {
			uint64_t before = 0;
			for (size_t j = 0; j < r->a.n; j++)
				if (!strcmp(r->a.names[j], r->b.names[i]))
					before = r->a.values[j];
			if (before == r->b.values[i])
				continue;
			vmsim__v1__counter_change__init(&cs[k]);
			cs[k].name = r->b.names[i];
			cs[k].before = before;
			cs[k].after = r->b.values[i];
			cp[k] = &cs[k];
			k++;
		}
		for (size_t i = 0; i < r->nviews; i++) {
			vmsim__v1__view_diff__init(&vs[i]);
			vs[i].path = r->paths[i];
			vs[i].diff = r->diffs[i] ? r->diffs[i] : "";
			vp[i] = &vs[i];
		}
		Vmsim__V1__SnapshotDiffResponse resp = VMSIM__V1__SNAPSHOT_DIFF_RESPONSE__INIT;
		resp.from_seq = w->seq;
		resp.to_seq = w->seq2;
		resp.n_counters = k;
		resp.counters = cp;
		resp.n_views = r->nviews;
		resp.views = vp;
		rpc_reply(w->c, &resp.base);
	}
	free(cs);
	free(cp);
	free_counters(&r->a);
	free_counters(&r->b);
	for (size_t i = 0; i < r->nviews; i++) {
		free(r->paths[i]);
		free(r->diffs[i]);
	}
}

static void snapshot_diff(struct srv_call *c)
{
	const Vmsim__V1__SnapshotDiffRequest *req = (const void *)c->req;
	int64_t num;
	struct work *w;
	if (!machine_of(c, &num))
		return;
	if (req->n_views > 16) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "at most 16 views per diff");
		return;
	}
	if (!(w = work_new(c, num, diff_run, diff_after)))
		return;
	snprintf(w->name, sizeof(w->name), "%s", req->from ? req->from : "");
	snprintf(w->name2, sizeof(w->name2), "%s", req->to ? req->to : "");
	w->seq = req->from_seq;
	w->seq2 = req->to_seq;
	work_start(w);
}

/* -- History: the journal, a page at a time -- */

#define HISTORY_PAGE     100  /* limit 0 */
#define HISTORY_PAGE_MAX 1000 /* a page is built in memory and sent in one body */

struct hist_item {
	struct persist_entry e; /* e.op is not kept: op holds it decoded */
	Vmsim__V1__Op *op;
};

struct hist_result {
	size_t n, cap;
	uint64_t bad_seq; /* an op that does not decode */
	struct hist_item v[];
};

static int hist_collect(const struct persist_entry *e, void *data)
{
	struct hist_result *r = data;
	struct hist_item *x = &r->v[r->n];
	if (r->n == r->cap)
		return 1; /* cannot happen: the store stops at the limit */
	x->e = *e;
	x->e.op = NULL;
	x->op = NULL;
	/* The journal holds ops as durable_codec packed them: protobuf Op messages. */
	if (e->kind == PERSIST_ENTRY_OP && !(x->op = vmsim__v1__op__unpack(NULL, e->len, e->op))) {
		r->bad_seq = e->seq;
		return 1;
	}
	r->n++;
	return 0;
}

static void hist_free_ops(struct hist_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].op)
			vmsim__v1__op__free_unpacked(r->v[i].op, NULL);
	r->n = 0;
}

static void hist_run(struct work *w)
{
	struct hist_result *r = xcalloc(1, sizeof(*r) + w->len * sizeof(r->v[0]));
	int corrupt;
	w->buf = (uint8_t *)r;
	if (!r) {
		snprintf(w->err, sizeof(w->err), "out of memory");
		work_fail(w, TWIRP_INTERNAL);
		return;
	}
	r->cap = w->len;
	int rc = persist_history(w->d->persist, w->num, w->seq, w->len, hist_collect, r, &corrupt,
	                         w->err, sizeof(w->err));
	if (rc == 1 && r->bad_seq)
		snprintf(w->err, sizeof(w->err),
		         "journal of machine m%lld: seq %llu is not a valid op", (long long)w->num,
		         (unsigned long long)r->bad_seq);
	if (rc) {
		hist_free_ops(r);
		work_fail(w, corrupt || rc == 1 ? TWIRP_DATALOSS : TWIRP_INTERNAL);
	}
}

static const char *hist_kind(enum persist_entry_kind k)
{
	return k == PERSIST_ENTRY_OP ? "op" : k == PERSIST_ENTRY_RESET ? "reset" : "restore";
}

static void hist_after(struct work *w)
{
	struct hist_result *r = (struct hist_result *)w->buf;
	Vmsim__V1__HistoryEntry *es = xcalloc(r->n + 1, sizeof(*es));
	Vmsim__V1__HistoryEntry **ps = xcalloc(r->n + 1, sizeof(*ps));
	if (es && ps) {
		for (size_t i = 0; i < r->n; i++) {
			const struct hist_item *x = &r->v[i];
			vmsim__v1__history_entry__init(&es[i]);
			es[i].seq = x->e.seq;
			es[i].kind = (char *)hist_kind(x->e.kind);
			es[i].created = x->e.created;
			es[i].op = x->op;
			es[i].snapshot = (char *)x->e.name;
			es[i].snapshot_seq = x->e.from_seq;
			es[i].failed_partway = x->e.failed_partway;
			ps[i] = &es[i];
		}
		Vmsim__V1__HistoryResponse resp = VMSIM__V1__HISTORY_RESPONSE__INIT;
		resp.n_entries = r->n;
		resp.entries = ps;
		resp.last_seq = w->last;
		/* A full page that stops short of the end: the next one starts after it. */
		if (r->n == r->cap && r->v[r->n - 1].e.seq < w->last)
			resp.next_seq = r->v[r->n - 1].e.seq + 1;
		rpc_reply(w->c, &resp.base);
	} else {
		rpc_fail(w->c, TWIRP_INTERNAL, "out of memory");
	}
	free(es);
	free(ps);
	hist_free_ops(r);
}

static void history(struct srv_call *c)
{
	const Vmsim__V1__HistoryRequest *req = (const void *)c->req;
	int64_t num;
	struct work *w;
	if (!machine_of(c, &num))
		return;
	if (req->limit > HISTORY_PAGE_MAX) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT,
		         "limit %u is too large: at most %d entries a page (0 = %d; page with "
		         "from_seq = next_seq)",
		         req->limit, HISTORY_PAGE_MAX, HISTORY_PAGE);
		return;
	}
	struct durable *d = c->data;
	uint64_t last = persist_seq(d->persist, num);
	if (req->from_seq > last + 1) {
		rpc_fail(c, TWIRP_OUT_OF_RANGE,
		         "machine %s has no seq %llu (its history ends at %llu)", c->machine_id,
		         (unsigned long long)req->from_seq, (unsigned long long)last);
		return;
	}
	if (!(w = work_new(c, num, hist_run, hist_after)))
		return;
	w->seq = req->from_seq;
	w->len = req->limit ? req->limit : HISTORY_PAGE;
	work_start(w);
}

/* -- ExportMachine / ImportMachine -- */

static void export_run(struct work *w)
{
	if (persist_export(w->d->persist, w->num, &w->buf, &w->len, w->err, sizeof(w->err)))
		work_fail(w, TWIRP_DATALOSS);
}

static void export_after(struct work *w)
{
	struct srv_machine *sm = registry_get(w->c->srv->reg, w->c->machine_id);
	Vmsim__V1__ExportMachineResponse resp = VMSIM__V1__EXPORT_MACHINE_RESPONSE__INIT;
	resp.data.data = w->buf;
	resp.data.len = w->len;
	resp.name = sm ? sm->name : "";
	resp.seq = w->last;
	rpc_reply(w->c, &resp.base);
}

static void export_machine(struct srv_call *c)
{
	int64_t num;
	struct work *w;
	if (machine_of(c, &num) && (w = work_new(c, num, export_run, export_after)))
		work_start(w);
}

struct import_ctx {
	struct srv_call *c;
	char id[MACHINE_ID_LEN];
	uint64_t seq;
};

static void imported(int status, const char *err, void *data)
{
	struct import_ctx *x = data;
	if (status) {
		rpc_fail(x->c, TWIRP_UNAVAILABLE, "the import could not be saved: %s", err);
	} else {
		Vmsim__V1__ImportMachineResponse resp = VMSIM__V1__IMPORT_MACHINE_RESPONSE__INIT;
		resp.machine_id = x->id;
		resp.seq = x->seq;
		rpc_reply(x->c, &resp.base);
	}
	struct srv_call *c = x->c;
	free(x);
	rpc_resume(c);
}

static void import_machine(struct srv_call *c)
{
	const Vmsim__V1__ImportMachineRequest *req = (const void *)c->req;
	struct durable *d = c->data;
	const struct auth_user *u = c->who->user;
	struct machine_config cfg;
	char name[64], err[256];
	struct twirp_err e;
	if (persist_import_config(req->data.data, req->data.len, &cfg, name, sizeof(name), err,
	                          sizeof(err))) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (u && auth_reserve_machine(d->auth, u->id, (int64_t)cfg.ram_bytes, 0, &e)) {
		rpc_fail(c, e.code, "%s", e.msg);
		return;
	}
	if (u)
		auth_release_machine(d->auth, u->id, (int64_t)cfg.ram_bytes); /* meta_add charges */
	struct import_ctx *x = xcalloc(1, sizeof(*x));
	if (!x) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	x->c = c;
	registry_new_id(c->srv->reg, x->id);
	int64_t num = registry_id_num(x->id);
	const char *label = req->name && *req->name ? req->name : name;
	if (strlen(label) > MACHINE_NAME_LEN) {
		free(x);
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "machine name is longer than %d bytes",
		         MACHINE_NAME_LEN);
		return;
	}
	rpc_defer(c);
	struct machine *m = persist_import(d->persist, num, u ? u->id : 0, label, req->data.data,
	                                   req->data.len, imported, x, err, sizeof(err));
	struct srv_machine *sm =
	    m ? registry_adopt(c->srv->reg, x->id, label, m, err, sizeof(err)) : NULL;
	if (!sm) {
		/* a machine that replays but cannot be hosted is still recorded; say so */
		machine_destroy(m);
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "%s", err);
		if (!m) {
			free(x);
			rpc_resume(c);
		}
		return;
	}
	x->seq = persist_seq(d->persist, num);
	durable_meta_add(d, num, u ? u->id : 0, (int64_t)cfg.ram_bytes, 0);
}

static const struct {
	const char *method;
	rpc_handler_fn fn;
} handlers[] = {
    {"SnapshotSave", snapshot_save},
    {"SnapshotList", snapshot_list},
    {"SnapshotRestore", snapshot_restore},
    {"SnapshotDelete", snapshot_delete},
    {"SnapshotDiff", snapshot_diff},
    {"MachineAt", machine_at},
    {"ExportMachine", export_machine},
    {"ImportMachine", import_machine},
    {"History", history},
};

int history_rpc_register(struct srv *s, struct durable *d)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (rpc_register(s, handlers[i].method, handlers[i].fn, d))
			return -1;
	return 0;
}
