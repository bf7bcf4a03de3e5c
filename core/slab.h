/* Slab allocator and kmalloc (mm/slub.c, mm/slab_common.c). */
#ifndef VMSIM_SLAB_H
#define VMSIM_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct slab_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table slab_events;

int slab_init(struct machine *m);
void slab_release(struct machine *m);
enum vm_err slab_apply(struct machine *m, const struct op *op, struct op_result *res);
int slab_check(const struct machine *m, char *buf, size_t len);

#endif
