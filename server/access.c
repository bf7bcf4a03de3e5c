/*
 * Who may call what in vmsimd: the authorize seam (bearer token, machine ownership, quotas,
 * ops/s bucket), the visible seam (ListMachines shows only what the caller may see), and the
 * RPCs of users and tokens. Hidden machines answer exactly like absent ones.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "durable.h"
#include "ops.h"
#include "registry.h"

#define DEFAULT_RAM (64ull << 20) /* CreateMachine without a RAM size (api.c's default) */

/* --open: every caller acts as this admin. */
static const struct auth_user open_admin = {.id = 0, .name = "open", .role = ROLE_ADMIN};

const struct auth_user *access_caller(const struct srv_call *c)
{
	return c->who && c->who->user ? c->who->user : &open_admin;
}

/* Methods that change nothing: they need read access and do not spend the ops/s bucket. */
static int read_only(const char *method)
{
	static const char *const reads[] = {
	    "GetMachine",   "ListMachines", "Proc",          "FrameMap",
	    "Counters",     "Events",       "StreamEvents",  "MachineAt",
	    "SnapshotList", "SnapshotDiff", "ExportMachine", "ListUsers",
	    "Whoami",       "Translate",    "ListTasks",     "History",
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (!strcmp(method, reads[i]))
			return 1;
	return !strcmp(method, "ExerciseResults"); /* reads the store, not a machine */
}

static int deny(struct twirp_err *err, enum auth_code code, const char *msg)
{
	err->code = auth_code_name(code);
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return -1;
}

static const struct auth_user *bearer(struct durable *d, const char *header, struct auth_err *e)
{
	if (header && strncasecmp(header, "Bearer ", 7)) {
		e->code = AUTH_UNAUTHENTICATED;
		snprintf(e->msg, sizeof(e->msg),
		         "the Authorization header must be \"Bearer <token>\"");
		return NULL;
	}
	const char *tok = header ? header + 7 : NULL;
	while (tok && *tok == ' ')
		tok++;
	return auth_verify(d->auth, tok, e);
}

/* Machine-scoped calls: ownership decides, and a machine the caller may not see is "absent". */
static int check_machine(struct durable *d, const struct auth_user *u, const char *method,
                         const char *machine_id, struct twirp_err *err)
{
	struct srv_machine *sm = registry_get(d->srv->reg, machine_id);
	if (!sm)
		return 0; /* the handler answers not_found */
	int64_t num = durable_machine_num(sm->id);
	const struct durable_meta *meta = durable_meta_get(d, num);
	struct auth_err e;
	int rc =
	    auth_check_machine(d->auth, u, num, meta ? meta->owner : 0, meta ? meta->shared : 0,
	                       read_only(method) ? AUTH_READ : AUTH_WRITE, &e);
	if (rc == AUTH_NOT_FOUND) {
		err->code = "not_found";
		snprintf(err->msg, sizeof(err->msg),
		         "no machine \"%s\" (ListMachines shows the machines)", machine_id);
		return -1;
	}
	return rc ? deny(err, (enum auth_code)rc, e.msg) : 0;
}

/* Exercise solutions (SolveExercise, CheckExercise with reveal) are for instructors and
 * admins; students only when vmsimd runs with --student-solve. */
static int check_solve(struct durable *d, const struct auth_user *u, const char *method,
                       const void *req, struct twirp_err *err)
{
	int solve = !strcmp(method, "SolveExercise") ||
	            (!strcmp(method, "CheckExercise") && req &&
	             ((const Vmsim__V1__CheckExerciseRequest *)req)->reveal);
	if (!solve || u->role != ROLE_STUDENT || d->student_solve)
		return 0;
	return deny(err, AUTH_PERMISSION_DENIED,
	            "exercise solutions are for instructors and admins: check your answer with "
	            "CheckExercise (vmsimd --student-solve lets students see solutions)");
}

/* CreateMachine: the machines and RAM quotas, checked before the machine boots. */
static int check_create(struct durable *d, const struct auth_user *u, const void *req,
                        struct twirp_err *err)
{
	const Vmsim__V1__CreateMachineRequest *r = req;
	uint64_t ram = r && r->config && r->config->ram_bytes ? r->config->ram_bytes : DEFAULT_RAM;
	struct auth_err e;
	if (auth_reserve_machine(d->auth, u->id, (int64_t)ram, 0, &e))
		return deny(err, e.code, e.msg);
	auth_release_machine(d->auth, u->id, (int64_t)ram); /* charged when it commits */
	return 0;
}

int access_authorize(void *data, struct srv_identity *who, const char *method,
                     const char *machine_id, struct twirp_err *err)
{
	struct durable *d = data;
	struct auth_err e;
	/* --open, or vmsimd's own --demo calls (no network peer is named "demo") */
	if (d->open || (who->peer && !strcmp(who->peer, "demo"))) {
		who->user = NULL;
		return 0;
	}
	const struct auth_user *u = bearer(d, who->authorization, &e);
	if (!u)
		return deny(err, e.code, e.msg);
	who->user = (void *)u;
	if (machine_id && *machine_id && check_machine(d, u, method, machine_id, err))
		return -1;
	if (!strcmp(method, "CreateMachine") && check_create(d, u, who->req, err))
		return -1;
	if (check_solve(d, u, method, who->req, err))
		return -1;
	if (!read_only(method) && auth_rate_check(d->auth, u->id, uv_hrtime(), &e))
		return deny(err, e.code, e.msg);
	return 0;
}

/* The work of a request, in ops, before it runs: the authorize hook took one already. */
int access_charge(void *data, const struct srv_identity *who, uint64_t ops, struct twirp_err *err)
{
	struct durable *d = data;
	const struct auth_user *u = who ? who->user : NULL;
	struct auth_err e;
	if (!u || ops <= 1 || !auth_rate_take(d->auth, u->id, ops - 1, &e))
		return 0;
	return deny(err, e.code, e.msg);
}

int access_visible(void *data, const struct srv_identity *who, const struct srv_machine *sm)
{
	struct durable *d = data;
	if (d->open || !who || !who->user)
		return d->open;
	int64_t num = durable_machine_num(sm->id);
	const struct durable_meta *meta = durable_meta_get(d, num);
	return auth_check_machine(d->auth, who->user, num, meta ? meta->owner : 0,
	                          meta ? meta->shared : 0, AUTH_READ, NULL) == AUTH_OK;
}

/* ---- users RPCs ---- */

static Vmsim__V1__Role role_to_pb(enum auth_role r)
{
	return (Vmsim__V1__Role)(r + 1);
}

static void user_to_pb(const struct auth_user *u, Vmsim__V1__User *pb, Vmsim__V1__Quota *q)
{
	vmsim__v1__user__init(pb);
	vmsim__v1__quota__init(q);
	pb->id = u->id;
	pb->name = (char *)u->name;
	pb->role = role_to_pb(u->role);
	pb->instructor_id = u->instructor;
	q->machines = (uint64_t)u->quota.machines;
	q->ram_bytes = (uint64_t)u->quota.ram_bytes;
	q->ops_per_sec = (uint64_t)u->quota.ops_per_sec;
	pb->quota = q;
	pb->machines = (uint64_t)u->machines;
	pb->ram_bytes = (uint64_t)u->ram_bytes;
}

static void fail_auth(struct srv_call *c, const struct auth_err *e)
{
	rpc_fail(c, auth_code_name(e->code), "%s", e->msg);
}

struct users_ctx {
	struct srv_call *c;
	size_t n;
	char (*tokens)[AUTH_TOKEN_BUF];
	int64_t *ids;
};

static void users_created(int status, const char *err, void *data)
{
	struct users_ctx *x = data;
	struct durable *d = x->c->srv->commit_data;
	Vmsim__V1__NewUser *nu = calloc(x->n, sizeof(*nu));
	Vmsim__V1__NewUser **np = calloc(x->n, sizeof(*np));
	Vmsim__V1__User *us = calloc(x->n, sizeof(*us));
	Vmsim__V1__Quota *qs = calloc(x->n, sizeof(*qs));
	if (status) {
		rpc_fail(x->c, "unavailable", "the users could not be saved: %s", err);
	} else if (!nu || !np || !us || !qs) {
		rpc_fail(x->c, "internal", "out of memory");
	} else {
		for (size_t i = 0; i < x->n; i++) {
			vmsim__v1__new_user__init(&nu[i]);
			user_to_pb(auth_user_by_id(d->auth, x->ids[i]), &us[i], &qs[i]);
			nu[i].user = &us[i];
			nu[i].token = x->tokens[i];
			np[i] = &nu[i];
		}
		Vmsim__V1__CreateUsersResponse resp = VMSIM__V1__CREATE_USERS_RESPONSE__INIT;
		resp.n_users = x->n;
		resp.users = np;
		rpc_reply(x->c, &resp.base);
	}
	free(nu);
	free(np);
	free(us);
	free(qs);
	struct srv_call *c = x->c;
	free(x->tokens);
	free(x->ids);
	free(x);
	rpc_resume(c);
}

/* The users and tokens live in the durable store; an in-memory server (the fuzz harness) has
 * none, and says so instead of dereferencing it. */
static struct durable *access_store(struct srv_call *c)
{
	struct durable *d = c->srv->commit_data;
	if (!d || !d->auth)
		rpc_fail(c, "failed_precondition", "this server keeps no users (no --db store)");
	return d && d->auth ? d : NULL;
}

static void create_users(struct srv_call *c)
{
	const Vmsim__V1__CreateUsersRequest *req = (const void *)c->req;
	struct durable *d = access_store(c);
	if (!d)
		return;
	struct auth_quota q, *qp = NULL;
	struct auth_err e;
	if (req->role > VMSIM__V1__ROLE__ROLE_STUDENT) {
		rpc_fail(c, "invalid_argument", "unknown role %d", (int)req->role);
		return;
	}
	enum auth_role role = req->role == VMSIM__V1__ROLE__ROLE_UNSPECIFIED
	                          ? ROLE_STUDENT
	                          : (enum auth_role)(req->role - 1);
	if (req->quota) {
		q.machines = (int64_t)req->quota->machines;
		q.ram_bytes = (int64_t)req->quota->ram_bytes;
		q.ops_per_sec = (int64_t)req->quota->ops_per_sec;
		qp = &q;
	}
	struct users_ctx *x = calloc(1, sizeof(*x));
	size_t n = req->n_names;
	if (x) {
		x->tokens = calloc(n ? n : 1, sizeof(*x->tokens));
		x->ids = calloc(n ? n : 1, sizeof(*x->ids));
	}
	if (!x || !x->tokens || !x->ids) {
		if (x) {
			free(x->tokens);
			free(x->ids);
		}
		free(x);
		rpc_fail(c, "internal", "out of memory");
		return;
	}
	x->c = c;
	x->n = n;
	if (auth_create_users(d->auth, access_caller(c), (const char *const *)req->names, n, role,
	                      req->instructor_id, qp, x->tokens, x->ids, users_created, x, &e)) {
		fail_auth(c, &e);
		free(x->tokens);
		free(x->ids);
		free(x);
		return;
	}
	rpc_defer(c);
}

static void list_users(struct srv_call *c)
{
	struct durable *d = access_store(c);
	if (!d)
		return;
	const struct auth_user *me = access_caller(c);
	size_t n = auth_user_count(d->auth), k = 0;
	Vmsim__V1__User *us = calloc(n + 1, sizeof(*us));
	Vmsim__V1__Quota *qs = calloc(n + 1, sizeof(*qs));
	Vmsim__V1__User **ps = calloc(n + 1, sizeof(*ps));
	if (!us || !qs || !ps) {
		rpc_fail(c, "internal", "out of memory");
	} else {
		for (size_t i = 0; i < n; i++) {
			const struct auth_user *u = auth_user_at(d->auth, i);
			if (!auth_can_see_user(d->auth, me, u))
				continue;
			user_to_pb(u, &us[k], &qs[k]);
			ps[k] = &us[k];
			k++;
		}
		Vmsim__V1__ListUsersResponse resp = VMSIM__V1__LIST_USERS_RESPONSE__INIT;
		resp.n_users = k;
		resp.users = ps;
		rpc_reply(c, &resp.base);
	}
	free(us);
	free(qs);
	free(ps);
}

struct token_ctx {
	struct srv_call *c;
	char token[AUTH_TOKEN_BUF];
	int64_t id;
};

static void token_done(int status, const char *err, void *data)
{
	struct token_ctx *x = data;
	if (status) {
		rpc_fail(x->c, "unavailable", "the token change could not be saved: %s", err);
	} else if (x->token[0]) {
		Vmsim__V1__IssueTokenResponse resp = VMSIM__V1__ISSUE_TOKEN_RESPONSE__INIT;
		resp.token_id = x->id;
		resp.token = x->token;
		rpc_reply(x->c, &resp.base);
	} else {
		Vmsim__V1__RevokeTokenResponse resp = VMSIM__V1__REVOKE_TOKEN_RESPONSE__INIT;
		rpc_reply(x->c, &resp.base);
	}
	struct srv_call *c = x->c;
	free(x);
	rpc_resume(c);
}

static void issue_token(struct srv_call *c)
{
	const Vmsim__V1__IssueTokenRequest *req = (const void *)c->req;
	struct durable *d = access_store(c);
	if (!d)
		return;
	struct token_ctx *x = calloc(1, sizeof(*x));
	struct auth_err e;
	if (!x) {
		rpc_fail(c, "internal", "out of memory");
		return;
	}
	x->c = c;
	if (auth_issue_token(d->auth, access_caller(c), req->user_id, req->label, x->token, &x->id,
	                     token_done, x, &e)) {
		free(x);
		fail_auth(c, &e);
		return;
	}
	rpc_defer(c);
}

static void revoke_token(struct srv_call *c)
{
	const Vmsim__V1__RevokeTokenRequest *req = (const void *)c->req;
	struct durable *d = access_store(c);
	if (!d)
		return;
	struct token_ctx *x = calloc(1, sizeof(*x));
	struct auth_err e;
	if (!x) {
		rpc_fail(c, "internal", "out of memory");
		return;
	}
	x->c = c;
	if (auth_revoke_token(d->auth, access_caller(c), req->token_id, token_done, x, &e)) {
		free(x);
		fail_auth(c, &e);
		return;
	}
	rpc_defer(c);
}

static void whoami(struct srv_call *c)
{
	struct durable *d = access_store(c);
	if (!d)
		return;
	Vmsim__V1__User u;
	Vmsim__V1__Quota q;
	user_to_pb(access_caller(c), &u, &q);
	Vmsim__V1__WhoamiResponse resp = VMSIM__V1__WHOAMI_RESPONSE__INIT;
	resp.user = &u;
	resp.open = d->open;
	rpc_reply(c, &resp.base);
}

static void shared(int status, const char *err, void *data)
{
	struct srv_call *c = data;
	if (status) {
		rpc_fail(c, "unavailable", "the share could not be saved: %s", err);
	} else {
		Vmsim__V1__ShareMachineResponse resp = VMSIM__V1__SHARE_MACHINE_RESPONSE__INIT;
		rpc_reply(c, &resp.base);
	}
	rpc_resume(c);
}

static void share_machine(struct srv_call *c)
{
	const Vmsim__V1__ShareMachineRequest *req = (const void *)c->req;
	struct durable *d = access_store(c);
	if (!d)
		return;
	struct srv_machine *sm = *c->machine_id ? registry_get(c->srv->reg, c->machine_id) : NULL;
	if (!sm) {
		rpc_fail(c, *c->machine_id ? "not_found" : "invalid_argument",
		         *c->machine_id ? "no machine \"%s\" (ListMachines shows the machines)"
		                        : "machine_id is required%s",
		         c->machine_id);
		return;
	}
	int64_t num = durable_machine_num(sm->id);
	struct durable_meta *meta = durable_meta_get(d, num);
	const struct auth_user *owner = meta ? auth_user_by_id(d->auth, meta->owner) : NULL;
	if (!owner || owner->role != ROLE_INSTRUCTOR) {
		rpc_fail(c, "failed_precondition",
		         "only an instructor's machines can be shared with their class");
		return;
	}
	meta->shared = req->shared ? 1 : 0;
	rpc_defer(c);
	if (persist_share(d->persist, num, meta->shared, shared, c)) {
		rpc_fail(c, "internal", "out of memory");
		rpc_resume(c);
	}
}

static const struct {
	const char *method;
	rpc_handler_fn fn;
} handlers[] = {
    {"CreateUsers", create_users}, {"ListUsers", list_users}, {"IssueToken", issue_token},
    {"RevokeToken", revoke_token}, {"Whoami", whoami},        {"ShareMachine", share_machine},
};

rpc_handler_fn access_handler(const ProtobufCMethodDescriptor *md)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (!strcmp(handlers[i].method, md->name))
			return handlers[i].fn;
	return NULL;
}
