/*
 * RPC dispatch: the one path every Twirp call takes, whatever its transport encoding.
 *
 *   rpc_dispatch: find method -> decode (protobuf | JSON) -> srv->authorize(who, method,
 *   machine id) -> handler (the method table) -> [state changed: srv->commit(record), maybe
 *   async] -> encode -> done(call)
 *
 * Handlers fill the call with rpc_reply()/rpc_fail() and, when they changed state, with a
 * commit record (rpc_commit_ops(), ...). The response leaves only after the commit is done.
 */
#ifndef VMSIM_SRV_RPC_H
#define VMSIM_SRV_RPC_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "twirp.h"

struct srv_call;
struct rpc_arena;
typedef void (*rpc_done_fn)(struct srv_call *call, void *arg);
typedef void (*rpc_handler_fn)(struct srv_call *call);

struct srv_call {
	struct srv *srv;
	const char *method; /* "AllocPages" */
	const ProtobufCMethodDescriptor *md;
	struct srv_identity *who;
	int json; /* the request was JSON: answer in JSON */
	ProtobufCMessage *req;
	struct rpc_arena *arena; /* owns req when it was unpacked from protobuf */
	const char *machine_id;  /* the request's machine_id, "" if it has none */

	int failed;
	struct twirp_err err;
	char *out; /* encoded response */
	size_t out_len;

	int has_commit; /* a change to journal (even when the call failed) */
	int commit_failed;
	struct srv_commit commit;
	struct op op1;  /* storage for a single op's commit record */
	struct op *ops; /* storage for a batch (freed with the call) */
	char id_copy[32], name_copy[72];
	struct machine_config cfg_copy;

	void *data; /* what the method's handler was registered with (rpc_register) */
	rpc_done_fn done;
	void *done_arg;
	int deferred; /* the handler finishes later with rpc_resume() (disk reads off the loop) */
	struct srv_call *parked_next; /* waiting for its machine's sliced request (apply_slice.c) */
};

/* Resolves the op table: 0, or -1 + reason. Call once before rpc_dispatch. */
int rpc_init(char *err, size_t len);

/* One entry of the server's method table, indexed like the service's methods. */
struct rpc_method {
	rpc_handler_fn fn;
	void *data; /* handed to the handler as call->data */
};
/* Makes fn (with data) the handler of method; -1 if the service has no such method or out
 * of memory. Each module registers its methods at startup (handlers.h). */
int rpc_register(struct srv *s, const char *method, rpc_handler_fn fn, void *data);
/* 0 when every method of vmsim.v1.VmSim has a handler, else -1 naming the first without. A
 * call of a method without one answers unimplemented. */
int rpc_check_methods(const struct srv *s, char *err, size_t len);

/* Runs one call; done(call, arg) is invoked exactly once (maybe before this returns); call
 * is NULL only when the call could not even be allocated. */
void rpc_dispatch(struct srv *s, const char *method, int json, const char *body, size_t len,
                  struct srv_identity *who, rpc_done_fn done, void *arg);
/* Authorization, then rpc_run (or a wait for the call's machine); rpc_dispatch runs it unless
 * the call waits for a CreateMachine booting off the loop (boot.c runs it then). */
void rpc_admit(struct srv_call *c);
/* The handler and commit of an authorized call; rpc_dispatch runs it unless the call waits
 * for its machine (apply_slice.c runs it then). */
void rpc_run(struct srv_call *c);
/* Frees a call once its response has been used (called by the transport after done). */
void rpc_call_free(struct srv_call *c);

/* For handlers that finish later (work on a uv thread, or their own commit): rpc_defer()
 * before returning, then rpc_resume() exactly once on the loop thread when the reply (or
 * failure) is set. */
void rpc_defer(struct srv_call *c);
void rpc_resume(struct srv_call *c);

/* For handlers. */
void rpc_reply(struct srv_call *c, const ProtobufCMessage *resp);
void rpc_fail(struct srv_call *c, enum twirp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rpc_fail_vm(struct srv_call *c, enum vm_err e, const char *msg);

/* Twirp code for a core error (twirp_error_json in twirp.h: the error body). */
enum twirp_code twirp_code(enum vm_err e);

#endif
