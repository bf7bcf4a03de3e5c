/* LRU lists, kswapd, direct reclaim and the OOM killer (mm/vmscan.c, mm/oom_kill.c). */
#ifndef VMSIM_VMSCAN_H
#define VMSIM_VMSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct vmscan_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table vmscan_events;

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
 */
void lru_cache_add(struct machine *m, uint32_t pfn);
void lru_cache_del(struct machine *m, uint32_t pfn);
void mark_page_accessed(struct machine *m, uint32_t pfn);

#endif
