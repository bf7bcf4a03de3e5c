/*
 * proto3 JSON for any protobuf-c message, driven by the message descriptors (no generated
 * code per message): lowerCamelCase names (the original names are accepted too), 64-bit
 * integers as strings, enums by name, bytes as base64. Shared by the server and the CLI.
 */
#ifndef VMSIM_PB_JSON_H
#define VMSIM_PB_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Encoding options. */
enum {
	/* Also print fields holding their default value (0, "", false, first enum, []): what a
	 * JavaScript client or a jq script expects to find. Unset message fields stay absent. */
	PB_JSON_EMIT_DEFAULTS = 1u << 0,
};

/* Message -> new JSON object (json_decref it). NULL only when out of memory. */
json_t *pb_json_encode(const ProtobufCMessage *msg, unsigned flags);
/* Message -> compact JSON text (malloc'd, NUL-terminated; *len gets its length). */
char *pb_json_dumps(const ProtobufCMessage *msg, unsigned flags, size_t *len);

/*
 * JSON object -> new message of type d (free with protobuf_c_message_free_unpacked(msg,
 * NULL)). On bad input returns NULL and writes a one-line reason naming the field to err.
 * Unknown fields are rejected, as are out-of-range numbers and unknown enum names.
 */
ProtobufCMessage *pb_json_decode(const ProtobufCMessageDescriptor *d, const json_t *obj, char *err,
                                 size_t errlen);
/* Same from JSON text (len bytes, need not be NUL-terminated). */
ProtobufCMessage *pb_json_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                                char *err, size_t errlen);

/*
 * UTF-8. proto3 requires string fields to hold UTF-8 and JSON can carry nothing else, but
 * protobuf-c's unpack does not check it: the server checks every request at its boundary.
 */
/* Whether s is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). */
int pb_utf8_valid(const char *s);
/*
 * What a server checks of a decoded request beyond the wire format: every string field, at
 * any depth, is UTF-8, and every enum field holds a value its enum names (proto3 decoders
 * keep unknown numbers; a receiver that does not know one must refuse it). 0, or -1 with
 * "field ops[2].kmemCacheCreate.name: not valid UTF-8 ..." in why.
 */
int pb_check_values(const ProtobufCMessage *msg, char *why, size_t whylen);
/* JSON string of s where each byte that is not part of a UTF-8 sequence becomes U+FFFD: how
 * the encoder prints text that never passed the boundary check (a name inside an imported
 * snapshot, a message cut short). NULL only when out of memory. */
json_t *pb_json_string(const char *s);

/* "machine_id" -> "machineId" into out (at least strlen(name) + 1 bytes). */
void pb_json_name(const char *name, char *out);

#endif
