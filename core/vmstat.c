/* The vm event counters and their /proc/vmstat names (mm/vmstat.c vmstat_text). */
#include "vmstat.h"

#include "kernel.h"

const char *const vm_event_names[NR_VM_EVENT_ITEMS] = {
    [PGPGIN] = "pgpgin",
    [PGPGOUT] = "pgpgout",
    [PSWPIN] = "pswpin",
    [PSWPOUT] = "pswpout",
    [PGALLOC_DMA] = "pgalloc_dma",
    [PGALLOC_DMA32] = "pgalloc_dma32",
    [PGALLOC_NORMAL] = "pgalloc_normal",
    [PGALLOC_HIGH] = "pgalloc_high",
    [ALLOCSTALL_DMA] = "allocstall_dma",
    [ALLOCSTALL_DMA32] = "allocstall_dma32",
    [ALLOCSTALL_NORMAL] = "allocstall_normal",
    [ALLOCSTALL_HIGH] = "allocstall_high",
    [PGSKIP_DMA] = "pgskip_dma",
    [PGSKIP_DMA32] = "pgskip_dma32",
    [PGSKIP_NORMAL] = "pgskip_normal",
    [PGSKIP_HIGH] = "pgskip_high",
    [PGFREE] = "pgfree",
    [PGACTIVATE] = "pgactivate",
    [PGDEACTIVATE] = "pgdeactivate",
    [PGFAULT] = "pgfault",
    [PGMAJFAULT] = "pgmajfault",
    [PGREFILL] = "pgrefill",
    [PGREUSE] = "pgreuse",
    [PGSTEAL_KSWAPD] = "pgsteal_kswapd",
    [PGSTEAL_DIRECT] = "pgsteal_direct",
    [PGSCAN_KSWAPD] = "pgscan_kswapd",
    [PGSCAN_DIRECT] = "pgscan_direct",
    [PGSCAN_ANON] = "pgscan_anon",
    [PGSCAN_FILE] = "pgscan_file",
    [PGSTEAL_ANON] = "pgsteal_anon",
    [PGSTEAL_FILE] = "pgsteal_file",
    [PGINODESTEAL] = "pginodesteal",
    [SLABS_SCANNED] = "slabs_scanned",
    [KSWAPD_INODESTEAL] = "kswapd_inodesteal",
    [KSWAPD_LOW_WMARK_HIT_QUICKLY] = "kswapd_low_wmark_hit_quickly",
    [KSWAPD_HIGH_WMARK_HIT_QUICKLY] = "kswapd_high_wmark_hit_quickly",
    [PAGEOUTRUN] = "pageoutrun",
    [PGROTATED] = "pgrotated",
    [DROP_PAGECACHE] = "drop_pagecache",
    [DROP_SLAB] = "drop_slab",
    [OOM_KILL] = "oom_kill",
    [VMSIM_COW_COPY] = "cow_copy",
    [VMSIM_ZERO_PAGE_MAP] = "zero_page_map",
    [VMSIM_TLB_HIT] = "tlb_hit",
    [VMSIM_TLB_MISS] = "tlb_miss",
    [VMSIM_TLB_FLUSH_ALL] = "tlb_flush_all",
    [VMSIM_TLB_FLUSH_ONE] = "tlb_flush_one",
    [VMSIM_SEGV] = "segv",
};

_Static_assert(NR_VM_EVENT_ITEMS <= 64, "vm_events_touched has a bit per counter");

/* The first bump of a counter in an op keeps its old value, for vm_events_rollback. */
static void vm_event_touch(struct machine *m, enum vm_event_item item)
{
	uint64_t bit = 1ull << item;
	if (!(m->vm_events_touched & bit)) {
		m->vm_events_touched |= bit;
		m->vm_events_before[item] = m->vm_events[item];
	}
}

void count_vm_event(struct machine *m, enum vm_event_item item)
{
	vm_event_touch(m, item);
	m->vm_events[item]++;
}

void count_vm_events(struct machine *m, enum vm_event_item item, uint64_t n)
{
	vm_event_touch(m, item);
	m->vm_events[item] += n;
}

void vm_events_begin(struct machine *m)
{
	m->vm_events_touched = 0;
}

void vm_events_rollback(struct machine *m)
{
	for (uint64_t t = m->vm_events_touched; t; t &= t - 1) {
		int item = __builtin_ctzll(t);
		m->vm_events[item] = m->vm_events_before[item];
	}
	m->vm_events_touched = 0;
}

uint64_t vm_event(const struct machine *m, enum vm_event_item item)
{
	return m->vm_events[item];
}
