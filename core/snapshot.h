/*
 * Versioned binary save/load of a whole machine (checkpoints, named snapshots, time-travel).
 * Layout: "VMSIMSNP" | u32 version | u64 payload length | payload | u64 FNV-1a of payload.
 * The payload is the config, the clock, the counters, the event ring, then each subsystem's
 * section in op-block order (X_save/X_load in each file). load(save(m)) saves to the same bytes.
 */
#ifndef VMSIM_SNAPSHOT_H
#define VMSIM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

/*
 * 2: the swap cache outlives a swap-in (SwapCached), and each cached slot saves its page's
 * index. Version 1 snapshots still load: their swap cache is empty.
 */
#define SNAPSHOT_VERSION     2
#define SNAPSHOT_VERSION_MIN 1

struct snap_writer {
	uint8_t *buf;
	size_t len, cap;
};

struct snap_reader {
	const uint8_t *p;
	size_t len, off;
	int err;          /* set on the first overrun or bad value; later gets return 0 */
	uint32_t version; /* the snapshot's format version (SNAPSHOT_VERSION_MIN..) */
	char msg[128];
};

void snap_put_u8(struct snap_writer *w, uint8_t v);
void snap_put_u16(struct snap_writer *w, uint16_t v);
void snap_put_u32(struct snap_writer *w, uint32_t v);
void snap_put_u64(struct snap_writer *w, uint64_t v);
void snap_put_bytes(struct snap_writer *w, const void *p, size_t n);
void snap_put_str(struct snap_writer *w, const char *s);
/* A 4-letter section tag: load checks it, so a mismatch is reported where it happens. */
void snap_put_tag(struct snap_writer *w, const char tag[4]);

uint8_t snap_get_u8(struct snap_reader *r);
uint16_t snap_get_u16(struct snap_reader *r);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
void snap_get_bytes(struct snap_reader *r, void *dst, size_t n);
/* Reads a string into dst (cap bytes incl. NUL); too long is an error. */
void snap_get_str(struct snap_reader *r, char *dst, size_t cap);
int snap_expect_tag(struct snap_reader *r, const char tag[4]);
/* Marks the reader failed with a reason (first reason wins). Returns -1. */
int snap_fail(struct snap_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Returns 0 and a malloc'ed buffer (free() it), or -1 when out of host memory. */
int machine_save(const struct machine *m, uint8_t **out, size_t *len);
/* Rebuilds a machine from a snapshot; NULL with a reason in err on any corruption. */
struct machine *machine_load(const uint8_t *buf, size_t len, char *err, size_t errlen);

#endif
