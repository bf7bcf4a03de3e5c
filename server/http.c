/*
 * HTTP/1.1 connections: bytes in -> http-parser -> a queue of requests -> router_handle()
 * -> srv_respond() -> bytes out, strictly in request order. Each connection has a deadline:
 * the idle timeout between requests, or the request timeout from a request's first byte to its
 * last (a slowloris client cannot hold a connection by trickling bytes). One sweep timer per
 * server checks the deadlines, so a request costs no timer operations.
 */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "twirp.h"

#define HTTP_SWEEP_MS 100 /* deadline resolution */
#define MAX_HEADERS   100
/* Past this much unsent output a connection is neither read nor served (backpressure): a
 * client that does not read its answers holds at most this, plus one answer, plus its
 * queued requests (max_pipeline of them, their bodies at most QUEUE_BYTES together). */
#define OUT_HIGH_WATER (1u << 20)
#define QUEUE_BYTES    (1u << 20)
#define COUNT_BUCKETS  1024
#define LINGER_MS      2000        /* lingering close: how long input is still read */
#define LINGER_BYTES   (16u << 20) /* ... and how much of it */

struct srv_conn {
	uv_tcp_t tcp;
	uint64_t deadline; /* uv_now() ms when the connection expires; 0 = never (streams) */
	struct srv *srv;
	struct srv_conn *prev, *next; /* srv->conns */
	http_parser parser;
	struct srv_request *cur;         /* being parsed */
	struct srv_request *head, *tail; /* parsed, in order; head is being handled */
	unsigned nqueued;
	size_t queued_bytes; /* bodies of the queued requests */
	unsigned requests;   /* requests begun on this connection */
	size_t header_bytes;
	int last_was_value;
	int error_status; /* set by a callback that refuses the request, with error */
	struct twirp_err error;
	int discard;      /* the parser stopped at an error: input is read and dropped */
	uint64_t dropped; /* bytes dropped since */
	uv_shutdown_t shut;
	int shut_started;
	int in_message;
	int reading;
	int closing;
	int close_after_write; /* no keep-alive: close once the queued writes are out */
	int advancing;
	unsigned writes_pending;
	unsigned open_handles;
	char peer[64];
	char addr[48];   /* the peer's address without the port */
	int authed;      /* a request on it passed authentication (it left the per-address pool) */
	int64_t user_id; /* whose it is then (0: --open) */
	void *stream;
	void (*stream_on_close)(void *stream);
};

/* Connections per peer address (not yet authenticated) or per user (authenticated). */
struct http_count {
	struct http_count *next;
	int64_t user; /* a user's entry, or 0 for an address's */
	char addr[48];
	unsigned conns;
};

struct http_state {
	struct srv_conn *oldest; /* the tail of srv->conns, which is newest first */
	struct http_count *bucket[COUNT_BUCKETS];
};

struct write_req {
	uv_write_t req;
	struct srv_conn *conn;
	size_t len;
	char data[];
};

static void conn_advance(struct srv_conn *c);
static void conn_close(struct srv_conn *c);
static void conn_finish(struct srv_conn *c);
static void conn_read_start(struct srv_conn *c);
static int conn_write(struct srv_conn *c, const void *data, size_t len);

const char *http_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 417:
		return "Expectation Failed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

/* ------------------------------------------------------------------------------------ */
/* Fairness: connections by age, per address before authentication, per user after */

static struct http_state *hstate(const struct srv *s)
{
	return s->http;
}

static unsigned count_hash(int64_t user, const char *addr)
{
	uint32_t h = 2166136261u ^ (uint32_t)user ^ (uint32_t)((uint64_t)user >> 32);
	for (; *addr; addr++)
		h = (h ^ (unsigned char)*addr) * 16777619u;
	return h % COUNT_BUCKETS;
}

/* The entry of a user (user != 0) or of an address; created on demand (NULL: no memory). */
static struct http_count *count_get(struct srv *s, int64_t user, const char *addr, int create)
{
	struct http_state *st = hstate(s);
	if (!st)
		return NULL;
	if (user)
		addr = "";
	struct http_count **pp = &st->bucket[count_hash(user, addr)];
	for (struct http_count *e = *pp; e; e = e->next)
		if (e->user == user && !strcmp(e->addr, addr))
			return e;
	struct http_count *e = create ? calloc(1, sizeof(*e)) : NULL;
	if (e) {
		e->user = user;
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->next = *pp;
		*pp = e;
	}
	return e;
}

static void count_drop(struct srv *s, int64_t user, const char *addr)
{
	struct http_state *st = hstate(s);
	struct http_count *e = count_get(s, user, addr, 0);
	if (!e || --e->conns)
		return;
	struct http_count **pp = &st->bucket[count_hash(user, user ? "" : addr)];
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	free(e);
}

/*
 * What may be closed to make room: a connection with no request in hand, either not yet
 * authenticated (silent, or trickling a head) or idle between requests. Streams and
 * connections whose answer is being made are never closed for another client.
 */
static int evictable(const struct srv_conn *c)
{
	return !c->closing && !c->stream && !c->head && !c->shut_started &&
	       (!c->authed || !c->in_message);
}

/* Closes the oldest evictable connection (not yet authenticated and from addr, if addr is
 * given). 1 if one was closed. */
static int evict_oldest(struct srv *s, const char *addr)
{
	struct http_state *st = hstate(s);
	for (struct srv_conn *c = st ? st->oldest : NULL; c; c = c->prev) {
		if (!evictable(c) || (addr && (c->authed || strcmp(c->addr, addr))))
			continue;
		srv_log(s, LOG_DEBUG, "%s closed to make room (%s)", c->peer,
		        addr ? "too many unauthenticated connections from its address"
		             : "connection limit");
		s->metrics.conns_rejected++;
		conn_close(c);
		return 1;
	}
	return 0;
}

int srv_conn_authenticated(struct srv_request *r, struct twirp_err *e)
{
	struct srv_conn *c = r->conn;
	if (!c)
		return 0;
	int64_t user = r->who.user_id;
	if (c->authed && c->user_id == user)
		return 0;
	struct srv *s = c->srv;
	if (c->authed)
		count_drop(s, c->user_id, "");
	else
		count_drop(s, 0, c->addr);
	c->authed = 1;
	c->user_id = 0;
	if (!user)
		return 0;
	struct http_count *u = count_get(s, user, "", 1);
	if (u && u->conns >= s->cfg.max_conns_per_user) {
		e->code = TWIRP_RESOURCE_EXHAUSTED;
		snprintf(e->msg, sizeof(e->msg),
		         "too many connections for this user (the limit is %u): close some",
		         s->cfg.max_conns_per_user);
		r->keep_alive = 0;
		return -1;
	}
	if (u) {
		u->conns++;
		c->user_id = user;
	}
	return 0;
}

/* Whether c may take more input: not while its answers or requests pile up. */
static int may_read(const struct srv_conn *c)
{
	if (c->closing)
		return 0;
	if (c->discard || c->stream)
		return 1; /* dropped as it comes; read so the close is seen */
	return c->nqueued < c->srv->cfg.max_pipeline && c->queued_bytes < QUEUE_BYTES &&
	       c->tcp.write_queue_size < OUT_HIGH_WATER;
}

/* ------------------------------------------------------------------------------------ */
/* Requests */

static void request_free(struct srv_request *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < r->nhdr; i++) {
		free(r->hdr[i].name);
		free(r->hdr[i].value);
	}
	free(r->hdr);
	free(r->url);
	free(r->body);
	free(r->out);
	free(r);
}

const char *srv_header(const struct srv_request *r, const char *name)
{
	for (unsigned i = 0; i < r->nhdr; i++)
		if (!strcasecmp(r->hdr[i].name, name))
			return r->hdr[i].value;
	return NULL;
}

static int append(char **buf, size_t *len, size_t *cap, const char *at, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 64;
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = 0;
	return 0;
}

static int append_str(char **s, const char *at, size_t n)
{
	size_t len = *s ? strlen(*s) : 0, cap = *s ? len + 1 : 0;
	return append(s, &len, &cap, at, n);
}

/* ------------------------------------------------------------------------------------ */
/* Parser callbacks */

static struct srv_conn *pconn(http_parser *p)
{
	return p->data;
}

/*
 * Refuses the request being parsed: the parser stops, and the answer is a Twirp error whose
 * HTTP status is the one the Twirp spec gives its code (every route answers in Twirp JSON).
 */
static int refuse(struct srv_conn *c, enum twirp_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(struct srv_conn *c, enum twirp_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error.msg, sizeof(c->error.msg), fmt, ap);
	va_end(ap);
	c->error.code = code;
	c->error_status = twirp_code_status(code);
	return -1;
}

static int count_header_bytes(struct srv_conn *c, size_t n)
{
	c->header_bytes += n;
	if (c->header_bytes > c->srv->cfg.max_header)
		return refuse(c, TWIRP_MALFORMED,
		              "request headers too large (the limit is %zu bytes)",
		              c->srv->cfg.max_header);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct srv_conn *c = pconn(p);
	c->cur = calloc(1, sizeof(*c->cur));
	if (!c->cur)
		return -1;
	c->cur->srv = c->srv;
	c->cur->conn = c; /* the head checks may need it; freed with c->cur if c closes */
	c->header_bytes = 0;
	c->last_was_value = 0;
	c->in_message = 1;
	/* From here the whole request must arrive within request_timeout_ms; the first one
	 * within that time of the connection itself (the header timeout). */
	if (c->requests++)
		c->deadline = uv_now(c->srv->loop) + c->srv->cfg.request_timeout_ms;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct srv_conn *c = pconn(p);
	if (count_header_bytes(c, n) || append_str(&c->cur->url, at, n))
		return -1;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct srv_conn *c = pconn(p);
	struct srv_request *r = c->cur;
	if (count_header_bytes(c, n))
		return -1;
	/* RFC 9112 5.1: no whitespace between a field name and its colon (request smuggling). */
	if (memchr(at, ' ', n) || memchr(at, '\t', n))
		return refuse(c, TWIRP_MALFORMED, "whitespace in a header name");
	if (c->last_was_value || r->nhdr == 0) {
		if (r->nhdr == MAX_HEADERS)
			return refuse(c, TWIRP_MALFORMED, "more than %d header fields",
			              MAX_HEADERS);
		if (r->nhdr == r->hdr_cap) {
			unsigned nc = r->hdr_cap ? r->hdr_cap * 2 : 8;
			struct srv_header *nh = realloc(r->hdr, nc * sizeof(*nh));
			if (!nh)
				return -1;
			r->hdr = nh;
			r->hdr_cap = nc;
		}
		r->hdr[r->nhdr].name = NULL;
		r->hdr[r->nhdr].value = NULL;
		r->nhdr++;
		c->last_was_value = 0;
	}
	return append_str(&r->hdr[r->nhdr - 1].name, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct srv_conn *c = pconn(p);
	struct srv_request *r = c->cur;
	if (count_header_bytes(c, n))
		return -1;
	c->last_was_value = 1;
	if (r->nhdr == 0)
		return -1;
	return append_str(&r->hdr[r->nhdr - 1].value, at, n);
}

/*
 * The request target as a path and a query. The absolute form ("http://host:port/path?q",
 * RFC 9112 3.2.2), which a server must accept, is cut down to the origin form first.
 */
static int set_target(struct srv_request *r)
{
	if (!r->url && !(r->url = strdup("/")))
		return -1;
	char *u = r->url;
	if (!strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8)) {
		char *authority = strstr(u, "//") + 2;
		char *rest = authority + strcspn(authority, "/?");
		if (*rest == '/') {
			memmove(u, rest, strlen(rest) + 1);
		} else { /* "http://host" or "http://host?q": the path is "/" */
			memmove(u + 1, rest, strlen(rest) + 1);
			u[0] = '/';
		}
	}
	r->path = u;
	char *q = strchr(u, '?');
	if (q) {
		*q = 0;
		r->query = q + 1;
	} else {
		r->query = u + strlen(u);
	}
	return 0;
}

static unsigned header_count(const struct srv_request *r, const char *name)
{
	unsigned n = 0;
	for (unsigned i = 0; i < r->nhdr; i++)
		n += !strcasecmp(r->hdr[i].name, name);
	return n;
}

/* Whether the field value v is token (any case), allowing optional whitespace around it. */
static int value_is(const char *v, const char *token)
{
	size_t n = strlen(token);
	v += strspn(v, " \t");
	return !strncasecmp(v, token, n) && !v[n + strspn(v + n, " \t")];
}

/* What the head alone decides (RFC 9112): Host, Transfer-Encoding, the body's size. */
static int check_head(struct srv_conn *c, http_parser *p, struct srv_request *r)
{
	unsigned hosts = header_count(r, "Host");
	if (hosts > 1 || (hosts == 0 && p->http_major == 1 && p->http_minor >= 1))
		return refuse(c, TWIRP_MALFORMED,
		              "an HTTP/1.1 request needs exactly one Host header");
	const char *te = srv_header(r, "Transfer-Encoding");
	if (te && (header_count(r, "Transfer-Encoding") > 1 || !value_is(te, "chunked")))
		return refuse(c, TWIRP_UNIMPLEMENTED,
		              "Transfer-Encoding \"%.64s\" (only chunked is "
		              "supported)",
		              te);
	/* An announced oversize body is refused before it is read. */
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->cfg.max_body)
		return refuse(c, TWIRP_INVALID_ARGUMENT,
		              "request body too large (the limit is %zu bytes)",
		              c->srv->cfg.max_body);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct srv_conn *c = pconn(p);
	struct srv_request *r = c->cur;
	for (unsigned i = 0; i < r->nhdr; i++)
		if (!r->hdr[i].value && !(r->hdr[i].value = strdup("")))
			return -1;
	if (set_target(r))
		return -1;
	r->method = p->method;
	r->who.peer = c->peer;
	r->who.authorization = srv_header(r, "Authorization");
	if (check_head(c, p, r))
		return -1;
	/* The route, the RPC method and the token are judged before any byte of the body. */
	struct twirp_err e = {0};
	if (router_check_head(c->srv, r, &e)) {
		c->error = e;
		c->error_status = twirp_code_status(e.code);
		return -1;
	}
	/* RFC 9110 10.1.1: a client that waits for 100 Continue before the body gets it (after
	 * the answers of earlier pipelined requests it could not be told apart from them). */
	const char *expect = srv_header(r, "Expect");
	int has_body =
	    (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
	if (expect && value_is(expect, "100-continue") && has_body && !c->head &&
	    p->http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		conn_write(c, cont, sizeof(cont) - 1);
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct srv_conn *c = pconn(p);
	struct srv_request *r = c->cur;
	if (r->body_len + n > c->srv->cfg.max_body)
		return refuse(c, TWIRP_INVALID_ARGUMENT,
		              "request body too large (the limit is %zu bytes)",
		              c->srv->cfg.max_body);
	if (r->body_cap == 0 && (p->flags & F_CONTENTLENGTH) && p->content_length + 1 > n) {
		/* Size the buffer once from Content-Length. */
		r->body_cap = p->content_length + 1;
		r->body = malloc(r->body_cap);
		if (!r->body)
			return -1;
	}
	return append(&r->body, &r->body_len, &r->body_cap, at, n);
}

static int on_message_complete(http_parser *p)
{
	struct srv_conn *c = pconn(p);
	struct srv_request *r = c->cur;
	c->cur = NULL;
	c->in_message = 0;
	r->conn = c;
	r->head = p->method == HTTP_HEAD;
	r->keep_alive = http_should_keep_alive(p);
	r->who.authorization = srv_header(r, "Authorization"); /* trailers may have moved it */
	r->t_start = uv_hrtime();
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->nqueued++;
	c->queued_bytes += r->body_len;
	return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------------------ */
/* Writing */

static void on_write(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct srv_conn *c = w->conn;
	c->srv->metrics.bytes_out += w->len;
	free(w);
	c->writes_pending--;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after_write && c->writes_pending == 0) {
		conn_finish(c);
		return;
	}
	if (c->head && c->tcp.write_queue_size < OUT_HIGH_WATER)
		conn_advance(c); /* requests held while the output was full */
	if (!c->reading && may_read(c))
		conn_read_start(c);
}

/* Queues w (allocated with its data) for writing; w is freed once written or on error. */
static int conn_write_owned(struct srv_conn *c, struct write_req *w)
{
	if (c->closing) {
		free(w);
		return -1;
	}
	w->conn = c;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write)) {
		free(w);
		conn_close(c);
		return -1;
	}
	c->writes_pending++;
	return 0;
}

static int conn_write(struct srv_conn *c, const void *data, size_t len)
{
	struct write_req *w = malloc(sizeof(*w) + len);
	if (!w)
		return -1;
	memcpy(w->data, data, len);
	w->len = len;
	return conn_write_owned(c, w);
}

static void log_request(struct srv_request *r)
{
	struct srv *s = r->srv;
	double secs = (double)(uv_hrtime() - r->t_start) / 1e9;
	if (!r->route)
		r->route = "other";
	metrics_request(&s->metrics, r->route, r->status, secs);
	if (s->cfg.log_level <= LOG_INFO)
		srv_log(s, LOG_INFO, "%s %s %s %d %zu %.3fms", r->conn ? r->conn->peer : "-",
		        http_method_str(r->method), r->url, r->status, r->body_out, secs * 1e3);
}

/* The Date field every answer carries (RFC 9110 6.6.1), as an IMF-fixdate. */
static const char *http_date(char buf[40])
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	snprintf(buf, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
	         months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return buf;
}

void srv_respond(struct srv_request *r, int status, const char *ctype, const char *extra,
                 const void *body, size_t len)
{
	if (r->done)
		return;
	r->done = 1;
	r->status = status;
	/* HEAD: the headers GET would send, Content-Length included, and no body (RFC 9110
	 * 9.3.2); body may then be NULL. Not for a request the parser rejected (queue_error):
	 * its method is whatever the parser had reached, and the connection closes anyway. */
	size_t send = r->head ? 0 : len;
	r->body_out = send;
	struct srv_conn *c = r->conn;
	if (!c) {
		/* The client left while the handler was busy: nothing to send. */
		log_request(r);
		request_free(r);
		return;
	}
	int keep = r->keep_alive && !c->srv->stopping;
	char head[640], date[40];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: "
	                 "%zu\r\n%s%s%s\r\n",
	                 status, http_status_text(status), http_date(date), ctype, len,
	                 keep ? "" : "Connection: close\r\n",
	                 /* RFC 9110 11.6.1: a 401 names the scheme that would succeed */
	                 status == 401 ? "WWW-Authenticate: Bearer realm=\"vmsim\"\r\n" : "",
	                 extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		n = snprintf(head, sizeof(head), "HTTP/1.1 500 Internal Server Error\r\n\r\n");
	struct write_req *w = malloc(sizeof(*w) + (size_t)n + send);
	if (w) {
		memcpy(w->data, head, (size_t)n);
		if (send)
			memcpy(w->data + n, body, send);
		w->len = (size_t)n + send;
	}
	r->out = w;
	if (!keep)
		r->keep_alive = 0;
	log_request(r);
	conn_advance(c);
}

/* Error for a request the parser refused: queued like a response so order is kept. */
static void queue_error(struct srv_conn *c, int status, const struct twirp_err *e)
{
	struct srv_request *r = calloc(1, sizeof(*r));
	if (!r) {
		conn_close(c);
		return;
	}
	r->srv = c->srv;
	r->conn = c;
	r->url = strdup(c->cur && c->cur->url ? c->cur->url : "-");
	r->path = r->url;
	r->query = "";
	r->method = c->parser.method;
	r->t_start = uv_hrtime();
	r->dispatched = 1;
	r->route = "http_error";
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->nqueued++;
	size_t len = 0;
	char *body = twirp_error_json(e, &len);
	if (body)
		srv_respond(r, status, "application/json", NULL, body, len);
	else
		srv_respond(r, 500, "text/plain", NULL, "out of memory\n", 14);
	free(body);
}

/* Sends finished responses in order and hands the next request to the router. */
static void conn_advance(struct srv_conn *c)
{
	if (c->advancing)
		return;
	c->advancing = 1;
	while (c->head && !c->closing) {
		struct srv_request *r = c->head;
		if (!r->dispatched) {
			if (c->tcp.write_queue_size >= OUT_HIGH_WATER)
				break; /* the client is not reading: on_write resumes */
			r->dispatched = 1;
			router_handle(c->srv, r);
			continue;
		}
		if (!r->done)
			break;
		int keep = r->keep_alive;
		if (r->out) {
			conn_write_owned(c, r->out);
			r->out = NULL;
		}
		c->head = r->next;
		if (!c->head)
			c->tail = NULL;
		c->nqueued--;
		c->queued_bytes -= r->body_len < c->queued_bytes ? r->body_len : c->queued_bytes;
		request_free(r);
		if (!keep) {
			c->close_after_write = 1;
			/* Drop anything pipelined after a "Connection: close" request. */
			while (c->head) {
				struct srv_request *n = c->head->next;
				request_free(c->head);
				c->head = n;
			}
			c->tail = NULL;
			c->nqueued = 0;
			c->queued_bytes = 0;
			if (c->writes_pending == 0)
				conn_finish(c);
			break;
		}
	}
	if (!c->closing && !c->head && !c->in_message && !c->stream)
		c->deadline = uv_now(c->srv->loop) + c->srv->cfg.idle_timeout_ms; /* idle */
	c->advancing = 0;
}

/* ------------------------------------------------------------------------------------ */
/* Reading */

/* Reads land in one buffer per server: on_read parses them at once and copies what it keeps. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct srv_conn *c = h->data;
	buf->base = c->srv->readbuf;
	buf->len = sizeof(c->srv->readbuf);
}

static int tchar(unsigned char ch)
{
	return ch > ' ' && ch < 127 && !strchr("\"(),/:;<=>?@[\\]{}", ch);
}

/*
 * The parser stopped at data[at]. The answer goes after those of the requests before it, and
 * what the client still sends is read and dropped (a close with unread input would reset the
 * connection, and the client could lose the answer before reading it).
 */
static void parse_error(struct srv_conn *c, const char *data, size_t len, size_t at)
{
	struct twirp_err e = {.code = TWIRP_MALFORMED};
	int status = 400;
	snprintf(e.msg, sizeof(e.msg), "malformed HTTP request (%s)",
	         http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
	if (c->error_status) {
		e = c->error;
		status = c->error_status;
	} else if (HTTP_PARSER_ERRNO(&c->parser) == HPE_INVALID_TRANSFER_ENCODING) {
		e.code = TWIRP_UNIMPLEMENTED;
		snprintf(e.msg, sizeof(e.msg), "Transfer-Encoding other than chunked");
		status = twirp_code_status(e.code);
	} else if (HTTP_PARSER_ERRNO(&c->parser) == HPE_INVALID_METHOD) {
		/* A well-formed method token the parser does not know: 501 (RFC 9110 9.1). */
		size_t b = at, end = at;
		while (b > 0 && tchar((unsigned char)data[b - 1]))
			b--;
		while (end < len && tchar((unsigned char)data[end]))
			end++;
		if (end > b && end < len && data[end] == ' ') {
			e.code = TWIRP_UNIMPLEMENTED;
			snprintf(e.msg, sizeof(e.msg), "unknown method %.*s", (int)(end - b),
			         data + b);
			status = twirp_code_status(e.code);
		}
	}
	c->discard = 1;
	queue_error(c, status, &e);
	request_free(c->cur);
	c->cur = NULL;
	c->in_message = 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct srv_conn *c = st->data;
	if (nread < 0) {
		/* EOF: finish what is queued (half-close), then close. */
		if (nread == UV_EOF && c->head && !c->stream) {
			uv_read_stop(st);
			c->reading = 0;
			c->tail->keep_alive = 0;
			return;
		}
		conn_close(c);
		return;
	}
	if (nread == 0 || c->closing) {
		return;
	}
	c->srv->metrics.bytes_in += (uint64_t)nread;
	if (c->stream) { /* an event stream only talks one way */
		return;
	}
	if (c->discard) {
		c->dropped += (uint64_t)nread;
		if (c->dropped > LINGER_BYTES)
			conn_close(c);
		return;
	}
	size_t done = http_parser_execute(&c->parser, &parser_settings, buf->base, (size_t)nread);
	if (c->parser.http_errno != HPE_OK || done != (size_t)nread) {
		parse_error(c, buf->base, (size_t)nread,
		            done < (size_t)nread ? done : (size_t)nread - 1);
		return;
	}
	conn_advance(c);
	if (c->reading && !may_read(c)) {
		uv_read_stop(st);
		c->reading = 0;
	}
}

static void conn_read_start(struct srv_conn *c)
{
	if (c->reading || c->closing)
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = 1;
}

/* ------------------------------------------------------------------------------------ */
/* Connection lifecycle */

static void on_handle_closed(uv_handle_t *h)
{
	struct srv_conn *c = h->data;
	if (--c->open_handles)
		return;
	free(c);
}

static void conn_close(struct srv_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct srv *s = c->srv;
	if (c->stream && c->stream_on_close)
		c->stream_on_close(c->stream);
	c->stream = NULL;
	/* A handler still running (async commit) keeps its request; it is freed on respond. */
	while (c->head) {
		struct srv_request *r = c->head;
		c->head = r->next;
		if (r->dispatched && !r->done && !r->streaming) {
			r->conn = NULL;
			r->next = NULL;
		} else {
			if (r->streaming && !r->done) {
				r->done = 1;
				log_request(r); /* the stream ended: one line for its whole life */
			}
			request_free(r);
		}
	}
	c->tail = NULL;
	request_free(c->cur);
	c->cur = NULL;
	struct http_state *st = hstate(s);
	if (st && st->oldest == c)
		st->oldest = c->prev;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->authed && c->user_id)
		count_drop(s, c->user_id, "");
	else if (!c->authed)
		count_drop(s, 0, c->addr);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	if (!s->nconns)
		srv_conns_drained(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct srv_conn *c = req->data;
	if (status < 0 && !c->closing)
		conn_close(c);
}

/*
 * After the last answer: close, unless the client may still be sending a request the server
 * refused. Then lingering close (RFC 9112 9.6): send FIN, and read and drop its input until
 * it closes, LINGER_MS pass or LINGER_BYTES arrive, so it reads the answer, not a reset.
 */
static void conn_finish(struct srv_conn *c)
{
	if (c->closing)
		return;
	if (!c->discard || c->shut_started) {
		conn_close(c);
		return;
	}
	c->shut.data = c;
	if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown)) {
		conn_close(c);
		return;
	}
	c->shut_started = 1;
	c->deadline = uv_now(c->srv->loop) + LINGER_MS;
	conn_read_start(c);
}

static void conn_expire(struct srv_conn *c)
{
	c->deadline = 0;
	if (c->stream || c->closing)
		return;
	if (c->shut_started) {
		conn_close(c); /* the lingering time is over */
		return;
	}
	if (c->in_message) {
		/* Slowloris: the request did not arrive in time. */
		srv_log(c->srv, LOG_DEBUG, "%s request timeout", c->peer);
		request_free(c->cur);
		c->cur = NULL;
		c->in_message = 0;
		c->discard = 1;
		struct twirp_err e = {.code = TWIRP_DEADLINE_EXCEEDED,
		                      .msg = "the request took too long to arrive"};
		queue_error(c, twirp_code_status(e.code), &e);
		return;
	}
	if (!c->head)
		conn_close(c); /* idle keep-alive connection */
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char ip[48] = "?";
	int port = 0;
	if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			uv_ip4_name(a, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			uv_ip6_name(a, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(out, len, "%s:%d", ip, port);
}

static void reject_closed(uv_handle_t *h)
{
	free(h);
}

static void reject_written(uv_write_t *w, int status)
{
	(void)status;
	uv_close((uv_handle_t *)w->handle, reject_closed);
	free(w);
}

/* Over max_conns: answer 503 and close, so the client learns why. */
static void reject(struct srv *s, uv_stream_t *server)
{
	static const char body[] =
	    "{\"code\":\"unavailable\",\"msg\":\"too many connections, retry\"}";
	char date[40];
	uv_tcp_t *t = malloc(sizeof(*t));
	struct {
		uv_write_t w;
		char msg[256];
	} *w = malloc(sizeof(*w));
	int n = w ? snprintf(w->msg, sizeof(w->msg),
	                     "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\n"
	                     "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	                     "Connection: close\r\n\r\n%s",
	                     http_date(date), sizeof(body) - 1, body)
	          : 0;
	if (!t || !w || uv_tcp_init(s->loop, t)) {
		free(t);
		free(w);
		return;
	}
	if (uv_accept(server, (uv_stream_t *)t)) {
		free(w);
		uv_close((uv_handle_t *)t, reject_closed);
		return;
	}
	s->metrics.conns_rejected++;
	uv_buf_t b = uv_buf_init(w->msg, (unsigned)n);
	if (uv_write(&w->w, (uv_stream_t *)t, &b, 1, reject_written)) {
		free(w);
		uv_close((uv_handle_t *)t, reject_closed);
	}
}

/* A connection whose handle is open: start parsing and reading it. */
static void conn_start(struct srv *s, struct srv_conn *c)
{
	uv_tcp_nodelay(&c->tcp, 1);
	peer_name(&c->tcp, c->peer, sizeof(c->peer));
	snprintf(c->addr, sizeof(c->addr), "%.*s", (int)(strrchr(c->peer, ':') - c->peer), c->peer);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->metrics.conns_accepted++;
	struct http_state *st = hstate(s);
	if (st && !st->oldest)
		st->oldest = c;
	/* The first request head must arrive within the request timeout of the connection; the
	 * idle timeout applies only between requests. */
	c->deadline = uv_now(s->loop) + s->cfg.request_timeout_ms;
	struct http_count *a = count_get(s, 0, c->addr, 1);
	if (a && ++a->conns > s->cfg.max_unauth_per_addr)
		evict_oldest(s, c->addr); /* its oldest silent one, not the newcomer */
	if (!a)
		c->authed = 1; /* not counted, so not discounted either */
	if (!c->closing)
		conn_read_start(c);
}

static struct srv_conn *conn_new(struct srv *s)
{
	struct srv_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->open_handles = 1;
	return c;
}

void http_on_connection(uv_stream_t *server, int status)
{
	struct srv *s = server->data;
	if (status < 0)
		return;
	/* At the limit the oldest idle or unauthenticated connection makes room; only when every
	 * connection is busy is the newcomer refused. */
	if (s->nconns >= s->cfg.max_conns && !evict_oldest(s, NULL)) {
		reject(s, server);
		return;
	}
	struct srv_conn *c = conn_new(s);
	if (!c)
		return;
	if (uv_accept(server, (uv_stream_t *)&c->tcp)) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		return;
	}
	conn_start(s, c);
}

int http_adopt(struct srv *s, uv_os_sock_t fd)
{
	if (s->nconns >= s->cfg.max_conns && !evict_oldest(s, NULL))
		return -1;
	struct srv_conn *c = conn_new(s);
	if (!c)
		return -1;
	if (uv_tcp_open(&c->tcp, fd)) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		return -1;
	}
	conn_start(s, c);
	return 0;
}

static void on_sweep(uv_timer_t *t)
{
	struct srv *s = t->data;
	uint64_t now = uv_now(s->loop);
	for (struct srv_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->deadline && now >= c->deadline)
			conn_expire(c);
	}
}

/* Frees the bookkeeping of fairness (stopping: the connections left go uncounted). */
static void http_release(struct srv *s)
{
	struct http_state *st = hstate(s);
	if (!st)
		return;
	for (unsigned i = 0; i < COUNT_BUCKETS; i++)
		for (struct http_count *e = st->bucket[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	free(st);
	s->http = NULL;
}

void http_sweep_start(struct srv *s)
{
	if (!s->http)
		s->http = calloc(1, sizeof(struct http_state));
	uv_timer_init(s->loop, &s->sweep);
	s->sweep.data = s;
	uv_timer_start(&s->sweep, on_sweep, HTTP_SWEEP_MS, HTTP_SWEEP_MS);
}

void http_sweep_stop(struct srv *s)
{
	uv_close((uv_handle_t *)&s->sweep, NULL);
	http_release(s);
}

void http_close_all(struct srv *s, int force)
{
	struct srv_conn *c = s->conns;
	while (c) {
		struct srv_conn *next = c->next;
		if (force || c->stream || (!c->head && !c->in_message))
			conn_close(c);
		else if (c->tail)
			c->tail->keep_alive = 0; /* close after the last response */
		c = next;
	}
}

/* ------------------------------------------------------------------------------------ */
/* Streams (SSE) */

int srv_stream_begin(struct srv_request *r, const char *ctype, const char *extra)
{
	struct srv_conn *c = r->conn;
	if (!c || c->closing)
		return -1;
	char head[512], date[40];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: %s\r\n"
	                 "Cache-Control: no-cache\r\nConnection: keep-alive\r\n%s\r\n",
	                 http_date(date), ctype, extra ? extra : "");
	r->streaming = 1;
	r->status = 200;
	c->deadline = 0;
	return conn_write(c, head, (size_t)n);
}

void srv_conn_set_stream(struct srv_conn *c, void *stream, void (*on_close)(void *stream))
{
	c->stream = stream;
	c->stream_on_close = on_close;
}

size_t srv_stream_write(struct srv_conn *c, const void *data, size_t len)
{
	if (len)
		conn_write(c, data, len);
	return c->tcp.write_queue_size;
}

void srv_stream_close(struct srv_conn *c)
{
	/* The stream's owner is already detaching: do not call it back. */
	c->stream = NULL;
	if (c->head && c->head->streaming) {
		struct srv_request *r = c->head;
		r->done = 1;
		log_request(r);
	}
	if (c->writes_pending)
		c->close_after_write = 1;
	else
		conn_close(c);
}
