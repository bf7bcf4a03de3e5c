/*
 * Wire op <-> struct op. Each binding names the Op oneof field (which is also the request
 * message's type) and, field by field, the struct op member it fills. Copies are done by
 * descriptor type and member size: widening sign-extends signed values, narrowing is
 * range-checked, strings must fit the member (NAME_LEN).
 */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct member {
	const char *field; /* request field name (proto spelling) */
	size_t off;        /* offset in struct op */
	size_t size;       /* member size */
};

struct binding {
	const char *name; /* Op oneof field name */
	enum op_kind kind;
	struct member m[7];
};

/* Resolved by ops_init from the Op descriptor, one per binding. */
struct resolved {
	const ProtobufCFieldDescriptor *op_field;
	const ProtobufCMessageDescriptor *req;
	const ProtobufCFieldDescriptor *field[7]; /* per member: the request field it reads */
	int member_of[8]; /* per request field, in descriptor order: its member (-1 machine_id) */
};

#define M(f, mem)                                                               \
	{                                                                       \
#f, offsetof(struct op, u.mem), sizeof(((struct op *)0)->u.mem) \
	}

static const struct binding bindings[] = {
    {"alloc_pages", OP_ALLOC_PAGES, {M(gfp, alloc_pages.gfp), M(order, alloc_pages.order)}},
    {"free_pages", OP_FREE_PAGES, {M(pfn, free_pages.pfn), M(order, free_pages.order)}},
    {"kmem_cache_create",
     OP_KMEM_CACHE_CREATE,
     {M(name, cache_create.name), M(size, cache_create.size), M(align, cache_create.align)}},
    {"kmem_cache_alloc", OP_KMEM_CACHE_ALLOC, {M(name, cache.name)}},
    {"kmem_cache_free", OP_KMEM_CACHE_FREE, {M(name, cache.name), M(addr, cache.addr)}},
    {"kmem_cache_shrink", OP_KMEM_CACHE_SHRINK, {M(name, cache.name)}},
    {"kmem_cache_destroy", OP_KMEM_CACHE_DESTROY, {M(name, cache.name)}},
    {"kmalloc", OP_KMALLOC, {M(size, kmalloc.size), M(gfp, kmalloc.gfp)}},
    {"kfree", OP_KFREE, {M(addr, kfree.addr)}},
    {"vmalloc", OP_VMALLOC, {M(size, vmalloc.size)}},
    {"vfree", OP_VFREE, {M(addr, vfree.addr)}},
    {"spawn",
     OP_SPAWN,
     {M(name, spawn.name), M(text, spawn.text), M(data, spawn.data), M(bss, spawn.bss),
      M(stack, spawn.stack)}},
    {"fork", OP_FORK, {M(pid, fork.pid)}},
    {"vfork", OP_VFORK, {M(pid, fork.pid)}},
    {"clone", OP_CLONE, {M(pid, fork.pid), M(flags, fork.flags)}},
    {"exit", OP_EXIT, {M(pid, exit.pid), M(code, exit.code)}},
    {"exec",
     OP_EXEC,
     {M(pid, exec.pid), M(name, exec.name), M(text, exec.text), M(data, exec.data),
      M(bss, exec.bss), M(stack, exec.stack)}},
    {"context_switch", OP_CONTEXT_SWITCH, {M(pid, context_switch.pid)}},
    {"set_rlimit", OP_SET_RLIMIT, {M(pid, set_task.pid), M(pages, set_task.value)}},
    {"set_oom_adj", OP_SET_OOM_ADJ, {M(pid, set_task.pid), M(oom_score_adj, set_task.value)}},
    {"mmap",
     OP_MMAP,
     {M(pid, mmap.pid), M(addr, mmap.addr), M(len, mmap.len), M(prot, mmap.prot),
      M(flags, mmap.flags), M(file, mmap.file), M(offset, mmap.offset)}},
    {"munmap", OP_MUNMAP, {M(pid, munmap.pid), M(addr, munmap.addr), M(len, munmap.len)}},
    {"mprotect",
     OP_MPROTECT,
     {M(pid, munmap.pid), M(addr, munmap.addr), M(len, munmap.len), M(prot, munmap.prot)}},
    {"brk", OP_BRK, {M(pid, brk.pid), M(addr, brk.addr)}},
    {"madvise",
     OP_MADVISE,
     {M(pid, madvise.pid), M(addr, madvise.addr), M(len, madvise.len), M(advice, madvise.advice)}},
    {"access", OP_ACCESS, {M(pid, access.pid), M(addr, access.addr), M(kind, access.kind)}},
    {"access_range",
     OP_ACCESS_RANGE,
     {M(pid, access.pid), M(addr, access.addr), M(len, access.len), M(kind, access.kind),
      M(stride, access.stride)}},
    {"file_create", OP_FILE_CREATE, {M(name, file_create.name), M(size, file_create.size)}},
    {"file_read",
     OP_FILE_READ,
     {M(ino, file_io.ino), M(offset, file_io.offset), M(len, file_io.len)}},
    {"file_write",
     OP_FILE_WRITE,
     {M(ino, file_io.ino), M(offset, file_io.offset), M(len, file_io.len)}},
    {"file_sync", OP_FILE_SYNC, {M(ino, file_io.ino)}},
    {"file_delete", OP_FILE_DELETE, {M(ino, file_io.ino)}},
    {"mkswap", OP_MKSWAP, {M(name, swap.name), M(size, swap.size), M(prio, swap.prio)}},
    {"swapon", OP_SWAPON, {M(name, swap.name), M(prio, swap.prio)}},
    {"swapoff", OP_SWAPOFF, {M(name, swap.name)}},
    {"reclaim", OP_RECLAIM, {M(nr_pages, reclaim.nr_pages)}},
    {"drop_caches", OP_DROP_CACHES, {M(mode, reclaim.mode)}},
    {"tick", OP_TICK, {M(n, tick.n)}},
    {"set_swappiness", OP_SET_SWAPPINESS, {M(swappiness, sysctl.value)}},
    {"set_nr_hugepages", OP_SET_NR_HUGEPAGES, {M(count, hugepages.count)}},
    {"driver_open", OP_DRIVER_OPEN, {M(size, driver.size), M(minor, driver.minor)}},
    {"driver_close", OP_DRIVER_CLOSE, {M(minor, driver.minor)}},
};

#define NBINDINGS (sizeof(bindings) / sizeof(bindings[0]))

static struct resolved resolved[NBINDINGS];

static int is_signed_type(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_SINT32 ||
	       t == PROTOBUF_C_TYPE_SFIXED32 || t == PROTOBUF_C_TYPE_INT64 ||
	       t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64 ||
	       t == PROTOBUF_C_TYPE_ENUM;
}

static size_t wire_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
		return 0;
	default:
		return 4; /* 32-bit ints, enums */
	}
}

/* The field types ops_pack_to writes (varints and strings): all an op request uses. */
static int encodable(ProtobufCType t)
{
	return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_INT64 ||
	       t == PROTOBUF_C_TYPE_UINT32 || t == PROTOBUF_C_TYPE_UINT64 ||
	       t == PROTOBUF_C_TYPE_ENUM || t == PROTOBUF_C_TYPE_STRING;
}

int ops_init(char *err, size_t len)
{
	const ProtobufCMessageDescriptor *opd = &vmsim__v1__op__descriptor;
	if (NBINDINGS != opd->n_fields) {
		snprintf(err, len, "ops table has %zu ops, vmsim.v1.Op has %u", NBINDINGS,
		         opd->n_fields);
		return -1;
	}
	for (size_t i = 0; i < NBINDINGS; i++) {
		const struct binding *b = &bindings[i];
		struct resolved *rs = &resolved[i];
		rs->op_field = protobuf_c_message_descriptor_get_field_by_name(opd, b->name);
		if (!rs->op_field || rs->op_field->type != PROTOBUF_C_TYPE_MESSAGE) {
			snprintf(err, len, "vmsim.v1.Op has no message field %s", b->name);
			return -1;
		}
		rs->req = rs->op_field->descriptor;
		/* Every request field but machine_id must be bound, with a compatible size. */
		unsigned bound = 0;
		if (rs->req->n_fields > 8) {
			snprintf(err, len, "%s has more fields than an op holds", rs->req->name);
			return -1;
		}
		for (unsigned k = 0; k < 8; k++)
			rs->member_of[k] = -1;
		for (const struct member *m = b->m; m < b->m + 7 && m->field; m++) {
			const ProtobufCFieldDescriptor *f =
			    protobuf_c_message_descriptor_get_field_by_name(rs->req, m->field);
			rs->field[m - b->m] = f;
			size_t ws = f ? wire_size(f->type) : 0;
			if (!f || (ws == 0 && m->size != NAME_LEN) ||
			    (ws && m->size != 4 && m->size != 8) || !encodable(f->type)) {
				snprintf(err, len, "%s.%s does not fit struct op", rs->req->name,
				         m->field);
				return -1;
			}
			rs->member_of[f - rs->req->fields] = (int)(m - b->m);
			bound++;
		}
		if (bound + 1 != rs->req->n_fields) {
			snprintf(err, len, "%s: %u of %u fields bound", rs->req->name, bound,
			         rs->req->n_fields - 1);
			return -1;
		}
	}
	return 0;
}

/* Index of the binding for a request type or an op kind; -1 if none. */
static int by_req(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < NBINDINGS; i++)
		if (resolved[i].req == d)
			return (int)i;
	return -1;
}

static int by_kind(enum op_kind k)
{
	for (size_t i = 0; i < NBINDINGS; i++)
		if (bindings[i].kind == k)
			return (int)i;
	return -1;
}

int ops_is_op_request(const ProtobufCMessageDescriptor *d, enum op_kind *kind)
{
	int i = by_req(d);
	if (i >= 0 && kind)
		*kind = bindings[i].kind;
	return i >= 0;
}

const char *ops_name(enum op_kind kind)
{
	int i = by_kind(kind);
	return i >= 0 ? bindings[i].name : NULL;
}

/* Copies one request field (f, resolved by ops_init) into its struct op member. */
static int copy_in(const ProtobufCMessage *req, const ProtobufCFieldDescriptor *f,
                   const struct member *m, struct op *op, char *err, size_t len)
{
	const char *src = (const char *)req + f->offset;
	char *dst = (char *)op + m->off;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		const char *s = *(char *const *)src;
		size_t n = s ? strlen(s) : 0;
		if (n >= NAME_LEN) {
			snprintf(err, len, "%s is too long (%zu bytes; at most %d)", m->field, n,
			         NAME_LEN - 1);
			return -1;
		}
		memset(dst, 0, NAME_LEN);
		memcpy(dst, s, n);
		return 0;
	}
	int64_t sv;
	uint64_t uv;
	if (wire_size(f->type) == 8) {
		memcpy(&uv, src, 8);
		sv = (int64_t)uv;
	} else if (is_signed_type(f->type)) {
		int32_t x;
		memcpy(&x, src, 4);
		sv = x;
		uv = (uint64_t)sv;
	} else {
		uint32_t x;
		memcpy(&x, src, 4);
		uv = x;
		sv = x;
	}
	if (m->size == 8) {
		memcpy(dst, &uv, 8);
		return 0;
	}
	if (is_signed_type(f->type) ? (sv < INT32_MIN || sv > INT32_MAX) : uv > UINT32_MAX) {
		snprintf(err, len, "%s is out of range (%lld)", m->field, (long long)sv);
		return -1;
	}
	uint32_t v32 = (uint32_t)uv;
	memcpy(dst, &v32, 4);
	return 0;
}

static int fill(size_t i, const ProtobufCMessage *req, struct op *op, char *err, size_t len)
{
	const struct binding *b = &bindings[i];
	memset(op, 0, sizeof(*op));
	op->kind = b->kind;
	for (unsigned k = 0; k < 7 && b->m[k].field; k++)
		if (copy_in(req, resolved[i].field[k], &b->m[k], op, err, len))
			return -1;
	return 0;
}

int ops_from_request(const ProtobufCMessage *req, struct op *op, char *err, size_t len)
{
	int i = by_req(req->descriptor);
	if (i < 0) {
		snprintf(err, len, "%s is not an op", req->descriptor->name);
		return -1;
	}
	return fill((size_t)i, req, op, err, len);
}

int ops_from_pb(const Vmsim__V1__Op *pb, struct op *op, char *err, size_t len)
{
	for (size_t i = 0; i < NBINDINGS; i++) {
		const struct binding *b = &bindings[i];
		const ProtobufCFieldDescriptor *f = resolved[i].op_field;
		if (!f || pb->op_case != f->id)
			continue;
		const ProtobufCMessage *req =
		    *(ProtobufCMessage *const *)((const char *)pb + f->offset);
		if (!req) {
			snprintf(err, len, "op %s has no body", b->name);
			return -1;
		}
		return fill(i, req, op, err, len);
	}
	snprintf(err, len, "op has no operation set (expected one of allocPages, mmap, ...)");
	return -1;
}

/*
 * The Op encoder of the journal. protobuf-c's generic packer walks all 41 fields of the Op
 * oneof twice (size, then bytes) and needs a request message built first; a million-op Apply
 * batch spent most of its journaling time there. This writes the same bytes directly from
 * struct op: the Op field's tag and length, then each nonzero request field in descriptor
 * order (proto3 omits zeros and empty strings), exactly as protobuf-c would
 * (tests/e2e/test_pb_json.c compares the two for every op kind).
 */
static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v > 0x7f) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Field f of the request from its struct op member; p has room for 10 + 1 + NAME_LEN bytes. */
static uint8_t *put_field(uint8_t *p, const ProtobufCFieldDescriptor *f, const struct member *m,
                          const struct op *op)
{
	const char *src = (const char *)op + m->off;
	if (f->type == PROTOBUF_C_TYPE_STRING) {
		size_t n = strnlen(src, NAME_LEN - 1);
		if (n == 0)
			return p;
		p = put_varint(p, (uint64_t)f->id << 3 | 2);
		p = put_varint(p, n);
		memcpy(p, src, n);
		return p + n;
	}
	uint64_t v = 0;
	if (m->size == 8) {
		memcpy(&v, src, 8);
	} else {
		uint32_t x;
		memcpy(&x, src, 4);
		v = x;
	}
	if (wire_size(f->type) != 8)
		v = is_signed_type(f->type) ? (uint64_t)(int64_t)(int32_t)(uint32_t)v : (uint32_t)v;
	if (v == 0)
		return p;
	p = put_varint(p, (uint64_t)f->id << 3); /* wire type 0: every bound type is a varint */
	return put_varint(p, v);
}

size_t ops_pack_to(const struct op *op, uint8_t *buf, size_t cap)
{
	int i = by_kind(op->kind);
	if (i < 0 || !resolved[i].req)
		return 0;
	const struct binding *b = &bindings[i];
	const struct resolved *rs = &resolved[i];
	uint8_t body[OPS_PACKED_MAX], *p = body;
	for (unsigned k = 0; k < rs->req->n_fields; k++) {
		int j = rs->member_of[k];
		if (j >= 0)
			p = put_field(p, &rs->req->fields[k], &b->m[j], op);
	}
	uint8_t head[16], *h = put_varint(head, (uint64_t)rs->op_field->id << 3 | 2);
	h = put_varint(h, (uint64_t)(p - body));
	size_t hl = (size_t)(h - head), bl = (size_t)(p - body);
	if (hl + bl <= cap) {
		memcpy(buf, head, hl);
		memcpy(buf + hl, body, bl);
	}
	return hl + bl;
}

uint8_t *ops_pack(const struct op *op, size_t *len)
{
	uint8_t tmp[OPS_PACKED_MAX];
	size_t n = ops_pack_to(op, tmp, sizeof(tmp));
	uint8_t *buf = n ? xmalloc(n) : NULL;
	if (buf)
		memcpy(buf, tmp, n);
	*len = n;
	return buf;
}

int ops_unpack(const uint8_t *buf, size_t len, struct op *op, char *err, size_t errlen)
{
	Vmsim__V1__Op *pb = vmsim__v1__op__unpack(NULL, len, buf);
	if (!pb) {
		snprintf(err, errlen, "not a valid vmsim.v1.Op");
		return -1;
	}
	int rc = ops_from_pb(pb, op, err, errlen);
	vmsim__v1__op__free_unpacked(pb, NULL);
	return rc;
}
