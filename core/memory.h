/*
 * Touching memory (mm/memory.c): the access path (TLB, page walk) and handle_mm_fault with
 * demand paging, the shared zero page, COW (do_wp_page), file faults through the page cache
 * and map_driver's fault handler. A bad access is a SIGSEGV that kills the task.
 */
#ifndef VMSIM_MEMORY_H
#define VMSIM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "pgtable.h"
#include "strbuf.h"

struct mm_struct;
struct vm_area_struct;
struct task_struct;

struct memory_state {
	uint32_t zero_pfn; /* empty_zero_page, allocated at boot */
};

extern const struct event_table memory_events;

enum {
	EV_PAGE_FAULT = 0x600,
	EV_FIND_VMA,
	EV_HANDLE_MM_FAULT,
	EV_DO_ANONYMOUS_PAGE,
	EV_ZERO_PAGE,
	EV_DO_WP_PAGE_COPY,
	EV_DO_WP_PAGE_REUSE,
	EV_DO_FAULT,
	EV_SET_PTE_AT,
	EV_SEGV,
	EV_TLB_HIT,
	EV_TLB_MISS,
	EV_TLB_FLUSH,
	EV_INVLPG,
	EV_PTE_ALLOC,
	EV_SET_PMD,
	EV_FREE_PGTABLE,
	EV_PTE_YOUNG,
	EV_FAULT_OOM,
	EV_DO_SWAP_PAGE,
	EV_ACCESS_OK,
	EV_ACCESS_RANGE,
};

int memory_init(struct machine *m);
void memory_release(struct machine *m);
enum vm_err memory_apply(struct machine *m, const struct op *op, struct op_result *res);
int memory_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void memory_save(const struct machine *m, struct snap_writer *w);
int memory_load(struct machine *m, struct snap_reader *r);

/* FAULT_* outcome of one fault (handle_mm_fault's VM_FAULT_* in vmsim's terms). */
enum fault_kind handle_mm_fault(struct machine *m, struct task_struct *t,
                                struct vm_area_struct *vma, uint64_t va, enum access_kind kind);
/*
 * Swap-in of a non-present PTE that holds a swap entry (mm/memory.c do_swap_page); write is 1
 * for a write fault. The page stays in the swap cache (swapfile.c) unless the write frees it.
 */
enum fault_kind do_swap_page(struct machine *m, struct task_struct *t, struct vm_area_struct *vma,
                             uint64_t va, struct pte_ref ref, uint64_t pte, int write);

/*
 * Query: the page walk of va in pid's address space (or the kernel's: pid 0 = init_mm),
 * without touching anything. VM_ENOENT for an unknown pid.
 */
enum vm_err translate(const struct machine *m, uint32_t pid, uint64_t va, struct walk_trace *t);
/* Reads len bytes of pid's memory at va through its page table, without faulting; 0 or -1. */
int access_process_vm(const struct machine *m, uint32_t pid, uint64_t va, void *buf, size_t len);

/* Releases a user page's reference held by a PTE (zap, COW); frees it on the last one. */
void put_user_page(struct machine *m, uint32_t pfn);
uint32_t zero_pfn(const struct machine *m);
/* Is pfn a "normal" page that rmap and RSS count (not the zero page)? */
int vm_normal_page(const struct machine *m, uint64_t pte);

#endif
