/*
 * Versioned binary save/load of a whole machine (checkpoints, named snapshots, time-travel).
 * Layout: "VMSIMSNP" | u32 version | u64 payload length | payload | u64 checksum of payload.
 * The payload is the config, the clock, the counters, the event ring, then each subsystem's
 * section in op-block order (X_save/X_load in each file). load(save(m)) saves to the same bytes.
 */
#ifndef VMSIM_SNAPSHOT_H
#define VMSIM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

/*
 * Format versions; every older one still loads and re-saves as the current one.
 * 2: the swap cache outlives a swap-in (SwapCached), and each cached slot saves its page's
 *    index. Version 1 snapshots load with their swap cache empty.
 * 3: the checksum takes the payload 8 bytes at a time (snapshot_checksum), and kmap'ed pages
 *    (page tables, file and driver data) are saved sparse. Byte-wise FNV-1a and whole 4 KiB
 *    pages were most of the cost of a save plus a load.
 */
#define SNAPSHOT_VERSION     3
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

/*
 * The fixed-size primitives are inline: a snapshot is mostly per-frame fields, and a call plus a
 * memcpy per field made save and load cost more than the state they walk. Little-endian on
 * every host, so snapshots move between machines.
 */
void snap_grow(struct snap_writer *w, size_t n); /* room for n more bytes, or abort */

static inline uint8_t *snap_room(struct snap_writer *w, size_t n)
{
	if (w->cap - w->len < n)
		snap_grow(w, n);
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

/* Stores and loads of little-endian fields in a buffer taken with snap_room or snap_take. */
static inline void snap_store_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t snap_load_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;
	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static inline void snap_put_le(struct snap_writer *w, uint64_t v, int bytes)
{
	snap_store_le(snap_room(w, (size_t)bytes), v, bytes);
}

static inline void snap_put_u8(struct snap_writer *w, uint8_t v)
{
	snap_put_le(w, v, 1);
}

static inline void snap_put_u16(struct snap_writer *w, uint16_t v)
{
	snap_put_le(w, v, 2);
}

static inline void snap_put_u32(struct snap_writer *w, uint32_t v)
{
	snap_put_le(w, v, 4);
}

static inline void snap_put_u64(struct snap_writer *w, uint64_t v)
{
	snap_put_le(w, v, 8);
}

void snap_put_bytes(struct snap_writer *w, const void *p, size_t n);
void snap_put_str(struct snap_writer *w, const char *s);
/* A 4-letter section tag: load checks it, so a mismatch is reported where it happens. */
void snap_put_tag(struct snap_writer *w, const char tag[4]);

/* Marks the reader failed with a reason (first reason wins). Returns -1. */
int snap_fail(struct snap_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next n bytes, or NULL (and the reader failed) when fewer are left. */
const uint8_t *snap_take(struct snap_reader *r, size_t n);

static inline uint64_t snap_get_le(struct snap_reader *r, int bytes)
{
	const uint8_t *p;
	if (r->err || (size_t)bytes > r->len - r->off)
		p = snap_take(r, (size_t)bytes); /* fails with the reason */
	else {
		p = r->p + r->off;
		r->off += (size_t)bytes;
	}
	return p ? snap_load_le(p, bytes) : 0;
}

static inline uint8_t snap_get_u8(struct snap_reader *r)
{
	return (uint8_t)snap_get_le(r, 1);
}

static inline uint16_t snap_get_u16(struct snap_reader *r)
{
	return (uint16_t)snap_get_le(r, 2);
}

static inline uint32_t snap_get_u32(struct snap_reader *r)
{
	return (uint32_t)snap_get_le(r, 4);
}

static inline uint64_t snap_get_u64(struct snap_reader *r)
{
	return snap_get_le(r, 8);
}

void snap_get_bytes(struct snap_reader *r, void *dst, size_t n);
/* Reads a string into dst (cap bytes incl. NUL); too long is an error. */
void snap_get_str(struct snap_reader *r, char *dst, size_t cap);
int snap_expect_tag(struct snap_reader *r, const char tag[4]);

/* The format version a snapshot's envelope names, or 0 if buf is not a snapshot. */
uint32_t snapshot_version(const uint8_t *buf, size_t len);
/* The envelope's checksum of a payload written in format version `version`. */
uint64_t snapshot_checksum(uint32_t version, const uint8_t *p, size_t n);
/* Returns 0 and a malloc'ed buffer (free() it), or -1 when out of host memory. */
int machine_save(const struct machine *m, uint8_t **out, size_t *len);
/* The same bytes into w->buf[0..w->len), reusing w's buffer (grown as needed; free w->buf
 * when done): for callers that save often, such as the snapshot fuzzer. */
void machine_save_to(const struct machine *m, struct snap_writer *w);
/* Rebuilds a machine from a snapshot; NULL with a reason in err on any corruption. */
struct machine *machine_load(const uint8_t *buf, size_t len, char *err, size_t errlen);

#endif
