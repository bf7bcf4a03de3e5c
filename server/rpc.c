/*
 * The RPC pipeline shared by every method: decode, authorize, handle, commit, encode. Methods
 * are the service descriptor protoc-c generated from vmsim.proto; their handlers are the
 * server's method table, filled by each module at startup (rpc_check_methods checks that a
 * method added to the proto has one).
 */
#include "rpc.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pb_json.h"
#include "pb_wire.h"
#include "read_cost.h"
#include "registry.h"
#include "sse.h"
#include "vmsim/v1/vmsim.pb-c.h"
#include "common.h"

static const ProtobufCServiceDescriptor *service = &vmsim__v1__vm_sim__descriptor;

/*
 * A bump allocator for unpacking protobuf requests: every piece of a request lives exactly as
 * long as the call, so pieces are never freed one by one and the whole arena goes at once.
 * An Apply of a million ops unpacks two million small messages; this makes them cheap.
 */
struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	max_align_t data[];
};

struct rpc_arena {
	struct arena_chunk *head;
};

static void *arena_alloc(void *data, size_t n)
{
	struct rpc_arena *a = data;
	n = (n + 15) & ~(size_t)15;
	struct arena_chunk *c = a->head;
	if (!c || c->size - c->used < n) {
		size_t size = c ? c->size * 2 : 4096;
		while (size < n)
			size *= 2;
		if (size > (16u << 20) && n < (16u << 20))
			size = 16u << 20;
		c = xmalloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p; /* released with the arena */
}

static void arena_release(struct rpc_arena *a)
{
	if (!a)
		return;
	for (struct arena_chunk *c = a->head, *n; c; c = n) {
		n = c->next;
		free(c);
	}
	free(a);
}

int rpc_init(char *err, size_t len)
{
	return ops_init(err, len);
}

int rpc_register(struct srv *s, const char *method, rpc_handler_fn fn, void *data)
{
	const ProtobufCMethodDescriptor *md =
	    protobuf_c_service_descriptor_get_method_by_name(service, method);
	if (!md)
		return -1;
	if (!s->methods && !(s->methods = xcalloc(service->n_methods, sizeof(*s->methods))))
		return -1;
	s->methods[md - service->methods] = (struct rpc_method){fn, data};
	return 0;
}

int rpc_check_methods(const struct srv *s, char *err, size_t len)
{
	for (unsigned i = 0; i < service->n_methods; i++) {
		if (!s->methods || !s->methods[i].fn) {
			snprintf(err, len, "no handler for %s.%s", service->name,
			         service->methods[i].name);
			return -1;
		}
	}
	return 0;
}

enum twirp_code twirp_code(enum vm_err e)
{
	switch (e) {
	case VM_OK:
		return TWIRP_OK;
	case VM_EINVAL:
	case VM_EFAULT:
		return TWIRP_INVALID_ARGUMENT;
	case VM_ENOMEM:
	case VM_ENOSPC:
		return TWIRP_RESOURCE_EXHAUSTED;
	case VM_ENOENT:
		return TWIRP_NOT_FOUND;
	case VM_EEXIST:
		return TWIRP_ALREADY_EXISTS;
	case VM_EBUSY:
	case VM_EPERM:
		return TWIRP_FAILED_PRECONDITION;
	}
	return TWIRP_INTERNAL;
}

void rpc_fail(struct srv_call *c, enum twirp_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err.msg, sizeof(c->err.msg), fmt, ap);
	va_end(ap);
	c->err.code = code;
	c->failed = 1;
}

void rpc_fail_vm(struct srv_call *c, enum vm_err e, const char *msg)
{
	rpc_fail(c, twirp_code(e), "%s", msg && *msg ? msg : vm_strerror(e));
}

void rpc_reply(struct srv_call *c, const ProtobufCMessage *resp)
{
	free(c->out);
	c->out = NULL;
	if (c->json) {
		c->out = pb_json_dumps(resp, PB_JSON_EMIT_DEFAULTS, &c->out_len);
	} else {
		c->out_len = protobuf_c_message_get_packed_size(resp);
		c->out = xmalloc(c->out_len ? c->out_len : 1);
		if (c->out)
			protobuf_c_message_pack(resp, (uint8_t *)c->out);
	}
	if (!c->out)
		rpc_fail(c, TWIRP_INTERNAL, "out of memory encoding the response");
}

void rpc_call_free(struct srv_call *c)
{
	if (!c)
		return;
	if (c->arena)
		arena_release(c->arena); /* req lives in it */
	else if (c->req)
		protobuf_c_message_free_unpacked(c->req, NULL);
	free(c->out);
	free(c->ops);
	free(c);
}

static void finish(struct srv_call *c)
{
	if (c->has_commit && !c->commit_failed) {
		/* Durable now: let live event streams see what the op did. */
		struct srv_machine *sm = registry_get(c->srv->reg, c->commit.machine_id);
		if (sm)
			sse_notify(c->srv, sm);
	}
	c->done(c, c->done_arg);
}

static void commit_done(void *arg, int err)
{
	struct srv_call *c = arg;
	if (err) {
		free(c->out);
		c->out = NULL;
		c->commit_failed = 1;
		c->err.seq = 0;
		rpc_fail(c, TWIRP_UNAVAILABLE, "the change could not be saved; try again");
	}
	finish(c);
}

static const char *request_machine_id(const ProtobufCMessage *req)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "machine_id");
	if (!f || f->type != PROTOBUF_C_TYPE_STRING)
		return "";
	const char *s = *(char *const *)((const char *)req + f->offset);
	return s ? s : "";
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/*
 * The string field of a protobuf body that holds a NUL byte, or NULL. protobuf-c hands
 * strings over as C strings, so "a\0b" would silently become "a"; JSON refuses \u0000, and
 * so does this. Walks the wire bytes with the message descriptors, nested messages included.
 */
static const char *nul_string_field(const ProtobufCMessageDescriptor *d, const uint8_t *p,
                                    size_t len, int depth)
{
	const uint8_t *end = p + len;
	uint64_t key, n;
	while (p < end && depth < 64) {
		if (read_varint(&p, end, &key))
			return NULL;
		switch (key & 7) {
		case 0:
			if (read_varint(&p, end, &n))
				return NULL;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2: {
			if (read_varint(&p, end, &n) || n > (uint64_t)(end - p))
				return NULL;
			const ProtobufCFieldDescriptor *f =
			    protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
			const char *bad = NULL;
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, n))
				bad = f->name;
			else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
				bad = nul_string_field(f->descriptor, p, n, depth + 1);
			if (bad)
				return bad;
			p += n;
			break;
		}
		default:
			return NULL; /* groups: protobuf-c has refused them already */
		}
	}
	return NULL;
}

static ProtobufCMessage *decode(struct srv_call *c, const char *body, size_t len)
{
	const ProtobufCMessageDescriptor *d = c->md->input;
	if (c->json) {
		char why[256];
		ProtobufCMessage *m = len ? pb_json_parse(d, body, len, why, sizeof(why))
		                          : pb_json_parse(d, "{}", 2, why, sizeof(why));
		if (!m)
			rpc_fail(c, TWIRP_MALFORMED, "the JSON body is not a valid %s: %s", d->name,
			         why);
		return m;
	}
	/* Repeated submessages and groups: what protobuf-c reads otherwise than the spec. */
	const uint8_t *in = (const uint8_t *)body;
	uint8_t *merged = NULL;
	int need = pb_wire_needs_merge(d, in, len);
	if (need > 0 && !pb_wire_merge(d, in, len, &merged, &len))
		in = merged;
	c->arena = xcalloc(1, sizeof(*c->arena));
	ProtobufCAllocator alloc = {arena_alloc, arena_free, c->arena};
	ProtobufCMessage *m = c->arena && need >= 0 && (need == 0 || merged)
	                          ? protobuf_c_message_unpack(d, &alloc, len, in)
	                          : NULL;
	if (!m) {
		free(merged);
		rpc_fail(c, TWIRP_MALFORMED, "the body is not a valid protobuf %s", d->name);
		return NULL;
	}
	const char *field = nul_string_field(d, in, len, 0);
	if (field)
		rpc_fail(c, TWIRP_MALFORMED,
		         "the body is not a valid protobuf %s: %s holds a NUL byte", d->name,
		         field);
	free(merged);
	return m;
}

/*
 * What the decoders let through but no handler should see: strings that are not UTF-8
 * (protobuf-c does not check; such a name, once stored, would break every JSON answer that
 * shows it) and enum numbers the enum does not name (proto3 keeps them, in protobuf and JSON).
 */
static int check_values(struct srv_call *c)
{
	char why[sizeof(c->err.msg)];
	if (!pb_check_values(c->req, why, sizeof(why)))
		return 0;
	rpc_fail(c, TWIRP_INVALID_ARGUMENT, "%s", why);
	return -1;
}

void rpc_defer(struct srv_call *c)
{
	c->deferred = 1;
}

void rpc_resume(struct srv_call *c)
{
	c->deferred = 0;
	if (!c->has_commit) {
		finish(c);
		return;
	}
	c->commit.who = c->who;
	c->srv->commit(c->srv->commit_data, &c->commit, commit_done, c);
}

void rpc_dispatch(struct srv *s, const char *method, int json, const char *body, size_t len,
                  struct srv_identity *who, rpc_done_fn done, void *arg)
{
	struct srv_call *c = xcalloc(1, sizeof(*c));
	if (!c) {
		done(NULL, arg); /* the transport answers 500 */
		return;
	}
	c->srv = s;
	c->who = who;
	c->json = json;
	c->done = done;
	c->done_arg = arg;
	c->method = method;
	c->machine_id = "";
	c->md = protobuf_c_service_descriptor_get_method_by_name(service, method);
	if (!c->md) {
		rpc_fail(c, TWIRP_BAD_ROUTE, "no method %s in %s", method, service->name);
		finish(c);
		return;
	}
	c->method = c->md->name;
	const struct rpc_method *m = s->methods ? &s->methods[c->md - service->methods] : NULL;
	if (!m || !m->fn) {
		rpc_fail(c, TWIRP_UNIMPLEMENTED, "%s is not served here", c->method);
		finish(c);
		return;
	}
	c->data = m->data;
	c->req = decode(c, body, len);
	if (!c->req || c->failed || check_values(c)) {
		finish(c);
		return;
	}
	c->machine_id = request_machine_id(c->req);
	if (!s->park_admit || !s->park_admit(c))
		rpc_admit(c);
}

void rpc_admit(struct srv_call *c)
{
	struct srv *s = c->srv;
	struct srv_identity *who = c->who;
	who->req = c->req;
	if (s->authorize &&
	    s->authorize(s->authorize_data, who, c->method, c->machine_id, &c->err)) {
		c->failed = 1;
		finish(c);
		return;
	}
	who->req = NULL;
	/* A read whose answer grows with the machine pays for it like ops (seam 4). */
	uint64_t units = read_cost(s, c->method, c->req);
	if (units > 1 && s->charge && s->charge(s->charge_data, who, units, &c->err)) {
		c->failed = 1;
		finish(c);
		return;
	}
	if (!s->park || !s->park(c))
		rpc_run(c);
}

void rpc_run(struct srv_call *c)
{
	c->srv->methods[c->md - service->methods].fn(c);
	if (c->deferred)
		return;
	/* A change is journaled even when the call fails: an op that failed partway changed the
	 * machine, and so did one whose answer could not be encoded. */
	if (!c->has_commit) {
		finish(c);
		return;
	}
	c->commit.who = c->who;
	c->srv->commit(c->srv->commit_data, &c->commit, commit_done, c);
}
