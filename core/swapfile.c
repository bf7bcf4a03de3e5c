/*
 * Swap areas, slots and the swap cache (mm/swapfile.c, mm/swap_state.c, mm/page_io.c).
 * mkswap formats a file (made by dd, i.e. OP_FILE_CREATE/WRITE) or a partition-like area
 * ("/dev/..."); swapon makes it usable with a priority (automatic ones count down from -2 as
 * in the kernel); slots are handed out from the highest-priority area, round-robin among
 * equal priorities. swap_map[slot] counts the PTEs naming the slot, plus SWAP_HAS_CACHE
 * while a page for it is in the swap cache.
 *
 * The swap cache (mm/swap_state.c) as Linux keeps it: an anon page stays in it, with its slot
 * still allocated, for as long as the copy in the slot equals the page, so a clean page can be
 * reclaimed again without writing it and a second fault on the slot finds it (minor fault).
 * page->private holds the swap entry while the page is in the cache (as set_page_private does);
 * the page's index (its vpn, which rmap needs) waits in si->index[] beside cache[].
 *
 *   mapped anon --add_to_swap--> swapcache, dirty --try_to_unmap: PTEs become swap PTEs,
 *     swap_duplicate each--> --pageout: swap_writepage (pswpout)--> clean
 *     --__remove_mapping: delete_from_swap_cache--> freed; the slot keeps its PTE count
 *   swap PTE --do_swap_page: swap_readpage (pswpin) into a new page, add_to_swap_cache-->
 *     swapcache, mapped read-only, swap_free(entry): the slot stays, SwapCached counts it
 *   swapcache page leaves the cache (try_to_free_swap: slot freed, page dirty) when
 *     - it is written: do_swap_page on a write fault, or do_wp_page (wp_can_reuse_anon_folio),
 *       once no other swap PTE names the slot;
 *     - swap is more than half full (vm_swap_full) at swap-in or when reclaim activates it;
 *     - its last user goes: free_swap_and_cache (a zapped swap PTE) and free_swap_cache
 *       (a zapped mapping) when the page is no longer mapped;
 *     - swapoff takes the area away (try_to_unuse).
 *   reclaim of a clean swapcache page: unmap, no write (pswpout unchanged), free.
 */
#include "kernel.h"
#include "rmap.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const swapfile_tmpl[] = {
    [EV_MKSWAP & 0xff] = "mkswap {s}: Setting up swapspace version 1, size = {a} bytes",
    [EV_SWAPON & 0xff] = "swapon {s}: Adding {a}k swap, priority {b}",
    [EV_SWAPOFF & 0xff] = "swapoff {s}: {a}k swap removed",
    [EV_SWAPOFF_UNUSE & 0xff] = "try_to_unuse: {a} pages brought back from {s}",
    [EV_GET_SWAP_PAGE & 0xff] = "get_swap_page: slot {b} of {s} (entry {A})",
    [EV_SWAP_FULL & 0xff] = "get_swap_page: no free swap slot ({s})",
    [EV_SWAP_WRITEPAGE & 0xff] = "swap_writepage: pfn {A} to entry {B}",
    [EV_SWAP_READPAGE & 0xff] = "swap_readpage: entry {B} into pfn {A}",
    [EV_SWAP_FREE & 0xff] = "swap_free: entry {A} released",
    [EV_SWAPCACHE_HIT & 0xff] = "lookup_swap_cache: entry {B} found at pfn {A}",
    [EV_FREE_SWAP & 0xff] =
        "try_to_free_swap: pfn {A} leaves the swap cache, entry {B} freed ({s})",
};

const struct event_table swapfile_events = {8, swapfile_tmpl, ARRAY_SIZE(swapfile_tmpl)};

#define SWAP_MIN_PAGES 10 /* mkswap refuses areas smaller than 10 pages */
#define SWAP_PRIO_MAX  32767

int swapfile_init(struct machine *m)
{
	memset(&m->swap, 0, sizeof(m->swap));
	m->swap.least_priority = -1;
	return 0;
}

static void area_free_maps(struct swap_info_struct *si)
{
	free(si->swap_map);
	free(si->cache);
	free(si->index);
	si->swap_map = NULL;
	si->cache = NULL;
	si->index = NULL;
}

void swapfile_release(struct machine *m)
{
	for (int i = 0; i < MAX_SWAPFILES; i++)
		area_free_maps(&m->swap.si[i]);
}

static int area_active(const struct swap_info_struct *si)
{
	return (si->flags & SWP_WRITEOK) != 0;
}

uint64_t total_swap_pages(const struct machine *m)
{
	uint64_t n = 0;
	for (int i = 0; i < MAX_SWAPFILES; i++)
		if (area_active(&m->swap.si[i]))
			n += m->swap.si[i].pages - 1;
	return n;
}

uint64_t nr_swap_pages(const struct machine *m)
{
	uint64_t n = 0;
	for (int i = 0; i < MAX_SWAPFILES; i++) {
		const struct swap_info_struct *si = &m->swap.si[i];
		if (area_active(si))
			n += si->pages - 1 - si->inuse_pages;
	}
	return n;
}

int vm_swap_full(const struct machine *m)
{
	return nr_swap_pages(m) * 2 < total_swap_pages(m);
}

static struct swap_info_struct *find_area(struct machine *m, const char *name)
{
	for (int i = 0; i < MAX_SWAPFILES; i++)
		if ((m->swap.si[i].flags & SWP_USED) && strcmp(m->swap.si[i].name, name) == 0)
			return &m->swap.si[i];
	return NULL;
}

static enum vm_err check_name(const char *name, struct op_result *res)
{
	size_t len = strnlen(name, NAME_LEN);
	if (len == 0 || len == NAME_LEN || name[0] != '/')
		return op_fail(res, VM_EINVAL,
		               "swap area must be an absolute path of 1..%d characters (a file "
		               "made with dd, or /dev/...)",
		               NAME_LEN - 1);
	return VM_OK;
}

/* mkswap: writes the swap header; the area is usable after swapon. */
static enum vm_err do_mkswap(struct machine *m, const struct op *op, struct op_result *res)
{
	const char *name = op->u.swap.name;
	uint64_t size = op->u.swap.size;
	if (check_name(name, res))
		return VM_EINVAL;
	const struct sim_file *f = filemap_lookup_name(m, name);
	int partition = strncmp(name, "/dev/", 5) == 0;
	if (f) {
		if (size && size != f->size)
			return op_fail(res, VM_EINVAL,
			               "%s is %llu bytes: give size 0 or its size to mkswap", name,
			               (unsigned long long)f->size);
		size = f->size;
	} else if (!partition) {
		return op_fail(res, VM_ENOENT,
		               "%s does not exist: create it first (dd if=/dev/zero of=%s ...)",
		               name, name);
	}
	if (size / PAGE_SIZE < SWAP_MIN_PAGES || size > SWAP_AREA_MAX)
		return op_fail(res, VM_EINVAL,
		               "swap area size must be 40 KiB .. 16 GiB (got %llu bytes)",
		               (unsigned long long)size);
	struct swap_info_struct *si = find_area(m, name);
	if (si && area_active(si))
		return op_fail(res, VM_EBUSY, "%s is in use as swap: swapoff it first", name);
	if (!si) {
		for (int i = 0; i < MAX_SWAPFILES && !si; i++)
			if (!(m->swap.si[i].flags & SWP_USED))
				si = &m->swap.si[i];
		if (!si)
			return op_fail(res, VM_ENOSPC, "all %d swap areas are taken",
			               MAX_SWAPFILES);
	}
	memset(si, 0, sizeof(*si));
	snprintf(si->name, sizeof(si->name), "%s", name);
	si->flags = SWP_USED | (f ? 0 : SWP_PARTITION);
	si->ino = f ? f->ino : 0;
	si->pages = (uint32_t)(size / PAGE_SIZE);
	res->value = (uint64_t)(si->pages - 1) * PAGE_SIZE;
	res->value2 = si->pages - 1;
	ev_emit(m, EV_MKSWAP, res->value, si->pages - 1, 0, name);
	return VM_OK;
}

static enum vm_err do_swapon(struct machine *m, const struct op *op, struct op_result *res)
{
	const char *name = op->u.swap.name;
	int32_t prio = op->u.swap.prio;
	if (check_name(name, res))
		return VM_EINVAL;
	struct swap_info_struct *si = find_area(m, name);
	if (!si)
		return op_fail(res, filemap_lookup_name(m, name) ? VM_EINVAL : VM_ENOENT,
		               "%s: no swap signature: run mkswap first", name);
	if (area_active(si))
		return op_fail(res, VM_EBUSY, "%s is already swapon'ed", name);
	struct sim_file *f = si->ino ? filemap_lookup(m, si->ino) : NULL;
	if (si->ino && (!f || strcmp(f->name, si->name) != 0))
		return op_fail(res, VM_ENOENT, "%s was deleted after mkswap", name);
	if (prio != SWAP_PRIO_NONE && (prio < 0 || prio > SWAP_PRIO_MAX))
		return op_fail(res, VM_EINVAL, "priority must be 0..%d (or none for automatic)",
		               SWAP_PRIO_MAX);
	si->swap_map = calloc(si->pages, sizeof(*si->swap_map));
	si->cache = malloc(si->pages * sizeof(*si->cache));
	si->index = calloc(si->pages, sizeof(*si->index));
	if (!si->swap_map || !si->cache || !si->index) {
		area_free_maps(si);
		return op_fail(res, VM_ENOMEM, "no host memory for a swap map of %u slots",
		               si->pages);
	}
	for (uint32_t i = 0; i < si->pages; i++)
		si->cache[i] = PFN_NONE;
	si->prio = prio == SWAP_PRIO_NONE ? --m->swap.least_priority : prio;
	si->flags |= SWP_WRITEOK;
	si->inuse_pages = 0;
	si->cluster_next = 1;
	if (f)
		f->swapfile = 1;
	res->value = (uint64_t)(si->pages - 1) * (PAGE_SIZE >> 10);
	ev_emit(m, EV_SWAPON, res->value, (uint64_t)(int64_t)si->prio, 0, name);
	return VM_OK;
}

/* Pages swapoff may take without waking reclaim: free pages above every zone's high mark. */
static uint64_t swapoff_room(const struct machine *m)
{
	uint64_t free_pages = nr_free_pages(m), high = 0;
	for (int z = 0; z < MAX_NR_ZONES; z++)
		if (zone_populated(&m->pa.zones[z]))
			high += m->pa.zones[z].watermark[WMARK_HIGH];
	return free_pages > high ? free_pages - high : 0;
}

struct unuse_ctx {
	struct mm_struct *mm;
	unsigned type;
	uint64_t pages; /* pages read back */
};

/*
 * unuse_pte(): a swap PTE of the area being removed gets its page back. The page comes from
 * the swap cache, or is read into a new page that enters the cache (read_swap_cache_async), so
 * every PTE sharing the slot (fork) maps the same page. The PTE is read-only, as the kernel's
 * mk_pte(page, vma->vm_page_prot) of a private mapping: a write goes through do_wp_page.
 */
static void unuse_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct unuse_ctx *c = arg;
	if (!is_swap_pte(pte) || swp_type(pte_to_swp_entry(pte)) != c->type)
		return;
	uint32_t entry = (uint32_t)pte_to_swp_entry(pte);
	uint32_t pfn = lookup_swap_cache(m, entry);
	if (pfn == PFN_NONE) {
		pfn = alloc_pages(m, GFP_HIGHUSER | __GFP_NORETRY, 0, PT_ANON);
		if (pfn == PFN_NONE)
			return; /* cannot happen: swapoff_room() was checked */
		struct page *p = &m->pa.mem_map[pfn];
		p->private = (uint32_t)(va >> PAGE_SHIFT);
		p->refcount = 0;
		p->flags |= PG_swapbacked;
		add_to_swap_cache(m, pfn, entry);
		swap_readpage(m, pfn);
		lru_cache_add(m, pfn);
		c->pages++;
	}
	struct vm_area_struct *vma = find_vma(c->mm, va);
	uint64_t flags = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
	if (vma && !(vma->vm_flags & VM_EXEC) && m->cfg.arch == ARCH_X86_64)
		flags |= _PAGE_NX;
	pt_write(m, ref.tpfn, ref.idx, mk_pte(m, pfn, flags));
	m->pa.mem_map[pfn].refcount++;
	c->mm->rss[MM_SWAPENTS]--;
	c->mm->rss[MM_ANONPAGES]++;
	swap_free(m, entry);
}

/*
 * try_to_unuse(): every mm's swap PTEs of area type come back into memory; then every page
 * still in the area's swap cache leaves it (no swap PTE names its slot any more, so
 * try_to_free_swap succeeds and the page, now memory's only copy, is dirty).
 */
static uint64_t try_to_unuse(struct machine *m, unsigned type)
{
	struct unuse_ctx c = {.type = type};
	struct swap_info_struct *si = &m->swap.si[type];
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		c.mm = m->mmap.mms[i];
		pt_for_each(m, c.mm, 0, task_size(m), unuse_pte, &c); /* swap PTEs: not in a TLB */
	}
	for (uint32_t off = 1; off < si->pages; off++)
		if (si->cache[off] != PFN_NONE)
			try_to_free_swap(m, si->cache[off], "swapoff");
	return c.pages;
}

/* Slots of an area whose data is only on swap: swapoff has to read each into a new page. */
static uint32_t slots_not_cached(const struct swap_info_struct *si)
{
	uint32_t n = 0;
	for (uint32_t off = 1; off < si->pages; off++)
		n += si->swap_map[off] && si->cache[off] == PFN_NONE;
	return n;
}

static enum vm_err do_swapoff(struct machine *m, const struct op *op, struct op_result *res)
{
	const char *name = op->u.swap.name;
	if (check_name(name, res))
		return VM_EINVAL;
	struct swap_info_struct *si = find_area(m, name);
	if (!si || !area_active(si))
		return op_fail(res, VM_EINVAL, "%s is not an active swap area", name);
	uint64_t room = swapoff_room(m);
	uint32_t need = slots_not_cached(si);
	if (need > room)
		return op_fail(res, VM_ENOMEM,
		               "%s holds %u swapped-out pages but only %llu fit in free memory "
		               "above the high watermarks (drop caches or free memory first)",
		               name, need, (unsigned long long)room);
	if (si->inuse_pages) {
		uint64_t n = try_to_unuse(m, (unsigned)(si - m->swap.si));
		ev_emit(m, EV_SWAPOFF_UNUSE, n, 0, 0, name);
		res->value2 = n;
	}
	/* Automatic priorities close ranks, as in the kernel's swapoff. */
	if (si->prio < 0) {
		for (int i = 0; i < MAX_SWAPFILES; i++) {
			struct swap_info_struct *o = &m->swap.si[i];
			if (o != si && area_active(o) && o->prio < si->prio)
				o->prio++;
		}
		m->swap.least_priority++;
	}
	res->value = (uint64_t)(si->pages - 1) * (PAGE_SIZE >> 10);
	area_free_maps(si);
	si->flags &= ~(uint32_t)SWP_WRITEOK;
	si->inuse_pages = 0;
	if (si->ino)
		filemap_lookup(m, si->ino)->swapfile = 0;
	ev_emit(m, EV_SWAPOFF, res->value, 0, 0, name);
	return VM_OK;
}

enum vm_err swapfile_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_MKSWAP:
		return do_mkswap(m, op, res);
	case OP_SWAPON:
		return do_swapon(m, op, res);
	case OP_SWAPOFF:
		return do_swapoff(m, op, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown swap op %#x", op->kind);
	}
}

/* scan_swap_map_slots(): the next free slot at or after cluster_next, wrapping. */
static uint32_t scan_swap_map(struct swap_info_struct *si)
{
	uint32_t n = si->pages - 1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = 1 + (si->cluster_next - 1 + i) % n;
		if (!si->swap_map[off]) {
			si->cluster_next = off + 1 > n ? 1 : off + 1;
			return off;
		}
	}
	return 0;
}

static struct swap_info_struct *entry_area(struct machine *m, uint32_t entry);
static void swap_slot_put(struct machine *m, uint32_t entry);

/* The area to take a slot from: highest priority, round-robin among equals. */
static int pick_area(struct machine *m)
{
	struct swapfile_state *ss = &m->swap;
	int best = -1;
	for (int k = 0; k < MAX_SWAPFILES; k++) {
		int i = (int)((ss->rr_next + (uint32_t)k) % MAX_SWAPFILES);
		const struct swap_info_struct *si = &ss->si[i];
		if (!area_active(si) || si->inuse_pages >= si->pages - 1)
			continue;
		if (best < 0 || si->prio > ss->si[best].prio)
			best = i;
	}
	if (best >= 0)
		ss->rr_next = (uint32_t)(best + 1) % MAX_SWAPFILES;
	return best;
}

static struct swap_info_struct *entry_area(struct machine *m, uint32_t entry)
{
	return &m->swap.si[swp_type(entry)];
}

int swap_entry_valid(const struct machine *m, uint32_t entry)
{
	if (swp_type(entry) >= MAX_SWAPFILES)
		return 0;
	const struct swap_info_struct *si = &m->swap.si[swp_type(entry)];
	uint32_t off = swp_offset(entry);
	return area_active(si) && off >= 1 && off < si->pages && si->swap_map[off];
}

/*
 * add_to_swap_cache(): the cache takes a reference, private takes the entry, and the page's
 * index moves next to cache[] until it leaves (mm/swap_state.c add_to_swap_cache).
 */
void add_to_swap_cache(struct machine *m, uint32_t pfn, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	struct page *p = &m->pa.mem_map[pfn];
	uint32_t off = (uint32_t)swp_offset(entry);
	si->swap_map[off] |= SWAP_HAS_CACHE;
	si->cache[off] = pfn;
	si->index[off] = p->private;
	p->flags |= PG_swapcache | PG_swapbacked;
	p->private = entry;
	p->refcount++;
	m->swap.nr_swapcache++;
}

/* get_swap_page(): reserves a slot (SWAP_HAS_CACHE) and returns its entry, 0 when none is free */
static uint32_t get_swap_page(struct machine *m)
{
	int type = pick_area(m);
	if (type < 0) {
		ev_emit(m, EV_SWAP_FULL, 0, 0, 0, total_swap_pages(m) ? "swap full" : "swap off");
		return 0;
	}
	struct swap_info_struct *si = &m->swap.si[type];
	uint32_t off = scan_swap_map(si);
	uint32_t entry = (uint32_t)swp_entry((unsigned)type, off);
	si->inuse_pages++;
	si->swap_map[off] = SWAP_HAS_CACHE; /* reserved for the page about to enter the cache */
	ev_emit(m, EV_GET_SWAP_PAGE, entry, off, 0, si->name);
	return entry;
}

/* put_swap_page(): the cache gives up its claim on the slot; freed when no PTE names it. */
static void put_swap_page(struct machine *m, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	si->swap_map[swp_offset(entry)] &= (uint16_t)~SWAP_HAS_CACHE;
	swap_slot_put(m, entry);
}

int add_to_swap(struct machine *m, uint32_t pfn)
{
	uint32_t entry = get_swap_page(m);
	if (!entry)
		return 0;
	add_to_swap_cache(m, pfn, entry);
	m->pa.mem_map[pfn].flags |= PG_dirty; /* set_page_dirty: the slot holds nothing yet */
	return 1;
}

/* Frees the slot once neither a PTE nor the swap cache names it. */
static void swap_slot_put(struct machine *m, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	if (si->swap_map[swp_offset(entry)])
		return;
	si->inuse_pages--;
	ev_emit(m, EV_SWAP_FREE, entry, 0, 0, NULL);
}

/* __delete_from_swap_cache() + put_swap_page() + the cache's page_ref_sub(). */
void delete_from_swap_cache(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	uint32_t entry = p->private;
	struct swap_info_struct *si = entry_area(m, entry);
	uint32_t off = (uint32_t)swp_offset(entry);
	si->cache[off] = PFN_NONE;
	p->private = si->index[off]; /* page->index is the page's own again */
	si->index[off] = 0;
	p->flags &= (uint16_t)~PG_swapcache;
	p->refcount--;
	m->swap.nr_swapcache--;
	put_swap_page(m, entry);
}

uint32_t lookup_swap_cache(const struct machine *m, uint32_t entry)
{
	if (!swap_entry_valid(m, entry))
		return PFN_NONE;
	return m->swap.si[swp_type(entry)].cache[swp_offset(entry)];
}

uint32_t page_anon_index(const struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_swapcache))
		return p->private;
	/* Only a corrupt snapshot gets here with a bad entry (mmap_check runs before
	 * swapfile_check): no page has this index, so the check reports the page. */
	if (!swap_entry_valid(m, p->private))
		return UINT32_MAX;
	return m->swap.si[swp_type(p->private)].index[swp_offset(p->private)];
}

void swap_writepage(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	p->flags &= (uint16_t)~PG_dirty;
	count_vm_event(m, PSWPOUT);
	count_vm_events(m, PGPGOUT, PAGE_SIZE >> 10);
	ev_emit(m, EV_SWAP_WRITEPAGE, pfn, p->private, 0, NULL);
}

void swap_readpage(struct machine *m, uint32_t pfn)
{
	count_vm_event(m, PSWPIN);
	count_vm_events(m, PGPGIN, PAGE_SIZE >> 10);
	ev_emit(m, EV_SWAP_READPAGE, pfn, m->pa.mem_map[pfn].private, 0, NULL);
}

void swap_duplicate(struct machine *m, uint32_t entry, uint32_t n)
{
	entry_area(m, entry)->swap_map[swp_offset(entry)] += (uint16_t)n;
}

void swap_free(struct machine *m, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	si->swap_map[swp_offset(entry)]--;
	swap_slot_put(m, entry);
}

uint32_t swap_count(const struct machine *m, uint32_t entry)
{
	if (!swap_entry_valid(m, entry))
		return 0;
	return m->swap.si[swp_type(entry)].swap_map[swp_offset(entry)] & SWAP_COUNT_MASK;
}

/*
 * try_to_free_swap() (folio_free_swap() in 6.x, mm/swapfile.c): a swap-cache page whose slot
 * no swap PTE names (page_swapped() false) gives the slot back; the page becomes dirty, as
 * the kernel's SetPageDirty, since memory now holds the only copy of the data.
 */
int try_to_free_swap(struct machine *m, uint32_t pfn, const char *why)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_swapcache) || swap_count(m, p->private))
		return 0;
	ev_emit(m, EV_FREE_SWAP, pfn, p->private, 0, why);
	p->flags |= PG_dirty;
	delete_from_swap_cache(m, pfn);
	return 1;
}

/*
 * free_swap_and_cache() (mm/swapfile.c): a zapped swap PTE (munmap, exit) gives up its count.
 * When only the cache still holds the slot, __try_to_reclaim_swap(TTRS_UNMAPPED | TTRS_FULL)
 * frees the swap copy if no one maps the page (the page goes with it) or swap is full.
 */
void free_swap_and_cache(struct machine *m, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	uint32_t off = (uint32_t)swp_offset(entry);
	swap_free(m, entry);
	if (si->swap_map[off] != SWAP_HAS_CACHE)
		return;
	uint32_t pfn = si->cache[off];
	struct page *p = &m->pa.mem_map[pfn];
	int mapped = page_mapcount(m, pfn) != 0;
	if (mapped && !vm_swap_full(m))
		return;
	p->refcount++; /* find_get_page()'s reference */
	try_to_free_swap(m, pfn, mapped ? "vm_swap_full" : "no user left");
	put_user_page(m, pfn); /* the last reference when it was unmapped: the page is freed */
}

/*
 * free_page_and_swap_cache() (mm/swap_state.c): zap_pte_range's put of a mapped page, after
 * free_swap_cache(), which frees the swap copy of a swap-cache page that the zapped PTE was
 * the last to map (page_mapped() false once its rmap is gone) when no swap PTE names it.
 */
void free_page_and_swap_cache(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if ((p->flags & PG_swapcache) && page_mapcount(m, pfn) == 1)
		try_to_free_swap(m, pfn, "last mapping gone");
	put_user_page(m, pfn);
}

/*
 * /proc/swaps, as swap_show() prints it: the path padded to 40 columns, "file\t" or
 * "partition", then size and used in KiB with an extra tab while they are short.
 */
void swaps_show(const struct machine *m, struct strbuf *sb)
{
	strbuf_adds(sb, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n");
	for (int i = 0; i < MAX_SWAPFILES; i++) {
		const struct swap_info_struct *si = &m->swap.si[i];
		if (!area_active(si))
			continue;
		int len = (int)strlen(si->name);
		unsigned long size = (unsigned long)(si->pages - 1) * (PAGE_SIZE >> 10);
		unsigned long used = (unsigned long)si->inuse_pages * (PAGE_SIZE >> 10);
		strbuf_addf(sb, "%s%*s%s\t%lu\t%s%lu\t%s%d\n", si->name, len < 40 ? 40 - len : 1,
		            " ", (si->flags & SWP_PARTITION) ? "partition" : "file\t", size,
		            size < 10000000 ? "\t" : "", used, used < 10000000 ? "\t" : "",
		            si->prio);
	}
}

static int check_fail(char *buf, size_t len, const char *fmt, unsigned a, unsigned b)
{
	snprintf(buf, len, fmt, a, b);
	return -1;
}

struct swap_pte_count {
	uint32_t *count[MAX_SWAPFILES]; /* per active area: swap PTEs naming each slot */
	int bad;                        /* a swap PTE names a slot of no active area */
};

static void count_swap_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref,
                           uint64_t pte)
{
	struct swap_pte_count *c = arg;
	(void)va;
	(void)ref;
	if (!is_swap_pte(pte))
		return;
	uint32_t entry = (uint32_t)pte_to_swp_entry(pte);
	uint32_t off = (uint32_t)swp_offset(entry);
	uint32_t *count = swp_type(entry) < MAX_SWAPFILES ? c->count[swp_type(entry)] : NULL;
	if (!count || off >= m->swap.si[swp_type(entry)].pages)
		c->bad = 1;
	else
		count[off]++;
}

/* Every slot's count equals the swap PTEs that name it: no slot leaks, none is overcounted. */
static int check_swap_counts(const struct machine *m, char *buf, size_t len)
{
	struct swap_pte_count c = {0};
	int r = 0;
	for (unsigned i = 0; i < MAX_SWAPFILES && !r; i++) {
		const struct swap_info_struct *si = &m->swap.si[i];
		if (area_active(si) && si->inuse_pages &&
		    !(c.count[i] = calloc(si->pages, sizeof(uint32_t))))
			r = check_fail(buf, len, "no host memory for the swap check%.0u%.0u", 0, 0);
	}
	for (uint32_t i = 0; i < m->mmap.nr_mms && !r; i++)
		pt_for_each(m, m->mmap.mms[i], 0, task_size(m), count_swap_pte, &c);
	if (!r && c.bad)
		r = check_fail(buf, len, "a swap PTE names a slot of no active area%.0u%.0u", 0, 0);
	for (unsigned i = 0; i < MAX_SWAPFILES && !r; i++) {
		const struct swap_info_struct *si = &m->swap.si[i];
		for (uint32_t off = 1; area_active(si) && off < si->pages && !r; off++) {
			uint32_t want = c.count[i] ? c.count[i][off] : 0;
			if ((si->swap_map[off] & SWAP_COUNT_MASK) != want)
				r = check_fail(buf, len,
				               "swap area %u slot %u: count differs from the "
				               "swap PTEs naming it",
				               i, off);
		}
	}
	for (unsigned i = 0; i < MAX_SWAPFILES; i++)
		free(c.count[i]);
	return r;
}

/* A slot's swap-cache page: the right page, and used by a mapping or a swap PTE. */
static int check_cache_slot(const struct machine *m, unsigned i, uint32_t off, char *buf,
                            size_t len)
{
	const struct swap_info_struct *si = &m->swap.si[i];
	uint32_t pfn = si->cache[off];
	if (pfn >= m->pa.nr_frames)
		return check_fail(buf, len, "swap area %u slot %u: cache pfn beyond RAM", i, off);
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) != PT_ANON || !(p->flags & PG_swapcache) ||
	    p->private != swp_entry(i, off))
		return check_fail(buf, len, "swap cache pfn %#x is not slot %u's page", pfn, off);
	/* free_swap_and_cache and free_swap_cache never leave a page nobody can reach */
	if (!(si->swap_map[off] & SWAP_COUNT_MASK) && !page_mapcount(m, pfn))
		return check_fail(buf, len, "swap cache pfn %#x (slot %u) is used by no one", pfn,
		                  off);
	return 0;
}

/* swap_map agrees with inuse_pages, the swap PTEs and the swap cache with its pages. */
int swapfile_check(const struct machine *m, char *buf, size_t len)
{
	uint64_t cached = 0;
	for (unsigned i = 0; i < MAX_SWAPFILES; i++) {
		const struct swap_info_struct *si = &m->swap.si[i];
		if (!area_active(si)) {
			if (si->swap_map || si->inuse_pages)
				return check_fail(buf, len, "inactive swap area %u holds slots%.0u",
				                  i, 0);
			continue;
		}
		if (si->swap_map[0] || si->cache[0] != PFN_NONE)
			return check_fail(buf, len, "swap area %u: header slot in use%.0u", i, 0);
		uint32_t used = 0;
		for (uint32_t off = 1; off < si->pages; off++) {
			uint16_t c = si->swap_map[off];
			used += c != 0;
			int has_cache = (c & SWAP_HAS_CACHE) != 0;
			if (has_cache != (si->cache[off] != PFN_NONE))
				return check_fail(buf, len, "swap area %u slot %u: cache bit wrong",
				                  i, off);
			if (!has_cache && si->index[off])
				return check_fail(buf, len, "swap area %u slot %u: stale index", i,
				                  off);
			if (has_cache && check_cache_slot(m, i, off, buf, len))
				return -1;
			cached += has_cache;
		}
		if (used != si->inuse_pages)
			return check_fail(buf, len, "swap area %u: %u slots used, counted wrongly",
			                  i, used);
	}
	if (cached != m->swap.nr_swapcache)
		return check_fail(buf, len, "swap cache holds %u pages, counter %u",
		                  (unsigned)cached, (unsigned)m->swap.nr_swapcache);
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		const struct page *p = &m->pa.mem_map[pfn];
		if ((p->flags & PG_swapcache) &&
		    (page_type(p) != PT_ANON || lookup_swap_cache(m, p->private) != pfn))
			return check_fail(buf, len, "pfn %#x marked swapcache is not in it%.0u",
			                  (unsigned)pfn, 0);
	}
	return check_swap_counts(m, buf, len);
}

void swapfile_save(const struct machine *m, struct snap_writer *w)
{
	const struct swapfile_state *ss = &m->swap;
	snap_put_tag(w, "SWAP");
	snap_put_u32(w, (uint32_t)ss->least_priority);
	snap_put_u32(w, ss->rr_next);
	snap_put_u64(w, ss->nr_swapcache);
	for (int i = 0; i < MAX_SWAPFILES; i++) {
		const struct swap_info_struct *si = &ss->si[i];
		snap_put_u32(w, si->flags);
		if (!(si->flags & SWP_USED))
			continue;
		snap_put_str(w, si->name);
		snap_put_u32(w, (uint32_t)si->prio);
		snap_put_u32(w, si->ino);
		snap_put_u32(w, si->pages);
		snap_put_u32(w, si->inuse_pages);
		snap_put_u32(w, si->cluster_next);
		if (!area_active(si))
			continue;
		for (uint32_t off = 0; off < si->pages; off++) {
			snap_put_u16(w, si->swap_map[off]);
			if (!(si->swap_map[off] & SWAP_HAS_CACHE))
				continue;
			snap_put_u32(w, si->cache[off]);
			snap_put_u32(w, si->index[off]); /* since snapshot version 2 */
		}
	}
}

int swapfile_load(struct machine *m, struct snap_reader *r)
{
	struct swapfile_state *ss = &m->swap;
	if (snap_expect_tag(r, "SWAP"))
		return -1;
	swapfile_release(m);
	swapfile_init(m);
	ss->least_priority = (int32_t)snap_get_u32(r);
	ss->rr_next = snap_get_u32(r) % MAX_SWAPFILES;
	ss->nr_swapcache = snap_get_u64(r);
	for (int i = 0; i < MAX_SWAPFILES && !r->err; i++) {
		struct swap_info_struct *si = &ss->si[i];
		si->flags = snap_get_u32(r);
		/* An unused slot has no flags: a swapon'ed one without SWP_USED would look
		 * active with no swap_map. */
		if (si->flags & ~(uint32_t)(SWP_USED | SWP_WRITEOK | SWP_PARTITION) ||
		    (si->flags && !(si->flags & SWP_USED)))
			return snap_fail(r, "swap area %d: bad flags %#x", i, si->flags);
		if (!si->flags)
			continue;
		snap_get_str(r, si->name, sizeof(si->name));
		si->prio = (int32_t)snap_get_u32(r);
		si->ino = snap_get_u32(r);
		si->pages = snap_get_u32(r);
		si->inuse_pages = snap_get_u32(r);
		si->cluster_next = snap_get_u32(r);
		if (r->err || si->pages < SWAP_MIN_PAGES || si->pages > SWAP_AREA_MAX / PAGE_SIZE)
			return snap_fail(r, "bad swap area %d", i);
		if (!area_active(si))
			continue;
		si->swap_map = calloc(si->pages, sizeof(*si->swap_map));
		si->cache = malloc(si->pages * sizeof(*si->cache));
		si->index = calloc(si->pages, sizeof(*si->index));
		if (!si->swap_map || !si->cache || !si->index)
			return snap_fail(r, "out of host memory");
		for (uint32_t off = 0; off < si->pages && !r->err; off++) {
			si->swap_map[off] = snap_get_u16(r);
			si->cache[off] = PFN_NONE;
			if (!(si->swap_map[off] & SWAP_HAS_CACHE))
				continue;
			/* Version 1 kept pages in the swap cache only inside an op, so none
			 * can be in a version-1 snapshot; its machines load with the cache empty.
			 */
			if (r->version < 2)
				return snap_fail(r, "version 1 snapshot with a swap-cache page");
			si->cache[off] = snap_get_u32(r);
			si->index[off] = snap_get_u32(r);
			if (si->cache[off] >= m->pa.nr_frames)
				return snap_fail(r, "swap cache pfn beyond RAM");
		}
	}
	return r->err ? -1 : 0;
}
