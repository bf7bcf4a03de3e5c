/*
 * Users and roles (auth.h): the in-memory registry of users, loaded from the store at start,
 * and the creation of users (checked, then persisted; undone if their record fails).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

int auth_ok(struct twirp_err *e)
{
	if (e) {
		e->code = TWIRP_OK;
		e->msg[0] = 0;
	}
	return TWIRP_OK;
}

static const char *const role_names[] = {"admin", "instructor", "student"};

const char *auth_role_name(enum auth_role r)
{
	return (unsigned)r < 3 ? role_names[r] : "unknown";
}

int auth_role_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (name && !strcmp(name, role_names[i]))
			return i;
	return -1;
}

/* A class of 30 students with a few 64 MiB machines each fits; admins are unlimited. */
void auth_default_quota(enum auth_role r, struct auth_quota *q)
{
	static const struct auth_quota defaults[] = {
	    [ROLE_ADMIN] = {0, 0, 0},
	    [ROLE_INSTRUCTOR] = {100, 16ll << 30, 5000},
	    [ROLE_STUDENT] = {10, 2ll << 30, 500},
	};
	*q = defaults[(unsigned)r < 3 ? r : ROLE_STUDENT];
}

/* ---- the registry ---- */

struct auth *auth_new(struct store *s)
{
	struct auth *a = xcalloc(1, sizeof(*a));
	if (a) {
		a->store = s;
		a->next_user = a->next_token = 1;
	}
	return a;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nusers; i++)
		free(a->users[i]);
	for (size_t i = 0; i < a->ntokens; i++)
		free(a->tokens[i]);
	free(a->users);
	free(a->tokens);
	free(a->index);
	free(a);
}

static struct auth_user *add_user(struct auth *a, const struct store_user *su)
{
	struct auth_user *u = xcalloc(1, sizeof(*u));
	if (!u || auth_grow(&a->users, &a->capusers, a->nusers + 1, sizeof(*a->users))) {
		free(u);
		return NULL;
	}
	u->id = su->id;
	snprintf(u->name, sizeof(u->name), "%.32s", su->name);
	u->role = (enum auth_role)su->role;
	u->instructor = su->instructor;
	u->quota.machines = su->quota[0];
	u->quota.ram_bytes = su->quota[1];
	u->quota.ops_per_sec = su->quota[2];
	a->users[a->nusers++] = u; /* ids only grow, so the array stays sorted */
	if (su->id >= a->next_user)
		a->next_user = su->id + 1;
	return u;
}

void auth_remove_user(struct auth *a, int64_t id)
{
	for (size_t i = 0; i < a->nusers; i++) {
		if (a->users[i]->id != id)
			continue;
		free(a->users[i]);
		memmove(&a->users[i], &a->users[i + 1], (a->nusers - i - 1) * sizeof(*a->users));
		a->nusers--;
		return;
	}
}

int auth_load(struct auth *a, char *err, size_t el)
{
	struct store_user *users = NULL;
	struct store_token *tokens = NULL;
	size_t nu = 0, nt = 0;
	int rc = -1;
	if (store_list_users(a->store, &users, &nu, err, el) ||
	    store_list_tokens(a->store, &tokens, &nt, err, el))
		goto out;
	for (size_t i = 0; i < nu; i++)
		if (!add_user(a, &users[i]))
			goto oom;
	for (size_t i = 0; i < nt; i++)
		if (!auth_add_token(a, tokens[i].id, tokens[i].user, tokens[i].hash,
		                    tokens[i].revoked != 0))
			goto oom;
	if (auth_reindex(a))
		goto oom;
	rc = 0;
	goto out;
oom:
	snprintf(err, el, "out of memory loading users");
out:
	free(users);
	free(tokens);
	return rc;
}

size_t auth_user_count(const struct auth *a)
{
	return a->nusers;
}

const struct auth_user *auth_user_at(const struct auth *a, size_t i)
{
	return i < a->nusers ? a->users[i] : NULL;
}

const struct auth_user *auth_user_by_id(const struct auth *a, int64_t id)
{
	size_t lo = 0, hi = a->nusers;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (a->users[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->nusers && a->users[lo]->id == id ? a->users[lo] : NULL;
}

struct auth_user *auth_user_mut(struct auth *a, int64_t id)
{
	return (struct auth_user *)auth_user_by_id(a, id);
}

const struct auth_user *auth_user_by_name(const struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (!strcmp(a->users[i]->name, name))
			return a->users[i];
	return NULL;
}

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > AUTH_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Who may create users of `role`, and into which class (*instructor). */
static int check_creator(struct auth *a, const struct auth_user *actor, enum auth_role role,
                         int64_t *instructor, struct twirp_err *e)
{
	if ((unsigned)role > ROLE_STUDENT)
		return twirp_errf(e, TWIRP_INVALID_ARGUMENT, "unknown role %d", (int)role);
	if (actor->role == ROLE_STUDENT)
		return twirp_errf(e, TWIRP_PERMISSION_DENIED, "students cannot create users");
	if (actor->role == ROLE_INSTRUCTOR) {
		if (role != ROLE_STUDENT)
			return twirp_errf(e, TWIRP_PERMISSION_DENIED,
			                  "instructors create students only, not %s users",
			                  auth_role_name(role));
		if (*instructor && *instructor != actor->id)
			return twirp_errf(e, TWIRP_PERMISSION_DENIED,
			                  "instructors add students to their own class only");
		*instructor = actor->id;
	}
	if (role != ROLE_STUDENT && *instructor)
		return twirp_errf(e, TWIRP_INVALID_ARGUMENT, "only students belong to a class");
	if (*instructor) {
		const struct auth_user *t = auth_user_by_id(a, *instructor);
		if (!t || t->role != ROLE_INSTRUCTOR)
			return twirp_errf(e, TWIRP_INVALID_ARGUMENT,
			                  "user %lld is not an instructor", (long long)*instructor);
	}
	return TWIRP_OK;
}

static int check_names(struct auth *a, const char *const *names, size_t n, struct twirp_err *e)
{
	if (n == 0 || n > MAX_BULK)
		return twirp_errf(e, TWIRP_INVALID_ARGUMENT, "give 1 to %d user names, not %zu",
		                  MAX_BULK, n);
	for (size_t i = 0; i < n; i++) {
		if (!names[i] || !valid_name(names[i]))
			return twirp_errf(e, TWIRP_INVALID_ARGUMENT,
			                  "invalid user name \"%.40s\": use 1-%d of a-z 0-9 . _ - "
			                  "(not starting with . or -)",
			                  names[i] ? names[i] : "", AUTH_NAME_MAX);
		if (auth_user_by_name(a, names[i]))
			return twirp_errf(e, TWIRP_ALREADY_EXISTS, "user \"%s\" already exists",
			                  names[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return twirp_errf(e, TWIRP_INVALID_ARGUMENT,
				                  "user \"%s\" appears twice in the request",
				                  names[i]);
	}
	return TWIRP_OK;
}

/* Builds the user's record (carrying their first token) and adds both to memory. */
static struct store_rec *stage_user(struct auth *a, const char *name, enum auth_role role,
                                    int64_t instructor, const struct auth_quota *q,
                                    char token[AUTH_TOKEN_BUF], struct pending *p)
{
	struct store_user su = {.id = a->next_user, .instructor = instructor, .role = (int)role};
	struct store_rec *r = store_rec_new(STORE_USER_CREATE, 32);
	snprintf(su.name, sizeof(su.name), "%s", name);
	su.quota[0] = q->machines;
	su.quota[1] = q->ram_bytes;
	su.quota[2] = q->ops_per_sec;
	if (!r || auth_new_token(token, r->blob) || !add_user(a, &su)) {
		store_rec_free(r);
		return NULL;
	}
	if (!auth_add_token(a, a->next_token, su.id, r->blob, 0)) {
		auth_remove_user(a, su.id);
		store_rec_free(r);
		return NULL;
	}
	r->id = su.id;
	r->seq = (uint64_t)a->next_token - 1;
	r->ref = instructor;
	r->role = (int)role;
	memcpy(r->quota, su.quota, sizeof(su.quota));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->cb = p ? auth_rec_done : NULL; /* no group: a synchronous submit */
	r->data = p;
	return r;
}

/*
 * A quota someone other than an admin grants: every limit set (0, unlimited, is for admins
 * to grant), and none above the granter's own (where that is unlimited, an instructor's
 * default), so no one hands out more than they were given.
 */
static int check_grant(const struct auth_user *actor, const struct auth_quota *q,
                       struct twirp_err *e)
{
	struct auth_quota cap;
	auth_default_quota(ROLE_INSTRUCTOR, &cap);
	if (actor->quota.machines)
		cap.machines = actor->quota.machines;
	if (actor->quota.ram_bytes)
		cap.ram_bytes = actor->quota.ram_bytes;
	if (actor->quota.ops_per_sec)
		cap.ops_per_sec = actor->quota.ops_per_sec;
	if (!q->machines || !q->ram_bytes || !q->ops_per_sec)
		return twirp_errf(e, TWIRP_PERMISSION_DENIED,
		                  "unlimited quotas are for admins to grant: set machines, RAM and "
		                  "ops per second (at most %lld, %lld MiB, %lld)",
		                  (long long)cap.machines, (long long)(cap.ram_bytes >> 20),
		                  (long long)cap.ops_per_sec);
	if (q->machines > cap.machines || q->ram_bytes > cap.ram_bytes ||
	    q->ops_per_sec > cap.ops_per_sec)
		return twirp_errf(
		    e, TWIRP_PERMISSION_DENIED,
		    "%s may grant at most %lld machines, %lld MiB of RAM and %lld ops "
		    "per second",
		    actor->name, (long long)cap.machines, (long long)(cap.ram_bytes >> 20),
		    (long long)cap.ops_per_sec);
	return TWIRP_OK;
}

int auth_create_users(struct auth *a, const struct auth_user *actor, const char *const *names,
                      size_t n, enum auth_role role, int64_t instructor,
                      const struct auth_quota *quota, char (*tokens)[AUTH_TOKEN_BUF], int64_t *ids,
                      auth_done_cb cb, void *data, struct twirp_err *e)
{
	struct auth_quota q;
	int rc = check_creator(a, actor, role, &instructor, e);
	if (rc || (rc = check_names(a, names, n, e)))
		return rc;
	if (quota) {
		if (quota->machines < 0 || quota->ram_bytes < 0 || quota->ops_per_sec < 0)
			return twirp_errf(e, TWIRP_INVALID_ARGUMENT, "quotas cannot be negative");
		if (actor->role != ROLE_ADMIN && check_grant(actor, quota, e))
			return e ? (int)e->code : TWIRP_PERMISSION_DENIED;
		q = *quota;
	} else {
		auth_default_quota(role, &q);
	}
	struct pending *p = auth_pending_new(a, n, cb, data);
	struct store_rec **recs = xcalloc(n, sizeof(*recs));
	size_t staged = 0;
	if (!p || !recs)
		goto oom;
	for (; staged < n; staged++) {
		recs[staged] =
		    stage_user(a, names[staged], role, instructor, &q, tokens[staged], p);
		if (!recs[staged])
			goto oom;
		if (ids)
			ids[staged] = recs[staged]->id;
	}
	for (size_t i = 0; i < n; i++)
		store_submit(a->store, recs[i]);
	free(recs);
	return auth_ok(e);
oom:
	for (size_t i = 0; i < staged; i++) {
		auth_remove_user(a, recs[i]->id);
		auth_remove_token(a, (int64_t)recs[i]->seq);
		store_rec_free(recs[i]);
	}
	free(recs);
	free(p);
	return twirp_errf(e, TWIRP_INTERNAL, "out of memory or no randomness creating users");
}

/* Token management: the user themselves, their instructor, or an admin. */
int auth_init_admin(struct auth *a, const char *name, char token[AUTH_TOKEN_BUF],
                    struct twirp_err *e)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (a->users[i]->role == ROLE_ADMIN)
			return twirp_errf(e, TWIRP_ALREADY_EXISTS, "an admin already exists (%s)",
			                  a->users[i]->name);
	const char *names[] = {name};
	int rc = check_names(a, names, 1, e);
	if (rc)
		return rc;
	struct auth_quota q;
	char err[STORE_ERRLEN];
	auth_default_quota(ROLE_ADMIN, &q);
	struct store_rec *r = stage_user(a, name, ROLE_ADMIN, 0, &q, token, NULL);
	if (!r)
		return twirp_errf(e, TWIRP_INTERNAL, "out of memory or no randomness");
	int64_t uid = r->id, tid = (int64_t)r->seq;
	if (store_submit_sync(a->store, r, err, sizeof(err))) {
		auth_remove_user(a, uid);
		auth_remove_token(a, tid);
		return twirp_errf(e, TWIRP_INTERNAL, "cannot store the admin: %s", err);
	}
	return auth_ok(e);
}
