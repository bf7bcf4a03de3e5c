/*
 * What the files of the auth module share and nothing outside it sees (the public interface
 * is auth.h).
 */
#ifndef VMSIM_AUTH_INTERNAL_H
#define VMSIM_AUTH_INTERNAL_H

#include "auth.h"

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

/* Clears e (when not NULL) and returns TWIRP_OK; twirp_errf (common.h) fills it. */
int auth_ok(struct twirp_err *e);

/* Completion of a group of records: undoes in memory what did not commit, then calls cb. */
struct pending {
	struct auth *a;
	size_t left;
	int status;
	char err[STORE_ERRLEN];
	auth_done_cb cb;
	void *data;
};

/* Shared between the module's files. */
void auth_remove_user(struct auth *a, int64_t id);
struct auth_user *auth_user_mut(struct auth *a, int64_t id);
int auth_grow(void *arrp, size_t *cap, size_t need, size_t size);
int auth_reindex(struct auth *a);
struct token *auth_add_token(struct auth *a, int64_t id, int64_t user, const uint8_t hash[32],
                             int revoked);
void auth_remove_token(struct auth *a, int64_t id);
int auth_new_token(char out[AUTH_TOKEN_BUF], uint8_t hash[32]);
void auth_rec_done(struct store_rec *rec, int status, const char *err, void *data);
struct pending *auth_pending_new(struct auth *a, size_t n, auth_done_cb cb, void *data);

#endif
