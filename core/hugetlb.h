/*
 * HugeTLB pages (mm/hugetlb.c): a pool of huge pages taken from the buddy allocator by
 * `echo N > /proc/sys/vm/nr_hugepages`, reserved by mmap(MAP_HUGETLB), mapped by one PSE
 * entry a level above the PTEs (x86_64: 2 MiB PMD entries; i386 without PAE: 4 MiB PGD
 * entries), so one TLB entry covers the whole huge page. Never on an LRU, never swapped.
 */
#ifndef VMSIM_HUGETLB_H
#define VMSIM_HUGETLB_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "mm_types.h"
#include "strbuf.h"

struct mm_struct;
struct task_struct;
struct vm_area_struct;

/* struct hstate of the one huge page size the arch maps with PSE entries. */
struct hugetlb_state {
	uint64_t nr_huge_pages;     /* HugePages_Total */
	uint64_t free_huge_pages;   /* HugePages_Free */
	uint64_t resv_huge_pages;   /* HugePages_Rsvd: promised to mappings, not yet faulted */
	struct page_list free_list; /* head frames of the free huge pages */
	/* /proc/vmstat htlb_buddy_alloc_success/fail: pool growth from the buddy allocator */
	uint64_t htlb_buddy_alloc_success, htlb_buddy_alloc_fail;
};

extern const struct event_table hugetlb_events;

enum {
	EV_HUGETLB_POOL = 0xb00,
	EV_HUGETLB_POOL_SHORT,
	EV_HUGETLB_RESERVE,
	EV_HUGETLB_UNRESERVE,
	EV_HUGETLB_FAULT,
	EV_HUGETLB_WP_COPY,
	EV_HUGETLB_WP_REUSE,
	EV_HUGETLB_NO_PAGE,
	EV_HUGETLB_UNMAP,
	EV_HUGETLB_COPY,
};

/* Order of the arch's huge page: 9 (2 MiB) on x86_64, 10 (4 MiB PSE) on i386. */
unsigned huge_page_order(const struct machine *m);
uint64_t huge_page_size(const struct machine *m);

int hugetlb_init(struct machine *m);
void hugetlb_release(struct machine *m);
enum vm_err hugetlb_apply(struct machine *m, const struct op *op, struct op_result *res);
int hugetlb_check(const struct machine *m, char *buf, size_t len);
struct snap_writer;
struct snap_reader;
void hugetlb_save(const struct machine *m, struct snap_writer *w);
int hugetlb_load(struct machine *m, struct snap_reader *r);

/* mmap(MAP_HUGETLB): reserves the VMA's huge pages (hugetlb_reserve_pages) or fails. */
enum vm_err hugetlb_reserve_pages(struct machine *m, uint64_t len, struct op_result *res);
/* Faults of a VM_HUGETLB VMA (hugetlb_fault, hugetlb_no_page, hugetlb_wp). */
enum fault_kind hugetlb_fault(struct machine *m, struct task_struct *t, struct vm_area_struct *vma,
                              uint64_t va, int write);
/* unmap_hugepage_range(): drops [start, end) of a VM_HUGETLB VMA, releasing its reserves. */
void unmap_hugepage_range(struct machine *m, struct mm_struct *mm, const struct vm_area_struct *vma,
                          uint64_t start, uint64_t end);
/* hugetlb_change_protection(): the PSE entries follow the VMA's new flags. */
void hugetlb_change_protection(struct machine *m, struct mm_struct *mm,
                               const struct vm_area_struct *vma);
/* copy_hugetlb_page_range() at fork: shares every huge page, write-protected for COW. */
int copy_hugetlb_page_range(struct machine *m, struct mm_struct *dst, struct mm_struct *src,
                            const struct vm_area_struct *vma);
/* Bytes of huge pages mapped in [start, end) of mm, shared (mapped twice or more) and
 * private, as smaps_hugetlb_range() splits them. */
void hugetlb_usage(const struct machine *m, const struct mm_struct *mm, uint64_t start,
                   uint64_t end, uint64_t *shared, uint64_t *private_);

#endif
