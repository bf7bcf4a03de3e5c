/* The seed's map_driver: a character device whose vmalloc buffer is mapped by a fault handler. */
#ifndef VMSIM_MAP_DRIVER_H
#define VMSIM_MAP_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct map_driver_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table map_driver_events;

int map_driver_init(struct machine *m);
void map_driver_release(struct machine *m);
enum vm_err map_driver_apply(struct machine *m, const struct op *op, struct op_result *res);
int map_driver_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void map_driver_save(const struct machine *m, struct snap_writer *w);
int map_driver_load(struct machine *m, struct snap_reader *r);

#endif
