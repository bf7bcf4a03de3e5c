/*
 * Bearer tokens (auth.h): found by the SHA-256 of what the client presents (never stored in
 * clear) through an open-addressing index, compared in constant time; issued and revoked
 * through the store, undone in memory if their record fails to commit.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

void auth_token_hash(const char *token, uint8_t out[32])
{
	unsigned int len = 32;
	EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL);
}

int auth_grow(void *arrp, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *p = xrealloc(*(void **)arrp, c * size);
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
int auth_reindex(struct auth *a)
{
	size_t cap = 64;
	while (cap < 2 * a->ntokens + 2)
		cap *= 2;
	uint32_t *idx = xcalloc(cap, sizeof(*idx));
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

struct token *auth_add_token(struct auth *a, int64_t id, int64_t user, const uint8_t hash[32],
                             int revoked)
{
	struct token *t = xcalloc(1, sizeof(*t));
	if (!t || auth_grow(&a->tokens, &a->captokens, a->ntokens + 1, sizeof(*a->tokens))) {
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
		return auth_reindex(a) ? NULL : t;
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

void auth_remove_token(struct auth *a, int64_t id)
{
	for (size_t i = 0; i < a->ntokens; i++) {
		if (a->tokens[i]->id != id)
			continue;
		free(a->tokens[i]);
		memmove(&a->tokens[i], &a->tokens[i + 1],
		        (a->ntokens - i - 1) * sizeof(*a->tokens));
		a->ntokens--;
		auth_reindex(a);
		return;
	}
}

/* ---- tokens ---- */

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

const struct auth_user *auth_verify(struct auth *a, const char *token, struct twirp_err *e)
{
	size_t plen = strlen(AUTH_TOKEN_PREFIX);
	if (!token || !*token) {
		twirp_errf(e, TWIRP_UNAUTHENTICATED,
		           "missing token: send Authorization: Bearer <token>");
		return NULL;
	}
	if (strlen(token) != AUTH_TOKEN_BUF - 1 || strncmp(token, AUTH_TOKEN_PREFIX, plen) ||
	    !is_hex(token + plen, AUTH_TOKEN_BUF - 1 - plen)) {
		twirp_errf(e, TWIRP_UNAUTHENTICATED,
		           "malformed token: expected %s followed by 64 hex digits",
		           AUTH_TOKEN_PREFIX);
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
		twirp_errf(e, TWIRP_UNAUTHENTICATED, "invalid token");
		return NULL;
	}
	if (found->revoked) {
		twirp_errf(e, TWIRP_UNAUTHENTICATED, "token has been revoked");
		return NULL;
	}
	const struct auth_user *u = auth_user_by_id(a, found->user);
	if (!u)
		twirp_errf(e, TWIRP_UNAUTHENTICATED, "token of a user that no longer exists");
	else
		auth_ok(e);
	return u;
}

/* 256 bits from getrandom(2), written as AUTH_TOKEN_PREFIX + 64 lowercase hex digits. */
int auth_new_token(char out[AUTH_TOKEN_BUF], uint8_t hash[32])
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

void auth_rec_done(struct store_rec *rec, int status, const char *err, void *data)
{
	struct pending *p = data;
	if (status) {
		if (rec->kind == STORE_USER_CREATE) {
			auth_remove_user(p->a, rec->id);
			auth_remove_token(p->a, (int64_t)rec->seq);
		} else if (rec->kind == STORE_TOKEN_CREATE)
			auth_remove_token(p->a, rec->id);
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

struct pending *auth_pending_new(struct auth *a, size_t n, auth_done_cb cb, void *data)
{
	struct pending *p = xcalloc(1, sizeof(*p));
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
	r->cb = p ? auth_rec_done : NULL; /* no group: a synchronous submit */
	r->data = p;
	return r;
}

static int may_manage(struct auth *a, const struct auth_user *actor, int64_t user_id,
                      struct twirp_err *e)
{
	const struct auth_user *u = auth_user_by_id(a, user_id);
	if (u && (actor->role == ROLE_ADMIN || actor->id == u->id ||
	          (actor->role == ROLE_INSTRUCTOR && u->instructor == actor->id)))
		return TWIRP_OK;
	if (u && auth_can_see_user(a, actor, u))
		return twirp_errf(e, TWIRP_PERMISSION_DENIED, "you cannot manage tokens of user %s",
		                  u->name);
	return twirp_errf(e, TWIRP_NOT_FOUND, "no user %lld", (long long)user_id);
}

int auth_issue_token(struct auth *a, const struct auth_user *actor, int64_t user_id,
                     const char *label, char token[AUTH_TOKEN_BUF], int64_t *token_id,
                     auth_done_cb cb, void *data, struct twirp_err *e)
{
	int rc = may_manage(a, actor, user_id, e);
	if (rc)
		return rc;
	if (label && strlen(label) > 63)
		return twirp_errf(e, TWIRP_INVALID_ARGUMENT, "token label longer than 63 bytes");
	uint8_t hash[32];
	struct pending *p = auth_pending_new(a, 1, cb, data);
	struct store_rec *r = NULL;
	if (!p || auth_new_token(token, hash) ||
	    !(r = token_rec(a->next_token, user_id, label ? label : "", hash, p)) ||
	    !auth_add_token(a, r->id, user_id, hash, 0)) {
		free(p);
		store_rec_free(r);
		return twirp_errf(e, TWIRP_INTERNAL,
		                  "out of memory or no randomness issuing a token");
	}
	if (token_id)
		*token_id = r->id;
	store_submit(a->store, r);
	return auth_ok(e);
}

int auth_revoke_token(struct auth *a, const struct auth_user *actor, int64_t token_id,
                      auth_done_cb cb, void *data, struct twirp_err *e)
{
	struct token *t = token_by_id(a, token_id);
	if (!t)
		return twirp_errf(e, TWIRP_NOT_FOUND, "no token %lld", (long long)token_id);
	int rc = may_manage(a, actor, t->user, e);
	if (rc)
		return rc == TWIRP_NOT_FOUND
		           ? twirp_errf(e, TWIRP_NOT_FOUND, "no token %lld", (long long)token_id)
		           : rc;
	if (t->revoked)
		return twirp_errf(e, TWIRP_NOT_FOUND, "token %lld is already revoked",
		                  (long long)token_id);
	struct pending *p = auth_pending_new(a, 1, cb, data);
	struct store_rec *r = store_rec_new(STORE_TOKEN_REVOKE, 0);
	if (!p || !r) {
		free(p);
		store_rec_free(r);
		return twirp_errf(e, TWIRP_INTERNAL, "out of memory revoking a token");
	}
	r->id = token_id;
	r->cb = auth_rec_done;
	r->data = p;
	t->revoked = 1; /* refused from now on, even before the commit */
	store_submit(a->store, r);
	return auth_ok(e);
}
