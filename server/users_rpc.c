/*
 * The RPCs of users and tokens (CreateUsers, ListUsers, IssueToken, RevokeToken, Whoami) and
 * ShareMachine: checked and recorded by the auth module, answered once committed.
 */
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "durable.h"
#include "handlers.h"
#include "registry.h"
#include "rpc.h"
#include "vmsim/v1/vmsim.pb-c.h"
#include "common.h"

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

static void fail_auth(struct srv_call *c, const struct twirp_err *e)
{
	rpc_fail(c, e->code, "%s", e->msg);
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
	struct durable *d = x->c->data;
	Vmsim__V1__NewUser *nu = xcalloc(x->n, sizeof(*nu));
	Vmsim__V1__NewUser **np = xcalloc(x->n, sizeof(*np));
	Vmsim__V1__User *us = xcalloc(x->n, sizeof(*us));
	Vmsim__V1__Quota *qs = xcalloc(x->n, sizeof(*qs));
	if (status) {
		rpc_fail(x->c, TWIRP_UNAVAILABLE, "the users could not be saved: %s", err);
	} else if (!nu || !np || !us || !qs) {
		rpc_fail(x->c, TWIRP_INTERNAL, "out of memory");
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
	struct durable *d = c->data;
	if (!d || !d->auth)
		rpc_fail(c, TWIRP_FAILED_PRECONDITION,
		         "this server keeps no users (no --db store)");
	return d && d->auth ? d : NULL;
}

static void create_users(struct srv_call *c)
{
	const Vmsim__V1__CreateUsersRequest *req = (const void *)c->req;
	struct durable *d = access_store(c);
	if (!d)
		return;
	struct auth_quota q, *qp = NULL;
	struct twirp_err e;
	if (req->role > VMSIM__V1__ROLE__ROLE_STUDENT) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT, "unknown role %d", (int)req->role);
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
	struct users_ctx *x = xcalloc(1, sizeof(*x));
	size_t n = req->n_names;
	if (x) {
		x->tokens = xcalloc(n ? n : 1, sizeof(*x->tokens));
		x->ids = xcalloc(n ? n : 1, sizeof(*x->ids));
	}
	if (!x || !x->tokens || !x->ids) {
		if (x) {
			free(x->tokens);
			free(x->ids);
		}
		free(x);
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	x->c = c;
	x->n = n;
	if (auth_create_users(d->auth, access_caller(c->who), (const char *const *)req->names, n,
	                      role, req->instructor_id, qp, x->tokens, x->ids, users_created, x,
	                      &e)) {
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
	const struct auth_user *me = access_caller(c->who);
	size_t n = auth_user_count(d->auth), k = 0;
	Vmsim__V1__User *us = xcalloc(n + 1, sizeof(*us));
	Vmsim__V1__Quota *qs = xcalloc(n + 1, sizeof(*qs));
	Vmsim__V1__User **ps = xcalloc(n + 1, sizeof(*ps));
	if (!us || !qs || !ps) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
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
		rpc_fail(x->c, TWIRP_UNAVAILABLE, "the token change could not be saved: %s", err);
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
	struct token_ctx *x = xcalloc(1, sizeof(*x));
	struct twirp_err e;
	if (!x) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	x->c = c;
	if (auth_issue_token(d->auth, access_caller(c->who), req->user_id, req->label, x->token,
	                     &x->id, token_done, x, &e)) {
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
	struct token_ctx *x = xcalloc(1, sizeof(*x));
	struct twirp_err e;
	if (!x) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	x->c = c;
	if (auth_revoke_token(d->auth, access_caller(c->who), req->token_id, token_done, x, &e)) {
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
	user_to_pb(access_caller(c->who), &u, &q);
	Vmsim__V1__WhoamiResponse resp = VMSIM__V1__WHOAMI_RESPONSE__INIT;
	resp.user = &u;
	resp.open = d->open;
	rpc_reply(c, &resp.base);
}

static void shared(int status, const char *err, void *data)
{
	struct srv_call *c = data;
	if (status) {
		rpc_fail(c, TWIRP_UNAVAILABLE, "the share could not be saved: %s", err);
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
		rpc_fail(c, *c->machine_id ? TWIRP_NOT_FOUND : TWIRP_INVALID_ARGUMENT,
		         *c->machine_id ? "no machine \"%s\" (ListMachines shows the machines)"
		                        : "machine_id is required%s",
		         c->machine_id);
		return;
	}
	int64_t num = registry_id_num(sm->id);
	struct durable_meta *meta = durable_meta_get(d, num);
	const struct auth_user *owner = meta ? auth_user_by_id(d->auth, meta->owner) : NULL;
	if (!owner || owner->role != ROLE_INSTRUCTOR) {
		rpc_fail(c, TWIRP_FAILED_PRECONDITION,
		         "only an instructor's machines can be shared with their class");
		return;
	}
	meta->shared = req->shared ? 1 : 0;
	rpc_defer(c);
	if (persist_share(d->persist, num, meta->shared, shared, c)) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
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

int users_rpc_register(struct srv *s, struct durable *d)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (rpc_register(s, handlers[i].method, handlers[i].fn, d))
			return -1;
	return 0;
}
