/*
 * vmalloc (mm/vmalloc.c): kernel virtual areas between VMALLOC_START and VMALLOC_END, each
 * followed by one unmapped guard page and backed by order-0 frames that need not be
 * contiguous (HighMem first on i386), and /proc/vmallocinfo.
 *
 * The range, per arch:
 *   i386    arch/x86/include/asm/pgtable_32_areas.h: VMALLOC_START = high_memory +
 *           VMALLOC_OFFSET (an 8 MiB hole that catches overruns of the direct map);
 *           VMALLOC_END = PKMAP_BASE - 2 * PAGE_SIZE = 0xff800000 - 0x2000 = 0xff7fe000 (the
 *           non-PAE layout a 2.6-era kernel prints at boot: "vmalloc : 0xf8800000 - 0xff7fe000").
 *   x86_64  Documentation/arch/x86/x86_64/mm.rst (4-level paging): ffffc90000000000 ..
 *           ffffe8ffffffffff, 32 TB ("vmalloc/ioremap space", VMALLOC_SIZE_TB_L4 = 32).
 *
 * Deterministic rule (alloc_vmap_area's first fit): an area takes the lowest address at or
 * above VMALLOC_START where its pages plus the guard page fit between existing areas.
 * Pages are allocated in address order with alloc_pages(GFP_KERNEL | __GFP_HIGHMEM, 0).
 * The kernel page table (init_mm) is kept by pgtable.c; vmalloc_to_pfn() answers from the
 * area records here.
 */
#include "kernel.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const vmalloc_tmpl[] = {
    [EV_VMALLOC & 0xff] = "vmalloc: {a} bytes -> {b} pages + 1 guard page (caller {s})",
    [EV_VMAP_AREA & 0xff] = "alloc_vmap_area: lowest free range that fits: {A}-{B} ({c} "
                            "bytes with the guard page)",
    [EV_VMALLOC_PAGE & 0xff] = "__vmalloc_area_node: page {a} at {B} -> pfn {C}",
    [EV_VMALLOC_DONE & 0xff] = "vmalloc: area at {A} has {b} pages; {C} is the unmapped guard "
                               "page",
    [EV_VMALLOC_FAIL & 0xff] = "vmalloc: {a} pages needed, only {b} can be allocated above the "
                               "min watermarks",
    [EV_VFREE & 0xff] = "vfree: {A}: __free_pages each of its {b} pages",
    [EV_VFREE_DONE & 0xff] = "free_vmap_area: {A}-{B} is free address space again",
};

const struct event_table vmalloc_events = {3, vmalloc_tmpl, ARRAY_SIZE(vmalloc_tmpl)};

#define VMALLOC_OFFSET       (8ull << 20)
#define I386_VMALLOC_END     0xff7fe000ull
#define X86_64_VMALLOC_START 0xffffc90000000000ull
#define X86_64_VMALLOC_SIZE  (32ull << 40)

uint64_t vmalloc_start(const struct machine *m)
{
	if (m->cfg.arch == ARCH_X86_64)
		return X86_64_VMALLOC_START;
	uint64_t high_memory = phys_to_virt(m, lowmem_end_pfn(m) << PAGE_SHIFT);
	return high_memory + VMALLOC_OFFSET;
}

uint64_t vmalloc_end(const struct machine *m)
{
	if (m->cfg.arch == ARCH_X86_64)
		return X86_64_VMALLOC_START + X86_64_VMALLOC_SIZE;
	return I386_VMALLOC_END;
}

int is_vmalloc_addr(const struct machine *m, uint64_t addr)
{
	return addr >= vmalloc_start(m) && addr < vmalloc_end(m);
}

struct addr_key {
	const struct vmalloc_state *s;
	uint64_t addr;
};

static int area_below(const void *arg, uint32_t i)
{
	const struct addr_key *k = arg;
	return k->s->areas[i].va_end <= k->addr;
}

/* Index of the first area whose va_end is above addr (the areas are sorted by address). */
static uint32_t area_index(const struct machine *m, uint64_t addr)
{
	struct addr_key k = {&m->vmalloc, addr};
	return sorted_lower_bound(m->vmalloc.nr_areas, area_below, &k);
}

const struct vmap_area *find_vmap_area(const struct machine *m, uint64_t addr)
{
	uint32_t i = area_index(m, addr);
	if (i < m->vmalloc.nr_areas && m->vmalloc.areas[i].va_start <= addr)
		return &m->vmalloc.areas[i];
	return NULL;
}

uint32_t vmalloc_to_pfn(const struct machine *m, uint64_t addr)
{
	const struct vmap_area *va = find_vmap_area(m, addr);
	if (!va)
		return PFN_NONE;
	uint64_t idx = (addr - va->va_start) >> PAGE_SHIFT;
	return idx < va->nr_pages ? va->pages[idx] : PFN_NONE; /* the guard page maps nothing */
}

/* First fit: the lowest gap above VMALLOC_START holding size bytes; its slot in the array. */
static int find_free_range(const struct machine *m, uint64_t size, uint64_t *start, uint32_t *slot)
{
	uint64_t prev_end = vmalloc_start(m);
	const struct vmalloc_state *v = &m->vmalloc;
	for (uint32_t i = 0; i <= v->nr_areas; i++) {
		uint64_t next = i < v->nr_areas ? v->areas[i].va_start : vmalloc_end(m);
		if (next >= prev_end && next - prev_end >= size) {
			*start = prev_end;
			*slot = i;
			return 0;
		}
		if (i < v->nr_areas)
			prev_end = v->areas[i].va_end;
	}
	return -1;
}

static int areas_reserve(struct vmalloc_state *v)
{
	if (v->nr_areas < v->cap_areas)
		return 0;
	uint32_t cap = v->cap_areas ? v->cap_areas * 2 : 16;
	struct vmap_area *n = realloc(v->areas, cap * sizeof(*n));
	if (!n)
		return -1;
	v->areas = n;
	v->cap_areas = cap;
	return 0;
}

/* What a vmalloc of size bytes needs, or why it cannot be had; nothing changes. */
static enum vm_err vmalloc_check_size(const struct machine *m, uint64_t size, uint32_t gfp,
                                      uint64_t *start, uint32_t *slot, char *msg, size_t len)
{
	if (size == 0) {
		snprintf(msg, len, "vmalloc(0): nothing to allocate");
		return VM_EINVAL;
	}
	uint64_t pages = (size + PAGE_SIZE - 1) >> PAGE_SHIFT;
	if (size > UINT32_MAX * PAGE_SIZE || pages > m->pa.totalram_pages) {
		snprintf(msg, len, "vmalloc of %llu bytes is more than the machine's RAM",
		         (unsigned long long)size);
		return VM_EINVAL;
	}
	if (find_free_range(m, (pages + 1) << PAGE_SHIFT, start, slot)) {
		snprintf(msg, len,
		         "no free range of %llu pages + 1 guard page between %#llx and %#llx",
		         (unsigned long long)pages, (unsigned long long)vmalloc_start(m),
		         (unsigned long long)vmalloc_end(m));
		return VM_ENOSPC;
	}
	uint64_t avail = nr_allocatable_pages(m, gfp);
	if (pages > avail) {
		snprintf(msg, len,
		         "vmalloc needs %llu frames, only %llu are free above the min "
		         "watermarks",
		         (unsigned long long)pages, (unsigned long long)avail);
		return VM_ENOMEM;
	}
	return VM_OK;
}

/* vmap_pages_range(): the pages go into init_mm's table (pgtable.c), after all are allocated,
 * as __vmalloc_area_node() does. Returns -1 (nothing left mapped) when a table is missing. */
static int vmap_pages_range(struct machine *m, const struct vmap_area *va)
{
	for (uint32_t i = 0; i < va->nr_pages; i++) {
		if (map_kernel_page(m, va->va_start + ((uint64_t)i << PAGE_SHIFT), va->pages[i])) {
			while (i--)
				unmap_kernel_page(m, va->va_start + ((uint64_t)i << PAGE_SHIFT));
			return -1;
		}
	}
	return 0;
}

/* __vmalloc_area_node(): one order-0 frame per page, in address order, then mapped. */
static int vmalloc_area_pages(struct machine *m, struct vmap_area *va, uint32_t gfp)
{
	for (uint32_t i = 0; i < va->nr_pages; i++) {
		uint32_t pfn = alloc_pages(m, gfp, 0, PT_VMALLOC);
		if (pfn == PFN_NONE) {
			while (i--)
				__free_pages(m, va->pages[i], 0);
			return -1;
		}
		va->pages[i] = pfn;
		ev_emit(m, EV_VMALLOC_PAGE, i, va->va_start + ((uint64_t)i << PAGE_SHIFT), pfn,
		        NULL);
	}
	if (vmap_pages_range(m, va)) {
		for (uint32_t i = 0; i < va->nr_pages; i++)
			__free_pages(m, va->pages[i], 0);
		return -1;
	}
	return 0;
}

static enum vm_err __vmalloc(struct machine *m, uint64_t size, uint32_t gfp, const char *caller,
                             uint64_t *addr, char *msg, size_t len)
{
	struct vmalloc_state *v = &m->vmalloc;
	uint64_t start;
	uint32_t slot;
	gfp |= __GFP_HIGHMEM; /* vmalloc pages need no direct mapping: HighMem first on i386 */
	enum vm_err e = vmalloc_check_size(m, size, gfp, &start, &slot, msg, len);
	if (e) {
		if (e == VM_ENOMEM)
			ev_emit(m, EV_VMALLOC_FAIL, (size + PAGE_SIZE - 1) >> PAGE_SHIFT,
			        nr_allocatable_pages(m, gfp), 0, NULL);
		return e;
	}
	uint32_t pages = (uint32_t)((size + PAGE_SIZE - 1) >> PAGE_SHIFT);
	struct vmap_area va = {.va_start = start,
	                       .va_end = start + ((uint64_t)(pages + 1) << PAGE_SHIFT),
	                       .nr_pages = pages};
	snprintf(va.caller, sizeof(va.caller), "%s", caller);
	va.pages = malloc(pages * sizeof(uint32_t));
	if (!va.pages || areas_reserve(v)) {
		free(va.pages);
		snprintf(msg, len, "out of host memory");
		return VM_ENOMEM;
	}
	ev_emit(m, EV_VMALLOC, size, pages, 0, caller);
	ev_emit(m, EV_VMAP_AREA, va.va_start, va.va_end - 1, va.va_end - va.va_start, NULL);
	if (vmalloc_area_pages(m, &va, gfp)) {
		free(va.pages);
		snprintf(msg, len, "alloc_pages failed while filling the area");
		return VM_ENOMEM;
	}
	memmove(&v->areas[slot + 1], &v->areas[slot], (v->nr_areas - slot) * sizeof(va));
	v->areas[slot] = va;
	v->nr_areas++;
	v->nr_vmalloc_pages += pages;
	ev_emit(m, EV_VMALLOC_DONE, va.va_start, pages, va.va_end - PAGE_SIZE, NULL);
	*addr = va.va_start;
	return VM_OK;
}

/* What vfree(addr) would free: the index of the area starting at addr, or why not. */
static enum vm_err vfree_check(const struct machine *m, uint64_t addr, uint32_t *idx, char *msg,
                               size_t len)
{
	if (!is_vmalloc_addr(m, addr)) {
		snprintf(msg, len, "%#llx is not a vmalloc address (VMALLOC_START %#llx .. %#llx)",
		         (unsigned long long)addr, (unsigned long long)vmalloc_start(m),
		         (unsigned long long)vmalloc_end(m));
		return VM_EFAULT;
	}
	uint32_t i = area_index(m, addr);
	const struct vmap_area *va = i < m->vmalloc.nr_areas ? &m->vmalloc.areas[i] : NULL;
	if (!va || va->va_start > addr) {
		snprintf(msg, len, "Trying to vfree() nonexistent vm area (%#llx)",
		         (unsigned long long)addr);
		return VM_ENOENT;
	}
	if (va->va_start != addr) {
		snprintf(msg, len, "%#llx is inside the vmalloc area that starts at %#llx",
		         (unsigned long long)addr, (unsigned long long)va->va_start);
		return VM_EINVAL;
	}
	for (uint32_t k = 0; k < va->nr_pages; k++) {
		if (m->pa.mem_map[va->pages[k]].refcount > 1) { /* map_driver mapped it to a user */
			snprintf(msg, len, "vmalloc area %#llx is mapped into a process",
			         (unsigned long long)addr);
			return VM_EBUSY;
		}
	}
	*idx = i;
	return VM_OK;
}

static void vfree_area(struct machine *m, uint32_t idx)
{
	struct vmalloc_state *v = &m->vmalloc;
	struct vmap_area va = v->areas[idx];
	ev_emit(m, EV_VFREE, va.va_start, va.nr_pages, 0, NULL);
	for (uint32_t i = 0; i < va.nr_pages; i++) {
		unmap_kernel_page(m, va.va_start + ((uint64_t)i << PAGE_SHIFT));
		__free_pages(m, va.pages[i], 0);
	}
	free(va.pages);
	memmove(&v->areas[idx], &v->areas[idx + 1], (v->nr_areas - idx - 1) * sizeof(va));
	v->nr_areas--;
	v->nr_vmalloc_pages -= va.nr_pages;
	ev_emit(m, EV_VFREE_DONE, va.va_start, va.va_end - 1, 0, NULL);
}

uint64_t __vmalloc_caller(struct machine *m, uint64_t size, const char *caller)
{
	uint64_t addr = 0;
	char msg[8];
	if (__vmalloc(m, size, GFP_KERNEL, caller, &addr, msg, sizeof(msg)))
		return 0;
	return addr;
}

uint64_t vmalloc(struct machine *m, uint64_t size)
{
	return __vmalloc_caller(m, size, "vmalloc");
}

void vfree(struct machine *m, uint64_t addr)
{
	uint32_t idx;
	if (addr && !vfree_check(m, addr, &idx, NULL, 0)) /* a kernel caller wants no message */
		vfree_area(m, idx);
}

int vmalloc_init(struct machine *m)
{
	memset(&m->vmalloc, 0, sizeof(m->vmalloc));
	return 0;
}

static void areas_free(struct vmalloc_state *v)
{
	for (uint32_t i = 0; i < v->nr_areas; i++)
		free(v->areas[i].pages);
	free(v->areas);
	memset(v, 0, sizeof(*v));
}

void vmalloc_release(struct machine *m)
{
	areas_free(&m->vmalloc);
}

enum vm_err vmalloc_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_VMALLOC: {
		uint64_t addr;
		/* The op's caller is the student at the machine_apply door. */
		enum vm_err e = __vmalloc(m, op->u.vmalloc.size, GFP_KERNEL | __GFP_NORETRY,
		                          "vmsim_op_vmalloc", &addr, res->msg, sizeof(res->msg));
		if (e)
			return res->err = e;
		res->value = addr;
		res->value2 = (uint64_t)vmalloc_to_pfn(m, addr) << PAGE_SHIFT;
		return VM_OK;
	}
	case OP_VFREE: {
		uint32_t idx;
		if (op->u.vfree.addr == 0) /* vfree(NULL) does nothing, as in the kernel */
			return VM_OK;
		/* The driver's buffer is the driver's to free (release() on close), not the
		 * caller's: a vfree of it would leave the device pointing at freed pages. */
		for (uint32_t d = 0; d < MAPDRV_MINORS; d++)
			if (m->driver.dev[d].vaddr == op->u.vfree.addr)
				return op_fail(
				    res, VM_EBUSY,
				    "vmalloc area %#llx is map_driver minor %u's buffer: "
				    "`driver close %u` frees it",
				    (unsigned long long)op->u.vfree.addr, d, d);
		enum vm_err e = vfree_check(m, op->u.vfree.addr, &idx, res->msg, sizeof(res->msg));
		if (e)
			return res->err = e;
		res->value2 = m->vmalloc.areas[idx].nr_pages;
		vfree_area(m, idx);
		res->value = op->u.vfree.addr;
		return VM_OK;
	}
	default:
		return op_fail(res, VM_EINVAL, "unknown vmalloc op %#x", op->kind);
	}
}

/* mm/vmalloc.c vmalloc_info_show(): %pK prints a pointer's full width (8 or 16 digits). */
void vmallocinfo_show(const struct machine *m, struct strbuf *sb)
{
	int w = m->cfg.arch == ARCH_X86_64 ? 16 : 8;
	for (uint32_t i = 0; i < m->vmalloc.nr_areas; i++) {
		const struct vmap_area *va = &m->vmalloc.areas[i];
		strbuf_addf(sb, "0x%0*llx-0x%0*llx %7llu %s+0x0/0x0 pages=%u vmalloc N0=%u\n", w,
		            (unsigned long long)va->va_start, w, (unsigned long long)va->va_end,
		            (unsigned long long)(va->va_end - va->va_start), va->caller,
		            va->nr_pages, va->nr_pages);
	}
}

static int vfail(char *buf, size_t len, const char *fmt, unsigned long long a, unsigned long long b)
{
	snprintf(buf, len, fmt, a, b);
	return -1;
}

/* Areas: sorted, apart, inside the range, sized pages + guard. */
static int check_areas(const struct machine *m, char *buf, size_t len)
{
	const struct vmalloc_state *v = &m->vmalloc;
	uint64_t prev_end = vmalloc_start(m), pages = 0;
	for (uint32_t i = 0; i < v->nr_areas; i++) {
		const struct vmap_area *va = &v->areas[i];
		if (va->va_start < prev_end || va->va_end > vmalloc_end(m) ||
		    (va->va_start & (PAGE_SIZE - 1)) || va->nr_pages == 0 ||
		    va->va_end - va->va_start != ((uint64_t)va->nr_pages + 1) << PAGE_SHIFT)
			return vfail(buf, len,
			             "vmalloc area %llu at %#llx overlaps or is malformed", i,
			             va->va_start);
		prev_end = va->va_end;
		pages += va->nr_pages;
	}
	if (pages != v->nr_vmalloc_pages)
		return vfail(buf, len, "vmalloc areas hold %llu pages, %llu counted", pages,
		             v->nr_vmalloc_pages);
	return 0;
}

/* Every page of every area is a distinct PT_VMALLOC frame, and there are no others. */
static int check_frames(const struct machine *m, char *buf, size_t len)
{
	const struct vmalloc_state *v = &m->vmalloc;
	uint64_t n = m->pa.nr_frames, frames = 0;
	uint8_t *seen = calloc(n, 1);
	if (!seen)
		return vfail(buf, len, "no host memory for the check%.0llu%.0llu", 0, 0);
	int r = 0;
	for (uint32_t i = 0; i < v->nr_areas && !r; i++) {
		const struct vmap_area *va = &v->areas[i];
		for (uint32_t k = 0; k < va->nr_pages && !r; k++) {
			uint32_t pfn = va->pages[k];
			if (pfn >= n || page_type(&m->pa.mem_map[pfn]) != PT_VMALLOC || seen[pfn]++)
				r = vfail(buf, len,
				          "vmalloc area at %#llx: page %llu is not its own "
				          "vmalloc frame",
				          va->va_start, k);
		}
	}
	for (uint64_t pfn = 0; pfn < n && !r; pfn++)
		frames += page_type(&m->pa.mem_map[pfn]) == PT_VMALLOC;
	if (!r && frames != v->nr_vmalloc_pages)
		r = vfail(buf, len, "%llu vmalloc frames, areas hold %llu", frames,
		          v->nr_vmalloc_pages);
	free(seen);
	return r;
}

int vmalloc_check(const struct machine *m, char *buf, size_t len)
{
	if (check_areas(m, buf, len))
		return -1;
	return check_frames(m, buf, len);
}

void vmalloc_save(const struct machine *m, struct snap_writer *w)
{
	const struct vmalloc_state *v = &m->vmalloc;
	snap_put_tag(w, "VMAL");
	snap_put_u32(w, v->nr_areas);
	snap_put_u64(w, v->nr_vmalloc_pages);
	for (uint32_t i = 0; i < v->nr_areas; i++) {
		const struct vmap_area *va = &v->areas[i];
		snap_put_u64(w, va->va_start);
		snap_put_u64(w, va->va_end);
		snap_put_str(w, va->caller);
		snap_put_u32(w, va->nr_pages);
		for (uint32_t k = 0; k < va->nr_pages; k++)
			snap_put_u32(w, va->pages[k]);
	}
}

int vmalloc_load(struct machine *m, struct snap_reader *r)
{
	struct vmalloc_state *v = &m->vmalloc;
	if (snap_expect_tag(r, "VMAL"))
		return -1;
	areas_free(v);
	uint32_t nr = snap_get_u32(r);
	uint64_t total = snap_get_u64(r);
	if (r->err || nr > m->pa.nr_frames || total > m->pa.nr_frames)
		return snap_fail(r, "%u vmalloc areas is more than the machine can hold", nr);
	for (uint32_t i = 0; i < nr && !r->err; i++) {
		if (areas_reserve(v))
			return snap_fail(r, "no host memory for vmalloc areas");
		struct vmap_area *va = &v->areas[v->nr_areas];
		memset(va, 0, sizeof(*va));
		va->va_start = snap_get_u64(r);
		va->va_end = snap_get_u64(r);
		snap_get_str(r, va->caller, sizeof(va->caller));
		va->nr_pages = snap_get_u32(r);
		if (r->err || va->nr_pages == 0 || va->nr_pages > m->pa.nr_frames)
			return snap_fail(r, "vmalloc area %u has a bad page count", i);
		va->pages = malloc(va->nr_pages * sizeof(uint32_t));
		if (!va->pages)
			return snap_fail(r, "no host memory for vmalloc area %u", i);
		v->nr_areas++;
		for (uint32_t k = 0; k < va->nr_pages; k++)
			va->pages[k] = snap_get_u32(r);
	}
	v->nr_vmalloc_pages = total;
	return r->err ? -1 : 0;
}
