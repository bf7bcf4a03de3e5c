/*
 * Read-only structured queries for pictures and dashboards: the per-frame map, the zones
 * and the machine's counters by kernel name. Nothing here changes the machine.
 */
#ifndef VMSIM_QUERY_H
#define VMSIM_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "machine.h"

#define QUERY_NO_ORDER 0xff

/*
 * Frames [start, start + count) clipped to the machine: flags[i] = struct page flags (page
 * type in bits 0-3, PG_* above), orders[i] = order of the block starting at that frame or
 * QUERY_NO_ORDER. Returns the number of frames written.
 */
uint64_t query_frame_map(const struct machine *m, uint64_t start, uint64_t count, uint16_t *flags,
                         uint8_t *orders);

/* Names of the page types (index = type bits), NULL-terminated. */
extern const char *const query_page_type_names[];

struct query_zone {
	const char *name;
	uint64_t start_pfn, spanned, present, managed, free;
	uint64_t wmark_min, wmark_low, wmark_high;
	uint64_t nr_free[MAX_ORDER]; /* blocks per order */
};

/* Populated zones in order; returns how many were written (at most max). */
unsigned query_zones(const struct machine *m, struct query_zone *out, unsigned max);

/* Calls emit(arg, name, value) for every counter, in a stable order. */
void query_counters(const struct machine *m,
                    void (*emit)(void *arg, const char *name, uint64_t value), void *arg);

/* One process, as ps sees it (pages for sizes). */
struct query_task {
	uint32_t pid, ppid;
	char comm[32];
	char state; /* R running, D waiting in vfork */
	int current;
	uint64_t total_vm, rss, rss_anon, rss_file;
	uint64_t min_flt, maj_flt, nr_cow, rlimit_rss;
	int32_t oom_score_adj;
	uint32_t mm_users;
};

/* Writes up to max tasks in pid order; returns how many tasks exist. */
uint32_t query_tasks(const struct machine *m, struct query_task *out, uint32_t max);

/* The most page-table bytes one address space holds (VmPTE of the largest): what bounds the
 * entries a fork's copy_page_range visits. */
uint64_t query_max_pgtables_bytes(const struct machine *m);

#define QUERY_WALK_LEVELS 4
#define QUERY_PTE_FLAGS   10

/* One level of a page walk: the table read, the entry found, the next table or page. */
struct query_walk_step {
	const char *level; /* "pgd", "pud", "pmd", "pte" (the levels the arch has) */
	uint32_t index, table_pfn;
	uint64_t entry;
	int has_next;
	uint32_t next_pfn;
};

/* A page walk of pid's va, as the MMU does it, and the leaf entry's flags by name. */
struct query_walk {
	uint32_t nr;
	struct query_walk_step step[QUERY_WALK_LEVELS];
	int present;               /* translated: phys is the physical address */
	const char *missing_level; /* the level whose entry was not present; "" if present */
	int direct_map;            /* a kernel lowmem address, translated as va - PAGE_OFFSET */
	uint64_t pte, phys;
	uint32_t nr_flags;
	const char *flags[QUERY_PTE_FLAGS]; /* "present", "rw", "user", ... */
};

/* VM_ENOENT for an unknown pid, VM_EFAULT for an address the arch cannot hold. */
enum vm_err query_translate(const struct machine *m, uint32_t pid, uint64_t va,
                            struct query_walk *out);

#endif
