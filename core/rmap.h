/*
 * Reverse mapping (mm/rmap.c): from a frame to the PTEs that map it. The VM helper implements
 * it in rmap.c; vmscan.c uses it to age and unmap pages. An anon page's index (page_anon_index:
 * page->private, or kept beside its swap slot while the page is in the swap cache) holds the low
 * 32 bits of its virtual page number; the VMAs of the mms that may map it give back the
 * candidate addresses (one per 2^32 pages of a VMA), and the PTE tells which maps it.
 */
#ifndef VMSIM_RMAP_H
#define VMSIM_RMAP_H

#include <stdint.h>

struct machine;
struct vm_area_struct;

/*
 * The first page index in v whose low 32 bits are low, or UINT64_MAX when v holds none. A VMA
 * may span more than 2^32 pages (up to the whole 128 TiB): the next candidates are 2^32 apart,
 * anon_next_index gives them.
 */
uint64_t anon_index_in_vma(const struct vm_area_struct *v, uint64_t low);
uint64_t anon_next_index(const struct vm_area_struct *v, uint64_t idx);

/* Test-and-clear the accessed bit in every PTE mapping pfn; returns how many were set. */
int page_referenced(struct machine *m, uint32_t pfn);
/*
 * Unmap pfn from every PTE. An anon page must be in the swap cache: its PTEs become swap PTEs
 * naming its slot; file pages are simply unmapped (dirty bits are moved to the page first).
 * Returns 0 when no mapping is left, -1 otherwise. Flushes the TLB entries it changes.
 */
int try_to_unmap(struct machine *m, uint32_t pfn);
/* Number of PTEs mapping pfn (page_mapcount). */
int page_mapcount(const struct machine *m, uint32_t pfn);

#endif
