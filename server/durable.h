/*
 * What makes vmsimd durable and multi-user: it opens the store, recovers every machine at
 * start, plugs into the server's seams (srv->commit: journal before acknowledging;
 * srv->authorize and srv->visible: tokens, ownership, quotas) and serves the RPCs of users,
 * snapshots, time-travel and export/import.
 */
#ifndef VMSIM_SRV_DURABLE_H
#define VMSIM_SRV_DURABLE_H

#include <stdint.h>
#include <stdio.h>

#include "auth.h"
#include "store.h"
#include "rpc.h"
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
 * installs the seams. srv->loop must be set. Logs what recovery found through srv_log. */
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

/* Handlers of the RPCs this layer serves (NULL for other methods). */
rpc_handler_fn durable_handler(const ProtobufCMethodDescriptor *md);

/* "m12" -> 12; -1 if id is not of that form. */
int64_t durable_machine_num(const char *id);
struct durable_meta *durable_meta_get(struct durable *d, int64_t id);

/* access.c: the authorize and visible seams, and the users RPCs. */
int access_authorize(void *data, struct srv_identity *who, const char *method,
                     const char *machine_id, struct twirp_err *err);
int access_visible(void *data, const struct srv_identity *who, const struct srv_machine *sm);
int access_charge(void *data, const struct srv_identity *who, uint64_t ops, struct twirp_err *err);
rpc_handler_fn access_handler(const ProtobufCMethodDescriptor *md);
/* The caller of an RPC: their user, or the open-mode admin. */
const struct auth_user *access_caller(const struct srv_call *c);

#endif
