/* Slab allocator and kmalloc (mm/slub.c, mm/slab_common.c). */
#ifndef VMSIM_SLAB_H
#define VMSIM_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "mm_types.h"
#include "strbuf.h"

/* A slab's objects are tracked one bit each, so a slab holds at most 512 (8-byte objects). */
#define SLAB_MAP_WORDS         8
#define MAX_OBJS_PER_SLAB      (SLAB_MAP_WORDS * 64)
#define SLUB_MAX_ORDER         3       /* slub_max_order = PAGE_ALLOC_COSTLY_ORDER */
#define KMALLOC_MAX_CACHE_SIZE 8192u   /* larger kmalloc()s go to the buddy allocator */
#define KMALLOC_MAX_SIZE       131072u /* the seed's 128 KiB limit */
#define KMEM_CACHES_MAX        256u

/*
 * SLUB's struct slab, kept beside mem_map (struct page is only 16 bytes): the head frame's
 * page->private holds the index of its record. 72 bytes per slab.
 */
struct slab {
	uint32_t pfn;                      /* head frame; PFN_NONE when the record is unused */
	uint16_t cache;                    /* kmem_cache id */
	uint16_t inuse;                    /* objects handed out */
	uint64_t free_map[SLAB_MAP_WORDS]; /* bit i set: object i is free */
};

struct kmem_cache {
	char name[NAME_LEN];  /* "" when the id is unused */
	uint32_t object_size; /* as asked by kmem_cache_create */
	uint32_t size;        /* object_size aligned: the slabinfo <objsize> */
	uint32_t align;
	uint32_t order;       /* calculate_order() */
	uint32_t objects;     /* per slab */
	uint32_t min_partial; /* empty slabs kept before they go back to the buddy allocator */
	uint32_t flags;       /* KMEM_F_* */
	uint64_t birth;       /* creation number: /proc/slabinfo lists newest first */
	uint64_t active_objs;
	struct page_list slabs_full, slabs_partial, slabs_free; /* head pfns, linked by page */
};

#define KMEM_F_BUILTIN 0x1u /* created at boot for the kernel: cannot be destroyed */
#define KMEM_F_KMALLOC 0x2u /* a kmalloc-N size class */

struct slab_state {
	struct kmem_cache *caches;
	uint32_t nr_caches;  /* ids in use or freed: caches[0 .. nr_caches) */
	uint32_t caches_cap; /* host capacity of caches[] (not saved) */
	uint64_t births;
	struct slab *slabs; /* records, indexed by head page->private */
	uint32_t nr_slab_recs,
	    slab_free_rec;     /* records in use or chained; head of the unused chain */
	uint32_t slab_rec_cap; /* host capacity of slabs[] (not saved) */
	uint64_t nr_slabs;
	uint64_t kmalloc_large_pages; /* frames of PT_KMALLOC blocks */
	uint64_t kmalloc_large_allocs;
};

extern const struct event_table slab_events;

enum {
	EV_CACHE_CREATE = 0x200,
	EV_SLAB_ALLOC_OBJ,
	EV_SLAB_FROM_PARTIAL,
	EV_SLAB_FROM_FREE,
	EV_SLAB_NEW,
	EV_SLAB_FULL,
	EV_SLAB_FREE_OBJ,
	EV_SLAB_TO_PARTIAL,
	EV_SLAB_EMPTY,
	EV_SLAB_DISCARD,
	EV_SLAB_SHRINK,
	EV_CACHE_DESTROY,
	EV_KMALLOC,
	EV_KMALLOC_LARGE,
	EV_KFREE,
	EV_KFREE_LARGE,
	EV_SLAB_NOMEM,
};

int slab_init(struct machine *m);
void slab_release(struct machine *m);
enum vm_err slab_apply(struct machine *m, const struct op *op, struct op_result *res);
int slab_check(const struct machine *m, char *buf, size_t len);

struct snap_writer;
struct snap_reader;
void slab_save(const struct machine *m, struct snap_writer *w);
int slab_load(struct machine *m, struct snap_reader *r);

/*
 * Kernel-internal API (phys helper implements; fork.c/mmap.c/filemap.c use it so that
 * /proc/slabinfo moves as tasks, VMAs and files come and go). Caches are named by id so
 * that other subsystems' state holds plain integers (snapshots stay simple).
 * Objects are kernel virtual addresses in the direct map (lowmem), 0 on failure.
 */
enum kmem_cache_builtin {
	KMEM_TASK_STRUCT = 0,
	KMEM_MM_STRUCT,
	KMEM_VM_AREA_STRUCT,
	KMEM_ANON_VMA,
	KMEM_FILES_CACHE,
	KMEM_FILP,
	KMEM_DENTRY,
	KMEM_INODE_CACHE,
	KMEM_BUFFER_HEAD,
	KMEM_NR_BUILTIN
};

int kmem_cache_lookup(const struct machine *m, const char *name); /* id or -1 */
uint64_t kmem_cache_alloc(struct machine *m, int cache, uint32_t gfp);
void kmem_cache_free(struct machine *m, int cache, uint64_t objp);
/*
 * Makes sure the next n kmem_cache_alloc()s of the cache cannot fail: grows it by one slab if
 * its partial and free slabs hold fewer than n free objects. -1, with nothing changed, if that
 * slab cannot be had. An op that allocates objects midway through its edits calls it first,
 * so that it fails before anything changed (the kernel preallocates before editing the VMA
 * tree in the same way: vma_iter_prealloc).
 */
int kmem_cache_reserve(struct machine *m, int cache, unsigned n, uint32_t gfp);
uint64_t kmalloc(struct machine *m, uint64_t size, uint32_t gfp);
void kfree(struct machine *m, uint64_t objp);
uint64_t ksize(const struct machine *m, uint64_t objp);
void slabinfo_show(const struct machine *m, struct strbuf *sb);

/* Read-only helpers for views and checks. */
const struct kmem_cache *kmem_cache_get(const struct machine *m, int cache); /* NULL if unused */
/* Order of the slab whose head frame is pfn, or -1 when pfn heads no slab (page_alloc_check). */
int slab_page_order(const struct machine *m, uint32_t pfn);
/* SLUB's calculate_order() for one CPU: the order a cache of this object size uses. */
unsigned slab_calculate_order(uint32_t size);
/* The kmalloc-N class that serves size bytes (0 when it exceeds kmalloc-8k). */
uint32_t kmalloc_size_class(uint64_t size);

#endif
