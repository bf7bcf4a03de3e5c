/*
 * Who may do what in vmsimd: users with a role (admin, instructor, student), bearer tokens,
 * machine ownership and per-user quotas. Kept in memory on the loop thread (verifying a token
 * never touches disk); every change is persisted through the store before it is acknowledged.
 */
#ifndef VMSIM_AUTH_H
#define VMSIM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "store.h"

enum auth_role {
	ROLE_ADMIN = 0,
	ROLE_INSTRUCTOR = 1,
	ROLE_STUDENT = 2,
};

/* Quotas; 0 = unlimited. ops_per_sec is a token bucket holding one second's worth. */
struct auth_quota {
	int64_t machines;
	int64_t ram_bytes;
	int64_t ops_per_sec;
};

#define AUTH_NAME_MAX 32
/* "vmsim_" + 64 hex digits (256 random bits) + NUL */
#define AUTH_TOKEN_PREFIX "vmsim_"
#define AUTH_TOKEN_BUF    (6 + 64 + 1)

struct auth_user {
	int64_t id;
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	int64_t instructor; /* a student's instructor (their class); 0 none */
	struct auth_quota quota;
	/* usage, rebuilt at recovery */
	int64_t machines, ram_bytes;
	double bucket;    /* ops available now */
	uint64_t last_ns; /* when the bucket was last refilled */
	int bucket_init;  /* 0 until the first op (the bucket starts full) */
};

struct auth;

struct auth *auth_new(struct store *s);
void auth_free(struct auth *a);
/* Loads users and tokens from the store (startup; synchronous). */
int auth_load(struct auth *a, char *err, size_t el);

const char *auth_role_name(enum auth_role r);
/* "admin", "instructor", "student" -> role; -1 if none. */
int auth_role_parse(const char *name);
void auth_default_quota(enum auth_role r, struct auth_quota *q);

size_t auth_user_count(const struct auth *a);
const struct auth_user *auth_user_at(const struct auth *a, size_t i);
const struct auth_user *auth_user_by_id(const struct auth *a, int64_t id);
const struct auth_user *auth_user_by_name(const struct auth *a, const char *name);

/* The user a presented token belongs to, or NULL with UNAUTHENTICATED (missing, malformed,
 * unknown or revoked token, each said so). The comparison is constant-time. */
const struct auth_user *auth_verify(struct auth *a, const char *token, struct twirp_err *e);

/* ---- changes: checked now, persisted through the store, cb once committed ---- */

typedef void (*auth_done_cb)(int status, const char *err, void *data);

/*
 * `actor` creates n users of `role` (admin: any role; instructor: students of their own class;
 * student: none). All names are checked first: on any bad or taken name nothing is created.
 * instructor: the class of new students (0: the actor when an instructor). quota NULL: the
 * role's defaults. Each user gets a first token, written to tokens[i] (shown once); ids[i]
 * receives the ids. cb runs once when every record has committed.
 */
int auth_create_users(struct auth *a, const struct auth_user *actor, const char *const *names,
                      size_t n, enum auth_role role, int64_t instructor,
                      const struct auth_quota *quota, char (*tokens)[AUTH_TOKEN_BUF], int64_t *ids,
                      auth_done_cb cb, void *data, struct twirp_err *e);

/* A new token for user_id (themselves, their instructor, or an admin); written to token. */
int auth_issue_token(struct auth *a, const struct auth_user *actor, int64_t user_id,
                     const char *label, char token[AUTH_TOKEN_BUF], int64_t *token_id,
                     auth_done_cb cb, void *data, struct twirp_err *e);
/* Revokes a token by id (same permission as issuing); it stops working at once. */
int auth_revoke_token(struct auth *a, const struct auth_user *actor, int64_t token_id,
                      auth_done_cb cb, void *data, struct twirp_err *e);

/* --init-admin: creates the first admin synchronously (fails if an admin exists). */
int auth_init_admin(struct auth *a, const char *name, char token[AUTH_TOKEN_BUF],
                    struct twirp_err *e);

/* ---- ownership ---- */

enum auth_access {
	AUTH_READ = 0,
	AUTH_WRITE = 1,
};

/* May actor see `target` (ListUsers)? admin all, instructor self + class, student self. */
int auth_can_see_user(const struct auth *a, const struct auth_user *actor,
                      const struct auth_user *target);

/*
 * May actor read/write machine `id` owned by `owner`, shared read-only with the owner's class
 * if `shared`? TWIRP_OK, or NOT_FOUND for a machine the actor may not even see (existence is
 * not revealed), or PERMISSION_DENIED for one they see but may not change.
 */
int auth_check_machine(const struct auth *a, const struct auth_user *actor, int64_t id,
                       int64_t owner, int shared, enum auth_access access, struct twirp_err *e);

/* ---- quotas ---- */

/* Takes one machine of ram_bytes from user's quota, or RESOURCE_EXHAUSTED naming the limit.
 * force: charge without checking (recovery of existing machines). */
int auth_reserve_machine(struct auth *a, int64_t user_id, int64_t ram_bytes, int force,
                         struct twirp_err *e);
void auth_release_machine(struct auth *a, int64_t user_id, int64_t ram_bytes);
/* Takes n more ops from the bucket auth_rate_check just refilled, for a request whose work
 * costs 1 + n ops (server/cost.h), before it runs. It must hold n, or have been full: a request
 * costing more than the whole bucket runs then and leaves it below zero, which refuses the
 * user's next ops until it has refilled. RESOURCE_EXHAUSTED otherwise. */
int auth_rate_take(struct auth *a, int64_t user_id, uint64_t n, struct twirp_err *e);
/* Takes one op from user's token bucket at monotonic time now_ns, or RESOURCE_EXHAUSTED. */
int auth_rate_check(struct auth *a, int64_t user_id, uint64_t now_ns, struct twirp_err *e);

/* SHA-256 of a token string, as stored (exposed for tests and tools). */
void auth_token_hash(const char *token, uint8_t out[32]);

#endif
