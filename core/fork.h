/*
 * Tasks (kernel/fork.c, kernel/exit.c, fs/exec.c): spawn, fork, vfork, clone(CLONE_VM),
 * exit, exec and the context switch. A task holds its mm (shared by CLONE_VM), a kernel
 * stack and its fault counters; the task list is sorted by pid.
 */
#ifndef VMSIM_FORK_H
#define VMSIM_FORK_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct mm_struct;

#define TASK_COMM_LEN 16

enum task_state {
	TASK_RUNNING = 0, /* R */
	TASK_VFORK = 1,   /* D: parent waiting in vfork until the child execs or exits */
};

struct task_struct {
	uint32_t pid, ppid;
	char comm[TASK_COMM_LEN];
	enum task_state state;
	uint32_t vfork_parent; /* pid this child must wake at exec/exit, 0 if none */
	struct mm_struct *mm;
	uint64_t objp;   /* task_struct object in the slab */
	uint32_t kstack; /* pfn of the kernel stack (THREAD_SIZE) */
	uint64_t min_flt, maj_flt, nr_cow;
	uint64_t rlimit_rss;   /* pages, 0 = unlimited (OP_SET_RLIMIT) */
	int32_t oom_score_adj; /* -1000 .. 1000 (OP_SET_OOM_ADJ) */
};

struct fork_state {
	struct task_struct **tasks; /* sorted by pid */
	uint32_t nr, cap;
	uint32_t last_pid;
	uint32_t current; /* pid on the CPU, 0 = idle */
};

extern const struct event_table fork_events;

enum {
	EV_COPY_PROCESS = 0x400,
	EV_SPAWN,
	EV_DUP_MM,
	EV_SHARE_MM,
	EV_DO_EXIT,
	EV_MMPUT,
	EV_EXEC,
	EV_SWITCH_MM,
	EV_ALLOC_THREAD_STACK,
	EV_FREE_THREAD_STACK,
	EV_SET_TASK,
	EV_KILL,
	EV_VFORK_DONE,
};

int fork_init(struct machine *m);
void fork_release(struct machine *m);
enum vm_err fork_apply(struct machine *m, const struct op *op, struct op_result *res);
int fork_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void fork_save(const struct machine *m, struct snap_writer *w);
int fork_load(struct machine *m, struct snap_reader *r);

/* Read-only task list for ps, /proc/PID and the OOM killer. */
uint32_t task_count(const struct machine *m);
const struct task_struct *task_at(const struct machine *m, uint32_t i);
struct task_struct *find_task(const struct machine *m, uint32_t pid);

/* Kernel-internal: kill a task (SIGSEGV, SIGKILL from the OOM killer); sig for the event. */
void do_exit(struct machine *m, struct task_struct *t, int code, const char *why);
/* Makes pid current, switching mm (TLB flush) when it differs. */
void context_switch(struct machine *m, struct task_struct *next);

#endif
