/*
 * Reverse mapping (mm/rmap.c): from a frame to the PTEs that map it. The VM helper implements
 * it in rmap.c; vmscan.c uses it to age and unmap pages. page->private of a mapped anon page
 * holds the low 32 bits of its virtual page number (page->index); the VMAs of the mms that may
 * map it give back the full address (a VMA spans fewer than 2^32 pages).
 */
#ifndef VMSIM_RMAP_H
#define VMSIM_RMAP_H

#include <stdint.h>

struct machine;

/* Test-and-clear the accessed bit in every PTE mapping pfn; returns how many were set. */
int page_referenced(struct machine *m, uint32_t pfn);
/*
 * Unmap pfn from every PTE. For anon pages `swp_entry` (non-zero) is written into the PTEs
 * (a swap PTE); file pages are simply unmapped (dirty bits are moved to the page first).
 * Returns 0 when no mapping is left, -1 otherwise. Flushes the TLB entries it changes.
 */
int try_to_unmap(struct machine *m, uint32_t pfn, uint64_t swp_entry);
/* Number of PTEs mapping pfn (page_mapcount). */
int page_mapcount(const struct machine *m, uint32_t pfn);

#endif
