/* vmalloc: virtually contiguous kernel memory from scattered frames (mm/vmalloc.c). */
#ifndef VMSIM_VMALLOC_H
#define VMSIM_VMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct vmalloc_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table vmalloc_events;

int vmalloc_init(struct machine *m);
void vmalloc_release(struct machine *m);
enum vm_err vmalloc_apply(struct machine *m, const struct op *op, struct op_result *res);
int vmalloc_check(const struct machine *m, char *buf, size_t len);

#endif
