/*
 * The seed's map_driver example: open() vmallocs a buffer and writes known text into it;
 * a process mmaps the device and each fault walks the kernel page table (init_mm) from the
 * buffer's vmalloc address to its frame, which is then mapped into the process page by
 * page, because vmalloc memory is virtually but not physically contiguous.
 */
#include "map_driver.h"

#include <stdio.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"

static const char *const map_driver_tmpl[] = {
    [EV_MAPDRV_OPEN & 0xff] = "map_driver open: minor {a} vmalloc({b}) -> {C}",
    [EV_MAPDRV_FILL & 0xff] = "map_driver: buffer page {a} at {B} is pfn {C}, filled",
    [EV_MAPDRV_CLOSE & 0xff] = "map_driver release: minor {a} vfree({B})",
    [EV_MAPDRV_NOPAGE & 0xff] = "map_nopage: {A} is buffer offset {B} of minor {c}",
    [EV_MAPDRV_WALK & 0xff] = "vaddress_to_kaddress: walk init_mm {A} -> pfn {B} ({s})",
};

const struct event_table map_driver_events = {10, map_driver_tmpl, ARRAY_SIZE(map_driver_tmpl)};

static const char msg_fmt[] = "ok! kernel memory of map_driver minor %u\n";

uint8_t map_driver_pattern(uint32_t minor, uint64_t off)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), msg_fmt, minor);
	return (uint8_t)msg[off % (uint64_t)n];
}

int map_driver_init(struct machine *m)
{
	memset(&m->driver, 0, sizeof(m->driver));
	return 0;
}

void map_driver_release(struct machine *m)
{
	(void)m; /* buffers are frames: they go with the page array */
}

/* vaddress_to_kaddress(): the seed walks the kernel page table to the page behind a
 * vmalloc address; init_mm holds that mapping, vmalloc_to_pfn must agree. */
static uint32_t vaddr_to_pfn(struct machine *m, uint64_t kaddr)
{
	struct pte_ref ref;
	uint32_t walked = PFN_NONE;
	if (pt_lookup(m, &m->mmap.init_mm, kaddr, &ref, NULL) == 0) {
		uint64_t pte = pt_read(m, ref.tpfn, ref.idx);
		if (pte_present(pte))
			walked = pte_pfn(m, pte);
	}
	uint32_t pfn = vmalloc_to_pfn(m, kaddr);
	ev_emit(m, EV_MAPDRV_WALK, kaddr, pfn, 0,
	        walked == pfn ? "page table agrees" : "not in init_mm: vmalloc_to_pfn");
	return pfn;
}

/* Fills len bytes with the pattern pat[0..n) repeated, starting at pat[phase]. */
static void fill_pattern(uint8_t *p, size_t len, const char *pat, size_t n, size_t phase)
{
	size_t done = 0;
	for (; done < len && done < n; done++)
		p[done] = (uint8_t)pat[(phase + done) % n];
	/* p[0..done) is a whole period now: doubling it keeps the phase. */
	while (done < len) {
		size_t k = done < len - done ? done : len - done;
		memcpy(p + done, p, k);
		done += k;
	}
}

static enum vm_err driver_open(struct machine *m, uint32_t minor, uint64_t size,
                               struct op_result *res)
{
	if (minor >= MAPDRV_MINORS)
		return op_fail(res, VM_EINVAL, "map_driver: minor must be 0..%d",
		               MAPDRV_MINORS - 1);
	if (m->driver.dev[minor].vaddr)
		return op_fail(res, VM_EBUSY, "map_driver: minor %u is already open", minor);
	if (size == 0 || size > MAPDRV_MAX_LEN)
		return op_fail(res, VM_EINVAL, "map_driver: buffer size must be 1 .. %llu bytes",
		               (unsigned long long)MAPDRV_MAX_LEN);
	size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
	uint64_t addr = vmalloc(m, size);
	if (!addr)
		return op_fail(res, VM_ENOMEM, "map_driver: vmalloc(%llu) failed",
		               (unsigned long long)size);
	ev_emit(m, EV_MAPDRV_OPEN, minor, size, addr, NULL);
	char msg[64];
	int n = snprintf(msg, sizeof(msg), msg_fmt, minor);
	for (uint64_t off = 0; off < size; off += PAGE_SIZE) {
		uint32_t pfn = vaddr_to_pfn(m, addr + off);
		uint8_t *p = kmap_alloc(m, pfn);
		if (!p) {
			vfree(m, addr);
			return op_fail(res, VM_ENOMEM, "map_driver: out of host memory");
		}
		fill_pattern(p, PAGE_SIZE, msg, (size_t)n, (size_t)(off % (uint64_t)n));
		ev_emit(m, EV_MAPDRV_FILL, off >> PAGE_SHIFT, addr + off, pfn, NULL);
	}
	m->driver.dev[minor].vaddr = addr;
	m->driver.dev[minor].size = size;
	res->value = addr;
	return VM_OK;
}

static int minor_mapped(const struct machine *m, uint32_t minor)
{
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++)
		for (const struct vm_area_struct *v = m->mmap.mms[i]->mmap; v; v = v->vm_next)
			if ((v->vm_flags & VM_MIXEDMAP) && v->vm_file == minor)
				return 1;
	return 0;
}

static enum vm_err driver_close(struct machine *m, uint32_t minor, struct op_result *res)
{
	if (minor >= MAPDRV_MINORS || !m->driver.dev[minor].vaddr)
		return op_fail(res, VM_ENOENT, "map_driver: minor %u is not open", minor);
	if (minor_mapped(m, minor))
		return op_fail(res, VM_EBUSY, "map_driver: minor %u is still mapped by a process",
		               minor);
	struct map_dev *d = &m->driver.dev[minor];
	for (uint64_t off = 0; off < d->size; off += PAGE_SIZE)
		kmap_free(m, vmalloc_to_pfn(m, d->vaddr + off));
	ev_emit(m, EV_MAPDRV_CLOSE, minor, d->vaddr, 0, NULL);
	vfree(m, d->vaddr);
	d->vaddr = d->size = 0;
	return VM_OK;
}

enum vm_err map_driver_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	switch (op->kind) {
	case OP_DRIVER_OPEN:
		return driver_open(m, op->u.driver.minor, op->u.driver.size, res);
	case OP_DRIVER_CLOSE:
		return driver_close(m, op->u.driver.minor, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown map_driver op %#x", (unsigned)op->kind);
	}
}

enum vm_err map_driver_mmap_check(const struct machine *m, uint32_t minor, uint64_t offset,
                                  uint64_t len, uint32_t type, struct op_result *res)
{
	if (minor >= MAPDRV_MINORS || !m->driver.dev[minor].vaddr)
		return op_fail(res, VM_ENOENT, "mmap: map_driver minor %u is not open", minor);
	if (type != MAP_SHARED_)
		return op_fail(res, VM_EINVAL, "mmap: map_driver needs MAP_SHARED");
	if (offset > m->driver.dev[minor].size || len > m->driver.dev[minor].size - offset)
		return op_fail(res, VM_EINVAL, "mmap: window beyond the %llu-byte driver buffer",
		               (unsigned long long)m->driver.dev[minor].size);
	return VM_OK;
}

uint32_t map_driver_fault(struct machine *m, const struct vm_area_struct *vma, uint64_t va)
{
	const struct map_dev *d = &m->driver.dev[vma->vm_file];
	uint64_t off = (vma->vm_pgoff << PAGE_SHIFT) + (va - vma->vm_start);
	ev_emit(m, EV_MAPDRV_NOPAGE, va, off, vma->vm_file, NULL);
	if (!d->vaddr || off >= d->size)
		return PFN_NONE; /* NOPAGE_SIGBUS */
	return vaddr_to_pfn(m, d->vaddr + (off & ~(PAGE_SIZE - 1)));
}

int map_driver_check(const struct machine *m, char *buf, size_t len)
{
	for (uint32_t i = 0; i < MAPDRV_MINORS; i++) {
		const struct map_dev *d = &m->driver.dev[i];
		for (uint64_t off = 0; d->vaddr && off < d->size; off += PAGE_SIZE) {
			uint32_t pfn = vmalloc_to_pfn(m, d->vaddr + off);
			if (pfn == PFN_NONE || !kmap(m, pfn)) {
				snprintf(buf, len, "map_driver minor %u: buffer page at %#llx lost",
				         i, (unsigned long long)(d->vaddr + off));
				return -1;
			}
		}
	}
	return 0;
}

void map_driver_save(const struct machine *m, struct snap_writer *w)
{
	snap_put_tag(w, "MDRV");
	for (uint32_t i = 0; i < MAPDRV_MINORS; i++) {
		snap_put_u64(w, m->driver.dev[i].vaddr);
		snap_put_u64(w, m->driver.dev[i].size);
	}
}

int map_driver_load(struct machine *m, struct snap_reader *r)
{
	if (snap_expect_tag(r, "MDRV"))
		return -1;
	for (uint32_t i = 0; i < MAPDRV_MINORS; i++) {
		m->driver.dev[i].vaddr = snap_get_u64(r);
		m->driver.dev[i].size = snap_get_u64(r);
	}
	return r->err ? -1 : 0;
}
