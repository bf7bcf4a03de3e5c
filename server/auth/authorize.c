/*
 * Who may see and change what (auth.h): users by role and class, machines by owner and
 * sharing. A machine the caller may not see reads as absent.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ownership ---- */

int auth_can_see_user(const struct auth *a, const struct auth_user *actor,
                      const struct auth_user *target)
{
	(void)a;
	return actor->role == ROLE_ADMIN || actor->id == target->id ||
	       (actor->role == ROLE_INSTRUCTOR && target->instructor == actor->id);
}

int auth_check_machine(const struct auth *a, const struct auth_user *actor, int64_t id,
                       int64_t owner, int shared, enum auth_access access, struct twirp_err *e)
{
	if (actor->role == ROLE_ADMIN || actor->id == owner)
		return auth_ok(e);
	const struct auth_user *o = auth_user_by_id(a, owner);
	/* an instructor sees their students' machines; a class sees what its instructor shares */
	int sees = o && ((actor->role == ROLE_INSTRUCTOR && o->instructor == actor->id) ||
	                 (shared && o->role == ROLE_INSTRUCTOR && actor->instructor == o->id));
	if (!sees)
		return twirp_errf(e, TWIRP_NOT_FOUND, "machine %lld not found", (long long)id);
	if (access == AUTH_WRITE)
		return twirp_errf(e, TWIRP_PERMISSION_DENIED,
		                  "machine %lld of %s is read-only for you", (long long)id,
		                  o->name);
	return auth_ok(e);
}
