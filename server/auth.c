/*
 * Users, roles, tokens, ownership and quotas (auth.h). The registry lives in memory on the
 * loop thread; tokens are found by the SHA-256 of what the client presents (never stored in
 * clear) and compared in constant time. Changes go to the store and are undone if their
 * record fails to commit.
 */
#include "auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

struct token {
	int64_t id, user;
	uint8_t hash[32];
	int revoked;
};

struct auth {
	struct store *store;
	struct auth_user **users; /* ascending id */
	size_t nusers, capusers;
	struct token **tokens;
	size_t ntokens, captokens;
	uint32_t *index; /* open addressing over tokens by hash: slot = token index + 1 */
	size_t index_cap;
	int64_t next_user, next_token;
};

#define MAX_BULK 1000

static int fail(struct auth_err *e, enum auth_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct auth_err *e, enum auth_code code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		e->code = code;
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int ok(struct auth_err *e)
{
	if (e) {
		e->code = AUTH_OK;
		e->msg[0] = 0;
	}
	return AUTH_OK;
}

const char *auth_code_name(enum auth_code c)
{
	static const char *const names[] = {
	    "ok",        "invalid_argument", "unauthenticated",    "permission_denied",
	    "not_found", "already_exists",   "resource_exhausted", "internal",
	};
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
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

void auth_token_hash(const char *token, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL);
}

/* ---- the registry ---- */

struct auth *auth_new(struct store *s)
{
	struct auth *a = calloc(1, sizeof(*a));
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

static int grow(void *arrp, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = realloc(*(void **)arrp, c * size);
	if (!p)
		return -1;
	*(void **)arrp = p;
	*cap = c;
	return 0;
}

static size_t slot_of(const uint8_t hash[32], size_t cap)
{
	uint64_t h;
	memcpy(&h, hash, sizeof(h)); /* a SHA-256 prefix is already uniformly spread */
	return (size_t)h & (cap - 1);
}

/* Rebuilds the hash index at twice the token count (rounded to a power of two). */
static int reindex(struct auth *a)
{
	size_t cap = 64;
	while (cap < 2 * a->ntokens + 2)
		cap *= 2;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -1;
	for (size_t i = 0; i < a->ntokens; i++) {
		size_t s = slot_of(a->tokens[i]->hash, cap);
		while (idx[s])
			s = (s + 1) & (cap - 1);
		idx[s] = (uint32_t)i + 1;
	}
	free(a->index);
	a->index = idx;
	a->index_cap = cap;
	return 0;
}

static struct token *add_token(struct auth *a, int64_t id, int64_t user, const uint8_t hash[32],
                               int revoked)
{
	struct token *t = calloc(1, sizeof(*t));
	if (!t || grow(&a->tokens, &a->captokens, a->ntokens + 1, sizeof(*a->tokens))) {
		free(t);
		return NULL;
	}
	t->id = id;
	t->user = user;
	t->revoked = revoked;
	memcpy(t->hash, hash, 32);
	a->tokens[a->ntokens++] = t;
	if (id >= a->next_token)
		a->next_token = id + 1;
	if (2 * a->ntokens + 2 > a->index_cap)
		return reindex(a) ? NULL : t;
	size_t s = slot_of(hash, a->index_cap);
	while (a->index[s])
		s = (s + 1) & (a->index_cap - 1);
	a->index[s] = (uint32_t)a->ntokens;
	return t;
}

static struct token *token_by_id(struct auth *a, int64_t id)
{
	for (size_t i = 0; i < a->ntokens; i++)
		if (a->tokens[i]->id == id)
			return a->tokens[i];
	return NULL;
}

static void remove_token(struct auth *a, int64_t id)
{
	for (size_t i = 0; i < a->ntokens; i++) {
		if (a->tokens[i]->id != id)
			continue;
		free(a->tokens[i]);
		memmove(&a->tokens[i], &a->tokens[i + 1],
		        (a->ntokens - i - 1) * sizeof(*a->tokens));
		a->ntokens--;
		reindex(a);
		return;
	}
}

static struct auth_user *add_user(struct auth *a, const struct store_user *su)
{
	struct auth_user *u = calloc(1, sizeof(*u));
	if (!u || grow(&a->users, &a->capusers, a->nusers + 1, sizeof(*a->users))) {
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

static void remove_user(struct auth *a, int64_t id)
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
		if (!add_token(a, tokens[i].id, tokens[i].user, tokens[i].hash,
		               tokens[i].revoked != 0))
			goto oom;
	if (reindex(a))
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

static struct auth_user *user_mut(struct auth *a, int64_t id)
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

/* ---- tokens ---- */

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

const struct auth_user *auth_verify(struct auth *a, const char *token, struct auth_err *e)
{
	size_t plen = strlen(AUTH_TOKEN_PREFIX);
	if (!token || !*token) {
		fail(e, AUTH_UNAUTHENTICATED, "missing token: send Authorization: Bearer <token>");
		return NULL;
	}
	if (strlen(token) != AUTH_TOKEN_BUF - 1 || strncmp(token, AUTH_TOKEN_PREFIX, plen) ||
	    !is_hex(token + plen, AUTH_TOKEN_BUF - 1 - plen)) {
		fail(e, AUTH_UNAUTHENTICATED,
		     "malformed token: expected %s followed by 64 hex digits", AUTH_TOKEN_PREFIX);
		return NULL;
	}
	uint8_t hash[32];
	auth_token_hash(token, hash);
	const struct token *found = NULL;
	/* the probe walks by hash prefix; the match itself is a constant-time compare */
	for (size_t s = slot_of(hash, a->index_cap); a->index && a->index[s];
	     s = (s + 1) & (a->index_cap - 1)) {
		const struct token *t = a->tokens[a->index[s] - 1];
		if (CRYPTO_memcmp(t->hash, hash, 32) == 0) {
			found = t;
			break;
		}
	}
	if (!found) {
		fail(e, AUTH_UNAUTHENTICATED, "invalid token");
		return NULL;
	}
	if (found->revoked) {
		fail(e, AUTH_UNAUTHENTICATED, "token has been revoked");
		return NULL;
	}
	const struct auth_user *u = auth_user_by_id(a, found->user);
	if (!u)
		fail(e, AUTH_UNAUTHENTICATED, "token of a user that no longer exists");
	else
		ok(e);
	return u;
}

/* 256 bits from getrandom(2), written as AUTH_TOKEN_PREFIX + 64 lowercase hex digits. */
static int new_token(char out[AUTH_TOKEN_BUF], uint8_t hash[32])
{
	uint8_t raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1;
	int n = snprintf(out, AUTH_TOKEN_BUF, "%s", AUTH_TOKEN_PREFIX);
	for (size_t i = 0; i < sizeof(raw); i++)
		n += snprintf(out + n, AUTH_TOKEN_BUF - (size_t)n, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	auth_token_hash(out, hash);
	return 0;
}

/* ---- changes ---- */

/* Completion of a group of records: undoes in memory what did not commit, then calls cb. */
struct pending {
	struct auth *a;
	size_t left;
	int status;
	char err[STORE_ERRLEN];
	auth_done_cb cb;
	void *data;
};

static void rec_done(struct store_rec *rec, int status, const char *err, void *data)
{
	struct pending *p = data;
	if (status) {
		if (rec->kind == STORE_USER_CREATE) {
			remove_user(p->a, rec->id);
			remove_token(p->a, (int64_t)rec->seq);
		} else if (rec->kind == STORE_TOKEN_CREATE)
			remove_token(p->a, rec->id);
		else if (rec->kind == STORE_TOKEN_REVOKE) {
			struct token *t = token_by_id(p->a, rec->id);
			if (t && status == STORE_EFAIL)
				t->revoked = 0;
		}
		if (!p->status) {
			p->status = status;
			snprintf(p->err, sizeof(p->err), "%s", err ? err : "not committed");
		}
	}
	if (--p->left == 0) {
		if (p->cb)
			p->cb(p->status, p->status ? p->err : NULL, p->data);
		free(p);
	}
}

static struct pending *pending_new(struct auth *a, size_t n, auth_done_cb cb, void *data)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (p) {
		p->a = a;
		p->left = n;
		p->cb = cb;
		p->data = data;
	}
	return p;
}

static struct store_rec *token_rec(int64_t id, int64_t user, const char *label,
                                   const uint8_t hash[32], struct pending *p)
{
	struct store_rec *r = store_rec_new(STORE_TOKEN_CREATE, 32);
	if (!r)
		return NULL;
	r->id = id;
	r->ref = user;
	snprintf(r->name, sizeof(r->name), "%s", label);
	memcpy(r->blob, hash, 32);
	r->cb = p ? rec_done : NULL; /* no group: a synchronous submit */
	r->data = p;
	return r;
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
                         int64_t *instructor, struct auth_err *e)
{
	if ((unsigned)role > ROLE_STUDENT)
		return fail(e, AUTH_INVALID_ARGUMENT, "unknown role %d", (int)role);
	if (actor->role == ROLE_STUDENT)
		return fail(e, AUTH_PERMISSION_DENIED, "students cannot create users");
	if (actor->role == ROLE_INSTRUCTOR) {
		if (role != ROLE_STUDENT)
			return fail(e, AUTH_PERMISSION_DENIED,
			            "instructors create students only, not %s users",
			            auth_role_name(role));
		if (*instructor && *instructor != actor->id)
			return fail(e, AUTH_PERMISSION_DENIED,
			            "instructors add students to their own class only");
		*instructor = actor->id;
	}
	if (role != ROLE_STUDENT && *instructor)
		return fail(e, AUTH_INVALID_ARGUMENT, "only students belong to a class");
	if (*instructor) {
		const struct auth_user *t = auth_user_by_id(a, *instructor);
		if (!t || t->role != ROLE_INSTRUCTOR)
			return fail(e, AUTH_INVALID_ARGUMENT, "user %lld is not an instructor",
			            (long long)*instructor);
	}
	return AUTH_OK;
}

static int check_names(struct auth *a, const char *const *names, size_t n, struct auth_err *e)
{
	if (n == 0 || n > MAX_BULK)
		return fail(e, AUTH_INVALID_ARGUMENT, "give 1 to %d user names, not %zu", MAX_BULK,
		            n);
	for (size_t i = 0; i < n; i++) {
		if (!names[i] || !valid_name(names[i]))
			return fail(e, AUTH_INVALID_ARGUMENT,
			            "invalid user name \"%.40s\": use 1-%d of a-z 0-9 . _ - "
			            "(not starting with . or -)",
			            names[i] ? names[i] : "", AUTH_NAME_MAX);
		if (auth_user_by_name(a, names[i]))
			return fail(e, AUTH_ALREADY_EXISTS, "user \"%s\" already exists", names[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return fail(e, AUTH_INVALID_ARGUMENT,
				            "user \"%s\" appears twice in the request", names[i]);
	}
	return AUTH_OK;
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
	if (!r || new_token(token, r->blob) || !add_user(a, &su)) {
		store_rec_free(r);
		return NULL;
	}
	if (!add_token(a, a->next_token, su.id, r->blob, 0)) {
		remove_user(a, su.id);
		store_rec_free(r);
		return NULL;
	}
	r->id = su.id;
	r->seq = (uint64_t)a->next_token - 1;
	r->ref = instructor;
	r->role = (int)role;
	memcpy(r->quota, su.quota, sizeof(su.quota));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->cb = p ? rec_done : NULL; /* no group: a synchronous submit */
	r->data = p;
	return r;
}

int auth_create_users(struct auth *a, const struct auth_user *actor, const char *const *names,
                      size_t n, enum auth_role role, int64_t instructor,
                      const struct auth_quota *quota, char (*tokens)[AUTH_TOKEN_BUF], int64_t *ids,
                      auth_done_cb cb, void *data, struct auth_err *e)
{
	struct auth_quota q;
	int rc = check_creator(a, actor, role, &instructor, e);
	if (rc || (rc = check_names(a, names, n, e)))
		return rc;
	if (quota) {
		if (quota->machines < 0 || quota->ram_bytes < 0 || quota->ops_per_sec < 0)
			return fail(e, AUTH_INVALID_ARGUMENT, "quotas cannot be negative");
		q = *quota;
	} else {
		auth_default_quota(role, &q);
	}
	struct pending *p = pending_new(a, n, cb, data);
	struct store_rec **recs = calloc(n, sizeof(*recs));
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
	return ok(e);
oom:
	for (size_t i = 0; i < staged; i++) {
		remove_user(a, recs[i]->id);
		remove_token(a, (int64_t)recs[i]->seq);
		store_rec_free(recs[i]);
	}
	free(recs);
	free(p);
	return fail(e, AUTH_INTERNAL, "out of memory or no randomness creating users");
}

/* Token management: the user themselves, their instructor, or an admin. */
static int may_manage(struct auth *a, const struct auth_user *actor, int64_t user_id,
                      struct auth_err *e)
{
	const struct auth_user *u = auth_user_by_id(a, user_id);
	if (u && (actor->role == ROLE_ADMIN || actor->id == u->id ||
	          (actor->role == ROLE_INSTRUCTOR && u->instructor == actor->id)))
		return AUTH_OK;
	if (u && auth_can_see_user(a, actor, u))
		return fail(e, AUTH_PERMISSION_DENIED, "you cannot manage tokens of user %s",
		            u->name);
	return fail(e, AUTH_NOT_FOUND, "no user %lld", (long long)user_id);
}

int auth_issue_token(struct auth *a, const struct auth_user *actor, int64_t user_id,
                     const char *label, char token[AUTH_TOKEN_BUF], int64_t *token_id,
                     auth_done_cb cb, void *data, struct auth_err *e)
{
	int rc = may_manage(a, actor, user_id, e);
	if (rc)
		return rc;
	if (label && strlen(label) > 63)
		return fail(e, AUTH_INVALID_ARGUMENT, "token label longer than 63 bytes");
	uint8_t hash[32];
	struct pending *p = pending_new(a, 1, cb, data);
	struct store_rec *r = NULL;
	if (!p || new_token(token, hash) ||
	    !(r = token_rec(a->next_token, user_id, label ? label : "", hash, p)) ||
	    !add_token(a, r->id, user_id, hash, 0)) {
		free(p);
		store_rec_free(r);
		return fail(e, AUTH_INTERNAL, "out of memory or no randomness issuing a token");
	}
	if (token_id)
		*token_id = r->id;
	store_submit(a->store, r);
	return ok(e);
}

int auth_revoke_token(struct auth *a, const struct auth_user *actor, int64_t token_id,
                      auth_done_cb cb, void *data, struct auth_err *e)
{
	struct token *t = token_by_id(a, token_id);
	if (!t)
		return fail(e, AUTH_NOT_FOUND, "no token %lld", (long long)token_id);
	int rc = may_manage(a, actor, t->user, e);
	if (rc)
		return rc == AUTH_NOT_FOUND
		           ? fail(e, AUTH_NOT_FOUND, "no token %lld", (long long)token_id)
		           : rc;
	if (t->revoked)
		return fail(e, AUTH_NOT_FOUND, "token %lld is already revoked",
		            (long long)token_id);
	struct pending *p = pending_new(a, 1, cb, data);
	struct store_rec *r = store_rec_new(STORE_TOKEN_REVOKE, 0);
	if (!p || !r) {
		free(p);
		store_rec_free(r);
		return fail(e, AUTH_INTERNAL, "out of memory revoking a token");
	}
	r->id = token_id;
	r->cb = rec_done;
	r->data = p;
	t->revoked = 1; /* refused from now on, even before the commit */
	store_submit(a->store, r);
	return ok(e);
}

int auth_init_admin(struct auth *a, const char *name, char token[AUTH_TOKEN_BUF],
                    struct auth_err *e)
{
	for (size_t i = 0; i < a->nusers; i++)
		if (a->users[i]->role == ROLE_ADMIN)
			return fail(e, AUTH_ALREADY_EXISTS, "an admin already exists (%s)",
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
		return fail(e, AUTH_INTERNAL, "out of memory or no randomness");
	int64_t uid = r->id, tid = (int64_t)r->seq;
	if (store_submit_sync(a->store, r, err, sizeof(err))) {
		remove_user(a, uid);
		remove_token(a, tid);
		return fail(e, AUTH_INTERNAL, "cannot store the admin: %s", err);
	}
	return ok(e);
}

/* ---- ownership ---- */

int auth_can_see_user(const struct auth *a, const struct auth_user *actor,
                      const struct auth_user *target)
{
	(void)a;
	return actor->role == ROLE_ADMIN || actor->id == target->id ||
	       (actor->role == ROLE_INSTRUCTOR && target->instructor == actor->id);
}

int auth_check_machine(const struct auth *a, const struct auth_user *actor, int64_t id,
                       int64_t owner, int shared, enum auth_access access, struct auth_err *e)
{
	if (actor->role == ROLE_ADMIN || actor->id == owner)
		return ok(e);
	const struct auth_user *o = auth_user_by_id(a, owner);
	/* an instructor sees their students' machines; a class sees what its instructor shares */
	int sees = o && ((actor->role == ROLE_INSTRUCTOR && o->instructor == actor->id) ||
	                 (shared && o->role == ROLE_INSTRUCTOR && actor->instructor == o->id));
	if (!sees)
		return fail(e, AUTH_NOT_FOUND, "machine %lld not found", (long long)id);
	if (access == AUTH_WRITE)
		return fail(e, AUTH_PERMISSION_DENIED, "machine %lld of %s is read-only for you",
		            (long long)id, o->name);
	return ok(e);
}

/* ---- quotas ---- */

int auth_reserve_machine(struct auth *a, int64_t user_id, int64_t ram_bytes, int force,
                         struct auth_err *e)
{
	struct auth_user *u = user_mut(a, user_id);
	if (!u)
		return fail(e, AUTH_NOT_FOUND, "no user %lld", (long long)user_id);
	if (!force && u->quota.machines && u->machines + 1 > u->quota.machines)
		return fail(e, AUTH_RESOURCE_EXHAUSTED,
		            "quota exceeded: machines (%s has %lld of %lld)", u->name,
		            (long long)u->machines, (long long)u->quota.machines);
	if (!force && u->quota.ram_bytes && u->ram_bytes + ram_bytes > u->quota.ram_bytes)
		return fail(e, AUTH_RESOURCE_EXHAUSTED,
		            "quota exceeded: RAM (%s uses %lld MiB of %lld MiB, this machine "
		            "needs %lld MiB)",
		            u->name, (long long)(u->ram_bytes >> 20),
		            (long long)(u->quota.ram_bytes >> 20), (long long)(ram_bytes >> 20));
	u->machines++;
	u->ram_bytes += ram_bytes;
	return ok(e);
}

void auth_release_machine(struct auth *a, int64_t user_id, int64_t ram_bytes)
{
	struct auth_user *u = user_mut(a, user_id);
	if (!u)
		return;
	u->machines = u->machines > 0 ? u->machines - 1 : 0;
	u->ram_bytes = u->ram_bytes > ram_bytes ? u->ram_bytes - ram_bytes : 0;
}

int auth_rate_take(struct auth *a, int64_t user_id, uint64_t n, struct auth_err *e)
{
	struct auth_user *u = user_mut(a, user_id);
	if (!u || !u->quota.ops_per_sec || !u->bucket_init || !n)
		return ok(e);
	double cap = (double)u->quota.ops_per_sec;
	if (u->bucket < (double)n && u->bucket + 1.0 < cap) /* full: cap - 1 after check's op */
		return fail(e, AUTH_RESOURCE_EXHAUSTED,
		            "quota exceeded: ops per second (%s may run %lld ops/s; this request's "
		            "work costs %llu ops)",
		            u->name, (long long)u->quota.ops_per_sec, (unsigned long long)n + 1);
	u->bucket -= (double)n;
	return ok(e);
}

int auth_rate_check(struct auth *a, int64_t user_id, uint64_t now_ns, struct auth_err *e)
{
	struct auth_user *u = user_mut(a, user_id);
	if (!u)
		return fail(e, AUTH_NOT_FOUND, "no user %lld", (long long)user_id);
	double cap = (double)u->quota.ops_per_sec;
	if (!u->quota.ops_per_sec)
		return ok(e);
	if (!u->bucket_init) {
		u->bucket_init = 1;
		u->bucket = cap;
	} else if (now_ns > u->last_ns) {
		u->bucket += (double)(now_ns - u->last_ns) * cap / 1e9;
		if (u->bucket > cap)
			u->bucket = cap;
	}
	u->last_ns = now_ns > u->last_ns ? now_ns : u->last_ns;
	if (u->bucket < 1.0)
		return fail(e, AUTH_RESOURCE_EXHAUSTED,
		            "quota exceeded: ops per second (%s may run %lld ops/s)", u->name,
		            (long long)u->quota.ops_per_sec);
	u->bucket -= 1.0;
	return ok(e);
}
