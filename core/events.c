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
};

int event_ring_init(struct event_ring *r, uint32_t cap)
{
	r->ev = calloc(2 * (size_t)cap, sizeof(*r->ev));
	r->cap = cap;
	r->slots = 2 * cap;
	r->next_id = 1;
	return r->ev ? 0 : -1;
}

void event_ring_release(struct event_ring *r)
{
	free(r->ev);
	r->ev = NULL;
}

void ev_emit(struct machine *m, uint16_t type, uint64_t a, uint64_t b, uint64_t c, const char *s)
{
	struct event_ring *r = &m->events;
	struct event *e = event_slot(r, r->next_id);
	e->id = r->next_id++;
	e->seq = m->seq + 1; /* events belong to the op being applied */
	e->type = type;
	e->a = a;
	e->b = b;
	e->c = c;
	memset(e->s, 0, sizeof(e->s));
	if (s)
		strncpy(e->s, s, sizeof(e->s) - 1);
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
	if (keep_next < m->events.next_id)
		m->events.next_id = keep_next;
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
