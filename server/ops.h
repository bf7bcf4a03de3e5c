/*
 * The mapping between the wire ops (vmsim.v1 request messages, and Op, their oneof) and
 * core's struct op. One table says which request field fills which struct op member, so
 * the RPCs, Apply batches, trace files and the journal all convert the same way.
 */
#ifndef VMSIM_SRV_OPS_H
#define VMSIM_SRV_OPS_H

#include <stddef.h>

#include "machine.h"
#include "vmsim/v1/vmsim.pb-c.h"

/* Checks the table against the descriptors once at startup: 0, or -1 with a reason. */
int ops_init(char *err, size_t len);

/* Whether requests of type d are ops (AllocPagesRequest, ...), and which kind. */
int ops_is_op_request(const ProtobufCMessageDescriptor *d, enum op_kind *kind);

/* One op request message (e.g. a Vmsim__V1__MmapRequest) -> struct op. -1 + reason if an
 * argument does not fit (name too long, number too large for the core field). */
int ops_from_request(const ProtobufCMessage *req, struct op *op, char *err, size_t len);
/* An Op oneof -> struct op; -1 when no op is set or an argument does not fit. */
int ops_from_pb(const Vmsim__V1__Op *pb, struct op *op, char *err, size_t len);

/* struct op -> Op message packed as protobuf (the journal's and trace files' form).
 * Returns a malloc'd buffer, NULL for an unknown kind. */
uint8_t *ops_pack(const struct op *op, size_t *len);
/* The longest packed Op: tags and lengths plus 7 fields of at most a 10-byte varint or a
 * NAME_LEN string. */
#define OPS_PACKED_MAX 512
/* The same bytes written into buf (nothing written if they do not fit in cap); returns their
 * length, 0 for an unknown kind. No allocation: the journal packs batches with it. */
size_t ops_pack_to(const struct op *op, uint8_t *buf, size_t cap);
/* The reverse of ops_pack. */
int ops_unpack(const uint8_t *buf, size_t len, struct op *op, char *err, size_t errlen);

/* "alloc_pages", "mmap", ... (the Op field name), or NULL. */
const char *ops_name(enum op_kind kind);

#endif
