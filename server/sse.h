/*
 * Live events as Server-Sent Events: GET /v1/machines/{id}/events streams the machine's
 * event ring from a Last-Event-ID on. Each client has a bounded send buffer; a client that
 * falls behind by more than cfg.sse_max_buffer bytes is dropped (it reconnects and resumes).
 */
#ifndef VMSIM_SRV_SSE_H
#define VMSIM_SRV_SSE_H

#include <stdint.h>

#include "server.h"

struct srv_machine;
struct srv_request;

/* Starts the heartbeat timer. */
int sse_init(struct srv *s);
/* Stops the heartbeat and closes every stream (shutdown). */
void sse_shutdown(struct srv *s);

/* Turns r into an event stream of sm. has_last: resume after last_id, else only new events. */
void sse_open(struct srv *s, struct srv_request *r, struct srv_machine *sm, int has_last,
              uint64_t last_id);
/* Sends every event the machine recorded since each client's position. */
void sse_notify(struct srv *s, struct srv_machine *sm);
/* The machine was reset (ids restart) or is about to be deleted (streams end). */
void sse_machine_reset(struct srv *s, struct srv_machine *sm);
void sse_machine_deleted(struct srv *s, struct srv_machine *sm);

unsigned sse_clients(const struct srv *s);
/* Streams held by the user with this id. */
unsigned sse_user_streams(const struct srv *s, int64_t user_id);
/*
 * Runs the authorize hook again for every open stream, as its request would be now, and ends
 * those it refuses (token revoked, user disabled, machine no longer shared) with
 * "event: closed" carrying the error. The auth layer calls it after changing who may see what.
 */
void sse_reauthorize(struct srv *s);

#endif
