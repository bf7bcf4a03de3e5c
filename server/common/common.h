/*
 * What every part of vmsimd shares, below the store, auth and HTTP layers: the Twirp error
 * codes (one enum, one table of names and HTTP statuses), the error every layer fills, and
 * host allocation that aborts on out-of-memory instead of returning NULL.
 */
#ifndef VMSIM_COMMON_H
#define VMSIM_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The Twirp error codes (https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes). */
enum twirp_code {
	TWIRP_OK = 0,
	TWIRP_CANCELED,
	TWIRP_UNKNOWN,
	TWIRP_INVALID_ARGUMENT,
	TWIRP_MALFORMED,
	TWIRP_DEADLINE_EXCEEDED,
	TWIRP_NOT_FOUND,
	TWIRP_BAD_ROUTE,
	TWIRP_ALREADY_EXISTS,
	TWIRP_PERMISSION_DENIED,
	TWIRP_UNAUTHENTICATED,
	TWIRP_RESOURCE_EXHAUSTED,
	TWIRP_FAILED_PRECONDITION,
	TWIRP_ABORTED,
	TWIRP_OUT_OF_RANGE,
	TWIRP_UNIMPLEMENTED,
	TWIRP_INTERNAL,
	TWIRP_UNAVAILABLE,
	TWIRP_DATALOSS,
	TWIRP_NR_CODES,
};

/* "invalid_argument", ...; "unknown" out of range. */
const char *twirp_code_name(enum twirp_code c);
/* The HTTP status Twirp sends with a code (400, 404, ...; 500 out of range). */
int twirp_code_status(enum twirp_code c);
/* A code's name back to the code; -1 if it names none. */
int twirp_code_parse(const char *name);

/* An error as every layer reports it: what kind (a Twirp code) and a message for the user. */
struct twirp_err {
	enum twirp_code code;
	char msg[256];
	uint64_t seq; /* an op that failed partway and was journaled: its seq (meta "seq") */
};

/* Fills e (when not NULL) and returns code. */
int twirp_errf(struct twirp_err *e, enum twirp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first index of a sorted array whose element's leading int64_t id is >= id (n if none):
 * where id is, or where it would be inserted. The tables of machines and users keep their id
 * as the first field for this. */
size_t id_lower_bound(const void *base, size_t n, size_t size, int64_t id);

/* Host memory: these abort with a message when the host is out of memory (as Redis's zmalloc
 * does), so no caller handles NULL. The simulated machine's allocators are not these. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
