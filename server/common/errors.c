/*
 * The Twirp error codes: one table of names and HTTP statuses (common.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const struct {
	const char *name;
	int status;
} codes[TWIRP_NR_CODES] = {
    [TWIRP_OK] = {"ok", 200},
    [TWIRP_CANCELED] = {"canceled", 408},
    [TWIRP_UNKNOWN] = {"unknown", 500},
    [TWIRP_INVALID_ARGUMENT] = {"invalid_argument", 400},
    [TWIRP_MALFORMED] = {"malformed", 400},
    [TWIRP_DEADLINE_EXCEEDED] = {"deadline_exceeded", 408},
    [TWIRP_NOT_FOUND] = {"not_found", 404},
    [TWIRP_BAD_ROUTE] = {"bad_route", 404},
    [TWIRP_ALREADY_EXISTS] = {"already_exists", 409},
    [TWIRP_PERMISSION_DENIED] = {"permission_denied", 403},
    [TWIRP_UNAUTHENTICATED] = {"unauthenticated", 401},
    [TWIRP_RESOURCE_EXHAUSTED] = {"resource_exhausted", 429},
    [TWIRP_FAILED_PRECONDITION] = {"failed_precondition", 412},
    [TWIRP_ABORTED] = {"aborted", 409},
    [TWIRP_OUT_OF_RANGE] = {"out_of_range", 400},
    [TWIRP_UNIMPLEMENTED] = {"unimplemented", 501},
    [TWIRP_INTERNAL] = {"internal", 500},
    [TWIRP_UNAVAILABLE] = {"unavailable", 503},
    [TWIRP_DATALOSS] = {"dataloss", 500},
};

const char *twirp_code_name(enum twirp_code c)
{
	return (unsigned)c < TWIRP_NR_CODES ? codes[c].name : "unknown";
}

int twirp_code_status(enum twirp_code c)
{
	return (unsigned)c < TWIRP_NR_CODES ? codes[c].status : 500;
}

int twirp_code_parse(const char *name)
{
	for (int i = 0; i < TWIRP_NR_CODES; i++)
		if (!strcmp(codes[i].name, name))
			return i;
	return -1;
}

int twirp_errf(struct twirp_err *e, enum twirp_code code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		e->code = code;
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return (int)code;
}
