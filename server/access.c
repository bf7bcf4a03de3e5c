/*
 * The access hooks (access.h): the auth module's rules applied to requests.
 */
#include "access.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "durable.h"
#include "ops.h"
#include "registry.h"

/* --open: every caller acts as this admin. */
static const struct auth_user open_admin = {.id = 0, .name = "open", .role = ROLE_ADMIN};

const struct auth_user *access_caller(const struct srv_identity *who)
{
	return who && who->user ? who->user : &open_admin;
}

/* Methods that change nothing: they need read access and do not spend the ops/s bucket. */
static int read_only(const char *method)
{
	static const char *const reads[] = {
	    "GetMachine",    "ListMachines", "Proc",      "FrameMap",     "Counters",
	    "Events",        "StreamEvents", "MachineAt", "SnapshotList", "SnapshotDiff",
	    "ExportMachine", "ListUsers",    "Whoami",    "Translate",    "ListTasks",
	    "History",       "Metrics",
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (!strcmp(method, reads[i]))
			return 1;
	return !strcmp(method, "ExerciseResults"); /* reads the store, not a machine */
}

static int deny(struct twirp_err *err, enum twirp_code code, const char *msg)
{
	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return -1;
}

static const struct auth_user *bearer(struct durable *d, const char *header, struct twirp_err *e)
{
	if (header && strncasecmp(header, "Bearer ", 7)) {
		e->code = TWIRP_UNAUTHENTICATED;
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
	int64_t num = registry_id_num(sm->id);
	const struct durable_meta *meta = durable_meta_get(d, num);
	struct twirp_err e;
	int rc =
	    auth_check_machine(d->auth, u, num, meta ? meta->owner : 0, meta ? meta->shared : 0,
	                       read_only(method) ? AUTH_READ : AUTH_WRITE, &e);
	if (rc == TWIRP_NOT_FOUND) {
		err->code = TWIRP_NOT_FOUND;
		snprintf(err->msg, sizeof(err->msg),
		         "no machine \"%s\" (ListMachines shows the machines)", machine_id);
		return -1;
	}
	return rc ? deny(err, (enum twirp_code)rc, e.msg) : 0;
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
	return deny(err, TWIRP_PERMISSION_DENIED,
	            "exercise solutions are for instructors and admins: check your answer with "
	            "CheckExercise (vmsimd --student-solve lets students see solutions)");
}

/* CreateMachine: the machines and RAM quotas, checked before the machine boots. */
static int check_create(struct durable *d, const struct auth_user *u, const void *req,
                        struct twirp_err *err)
{
	const Vmsim__V1__CreateMachineRequest *r = req;
	uint64_t ram =
	    r && r->config && r->config->ram_bytes ? r->config->ram_bytes : MACHINE_DEFAULT_RAM;
	struct twirp_err e;
	if (auth_reserve_machine(d->auth, u->id, (int64_t)ram, 0, &e))
		return deny(err, e.code, e.msg);
	auth_release_machine(d->auth, u->id, (int64_t)ram); /* charged when it commits */
	return 0;
}

int access_authorize(void *data, struct srv_identity *who, const char *method,
                     const char *machine_id, struct twirp_err *err)
{
	struct durable *d = data;
	struct twirp_err e;
	/* --open, or vmsimd's own --demo calls (no network peer is named "demo") */
	if (d->open || (who->peer && !strcmp(who->peer, "demo"))) {
		who->user = NULL;
		return 0;
	}
	const struct auth_user *u = bearer(d, who->authorization, &e);
	if (!u)
		return deny(err, e.code, e.msg);
	who->user = (void *)u;
	who->user_id = u->id;
	if (!strcmp(method, "Metrics") && u->role != ROLE_ADMIN)
		return deny(err, TWIRP_PERMISSION_DENIED, "/metrics is for admins");
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
	struct twirp_err e;
	if (!u || ops <= 1 || !auth_rate_take(d->auth, u->id, ops - 1, &e))
		return 0;
	return deny(err, e.code, e.msg);
}

int access_visible(void *data, const struct srv_identity *who, const struct srv_machine *sm)
{
	struct durable *d = data;
	if (d->open || !who || !who->user)
		return d->open;
	int64_t num = registry_id_num(sm->id);
	const struct durable_meta *meta = durable_meta_get(d, num);
	return auth_check_machine(d->auth, who->user, num, meta ? meta->owner : 0,
	                          meta ? meta->shared : 0, AUTH_READ, NULL) == TWIRP_OK;
}

void access_install(struct srv *srv, struct durable *d)
{
	srv->authorize = access_authorize;
	srv->authorize_data = d;
	srv->visible = access_visible;
	srv->visible_data = d;
	srv->charge = access_charge;
	srv->charge_data = d;
}
