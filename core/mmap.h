/* Address spaces: mm_struct, VMAs, do_mmap, do_munmap, mprotect, brk (mm/mmap.c). */
#ifndef VMSIM_MMAP_H
#define VMSIM_MMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct mmap_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table mmap_events;

int mmap_init(struct machine *m);
void mmap_release(struct machine *m);
enum vm_err mmap_apply(struct machine *m, const struct op *op, struct op_result *res);
int mmap_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void mmap_save(const struct machine *m, struct snap_writer *w);
int mmap_load(struct machine *m, struct snap_reader *r);

#endif
