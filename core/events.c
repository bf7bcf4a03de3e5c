/* Event ring: a fixed array of the last N events of a machine, overwritten oldest first. */
#include "events.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"

static const char *const machine_event_tmpl[] = {
    [EV_BOOT] = "boot: {s} machine, {a} KiB of RAM, {b} frames",
    [EV_BOOT_RESERVE] = "memblock_reserve: pfn {A}-{B} ({s})",
    [EV_BOOT_ZONE] = "free_area_init: zone {s} pfn {A}-{B}, {c} pages managed",
    [EV_BOOT_WMARK] = "setup_per_zone_wmarks: zone {s} min {a} low {b} high {c}",
    [EV_OP_FAILED] = "op failed: {s}",
};

static const struct event_table *event_tables[] = {
    &(const struct event_table){0, machine_event_tmpl,
                                sizeof(machine_event_tmpl) / sizeof(machine_event_tmpl[0])},
    &page_alloc_events,
    &slab_events,
    &vmalloc_events,
    &fork_events,
    &mmap_events,
    &memory_events,
    &filemap_events,
    &swapfile_events,
    &vmscan_events,
    &map_driver_events,
    &hugetlb_events,
};

int event_ring_init(struct event_ring *r, uint32_t cap)
{
	memset(r, 0, sizeof(*r));
	r->ev = calloc((size_t)cap + EVENT_HEADROOM, sizeof(*r->ev));
	r->cap = cap;
	r->slots = cap + EVENT_HEADROOM;
	r->next_id = 1;
	return r->ev ? 0 : -1;
}

void event_ring_release(struct event_ring *r)
{
	free(r->ev);
	free(r->undo);
	r->ev = r->undo = NULL;
}

/* A long op is about to overwrite an event still in the window: keep a copy for undo. */
static void event_save_undo(struct event_ring *r, const struct event *old)
{
	if (r->undo_n == r->undo_cap) {
		uint32_t cap = r->undo_cap ? r->undo_cap * 2 : 64;
		struct event *n = realloc(r->undo, cap * sizeof(*n));
		if (!n)
			abort(); /* host out of memory: no sane way to go on */
		r->undo = n;
		r->undo_cap = cap;
	}
	r->undo[r->undo_n++] = *old;
}

/* The slot of the next event, filled in but for its string (which starts zeroed). */
static inline struct event *ev_next(struct machine *m, uint16_t type, uint64_t a, uint64_t b,
                                    uint64_t c)
{
	struct event_ring *r = &m->events;
	if (r->op_seq != m->seq + 1) { /* first event of a new op */
		r->op_seq = m->seq + 1;
		r->op_first = r->next_id;
		r->undo_n = 0;
	}
	if (r->slot_id != r->next_id) { /* next_id was moved (truncate, load): recompute */
		r->slot_id = r->next_id;
		r->slot = (uint32_t)(r->next_id % r->slots);
	}
	struct event *e = &r->ev[r->slot];
	r->slot = r->slot + 1 == r->slots ? 0 : r->slot + 1;
	r->slot_id++;
	if (r->next_id - r->op_first >= EVENT_HEADROOM && e->id && e->id < r->op_first &&
	    e->id + r->cap >= r->op_first)
		event_save_undo(r, e);
	e->id = r->next_id++;
	e->seq = m->seq + 1; /* events belong to the op being applied */
	e->type = type;
	e->a = a;
	e->b = b;
	e->c = c;
	return e;
}

void ev_emit(struct machine *m, uint16_t type, uint64_t a, uint64_t b, uint64_t c, const char *s)
{
	struct event *e = ev_next(m, type, a, b, c);
	memset(e->s, 0, sizeof(e->s)); /* no stale bytes: snapshots save all of it */
	if (s)
		memcpy(e->s, s, strnlen(s, sizeof(e->s) - 1));
}

void ev_emit_name(struct machine *m, uint16_t type, uint64_t a, uint64_t b, uint64_t c,
                  const char s[EVENT_STR_LEN])
{
	struct event *e = ev_next(m, type, a, b, c);
	memcpy(e->s, s, sizeof(e->s));
	e->s[sizeof(e->s) - 1] = '\0'; /* as ev_emit: at most EVENT_STR_LEN - 1 characters */
}

uint64_t events_first_id(const struct machine *m)
{
	const struct event_ring *r = &m->events;
	return r->next_id > r->cap ? r->next_id - r->cap : 1;
}

uint64_t events_next_id(const struct machine *m)
{
	return m->events.next_id;
}

const struct event *event_get(const struct machine *m, uint64_t id)
{
	if (id < events_first_id(m) || id >= events_next_id(m))
		return NULL;
	const struct event *e = event_slot(&m->events, id);
	return e->id == id ? e : NULL; /* a slot reused by a failed op's discarded events */
}

void events_truncate(struct machine *m, uint64_t keep_next)
{
	struct event_ring *r = &m->events;
	if (r->op_seq != m->seq + 1)
		r->undo_n = 0; /* the failed op recorded nothing: the log is an earlier op's */
	if (keep_next < r->next_id)
		r->next_id = keep_next;
	while (r->undo_n) { /* newest first, so a slot overwritten twice ends as it began */
		const struct event *old = &r->undo[--r->undo_n];
		*event_slot(r, old->id) = *old;
	}
	r->op_seq = 0; /* the next op, even with the same seq, starts a fresh record */
}

static const char *event_template(uint16_t type)
{
	unsigned block = type >> 8, idx = type & 0xff;
	for (size_t i = 0; i < sizeof(event_tables) / sizeof(event_tables[0]); i++) {
		const struct event_table *t = event_tables[i];
		if (t->block == block && idx < t->n && t->tmpl[idx])
			return t->tmpl[idx];
	}
	return NULL;
}

void event_render(const struct event *e, struct strbuf *sb)
{
	const char *t = event_template(e->type);
	if (!t) {
		strbuf_addf(sb, "event %#x", e->type);
		return;
	}
	for (const char *p = t; *p; p++) {
		if (p[0] == '{' && p[1] && p[2] == '}') {
			uint64_t v = 0;
			switch (p[1]) {
			case 'a':
			case 'A':
				v = e->a;
				break;
			case 'b':
			case 'B':
				v = e->b;
				break;
			case 'c':
			case 'C':
				v = e->c;
				break;
			case 's':
				strbuf_add(sb, e->s, strnlen(e->s, sizeof(e->s)));
				p += 2;
				continue;
			default:
				strbuf_add(sb, p, 1);
				continue;
			}
			if (p[1] >= 'a')
				strbuf_addf(sb, "%" PRIu64, v);
			else
				strbuf_addf(sb, "0x%" PRIx64, v);
			p += 2;
			continue;
		}
		strbuf_add(sb, p, 1);
	}
}
