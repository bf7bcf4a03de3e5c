/*
 * SSE streams. Every event becomes "id: N\nevent: event\ndata: <Event as JSON>\n\n"; a
 * client that resumes after events left the ring first gets an "event: gap" saying how many
 * were lost. A heartbeat comment every 15 s keeps proxies from closing quiet streams.
 *
 * Ids are the core's event ids plus the machine's event_base, so they keep growing when the
 * machine is reset or restored (the core restarts at 1). A resume id this machine never gave
 * out since it was last replaced (one from before a reset, or beyond the newest event: another
 * incarnation, a restarted server) gets "event: reset" and the whole ring, never a silent
 * replay from a wrong place.
 */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "http.h"
#include "pb_json.h"
#include "registry.h"
#include "twirp.h"
#include "vmsim/v1/vmsim.pb-c.h"

#define HEARTBEAT_MS 15000

struct sse_client {
	struct srv *srv;
	struct srv_conn *conn;
	struct srv_request *req; /* the stream's request: its caller, to authorize again */
	struct srv_machine *sm;
	uint64_t next_id;                 /* next event to send (a core id) */
	struct sse_client *next;          /* sm->subs */
	struct sse_client *gnext, *gprev; /* all streams */
};

struct sse_state {
	uv_timer_t heartbeat;
	struct sse_client *all;
	unsigned n;
};

static struct sse_state *state(const struct srv *s)
{
	return s->sse;
}

static void detach(struct sse_client *cl)
{
	struct sse_state *st = state(cl->srv);
	if (cl->sm) {
		struct sse_client **pp = &cl->sm->subs;
		while (*pp && *pp != cl)
			pp = &(*pp)->next;
		if (*pp)
			*pp = cl->next;
		cl->sm->nsubs--;
		cl->sm = NULL;
	}
	if (cl->gprev)
		cl->gprev->gnext = cl->gnext;
	else
		st->all = cl->gnext;
	if (cl->gnext)
		cl->gnext->gprev = cl->gprev;
	st->n--;
}

/* The connection closed under the stream (client left, server stopping). */
static void on_conn_closed(void *stream)
{
	struct sse_client *cl = stream;
	detach(cl);
	free(cl);
}

static void end_stream(struct sse_client *cl)
{
	struct srv_conn *conn = cl->conn;
	detach(cl);
	free(cl);
	srv_stream_close(conn);
}

/* Queues text; drops (and frees) the client if its backlog is too big: then returns -1. */
static int send_text(struct sse_client *cl, const char *text, size_t len)
{
	size_t unsent = srv_stream_write(cl->conn, text, len);
	if (unsent > cl->srv->cfg.sse_max_buffer) {
		srv_log(cl->srv, LOG_WARN,
		        "dropping slow event stream of machine %s (%zu bytes unsent)",
		        cl->sm ? cl->sm->id : "-", unsent);
		cl->srv->metrics.sse_dropped++;
		end_stream(cl);
		return -1;
	}
	return 0;
}

/* Sends events from cl->next_id on. Returns -1 if the client was dropped. */
static int push(struct sse_client *cl)
{
	const struct machine *m = cl->sm->m;
	uint64_t first = events_first_id(m), next = events_next_id(m);
	struct strbuf sb, text;
	strbuf_init(&sb);
	strbuf_init(&text);
	uint64_t base = cl->sm->event_base;
	if (cl->next_id < first) {
		strbuf_addf(&sb, "event: gap\ndata: {\"lost\":\"%llu\",\"firstId\":\"%llu\"}\n\n",
		            (unsigned long long)(first - cl->next_id),
		            (unsigned long long)(base + first));
		cl->next_id = first;
	}
	for (; cl->next_id < next; cl->next_id++) {
		const struct event *e = event_get(m, cl->next_id);
		if (!e)
			continue;
		strbuf_reset(&text);
		event_render(e, &text);
		Vmsim__V1__Event ev = VMSIM__V1__EVENT__INIT;
		ev.id = base + e->id;
		ev.seq = e->seq;
		ev.type = e->type;
		ev.text = text.buf ? text.buf : "";
		char *json = pb_json_dumps(&ev.base, PB_JSON_EMIT_DEFAULTS, NULL);
		if (json)
			strbuf_addf(&sb, "id: %llu\nevent: event\ndata: %s\n\n",
			            (unsigned long long)ev.id, json);
		free(json);
		if (sb.len > 65536) { /* send in pieces so the buffer check sees the backlog */
			int rc = send_text(cl, sb.buf, sb.len);
			strbuf_reset(&sb);
			if (rc) {
				strbuf_release(&sb);
				strbuf_release(&text);
				return -1;
			}
		}
	}
	int rc = sb.len ? send_text(cl, sb.buf, sb.len) : 0;
	strbuf_release(&sb);
	strbuf_release(&text);
	return rc;
}

/*
 * "event: reset": what the client holds is not this machine's history any more; the ring
 * follows from its first event. stale_id: the resume id that was refused (0: a live reset).
 */
static int send_reset(struct sse_client *cl, uint64_t stale_id)
{
	char text[160];
	uint64_t first = cl->sm->event_base + events_first_id(cl->sm->m);
	int n = stale_id
	            ? snprintf(text, sizeof(text),
	                       "event: reset\ndata: {\"firstId\":\"%llu\",\"staleId\":\"%llu\"}"
	                       "\n\n",
	                       (unsigned long long)first, (unsigned long long)stale_id)
	            : snprintf(text, sizeof(text), "event: reset\ndata: {\"firstId\":\"%llu\"}\n\n",
	                       (unsigned long long)first);
	return send_text(cl, text, (size_t)n);
}

void sse_open(struct srv *s, struct srv_request *r, struct srv_machine *sm, int has_last,
              uint64_t last_id)
{
	struct sse_client *cl = calloc(1, sizeof(*cl));
	if (!cl || srv_stream_begin(r, "text/event-stream", NULL)) {
		free(cl);
		srv_respond(r, 500, "text/plain", NULL, "out of memory\n", 14);
		return;
	}
	struct sse_state *st = state(s);
	cl->srv = s;
	cl->conn = r->conn;
	cl->req = r;
	cl->sm = sm;
	uint64_t next = events_next_id(sm->m), base = sm->event_base;
	int stale = has_last && ((base && last_id <= base) || last_id >= base + next);
	cl->next_id = !has_last ? next : stale ? events_first_id(sm->m) : last_id - base + 1;
	cl->next = sm->subs;
	sm->subs = cl;
	sm->nsubs++;
	cl->gnext = st->all;
	if (st->all)
		st->all->gprev = cl;
	st->all = cl;
	st->n++;
	srv_conn_set_stream(r->conn, cl, on_conn_closed);
	/* Tell the client how to reconnect, then catch it up. */
	if (send_text(cl, "retry: 2000\n\n", 13))
		return;
	if (stale && send_reset(cl, last_id))
		return;
	push(cl);
}

void sse_notify(struct srv *s, struct srv_machine *sm)
{
	(void)s;
	struct sse_client *cl = sm->subs;
	while (cl) {
		struct sse_client *next = cl->next;
		push(cl);
		cl = next;
	}
}

void sse_machine_reset(struct srv *s, struct srv_machine *sm)
{
	(void)s;
	for (struct sse_client *cl = sm->subs, *next; cl; cl = next) {
		next = cl->next;
		cl->next_id = events_first_id(sm->m);
		send_reset(cl, 0);
	}
	sse_notify(s, sm);
}

void sse_machine_deleted(struct srv *s, struct srv_machine *sm)
{
	(void)s;
	while (sm->subs) {
		struct sse_client *cl = sm->subs;
		srv_stream_write(cl->conn, "event: deleted\ndata: {}\n\n", 25);
		end_stream(cl);
	}
}

static void on_heartbeat(uv_timer_t *t)
{
	struct srv *s = t->data;
	for (struct sse_client *cl = state(s)->all, *next; cl; cl = next) {
		next = cl->gnext;
		send_text(cl, ": ping\n\n", 8);
	}
}

int sse_init(struct srv *s)
{
	struct sse_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	s->sse = st;
	uv_timer_init(s->loop, &st->heartbeat);
	st->heartbeat.data = s;
	uv_timer_start(&st->heartbeat, on_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
	return 0;
}

static void free_state(uv_handle_t *h)
{
	struct srv *s = h->data;
	free(s->sse);
	s->sse = NULL;
}

void sse_shutdown(struct srv *s)
{
	struct sse_state *st = state(s);
	if (!st)
		return;
	while (st->all)
		end_stream(st->all);
	uv_close((uv_handle_t *)&st->heartbeat, free_state);
}

unsigned sse_clients(const struct srv *s)
{
	return s->sse ? state(s)->n : 0;
}

unsigned sse_user_streams(const struct srv *s, int64_t user_id)
{
	unsigned n = 0;
	for (struct sse_client *cl = s->sse ? state(s)->all : NULL; cl; cl = cl->gnext)
		n += cl->req->who.user_id == user_id;
	return n;
}

void sse_reauthorize(struct srv *s)
{
	if (!s->authorize || !s->sse)
		return;
	for (struct sse_client *cl = state(s)->all, *next; cl; cl = next) {
		next = cl->gnext;
		struct twirp_err e = {0};
		if (!cl->sm ||
		    !s->authorize(s->authorize_data, &cl->req->who, "StreamEvents", cl->sm->id, &e))
			continue;
		size_t len = 0;
		char *json = twirp_error_json(&e, &len);
		struct strbuf sb;
		strbuf_init(&sb);
		strbuf_addf(&sb, "event: closed\ndata: %s\n\n", json ? json : "{}");
		srv_stream_write(cl->conn, sb.buf, sb.len);
		strbuf_release(&sb);
		free(json);
		end_stream(cl);
	}
}
