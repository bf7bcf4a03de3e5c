/*
 * Swap areas, slots and the swap cache (mm/swapfile.c, mm/swap_state.c, mm/page_io.c).
 * mkswap formats a file (made by dd, i.e. OP_FILE_CREATE/WRITE) or a partition-like area
 * ("/dev/..."); swapon makes it usable with a priority (automatic ones count down from -2 as
 * in the kernel); slots are handed out from the highest-priority area, round-robin among
 * equal priorities. swap_map[slot] counts the PTEs naming the slot, plus SWAP_HAS_CACHE
 * while a page for it is in the swap cache.
 *
 * Swap-cache state machine of an anon page (private = swap entry while PG_swapcache):
 *   mapped anon --add_to_swap--> swapcache+dirty --try_to_unmap (PTEs get the entry)-->
 *   --swap_writepage--> swapcache clean --__remove_mapping--> freed (slot keeps its count)
 *   swap PTE --do_swap_page: swap_readpage into a new page--> mapped anon, swap_free(entry)
 * A page leaves the swap cache before it is mapped again, so a mapped anon page's private
 * always holds its vpn for rmap and SwapCached counts pages in transit only.
 */
#include "kernel.h"
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
	si->swap_map = NULL;
	si->cache = NULL;
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
	if (!si->swap_map || !si->cache) {
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
 * unuse_pte(): a swap PTE of the area being removed gets its page back. The first PTE of a
 * slot reads it (pswpin) and parks the page in cache[] for the others that share the slot
 * (fork), which map the same page; all map it read-only so a write goes through do_wp_page.
 */
static void unuse_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct unuse_ctx *c = arg;
	if (!is_swap_pte(pte) || swp_type(pte_to_swp_entry(pte)) != c->type)
		return;
	uint32_t entry = (uint32_t)pte_to_swp_entry(pte);
	struct swap_info_struct *si = &m->swap.si[c->type];
	uint32_t off = (uint32_t)swp_offset(entry);
	uint32_t pfn = si->cache[off];
	if (pfn == PFN_NONE) {
		pfn = alloc_pages(m, GFP_HIGHUSER | __GFP_NORETRY, 0, PT_ANON);
		if (pfn == PFN_NONE)
			return; /* cannot happen: swapoff_room() was checked */
		struct page *p = &m->pa.mem_map[pfn];
		p->private = entry;
		swap_readpage(m, pfn);
		p->private = (uint32_t)(va >> PAGE_SHIFT);
		p->refcount = 0;
		p->flags |= PG_swapbacked | PG_dirty;
		lru_cache_add(m, pfn);
		si->cache[off] = pfn;
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

/* try_to_unuse(): every mm's swap PTEs of area type come back into memory. */
static uint64_t try_to_unuse(struct machine *m, unsigned type)
{
	struct unuse_ctx c = {.type = type};
	struct swap_info_struct *si = &m->swap.si[type];
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		c.mm = m->mmap.mms[i];
		pt_for_each(m, c.mm, 0, task_size(m), unuse_pte, &c); /* swap PTEs: not in a TLB */
	}
	for (uint32_t off = 0; off < si->pages; off++)
		si->cache[off] = PFN_NONE; /* the parking places were not a swap cache */
	return c.pages;
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
	if (si->inuse_pages > room)
		return op_fail(res, VM_ENOMEM,
		               "%s holds %u swapped-out pages but only %llu fit in free memory "
		               "above the high watermarks (drop caches or free memory first)",
		               name, si->inuse_pages, (unsigned long long)room);
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

void add_to_swap_cache(struct machine *m, uint32_t pfn, uint32_t entry)
{
	struct swap_info_struct *si = entry_area(m, entry);
	struct page *p = &m->pa.mem_map[pfn];
	si->swap_map[swp_offset(entry)] |= SWAP_HAS_CACHE;
	si->cache[swp_offset(entry)] = pfn;
	p->flags |= PG_swapcache | PG_swapbacked;
	p->private = entry;
	m->swap.nr_swapcache++;
}

uint32_t get_swap_page(struct machine *m)
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

void put_swap_page(struct machine *m, uint32_t entry)
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
	m->pa.mem_map[pfn].flags |= PG_dirty;
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

void delete_from_swap_cache(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	uint32_t entry = p->private;
	struct swap_info_struct *si = entry_area(m, entry);
	si->swap_map[swp_offset(entry)] &= (uint16_t)~SWAP_HAS_CACHE;
	si->cache[swp_offset(entry)] = PFN_NONE;
	p->flags &= (uint16_t)~PG_swapcache;
	p->private = 0;
	m->swap.nr_swapcache--;
	swap_slot_put(m, entry);
}

uint32_t lookup_swap_cache(const struct machine *m, uint32_t entry)
{
	if (!swap_entry_valid(m, entry))
		return PFN_NONE;
	return m->swap.si[swp_type(entry)].cache[swp_offset(entry)];
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

int try_to_free_swap(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (!(p->flags & PG_swapcache) || swap_count(m, p->private))
		return 0;
	delete_from_swap_cache(m, pfn);
	p->flags |= PG_dirty; /* the only copy is in memory now */
	return 1;
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

/* swap_map agrees with inuse_pages and the swap cache with its pages. */
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
		if (si->swap_map[0])
			return check_fail(buf, len, "swap area %u: header slot in use%.0u", i, 0);
		uint32_t used = 0;
		for (uint32_t off = 1; off < si->pages; off++) {
			uint16_t c = si->swap_map[off];
			used += c != 0;
			int has_cache = (c & SWAP_HAS_CACHE) != 0;
			uint32_t pfn = si->cache[off];
			if (has_cache != (pfn != PFN_NONE))
				return check_fail(buf, len, "swap area %u slot %u: cache bit wrong",
				                  i, off);
			if (pfn == PFN_NONE)
				continue;
			const struct page *p = &m->pa.mem_map[pfn];
			if (page_type(p) != PT_ANON || !(p->flags & PG_swapcache) ||
			    p->private != swp_entry(i, off))
				return check_fail(
				    buf, len, "swap cache pfn %#x is not slot %u's page", pfn, off);
			cached++;
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
	return 0;
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
			if (si->swap_map[off] & SWAP_HAS_CACHE)
				snap_put_u32(w, si->cache[off]);
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
		if (!(si->flags & SWP_USED))
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
		if (!si->swap_map || !si->cache)
			return snap_fail(r, "out of host memory");
		for (uint32_t off = 0; off < si->pages; off++) {
			si->swap_map[off] = snap_get_u16(r);
			si->cache[off] = PFN_NONE;
			if (si->swap_map[off] & SWAP_HAS_CACHE) {
				si->cache[off] = snap_get_u32(r);
				if (si->cache[off] >= m->pa.nr_frames)
					return snap_fail(r, "swap cache pfn beyond RAM");
			}
		}
	}
	return r->err ? -1 : 0;
}
