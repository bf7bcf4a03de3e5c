/*
 * Page reclaim (mm/vmscan.c, mm/swap.c, mm/oom_kill.c). Every user page (PT_ANON, PT_FILE)
 * sits on exactly one of the lruvec's lists; reclaim scans the inactive lists from the tail,
 * ages the active lists into them, writes dirty file pages back, swaps anon pages out and
 * frees what it can. kswapd runs (synchronously, as if on another CPU) when an allocation
 * finds a zone below its low watermark and works until every zone is above high; direct
 * reclaim runs in the allocating context when even min is not met.
 *
 * Policies for user pages (machine_config.policy):
 *   linux  two lists: a page used twice while inactive (PG_referenced, PTE young bits via
 *          page_referenced) is activated; the active list is aged into the inactive one
 *          when inactive is smaller (inactive_is_low).
 *   fifo   one list per kind, evict the oldest page; accesses change nothing.
 *   lru    every access (mark_page_accessed) moves the page to the head; evict the tail.
 *   clock  second chance: the tail page with its reference bit set gets the bit cleared
 *          and goes to the head (the hand moves on); the first page without it is evicted.
 */
#include "kernel.h"
#include "rmap.h"
#include "snapshot.h"

#include <stdio.h>
#include <string.h>

static const char *const vmscan_tmpl[] = {
    [EV_LRU_ADD & 0xff] = "lru_cache_add: pfn {A} to {s}",
    [EV_ACTIVATE & 0xff] = "activate_page: pfn {A} to {s} (referenced twice)",
    [EV_DEACTIVATE & 0xff] = "shrink_active_list: {a} pages scanned, {b} deactivated ({s})",
    [EV_KSWAPD_WAKE & 0xff] = "wakeup_kswapd: zone {s} free {a} below low watermark {b}",
    [EV_KSWAPD_DONE & 0xff] = "kswapd: balance_pgdat reclaimed {a} pages, scanned {b} ({s})",
    [EV_DIRECT_RECLAIM & 0xff] = "try_to_free_pages: order {a}, reclaimed {b} pages",
    [EV_SHRINK_LIST & 0xff] = "shrink_inactive_list: {s} scanned {a}, reclaimed {b}",
    [EV_RECLAIM_CLEAN & 0xff] = "shrink_page_list: pfn {A} clean {s} page freed",
    [EV_RECLAIM_DIRTY & 0xff] = "pageout: pfn {A} dirty {s} page written back, then freed",
    [EV_SWAP_OUT & 0xff] = "shrink_page_list: anon pfn {A} swapped out to entry {B}",
    [EV_KEEP & 0xff] = "shrink_page_list: pfn {A} kept ({s})",
    [EV_SCAN_COUNT & 0xff] = "get_scan_count: priority {a}, scan anon {b}, file {c}",
    [EV_DROP_CACHES & 0xff] = "drop_caches {a}: {b} page-cache pages freed",
    [EV_OOM_KILL & 0xff] = "Out of memory: Killed process {a} ({s}) total-vm:{b}kB, anon-rss:{c}kB",
    [EV_OOM_NONE & 0xff] = "out_of_memory: no killable task ({s})",
    [EV_RECLAIM_DONE & 0xff] = "reclaim: {a} pages reclaimed of {b} asked",
    [EV_TICK & 0xff] = "tick: {a} s since boot",
    [EV_SWAPPINESS & 0xff] = "vm.swappiness = {a} (was {b})",
    [EV_FLUSHER & 0xff] = "flusher: {a} dirty pages written back ({s})",
    [EV_RLIMIT_RECLAIM & 0xff] = "rlimit_rss: pid {a} at its limit of {b} pages, reclaim {c}",
};

const struct event_table vmscan_events = {9, vmscan_tmpl, ARRAY_SIZE(vmscan_tmpl)};

static const char *const lru_names[NR_LRU_LISTS] = {
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable",
};

#define SWAP_CLUSTER_MAX   32
#define DIRTY_EXPIRE_TICKS 30 /* dirty_expire_centisecs 3000: the flusher's period */

enum page_references {
	PAGEREF_RECLAIM,
	PAGEREF_KEEP,
	PAGEREF_ACTIVATE,
};

struct scan_control {
	uint64_t nr_to_reclaim;
	uint64_t nr_reclaimed;
	uint64_t nr_scanned;
	int priority;
	int is_kswapd;
	int reclaim_idx; /* highest zone whose pages may be taken (isolate_lru_pages) */
};

int vmscan_init(struct machine *m)
{
	struct vmscan_state *vs = &m->vmscan;
	memset(vs, 0, sizeof(*vs));
	for (int i = 0; i < NR_LRU_LISTS; i++)
		page_list_init(&vs->lru[i]);
	vs->swappiness = m->cfg.swappiness;
	return 0;
}

void vmscan_release(struct machine *m)
{
	(void)m;
}

enum lru_list page_lru(const struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if (p->flags & PG_unevictable)
		return LRU_UNEVICTABLE;
	enum lru_list base = page_type(p) == PT_FILE ? LRU_INACTIVE_FILE : LRU_INACTIVE_ANON;
	return base + ((p->flags & PG_active) ? 1 : 0);
}

static int is_file_lru(enum lru_list l)
{
	return l == LRU_INACTIVE_FILE || l == LRU_ACTIVE_FILE;
}

void lru_cache_add(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	p->flags &= (uint16_t) ~(PG_active | PG_referenced);
	p->flags |= PG_lru;
	enum lru_list l = page_lru(m, pfn);
	page_list_add(m->pa.mem_map, &m->vmscan.lru[l], pfn);
	ev_emit(m, EV_LRU_ADD, pfn, 0, 0, lru_names[l]);
}

void lru_cache_del(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_lru))
		return;
	page_list_del(m->pa.mem_map, &m->vmscan.lru[page_lru(m, pfn)], pfn);
	p->flags &= (uint16_t) ~(PG_lru | PG_active | PG_referenced);
}

/* Moves a page to the head of another list (or of its own). */
static void lru_move(struct machine *m, uint32_t pfn, uint16_t set, uint16_t clear)
{
	struct page *p = &m->pa.mem_map[pfn];
	page_list_del(m->pa.mem_map, &m->vmscan.lru[page_lru(m, pfn)], pfn);
	p->flags = (uint16_t)((p->flags | set) & ~clear);
	page_list_add(m->pa.mem_map, &m->vmscan.lru[page_lru(m, pfn)], pfn);
}

static void activate_page(struct machine *m, uint32_t pfn)
{
	lru_move(m, pfn, PG_active, PG_referenced);
	count_vm_event(m, PGACTIVATE);
	ev_emit(m, EV_ACTIVATE, pfn, 0, 0, lru_names[page_lru(m, pfn)]);
}

void mark_page_accessed(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_lru) || (p->flags & PG_unevictable))
		return;
	switch (m->cfg.policy) {
	case POLICY_FIFO:
		return;
	case POLICY_LRU:
		lru_move(m, pfn, 0, 0);
		return;
	case POLICY_CLOCK:
		p->flags |= PG_referenced;
		return;
	case POLICY_LINUX:
		/* mm/swap.c: inactive,unreferenced -> inactive,referenced -> active */
		if (!(p->flags & PG_active) && (p->flags & PG_referenced))
			activate_page(m, pfn);
		else
			p->flags |= PG_referenced;
		return;
	}
}

/* page_check_references() for the Linux policy, the reference bit for CLOCK. */
static enum page_references page_check_references(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	int referenced_page = !!(p->flags & PG_referenced);
	switch (m->cfg.policy) {
	case POLICY_FIFO:
	case POLICY_LRU:
		return PAGEREF_RECLAIM;
	case POLICY_CLOCK:
		p->flags &= (uint16_t)~PG_referenced;
		return referenced_page ? PAGEREF_KEEP : PAGEREF_RECLAIM;
	case POLICY_LINUX:
		break;
	}
	int referenced_ptes = page_mapcount(m, pfn) ? page_referenced(m, pfn) : 0;
	p->flags &= (uint16_t)~PG_referenced;
	if (referenced_ptes) {
		/* used since the last scan: a page used twice (or by two PTEs) is active */
		if (referenced_page || referenced_ptes > 1)
			return PAGEREF_ACTIVATE;
		p->flags |= PG_referenced;
		return PAGEREF_KEEP;
	}
	/* An unmapped file page read twice is reclaimed only if clean (PAGEREF_RECLAIM_CLEAN);
	 * vmsim writes it back first, so it behaves as RECLAIM. */
	return PAGEREF_RECLAIM;
}

/* The page goes back to the buddy allocator once no list, mapping or cache holds it. */
static void free_reclaimed(struct machine *m, uint32_t pfn)
{
	lru_cache_del(m, pfn);
	m->pa.mem_map[pfn].refcount = 0;
	m->pa.mem_map[pfn].private = 0;
	__free_pages(m, pfn, 0);
}

/*
 * Anon page out, as shrink_page_list does it: a page not yet in the swap cache gets a slot
 * (add_to_swap, dirty); every PTE becomes a swap PTE naming the slot (try_to_unmap); a dirty
 * page is written (pageout: pswpout); then __remove_mapping takes it out of the swap cache and
 * frees it. A clean swap-cache page (swapped in and not written since) has its data in the
 * slot already: it is freed without I/O. The slot keeps one count per swap PTE.
 */
static int pageout_anon(struct machine *m, uint32_t pfn, enum page_references *ref)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_swapcache) && !add_to_swap(m, pfn)) {
		*ref = PAGEREF_ACTIVATE; /* no swap space: keep it in memory */
		return 0;
	}
	if (page_mapcount(m, pfn) && try_to_unmap(m, pfn)) {
		*ref = PAGEREF_ACTIVATE;
		return 0;
	}
	if (p->flags & PG_dirty) {
		ev_emit(m, EV_SWAP_OUT, pfn, p->private, 0, NULL);
		swap_writepage(m, pfn);
	} else {
		ev_emit(m, EV_RECLAIM_CLEAN, pfn, 0, 0, "swap-cache");
	}
	p->refcount++; /* isolate_lru_page's reference, given up by free_reclaimed */
	delete_from_swap_cache(m, pfn);
	free_reclaimed(m, pfn);
	return 1;
}

/*
 * activate_locked: in shrink_page_list: a swap-cache page that stays in memory gives its slot
 * back when swap is more than half full ("Not a candidate for swapping, so reclaim swap space").
 */
static void activate_locked(struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if ((p->flags & PG_swapcache) && page_mapcount(m, pfn) && vm_swap_full(m))
		try_to_free_swap(m, pfn, "vm_swap_full");
}

/* Tries to free one inactive page. Returns 1 when freed, else sets *ref to where it goes. */
static int shrink_page(struct machine *m, uint32_t pfn, enum page_references *ref)
{
	struct page *p = &m->pa.mem_map[pfn];
	*ref = page_check_references(m, pfn);
	if (*ref != PAGEREF_RECLAIM) {
		if (*ref == PAGEREF_ACTIVATE)
			activate_locked(m, pfn);
		return 0;
	}
	if (page_type(p) == PT_ANON) {
		int freed = pageout_anon(m, pfn, ref);
		if (!freed)
			activate_locked(m, pfn);
		return freed;
	}
	if (page_mapcount(m, pfn)) {
		if (try_to_unmap(m, pfn)) {
			*ref = PAGEREF_ACTIVATE;
			return 0;
		}
	}
	int dirty = !!(p->flags & PG_dirty);
	if (dirty) {
		filemap_writepage(m, pfn); /* pageout() */
		m->vmscan.nr_vmscan_write++;
	}
	ev_emit(m, dirty ? EV_RECLAIM_DIRTY : EV_RECLAIM_CLEAN, pfn, 0, 0, "file");
	filemap_remove_page(m, pfn);
	free_reclaimed(m, pfn);
	return 1;
}

static void put_back(struct machine *m, uint32_t pfn, enum page_references ref);

static int can_reclaim_anon_pages(const struct machine *m)
{
	return nr_swap_pages(m) > 0;
}

static int pte_maps(const struct machine *m, const struct mm_struct *mm, uint64_t va, uint32_t pfn)
{
	struct pte_ref ref;
	if (pt_lookup(m, mm, va, &ref, NULL))
		return 0;
	uint64_t pte = pt_read(m, ref.tpfn, ref.idx);
	return pte_present(pte) && pte_pfn(m, pte) == pfn;
}

/* Is pfn mapped in mm? Anon pages by their vpn (each candidate of each VMA), file pages by
 * offset. */
static int page_in_mm(const struct machine *m, uint32_t pfn, const struct mm_struct *mm)
{
	int anon = page_type(&m->pa.mem_map[pfn]) == PT_ANON;
	uint32_t priv = anon ? page_anon_index(m, pfn) : m->pa.mem_map[pfn].private;
	for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
		if (anon != !v->vm_file || (v->vm_flags & VM_MIXEDMAP))
			continue;
		if (anon) {
			for (uint64_t idx = anon_index_in_vma(v, priv); idx != UINT64_MAX;
			     idx = anon_next_index(v, idx))
				if (pte_maps(m, mm, idx << PAGE_SHIFT, pfn))
					return 1;
			continue;
		}
		uint64_t pgoff = priv & FILE_PGOFF_MASK;
		if (v->vm_file != priv >> FILE_PGOFF_BITS || pgoff < v->vm_pgoff)
			continue;
		uint64_t va = v->vm_start + ((pgoff - v->vm_pgoff) << PAGE_SHIFT);
		if (va < v->vm_end && pte_maps(m, mm, va, pfn))
			return 1;
	}
	return 0;
}

/*
 * One page of mm out, by the machine's policy: its oldest inactive page first. Anon pages only
 * when there is swap to put them in (get_scan_count's SCAN_FILE, as for global reclaim):
 * without it they are neither scanned nor aged, and each fault over the limit would otherwise
 * walk every anon page of the machine four times for nothing.
 */
static int reclaim_mm_page(struct machine *m, const struct mm_struct *mm)
{
	enum lru_list first = can_reclaim_anon_pages(m) ? LRU_INACTIVE_ANON : LRU_INACTIVE_FILE;
	for (int pass = 0; pass < 4; pass++) {
		for (enum lru_list l = first; l <= LRU_INACTIVE_FILE; l += 2) {
			struct page_list *list = &m->vmscan.lru[l];
			uint64_t budget = list->nr;
			for (uint32_t pfn = list->tail; pfn != PFN_NONE && budget--;) {
				uint32_t prev = m->pa.mem_map[pfn].prev;
				if (page_in_mm(m, pfn, mm)) {
					enum page_references ref;
					count_vm_event(m, PGSCAN_DIRECT);
					if (shrink_page(m, pfn, &ref)) {
						count_vm_event(m, PGSTEAL_DIRECT);
						return 1;
					}
					put_back(m, pfn, ref);
				}
				pfn = prev;
			}
			/* nothing inactive left of mm: age its active pages (Linux policy) */
			struct page_list *act = &m->vmscan.lru[l + 1];
			for (uint32_t pfn = act->tail, n = 0; pfn != PFN_NONE && n < act->nr; n++) {
				uint32_t prev = m->pa.mem_map[pfn].prev;
				if (page_in_mm(m, pfn, mm))
					lru_move(m, pfn, 0, PG_active | PG_referenced);
				pfn = prev;
			}
		}
	}
	return 0;
}

void enforce_rlimit_rss(struct machine *m, struct task_struct *t)
{
	if (!t->rlimit_rss || !t->mm || get_mm_rss(t->mm) < t->rlimit_rss)
		return;
	ev_emit(m, EV_RLIMIT_RECLAIM, t->pid, t->rlimit_rss, 1, NULL);
	while (get_mm_rss(t->mm) >= t->rlimit_rss)
		if (!reclaim_mm_page(m, t->mm))
			break; /* nothing of it can go (no swap): it runs over its limit */
}

static void put_back(struct machine *m, uint32_t pfn, enum page_references ref)
{
	if (ref == PAGEREF_ACTIVATE && m->cfg.policy == POLICY_LINUX) {
		activate_page(m, pfn);
		return;
	}
	lru_move(m, pfn, 0, 0); /* rotate: the clock hand moves past it */
	if (ref == PAGEREF_KEEP)
		ev_emit(m, EV_KEEP, pfn, 0, 0, "referenced: second chance");
}

static uint64_t shrink_inactive_list(struct machine *m, enum lru_list l, uint64_t nr_to_scan,
                                     struct scan_control *sc)
{
	struct page_list *list = &m->vmscan.lru[l];
	uint64_t scanned = 0, reclaimed = 0;
	while (scanned < nr_to_scan && list->nr && sc->nr_reclaimed < sc->nr_to_reclaim) {
		uint32_t pfn = list->tail;
		enum page_references ref;
		scanned++;
		int zi = (int)(page_zone(m, pfn) - m->pa.zones);
		if (zi > sc->reclaim_idx) { /* a zone that needs nothing: skip it, keep its age */
			count_vm_event(m, PGSKIP_DMA + zi);
			lru_move(m, pfn, 0, 0);
			continue;
		}
		if (shrink_page(m, pfn, &ref)) {
			reclaimed++;
			sc->nr_reclaimed++;
		} else {
			put_back(m, pfn, ref);
		}
	}
	int file = is_file_lru(l);
	count_vm_events(m, sc->is_kswapd ? PGSCAN_KSWAPD : PGSCAN_DIRECT, scanned);
	count_vm_events(m, sc->is_kswapd ? PGSTEAL_KSWAPD : PGSTEAL_DIRECT, reclaimed);
	count_vm_events(m, file ? PGSCAN_FILE : PGSCAN_ANON, scanned);
	count_vm_events(m, file ? PGSTEAL_FILE : PGSTEAL_ANON, reclaimed);
	sc->nr_scanned += scanned;
	if (scanned)
		ev_emit(m, EV_SHRINK_LIST, scanned, reclaimed, 0, lru_names[l]);
	return reclaimed;
}

/* Ages the active list: its oldest pages go to the head of the inactive list. */
static void shrink_active_list(struct machine *m, enum lru_list l, uint64_t nr_to_scan)
{
	struct page_list *list = &m->vmscan.lru[l];
	uint64_t scanned = 0;
	while (scanned < nr_to_scan && list->nr) {
		uint32_t pfn = list->tail;
		if (page_mapcount(m, pfn))
			page_referenced(m,
			                pfn); /* the young bits start over on the inactive list */
		lru_move(m, pfn, 0, PG_active | PG_referenced);
		scanned++;
	}
	count_vm_events(m, PGREFILL, scanned);
	count_vm_events(m, PGDEACTIVATE, scanned);
	if (scanned)
		ev_emit(m, EV_DEACTIVATE, scanned, scanned, 0, lru_names[l]);
}

static uint64_t int_sqrt64(uint64_t x)
{
	uint64_t r = 0;
	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

/* inactive_is_low(): inactive * inactive_ratio < active, ratio = sqrt(10 * GiB of LRU). */
static int inactive_is_low(const struct machine *m, enum lru_list inactive)
{
	uint64_t in = m->vmscan.lru[inactive].nr, act = m->vmscan.lru[inactive + 1].nr;
	uint64_t gb = (in + act) >> (30 - PAGE_SHIFT);
	uint64_t ratio = gb ? int_sqrt64(10 * gb) : 1;
	return in * ratio < act;
}

/*
 * get_scan_count(): how many pages of each list to look at this round. Anon and file are
 * weighed by swappiness (anon gets swappiness, file 200 - swappiness, the pre-5.9 split
 * without the rotation feedback). With no swap, only file pages are scanned.
 */
static void get_scan_count(struct machine *m, int priority, uint64_t nr[NR_LRU_LISTS])
{
	const struct vmscan_state *vs = &m->vmscan;
	uint64_t ap = vs->swappiness, fp = 200 - vs->swappiness;
	int anon_ok = can_reclaim_anon_pages(m);
	uint64_t file = vs->lru[LRU_INACTIVE_FILE].nr + vs->lru[LRU_ACTIVE_FILE].nr;
	if (!anon_ok) {
		ap = 0;
		fp = 1;
	} else if (!file) {
		ap = 1;
		fp = 0;
	} else if (priority == 0 && ap) {
		ap = fp = 1; /* SCAN_EQUAL when nothing else worked */
	}
	for (int l = 0; l < LRU_UNEVICTABLE; l++) {
		uint64_t size = vs->lru[l].nr;
		uint64_t scan = size >> priority;
		if (scan < SWAP_CLUSTER_MAX)
			scan = size < SWAP_CLUSTER_MAX ? size : SWAP_CLUSTER_MAX;
		uint64_t num = is_file_lru(l) ? fp : ap;
		nr[l] = ap + fp ? scan * num / (ap + fp) : 0;
		if (num && !nr[l] && size)
			nr[l] = 1;
	}
	ev_emit(m, EV_SCAN_COUNT, priority, nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON],
	        nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE], NULL);
}

static void shrink_lruvec(struct machine *m, struct scan_control *sc)
{
	uint64_t nr[NR_LRU_LISTS];
	get_scan_count(m, sc->priority, nr);
	for (enum lru_list in = LRU_INACTIVE_ANON; in <= LRU_INACTIVE_FILE; in += 2) {
		if (!nr[in] && !nr[in + 1])
			continue;
		if (m->cfg.policy == POLICY_LINUX && inactive_is_low(m, in))
			shrink_active_list(m, in + 1, nr[in + 1]);
		shrink_inactive_list(m, in, nr[in], sc);
		if (sc->nr_reclaimed >= sc->nr_to_reclaim)
			return;
	}
}

static uint64_t shrink_node_idx(struct machine *m, uint64_t nr, int is_kswapd, int reclaim_idx)
{
	struct scan_control sc = {
	    .nr_to_reclaim = nr, .is_kswapd = is_kswapd, .reclaim_idx = reclaim_idx};
	for (sc.priority = DEF_PRIORITY; sc.priority >= 0; sc.priority--) {
		shrink_lruvec(m, &sc);
		if (sc.nr_reclaimed >= sc.nr_to_reclaim)
			break;
	}
	return sc.nr_reclaimed;
}

uint64_t shrink_node(struct machine *m, uint64_t nr, int is_kswapd)
{
	return shrink_node_idx(m, nr, is_kswapd, MAX_NR_ZONES - 1);
}

/* The highest zone below the mark, or -1: kswapd reclaims from it and the zones below it. */
static int highest_zone_below(const struct machine *m, int wmark)
{
	for (int z = MAX_NR_ZONES - 1; z >= 0; z--) {
		const struct zone *zone = &m->pa.zones[z];
		if (zone_populated(zone) && zone->free_pages < zone->watermark[wmark])
			return z;
	}
	return -1;
}

static int zone_below(const struct machine *m, int wmark)
{
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (zone_populated(zone) && zone->free_pages < zone->watermark[wmark])
			return z;
	}
	return -1;
}

/* How far the neediest zone is below the mark, in pages. */
static uint64_t pages_below(const struct machine *m, int wmark)
{
	uint64_t need = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++) {
		const struct zone *zone = &m->pa.zones[z];
		if (zone_populated(zone) && zone->free_pages < zone->watermark[wmark])
			need += zone->watermark[wmark] - zone->free_pages;
	}
	return need;
}

/* balance_pgdat(): reclaim in SWAP_CLUSTER_MAX batches until every zone is above high. */
static uint64_t balance_pgdat(struct machine *m)
{
	uint64_t total = 0, scanned0 = vm_event(m, PGSCAN_KSWAPD);
	count_vm_event(m, PAGEOUTRUN);
	m->vmscan.kswapd_runs++;
	for (int z; (z = highest_zone_below(m, WMARK_HIGH)) >= 0;) {
		uint64_t need = pages_below(m, WMARK_HIGH);
		uint64_t got =
		    shrink_node_idx(m, need < SWAP_CLUSTER_MAX ? need : SWAP_CLUSTER_MAX, 1, z);
		total += got;
		if (!got)
			break;
	}
	ev_emit(m, EV_KSWAPD_DONE, total, vm_event(m, PGSCAN_KSWAPD) - scanned0, 0,
	        zone_below(m, WMARK_HIGH) < 0 ? "all zones above high" : "nothing reclaimable");
	return total;
}

/*
 * Pages reclaim could look at. With none, kswapd and direct reclaim return at once and change
 * nothing, so an allocation that then fails leaves the machine exactly as it was.
 */
static uint64_t nr_evictable(const struct machine *m)
{
	uint64_t n = 0;
	for (int l = 0; l < LRU_UNEVICTABLE; l++)
		n += m->vmscan.lru[l].nr;
	return n;
}

uint64_t wakeup_kswapd(struct machine *m, unsigned order, uint32_t gfp)
{
	(void)order;
	(void)gfp;
	int z = zone_below(m, WMARK_LOW);
	if (z < 0 || !nr_evictable(m))
		return 0;
	const struct zone *zone = &m->pa.zones[z];
	ev_emit(m, EV_KSWAPD_WAKE, zone->free_pages, zone->watermark[WMARK_LOW], 0, zone->name);
	return balance_pgdat(m);
}

/*
 * oom_badness(): what killing t would give back, in pages: its RSS, its swap entries and its
 * page tables, moved by oom_score_adj in thousandths of all memory. -1000 is never killed.
 */
static int64_t oom_badness(const struct machine *m, const struct task_struct *t)
{
	if (!t->mm || t->oom_score_adj <= -1000)
		return INT64_MIN;
	const struct mm_struct *mm = t->mm;
	int64_t points =
	    (int64_t)(get_mm_rss(mm) + mm->rss[MM_SWAPENTS] + mm->pgtables_bytes / PAGE_SIZE);
	int64_t totalpages = (int64_t)(m->pa.totalram_pages + total_swap_pages(m));
	return points + (int64_t)t->oom_score_adj * totalpages / 1000;
}

/*
 * out_of_memory(): reclaim found nothing, so the task with the highest badness dies
 * (SIGKILL) and its memory goes back. The running task is left to its fault path, which
 * kills it itself when it is the worst (its mm is in use by the fault). Ties go to the
 * lowest pid, as the task list is sorted by pid.
 */
static uint64_t out_of_memory(struct machine *m)
{
	const struct task_struct *cur = find_task(m, m->tasks.current);
	int64_t cur_points = cur ? oom_badness(m, cur) : INT64_MIN;
	struct task_struct *victim = NULL;
	int64_t best = INT64_MIN;
	for (uint32_t i = 0; i < task_count(m); i++) {
		struct task_struct *t = (struct task_struct *)task_at(m, i);
		if (cur && t->mm == cur->mm)
			continue;
		int64_t p = oom_badness(m, t);
		if (p > best) {
			best = p;
			victim = t;
		}
	}
	if (!victim || best == INT64_MIN || best < cur_points) {
		ev_emit(m, EV_OOM_NONE, 0, 0, 0,
		        victim ? "the running task is the worst" : "no task");
		return 0;
	}
	uint64_t before = nr_free_pages(m);
	const struct mm_struct *mm = victim->mm;
	ev_emit(m, EV_OOM_KILL, victim->pid, mm->total_vm << (PAGE_SHIFT - 10),
	        mm->rss[MM_ANONPAGES] << (PAGE_SHIFT - 10), victim->comm);
	count_vm_event(m, OOM_KILL);
	do_exit(m, victim, 137, "SIGKILL (OOM killer)");
	return nr_free_pages(m) - before;
}

uint64_t try_to_free_pages(struct machine *m, unsigned order, uint32_t gfp)
{
	(void)gfp;
	if (!nr_evictable(m))
		return 0;
	int z = zone_below(m, WMARK_MIN);
	count_vm_event(m, ALLOCSTALL_DMA + (z < 0 ? ZONE_NORMAL : z));
	uint64_t want = (1ull << order) > SWAP_CLUSTER_MAX ? 1ull << order : SWAP_CLUSTER_MAX;
	uint64_t got = shrink_node(m, want, 0);
	ev_emit(m, EV_DIRECT_RECLAIM, order, got, 0, NULL);
	/* user memory (page faults, the page cache) may kill for room; kernel callers fail */
	if (!got && (gfp & __GFP_HIGHMEM))
		got = out_of_memory(m);
	return got;
}

static uint64_t drop_mapping(struct machine *m, struct sim_file *f)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < f->cap && f->nrpages; i++) {
		uint32_t pfn = f->pages[i];
		if (pfn == PFN_NONE)
			continue;
		const struct page *p = &m->pa.mem_map[pfn];
		if ((p->flags & (PG_dirty | PG_writeback)) || p->refcount > 1)
			continue; /* invalidate_mapping_pages skips dirty, mapped and busy pages */
		lru_cache_del(m, pfn);
		filemap_remove_page(m, pfn);
		__free_pages(m, pfn, 0);
		n++;
	}
	return n;
}

uint64_t drop_pagecache(struct machine *m)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < m->filemap.nr_slots; i++)
		if (m->filemap.files[i].ino)
			n += drop_mapping(m, &m->filemap.files[i]);
	return n + drop_mapping(m, &m->filemap.bdev);
}

/* The flusher threads: every dirty_expire interval, all dirty data goes to disk. */
static void wb_workfn(struct machine *m)
{
	if (m->vmscan.ticks % DIRTY_EXPIRE_TICKS || !m->filemap.nr_dirty)
		return;
	uint64_t n = filemap_sync(m, 0);
	ev_emit(m, EV_FLUSHER, n, 0, 0, "dirty_expire_centisecs");
}

static enum vm_err op_tick(struct machine *m, uint64_t n, struct op_result *res)
{
	if (n == 0 || n > 1000000)
		return op_fail(res, VM_EINVAL, "tick count must be 1..1000000 (got %llu)",
		               (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		m->vmscan.ticks++;
		wb_workfn(m);
		if (zone_below(m, WMARK_LOW) >= 0)
			res->value += wakeup_kswapd(m, 0, GFP_KERNEL);
	}
	ev_emit(m, EV_TICK, m->vmscan.ticks, 0, 0, NULL);
	return VM_OK;
}

enum vm_err vmscan_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_RECLAIM: {
		uint64_t nr = op->u.reclaim.nr_pages;
		if (nr == 0 || nr > m->pa.nr_frames)
			return op_fail(res, VM_EINVAL,
			               "pages to reclaim must be 1..%llu (the machine's frames)",
			               (unsigned long long)m->pa.nr_frames);
		res->value = shrink_node(m, nr, 0);
		ev_emit(m, EV_RECLAIM_DONE, res->value, nr, 0, NULL);
		return VM_OK;
	}
	case OP_DROP_CACHES: {
		uint32_t mode = op->u.reclaim.mode;
		if (mode < 1 || mode > 3)
			return op_fail(res, VM_EINVAL,
			               "drop_caches mode must be 1 (page cache), 2 (slab) or 3 "
			               "(both), got %u",
			               mode);
		if (mode & 1) {
			res->value = drop_pagecache(m);
			count_vm_event(m, DROP_PAGECACHE);
		}
		if (mode & 2)
			count_vm_event(m, DROP_SLAB);
		ev_emit(m, EV_DROP_CACHES, mode, res->value, 0, NULL);
		return VM_OK;
	}
	case OP_TICK:
		return op_tick(m, op->u.tick.n, res);
	case OP_SET_SWAPPINESS: {
		uint32_t v = op->u.sysctl.value;
		if (v > 200)
			return op_fail(res, VM_EINVAL, "swappiness must be 0..200, got %u", v);
		ev_emit(m, EV_SWAPPINESS, v, m->vmscan.swappiness, 0, NULL);
		res->value = m->vmscan.swappiness;
		m->vmscan.swappiness = v;
		return VM_OK;
	}
	default:
		return op_fail(res, VM_EINVAL, "unknown reclaim op %#x", op->kind);
	}
}

static int check_fail(char *buf, size_t len, const char *fmt, unsigned long long a, const char *s)
{
	snprintf(buf, len, fmt, a, s);
	return -1;
}

/* Every list is well linked and holds only pages that belong on it; every user page is on one. */
int vmscan_check(const struct machine *m, char *buf, size_t len)
{
	const struct page *map = m->pa.mem_map;
	uint64_t on_lists = 0, user = 0;
	for (int l = 0; l < NR_LRU_LISTS; l++) {
		const struct page_list *list = &m->vmscan.lru[l];
		uint64_t n = 0;
		uint32_t prev = PFN_NONE;
		for (uint32_t pfn = list->head; pfn != PFN_NONE; pfn = map[pfn].next) {
			if (pfn >= m->pa.nr_frames || n > list->nr)
				return check_fail(buf, len,
				                  "broken link at pfn %#llx of the %s list", pfn,
				                  lru_names[l]);
			enum page_type t = page_type(&map[pfn]);
			if ((t != PT_ANON && t != PT_FILE) || !(map[pfn].flags & PG_lru) ||
			    page_lru(m, pfn) != (enum lru_list)l || map[pfn].prev != prev)
				return check_fail(buf, len, "pfn %#llx does not belong on %s", pfn,
				                  lru_names[l]);
			prev = pfn;
			n++;
		}
		if (n != list->nr || list->tail != prev)
			return check_fail(buf, len,
			                  "%llu pages found on the %s list, its count differs", n,
			                  lru_names[l]);
		on_lists += n;
	}
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		enum page_type t = page_type(&map[pfn]);
		if (t != PT_ANON && t != PT_FILE)
			continue;
		user++;
		if (!(map[pfn].flags & PG_lru))
			return check_fail(buf, len, "user pfn %#llx is on no LRU list%s", pfn, "");
	}
	if (user != on_lists)
		return check_fail(buf, len,
		                  "%llu user pages but the LRU lists hold a different "
		                  "number%s",
		                  user, "");
	if (m->vmscan.swappiness > 200)
		return check_fail(buf, len, "swappiness %llu out of range%s", m->vmscan.swappiness,
		                  "");
	return 0;
}

void vmscan_save(const struct machine *m, struct snap_writer *w)
{
	const struct vmscan_state *vs = &m->vmscan;
	snap_put_tag(w, "SCAN");
	for (int l = 0; l < NR_LRU_LISTS; l++) {
		snap_put_u32(w, vs->lru[l].head);
		snap_put_u32(w, vs->lru[l].tail);
		snap_put_u64(w, vs->lru[l].nr);
	}
	snap_put_u32(w, vs->swappiness);
	snap_put_u64(w, vs->ticks);
	snap_put_u64(w, vs->kswapd_runs);
	snap_put_u64(w, vs->nr_vmscan_write);
}

int vmscan_load(struct machine *m, struct snap_reader *r)
{
	struct vmscan_state *vs = &m->vmscan;
	if (snap_expect_tag(r, "SCAN"))
		return -1;
	for (int l = 0; l < NR_LRU_LISTS; l++) {
		vs->lru[l].head = snap_get_u32(r);
		vs->lru[l].tail = snap_get_u32(r);
		vs->lru[l].nr = snap_get_u64(r);
	}
	vs->swappiness = snap_get_u32(r);
	if (vs->swappiness > 200)
		return snap_fail(r, "swappiness %u out of range", vs->swappiness);
	vs->ticks = snap_get_u64(r);
	vs->kswapd_runs = snap_get_u64(r);
	vs->nr_vmscan_write = snap_get_u64(r);
	return r->err ? -1 : 0;
}
