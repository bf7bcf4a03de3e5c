/*
 * What makes vmsimd durable: it opens the store and the users, recovers every machine at
 * start into the registry, and plugs into the commit seam (srv->commit: journal before
 * acknowledging). The machine ownership table lives here, for the access hooks (access.h)
 * and the history RPCs.
 */
#ifndef VMSIM_SRV_DURABLE_H
#define VMSIM_SRV_DURABLE_H

#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "server.h"
#include "store.h"

/* Ownership and size of a hosted machine (by numeric id: machine "m12" is 12). */
struct durable_meta {
	int64_t id, owner; /* owner 0: created in --open mode, belongs to nobody */
	int64_t ram;
	int shared;
};

struct durable {
	struct srv *srv;
	struct store *store;
	struct persist *persist;
	struct auth *auth;
	int open; /* --open: no authentication, every caller is an admin */
	/* --student-solve: students may see exercise solutions too (else instructors, admins) */
	int student_solve;
	struct durable_meta *meta;
	size_t nmeta, capmeta;
};

/* Opens db (":memory:" = ephemeral), loads users, recovers every machine into srv->reg and
 * installs the commit seam. srv->loop must be set. Logs what recovery found through srv_log. */
int durable_open(struct durable *d, struct srv *srv, const char *db, uint32_t checkpoint_every,
                 int open, char *err, size_t el);
/* After the loop has stopped: commits what is queued and closes the store. */
void durable_close(struct durable *d);

/* vmsimd --check: integrity_check + every machine replayed against its snapshots. Prints one
 * line per finding and a summary to out; 0 when everything is consistent. */
int durable_check(const char *db, FILE *out);
/* vmsimd --init-admin: creates the first admin and prints its token once. */
int durable_init_admin(const char *db, const char *name, FILE *out, FILE *errout);

/* The journal form of ops (protobuf Op, server/ops.c). */
extern const struct persist_codec durable_codec;

struct durable_meta *durable_meta_get(struct durable *d, int64_t id);
/* Records machine id of owner (charging owner's quota); NULL out of memory. */
struct durable_meta *durable_meta_add(struct durable *d, int64_t id, int64_t owner, int64_t ram,
                                      int shared);

#endif
