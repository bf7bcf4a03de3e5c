/*
 * The memory summary views (fs/proc/meminfo.c, mm/vmstat.c, procps free and vmstat): one
 * struct of gauges computed from the machine, rendered as /proc/meminfo, /proc/vmstat, the
 * free command (every layout) and the vmstat command's line.
 */
#ifndef VMSIM_MEMINFO_H
#define VMSIM_MEMINFO_H

#include <stdint.h>

#include "machine.h"
#include "strbuf.h"

/* Everything in pages unless the name says kb. */
struct meminfo {
	uint64_t totalram, freeram, available, bufferram, cached, swapcached;
	uint64_t lru[5]; /* enum lru_list order */
	uint64_t mlocked, swaptotal, swapfree, dirty, writeback, anon, mapped, shmem;
	uint64_t sreclaimable, sunreclaim, kernel_stack_kb, pagetables, vmalloc_used;
	uint64_t vmalloc_total_kb, committed_as, commit_limit;
	uint64_t totalhigh, freehigh; /* i386 HighMem */
	uint64_t file_pages;          /* NR_FILE_PAGES: page cache + buffers + swap cache */
};

void si_meminfo(const struct machine *m, struct meminfo *mi);
/* MemAvailable as mm/show_mem.c si_mem_available() estimates it (pages). */
uint64_t si_mem_available(const struct machine *m, const struct meminfo *mi);

void meminfo_show(const struct machine *m, struct strbuf *sb);
/*
 * /proc/vmstat's item names in the kernel's order (zone items, NUMA events, node items,
 * writeback items, events), and the value of one of them (0 and false for items vmsim has no
 * model of). /proc/zoneinfo prints the node items from the same table.
 */
extern const char *const vmstat_text[];
extern const size_t nr_vmstat_text;
int vmstat_gauge(const struct machine *m, const struct meminfo *mi, const char *name, uint64_t *v);
void vmstat_show(const struct machine *m, struct strbuf *sb);
/* The vmstat command's header and one line of averages since boot ("vmstat-cmd"). */
void vmstat_cmd_show(const struct machine *m, struct strbuf *sb);
/*
 * The free command. args are its flags after "free": -b -k -m -g (units), -h (human),
 * -w (wide: buffers and cache apart), --old or -o (procps 3.2 layout with the
 * "-/+ buffers/cache:" line, as in the seed). Returns VM_ENOENT for an unknown flag.
 */
/* /proc/zoneinfo (mm/vmstat.c zoneinfo_show), in core/zoneinfo.c. */
void zoneinfo_show(const struct machine *m, struct strbuf *sb);
/* NR_FREE_PAGES_BLOCKS: free pages in free blocks of pageblock order or more. */
uint64_t nr_free_pages_blocks(const struct machine *m);
enum vm_err free_show(const struct machine *m, const char *args, struct strbuf *sb);

#endif
