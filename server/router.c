/*
 * The URL space of vmsimd:
 *   POST /twirp/vmsim.v1.VmSim/<Method>   RPC (application/protobuf or application/json)
 *   GET  /v1/machines/<id>/events          live events (Server-Sent Events)
 *   GET  /healthz, /metrics                liveness, Prometheus metrics
 *   GET  /, /static/<file>                 the dashboard
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "registry.h"
#include "rpc.h"
#include "sse.h"
#include "static.h"
#include "vmsim/v1/vmsim.pb-c.h"

#define TWIRP_PREFIX "/twirp/vmsim.v1.VmSim/"

static void respond_twirp_error(struct srv_request *r, const struct twirp_err *e)
{
	size_t len = 0;
	char *body = twirp_error_json(e, &len);
	if (!body) {
		srv_respond(r, 500, "text/plain", NULL, "internal error\n", 15);
		return;
	}
	srv_respond(r, twirp_code_status(e->code), "application/json", NULL, body, len);
	free(body);
}

static void twirp_fail(struct srv_request *r, enum twirp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void twirp_fail(struct srv_request *r, enum twirp_code code, const char *fmt, ...)
{
	struct twirp_err e = {.code = code};
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	respond_twirp_error(r, &e);
}

/* Calls after which a user may have lost access to machines: their open event streams are
 * authorized again, and closed where they no longer would be. */
static int changes_access(const char *method)
{
	static const char *const m[] = {"RevokeToken", "ShareMachine", "DisableUser", "DeleteUser",
	                                "SetUserDisabled"};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (!strcmp(method, m[i]))
			return 1;
	return 0;
}

static void rpc_done(struct srv_call *c, void *arg)
{
	struct srv_request *r = arg;
	if (!c) {
		twirp_fail(r, TWIRP_INTERNAL, "out of memory");
		return;
	}
	if (c->md)
		r->route = c->md->name; /* static string from the descriptor */
	if (!c->failed && c->md && changes_access(c->md->name))
		sse_reauthorize(c->srv);
	if (c->failed) {
		respond_twirp_error(r, &c->err);
	} else {
		srv_respond(r, 200, c->json ? "application/json" : "application/protobuf", NULL,
		            c->out, c->out_len);
	}
	rpc_call_free(c);
}

/* application/json and application/protobuf, parameters (charset) ignored. */
static int content_kind(const char *ct)
{
	if (!ct)
		return -1;
	size_t n = strcspn(ct, "; \t");
	if (n == 16 && !strncasecmp(ct, "application/json", n))
		return 1;
	if ((n == 20 && !strncasecmp(ct, "application/protobuf", n)) ||
	    (n == 22 && !strncasecmp(ct, "application/x-protobuf", n)))
		return 0;
	return -1;
}

static int head_fail(struct twirp_err *e, enum twirp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int head_fail(struct twirp_err *e, enum twirp_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	e->code = code;
	return -1;
}

/* Two Authorization headers name two identities; which one counts would depend on the code
 * that reads them (a proxy may take the first, we the other), so neither does. */
static int ambiguous_identity(const struct srv_request *r)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->nhdr; i++)
		n += !strcasecmp(r->hdr[i].name, "Authorization");
	return n > 1;
}

int router_check_head(struct srv *s, struct srv_request *r, struct twirp_err *e)
{
	const char *p = r->path;
	if (ambiguous_identity(r))
		return head_fail(e, TWIRP_UNAUTHENTICATED,
		                 "more than one Authorization header: send exactly one");
	if (strncmp(p, "/twirp/", 7))
		return 0; /* GETs: no body to spare */
	if (strncmp(p, TWIRP_PREFIX, strlen(TWIRP_PREFIX)))
		return head_fail(e, TWIRP_BAD_ROUTE,
		                 "no service at %s (the service is vmsim.v1.VmSim)", p);
	if (r->method != HTTP_POST)
		return head_fail(e, TWIRP_BAD_ROUTE, "unsupported method %s (only POST is allowed)",
		                 http_method_str(r->method));
	const char *method = p + strlen(TWIRP_PREFIX);
	if (!protobuf_c_service_descriptor_get_method_by_name(&vmsim__v1__vm_sim__descriptor,
	                                                      method))
		return head_fail(e, TWIRP_BAD_ROUTE, "no method %s in vmsim.v1.VmSim", method);
	const char *ct = srv_header(r, "Content-Type");
	if (content_kind(ct) < 0)
		return head_fail(e, TWIRP_BAD_ROUTE,
		                 "unexpected Content-Type: \"%s\" (use application/json or "
		                 "application/protobuf)",
		                 ct ? ct : "");
	/* Who is calling: a read-only method without a machine checks the token alone, and
	 * charges nothing. The call is authorized in full once its body is decoded. */
	if (s->authorize && s->authorize(s->authorize_data, &r->who, "Whoami", "", e))
		return -1;
	return srv_conn_authenticated(r, e);
}

static void twirp(struct srv *s, struct srv_request *r)
{
	const char *method = r->path + strlen(TWIRP_PREFIX);
	r->route = "twirp";
	if (r->method != HTTP_POST) {
		twirp_fail(r, TWIRP_BAD_ROUTE, "unsupported method %s (only POST is allowed)",
		           http_method_str(r->method));
		return;
	}
	const char *ct = srv_header(r, "Content-Type");
	int json = content_kind(ct);
	if (json < 0) {
		twirp_fail(r, TWIRP_BAD_ROUTE,
		           "unexpected Content-Type: \"%s\" (use application/json or "
		           "application/protobuf)",
		           ct ? ct : "");
		return;
	}
	rpc_dispatch(s, method, json, r->body ? r->body : "", r->body_len, &r->who, rpc_done, r);
}

/* GET /v1/machines/<id>/events */
static void events_stream(struct srv *s, struct srv_request *r, const char *id, size_t idlen)
{
	r->route = "sse";
	char mid[MACHINE_ID_LEN];
	if (idlen == 0 || idlen >= sizeof(mid)) {
		twirp_fail(r, TWIRP_NOT_FOUND,
		           "no machine \"%.*s\" (ListMachines shows the machines)",
		           (int)(idlen < 64 ? idlen : 64), id);
		return;
	}
	memcpy(mid, id, idlen);
	mid[idlen] = 0;
	struct twirp_err e = {0};
	if ((s->authorize && s->authorize(s->authorize_data, &r->who, "StreamEvents", mid, &e)) ||
	    srv_conn_authenticated(r, &e)) {
		respond_twirp_error(r, &e);
		return;
	}
	struct srv_machine *sm = registry_get(s->reg, mid);
	if (!sm) {
		/* Word for word what authorize says of a machine the caller may not see. */
		twirp_fail(r, TWIRP_NOT_FOUND,
		           "no machine \"%s\" (ListMachines shows the machines)", mid);
		return;
	}
	if (r->who.user_id && sse_user_streams(s, r->who.user_id) >= s->cfg.max_streams_per_user) {
		twirp_fail(r, TWIRP_RESOURCE_EXHAUSTED,
		           "too many event streams for this user (the limit is %u): close some",
		           s->cfg.max_streams_per_user);
		return;
	}
	/* Resume point: the Last-Event-ID header (EventSource reconnects) or ?lastEventId=. */
	const char *last = srv_header(r, "Last-Event-ID");
	const char *q = strstr(r->query, "lastEventId=");
	if (!last && q && (q == r->query || q[-1] == '&'))
		last = q + strlen("lastEventId=");
	uint64_t last_id = 0;
	if (last) {
		char *end;
		last_id = strtoull(last, &end, 10);
		if (end == last || (*end && *end != '&')) {
			twirp_fail(r, TWIRP_INVALID_ARGUMENT,
			           "Last-Event-ID must be an event number");
			return;
		}
	}
	sse_open(s, r, sm, last != NULL, last_id);
}

/* Per-route counts and the machine count are the operators' business: admins only (the
 * authorize hook decides; an --open server lets everyone in). */
static void metrics(struct srv *s, struct srv_request *r)
{
	struct twirp_err e = {0};
	if (s->authorize && s->authorize(s->authorize_data, &r->who, "Metrics", "", &e)) {
		respond_twirp_error(r, &e);
		return;
	}
	struct strbuf sb;
	strbuf_init(&sb);
	metrics_render(&s->metrics, registry_count(s->reg), s->nconns, sse_clients(s), &sb);
	srv_respond(r, 200, "text/plain; version=0.0.4", NULL, sb.buf, sb.len);
	strbuf_release(&sb);
}

void router_handle(struct srv *s, struct srv_request *r)
{
	const char *p = r->path;
	if (ambiguous_identity(r)) {
		r->route = "other";
		twirp_fail(r, TWIRP_UNAUTHENTICATED,
		           "more than one Authorization header: send exactly one");
		return;
	}
	if (!strncmp(p, TWIRP_PREFIX, strlen(TWIRP_PREFIX))) {
		twirp(s, r);
		return;
	}
	if (!strncmp(p, "/twirp/", 7)) {
		r->route = "twirp";
		twirp_fail(r, TWIRP_BAD_ROUTE, "no service at %s (the service is vmsim.v1.VmSim)",
		           p);
		return;
	}
	int get = r->method == HTTP_GET || r->method == HTTP_HEAD;
	if (!get) {
		r->route = "other";
		srv_respond(r, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n",
		            19);
		return;
	}
	if (!strcmp(p, "/healthz")) {
		r->route = "healthz";
		srv_respond(r, 200, "text/plain", NULL, "ok\n", 3);
		return;
	}
	if (!strcmp(p, "/metrics")) {
		r->route = "metrics";
		metrics(s, r);
		return;
	}
	if (!strncmp(p, "/v1/machines/", 13)) {
		const char *id = p + 13, *slash = strchr(id, '/');
		if (slash && !strcmp(slash, "/events")) {
			events_stream(s, r, id, (size_t)(slash - id));
			return;
		}
	}
	if (!strcmp(p, "/")) {
		r->route = "static";
		static_serve(s, r, "index.html");
		return;
	}
	if (!strncmp(p, "/static/", 8)) {
		r->route = "static";
		static_serve(s, r, p + 8);
		return;
	}
	r->route = "other";
	srv_respond(r, 404, "text/plain", NULL, "not found\n", 10);
}
