/*
 * The event ring: what each op did, step by step, in kernel terms. Events are stored as
 * (type, three numbers, a short string) and rendered to text only when read, so recording
 * costs a few stores and the allocator stays fast.
 *
 * Event types are numbered in the same 0x100 blocks as ops; each subsystem file owns a
 * table of templates for its block (see events.c). Template tokens: {a} {b} {c} decimal,
 * {A} {B} {C} hex with 0x, {s} the string.
 */
#ifndef VMSIM_EVENTS_H
#define VMSIM_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

struct machine;

#define EVENT_STR_LEN 32

struct event {
	uint64_t id;  /* 1, 2, 3 ... per machine, never reused (SSE Last-Event-ID) */
	uint64_t seq; /* the op that recorded it (0 = boot) */
	uint16_t type;
	uint16_t pad[3];
	uint64_t a, b, c;
	char s[EVENT_STR_LEN];
};

/*
 * The ring keeps the last cap events in cap + EVENT_HEADROOM slots (event id % slots). The
 * events of an op that then fails are dropped (events_truncate) and the window must be as it
 * was: the first EVENT_HEADROOM events of an op land in slots outside the window, and the
 * slots a longer op overwrites are copied to an undo log first, so a failed op never costs
 * history and replay stays byte-identical.
 */
#define EVENT_HEADROOM 128

struct event_ring {
	struct event *ev;
	uint32_t cap;              /* events kept */
	uint32_t slots;            /* cap + EVENT_HEADROOM */
	uint64_t next_id;          /* id the next event gets */
	uint64_t op_seq, op_first; /* the op being recorded and its first event id */
	uint64_t slot_id;          /* the id whose slot is cached in slot (saves a division) */
	uint32_t slot;
	struct event *undo; /* in-window events overwritten by the current op */
	uint32_t undo_n, undo_cap;
};

static inline struct event *event_slot(const struct event_ring *r, uint64_t id)
{
	return &r->ev[id % r->slots];
}

struct event_table {
	unsigned block; /* OP_BLOCK of the subsystem */
	const char *const *tmpl;
	unsigned n;
};

int event_ring_init(struct event_ring *r, uint32_t cap);
void event_ring_release(struct event_ring *r);

void ev_emit(struct machine *m, uint16_t type, uint64_t a, uint64_t b, uint64_t c, const char *s);
/*
 * ev_emit for a string kept in an array of EVENT_STR_LEN bytes, zero after its end (zone
 * names): one fixed-size copy instead of a scan. The event is byte for byte ev_emit's.
 */
void ev_emit_name(struct machine *m, uint16_t type, uint64_t a, uint64_t b, uint64_t c,
                  const char s[EVENT_STR_LEN]);

/* Oldest id still held, and the id after the newest. */
uint64_t events_first_id(const struct machine *m);
uint64_t events_next_id(const struct machine *m);
/* The event with this id, or NULL if it has left the ring or not happened yet. */
const struct event *event_get(const struct machine *m, uint64_t id);
void event_render(const struct event *e, struct strbuf *sb);
/* Drops events recorded after id `keep_next` (used to undo a failed op's events). */
void events_truncate(struct machine *m, uint64_t keep_next);

/* Boot and machine-level events (block 0). */
enum {
	EV_BOOT = 0x000,
	EV_BOOT_RESERVE,
	EV_BOOT_ZONE,
	EV_BOOT_WMARK,
	EV_OP_FAILED,
};

#endif
