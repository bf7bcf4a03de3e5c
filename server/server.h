/*
 * vmsimd's shared state: the config, the loop, the machine registry and the two seams
 * the persistence and auth layers plug into (srv->authorize, srv->commit). One thread runs
 * everything; handlers never block.
 */
#ifndef VMSIM_SRV_SERVER_H
#define VMSIM_SRV_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common.h"
#include "machine.h"
#include "metrics.h"

struct registry;
struct rpc_method;
struct srv_call;
struct srv_conn;
struct srv_call;

enum srv_log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

struct srv_config {
	char host[64];
	int port;           /* 0 = ephemeral; the bound port is printed */
	char web_dir[1024]; /* static files of the dashboard */
	enum srv_log_level log_level;
	int open;                      /* no auth: every caller is an admin */
	int demo;                      /* create a demo machine at start */
	size_t max_body;               /* request body limit (400 invalid_argument above) */
	size_t max_header;             /* URL + headers limit (400 malformed above) */
	unsigned idle_timeout_ms;      /* keep-alive connection with no request */
	unsigned request_timeout_ms;   /* first byte of a request to its last (slowloris) */
	unsigned max_conns;            /* beyond this, new connections get 503 */
	size_t sse_max_buffer;         /* unsent SSE bytes before a slow client is dropped */
	unsigned max_pipeline;         /* requests queued per connection before reading pauses */
	unsigned max_conns_per_user;   /* connections one authenticated user may hold */
	unsigned max_streams_per_user; /* SSE streams one authenticated user may hold */
	unsigned max_unauth_per_addr;  /* connections not yet authenticated, per peer address */
	size_t max_machines;           /* CreateMachine beyond this: resource_exhausted */
	uint64_t max_op_work;          /* work of one op (cost.h) beyond this: refused */
	uint64_t max_request_work;     /* work of one request's ops beyond this: refused */
};

/* Who is calling: filled from the request by the transport, judged by srv->authorize. */
struct srv_identity {
	const char *authorization; /* the raw Authorization header, or NULL */
	const char *peer;          /* "127.0.0.1:53422" */
	void *user;                /* set by the authorize hook for later hooks (owner, quotas) */
	int64_t user_id;           /* the user's stable id, set with user (0: none, --open) */
	const void *req;           /* the decoded request while authorize runs (NULL for SSE) */
};

/*
 * Seam 1, authorization. Runs before every RPC handler (and before SSE subscriptions) with
 * the caller, the method name ("AllocPages") and the machine id ("" when the method is not
 * machine-scoped). Returns 0 to allow, or fills err (unauthenticated, permission_denied,
 * resource_exhausted for quotas) and returns -1. The default allows everything (--open).
 */
typedef int (*srv_authorize_fn)(void *data, struct srv_identity *who, const char *method,
                                const char *machine_id, struct twirp_err *err);

/* What a state-changing RPC did, to be made durable before it is acknowledged. */
enum srv_commit_kind {
	SRV_COMMIT_CREATE,  /* machine created: id, name, config */
	SRV_COMMIT_DELETE,  /* machine deleted: id */
	SRV_COMMIT_RESET,   /* machine rebooted from its config: id */
	SRV_COMMIT_OPS,     /* ops applied in order, seqs first_seq.. : id, ops, n_ops */
	SRV_COMMIT_ATTEMPT, /* a graded exercise answer: attempt (machine_id "") */
};

/* A CheckExercise that graded an answer: recorded before its verdict is sent. */
struct srv_attempt {
	char topic[32];
	uint64_t seed;
	int correct;           /* every field right */
	uint32_t right, total; /* fields right, fields asked */
};

struct srv_commit {
	enum srv_commit_kind kind;
	const char *machine_id;
	const char *name;                    /* CREATE */
	const struct machine_config *config; /* CREATE */
	const struct op *ops;                /* OPS */
	size_t n_ops;
	int last_failed; /* OPS: the last op failed partway (journaled all the same) */
	uint64_t first_seq;
	struct srv_attempt attempt; /* ATTEMPT */
	const struct srv_identity *who;
};

/* Called by the commit hook when the record is durable (err 0) or could not be (err -1). */
typedef void (*srv_commit_done_fn)(void *arg, int err);

/*
 * Seam 2, durability. Every state change is handed here, in the order it happened on the
 * machine, before the RPC is acknowledged; the response is sent only when done() is called,
 * which may be later from the loop (a journal on a worker thread). The record and what it
 * points to stay valid until done() runs. The default calls done(arg, 0) at once.
 */
typedef void (*srv_commit_fn)(void *data, const struct srv_commit *c, srv_commit_done_fn done,
                              void *arg);

/*
 * Seam 4, quota. Charges the work of a request, in ops/s quota units (cost.h), to the caller
 * before any of its ops runs. Returns 0, or fills err (resource_exhausted) and returns -1.
 * NULL charges nothing.
 */
typedef int (*srv_charge_fn)(void *data, const struct srv_identity *who, uint64_t ops,
                             struct twirp_err *err);

struct srv_machine;
/* Seam 3, visibility: whether `who` may see machine sm in listings. NULL = every machine. */
typedef int (*srv_visible_fn)(void *data, const struct srv_identity *who,
                              const struct srv_machine *sm);

struct srv {
	uv_loop_t *loop;
	struct srv_config cfg;
	uv_tcp_t listener;
	uv_signal_t sigint, sigterm;
	uv_timer_t stop_timer;
	uv_timer_t sweep;    /* connection deadlines (http.c) */
	char readbuf[65536]; /* every read lands here and is parsed at once */
	struct registry *reg;
	struct srv_metrics metrics;
	struct srv_conn *conns; /* every open connection (for shutdown and /metrics) */
	unsigned nconns;
	int stopping;
	void *sse;  /* sse.c state */
	void *http; /* http.c state: connections by age, per address, per user */
	char demo_id[32];
	struct rpc_method *methods; /* handlers, indexed like the service's methods (rpc.h) */
	/* Holds back an authorized call that must wait for its machine (apply_slice.c's
	 * slice_park): 1 if it will run later through rpc_run. NULL = every call runs at once. */
	int (*park)(struct srv_call *c);
	/* The same before authorization (boot.c's boot_park_create: a CreateMachine waits while
	 * another boots); it runs later through rpc_admit. NULL = none waits. */
	int (*park_admit)(struct srv_call *c);

	srv_authorize_fn authorize;
	void *authorize_data;
	srv_commit_fn commit;
	void *commit_data;
	srv_visible_fn visible;
	void *visible_data;
	srv_charge_fn charge;
	void *charge_data;
	struct {
		int creating; /* a CreateMachine boots off the loop (boot.c) */
		struct srv_call *parked, **parked_tail; /* the creates waiting for it */
	} boot;
};

void srv_config_default(struct srv_config *cfg);
/* The last connection closed: a stopping server may end now. */
void srv_conns_drained(struct srv *s);
/* After the loop has returned. */
void srv_release(struct srv *s);

void srv_log(const struct srv *s, enum srv_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
