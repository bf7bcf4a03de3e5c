/*
 * mprotect (mm/mprotect.c): mprotect_fixup splits the VMAs at the range's ends, sets the new
 * protection, and change_pte_range rewrites the PTEs already present.
 */
#include "mmap.h"

#include "kernel.h"
#include "tlb.h"

struct prot_ctx {
	struct mm_struct *mm;
	uint32_t vm_flags;
};

/* change_pte_range(): writable only where no COW is pending; NX follows VM_EXEC. */
static void change_one_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref,
                           uint64_t pte)
{
	struct prot_ctx *c = arg;
	if (!pte_present(pte))
		return;
	uint64_t n = pte;
	if (!(c->vm_flags & VM_WRITE))
		n &= ~_PAGE_RW;
	else if ((c->vm_flags & VM_SHARED) && !(pte & _PAGE_SPECIAL))
		n |= _PAGE_RW;
	n = (c->vm_flags & VM_EXEC) ? (n & ~_PAGE_NX) : (n | _PAGE_NX);
	n = mk_pte(m, pte_pfn(m, n), n & ~0x000ffffffffff000ull);
	if (n != pte) {
		pt_write(m, ref.tpfn, ref.idx, n);
		flush_tlb_page(m, c->mm->id, va);
	}
}

enum vm_err do_mprotect(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t len,
                        uint32_t prot, struct op_result *res)
{
	if (start % PAGE_SIZE)
		return op_fail(res, VM_EINVAL, "mprotect: address %#llx is not page aligned",
		               (unsigned long long)start);
	if (len == 0)
		return op_fail(res, VM_EINVAL, "mprotect: length is 0");
	if (prot & ~(PROT_READ_ | PROT_WRITE_ | PROT_EXEC_))
		return op_fail(res, VM_EINVAL, "mprotect: unknown prot bits %#x", prot);
	uint64_t end = start + PAGE_ALIGN(len);
	if (end > task_size(m) || end <= start) /* <=: PAGE_ALIGN of a huge length wraps to 0 */
		return op_fail(res, VM_EINVAL, "mprotect: range reaches kernel space");
	/* The whole range must be mapped, without holes (ENOMEM like the kernel). */
	uint64_t a = start;
	for (const struct vm_area_struct *v = find_vma(mm, start); a < end; v = v->vm_next) {
		if (!v || v->vm_start > a)
			return op_fail(res, VM_ENOMEM, "mprotect: %#llx is not mapped",
			               (unsigned long long)a);
		if ((prot & PROT_WRITE_) && (v->vm_flags & VM_MIXEDMAP) &&
		    !(v->vm_flags & VM_SHARED))
			return op_fail(res, VM_EPERM, "mprotect: map_driver mapping is read-only");
		a = v->vm_end;
	}
	if (huge_misaligned(m, mm, start, end))
		return op_fail(res, VM_EINVAL, "mprotect: %#llx-%#llx cuts a huge page",
		               (unsigned long long)start, (unsigned long long)end);
	if (vma_prealloc(m, splits_needed(mm, start, end)))
		return op_fail(res, VM_ENOMEM, "mprotect: out of memory splitting a VMA");
	/* After the prealloc the splits cannot fail. */
	struct vm_area_struct *v = find_vma(mm, start);
	if (v->vm_start < start)
		v = split_vma(m, mm, v, start);
	while (v && v->vm_start < end) {
		if (v->vm_end > end)
			split_vma(m, mm, v, end);
		uint32_t nf = (v->vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC)) |
		              (calc_vm_flags(prot, 0) & (VM_READ | VM_WRITE | VM_EXEC));
		if ((nf & (VM_WRITE | VM_SHARED)) == VM_WRITE)
			nf |= VM_ACCOUNT; /* mprotect_fixup charges a newly writable private VMA */
		vm_stat_account(mm, v->vm_flags, -(int64_t)vma_pages(v));
		v->vm_flags = nf;
		vm_stat_account(mm, v->vm_flags, (int64_t)vma_pages(v));
		char p[5];
		prot_str(nf, p);
		ev_emit(m, EV_MPROTECT, v->vm_start, v->vm_end, 0, p);
		struct prot_ctx c = {mm, nf};
		if (nf & VM_HUGETLB)
			hugetlb_change_protection(m, mm, v);
		else
			pt_for_each(m, mm, v->vm_start, v->vm_end, change_one_pte, &c);
		v = vma_merge(m, mm, v)->vm_next;
	}
	return VM_OK;
}
