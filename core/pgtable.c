/*
 * Page tables in simulated frames: the walk (like xv6's walk()), table allocation and
 * freeing, the kernel half shared from init_mm, and kmap, the sparse host copy of frames
 * whose contents matter. Used by memory.c (faults), mmap.c (zap, fork) and rmap.c.
 */
#include "pgtable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "snapshot.h"

/*
 * i386, 2-level, 4 KiB pages (no PAE): 1024 4-byte entries per table.
 *
 *   31            22 21            12 11             0
 *  +----------------+----------------+----------------+
 *  |   PGD index    |   PTE index    |  page offset   |
 *  +----------------+----------------+----------------+
 *        10 bits          10 bits          12 bits
 *  user space 0 .. 0xC0000000 (pgd entries 0..767), kernel above (768..1023).
 *
 * x86_64, 4-level: 512 8-byte entries per table, 48-bit addresses sign-extended.
 *
 *   63     48 47     39 38     30 29     21 20     12 11        0
 *  +---------+---------+---------+---------+---------+-----------+
 *  | sign ext|   PGD   |   PUD   |   PMD   |   PTE   |  offset   |
 *  +---------+---------+---------+---------+---------+-----------+
 *     16        9 bits    9 bits    9 bits    9 bits    12 bits
 *  user space 0 .. 0x7ffffffff000 (pgd entries 0..255), kernel in the upper half.
 */
static const char *const i386_names[] = {"pgd", "pte"};
static const char *const x86_64_names[] = {"pgd", "pud", "pmd", "pte"};

#define I386_TASK_SIZE   0xC0000000ull
#define X86_64_TASK_SIZE 0x7ffffffff000ull

static int is_i386(const struct machine *m)
{
	return m->cfg.arch == ARCH_I386;
}

unsigned pt_levels(const struct machine *m)
{
	return is_i386(m) ? 2 : 4;
}

unsigned pt_entries(const struct machine *m)
{
	return is_i386(m) ? 1024 : 512;
}

unsigned pt_user_pgds(const struct machine *m)
{
	return is_i386(m) ? 768 : 256;
}

unsigned pt_shift(const struct machine *m, unsigned level)
{
	return is_i386(m) ? 22 - 10 * level : 39 - 9 * level;
}

unsigned pt_index(const struct machine *m, uint64_t va, unsigned level)
{
	return (unsigned)((va >> pt_shift(m, level)) & (pt_entries(m) - 1));
}

const char *pt_level_name(const struct machine *m, unsigned level)
{
	return is_i386(m) ? i386_names[level] : x86_64_names[level];
}

uint64_t task_size(const struct machine *m)
{
	return is_i386(m) ? I386_TASK_SIZE : X86_64_TASK_SIZE;
}

/* ---- kmap: pfn -> host copy of the frame ------------------------------------------- */

static uint32_t kmap_slot(uint32_t pfn, uint32_t cap)
{
	return (pfn * 2654435761u) & (cap - 1);
}

static void memo_forget(struct pgtable_state *s)
{
	s->memo_pfn = PFN_NONE;
	s->memo_ptr = NULL;
	s->walk_pgd = PFN_NONE;
}

int pgtable_init(struct machine *m)
{
	struct pgtable_state *s = &m->pgtable;
	s->cap = 64;
	s->nr = 0;
	s->keys = malloc(s->cap * sizeof(*s->keys));
	s->vals = calloc(s->cap, sizeof(*s->vals));
	if (!s->keys || !s->vals)
		return -1;
	memset(s->keys, 0xff, s->cap * sizeof(*s->keys));
	memo_forget(s);
	return 0;
}

void pgtable_release(struct machine *m)
{
	struct pgtable_state *s = &m->pgtable;
	for (uint32_t i = 0; s->vals && i < s->cap; i++)
		free(s->vals[i]);
	free(s->keys);
	free(s->vals);
	memset(s, 0, sizeof(*s));
}

uint8_t *kmap(const struct machine *m, uint32_t pfn)
{
	/* The memo is a host cache of the lookup below, so updating it leaves m unchanged. */
	struct pgtable_state *s = (struct pgtable_state *)&m->pgtable;
	if (s->memo_pfn == pfn && s->memo_ptr)
		return s->memo_ptr;
	for (uint32_t i = kmap_slot(pfn, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->keys[i] == pfn) {
			s->memo_pfn = pfn;
			s->memo_ptr = s->vals[i];
			return s->vals[i];
		}
		if (s->keys[i] == PFN_NONE)
			return NULL;
	}
}

static int kmap_grow(struct pgtable_state *s)
{
	uint32_t ncap = s->cap * 2;
	uint32_t *keys = malloc(ncap * sizeof(*keys));
	uint8_t **vals = calloc(ncap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	memset(keys, 0xff, ncap * sizeof(*keys));
	for (uint32_t i = 0; i < s->cap; i++) {
		if (s->keys[i] == PFN_NONE)
			continue;
		uint32_t j = kmap_slot(s->keys[i], ncap);
		while (keys[j] != PFN_NONE)
			j = (j + 1) & (ncap - 1);
		keys[j] = s->keys[i];
		vals[j] = s->vals[i];
	}
	free(s->keys);
	free(s->vals);
	s->keys = keys;
	s->vals = vals;
	s->cap = ncap;
	return 0;
}

uint8_t *kmap_alloc(struct machine *m, uint32_t pfn)
{
	struct pgtable_state *s = &m->pgtable;
	uint8_t *p = kmap(m, pfn);
	if (p)
		return p;
	if ((s->nr + 1) * 2 > s->cap && kmap_grow(s))
		return NULL;
	p = calloc(1, PAGE_SIZE);
	if (!p)
		return NULL;
	uint32_t i = kmap_slot(pfn, s->cap);
	while (s->keys[i] != PFN_NONE)
		i = (i + 1) & (s->cap - 1);
	s->keys[i] = pfn;
	s->vals[i] = p;
	s->nr++;
	return p;
}

/* Linear-probing delete with backward shift, so lookups never need tombstones. */
void kmap_free(struct machine *m, uint32_t pfn)
{
	struct pgtable_state *s = &m->pgtable;
	uint32_t mask = s->cap - 1, i = kmap_slot(pfn, s->cap);
	while (s->keys[i] != pfn) {
		if (s->keys[i] == PFN_NONE)
			return;
		i = (i + 1) & mask;
	}
	free(s->vals[i]);
	memo_forget(s);
	s->nr--;
	for (uint32_t j = (i + 1) & mask; s->keys[j] != PFN_NONE; j = (j + 1) & mask) {
		uint32_t home = kmap_slot(s->keys[j], s->cap);
		/* Move j back into the hole at i unless its home lies cyclically in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->keys[i] = s->keys[j];
			s->vals[i] = s->vals[j];
			i = j;
		}
	}
	s->keys[i] = PFN_NONE;
	s->vals[i] = NULL;
}

int copy_user_highpage(struct machine *m, uint32_t dst, uint32_t src)
{
	const uint8_t *from = kmap(m, src);
	if (!from) {
		kmap_free(m, dst);
		return 0;
	}
	uint8_t *to = kmap_alloc(m, dst);
	if (!to)
		return -1;
	memcpy(to, from, PAGE_SIZE); /* buffers never move when the hash grows */
	return 0;
}

/* ---- entries ------------------------------------------------------------------------ */

/* A table frame without contents reads as empty (only a corrupt snapshot has one; the
 * check then rejects it instead of crashing). */
/* Entry idx of a table already kmap'ed: the walks below look a table up once, not per entry. */
static uint64_t entry_at(const struct machine *m, const uint8_t *t, unsigned idx)
{
	if (is_i386(m))
		return ((const uint32_t *)t)[idx];
	return ((const uint64_t *)t)[idx];
}

uint64_t pt_read(const struct machine *m, uint32_t tpfn, unsigned idx)
{
	const uint8_t *t = kmap(m, tpfn);
	return t ? entry_at(m, t, idx) : 0;
}

void pt_write(struct machine *m, uint32_t tpfn, unsigned idx, uint64_t val)
{
	uint8_t *t = kmap(m, tpfn);
	if (!t)
		return;
	if (is_i386(m))
		((uint32_t *)t)[idx] = (uint32_t)val;
	else
		((uint64_t *)t)[idx] = val;
}

uint64_t mk_pte(const struct machine *m, uint32_t pfn, uint64_t flags)
{
	if (is_i386(m))
		flags &= ~_PAGE_NX;
	return ((uint64_t)pfn << PAGE_SHIFT) | flags;
}

uint32_t pte_pfn(const struct machine *m, uint64_t pte)
{
	uint64_t mask = is_i386(m) ? 0xfffff000ull : 0x000ffffffffff000ull;
	return (uint32_t)((pte & mask) >> PAGE_SHIFT);
}

static int table_empty(const struct machine *m, uint32_t tpfn)
{
	const uint64_t *t = (const uint64_t *)kmap(m, tpfn);
	if (!t)
		return 1;
	for (unsigned i = 0; i < PAGE_SIZE / 8; i++)
		if (t[i])
			return 0;
	return 1;
}

/* pte_alloc_one(): a zeroed table frame; PageTables and VmPTE count it. */
static uint32_t pte_alloc_one(struct machine *m, struct mm_struct *mm)
{
	uint32_t pfn = alloc_pages(m, GFP_KERNEL, 0, PT_PGTABLE);
	if (pfn == PFN_NONE)
		return PFN_NONE;
	if (!kmap_alloc(m, pfn)) {
		__free_pages(m, pfn, 0);
		return PFN_NONE;
	}
	m->pgtable.nr_pgtable++;
	if (mm)
		mm->pgtables_bytes += PAGE_SIZE;
	ev_emit(m, EV_PTE_ALLOC, pfn, mm ? mm->id : 0, 0, NULL);
	return pfn;
}

static void pte_free(struct machine *m, struct mm_struct *mm, uint32_t pfn)
{
	kmap_free(m, pfn); /* forgets the memos too */
	m->pgtable.nr_pgtable--;
	if (mm)
		mm->pgtables_bytes -= PAGE_SIZE;
	__free_pages(m, pfn, 0);
}

/* sync_global_pgds(): a new kernel pgd entry in init_mm shows up in every pgd. */
static void sync_global_pgds(struct machine *m, unsigned idx, uint64_t e)
{
	for (uint32_t i = 0; i < m->mmap.nr_mms; i++)
		pt_write(m, m->mmap.mms[i]->pgd, idx, e);
}

uint32_t pgd_alloc(struct machine *m)
{
	uint32_t pfn = pte_alloc_one(m, NULL);
	if (pfn == PFN_NONE)
		return PFN_NONE;
	uint32_t kpgd = m->mmap.init_mm.pgd;
	if (kpgd != PFN_NONE && kpgd != 0) {
		unsigned esz = is_i386(m) ? 4 : 8, u = pt_user_pgds(m);
		memcpy(kmap(m, pfn) + u * esz, kmap(m, kpgd) + u * esz, (pt_entries(m) - u) * esz);
	}
	return pfn;
}

void pgd_free(struct machine *m, uint32_t pfn)
{
	pte_free(m, NULL, pfn);
}

static void trace_step(struct walk_trace *t, unsigned level, unsigned idx, uint32_t tpfn,
                       uint64_t e, uint32_t next)
{
	if (!t)
		return;
	struct walk_step *s = &t->step[t->nr++];
	s->level = (uint8_t)level;
	s->index = (uint16_t)idx;
	s->table_pfn = tpfn;
	s->entry = e;
	s->next_pfn = next;
}

/* Like xv6's walk(): one table per level, creating the missing ones when asked. */
int pt_walk(struct machine *m, struct mm_struct *mm, uint64_t va, int alloc, struct pte_ref *ref,
            struct walk_trace *t)
{
	unsigned last = pt_levels(m) - 1;
	uint32_t tpfn = mm->pgd;
	struct pgtable_state *s = &m->pgtable;
	uint64_t base = va >> pt_shift(m, last - 1);
	if (t) {
		memset(t, 0, sizeof(*t));
		t->fail_level = -1;
	} else if (s->walk_pgd == mm->pgd && s->walk_base == base) {
		ref->tpfn = s->walk_tpfn; /* same leaf table as the last walk */
		ref->idx = pt_index(m, va, last);
		return 0;
	}
	for (unsigned l = 0;; l++) {
		unsigned idx = pt_index(m, va, l);
		uint64_t e = pt_read(m, tpfn, idx);
		if (l == last) {
			trace_step(t, l, idx, tpfn, e, pte_present(e) ? pte_pfn(m, e) : PFN_NONE);
			ref->tpfn = tpfn;
			ref->idx = idx;
			if (t)
				t->pte = e;
			s->walk_pgd = mm->pgd;
			s->walk_base = base;
			s->walk_tpfn = tpfn;
			return 0;
		}
		if (pte_huge(e) && l == last - 1) {
			/* a PSE entry maps a huge page here: the walk ends a level early */
			trace_step(t, l, idx, tpfn, e, pte_pfn(m, e));
			ref->tpfn = tpfn;
			ref->idx = idx;
			if (t)
				t->pte = e;
			return 0;
		}
		if (!pte_present(e)) {
			if (!alloc) {
				trace_step(t, l, idx, tpfn, e, PFN_NONE);
				if (t)
					t->fail_level = (int)l;
				return -1;
			}
			uint32_t n = pte_alloc_one(m, mm == &m->mmap.init_mm ? NULL : mm);
			if (n == PFN_NONE)
				return -2;
			e = mk_pte(m, n, va >= task_size(m) ? _KERNPG_TABLE : _PAGE_TABLE);
			pt_write(m, tpfn, idx, e);
			ev_emit(m, EV_SET_PMD, va, n, l, pt_level_name(m, l));
			if (mm == &m->mmap.init_mm && l == 0)
				sync_global_pgds(m, idx, e);
		}
		trace_step(t, l, idx, tpfn, e, pte_pfn(m, e));
		tpfn = pte_pfn(m, e);
	}
}

int pt_lookup(const struct machine *m, const struct mm_struct *mm, uint64_t va, struct pte_ref *ref,
              struct walk_trace *t)
{
	/* alloc = 0: the walk only reads, so dropping const is safe. */
	return pt_walk((struct machine *)m, (struct mm_struct *)mm, va, 0, ref, t);
}

/*
 * Calls fn for the leaf entries of [start, end) under tpfn: with huge = 0 the PTEs (not none)
 * of the last level, with huge = 1 the PSE entries one level above. A PSE entry is never
 * descended into: it maps a huge page, not a table.
 */
static void for_each_level(const struct machine *m, unsigned l, uint32_t tpfn, uint64_t base,
                           uint64_t start, uint64_t end, int huge, pte_fn fn, void *ctx)
{
	unsigned shift = pt_shift(m, l), n = pt_entries(m), leaf = pt_levels(m) - 1 - (huge != 0);
	unsigned i = start > base ? (unsigned)((start - base) >> shift) : 0;
	/* fn may write entries of this table, never free it (free_pgtables runs apart) */
	const uint8_t *t = kmap(m, tpfn);
	for (; t && i < n; i++) {
		uint64_t va = base + ((uint64_t)i << shift);
		if (va >= end)
			break;
		uint64_t e = entry_at(m, t, i);
		if (pte_none(e))
			continue;
		if (l == leaf) {
			if (!huge || pte_huge(e))
				fn((struct machine *)m, ctx, va, (struct pte_ref){tpfn, i}, e);
		} else if (pte_present(e) && !pte_huge(e)) {
			for_each_level(m, l + 1, pte_pfn(m, e), va, start, end, huge, fn, ctx);
		}
	}
}

void pt_for_each(const struct machine *m, const struct mm_struct *mm, uint64_t start, uint64_t end,
                 pte_fn fn, void *ctx)
{
	if (start < end)
		for_each_level(m, 0, mm->pgd, 0, start, end, 0, fn, ctx);
}

/* ---- huge pages: PSE entries one level above the PTEs ---------------------------------- */

int pt_walk_huge(struct machine *m, struct mm_struct *mm, uint64_t va, int alloc,
                 struct pte_ref *ref)
{
	unsigned hl = pt_levels(m) - 2;
	uint32_t tpfn = mm->pgd;
	for (unsigned l = 0; l < hl; l++) {
		unsigned idx = pt_index(m, va, l);
		uint64_t e = pt_read(m, tpfn, idx);
		if (!pte_present(e)) {
			if (!alloc)
				return -1;
			uint32_t n = pte_alloc_one(m, mm);
			if (n == PFN_NONE)
				return -2;
			e = mk_pte(m, n, _PAGE_TABLE);
			pt_write(m, tpfn, idx, e);
			ev_emit(m, EV_SET_PMD, va, n, l, pt_level_name(m, l));
		}
		tpfn = pte_pfn(m, e);
	}
	ref->tpfn = tpfn;
	ref->idx = pt_index(m, va, hl);
	uint64_t e = pt_read(m, tpfn, ref->idx);
	if (alloc && pte_present(e) && !pte_huge(e)) {
		/* a PTE table left from 4 KiB mappings: only an empty one may give way */
		uint32_t child = pte_pfn(m, e);
		if (!table_empty(m, child))
			return -3;
		pt_write(m, tpfn, ref->idx, 0);
		pte_free(m, mm, child);
	}
	return 0;
}

void pt_for_each_huge(const struct machine *m, const struct mm_struct *mm, uint64_t start,
                      uint64_t end, pte_fn fn, void *ctx)
{
	if (start < end)
		for_each_level(m, 0, mm->pgd, 0, start, end, 1, fn, ctx);
}

/* Frees the empty tables under tpfn in [start, end); returns 1 if tpfn itself is now empty. */
static int free_level(struct machine *m, struct mm_struct *mm, unsigned l, uint32_t tpfn,
                      uint64_t base, uint64_t start, uint64_t end)
{
	unsigned shift = pt_shift(m, l), n = pt_entries(m), last = pt_levels(m) - 1;
	if (l == last)
		return table_empty(m, tpfn);
	unsigned i = start > base ? (unsigned)((start - base) >> shift) : 0;
	if (l == 0)
		n = pt_user_pgds(m); /* the kernel half belongs to init_mm */
	for (; i < n; i++) {
		uint64_t va = base + ((uint64_t)i << shift);
		if (va >= end)
			break;
		uint64_t e = pt_read(m, tpfn, i);
		if (!pte_present(e) || pte_huge(e))
			continue;
		uint32_t child = pte_pfn(m, e);
		if (free_level(m, mm, l + 1, child, va, start, end)) {
			pt_write(m, tpfn, i, 0);
			pte_free(m, mm, child);
			ev_emit(m, EV_FREE_PGTABLE, va, child, l + 1, pt_level_name(m, l + 1));
		}
	}
	return table_empty(m, tpfn);
}

void free_pgtables(struct machine *m, struct mm_struct *mm, uint64_t start, uint64_t end)
{
	if (start < end)
		free_level(m, mm, 0, mm->pgd, 0, start, end);
}

int map_kernel_page(struct machine *m, uint64_t va, uint32_t pfn)
{
	struct pte_ref ref;
	if (pt_walk(m, &m->mmap.init_mm, va, 1, &ref, NULL))
		return -2;
	pt_write(m, ref.tpfn, ref.idx,
	         mk_pte(m, pfn,
	                _PAGE_PRESENT | _PAGE_RW | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_GLOBAL |
	                    _PAGE_NX));
	return 0;
}

void unmap_kernel_page(struct machine *m, uint64_t va)
{
	struct pte_ref ref;
	if (pt_walk(m, &m->mmap.init_mm, va, 0, &ref, NULL) == 0)
		pt_write(m, ref.tpfn, ref.idx, 0);
}

static void count_level(const struct machine *m, unsigned l, uint32_t tpfn, unsigned lo,
                        unsigned hi, uint16_t *refs)
{
	const uint8_t *t = kmap(m, tpfn);
	if (l == pt_levels(m) - 1 || !t)
		return;
	for (unsigned i = lo; i < hi; i++) {
		uint64_t e = entry_at(m, t, i);
		if (!pte_present(e) || pte_huge(e))
			continue;
		uint32_t child = pte_pfn(m, e);
		if (child < m->pa.nr_frames) {
			refs[child]++;
			count_level(m, l + 1, child, 0, pt_entries(m), refs);
		}
	}
}

void pt_count_tables(const struct machine *m, const struct mm_struct *mm, int user_only,
                     uint16_t *refs)
{
	refs[mm->pgd]++;
	unsigned u = pt_user_pgds(m);
	if (user_only)
		count_level(m, 0, mm->pgd, 0, u, refs);
	else
		count_level(m, 0, mm->pgd, u, pt_entries(m), refs);
}

/* ---- snapshot: every kmap'ed frame, sorted by pfn so the bytes never depend on hashing -- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * Since snapshot version 3 a kmap'ed page is saved sparse: a bitmap of its nonzero 8-byte
 * words, then those words. Page tables are mostly zero: one with three entries takes 88 bytes
 * instead of 4096 (versions 1 and 2 saved every page whole).
 */
#define PAGE_WORDS (PAGE_SIZE / 8)

static int word_marked(const uint8_t *map, unsigned i)
{
	return map[i / 8] >> (i % 8) & 1;
}

/* The end of the run of marked words that starts at i: the words go in runs, not one by one. */
static unsigned run_end(const uint8_t *map, unsigned i)
{
	while (i < PAGE_WORDS && word_marked(map, i))
		i++;
	return i;
}

static void page_save_sparse(struct snap_writer *w, const uint8_t *p)
{
	uint8_t map[PAGE_WORDS / 8];
	size_t nonzero = 0;
	for (unsigned b = 0; b < PAGE_WORDS / 8; b++) { /* a bitmap byte at a time: vectorizes */
		uint64_t v[8];
		memcpy(v, p + 64 * b, sizeof(v));
		unsigned bits = 0;
		for (unsigned k = 0; k < 8; k++)
			bits |= (unsigned)(v[k] != 0) << k;
		map[b] = (uint8_t)bits;
		nonzero += (size_t)__builtin_popcount(bits);
	}
	uint8_t *out = snap_room(w, sizeof(map) + 8 * nonzero);
	memcpy(out, map, sizeof(map));
	out += sizeof(map);
	for (unsigned i = 0; i < PAGE_WORDS; i++) {
		if (!word_marked(map, i))
			continue;
		unsigned end = run_end(map, i);
		memcpy(out, p + 8 * i, 8 * (size_t)(end - i));
		out += 8 * (size_t)(end - i);
		i = end;
	}
}

/* p is a fresh zeroed page. A word marked nonzero must be: one encoding per page. */
static int page_load_sparse(struct snap_reader *r, uint8_t *p)
{
	const uint8_t *map = snap_take(r, PAGE_WORDS / 8);
	for (unsigned i = 0; map && i < PAGE_WORDS; i++) {
		if (!word_marked(map, i))
			continue;
		unsigned end = run_end(map, i);
		const uint8_t *src = snap_take(r, 8 * (size_t)(end - i));
		if (!src)
			break;
		for (unsigned k = i; k < end; k++) {
			uint64_t v;
			memcpy(&v, src + 8 * (size_t)(k - i), 8);
			if (!v)
				return snap_fail(
				    r, "kmap: word %u of a saved page is marked nonzero but is 0",
				    k);
		}
		memcpy(p + 8 * i, src, 8 * (size_t)(end - i));
		i = end;
	}
	return r->err ? -1 : 0;
}

void pgtable_save(const struct machine *m, struct snap_writer *w)
{
	const struct pgtable_state *s = &m->pgtable;
	snap_put_tag(w, "PGTB");
	snap_put_u64(w, s->nr_pgtable);
	snap_put_u32(w, s->nr);
	uint32_t *pfns = malloc((s->nr + 1) * sizeof(*pfns)), n = 0;
	if (!pfns)
		abort();
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->keys[i] != PFN_NONE)
			pfns[n++] = s->keys[i];
	qsort(pfns, n, sizeof(*pfns), cmp_u32);
	for (uint32_t i = 0; i < n; i++) {
		snap_put_u32(w, pfns[i]);
		page_save_sparse(w, kmap(m, pfns[i]));
	}
	free(pfns);
}

int pgtable_load(struct machine *m, struct snap_reader *r)
{
	if (snap_expect_tag(r, "PGTB"))
		return -1;
	m->pgtable.nr_pgtable = snap_get_u64(r);
	uint32_t n = snap_get_u32(r);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t pfn = snap_get_u32(r);
		if (pfn >= m->pa.nr_frames || kmap(m, pfn))
			return snap_fail(r, "kmap: bad frame %u", pfn);
		uint8_t *p = kmap_alloc(m, pfn);
		if (!p)
			return snap_fail(r, "kmap: out of host memory");
		if (r->version < 3)
			snap_get_bytes(r, p, PAGE_SIZE);
		else if (page_load_sparse(r, p))
			return -1;
	}
	return r->err ? -1 : 0;
}

/* ---- machine_check: page tables against the VMAs, the rss counters and the frames ---- */

struct pte_check {
	const struct mm_struct *mm;
	const struct vm_area_struct *vma;
	uint32_t *maps;
	uint64_t rss[NR_MM_COUNTERS];
	int bad;
	char why[160];
};

static void check_one_pte(struct machine *m, void *arg, uint64_t va, struct pte_ref ref,
                          uint64_t pte)
{
	struct pte_check *c = arg;
	(void)ref;
	if (c->bad)
		return;
	const struct vm_area_struct *v = c->vma;
	if (va < v->vm_start || va >= v->vm_end) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why), "mm %u: PTE at %#llx outside any VMA", c->mm->id,
		         (unsigned long long)va);
		return;
	}
	if (is_swap_pte(pte)) {
		if (!swap_entry_valid(m, (uint32_t)pte_to_swp_entry(pte))) {
			c->bad = 1;
			snprintf(c->why, sizeof(c->why), "mm %u: swap PTE at %#llx names no slot",
			         c->mm->id, (unsigned long long)va);
		}
		c->rss[MM_SWAPENTS]++;
		return;
	}
	if (!vm_normal_page(m, pte)) {
		if (pte_pfn(m, pte) != zero_pfn(m) || (pte & _PAGE_RW)) {
			c->bad = 1;
			snprintf(c->why, sizeof(c->why),
			         "mm %u: special PTE at %#llx is not the zero page", c->mm->id,
			         (unsigned long long)va);
		}
		return;
	}
	uint32_t pfn = pte_pfn(m, pte);
	const struct page *p = pfn < m->pa.nr_frames ? &m->pa.mem_map[pfn] : NULL;
	enum page_type t = p ? page_type(p) : PT_FREE;
	if (t != PT_ANON && t != PT_FILE && t != PT_VMALLOC) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why), "mm %u: PTE at %#llx maps pfn %#x of type %d",
		         c->mm->id, (unsigned long long)va, pfn, (int)t);
		return;
	}
	if (t == PT_ANON && page_anon_index(m, pfn) != (uint32_t)(va >> PAGE_SHIFT)) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why), "anon pfn %#x at %#llx has index %#x", pfn,
		         (unsigned long long)va, page_anon_index(m, pfn));
		return;
	}
	if ((pte & _PAGE_RW) && !(v->vm_flags & VM_WRITE)) {
		c->bad = 1;
		snprintf(c->why, sizeof(c->why), "mm %u: writable PTE at %#llx in a read-only VMA",
		         c->mm->id, (unsigned long long)va);
		return;
	}
	c->maps[pfn]++;
	c->rss[mm_counter(m, v, pfn)]++;
}

static int check_mm_ptes(const struct machine *m, const struct mm_struct *mm, uint32_t *maps,
                         char *buf, size_t len)
{
	struct pte_check c = {.mm = mm, .maps = maps};
	/* Entries outside every VMA: walk the gaps too (the check callback flags them). */
	uint64_t a = 0;
	for (const struct vm_area_struct *v = mm->mmap;; v = v->vm_next) {
		uint64_t gap_end = v ? v->vm_start : task_size(m);
		struct vm_area_struct none = {.vm_start = 1, .vm_end = 0};
		c.vma = &none;
		pt_for_each(m, mm, a, gap_end, check_one_pte, &c);
		if (!v)
			break;
		c.vma = v;
		pt_for_each(m, mm, v->vm_start, v->vm_end, check_one_pte, &c);
		a = v->vm_end;
	}
	CHECK(!c.bad, "%s", c.why);
	for (int i = 0; i < NR_MM_COUNTERS; i++)
		CHECK(c.rss[i] == mm->rss[i], "mm %u: rss[%d] is %llu but its PTEs map %llu",
		      mm->id, i, (unsigned long long)mm->rss[i], (unsigned long long)c.rss[i]);
	return 0;
}

static int check_frames(const struct machine *m, const uint32_t *maps, const uint16_t *tables,
                        char *buf, size_t len)
{
	uint64_t nr_tables = 0;
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++) {
		const struct page *p = &m->pa.mem_map[pfn];
		enum page_type t = page_type(p);
		if (pfn == m->mmap.init_mm.pgd) {
			CHECK(tables[pfn] == 1 && t == PT_RESERVED,
			      "swapper_pg_dir pfn %#llx: %u references, type %d",
			      (unsigned long long)pfn, tables[pfn], (int)t);
		} else if (t == PT_PGTABLE) {
			nr_tables++;
			CHECK(tables[pfn] == 1, "page-table pfn %#llx is referenced %u times",
			      (unsigned long long)pfn, tables[pfn]);
			CHECK(kmap(m, (uint32_t)pfn), "page-table pfn %#llx has no contents",
			      (unsigned long long)pfn);
		} else {
			CHECK(tables[pfn] == 0, "pfn %#llx of type %d is used as a page table",
			      (unsigned long long)pfn, (int)t);
		}
		if (t == PT_ANON) {
			uint32_t extra = (p->flags & PG_swapcache) ? 1 : 0;
			CHECK(p->refcount == maps[pfn] + extra,
			      "anon pfn %#llx: refcount %u but %u PTEs map it",
			      (unsigned long long)pfn, p->refcount, maps[pfn]);
		} else if ((t == PT_FILE || t == PT_VMALLOC) && maps[pfn]) {
			CHECK(p->refcount == maps[pfn] + 1,
			      "pfn %#llx (type %d): refcount %u but %u PTEs map it",
			      (unsigned long long)pfn, (int)t, p->refcount, maps[pfn]);
		}
	}
	CHECK(nr_tables == m->pgtable.nr_pgtable, "%llu page-table frames, counter says %llu",
	      (unsigned long long)nr_tables, (unsigned long long)m->pgtable.nr_pgtable);
	return 0;
}

/* Kernel half of every pgd equals init_mm's: kernel mappings are shared, never copied. */
static int check_kernel_half(const struct machine *m, const struct mm_struct *mm, char *buf,
                             size_t len)
{
	for (unsigned i = pt_user_pgds(m); i < pt_entries(m); i++)
		CHECK(pt_read(m, mm->pgd, i) == pt_read(m, m->mmap.init_mm.pgd, i),
		      "mm %u: kernel pgd entry %u differs from init_mm", mm->id, i);
	return 0;
}

static int count_user_tables(const struct machine *m, const struct mm_struct *mm, uint16_t *tables,
                             char *buf, size_t len)
{
	uint64_t before = 0, after = 0;
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++)
		before += tables[pfn];
	pt_count_tables(m, mm, 1, tables);
	for (uint64_t pfn = 0; pfn < m->pa.nr_frames; pfn++)
		after += tables[pfn];
	CHECK((after - before - 1) * PAGE_SIZE == mm->pgtables_bytes,
	      "mm %u: pgtables_bytes %llu but %llu tables below the pgd", mm->id,
	      (unsigned long long)mm->pgtables_bytes, (unsigned long long)(after - before - 1));
	return 0;
}

/*
 * Every PTE lies inside a VMA and maps a page of a mappable type, each mm's rss counters and
 * pgtables_bytes match its tables, and every frame's refcount matches the PTEs mapping it.
 */
int pgtable_check(const struct machine *m, char *buf, size_t len)
{
	uint64_t n = m->pa.nr_frames;
	uint32_t *maps = calloc(n, sizeof(*maps));
	uint16_t *tables = calloc(n, sizeof(*tables));
	int r = (!maps || !tables) ? -1 : 0;
	if (r)
		snprintf(buf, len, "no host memory for the check");
	if (!r)
		pt_count_tables(m, &m->mmap.init_mm, 0, tables);
	for (uint32_t i = 0; !r && i < m->mmap.nr_mms; i++) {
		const struct mm_struct *mm = m->mmap.mms[i];
		r = check_mm_ptes(m, mm, maps, buf, len);
		if (!r)
			r = check_kernel_half(m, mm, buf, len);
		if (!r)
			r = count_user_tables(m, mm, tables, buf, len);
	}
	if (!r)
		r = check_frames(m, maps, tables, buf, len);
	free(maps);
	free(tables);
	return r;
}
