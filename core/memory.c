/*
 * Touching memory (mm/memory.c, arch/x86/mm/fault.c): an access goes TLB -> page walk ->
 * handle_mm_fault, which fills the PTE by demand paging (zero page, do_anonymous_page,
 * do_fault from the page cache, map_driver's fault handler) or breaks COW (do_wp_page).
 */
#include "memory.h"

#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "rmap.h"
#include "snapshot.h"

static const char *const memory_tmpl[] = {
    [EV_PAGE_FAULT & 0xff] = "page fault: pid {a} {s} at {B}: find_vma finds no VMA",
    [EV_FIND_VMA & 0xff] = "page fault: {s} at {A}: find_vma -> vma {B}-{C}",
    [EV_HANDLE_MM_FAULT & 0xff] =
        "page fault: {s} at {A}: find_vma -> vma {B}-{C}, handle_mm_fault",
    [EV_DO_ANONYMOUS_PAGE & 0xff] = "do_anonymous_page: {A} gets a zeroed page",
    [EV_ZERO_PAGE & 0xff] = "do_anonymous_page: read fault at {A} maps the zero page pfn {B}",
    [EV_DO_WP_PAGE_COPY & 0xff] = "do_wp_page: {A} copies pfn {B} (mapcount {c}) to a new page",
    [EV_DO_WP_PAGE_REUSE & 0xff] = "do_wp_page: {A} reuses pfn {B} (mapcount 1)",
    [EV_DO_FAULT & 0xff] = "do_fault: {A} file page {b} of inode {c} ({s})",
    [EV_SET_PTE_AT & 0xff] = "set_pte_at: {A} -> pfn {B} pte {C}",
    [EV_SEGV & 0xff] = "bad_area: {A} {s}: SIGSEGV",
    [EV_TLB_HIT & 0xff] = "TLB hit: {A} -> pfn {B}",
    [EV_TLB_MISS & 0xff] = "TLB miss: {A}, page walk",
    [EV_TLB_FLUSH & 0xff] = "flush_tlb: CR3 load of mm {a} drops {b} entries",
    [EV_INVLPG & 0xff] = "invlpg: {A}",
    [EV_PTE_ALLOC & 0xff] = "pte_alloc_one: page-table frame pfn {A} for mm {b}",
    [EV_SET_PMD & 0xff] = "__pte_alloc: {s} entry for {A} -> table pfn {B}",
    [EV_FREE_PGTABLE & 0xff] = "free_pgtables: empty {s} table pfn {B} freed",
    [EV_PTE_YOUNG & 0xff] = "walk: {A} pte {B} accessed/dirty bits set",
    [EV_FAULT_OOM & 0xff] = "handle_mm_fault: {A} no memory: VM_FAULT_OOM, pid {b} killed",
    [EV_DO_SWAP_PAGE & 0xff] = "do_swap_page: {A} swap entry {B}",
    [EV_ACCESS_OK & 0xff] = "access: {A} -> phys {B} ({s})",
    [EV_ACCESS_RANGE & 0xff] = "access_range: {a} accesses from {B}, {c} faults ({s})",
};

const struct event_table memory_events = {6, memory_tmpl, ARRAY_SIZE(memory_tmpl)};

int memory_init(struct machine *m)
{
	if (tlb_init(m))
		return -1;
	/* empty_zero_page (kernel image bss): every read fault on untouched anonymous memory
	 * maps this one frame; _PAGE_SPECIAL keeps it out of refcounts and RSS. */
	m->memory.zero_pfn = EMPTY_ZERO_PAGE_PFN;
	return page_type(&m->pa.mem_map[EMPTY_ZERO_PAGE_PFN]) == PT_RESERVED ? 0 : -1;
}

void memory_release(struct machine *m)
{
	tlb_release(m);
}

uint32_t zero_pfn(const struct machine *m)
{
	return m->memory.zero_pfn;
}

int vm_normal_page(const struct machine *m, uint64_t pte)
{
	(void)m;
	return pte_present(pte) && !(pte & _PAGE_SPECIAL);
}

void put_user_page(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	if (--p->refcount)
		return;
	if (p->flags & PG_lru)
		lru_cache_del(m, pfn);
	kmap_free(m, pfn);
	p->private = 0;
	__free_pages(m, pfn, 0);
}

static void inc_mm_counter(struct mm_struct *mm, int counter)
{
	mm->rss[counter]++;
	update_hiwater_rss(mm);
}

static uint64_t vma_pte_flags(const struct vm_area_struct *vma, int writable)
{
	uint64_t f = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
	if (writable && (vma->vm_flags & VM_WRITE))
		f |= _PAGE_RW;
	if (!(vma->vm_flags & VM_EXEC))
		f |= _PAGE_NX;
	return f;
}

static void set_pte_at(struct machine *m, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	pt_write(m, ref.tpfn, ref.idx, pte);
	ev_emit(m, EV_SET_PTE_AT, va, pte_pfn(m, pte), pte, NULL);
}

/* anon_vma_prepare(): the mm's anon_vma object, made on its first anonymous page. */
static int anon_vma_prepare(struct machine *m, struct mm_struct *mm)
{
	if (!mm->anon_vma_objp)
		mm->anon_vma_objp = kmem_cache_alloc(m, KMEM_ANON_VMA, GFP_KERNEL);
	return mm->anon_vma_objp ? 0 : -1;
}

/* A new anonymous page for va: refcount 1 (its PTE), page->index, on the LRU. */
static uint32_t alloc_anon_page(struct machine *m, struct mm_struct *mm, uint64_t va)
{
	if (anon_vma_prepare(m, mm))
		return PFN_NONE;
	uint32_t pfn = alloc_pages(m, GFP_HIGHUSER, 0, PT_ANON);
	if (pfn == PFN_NONE)
		return PFN_NONE;
	struct page *p = &m->pa.mem_map[pfn];
	p->private = (uint32_t)(va >> PAGE_SHIFT);
	p->flags |= PG_swapbacked;
	lru_cache_add(m, pfn);
	return pfn;
}

static enum fault_kind do_anonymous_page(struct machine *m, struct mm_struct *mm,
                                         struct vm_area_struct *vma, uint64_t va,
                                         struct pte_ref ref, int write)
{
	if (!write && !(vma->vm_flags & VM_SHARED)) {
		uint32_t z = m->memory.zero_pfn;
		ev_emit(m, EV_ZERO_PAGE, va, z, 0, NULL);
		count_vm_event(m, VMSIM_ZERO_PAGE_MAP);
		set_pte_at(m, va, ref, mk_pte(m, z, vma_pte_flags(vma, 0) | _PAGE_SPECIAL));
		return FAULT_MINOR;
	}
	ev_emit(m, EV_DO_ANONYMOUS_PAGE, va, 0, 0, NULL);
	uint32_t pfn = alloc_anon_page(m, mm, va);
	if (pfn == PFN_NONE)
		return FAULT_OOM;
	set_pte_at(m, va, ref, mk_pte(m, pfn, vma_pte_flags(vma, 1) | (write ? _PAGE_DIRTY : 0)));
	inc_mm_counter(mm, mm_counter(m, vma, pfn));
	return FAULT_MINOR;
}

/* do_fault(): the page cache has the page (or reads it: major); private writes copy it. */
static enum fault_kind do_fault(struct machine *m, struct task_struct *t,
                                struct vm_area_struct *vma, uint64_t va, struct pte_ref ref,
                                int write)
{
	struct mm_struct *mm = t->mm;
	uint64_t pgoff = vma->vm_pgoff + ((va - vma->vm_start) >> PAGE_SHIFT);
	int64_t size = filemap_file_size(m, vma->vm_file);
	if (size < 0 || pgoff >= ((uint64_t)size + PAGE_SIZE - 1) >> PAGE_SHIFT) {
		ev_emit(m, EV_SEGV, va, 0, 0, "beyond EOF (SIGBUS)");
		return FAULT_SEGV;
	}
	int major = 0;
	uint32_t fpfn = filemap_fault(m, vma->vm_file, pgoff, &major);
	if (fpfn == PFN_NONE)
		return FAULT_OOM;
	int cow = write && !(vma->vm_flags & VM_SHARED);
	ev_emit(m, EV_DO_FAULT, va, pgoff, vma->vm_file,
	        cow ? "do_cow_fault"
	            : (vma->vm_flags & VM_SHARED ? "do_shared_fault" : "do_read_fault"));
	if (cow) {
		uint32_t pfn = alloc_anon_page(m, mm, va);
		if (pfn == PFN_NONE) {
			put_user_page(m, fpfn);
			return FAULT_OOM;
		}
		copy_user_highpage(m, pfn, fpfn);
		put_user_page(m, fpfn);
		set_pte_at(m, va, ref, mk_pte(m, pfn, vma_pte_flags(vma, 1) | _PAGE_DIRTY));
		inc_mm_counter(mm, MM_ANONPAGES);
	} else {
		int shared_w = (vma->vm_flags & VM_SHARED) != 0;
		uint64_t f = vma_pte_flags(vma, shared_w) | (write ? _PAGE_DIRTY : 0);
		if (write)
			set_page_dirty(m, fpfn);
		set_pte_at(m, va, ref, mk_pte(m, fpfn, f));
		inc_mm_counter(mm, MM_FILEPAGES);
	}
	return major ? FAULT_MAJOR : FAULT_MINOR;
}

/* The seed's map_nopage: the frame behind the driver's vmalloc buffer, mapped page by page. */
static enum fault_kind do_driver_fault(struct machine *m, struct mm_struct *mm,
                                       struct vm_area_struct *vma, uint64_t va, struct pte_ref ref)
{
	uint32_t pfn = map_driver_fault(m, vma, va);
	if (pfn == PFN_NONE)
		return FAULT_SEGV;
	m->pa.mem_map[pfn].refcount++; /* get_page(): the mapping holds a reference */
	set_pte_at(m, va, ref, mk_pte(m, pfn, vma_pte_flags(vma, 1)));
	inc_mm_counter(mm, MM_FILEPAGES);
	return FAULT_MINOR;
}

/*
 * wp_can_reuse_anon_folio() (mm/memory.c, 6.x): the faulting PTE may keep the page when its
 * reference is the only one. A swap-cache page first tries to leave the cache
 * (folio_free_swap): the write makes the copy in the slot stale, and the slot is freed unless
 * another swap PTE (a forked child's) still names it, in which case the page is copied.
 */
static int wp_can_reuse_anon_page(struct machine *m, uint32_t pfn)
{
	struct page *p = &m->pa.mem_map[pfn];
	int swapcache = (p->flags & PG_swapcache) != 0;
	if (p->refcount > 1 + swapcache)
		return 0; /* another PTE maps it */
	if (swapcache)
		try_to_free_swap(m, pfn, "write fault: the swap copy is stale");
	return p->refcount == 1;
}

/* do_wp_page(): write to a present read-only PTE in a writable VMA. */
static enum fault_kind do_wp_page(struct machine *m, struct task_struct *t,
                                  struct vm_area_struct *vma, uint64_t va, struct pte_ref ref,
                                  uint64_t pte)
{
	struct mm_struct *mm = t->mm;
	uint32_t old = pte_pfn(m, pte);
	const struct page *op = &m->pa.mem_map[old];
	int special = (pte & _PAGE_SPECIAL) != 0;
	if (vma->vm_flags & VM_SHARED) { /* wp_page_shared: just make it writable */
		set_pte_at(m, va, ref, pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED);
		return FAULT_MINOR;
	}
	if (!special && page_type(op) == PT_ANON && wp_can_reuse_anon_page(m, old)) {
		ev_emit(m, EV_DO_WP_PAGE_REUSE, va, old, 0, NULL);
		count_vm_event(m, PGREUSE);
		set_pte_at(m, va, ref,
		           (pte | _PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED) & ~_PAGE_COW);
		return FAULT_MINOR;
	}
	ev_emit(m, EV_DO_WP_PAGE_COPY, va, old, special ? 0 : (uint64_t)page_mapcount(m, old),
	        NULL);
	uint32_t pfn = alloc_anon_page(m, mm, va);
	if (pfn == PFN_NONE)
		return FAULT_OOM;
	if (!special)
		copy_user_highpage(m, pfn, old);
	set_pte_at(m, va, ref, mk_pte(m, pfn, vma_pte_flags(vma, 1) | _PAGE_DIRTY));
	flush_tlb_page(m, mm->id, va);
	inc_mm_counter(mm, MM_ANONPAGES);
	if (!special) {
		mm->rss[mm_counter(m, vma, old)]--;
		put_user_page(m, old);
	}
	count_vm_event(m, VMSIM_COW_COPY);
	t->nr_cow++;
	return FAULT_COW;
}

/*
 * do_swap_page() (mm/memory.c, 6.x): the PTE holds a swap entry. The page comes from the swap
 * cache when it is there (minor fault) or is read from the slot into a new page that joins the
 * cache (major, pswpin). The PTE gives up its slot reference (swap_free) but the page stays in
 * the swap cache with the slot allocated (SwapCached), so reclaiming it again costs no write
 * while it stays clean. should_try_to_free_swap(): the slot is released at once when swap is
 * more than half full, or on a write fault when this PTE is the page's only user. The page is
 * mapped writable only on a write fault, and only when its reference is the sole one.
 */
enum fault_kind do_swap_page(struct machine *m, struct task_struct *t, struct vm_area_struct *vma,
                             uint64_t va, struct pte_ref ref, uint64_t pte, int write)
{
	struct mm_struct *mm = t->mm;
	uint32_t entry = (uint32_t)pte_to_swp_entry(pte);
	ev_emit(m, EV_DO_SWAP_PAGE, va, entry, 0, NULL);
	if (!swap_entry_valid(m, entry) || !swap_count(m, entry))
		return FAULT_SEGV; /* a corrupt swap PTE: the kernel would SIGBUS */
	uint32_t pfn = lookup_swap_cache(m, entry);
	int major = pfn == PFN_NONE;
	if (major) {
		if (anon_vma_prepare(m, mm))
			return FAULT_OOM;
		pfn = alloc_pages(m, GFP_HIGHUSER, 0, PT_ANON);
		if (pfn == PFN_NONE)
			return FAULT_OOM;
		/* the allocation may have reclaimed: the entry is still ours (our PTE holds it) */
		struct page *np = &m->pa.mem_map[pfn];
		np->private = (uint32_t)(va >> PAGE_SHIFT); /* page->index */
		np->refcount = 0;
		add_to_swap_cache(m, pfn, entry);
		swap_readpage(m, pfn);
		lru_cache_add(m, pfn);
	} else {
		ev_emit(m, EV_SWAPCACHE_HIT, pfn, entry, 0, NULL);
	}
	struct page *p = &m->pa.mem_map[pfn];
	p->refcount++; /* the reference our PTE will hold */
	swap_free(m, entry);
	if (vm_swap_full(m))
		try_to_free_swap(m, pfn, "vm_swap_full");
	else if (write && p->refcount == 2)
		try_to_free_swap(m, pfn, "write fault: the swap copy is stale");
	int writable = write && p->refcount == 1;
	set_pte_at(m, va, ref,
	           mk_pte(m, pfn, vma_pte_flags(vma, writable) | (writable ? _PAGE_DIRTY : 0)));
	mm->rss[MM_SWAPENTS]--;
	inc_mm_counter(mm, MM_ANONPAGES);
	return major ? FAULT_MAJOR : FAULT_MINOR;
}

static const char *const access_names[] = {"read", "write", "exec"};

/* access_error() of arch/x86/mm/fault.c; exec needs VM_EXEC only where NX exists. */
static int access_error(const struct machine *m, const struct vm_area_struct *vma,
                        enum access_kind kind)
{
	if (kind == ACCESS_WRITE)
		return !(vma->vm_flags & VM_WRITE);
	if (kind == ACCESS_EXEC && m->cfg.arch == ARCH_X86_64)
		return !(vma->vm_flags & VM_EXEC);
	return !(vma->vm_flags & (VM_READ | VM_WRITE | VM_EXEC));
}

enum fault_kind handle_mm_fault(struct machine *m, struct task_struct *t,
                                struct vm_area_struct *vma, uint64_t va, enum access_kind kind)
{
	struct pte_ref ref;
	int write = kind == ACCESS_WRITE;
	ev_emit(m, EV_HANDLE_MM_FAULT, va, vma->vm_start, vma->vm_end, access_names[kind]);
	if (vma->vm_flags & VM_HUGETLB)
		return hugetlb_fault(m, t, vma, va, write); /* not RSS: no resident limit */
	enforce_rlimit_rss(m, t);                           /* vmscan.c: the resident limit */
	int r = pt_walk(m, t->mm, va, 1, &ref, NULL);
	if (r)
		return FAULT_OOM;
	uint64_t pte = pt_read(m, ref.tpfn, ref.idx);
	if (pte_none(pte)) {
		if (vma->vm_flags & VM_MIXEDMAP)
			return do_driver_fault(m, t->mm, vma, va, ref);
		if (vma->vm_file)
			return do_fault(m, t, vma, va, ref, write);
		return do_anonymous_page(m, t->mm, vma, va, ref, write);
	}
	if (!pte_present(pte))
		return do_swap_page(m, t, vma, va, ref, pte, write);
	if (write && !(pte & _PAGE_RW))
		return do_wp_page(m, t, vma, va, ref, pte);
	return FAULT_MINOR; /* spurious: another path already fixed the PTE */
}

/* Can the access go ahead with these PTE (or TLB) rights? */
static int pte_allows(const struct machine *m, uint64_t pte, enum access_kind kind)
{
	if (!pte_present(pte))
		return 0;
	if (kind == ACCESS_WRITE)
		return (pte & _PAGE_RW) != 0;
	if (kind == ACCESS_EXEC && m->cfg.arch == ARCH_X86_64)
		return !(pte & _PAGE_NX);
	return 1;
}

static uint32_t tlb_flags_of(uint64_t pte)
{
	return ((pte & _PAGE_RW) ? TLB_RW : 0) | ((pte & _PAGE_DIRTY) ? TLB_DIRTY : 0) |
	       ((pte & _PAGE_NX) ? TLB_NX : 0) | (pte_huge(pte) ? TLB_HUGE : 0);
}

/*
 * The MMU's part after a successful walk: set accessed/dirty, load the TLB. Returns the
 * 4 KiB frame of va (inside the huge page when the walk ended at a PSE entry).
 */
static uint32_t mmu_complete(struct machine *m, uint64_t va, struct pte_ref ref, uint64_t pte,
                             enum access_kind kind)
{
	uint64_t n = pte | _PAGE_ACCESSED | (kind == ACCESS_WRITE ? _PAGE_DIRTY : 0);
	if (n != pte)
		pt_write(m, ref.tpfn, ref.idx, n);
	uint32_t pfn = pte_pfn(m, n);
	tlb_fill(m, va, pfn, tlb_flags_of(n));
	if (pte_huge(n))
		pfn += (uint32_t)((va >> PAGE_SHIFT) & ((1u << huge_page_order(m)) - 1));
	return pfn;
}

/* Only LRU pages (anon, page cache) age; the zero page and driver frames do not. */
static void touch_page(struct machine *m, uint32_t pfn)
{
	enum page_type t = page_type(&m->pa.mem_map[pfn]);
	if (t == PT_ANON || t == PT_FILE)
		mark_page_accessed(m, pfn);
}

static void segv(struct machine *m, struct task_struct *t, uint64_t va, const char *why,
                 struct op_result *res)
{
	ev_emit(m, EV_SEGV, va, 0, 0, why);
	count_vm_event(m, VMSIM_SEGV);
	res->fault = FAULT_SEGV;
	res->value = va;
	do_exit(m, t, 139, "SIGSEGV");
}

static void note_fault(struct op_result *res, enum fault_kind f)
{
	if (f > res->fault)
		res->fault = f;
}

/* One access by t (the running task) at va. Returns 0 to go on, 1 when the task died. */
static int access_one(struct machine *m, struct task_struct *t, uint64_t va, enum access_kind kind,
                      struct op_result *res)
{
	if (va >= task_size(m)) {
		segv(m, t, va, "kernel address from user mode", res);
		return 1;
	}
	const struct tlb_entry *e = tlb_lookup(m, va);
	if (e &&
	    (kind != ACCESS_WRITE || (e->flags & (TLB_RW | TLB_DIRTY)) == (TLB_RW | TLB_DIRTY)) &&
	    (kind != ACCESS_EXEC || !(e->flags & TLB_NX) || m->cfg.arch == ARCH_I386)) {
		res->tlb_hits++;
		uint32_t pfn = tlb_entry_pfn(m, e, va);
		res->value2 = ((uint64_t)pfn << PAGE_SHIFT) | (va & (PAGE_SIZE - 1));
		touch_page(m, pfn);
		return 0;
	}
	res->tlb_misses++;
	struct pte_ref ref;
	uint64_t pte = 0;
	if (pt_walk(m, t->mm, va, 0, &ref, NULL) == 0)
		pte = pt_read(m, ref.tpfn, ref.idx);
	if (!pte_allows(m, pte, kind)) {
		count_vm_event(m, PGFAULT);
		struct vm_area_struct *vma = find_vma(t->mm, va);
		if (vma && vma->vm_start > va && expand_stack(m, t->mm, vma, va) == 0)
			vma = find_vma(t->mm, va);
		if (!vma || vma->vm_start > va) {
			ev_emit(m, EV_PAGE_FAULT, t->pid, va, 0, access_names[kind]);
			segv(m, t, va, va < PAGE_SIZE ? "NULL pointer: no VMA" : "no VMA", res);
			return 1;
		}
		if (access_error(m, vma, kind)) {
			ev_emit(m, EV_FIND_VMA, va, vma->vm_start, vma->vm_end, access_names[kind]);
			segv(m, t, va,
			     kind == ACCESS_WRITE ? "write to a read-only VMA"
			                          : "exec of a non-exec VMA",
			     res);
			return 1;
		}
		enum fault_kind f = handle_mm_fault(m, t, vma, va, kind);
		if (f == FAULT_SEGV) {
			segv(m, t, va, "fault handler refused", res);
			return 1;
		}
		if (f == FAULT_OOM) {
			ev_emit(m, EV_FAULT_OOM, va, t->pid, 0, NULL);
			count_vm_event(m, OOM_KILL);
			res->fault = FAULT_OOM;
			do_exit(m, t, 137, "SIGKILL (out of memory)");
			return 1;
		}
		res->faults++;
		note_fault(res, f);
		if (f == FAULT_MAJOR) {
			res->major++;
			t->maj_flt++;
			count_vm_event(m, PGMAJFAULT);
		} else {
			t->min_flt++;
		}
		pt_walk(m, t->mm, va, 0, &ref, NULL);
		pte = pt_read(m, ref.tpfn, ref.idx);
	}
	uint32_t pfn = mmu_complete(m, va, ref, pte, kind);
	touch_page(m, pfn);
	res->value2 = ((uint64_t)pfn << PAGE_SHIFT) | (va & (PAGE_SIZE - 1));
	return 0;
}

static enum vm_err do_access(struct machine *m, const struct op *op, struct op_result *res)
{
	const uint64_t max_accesses = 1u << 24;
	struct task_struct *t = find_task(m, op->u.access.pid);
	if (!t)
		return op_fail(res, VM_ENOENT, "no process with pid %u", op->u.access.pid);
	if ((unsigned)op->u.access.kind > ACCESS_EXEC)
		return op_fail(res, VM_EINVAL, "access kind must be read, write or exec");
	if (t->state == TASK_VFORK)
		return op_fail(res, VM_EPERM, "pid %u waits in vfork and cannot run", t->pid);
	uint64_t va = op->u.access.addr, len = 1, stride = 1;
	if (op->kind == OP_ACCESS_RANGE) {
		len = op->u.access.len;
		stride = op->u.access.stride ? op->u.access.stride : PAGE_SIZE;
		if (len == 0)
			return op_fail(res, VM_EINVAL, "access range: length is 0");
		if (va + len < va || len / stride >= max_accesses)
			return op_fail(res, VM_EINVAL, "access range: at most %llu accesses per op",
			               (unsigned long long)max_accesses);
	}
	context_switch(m, t);
	uint64_t n = 0;
	for (uint64_t off = 0; off < len; off += stride, n++)
		if (access_one(m, t, va + off, op->u.access.kind, res))
			break;
	char what[EVENT_STR_LEN];
	snprintf(what, sizeof(what), "%u TLB hits, %u misses", res->tlb_hits, res->tlb_misses);
	if (op->kind == OP_ACCESS_RANGE)
		ev_emit(m, EV_ACCESS_RANGE, n, va, res->faults, what);
	else if (res->fault != FAULT_SEGV && res->fault != FAULT_OOM)
		ev_emit(m, EV_ACCESS_OK, va, res->value2, 0,
		        res->tlb_hits ? "TLB hit"
		                      : (res->faults ? "after the fault" : "page walk"));
	if (res->fault != FAULT_SEGV && res->fault != FAULT_OOM)
		res->value = va;
	return VM_OK;
}

enum vm_err memory_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_ACCESS:
	case OP_ACCESS_RANGE:
		return do_access(m, op, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown access op %#x", (unsigned)op->kind);
	}
}

/* ---- queries ------------------------------------------------------------------------ */

enum vm_err translate(const struct machine *m, uint32_t pid, uint64_t va, struct walk_trace *t)
{
	const struct mm_struct *mm = &m->mmap.init_mm;
	if (pid) {
		const struct task_struct *task = find_task(m, pid);
		if (!task)
			return VM_ENOENT;
		mm = task->mm;
	}
	uint64_t limit = m->cfg.arch == ARCH_I386 ? (1ull << 32) : 0;
	if (limit && va >= limit)
		return VM_EINVAL;
	if (!limit && va >= (1ull << 47) && va < 0xffff800000000000ull)
		return VM_EINVAL; /* non-canonical */
	memset(t, 0, sizeof(*t));
	t->fail_level = -1;
	if (virt_addr_valid(m, va)) { /* the direct map: no walk needed (__pa) */
		t->direct_map = 1;
		t->phys = virt_to_phys(m, va);
		return VM_OK;
	}
	struct pte_ref ref;
	if (pt_lookup(m, mm, va, &ref, t))
		return VM_OK;
	if (!pte_present(t->pte))
		t->fail_level = (int)pt_levels(m) - 1;
	else if (pte_huge(t->pte)) /* the offset runs on through the whole huge page */
		t->phys =
		    ((uint64_t)pte_pfn(m, t->pte) << PAGE_SHIFT) | (va & (huge_page_size(m) - 1));
	else
		t->phys = ((uint64_t)pte_pfn(m, t->pte) << PAGE_SHIFT) | (va & (PAGE_SIZE - 1));
	return VM_OK;
}

int access_process_vm(const struct machine *m, uint32_t pid, uint64_t va, void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		struct walk_trace t;
		if (translate(m, pid, va, &t) || t.fail_level >= 0)
			return -1;
		size_t off = va & (PAGE_SIZE - 1),
		       n = PAGE_SIZE - off < len ? PAGE_SIZE - off : len;
		const uint8_t *src = kmap(m, (uint32_t)(t.phys >> PAGE_SHIFT));
		if (src)
			memcpy(out, src + off, n);
		else
			memset(out, 0, n);
		out += n;
		va += n;
		len -= n;
	}
	return 0;
}

/* ---- check and snapshot ------------------------------------------------------------- */

int memory_check(const struct machine *m, char *buf, size_t len)
{
	uint32_t z = m->memory.zero_pfn;
	if (z != EMPTY_ZERO_PAGE_PFN || page_type(&m->pa.mem_map[z]) != PT_RESERVED) {
		snprintf(buf, len, "zero page pfn %#x is not the reserved empty_zero_page", z);
		return -1;
	}
	if (kmap(m, z)) {
		snprintf(buf, len, "the zero page has been written to");
		return -1;
	}
	return tlb_check(m, buf, len);
}

void memory_save(const struct machine *m, struct snap_writer *w)
{
	snap_put_tag(w, "MEMO");
	snap_put_u32(w, m->memory.zero_pfn);
	tlb_save(m, w);
}

int memory_load(struct machine *m, struct snap_reader *r)
{
	if (snap_expect_tag(r, "MEMO"))
		return -1;
	m->memory.zero_pfn = snap_get_u32(r);
	return tlb_load(m, r);
}

/* ---- unmapping and copying ranges of PTEs ------------------------------------------- */

struct zap_ctx {
	struct mm_struct *mm;
	const struct vm_area_struct *vma;
	uint64_t pages;
};

static void zap_one_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref, uint64_t pte)
{
	struct zap_ctx *z = arg;
	pt_write(m, ref.tpfn, ref.idx, 0);
	if (is_swap_pte(pte)) {
		z->mm->rss[MM_SWAPENTS]--;
		free_swap_and_cache(m, (uint32_t)pte_to_swp_entry(pte));
		return;
	}
	flush_tlb_page(m, z->mm->id, va);
	if (!vm_normal_page(m, pte))
		return;
	uint32_t pfn = pte_pfn(m, pte);
	if ((pte & _PAGE_DIRTY) && page_type(&m->pa.mem_map[pfn]) == PT_FILE)
		set_page_dirty(m, pfn); /* zap_pte_range: a written shared page must reach disk */
	z->mm->rss[mm_counter(m, z->vma, pfn)]--;
	z->pages++;
	free_page_and_swap_cache(m, pfn); /* tlb_finish_mmu's free_pages_and_swap_cache */
}

/* zap_page_range(): unmaps every page of [start, end), VMA by VMA. */
void zap_page_range(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	update_hiwater_rss(mm);
	for (struct vm_area_struct *v = find_vma(mm, start); v && v->vm_start < end;
	     v = v->vm_next) {
		struct zap_ctx z = {mm, v, 0};
		uint64_t s = v->vm_start > start ? v->vm_start : start;
		uint64_t e = v->vm_end < end ? v->vm_end : end;
		if (v->vm_flags & VM_HUGETLB) {
			unmap_hugepage_range(m, mm, v, s, e);
			continue;
		}
		pt_for_each(m, mm, s, e, zap_one_pte, &z);
		if (z.pages)
			ev_emit(m, EV_ZAP_PTE, s, e, z.pages, NULL);
	}
}

struct copy_ctx {
	struct mm_struct *dst, *src;
	const struct vm_area_struct *vma;
	uint64_t cached_base; /* va range of the child's leaf table in cached */
	struct pte_ref cached;
	int failed;
	uint64_t ptes;
};

static void copy_one_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref,
                         uint64_t pte)
{
	struct copy_ctx *c = arg;
	if (c->failed)
		return;
	uint64_t span_mask = ~((1ull << pt_shift(m, pt_levels(m) - 2)) - 1);
	if ((va & span_mask) != c->cached_base) {
		if (pt_walk(m, c->dst, va, 1, &c->cached, NULL)) {
			c->failed = 1;
			return;
		}
		c->cached_base = va & span_mask;
	}
	if (pte_present(pte)) {
		/* A private writable page is now shared: both sides lose write (COW). */
		if ((c->vma->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE && (pte & _PAGE_RW)) {
			pte = (pte & ~_PAGE_RW) | _PAGE_COW;
			pt_write(m, ref.tpfn, ref.idx, pte);
		}
		if (vm_normal_page(m, pte)) {
			uint32_t pfn = pte_pfn(m, pte);
			m->pa.mem_map[pfn].refcount++;
			c->dst->rss[mm_counter(m, c->vma, pfn)]++;
		}
	} else {
		swap_duplicate(m, (uint32_t)pte_to_swp_entry(pte), 1); /* the child names it too */
		c->dst->rss[MM_SWAPENTS]++;
	}
	pt_write(m, c->cached.tpfn, pt_index(m, va, pt_levels(m) - 1), pte);
	c->ptes++;
}

/*
 * copy_page_range(): copies the PTEs of the parent's vma into the child's tables. Private
 * writable pages become COW on both sides. Returns -1 if a child table could not be
 * allocated; *ptes counts the entries copied.
 */
int copy_page_range(struct machine *m, struct mm_struct *dst, struct mm_struct *src,
                    const struct vm_area_struct *vma, uint64_t *ptes)
{
	if (vma->vm_flags & VM_HUGETLB)
		return copy_hugetlb_page_range(m, dst, src, vma) ? -1 : 0;
	struct copy_ctx c = {dst, src, vma, 1, {0, 0}, 0, 0};
	pt_for_each(m, src, vma->vm_start, vma->vm_end, copy_one_pte, &c);
	*ptes = c.ptes;
	return c.failed ? -1 : 0;
}
