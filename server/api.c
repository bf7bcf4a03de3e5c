/*
 * The RPC handlers: protobuf requests in, core ops and queries, protobuf responses out.
 * Every op RPC goes through one handler (op_rpc) driven by the table in ops.c; the rest
 * (machines, Apply, inspection) have one handler each. Handlers only read and apply; the
 * acknowledgement of a change goes through the commit record they leave in the call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_slice.h"
#include "boot.h"
#include "events.h"
#include "exercise.h"
#include "handlers.h"
#include "ops.h"
#include "proc.h"
#include "query.h"
#include "registry.h"
#include "rpc.h"
#include "sse.h"
#include "vmsim/v1/vmsim.pb-c.h"
#include "common.h"

#define MAX_RESULT_EVENTS 256
#define EVENTS_DEFAULT    1000
#define EVENTS_MAX        10000
#define FRAME_MAP_MAX     (1ull << 24) /* 16 Mi frames = 64 GiB: one whole machine */

/* The machine a request names, or NULL with not_found set. */
static struct srv_machine *machine_of(struct srv_call *c)
{
	if (!*c->machine_id) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "machine_id is required");
		return NULL;
	}
	struct srv_machine *sm = registry_get(c->srv->reg, c->machine_id);
	if (!sm)
		rpc_fail(c, TWIRP_NOT_FOUND, "no machine \"%s\" (ListMachines shows the machines)",
		         c->machine_id);
	return sm;
}

static void commit_ops(struct srv_call *c, struct srv_machine *sm, const struct op *ops, size_t n,
                       uint64_t first_seq, int last_failed)
{
	if (n == 0)
		return;
	snprintf(c->id_copy, sizeof(c->id_copy), "%s", sm->id);
	c->has_commit = 1;
	c->commit.kind = SRV_COMMIT_OPS;
	c->commit.machine_id = c->id_copy;
	c->commit.ops = ops;
	c->commit.n_ops = n;
	c->commit.first_seq = first_seq;
	c->commit.last_failed = last_failed;
	c->srv->metrics.ops_applied += n;
}

static void commit_machine(struct srv_call *c, enum srv_commit_kind kind,
                           const struct srv_machine *sm)
{
	snprintf(c->id_copy, sizeof(c->id_copy), "%s", sm->id);
	snprintf(c->name_copy, sizeof(c->name_copy), "%s", sm->name);
	c->cfg_copy = sm->cfg;
	c->has_commit = 1;
	c->commit.kind = kind;
	c->commit.machine_id = c->id_copy;
	c->commit.name = c->name_copy;
	c->commit.config = &c->cfg_copy;
}

/* ------------------------------------------------------------------------------------ */
/* Machines */

static void config_to_pb(const struct machine_config *cfg, Vmsim__V1__MachineConfig *pb)
{
	pb->arch =
	    cfg->arch == ARCH_I386 ? VMSIM__V1__ARCH__ARCH_I386 : VMSIM__V1__ARCH__ARCH_X86_64;
	pb->ram_bytes = cfg->ram_bytes;
	pb->tlb_entries = cfg->tlb_entries;
	pb->tlb_ways = cfg->tlb_ways;
	pb->policy = (Vmsim__V1__Policy)cfg->policy;
	pb->swappiness_opt_case = VMSIM__V1__MACHINE_CONFIG__SWAPPINESS_OPT_SWAPPINESS;
	pb->swappiness = cfg->swappiness;
	pb->seed = cfg->seed;
	pb->min_free_kbytes = cfg->min_free_kbytes;
	pb->event_ring = cfg->event_ring;
}

static void config_from_pb(const Vmsim__V1__MachineConfig *pb, struct machine_config *cfg)
{
	int i386 = pb && pb->arch == VMSIM__V1__ARCH__ARCH_I386;
	machine_config_default(cfg, i386 ? ARCH_I386 : ARCH_X86_64, MACHINE_DEFAULT_RAM);
	if (!pb)
		return;
	if (pb->ram_bytes)
		cfg->ram_bytes = pb->ram_bytes;
	cfg->tlb_entries = pb->tlb_entries;
	cfg->tlb_ways = pb->tlb_ways;
	cfg->policy = (enum reclaim_policy)pb->policy;
	if (pb->swappiness_opt_case == VMSIM__V1__MACHINE_CONFIG__SWAPPINESS_OPT_SWAPPINESS) {
		cfg->swappiness = pb->swappiness;
		cfg->swappiness_set = 1;
	}
	if (pb->seed)
		cfg->seed = pb->seed;
	cfg->min_free_kbytes = pb->min_free_kbytes;
	cfg->event_ring = pb->event_ring;
}

/* Fills pb (and the config it points to) from sm. */
static void machine_to_pb(const struct srv_machine *sm, Vmsim__V1__Machine *pb,
                          Vmsim__V1__MachineConfig *cfg)
{
	vmsim__v1__machine__init(pb);
	vmsim__v1__machine_config__init(cfg);
	config_to_pb(&sm->cfg, cfg);
	pb->id = (char *)sm->id;
	pb->name = (char *)sm->name;
	pb->config = cfg;
	pb->seq = machine_seq(sm->m);
	pb->nr_frames = machine_nr_frames(sm->m);
	uint64_t free_pages = 0;
	struct query_zone z[4];
	unsigned nz = query_zones(sm->m, z, 4);
	for (unsigned i = 0; i < nz; i++)
		free_pages += z[i].free;
	pb->free_pages = free_pages;
	pb->next_event_id = sm->event_base + events_next_id(sm->m);
}

static void reply_machine(struct srv_call *c, const struct srv_machine *sm)
{
	Vmsim__V1__Machine pb;
	Vmsim__V1__MachineConfig cfg;
	machine_to_pb(sm, &pb, &cfg);
	rpc_reply(c, &pb.base);
}

static enum twirp_code boot_code(const char *err)
{
	return strstr(err, "host memory") ? TWIRP_RESOURCE_EXHAUSTED : TWIRP_INVALID_ARGUMENT;
}

/* A CreateMachine booted off the loop (boot.c), under the id it took before booting. */
static void created(struct srv_call *c, struct machine *m, const char *err, void *arg)
{
	(void)arg;
	const Vmsim__V1__CreateMachineRequest *req = (const void *)c->req;
	struct srv *s = c->srv;
	char why[256];
	struct srv_machine *sm = NULL;
	if (!m) {
		rpc_fail(c, boot_code(err), "%s", err);
	} else if (!(sm = registry_adopt(s->reg, c->id_copy, req->name, m, why, sizeof(why)))) {
		machine_destroy(m);
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "%s", why);
	} else {
		reply_machine(c, sm);
		commit_machine(c, SRV_COMMIT_CREATE, sm);
	}
	rpc_resume(c); /* the record is submitted: the next create's quota check counts it */
	boot_create_end(s);
}

static void create_machine(struct srv_call *c)
{
	const Vmsim__V1__CreateMachineRequest *req = (const void *)c->req;
	if (registry_count(c->srv->reg) >= c->srv->cfg.max_machines) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "the server already hosts %zu machines",
		         registry_count(c->srv->reg));
		return;
	}
	struct machine_config cfg;
	config_from_pb(req->config, &cfg);
	if (cfg.ram_bytes >= BOOT_OFF_LOOP_RAM) {
		registry_new_id(c->srv->reg, c->id_copy); /* taken now, as registry_create does */
		if (boot_start(c, &cfg, created, NULL))
			rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "out of memory");
		else
			boot_create_begin(c->srv);
		return;
	}
	char err[256];
	struct srv_machine *sm =
	    registry_create(c->srv->reg, NULL, req->name, &cfg, err, sizeof(err));
	if (!sm) {
		rpc_fail(c, boot_code(err), "%s", err);
		return;
	}
	reply_machine(c, sm);
	commit_machine(c, SRV_COMMIT_CREATE, sm);
}

static void get_machine(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (sm)
		reply_machine(c, sm);
}

static void list_machines(struct srv_call *c)
{
	size_t n = registry_count(c->srv->reg), i = 0;
	Vmsim__V1__Machine *ms = xcalloc(n ? n : 1, sizeof(*ms));
	Vmsim__V1__MachineConfig *cfgs = xcalloc(n ? n : 1, sizeof(*cfgs));
	Vmsim__V1__Machine **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	if (!ms || !cfgs || !ptrs) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
	} else {
		for (struct srv_machine *sm = registry_first(c->srv->reg); sm; sm = sm->next) {
			if (c->srv->visible && !c->srv->visible(c->srv->visible_data, c->who, sm))
				continue;
			machine_to_pb(sm, &ms[i], &cfgs[i]);
			ptrs[i] = &ms[i];
			i++;
		}
		Vmsim__V1__ListMachinesResponse resp = VMSIM__V1__LIST_MACHINES_RESPONSE__INIT;
		resp.n_machines = i;
		resp.machines = ptrs;
		rpc_reply(c, &resp.base);
	}
	free(ms);
	free(cfgs);
	free(ptrs);
}

static void delete_machine(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	commit_machine(c, SRV_COMMIT_DELETE, sm);
	sse_machine_deleted(c->srv, sm);
	registry_delete(c->srv->reg, sm);
	Vmsim__V1__DeleteMachineResponse resp = VMSIM__V1__DELETE_MACHINE_RESPONSE__INIT;
	rpc_reply(c, &resp.base);
}

/* A ResetMachine booted off the loop; the machine was held meanwhile. */
static void reset_booted(struct srv_call *c, struct machine *m, const char *err, void *arg)
{
	struct slice_hold *h = arg;
	struct srv *s = c->srv;
	struct srv_machine *sm = registry_get(s->reg, h->machine_id);
	if (!m) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "%s", err);
	} else {
		registry_replace(s->reg, sm, m);
		sse_machine_reset(s, sm);
		reply_machine(c, sm);
		commit_machine(c, SRV_COMMIT_RESET, sm);
	}
	struct srv_call *parked = slice_unhold(s, h);
	free(h);
	rpc_resume(c);
	slice_run_parked(parked);
}

static void reset_machine(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	if (sm->cfg.ram_bytes >= BOOT_OFF_LOOP_RAM) {
		struct slice_hold *h = xmalloc(sizeof(*h));
		if (!h || boot_start(c, &sm->cfg, reset_booted, h)) {
			free(h);
			rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "out of memory");
		} else {
			slice_hold(sm, h);
		}
		return;
	}
	char err[256];
	if (registry_reset(c->srv->reg, sm, err, sizeof(err))) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "%s", err);
		return;
	}
	sse_machine_reset(c->srv, sm);
	reply_machine(c, sm);
	commit_machine(c, SRV_COMMIT_RESET, sm);
}

/* ------------------------------------------------------------------------------------ */
/* Ops */

static void result_to_pb(const struct op_result *res, uint64_t event_base, Vmsim__V1__OpResult *pb)
{
	vmsim__v1__op_result__init(pb);
	pb->seq = res->seq;
	pb->value = res->value;
	pb->value2 = res->value2;
	pb->fault = (Vmsim__V1__FaultKind)res->fault;
	pb->faults = res->faults;
	pb->major = res->major;
	pb->tlb_hits = res->tlb_hits;
	pb->tlb_misses = res->tlb_misses;
	pb->first_event = res->first_event ? event_base + res->first_event : 0;
	pb->last_event = res->last_event ? event_base + res->last_event : 0;
}

/* One op RPC (AllocPages, Mmap, Access, ...): the request converts to a struct op. */
static void op_rpc(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	char err[200];
	if (ops_from_request(c->req, &c->op1, err, sizeof(err))) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (slice_admit(c, sm, &c->op1, 1))
		return;
	struct op_result res;
	if (machine_apply(sm->m, &c->op1, &res) != VM_OK) {
		rpc_fail_vm(c, res.err, res.msg);
		if (res.seq) { /* it failed partway: what it did stays, so it is journaled */
			c->err.seq = res.seq;
			commit_ops(c, sm, &c->op1, 1, res.seq, 1);
		}
		return;
	}
	Vmsim__V1__OpResult pb;
	result_to_pb(&res, sm->event_base, &pb);
	/* The events of this op, rendered, so a client can --explain without a second call. */
	char *texts[MAX_RESULT_EVENTS];
	size_t n = 0;
	struct strbuf sb;
	strbuf_init(&sb);
	for (uint64_t id = res.first_event; id <= res.last_event && id && n < MAX_RESULT_EVENTS;
	     id++) {
		const struct event *e = event_get(sm->m, id);
		if (!e)
			continue;
		event_render(e, &sb);
		texts[n++] = strbuf_detach(&sb, NULL);
	}
	pb.n_events = n;
	pb.events = texts;
	rpc_reply(c, &pb.base);
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	strbuf_release(&sb);
	commit_ops(c, sm, &c->op1, 1, res.seq, 0);
}

/* An Apply whose ops run as a slice job; its answer is built once they have run. */
struct apply_run {
	struct slice_job job;
	struct srv_machine *sm; /* held by the job: calls that could delete it wait */
	Vmsim__V1__OpResult *results, **rptr;
	Vmsim__V1__ApplyError aerr;
	struct op_result res;
	uint64_t first_seq;
	size_t applied;
	int failed; /* op `applied` failed: aerr says how */
};

static int apply_step(struct slice_job *j, size_t i)
{
	struct apply_run *r = (struct apply_run *)j;
	if (machine_apply(r->sm->m, &j->c->ops[i], &r->res) != VM_OK) {
		r->aerr.index = (uint32_t)i;
		r->aerr.code = (char *)twirp_code_name(twirp_code(r->res.err));
		r->aerr.msg = r->res.msg[0] ? r->res.msg : (char *)vm_strerror(r->res.err);
		r->aerr.seq = r->res.seq;
		r->failed = 1;
		return -1;
	}
	if (r->results) {
		result_to_pb(&r->res, r->sm->event_base, &r->results[i]);
		r->rptr[i] = &r->results[i];
	}
	r->applied = i + 1;
	return 0;
}

static void apply_finish(struct slice_job *j)
{
	struct apply_run *r = (struct apply_run *)j;
	struct srv_call *c = j->c;
	Vmsim__V1__ApplyResponse resp = VMSIM__V1__APPLY_RESPONSE__INIT;
	if (r->failed)
		resp.error = &r->aerr;
	resp.applied = (uint32_t)r->applied;
	resp.seq = machine_seq(r->sm->m);
	resp.n_results = r->results ? r->applied : 0;
	resp.results = r->rptr;
	rpc_reply(c, &resp.base);
	/* the ops that succeeded, and the failing one too when it failed partway */
	int partway = r->failed && r->aerr.seq != 0;
	commit_ops(c, r->sm, c->ops, r->applied + (size_t)partway, r->first_seq, partway);
}

static void apply_release(struct slice_job *j)
{
	struct apply_run *r = (struct apply_run *)j;
	free(r->results);
	free(r->rptr);
	free(r);
}

static void apply(struct srv_call *c)
{
	const Vmsim__V1__ApplyRequest *req = (const void *)c->req;
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	size_t n = req->n_ops;
	c->ops = xmalloc((n ? n : 1) * sizeof(*c->ops));
	if (!c->ops) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "batch of %zu ops is too large", n);
		return;
	}
	/* Convert the whole batch first: a malformed op rejects the batch before any runs. */
	char err[200];
	for (size_t i = 0; i < n; i++) {
		if (ops_from_pb(req->ops[i], &c->ops[i], err, sizeof(err))) {
			rpc_fail(c, TWIRP_INVALID_ARGUMENT, "op %zu: %s", i, err);
			return;
		}
	}
	if (slice_admit(c, sm, c->ops, n))
		return;
	struct apply_run *r = xcalloc(1, sizeof(*r));
	if (r && req->want_results && n) {
		r->results = xmalloc(n * sizeof(*r->results));
		r->rptr = xmalloc(n * sizeof(*r->rptr));
	}
	if (!r || (req->want_results && n && (!r->results || !r->rptr))) {
		if (r)
			apply_release(&r->job);
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "too many results to return");
		return;
	}
	vmsim__v1__apply_error__init(&r->aerr);
	r->sm = sm;
	r->first_seq = machine_seq(sm->m) + 1;
	r->job.c = c;
	r->job.n = n;
	r->job.step = apply_step;
	r->job.finish = apply_finish;
	r->job.release = apply_release;
	slice_start(&r->job, sm);
}

/* ------------------------------------------------------------------------------------ */
/* Inspection */

/*
 * The numbers of a key/value view: lines "Name:   123 kB", "Name: 123" or "name 123" (one
 * name, one unsigned number, optional unit). Lines of any other shape are skipped, so a
 * tabular view yields nothing. Names point into text (terminated in place).
 */
static size_t proc_fields(char *text, Vmsim__V1__Counter *out, Vmsim__V1__Counter **ptr, size_t max)
{
	size_t n = 0;
	for (char *line = text, *next; line && *line && n < max; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *name = line, *p = line;
		while (*p && *p != ':' && *p != ' ' && *p != '\t')
			p++;
		if (p == name || !*p)
			continue;
		char *end_name = p;
		if (*p == ':')
			p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			continue;
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (*end && strcmp(end, " kB") != 0 && strcmp(end, " pages") != 0)
			continue;
		*end_name = 0;
		vmsim__v1__counter__init(&out[n]);
		out[n].name = name;
		out[n].value = v;
		ptr[n] = &out[n];
		n++;
	}
	return n;
}

static void proc(struct srv_call *c)
{
	const Vmsim__V1__ProcRequest *req = (const void *)c->req;
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	struct strbuf sb;
	strbuf_init(&sb);
	if (!*req->path) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "path is required (e.g. \"buddyinfo\")");
	} else if (proc_render(sm->m, req->path, &sb) != VM_OK) {
		struct strbuf names;
		strbuf_init(&names);
		for (const char *const *v = proc_view_names; *v; v++)
			strbuf_addf(&names, "%s%s", v == proc_view_names ? "" : ", ", *v);
		rpc_fail(c, TWIRP_NOT_FOUND,
		         "no view /proc/%s on this machine (views: %s; per process: "
		         "<pid>/maps ...)",
		         req->path, names.buf ? names.buf : "");
		strbuf_release(&names);
	} else {
		size_t nv = 0;
		while (proc_view_names[nv])
			nv++;
		Vmsim__V1__ProcResponse resp = VMSIM__V1__PROC_RESPONSE__INIT;
		resp.path = req->path;
		resp.text = sb.buf ? sb.buf : "";
		resp.seq = machine_seq(sm->m);
		resp.n_views = nv;
		resp.views = (char **)proc_view_names;
		/* Parse a copy: the text goes out as printed. */
		char *copy = sb.buf ? xstrdup(sb.buf) : NULL;
		Vmsim__V1__Counter *fields = xcalloc(256, sizeof(*fields));
		Vmsim__V1__Counter **fp = xcalloc(256, sizeof(*fp));
		if (copy && fields && fp) {
			resp.n_fields = proc_fields(copy, fields, fp, 256);
			resp.fields = fp;
		}
		rpc_reply(c, &resp.base);
		free(copy);
		free(fields);
		free(fp);
	}
	strbuf_release(&sb);
}

static void list_tasks(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	uint32_t n = query_tasks(sm->m, NULL, 0);
	struct query_task *qt = xcalloc(n ? n : 1, sizeof(*qt));
	Vmsim__V1__Task *tasks = xcalloc(n ? n : 1, sizeof(*tasks));
	Vmsim__V1__Task **tp = xcalloc(n ? n : 1, sizeof(*tp));
	char(*states)[2] = xcalloc(n ? n : 1, sizeof(*states));
	if (!qt || !tasks || !tp || !states) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory listing tasks");
		goto out;
	}
	query_tasks(sm->m, qt, n);
	for (uint32_t i = 0; i < n; i++) {
		Vmsim__V1__Task *t = &tasks[i];
		vmsim__v1__task__init(t);
		t->pid = qt[i].pid;
		t->ppid = qt[i].ppid;
		t->comm = qt[i].comm;
		states[i][0] = qt[i].state;
		t->state = states[i];
		t->total_vm = qt[i].total_vm;
		t->rss = qt[i].rss;
		t->rss_anon = qt[i].rss_anon;
		t->rss_file = qt[i].rss_file;
		t->min_flt = qt[i].min_flt;
		t->maj_flt = qt[i].maj_flt;
		t->nr_cow = qt[i].nr_cow;
		t->oom_score_adj = qt[i].oom_score_adj;
		t->rlimit_rss = qt[i].rlimit_rss;
		t->current = qt[i].current;
		t->mm_users = qt[i].mm_users;
		tp[i] = t;
	}
	Vmsim__V1__ListTasksResponse resp = VMSIM__V1__LIST_TASKS_RESPONSE__INIT;
	resp.n_tasks = n;
	resp.tasks = tp;
	resp.seq = machine_seq(sm->m);
	rpc_reply(c, &resp.base);
out:
	free(qt);
	free(tasks);
	free(tp);
	free(states);
}

static void frame_map(struct srv_call *c)
{
	const Vmsim__V1__FrameMapRequest *req = (const void *)c->req;
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	uint64_t nr = machine_nr_frames(sm->m);
	if (req->start_pfn >= nr) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT,
		         "start_pfn %llu is beyond the last frame (%llu)",
		         (unsigned long long)req->start_pfn, (unsigned long long)(nr - 1));
		return;
	}
	uint64_t count = req->count ? req->count : nr;
	if (count > nr - req->start_pfn)
		count = nr - req->start_pfn;
	if (count > FRAME_MAP_MAX)
		count = FRAME_MAP_MAX;
	uint16_t *flags = xmalloc(count * sizeof(*flags));
	uint8_t *le = xmalloc(count * 2);
	uint8_t *orders = xmalloc(count);
	if (!flags || !le || !orders) {
		rpc_fail(c, TWIRP_RESOURCE_EXHAUSTED, "frame map too large");
		goto out;
	}
	count = query_frame_map(sm->m, req->start_pfn, count, flags, orders);
	for (uint64_t i = 0; i < count; i++) {
		le[2 * i] = (uint8_t)flags[i];
		le[2 * i + 1] = (uint8_t)(flags[i] >> 8);
	}
	struct query_zone z[4];
	unsigned nz = query_zones(sm->m, z, 4);
	Vmsim__V1__Zone zones[4], *zp[4];
	for (unsigned i = 0; i < nz; i++) {
		vmsim__v1__zone__init(&zones[i]);
		zones[i].name = (char *)z[i].name;
		zones[i].start_pfn = z[i].start_pfn;
		zones[i].spanned_pages = z[i].spanned;
		zones[i].present_pages = z[i].present;
		zones[i].managed_pages = z[i].managed;
		zones[i].free_pages = z[i].free;
		zones[i].min = z[i].wmark_min;
		zones[i].low = z[i].wmark_low;
		zones[i].high = z[i].wmark_high;
		zones[i].n_nr_free = 11;
		zones[i].nr_free = z[i].nr_free;
		zp[i] = &zones[i];
	}
	size_t ntypes = 0;
	while (query_page_type_names[ntypes])
		ntypes++;
	Vmsim__V1__FrameMapResponse resp = VMSIM__V1__FRAME_MAP_RESPONSE__INIT;
	resp.nr_frames = nr;
	resp.start_pfn = req->start_pfn;
	resp.count = count;
	resp.flags.data = le;
	resp.flags.len = count * 2;
	resp.orders.data = orders;
	resp.orders.len = count;
	resp.n_page_types = ntypes;
	resp.page_types = (char **)query_page_type_names;
	resp.n_zones = nz;
	resp.zones = zp;
	resp.seq = machine_seq(sm->m);
	rpc_reply(c, &resp.base);
out:
	free(flags);
	free(le);
	free(orders);
}

static void translate_rpc(struct srv_call *c)
{
	const Vmsim__V1__TranslateRequest *req = (const void *)c->req;
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	struct query_walk t;
	enum vm_err e = query_translate(sm->m, req->pid, req->addr, &t);
	if (e == VM_ENOENT) {
		rpc_fail(c, TWIRP_NOT_FOUND, "no process with pid %u", req->pid);
		return;
	}
	if (e != VM_OK) {
		rpc_fail(c, twirp_code(e), "address 0x%llx is not a valid virtual address on %s",
		         (unsigned long long)req->addr,
		         sm->cfg.arch == ARCH_I386 ? "i386" : "x86_64");
		return;
	}
	Vmsim__V1__WalkStep steps[QUERY_WALK_LEVELS], *sp[QUERY_WALK_LEVELS];
	for (uint32_t i = 0; i < t.nr; i++) {
		const struct query_walk_step *w = &t.step[i];
		vmsim__v1__walk_step__init(&steps[i]);
		steps[i].level = (char *)w->level;
		steps[i].index = w->index;
		steps[i].table_pfn = w->table_pfn;
		steps[i].entry = w->entry;
		if (w->has_next) {
			steps[i].next_opt_case = VMSIM__V1__WALK_STEP__NEXT_OPT_NEXT_PFN;
			steps[i].next_pfn = w->next_pfn;
		}
		sp[i] = &steps[i];
	}
	Vmsim__V1__TranslateResponse resp = VMSIM__V1__TRANSLATE_RESPONSE__INIT;
	resp.present = t.present;
	resp.phys = t.phys;
	resp.pte = t.pte;
	resp.missing_level = (char *)t.missing_level;
	resp.direct_map = t.direct_map;
	resp.n_steps = t.nr;
	resp.steps = sp;
	resp.n_pte_flags = t.nr_flags;
	resp.pte_flags = (char **)t.flags;
	rpc_reply(c, &resp.base);
}

struct counter_list {
	Vmsim__V1__Counter c[256];
	Vmsim__V1__Counter *p[256];
	size_t n;
};

static void add_counter(void *arg, const char *name, uint64_t value)
{
	struct counter_list *l = arg;
	if (l->n == 256)
		return;
	vmsim__v1__counter__init(&l->c[l->n]);
	l->c[l->n].name = (char *)name;
	l->c[l->n].value = value;
	l->p[l->n] = &l->c[l->n];
	l->n++;
}

static void counters(struct srv_call *c)
{
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	struct counter_list *l = xmalloc(sizeof(*l));
	if (!l) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	l->n = 0;
	query_counters(sm->m, add_counter, l);
	Vmsim__V1__CountersResponse resp = VMSIM__V1__COUNTERS_RESPONSE__INIT;
	resp.seq = machine_seq(sm->m);
	resp.n_counters = l->n;
	resp.counters = l->p;
	rpc_reply(c, &resp.base);
	free(l);
}

static void events(struct srv_call *c)
{
	const Vmsim__V1__EventsRequest *req = (const void *)c->req;
	struct srv_machine *sm = machine_of(c);
	if (!sm)
		return;
	/* Ids as clients see them: they keep growing across resets (srv_machine.event_base). */
	uint64_t base = sm->event_base;
	uint64_t first = base + events_first_id(sm->m), next = base + events_next_id(sm->m);
	uint64_t from = req->after_id == UINT64_MAX ? UINT64_MAX : req->after_id + 1;
	Vmsim__V1__EventsResponse resp = VMSIM__V1__EVENTS_RESPONSE__INIT;
	resp.first_id = first;
	resp.next_id = next;
	if (from < first) {
		resp.gap = req->after_id != 0 && req->after_id + 1 < first;
		from = first;
	}
	size_t limit = req->limit ? req->limit : EVENTS_DEFAULT;
	if (limit > EVENTS_MAX)
		limit = EVENTS_MAX;
	size_t n = from < next ? (size_t)(next - from) : 0;
	if (n > limit)
		n = limit;
	Vmsim__V1__Event *evs = xcalloc(n ? n : 1, sizeof(*evs));
	Vmsim__V1__Event **ptrs = xcalloc(n ? n : 1, sizeof(*ptrs));
	char **texts = xcalloc(n ? n : 1, sizeof(*texts));
	size_t k = 0;
	if (evs && ptrs && texts) {
		struct strbuf sb;
		strbuf_init(&sb);
		for (uint64_t id = from; k < n; id++) {
			const struct event *e = event_get(sm->m, id - base);
			if (!e)
				break;
			event_render(e, &sb);
			texts[k] = strbuf_detach(&sb, NULL);
			vmsim__v1__event__init(&evs[k]);
			evs[k].id = base + e->id;
			evs[k].seq = e->seq;
			evs[k].type = e->type;
			evs[k].text = texts[k] ? texts[k] : "";
			ptrs[k] = &evs[k];
			k++;
		}
		strbuf_release(&sb);
		resp.n_events = k;
		resp.events = ptrs;
		rpc_reply(c, &resp.base);
	} else {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < k; i++)
		free(texts[i]);
	free(texts);
	free(evs);
	free(ptrs);
}

/* ------------------------------------------------------------------------------------ */
/* Exercises: regenerated from (topic, seed) on every call, nothing stored. */

static void list_exercises(struct srv_call *c)
{
	Vmsim__V1__ExerciseTopic topics[EX_NR_TOPICS], *tp[EX_NR_TOPICS];
	for (int t = 0; t < EX_NR_TOPICS; t++) {
		vmsim__v1__exercise_topic__init(&topics[t]);
		topics[t].name = (char *)exercise_topic_name((enum exercise_topic)t);
		topics[t].summary = (char *)exercise_topic_summary((enum exercise_topic)t);
		tp[t] = &topics[t];
	}
	Vmsim__V1__ListExercisesResponse resp = VMSIM__V1__LIST_EXERCISES_RESPONSE__INIT;
	resp.n_topics = EX_NR_TOPICS;
	resp.topics = tp;
	rpc_reply(c, &resp.base);
}

void api_fail_topic(struct srv_call *c, const char *topic)
{
	struct strbuf names;
	strbuf_init(&names);
	for (int i = 0; i < EX_NR_TOPICS; i++)
		strbuf_addf(&names, "%s%s", i ? ", " : "",
		            exercise_topic_name((enum exercise_topic)i));
	rpc_fail(c, TWIRP_INVALID_ARGUMENT, "no exercise topic \"%s\" (topics: %s)", topic,
	         names.buf ? names.buf : "");
	strbuf_release(&names);
}

/* After CheckExercise has set its reply: the attempt of the caller goes to the commit seam,
 * so the verdict is sent once it is recorded. Every graded answer is an attempt, a blank or
 * partial one included; not when the call failed. */
static void commit_attempt(struct srv_call *c, enum exercise_topic t, uint64_t seed,
                           const struct exercise_verdict *v)
{
	if (c->failed)
		return;
	struct srv_attempt *a = &c->commit.attempt;
	snprintf(a->topic, sizeof(a->topic), "%s", exercise_topic_name(t));
	a->seed = seed;
	a->correct = v->correct;
	a->right = v->right;
	a->total = v->total;
	c->has_commit = 1;
	c->commit.kind = SRV_COMMIT_ATTEMPT;
	c->commit.machine_id = "";
}

/* Builds the exercise named by topic/seed, or fails the call. */
static int exercise_of(struct srv_call *c, const char *topic, uint64_t seed, struct exercise *ex)
{
	int t = exercise_topic_parse(topic);
	if (t < 0) {
		api_fail_topic(c, topic);
		return -1;
	}
	char err[200];
	enum vm_err e = exercise_new((enum exercise_topic)t, seed, ex, err, sizeof(err));
	if (e != VM_OK) {
		rpc_fail_vm(c, e, err);
		return -1;
	}
	return 0;
}

static void new_exercise(struct srv_call *c)
{
	const Vmsim__V1__NewExerciseRequest *req = (const void *)c->req;
	struct exercise ex;
	if (exercise_of(c, req->topic, req->seed, &ex))
		return;
	Vmsim__V1__ExerciseField f[EXERCISE_MAX_FIELDS], *fp[EXERCISE_MAX_FIELDS];
	for (unsigned i = 0; i < ex.nfields; i++) {
		vmsim__v1__exercise_field__init(&f[i]);
		f[i].name = ex.field[i].name;
		f[i].kind = (Vmsim__V1__ExerciseFieldKind)ex.field[i].kind;
		fp[i] = &f[i];
	}
	Vmsim__V1__Exercise resp = VMSIM__V1__EXERCISE__INIT;
	resp.topic = (char *)exercise_topic_name(ex.topic);
	resp.seed = ex.seed;
	resp.question = ex.question.buf ? ex.question.buf : "";
	resp.n_fields = ex.nfields;
	resp.fields = fp;
	rpc_reply(c, &resp.base);
	exercise_release(&ex);
}

static void check_exercise(struct srv_call *c)
{
	const Vmsim__V1__CheckExerciseRequest *req = (const void *)c->req;
	struct exercise ex;
	if (exercise_of(c, req->topic, req->seed, &ex))
		return;
	struct exercise_verdict v;
	char err[200];
	enum vm_err e = exercise_check(&ex, req->answer, req->reveal, &v, err, sizeof(err));
	if (e != VM_OK) {
		rpc_fail_vm(c, e, err);
		exercise_release(&ex);
		return;
	}
	Vmsim__V1__ExerciseVerdict resp = VMSIM__V1__EXERCISE_VERDICT__INIT;
	resp.correct = v.correct;
	resp.right = v.right;
	resp.total = v.total;
	resp.feedback = v.feedback.buf ? v.feedback.buf : "";
	/* reveal is gated by role in access.c (like SolveExercise) */
	if ((v.correct || req->reveal) && ex.solution.buf)
		resp.solution = ex.solution.buf;
	rpc_reply(c, &resp.base);
	commit_attempt(c, ex.topic, req->seed, &v); /* the reply waits for it */
	exercise_verdict_release(&v);
	exercise_release(&ex);
}

/* The answer key; who may ask is decided in access.c (instructors, admins, --student-solve). */
static void solve_exercise(struct srv_call *c)
{
	const Vmsim__V1__SolveExerciseRequest *req = (const void *)c->req;
	struct exercise ex;
	if (exercise_of(c, req->topic, req->seed, &ex))
		return;
	Vmsim__V1__ExerciseAnswer a[EXERCISE_MAX_FIELDS], *ap[EXERCISE_MAX_FIELDS];
	char values[EXERCISE_MAX_FIELDS][24];
	for (unsigned i = 0; i < ex.nfields; i++) {
		vmsim__v1__exercise_answer__init(&a[i]);
		exercise_format_value(&ex.field[i], ex.field[i].value, values[i],
		                      sizeof(values[i]));
		a[i].name = ex.field[i].name;
		a[i].value = values[i];
		ap[i] = &a[i];
	}
	Vmsim__V1__ExerciseSolution resp = VMSIM__V1__EXERCISE_SOLUTION__INIT;
	resp.topic = (char *)exercise_topic_name(ex.topic);
	resp.seed = ex.seed;
	resp.solution = ex.solution.buf ? ex.solution.buf : "";
	resp.n_answers = ex.nfields;
	resp.answers = ap;
	rpc_reply(c, &resp.base);
	exercise_release(&ex);
}

/* ------------------------------------------------------------------------------------ */

static const struct {
	const char *method;
	rpc_handler_fn fn;
} handlers[] = {
    {"CreateMachine", create_machine},
    {"GetMachine", get_machine},
    {"ListMachines", list_machines},
    {"DeleteMachine", delete_machine},
    {"ResetMachine", reset_machine},
    {"Apply", apply},
    {"Proc", proc},
    {"Translate", translate_rpc},
    {"ListTasks", list_tasks},
    {"FrameMap", frame_map},
    {"Counters", counters},
    {"Events", events},
    {"ListExercises", list_exercises},
    {"NewExercise", new_exercise},
    {"CheckExercise", check_exercise},
    {"SolveExercise", solve_exercise},
};

int api_register(struct srv *s)
{
	const ProtobufCServiceDescriptor *sd = &vmsim__v1__vm_sim__descriptor;
	for (unsigned i = 0; i < sd->n_methods; i++)
		if (ops_is_op_request(sd->methods[i].input, NULL) &&
		    rpc_register(s, sd->methods[i].name, op_rpc, NULL))
			return -1;
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (rpc_register(s, handlers[i].method, handlers[i].fn, NULL))
			return -1;
	return 0;
}
