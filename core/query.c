/*
 * Structured read-only views of a machine for the server: the frame map (what every
 * physical frame holds, as the dashboard paints it), the zones and the counters.
 */
#include "query.h"

#include "kernel.h"
#include "vmstat.h"

#include <stdio.h>
#include <string.h>

const char *const query_page_type_names[] = {
    "free", "reserved", "kernel", "slab",    "pgtable", "vmalloc", "anon",
    "file", "kstack",   "zero",   "kmalloc", "driver",  "hugetlb", NULL,
};

_Static_assert(sizeof(query_page_type_names) / sizeof(query_page_type_names[0]) == PT_NR_TYPES + 1,
               "one name per page type");

/* Order of the block headed at pfn: free heads record it, allocated heads are followed by
 * tails numbered 1, 2, ... (see struct page), so the run of tails gives the size. */
static uint8_t block_order(const struct machine *m, uint64_t pfn)
{
	const struct page *map = m->pa.mem_map;
	const struct page *p = &map[pfn];
	if (!(p->flags & PG_head))
		return QUERY_NO_ORDER;
	if (page_type(p) == PT_FREE)
		return p->private < MAX_ORDER ? (uint8_t)p->private : QUERY_NO_ORDER;
	uint64_t n = 1;
	while (pfn + n < m->pa.nr_frames && (map[pfn + n].flags & PG_tail) &&
	       map[pfn + n].private == n && n < (1ull << (MAX_ORDER - 1)))
		n++;
	uint8_t order = 0;
	while ((2ull << order) <= n)
		order++;
	return order;
}

uint64_t query_frame_map(const struct machine *m, uint64_t start, uint64_t count, uint16_t *flags,
                         uint8_t *orders)
{
	uint64_t nr = m->pa.nr_frames;
	if (start >= nr)
		return 0;
	if (count > nr - start)
		count = nr - start;
	for (uint64_t i = 0; i < count; i++) {
		flags[i] = m->pa.mem_map[start + i].flags;
		orders[i] = block_order(m, start + i);
	}
	return count;
}

unsigned query_zones(const struct machine *m, struct query_zone *out, unsigned max)
{
	unsigned n = 0;
	for (int z = 0; z < MAX_NR_ZONES && n < max; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (!zone_populated(zone))
			continue;
		struct query_zone *q = &out[n++];
		q->name = zone->name ? zone->name : zone_name((enum zone_type)z);
		q->start_pfn = zone->zone_start_pfn;
		q->spanned = zone->spanned_pages;
		q->present = zone->present_pages;
		q->managed = zone->managed_pages;
		q->free = zone->free_pages;
		q->wmark_min = zone->watermark[WMARK_MIN];
		q->wmark_low = zone->watermark[WMARK_LOW];
		q->wmark_high = zone->watermark[WMARK_HIGH];
		for (int o = 0; o < MAX_ORDER; o++)
			q->nr_free[o] = zone->free_area[o].nr_free;
	}
	return n;
}

void query_counters(const struct machine *m,
                    void (*emit)(void *arg, const char *name, uint64_t value), void *arg)
{
	uint64_t by_type[PT_NR_TYPES] = {0};
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		unsigned t = page_type(&m->pa.mem_map[pfn]);
		if (t < PT_NR_TYPES)
			by_type[t]++;
	}
	emit(arg, "seq", m->seq);
	emit(arg, "nr_frames", m->pa.nr_frames);
	emit(arg, "totalram_pages", m->pa.totalram_pages);
	emit(arg, "reserved_pages", m->pa.reserved_pages);
	emit(arg, "nr_free_pages", nr_free_pages(m));
	emit(arg, "min_free_kbytes", m->pa.min_free_kbytes);
	emit(arg, "events_next_id", events_next_id(m));
	/* Frames by owner, named like the dashboard legend: frames_free, frames_slab, ... */
	static const char *const frame_counter[] = {
	    "frames_free",    "frames_reserved", "frames_kernel",  "frames_slab",
	    "frames_pgtable", "frames_vmalloc",  "frames_anon",    "frames_file",
	    "frames_kstack",  "frames_zero",     "frames_kmalloc", "frames_driver",
	    "frames_hugetlb",
	};
	_Static_assert(sizeof(frame_counter) / sizeof(frame_counter[0]) == PT_NR_TYPES,
	               "one counter per page type");
	for (unsigned t = 0; t < PT_NR_TYPES; t++)
		emit(arg, frame_counter[t], by_type[t]);
	/* The event counters of /proc/vmstat, then vmsim's own (tlb_hit, cow_copy, ...). */
	for (unsigned i = 0; i < NR_VM_EVENT_ITEMS; i++)
		if (vm_event_names[i])
			emit(arg, vm_event_names[i], vm_event(m, (enum vm_event_item)i));
}

uint32_t query_tasks(const struct machine *m, struct query_task *out, uint32_t max)
{
	uint32_t n = task_count(m);
	for (uint32_t i = 0; i < n && i < max; i++) {
		const struct task_struct *t = task_at(m, i);
		struct query_task *q = &out[i];
		memset(q, 0, sizeof(*q));
		q->pid = t->pid;
		q->ppid = t->ppid;
		snprintf(q->comm, sizeof(q->comm), "%s", t->comm);
		q->state = t->state == TASK_VFORK ? 'D' : 'R';
		q->current = m->tasks.current == t->pid;
		q->min_flt = t->min_flt;
		q->maj_flt = t->maj_flt;
		q->nr_cow = t->nr_cow;
		q->rlimit_rss = t->rlimit_rss;
		q->oom_score_adj = t->oom_score_adj;
		if (t->mm) {
			q->total_vm = t->mm->total_vm;
			q->rss_anon = t->mm->rss[MM_ANONPAGES];
			q->rss_file = t->mm->rss[MM_FILEPAGES];
			q->rss = q->rss_anon + q->rss_file + t->mm->rss[MM_SHMEMPAGES];
			q->mm_users = (uint32_t)t->mm->mm_users;
		}
	}
	return n;
}

uint64_t query_max_pgtables_bytes(const struct machine *m)
{
	uint64_t most = 0;
	uint32_t n = task_count(m);
	for (uint32_t i = 0; i < n; i++) {
		const struct task_struct *t = task_at(m, i);
		if (t->mm && t->mm->pgtables_bytes > most)
			most = t->mm->pgtables_bytes;
	}
	return most;
}

_Static_assert(QUERY_WALK_LEVELS == PT_LEVELS_MAX, "one query step per page-table level");

enum vm_err query_translate(const struct machine *m, uint32_t pid, uint64_t va,
                            struct query_walk *out)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} bits[QUERY_PTE_FLAGS] = {
	    {_PAGE_PRESENT, "present"}, {_PAGE_RW, "rw"},
	    {_PAGE_USER, "user"},       {_PAGE_ACCESSED, "accessed"},
	    {_PAGE_DIRTY, "dirty"},     {_PAGE_PSE, "pse"},
	    {_PAGE_GLOBAL, "global"},   {_PAGE_COW, "cow"},
	    {_PAGE_SPECIAL, "special"}, {_PAGE_NX, "nx"},
	};
	struct walk_trace t;
	memset(out, 0, sizeof(*out));
	enum vm_err e = translate(m, pid, va, &t);
	if (e)
		return e;
	for (uint32_t i = 0; i < t.nr && i < PT_LEVELS_MAX; i++) {
		const struct walk_step *w = &t.step[i];
		struct query_walk_step *s = &out->step[out->nr++];
		s->level = pt_level_name(m, w->level);
		s->index = w->index;
		s->table_pfn = w->table_pfn;
		s->entry = w->entry;
		s->has_next = w->next_pfn != PFN_NONE;
		s->next_pfn = s->has_next ? w->next_pfn : 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(bits); i++)
		if (t.pte & bits[i].bit)
			out->flags[out->nr_flags++] = bits[i].name;
	out->present = t.fail_level < 0;
	out->phys = out->present ? t.phys : 0;
	out->pte = t.pte;
	out->missing_level = t.fail_level < 0 ? "" : pt_level_name(m, (unsigned)t.fail_level);
	out->direct_map = t.direct_map;
	return VM_OK;
}
