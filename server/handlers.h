/*
 * The RPC handlers, module by module. Each registers its methods in the server's method table
 * (rpc_register) at startup; main.c wires them, and rpc_check_methods then checks that every
 * method of vmsim.v1.VmSim has one.
 */
#ifndef VMSIM_SRV_HANDLERS_H
#define VMSIM_SRV_HANDLERS_H

struct srv;
struct srv_call;
struct durable;

/* api.c: machines, ops, Apply, inspection, exercises. */
int api_register(struct srv *s);
/* history_rpc.c: named snapshots, time travel, History, export/import. */
int history_rpc_register(struct srv *s, struct durable *d);
/* users_rpc.c: users, tokens, sharing. */
int users_rpc_register(struct srv *s, struct durable *d);
/* results_rpc.c: ExerciseResults. */
int results_rpc_register(struct srv *s, struct durable *d);

/* Fails c with invalid_argument naming the exercise topics on offer. */
void api_fail_topic(struct srv_call *c, const char *topic);

#endif
