/*
 * Page reclaim (mm/vmscan.c, mm/swap.c, mm/oom_kill.c): the active/inactive LRU lists of
 * anon and file pages, kswapd and direct reclaim against the zone watermarks, swappiness,
 * the teaching policies (fifo, lru, clock) and the OOM killer.
 */
#ifndef VMSIM_VMSCAN_H
#define VMSIM_VMSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

/* include/linux/mmzone.h enum lru_list, in the kernel's order. */
enum lru_list {
	LRU_INACTIVE_ANON = 0,
	LRU_ACTIVE_ANON = 1,
	LRU_INACTIVE_FILE = 2,
	LRU_ACTIVE_FILE = 3,
	LRU_UNEVICTABLE = 4,
	NR_LRU_LISTS
};

#define DEF_PRIORITY 12 /* a reclaim pass scans lru_size >> priority pages */

struct page_list;

struct vmscan_state {
	/* One lruvec (one node, no memcg): pages are added at the head, scanned from the tail. */
	struct page_list lru[NR_LRU_LISTS];
	uint32_t swappiness;      /* vm.swappiness 0..200 */
	uint64_t ticks;           /* OP_TICK count: the machine's seconds (vmstat averages) */
	uint64_t kswapd_runs;     /* balance_pgdat runs (vmsim's own) */
	uint64_t nr_vmscan_write; /* pages written by reclaim itself (vmstat nr_vmscan_write) */
};

extern const struct event_table vmscan_events;

enum {
	EV_LRU_ADD = 0x900,
	EV_ACTIVATE,
	EV_DEACTIVATE,
	EV_KSWAPD_WAKE,
	EV_KSWAPD_DONE,
	EV_DIRECT_RECLAIM,
	EV_SHRINK_LIST,
	EV_RECLAIM_CLEAN,
	EV_RECLAIM_DIRTY,
	EV_SWAP_OUT,
	EV_KEEP,
	EV_SCAN_COUNT,
	EV_DROP_CACHES,
	EV_OOM_KILL,
	EV_OOM_NONE,
	EV_RECLAIM_DONE,
	EV_TICK,
	EV_SWAPPINESS,
	EV_FLUSHER,
	EV_RLIMIT_RECLAIM,
};

int vmscan_init(struct machine *m);
void vmscan_release(struct machine *m);
enum vm_err vmscan_apply(struct machine *m, const struct op *op, struct op_result *res);
int vmscan_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void vmscan_save(const struct machine *m, struct snap_writer *w);
int vmscan_load(struct machine *m, struct snap_reader *r);

/*
 * Hooks the page allocator calls when a zone runs low (mm/page_alloc.c slow path).
 * Both return the number of pages they freed.
 */
uint64_t wakeup_kswapd(struct machine *m, unsigned order, uint32_t gfp);
uint64_t try_to_free_pages(struct machine *m, unsigned order, uint32_t gfp);

/*
 * LRU bookkeeping (reclaim helper implements; memory.c and filemap.c call it whenever a user
 * page is created, touched or freed so that every user page is on exactly one LRU list).
 * lru_cache_add: a new PT_ANON or PT_FILE page joins the inactive list of its kind.
 * lru_cache_del: a page leaves its list (before it is freed).
 * mark_page_accessed: the page was used (read(2), or every user access under the teaching
 * policies): two uses promote an inactive page (Linux), LRU moves it to the head, CLOCK sets
 * its reference bit, FIFO ignores it.
 */
void lru_cache_add(struct machine *m, uint32_t pfn);
void lru_cache_del(struct machine *m, uint32_t pfn);
void mark_page_accessed(struct machine *m, uint32_t pfn);

struct task_struct;
/*
 * The per-task resident limit (OP_SET_RLIMIT: RLIMIT_RSS as the name promises, enforced;
 * Linux itself ignores it and a memory cgroup's memory.max plays this part): called before a
 * fault may add a page to t's RSS; at the limit, one of t's own pages is reclaimed first,
 * chosen by the machine's policy, so a working set above the limit thrashes.
 */
void enforce_rlimit_rss(struct machine *m, struct task_struct *t);

/* Which LRU list a page belongs on, from its type and flags. */
enum lru_list page_lru(const struct machine *m, uint32_t pfn);
/* Reclaims up to nr pages as kswapd (is_kswapd) or direct reclaim; returns pages freed. */
uint64_t shrink_node(struct machine *m, uint64_t nr, int is_kswapd);
/* Frees every clean, unmapped page-cache page (drop_caches 1). */
uint64_t drop_pagecache(struct machine *m);

#endif
