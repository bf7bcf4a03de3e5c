/*
 * The seed's map_driver: a character device whose open() vmallocs a buffer with known
 * content. A process maps it with OP_MMAP, flags MAP_SHARED | MAP_DRIVER_, file = the minor
 * and offset within the buffer; each fault in that VMA walks the kernel page table
 * (init_mm, vmalloc_to_pfn) to find the frame and maps it (map_nopage).
 */
#ifndef VMSIM_MAP_DRIVER_H
#define VMSIM_MAP_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

#define MAPDRV_MINORS  8
#define MAPDRV_MAX_LEN (4ull << 20)

struct vm_area_struct;

struct map_dev {
	uint64_t vaddr; /* vmalloc address of the buffer, 0 = closed */
	uint64_t size;  /* bytes, page aligned */
};

struct map_driver_state {
	struct map_dev dev[MAPDRV_MINORS];
};

extern const struct event_table map_driver_events;

enum {
	EV_MAPDRV_OPEN = 0xa00,
	EV_MAPDRV_FILL,
	EV_MAPDRV_CLOSE,
	EV_MAPDRV_NOPAGE,
	EV_MAPDRV_WALK,
};

int map_driver_init(struct machine *m);
void map_driver_release(struct machine *m);
enum vm_err map_driver_apply(struct machine *m, const struct op *op, struct op_result *res);
int map_driver_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void map_driver_save(const struct machine *m, struct snap_writer *w);
int map_driver_load(struct machine *m, struct snap_reader *r);

/* mmap's checks for a device mapping: the device is open, the window fits, MAP_SHARED. */
enum vm_err map_driver_mmap_check(const struct machine *m, uint32_t minor, uint64_t offset,
                                  uint64_t len, uint32_t type, struct op_result *res);
/* map_nopage(): the frame for va in a driver VMA, or PFN_NONE. */
uint32_t map_driver_fault(struct machine *m, const struct vm_area_struct *vma, uint64_t va);
/* The byte the driver wrote at offset off of page i of minor's buffer (for tests/views). */
uint8_t map_driver_pattern(uint32_t minor, uint64_t off);

#endif
