/* Simulated files, the page cache and buffers (mm/filemap.c). */
#ifndef VMSIM_FILEMAP_H
#define VMSIM_FILEMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct filemap_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table filemap_events;

int filemap_init(struct machine *m);
void filemap_release(struct machine *m);
enum vm_err filemap_apply(struct machine *m, const struct op *op, struct op_result *res);
int filemap_check(const struct machine *m, char *buf, size_t len);

#endif
