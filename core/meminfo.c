/*
 * The memory summary views: /proc/meminfo (fs/proc/meminfo.c), /proc/vmstat (mm/vmstat.c),
 * the free command (procps-ng free.c, and the procps 3.2 layout the seed shows) and the vmstat
 * command's line. All are computed from one pass over mem_map plus the subsystems' counters,
 * so they can never disagree with the frames themselves.
 */
#include "meminfo.h"

#include <stdio.h>
#include <string.h>

#include "kernel.h"

#define KB(pages) ((pages) << (PAGE_SHIFT - 10))

/* Slab caches the kernel creates with SLAB_RECLAIM_ACCOUNT (dentry, inodes, buffer heads). */
static int slab_reclaimable(int id)
{
	return id == KMEM_DENTRY || id == KMEM_INODE_CACHE || id == KMEM_BUFFER_HEAD;
}

static void slab_pages(const struct machine *m, struct meminfo *mi)
{
	for (uint32_t id = 0; id < m->slab.nr_caches; id++) {
		const struct kmem_cache *c = kmem_cache_get(m, (int)id);
		if (!c)
			continue;
		uint64_t pages = (c->slabs_full.nr + c->slabs_partial.nr + c->slabs_free.nr)
		                 << c->order;
		if (slab_reclaimable((int)id))
			mi->sreclaimable += pages;
		else
			mi->sunreclaim += pages;
	}
}

/* VMALLOC_END - VMALLOC_START: 32 TiB on x86_64; on i386 from high_memory + 8 MiB up to the
 * pkmap area below 0xff800000. */
static uint64_t vmalloc_total_kb(const struct machine *m)
{
	if (m->cfg.arch == ARCH_X86_64)
		return 34359738367ull;
	uint64_t start = page_offset(m) + (lowmem_end_pfn(m) << PAGE_SHIFT) + (8ull << 20);
	uint64_t end = 0xff800000ull - 2 * PAGE_SIZE;
	return (end - start) >> 10;
}

void si_meminfo(const struct machine *m, struct meminfo *mi)
{
	memset(mi, 0, sizeof(*mi));
	const struct page *map = m->pa.mem_map;
	uint64_t mapped_swapcache = 0;
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		const struct page *p = &map[pfn];
		switch (page_type(p)) {
		case PT_ANON: {
			/* NR_ANON_MAPPED: mapped anon pages, swap-cache ones included; an unmapped
			 * swap-cache page counts only in SwapCached */
			int swapcache = (p->flags & PG_swapcache) != 0;
			int mapped = p->refcount > swapcache;
			mi->anon += mapped;
			mapped_swapcache += mapped && swapcache;
			break;
		}
		case PT_FILE:
			mi->mapped += p->refcount > 1;
			break;
		case PT_KSTACK:
			mi->kernel_stack_kb += PAGE_SIZE >> 10;
			break;
		case PT_PGTABLE:
			mi->pagetables++;
			break;
		case PT_VMALLOC:
			mi->vmalloc_used++;
			break;
		default:
			break;
		}
		mi->mlocked += (p->flags & PG_mlocked) != 0;
	}
	mi->totalram = m->pa.totalram_pages;
	mi->freeram = nr_free_pages(m);
	mi->bufferram = nr_blockdev_pages(m);
	mi->cached = m->filemap.nr_file_pages - mi->bufferram;
	mi->swapcached = m->swap.nr_swapcache;
	mi->file_pages = m->filemap.nr_file_pages + mi->swapcached;
	for (int l = 0; l < NR_LRU_LISTS; l++)
		mi->lru[l] = m->vmscan.lru[l].nr;
	mi->swaptotal = total_swap_pages(m);
	mi->swapfree = nr_swap_pages(m);
	mi->dirty = m->filemap.nr_dirty;
	slab_pages(m, mi);
	mi->vmalloc_total_kb = vmalloc_total_kb(m);
	/* vm_commit_limit(): overcommit_ratio 50 of RAM plus all swap */
	mi->commit_limit = mi->totalram * 50 / 100 + mi->swaptotal;
	/* anon data committed: in memory or in a slot, a swap-cache page (both) counted once */
	mi->committed_as = mi->anon - mapped_swapcache + (mi->swaptotal - mi->swapfree);
	const struct zone *hz = &m->pa.zones[ZONE_HIGHMEM];
	mi->totalhigh = hz->managed_pages;
	mi->freehigh = hz->free_pages;
	mi->available = si_mem_available(m, mi);
}

uint64_t si_mem_available(const struct machine *m, const struct meminfo *mi)
{
	uint64_t wmark_low = 0, totalreserve = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		wmark_low += zone->watermark[WMARK_LOW];
		/* calculate_totalreserve_pages(): high watermark (no lowmem_reserve in vmsim) */
		uint64_t r = zone->watermark[WMARK_HIGH];
		totalreserve += r < zone->managed_pages ? r : zone->managed_pages;
	}
	int64_t available = (int64_t)mi->freeram - (int64_t)totalreserve;
	uint64_t pagecache = mi->lru[LRU_ACTIVE_FILE] + mi->lru[LRU_INACTIVE_FILE];
	pagecache -= pagecache / 2 < wmark_low ? pagecache / 2 : wmark_low;
	available += (int64_t)pagecache;
	uint64_t reclaimable = mi->sreclaimable;
	available +=
	    (int64_t)(reclaimable - (reclaimable / 2 < wmark_low ? reclaimable / 2 : wmark_low));
	return available < 0 ? 0 : (uint64_t)available;
}

/* show_val_kb(): the label as the kernel pads it to 16 columns, the value in 8. */
static void show_val_kb(struct strbuf *sb, const char *label, uint64_t pages)
{
	strbuf_addf(sb, "%-16s%8llu kB\n", label, (unsigned long long)KB(pages));
}

static void show_kb(struct strbuf *sb, const char *label, uint64_t kb)
{
	strbuf_addf(sb, "%-16s%8llu kB\n", label, (unsigned long long)kb);
}

/* x86's direct map: the first 2 MiB in 4k pages, then 2M pages to 1 GiB, then 1G pages. */
static void direct_map_show(const struct machine *m, struct strbuf *sb)
{
	uint64_t kb = m->cfg.ram_bytes >> 10;
	if (m->cfg.arch == ARCH_I386) {
		uint64_t low = KB(lowmem_end_pfn(m));
		uint64_t k4 = low < 4096 ? low : 4096;
		show_kb(sb, "DirectMap4k:", k4);
		show_kb(sb, "DirectMap4M:", (low - k4) / 4096 * 4096);
		return;
	}
	uint64_t k4 = kb < 2048 ? kb : 2048;
	uint64_t upto1g = kb < (1u << 20) ? kb : (1u << 20);
	uint64_t k2m = (upto1g - k4) / 2048 * 2048;
	k4 = upto1g - k2m;
	uint64_t k1g = kb > (1u << 20) ? (kb - (1u << 20)) >> 20 << 20 : 0;
	k2m += kb > (1u << 20) ? (kb - (1u << 20) - k1g) / 2048 * 2048 : 0;
	show_kb(sb, "DirectMap4k:", k4);
	show_kb(sb, "DirectMap2M:", k2m);
	show_kb(sb, "DirectMap1G:", k1g);
}

/* /proc/meminfo, in meminfo_proc_show()'s order for an x86 kernel like the sample's. */
void meminfo_show(const struct machine *m, struct strbuf *sb)
{
	struct meminfo mi;
	si_meminfo(m, &mi);
	show_val_kb(sb, "MemTotal:", mi.totalram);
	show_val_kb(sb, "MemFree:", mi.freeram);
	show_val_kb(sb, "MemAvailable:", mi.available);
	show_val_kb(sb, "Buffers:", mi.bufferram);
	show_val_kb(sb, "Cached:", mi.cached);
	show_val_kb(sb, "SwapCached:", mi.swapcached);
	show_val_kb(sb, "Active:", mi.lru[LRU_ACTIVE_ANON] + mi.lru[LRU_ACTIVE_FILE]);
	show_val_kb(sb, "Inactive:", mi.lru[LRU_INACTIVE_ANON] + mi.lru[LRU_INACTIVE_FILE]);
	show_val_kb(sb, "Active(anon):", mi.lru[LRU_ACTIVE_ANON]);
	show_val_kb(sb, "Inactive(anon):", mi.lru[LRU_INACTIVE_ANON]);
	show_val_kb(sb, "Active(file):", mi.lru[LRU_ACTIVE_FILE]);
	show_val_kb(sb, "Inactive(file):", mi.lru[LRU_INACTIVE_FILE]);
	show_val_kb(sb, "Unevictable:", mi.lru[LRU_UNEVICTABLE]);
	show_val_kb(sb, "Mlocked:", mi.mlocked);
	if (m->cfg.arch == ARCH_I386) {
		show_val_kb(sb, "HighTotal:", mi.totalhigh);
		show_val_kb(sb, "HighFree:", mi.freehigh);
		show_val_kb(sb, "LowTotal:", mi.totalram - mi.totalhigh);
		show_val_kb(sb, "LowFree:", mi.freeram - mi.freehigh);
	}
	show_val_kb(sb, "SwapTotal:", mi.swaptotal);
	show_val_kb(sb, "SwapFree:", mi.swapfree);
	show_val_kb(sb, "Zswap:", 0);
	show_val_kb(sb, "Zswapped:", 0);
	show_val_kb(sb, "Dirty:", mi.dirty);
	show_val_kb(sb, "Writeback:", mi.writeback);
	show_val_kb(sb, "AnonPages:", mi.anon);
	show_val_kb(sb, "Mapped:", mi.mapped);
	show_val_kb(sb, "Shmem:", mi.shmem);
	show_val_kb(sb, "KReclaimable:", mi.sreclaimable);
	show_val_kb(sb, "Slab:", mi.sreclaimable + mi.sunreclaim);
	show_val_kb(sb, "SReclaimable:", mi.sreclaimable);
	show_val_kb(sb, "SUnreclaim:", mi.sunreclaim);
	show_kb(sb, "KernelStack:", mi.kernel_stack_kb);
	show_val_kb(sb, "PageTables:", mi.pagetables);
	show_val_kb(sb, "SecPageTables:", 0);
	show_val_kb(sb, "NFS_Unstable:", 0);
	show_val_kb(sb, "Bounce:", 0);
	show_val_kb(sb, "WritebackTmp:", 0);
	show_val_kb(sb, "CommitLimit:", mi.commit_limit);
	show_val_kb(sb, "Committed_AS:", mi.committed_as);
	show_kb(sb, "VmallocTotal:", mi.vmalloc_total_kb);
	show_val_kb(sb, "VmallocUsed:", mi.vmalloc_used);
	show_val_kb(sb, "VmallocChunk:", 0);
	show_val_kb(sb, "Percpu:", 0);
	show_val_kb(sb, "AnonHugePages:", 0);
	show_val_kb(sb, "ShmemHugePages:", 0);
	show_val_kb(sb, "ShmemPmdMapped:", 0);
	show_val_kb(sb, "FileHugePages:", 0);
	show_val_kb(sb, "FilePmdMapped:", 0);
	show_val_kb(sb, "Balloon:", 0);
	/* hugetlb_report_meminfo(): the pool of vm.nr_hugepages (no overcommit: Surp 0) */
	const struct hugetlb_state *h = &m->hugetlb;
	strbuf_addf(sb, "HugePages_Total:   %5llu\nHugePages_Free:    %5llu\n",
	            (unsigned long long)h->nr_huge_pages, (unsigned long long)h->free_huge_pages);
	strbuf_addf(sb, "HugePages_Rsvd:    %5llu\nHugePages_Surp:    %5u\n",
	            (unsigned long long)h->resv_huge_pages, 0);
	show_kb(sb, "Hugepagesize:", huge_page_size(m) >> 10);
	show_kb(sb, "Hugetlb:", (h->nr_huge_pages * huge_page_size(m)) >> 10);
	direct_map_show(m, sb);
}

/* Gauges of /proc/vmstat (the node and zone items) that vmsim tracks. */
int vmstat_gauge(const struct machine *m, const struct meminfo *mi, const char *name, uint64_t *v)
{
	/* dirtyable memory: free + file LRU, less the reserves (global_dirtyable_memory) */
	uint64_t dirtyable = mi->freeram + mi->lru[LRU_INACTIVE_FILE] + mi->lru[LRU_ACTIVE_FILE];
	uint64_t numa = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		numa += vm_event(m, PGALLOC_DMA + z);
	const struct {
		const char *name;
		uint64_t v;
	} g[] = {
	    {"nr_free_pages", mi->freeram},
	    {"nr_free_pages_blocks", nr_free_pages_blocks(m)},
	    {"nr_zone_inactive_anon", mi->lru[LRU_INACTIVE_ANON]},
	    {"nr_zone_active_anon", mi->lru[LRU_ACTIVE_ANON]},
	    {"nr_zone_inactive_file", mi->lru[LRU_INACTIVE_FILE]},
	    {"nr_zone_active_file", mi->lru[LRU_ACTIVE_FILE]},
	    {"nr_zone_unevictable", mi->lru[LRU_UNEVICTABLE]},
	    {"nr_zone_write_pending", mi->dirty + mi->writeback},
	    {"nr_mlock", mi->mlocked},
	    {"numa_hit", numa},
	    {"numa_local", numa},
	    {"nr_inactive_anon", mi->lru[LRU_INACTIVE_ANON]},
	    {"nr_active_anon", mi->lru[LRU_ACTIVE_ANON]},
	    {"nr_inactive_file", mi->lru[LRU_INACTIVE_FILE]},
	    {"nr_active_file", mi->lru[LRU_ACTIVE_FILE]},
	    {"nr_unevictable", mi->lru[LRU_UNEVICTABLE]},
	    {"nr_slab_reclaimable", mi->sreclaimable},
	    {"nr_slab_unreclaimable", mi->sunreclaim},
	    {"nr_anon_pages", mi->anon},
	    {"nr_mapped", mi->mapped},
	    {"nr_file_pages", mi->file_pages},
	    {"nr_dirty", mi->dirty},
	    {"nr_writeback", mi->writeback},
	    {"nr_shmem", mi->shmem},
	    {"nr_vmscan_write", m->vmscan.nr_vmscan_write},
	    {"nr_dirtied", m->filemap.nr_dirtied},
	    {"nr_written", m->filemap.nr_written},
	    {"nr_kernel_stack", mi->kernel_stack_kb},
	    {"nr_page_table_pages", mi->pagetables},
	    {"nr_swapcached", mi->swapcached},
	    {"nr_dirty_threshold", dirtyable * 20 / 100},
	    {"nr_dirty_background_threshold", dirtyable * 10 / 100},
	    {"nr_memmap_boot_pages", (m->pa.nr_frames * 64 + PAGE_SIZE - 1) / PAGE_SIZE},
	    {"nr_hugetlb", m->hugetlb.nr_huge_pages << huge_page_order(m)},
	    {"htlb_buddy_alloc_success", m->hugetlb.htlb_buddy_alloc_success},
	    {"htlb_buddy_alloc_fail", m->hugetlb.htlb_buddy_alloc_fail},
	};
	for (size_t i = 0; i < ARRAY_SIZE(g); i++)
		if (strcmp(g[i].name, name) == 0) {
			*v = g[i].v;
			return 1;
		}
	for (int i = 0; i < NR_LINUX_VM_EVENTS; i++)
		if (vm_event_names[i] && strcmp(vm_event_names[i], name) == 0) {
			*v = vm_event(m, (enum vm_event_item)i);
			return 1;
		}
	return 0;
}

/*
 * /proc/vmstat of the 6.x kernel the samples come from, item for item; items for hardware
 * and features vmsim has no model of (NUMA balancing, THP, compaction, zswap, balloon) are
 * 0, as on a kernel where they never ran.
 */
const char *const vmstat_text[] = {
    "nr_free_pages",
    "nr_free_pages_blocks",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_zspages",
    "nr_free_cma",
    "numa_hit",
    "numa_miss",
    "numa_foreign",
    "numa_interleave",
    "numa_local",
    "numa_other",
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_iommu_pages",
    "nr_swapcached",
    "pgpromote_success",
    "pgpromote_candidate",
    "pgpromote_candidate_nrl",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
    "pgdemote_proactive",
    "nr_hugetlb",
    "nr_balloon_pages",
    "nr_kernel_file_pages",
    "nr_dirty_threshold",
    "nr_dirty_background_threshold",
    "nr_memmap_pages",
    "nr_memmap_boot_pages",
    "pgpgin",
    "pgpgout",
    "pswpin",
    "pswpout",
    "pgalloc_dma",
    "pgalloc_dma32",
    "pgalloc_normal",
    "pgalloc_movable",
    "pgalloc_device",
    "allocstall_dma",
    "allocstall_dma32",
    "allocstall_normal",
    "allocstall_movable",
    "allocstall_device",
    "pgskip_dma",
    "pgskip_dma32",
    "pgskip_normal",
    "pgskip_movable",
    "pgskip_device",
    "pgfree",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pgfault",
    "pgmajfault",
    "pglazyfreed",
    "pgrefill",
    "pgreuse",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgsteal_proactive",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_khugepaged",
    "pgscan_proactive",
    "pgscan_direct_throttle",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "zone_reclaim_success",
    "zone_reclaim_failed",
    "pginodesteal",
    "slabs_scanned",
    "kswapd_inodesteal",
    "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly",
    "pageoutrun",
    "pgrotated",
    "drop_pagecache",
    "drop_slab",
    "oom_kill",
    "numa_pte_updates",
    "numa_huge_pte_updates",
    "numa_hint_faults",
    "numa_hint_faults_local",
    "numa_pages_migrated",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_migration_success",
    "thp_migration_fail",
    "thp_migration_split",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "htlb_buddy_alloc_success",
    "htlb_buddy_alloc_fail",
    "unevictable_pgs_culled",
    "unevictable_pgs_scanned",
    "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked",
    "unevictable_pgs_munlocked",
    "unevictable_pgs_cleared",
    "unevictable_pgs_stranded",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_fault_fallback_charge",
    "thp_collapse_alloc",
    "thp_collapse_alloc_failed",
    "thp_file_alloc",
    "thp_file_fallback",
    "thp_file_fallback_charge",
    "thp_file_mapped",
    "thp_split_page",
    "thp_split_page_failed",
    "thp_deferred_split_page",
    "thp_underused_split_page",
    "thp_split_pmd",
    "thp_scan_exceed_none_pte",
    "thp_scan_exceed_swap_pte",
    "thp_scan_exceed_share_pte",
    "thp_split_pud",
    "thp_zero_page_alloc",
    "thp_zero_page_alloc_failed",
    "thp_swpout",
    "thp_swpout_fallback",
    "balloon_inflate",
    "balloon_deflate",
    "balloon_migrate",
    "swap_ra",
    "swap_ra_hit",
    "swpin_zero",
    "swpout_zero",
    "ksm_swpin_copy",
    "cow_ksm",
    "zswpin",
    "zswpout",
    "zswpwb",
    "direct_map_level2_splits",
    "direct_map_level3_splits",
    "direct_map_level2_collapses",
    "direct_map_level3_collapses",
    "nr_unstable",
};
const size_t nr_vmstat_text = ARRAY_SIZE(vmstat_text);

void vmstat_show(const struct machine *m, struct strbuf *sb)
{
	struct meminfo mi;
	si_meminfo(m, &mi);
	for (size_t i = 0; i < ARRAY_SIZE(vmstat_text); i++) {
		uint64_t v = 0;
		vmstat_gauge(m, &mi, vmstat_text[i], &v);
		strbuf_addf(sb, "%s %llu\n", vmstat_text[i], (unsigned long long)v);
	}
}

/*
 * vmstat(8)'s first line: memory now, and rates averaged since boot. vmsim's clock is the tick
 * count (OP_TICK: one second each), so si/so/bi/bo are KiB per tick; with no CPU model the
 * CPU columns say idle and r counts the runnable tasks.
 */
void vmstat_cmd_show(const struct machine *m, struct strbuf *sb)
{
	struct meminfo mi;
	si_meminfo(m, &mi);
	uint64_t secs = m->vmscan.ticks ? m->vmscan.ticks : 1;
	unsigned long r = 0; /* tasks arrive with fork.c */
	strbuf_adds(sb, "procs -----------memory---------- ---swap-- -----io---- -system-- "
	                "------cpu-----\n");
	strbuf_adds(sb,
	            " r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id "
	            "wa st\n");
	strbuf_addf(sb,
	            "%2lu %2u %6llu %6llu %6llu %6llu %4llu %4llu %5llu %5llu %4u %4u %2u %2u %2u "
	            "%2u %2u\n",
	            r, 0, (unsigned long long)KB(mi.swaptotal - mi.swapfree),
	            (unsigned long long)KB(mi.freeram), (unsigned long long)KB(mi.bufferram),
	            (unsigned long long)KB(mi.cached + mi.sreclaimable),
	            (unsigned long long)(KB(vm_event(m, PSWPIN)) / secs),
	            (unsigned long long)(KB(vm_event(m, PSWPOUT)) / secs),
	            (unsigned long long)(vm_event(m, PGPGIN) / secs),
	            (unsigned long long)(vm_event(m, PGPGOUT) / secs), 0, 0, 0, 0, 100, 0, 0);
}

struct free_opts {
	int shift; /* 0 bytes, 10 KiB, 20 MiB, 30 GiB of the value in bytes */
	int human, wide, old;
};

/* procps scale_size(): plain numbers in the chosen unit, or -h's 3-4 significant digits. */
static void scale_size(char *buf, size_t len, uint64_t kb, const struct free_opts *o)
{
	unsigned long long bytes = (unsigned long long)kb * 1024;
	if (!o->human) {
		snprintf(buf, len, "%llu", bytes >> o->shift);
		return;
	}
	static const char up[] = {'B', 'K', 'M', 'G', 'T', 'P'};
	if (snprintf(buf, len, "%lluB", bytes) <= 4)
		return;
	double base = 1024.0;
	for (int i = 1; i < (int)sizeof(up); i++) {
		double power = 1;
		for (int k = 0; k < i; k++)
			power *= base;
		if (snprintf(buf, len, "%.1f%ci", (double)(float)(bytes / power), up[i]) <= 5)
			return;
		if (snprintf(buf, len, "%ld%ci", (long)(bytes / power), up[i]) <= 5)
			return;
	}
}

static void free_col(struct strbuf *sb, uint64_t kb, const struct free_opts *o, int first)
{
	char buf[64];
	scale_size(buf, sizeof(buf), kb, o);
	strbuf_addf(sb, first ? "%11s" : " %11s", buf);
}

static int free_parse(const char *args, struct free_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->shift = 10;
	for (const char *p = args; *p;) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, " ");
		if (n == 5 && strncmp(p, "--old", 5) == 0) {
			o->old = 1;
		} else if (p[0] == '-' && n > 1) {
			for (size_t i = 1; i < n; i++) {
				switch (p[i]) {
				case 'b':
					o->shift = 0;
					break;
				case 'k':
					o->shift = 10;
					break;
				case 'm':
					o->shift = 20;
					break;
				case 'g':
					o->shift = 30;
					break;
				case 'h':
					o->human = 1;
					break;
				case 'w':
					o->wide = 1;
					break;
				case 'o':
					o->old = 1;
					break;
				default:
					return -1;
				}
			}
		} else {
			return -1;
		}
		p += n;
	}
	return 0;
}

/* procps 3.2.8: used includes buffers and cache; a second line takes them out again. */
static void free_old(const struct meminfo *mi, const struct free_opts *o, struct strbuf *sb)
{
	uint64_t total = KB(mi->totalram), freek = KB(mi->freeram), used = total - freek;
	uint64_t buffers = KB(mi->bufferram), cached = KB(mi->cached);
	int sh = o->shift - 10;
	strbuf_adds(sb,
	            "             total       used       free     shared    buffers     cached\n");
	strbuf_addf(sb, "%-7s %10llu %10llu %10llu %10llu %10llu %10llu\n",
	            "Mem:", (unsigned long long)(total >> sh), (unsigned long long)(used >> sh),
	            (unsigned long long)(freek >> sh), (unsigned long long)(KB(mi->shmem) >> sh),
	            (unsigned long long)(buffers >> sh), (unsigned long long)(cached >> sh));
	strbuf_addf(sb, "-/+ buffers/cache: %10llu %10llu\n",
	            (unsigned long long)((used - buffers - cached) >> sh),
	            (unsigned long long)((freek + buffers + cached) >> sh));
	uint64_t st = KB(mi->swaptotal), sf = KB(mi->swapfree);
	strbuf_addf(sb, "%-7s %10llu %10llu %10llu\n", "Swap:", (unsigned long long)(st >> sh),
	            (unsigned long long)((st - sf) >> sh), (unsigned long long)(sf >> sh));
}

enum vm_err free_show(const struct machine *m, const char *args, struct strbuf *sb)
{
	struct free_opts o;
	if (free_parse(args, &o) || (o.old && (o.human || o.wide || o.shift < 10)))
		return VM_ENOENT;
	struct meminfo mi;
	si_meminfo(m, &mi);
	if (o.old) {
		free_old(&mi, &o, sb);
		return VM_OK;
	}
	/*
	 * procps-ng 4: cache = Cached + SReclaimable, used = total - available (the captured
	 * sample obeys it exactly: 24684084 - 24393736 = 290348; older procps-ng subtracted
	 * free, buffers and cache instead, which undercounts memory that cannot be reclaimed).
	 */
	uint64_t total = KB(mi.totalram), freek = KB(mi.freeram), buffers = KB(mi.bufferram);
	uint64_t cache = KB(mi.cached + mi.sreclaimable), avail = KB(mi.available);
	uint64_t used = total > avail ? total - avail : 0;
	if (o.wide)
		strbuf_adds(sb,
		            "               total        used        free      shared     buffers "
		            "      cache   available\n");
	else
		strbuf_adds(sb,
		            "               total        used        free      shared  buff/cache "
		            "  available\n");
	strbuf_addf(sb, "%-9s", "Mem:");
	free_col(sb, total, &o, 1);
	free_col(sb, used, &o, 0);
	free_col(sb, freek, &o, 0);
	free_col(sb, KB(mi.shmem), &o, 0);
	if (o.wide) {
		free_col(sb, buffers, &o, 0);
		free_col(sb, cache, &o, 0);
	} else {
		free_col(sb, buffers + cache, &o, 0);
	}
	free_col(sb, KB(mi.available), &o, 0);
	strbuf_addf(sb, "\n%-9s", "Swap:");
	free_col(sb, KB(mi.swaptotal), &o, 1);
	free_col(sb, KB(mi.swaptotal - mi.swapfree), &o, 0);
	free_col(sb, KB(mi.swapfree), &o, 0);
	strbuf_adds(sb, "\n");
	return VM_OK;
}
