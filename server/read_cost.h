/*
 * What a read costs against the caller's ops/s quota. Most reads are cheap and free, but some
 * answers grow with the machine or the page asked for (a whole FrameMap of a 2 GiB machine
 * is 1.5 MB); a client asking for them in a loop would hold the loop and the server's memory
 * for free. Those pay like ops, through the quota seam (srv->charge), before they run.
 */
#ifndef VMSIM_SRV_READ_COST_H
#define VMSIM_SRV_READ_COST_H

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

#include "server.h"

/* One quota unit buys this many bytes of answer (FrameMap: 3 bytes a frame). */
#define READ_COST_BYTES (12u << 10)

/* Quota units the read `method` of request req takes: 1 for an ordinary read. */
uint64_t read_cost(const struct srv *s, const char *method, const ProtobufCMessage *req);

#endif
