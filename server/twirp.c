/*
 * The Twirp error body (twirp.h).
 */
#include "twirp.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_json.h"

char *twirp_error_json(const struct twirp_err *err, size_t *len)
{
	/* The message may quote what the client sent, or be cut inside a UTF-8 sequence by its
	 * fixed buffer: pb_json_string keeps the JSON valid whatever it holds. */
	json_t *j = json_pack("{s:s,s:o}", "code", twirp_code_name(err->code), "msg",
	                      pb_json_string(err->msg));
	if (j && err->seq) { /* Twirp meta values are strings */
		char seq[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)err->seq);
		json_object_set_new(j, "meta", json_pack("{s:s}", "seq", seq));
	}
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s)
		*len = strlen(s);
	return s;
}
