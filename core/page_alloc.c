/*
 * The zoned buddy allocator (mm/page_alloc.c): boot-time layout of RAM into zones, the
 * free_area[MAX_ORDER] lists, alloc_pages()/__free_pages() with expand() splitting and
 * buddy merging, and the watermarks kswapd and direct reclaim are measured against.
 *
 * Deterministic order rule: an allocation takes the block at the head of the smallest
 * non-empty free list of the first zone (in zonelist order) that passes its watermark.
 * expand() puts each split-off upper half at the head of its list and keeps the lower
 * half; a freed block, merged as far as its buddies allow, goes to the head of its list.
 * Boot frees RAM to the tail (like FPI_TO_TAIL) so a fresh machine hands out low pfns first.
 */
#include "kernel.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const page_alloc_tmpl[] = {
    [EV_ALLOC_PAGES & 0xff] = "alloc_pages: order {a} gfp {B} (highest zone {s})",
    [EV_ZONE_SKIP & 0xff] = "get_page_from_freelist: zone {s} below watermark (free {a}, "
                            "need {b} + {c})",
    [EV_RMQUEUE & 0xff] = "__rmqueue_smallest: zone {s} free_area[{a}] gives block at pfn {B}",
    [EV_EXPAND & 0xff] = "expand: split order-{a} block, upper half pfn {B} to free_area[{c}]",
    [EV_ALLOC_DONE & 0xff] = "alloc_pages: pfn {A} order {b} from zone {s}",
    [EV_ALLOC_FAIL & 0xff] = "alloc_pages: order {a} failed: {s}",
    [EV_FREE_PAGES & 0xff] = "__free_pages: pfn {A} order {b}",
    [EV_MERGE & 0xff] = "__free_one_page: buddy pfn {A} of order {b} is free, merge into "
                        "order {c}",
    [EV_FREE_DONE & 0xff] = "__free_one_page: block pfn {A} order {b} to head of "
                            "free_area[{b}] of zone {s}",
    [EV_WMARK_FAIL & 0xff] = "alloc_pages: no zone above the {s} watermark for order {a}",
};

const struct event_table page_alloc_events = {1, page_alloc_tmpl, ARRAY_SIZE(page_alloc_tmpl)};

/* Physical layout of boot reservations (what memblock_reserve would hold). */
#define RESERVE_LOW_BYTES  (64ull << 10)  /* CONFIG_X86_RESERVE_LOW: BIOS data, real-mode IVT */
#define ISA_HOLE_START     (640ull << 10) /* VGA memory and BIOS ROM: 640 KiB .. 1 MiB */
#define ISA_HOLE_END       (1ull << 20)
#define KERNEL_LOAD_ADDR   (1ull << 20) /* a classic bzImage loads at 1 MiB */
#define KERNEL_IMAGE_BYTES (2ull << 20) /* text + data + bss of the simulated kernel */
#define LINUX_STRUCT_PAGE  64           /* sizeof(struct page) on a real kernel: mem_map cost */

#define I386_PAGE_OFFSET   0xC0000000ull
#define X86_64_PAGE_OFFSET 0xffff888000000000ull
#define I386_LOWMEM_PFN    (896ull << 20 >> PAGE_SHIFT)

const char *zone_name(enum zone_type z)
{
	/* Padded to EVENT_STR_LEN so the allocator's events copy them with ev_emit_name. */
	static const char names[][EVENT_STR_LEN] = {"DMA", "DMA32", "Normal", "HighMem"};
	return names[z];
}

int zone_populated(const struct zone *z)
{
	return z->present_pages != 0;
}

uint64_t page_offset(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386 ? I386_PAGE_OFFSET : X86_64_PAGE_OFFSET;
}

uint64_t lowmem_end_pfn(const struct machine *m)
{
	uint64_t n = m->pa.nr_frames;
	if (m->cfg.arch == ARCH_I386 && n > I386_LOWMEM_PFN)
		return I386_LOWMEM_PFN;
	return n;
}

int virt_addr_valid(const struct machine *m, uint64_t vaddr)
{
	uint64_t off = page_offset(m);
	return vaddr >= off && ((vaddr - off) >> PAGE_SHIFT) < lowmem_end_pfn(m);
}

uint64_t virt_to_phys(const struct machine *m, uint64_t vaddr)
{
	return vaddr - page_offset(m);
}

uint64_t phys_to_virt(const struct machine *m, uint64_t paddr)
{
	return paddr + page_offset(m);
}

struct zone *page_zone(struct machine *m, uint32_t pfn)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &m->pa.zones[z];
		if (pfn >= zone->zone_start_pfn && pfn < zone->zone_start_pfn + zone->spanned_pages)
			return zone;
	}
	return NULL;
}

uint64_t nr_free_pages(const struct machine *m)
{
	uint64_t n = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		n += m->pa.zones[z].free_pages;
	return n;
}

static void zone_init(struct zone *z, enum zone_type t, uint64_t start, uint64_t end)
{
	z->name = zone_name(t);
	z->zone_start_pfn = start;
	z->spanned_pages = end > start ? end - start : 0;
	z->present_pages = z->spanned_pages;
	for (int o = 0; o < MAX_ORDER; o++)
		page_list_init(&z->free_area[o].free_list);
}

/* Zone boundaries as the kernel's zone_sizes_init() draws them for each arch. */
static void zones_layout(struct machine *m)
{
	uint64_t n = m->pa.nr_frames;
	uint64_t dma_end = 16ull << 20 >> PAGE_SHIFT;
	dma_end = dma_end < n ? dma_end : n;
	struct zone *zones = m->pa.zones;
	zone_init(&zones[ZONE_DMA], ZONE_DMA, 0, dma_end);
	if (m->cfg.arch == ARCH_X86_64) {
		uint64_t dma32_end = 4ull << 30 >> PAGE_SHIFT;
		dma32_end = dma32_end < n ? dma32_end : n;
		zone_init(&zones[ZONE_DMA32], ZONE_DMA32, dma_end, dma32_end);
		zone_init(&zones[ZONE_NORMAL], ZONE_NORMAL, dma32_end, n);
		zone_init(&zones[ZONE_HIGHMEM], ZONE_HIGHMEM, n, n);
	} else {
		uint64_t low = lowmem_end_pfn(m);
		zone_init(&zones[ZONE_DMA32], ZONE_DMA32, dma_end, dma_end);
		zone_init(&zones[ZONE_NORMAL], ZONE_NORMAL, dma_end, low);
		zone_init(&zones[ZONE_HIGHMEM], ZONE_HIGHMEM, low, n);
	}
}

static void reserve_range(struct machine *m, uint64_t start, uint64_t end, const char *why)
{
	if (end > m->pa.nr_frames)
		end = m->pa.nr_frames;
	if (start >= end)
		return;
	for (uint64_t pfn = start; pfn < end; pfn++)
		set_page_type(&m->pa.mem_map[pfn], PT_RESERVED);
	m->pa.reserved_pages += end - start;
	ev_emit(m, EV_BOOT_RESERVE, start, end - 1, 0, why);
}

static uint64_t pfn_up(uint64_t bytes)
{
	return (bytes + PAGE_SIZE - 1) >> PAGE_SHIFT;
}

/*
 * memblock reservations: the first 64 KiB (BIOS data area and real-mode IVT), the ISA hole
 * (VGA and BIOS ROM), the kernel image at 1 MiB, and the real kernel's mem_map right after
 * it (64 bytes per frame), which is why MemTotal is less than the RAM installed.
 */
static void boot_reserve(struct machine *m)
{
	uint64_t img_end = pfn_up(KERNEL_LOAD_ADDR + KERNEL_IMAGE_BYTES);
	uint64_t map_pages = pfn_up(m->pa.nr_frames * LINUX_STRUCT_PAGE);
	reserve_range(m, 0, pfn_up(RESERVE_LOW_BYTES), "BIOS data, real-mode IVT");
	reserve_range(m, ISA_HOLE_START >> PAGE_SHIFT, ISA_HOLE_END >> PAGE_SHIFT,
	              "ISA hole: VGA, BIOS ROM");
	reserve_range(m, KERNEL_LOAD_ADDR >> PAGE_SHIFT, img_end, "kernel image");
	reserve_range(m, img_end, img_end + map_pages, "mem_map");
}

static void free_one_page(struct machine *m, struct zone *zone, uint32_t pfn, unsigned order,
                          int to_tail, int trace);

/* memblock_free_all(): hand every unreserved frame to the buddy allocator, largest blocks. */
static void free_all_bootmem(struct machine *m)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &m->pa.zones[z];
		uint64_t end = zone->zone_start_pfn + zone->spanned_pages;
		uint64_t pfn = zone->zone_start_pfn;
		while (pfn < end) {
			if (page_type(&m->pa.mem_map[pfn]) == PT_RESERVED) {
				pfn++;
				continue;
			}
			unsigned order = 0;
			while (order + 1 < MAX_ORDER && (pfn & ((2ull << order) - 1)) == 0 &&
			       pfn + (2ull << order) <= end) {
				int all_free = 1;
				for (uint64_t i = pfn + (1ull << order); i < pfn + (2ull << order);
				     i++)
					if (page_type(&m->pa.mem_map[i]) == PT_RESERVED) {
						all_free = 0;
						break;
					}
				if (!all_free)
					break;
				order++;
			}
			zone->managed_pages += 1ull << order;
			free_one_page(m, zone, (uint32_t)pfn, order, 1, 0);
			pfn += 1ull << order;
		}
	}
}

static uint64_t int_sqrt(uint64_t x)
{
	uint64_t r = 0, bit = 1ull << 62;
	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

/* init_per_zone_wmark_min() and __setup_per_zone_wmarks() with watermark_scale_factor 10. */
static void setup_per_zone_wmarks(struct machine *m)
{
	uint64_t lowmem_pages = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		if (z != ZONE_HIGHMEM)
			lowmem_pages += m->pa.zones[z].managed_pages;
	uint64_t min_kb = m->cfg.min_free_kbytes;
	if (!min_kb) {
		min_kb = int_sqrt(lowmem_pages * (PAGE_SIZE >> 10) * 16);
		min_kb = min_kb < 128 ? 128 : min_kb > 262144 ? 262144 : min_kb;
	}
	m->pa.min_free_kbytes = min_kb;
	uint64_t pages_min = min_kb >> (PAGE_SHIFT - 10);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		uint64_t managed = zone->managed_pages, min;
		if (z == ZONE_HIGHMEM) {
			min = managed / 1024;
			min = min < 32 ? 32 : min > 128 ? 128 : min;
		} else {
			min = lowmem_pages ? pages_min * managed / lowmem_pages : 0;
		}
		uint64_t tmp = managed * 10 / 10000;
		if ((min >> 2) > tmp)
			tmp = min >> 2;
		zone->watermark[WMARK_MIN] = min;
		zone->watermark[WMARK_LOW] = min + tmp;
		zone->watermark[WMARK_HIGH] = min + tmp * 2;
		ev_emit(m, EV_BOOT_WMARK, min, min + tmp, min + 2 * tmp, zone->name);
	}
}

int page_alloc_init(struct machine *m)
{
	struct page_alloc_state *pa = &m->pa;
	pa->nr_frames = m->cfg.ram_bytes >> PAGE_SHIFT;
	pa->mem_map = calloc(pa->nr_frames, sizeof(struct page));
	if (!pa->mem_map)
		return -1;
	for (uint64_t i = 0; i < pa->nr_frames; i++)
		pa->mem_map[i].next = pa->mem_map[i].prev = PFN_NONE;
	ev_emit(m, EV_BOOT, m->cfg.ram_bytes >> 10, pa->nr_frames, 0,
	        m->cfg.arch == ARCH_I386 ? "i386" : "x86_64");
	zones_layout(m);
	boot_reserve(m);
	free_all_bootmem(m);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &pa->zones[z];
		pa->totalram_pages += zone->managed_pages;
		if (zone_populated(zone))
			ev_emit(m, EV_BOOT_ZONE, zone->zone_start_pfn,
			        zone->zone_start_pfn + zone->spanned_pages - 1, zone->managed_pages,
			        zone->name);
	}
	setup_per_zone_wmarks(m);
	return 0;
}

void page_alloc_release(struct machine *m)
{
	free(m->pa.mem_map);
	m->pa.mem_map = NULL;
}

static void set_free_head(struct page *p, unsigned order)
{
	p->flags = PT_FREE | PG_head;
	p->private = order;
	p->refcount = 0;
}

/* __free_one_page(): merge with free buddies (pfn ^ 1 << order) while they exist. */
static void free_one_page(struct machine *m, struct zone *zone, uint32_t pfn, unsigned order,
                          int to_tail, int trace)
{
	struct page *map = m->pa.mem_map;
	uint64_t zend = zone->zone_start_pfn + zone->spanned_pages;
	for (uint32_t i = 0; i < (1u << order); i++) {
		map[pfn + i].flags = PT_FREE;
		map[pfn + i].private = 0;
		map[pfn + i].refcount = 0;
	}
	zone->free_pages += 1ull << order;
	while (order < MAX_ORDER - 1) {
		uint32_t buddy = pfn ^ (1u << order);
		if (buddy < zone->zone_start_pfn || buddy >= zend)
			break;
		struct page *b = &map[buddy];
		if (b->flags != (PT_FREE | PG_head) || b->private != order)
			break;
		if (trace)
			ev_emit(m, EV_MERGE, buddy, order, order + 1, NULL);
		page_list_del(map, &zone->free_area[order].free_list, buddy);
		zone->free_area[order].nr_free--;
		b->flags = PT_FREE;
		b->private = 0;
		pfn &= buddy;
		order++;
	}
	set_free_head(&map[pfn], order);
	struct free_area *area = &zone->free_area[order];
	if (to_tail)
		page_list_add_tail(map, &area->free_list, pfn);
	else
		page_list_add(map, &area->free_list, pfn);
	area->nr_free++;
	if (trace)
		ev_emit_name(m, EV_FREE_DONE, pfn, order, 0, zone->name);
}

/* expand(): split a block of order high down to order low, upper halves to the free lists. */
static void expand(struct machine *m, struct zone *zone, uint32_t pfn, unsigned low, unsigned high)
{
	struct page *map = m->pa.mem_map;
	while (high > low) {
		high--;
		uint32_t upper = pfn + (1u << high);
		set_free_head(&map[upper], high);
		page_list_add(map, &zone->free_area[high].free_list, upper);
		zone->free_area[high].nr_free++;
		ev_emit(m, EV_EXPAND, high + 1, upper, high, NULL);
	}
}

static uint32_t __rmqueue_smallest(struct machine *m, struct zone *zone, unsigned order)
{
	struct page *map = m->pa.mem_map;
	for (unsigned cur = order; cur < MAX_ORDER; cur++) {
		struct free_area *area = &zone->free_area[cur];
		uint32_t pfn = area->free_list.head;
		if (pfn == PFN_NONE)
			continue;
		page_list_del(map, &area->free_list, pfn);
		area->nr_free--;
		map[pfn].flags = PT_FREE;
		ev_emit_name(m, EV_RMQUEUE, cur, pfn, 0, zone->name);
		expand(m, zone, pfn, order, cur);
		zone->free_pages -= 1ull << order;
		return pfn;
	}
	return PFN_NONE;
}

/* The allocated block's head keeps the order; tails point back to it. */
static void prep_new_page(struct machine *m, uint32_t pfn, unsigned order, enum page_type type)
{
	struct page *map = m->pa.mem_map;
	map[pfn].flags = (uint16_t)(type | PG_head);
	map[pfn].private = order;
	map[pfn].refcount = 1;
	for (uint32_t i = 1; i < (1u << order); i++) {
		map[pfn + i].flags = (uint16_t)(type | PG_tail);
		map[pfn + i].private = i;
		map[pfn + i].refcount = 0;
	}
}

/* The highest zone a gfp mask may use; the zonelist falls back from it towards DMA. */
static enum zone_type gfp_zone(const struct machine *m, uint32_t gfp)
{
	if (gfp & __GFP_DMA)
		return ZONE_DMA;
	if (gfp & __GFP_DMA32)
		return m->cfg.arch == ARCH_X86_64 ? ZONE_DMA32 : ZONE_NORMAL;
	if ((gfp & __GFP_HIGHMEM) && m->cfg.arch == ARCH_I386)
		return ZONE_HIGHMEM;
	return ZONE_NORMAL;
}

/* __zone_watermark_ok(): enough free pages above the mark, and a block of the order exists. */
static int zone_watermark_ok(const struct zone *z, unsigned order, uint64_t mark, uint32_t gfp)
{
	if (gfp & __GFP_HIGH)
		mark -= mark / 2;
	uint64_t need = (1ull << order) - 1;
	if (z->free_pages <= need || z->free_pages - need <= mark)
		return 0;
	for (unsigned o = order; o < MAX_ORDER; o++)
		if (z->free_area[o].nr_free)
			return 1;
	return 0;
}

uint64_t nr_allocatable_pages(const struct machine *m, uint32_t gfp)
{
	uint64_t n = 0;
	for (int z = gfp_zone(m, gfp); z >= 0; z--) {
		const struct zone *zone = &m->pa.zones[z];
		uint64_t mark = zone->watermark[WMARK_MIN];
		if (gfp & __GFP_HIGH)
			mark -= mark / 2;
		if (zone_populated(zone) && zone->free_pages > mark)
			n += zone->free_pages - mark;
	}
	return n;
}

static uint32_t get_page_from_freelist(struct machine *m, uint32_t gfp, unsigned order, int wmark,
                                       enum page_type type)
{
	for (int z = gfp_zone(m, gfp); z >= 0; z--) {
		struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		if (!zone_watermark_ok(zone, order, zone->watermark[wmark], gfp)) {
			ev_emit(m, EV_ZONE_SKIP, zone->free_pages, zone->watermark[wmark],
			        1ull << order, zone->name);
			continue;
		}
		uint32_t pfn = __rmqueue_smallest(m, zone, order);
		if (pfn == PFN_NONE)
			continue;
		prep_new_page(m, pfn, order, type);
		count_vm_events(m, PGALLOC_DMA + z, 1ull << order);
		ev_emit_name(m, EV_ALLOC_DONE, pfn, order, 0, zone->name);
		return pfn;
	}
	return PFN_NONE;
}

/*
 * alloc_pages(): fast path against the low watermark; then wake kswapd and retry against
 * min; then direct reclaim (unless __GFP_NORETRY) and a last try. The caller decides what a
 * failure means (the OOM killer lives in vmscan.c).
 */
uint32_t alloc_pages(struct machine *m, uint32_t gfp, unsigned order, enum page_type type)
{
	if (order >= MAX_ORDER)
		return PFN_NONE;
	ev_emit_name(m, EV_ALLOC_PAGES, order, gfp, 0, zone_name(gfp_zone(m, gfp)));
	uint32_t pfn = get_page_from_freelist(m, gfp, order, WMARK_LOW, type);
	if (pfn != PFN_NONE)
		return pfn;
	wakeup_kswapd(m, order, gfp);
	pfn = get_page_from_freelist(m, gfp, order, WMARK_MIN, type);
	if (pfn != PFN_NONE || (gfp & __GFP_NORETRY))
		return pfn;
	if (try_to_free_pages(m, order, gfp))
		pfn = get_page_from_freelist(m, gfp, order, WMARK_MIN, type);
	if (pfn == PFN_NONE)
		ev_emit(m, EV_WMARK_FAIL, order, 0, 0, "min");
	return pfn;
}

void __free_pages(struct machine *m, uint32_t pfn, unsigned order)
{
	ev_emit(m, EV_FREE_PAGES, pfn, order, 0, NULL);
	count_vm_events(m, PGFREE, 1ull << order);
	free_one_page(m, page_zone(m, pfn), pfn, order, 0, 1);
}

enum vm_err free_pages_check(const struct machine *m, uint64_t pfn, unsigned order, char *msg,
                             size_t len)
{
	if (pfn >= m->pa.nr_frames) {
		snprintf(msg, len, "pfn %#llx is beyond the end of RAM (last pfn %#llx)",
		         (unsigned long long)pfn, (unsigned long long)m->pa.nr_frames - 1);
		return VM_EINVAL;
	}
	const struct page *p = &m->pa.mem_map[pfn];
	enum page_type t = page_type(p);
	if (t == PT_FREE) {
		snprintf(msg, len, "pfn %#llx is already free: double free",
		         (unsigned long long)pfn);
		return VM_EINVAL;
	}
	if (t != PT_KERNEL) {
		snprintf(msg, len,
		         "pfn %#llx was not allocated by alloc_pages (it is a %s page); free it "
		         "through its owner",
		         (unsigned long long)pfn, page_type_name(t));
		return VM_EINVAL;
	}
	if (p->flags & PG_tail) {
		snprintf(msg, len, "pfn %#llx is inside an allocation that starts at pfn %#llx",
		         (unsigned long long)pfn, (unsigned long long)(pfn - p->private));
		return VM_EINVAL;
	}
	if (p->private != order) {
		snprintf(msg, len, "pfn %#llx was allocated with order %u, not order %u",
		         (unsigned long long)pfn, p->private, order);
		return VM_EINVAL;
	}
	return VM_OK;
}

const char *page_type_name(enum page_type t)
{
	static const char *const names[] = {
	    "free", "reserved",     "kernel", "slab",          "page-table", "vmalloc", "anon",
	    "file", "kernel-stack", "zero",   "kmalloc-large", "driver",     "hugetlb",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == PT_NR_TYPES, "one name per page type");
	return (unsigned)t < PT_NR_TYPES ? names[t] : "?";
}

enum vm_err page_alloc_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_ALLOC_PAGES: {
		uint32_t gfp = op->u.alloc_pages.gfp, order = op->u.alloc_pages.order;
		if (order >= MAX_ORDER)
			return op_fail(res, VM_EINVAL,
			               "order %u is too big: MAX_ORDER is %d (orders 0..%d)", order,
			               MAX_ORDER, MAX_ORDER - 1);
		if (gfp & ~GFP_VALID)
			return op_fail(res, VM_EINVAL, "unknown gfp bits %#x", gfp & ~GFP_VALID);
		uint32_t pfn = alloc_pages(m, gfp | __GFP_NORETRY, order, PT_KERNEL);
		if (pfn == PFN_NONE)
			return op_fail(
			    res, VM_ENOMEM,
			    "no free block of order %u in any zone allowed by the gfp mask "
			    "above its watermark",
			    order);
		res->value = pfn;
		res->value2 = (uint64_t)pfn << PAGE_SHIFT;
		return VM_OK;
	}
	case OP_FREE_PAGES: {
		enum vm_err e = free_pages_check(m, op->u.free_pages.pfn, op->u.free_pages.order,
		                                 res->msg, sizeof(res->msg));
		if (e)
			return e;
		__free_pages(m, (uint32_t)op->u.free_pages.pfn, op->u.free_pages.order);
		res->value = op->u.free_pages.pfn;
		return VM_OK;
	}
	default:
		return op_fail(res, VM_EINVAL, "unknown page allocator op %#x", op->kind);
	}
}

static int check_fail(char *buf, size_t len, const char *fmt, unsigned long long a,
                      unsigned long long b)
{
	snprintf(buf, len, fmt, a, b);
	return -1;
}

/* Every free block: right zone, aligned, marked, counted, each frame in exactly one block. */
static int check_free_lists(const struct machine *m, uint8_t *seen, char *buf, size_t len)
{
	const struct page *map = m->pa.mem_map;
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		uint64_t zend = zone->zone_start_pfn + zone->spanned_pages, free = 0;
		for (unsigned o = 0; o < MAX_ORDER; o++) {
			uint64_t n = 0;
			uint32_t prev = PFN_NONE;
			for (uint32_t pfn = zone->free_area[o].free_list.head; pfn != PFN_NONE;
			     pfn = map[pfn].next) {
				if (pfn < zone->zone_start_pfn || pfn + (1ull << o) > zend)
					return check_fail(
					    buf, len,
					    "free block pfn %#llx order %llu outside its zone", pfn,
					    o);
				if (pfn & ((1u << o) - 1))
					return check_fail(
					    buf, len,
					    "free block pfn %#llx misaligned for order %llu", pfn,
					    o);
				if (map[pfn].flags != (PT_FREE | PG_head) || map[pfn].private != o)
					return check_fail(
					    buf, len,
					    "free list pfn %#llx not marked a free order-%llu head",
					    pfn, o);
				if (map[pfn].prev != prev)
					return check_fail(
					    buf, len,
					    "free list pfn %#llx has a bad prev link (order %llu)",
					    pfn, o);
				for (uint32_t i = 0; i < (1u << o); i++) {
					if (seen[pfn + i]++)
						return check_fail(
						    buf, len,
						    "pfn %#llx is in two free blocks (order %llu)",
						    pfn + i, o);
					if (i && map[pfn + i].flags != PT_FREE)
						return check_fail(buf, len,
						                  "pfn %#llx inside a free block "
						                  "is not free (order %llu)",
						                  pfn + i, o);
				}
				prev = pfn;
				n++;
			}
			if (n != zone->free_area[o].nr_free || n != zone->free_area[o].free_list.nr)
				return check_fail(
				    buf, len, "free_area[%llu] counts %llu blocks wrongly", o, n);
			free += n << o;
		}
		if (free != zone->free_pages)
			return check_fail(buf, len, "zone free_pages %llu but free lists hold %llu",
			                  zone->free_pages, free);
	}
	return 0;
}

/*
 * The order of the allocated block headed by pfn: heads keep it in page->private, except slab
 * heads, whose private indexes their struct slab (the cache knows the order).
 */
static uint32_t block_order(const struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) == PT_SLAB)
		return (uint32_t)slab_page_order(m, pfn); /* -1: no slab, a bad order */
	/* User pages are order 0 and lend private to rmap, the page cache, the swap cache. */
	if (page_type(p) == PT_ANON || page_type(p) == PT_FILE)
		return 0;
	return p->private;
}

/* Every allocated block: a head with its order, then exactly its tails. */
static int check_allocated(const struct machine *m, const uint8_t *seen, char *buf, size_t len)
{
	const struct page *map = m->pa.mem_map;
	uint64_t n = m->pa.nr_frames, reserved = 0;
	for (uint64_t pfn = 0; pfn < n;) {
		const struct page *p = &map[pfn];
		enum page_type t = page_type(p);
		if (t == PT_FREE) {
			if (!seen[pfn])
				return check_fail(
				    buf, len, "free pfn %#llx is on no free list%.0llu", pfn, 0);
			pfn++;
			continue;
		}
		if (seen[pfn])
			return check_fail(
			    buf, len, "allocated pfn %#llx (type %llu) is on a free list", pfn, t);
		if (t == PT_RESERVED) {
			reserved++;
			pfn++;
			continue;
		}
		if (!(p->flags & PG_head) || (p->flags & PG_tail))
			return check_fail(
			    buf, len, "pfn %#llx (type %llu) is not the head of a block", pfn, t);
		uint32_t order = block_order(m, (uint32_t)pfn);
		uint64_t size = 1ull << (order & 31);
		if (order >= MAX_ORDER || pfn + size > n || (pfn & (size - 1)))
			return check_fail(buf, len, "block at pfn %#llx has bad order %llu", pfn,
			                  order);
		for (uint64_t i = 1; i < size; i++) {
			const struct page *tp = &map[pfn + i];
			if (!(tp->flags & PG_tail) || page_type(tp) != t || tp->private != i)
				return check_fail(buf, len,
				                  "pfn %#llx is not a tail of the block at %#llx",
				                  pfn + i, pfn);
		}
		pfn += size;
	}
	if (reserved != m->pa.reserved_pages)
		return check_fail(buf, len, "%llu reserved frames, expected %llu", reserved,
		                  m->pa.reserved_pages);
	return 0;
}

int page_alloc_check(const struct machine *m, char *buf, size_t len)
{
	uint8_t *seen = calloc(m->pa.nr_frames, 1);
	if (!seen)
		return check_fail(buf, len, "no host memory for the check%.0llu%.0llu", 0, 0);
	int r = check_free_lists(m, seen, buf, len);
	if (!r)
		r = check_allocated(m, seen, buf, len);
	free(seen);
	return r;
}

/* /proc/buddyinfo, as mm/vmstat.c frag_show_print() writes it. */
void buddyinfo_show(const struct machine *m, struct strbuf *sb)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		strbuf_addf(sb, "Node 0, zone %8s ", zone->name);
		for (int o = 0; o < MAX_ORDER; o++)
			strbuf_addf(sb, "%6llu ", (unsigned long long)zone->free_area[o].nr_free);
		strbuf_adds(sb, "\n");
	}
}

/* mm/vmstat.c: __fragmentation_index() from fill_contig_page_info(). */
int fragmentation_index(const struct zone *z, unsigned order)
{
	uint64_t total = 0, suitable = 0, free_pages = 0;
	for (unsigned o = 0; o < MAX_ORDER; o++) {
		uint64_t blocks = z->free_area[o].nr_free;
		total += blocks;
		free_pages += blocks << o;
		if (o >= order)
			suitable += blocks << (o - order);
	}
	if (!total)
		return 0;
	if (suitable)
		return -1000;
	return (int)(1000 - (1000 + free_pages * 1000 / (1ull << order)) / total);
}

/* /sys/kernel/debug/extfrag/extfrag_index. */
void extfrag_show(const struct machine *m, struct strbuf *sb)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		strbuf_addf(sb, "Node 0, zone %8s ", zone->name);
		for (unsigned o = 0; o < MAX_ORDER; o++) {
			int idx = fragmentation_index(zone, o);
			strbuf_addf(sb, "%2d.%03d ", idx / 1000, abs(idx % 1000));
		}
		strbuf_adds(sb, "\n");
	}
}

/* A pagetypeinfo-like summary: vmsim keeps one migratetype, so one row per zone. */
void pagetypeinfo_show(const struct machine *m, struct strbuf *sb)
{
	strbuf_addf(sb, "Page block order: %d\nPages per block:  %d\n\n", MAX_ORDER - 1,
	            1 << (MAX_ORDER - 1));
	strbuf_adds(sb, "Free pages count per migrate type at order       0      1      2      3"
	                "      4      5      6      7      8      9     10 \n");
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		strbuf_addf(sb, "Node    0, zone %8s, type      Movable ", zone->name);
		for (int o = 0; o < MAX_ORDER; o++)
			strbuf_addf(sb, "%6llu ", (unsigned long long)zone->free_area[o].nr_free);
		strbuf_adds(sb, "\n");
	}
}

static void page_list_save(struct snap_writer *w, const struct page_list *l)
{
	snap_put_u32(w, l->head);
	snap_put_u32(w, l->tail);
	snap_put_u64(w, l->nr);
}

static void page_list_load(struct snap_reader *r, struct page_list *l)
{
	l->head = snap_get_u32(r);
	l->tail = snap_get_u32(r);
	l->nr = snap_get_u64(r);
}

#define PAGE_RECORD 16 /* bytes per frame in a snapshot: next, prev, private, flags, refcount */

void page_alloc_save(const struct machine *m, struct snap_writer *w)
{
	const struct page_alloc_state *pa = &m->pa;
	snap_put_tag(w, "PAGE");
	snap_put_u64(w, pa->nr_frames);
	/* Most of a snapshot: the frame records go into one block, not field by field. */
	uint8_t *b = snap_room(w, PAGE_RECORD * pa->nr_frames);
	for (uint64_t i = 0; i < pa->nr_frames; i++, b += PAGE_RECORD) {
		const struct page *p = &pa->mem_map[i];
		snap_store_le(b, p->next, 4);
		snap_store_le(b + 4, p->prev, 4);
		snap_store_le(b + 8, p->private, 4);
		snap_store_le(b + 12, p->flags, 2);
		snap_store_le(b + 14, p->refcount, 2);
	}
	snap_put_u64(w, pa->min_free_kbytes);
	snap_put_u64(w, pa->totalram_pages);
	snap_put_u64(w, pa->reserved_pages);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &pa->zones[z];
		snap_put_u64(w, zone->managed_pages);
		snap_put_u64(w, zone->free_pages);
		for (int i = 0; i < NR_WMARK; i++)
			snap_put_u64(w, zone->watermark[i]);
		for (int o = 0; o < MAX_ORDER; o++) {
			page_list_save(w, &zone->free_area[o].free_list);
			snap_put_u64(w, zone->free_area[o].nr_free);
		}
	}
}

/* The zone layout is recomputed by boot from the config; the rest comes from the snapshot. */
int page_alloc_load(struct machine *m, struct snap_reader *r)
{
	struct page_alloc_state *pa = &m->pa;
	if (snap_expect_tag(r, "PAGE"))
		return -1;
	if (snap_get_u64(r) != pa->nr_frames)
		return snap_fail(r, "frame count differs from the config's RAM size");
	const uint8_t *b = snap_take(r, PAGE_RECORD * pa->nr_frames);
	for (uint64_t i = 0; b && i < pa->nr_frames; i++, b += PAGE_RECORD) {
		struct page *p = &pa->mem_map[i];
		p->next = (uint32_t)snap_load_le(b, 4);
		p->prev = (uint32_t)snap_load_le(b + 4, 4);
		p->private = (uint32_t)snap_load_le(b + 8, 4);
		p->flags = (uint16_t)snap_load_le(b + 12, 2);
		p->refcount = (uint16_t)snap_load_le(b + 14, 2);
	}
	pa->min_free_kbytes = snap_get_u64(r);
	pa->totalram_pages = snap_get_u64(r);
	pa->reserved_pages = snap_get_u64(r);
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		struct zone *zone = &pa->zones[z];
		zone->managed_pages = snap_get_u64(r);
		zone->free_pages = snap_get_u64(r);
		for (int i = 0; i < NR_WMARK; i++)
			zone->watermark[i] = snap_get_u64(r);
		for (int o = 0; o < MAX_ORDER; o++) {
			page_list_load(r, &zone->free_area[o].free_list);
			zone->free_area[o].nr_free = snap_get_u64(r);
		}
	}
	return r->err ? -1 : 0;
}
