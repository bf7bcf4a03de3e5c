/* Helpers for the VM tests: ops for tasks, mappings and accesses, and /proc text. */
#ifndef VMSIM_VM_HELPERS_H
#define VMSIM_VM_HELPERS_H

#include <stdio.h>

#include "helpers.h"
#include "proc.h"

static inline uint32_t vm_spawn(struct machine *m, const char *name)
{
	struct op op = {.kind = OP_SPAWN};
	snprintf(op.u.spawn.name, sizeof(op.u.spawn.name), "%s", name);
	return (uint32_t)apply_expect(m, &op, VM_OK).value;
}

static inline uint32_t vm_fork(struct machine *m, enum op_kind kind, uint32_t pid, uint32_t flags)
{
	struct op op = {.kind = kind};
	op.u.fork.pid = pid;
	op.u.fork.flags = flags;
	return (uint32_t)apply_expect(m, &op, VM_OK).value;
}

static inline void vm_exit(struct machine *m, uint32_t pid)
{
	struct op op = {.kind = OP_EXIT};
	op.u.exit.pid = pid;
	apply_expect(m, &op, VM_OK);
}

static inline struct op vm_mmap_op(uint32_t pid, uint64_t addr, uint64_t len, uint32_t prot,
                                   uint32_t flags)
{
	struct op op = {.kind = OP_MMAP};
	op.u.mmap.pid = pid;
	op.u.mmap.addr = addr;
	op.u.mmap.len = len;
	op.u.mmap.prot = prot;
	op.u.mmap.flags = flags;
	return op;
}

static inline uint64_t vm_mmap(struct machine *m, uint32_t pid, uint64_t addr, uint64_t len,
                               uint32_t prot, uint32_t flags)
{
	struct op op = vm_mmap_op(pid, addr, len, prot, flags);
	return apply_expect(m, &op, VM_OK).value;
}

static inline struct op vm_range_op(enum op_kind kind, uint32_t pid, uint64_t addr, uint64_t len,
                                    uint32_t prot)
{
	struct op op = {.kind = kind};
	op.u.munmap.pid = pid;
	op.u.munmap.addr = addr;
	op.u.munmap.len = len;
	op.u.munmap.prot = prot;
	return op;
}

static inline struct op_result vm_access(struct machine *m, uint32_t pid, uint64_t va,
                                         enum access_kind kind)
{
	struct op op = {.kind = OP_ACCESS};
	op.u.access.pid = pid;
	op.u.access.addr = va;
	op.u.access.kind = kind;
	return apply_expect(m, &op, VM_OK);
}

static inline struct op_result vm_access_range(struct machine *m, uint32_t pid, uint64_t va,
                                               uint64_t len, enum access_kind kind)
{
	struct op op = {.kind = OP_ACCESS_RANGE};
	op.u.access.pid = pid;
	op.u.access.addr = va;
	op.u.access.len = len;
	op.u.access.kind = kind;
	return apply_expect(m, &op, VM_OK);
}

/* Renders a /proc view into a static buffer (valid until the next call). */
static inline const char *vm_proc(struct machine *m, const char *path)
{
	static char out[1 << 16];
	struct strbuf sb;
	strbuf_init(&sb);
	assert_int_equal(proc_render(m, path, &sb), VM_OK);
	snprintf(out, sizeof(out), "%s", sb.buf ? sb.buf : "");
	strbuf_release(&sb);
	return out;
}

static inline uint32_t pte_pfn_of(struct machine *m, uint32_t pid, uint64_t va)
{
	struct walk_trace t;
	assert_int_equal(translate(m, pid, va, &t), VM_OK);
	assert_int_equal(t.fail_level, -1);
	return (uint32_t)(t.phys >> PAGE_SHIFT);
}

#endif
