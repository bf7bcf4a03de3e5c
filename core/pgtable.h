/*
 * Multi-level page tables kept in simulated frames (arch/x86/include/asm/pgtable*.h,
 * mm/pgtable-generic.c): i386 2-level 10/10/12, x86_64 4-level 9/9/9/9/12. A table's entries
 * live in a host copy of its frame (kmap), so PageTables in meminfo counts real frames.
 */
#ifndef VMSIM_PGTABLE_H
#define VMSIM_PGTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "swapfile.h"

struct mm_struct;

/*
 * kmap: host copies of the few frames whose contents matter (page tables, the driver's
 * buffer, pages copied from them). An open-addressing hash pfn -> 4 KiB buffer, so a frame
 * without content costs nothing.
 */
struct pgtable_state {
	uint32_t *keys; /* pfn or PFN_NONE (empty slot) */
	uint8_t **vals;
	uint32_t cap, nr;
	uint64_t nr_pgtable; /* PT_PGTABLE frames: meminfo PageTables */
	/*
	 * Host-side memos, not machine state (never saved, reset on load): the last kmap hit,
	 * and the last leaf table reached by a walk (like the MMU's paging-structure cache:
	 * a fault on the next page of the same table skips the upper levels).
	 */
	uint32_t memo_pfn;
	uint8_t *memo_ptr;
	uint32_t walk_pgd, walk_tpfn;
	uint64_t walk_base;
};

/* x86 PTE bits (arch/x86/include/asm/pgtable_types.h). */
#define _PAGE_PRESENT  0x001ull
#define _PAGE_RW       0x002ull
#define _PAGE_USER     0x004ull
#define _PAGE_ACCESSED 0x020ull
#define _PAGE_DIRTY    0x040ull
#define _PAGE_PSE      0x080ull
#define _PAGE_GLOBAL   0x100ull
#define _PAGE_COW      0x200ull     /* software bit 9: write-protected by fork for COW */
#define _PAGE_SPECIAL  0x400ull     /* software bit 10: no struct page refcount (zero page) */
#define _PAGE_NX       (1ull << 63) /* x86_64 only: 2-level i386 has no NX bit */
#define _PAGE_TABLE    (_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY)
#define _KERNPG_TABLE  (_PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY)

#define PT_LEVELS_MAX 4

/* One level of a walk, recorded as the walk goes (struct walk_trace). */
struct walk_step {
	uint8_t level;      /* 0 = pgd ... levels-1 = pte */
	uint16_t index;     /* index into this level's table */
	uint32_t table_pfn; /* the table read at this level */
	uint64_t entry;     /* the entry's value */
	uint32_t next_pfn;  /* next table (or the page at the last level); PFN_NONE if absent */
};

struct walk_trace {
	uint32_t nr; /* steps recorded */
	struct walk_step step[PT_LEVELS_MAX];
	int fail_level; /* -1: translated; else the level whose entry was not present */
	int direct_map; /* 1: kernel lowmem address, translated as va - PAGE_OFFSET */
	uint64_t pte;   /* leaf entry (0 when the walk failed above it) */
	uint64_t phys;  /* physical address when translated */
};

/* A leaf slot: which table frame and which index in it. */
struct pte_ref {
	uint32_t tpfn;
	uint32_t idx;
};

int pgtable_init(struct machine *m);
void pgtable_release(struct machine *m);

/* Host copy of a frame's contents, NULL when the frame holds nothing worth keeping. */
uint8_t *kmap(const struct machine *m, uint32_t pfn);
/* Zero-filled host copy, created if missing. NULL when the host is out of memory. */
uint8_t *kmap_alloc(struct machine *m, uint32_t pfn);
void kmap_free(struct machine *m, uint32_t pfn);
/* Copies frame src's content to dst (a missing content means zeroes). */
int copy_user_highpage(struct machine *m, uint32_t dst, uint32_t src);

/* Geometry of the configured arch. */
unsigned pt_levels(const struct machine *m);
unsigned pt_entries(const struct machine *m);   /* 1024 or 512 */
unsigned pt_user_pgds(const struct machine *m); /* pgd entries below TASK_SIZE */
unsigned pt_index(const struct machine *m, uint64_t va, unsigned level);
unsigned pt_shift(const struct machine *m, unsigned level);
const char *pt_level_name(const struct machine *m, unsigned level);
uint64_t task_size(const struct machine *m);

uint64_t pt_read(const struct machine *m, uint32_t tpfn, unsigned idx);
void pt_write(struct machine *m, uint32_t tpfn, unsigned idx, uint64_t val);

uint64_t mk_pte(const struct machine *m, uint32_t pfn, uint64_t flags);
uint32_t pte_pfn(const struct machine *m, uint64_t pte);
static inline int pte_present(uint64_t pte)
{
	return (pte & _PAGE_PRESENT) != 0;
}
static inline int pte_none(uint64_t pte)
{
	return pte == 0;
}
/* A present PSE entry above the last level: it maps a huge page, not a table. */
static inline int pte_huge(uint64_t pte)
{
	return (pte & (_PAGE_PRESENT | _PAGE_PSE)) == (_PAGE_PRESENT | _PAGE_PSE);
}

/*
 * Swap entries (swapfile.h: offset << 5 | type) in non-present PTEs, the way the 2-level
 * i386 format keeps them: present bit clear, type in bits 1-5, offset from bit 8.
 */
static inline int is_swap_pte(uint64_t pte)
{
	return !pte_none(pte) && !pte_present(pte);
}
static inline uint64_t swp_entry_to_pte(uint64_t e)
{
	return ((uint64_t)swp_type(e) << 1) | (swp_offset(e) << 8);
}
static inline uint64_t pte_to_swp_entry(uint64_t pte)
{
	return swp_entry((unsigned)((pte >> 1) & 0x1f), (pte >> 8) & ((1ull << 40) - 1));
}

/* A new pgd whose kernel half is copied from init_mm's (pgd_alloc + pgd_ctor). */
uint32_t pgd_alloc(struct machine *m);
void pgd_free(struct machine *m, uint32_t pfn);

/*
 * Walks mm's tables to the leaf slot of va, recording each level in t (may be NULL).
 * alloc: create missing tables (__pte_alloc). Returns 0 with *ref set, -1 when a level is
 * missing (and !alloc), -2 when a table could not be allocated.
 */
int pt_walk(struct machine *m, struct mm_struct *mm, uint64_t va, int alloc, struct pte_ref *ref,
            struct walk_trace *t);
/* Read-only walk for queries. */
int pt_lookup(const struct machine *m, const struct mm_struct *mm, uint64_t va, struct pte_ref *ref,
              struct walk_trace *t);

/* Calls fn for every non-empty leaf entry of mm in [start, end), in address order. */
typedef void (*pte_fn)(struct machine *m, void *ctx, uint64_t va, struct pte_ref ref, uint64_t pte);
void pt_for_each(const struct machine *m, const struct mm_struct *mm, uint64_t start, uint64_t end,
                 pte_fn fn, void *ctx);

/*
 * Huge pages (x86_64 2 MiB PMD entries, i386 4 MiB PSE PGD entries): the slot one level
 * above the PTEs for va, creating the tables above it when alloc; 0, -1 (missing) or -2
 * (no memory). pt_for_each_huge visits the PSE entries in [start, end); pt_for_each skips
 * them, so walkers of 4 KiB PTEs never mistake a huge page for a table.
 */
int pt_walk_huge(struct machine *m, struct mm_struct *mm, uint64_t va, int alloc,
                 struct pte_ref *ref);
void pt_for_each_huge(const struct machine *m, const struct mm_struct *mm, uint64_t start,
                      uint64_t end, pte_fn fn, void *ctx);
/* free_pgtables(): frees the user tables left empty in [start, end). */
void free_pgtables(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end);

/* Map / unmap one kernel page in init_mm (vmalloc areas). Returns 0 or -2 on OOM. */
int map_kernel_page(struct machine *m, uint64_t va, uint32_t pfn);
void unmap_kernel_page(struct machine *m, uint64_t va);

/* Counts, per table frame, how many entries point at it (the pgd counts its mm). */
void pt_count_tables(const struct machine *m, const struct mm_struct *mm, int user_only,
                     uint16_t *refs);

struct snap_writer;
struct snap_reader;
/* machine_check of the page tables: PTEs inside VMAs, rss counters, frame refcounts. */
int pgtable_check(const struct machine *m, char *buf, size_t len);
void pgtable_save(const struct machine *m, struct snap_writer *w);
int pgtable_load(struct machine *m, struct snap_reader *r);

#endif
