/*
 * struct machine: everything a simulated machine owns. Each subsystem keeps its state in
 * its own struct, declared in its own header, so files stay independent. No globals:
 * two machines never share anything.
 */
#ifndef VMSIM_KERNEL_H
#define VMSIM_KERNEL_H

#include <stdint.h>

#include "events.h"
#include "filemap.h"
#include "fork.h"
#include "hugetlb.h"
#include "machine.h"
#include "map_driver.h"
#include "memory.h"
#include "mm_types.h"
#include "mmap.h"
#include "page_alloc.h"
#include "pgtable.h"
#include "slab.h"
#include "strbuf.h"
#include "swapfile.h"
#include "tlb.h"
#include "vmalloc.h"
#include "vmscan.h"
#include "vmstat.h"

struct machine {
	struct machine_config cfg;
	uint64_t seq; /* ops applied so far: the machine's logical clock */
	uint64_t rng; /* xorshift state, seeded from cfg.seed */
	struct event_ring events;
	uint64_t vm_events[NR_VM_EVENT_ITEMS];
	/* The counters the op in progress has bumped (a bit per item) and their values before
	 * it: a failed op puts them back (vm_events_rollback). */
	uint64_t vm_events_touched;
	uint64_t vm_events_before[NR_VM_EVENT_ITEMS];

	struct page_alloc_state pa;
	struct slab_state slab;
	struct vmalloc_state vmalloc;
	struct fork_state tasks;
	struct mmap_state mmap;
	struct memory_state memory;
	struct filemap_state filemap;
	struct swapfile_state swap;
	struct vmscan_state vmscan;
	struct map_driver_state driver;
	struct pgtable_state pgtable; /* page-table contents (kmap), used by mmap.c and memory.c */
	struct tlb_state tlb;
	struct hugetlb_state hugetlb;
};

/* Fills res with an error and returns it: `return op_fail(res, VM_EINVAL, "...", ...);` */
enum vm_err op_fail(struct op_result *res, enum vm_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct snap_writer;
struct snap_reader;
/* Each subsystem's snapshot section, in op-block order (snapshot.c frames them). */
void machine_subsystems_save(const struct machine *m, struct snap_writer *w);
int machine_subsystems_load(struct machine *m, struct snap_reader *r);

/* Deterministic PRNG of the machine (xorshift64*). */
uint64_t machine_random(struct machine *m);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Binary search of a sorted array of n elements (lib/bsearch.c's loop, returning the insertion
 * point): the first index whose element does not sort below the key, n if none.
 * below(arg, i) says whether element i sorts below the key.
 */
static inline uint32_t sorted_lower_bound(uint32_t n, int (*below)(const void *arg, uint32_t i),
                                          const void *arg)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (below(arg, mid))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* For the *_check functions: unless cond holds, write the reason to buf (len) and fail. */
#define CHECK(cond, ...)                                 \
	do {                                             \
		if (!(cond)) {                           \
			snprintf(buf, len, __VA_ARGS__); \
			return -1;                       \
		}                                        \
	} while (0)

#endif
