/*
 * HTTP/1.1 connections over libuv with http-parser: keep-alive, pipelining (responses leave
 * in request order even when a handler completes later), size limits and timeouts. A parsed
 * request is handed to router_handle(); the handler answers with srv_respond(), now or later.
 */
#ifndef VMSIM_SRV_HTTP_H
#define VMSIM_SRV_HTTP_H

#include <http_parser.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct srv_header {
	char *name;
	char *value;
};

struct srv_request {
	struct srv_conn *conn; /* NULL once the connection closed under a pending handler */
	struct srv *srv;
	struct srv_request *next;
	enum http_method method;
	char *url;   /* as received: path?query */
	char *path;  /* url up to '?' (not percent-decoded) */
	char *query; /* after '?', "" if none */
	struct srv_header *hdr;
	unsigned nhdr, hdr_cap;
	char *body;
	size_t body_len, body_cap;
	int keep_alive;
	uint64_t t_start;  /* uv_hrtime() when the request was complete */
	const char *route; /* label for /metrics and the log */
	struct srv_identity who;

	/* response */
	int dispatched, done, streaming;
	int head; /* a parsed HEAD request: the response goes without its body */
	int status;
	void *out; /* the encoded response, a write request handed to libuv as is */
	size_t body_out;
};

/* Case-insensitive header lookup; NULL if absent. */
const char *srv_header(const struct srv_request *r, const char *name);

/*
 * Sends the response to r (status, Content-Type, extra header lines each ending in \r\n or
 * NULL, body). May be called from inside the handler or later from the loop.
 */
void srv_respond(struct srv_request *r, int status, const char *ctype, const char *extra,
                 const void *body, size_t len);

/*
 * Turns r into a stream (SSE): sends status and headers now, without Content-Length; the
 * connection then carries only srv_stream_write() data until srv_stream_close().
 */
int srv_stream_begin(struct srv_request *r, const char *ctype, const char *extra);
/* Queues data on a stream. Returns the bytes still unsent after this write. */
size_t srv_stream_write(struct srv_conn *c, const void *data, size_t len);
void srv_stream_close(struct srv_conn *c);
/* The SSE client attached to a streaming connection (for the close notification). */
void srv_conn_set_stream(struct srv_conn *c, void *stream, void (*on_close)(void *stream));

/*
 * r passed authentication (r->who filled by the authorize hook): its connection leaves the
 * per-address pool of unauthenticated connections and counts for its user. -1 with e filled
 * (resource_exhausted) when the user already holds cfg.max_conns_per_user connections.
 */
int srv_conn_authenticated(struct srv_request *r, struct twirp_err *e);

/* Accepts connections on s->listener (called by srv_start). */
void http_on_connection(uv_stream_t *server, int status);
/*
 * Serves fd, an already connected stream socket (its ownership passes to the server, which
 * closes it), exactly as if it had been accepted on the listener. The fuzz target drives the
 * connection code through it in process, over a socketpair. 0, or -1 (over max_conns, or fd
 * unusable: the caller still owns it then).
 */
int http_adopt(struct srv *s, uv_os_sock_t fd);
/* The timer that expires idle and slow connections (srv_start / srv_stop). */
void http_sweep_start(struct srv *s);
void http_sweep_stop(struct srv *s);
/* Closes every connection (idle ones now, busy ones after their response). */
void http_close_all(struct srv *s, int force);

const char *http_status_text(int status);

/* Where every complete request goes (router.c): Twirp RPC, SSE events, static files,
 * /healthz, /metrics. */
void router_handle(struct srv *s, struct srv_request *r);
/*
 * What the head of r decides before its body is read (router.c, called once its headers are
 * parsed): the route, the RPC method and Content-Type, the caller's token. 0, or -1 with the
 * Twirp error in e, which the connection answers at once (and drops the body).
 */
int router_check_head(struct srv *s, struct srv_request *r, struct twirp_err *e);

#endif
