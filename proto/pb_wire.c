/*
 * A pre-pass over protobuf bytes (see pb_wire.h). It reads the wire format only as far as
 * the encoding spec's merge rules need: tags, lengths and the descriptor's field types.
 * Values are copied byte for byte; protobuf-c still decodes and checks every one of them.
 * Encoding: https://protobuf.dev/programming-guides/encoding/
 */
#include "pb_wire.h"

#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

struct rd {
	const uint8_t *p, *end;
};

static int get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (r->p == r->end)
			return -1;
		uint8_t b = *r->p++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1; /* more than 10 bytes */
}

/* One field: its number, wire type, where it starts and, for WT_LEN, its payload. */
struct field {
	uint32_t num;
	unsigned wt;
	const uint8_t *start, *payload;
	size_t plen;
};

static int skip_group(struct rd *r, uint32_t num, int depth);

/* Reads the next field; 0, or -1 if the bytes are not a valid encoding. */
static int next_field(struct rd *r, struct field *f, int depth)
{
	uint64_t tag, v;
	f->start = r->p;
	if (get_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return -1;
	f->num = (uint32_t)(tag >> 3);
	f->wt = (unsigned)(tag & 7);
	f->payload = NULL;
	f->plen = 0;
	switch (f->wt) {
	case WT_VARINT:
		return get_varint(r, &v);
	case WT_I64:
		if (r->end - r->p < 8)
			return -1;
		r->p += 8;
		return 0;
	case WT_I32:
		if (r->end - r->p < 4)
			return -1;
		r->p += 4;
		return 0;
	case WT_LEN:
		if (get_varint(r, &v) || v > (uint64_t)(r->end - r->p))
			return -1;
		f->payload = r->p;
		f->plen = (size_t)v;
		r->p += v;
		return 0;
	case WT_SGROUP:
		return skip_group(r, f->num, depth + 1);
	default: /* an end group without its start, or wire types 6 and 7 */
		return -1;
	}
}

/* Skips fields up to the end-group tag that closes group num. */
static int skip_group(struct rd *r, uint32_t num, int depth)
{
	if (depth > PB_WIRE_MAX_DEPTH)
		return -1;
	while (r->p < r->end) {
		const uint8_t *save = r->p;
		uint64_t tag;
		if (get_varint(r, &tag))
			return -1;
		if ((tag & 7) == WT_EGROUP)
			return (tag >> 3) == num ? 0 : -1;
		r->p = save;
		struct field f;
		if (next_field(r, &f, depth))
			return -1;
	}
	return -1; /* the group never ended */
}

static const ProtobufCFieldDescriptor *field_of(const ProtobufCMessageDescriptor *d, uint32_t num)
{
	return protobuf_c_message_descriptor_get_field(d, num);
}

/* A field whose occurrences merge: a message read from its length-delimited form. */
static int is_submessage(const ProtobufCFieldDescriptor *fd, unsigned wt)
{
	return fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && wt == WT_LEN;
}

static int is_oneof(const ProtobufCFieldDescriptor *fd)
{
	return (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static int needs(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len, int depth)
{
	if (depth > PB_WIRE_MAX_DEPTH)
		return -1;
	/* Which fields (by index) and which oneofs (by their case offset) were seen. */
	unsigned char seen[256] = {0};
	unsigned oneof_off[64];
	unsigned n_oneof = 0;
	int result = 0;
	struct rd r = {in, in + len};
	while (r.p < r.end) {
		struct field f;
		if (next_field(&r, &f, depth))
			return -1;
		const ProtobufCFieldDescriptor *fd = field_of(d, f.num);
		if (f.wt == WT_SGROUP) {
			result = 1;
			continue;
		}
		if (!fd)
			continue;
		size_t idx = (size_t)(fd - d->fields);
		if (is_oneof(fd)) {
			unsigned k = 0;
			while (k < n_oneof && oneof_off[k] != fd->quantifier_offset)
				k++;
			if (k < n_oneof || n_oneof == 64)
				result = 1; /* the oneof again: which member wins, merged or not */
			else
				oneof_off[n_oneof++] = fd->quantifier_offset;
		} else if (is_submessage(fd, f.wt) && fd->label != PROTOBUF_C_LABEL_REPEATED) {
			if (idx >= sizeof(seen) || seen[idx])
				result = 1;
			else
				seen[idx] = 1;
		}
		if (is_submessage(fd, f.wt)) {
			int sub = needs(fd->descriptor, f.payload, f.plen, depth + 1);
			if (sub < 0)
				return -1;
			result |= sub;
		}
	}
	return result;
}

int pb_wire_needs_merge(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len)
{
	return needs(d, in, len, 0);
}

/* ------------------------------------------------------------------------------------ */
/* Rewriting */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap : 64;
		while (nc < b->len + n)
			nc *= 2;
		uint8_t *np = realloc(b->p, nc);
		if (!np)
			return -1;
		b->p = np;
		b->cap = nc;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			tmp[n] |= 0x80;
		n++;
	} while (v);
	return put(b, tmp, n);
}

/* What is kept of one field until the end: the bytes of its occurrences. */
struct held {
	struct buf data; /* a submessage: its payloads concatenated; else the last field whole */
	int present;
	int message; /* data holds payloads to merge, not a whole field */
	unsigned order;
};

static int rewrite(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len,
                   struct buf *out, int depth);

/* Writes field fd (number num) with the rewritten merge of the payloads in h. */
static int put_merged(struct buf *out, const ProtobufCFieldDescriptor *fd, const struct held *h,
                      int depth)
{
	struct buf sub = {0};
	if (rewrite(fd->descriptor, h->data.p, h->data.len, &sub, depth + 1)) {
		free(sub.p);
		return -1;
	}
	int rc = put_varint(out, (uint64_t)fd->id << 3 | WT_LEN) || put_varint(out, sub.len) ||
	         put(out, sub.p, sub.len);
	free(sub.p);
	return rc ? -1 : 0;
}

static void drop_oneof(const ProtobufCMessageDescriptor *d, struct held *h, unsigned off)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (is_oneof(&d->fields[i]) && d->fields[i].quantifier_offset == off) {
			h[i].present = 0;
			h[i].data.len = 0;
		}
}

/* One field read from the input: passed on now, or held to be written at the end. */
static int take(const ProtobufCMessageDescriptor *d, struct held *h, const struct field *f,
                const uint8_t *end, struct buf *out, int depth, unsigned order)
{
	const ProtobufCFieldDescriptor *fd = field_of(d, f->num);
	if (!fd)
		return 0; /* unknown, groups too: skipped */
	if (f->wt == WT_SGROUP)
		return -1; /* a known field is never a group in proto3 */
	struct held *x = &h[fd - d->fields];
	int msg = is_submessage(fd, f->wt);
	if (fd->label == PROTOBUF_C_LABEL_REPEATED || (!msg && !is_oneof(fd))) {
		if (!msg)
			return put(out, f->start, (size_t)(end - f->start));
		struct held one = {.data = {(uint8_t *)f->payload, f->plen, f->plen}};
		return put_merged(out, fd, &one, depth);
	}
	if (is_oneof(fd) && !(x->present && msg && x->message))
		drop_oneof(d, h, fd->quantifier_offset); /* another member, or a scalar again */
	if (!msg)
		x->data.len = 0; /* the last value wins */
	x->present = 1;
	x->message = msg;
	x->order = order;
	return msg ? put(&x->data, f->payload, f->plen)
	           : put(&x->data, f->start, (size_t)(end - f->start));
}

static int rewrite(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len,
                   struct buf *out, int depth)
{
	if (depth > PB_WIRE_MAX_DEPTH)
		return -1;
	struct held *h = calloc(d->n_fields ? d->n_fields : 1, sizeof(*h));
	if (!h)
		return -1;
	struct rd r = {in, in + len};
	int rc = 0;
	for (unsigned order = 0; !rc && r.p < r.end; order++) {
		struct field f;
		rc = next_field(&r, &f, depth) || take(d, h, &f, r.p, out, depth, order) ? -1 : 0;
	}
	/* Held fields go out in the order of their last occurrence (a oneof's last member). */
	for (;;) {
		struct held *first = NULL;
		for (unsigned i = 0; i < d->n_fields; i++)
			if (h[i].present && (!first || h[i].order < first->order))
				first = &h[i];
		if (!first || rc)
			break;
		const ProtobufCFieldDescriptor *fd = &d->fields[first - h];
		rc = first->message ? put_merged(out, fd, first, depth)
		                    : put(out, first->data.p, first->data.len);
		first->present = 0;
	}
	for (unsigned i = 0; i < d->n_fields; i++)
		free(h[i].data.p);
	free(h);
	return rc;
}

int pb_wire_merge(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *out_len)
{
	struct buf b = {0};
	if (rewrite(d, in, len, &b, 0)) {
		free(b.p);
		return -1;
	}
	if (!b.p && !(b.p = malloc(1)))
		return -1;
	*out = b.p;
	*out_len = b.len;
	return 0;
}
