/*
 * The proto3 JSON codec: every message type of vmsim.proto, filled field by field with
 * non-default values, survives JSON -> message and packs to the same protobuf bytes; plus
 * the mapping's rules (names, 64-bit strings, enums, bytes) and each kind of bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops.h"
#include "pb_json.h"
#include "pb_wire.h"
#include "vmsim/v1/vmsim.pb-c.h"

/* Every message reachable from the service: inputs, outputs and their submessages. */
static const ProtobufCMessageDescriptor *all[128];
static size_t nall;

static void collect(const ProtobufCMessageDescriptor *d)
{
	for (size_t i = 0; i < nall; i++)
		if (all[i] == d)
			return;
	all[nall++] = d;
	for (unsigned f = 0; f < d->n_fields; f++)
		if (d->fields[f].type == PROTOBUF_C_TYPE_MESSAGE)
			collect(d->fields[f].descriptor);
}

static void collect_all(void)
{
	const ProtobufCServiceDescriptor *s = &vmsim__v1__vm_sim__descriptor;
	nall = 0;
	for (unsigned i = 0; i < s->n_methods; i++) {
		collect(s->methods[i].input);
		collect(s->methods[i].output);
	}
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void fill_value(const ProtobufCFieldDescriptor *f, void *p, int depth);

static ProtobufCMessage *make(const ProtobufCMessageDescriptor *d, int depth)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	d->message_init(m);
	uint32_t chosen[16] = {0}; /* oneof case offsets already filled */
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *p = (char *)m + f->offset;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && depth > 3)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t es =
			    f->type == PROTOBUF_C_TYPE_MESSAGE  ? sizeof(void *)
			    : f->type == PROTOBUF_C_TYPE_STRING ? sizeof(char *)
			    : f->type == PROTOBUF_C_TYPE_BYTES  ? sizeof(ProtobufCBinaryData)
			    : f->type == PROTOBUF_C_TYPE_UINT64 || f->type == PROTOBUF_C_TYPE_INT64
			        ? 8
			        : 4;
			char *arr = calloc(2, es);
			for (int k = 0; k < 2; k++)
				fill_value(f, arr + k * es, depth);
			*(void **)p = arr;
			*(size_t *)((char *)m + f->quantifier_offset) = 2;
			continue;
		}
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* Fill one member per oneof, a different one per run of the test. */
			int seen = 0;
			for (int k = 0; k < 16 && chosen[k]; k++)
				seen |= chosen[k] == f->quantifier_offset;
			if (seen || next_rand() % 3 == 0)
				continue;
			for (int k = 0; k < 16; k++)
				if (!chosen[k]) {
					chosen[k] = f->quantifier_offset;
					break;
				}
			*(uint32_t *)((char *)m + f->quantifier_offset) = f->id;
		}
		fill_value(f, p, depth);
	}
	return m;
}

static void fill_value(const ProtobufCFieldDescriptor *f, void *p, int depth)
{
	uint64_t r = next_rand();
	switch (f->type) {
	case PROTOBUF_C_TYPE_UINT64:
		*(uint64_t *)p = r | (1ull << 63); /* above 2^53: must travel as a string */
		break;
	case PROTOBUF_C_TYPE_INT64:
		*(int64_t *)p = -(int64_t)(r >> 2) - 1;
		break;
	case PROTOBUF_C_TYPE_UINT32:
		*(uint32_t *)p = (uint32_t)r | 0x80000000u;
		break;
	case PROTOBUF_C_TYPE_INT32:
		*(int32_t *)p = -(int32_t)(r % 100000) - 1;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)p = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		*(int *)p = ed->values[1 + r % (ed->n_values - 1)].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s = malloc(32);
		snprintf(s, 32, "s\"\\\n\t\xc3\xa9%u", (unsigned)(r % 1000));
		*(char **)p = s;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		b->len = 1 + r % 17;
		b->data = malloc(b->len);
		for (size_t i = 0; i < b->len; i++)
			b->data[i] = (uint8_t)(next_rand() >> 8);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)p = make(f->descriptor, depth + 1);
		break;
	default:
		fail_msg("field %s has a type the test does not fill", f->name);
	}
}

static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la = protobuf_c_message_get_packed_size(a);
	size_t lb = protobuf_c_message_get_packed_size(b);
	assert_int_equal(la, lb);
	uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

static void test_roundtrip_every_message(void **state)
{
	(void)state;
	collect_all();
	/* Every message declared in vmsim.proto is reachable from the service, so covered. */
	FILE *f = fopen(VMSIM_PROTO_FILE, "r");
	assert_non_null(f);
	char line[512];
	size_t declared = 0;
	while (fgets(line, sizeof(line), f))
		declared += strncmp(line, "message ", 8) == 0;
	fclose(f);
	assert_int_equal(nall, declared);
	for (int run = 0; run < 8; run++) {
		for (size_t i = 0; i < nall; i++) {
			ProtobufCMessage *m = make(all[i], 0);
			for (unsigned flags = 0; flags < 2; flags++) {
				size_t len;
				char *json = pb_json_dumps(m, flags, &len);
				assert_non_null(json);
				char err[256] = "";
				ProtobufCMessage *back =
				    pb_json_parse(all[i], json, len, err, sizeof(err));
				if (!back)
					fail_msg("%s: %s\n%s", all[i]->name, err, json);
				assert_same_wire(m, back);
				protobuf_c_message_free_unpacked(back, NULL);
				free(json);
			}
			protobuf_c_message_free_unpacked(m, NULL);
		}
	}
}

static void test_mapping_rules(void **state)
{
	(void)state;
	Vmsim__V1__Machine m = VMSIM__V1__MACHINE__INIT;
	Vmsim__V1__MachineConfig cfg = VMSIM__V1__MACHINE_CONFIG__INIT;
	m.id = "m1";
	m.config = &cfg;
	m.nr_frames = 18446744073709551615ull;
	cfg.arch = VMSIM__V1__ARCH__ARCH_I386;
	cfg.swappiness_opt_case = VMSIM__V1__MACHINE_CONFIG__SWAPPINESS_OPT_SWAPPINESS;
	cfg.swappiness = 0; /* set to 0: present because of the oneof */
	char *s = pb_json_dumps(&m.base, 0, NULL);
	assert_string_equal(s,
	                    "{\"id\":\"m1\",\"config\":{\"arch\":\"ARCH_I386\",\"swappiness\":0},"
	                    "\"nrFrames\":\"18446744073709551615\"}");
	free(s);
	s = pb_json_dumps(&m.base, PB_JSON_EMIT_DEFAULTS, NULL);
	assert_non_null(strstr(s, "\"seq\":\"0\""));
	assert_non_null(strstr(s, "\"name\":\"\""));
	assert_non_null(strstr(s, "\"policy\":\"POLICY_LINUX\""));
	free(s);

	Vmsim__V1__FrameMapResponse fm = VMSIM__V1__FRAME_MAP_RESPONSE__INIT;
	uint8_t bytes[] = {0xfb, 0xff, 0x00};
	fm.orders.data = bytes;
	fm.orders.len = 3;
	s = pb_json_dumps(&fm.base, 0, NULL);
	assert_string_equal(s, "{\"orders\":\"+/8A\"}");
	free(s);
	char err[256];
	/* URL-safe alphabet and missing padding are accepted too. */
	Vmsim__V1__FrameMapResponse *fb =
	    (void *)pb_json_parse(&vmsim__v1__frame_map_response__descriptor,
	                          "{\"orders\":\"-_8A\"}", 17, err, sizeof(err));
	assert_non_null(fb);
	assert_int_equal(fb->orders.len, 3);
	assert_memory_equal(fb->orders.data, bytes, 3);
	protobuf_c_message_free_unpacked(&fb->base, NULL);
	fb = (void *)pb_json_parse(&vmsim__v1__frame_map_response__descriptor,
	                           "{\"orders\":\"+/8\"}", 16, err, sizeof(err));
	assert_non_null(fb);
	assert_int_equal(fb->orders.len, 2);
	protobuf_c_message_free_unpacked(&fb->base, NULL);

	/* Both spellings of names; numbers as JSON numbers or strings; enum short names. */
	const char *in = "{\"machine_id\":\"m2\",\"pid\":\"7\",\"addr\":4096,\"kind\":\"write\"}";
	Vmsim__V1__AccessRequest *a = (void *)pb_json_parse(&vmsim__v1__access_request__descriptor,
	                                                    in, strlen(in), err, sizeof(err));
	assert_non_null(a);
	assert_string_equal(a->machine_id, "m2");
	assert_int_equal(a->pid, 7);
	assert_int_equal(a->addr, 4096);
	assert_int_equal(a->kind, VMSIM__V1__ACCESS_KIND__ACCESS_WRITE);
	protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void expect_bad(const ProtobufCMessageDescriptor *d, const char *json, const char *needle)
{
	char err[256] = "";
	ProtobufCMessage *m = pb_json_parse(d, json, strlen(json), err, sizeof(err));
	if (m)
		fail_msg("accepted %s", json);
	if (!strstr(err, needle))
		fail_msg("error for %s is \"%s\", wanted \"%s\"", json, err, needle);
}

static void test_bad_input(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *acc = &vmsim__v1__access_request__descriptor;
	const ProtobufCMessageDescriptor *apply = &vmsim__v1__apply_request__descriptor;
	expect_bad(acc, "{", "invalid JSON");
	expect_bad(acc, "[]", "expected a JSON object");
	expect_bad(acc, "{\"bogus\":1}", "unknown field \"bogus\" in vmsim.v1.AccessRequest");
	expect_bad(acc, "{\"pid\":-1}", "field pid: must not be negative");
	expect_bad(acc, "{\"pid\":4294967296}", "out of range for uint32");
	expect_bad(acc, "{\"pid\":1.5}", "must be an integer");
	expect_bad(acc, "{\"pid\":\"12x\"}", "not a valid unsigned integer");
	expect_bad(acc, "{\"pid\":true}", "expected a number");
	expect_bad(acc, "{\"addr\":\"-5\"}", "not a valid unsigned integer");
	expect_bad(acc, "{\"addr\":\"99999999999999999999\"}", "not a valid integer");
	expect_bad(acc, "{\"kind\":\"ACCESS_JUMP\"}", "is not one of ACCESS_READ");
	expect_bad(acc, "{\"kind\":4294967296}", "out of range for enum vmsim.v1.AccessKind");
	expect_bad(acc, "{\"kind\":\"7\"}", "is not one of ACCESS_READ");
	expect_bad(acc, "{\"machineId\":5}", "expected a string");
	expect_bad(acc, "{\"machineId\":\"a\",\"machine_id\":\"b\"}", "given twice");
	expect_bad(acc, "{\"pid\":1,\"pid\":2}", "duplicate");
	expect_bad(apply, "{\"ops\":{}}", "expected an array");
	expect_bad(apply, "{\"ops\":[{\"allocPages\":{},\"mmap\":{}}]}",
	           "only one field of the oneof");
	expect_bad(apply, "{\"ops\":[{\"allocPages\":{\"order\":\"x\"}}]}",
	           "field ops[0].allocPages.order");
	expect_bad(apply, "{\"wantResults\":1}", "expected true or false");
	expect_bad(&vmsim__v1__frame_map_response__descriptor, "{\"flags\":\"a\"}",
	           "invalid base64");
	/* null is the default value, not an error. */
	char err[64];
	ProtobufCMessage *m = pb_json_parse(acc, "{\"pid\":null}", 12, err, sizeof(err));
	assert_non_null(m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* proto3 enums are open: a number the enum does not name survives protobuf -> JSON -> message
 * -> protobuf, and pb_check_values is what refuses it, naming the field. */
static void test_open_enums(void **state)
{
	(void)state;
	Vmsim__V1__AccessRequest a = VMSIM__V1__ACCESS_REQUEST__INIT;
	a.machine_id = "m1";
	a.kind = (Vmsim__V1__AccessKind)7;
	char *s = pb_json_dumps(&a.base, 0, NULL);
	assert_string_equal(s, "{\"machineId\":\"m1\",\"kind\":7}");
	char err[256] = "";
	Vmsim__V1__AccessRequest *b = (void *)pb_json_parse(&vmsim__v1__access_request__descriptor,
	                                                    s, strlen(s), err, sizeof(err));
	assert_non_null(b);
	assert_int_equal(b->kind, 7);
	assert_int_equal(pb_check_values(&b->base, err, sizeof(err)), -1);
	assert_string_equal(err, "field kind: 7 is not a value of vmsim.v1.AccessKind");
	b->kind = VMSIM__V1__ACCESS_KIND__ACCESS_EXEC;
	assert_int_equal(pb_check_values(&b->base, err, sizeof(err)), 0);
	protobuf_c_message_free_unpacked(&b->base, NULL);
	free(s);
	/* Negative numbers too (int32 on the wire), and inside a nested message. */
	Vmsim__V1__CreateMachineRequest cm = VMSIM__V1__CREATE_MACHINE_REQUEST__INIT;
	Vmsim__V1__MachineConfig cfg = VMSIM__V1__MACHINE_CONFIG__INIT;
	cm.config = &cfg;
	cfg.policy = (Vmsim__V1__Policy)-3;
	s = pb_json_dumps(&cm.base, 0, NULL);
	assert_string_equal(s, "{\"config\":{\"policy\":-3}}");
	Vmsim__V1__CreateMachineRequest *c2 = (void *)pb_json_parse(
	    &vmsim__v1__create_machine_request__descriptor, s, strlen(s), err, sizeof(err));
	assert_non_null(c2);
	assert_int_equal((int)c2->config->policy, -3);
	assert_int_equal(pb_check_values(&c2->base, err, sizeof(err)), -1);
	assert_string_equal(err, "field config.policy: -3 is not a value of vmsim.v1.Policy");
	protobuf_c_message_free_unpacked(&c2->base, NULL);
	free(s);
}

static void test_utf8(void **state)
{
	(void)state;
	static const char *const good[] = {"",
	                                   "abc",
	                                   "\xc3\xa9t\xc3\xa9",
	                                   "\xe2\x82\xac",
	                                   "\xf0\x9d\x84\x9e",
	                                   "\xef\xbf\xbf",
	                                   "\xf4\x8f\xbf\xbf"};
	static const char *const bad[] = {"\xff",
	                                  "a\x80",
	                                  "\xc0\x80", /* overlong NUL */
	                                  "\xc1\xbf",
	                                  "\xe0\x9f\xbf",     /* overlong 3-byte */
	                                  "\xed\xa0\x80",     /* surrogate U+D800 */
	                                  "\xf4\x90\x80\x80", /* past U+10FFFF */
	                                  "\xf8\x88\x80\x80\x80",
	                                  "\xe2\x82", /* cut short */
	                                  "\xe2\x82x"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(pb_utf8_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(pb_utf8_valid(bad[i]));

	/* The encoder never fails on it: each stray byte prints as U+FFFD. */
	Vmsim__V1__Machine m = VMSIM__V1__MACHINE__INIT;
	m.id = "m1";
	m.name = "a\xff"
	         "b\xc3\xa9\xe2\x82";
	char *s = pb_json_dumps(&m.base, 0, NULL);
	assert_non_null(s);
	assert_string_equal(s, "{\"id\":\"m1\",\"name\":\"a\xef\xbf\xbd"
	                       "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\"}");
	free(s);

	/* The check names the first bad string with its JSON path, at any depth. */
	char why[256] = "";
	Vmsim__V1__CreateMachineRequest cm = VMSIM__V1__CREATE_MACHINE_REQUEST__INIT;
	cm.name = "bad\xfe";
	assert_int_equal(pb_check_values(&cm.base, why, sizeof(why)), -1);
	assert_string_equal(why, "field name: not valid UTF-8 (proto3 strings must be)");
	cm.name = "caf\xc3\xa9";
	assert_int_equal(pb_check_values(&cm.base, why, sizeof(why)), 0);

	Vmsim__V1__ApplyRequest ar = VMSIM__V1__APPLY_REQUEST__INIT;
	Vmsim__V1__Op op0 = VMSIM__V1__OP__INIT, op1 = VMSIM__V1__OP__INIT;
	Vmsim__V1__AllocPagesRequest al = VMSIM__V1__ALLOC_PAGES_REQUEST__INIT;
	Vmsim__V1__KmemCacheCreateRequest kc = VMSIM__V1__KMEM_CACHE_CREATE_REQUEST__INIT;
	op0.op_case = VMSIM__V1__OP__OP_ALLOC_PAGES;
	op0.alloc_pages = &al;
	op1.op_case = VMSIM__V1__OP__OP_KMEM_CACHE_CREATE;
	op1.kmem_cache_create = &kc;
	kc.name = "ok";
	Vmsim__V1__Op *ops[] = {&op0, &op1};
	ar.machine_id = "m1";
	ar.n_ops = 2;
	ar.ops = ops;
	assert_int_equal(pb_check_values(&ar.base, why, sizeof(why)), 0);
	kc.name = "\x80"
	          "cache";
	assert_int_equal(pb_check_values(&ar.base, why, sizeof(why)), -1);
	assert_string_equal(
	    why, "field ops[1].kmemCacheCreate.name: not valid UTF-8 (proto3 strings must be)");
}

/* struct op <-> Op: every op kind survives pack/unpack, and each field lands where core
 * expects it. */
static void test_ops_table(void **state)
{
	(void)state;
	char err[256];
	if (ops_init(err, sizeof(err)))
		fail_msg("%s", err);
	const ProtobufCMessageDescriptor *opd = &vmsim__v1__op__descriptor;
	for (unsigned i = 0; i < opd->n_fields; i++) {
		Vmsim__V1__Op op = VMSIM__V1__OP__INIT;
		ProtobufCMessage *req = make(opd->fields[i].descriptor, 1);
		/* Keep values in the ranges struct op holds. */
		for (unsigned f = 0; f < req->descriptor->n_fields; f++) {
			const ProtobufCFieldDescriptor *fd = &req->descriptor->fields[f];
			if (fd->type == PROTOBUF_C_TYPE_INT32)
				*(int32_t *)((char *)req + fd->offset) = -17;
		}
		op.op_case = (Vmsim__V1__Op__OpCase)opd->fields[i].id;
		*(ProtobufCMessage **)((char *)&op + opd->fields[i].offset) = req;
		struct op a, b;
		if (ops_from_pb(&op, &a, err, sizeof(err)))
			fail_msg("%s: %s", opd->fields[i].name, err);
		assert_string_equal(ops_name(a.kind), opd->fields[i].name);
		size_t len;
		uint8_t *buf = ops_pack(&a, &len);
		assert_non_null(buf);
		assert_int_equal(ops_unpack(buf, len, &b, err, sizeof(err)), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		/* the journal's direct encoder writes exactly protobuf-c's bytes for the Op (an op
		 * carries no machine_id: clear it in the reference) */
		const ProtobufCFieldDescriptor *mid =
		    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "machine_id");
		char **midp = (char **)((char *)req + mid->offset);
		char *saved = *midp;
		*midp = (char *)"";
		size_t want = protobuf_c_message_get_packed_size(&op.base);
		uint8_t *ref = malloc(want);
		protobuf_c_message_pack(&op.base, ref);
		*midp = saved;
		assert_int_equal(len, want);
		assert_memory_equal(buf, ref, want);
		uint8_t small[4];
		assert_int_equal(ops_pack_to(&a, small, sizeof(small)), want); /* the size needed */
		free(ref);
		free(buf);
		/* and for the op with every field zero: the Op tag and an empty request */
		struct op z;
		memset(&z, 0, sizeof(z));
		z.kind = a.kind;
		uint8_t zb[OPS_PACKED_MAX];
		size_t tag = opd->fields[i].id < 16 ? 1 : 2;
		assert_int_equal(ops_pack_to(&z, zb, sizeof(zb)), tag + 1);
		assert_int_equal(zb[tag], 0); /* length 0 */
		protobuf_c_message_free_unpacked(req, NULL);
	}
	/* Exact placement for one op of each shape. */
	Vmsim__V1__MmapRequest mm = VMSIM__V1__MMAP_REQUEST__INIT;
	mm.pid = 3;
	mm.addr = 0x400000;
	mm.len = 8192;
	mm.prot = 3;
	mm.flags = 0x22;
	mm.file = 9;
	mm.offset = 4096;
	struct op o;
	assert_int_equal(ops_from_request(&mm.base, &o, err, sizeof(err)), 0);
	assert_int_equal(o.kind, OP_MMAP);
	assert_int_equal(o.u.mmap.pid, 3);
	assert_int_equal(o.u.mmap.addr, 0x400000);
	assert_int_equal(o.u.mmap.len, 8192);
	assert_int_equal(o.u.mmap.prot, 3);
	assert_int_equal(o.u.mmap.flags, 0x22);
	assert_int_equal(o.u.mmap.file, 9);
	assert_int_equal(o.u.mmap.offset, 4096);
	Vmsim__V1__SetOomAdjRequest oom = VMSIM__V1__SET_OOM_ADJ_REQUEST__INIT;
	oom.pid = 2;
	oom.oom_score_adj = -1000;
	assert_int_equal(ops_from_request(&oom.base, &o, err, sizeof(err)), 0);
	assert_int_equal((int64_t)o.u.set_task.value, -1000);
	Vmsim__V1__SpawnRequest sp = VMSIM__V1__SPAWN_REQUEST__INIT;
	sp.name = "0123456789012345678901234567890"; /* 31 bytes: fits */
	assert_int_equal(ops_from_request(&sp.base, &o, err, sizeof(err)), 0);
	assert_string_equal(o.u.spawn.name, sp.name);
	sp.name = "01234567890123456789012345678901"; /* 32: does not */
	assert_int_equal(ops_from_request(&sp.base, &o, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "name is too long"));
	Vmsim__V1__Op empty = VMSIM__V1__OP__INIT;
	assert_int_equal(ops_from_pb(&empty, &o, err, sizeof(err)), -1);
	assert_int_equal(ops_unpack((const uint8_t *)"\xff", 1, &o, err, sizeof(err)), -1);
}

static uint64_t addr_of(const char *json)
{
	char err[256] = "";
	Vmsim__V1__AccessRequest *a = (void *)pb_json_parse(&vmsim__v1__access_request__descriptor,
	                                                    json, strlen(json), err, sizeof(err));
	if (!a)
		fail_msg("refused %s: %s", json, err);
	uint64_t v = a->addr;
	protobuf_c_message_free_unpacked(&a->base, NULL);
	return v;
}

/*
 * proto3 JSON integers (the conformance suite's Uint64FieldMaxValue, Int32FieldLeadingZero,
 * Int32FieldPlusSign, Int32FieldLeadingSpace, Int32FieldTrailingSpace cases): uint64 takes its
 * whole range as a bare number as well as quoted (jansson's own integers end at 2^63 - 1), and
 * a quoted integer follows the grammar of a bare one.
 */
static void test_integers(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *acc = &vmsim__v1__access_request__descriptor;
	assert_true(addr_of("{\"addr\":9223372036854775807}") == 9223372036854775807ull);
	assert_true(addr_of("{\"addr\":9223372036854775808}") == 9223372036854775808ull);
	assert_true(addr_of("{\"addr\":18446744073709551615}") == UINT64_MAX);
	assert_true(addr_of("{\"addr\":\"18446744073709551615\"}") == UINT64_MAX);
	assert_true(addr_of("{\"addr\":\"0\"}") == 0);
	assert_true(addr_of("{\"addr\":1e3}") == 1000);
	/* Digits inside a string next to a big number are left alone. */
	assert_true(addr_of("{\"machineId\":\"18446744073709551615 \\\" 9\",\"addr\":"
	                    "18446744073709551615}") == UINT64_MAX);
	expect_bad(acc, "{\"addr\":18446744073709551616}", "out of range for uint64");
	expect_bad(acc, "{\"addr\":\"18446744073709551616\"}", "not a valid integer");
	expect_bad(acc, "{\"pid\":9223372036854775808}", "out of range for uint32");
	expect_bad(acc, "{\"machineId\":9223372036854775808}", "expected a string");
	expect_bad(acc, "{\"kind\":9223372036854775808}", "expected an enum name");
	expect_bad(acc, "{\"machineId\":\"a\\u0000\",\"addr\":9223372036854775808}", "");
	expect_bad(&vmsim__v1__issue_token_request__descriptor, "{\"userId\":9223372036854775808}",
	           "out of range for int64");
	static const char *const loose[] = {"\" 1\"",  "\"\\t1\"", "\"+1\"", "\"007\"", "\"1 \"",
	                                    "\"1e3\"", "\"0x1\"",  "\"\"",   "\"-1\"",  "\"1.0\""};
	for (size_t i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"addr\":%s}", loose[i]);
		expect_bad(acc, json, "is not a valid unsigned integer");
	}
	expect_bad(&vmsim__v1__issue_token_request__descriptor, "{\"userId\":\"-007\"}",
	           "is not a valid signed integer");
	char err[256];
	Vmsim__V1__IssueTokenRequest *t =
	    (void *)pb_json_parse(&vmsim__v1__issue_token_request__descriptor,
	                          "{\"userId\":\"-9223372036854775808\"}", 33, err, sizeof(err));
	assert_non_null(t);
	assert_true(t->user_id == INT64_MIN);
	protobuf_c_message_free_unpacked(&t->base, NULL);
}

/* Packs m into a new buffer (*len bytes). */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(*len + 1);
	protobuf_c_message_pack(m, b);
	return b;
}

/* a then b, as one buffer: protobuf's definition of merging two messages. */
static uint8_t *concat(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen, size_t *len)
{
	uint8_t *out = malloc(alen + blen + 1);
	memcpy(out, a, alen);
	memcpy(out + alen, b, blen);
	*len = alen + blen;
	return out;
}

/* Runs the merge step and protobuf-c on in; NULL if either refuses. */
static ProtobufCMessage *decode(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len)
{
	int need = pb_wire_needs_merge(d, in, len);
	if (need < 0)
		return NULL;
	if (!need)
		return protobuf_c_message_unpack(d, NULL, len, in);
	uint8_t *out;
	size_t olen;
	if (pb_wire_merge(d, in, len, &out, &olen))
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, olen, out);
	free(out);
	return m;
}

/* An ApplyRequest for machine m1 whose one Op is the concatenation of ops a and b. */
static uint8_t *apply_of(const Vmsim__V1__Op *a, const Vmsim__V1__Op *b, size_t *len)
{
	size_t la, lb, lo;
	uint8_t *pa = pack(&a->base, &la), *pb = pack(&b->base, &lb);
	uint8_t *op = concat(pa, la, pb, lb, &lo);
	uint8_t *out = malloc(lo + 16), *p = out;
	*p++ = 1 << 3 | 2; /* machine_id */
	*p++ = 2;
	*p++ = 'm';
	*p++ = '1';
	*p++ = 2 << 3 | 2; /* ops */
	assert_true(lo < 128);
	*p++ = (uint8_t)lo;
	memcpy(p, op, lo);
	*len = (size_t)(p - out) + lo;
	free(pa);
	free(pb);
	free(op);
	return out;
}

/*
 * The encoding spec's merge rules, which protobuf-c's unpack breaks (the conformance suite's
 * RepeatedScalarMessageMerge and ValidDataOneof.MESSAGE.Merge cases): a message field sent
 * twice is the merge of both, the same oneof member twice merges, another member replaces,
 * and groups are skipped like any unknown field.
 */
static void test_wire_merge(void **state)
{
	(void)state;
	/* Two config occurrences: protobuf-c alone refuses them. */
	Vmsim__V1__MachineConfig c1 = VMSIM__V1__MACHINE_CONFIG__INIT, c2 = c1;
	Vmsim__V1__CreateMachineRequest r1 = VMSIM__V1__CREATE_MACHINE_REQUEST__INIT, r2 = r1;
	c1.ram_bytes = 8 << 20;
	c2.seed = 5;
	r1.config = &c1;
	r2.config = &c2;
	size_t l1, l2, len;
	uint8_t *p1 = pack(&r1.base, &l1), *p2 = pack(&r2.base, &l2);
	uint8_t *both = concat(p1, l1, p2, l2, &len);
	const ProtobufCMessageDescriptor *cmd = &vmsim__v1__create_machine_request__descriptor;
	assert_null(protobuf_c_message_unpack(cmd, NULL, len, both));
	assert_int_equal(pb_wire_needs_merge(cmd, p1, l1), 0);
	assert_int_equal(pb_wire_needs_merge(cmd, both, len), 1);
	Vmsim__V1__CreateMachineRequest *m = (void *)decode(cmd, both, len);
	assert_non_null(m);
	assert_true(m->config->ram_bytes == 8 << 20 && m->config->seed == 5);
	assert_int_equal(m->config->swappiness_opt_case, 0);
	protobuf_c_message_free_unpacked(&m->base, NULL);
	free(p1);
	free(p2);
	free(both);

	/* The same oneof member twice: tick{n=1} then tick{} is tick{n=1}. */
	const ProtobufCMessageDescriptor *ad = &vmsim__v1__apply_request__descriptor;
	Vmsim__V1__TickRequest t1 = VMSIM__V1__TICK_REQUEST__INIT, t0 = t1;
	t1.n = 1;
	Vmsim__V1__Op o1 = VMSIM__V1__OP__INIT, o0 = o1, oa = o1;
	o1.op_case = VMSIM__V1__OP__OP_TICK;
	o1.tick = &t1;
	o0.op_case = VMSIM__V1__OP__OP_TICK;
	o0.tick = &t0;
	uint8_t *body = apply_of(&o1, &o0, &len);
	Vmsim__V1__ApplyRequest *ap = (void *)decode(ad, body, len);
	assert_non_null(ap);
	assert_int_equal(ap->n_ops, 1);
	assert_int_equal(ap->ops[0]->op_case, VMSIM__V1__OP__OP_TICK);
	assert_true(ap->ops[0]->tick->n == 1);
	protobuf_c_message_free_unpacked(&ap->base, NULL);
	free(body);
	/* Another member replaces it, and a member sent again after that starts afresh. */
	Vmsim__V1__AllocPagesRequest al = VMSIM__V1__ALLOC_PAGES_REQUEST__INIT;
	al.order = 2;
	oa.op_case = VMSIM__V1__OP__OP_ALLOC_PAGES;
	oa.alloc_pages = &al;
	body = apply_of(&o1, &oa, &len);
	ap = (void *)decode(ad, body, len);
	assert_int_equal(ap->ops[0]->op_case, VMSIM__V1__OP__OP_ALLOC_PAGES);
	assert_int_equal(ap->ops[0]->alloc_pages->order, 2);
	protobuf_c_message_free_unpacked(&ap->base, NULL);
	free(body);
	body = apply_of(&oa, &o1, &len);
	ap = (void *)decode(ad, body, len);
	assert_int_equal(ap->ops[0]->op_case, VMSIM__V1__OP__OP_TICK);
	assert_true(ap->ops[0]->tick->n == 1);
	protobuf_c_message_free_unpacked(&ap->base, NULL);
	free(body);

	/* Unknown groups are skipped, nested ones too; known fields around them stay. */
	const ProtobufCMessageDescriptor *td = &vmsim__v1__tick_request__descriptor;
	static const uint8_t grp[] = {0x10, 0x07,                   /* n = 7 */
	                              0xa3, 0x06,                   /* group 100 { */
	                              0x08, 0x01, 0xab, 0x06, 0xac, /* 1: 1, group 101 {} */
	                              0x06, 0xa4, 0x06,             /* } */
	                              0x0a, 0x02, 'm',  '1'};       /* machine_id = "m1" */
	Vmsim__V1__TickRequest *tr = (void *)decode(td, grp, sizeof(grp));
	assert_non_null(tr);
	assert_true(tr->n == 7);
	assert_string_equal(tr->machine_id, "m1");
	protobuf_c_message_free_unpacked(&tr->base, NULL);
	/* A group without its end, a stray end, a known field sent as a group: refused. */
	assert_int_equal(pb_wire_needs_merge(td, grp, 6), -1);
	static const uint8_t stray[] = {0xa4, 0x06};
	assert_int_equal(pb_wire_needs_merge(td, stray, sizeof(stray)), -1);
	static const uint8_t known[] = {0x13, 0x14};
	assert_null(decode(td, known, sizeof(known)));
	/* Nesting past the limit is refused, not followed down the stack. */
	uint8_t deep[2 * (PB_WIRE_MAX_DEPTH + 2)];
	size_t k = 0;
	for (int i = 0; i < PB_WIRE_MAX_DEPTH + 1; i++)
		deep[k++] = 0xa3, deep[k++] = 0x06;
	assert_int_equal(pb_wire_needs_merge(td, deep, k), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_every_message),
	    cmocka_unit_test(test_mapping_rules),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_open_enums),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_ops_table),
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_wire_merge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
