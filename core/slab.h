/* Slab allocator and kmalloc (mm/slub.c, mm/slab_common.c). */
#ifndef VMSIM_SLAB_H
#define VMSIM_SLAB_H

#include <stddef.h>
#include <stdint.h>

#include "events.h"
#include "machine.h"
#include "strbuf.h"

struct slab_state {
	uint64_t unused; /* filled in as the subsystem is built */
};

extern const struct event_table slab_events;

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
uint64_t kmalloc(struct machine *m, uint64_t size, uint32_t gfp);
void kfree(struct machine *m, uint64_t objp);
uint64_t ksize(const struct machine *m, uint64_t objp);
void slabinfo_show(const struct machine *m, struct strbuf *sb);

#endif
