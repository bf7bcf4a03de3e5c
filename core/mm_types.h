/*
 * struct page and the list helpers shared by every allocator. One struct page per
 * simulated frame; lists link pages by pfn (not pointers) so a frame costs 16 bytes of
 * host memory and the page array can be saved and compared byte for byte.
 */
#ifndef VMSIM_MM_TYPES_H
#define VMSIM_MM_TYPES_H

#include <stdint.h>

#include "machine.h" /* PAGE_SHIFT, PAGE_SIZE, MAX_ORDER */

#define PFN_NONE UINT32_MAX

/*
 * 16 bytes per frame:
 *   next, prev  list links (free_area list, LRU list or slab list), by pfn
 *   private     buddy and allocated heads: order; tails: pfn offset to the head;
 *               slab: cache id; user pages: low 32 bits of page->index or a swap entry
 *   flags       4-bit page type (enum page_type) + PG_* bits
 *   refcount    _refcount; mapcount is derived (see page_mapcount in memory.c)
 */
struct page {
	uint32_t next;
	uint32_t prev;
	uint32_t private;
	uint16_t flags;
	uint16_t refcount;
};

_Static_assert(sizeof(struct page) == 16, "struct page must stay 16 bytes");

/* Who owns a frame. Exactly one per frame: machine_check proves it. */
enum page_type {
	PT_FREE = 0,     /* in the buddy allocator (PG_head marks a free block's first frame) */
	PT_RESERVED = 1, /* firmware, kernel image, mem_map: never allocatable */
	PT_KERNEL = 2,   /* alloc_pages() by a kernel user (the student) */
	PT_SLAB = 3,     /* backing a slab */
	PT_PGTABLE = 4,  /* a page-table page */
	PT_VMALLOC = 5,  /* backing a vmalloc area */
	PT_ANON = 6,     /* anonymous user page */
	PT_FILE = 7,     /* page-cache page */
	PT_KSTACK = 8,   /* a task's kernel stack */
	PT_ZERO = 9,     /* the shared zero page */
	PT_KMALLOC = 10, /* kmalloc_large(): > 8 KiB straight from the buddy allocator */
	PT_DRIVER = 11,  /* reserved for map_driver buffers when not vmalloc'ed */
	PT_HUGETLB = 12, /* a huge page of the hugetlb pool (free or mapped) */
	PT_NR_TYPES
};

#define PG_TYPE_MASK   0x000fu
#define PG_head        0x0010u /* first frame of a block (free or allocated) */
#define PG_tail        0x0020u /* non-first frame of an allocated block */
#define PG_lru         0x0040u
#define PG_active      0x0080u
#define PG_referenced  0x0100u
#define PG_dirty       0x0200u
#define PG_writeback   0x0400u
#define PG_swapcache   0x0800u
#define PG_uptodate    0x1000u
#define PG_swapbacked  0x2000u
#define PG_unevictable 0x4000u
#define PG_mlocked     0x8000u

static inline enum page_type page_type(const struct page *p)
{
	return (enum page_type)(p->flags & PG_TYPE_MASK);
}

static inline void set_page_type(struct page *p, enum page_type t)
{
	p->flags = (uint16_t)((p->flags & ~PG_TYPE_MASK) | (unsigned)t);
}

/* A doubly linked list of pages by pfn; the head lives in the owner (free_area, LRU, slab). */
struct page_list {
	uint32_t head;
	uint32_t tail;
	uint64_t nr;
};

static inline void page_list_init(struct page_list *l)
{
	l->head = l->tail = PFN_NONE;
	l->nr = 0;
}

static inline void page_list_add(struct page *map, struct page_list *l, uint32_t pfn)
{
	struct page *p = &map[pfn];
	p->prev = PFN_NONE;
	p->next = l->head;
	if (l->head != PFN_NONE)
		map[l->head].prev = pfn;
	else
		l->tail = pfn;
	l->head = pfn;
	l->nr++;
}

static inline void page_list_add_tail(struct page *map, struct page_list *l, uint32_t pfn)
{
	struct page *p = &map[pfn];
	p->next = PFN_NONE;
	p->prev = l->tail;
	if (l->tail != PFN_NONE)
		map[l->tail].next = pfn;
	else
		l->head = pfn;
	l->tail = pfn;
	l->nr++;
}

static inline void page_list_del(struct page *map, struct page_list *l, uint32_t pfn)
{
	struct page *p = &map[pfn];
	if (p->prev != PFN_NONE)
		map[p->prev].next = p->next;
	else
		l->head = p->next;
	if (p->next != PFN_NONE)
		map[p->next].prev = p->prev;
	else
		l->tail = p->prev;
	p->next = p->prev = PFN_NONE;
	l->nr--;
}

#endif
