/*
 * madvise (mm/madvise.c): MADV_DONTNEED, the one advice modelled, zaps the range's pages;
 * the VMAs stay, and the next touch faults the pages in again.
 */
#include "mmap.h"

#include "kernel.h"

enum vm_err do_madvise(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t len,
                       uint32_t advice, struct op_result *res)
{
	if (advice != MADV_DONTNEED_)
		return op_fail(res, VM_EINVAL, "madvise: only MADV_DONTNEED (4) is modelled");
	if (start % PAGE_SIZE || len == 0)
		return op_fail(res, VM_EINVAL, "madvise: address must be page aligned, length > 0");
	uint64_t end = start + PAGE_ALIGN(len);
	if (end > task_size(m) || end <= start)
		return op_fail(res, VM_EINVAL, "madvise: range reaches kernel space");
	uint64_t a = start;
	for (const struct vm_area_struct *v = find_vma(mm, start); a < end; v = v->vm_next) {
		if (!v || v->vm_start > a)
			return op_fail(res, VM_ENOMEM, "madvise: %#llx is not mapped",
			               (unsigned long long)a);
		if (v->vm_flags & VM_HUGETLB)
			return op_fail(
			    res, VM_EINVAL,
			    "madvise: MADV_DONTNEED on huge pages is not modelled (munmap "
			    "the range instead)");
		a = v->vm_end;
	}
	ev_emit(m, EV_MADVISE, start, end, 0, "MADV_DONTNEED");
	zap_page_range(m, mm, start, end);
	return VM_OK;
}
