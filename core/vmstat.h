/*
 * Event counters with the kernel's /proc/vmstat names (include/linux/vm_event_item.h).
 * Zone-indexed items (pgalloc_*, allocstall_*, pgskip_*) are laid out DMA, DMA32, Normal, HighMem
 * so `PGALLOC_DMA + zone` works. Any core file bumps them through count_vm_event(); proc views and
 * the Counters RPC read them.
 */
#ifndef VMSIM_VMSTAT_H
#define VMSIM_VMSTAT_H

#include <stdint.h>

enum vm_event_item {
	PGPGIN,
	PGPGOUT,
	PSWPIN,
	PSWPOUT,
	PGALLOC_DMA,
	PGALLOC_DMA32,
	PGALLOC_NORMAL,
	PGALLOC_HIGH,
	ALLOCSTALL_DMA,
	ALLOCSTALL_DMA32,
	ALLOCSTALL_NORMAL,
	ALLOCSTALL_HIGH,
	PGSKIP_DMA,
	PGSKIP_DMA32,
	PGSKIP_NORMAL,
	PGSKIP_HIGH,
	PGFREE,
	PGACTIVATE,
	PGDEACTIVATE,
	PGFAULT,
	PGMAJFAULT,
	PGREFILL,
	PGREUSE,
	PGSTEAL_KSWAPD,
	PGSTEAL_DIRECT,
	PGSCAN_KSWAPD,
	PGSCAN_DIRECT,
	PGSCAN_ANON,
	PGSCAN_FILE,
	PGSTEAL_ANON,
	PGSTEAL_FILE,
	PGINODESTEAL,
	SLABS_SCANNED,
	KSWAPD_INODESTEAL,
	KSWAPD_LOW_WMARK_HIT_QUICKLY,
	KSWAPD_HIGH_WMARK_HIT_QUICKLY,
	PAGEOUTRUN,
	PGROTATED,
	DROP_PAGECACHE,
	DROP_SLAB,
	OOM_KILL,
	NR_LINUX_VM_EVENTS, /* items below are vmsim's own, not in /proc/vmstat */
	VMSIM_EVENTS_START = NR_LINUX_VM_EVENTS - 1,
	VMSIM_COW_COPY,      /* do_wp_page copied a shared page */
	VMSIM_ZERO_PAGE_MAP, /* read fault mapped the shared zero page */
	VMSIM_TLB_HIT,       /* TLB lookup hit */
	VMSIM_TLB_MISS,      /* TLB lookup missed, page walk followed */
	VMSIM_TLB_FLUSH_ALL, /* whole-TLB flushes (context switch, exit) */
	VMSIM_TLB_FLUSH_ONE, /* single-entry flushes (invlpg) */
	VMSIM_SEGV,          /* tasks killed by SIGSEGV */
	NR_VM_EVENT_ITEMS
};

extern const char *const vm_event_names[NR_VM_EVENT_ITEMS];

struct machine;
void count_vm_event(struct machine *m, enum vm_event_item item);
void count_vm_events(struct machine *m, enum vm_event_item item, uint64_t n);
/*
 * An op's counters are a transaction: vm_events_begin before it, vm_events_rollback if it
 * failed. A failed op changes nothing, and the journal holds only the ops that succeeded;
 * the allocations a failed op made and undid must not show in pgalloc/pgfree.
 */
void vm_events_begin(struct machine *m);
void vm_events_rollback(struct machine *m);
uint64_t vm_event(const struct machine *m, enum vm_event_item item);

#endif
