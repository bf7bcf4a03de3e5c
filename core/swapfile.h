/*
 * Swap areas, their slots and the swap cache (mm/swapfile.c, mm/swap_state.c): mkswap,
 * swapon with priorities, swapoff, get_swap_page/swap_free, and the swap cache that makes a
 * page being swapped in or out findable by its swap entry.
 */
#ifndef VMSIM_SWAPFILE_H
#define VMSIM_SWAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

/*
 * A swap entry (swp_entry_t), as include/linux/swapops.h builds it and pgtable.c packs it into
 * a non-present PTE; as in Linux (add_to_swap_cache: set_page_private), page->private of a
 * swap-cache page holds it:
 *
 *   31                           5 4     0
 *   +-----------------------------+-------+
 *   |           offset            | type  |
 *   +-----------------------------+-------+
 *
 * type is the area's index in swap_info[] (MAX_SWAPFILES areas), offset the slot (< 2^27).
 * Slot 0 of every area is the swap header, so a valid entry is never 0. pgtable.h defines the
 * same helpers for the VM side; whichever header comes first provides them.
 */
#define MAX_SWAPFILES   32
#define SWAP_AREA_MAX   (16ull << 30) /* bytes per area */
#define SWAP_HAS_CACHE  0x8000u       /* swap_map bit: a swap-cache page holds this slot */
#define SWAP_COUNT_MASK 0x7fffu       /* swap_map: number of swap PTEs naming this slot */
#define SWAP_PRIO_NONE  INT32_MIN     /* op.u.swap.prio: let swapon choose (-2, -3, ...) */

#ifndef SWP_TYPE_BITS
#define SWP_TYPE_BITS 5
static inline uint64_t swp_entry(unsigned type, uint64_t offset)
{
	return (offset << SWP_TYPE_BITS) | type;
}
static inline unsigned swp_type(uint64_t e)
{
	return (unsigned)(e & ((1u << SWP_TYPE_BITS) - 1));
}
static inline uint64_t swp_offset(uint64_t e)
{
	return e >> SWP_TYPE_BITS;
}
#endif

enum swap_flags {
	SWP_USED = 1,      /* the slot of swap_info[] holds a formatted area */
	SWP_WRITEOK = 2,   /* swapon'ed: slots may be allocated */
	SWP_PARTITION = 4, /* a block device ("/dev/..."), not a file */
};

struct swap_info_struct {
	char name[NAME_LEN];
	uint32_t flags;
	int32_t prio;
	uint32_t ino;   /* the swap file's inode (0 for a partition) */
	uint32_t pages; /* slots including the header slot 0 */
	uint32_t inuse_pages;
	uint32_t cluster_next; /* where the next slot scan starts */
	uint16_t *swap_map;    /* per slot: count | SWAP_HAS_CACHE (allocated by swapon) */
	uint32_t *cache;       /* per slot: pfn of the swap-cache page or PFN_NONE */
	/*
	 * per slot with a cache page: that page's page->index (its virtual page number, which
	 * rmap needs while the page is mapped). Linux keeps index and private side by side in
	 * struct page; vmsim's 16-byte page has one 32-bit private, which the swap entry takes
	 * while the page is in the swap cache, so the index waits here, next to cache[].
	 */
	uint32_t *index;
};

struct swapfile_state {
	struct swap_info_struct si[MAX_SWAPFILES];
	int32_t least_priority; /* the kernel starts at -1: the first automatic prio is -2 */
	uint32_t rr_next;       /* round-robin cursor among areas of equal priority */
	uint64_t nr_swapcache;  /* pages in the swap cache (SwapCached) */
};

extern const struct event_table swapfile_events;

enum {
	EV_MKSWAP = 0x800,
	EV_SWAPON,
	EV_SWAPOFF,
	EV_SWAPOFF_UNUSE,
	EV_GET_SWAP_PAGE,
	EV_SWAP_FULL,
	EV_SWAP_WRITEPAGE,
	EV_SWAP_READPAGE,
	EV_SWAP_FREE,
	EV_SWAPCACHE_HIT,
	EV_FREE_SWAP,
};

int swapfile_init(struct machine *m);
void swapfile_release(struct machine *m);
enum vm_err swapfile_apply(struct machine *m, const struct op *op, struct op_result *res);
int swapfile_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void swapfile_save(const struct machine *m, struct snap_writer *w);
int swapfile_load(struct machine *m, struct snap_reader *r);

/* Totals in pages over active areas (header slots excluded): SwapTotal, SwapFree. */
uint64_t total_swap_pages(const struct machine *m);
uint64_t nr_swap_pages(const struct machine *m);

/*
 * Kernel-internal API for vmscan.c, memory.c, mmap.c and rmap.c (mm/swap_state.c,
 * mm/swapfile.c). The swap cache holds one reference on its page (page->refcount), as
 * add_to_swap_cache's page_ref_add does; delete_from_swap_cache drops it and, like the kernel's,
 * never frees the page: the caller holds another reference.
 *
 * add_to_swap: gives an anon page a slot and puts it in the swap cache (dirty, so it will be
 * written); 0 when swap is full or off.
 */
int add_to_swap(struct machine *m, uint32_t pfn);
/* add_to_swap_cache: pfn (its private holding page->index) enters the cache under entry. */
void add_to_swap_cache(struct machine *m, uint32_t pfn, uint32_t entry);
void delete_from_swap_cache(struct machine *m, uint32_t pfn);
/* The page in the swap cache for this entry, or PFN_NONE. */
uint32_t lookup_swap_cache(const struct machine *m, uint32_t entry);
/* swap_writepage/swap_readpage: the I/O, counted in pswpout/pswpin. */
void swap_writepage(struct machine *m, uint32_t pfn);
void swap_readpage(struct machine *m, uint32_t pfn);
/* swap_duplicate: n more PTEs name entry (fork, unmap); swap_free: one less. */
void swap_duplicate(struct machine *m, uint32_t entry, uint32_t n);
void swap_free(struct machine *m, uint32_t entry);
/* free_swap_and_cache: a zapped swap PTE; an unmapped cache page nobody needs goes too. */
void free_swap_and_cache(struct machine *m, uint32_t entry);
/* free_page_and_swap_cache: a zapped present PTE drops its reference (put_user_page) after
 * free_swap_cache() took an unmapped page's swap copy away when no swap PTE names it. */
void free_page_and_swap_cache(struct machine *m, uint32_t pfn);
/* Swap count (PTEs naming the slot), without the cache bit. */
uint32_t swap_count(const struct machine *m, uint32_t entry);
/* 1 if entry names an allocated slot of a used area. */
int swap_entry_valid(const struct machine *m, uint32_t entry);
/* vm_swap_full(): more than half of the swap is in use. */
int vm_swap_full(const struct machine *m);
/* try_to_free_swap: drops the swap copy of a swap-cache page no swap PTE names any more;
 * the page becomes dirty (memory holds the only copy). 1 when it did; why names the case
 * in the event. */
int try_to_free_swap(struct machine *m, uint32_t pfn, const char *why);
/* page->index of an anon page: in private, or beside cache[] while in the swap cache. */
uint32_t page_anon_index(const struct machine *m, uint32_t pfn);

void swaps_show(const struct machine *m, struct strbuf *sb);

#endif
