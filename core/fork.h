/* Tasks: spawn, fork, vfork, clone, exit, exec, context switch (kernel/fork.c, kernel/exit.c). */
#ifndef VMSIM_FORK_H
#define VMSIM_FORK_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct fork_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table fork_events;

int fork_init(struct machine *m);
void fork_release(struct machine *m);
enum vm_err fork_apply(struct machine *m, const struct op *op, struct op_result *res);
int fork_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void fork_save(const struct machine *m, struct snap_writer *w);
int fork_load(struct machine *m, struct snap_reader *r);

#endif
