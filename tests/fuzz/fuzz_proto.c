/*
 * Fuzzes the wire contract's decoders for every request type of vmsim.v1.VmSim: the first
 * byte picks the method, the second the encoding.
 *   protobuf: protobuf_c_message_unpack(input type) -> if it decodes, the proto3 JSON of it
 *             must decode again (pb_json_parse) and print the same JSON;
 *   JSON:     pb_json_parse(input type) -> on failure a reason must be given; on success the
 *             message must pack, unpack, and print the same JSON both times.
 * That is the request path of the server (rpc_dispatch decodes exactly so) and of the CLI.
 *
 * Both paths then run the server's boundary check (pb_check_values: UTF-8 strings, enum numbers
 * the enum names), which must explain any refusal. Strings that are not UTF-8 (protobuf-c lets
 * them through) must still encode as JSON, and enum numbers outside the enum (proto3 keeps them)
 * must print as numbers that parse back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_json.h"
#include "vmsim/v1/vmsim.pb-c.h"

static void die(const char *what, const char *method, const char *detail)
{
	fprintf(stderr, "fuzz_proto: %s: %s: %s\n", method, what, detail ? detail : "");
	abort();
}

/* JSON of m, decoded again, must print the same JSON. Returns nothing; aborts on mismatch. */
static void json_roundtrip(const ProtobufCMessageDescriptor *d, const ProtobufCMessage *m,
                           const char *method)
{
	size_t len;
	char *text = pb_json_dumps(m, PB_JSON_EMIT_DEFAULTS, &len);
	if (!text)
		die("pb_json_dumps failed", method, NULL);
	char err[256] = "";
	ProtobufCMessage *again = pb_json_parse(d, text, len, err, sizeof(err));
	if (!again)
		die("the JSON it printed does not parse", method, err);
	size_t len2;
	char *text2 = pb_json_dumps(again, PB_JSON_EMIT_DEFAULTS, &len2);
	if (!text2 || len != len2 || memcmp(text, text2, len))
		die("JSON round trip differs", method, text);
	/* And the protobuf encoding of what JSON gave decodes to the same JSON. */
	size_t plen = protobuf_c_message_get_packed_size(again);
	uint8_t *buf = malloc(plen ? plen : 1);
	protobuf_c_message_pack(again, buf);
	ProtobufCMessage *third = protobuf_c_message_unpack(d, NULL, plen, buf);
	if (!third)
		die("a packed message does not unpack", method, text);
	size_t len3;
	char *text3 = pb_json_dumps(third, PB_JSON_EMIT_DEFAULTS, &len3);
	if (!text3 || len != len3 || memcmp(text, text3, len))
		die("protobuf round trip differs", method, text);
	free(text3);
	protobuf_c_message_free_unpacked(third, NULL);
	free(buf);
	free(text2);
	protobuf_c_message_free_unpacked(again, NULL);
	free(text);
}

/* What rpc_dispatch checks after decoding: a refusal must say why. */
static void boundary_check(const ProtobufCMessage *m, const char *method)
{
	char why[256] = "";
	if (pb_check_values(m, why, sizeof(why)) && strncmp(why, "field ", 6))
		die("pb_check_values refused without naming the field", method, why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const ProtobufCServiceDescriptor *svc = &vmsim__v1__vm_sim__descriptor;
	const ProtobufCMethodDescriptor *md = &svc->methods[data[0] % svc->n_methods];
	const ProtobufCMessageDescriptor *d = md->input;
	const uint8_t *body = data + 2;
	size_t len = size - 2;
	if (data[1] & 1) {
		char err[256] = "";
		ProtobufCMessage *m = pb_json_parse(d, (const char *)body, len, err, sizeof(err));
		if (!m) {
			if (!err[0])
				die("pb_json_parse failed without a reason", md->name, NULL);
			return 0;
		}
		boundary_check(m, md->name);
		json_roundtrip(d, m, md->name);
		protobuf_c_message_free_unpacked(m, NULL);
	} else {
		ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len, body);
		if (!m)
			return 0;
		boundary_check(m, md->name);
		json_roundtrip(d, m, md->name);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	return 0;
}
