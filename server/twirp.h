/*
 * The JSON body of a Twirp error (https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes),
 * shared by the RPC path and the HTTP layer, whose own refusals (a body over the limit, a
 * malformed head) are Twirp errors too. Codes and their HTTP statuses: common.h.
 */
#ifndef VMSIM_SRV_TWIRP_H
#define VMSIM_SRV_TWIRP_H

#include <stddef.h>

#include "common.h"

/* {"code":...,"msg":...[,"meta":{"seq":...}]}, malloc'd; NULL only when out of memory. */
char *twirp_error_json(const struct twirp_err *err, size_t *len);

#endif
