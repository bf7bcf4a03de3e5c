/*
 * The public face of a simulated machine: its configuration, the ops that change it
 * (machine_apply is the only door), and the results they give. Everything else in core/
 * is reached through the query headers (proc.h, events.h, ...).
 */
#ifndef VMSIM_MACHINE_H
#define VMSIM_MACHINE_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/* The base page: 4 KiB on both arches (huge pages are hugetlb's, see HugePages_* in meminfo). */
#define PAGE_SHIFT 12
#define PAGE_SIZE  (1ull << PAGE_SHIFT)
#define MAX_ORDER  11 /* buddy orders 0..10: OP_ALLOC_PAGES takes order < MAX_ORDER */

enum machine_arch {
	ARCH_I386 = 0,   /* 2-level paging 10/10/12, 3G/1G split, HighMem above 896 MiB */
	ARCH_X86_64 = 1, /* 4-level paging 9/9/9/9/12, 47-bit user space */
};

/* Page replacement for user pages (vmscan.c). LINUX is the kernel's active/inactive scheme. */
enum reclaim_policy {
	POLICY_LINUX = 0,
	POLICY_FIFO = 1,
	POLICY_LRU = 2,
	POLICY_CLOCK = 3,
};

struct machine_config {
	enum machine_arch arch;
	uint64_t ram_bytes;   /* MACHINE_RAM_MIN .. MACHINE_RAM_MAX, multiple of 4 KiB */
	uint32_t tlb_entries; /* 0 = default (64) */
	uint32_t tlb_ways;    /* 0 = default (4); must divide tlb_entries */
	enum reclaim_policy policy;
	uint32_t swappiness;      /* 0..200, default 60 when swappiness_set is 0 */
	uint32_t swappiness_set;  /* 1: swappiness holds the value (0 is a valid setting) */
	uint64_t seed;            /* seeds the machine's PRNG (OOM ties, exercises) */
	uint32_t min_free_kbytes; /* 0 = computed like init_per_zone_wmark_min() */
	uint32_t event_ring;      /* events kept; 0 = default (1024) */
};

#define MACHINE_RAM_MIN (4ull << 20)
#define MACHINE_RAM_MAX (64ull << 30)

/* Errors are results, never crashes. Each maps to one Twirp code in the server. */
enum vm_err {
	VM_OK = 0,
	VM_EINVAL, /* bad argument: invalid_argument */
	VM_ENOMEM, /* no memory (allocation failed, OOM): resource_exhausted */
	VM_ENOENT, /* no such pid, cache, file, area: not_found */
	VM_EEXIST, /* name taken: already_exists */
	VM_EBUSY,  /* object in use (cache with objects, swap area busy): failed_precondition */
	VM_ENOSPC, /* swap full, address space full: resource_exhausted */
	VM_EPERM,  /* not allowed in this state: failed_precondition */
	VM_EFAULT, /* bad address given to a kernel op (kfree of a non-object): invalid_argument */
};

const char *vm_strerror(enum vm_err e);

/*
 * Op kinds are numbered in blocks of 0x100, one block per subsystem file, so that
 * machine_apply() can route an op to its file without a central switch of every op.
 */
enum op_kind {
	/* page_alloc.c */
	OP_ALLOC_PAGES = 0x100,
	OP_FREE_PAGES,
	/* slab.c */
	OP_KMEM_CACHE_CREATE = 0x200,
	OP_KMEM_CACHE_ALLOC,
	OP_KMEM_CACHE_FREE,
	OP_KMEM_CACHE_SHRINK,
	OP_KMEM_CACHE_DESTROY,
	OP_KMALLOC,
	OP_KFREE,
	/* vmalloc.c */
	OP_VMALLOC = 0x300,
	OP_VFREE,
	/* fork.c: tasks */
	OP_SPAWN = 0x400,
	OP_FORK,
	OP_VFORK,
	OP_CLONE,
	OP_EXIT,
	OP_EXEC,
	OP_CONTEXT_SWITCH,
	OP_SET_RLIMIT, /* per-process resident limit (memory cgroup max-like) */
	OP_SET_OOM_ADJ,
	/* mmap.c: address spaces */
	OP_MMAP = 0x500,
	OP_MUNMAP,
	OP_MPROTECT,
	OP_BRK,
	OP_MADVISE,
	/* memory.c: touching memory */
	OP_ACCESS = 0x600,
	OP_ACCESS_RANGE,
	/* filemap.c */
	OP_FILE_CREATE = 0x700,
	OP_FILE_READ,
	OP_FILE_WRITE,
	OP_FILE_SYNC,
	OP_FILE_DELETE,
	/* swapfile.c */
	OP_MKSWAP = 0x800,
	OP_SWAPON,
	OP_SWAPOFF,
	/* vmscan.c */
	OP_RECLAIM = 0x900,
	OP_DROP_CACHES,
	OP_TICK,
	OP_SET_SWAPPINESS,
	/* map_driver.c */
	OP_DRIVER_OPEN = 0xa00,
	OP_DRIVER_CLOSE,
	/* hugetlb.c */
	OP_SET_NR_HUGEPAGES = 0xb00,
};

#define OP_BLOCK(kind) ((unsigned)(kind) >> 8)

/* gfp_t: the zone modifiers and the few behaviour bits the simulator models. */
#define __GFP_DMA     0x01u
#define __GFP_HIGHMEM 0x02u
#define __GFP_DMA32   0x04u
#define __GFP_HIGH    0x20u /* may dip into the reserve below the min watermark (GFP_ATOMIC) */
#define __GFP_NORETRY 0x40u /* no direct reclaim, no OOM: fail fast */
#define GFP_KERNEL    0x00u
#define GFP_ATOMIC    (__GFP_HIGH | __GFP_NORETRY)
#define GFP_DMA       __GFP_DMA
#define GFP_DMA32     __GFP_DMA32
#define GFP_HIGHUSER  __GFP_HIGHMEM
#define GFP_VALID     (__GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_HIGH | __GFP_NORETRY)

/* Protection and mapping flags as mmap(2) spells them. */
#define PROT_READ_     0x1u
#define PROT_WRITE_    0x2u
#define PROT_EXEC_     0x4u
#define MAP_SHARED_    0x01u
#define MAP_PRIVATE_   0x02u
#define MAP_FIXED_     0x10u
#define MAP_ANONYMOUS_ 0x20u
#define MAP_HUGETLB_   0x40000u
#define MAP_DRIVER_    0x1000000u /* vmsim: `file` is a map_driver minor (core/map_driver.h) */

#define CLONE_VM_    0x100u
#define CLONE_VFORK_ 0x4000u

enum access_kind {
	ACCESS_READ = 0,
	ACCESS_WRITE = 1,
	ACCESS_EXEC = 2,
};

#define NAME_LEN 32

struct op {
	enum op_kind kind;
	union {
		struct {
			uint32_t gfp, order;
		} alloc_pages;
		struct {
			uint64_t pfn;
			uint32_t order;
		} free_pages;
		struct {
			char name[NAME_LEN];
			uint32_t size, align;
		} cache_create;
		struct {
			char name[NAME_LEN];
			uint64_t addr;
		} cache; /* alloc/free/shrink/destroy */
		struct {
			uint64_t size;
			uint32_t gfp;
		} kmalloc;
		struct {
			uint64_t addr;
		} kfree;
		struct {
			uint64_t size;
		} vmalloc;
		struct {
			uint64_t addr;
		} vfree;
		struct {
			char name[NAME_LEN];
			uint64_t text, data, bss, stack; /* bytes; 0 = defaults */
		} spawn;
		struct {
			uint32_t pid;
			uint32_t flags;
		} fork; /* fork, vfork, clone(flags) */
		struct {
			uint32_t pid;
			int32_t code;
		} exit;
		struct {
			uint32_t pid;
			char name[NAME_LEN];
			uint64_t text, data, bss, stack;
		} exec;
		struct {
			uint32_t pid;
		} context_switch;
		struct {
			uint32_t pid;
			uint64_t value;
		} set_task; /* rlimit pages, oom_score_adj */
		struct {
			uint32_t pid;
			uint64_t addr, len;
			uint32_t prot, flags;
			uint32_t file; /* inode number (filemap) or device minor (map_driver); 0 =
			                  anon */
			uint64_t offset;
		} mmap;
		struct {
			uint32_t pid;
			uint64_t addr, len;
			uint32_t prot;
		} munmap; /* also mprotect */
		struct {
			uint32_t pid;
			uint64_t addr;
		} brk;
		struct {
			uint32_t pid;
			uint64_t addr, len;
			uint32_t advice;
		} madvise;
		struct {
			uint32_t pid;
			uint64_t addr, len; /* len only for ACCESS_RANGE */
			enum access_kind kind;
			uint64_t stride; /* ACCESS_RANGE step, 0 = one page */
		} access;
		struct {
			char name[NAME_LEN];
			uint64_t size;
		} file_create;
		struct {
			uint32_t ino;
			uint64_t offset, len;
		} file_io; /* read/write/sync/delete */
		struct {
			char name[NAME_LEN];
			uint64_t size;
			int32_t prio;
		} swap;
		struct {
			uint64_t nr_pages;
			uint32_t mode;
		} reclaim; /* reclaim, drop_caches(mode) */
		struct {
			uint64_t n;
		} tick;
		struct {
			uint32_t value;
		} sysctl; /* set_swappiness */
		struct {
			uint64_t size;
			uint32_t minor;
		} driver;
		struct {
			uint64_t count;
		} hugepages; /* set_nr_hugepages */
	} u;
};

enum fault_kind {
	FAULT_NONE = 0, /* translation hit, no fault */
	FAULT_MINOR,    /* page found or zero-filled without I/O */
	FAULT_MAJOR,    /* page read from file or swap */
	FAULT_COW,      /* write to a shared page copied by do_wp_page */
	FAULT_SEGV,     /* no VMA or bad permission: SIGSEGV, task killed */
	FAULT_OOM,      /* no memory could be found: task killed by the OOM killer */
};

struct op_result {
	enum vm_err err;
	char msg[160];   /* on error: what was wrong, in words a student understands */
	uint64_t seq;    /* the op's sequence number (0: refused, the machine is unchanged) */
	uint64_t value;  /* pfn, address, pid, inode, brk, pages reclaimed ... */
	uint64_t value2; /* second value where an op has one (e.g. physical address) */
	enum fault_kind fault;
	uint32_t faults; /* faults taken (ACCESS_RANGE counts all) */
	uint32_t major;  /* of which major */
	uint32_t tlb_hits, tlb_misses;
	uint64_t first_event, last_event; /* ids of the events this op recorded */
};

int machine_config_default(struct machine_config *cfg, enum machine_arch arch, uint64_t ram);
/* Returns NULL and fills err on a bad config. */
struct machine *machine_create(const struct machine_config *cfg, char *err, size_t errlen);
void machine_destroy(struct machine *m);
const struct machine_config *machine_get_config(const struct machine *m);

/*
 * The only way state changes. Returns res->err. An op refused before it did anything
 * (bad arguments, nothing to act on) leaves the machine unchanged and res->seq 0. An op that
 * fails partway, out of memory after kswapd ran or a slab grew, keeps what it did, as the
 * kernel does: it gets a seq (and events, the last "op failed") and must be journaled.
 */
enum vm_err machine_apply(struct machine *m, const struct op *op, struct op_result *res);

/* Invariant checker: 0 if every frame and counter agrees, else -1 with a reason in buf. */
int machine_check(const struct machine *m, char *buf, size_t len);

uint64_t machine_seq(const struct machine *m);
uint64_t machine_nr_frames(const struct machine *m);

#endif
