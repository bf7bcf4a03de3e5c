/*
 * Who may call what in vmsimd, as the server's hooks: srv->authorize (bearer token, machine
 * ownership, quotas, the ops/s bucket), srv->visible (ListMachines shows only what the caller
 * may see) and srv->charge (a request's work before it runs). The rules are the auth
 * module's; this adapts them to requests. Hidden machines answer exactly like absent ones.
 */
#ifndef VMSIM_SRV_ACCESS_H
#define VMSIM_SRV_ACCESS_H

#include <stdint.h>

#include "auth.h"
#include "server.h"

struct durable;

/* Installs the three hooks on srv, judging by d's users and machine owners. */
void access_install(struct srv *srv, struct durable *d);

int access_authorize(void *data, struct srv_identity *who, const char *method,
                     const char *machine_id, struct twirp_err *err);
int access_visible(void *data, const struct srv_identity *who, const struct srv_machine *sm);
int access_charge(void *data, const struct srv_identity *who, uint64_t ops, struct twirp_err *err);

/* The caller of an RPC: their user, or the open-mode admin. */
const struct auth_user *access_caller(const struct srv_identity *who);

#endif
