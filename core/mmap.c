/*
 * Address spaces (mm/mmap.c): VMAs on a sorted list and an rbtree, find_vma,
 * get_unmapped_area (top-down), vma_merge, split_vma, do_mmap, do_munmap, brk, exit_mmap,
 * validate_mm's checks and the snapshot of every mm. mprotect.c, madvise.c, exec.c, fork.c
 * (dup_mmap), memory.c (zap and copy_page_range) and task_mmu.c (/proc views) use them.
 */
#include "mmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"
#include "task_mmu.h"
#include "tlb.h"

static const char *const mmap_tmpl[] = {
    [EV_DO_MMAP & 0xff] = "do_mmap: mm {a} addr {A} len {B} ({s})",
    [EV_GET_UNMAPPED_AREA & 0xff] = "get_unmapped_area: top-down below {B} -> {A}",
    [EV_VMA_MERGE & 0xff] = "vma_merge: {A}-{B} joins its neighbour ({s})",
    [EV_VMA_LINK & 0xff] = "vma_link: new vma {A}-{B} {s}",
    [EV_SPLIT_VMA & 0xff] = "split_vma: {A}-{B} split at {C}",
    [EV_DO_MUNMAP & 0xff] = "do_munmap: mm {a} {B}-{C}",
    [EV_MPROTECT & 0xff] = "mprotect_fixup: {A}-{B} -> {s}",
    [EV_BRK & 0xff] = "brk: mm {a} brk {B} -> {C}",
    [EV_ZAP_PTE & 0xff] = "zap_pte_range: {A}-{B}: {c} pages unmapped",
    [EV_FREE_PGTABLES & 0xff] = "free_pgtables: {A}-{B}",
    [EV_MADVISE & 0xff] = "madvise: {A}-{B} {s}",
    [EV_VMA_REMOVE & 0xff] = "remove_vma: {A}-{B}",
    [EV_EXIT_MMAP & 0xff] = "exit_mmap: mm {a}, {b} vmas",
    [EV_MM_ALLOC & 0xff] = "mm_alloc: mm {a} pgd pfn {B}",
    [EV_MMDROP & 0xff] = "mmdrop: mm {a} freed",
    [EV_EXPAND_STACK & 0xff] = "expand_stack: [stack] grows down from {A} to {B}",
};

const struct event_table mmap_events = {5, mmap_tmpl, ARRAY_SIZE(mmap_tmpl)};

uint64_t mmap_min_addr(const struct machine *m)
{
	(void)m;
	return 0x10000; /* /proc/sys/vm/mmap_min_addr: page 0 is never mapped */
}

/* ---- mm_struct lifetime ------------------------------------------------------------ */

int mmap_init(struct machine *m)
{
	struct mmap_state *s = &m->mmap;
	if (pgtable_init(m))
		return -1;
	/* swapper_pg_dir is part of the kernel image (reserved at boot), like the zero page. */
	s->init_mm.pgd = SWAPPER_PG_DIR_PFN;
	if (page_type(&m->pa.mem_map[SWAPPER_PG_DIR_PFN]) != PT_RESERVED ||
	    !kmap_alloc(m, SWAPPER_PG_DIR_PFN))
		return -1;
	s->init_mm.mm_users = s->init_mm.mm_count = 1;
	s->next_mm_id = 1;
	return 0;
}

static void vma_free_host(struct mm_struct *mm)
{
	struct vm_area_struct *v = mm->mmap;
	while (v) {
		struct vm_area_struct *n = v->vm_next;
		free(v);
		v = n;
	}
}

void mmap_release(struct machine *m)
{
	struct mmap_state *s = &m->mmap;
	for (uint32_t i = 0; i < s->nr_mms; i++) {
		vma_free_host(s->mms[i]);
		free(s->mms[i]);
	}
	free(s->mms);
	s->mms = NULL;
	s->nr_mms = s->cap_mms = 0;
	pgtable_release(m);
}

int mms_add(struct mmap_state *s, struct mm_struct *mm)
{
	if (s->nr_mms == s->cap_mms) {
		uint32_t cap = s->cap_mms ? s->cap_mms * 2 : 16;
		struct mm_struct **n = realloc(s->mms, cap * sizeof(*n));
		if (!n)
			return -1;
		s->mms = n;
		s->cap_mms = cap;
	}
	s->mms[s->nr_mms++] = mm;
	return 0;
}

void mms_del(struct mmap_state *s, struct mm_struct *mm)
{
	for (uint32_t i = 0; i < s->nr_mms; i++) {
		if (s->mms[i] == mm) {
			memmove(&s->mms[i], &s->mms[i + 1], (s->nr_mms - i - 1) * sizeof(*s->mms));
			s->nr_mms--;
			return;
		}
	}
}

/* ---- VMA list and tree --------------------------------------------------------------- */

struct vm_area_struct *vm_area_alloc(struct machine *m, struct mm_struct *mm)
{
	struct vm_area_struct *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->objp = kmem_cache_alloc(m, KMEM_VM_AREA_STRUCT, GFP_KERNEL);
	if (!v->objp) {
		free(v);
		return NULL;
	}
	v->vm_mm = mm;
	return v;
}

void vm_area_free(struct machine *m, struct vm_area_struct *v)
{
	kmem_cache_free(m, KMEM_VM_AREA_STRUCT, v->objp);
	free(v);
}

/* vm_stat_account(): VmData, VmStk and the exec pages of VmLib/VmExe. */
void vm_stat_account(struct mm_struct *mm, uint32_t flags, int64_t npages)
{
	mm->total_vm += (uint64_t)npages;
	if (mm->total_vm > mm->hiwater_vm)
		mm->hiwater_vm = mm->total_vm;
	if ((flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) == VM_EXEC)
		mm->exec_vm += (uint64_t)npages;
	else if (flags & VM_GROWSDOWN)
		mm->stack_vm += (uint64_t)npages;
	else if ((flags & (VM_WRITE | VM_SHARED | VM_GROWSDOWN)) == VM_WRITE)
		mm->data_vm += (uint64_t)npages;
}

static void vma_rb_insert(struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct rb_node **link = &mm->mm_rb.node, *parent = NULL;
	while (*link) {
		parent = *link;
		struct vm_area_struct *v = rb_entry(parent, struct vm_area_struct, vm_rb);
		link = vma->vm_start < v->vm_start ? &parent->left : &parent->right;
	}
	rb_link_node(&vma->vm_rb, parent, link);
	rb_insert_color(&vma->vm_rb, &mm->mm_rb);
}

/* __vma_link(): into the list after prev (NULL: at the head) and into the tree. */
void vma_link(struct mm_struct *mm, struct vm_area_struct *vma, struct vm_area_struct *prev)
{
	vma->vm_prev = prev;
	vma->vm_next = prev ? prev->vm_next : mm->mmap;
	if (vma->vm_next)
		vma->vm_next->vm_prev = vma;
	if (prev)
		prev->vm_next = vma;
	else
		mm->mmap = vma;
	vma_rb_insert(mm, vma);
	mm->map_count++;
	vm_stat_account(mm, vma->vm_flags, (int64_t)vma_pages(vma));
}

static void vma_unlink(struct mm_struct *mm, struct vm_area_struct *vma)
{
	if (vma->vm_prev)
		vma->vm_prev->vm_next = vma->vm_next;
	else
		mm->mmap = vma->vm_next;
	if (vma->vm_next)
		vma->vm_next->vm_prev = vma->vm_prev;
	rb_erase(&vma->vm_rb, &mm->mm_rb);
	if (mm->mmap_cache == vma)
		mm->mmap_cache = NULL;
	mm->map_count--;
	vm_stat_account(mm, vma->vm_flags, -(int64_t)vma_pages(vma));
}

/* find_vma(): the first VMA with vm_end > addr (it may start above addr). */
const struct vm_area_struct *find_vma_const(const struct mm_struct *mm, uint64_t addr)
{
	const struct rb_node *n = mm->mm_rb.node;
	const struct vm_area_struct *best = NULL;
	while (n) {
		const struct vm_area_struct *v = rb_entry(n, struct vm_area_struct, vm_rb);
		if (v->vm_end > addr) {
			best = v;
			if (v->vm_start <= addr)
				break;
			n = n->left;
		} else {
			n = n->right;
		}
	}
	return best;
}

struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *c = mm->mmap_cache;
	if (c && c->vm_start <= addr && c->vm_end > addr)
		return c;
	struct vm_area_struct *v = (struct vm_area_struct *)find_vma_const(mm, addr);
	if (v && v->vm_start <= addr)
		mm->mmap_cache = v;
	return v;
}

/* The last VMA that starts below addr (find_vma_prev's prev), NULL if none. */
static struct vm_area_struct *vma_prev_of(struct mm_struct *mm, uint64_t addr)
{
	struct vm_area_struct *v = find_vma(mm, addr);
	if (!v) {
		v = mm->mmap;
		while (v && v->vm_next)
			v = v->vm_next;
		return v;
	}
	return v->vm_start < addr ? v : v->vm_prev;
}

int vma_is_stack(const struct mm_struct *mm, const struct vm_area_struct *vma)
{
	return vma->vm_start <= mm->start_stack && vma->vm_end >= mm->start_stack;
}

/* ---- page-level helpers shared with memory.c -------------------------------------------- */

int mm_counter(const struct machine *m, const struct vm_area_struct *vma, uint32_t pfn)
{
	if (page_type(&m->pa.mem_map[pfn]) == PT_ANON)
		return (vma->vm_flags & VM_SHARED) ? MM_SHMEMPAGES : MM_ANONPAGES;
	return MM_FILEPAGES;
}

uint64_t get_mm_rss(const struct mm_struct *mm)
{
	return mm->rss[MM_FILEPAGES] + mm->rss[MM_ANONPAGES] + mm->rss[MM_SHMEMPAGES];
}

void update_hiwater_rss(struct mm_struct *mm)
{
	uint64_t rss = get_mm_rss(mm);
	if (rss > mm->hiwater_rss)
		mm->hiwater_rss = rss;
}

/* ---- split and merge --------------------------------------------------------------- */

/* split_vma(): vma keeps [vm_start, addr); the new VMA takes [addr, vm_end). */
struct vm_area_struct *split_vma(struct machine *m, struct mm_struct *mm,
                                 struct vm_area_struct *vma, uint64_t addr)
{
	struct vm_area_struct *n = vm_area_alloc(m, mm);
	if (!n)
		return NULL;
	ev_emit(m, EV_SPLIT_VMA, vma->vm_start, vma->vm_end, addr, NULL);
	uint64_t pages = (addr - vma->vm_start) >> PAGE_SHIFT;
	vm_stat_account(mm, vma->vm_flags, -(int64_t)vma_pages(vma));
	n->vm_flags = vma->vm_flags;
	n->vm_file = vma->vm_file;
	n->vm_start = addr;
	n->vm_end = vma->vm_end;
	n->vm_pgoff = vma->vm_pgoff + pages;
	vma->vm_end = addr;
	vm_stat_account(mm, vma->vm_flags, (int64_t)vma_pages(vma));
	vma_link(mm, n, vma);
	return n;
}

static int can_merge(const struct vm_area_struct *a, const struct vm_area_struct *b)
{
	/* a directly below b, same flags and backing, file offsets continuous. */
	return a->vm_end == b->vm_start && a->vm_flags == b->vm_flags && a->vm_file == b->vm_file &&
	       a->vm_pgoff + vma_pages(a) == b->vm_pgoff;
}

/* Absorbs next into vma (both already linked); frees next. */
static void vma_absorb_next(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma)
{
	struct vm_area_struct *next = vma->vm_next;
	uint64_t end = next->vm_end;
	vma_unlink(mm, next);
	vm_area_free(m, next);
	vm_stat_account(mm, vma->vm_flags, (int64_t)((end - vma->vm_end) >> PAGE_SHIFT));
	vma->vm_end = end;
}

/* vma_merge() for a VMA already in the list: joins it with equal neighbours on both sides. */
struct vm_area_struct *vma_merge(struct machine *m, struct mm_struct *mm,
                                 struct vm_area_struct *vma)
{
	if (vma->vm_next && can_merge(vma, vma->vm_next)) {
		ev_emit(m, EV_VMA_MERGE, vma->vm_start, vma->vm_next->vm_end, 0, "next");
		vma_absorb_next(m, mm, vma);
	}
	if (vma->vm_prev && can_merge(vma->vm_prev, vma)) {
		vma = vma->vm_prev;
		ev_emit(m, EV_VMA_MERGE, vma->vm_start, vma->vm_next->vm_end, 0, "prev");
		vma_absorb_next(m, mm, vma);
	}
	return vma;
}

/* ---- stack growth ---------------------------------------------------------------------- */

#define STACK_RLIMIT    (8ull << 20)   /* RLIMIT_STACK default: 8 MiB */
#define STACK_GUARD_GAP (256ull << 12) /* stack_guard_gap: 256 pages kept free below */

/*
 * expand_downwards(): a fault below a VM_GROWSDOWN VMA grows it down to the faulting page,
 * within RLIMIT_STACK and keeping the guard gap above the VMA below. 0 on success.
 */
int expand_stack(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma, uint64_t addr)
{
	uint64_t start = addr & PAGE_MASK_;
	struct vm_area_struct *prev = vma->vm_prev;
	if (!(vma->vm_flags & VM_GROWSDOWN) || start >= vma->vm_start ||
	    vma->vm_end - start > STACK_RLIMIT || start < mmap_min_addr(m) ||
	    (prev && prev->vm_end + STACK_GUARD_GAP > start))
		return -1;
	ev_emit(m, EV_EXPAND_STACK, vma->vm_start, start, 0, NULL);
	vm_stat_account(mm, vma->vm_flags, (int64_t)((vma->vm_start - start) >> PAGE_SHIFT));
	vma->vm_start = start; /* the tree order is unchanged: nothing lies in between */
	vma->vm_pgoff = start >> PAGE_SHIFT;
	return 0;
}

/* ---- mmap / munmap ------------------------------------------------------------------ */

/*
 * unmapped_area_topdown(): the highest gap of len bytes below mmap_base whose start is a
 * multiple of align (a power of two: PAGE_SIZE, or the huge page size for MAP_HUGETLB).
 */
static uint64_t get_unmapped_area(struct machine *m, struct mm_struct *mm, uint64_t len,
                                  uint64_t align)
{
	uint64_t high = mm->mmap_base, low = mmap_min_addr(m);
	struct vm_area_struct *v = vma_prev_of(mm, high);
	for (;;) {
		uint64_t gap_start = v ? v->vm_end : low;
		if (gap_start < low)
			gap_start = low;
		if (high >= gap_start && high - gap_start >= len &&
		    ((high - len) & ~(align - 1)) >= gap_start) {
			uint64_t addr = (high - len) & ~(align - 1);
			ev_emit(m, EV_GET_UNMAPPED_AREA, addr, mm->mmap_base, 0, NULL);
			return addr;
		}
		if (!v)
			return 0;
		high = v->vm_start;
		v = v->vm_prev;
	}
}

static int range_free(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	const struct vm_area_struct *v = find_vma(mm, start);
	return !v || v->vm_start >= end;
}

/*
 * A hugetlb VMA splits only at huge page boundaries (hugetlb_vm_op_split): start and end
 * must be aligned where they fall inside one. Returns the offending address or 0.
 */
uint64_t huge_misaligned(const struct machine *m, struct mm_struct *mm, uint64_t start,
                         uint64_t end)
{
	uint64_t mask = huge_page_size(m) - 1;
	const struct vm_area_struct *v = find_vma(mm, start);
	if (v && v->vm_start < start && (v->vm_flags & VM_HUGETLB) && (start & mask))
		return start;
	v = find_vma(mm, end - 1);
	if (v && v->vm_start < end && v->vm_end > end && (v->vm_flags & VM_HUGETLB) && (end & mask))
		return end;
	return 0;
}

/* How many new VMAs editing [start, end) splits off: one for each end inside a VMA. */
unsigned splits_needed(struct mm_struct *mm, uint64_t start, uint64_t end)
{
	const struct vm_area_struct *v = find_vma(mm, start);
	unsigned n = v && v->vm_start < start && v->vm_start < end;
	v = find_vma(mm, end - 1);
	return n + (v && v->vm_start < end && v->vm_end > end);
}

/*
 * The vm_area_structs an edit will allocate, taken care of before anything changes: a split
 * that failed halfway through an op would leave the op failed but the VMAs changed.
 */
int vma_prealloc(struct machine *m, unsigned n)
{
	return n ? kmem_cache_reserve(m, KMEM_VM_AREA_STRUCT, n, GFP_KERNEL) : 0;
}

/* do_munmap(): split at both ends, then unlink, zap and free the VMAs inside. */
static int do_munmap(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	struct vm_area_struct *v = find_vma(mm, start);
	if (!v || v->vm_start >= end) {
		ev_emit(m, EV_DO_MUNMAP, mm->id, start, end, NULL);
		return 0; /* nothing mapped there: not an error */
	}
	if (vma_prealloc(m, splits_needed(mm, start, end)))
		return -1;
	ev_emit(m, EV_DO_MUNMAP, mm->id, start, end, NULL);
	if (v->vm_start < start) {
		v = split_vma(m, mm, v, start);
		if (!v)
			return -1;
	}
	struct vm_area_struct *last = find_vma(mm, end - 1);
	if (last && last->vm_start < end && last->vm_end > end && !split_vma(m, mm, last, end))
		return -1;
	zap_page_range(m, mm, start, end);
	while (v && v->vm_start < end) {
		struct vm_area_struct *next = v->vm_next;
		ev_emit(m, EV_VMA_REMOVE, v->vm_start, v->vm_end, 0, NULL);
		vma_unlink(mm, v);
		vm_area_free(m, v);
		v = next;
	}
	ev_emit(m, EV_FREE_PGTABLES, start, end, 0, NULL);
	free_pgtables(m, mm, start, end);
	return 0;
}

void prot_str(uint32_t flags, char *s)
{
	s[0] = (flags & VM_READ) ? 'r' : '-';
	s[1] = (flags & VM_WRITE) ? 'w' : '-';
	s[2] = (flags & VM_EXEC) ? 'x' : '-';
	s[3] = (flags & VM_MAYSHARE) ? 's' : 'p';
	s[4] = '\0';
}

uint32_t calc_vm_flags(uint32_t prot, uint32_t flags)
{
	uint32_t vf = (prot & PROT_READ_ ? VM_READ : 0) | (prot & PROT_WRITE_ ? VM_WRITE : 0) |
	              (prot & PROT_EXEC_ ? VM_EXEC : 0) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
	if (flags & MAP_SHARED_)
		vf |= VM_SHARED | VM_MAYSHARE;
	else if (prot & PROT_WRITE_)
		vf |= VM_ACCOUNT; /* accountable_mapping(): private and writable */
	return vf;
}

/* mmap_region(): the range is free; extend a neighbour or link a new VMA. */
struct vm_area_struct *mmap_region(struct machine *m, struct mm_struct *mm, uint64_t addr,
                                   uint64_t len, uint32_t vm_flags, uint32_t file, uint64_t pgoff)
{
	struct vm_area_struct *prev = vma_prev_of(mm, addr);
	struct vm_area_struct *v = vm_area_alloc(m, mm);
	if (!v)
		return NULL;
	v->vm_start = addr;
	v->vm_end = addr + len;
	v->vm_flags = vm_flags;
	v->vm_file = file;
	v->vm_pgoff = (file || (vm_flags & (VM_EXECIMAGE | VM_MIXEDMAP | VM_HUGETLB)))
	                  ? pgoff
	                  : addr >> PAGE_SHIFT;
	char p[5];
	prot_str(vm_flags, p);
	vma_link(mm, v, prev);
	ev_emit(m, EV_VMA_LINK, v->vm_start, v->vm_end, 0, p);
	return vma_merge(m, mm, v);
}

struct mmap_req {
	uint64_t addr, len, pgoff;
	uint32_t prot, flags, file;
};

static enum vm_err mmap_check_args(struct machine *m, struct mm_struct *mm,
                                   const struct mmap_req *q, struct op_result *res)
{
	uint64_t ts = task_size(m);
	if (q->len == 0)
		return op_fail(res, VM_EINVAL, "mmap: length is 0");
	if (q->len > ts)
		return op_fail(res, VM_ENOMEM, "mmap: length %#llx exceeds the user address space",
		               (unsigned long long)q->len);
	if (q->addr % PAGE_SIZE)
		return op_fail(res, VM_EINVAL, "mmap: address %#llx is not page aligned",
		               (unsigned long long)q->addr);
	if (q->prot & ~(PROT_READ_ | PROT_WRITE_ | PROT_EXEC_))
		return op_fail(res, VM_EINVAL, "mmap: unknown prot bits %#x", q->prot);
	uint32_t type = q->flags & (MAP_SHARED_ | MAP_PRIVATE_);
	if (type != MAP_SHARED_ && type != MAP_PRIVATE_)
		return op_fail(res, VM_EINVAL, "mmap: exactly one of MAP_SHARED, MAP_PRIVATE");
	if (q->flags & ~(MAP_SHARED_ | MAP_PRIVATE_ | MAP_FIXED_ | MAP_ANONYMOUS_ | MAP_DRIVER_ |
	                 MAP_HUGETLB_))
		return op_fail(res, VM_EINVAL, "mmap: unknown flags %#x", q->flags);
	if (q->flags & MAP_HUGETLB_) {
		if ((q->flags & (MAP_PRIVATE_ | MAP_ANONYMOUS_)) != (MAP_PRIVATE_ | MAP_ANONYMOUS_))
			return op_fail(res, VM_EINVAL,
			               "mmap: vmsim models MAP_HUGETLB for private anonymous "
			               "mappings only (MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB)");
		if ((q->flags & MAP_FIXED_) && q->addr % huge_page_size(m))
			return op_fail(
			    res, VM_EINVAL,
			    "mmap: MAP_HUGETLB | MAP_FIXED address %#llx is not a multiple "
			    "of the huge page size (%#llx)",
			    (unsigned long long)q->addr, (unsigned long long)huge_page_size(m));
	}
	uint64_t end = q->addr + PAGE_ALIGN(q->len);
	if ((q->flags & MAP_FIXED_) && (end > ts || end < q->addr))
		return op_fail(res, VM_EINVAL,
		               "mmap: MAP_FIXED range %#llx-%#llx reaches kernel space",
		               (unsigned long long)q->addr, (unsigned long long)end);
	if ((q->flags & MAP_FIXED_) && q->addr < mmap_min_addr(m))
		return op_fail(res, VM_EPERM, "mmap: MAP_FIXED below mmap_min_addr (%#llx)",
		               (unsigned long long)mmap_min_addr(m));
	if (q->flags & MAP_ANONYMOUS_) {
		if (q->file || (q->flags & MAP_DRIVER_))
			return op_fail(res, VM_EINVAL, "mmap: MAP_ANONYMOUS takes no file");
		return VM_OK;
	}
	if (q->pgoff % PAGE_SIZE)
		return op_fail(res, VM_EINVAL, "mmap: offset %#llx is not page aligned",
		               (unsigned long long)q->pgoff);
	if (q->flags & MAP_DRIVER_)
		return map_driver_mmap_check(m, q->file, q->pgoff, PAGE_ALIGN(q->len), type, res);
	if (filemap_file_size(m, q->file) < 0)
		return op_fail(res, VM_ENOENT, "mmap: no file with inode %u", q->file);
	(void)mm;
	return VM_OK;
}

static enum vm_err do_mmap(struct machine *m, struct mm_struct *mm, const struct mmap_req *q,
                           struct op_result *res)
{
	enum vm_err e = mmap_check_args(m, mm, q, res);
	if (e)
		return e;
	uint64_t len = PAGE_ALIGN(q->len), addr = q->addr, align = PAGE_SIZE;
	int huge = (q->flags & MAP_HUGETLB_) != 0;
	if (huge)
		len = (q->len + huge_page_size(m) - 1) & ~(huge_page_size(m) - 1);
	if (huge && (q->flags & MAP_FIXED_) && (addr + len > task_size(m) || addr + len < addr))
		return op_fail(res, VM_EINVAL,
		               "mmap: MAP_FIXED huge range %#llx-%#llx reaches kernel space",
		               (unsigned long long)addr, (unsigned long long)(addr + len));
	if ((q->flags & MAP_FIXED_) && huge_misaligned(m, mm, addr, addr + len))
		return op_fail(res, VM_EINVAL, "mmap: MAP_FIXED %#llx-%#llx cuts a huge page",
		               (unsigned long long)addr, (unsigned long long)(addr + len));
	if (huge) {
		align = huge_page_size(m);
		if (len > task_size(m) - mmap_min_addr(m))
			return op_fail(res, VM_ENOMEM,
			               "mmap: length %#llx exceeds the address space",
			               (unsigned long long)len);
		e = hugetlb_reserve_pages(m, len, res); /* before anything changes */
		if (e)
			return e;
	}
	ev_emit(m, EV_DO_MMAP, mm->id, addr, len,
	        huge ? "anon, MAP_HUGETLB"
	             : (q->flags & MAP_ANONYMOUS_
	                    ? "anon"
	                    : (q->flags & MAP_DRIVER_ ? "map_driver" : "file")));
	if (q->flags & MAP_FIXED_) {
		/* the splits, and the new VMA after them */
		if (vma_prealloc(m, splits_needed(mm, addr, addr + len) + 1) ||
		    do_munmap(m, mm, addr, addr + len)) {
			if (huge)
				m->hugetlb.resv_huge_pages -= len / align;
			return op_fail(res, VM_ENOMEM, "mmap: out of memory splitting a VMA");
		}
	} else if (!addr || addr % align || addr < mmap_min_addr(m) || addr + len > task_size(m) ||
	           !range_free(mm, addr, addr + len)) {
		addr = get_unmapped_area(m, mm, len, align);
		if (!addr) {
			if (huge)
				m->hugetlb.resv_huge_pages -= len / align;
			return op_fail(res, VM_ENOMEM, "mmap: no free range of %#llx bytes",
			               (unsigned long long)len);
		}
	}
	uint32_t vf = calc_vm_flags(q->prot, q->flags);
	uint32_t file = q->file;
	if (q->flags & MAP_DRIVER_)
		vf |= VM_IO | VM_DONTEXPAND | VM_MIXEDMAP;
	if (huge)
		vf |= VM_HUGETLB | VM_HUGE_RESV | VM_DONTEXPAND;
	if (!mmap_region(m, mm, addr, len, vf, file, q->pgoff >> PAGE_SHIFT)) {
		if (huge)
			m->hugetlb.resv_huge_pages -= len / align;
		return op_fail(res, VM_ENOMEM, "mmap: out of memory for the vm_area_struct");
	}
	res->value = addr;
	return VM_OK;
}

/* ---- brk ----------------------------------------------------------------------------- */

static enum vm_err do_brk(struct machine *m, struct mm_struct *mm, uint64_t brk,
                          struct op_result *res)
{
	if (brk == 0) { /* brk(0) asks where the break is */
		ev_emit(m, EV_BRK, mm->id, mm->brk, mm->brk, NULL);
		res->value = mm->brk;
		return VM_OK;
	}
	if (brk < mm->start_brk)
		return op_fail(res, VM_EINVAL, "brk: %#llx is below start_brk %#llx",
		               (unsigned long long)brk, (unsigned long long)mm->start_brk);
	if (brk > mm->mmap_base)
		return op_fail(res, VM_ENOMEM, "brk: %#llx runs into the mmap area",
		               (unsigned long long)brk);
	uint64_t oldend = PAGE_ALIGN(mm->brk), newend = PAGE_ALIGN(brk);
	if (newend > oldend && !range_free(mm, oldend, newend))
		return op_fail(res, VM_ENOMEM, "brk: %#llx-%#llx is already mapped",
		               (unsigned long long)oldend, (unsigned long long)newend);
	if (newend < oldend && huge_misaligned(m, mm, newend, oldend))
		return op_fail(res, VM_EINVAL, "brk: shrinking to %#llx would cut a huge page",
		               (unsigned long long)brk);
	ev_emit(m, EV_BRK, mm->id, mm->brk, brk, NULL);
	if (newend < oldend && do_munmap(m, mm, newend, oldend))
		return op_fail(res, VM_ENOMEM, "brk: out of memory splitting the heap");
	if (newend > oldend &&
	    !mmap_region(m, mm, oldend, newend - oldend,
	                 VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_ACCOUNT, 0,
	                 0))
		return op_fail(res, VM_ENOMEM, "brk: out of memory for the heap VMA");
	mm->brk = brk;
	res->value = brk;
	return VM_OK;
}

/* ---- teardown ------------------------------------------------------------------------ */

void exit_mmap(struct machine *m, struct mm_struct *mm)
{
	ev_emit(m, EV_EXIT_MMAP, mm->id, mm->map_count, 0, NULL);
	zap_page_range(m, mm, 0, task_size(m));
	free_pgtables(m, mm, 0, task_size(m));
	while (mm->mmap) {
		struct vm_area_struct *v = mm->mmap;
		vma_unlink(mm, v);
		vm_area_free(m, v);
	}
	if (m->tlb.mm_id == mm->id)
		flush_tlb_all(m, 0);
}

/* ---- ops ---------------------------------------------------------------------------- */

static enum vm_err user_mm(struct machine *m, uint32_t pid, struct mm_struct **mm,
                           struct op_result *res)
{
	struct task_struct *t = find_task(m, pid);
	if (!t)
		return op_fail(res, VM_ENOENT, "no process with pid %u", pid);
	*mm = t->mm;
	return VM_OK;
}

enum vm_err mmap_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	struct mm_struct *mm = NULL;
	enum vm_err e = user_mm(m, op->u.mmap.pid, &mm, res); /* pid is first in every variant */
	if (e)
		return e;
	switch (op->kind) {
	case OP_MMAP: {
		struct mmap_req q = {op->u.mmap.addr, op->u.mmap.len,   op->u.mmap.offset,
		                     op->u.mmap.prot, op->u.mmap.flags, op->u.mmap.file};
		return do_mmap(m, mm, &q, res);
	}
	case OP_MUNMAP: {
		uint64_t a = op->u.munmap.addr, len = op->u.munmap.len;
		if (a % PAGE_SIZE)
			return op_fail(res, VM_EINVAL, "munmap: address %#llx is not page aligned",
			               (unsigned long long)a);
		if (len == 0)
			return op_fail(res, VM_EINVAL, "munmap: length is 0");
		if (a + PAGE_ALIGN(len) > task_size(m) || a + PAGE_ALIGN(len) <= a)
			return op_fail(res, VM_EINVAL, "munmap: range reaches kernel space");
		if (huge_misaligned(m, mm, a, a + PAGE_ALIGN(len)))
			return op_fail(
			    res, VM_EINVAL,
			    "munmap: %#llx-%#llx cuts a huge page (MAP_HUGETLB ranges go "
			    "by %#llx)",
			    (unsigned long long)a, (unsigned long long)(a + PAGE_ALIGN(len)),
			    (unsigned long long)huge_page_size(m));
		if (do_munmap(m, mm, a, a + PAGE_ALIGN(len)))
			return op_fail(res, VM_ENOMEM, "munmap: out of memory splitting a VMA");
		return VM_OK;
	}
	case OP_MPROTECT:
		return do_mprotect(m, mm, op->u.munmap.addr, op->u.munmap.len, op->u.munmap.prot,
		                   res);
	case OP_BRK:
		return do_brk(m, mm, op->u.brk.addr, res);
	case OP_MADVISE:
		return do_madvise(m, mm, op->u.madvise.addr, op->u.madvise.len,
		                  op->u.madvise.advice, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown mmap op %#x", (unsigned)op->kind);
	}
}

/* ---- machine_check ------------------------------------------------------------------ */

/* List sorted and disjoint, tree in-order equal to the list, counters equal to the sum. */
static int check_vmas(const struct mm_struct *mm, char *buf, size_t len)
{
	uint64_t total = 0, data = 0, exec = 0, stack = 0, n = 0;
	const struct vm_area_struct *prev = NULL;
	const struct rb_node *rb = rb_first(&mm->mm_rb);
	CHECK(rb_check(&mm->mm_rb) >= 0, "mm %u: VMA rbtree breaks a red-black rule", mm->id);
	for (const struct vm_area_struct *v = mm->mmap; v; prev = v, v = v->vm_next, n++) {
		CHECK(v->vm_start < v->vm_end && v->vm_start % PAGE_SIZE == 0 &&
		          v->vm_end % PAGE_SIZE == 0,
		      "mm %u: VMA %#llx-%#llx is empty or unaligned", mm->id,
		      (unsigned long long)v->vm_start, (unsigned long long)v->vm_end);
		CHECK(!prev || prev->vm_end <= v->vm_start, "mm %u: VMAs overlap at %#llx", mm->id,
		      (unsigned long long)v->vm_start);
		CHECK(v->vm_prev == prev && v->vm_mm == mm, "mm %u: VMA list links broken", mm->id);
		CHECK(!prev || !can_merge(prev, v), "mm %u: VMAs at %#llx should have merged",
		      mm->id, (unsigned long long)v->vm_start);
		CHECK(rb && rb_entry(rb, struct vm_area_struct, vm_rb) == v,
		      "mm %u: tree and list disagree at %#llx", mm->id,
		      (unsigned long long)v->vm_start);
		rb = rb_next(rb);
		uint64_t p = vma_pages(v);
		total += p;
		if ((v->vm_flags & (VM_EXEC | VM_WRITE | VM_GROWSDOWN)) == VM_EXEC)
			exec += p;
		else if (v->vm_flags & VM_GROWSDOWN)
			stack += p;
		else if ((v->vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE)
			data += p;
	}
	CHECK(!rb, "mm %u: tree has more VMAs than the list", mm->id);
	CHECK(n == mm->map_count, "mm %u: map_count %u but %llu VMAs", mm->id, mm->map_count,
	      (unsigned long long)n);
	CHECK(total == mm->total_vm && data == mm->data_vm && exec == mm->exec_vm &&
	          stack == mm->stack_vm,
	      "mm %u: total_vm/data_vm/exec_vm/stack_vm disagree with the VMAs", mm->id);
	return 0;
}

int mmap_check(const struct machine *m, char *buf, size_t len)
{
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++)
		if (check_vmas(m->mmap.mms[i], buf, len))
			return -1;
	return pgtable_check(m, buf, len);
}

/* ---- snapshot ----------------------------------------------------------------------- */

static void mm_save(const struct mm_struct *mm, struct snap_writer *w)
{
	const uint64_t f[] = {mm->total_vm,   mm->hiwater_vm,   mm->locked_vm,   mm->data_vm,
	                      mm->exec_vm,    mm->stack_vm,     mm->rss[0],      mm->rss[1],
	                      mm->rss[2],     mm->rss[3],       mm->hiwater_rss, mm->pgtables_bytes,
	                      mm->start_code, mm->end_code,     mm->start_data,  mm->end_data,
	                      mm->start_brk,  mm->brk,          mm->start_stack, mm->mmap_base,
	                      mm->objp,       mm->anon_vma_objp};
	snap_put_u32(w, mm->id);
	snap_put_u32(w, mm->pgd);
	snap_put_u32(w, (uint32_t)mm->mm_users);
	snap_put_u32(w, (uint32_t)mm->mm_count);
	snap_put_u32(w, mm->exe_ino);
	snap_put_str(w, mm->exe);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		snap_put_u64(w, f[i]);
	snap_put_u32(w, mm->map_count);
	for (const struct vm_area_struct *v = mm->mmap; v; v = v->vm_next) {
		snap_put_u64(w, v->vm_start);
		snap_put_u64(w, v->vm_end);
		snap_put_u64(w, v->vm_pgoff);
		snap_put_u32(w, v->vm_flags);
		snap_put_u32(w, v->vm_file);
		snap_put_u64(w, v->objp);
	}
}

static struct mm_struct *mm_load(struct machine *m, struct snap_reader *r)
{
	struct mm_struct *mm = calloc(1, sizeof(*mm));
	if (!mm || mms_add(&m->mmap, mm)) {
		free(mm);
		snap_fail(r, "mm: out of host memory");
		return NULL;
	}
	mm->id = snap_get_u32(r);
	mm->pgd = snap_get_u32(r);
	mm->mm_users = (int32_t)snap_get_u32(r);
	mm->mm_count = (int32_t)snap_get_u32(r);
	mm->exe_ino = snap_get_u32(r);
	snap_get_str(r, mm->exe, sizeof(mm->exe));
	uint64_t *f[] = {&mm->total_vm,   &mm->hiwater_vm,   &mm->locked_vm,   &mm->data_vm,
	                 &mm->exec_vm,    &mm->stack_vm,     &mm->rss[0],      &mm->rss[1],
	                 &mm->rss[2],     &mm->rss[3],       &mm->hiwater_rss, &mm->pgtables_bytes,
	                 &mm->start_code, &mm->end_code,     &mm->start_data,  &mm->end_data,
	                 &mm->start_brk,  &mm->brk,          &mm->start_stack, &mm->mmap_base,
	                 &mm->objp,       &mm->anon_vma_objp};
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		*f[i] = snap_get_u64(r);
	uint32_t n = snap_get_u32(r);
	if (mm->pgd >= m->pa.nr_frames)
		snap_fail(r, "mm %u: bad pgd", mm->id);
	/* vma_link recounts total_vm etc.; keep the saved values, which the check compares. */
	uint64_t keep[] = {mm->total_vm, mm->hiwater_vm, mm->data_vm, mm->exec_vm, mm->stack_vm};
	mm->total_vm = mm->data_vm = mm->exec_vm = mm->stack_vm = 0;
	struct vm_area_struct *prev = NULL;
	for (uint32_t i = 0; i < n && !r->err; i++) {
		struct vm_area_struct *v = calloc(1, sizeof(*v));
		if (!v) {
			snap_fail(r, "vma: out of host memory");
			break;
		}
		v->vm_mm = mm;
		v->vm_start = snap_get_u64(r);
		v->vm_end = snap_get_u64(r);
		v->vm_pgoff = snap_get_u64(r);
		v->vm_flags = snap_get_u32(r);
		v->vm_file = snap_get_u32(r);
		v->objp = snap_get_u64(r);
		if (v->vm_start >= v->vm_end || (prev && prev->vm_end > v->vm_start)) {
			free(v);
			snap_fail(r, "mm %u: bad VMA", mm->id);
			break;
		}
		vma_link(mm, v, prev);
		prev = v;
	}
	mm->total_vm = keep[0];
	mm->hiwater_vm = keep[1];
	mm->data_vm = keep[2];
	mm->exec_vm = keep[3];
	mm->stack_vm = keep[4];
	return mm;
}

void mmap_save_mms(const struct machine *m, struct snap_writer *w)
{
	const struct mmap_state *s = &m->mmap;
	snap_put_u32(w, s->next_mm_id);
	snap_put_u32(w, s->nr_mms);
	for (uint32_t i = 0; i < s->nr_mms; i++)
		mm_save(s->mms[i], w);
}

int mmap_load_mms(struct machine *m, struct snap_reader *r)
{
	m->mmap.next_mm_id = snap_get_u32(r);
	uint32_t n = snap_get_u32(r);
	for (uint32_t i = 0; i < n && !r->err; i++)
		mm_load(m, r);
	return r->err ? -1 : 0;
}

struct mm_struct *mm_by_id(const struct machine *m, uint32_t id)
{
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++)
		if (m->mmap.mms[i]->id == id)
			return m->mmap.mms[i];
	return NULL;
}

void mmap_save(const struct machine *m, struct snap_writer *w)
{
	snap_put_tag(w, "MMAP");
	snap_put_u32(w, m->mmap.init_mm.pgd);
	pgtable_save(m, w);
}

int mmap_load(struct machine *m, struct snap_reader *r)
{
	if (snap_expect_tag(r, "MMAP"))
		return -1;
	/* mmap_init made a boot pgd; the snapshot's tables replace every kmap'ed frame. */
	pgtable_release(m);
	if (pgtable_init(m))
		return snap_fail(r, "kmap: out of host memory");
	m->mmap.init_mm.pgd = snap_get_u32(r);
	/* Checked like each mm's pgd: the checks index per-frame arrays with it. */
	if (!r->err && m->mmap.init_mm.pgd >= m->pa.nr_frames)
		return snap_fail(r, "init_mm: bad pgd %u", m->mmap.init_mm.pgd);
	return pgtable_load(m, r);
}
