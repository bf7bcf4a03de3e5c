/*
 * Reverse mapping (mm/rmap.c): from a frame back to the PTEs that map it. Anonymous pages
 * carry their virtual page number (low 32 bits of page->index: page_anon_index, in private or,
 * for a swap-cache page, beside its slot); file pages their inode
 * and offset (filemap.h file_page_private). rmap_walk tries every mm's VMAs that could hold that
 * address and checks the PTE.
 */
#include "rmap.h"

#include "kernel.h"

typedef void (*rmap_fn)(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma,
                        uint64_t va, struct pte_ref ref, uint64_t pte, void *ctx);

static void rmap_one(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma,
                     uint64_t va, uint32_t pfn, rmap_fn fn, void *ctx)
{
	struct pte_ref ref;
	if (pt_walk(m, mm, va, 0, &ref, NULL))
		return;
	uint64_t pte = pt_read(m, ref.tpfn, ref.idx);
	if (pte_present(pte) && !(pte & _PAGE_SPECIAL) && pte_pfn(m, pte) == pfn)
		fn(m, mm, vma, va, ref, pte, ctx);
}

uint64_t anon_index_in_vma(const struct vm_area_struct *v, uint64_t low)
{
	uint64_t first = v->vm_start >> PAGE_SHIFT;
	uint64_t idx = (first & ~0xffffffffull) | low;
	if (idx < first)
		idx += 1ull << 32;
	return idx < v->vm_end >> PAGE_SHIFT ? idx : UINT64_MAX;
}

uint64_t anon_next_index(const struct vm_area_struct *v, uint64_t idx)
{
	idx += 1ull << 32;
	return idx < v->vm_end >> PAGE_SHIFT ? idx : UINT64_MAX;
}

static int anon_vma_ok(const struct vm_area_struct *v)
{
	return !v->vm_file && !(v->vm_flags & VM_MIXEDMAP);
}

/*
 * rmap_walk_anon(): page->index's high bits are lost, so every address whose page index ends
 * in those 32 bits is a candidate, in address order. i386 has one (one find_vma); x86_64 has
 * one per 2^32-page slice, and asking each anon VMA for its candidates is cheaper than nine
 * tree lookups, most of which find nothing.
 */
static void rmap_walk_anon(struct machine *m, uint32_t pfn, rmap_fn fn, void *ctx)
{
	uint64_t low = page_anon_index(m, pfn);
	int one_slice = (task_size(m) >> PAGE_SHIFT) >> 32 == 0;
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		struct mm_struct *mm = m->mmap.mms[i];
		if (one_slice) {
			uint64_t va = low << PAGE_SHIFT;
			struct vm_area_struct *v = find_vma(mm, va);
			if (v && v->vm_start <= va && anon_vma_ok(v))
				rmap_one(m, mm, v, va, pfn, fn, ctx);
			continue;
		}
		for (struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
			if (!anon_vma_ok(v))
				continue;
			for (uint64_t idx = anon_index_in_vma(v, low); idx != UINT64_MAX;
			     idx = anon_next_index(v, idx))
				rmap_one(m, mm, v, idx << PAGE_SHIFT, pfn, fn, ctx);
		}
	}
}

/* rmap_walk_file(): every VMA of the page's file whose window covers its offset. */
static void rmap_walk_file(struct machine *m, uint32_t pfn, rmap_fn fn, void *ctx)
{
	uint32_t priv = m->pa.mem_map[pfn].private;
	uint32_t ino = priv >> FILE_PGOFF_BITS;
	uint64_t pgoff = priv & FILE_PGOFF_MASK;
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++) {
		struct mm_struct *mm = m->mmap.mms[i];
		for (struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
			if (v->vm_file != ino || (v->vm_flags & VM_MIXEDMAP) || pgoff < v->vm_pgoff)
				continue;
			uint64_t va = v->vm_start + ((pgoff - v->vm_pgoff) << PAGE_SHIFT);
			if (va < v->vm_end)
				rmap_one(m, mm, v, va, pfn, fn, ctx);
		}
	}
}

static void rmap_walk(struct machine *m, uint32_t pfn, rmap_fn fn, void *ctx)
{
	enum page_type t = page_type(&m->pa.mem_map[pfn]);
	if (t == PT_ANON)
		rmap_walk_anon(m, pfn, fn, ctx);
	else if (t == PT_FILE)
		rmap_walk_file(m, pfn, fn, ctx);
}

int page_mapcount(const struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	switch (page_type(p)) {
	case PT_ANON:
		return p->refcount - ((p->flags & PG_swapcache) ? 1 : 0);
	case PT_FILE:
	case PT_VMALLOC:
		return p->refcount ? p->refcount - 1 : 0; /* the page cache / vmalloc holds one */
	default:
		return 0;
	}
}

/* page_referenced_one(): test-and-clear the young bit, and drop the TLB entry with it. */
static void referenced_one(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma,
                           uint64_t va, struct pte_ref ref, uint64_t pte, void *ctx)
{
	(void)vma;
	if (!(pte & _PAGE_ACCESSED))
		return;
	pt_write(m, ref.tpfn, ref.idx, pte & ~_PAGE_ACCESSED);
	flush_tlb_page(m, mm->id, va);
	(*(int *)ctx)++;
}

int page_referenced(struct machine *m, uint32_t pfn)
{
	int n = 0;
	rmap_walk(m, pfn, referenced_one, &n);
	return n;
}

/*
 * try_to_unmap_one(): the PTE's dirty bit moves to the page; an anon page's PTE becomes a swap
 * PTE naming the page's swap-cache slot, which counts one more user (swap_duplicate).
 */
static void unmap_one(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma,
                      uint64_t va, struct pte_ref ref, uint64_t pte, void *ctx)
{
	(void)ctx;
	uint32_t pfn = pte_pfn(m, pte);
	struct page *p = &m->pa.mem_map[pfn];
	if ((pte & _PAGE_DIRTY) && page_type(p) == PT_FILE)
		set_page_dirty(m, pfn); /* the page cache must write it back */
	else if (pte & _PAGE_DIRTY)
		p->flags |= PG_dirty;
	mm->rss[mm_counter(m, vma, pfn)]--;
	if (page_type(p) == PT_ANON) {
		swap_duplicate(m, p->private, 1);
		pt_write(m, ref.tpfn, ref.idx, swp_entry_to_pte(p->private));
		mm->rss[MM_SWAPENTS]++;
	} else {
		pt_write(m, ref.tpfn, ref.idx, 0);
	}
	flush_tlb_page(m, mm->id, va);
	p->refcount--; /* the PTE's reference; the caller frees the page when it can */
}

int try_to_unmap(struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) == PT_ANON && !(p->flags & PG_swapcache))
		return page_mapcount(m, pfn) ? -1 : 0; /* anon without a slot cannot be unmapped */
	rmap_walk(m, pfn, unmap_one, NULL);
	return page_mapcount(m, pfn) ? -1 : 0;
}
