/*
 * ExerciseResults: every graded CheckExercise is recorded through the commit seam (durable.c)
 * before its verdict is sent; this sums the records per user and topic in SQL on a uv work
 * thread and filters the rows on the loop by who may see whom (admin: all, instructor: their
 * class, student: themselves). Wall-clock times are the store's commit times.
 */
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "durable.h"
#include "exercise.h"
#include "handlers.h"
#include "rpc.h"
#include "strbuf.h"
#include "vmsim/v1/vmsim.pb-c.h"
#include "common.h"

struct results_work {
	uv_work_t req;
	struct srv_call *c;
	struct durable *d;
	int64_t user; /* -1 every user */
	char topic[EXERCISE_NAME_LEN];
	struct store_exercise_result *rows;
	size_t n;
	int rc;
	char err[STORE_ERRLEN];
};

static void results_run(uv_work_t *req)
{
	struct results_work *w = req->data;
	w->rc = store_exercise_results(w->d->store, w->user, w->topic, &w->rows, &w->n, w->err,
	                               sizeof(w->err));
}

/* The name shown for a row's user, or NULL when the caller may not see that user. */
static const char *row_user(struct durable *d, const struct auth_user *me, int64_t id)
{
	if (id == 0) /* answered on an --open server */
		return me->role == ROLE_ADMIN ? "open" : NULL;
	const struct auth_user *u = auth_user_by_id(d->auth, id);
	if (!u)
		return NULL;
	return auth_can_see_user(d->auth, me, u) ? u->name : NULL;
}

static int by_user_topic(const void *a, const void *b)
{
	const Vmsim__V1__ExerciseResult *x = *(Vmsim__V1__ExerciseResult *const *)a;
	const Vmsim__V1__ExerciseResult *y = *(Vmsim__V1__ExerciseResult *const *)b;
	int k = strcmp(x->user, y->user);
	return k ? k : strcmp(x->topic, y->topic);
}

static void results_reply(struct results_work *w)
{
	const struct auth_user *me = access_caller(w->c->who);
	Vmsim__V1__ExerciseResult *rs = xcalloc(w->n + 1, sizeof(*rs));
	Vmsim__V1__ExerciseResult **ps = xcalloc(w->n + 1, sizeof(*ps));
	if (!rs || !ps) {
		rpc_fail(w->c, TWIRP_INTERNAL, "out of memory");
	} else {
		size_t k = 0;
		for (size_t i = 0; i < w->n; i++) {
			const struct store_exercise_result *r = &w->rows[i];
			const char *name = row_user(w->d, me, r->user);
			if (!name)
				continue;
			vmsim__v1__exercise_result__init(&rs[k]);
			rs[k].user_id = r->user;
			rs[k].user = (char *)name;
			rs[k].topic = (char *)r->topic;
			rs[k].attempts = r->attempts;
			rs[k].correct = r->correct;
			rs[k].first_correct = r->first_correct;
			rs[k].last_seed = r->last_seed;
			rs[k].last_attempt = r->last_attempt;
			ps[k] = &rs[k];
			k++;
		}
		qsort(ps, k, sizeof(*ps), by_user_topic);
		Vmsim__V1__ExerciseResultsResponse resp =
		    VMSIM__V1__EXERCISE_RESULTS_RESPONSE__INIT;
		resp.n_results = k;
		resp.results = ps;
		rpc_reply(w->c, &resp.base);
	}
	free(rs);
	free(ps);
}

static void results_after(uv_work_t *req, int status)
{
	struct results_work *w = req->data;
	if (status)
		rpc_fail(w->c, TWIRP_INTERNAL, "work cancelled");
	else if (w->rc)
		rpc_fail(w->c, TWIRP_UNAVAILABLE, "cannot read the exercise results: %s", w->err);
	else
		results_reply(w);
	struct srv_call *c = w->c;
	free(w->rows);
	free(w);
	rpc_resume(c);
}

/* The user id a filter names (-1: none given), or -2 with the call failed. */
static int64_t user_filter(struct srv_call *c, struct durable *d, const char *name)
{
	const struct auth_user *me = access_caller(c->who);
	if (!name || !*name)
		return me->role == ROLE_STUDENT ? me->id : -1;
	if (strlen(name) > AUTH_NAME_MAX) {
		rpc_fail(c, TWIRP_INVALID_ARGUMENT,
		         "user filter \"%.40s...\" is longer than a user name (%d characters)",
		         name, AUTH_NAME_MAX);
		return -2;
	}
	if (!strcmp(name, me->name))
		return me->id;
	/* before looking the name up: a student learns nothing about other users */
	if (me->role == ROLE_STUDENT) {
		rpc_fail(c, TWIRP_PERMISSION_DENIED,
		         "a student may read only their own exercise results (asked for \"%s\")",
		         name);
		return -2;
	}
	const struct auth_user *u = auth_user_by_name(d->auth, name);
	if (!u) {
		rpc_fail(c, TWIRP_NOT_FOUND, "no user \"%s\" (ListUsers shows the users)", name);
		return -2;
	}
	if (!auth_can_see_user(d->auth, me, u)) {
		rpc_fail(c, TWIRP_PERMISSION_DENIED, "user \"%s\" is not in your class", name);
		return -2;
	}
	return u->id;
}

static void exercise_results(struct srv_call *c)
{
	const Vmsim__V1__ExerciseResultsRequest *req = (const void *)c->req;
	struct durable *d = c->data;
	if (!d || !d->store || !d->auth) {
		rpc_fail(c, TWIRP_FAILED_PRECONDITION, "this server keeps no exercise results");
		return;
	}
	if (*req->topic && exercise_topic_parse(req->topic) < 0) {
		api_fail_topic(c, req->topic);
		return;
	}
	int64_t user = user_filter(c, d, req->user);
	if (user == -2)
		return;
	struct results_work *w = xcalloc(1, sizeof(*w));
	if (!w) {
		rpc_fail(c, TWIRP_INTERNAL, "out of memory");
		return;
	}
	w->req.data = w;
	w->c = c;
	w->d = d;
	w->user = user;
	snprintf(w->topic, sizeof(w->topic), "%s", req->topic);
	rpc_defer(c);
	if (uv_queue_work(c->srv->loop, &w->req, results_run, results_after)) {
		free(w);
		rpc_fail(c, TWIRP_INTERNAL, "cannot queue work");
		rpc_resume(c);
	}
}

int results_rpc_register(struct srv *s, struct durable *d)
{
	return rpc_register(s, "ExerciseResults", exercise_results, d);
}
