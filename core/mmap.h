/*
 * Address spaces (mm/mmap.c, mm/mprotect.c): mm_struct and its VMAs, kept both as an
 * address-sorted list (full walks: maps, fork, exit) and a red-black tree (find_vma).
 * do_mmap, do_munmap, mprotect, brk and madvise(MADV_DONTNEED) change them.
 */
#ifndef VMSIM_MMAP_H
#define VMSIM_MMAP_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
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
/* Validates image sizes (0 = default) before anything is allocated. */
enum vm_err image_check(const struct machine *m, uint64_t *text, uint64_t *data, uint64_t *bss,
                        uint64_t *stack, struct op_result *res);
/* Sets up the ELF-like layout of a fresh mm (text, data, bss, heap, stack). */
enum vm_err setup_image(struct machine *m, struct mm_struct *mm, const char *name, uint64_t text,
                        uint64_t data, uint64_t bss, uint64_t stack, struct op_result *res);
/* dup_mmap: copies mm's VMAs and page tables into a new mm (fork). NULL on OOM. */
struct mm_struct *dup_mm(struct machine *m, struct mm_struct *old);
/* Zaps (unmaps and releases) every PTE in [start, end) of vma's range. */
void zap_page_range(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end);
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

/* Views (proc.c routes them). */
void show_maps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
void show_smaps(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
void task_mem(const struct machine *m, const struct mm_struct *mm, struct strbuf *sb);
void show_pmap(const struct machine *m, const struct mm_struct *mm, const char *comm, uint32_t pid,
               struct strbuf *sb);
/* /proc/PID/{maps,smaps,status,pmap}: VM_ENOENT for an unknown pid. */
enum vm_err proc_pid_maps(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_smaps(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_status(const struct machine *m, uint32_t pid, struct strbuf *sb);
enum vm_err proc_pid_pmap(const struct machine *m, uint32_t pid, struct strbuf *sb);

#endif
