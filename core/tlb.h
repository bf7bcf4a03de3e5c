/*
 * The TLB of the one simulated CPU (arch/x86/mm/tlb.c): a set-associative cache of
 * translations for the mm loaded in CR3, LRU within a set, flushed whole on a switch of mm
 * (no PCID) and entry by entry by invlpg when a PTE loses rights (munmap, mprotect, COW).
 */
#ifndef VMSIM_TLB_H
#define VMSIM_TLB_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define TLB_RW    0x1u
#define TLB_DIRTY 0x2u
#define TLB_NX    0x4u
#define TLB_HUGE  0x8u /* a huge-page entry: vpn counts huge pages, pfn is the head frame */

struct tlb_entry {
	uint64_t vpn;
	uint32_t pfn;
	uint32_t stamp; /* last use, for LRU within the set; 0 = invalid */
	uint32_t flags;
	uint32_t pad;
};

struct tlb_state {
	struct tlb_entry *e; /* sets * ways, set-major */
	uint32_t entries, ways, sets;
	uint32_t clock;
	uint32_t mm_id; /* mm loaded in CR3 (0 = none / init_mm) */
};

int tlb_init(struct machine *m);
void tlb_release(struct machine *m);
/*
 * The entry for va in the loaded mm, or NULL (a miss). Counts the hit or miss. The TLB is
 * unified, like the STLB of current x86 cores: an entry caches a 4 KiB page or a whole huge
 * page (TLB_HUGE), so the same number of entries reaches 512 (1024 on i386) times further.
 */
const struct tlb_entry *tlb_lookup(struct machine *m, uint64_t va);
void tlb_fill(struct machine *m, uint64_t va, uint32_t pfn, uint32_t flags);
/* The frame an entry gives for va: its pfn, plus the 4 KiB page's index in a huge page. */
uint32_t tlb_entry_pfn(const struct machine *m, const struct tlb_entry *e, uint64_t va);
/* CR3 reload: drops every entry and loads mm_id. */
void flush_tlb_all(struct machine *m, uint32_t mm_id);
/* invlpg, only when mm_id is the loaded mm. */
void flush_tlb_page(struct machine *m, uint32_t mm_id, uint64_t va);
/* Every valid entry agrees with the loaded mm's page table. */
int tlb_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void tlb_save(const struct machine *m, struct snap_writer *w);
int tlb_load(struct machine *m, struct snap_reader *r);

#endif
