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

struct snap_writer;
struct snap_reader;
void vmalloc_save(const struct machine *m, struct snap_writer *w);
int vmalloc_load(struct machine *m, struct snap_reader *r);

/* Kernel-internal API (phys helper implements; map_driver.c uses it). 0 on failure. */
uint64_t vmalloc(struct machine *m, uint64_t size);
void vfree(struct machine *m, uint64_t addr);
/* The frame behind a vmalloc address, or UINT32_MAX (PFN_NONE) when nothing is mapped. */
uint32_t vmalloc_to_pfn(const struct machine *m, uint64_t addr);
uint64_t vmalloc_start(const struct machine *m);
uint64_t vmalloc_end(const struct machine *m);
void vmallocinfo_show(const struct machine *m, struct strbuf *sb);

#endif
