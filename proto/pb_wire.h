/*
 * The protobuf binary rules protobuf-c's unpack does not follow, applied before it runs.
 * The encoding spec reads a singular message field that occurs more than once, and a
 * message member of a oneof that occurs again, as the merge of the occurrences (the same as
 * parsing their concatenation); protobuf-c refuses the first and replaces on the second. It
 * also refuses groups, which a proto3 reader must skip like any unknown field. pb_wire_merge
 * rewrites such a body into one protobuf-c unpacks to the message the spec describes.
 */
#ifndef VMSIM_PB_WIRE_H
#define VMSIM_PB_WIRE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting the rewrite follows (protobuf's own default recursion limit). */
#define PB_WIRE_MAX_DEPTH 100

/*
 * Whether the len bytes at in, read as message d, need rewriting: 1 (a message field or a
 * oneof seen twice at any depth, or a group), 0 (protobuf-c reads them as the spec does),
 * -1 (not a valid protobuf encoding: protobuf-c would refuse it too).
 */
int pb_wire_needs_merge(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len);

/*
 * Rewrites in (message d) into *out (malloc'd, *out_len bytes): every singular message field
 * once, holding the concatenation of its occurrences (rewritten in turn); the last member of
 * each oneof once, a message member holding its occurrences since the oneof last changed
 * member; groups and unknown fields dropped; everything else as it came, in order. 0, or -1
 * on an invalid encoding, nesting deeper than PB_WIRE_MAX_DEPTH or out of memory.
 */
int pb_wire_merge(const ProtobufCMessageDescriptor *d, const uint8_t *in, size_t len, uint8_t **out,
                  size_t *out_len);

#endif
