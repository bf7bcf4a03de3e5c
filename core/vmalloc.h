/* vmalloc: virtually contiguous kernel memory from scattered frames (mm/vmalloc.c). */
#ifndef VMSIM_VMALLOC_H
#define VMSIM_VMALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

#define VMALLOC_CALLER_LEN 32

/*
 * One vmalloc'ed area (the kernel's vmap_area + vm_struct): [va_start, va_end) includes the
 * trailing guard page, as the kernel's vm_struct->size does, so /proc/vmallocinfo shows
 * (pages + 1) * 4096 bytes.
 */
struct vmap_area {
	uint64_t va_start, va_end;
	uint32_t nr_pages;
	uint32_t *pages; /* pfn of each page, in address order (vm_struct->pages) */
	char caller[VMALLOC_CALLER_LEN];
};

struct vmalloc_state {
	struct vmap_area *areas; /* sorted by va_start: vmap_area_list */
	uint32_t nr_areas, cap_areas;
	uint64_t nr_vmalloc_pages; /* frames backing all areas (VmallocUsed / PAGE_SIZE) */
};

extern const struct event_table vmalloc_events;

enum {
	EV_VMALLOC = 0x300,
	EV_VMAP_AREA,
	EV_VMALLOC_PAGE,
	EV_VMALLOC_DONE,
	EV_VMALLOC_FAIL,
	EV_VFREE,
	EV_VFREE_DONE,
};

int vmalloc_init(struct machine *m);
void vmalloc_release(struct machine *m);
enum vm_err vmalloc_apply(struct machine *m, const struct op *op, struct op_result *res);
int vmalloc_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void vmalloc_save(const struct machine *m, struct snap_writer *w);
int vmalloc_load(struct machine *m, struct snap_reader *r);

/* Kernel-internal API (phys helper implements; map_driver.c uses it). 0 on failure. */
uint64_t vmalloc(struct machine *m, uint64_t size);
/* vmalloc() naming its caller for /proc/vmallocinfo (the kernel records __builtin_return_address).
 */
uint64_t __vmalloc_caller(struct machine *m, uint64_t size, const char *caller);
void vfree(struct machine *m, uint64_t addr);
/* The frame behind a vmalloc address, or UINT32_MAX (PFN_NONE) when nothing is mapped. */
uint32_t vmalloc_to_pfn(const struct machine *m, uint64_t addr);
/* [vmalloc_start, vmalloc_end): the arch's VMALLOC_START and the first address past the range. */
uint64_t vmalloc_start(const struct machine *m);
uint64_t vmalloc_end(const struct machine *m);
/* The area containing addr (guard page included), or NULL. */
const struct vmap_area *find_vmap_area(const struct machine *m, uint64_t addr);
int is_vmalloc_addr(const struct machine *m, uint64_t addr);
void vmallocinfo_show(const struct machine *m, struct strbuf *sb);

#endif
