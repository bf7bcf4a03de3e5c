/* Page faults: handle_mm_fault, demand paging, COW (mm/memory.c). */
#ifndef VMSIM_MEMORY_H
#define VMSIM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct memory_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table memory_events;

int memory_init(struct machine *m);
void memory_release(struct machine *m);
enum vm_err memory_apply(struct machine *m, const struct op *op, struct op_result *res);
int memory_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void memory_save(const struct machine *m, struct snap_writer *w);
int memory_load(struct machine *m, struct snap_reader *r);

#endif
