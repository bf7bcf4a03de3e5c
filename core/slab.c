/*
 * The slab allocator (mm/slub.c, mm/slab_common.c): kmem_caches of fixed-size objects carved
 * out of buddy pages, the kmalloc-8 .. kmalloc-8k size classes, kmalloc_large() straight from
 * the buddy allocator, and /proc/slabinfo.
 *
 * Deterministic rules (one CPU, no per-CPU slabs):
 *  - kmem_cache_alloc takes the slab at the head of slabs_partial, else the head of slabs_free,
 *    else a new slab from alloc_pages(order); inside a slab the lowest free object goes first.
 *  - A full slab that gets an object back goes to the tail of slabs_partial (SLUB's
 *    add_partial(DEACTIVATE_TO_TAIL)); a slab that empties goes to the head of slabs_free
 *    while the cache holds fewer than min_partial partial+free slabs, else back to the buddy
 *    allocator (discard_slab). kmem_cache_shrink frees every empty slab.
 *  - Slab order: SLUB's calculate_order() for one CPU (min_objects = 4 * (fls(1) + 1) = 8,
 *    slub_max_order 3, waste at most 1/16, 1/8, 1/4 of the slab in turn).
 */
#include "kernel.h"
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const slab_tmpl[] = {
    [EV_CACHE_CREATE & 0xff] = "kmem_cache_create: {s}: object size {a}, {c} objects per slab "
                               "of order {b}",
    [EV_SLAB_ALLOC_OBJ & 0xff] = "kmem_cache_alloc: {s}: object {a} of the slab at pfn {B} -> "
                                 "{C}",
    [EV_SLAB_FROM_PARTIAL & 0xff] = "___slab_alloc: {s}: slab at pfn {A} from the partial list "
                                    "({b} of {c} objects in use)",
    [EV_SLAB_FROM_FREE & 0xff] = "___slab_alloc: {s}: no partial slab, reuse the empty slab at "
                                 "pfn {A}",
    [EV_SLAB_NEW & 0xff] = "allocate_slab: {s}: no partial or empty slab, new slab via "
                           "alloc_pages(order {a}) at pfn {B} with {c} objects",
    [EV_SLAB_FULL & 0xff] = "{s}: slab at pfn {A} is full: moved to the full list",
    [EV_SLAB_FREE_OBJ & 0xff] = "kmem_cache_free: {s}: object {C} back to the slab at pfn {A} "
                                "({b} in use)",
    [EV_SLAB_TO_PARTIAL & 0xff] = "{s}: slab at pfn {A} was full: to the tail of the partial list",
    [EV_SLAB_EMPTY & 0xff] = "{s}: slab at pfn {A} is empty: kept on the free list ({b} "
                             "partial+free slabs < min_partial {c})",
    [EV_SLAB_DISCARD & 0xff] = "discard_slab: {s}: empty slab at pfn {A} back to the buddy "
                               "allocator (order {b})",
    [EV_SLAB_SHRINK & 0xff] = "kmem_cache_shrink: {s}: {a} empty slabs freed",
    [EV_CACHE_DESTROY & 0xff] = "kmem_cache_destroy: {s}: {a} empty slabs freed, cache removed",
    [EV_KMALLOC & 0xff] = "kmalloc: {a} bytes served by {s}",
    [EV_KMALLOC_LARGE & 0xff] = "kmalloc_large: {a} bytes > 8 KiB: alloc_pages(order {b}) at "
                                "pfn {C}",
    [EV_KFREE & 0xff] = "kfree: {A} is an object of {s}",
    [EV_KFREE_LARGE & 0xff] = "kfree: {A} is a kmalloc_large block: __free_pages(pfn {B}, order "
                              "{c})",
    [EV_SLAB_NOMEM & 0xff] = "allocate_slab: {s}: alloc_pages(order {a}) failed",
};

const struct event_table slab_events = {2, slab_tmpl, ARRAY_SIZE(slab_tmpl)};

/* The caches a kernel creates at boot; sizes are those of an x86_64 6.x build. */
static const struct {
	const char *name;
	uint32_t size, align;
} builtin_caches[KMEM_NR_BUILTIN] = {
    [KMEM_TASK_STRUCT] = {"task_struct", 7808, 64},
    [KMEM_MM_STRUCT] = {"mm_struct", 1344, 64},
    [KMEM_VM_AREA_STRUCT] = {"vm_area_struct", 176, 8},
    [KMEM_ANON_VMA] = {"anon_vma", 104, 8},
    [KMEM_FILES_CACHE] = {"files_cache", 704, 64},
    [KMEM_FILP] = {"filp", 256, 64},
    [KMEM_DENTRY] = {"dentry", 192, 64},
    [KMEM_INODE_CACHE] = {"inode_cache", 600, 8},
    [KMEM_BUFFER_HEAD] = {"buffer_head", 104, 8},
};

/* kmalloc size classes in creation order (create_kmalloc_caches), ids after the built-ins. */
static const uint32_t kmalloc_sizes[] = {8,   16,  32,   64,   96,   128, 192,
                                         256, 512, 1024, 2048, 4096, 8192};
#define NR_KMALLOC_CACHES ((int)ARRAY_SIZE(kmalloc_sizes))
#define KMALLOC_FIRST_ID  KMEM_NR_BUILTIN

#define ARCH_SLAB_MINALIGN 8u
#define MIN_PARTIAL        5u
#define MAX_PARTIAL        10u
#define SLUB_MIN_OBJECTS   8u /* 4 * (fls(nr_cpus = 1) + 1) */

static unsigned get_order(uint64_t size)
{
	unsigned order = 0;
	while ((PAGE_SIZE << order) < size)
		order++;
	return order;
}

static unsigned order_objects(unsigned order, uint32_t size)
{
	return (unsigned)((PAGE_SIZE << order) / size);
}

/* calc_slab_order(): the smallest order whose leftover is at most 1/fract of the slab. */
static unsigned calc_slab_order(uint32_t size, unsigned min_order, unsigned max_order,
                                unsigned fract)
{
	unsigned order;
	for (order = min_order; order <= max_order; order++) {
		uint64_t slab_size = PAGE_SIZE << order;
		if (slab_size % size <= slab_size / fract)
			break;
	}
	return order;
}

unsigned slab_calculate_order(uint32_t size)
{
	unsigned max_objects = order_objects(SLUB_MAX_ORDER, size);
	unsigned min_objects = SLUB_MIN_OBJECTS;
	if (max_objects < 1)
		max_objects = 1;
	if (min_objects > max_objects)
		min_objects = max_objects;
	unsigned min_order = get_order((uint64_t)min_objects * size);
	if (order_objects(min_order, size) > MAX_OBJS_PER_SLAB)
		return get_order((uint64_t)size * MAX_OBJS_PER_SLAB) - 1;
	for (unsigned fract = 16; fract > 1; fract /= 2) {
		unsigned order = calc_slab_order(size, min_order, SLUB_MAX_ORDER, fract);
		if (order <= SLUB_MAX_ORDER)
			return order;
	}
	return get_order(size); /* one object does not fit in an order-3 slab */
}

uint32_t kmalloc_size_class(uint64_t size)
{
	for (int i = 0; i < NR_KMALLOC_CACHES; i++)
		if (size <= kmalloc_sizes[i])
			return kmalloc_sizes[i];
	return 0;
}

static int kmalloc_cache_id(uint64_t size)
{
	for (int i = 0; i < NR_KMALLOC_CACHES; i++)
		if (size <= kmalloc_sizes[i])
			return KMALLOC_FIRST_ID + i;
	return -1;
}

const struct kmem_cache *kmem_cache_get(const struct machine *m, int cache)
{
	if (cache < 0 || (uint32_t)cache >= m->slab.nr_caches || !m->slab.caches[cache].name[0])
		return NULL;
	return &m->slab.caches[cache];
}

int kmem_cache_lookup(const struct machine *m, const char *name)
{
	for (uint32_t i = 0; i < m->slab.nr_caches; i++)
		if (m->slab.caches[i].name[0] && strcmp(m->slab.caches[i].name, name) == 0)
			return (int)i;
	return -1;
}

static struct slab *page_slab(const struct machine *m, uint32_t head_pfn)
{
	return &m->slab.slabs[m->pa.mem_map[head_pfn].private];
}

int slab_page_order(const struct machine *m, uint32_t pfn)
{
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) != PT_SLAB || p->private >= m->slab.nr_slab_recs)
		return -1;
	const struct slab *s = page_slab(m, pfn);
	if (s->pfn != pfn || s->cache >= m->slab.nr_caches)
		return -1;
	return (int)m->slab.caches[s->cache].order;
}

/* ---- cache creation ---- */

static int name_ok(const char *name)
{
	size_t n = strnlen(name, NAME_LEN);
	if (n == 0 || n >= NAME_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= ' ' || name[i] > '~')
			return 0;
	return 1;
}

static enum vm_err cache_create_check(const struct machine *m, const char *name, uint32_t size,
                                      uint32_t align, char *msg, size_t len)
{
	if (!name_ok(name)) {
		snprintf(msg, len, "cache name must be 1..%d printable characters without spaces",
		         NAME_LEN - 1);
		return VM_EINVAL;
	}
	if (size == 0 || size > KMALLOC_MAX_SIZE) {
		snprintf(msg, len, "object size %u is out of range: 1 .. %u bytes", size,
		         KMALLOC_MAX_SIZE);
		return VM_EINVAL;
	}
	if (align && ((align & (align - 1)) || align > PAGE_SIZE)) {
		snprintf(msg, len, "align %u must be 0 or a power of two up to %llu", align,
		         (unsigned long long)PAGE_SIZE);
		return VM_EINVAL;
	}
	if (kmem_cache_lookup(m, name) >= 0) {
		snprintf(msg, len, "a cache named %s already exists", name);
		return VM_EEXIST;
	}
	return VM_OK;
}

/* The cache table grows on demand: a booted machine needs 22 of the 256 ids. */
static int caches_reserve(struct slab_state *s, uint32_t n)
{
	if (n <= s->caches_cap)
		return 0;
	uint32_t cap = s->caches_cap ? s->caches_cap : 32;
	while (cap < n)
		cap *= 2;
	struct kmem_cache *c = realloc(s->caches, cap * sizeof(*c));
	if (!c)
		return -1;
	memset(c + s->caches_cap, 0, (cap - s->caches_cap) * sizeof(*c));
	s->caches = c;
	s->caches_cap = cap;
	return 0;
}

/* A free id: the lowest destroyed one, else a new one (ids are what other state holds). */
static int cache_free_id(struct machine *m)
{
	struct slab_state *s = &m->slab;
	for (uint32_t i = 0; i < s->nr_caches; i++)
		if (!s->caches[i].name[0])
			return (int)i;
	if (s->nr_caches >= KMEM_CACHES_MAX || caches_reserve(s, s->nr_caches + 1))
		return -1;
	return (int)s->nr_caches;
}

/* calculate_sizes() and set_min_partial(): object layout, slab order, empty slabs kept. */
static void cache_geometry(struct kmem_cache *c, uint32_t size, uint32_t align)
{
	c->object_size = size;
	c->align = align > ARCH_SLAB_MINALIGN ? align : ARCH_SLAB_MINALIGN;
	c->size = (size + c->align - 1) & ~(c->align - 1);
	c->order = slab_calculate_order(c->size);
	c->objects = order_objects(c->order, c->size);
	unsigned lg = 0;
	while ((2u << lg) <= c->size)
		lg++;
	c->min_partial = lg / 2 < MIN_PARTIAL   ? MIN_PARTIAL
	                 : lg / 2 > MAX_PARTIAL ? MAX_PARTIAL
	                                        : lg / 2;
	page_list_init(&c->slabs_full);
	page_list_init(&c->slabs_partial);
	page_list_init(&c->slabs_free);
}

/* kmem_cache_open(): a cache with no slabs yet, under a free id. */
static void cache_setup(struct machine *m, int id, const char *name, uint32_t size, uint32_t align,
                        uint32_t flags)
{
	struct slab_state *s = &m->slab;
	if ((uint32_t)id == s->nr_caches)
		s->nr_caches++;
	struct kmem_cache *c = &s->caches[id];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	cache_geometry(c, size, align);
	c->flags = flags;
	c->birth = s->births++;
	ev_emit(m, EV_CACHE_CREATE, c->size, c->order, c->objects, c->name);
}

static enum vm_err kmem_cache_create(struct machine *m, const char *name, uint32_t size,
                                     uint32_t align, uint32_t flags, int *idp, char *msg,
                                     size_t len)
{
	enum vm_err e = cache_create_check(m, name, size, align, msg, len);
	if (e)
		return e;
	int id = cache_free_id(m);
	if (id < 0) {
		snprintf(msg, len, "too many caches: at most %u", KMEM_CACHES_MAX);
		return VM_ENOSPC;
	}
	cache_setup(m, id, name, size, align, flags);
	*idp = id;
	return VM_OK;
}

/* ---- slab records ---- */

/* Room for one more record, so that a new slab never fails after alloc_pages succeeded. */
static int slab_rec_reserve(struct slab_state *s)
{
	if (s->slab_free_rec != PFN_NONE || s->nr_slab_recs < s->slab_rec_cap)
		return 0;
	uint32_t cap = s->slab_rec_cap ? s->slab_rec_cap * 2 : 64;
	struct slab *n = realloc(s->slabs, cap * sizeof(*n));
	if (!n)
		return -1;
	s->slabs = n;
	s->slab_rec_cap = cap;
	return 0;
}

static uint32_t slab_rec_get(struct slab_state *s)
{
	uint32_t i = s->slab_free_rec;
	if (i != PFN_NONE) {
		s->slab_free_rec = (uint32_t)s->slabs[i].free_map[0];
		return i;
	}
	return s->nr_slab_recs++;
}

static void slab_rec_put(struct slab_state *s, uint32_t i)
{
	struct slab *r = &s->slabs[i];
	memset(r, 0, sizeof(*r));
	r->pfn = PFN_NONE;
	r->free_map[0] = s->slab_free_rec;
	s->slab_free_rec = i;
}

/* ---- allocation and free ---- */

static uint64_t slab_obj_addr(const struct machine *m, const struct kmem_cache *c, uint32_t pfn,
                              unsigned obj)
{
	return phys_to_virt(m, ((uint64_t)pfn << PAGE_SHIFT) + (uint64_t)obj * c->size);
}

/* allocate_slab(): buddy pages in lowmem, every object free, on no list yet. */
static uint32_t allocate_slab(struct machine *m, int id, uint32_t gfp)
{
	struct slab_state *s = &m->slab;
	struct kmem_cache *c = &s->caches[id];
	if (slab_rec_reserve(s))
		return PFN_NONE;
	uint32_t pfn = alloc_pages(m, gfp & (__GFP_HIGH | __GFP_NORETRY), c->order, PT_SLAB);
	if (pfn == PFN_NONE) {
		ev_emit(m, EV_SLAB_NOMEM, c->order, 0, 0, c->name);
		return PFN_NONE;
	}
	uint32_t ri = slab_rec_get(s);
	struct slab *r = &s->slabs[ri];
	memset(r, 0, sizeof(*r));
	r->pfn = pfn;
	r->cache = (uint16_t)id;
	for (unsigned i = 0; i < c->objects; i++)
		r->free_map[i / 64] |= 1ull << (i % 64);
	m->pa.mem_map[pfn].private = ri;
	s->nr_slabs++;
	ev_emit(m, EV_SLAB_NEW, c->order, pfn, c->objects, c->name);
	return pfn;
}

static void discard_slab(struct machine *m, struct kmem_cache *c, uint32_t pfn)
{
	ev_emit(m, EV_SLAB_DISCARD, pfn, c->order, 0, c->name);
	slab_rec_put(&m->slab, m->pa.mem_map[pfn].private);
	m->slab.nr_slabs--;
	__free_pages(m, pfn, c->order);
}

static unsigned slab_take_object(struct slab *r)
{
	for (unsigned w = 0;; w++) {
		if (r->free_map[w]) {
			unsigned bit = (unsigned)__builtin_ctzll(r->free_map[w]);
			r->free_map[w] &= ~(1ull << bit);
			r->inuse++;
			return w * 64 + bit;
		}
	}
}

/* slab_alloc(): partial list, then free list, then a new slab. 0 when no page is left. */
static uint64_t slab_alloc(struct machine *m, int id, uint32_t gfp)
{
	struct kmem_cache *c = &m->slab.caches[id];
	struct page *map = m->pa.mem_map;
	uint32_t pfn = c->slabs_partial.head;
	if (pfn != PFN_NONE) {
		ev_emit(m, EV_SLAB_FROM_PARTIAL, pfn, page_slab(m, pfn)->inuse, c->objects,
		        c->name);
	} else if ((pfn = c->slabs_free.head) != PFN_NONE) {
		ev_emit(m, EV_SLAB_FROM_FREE, pfn, 0, 0, c->name);
		page_list_del(map, &c->slabs_free, pfn);
		page_list_add(map, &c->slabs_partial, pfn);
	} else {
		pfn = allocate_slab(m, id, gfp);
		if (pfn == PFN_NONE)
			return 0;
		page_list_add(map, &c->slabs_partial, pfn);
	}
	struct slab *r = page_slab(m, pfn);
	unsigned obj = slab_take_object(r);
	c->active_objs++;
	uint64_t addr = slab_obj_addr(m, c, pfn, obj);
	ev_emit(m, EV_SLAB_ALLOC_OBJ, obj, pfn, addr, c->name);
	if (r->inuse == c->objects) {
		page_list_del(map, &c->slabs_partial, pfn);
		page_list_add(map, &c->slabs_full, pfn);
		ev_emit(m, EV_SLAB_FULL, pfn, 0, 0, c->name);
	}
	return addr;
}

/* __slab_free(): the object's bit back; the slab moves list as its fill changes. */
static void slab_free(struct machine *m, uint32_t pfn, unsigned obj, uint64_t addr)
{
	struct page *map = m->pa.mem_map;
	struct slab *r = page_slab(m, pfn);
	struct kmem_cache *c = &m->slab.caches[r->cache];
	int was_full = r->inuse == c->objects;
	r->free_map[obj / 64] |= 1ull << (obj % 64);
	r->inuse--;
	c->active_objs--;
	ev_emit(m, EV_SLAB_FREE_OBJ, pfn, r->inuse, addr, c->name);
	if (r->inuse == 0) {
		page_list_del(map, was_full ? &c->slabs_full : &c->slabs_partial, pfn);
		uint64_t kept = c->slabs_partial.nr + c->slabs_free.nr;
		if (kept >= c->min_partial) {
			discard_slab(m, c, pfn);
			return;
		}
		page_list_add(map, &c->slabs_free, pfn);
		ev_emit(m, EV_SLAB_EMPTY, pfn, kept, c->min_partial, c->name);
	} else if (was_full) {
		page_list_del(map, &c->slabs_full, pfn);
		page_list_add_tail(map, &c->slabs_partial, pfn);
		ev_emit(m, EV_SLAB_TO_PARTIAL, pfn, 0, 0, c->name);
	}
}

/*
 * virt_to_slab(): the slab and object index of a kernel address, or an error that says what
 * the address is instead (into msg, unless len is 0: the kernel's own callers want no text).
 * Nothing changes.
 */
static enum vm_err obj_lookup(const struct machine *m, uint64_t addr, uint32_t *headp,
                              unsigned *objp, char *msg, size_t len)
{
	if (!virt_addr_valid(m, addr)) {
		snprintf(msg, len,
		         "%#llx is not a direct-map kernel address (lowmem is %#llx .. %#llx)",
		         (unsigned long long)addr, (unsigned long long)page_offset(m),
		         (unsigned long long)phys_to_virt(m, lowmem_end_pfn(m) << PAGE_SHIFT) - 1);
		return VM_EFAULT;
	}
	uint32_t pfn = (uint32_t)(virt_to_phys(m, addr) >> PAGE_SHIFT);
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) != PT_SLAB) {
		snprintf(msg, len, "%#llx is in a %s page (pfn %#x), not in a slab",
		         (unsigned long long)addr, page_type_name(page_type(p)), pfn);
		return VM_EFAULT;
	}
	uint32_t head = pfn - ((p->flags & PG_tail) ? p->private : 0);
	const struct slab *r = page_slab(m, head);
	const struct kmem_cache *c = &m->slab.caches[r->cache];
	uint64_t off = addr - phys_to_virt(m, (uint64_t)head << PAGE_SHIFT);
	if (off % c->size || off / c->size >= c->objects) {
		snprintf(msg, len,
		         "%#llx is not the start of an object: %s objects are %u bytes from %#llx",
		         (unsigned long long)addr, c->name, c->size,
		         (unsigned long long)phys_to_virt(m, (uint64_t)head << PAGE_SHIFT));
		return VM_EFAULT;
	}
	unsigned obj = (unsigned)(off / c->size);
	if (r->free_map[obj / 64] & (1ull << (obj % 64))) {
		snprintf(msg, len, "double free: object %#llx of %s is already free",
		         (unsigned long long)addr, c->name);
		return VM_EINVAL;
	}
	*headp = head;
	*objp = obj;
	return VM_OK;
}

/* kmalloc_large(): more than 8 KiB straight from the buddy allocator, in lowmem. */
static uint64_t kmalloc_large(struct machine *m, uint64_t size, uint32_t gfp)
{
	unsigned order = get_order(size);
	uint32_t pfn = alloc_pages(m, gfp & (__GFP_HIGH | __GFP_NORETRY), order, PT_KMALLOC);
	if (pfn == PFN_NONE)
		return 0;
	m->slab.kmalloc_large_pages += 1ull << order;
	m->slab.kmalloc_large_allocs++;
	ev_emit(m, EV_KMALLOC_LARGE, size, order, pfn, NULL);
	return phys_to_virt(m, (uint64_t)pfn << PAGE_SHIFT);
}

/* What kfree(addr) would free: VM_OK with either a slab object or a kmalloc_large head. */
static enum vm_err kfree_check(const struct machine *m, uint64_t addr, uint32_t *headp,
                               unsigned *objp, int *large, char *msg, size_t len)
{
	*large = 0;
	if (virt_addr_valid(m, addr)) {
		uint32_t pfn = (uint32_t)(virt_to_phys(m, addr) >> PAGE_SHIFT);
		const struct page *p = &m->pa.mem_map[pfn];
		if (page_type(p) == PT_KMALLOC) {
			if ((p->flags & PG_tail) || (addr & (PAGE_SIZE - 1))) {
				snprintf(
				    msg, len,
				    "%#llx is inside a kmalloc_large block that starts at %#llx",
				    (unsigned long long)addr,
				    (unsigned long long)phys_to_virt(
				        m, (uint64_t)(pfn - ((p->flags & PG_tail) ? p->private : 0))
				               << PAGE_SHIFT));
				return VM_EFAULT;
			}
			*headp = pfn;
			*large = 1;
			return VM_OK;
		}
	}
	return obj_lookup(m, addr, headp, objp, msg, len);
}

static void kfree_apply(struct machine *m, uint64_t addr, uint32_t head, unsigned obj, int large)
{
	if (large) {
		unsigned order = m->pa.mem_map[head].private;
		ev_emit(m, EV_KFREE_LARGE, addr, head, order, NULL);
		m->slab.kmalloc_large_pages -= 1ull << order;
		m->slab.kmalloc_large_allocs--;
		__free_pages(m, head, order);
		return;
	}
	ev_emit(m, EV_KFREE, addr, 0, 0, m->slab.caches[page_slab(m, head)->cache].name);
	slab_free(m, head, obj, addr);
}

/* ---- kernel-internal API ---- */

uint64_t kmem_cache_alloc(struct machine *m, int cache, uint32_t gfp)
{
	if (!kmem_cache_get(m, cache))
		return 0;
	return slab_alloc(m, cache, gfp);
}

int kmem_cache_reserve(struct machine *m, int cache, unsigned n, uint32_t gfp)
{
	if (!kmem_cache_get(m, cache))
		return -1;
	struct kmem_cache *c = &m->slab.caches[cache];
	uint64_t slabs = c->slabs_partial.nr + c->slabs_full.nr + c->slabs_free.nr;
	uint64_t avail = slabs * c->objects - c->active_objs;
	if (avail >= n)
		return 0;
	if (avail + c->objects < n)
		return -1; /* more than one new slab: no caller needs that many */
	uint32_t pfn = allocate_slab(m, cache, gfp);
	if (pfn == PFN_NONE)
		return -1;
	page_list_add(m->pa.mem_map, &c->slabs_free, pfn);
	return 0;
}

void kmem_cache_free(struct machine *m, int cache, uint64_t objp)
{
	uint32_t head;
	unsigned obj;
	if (!kmem_cache_get(m, cache) || obj_lookup(m, objp, &head, &obj, NULL, 0))
		return;
	if (page_slab(m, head)->cache != cache)
		return;
	slab_free(m, head, obj, objp);
}

uint64_t kmalloc(struct machine *m, uint64_t size, uint32_t gfp)
{
	if (size == 0 || size > KMALLOC_MAX_SIZE)
		return 0;
	int id = kmalloc_cache_id(size);
	if (id < 0)
		return kmalloc_large(m, size, gfp);
	ev_emit(m, EV_KMALLOC, size, 0, 0, m->slab.caches[id].name);
	return slab_alloc(m, id, gfp);
}

void kfree(struct machine *m, uint64_t objp)
{
	uint32_t head;
	unsigned obj;
	int large;
	if (objp && !kfree_check(m, objp, &head, &obj, &large, NULL, 0))
		kfree_apply(m, objp, head, obj, large);
}

uint64_t ksize(const struct machine *m, uint64_t objp)
{
	if (!virt_addr_valid(m, objp))
		return 0;
	uint32_t pfn = (uint32_t)(virt_to_phys(m, objp) >> PAGE_SHIFT);
	const struct page *p = &m->pa.mem_map[pfn];
	if (page_type(p) == PT_KMALLOC && !(p->flags & PG_tail))
		return PAGE_SIZE << p->private;
	if (page_type(p) != PT_SLAB)
		return 0;
	uint32_t head = pfn - ((p->flags & PG_tail) ? p->private : 0);
	return m->slab.caches[page_slab(m, head)->cache].size;
}

/* ---- boot and teardown ---- */

int slab_init(struct machine *m)
{
	struct slab_state *s = &m->slab;
	memset(s, 0, sizeof(*s));
	s->slab_free_rec = PFN_NONE;
	if (caches_reserve(s, KMALLOC_FIRST_ID + NR_KMALLOC_CACHES))
		return -1;
	/* Ids are fixed (the built-ins first), creation order is the kernel's: kmalloc first. */
	s->nr_caches = KMALLOC_FIRST_ID + NR_KMALLOC_CACHES;
	for (int i = 0; i < NR_KMALLOC_CACHES; i++) {
		char name[NAME_LEN];
		uint32_t sz = kmalloc_sizes[i];
		if (sz >= 1024)
			snprintf(name, sizeof(name), "kmalloc-%uk", sz / 1024);
		else
			snprintf(name, sizeof(name), "kmalloc-%u", sz);
		cache_setup(m, KMALLOC_FIRST_ID + i, name, sz, 0, KMEM_F_BUILTIN | KMEM_F_KMALLOC);
	}
	for (int i = 0; i < KMEM_NR_BUILTIN; i++)
		cache_setup(m, i, builtin_caches[i].name, builtin_caches[i].size,
		            builtin_caches[i].align, KMEM_F_BUILTIN);
	return 0;
}

void slab_release(struct machine *m)
{
	free(m->slab.caches);
	free(m->slab.slabs);
	m->slab.caches = NULL;
	m->slab.slabs = NULL;
}

/* ---- ops ---- */

static enum vm_err op_cache(struct machine *m, const struct op *op, struct op_result *res, int *idp)
{
	char name[NAME_LEN];
	memcpy(name, op->u.cache.name, NAME_LEN);
	name[NAME_LEN - 1] = '\0';
	int id = kmem_cache_lookup(m, name);
	if (id < 0)
		return op_fail(res, VM_ENOENT, "no slab cache named '%s'", name);
	*idp = id;
	return VM_OK;
}

static enum vm_err check_gfp(uint32_t gfp, struct op_result *res)
{
	if (gfp & ~GFP_VALID)
		return op_fail(res, VM_EINVAL, "unknown gfp bits %#x", gfp & ~GFP_VALID);
	if (gfp & (__GFP_DMA | __GFP_DMA32 | __GFP_HIGHMEM))
		return op_fail(
		    res, VM_EINVAL,
		    "slab objects live in lowmem (ZONE_NORMAL and below): zone modifiers "
		    "are not accepted here, use alloc_pages for DMA or HighMem frames");
	return VM_OK;
}

static enum vm_err op_cache_create(struct machine *m, const struct op *op, struct op_result *res)
{
	char name[NAME_LEN];
	memcpy(name, op->u.cache_create.name, NAME_LEN);
	name[NAME_LEN - 1] = '\0';
	int id;
	enum vm_err e =
	    kmem_cache_create(m, name, op->u.cache_create.size, op->u.cache_create.align, 0, &id,
	                      res->msg, sizeof(res->msg));
	if (e)
		return e;
	const struct kmem_cache *c = &m->slab.caches[id];
	res->value = (uint64_t)id;
	res->value2 = c->objects;
	return VM_OK;
}

static enum vm_err op_cache_alloc(struct machine *m, int id, struct op_result *res)
{
	uint64_t addr = slab_alloc(m, id, __GFP_NORETRY);
	if (!addr)
		return op_fail(res, VM_ENOMEM, "no free frame for a new order-%u slab of %s",
		               m->slab.caches[id].order, m->slab.caches[id].name);
	res->value = addr;
	res->value2 = virt_to_phys(m, addr);
	return VM_OK;
}

static enum vm_err op_cache_free(struct machine *m, int id, uint64_t addr, struct op_result *res)
{
	uint32_t head;
	unsigned obj;
	enum vm_err e = obj_lookup(m, addr, &head, &obj, res->msg, sizeof(res->msg));
	if (e)
		return res->err = e; /* res->msg already says why */
	int owner = page_slab(m, head)->cache;
	if (owner != id)
		return op_fail(res, VM_EINVAL, "object %#llx belongs to cache %s, not %s",
		               (unsigned long long)addr, m->slab.caches[owner].name,
		               m->slab.caches[id].name);
	slab_free(m, head, obj, addr);
	res->value = addr;
	return VM_OK;
}

/* Frees every empty slab of a cache; returns how many. */
static uint64_t cache_shrink(struct machine *m, struct kmem_cache *c)
{
	uint64_t n = 0;
	uint32_t pfn;
	while ((pfn = c->slabs_free.head) != PFN_NONE) {
		page_list_del(m->pa.mem_map, &c->slabs_free, pfn);
		discard_slab(m, c, pfn);
		n++;
	}
	return n;
}

static enum vm_err op_cache_destroy(struct machine *m, int id, struct op_result *res)
{
	struct kmem_cache *c = &m->slab.caches[id];
	if (c->flags & KMEM_F_BUILTIN)
		return op_fail(res, VM_EPERM,
		               "%s is a built-in cache the kernel uses; it cannot be "
		               "destroyed",
		               c->name);
	if (c->active_objs)
		return op_fail(res, VM_EBUSY,
		               "kmem_cache_destroy %s: %llu objects are still allocated; free them "
		               "first",
		               c->name, (unsigned long long)c->active_objs);
	uint64_t n = cache_shrink(m, c);
	ev_emit(m, EV_CACHE_DESTROY, n, 0, 0, c->name);
	memset(c, 0, sizeof(*c));
	res->value = n;
	return VM_OK;
}

static enum vm_err op_kmalloc(struct machine *m, const struct op *op, struct op_result *res)
{
	uint64_t size = op->u.kmalloc.size;
	enum vm_err e = check_gfp(op->u.kmalloc.gfp, res);
	if (e)
		return e;
	if (size == 0)
		return op_fail(res, VM_EINVAL,
		               "kmalloc(0) returns ZERO_SIZE_PTR: nothing to allocate");
	if (size > KMALLOC_MAX_SIZE)
		return op_fail(
		    res, VM_EINVAL,
		    "kmalloc of %llu bytes: the limit is %u bytes (128 KiB); use vmalloc",
		    (unsigned long long)size, KMALLOC_MAX_SIZE);
	uint64_t addr = kmalloc(m, size, op->u.kmalloc.gfp | __GFP_NORETRY);
	if (!addr)
		return op_fail(res, VM_ENOMEM, "no free frames for kmalloc(%llu)",
		               (unsigned long long)size);
	res->value = addr;
	res->value2 = virt_to_phys(m, addr);
	return VM_OK;
}

static enum vm_err op_kfree(struct machine *m, uint64_t addr, struct op_result *res)
{
	uint32_t head = 0;
	unsigned obj = 0;
	int large;
	if (addr == 0) /* kfree(NULL) is allowed and does nothing, as in the kernel */
		return VM_OK;
	enum vm_err e = kfree_check(m, addr, &head, &obj, &large, res->msg, sizeof(res->msg));
	if (e)
		return res->err = e; /* res->msg already says why */
	kfree_apply(m, addr, head, obj, large);
	res->value = addr;
	return VM_OK;
}

enum vm_err slab_apply(struct machine *m, const struct op *op, struct op_result *res)
{
	int id = -1;
	enum vm_err e;
	switch (op->kind) {
	case OP_KMEM_CACHE_CREATE:
		return op_cache_create(m, op, res);
	case OP_KMEM_CACHE_ALLOC:
		return (e = op_cache(m, op, res, &id)) ? e : op_cache_alloc(m, id, res);
	case OP_KMEM_CACHE_FREE:
		return (e = op_cache(m, op, res, &id))
		           ? e
		           : op_cache_free(m, id, op->u.cache.addr, res);
	case OP_KMEM_CACHE_SHRINK:
		if ((e = op_cache(m, op, res, &id)))
			return e;
		res->value = cache_shrink(m, &m->slab.caches[id]);
		ev_emit(m, EV_SLAB_SHRINK, res->value, 0, 0, m->slab.caches[id].name);
		return VM_OK;
	case OP_KMEM_CACHE_DESTROY:
		return (e = op_cache(m, op, res, &id)) ? e : op_cache_destroy(m, id, res);
	case OP_KMALLOC:
		return op_kmalloc(m, op, res);
	case OP_KFREE:
		return op_kfree(m, op->u.kfree.addr, res);
	default:
		return op_fail(res, VM_EINVAL, "unknown slab op %#x", op->kind);
	}
}

/* ---- /proc/slabinfo ---- */

/* mm/slab_common.c: print_slabinfo_header() and cache_show(), SLUB's tunables all 0. */
static void cache_show(const struct kmem_cache *c, struct strbuf *sb)
{
	uint64_t slabs = c->slabs_full.nr + c->slabs_partial.nr + c->slabs_free.nr;
	strbuf_addf(sb, "%-17s %6llu %6llu %6u %4u %4d", c->name,
	            (unsigned long long)c->active_objs, (unsigned long long)(slabs * c->objects),
	            c->size, c->objects, 1 << c->order);
	strbuf_addf(sb, " : tunables %4u %4u %4u", 0u, 0u, 0u);
	strbuf_addf(sb, " : slabdata %6llu %6llu %6lu\n", (unsigned long long)slabs,
	            (unsigned long long)slabs, 0ul);
}

/* Caches newest first, as the kernel walks slab_caches (list_add at creation). */
void slabinfo_show(const struct machine *m, struct strbuf *sb)
{
	const struct slab_state *s = &m->slab;
	strbuf_adds(sb, "slabinfo - version: 2.1\n");
	strbuf_adds(sb, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
	                "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata "
	                "<active_slabs> <num_slabs> <sharedavail>\n");
	uint64_t below = UINT64_MAX;
	for (;;) {
		const struct kmem_cache *next = NULL;
		for (uint32_t i = 0; i < s->nr_caches; i++) {
			const struct kmem_cache *c = &s->caches[i];
			if (c->name[0] && c->birth < below && (!next || c->birth > next->birth))
				next = c;
		}
		if (!next)
			break;
		cache_show(next, sb);
		below = next->birth;
	}
}

/* ---- machine_check ---- */

static int fail(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return -1;
}

static unsigned slab_free_count(const struct slab *r, unsigned objects, int *stray)
{
	unsigned n = 0;
	*stray = 0;
	for (unsigned w = 0; w < SLAB_MAP_WORDS; w++) {
		uint64_t word = r->free_map[w];
		unsigned first = w * 64;
		uint64_t valid = objects >= first + 64 ? ~0ull
		                 : objects > first     ? (1ull << (objects - first)) - 1
		                                       : 0;
		*stray |= (word & ~valid) != 0;
		n += (unsigned)__builtin_popcountll(word);
	}
	return n;
}

/* One slab list: every entry a slab head of this cache with the fill the list promises. */
static int check_slab_list(const struct machine *m, int id, const struct page_list *l, int kind,
                           uint64_t *active, char *buf, size_t len)
{
	static const char *const names[] = {"full", "partial", "free"};
	const struct slab_state *s = &m->slab;
	const struct kmem_cache *c = &s->caches[id];
	uint64_t n = 0;
	uint32_t prev = PFN_NONE;
	for (uint32_t pfn = l->head; pfn != PFN_NONE; pfn = m->pa.mem_map[pfn].next) {
		if (n++ >= l->nr || pfn >= lowmem_end_pfn(m))
			return fail(buf, len, "%s: %s list is longer than %llu or leaves lowmem",
			            c->name, names[kind], (unsigned long long)l->nr);
		const struct page *p = &m->pa.mem_map[pfn];
		if (page_type(p) != PT_SLAB || !(p->flags & PG_head) || p->prev != prev ||
		    p->private >= s->nr_slab_recs)
			return fail(buf, len,
			            "%s: pfn %#x on the %s list is not a linked slab head", c->name,
			            pfn, names[kind]);
		const struct slab *r = page_slab(m, pfn);
		int stray;
		unsigned nfree = slab_free_count(r, c->objects, &stray);
		if (r->pfn != pfn || r->cache != id || stray || nfree + r->inuse != c->objects)
			return fail(buf, len, "%s: slab at pfn %#x has a bad record", c->name, pfn);
		if ((kind == 0 && r->inuse != c->objects) || (kind == 2 && r->inuse != 0) ||
		    (kind == 1 && (r->inuse == 0 || r->inuse == c->objects)))
			return fail(buf, len,
			            "%s: slab at pfn %#x with %u of %u in use is on the %s list",
			            c->name, pfn, r->inuse, c->objects, names[kind]);
		*active += r->inuse;
		prev = pfn;
	}
	if (n != l->nr || l->tail != prev)
		return fail(buf, len, "%s: %s list counts %llu slabs, holds %llu", c->name,
		            names[kind], (unsigned long long)l->nr, (unsigned long long)n);
	return 0;
}

static int check_caches(const struct machine *m, uint64_t *slabs, char *buf, size_t len)
{
	const struct slab_state *s = &m->slab;
	for (int i = 0; i < NR_KMALLOC_CACHES; i++)
		if (s->caches[KMALLOC_FIRST_ID + i].size != kmalloc_sizes[i])
			return fail(buf, len, "kmalloc cache %d is not kmalloc-%u", i,
			            kmalloc_sizes[i]);
	for (uint32_t id = 0; id < s->nr_caches; id++) {
		const struct kmem_cache *c = &s->caches[id];
		if (!c->name[0])
			continue;
		if (c->size == 0 || c->objects != order_objects(c->order, c->size) ||
		    c->objects == 0 || c->objects > MAX_OBJS_PER_SLAB)
			return fail(buf, len, "%s: bad geometry", c->name);
		uint64_t active = 0;
		const struct page_list *lists[] = {&c->slabs_full, &c->slabs_partial,
		                                   &c->slabs_free};
		for (int k = 0; k < 3; k++)
			if (check_slab_list(m, (int)id, lists[k], k, &active, buf, len))
				return -1;
		if (active != c->active_objs)
			return fail(buf, len, "%s: active_objs %llu but slabs hold %llu", c->name,
			            (unsigned long long)c->active_objs, (unsigned long long)active);
		*slabs += c->slabs_full.nr + c->slabs_partial.nr + c->slabs_free.nr;
	}
	return 0;
}

/* Unused records are chained; used ones are exactly the slabs on the cache lists. */
static int check_records(const struct machine *m, char *buf, size_t len)
{
	const struct slab_state *s = &m->slab;
	uint64_t unused = 0;
	for (uint32_t i = s->slab_free_rec; i != PFN_NONE; i = (uint32_t)s->slabs[i].free_map[0]) {
		if (i >= s->nr_slab_recs || unused++ > s->nr_slab_recs ||
		    s->slabs[i].pfn != PFN_NONE)
			return fail(buf, len, "slab record free chain is broken at %u", i);
	}
	if (unused + s->nr_slabs != s->nr_slab_recs)
		return fail(buf, len, "%llu slab records, %llu unused, %llu slabs",
		            (unsigned long long)s->nr_slab_recs, (unsigned long long)unused,
		            (unsigned long long)s->nr_slabs);
	return 0;
}

/* Every PT_SLAB head belongs to a listed slab; PT_KMALLOC frames match the count, in lowmem. */
static int check_frames(const struct machine *m, char *buf, size_t len)
{
	uint64_t heads = 0, large = 0, low = lowmem_end_pfn(m);
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		const struct page *p = &m->pa.mem_map[pfn];
		enum page_type t = page_type(p);
		if (t != PT_SLAB && t != PT_KMALLOC)
			continue;
		if (pfn >= low)
			return fail(buf, len, "%s frame %#llx is in HighMem", page_type_name(t),
			            (unsigned long long)pfn);
		if (t == PT_SLAB)
			heads += (p->flags & PG_head) != 0;
		else
			large++;
	}
	if (heads != m->slab.nr_slabs)
		return fail(buf, len, "%llu slab head frames, %llu slabs on cache lists",
		            (unsigned long long)heads, (unsigned long long)m->slab.nr_slabs);
	if (large != m->slab.kmalloc_large_pages)
		return fail(buf, len, "%llu kmalloc_large frames, %llu counted",
		            (unsigned long long)large,
		            (unsigned long long)m->slab.kmalloc_large_pages);
	return 0;
}

int slab_check(const struct machine *m, char *buf, size_t len)
{
	uint64_t slabs = 0;
	if (check_caches(m, &slabs, buf, len))
		return -1;
	if (slabs != m->slab.nr_slabs)
		return fail(buf, len, "caches list %llu slabs, %llu counted",
		            (unsigned long long)slabs, (unsigned long long)m->slab.nr_slabs);
	if (check_records(m, buf, len))
		return -1;
	return check_frames(m, buf, len);
}

/* ---- snapshot ---- */

static void list_save(struct snap_writer *w, const struct page_list *l)
{
	snap_put_u32(w, l->head);
	snap_put_u32(w, l->tail);
	snap_put_u64(w, l->nr);
}

static void list_load(struct snap_reader *r, struct page_list *l)
{
	l->head = snap_get_u32(r);
	l->tail = snap_get_u32(r);
	l->nr = snap_get_u64(r);
}

void slab_save(const struct machine *m, struct snap_writer *w)
{
	const struct slab_state *s = &m->slab;
	snap_put_tag(w, "SLAB");
	snap_put_u32(w, s->nr_caches);
	snap_put_u64(w, s->births);
	for (uint32_t i = 0; i < s->nr_caches; i++) {
		const struct kmem_cache *c = &s->caches[i];
		snap_put_str(w, c->name);
		snap_put_u32(w, c->object_size);
		snap_put_u32(w, c->align);
		snap_put_u32(w, c->flags);
		snap_put_u64(w, c->birth);
		snap_put_u64(w, c->active_objs);
		list_save(w, &c->slabs_full);
		list_save(w, &c->slabs_partial);
		list_save(w, &c->slabs_free);
	}
	snap_put_u32(w, s->nr_slab_recs);
	snap_put_u32(w, s->slab_free_rec);
	for (uint32_t i = 0; i < s->nr_slab_recs; i++) {
		const struct slab *r = &s->slabs[i];
		snap_put_u32(w, r->pfn);
		snap_put_u16(w, r->cache);
		snap_put_u16(w, r->inuse);
		for (int k = 0; k < SLAB_MAP_WORDS; k++)
			snap_put_u64(w, r->free_map[k]);
	}
	snap_put_u64(w, s->nr_slabs);
	snap_put_u64(w, s->kmalloc_large_pages);
	snap_put_u64(w, s->kmalloc_large_allocs);
}

/* The cache geometry is recomputed from size and align, so a snapshot cannot lie about it. */
static int cache_load(struct machine *m, struct snap_reader *r, uint32_t id)
{
	struct kmem_cache *c = &m->slab.caches[id];
	char name[NAME_LEN];
	snap_get_str(r, name, sizeof(name));
	uint32_t size = snap_get_u32(r), align = snap_get_u32(r), flags = snap_get_u32(r);
	uint64_t birth = snap_get_u64(r), active = snap_get_u64(r);
	if (r->err)
		return -1;
	memset(c, 0, sizeof(*c));
	if (name[0]) {
		if (!name_ok(name) || size == 0 || size > KMALLOC_MAX_SIZE ||
		    (align & (align - 1)) || align > PAGE_SIZE)
			return snap_fail(r, "slab cache %u has a bad name or geometry", id);
		snprintf(c->name, sizeof(c->name), "%s", name);
		cache_geometry(c, size, align);
		c->flags = flags;
	}
	c->birth = birth;
	c->active_objs = active;
	list_load(r, &c->slabs_full);
	list_load(r, &c->slabs_partial);
	list_load(r, &c->slabs_free);
	return r->err ? -1 : 0;
}

int slab_load(struct machine *m, struct snap_reader *r)
{
	struct slab_state *s = &m->slab;
	if (snap_expect_tag(r, "SLAB"))
		return -1;
	uint32_t nr = snap_get_u32(r);
	if (nr > KMEM_CACHES_MAX || nr < KMALLOC_FIRST_ID + NR_KMALLOC_CACHES)
		return snap_fail(r, "%u slab caches is out of range", nr);
	if (caches_reserve(s, nr))
		return snap_fail(r, "no host memory for %u slab caches", nr);
	memset(s->caches, 0, s->caches_cap * sizeof(*s->caches));
	s->nr_caches = nr;
	s->births = snap_get_u64(r);
	for (uint32_t i = 0; i < nr; i++)
		if (cache_load(m, r, i))
			return -1;
	uint32_t recs = snap_get_u32(r);
	s->slab_free_rec = snap_get_u32(r);
	if (r->err || recs > m->pa.nr_frames)
		return snap_fail(r, "%u slab records is more than there are frames", recs);
	free(s->slabs);
	s->slabs = calloc(recs ? recs : 1, sizeof(*s->slabs));
	if (!s->slabs)
		return snap_fail(r, "no host memory for %u slab records", recs);
	s->nr_slab_recs = s->slab_rec_cap = recs;
	for (uint32_t i = 0; i < recs && !r->err; i++) {
		struct slab *sl = &s->slabs[i];
		sl->pfn = snap_get_u32(r);
		sl->cache = snap_get_u16(r);
		sl->inuse = snap_get_u16(r);
		for (int k = 0; k < SLAB_MAP_WORDS; k++)
			sl->free_map[k] = snap_get_u64(r);
	}
	s->nr_slabs = snap_get_u64(r);
	s->kmalloc_large_pages = snap_get_u64(r);
	s->kmalloc_large_allocs = snap_get_u64(r);
	return r->err ? -1 : 0;
}
