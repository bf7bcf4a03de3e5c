/* Swap areas, slots and the swap cache (mm/swapfile.c, mm/swap_state.c). */
#ifndef VMSIM_SWAPFILE_H
#define VMSIM_SWAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct swapfile_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table swapfile_events;

int swapfile_init(struct machine *m);
void swapfile_release(struct machine *m);
enum vm_err swapfile_apply(struct machine *m, const struct op *op, struct op_result *res);
int swapfile_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void swapfile_save(const struct machine *m, struct snap_writer *w);
int swapfile_load(struct machine *m, struct snap_reader *r);

#endif
