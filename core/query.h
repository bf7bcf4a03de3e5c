/*
 * Read-only structured queries for pictures and dashboards: the per-frame map, the zones
 * and the machine's counters by kernel name. Nothing here changes the machine.
 */
#ifndef VMSIM_QUERY_H
#define VMSIM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#define QUERY_NO_ORDER 0xff

/*
 * Frames [start, start + count) clipped to the machine: flags[i] = struct page flags (page
 * type in bits 0-3, PG_* above), orders[i] = order of the block starting at that frame or
 * QUERY_NO_ORDER. Returns the number of frames written.
 */
uint64_t query_frame_map(const struct machine *m, uint64_t start, uint64_t count, uint16_t *flags,
                         uint8_t *orders);

/* Names of the page types (index = type bits), NULL-terminated. */
extern const char *const query_page_type_names[];

struct query_zone {
	const char *name;
	uint64_t start_pfn, spanned, present, managed, free;
	uint64_t wmark_min, wmark_low, wmark_high;
	uint64_t nr_free[11]; /* blocks per order */
};

/* Populated zones in order; returns how many were written (at most max). */
unsigned query_zones(const struct machine *m, struct query_zone *out, unsigned max);

/* Calls emit(arg, name, value) for every counter, in a stable order. */
void query_counters(const struct machine *m,
                    void (*emit)(void *arg, const char *name, uint64_t value), void *arg);

#endif
