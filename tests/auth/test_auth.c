/* Tests of the auth module (server/auth/): tokens (format, SHA-256 at rest, revocation), user
 * creation rules, ownership per role, quotas with the limit named in the message, persistence
 * across reload. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "auth.h"

struct fx {
	uv_loop_t loop;
	struct store *s;
	struct auth *a;
	char admin_tok[AUTH_TOKEN_BUF];
	const struct auth_user *admin;
	int calls, status;
	char err[256];
};

static void open_all(struct fx *f)
{
	char err[STORE_ERRLEN];
	struct store_opts o = {.path = NULL, .loop = &f->loop};
	f->s = store_open(&o, err, sizeof(err));
	assert_non_null(f->s);
	f->a = auth_new(f->s);
	assert_int_equal(auth_load(f->a, err, sizeof(err)), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct twirp_err e;
	uv_loop_init(&f->loop);
	open_all(f);
	assert_int_equal(auth_init_admin(f->a, "root", f->admin_tok, &e), TWIRP_OK);
	f->admin = auth_user_by_name(f->a, "root");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	auth_free(f->a);
	store_close(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void on_done(int status, const char *err, void *data)
{
	struct fx *f = data;
	f->calls++;
	f->status = status;
	snprintf(f->err, sizeof(f->err), "%s", err ? err : "");
}

static void wait_done(struct fx *f)
{
	while (f->calls == 0)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(f->calls, 1);
	f->calls = 0;
}

/* Creates users and waits for their commit; returns the auth code. */
static int create(struct fx *f, const struct auth_user *actor, const char *const *names, size_t n,
                  enum auth_role role, char (*toks)[AUTH_TOKEN_BUF], int64_t *ids,
                  struct twirp_err *e)
{
	int rc = auth_create_users(f->a, actor, names, n, role, 0, NULL, toks, ids, on_done, f, e);
	if (rc == TWIRP_OK) {
		wait_done(f);
		assert_int_equal(f->status, 0);
	}
	return rc;
}

/* An instructor "ines" with students s1, s2 and another instructor "otto" with student t1. */
static void make_class(struct fx *f, char (*toks)[AUTH_TOKEN_BUF])
{
	struct twirp_err e;
	const char *teachers[] = {"ines", "otto"};
	assert_int_equal(create(f, f->admin, teachers, 2, ROLE_INSTRUCTOR, toks, NULL, &e), 0);
	const char *students[] = {"s1", "s2"};
	assert_int_equal(create(f, auth_user_by_name(f->a, "ines"), students, 2, ROLE_STUDENT,
	                        toks + 2, NULL, &e),
	                 0);
	const char *other[] = {"t1"};
	assert_int_equal(
	    create(f, auth_user_by_name(f->a, "otto"), other, 1, ROLE_STUDENT, toks + 4, NULL, &e),
	    0);
}

static void test_sha256_vector(void **state)
{
	(void)state;
	uint8_t h[32];
	static const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
	                                 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	                                 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
	                                 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	auth_token_hash("abc", h);
	assert_memory_equal(h, want, 32);
	assert_string_equal(twirp_code_name(TWIRP_RESOURCE_EXHAUSTED), "resource_exhausted");
	assert_string_equal(twirp_code_name(TWIRP_NOT_FOUND), "not_found");
	assert_int_equal(auth_role_parse("instructor"), ROLE_INSTRUCTOR);
	assert_int_equal(auth_role_parse("teacher"), -1);
}

static void test_init_admin_token(void **state)
{
	struct fx *f = *state;
	struct twirp_err e;
	assert_int_equal(strlen(f->admin_tok), 70);
	assert_int_equal(strncmp(f->admin_tok, "vmsim_", 6), 0);
	assert_int_equal(strspn(f->admin_tok + 6, "0123456789abcdef"), 64);
	const struct auth_user *u = auth_verify(f->a, f->admin_tok, &e);
	assert_non_null(u);
	assert_int_equal(e.code, TWIRP_OK);
	assert_string_equal(u->name, "root");
	assert_int_equal(u->id, 1);
	assert_int_equal(u->role, ROLE_ADMIN);
	assert_int_equal(u->quota.machines, 0);
	/* only once */
	char tok[AUTH_TOKEN_BUF];
	assert_int_equal(auth_init_admin(f->a, "root2", tok, &e), TWIRP_ALREADY_EXISTS);
	assert_string_equal(e.msg, "an admin already exists (root)");
	assert_int_equal(auth_user_count(f->a), 1);
}

static void test_token_stored_as_sha256_only(void **state)
{
	struct fx *f = *state;
	uint8_t h[32];
	auth_token_hash(f->admin_tok, h);
	struct store_token *t;
	size_t n;
	char err[STORE_ERRLEN];
	assert_int_equal(store_list_tokens(f->s, &t, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(t[0].hash, h, 32);
	assert_int_equal(t[0].user, 1);
	assert_string_equal(t[0].label, "initial");
	free(t);
	/* the clear token appears nowhere in the database */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(store_reader_db(f->s),
	                   "SELECT count(*) FROM tokens WHERE instr(CAST(hash AS TEXT), ?1) OR"
	                   " instr(label, ?1) OR instr(hex(hash), upper(substr(?1, 7)))",
	                   -1, &st, NULL);
	sqlite3_bind_text(st, 1, f->admin_tok, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
}

static void test_bad_tokens(void **state)
{
	struct fx *f = *state;
	struct twirp_err e;
	assert_null(auth_verify(f->a, NULL, &e));
	assert_int_equal(e.code, TWIRP_UNAUTHENTICATED);
	assert_string_equal(e.msg, "missing token: send Authorization: Bearer <token>");
	assert_null(auth_verify(f->a, "", &e));
	assert_string_equal(e.msg, "missing token: send Authorization: Bearer <token>");
	assert_null(auth_verify(f->a, "hunter2", &e));
	assert_string_equal(e.msg, "malformed token: expected vmsim_ followed by 64 hex digits");
	char tok[AUTH_TOKEN_BUF];
	strcpy(tok, f->admin_tok);
	tok[69] = 'G'; /* not hex */
	assert_null(auth_verify(f->a, tok, &e));
	assert_string_equal(e.msg, "malformed token: expected vmsim_ followed by 64 hex digits");
	tok[69] = f->admin_tok[69] == '0' ? '1' : '0'; /* well-formed, one digit off */
	assert_null(auth_verify(f->a, tok, &e));
	assert_int_equal(e.code, TWIRP_UNAUTHENTICATED);
	assert_string_equal(e.msg, "invalid token");
	char longer[AUTH_TOKEN_BUF + 1];
	snprintf(longer, sizeof(longer), "%s0", f->admin_tok); /* one digit too many */
	assert_null(auth_verify(f->a, longer, &e));
	assert_string_equal(e.msg, "malformed token: expected vmsim_ followed by 64 hex digits");
}

static void test_create_users_bulk(void **state)
{
	struct fx *f = *state;
	char toks[8][AUTH_TOKEN_BUF];
	int64_t ids[3];
	struct twirp_err e;
	const char *teachers[] = {"ines"};
	assert_int_equal(create(f, f->admin, teachers, 1, ROLE_INSTRUCTOR, toks, ids, &e), 0);
	assert_int_equal(ids[0], 2);
	const struct auth_user *ines = auth_user_by_name(f->a, "ines");
	const char *students[] = {"ana", "ben.k", "c_3"};
	assert_int_equal(create(f, ines, students, 3, ROLE_STUDENT, toks, ids, &e), 0);
	assert_int_equal(ids[0], 3);
	assert_int_equal(ids[1], 4);
	assert_int_equal(ids[2], 5);
	for (int i = 0; i < 3; i++) {
		const struct auth_user *u = auth_verify(f->a, toks[i], &e);
		assert_non_null(u);
		assert_string_equal(u->name, students[i]);
		assert_int_equal(u->role, ROLE_STUDENT);
		assert_int_equal(u->instructor, ines->id);
		assert_int_equal(u->quota.machines, 10);
		assert_int_equal(u->quota.ram_bytes, 2ll << 30);
		assert_int_equal(u->quota.ops_per_sec, 500);
	}
	assert_string_not_equal(toks[0], toks[1]);
	assert_int_equal(auth_user_count(f->a), 5);
	struct store_user *su;
	size_t n;
	char err[STORE_ERRLEN];
	assert_int_equal(store_list_users(f->s, &su, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_string_equal(su[4].name, "c_3");
	assert_int_equal(su[4].instructor, 2);
	assert_int_equal(su[4].role, ROLE_STUDENT);
	free(su);
}

static void test_create_users_bad_input(void **state)
{
	struct fx *f = *state;
	char toks[4][AUTH_TOKEN_BUF];
	char tok[AUTH_TOKEN_BUF];
	struct twirp_err e;
	const char *one[] = {"ines"};
	assert_int_equal(create(f, f->admin, one, 1, ROLE_INSTRUCTOR, toks, NULL, &e), 0);
	const struct auth_user *ines = auth_user_by_name(f->a, "ines");
	size_t before = auth_user_count(f->a);

	const char *dup[] = {"new1", "ines"};
	assert_int_equal(create(f, f->admin, dup, 2, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_ALREADY_EXISTS);
	assert_string_equal(e.msg, "user \"ines\" already exists");
	assert_null(auth_user_by_name(f->a, "new1")); /* all or nothing */

	const char *twice[] = {"zed", "zed"};
	assert_int_equal(create(f, f->admin, twice, 2, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "user \"zed\" appears twice in the request");

	const char *bad[] = {"Bad Name"};
	assert_int_equal(create(f, f->admin, bad, 1, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "invalid user name \"Bad Name\": use 1-32 of a-z 0-9 . _ - "
	                           "(not starting with . or -)");
	const char *longname[] = {"abcdefghijabcdefghijabcdefghijabc"};
	assert_int_equal(create(f, f->admin, longname, 1, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_int_equal(create(f, f->admin, bad, 0, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "give 1 to 1000 user names, not 0");
	assert_int_equal(create(f, f->admin, one, 1, (enum auth_role)7, toks, NULL, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "unknown role 7");

	/* roles: instructors create students of their own class only; students nobody */
	const char *x[] = {"x"};
	assert_int_equal(create(f, ines, x, 1, ROLE_INSTRUCTOR, toks, NULL, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "instructors create students only, not instructor users");
	assert_int_equal(
	    auth_create_users(f->a, ines, x, 1, ROLE_STUDENT, 1, NULL, toks, NULL, on_done, f, &e),
	    TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "instructors add students to their own class only");
	assert_int_equal(auth_create_users(f->a, f->admin, x, 1, ROLE_STUDENT, 1, NULL, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "user 1 is not an instructor");
	struct auth_quota neg = {-1, 0, 0};
	assert_int_equal(auth_create_users(f->a, f->admin, x, 1, ROLE_STUDENT, 0, &neg, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "quotas cannot be negative");
	const char *s1[] = {"s1"};
	assert_int_equal(create(f, ines, s1, 1, ROLE_STUDENT, toks, NULL, &e), 0);
	const struct auth_user *st = auth_user_by_name(f->a, "s1");
	assert_int_equal(create(f, st, x, 1, ROLE_STUDENT, toks, NULL, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "students cannot create users");
	assert_int_equal(auth_user_count(f->a), before + 1);
	(void)tok;
}

static void test_issue_and_revoke(void **state)
{
	struct fx *f = *state;
	char toks[5][AUTH_TOKEN_BUF], tok[AUTH_TOKEN_BUF];
	struct twirp_err e;
	make_class(f, toks);
	const struct auth_user *s1 = auth_user_by_name(f->a, "s1");
	const struct auth_user *s2 = auth_user_by_name(f->a, "s2");
	const struct auth_user *ines = auth_user_by_name(f->a, "ines");
	const struct auth_user *otto = auth_user_by_name(f->a, "otto");
	int64_t tid;
	/* a student issues a second token for themselves */
	assert_int_equal(auth_issue_token(f->a, s1, s1->id, "laptop", tok, &tid, on_done, f, &e),
	                 TWIRP_OK);
	wait_done(f);
	assert_int_equal(f->status, 0);
	assert_ptr_equal(auth_verify(f->a, tok, &e), s1);
	/* ...but not for a classmate (who they cannot even see) */
	assert_int_equal(auth_issue_token(f->a, s1, s2->id, "", tok, NULL, on_done, f, &e),
	                 TWIRP_NOT_FOUND);
	assert_string_equal(e.msg, "no user 5");
	/* another instructor sees nothing of ines' class */
	assert_int_equal(auth_issue_token(f->a, otto, s1->id, "", tok, NULL, on_done, f, &e),
	                 TWIRP_NOT_FOUND);
	/* a student sees themselves only, so an instructor is "not found" to them too */
	assert_int_equal(auth_revoke_token(f->a, s2, tid, on_done, f, &e), TWIRP_NOT_FOUND);
	assert_string_equal(e.msg, "no token 7");
	/* the instructor revokes the student's token */
	assert_int_equal(auth_revoke_token(f->a, ines, tid, on_done, f, &e), TWIRP_OK);
	assert_null(auth_verify(f->a, tok, &e)); /* at once, before the commit */
	assert_string_equal(e.msg, "token has been revoked");
	wait_done(f);
	assert_int_equal(f->status, 0);
	assert_int_equal(auth_revoke_token(f->a, ines, tid, on_done, f, &e), TWIRP_NOT_FOUND);
	assert_string_equal(e.msg, "token 7 is already revoked");
	assert_int_equal(auth_revoke_token(f->a, ines, 999, on_done, f, &e), TWIRP_NOT_FOUND);
	assert_string_equal(e.msg, "no token 999");
	/* the first token still works */
	assert_ptr_equal(auth_verify(f->a, toks[2], &e), s1);
	/* a label too long */
	char label[80];
	memset(label, 'a', 79);
	label[79] = 0;
	assert_int_equal(auth_issue_token(f->a, s1, s1->id, label, tok, NULL, on_done, f, &e),
	                 TWIRP_INVALID_ARGUMENT);
	assert_string_equal(e.msg, "token label longer than 63 bytes");
	/* an instructor who can see a student's instructor... students see only themselves */
	assert_int_equal(auth_issue_token(f->a, s1, ines->id, "", tok, NULL, on_done, f, &e),
	                 TWIRP_NOT_FOUND);
}

static void test_reload_from_store(void **state)
{
	struct fx *f = *state;
	char toks[5][AUTH_TOKEN_BUF];
	struct twirp_err e;
	make_class(f, toks);
	const struct auth_user *s2 = auth_user_by_name(f->a, "s2");
	/* revoke s2's first token (id 5: root=1, ines=2, otto=3, s1=4, s2=5) */
	assert_int_equal(auth_revoke_token(f->a, f->admin, 5, on_done, f, &e), TWIRP_OK);
	wait_done(f);
	(void)s2;
	auth_free(f->a);
	f->a = auth_new(f->s);
	char err[STORE_ERRLEN];
	assert_int_equal(auth_load(f->a, err, sizeof(err)), 0);
	f->admin = auth_user_by_name(f->a, "root");
	assert_int_equal(auth_user_count(f->a), 6);
	const struct auth_user *u = auth_verify(f->a, toks[2], &e);
	assert_non_null(u);
	assert_string_equal(u->name, "s1");
	assert_int_equal(u->instructor, 2);
	assert_null(auth_verify(f->a, toks[3], &e));
	assert_string_equal(e.msg, "token has been revoked");
	assert_non_null(auth_verify(f->a, f->admin_tok, &e));
	/* new ids continue after the stored ones */
	int64_t ids[1];
	const char *n[] = {"late"};
	assert_int_equal(create(f, f->admin, n, 1, ROLE_STUDENT, toks, ids, &e), 0);
	assert_int_equal(ids[0], 7);
	assert_int_equal(auth_user_by_id(f->a, 7)->role, ROLE_STUDENT);
}

static void test_failed_commit_is_undone(void **state)
{
	struct fx *f = *state;
	char toks[1][AUTH_TOKEN_BUF];
	struct twirp_err e;
	/* make the token insert fail behind auth's back: the user row must not stay alone */
	assert_int_equal(sqlite3_exec(store_reader_db(f->s), "ALTER TABLE tokens RENAME TO gone",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	const char *n[] = {"doomed"};
	assert_int_equal(auth_create_users(f->a, f->admin, n, 1, ROLE_STUDENT, 0, NULL, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_OK);
	assert_non_null(auth_user_by_name(f->a, "doomed")); /* reserved meanwhile */
	wait_done(f);
	assert_int_not_equal(f->status, 0);
	assert_string_equal(f->err, "no such table: tokens");
	assert_null(auth_user_by_name(f->a, "doomed"));
	assert_null(auth_verify(f->a, toks[0], &e));
	assert_string_equal(e.msg, "invalid token");
	sqlite3_stmt *st;
	sqlite3_prepare_v2(store_reader_db(f->s), "SELECT count(*) FROM users", -1, &st, NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1); /* root only */
	sqlite3_finalize(st);
}

static void test_ownership(void **state)
{
	struct fx *f = *state;
	char toks[5][AUTH_TOKEN_BUF];
	struct twirp_err e;
	make_class(f, toks);
	const struct auth_user *ines = auth_user_by_name(f->a, "ines");
	const struct auth_user *otto = auth_user_by_name(f->a, "otto");
	const struct auth_user *s1 = auth_user_by_name(f->a, "s1");
	const struct auth_user *s2 = auth_user_by_name(f->a, "s2");
	const struct auth_user *t1 = auth_user_by_name(f->a, "t1");
	/* machine 10 owned by s1 */
	assert_int_equal(auth_check_machine(f->a, s1, 10, s1->id, 0, AUTH_WRITE, &e), TWIRP_OK);
	assert_int_equal(auth_check_machine(f->a, f->admin, 10, s1->id, 0, AUTH_WRITE, &e),
	                 TWIRP_OK);
	assert_int_equal(auth_check_machine(f->a, s2, 10, s1->id, 0, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	assert_string_equal(e.msg, "machine 10 not found");
	assert_int_equal(auth_check_machine(f->a, s2, 10, s1->id, 0, AUTH_WRITE, &e),
	                 TWIRP_NOT_FOUND);
	assert_int_equal(auth_check_machine(f->a, ines, 10, s1->id, 0, AUTH_READ, &e), TWIRP_OK);
	assert_int_equal(auth_check_machine(f->a, ines, 10, s1->id, 0, AUTH_WRITE, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "machine 10 of s1 is read-only for you");
	assert_int_equal(auth_check_machine(f->a, otto, 10, s1->id, 0, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	/* machine 20 owned by ines, shared read-only with her class */
	assert_int_equal(auth_check_machine(f->a, s1, 20, ines->id, 0, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	assert_int_equal(auth_check_machine(f->a, s1, 20, ines->id, 1, AUTH_READ, &e), TWIRP_OK);
	assert_int_equal(auth_check_machine(f->a, s1, 20, ines->id, 1, AUTH_WRITE, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "machine 20 of ines is read-only for you");
	assert_int_equal(auth_check_machine(f->a, t1, 20, ines->id, 1, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	assert_int_equal(auth_check_machine(f->a, otto, 20, ines->id, 1, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	/* a "shared" flag on a student's machine shares nothing */
	assert_int_equal(auth_check_machine(f->a, s2, 10, s1->id, 1, AUTH_READ, &e),
	                 TWIRP_NOT_FOUND);
	/* user visibility */
	assert_true(auth_can_see_user(f->a, ines, s1));
	assert_false(auth_can_see_user(f->a, ines, t1));
	assert_false(auth_can_see_user(f->a, s1, s2));
	assert_true(auth_can_see_user(f->a, s1, s1));
	assert_true(auth_can_see_user(f->a, f->admin, t1));
}

static void test_machine_quota(void **state)
{
	struct fx *f = *state;
	char toks[1][AUTH_TOKEN_BUF];
	struct twirp_err e;
	struct auth_quota q = {.machines = 2, .ram_bytes = 256ll << 20, .ops_per_sec = 0};
	const char *n[] = {"q"};
	assert_int_equal(auth_create_users(f->a, f->admin, n, 1, ROLE_STUDENT, 0, &q, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_OK);
	wait_done(f);
	int64_t id = auth_user_by_name(f->a, "q")->id;
	assert_int_equal(auth_reserve_machine(f->a, id, 64ll << 20, 0, &e), TWIRP_OK);
	assert_int_equal(auth_reserve_machine(f->a, id, 256ll << 20, 0, &e),
	                 TWIRP_RESOURCE_EXHAUSTED);
	assert_string_equal(
	    e.msg, "quota exceeded: RAM (q uses 64 MiB of 256 MiB, this machine needs 256 MiB)");
	assert_int_equal(auth_reserve_machine(f->a, id, 128ll << 20, 0, &e), TWIRP_OK);
	assert_int_equal(auth_reserve_machine(f->a, id, 4ll << 20, 0, &e),
	                 TWIRP_RESOURCE_EXHAUSTED);
	assert_string_equal(e.msg, "quota exceeded: machines (q has 2 of 2)");
	const struct auth_user *u = auth_user_by_id(f->a, id);
	assert_int_equal(u->machines, 2);
	assert_int_equal(u->ram_bytes, 192ll << 20);
	auth_release_machine(f->a, id, 128ll << 20);
	assert_int_equal(u->machines, 1);
	assert_int_equal(u->ram_bytes, 64ll << 20);
	assert_int_equal(auth_reserve_machine(f->a, id, 192ll << 20, 0, &e), TWIRP_OK);
	/* recovery charges existing machines even over the limit */
	assert_int_equal(auth_reserve_machine(f->a, id, 64ll << 20, 1, &e), TWIRP_OK);
	assert_int_equal(u->machines, 3);
	/* admins are unlimited */
	for (int i = 0; i < 50; i++)
		assert_int_equal(auth_reserve_machine(f->a, f->admin->id, 1ll << 30, 0, &e),
		                 TWIRP_OK);
	assert_int_equal(auth_reserve_machine(f->a, 999, 1, 0, &e), TWIRP_NOT_FOUND);
}

static void test_rate_quota(void **state)
{
	struct fx *f = *state;
	char toks[1][AUTH_TOKEN_BUF];
	struct twirp_err e;
	struct auth_quota q = {.machines = 0, .ram_bytes = 0, .ops_per_sec = 10};
	const char *n[] = {"r"};
	assert_int_equal(auth_create_users(f->a, f->admin, n, 1, ROLE_STUDENT, 0, &q, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_OK);
	wait_done(f);
	int64_t id = auth_user_by_name(f->a, "r")->id;
	uint64_t t = 5000000000ull;
	for (int i = 0; i < 10; i++) /* the bucket starts full: a burst of one second's ops */
		assert_int_equal(auth_rate_check(f->a, id, t, &e), TWIRP_OK);
	assert_int_equal(auth_rate_check(f->a, id, t, &e), TWIRP_RESOURCE_EXHAUSTED);
	assert_string_equal(e.msg, "quota exceeded: ops per second (r may run 10 ops/s)");
	/* 100 ms later exactly one more op fits */
	assert_int_equal(auth_rate_check(f->a, id, t + 100000000ull, &e), TWIRP_OK);
	assert_int_equal(auth_rate_check(f->a, id, t + 100000000ull, &e), TWIRP_RESOURCE_EXHAUSTED);
	/* an idle hour refills to the cap, not beyond */
	t += 3600ull * 1000000000ull;
	for (int i = 0; i < 10; i++)
		assert_int_equal(auth_rate_check(f->a, id, t, &e), TWIRP_OK);
	assert_int_equal(auth_rate_check(f->a, id, t, &e), TWIRP_RESOURCE_EXHAUSTED);
	/* unlimited admin */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(auth_rate_check(f->a, f->admin->id, t, &e), TWIRP_OK);
}

/* An instructor grants quotas within their own and never unlimited; an admin grants any. */
static void test_granted_quota_capped(void **state)
{
	struct fx *f = *state;
	char toks[8][AUTH_TOKEN_BUF];
	struct twirp_err e;
	make_class(f, toks);
	const struct auth_user *ines = auth_user_by_name(f->a, "ines");
	const char *one[] = {"g1"};
	struct auth_quota unlimited = {0, 0, 0};
	assert_int_equal(auth_create_users(f->a, ines, one, 1, ROLE_STUDENT, 0, &unlimited, toks,
	                                   NULL, on_done, f, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "unlimited quotas are for admins to grant: set machines, RAM "
	                           "and ops per second (at most 100, 16384 MiB, 5000)");
	struct auth_quota some_unlimited = {5, 0, 100};
	assert_int_equal(auth_create_users(f->a, ines, one, 1, ROLE_STUDENT, 0, &some_unlimited,
	                                   toks, NULL, on_done, f, &e),
	                 TWIRP_PERMISSION_DENIED);
	struct auth_quota above = {5, 1ll << 30, 5001};
	assert_int_equal(auth_create_users(f->a, ines, one, 1, ROLE_STUDENT, 0, &above, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_PERMISSION_DENIED);
	assert_string_equal(e.msg, "ines may grant at most 100 machines, 16384 MiB of RAM and "
	                           "5000 ops per second");
	assert_null(auth_user_by_name(f->a, "g1"));
	struct auth_quota within = {5, 1ll << 30, 5000};
	assert_int_equal(auth_create_users(f->a, ines, one, 1, ROLE_STUDENT, 0, &within, toks, NULL,
	                                   on_done, f, &e),
	                 TWIRP_OK);
	wait_done(f);
	assert_int_equal(auth_user_by_name(f->a, "g1")->quota.ops_per_sec, 5000);
	const char *two[] = {"g2"};
	assert_int_equal(auth_create_users(f->a, f->admin, two, 1, ROLE_STUDENT, 0, &unlimited,
	                                   toks, NULL, on_done, f, &e),
	                 TWIRP_OK);
	wait_done(f);
	assert_int_equal(auth_user_by_name(f->a, "g2")->quota.machines, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha256_vector),
	    T(test_granted_quota_capped),
	    T(test_init_admin_token),
	    T(test_token_stored_as_sha256_only),
	    T(test_bad_tokens),
	    T(test_create_users_bulk),
	    T(test_create_users_bad_input),
	    T(test_issue_and_revoke),
	    T(test_reload_from_store),
	    T(test_failed_commit_is_undone),
	    T(test_ownership),
	    T(test_machine_quota),
	    T(test_rate_quota),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
