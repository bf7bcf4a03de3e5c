/*
 * HugeTLB pages (mm/hugetlb.c): the pool (set_max_huge_pages), reservations made at mmap
 * time (hugetlb_reserve_pages), faults that map a whole huge page with one PSE entry
 * (hugetlb_no_page, hugetlb_wp for COW after fork), unmapping, and the checks that keep the
 * pool's counters equal to what the page tables map.
 *
 * vmsim models private anonymous huge mappings, mmap(MAP_PRIVATE | MAP_ANONYMOUS |
 * MAP_HUGETLB), the seed's example. The VMA that made the reservation owns it
 * (HPAGE_RESV_OWNER): every huge page of its range not yet faulted is one HugePages_Rsvd.
 * A child's copy after fork owns none, so its first write to a shared huge page takes an
 * unreserved page or gets SIGBUS, as in the kernel.
 */
#include "hugetlb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"

static const char *const hugetlb_tmpl[] = {
    [EV_HUGETLB_POOL & 0xff] =
        "set_max_huge_pages: vm.nr_hugepages {a} -> {b} ({c} huge pages of {s})",
    [EV_HUGETLB_POOL_SHORT & 0xff] =
        "alloc_pool_huge_folio: no free order-{a} block: the pool stops at {b} ({s})",
    [EV_HUGETLB_RESERVE & 0xff] =
        "hugetlb_reserve_pages: {a} huge pages reserved, HugePages_Rsvd {b}",
    [EV_HUGETLB_UNRESERVE & 0xff] =
        "hugetlb_unreserve_pages: {a} unfaulted huge pages released, HugePages_Rsvd {b}",
    [EV_HUGETLB_FAULT & 0xff] =
        "hugetlb_no_page: {A} maps huge page pfn {B} ({s}), one {c} entry for the whole page",
    [EV_HUGETLB_WP_COPY & 0xff] = "hugetlb_wp: {A} copies huge page pfn {B} to pfn {C}",
    [EV_HUGETLB_WP_REUSE & 0xff] = "hugetlb_wp: {A} reuses huge page pfn {B} (mapcount 1)",
    [EV_HUGETLB_NO_PAGE & 0xff] = "hugetlb_fault: {A} no free huge page ({s}): SIGBUS",
    [EV_HUGETLB_UNMAP & 0xff] = "unmap_hugepage_range: {A}-{B}, {c} huge pages unmapped",
    [EV_HUGETLB_COPY & 0xff] =
        "copy_hugetlb_page_range: {a} huge pages shared with the child, write-protected",
};

const struct event_table hugetlb_events = {11, hugetlb_tmpl, ARRAY_SIZE(hugetlb_tmpl)};

unsigned huge_page_order(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386 ? 10 : 9;
}

uint64_t huge_page_size(const struct machine *m)
{
	return PAGE_SIZE << huge_page_order(m);
}

static uint32_t huge_nr(const struct machine *m)
{
	return 1u << huge_page_order(m);
}

static const char *huge_size_name(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386 ? "4 MiB" : "2 MiB";
}

int hugetlb_init(struct machine *m)
{
	memset(&m->hugetlb, 0, sizeof(m->hugetlb));
	page_list_init(&m->hugetlb.free_list);
	return 0;
}

void hugetlb_release(struct machine *m)
{
	(void)m; /* the pool's frames belong to mem_map */
}

/* ---- the pool ---------------------------------------------------------------------- */

/* alloc_pool_huge_folio(): an order-N block from the buddy allocator, never by reclaim. */
static int grow_pool(struct machine *m)
{
	uint32_t pfn = alloc_pages(m, GFP_HIGHUSER | __GFP_NORETRY, huge_page_order(m), PT_HUGETLB);
	if (pfn == PFN_NONE) {
		m->hugetlb.htlb_buddy_alloc_fail++;
		return -1;
	}
	m->hugetlb.htlb_buddy_alloc_success++;
	m->pa.mem_map[pfn].refcount = 0; /* a free huge folio has no references */
	page_list_add_tail(m->pa.mem_map, &m->hugetlb.free_list, pfn);
	m->hugetlb.nr_huge_pages++;
	m->hugetlb.free_huge_pages++;
	return 0;
}

/* Gives the most recently pooled free, unreserved huge page back to the buddy allocator. */
static void shrink_pool(struct machine *m)
{
	uint32_t pfn = m->hugetlb.free_list.tail;
	page_list_del(m->pa.mem_map, &m->hugetlb.free_list, pfn);
	m->pa.mem_map[pfn].refcount = 1;
	__free_pages(m, pfn, huge_page_order(m));
	m->hugetlb.nr_huge_pages--;
	m->hugetlb.free_huge_pages--;
}

/*
 * echo N > /proc/sys/vm/nr_hugepages: grows the pool page by page while the buddy allocator
 * has order-N blocks (a short pool is not an error: the file then reads back what was
 * possible), shrinks it by free pages only, never below the pages in use or reserved.
 */
static enum vm_err set_max_huge_pages(struct machine *m, uint64_t count, struct op_result *res)
{
	struct hugetlb_state *h = &m->hugetlb;
	if (count > m->pa.nr_frames >> huge_page_order(m))
		return op_fail(res, VM_EINVAL,
		               "nr_hugepages: %llu huge pages of %s would exceed the machine's RAM",
		               (unsigned long long)count, huge_size_name(m));
	uint64_t before = h->nr_huge_pages;
	while (h->nr_huge_pages < count)
		if (grow_pool(m)) {
			ev_emit(m, EV_HUGETLB_POOL_SHORT, huge_page_order(m), h->nr_huge_pages, 0,
			        "fragmented or full");
			break;
		}
	while (h->nr_huge_pages > count && h->free_huge_pages > h->resv_huge_pages)
		shrink_pool(m);
	ev_emit(m, EV_HUGETLB_POOL, before, h->nr_huge_pages, h->nr_huge_pages, huge_size_name(m));
	res->value = h->nr_huge_pages;
	return VM_OK;
}

enum vm_err hugetlb_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_SET_NR_HUGEPAGES:
		return set_max_huge_pages(m, op->u.hugepages.count, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown hugetlb op %#x", (unsigned)op->kind);
	}
}

/* dequeue_hugetlb_folio(): a free huge page, zeroed (no frame of it keeps content). */
static uint32_t dequeue_huge_page(struct machine *m)
{
	struct hugetlb_state *h = &m->hugetlb;
	uint32_t pfn = h->free_list.head;
	page_list_del(m->pa.mem_map, &h->free_list, pfn);
	h->free_huge_pages--;
	for (uint32_t i = 0; i < huge_nr(m); i++)
		kmap_free(m, pfn + i);
	m->pa.mem_map[pfn].refcount = 1;
	return pfn;
}

static void put_huge_page(struct machine *m, uint32_t pfn)
{
	if (--m->pa.mem_map[pfn].refcount)
		return;
	page_list_add(m->pa.mem_map, &m->hugetlb.free_list, pfn);
	m->hugetlb.free_huge_pages++;
}

/* ---- reservations ------------------------------------------------------------------ */

enum vm_err hugetlb_reserve_pages(struct machine *m, uint64_t len, struct op_result *res)
{
	struct hugetlb_state *h = &m->hugetlb;
	uint64_t want = len / huge_page_size(m);
	if (h->free_huge_pages - h->resv_huge_pages < want)
		return op_fail(
		    res, VM_ENOMEM,
		    "mmap: MAP_HUGETLB needs %llu huge pages of %s but %llu are free and "
		    "unreserved (HugePages_Free %llu, HugePages_Rsvd %llu): raise "
		    "vm.nr_hugepages",
		    (unsigned long long)want, huge_size_name(m),
		    (unsigned long long)(h->free_huge_pages - h->resv_huge_pages),
		    (unsigned long long)h->free_huge_pages, (unsigned long long)h->resv_huge_pages);
	h->resv_huge_pages += want;
	ev_emit(m, EV_HUGETLB_RESERVE, want, h->resv_huge_pages, 0, NULL);
	return VM_OK;
}

/* ---- faults ------------------------------------------------------------------------- */

static uint64_t huge_pte_flags(const struct machine *m, const struct vm_area_struct *vma,
                               int writable)
{
	uint64_t f = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_PSE;
	if (writable)
		f |= _PAGE_RW | _PAGE_DIRTY;
	if (!(vma->vm_flags & VM_EXEC) && m->cfg.arch == ARCH_X86_64)
		f |= _PAGE_NX;
	return f;
}

/* hugetlb_no_page(): a first touch takes a huge page, from the VMA's reserve if it owns one. */
static enum fault_kind hugetlb_no_page(struct machine *m, struct vm_area_struct *vma, uint64_t base,
                                       struct pte_ref ref, int write)
{
	struct hugetlb_state *h = &m->hugetlb;
	int owner = (vma->vm_flags & VM_HUGE_RESV) != 0;
	if (owner ? h->resv_huge_pages == 0 || h->free_huge_pages == 0
	          : h->free_huge_pages <= h->resv_huge_pages) {
		ev_emit(m, EV_HUGETLB_NO_PAGE, base, 0, 0, "pool empty");
		return FAULT_SEGV;
	}
	if (owner)
		h->resv_huge_pages--;
	uint32_t pfn = dequeue_huge_page(m);
	pt_write(m, ref.tpfn, ref.idx,
	         mk_pte(m, pfn, huge_pte_flags(m, vma, write && (vma->vm_flags & VM_WRITE))));
	ev_emit(m, EV_HUGETLB_FAULT, base, pfn, 0, huge_size_name(m));
	ev_emit(m, EV_SET_PTE_AT, base, pfn, pt_read(m, ref.tpfn, ref.idx), NULL);
	return FAULT_MINOR;
}

/* hugetlb_wp(): a write to a huge page fork left shared. */
static enum fault_kind hugetlb_wp(struct machine *m, struct mm_struct *mm,
                                  struct vm_area_struct *vma, uint64_t base, struct pte_ref ref,
                                  uint64_t pte)
{
	struct hugetlb_state *h = &m->hugetlb;
	uint32_t old = pte_pfn(m, pte);
	if (m->pa.mem_map[old].refcount == 1) {
		pt_write(m, ref.tpfn, ref.idx, (pte | _PAGE_RW | _PAGE_DIRTY) & ~_PAGE_COW);
		ev_emit(m, EV_HUGETLB_WP_REUSE, base, old, 0, NULL);
	} else {
		if (h->free_huge_pages <= h->resv_huge_pages) {
			ev_emit(m, EV_HUGETLB_NO_PAGE, base, 0, 0,
			        "no unreserved page for the copy");
			return FAULT_SEGV;
		}
		uint32_t pfn = dequeue_huge_page(m);
		for (uint32_t i = 0; i < huge_nr(m); i++)
			if (copy_user_highpage(m, pfn + i, old + i)) {
				put_huge_page(m, pfn); /* out of host memory: the page goes back */
				return FAULT_OOM;
			}
		put_huge_page(m, old);
		pt_write(m, ref.tpfn, ref.idx, mk_pte(m, pfn, huge_pte_flags(m, vma, 1)));
		ev_emit(m, EV_HUGETLB_WP_COPY, base, old, pfn, NULL);
	}
	flush_tlb_page(m, mm->id, base);
	return FAULT_COW;
}

enum fault_kind hugetlb_fault(struct machine *m, struct task_struct *t, struct vm_area_struct *vma,
                              uint64_t va, int write)
{
	uint64_t base = va & ~(huge_page_size(m) - 1);
	struct pte_ref ref;
	if (pt_walk_huge(m, t->mm, base, 1, &ref))
		return FAULT_OOM;
	uint64_t pte = pt_read(m, ref.tpfn, ref.idx);
	if (!pte_huge(pte))
		return hugetlb_no_page(m, vma, base, ref, write);
	if (write && !(pte & _PAGE_RW))
		return hugetlb_wp(m, t->mm, vma, base, ref, pte);
	return FAULT_MINOR;
}

/* ---- unmap, mprotect, fork ------------------------------------------------------------- */

struct huge_walk {
	struct mm_struct *mm;
	const struct vm_area_struct *vma;
	uint64_t pages;
};

static void unmap_one(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct huge_walk *w = arg;
	pt_write(m, ref.tpfn, ref.idx, 0);
	flush_tlb_page(m, w->mm->id, va);
	put_huge_page(m, pte_pfn(m, pte));
	w->pages++;
}

void unmap_hugepage_range(struct machine *m, struct mm_struct *mm, const struct vm_area_struct *vma,
                          uint64_t start, uint64_t end)
{
	struct huge_walk w = {mm, vma, 0};
	pt_for_each_huge(m, mm, start, end, unmap_one, &w);
	ev_emit(m, EV_HUGETLB_UNMAP, start, end, w.pages, NULL);
	if (!(vma->vm_flags & VM_HUGE_RESV))
		return;
	/* hugetlb_vm_op_close(): the owner's unfaulted pages were still reserved */
	uint64_t unfaulted = (end - start) / huge_page_size(m) - w.pages;
	m->hugetlb.resv_huge_pages -= unfaulted;
	if (unfaulted)
		ev_emit(m, EV_HUGETLB_UNRESERVE, unfaulted, m->hugetlb.resv_huge_pages, 0, NULL);
}

static void protect_one(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct huge_walk *w = arg;
	uint64_t n = pte;
	if (!(w->vma->vm_flags & VM_WRITE))
		n &= ~_PAGE_RW;
	if (m->cfg.arch == ARCH_X86_64)
		n = (w->vma->vm_flags & VM_EXEC) ? (n & ~_PAGE_NX) : (n | _PAGE_NX);
	if (n != pte) {
		pt_write(m, ref.tpfn, ref.idx, n);
		flush_tlb_page(m, w->mm->id, va);
	}
}

void hugetlb_change_protection(struct machine *m, struct mm_struct *mm,
                               const struct vm_area_struct *vma)
{
	struct huge_walk w = {mm, vma, 0};
	pt_for_each_huge(m, mm, vma->vm_start, vma->vm_end, protect_one, &w);
}

struct huge_copy {
	struct mm_struct *dst;
	uint64_t pages;
	int failed;
};

static void copy_one(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct huge_copy *c = arg;
	struct pte_ref dref;
	if (c->failed || pt_walk_huge(m, c->dst, va, 1, &dref)) {
		c->failed = 1;
		return;
	}
	/* private mapping: both sides lose write until hugetlb_wp breaks the sharing */
	if (pte & _PAGE_RW) {
		pte = (pte & ~_PAGE_RW) | _PAGE_COW;
		pt_write(m, ref.tpfn, ref.idx, pte);
	}
	pt_write(m, dref.tpfn, dref.idx, pte);
	m->pa.mem_map[pte_pfn(m, pte)].refcount++;
	c->pages++;
}

int copy_hugetlb_page_range(struct machine *m, struct mm_struct *dst, struct mm_struct *src,
                            const struct vm_area_struct *vma)
{
	struct huge_copy c = {dst, 0, 0};
	pt_for_each_huge(m, src, vma->vm_start, vma->vm_end, copy_one, &c);
	if (c.pages)
		ev_emit(m, EV_HUGETLB_COPY, c.pages, 0, 0, NULL);
	return c.failed ? -1 : 0;
}

static void usage_one(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	uint64_t *u = arg; /* [0] shared, [1] private */
	(void)va;
	(void)ref;
	u[m->pa.mem_map[pte_pfn(m, pte)].refcount > 1 ? 0 : 1] += huge_page_size(m);
}

void hugetlb_usage(const struct machine *m, const struct mm_struct *mm, uint64_t start,
                   uint64_t end, uint64_t *shared, uint64_t *private_)
{
	uint64_t u[2] = {0, 0};
	pt_for_each_huge(m, mm, start, end, usage_one, u);
	*shared = u[0];
	*private_ = u[1];
}

/* ---- machine_check -------------------------------------------------------------------- */

struct huge_check {
	const struct mm_struct *mm;
	uint32_t *maps;
	uint64_t faulted_owned; /* mapped slots inside owner VMAs */
	int bad;
	char why[160];
};

static void check_one(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct huge_check *c = arg;
	(void)ref;
	if (c->bad)
		return;
	const struct vm_area_struct *v = find_vma_const(c->mm, va);
	uint32_t pfn = pte_pfn(m, pte);
	if (!v || v->vm_start > va || !(v->vm_flags & VM_HUGETLB)) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why), "mm %u: huge entry at %#llx outside a hugetlb VMA",
		         c->mm->id, (unsigned long long)va);
	} else if (pfn >= m->pa.nr_frames || pfn % huge_nr(m) ||
	           page_type(&m->pa.mem_map[pfn]) != PT_HUGETLB ||
	           !(m->pa.mem_map[pfn].flags & PG_head)) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why),
		         "mm %u: huge entry at %#llx maps pfn %#x, no huge page", c->mm->id,
		         (unsigned long long)va, pfn);
	} else if ((pte & _PAGE_RW) && !(v->vm_flags & VM_WRITE)) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why),
		         "mm %u: writable huge entry at %#llx, read-only VMA", c->mm->id,
		         (unsigned long long)va);
	} else {
		c->maps[pfn]++;
		c->faulted_owned += (v->vm_flags & VM_HUGE_RESV) != 0;
	}
}

/* Reserved = unfaulted pages of the owner VMAs; every huge entry in a hugetlb VMA. */
static int check_mappings(const struct machine *m, uint32_t *maps, char *buf, size_t len)
{
	uint64_t owned = 0, faulted = 0;
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		const struct mm_struct *mm = m->mmap.mms[i];
		struct huge_check c = {.mm = mm, .maps = maps};
		pt_for_each_huge(m, mm, 0, task_size(m), check_one, &c);
		CHECK(!c.bad, "%s", c.why);
		for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
			CHECK(!(v->vm_flags & VM_HUGETLB) ||
			          ((v->vm_start | v->vm_end) & (huge_page_size(m) - 1)) == 0,
			      "mm %u: hugetlb VMA %#llx-%#llx is not huge-page aligned", mm->id,
			      (unsigned long long)v->vm_start, (unsigned long long)v->vm_end);
			if (v->vm_flags & VM_HUGE_RESV)
				owned += (v->vm_end - v->vm_start) / huge_page_size(m);
		}
		faulted += c.faulted_owned;
	}
	CHECK(m->hugetlb.resv_huge_pages == owned - faulted,
	      "HugePages_Rsvd %llu but the owning VMAs have %llu unfaulted huge pages",
	      (unsigned long long)m->hugetlb.resv_huge_pages,
	      (unsigned long long)(owned - faulted));
	return 0;
}

static int check_pool(const struct machine *m, const uint32_t *maps, char *buf, size_t len)
{
	const struct hugetlb_state *h = &m->hugetlb;
	const struct page *map = m->pa.mem_map;
	uint64_t on_list = 0, in_use = 0, heads = 0;
	for (uint32_t pfn = h->free_list.head; pfn != PFN_NONE && on_list <= h->nr_huge_pages;
	     pfn = map[pfn].next, on_list++)
		CHECK(pfn < m->pa.nr_frames && page_type(&map[pfn]) == PT_HUGETLB &&
		          map[pfn].refcount == 0 && maps[pfn] == 0,
		      "free huge page pfn %#x is in use", pfn);
	CHECK(on_list == h->free_list.nr && on_list == h->free_huge_pages,
	      "%llu huge pages on the free list, HugePages_Free %llu", (unsigned long long)on_list,
	      (unsigned long long)h->free_huge_pages);
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		if (page_type(&map[pfn]) != PT_HUGETLB || !(map[pfn].flags & PG_head))
			continue;
		heads++;
		CHECK(map[pfn].refcount == maps[pfn],
		      "huge page pfn %#llx: refcount %u but %u entries map it",
		      (unsigned long long)pfn, map[pfn].refcount, maps[pfn]);
		in_use += maps[pfn] != 0;
	}
	CHECK(heads == h->nr_huge_pages && in_use + h->free_huge_pages == h->nr_huge_pages,
	      "HugePages_Total %llu but %llu huge pages (%llu in use, %llu free)",
	      (unsigned long long)h->nr_huge_pages, (unsigned long long)heads,
	      (unsigned long long)in_use, (unsigned long long)h->free_huge_pages);
	CHECK(h->resv_huge_pages <= h->free_huge_pages,
	      "HugePages_Rsvd %llu exceeds HugePages_Free %llu",
	      (unsigned long long)h->resv_huge_pages, (unsigned long long)h->free_huge_pages);
	return 0;
}

int hugetlb_check(const struct machine *m, char *buf, size_t len)
{
	uint32_t *maps = calloc(m->pa.nr_frames, sizeof(*maps));
	if (!maps) {
		snprintf(buf, len, "no host memory for the check");
		return -1;
	}
	int r = check_mappings(m, maps, buf, len);
	if (!r)
		r = check_pool(m, maps, buf, len);
	free(maps);
	return r;
}

/* ---- snapshot ------------------------------------------------------------------------- */

void hugetlb_save(const struct machine *m, struct snap_writer *w)
{
	const struct hugetlb_state *h = &m->hugetlb;
	snap_put_tag(w, "HUGE");
	snap_put_u64(w, h->nr_huge_pages);
	snap_put_u64(w, h->free_huge_pages);
	snap_put_u64(w, h->resv_huge_pages);
	snap_put_u64(w, h->htlb_buddy_alloc_success);
	snap_put_u64(w, h->htlb_buddy_alloc_fail);
	/* the free list's order decides which page the next fault gets */
	for (uint32_t pfn = h->free_list.head; pfn != PFN_NONE; pfn = m->pa.mem_map[pfn].next)
		snap_put_u32(w, pfn);
}

int hugetlb_load(struct machine *m, struct snap_reader *r)
{
	struct hugetlb_state *h = &m->hugetlb;
	hugetlb_init(m);
	if (r->off == r->len)
		return 0; /* a snapshot from before huge pages: the pool is empty */
	if (snap_expect_tag(r, "HUGE"))
		return -1;
	h->nr_huge_pages = snap_get_u64(r);
	uint64_t nfree = snap_get_u64(r);
	h->resv_huge_pages = snap_get_u64(r);
	h->htlb_buddy_alloc_success = snap_get_u64(r);
	h->htlb_buddy_alloc_fail = snap_get_u64(r);
	if (nfree > h->nr_huge_pages || h->nr_huge_pages > m->pa.nr_frames)
		return snap_fail(r, "hugetlb: %llu free of %llu huge pages",
		                 (unsigned long long)nfree, (unsigned long long)h->nr_huge_pages);
	for (uint64_t i = 0; i < nfree && !r->err; i++) {
		uint32_t pfn = snap_get_u32(r);
		if (pfn >= m->pa.nr_frames || page_type(&m->pa.mem_map[pfn]) != PT_HUGETLB)
			return snap_fail(r, "hugetlb: free pfn %#x is no huge page", pfn);
		page_list_add_tail(m->pa.mem_map, &h->free_list, pfn);
	}
	h->free_huge_pages = h->free_list.nr;
	return r->err ? -1 : 0;
}
