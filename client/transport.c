/*
 * The wire: one libcurl easy handle per session, so every RPC after the first reuses the
 * keep-alive connection. Requests go out as application/protobuf to
 * POST /twirp/vmsim.v1.VmSim/<Method>; Twirp JSON errors come back and are shown with their
 * code. Also the SSE reader for `events --follow`.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct buf {
	char *data;
	size_t len, cap;
};

struct ctl_transport {
	CURL *curl;
	struct buf in;
	char errbuf[CURL_ERROR_SIZE];
};

static int buf_append(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	return buf_append(b, p, size * n) ? 0 : size * n;
}

static struct ctl_transport *transport(struct ctl *c)
{
	if (c->tr)
		return c->tr;
	static int global_done;
	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = 1;
	}
	struct ctl_transport *t = calloc(1, sizeof(*t));
	if (!t || !(t->curl = curl_easy_init())) {
		free(t);
		return NULL;
	}
	c->tr = t;
	return t;
}

void ctl_transport_free(struct ctl *c)
{
	if (!c->tr)
		return;
	curl_easy_cleanup(c->tr->curl);
	free(c->tr->in.data);
	free(c->tr);
	c->tr = NULL;
}

/* Common options for every request on the shared handle. */
static struct curl_slist *prepare(struct ctl *c, struct ctl_transport *t, const char *url,
                                  struct curl_slist *h)
{
	CURL *cu = t->curl;
	curl_easy_reset(cu); /* keeps the connection cache: reuse survives the reset */
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, c->timeout_ms > 0 ? c->timeout_ms : 5000L);
	if (c->timeout_ms > 0)
		curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(cu, CURLOPT_USERAGENT, "vmsimctl/1");
	curl_easy_setopt(cu, CURLOPT_TCP_NODELAY, 1L);
	if (c->token[0]) {
		char auth[320];
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	t->errbuf[0] = '\0';
	t->in.len = 0;
	return h;
}

static int connect_error(struct ctl *c, struct ctl_transport *t, CURLcode rc)
{
	fprintf(stderr, "vmsimctl: cannot reach the server at %s: %s\n", c->server,
	        t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_OPERATION_TIMEDOUT)
		fprintf(stderr, "hint: the server did not answer in time; raise --timeout\n");
	else
		fprintf(stderr,
		        "hint: is vmsimd running? Point --server (or VMSIM_SERVER) at it\n");
	return CTL_ECONNECT;
}

/* A Twirp error body: {"code":"not_found","msg":"...","meta":{...}}. */
static void twirp_error(struct ctl *c, long status, const struct buf *body)
{
	json_error_t jerr;
	json_t *j = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
	const char *code = j ? json_string_value(json_object_get(j, "code")) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "msg")) : NULL;
	if (code) {
		snprintf(c->err_code, sizeof(c->err_code), "%s", code);
		snprintf(c->err_msg, sizeof(c->err_msg), "%s", msg ? msg : "");
		json_t *meta = json_object_get(j, "meta");
		const char *k;
		json_t *v;
		json_object_foreach(meta, k, v)
		{
			size_t n = strlen(c->err_msg);
			if (!json_is_string(v) || n + 4 >= sizeof(c->err_msg))
				continue;
			if (!strcmp(k, "seq")) { /* the op failed partway: say what that means */
				c->err_seq = strtoull(json_string_value(v), NULL, 10);
				snprintf(c->err_msg + n, sizeof(c->err_msg) - n,
				         " (it failed partway; what it did stays, as seq %s: "
				         "`vmsimctl events` shows it)",
				         json_string_value(v));
			} else {
				snprintf(c->err_msg + n, sizeof(c->err_msg) - n, " (%s: %s)", k,
				         json_string_value(v));
			}
		}
	} else {
		/* Not Twirp: a proxy or another server. Show the status and the start of the body.
		 */
		snprintf(c->err_code, sizeof(c->err_code), "http_%ld", status);
		snprintf(c->err_msg, sizeof(c->err_msg), "HTTP %ld: %.200s", status,
		         body->data ? body->data : "");
	}
	json_decref(j);
}

static int rpc(struct ctl *c, const char *method, const ProtobufCMessage *req,
               ProtobufCMessage **resp, int quiet)
{
	struct ctl_transport *t = transport(c);
	*resp = NULL;
	c->err_code[0] = c->err_msg[0] = '\0';
	c->err_seq = 0;
	if (!t) {
		fprintf(stderr, "vmsimctl: cannot start libcurl\n");
		return CTL_ECONNECT;
	}
	const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(
	    &vmsim__v1__vm_sim__descriptor, method);
	if (!m) {
		fprintf(stderr, "vmsimctl: the API has no method %s\n", method);
		return CTL_EUSAGE;
	}
	size_t n = protobuf_c_message_get_packed_size(req);
	uint8_t *out = malloc(n ? n : 1);
	if (!out)
		return CTL_ECONNECT;
	protobuf_c_message_pack(req, out);

	char url[768];
	size_t sl = strlen(c->server);
	snprintf(url, sizeof(url), "%.*s/twirp/vmsim.v1.VmSim/%s",
	         (int)(sl && c->server[sl - 1] == '/' ? sl - 1 : sl), c->server, method);
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/protobuf");
	h = curl_slist_append(h, "Accept: application/protobuf");
	h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip on big batches */
	h = prepare(c, t, url, h);
	curl_easy_setopt(t->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDS, (const char *)out);
	curl_easy_setopt(t->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &t->in);
	CURLcode rc = curl_easy_perform(t->curl);
	curl_slist_free_all(h);
	free(out);
	if (rc != CURLE_OK)
		return connect_error(c, t, rc);
	long status = 0;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		twirp_error(c, status, &t->in);
		if (!quiet)
			fprintf(stderr, "Error (%s): %s\n", c->err_code, c->err_msg);
		return CTL_EREFUSED;
	}
	*resp = protobuf_c_message_unpack(m->output, NULL, t->in.len, (const uint8_t *)t->in.data);
	if (!*resp) {
		snprintf(c->err_code, sizeof(c->err_code), "internal");
		snprintf(c->err_msg, sizeof(c->err_msg), "the server's %s answer does not decode",
		         m->output->name);
		if (!quiet)
			fprintf(stderr, "Error (%s): %s\n", c->err_code, c->err_msg);
		return CTL_EREFUSED;
	}
	return CTL_OK;
}

int ctl_rpc(struct ctl *c, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp)
{
	return rpc(c, method, req, resp, 0);
}

int ctl_rpc_quiet(struct ctl *c, const char *method, const ProtobufCMessage *req,
                  ProtobufCMessage **resp)
{
	return rpc(c, method, req, resp, 1);
}

int ctl_call(struct ctl *c, const char *method, const ProtobufCMessage *req, ctl_show_fn show,
             const void *arg)
{
	ProtobufCMessage *resp;
	int rc = rpc(c, method, req, &resp, 0);
	if (rc)
		return rc;
	if (c->output == CTL_OUT_JSON)
		ctl_print_json(resp);
	else
		show(c, resp, arg);
	protobuf_c_message_free_unpacked(resp, NULL);
	return CTL_OK;
}

/* ---- server-sent events ------------------------------------------------------------------ */

struct sse {
	struct buf line, data;
	char event[64];
	uint64_t id;
	int (*on_event)(void *arg, uint64_t id, const char *event, const char *data);
	void *arg;
	int stop;
	long status;
	CURL *curl;
	struct buf errbody;
};

/* One line of the stream (without its newline), per the EventSource parsing rules. */
static void sse_line(struct sse *s, char *l)
{
	if (!*l) { /* blank line: dispatch */
		if (s->data.len) {
			if (s->data.data[s->data.len - 1] == '\n')
				s->data.data[--s->data.len] = '\0';
			s->stop = s->on_event(s->arg, s->id, s->event[0] ? s->event : "message",
			                      s->data.data);
		}
		s->data.len = 0;
		s->event[0] = '\0';
		return;
	}
	if (*l == ':')
		return; /* comment / keep-alive */
	char *v = strchr(l, ':');
	if (v) {
		*v++ = '\0';
		if (*v == ' ')
			v++;
	} else {
		v = l + strlen(l);
	}
	if (strcmp(l, "data") == 0) {
		buf_append(&s->data, v, strlen(v));
		buf_append(&s->data, "\n", 1);
	} else if (strcmp(l, "event") == 0) {
		snprintf(s->event, sizeof(s->event), "%s", v);
	} else if (strcmp(l, "id") == 0) {
		s->id = strtoull(v, NULL, 10);
	}
}

static size_t on_sse(char *p, size_t size, size_t n, void *arg)
{
	struct sse *s = arg;
	size_t total = size * n;
	if (!s->status)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status != 200) {
		buf_append(&s->errbody, p, total);
		return total;
	}
	for (size_t i = 0; i < total && !s->stop; i++) {
		if (p[i] == '\n') {
			size_t len = s->line.len;
			if (len && s->line.data[len - 1] == '\r')
				s->line.data[--s->line.len] = '\0';
			buf_append(&s->line, "", 0);
			sse_line(s, s->line.data);
			s->line.len = 0;
		} else {
			buf_append(&s->line, &p[i], 1);
		}
	}
	return s->stop ? 0 : total; /* 0 aborts the transfer when the callback asked to stop */
}

int ctl_sse(struct ctl *c, const char *path, uint64_t last_id,
            int (*on_event)(void *arg, uint64_t id, const char *event, const char *data), void *arg)
{
	struct ctl_transport *t = transport(c);
	if (!t)
		return CTL_ECONNECT;
	char url[768], hdr[64];
	size_t sl = strlen(c->server);
	snprintf(url, sizeof(url), "%.*s%s", (int)(sl && c->server[sl - 1] == '/' ? sl - 1 : sl),
	         c->server, path);
	struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
	if (last_id) {
		snprintf(hdr, sizeof(hdr), "Last-Event-ID: %" PRIu64, last_id);
		h = curl_slist_append(h, hdr);
	}
	long saved = c->timeout_ms;
	c->timeout_ms = 0; /* a stream has no end; --timeout bounds only the connect */
	h = prepare(c, t, url, h);
	c->timeout_ms = saved;
	if (saved > 0)
		curl_easy_setopt(t->curl, CURLOPT_CONNECTTIMEOUT_MS, saved);
	struct sse s = {.on_event = on_event, .arg = arg, .curl = t->curl, .id = last_id};
	curl_easy_setopt(t->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(t->curl, CURLOPT_WRITEFUNCTION, on_sse);
	curl_easy_setopt(t->curl, CURLOPT_WRITEDATA, &s);
	CURLcode rc = curl_easy_perform(t->curl);
	curl_slist_free_all(h);
	int ret = CTL_OK;
	if (s.status && s.status != 200) {
		twirp_error(c, s.status, &s.errbody);
		fprintf(stderr, "Error (%s): %s\n", c->err_code, c->err_msg);
		ret = CTL_EREFUSED;
	} else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && s.stop)) {
		ret = connect_error(c, t, rc);
	}
	free(s.line.data);
	free(s.data.data);
	free(s.errbody.data);
	return ret;
}
