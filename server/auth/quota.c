/*
 * Quotas (auth.h): machines and RAM per user, charged when a machine is created and released
 * when it goes, and an ops/s token bucket.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- quotas ---- */

int auth_reserve_machine(struct auth *a, int64_t user_id, int64_t ram_bytes, int force,
                         struct twirp_err *e)
{
	struct auth_user *u = auth_user_mut(a, user_id);
	if (!u)
		return twirp_errf(e, TWIRP_NOT_FOUND, "no user %lld", (long long)user_id);
	if (!force && u->quota.machines && u->machines + 1 > u->quota.machines)
		return twirp_errf(e, TWIRP_RESOURCE_EXHAUSTED,
		                  "quota exceeded: machines (%s has %lld of %lld)", u->name,
		                  (long long)u->machines, (long long)u->quota.machines);
	if (!force && u->quota.ram_bytes && u->ram_bytes + ram_bytes > u->quota.ram_bytes)
		return twirp_errf(e, TWIRP_RESOURCE_EXHAUSTED,
		                  "quota exceeded: RAM (%s uses %lld MiB of %lld MiB, this machine "
		                  "needs %lld MiB)",
		                  u->name, (long long)(u->ram_bytes >> 20),
		                  (long long)(u->quota.ram_bytes >> 20),
		                  (long long)(ram_bytes >> 20));
	u->machines++;
	u->ram_bytes += ram_bytes;
	return auth_ok(e);
}

void auth_release_machine(struct auth *a, int64_t user_id, int64_t ram_bytes)
{
	struct auth_user *u = auth_user_mut(a, user_id);
	if (!u)
		return;
	u->machines = u->machines > 0 ? u->machines - 1 : 0;
	u->ram_bytes = u->ram_bytes > ram_bytes ? u->ram_bytes - ram_bytes : 0;
}

int auth_rate_take(struct auth *a, int64_t user_id, uint64_t n, struct twirp_err *e)
{
	struct auth_user *u = auth_user_mut(a, user_id);
	if (!u || !u->quota.ops_per_sec || !u->bucket_init || !n)
		return auth_ok(e);
	double cap = (double)u->quota.ops_per_sec;
	if (u->bucket < (double)n && u->bucket + 1.0 < cap) /* full: cap - 1 after check's op */
		return twirp_errf(e, TWIRP_RESOURCE_EXHAUSTED,
		                  "quota exceeded: ops per second (%s may run %lld ops/s; this "
		                  "request's work costs %llu ops)",
		                  u->name, (long long)u->quota.ops_per_sec,
		                  (unsigned long long)n + 1);
	u->bucket -= (double)n;
	return auth_ok(e);
}

int auth_rate_check(struct auth *a, int64_t user_id, uint64_t now_ns, struct twirp_err *e)
{
	struct auth_user *u = auth_user_mut(a, user_id);
	if (!u)
		return twirp_errf(e, TWIRP_NOT_FOUND, "no user %lld", (long long)user_id);
	double cap = (double)u->quota.ops_per_sec;
	if (!u->quota.ops_per_sec)
		return auth_ok(e);
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
		return twirp_errf(e, TWIRP_RESOURCE_EXHAUSTED,
		                  "quota exceeded: ops per second (%s may run %lld ops/s)", u->name,
		                  (long long)u->quota.ops_per_sec);
	u->bucket -= 1.0;
	return auth_ok(e);
}
