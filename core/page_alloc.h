/*
 * Physical memory: zones and the buddy allocator (mm/page_alloc.c).
 */
#ifndef VMSIM_PAGE_ALLOC_H
#define VMSIM_PAGE_ALLOC_H

#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "mm_types.h"
#include "strbuf.h"

enum zone_type {
	ZONE_DMA = 0,
	ZONE_DMA32 = 1, /* x86_64 only */
	ZONE_NORMAL = 2,
	ZONE_HIGHMEM = 3, /* i386 only */
	MAX_NR_ZONES
};

enum { WMARK_MIN, WMARK_LOW, WMARK_HIGH, NR_WMARK };

/* One list per order; Linux splits each by migratetype, vmsim keeps one (movable-agnostic). */
struct free_area {
	struct page_list free_list;
	uint64_t nr_free; /* blocks of this order */
};

struct zone {
	const char *name;
	uint64_t zone_start_pfn;
	uint64_t spanned_pages;
	uint64_t present_pages;
	uint64_t managed_pages; /* present minus boot reservations */
	uint64_t free_pages;
	uint64_t watermark[NR_WMARK];
	struct free_area free_area[MAX_ORDER];
};

struct page_alloc_state {
	struct page *mem_map;
	uint64_t nr_frames;
	struct zone zones[MAX_NR_ZONES];
	uint64_t min_free_kbytes;
	uint64_t totalram_pages; /* managed pages of all zones: MemTotal */
	uint64_t reserved_pages;
};

extern const struct event_table page_alloc_events;

enum {
	EV_ALLOC_PAGES = 0x100,
	EV_ZONE_SKIP,
	EV_RMQUEUE,
	EV_EXPAND,
	EV_ALLOC_DONE,
	EV_ALLOC_FAIL,
	EV_FREE_PAGES,
	EV_MERGE,
	EV_FREE_DONE,
	EV_WMARK_FAIL,
};

int page_alloc_init(struct machine *m);
void page_alloc_release(struct machine *m);
enum vm_err page_alloc_apply(struct machine *m, const struct op *op, struct op_result *res);
int page_alloc_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void page_alloc_save(const struct machine *m, struct snap_writer *w);
int page_alloc_load(struct machine *m, struct snap_reader *r);

/* Kernel-internal API used by the other allocators. Returns the head pfn or PFN_NONE. */
uint32_t alloc_pages(struct machine *m, uint32_t gfp, unsigned order, enum page_type type);
void __free_pages(struct machine *m, uint32_t pfn, unsigned order);
/* Checks a user-supplied free without changing anything; VM_OK if __free_pages may run. */
enum vm_err free_pages_check(const struct machine *m, uint64_t pfn, unsigned order, char *msg,
                             size_t len);

/*
 * How many order-0 allocations alloc_pages(gfp | __GFP_NORETRY, 0) would still grant: the free
 * pages above the min watermark of every zone in gfp's zonelist. Lets a multi-page caller
 * (vmalloc) fail before it changes anything.
 */
uint64_t nr_allocatable_pages(const struct machine *m, uint32_t gfp);
struct zone *page_zone(struct machine *m, uint32_t pfn);
const char *zone_name(enum zone_type z);
const char *page_type_name(enum page_type t);
uint64_t nr_free_pages(const struct machine *m);
int zone_populated(const struct zone *z);
/* mm/vmstat.c fragmentation_index() for one zone and order: -1000 .. 1000 (thousandths). */
int fragmentation_index(const struct zone *z, unsigned order);

void buddyinfo_show(const struct machine *m, struct strbuf *sb);
void pagetypeinfo_show(const struct machine *m, struct strbuf *sb);
void extfrag_show(const struct machine *m, struct strbuf *sb);

/* Direct map: lowmem is mapped at PAGE_OFFSET + phys (the seed's __pa/__va). */
uint64_t page_offset(const struct machine *m);
int virt_addr_valid(const struct machine *m, uint64_t vaddr);
uint64_t virt_to_phys(const struct machine *m, uint64_t vaddr);
uint64_t phys_to_virt(const struct machine *m, uint64_t paddr);
uint64_t lowmem_end_pfn(const struct machine *m);

#endif
