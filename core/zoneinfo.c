/*
 * /proc/zoneinfo: every zone the kernel configures (mm/vmstat.c zoneinfo_show_print), its
 * watermarks, sizes and per-zone counters, with the node's counters under the first populated
 * zone. Per-zone counters are counted from mem_map here, so they always add up to /proc/vmstat.
 */
#include <string.h>

#include "kernel.h"
#include "meminfo.h"
#include "vmscan.h"
#include "vmstat.h"

/* vmsim's pageblocks are MAX_ORDER - 1, as /proc/pagetypeinfo says. */
#define PAGEBLOCK_ORDER (MAX_ORDER - 1)

/*
 * The kernel's zone list per arch: x86_64 has DMA32 and ZONE_DEVICE, i386 has HighMem and no
 * ZONE_DEVICE (it needs SPARSEMEM_VMEMMAP). Movable and Device hold no memory in vmsim; their
 * entries are -1.
 */
struct zone_slot {
	const char *name;
	int zone; /* index into m->pa.zones, or -1 */
};
static const struct zone_slot x86_64_zones[] = {
    {"DMA", ZONE_DMA}, {"DMA32", ZONE_DMA32}, {"Normal", ZONE_NORMAL},
    {"Movable", -1},   {"Device", -1},
};
static const struct zone_slot i386_zones[] = {
    {"DMA", ZONE_DMA},
    {"Normal", ZONE_NORMAL},
    {"HighMem", ZONE_HIGHMEM},
    {"Movable", -1},
};

/* NR_FREE_PAGES_BLOCKS: free pages that sit in free blocks of at least a pageblock. */
static uint64_t zone_free_pages_blocks(const struct zone *z)
{
	uint64_t n = 0;
	for (unsigned o = PAGEBLOCK_ORDER; o < MAX_ORDER; o++)
		n += z->free_area[o].nr_free << o;
	return n;
}

uint64_t nr_free_pages_blocks(const struct machine *m)
{
	uint64_t n = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		n += zone_free_pages_blocks(&m->pa.zones[z]);
	return n;
}

/* The zone_stat_item counters the kernel keeps per zone, counted over the zone's frames. */
struct zone_stats {
	uint64_t lru[NR_LRU_LISTS];
	uint64_t write_pending, mlock;
};

static void zone_count(const struct machine *m, const struct zone *z, struct zone_stats *zs)
{
	memset(zs, 0, sizeof(*zs));
	for (uint64_t pfn = z->zone_start_pfn; pfn < z->zone_start_pfn + z->spanned_pages; pfn++) {
		const struct page *p = &m->pa.mem_map[pfn];
		if (p->flags & PG_lru)
			zs->lru[page_lru(m, (uint32_t)pfn)]++;
		zs->write_pending += (p->flags & (PG_dirty | PG_writeback)) != 0;
		zs->mlock += (p->flags & PG_mlocked) != 0;
	}
}

/* mm/page_alloc.c zone_batchsize(): ~0.1% of the zone or 1 MiB, clamped to 2^n - 1. */
static uint64_t zone_batchsize(const struct zone *z)
{
	uint64_t batch = z->managed_pages >> 10;
	if (batch > (1u << 20) / PAGE_SIZE)
		batch = (1u << 20) / PAGE_SIZE;
	batch /= 4;
	if (batch < 1)
		batch = 1;
	uint64_t p2 = 1;
	while (p2 * 2 <= batch + batch / 2)
		p2 *= 2;
	return p2 - 1 ? p2 - 1 : 1; /* zone_set_pageset_high_and_batch: max(1, batch) */
}

/*
 * zone_highsize() for vmsim's one CPU: the low watermark (high_min) or an eighth of the zone
 * (high_max), at least four batches.
 */
static uint64_t zone_highsize(const struct zone *z, uint64_t batch, int high_fraction)
{
	uint64_t high =
	    high_fraction ? z->managed_pages / (uint64_t)high_fraction : z->watermark[WMARK_LOW];
	return high > batch << 2 ? high : batch << 2;
}

/* calculate_normal_threshold() with one online CPU: 2 * fls(1) * (1 + fls(MiB / 128)). */
static unsigned stat_threshold(const struct zone *z)
{
	uint64_t mem = z->managed_pages >> (27 - PAGE_SHIFT);
	unsigned fls = 0;
	while (mem >> fls)
		fls++;
	unsigned t = 2 * 1 * (1 + fls);
	return t < 125 ? t : 125;
}

static void node_stats_show(const struct machine *m, const struct meminfo *mi, struct strbuf *sb)
{
	strbuf_adds(sb, "\n  per-node stats");
	int in_node = 0;
	for (size_t i = 0; i < nr_vmstat_text; i++) {
		/* node_stat_item runs from nr_inactive_anon up to the writeback items */
		if (strcmp(vmstat_text[i], "nr_inactive_anon") == 0)
			in_node = 1;
		if (strcmp(vmstat_text[i], "nr_dirty_threshold") == 0)
			break;
		if (!in_node)
			continue;
		uint64_t v = 0;
		vmstat_gauge(m, mi, vmstat_text[i], &v);
		strbuf_addf(sb, "\n      %-12s %llu", vmstat_text[i], (unsigned long long)v);
	}
}

static void zone_stats_show(const struct machine *m, const struct zone *z, int zid,
                            struct strbuf *sb)
{
	struct zone_stats zs;
	zone_count(m, z, &zs);
	const uint64_t numa = vm_event(m, PGALLOC_DMA + zid);
	const struct {
		const char *name;
		uint64_t v;
	} items[] = {
	    {"nr_free_pages", z->free_pages},
	    {"nr_free_pages_blocks", zone_free_pages_blocks(z)},
	    {"nr_zone_inactive_anon", zs.lru[LRU_INACTIVE_ANON]},
	    {"nr_zone_active_anon", zs.lru[LRU_ACTIVE_ANON]},
	    {"nr_zone_inactive_file", zs.lru[LRU_INACTIVE_FILE]},
	    {"nr_zone_active_file", zs.lru[LRU_ACTIVE_FILE]},
	    {"nr_zone_unevictable", zs.lru[LRU_UNEVICTABLE]},
	    {"nr_zone_write_pending", zs.write_pending},
	    {"nr_mlock", zs.mlock},
	    {"nr_zspages", 0},
	    {"nr_free_cma", 0},
	    /* NUMA events: one node, so every allocation is a local hit */
	    {"numa_hit", numa},
	    {"numa_miss", 0},
	    {"numa_foreign", 0},
	    {"numa_interleave", 0},
	    {"numa_local", numa},
	    {"numa_other", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(items); i++)
		strbuf_addf(sb, "\n      %-12s %llu", items[i].name,
		            (unsigned long long)items[i].v);
}

/*
 * The per-cpu pageset of the one simulated CPU. vmsim frees straight to the buddy lists, so
 * the pcp list is always empty (count 0), as after drain_all_pages(); batch and the high marks
 * are what the kernel would compute for the zone, and an idle pcp->high decays to high_min.
 */
static void pageset_show(const struct zone *z, struct strbuf *sb)
{
	uint64_t batch = zone_batchsize(z);
	uint64_t high_min = zone_highsize(z, batch, 0);
	uint64_t high_max = zone_highsize(z, batch, 8); /* MIN_PERCPU_PAGELIST_HIGH_FRACTION */
	strbuf_addf(sb,
	            "\n  pagesets"
	            "\n    cpu: 0"
	            "\n              count:    0"
	            "\n              high:     %llu"
	            "\n              batch:    %llu"
	            "\n              high_min: %llu"
	            "\n              high_max: %llu"
	            "\n  vm stats threshold: %u",
	            (unsigned long long)high_min, (unsigned long long)batch,
	            (unsigned long long)high_min, (unsigned long long)high_max, stat_threshold(z));
}

static void zone_show(const struct machine *m, const struct meminfo *mi, const char *name,
                      const struct zone *z, int zid, int first_populated, size_t nr_slots,
                      struct strbuf *sb)
{
	static const struct zone empty;
	if (!z)
		z = &empty;
	strbuf_addf(sb, "Node 0, zone %8s", name);
	if (first_populated)
		node_stats_show(m, mi, sb);
	uint64_t min = z->watermark[WMARK_MIN], low = z->watermark[WMARK_LOW];
	uint64_t high = z->watermark[WMARK_HIGH];
	strbuf_addf(sb,
	            "\n  pages free     %llu"
	            "\n        boost    0"
	            "\n        min      %llu"
	            "\n        low      %llu"
	            "\n        high     %llu"
	            "\n        promo    %llu"
	            "\n        spanned  %llu"
	            "\n        present  %llu"
	            "\n        managed  %llu"
	            "\n        cma      0",
	            (unsigned long long)z->free_pages, (unsigned long long)min,
	            (unsigned long long)low, (unsigned long long)high,
	            /* __setup_per_zone_wmarks(): promo sits one more step above high */
	            (unsigned long long)(high + (high - low)), (unsigned long long)z->spanned_pages,
	            (unsigned long long)z->present_pages, (unsigned long long)z->managed_pages);
	/* vmsim's allocator keeps no lowmem_reserve: every zone may fall back in full */
	strbuf_adds(sb, "\n        protection: (0");
	for (size_t i = 1; i < nr_slots; i++)
		strbuf_adds(sb, ", 0");
	strbuf_adds(sb, ")");
	if (!zone_populated(z)) {
		strbuf_adds(sb, "\n");
		return;
	}
	zone_stats_show(m, z, zid, sb);
	pageset_show(z, sb);
	/* kswapd never gives up on a node in vmsim: the OOM killer runs instead */
	strbuf_addf(sb, "\n  node_unreclaimable:  0\n  start_pfn:           %llu\n",
	            (unsigned long long)z->zone_start_pfn);
}

void zoneinfo_show(const struct machine *m, struct strbuf *sb)
{
	const struct zone_slot *slots = m->cfg.arch == ARCH_I386 ? i386_zones : x86_64_zones;
	size_t n = m->cfg.arch == ARCH_I386 ? ARRAY_SIZE(i386_zones) : ARRAY_SIZE(x86_64_zones);
	struct meminfo mi;
	si_meminfo(m, &mi);
	int seen_populated = 0;
	for (size_t i = 0; i < n; i++) {
		const struct zone *z = slots[i].zone >= 0 ? &m->pa.zones[slots[i].zone] : NULL;
		int populated = z && zone_populated(z);
		zone_show(m, &mi, slots[i].name, z, slots[i].zone, populated && !seen_populated, n,
		          sb);
		seen_populated |= populated;
	}
}
