/*
 * Address spaces (mm/mmap.c): mm_struct and its VMAs, kept both as an address-sorted list
 * (full walks: maps, fork, exit) and a red-black tree (find_vma). do_mmap, do_munmap and brk
 * (mmap.c), mprotect (mprotect.c), madvise (madvise.c) and the program image (exec.c)
 * change them; fork.c creates, copies and drops whole mms.
 */
#ifndef VMSIM_MMAP_H
#define VMSIM_MMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "mm_types.h"
#include "rbtree.h"
#include "strbuf.h"

/* vm_flags (include/linux/mm.h), plus vmsim's own marks in the high bits. */
#define VM_READ       0x00000001u
#define VM_WRITE      0x00000002u
#define VM_EXEC       0x00000004u
#define VM_SHARED     0x00000008u
#define VM_MAYREAD    0x00000010u
#define VM_MAYWRITE   0x00000020u
#define VM_MAYEXEC    0x00000040u
#define VM_MAYSHARE   0x00000080u
#define VM_GROWSDOWN  0x00000100u
#define VM_IO         0x00004000u
#define VM_DONTEXPAND 0x00040000u
#define VM_ACCOUNT    0x00100000u /* private writable: counted as committed memory */
#define VM_HUGETLB    0x00400000u /* mmap(MAP_HUGETLB): huge pages from the hugetlb pool */
#define VM_MIXEDMAP   0x10000000u /* map_driver: pages inserted by a fault handler */
#define VM_HUGE_RESV  0x20000000u /* vmsim: owns the hugetlb reserve (HPAGE_RESV_OWNER) */
#define VM_EXECIMAGE  0x40000000u /* vmsim: text/data of the program image (named after it) */

#define MM_FILEPAGES   0
#define MM_ANONPAGES   1
#define MM_SWAPENTS    2
#define MM_SHMEMPAGES  3
#define NR_MM_COUNTERS 4

#define PAGE_MASK_    (~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x) (((x) + PAGE_SIZE - 1) & PAGE_MASK_)

/* madvise advice values (include/uapi/asm-generic/mman-common.h). */
#define MADV_DONTNEED_ 4

struct mm_struct;
struct snap_writer;
struct snap_reader;

struct vm_area_struct {
	uint64_t vm_start, vm_end; /* [start, end) */
	uint64_t vm_pgoff;         /* file offset in pages; anon: vm_start >> PAGE_SHIFT */
	uint32_t vm_flags;
	uint32_t vm_file; /* inode, map_driver minor (VM_MIXEDMAP), or 0 */
	uint64_t objp;    /* its vm_area_struct object in the slab */
	struct mm_struct *vm_mm;
	struct vm_area_struct *vm_next, *vm_prev;
	struct rb_node vm_rb;
};

struct mm_struct {
	uint32_t id;                 /* creation number: names the mm in snapshots and events */
	uint32_t pgd;                /* pfn of the top-level table */
	struct vm_area_struct *mmap; /* sorted list */
	struct rb_root mm_rb;
	struct vm_area_struct *mmap_cache; /* last find_vma result */
	uint32_t map_count;
	int32_t mm_users, mm_count;
	uint64_t total_vm, hiwater_vm, locked_vm, data_vm, exec_vm, stack_vm; /* pages */
	uint64_t rss[NR_MM_COUNTERS];
	uint64_t hiwater_rss;
	uint64_t pgtables_bytes;
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack, mmap_base;
	uint64_t objp, anon_vma_objp; /* slab objects (anon_vma: one per mm, see fork.c) */
	uint32_t exe_ino;             /* inode number shown for the program image */
	char exe[NAME_LEN];           /* program path shown in maps */
};

/*
 * Frames inside the kernel image (reserved by page_alloc.c at 1..3 MiB): the kernel's own
 * page directory and the zero page are image data in Linux, not buddy allocations.
 */
#define SWAPPER_PG_DIR_PFN  0x2ffu
#define EMPTY_ZERO_PAGE_PFN 0x2feu

struct mmap_state {
	struct mm_struct init_mm; /* the kernel's page table (vmalloc mappings) */
	struct mm_struct **mms;   /* live user mms by creation order */
	uint32_t nr_mms, cap_mms;
	uint32_t next_mm_id;
};

extern const struct event_table mmap_events;

enum {
	EV_DO_MMAP = 0x500,
	EV_GET_UNMAPPED_AREA,
	EV_VMA_MERGE,
	EV_VMA_LINK,
	EV_SPLIT_VMA,
	EV_DO_MUNMAP,
	EV_MPROTECT,
	EV_BRK,
	EV_ZAP_PTE,
	EV_FREE_PGTABLES,
	EV_MADVISE,
	EV_VMA_REMOVE,
	EV_EXIT_MMAP,
	EV_MM_ALLOC,
	EV_MMDROP,
	EV_EXPAND_STACK,
};

int mmap_init(struct machine *m);
void mmap_release(struct machine *m);
enum vm_err mmap_apply(struct machine *m, const struct op *op, struct op_result *res);
int mmap_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void mmap_save(const struct machine *m, struct snap_writer *w);
int mmap_load(struct machine *m, struct snap_reader *r);

/* Kernel-internal API (fork.c, memory.c, rmap.c, map_driver.c). */
struct vm_area_struct *find_vma(struct mm_struct *mm, uint64_t addr);
const struct vm_area_struct *find_vma_const(const struct mm_struct *mm, uint64_t addr);
struct mm_struct *mm_alloc(struct machine *m);
/* mmput: drops a user; the last one tears the address space down (exit_mmap). */
void mmput(struct machine *m, struct mm_struct *mm);
/* mmput() of an mm that the failing op in progress allocated: its id is given back as well,
 * as if it had never been allocated (a failed op changes nothing). */
void mm_abandon(struct machine *m, struct mm_struct *mm);
/* exec.c. Validates image sizes (0 = default) before anything is allocated. */
enum vm_err image_check(const struct machine *m, uint64_t *text, uint64_t *data, uint64_t *bss,
                        uint64_t *stack, struct op_result *res);
/* Sets up the ELF-like layout of a fresh mm (text, data, bss, heap, stack). */
enum vm_err setup_image(struct machine *m, struct mm_struct *mm, const char *name, uint64_t text,
                        uint64_t data, uint64_t bss, uint64_t stack, struct op_result *res);
/* fork.c. dup_mmap: copies mm's VMAs and page tables into a new mm (fork). NULL on OOM. */
struct mm_struct *dup_mm(struct machine *m, struct mm_struct *old);
/* memory.c. Zaps (unmaps and releases) every PTE in [start, end), VMA by VMA. */
void zap_page_range(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end);
/* memory.c. Copies vma's PTEs from src into dst (fork); -1 if a table could not be had. */
int copy_page_range(struct machine *m, struct mm_struct *dst, struct mm_struct *src,
                    const struct vm_area_struct *vma, uint64_t *ptes);
void update_hiwater_rss(struct mm_struct *mm);
uint64_t get_mm_rss(const struct mm_struct *mm);
uint64_t mmap_min_addr(const struct machine *m);
/* Grows a VM_GROWSDOWN VMA down to addr (within RLIMIT_STACK); 0 or -1. */
int expand_stack(struct machine *m, struct mm_struct *mm, struct vm_area_struct *vma,
                 uint64_t addr);
int vma_is_stack(const struct mm_struct *mm, const struct vm_area_struct *vma);

int mm_counter(const struct machine *m, const struct vm_area_struct *vma, uint32_t pfn);
struct mm_struct *mm_by_id(const struct machine *m, uint32_t id);
/* The user mms, saved inside the task section (tasks point at them). */
void mmap_save_mms(const struct machine *m, struct snap_writer *w);
int mmap_load_mms(struct machine *m, struct snap_reader *r);

/* exit_mmap: unmaps every VMA and frees the page tables below the pgd (mmput's last user). */
void exit_mmap(struct machine *m, struct mm_struct *mm);

/*
 * VMA editing shared by mmap.c, mprotect.c, madvise.c, exec.c and fork.c (what Linux keeps
 * in mm/internal.h and mm/vma.c).
 */
static inline uint64_t vma_pages(const struct vm_area_struct *v)
{
	return (v->vm_end - v->vm_start) >> PAGE_SHIFT;
}
struct vm_area_struct *vm_area_alloc(struct machine *m, struct mm_struct *mm);
void vm_area_free(struct machine *m, struct vm_area_struct *v);
/* __vma_link(): into the list after prev (NULL: at the head) and into the tree. */
void vma_link(struct mm_struct *mm, struct vm_area_struct *vma, struct vm_area_struct *prev);
/* vm_stat_account(): total_vm and VmData, VmStk, VmExe/VmLib by the VMA's flags. */
void vm_stat_account(struct mm_struct *mm, uint32_t flags, int64_t npages);
/* split_vma(): vma keeps [vm_start, addr); the new VMA takes [addr, vm_end). */
struct vm_area_struct *split_vma(struct machine *m, struct mm_struct *mm,
                                 struct vm_area_struct *vma, uint64_t addr);
/* vma_merge() for a VMA already in the list: joins it with equal neighbours on both sides. */
struct vm_area_struct *vma_merge(struct machine *m, struct mm_struct *mm,
                                 struct vm_area_struct *vma);
/* mmap_region(): the range is free; extend a neighbour or link a new VMA. NULL on OOM. */
struct vm_area_struct *mmap_region(struct machine *m, struct mm_struct *mm, uint64_t addr,
                                   uint64_t len, uint32_t vm_flags, uint32_t file, uint64_t pgoff);
/* The start or end of [start, end) that falls inside a hugetlb VMA off a huge page, or 0. */
uint64_t huge_misaligned(const struct machine *m, struct mm_struct *mm, uint64_t start,
                         uint64_t end);
/* How many new VMAs editing [start, end) splits off: one for each end inside a VMA. */
unsigned splits_needed(struct mm_struct *mm, uint64_t start, uint64_t end);
/* Reserves n vm_area_struct objects so the splits of an edit cannot fail halfway. */
int vma_prealloc(struct machine *m, unsigned n);
/* The VM_READ/WRITE/EXEC/SHARED bits of PROT_* and MAP_* (calc_vm_prot_bits and friends). */
uint32_t calc_vm_flags(uint32_t prot, uint32_t flags);
/* "rwxp" / "r--s": the permission column of /proc/PID/maps (s needs 5 bytes). */
void prot_str(uint32_t flags, char *s);
/* The list of live user mms (mm_alloc and mmput keep it; snapshots and checks walk it). */
int mms_add(struct mmap_state *s, struct mm_struct *mm);
void mms_del(struct mmap_state *s, struct mm_struct *mm);

/* mprotect.c and madvise.c: the ops mmap_apply routes to them. */
enum vm_err do_mprotect(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t len,
                        uint32_t prot, struct op_result *res);
enum vm_err do_madvise(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t len,
                       uint32_t advice, struct op_result *res);

#endif
